package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashSet;
import java.util.List;
import java.util.Map;
import java.util.Set;
import java.util.function.BooleanSupplier;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.CooperativeStickyAssignor;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.RebalanceInProgressException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Two Java consumers share a group with the cooperative-sticky assignor (incremental rebalances): they split the
 * partitions, and when one leaves the other takes over its partitions from the committed offsets.
 */
class ConsumerGroupRebalanceTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("group-rebalance");

    private static final String TOPIC = "java-rebalance";
    private static final String GROUP = "java-rebalance-group";
    private static final int PARTITIONS = 4;

    @Test
    void twoMembersSplitThePartitionsAndOneTakesOverWhenTheOtherLeaves() throws Exception {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, TOPIC, PARTITIONS, Map.of());
            produce(0, 40);
            Map<String, Object> config = Map.of(
                    ConsumerConfig.PARTITION_ASSIGNMENT_STRATEGY_CONFIG, CooperativeStickyAssignor.class.getName(),
                    ConsumerConfig.MAX_POLL_RECORDS_CONFIG, 5);
            Set<String> seen = new HashSet<>();
            KafkaConsumer<String, String> a = Kafka.consumer(broker.bootstrap(), GROUP, config);
            try (KafkaConsumer<String, String> b = Kafka.consumer(broker.bootstrap(), GROUP, config)) {
                a.subscribe(List.of(TOPIC), commitOnRevoke(a));
                b.subscribe(List.of(TOPIC), commitOnRevoke(b));
                // Both poll (and commit) until each owns two partitions and all 40 records were read once.
                pollBoth(a, b, seen, () -> a.assignment().size() == 2 && b.assignment().size() == 2
                        && seen.size() == 40, "two partitions each and all 40 records");
                Set<TopicPartition> union = new HashSet<>(a.assignment());
                union.addAll(b.assignment());
                assertEquals(PARTITIONS, union.size(), "the members' assignments cover the topic: " + union);

                ConsumerGroupDescription group =
                        Kafka.get(admin.describeConsumerGroups(List.of(GROUP)).describedGroups().get(GROUP));
                assertEquals(2, group.members().size());
                assertEquals("cooperative-sticky", group.partitionAssignor());
            }
            // b left the group: a alone owns everything and reads what is produced to any partition.
            try (a) {
                produce(40, 20);
                pollBoth(a, null, seen, () -> a.assignment().size() == PARTITIONS && seen.size() == 60,
                        "all four partitions and the 20 new records");
            }
            assertEquals(60, seen.size());
        }
    }

    /** Polls one or two consumers in turn, committing after each poll, until {@code done}; no record twice. */
    private static void pollBoth(KafkaConsumer<String, String> a, KafkaConsumer<String, String> b, Set<String> seen,
            BooleanSupplier done, String what) {
        long deadline = System.nanoTime() + Kafka.TIMEOUT.toNanos();
        List<KafkaConsumer<String, String>> consumers = new ArrayList<>(List.of(a));
        if (b != null) {
            consumers.add(b);
        }
        while (!done.getAsBoolean()) {
            assertTrue(System.nanoTime() < deadline, "timed out after " + Kafka.TIMEOUT + " waiting for " + what
                    + "; seen " + seen.size() + " records, assignments " + a.assignment()
                    + (b == null ? "" : " / " + b.assignment()));
            for (KafkaConsumer<String, String> c : consumers) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(100))) {
                    assertTrue(seen.add(r.value()), "record read twice: " + r.value() + " at " + r.partition() + "@"
                            + r.offset());
                }
                try {
                    c.commitSync();
                } catch (RebalanceInProgressException e) {
                    // A rebalance started: the next poll() completes it (onPartitionsRevoked commits).
                }
            }
        }
    }

    /** The usual listener: commit what was read from partitions before they are handed to another member. */
    private static ConsumerRebalanceListener commitOnRevoke(KafkaConsumer<String, String> consumer) {
        return new ConsumerRebalanceListener() {
            @Override
            public void onPartitionsRevoked(Collection<TopicPartition> partitions) {
                consumer.commitSync();
            }

            @Override
            public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
            }
        };
    }

    private static void produce(int from, int n) throws Exception {
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), Map.of())) {
            for (int i = from; i < from + n; i++) {
                producer.send(new ProducerRecord<>(TOPIC, i % PARTITIONS, "k" + i, "v" + i));
            }
            producer.flush();
        }
    }
}
