//! The differential test (#14): the same requests to Sluice and to Apache Kafka 4.4.0, their decoded responses
//! compared field by field, for every API Sluice advertises at the lowest and highest version both brokers
//! support, with a success case and at least one error case each.
//!
//! It needs both brokers at once, so it runs in the reference pass (`SLUICE_TARGET=kafka`, where the harness's
//! broker is Kafka) and starts Sluice beside it from `$SLUICE_DIFF_BIN`, else `target/release/sluice`, else
//! `target/debug/sluice`. In the Sluice-only pass it prints a note and passes: there is nothing to compare with.
//!
//! Both brokers get the same setup (topics, records, groups) in the same order on a connection each. Values that
//! are cluster-specific or time-dependent are masked in the responses' `Debug` text wherever their field appears
//! ([`MASKED`]; error messages keep only whether they are null, Kafka's being free text). Every other difference
//! fails the test, unless it is a known one, listed in compat-tests/FINDINGS.md: [`KNOWN`] accepts it in exactly
//! one case and exactly its differing lines (and fails the test once it no longer shows), and a few cases rewrite
//! a field on both sides first, naming the item or the reason. A failure prints each differing case with a line
//! diff of both sides' normalised responses, and the entry that would accept it. `SLUICE_DIFF_RAW=1` adds both
//! raw responses (unmasked error messages, ids).
//!
//! Not every version has an error case: ApiVersions v0 (an unsupported version is `bad_input.rs`'s, D2) and
//! DescribeCluster v0 take no input that can be wrong.

use std::collections::{BTreeSet, HashMap};
use std::fmt::Debug;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use bytes::Bytes;
use compat_tests::raw::{encode_batch, record, str_bytes, RawConn, ReadError, Versions};
use compat_tests::{is_reference_kafka, wait_until, Broker};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Request, StrBytes};
use kafka_protocol::records::Compression;
use uuid::Uuid;

/// Fields masked to `_` wherever they appear: ids and addresses that differ between any two clusters, the clock,
/// and sizes of on-disk formats that differ by design.
const MASKED: &[&str] = &[
    "throttle_time_ms",
    "cluster_id",
    "topic_id",
    "member_id",
    "leader",
    "producer_id",
    "host",
    "port",
    "log_dir",
    "size",
    "total_bytes",
    "usable_bytes",
    "last_timestamp",
    "last_fetch_timestamp",
    "last_caught_up_timestamp",
    "current_state_timestamp",
    "log_append_time_ms",
];
/// Fields reduced to whether they are null: Kafka's error messages are free text, but a client that compares
/// them to null (kafkajs, aiokafka) sees the difference between `None` and `Some("")`.
const NULLNESS: &[&str] = &["error_message"];

/// A difference listed in compat-tests/FINDINGS.md, accepted in exactly one case: the lines (of the normalised,
/// pretty-printed responses, trimmed) that only Kafka's answer has and those that only Sluice's has. For a case
/// where one broker closes the connection, the side's one line is "connection closed" and the other's is its
/// whole answer in compact Debug text.
struct Known {
    case: &'static str,
    finding: &'static str,
    kafka: &'static [&'static str],
    sluice: &'static [&'static str],
}

const KNOWN: &[Known] = &[
    Known {
        case: "CreateTopics v7 success",
        finding: "D4",
        kafka: &["config_source: 3,"],
        sluice: &["config_source: 5,"],
    },
    Known {
        case: "CreateTopics v7 setup diff-a",
        finding: "D4",
        kafka: &["config_source: 3,"],
        sluice: &["config_source: 5,"],
    },
    Known {
        case: "CreateTopics v7 setup diff-dr",
        finding: "D4",
        kafka: &["config_source: 3,"],
        sluice: &["config_source: 5,"],
    },
    Known {
        case: "CreateTopics v7 setup diff-cp",
        finding: "D4",
        kafka: &["config_source: 3,"],
        sluice: &["config_source: 5,"],
    },
    Known {
        case: "DescribeAcls v1 error: invalid filter",
        finding: "D21",
        kafka: &["connection closed"],
        sluice: &["DescribeAclsResponse { throttle_time_ms: 0, error_code: 54, error_message: Some(\"No Authorizer is configured on the broker\"), resources: [], unknown_tagged_fields: {} }"],
    },
    Known {
        case: "DescribeAcls v3 error: invalid filter",
        finding: "D21",
        kafka: &["connection closed"],
        sluice: &["DescribeAclsResponse { throttle_time_ms: 0, error_code: 54, error_message: Some(\"No Authorizer is configured on the broker\"), resources: [], unknown_tagged_fields: {} }"],
    },
    Known {
        case: "CreateAcls v1 error: invalid resource type",
        finding: "D21",
        kafka: &["connection closed"],
        sluice: &["CreateAclsResponse { throttle_time_ms: 0, results: [AclCreationResult { error_code: 54, error_message: Some(\"No Authorizer is configured.\"), unknown_tagged_fields: {} }], unknown_tagged_fields: {} }"],
    },
    Known {
        case: "CreateAcls v3 error: invalid resource type",
        finding: "D21",
        kafka: &["connection closed"],
        sluice: &["CreateAclsResponse { throttle_time_ms: 0, results: [AclCreationResult { error_code: 54, error_message: Some(\"No Authorizer is configured.\"), unknown_tagged_fields: {} }], unknown_tagged_fields: {} }"],
    },
    Known {
        case: "DeleteAcls v1 error: invalid filter",
        finding: "D21",
        kafka: &["connection closed"],
        sluice: &["DeleteAclsResponse { throttle_time_ms: 0, filter_results: [DeleteAclsFilterResult { error_code: 54, error_message: Some(\"No Authorizer is configured.\"), matching_acls: [], unknown_tagged_fields: {} }], unknown_tagged_fields: {} }"],
    },
    Known {
        case: "DeleteAcls v3 error: invalid filter",
        finding: "D21",
        kafka: &["connection closed"],
        sluice: &["DeleteAclsResponse { throttle_time_ms: 0, filter_results: [DeleteAclsFilterResult { error_code: 54, error_message: Some(\"No Authorizer is configured.\"), matching_acls: [], unknown_tagged_fields: {} }], unknown_tagged_fields: {} }"],
    },
    Known {
        case: "DescribeShareGroupOffsets v0 error: empty group id",
        finding: "SF1",
        kafka: &["error_code: -1,", "error_message: Some(", "_", "),"],
        sluice: &["error_code: 24,", "error_message: None,"],
    },
];

const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;
/// A CreateTime far from now, so Fetch and ListOffsets answers do not depend on the clock.
const T0: i64 = 1_700_000_000_000;

fn s(v: &str) -> StrBytes {
    str_bytes(v)
}
fn tn(v: &str) -> TopicName {
    TopicName(s(v))
}
fn gid(v: &str) -> GroupId {
    GroupId(s(v))
}

/// The Sluice binary to compare with Kafka.
fn sluice_for_diff() -> Option<PathBuf> {
    if let Some(bin) = std::env::var_os("SLUICE_DIFF_BIN") {
        return Some(PathBuf::from(bin));
    }
    let target = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("compat-tests lives inside the workspace")
        .join("target");
    ["release", "debug"]
        .iter()
        .map(|profile| target.join(profile).join("sluice"))
        .find(|bin| bin.is_file())
}

/// One broker's connection and what its setup produced (topic ids, group members), which requests refer to.
struct Side {
    name: &'static str,
    addr: SocketAddr,
    conn: RawConn,
    ids: HashMap<String, Uuid>,
    members: HashMap<String, (StrBytes, i32)>,
    /// Producer id and epoch by transactional id, as each broker handed them out.
    producers: HashMap<String, (i64, i16)>,
}

impl Side {
    fn producer(&self, transactional_id: &str) -> (i64, i16) {
        *self
            .producers
            .get(transactional_id)
            .unwrap_or_else(|| panic!("{}: no producer for {transactional_id}", self.name))
    }

    fn member(&self, group: &str) -> StrBytes {
        self.members
            .get(group)
            .unwrap_or_else(|| panic!("{}: no member in {group}", self.name))
            .0
            .clone()
    }
    fn generation(&self, group: &str) -> i32 {
        self.members[group].1
    }
}

/// A rewrite of both sides' responses before they are compared, and why (a FINDINGS.md item, or a reason).
type Normalise<'a, T> = (&'static str, &'a dyn Fn(&mut T));

struct Diff {
    kafka: Side,
    sluice: Side,
    kafka_versions: Versions,
    sluice_versions: Versions,
    covered: BTreeSet<i16>,
    cases: usize,
    failures: Vec<String>,
    known_used: BTreeSet<&'static str>,
    /// The [`KNOWN`] cases that did differ as listed.
    known_cases: BTreeSet<&'static str>,
}

impl Diff {
    /// The versions to compare `key` at: the lowest and highest both brokers support.
    fn versions(&mut self, key: ApiKey) -> Vec<i16> {
        self.covered.insert(key as i16);
        let (smin, smax) = self
            .sluice_versions
            .range(key)
            .expect("Sluice advertises it");
        let Some((kmin, kmax)) = self.kafka_versions.range(key) else {
            self.failures
                .push(format!("{key:?}: Kafka does not advertise it"));
            return vec![];
        };
        let (lo, hi) = (smin.max(kmin), smax.min(kmax));
        if lo > hi {
            self.failures.push(format!(
                "{key:?}: no common version (Sluice {smin}-{smax}, Kafka {kmin}-{kmax})"
            ));
            return vec![];
        }
        if lo == hi {
            vec![lo]
        } else {
            vec![lo, hi]
        }
    }

