//! The cluster APIs a single Kafka node answers (#14 items 17 and 19): ACLs without an authorizer,
//! ElectLeaders, partition reassignments, client quotas, DescribeQuorum and DescribeProducers.
//! Each is sent over a raw connection at the lowest and the highest version the broker advertises,
//! and the answers compared with what Kafka 4.4 sends: the same test passes against both.

use std::time::Duration;

use compat_tests::raw::{str_bytes, RawConn, Versions};
use compat_tests::{
    create_topic, flush_delivered, is_reference_kafka, producer, unique_topic, wait_until, Broker,
    Msg,
};
use kafka_protocol::messages::alter_client_quotas_request as alter_quotas;
use kafka_protocol::messages::alter_partition_reassignments_request::{
    ReassignablePartition, ReassignableTopic,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::describe_client_quotas_request::ComponentData;
use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_quorum_request;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::list_partition_reassignments_request::ListPartitionReassignmentsTopics;
use kafka_protocol::messages::{
    AlterClientQuotasRequest, AlterPartitionReassignmentsRequest, ApiKey, BrokerId,
    CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeClientQuotasRequest,
    DescribeClientQuotasResponse, DescribeProducersRequest, DescribeQuorumRequest,
    ElectLeadersRequest, ListPartitionReassignmentsRequest, MetadataRequest, TopicName,
};

const SECURITY_DISABLED: i16 = 54;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const INVALID_REQUEST: i16 = 42;
const INVALID_REPLICA_ASSIGNMENT: i16 = 39;
const ELECTION_NOT_NEEDED: i16 = 84;
const NO_REASSIGNMENT_IN_PROGRESS: i16 = 85;

/// The lowest and the highest advertised version of `key` (once if they are the same).
fn ends(versions: &Versions, key: ApiKey) -> Vec<i16> {
    let (lo, hi) = versions
        .range(key)
        .unwrap_or_else(|| panic!("{key:?} is not advertised"));
    if lo == hi {
        vec![lo]
    } else {
        vec![lo, hi]
    }
}

fn topic_name(name: &str) -> TopicName {
    TopicName(str_bytes(name))
}

/// The broker's node id, from Metadata.
fn node_id(conn: &mut RawConn) -> i32 {
    let r = conn.request(1, &MetadataRequest::default().with_topics(Some(vec![])));
    r.brokers[0].node_id.0
}

#[test]
fn every_api_is_advertised_at_kafkas_versions() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    // What Kafka 4.4.0 advertises on a single KRaft node.
    for (key, range) in [
        (ApiKey::DescribeAcls, (1, 3)),
        (ApiKey::CreateAcls, (1, 3)),
        (ApiKey::DeleteAcls, (1, 3)),
        (ApiKey::ElectLeaders, (0, 2)),
        (ApiKey::AlterPartitionReassignments, (0, 1)),
        (ApiKey::ListPartitionReassignments, (0, 0)),
        (ApiKey::DescribeClientQuotas, (0, 1)),
        (ApiKey::AlterClientQuotas, (0, 1)),
        (ApiKey::DescribeQuorum, (0, 2)),
        (ApiKey::DescribeProducers, (0, 0)),
    ] {
        assert_eq!(versions.range(key), Some(range), "{key:?}");
    }
}

#[test]
fn acl_apis_answer_security_disabled_without_an_authorizer() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    // ANY (1) for every filter field; a LITERAL (3) TOPIC (2) ALLOW (3) READ (3) binding to create.
    for v in ends(&versions, ApiKey::DescribeAcls) {
        let r = conn.request(
            v,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        );
        assert_eq!(r.error_code, SECURITY_DISABLED, "DescribeAcls v{v}");
        assert_eq!(
            r.error_message.as_deref(),
            Some("No Authorizer is configured on the broker"),
            "DescribeAcls v{v}"
        );
        assert!(r.resources.is_empty());
    }
    for v in ends(&versions, ApiKey::CreateAcls) {
        let creation = AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("t"))
            .with_resource_pattern_type(3)
            .with_principal(str_bytes("User:alice"))
            .with_host(str_bytes("*"))
            .with_operation(3)
            .with_permission_type(3);
        let r = conn.request(
            v,
            &CreateAclsRequest::default().with_creations(vec![creation.clone(), creation]),
        );
        assert_eq!(r.results.len(), 2, "CreateAcls v{v}");
        for result in &r.results {
            assert_eq!(result.error_code, SECURITY_DISABLED, "CreateAcls v{v}");
            assert_eq!(
                result.error_message.as_deref(),
                Some("No Authorizer is configured.")
            );
        }
    }
    for v in ends(&versions, ApiKey::DeleteAcls) {
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let r = conn.request(v, &DeleteAclsRequest::default().with_filters(vec![filter]));
        assert_eq!(r.filter_results.len(), 1, "DeleteAcls v{v}");
        let f = &r.filter_results[0];
        assert_eq!(f.error_code, SECURITY_DISABLED, "DeleteAcls v{v}");
        assert_eq!(
            f.error_message.as_deref(),
            Some("No Authorizer is configured.")
        );
        assert!(f.matching_acls.is_empty());
    }
}

