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

/// An encoded response frame as a list of byte strings, written with vectored I/O: a Fetch
/// response's record bytes stay the stored chunks they were read as (see [`encode_fetch`]).
#[derive(Debug, Default)]
pub struct Frame {
    parts: std::collections::VecDeque<Bytes>,
    remaining: usize,
}

impl Frame {
    fn push(&mut self, b: Bytes) {
        if !b.is_empty() {
            self.remaining += b.len();
            self.parts.push_back(b);
        }
    }

    /// The whole frame in one buffer (a copy; for tests and diagnostics).
    pub fn to_bytes(&self) -> Bytes {
        let mut out = BytesMut::with_capacity(self.remaining);
        for p in &self.parts {
            out.extend_from_slice(p);
        }
        out.freeze()
    }
}

impl From<Bytes> for Frame {
    fn from(b: Bytes) -> Frame {
        let mut f = Frame::default();
        f.push(b);
        f
    }
}

impl Buf for Frame {
    fn remaining(&self) -> usize {
        self.remaining
    }

    fn chunk(&self) -> &[u8] {
        self.parts.front().map_or(&[], |b| b.as_ref())
    }

    fn advance(&mut self, mut cnt: usize) {
        assert!(cnt <= self.remaining, "advance past the end of a frame");
        self.remaining -= cnt;
        while cnt > 0 {
            let front = self.parts.front_mut().expect("remaining counts the parts");
            if cnt < front.len() {
                front.advance(cnt);
                return;
            }
            cnt -= front.len();
            self.parts.pop_front();
        }
    }

    fn chunks_vectored<'a>(&'a self, dst: &mut [std::io::IoSlice<'a>]) -> usize {
        let mut n = 0;
        for (slot, part) in dst.iter_mut().zip(&self.parts) {
            *slot = std::io::IoSlice::new(part);
            n += 1;
        }
        n
    }
}

