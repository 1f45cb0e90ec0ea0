//! The version table's shape and what the protocol layer derives from it: the supported range of an
//! API, the ApiVersions list, and KIP-511's answer to an ApiVersions request above our range. The
//! table itself is the API layer's (`api::SUPPORTED_APIS`): it is generated with the dispatcher from
//! one list of handlers, so nothing is advertised that has no handler.

use bytes::Bytes;
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{ApiKey, ApiVersionsResponse, ResponseKind};

use super::encode_response;

/// Every API a broker implements, with the version range it implements fully.
pub type VersionTable = [(ApiKey, i16, i16)];

/// The supported range for `key`, if the table has it at all.
pub fn supported_range(table: &VersionTable, key: ApiKey) -> Option<(i16, i16)> {
    table
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

/// The table as ApiVersions lists it.
pub fn api_version_table(table: &VersionTable) -> Vec<ApiVersion> {
    table
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// The KIP-511 answer to an ApiVersions request at a version above ours.
pub fn unsupported_api_versions_response(
    table: &VersionTable,
    correlation_id: i32,
) -> anyhow::Result<Bytes> {
    let body = ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(kafka_protocol::error::ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_version_table(table)),
    );
    encode_response(ApiKey::ApiVersions, 0, correlation_id, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unsupported_api_versions_gets_an_answer() {
        let table: &VersionTable = &[(ApiKey::ApiVersions, 0, 3)];
        let resp = unsupported_api_versions_response(table, 7).unwrap();
        // length, correlation id, then error code 35.
        assert_eq!(&resp[4..8], &7i32.to_be_bytes());
        assert_eq!(&resp[8..10], &35i16.to_be_bytes());
    }
}
