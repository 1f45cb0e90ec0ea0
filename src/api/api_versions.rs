//! ApiVersions: the version table from `protocol::SUPPORTED_APIS`, nothing else.
//!
//! Optional tagged fields (supported features, finalized features) are left at their defaults so
//! they are not written at all: librdkafka 2.0 (Debian's kcat) rejects a v3 response that carries
//! default-valued tagged fields it does not expect.

use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::protocol::api_version_table;

pub fn handle(_req: &ApiVersionsRequest, _version: i16) -> ApiVersionsResponse {
    ApiVersionsResponse::default().with_api_keys(api_version_table())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::Encodable;

    #[test]
    fn v3_response_has_no_tagged_fields() {
        let resp = handle(&ApiVersionsRequest::default(), 3);
        let mut buf = bytes::BytesMut::new();
        resp.encode(&mut buf, 3).unwrap();
        // The last byte is the top-level tagged-field count.
        assert_eq!(*buf.last().unwrap(), 0);
        assert_eq!(resp.api_keys.len(), crate::protocol::SUPPORTED_APIS.len());
    }
}
