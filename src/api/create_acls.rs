//! CreateAcls without an authorizer: every creation fails with SECURITY_DISABLED, one result per
//! creation, as Kafka's `CreateAclsRequest.getErrorResponse` builds it (see describe_acls.rs).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_acls_response::AclCreationResult;
use kafka_protocol::messages::{CreateAclsRequest, CreateAclsResponse};

use crate::api::{str_bytes, Ctx};

/// Kafka's message for CreateAcls and DeleteAcls.
pub const NO_AUTHORIZER: &str = "No Authorizer is configured.";

pub fn handle(_ctx: &Ctx, req: CreateAclsRequest) -> CreateAclsResponse {
    let result = AclCreationResult::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(str_bytes(NO_AUTHORIZER)));
    CreateAclsResponse::default().with_results(vec![result; req.creations.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::create_acls_request::AclCreation;

    #[test]
    fn one_security_disabled_result_per_creation() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let req = CreateAclsRequest::default()
            .with_creations(vec![AclCreation::default(), AclCreation::default()]);
        let resp = handle(&Ctx::test(&b, 3), req);
        assert_eq!(resp.results.len(), 2);
        for r in &resp.results {
            assert_eq!(r.error_code, ResponseError::SecurityDisabled.code());
            assert_eq!(r.error_message.as_deref(), Some(NO_AUTHORIZER));
        }
    }
}
