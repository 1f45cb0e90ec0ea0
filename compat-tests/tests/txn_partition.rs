//! Transactions (#15) as a partition shows them on the wire, written by librdkafka's transactional
//! producer and read with raw requests or consumers:
//! - Fetch: the last stable offset at both isolation levels; read_committed stops at it and lists the
//!   aborted transactions overlapping what it returns (a list, maybe empty; null for read_uncommitted).
//! - ListOffsets: read_committed's latest is the last stable offset.
//! - Compaction, as Kafka's cleaner: the batches of an aborted transaction are removed, even for a
//!   read_uncommitted consumer, while a committed transaction's records are compacted like any others;
//!   and a transaction marker is never taken for a record (its key, the control record's version and
//!   type, is no record key). As in `topic_admin.rs`, against Kafka the compacted topic gets a short
//!   `segment.ms` and a low dirty ratio, with a pause before each batch so that every batch starts a
//!   segment Kafka's cleaner may clean; waits for the cleaner are conditions polled inside a deadline.

use std::thread;
use std::time::{Duration, Instant};

use compat_tests::raw::{self, RawConn};
use compat_tests::rdkafka::admin::{NewTopic, TopicReplication};
use compat_tests::rdkafka::consumer::{BaseConsumer, Consumer};
use compat_tests::rdkafka::message::Message;
use compat_tests::rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use compat_tests::rdkafka::{Offset, TopicPartitionList};
use compat_tests::{
    admin_client, admin_options, block_on, consumer, create_topic, is_reference_kafka,
    producer_config, unique_topic, wait_for_topic, wait_until, Broker, CLIENT_TIMEOUT,
};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ListOffsetsRequest, TopicName};

const FAST_CLEANER: &str = "log_cleanup_interval_ms: 200\n";
/// Against Apache Kafka, the topic's `segment.ms` (see the module doc).
const KAFKA_SEGMENT_MS: u64 = 100;
const CLEANER_DEADLINE: Duration = Duration::from_secs(30);
const TXN_TIMEOUT: Duration = Duration::from_secs(30);

/// Against Kafka, waits until a batch stamped now starts a new segment.
fn next_segment() {
    if is_reference_kafka() {
        thread::sleep(Duration::from_millis(KAFKA_SEGMENT_MS + 20));
    }
}

fn create_compacted(broker: &Broker, topic: &str) {
    let mut configs = vec![("cleanup.policy", "compact")];
    let segment_ms = KAFKA_SEGMENT_MS.to_string();
    if is_reference_kafka() {
        configs.push(("segment.ms", segment_ms.as_str()));
        configs.push(("min.cleanable.dirty.ratio", "0.01"));
    }
    let mut new = NewTopic::new(topic, 1, TopicReplication::Fixed(1));
    for (k, v) in &configs {
        new = new.set(k, v);
    }
    let results =
        block_on(admin_client(&broker.bootstrap()).create_topics([&new], &admin_options()))
            .expect("CreateTopics");
    for r in results {
        r.unwrap_or_else(|(name, code)| panic!("CreateTopics {name}: {code:?}"));
    }
    wait_for_topic(&broker.bootstrap(), topic);
}

/// Sends one record and waits for its acknowledgement.
fn send(producer: &BaseProducer, topic: &str, key: &[u8], value: &str) {
    producer
        .send(BaseRecord::to(topic).partition(0).key(key).payload(value))
        .unwrap_or_else(|(e, _)| panic!("send to {topic}: {e}"));
    producer.flush(CLIENT_TIMEOUT).expect("flush");
}

