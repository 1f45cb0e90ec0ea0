//! Transactions end to end (#15, KIP-98/447/890), with librdkafka's transactional producer and read_committed
//! consumer, and with hand-built requests for what no client sends.
//!
//! - Commit and abort across two partitions of two topics: read_committed sees committed records exactly once and
//!   never aborted ones, read_uncommitted sees everything, no client ever sees a control record, and a consumer's
//!   position ends on the high watermark (past the markers).
//! - The last stable offset: while a transaction is open, read_committed Fetch and ListOffsets stop at its first
//!   offset; a commit releases everything.
//! - Consume-transform-produce with `send_offsets_to_transaction`: offsets become the group's only when their
//!   transaction commits, an aborted batch is retried and appears once, a second run finds nothing left.
//! - Fencing by a second producer with the same transactional id, the broker aborting a transaction that outlives
//!   `transaction.timeout.ms`, a timeout above `transaction.max.timeout.ms`, and (Sluice only) kill -9 of the
//!   broker with a transaction open and right after one committed.
//! - Bad input, each answered with Apache Kafka 4.4's error code (probed against the reference broker).
//!
//! Every test passes against Apache Kafka 4.4 (`SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh
//! SLUICE_TARGET=kafka`, `-- --test-threads=2`), but for the kill -9 test (see it for why).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::net::SocketAddr;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compat_tests::raw::{self, str_bytes, RawConn, Versions};
use compat_tests::rdkafka::consumer::{BaseConsumer, Consumer};
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::rdkafka::{Offset, TopicPartitionList};
use compat_tests::{
    consumer, create_topic, is_reference_kafka, now_ms, producer, unique_topic, wait_until, Broker,
    TestProducer,
};
use kafka_protocol::messages::add_partitions_to_txn_request::{
    AddPartitionsToTxnTopic, AddPartitionsToTxnTransaction,
};
use kafka_protocol::messages::find_coordinator_request::FindCoordinatorRequest;
use kafka_protocol::messages::join_group_request::JoinGroupRequestProtocol;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::sync_group_request::SyncGroupRequestAssignment;
use kafka_protocol::messages::txn_offset_commit_request::{
    TxnOffsetCommitRequestPartition, TxnOffsetCommitRequestTopic,
};
use kafka_protocol::messages::{
    AddOffsetsToTxnRequest, AddPartitionsToTxnRequest, ApiKey, BrokerId, EndTxnRequest, GroupId,
    InitProducerIdRequest, InitProducerIdResponse, JoinGroupRequest, ListOffsetsRequest,
    ProduceRequest, ProducerId, SyncGroupRequest, TopicName, TransactionalId,
    TxnOffsetCommitRequest,
};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const COORDINATOR_NOT_AVAILABLE: i16 = 15;
const NOT_COORDINATOR: i16 = 16;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const ILLEGAL_GENERATION: i16 = 22;
const UNKNOWN_MEMBER_ID: i16 = 25;
const INVALID_REQUEST: i16 = 42;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_TXN_STATE: i16 = 48;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const INVALID_TRANSACTION_TIMEOUT: i16 = 50;
const CONCURRENT_TRANSACTIONS: i16 = 51;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const FENCED_INSTANCE_ID: i16 = 82;
const PRODUCER_FENCED: i16 = 90;
const TRANSACTION_ABORTABLE: i16 = 120;

/// How long one transactional call (init, commit, abort, send offsets) may take.
const TXN_CALL: Duration = Duration::from_secs(30);
/// How long a consumer may take to read what a test wrote.
const READ_TIMEOUT: Duration = Duration::from_secs(30);
/// Kafka's default `transaction.max.timeout.ms`, which neither broker's configuration here changes.
const MAX_TXN_TIMEOUT_MS: i32 = 900_000;

// ---------------------------------------------------------------------------------------------------------------
// Clients

/// A transactional producer whose `init_transactions` has succeeded.
fn txn_producer(addr: SocketAddr, txn_id: &str, settings: &[(&str, &str)]) -> TestProducer {
    let producer = new_txn_producer(addr, txn_id, settings);
    producer
        .init_transactions(TXN_CALL)
        .unwrap_or_else(|e| panic!("init_transactions {txn_id}: {e:?}"));
    producer
}

fn new_txn_producer(addr: SocketAddr, txn_id: &str, settings: &[(&str, &str)]) -> TestProducer {
    let mut all = vec![("transactional.id", txn_id)];
    all.extend_from_slice(settings);
    producer(&addr.to_string(), &all)
}

/// Enqueues one record whose key and value are both `value`.
fn send(producer: &TestProducer, topic: &str, partition: i32, value: &str) {
    producer
        .send(
            BaseRecord::<str, str, usize>::with_opaque_to(topic, 0)
                .partition(partition)
                .key(value)
                .payload(value),
        )
        .map_err(|(e, _)| e)
        .unwrap_or_else(|e| panic!("enqueue {value} to {topic}/{partition}: {e:?}"));
}

/// Flushes and panics unless every delivery report so far is a success.
fn flush_ok(producer: &TestProducer) {
    producer
        .flush(TXN_CALL)
        .unwrap_or_else(|e| panic!("flush: {e:?}"));
    let failed: Vec<_> = producer
        .context()
        .reports()
        .into_iter()
        .filter(|r| r.error.is_some())
        .collect();
    assert!(failed.is_empty(), "delivery failures: {failed:?}");
}

/// A record a consumer returned.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    topic: String,
    partition: i32,
    offset: i64,
    value: String,
}

/// The values of `records`, in the order read.
fn values(records: &[Rec]) -> Vec<String> {
    records.iter().map(|r| r.value.clone()).collect()
}

fn poll_into(consumer: &BaseConsumer, out: &mut Vec<Rec>, timeout: Duration) {
    match consumer.poll(timeout) {
        Some(Ok(m)) => out.push(Rec {
            topic: m.topic().to_string(),
            partition: m.partition(),
            offset: m.offset(),
            value: String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
        }),
        Some(Err(e)) => panic!("consumer error after {} records: {e:?}", out.len()),
        None => {}
    }
}

fn isolated_consumer(addr: SocketAddr, isolation: &str) -> BaseConsumer {
    consumer(&addr.to_string(), &[("isolation.level", isolation)])
}

fn assign_beginning(consumer: &BaseConsumer, parts: &[(&str, i32)]) {
    let mut tpl = TopicPartitionList::new();
    for (topic, partition) in parts {
        tpl.add_partition_offset(topic, *partition, Offset::Beginning)
            .expect("add partition");
    }
    consumer.assign(&tpl).expect("assign");
}

/// The consumer's position in each of `parts` (-1 while it has none).
fn positions(consumer: &BaseConsumer, parts: &[(&str, i32)]) -> Vec<i64> {
    let position = consumer.position().expect("position");
    parts
        .iter()
        .map(|(topic, partition)| {
            match position
                .find_partition(topic, *partition)
                .map(|e| e.offset())
            {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            }
        })
        .collect()
}

