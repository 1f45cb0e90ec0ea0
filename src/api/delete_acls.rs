//! DeleteAcls: removes the ACL bindings each filter matches, one result per filter listing them,
//! answered once the removal is durable.
//!
//! Without an authorizer every filter fails with SECURITY_DISABLED and matches nothing, as Kafka's
//! `DeleteAclsRequest.getErrorResponse` builds it (see describe_acls.rs). With one, as Kafka's
//! AclControlManager: the client needs ALTER on the cluster; a filter with an UNKNOWN (0) code
//! closes the connection (Kafka cannot parse it), one with a code Kafka does not know fails with
//! INVALID_REQUEST; each other filter lists every binding it matched before the request, so two
//! filters matching one binding both list it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::{
    DeleteAclsFilterResult, DeleteAclsMatchingAcl,
};
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use crate::api::create_acls::{NOT_AUTHORIZED, NO_AUTHORIZER};
use crate::api::describe_acls::{Codes, UnknownIn};
use crate::api::{self, error, str_bytes, Ctx, Outcome};
use crate::security::acl::{AclBindingFilter, AclOperation, ResourceType, CLUSTER_NAME};

pub fn handle(ctx: &Ctx, req: DeleteAclsRequest) -> Outcome {
    let failed = |error: ResponseError, message: &str| {
        let result = DeleteAclsFilterResult::default()
            .with_error_code(error.code())
            .with_error_message(Some(str_bytes(message)));
        Outcome::now(
            DeleteAclsResponse::default().with_filter_results(vec![result; req.filters.len()]),
        )
    };
    if !ctx.broker.authorizer().enabled() {
        return failed(ResponseError::SecurityDisabled, NO_AUTHORIZER);
    }
    let codes: Vec<Codes> = req
        .filters
        .iter()
        .map(|f| Codes {
            resource_type: f.resource_type_filter,
            resource_name: f.resource_name_filter.clone(),
            pattern_type: f.pattern_type_filter,
            principal: f.principal_filter.clone(),
            host: f.host_filter.clone(),
            operation: f.operation,
            permission: f.permission_type,
        })
        .collect();
    if codes.iter().any(Codes::has_unknown) {
        return Outcome::Close(
            "DeleteAcls with an UNKNOWN (0) code, which Kafka cannot parse".into(),
        );
    }
    if !ctx.authorize(AclOperation::Alter, ResourceType::Cluster, CLUSTER_NAME) {
        return failed(ResponseError::ClusterAuthorizationFailed, NOT_AUTHORIZED);
    }
    let parsed: Vec<Result<AclBindingFilter, UnknownIn>> =
        codes.into_iter().map(Codes::filter).collect();
    let valid: Vec<AclBindingFilter> = parsed
        .iter()
        .filter_map(|p| p.as_ref().ok().cloned())
        .collect();
    let deleted = match ctx.broker.delete_acls(&valid) {
        Ok(deleted) => deleted,
        Err(e) => {
            let code = error::code(&e, "DeleteAcls");
            let error =
                ResponseError::try_from_code(code).unwrap_or(ResponseError::UnknownServerError);
            return failed(error, &e.to_string());
        }
    };
    let changed = deleted.iter().any(|d| !d.is_empty());
    let mut deleted = deleted.into_iter();
    let results = parsed
        .into_iter()
        .map(|p| {
            let result = DeleteAclsFilterResult::default().with_error_message(None);
            let message = match p {
                Err(UnknownIn::Pattern) => "Unknown patternFilter.",
                Err(UnknownIn::Entry) => "Unknown entryFilter.",
                Ok(_) => {
                    let matched = deleted.next().unwrap_or_default();
                    return result.with_matching_acls(
                        matched
                            .into_iter()
                            .map(|b| {
                                DeleteAclsMatchingAcl::default()
                                    .with_error_message(None)
                                    .with_resource_type(b.resource_type.code())
                                    .with_resource_name(str_bytes(b.resource_name))
                                    .with_pattern_type(b.pattern_type.code())
                                    .with_principal(str_bytes(b.principal))
                                    .with_host(str_bytes(b.host))
                                    .with_operation(b.operation.code())
                                    .with_permission_type(b.permission.code())
                            })
                            .collect(),
                    );
                }
            };
            result
                .with_error_code(ResponseError::InvalidRequest.code())
                .with_error_message(Some(str_bytes(message)))
        })
        .collect();
    let response = DeleteAclsResponse::default().with_filter_results(results);
    if !changed {
        return Outcome::now(response);
    }
    api::after_flush(ctx.broker, response, |r: &mut DeleteAclsResponse| {
        for r in r.filter_results.iter_mut().filter(|r| r.error_code == 0) {
            r.error_code = error::STORAGE_ERROR;
            r.error_message = Some(str_bytes("The ACL removal could not be made durable"));
            r.matching_acls.clear();
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::create_acls::tests::{create, creation, run, secured};
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;

    fn delete(b: &crate::broker::Broker, filters: Vec<DeleteAclsFilter>) -> DeleteAclsResponse {
        let req = DeleteAclsRequest::default().with_filters(filters);
        match run(handle(&Ctx::test(b, 3), req)) {
            kafka_protocol::messages::ResponseKind::DeleteAcls(r) => r,
            _ => panic!("not a DeleteAcls response"),
        }
    }

    fn any() -> DeleteAclsFilter {
        DeleteAclsFilter::default()
            .with_resource_type_filter(1)
            .with_resource_name_filter(None)
            .with_pattern_type_filter(1)
            .with_principal_filter(None)
            .with_host_filter(None)
            .with_operation(1)
            .with_permission_type(1)
    }

    #[test]
    fn one_security_disabled_result_per_filter() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let resp = delete(&b, vec![DeleteAclsFilter::default()]);
        assert_eq!(resp.filter_results.len(), 1);
        let r = &resp.filter_results[0];
        assert_eq!(r.error_code, ResponseError::SecurityDisabled.code());
        assert_eq!(r.error_message.as_deref(), Some(NO_AUTHORIZER));
        assert!(r.matching_acls.is_empty());
    }

    #[test]
    fn deletes_what_each_filter_matches_durably() {
        let dir = tempfile::tempdir().unwrap();
        {
            let b = secured(dir.path(), |_| {});
            create(
                &b,
                vec![
                    creation(2, "a", 3, "User:x", 3, 3),
                    creation(2, "a", 3, "User:y", 3, 3),
                    creation(2, "b", 4, "User:x", 3, 3),
                    creation(3, "g", 3, "User:x", 3, 3),
                ],
            );
            let name = |n: &str| Some(str_bytes(n));
            let resp = delete(
                &b,
                vec![
                    any().with_resource_name_filter(name("a")),
                    any().with_principal_filter(name("User:y")),
                    any().with_resource_type_filter(99),
                    any().with_permission_type(99),
                    any().with_resource_name_filter(name("nothing")),
                ],
            );
            let got: Vec<(i16, Option<String>, usize)> = resp
                .filter_results
                .iter()
                .map(|r| {
                    (
                        r.error_code,
                        r.error_message.as_ref().map(|m| m.to_string()),
                        r.matching_acls.len(),
                    )
                })
                .collect();
            let invalid = ResponseError::InvalidRequest.code();
            assert_eq!(
                got,
                vec![
                    (0, None, 2),
                    (0, None, 1),
                    (invalid, Some("Unknown patternFilter.".into()), 0),
                    (invalid, Some("Unknown entryFilter.".into()), 0),
                    (0, None, 0),
                ]
            );
            assert_eq!(
                resp.filter_results[1].matching_acls[0].principal.as_str(),
                "User:y"
            );
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
        assert_eq!(names, ["b", "g"]);
        let resp = delete(
            &b,
            vec![any()
                .with_pattern_type_filter(2)
                .with_resource_name_filter(Some(str_bytes("bx")))],
        );
        assert_eq!(
            resp.filter_results[0].matching_acls.len(),
            1,
            "MATCH takes the prefix b"
        );
        assert_eq!(b.authorizer().count(), 1);
    }

    #[test]
    fn needs_alter_on_the_cluster() {
        let dir = tempfile::tempdir().unwrap();
        let b = secured(dir.path(), |c| c.super_users = String::new());
        let resp = delete(&b, vec![any()]);
        assert_eq!(
            resp.filter_results[0].error_code,
            ResponseError::ClusterAuthorizationFailed.code()
        );
    }
}
