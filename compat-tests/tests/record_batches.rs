//! Record batches whose contents a producer controls: the header's record count, how far the records
//! decompress, and per-record errors (issue #14 items 3, 4 and 14).
//!
//! The batches are sent with raw Produce requests, since no client writes them. Kafka's LogValidator is the
//! reference: it walks every batch's records on the leader (decompressing compressed ones), refuses a count the
//! records do not back with INVALID_RECORD, and names each keyless record of a compacted topic or each record
//! out of the timestamp bounds in `record_errors` (KIP-467).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use compat_tests::raw::{encode_batch, produce_request, record, RawConn, Versions};
use compat_tests::rdkafka::admin::{NewTopic, TopicReplication};
use compat_tests::{
    admin_client, admin_options, block_on, consumer, is_reference_kafka, now_ms, unique_topic,
    wait_for_topic, watermarks, Broker,
};
use kafka_protocol::messages::produce_response::PartitionProduceResponse;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::Compression;

const INVALID_RECORD: i16 = 87;
const INVALID_TIMESTAMP: i16 = 32;
const MESSAGE_TOO_LARGE: i16 = 10;
const UNKNOWN_SERVER_ERROR: i16 = -1;

// Byte offsets in a v2 batch header.
const CRC: usize = 17;
const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const RECORD_COUNT: usize = 57;
const HEADER_LEN: usize = 61;

fn create(broker: &Broker, name: &str, configs: &[(&str, &str)]) {
    let mut topic = NewTopic::new(name, 1, TopicReplication::Fixed(1));
    for (key, value) in configs {
        topic = topic.set(key, value);
    }
    let results =
        block_on(admin_client(&broker.bootstrap()).create_topics([&topic], &admin_options()))
            .unwrap_or_else(|e| panic!("CreateTopics {name}: {e}"));
    for result in results {
        result.unwrap_or_else(|(t, code)| panic!("CreateTopics {t}: {code:?}"));
    }
    wait_for_topic(&broker.bootstrap(), name);
}

/// Produces `batch` to partition 0 of `topic` with the highest Produce version up to 12 (v8+ carries
/// `record_errors`) and returns that partition's answer.
fn produce(broker: &Broker, topic: &str, batch: Bytes) -> PartitionProduceResponse {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::Produce, 8, 12);
    let mut response =
        RawConn::connect(broker.addr()).request(version, &produce_request(topic, vec![(0, batch)]));
    response.responses.remove(0).partition_responses.remove(0)
}

fn high_watermark(broker: &Broker, topic: &str) -> i64 {
    watermarks(&consumer(&broker.bootstrap(), &[]), topic, 1)[0].1
}

