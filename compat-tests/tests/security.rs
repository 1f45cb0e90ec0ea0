//! Listeners, TLS, SASL and ACLs together, as a production set-up has them (#17): SCRAM users over SASL_SSL and
//! certificate principals over mTLS get exactly what their ACLs give, under the names ACLs use (`User:alice`
//! from a SCRAM login and from a certificate CN=alice mapped by `ssl_principal_mapping_rules`).
//!
//! The test's own set-up (topics, ACLs) goes through a PLAINTEXT listener whose User:ANONYMOUS is a super user.
//! Runs against Kafka too (run-kafka.sh maps the same keys).

use std::path::PathBuf;
use std::time::Duration;

use compat_tests::raw::{str_bytes, RawConn};
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::{create_topic, producer, unique_topic, wait_until, Broker, TestProducer};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::CreateAclsRequest;

const WAIT: Duration = Duration::from_secs(30);

fn cert(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "certs", name].iter().collect();
    path.to_str().expect("a UTF-8 path").to_string()
}

fn config() -> String {
    format!(
        "listeners: \"PLAINTEXT://127.0.0.1:0,SASL_SSL://127.0.0.1:0,SSL://127.0.0.1:0\"\n\
         ssl_keystore_location: \"{}\"\n\
         ssl_truststore_location: \"{}\"\n\
         ssl_client_auth: \"requested\"\n\
         ssl_principal_mapping_rules: \"RULE:^CN=([^,]*),.*$/$1/L,DEFAULT\"\n\
         sasl_enabled_mechanisms: \"SCRAM-SHA-512\"\n\
         sasl_scram_users:\n  alice: alice-secret\n  bob: bob-secret\n\
         authorizer_enabled: true\n\
         allow_everyone_if_no_acl_found: false\n\
         super_users: \"User:ANONYMOUS\"\n",
        cert("server-keystore.pem"),
        cert("ca.pem"),
    )
}

/// Sends one record and waits for its delivery report; returns its error, if any.
fn produce_one(producer: &TestProducer, topic: &str) -> Option<RDKafkaErrorCode> {
    producer
        .send(BaseRecord::<str, str, usize>::with_opaque_to(topic, 0).payload("v"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    let reported = wait_until(WAIT, || {
        producer.poll(Duration::from_millis(50));
        producer.context().reports().len() == 1
    });
    assert!(reported, "no delivery report for {topic}");
    producer.context().reports()[0]
        .error
        .as_ref()
        .map(|e: &KafkaError| e.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail))
}

/// WRITE (4) on the literal topic `topic` (2) for `principal`, from any host.
fn allow_write(principal: &str, topic: &str) -> AclCreation {
    AclCreation::default()
        .with_resource_type(2)
        .with_resource_name(str_bytes(topic))
        .with_resource_pattern_type(3)
        .with_principal(str_bytes(principal))
        .with_host(str_bytes("*"))
        .with_operation(4)
        .with_permission_type(3)
}

#[test]
fn scram_users_and_certificates_get_what_their_acls_give() {
    let broker = Broker::start_with(&config());
    let admin = broker.listener("PLAINTEXT");
    let topic = unique_topic("security");
    create_topic(&admin.to_string(), &topic, 1);
    let mut raw = RawConn::connect(admin);
    let created = raw.request(
        2,
        &CreateAclsRequest::default().with_creations(vec![allow_write("User:alice", &topic)]),
    );
    assert!(
        created.results.iter().all(|r| r.error_code == 0),
        "{:?}",
        created.results
    );

    let sasl_ssl = broker.listener("SASL_SSL").to_string();
    let ca = cert("ca.pem");
    let scram = |user: &str, password: &str| {
        producer(
            &sasl_ssl,
            &[
                ("security.protocol", "SASL_SSL"),
                ("ssl.ca.location", &ca),
                ("sasl.mechanism", "SCRAM-SHA-512"),
                ("sasl.username", user),
                ("sasl.password", password),
            ],
        )
    };
    assert_eq!(produce_one(&scram("alice", "alice-secret"), &topic), None);
    assert_eq!(
        produce_one(&scram("bob", "bob-secret"), &topic),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );

    // CN=alice,OU=eng,O=Sluice,C=US maps to alice; the other certificate's subject maps to another name.
    let ssl = broker.listener("SSL").to_string();
    let with_cert = |name: &str| {
        let (pem, key) = (cert(&format!("{name}.pem")), cert(&format!("{name}.key")));
        producer(
            &ssl,
            &[
                ("security.protocol", "SSL"),
                ("ssl.ca.location", &ca),
                ("ssl.certificate.location", &pem),
                ("ssl.key.location", &key),
            ],
        )
    };
    assert_eq!(produce_one(&with_cert("alice"), &topic), None);
    assert_eq!(
        produce_one(&with_cert("dn"), &topic),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );
}