#[test]
fn leaders_are_never_elected_and_nothing_is_reassigned() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    let topic = unique_topic("elect");
    create_topic(&broker.bootstrap(), &topic, 2);
    let node = node_id(&mut conn);
    let missing = unique_topic("missing");

    for v in ends(&versions, ApiKey::ElectLeaders) {
        let named = ElectLeadersRequest::default()
            .with_election_type(0)
            .with_topic_partitions(Some(vec![
                TopicPartitions::default()
                    .with_topic(topic_name(&topic))
                    .with_partitions(vec![0, 1, 9]),
                TopicPartitions::default()
                    .with_topic(topic_name(&missing))
                    .with_partitions(vec![0]),
            ]))
            .with_timeout_ms(30_000);
        let r = conn.request(v, &named);
        assert_eq!(r.error_code, 0, "ElectLeaders v{v}");
        let results: Vec<Vec<(i16, Option<String>)>> = r
            .replica_election_results
            .iter()
            .map(|t| {
                t.partition_result
                    .iter()
                    .map(|p| {
                        (
                            p.error_code,
                            p.error_message.as_ref().map(|m| m.to_string()),
                        )
                    })
                    .collect()
            })
            .collect();
        let not_needed = Some("Leader election not needed for topic partition.".to_string());
        assert_eq!(
            results,
            vec![
                vec![
                    (ELECTION_NOT_NEEDED, not_needed.clone()),
                    (ELECTION_NOT_NEEDED, not_needed),
                    (
                        UNKNOWN_TOPIC_OR_PARTITION,
                        Some(format!("No such partition as {topic}-9"))
                    ),
                ],
                vec![(
                    UNKNOWN_TOPIC_OR_PARTITION,
                    Some(format!("No such topic as {missing}"))
                )],
            ],
            "ElectLeaders v{v}"
        );
        // Every partition: each topic listed, without the partitions that need no election.
        let all = conn.request(
            v,
            &ElectLeadersRequest::default()
                .with_topic_partitions(None)
                .with_timeout_ms(30_000),
        );
        assert_eq!(all.error_code, 0, "ElectLeaders v{v} (all)");
        let ours = all
            .replica_election_results
            .iter()
            .find(|t| t.topic.as_str() == topic)
            .unwrap_or_else(|| panic!("ElectLeaders v{v} (all) lists {topic}"));
        assert!(ours.partition_result.is_empty(), "ElectLeaders v{v} (all)");
    }

    for v in ends(&versions, ApiKey::AlterPartitionReassignments) {
        let target = |index: i32, replicas: Option<Vec<i32>>| {
            ReassignablePartition::default()
                .with_partition_index(index)
                .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect()))
        };
        let request = AlterPartitionReassignmentsRequest::default()
            .with_timeout_ms(30_000)
            .with_topics(vec![
                ReassignableTopic::default()
                    .with_name(topic_name(&topic))
                    .with_partitions(vec![
                        target(0, Some(vec![node])),
                        target(1, Some(vec![node + 1])),
                        target(1, None),
                        target(9, Some(vec![node])),
                    ]),
                ReassignableTopic::default()
                    .with_name(topic_name(&missing))
                    .with_partitions(vec![target(0, Some(vec![node]))]),
            ]);
        let r = conn.request(v, &request);
        assert_eq!(r.error_code, 0, "AlterPartitionReassignments v{v}");
        assert_eq!(r.error_message, None, "AlterPartitionReassignments v{v}");
        let got: Vec<Vec<(i16, Option<String>)>> = r
            .responses
            .iter()
            .map(|t| {
                t.partitions
                    .iter()
                    .map(|p| {
                        (
                            p.error_code,
                            p.error_message.as_ref().map(|m| m.to_string()),
                        )
                    })
                    .collect()
            })
            .collect();
        assert_eq!(
            got,
            vec![
                vec![
                    (0, None),
                    (
                        INVALID_REPLICA_ASSIGNMENT,
                        Some(format!(
                            "The manual partition assignment includes broker {}, but no such \
                             broker is registered.",
                            node + 1
                        ))
                    ),
                    (NO_REASSIGNMENT_IN_PROGRESS, None),
                    (
                        UNKNOWN_TOPIC_OR_PARTITION,
                        Some(format!("Unable to find partition {topic}:9."))
                    ),
                ],
                vec![(
                    UNKNOWN_TOPIC_OR_PARTITION,
                    Some(format!("Unable to find a topic named {missing}."))
                )],
            ],
            "AlterPartitionReassignments v{v}"
        );
    }

    for v in ends(&versions, ApiKey::ListPartitionReassignments) {
        let all = conn.request(
            v,
            &ListPartitionReassignmentsRequest::default()
                .with_topics(None)
                .with_timeout_ms(30_000),
        );
        assert_eq!((all.error_code, all.error_message.as_deref()), (0, None));
        assert!(all.topics.is_empty(), "ListPartitionReassignments v{v}");
        let named = conn.request(
            v,
            &ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(Some(vec![
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(&topic))
                        .with_partition_indexes(vec![0, 1]),
                    ListPartitionReassignmentsTopics::default()
                        .with_name(topic_name(&missing))
                        .with_partition_indexes(vec![0]),
                ])),
        );
        assert_eq!(named.error_code, 0);
        assert!(named.topics.is_empty(), "ListPartitionReassignments v{v}");
    }
}

