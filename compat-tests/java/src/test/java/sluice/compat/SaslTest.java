package sluice.compat;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;

import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.UUID;
import java.util.concurrent.ExecutionException;
import java.util.stream.Collectors;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.ScramCredentialInfo;
import org.apache.kafka.clients.admin.ScramMechanism;
import org.apache.kafka.clients.admin.UserScramCredentialDeletion;
import org.apache.kafka.clients.admin.UserScramCredentialUpsertion;
import org.apache.kafka.clients.admin.UserScramCredentialsDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.ResourceNotFoundException;
import org.apache.kafka.common.errors.SaslAuthenticationException;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.RegisterExtension;

/**
 * SASL with the Java client over a SASL_PLAINTEXT listener: producer and consumer with SCRAM-SHA-512, PLAIN and
 * unsecured OAUTHBEARER (OAuthBearerLoginModule), and SCRAM credentials managed as kafka-configs.sh does
 * (AdminClient alter/describeUserScramCredentials).
 */
class SaslTest {
    @RegisterExtension
    static final SluiceExtension broker = new SluiceExtension("sasl", Map.of(
            "listeners", "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0",
            "sasl_enabled_mechanisms", "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER",
            "sasl_plain_users", Map.of("alice", "alice-secret"),
            "sasl_scram_users", Map.of("scrammer", "scram-secret")));

    private static Map<String, Object> sasl(String mechanism, String jaas) {
        Map<String, Object> p = new HashMap<>();
        p.put("security.protocol", "SASL_PLAINTEXT");
        p.put("sasl.mechanism", mechanism);
        p.put("sasl.jaas.config", jaas);
        return p;
    }

    private static Map<String, Object> scram(String mechanism, String user, String password) {
        return sasl(mechanism, "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
    }

    private static Map<String, Object> plain(String user, String password) {
        return sasl("PLAIN", "org.apache.kafka.common.security.plain.PlainLoginModule required username=\""
                + user + "\" password=\"" + password + "\";");
    }

    private static Map<String, Object> oauth(String subject) {
        return sasl("OAUTHBEARER", "org.apache.kafka.common.security.oauthbearer.OAuthBearerLoginModule required"
                + " unsecuredLoginStringClaim_sub=\"" + subject + "\";");
    }

    private static String newTopic() {
        String topic = "sasl-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.createTopic(admin, topic, 1, Map.of());
        }
        return topic;
    }

    private static void roundTrip(Map<String, Object> settings) throws Exception {
        String topic = newTopic();
        String sasl = broker.sluice().listener("SASL_PLAINTEXT");
        try (KafkaProducer<String, String> p = Kafka.producer(sasl, settings)) {
            for (int i = 0; i < 10; i++) {
                p.send(new ProducerRecord<>(topic, "k" + i, "v" + i)).get();
            }
        }
        try (KafkaConsumer<String, String> c = Kafka.consumer(sasl, null, settings)) {
            c.assign(List.of(new TopicPartition(topic, 0)));
            c.seekToBeginning(List.of(new TopicPartition(topic, 0)));
            List<String> values = Kafka.pollN(c, 10).stream().map(ConsumerRecord::value).collect(Collectors.toList());
            assertEquals(List.of("v0", "v1", "v2", "v3", "v4", "v5", "v6", "v7", "v8", "v9"), values);
        }
    }

    @Test
    void scramSha512ProducesAndConsumes() throws Exception {
        roundTrip(scram("SCRAM-SHA-512", "scrammer", "scram-secret"));
    }

    @Test
    void plainProducesAndConsumes() throws Exception {
        roundTrip(plain("alice", "alice-secret"));
    }

    @Test
    void unsecuredOauthBearerProducesAndConsumes() throws Exception {
        roundTrip(oauth("oauth-user"));
    }

    @Test
    void aWrongPasswordIsAnAuthenticationError() {
        String sasl = broker.sluice().listener("SASL_PLAINTEXT");
        Map<String, Object> settings = plain("alice", "wrong");
        settings.put("max.block.ms", 15_000);
        try (KafkaProducer<String, String> p = Kafka.producer(sasl, settings)) {
            ExecutionException e = assertThrows(ExecutionException.class,
                    () -> p.send(new ProducerRecord<>("sasl-denied", "v")).get());
            assertInstanceOf(SaslAuthenticationException.class, e.getCause(), e.toString());
        } catch (SaslAuthenticationException e) {
            // Thrown by send() itself when the metadata fetch fails authentication: just as good.
        }
    }

    private static KafkaTool.Result configs(String... args) {
        List<String> all = new java.util.ArrayList<>(List.of("--bootstrap-server", broker.bootstrap()));
        all.addAll(List.of(args));
        return KafkaTool.run(broker.sluice().workDir(), List.of("-Xmx256m", "-XX:+UseSerialGC",
                "-XX:TieredStopAtLevel=1"), "org.apache.kafka.tools.ConfigCommand", null, all.toArray(new String[0]));
    }

    /** kafka-configs.sh --entity-type users itself: --alter --add-config, --describe, --delete-config. */
    @Test
    void kafkaConfigsManagesScramUsers() throws Exception {
        String user = "dave-" + UUID.randomUUID().toString().substring(0, 8);
        KafkaTool.Result added = configs("--alter", "--add-config", "SCRAM-SHA-512=[iterations=8192,password=dave-pw]",
                "--entity-type", "users", "--entity-name", user);
        assertEquals(0, added.code(), added.toString());
        Kafka.waitUntil("kafka-configs to describe the credential", Kafka.TIMEOUT, () -> {
            KafkaTool.Result described = configs("--describe", "--entity-type", "users", "--entity-name", user);
            return described.code() == 0 && described.out().contains("SCRAM-SHA-512=iterations=8192");
        });
        roundTrip(scram("SCRAM-SHA-512", user, "dave-pw"));
        KafkaTool.Result deleted = configs("--alter", "--delete-config", "SCRAM-SHA-512",
                "--entity-type", "users", "--entity-name", user);
        assertEquals(0, deleted.code(), deleted.toString());
        Kafka.waitUntil("kafka-configs to describe no credential", Kafka.TIMEOUT, () -> {
            KafkaTool.Result described = configs("--describe", "--entity-type", "users", "--entity-name", user);
            return described.code() == 0 && !described.out().contains("SCRAM-SHA-512");
        });
    }

    @Test
    void scramCredentialsAreManagedLikeKafkaConfigs() throws Exception {
        String user = "carol-" + UUID.randomUUID().toString().substring(0, 8);
        try (Admin admin = Kafka.admin(broker.bootstrap())) {
            Kafka.get(admin.alterUserScramCredentials(List.of(new UserScramCredentialUpsertion(user,
                    new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192), "carol-pw"))).all());
            Map<String, UserScramCredentialsDescription> described =
                    Kafka.get(admin.describeUserScramCredentials(List.of(user)).all());
            assertEquals(List.of(new ScramCredentialInfo(ScramMechanism.SCRAM_SHA_256, 8192)),
                    described.get(user).credentialInfos());

            roundTrip(scram("SCRAM-SHA-256", user, "carol-pw"));

            Kafka.get(admin.alterUserScramCredentials(List.of(
                    new UserScramCredentialDeletion(user, ScramMechanism.SCRAM_SHA_256))).all());
            Throwable gone = Kafka.failure(admin.describeUserScramCredentials(List.of(user)).description(user));
            assertInstanceOf(ResourceNotFoundException.class, gone, String.valueOf(gone));
        }
    }
}
