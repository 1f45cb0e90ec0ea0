//! Hostile and malformed input over raw TCP: the broker answers the way Kafka does (an error code, or closing
//! that one connection) and keeps serving everyone else.
//!
//! Every test ends with [`Broker::assert_healthy`]: the process is alive and a new librdkafka client on a new
//! connection can still fetch metadata. Kafka's own behaviour is the reference: framing and header errors,
//! unknown api keys, unsupported versions (except ApiVersions) and unparseable bodies close the connection;
//! bad data inside a well-formed request is reported per topic or per partition.

use std::collections::HashMap;
use std::time::Duration;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use compat_tests::raw::{
    self, encode_batch, put_unsigned_varint, request_header, str_bytes, RawConn, Versions,
};
use compat_tests::{
    consumer, create_topic, is_reference_kafka, unique_topic, wait_until, watermarks, Broker,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, ApiVersionsRequest, ApiVersionsResponse, MetadataRequest, TopicName,
};
use kafka_protocol::protocol::{Decodable, HeaderVersion};
use kafka_protocol::records::{Compression, Record, IEEE};

const MAX_REQUEST_BYTES: i32 = 1 << 20;
/// How long the broker may take to close a connection it should close.
const CLOSE_WITHIN: Duration = Duration::from_secs(5);

const CORRUPT_MESSAGE: i16 = 2;
const UNKNOWN_TOPIC_OR_PARTITION: i16 = 3;
const INVALID_TOPIC_EXCEPTION: i16 = 17;
const UNSUPPORTED_VERSION: i16 = 35;
const INVALID_RECORD: i16 = 87;

fn start() -> Broker {
    // A batch must fit in a request, so the message limit comes down with the request limit.
    Broker::start_with(&format!(
        "max_request_bytes: {MAX_REQUEST_BYTES}\nmax_message_bytes: {}\n",
        MAX_REQUEST_BYTES / 2
    ))
}

fn assert_closed(conn: &mut RawConn, case: &str) {
    if let Err(problem) = conn.expect_closed(CLOSE_WITHIN) {
        panic!("{case}: expected the broker to close the connection, but {problem}");
    }
}

#[test]
fn negative_frame_length_closes_connection() {
    let mut broker = start();
    let mut conn = RawConn::connect(broker.addr());
    conn.write_raw(&(-1i32).to_be_bytes()).expect("write");
    assert_closed(&mut conn, "frame length -1");

    let mut conn = RawConn::connect(broker.addr());
    conn.write_raw(&i32::MIN.to_be_bytes()).expect("write");
    assert_closed(&mut conn, "frame length i32::MIN");
    broker.assert_healthy();
}

#[test]
fn oversized_frame_closes_connection_without_waiting_for_the_body() {
    let mut broker = start();
    // Only the length is sent: a broker that waits for (or allocates) the body first never closes in time.
    for length in [MAX_REQUEST_BYTES + 1, i32::MAX] {
        let mut conn = RawConn::connect(broker.addr());
        conn.write_raw(&length.to_be_bytes()).expect("write");
        assert_closed(
            &mut conn,
            &format!("frame length {length} > max_request_bytes {MAX_REQUEST_BYTES}"),
        );
    }
    broker.assert_healthy();
}

#[test]
fn truncated_frame_then_client_close() {
    let mut broker = start();
    let mut conn = RawConn::connect(broker.addr());
    let mut partial = 100i32.to_be_bytes().to_vec();
    partial.extend_from_slice(&request_header(ApiKey::Metadata as i16, 1, 1, 1)[..6]);
    conn.write_raw(&partial).expect("write");
    conn.shutdown_write();
    assert_closed(&mut conn, "frame cut short by the client's close");
    broker.assert_healthy();
}

#[test]
fn unknown_api_key_closes_connection() {
    let mut broker = start();
    let mut conn = RawConn::connect(broker.addr());
    conn.send_frame(&request_header(9999, 0, 1, 1))
        .expect("send");
    assert_closed(&mut conn, "api key 9999");
    broker.assert_healthy();
}

