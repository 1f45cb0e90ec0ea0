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
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.common.config.ConfigResource;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kafka's command-line tools, run as users run them: {@code java -cp <the kafka-tools classpath> <main class> args}
 * (what {@code bin/kafka-topics.sh} and friends do). The classpath is {@code target/kafka-tools.classpath}, written
 * by {@code mvn dependency:build-classpath} (see pom.xml).
 *
 * <p>The tests share one topic and run in order: create, list, describe, produce, consume, describe the group's
 * lag, alter the topic's config.
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class CommandLineToolsTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("cli-tools");

    private static final String TOPIC = "cli-topic";
    private static final String GROUP = "cli-group";
    private static final List<String> LINES = IntStream.range(0, 20)
            .mapToObj(i -> "key" + (i % 7) + ":line " + i + " from the console producer")
            .toList();

    @Test
    @Order(1)
    void kafkaTopicsCreateListDescribe() {
        Result created = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--create", "--topic", TOPIC, "--partitions", "2", "--replication-factor", "1",
                "--config", "retention.ms=86400000");
        assertEquals(0, created.code(), created.toString());
        assertTrue(created.out().contains("Created topic " + TOPIC), created.toString());

        Result listed = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--list");
        assertEquals(0, listed.code(), listed.toString());
        assertTrue(listed.out().lines().anyMatch(TOPIC::equals), listed.toString());

        Result described = tool("org.apache.kafka.tools.TopicCommand", null, "--bootstrap-server",
                broker.bootstrap(), "--describe", "--topic", TOPIC);
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
    @Order(2)
    void consoleProducerAndConsumerRoundTrip() {
        Result produced = tool("org.apache.kafka.tools.ConsoleProducer", String.join("\n", LINES) + "\n",
                "--bootstrap-server", broker.bootstrap(), "--topic", TOPIC,
                "--reader-property", "parse.key=true", "--reader-property", "key.separator=:");
        assertEquals(0, produced.code(), produced.toString());

        Result consumed = tool("org.apache.kafka.tools.consumer.ConsoleConsumer", null,
                "--bootstrap-server", broker.bootstrap(), "--topic", TOPIC, "--group", GROUP, "--from-beginning",
                "--max-messages", Integer.toString(LINES.size()), "--timeout-ms", "30000",
                "--formatter-property", "print.key=true", "--formatter-property", "key.separator=:");
        assertEquals(0, consumed.code(), consumed.toString());
        List<String> got = consumed.out().lines().sorted().toList();
        assertEquals(LINES.stream().sorted().toList(), got, consumed.toString());
        assertTrue(consumed.err().contains("Processed a total of " + LINES.size() + " messages"), consumed.toString());
    }

    @Test
    @Order(3)
    void consumerGroupsDescribeShowsLag() {
        Result listed = tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null,
                "--bootstrap-server", broker.bootstrap(), "--list");
        assertEquals(0, listed.code(), listed.toString());
        assertTrue(listed.out().lines().anyMatch(GROUP::equals), listed.toString());

        // Everything was consumed (and committed when the console consumer closed): lag 0.
        assertEquals(0, totalLag(describeGroup()));

        List<String> more = List.of("key1:late one", "key2:late two", "key3:late three");
        Result produced = tool("org.apache.kafka.tools.ConsoleProducer", String.join("\n", more) + "\n",
                "--bootstrap-server", broker.bootstrap(), "--topic", TOPIC,
                "--reader-property", "parse.key=true", "--reader-property", "key.separator=:");
        assertEquals(0, produced.code(), produced.toString());
        assertEquals(3, totalLag(describeGroup()));
    }

    /** The rows of {@code kafka-consumer-groups --describe}: GROUP TOPIC PARTITION CURRENT LOG-END LAG ... */
    private static List<String[]> describeGroup() {
        Result described = tool("org.apache.kafka.tools.consumer.group.ConsumerGroupCommand", null,
                "--bootstrap-server", broker.bootstrap(), "--describe", "--group", GROUP);
        assertEquals(0, described.code(), described.toString());
        List<String[]> rows = described.out().lines().map(String::trim).map(l -> l.split("\\s+"))
                .filter(cols -> cols.length >= 6 && cols[0].equals(GROUP) && cols[1].equals(TOPIC))
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
    @Order(4)
    void kafkaConfigsAltersATopicConfig() {
        Result altered = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--entity-type", "topics", "--entity-name", TOPIC, "--alter",
                "--add-config", "retention.ms=3600000,cleanup.policy=compact");
        assertEquals(0, altered.code(), altered.toString());

        Result removed = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server", broker.bootstrap(),
                "--entity-type", "topics", "--entity-name", TOPIC, "--alter", "--delete-config", "cleanup.policy");
        assertEquals(0, removed.code(), removed.toString());

        Result described = tool("org.apache.kafka.tools.ConfigCommand", null, "--bootstrap-server",
                broker.bootstrap(), "--entity-type", "topics", "--entity-name", TOPIC, "--describe");
        assertEquals(0, described.code(), described.toString());
        assertTrue(described.out().contains("retention.ms=3600000"), described.toString());
        assertTrue(!described.out().contains("cleanup.policy=compact"), described.toString());

        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, TOPIC);
            Config config = Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
            assertEquals("3600000", config.get("retention.ms").value());
            assertEquals("delete", config.get("cleanup.policy").value());
        }
    }

    /** Runs {@code java -cp CLASSPATH mainClass args} with {@code stdin} (or none) and waits for it. */
    static Result tool(String mainClass, String stdin, String... args) {
        // What bin/kafka-run-class.sh would pass, minus what only slows a short-lived JVM down.
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), mainClass, stdin, args);
    }
}
