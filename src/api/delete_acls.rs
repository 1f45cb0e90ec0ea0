//! DeleteAcls without an authorizer: every filter fails with SECURITY_DISABLED and matches
//! nothing, as Kafka's `DeleteAclsRequest.getErrorResponse` builds it (see describe_acls.rs).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_acls_response::DeleteAclsFilterResult;
use kafka_protocol::messages::{DeleteAclsRequest, DeleteAclsResponse};

use crate::api::create_acls::NO_AUTHORIZER;
use crate::api::{str_bytes, Ctx};

pub fn handle(_ctx: &Ctx, req: DeleteAclsRequest) -> DeleteAclsResponse {
    let result = DeleteAclsFilterResult::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(str_bytes(NO_AUTHORIZER)));
    DeleteAclsResponse::default().with_filter_results(vec![result; req.filters.len()])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;

    #[test]
    fn one_security_disabled_result_per_filter() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let req = DeleteAclsRequest::default().with_filters(vec![DeleteAclsFilter::default()]);
        let resp = handle(&Ctx::test(&b, 1), req);
        assert_eq!(resp.filter_results.len(), 1);
        let r = &resp.filter_results[0];
        assert_eq!(r.error_code, ResponseError::SecurityDisabled.code());
        assert_eq!(r.error_message.as_deref(), Some(NO_AUTHORIZER));
        assert!(r.matching_acls.is_empty());
    }
}
