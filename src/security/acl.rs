//! ACLs and the authorizer, with Kafka's semantics (its StandardAuthorizer): a request is allowed
//! when some ALLOW binding matches and no DENY binding does (deny wins); a binding matches a
//! resource by literal name, by prefix, or by the wildcard `*`; it matches a principal exactly or
//! `User:*`, and a host exactly or `*`. Some operations imply others: READ, WRITE, DELETE and ALTER
//! each allow DESCRIBE, ALTER_CONFIGS allows DESCRIBE_CONFIGS, and ALL allows everything. Super
//! users are allowed everything; a resource no binding matches is allowed only with
//! `allow_everyone_if_no_acl_found`.
//!
//! The numeric codes are the wire's (Kafka's `ResourceType`, `AclOperation`, `AclPermissionType`,
//! `PatternType`).

use std::sync::RwLock;

use crate::security::{Principal, Session};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
    DelegationToken,
    User,
}

impl ResourceType {
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
            ResourceType::DelegationToken => 6,
            ResourceType::User => 7,
        }
    }

    pub fn from_code(code: i8) -> Option<ResourceType> {
        Some(match code {
            2 => ResourceType::Topic,
            3 => ResourceType::Group,
            4 => ResourceType::Cluster,
            5 => ResourceType::TransactionalId,
            6 => ResourceType::DelegationToken,
            7 => ResourceType::User,
            _ => return None,
        })
    }
}

/// The one name the cluster resource has in ACLs.
pub const CLUSTER_NAME: &str = "kafka-cluster";
/// The resource name and principal (`User:*`) and host that match everything.
pub const WILDCARD: &str = "*";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum AclOperation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
    CreateTokens,
    DescribeTokens,
    TwoPhaseCommit,
}

impl AclOperation {
    pub fn code(self) -> i8 {
        match self {
            AclOperation::All => 2,
            AclOperation::Read => 3,
            AclOperation::Write => 4,
            AclOperation::Create => 5,
            AclOperation::Delete => 6,
            AclOperation::Alter => 7,
            AclOperation::Describe => 8,
            AclOperation::ClusterAction => 9,
            AclOperation::DescribeConfigs => 10,
            AclOperation::AlterConfigs => 11,
            AclOperation::IdempotentWrite => 12,
            AclOperation::CreateTokens => 13,
            AclOperation::DescribeTokens => 14,
            AclOperation::TwoPhaseCommit => 15,
        }
    }

    pub fn from_code(code: i8) -> Option<AclOperation> {
        Some(match code {
            2 => AclOperation::All,
            3 => AclOperation::Read,
            4 => AclOperation::Write,
            5 => AclOperation::Create,
            6 => AclOperation::Delete,
            7 => AclOperation::Alter,
            8 => AclOperation::Describe,
            9 => AclOperation::ClusterAction,
            10 => AclOperation::DescribeConfigs,
            11 => AclOperation::AlterConfigs,
            12 => AclOperation::IdempotentWrite,
            13 => AclOperation::CreateTokens,
            14 => AclOperation::DescribeTokens,
            15 => AclOperation::TwoPhaseCommit,
            _ => return None,
        })
    }