/// Reads `parts` from the beginning with `isolation` until the consumer's position in every partition is its
/// high watermark (read_uncommitted, so the markers count), and returns what it read. The position reaching the
/// high watermark is how the test knows it has seen everything: a consumer's position moves past the markers and
/// the aborted records it skips, so a read_committed consumer reaches it too once nothing is left open.
fn read_to_end(addr: SocketAddr, isolation: &str, parts: &[(&str, i32)]) -> Vec<Rec> {
    let ends = settled_ends(addr, parts);
    let consumer = isolated_consumer(addr, isolation);
    assign_beginning(&consumer, parts);
    let mut out = Vec::new();
    let mut at = Vec::new();
    let reached = wait_until(READ_TIMEOUT, || {
        poll_into(&consumer, &mut out, Duration::from_millis(50));
        at = positions(&consumer, parts);
        at.iter().zip(&ends).all(|(at, end)| at >= end)
    });
    assert!(
        reached,
        "{isolation} consumer of {parts:?} at {at:?}, not at the high watermarks {ends:?}, after \
         {READ_TIMEOUT:?}; read {:?}",
        values(&out)
    );
    assert_eq!(
        at, ends,
        "{isolation}: positions past the high watermarks of {parts:?}"
    );
    out
}

/// The high watermarks of `parts` once each equals its last stable offset. Kafka answers EndTxn once the
/// outcome is in its transaction log and writes the markers afterwards, so right after `commit_transaction` or
/// `abort_transaction` returns a partition may not have its marker yet.
fn settled_ends(addr: SocketAddr, parts: &[(&str, i32)]) -> Vec<i64> {
    let mut at = Vec::new();
    let settled = wait_until(READ_TIMEOUT, || {
        at = parts
            .iter()
            .map(|(t, p)| (list_offset(addr, t, *p, 1), list_offset(addr, t, *p, 0)))
            .collect();
        let settled = at.iter().all(|(lso, high)| lso == high);
        if !settled {
            thread::sleep(Duration::from_millis(20));
        }
        settled
    });
    assert!(
        settled,
        "(LSO, high watermark) of {parts:?} still apart after {READ_TIMEOUT:?}: {at:?}"
    );
    at.into_iter().map(|(_, high)| high).collect()
}

/// Asserts that `records` hold exactly `expected` per partition, in this order.
fn assert_per_partition(records: &[Rec], expected: &BTreeMap<(String, i32), Vec<String>>) {
    let mut got: BTreeMap<(String, i32), Vec<String>> = BTreeMap::new();
    for r in records {
        got.entry((r.topic.clone(), r.partition))
            .or_default()
            .push(r.value.clone());
    }
    got.retain(|_, v| !v.is_empty());
    let mut expected = expected.clone();
    expected.retain(|_, v| !v.is_empty());
    assert_eq!(got, expected, "records per partition");
}

/// A transactional error's librdkafka classification, for failure messages and assertions.
fn txn_error(e: &KafkaError) -> (RDKafkaErrorCode, bool, bool) {
    match e {
        KafkaError::Transaction(t) => (t.code(), t.is_fatal(), t.txn_requires_abort()),
        other => (
            other.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
            false,
            false,
        ),
    }
}

// ---------------------------------------------------------------------------------------------------------------
// Raw requests

/// The latest offset of `topic`/`partition` by ListOffsets with `isolation` (0 read_uncommitted: the high
/// watermark; 1 read_committed: the last stable offset).
fn list_offset(addr: SocketAddr, topic: &str, partition: i32, isolation: i8) -> i64 {
    // v2 is the first with an isolation level; v7 the last before KIP-1023's fields, which both brokers know.
    let version = Versions::fetch(addr).pick(ApiKey::ListOffsets, 2, 7);
    let request = ListOffsetsRequest::default()
        .with_replica_id(BrokerId(-1))
        .with_isolation_level(isolation)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(partition)
                .with_timestamp(-1)])]);
    let response = RawConn::connect(addr).request(version, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(
        p.error_code, 0,
        "ListOffsets {topic}/{partition} isolation {isolation}"
    );
    p.offset
}

/// What one read_committed Fetch of a partition from offset 0 returns.
#[derive(Debug)]
struct CommittedFetch {
    high_watermark: i64,
    last_stable_offset: i64,
    /// Offsets of the data records returned (control records left out).
    offsets: Vec<i64>,
    /// Offsets of the control records returned.
    control: Vec<i64>,
    aborted_producers: Vec<i64>,
}

fn fetch_committed(addr: SocketAddr, topic: &str, partition: i32) -> CommittedFetch {
    let version = raw::fetch_version(addr);
    let request = raw::fetch_request(topic, partition, 0, 0).with_isolation_level(1);
    let response = RawConn::connect(addr).request(version, &request);
    let data = &response.responses[0].partitions[0];
    assert_eq!(
        data.error_code, 0,
        "read_committed Fetch {topic}/{partition}"
    );
    let mut records = data.records.clone().unwrap_or_default();
    let sets = RecordBatchDecoder::decode_all(&mut records).expect("decode fetched batches");
    let (control, data_records): (Vec<&Record>, Vec<&Record>) = sets
        .iter()
        .flat_map(|s| &s.records)
        .partition(|r| r.control);
    CommittedFetch {
        high_watermark: data.high_watermark,
        last_stable_offset: data.last_stable_offset,
        offsets: data_records.iter().map(|r| r.offset).collect(),
        control: control.iter().map(|r| r.offset).collect(),
        aborted_producers: data
            .aborted_transactions
            .iter()
            .flatten()
            .map(|a| a.producer_id.0)
            .collect(),
    }
}

/// Asks for the transaction coordinator of `txn_id` until one answers: Kafka creates its transaction state topic
/// on the first such request and loads it a moment later.
fn find_txn_coordinator(conn: &mut RawConn, addr: SocketAddr, txn_id: &str) {
    let version = Versions::fetch(addr).pick(ApiKey::FindCoordinator, 1, 4);
    let request = if version >= 4 {
        FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_coordinator_keys(vec![str_bytes(txn_id)])
    } else {
        FindCoordinatorRequest::default()
            .with_key_type(1)
            .with_key(str_bytes(txn_id))
    };
    let mut last = -1;
    let found = wait_until(Duration::from_secs(60), || {
        let response = conn.request(version, &request);
        last = if version >= 4 {
            response.coordinators[0].error_code
        } else {
            response.error_code
        };
        let retry = matches!(
            last,
            COORDINATOR_LOAD_IN_PROGRESS | COORDINATOR_NOT_AVAILABLE | NOT_COORDINATOR
        );
        if retry {
            thread::sleep(Duration::from_millis(100));
        }
        !retry
    });
    assert!(
        found && last == 0,
        "FindCoordinator v{version} (transaction) for {txn_id}: error {last}"
    );
}

