//! Response fields whose exact value some client's tests compare: a null where Kafka sends null, a
//! string where it sends one (kafkajs and aiokafka compare `error_message`s; #14 item 13).
//!
//! kafka-protocol defaults every nullable string to `Some("")`, as Kafka's generated classes
//! default to "" when a field is never set; but Kafka's handlers set `null` (or "NONE") explicitly
//! on success in these responses.

use compat_tests::raw::{str_bytes, RawConn, Versions};
use compat_tests::{unique_topic, wait_for_topic, Broker};
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig,
};
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, CreateTopicsRequest, DescribeConfigsRequest,
    FindCoordinatorRequest, IncrementalAlterConfigsRequest,
};

const TOPIC_RESOURCE: i8 = 2;

fn versions_of(v: &Versions, key: ApiKey) -> Vec<i16> {
    let (lo, hi) = v.range(key).expect("API advertised");
    (lo..=hi).collect()
}

#[test]
fn successful_answers_carry_kafkas_error_message() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());

    for version in versions_of(&versions, ApiKey::CreateTopics) {
        let name = unique_topic("nullable");
        let r = conn.request(
            version,
            &CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(str_bytes(&name).into())
                    .with_num_partitions(1)
                    .with_replication_factor(1)])
                .with_timeout_ms(30_000),
        );
        let t = &r.topics[0];
        assert_eq!(t.error_code, 0, "CreateTopics v{version}");
        if version >= 1 {
            assert_eq!(t.error_message, None, "CreateTopics v{version}");
        }
    }

    let topic = unique_topic("nullable");
    {
        let r = conn.request(
            versions.pick(ApiKey::CreateTopics, 0, 7),
            &CreateTopicsRequest::default()
                .with_topics(vec![CreatableTopic::default()
                    .with_name(str_bytes(&topic).into())
                    .with_num_partitions(1)
                    .with_replication_factor(1)])
                .with_timeout_ms(30_000),
        );
        assert_eq!(r.topics[0].error_code, 0);
        wait_for_topic(&broker.bootstrap(), &topic);
    }
    for version in versions_of(&versions, ApiKey::DescribeConfigs) {
        let r = conn.request(
            version,
            &DescribeConfigsRequest::default().with_resources(vec![
                DescribeConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(str_bytes(&topic))
                    .with_configuration_keys(Some(vec![str_bytes("retention.ms")])),
            ]),
        );
        let res = &r.results[0];
        assert_eq!(res.error_code, 0, "DescribeConfigs v{version}");
        // Left unset: "".
        assert_eq!(
            res.error_message.as_deref(),
            Some(""),
            "DescribeConfigs v{version}"
        );
    }
    for version in versions_of(&versions, ApiKey::AlterConfigs) {
        let r = conn.request(
            version,
            &AlterConfigsRequest::default().with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(TOPIC_RESOURCE)
                .with_resource_name(str_bytes(&topic))]),
        );
        let res = &r.responses[0];
        assert_eq!(res.error_code, 0, "AlterConfigs v{version}");
        assert_eq!(res.error_message, None, "AlterConfigs v{version}");
    }
    for version in versions_of(&versions, ApiKey::IncrementalAlterConfigs) {
        let r = conn.request(
            version,
            &IncrementalAlterConfigsRequest::default().with_resources(vec![
                IncrementalResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(str_bytes(&topic))
                    .with_configs(vec![AlterableConfig::default()
                        .with_name(str_bytes("retention.ms"))
                        .with_config_operation(0)
                        .with_value(Some(str_bytes("3600000")))]),
            ]),
        );
        let res = &r.responses[0];
        assert_eq!(res.error_code, 0, "IncrementalAlterConfigs v{version}");
        assert_eq!(
            res.error_message, None,
            "IncrementalAlterConfigs v{version}"
        );
    }

    for version in versions_of(&versions, ApiKey::FindCoordinator) {
        let group = str_bytes("nullable-group");
        let req = if version >= 4 {
            FindCoordinatorRequest::default().with_coordinator_keys(vec![group])
        } else {
            FindCoordinatorRequest::default().with_key(group)
        };
        let r = conn.request(version, &req);
        if version >= 4 {
            let c = &r.coordinators[0];
            assert_eq!(c.error_code, 0, "FindCoordinator v{version}");
            // The batched form leaves it unset: "".
            assert_eq!(
                c.error_message.as_deref(),
                Some(""),
                "FindCoordinator v{version}"
            );
        } else {
            assert_eq!(r.error_code, 0, "FindCoordinator v{version}");
            if version >= 1 {
                assert_eq!(
                    r.error_message.as_deref(),
                    Some("NONE"),
                    "FindCoordinator v{version}"
                );
            }
        }
    }
}
