//! A blocking, hand-driven Kafka connection for the requests no real client would send.
//!
//! librdkafka never sends a negative frame length or a batch with a broken CRC, so the bad-input tests
//! write frames themselves. Well-formed requests are encoded with `kafka-protocol`; malformed ones are built
//! from bytes with [`request_header`] in front. Versions are negotiated with [`Versions`], from the broker's
//! own ApiVersions answer, so the tests follow whatever range the broker advertises.

use std::collections::HashMap;
use std::io::{ErrorKind, Read, Write};
use std::net::{Shutdown, SocketAddr, TcpStream};
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, FetchRequest, ProduceRequest, ResponseHeader, TopicName,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion, Request, StrBytes};
use kafka_protocol::records::{
    Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
};

pub const CLIENT_ID: &str = "sluice-compat-raw";
/// How long a request waits for its response before the test fails.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Why [`RawConn::read_frame`] returned no frame.
#[derive(Debug)]
pub enum ReadError {
    /// The broker closed the connection (EOF, or a reset because it closed with our bytes unread).
    Closed,
    /// Nothing (or only part of a frame) arrived within the read timeout.
    Timeout,
    Io(std::io::Error),
}

pub struct RawConn {
    stream: TcpStream,
    next_correlation: i32,
}

impl RawConn {
    pub fn connect(addr: SocketAddr) -> RawConn {
        let stream = TcpStream::connect(addr).unwrap_or_else(|e| panic!("connect {addr}: {e}"));
        stream.set_nodelay(true).expect("TCP_NODELAY");
        stream
            .set_read_timeout(Some(RESPONSE_TIMEOUT))
            .expect("read timeout");
        RawConn {
            stream,
            next_correlation: 1,
        }
    }

    pub fn next_correlation(&mut self) -> i32 {
        let id = self.next_correlation;
        self.next_correlation += 1;
        id
    }

    /// Writes bytes as they are, with no length prefix.
    pub fn write_raw(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.stream.write_all(bytes)
    }

    /// Writes a length-prefixed frame.
    pub fn send_frame(&mut self, frame: &[u8]) -> std::io::Result<()> {
        let mut out = Vec::with_capacity(4 + frame.len());
        out.extend_from_slice(&(frame.len() as i32).to_be_bytes());
        out.extend_from_slice(frame);
        self.stream.write_all(&out)
    }

    /// Half-closes our side, as a client that disappears mid-request does.
    pub fn shutdown_write(&mut self) {
        let _ = self.stream.shutdown(Shutdown::Write);
    }

