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
}