#[test]
fn unsupported_api_versions_version_gets_v0_error_with_ranges() {
    let mut broker = start();
    let advertised = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());

    // Shaped like a newer client's first request: header v2 and a flexible (v3+) body.
    let mut frame = request_header(ApiKey::ApiVersions as i16, 127, 2, 42);
    for s in ["sluice-compat", "1.0"] {
        put_unsigned_varint(&mut frame, s.len() as u32 + 1);
        frame.put_slice(s.as_bytes());
    }
    frame.put_u8(0);
    conn.send_frame(&frame).expect("send");

    let mut response = conn
        .read_frame()
        .unwrap_or_else(|e| panic!("no answer to ApiVersions v127: {e:?}"));
    // ApiVersions responses always use response header v0: the correlation id alone.
    assert_eq!(response.get_i32(), 42, "correlation id");
    let body =
        ApiVersionsResponse::decode(&mut response, 0).expect("decode as ApiVersions v0 response");
    assert!(
        !response.has_remaining(),
        "{} bytes after the v0 body",
        response.remaining()
    );
    assert_eq!(body.error_code, UNSUPPORTED_VERSION, "error code");
    let ranges: HashMap<i16, (i16, i16)> = body
        .api_keys
        .iter()
        .map(|k| (k.api_key, (k.min_version, k.max_version)))
        .collect();
    // What a client needs to downgrade (KIP-511) is the ApiVersions range; whatever else is listed must be
    // the advertised ranges.
    for (key, range) in &ranges {
        assert_eq!(
            Some(range),
            advertised.0.get(key),
            "range of api key {key} in the error response must be the advertised one"
        );
    }
    let (min, max) = ranges[&(ApiKey::ApiVersions as i16)];
    assert!(min == 0 && max >= 3, "ApiVersions range {min}-{max}");
    if is_reference_kafka() {
        // Kafka (ApiVersionsRequest.getErrorResponse) lists the ApiVersions range alone.
        assert_eq!(ranges.len(), 1, "Kafka lists only ApiVersions: {ranges:?}");
    } else {
        // Sluice deliberately lists its whole table (compat-tests/FINDINGS.md): clients read only ApiVersions.
        assert_eq!(ranges, advertised.0, "Sluice lists every advertised range");
    }

    // A client retries on the same connection with a version from those ranges.
    let retry = conn.request(0, &ApiVersionsRequest::default());
    assert_eq!(retry.error_code, 0, "ApiVersions v0 after the downgrade");
    broker.assert_healthy();
}

#[test]
fn unsupported_version_of_other_apis_closes_connection() {
    let mut broker = start();
    let versions = Versions::fetch(broker.addr());

    let mut conn = RawConn::connect(broker.addr());
    let mut frame = request_header(ApiKey::Metadata as i16, 127, 2, 1);
    frame.put_slice(&[1, 1, 0, 0]); // empty compact topic array, two booleans, no tagged fields
    conn.send_frame(&frame).expect("send");
    assert_closed(&mut conn, "Metadata v127");

    let (produce_min, _) = versions.range(ApiKey::Produce).expect("Produce advertised");
    if produce_min > 0 {
        let version = produce_min - 1;
        let mut conn = RawConn::connect(broker.addr());
        let mut frame = request_header(ApiKey::Produce as i16, version, 1, 1);
        frame.put_i16(-1); // acks
        frame.put_i32(1000); // timeout
        frame.put_i32(0); // no topics
        conn.send_frame(&frame).expect("send");
        assert_closed(
            &mut conn,
            &format!("Produce v{version}, below the advertised minimum"),
        );
    }
    broker.assert_healthy();
}

#[test]
fn unparseable_body_closes_connection() {
    let mut broker = start();
    let version = Versions::fetch(broker.addr()).pick(ApiKey::Metadata, 0, 12);
    let mut conn = RawConn::connect(broker.addr());
    let header_version = <MetadataRequest as HeaderVersion>::header_version(version);
    let mut frame = request_header(ApiKey::Metadata as i16, version, header_version, 1);
    // 0x7f bytes read as a large topic count, then topic names longer than what is left, in every version.
    frame.put_slice(&[0x7f; 32]);
    conn.send_frame(&frame).expect("send");
    assert_closed(
        &mut conn,
        &format!("Metadata v{version} with a garbage body"),
    );
    broker.assert_healthy();
}

