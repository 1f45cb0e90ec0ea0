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

use std::collections::HashMap;
use std::sync::RwLock;

use crate::security::{Principal, Session};
use crate::store::AclRecord;

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

    pub fn from_code(code: i8) -> Option<PatternType> {
        match code {
            3 => Some(PatternType::Literal),
            4 => Some(PatternType::Prefixed),
            _ => None,
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

    pub fn from_code(code: i8) -> Option<Permission> {
        match code {
            2 => Some(Permission::Deny),
            3 => Some(Permission::Allow),
            _ => None,
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
    /// The binding as the store keeps it.
    pub fn to_record(&self) -> AclRecord {
        AclRecord {
            resource_type: self.resource_type.code(),
            resource_name: self.resource_name.clone(),
            pattern_type: self.pattern_type.code(),
            principal: self.principal.clone(),
            host: self.host.clone(),
            operation: self.operation.code(),
            permission: self.permission.code(),
        }
    }

    /// A stored binding; `None` if a code is not one this version knows.
    pub fn from_record(r: AclRecord) -> Option<AclBinding> {
        Some(AclBinding {
            resource_type: ResourceType::from_code(r.resource_type)?,
            resource_name: r.resource_name,
            pattern_type: PatternType::from_code(r.pattern_type)?,
            principal: r.principal,
            host: r.host,
            operation: AclOperation::from_code(r.operation)?,
            permission: Permission::from_code(r.permission)?,
        })
    }

    /// Kafka's resource matching, binding by binding: what the index of [`Acls`] must agree with.
    #[cfg(test)]
    fn matches_resource(&self, resource_type: ResourceType, name: &str) -> bool {
        self.resource_type == resource_type
            && match self.pattern_type {
                PatternType::Literal => {
                    self.resource_name == WILDCARD || self.resource_name == name
                }
                PatternType::Prefixed => name.starts_with(&self.resource_name),
            }
    }

    /// Kafka matches the principal exactly or the one wildcard `User:*` (for any principal type),
    /// and the host exactly (as Java prints the client's address) or `*`.
    fn matches_client(&self, principal: &Principal, host: &str) -> bool {
        (self.principal == WILDCARD_PRINCIPAL
            || self.principal.split_once(':')
                == Some((principal.principal_type.as_str(), principal.name.as_str())))
            && (self.host == WILDCARD || self.host == host)
    }
}

/// The principal an ACL names to match every principal.
pub const WILDCARD_PRINCIPAL: &str = "User:*";

/// A client address as Kafka's ACLs compare it: Java's `InetAddress.getHostAddress`, so IPv6 is
/// eight uncompressed groups (`0:0:0:0:0:0:0:1`, not `::1`) and an IPv4-mapped IPv6 address is
/// the IPv4 address (Java hands those out as `Inet4Address`).
pub fn host_string(address: std::net::IpAddr) -> String {
    match address {
        std::net::IpAddr::V4(v4) => v4.to_string(),
        std::net::IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => v6
                .segments()
                .iter()
                .map(|g| format!("{g:x}"))
                .collect::<Vec<_>>()
                .join(":"),
        },
    }
}

/// Which pattern types a filter matches (Kafka's `PatternType` as a filter).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PatternFilter {
    /// Every pattern type; a name matches only a binding of exactly that name.
    Any,
    /// The bindings that would apply to a resource of the filter's name: literal of that name,
    /// the literal wildcard `*`, and prefixes of the name.
    Match,
    Exactly(PatternType),
}

/// Kafka's `AclBindingFilter`: `None` fields match every value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AclBindingFilter {
    pub resource_type: Option<ResourceType>,
    pub resource_name: Option<String>,
    pub pattern_type: PatternFilter,
    pub principal: Option<String>,
    pub host: Option<String>,
    pub operation: Option<AclOperation>,
    pub permission: Option<Permission>,
}