    /// Sends the request `build` makes for each side at `version`, and compares the normalised responses.
    fn case<R>(
        &mut self,
        label: &str,
        version: i16,
        build: impl Fn(&Side) -> R,
    ) -> (Option<R::Response>, Option<R::Response>)
    where
        R: Request,
        R::Response: Debug,
    {
        self.case_known(label, version, build, None)
    }

    /// Like [`Diff::case`], with a known difference: `known.1` rewrites the field that differs, on both sides,
    /// and `known.0` names its FINDINGS.md item.
    fn case_known<R>(
        &mut self,
        label: &str,
        version: i16,
        build: impl Fn(&Side) -> R,
        known: Option<Normalise<R::Response>>,
    ) -> (Option<R::Response>, Option<R::Response>)
    where
        R: Request,
        R::Response: Debug,
    {
        let key = ApiKey::try_from(R::KEY).expect("a known api key");
        let label = format!("{key:?} v{version} {label}");
        let (kr, sr) = (build(&self.kafka), build(&self.sluice));
        let k = exchange(&mut self.kafka, version, &kr);
        let sl = exchange(&mut self.sluice, version, &sr);
        self.cases += 1;
        let (k, sl) = match (k, sl) {
            (Ok(k), Ok(sl)) => (k, sl),
            (k, sl) => {
                let outcome = |r: &Result<R::Response, String>| match r {
                    Ok(r) => format!("{r:?}"),
                    Err(e) => e.clone(),
                };
                let known = KNOWN.iter().find(|known| {
                    known.case == label
                        && known.kafka == [outcome(&k).as_str()]
                        && known.sluice == [outcome(&sl).as_str()]
                });
                if let Some(known) = known {
                    self.known_used.insert(known.finding);
                    self.known_cases.insert(known.case);
                } else if k.is_ok() || sl.is_ok() {
                    self.failures.push(format!(
                        "{label}: Kafka: {}\n  Sluice: {}",
                        outcome(&k),
                        outcome(&sl)
                    ));
                }
                return (k.ok(), sl.ok());
            }
        };
        let (kt, st) = match known {
            Some((finding, patch)) => {
                let mut k2 = decode_again::<R>(&k, version);
                let mut s2 = decode_again::<R>(&sl, version);
                patch(&mut k2);
                patch(&mut s2);
                // Seen when the rewrite is what makes the two agree.
                if normalise(&format!("{k:?}")) != normalise(&format!("{sl:?}")) {
                    self.known_used.insert(finding);
                }
                (normalise(&format!("{k2:?}")), normalise(&format!("{s2:?}")))
            }
            None => (normalise(&format!("{k:?}")), normalise(&format!("{sl:?}"))),
        };
        if kt != st {
            let (kl, sl_) = (pretty(&kt), pretty(&st));
            let (ops, text) = line_diff(&kl, &sl_);
            let removed: Vec<&str> = ops
                .iter()
                .filter(|o| o.0 == '-')
                .map(|o| o.1.trim())
                .collect();
            let added: Vec<&str> = ops
                .iter()
                .filter(|o| o.0 == '+')
                .map(|o| o.1.trim())
                .collect();
            match KNOWN.iter().find(|k| k.case == label) {
                Some(known) if known.kafka == removed && known.sluice == added => {
                    self.known_used.insert(known.finding);
                    self.known_cases.insert(known.case);
                }
                _ => {
                    let raw = if std::env::var_os("SLUICE_DIFF_RAW").is_some() {
                        format!("Kafka:  {k:?}\nSluice: {sl:?}\n")
                    } else {
                        String::new()
                    };
                    self.failures.push(format!(
                        "{label}: responses differ (- Kafka, + Sluice)\n{text}{raw}\n  as a known difference: \
                         kafka: &{removed:?}, sluice: &{added:?}\n"
                    ));
                }
            }
        }
        (Some(k), Some(sl))
    }
}

/// Sends a request and decodes its response; a broker that closes the connection instead of answering (as
/// Kafka does for some malformed requests) is an outcome too, after which the side gets a new connection.
fn exchange<R: Request>(side: &mut Side, version: i16, request: &R) -> Result<R::Response, String> {
    use kafka_protocol::protocol::{Decodable, HeaderVersion};
    let correlation = side.conn.send_request(version, request);
    let mut frame = match side.conn.read_frame() {
        Ok(frame) => frame,
        Err(ReadError::Closed) => {
            side.conn = RawConn::connect(side.addr);
            return Err("connection closed".to_string());
        }
        Err(e) => panic!(
            "{}: no response to {:?} v{version}: {e:?}",
            side.name,
            R::KEY
        ),
    };
    let header = ResponseHeader::decode(
        &mut frame,
        <R::Response as HeaderVersion>::header_version(version),
    )
    .expect("decode response header");
    assert_eq!(
        header.correlation_id, correlation,
        "{}: correlation id",
        side.name
    );
    let response = R::Response::decode(&mut frame, version).unwrap_or_else(|e| {
        panic!(
            "{}: decode {:?} v{version} response: {e}",
            side.name,
            R::KEY
        )
    });
    assert!(frame.is_empty(), "{}: bytes after the response", side.name);
    Ok(response)
}

/// Responses are re-encoded and decoded to get a copy a known-difference patch may change.
fn decode_again<R: Request>(response: &R::Response, version: i16) -> R::Response {
    use kafka_protocol::protocol::{Decodable, Encodable};
    let mut buf = bytes::BytesMut::new();
    response
        .encode(&mut buf, version)
        .expect("re-encode a response");
    R::Response::decode(&mut buf.freeze(), version).expect("decode a re-encoded response")
}

/// Masks [`MASKED`] and [`NULLNESS`] fields in compact `Debug` text.
fn normalise(debug: &str) -> String {
    let bytes = debug.as_bytes();
    let mut out = String::with_capacity(debug.len());
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'"' {
            let end = string_end(bytes, i);
            out.push_str(&debug[i..end]);
            i = end;
            continue;
        }
        let at_field = i >= 2 && (&debug[i - 2..i] == "{ " || &debug[i - 2..i] == ", ");
        if at_field {
            let name_end = debug[i..]
                .find(|ch: char| !(ch.is_ascii_alphanumeric() || ch == '_'))
                .map(|n| i + n);
            if let Some(name_end) = name_end {
                if debug[name_end..].starts_with(": ") {
                    let name = &debug[i..name_end];
                    let value_start = name_end + 2;
                    let value_end = value_end(bytes, value_start);
                    let value = &debug[value_start..value_end];
                    out.push_str(&debug[i..value_start]);
                    if MASKED.contains(&name) {
                        out.push('_');
                    } else if NULLNESS.contains(&name) {
                        out.push_str(if value.starts_with("Some") {
                            "Some(_)"
                        } else {
                            value
                        });
                    } else {
                        out.push_str(&normalise(value));
                    }
                    i = value_end;
                    continue;
                }
            }
        }
        out.push(c as char);
        i += 1;
    }
    out
}

/// The index just past the string literal (Debug-escaped, as `"…"` or `b"…"`) that starts at `start`.
fn string_end(bytes: &[u8], start: usize) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        match bytes[i] {
            b'\\' => i += 2,
            b'"' => return i + 1,
            _ => i += 1,
        }
    }
    bytes.len()
}

/// The end of a field's value: the first `,` or closing bracket at depth 0, outside strings.
fn value_end(bytes: &[u8], start: usize) -> usize {
    let mut depth = 0usize;
    let mut i = start;
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                i = string_end(bytes, i);
                continue;
            }
            b'{' | b'[' | b'(' => depth += 1,
            b'}' | b']' | b')' if depth == 0 => return i,
            b'}' | b']' | b')' => depth -= 1,
            b',' if depth == 0 => return i,
            _ => {}
        }
        i += 1;
    }
    bytes.len()
}

/// Compact Debug text broken into indented lines, one per field, for a readable diff.
fn pretty(debug: &str) -> Vec<String> {
    let bytes = debug.as_bytes();
    let mut lines = vec![];
    let mut line = String::new();
    let mut depth = 0usize;
    let mut i = 0;
    let push = |line: &mut String, depth: usize, lines: &mut Vec<String>| {
        if !line.trim().is_empty() {
            lines.push(format!("{}{}", "  ".repeat(depth), line.trim()));
        }
        line.clear();
    };
    while i < bytes.len() {
        match bytes[i] {
            b'"' => {
                let end = string_end(bytes, i);
                line.push_str(&debug[i..end]);
                i = end;
                continue;
            }
            c @ (b'{' | b'[' | b'(') => {
                line.push(c as char);
                push(&mut line, depth, &mut lines);
                depth += 1;
            }
            c @ (b'}' | b']' | b')') => {
                push(&mut line, depth, &mut lines);
                depth = depth.saturating_sub(1);
                line.push(c as char);
            }
            b',' => {
                line.push(',');
                push(&mut line, depth, &mut lines);
            }
            c => line.push(c as char),
        }
        i += 1;
    }
    push(&mut line, depth, &mut lines);
    lines
}

