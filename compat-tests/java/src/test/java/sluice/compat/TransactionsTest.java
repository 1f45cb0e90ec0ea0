package sluice.compat;

import sluice.compat.KafkaTool.Result;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;
import static org.junit.jupiter.api.Assertions.fail;

import java.time.Duration;
import java.time.Instant;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalLong;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import java.util.stream.IntStream;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.InvalidProducerEpochException;
import org.apache.kafka.common.errors.InvalidTxnStateException;
import org.apache.kafka.common.errors.ProducerFencedException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Transactions as the Java client uses them (KIP-98, KIP-447, KIP-890): a transactional KafkaProducer read by
 * read_committed and read_uncommitted consumers, a consume-transform-produce loop committing its group's offsets
 * through the transaction, a zombie fenced by a second producer of its transactional id, the last stable offset
 * as the end of a read_committed consumer, a transaction aborted by the broker past its timeout, and
 * {@code kafka-transactions.sh} (list, describe, describe-producers,
 * abort) on an open transaction.
 *
 * <p>Each test has its own topics and transactional ids, so any one runs alone and in any order.
 */
class TransactionsTest {
    /** Transactions past their timeout are looked for every 200 ms (Kafka's default: every 10 s). */
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("transactions",
            Map.of("transaction_abort_timed_out_transaction_cleanup_interval_ms", 200));

