//! Authorization in the handlers: the checks Kafka's request handlers make, as small helpers on
//! [`Ctx`], so each handler states what it checks rather than looping over its request by hand.
//!
//! With the authorizer off every check passes and the KIP-430 bitfields keep the values Kafka sends
//! without an authorizer, so nothing changes for a broker that does not turn it on.

use std::collections::HashSet;

use kafka_protocol::error::ResponseError;

use crate::api::Ctx;
use crate::security::acl::{AclOperation, ResourceType, CLUSTER_NAME};

/// TOPIC_AUTHORIZATION_FAILED (29).
pub const TOPIC_DENIED: i16 = 29;
/// GROUP_AUTHORIZATION_FAILED (30).
pub const GROUP_DENIED: i16 = 30;
/// CLUSTER_AUTHORIZATION_FAILED (31).
pub const CLUSTER_DENIED: i16 = 31;
/// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
pub const TRANSACTIONAL_ID_DENIED: i16 = 53;

/// The operations KIP-430 reports for each resource type (Kafka's `supportedOperations`).
const TOPIC_SUPPORTED: &[AclOperation] = &[
    AclOperation::Read,
    AclOperation::Write,
    AclOperation::Create,
    AclOperation::Delete,
    AclOperation::Alter,
    AclOperation::Describe,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
];
const GROUP_SUPPORTED: &[AclOperation] = &[
    AclOperation::Read,
    AclOperation::Describe,
    AclOperation::Delete,
];
/// A KIP-848 / KIP-932 group's: also its dynamic configs'.
const GROUP_WITH_CONFIGS_SUPPORTED: &[AclOperation] = &[
    AclOperation::Read,
    AclOperation::Describe,
    AclOperation::Delete,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
];
const CLUSTER_SUPPORTED: &[AclOperation] = &[
    AclOperation::Create,
    AclOperation::ClusterAction,
    AclOperation::DescribeConfigs,
    AclOperation::AlterConfigs,
    AclOperation::IdempotentWrite,
    AclOperation::Alter,
    AclOperation::Describe,
];

impl Ctx<'_> {
    /// Whether the client may do `operation` on the cluster.
    pub fn authorize_cluster(&self, operation: AclOperation) -> bool {
        self.authorize(operation, ResourceType::Cluster, CLUSTER_NAME)
    }

    /// Whether the client may do `operation` on some resource of the type (Kafka's
    /// `authorizeByResourceType`).
    pub fn authorize_any(&self, operation: AclOperation, resource_type: ResourceType) -> bool {
        self.broker
            .authorizer()
            .authorize_any(self.session, operation, resource_type)
    }

    /// Splits a request's items into those whose resource the client may do `operation` on and
    /// the rest, each keeping its order; a name repeated in the request is asked about once.
    pub fn split_authorized<T>(
        &self,
        operation: AclOperation,
        resource_type: ResourceType,
        items: impl IntoIterator<Item = T>,
        name: impl Fn(&T) -> &str,
    ) -> (Vec<T>, Vec<T>) {
        let (mut allowed, mut denied) = (Vec::new(), Vec::new());
        let mut seen_allowed = HashSet::new();
        let mut seen_denied = HashSet::new();
        for item in items {
            let n = name(&item);
            let ok = if seen_allowed.contains(n) {
                true
            } else if seen_denied.contains(n) {
                false
            } else {
                let ok = self.authorize(operation, resource_type, n);
                if ok {
                    seen_allowed.insert(n.to_string());
                } else {
                    seen_denied.insert(n.to_string());
                }
                ok
            };
            if ok {
                allowed.push(item);
            } else {
                denied.push(item);
            }
        }
        (allowed, denied)
    }

    /// The topic's KIP-430 bitfield for this client.
    pub fn topic_operations(&self, topic: &str) -> i32 {
        self.operations(
            ResourceType::Topic,
            topic,
            TOPIC_SUPPORTED,
            crate::api::TOPIC_OPERATIONS,
        )
    }

    /// The group's KIP-430 bitfield for this client.
    pub fn group_operations(&self, group: &str) -> i32 {
        self.operations(
            ResourceType::Group,
            group,
            GROUP_SUPPORTED,
            crate::api::GROUP_OPERATIONS,
        )
    }

    /// The KIP-430 bitfield of a group that has dynamic configs (a share group), for this client;
    /// `without_authorizer` is what Kafka answers with none.
    pub fn group_with_configs_operations(&self, group: &str, without_authorizer: i32) -> i32 {
        self.operations(
            ResourceType::Group,
            group,
            GROUP_WITH_CONFIGS_SUPPORTED,
            without_authorizer,
        )
    }

    /// The cluster's KIP-430 bitfield for this client.
    pub fn cluster_operations(&self) -> i32 {
        self.operations(
            ResourceType::Cluster,
            CLUSTER_NAME,
            CLUSTER_SUPPORTED,
            crate::api::CLUSTER_OPERATIONS,
        )
    }

    fn operations(
        &self,
        resource_type: ResourceType,
        name: &str,
        supported: &[AclOperation],
        without_authorizer: i32,
    ) -> i32 {
        let authorizer = self.broker.authorizer();
        if !authorizer.enabled() {
            return without_authorizer;
        }
        authorizer.authorized_operations(self.session, resource_type, name, supported)
    }
}

