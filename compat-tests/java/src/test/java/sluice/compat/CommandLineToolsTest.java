package sluice.compat;

import sluice.compat.KafkaTool.Result;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kafka's command-line tools, run as users run them: {@code java -cp <the kafka-tools classpath> <main class> args}
 * (what {@code bin/kafka-topics.sh} and friends do). The classpath is {@code target/kafka-tools.classpath}, written
 * by {@code mvn dependency:build-classpath} (see pom.xml).
 *
 * <p>Each test has a topic (and group) of its own and sets up what it reads itself, so any one runs alone and in
 * any order: create, list and describe a topic; a console producer and consumer round trip; a group's lag; a topic
 * config altered; the metadata quorum described; a client quota set and described.
 */
class CommandLineToolsTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("cli-tools");

    private static final List<String> LINES = IntStream.range(0, 20)
            .mapToObj(i -> "key" + (i % 7) + ":line " + i + " from the console producer")
            .toList();

    @Test
    void kafkaTopicsCreateListDescribe() {
        String topic = "cli-create";
        Result created = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--create", "--topic", topic, "--partitions", "2", "--replication-factor", "1",
                "--config", "retention.ms=86400000");
        assertEquals(0, created.code(), created.toString());
        assertTrue(created.out().contains("Created topic " + topic), created.toString());

        Result listed = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--list");
        assertEquals(0, listed.code(), listed.toString());
        assertTrue(listed.out().lines().anyMatch(topic::equals), listed.toString());

        Result described = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server",
                broker.bootstrap(), "--describe", "--topic", topic);
        assertEquals(0, described.code(), described.toString());
        String out = described.out();
        assertTrue(out.contains("PartitionCount: 2"), described.toString());
        assertTrue(out.contains("ReplicationFactor: 1"), described.toString());
        assertTrue(out.contains("retention.ms=86400000"), described.toString());
        for (int p = 0; p < 2; p++) {
            String partition = "Partition: " + p;
            assertTrue(out.lines().anyMatch(l -> l.contains(partition) && l.contains("Leader: ")
                    && !l.contains("Leader: none")), described.toString());
        }
    }

    @Test
    void consoleProducerAndConsumerRoundTrip() {
        String topic = "cli-round-trip";
        createTopic(topic);
        consoleProduce(topic, LINES);
        consoleConsume(topic, "cli-round-trip-group", LINES);
    }

    @Test
    void consumerGroupsDescribeShowsLag() {
        String topic = "cli-lag";
        String group = "cli-lag-group";
        createTopic(topic);
        consoleProduce(topic, LINES);
        consoleConsume(topic, group, LINES);

        Result listed = tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null,
                "--bootstrap-server", broker.bootstrap(), "--list");
        assertEquals(0, listed.code(), listed.toString());
        assertTrue(listed.out().lines().anyMatch(group::equals), listed.toString());

        // Everything was consumed (and committed when the console consumer closed): lag 0.
        assertEquals(0, totalLag(describeGroup(topic, group)));

        consoleProduce(topic, List.of("key1:late one", "key2:late two", "key3:late three"));
        assertEquals(3, totalLag(describeGroup(topic, group)));
    }

    /** The rows of {@code kafka-consumer-groups --describe}: GROUP TOPIC PARTITION CURRENT LOG-END LAG ... */
    private static List<String[]> describeGroup(String topic, String group) {
        Result described = tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null,
                "--bootstrap-server", broker.bootstrap(), "--describe", "--group", group);
        assertEquals(0, described.code(), described.toString());
        List<String[]> rows = described.out().lines().map(String::trim).map(l -> l.split("\\s+"))
                .filter(cols -> cols.length >= 6 && cols[0].equals(group) && cols[1].equals(topic))
                .toList();
        assertEquals(2, rows.size(), "one row per partition:\n" + described);
        for (String[] row : rows) {
            long current = Long.parseLong(row[3]);
            long end = Long.parseLong(row[4]);
            assertEquals(end - current, Long.parseLong(row[5]), "LAG = LOG-END-OFFSET - CURRENT-OFFSET in "
                    + Arrays.toString(row));
        }
        long ends = rows.stream().mapToLong(r -> Long.parseLong(r[4])).sum();
        assertTrue(ends >= LINES.size(), "log end offsets add up to what was produced:\n" + described);
        return rows;
    }

    private static long totalLag(List<String[]> rows) {
        return rows.stream().mapToLong(r -> Long.parseLong(r[5])).sum();
    }

    @Test
    void kafkaConfigsAltersATopicConfig() {
        String topic = "cli-configs";
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 2, Map.of("retention.ms", "86400000"));
        }
        Result altered = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--entity-type", "topics", "--entity-name", topic, "--alter",
                "--add-config", "retention.ms=3600000,cleanup.policy=compact");
        assertEquals(0, altered.code(), altered.toString());

        Result removed = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--entity-type", "topics", "--entity-name", topic, "--alter", "--delete-config", "cleanup.policy");
        assertEquals(0, removed.code(), removed.toString());

        Result described = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server",
                broker.bootstrap(), "--entity-type", "topics", "--entity-name", topic, "--describe");
        assertEquals(0, described.code(), described.toString());
        assertTrue(described.out().contains("retention.ms=3600000"), described.toString());
        assertTrue(!described.out().contains("cleanup.policy=compact"), described.toString());

        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
            Config config = Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            assertEquals("3600000", config.get("retention.ms").value());
            assertEquals("delete", config.get("cleanup.policy").value());
        }
    }

    /**
     * {@code kafka-metadata-quorum describe --status} and {@code --replication}: the one node as the leader and only
     * voter of the metadata quorum (DescribeQuorum, #14 item 17).
     */
    @Test
    void kafkaMetadataQuorumDescribesTheOneVoter() {
        Result status = tool("org.apache.kafka.tools.MetadataQuorumCommand", null,
                "--bootstrap-server", broker.bootstrap(), "describe", "--status");
        assertEquals(0, status.code(), status.toString());
        for (String field : List.of("ClusterId:", "LeaderId:", "LeaderEpoch:", "HighWatermark:", "CurrentVoters:",
                "CurrentObservers:")) {
            assertTrue(status.out().contains(field), field + " in " + status);
        }
        Result replication = tool("org.apache.kafka.tools.MetadataQuorumCommand", null,
                "--bootstrap-server", broker.bootstrap(), "describe", "--replication");
        assertEquals(0, replication.code(), replication.toString());
        assertTrue(replication.out().contains("Leader"), replication.toString());
    }

    /**
     * {@code kafka-configs --entity-type clients} sets, describes and deletes a client quota (AlterClientQuotas and
     * DescribeClientQuotas, #14 item 17). Kafka's broker describes what its controller committed a moment later,
     * hence the wait. (Not {@code --entity-type users}: describing a user also asks DescribeUserScramCredentials,
     * which comes with SCRAM in the security issue, #17.)
     */
    @Test
    void kafkaConfigsSetsAndDescribesAClientQuota() {
        String client = "cli-quota-client";
        Result altered = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--entity-type", "clients", "--entity-name", client, "--alter",
                "--add-config", "producer_byte_rate=1024,consumer_byte_rate=2048");
        assertEquals(0, altered.code(), altered.toString());
        Kafka.waitUntil("kafka-configs to describe the quota", Kafka.TIMEOUT, () -> {
            Result described = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server",
                    broker.bootstrap(), "--entity-type", "clients", "--entity-name", client, "--describe");
            assertEquals(0, described.code(), described.toString());
            return described.out().contains("producer_byte_rate=1024") && described.out().contains("consumer_byte_rate=2048");
        });
        Result removed = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--entity-type", "clients", "--entity-name", client, "--alter", "--delete-config", "consumer_byte_rate");
        assertEquals(0, removed.code(), removed.toString());
        Kafka.waitUntil("kafka-configs to describe the quota without consumer_byte_rate", Kafka.TIMEOUT, () -> {
            Result described = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server",
                    broker.bootstrap(), "--entity-type", "clients", "--entity-name", client, "--describe");
            return described.out().contains("producer_byte_rate=1024") && !described.out().contains("consumer_byte_rate");
        });
    }

    /** A topic of two partitions, created through the AdminClient (the topic tool has a test of its own). */
    private static void createTopic(String topic) {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 2, Map.of());
        }
    }

    /** {@code kafka-console-producer} of {@code lines}, each {@code KEY:VALUE}. */
    private static void consoleProduce(String topic, List<String> lines) {
        Result produced = tool("org.apache.kafka.tools.ConsoleProducer", String.join("\n", lines) + "\n",
                "--bootstrap-server", broker.bootstrap(), "--topic", topic,
                "--reader-property", "parse.key=true", "--reader-property", "key.separator=:");
        assertEquals(0, produced.code(), produced.toString());
    }

    /**
     * {@code kafka-console-consumer} in {@code group} from the beginning: it must print exactly {@code lines} (in
     * any order across partitions) and commit its position when it exits.
     */
    private static void consoleConsume(String topic, String group, List<String> lines) {
        Result consumed = tool("org.apache.kafka.tools.consumer.ConsoleConsumer", null,
                "--bootstrap-server", broker.bootstrap(), "--topic", topic, "--group", group, "--from-beginning",
                "--max-messages", Integer.toString(lines.size()), "--timeout-ms", "30000",
                "--formatter-property", "print.key=true", "--formatter-property", "key.separator=:");
        assertEquals(0, consumed.code(), consumed.toString());
        List<String> got = consumed.out().lines().sorted().toList();
        assertEquals(lines.stream().sorted().toList(), got, consumed.toString());
        assertTrue(consumed.err().contains("Processed a total of " + lines.size() + " messages"), consumed.toString());
    }

    /** Runs {@code java -cp CLASSPATH mainClass args} with {@code stdin} (or none) and waits for it. */
    static Result tool(String mainClass, String stdin, String... args) {
        // What bin/kafka-run-class.sh would pass, minus what only slows a short-lived JVM down.
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), mainClass, stdin, args);
    }
}