    @Test
    void committedTransactionIsSeenOnceByReadCommitted() throws Exception {
        String topic = "txn-commit";
        createTopic(topic, 2);
        List<String> values = IntStream.range(0, 20).mapToObj(i -> "committed-" + i).toList();
        try (KafkaProducer<String, String> producer = transactional("txn-commit-id")) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < values.size(); i++) {
                producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, values.get(i)));
            }
            producer.commitTransaction();
        }
        List<ConsumerRecord<String, String>> got = readToEnd(topic, 2, IsolationLevel.READ_COMMITTED);
        assertEquals(sorted(values), sorted(valuesOf(got)), "read_committed sees every committed record once");
        assertEquals(2, got.stream().map(ConsumerRecord::partition).distinct().count(), "both partitions");
        assertEquals(sorted(values), sorted(valuesOf(readToEnd(topic, 2, IsolationLevel.READ_UNCOMMITTED))),
                "read_uncommitted sees the same");
    }

    @Test
    void abortedTransactionIsHiddenFromReadCommittedOnly() throws Exception {
        String topic = "txn-abort";
        createTopic(topic, 2);
        try (KafkaProducer<String, String> producer = transactional("txn-abort-id")) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "aborted-" + i));
            }
            producer.flush();
            producer.abortTransaction();
            // A committed transaction after the aborted one: read_committed must skip the aborted records in
            // the middle of the log, not just stop before them.
            producer.beginTransaction();
            for (int i = 0; i < 10; i++) {
                producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "committed-" + i));
            }
            producer.commitTransaction();
        }
        List<String> committed = readToEnd(topic, 2, IsolationLevel.READ_COMMITTED).stream()
                .map(ConsumerRecord::value).toList();
        assertEquals(10, committed.size(), "read_committed: " + committed);
        assertTrue(committed.stream().allMatch(v -> v.startsWith("committed-")), "read_committed: " + committed);
        List<String> uncommitted = valuesOf(readToEnd(topic, 2, IsolationLevel.READ_UNCOMMITTED));
        assertEquals(20, uncommitted.size(), "read_uncommitted: " + uncommitted);
        assertEquals(10, uncommitted.stream().filter(v -> v.startsWith("aborted-")).count(),
                "read_uncommitted sees the aborted records: " + uncommitted);
    }

    /**
     * Consume-transform-produce (KIP-447): the group's offsets go through the transaction with
     * sendOffsetsToTransaction(offsets, consumer.groupMetadata()), so they move only when it commits.
     */
    @Test
    void sendOffsetsToTransactionCommitsTheGroupsOffsetsOnlyOnCommit() throws Exception {
        String in = "txn-ctp-in";
        String out = "txn-ctp-out";
        String group = "txn-ctp-group";
        createTopic(in, 2);
        createTopic(out, 2);
        List<TopicPartition> inputs = List.of(new TopicPartition(in, 0), new TopicPartition(in, 1));
        try (KafkaProducer<String, String> plain = Kafka.producer(broker.bootstrap(), Map.of());
                KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), group,
                        Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"));
                KafkaProducer<String, String> producer = transactional("txn-ctp-id")) {
            producer.initTransactions();
            consumer.subscribe(List.of(in));

            // Round 1, committed: the group's offsets move to the end of what was consumed.
            produceInput(plain, in, 0, 4);
            List<ConsumerRecord<String, String>> first = Kafka.pollN(consumer, 4);
            transform(producer, consumer, out, first);
            producer.commitTransaction();
            Map<TopicPartition, Long> afterFirst = Map.of(inputs.get(0), 2L, inputs.get(1), 2L);
            assertEquals(afterFirst, awaitGroupOffsets(group, afterFirst), "offsets after the first commit");

            // Round 2, aborted: the offsets stay where round 1 left them.
            produceInput(plain, in, 4, 8);
            List<ConsumerRecord<String, String>> second = Kafka.pollN(consumer, 4);
            transform(producer, consumer, out, second);
            // Written before the abort (abortTransaction drops what is still unsent), for read_committed to skip.
            producer.flush();
            producer.abortTransaction();
            // requireStable: the answer waits for the transaction's outcome instead of racing its markers.
            assertEquals(afterFirst, groupOffsets(group), "offsets after the abort are those of the first commit");

            // Round 2 again, from the committed offsets, as an application does after an abort.
            for (TopicPartition tp : inputs) {
                consumer.seek(tp, afterFirst.get(tp));
            }
            List<ConsumerRecord<String, String>> again = Kafka.pollN(consumer, 4);
            assertEquals(sorted(valuesOf(second)), sorted(valuesOf(again)), "the aborted round consumed again");
            transform(producer, consumer, out, again);
            producer.commitTransaction();
            Map<TopicPartition, Long> afterSecond = Map.of(inputs.get(0), 4L, inputs.get(1), 4L);
            assertEquals(afterSecond, awaitGroupOffsets(group, afterSecond), "offsets after the second commit");
        }
        List<String> expected = IntStream.range(0, 8).mapToObj(i -> "INPUT-" + i).toList();
        assertEquals(expected, sorted(valuesOf(readToEnd(out, 2, IsolationLevel.READ_COMMITTED))),
                "read_committed output: every input transformed exactly once");
        assertEquals(12, readToEnd(out, 2, IsolationLevel.READ_UNCOMMITTED).size(),
                "read_uncommitted output: the aborted round too");
    }

    /**
     * A second producer of the same transactional id (initTransactions) bumps the epoch and aborts the first
     * one's open transaction. The first, a zombie now, is fenced: a send gets INVALID_PRODUCER_EPOCH from the
     * partition (InvalidProducerEpochException, which its commit then reports too) and EndTxn gets PRODUCER_FENCED
     * from the coordinator (ProducerFencedException), whether it tries to commit or to abort.
     */
    @Test
    void secondProducerOfTheTransactionalIdFencesTheFirst() throws Exception {
        String topic = "txn-fence";
        createTopic(topic, 1);
        // The zombie sends again after it was fenced, then tries to commit, then to abort.
        try (KafkaProducer<String, String> zombie = transactional("txn-fence-send")) {
            zombie.initTransactions();
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, 0, "k", "zombie-1")).get();
            try (KafkaProducer<String, String> successor = transactional("txn-fence-send")) {
                successor.initTransactions();

                ExecutionException sent = assertThrows(ExecutionException.class,
                        () -> zombie.send(new ProducerRecord<>(topic, 0, "k", "zombie-2")).get(),
                        "the zombie's send after it was fenced");
                assertTrue(sent.getCause() instanceof InvalidProducerEpochException,
                        "the zombie's send fails with InvalidProducerEpochException, got " + sent.getCause());
                assertThrows(InvalidProducerEpochException.class, zombie::commitTransaction,
                        "the zombie's commit reports its failed send");
                assertThrows(ProducerFencedException.class, zombie::abortTransaction, "the zombie's abort");

                successor.beginTransaction();
                successor.send(new ProducerRecord<>(topic, 0, "k", "successor-1")).get();
                successor.commitTransaction();
            }
        }
        // The zombie tries to commit what it sent before it was fenced.
        try (KafkaProducer<String, String> zombie = transactional("txn-fence-commit")) {
            zombie.initTransactions();
            zombie.beginTransaction();
            zombie.send(new ProducerRecord<>(topic, 0, "k", "zombie-3")).get();
            try (KafkaProducer<String, String> successor = transactional("txn-fence-commit")) {
                successor.initTransactions();
                assertThrows(ProducerFencedException.class, zombie::commitTransaction, "the zombie's commit");

                successor.beginTransaction();
                successor.send(new ProducerRecord<>(topic, 0, "k", "successor-2")).get();
                successor.commitTransaction();
            }
        }
        assertEquals(List.of("successor-1", "successor-2"),
                valuesOf(readToEnd(topic, 1, IsolationLevel.READ_COMMITTED)),
                "read_committed sees only the successors' transactions");
        assertEquals(List.of("zombie-1", "successor-1", "zombie-3", "successor-2"),
                valuesOf(readToEnd(topic, 1, IsolationLevel.READ_UNCOMMITTED)),
                "read_uncommitted sees the zombies' aborted records too, not the send that was refused");
    }

    /**
     * The end of a read_committed consumer is the last stable offset: it stops at the first record of the open
     * transaction (consumer.endOffsets, ListOffsets with READ_COMMITTED, the consumer's lag) and moves past the
     * transaction's marker once it commits. read_uncommitted ends at the high watermark all along.
     */
    @Test
    void readCommittedEndOffsetStopsAtTheOpenTransaction() throws Exception {
        String topic = "txn-lso";
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(topic, 1);
        try (KafkaProducer<String, String> producer = transactional("txn-lso-id");
                // One record per poll, for its lag to be seen in the middle of a fetched transaction.
                KafkaConsumer<String, String> committed = Kafka.consumer(broker.bootstrap(), null,
                        Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed",
                                ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 1));
                KafkaConsumer<String, String> uncommitted = Kafka.consumer(broker.bootstrap(), null,
                        Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_uncommitted"))) {
            producer.initTransactions();
            producer.beginTransaction();
            for (int i = 0; i < 3; i++) {
                producer.send(new ProducerRecord<>(topic, 0, "k", "first-" + i));
            }
            producer.commitTransaction();

            producer.beginTransaction();
            List<RecordMetadata> open = new ArrayList<>();
            for (int i = 0; i < 5; i++) {
                open.add(producer.send(new ProducerRecord<>(topic, 0, "k", "open-" + i)).get());
            }
            long lso = open.get(0).offset();
            long highWatermark = open.get(4).offset() + 1;

            assertEquals(lso, endOffset(committed, tp), "read_committed endOffsets: the open transaction's start");
            assertEquals(lso, listOffset(tp, IsolationLevel.READ_COMMITTED), "ListOffsets(latest, READ_COMMITTED)");
            assertEquals(highWatermark, endOffset(uncommitted, tp), "read_uncommitted endOffsets");
            assertEquals(highWatermark, listOffset(tp, IsolationLevel.READ_UNCOMMITTED),
                    "ListOffsets(latest, READ_UNCOMMITTED)");

            // The read_committed consumer reads the first transaction and its marker, and is then caught up: lag 0.
            committed.assign(List.of(tp));
            committed.seekToBeginning(List.of(tp));
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            pollUntilPosition(committed, tp, lso, got);
            assertEquals(List.of("first-0", "first-1", "first-2"), valuesOf(got), "read_committed before commit");
            assertEquals(0, endOffset(committed, tp) - committed.position(tp), "read_committed lag while open");
            // The consumer's own lag (its records-lag metric) is Fetch's last stable offset minus its position.
            assertEquals(OptionalLong.of(0), committed.currentLag(tp), "read_committed currentLag while open");

            producer.commitTransaction();
            // The commit marker follows the last record of the transaction (written once EndTxn completes).
            long end = highWatermark + 1;
            Kafka.waitUntil("read_committed endOffsets to move past the commit marker", Kafka.TIMEOUT,
                    () -> endOffset(committed, tp) == end);
            assertEquals(end, listOffset(tp, IsolationLevel.READ_COMMITTED), "ListOffsets(READ_COMMITTED) after commit");
            assertEquals(end - lso, endOffset(committed, tp) - committed.position(tp),
                    "read_committed lag after commit: the committed transaction and its marker");
            // The Fetch response that brings the committed records has the new LSO: one record polled, the
            // other four and the marker are the lag.
            pollUntilPosition(committed, tp, lso + 1, got);
            assertEquals(OptionalLong.of(end - lso - 1), committed.currentLag(tp),
                    "read_committed currentLag after one record of the committed transaction");
            pollUntilPosition(committed, tp, end, got);
            assertEquals(8, got.size(), "read_committed after commit: " + valuesOf(got));
        }
    }

    /**
     * A transaction open past its transaction.timeout.ms is aborted by the coordinator (which bumps the epoch):
     * read_committed moves past it without anyone ending it, and the producer's late commit is refused.
     */
    @Test
    void transactionPastItsTimeoutIsAbortedByTheBroker() throws Exception {
        String topic = "txn-timeout";
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(topic, 1);
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(),
                Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "txn-timeout-id",
                        ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 1_000));
                KafkaConsumer<String, String> committed = Kafka.consumer(broker.bootstrap(), null,
                        Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            producer.initTransactions();
            producer.beginTransaction();
            long last = 0;
            for (int i = 0; i < 3; i++) {
                last = producer.send(new ProducerRecord<>(topic, 0, "k", "timed-out-" + i)).get().offset();
            }
            long end = last + 1;
            Kafka.waitUntil("the broker to abort the transaction past its timeout", Kafka.TIMEOUT,
                    () -> endOffset(committed, tp) > end);
            // Kafka 4.4 (transaction.version 2) answers the late EndTxn, one epoch behind, with INVALID_TXN_STATE.
            assertThrows(InvalidTxnStateException.class, producer::commitTransaction, "the commit after the abort");
        }
        assertEquals(List.of(), valuesOf(readToEnd(topic, 1, IsolationLevel.READ_COMMITTED)),
                "read_committed after the abort");
        assertEquals(3, readToEnd(topic, 1, IsolationLevel.READ_UNCOMMITTED).size(), "read_uncommitted");
    }

    /**
     * {@code kafka-transactions.sh} on an open transaction: {@code list} shows its id as Ongoing, {@code describe}
     * its producer id, epoch, state and partitions, {@code describe-producers} the producer with the offset its
     * transaction started at, and {@code abort --start-offset} aborts it from outside (as for a hanging
     * transaction), which moves the read_committed end past it; {@code list --transactional-id-pattern} lists only
     * the ids the pattern matches.
     */
    @Test
    void kafkaTransactionsListDescribeAndAbort() throws Exception {
        String topic = "txn-cli";
        String id = "txn-cli-id";
        TopicPartition tp = new TopicPartition(topic, 0);
        createTopic(topic, 1);
        try (KafkaProducer<String, String> producer = transactional(id);
                KafkaConsumer<String, String> committed = Kafka.consumer(broker.bootstrap(), null,
                        Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed"))) {
            producer.initTransactions();
            producer.beginTransaction();
            producer.send(new ProducerRecord<>(topic, 0, "k", "committed")).get();
            producer.commitTransaction();
            producer.beginTransaction();
            long start = producer.send(new ProducerRecord<>(topic, 0, "k", "hanging-0")).get().offset();
            long last = producer.send(new ProducerRecord<>(topic, 0, "k", "hanging-1")).get().offset();

            Result list = transactionsTool("list");
            assertEquals(0, list.code(), list.toString());
            String[] listed = row(list, id, "list");
            // TransactionalId Coordinator ProducerId TransactionState
            String producerId = listed[2];
            assertEquals("Ongoing", listed[3], "list: state\n" + list);

            Result describe = transactionsTool("describe", "--transactional-id", id);
            assertEquals(0, describe.code(), describe.toString());
            // CoordinatorId TransactionalId ProducerId ProducerEpoch TransactionState TransactionTimeoutMs
            // CurrentTransactionStartTimeMs TransactionDurationMs TopicPartitions
            String[] described = row(describe, id, "describe");
            assertEquals(producerId, described[2], "describe: producer id\n" + describe);
            assertTrue(Integer.parseInt(described[3]) >= 0, "describe: producer epoch\n" + describe);
            assertEquals("Ongoing", described[4], "describe: state\n" + describe);
            assertEquals(topic + "-0", described[described.length - 1], "describe: partitions\n" + describe);

            Result producers = transactionsTool("describe-producers", "--topic", topic, "--partition", "0");
            assertEquals(0, producers.code(), producers.toString());
            // ProducerId ProducerEpoch LatestCoordinatorEpoch LastSequence LastTimestamp CurrentTransactionStartOffset
            String[] producerRow = row(producers, producerId, "describe-producers");
            assertEquals(Long.toString(start), producerRow[producerRow.length - 1],
                    "describe-producers: current transaction start offset\n" + producers);

            assertEquals(start, endOffset(committed, tp), "read_committed end at the open transaction");
            Result abort = transactionsTool("abort", "--topic", topic, "--partition", "0",
                    "--start-offset", Long.toString(start));
            assertEquals(0, abort.code(), abort.toString());
            Kafka.waitUntil("the aborted transaction to release the last stable offset", Kafka.TIMEOUT,
                    () -> endOffset(committed, tp) > last);
            assertEquals(List.of("committed"), valuesOf(readToEnd(topic, 1, IsolationLevel.READ_COMMITTED)),
                    "read_committed after the abort");

            // ListTransactions v2 filters by a regular expression over the whole id (KIP-1152).
            Result filtered = transactionsTool("list", "--transactional-id-pattern", "txn-cl.-i.");
            assertEquals(0, filtered.code(), filtered.toString());
            assertEquals(List.of("TransactionalId", id), filtered.out().lines().map(String::trim)
                    .filter(l -> !l.isEmpty()).map(l -> l.split("\\s+")[0]).toList(),
                    "list --transactional-id-pattern: the one id it matches\n" + filtered);
        }
    }

    // ---- helpers --------------------------------------------------------------------------------------------

    private static void createTopic(String topic, int partitions) {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, partitions, Map.of());
        }
    }

    private static KafkaProducer<String, String> transactional(String id) {
        return Kafka.producer(broker.bootstrap(), Map.of(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id,
                ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, 60_000));
    }

    /** {@code INPUT-from} .. {@code INPUT-(to-1)} to {@code topic}, alternating between partitions 0 and 1. */
    private static void produceInput(KafkaProducer<String, String> producer, String topic, int from, int to)
            throws Exception {
        for (int i = from; i < to; i++) {
            producer.send(new ProducerRecord<>(topic, i % 2, "k" + i, "input-" + i)).get();
        }
    }

    /** One transaction: each record upper-cased to {@code out}, and the consumer's positions as its offsets. */
    private static void transform(KafkaProducer<String, String> producer, KafkaConsumer<String, String> consumer,
            String out, List<ConsumerRecord<String, String>> records) {
        producer.beginTransaction();
        for (ConsumerRecord<String, String> r : records) {
            producer.send(new ProducerRecord<>(out, r.partition(), r.key(), r.value().toUpperCase()));
        }
        Map<TopicPartition, OffsetAndMetadata> offsets = new HashMap<>();
        for (TopicPartition tp : consumer.assignment()) {
            offsets.put(tp, new OffsetAndMetadata(consumer.position(tp)));
        }
        producer.sendOffsetsToTransaction(offsets, consumer.groupMetadata());
    }

    /** The group's committed offsets, once no transaction has offsets pending for it (requireStable). */
    private static Map<TopicPartition, Long> groupOffsets(String group) {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Map<TopicPartition, OffsetAndMetadata> offsets = Kafka.get(admin.listConsumerGroupOffsets(group,
                    new ListConsumerGroupOffsetsOptions().requireStable(true)).partitionsToOffsetAndMetadata());
            return offsets.entrySet().stream().filter(e -> e.getValue() != null)
                    .collect(Collectors.toMap(Map.Entry::getKey, e -> e.getValue().offset()));
        }
    }

    /**
     * The group's committed offsets once they are {@code expected}, or what they were when the wait ran out: a
     * commit's markers reach __consumer_offsets after EndTxn has returned.
     */
    private static Map<TopicPartition, Long> awaitGroupOffsets(String group, Map<TopicPartition, Long> expected) {
        Instant deadline = Instant.now().plus(Kafka.TIMEOUT);
        Map<TopicPartition, Long> got = groupOffsets(group);
        while (!got.equals(expected) && Instant.now().isBefore(deadline)) {
            got = groupOffsets(group);
        }
        return got;
    }

    private static long endOffset(KafkaConsumer<String, String> consumer, TopicPartition tp) {
        return consumer.endOffsets(List.of(tp)).get(tp);
    }

    private static long listOffset(TopicPartition tp, IsolationLevel isolation) {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            return Kafka.get(admin.listOffsets(Map.of(tp, OffsetSpec.latest()), new ListOffsetsOptions(isolation))
                    .partitionResult(tp)).offset();
        }
    }

    private static void pollUntilPosition(KafkaConsumer<String, String> consumer, TopicPartition tp, long position,
            List<ConsumerRecord<String, String>> got) {
        Instant deadline = Instant.now().plus(Kafka.TIMEOUT);
        while (consumer.position(tp) < position) {
            if (Instant.now().isAfter(deadline)) {
                fail("position of " + tp + " is " + consumer.position(tp) + " after " + Kafka.TIMEOUT
                        + ", expected " + position + "; got " + valuesOf(got));
            }
            consumer.poll(Duration.ofMillis(100)).forEach(got::add);
        }
    }

    /** Everything from the beginning of {@code topic} to its end for this isolation level (the LSO or the HW). */
    private static List<ConsumerRecord<String, String>> readToEnd(String topic, int partitions,
            IsolationLevel isolation) {
        List<TopicPartition> tps = IntStream.range(0, partitions).mapToObj(p -> new TopicPartition(topic, p)).toList();
        try (KafkaConsumer<String, String> consumer = Kafka.consumer(broker.bootstrap(), null,
                Map.of(ConsumerConfig.ISOLATION_LEVEL_CONFIG, isolation.toString()))) {
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = consumer.endOffsets(tps);
            List<ConsumerRecord<String, String>> got = new ArrayList<>();
            for (TopicPartition tp : tps) {
                pollUntilPosition(consumer, tp, ends.get(tp), got);
            }
            return got;
        }
    }

    private static Result transactionsTool(String... args) {
        List<String> all = new ArrayList<>(List.of("--bootstrap-server", broker.bootstrap()));
        all.addAll(List.of(args));
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), "org.apache.kafka.tools.TransactionsCommand", null,
                all.toArray(String[]::new));
    }

    /** The one row of a tool's table that has a column equal to {@code key}, split into its columns. */
    private static String[] row(Result result, String key, String what) {
        List<String[]> rows = result.out().lines().map(String::trim).map(l -> l.split("\\s+"))
                .filter(cols -> List.of(cols).contains(key)).toList();
        assertEquals(1, rows.size(), what + ": one row for " + key + "\n" + result);
        return rows.get(0);
    }

    private static List<String> valuesOf(List<ConsumerRecord<String, String>> records) {
        return records.stream().map(ConsumerRecord::value).toList();
    }

    private static List<String> sorted(List<String> values) {
        return values.stream().sorted().toList();
    }
}
