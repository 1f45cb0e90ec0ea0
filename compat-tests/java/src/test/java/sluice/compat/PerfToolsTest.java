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
import java.util.regex.Matcher;
import java.util.regex.Pattern;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.common.TopicPartition;
import org.junit.jupiter.api.MethodOrderer;
import org.junit.jupiter.api.Order;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.TestMethodOrder;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Kafka's own performance tools, run as users run them ({@code bin/kafka-producer-perf-test.sh} and
 * {@code bin/kafka-consumer-perf-test.sh} are {@code java -cp <the tools' classpath> <main class> args}): a separate
 * JVM with the classpath in {@code target/kafka-tools.classpath} (see pom.xml), as in {@link CommandLineToolsTest}.
 *
 * <p>{@code ProducerPerformance} sends {@value #RECORDS} records of {@value #RECORD_SIZE} bytes with acks=all and no
 * throttle; {@code ConsumerPerformance} reads them back in a consumer group. Each must exit 0, account for every
 * record, and print its summary in the format scripts parse (the two lines below). Nothing here asserts a speed: the
 * counts are small so the class takes seconds. The measurements, with larger counts, against Sluice and Apache Kafka,
 * come from {@code compat-tests/kafka/perf-tools.sh} and are in BENCHMARKS.md.
 *
 * <pre>
 * 200000 records sent, 96478.5 records/sec (9.20 MB/sec), 759.39 ms avg latency, 929.00 ms max latency, 858 ms 50th, 917 ms 95th, 926 ms 99th, 929 ms 99.9th.
 * start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec, rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec
 * 2026-11-25 04:36:46:360, 2026-11-25 04:36:47:178, 19.0735, 23.3172, 200000, 244498.7775, 447, 371, 51.4110, 539083.5580
 * </pre>
 */
@TestMethodOrder(MethodOrderer.OrderAnnotation.class)
class PerfToolsTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("perf-tools");

    private static final String TOPIC = "perf-tools-topic";
    private static final int PARTITIONS = 2;
    private static final int RECORDS = 200_000;
    private static final int RECORD_SIZE = 100;

    /** ProducerPerformance's last line: the whole run. (Progress lines every reporting interval lack percentiles.) */
    static final Pattern PRODUCER_SUMMARY = Pattern.compile("^(\\d+) records sent, ([\\d.]+) records/sec "
            + "\\(([\\d.]+) MB/sec\\), ([\\d.]+) ms avg latency, ([\\d.]+) ms max latency, (\\d+) ms 50th, "
            + "(\\d+) ms 95th, (\\d+) ms 99th, (\\d+) ms 99\\.9th\\.$");

    /** ConsumerPerformance's header; the line after it holds the values, comma-separated, in this order. */
    static final List<String> CONSUMER_COLUMNS = List.of("start.time", "end.time", "data.consumed.in.MB", "MB.sec",
            "data.consumed.in.nMsg", "nMsg.sec", "rebalance.time.ms", "fetch.time.ms", "fetch.MB.sec",
            "fetch.nMsg.sec");

    /** The numbers of ProducerPerformance's summary line. */
    record ProducerSummary(long records, double recordsPerSec, double mbPerSec, double avgMs, double maxMs,
            long p50Ms, long p95Ms, long p99Ms, long p999Ms) {
        static ProducerSummary parse(String stdout) {
            List<ProducerSummary> found = stdout.lines().map(String::trim).map(PRODUCER_SUMMARY::matcher)
                    .filter(Matcher::matches)
                    .map(m -> new ProducerSummary(Long.parseLong(m.group(1)), Double.parseDouble(m.group(2)),
                            Double.parseDouble(m.group(3)), Double.parseDouble(m.group(4)),
                            Double.parseDouble(m.group(5)), Long.parseLong(m.group(6)), Long.parseLong(m.group(7)),
                            Long.parseLong(m.group(8)), Long.parseLong(m.group(9))))
                    .toList();
            assertEquals(1, found.size(), "exactly one summary line in:\n" + stdout);
            return found.get(0);
        }
    }

    /** ConsumerPerformance's values line, by column name. */
    record ConsumerSummary(double mb, double mbPerSec, long records, double recordsPerSec, long rebalanceMs,
            long fetchMs) {
        static ConsumerSummary parse(String stdout) {
            List<String> lines = stdout.lines().map(String::trim).filter(l -> !l.isEmpty()).toList();
            int header = lines.indexOf(String.join(", ", CONSUMER_COLUMNS));
            assertTrue(header >= 0 && header + 1 < lines.size(), "a header line and a values line in:\n" + stdout);
            String[] values = lines.get(header + 1).split(",\\s*");
            assertEquals(CONSUMER_COLUMNS.size(), values.length, "one value per column: " + Arrays.toString(values));
            java.util.function.Function<String, String> col = name -> values[CONSUMER_COLUMNS.indexOf(name)];
            return new ConsumerSummary(Double.parseDouble(col.apply("data.consumed.in.MB")),
                    Double.parseDouble(col.apply("MB.sec")), Long.parseLong(col.apply("data.consumed.in.nMsg")),
                    Double.parseDouble(col.apply("nMsg.sec")), Long.parseLong(col.apply("rebalance.time.ms")),
                    Long.parseLong(col.apply("fetch.time.ms")));
        }
    }

    @Test
    @Order(1)
    void producerPerformanceWithAcksAll() {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, TOPIC, PARTITIONS, Map.of());
        }
        Result run = tool("org.apache.kafka.tools.ProducerPerformance", "--bootstrap-server", broker.bootstrap(),
                "--topic", TOPIC, "--num-records", Integer.toString(RECORDS), "--record-size",
                Integer.toString(RECORD_SIZE), "--throughput", "-1", "--command-property", "acks=all");
        assertEquals(0, run.code(), run.toString());

        // A failed send is printed (a stack trace) and left out of the count; the exit code stays 0.
        ProducerSummary s = ProducerSummary.parse(run.out());
        assertEquals(RECORDS, s.records(), run.toString());
        assertTrue(s.recordsPerSec() > 0 && s.mbPerSec() > 0, run.toString());
        assertEquals(s.recordsPerSec() * RECORD_SIZE / (1024 * 1024), s.mbPerSec(), 0.01, "MB/sec is records/sec x "
                + RECORD_SIZE + " B in MiB: " + run);
        assertTrue(s.avgMs() <= s.maxMs() && s.p50Ms() <= s.p95Ms() && s.p95Ms() <= s.p99Ms()
                && s.p99Ms() <= s.p999Ms() && s.p999Ms() <= Math.ceil(s.maxMs()), "ordered latencies: " + s);

        // Every acknowledged record is in the log.
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            long end = 0;
            for (int p = 0; p < PARTITIONS; p++) {
                TopicPartition tp = new TopicPartition(TOPIC, p);
                end += Kafka.get(admin.listOffsets(Map.of(tp, OffsetSpec.latest())).all()).get(tp).offset();
            }
            assertEquals(RECORDS, end, "log end offsets add up to the records sent");
        }
    }

    @Test
    @Order(2)
    void consumerPerformanceReadsThemBack() {
        Result run = tool("org.apache.kafka.tools.ConsumerPerformance", "--bootstrap-server", broker.bootstrap(),
                "--topic", TOPIC, "--num-records", Integer.toString(RECORDS), "--group", "perf-tools-group",
                "--timeout", "30000");
        assertEquals(0, run.code(), run.toString());

        // Short of the count after --timeout without records, it warns ("Exiting before consuming the expected
        // number of records") and still exits 0: the count is what tells.
        ConsumerSummary s = ConsumerSummary.parse(run.out());
        assertEquals(RECORDS, s.records(), run.toString());
        // Key and value bytes: no keys, so exactly the values.
        assertEquals((double) RECORDS * RECORD_SIZE / (1024 * 1024), s.mb(), 0.001, run.toString());
        assertTrue(s.recordsPerSec() > 0 && s.mbPerSec() > 0, run.toString());
        assertTrue(s.rebalanceMs() >= 0 && s.fetchMs() > 0, run.toString());
    }

    /** Runs {@code java -cp CLASSPATH mainClass args} and waits for it, as bin/kafka-*-perf-test.sh would. */
    static Result tool(String mainClass, String... args) {
        // kafka-producer-perf-test.sh's heap; the JIT as the scripts leave it (numbers are not asserted, but the
        // tools should run as they are run).
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx512m"), mainClass, null, args);
    }
}
