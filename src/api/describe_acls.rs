//! DescribeAcls: the ACL bindings a filter matches, grouped by resource pattern as Kafka's
//! `DescribeAclsResponse.aclsResources` groups them.
//!
//! Without an authorizer: SECURITY_DISABLED, as Kafka answers when no `authorizer.class.name` is
//! set (its AclApis). Advertising it, rather than closing the connection, is what lets
//! MirrorMaker 2's ACL sync and `kafka-acls.sh --list` report the state instead of failing with a
//! stack trace. With one, the client needs DESCRIBE on the cluster; a filter with an UNKNOWN (0)
//! code closes the connection (Kafka cannot parse it), and one with a code Kafka does not know
//! matches nothing.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_acls_response::{AclDescription, DescribeAclsResource};
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::api::create_acls::{ANY, MATCH, NOT_AUTHORIZED, UNKNOWN};
use crate::api::{str_bytes, Ctx, Outcome};
use crate::security::acl::{
    AclBinding, AclBindingFilter, AclOperation, PatternFilter, PatternType, Permission,
    ResourceType, CLUSTER_NAME,
};

/// Kafka's message for DescribeAcls (the create and delete answers word it differently).
pub const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

pub fn handle(ctx: &Ctx, req: DescribeAclsRequest) -> Outcome {
    let failed = |error: ResponseError, message: &str| {
        Outcome::now(
            DescribeAclsResponse::default()
                .with_error_code(error.code())
                .with_error_message(Some(str_bytes(message))),
        )
    };
    if !ctx.broker.authorizer().enabled() {
        return failed(ResponseError::SecurityDisabled, NO_AUTHORIZER);
    }
    let codes = Codes {
        resource_type: req.resource_type_filter,
        resource_name: req.resource_name_filter,
        pattern_type: req.pattern_type_filter,
        principal: req.principal_filter,
        host: req.host_filter,
        operation: req.operation,
        permission: req.permission_type,
    };
    if codes.has_unknown() {
        return Outcome::Close(
            "DescribeAcls with an UNKNOWN (0) code, which Kafka cannot parse".into(),
        );
    }
    if !ctx.authorize(AclOperation::Describe, ResourceType::Cluster, CLUSTER_NAME) {
        return failed(ResponseError::ClusterAuthorizationFailed, NOT_AUTHORIZED);
    }
    let bindings = match codes.filter() {
        Ok(filter) => ctx.broker.authorizer().matching(&filter),
        // A value Kafka does not know equals no binding's.
        Err(_) => Vec::new(),
    };
    // Kafka sends an empty message, not null, with a success.
    Outcome::now(
        DescribeAclsResponse::default()
            .with_error_message(Some(str_bytes("")))
            .with_resources(group_by_resource(bindings)),
    )
}

/// One resource per pattern, in the order each first appears.
fn group_by_resource(bindings: Vec<AclBinding>) -> Vec<DescribeAclsResource> {
    let mut out: Vec<DescribeAclsResource> = Vec::new();
    for b in bindings {
        let acl = AclDescription::default()
            .with_principal(str_bytes(b.principal))
            .with_host(str_bytes(b.host))
            .with_operation(b.operation.code())
            .with_permission_type(b.permission.code());
        let same = |r: &&mut DescribeAclsResource| {
            r.resource_type == b.resource_type.code()
                && r.pattern_type == b.pattern_type.code()
                && r.resource_name.as_str() == b.resource_name
        };
        match out.iter_mut().find(same) {
            Some(r) => r.acls.push(acl),
            None => out.push(
                DescribeAclsResource::default()
                    .with_resource_type(b.resource_type.code())
                    .with_resource_name(str_bytes(b.resource_name))
                    .with_pattern_type(b.pattern_type.code())
                    .with_acls(vec![acl]),
            ),
        }
    }
    out
}

/// A filter as DescribeAcls and DeleteAcls carry it.
pub struct Codes {
    pub resource_type: i8,
    pub resource_name: Option<StrBytes>,
    pub pattern_type: i8,
    pub principal: Option<StrBytes>,
    pub host: Option<StrBytes>,
    pub operation: i8,
    pub permission: i8,
}

/// Which half of a filter holds a value Kafka does not know (its `isUnknown`).
#[derive(Debug, PartialEq, Eq)]
pub enum UnknownIn {
    /// The resource type or pattern type.
    Pattern,
    /// The operation or permission.
    Entry,
}

impl Codes {
    /// Whether a field is UNKNOWN (0), which Kafka's request classes refuse to parse.
    pub fn has_unknown(&self) -> bool {
        [
            self.resource_type,
            self.pattern_type,
            self.operation,
            self.permission,
        ]
        .contains(&UNKNOWN)
    }

