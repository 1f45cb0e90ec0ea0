//! Requests whose topic or offset metadata once took the broker down (issue #14, items 1 and 2), over raw
//! connections so the exact error codes and messages can be compared with Kafka's.
//!
//! - Partition counts: CreateTopics and CreatePartitions asking for more than 10,000 partitions in one request
//!   get Kafka's POLICY_VIOLATION at once, and the broker keeps answering Metadata.
//! - Long group ids: a string longer than 32,767 bytes does not parse (Kafka's readers refuse it, compact
//!   strings included) and closes the connection; a group id of exactly 32,767 bytes commits, and after a restart
//!   its offset is found under that group.

use std::time::{Duration, Instant};

use compat_tests::raw::{str_bytes, RawConn, Versions};
use compat_tests::{create_topic, is_reference_kafka, unique_topic, wait_until, Broker};
use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::offset_commit_request::{
    OffsetCommitRequestPartition, OffsetCommitRequestTopic,
};
use kafka_protocol::messages::offset_fetch_request::OffsetFetchRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, GroupId, MetadataRequest,
    OffsetCommitRequest, OffsetFetchRequest,
};

/// What Kafka's controller answers past its 10,000 partitions per request (ReplicationControlManager).
const TOO_MANY: &str = "Excessively large number of partitions per request.";
const TOO_MANY_RECORDS: &str = "Unable to perform excessively large batch operation.";
const TOO_MANY_ADDED: &str = "Excessively large number of additional partitions per request.";
/// A refusal is a check, not work: far below the tens of seconds creating the partitions took.
const QUICK: Duration = Duration::from_secs(5);

fn new_topic(name: &str, partitions: i32) -> CreatableTopic {
    CreatableTopic::default()
        .with_name(str_bytes(name).into())
        .with_num_partitions(partitions)
        .with_replication_factor(1)
}

fn create_topics(
    broker: &Broker,
    topics: Vec<CreatableTopic>,
    validate_only: bool,
) -> Vec<(i16, Option<String>)> {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::CreateTopics, 2, 7);
    let request = CreateTopicsRequest::default()
        .with_timeout_ms(30_000)
        .with_validate_only(validate_only)
        .with_topics(topics);
    RawConn::connect(broker.addr())
        .request(version, &request)
        .topics
        .into_iter()
        .map(|t| (t.error_code, t.error_message.map(|m| m.to_string())))
        .collect()
}

fn create_partitions(broker: &Broker, topic: &str, count: i32) -> (i16, Option<String>) {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::CreatePartitions, 0, 3);
    let request = CreatePartitionsRequest::default()
        .with_timeout_ms(30_000)
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(str_bytes(topic).into())
            .with_count(count)
            .with_assignments(None)]);
    let mut response = RawConn::connect(broker.addr()).request(version, &request);
    assert_eq!(response.results.len(), 1, "one result per topic");
    let r = response.results.remove(0);
    (r.error_code, r.error_message.map(|m| m.to_string()))
}

/// The partition count Metadata reports for `topic`, None if it is unknown.
fn partition_count(broker: &Broker, topic: &str) -> Option<usize> {
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(str_bytes(topic).into()))
        ]))
        .with_allow_auto_topic_creation(false);
    let response = RawConn::connect(broker.addr()).request(9, &request);
    let t = &response.topics[0];
    (t.error_code == 0).then_some(t.partitions.len())
}

fn policy_violation() -> i16 {
    ResponseError::PolicyViolation.code()
}

#[test]
fn create_topics_past_the_per_request_partition_limit_is_refused_at_once() {
    let broker = Broker::start();
    let (big, small) = (unique_topic("big"), unique_topic("small"));
    for (partitions, validate_only) in [(10_001, false), (2_000_000_000, false), (i32::MAX, true)] {
        let started = Instant::now();
        let results = create_topics(
            &broker,
            vec![new_topic(&big, partitions), new_topic(&small, 1)],
            validate_only,
        );
        assert!(
            started.elapsed() < QUICK,
            "{partitions} partitions: answered after {:?}",
            started.elapsed()
        );
        // Kafka refuses the whole request, so the small topic in it fails too.
        let expected = (policy_violation(), Some(TOO_MANY.to_string()));
        assert_eq!(
            results,
            vec![expected.clone(), expected],
            "{partitions} partitions"
        );
    }
    // Within the partition limit, but 10,001 metadata records (two topics and their partitions): Kafka's
    // controller bounds those too.
    let results = create_topics(
        &broker,
        vec![new_topic(&big, 9_999), new_topic(&small, 1)],
        true,
    );
    let expected = (policy_violation(), Some(TOO_MANY_RECORDS.to_string()));
    assert_eq!(results, vec![expected.clone(), expected]);
    // Two topics that are each within the limit but not together.
    let results = create_topics(
        &broker,
        vec![new_topic(&big, 6_000), new_topic(&small, 6_000)],
        true,
    );
    assert!(
        results.iter().all(|r| r.0 == policy_violation()),
        "{results:?}"
    );
    assert_eq!(partition_count(&broker, &big), None);
    assert_eq!(partition_count(&broker, &small), None);
    // Still serving, and a request within the limit works.
    assert_eq!(
        create_topics(&broker, vec![new_topic(&small, 3)], false),
        vec![(0, None)]
    );
    assert!(wait_until(Duration::from_secs(10), || partition_count(
        &broker, &small
    ) == Some(3)));
}

