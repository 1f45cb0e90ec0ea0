//! SASL on a SASL_PLAINTEXT listener with real clients: librdkafka produces and consumes with PLAIN,
//! SCRAM-SHA-256, SCRAM-SHA-512 and unsecured OAUTHBEARER; a wrong password is an authentication error
//! and the broker keeps serving; sessions re-authenticate (KIP-368); SCRAM credentials are managed with
//! Alter/DescribeUserScramCredentials. Raw protocol: the errors Kafka sends (or a closed connection) for
//! an unknown mechanism, malformed SCRAM messages, an expired token, an oversized token, and requests
//! before authentication.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use bytes::Bytes;
use compat_tests::raw::{self, RawConn};
use compat_tests::rdkafka::client::ClientContext;
use compat_tests::rdkafka::config::ClientConfig;
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::producer::{BaseProducer, Producer};
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, flush_delivered, is_reference_kafka,
    produce_all, producer, unique_topic, wait_until, Broker, Msg,
};
use kafka_protocol::messages::alter_user_scram_credentials_request::{
    ScramCredentialDeletion, ScramCredentialUpsertion,
};
use kafka_protocol::messages::describe_user_scram_credentials_request::UserName;
use kafka_protocol::messages::{
    AlterUserScramCredentialsRequest, ApiVersionsRequest, DescribeUserScramCredentialsRequest,
    MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
};

const CONFIG: &str = r#"
listeners: "PLAINTEXT://127.0.0.1:0,SASL_PLAINTEXT://127.0.0.1:0"
sasl_enabled_mechanisms: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER"
sasl_plain_users:
  alice: alice-secret
  bob: bob-secret
sasl_scram_users:
  scrammer: scram-secret
"#;

const WITHIN: Duration = Duration::from_secs(30);

fn sasl_settings<'a>(
    mechanism: &'a str,
    user: &'a str,
    password: &'a str,
) -> Vec<(&'a str, &'a str)> {
    vec![
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", mechanism),
        ("sasl.username", user),
        ("sasl.password", password),
    ]
}

fn oauth_settings() -> Vec<(&'static str, &'static str)> {
    vec![
        ("security.protocol", "SASL_PLAINTEXT"),
        ("sasl.mechanism", "OAUTHBEARER"),
        ("enable.sasl.oauthbearer.unsecure.jwt", "true"),
        ("sasl.oauthbearer.config", "principal=oauth-user"),
    ]
}

/// Produces ten records over the SASL listener with `settings` and reads them back the same way.
fn round_trip(broker: &Broker, settings: &[(&str, &str)]) {
    let topic = unique_topic("sasl");
    create_topic(&broker.bootstrap(), &topic, 1);
    let sasl = broker.listener("SASL_PLAINTEXT").to_string();
    let p = producer(&sasl, settings);
    let msgs: Vec<Msg> = (0..10).map(|i| Msg::sample(i, 1)).collect();
    let delivered = produce_all(&p, &topic, &msgs);
    assert!(delivered.iter().all(|d| d.error.is_none()), "{delivered:?}");
    let c = consumer(&sasl, settings);
    assign_from_beginning(&c, &topic, 1);
    let got = consume_n(&c, 10, WITHIN);
    assert_eq!(got.len(), 10);
}

#[test]
fn plain_produces_and_consumes() {
    let broker = Broker::start_with(CONFIG);
    round_trip(&broker, &sasl_settings("PLAIN", "alice", "alice-secret"));
}

#[test]
fn scram_sha_256_produces_and_consumes() {
    let broker = Broker::start_with(CONFIG);
    round_trip(
        &broker,
        &sasl_settings("SCRAM-SHA-256", "scrammer", "scram-secret"),
    );
}

#[test]
fn scram_sha_512_produces_and_consumes() {
    let broker = Broker::start_with(CONFIG);
    round_trip(
        &broker,
        &sasl_settings("SCRAM-SHA-512", "scrammer", "scram-secret"),
    );
}

#[test]
fn unsecured_oauthbearer_produces_and_consumes() {
    let broker = Broker::start_with(CONFIG);
    round_trip(&broker, &oauth_settings());
}

/// Records the errors librdkafka reports.
#[derive(Default, Clone)]
struct Errors(Arc<Mutex<Vec<Reported>>>);

