//! The idempotent producer end to end: InitProducerId, retries recognised as duplicates, sequence gaps and
//! stale epochs refused, producer state surviving kill -9 and expiring when idle, and librdkafka's
//! `enable.idempotence` delivering exactly once across a broker restart.
//!
//! The raw tests hand-build record batches with a producer id, epoch and base sequence, and hold the broker to
//! Kafka's `ProducerStateManager`: a retry of one of the producer's last five batches (same epoch, same first
//! and last sequence) is answered with its original base offset and writes nothing; the next sequence
//! appends; a gap is OUT_OF_ORDER_SEQUENCE_NUMBER; an older epoch is INVALID_PRODUCER_EPOCH; a newer epoch
//! must start at sequence 0; a producer the partition holds no state for may start anywhere.
//!
//! Every test also runs against Apache Kafka 4.4 (`SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh`, one test
//! thread); where Sluice deliberately differs, the test says so and checks each broker for its own answer. The
//! librdkafka tests put a small TCP proxy ([`Proxy`]) in front of the broker and have it advertise the proxy, so the
//! producer keeps one address while the broker restarts on another port.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use bytes::Bytes;
use compat_tests::proxy::Proxy;
use compat_tests::raw::{self, str_bytes, RawConn, Versions};
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, flush_delivered, is_reference_kafka,
    now_ms, producer, unique_topic, wait_until, watermarks, Broker, TestProducer,
};
use kafka_protocol::messages::{
    ApiKey, FindCoordinatorRequest, InitProducerIdRequest, InitProducerIdResponse, ProduceRequest,
    ProducerId,
};
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

const INVALID_REQUEST: i16 = 42;
const COORDINATOR_LOAD_IN_PROGRESS: i16 = 14;
const OUT_OF_ORDER_SEQUENCE_NUMBER: i16 = 45;
const INVALID_PRODUCER_EPOCH: i16 = 47;
const INVALID_PRODUCER_ID_MAPPING: i16 = 49;
const TRANSACTIONAL_ID_AUTHORIZATION_FAILED: i16 = 53;
const INVALID_RECORD: i16 = 87;

/// How many of a producer's batches a partition remembers for duplicate detection (Kafka's
/// `ProducerStateEntry.NUM_BATCHES_TO_RETAIN`).
const BATCHES_KEPT: i32 = 5;

// ---------------------------------------------------------------------------------------------------------------
// Batches and requests

/// An idempotent producer's batch: `count` records from sequence `first_seq`.
#[derive(Debug, Clone, Copy)]
struct Spec {
    pid: i64,
    epoch: i16,
    first_seq: i32,
    count: i32,
}

fn spec(pid: i64, epoch: i16, first_seq: i32, count: i32) -> Spec {
    Spec {
        pid,
        epoch,
        first_seq,
        count,
    }
}

/// The sequence `n` records after `first`: sequences wrap from `i32::MAX` to 0.
fn seq_after(first: i32, n: i32) -> i32 {
    ((i64::from(first) + i64::from(n)) % (1i64 << 31)) as i32
}

impl Spec {
    fn last_seq(&self) -> i32 {
        seq_after(self.first_seq, self.count - 1)
    }

    /// The value of record `i`: names the producer, epoch and sequence, so a log reads as what was sent.
    fn value(&self, i: i32) -> String {
        format!(
            "p{}-e{}-s{}",
            self.pid,
            self.epoch,
            seq_after(self.first_seq, i)
        )
    }

    fn values(&self) -> Vec<String> {
        (0..self.count).map(|i| self.value(i)).collect()
    }

    /// The same records as a retry sends them: a producer resends a batch byte for byte.
    fn batch(&self) -> Bytes {
        self.encode(false)
    }

    fn encode(&self, transactional: bool) -> Bytes {
        let now = now_ms();
        // The encoder derives the base sequence from the first record and splits batches wherever
        // `offset - sequence` changes, which a sequence wrapping at i32::MAX (not at 2^32) would do: encode
        // with sequences 0.. and write the real base sequence (and CRC) into the header afterwards.
        let records: Vec<Record> = (0..self.count)
            .map(|i| Record {
                transactional,
                producer_id: self.pid,
                producer_epoch: self.epoch,
                sequence: i,
                ..raw::record(i64::from(i), now, None, Some(Bytes::from(self.value(i))))
            })
            .collect();
        let mut batch = raw::encode_batch(&records, Compression::None);
        set_base_sequence(&mut batch, self.first_seq);
        batch.freeze()
    }
}

// v2 batch header layout: base offset (8), length (4), leader epoch (4), magic (1), CRC (4), then the
// CRC-covered part from the attributes on.
const CRC_AT: usize = 17;
const ATTRIBUTES_AT: usize = 21;
const BASE_SEQUENCE_AT: usize = 53;

