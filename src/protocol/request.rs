//! Request parsing: a frame is checked against the version table before its body is decoded, so a
//! request we do not implement never reaches the codec, and a malformed one closes the connection
//! with a logged reason instead of reaching a handler.

use bytes::{Buf, Bytes};
use kafka_protocol::messages::{ApiKey, RequestHeader, RequestKind};
use kafka_protocol::protocol::Decodable;

use super::versions::{supported_range, VersionTable};

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
pub fn parse_frame(table: &VersionTable, mut frame: Bytes) -> Result<Parsed, FrameError> {
    // api key, api version, correlation id: what every header version starts with.
    if frame.len() < 8 {
        return Err(FrameError::TooShort(frame.len()));
    }
    let raw_key = i16::from_be_bytes([frame[0], frame[1]]);
    let version = i16::from_be_bytes([frame[2], frame[3]]);
    let correlation_id = i32::from_be_bytes([frame[4], frame[5], frame[6], frame[7]]);
    let api = ApiKey::try_from(raw_key).map_err(|_| FrameError::UnknownApiKey(raw_key))?;
    let Some((min, max)) = supported_range(table, api) else {
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::versions::VersionTable;
    use bytes::{BufMut, BytesMut};

    /// A table as the API layer gives one.
    const TABLE: &VersionTable = &[(ApiKey::Metadata, 0, 12), (ApiKey::ApiVersions, 0, 3)];

    fn frame(key: i16, version: i16, rest: &[u8]) -> Bytes {
        let mut b = BytesMut::new();
        b.put_i16(key);
        b.put_i16(version);
        b.put_i32(7);
        b.extend_from_slice(rest);
        b.freeze()
    }

    #[test]
    fn api_versions_v3_parses() {
        // client_id "x" (nullable string), empty tagged fields; body: compact strings + tags.
        let mut rest = vec![0, 1, b'x', 0];
        rest.extend_from_slice(&[2, b'k', 2, b'1', 0]);
        match parse_frame(TABLE, frame(18, 3, &rest)).unwrap() {
            Parsed::Request(r) => assert_eq!(r.api_key, ApiKey::ApiVersions),
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn unsupported_api_versions_is_recognised() {
        assert!(matches!(
            parse_frame(TABLE, frame(18, 99, &[])).unwrap(),
            Parsed::UnsupportedApiVersions { correlation_id: 7 }
        ));
    }

    #[test]
    fn bad_frames_are_refused() {
        assert!(matches!(
            parse_frame(TABLE, Bytes::from_static(&[0, 3])),
            Err(FrameError::TooShort(2))
        ));
        assert!(matches!(
            parse_frame(TABLE, frame(9999, 0, &[])),
            Err(FrameError::UnknownApiKey(9999))
        ));
        assert!(matches!(
            parse_frame(TABLE, frame(3, 99, &[])),
            Err(FrameError::UnsupportedVersion { .. })
        ));
        // Metadata v1 with a truncated body.
        assert!(matches!(
            parse_frame(TABLE, frame(3, 1, &[0, 0, 0, 0, 0xff])),
            Err(FrameError::BadBody { .. })
        ));
        // Metadata v1: no client id, null topics, then stray bytes: ignored, as Kafka does.
        assert!(matches!(
            parse_frame(TABLE, frame(3, 1, &[0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1])),
            Ok(Parsed::Request(_))
        ));
    }

    #[test]
    fn hostile_array_count_fails_without_allocating() {
        // Metadata v1, null client id, topics array claiming i32::MAX entries.
        let f = frame(3, 1, &[0xff, 0xff, 0x7f, 0xff, 0xff, 0xff, 0, 0]);
        assert!(matches!(
            parse_frame(TABLE, f),
            Err(FrameError::BadBody { .. })
        ));
    }

    /// An ApiVersions v3 body whose client software name is `len` bytes long.
    fn api_versions_with_name(len: usize) -> Bytes {
        let mut rest = vec![0, 1, b'x', 0];
        let mut n = len as u32 + 1;
        while n >= 0x80 {
            rest.push((n as u8 & 0x7f) | 0x80);
            n >>= 7;
        }
        rest.push(n as u8);
        rest.extend(std::iter::repeat_n(b'a', len));
        rest.extend_from_slice(&[2, b'1', 0]);
        frame(18, 3, &rest)
    }

    #[test]
    fn compact_strings_longer_than_kafkas_limit_are_refused() {
        // Kafka's readers refuse any string over 0x7fff bytes, though a varint length could say
        // more: a longer group id once wrapped the store's u16-prefixed offset keys.
        assert!(matches!(
            parse_frame(TABLE, api_versions_with_name(0x7fff)),
            Ok(Parsed::Request(_))
        ));
        for len in [0x8000, 70_000] {
            assert!(matches!(
                parse_frame(TABLE, api_versions_with_name(len)),
                Err(FrameError::BadBody { .. })
            ));
        }
    }
}