/// An error's code, if librdkafka gave one, and its reason.
type Reported = (Option<RDKafkaErrorCode>, String);

impl ClientContext for Errors {
    fn error(&self, error: KafkaError, reason: &str) {
        self.0
            .lock()
            .unwrap()
            .push((error.rdkafka_error_code(), reason.to_string()));
    }
}

impl compat_tests::rdkafka::producer::ProducerContext for Errors {
    type DeliveryOpaque = ();
    fn delivery(
        &self,
        _: &compat_tests::rdkafka::message::DeliveryResult<'_>,
        _: Self::DeliveryOpaque,
    ) {
    }
}

/// Whether a client with these settings fails with an authentication error.
fn fails_to_authenticate(addr: &str, settings: &[(&str, &str)]) -> Vec<String> {
    let errors = Errors::default();
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", addr);
    for (k, v) in settings {
        config.set(*k, *v);
    }
    let p: BaseProducer<Errors> = config
        .create_with_context(errors.clone())
        .expect("producer");
    let failed = wait_until(WITHIN, || {
        let _ = p.client().fetch_metadata(None, Duration::from_millis(200));
        // Error callbacks are served by polling.
        p.poll(Duration::from_millis(10));
        errors
            .0
            .lock()
            .unwrap()
            .iter()
            .any(|(code, _)| *code == Some(RDKafkaErrorCode::Authentication))
    });
    let seen: Vec<String> = errors
        .0
        .lock()
        .unwrap()
        .iter()
        .map(|(_, r)| r.clone())
        .collect();
    assert!(failed, "no authentication error: {seen:?}");
    seen
}

#[test]
fn wrong_passwords_fail_and_the_broker_keeps_serving() {
    let broker = Broker::start_with(CONFIG);
    let sasl = broker.listener("SASL_PLAINTEXT").to_string();
    let seen = fails_to_authenticate(&sasl, &sasl_settings("PLAIN", "alice", "wrong"));
    assert!(
        seen.iter()
            .any(|r| r.contains("Invalid username or password")),
        "{seen:?}"
    );
    fails_to_authenticate(&sasl, &sasl_settings("SCRAM-SHA-512", "scrammer", "wrong"));
    fails_to_authenticate(&sasl, &sasl_settings("SCRAM-SHA-256", "nobody", "x"));
    round_trip(&broker, &sasl_settings("PLAIN", "alice", "alice-secret"));
}

fn handshake(conn: &mut RawConn, mechanism: &str) -> i16 {
    conn.request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(raw::str_bytes(mechanism)),
    )
    .error_code
}

fn authenticate(
    conn: &mut RawConn,
    version: i16,
    token: &[u8],
) -> kafka_protocol::messages::SaslAuthenticateResponse {
    conn.request(
        version,
        &SaslAuthenticateRequest::default().with_auth_bytes(Bytes::copy_from_slice(token)),
    )
}

fn plain_login(conn: &mut RawConn, version: i16, user: &str, password: &str) -> i64 {
    assert_eq!(handshake(conn, "PLAIN"), 0);
    let r = authenticate(conn, version, format!("\0{user}\0{password}").as_bytes());
    assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    r.session_lifetime_ms
}

/// A connection to `broker`'s PLAINTEXT listener still gets answers.
fn still_serves(broker: &Broker) {
    let mut c = RawConn::connect(broker.addr());
    let r = c.request(2, &ApiVersionsRequest::default());
    assert_eq!(r.error_code, 0);
}

const CLOSE_WITHIN: Duration = Duration::from_secs(15);

#[test]
fn an_unknown_mechanism_is_refused_with_the_enabled_list() {
    let broker = Broker::start_with(CONFIG);
    let mut c = RawConn::connect(broker.listener("SASL_PLAINTEXT"));
    let r = c.request(
        1,
        &SaslHandshakeRequest::default().with_mechanism(raw::str_bytes("GSSAPI")),
    );
    assert_eq!(r.error_code, 33, "UNSUPPORTED_SASL_MECHANISM");
    let listed: Vec<&str> = r.mechanisms.iter().map(|m| m.as_str()).collect();
    assert!(listed.contains(&"SCRAM-SHA-512"), "{listed:?}");
    c.expect_closed(CLOSE_WITHIN).unwrap();
    still_serves(&broker);
}