fn with_crc(mut batch: BytesMut) -> Bytes {
    let crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
    batch[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    batch.freeze()
}

/// `batch` with its header claiming `count` records (and the matching last offset delta).
fn claiming(batch: BytesMut, count: i32) -> Bytes {
    let mut b = batch;
    b[LAST_OFFSET_DELTA..LAST_OFFSET_DELTA + 4].copy_from_slice(&(count - 1).to_be_bytes());
    b[RECORD_COUNT..RECORD_COUNT + 4].copy_from_slice(&count.to_be_bytes());
    with_crc(b)
}

fn keyed(offset: i64, key: Option<&str>, value: &[u8]) -> kafka_protocol::records::Record {
    record(
        offset,
        now_ms(),
        key.map(|k| Bytes::copy_from_slice(k.as_bytes())),
        Some(Bytes::copy_from_slice(value)),
    )
}

/// The broker's peak resident set (VmHWM), in bytes.
fn peak_rss(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("read /proc/<pid>/status");
    let line = status
        .lines()
        .find(|l| l.starts_with("VmHWM:"))
        .expect("VmHWM line");
    let kb: u64 = line
        .split_whitespace()
        .nth(1)
        .and_then(|v| v.parse().ok())
        .expect("VmHWM value");
    kb * 1024
}

#[test]
fn a_record_count_the_records_do_not_back_is_invalid_record() {
    let mut broker = Broker::start();
    let topic = unique_topic("count-lie");
    create(&broker, &topic, &[]);
    for compression in [Compression::None, Compression::Gzip] {
        // One record claiming 1,000,000: Sluice used to move the high watermark by the claim.
        let lie = claiming(
            encode_batch(&[keyed(0, Some("k"), b"v")], compression),
            1_000_000,
        );
        assert_eq!(
            produce(&broker, &topic, lie).error_code,
            INVALID_RECORD,
            "{compression:?}"
        );
        // Two records claiming one.
        let two = [keyed(0, Some("k"), b"v"), keyed(1, Some("k"), b"v")];
        let short = claiming(encode_batch(&two, compression), 1);
        assert_eq!(
            produce(&broker, &topic, short).error_code,
            INVALID_RECORD,
            "{compression:?}"
        );
    }
    assert_eq!(high_watermark(&broker, &topic), 0);
    let good = encode_batch(&[keyed(0, Some("k"), b"v")], Compression::Gzip).freeze();
    let p = produce(&broker, &topic, good);
    assert_eq!((p.error_code, p.base_offset), (0, 0));
    assert_eq!(high_watermark(&broker, &topic), 1);
    broker.assert_healthy();
}

/// Raw deflate of `data`, ending on a byte boundary (a sync flush) so further deflate blocks may follow.
fn deflate_chunk(data: &[u8]) -> Vec<u8> {
    let mut c = flate2::Compress::new(flate2::Compression::best(), false);
    let mut out = Vec::with_capacity(data.len() / 100 + 64);
    c.compress_vec(data, &mut out, flate2::FlushCompress::Sync)
        .expect("deflate");
    assert_eq!(
        c.total_in(),
        data.len() as u64,
        "the output buffer held the whole chunk"
    );
    out
}

/// A v2 batch claiming one record whose gzip stream holds that record followed by `zeros_mib` MiB of zeros
/// (a "zip bomb": about 1 KiB on the wire per MiB). Built from one compressed MiB repeated, so the test does
/// not compress hundreds of MiB.
fn gzip_bomb(zeros_mib: usize) -> Bytes {
    let mut first = encode_batch(&[keyed(0, Some("k"), b"v")], Compression::None);
    let records = first.split_off(HEADER_LEN);
    let zeros = vec![0u8; 1 << 20];
    let zeros_chunk = deflate_chunk(&zeros);
    let mut gz = vec![0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 0xff];
    gz.extend(deflate_chunk(&records));
    let mut crc = flate2::Crc::new();
    crc.update(&records);
    for _ in 0..zeros_mib {
        gz.extend_from_slice(&zeros_chunk);
        crc.update(&zeros);
    }
    gz.extend_from_slice(&[3, 0]); // a final, empty fixed-Huffman block
    gz.put_u32_le(crc.sum());
    gz.put_u32_le(crc.amount());
    let mut batch = first;
    batch[ATTRIBUTES + 1] |= Compression::Gzip as u8;
    batch.extend_from_slice(&gz);
    let len = (batch.len() - 12) as i32;
    batch[8..12].copy_from_slice(&len.to_be_bytes());
    with_crc(batch)
}

/// Issue #14 item 3: a 200 KB gzip batch inflating to 200 MiB, produced to a compacted topic (which made
/// Sluice decode it whole) is refused, and the broker's memory does not follow the claim. Kafka reads one byte
/// past the record the header declares and refuses the batch; so does Sluice.
#[test]
fn a_gzip_bomb_is_refused_without_inflating_it() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("gzip-bomb");
    create(&broker, &topic, &[("cleanup.policy", "compact")]);
    let bomb = gzip_bomb(200);
    assert!(bomb.len() < 512 * 1024, "the bomb is {} bytes", bomb.len());
    let p = produce(&broker, &topic, bomb);
    assert_eq!(p.error_code, INVALID_RECORD);
    assert_eq!(high_watermark(&broker, &topic), 0);
    if !is_reference_kafka() {
        // The JVM's heap is not this process's business (and run-kafka.sh's pid is the script's).
        let peak = peak_rss(broker.pid());
        assert!(peak < 100 << 20, "peak RSS {} MiB", peak >> 20);
    }
    broker.assert_healthy();
}