/// A line diff (longest common subsequence): its operations, and its text with two lines of context around
/// each change.
fn line_diff<'a>(a: &'a [String], b: &'a [String]) -> (Vec<(char, &'a String)>, String) {
    let (n, m) = (a.len(), b.len());
    let mut lcs = vec![vec![0u32; m + 1]; n + 1];
    for i in (0..n).rev() {
        for j in (0..m).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let mut ops = vec![];
    let (mut i, mut j) = (0, 0);
    while i < n || j < m {
        if i < n && j < m && a[i] == b[j] {
            ops.push((' ', &a[i]));
            i += 1;
            j += 1;
        } else if i < n && (j == m || lcs[i + 1][j] >= lcs[i][j + 1]) {
            ops.push(('-', &a[i]));
            i += 1;
        } else {
            ops.push(('+', &b[j]));
            j += 1;
        }
    }
    let near_change = |k: usize| {
        ops[k.saturating_sub(2)..(k + 3).min(ops.len())]
            .iter()
            .any(|o| o.0 != ' ')
    };
    let mut out = String::new();
    let mut skipped = false;
    for (k, (op, line)) in ops.iter().enumerate() {
        if near_change(k) {
            if skipped {
                out.push_str("   ...\n");
                skipped = false;
            }
            out.push_str(&format!(" {op} {line}\n"));
        } else {
            skipped = true;
        }
    }
    (ops, out)
}

fn create_topic(name: &str, partitions: i32) -> CreateTopicsRequest {
    CreateTopicsRequest::default()
        .with_topics(vec![create_topics_request::CreatableTopic::default()
            .with_name(tn(name))
            .with_num_partitions(partitions)
            .with_replication_factor(1)])
        .with_timeout_ms(30_000)
}

fn produce_to(topic: &str, partition: i32, records: Bytes) -> ProduceRequest {
    ProduceRequest::default()
        .with_acks(-1)
        .with_timeout_ms(5000)
        .with_topic_data(vec![produce_request::TopicProduceData::default()
            .with_name(tn(topic))
            .with_partition_data(vec![
                produce_request::PartitionProduceData::default()
                    .with_index(partition)
                    .with_records(Some(records)),
            ])])
}

fn three_records() -> Bytes {
    let records: Vec<_> = (0..3)
        .map(|i| {
            record(
                i,
                T0 + i,
                Some(Bytes::from(format!("k{i}"))),
                Some(Bytes::from(format!("v{i}"))),
            )
        })
        .collect();
    encode_batch(&records, Compression::None).freeze()
}

/// Waits until both brokers list `topic` in Metadata, and records its topic id on each side.
fn await_topic(d: &mut Diff, topic: &str) {
    for side in [&mut d.kafka, &mut d.sluice] {
        let mut conn = RawConn::connect(side.addr);
        let mut id = None;
        let listed = wait_until(Duration::from_secs(30), || {
            let r = conn.request(
                12,
                &MetadataRequest::default().with_topics(Some(vec![
                    metadata_request::MetadataRequestTopic::default().with_name(Some(tn(topic))),
                ])),
            );
            let t = &r.topics[0];
            if t.error_code == 0 && !t.partitions.is_empty() {
                id = Some(t.topic_id);
                true
            } else {
                false
            }
        });
        assert!(listed, "{}: {topic} never listed in Metadata", side.name);
        side.ids.insert(topic.to_string(), id.unwrap());
    }
}

/// Members join with 10-minute timeouts (both brokers allow up to 30): none expires during the test however slow
/// the machine, so every group's state is what the test did to it.
fn join(group: &str, member: StrBytes) -> JoinGroupRequest {
    JoinGroupRequest::default()
        .with_group_id(gid(group))
        .with_session_timeout_ms(600_000)
        .with_rebalance_timeout_ms(600_000)
        .with_member_id(member)
        .with_protocol_type(s("consumer"))
        .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
        )
        .with_name(s("range"))
        .with_metadata(Bytes::from_static(
            b"\x00\x00\x00\x00\x00\x01\x00\x06diff-a\xff\xff\xff\xff",
        ))])
}

fn sync(group: &str, side: &Side, generation: i32) -> SyncGroupRequest {
    let member = side.member(group);
    SyncGroupRequest::default()
        .with_group_id(gid(group))
        .with_generation_id(generation)
        .with_member_id(member.clone())
        .with_protocol_type(Some(s("consumer")))
        .with_protocol_name(Some(s("range")))
        .with_assignments(vec![
            sync_group_request::SyncGroupRequestAssignment::default()
                .with_member_id(member)
                .with_assignment(Bytes::from_static(b"\x00\x00\x00\x00\x00\x00\x00\x00")),
        ])
}

/// Forms a one-member group on both brokers (JoinGroup twice, as v4+ asks for a member id first), recording
/// its member id and generation per side; `and_sync` also completes the rebalance with SyncGroup.
fn form_group(d: &mut Diff, group: &str, and_sync: bool) {
    let (k, sl) = d.case(&format!("setup {group}: first join"), 9, |_| {
        join(group, StrBytes::default())
    });
    let (k, sl) = (k.expect("Kafka answers"), sl.expect("Sluice answers"));
    assert_eq!(k.error_code, 79, "MEMBER_ID_REQUIRED from Kafka");
    assert_eq!(sl.error_code, 79, "MEMBER_ID_REQUIRED from Sluice");
    d.kafka.members.insert(group.to_string(), (k.member_id, -1));
    d.sluice
        .members
        .insert(group.to_string(), (sl.member_id, -1));
    let (k, sl) = d.case(
        &format!("setup {group}: join with the member id"),
        9,
        |side| join(group, side.member(group)),
    );
    let (k, sl) = (k.expect("Kafka answers"), sl.expect("Sluice answers"));
    assert_eq!(k.error_code, 0, "Kafka's join of {group}");
    assert_eq!(sl.error_code, 0, "Sluice's join of {group}");
    d.kafka
        .members
        .insert(group.to_string(), (k.member_id, k.generation_id));
    d.sluice
        .members
        .insert(group.to_string(), (sl.member_id, sl.generation_id));
    if and_sync {
        d.case(&format!("setup {group}: sync"), 5, |side| {
            sync(group, side, side.generation(group))
        });
    }
}

fn commit(
    group: &str,
    generation: i32,
    member: StrBytes,
    topic: &str,
    offset: i64,
) -> OffsetCommitRequest {
    OffsetCommitRequest::default()
        .with_group_id(gid(group))
        .with_generation_id_or_member_epoch(generation)
        .with_member_id(member)
        .with_retention_time_ms(-1)
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(tn(topic))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(offset)
                        .with_committed_metadata(Some(s("meta"))),
                ]),
        ])
}

#[test]
fn responses_match_kafka() {
    if !is_reference_kafka() {
        println!(
            "differential: skipped, it runs in the reference pass (SLUICE_TARGET=kafka) and starts Sluice itself"
        );
        return;
    }
    let Some(sluice_bin) = sluice_for_diff() else {
        panic!("no Sluice binary to compare with Kafka: build it, or set SLUICE_DIFF_BIN");
    };
    let kafka = Broker::start();
    let sluice = Broker::start_bin(&sluice_bin);
    let side = |name, broker: &Broker| Side {
        name,
        addr: broker.addr(),
        conn: RawConn::connect(broker.addr()),
        ids: HashMap::new(),
        members: HashMap::new(),
        producers: HashMap::new(),
    };
    let mut d = Diff {
        kafka: side("Kafka", &kafka),
        sluice: side("Sluice", &sluice),
        kafka_versions: Versions::fetch(kafka.addr()),
        sluice_versions: Versions::fetch(sluice.addr()),
        covered: BTreeSet::new(),
        cases: 0,
        failures: vec![],
        known_used: BTreeSet::new(),
        known_cases: BTreeSet::new(),
    };

    run_cases(&mut d);

    // A listed difference that no longer shows was fixed (or its case changed): its entry goes, and
    // FINDINGS.md says so, rather than the list accepting it again later.
    for known in KNOWN {
        if !d.known_cases.contains(known.case) {
            d.failures.push(format!(
                "{}: listed in KNOWN ({}) but did not differ so: remove the entry, update FINDINGS.md",
                known.case, known.finding
            ));
        }
    }
    let tail = |log: String| {
        let lines: Vec<&str> = log.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    };
    let advertised: BTreeSet<i16> = d.sluice_versions.0.keys().copied().collect();
    let uncovered: Vec<_> = advertised.difference(&d.covered).collect();
    println!(
        "differential: {} cases, {} APIs; known differences seen: {:?}",
        d.cases,
        d.covered.len(),
        d.known_used
    );
    assert!(
        uncovered.is_empty(),
        "Sluice advertises APIs this test does not cover: {uncovered:?}"
    );
    assert!(
        d.failures.is_empty(),
        "{} of {} cases differ between Kafka and Sluice (fix Sluice, or list the difference in \
         compat-tests/FINDINGS.md and accept it here by name):\n\n{}\n\nKafka's log:\n{}\n\nSluice's log:\n{}",
        d.failures.len(),
        d.cases,
        d.failures.join("\n"),
        tail(kafka.logs()),
        tail(sluice.logs()),
    );
}

