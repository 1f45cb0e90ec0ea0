//! ApiVersions: the version table, `api::SUPPORTED_APIS`, nothing else.
//!
//! v3+ also carry the features Sluice supports and has finalized, as Kafka's KRaft brokers do:
//! `transaction.version` (KIP-890), which tells Java clients 4.x whether to run transactions
//! with the broker-side checks and per-transaction epoch bumps of version 2, and `group.version` 1
//! (KIP-848: the consumer group protocol is on, as in Kafka 4.x), and `share.version` 2 (KIP-932:
//! share groups are on, with ShareFetch/ShareAcknowledge v2, as in Kafka 4.4). Other optional tagged
//! fields are left at their defaults so they are not written at all: librdkafka 2.0 (Debian's
//! kcat) rejects a v3 response that carries default-valued tagged fields it does not expect.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::api_versions_response::{FinalizedFeatureKey, SupportedFeatureKey};
use kafka_protocol::messages::{ApiVersionsRequest, ApiVersionsResponse};

use crate::api::{str_bytes as s, Ctx, SUPPORTED_APIS};
use crate::protocol::api_version_table;

pub fn handle(ctx: &Ctx, req: ApiVersionsRequest) -> ApiVersionsResponse {
    // v3+ names the client's software (KIP-511); Kafka refuses names or versions outside its
    // pattern with INVALID_REQUEST and no version table.
    if ctx.version >= 3
        && !(valid_software_token(req.client_software_name.as_str())
            && valid_software_token(req.client_software_version.as_str()))
    {
        tracing::debug!(
            name = %req.client_software_name.as_str(),
            version = %req.client_software_version.as_str(),
            "ApiVersions: invalid client software name or version"
        );
        return ApiVersionsResponse::default()
            .with_error_code(ResponseError::InvalidRequest.code());
    }
    let response = ApiVersionsResponse::default().with_api_keys(api_version_table(SUPPORTED_APIS));
    if ctx.version < 3 {
        return response;
    }
    let level = ctx.broker.config().transaction_version;
    response
        .with_supported_features(vec![
            SupportedFeatureKey::default()
                .with_name(s(TRANSACTION_VERSION))
                .with_min_version(0)
                .with_max_version(2),
            SupportedFeatureKey::default()
                .with_name(s(GROUP_VERSION))
                .with_min_version(0)
                .with_max_version(1),
            SupportedFeatureKey::default()
                .with_name(s(SHARE_VERSION))
                .with_min_version(0)
                .with_max_version(2),
        ])
        .with_finalized_features_epoch(FEATURES_EPOCH)
        .with_finalized_features(vec![
            FinalizedFeatureKey::default()
                .with_name(s(TRANSACTION_VERSION))
                .with_min_version_level(level)
                .with_max_version_level(level),
            FinalizedFeatureKey::default()
                .with_name(s(GROUP_VERSION))
                .with_min_version_level(1)
                .with_max_version_level(1),
            FinalizedFeatureKey::default()
                .with_name(s(SHARE_VERSION))
                .with_min_version_level(2)
                .with_max_version_level(2),
        ])
}

const TRANSACTION_VERSION: &str = "transaction.version";
/// KIP-848's feature: level 1 has the consumer group protocol (ConsumerGroupHeartbeat).
const GROUP_VERSION: &str = "group.version";
/// KIP-932's feature: level 1 has share groups with ShareFetch/ShareAcknowledge v1, level 2 (what
/// Kafka 4.4 finalizes) v2 of those APIs: record_limit acquisition and renew acknowledgements.
const SHARE_VERSION: &str = "share.version";

/// The epoch of the finalized features: they never change while the broker runs (Kafka's is the
/// metadata log offset of their last change; clients only compare epochs they saw).
const FEATURES_EPOCH: i64 = 1;

/// Kafka's `[a-zA-Z0-9](?:[a-zA-Z0-9\-.]*[a-zA-Z0-9])?` (ApiVersionsRequest.isValid).
fn valid_software_token(s: &str) -> bool {
    let b = s.as_bytes();
    let edge = |c: &u8| c.is_ascii_alphanumeric();
    match (b.first(), b.last()) {
        (Some(first), Some(last)) => {
            edge(first) && edge(last) && b.iter().all(|c| edge(c) || *c == b'-' || *c == b'.')
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::{Encodable, StrBytes};

    fn named(name: &str, version: &str) -> ApiVersionsRequest {
        ApiVersionsRequest::default()
            .with_client_software_name(StrBytes::from_string(name.into()))
            .with_client_software_version(StrBytes::from_string(version.into()))
    }

    /// As Kafka (compat-tests/differential.rs, D20): v3+ checks the client's software name and
    /// version against KIP-511's pattern; earlier versions do not have them.
    #[test]
    fn invalid_client_software_is_an_invalid_request() {
        let dir = tempfile::tempdir().unwrap();
        let b = crate::broker::tests::test_broker(dir.path(), crate::config::Config::default());
        let invalid = ResponseError::InvalidRequest.code();
        for (name, version, code) in [
            ("apache-kafka-java", "4.4.0", 0),
            ("confluent-kafka-python", "2.6.1-rdkafka-2.6.1", 0),
            ("a", "1", 0),
            ("bad name!", "1.0", invalid),
            ("ok", "1.0-", invalid),
            ("", "1.0", invalid),
            ("ok", "", invalid),
        ] {
            let resp = handle(&Ctx::test(&b, 3), named(name, version));
            assert_eq!(resp.error_code, code, "{name:?} {version:?}");
            assert_eq!(resp.api_keys.is_empty(), code != 0);
        }
        let resp = handle(&Ctx::test(&b, 2), named("bad name!", ""));
        assert_eq!(resp.error_code, 0);
    }

    #[test]
    fn v3_response_has_no_tagged_fields() {
        let dir = tempfile::tempdir().unwrap();
        let b = crate::broker::tests::test_broker(dir.path(), crate::config::Config::default());
        let resp = handle(&Ctx::test(&b, 3), named("librdkafka", "2.6.0"));
        let mut buf = bytes::BytesMut::new();
        resp.encode(&mut buf, 3).unwrap();
        // The last byte is the top-level tagged-field count.
        assert_eq!(*buf.last().unwrap(), 0);
        assert_eq!(resp.api_keys.len(), SUPPORTED_APIS.len());
    }
}
