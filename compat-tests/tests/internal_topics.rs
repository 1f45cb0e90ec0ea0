//! `__consumer_offsets` as clients see it (#14 item 16): Kafka lists it in Metadata, marked
//! internal, once a group coordinator exists (franz-go's and aiokafka's tests wait for it or filter
//! it out), refuses records produced to it or deleted from it, and describes the configs it was
//! created with. Sluice keeps committed offsets in its store, so there the topic is always empty;
//! Kafka's holds the commit records (compat-tests/FINDINGS.md).

use compat_tests::raw::{self, encode_batch, record, str_bytes, RawConn, Versions};
use compat_tests::{now_ms, wait_until, Broker};
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreateTopicsRequest, DeleteRecordsRequest,
    DescribeConfigsRequest, FindCoordinatorRequest, MetadataRequest,
};
use kafka_protocol::records::Compression;
use std::time::Duration;

const OFFSETS: &str = "__consumer_offsets";
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const TOPIC_ALREADY_EXISTS: i16 = 36;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;

#[test]
fn consumer_offsets_is_listed_internal_once_a_coordinator_exists() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    let ready = wait_until(Duration::from_secs(30), || {
        let r = conn.request(
            3,
            &FindCoordinatorRequest::default().with_key(str_bytes("g")),
        );
        r.error_code == 0
    });
    assert!(ready, "no group coordinator");

    for version in [1, versions.pick(ApiKey::Metadata, 1, 12)] {
        let md = conn.request(version, &MetadataRequest::default().with_topics(None));
        let t = md
            .topics
            .iter()
            .find(|t| t.name.as_deref().map(|n| n.as_str()) == Some(OFFSETS))
            .unwrap_or_else(|| panic!("Metadata v{version} does not list {OFFSETS}"));
        assert_eq!(t.error_code, 0);
        assert!(t.is_internal, "Metadata v{version}: {OFFSETS} is internal");
        assert!(!t.partitions.is_empty());
    }

    let batch = encode_batch(
        &[record(0, now_ms(), None, Some("x".into()))],
        Compression::None,
    );
    let produced = raw::produce(broker.addr(), OFFSETS, vec![(0, batch.freeze())]);
    assert_eq!(
        produced[&0].0, INVALID_TOPIC_EXCEPTION,
        "produce to {OFFSETS}"
    );

    let r = conn.request(
        versions.pick(ApiKey::DeleteRecords, 0, 2),
        &DeleteRecordsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![DeleteRecordsTopic::default()
                .with_name(str_bytes(OFFSETS).into())
                .with_partitions(vec![DeleteRecordsPartition::default()
                    .with_partition_index(0)
                    .with_offset(0)])]),
    );
    assert_eq!(
        r.topics[0].partitions[0].error_code,
        INVALID_TOPIC_EXCEPTION
    );

    let r = conn.request(
        versions.pick(ApiKey::CreateTopics, 2, 7),
        &CreateTopicsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatableTopic::default()
                .with_name(str_bytes(OFFSETS).into())
                .with_num_partitions(1)
                .with_replication_factor(1)]),
    );
    assert_eq!(r.topics[0].error_code, TOPIC_ALREADY_EXISTS);

    // Kafka lets its offsets topic grow, as any topic; an assignment list that does not cover the
    // new partitions is refused for it as for any topic.
    let grow = |assignments| {
        CreatePartitionsRequest::default()
            .with_timeout_ms(5000)
            .with_topics(vec![CreatePartitionsTopic::default()
                .with_name(str_bytes(OFFSETS).into())
                .with_count(3)
                .with_assignments(assignments)])
    };
    let version = versions.pick(ApiKey::CreatePartitions, 0, 3);
    let r = conn.request(version, &grow(Some(Vec::new())));
    assert_eq!(r.results[0].error_code, INVALID_REPLICA_ASSIGNMENT);
    let r = conn.request(version, &grow(None));
    assert_eq!(r.results[0].error_code, 0);

    let r = conn.request(
        versions.pick(ApiKey::DescribeConfigs, 1, 4),
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes(OFFSETS))
            .with_configuration_keys(Some(vec![str_bytes("cleanup.policy")]))]),
    );
    let policy = &r.results[0].configs[0];
    assert_eq!(policy.value.as_deref(), Some("compact"));
    assert_eq!(
        policy.config_source, 1,
        "a topic override (DYNAMIC_TOPIC_CONFIG)"
    );
}