fn run_cases(d: &mut Diff) {
    let missing = "diff-missing";

    // --- ApiVersions: the version table itself differs (Kafka has more APIs and versions), so only the rest
    // of the answer is compared.
    for v in d.versions(ApiKey::ApiVersions) {
        let mask = |r: &mut ApiVersionsResponse| {
            r.api_keys.clear();
            r.supported_features.clear();
            r.finalized_features.clear();
            r.finalized_features_epoch = -1;
            r.zk_migration_ready = false;
        };
        d.case_known(
            "success",
            v,
            |_| {
                ApiVersionsRequest::default()
                    .with_client_software_name(s("diff"))
                    .with_client_software_version(s("1.0"))
            },
            Some(("version tables differ by design", &mask)),
        );
        if v >= 3 {
            d.case_known(
                "error: invalid client software name",
                v,
                |_| {
                    ApiVersionsRequest::default()
                        .with_client_software_name(s("bad name!"))
                        .with_client_software_version(s("1.0"))
                },
                Some(("version tables differ by design", &mask)),
            );
        }
    }

    // --- CreateTopics, and the topics everything else uses.
    let create_versions = d.versions(ApiKey::CreateTopics);
    for &v in &create_versions {
        d.case("success", v, |_| create_topic(&format!("diff-ct-{v}"), 2));
        d.case("error: already exists", v, |_| {
            create_topic(&format!("diff-ct-{v}"), 2)
        });
        d.case("error: invalid config", v, |_| {
            let mut r = create_topic(&format!("diff-ct-bad-{v}"), 1);
            r.topics[0].configs = vec![create_topics_request::CreatableTopicConfig::default()
                .with_name(s("cleanup.policy"))
                .with_value(Some(s("bogus")))];
            r
        });
        d.case("error: invalid partitions", v, |_| {
            create_topic(&format!("diff-ct-zero-{v}"), -5)
        });
    }
    for topic in ["diff-a", "diff-dr", "diff-cp"] {
        d.case(&format!("setup {topic}"), 7, |_| create_topic(topic, 1));
    }
    for topic in ["diff-a", "diff-dr", "diff-cp"] {
        await_topic(d, topic);
    }
    for &v in &create_versions {
        await_topic(d, &format!("diff-ct-{v}"));
    }

    // --- Produce.
    for v in d.versions(ApiKey::Produce) {
        d.case("success", v, |_| produce_to("diff-a", 0, three_records()));
        d.case("error: unknown partition", v, |_| {
            produce_to("diff-a", 7, three_records())
        });
        d.case("error: unknown topic", v, |_| {
            produce_to(missing, 0, three_records())
        });
        d.case("error: invalid acks", v, |_| {
            produce_to("diff-a", 0, three_records()).with_acks(2)
        });
        d.case("error: invalid topic name", v, |_| {
            produce_to("bad name!", 0, three_records())
        });
    }
    d.case("setup diff-dr", 9, |_| {
        produce_to("diff-dr", 0, three_records())
    });

    // --- Metadata.
    for v in d.versions(ApiKey::Metadata) {
        let topics = |names: &[&str]| {
            MetadataRequest::default()
                .with_topics(Some(
                    names
                        .iter()
                        .map(|n| {
                            metadata_request::MetadataRequestTopic::default().with_name(Some(tn(n)))
                        })
                        .collect(),
                ))
                .with_allow_auto_topic_creation(v < 4)
        };
        d.case("success", v, |_| topics(&["diff-a", "diff-cp"]));
        if v >= 4 {
            d.case("error: unknown topic", v, |_| topics(&[missing]));
        }
        d.case("error: invalid topic name", v, |_| topics(&["bad name!"]));
    }

    // --- Fetch.
    for v in d.versions(ApiKey::Fetch) {
        let fetch = |side: &Side, topic: &str, partition: i32, offset: i64| {
            FetchRequest::default()
                .with_max_wait_ms(0)
                .with_min_bytes(1)
                .with_max_bytes(1 << 20)
                .with_session_epoch(-1)
                .with_topics(vec![fetch_request::FetchTopic::default()
                    .with_topic(tn(topic))
                    .with_topic_id(if v >= 13 {
                        side.ids
                            .get(topic)
                            .copied()
                            .unwrap_or(Uuid::from_u128(0x1234))
                    } else {
                        Uuid::nil()
                    })
                    .with_partitions(vec![fetch_request::FetchPartition::default()
                        .with_partition(partition)
                        .with_fetch_offset(offset)
                        .with_partition_max_bytes(1 << 20)])])
        };
        d.case("success", v, |side| fetch(side, "diff-a", 0, 0));
        d.case("error: offset out of range", v, |side| {
            fetch(side, "diff-a", 0, 1000)
        });
        d.case("error: unknown partition", v, |side| {
            fetch(side, "diff-a", 7, 0)
        });
        d.case("error: unknown topic", v, |side| fetch(side, missing, 0, 0));
    }

    // --- ListOffsets.
    for v in d.versions(ApiKey::ListOffsets) {
        let list = |topic: &str, partition: i32, timestamp: i64| {
            ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_timeout_ms(5000)
                .with_topics(vec![list_offsets_request::ListOffsetsTopic::default()
                    .with_name(tn(topic))
                    .with_partitions(vec![
                        list_offsets_request::ListOffsetsPartition::default()
                            .with_partition_index(partition)
                            .with_current_leader_epoch(-1)
                            .with_timestamp(timestamp),
                    ])])
        };
        d.case("success: latest", v, |_| list("diff-a", 0, -1));
        d.case("success: earliest", v, |_| list("diff-a", 0, -2));
        d.case("success: by timestamp", v, |_| list("diff-a", 0, T0 + 1));
        d.case("error: unknown partition", v, |_| list("diff-a", 7, -1));
        d.case("error: unknown topic", v, |_| list(missing, 0, -1));
    }

    // --- OffsetForLeaderEpoch.
    for v in d.versions(ApiKey::OffsetForLeaderEpoch) {
        let req = |topic: &str, partition: i32| {
            OffsetForLeaderEpochRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_topics(vec![
                    offset_for_leader_epoch_request::OffsetForLeaderTopic::default()
                        .with_topic(tn(topic))
                        .with_partitions(vec![
                            offset_for_leader_epoch_request::OffsetForLeaderPartition::default()
                                .with_partition(partition)
                                .with_current_leader_epoch(-1)
                                .with_leader_epoch(0),
                        ]),
                ])
        };
        d.case("success", v, |_| req("diff-a", 0));
        d.case("error: unknown partition", v, |_| req("diff-a", 7));
        d.case("error: unknown topic", v, |_| req(missing, 0));
    }

    // --- DescribeTopicPartitions.
    for v in d.versions(ApiKey::DescribeTopicPartitions) {
        let req = |names: &[&str]| {
            DescribeTopicPartitionsRequest::default()
                .with_response_partition_limit(2000)
                .with_topics(
                    names
                        .iter()
                        .map(|n| {
                            describe_topic_partitions_request::TopicRequest::default()
                                .with_name(tn(n))
                        })
                        .collect(),
                )
        };
        d.case("success", v, |_| req(&["diff-a"]));
        d.case("error: unknown topic", v, |_| req(&[missing]));
    }

    // --- Configs.
    for v in d.versions(ApiKey::DescribeConfigs) {
        let req = |kind: i8, name: &str, keys: &[&str]| {
            DescribeConfigsRequest::default().with_resources(vec![
                describe_configs_request::DescribeConfigsResource::default()
                    .with_resource_type(kind)
                    .with_resource_name(s(name))
                    .with_configuration_keys(Some(keys.iter().map(|k| s(k)).collect())),
            ])
        };
        let by_name = |r: &mut DescribeConfigsResponse| {
            for result in &mut r.results {
                result.configs.sort_by(|a, b| a.name.cmp(&b.name));
            }
        };
        d.case_known(
            "success: topic",
            v,
            |_| {
                req(
                    TOPIC_RESOURCE,
                    "diff-a",
                    &["cleanup.policy", "retention.ms", "max.message.bytes"],
                )
            },
            Some(("D15", &by_name)),
        );
        d.case("error: unknown topic", v, |_| {
            req(TOPIC_RESOURCE, missing, &["retention.ms"])
        });
        d.case("error: unknown broker", v, |_| {
            req(BROKER_RESOURCE, "42", &["log.retention.ms"])
        });
    }
    for v in d.versions(ApiKey::AlterConfigs) {
        let req = |topic: &str, value: &str| {
            AlterConfigsRequest::default().with_resources(vec![
                alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(s(topic))
                    .with_configs(vec![alter_configs_request::AlterableConfig::default()
                        .with_name(s("retention.ms"))
                        .with_value(Some(s(value)))]),
            ])
        };
        d.case("success", v, |_| req("diff-a", "604800000"));
        d.case("error: invalid value", v, |_| req("diff-a", "abc"));
        d.case("error: unknown topic", v, |_| req(missing, "1000"));
    }
    for v in d.versions(ApiKey::IncrementalAlterConfigs) {
        let req = |topic: &str, name: &str, value: &str| {
            IncrementalAlterConfigsRequest::default().with_resources(vec![
                incremental_alter_configs_request::AlterConfigsResource::default()
                    .with_resource_type(TOPIC_RESOURCE)
                    .with_resource_name(s(topic))
                    .with_configs(vec![
                        incremental_alter_configs_request::AlterableConfig::default()
                            .with_name(s(name))
                            .with_config_operation(0)
                            .with_value(Some(s(value))),
                    ]),
            ])
        };
        d.case("success", v, |_| req("diff-a", "retention.ms", "604800000"));
        d.case("error: unknown config", v, |_| {
            req("diff-a", "bogus.config", "1")
        });
        d.case("error: invalid value", v, |_| {
            req("diff-a", "retention.ms", "abc")
        });
        d.case("error: unknown topic", v, |_| {
            req(missing, "retention.ms", "1000")
        });
    }

    // --- CreatePartitions, DeleteRecords.
    for v in d.versions(ApiKey::CreatePartitions) {
        let req = |topic: &str, count: i32| {
            CreatePartitionsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![
                    create_partitions_request::CreatePartitionsTopic::default()
                        .with_name(tn(topic))
                        .with_count(count)
                        .with_assignments(None),
                ])
        };
        d.case("success", v, |_| req("diff-cp", 2 + v as i32));
        d.case("error: fewer assignments than new partitions", v, |_| {
            let mut r = req("diff-cp", 5 + v as i32);
            r.topics[0].assignments = Some(vec![]);
            r
        });
        d.case("error: fewer partitions", v, |_| req("diff-cp", 1));
        d.case("error: unknown topic", v, |_| req(missing, 3));
    }
    for v in d.versions(ApiKey::DeleteRecords) {
        let req = |topic: &str, partition: i32, offset: i64| {
            DeleteRecordsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(vec![delete_records_request::DeleteRecordsTopic::default()
                    .with_name(tn(topic))
                    .with_partitions(vec![
                        delete_records_request::DeleteRecordsPartition::default()
                            .with_partition_index(partition)
                            .with_offset(offset),
                    ])])
        };
        d.case("success", v, |_| req("diff-dr", 0, 1 + v as i64 / 2));
        d.case("error: offset out of range", v, |_| req("diff-dr", 0, 100));
        d.case("error: unknown partition", v, |_| req("diff-dr", 7, 0));
    }

    // --- Cluster.
    for v in d.versions(ApiKey::DescribeCluster) {
        d.case("success", v, |_| {
            DescribeClusterRequest::default().with_endpoint_type(1)
        });
        if v >= 1 {
            d.case("error: unknown endpoint type", v, |_| {
                DescribeClusterRequest::default().with_endpoint_type(5)
            });
        }
    }
    for v in d.versions(ApiKey::DescribeLogDirs) {
        let req = |topic: &str| {
            DescribeLogDirsRequest::default().with_topics(Some(vec![
                describe_log_dirs_request::DescribableLogDirTopic::default()
                    .with_topic(tn(topic))
                    .with_partitions(vec![0]),
            ]))
        };
        d.case("success", v, |_| req("diff-a"));
        d.case("error: unknown topic", v, |_| req(missing));
    }
    for v in d.versions(ApiKey::DescribeQuorum) {
        let req = |topic: &str| {
            DescribeQuorumRequest::default().with_topics(vec![
                describe_quorum_request::TopicData::default()
                    .with_topic_name(tn(topic))
                    .with_partitions(vec![describe_quorum_request::PartitionData::default()]),
            ])
        };
        // Sluice has no metadata log: its stand-ins (FINDINGS.md, "Cluster APIs on one node") replace what
        // Kafka's grows with every metadata change, and its one listener is not Kafka's CONTROLLER listener.
        let stand_ins = |r: &mut DescribeQuorumResponse| {
            for p in r.topics.iter_mut().flat_map(|t| t.partitions.iter_mut()) {
                p.high_watermark = 0;
                for replica in p.current_voters.iter_mut().chain(p.observers.iter_mut()) {
                    replica.log_end_offset = 0;
                    replica.replica_directory_id = Uuid::nil();
                }
            }
            for node in &mut r.nodes {
                for listener in &mut node.listeners {
                    listener.name = s("_");
                }
            }
        };
        d.case_known(
            "success",
            v,
            |_| req("__cluster_metadata"),
            Some(("Cluster APIs on one node", &stand_ins)),
        );
        d.case("error: not the metadata topic", v, |_| req("diff-a"));
    }
    for v in d.versions(ApiKey::ElectLeaders) {
        let req = |topic: &str, partition: i32| {
            ElectLeadersRequest::default()
                .with_timeout_ms(30_000)
                .with_topic_partitions(Some(vec![elect_leaders_request::TopicPartitions::default(
                )
                .with_topic(tn(topic))
                .with_partitions(vec![partition])]))
        };
        d.case("success: election not needed", v, |_| req("diff-a", 0));
        d.case("error: unknown partition", v, |_| req("diff-a", 7));
    }
    for v in d.versions(ApiKey::AlterPartitionReassignments) {
        let req =
            |topic: &str, replicas: Option<Vec<i32>>| {
                AlterPartitionReassignmentsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(vec![
                        alter_partition_reassignments_request::ReassignableTopic::default()
                            .with_name(tn(topic))
                            .with_partitions(vec![
                        alter_partition_reassignments_request::ReassignablePartition::default()
                            .with_partition_index(0)
                            .with_replicas(replicas.map(|r| r.into_iter().map(BrokerId).collect())),
                    ]),
                    ])
            };
        d.case("success: to the same replica", v, |_| {
            req("diff-a", Some(vec![1]))
        });
        d.case("error: cancel none in progress", v, |_| req("diff-a", None));
        d.case("error: unknown broker", v, |_| {
            req("diff-a", Some(vec![42]))
        });
        d.case("error: unknown topic", v, |_| req(missing, Some(vec![1])));
    }
    for v in d.versions(ApiKey::ListPartitionReassignments) {
        let req = |topic: &str| {
            ListPartitionReassignmentsRequest::default()
                .with_timeout_ms(30_000)
                .with_topics(Some(vec![
                    list_partition_reassignments_request::ListPartitionReassignmentsTopics::default()
                        .with_name(tn(topic))
                        .with_partition_indexes(vec![0]),
                ]))
        };
        d.case("success", v, |_| req("diff-a"));
        d.case("error: unknown topic", v, |_| req(missing));
    }

    // --- Quotas and ACLs.
    for v in d.versions(ApiKey::AlterClientQuotas) {
        let req = |key: &str, value: f64| {
            AlterClientQuotasRequest::default().with_entries(vec![
                alter_client_quotas_request::EntryData::default()
                    .with_entity(vec![alter_client_quotas_request::EntityData::default()
                        .with_entity_type(s("client-id"))
                        .with_entity_name(Some(s("diff-client")))])
                    .with_ops(vec![alter_client_quotas_request::OpData::default()
                        .with_key(s(key))
                        .with_value(value)]),
            ])
        };
        d.case("success", v, |_| {
            req("producer_byte_rate", 1024.0 * (v + 1) as f64)
        });
        d.case("error: unknown key", v, |_| req("bogus_rate", 1.0));
        d.case("error: negative value", v, |_| {
            req("producer_byte_rate", -1.0)
        });
    }
    // Kafka's broker answers the describe a moment after the alter.
    let mut conn = RawConn::connect(d.kafka.addr);
    wait_until(Duration::from_secs(15), || {
        let r = conn.request(
            0,
            &DescribeClientQuotasRequest::default().with_components(vec![
                describe_client_quotas_request::ComponentData::default()
                    .with_entity_type(s("client-id"))
                    .with_match_type(0)
                    .with_match(Some(s("diff-client"))),
            ]),
        );
        r.entries.as_ref().is_some_and(|e| !e.is_empty())
            && r.entries.as_ref().unwrap()[0].values[0].value > 1024.0
    });
    for v in d.versions(ApiKey::DescribeClientQuotas) {
        let req = |match_type: i8, name: Option<&str>| {
            DescribeClientQuotasRequest::default().with_components(vec![
                describe_client_quotas_request::ComponentData::default()
                    .with_entity_type(s("client-id"))
                    .with_match_type(match_type)
                    .with_match(name.map(s)),
            ])
        };
        d.case("success", v, |_| req(0, Some("diff-client")));
        d.case("error: exact match without a name", v, |_| req(0, None));
    }
    for v in d.versions(ApiKey::DescribeAcls) {
        d.case("success (no authorizer)", v, |_| {
            DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1)
        });
        d.case("error: invalid filter", v, |_| {
            DescribeAclsRequest::default()
                .with_resource_type_filter(0)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1)
        });
    }
    for v in d.versions(ApiKey::CreateAcls) {
        let req = |resource_type: i8| {
            CreateAclsRequest::default().with_creations(vec![
                create_acls_request::AclCreation::default()
                    .with_resource_type(resource_type)
                    .with_resource_name(s("diff-a"))
                    .with_resource_pattern_type(3)
                    .with_principal(s("User:alice"))
                    .with_host(s("*"))
                    .with_operation(3)
                    .with_permission_type(3),
            ])
        };
        d.case("success (no authorizer)", v, |_| req(2));
        d.case("error: invalid resource type", v, |_| req(0));
    }
    for v in d.versions(ApiKey::DeleteAcls) {
        let req = |resource_type: i8| {
            DeleteAclsRequest::default().with_filters(vec![
                delete_acls_request::DeleteAclsFilter::default()
                    .with_resource_type_filter(resource_type)
                    .with_pattern_type_filter(1)
                    .with_operation(1)
                    .with_permission_type(1),
            ])
        };
        d.case("success (no authorizer)", v, |_| req(1));
        d.case("error: invalid filter", v, |_| req(0));
    }

    // --- Producers.
    for v in d.versions(ApiKey::InitProducerId) {
        d.case("success: idempotent", v, |_| {
            InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        });
        if v >= 3 {
            d.case("error: producer id without epoch", v, |_| {
                InitProducerIdRequest::default()
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(5))
                    .with_producer_epoch(-1)
            });
        }
    }
    for v in d.versions(ApiKey::DescribeProducers) {
        let req = |topic: &str, partition: i32| {
            DescribeProducersRequest::default().with_topics(vec![
                describe_producers_request::TopicRequest::default()
                    .with_name(tn(topic))
                    .with_partition_indexes(vec![partition]),
            ])
        };
        d.case("success", v, |_| req("diff-a", 0));
        d.case("error: unknown partition", v, |_| req("diff-a", 7));
        d.case("error: unknown topic", v, |_| req(missing, 0));
    }

    // --- Groups.
    for v in d.versions(ApiKey::FindCoordinator) {
        let req = |key: &str, key_type: i8| {
            let r = FindCoordinatorRequest::default().with_key_type(key_type);
            if v >= 4 {
                r.with_coordinator_keys(vec![s(key)])
            } else {
                r.with_key(s(key))
            }
        };
        d.case("success", v, |_| req("diff-g", 0));
        d.case("error: empty group id", v, |_| req("", 0));
        if v >= 1 {
            d.case("error: invalid key type", v, |_| req("diff-g", 7));
        }
    }
    for v in d.versions(ApiKey::JoinGroup) {
        let group = format!("diff-join-{v}");
        if v >= 4 {
            d.case("error: member id required", v, |_| {
                join(&group, StrBytes::default())
            });
        } else {
            d.case("success", v, |_| join(&group, StrBytes::default()));
        }
        d.case("error: invalid session timeout", v, |_| {
            join("diff-join-bad", StrBytes::default()).with_session_timeout_ms(1)
        });
        d.case("error: unknown member", v, |_| join(&group, s("nobody")));
    }
    form_group(d, "diff-join-success", false);
    for v in d.versions(ApiKey::SyncGroup) {
        let group = format!("diff-sync-{v}");
        form_group(d, &group, false);
        d.case("error: bad generation", v, |side| {
            sync(&group, side, side.generation(&group) + 5)
        });
        d.case("success", v, |side| {
            sync(&group, side, side.generation(&group))
        });
        d.case("error: unknown member", v, |side| {
            sync(&group, side, side.generation(&group)).with_member_id(s("nobody"))
        });
    }
    form_group(d, "diff-hb", true);
    for v in d.versions(ApiKey::Heartbeat) {
        let req = |side: &Side, generation_delta: i32| {
            HeartbeatRequest::default()
                .with_group_id(gid("diff-hb"))
                .with_generation_id(side.generation("diff-hb") + generation_delta)
                .with_member_id(side.member("diff-hb"))
        };
        d.case("success", v, |side| req(side, 0));
        d.case("error: bad generation", v, |side| req(side, 5));
        d.case("error: unknown member", v, |side| {
            req(side, 0).with_member_id(s("nobody"))
        });
        d.case("error: unknown group", v, |side| {
            req(side, 0).with_group_id(gid("diff-nogroup"))
        });
    }
    for v in d.versions(ApiKey::OffsetCommit) {
        d.case("success: member of a group", v, |side| {
            commit(
                "diff-hb",
                side.generation("diff-hb"),
                side.member("diff-hb"),
                "diff-a",
                2,
            )
        });
        d.case("error: bad generation", v, |side| {
            commit(
                "diff-hb",
                side.generation("diff-hb") + 5,
                side.member("diff-hb"),
                "diff-a",
                2,
            )
        });
        d.case("success: simple commit", v, |_| {
            commit("diff-simple", -1, StrBytes::default(), "diff-a", 1)
        });
        d.case("error: unknown topic", v, |_| {
            commit("diff-simple", -1, StrBytes::default(), missing, 1)
        });
    }
    for v in d.versions(ApiKey::OffsetFetch) {
        let req = |group: &str, topic: &str| {
            if v >= 8 {
                OffsetFetchRequest::default().with_groups(vec![
                    offset_fetch_request::OffsetFetchRequestGroup::default()
                        .with_group_id(gid(group))
                        .with_topics(Some(vec![
                            offset_fetch_request::OffsetFetchRequestTopics::default()
                                .with_name(tn(topic))
                                .with_partition_indexes(vec![0]),
                        ])),
                ])
            } else {
                OffsetFetchRequest::default()
                    .with_group_id(gid(group))
                    .with_topics(Some(vec![
                        offset_fetch_request::OffsetFetchRequestTopic::default()
                            .with_name(tn(topic))
                            .with_partition_indexes(vec![0]),
                    ]))
            }
        };
        d.case("success", v, |_| req("diff-simple", "diff-a"));
        d.case("success: member's group", v, |_| req("diff-hb", "diff-a"));
        d.case("not found: unknown group", v, |_| {
            req("diff-nogroup", "diff-a")
        });
        d.case("not found: unknown topic", v, |_| {
            req("diff-simple", missing)
        });
    }
    for v in d.versions(ApiKey::DescribeGroups) {
        let req = |group: &str| DescribeGroupsRequest::default().with_groups(vec![gid(group)]);
        d.case("success: stable group", v, |_| req("diff-hb"));
        d.case("success: empty group", v, |_| req("diff-simple"));
        d.case("not found: unknown group", v, |_| req("diff-nogroup"));
    }
    for v in d.versions(ApiKey::ListGroups) {
        let sorted =
            |r: &mut ListGroupsResponse| r.groups.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        d.case_known(
            "success",
            v,
            |_| ListGroupsRequest::default(),
            Some(("order is unspecified", &sorted)),
        );
        if v >= 4 {
            d.case_known(
                "success: state filter",
                v,
                |_| ListGroupsRequest::default().with_states_filter(vec![s("Empty")]),
                Some(("order is unspecified", &sorted)),
            );
            d.case("unknown state filter", v, |_| {
                ListGroupsRequest::default().with_states_filter(vec![s("Bogus")])
            });
        }
    }
    for v in d.versions(ApiKey::OffsetDelete) {
        let req = |group: &str| {
            OffsetDeleteRequest::default()
                .with_group_id(gid(group))
                .with_topics(vec![
                    offset_delete_request::OffsetDeleteRequestTopic::default()
                        .with_name(tn("diff-a"))
                        .with_partitions(vec![
                            offset_delete_request::OffsetDeleteRequestPartition::default()
                                .with_partition_index(0),
                        ]),
                ])
        };
        d.case("success", v, |_| req("diff-simple"));
        d.case("error: group subscribed", v, |_| req("diff-hb"));
        d.case("error: unknown group", v, |_| req("diff-nogroup"));
    }
    for v in d.versions(ApiKey::LeaveGroup) {
        let group = format!("diff-leave-{v}");
        form_group(d, &group, true);
        let req = |member: StrBytes| {
            if v >= 3 {
                LeaveGroupRequest::default()
                    .with_group_id(gid(&group))
                    .with_members(vec![
                        leave_group_request::MemberIdentity::default().with_member_id(member)
                    ])
            } else {
                LeaveGroupRequest::default()
                    .with_group_id(gid(&group))
                    .with_member_id(member)
            }
        };
        d.case("error: unknown member", v, |_| req(s("nobody")));
        d.case("success", v, |side| req(side.member(&group)));
    }
    for v in d.versions(ApiKey::DeleteGroups) {
        let group = format!("diff-dg-{v}");
        d.case("setup: a commit", 8, |_| {
            commit(&group, -1, StrBytes::default(), "diff-a", 1)
        });
        let req = |g: &str| DeleteGroupsRequest::default().with_groups_names(vec![gid(g)]);
        d.case("success", v, |_| req(&group));
        d.case("error: non-empty group", v, |_| req("diff-hb"));
        d.case("error: unknown group", v, |_| req("diff-nogroup"));
    }

    consumer_group_cases(d);

    // --- DeleteTopics last: the topics above are still needed until here.
    for v in d.versions(ApiKey::DeleteTopics) {
        let by_name = |name: &str| {
            if v >= 6 {
                DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_name(Some(tn(name)))])
            } else {
                DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topic_names(vec![tn(name)])
            }
        };
        let doomed = format!("diff-ct-{}", create_versions[if v >= 6 { 1 } else { 0 }]);
        d.case("success", v, |_| by_name(&doomed));
        d.case("error: unknown topic", v, |_| by_name(missing));
        if v >= 6 {
            d.case("error: unknown topic id", v, |_| {
                DeleteTopicsRequest::default()
                    .with_timeout_ms(30_000)
                    .with_topics(vec![delete_topics_request::DeleteTopicState::default()
                        .with_topic_id(Uuid::from_u128(0x1234))])
            });
        }
    }

    transaction_cases(d);
    share_group_cases(d);
    security_cases(d);
}