fn init_version(addr: SocketAddr) -> i16 {
    // v3 added the producer id and epoch a producer resumes with; v5 is the codec's last without KIP-939's 2PC.
    Versions::fetch(addr).pick(ApiKey::InitProducerId, 0, 5)
}

/// InitProducerId for `txn_id` (None: idempotent only), retried while the coordinator is loading or is
/// completing an earlier transaction of the id; returns the last answer.
fn init_producer_id(
    conn: &mut RawConn,
    addr: SocketAddr,
    txn_id: Option<&str>,
    timeout_ms: i32,
) -> InitProducerIdResponse {
    let version = init_version(addr);
    let request = InitProducerIdRequest::default()
        .with_transactional_id(txn_id.map(|t| TransactionalId(str_bytes(t))))
        .with_transaction_timeout_ms(timeout_ms);
    let mut response = None;
    wait_until(Duration::from_secs(60), || {
        let r = conn.request(version, &request);
        let retry = matches!(
            r.error_code,
            COORDINATOR_LOAD_IN_PROGRESS
                | COORDINATOR_NOT_AVAILABLE
                | NOT_COORDINATOR
                | CONCURRENT_TRANSACTIONS
        );
        response = Some(r);
        if retry {
            thread::sleep(Duration::from_millis(100));
        }
        !retry
    });
    response.expect("at least one answer")
}

/// A producer id and epoch for `txn_id`, from a broker whose coordinator is ready.
fn init_txn(conn: &mut RawConn, addr: SocketAddr, txn_id: &str) -> (i64, i16) {
    find_txn_coordinator(conn, addr, txn_id);
    let r = init_producer_id(conn, addr, Some(txn_id), 60_000);
    assert_eq!(r.error_code, 0, "InitProducerId {txn_id}: {r:?}");
    (r.producer_id.0, r.producer_epoch)
}

/// AddPartitionsToTxn (v0-3 form) of `partitions` of `topic`; the error code of each partition.
fn add_partitions_v3(
    conn: &mut RawConn,
    version: i16,
    txn_id: &str,
    pid: i64,
    epoch: i16,
    topic: &str,
    partitions: &[i32],
) -> Vec<i16> {
    let request = AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(str_bytes(txn_id)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partitions(partitions.to_vec())]);
    let mut codes = Vec::new();
    wait_until(Duration::from_secs(30), || {
        let response = conn.request(version, &request);
        codes = response
            .results_by_topic_v3_and_below
            .iter()
            .flat_map(|t| &t.results_by_partition)
            .map(|p| p.partition_error_code)
            .collect();
        // The previous transaction's markers may still be on their way.
        let retry = codes.contains(&CONCURRENT_TRANSACTIONS);
        if retry {
            thread::sleep(Duration::from_millis(50));
        }
        !retry
    });
    codes
}

/// A transactional batch of `count` records from sequence `first_seq`.
fn txn_batch(pid: i64, epoch: i16, first_seq: i32, count: i32) -> Bytes {
    let now = now_ms();
    let records: Vec<Record> = (0..count)
        .map(|i| Record {
            transactional: true,
            producer_id: pid,
            producer_epoch: epoch,
            ..raw::record(
                i64::from(i),
                now,
                None,
                Some(Bytes::from(format!("txn-{pid}-{i}"))),
            )
        })
        .collect();
    let mut batch = raw::encode_batch(&records, Compression::None);
    // `encode_batch` numbers sequences from -1 (no idempotence); a transactional batch carries real ones. The
    // header's base sequence sits at byte 53; the CRC (at 17) covers everything from the attributes (21) on.
    batch[53..57].copy_from_slice(&first_seq.to_be_bytes());
    let crc = crc32c::crc32c(&batch[21..]);
    batch[17..21].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

// ---------------------------------------------------------------------------------------------------------------
// librdkafka

/// Two topics of two partitions each: the four partitions a transaction spans.
fn two_topics(broker: &Broker, prefix: &str) -> (String, String) {
    let a = unique_topic(&format!("{prefix}-a"));
    let b = unique_topic(&format!("{prefix}-b"));
    create_topic(&broker.bootstrap(), &a, 2);
    create_topic(&broker.bootstrap(), &b, 2);
    (a, b)
}

fn spanned<'a>(a: &'a str, b: &'a str) -> Vec<(&'a str, i32)> {
    vec![(a, 0), (a, 1), (b, 0), (b, 1)]
}

/// Sends `n` records tagged `tag` round-robin over `parts` in the open transaction; returns what each partition
/// should hold, in order.
fn send_spread(
    producer: &TestProducer,
    parts: &[(&str, i32)],
    tag: &str,
    n: usize,
) -> BTreeMap<(String, i32), Vec<String>> {
    let mut expected: BTreeMap<(String, i32), Vec<String>> = BTreeMap::new();
    for i in 0..n {
        let (topic, partition) = parts[i % parts.len()];
        let value = format!("{tag}-{i}");
        send(producer, topic, partition, &value);
        expected
            .entry((topic.to_string(), partition))
            .or_default()
            .push(value);
    }
    expected
}

#[test]
fn committed_transaction_is_read_once_without_its_markers() {
    let broker = Broker::start();
    let (a, b) = two_topics(&broker, "txn-commit");
    let parts = spanned(&a, &b);
    let producer = txn_producer(broker.addr(), &unique_topic("txn-commit"), &[]);

    const N: usize = 20;
    producer.begin_transaction().expect("begin_transaction");
    let expected = send_spread(&producer, &parts, "c", N);
    producer
        .commit_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));
    flush_ok(&producer);

    for isolation in ["read_committed", "read_uncommitted"] {
        let records = read_to_end(broker.addr(), isolation, &parts);
        assert_per_partition(&records, &expected);
        for (topic, partition) in &parts {
            // Each partition holds its N/4 records and one commit marker, which takes an offset of its own and
            // which no consumer returns.
            let high = list_offset(broker.addr(), topic, *partition, 0);
            assert_eq!(high, (N / parts.len()) as i64 + 1, "{topic}/{partition}");
            assert_eq!(
                list_offset(broker.addr(), topic, *partition, 1),
                high,
                "{topic}/{partition}: the last stable offset once the transaction committed"
            );
        }
    }
    let fetched = fetch_committed(broker.addr(), &a, 0);
    assert_eq!(
        fetched.control,
        vec![(N / parts.len()) as i64],
        "{fetched:?}"
    );
    assert!(fetched.aborted_producers.is_empty(), "{fetched:?}");
}