impl AclBindingFilter {
    /// Matches every binding.
    pub const ANY: AclBindingFilter = AclBindingFilter {
        resource_type: None,
        resource_name: None,
        pattern_type: PatternFilter::Any,
        principal: None,
        host: None,
        operation: None,
        permission: None,
    };

    pub fn matches(&self, b: &AclBinding) -> bool {
        let field = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        self.resource_type.is_none_or(|t| t == b.resource_type)
            && self.matches_name(b)
            && field(&self.principal, &b.principal)
            && field(&self.host, &b.host)
            && self.operation.is_none_or(|o| o == b.operation)
            && self.permission.is_none_or(|p| p == b.permission)
    }

    fn matches_name(&self, b: &AclBinding) -> bool {
        if let PatternFilter::Exactly(p) = self.pattern_type {
            if p != b.pattern_type {
                return false;
            }
        }
        let Some(name) = &self.resource_name else {
            return true;
        };
        match (self.pattern_type, b.pattern_type) {
            (PatternFilter::Any | PatternFilter::Exactly(_), _) => *name == b.resource_name,
            (PatternFilter::Match, PatternType::Literal) => {
                *name == b.resource_name || b.resource_name == WILDCARD
            }
            (PatternFilter::Match, PatternType::Prefixed) => name.starts_with(&b.resource_name),
        }
    }
}

/// The bindings, with an index by resource so an authorization looks at the bindings that can
/// match its resource (literal name, `*`, each prefix of the name), not at every binding: as
/// Kafka's sorted ACL cache, it costs about the name's length, however many bindings there are.
#[derive(Default)]
struct Acls {
    /// In the order they were added.
    list: Vec<AclBinding>,
    /// Positions in `list` of literal and prefixed bindings, by resource type and name.
    literal: HashMap<ResourceType, HashMap<String, Vec<usize>>>,
    prefixed: HashMap<ResourceType, HashMap<String, Vec<usize>>>,
}

impl Acls {
    /// Rebuilds the index after `list` changed (changes are rare: CreateAcls, DeleteAcls).
    fn reindex(&mut self) {
        self.literal.clear();
        self.prefixed.clear();
        for (i, b) in self.list.iter().enumerate() {
            let index = match b.pattern_type {
                PatternType::Literal => &mut self.literal,
                PatternType::Prefixed => &mut self.prefixed,
            };
            index
                .entry(b.resource_type)
                .or_default()
                .entry(b.resource_name.clone())
                .or_default()
                .push(i);
        }
    }

    /// The bindings whose pattern matches the resource.
    fn for_resource<'a>(
        &'a self,
        resource_type: ResourceType,
        name: &'a str,
    ) -> impl Iterator<Item = &'a AclBinding> + 'a {
        let literal = self.literal.get(&resource_type);
        let prefixed = self.prefixed.get(&resource_type);
        let literal_names = [name, WILDCARD]
            .into_iter()
            .enumerate()
            // A resource named `*` is matched once by the literal `*`.
            .filter(move |(i, n)| *i == 0 || *n != name)
            .filter_map(move |(_, n)| literal.and_then(|m| m.get(n)));
        let prefixes = name
            .char_indices()
            .map(|(i, c)| i + c.len_utf8())
            .filter_map(move |end| prefixed.and_then(|m| m.get(&name[..end])));
        literal_names
            .chain(prefixes)
            .flatten()
            .map(move |&i| &self.list[i])
    }
}

