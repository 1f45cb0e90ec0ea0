//! Round trips through librdkafka for every compression codec and acks level.
//!
//! Each case produces a few thousand messages with keys, headers and explicit timestamps to a 3-partition
//! topic, then reads them back with `assign()` from the beginning and compares every field. Offsets must be
//! dense from 0 in each partition and, where the producer got offsets back (acks 1 and all), match them.
//! A raw Fetch then checks that the stored batches are still compressed with the producer's codec, and
//! batches compressed by another encoder cover the codecs librdkafka will not send.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use compat_tests::raw::{self, str_bytes, RawConn, Versions};
use compat_tests::rdkafka::message::{Message, Timestamp};
use compat_tests::{
    assign_from_beginning, consume_n, consumer, create_topic, produce_all, producer, unique_topic,
    watermarks, Broker, Msg, SAMPLE_BASE_TIMESTAMP,
};
use kafka_protocol::indexmap::IndexMap;
use kafka_protocol::messages::ApiKey;
use kafka_protocol::records::{Compression, Record, RecordBatchDecoder};

const PARTITIONS: i32 = 3;
const MESSAGES: usize = 3000;

fn round_trip(codec: &str, acks: &str) {
    let broker = Broker::start();
    let bootstrap = broker.bootstrap();
    let topic = unique_topic(&format!("rt-{codec}-acks{acks}"));
    create_topic(&bootstrap, &topic, PARTITIONS);

    let sent: Vec<Msg> = (0..MESSAGES).map(|i| Msg::sample(i, PARTITIONS)).collect();
    let producer = producer(
        &bootstrap,
        &[
            ("compression.codec", codec),
            ("acks", acks),
            // Small batches, so each partition gets many of them and the consumer crosses batch boundaries.
            ("batch.num.messages", "200"),
            ("linger.ms", "5"),
        ],
    );
    let deliveries = produce_all(&producer, &topic, &sent);

    let consumer = consumer(&bootstrap, &[]);
    assign_from_beginning(&consumer, &topic, PARTITIONS);
    let received = consume_n(&consumer, MESSAGES, Duration::from_secs(30));
    assert_eq!(
        received.len(),
        MESSAGES,
        "received {} of {MESSAGES} messages; broker log:\n{}",
        received.len(),
        broker.logs()
    );

    // Produce order within a partition is the order the log must keep: one producer, no retries on loopback.
    let mut expected: BTreeMap<i32, Vec<usize>> = BTreeMap::new();
    for (id, message) in sent.iter().enumerate() {
        expected.entry(message.partition).or_default().push(id);
    }
    let mut next_offset: BTreeMap<i32, i64> = BTreeMap::new();
    for message in &received {
        let partition = message.partition();
        let position = next_offset.entry(partition).or_insert(0);
        assert_eq!(
            message.offset(),
            *position,
            "partition {partition}: offsets must be dense from 0"
        );
        let id = expected[&partition][*position as usize];
        assert_eq!(
            Msg::from_message(message),
            sent[id],
            "message {id} at {partition}/{position}"
        );
        if acks != "0" {
            let delivery = &deliveries[id];
            assert_eq!(
                (delivery.partition, delivery.offset),
                (partition, *position),
                "message {id}: consumed where the delivery report did not say"
            );
        }
        *position += 1;
    }
    for (partition, ids) in &expected {
        assert_eq!(
            next_offset.get(partition).copied().unwrap_or(0),
            ids.len() as i64,
            "partition {partition} count"
        );
    }
    let marks = watermarks(&consumer, &topic, PARTITIONS);
    let expected_marks: Vec<(i64, i64)> = (0..PARTITIONS)
        .map(|p| (0, expected[&p].len() as i64))
        .collect();
    assert_eq!(
        marks, expected_marks,
        "watermarks (low, high) per partition"
    );

    assert_stored_compression(&broker, &topic, codec);
}

fn codec(name: &str) -> Compression {
    match name {
        "none" => Compression::None,
        "gzip" => Compression::Gzip,
        "snappy" => Compression::Snappy,
        "lz4" => Compression::Lz4,
        "zstd" => Compression::Zstd,
        other => panic!("unknown codec {other}"),
    }
}

/// (codec, record count) of each batch stored in one partition, read with a raw Fetch.
fn stored_batches(broker: &Broker, topic: &str, partition: i32) -> Vec<(Compression, i32)> {
    let request = raw::fetch_request(topic, partition, 0, 0);
    let response =
        RawConn::connect(broker.addr()).request(raw::fetch_version(broker.addr()), &request);
    let data = &response.responses[0].partitions[0];
    assert_eq!(data.error_code, 0, "raw Fetch error");
    let mut records = data.records.clone().expect("records in raw Fetch");
    let batches =
        RecordBatchDecoder::decode_batch_info(&mut records).expect("decode fetched batches");
    assert!(!batches.is_empty(), "raw Fetch returned no batches");
    batches
        .iter()
        .map(|b| (b.compression, b.record_count))
        .collect()
}