#[test]
fn aborted_transaction_is_read_only_by_read_uncommitted() {
    let broker = Broker::start();
    let (a, b) = two_topics(&broker, "txn-abort");
    let parts = spanned(&a, &b);
    let producer = txn_producer(broker.addr(), &unique_topic("txn-abort"), &[]);

    const N: usize = 12;
    producer.begin_transaction().expect("begin_transaction");
    let aborted = send_spread(&producer, &parts, "aborted", N);
    // Delivered first: abort_transaction purges what is still queued, and the test wants the records in the log.
    flush_ok(&producer);
    producer
        .abort_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("abort_transaction: {:?}", txn_error(&e)));

    let none = read_to_end(broker.addr(), "read_committed", &parts);
    assert!(
        none.is_empty(),
        "read_committed returned aborted records: {none:?}"
    );
    let all = read_to_end(broker.addr(), "read_uncommitted", &parts);
    assert_per_partition(&all, &aborted);

    producer.begin_transaction().expect("begin_transaction");
    let committed = send_spread(&producer, &parts, "committed", N);
    producer
        .commit_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));

    let read = read_to_end(broker.addr(), "read_committed", &parts);
    assert_per_partition(&read, &committed);
    let mut both = aborted.clone();
    for (key, values) in &committed {
        both.entry(key.clone())
            .or_default()
            .extend(values.iter().cloned());
    }
    let all = read_to_end(broker.addr(), "read_uncommitted", &parts);
    assert_per_partition(&all, &both);

    // The fetch that serves the aborted records names their producer, for the client to filter them.
    let fetched = fetch_committed(broker.addr(), &a, 0);
    assert_eq!(fetched.aborted_producers.len(), 1, "{fetched:?}");
    let per = (N / parts.len()) as i64;
    assert_eq!(fetched.control, vec![per, 2 * per + 1], "{fetched:?}");
}

#[test]
fn read_committed_stops_at_an_open_transaction() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = unique_topic("txn-lso");
    create_topic(&broker.bootstrap(), &topic, 1);
    let parts = [(topic.as_str(), 0)];

    // Three plain records first, so the open transaction starts at offset 3, not at the log start.
    let plain = producer(&broker.bootstrap(), &[]);
    for i in 0..3 {
        send(&plain, &topic, 0, &format!("plain-{i}"));
    }
    flush_ok(&plain);

    let txn = txn_producer(addr, &unique_topic("txn-lso"), &[]);
    txn.begin_transaction().expect("begin_transaction");
    for i in 0..5 {
        send(&txn, &topic, 0, &format!("open-{i}"));
    }
    flush_ok(&txn);

    assert_eq!(list_offset(addr, &topic, 0, 0), 8, "high watermark");
    assert_eq!(
        list_offset(addr, &topic, 0, 1),
        3,
        "last stable offset: the open transaction's first offset"
    );
    let fetched = fetch_committed(addr, &topic, 0);
    assert_eq!(
        (fetched.high_watermark, fetched.last_stable_offset),
        (8, 3),
        "{fetched:?}"
    );
    assert_eq!(fetched.offsets, vec![0, 1, 2], "{fetched:?}");

    // librdkafka's watermarks follow the consumer's isolation level: the high one is the last stable offset.
    let committed = isolated_consumer(addr, "read_committed");
    assert_eq!(
        committed
            .fetch_watermarks(&topic, 0, TXN_CALL)
            .expect("watermarks"),
        (0, 3)
    );
    let uncommitted = isolated_consumer(addr, "read_uncommitted");
    assert_eq!(
        uncommitted
            .fetch_watermarks(&topic, 0, TXN_CALL)
            .expect("watermarks"),
        (0, 8)
    );

    // The read_committed consumer gets the plain records and stops at the open transaction. Nothing proves that
    // nothing more would come, so it gets a short window to show it does not.
    assign_beginning(&committed, &parts);
    let mut seen = Vec::new();
    wait_until(READ_TIMEOUT, || {
        poll_into(&committed, &mut seen, Duration::from_millis(50));
        seen.len() >= 3
    });
    let quiet = Instant::now() + Duration::from_millis(500);
    while Instant::now() < quiet {
        poll_into(&committed, &mut seen, Duration::from_millis(50));
    }
    assert_eq!(values(&seen), ["plain-0", "plain-1", "plain-2"]);
    assert_eq!(positions(&committed, &parts), [3]);

    txn.commit_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));
    let done = wait_until(READ_TIMEOUT, || {
        poll_into(&committed, &mut seen, Duration::from_millis(50));
        positions(&committed, &parts) == [9]
    });
    assert!(done, "read_committed consumer after commit: {seen:?}");
    let expected: Vec<String> = (0..3)
        .map(|i| format!("plain-{i}"))
        .chain((0..5).map(|i| format!("open-{i}")))
        .collect();
    assert_eq!(values(&seen), expected);
    assert_eq!(
        list_offset(addr, &topic, 0, 1),
        9,
        "last stable offset after commit"
    );
}

/// A consumer of `group` that reads committed data and commits nothing by itself.
fn group_consumer(addr: SocketAddr, group: &str) -> BaseConsumer {
    consumer(
        &addr.to_string(),
        &[
            ("group.id", group),
            ("isolation.level", "read_committed"),
            ("session.timeout.ms", "10000"),
        ],
    )
}

/// The group's committed offset of each partition (-1 where it has none), by OffsetFetch.
fn committed_of(consumer: &BaseConsumer, topic: &str, partitions: i32) -> Vec<i64> {
    let mut tpl = TopicPartitionList::new();
    for p in 0..partitions {
        tpl.add_partition(topic, p);
    }
    let committed = consumer
        .committed_offsets(tpl, TXN_CALL)
        .expect("OffsetFetch");
    (0..partitions)
        .map(
            |p| match committed.find_partition(topic, p).map(|e| e.offset()) {
                Some(Offset::Offset(o)) => o,
                _ => -1,
            },
        )
        .collect()
}