fn set_base_sequence(batch: &mut [u8], base_sequence: i32) {
    batch[BASE_SEQUENCE_AT..BASE_SEQUENCE_AT + 4].copy_from_slice(&base_sequence.to_be_bytes());
    let crc = crc32c(&batch[ATTRIBUTES_AT..]);
    batch[CRC_AT..CRC_AT + 4].copy_from_slice(&crc.to_be_bytes());
}

/// CRC-32C (Castagnoli), as record batches carry it. Bitwise: the batches here are small.
fn crc32c(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ 0x82F6_3B78
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

/// A Produce answer for one partition.
#[derive(Debug)]
struct Ack {
    code: i16,
    base_offset: i64,
    /// Read only through `Debug`, in failure messages.
    #[allow(dead_code)]
    message: Option<String>,
}

/// One connection that sends Produce requests for one topic, so they are answered in the order sent.
struct Client {
    conn: RawConn,
    version: i16,
    topic: String,
}

impl Client {
    fn connect(broker: &Broker, topic: &str) -> Client {
        Client {
            conn: RawConn::connect(broker.addr()),
            // v12 is the last version that names topics instead of using topic ids.
            version: Versions::fetch(broker.addr()).pick(ApiKey::Produce, 3, 12),
            topic: topic.to_string(),
        }
    }

    /// Sends `batch` to partition 0 (acks=all) without reading the answer.
    fn send_only(&mut self, batch: Bytes) {
        let request = raw::produce_request(&self.topic, vec![(0, batch)]);
        self.conn.send_request(self.version, &request);
    }

    fn send_bytes(&mut self, batch: Bytes) -> Ack {
        self.send_request(raw::produce_request(&self.topic, vec![(0, batch)]))
    }

    fn send_request(&mut self, request: ProduceRequest) -> Ack {
        let response = self.conn.request(self.version, &request);
        let p = &response.responses[0].partition_responses[0];
        Ack {
            code: p.error_code,
            base_offset: p.base_offset,
            message: p.error_message.as_ref().map(|m| m.to_string()),
        }
    }

    fn send(&mut self, s: Spec) -> Ack {
        self.send_bytes(s.batch())
    }

    /// Sends `s` and panics unless it was written (or recognised) at `base_offset`.
    fn expect_at(&mut self, s: Spec, base_offset: i64, case: &str) {
        let ack = self.send(s);
        assert!(
            ack.code == 0 && ack.base_offset == base_offset,
            "{case}: {s:?} (sequences {}..={}) should be answered with base offset {base_offset}, got {ack:?}",
            s.first_seq,
            s.last_seq()
        );
    }

    /// Sends `s` and panics unless it was refused with `code`.
    fn expect_error(&mut self, s: Spec, code: i16, case: &str) {
        let ack = self.send(s);
        assert_eq!(
            ack.code,
            code,
            "{case}: {s:?} (sequences {}..={}) should be refused with error {code}, got {ack:?}",
            s.first_seq,
            s.last_seq()
        );
    }
}

/// Sends InitProducerId, retrying while the broker answers COORDINATOR_LOAD_IN_PROGRESS as a client does
/// (Kafka does until its producer id manager has a first block of ids from the controller; Sluice never).
fn init_producer_id(
    addr: SocketAddr,
    version: i16,
    request: &InitProducerIdRequest,
) -> InitProducerIdResponse {
    let mut conn = RawConn::connect(addr);
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = conn.request(version, request);
        if response.error_code != COORDINATOR_LOAD_IN_PROGRESS || Instant::now() >= deadline {
            return response;
        }
        thread::sleep(Duration::from_millis(50));
    }
}

/// An InitProducerId request from a producer without a transactional id (the request's default is "").
fn idempotent_init() -> InitProducerIdRequest {
    InitProducerIdRequest::default()
        .with_transactional_id(None)
        .with_transaction_timeout_ms(60_000)
}

/// InitProducerId versions both the broker and the codec (0-5) support.
fn init_versions(addr: SocketAddr) -> std::ops::RangeInclusive<i16> {
    let (min, max) = Versions::fetch(addr)
        .range(ApiKey::InitProducerId)
        .expect("the broker advertises InitProducerId");
    min.max(0)..=max.min(5)
}

/// A fresh producer id, at the highest version both sides support.
fn new_producer(broker: &Broker) -> i64 {
    let version = *init_versions(broker.addr()).end();
    let response = init_producer_id(broker.addr(), version, &idempotent_init());
    assert_eq!(
        (response.error_code, response.producer_epoch),
        (0, 0),
        "InitProducerId v{version}: {response:?}"
    );
    response.producer_id.0
}

/// Creates a topic and waits until its partitions can be read (Kafka elects leaders after
/// CreateTopics returns).
fn create(broker: &Broker, topic: &str, partitions: i32) {
    create_topic(&broker.bootstrap(), topic, partitions);
    let version = raw::fetch_version(broker.addr());
    for partition in 0..partitions {
        let ready = wait_until(Duration::from_secs(30), || {
            let response = RawConn::connect(broker.addr())
                .request(version, &raw::fetch_request(topic, partition, 0, 0));
            response.responses[0].partitions[0].error_code == 0
        });
        assert!(ready, "{topic}/{partition} never became readable");
    }
}

