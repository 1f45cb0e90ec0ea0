//! Connections that would take the broker down: clients that never read their responses, clients that
//! send half of a large frame and stop, idle connections holding slots, one address taking every slot,
//! and a client that leaves while its long poll waits.
//!
//! Memory is the broker's resident set (`VmRSS` in `/proc/<pid>/status`), measured only against Sluice: a
//! JVM's resident set says nothing about what one connection costs. The rest runs against Kafka too.

use std::io::Write;
use std::net::TcpStream;
use std::thread;
use std::time::Duration;

use compat_tests::raw::{self, RawConn};
use compat_tests::rdkafka::message::Message;
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, is_reference_kafka, unique_topic,
    Broker,
};
use kafka_protocol::messages::ApiVersionsRequest;
use kafka_protocol::records::Compression;

/// How long the broker may take to close a connection it should close.
const CLOSE_WITHIN: Duration = Duration::from_secs(15);
/// How long a consumer may take to read the test's data.
const CONSUME_WITHIN: Duration = Duration::from_secs(60);

/// The broker's resident set in bytes.
fn rss(broker: &Broker) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{}/status", broker.pid()))
        .expect("read /proc/<pid>/status");
    let kb: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .expect("VmRSS in /proc/<pid>/status");
    kb * 1024
}

/// A request any broker answers at once: proof that a connection is served.
fn served(conn: &mut RawConn) {
    let response = conn.request(0, &ApiVersionsRequest::default());
    assert_eq!(response.error_code, 0, "ApiVersions failed");
}

/// Whether a fresh connection is answered (`false`: the broker closed it instead).
fn fresh_connection_served(broker: &Broker) -> bool {
    let mut conn = RawConn::connect(broker.addr());
    let correlation = conn.send_request(0, &ApiVersionsRequest::default());
    match conn.read_frame() {
        Ok(_) => true,
        Err(raw::ReadError::Closed) => false,
        Err(e) => panic!("ApiVersions {correlation}: {e:?}"),
    }
}

fn connect_served(broker: &Broker) -> RawConn {
    let mut conn = RawConn::connect(broker.addr());
    served(&mut conn);
    conn
}

/// Writes `records_mb` batches of about 1 MB (4 records of 240 KB) to partition 0 of `topic`.
fn produce_mb(broker: &Broker, topic: &str, records_mb: usize) {
    let value = bytes::Bytes::from(vec![b'x'; 240 * 1024]);
    for batch in 0..records_mb {
        let records: Vec<_> = (0..4)
            .map(|i| raw::record(i, 0, None, Some(value.clone())))
            .collect();
        let encoded = raw::encode_batch(&records, Compression::None).freeze();
        let answer = raw::produce(broker.addr(), topic, vec![(0, encoded)]);
        assert_eq!(answer[&0].0, 0, "produce batch {batch}");
    }
}

#[test]
fn clients_that_do_not_read_cost_about_one_response() {
    const MB: u64 = 1024 * 1024;
    const DATA_MB: usize = 12;
    const CONNECTIONS: usize = 8;
    const FETCHES_EACH: usize = 4;
    // A store cache far smaller than the data, and a restart after writing it: the Fetches read from disk, so
    // what their responses hold is memory of their own.
    let mut broker = Broker::start_own_with(
        "cache_capacity_bytes: 1048576\nqueued_max_response_bytes: 4194304\n",
    );
    // One topic per non-reading connection (responses to one partition would share its memory), and one for
    // a well-behaved consumer.
    let topics: Vec<_> = (0..CONNECTIONS)
        .map(|_| unique_topic("non-reading"))
        .collect();
    let readable = unique_topic("still-served");
    for topic in &topics {
        create_topic(&broker.bootstrap(), topic, 1);
        produce_mb(&broker, topic, DATA_MB);
    }
    create_topic(&broker.bootstrap(), &readable, 1);
    produce_mb(&broker, &readable, 2);
    broker.restart();
    let mut other = connect_served(&broker);
    let version = raw::fetch_version(broker.addr());
    let before = rss(&broker);

    // Each asks for all of its topic (up to 64 MiB) several times over and never reads an answer. Unbounded,
    // that is CONNECTIONS * DATA_MB = 96 MB of responses held for them.
    let hogs: Vec<_> = topics
        .iter()
        .map(|topic| {
            let mut conn = RawConn::connect(broker.addr());
            for _ in 0..FETCHES_EACH {
                conn.send_request(version, &raw::fetch_request(topic, 0, 0, 0));
            }
            conn
        })
        .collect();

    // Everyone else is still served, and a consumer reads a whole partition; by then the broker has
    // answered (or declined to read) what the non-reading connections sent before.
    served(&mut other);
    let reader = consumer(&broker.bootstrap(), &[]);
    assign_from_beginning(&reader, &readable, 1);
    let got = consume_n(&reader, 2 * 4, CONSUME_WITHIN);
    assert_eq!(got.len(), 2 * 4);
    assert_eq!(got[0].payload().map(<[u8]>::len), Some(240 * 1024));

    if !is_reference_kafka() {
        // queued_max_response_bytes (4 MiB), about one batch (1 MB) for each further connection, the
        // consumer's 2 MB, and allocator slack: far below the 96 MB the non-reading clients ask for.
        let grown = rss(&broker).saturating_sub(before);
        assert!(
            grown < 48 * MB,
            "non-reading clients grew the broker's RSS by {} MB",
            grown / MB
        );
    }
    // Shutdown does not wait forever for clients that will never read what is queued for them.
    let status = broker.terminate();
    assert!(status.success(), "broker did not exit cleanly: {status}");
    drop(hogs);
}