/// `(offset, key, value)` of every record from the beginning up to and including `last`, as a consumer
/// with `isolation` reads them.
fn read_up_to(
    bootstrap: &str,
    topic: &str,
    last: i64,
    isolation: &str,
) -> Vec<(i64, Vec<u8>, String)> {
    let consumer: BaseConsumer = consumer(bootstrap, &[("isolation.level", isolation)]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Beginning)
        .expect("add partition");
    consumer.assign(&assignment).expect("assign");
    let mut out = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while out.last().is_none_or(|(o, _, _)| *o < last) {
        assert!(Instant::now() < deadline, "{topic}: read only {out:?}");
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push((
                m.offset(),
                m.key().unwrap_or_default().to_vec(),
                String::from_utf8_lossy(m.payload().unwrap_or_default()).into_owned(),
            )),
            Some(Err(e)) => panic!("consuming {topic}: {e}"),
            None => {}
        }
    }
    out
}

#[test]
fn compaction_drops_aborted_transactions_and_never_takes_a_marker_for_a_record() {
    let broker = Broker::start_with(FAST_CLEANER);
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("txn-compacted");
    create_compacted(&broker, &topic);
    let plain: BaseProducer = producer_config(&bootstrap)
        .set("acks", "all")
        .create()
        .expect("create producer");
    let txn: BaseProducer = producer_config(&bootstrap)
        .set("transactional.id", format!("txn-compaction-{topic}"))
        .create()
        .expect("create transactional producer");
    txn.init_transactions(TXN_TIMEOUT).expect("InitProducerId");
    // A commit marker's key is version 0 and type 1, two i16s: this record's key has the same bytes.
    let marker_like: &[u8] = &[0, 0, 0, 1];
    next_segment();
    send(&plain, &topic, marker_like, "looks like a marker"); // 0
    next_segment();
    send(&plain, &topic, b"a", "a1"); // 1
    next_segment();
    txn.begin_transaction().expect("begin");
    send(&txn, &topic, b"b", "aborted"); // 2
    txn.abort_transaction(TXN_TIMEOUT).expect("abort"); // marker 3
    next_segment();
    txn.begin_transaction().expect("begin");
    send(&txn, &topic, b"c", "committed"); // 4
    txn.commit_transaction(TXN_TIMEOUT).expect("commit"); // marker 5
    next_segment();
    send(&plain, &topic, b"a", "a2"); // 6
    next_segment();
    send(&plain, &topic, b"sentinel", "end"); // 7

    let expected = vec![
        (0, marker_like.to_vec(), "looks like a marker".to_string()),
        (4, b"c".to_vec(), "committed".to_string()),
        (6, b"a".to_vec(), "a2".to_string()),
        (7, b"sentinel".to_vec(), "end".to_string()),
    ];
    let mut last = Vec::new();
    let compacted = wait_until(CLEANER_DEADLINE, || {
        last = read_up_to(&bootstrap, &topic, 7, "read_uncommitted");
        if last != expected {
            thread::sleep(Duration::from_millis(200));
        }
        last == expected
    });
    assert!(
        compacted,
        "after compaction, read {last:?}\nexpected {expected:?}\nbroker log:\n{}",
        broker.logs()
    );
    assert_eq!(
        read_up_to(&bootstrap, &topic, 7, "read_committed"),
        expected
    );
}

/// One partition's answer to a sessionless Fetch v12 from `offset` with `isolation_level`.
fn fetch(conn: &mut RawConn, topic: &str, offset: i64, isolation_level: i8) -> PartitionData {
    let request = raw::fetch_request(topic, 0, offset, 0).with_isolation_level(isolation_level);
    let mut response = conn.request(12, &request);
    assert_eq!(response.error_code, 0, "Fetch {topic}");
    response.responses.remove(0).partitions.remove(0)
}

/// The producer id of the first batch of `records`.
fn first_producer_id(records: &Option<bytes::Bytes>) -> i64 {
    let records = records.as_ref().expect("records");
    assert!(records.len() >= 61, "a whole batch header: {records:?}");
    i64::from_be_bytes(records[43..51].try_into().expect("8 bytes"))
}