/// Partition 0's high watermark and the value of every record below it, in offset order.
fn read_log(addr: SocketAddr, topic: &str) -> (i64, Vec<String>) {
    let version = raw::fetch_version(addr);
    let mut conn = RawConn::connect(addr);
    let mut values = Vec::new();
    let mut next = 0i64;
    loop {
        let response = conn.request(version, &raw::fetch_request(topic, 0, next, 0));
        let data = &response.responses[0].partitions[0];
        assert_eq!(data.error_code, 0, "Fetch {topic}/0 from {next}");
        if next >= data.high_watermark {
            return (data.high_watermark, values);
        }
        let mut records = data.records.clone().unwrap_or_default();
        let sets = RecordBatchDecoder::decode_all(&mut records).expect("decode fetched batches");
        let before = next;
        for record in sets.iter().flat_map(|s| &s.records) {
            // A batch starting below the fetch offset comes back whole.
            if record.offset < next {
                continue;
            }
            assert_eq!(record.offset, next, "offsets in {topic}/0 are not dense");
            let value = record
                .value
                .as_ref()
                .expect("every record here has a value");
            values.push(String::from_utf8(value.to_vec()).expect("utf-8 value"));
            next += 1;
        }
        assert!(
            next > before,
            "Fetch {topic}/0 from {before} returned nothing below the high watermark"
        );
    }
}

/// The values `specs` write, in order.
fn values_of(specs: &[Spec]) -> Vec<String> {
    specs.iter().flat_map(Spec::values).collect()
}

fn assert_log(broker: &Broker, topic: &str, expected: &[Spec], case: &str) {
    let (high_watermark, values) = read_log(broker.addr(), topic);
    let expected = values_of(expected);
    assert_eq!(values, expected, "{case}: the log holds something else");
    assert_eq!(
        high_watermark,
        expected.len() as i64,
        "{case}: high watermark"
    );
}

// ---------------------------------------------------------------------------------------------------------------
// InitProducerId

#[test]
fn init_producer_id_hands_out_new_ids_that_grow_across_restarts() {
    let mut broker = Broker::start_own();
    let mut before = Vec::new();
    for version in init_versions(broker.addr()) {
        for _ in 0..3 {
            let response = init_producer_id(broker.addr(), version, &idempotent_init());
            assert_eq!(
                (response.error_code, response.producer_epoch),
                (0, 0),
                "InitProducerId v{version}: {response:?}"
            );
            assert!(response.producer_id.0 >= 0, "v{version}: {response:?}");
            before.push(response.producer_id.0);
        }
    }
    let distinct: HashSet<i64> = before.iter().copied().collect();
    assert_eq!(distinct.len(), before.len(), "ids repeat: {before:?}");

    // From v3 a producer may name its current id and epoch (KIP-360); without a transactional id the broker
    // still hands out a new id with epoch 0.
    let version = *init_versions(broker.addr()).end();
    if version >= 3 {
        let current = *before.last().expect("ids were handed out");
        let response = init_producer_id(
            broker.addr(),
            version,
            &idempotent_init()
                .with_producer_id(ProducerId(current))
                .with_producer_epoch(0),
        );
        assert_eq!(response.error_code, 0, "{response:?}");
        assert_eq!(response.producer_epoch, 0, "{response:?}");
        assert!(
            !distinct.contains(&response.producer_id.0),
            "a producer naming its id {current} got an old id back: {response:?}"
        );
        before.push(response.producer_id.0);
    }

    broker.restart();
    let highest = *before.iter().max().expect("ids were handed out");
    let mut previous = highest;
    for _ in 0..3 {
        let id = new_producer(&broker);
        assert!(
            id > previous,
            "id {id} after a restart is not above {previous} (highest before the restart: {highest})"
        );
        previous = id;
    }
}

/// Malformed InitProducerId requests, which Kafka answers INVALID_REQUEST: a producer id without an epoch or an
/// epoch without an id (v3+), and an empty transactional id.
#[test]
fn malformed_init_producer_id_is_invalid() {
    let broker = Broker::start();
    let version = *init_versions(broker.addr()).end();
    assert!(version >= 3, "InitProducerId v3+ is needed, got v{version}");
    for (id, epoch) in [(1234, -1), (-1, 0)] {
        let response = init_producer_id(
            broker.addr(),
            version,
            &idempotent_init()
                .with_producer_id(ProducerId(id))
                .with_producer_epoch(epoch),
        );
        assert_eq!(
            response.error_code, INVALID_REQUEST,
            "InitProducerId v{version} with producer id {id} and epoch {epoch}: {response:?}"
        );
    }
    for version in init_versions(broker.addr()) {
        let response = init_producer_id(
            broker.addr(),
            version,
            &idempotent_init().with_transactional_id(Some(str_bytes("").into())),
        );
        assert_eq!(
            response.error_code, INVALID_REQUEST,
            "InitProducerId v{version} with an empty transactional id: {response:?}"
        );
    }
}