    /// Reads one length-prefixed frame (without its length).
    pub fn read_frame(&mut self) -> Result<Bytes, ReadError> {
        let mut len = [0u8; 4];
        self.read_exact(&mut len)?;
        let len = i32::from_be_bytes(len);
        if len < 0 {
            return Err(ReadError::Io(std::io::Error::new(
                ErrorKind::InvalidData,
                format!("broker sent a negative frame length {len}"),
            )));
        }
        let mut frame = vec![0u8; len as usize];
        self.read_exact(&mut frame)?;
        Ok(Bytes::from(frame))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ReadError> {
        let mut filled = 0;
        while filled < buf.len() {
            match self.stream.read(&mut buf[filled..]) {
                Ok(0) => return Err(ReadError::Closed),
                Ok(n) => filled += n,
                Err(e) if e.kind() == ErrorKind::Interrupted => {}
                Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                    return Err(ReadError::Timeout)
                }
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
                    ) =>
                {
                    return Err(ReadError::Closed)
                }
                Err(e) => return Err(ReadError::Io(e)),
            }
        }
        Ok(())
    }

    /// Succeeds if the broker closes the connection within `within` without sending anything first.
    pub fn expect_closed(&mut self, within: Duration) -> Result<(), String> {
        self.stream
            .set_read_timeout(Some(within))
            .expect("read timeout");
        let outcome = match self.read_frame() {
            Err(ReadError::Closed) => Ok(()),
            Err(ReadError::Timeout) => Err(format!("connection still open after {within:?}")),
            Err(ReadError::Io(e)) => Err(format!("read error instead of a close: {e}")),
            Ok(frame) => Err(format!(
                "broker answered with a {}-byte frame instead of closing: {:02x?}",
                frame.len(),
                &frame[..frame.len().min(64)]
            )),
        };
        self.stream
            .set_read_timeout(Some(RESPONSE_TIMEOUT))
            .expect("read timeout");
        outcome
    }

    /// Sends `request` at `version` and returns its correlation id.
    pub fn send_request<R: Request>(&mut self, version: i16, request: &R) -> i32 {
        let correlation = self.next_correlation();
        let mut frame = request_header(R::KEY, version, R::header_version(version), correlation);
        request
            .encode(&mut frame, version)
            .unwrap_or_else(|e| panic!("encode api {} v{version}: {e}", R::KEY));
        self.send_frame(&frame).expect("send request");
        correlation
    }

    /// Reads the response to `correlation` and returns its body, after the response header.
    pub fn read_response(&mut self, correlation: i32, response_header_version: i16) -> Bytes {
        let mut frame = match self.read_frame() {
            Ok(frame) => frame,
            Err(e) => panic!("no response to correlation id {correlation}: {e:?}"),
        };
        let header = ResponseHeader::decode(&mut frame, response_header_version)
            .expect("decode response header");
        assert_eq!(
            header.correlation_id, correlation,
            "response carries another request's correlation id"
        );
        frame
    }

    /// Sends a well-formed request and decodes its response, which must use every byte of the frame.
    pub fn request<R: Request>(&mut self, version: i16, request: &R) -> R::Response {
        let correlation = self.send_request(version, request);
        let mut body = self.read_response(
            correlation,
            <R::Response as HeaderVersion>::header_version(version),
        );
        let response = R::Response::decode(&mut body, version)
            .unwrap_or_else(|e| panic!("decode api {} v{version} response: {e}", R::KEY));
        assert!(
            !body.has_remaining(),
            "api {} v{version} response has {} bytes after its last field",
            R::KEY,
            body.remaining()
        );
        response
    }
}

/// A request header (v1, or v2 with an empty tagged-field section) for any api key and version, including
/// ones `kafka-protocol` does not know.
pub fn request_header(
    api_key: i16,
    version: i16,
    header_version: i16,
    correlation: i32,
) -> BytesMut {
    let mut buf = BytesMut::new();
    buf.put_i16(api_key);
    buf.put_i16(version);
    buf.put_i32(correlation);
    if header_version >= 1 {
        buf.put_i16(CLIENT_ID.len() as i16);
        buf.put_slice(CLIENT_ID.as_bytes());
    }
    if header_version >= 2 {
        buf.put_u8(0);
    }
    buf
}

/// An unsigned varint as the flexible versions use for lengths and counts.
pub fn put_unsigned_varint(buf: &mut BytesMut, mut value: u32) {
    while value >= 0x80 {
        buf.put_u8((value as u8) | 0x80);
        value >>= 7;
    }
    buf.put_u8(value as u8);
}

/// The version ranges the broker advertises in ApiVersions v0.
#[derive(Debug, Clone)]
pub struct Versions(pub HashMap<i16, (i16, i16)>);

impl Versions {
    /// Asks the broker on a connection of its own.
    pub fn fetch(addr: SocketAddr) -> Versions {
        let mut conn = RawConn::connect(addr);
        let response = conn.request(0, &ApiVersionsRequest::default());
        assert_eq!(response.error_code, 0, "ApiVersions v0 failed");
        Versions(
            response
                .api_keys
                .iter()
                .map(|k| (k.api_key, (k.min_version, k.max_version)))
                .collect(),
        )
    }

    pub fn range(&self, key: ApiKey) -> Option<(i16, i16)> {
        self.0.get(&(key as i16)).copied()
    }

    /// The highest version the broker supports within `lo..=hi`, if any.
    pub fn highest_within(&self, key: ApiKey, lo: i16, hi: i16) -> Option<i16> {
        let (min, max) = self.range(key)?;
        let best = max.min(hi);
        (best >= min.max(lo)).then_some(best)
    }

