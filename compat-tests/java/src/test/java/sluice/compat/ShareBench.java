package sluice.compat;

import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * The share-group throughput case of {@code sluice-bench} (compat-tests/src/bench/share.rs): librdkafka has no share
 * consumer, so the bench runs Kafka's own {@link KafkaShareConsumer} in this JVM.
 *
 * <p>{@code ShareBench BOOTSTRAP TOPIC GROUP CONSUMERS RECORDS TIMEOUT_S}: sets {@code share.auto.offset.reset=earliest}
 * on the group, starts CONSUMERS share consumers on their own threads (implicit acknowledgement: each poll's records
 * are accepted by the commitSync that follows it), and counts acknowledged records until RECORDS were. It prints one
 * line, {@code SHAREBENCH acked=N seconds=S first_record_s=F consumers_with_records=C}, where S runs from the first
 * record delivered to the last acknowledgement (the group's formation is not timed; F is how long it took), then
 * exits 0; exit 1 with a message on stderr on an error or after TIMEOUT_S.
 */
public final class ShareBench {
    private ShareBench() {
    }

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        int consumers = Integer.parseInt(args[3]);
        long records = Long.parseLong(args[4]);
        long timeoutNanos = Duration.ofSeconds(Long.parseLong(args[5])).toNanos();

        Properties ap = new Properties();
        ap.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(ap)) {
            admin.incrementalAlterConfigs(Map.of(new ConfigResource(ConfigResource.Type.GROUP, group), List.of(
                    new AlterConfigOp(new ConfigEntry("share.auto.offset.reset", "earliest"),
                            AlterConfigOp.OpType.SET)))).all().get();
        }

        AtomicLong acked = new AtomicLong();
        AtomicLong firstRecordNanos = new AtomicLong();
        AtomicLong lastAckNanos = new AtomicLong();
        AtomicLong withRecords = new AtomicLong();
        AtomicBoolean stop = new AtomicBoolean();
        AtomicReference<Throwable> failure = new AtomicReference<>();
        long start = System.nanoTime();
        List<Thread> threads = new ArrayList<>();
        for (int i = 0; i < consumers; i++) {
            Properties p = new Properties();
            p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
            p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
            p.put(ConsumerConfig.CLIENT_ID_CONFIG, "sluice-bench-share-" + i);
            Thread t = new Thread(() -> {
                boolean got = false;
                try (KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(p, new ByteArrayDeserializer(),
                        new ByteArrayDeserializer())) {
                    c.subscribe(List.of(topic));
                    while (!stop.get()) {
                        ConsumerRecords<byte[], byte[]> polled = c.poll(Duration.ofMillis(100));
                        if (polled.isEmpty()) {
                            continue;
                        }
                        firstRecordNanos.compareAndSet(0, System.nanoTime());
                        if (!got) {
                            got = true;
                            withRecords.incrementAndGet();
                        }
                        c.commitSync();
                        if (acked.addAndGet(polled.count()) >= records) {
                            lastAckNanos.compareAndSet(0, System.nanoTime());
                            stop.set(true);
                        }
                    }
                } catch (Throwable e) {
                    failure.compareAndSet(null, e);
                    stop.set(true);
                }
            }, "share-consumer-" + i);
            t.start();
            threads.add(t);
        }
        while (!stop.get() && System.nanoTime() - start < timeoutNanos) {
            Thread.sleep(20);
        }
        stop.set(true);
        for (Thread t : threads) {
            t.join(30_000);
        }
        if (failure.get() != null) {
            System.err.println("ShareBench: a consumer failed: " + failure.get());
            System.exit(1);
        }
        if (lastAckNanos.get() == 0) {
            System.err.println("ShareBench: " + acked.get() + " of " + records + " records acknowledged within "
                    + args[5] + " s");
            System.exit(1);
        }
        double seconds = (lastAckNanos.get() - firstRecordNanos.get()) / 1e9;
        double first = (firstRecordNanos.get() - start) / 1e9;
        System.out.println("SHAREBENCH acked=" + acked.get() + " seconds=" + seconds + " first_record_s=" + first
                + " consumers_with_records=" + withRecords.get());
        System.exit(0);
    }
}
