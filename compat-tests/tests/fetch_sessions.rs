//! Fetch sessions (KIP-227) over a raw connection: a session opened by a full fetch (epoch 0),
//! incremental fetches that answer only the partitions with something new, and a non-zero session
//! id with epoch -1 (what kafka-go's `Client.Fetch` sends) served as a sessionless full fetch.

use compat_tests::raw::{self, encode_batch, fetch_version, record, str_bytes, RawConn};
use compat_tests::{create_topic, now_ms, unique_topic, Broker};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{FetchRequest, FetchResponse, TopicName};
use kafka_protocol::records::Compression;

const FETCH_SESSION_ID_NOT_FOUND: i16 = 70;
const INVALID_FETCH_SESSION_EPOCH: i16 = 71;

fn request(topic: &str, parts: &[(i32, i64)], id: i32, epoch: i32, max_wait: i32) -> FetchRequest {
    let topics = if parts.is_empty() {
        Vec::new()
    } else {
        vec![FetchTopic::default()
            .with_topic(TopicName(str_bytes(topic)))
            .with_partitions(
                parts
                    .iter()
                    .map(|&(p, offset)| {
                        FetchPartition::default()
                            .with_partition(p)
                            .with_fetch_offset(offset)
                            .with_partition_max_bytes(1 << 20)
                    })
                    .collect(),
            )]
    };
    FetchRequest::default()
        .with_max_wait_ms(max_wait)
        .with_min_bytes(1)
        .with_max_bytes(1 << 20)
        .with_session_id(id)
        .with_session_epoch(epoch)
        .with_topics(topics)
}

/// (partition, high watermark, has records) of every partition in the answer.
fn answered(r: &FetchResponse) -> Vec<(i32, i64, bool)> {
    r.responses
        .iter()
        .flat_map(|t| t.partitions.iter())
        .map(|p| {
            assert_eq!(p.error_code, 0, "partition {}", p.partition_index);
            let records = p.records.as_ref().is_some_and(|r| !r.is_empty());
            (p.partition_index, p.high_watermark, records)
        })
        .collect()
}

#[test]
fn incremental_fetches_answer_only_what_changed() {
    let broker = Broker::start();
    let topic = unique_topic("session");
    create_topic(&broker.bootstrap(), &topic, 2);
    let version = fetch_version(broker.addr());
    assert!(
        version >= 7,
        "fetch sessions need Fetch v7+, broker offers v{version}"
    );
    let mut conn = RawConn::connect(broker.addr());

    let r = conn.request(version, &request(&topic, &[(0, 0), (1, 0)], 0, 0, 0));
    assert_eq!(r.error_code, 0);
    let id = r.session_id;
    assert_ne!(id, 0, "a full fetch with epoch 0 opens a session");
    assert_eq!(answered(&r), vec![(0, 0, false), (1, 0, false)]);

    let batch = encode_batch(
        &[
            record(0, now_ms(), None, Some("a".into())),
            record(1, now_ms(), None, Some("b".into())),
        ],
        Compression::None,
    );
    let produced = raw::produce(broker.addr(), &topic, vec![(1, batch.freeze())]);
    assert_eq!(produced[&1], (0, 0));

    // Only partition 1 changed: it alone is answered, with its records.
    let r = conn.request(version, &request(&topic, &[], id, 1, 5000));
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert_eq!(answered(&r), vec![(1, 2, true)]);

    // The client moved its position past them: nothing new anywhere.
    let r = conn.request(version, &request(&topic, &[(1, 2)], id, 2, 0));
    assert_eq!((r.error_code, r.session_id), (0, id));
    assert_eq!(answered(&r), vec![]);

    // A stale epoch is refused.
    let r = conn.request(version, &request(&topic, &[], id, 2, 0));
    assert_eq!(r.error_code, INVALID_FETCH_SESSION_EPOCH);

    // A session id with epoch -1: the session closes and the fetch is served without one.
    let r = conn.request(version, &request(&topic, &[(0, 0), (1, 0)], id, -1, 0));
    assert_eq!((r.error_code, r.session_id), (0, 0));
    assert_eq!(answered(&r), vec![(0, 0, false), (1, 2, true)]);
    let r = conn.request(version, &request(&topic, &[], id, 3, 0));
    assert_eq!(r.error_code, FETCH_SESSION_ID_NOT_FOUND);
}
