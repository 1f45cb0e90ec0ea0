package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.TreeMap;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.LongDeserializer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.CloseOptions;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.KeyValue;
import org.apache.kafka.streams.StoreQueryParameters;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.Topology;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.processor.StateRestoreListener;
import org.apache.kafka.streams.state.KeyValueIterator;
import org.apache.kafka.streams.state.KeyValueStore;
import org.apache.kafka.streams.state.QueryableStoreTypes;
import org.apache.kafka.streams.state.ReadOnlyKeyValueStore;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kafka Streams word count (at_least_once): the input is re-keyed by word through a repartition topic and counted in
 * a RocksDB store backed by a compacted changelog topic. Streams creates both internal topics with its own configs,
 * purges the repartition topic with DeleteRecords, and after a restart with its local state wiped restores the
 * counts from the changelog and keeps counting from them.
 */
class StreamsWordCountTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("streams");

    private static final String APP = "wc-app";
    private static final String INPUT = "wc-input";
    private static final String OUTPUT = "wc-output";
    private static final String STORE = "counts";
    private static final String REPARTITION = APP + "-by-word-repartition";
    private static final String CHANGELOG = APP + "-" + STORE + "-changelog";
    private static final Duration STREAMS_TIMEOUT = Duration.ofSeconds(60);
    private static final List<String> WORDS = List.of("apple", "banana", "cherry", "damson", "elder", "fig",
            "grape", "hazel", "ice", "juniper", "kiwi", "lime");

    @Test
    void wordCountSurvivesARestartFromItsChangelog() throws Exception {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, INPUT, 2, Map.of());
            Kafka.createTopic(admin, OUTPUT, 2, Map.of());
        }
        Random random = new Random(42);
        Map<String, Long> expected = new TreeMap<>();

        KafkaStreams first = start(new AtomicLong());
        try {
            produceLines(random, 60, expected);
            awaitOutput(expected);
            awaitStore(first, expected);

            try (Admin admin = Kafka.admin(broker.bootstrap())) {
                // The internal topics exist with the configs Streams asked for.
                Config changelog = describe(admin, CHANGELOG);
                assertEquals("compact", changelog.get("cleanup.policy").value(), "changelog cleanup.policy");
                Config repartition = describe(admin, REPARTITION);
                assertEquals("delete", repartition.get("cleanup.policy").value(), "repartition cleanup.policy");
                assertEquals("-1", repartition.get("retention.ms").value(), "repartition retention.ms");
                // Streams purges what it has consumed from the repartition topic (DeleteRecords after a commit).
                Kafka.waitUntil("Streams to purge " + REPARTITION + " with DeleteRecords", STREAMS_TIMEOUT, () -> {
                    long purged = 0;
                    for (int p = 0; p < 2; p++) {
                        TopicPartition tp = new TopicPartition(REPARTITION, p);
                        purged += Kafka.get(admin.listOffsets(Map.of(tp, OffsetSpec.earliest())).partitionResult(tp))
                                .offset();
                    }
                    return purged > 0;
                });
            }
        } finally {
            close(first);
        }
        // Wipe the local RocksDB state: the next instance must rebuild it from the changelog.
        first.cleanUp();

        AtomicLong restored = new AtomicLong();
        KafkaStreams second = start(restored);
        try {
            awaitStore(second, expected);
            assertTrue(restored.get() >= expected.size(),
                    "restored " + restored.get() + " records from the changelog, expected at least " + expected.size());
            produceLines(random, 40, expected);
            awaitOutput(expected);
            awaitStore(second, expected);
        } finally {
            close(second);
        }
    }

    private static Topology topology() {
        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(INPUT, Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.toLowerCase().split("\\W+")))
                .filter((key, word) -> !word.isEmpty())
                .groupBy((key, word) -> word, Grouped.with("by-word", Serdes.String(), Serdes.String()))
                .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as(STORE)
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .toStream()
                .to(OUTPUT, Produced.with(Serdes.String(), Serdes.Long()));
        return builder.build();
    }

    private static KafkaStreams start(AtomicLong restored) {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, APP);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.STATE_DIR_CONFIG, broker.sluice().workDir().resolve("streams-state").toString());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.REPARTITION_PURGE_INTERVAL_MS_CONFIG, 100);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0); // forward every count update
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 3_000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 300);
        // replication.factor stays at Streams' default (-1: the broker's default) on purpose.
        KafkaStreams streams = new KafkaStreams(topology(), p);
        AtomicReference<Throwable> failure = new AtomicReference<>();
        streams.setUncaughtExceptionHandler(e -> {
            failure.set(e);
            return org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse
                    .SHUTDOWN_CLIENT;
        });
        streams.setGlobalStateRestoreListener(new StateRestoreListener() {
            @Override
            public void onRestoreStart(TopicPartition tp, String store, long start, long end) {
            }

            @Override
            public void onBatchRestored(TopicPartition tp, String store, long batchEnd, long numRestored) {
            }

            @Override
            public void onRestoreEnd(TopicPartition tp, String store, long totalRestored) {
                restored.addAndGet(totalRestored);
            }
        });
        streams.start();
        Instant deadline = Instant.now().plus(STREAMS_TIMEOUT);
        while (streams.state() != KafkaStreams.State.RUNNING) {
            if (failure.get() != null) {
                throw new AssertionError("Streams failed while starting", failure.get());
            }
            if (!streams.state().isRunningOrRebalancing() || Instant.now().isAfter(deadline)) {
                KafkaStreams.State state = streams.state();
                streams.close(Duration.ofSeconds(10));
                throw new AssertionError("Streams is " + state + ", not RUNNING, after " + STREAMS_TIMEOUT,
                        failure.get());
            }
            sleep(50);
        }
        return streams;
    }

    private static void close(KafkaStreams streams) {
        boolean closed = streams.close(CloseOptions.timeout(Duration.ofSeconds(30))
                .withGroupMembershipOperation(CloseOptions.GroupMembershipOperation.LEAVE_GROUP));
        assertTrue(closed, "Streams closed within 30s");
    }

    private static void produceLines(Random random, int n, Map<String, Long> expected) throws Exception {
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
            for (int i = 0; i < n; i++) {
                List<String> line = new ArrayList<>();
                for (int w = 1 + random.nextInt(6); w > 0; w--) {
                    String word = WORDS.get(random.nextInt(WORDS.size()));
                    line.add(random.nextBoolean() ? word : word.toUpperCase());
                    expected.merge(word, 1L, Long::sum);
                }
                producer.send(new ProducerRecord<>(INPUT, "line-" + i, String.join(" ,", line) + "!"));
            }
            producer.flush();
        }
    }

    /** Reads the output topic from the start until the latest count of every word is the expected one. */
    private static void awaitOutput(Map<String, Long> expected) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, broker.bootstrap());
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        try (KafkaConsumer<String, Long> consumer =
                new KafkaConsumer<>(p, new StringDeserializer(), new LongDeserializer())) {
            List<TopicPartition> tps = List.of(new TopicPartition(OUTPUT, 0), new TopicPartition(OUTPUT, 1));
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<String, Long> latest = new TreeMap<>();
            Instant deadline = Instant.now().plus(STREAMS_TIMEOUT);
            while (!latest.equals(expected)) {
                if (Instant.now().isAfter(deadline)) {
                    throw new AssertionError("word counts in " + OUTPUT + " after " + STREAMS_TIMEOUT
                            + ":\n  got      " + latest + "\n  expected " + expected);
                }
                for (ConsumerRecord<String, Long> r : consumer.poll(Duration.ofMillis(200))) {
                    latest.put(r.key(), r.value());
                }
            }
        }
    }

    /** Queries the running application's state store until it holds exactly the expected counts. */
    private static void awaitStore(KafkaStreams streams, Map<String, Long> expected) {
        Map<String, Long> got = new HashMap<>();
        try {
            Kafka.waitUntil("the state store to hold the expected counts", STREAMS_TIMEOUT, () -> {
            ReadOnlyKeyValueStore<String, Long> store = streams.store(
                    StoreQueryParameters.fromNameAndType(STORE, QueryableStoreTypes.keyValueStore()));
            got.clear();
            try (KeyValueIterator<String, Long> all = store.all()) {
                while (all.hasNext()) {
                    KeyValue<String, Long> kv = all.next();
                    got.put(kv.key, kv.value);
                }
            }
            return got.equals(expected);
            });
        } catch (AssertionError e) {
            throw new AssertionError(e.getMessage() + "\n  got      " + new TreeMap<>(got) + "\n  expected " + expected,
                    e.getCause());
        }
    }

    private static Config describe(Admin admin, String topic) {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, topic);
        return Kafka.get(admin.describeConfigs(List.of(resource)).all()).get(resource);
    }

    private static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }
}