/// Encodes a Fetch response without copying its record bytes. The body is encoded by the
/// kafka-protocol crate with a 16-byte placeholder in every partition's `records` that has data: a
/// random nonce and the partition's position. The placeholders are then found in the (small)
/// encoded body and replaced by the right length prefix and the record chunks themselves, and the
/// frame length is fixed up. The crate has no way to emit a field by reference, and copying every
/// fetched byte into the encoder was one of two copies on the hot read path.
pub fn encode_fetch(
    version: i16,
    correlation_id: i32,
    mut fetched: crate::api::fetch::Fetched,
) -> anyhow::Result<Frame> {
    const MARK: usize = 16;
    let nonce = *uuid::Uuid::new_v4().as_bytes();
    let partitions = fetched
        .response
        .responses
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut());
    for (i, part) in partitions.enumerate() {
        if fetched.records.get(i).is_some_and(|r| !r.is_empty()) {
            let mut mark = [0u8; MARK];
            mark[..12].copy_from_slice(&nonce[..12]);
            mark[12..].copy_from_slice(&(i as u32).to_be_bytes());
            part.records = Some(Bytes::copy_from_slice(&mark));
        }
    }
    let body = ResponseKind::Fetch(fetched.response);
    let head = encode_response(ApiKey::Fetch, version, correlation_id, &body)?;
    let flexible = version >= 12;
    // Where each placeholder sits: (start of its length prefix, end of the placeholder, slot).
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(&head[at..], &nonce[..12]).map(|p| p + at) {
        let end = pos + MARK;
        let slot = head
            .get(pos + 12..end)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let prefix_ok = if flexible {
            pos >= 1 && head[pos - 1] == MARK as u8 + 1
        } else {
            pos >= 4 && head[pos - 4..pos] == (MARK as i32).to_be_bytes()
        };
        match slot {
            Some(slot) if prefix_ok && slot < fetched.records.len() => {
                found.push((pos - if flexible { 1 } else { 4 }, end, slot));
            }
            _ => anyhow::bail!("a fetch record placeholder was not where it should be"),
        }
        at = end;
    }
    let expected = fetched.records.iter().filter(|r| !r.is_empty()).count();
    if found.len() != expected {
        anyhow::bail!(
            "found {} of {expected} fetch record placeholders",
            found.len()
        );
    }
    let mut prefixes = Vec::with_capacity(found.len());
    let mut total = head.len() - 4;
    for &(start, end, slot) in &found {
        let len = fetched.records[slot].len();
        let mut prefix = BytesMut::with_capacity(5);
        if flexible {
            put_uvarint(&mut prefix, len as u64 + 1);
        } else {
            prefix.put_i32(i32::try_from(len)?);
        }
        total = total - (end - start) + prefix.len() + len;
        prefixes.push(prefix.freeze());
    }
    let mut length = BytesMut::with_capacity(4);
    length.put_i32(i32::try_from(total)?);
    let mut frame = Frame::default();
    frame.push(length.freeze());
    let mut cursor = 4;
    for (&(start, end, slot), prefix) in found.iter().zip(prefixes) {
        frame.push(head.slice(cursor..start));
        frame.push(prefix);
        for chunk in std::mem::take(&mut fetched.records[slot]).into_parts() {
            frame.push(chunk);
        }
        cursor = end;
    }
    frame.push(head.slice(cursor..));
    Ok(frame)
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// kafka-protocol keeps its varint encoder private, so the compact length prefix is written here.
fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
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

    /// The spliced Fetch frame is byte for byte what the codec writes with the records inline, at
    /// every version, for several topics and partitions, chunked, empty and failed partitions.
    #[test]
    fn fetch_splice_matches_the_codec() {
        use crate::api::fetch::Fetched;
        use crate::log::Records;
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::FetchResponse;

        let chunk =
            |n: usize, seed: u8| Bytes::from((0..n).map(|i| seed ^ i as u8).collect::<Vec<_>>());
        // Per partition: the record chunks (empty: no data) and the error code.
        let layout: Vec<Vec<(Vec<Bytes>, i16)>> = vec![
            vec![
                (vec![chunk(100, 1)], 0),
                (vec![], 0),
                (vec![chunk(16384, 2), chunk(16384, 3), chunk(70, 4)], 0),
            ],
            vec![(vec![], 1), (vec![chunk(200, 5), chunk(1, 6)], 0)],
            vec![],
        ];
        for version in 4..=16 {
            let mut fetched = Fetched::default();
            let mut inline = FetchResponse::default().with_throttle_time_ms(7);
            fetched.response = inline.clone();
            for (t, parts) in layout.iter().enumerate() {
                let mut spliced_topic = FetchableTopicResponse::default()
                    .with_topic(
                        kafka_protocol::protocol::StrBytes::from_string(format!("topic-{t}"))
                            .into(),
                    )
                    .with_topic_id(uuid::Uuid::from_u128(t as u128 + 1));
                let mut inline_topic = spliced_topic.clone();
                for (p, (chunks, error)) in parts.iter().enumerate() {
                    let data = PartitionData::default()
                        .with_partition_index(p as i32)
                        .with_error_code(*error)
                        .with_high_watermark(42)
                        .with_records(Some(Bytes::new()));
                    let joined: Vec<u8> = chunks.concat();
                    inline_topic
                        .partitions
                        .push(data.clone().with_records(Some(joined.into())));
                    spliced_topic.partitions.push(data);
                    fetched.records.push(Records::from_parts(chunks.clone()));
                }
                inline.responses.push(inline_topic);
                fetched.response.responses.push(spliced_topic);
            }
            let want =
                encode_response(ApiKey::Fetch, version, 99, &ResponseKind::Fetch(inline)).unwrap();
            let got = encode_fetch(version, 99, fetched).unwrap();
            assert_eq!(got.remaining(), want.len(), "v{version}");
            assert_eq!(got.to_bytes(), want, "v{version}");
        }
    }

    #[test]
    fn frame_is_a_buf_over_its_parts() {
        let mut f = Frame::from(Bytes::from_static(b"abc"));
        f.push(Bytes::new());
        f.push(Bytes::from_static(b"defg"));
        assert_eq!(f.remaining(), 7);
        let mut slices = [std::io::IoSlice::new(&[]); 4];
        assert_eq!(f.chunks_vectored(&mut slices), 2);
        f.advance(4);
        assert_eq!(f.chunk(), b"efg");
        assert_eq!(f.copy_to_bytes(3), Bytes::from_static(b"efg"));
        assert_eq!(f.remaining(), 0);
    }

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
