package sluice.compat;

import java.util.Arrays;
import java.util.Properties;
import java.util.concurrent.CountDownLatch;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.utils.Bytes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.errors.StreamsUncaughtExceptionHandler.StreamThreadExceptionResponse;
import org.apache.kafka.streams.kstream.Consumed;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.KeyValueStore;

/**
 * The Kafka Streams word count of {@link StreamsExactlyOnceTest}, as a program of its own so that the test can run it
 * in a child JVM and kill it with SIGKILL mid-run:
 *
 * <pre>
 * java -cp TEST_CLASSPATH sluice.compat.WordCountApp BOOTSTRAP GUARANTEE APPLICATION_ID STATE_DIR COMMIT_INTERVAL_MS
 * </pre>
 *
 * <p>Lines of {@code APPLICATION_ID-input} are split into words, re-keyed by word (a repartition topic) and counted
 * in a persistent store (a changelog topic); every count update goes to {@code APPLICATION_ID-output}, the store's
 * cache being off. It prints {@code STATE <state>} at each state change and exits 1 if a stream thread dies.
 */
public final class WordCountApp {
    private WordCountApp() {
    }

    public static void main(String[] args) throws InterruptedException {
        if (args.length != 5) {
            System.err.println("usage: WordCountApp BOOTSTRAP GUARANTEE APPLICATION_ID STATE_DIR COMMIT_INTERVAL_MS");
            System.exit(2);
        }
        String app = args[2];
        Properties p = new Properties();
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, args[0]);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, args[1]);
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, app);
        p.put(StreamsConfig.STATE_DIR_CONFIG, args[3]);
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, Integer.parseInt(args[4]));
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0); // forward every count update
        // A killed instance stays a member of the group until its session times out: the restart waits that long.
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG), 3_000);
        p.put(StreamsConfig.consumerPrefix(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG), 300);

        StreamsBuilder builder = new StreamsBuilder();
        builder.stream(app + "-input", Consumed.with(Serdes.String(), Serdes.String()))
                .flatMapValues(line -> Arrays.asList(line.split(" ")))
                .filter((key, word) -> !word.isEmpty())
                .groupBy((key, word) -> word, Grouped.with("by-word", Serdes.String(), Serdes.String()))
                .count(Materialized.<String, Long, KeyValueStore<Bytes, byte[]>>as("counts")
                        .withKeySerde(Serdes.String()).withValueSerde(Serdes.Long()))
                .toStream()
                .to(app + "-output", Produced.with(Serdes.String(), Serdes.Long()));

        KafkaStreams streams = new KafkaStreams(builder.build(), p);
        CountDownLatch dead = new CountDownLatch(1);
        streams.setStateListener((state, old) -> {
            System.out.println("STATE " + state);
            if (state == KafkaStreams.State.ERROR || state == KafkaStreams.State.NOT_RUNNING) {
                dead.countDown();
            }
        });
        streams.setUncaughtExceptionHandler(e -> {
            System.out.println("UNCAUGHT " + e);
            e.printStackTrace(System.out);
            return StreamThreadExceptionResponse.SHUTDOWN_CLIENT;
        });
        streams.start();
        // Runs until killed; a failure ends the process with a non-zero code for the test to report.
        dead.await();
        System.exit(1);
    }
}