/// A transactional id gets one producer id, and every InitProducerId bumps its epoch (fencing the producers
/// before it), at every version. Kafka answers NOT_COORDINATOR until FindCoordinator made it load its transaction
/// state, so the test asks for the coordinator first and waits that out; Sluice's is ready at once.
#[test]
fn init_producer_id_with_a_transactional_id() {
    let broker = Broker::start();
    let init = || idempotent_init().with_transactional_id(Some(str_bytes("sluice-txn").into()));
    let mut conn = RawConn::connect(broker.addr());
    let mut first = None;
    let ready = wait_until(Duration::from_secs(60), || {
        conn.request(
            4,
            &FindCoordinatorRequest::default()
                .with_key_type(1)
                .with_coordinator_keys(vec![str_bytes("sluice-txn")]),
        );
        let r = init_producer_id(broker.addr(), 4, &init());
        if r.error_code == 0 {
            first = Some((r.producer_id.0, r.producer_epoch));
        }
        r.error_code == 0
    });
    assert!(
        ready,
        "the transaction coordinator never answered InitProducerId"
    );
    let (pid, mut epoch) = first.unwrap();
    for version in init_versions(broker.addr()) {
        let response = init_producer_id(broker.addr(), version, &init());
        epoch += 1;
        assert_eq!(
            (
                response.error_code,
                response.producer_id.0,
                response.producer_epoch
            ),
            (0, pid, epoch),
            "v{version}: {response:?}"
        );
    }
}

