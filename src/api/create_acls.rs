//! CreateAcls: adds ACL bindings, one result per creation, answered once they are durable.
//!
//! Without an authorizer every creation fails with SECURITY_DISABLED, as Kafka's
//! `CreateAclsRequest.getErrorResponse` builds it (see describe_acls.rs). With one, as Kafka 4.4
//! answers (its AclApis and AclControlManager, checked against the reference broker):
//! - a creation with an UNKNOWN (0) code fails the request's parsing: the connection closes;
//! - a creation with ANY where a binding needs a value (resource type, pattern type ANY or MATCH,
//!   operation, permission) throws while Kafka builds the bindings: every creation of the request
//!   fails with UNKNOWN_SERVER_ERROR and none is made;
//! - otherwise each creation on its own: INVALID_REQUEST for a CLUSTER binding not named
//!   `kafka-cluster`, an empty resource name, a code Kafka does not know, a principal without ':'
//!   and an empty host; the rest are made (an identical binding is made once).
//!
//! The client needs ALTER on the cluster (CLUSTER_AUTHORIZATION_FAILED otherwise).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use crate::api::{self, error, str_bytes, Ctx, Outcome};
use crate::security::acl::{
    AclBinding, AclOperation, PatternType, Permission, ResourceType, CLUSTER_NAME,
};

/// Kafka's message for CreateAcls and DeleteAcls.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

/// The message of CLUSTER_AUTHORIZATION_FAILED for the ACL APIs (Kafka's names the request).
pub const NOT_AUTHORIZED: &str = "Request is not authorized to alter or describe ACLs.";

/// The wire's UNKNOWN, which Kafka's request classes refuse to parse.
pub const UNKNOWN: i8 = 0;
/// The wire's ANY, a filter's value, which no binding may have.
pub const ANY: i8 = 1;
/// The pattern type MATCH, a filter's value.
pub const MATCH: i8 = 2;

pub fn handle(ctx: &Ctx, req: CreateAclsRequest) -> Outcome {
    let failed = |error: ResponseError, message: Option<&str>| {
        let result = AclCreationResult::default()
            .with_error_code(error.code())
            .with_error_message(message.map(str_bytes));
        Outcome::now(CreateAclsResponse::default().with_results(vec![result; req.creations.len()]))
    };
    if !ctx.broker.authorizer().enabled() {
        return failed(ResponseError::SecurityDisabled, Some(NO_AUTHORIZER));
    }
    if req.creations.iter().any(|c| {
        [
            c.resource_type,
            c.resource_pattern_type,
            c.operation,
            c.permission_type,
        ]
        .contains(&UNKNOWN)
    }) {
        return Outcome::Close(
            "CreateAcls with an UNKNOWN (0) code, which Kafka cannot parse".into(),
        );
    }
    if !ctx.authorize(AclOperation::Alter, ResourceType::Cluster, CLUSTER_NAME) {
        return failed(
            ResponseError::ClusterAuthorizationFailed,
            Some(NOT_AUTHORIZED),
        );
    }
    if req.creations.iter().any(|c| {
        c.resource_type == ANY
            || [ANY, MATCH].contains(&c.resource_pattern_type)
            || c.operation == ANY
            || c.permission_type == ANY
    }) {
        // Kafka's AclBinding cannot hold ANY: it throws, and its request-wide error handler
        // answers UNKNOWN_SERVER_ERROR with no message.
        tracing::debug!("CreateAcls with ANY in a binding: refused whole, as Kafka does");
        return failed(ResponseError::UnknownServerError, None);
    }
    let checked: Vec<Result<AclBinding, String>> = req.creations.iter().map(binding).collect();
    let valid: Vec<AclBinding> = checked.iter().filter_map(|c| c.clone().ok()).collect();
    let accepted = match ctx.broker.create_acls(&valid) {
        Ok(accepted) => accepted,
        Err(e) => {
            let code = error::code(&e, "CreateAcls");
            let error =
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
            return failed(error, Some(&e.to_string()));
        }
    };
    let mut accepted = accepted.into_iter();
    let results = checked
        .into_iter()
        .map(|c| {
            let refusal = match c {
                Err(message) => Some((ResponseError::InvalidRequest, message)),
                Ok(_) if accepted.next() == Some(true) => None,
                Ok(_) => Some((
                    ResponseError::PolicyViolation,
                    format!(
                        "The broker keeps at most {} ACLs (max_acls)",
                        ctx.broker.config().max_acls
                    ),
                )),
            };
            match refusal {
                // Kafka sends an empty message, not null, with a success.
                None => AclCreationResult::default().with_error_message(Some(str_bytes(""))),
                Some((error, message)) => AclCreationResult::default()
                    .with_error_code(error.code())
                    .with_error_message(Some(str_bytes(message))),
            }
        })
        .collect();
    let response = CreateAclsResponse::default().with_results(results);
    if valid.is_empty() {
        return Outcome::now(response);
    }
    api::after_flush(ctx.broker, response, |r: &mut CreateAclsResponse| {
        for r in r.results.iter_mut().filter(|r| r.error_code == 0) {
            r.error_code = error::STORAGE_ERROR;
            r.error_message = Some(str_bytes("The ACL could not be made durable"));
        }
    })
}

