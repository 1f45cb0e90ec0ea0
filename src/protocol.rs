//! The Kafka wire protocol at the edge: our supported-version table, request parsing, response
//! encoding. Message bodies are the kafka-protocol crate's; what this module adds is the checking a
//! broker must do before trusting a frame, and the one table ApiVersions is built from.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::api_versions_response::ApiVersion;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsResponse, RequestHeader, RequestKind, ResponseHeader, ResponseKind,
};
use kafka_protocol::protocol::{Decodable, Encodable};

/// Every API and version range Sluice implements fully. ApiVersions advertises exactly this, and a
/// request outside it is refused before its body is decoded.
pub const SUPPORTED_APIS: &[(ApiKey, i16, i16)] = &[
    (ApiKey::Produce, 3, 11),
    (ApiKey::Fetch, 4, 16),
    (ApiKey::ListOffsets, 1, 10),
    (ApiKey::Metadata, 0, 12),
    (ApiKey::ApiVersions, 0, 3),
    (ApiKey::CreateTopics, 2, 7),
    (ApiKey::DeleteTopics, 1, 6),
    (ApiKey::FindCoordinator, 0, 4),
    (ApiKey::JoinGroup, 0, 9),
    (ApiKey::SyncGroup, 0, 5),
    (ApiKey::Heartbeat, 0, 4),
    (ApiKey::LeaveGroup, 0, 5),
    (ApiKey::OffsetCommit, 2, 8),
    (ApiKey::OffsetFetch, 1, 8),
    (ApiKey::ListGroups, 0, 5),
    (ApiKey::DescribeGroups, 0, 5),
    (ApiKey::DeleteGroups, 0, 2),
    (ApiKey::OffsetDelete, 0, 0),
    (ApiKey::CreatePartitions, 0, 3),
    (ApiKey::DeleteRecords, 0, 2),
    (ApiKey::DescribeCluster, 0, 1),
    (ApiKey::DescribeLogDirs, 1, 4),
    (ApiKey::OffsetForLeaderEpoch, 2, 4),
    (ApiKey::DescribeTopicPartitions, 0, 0),
    (ApiKey::InitProducerId, 0, 4),
    (ApiKey::DescribeConfigs, 1, 4),
    (ApiKey::AlterConfigs, 0, 2),
    (ApiKey::IncrementalAlterConfigs, 0, 1),
];

/// The supported range for `key`, if we implement it at all.
pub fn supported_range(key: ApiKey) -> Option<(i16, i16)> {
    SUPPORTED_APIS
        .iter()
        .find(|(k, _, _)| *k == key)
        .map(|&(_, min, max)| (min, max))
}

pub fn api_version_table() -> Vec<ApiVersion> {
    SUPPORTED_APIS
        .iter()
        .map(|&(key, min, max)| {
            ApiVersion::default()
                .with_api_key(key as i16)
                .with_min_version(min)
                .with_max_version(max)
        })
        .collect()
}

/// A request ready for a handler.
#[derive(Debug)]
pub struct Request {
    pub header: RequestHeader,
    pub api_key: ApiKey,
    pub body: RequestKind,
}

impl Request {
    pub fn version(&self) -> i16 {
        self.header.request_api_version
    }
}

/// The outcome of parsing one frame.
#[derive(Debug)]
pub enum Parsed {
    Request(Box<Request>),
    /// ApiVersions at a version we don't speak: per KIP-511 the broker still answers, with a v0
    /// body carrying UNSUPPORTED_VERSION and our ranges, so the client can pick a version.
    UnsupportedApiVersions {
        correlation_id: i32,
    },
}

/// Why a frame was refused; the connection is closed and this is logged.
#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("frame of {0} bytes is too short for a request header")]
    TooShort(usize),
    #[error("unknown api key {0}")]
    UnknownApiKey(i16),
    #[error("{api:?} v{version} is not supported (supported: {range})")]
    UnsupportedVersion {
        api: ApiKey,
        version: i16,
        range: String,
    },
    #[error("{api:?} v{version} request header does not decode: {reason}")]
    BadHeader {
        api: ApiKey,
        version: i16,
        reason: String,
    },
    #[error("{api:?} v{version} body does not decode: {reason}")]
    BadBody {
        api: ApiKey,
        version: i16,
        reason: String,
    },
}

