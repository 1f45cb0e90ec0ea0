package sluice.compat;

import sluice.compat.KafkaTool.Result;

import static org.junit.jupiter.api.Assertions.assertEquals;

import java.util.List;
import java.util.Map;
import java.util.concurrent.Future;
import java.util.ArrayList;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.Metric;
import org.apache.kafka.common.MetricName;
import org.apache.kafka.common.quota.ClientQuotaEntity;
import org.apache.kafka.common.quota.ClientQuotaFilter;
import org.apache.kafka.common.quota.ClientQuotaFilterComponent;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * Client quotas enforced (#17), set as operators set them: {@code kafka-configs --alter --add-config
 * producer_byte_rate=...} for a client id, and for a user and client id. A Java producer over the quota reports a
 * throttle in its {@code produce-throttle-time-max} metric. Only that a throttle was reported is asserted, never how
 * long: that depends on timing.
 */
class QuotasTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("quotas");

    /** 10 KB/s: 150 KB at once is half again the rate over Kafka's 10 s minimum window. */
    private static final int RATE = 10_000;

    @Test
    void aProducerOverItsClientIdQuotaIsThrottled() throws Exception {
        String client = "quota-java-client";
        setQuota(client, "--entity-type", "clients", "--entity-name", client);
        assertThrottled("quota-java-client-topic", client);
    }

    @Test
    void aProducerOverItsUserAndClientIdQuotaIsThrottled() throws Exception {
        // Over PLAINTEXT the user is ANONYMOUS, as in Kafka.
        String client = "quota-java-user-client";
        setQuota(client, "--entity-type", "users", "--entity-name", "ANONYMOUS",
                "--entity-type", "clients", "--entity-name", client);
        assertThrottled("quota-java-user-topic", client);
    }

    /** Sets {@code producer_byte_rate} on the entity and waits until the broker describes it for {@code client}. */
    private static void setQuota(String client, String... entity) {
        List<String> args = new ArrayList<>(List.of("--bootstrap-server", broker.bootstrap()));
        args.addAll(List.of(entity));
        args.addAll(List.of("--alter", "--add-config", "producer_byte_rate=" + RATE));
        Result altered = KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), "org.apache.kafka.tools.ConfigCommand", null, args.toArray(String[]::new));
        assertEquals(0, altered.code(), altered.toString());
        // Kafka's broker applies what its controller committed once the metadata reaches it.
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.waitUntil("the quota to be described", Kafka.TIMEOUT, () -> {
                Map<ClientQuotaEntity, Map<String, Double>> quotas = Kafka.get(admin.describeClientQuotas(
                        ClientQuotaFilter.contains(List.of(
                                ClientQuotaFilterComponent.ofEntity(ClientQuotaEntity.CLIENT_ID, client)))).entities());
                return quotas.values().stream().anyMatch(v -> Double.valueOf(RATE).equals(v.get("producer_byte_rate")));
            });
        }
    }

    private static void assertThrottled(String topic, String client) throws Exception {
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 1, Map.of());
        }
        Map<String, Object> config = Map.of(ProducerConfig.CLIENT_ID_CONFIG, client,
                ProducerConfig.LINGER_MS_CONFIG, 5);
        try (KafkaProducer<String, String> producer = Kafka.producer(broker.bootstrap(), config)) {
            String value = "q".repeat(1000);
            List<Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < 150; i++) {
                sent.add(producer.send(new ProducerRecord<>(topic, Integer.toString(i), value)));
            }
            for (Future<RecordMetadata> f : sent) {
                f.get();
            }
            Kafka.waitUntil("produce-throttle-time-max > 0", Kafka.TIMEOUT, () -> throttleMax(producer) > 0);
        }
    }

    private static double throttleMax(KafkaProducer<String, String> producer) {
        for (Map.Entry<MetricName, ? extends Metric> m : producer.metrics().entrySet()) {
            if (m.getKey().name().equals("produce-throttle-time-max") && m.getKey().group().equals("producer-metrics")) {
                Object v = m.getValue().metricValue();
                if (v instanceof Double d && !d.isNaN()) {
                    return d;
                }
            }
        }
        return 0;
    }
}
