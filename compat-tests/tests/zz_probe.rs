use compat_tests::raw::{self, encode_batch, record, str_bytes, RawConn};
use compat_tests::{now_ms, wait_until, Broker};
use kafka_protocol::messages::*;
use kafka_protocol::records::Compression;
use std::time::Duration;
#[test]
fn probe() {
    let broker = Broker::start();
    let mut c = RawConn::connect(broker.addr());
    let md = c.request(12, &MetadataRequest::default().with_topics(None));
    eprintln!(
        "P before: {:?}",
        md.topics
            .iter()
            .map(|t| (
                t.name.as_ref().map(|n| n.to_string()),
                t.is_internal,
                t.partitions.len()
            ))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        3,
        &FindCoordinatorRequest::default().with_key(str_bytes("g1")),
    );
    eprintln!("P findcoord {}", r.error_code);
    wait_until(Duration::from_secs(20), || {
        c.request(
            3,
            &FindCoordinatorRequest::default().with_key(str_bytes("g1")),
        )
        .error_code
            == 0
    });
    let md = c.request(12, &MetadataRequest::default().with_topics(None));
    eprintln!(
        "P after: {:?}",
        md.topics
            .iter()
            .map(|t| (
                t.name.as_ref().map(|n| n.to_string()),
                t.is_internal,
                t.partitions.len(),
                t.error_code
            ))
            .collect::<Vec<_>>()
    );
    let md = c.request(1, &MetadataRequest::default().with_topics(None));
    eprintln!(
        "P after v1: {:?}",
        md.topics
            .iter()
            .map(|t| (
                t.name.as_ref().map(|n| n.to_string()),
                t.is_internal,
                t.partitions.len(),
                t.error_code
            ))
            .collect::<Vec<_>>()
    );
    let b = encode_batch(
        &[record(0, now_ms(), None, Some("a".into()))],
        Compression::None,
    );
    eprintln!(
        "P produce {:?}",
        raw::produce(broker.addr(), "__consumer_offsets", vec![(0, b.freeze())])
    );
    let r = c.request(
        7,
        &ListOffsetsRequest::default()
            .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                .with_name(str_bytes("__consumer_offsets").into())
                .with_partitions(vec![
                    list_offsets_request::ListOffsetsPartition::default()
                        .with_partition_index(0)
                        .with_timestamp(-1),
                ])])
            .with_replica_id(BrokerId(-1)),
    );
    eprintln!(
        "P listoffsets {:?}",
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.error_code, p.offset))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        3,
        &CreatePartitionsRequest::default()
            .with_topics(vec![
                create_partitions_request::CreatePartitionsTopic::default()
                    .with_name(str_bytes("__consumer_offsets").into())
                    .with_count(3),
            ])
            .with_timeout_ms(5000),
    );
    eprintln!(
        "P createparts {:?}",
        r.results
            .iter()
            .map(|t| (
                t.error_code,
                t.error_message.as_deref().map(|s| s.to_string())
            ))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        7,
        &CreateTopicsRequest::default()
            .with_topics(vec![create_topics_request::CreatableTopic::default()
                .with_name(str_bytes("__consumer_offsets").into())
                .with_num_partitions(1)
                .with_replication_factor(1)])
            .with_timeout_ms(5000),
    );
    eprintln!(
        "P create {:?}",
        r.topics
            .iter()
            .map(|t| (
                t.error_code,
                t.error_message.as_deref().map(|s| s.to_string())
            ))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![
            describe_configs_request::DescribeConfigsResource::default()
                .with_resource_type(2)
                .with_resource_name(str_bytes("__consumer_offsets"))
                .with_configuration_keys(Some(vec![
                    str_bytes("cleanup.policy"),
                    str_bytes("segment.bytes"),
                    str_bytes("compression.type"),
                ])),
        ]),
    );
    eprintln!(
        "P describe {:?}",
        r.results[0]
            .configs
            .iter()
            .map(|e| (
                e.name.to_string(),
                e.value.as_deref().map(|s| s.to_string()),
                e.config_source
            ))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        1,
        &IncrementalAlterConfigsRequest::default()
            .with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(2)
                    .with_resource_name(str_bytes("__consumer_offsets"))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(str_bytes("retention.ms"))
                            .with_config_operation(0)
                            .with_value(Some(str_bytes("1000"))),
                    ]),
            ])
            .with_validate_only(true),
    );
    eprintln!(
        "P alter {} {:?}",
        r.responses[0].error_code,
        r.responses[0].error_message.as_deref()
    );
    let r = c.request(12, &raw::fetch_request("__consumer_offsets", 0, 0, 0));
    eprintln!(
        "P fetch {:?}",
        r.responses
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (
                p.error_code,
                p.high_watermark,
                p.records.as_ref().map(|r| r.len())
            ))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        2,
        &DeleteRecordsRequest::default()
            .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                .with_name(str_bytes("__consumer_offsets").into())
                .with_partitions(vec![
                    delete_records_request::DeleteRecordsPartition::default()
                        .with_partition_index(0)
                        .with_offset(0),
                ])])
            .with_timeout_ms(5000),
    );
    eprintln!(
        "P deleterecords {:?}",
        r.topics
            .iter()
            .flat_map(|t| t.partitions.iter())
            .map(|p| (p.error_code, p.low_watermark))
            .collect::<Vec<_>>()
    );
    let r = c.request(
        6,
        &DeleteTopicsRequest::default()
            .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                .with_name(Some(str_bytes("__consumer_offsets").into()))])
            .with_timeout_ms(5000),
    );
    eprintln!(
        "P delete {:?}",
        r.responses
            .iter()
            .map(|t| (
                t.error_code,
                t.error_message.as_deref().map(|s| s.to_string())
            ))
            .collect::<Vec<_>>()
    );
    let md = c.request(12, &MetadataRequest::default().with_topics(None));
    eprintln!(
        "P after delete: {:?}",
        md.topics
            .iter()
            .map(|t| (
                t.name.as_ref().map(|n| n.to_string()),
                t.is_internal,
                t.partitions.len(),
                t.error_code
            ))
            .collect::<Vec<_>>()
    );
}