#[test]
fn create_partitions_past_the_per_request_limit_is_refused_at_once() {
    let broker = Broker::start();
    let topic = unique_topic("grow");
    create_topic(&broker.bootstrap(), &topic, 1);
    for count in [10_002, 2_000_000_000, i32::MAX] {
        let started = Instant::now();
        let result = create_partitions(&broker, &topic, count);
        assert!(
            started.elapsed() < QUICK,
            "{count}: answered after {:?}",
            started.elapsed()
        );
        assert_eq!(
            result,
            (policy_violation(), Some(TOO_MANY_ADDED.to_string())),
            "{count}"
        );
    }
    assert_eq!(partition_count(&broker, &topic), Some(1));
    assert_eq!(create_partitions(&broker, &topic, 4).0, 0);
    assert!(wait_until(Duration::from_secs(10), || partition_count(
        &broker, &topic
    ) == Some(4)));
}

/// Sluice-only: the broker-wide bound on partitions (`max_partitions`). Kafka has none.
#[test]
fn the_broker_wide_partition_limit_holds_across_requests() {
    if is_reference_kafka() {
        return;
    }
    let broker = Broker::start_with("max_partitions: 10\n");
    let (a, b) = (unique_topic("a"), unique_topic("b"));
    assert_eq!(
        create_topics(&broker, vec![new_topic(&a, 6)], false),
        vec![(0, None)]
    );
    let refused = create_topics(&broker, vec![new_topic(&b, 6)], false);
    assert_eq!(refused[0].0, policy_violation(), "{refused:?}");
    assert_eq!(create_partitions(&broker, &a, 11).0, policy_violation());
    assert_eq!(
        create_topics(&broker, vec![new_topic(&b, 4)], false),
        vec![(0, None)]
    );
    assert_eq!(partition_count(&broker, &a), Some(6));
}

/// Group-coordinator errors that only mean "not ready yet" (Kafka loads `__consumer_offsets` first).
fn coordinator_not_ready(code: i16) -> bool {
    [
        ResponseError::CoordinatorNotAvailable.code(),
        ResponseError::NotCoordinator.code(),
        ResponseError::CoordinatorLoadInProgress.code(),
    ]
    .contains(&code)
}

fn commit_request(group: &str, topic: &str, offset: i64) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(str_bytes(""))
        .with_topics(vec![OffsetCommitRequestTopic::default()
            .with_name(str_bytes(topic).into())
            .with_partitions(vec![OffsetCommitRequestPartition::default()
                .with_partition_index(0)
                .with_committed_offset(offset)])])
}

/// Commits `offset` for partition 0 of `topic` as a simple consumer of `group` (OffsetCommit v8, flexible:
/// compact strings, whose varint length could say more than 32,767 bytes).
fn commit(broker: &Broker, group: &str, topic: &str, offset: i64) -> i16 {
    let mut code = -1;
    let ready = wait_until(Duration::from_secs(30), || {
        let response =
            RawConn::connect(broker.addr()).request(8, &commit_request(group, topic, offset));
        code = response.topics[0].partitions[0].error_code;
        !coordinator_not_ready(code)
    });
    assert!(
        ready,
        "the group coordinator never became available (last code {code})"
    );
    code
}

/// The offset committed for partition 0 of `topic` by `group` (OffsetFetch v7), -1 if none.
fn fetch_committed(broker: &Broker, group: &str, topic: &str) -> i64 {
    let request = OffsetFetchRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_topics(Some(vec![OffsetFetchRequestTopic::default()
            .with_name(str_bytes(topic).into())
            .with_partition_indexes(vec![0])]));
    let mut offset = -1;
    let ready = wait_until(Duration::from_secs(30), || {
        let response = RawConn::connect(broker.addr()).request(7, &request);
        if coordinator_not_ready(response.error_code) {
            return false;
        }
        assert_eq!(response.error_code, 0, "OffsetFetch");
        let p = &response.topics[0].partitions[0];
        assert_eq!(p.error_code, 0, "OffsetFetch partition");
        offset = p.committed_offset;
        true
    });
    assert!(ready, "the group coordinator never became available");
    offset
}

#[test]
fn group_ids_past_32767_bytes_close_the_connection_and_the_longest_allowed_survives_a_restart() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("offsets");
    create_topic(&broker.bootstrap(), &topic, 1);
    let longest = "g".repeat(0x7fff);
    // A group id that is a prefix of the long one: their offsets must stay apart.
    let short = "g".repeat(15);
    assert_eq!(commit(&broker, &longest, &topic, 42), 0);
    assert_eq!(commit(&broker, &short, &topic, 7), 0);
    for len in [0x8000, 65_536, 70_000] {
        let mut conn = RawConn::connect(broker.addr());
        conn.send_request(8, &commit_request(&"g".repeat(len), &topic, 1));
        if let Err(problem) = conn.expect_closed(Duration::from_secs(10)) {
            panic!("a {len}-byte group id: expected the connection closed, but {problem}");
        }
    }
    broker.restart();
    assert_eq!(fetch_committed(&broker, &longest, &topic), 42);
    assert_eq!(fetch_committed(&broker, &short, &topic), 7);
    // Nothing was stored for the refused ids, and the broker still serves.
    assert_eq!(fetch_committed(&broker, &"g".repeat(100), &topic), -1);
    broker.assert_healthy();
}