#[test]
fn consume_transform_produce_commits_offsets_with_the_output() {
    const M: usize = 30;
    const BATCH: usize = 6;
    let broker = Broker::start();
    let addr = broker.addr();
    let input = unique_topic("ctp-in");
    let output = unique_topic("ctp-out");
    create_topic(&broker.bootstrap(), &input, 2);
    create_topic(&broker.bootstrap(), &output, 2);
    let plain = producer(&broker.bootstrap(), &[]);
    for i in 0..M {
        send(&plain, &input, (i % 2) as i32, &format!("in-{i}"));
    }
    flush_ok(&plain);
    let input_end = [
        list_offset(addr, &input, 0, 0),
        list_offset(addr, &input, 1, 0),
    ];

    let group = unique_topic("ctp-group");
    let txn = txn_producer(addr, &unique_topic("ctp"), &[]);
    let worker = group_consumer(addr, &group);
    worker.subscribe(&[&input]).expect("subscribe");

    // Each batch: consume up to BATCH records, produce one output record per input record, hand the offsets after
    // them to the transaction, commit. The second batch is aborted instead, and re-read from where the group's
    // offsets (unchanged by the abort) say.
    let mut committed_next: HashMap<i32, i64> = HashMap::new();
    let mut done = 0;
    let mut batches = 0;
    let mut aborted_size = 0;
    let deadline = Instant::now() + Duration::from_secs(60);
    while done < M {
        assert!(
            Instant::now() < deadline,
            "consume-transform-produce stuck after {done} of {M} records"
        );
        let mut batch = Vec::new();
        while batch.len() < BATCH {
            let before = batch.len();
            poll_into(&worker, &mut batch, Duration::from_millis(200));
            if batch.len() == before {
                break;
            }
        }
        if batch.is_empty() {
            continue;
        }
        txn.begin_transaction().expect("begin_transaction");
        let mut next: HashMap<i32, i64> = HashMap::new();
        let mut first: HashMap<i32, i64> = HashMap::new();
        for r in &batch {
            send(&txn, &output, r.partition, &format!("out-{}", r.value));
            next.insert(r.partition, r.offset + 1);
            first.entry(r.partition).or_insert(r.offset);
        }
        let mut offsets = TopicPartitionList::new();
        for (p, o) in &next {
            offsets
                .add_partition_offset(&input, *p, Offset::Offset(*o))
                .expect("offset");
        }
        let metadata = worker.group_metadata().expect("group metadata");
        txn.send_offsets_to_transaction(&offsets, &metadata, TXN_CALL)
            .unwrap_or_else(|e| panic!("send_offsets_to_transaction: {:?}", txn_error(&e)));
        if batches == 1 {
            flush_ok(&txn);
            txn.abort_transaction(TXN_CALL)
                .unwrap_or_else(|e| panic!("abort_transaction: {:?}", txn_error(&e)));
            aborted_size = batch.len();
            let expect: Vec<i64> = (0..2)
                .map(|p| committed_next.get(&p).copied().unwrap_or(-1))
                .collect();
            assert_eq!(
                committed_of(&worker, &input, 2),
                expect,
                "the group's offsets after the aborted batch: those of the last committed one"
            );
            for (p, o) in &first {
                worker
                    .seek(&input, *p, Offset::Offset(*o), TXN_CALL)
                    .unwrap_or_else(|e| panic!("seek {input}/{p} to {o}: {e:?}"));
            }
        } else {
            txn.commit_transaction(TXN_CALL)
                .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));
            committed_next.extend(next);
            done += batch.len();
        }
        batches += 1;
    }
    assert!(aborted_size > 0, "no batch was aborted");
    assert_eq!(
        committed_of(&worker, &input, 2),
        input_end,
        "the group's offsets: the end of the input"
    );
    drop(worker);

    let out_parts = [(output.as_str(), 0), (output.as_str(), 1)];
    let expected: HashSet<String> = (0..M).map(|i| format!("out-in-{i}")).collect();
    let read = read_to_end(addr, "read_committed", &out_parts);
    assert_eq!(read.len(), M, "output records: {:?}", values(&read));
    assert_eq!(values(&read).into_iter().collect::<HashSet<_>>(), expected);
    let all = read_to_end(addr, "read_uncommitted", &out_parts);
    assert_eq!(
        all.len(),
        M + aborted_size,
        "read_uncommitted sees the aborted batch too"
    );

    // A second run of the group starts at the end of the input: the first record it gets is one written now.
    let again = group_consumer(addr, &group);
    again.subscribe(&[&input]).expect("subscribe");
    assert_eq!(committed_of(&again, &input, 2), input_end);
    let mut seen = Vec::new();
    let assigned = wait_until(READ_TIMEOUT, || {
        poll_into(&again, &mut seen, Duration::from_millis(50));
        again.assignment().map(|a| a.count()).unwrap_or(0) == 2
    });
    assert!(assigned, "second run never got its partitions");
    send(&plain, &input, 0, "late");
    flush_ok(&plain);
    wait_until(READ_TIMEOUT, || {
        poll_into(&again, &mut seen, Duration::from_millis(50));
        !seen.is_empty()
    });
    assert_eq!(
        values(&seen),
        ["late"],
        "the second run re-read processed input"
    );
    assert_eq!(seen[0].offset, input_end[0]);
}

#[test]
fn second_producer_with_the_same_id_fences_the_first() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = unique_topic("txn-fence");
    create_topic(&broker.bootstrap(), &topic, 1);
    let parts = [(topic.as_str(), 0)];
    let txn_id = unique_topic("txn-fence");

    let a = txn_producer(addr, &txn_id, &[]);
    a.begin_transaction().expect("begin_transaction");
    for i in 0..3 {
        send(&a, &topic, 0, &format!("zombie-{i}"));
    }
    flush_ok(&a);

    // B's InitProducerId bumps the epoch and aborts A's open transaction.
    let b = txn_producer(addr, &txn_id, &[]);

    // A learns it is fenced on its next request: the produce fails, and so does the commit, fatally.
    let _ = a.send(
        BaseRecord::<str, str, usize>::with_opaque_to(&topic, 1)
            .partition(0)
            .payload("zombie-late"),
    );
    let _ = a.flush(TXN_CALL);
    let err = a
        .commit_transaction(TXN_CALL)
        .expect_err("a fenced producer's commit succeeded");
    let (code, fatal, _) = txn_error(&err);
    assert!(
        fatal,
        "fenced producer's commit error is not fatal: {err:?}"
    );
    assert_eq!(code, RDKafkaErrorCode::Fenced, "{err:?}");
    drop(a);

    b.begin_transaction().expect("begin_transaction");
    send(&b, &topic, 0, "b-0");
    send(&b, &topic, 0, "b-1");
    b.commit_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));

    let read = read_to_end(addr, "read_committed", &parts);
    assert_eq!(values(&read), ["b-0", "b-1"]);
}

/// Both brokers look for expired transactions this often (Kafka every 10 s by default, Sluice every 1 s).
const EXPIRY_CHECK: &str = "transaction_abort_timed_out_transaction_cleanup_interval_ms: 500\n";

#[test]
fn broker_aborts_a_transaction_past_its_timeout() {
    let broker = Broker::start_with(EXPIRY_CHECK);
    let addr = broker.addr();
    let topic = unique_topic("txn-timeout");
    create_topic(&broker.bootstrap(), &topic, 1);
    let parts = [(topic.as_str(), 0)];

    // librdkafka wants message.timeout.ms no longer than transaction.timeout.ms.
    let stalled = txn_producer(
        addr,
        &unique_topic("txn-timeout"),
        &[
            ("transaction.timeout.ms", "2000"),
            ("message.timeout.ms", "2000"),
        ],
    );
    stalled.begin_transaction().expect("begin_transaction");
    for i in 0..3 {
        send(&stalled, &topic, 0, &format!("stalled-{i}"));
    }
    flush_ok(&stalled);
    assert_eq!(
        list_offset(addr, &topic, 0, 1),
        0,
        "LSO with the transaction open"
    );

    let mut lso = 0;
    let aborted = wait_until(Duration::from_secs(60), || {
        lso = list_offset(addr, &topic, 0, 1);
        if lso == 0 {
            thread::sleep(Duration::from_millis(100));
        }
        lso > 0
    });
    assert!(aborted, "the broker never aborted the expired transaction");
    assert_eq!(lso, 4, "LSO past the three records and the abort marker");
    let read = read_to_end(addr, "read_committed", &parts);
    assert!(
        read.is_empty(),
        "read_committed sees an expired transaction: {read:?}"
    );

    let err = stalled
        .commit_transaction(TXN_CALL)
        .expect_err("commit of an expired transaction succeeded");
    // The broker bumped the producer's epoch when it aborted (KIP-360), so the producer finds itself fenced.
    let (code, fatal, _) = txn_error(&err);
    assert_eq!((code, fatal), (RDKafkaErrorCode::Fenced, true), "{err:?}");
}