#[test]
fn requests_before_authentication_close_the_connection() {
    let broker = Broker::start_with(CONFIG);
    let sasl = broker.listener("SASL_PLAINTEXT");
    // ApiVersions is served before authentication.
    let mut c = RawConn::connect(sasl);
    assert_eq!(c.request(2, &ApiVersionsRequest::default()).error_code, 0);
    c.send_request(12, &MetadataRequest::default());
    c.expect_closed(CLOSE_WITHIN).unwrap();
    // After the handshake, only SaslAuthenticate.
    // (Kafka answers it with ILLEGAL_SASL_STATE first, Sluice closes at once.)
    let mut c = RawConn::connect(sasl);
    assert_eq!(handshake(&mut c, "PLAIN"), 0);
    c.send_request(12, &MetadataRequest::default());
    closes_maybe_after_an_answer(&mut c);
    // SaslAuthenticate before SaslHandshake: Kafka closes (Sluice first answers ILLEGAL_SASL_STATE).
    let mut c = RawConn::connect(sasl);
    c.send_request(2, &SaslAuthenticateRequest::default());
    closes_maybe_after_an_answer(&mut c);
    still_serves(&broker);
}

/// The broker closes `c`, answering its last request first or not.
fn closes_maybe_after_an_answer(c: &mut RawConn) {
    let closed = wait_until(CLOSE_WITHIN, || match c.read_frame() {
        Ok(_) => false,
        Err(raw::ReadError::Closed) => true,
        Err(e) => panic!("{e:?}"),
    });
    assert!(closed);
}

#[test]
fn an_oversized_token_closes_the_connection() {
    let broker = Broker::start_with(CONFIG);
    let mut c = RawConn::connect(broker.listener("SASL_PLAINTEXT"));
    assert_eq!(handshake(&mut c, "PLAIN"), 0);
    let big = vec![b'a'; 600 * 1024];
    let correlation = c.next_correlation();
    let mut frame = raw::request_header(
        kafka_protocol::messages::ApiKey::SaslAuthenticate as i16,
        2,
        2,
        correlation,
    );
    use kafka_protocol::protocol::Encodable;
    SaslAuthenticateRequest::default()
        .with_auth_bytes(Bytes::from(big))
        .encode(&mut frame, 2)
        .unwrap();
    // The broker may close before reading it all.
    let _ = c.send_frame(&frame);
    c.expect_closed(CLOSE_WITHIN).unwrap();
    still_serves(&broker);
}

#[test]
fn malformed_scram_messages_fail_authentication() {
    let broker = Broker::start_with(CONFIG);
    let sasl = broker.listener("SASL_PLAINTEXT");
    for first in [
        &b""[..],
        b"n,,n=scrammer",
        b"not scram at all",
        b"n,,n=scrammer,r=abc,tokenauth=true",
        b"\xff\xff\xff",
    ] {
        let mut c = RawConn::connect(sasl);
        assert_eq!(handshake(&mut c, "SCRAM-SHA-256"), 0);
        let r = authenticate(&mut c, 2, first);
        assert_eq!(r.error_code, 58, "SASL_AUTHENTICATION_FAILED for {first:?}");
        c.expect_closed(CLOSE_WITHIN).unwrap();
    }
    // A well-formed first message, then a malformed final one.
    for last in [&b"garbage"[..], b"c=biws,r=wrong-nonce,p=AAAA"] {
        let mut c = RawConn::connect(sasl);
        assert_eq!(handshake(&mut c, "SCRAM-SHA-512"), 0);
        let r = authenticate(&mut c, 2, b"n,,n=scrammer,r=clientnonce");
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
        assert!(r.auth_bytes.starts_with(b"r=clientnonce"));
        let r = authenticate(&mut c, 2, last);
        assert_eq!(r.error_code, 58, "SASL_AUTHENTICATION_FAILED for {last:?}");
        c.expect_closed(CLOSE_WITHIN).unwrap();
    }
    still_serves(&broker);
}

