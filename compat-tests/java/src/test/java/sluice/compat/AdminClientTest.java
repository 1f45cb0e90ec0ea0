package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListGroupsOptions;
import org.apache.kafka.clients.admin.ListOffsetsResult.ListOffsetsResultInfo;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.RecordsToDelete;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.TopicPartitionInfo;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.GroupIdNotFoundException;
import org.apache.kafka.common.errors.InvalidConfigurationException;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.errors.UnknownTopicOrPartitionException;
import org.junit.jupiter.api.BeforeAll;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/** Kafka's Java AdminClient: topics, configs, offsets, records, groups and the cluster. */
class AdminClientTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("admin");

    private static Node node;

    @BeforeAll
    static void describeClusterFirst() {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            DescribeClusterResult cluster = admin.describeCluster();
            Collection<Node> nodes = Kafka.get(cluster.nodes());
            assertEquals(1, nodes.size(), "one broker: " + nodes);
            node = nodes.iterator().next();
            assertEquals(broker.bootstrap(), node.host() + ":" + node.port(), "advertised address");
            assertEquals(node.id(), Kafka.get(cluster.controller()).id(), "the broker is its own controller");
            String clusterId = Kafka.get(cluster.clusterId());
            assertNotNull(clusterId);
            assertFalse(clusterId.isEmpty(), "cluster id");
        }
    }

    @Test
    void describeClusterIsStable() {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Node again = Kafka.get(admin.describeCluster().nodes()).iterator().next();
            assertEquals(node, again);
        }
    }

    @Test
    void topicLifecycleWithConfigs() {
        String topic = "admin-lifecycle";
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.get(admin.createTopics(List.of(new NewTopic(topic, 3, (short) 1)
                    .configs(Map.of("retention.ms", "3600000", "max.message.bytes", "200000")))).all());
            Throwable exists = Kafka.failure(admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all());
            assertInstanceOf(TopicExistsException.class, exists);

            assertTrue(Kafka.get(admin.listTopics().names()).contains(topic));
            TopicDescription description = Kafka.get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
            assertEquals(3, description.partitions().size());
            assertFalse(description.isInternal());
            assertNotNull(description.topicId());
            for (TopicPartitionInfo p : description.partitions()) {
                assertEquals(node.id(), p.leader().id(), "leader of partition " + p.partition());
                assertEquals(List.of(node.id()), p.replicas().stream().map(Node::id).toList());
                assertEquals(List.of(node.id()), p.isr().stream().map(Node::id).toList());
            }

            Config config = Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            ConfigEntry retention = config.get("retention.ms");
            assertEquals("3600000", retention.value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, retention.source());
            assertEquals("200000", config.get("max.message.bytes").value());
            ConfigEntry cleanup = config.get("cleanup.policy");
            assertNotNull(cleanup, "cleanup.policy is described");
            assertEquals("delete", cleanup.value());
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, cleanup.source(), cleanup.toString());
            assertTrue(cleanup.isDefault(), cleanup.toString());

            // Incremental alter: SET two keys, DELETE one (back to its default).
            Kafka.get(admin.incrementalAlterConfigs(Map.of(resource, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "7200000"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("cleanup.policy", "compact"), AlterConfigOp.OpType.SET),
                    new AlterConfigOp(new ConfigEntry("max.message.bytes", ""), AlterConfigOp.OpType.DELETE))))
                    .all());
            config = Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            assertEquals("7200000", config.get("retention.ms").value());
            assertEquals("compact", config.get("cleanup.policy").value());
            assertEquals(ConfigEntry.ConfigSource.DYNAMIC_TOPIC_CONFIG, config.get("cleanup.policy").source());
            ConfigEntry maxMessage = config.get("max.message.bytes");
            assertEquals("1048588", maxMessage.value(), "max.message.bytes deleted: " + maxMessage);
            assertEquals(ConfigEntry.ConfigSource.DEFAULT_CONFIG, maxMessage.source(),
                    "max.message.bytes deleted: " + maxMessage);

            // A bad value is refused and changes nothing.
            Throwable bad = Kafka.failure(admin.incrementalAlterConfigs(Map.of(resource, List.of(
                    new AlterConfigOp(new ConfigEntry("retention.ms", "soon"), AlterConfigOp.OpType.SET)))).all());
            assertInstanceOf(InvalidConfigurationException.class, bad, "bad retention.ms refused");
            config = Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            assertEquals("7200000", config.get("retention.ms").value());

            Kafka.get(admin.createPartitions(Map.of(topic, NewPartitions.increaseTo(4))).all());
            description = Kafka.get(admin.describeTopics(List.of(topic)).allTopicNames()).get(topic);
            assertEquals(4, description.partitions().size());

            Kafka.get(admin.deleteTopics(List.of(topic)).all());
            Kafka.waitUntil(topic + " gone from listTopics", Kafka.TIMEOUT,
                    () -> !Kafka.get(admin.listTopics().names()).contains(topic));
            Throwable gone = Kafka.failure(admin.describeTopics(List.of(topic)).allTopicNames());
            assertInstanceOf(UnknownTopicOrPartitionException.class, gone);
        }
    }

    @Test
    void describeBrokerConfigs() {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.BROKER, Integer.toString(node.id()));
            Config config = Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            // Configs both brokers report with the same value and source. run-kafka.sh starts Kafka with the
            // single-node settings Sluice has built in (replication factors of 1 and so on) in its properties file,
            // so those are static broker configs in both; the rest are Kafka's defaults in both.
            Map<String, String> staticConfigs = Map.of(
                    "node.id", Integer.toString(node.id()),
                    "offsets.topic.replication.factor", "1",
                    "transaction.state.log.replication.factor", "1",
                    "transaction.state.log.min.isr", "1");
            Map<String, String> defaults = Map.of(
                    "compression.type", "producer",
                    "delete.topic.enable", "true",
                    "log.cleaner.delete.retention.ms", "86400000",
                    "log.cleanup.policy", "delete",
                    "log.message.timestamp.type", "CreateTime",
                    "log.retention.bytes", "-1",
                    "message.max.bytes", "1048588",
                    "unclean.leader.election.enable", "false");
            staticConfigs.forEach((name, value) ->
                    assertConfig(config, name, value, ConfigEntry.ConfigSource.STATIC_BROKER_CONFIG));
            defaults.forEach((name, value) ->
                    assertConfig(config, name, value, ConfigEntry.ConfigSource.DEFAULT_CONFIG));
            // Values both report; run-kafka.sh sets these in Kafka's properties (STATIC_BROKER_CONFIG) where
            // Sluice's built-in values equal Kafka's defaults (DEFAULT_CONFIG), so only the values compare.
            Map.of("auto.create.topics.enable", "true",
                    "num.partitions", "1",
                    "default.replication.factor", "1",
                    "min.insync.replicas", "1").forEach((name, value) -> {
                        ConfigEntry entry = config.get(name);
                        assertNotNull(entry, name + " is described");
                        assertEquals(value, entry.value(), entry.toString());
                    });
        }
    }

    private static void assertConfig(Config config, String name, String value, ConfigEntry.ConfigSource source) {
        ConfigEntry entry = config.get(name);
        assertNotNull(entry, name + " is described");
        assertEquals(value, entry.value(), entry.toString());
        assertEquals(source, entry.source(), entry.toString());
        assertEquals(source == ConfigEntry.ConfigSource.DEFAULT_CONFIG, entry.isDefault(), entry.toString());
        assertFalse(entry.isSensitive(), entry.toString());
    }

    @Test
    void listOffsetsAndDeleteRecords() throws Exception {
        String topic = "admin-offsets";
        TopicPartition tp = new TopicPartition(topic, 0);
        long base = System.currentTimeMillis() - 3_600_000;
        long[] stamps = {5, 3, 9, 1, 20, 7, 2, 8, 4, 6}; // the largest, base+20, is offset 4
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 1, Map.of());
            try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
                for (int i = 0; i < stamps.length; i++) {
                    producer.send(new ProducerRecord<>(topic, 0, base + stamps[i], "k" + i, "v" + i)).get();
                }
            }
            assertEquals(0, offset(admin, tp, OffsetSpec.earliest()).offset());
            assertEquals(stamps.length, offset(admin, tp, OffsetSpec.latest()).offset());
            ListOffsetsResultInfo max = offset(admin, tp, OffsetSpec.maxTimestamp());
            assertEquals(4, max.offset(), "offset of the largest timestamp");
            assertEquals(base + 20, max.timestamp());
            ListOffsetsResultInfo at = offset(admin, tp, OffsetSpec.forTimestamp(base + 8));
            assertEquals(2, at.offset(), "first offset with a timestamp >= base+8");
            assertEquals(base + 9, at.timestamp());
            assertEquals(-1, offset(admin, tp, OffsetSpec.forTimestamp(base + 21)).offset(), "none that late");

            long low = Kafka.get(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(4))).lowWatermarks()
                    .get(tp)).lowWatermark();
            assertEquals(4, low);
            assertEquals(4, offset(admin, tp, OffsetSpec.earliest()).offset());
            assertEquals(stamps.length, offset(admin, tp, OffsetSpec.latest()).offset());
            try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), null, Map.of())) {
                consumer.assign(List.of(tp));
                consumer.seekToBeginning(List.of(tp));
                assertEquals(4, consumer.position(tp));
                List<ConsumerRecord<String, String>> got = Kafka.pollN(consumer, stamps.length - 4);
                assertEquals(4, got.get(0).offset());
                assertEquals("v4", got.get(0).value());
            }
            // Deleting up to the high watermark (-1 = "all") empties the partition.
            low = Kafka.get(admin.deleteRecords(Map.of(tp, RecordsToDelete.beforeOffset(-1))).lowWatermarks()
                    .get(tp)).lowWatermark();
            assertEquals(stamps.length, low);
            assertEquals(stamps.length, offset(admin, tp, OffsetSpec.earliest()).offset());
        }
    }

    private static ListOffsetsResultInfo offset(Admin admin, TopicPartition tp, OffsetSpec spec) {
        return Kafka.get(admin.listOffsets(Map.of(tp, spec)).partitionResult(tp));
    }

    @Test
    void listDescribeAndDeleteConsumerGroups() throws Exception {
        String topic = "admin-groups";
        String group = "admin-group";
        List<TopicPartition> tps = List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1));
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 2, Map.of());
            try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
                for (int i = 0; i < 10; i++) {
                    producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "v" + i)).get();
                }
            }
            try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), group, Map.of())) {
                consumer.subscribe(List.of(topic));
                Kafka.pollN(consumer, 10);
                consumer.commitSync();
                assertEquals(Set.copyOf(tps), consumer.assignment());

                ConsumerGroupDescription active = describeGroup(admin, group);
                assertEquals(GroupState.STABLE, active.groupState());
                assertEquals(GroupType.CLASSIC, active.type());
                assertFalse(active.isSimpleConsumerGroup());
                assertEquals("range", active.partitionAssignor(), "the Java consumer's first default assignor");
                assertEquals(node.id(), active.coordinator().id());
                assertEquals(1, active.members().size());
                MemberDescription member = active.members().iterator().next();
                assertEquals(Set.copyOf(tps), member.assignment().topicPartitions());
                assertTrue(member.clientId().startsWith("consumer-" + group), member.clientId());

                Collection<GroupListing> listed = Kafka.get(admin.listGroups(ListGroupsOptions.forConsumerGroups())
                        .all());
                GroupListing listing = listed.stream().filter(g -> g.groupId().equals(group)).findFirst()
                        .orElseThrow(() -> new AssertionError(group + " not in " + listed));
                assertEquals("consumer", listing.protocol());
                assertEquals(GroupState.STABLE, listing.groupState().orElseThrow());
            }
            ConsumerGroupDescription empty = describeGroup(admin, group);
            assertEquals(GroupState.EMPTY, empty.groupState(), "after the consumer left");
            assertTrue(empty.members().isEmpty());

            Map<TopicPartition, OffsetAndMetadata> offsets =
                    Kafka.get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata());
            assertEquals(Map.of(tps.get(0), 5L, tps.get(1), 5L), offsets.entrySet().stream()
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset())));

            Kafka.get(admin.deleteConsumerGroups(List.of(group)).all());
            assertTrue(Kafka.get(admin.listGroups(ListGroupsOptions.forConsumerGroups()).all()).stream()
                    .noneMatch(g -> g.groupId().equals(group)), "deleted group still listed");
            // Kafka answers OffsetFetch for an unknown group with no offsets (not an error).
            assertTrue(Kafka.get(admin.listConsumerGroupOffsets(group).partitionsToOffsetAndMetadata()).values()
                    .stream().allMatch(o -> o == null), "offsets of a deleted group");
            Throwable deleted = Kafka.failure(admin.deleteConsumerGroups(List.of(group)).all());
            assertInstanceOf(GroupIdNotFoundException.class, deleted);
        }
    }

    private static ConsumerGroupDescription describeGroup(Admin admin, String group) {
        return Kafka.get(admin.describeConsumerGroups(List.of(group)).describedGroups().get(group));
    }
}
