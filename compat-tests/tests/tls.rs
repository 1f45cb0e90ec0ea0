//! TLS listeners (SSL) with librdkafka: produce and consume over TLS, mutual TLS with
//! `ssl_client_auth` required and requested, and clients that do not speak TLS on a TLS port.
//!
//! The certificates are compat-tests/certs (see its gen.sh): a CA, the broker's certificate for
//! localhost and 127.0.0.1, a client `alice` the CA signed, and `mallory` signed by a CA nobody trusts.

use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use compat_tests::rdkafka::config::ClientConfig;
use compat_tests::rdkafka::consumer::BaseConsumer;
use compat_tests::rdkafka::producer::{BaseProducer, Producer};
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, flush_delivered, is_reference_kafka,
    produce_all, producer, unique_topic, wait_until, Broker, Msg,
};

/// How long a client may take to get metadata from a broker that accepts it.
const CONNECT_WITHIN: Duration = Duration::from_secs(30);
/// How long a refused client keeps trying before the test takes the refusal as final.
const REFUSED_FOR: Duration = Duration::from_secs(5);
/// How long the broker may take to close a connection it should close.
const CLOSE_WITHIN: Duration = Duration::from_secs(20);

fn cert(name: &str) -> String {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "certs", name].iter().collect();
    path.to_str().expect("a UTF-8 path").to_string()
}

/// A broker with a PLAINTEXT listener (first, so the harness's health checks use it) and an SSL one.
fn broker(client_auth: &str) -> Broker {
    let mut yaml = format!(
        "listeners: \"PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\"\n\
         ssl_keystore_location: \"{}\"\n\
         ssl_client_auth: \"{client_auth}\"\n",
        cert("server-keystore.pem"),
    );
    if client_auth != "none" {
        yaml.push_str(&format!(
            "ssl_truststore_location: \"{}\"\n",
            cert("ca.pem")
        ));
    }
    Broker::start_with(&yaml)
}

/// librdkafka settings for the SSL listener, trusting the test CA and checking the broker's name.
fn ssl_settings(broker: &Broker, client_cert: Option<&str>) -> Vec<(&'static str, String)> {
    let mut settings = vec![
        ("bootstrap.servers", broker.listener("SSL").to_string()),
        ("security.protocol", "ssl".to_string()),
        ("ssl.ca.location", cert("ca.pem")),
        ("ssl.endpoint.identification.algorithm", "https".to_string()),
    ];
    if let Some(name) = client_cert {
        settings.push(("ssl.certificate.location", cert(&format!("{name}.pem"))));
        settings.push(("ssl.key.location", cert(&format!("{name}.key"))));
    }
    settings
}

/// Whether a client with `settings` gets metadata within `within`.
fn metadata_ok(settings: &[(&'static str, String)], within: Duration) -> Result<(), String> {
    let mut config = ClientConfig::new();
    for (key, value) in settings {
        config.set(*key, value);
    }
    let client: BaseProducer = config.create().map_err(|e| e.to_string())?;
    client
        .client()
        .fetch_metadata(Some("tls-probe"), within)
        .map(|_| ())
        .map_err(|e| e.to_string())
}

#[test]
fn produce_and_consume_over_ssl() {
    let broker = broker("none");
    let topic = unique_topic("tls");
    create_topic(&broker.bootstrap(), &topic, 1);
    let settings = ssl_settings(&broker, None);
    let pairs: Vec<(&str, &str)> = settings.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let bootstrap = broker.listener("SSL").to_string();
    let messages: Vec<Msg> = (0..50).map(|i| Msg::sample(i, 1)).collect();
    let producer = producer(&bootstrap, &pairs);
    produce_all(&producer, &topic, &messages);
    flush_delivered(&producer, messages.len(), CONNECT_WITHIN);
    let consumer: BaseConsumer = consumer(&bootstrap, &pairs);
    assign_from_beginning(&consumer, &topic, 1);
    let got = consume_n(&consumer, messages.len(), CONNECT_WITHIN);
    assert_eq!(got.len(), messages.len(), "{}", broker.logs());
    let got: Vec<Msg> = got.iter().map(Msg::from_message).collect();
    assert_eq!(
        got, messages,
        "what was consumed over TLS is what was produced"
    );
}

#[test]
fn a_client_that_does_not_trust_the_broker_fails() {
    let broker = broker("none");
    let mut settings = ssl_settings(&broker, None);
    // The untrusted CA did not sign the broker's certificate.
    settings[2].1 = cert("untrusted-ca.pem");
    assert!(metadata_ok(&settings, REFUSED_FOR).is_err());
}

#[test]
fn mutual_tls_required() {
    let broker = broker("required");
    metadata_ok(&ssl_settings(&broker, Some("alice")), CONNECT_WITHIN)
        .unwrap_or_else(|e| panic!("alice, signed by the trusted CA: {e}\n{}", broker.logs()));
    assert!(
        metadata_ok(&ssl_settings(&broker, None), REFUSED_FOR).is_err(),
        "no client certificate, yet served"
    );
    assert!(
        metadata_ok(&ssl_settings(&broker, Some("mallory")), REFUSED_FOR).is_err(),
        "a certificate of an untrusted CA, yet served"
    );
    // The refusals cost nothing lasting: alice is still served.
    metadata_ok(&ssl_settings(&broker, Some("alice")), CONNECT_WITHIN)
        .unwrap_or_else(|e| panic!("alice after the refusals: {e}\n{}", broker.logs()));
}

#[test]
fn mutual_tls_requested() {
    let broker = broker("requested");
    metadata_ok(&ssl_settings(&broker, None), CONNECT_WITHIN)
        .unwrap_or_else(|e| panic!("without a certificate: {e}\n{}", broker.logs()));
    metadata_ok(&ssl_settings(&broker, Some("alice")), CONNECT_WITHIN)
        .unwrap_or_else(|e| panic!("alice: {e}\n{}", broker.logs()));
}

/// Reads until the broker closes the connection; what it sent first, or why it did not close.
fn read_until_closed(stream: &mut TcpStream, within: Duration) -> Result<Vec<u8>, String> {
    let deadline = Instant::now() + within;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(format!(
                "still open after {within:?}, {} bytes read",
                got.len()
            ));
        }
        stream.set_read_timeout(Some(left)).unwrap();
        match stream.read(&mut buf) {
            Ok(0) => return Ok(got),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e)
                if matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                ) =>
            {
                return Ok(got)
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {}
            Err(e) => return Err(format!("read failed: {e}")),
        }
    }
}