/// ListOffsets v2 for the latest offset of partition 0 with `isolation_level`.
fn latest(conn: &mut RawConn, topic: &str, isolation_level: i8) -> i64 {
    let request = ListOffsetsRequest::default()
        .with_replica_id((-1).into())
        .with_isolation_level(isolation_level)
        .with_topics(vec![ListOffsetsTopic::default()
            .with_name(TopicName(raw::str_bytes(topic)))
            .with_partitions(vec![ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1)])]);
    let response = conn.request(2, &request);
    let p = &response.topics[0].partitions[0];
    assert_eq!(p.error_code, 0, "ListOffsets {topic}");
    p.offset
}

#[test]
fn fetch_and_list_offsets_stop_at_the_last_stable_offset_and_list_aborted_transactions() {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic("txn-fetch");
    create_topic(&bootstrap, &topic, 1);
    let txn: BaseProducer = producer_config(&bootstrap)
        .set("transactional.id", format!("txn-fetch-{topic}"))
        .create()
        .expect("create transactional producer");
    txn.init_transactions(TXN_TIMEOUT).expect("InitProducerId");
    let mut conn = RawConn::connect(broker.addr());

    // An open transaction: its record is below the high watermark but not the last stable offset.
    txn.begin_transaction().expect("begin");
    send(&txn, &topic, b"k", "aborted"); // 0
    let open = fetch(&mut conn, &topic, 0, 1);
    assert_eq!((open.high_watermark, open.last_stable_offset), (1, 0));
    assert!(
        open.records.as_ref().is_none_or(|r| r.is_empty()),
        "{open:?}"
    );
    assert_eq!(open.aborted_transactions, Some(vec![]));
    let uncommitted = fetch(&mut conn, &topic, 0, 0);
    assert_eq!(
        (uncommitted.high_watermark, uncommitted.last_stable_offset),
        (1, 0)
    );
    let producer_id = first_producer_id(&uncommitted.records);
    assert_eq!(uncommitted.aborted_transactions, None);
    assert_eq!(
        (latest(&mut conn, &topic, 0), latest(&mut conn, &topic, 1)),
        (1, 0)
    );

    txn.abort_transaction(TXN_TIMEOUT).expect("abort"); // marker 1
    txn.begin_transaction().expect("begin");
    send(&txn, &topic, b"k", "committed"); // 2
    txn.commit_transaction(TXN_TIMEOUT).expect("commit"); // marker 3

    // Kafka's EndTxn answers once the outcome is decided and writes the markers after: wait until the
    // commit marker is stable.
    let mut done = fetch(&mut conn, &topic, 0, 1);
    let stable = wait_until(CLIENT_TIMEOUT, || {
        done = fetch(&mut conn, &topic, 0, 1);
        (done.high_watermark, done.last_stable_offset) == (4, 4)
    });
    assert!(stable, "the commit marker never became stable: {done:?}");
    // Everything is stable; read_committed lists the aborted transaction for a fetch that overlaps it.
    let aborted = done
        .aborted_transactions
        .take()
        .expect("a list for read_committed");
    assert_eq!(
        aborted
            .iter()
            .map(|a| (a.producer_id.0, a.first_offset))
            .collect::<Vec<_>>(),
        vec![(producer_id, 0)]
    );
    assert_eq!(first_producer_id(&done.records), producer_id);
    // From after its marker, nothing to list.
    assert_eq!(
        fetch(&mut conn, &topic, 2, 1).aborted_transactions,
        Some(vec![])
    );
    assert_eq!(fetch(&mut conn, &topic, 0, 0).aborted_transactions, None);
    assert_eq!(
        (latest(&mut conn, &topic, 0), latest(&mut conn, &topic, 1)),
        (4, 4)
    );
    // A read_committed consumer sees only the committed record.
    assert_eq!(
        read_up_to(&bootstrap, &topic, 2, "read_committed"),
        vec![(2, b"k".to_vec(), "committed".to_string())]
    );
}