/// Parses a frame (without its length prefix) into a request.
pub fn parse_frame(mut frame: Bytes) -> Result<Parsed, FrameError> {
    // api key, api version, correlation id: what every header version starts with.
    if frame.len() < 8 {
        return Err(FrameError::TooShort(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey(raw_key))?;
    let Some((min, max)) = supported_range(api) else {
        return Err(FrameError::UnsupportedVersion {
            api,
            version,
            range: "none".into(),
        });
    };
    if version < min || version > max {
        if api == ApiKey::ApiVersions && version > max {
            return Ok(Parsed::UnsupportedApiVersions { correlation_id });
        }
        return Err(FrameError::UnsupportedVersion {
            api,
            version,
            range: format!("{min}..={max}"),
        });
    }
    let header =
        RequestHeader::decode(&mut frame, api.request_header_version(version)).map_err(|e| {
            FrameError::BadHeader {
                api,
                version,
                reason: e.to_string(),
            }
        })?;
    let body = RequestKind::decode(api, &mut frame, version).map_err(|e| FrameError::BadBody {
        api,
        version,
        reason: e.to_string(),
    })?;
    if frame.has_remaining() {
        // Kafka ignores unread bytes after a body, and clients rely on it: librdkafka 2.12 sends
        // an all-topics Metadata v12 with a 4-byte slot for a 1-byte varint count.
        tracing::debug!(
            ?api,
            version,
            trailing = frame.remaining(),
            "ignoring trailing bytes after the request body"
        );
    }
    Ok(Parsed::Request(Box::new(Request {
        header,
        api_key: api,
        body,
    })))
}

/// Encodes a whole response frame, length prefix included.
pub fn encode_response(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: &ResponseKind,
) -> anyhow::Result<Bytes> {
    let mut buf = BytesMut::with_capacity(256);
    buf.put_i32(0);
    ResponseHeader::default()
        .with_correlation_id(correlation_id)
        .encode(&mut buf, api.response_header_version(version))?;
    body.encode(&mut buf, version)?;
    let len = (buf.len() - 4) as i32;
    buf[..4].copy_from_slice(&len.to_be_bytes());
    Ok(buf.freeze())
}

/// The KIP-511 answer to an ApiVersions request at a version above ours.
pub fn unsupported_api_versions_response(correlation_id: i32) -> anyhow::Result<Bytes> {
    let body = ResponseKind::ApiVersions(
        ApiVersionsResponse::default()
            .with_error_code(kafka_protocol::error::ResponseError::UnsupportedVersion.code())
            .with_api_keys(api_version_table()),
    );
    encode_response(ApiKey::ApiVersions, 0, correlation_id, &body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn frame(key: i16, version: i16, rest: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(key);
        b.put_i16(version);
        b.put_i32(7);
        b.extend_from_slice(rest);
        b.freeze()
    }

    #[test]
    fn table_is_within_what_the_codec_supports() {
        use kafka_protocol::messages::*;
        use kafka_protocol::protocol::Message;
        for &(key, min, max) in SUPPORTED_APIS {
            let codec = match key {
                ApiKey::Produce => ProduceRequest::VERSIONS,
                ApiKey::Fetch => FetchRequest::VERSIONS,
                ApiKey::ListOffsets => ListOffsetsRequest::VERSIONS,
                ApiKey::Metadata => MetadataRequest::VERSIONS,
                ApiKey::ApiVersions => ApiVersionsRequest::VERSIONS,
                ApiKey::CreateTopics => CreateTopicsRequest::VERSIONS,
                ApiKey::DeleteTopics => DeleteTopicsRequest::VERSIONS,
                ApiKey::FindCoordinator => FindCoordinatorRequest::VERSIONS,
                ApiKey::JoinGroup => JoinGroupRequest::VERSIONS,
                ApiKey::SyncGroup => SyncGroupRequest::VERSIONS,
                ApiKey::Heartbeat => HeartbeatRequest::VERSIONS,
                ApiKey::LeaveGroup => LeaveGroupRequest::VERSIONS,
                ApiKey::OffsetCommit => OffsetCommitRequest::VERSIONS,
                ApiKey::OffsetFetch => OffsetFetchRequest::VERSIONS,
                ApiKey::ListGroups => ListGroupsRequest::VERSIONS,
                ApiKey::DescribeGroups => DescribeGroupsRequest::VERSIONS,
                ApiKey::DeleteGroups => DeleteGroupsRequest::VERSIONS,
                ApiKey::OffsetDelete => OffsetDeleteRequest::VERSIONS,
                ApiKey::CreatePartitions => CreatePartitionsRequest::VERSIONS,
                ApiKey::DeleteRecords => DeleteRecordsRequest::VERSIONS,
                ApiKey::DescribeCluster => DescribeClusterRequest::VERSIONS,
                ApiKey::DescribeLogDirs => DescribeLogDirsRequest::VERSIONS,
                ApiKey::OffsetForLeaderEpoch => OffsetForLeaderEpochRequest::VERSIONS,
                ApiKey::DescribeTopicPartitions => DescribeTopicPartitionsRequest::VERSIONS,
                ApiKey::InitProducerId => InitProducerIdRequest::VERSIONS,
                ApiKey::DescribeConfigs => DescribeConfigsRequest::VERSIONS,
                ApiKey::AlterConfigs => AlterConfigsRequest::VERSIONS,
                ApiKey::IncrementalAlterConfigs => IncrementalAlterConfigsRequest::VERSIONS,
                other => panic!("no codec check for {other:?}"),
            };
            assert!(
                min <= max && min >= codec.min && max <= codec.max,
                "{key:?}"
            );
        }
    }

    #[test]
    fn api_versions_v3_parses() {
        // client_id "x" (nullable string), empty tagged fields; body: compact strings + tags.
        let mut rest = vec![0, 1, b'x', 0];
        rest.extend_from_slice(&[2, b'k', 2, b'1', 0]);
        match parse_frame(frame(18, 3, &rest)).unwrap() {
            Parsed::Request(r) => assert_eq!(r.api_key, ApiKey::ApiVersions),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_api_versions_gets_an_answer() {
        assert!(matches!(
            parse_frame(frame(18, 99, &[])).unwrap(),
            Parsed::UnsupportedApiVersions { correlation_id: 7 }
        ));
        let resp = unsupported_api_versions_response(7).unwrap();
        // length, correlation id, then error code 35.
        assert_eq!(&resp[4..8], &7i32.to_be_bytes());
        assert_eq!(&resp[8..10], &35i16.to_be_bytes());
    }

    #[test]
    fn bad_frames_are_refused() {
        assert!(matches!(
            parse_frame(Bytes::from_static(&[0, 3])),
            Err(FrameError::TooShort(2))
        ));
        assert!(matches!(
            parse_frame(frame(9999, 0, &[])),
            Err(FrameError::UnknownApiKey(9999))
        ));
        assert!(matches!(
            parse_frame(frame(3, 99, &[])),
            Err(FrameError::UnsupportedVersion { .. })
        ));
        // Metadata v1 with a truncated body.
        assert!(matches!(
            parse_frame(frame(3, 1, &[0, 0, 0, 0, 0xff])),
            Err(FrameError::BadBody { .. })
        ));
        // Metadata v1: no client id, null topics, then stray bytes: ignored, as Kafka does.
        assert!(matches!(
            parse_frame(frame(3, 1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1])),
            Ok(Parsed::Request(_))
        ));
    }

    #[test]
    fn hostile_array_count_fails_without_allocating() {
        // Metadata v1, null client id, topics array claiming i32::MAX entries.
        let f = frame(3, 1, &[0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0]);
        assert!(matches!(parse_frame(f), Err(FrameError::BadBody { .. })));
    }
}