/// A Metadata request whose 20-byte body claims 2^31-1 (or 2^31) topics must not make the broker allocate for
/// them. Closing the connection is what Kafka does; an error response would also keep the broker safe.
#[test]
fn huge_array_count_in_tiny_request() {
    let mut broker = start();
    let versions = Versions::fetch(broker.addr());
    let mut cases = Vec::new();
    if let Some(version) = versions.highest_within(ApiKey::Metadata, 0, 8) {
        let mut body = BytesMut::new();
        body.put_i32(i32::MAX);
        body.put_slice(&[0; 16]);
        cases.push((version, body));
    }
    if let Some(version) = versions.highest_within(ApiKey::Metadata, 9, 12) {
        let mut body = BytesMut::new();
        // A compact array stores count + 1.
        put_unsigned_varint(&mut body, (1u32 << 31) + 1);
        body.put_slice(&[0; 15]);
        cases.push((version, body));
    }
    assert!(
        !cases.is_empty(),
        "broker advertises no Metadata version up to v12"
    );
    for (version, body) in cases {
        assert_eq!(body.len(), 20);
        let mut conn = RawConn::connect(broker.addr());
        let header_version = <MetadataRequest as HeaderVersion>::header_version(version);
        let mut frame = request_header(ApiKey::Metadata as i16, version, header_version, 1);
        frame.put_slice(&body);
        conn.send_frame(&frame).expect("send");
        match conn.expect_closed(CLOSE_WITHIN) {
            Ok(()) => {}
            Err(problem) => eprintln!("Metadata v{version} with a huge topic count: {problem}"),
        }
        assert!(
            broker.is_running(),
            "broker died on Metadata v{version} claiming 2^31 topics; log:\n{}",
            broker.logs()
        );
    }
    broker.assert_healthy();
}

fn record(offset: i64, value: &str) -> Record {
    raw::record(
        offset,
        1_700_000_000_000 + offset,
        None,
        Some(Bytes::copy_from_slice(value.as_bytes())),
    )
}

/// A valid, uncompressed v2 record batch.
fn batch(values: &[&str]) -> BytesMut {
    let records: Vec<Record> = values
        .iter()
        .enumerate()
        .map(|(i, v)| record(i as i64, v))
        .collect();
    encode_batch(&records, Compression::None)
}

/// A one-message v1 message set (magic 1) with a correct CRC: only its format is wrong.
fn message_set_v1(value: &[u8]) -> Bytes {
    let mut message = BytesMut::new();
    message.put_i8(1); // magic
    message.put_i8(0); // attributes: no compression, create time
    message.put_i64(1_700_000_000_000);
    message.put_i32(-1); // null key
    message.put_i32(value.len() as i32);
    message.put_slice(value);
    let mut set = BytesMut::new();
    set.put_i64(0);
    set.put_i32(4 + message.len() as i32);
    set.put_u32(IEEE.checksum(&message));
    set.put_slice(&message);
    set.freeze()
}

fn produce(
    broker: &Broker,
    topic: &str,
    partitions: Vec<(i32, Bytes)>,
) -> HashMap<i32, (i16, i64)> {
    raw::produce(broker.addr(), topic, partitions)
}

#[test]
fn produce_with_bad_crc_is_corrupt_message() {
    let mut broker = start();
    let topic = unique_topic("bad-crc");
    create_topic(&broker.bootstrap(), &topic, 2);

    let mut corrupt = batch(&["one", "two", "three"]);
    // The last byte is inside the last record, which the CRC covers.
    let last = corrupt.len() - 1;
    corrupt[last] ^= 0xff;
    let results = produce(
        &broker,
        &topic,
        vec![(0, corrupt.freeze()), (1, batch(&["fine"]).freeze())],
    );
    assert_eq!(results[&0].0, CORRUPT_MESSAGE, "partition with the bad CRC");
    assert_eq!(
        results[&1],
        (0, 0),
        "the other partition of the same request is unaffected"
    );

    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &topic, 2),
        vec![(0, 0), (0, 1)],
        "nothing of the corrupt batch appended"
    );
    // The partition is not poisoned: the next valid batch gets offset 0.
    assert_eq!(
        produce(&broker, &topic, vec![(0, batch(&["after"]).freeze())])[&0],
        (0, 0)
    );
    broker.assert_healthy();
}

