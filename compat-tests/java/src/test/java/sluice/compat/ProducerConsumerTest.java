package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.charset.StandardCharsets;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.header.internals.RecordHeader;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;
import org.junit.jupiter.params.ParameterizedTest;
import org.junit.jupiter.params.provider.ValueSource;

/** The Java producer with its defaults and with each compression codec, read back by the Java consumer. */
class ProducerConsumerTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("produce-consume");

    /** What a test sent, to compare with what comes back. */
    record Sent(int partition, long offset, long timestamp, String key, String value, List<Header> headers) {
    }

    @Test
    void idempotentProducerWithDefaultSettingsRoundTrip() throws Exception {
        String topic = "java-defaults";
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 3, Map.of());
        }
        List<Sent> sent;
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
            sent = send(producer, topic, 300, i -> "value-" + i);
        }
        // Defaults: enable.idempotence=true and acks=all, so every record got a producer id and no duplicates.
        assertEquals(3, sent.stream().map(Sent::partition).distinct().count(), "keys spread over 3 partitions");
        assertReadBack(topic, 3, sent);
    }

    @ParameterizedTest(name = "compression.type={0}")
    @ValueSource(strings = {"gzip", "snappy", "lz4", "zstd"})
    void compressedBatchesRoundTrip(String codec) throws Exception {
        String topic = "java-codec-" + codec;
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 2, Map.of());
        }
        List<Sent> sent;
        Map<String, Object> config = Map.of(
                ProducerConfig.COMPRESSION_TYPE_CONFIG, codec,
                ProducerConfig.LINGER_MS_CONFIG, 20,
                ProducerConfig.BATCH_SIZE_CONFIG, 64 * 1024);
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), config)) {
            // Compressible values, many records per batch, plus a few values larger than a typical batch.
            sent = send(producer, topic, 500, i -> i % 100 == 7
                    ? ("big-" + i + "-").repeat(5_000)
                    : (codec + " value " + i + " ").repeat(1 + i % 20));
        }
        assertReadBack(topic, 2, sent);
    }

    interface Values {
        String value(int i);
    }

    private static List<Sent> send(KafkaProducer<String, String> producer, String topic, int n, Values values)
            throws Exception {
        long base = System.currentTimeMillis() - 60_000;
        List<ProducerRecord<String, String>> records = new ArrayList<>();
        List<Future<RecordMetadata>> futures = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            List<Header> headers = i % 3 == 0
                    ? List.of(new RecordHeader("h", ("hv" + i).getBytes(StandardCharsets.UTF_8)),
                            new RecordHeader("empty", new byte[0]))
                    : List.of();
            String key = i % 10 == 9 ? null : "key-" + (i % 37);
            ProducerRecord<String, String> record = new ProducerRecord<>(topic, null, base + i, key,
                    i % 50 == 49 ? null : values.value(i), headers);
            records.add(record);
            futures.add(producer.send(record));
        }
        producer.flush();
        List<Sent> sent = new ArrayList<>();
        for (int i = 0; i < n; i++) {
            RecordMetadata md = futures.get(i).get();
            ProducerRecord<String, String> r = records.get(i);
            List<Header> headers = new ArrayList<>();
            r.headers().forEach(headers::add);
            assertEquals(r.timestamp(), md.timestamp(), "CreateTime timestamp echoed for record " + i);
            sent.add(new Sent(md.partition(), md.offset(), r.timestamp(), r.key(), r.value(), headers));
        }
        // Offsets within a partition are contiguous from 0, in send order.
        Map<Integer, List<Long>> offsets = sent.stream().collect(Collectors.groupingBy(Sent::partition,
                Collectors.mapping(Sent::offset, Collectors.toList())));
        offsets.forEach((p, list) -> {
            for (int i = 0; i < list.size(); i++) {
                assertEquals((long) i, list.get(i), "offset " + i + " of partition " + p);
            }
        });
        return sent;
    }

    private static void assertReadBack(String topic, int partitions, List<Sent> sent) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            tps.add(new TopicPartition(topic, p));
        }
        try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), null, Map.of())) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            List<ConsumerRecord<String, String>> got = Kafka.pollN(consumer, sent.size());
            assertEquals(sent.size(), got.size(), "no extra records");
            Map<String, ConsumerRecord<String, String>> byPosition = new HashMap<>();
            for (ConsumerRecord<String, String> r : got) {
                byPosition.put(r.partition() + "@" + r.offset(), r);
            }
            for (Sent s : sent) {
                ConsumerRecord<String, String> r = byPosition.get(s.partition() + "@" + s.offset());
                assertNotNull(r, "record at " + s.partition() + "@" + s.offset());
                assertEquals(s.key(), r.key());
                assertEquals(s.value(), r.value());
                assertEquals(s.timestamp(), r.timestamp());
                List<Header> headers = new ArrayList<>();
                r.headers().forEach(headers::add);
                assertEquals(s.headers(), headers, "headers of " + s.partition() + "@" + s.offset());
            }
            for (TopicPartition tp : tps) {
                long count = sent.stream().filter(s -> s.partition() == tp.partition()).count();
                assertEquals(count, consumer.position(tp), "position at the end of " + tp);
                assertEquals(count, (long) consumer.endOffsets(List.of(tp)).get(tp), "end offset of " + tp);
            }
        }
    }
}