/// Decides whether a session may do an operation on a resource.
pub struct Authorizer {
    enabled: bool,
    /// As Kafka compares them: the entries of `super_users` against the principal's string form.
    super_users: Vec<String>,
    allow_everyone_if_no_acl_found: bool,
    bindings: RwLock<Acls>,
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
                .map(str::trim)
                .filter(|p| !p.is_empty())
                .map(String::from)
                .collect(),
            allow_everyone_if_no_acl_found,
            bindings: RwLock::new(Acls::default()),
        }
    }

    /// Off: everything is allowed and the ACL APIs answer SECURITY_DISABLED.
    pub fn enabled(&self) -> bool {
        self.enabled
    }

    /// Replaces the bindings (at start-up, from the store).
    pub fn load(&self, bindings: Vec<AclBinding>) {
        self.change(|list| *list = bindings);
    }

    pub fn add(&self, binding: AclBinding) {
        self.change(|list| {
            if !list.contains(&binding) {
                list.push(binding);
            }
        });
    }

    pub fn remove(&self, binding: &AclBinding) {
        self.change(|list| list.retain(|b| b != binding));
    }

    pub fn bindings(&self) -> Vec<AclBinding> {
        self.bindings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
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
        let principal = &session.principal;
        let is_super = self.super_users.iter().any(|s| {
            s.split_once(':') == Some((principal.principal_type.as_str(), principal.name.as_str()))
        });
        if !self.enabled || is_super {
            return true;
        }
        let host = host_string(session.client_address);
        let acls = self.bindings.read().unwrap_or_else(|e| e.into_inner());
        let mut any_for_resource = false;
        let mut allowed = false;
        for b in acls.for_resource(resource_type, name) {
            any_for_resource = true;
            if !b.matches_client(principal, &host) {
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
    /// `resource_type` (InitProducerId's idempotent check, for one). As Kafka: allowed if a
    /// resource named `hardcode` would be (super users, allow_everyone_if_no_acl_found); else
    /// denied by a wildcard DENY; else allowed by a wildcard ALLOW, or by an ALLOW no DENY
    /// dominates (a literal DENY of the same literal name, or a DENY prefix of its name). Only
    /// bindings of exactly `operation` or ALL count here: no implications.
    pub fn authorize_any(
        &self,
        session: &Session,
        operation: AclOperation,
        resource_type: ResourceType,
    ) -> bool {
        if self.authorize(session, operation, resource_type, "hardcode") {
            return true;
        }
        let host = host_string(session.client_address);
        let principal = &session.principal;
        let acls = self.bindings.read().unwrap_or_else(|e| e.into_inner());
        let relevant = || {
            acls.list.iter().filter(|b| {
                b.resource_type == resource_type
                    && (b.operation == operation || b.operation == AclOperation::All)
                    && b.matches_client(principal, &host)
            })
        };
        let wildcard =
            |b: &&AclBinding| b.pattern_type == PatternType::Literal && b.resource_name == WILDCARD;
        let denies: Vec<&AclBinding> = relevant()
            .filter(|b| b.permission == Permission::Deny)
            .collect();
        if denies.iter().any(wildcard) {
            return false;
        }
        let allows = || relevant().filter(|b| b.permission == Permission::Allow);
        if allows().any(|b| wildcard(&b)) {
            return true;
        }
        allows().any(|allow| {
            !denies.iter().any(|deny| match deny.pattern_type {
                PatternType::Literal => {
                    allow.pattern_type == PatternType::Literal
                        && deny.resource_name == allow.resource_name
                }
                PatternType::Prefixed => allow.resource_name.starts_with(&deny.resource_name),
            })
        })
    }

    /// How many bindings there are.
    pub fn count(&self) -> usize {
        self.bindings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .len()
    }

    /// The bindings `filter` matches, in the order they were added.
    pub fn matching(&self, filter: &AclBindingFilter) -> Vec<AclBinding> {
        self.bindings
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .list
            .iter()
            .filter(|b| filter.matches(b))
            .cloned()
            .collect()
    }

    /// Runs `change` on the bindings with every reader held off, so a change that is also written
    /// elsewhere (the store) is applied there and here in the same order as other changes.
    pub fn change<R>(&self, change: impl FnOnce(&mut Vec<AclBinding>) -> R) -> R {
        let mut acls = self.bindings.write().unwrap_or_else(|e| e.into_inner());
        let result = change(&mut acls.list);
        acls.reindex();
        result
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

    fn session_at(principal: Principal, address: std::net::IpAddr) -> Session {
        Session {
            principal,
            listener: Arc::new(crate::broker::tests::test_listener()),
            client_address: address,
        }
    }

    #[test]
    fn a_deny_covers_its_operation_only_and_allow_all_everything() {
        use AclOperation::*;
        use PatternType::*;
        use Permission::*;
        let a = Authorizer::new(true, "", false);
        a.load(vec![
            binding("t", Literal, "User:alice", Read, Allow),
            binding("t", Literal, "User:alice", Read, Deny),
            binding("u", Literal, "User:alice", All, Allow),
            binding("u", Literal, "User:alice", Write, Deny),
            binding("v", Literal, "User:alice", Describe, Allow),
            binding("v", Literal, "User:alice", All, Deny),
        ]);
        let alice = session("alice");
        let topic = |op, name| a.authorize(&alice, op, ResourceType::Topic, name);
        assert!(!topic(Read, "t"));
        assert!(
            topic(Describe, "t"),
            "a DENY of READ leaves the DESCRIBE READ implies"
        );
        assert!(topic(Alter, "u"));
        assert!(!topic(Write, "u"));
        assert!(!topic(Describe, "v"), "a DENY of ALL covers everything");
    }

    #[test]
    fn only_user_star_is_the_wildcard_principal() {
        let a = Authorizer::new(true, "", false);
        a.load(vec![binding(
            "t",
            PatternType::Literal,
            "Group:*",
            AclOperation::Read,
            Permission::Allow,
        )]);
        let group = session_at(
            Principal::parse("Group:g").unwrap(),
            std::net::Ipv4Addr::LOCALHOST.into(),
        );
        assert!(!a.authorize(&group, AclOperation::Read, ResourceType::Topic, "t"));
        a.add(binding(
            "t",
            PatternType::Literal,
            WILDCARD_PRINCIPAL,
            AclOperation::Read,
            Permission::Allow,
        ));
        assert!(
            a.authorize(&group, AclOperation::Read, ResourceType::Topic, "t"),
            "Kafka's User:* matches a principal of any type"
        );
    }

    #[test]
    fn hosts_compare_as_java_prints_them() {
        let v6: std::net::IpAddr = "::1".parse().unwrap();
        let mapped: std::net::IpAddr = "::ffff:10.1.2.3".parse().unwrap();
        assert_eq!(host_string(v6), "0:0:0:0:0:0:0:1");
        assert_eq!(host_string(mapped), "10.1.2.3");
        assert_eq!(
            host_string("fe80::a:b0".parse().unwrap()),
            "fe80:0:0:0:0:0:a:b0"
        );
        let a = Authorizer::new(true, "", false);
        let mut b = binding(
            "t",
            PatternType::Literal,
            "User:alice",
            AclOperation::Read,
            Permission::Allow,
        );
        b.host = "0:0:0:0:0:0:0:1".into();
        a.add(b);
        let from = |ip| session_at(Principal::user("alice"), ip);
        assert!(a.authorize(&from(v6), AclOperation::Read, ResourceType::Topic, "t"));
        assert!(!a.authorize(&from(mapped), AclOperation::Read, ResourceType::Topic, "t"));
    }

    #[test]
    fn authorize_any_follows_kafkas_authorize_by_resource_type() {
        use AclOperation::*;
        use PatternType::*;
        use Permission::*;
        let alice = session("alice");
        let any = |bindings: Vec<AclBinding>, allow_everyone: bool, op| {
            let a = Authorizer::new(true, "User:admin", allow_everyone);
            a.load(bindings);
            a.authorize_any(&alice, op, ResourceType::Topic)
        };
        assert!(any(vec![], true, Write), "no ACL found, allow_everyone");
        assert!(!any(vec![], false, Write));
        assert!(
            !any(
                vec![binding("t", Literal, "User:alice", Write, Allow)],
                false,
                Describe
            ),
            "no implications here"
        );
        assert!(any(
            vec![binding("t", Literal, "User:alice", All, Allow)],
            false,
            Describe
        ));
        assert!(any(
            vec![
                binding("*", Literal, "User:alice", Write, Allow),
                binding("p", Prefixed, "User:alice", Write, Deny),
            ],
            false,
            Write
        ));
        assert!(!any(
            vec![
                binding("*", Literal, "User:alice", Write, Allow),
                binding("*", Literal, "User:*", All, Deny),
            ],
            false,
            Write
        ));
        assert!(!any(
            vec![
                binding("pay-in", Literal, "User:alice", Write, Allow),
                binding("pay", Prefixed, "User:alice", Write, Deny),
            ],
            false,
            Write
        ));
        assert!(any(
            vec![
                binding("pay-", Prefixed, "User:alice", Write, Allow),
                binding("pay-", Literal, "User:alice", Write, Deny),
            ],
            false,
            Write
        ));
        let a = Authorizer::new(true, "User:alice", false);
        a.load(vec![binding("*", Literal, "User:*", All, Deny)]);
        assert!(
            a.authorize_any(&alice, Write, ResourceType::Topic),
            "super user"
        );
    }

    #[test]
    fn filters_match_as_kafkas_acl_binding_filter() {
        use PatternType::*;
        let b = |name: &str, p| binding(name, p, "User:a", AclOperation::Read, Permission::Allow);
        let filter = |name: Option<&str>, pattern| AclBindingFilter {
            resource_name: name.map(String::from),
            pattern_type: pattern,
            ..AclBindingFilter::ANY
        };
        let m = filter(Some("pay-in"), PatternFilter::Match);
        assert!(m.matches(&b("pay-in", Literal)));
        assert!(m.matches(&b("*", Literal)));
        assert!(m.matches(&b("pay-", Prefixed)));
        assert!(!m.matches(&b("*", Prefixed)));
        assert!(!m.matches(&b("pay-in-2", Literal)));
        let any = filter(Some("pay-"), PatternFilter::Any);
        assert!(any.matches(&b("pay-", Prefixed)));
        assert!(!any.matches(&b("pay-in", Literal)));
        assert!(!filter(None, PatternFilter::Exactly(Prefixed)).matches(&b("x", Literal)));
        assert!(AclBindingFilter::ANY.matches(&b("x", Prefixed)));
        let record = b("x", Prefixed).to_record();
        assert_eq!(AclBinding::from_record(record), Some(b("x", Prefixed)));
    }

    #[test]
    fn the_index_finds_what_a_scan_finds() {
        use PatternType::*;
        let names = [
            "pay", "pay-", "pay-in", "p", "*", "é", "éa", "other", "pay-in-x",
        ];
        let mut list = Vec::new();
        for (i, name) in names.iter().enumerate() {
            for pattern in [Literal, Prefixed] {
                let mut b = binding(
                    name,
                    pattern,
                    "User:a",
                    AclOperation::Read,
                    Permission::Allow,
                );
                if i % 3 == 0 {
                    b.resource_type = ResourceType::Group;
                }
                list.push(b);
            }
        }
        let mut acls = Acls {
            list,
            ..Acls::default()
        };
        acls.reindex();
        for rt in [
            ResourceType::Topic,
            ResourceType::Group,
            ResourceType::Cluster,
        ] {
            for name in names.iter().chain(&["", "pa", "éab", "pay-in-xyz", "**"]) {
                let mut scanned: Vec<&AclBinding> = acls
                    .list
                    .iter()
                    .filter(|b| b.matches_resource(rt, name))
                    .collect();
                let mut indexed: Vec<&AclBinding> = acls.for_resource(rt, name).collect();
                scanned.sort();
                indexed.sort();
                assert_eq!(indexed, scanned, "{rt:?} {name:?}");
            }
        }
    }
}