fn quota_entry(user: &str, ops: &[(&str, Option<f64>)]) -> alter_quotas::EntryData {
    alter_quotas::EntryData::default()
        .with_entity(vec![alter_quotas::EntityData::default()
            .with_entity_type(str_bytes("user"))
            .with_entity_name(Some(str_bytes(user)))])
        .with_ops(
            ops.iter()
                .map(|(k, v)| {
                    alter_quotas::OpData::default()
                        .with_key(str_bytes(k))
                        .with_value(v.unwrap_or(0.0))
                        .with_remove(v.is_none())
                })
                .collect(),
        )
}

/// The quota values of `user`, by an exact, strict match.
fn quotas_of(conn: &mut RawConn, version: i16, user: &str) -> Vec<(String, f64)> {
    let r: DescribeClientQuotasResponse = conn.request(
        version,
        &DescribeClientQuotasRequest::default()
            .with_strict(true)
            .with_components(vec![ComponentData::default()
                .with_entity_type(str_bytes("user"))
                .with_match_type(0)
                .with_match(Some(str_bytes(user)))]),
    );
    assert_eq!(r.error_code, 0, "DescribeClientQuotas v{version}");
    let mut values: Vec<(String, f64)> = r
        .entries
        .expect("entries")
        .iter()
        .flat_map(|e| e.values.iter().map(|v| (v.key.to_string(), v.value)))
        .collect();
    values.sort_by(|a, b| a.0.cmp(&b.0));
    values
}