/// A transactional batch is written only inside its producer's transaction: without a transactional id it gets
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (Kafka's check of the right to write for the id, which fails for none),
/// and with an id that has no transaction for this producer an error (Sluice: INVALID_PRODUCER_ID_MAPPING; Kafka
/// the same once its transaction coordinator is loaded, NOT_ENOUGH_REPLICAS before). Nothing is written. A
/// non-transactional batch in a Produce that names a transactional id is written by both.
#[test]
fn transactional_batches_outside_a_transaction_are_refused() {
    let broker = Broker::start();
    let topic = unique_topic("idem-txn");
    create(&broker, &topic, 1);
    let pid = new_producer(&broker);
    let mut client = Client::connect(&broker, &topic);
    for txn in [None, Some("sluice-txn")] {
        let request = raw::produce_request(&topic, vec![(0, spec(pid, 0, 0, 2).encode(true))])
            .with_transactional_id(txn.map(|t| str_bytes(t).into()));
        let ack = client.send_request(request);
        let case = format!("a transactional batch, transactional id {txn:?}: {ack:?}");
        match (is_reference_kafka(), txn) {
            (_, None) => assert_eq!(ack.code, TRANSACTIONAL_ID_AUTHORIZATION_FAILED, "{case}"),
            (false, Some(_)) => assert_eq!(ack.code, INVALID_PRODUCER_ID_MAPPING, "{case}"),
            (true, Some(_)) => assert_ne!(ack.code, 0, "{case}"),
        }
    }
    assert_log(&broker, &topic, &[], "after the refusals");

    let idempotent = spec(pid, 0, 0, 2);
    let request = raw::produce_request(&topic, vec![(0, idempotent.batch())])
        .with_transactional_id(Some(str_bytes("sluice-txn").into()));
    let ack = client.send_request(request);
    assert!(
        ack.code == 0 && ack.base_offset == 0,
        "an idempotent batch in a Produce naming a transactional id: {ack:?}"
    );
    assert_log(&broker, &topic, &[idempotent], "at the end");
}

// ---------------------------------------------------------------------------------------------------------------
// Sequences and epochs

#[test]
fn retries_are_recognised_and_gaps_and_stale_epochs_refused() {
    let broker = Broker::start();
    let topic = unique_topic("idem-seq");
    create(&broker, &topic, 1);
    let pid = new_producer(&broker);
    let mut client = Client::connect(&broker, &topic);

    let first = spec(pid, 0, 0, 10);
    client.expect_at(first, 0, "first batch");
    client.expect_at(first, 0, "the same batch again");
    assert_log(&broker, &topic, &[first], "after a retry");

    let second = spec(pid, 0, 10, 10);
    client.expect_at(second, 10, "the next sequence");
    // Still one of the last five: recognised although a later batch was written since.
    client.expect_at(first, 0, "a retry of the batch before the last");
    client.expect_at(second, 10, "a retry of the last batch");

    client.expect_error(
        spec(pid, 0, 25, 5),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a gap (20 expected)",
    );
    client.expect_error(
        spec(pid, 0, 15, 10),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a batch overlapping the last one",
    );
    client.expect_error(
        spec(pid, 0, 0, 5),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a batch with a known first sequence but another last one",
    );
    assert_log(&broker, &topic, &[first, second], "after the refusals");

    // A newer epoch starts over at sequence 0, and fences the older one.
    client.expect_error(
        spec(pid, 1, 5, 5),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a new epoch starting at 5",
    );
    client.expect_error(
        spec(pid, 1, 20, 5),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "a new epoch continuing the old epoch's sequence",
    );
    let bumped = spec(pid, 1, 0, 5);
    client.expect_at(bumped, 20, "a new epoch from 0");
    client.expect_error(
        spec(pid, 0, 20, 10),
        INVALID_PRODUCER_EPOCH,
        "the old epoch's next batch",
    );
    client.expect_error(second, INVALID_PRODUCER_EPOCH, "a retry from the old epoch");
    client.expect_at(bumped, 20, "a retry in the new epoch");
    let next = spec(pid, 1, 5, 3);
    client.expect_at(next, 25, "the new epoch's next batch");

    // Another producer on the same partition has its own sequence.
    let other = new_producer(&broker);
    let other_first = spec(other, 0, 0, 2);
    client.expect_at(other_first, 28, "another producer's first batch");
    client.expect_at(
        next,
        25,
        "the first producer's retry after another producer wrote",
    );

    assert_log(
        &broker,
        &topic,
        &[first, second, bumped, next, other_first],
        "at the end",
    );
}

/// A producer id the partition has no state for may start at any sequence, as in Kafka since KIP-360 (its
/// state may have expired, or been removed with the records that held it).
#[test]
fn an_unknown_producer_may_start_at_any_sequence() {
    let broker = Broker::start();
    let topic = unique_topic("idem-unknown");
    create(&broker, &topic, 1);
    let mut client = Client::connect(&broker, &topic);

    let pid = new_producer(&broker);
    let first = spec(pid, 0, 1000, 3);
    client.expect_at(first, 0, "a new producer starting at 1000");
    client.expect_at(first, 0, "its retry");
    client.expect_error(
        spec(pid, 0, 0, 3),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "sequence 0 once the producer is known",
    );
    let next = spec(pid, 0, 1003, 1);
    client.expect_at(next, 3, "the sequence after 1000-1002");

    // Ids are not checked against those handed out, as in Kafka: any id starts fresh.
    let stranger = spec(pid + 1_000_000, 3, 77, 2);
    client.expect_at(stranger, 4, "an id never handed out, epoch 3");
    assert_log(&broker, &topic, &[first, next, stranger], "at the end");
}

#[test]
fn only_the_last_five_batches_are_remembered() {
    let broker = Broker::start();
    let topic = unique_topic("idem-window");
    create(&broker, &topic, 1);
    let pid = new_producer(&broker);
    let mut client = Client::connect(&broker, &topic);

    // Seven batches of two records: batch i holds sequences 2i and 2i+1, at offsets 2i and 2i+1.
    let batches: Vec<Spec> = (0..7).map(|i| spec(pid, 0, 2 * i, 2)).collect();
    for (i, b) in batches.iter().enumerate() {
        client.expect_at(*b, 2 * i as i64, "in order");
    }
    let remembered = batches.len() - BATCHES_KEPT as usize;
    for (i, b) in batches.iter().enumerate().skip(remembered) {
        client.expect_at(*b, 2 * i as i64, "a retry of one of the last five batches");
    }
    // Older batches are no longer recognised, and are not next either: out of order, as in Kafka.
    for (i, b) in batches.iter().enumerate().take(remembered) {
        client.expect_error(
            *b,
            OUT_OF_ORDER_SEQUENCE_NUMBER,
            &format!("a retry of batch {i}, older than the last five"),
        );
    }
    let next = spec(pid, 0, 14, 1);
    client.expect_at(next, 14, "the next sequence");
    // The window moved: batch 2 fell out.
    client.expect_error(
        batches[2],
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "batch 2, now the sixth-last",
    );
    client.expect_at(batches[3], 6, "batch 3, now the fifth-last");

    let mut all = batches.clone();
    all.push(next);
    assert_log(&broker, &topic, &all, "at the end");
}

#[test]
fn sequences_wrap_from_i32_max_to_zero() {
    let broker = Broker::start();
    let topic = unique_topic("idem-wrap");
    create(&broker, &topic, 1);
    let mut client = Client::connect(&broker, &topic);

    // A batch ending at i32::MAX is followed by sequence 0.
    let pid = new_producer(&broker);
    let to_max = spec(pid, 0, i32::MAX - 1, 2);
    client.expect_at(to_max, 0, "a new producer ending at i32::MAX");
    let from_zero = spec(pid, 0, 0, 3);
    client.expect_at(from_zero, 2, "sequence 0 after i32::MAX");
    client.expect_at(to_max, 0, "a retry of the batch ending at i32::MAX");

    // A batch may itself wrap: sequences i32::MAX, 0, 1.
    let pid = new_producer(&broker);
    let before = spec(pid, 0, i32::MAX - 2, 2);
    client.expect_at(before, 5, "a new producer ending at i32::MAX - 1");
    let across = spec(pid, 0, i32::MAX, 3);
    assert_eq!(across.last_seq(), 1);
    client.expect_at(across, 7, "a batch wrapping past i32::MAX");
    client.expect_at(across, 7, "its retry");
    client.expect_error(
        spec(pid, 0, 0, 1),
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "sequence 0 again",
    );
    let after = spec(pid, 0, 2, 1);
    client.expect_at(after, 10, "the sequence after the wrapped batch");

    assert_log(
        &broker,
        &topic,
        &[to_max, from_zero, before, across, after],
        "at the end",
    );
}

/// Kafka refuses a batch with a producer id but no base sequence (`LogValidator`): INVALID_RECORD.
#[test]
fn a_batch_with_a_producer_id_needs_a_sequence() {
    let broker = Broker::start();
    let topic = unique_topic("idem-noseq");
    create(&broker, &topic, 1);
    let mut client = Client::connect(&broker, &topic);
    let pid = new_producer(&broker);

    let mut batch = spec(pid, 0, 0, 2).batch().to_vec();
    set_base_sequence(&mut batch, -1);
    let ack = client.send_bytes(Bytes::from(batch));
    assert_eq!(
        ack.code, INVALID_RECORD,
        "producer id {pid}, base sequence -1: {ack:?}"
    );
    let (high_watermark, _) = read_log(broker.addr(), &topic);
    assert_eq!(high_watermark, 0, "the refused batch was written");
}

// ---------------------------------------------------------------------------------------------------------------
// Crash and expiry

/// SIGKILLs the broker and, when it is the Kafka wrapper script, the JVM the script started, at the same
/// moment: the script's own watchdog would kill the JVM only after noticing the script is gone, and a
/// JVM that outlives the kill keeps serving and keeps the data directory locked against the restart.
fn kill9(broker: &mut Broker) {
    let children = child_pids(broker.pid());
    for pid in &children {
        let _ = Command::new("kill")
            .args(["-KILL", &pid.to_string()])
            .status();
    }
    let alive = |pid: &u32| {
        std::fs::read_to_string(format!("/proc/{pid}/stat"))
            .is_ok_and(|stat| !stat.contains(") Z "))
    };
    let gone = wait_until(Duration::from_secs(15), || !children.iter().any(alive));
    assert!(gone, "the broker's children {children:?} outlived SIGKILL");
    broker.kill9();
}

/// Processes whose parent is `parent`, from `/proc/*/stat`.
fn child_pids(parent: u32) -> Vec<u32> {
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|entry| {
            let pid: u32 = entry.ok()?.file_name().to_str()?.parse().ok()?;
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
            // Field 4 (the parent) follows the parenthesised command name and the state.
            let after_comm = &stat[stat.rfind(')')? + 1..];
            let ppid: u32 = after_comm.split_whitespace().nth(1)?.parse().ok()?;
            (ppid == parent).then_some(pid)
        })
        .collect()
}