/// SASL and SCRAM credentials on the plaintext listener both brokers start with (#17): the SASL APIs answer
/// ILLEGAL_SASL_STATE, the credential APIs work as on any listener.
fn security_cases(d: &mut Diff) {
    for v in d.versions(ApiKey::SaslHandshake) {
        d.case("error: not a SASL listener", v, |_| {
            SaslHandshakeRequest::default().with_mechanism(s("PLAIN"))
        });
    }
    for v in d.versions(ApiKey::SaslAuthenticate) {
        d.case("error: not a SASL listener", v, |_| {
            SaslAuthenticateRequest::default().with_auth_bytes(Bytes::from_static(b"\0diff\0pw"))
        });
    }
    let user = |name: &str| {
        describe_user_scram_credentials_request::UserName::default().with_name(s(name))
    };
    for v in d.versions(ApiKey::DescribeUserScramCredentials) {
        d.case("success: every user (none)", v, |_| {
            DescribeUserScramCredentialsRequest::default().with_users(None)
        });
        d.case("error: unknown user", v, |_| {
            DescribeUserScramCredentialsRequest::default()
                .with_users(Some(vec![user("diff-nobody")]))
        });
    }
    for v in d.versions(ApiKey::AlterUserScramCredentials) {
        d.case("success: nothing to change", v, |_| {
            AlterUserScramCredentialsRequest::default()
        });
        d.case("error: too few iterations", v, |_| {
            AlterUserScramCredentialsRequest::default().with_upsertions(vec![
                alter_user_scram_credentials_request::ScramCredentialUpsertion::default()
                    .with_name(s("diff-user"))
                    .with_mechanism(1)
                    .with_iterations(100)
                    .with_salt(Bytes::from_static(b"salt"))
                    .with_salted_password(Bytes::from_static(&[7; 32])),
            ])
        });
        d.case("error: deleting an unknown credential", v, |_| {
            AlterUserScramCredentialsRequest::default().with_deletions(vec![
                alter_user_scram_credentials_request::ScramCredentialDeletion::default()
                    .with_name(s("diff-nobody"))
                    .with_mechanism(2),
            ])
        });
    }
}