/// One record whose value inflates past Sluice's `max_decompressed_batch_bytes` is MESSAGE_TOO_LARGE, found
/// while streaming. Kafka has no such bound and stores it: the compressed batch is within max.message.bytes.
#[test]
fn a_batch_inflating_past_max_decompressed_batch_bytes_is_message_too_large() {
    let mut broker = Broker::start_own_with("max_decompressed_batch_bytes: 2097152\n");
    let topic = unique_topic("inflates");
    create(&broker, &topic, &[]);
    let value = vec![0u8; 8 << 20];
    let batch = encode_batch(&[keyed(0, Some("k"), &value)], Compression::Gzip).freeze();
    drop(value);
    let p = produce(&broker, &topic, batch);
    if is_reference_kafka() {
        assert_eq!(p.error_code, 0, "Kafka bounds only the compressed size");
    } else {
        assert_eq!(p.error_code, MESSAGE_TOO_LARGE);
        assert_eq!(high_watermark(&broker, &topic), 0);
        let peak = peak_rss(broker.pid());
        assert!(peak < 64 << 20, "peak RSS {} MiB", peak >> 20);
    }
    broker.assert_healthy();
}

/// Issue #14 item 14 (KIP-467): keyless records on a compacted topic are each named, with Kafka's messages.
#[test]
fn keyless_records_on_a_compacted_topic_are_named_in_record_errors() {
    let mut broker = Broker::start();
    let topic = unique_topic("keyless");
    create(&broker, &topic, &[("cleanup.policy", "compact")]);
    for compression in [Compression::None, Compression::Lz4] {
        let records = [
            keyed(0, Some("a"), b"1"),
            keyed(1, None, b"2"),
            keyed(2, Some("b"), b"3"),
            keyed(3, None, b"4"),
        ];
        let p = produce(
            &broker,
            &topic,
            encode_batch(&records, compression).freeze(),
        );
        assert_eq!(p.error_code, INVALID_RECORD, "{compression:?}");
        let why = format!(
            "Compacted topic cannot accept message without key in topic partition {topic}-0"
        );
        let named: Vec<(i32, Option<&str>)> = p
            .record_errors
            .iter()
            .map(|e| (e.batch_index, e.batch_index_error_message.as_deref()))
            .collect();
        assert_eq!(
            named,
            [(1, Some(why.as_str())), (3, Some(why.as_str()))],
            "{compression:?}"
        );
        assert_eq!(
            p.error_message.as_deref(),
            Some(
                format!(
                    "One or more records have been rejected due to 2 record errors in total, and only showing \
                     the first three errors at most: [RecordError(batchIndex=1, message='{why}'), \
                     RecordError(batchIndex=3, message='{why}')]"
                )
                .as_str()
            )
        );
    }
    assert_eq!(high_watermark(&broker, &topic), 0);
    broker.assert_healthy();
}

/// KIP-467 for timestamps: the record past `message.timestamp.after.max.ms` is named, the batch is
/// INVALID_TIMESTAMP.
#[test]
fn a_record_past_the_timestamp_bound_is_named_in_record_errors() {
    let mut broker = Broker::start();
    let topic = unique_topic("late");
    create(
        &broker,
        &topic,
        &[("message.timestamp.after.max.ms", "60000")],
    );
    let day = 24 * 3600 * 1000;
    let records = [
        keyed(0, Some("a"), b"1"),
        keyed(1, Some("a"), b"2"),
        record(2, now_ms() + day, None, Some(Bytes::from_static(b"3"))),
    ];
    let p = produce(
        &broker,
        &topic,
        encode_batch(&records, Compression::Zstd).freeze(),
    );
    assert_eq!(p.error_code, INVALID_TIMESTAMP);
    assert_eq!(
        p.error_message.as_deref(),
        Some("One or more records have been rejected due to invalid timestamp")
    );
    assert_eq!(p.record_errors.len(), 1);
    assert_eq!(p.record_errors[0].batch_index, 2);
    let message = p.record_errors[0]
        .batch_index_error_message
        .as_deref()
        .unwrap_or_default();
    assert!(
        message
            .contains("of message with offset 2 is out of range. The timestamp should be within ["),
        "{message}"
    );
    assert_eq!(high_watermark(&broker, &topic), 0);
    broker.assert_healthy();
}