/// An acknowledged batch survives kill -9 together with the producer state that recognises its retry; batches
/// sent but unanswered at the kill are in the log once or not at all, and their retries complete the log
/// without writing anything twice.
#[test]
fn producer_state_survives_kill9() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("idem-crash");
    create(&broker, &topic, 1);
    let pid = new_producer(&broker);
    let mut client = Client::connect(&broker, &topic);

    let acked = [spec(pid, 0, 0, 10), spec(pid, 0, 10, 10)];
    client.expect_at(acked[0], 0, "before the kill");
    client.expect_at(acked[1], 10, "before the kill");
    // Three more batches in flight: sent, never answered.
    let pending: Vec<Spec> = (0..3).map(|i| spec(pid, 0, 20 + 10 * i, 10)).collect();
    for b in &pending {
        client.send_only(b.batch());
    }
    kill9(&mut broker);
    broker.start_again();

    // The acknowledged batches, then a prefix of the pending ones: each whole or absent.
    let (high_watermark, values) = read_log(broker.addr(), &topic);
    let kept = (0..=pending.len())
        .find(|&n| {
            let expected: Vec<Spec> = acked.iter().chain(&pending[..n]).copied().collect();
            values == values_of(&expected)
        })
        .unwrap_or_else(|| panic!("after kill -9 the log is not the acknowledged batches and a prefix of the unanswered ones: {values:?}"));
    assert_eq!(high_watermark, values.len() as i64, "high watermark");
    eprintln!(
        "{kept} of {} unanswered batches were written before the kill",
        pending.len()
    );

    // Every batch is 10 records: batch i sits at offset 10i. The last one written is recognised by both
    // brokers. The ones before it (at most five in all) are recognised by Sluice, which persists its whole
    // window with every batch. A deliberate difference: Kafka 4.4 recognises only the last one after kill -9
    // (its producer-state snapshots keep one batch per producer) and answers retries of the older ones
    // OUT_OF_ORDER_SEQUENCE_NUMBER, never by writing them again.
    let written: Vec<Spec> = acked.iter().chain(&pending[..kept]).copied().collect();
    let mut client = Client::connect(&broker, &topic);
    for (i, b) in written.iter().enumerate().rev() {
        let case = format!(
            "after kill -9, a retry of batch {i} of the {} written",
            written.len()
        );
        if is_reference_kafka() && i + 1 < written.len() {
            let ack = client.send(*b);
            assert!(
                (ack.code == 0 && ack.base_offset == 10 * i as i64)
                    || ack.code == OUT_OF_ORDER_SEQUENCE_NUMBER,
                "{case}: {ack:?}"
            );
            eprintln!("Kafka, {case}: {ack:?}");
        } else {
            client.expect_at(*b, 10 * i as i64, &case);
        }
    }
    for (i, b) in pending.iter().enumerate().skip(kept) {
        client.expect_at(
            *b,
            20 + 10 * i as i64,
            "a batch unanswered at the kill and not written, sent again",
        );
    }
    let all: Vec<Spec> = acked.iter().chain(&pending).copied().collect();
    assert_log(&broker, &topic, &all, "after the retries");
}