#[test]
fn client_quotas_are_stored_described_and_survive_a_restart() {
    let mut broker = Broker::start_own();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    // Kafka's broker describes what its controller committed once the metadata reaches it.
    let settle = Duration::from_secs(30);

    let alter_versions = ends(&versions, ApiKey::AlterClientQuotas);
    let describe_versions = ends(&versions, ApiKey::DescribeClientQuotas);
    let mut users = Vec::new();
    for &v in &alter_versions {
        let user = unique_topic("quota-user");
        let ops = [
            ("producer_byte_rate", Some(1024.0)),
            ("request_percentage", Some(12.5)),
        ];
        // validate_only changes nothing.
        let r = conn.request(
            v,
            &AlterClientQuotasRequest::default()
                .with_entries(vec![quota_entry(&user, &ops)])
                .with_validate_only(true),
        );
        assert_eq!(r.entries[0].error_code, 0, "AlterClientQuotas v{v}");
        let r = conn.request(
            v,
            &AlterClientQuotasRequest::default().with_entries(vec![quota_entry(&user, &ops)]),
        );
        assert_eq!(
            (
                r.entries[0].error_code,
                r.entries[0].error_message.as_deref()
            ),
            (0, None),
            "AlterClientQuotas v{v}"
        );
        let expected = vec![
            ("producer_byte_rate".to_string(), 1024.0),
            ("request_percentage".to_string(), 12.5),
        ];
        for &dv in &describe_versions {
            assert!(
                wait_until(settle, || quotas_of(&mut conn, dv, &user) == expected),
                "DescribeClientQuotas v{dv} after AlterClientQuotas v{v}: {:?}",
                quotas_of(&mut conn, dv, &user)
            );
        }
        // Removing one value keeps the other.
        let r = conn.request(
            v,
            &AlterClientQuotasRequest::default()
                .with_entries(vec![quota_entry(&user, &[("request_percentage", None)])]),
        );
        assert_eq!(r.entries[0].error_code, 0);
        let remaining = vec![("producer_byte_rate".to_string(), 1024.0)];
        assert!(wait_until(settle, || quotas_of(&mut conn, 0, &user) == remaining));
        users.push(user);
    }

    // Refusals, with Kafka's messages.
    let v = *alter_versions.last().unwrap();
    for (ops, message) in [
        (
            vec![("bogus", Some(1.0))],
            "Invalid configuration key bogus",
        ),
        (
            vec![("producer_byte_rate", Some(1.5))],
            "producer_byte_rate cannot be a fractional value.",
        ),
        (
            vec![("consumer_byte_rate", Some(-1.0))],
            "Quota consumer_byte_rate must be greater than 0",
        ),
        (
            vec![("request_percentage", Some(f64::NAN))],
            "Quota request_percentage must be a finite number",
        ),
        (
            vec![
                ("producer_byte_rate", Some(1.0)),
                ("producer_byte_rate", Some(2.0)),
            ],
            "Ignoring duplicate entity ClientQuotaEntity(entries={user=refused})",
        ),
    ] {
        let r = conn.request(
            v,
            &AlterClientQuotasRequest::default().with_entries(vec![quota_entry("refused", &ops)]),
        );
        assert_eq!(
            (
                r.entries[0].error_code,
                r.entries[0].error_message.as_deref()
            ),
            (INVALID_REQUEST, Some(message)),
        );
    }
    let bad_filter = conn.request(
        0,
        &DescribeClientQuotasRequest::default().with_components(vec![ComponentData::default()
            .with_entity_type(str_bytes("user"))
            .with_match_type(0)
            .with_match(None)]),
    );
    assert_eq!(bad_filter.error_code, INVALID_REQUEST);
    assert_eq!(
        bad_filter.error_message.as_deref(),
        Some("Request specified MATCH_TYPE_EXACT, but set match string to null.")
    );
    assert!(bad_filter.entries.is_none());

    broker.restart();
    let mut conn = RawConn::connect(broker.addr());
    let remaining = vec![("producer_byte_rate".to_string(), 1024.0)];
    for user in &users {
        assert!(
            wait_until(settle, || quotas_of(&mut conn, 1, user) == remaining),
            "after a restart: {:?}",
            quotas_of(&mut conn, 1, user)
        );
    }
    assert!(quotas_of(&mut conn, 1, "refused").is_empty());
}