/// An ApiVersions v0 request, as a plaintext Kafka client sends first.
fn plaintext_api_versions() -> Vec<u8> {
    let mut body = Vec::new();
    body.extend_from_slice(&18i16.to_be_bytes()); // ApiVersions
    body.extend_from_slice(&0i16.to_be_bytes());
    body.extend_from_slice(&7i32.to_be_bytes()); // correlation id
    body.extend_from_slice(&(-1i16).to_be_bytes()); // no client id
    let mut frame = (body.len() as i32).to_be_bytes().to_vec();
    frame.extend_from_slice(&body);
    frame
}

#[test]
fn plaintext_and_garbage_on_the_tls_port_are_closed() {
    let mut broker = broker("none");
    let addr: SocketAddr = broker.listener("SSL");
    let garbage: [(&str, Vec<u8>); 3] = [
        ("a plaintext Kafka request", plaintext_api_versions()),
        (
            "random bytes",
            (0..4096u32).map(|i| (i * 7919 % 251) as u8).collect(),
        ),
        // A TLS handshake record header announcing a ClientHello far larger than TLS allows.
        (
            "a bogus TLS record",
            vec![0x16, 0x03, 0x01, 0xff, 0xff, 0x01, 0xff, 0xff, 0xff],
        ),
    ];
    for (what, bytes) in garbage {
        let mut stream = TcpStream::connect(addr).unwrap();
        stream
            .write_all(&bytes)
            .unwrap_or_else(|e| panic!("{what}: {e}"));
        let got = read_until_closed(&mut stream, CLOSE_WITHIN)
            .unwrap_or_else(|e| panic!("{what}: {e}\n{}", broker.logs()));
        // At most a TLS alert (record type 21) before the close: never a Kafka response.
        assert!(
            got.is_empty() || got[0] == 0x15,
            "{what}: the broker sent {:02x?}",
            &got[..got.len().min(32)]
        );
    }
    broker.assert_healthy();
    metadata_ok(&ssl_settings(&broker, None), CONNECT_WITHIN)
        .unwrap_or_else(|e| panic!("TLS after the garbage: {e}\n{}", broker.logs()));
}

/// Kafka bounds a silent connection only by `connections.max.idle.ms` (10 minutes by default);
/// Sluice bounds the handshake by 10 s.
#[test]
fn a_client_that_never_starts_the_handshake_is_closed() {
    if is_reference_kafka() {
        return;
    }
    let broker = broker("none");
    let mut silent = TcpStream::connect(broker.listener("SSL")).unwrap();
    let got = read_until_closed(&mut silent, CLOSE_WITHIN)
        .unwrap_or_else(|e| panic!("{e}\n{}", broker.logs()));
    assert!(
        got.is_empty(),
        "sent {got:02x?} to a client that sent nothing"
    );
}

/// The principal is logged at debug once the handshake completes: proof of the mapping end to end
/// until an ACL test can show it (the rules and DN formatting are unit-tested in security::ssl).
#[test]
fn the_client_certificate_names_the_principal() {
    if is_reference_kafka() {
        return;
    }
    let broker = Broker::start_with(&format!(
        "listeners: \"PLAINTEXT://127.0.0.1:0,SSL://127.0.0.1:0\"\n\
         log_level: \"info,sluice::net::tls=debug\"\n\
         ssl_keystore_location: \"{}\"\n\
         ssl_truststore_location: \"{}\"\n\
         ssl_client_auth: \"required\"\n\
         ssl_principal_mapping_rules: \"RULE:^CN=([^,]*),OU=eng,.*$/$1@eng/U,DEFAULT\"\n",
        cert("server-keystore.pem"),
        cert("ca.pem"),
    ));
    metadata_ok(&ssl_settings(&broker, Some("alice")), CONNECT_WITHIN)
        .unwrap_or_else(|e| panic!("alice: {e}\n{}", broker.logs()));
    assert!(
        wait_until(CLOSE_WITHIN, || broker
            .logs()
            .contains("principal=User:ALICE@ENG")),
        "no principal User:ALICE@ENG in the log:\n{}",
        broker.logs()
    );
}

#[test]
fn a_tls_listener_without_a_keystore_does_not_start() {
    if is_reference_kafka() {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("sluice.yaml");
    std::fs::write(&config, "listeners: \"SSL://127.0.0.1:0\"\n").unwrap();
    let out = std::process::Command::new(compat_tests::sluice_bin())
        .arg("--config")
        .arg(&config)
        .arg("--data-dir")
        .arg(dir.path().join("data"))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ssl_keystore_location"), "{stderr}");
}
