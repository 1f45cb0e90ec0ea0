package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;

import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.TreeMap;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * A consumer in a group commits part of a topic, the broker restarts (SIGTERM, start on the same data directory,
 * maybe on another port), and a new consumer in the same group resumes exactly at the committed offsets.
 */
class ConsumerGroupRestartTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("group-restart");

    private static final String TOPIC = "java-group-restart";
    private static final String GROUP = "java-resume-group";
    private static final int PARTITIONS = 2;

    @Test
    void committedOffsetsSurviveABrokerRestart() throws Exception {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, TOPIC, PARTITIONS, Map.of());
        }
        produce(0, 100);

        // Consume in the group, committing after every poll, until at least 40 records are done.
        Map<TopicPartition, Long> consumedUpTo = new HashMap<>();
        Map<TopicPartition, OffsetAndMetadata> committed;
        try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), GROUP,
                Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 7))) {
            consumer.subscribe(List.of(TOPIC));
            int done = 0;
            long deadline = System.nanoTime() + Kafka.TIMEOUT.toNanos();
            while (done < 40) {
                if (System.nanoTime() > deadline) {
                    throw new AssertionError("consumed only " + done + " records in " + Kafka.TIMEOUT);
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                    Long previous = consumedUpTo.put(tp, r.offset() + 1);
                    assertEquals(previous == null ? 0L : previous, r.offset(), "no gap in " + tp);
                    done++;
                }
                consumer.commitSync();
            }
            committed = consumer.committed(Set.copyOf(partitions()));
        }
        for (TopicPartition tp : partitions()) {
            long expected = consumedUpTo.getOrDefault(tp, 0L);
            OffsetAndMetadata c = committed.get(tp);
            if (expected == 0) {
                continue; // never reached: nothing committed, or 0
            }
            assertNotNull(c, "committed offset of " + tp);
            assertEquals(expected, c.offset(), "committed offset of " + tp + " is the next record to read");
        }

        broker.sluice().restart();

        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Map<TopicPartition, OffsetAndMetadata> afterRestart =
                    Kafka.get(admin.listConsumerGroupOffsets(GROUP).partitionsToOffsetAndMetadata());
            for (TopicPartition tp : partitions()) {
                long expected = consumedUpTo.getOrDefault(tp, 0L);
                if (expected > 0) {
                    assertNotNull(afterRestart.get(tp), "offset of " + tp + " after the restart");
                    assertEquals(expected, afterRestart.get(tp).offset(), "offset of " + tp + " after the restart");
                }
            }
        }
        produce(100, 20);

        // A new consumer in the group reads exactly the rest: from the committed offsets to the end.
        Map<TopicPartition, Long> ends = new TreeMap<>((a, b) -> Integer.compare(a.partition(), b.partition()));
        try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), null, Map.of())) {
            ends.putAll(consumer.endOffsets(partitions()));
        }
        long remaining = 0;
        for (TopicPartition tp : partitions()) {
            remaining += ends.get(tp) - consumedUpTo.getOrDefault(tp, 0L);
        }
        assertEquals(120 - consumedUpTo.values().stream().mapToLong(Long::longValue).sum(), remaining);
        try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), GROUP, Map.of())) {
            consumer.subscribe(List.of(TOPIC));
            final long want = remaining;
            List<ConsumerRecord<String, String>> got = Kafka.pollUntil(consumer, g -> g.size() >= want,
                    want + " records after the restart");
            assertEquals(want, got.size());
            for (ConsumerRecord<String, String> r : got) {
                TopicPartition tp = new TopicPartition(r.topic(), r.partition());
                long next = consumedUpTo.getOrDefault(tp, 0L);
                assertEquals(next, r.offset(), "resumed at the committed offset of " + tp + ", without gaps");
                consumedUpTo.put(tp, next + 1);
            }
            consumer.commitSync();
            for (TopicPartition tp : partitions()) {
                assertEquals(ends.get(tp), consumedUpTo.get(tp), "read " + tp + " to its end");
            }
        }
    }

    private static List<TopicPartition> partitions() {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < PARTITIONS; p++) {
            tps.add(new TopicPartition(TOPIC, p));
        }
        return tps;
    }

    private static void produce(int from, int n) throws Exception {
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
            for (int i = from; i < from + n; i++) {
                producer.send(new ProducerRecord<>(TOPIC, i % PARTITIONS, "k" + i, "v" + i)).get();
            }
        }
    }
}