#[test]
fn half_sent_large_frames_cost_at_most_the_request_budget() {
    const MB: usize = 1024 * 1024;
    const MAX_REQUEST: usize = 16 * MB;
    const CONNECTIONS: usize = 8;
    const SENT_EACH: usize = 12 * MB;
    let broker = Broker::start_own_with(&format!(
        "max_request_bytes: {MAX_REQUEST}\nqueued_max_request_bytes: {MAX_REQUEST}\nmax_message_bytes: 1048588\n"
    ));
    let before = rss(&broker);

    // Each announces an almost largest frame, sends three quarters of it and stops there. Unbounded, that is
    // CONNECTIONS * SENT_EACH = 96 MB of buffers. A writer the broker stops reading gives up after a while.
    let senders: Vec<_> = (0..CONNECTIONS)
        .map(|_| {
            let addr = broker.addr();
            thread::spawn(move || {
                let mut stream = TcpStream::connect(addr).expect("connect");
                stream
                    .set_write_timeout(Some(Duration::from_secs(2)))
                    .expect("write timeout");
                let mut bytes = ((MAX_REQUEST - 64) as i32).to_be_bytes().to_vec();
                bytes.resize(4 + SENT_EACH, 0);
                let _ = stream.write_all(&bytes);
                stream
            })
        })
        .collect();
    let streams: Vec<_> = senders
        .into_iter()
        .map(|s| s.join().expect("sender"))
        .collect();

    if !is_reference_kafka() {
        // Small requests need no budget: other clients are still served. Kafka differs on purpose: once its
        // memory pool (queued.max.request.bytes) is used up it reads from no connection at all until it is
        // freed, so there the client waits for the half-sent frames to time out.
        let mut other = connect_served(&broker);
        served(&mut other);

        // One frame's worth (16 MiB) may be held, the rest wait in the kernel's socket buffers.
        let grown = rss(&broker).saturating_sub(before);
        assert!(
            grown < 48 << 20,
            "half-sent frames grew the broker's RSS by {} MB",
            grown >> 20
        );
    }
    drop(streams);
}

#[test]
fn idle_connection_is_closed() {
    let broker = Broker::start_with("connections_max_idle_ms: 1000\n");
    let mut conn = connect_served(&broker);
    if let Err(problem) = conn.expect_closed(CLOSE_WITHIN) {
        panic!("idle connection: {problem}\n{}", broker.logs());
    }
    // A client reconnects and is served as ever.
    connect_served(&broker);
}

#[test]
fn one_address_cannot_take_more_than_its_connections() {
    const PER_IP: usize = 3;
    // Its own broker: the limit counts every connection from 127.0.0.1, other tests' too.
    let broker = Broker::start_own_with(&format!("max_connections_per_ip: {PER_IP}\n"));
    let mut conns: Vec<_> = (0..PER_IP).map(|_| connect_served(&broker)).collect();
    let mut extra = RawConn::connect(broker.addr());
    if let Err(problem) = extra.expect_closed(CLOSE_WITHIN) {
        panic!(
            "connection over max_connections_per_ip: {problem}\n{}",
            broker.logs()
        );
    }
    for conn in &mut conns {
        served(conn);
    }
    // A closed connection gives its place back (once the broker has seen it close).
    drop(conns.pop());
    let served_again = compat_tests::wait_until(CLOSE_WITHIN, || fresh_connection_served(&broker));
    assert!(
        served_again,
        "a slot freed by a closed connection was not reused"
    );
}

/// A served connection, once the address has a free slot: connections closed just before may still hold theirs.
fn claim_slot(broker: &Broker) -> RawConn {
    let mut claimed = None;
    let free = compat_tests::wait_until(CLOSE_WITHIN, || {
        let mut conn = RawConn::connect(broker.addr());
        let correlation = conn.send_request(0, &ApiVersionsRequest::default());
        match conn.read_frame() {
            Ok(_) => {
                claimed = Some(conn);
                true
            }
            Err(raw::ReadError::Closed) => false,
            Err(e) => panic!("ApiVersions {correlation}: {e:?}"),
        }
    });
    assert!(
        free,
        "no slot came free for this address\n{}",
        broker.logs()
    );
    claimed.expect("served connection")
}

#[test]
fn client_closing_during_a_long_poll_frees_its_slot_at_once() {
    /// Far longer than the wait below, so a slot freed only when the poll ends fails the test.
    const LONG_POLL_MS: i32 = 60_000;
    // Every connection of the test competes for the address's three slots, two of them held throughout.
    // (max_connections: 1, or one connection per address, would do for Sluice, but Kafka's own start-up needs
    // more than one connection from 127.0.0.1.)
    let broker = Broker::start_with("max_connections_per_ip: 3\n");
    let topic = unique_topic("long-poll-close");
    create_topic(&broker.bootstrap(), &topic, 1);
    let version = raw::fetch_version(broker.addr());
    let _held = [claim_slot(&broker), claim_slot(&broker)];
    let mut polling = claim_slot(&broker);
    polling.send_request(version, &raw::fetch_request(&topic, 0, 0, LONG_POLL_MS));
    drop(polling);
    if is_reference_kafka() {
        // Kafka differs here: it reads nothing from a connection whose request is in progress, so it sees the
        // close only when the long poll ends and frees the slot then (compat-tests/FINDINGS.md).
        return;
    }

    // Well inside the 60 s poll.
    let served_again = compat_tests::wait_until(CLOSE_WITHIN, || fresh_connection_served(&broker));
    assert!(
        served_again,
        "the slot of a client that closed during its long poll was not freed\n{}",
        broker.logs()
    );
}