/// The binding a creation asks for, or why it is invalid, checked in Kafka's order (its broker's
/// checks, then its controller's).
fn binding(c: &AclCreation) -> Result<AclBinding, String> {
    let resource_type = ResourceType::from_code(c.resource_type);
    if resource_type == Some(ResourceType::Cluster) && c.resource_name.as_str() != CLUSTER_NAME {
        return Err(format!(
            "The only valid name for the CLUSTER resource is {CLUSTER_NAME}"
        ));
    }
    if c.resource_name.is_empty() {
        return Err("Invalid empty resource name".into());
    }
    let resource_type = resource_type.ok_or("Invalid resourceType UNKNOWN")?;
    let pattern_type =
        PatternType::from_code(c.resource_pattern_type).ok_or("Invalid patternType UNKNOWN")?;
    let operation = AclOperation::from_code(c.operation).ok_or("Invalid operation UNKNOWN")?;
    let permission =
        Permission::from_code(c.permission_type).ok_or("Invalid permissionType UNKNOWN")?;
    if !c.principal.contains(':') {
        return Err(format!(
            "Could not parse principal from `{}` (no colon is present separating the principal \
             type from the principal name)",
            c.principal.as_str()
        ));
    }
    if c.host.is_empty() {
        return Err("Host pattern cannot be null or empty".into());
    }
    Ok(AclBinding {
        resource_type,
        resource_name: c.resource_name.to_string(),
        pattern_type,
        principal: c.principal.to_string(),
        host: c.host.to_string(),
        operation,
        permission,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;

    /// Runs a handler's outcome to its response (waiting for the flush if it changed something).
    pub fn run(outcome: Outcome) -> kafka_protocol::messages::ResponseKind {
        let body = match outcome {
            Outcome::Now(body) => body,
            Outcome::Later(fut) => tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap()
                .block_on(fut),
            Outcome::Close(why) => panic!("closed: {why}"),
            Outcome::Nothing => panic!("no response"),
        };
        match body {
            crate::protocol::ResponseBody::Kind(k) => k,
            _ => panic!("not a message"),
        }
    }

    pub fn creation(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> AclCreation {
        AclCreation::default()
            .with_resource_type(rt)
            .with_resource_name(str_bytes(name))
            .with_resource_pattern_type(pt)
            .with_principal(str_bytes(principal))
            .with_host(str_bytes("*"))
            .with_operation(op)
            .with_permission_type(perm)
    }

    pub fn create(
        b: &crate::broker::Broker,
        creations: Vec<AclCreation>,
    ) -> Vec<(i16, Option<String>)> {
        let req = CreateAclsRequest::default().with_creations(creations);
        match run(handle(&Ctx::test(b, 3), req)) {
            kafka_protocol::messages::ResponseKind::CreateAcls(r) => r
                .results
                .iter()
                .map(|r| {
                    (
                        r.error_code,
                        r.error_message.as_ref().map(|m| m.to_string()),
                    )
                })
                .collect(),
            _ => panic!("not a CreateAcls response"),
        }
    }

    /// A broker whose ANONYMOUS test client may manage ACLs.
    pub fn secured(
        dir: &std::path::Path,
        extra: impl FnOnce(&mut Config),
    ) -> crate::broker::Broker {
        let mut config = Config {
            authorizer_enabled: true,
            super_users: "User:ANONYMOUS".into(),
            ..Config::default()
        };
        extra(&mut config);
        test_broker(dir, config)
    }

    #[test]
    fn one_security_disabled_result_per_creation() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let got = create(&b, vec![AclCreation::default(), AclCreation::default()]);
        let expected = (
            ResponseError::SecurityDisabled.code(),
            Some(NO_AUTHORIZER.to_string()),
        );
        assert_eq!(got, vec![expected.clone(), expected]);
    }

    #[test]
    fn creates_durably_and_refuses_as_kafka_does() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = secured(dir.path(), |_| {});
            let ok = (0, Some(String::new()));
            let invalid = |m: &str| (ResponseError::InvalidRequest.code(), Some(m.to_string()));
            let got = create(
                &b,
                vec![
                    creation(2, "orders", 3, "User:alice", 3, 3),
                    creation(2, "orders", 3, "User:alice", 3, 3),
                    creation(4, "other", 3, "User:alice", 7, 3),
                    creation(2, "", 3, "User:alice", 3, 3),
                    creation(99, "t", 3, "User:alice", 3, 3),
                    creation(2, "t", 99, "User:alice", 3, 3),
                    creation(2, "t", 3, "User:alice", 99, 3),
                    creation(2, "t", 3, "User:alice", 3, 99),
                    creation(2, "t", 3, "alice", 3, 3),
                    creation(4, CLUSTER_NAME, 4, "User:", 7, 2),
                ],
            );
            assert_eq!(
                got,
                vec![
                    ok.clone(),
                    ok.clone(),
                    invalid("The only valid name for the CLUSTER resource is kafka-cluster"),
                    invalid("Invalid empty resource name"),
                    invalid("Invalid resourceType UNKNOWN"),
                    invalid("Invalid patternType UNKNOWN"),
                    invalid("Invalid operation UNKNOWN"),
                    invalid("Invalid permissionType UNKNOWN"),
                    invalid("Could not parse principal from `alice` (no colon is present separating the principal type from the principal name)"),
                    ok,
                ]
            );
            assert_eq!(b.authorizer().count(), 2);
            // ANY in any binding refuses the whole request and makes nothing.
            let got = create(
                &b,
                vec![
                    creation(2, "fine", 3, "User:bob", 3, 3),
                    creation(2, "t", 2, "User:bob", 3, 3),
                ],
            );
            assert_eq!(got, vec![(-1, None), (-1, None)]);
            assert_eq!(b.authorizer().count(), 2);
            b.close_store().unwrap();
        }
        let b = secured(dir.path(), |_| {});
        let mut names: Vec<String> = b
            .authorizer()
            .bindings()
            .into_iter()
            .map(|b| b.resource_name)
            .collect();
        names.sort();
        assert_eq!(names, ["kafka-cluster", "orders"]);
    }

    #[test]
    fn needs_alter_on_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured(dir.path(), |c| c.super_users = "User:admin".into());
        let got = create(&b, vec![creation(2, "t", 3, "User:a", 3, 3)]);
        assert_eq!(
            got,
            vec![(
                ResponseError::ClusterAuthorizationFailed.code(),
                Some(NOT_AUTHORIZED.to_string())
            )]
        );
        assert_eq!(b.authorizer().count(), 0);
    }

    #[test]
    fn max_acls_bounds_the_total() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured(dir.path(), |c| c.max_acls = 2);
        let got = create(
            &b,
            vec![
                creation(2, "a", 3, "User:x", 3, 3),
                creation(2, "b", 3, "User:x", 3, 3),
                creation(2, "c", 3, "User:x", 3, 3),
                creation(2, "a", 3, "User:x", 3, 3),
            ],
        );
        let codes: Vec<i16> = got.iter().map(|g| g.0).collect();
        assert_eq!(codes, [0, 0, ResponseError::PolicyViolation.code(), 0]);
        assert_eq!(b.authorizer().count(), 2);
    }

    #[test]
    fn an_unknown_code_closes_the_connection() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured(dir.path(), |_| {});
        let req =
            CreateAclsRequest::default().with_creations(vec![creation(0, "t", 3, "User:a", 3, 3)]);
        assert!(matches!(handle(&Ctx::test(&b, 3), req), Outcome::Close(_)));
    }
}