#[test]
fn transaction_timeout_above_the_broker_maximum_is_refused() {
    let broker = Broker::start();
    let addr = broker.addr();
    let too_long = (MAX_TXN_TIMEOUT_MS + 1).to_string();
    let producer = new_txn_producer(
        addr,
        &unique_topic("txn-too-long"),
        &[("transaction.timeout.ms", &too_long)],
    );
    let err = producer
        .init_transactions(TXN_CALL)
        .expect_err("init_transactions with a timeout above the maximum succeeded");
    let (code, _, _) = txn_error(&err);
    assert_eq!(code, RDKafkaErrorCode::InvalidTransactionTimeout, "{err:?}");

    let mut conn = RawConn::connect(addr);
    let txn_id = unique_topic("txn-too-long-raw");
    find_txn_coordinator(&mut conn, addr, &txn_id);
    let r = init_producer_id(&mut conn, addr, Some(&txn_id), MAX_TXN_TIMEOUT_MS + 1);
    assert_eq!(r.error_code, INVALID_TRANSACTION_TIMEOUT, "{r:?}");
    let r = init_producer_id(&mut conn, addr, Some(&txn_id), MAX_TXN_TIMEOUT_MS);
    assert_eq!(r.error_code, 0, "the maximum itself is allowed: {r:?}");
}

/// kill -9 with a transaction open, and right after one committed.
///
/// Sluice only. The harness restarts a broker on a new port, which a real Kafka broker never sees. Kafka's
/// coordinator sends its markers to the partition leader (itself) over the network, through the advertised
/// listener; after such a restart its marker sender failed to reach it in one run of two here ("Connection to node
/// 1 could not be established", the LSO stuck below the abort for 60 s), apparently still on the old address.
/// Sluice writes its markers in process.
#[test]
fn kill9_aborts_the_open_transaction_and_keeps_the_committed_one() {
    if is_reference_kafka() {
        eprintln!("skipped against the reference Kafka: see the test's comment");
        return;
    }
    let mut broker = Broker::start_own_with(EXPIRY_CHECK);
    let topic = unique_topic("txn-kill9");
    create_topic(&broker.bootstrap(), &topic, 1);
    let parts = [(topic.as_str(), 0)];
    let settings = [
        ("transaction.timeout.ms", "3000"),
        ("message.timeout.ms", "3000"),
    ];

    // A committed transaction, then one left open when the broker dies.
    let producer = txn_producer(broker.addr(), &unique_topic("txn-kill9-open"), &settings);
    producer.begin_transaction().expect("begin_transaction");
    for i in 0..4 {
        send(&producer, &topic, 0, &format!("committed-{i}"));
    }
    producer
        .commit_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));
    producer.begin_transaction().expect("begin_transaction");
    for i in 0..4 {
        send(&producer, &topic, 0, &format!("open-{i}"));
    }
    flush_ok(&producer);
    drop(producer);
    broker.kill9();
    broker.start_again();

    // After the restart the open transaction expires like any other: the LSO reaches the high watermark, which
    // is past its abort marker.
    let addr = broker.addr();
    let mut at = (0, 0);
    let settled = wait_until(Duration::from_secs(60), || {
        at = (
            list_offset(addr, &topic, 0, 1),
            list_offset(addr, &topic, 0, 0),
        );
        let settled = at.0 == at.1 && at.1 >= 10;
        if !settled {
            thread::sleep(Duration::from_millis(100));
        }
        settled
    });
    assert!(
        settled,
        "(LSO, high watermark) {at:?} after the restart; logs:\n{}",
        broker.logs()
    );
    let read = read_to_end(addr, "read_committed", &parts);
    assert_eq!(
        values(&read),
        ["committed-0", "committed-1", "committed-2", "committed-3"]
    );

    // A transaction whose commit returned just before kill -9: all of it is there after the restart.
    let producer = txn_producer(addr, &unique_topic("txn-kill9-done"), &settings);
    producer.begin_transaction().expect("begin_transaction");
    for i in 0..4 {
        send(&producer, &topic, 0, &format!("late-{i}"));
    }
    producer
        .commit_transaction(TXN_CALL)
        .unwrap_or_else(|e| panic!("commit_transaction: {:?}", txn_error(&e)));
    broker.kill9();
    drop(producer);
    broker.start_again();
    let addr = broker.addr();
    let settled = wait_until(Duration::from_secs(60), || {
        at = (
            list_offset(addr, &topic, 0, 1),
            list_offset(addr, &topic, 0, 0),
        );
        let settled = at.0 == at.1 && at.1 >= 15;
        if !settled {
            thread::sleep(Duration::from_millis(100));
        }
        settled
    });
    assert!(
        settled,
        "(LSO, high watermark) {at:?} after the restart; logs:\n{}",
        broker.logs()
    );
    let read = read_to_end(addr, "read_committed", &parts);
    let expected: Vec<String> = (0..4)
        .map(|i| format!("committed-{i}"))
        .chain((0..4).map(|i| format!("late-{i}")))
        .collect();
    assert_eq!(values(&read), expected);
}

// ---------------------------------------------------------------------------------------------------------------
// Bad input, with the answers Apache Kafka 4.4 gives (probed against the reference broker)

/// The versions of `key` both the broker and the codec (up to `codec_max`) know.
fn versions_of(addr: SocketAddr, key: ApiKey, codec_max: i16) -> Vec<i16> {
    let (min, max) = Versions::fetch(addr)
        .range(key)
        .unwrap_or_else(|| panic!("the broker does not advertise {key:?}"));
    (min..=max.min(codec_max)).collect()
}

fn produce_code(conn: &mut RawConn, version: i16, request: &ProduceRequest) -> i16 {
    let response = conn.request(version, request);
    response.responses[0].partition_responses[0].error_code
}