fn unsecured_token(claims: &str) -> String {
    format!(
        "{}.{}.",
        B64URL.encode(r#"{"alg":"none"}"#),
        B64URL.encode(claims)
    )
}

#[test]
fn an_expired_unsecured_token_fails() {
    let broker = Broker::start_with(CONFIG);
    let mut c = RawConn::connect(broker.listener("SASL_PLAINTEXT"));
    assert_eq!(handshake(&mut c, "OAUTHBEARER"), 0);
    let token = unsecured_token(r#"{"sub":"late","exp":1000,"iat":1}"#);
    let r = authenticate(
        &mut c,
        2,
        format!("n,,\x01auth=Bearer {token}\x01\x01").as_bytes(),
    );
    assert_eq!(r.error_code, 0, "the error comes as a challenge");
    let challenge = String::from_utf8_lossy(&r.auth_bytes).to_string();
    assert!(challenge.contains("invalid_token"), "{challenge}");
    let r = authenticate(&mut c, 2, &[1]);
    assert_eq!(r.error_code, 58, "SASL_AUTHENTICATION_FAILED");
    c.expect_closed(CLOSE_WITHIN).unwrap();
    still_serves(&broker);
}

#[test]
fn sessions_expire_and_re_authenticate() {
    // Debug logs of net::sasl: each completed authentication is logged with `reauthenticating`.
    let broker = Broker::start_own_with(&format!(
        "{CONFIG}connections_max_reauth_ms: 1500\nlog_level: \"info,sluice::net::sasl=debug\"\n"
    ));
    let sasl = broker.listener("SASL_PLAINTEXT");

    // Raw: the lifetime is announced; re-authentication as the same user works, as another fails.
    let mut c = RawConn::connect(sasl);
    let lifetime = plain_login(&mut c, 2, "alice", "alice-secret");
    assert!(
        (1..=1500).contains(&lifetime),
        "session_lifetime_ms {lifetime}"
    );
    assert_eq!(c.request(12, &MetadataRequest::default()).brokers.len(), 1);
    let reauthenticated = Instant::now();
    let lifetime = plain_login(&mut c, 2, "alice", "alice-secret");
    assert!((1..=1500).contains(&lifetime));
    assert_eq!(c.request(12, &MetadataRequest::default()).brokers.len(), 1);
    // Kafka begins a re-authentication at most once a second (earlier: ILLEGAL_SASL_STATE).
    assert!(wait_until(WITHIN, || reauthenticated.elapsed()
        > Duration::from_millis(1100)));
    assert_eq!(handshake(&mut c, "PLAIN"), 0);
    let r = authenticate(&mut c, 2, b"\0bob\0bob-secret");
    assert_eq!(r.error_code, 58, "re-authentication as someone else");
    let message = r.error_message.as_deref().unwrap_or_default().to_string();
    assert!(message.contains("Cannot change principals"), "{message}");
    c.expect_closed(CLOSE_WITHIN).unwrap();

    // Raw: a request once the session ended closes the connection.
    let mut c = RawConn::connect(sasl);
    let started = Instant::now();
    let lifetime = plain_login(&mut c, 2, "alice", "alice-secret");
    let ended = Duration::from_millis(lifetime as u64 + 100);
    assert!(wait_until(WITHIN, || started.elapsed() > ended));
    c.send_request(12, &MetadataRequest::default());
    c.expect_closed(CLOSE_WITHIN).unwrap();

    // librdkafka re-authenticates and keeps working well past several session lifetimes.
    if !is_reference_kafka() {
        // The close is logged after it happens: wait for the line before counting.
        assert!(wait_until(WITHIN, || broker
            .logs()
            .contains("expired credential")));
    }
    let expired_before = broker.logs().matches("expired credential").count();
    let reauth_before = broker.logs().matches("reauthenticating=true").count();
    let topic = unique_topic("reauth");
    create_topic(&broker.bootstrap(), &topic, 1);
    let settings = sasl_settings("SCRAM-SHA-256", "scrammer", "scram-secret");
    let p = producer(&sasl.to_string(), &settings);
    let began = Instant::now();
    let mut sent = 0;
    // One record at a time, each delivered before the next, for several session lifetimes.
    while began.elapsed() < Duration::from_millis(5000) {
        p.send(Msg::sample(sent, 1).record(&topic, sent))
            .map_err(|(e, _)| e)
            .expect("enqueue");
        sent += 1;
        assert!(
            wait_until(WITHIN, || p.context().acked() + p.context().failed()
                >= sent),
            "record {sent} not delivered"
        );
        assert_eq!(p.context().failed(), 0, "a delivery failed");
    }
    flush_delivered(&p, sent, Duration::from_secs(30));
    let c = consumer(&sasl.to_string(), &settings);
    assign_from_beginning(&c, &topic, 1);
    assert_eq!(consume_n(&c, sent, WITHIN).len(), sent);
    if !is_reference_kafka() {
        let logs = broker.logs();
        assert!(
            logs.matches("expired credential").count() == expired_before,
            "a client connection outlived its session instead of re-authenticating"
        );
        assert!(
            logs.matches("reauthenticating=true").count() > reauth_before,
            "librdkafka never re-authenticated"
        );
    }
}

/// AlterUserScramCredentials' salted password for `password`, as kafka-configs.sh computes it.
fn salted_512(password: &str, salt: &[u8], iterations: u32) -> Vec<u8> {
    pbkdf2::pbkdf2_hmac_array::<sha2::Sha512, 64>(password.as_bytes(), salt, iterations).to_vec()
}

#[test]
fn scram_credentials_are_altered_described_and_deleted() {
    let broker = Broker::start_with(CONFIG);
    let mut admin = RawConn::connect(broker.addr());
    let user = unique_topic("carol");
    let salt = b"some-salt-bytes";
    let upsert = ScramCredentialUpsertion::default()
        .with_name(raw::str_bytes(&user))
        .with_mechanism(2)
        .with_iterations(8192)
        .with_salt(Bytes::from_static(salt))
        .with_salted_password(salted_512("carol-pw", salt, 8192).into());
    let r = admin.request(
        0,
        &AlterUserScramCredentialsRequest::default().with_upsertions(vec![upsert.clone()]),
    );
    assert_eq!(r.results.len(), 1);
    assert_eq!(
        r.results[0].error_code, 0,
        "{:?}",
        r.results[0].error_message
    );

    let describe = |admin: &mut RawConn| {
        admin.request(
            0,
            &DescribeUserScramCredentialsRequest::default().with_users(Some(vec![
                UserName::default().with_name(raw::str_bytes(&user)),
            ])),
        )
    };
    let d = describe(&mut admin);
    assert_eq!(d.results[0].error_code, 0);
    let infos: Vec<(i8, i32)> = d.results[0]
        .credential_infos
        .iter()
        .map(|i| (i.mechanism, i.iterations))
        .collect();
    assert_eq!(infos, vec![(2, 8192)]);

    let sasl = broker.listener("SASL_PLAINTEXT").to_string();
    round_trip(&broker, &sasl_settings("SCRAM-SHA-512", &user, "carol-pw"));

    // Errors: too few iterations, an unknown mechanism, a user named twice.
    let bad = AlterUserScramCredentialsRequest::default().with_upsertions(vec![
        upsert
            .clone()
            .with_name(raw::str_bytes("few"))
            .with_iterations(100),
        upsert
            .clone()
            .with_name(raw::str_bytes("mech"))
            .with_mechanism(9),
        upsert.clone().with_name(raw::str_bytes("twice")),
        upsert.clone().with_name(raw::str_bytes("twice")),
    ]);
    let r = admin.request(0, &bad);
    let code = |name: &str| {
        r.results
            .iter()
            .find(|x| x.user.as_str() == name)
            .map(|x| x.error_code)
    };
    assert_eq!(code("few"), Some(93), "UNACCEPTABLE_CREDENTIAL");
    assert_eq!(code("mech"), Some(33), "UNSUPPORTED_SASL_MECHANISM");
    assert_eq!(code("twice"), Some(92), "DUPLICATE_RESOURCE");

    let delete = AlterUserScramCredentialsRequest::default().with_deletions(vec![
        ScramCredentialDeletion::default()
            .with_name(raw::str_bytes(&user))
            .with_mechanism(2),
    ]);
    let r = admin.request(0, &delete);
    assert_eq!(r.results[0].error_code, 0);
    let r = admin.request(0, &delete);
    assert_eq!(r.results[0].error_code, 91, "RESOURCE_NOT_FOUND");
    let d = describe(&mut admin);
    assert_eq!(d.results[0].error_code, 91, "RESOURCE_NOT_FOUND");
    fails_to_authenticate(&sasl, &sasl_settings("SCRAM-SHA-512", &user, "carol-pw"));
}