/// KIP-848 consumer groups: a member joins (its member id is the client's from v1, the broker's in v0,
/// masked either way), the group is described, malformed and unknown-member heartbeats fail, and the member
/// leaves. The topic ids in assignments are masked.
fn consumer_group_cases(d: &mut Diff) {
    let join = |group: &str, member: &str| {
        ConsumerGroupHeartbeatRequest::default()
            .with_group_id(gid(group))
            .with_member_id(s(member))
            .with_member_epoch(0)
            .with_rebalance_timeout_ms(30_000)
            .with_subscribed_topic_names(Some(vec![tn("diff-a")]))
            .with_topic_partitions(Some(vec![]))
    };
    let member = "diff-cg-member-0123456789";
    let mut joined = vec![];
    for v in d.versions(ApiKey::ConsumerGroupHeartbeat) {
        let group = format!("diff-cg-{v}");
        let id = if v >= 1 { member } else { "" };
        let (k, sl) = d.case("success: join", v, |_| join(&group, id));
        let ids = |r: Option<ConsumerGroupHeartbeatResponse>| {
            r.and_then(|r| r.member_id).unwrap_or_default()
        };
        let (kid, sid) = (ids(k), ids(sl));
        d.case("error: no subscription", v, |_| {
            join(&group, "diff-other").with_subscribed_topic_names(None)
        });
        d.case("error: unknown member", v, |_| {
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(gid(&group))
                .with_member_id(s("nobody"))
                .with_member_epoch(1)
        });
        d.case("error: fenced epoch", v, |side| {
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(gid(&group))
                .with_member_id(if side.name == "Kafka" {
                    kid.clone()
                } else {
                    sid.clone()
                })
                .with_member_epoch(7)
        });
        joined.push((v, group, kid, sid));
    }
    for v in d.versions(ApiKey::ConsumerGroupDescribe) {
        let req =
            |group: &str| ConsumerGroupDescribeRequest::default().with_group_ids(vec![gid(group)]);
        if let Some((_, group, _, _)) = joined.last() {
            d.case("success", v, |_| req(group));
        }
        d.case("error: classic group", v, |_| req("diff-hb"));
        d.case("error: unknown group", v, |_| req("diff-nogroup"));
    }
    // The classic APIs on a consumer group: DescribeGroups, and ListGroups filtered by type (v5).
    if let Some((_, group, _, _)) = joined.last() {
        for v in d.versions(ApiKey::DescribeGroups) {
            d.case("consumer group", v, |_| {
                DescribeGroupsRequest::default().with_groups(vec![gid(group)])
            });
        }
        for v in d.versions(ApiKey::ListGroups) {
            if v >= 5 {
                let sorted = |r: &mut ListGroupsResponse| {
                    r.groups.sort_by(|a, b| a.group_id.cmp(&b.group_id))
                };
                d.case_known(
                    "consumer groups by type",
                    v,
                    |_| ListGroupsRequest::default().with_types_filter(vec![s("consumer")]),
                    Some(("order is unspecified", &sorted)),
                );
            }
        }
    }
    for (v, group, kid, sid) in joined {
        d.case("success: leave", v, |side| {
            ConsumerGroupHeartbeatRequest::default()
                .with_group_id(gid(&group))
                .with_member_id(if side.name == "Kafka" {
                    kid.clone()
                } else {
                    sid.clone()
                })
                .with_member_epoch(-1)
        });
    }
}