#[test]
fn transactional_produce_to_a_partition_not_in_the_transaction_is_refused() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = unique_topic("txn-not-added");
    create_topic(&broker.bootstrap(), &topic, 1);
    let produce_versions = versions_of(addr, ApiKey::Produce, 12);

    // Before KIP-890 part 2 (Produce v11 and older) the broker asks the coordinator whether the partition is in
    // the transaction and refuses the batch if not: INVALID_TXN_STATE, which v11 clients (KIP-890) get as
    // TRANSACTION_ABORTABLE instead.
    for (version, expected) in [
        (3, INVALID_TXN_STATE),
        (9, INVALID_TXN_STATE),
        (11, TRANSACTION_ABORTABLE),
    ] {
        if !produce_versions.contains(&version) {
            continue;
        }
        let mut conn = RawConn::connect(addr);
        let txn_id = unique_topic("txn-not-added");
        let (pid, epoch) = init_txn(&mut conn, addr, &txn_id);
        let request = raw::produce_request(&topic, vec![(0, txn_batch(pid, epoch, 0, 3))])
            .with_transactional_id(Some(TransactionalId(str_bytes(&txn_id))));
        assert_eq!(
            produce_code(&mut conn, version, &request),
            expected,
            "Produce v{version}"
        );
    }
    // A transactional batch in a Produce that names no transactional id is refused by the authorizer's check,
    // which runs with or without an authorizer.
    let mut conn = RawConn::connect(addr);
    let txn_id = unique_topic("txn-no-id");
    let (pid, epoch) = init_txn(&mut conn, addr, &txn_id);
    let request = raw::produce_request(&topic, vec![(0, txn_batch(pid, epoch, 0, 3))]);
    assert_eq!(
        produce_code(&mut conn, *produce_versions.last().unwrap(), &request),
        TRANSACTIONAL_ID_AUTHORIZATION_FAILED,
        "transactional Produce without a transactional id"
    );
    assert_eq!(
        list_offset(addr, &topic, 0, 0),
        0,
        "a refused batch was written"
    );

    // Produce v12 means a transaction version 2 producer (KIP-890 part 2), for which the broker adds the
    // partition to the transaction itself: Kafka 4.4 takes the batch into the open transaction, and does so
    // whether or not transaction.version 2 is finalized (probed with it downgraded to 1 by UpdateFeatures).
    if produce_versions.contains(&12) {
        let request = request.with_transactional_id(Some(TransactionalId(str_bytes(&txn_id))));
        assert_eq!(produce_code(&mut conn, 12, &request), 0, "Produce v12");
        assert_eq!(list_offset(addr, &topic, 0, 0), 3, "high watermark");
        assert_eq!(
            list_offset(addr, &topic, 0, 1),
            0,
            "last stable offset: the transaction is open"
        );
    }
}

fn end_txn(
    conn: &mut RawConn,
    version: i16,
    txn_id: &str,
    pid: i64,
    epoch: i16,
    commit: bool,
) -> i16 {
    let request = EndTxnRequest::default()
        .with_transactional_id(TransactionalId(str_bytes(txn_id)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit);
    conn.request(version, &request).error_code
}

#[test]
fn end_txn_with_a_wrong_epoch_or_producer_is_refused() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = unique_topic("txn-end-epoch");
    create_topic(&broker.bootstrap(), &topic, 1);
    let add_version = Versions::fetch(addr).pick(ApiKey::AddPartitionsToTxn, 0, 3);
    for version in versions_of(addr, ApiKey::EndTxn, 5) {
        let mut conn = RawConn::connect(addr);
        let txn_id = unique_topic("txn-end-epoch");
        // Initialized twice, so there is an older epoch to send as well as a newer one.
        init_txn(&mut conn, addr, &txn_id);
        let (pid, epoch) = init_txn(&mut conn, addr, &txn_id);
        assert!(
            epoch >= 1,
            "the second InitProducerId did not bump the epoch"
        );
        let codes = add_partitions_v3(&mut conn, add_version, &txn_id, pid, epoch, &topic, &[0]);
        assert_eq!(codes, [0], "AddPartitionsToTxn");
        // KIP-588: EndTxn v2 and later tell a fenced producer PRODUCER_FENCED, older ones INVALID_PRODUCER_EPOCH.
        let fenced = if version >= 2 {
            PRODUCER_FENCED
        } else {
            INVALID_PRODUCER_EPOCH
        };
        for wrong in [epoch - 1, epoch + 1] {
            assert_eq!(
                end_txn(&mut conn, version, &txn_id, pid, wrong, true),
                fenced,
                "EndTxn v{version} with epoch {wrong} (current {epoch})"
            );
        }
        assert_eq!(
            end_txn(&mut conn, version, &txn_id, pid + 1, epoch, true),
            INVALID_PRODUCER_ID_MAPPING,
            "EndTxn v{version} with another producer id"
        );
        // Nothing was disturbed: the transaction still ends with the right epoch.
        assert_eq!(
            end_txn(&mut conn, version, &txn_id, pid, epoch, false),
            0,
            "EndTxn v{version} abort with the current epoch"
        );
    }
}

/// Joins `group` as static member `instance` (one member, so it leads and assigns) and returns its generation
/// and member id.
fn join_static(addr: SocketAddr, group: &str, instance: &str) -> (i32, String) {
    let mut conn = RawConn::connect(addr);
    // v5 is the first with group instance ids (KIP-345).
    let version = Versions::fetch(addr).pick(ApiKey::JoinGroup, 5, 7);
    let request = JoinGroupRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_session_timeout_ms(30_000)
        .with_rebalance_timeout_ms(30_000)
        .with_member_id(str_bytes(""))
        .with_group_instance_id(Some(str_bytes(instance)))
        .with_protocol_type(str_bytes("consumer"))
        .with_protocols(vec![JoinGroupRequestProtocol::default()
            .with_name(str_bytes("range"))
            .with_metadata(Bytes::from_static(&[0, 0, 0, 0, 0, 0, 0, 0]))]);
    let joined = conn.request(version, &request);
    assert_eq!(joined.error_code, 0, "JoinGroup: {joined:?}");
    let member = joined.member_id.to_string();
    let sync_version = Versions::fetch(addr).pick(ApiKey::SyncGroup, 3, 4);
    let synced = conn.request(
        sync_version,
        &SyncGroupRequest::default()
            .with_group_id(GroupId(str_bytes(group)))
            .with_generation_id(joined.generation_id)
            .with_member_id(str_bytes(&member))
            .with_group_instance_id(Some(str_bytes(instance)))
            .with_assignments(vec![SyncGroupRequestAssignment::default()
                .with_member_id(str_bytes(&member))
                .with_assignment(Bytes::new())]),
    );
    assert_eq!(synced.error_code, 0, "SyncGroup: {synced:?}");
    (joined.generation_id, member)
}

