package sluice.compat;

import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.Callable;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.function.Predicate;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.KafkaFuture;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

/**
 * Client factories and bounded waits shared by the tests.
 *
 * <p>Clients keep Kafka's defaults except for timeouts, which are shortened so a broken broker fails a test in
 * seconds instead of minutes. Nothing here sleeps for a fixed time: waits poll a condition inside a deadline.
 */
public final class Kafka {
    /** Upper bound of one admin call or of one "wait until" in the tests. */
    public static final Duration TIMEOUT = Duration.ofSeconds(30);

    private Kafka() {
    }

    public static Admin admin(String bootstrap) {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        return Admin.create(p);
    }

    /** A producer with Kafka's defaults (idempotent, acks=all) plus {@code extra}. */
    public static KafkaProducer<String, String> producer(String bootstrap, Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, 30_000);
        p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, 30_000);
        p.putAll(extra);
        return new KafkaProducer<>(p, new StringSerializer(), new StringSerializer());
    }

    /** A consumer; with a {@code groupId} it joins that group (offsets committed by hand), else it uses assign(). */
    public static KafkaConsumer<String, String> consumer(String bootstrap, String groupId, Map<String, Object> extra) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        if (groupId != null) {
            p.put(ConsumerConfig.GROUP_ID_CONFIG, groupId);
            p.put(ConsumerConfig.SESSION_TIMEOUT_MS_CONFIG, 10_000);
            p.put(ConsumerConfig.HEARTBEAT_INTERVAL_MS_CONFIG, 500);
        }
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, false);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.REQUEST_TIMEOUT_MS_CONFIG, 15_000);
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) TIMEOUT.toMillis());
        p.putAll(extra);
        return new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer());
    }

    public static void createTopic(Admin admin, String name, int partitions, Map<String, String> configs) {
        get(admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs))).all());
    }

    /** Polls until {@code until} holds for everything received so far; fails after {@link #TIMEOUT}. */
    public static <K, V> List<ConsumerRecord<K, V>> pollUntil(KafkaConsumer<K, V> consumer,
            Predicate<List<ConsumerRecord<K, V>>> until, String what) {
        List<ConsumerRecord<K, V>> got = new ArrayList<>();
        Instant deadline = Instant.now().plus(TIMEOUT);
        while (!until.test(got)) {
            if (Instant.now().isAfter(deadline)) {
                fail("timed out after " + TIMEOUT + " waiting for " + what + "; got " + got.size() + " records");
            }
            consumer.poll(Duration.ofMillis(200)).forEach(got::add);
        }
        return got;
    }

    /** Polls until at least {@code n} records arrived. */
    public static <K, V> List<ConsumerRecord<K, V>> pollN(KafkaConsumer<K, V> consumer, int n) {
        return pollUntil(consumer, got -> got.size() >= n, n + " records");
    }

    /** Calls {@code probe} until it returns true (exceptions count as false); fails after {@code timeout}. */
    public static void waitUntil(String what, Duration timeout, Callable<Boolean> probe) {
        Instant deadline = Instant.now().plus(timeout);
        Exception last = null;
        while (true) {
            try {
                if (Boolean.TRUE.equals(probe.call())) {
                    return;
                }
            } catch (Exception e) {
                last = e;
            }
            if (Instant.now().isAfter(deadline)) {
                AssertionError err = new AssertionError("timed out after " + timeout + " waiting for " + what);
                if (last != null) {
                    err.initCause(last);
                }
                throw err;
            }
            try {
                Thread.sleep(100);
            } catch (InterruptedException e) {
                Thread.currentThread().interrupt();
                throw new AssertionError("interrupted", e);
            }
        }
    }

    /** Waits for an admin future within {@link #TIMEOUT}, unwrapping its failure. */
    public static <T> T get(KafkaFuture<T> future) {
        try {
            return future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new AssertionError("admin call failed: " + e.getCause(), e.getCause());
        } catch (TimeoutException e) {
            throw new AssertionError("admin call timed out after " + TIMEOUT, e);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
            throw new AssertionError("interrupted", e);
        }
    }

    /** The cause of a failed admin future (fails the test if the call succeeded). */
    public static Throwable failure(KafkaFuture<?> future) {
        try {
            future.get(TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            return e.getCause();
        } catch (TimeoutException | InterruptedException e) {
            throw new AssertionError("admin call did not complete", e);
        }
        throw new AssertionError("expected the admin call to fail, it succeeded");
    }

    public static String names(Collection<?> items) {
        return String.join(",", items.stream().map(Object::toString).toList());
    }
}
