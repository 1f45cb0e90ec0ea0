//! DescribeAcls without an authorizer: SECURITY_DISABLED, as Kafka answers when no
//! `authorizer.class.name` is set (its AclApis). Advertising it, rather than closing the
//! connection, is what lets MirrorMaker 2's ACL sync and `kafka-acls.sh --list` report the state
//! instead of failing with a stack trace. The security issue (#17) replaces this with real ACLs.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{DescribeAclsRequest, DescribeAclsResponse};

use crate::api::{str_bytes, Ctx};

/// Kafka's message for DescribeAcls (the create and delete answers word it differently).
pub const NO_AUTHORIZER: &str = "No Authorizer is configured on the broker";

pub fn handle(_ctx: &Ctx, _req: DescribeAclsRequest) -> DescribeAclsResponse {
    DescribeAclsResponse::default()
        .with_error_code(ResponseError::SecurityDisabled.code())
        .with_error_message(Some(str_bytes(NO_AUTHORIZER)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;

    #[test]
    fn security_disabled_with_kafkas_message() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let resp = handle(&Ctx::test(&b, 3), DescribeAclsRequest::default());
        assert_eq!(resp.error_code, ResponseError::SecurityDisabled.code());
        assert_eq!(resp.error_message.as_deref(), Some(NO_AUTHORIZER));
        assert!(resp.resources.is_empty());
    }
}