/// Creates a topic on both brokers outside the compared cases (the setup of the transaction cases).
fn create_quietly(d: &mut Diff, topic: &str) {
    for side in [&mut d.kafka, &mut d.sluice] {
        let r = RawConn::connect(side.addr).request(7, &create_topic(topic, 1));
        assert_eq!(r.topics[0].error_code, 0, "{}: creating {topic}", side.name);
    }
    await_topic(d, topic);
}

/// Initializes a transactional producer on both brokers (retrying while Kafka loads its transaction
/// coordinator) and records each side's producer id and epoch.
fn init_txn(d: &mut Diff, transactional_id: &str) {
    for side in [&mut d.kafka, &mut d.sluice] {
        let mut conn = RawConn::connect(side.addr);
        let mut got = None;
        let ready = wait_until(Duration::from_secs(60), || {
            let r = conn.request(
                4,
                &FindCoordinatorRequest::default()
                    .with_key_type(1)
                    .with_coordinator_keys(vec![s(transactional_id)]),
            );
            if r.coordinators[0].error_code != 0 {
                return false;
            }
            let r = conn.request(
                4,
                &InitProducerIdRequest::default()
                    .with_transactional_id(Some(TransactionalId(s(transactional_id))))
                    .with_transaction_timeout_ms(60_000)
                    .with_producer_id(ProducerId(-1))
                    .with_producer_epoch(-1),
            );
            if r.error_code == 0 {
                got = Some((r.producer_id.0, r.producer_epoch));
            }
            r.error_code == 0
        });
        assert!(
            ready,
            "{}: InitProducerId for {transactional_id}",
            side.name
        );
        side.producers
            .insert(transactional_id.to_string(), got.unwrap());
    }
}

fn add_partitions_v3(
    side: &Side,
    txn: &str,
    topic: &str,
    partition: i32,
) -> AddPartitionsToTxnRequest {
    let (pid, epoch) = side.producer(txn);
    AddPartitionsToTxnRequest::default()
        .with_v3_and_below_transactional_id(TransactionalId(s(txn)))
        .with_v3_and_below_producer_id(ProducerId(pid))
        .with_v3_and_below_producer_epoch(epoch)
        .with_v3_and_below_topics(vec![
            add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                .with_name(tn(topic))
                .with_partitions(vec![partition]),
        ])
}

fn add_partitions_v4(
    side: &Side,
    txn: &str,
    topic: &str,
    partition: i32,
    verify_only: bool,
) -> AddPartitionsToTxnRequest {
    let (pid, epoch) = side.producers.get(txn).copied().unwrap_or((4242, 0));
    AddPartitionsToTxnRequest::default().with_transactions(vec![
        add_partitions_to_txn_request::AddPartitionsToTxnTransaction::default()
            .with_transactional_id(TransactionalId(s(txn)))
            .with_producer_id(ProducerId(pid))
            .with_producer_epoch(epoch)
            .with_verify_only(verify_only)
            .with_topics(vec![
                add_partitions_to_txn_request::AddPartitionsToTxnTopic::default()
                    .with_name(tn(topic))
                    .with_partitions(vec![partition]),
            ]),
    ])
}

fn end_txn(side: &Side, txn: &str, commit: bool) -> EndTxnRequest {
    let (pid, epoch) = side.producer(txn);
    EndTxnRequest::default()
        .with_transactional_id(TransactionalId(s(txn)))
        .with_producer_id(ProducerId(pid))
        .with_producer_epoch(epoch)
        .with_committed(commit)
}