#[test]
fn produce_with_magic_v1_message_set_is_invalid_record() {
    let mut broker = start();
    let topic = unique_topic("magic-v1");
    create_topic(&broker.bootstrap(), &topic, 1);

    let results = produce(&broker, &topic, vec![(0, message_set_v1(b"old format"))]);
    assert_eq!(
        results[&0].0, INVALID_RECORD,
        "magic v1 message set on Produce v3+"
    );

    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &topic, 1),
        vec![(0, 0)],
        "nothing appended"
    );
    broker.assert_healthy();
}

#[test]
fn produce_to_unknown_partition() {
    let mut broker = start();
    let topic = unique_topic("unknown-partition");
    create_topic(&broker.bootstrap(), &topic, 1);

    let results = produce(
        &broker,
        &topic,
        vec![
            (0, batch(&["real"]).freeze()),
            (7, batch(&["nowhere"]).freeze()),
            (-1, batch(&["negative"]).freeze()),
        ],
    );
    assert_eq!(results[&0], (0, 0), "existing partition");
    assert_eq!(
        results[&7].0, UNKNOWN_TOPIC_OR_PARTITION,
        "partition 7 of a 1-partition topic"
    );
    assert_eq!(results[&-1].0, UNKNOWN_TOPIC_OR_PARTITION, "partition -1");

    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(watermarks(&consumer, &topic, 1), vec![(0, 1)]);
    broker.assert_healthy();
}

#[test]
fn metadata_with_invalid_topic_names() {
    let mut broker = start();
    let version = Versions::fetch(broker.addr()).pick(ApiKey::Metadata, 1, 12);
    let long = "a".repeat(250);
    let invalid = [
        "",
        ".",
        "..",
        "has space",
        "slash/topic",
        "star*",
        long.as_str(),
    ];
    let valid = unique_topic("valid-beside-invalid");
    let names: Vec<&str> = invalid.iter().copied().chain([valid.as_str()]).collect();
    let request = MetadataRequest::default().with_topics(Some(
        names
            .iter()
            .map(|name| MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes(name)))))
            .collect(),
    ));
    let response = RawConn::connect(broker.addr()).request(version, &request);
    let errors: HashMap<String, i16> = response
        .topics
        .iter()
        .map(|t| {
            (
                t.name.as_ref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
            )
        })
        .collect();
    for name in invalid {
        assert_eq!(
            errors.get(name).copied(),
            Some(INVALID_TOPIC_EXCEPTION),
            "Metadata v{version} topic {name:?} (all answers: {errors:?})"
        );
    }
    // Auto-creation still applies to the valid name in the same request. Sluice creates the topic before it
    // answers; Kafka (KRaft) asks its controller to create it and answers UNKNOWN_TOPIC_OR_PARTITION meanwhile
    // (AutoTopicCreationManager), so there the topic must appear in a later Metadata response.
    if is_reference_kafka() {
        assert_eq!(
            errors.get(&valid).copied(),
            Some(UNKNOWN_TOPIC_OR_PARTITION),
            "Kafka: valid topic beside invalid ones, while it is created: {errors:?}"
        );
        let only_valid = MetadataRequest::default().with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(TopicName(str_bytes(&valid)))),
        ]));
        let created = wait_until(CLOSE_WITHIN, || {
            let response = RawConn::connect(broker.addr()).request(version, &only_valid);
            response.topics.iter().all(|t| t.error_code == 0)
        });
        assert!(created, "Kafka did not auto-create {valid}");
    } else {
        assert_eq!(
            errors.get(&valid).copied(),
            Some(0),
            "valid topic beside invalid ones: {errors:?}"
        );
    }
    broker.assert_healthy();
}
