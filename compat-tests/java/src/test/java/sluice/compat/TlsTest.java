package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertNotNull;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.nio.file.Path;
import java.nio.file.Paths;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.concurrent.TimeUnit;
import java.util.stream.Collectors;
import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterOptions;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.Node;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.SslConfigs;
import org.apache.kafka.common.errors.SslAuthenticationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * The Java clients over TLS listeners with PEM stores ({@code ssl.truststore.type=PEM}, {@code ssl.keystore.type=PEM}):
 * the AdminClient, producer and consumer over SSL, and mutual TLS with {@code ssl_client_auth: required}, where a
 * client without a certificate, or with one of an untrusted CA, is refused. Certificates: compat-tests/certs.
 */
class TlsTest {
    static final Path CERTS = Paths.get(System.getProperty("sluice.project.dir", ".")).resolve("../certs")
            .toAbsolutePath().normalize();
    static final String LISTENERS = "PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0";

    @RegisterExtension
    static final SluiceExtension ssl = new SluiceExtension("tls", Map.of(
            "listeners", LISTENERS,
            "ssl_keystore_location", cert("server-keystore.pem")));

    @RegisterExtension
    static final SluiceExtension mtls = new SluiceExtension("mtls", Map.of(
            "listeners", LISTENERS,
            "ssl_keystore_location", cert("server-keystore.pem"),
            "ssl_truststore_location", cert("ca.pem"),
            "ssl_client_auth", "required"));

    static String cert(String name) {
        return CERTS.resolve(name).toString();
    }

    /** Client settings for an SSL listener, trusting the test CA; with {@code keystore}, presenting that certificate. */
    static Map<String, Object> tls(String keystore) {
        Map<String, Object> c = new HashMap<>();
        c.put(CommonClientConfigs.SECURITY_PROTOCOL_CONFIG, "SSL");
        c.put(SslConfigs.SSL_TRUSTSTORE_TYPE_CONFIG, "PEM");
        c.put(SslConfigs.SSL_TRUSTSTORE_LOCATION_CONFIG, cert("ca.pem"));
        if (keystore != null) {
            c.put(SslConfigs.SSL_KEYSTORE_TYPE_CONFIG, "PEM");
            c.put(SslConfigs.SSL_KEYSTORE_LOCATION_CONFIG, cert(keystore));
        }
        return c;
    }

    static Admin admin(String bootstrap, Map<String, Object> tls, int timeoutMs) {
        Map<String, Object> c = new HashMap<>(tls);
        c.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        c.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, timeoutMs);
        c.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, timeoutMs);
        return Admin.create(c);
    }

    /** Creates a topic, produces to it and reads it back, every client over {@code bootstrap} with {@code tls}. */
    static void roundTrip(String bootstrap, Map<String, Object> tls, String topic) throws Exception {
        try (Admin admin = admin(bootstrap, tls, 30_000)) {
            Kafka.createTopic(admin, topic, 2, Map.of());
            // Metadata answers with the SSL listener's address: the client stays on it.
            Node node = Kafka.get(admin.describeCluster(new DescribeClusterOptions()).nodes()).iterator().next();
            assertEquals(bootstrap, node.host() + ":" + node.port());
        }
        try (KafkaProducer<String, String> producer = Kafka.producer(bootstrap, tls)) {
            for (int i = 0; i < 100; i++) {
                producer.send(new ProducerRecord<>(topic, "k" + i, "v" + i)).get(30, TimeUnit.SECONDS);
            }
        }
        try (KafkaConsumer<String, String> consumer = Kafka.consumer(bootstrap, null, tls)) {
            consumer.assign(List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)));
            consumer.seekToBeginning(consumer.assignment());
            List<ConsumerRecord<String, String>> got = Kafka.pollN(consumer, 100);
            Map<String, String> byKey = got.stream().collect(Collectors.toMap(ConsumerRecord::key, ConsumerRecord::value));
            assertEquals(100, byKey.size());
            for (int i = 0; i < 100; i++) {
                assertEquals("v" + i, byKey.get("k" + i));
            }
        }
    }

    /** Fails unless an AdminClient with {@code tls} is refused: its describeCluster fails to authenticate. */
    static void assertRefused(String bootstrap, Map<String, Object> tls, String what) {
        try (Admin admin = admin(bootstrap, tls, 10_000)) {
            Throwable failure = Kafka.failure(admin.describeCluster().clusterId());
            assertTrue(failure instanceof SslAuthenticationException, what + ": " + failure);
        }
    }

    @Test
    void adminProducerConsumerOverSsl() throws Exception {
        roundTrip(ssl.sluice().listener("SSL"), tls(null), "java-tls");
    }

    @Test
    void mutualTlsWithAPemKeystore() throws Exception {
        String bootstrap = mtls.sluice().listener("SSL");
        roundTrip(bootstrap, tls("alice-keystore.pem"), "java-mtls");
        assertRefused(bootstrap, tls(null), "without a client certificate");
        assertRefused(bootstrap, tls("mallory-keystore.pem"), "with an untrusted CA's certificate");
        try (Admin admin = admin(bootstrap, tls("alice-keystore.pem"), 30_000)) {
            assertNotNull(Kafka.get(admin.describeCluster().clusterId()), "alice after the refusals");
        }
    }
}
