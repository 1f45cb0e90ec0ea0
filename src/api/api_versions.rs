//! ApiVersions: the version table, `api::SUPPORTED_APIS`, nothing else.
//!
//! Optional tagged fields (supported features, finalized features) are left at their defaults so
//! they are not written at all: librdkafka 2.0 (Debian's kcat) rejects a v3 response that carries
//! default-valued tagged fields it does not expect.

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::api::{Ctx, SUPPORTED_APIS};
use crate::protocol::api_version_table;

pub fn handle(_ctx: &Ctx, _req: ApiVersionsRequest) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_version_table(SUPPORTED_APIS))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn v3_response_has_no_tagged_fields() {
        let dir = tempfile::tempdir().unwrap();
        let b = crate::broker::tests::test_broker(dir.path(), crate::config::Config::default());
        let resp = handle(&Ctx::test(&b, 3), ApiVersionsRequest::default());
        let mut buf = bytes::BytesMut::new();
        resp.encode(&mut buf, 3).unwrap();
        // The last byte is the top-level tagged-field count.
        assert_eq!(*buf.last().unwrap(), 0);
        assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
    }
}