    /// Kafka's `AclBindingFilter` for these codes: ANY (1) matches every value.
    pub fn filter(self) -> Result<AclBindingFilter, UnknownIn> {
        fn any_or<T>(
            code: i8,
            known: Option<T>,
            unknown: UnknownIn,
        ) -> Result<Option<T>, UnknownIn> {
            match (code, known) {
                (ANY, _) => Ok(None),
                (_, Some(v)) => Ok(Some(v)),
                (_, None) => Err(unknown),
            }
        }
        let resource_type = any_or(
            self.resource_type,
            ResourceType::from_code(self.resource_type),
            UnknownIn::Pattern,
        )?;
        let pattern_type = match self.pattern_type {
            ANY => PatternFilter::Any,
            MATCH => PatternFilter::Match,
            code => PatternFilter::Exactly(PatternType::from_code(code).ok_or(UnknownIn::Pattern)?),
        };
        let operation = any_or(
            self.operation,
            AclOperation::from_code(self.operation),
            UnknownIn::Entry,
        )?;
        let permission = any_or(
            self.permission,
            Permission::from_code(self.permission),
            UnknownIn::Entry,
        )?;
        Ok(AclBindingFilter {
            resource_type,
            resource_name: self.resource_name.map(|s| s.to_string()),
            pattern_type,
            principal: self.principal.map(|s| s.to_string()),
            host: self.host.map(|s| s.to_string()),
            operation,
            permission,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::create_acls::tests::{create, creation, run, secured};
    use crate::broker::tests::test_broker;
    use crate::config::Config;

    fn describe(b: &crate::broker::Broker, req: DescribeAclsRequest) -> DescribeAclsResponse {
        match run(handle(&Ctx::test(b, 3), req)) {
            kafka_protocol::messages::ResponseKind::DescribeAcls(r) => r,
            _ => panic!("not a DescribeAcls response"),
        }
    }

    pub fn any() -> DescribeAclsRequest {
        DescribeAclsRequest::default()
            .with_resource_type_filter(ANY)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(ANY)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(ANY)
            .with_permission_type(ANY)
    }

    /// (resource type, name, pattern type, principals) per resource.
    fn shown(r: &DescribeAclsResponse) -> Vec<(i8, String, i8, Vec<String>)> {
        r.resources
            .iter()
            .map(|r| {
                (
                    r.resource_type,
                    r.resource_name.to_string(),
                    r.pattern_type,
                    r.acls.iter().map(|a| a.principal.to_string()).collect(),
                )
            })
            .collect()
    }

    #[test]
    fn security_disabled_with_kafkas_message() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let resp = describe(&b, DescribeAclsRequest::default());
        assert_eq!(resp.error_code, ResponseError::SecurityDisabled.code());
        assert_eq!(resp.error_message.as_deref(), Some(NO_AUTHORIZER));
        assert!(resp.resources.is_empty());
    }

    #[test]
    fn filters_as_kafka_does() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured(dir.path(), |_| {});
        create(
            &b,
            vec![
                creation(2, "pay-in", 3, "User:a", 3, 3),
                creation(2, "pay-in", 3, "User:b", 4, 3),
                creation(2, "pay-", 4, "User:a", 3, 3),
                creation(2, "*", 3, "User:c", 8, 3),
                creation(3, "pay-in", 3, "User:a", 3, 3),
                creation(2, "pay-out", 3, "User:a", 3, 2),
            ],
        );
        let all = describe(&b, any());
        assert_eq!(all.error_code, 0);
        assert_eq!(all.error_message.as_deref(), Some(""));
        assert_eq!(all.resources.len(), 5, "grouped by resource pattern");
        assert_eq!(
            shown(&all)[0],
            (
                2,
                "pay-in".into(),
                3,
                vec!["User:a".into(), "User:b".into()]
            )
        );
        let names = |r: DescribeAclsRequest| -> Vec<(i8, String, i8)> {
            shown(&describe(&b, r))
                .into_iter()
                .map(|(t, n, p, _)| (t, n, p))
                .collect()
        };
        let name = |n: &str| Some(str_bytes(n));
        // MATCH: the literal name, the wildcard and the prefixes of the name, of any resource type.
        assert_eq!(
            names(
                any()
                    .with_pattern_type_filter(MATCH)
                    .with_resource_name_filter(name("pay-in"))
            ),
            [
                (2, "pay-in".into(), 3),
                (2, "pay-".into(), 4),
                (2, "*".into(), 3),
                (3, "pay-in".into(), 3)
            ]
        );
        // ANY with a name: bindings of exactly that name.
        assert_eq!(
            names(
                any()
                    .with_resource_type_filter(2)
                    .with_resource_name_filter(name("pay-"))
            ),
            [(2, "pay-".into(), 4)]
        );
        assert_eq!(
            names(any().with_pattern_type_filter(4)),
            [(2, "pay-".into(), 4)]
        );
        assert_eq!(
            names(any().with_principal_filter(name("User:b"))),
            [(2, "pay-in".into(), 3)]
        );
        assert_eq!(
            names(any().with_permission_type(2)),
            [(2, "pay-out".into(), 3)]
        );
        assert_eq!(names(any().with_operation(8)), [(2, "*".into(), 3)]);
        assert!(names(any().with_host_filter(name("10.0.0.1"))).is_empty());
        // Codes Kafka does not know match nothing; UNKNOWN closes the connection.
        assert!(names(any().with_resource_type_filter(99)).is_empty());
        assert!(names(any().with_operation(99)).is_empty());
        assert!(matches!(
            handle(&Ctx::test(&b, 3), any().with_pattern_type_filter(0)),
            Outcome::Close(_)
        ));
    }

    #[test]
    fn needs_describe_on_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured(dir.path(), |c| c.super_users = String::new());
        let resp = describe(&b, any());
        assert_eq!(
            resp.error_code,
            ResponseError::ClusterAuthorizationFailed.code()
        );
    }
}
