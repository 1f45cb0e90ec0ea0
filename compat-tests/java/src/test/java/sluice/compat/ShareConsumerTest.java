package sluice.compat;

import sluice.compat.KafkaTool.Result;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.charset.StandardCharsets;
import java.nio.file.Paths;
import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec;
import org.apache.kafka.clients.admin.ShareGroupDescription;
import org.apache.kafka.clients.admin.SharePartitionOffsetInfo;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * KIP-932 share groups with Kafka's own {@link KafkaShareConsumer} (4.4): several consumers on one partition split
 * its records and every record is accepted exactly once; explicit acknowledgement, where a released record comes
 * back with delivery count 2 and a rejected one never does; a consumer killed with records acquired, whose records
 * go to another member once their locks expire; accepted records not delivered again after a broker restart; and
 * {@code kafka-share-groups.sh --describe}.
 *
 * <p>Every group is set up with Admin.incrementalAlterConfigs on its GROUP config resource (KIP-932's group configs):
 * {@code share.auto.offset.reset=earliest}, so records produced before a consumer joins are delivered, and, where a
 * test waits for locks to expire, {@code share.record.lock.duration.ms} of 2 s. The broker lowers the minimum lock
 * duration to allow it, and the share heartbeat interval to 500 ms, as the consumer-protocol tests do.
 */
class ShareConsumerTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("share-consumer", Map.of(
            "group_share_heartbeat_interval_ms", 500,
            "group_share_min_heartbeat_interval_ms", 500,
            "group_share_min_record_lock_duration_ms", 1000));

    /** Children still running when the test JVM exits (an interrupted run) are killed, not orphaned. */
    private static final Set<Process> RUNNING = java.util.concurrent.ConcurrentHashMap.newKeySet();

    static {
        Runtime.getRuntime().addShutdownHook(new Thread(() -> RUNNING.forEach(Process::destroyForcibly),
                "share-consumer-reaper"));
    }

    @Test
    void twoConsumersSplitOnePartition() throws Exception {
        split("share-split-2", 2);
    }

    @Test
    void threeConsumersSplitOnePartition() throws Exception {
        split("share-split-3", 3);
    }

    /**
     * {@code n} consumers join, then 300 records are produced to the one partition; each consumer acquires at most 10
     * records per poll (record_limit), so while they are polled in turn each gets a share. Implicit acknowledgement:
     * the records a poll returned are accepted by the next commitSync. No record arrives twice, all arrive, and the
     * share-partition start offset moves to the end of the log.
     */
    private void split(String name, int n) throws Exception {
        final int records = 300;
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, name, 1, Map.of());
            configureGroup(admin, name, Map.of("share.auto.offset.reset", "earliest"));
            List<KafkaShareConsumer<String, String>> consumers = new ArrayList<>();
            try {
                for (int i = 0; i < n; i++) {
                    KafkaShareConsumer<String, String> c = shareConsumer(broker.bootstrap(), name, Map.of(
                            ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10,
                            "share.acquire.mode", "record_limit"));
                    c.subscribe(List.of(name));
                    consumers.add(c);
                }
                // All members are in the group with the partition before there is anything to split.
                pollUntil(consumers, r -> fail("no records yet: " + r), () -> membersWithAssignment(admin, name) == n,
                        n + " members with the partition assigned");

                produce(name, 0, records);
                Map<String, Integer> byConsumer = new HashMap<>();
                Set<String> seen = new HashSet<>();
                List<String> twice = new ArrayList<>();
                pollUntil(consumers, r -> {
                    if (!seen.add(r.value())) {
                        twice.add(r.value() + "@" + r.offset());
                    }
                    assertEquals(1, r.deliveryCount().orElseThrow().intValue(), "first delivery of " + r.value());
                }, () -> seen.size() == records, records + " records");
                assertTrue(twice.isEmpty(), "records delivered twice: " + twice);
                acceptMarker(consumers, name, records);
            } finally {
                consumers.forEach(KafkaShareConsumer::close);
            }
            awaitStartOffset(admin, name, records);
        }
    }

    /**
     * Explicit acknowledgement: of three records, the first is accepted, the second released and the third rejected.
     * The released one comes back with delivery count 2; the rejected one never does (a record produced after it
     * arrives, and it has not).
     */
    @Test
    void releasedRecordsComeBackAndRejectedOnesNever() throws Exception {
        String name = "share-explicit";
        try (Admin admin = Kafka.admin(broker.bootstrap());
             KafkaShareConsumer<String, String> consumer = shareConsumer(broker.bootstrap(), name,
                     Map.of("share.acknowledgement.mode", "explicit"))) {
            Kafka.createTopic(admin, name, 1, Map.of());
            configureGroup(admin, name, Map.of("share.auto.offset.reset", "earliest"));
            produce(name, 0, 3);
            consumer.subscribe(List.of(name));

            List<ConsumerRecord<String, String>> first = new ArrayList<>();
            pollUntil(List.of(consumer), first::add, () -> first.size() >= 3, "the three records");
            assertEquals(List.of("v0", "v1", "v2"), first.stream().map(ConsumerRecord::value).toList());
            consumer.acknowledge(first.get(0), AcknowledgeType.ACCEPT);
            consumer.acknowledge(first.get(1), AcknowledgeType.RELEASE);
            consumer.acknowledge(first.get(2), AcknowledgeType.REJECT);
            consumer.commitSync();

            List<ConsumerRecord<String, String>> again = new ArrayList<>();
            pollUntil(List.of(consumer), r -> {
                again.add(r);
                consumer.acknowledge(r, AcknowledgeType.ACCEPT);
            }, () -> again.size() >= 1, "the released record again");
            assertEquals("v1", again.get(0).value(), "only the released record comes back: " + again);
            assertEquals(2, again.get(0).deliveryCount().orElseThrow().intValue(), "its second delivery");
            consumer.commitSync();

            produce(name, 3, 1);
            List<ConsumerRecord<String, String>> later = new ArrayList<>();
            pollUntil(List.of(consumer), r -> {
                later.add(r);
                consumer.acknowledge(r, AcknowledgeType.ACCEPT);
            }, () -> later.stream().anyMatch(r -> r.value().equals("v3")), "the record produced later");
            assertEquals(List.of("v3"), later.stream().map(ConsumerRecord::value).toList(),
                    "neither the accepted nor the rejected record came back");
            consumer.commitSync();
            awaitStartOffset(admin, name, 3);
        }
    }

    /**
     * A consumer in a child JVM acquires records and is killed with SIGKILL before acknowledging them. Once their
     * acquisition locks expire (2 s, set on the group), another member gets them, with delivery count 2, and gets
     * every other record too.
     */
    @Test
    void aKilledConsumersRecordsGoToAnotherMemberWhenTheirLocksExpire() throws Exception {
        String name = "share-killed";
        final int records = 20;
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, name, 1, Map.of());
            configureGroup(admin, name, Map.of("share.auto.offset.reset", "earliest",
                    "share.record.lock.duration.ms", "2000"));
            produce(name, 0, records);

            List<String> cmd = List.of(Paths.get(System.getProperty("java.home"), "bin", "java").toString(),
                    "-Xmx128m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn",
                    "-cp", System.getProperty("java.class.path"), ShareConsumerApp.class.getName(),
                    broker.bootstrap(), name, name);
            Process child = new ProcessBuilder(cmd)
                    .redirectError(ProcessBuilder.Redirect.INHERIT)
                    .redirectInput(ProcessBuilder.Redirect.from(Paths.get("/dev/null").toFile()))
                    .start();
            RUNNING.add(child);
            Set<Long> acquired = new HashSet<>();
            try {
                CompletableFuture<String> line = CompletableFuture.supplyAsync(() -> {
                    try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(),
                            StandardCharsets.UTF_8))) {
                        for (String l = out.readLine(); l != null; l = out.readLine()) {
                            if (l.startsWith("ACQUIRED ")) {
                                return l;
                            }
                        }
                        return "exited with " + child.waitFor();
                    } catch (Exception e) {
                        return e.toString();
                    }
                });
                String got = line.get(60, TimeUnit.SECONDS);
                assertTrue(got.startsWith("ACQUIRED "), "the child consumer acquired records: " + got);
                for (String offset : got.substring("ACQUIRED ".length()).split(",")) {
                    acquired.add(Long.parseLong(offset));
                }
            } finally {
                child.destroyForcibly();
                assertTrue(child.waitFor(30, TimeUnit.SECONDS), "the child exited after SIGKILL");
                RUNNING.remove(child);
            }

            try (KafkaShareConsumer<String, String> other = shareConsumer(broker.bootstrap(), name, Map.of())) {
                other.subscribe(List.of(name));
                Map<Long, Integer> deliveries = new HashMap<>();
                pollUntil(List.of(other), r -> deliveries.put(r.offset(), r.deliveryCount().orElseThrow().intValue()),
                        () -> deliveries.size() == records, "all " + records + " records at the other member");
                for (long offset : acquired) {
                    assertEquals(2, deliveries.get(offset), "record " + offset + " was delivered to the killed "
                            + "consumer first: " + deliveries);
                }
                acceptMarker(List.of(other), name, records);
            }
            awaitStartOffset(admin, name, records);
        }
    }

    /**
     * Share state is durable: of 20 records a consumer accepts the 10 it acquired first (record_limit, 10 a poll)
     * and closes; after a broker restart another consumer of the group gets exactly the other 10, never an accepted
     * one.
     */
    @Test
    void acceptedRecordsAreNotDeliveredAgainAfterARestart() throws Exception {
        String name = "share-restart";
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, name, 1, Map.of());
            configureGroup(admin, name, Map.of("share.auto.offset.reset", "earliest"));
        }
        produce(name, 0, 20);
        Set<String> accepted = new HashSet<>();
        try (KafkaShareConsumer<String, String> first = shareConsumer(broker.bootstrap(), name, Map.of(
                "share.acknowledgement.mode", "explicit", ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 10,
                "share.acquire.mode", "record_limit"))) {
            first.subscribe(List.of(name));
            pollUntil(List.of(first), r -> {
                accepted.add(r.value());
                first.acknowledge(r, AcknowledgeType.ACCEPT);
            }, () -> !accepted.isEmpty(), "the first poll's records");
            first.commitSync();
        }
        assertTrue(accepted.size() <= 10, "record_limit: at most 10 records a poll, got " + accepted);

        broker.sluice().restart();
        try (KafkaShareConsumer<String, String> second = shareConsumer(broker.bootstrap(), name, Map.of())) {
            second.subscribe(List.of(name));
            Set<String> rest = new HashSet<>();
            List<String> again = new ArrayList<>();
            pollUntil(List.of(second), r -> {
                if (accepted.contains(r.value()) || !rest.add(r.value())) {
                    again.add(r.value() + "@" + r.offset());
                }
            }, () -> accepted.size() + rest.size() == 20 || !again.isEmpty(), "the records not accepted");
            assertTrue(again.isEmpty(), "accepted records delivered again after the restart: " + again);
            second.commitSync();
        }
    }

    /** {@code kafka-share-groups.sh --describe} (and {@code --members}) shows the group, its topic and its member. */
    @Test
    void kafkaShareGroupsDescribe() throws Exception {
        String name = "share-cli";
        try (Admin admin = Kafka.admin(broker.bootstrap());
             KafkaShareConsumer<String, String> consumer = shareConsumer(broker.bootstrap(), name, Map.of())) {
            Kafka.createTopic(admin, name, 1, Map.of());
            configureGroup(admin, name, Map.of("share.auto.offset.reset", "earliest"));
            produce(name, 0, 5);
            consumer.subscribe(List.of(name));
            Set<String> seen = new HashSet<>();
            pollUntil(List.of(consumer), r -> seen.add(r.value()), () -> seen.size() == 5, "5 records");
            acceptMarker(List.of(consumer), name, 5);
            awaitStartOffset(admin, name, 5);

            Result offsets = tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", null,
                    "--bootstrap-server", broker.bootstrap(), "--describe", "--group", name);
            assertEquals(0, offsets.code(), offsets.toString());
            // GROUP TOPIC PARTITION LEADER-EPOCH START-OFFSET LAG: one row for the partition, started at 5.
            List<String[]> rows = offsets.out().lines().map(String::trim).map(l -> l.split("\\s+"))
                    .filter(cols -> cols.length >= 5 && cols[0].equals(name) && cols[1].equals(name)).toList();
            assertEquals(1, rows.size(), offsets.toString());
            // The START-OFFSET column: 6 once the marker at offset 5 is accepted; Kafka 4.4 reports one
            // acknowledgement behind (5, FINDINGS.md), so either is right.
            List<String> header = offsets.out().lines().map(String::trim).filter(l -> l.startsWith("GROUP"))
                    .findFirst().map(l -> List.of(l.split("\\s+"))).orElseThrow();
            String start = rows.get(0)[header.indexOf("START-OFFSET")];
            assertTrue(start.equals("5") || start.equals("6"), "the start offset 5 (or 6) is shown:\n" + offsets);

            Result members = tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand",
                    null, "--bootstrap-server", broker.bootstrap(), "--describe", "--group", name, "--members");
            assertEquals(0, members.code(), members.toString());
            assertTrue(members.out().lines().anyMatch(l -> l.startsWith(name) && l.contains(name + ":0")),
                    "one member with the partition:\n" + members);

            Result list = tool("org.apache.kafka.tools.consumer.group.ShareGroupCommand", null,
                    "--bootstrap-server", broker.bootstrap(), "--list");
            assertEquals(0, list.code(), list.toString());
            assertTrue(list.out().lines().anyMatch(name::equals), list.toString());
        }
    }

    // ------------------------------------------------------------------------------------------------ helpers

    /** Runs a command-line tool as {@link CommandLineToolsTest} does, against this class's broker. */
    static Result tool(String mainClass, String stdin, String... args) {
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), mainClass, stdin, args);
    }

    static KafkaShareConsumer<String, String> shareConsumer(String bootstrap, String group, Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) Kafka.TIMEOUT.toMillis());
        p.putAll(extra);
        return new KafkaShareConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    /** Sets group configs with IncrementalAlterConfigs on the GROUP resource (type 32). */
    static void configureGroup(Admin admin, String group, Map<String, String> configs) {
        List<AlterConfigOp> ops = configs.entrySet().stream()
                .map(e -> new AlterConfigOp(new ConfigEntry(e.getKey(), e.getValue()), AlterConfigOp.OpType.SET))
                .toList();
        Kafka.get(admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), ops))
                .all());
    }

    /** Polls every consumer in turn, handing each record to {@code onRecord}, until {@code done}. */
    private static void pollUntil(List<KafkaShareConsumer<String, String>> consumers,
            java.util.function.Consumer<ConsumerRecord<String, String>> onRecord, BooleanSupplier done, String what) {
        Instant deadline = Instant.now().plus(Kafka.TIMEOUT);
        while (!done.getAsBoolean()) {
            assertFalse(Instant.now().isAfter(deadline), "timed out after " + Kafka.TIMEOUT + " waiting for " + what);
            for (KafkaShareConsumer<String, String> c : consumers) {
                c.poll(Duration.ofMillis(100)).forEach(onRecord);
            }
        }
    }

    private static void fail(String message) {
        throw new AssertionError(message);
    }

    private static int membersWithAssignment(Admin admin, String group) {
        ShareGroupDescription d;
        try {
            d = Kafka.get(admin.describeShareGroups(List.of(group)).describedGroups().get(group));
        } catch (AssertionError e) {
            // GROUP_ID_NOT_FOUND until the first member's heartbeat created the group.
            return 0;
        }
        return (int) d.members().stream().filter(m -> !m.assignment().topicPartitions().isEmpty()).count();
    }

    /**
     * Produces one more record (value {@code marker}), polls until it arrives (nothing else may: every earlier
     * record was accepted) and commits. Kafka 4.4 persists the share-partition start offset that
     * DescribeShareGroupOffsets reports one acknowledgement behind when the acknowledged batch empties the
     * partition's in-flight records (seen here: 290 after 300 records accepted in batches of 10), so a test that
     * checks the start offset accepts a marker after the records it counts, then expects at least their count.
     */
    private static void acceptMarker(List<KafkaShareConsumer<String, String>> consumers, String topic, int offset)
            throws Exception {
        produce(topic, offset, 1);
        List<String> got = new ArrayList<>();
        pollUntil(consumers, r -> got.add(r.value()), () -> got.contains("v" + offset), "the marker v" + offset);
        assertEquals(List.of("v" + offset), got, "only the marker arrives: every earlier record was accepted");
        for (KafkaShareConsumer<String, String> c : consumers) {
            c.commitSync();
        }
    }

    /** Waits until the start offset of the group's share-partition {@code name}-0 is at least {@code expected}. */
    private static void awaitStartOffset(Admin admin, String name, long expected) throws InterruptedException {
        Instant deadline = Instant.now().plus(Kafka.TIMEOUT);
        long last;
        while ((last = startOffset(admin, name, name)) < expected) {
            assertFalse(Instant.now().isAfter(deadline), "the share-partition start offset of " + name
                    + " did not reach " + expected + " within " + Kafka.TIMEOUT + ": " + last);
            Thread.sleep(100);
        }
    }

    /** The share-partition start offset of partition 0 (DescribeShareGroupOffsets), or -1 while there is none. */
    private static long startOffset(Admin admin, String group, String topic) {
        TopicPartition tp = new TopicPartition(topic, 0);
        Map<TopicPartition, SharePartitionOffsetInfo> offsets = Kafka.get(admin.listShareGroupOffsets(
                Map.of(group, new ListShareGroupOffsetsSpec().topicPartitions(List.of(tp))))
                .partitionsToOffsetInfo(group));
        SharePartitionOffsetInfo o = offsets.get(tp);
        return o == null ? -1 : o.startOffset();
    }

    private static void produce(String topic, int from, int n) throws Exception {
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
            for (int i = from; i < from + n; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "k" + i, "v" + i));
            }
            producer.flush();
        }
    }
}