/// Checks the batches of partition 0 carry the producer's codec: librdkafka really compressed, and the
/// broker stored and served the batches as it received them.
fn assert_stored_compression(broker: &Broker, topic: &str, codec_name: &str) {
    let expected = codec(codec_name);
    // librdkafka enables lz4 only for brokers that advertise FindCoordinator (its test for Kafka >= 0.8.2)
    // and otherwise silently sends lz4 batches uncompressed. `compressed_batches_from_other_clients`
    // covers lz4 until the broker has consumer groups.
    let lz4_enabled = Versions::fetch(broker.addr())
        .range(ApiKey::FindCoordinator)
        .is_some();
    if expected == Compression::Lz4 && !lz4_enabled {
        eprintln!("lz4: broker advertises no FindCoordinator, so librdkafka did not compress");
        return;
    }
    let batches = stored_batches(broker, topic, 0);
    // librdkafka sends a batch uncompressed when compressing did not shrink it (a batch of one short
    // message, at the end of a linger window), so uncompressed batches are allowed beside the codec's.
    for (i, (stored, _)) in batches.iter().enumerate() {
        assert!(
            *stored == expected || *stored == Compression::None,
            "batch {i} of partition 0 stored as {stored:?}, produced as {expected:?} or uncompressed"
        );
    }
    let total: i32 = batches.iter().map(|(_, count)| count).sum();
    let compressed: i32 = batches
        .iter()
        .filter(|(stored, _)| *stored == expected)
        .map(|(_, count)| count)
        .sum();
    assert!(
        compressed * 2 > total,
        "only {compressed} of {total} records in {expected:?} batches: {batches:?}"
    );
}

fn record(i: usize) -> Record {
    let mut headers = IndexMap::new();
    headers.insert(str_bytes("index"), Some(Bytes::from(i.to_string())));
    headers.insert(str_bytes("null-value"), None);
    Record {
        headers,
        ..raw::record(
            i as i64,
            SAMPLE_BASE_TIMESTAMP + 7 * i as i64,
            (!i.is_multiple_of(5)).then(|| Bytes::from(format!("key-{i}"))),
            Some(Bytes::from(format!("raw value {i} ").repeat(1 + i % 7))),
        )
    }
}

/// Batches compressed by another client (encoded here), one codec per partition, read back by librdkafka.
/// This is the lz4 coverage librdkafka's producer cannot give yet.
#[test]
fn compressed_batches_from_other_clients() {
    let broker = Broker::start();
    let topic = unique_topic("raw-codecs");
    let codecs = [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    create_topic(&broker.bootstrap(), &topic, codecs.len() as i32);
    let per_batch = 50;
    let batches_per_partition = 3;

    let mut sent: BTreeMap<i32, Vec<Record>> = BTreeMap::new();
    for (partition, codec) in codecs.iter().enumerate() {
        let partition = partition as i32;
        for b in 0..batches_per_partition {
            // Offsets inside a produced batch count from 0, as every client sends them: Kafka refuses a batch
            // with any other base offset (INVALID_RECORD) and assigns the real offsets itself.
            let records: Vec<Record> = (b * per_batch..(b + 1) * per_batch)
                .map(|i| Record {
                    offset: (i - b * per_batch) as i64,
                    ..record(i)
                })
                .collect();
            let batch = raw::encode_batch(&records, *codec).freeze();
            let results = raw::produce(broker.addr(), &topic, vec![(partition, batch)]);
            assert_eq!(
                results[&partition],
                (0, (b * per_batch) as i64),
                "{codec:?} batch {b}: (error, base offset)"
            );
            sent.entry(partition).or_default().extend(records);
        }
    }

    let total = codecs.len() * batches_per_partition * per_batch;
    let consumer = consumer(&broker.bootstrap(), &[]);
    assign_from_beginning(&consumer, &topic, codecs.len() as i32);
    let received = consume_n(&consumer, total, Duration::from_secs(30));
    assert_eq!(received.len(), total, "messages read back");
    for message in &received {
        let partition = message.partition();
        let expected = &sent[&partition][message.offset() as usize];
        let codec = codecs[partition as usize];
        assert_eq!(
            message.key(),
            expected.key.as_deref(),
            "{codec:?} key at {}",
            message.offset()
        );
        assert_eq!(
            message.payload(),
            expected.value.as_deref(),
            "{codec:?} value at {}",
            message.offset()
        );
        assert_eq!(
            message.timestamp(),
            Timestamp::CreateTime(expected.timestamp),
            "{codec:?} timestamp at {}",
            message.offset()
        );
        let headers = Msg::from_message(message).headers;
        let expected_headers: Vec<(String, Option<Vec<u8>>)> = expected
            .headers
            .iter()
            .map(|(k, v)| (k.to_string(), v.as_ref().map(|v| v.to_vec())))
            .collect();
        assert_eq!(
            headers,
            expected_headers,
            "{codec:?} headers at {}",
            message.offset()
        );
    }
    for (partition, codec) in codecs.iter().enumerate() {
        assert_eq!(
            stored_batches(&broker, &topic, partition as i32),
            vec![(*codec, per_batch as i32); batches_per_partition],
            "stored (codec, records) of partition {partition}"
        );
    }
}

macro_rules! round_trips {
    ($($name:ident: $codec:literal, $acks:literal;)*) => {
        $(
            #[test]
            fn $name() {
                round_trip($codec, $acks);
            }
        )*
    };
}

round_trips! {
    none_acks0: "none", "0";
    none_acks1: "none", "1";
    none_acks_all: "none", "all";
    gzip_acks0: "gzip", "0";
    gzip_acks1: "gzip", "1";
    gzip_acks_all: "gzip", "all";
    snappy_acks0: "snappy", "0";
    snappy_acks1: "snappy", "1";
    snappy_acks_all: "snappy", "all";
    lz4_acks0: "lz4", "0";
    lz4_acks1: "lz4", "1";
    lz4_acks_all: "lz4", "all";
    zstd_acks0: "zstd", "0";
    zstd_acks1: "zstd", "1";
    zstd_acks_all: "zstd", "all";
}