/// KIP-467 with a real client: librdkafka fails the keyless records of a batch to a compacted topic with
/// INVALID_RECORD and the others of that batch with its local "invalid different record" error
/// (librdkafka's 0011_produce_batch); nothing is appended.
#[test]
fn librdkafka_fails_only_the_keyless_records_with_invalid_record() {
    use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
    use compat_tests::rdkafka::producer::{BaseRecord, Producer};

    let mut broker = Broker::start();
    let topic = unique_topic("keyless-client");
    create(&broker, &topic, &[("cleanup.policy", "compact")]);
    // One batch: linger long enough for all four.
    let producer = compat_tests::producer(
        &broker.bootstrap(),
        &[("linger.ms", "500"), ("message.timeout.ms", "20000")],
    );
    let keys = [Some("a"), None, Some("b"), None];
    for (id, key) in keys.iter().enumerate() {
        let mut record = BaseRecord::with_opaque_to(&topic, id)
            .partition(0)
            .payload("v");
        if let Some(k) = key {
            record = record.key(*k);
        }
        producer.send(record).map_err(|(e, _)| e).expect("enqueue");
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let mut reports = producer.context().reports();
    reports.sort_by_key(|r| r.id);
    let codes: Vec<Option<RDKafkaErrorCode>> = reports
        .iter()
        .map(|r| match &r.error {
            None => None,
            Some(KafkaError::MessageProduction(code)) => Some(*code),
            Some(other) => panic!("unexpected error {other:?}"),
        })
        .collect();
    let (named, other) = (
        Some(RDKafkaErrorCode::InvalidRecord),
        Some(RDKafkaErrorCode::InvalidDifferentRecord),
    );
    assert_eq!(codes, [other, named, other, named]);
    assert_eq!(high_watermark(&broker, &topic), 0);
    broker.assert_healthy();
}

/// Records that are not a valid stream of the batch's codec (the CRC is right): Kafka's decompressing iterator
/// fails with a KafkaException, which Produce answers as UNKNOWN_SERVER_ERROR.
#[test]
fn records_that_do_not_decompress_are_unknown_server_error() {
    let mut broker = Broker::start();
    let topic = unique_topic("garbage");
    create(&broker, &topic, &[]);
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        // Uncompressed records under a codec's attribute.
        let mut b = encode_batch(&[keyed(0, Some("k"), b"v")], Compression::None);
        b[ATTRIBUTES + 1] |= codec as u8;
        let p = produce(&broker, &topic, with_crc(b));
        assert_eq!(p.error_code, UNKNOWN_SERVER_ERROR, "{codec:?}");
    }
    assert_eq!(high_watermark(&broker, &topic), 0);
    broker.assert_healthy();
}

/// Kafka 4.4's topic config `max.decompressed.message.bytes` bounds each record of a compressed
/// batch: a larger one fails the batch with INVALID_RECORD and no message; an uncompressed batch is
/// not checked against it.
#[test]
fn records_past_max_decompressed_message_bytes_are_invalid() {
    let broker = Broker::start();
    let topic = unique_topic("decompressed-cap");
    create(&broker, &topic, &[("max.decompressed.message.bytes", "50")]);
    let records = [
        keyed(0, Some("k"), b"small"),
        keyed(1, Some("k"), &[b'x'; 200]),
    ];
    let p = produce(
        &broker,
        &topic,
        encode_batch(&records, Compression::Gzip).freeze(),
    );
    assert_eq!(
        (
            p.error_code,
            p.error_message.as_deref(),
            p.record_errors.len()
        ),
        (INVALID_RECORD, None, 0)
    );
    let p = produce(
        &broker,
        &topic,
        encode_batch(&records, Compression::None).freeze(),
    );
    assert_eq!(p.error_code, 0);
    assert_eq!(high_watermark(&broker, &topic), 2);
}