/// The error a whole request gets when the client may not do what it asks to a resource type.
pub fn denied(resource_type: ResourceType) -> i16 {
    match resource_type {
        ResourceType::Topic => TOPIC_DENIED,
        ResourceType::Group => GROUP_DENIED,
        ResourceType::Cluster => CLUSTER_DENIED,
        ResourceType::TransactionalId => TRANSACTIONAL_ID_DENIED,
        ResourceType::DelegationToken => ResponseError::DelegationTokenAuthorizationFailed.code(),
        ResourceType::User => CLUSTER_DENIED,
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::broker::Broker;
    use crate::config::Config;
    use crate::security::acl::{AclBinding, PatternType, Permission, WILDCARD};

    /// A broker whose authorizer is on, with no ACLs: the unit tests' ANONYMOUS client may do
    /// nothing until [`allow`] lets it.
    pub fn secured_broker(dir: &std::path::Path) -> Broker {
        test_broker(
            dir,
            Config {
                authorizer_enabled: true,
                ..Config::default()
            },
        )
    }

    /// Lets `User:ANONYMOUS` (every unit test's client) do `operation` on a literal resource.
    pub fn allow(
        broker: &Broker,
        resource_type: ResourceType,
        name: &str,
        operation: AclOperation,
    ) {
        broker.authorizer().add(AclBinding {
            resource_type,
            resource_name: name.into(),
            pattern_type: PatternType::Literal,
            principal: "User:ANONYMOUS".into(),
            host: WILDCARD.into(),
            operation,
            permission: Permission::Allow,
        });
    }

    #[test]
    fn split_keeps_order_and_asks_once_per_name() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        allow(&b, ResourceType::Topic, "a", AclOperation::Read);
        let ctx = Ctx::test(&b, 0);
        let (ok, no) = ctx.split_authorized(
            AclOperation::Read,
            ResourceType::Topic,
            vec![("a", 0), ("b", 0), ("a", 1), ("b", 1)],
            |t| t.0,
        );
        assert_eq!(ok, vec![("a", 0), ("a", 1)]);
        assert_eq!(no, vec![("b", 0), ("b", 1)]);
        assert!(!ctx.authorize_cluster(AclOperation::Describe));
        assert!(ctx.authorize_any(AclOperation::Read, ResourceType::Topic));
        assert!(!ctx.authorize_any(AclOperation::Write, ResourceType::Topic));
    }

    #[test]
    fn operations_bitfields() {
        let dir = tempfile::tempdir().unwrap();
        let open = test_broker(dir.path(), Config::default());
        let ctx = Ctx::test(&open, 0);
        assert_eq!(ctx.topic_operations("t"), crate::api::TOPIC_OPERATIONS);
        assert_eq!(ctx.group_operations("g"), crate::api::GROUP_OPERATIONS);
        assert_eq!(ctx.cluster_operations(), crate::api::CLUSTER_OPERATIONS);
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        allow(&b, ResourceType::Topic, "t", AclOperation::Read);
        let ctx = Ctx::test(&b, 0);
        // READ, and the DESCRIBE it implies.
        assert_eq!(ctx.topic_operations("t"), (1 << 3) | (1 << 8));
        assert_eq!(ctx.group_operations("g"), 0);
        assert_eq!(ctx.cluster_operations(), 0);
    }

    /// The group APIs: READ on the group to take part or commit (and READ on each committed topic),
    /// DESCRIBE to fetch offsets or describe, DELETE to delete; ListGroups filters.
    #[test]
    fn group_apis() {
        use crate::api::{
            delete_groups, describe_groups, heartbeat, list_groups, offset_commit, offset_fetch,
        };
        use crate::protocol::ResponseBody;
        use kafka_protocol::messages::offset_commit_request::*;
        use kafka_protocol::messages::offset_fetch_request::*;
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::StrBytes;
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        b.create_topic("open", 1, Default::default(), false)
            .unwrap();
        b.create_topic("shut", 1, Default::default(), false)
            .unwrap();
        allow(&b, ResourceType::Group, "mine", AclOperation::Read);
        allow(&b, ResourceType::Topic, "open", AclOperation::Read);
        let str = |v: &str| StrBytes::from_string(v.to_string());
        let group = |g: &str| GroupId(str(g));
        let ctx = Ctx::test(&b, 9);
        let hb = heartbeat::handle(
            &Ctx::test(&b, 4),
            HeartbeatRequest::default().with_group_id(group("theirs")),
        );
        assert_eq!(hb.error_code, GROUP_DENIED);
        let commit = |g: &str| {
            let topics = ["open", "shut"].map(|t| {
                OffsetCommitRequestTopic::default()
                    .with_name(str(t).into())
                    .with_partitions(vec![
                        OffsetCommitRequestPartition::default().with_committed_offset(5)
                    ])
            });
            let req = OffsetCommitRequest::default()
                .with_group_id(group(g))
                .with_generation_id_or_member_epoch(-1)
                .with_topics(topics.to_vec());
            let r = match offset_commit::handle(&ctx, req) {
                crate::api::Outcome::Now(ResponseBody::Kind(ResponseKind::OffsetCommit(r))) => r,
                crate::api::Outcome::Later(f) => {
                    match tokio::runtime::Builder::new_current_thread()
                        .enable_all()
                        .build()
                        .unwrap()
                        .block_on(f)
                    {
                        ResponseBody::Kind(ResponseKind::OffsetCommit(r)) => r,
                        _ => panic!("not an OffsetCommit response"),
                    }
                }
                _ => panic!("not an OffsetCommit response"),
            };
            r.topics
                .iter()
                .map(|t| (t.name.to_string(), t.partitions[0].error_code))
                .collect::<Vec<_>>()
        };
        assert_eq!(
            commit("theirs"),
            vec![("open".into(), GROUP_DENIED), ("shut".into(), GROUP_DENIED)]
        );
        assert_eq!(
            commit("mine"),
            vec![("open".into(), 0), ("shut".into(), TOPIC_DENIED)]
        );
        let fetch = |g: &str, topics: Option<Vec<&str>>| {
            let topics = topics.map(|ts| {
                ts.into_iter()
                    .map(|t| {
                        OffsetFetchRequestTopics::default()
                            .with_name(str(t).into())
                            .with_partition_indexes(vec![0])
                    })
                    .collect()
            });
            let req =
                OffsetFetchRequest::default().with_groups(vec![OffsetFetchRequestGroup::default()
                    .with_group_id(group(g))
                    .with_topics(topics)]);
            offset_fetch::handle(&Ctx::test(&b, 8), req)
                .groups
                .remove(0)
        };
        assert_eq!(fetch("theirs", None).error_code, GROUP_DENIED);
        let every = fetch("mine", None);
        assert_eq!(every.topics.len(), 1, "only the topic it may describe");
        assert_eq!(every.topics[0].partitions[0].committed_offset, 5);
        let named = fetch("mine", Some(vec!["shut"]));
        assert_eq!(named.topics[0].partitions[0].error_code, TOPIC_DENIED);
        let described = describe_groups::handle(
            &Ctx::test(&b, 5),
            DescribeGroupsRequest::default()
                .with_groups(vec![group("mine"), group("theirs")])
                .with_include_authorized_operations(true),
        );
        assert_eq!(described.groups[0].error_code, 0);
        assert_eq!(
            described.groups[0].authorized_operations,
            (1 << 3) | (1 << 8)
        );
        assert_eq!(described.groups[1].error_code, GROUP_DENIED);
        let listed = list_groups::handle(&Ctx::test(&b, 5), ListGroupsRequest::default());
        let ids: Vec<_> = listed
            .groups
            .iter()
            .map(|g| g.group_id.to_string())
            .collect();
        assert_eq!(ids, vec!["mine".to_string()]);
        let deleted = delete_groups::handle(
            &Ctx::test(&b, 2),
            DeleteGroupsRequest::default().with_groups_names(vec![group("mine")]),
        );
        assert_eq!(deleted.results[0].error_code, GROUP_DENIED);
        assert_eq!(fetch("mine", None).topics.len(), 1, "not deleted");
    }

    /// A response ready now, or a panic.
    fn now(outcome: crate::api::Outcome) -> kafka_protocol::messages::ResponseKind {
        match outcome {
            crate::api::Outcome::Now(crate::protocol::ResponseBody::Kind(r)) => r,
            _ => panic!("expected a response ready now"),
        }
    }

    /// The transaction APIs: WRITE on the transactional id first; an idempotent producer's id
    /// needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (Kafka 4).
    #[test]
    fn transaction_apis() {
        use crate::api::{add_offsets_to_txn, end_txn, init_producer_id};
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::StrBytes;
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        let txn = || TransactionalId(StrBytes::from_static_str("tx"));
        let init = |id: Option<TransactionalId>| match now(init_producer_id::handle(
            &Ctx::test(&b, 4),
            InitProducerIdRequest::default()
                .with_transactional_id(id)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1),
        )) {
            ResponseKind::InitProducerId(r) => r.error_code,
            _ => panic!(),
        };
        assert_eq!(init(None), CLUSTER_DENIED);
        assert_eq!(init(Some(txn())), TRANSACTIONAL_ID_DENIED);
        allow(&b, ResourceType::Topic, "any", AclOperation::Write);
        assert_eq!(init(None), 0, "WRITE on some topic is enough");
        let ended = now(end_txn::handle(
            &Ctx::test(&b, 4),
            EndTxnRequest::default().with_transactional_id(txn()),
        ));
        assert!(
            matches!(ended, ResponseKind::EndTxn(r) if r.error_code == TRANSACTIONAL_ID_DENIED)
        );
        allow(&b, ResourceType::TransactionalId, "tx", AclOperation::Write);
        let added = now(add_offsets_to_txn::handle(
            &Ctx::test(&b, 3),
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(txn())
                .with_group_id(GroupId(StrBytes::from_static_str("g"))),
        ));
        assert!(matches!(added, ResponseKind::AddOffsetsToTxn(r) if r.error_code == GROUP_DENIED));
    }

    /// Admin and cluster APIs: configs by resource (topic, or the cluster for the broker), the
    /// cluster-wide APIs, and per-topic admin checks.
    #[test]
    fn admin_and_cluster_apis() {
        use crate::api::{configs, describe_log_dirs, describe_quorum};
        use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::StrBytes;
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        b.create_topic("open", 1, Default::default(), false)
            .unwrap();
        b.create_topic("shut", 1, Default::default(), false)
            .unwrap();
        allow(
            &b,
            ResourceType::Topic,
            "open",
            AclOperation::DescribeConfigs,
        );
        let resource = |kind: i8, name: &str| {
            DescribeConfigsResource::default()
                .with_resource_type(kind)
                .with_resource_name(StrBytes::from_string(name.to_string()))
        };
        let described = configs::describe(
            &Ctx::test(&b, 4),
            DescribeConfigsRequest::default().with_resources(vec![
                resource(2, "open"),
                resource(2, "shut"),
                resource(4, "1"),
            ]),
        );
        let codes: Vec<i16> = described.results.iter().map(|r| r.error_code).collect();
        assert_eq!(codes, vec![0, TOPIC_DENIED, CLUSTER_DENIED]);
        assert!(!described.results[0].configs.is_empty());
        let quorum = describe_quorum::handle(&Ctx::test(&b, 2), DescribeQuorumRequest::default());
        assert_eq!(quorum.error_code, CLUSTER_DENIED);
        let dirs = now(describe_log_dirs::handle(
            &Ctx::test(&b, 4),
            DescribeLogDirsRequest::default(),
        ));
        assert!(matches!(dirs, ResponseKind::DescribeLogDirs(r) if r.error_code == CLUSTER_DENIED));
        allow(
            &b,
            ResourceType::Cluster,
            CLUSTER_NAME,
            AclOperation::Describe,
        );
        let quorum = describe_quorum::handle(&Ctx::test(&b, 2), DescribeQuorumRequest::default());
        assert_eq!(quorum.error_code, 0);
    }

    /// KIP-848 and KIP-932 groups: READ on the group to heartbeat, DESCRIBE to describe.
    #[test]
    fn new_group_protocols() {
        use crate::api::{consumer_group_describe, consumer_group_heartbeat, share_group_describe};
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::StrBytes;
        let dir = tempfile::tempdir().unwrap();
        let b = secured_broker(dir.path());
        let group = || GroupId(StrBytes::from_static_str("g"));
        let hb = now(consumer_group_heartbeat::handle(
            &Ctx::test(&b, 1),
            ConsumerGroupHeartbeatRequest::default().with_group_id(group()),
        ));
        assert!(
            matches!(hb, ResponseKind::ConsumerGroupHeartbeat(r) if r.error_code == GROUP_DENIED)
        );
        let described = consumer_group_describe::handle(
            &Ctx::test(&b, 1),
            ConsumerGroupDescribeRequest::default().with_group_ids(vec![group()]),
        );
        assert_eq!(described.groups[0].error_code, GROUP_DENIED);
        let described = share_group_describe::handle(
            &Ctx::test(&b, 1),
            ShareGroupDescribeRequest::default().with_group_ids(vec![group()]),
        );
        assert_eq!(described.groups[0].error_code, GROUP_DENIED);
        allow(&b, ResourceType::Group, "g", AclOperation::Describe);
        let described = consumer_group_describe::handle(
            &Ctx::test(&b, 1),
            ConsumerGroupDescribeRequest::default()
                .with_group_ids(vec![group()])
                .with_include_authorized_operations(true),
        );
        assert_ne!(described.groups[0].error_code, GROUP_DENIED);
    }
}