    /// The operations a binding for `self` also allows (besides `self`): Kafka's implications,
    /// which apply to ALLOW bindings only (a DENY of READ does not deny DESCRIBE).
    fn implies(self, wanted: AclOperation) -> bool {
        self == wanted
            || self == AclOperation::All
            || (wanted == AclOperation::Describe
                && matches!(
                    self,
                    AclOperation::Read
                        | AclOperation::Write
                        | AclOperation::Delete
                        | AclOperation::Alter
                ))
            || (wanted == AclOperation::DescribeConfigs && self == AclOperation::AlterConfigs)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PatternType {
    Literal,
    Prefixed,
}

impl PatternType {
    pub fn code(self) -> i8 {
        match self {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Permission {
    Deny,
    Allow,
}

impl Permission {
    pub fn code(self) -> i8 {
        match self {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }
}

/// One ACL: a resource pattern and an access control entry, as CreateAcls carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct AclBinding {
    pub resource_type: ResourceType,
    pub resource_name: String,
    pub pattern_type: PatternType,
    /// `User:alice`, or `User:*` for everyone.
    pub principal: String,
    /// A client address, or `*`.
    pub host: String,
    pub operation: AclOperation,
    pub permission: Permission,
}

impl AclBinding {
    fn matches_resource(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == WILDCARD || self.resource_name == name
                }
                PatternType::Prefixed => name.starts_with(&self.resource_name),
            }
    }

    fn matches_client(&self, principal: &Principal, host: &str) -> bool {
        let everyone = format!("{}:{WILDCARD}", principal.principal_type);
        (self.principal == principal.to_string() || self.principal == everyone)
            && (self.host == WILDCARD || self.host == host)
    }
}

/// Decides whether a session may do an operation on a resource.
pub struct Authorizer {
    enabled: bool,
    super_users: Vec<Principal>,
    allow_everyone_if_no_acl_found: bool,
    bindings: RwLock<Vec<AclBinding>>,
}

impl Authorizer {
    /// `super_users` is Kafka's form, `User:a;User:b`.
    pub fn new(
        enabled: bool,
        super_users: &str,
        allow_everyone_if_no_acl_found: bool,
    ) -> Authorizer {
        Authorizer {
            enabled,
            super_users: super_users
                .split(';')
                .filter_map(|p| Principal::parse(p.trim()))
                .collect(),
            allow_everyone_if_no_acl_found,
            bindings: RwLock::new(Vec::new()),
        }
    }

    /// Off: everything is allowed and the ACL APIs answer SECURITY_DISABLED.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Replaces the bindings (at start-up, from the store).
    pub fn load(&self, bindings: Vec<AclBinding>) {
        *self.bindings.write().unwrap_or_else(|e| e.into_inner()) = bindings;
    }

    pub fn add(&self, binding: AclBinding) {
        let mut bindings = self.bindings.write().unwrap_or_else(|e| e.into_inner());
        if !bindings.contains(&binding) {
            bindings.push(binding);
        }
    }

    pub fn remove(&self, binding: &AclBinding) {
        let mut bindings = self.bindings.write().unwrap_or_else(|e| e.into_inner());
        bindings.retain(|b| b != binding);
    }

    pub fn bindings(&self) -> Vec<AclBinding> {
        self.bindings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Whether `session` may do `operation` on the resource `name` of `resource_type`.
    pub fn authorize(
        &self,
        session: &Session,
        operation: AclOperation,
        resource_type: ResourceType,
        name: &str,
    ) -> bool {
        if !self.enabled || self.super_users.contains(&session.principal) {
            return true;
        }
        let host = session.client_address.to_string();
        let bindings = self.bindings.read().unwrap_or_else(|e| e.into_inner());
        let mut any_for_resource = false;
        let mut allowed = false;
        for b in bindings
            .iter()
            .filter(|b| b.matches_resource(resource_type, name))
        {
            any_for_resource = true;
            if !b.matches_client(&session.principal, &host) {
                continue;
            }
            match b.permission {
                Permission::Deny
                    if b.operation == operation || b.operation == AclOperation::All =>
                {
                    return false
                }
                Permission::Deny => {}
                Permission::Allow => allowed |= b.operation.implies(operation),
            }
        }
        allowed || (!any_for_resource && self.allow_everyone_if_no_acl_found)
    }

    /// Kafka's `authorizeByResourceType`: whether `session` may do `operation` on some resource of
    /// `resource_type` (InitProducerId's idempotent check, for one).
    pub fn authorize_any(
        &self,
        session: &Session,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if !self.enabled || self.super_users.contains(&session.principal) {
            return true;
        }
        let host = session.client_address.to_string();
        let bindings = self.bindings.read().unwrap_or_else(|e| e.into_inner());
        let denied_everything = bindings.iter().any(|b| {
            b.resource_type == resource_type
                && b.permission == Permission::Deny
                && b.pattern_type == PatternType::Literal
                && b.resource_name == WILDCARD
                && (b.operation == operation || b.operation == AclOperation::All)
                && b.matches_client(&session.principal, &host)
        });
        if denied_everything {
            return false;
        }
        // Some allowed resource that no deny covers: a literal name, or a prefix not under a denied one.
        bindings.iter().any(|allow| {
            allow.resource_type == resource_type
                && allow.permission == Permission::Allow
                && allow.operation.implies(operation)
                && allow.matches_client(&session.principal, &host)
                && !bindings.iter().any(|deny| {
                    deny.resource_type == resource_type
                        && deny.permission == Permission::Deny
                        && (deny.operation == operation || deny.operation == AclOperation::All)
                        && deny.matches_client(&session.principal, &host)
                        && match (deny.pattern_type, allow.pattern_type) {
                            (PatternType::Literal, PatternType::Literal) => {
                                deny.resource_name == allow.resource_name
                            }
                            (PatternType::Prefixed, _) => {
                                allow.resource_name.starts_with(&deny.resource_name)
                            }
                            (PatternType::Literal, PatternType::Prefixed) => false,
                        }
                })
        })
    }

    /// KIP-430's `authorized_operations` bitfield for a resource: bit `code` set for each of
    /// `supported` the session may do.
    pub fn authorized_operations(
        &self,
        session: &Session,
        resource_type: ResourceType,
        name: &str,
        supported: &[AclOperation],
    ) -> i32 {
        supported
            .iter()
            .filter(|op| self.authorize(session, **op, resource_type, name))
            .fold(0, |bits, op| bits | (1 << op.code()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn session(user: &str) -> Session {
        Session {
            principal: Principal::user(user),
            listener: Arc::new(crate::broker::tests::test_listener()),
            client_address: std::net::Ipv4Addr::LOCALHOST.into(),
        }
    }

    fn binding(
        name: &str,
        pattern: PatternType,
        principal: &str,
        op: AclOperation,
        permission: Permission,
    ) -> AclBinding {
        AclBinding {
            resource_type: ResourceType::Topic,
            resource_name: name.into(),
            pattern_type: pattern,
            principal: principal.into(),
            host: WILDCARD.into(),
            operation: op,
            permission,
        }
    }

    #[test]
    fn allow_deny_implications_and_patterns() {
        use AclOperation::*;
        use PatternType::*;
        use Permission::*;
        let a = Authorizer::new(true, "User:admin", false);
        a.load(vec![
            binding("orders", Literal, "User:alice", Read, Allow),
            binding("pay-", Prefixed, "User:alice", Write, Allow),
            binding("pay-secret", Literal, "User:alice", Write, Deny),
            binding("*", Literal, "User:*", Describe, Allow),
        ]);
        let alice = session("alice");
        let topic = |op, name| a.authorize(&alice, op, ResourceType::Topic, name);
        assert!(topic(Read, "orders"));
        assert!(topic(Describe, "orders"), "READ implies DESCRIBE");
        assert!(!topic(Write, "orders"));
        assert!(topic(Write, "pay-in"));
        assert!(!topic(Write, "pay-secret"), "deny wins");
        assert!(
            topic(Describe, "anything"),
            "wildcard resource and principal"
        );
        assert!(!topic(Read, "nothing-matches"));
        assert!(a.authorize(&session("admin"), Delete, ResourceType::Topic, "orders"));
        assert!(!a.authorize(&session("bob"), Read, ResourceType::Topic, "orders"));
        assert!(a.authorize_any(&alice, Write, ResourceType::Topic));
        assert!(!a.authorize_any(&session("bob"), Write, ResourceType::Topic));
        let bits = a.authorized_operations(
            &alice,
            ResourceType::Topic,
            "orders",
            &[Read, Write, Describe],
        );
        assert_eq!(bits, (1 << 3) | (1 << 8));
    }

    #[test]
    fn no_acl_found_and_disabled() {
        let open = Authorizer::new(true, "", true);
        let s = session("x");
        assert!(open.authorize(&s, AclOperation::Read, ResourceType::Topic, "t"));
        open.add(binding(
            "t",
            PatternType::Literal,
            "User:y",
            AclOperation::Read,
            Permission::Allow,
        ));
        assert!(!open.authorize(&s, AclOperation::Read, ResourceType::Topic, "t"));
        assert!(Authorizer::new(false, "", false).authorize(
            &s,
            AclOperation::Alter,
            ResourceType::Cluster,
            CLUSTER_NAME
        ));
    }
}
