//! Response encoding: a response body becomes a length-prefixed frame, kept as a list of byte
//! strings so record bytes read from the store reach the socket without a copy.

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, ResponseHeader, ResponseKind};
use kafka_protocol::protocol::Encodable;

use super::fetch_splice::{encode_fetch, FetchBody};

/// A response body ready to encode.
#[derive(Debug)]
pub enum ResponseBody {
    Kind(ResponseKind),
    /// Fetch keeps its record bytes apart from the message so they are never copied.
    Fetch(FetchBody),
}

impl From<ResponseKind> for ResponseBody {
    fn from(kind: ResponseKind) -> ResponseBody {
        ResponseBody::Kind(kind)
    }
}

/// Encodes a response body into a whole frame, length prefix included.
pub fn encode(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: ResponseBody,
) -> anyhow::Result<Frame> {
    match body {
        ResponseBody::Kind(kind) => {
            encode_response(api, version, correlation_id, &kind).map(Frame::from)
        }
        ResponseBody::Fetch(fetch) => encode_fetch(version, correlation_id, fetch),
    }
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
    pub(super) fn push(&mut self, b: Bytes) {
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