#[test]
fn describe_quorum_shows_this_node_as_the_only_voter() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    let node = node_id(&mut conn);
    let request = |topic: &str, partition: i32| {
        DescribeQuorumRequest::default().with_topics(vec![
            describe_quorum_request::TopicData::default()
                .with_topic_name(topic_name(topic))
                .with_partitions(vec![describe_quorum_request::PartitionData::default()
                    .with_partition_index(partition)]),
        ])
    };
    for v in ends(&versions, ApiKey::DescribeQuorum) {
        let r = conn.request(v, &request("__cluster_metadata", 0));
        assert_eq!(r.error_code, 0, "DescribeQuorum v{v}");
        assert_eq!(r.topics.len(), 1);
        assert_eq!(r.topics[0].topic_name.as_str(), "__cluster_metadata");
        let p = &r.topics[0].partitions[0];
        assert_eq!(
            (p.partition_index, p.error_code),
            (0, 0),
            "DescribeQuorum v{v}"
        );
        assert_eq!(p.leader_id.0, node);
        assert!(p.leader_epoch >= 1);
        assert!(p.high_watermark >= 0);
        let voters: Vec<i32> = p.current_voters.iter().map(|r| r.replica_id.0).collect();
        assert_eq!(voters, vec![node], "DescribeQuorum v{v}");
        assert!(
            p.observers.is_empty(),
            "DescribeQuorum v{v}: {:?}",
            p.observers
        );
        let voter = &p.current_voters[0];
        if v >= 1 {
            assert!(voter.last_fetch_timestamp > 0 && voter.last_caught_up_timestamp > 0);
        }
        if v >= 2 {
            // The voter's directory id is nil for a quorum of static voters
            // (controller.quorum.voters, as run-kafka.sh configures Kafka) and the metadata log
            // directory's id for a dynamic one (formatted with --standalone); Sluice reports one.
            if !is_reference_kafka() {
                assert!(!voter.replica_directory_id.is_nil());
            }
            assert_eq!(r.nodes.len(), 1);
            assert_eq!(r.nodes[0].node_id.0, node);
            assert!(!r.nodes[0].listeners.is_empty());
        }
        for (topic, partition) in [("__cluster_metadata", 1), ("other", 0)] {
            let r = conn.request(v, &request(topic, partition));
            let p = &r.topics[0].partitions[0];
            assert_eq!(
                p.error_code, UNKNOWN_TOPIC_OR_PARTITION,
                "DescribeQuorum v{v} {topic}-{partition}"
            );
            if v >= 2 {
                assert_eq!(
                    p.error_message.as_deref(),
                    Some("This server does not host this topic-partition.")
                );
            }
        }
    }
}

#[test]
fn describe_producers_lists_idempotent_producers() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let topic = unique_topic("producers");
    create_topic(&broker.bootstrap(), &topic, 2);
    let p = producer(
        &broker.bootstrap(),
        &[("enable.idempotence", "true"), ("acks", "all")],
    );
    let messages: Vec<Msg> = (0..5).map(|i| Msg::sample(i, 1)).collect();
    for (id, m) in messages.iter().enumerate() {
        p.send(m.record(&topic, id))
            .map_err(|(e, _)| e)
            .expect("enqueue");
    }
    flush_delivered(&p, messages.len(), Duration::from_secs(30));

    let mut conn = RawConn::connect(broker.addr());
    let missing = unique_topic("missing");
    for v in ends(&versions, ApiKey::DescribeProducers) {
        let r = conn.request(
            v,
            &DescribeProducersRequest::default().with_topics(vec![
                TopicRequest::default()
                    .with_name(topic_name(&topic))
                    .with_partition_indexes(vec![0, 1, 9]),
                TopicRequest::default()
                    .with_name(topic_name(&missing))
                    .with_partition_indexes(vec![0]),
            ]),
        );
        let parts = &r.topics[0].partitions;
        assert_eq!(parts[0].error_code, 0, "DescribeProducers v{v}");
        assert_eq!(parts[0].active_producers.len(), 1, "DescribeProducers v{v}");
        let state = &parts[0].active_producers[0];
        assert!(state.producer_id.0 >= 0);
        assert!(state.producer_epoch >= 0);
        // Five records from sequence 0, however the producer batched them.
        assert_eq!(state.last_sequence, 4);
        assert!(state.last_timestamp > 0);
        assert_eq!(
            (state.coordinator_epoch, state.current_txn_start_offset),
            (-1, -1)
        );
        assert_eq!(
            (parts[1].error_code, parts[1].active_producers.len()),
            (0, 0)
        );
        assert_eq!(parts[2].error_code, UNKNOWN_TOPIC_OR_PARTITION);
        assert_eq!(
            r.topics[1].partitions[0].error_code,
            UNKNOWN_TOPIC_OR_PARTITION
        );
        let invalid = conn.request(
            v,
            &DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
                .with_name(topic_name("bad name"))
                .with_partition_indexes(vec![0])]),
        );
        let p = &invalid.topics[0].partitions[0];
        assert_eq!(p.error_code, INVALID_TOPIC_EXCEPTION);
        assert_eq!(
            p.error_message.as_deref(),
            Some(
                "Topic name is invalid: 'bad name' contains one or more characters other than \
                 ASCII alphanumerics, '.', '_' and '-'"
            )
        );
    }
}
