package sluice.compat;

import sluice.compat.KafkaTool.Result;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.MemberDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.GroupState;
import org.apache.kafka.common.GroupType;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * KIP-848 consumer groups with the Java {@link KafkaConsumer} and {@code group.protocol=consumer}: two members split
 * a topic, the rebalance listener sees incremental callbacks (a member's partitions are assigned once and revoked
 * only when they move), commits carry over when a member leaves, the AdminClient describes the group as a CONSUMER
 * group with its members and their assignments, and {@code kafka-consumer-groups.sh --describe} shows its members
 * and lag.
 *
 * <p>The broker hands members a 500 ms heartbeat interval (a member learns of a new assignment only from a
 * heartbeat; Kafka's default is 5 s).
 */
class ConsumerProtocolTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("consumer-protocol", Map.of(
            "group_consumer_heartbeat_interval_ms", 500,
            "group_consumer_min_heartbeat_interval_ms", 500));

    private static final String TOPIC = "java-consumer-protocol";
    private static final String GROUP = "java-consumer-protocol-group";
    private static final int PARTITIONS = 4;

    @Test
    void membersSplitTheTopicAndOneTakesOverWhenTheOtherLeaves() throws Exception {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, TOPIC, PARTITIONS, Map.of());
            produce(0, 40);
            Map<String, Object> config = Map.of(ConsumerConfig.GROUP_PROTOCOL_CONFIG, "consumer",
                    ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5);
            Set<String> seen = new HashSet<>();
            Listener listenerA = new Listener();
            KafkaConsumer<String, String> a = consumer(config);
            try (KafkaConsumer<String, String> b = consumer(config)) {
                Listener listenerB = new Listener();
                a.subscribe(List.of(TOPIC), listenerA.committing(a));
                b.subscribe(List.of(TOPIC), listenerB.committing(b));
                poll(List.of(a, b), seen, () -> a.assignment().size() == 2 && b.assignment().size() == 2
                        && seen.size() == 40, "two partitions each and all 40 records");
                Set<TopicPartition> union = new HashSet<>(a.assignment());
                union.addAll(b.assignment());
                assertEquals(PARTITIONS, union.size(), "the members' assignments cover the topic: " + union);

                ConsumerGroupDescription group =
                        Kafka.get(admin.describeConsumerGroups(List.of(GROUP)).describedGroups().get(GROUP));
                assertEquals(GroupType.CONSUMER, group.type(), group.toString());
                assertEquals(GroupState.STABLE, group.groupState(), group.toString());
                assertEquals(2, group.members().size(), group.toString());
                Set<TopicPartition> described = new HashSet<>();
                for (MemberDescription m : group.members()) {
                    assertEquals(2, m.assignment().topicPartitions().size(), m.toString());
                    described.addAll(m.assignment().topicPartitions());
                }
                assertEquals(union, described, "the described assignments are the members' own");
                assertEquals("uniform", group.partitionAssignor(), "the default server-side assignor");

                // The group as kafka-consumer-groups.sh shows it: both members, every partition, no lag.
                Result members = tool("--describe", "--group", GROUP, "--members");
                assertEquals(0, members.code(), members.toString());
                assertEquals(2, members.out().lines().filter(l -> l.startsWith(GROUP + " ")).count(),
                        members.toString());
                assertEquals(0, totalLag(), "nothing left to read");
                Result types = tool("--list", "--type");
                assertEquals(0, types.code(), types.toString());
                assertTrue(types.out().lines().anyMatch(l -> l.matches(GROUP + "\\s+(?i:consumer)\\s*")),
                        "--list --type shows the group as a consumer group:\n" + types);
                Result state = tool("--describe", "--group", GROUP, "--state");
                assertEquals(0, state.code(), state.toString());
                assertTrue(state.out().lines().anyMatch(l -> l.startsWith(GROUP + " ") && l.contains("uniform")
                        && l.contains("Stable") && l.trim().endsWith(" 2")), "--state shows the assignor, the "
                        + "state and 2 members:\n" + state);

                // Incremental: whichever member joined first gave up only the partitions the other now owns.
                listenerA.assertOnlyMovedRevoked(b.assignment());
                listenerB.assertOnlyMovedRevoked(a.assignment());
                listenerA.revoked.clear();
            }
            // b left: a is assigned b's two partitions incrementally, keeps its own, and resumes from b's commits.
            try (a) {
                produce(40, 20);
                poll(List.of(a), seen, () -> a.assignment().size() == PARTITIONS && seen.size() == 60,
                        "all four partitions and the 20 new records");
                assertTrue(listenerA.revoked.isEmpty(), "a kept its partitions: revoked " + listenerA.revoked);
                Set<TopicPartition> assigned = new HashSet<>();
                listenerA.assigned.forEach(assigned::addAll);
                assertEquals(PARTITIONS, assigned.size(), "a's callbacks added up to the topic: "
                        + listenerA.assigned);
                a.commitSync();
                assertEquals(0, totalLag(), "everything committed");
                produce(60, 3);
                assertEquals(3, totalLag(), "the new records are lag");
            }
            assertEquals(60, seen.size());
        }
    }

    /** Records every callback; commits what was read before partitions are revoked. */
    static final class Listener {
        final List<Collection<TopicPartition>> assigned = new CopyOnWriteArrayList<>();
        final List<Collection<TopicPartition>> revoked = new CopyOnWriteArrayList<>();

        /** Every partition this member was revoked is one {@code other} (the other member's assignment) owns. */
        void assertOnlyMovedRevoked(Set<TopicPartition> other) {
            for (Collection<TopicPartition> partitions : revoked) {
                assertTrue(other.containsAll(partitions), "revoked " + partitions + " moved to the other member "
                        + other);
            }
        }

        ConsumerRebalanceListener committing(KafkaConsumer<String, String> consumer) {
            return new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                    if (!partitions.isEmpty()) {
                        revoked.add(List.copyOf(partitions));
                        consumer.commitSync();
                    }
                }

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    if (!partitions.isEmpty()) {
                        assigned.add(List.copyOf(partitions));
                    }
                }
            };
        }
    }

    /** Polls the consumers in turn, committing after each poll, until {@code done}; no record twice. */
    private static void poll(List<KafkaConsumer<String, String>> consumers, Set<String> seen, BooleanSupplier done,
            String what) {
        Instant deadline = Instant.now().plus(Kafka.TIMEOUT);
        while (!done.getAsBoolean()) {
            List<Set<TopicPartition>> owned = new ArrayList<>();
            consumers.forEach(c -> owned.add(c.assignment()));
            assertFalse(Instant.now().isAfter(deadline), "timed out after " + Kafka.TIMEOUT + " waiting for " + what
                    + "; seen " + seen.size() + " records, assignments " + owned);
            for (KafkaConsumer<String, String> c : consumers) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    assertTrue(seen.add(r.value()), "record read twice: " + r.value() + " at " + r.partition() + "@"
                            + r.offset());
                }
                c.commitSync();
            }
        }
    }

    /** The sum of the LAG column of {@code kafka-consumer-groups.sh --describe} (one row per partition). */
    private static long totalLag() {
        Result described = tool("--describe", "--group", GROUP);
        assertEquals(0, described.code(), described.toString());
        List<String[]> rows = described.out().lines().map(String::trim).map(l -> l.split("\\s+"))
                .filter(cols -> cols.length >= 6 && cols[0].equals(GROUP) && cols[1].equals(TOPIC)).toList();
        assertEquals(PARTITIONS, rows.size(), "one row per partition:\n" + described);
        return rows.stream().mapToLong(r -> Long.parseLong(r[5])).sum();
    }

    private static Result tool(String... args) {
        List<String> all = new ArrayList<>(List.of("--bootstrap-server", broker.bootstrap()));
        all.addAll(List.of(args));
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), "org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null,
                all.toArray(String[]::new));
    }

    /** Not {@link Kafka#consumer}: the consumer protocol rejects the session and heartbeat settings it makes. */
    private static KafkaConsumer<String, String> consumer(Map<String, Object> config) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.GROUP_ID_CONFIG, GROUP);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) Kafka.TIMEOUT.toMillis());
        p.putAll(config);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    private static void produce(int from, int n) throws Exception {
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
            for (int i = from; i < from + n; i++) {
                producer.send(new ProducerRecord<>(TOPIC, i % PARTITIONS, "k" + i, "v" + i));
            }
            producer.flush();
        }
    }
}