/// Producer state idle for longer than `producer_id_expiration_ms` is forgotten: the producer's next batch
/// may carry any sequence.
///
/// Kafka looks for expired producers every `producer.id.expiration.check.interval.ms` (10 minutes by default);
/// run-kafka.sh maps `log_cleanup_interval_ms` to that property, so the same test runs against Kafka. Kafka
/// measures idleness from the last batch's largest record timestamp, Sluice from its own clock at the append;
/// the records here carry the time they were sent, so both agree.
#[test]
fn idle_producer_state_expires() {
    const EXPIRATION: Duration = Duration::from_millis(1000);
    let broker = Broker::start_with(&format!(
        "producer_id_expiration_ms: {}\nlog_cleanup_interval_ms: 200\n",
        EXPIRATION.as_millis()
    ));
    let topic = unique_topic("idem-expiry");
    create(&broker, &topic, 1);
    let pid = new_producer(&broker);
    let mut client = Client::connect(&broker, &topic);

    let sent_at = Instant::now();
    let first = spec(pid, 0, 0, 10);
    client.expect_at(first, 0, "first batch");
    let jump = spec(pid, 0, 500, 3);
    let refused = client.send(jump);
    if sent_at.elapsed() < EXPIRATION {
        assert_eq!(
            refused.code, OUT_OF_ORDER_SEQUENCE_NUMBER,
            "sequence 500 while the producer is known: {refused:?}"
        );
    }

    // Polled, not slept: every refusal until the state expires must be the same out-of-order answer.
    let mut accepted = None;
    let expired = wait_until(Duration::from_secs(10), || {
        let ack = client.send(jump);
        assert!(
            ack.code == 0 || ack.code == OUT_OF_ORDER_SEQUENCE_NUMBER,
            "sequence 500 while waiting for expiry: {ack:?}"
        );
        if ack.code == 0 {
            accepted = Some((sent_at.elapsed(), ack));
            return true;
        }
        thread::sleep(Duration::from_millis(50));
        false
    });
    assert!(expired, "the producer's state never expired");
    let (after, ack) = accepted.expect("set when accepted");
    assert_eq!(ack.base_offset, 10, "{ack:?}");
    assert!(
        after >= EXPIRATION,
        "state expired {after:?} after the producer's last write, before producer_id_expiration_ms"
    );

    // The producer is known again, from its new sequence.
    client.expect_at(jump, 10, "a retry of the batch that restarted the state");
    client.expect_error(
        first,
        OUT_OF_ORDER_SEQUENCE_NUMBER,
        "the batch from before the expiry",
    );
    let next = spec(pid, 0, 503, 1);
    client.expect_at(next, 13, "the next sequence");
    assert_log(&broker, &topic, &[first, jump, next], "at the end");
}

// ---------------------------------------------------------------------------------------------------------------
// librdkafka

const PARTITIONS: i32 = 3;
const MESSAGES: usize = 6_000;
/// Unacknowledged messages the sender allows in flight.
const WINDOW: usize = 1_000;

fn payload(id: usize) -> Vec<u8> {
    format!("idem-{id:06}").into_bytes()
}