#[test]
fn txn_offset_commit_from_a_fenced_member_is_refused() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = unique_topic("txn-offsets");
    create_topic(&broker.bootstrap(), &topic, 1);
    let group = unique_topic("txn-offsets-group");
    let (generation, member) = join_static(addr, &group, "instance-1");

    let mut conn = RawConn::connect(addr);
    let txn_id = unique_topic("txn-offsets");
    let (pid, epoch) = init_txn(&mut conn, addr, &txn_id);
    let added = conn.request(
        Versions::fetch(addr).pick(ApiKey::AddOffsetsToTxn, 0, 4),
        &AddOffsetsToTxnRequest::default()
            .with_transactional_id(TransactionalId(str_bytes(&txn_id)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_group_id(GroupId(str_bytes(&group))),
    );
    assert_eq!(added.error_code, 0, "AddOffsetsToTxn: {added:?}");

    let commit = |conn: &mut RawConn,
                  version: i16,
                  generation: i32,
                  member: &str,
                  instance: Option<&str>| {
        let request = TxnOffsetCommitRequest::default()
            .with_transactional_id(TransactionalId(str_bytes(&txn_id)))
            .with_group_id(GroupId(str_bytes(&group)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_generation_id(generation)
            .with_member_id(str_bytes(member))
            .with_group_instance_id(instance.map(str_bytes))
            .with_topics(vec![TxnOffsetCommitRequestTopic::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_partitions(vec![TxnOffsetCommitRequestPartition::default()
                    .with_partition_index(0)
                    .with_committed_offset(1)])]);
        conn.request(version, &request).topics[0].partitions[0].error_code
    };
    for version in versions_of(addr, ApiKey::TxnOffsetCommit, 5) {
        // v3 (KIP-447) added the generation, member and instance ids; older versions commit as no member.
        if version >= 3 {
            let cases = [
                (
                    generation + 1,
                    member.as_str(),
                    Some("instance-1"),
                    ILLEGAL_GENERATION,
                ),
                (
                    generation,
                    "not-a-member",
                    Some("instance-1"),
                    FENCED_INSTANCE_ID,
                ),
                (generation, "not-a-member", None, UNKNOWN_MEMBER_ID),
                (
                    generation,
                    member.as_str(),
                    Some("instance-2"),
                    UNKNOWN_MEMBER_ID,
                ),
                (generation, member.as_str(), Some("instance-1"), 0),
            ];
            for (g, m, instance, expected) in cases {
                assert_eq!(
                    commit(&mut conn, version, g, m, instance),
                    expected,
                    "TxnOffsetCommit v{version} generation {g} member {m} instance {instance:?}"
                );
            }
        }
        assert_eq!(
            commit(&mut conn, version, -1, "", None),
            0,
            "TxnOffsetCommit v{version} as no member"
        );
    }

    // Aborted, the transaction's offsets never become the group's.
    let end_version = Versions::fetch(addr).pick(ApiKey::EndTxn, 0, 5);
    assert_eq!(
        end_txn(&mut conn, end_version, &txn_id, pid, epoch, false),
        0
    );
    let reader = consumer(&broker.bootstrap(), &[("group.id", &group)]);
    assert_eq!(committed_of(&reader, &topic, 1), [-1]);
}

#[test]
fn init_producer_id_with_an_empty_or_long_transactional_id() {
    let broker = Broker::start();
    let addr = broker.addr();
    let mut conn = RawConn::connect(addr);
    find_txn_coordinator(&mut conn, addr, "txn-empty");
    for version in versions_of(addr, ApiKey::InitProducerId, 5) {
        let r = conn.request(
            version,
            &InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(str_bytes(""))))
                .with_transaction_timeout_ms(60_000),
        );
        assert_eq!(
            (r.error_code, r.producer_id.0),
            (INVALID_REQUEST, -1),
            "InitProducerId v{version} with an empty transactional id"
        );
    }
    // Kafka sets no limit below the protocol's own (a string's length is an int16): the longest id works, and
    // works again (the same producer id, the next epoch).
    let long = "t".repeat(i16::MAX as usize);
    find_txn_coordinator(&mut conn, addr, &long);
    let first = init_producer_id(&mut conn, addr, Some(&long), 60_000);
    assert_eq!(first.error_code, 0, "InitProducerId with a 32767-byte id");
    let again = init_producer_id(&mut conn, addr, Some(&long), 60_000);
    assert_eq!(
        again.error_code, 0,
        "InitProducerId with a 32767-byte id, again"
    );
    assert_eq!(again.producer_id, first.producer_id);
    assert_eq!(again.producer_epoch, first.producer_epoch + 1);
}

#[test]
fn add_partitions_to_txn_for_unknown_topics_and_transactional_ids() {
    let broker = Broker::start();
    let addr = broker.addr();
    let topic = unique_topic("txn-add");
    create_topic(&broker.bootstrap(), &topic, 1);
    let mut conn = RawConn::connect(addr);
    let txn_id = unique_topic("txn-add");
    let (pid, epoch) = init_txn(&mut conn, addr, &txn_id);
    let missing = unique_topic("txn-add-missing");
    let cases = [
        (
            txn_id.as_str(),
            missing.as_str(),
            0,
            UNKNOWN_TOPIC_OR_PARTITION,
        ),
        (
            txn_id.as_str(),
            topic.as_str(),
            7,
            UNKNOWN_TOPIC_OR_PARTITION,
        ),
        (
            "txn-add-never-initialized",
            topic.as_str(),
            0,
            INVALID_PRODUCER_ID_MAPPING,
        ),
        (txn_id.as_str(), topic.as_str(), 0, 0),
    ];
    let versions = versions_of(addr, ApiKey::AddPartitionsToTxn, 5);
    assert!(
        versions.contains(&3),
        "AddPartitionsToTxn v3 (librdkafka's)"
    );
    for version in versions {
        for (id, t, partition, expected) in cases {
            let codes = if version <= 3 {
                add_partitions_v3(&mut conn, version, id, pid, epoch, t, &[partition])
            } else {
                // v4 and later (KIP-890) batch transactions, for brokers verifying on a producer's behalf; Kafka
                // serves them to anyone (without an authorizer), with or without verify_only.
                let request = AddPartitionsToTxnRequest::default().with_transactions(vec![
                    AddPartitionsToTxnTransaction::default()
                        .with_transactional_id(TransactionalId(str_bytes(id)))
                        .with_producer_id(ProducerId(pid))
                        .with_producer_epoch(epoch)
                        .with_verify_only(false)
                        .with_topics(vec![AddPartitionsToTxnTopic::default()
                            .with_name(TopicName(str_bytes(t)))
                            .with_partitions(vec![partition])]),
                ]);
                let response = conn.request(version, &request);
                assert_eq!(response.error_code, 0, "AddPartitionsToTxn v{version}");
                assert_eq!(response.results_by_transaction.len(), 1);
                response
                    .results_by_transaction
                    .iter()
                    .flat_map(|r| &r.topic_results)
                    .flat_map(|t| &t.results_by_partition)
                    .map(|p| p.partition_error_code)
                    .collect()
            };
            assert_eq!(
                codes,
                [expected],
                "AddPartitionsToTxn v{version}: {id} {t}/{partition}"
            );
        }
    }
}