/// The transaction APIs (#15), each on its own transactional id so that cases do not depend on one
/// another's outcome beyond their own setup.
fn transaction_cases(d: &mut Diff) {
    let topic = "diff-txn";
    create_quietly(d, topic);
    let missing = "diff-missing";

    // Transactional InitProducerId, once Kafka's transaction coordinator is loaded (the first init waits for it).
    init_txn(d, "diff-init-ready");
    for v in d.versions(ApiKey::InitProducerId) {
        let req = |timeout: i32| {
            InitProducerIdRequest::default()
                .with_transactional_id(Some(TransactionalId(s(&format!("diff-init-{v}")))))
                .with_transaction_timeout_ms(timeout)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1)
        };
        d.case("success: transactional", v, |_| req(60_000));
        d.case("success: transactional, epoch bumped", v, |_| req(60_000));
        d.case("error: timeout above the maximum", v, |_| req(900_001));
        d.case("error: empty transactional id", v, |_| {
            req(60_000).with_transactional_id(Some(TransactionalId(s(""))))
        });
    }

    for v in d.versions(ApiKey::AddPartitionsToTxn) {
        let txn = format!("diff-apt-{v}");
        init_txn(d, &txn);
        if v < 4 {
            d.case("success", v, |side| add_partitions_v3(side, &txn, topic, 0));
            d.case("error: unknown partition", v, |side| {
                add_partitions_v3(side, &txn, missing, 0)
            });
            d.case("error: wrong epoch", v, |side| {
                let mut r = add_partitions_v3(side, &txn, topic, 0);
                r.v3_and_below_producer_epoch += 1;
                r
            });
        } else {
            d.case("success", v, |side| {
                add_partitions_v4(side, &txn, topic, 0, false)
            });
            d.case("success: verify only", v, |side| {
                add_partitions_v4(side, &txn, topic, 0, true)
            });
            d.case("error: verify only, partition not added", v, |side| {
                let mut r = add_partitions_v4(side, &txn, topic, 0, true);
                r.transactions[0].topics[0].partitions = vec![0, 7];
                r
            });
            d.case("error: unknown transactional id", v, |side| {
                add_partitions_v4(side, "diff-apt-unknown", topic, 0, false)
            });
        }
    }

    for v in d.versions(ApiKey::AddOffsetsToTxn) {
        let txn = format!("diff-aot-{v}");
        init_txn(d, &txn);
        let req = |side: &Side, epoch_delta: i16| {
            let (pid, epoch) = side.producer(&txn);
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(&txn)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch + epoch_delta)
                .with_group_id(gid("diff-txn-group"))
        };
        d.case("success", v, |side| req(side, 0));
        d.case("error: wrong epoch", v, |side| req(side, 1));
    }

    for v in d.versions(ApiKey::TxnOffsetCommit) {
        let txn = format!("diff-toc-{v}");
        let group = format!("diff-toc-group-{v}");
        init_txn(d, &txn);
        d.case("setup: add offsets", 3, |side| {
            let (pid, epoch) = side.producer(&txn);
            AddOffsetsToTxnRequest::default()
                .with_transactional_id(TransactionalId(s(&txn)))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_group_id(gid(&group))
        });
        let req = |side: &Side, generation: i32, member: &str| {
            let (pid, epoch) = side.producer(&txn);
            TxnOffsetCommitRequest::default()
                .with_transactional_id(TransactionalId(s(&txn)))
                .with_group_id(gid(&group))
                .with_producer_id(ProducerId(pid))
                .with_producer_epoch(epoch)
                .with_generation_id(generation)
                .with_member_id(s(member))
                .with_topics(vec![
                    txn_offset_commit_request::TxnOffsetCommitRequestTopic::default()
                        .with_name(tn(topic))
                        .with_partitions(vec![
                            txn_offset_commit_request::TxnOffsetCommitRequestPartition::default()
                                .with_partition_index(0)
                                .with_committed_offset(1)
                                .with_committed_leader_epoch(-1)
                                .with_committed_metadata(Some(s("m"))),
                        ]),
                ])
        };
        d.case("success", v, |side| req(side, -1, ""));
        d.case("error: unknown partition", v, |side| {
            let mut r = req(side, -1, "");
            r.topics[0].partitions[0].partition_index = 7;
            r
        });
        if v >= 3 {
            d.case("error: unknown member", v, |side| req(side, 1, "nobody"));
        }
    }

    for v in d.versions(ApiKey::EndTxn) {
        let txn = format!("diff-end-{v}");
        init_txn(d, &txn);
        d.case("error: nothing to end", v, |side| end_txn(side, &txn, true));
        d.case("setup: add a partition", 3, |side| {
            add_partitions_v3(side, &txn, topic, 0)
        });
        d.case("success: abort", v, |side| end_txn(side, &txn, false));
        d.case("error: unknown transactional id", v, |side| {
            let mut r = end_txn(side, &txn, false);
            r.transactional_id = TransactionalId(s("diff-end-unknown"));
            r
        });
    }

    for v in d.versions(ApiKey::WriteTxnMarkers) {
        let req = |partition: i32| {
            WriteTxnMarkersRequest::default().with_markers(vec![
                write_txn_markers_request::WritableTxnMarker::default()
                    .with_producer_id(ProducerId(777_000 + i64::from(v)))
                    .with_producer_epoch(0)
                    .with_transaction_result(false)
                    .with_coordinator_epoch(0)
                    .with_topics(vec![
                        write_txn_markers_request::WritableTxnMarkerTopic::default()
                            .with_name(tn(topic))
                            .with_partition_indexes(vec![partition]),
                    ]),
            ])
        };
        d.case("success", v, |_| req(0));
        d.case("error: unknown partition", v, |_| req(7));
    }

    let described = "diff-describe";
    init_txn(d, described);
    for v in d.versions(ApiKey::DescribeTransactions) {
        d.case("success", v, |_| {
            DescribeTransactionsRequest::default()
                .with_transactional_ids(vec![TransactionalId(s(described))])
        });
        d.case("error: unknown and empty ids", v, |_| {
            DescribeTransactionsRequest::default().with_transactional_ids(vec![
                TransactionalId(s("diff-describe-unknown")),
                TransactionalId(s("")),
            ])
        });
    }

    for v in d.versions(ApiKey::ListTransactions) {
        d.case("success: by producer id", v, |side| {
            ListTransactionsRequest::default()
                .with_producer_id_filters(vec![ProducerId(side.producer(described).0)])
                .with_duration_filter(-1)
        });
        d.case("error: unknown state filter", v, |side| {
            ListTransactionsRequest::default()
                .with_state_filters(vec![s("Bogus")])
                .with_producer_id_filters(vec![ProducerId(side.producer(described).0)])
                .with_duration_filter(-1)
        });
        if v >= 2 {
            d.case("success: by transactional id pattern", v, |_| {
                ListTransactionsRequest::default()
                    .with_duration_filter(-1)
                    .with_transactional_id_pattern(Some(s("diff-desc.*")))
            });
            d.case("error: invalid pattern", v, |_| {
                ListTransactionsRequest::default()
                    .with_duration_filter(-1)
                    .with_transactional_id_pattern(Some(s("diff-[")))
            });
        }
    }

    // --- Share groups' partition side (KIP-932). No ShareGroupHeartbeat assigns a partition here, so these
    // are the answers that need no membership: sessions, validation, and offsets of a group with no state.
    let share_member = "diff-share-member";
    let share_fetch = |side: &Side, epoch: i32, member: &str| {
        ShareFetchRequest::default()
            .with_group_id(Some(gid("diff-share")))
            .with_member_id(Some(s(member)))
            .with_share_session_epoch(epoch)
            .with_max_wait_ms(0)
            .with_min_bytes(1)
            .with_max_bytes(1 << 20)
            .with_max_records(10)
            .with_batch_size(10)
            .with_topics(vec![share_fetch_request::FetchTopic::default()
                .with_topic_id(side.ids["diff-a"])
                .with_partitions(vec![
                    share_fetch_request::FetchPartition::default().with_partition_index(0),
                ])])
    };
    for v in d.versions(ApiKey::ShareFetch) {
        d.case("success: open a session", v, |side| {
            share_fetch(side, 0, share_member)
        });
        d.case("success: next epoch", v, |side| {
            share_fetch(side, 1, share_member)
        });
        d.case("error: closing no session", v, |side| {
            share_fetch(side, -1, "diff-share-nobody")
        });
        d.case("error: invalid member id", v, |side| {
            share_fetch(side, 0, "")
        });
        d.case("error: no such session", v, |side| {
            share_fetch(side, 5, share_member)
        });
        d.case("error: acknowledgements opening a session", v, |side| {
            let mut r = share_fetch(side, 0, share_member);
            r.topics[0].partitions[0].acknowledgement_batches =
                vec![share_fetch_request::AcknowledgementBatch::default()
                    .with_first_offset(0)
                    .with_last_offset(0)
                    .with_acknowledge_types(vec![1])];
            r
        });
        if v >= 2 {
            // KIP-1222: a renewing request must not fetch; Kafka checks its limits before the session.
            d.case("error: renewing with fetch limits", v, |side| {
                share_fetch(side, 1, share_member)
                    .with_is_renew_ack(true)
                    .with_share_acquire_mode(1)
            });
        }
    }
    let share_ack = |epoch: i32, member: &str| {
        ShareAcknowledgeRequest::default()
            .with_group_id(Some(gid("diff-share")))
            .with_member_id(Some(s(member)))
            .with_share_session_epoch(epoch)
    };
    for v in d.versions(ApiKey::ShareAcknowledge) {
        d.case("error: epoch 0", v, |_| share_ack(0, share_member));
        d.case("error: no such session", v, |_| share_ack(1, share_member));
        d.case("error: invalid group id", v, |_| {
            share_ack(1, share_member).with_group_id(Some(gid("")))
        });
        if v >= 2 {
            d.case("error: renewing without a session", v, |_| {
                share_ack(1, share_member).with_is_renew_ack(true)
            });
        }
    }
    let describe_share = |group: &str, topic: &str| {
        DescribeShareGroupOffsetsRequest::default().with_groups(vec![
            describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestGroup::default()
                .with_group_id(gid(group))
                .with_topics(Some(vec![
                    describe_share_group_offsets_request::DescribeShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(tn(topic))
                        .with_partitions(vec![0]),
                ])),
        ])
    };
    for v in d.versions(ApiKey::DescribeShareGroupOffsets) {
        d.case("success: a group without state", v, |_| {
            describe_share("diff-share", "diff-a")
        });
        d.case("error: empty group id", v, |_| describe_share("", "diff-a"));
    }
    for v in d.versions(ApiKey::AlterShareGroupOffsets) {
        let alter = |group: &str| {
            AlterShareGroupOffsetsRequest::default()
                .with_group_id(gid(group))
                .with_topics(vec![
                    alter_share_group_offsets_request::AlterShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(tn("diff-a"))
                        .with_partitions(vec![
                            alter_share_group_offsets_request::AlterShareGroupOffsetsRequestPartition::default()
                                .with_partition_index(0)
                                .with_start_offset(1),
                        ]),
                ])
        };
        d.case("a group never seen", v, |_| alter("diff-share-none"));
        d.case("error: empty group id", v, |_| alter(""));
    }
    for v in d.versions(ApiKey::DeleteShareGroupOffsets) {
        let delete = |group: &str| {
            DeleteShareGroupOffsetsRequest::default()
                .with_group_id(gid(group))
                .with_topics(vec![
                    delete_share_group_offsets_request::DeleteShareGroupOffsetsRequestTopic::default()
                        .with_topic_name(tn("diff-a")),
                ])
        };
        d.case("a group never seen", v, |_| delete("diff-share-none"));
        d.case("error: empty group id", v, |_| delete(""));
    }
}

/// Share groups (KIP-932). The member subscribes to a topic that does not exist: Kafka assigns a
/// share partition only once its share state is initialized, after the first heartbeat, so an
/// assignment is compared only where both sides must answer an empty one.
fn share_group_cases(d: &mut Diff) {
    let group = "diff-share";
    let hb = |member: &str, epoch: i32, topics: Option<Vec<TopicName>>| {
        ShareGroupHeartbeatRequest::default()
            .with_group_id(gid(group))
            .with_member_id(s(member))
            .with_member_epoch(epoch)
            .with_subscribed_topic_names(topics)
    };
    for v in d.versions(ApiKey::ShareGroupHeartbeat) {
        d.case("success: join", v, |_| {
            hb("diff-share-member", 0, Some(vec![tn("diff-share-missing")]))
        });
        d.case("success: heartbeat", v, |_| {
            hb("diff-share-member", 2, None)
        });
        d.case("error: unknown member", v, |_| {
            hb("diff-share-stranger", 2, None)
        });
        d.case("error: fenced epoch", v, |_| {
            hb("diff-share-member", 7, None)
        });
        d.case("error: join without topics", v, |_| {
            hb("diff-share-other", 0, None)
        });
    }
    for v in d.versions(ApiKey::ShareGroupDescribe) {
        let req = |g: &str| {
            ShareGroupDescribeRequest::default()
                .with_group_ids(vec![gid(g)])
                .with_include_authorized_operations(true)
        };
        d.case("success", v, |_| req(group));
        d.case("error: unknown group", v, |_| req("diff-share-none"));
        d.case("error: a classic group", v, |_| req("diff-hb"));
    }
}