fn partition_of(id: usize) -> i32 {
    (id % PARTITIONS as usize) as i32
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Interruption {
    None,
    Restart,
    Kill9,
}

/// Streams `MESSAGES` through an idempotent librdkafka producer (interrupting the broker once a third are
/// acknowledged), then checks every message was delivered once, at the offset its report named, in order per
/// partition, and nothing else is in the log.
fn stream_exactly_once(interruption: Interruption) {
    let proxy = Proxy::start();
    let mut broker = Broker::start_own_with(&format!("advertise: {}\n", proxy.addr));
    proxy.point_to(broker.addr());
    let bootstrap = proxy.addr.to_string();
    let topic = unique_topic("idem-rdkafka");
    create_topic(&bootstrap, &topic, PARTITIONS);

    let producer: Arc<TestProducer> = Arc::new(producer(
        &bootstrap,
        &[
            ("enable.idempotence", "true"),
            ("acks", "all"),
            ("linger.ms", "2"),
            ("batch.num.messages", "200"),
            ("max.in.flight.requests.per.connection", "5"),
            ("reconnect.backoff.ms", "10"),
            ("reconnect.backoff.max.ms", "200"),
            ("message.timeout.ms", "60000"),
        ],
    ));
    let sent = Arc::new(AtomicUsize::new(0));
    let sender = {
        let (producer, sent, topic) = (Arc::clone(&producer), Arc::clone(&sent), topic.clone());
        thread::spawn(move || {
            for id in 0..MESSAGES {
                let in_flight = || id - producer.context().acked() - producer.context().failed();
                while in_flight() >= WINDOW {
                    thread::sleep(Duration::from_millis(1));
                }
                let value = payload(id);
                let mut record = BaseRecord::<[u8], [u8], usize>::with_opaque_to(&topic, id)
                    .partition(partition_of(id))
                    .payload(value.as_slice());
                loop {
                    match producer.send(record) {
                        Ok(()) => break,
                        Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), r)) => {
                            record = r;
                            thread::sleep(Duration::from_millis(1));
                        }
                        Err((e, _)) => panic!("enqueue message {id}: {e}"),
                    }
                }
                sent.fetch_add(1, Ordering::SeqCst);
            }
        })
    };

    if interruption != Interruption::None {
        let reached = wait_until(Duration::from_secs(30), || {
            producer.context().acked() >= MESSAGES / 3
        });
        assert!(
            reached,
            "only {} of {MESSAGES} acknowledged before the interruption",
            producer.context().acked()
        );
        let (sent_before, acked_before) = (sent.load(Ordering::SeqCst), producer.context().acked());
        assert!(
            acked_before < sent_before,
            "nothing was in flight at the interruption: the test would prove nothing"
        );
        match interruption {
            Interruption::Restart => broker.restart(),
            Interruption::Kill9 => {
                kill9(&mut broker);
                broker.start_again();
            }
            Interruption::None => unreachable!(),
        }
        proxy.point_to(broker.addr());
        eprintln!("{interruption:?} with {sent_before} sent and {acked_before} acknowledged");
    }
    sender.join().expect("sender thread");
    let reports = flush_delivered(&producer, MESSAGES, Duration::from_secs(60));

    // Per partition, the log must be exactly the ids sent there, in the order sent.
    let consumer = consumer(&bootstrap, &[]);
    assign_from_beginning(&consumer, &topic, PARTITIONS);
    let messages = consume_n(&consumer, MESSAGES, Duration::from_secs(30));
    let ends = watermarks(&consumer, &topic, PARTITIONS);
    let mut logs: Vec<Vec<(i64, Vec<u8>)>> = vec![Vec::new(); PARTITIONS as usize];
    for m in &messages {
        logs[m.partition() as usize].push((m.offset(), m.payload().unwrap_or_default().to_vec()));
    }
    for partition in 0..PARTITIONS {
        let log = &logs[partition as usize];
        let expected: Vec<usize> = (0..MESSAGES)
            .filter(|&id| partition_of(id) == partition)
            .collect();
        let values: Vec<Vec<u8>> = log.iter().map(|(_, v)| v.clone()).collect();
        let expected_values: Vec<Vec<u8>> = expected.iter().map(|&id| payload(id)).collect();
        if values != expected_values {
            let seen: HashSet<&Vec<u8>> = values.iter().collect();
            let duplicates = values.len() - seen.len();
            let first_difference = values
                .iter()
                .zip(&expected_values)
                .position(|(a, b)| a != b);
            panic!(
                "partition {partition}: {} records ({duplicates} duplicates) where {} were sent; first difference at \
                 index {first_difference:?}",
                values.len(),
                expected_values.len()
            );
        }
        assert_eq!(
            ends[partition as usize],
            (0, expected.len() as i64),
            "partition {partition}: watermarks (nothing beyond what was sent)"
        );
        for (index, &id) in expected.iter().enumerate() {
            let report = &reports[id];
            assert_eq!(
                (report.partition, report.offset),
                (partition, log[index].0),
                "delivery report of message {id}"
            );
        }
    }
}

#[test]
fn librdkafka_idempotent_producer_delivers_exactly_once() {
    stream_exactly_once(Interruption::None);
}

#[test]
fn librdkafka_idempotent_producer_across_a_restart() {
    stream_exactly_once(Interruption::Restart);
}

#[test]
fn librdkafka_idempotent_producer_across_kill9() {
    stream_exactly_once(Interruption::Kill9);
}