    /// Like [`Versions::highest_within`], but panics when the broker supports none of `lo..=hi`.
    pub fn pick(&self, key: ApiKey, lo: i16, hi: i16) -> i16 {
        self.highest_within(key, lo, hi).unwrap_or_else(|| {
            panic!(
                "broker advertises {key:?} {:?}, none within v{lo}-v{hi}",
                self.range(key)
            )
        })
    }
}

pub fn str_bytes(s: &str) -> StrBytes {
    StrBytes::from_string(s.to_string())
}

/// A record as a plain (not idempotent) producer sends it: no producer id, epoch or sequence, no headers, a
/// CreateTime `timestamp`. Tests set any other field with struct update syntax (`Record { headers, ..record(..) }`).
pub fn record(offset: i64, timestamp: i64, key: Option<Bytes>, value: Option<Bytes>) -> Record {
    Record {
        transactional: false,
        control: false,
        delete_horizon: false,
        partition_leader_epoch: -1,
        producer_id: -1,
        producer_epoch: -1,
        timestamp_type: TimestampType::Creation,
        offset,
        sequence: -1,
        timestamp,
        key,
        value,
        headers: Default::default(),
    }
}

/// One v2 record batch holding all of `records`, compressed with `compression`.
pub fn encode_batch(records: &[Record], compression: Compression) -> BytesMut {
    // kafka-protocol starts a new batch wherever `offset - sequence` changes. Keeping it constant, with the
    // first record's sequence at -1 (no idempotence), puts every record in one batch.
    let first = records.first().map_or(0, |r| r.offset);
    let records: Vec<Record> = records
        .iter()
        .map(|r| Record {
            sequence: (r.offset - first) as i32 - 1,
            ..r.clone()
        })
        .collect();
    let mut buf = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression,
    };
    RecordBatchEncoder::encode(&mut buf, &records, &options).expect("encode record batch");
    buf
}

/// A Produce (acks=all) of one record set per listed partition of `topic`.
pub fn produce_request(topic: &str, partitions: Vec<(i32, Bytes)>) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(TopicName(str_bytes(topic)))
            .with_partition_data(
                partitions
                    .into_iter()
                    .map(|(index, records)| {
                        PartitionProduceData::default()
                            .with_index(index)
                            .with_records(Some(records))
                    })
                    .collect(),
            )])
}

/// Sends [`produce_request`] on a fresh connection and returns (error code, base offset) per partition.
pub fn produce(
    addr: SocketAddr,
    topic: &str,
    partitions: Vec<(i32, Bytes)>,
) -> HashMap<i32, (i16, i64)> {
    // v12 is the last version that names topics instead of using topic ids.
    let version = Versions::fetch(addr).pick(ApiKey::Produce, 3, 12);
    let response = RawConn::connect(addr).request(version, &produce_request(topic, partitions));
    assert_eq!(
        response.responses.len(),
        1,
        "one topic in the Produce response"
    );
    response.responses[0]
        .partition_responses
        .iter()
        .map(|p| (p.index, (p.error_code, p.base_offset)))
        .collect()
}

/// A sessionless Fetch of one partition from `offset`, up to 64 MiB.
pub fn fetch_request(topic: &str, partition: i32, offset: i64, max_wait_ms: i32) -> FetchRequest {
    FetchRequest::default()
        .with_max_wait_ms(max_wait_ms)
        .with_min_bytes(1)
        .with_max_bytes(64 << 20)
        .with_topics(vec![FetchTopic::default()
            .with_topic(TopicName(str_bytes(topic)))
            .with_partitions(vec![FetchPartition::default()
                .with_partition(partition)
                .with_fetch_offset(offset)
                .with_partition_max_bytes(64 << 20)])])
}

/// The Fetch version the tests use: the highest the broker supports that still names topics (v12).
pub fn fetch_version(addr: SocketAddr) -> i16 {
    Versions::fetch(addr).pick(ApiKey::Fetch, 4, 12)
}
