//! Topic administration and the log lifecycle through librdkafka (rdkafka 0.39), end to end.
//!
//! - Admin: CreateTopics with configs and every per-topic error, DescribeConfigs (sources and defaults through
//!   rdkafka; synonyms over a raw connection, because rdkafka does not expose them), AlterConfigs,
//!   CreatePartitions, DeleteTopics by name and by id, DeleteRecords.
//! - Offsets by time: ListOffsets on CreateTime and LogAppendTime topics (`offsets_for_times`).
//! - The cleaner: retention by time and by size, compaction with tombstones, keyless records refused on
//!   compacted topics, per-topic `max.message.bytes`. Brokers run with a short `log_cleanup_interval_ms`, and
//!   every wait for the cleaner is a condition polled inside a deadline.
//! - Offset validation: a consumer keeps consuming promptly across a broker restart.
//!
//! rdkafka 0.39 has no IncrementalAlterConfigs: `python/test_admin.py` covers it with confluent-kafka.

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use compat_tests::raw::{str_bytes, RawConn, Versions};
use compat_tests::rdkafka::admin::{
    AdminOptions, AlterConfig, ConfigEntry, ConfigResource, ConfigSource, NewPartitions, NewTopic,
    ResourceSpecifier, TopicReplication,
};
use compat_tests::rdkafka::consumer::{BaseConsumer, CommitMode, Consumer};
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::message::{Message, Timestamp};
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::rdkafka::types::RDKafkaRespErr;
use compat_tests::rdkafka::{Offset, TopicPartitionList};
use compat_tests::{
    admin_client, admin_options, block_on, consumer, create_topic, is_reference_kafka, now_ms,
    producer, unique_topic, wait_for_topic, wait_for_topic_gone, wait_until, watermarks, Broker,
    Delivery, TestProducer, CLIENT_TIMEOUT,
};
use kafka_protocol::messages::alter_configs_request::{AlterConfigsResource, AlterableConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResult;
use kafka_protocol::messages::describe_log_dirs_request::DescribableLogDirTopic;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource as IncrementalResource, AlterableConfig as IncrementalConfig,
};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{
    AlterConfigsRequest, ApiKey, DeleteTopicsRequest, DescribeConfigsRequest,
    DescribeLogDirsRequest, IncrementalAlterConfigsRequest, MetadataRequest,
};

/// Broker config for the tests that wait on the cleaner: a pass every 200 ms instead of every 30 s.
const FAST_CLEANER: &str = "log_cleanup_interval_ms: 200\n";
/// Against Apache Kafka, the `segment.ms` of the topics the cleaner tests watch (see [`per_batch_segments`]).
const KAFKA_SEGMENT_MS: &str = "100";
/// How long a test waits for the cleaner to produce an outcome (many passes).
const CLEANER_DEADLINE: Duration = Duration::from_secs(20);

/// Every topic config Kafka 4.4 defines (`LogConfig`), which DescribeConfigs must list for every topic.
const KAFKA_TOPIC_CONFIGS: &[&str] = &[
    "cleanup.policy",
    "compression.gzip.level",
    "compression.lz4.level",
    "compression.type",
    "compression.zstd.level",
    "delete.retention.ms",
    "errors.deadletterqueue.group.enable",
    "file.delete.delay.ms",
    "flush.messages",
    "flush.ms",
    "follower.replication.throttled.replicas",
    "index.interval.bytes",
    "leader.replication.throttled.replicas",
    "local.retention.bytes",
    "local.retention.ms",
    "max.compaction.lag.ms",
    "max.decompressed.message.bytes",
    "max.message.bytes",
    "message.timestamp.after.max.ms",
    "message.timestamp.before.max.ms",
    "message.timestamp.type",
    "min.cleanable.dirty.ratio",
    "min.compaction.lag.ms",
    "min.insync.replicas",
    "preallocate",
    "remote.copy.lag.bytes",
    "remote.copy.lag.ms",
    "remote.log.copy.disable",
    "remote.log.delete.on.disable",
    "remote.storage.enable",
    "retention.bytes",
    "retention.ms",
    "segment.bytes",
    "segment.index.bytes",
    "segment.jitter.ms",
    "segment.ms",
    "unclean.leader.election.enable",
];

// ---------------------------------------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------------------------------------

/// CreateTopics for one topic: `None` when it was created (or would be, with `validate_only`).
fn create(broker: &Broker, topic: &NewTopic<'_>, opts: &AdminOptions) -> Option<RDKafkaErrorCode> {
    let results = block_on(admin_client(&broker.bootstrap()).create_topics([topic], opts))
        .unwrap_or_else(|e| panic!("CreateTopics {}: {e}", topic.name));
    assert_eq!(results.len(), 1, "one result per topic");
    results
        .into_iter()
        .next()
        .expect("one")
        .err()
        .map(|(_, code)| code)
}

fn new_topic<'a>(name: &'a str, partitions: i32, configs: &[(&'a str, &'a str)]) -> NewTopic<'a> {
    configs.iter().fold(
        NewTopic::new(name, partitions, TopicReplication::Fixed(1)),
        |t, (k, v)| t.set(k, v),
    )
}

/// Creates a topic with configs, panics on any error, and returns once Metadata lists it.
fn create_with(broker: &Broker, name: &str, partitions: i32, configs: &[(&str, &str)]) {
    if let Some(code) = create(
        broker,
        &new_topic(name, partitions, configs),
        &admin_options(),
    ) {
        panic!("CreateTopics {name} {configs:?}: {code:?}");
    }
    wait_for_topic(&broker.bootstrap(), name);
}

/// Sluice retains and compacts per batch, never touches a partition's last batch, and compacts whatever a pass
/// finds; Kafka does both per segment, never touches the active segment (1 GiB by default), and compacts only
/// once the uncompacted part is `min.cleanable.dirty.ratio` (0.5) of the log. So against Kafka the topics the
/// cleaner tests watch also get a short `segment.ms`, with [`next_segment`] before each batch, so that Kafka
/// rolls a segment per batch (it rolls when a batch's timestamp is `segment.ms` past the segment's first
/// batch), and a dirty ratio low enough to compact after every roll: both brokers then drop and keep the same
/// records. Sluice's topics are created exactly as before.
fn per_batch_segments<'a>(configs: &[(&'a str, &'a str)]) -> Vec<(&'a str, &'a str)> {
    let mut configs = configs.to_vec();
    if is_reference_kafka() {
        configs.push(("segment.ms", KAFKA_SEGMENT_MS));
        configs.push(("min.cleanable.dirty.ratio", "0.01"));
    }
    configs
}

/// Against Kafka, waits until a batch stamped now starts a new segment of a [`per_batch_segments`] topic.
fn next_segment() {
    if is_reference_kafka() {
        let segment_ms: u64 = KAFKA_SEGMENT_MS.parse().expect("a number");
        thread::sleep(Duration::from_millis(segment_ms + 20));
    }
}

/// The topic's configs as rdkafka's DescribeConfigs reports them.
fn topic_configs(broker: &Broker, topic: &str) -> ConfigResource {
    let results = block_on(
        admin_client(&broker.bootstrap())
            .describe_configs([&ResourceSpecifier::Topic(topic)], &admin_options()),
    )
    .unwrap_or_else(|e| panic!("DescribeConfigs {topic}: {e}"));
    let resource = results
        .into_iter()
        .next()
        .expect("one resource")
        .unwrap_or_else(|code| panic!("DescribeConfigs {topic}: {code:?}"));
    assert!(
        !resource.entries.is_empty(),
        "DescribeConfigs {topic} returned no entries (rdkafka hides a per-resource error this way)"
    );
    resource
}

fn entry<'a>(resource: &'a ConfigResource, name: &str) -> &'a ConfigEntry {
    resource
        .get(name)
        .unwrap_or_else(|| panic!("{name} not described; got {:?}", names(resource)))
}

fn names(resource: &ConfigResource) -> Vec<&str> {
    resource.entries.iter().map(|e| e.name.as_str()).collect()
}

/// `(value, source, is_default)` of one described config.
fn described(resource: &ConfigResource, name: &str) -> (Option<String>, ConfigSourceName, bool) {
    let e = entry(resource, name);
    (e.value.clone(), source_name(&e.source), e.is_default)
}

/// rdkafka's `ConfigSource` is not `Clone`; tests compare these names instead.
type ConfigSourceName = &'static str;

fn source_name(source: &ConfigSource) -> ConfigSourceName {
    match source {
        ConfigSource::Unknown => "UNKNOWN",
        ConfigSource::DynamicTopic => "DYNAMIC_TOPIC_CONFIG",
        ConfigSource::DynamicBroker => "DYNAMIC_BROKER_CONFIG",
        ConfigSource::DynamicDefaultBroker => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        ConfigSource::StaticBroker => "STATIC_BROKER_CONFIG",
        ConfigSource::Default => "DEFAULT_CONFIG",
    }
}

/// AlterConfigs (the non-incremental one: the given set replaces every override) for one topic through
/// rdkafka, which reports no per-resource error (0.39 ignores them): use it to apply valid changes, and
/// [`raw_alter`] to see errors.
fn alter(broker: &Broker, topic: &str, set: &[(&str, &str)]) {
    let config = set.iter().fold(
        AlterConfig::new(ResourceSpecifier::Topic(topic)),
        |c, (k, v)| c.set(k, v),
    );
    let results =
        block_on(admin_client(&broker.bootstrap()).alter_configs([&config], &admin_options()))
            .unwrap_or_else(|e| panic!("AlterConfigs {topic}: {e}"));
    assert_eq!(results.len(), 1, "one result per resource");
}

/// AlterConfigs for one topic over a raw connection; returns the resource's error code (0 on success).
fn raw_alter(broker: &Broker, topic: &str, set: &[(&str, &str)], validate_only: bool) -> i16 {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::AlterConfigs, 0, 2);
    let request = AlterConfigsRequest::default()
        .with_validate_only(validate_only)
        .with_resources(vec![AlterConfigsResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes(topic))
            .with_configs(
                set.iter()
                    .map(|(k, v)| {
                        AlterableConfig::default()
                            .with_name(str_bytes(k))
                            .with_value(Some(str_bytes(v)))
                    })
                    .collect(),
            )]);
    let response = RawConn::connect(broker.addr()).request(version, &request);
    assert_eq!(response.responses.len(), 1, "one result per resource");
    response.responses[0].error_code
}

/// A Kafka error code as the raw responses carry it.
fn code(err: RDKafkaRespErr) -> i16 {
    err as i16
}

/// DescribeConfigs with synonyms over a raw connection, at the highest version the broker offers (1-4).
fn raw_describe_configs(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    keys: Option<&[&str]>,
) -> DescribeConfigsResult {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::DescribeConfigs, 1, 4);
    let request = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(str_bytes(name))
            .with_configuration_keys(
                keys.map(|ks| ks.iter().map(|k| str_bytes(k)).collect()),
            )]);
    let mut response = RawConn::connect(broker.addr()).request(version, &request);
    assert_eq!(response.results.len(), 1, "one result per resource");
    response.results.remove(0)
}

/// `(name, value, source code)` of every synonym of one config in a raw DescribeConfigs answer.
fn synonyms(result: &DescribeConfigsResult, config: &str) -> Vec<(String, Option<String>, i8)> {
    result
        .configs
        .iter()
        .find(|c| c.name.as_str() == config)
        .unwrap_or_else(|| panic!("{config} not described"))
        .synonyms
        .iter()
        .map(|s| {
            (
                s.name.to_string(),
                s.value.as_ref().map(|v| v.to_string()),
                s.source,
            )
        })
        .collect()
}

fn syn(name: &str, value: &str, source: i8) -> (String, Option<String>, i8) {
    (name.to_string(), Some(value.to_string()), source)
}

/// One record to send: key, value, and an explicit CreateTime (`None` lets librdkafka stamp it).
type Rec<'a> = (Option<&'a str>, Option<&'a str>, Option<i64>);

/// Sends `records` to one partition, flushes, and returns their delivery reports in send order (failed
/// deliveries included: check `error`).
fn send(
    producer: &TestProducer,
    topic: &str,
    partition: i32,
    records: &[Rec<'_>],
) -> Vec<Delivery> {
    let first = producer.context().reports().len();
    for (i, (key, value, ts)) in records.iter().enumerate() {
        let mut record =
            BaseRecord::<str, str, usize>::with_opaque_to(topic, first + i).partition(partition);
        if let Some(key) = key {
            record = record.key(*key);
        }
        if let Some(value) = value {
            record = record.payload(*value);
        }
        if let Some(ts) = ts {
            record = record.timestamp(*ts);
        }
        producer
            .send(record)
            .map_err(|(e, _)| e)
            .unwrap_or_else(|e| panic!("enqueue record {i} for {topic}: {e}"));
    }
    producer.flush(Duration::from_secs(30)).expect("flush");
    let mut reports: Vec<Delivery> = producer
        .context()
        .reports()
        .into_iter()
        .filter(|r| r.id >= first)
        .collect();
    reports.sort_by_key(|r| r.id);
    assert_eq!(
        reports.len(),
        records.len(),
        "one delivery report per record"
    );
    reports
}

/// Like [`send`], but panics unless every record was delivered; returns the offsets.
fn send_ok(producer: &TestProducer, topic: &str, partition: i32, records: &[Rec<'_>]) -> Vec<i64> {
    send(producer, topic, partition, records)
        .into_iter()
        .map(|d| {
            assert!(
                d.error.is_none(),
                "delivery to {topic}/{partition} failed: {d:?}"
            );
            d.offset
        })
        .collect()
}

/// `n` keyed records with the same CreateTime, as one batch once flushed.
fn batch_at(n: usize, ts: i64) -> Vec<Rec<'static>> {
    (0..n).map(|_| (Some("k"), Some("v"), Some(ts))).collect()
}

/// The error the producer reports for one record on its own.
fn send_error(producer: &TestProducer, topic: &str, record: Rec<'_>) -> Option<RDKafkaErrorCode> {
    send(producer, topic, 0, &[record])
        .remove(0)
        .error
        .map(|e| {
            e.rdkafka_error_code()
                .unwrap_or_else(|| panic!("no error code in {e}"))
        })
}

/// A consumed record, with key and value as text.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Read {
    offset: i64,
    key: Option<String>,
    value: Option<String>,
    timestamp: Timestamp,
}

fn text(bytes: Option<&[u8]>) -> Option<String> {
    bytes.map(|b| String::from_utf8_lossy(b).into_owned())
}

/// Every record of one partition, from its first offset to its high watermark, as a fresh consumer reads it.
fn read_all(bootstrap: &str, topic: &str, partition: i32) -> Vec<Read> {
    let consumer = consumer(bootstrap, &[]);
    let (_, high) = consumer
        .fetch_watermarks(topic, partition, CLIENT_TIMEOUT)
        .unwrap_or_else(|e| panic!("ListOffsets {topic}/{partition}: {e}"));
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, partition, Offset::Beginning)
        .expect("add partition");
    consumer.assign(&assignment).expect("assign");
    let mut out: Vec<Read> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while out.last().is_none_or(|r| r.offset < high - 1) {
        if Instant::now() >= deadline {
            // An empty partition (high == log start) never delivers anything.
            if out.is_empty()
                && watermarks(&consumer, topic, partition + 1)[partition as usize].0 == high
            {
                return out;
            }
            panic!(
                "{topic}/{partition}: read {} records, the last {:?}, high watermark {high}",
                out.len(),
                out.last()
            );
        }
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => out.push(Read {
                offset: m.offset(),
                key: text(m.key()),
                value: text(m.payload()),
                timestamp: m.timestamp(),
            }),
            Some(Err(e)) => panic!("consuming {topic}/{partition}: {e}"),
            None => {}
        }
    }
    out
}

/// `(offset, key, value)` of each record, for comparisons that ignore timestamps.
fn kv(records: &[Read]) -> Vec<(i64, Option<String>, Option<String>)> {
    records
        .iter()
        .map(|r| (r.offset, r.key.clone(), r.value.clone()))
        .collect()
}

/// A consumer of one partition positioned at `offset`, with `auto.offset.reset` = `reset`.
fn consumer_at(bootstrap: &str, topic: &str, offset: i64, reset: &str) -> BaseConsumer {
    let consumer = consumer(bootstrap, &[("auto.offset.reset", reset)]);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(topic, 0, Offset::Offset(offset))
        .expect("add partition");
    consumer.assign(&assignment).expect("assign");
    consumer
}

/// The first message the consumer delivers, or the first error, within `timeout`.
fn first_event(consumer: &BaseConsumer, timeout: Duration) -> Option<Result<i64, KafkaError>> {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => return Some(Ok(m.offset())),
            Some(Err(e)) => return Some(Err(e)),
            None => {}
        }
    }
    None
}

/// Asserts a consumer positioned below the log start is reset per `auto.offset.reset`: `earliest` goes to
/// the log start, `latest` to the end (it sees only what is produced after), `error` reports the reset.
fn assert_resets(broker: &Broker, topic: &str, stale: i64, log_start: i64) {
    let bootstrap = broker.bootstrap();
    let earliest = consumer_at(&bootstrap, topic, stale, "earliest");
    match first_event(&earliest, Duration::from_secs(15)) {
        Some(Ok(offset)) => assert_eq!(offset, log_start, "earliest reset from offset {stale}"),
        other => panic!(
            "earliest consumer at {stale}: {other:?}; broker log:\n{}",
            broker.logs()
        ),
    }

    let failing = consumer_at(&bootstrap, topic, stale, "error");
    match first_event(&failing, Duration::from_secs(15)) {
        Some(Err(e)) => assert_eq!(
            e.rdkafka_error_code(),
            Some(RDKafkaErrorCode::AutoOffsetReset),
            "auto.offset.reset=error at {stale}: {e}"
        ),
        other => panic!("auto.offset.reset=error consumer at {stale}: {other:?}"),
    }

    let (_, end) = watermarks(&earliest, topic, 1)[0];
    let latest = consumer_at(&bootstrap, topic, stale, "latest");
    let producer = producer(&bootstrap, &[]);
    // The reset lands on whatever the end is when it happens: keep producing until something arrives.
    let deadline = Instant::now() + Duration::from_secs(15);
    let first = loop {
        assert!(
            Instant::now() < deadline,
            "latest consumer at {stale} received nothing"
        );
        send_ok(&producer, topic, 0, &[(Some("late"), Some("late"), None)]);
        if let Some(event) = first_event(&latest, Duration::from_millis(500)) {
            break event.unwrap_or_else(|e| panic!("latest consumer at {stale}: {e}"));
        }
    };
    assert!(
        first >= end,
        "latest reset from {stale} delivered offset {first}, end was {end}"
    );
}

/// Partition sizes of `topic` from DescribeLogDirs (raw: librdkafka has no DescribeLogDirs).
fn log_dir_sizes(broker: &Broker, topic: &str) -> BTreeMap<i32, i64> {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::DescribeLogDirs, 1, 4);
    let request =
        DescribeLogDirsRequest::default()
            .with_topics(Some(vec![DescribableLogDirTopic::default()
                .with_topic(str_bytes(topic).into())
                .with_partitions(vec![0])]));
    let response = RawConn::connect(broker.addr()).request(version, &request);
    assert_eq!(response.error_code, 0, "DescribeLogDirs");
    response
        .results
        .iter()
        .flat_map(|r| r.topics.iter())
        .filter(|t| t.name.as_str() == topic)
        .flat_map(|t| t.partitions.iter())
        .map(|p| (p.partition_index, p.partition_size))
        .collect()
}

/// One topic as Metadata v10+ describes it, with its id (raw: rdkafka does not expose topic ids).
fn metadata_topic(broker: &Broker, topic: &str) -> MetadataResponseTopic {
    let version = Versions::fetch(broker.addr()).pick(ApiKey::Metadata, 10, 12);
    let request = MetadataRequest::default()
        .with_topics(Some(vec![
            MetadataRequestTopic::default().with_name(Some(str_bytes(topic).into()))
        ]))
        .with_allow_auto_topic_creation(false);
    let mut response = RawConn::connect(broker.addr()).request(version, &request);
    assert_eq!(response.topics.len(), 1, "one topic asked, one described");
    response.topics.remove(0)
}

/// A TCP forwarder on a fixed local port, so a client keeps one bootstrap address while the broker behind it
/// restarts on another port (the harness's `restart` may pick a new one). The broker advertises the
/// forwarder's address, so every connection a client makes goes through it.
struct Forwarder {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
}

impl Forwarder {
    fn start() -> Forwarder {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind forwarder");
        let addr = listener.local_addr().expect("forwarder address");
        // Nothing listens here until `retarget`: connections made before then are closed at once.
        let target = Arc::new(Mutex::new(addr));
        let to = Arc::clone(&target);
        thread::spawn(move || {
            for client in listener.incoming() {
                let Ok(client) = client else { continue };
                let upstream = *to.lock().expect("target lock");
                match TcpStream::connect(upstream) {
                    Ok(server) if upstream != addr => splice(client, server),
                    _ => {
                        let _ = client.shutdown(Shutdown::Both);
                    }
                }
            }
        });
        Forwarder { addr, target }
    }

    fn retarget(&self, to: SocketAddr) {
        *self.target.lock().expect("target lock") = to;
    }
}

/// Copies bytes both ways; when either side closes, both connections are shut down, so a broker that goes
/// away looks to the client like a broker that went away.
fn splice(client: TcpStream, server: TcpStream) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let pairs = [
        (
            client.try_clone().expect("clone client"),
            server.try_clone().expect("clone server"),
        ),
        (server, client),
    ];
    for (mut from, mut to) in pairs {
        thread::spawn(move || {
            if let Err(e) = std::io::copy(&mut from, &mut to) {
                if !matches!(
                    e.kind(),
                    ErrorKind::ConnectionReset | ErrorKind::BrokenPipe | ErrorKind::NotConnected
                ) {
                    eprintln!("forwarder: {e}");
                }
            }
            let _ = from.shutdown(Shutdown::Both);
            let _ = to.shutdown(Shutdown::Both);
        });
    }
}

// ---------------------------------------------------------------------------------------------------------
// CreateTopics and DescribeConfigs
// ---------------------------------------------------------------------------------------------------------

/// A topic created with configs: DescribeConfigs lists every Kafka 4.x topic config, the overrides as
/// DYNAMIC_TOPIC_CONFIG, untouched ones as defaults, and a broker-file setting as STATIC_BROKER_CONFIG; the
/// synonyms follow Kafka's order (topic override, static broker config, broker default).
/// MirrorMaker 2 syncs topic configs by deleting, in one IncrementalAlterConfigs, every config
/// that has its default on the source: every name Kafka knows must be accepted (#14 item 18: four
/// names Kafka 4.4 added made Sluice refuse the whole resource).
#[test]
fn deleting_every_kafka_topic_config_at_once_is_accepted() {
    let broker = Broker::start();
    let topic = unique_topic("mm2-sync");
    create_with(&broker, &topic, 1, &[("retention.ms", "3600000")]);
    let versions = Versions::fetch(broker.addr());
    let version = versions.pick(ApiKey::IncrementalAlterConfigs, 0, 1);
    let request = IncrementalAlterConfigsRequest::default().with_resources(vec![
        IncrementalResource::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes(&topic))
            .with_configs(
                KAFKA_TOPIC_CONFIGS
                    .iter()
                    .map(|name| {
                        IncrementalConfig::default()
                            .with_name(str_bytes(name))
                            .with_config_operation(1)
                            .with_value(None)
                    })
                    .collect(),
            ),
    ]);
    let r = RawConn::connect(broker.addr()).request(version, &request);
    let res = &r.responses[0];
    assert_eq!(
        (res.error_code, res.error_message.as_deref()),
        (0, None),
        "IncrementalAlterConfigs v{version} deleting all {} topic configs",
        KAFKA_TOPIC_CONFIGS.len()
    );
    let resource = topic_configs(&broker, &topic);
    assert_eq!(
        described(&resource, "retention.ms").1,
        "DEFAULT_CONFIG",
        "the override is gone"
    );
}

#[test]
fn created_topic_describes_every_config_with_its_source_and_synonyms() {
    // A broker-wide retention.bytes that differs from Kafka's default shows as a static broker config.
    let broker = Broker::start_with("log_retention_bytes: 1073741824\n");
    let topic = unique_topic("described");
    create_with(
        &broker,
        &topic,
        2,
        &[
            ("cleanup.policy", "compact"),
            ("retention.ms", "3600000"),
            ("max.message.bytes", "500000"),
            ("min.cleanable.dirty.ratio", "1"),
        ],
    );

    let resource = topic_configs(&broker, &topic);
    let listed = names(&resource);
    // Exactly Kafka's set: the reference pass checks the list against Kafka itself, so a config a
    // new Kafka version adds shows up here (MirrorMaker 2 syncs every one of them).
    let missing: Vec<_> = KAFKA_TOPIC_CONFIGS
        .iter()
        .filter(|n| !listed.contains(n))
        .collect();
    let unknown: Vec<_> = listed
        .iter()
        .filter(|n| !KAFKA_TOPIC_CONFIGS.contains(n))
        .collect();
    assert!(
        missing.is_empty() && unknown.is_empty(),
        "topic configs not described: {missing:?}; described but not in Kafka's list: {unknown:?}"
    );
    for removed in [
        "message.format.version",
        "message.timestamp.difference.max.ms",
        "message.downconversion.enable",
    ] {
        assert!(
            !listed.contains(&removed),
            "{removed} was removed in Kafka 4.0 but is described"
        );
    }
    assert!(
        resource
            .entries
            .iter()
            .all(|e| !e.is_read_only && !e.is_sensitive),
        "topic configs are writable and not sensitive"
    );

    let dynamic = |v: &str| (Some(v.to_string()), "DYNAMIC_TOPIC_CONFIG", false);
    assert_eq!(described(&resource, "cleanup.policy"), dynamic("compact"));
    assert_eq!(described(&resource, "retention.ms"), dynamic("3600000"));
    assert_eq!(described(&resource, "max.message.bytes"), dynamic("500000"));
    // A DOUBLE is shown as Java prints the parsed value.
    assert_eq!(
        described(&resource, "min.cleanable.dirty.ratio"),
        dynamic("1.0")
    );
    let default = |v: &str| (Some(v.to_string()), "DEFAULT_CONFIG", true);
    assert_eq!(described(&resource, "segment.bytes"), default("1073741824"));
    assert_eq!(
        described(&resource, "delete.retention.ms"),
        default("86400000")
    );
    assert_eq!(
        described(&resource, "message.timestamp.type"),
        default("CreateTime")
    );
    assert_eq!(
        described(&resource, "compression.type"),
        default("producer")
    );
    if is_reference_kafka() {
        // Kafka 4.4 keeps a cluster-wide min.insync.replicas (seemingly for eligible leader replicas, KIP-966,
        // which its bootstrap enables), so even an untouched one shows as a dynamic broker default. Sluice has
        // no replicas and shows Kafka's plain default (compat-tests/FINDINGS.md, D4).
        assert_eq!(
            described(&resource, "min.insync.replicas"),
            (
                Some("1".to_string()),
                "DYNAMIC_DEFAULT_BROKER_CONFIG",
                false
            )
        );
    } else {
        assert_eq!(described(&resource, "min.insync.replicas"), default("1"));
    }
    assert_eq!(
        described(&resource, "retention.bytes"),
        (
            Some("1073741824".to_string()),
            "STATIC_BROKER_CONFIG",
            false
        )
    );

    // Synonyms and the key filter, over a raw DescribeConfigs.
    let keys = [
        "cleanup.policy",
        "retention.ms",
        "retention.bytes",
        "max.message.bytes",
        "segment.ms",
    ];
    let raw = raw_describe_configs(&broker, 2, &topic, Some(&keys));
    assert_eq!(raw.error_code, 0, "{:?}", raw.error_message);
    let returned: Vec<&str> = raw.configs.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(
        returned.len(),
        keys.len(),
        "only the configs asked for: {returned:?}"
    );
    let (topic_src, static_src, default_src) = (1, 4, 5);
    assert_eq!(
        synonyms(&raw, "cleanup.policy"),
        vec![
            syn("cleanup.policy", "compact", topic_src),
            syn("log.cleanup.policy", "delete", default_src)
        ]
    );
    // log.retention.ms has no default of its own in Kafka (it falls back to log.retention.hours), so an
    // overridden retention.ms lists only the override.
    assert_eq!(
        synonyms(&raw, "retention.ms"),
        vec![syn("retention.ms", "3600000", topic_src)]
    );
    assert_eq!(
        synonyms(&raw, "retention.bytes"),
        vec![
            syn("log.retention.bytes", "1073741824", static_src),
            syn("log.retention.bytes", "-1", default_src)
        ]
    );
    assert_eq!(
        synonyms(&raw, "max.message.bytes"),
        vec![
            syn("max.message.bytes", "500000", topic_src),
            syn("message.max.bytes", "1048588", default_src)
        ]
    );
    assert_eq!(
        synonyms(&raw, "segment.ms"),
        vec![],
        "segment.ms at its default has no synonym"
    );

    let unknown = raw_describe_configs(&broker, 2, &unique_topic("no-such-topic"), None);
    assert_eq!(
        unknown.error_code,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART as i16,
        "DescribeConfigs of an unknown topic"
    );

    // The broker resource "1": read-only settings, the file's value as a static broker config.
    let results = block_on(
        admin_client(&broker.bootstrap())
            .describe_configs([&ResourceSpecifier::Broker(1)], &admin_options()),
    )
    .expect("DescribeConfigs broker 1");
    let brokers = results
        .into_iter()
        .next()
        .expect("one")
        .expect("broker 1 described");
    assert_eq!(
        described(&brokers, "log.retention.bytes"),
        (
            Some("1073741824".to_string()),
            "STATIC_BROKER_CONFIG",
            false
        )
    );
    assert_eq!(described(&brokers, "log.cleanup.policy"), default("delete"));
}

/// Every CreateTopics error a single broker can give, per topic, with nothing created by a refused request;
/// `validate_only` checks without creating; -1 partitions takes the broker's default; a manual assignment
/// may name broker 1 only.
#[test]
fn create_topics_errors_validate_only_defaults_and_assignments() {
    let broker = Broker::start_with("num_partitions: 3\n");
    let existing = unique_topic("exists");
    create_topic(&broker.bootstrap(), &existing, 1);
    let opts = admin_options();
    let dry = admin_options().validate_only(true);
    let long_name = "x".repeat(250);
    let cases: Vec<(NewTopic<'_>, &AdminOptions, Option<RDKafkaErrorCode>, &str)> = vec![
        (
            new_topic(&existing, 1, &[]),
            &opts,
            Some(RDKafkaErrorCode::TopicAlreadyExists),
            "existing name",
        ),
        (
            new_topic(&existing, 1, &[]),
            &dry,
            Some(RDKafkaErrorCode::TopicAlreadyExists),
            "existing name, dry run",
        ),
        (
            new_topic("has space", 1, &[]),
            &opts,
            Some(RDKafkaErrorCode::InvalidTopic),
            "space in name",
        ),
        (
            new_topic("..", 1, &[]),
            &opts,
            Some(RDKafkaErrorCode::InvalidTopic),
            "'..'",
        ),
        (
            new_topic(&long_name, 1, &[]),
            &opts,
            Some(RDKafkaErrorCode::InvalidTopic),
            "250 characters",
        ),
        (
            new_topic("zero-partitions", 0, &[]),
            &opts,
            Some(RDKafkaErrorCode::InvalidPartitions),
            "0 partitions",
        ),
        (
            NewTopic::new("rf-two", 1, TopicReplication::Fixed(2)),
            &opts,
            Some(RDKafkaErrorCode::InvalidReplicationFactor),
            "replication factor 2 on one broker",
        ),
        (
            new_topic("bad-number", 1, &[("retention.ms", "soon")]),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "retention.ms=soon",
        ),
        (
            new_topic("below-minimum", 1, &[("retention.ms", "-2")]),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "retention.ms=-2",
        ),
        (
            new_topic("bad-policy", 1, &[("cleanup.policy", "compact,shred")]),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "cleanup.policy=compact,shred",
        ),
        (
            new_topic(
                "bad-type",
                1,
                &[("message.timestamp.type", "logappendtime")],
            ),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "timestamp type names are case-sensitive",
        ),
        (
            new_topic("unknown-config", 1, &[("retention.weeks", "1")]),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "unknown config name",
        ),
        (
            new_topic(
                "lags",
                1,
                &[
                    ("min.compaction.lag.ms", "1000"),
                    ("max.compaction.lag.ms", "10"),
                ],
            ),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "min.compaction.lag.ms > max.compaction.lag.ms",
        ),
        (
            new_topic("tiered", 1, &[("remote.storage.enable", "true")]),
            &opts,
            Some(RDKafkaErrorCode::InvalidConfig),
            "tiered storage is off",
        ),
        (
            new_topic("dry-bad", 1, &[("retention.ms", "soon")]),
            &dry,
            Some(RDKafkaErrorCode::InvalidConfig),
            "invalid config, dry run",
        ),
        (
            NewTopic::new("elsewhere", 1, TopicReplication::Variable(&[&[2]])),
            &opts,
            Some(RDKafkaErrorCode::InvalidReplicaAssignment),
            "assignment to broker 2",
        ),
        (
            new_topic("dry-ok", 2, &[("retention.ms", "1000")]),
            &dry,
            None,
            "valid, dry run",
        ),
    ];
    for (topic, opts, expected, why) in &cases {
        assert_eq!(create(&broker, topic, opts), *expected, "{why}");
    }
    let consumer = consumer(&broker.bootstrap(), &[]);
    let metadata = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("Metadata");
    let listed: Vec<&str> = metadata.topics().iter().map(|t| t.name()).collect();
    for (topic, _, _, why) in &cases {
        if topic.name != existing {
            assert!(
                !listed.contains(&topic.name),
                "{} exists after a refused or dry-run create ({why})",
                topic.name
            );
        }
    }

    // -1 partitions and replication factor: the broker's defaults (num_partitions: 3 here).
    let defaulted = unique_topic("defaulted");
    assert_eq!(
        create(
            &broker,
            &NewTopic::new(&defaulted, -1, TopicReplication::Fixed(-1)),
            &opts
        ),
        None,
        "-1 partitions, -1 replication factor"
    );
    // A manual assignment placing every partition on broker 1.
    let assigned = unique_topic("assigned");
    assert_eq!(
        create(
            &broker,
            &NewTopic::new(&assigned, 2, TopicReplication::Variable(&[&[1], &[1]])),
            &opts
        ),
        None,
        "assignment to broker 1"
    );
    // Kafka's broker lists a created topic a moment after CreateTopics answers (see `wait_for_topic`).
    wait_for_topic(&broker.bootstrap(), &defaulted);
    wait_for_topic(&broker.bootstrap(), &assigned);
    let metadata = consumer
        .fetch_metadata(None, CLIENT_TIMEOUT)
        .expect("Metadata");
    let partitions = |name: &str| {
        metadata
            .topics()
            .iter()
            .find(|t| t.name() == name)
            .map(|t| t.partitions().len())
    };
    assert_eq!(
        partitions(&defaulted),
        Some(3),
        "broker default partition count"
    );
    assert_eq!(
        partitions(&assigned),
        Some(2),
        "partitions of the assignment"
    );
}

/// Kafka refuses a topic whose name differs from an existing one only by '.' versus '_' (they would share
/// metric names): INVALID_TOPIC_EXCEPTION, "Topic 'a_b' collides with existing topic: a.b".
#[test]
fn create_topics_refuses_names_that_collide_on_dot_and_underscore() {
    let broker = Broker::start();
    let dotted = unique_topic("collide.x");
    create_topic(&broker.bootstrap(), &dotted, 1);
    let underscored = dotted.replace('.', "_");
    assert_eq!(
        create(&broker, &new_topic(&underscored, 1, &[]), &admin_options()),
        Some(RDKafkaErrorCode::InvalidTopic),
        "{underscored} after {dotted}"
    );
}

// ---------------------------------------------------------------------------------------------------------
// AlterConfigs, CreatePartitions, DeleteTopics
// ---------------------------------------------------------------------------------------------------------

/// AlterConfigs replaces the whole set of overrides; invalid values and unknown topics are refused without
/// changing anything; validate_only changes nothing; the result survives a restart.
#[test]
fn alter_configs_replaces_overrides_and_persists() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("altered");
    create_with(
        &broker,
        &topic,
        1,
        &[("cleanup.policy", "compact"), ("retention.ms", "1000000")],
    );

    alter(&broker, &topic, &[("retention.ms", "2000000")]);
    let resource = topic_configs(&broker, &topic);
    assert_eq!(
        described(&resource, "retention.ms"),
        (Some("2000000".to_string()), "DYNAMIC_TOPIC_CONFIG", false)
    );
    assert_eq!(
        described(&resource, "cleanup.policy"),
        (Some("delete".to_string()), "DEFAULT_CONFIG", true),
        "AlterConfigs drops the overrides it does not repeat"
    );

    let invalid = code(RDKafkaRespErr::RD_KAFKA_RESP_ERR_INVALID_CONFIG);
    for (set, why) in [
        (vec![("retention.ms", "never")], "not a number"),
        (
            vec![("segment.bytes", "1000")],
            "below segment.bytes's minimum of 1 MiB",
        ),
        (vec![("no.such.config", "1")], "unknown config"),
        (vec![("compression.type", "brotli")], "unknown codec"),
        (
            vec![("retention.ms", "5"), ("cleanup.policy", "archive")],
            "one bad value among good ones",
        ),
    ] {
        assert_eq!(raw_alter(&broker, &topic, &set, false), invalid, "{why}");
    }
    assert_eq!(
        raw_alter(&broker, &topic, &[("retention.ms", "5")], true),
        0,
        "valid, dry run"
    );
    assert_eq!(
        raw_alter(&broker, &topic, &[("retention.ms", "x")], true),
        invalid,
        "invalid, dry run"
    );
    assert_eq!(
        raw_alter(
            &broker,
            &unique_topic("no-such-topic"),
            &[("retention.ms", "5")],
            false
        ),
        code(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
    assert_eq!(
        described(&topic_configs(&broker, &topic), "retention.ms")
            .0
            .as_deref(),
        Some("2000000"),
        "refused and dry-run alters change nothing"
    );

    broker.restart();
    let resource = topic_configs(&broker, &topic);
    assert_eq!(
        described(&resource, "retention.ms"),
        (Some("2000000".to_string()), "DYNAMIC_TOPIC_CONFIG", false),
        "after a restart"
    );
}

/// CreatePartitions grows a topic, and the new partitions take records at once; shrinking, keeping the
/// count, unknown topics and assignments to other brokers are refused; validate_only changes nothing.
#[test]
fn create_partitions_then_produce_to_the_new_partition() {
    let broker = Broker::start();
    let topic = unique_topic("grown");
    create_with(&broker, &topic, 1, &[("retention.ms", "86400000")]);
    let producer = producer(&broker.bootstrap(), &[("acks", "all")]);
    send_ok(
        &producer,
        &topic,
        0,
        &[(Some("a"), Some("before"), None); 5],
    );

    let grow = |partitions: &NewPartitions<'_>, opts: &AdminOptions| {
        block_on(admin_client(&broker.bootstrap()).create_partitions([partitions], opts))
            .expect("CreatePartitions")
            .remove(0)
            .err()
            .map(|(_, code)| code)
    };
    assert_eq!(
        grow(&NewPartitions::new(&topic, 3), &admin_options()),
        None,
        "1 -> 3"
    );
    assert_eq!(
        grow(&NewPartitions::new(&topic, 3), &admin_options()),
        Some(RDKafkaErrorCode::InvalidPartitions),
        "3 -> 3"
    );
    assert_eq!(
        grow(&NewPartitions::new(&topic, 2), &admin_options()),
        Some(RDKafkaErrorCode::InvalidPartitions),
        "3 -> 2"
    );
    assert_eq!(
        grow(
            &NewPartitions::new(&unique_topic("no-such-topic"), 2),
            &admin_options()
        ),
        Some(RDKafkaErrorCode::UnknownTopicOrPartition),
        "unknown topic"
    );
    assert_eq!(
        grow(
            &NewPartitions::new(&topic, 4).assign(&[&[2]]),
            &admin_options()
        ),
        Some(RDKafkaErrorCode::InvalidReplicaAssignment),
        "new partition on broker 2"
    );
    assert_eq!(
        grow(
            &NewPartitions::new(&topic, 8),
            &admin_options().validate_only(true)
        ),
        None,
        "dry run"
    );
    assert_eq!(
        grow(
            &NewPartitions::new(&topic, 4).assign(&[&[1]]),
            &admin_options()
        ),
        None,
        "3 -> 4 on broker 1"
    );

    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &topic, 4),
        vec![(0, 5), (0, 0), (0, 0), (0, 0)],
        "new partitions start empty"
    );
    // A producer created now sees four partitions and writes to the newest one.
    let fresh = compat_tests::producer(&broker.bootstrap(), &[("acks", "all")]);
    let offsets = send_ok(
        &fresh,
        &topic,
        3,
        &[(Some("b"), Some("new partition"), None)],
    );
    assert_eq!(offsets, vec![0]);
    let read = read_all(&broker.bootstrap(), &topic, 3);
    assert_eq!(
        kv(&read),
        vec![(0, Some("b".into()), Some("new partition".into()))]
    );
    // The topic's configs are the new partitions' configs too.
    assert_eq!(
        described(&topic_configs(&broker, &topic), "retention.ms")
            .0
            .as_deref(),
        Some("86400000")
    );
}

/// DeleteTopics by topic id (v6, raw: rdkafka deletes by name only): the topic is gone, a second delete of
/// the id is UNKNOWN_TOPIC_ID, and a topic recreated under the same name has a new id and no data.
#[test]
fn delete_topic_by_id_then_recreate_with_a_new_id() {
    let broker = Broker::start();
    let topic = unique_topic("by-id");
    create_topic(&broker.bootstrap(), &topic, 2);
    let producer = producer(&broker.bootstrap(), &[("acks", "all")]);
    send_ok(&producer, &topic, 1, &[(Some("k"), Some("v"), None); 3]);
    let before = metadata_topic(&broker, &topic);
    assert_eq!(before.error_code, 0);
    assert!(!before.topic_id.is_nil(), "Metadata v10+ gives a topic id");

    let version = Versions::fetch(broker.addr()).pick(ApiKey::DeleteTopics, 6, 6);
    let delete = DeleteTopicsRequest::default()
        .with_timeout_ms(10_000)
        .with_topics(vec![
            DeleteTopicState::default().with_topic_id(before.topic_id)
        ]);
    let response = RawConn::connect(broker.addr()).request(version, &delete);
    let result = &response.responses[0];
    assert_eq!(
        result.error_code, 0,
        "delete by id: {:?}",
        result.error_message
    );
    assert_eq!(
        result.name.as_deref().map(|n| n.as_str()),
        Some(topic.as_str()),
        "the response names the topic"
    );
    // Kafka's broker drops the topic from its metadata a moment after DeleteTopics answers.
    wait_for_topic_gone(&broker.bootstrap(), &topic);
    assert_eq!(
        metadata_topic(&broker, &topic).error_code,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART as i16,
        "deleted topic in Metadata"
    );
    let again = RawConn::connect(broker.addr()).request(version, &delete);
    assert_eq!(
        again.responses[0].error_code,
        RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_ID as i16,
        "second delete of the same id"
    );

    create_topic(&broker.bootstrap(), &topic, 2);
    let after = metadata_topic(&broker, &topic);
    assert_eq!(after.error_code, 0);
    assert_ne!(
        after.topic_id, before.topic_id,
        "a recreated topic has a new id"
    );
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &topic, 2),
        vec![(0, 0), (0, 0)],
        "recreated topic is empty"
    );
    assert_eq!(
        send_ok(&producer, &topic, 1, &[(Some("k"), Some("new"), None)]),
        vec![0]
    );
    assert_eq!(
        kv(&read_all(&broker.bootstrap(), &topic, 1)),
        vec![(0, Some("k".into()), Some("new".into()))]
    );
}

// ---------------------------------------------------------------------------------------------------------
// DeleteRecords and ListOffsets by time
// ---------------------------------------------------------------------------------------------------------

/// DeleteRecords moves the low watermark (also into the middle of a batch) durably; a consumer at an older
/// offset is reset per auto.offset.reset; offsets past the high watermark are refused; `End` empties the
/// partition.
#[test]
fn delete_records_moves_the_low_watermark_and_resets_consumers() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("delete-records");
    create_topic(&broker.bootstrap(), &topic, 2);
    let producer = producer(&broker.bootstrap(), &[("acks", "all")]);
    for _ in 0..3 {
        send_ok(&producer, &topic, 0, &[(Some("k"), Some("v"), None); 10]);
    }

    let delete = |broker: &Broker, partition: i32, offset: Offset| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, partition, offset)
            .expect("add partition");
        let result =
            block_on(admin_client(&broker.bootstrap()).delete_records(&tpl, &admin_options()))
                .expect("DeleteRecords");
        let elements = result.elements();
        let element = elements.first().expect("one partition in the result");
        element
            .error()
            .map(|()| element.offset())
            .map_err(|e| e.rdkafka_error_code())
    };
    assert_eq!(
        delete(&broker, 0, Offset::Offset(15)),
        Ok(Offset::Offset(15)),
        "low watermark after delete"
    );
    assert_eq!(
        delete(&broker, 0, Offset::Offset(31)),
        Err(Some(RDKafkaErrorCode::OffsetOutOfRange)),
        "past the high watermark"
    );
    assert_eq!(
        delete(&broker, 0, Offset::Offset(10)),
        Ok(Offset::Offset(15)),
        "below the low watermark"
    );
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(watermarks(&consumer, &topic, 2), vec![(15, 30), (0, 0)]);
    let mut by_time = TopicPartitionList::new();
    by_time
        .add_partition_offset(&topic, 0, Offset::Offset(0))
        .expect("add");
    let found = consumer
        .offsets_for_times(by_time, CLIENT_TIMEOUT)
        .expect("offsets_for_times");
    assert_eq!(
        found.elements()[0].offset(),
        Offset::Offset(15),
        "the first offset by time is at or after the log start"
    );
    let read = read_all(&broker.bootstrap(), &topic, 0);
    assert_eq!(
        read.first().map(|r| r.offset),
        Some(15),
        "a reader from the beginning starts at the log start"
    );
    assert_eq!(read.len(), 15);

    assert_resets(&broker, &topic, 5, 15);

    broker.restart();
    let consumer = compat_tests::consumer(&broker.bootstrap(), &[]);
    let (low, high) = watermarks(&consumer, &topic, 1)[0];
    assert_eq!(low, 15, "the log start survives a restart");
    assert_eq!(
        delete(&broker, 0, Offset::End),
        Ok(Offset::Offset(high)),
        "delete everything"
    );
    assert_eq!(watermarks(&consumer, &topic, 1), vec![(high, high)]);
    assert_eq!(
        send_ok(
            &producer_for(&broker),
            &topic,
            0,
            &[(Some("k"), Some("after"), None)]
        ),
        vec![high],
        "offsets continue after the deleted records"
    );
}

fn producer_for(broker: &Broker) -> TestProducer {
    producer(&broker.bootstrap(), &[("acks", "all")])
}

/// The first offset at or after each timestamp on a CreateTime topic, across batch boundaries and inside
/// batches; a timestamp past every record finds nothing (`End`).
#[test]
fn offsets_for_times_on_a_create_time_topic() {
    let broker = Broker::start();
    let topic = unique_topic("by-time");
    create_topic(&broker.bootstrap(), &topic, 1);
    let producer = producer_for(&broker);
    let base = now_ms() - 60_000;
    for b in 0..3 {
        let batch: Vec<Rec<'_>> = (0..5)
            .map(|i| (Some("k"), Some("v"), Some(base + (b * 5 + i) * 1000)))
            .collect();
        send_ok(&producer, &topic, 0, &batch);
    }
    let consumer = consumer(&broker.bootstrap(), &[]);
    let lookup = |ts: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(ts))
            .expect("add");
        consumer
            .offsets_for_times(tpl, CLIENT_TIMEOUT)
            .expect("offsets_for_times")
            .elements()[0]
            .offset()
    };
    for (ts, expected) in [
        (0, Offset::Offset(0)),
        (base, Offset::Offset(0)),
        (base + 1, Offset::Offset(1)),
        (base + 4_000, Offset::Offset(4)),
        (base + 4_500, Offset::Offset(5)),
        (base + 7_000, Offset::Offset(7)),
        (base + 14_000, Offset::Offset(14)),
        (base + 14_001, Offset::End),
    ] {
        assert_eq!(
            lookup(ts),
            expected,
            "offset for timestamp base{:+}",
            ts - base
        );
    }
    let read = read_all(&broker.bootstrap(), &topic, 0);
    let stamps: Vec<Timestamp> = read.iter().map(|r| r.timestamp).collect();
    let expected: Vec<Timestamp> = (0..15)
        .map(|i| Timestamp::CreateTime(base + i * 1000))
        .collect();
    assert_eq!(stamps, expected, "consumers see the producer's timestamps");
}

/// message.timestamp.type=LogAppendTime: consumers see the broker's clock at append, not the producer's
/// timestamps, and ListOffsets by time searches those append times. All records of a batch share its append
/// time, so Kafka answers any timestamp at or before it with the batch's first offset.
#[test]
fn log_append_time_topic_stamps_and_lists_offsets_by_broker_time() {
    let broker = Broker::start();
    let topic = unique_topic("append-time");
    create_with(
        &broker,
        &topic,
        1,
        &[("message.timestamp.type", "LogAppendTime")],
    );
    let producer = producer_for(&broker);

    let before = now_ms();
    // Producer timestamps far in the past, and not in order: none of them may leak out.
    let old = before - 60_000;
    send_ok(
        &producer,
        &topic,
        0,
        &[
            (Some("a"), Some("0"), Some(old)),
            (Some("a"), Some("1"), Some(before - 1_000)),
            (Some("a"), Some("2"), Some(before - 1_000)),
        ],
    );
    let after_first = now_ms();
    // The second batch must get a later append time: wait for the clock to pass the first one's bound.
    assert!(wait_until(Duration::from_secs(1), || now_ms() > after_first));
    send_ok(
        &producer,
        &topic,
        0,
        &[
            (Some("b"), Some("3"), Some(old)),
            (Some("b"), Some("4"), Some(old)),
        ],
    );
    let after = now_ms();

    let read = read_all(&broker.bootstrap(), &topic, 0);
    assert_eq!(read.len(), 5);
    let append_time = |r: &Read| match r.timestamp {
        Timestamp::LogAppendTime(t) => t,
        other => panic!(
            "offset {}: {other:?}, expected a LogAppendTime timestamp",
            r.offset
        ),
    };
    let t1 = append_time(&read[0]);
    let t2 = append_time(&read[3]);
    assert!(
        (before..=after_first).contains(&t1),
        "first batch stamped {t1}, produced in [{before}, {after_first}]"
    );
    assert!(
        (after_first + 1..=after).contains(&t2),
        "second batch stamped {t2}, produced in ({after_first}, {after}]"
    );
    assert!(
        read[..3].iter().all(|r| append_time(r) == t1),
        "one append time per batch: {read:?}"
    );
    assert!(
        read[3..].iter().all(|r| append_time(r) == t2),
        "one append time per batch: {read:?}"
    );

    let consumer = consumer(&broker.bootstrap(), &[]);
    let lookup = |ts: i64| {
        let mut tpl = TopicPartitionList::new();
        tpl.add_partition_offset(&topic, 0, Offset::Offset(ts))
            .expect("add");
        consumer
            .offsets_for_times(tpl, CLIENT_TIMEOUT)
            .expect("offsets_for_times")
            .elements()[0]
            .offset()
    };
    for (ts, expected, why) in [
        (0, Offset::Offset(0), "before everything"),
        (t1, Offset::Offset(0), "the first batch's append time"),
        (
            before - 30_000,
            Offset::Offset(0),
            "after record 0's producer timestamp, before the first append time",
        ),
        (
            t1 + 1,
            Offset::Offset(3),
            "just after the first append time",
        ),
        (t2, Offset::Offset(3), "the second batch's append time"),
        (t2 + 1, Offset::End, "after every append time"),
    ] {
        assert_eq!(
            lookup(ts),
            expected,
            "offset for timestamp {ts} ({why}); t1={t1} t2={t2}"
        );
    }
}

// ---------------------------------------------------------------------------------------------------------
// The cleaner: retention and compaction
// ---------------------------------------------------------------------------------------------------------

/// retention.ms drops whole batches whose newest record is older than the limit and advances the log start;
/// a consumer at an older offset is reset per auto.offset.reset. retention.ms=-1 and the default keep old data.
#[test]
fn retention_ms_drops_expired_batches_and_advances_the_log_start() {
    let broker = Broker::start_with(FAST_CLEANER);
    let topic = unique_topic("retention-ms");
    let forever = unique_topic("retention-forever");
    let default = unique_topic("retention-default");
    // The batches' timestamps are minutes apart: each starts a segment on Kafka without waiting.
    create_with(
        &broker,
        &topic,
        1,
        &per_batch_segments(&[("retention.ms", "60000")]),
    );
    create_with(&broker, &forever, 1, &[("retention.ms", "-1")]);
    create_topic(&broker.bootstrap(), &default, 1);
    let producer = producer_for(&broker);
    let now = now_ms();
    for t in [&topic, &forever, &default] {
        send_ok(&producer, t, 0, &batch_at(10, now - 600_000));
        send_ok(&producer, t, 0, &batch_at(10, now - 300_000));
        send_ok(&producer, t, 0, &batch_at(10, now));
    }

    let consumer = consumer(&broker.bootstrap(), &[]);
    let trimmed = wait_until(CLEANER_DEADLINE, || {
        watermarks(&consumer, &topic, 1)[0].0 >= 20
    });
    assert!(
        trimmed,
        "log start of {topic} still {:?}; broker log:\n{}",
        watermarks(&consumer, &topic, 1),
        broker.logs()
    );
    assert_eq!(
        watermarks(&consumer, &topic, 1),
        vec![(20, 30)],
        "the unexpired batch stays"
    );
    assert_eq!(
        read_all(&broker.bootstrap(), &topic, 0)
            .first()
            .map(|r| r.offset),
        Some(20)
    );
    assert_resets(&broker, &topic, 3, 20);
    assert_eq!(
        watermarks(&consumer, &forever, 1),
        vec![(0, 30)],
        "retention.ms=-1 keeps everything"
    );
    assert_eq!(
        watermarks(&consumer, &default, 1),
        vec![(0, 30)],
        "7 days by default"
    );
}

/// retention.bytes drops the oldest batches while the partition would still be at or over the limit without
/// them; with a 1-byte limit only the newest batch remains. DescribeLogDirs reports the smaller size.
#[test]
fn retention_bytes_keeps_only_what_fits() {
    let broker = Broker::start_with(FAST_CLEANER);
    let topic = unique_topic("retention-bytes");
    // Created without a limit, so every batch is written before the cleaner may act.
    create_with(&broker, &topic, 1, &per_batch_segments(&[]));
    let producer = producer_for(&broker);
    for _ in 0..10 {
        next_segment();
        send_ok(&producer, &topic, 0, &batch_at(10, now_ms()));
    }
    let full = log_dir_sizes(&broker, &topic)[&0];
    assert!(
        full > 0,
        "DescribeLogDirs size of a partition with data: {full}"
    );

    alter(&broker, &topic, &[("retention.bytes", "1")]);
    let consumer = consumer(&broker.bootstrap(), &[]);
    let trimmed = wait_until(CLEANER_DEADLINE, || {
        watermarks(&consumer, &topic, 1)[0].0 >= 90
    });
    assert!(
        trimmed,
        "log start still {:?}; broker log:\n{}",
        watermarks(&consumer, &topic, 1),
        broker.logs()
    );
    assert_eq!(
        watermarks(&consumer, &topic, 1),
        vec![(90, 100)],
        "the newest batch is never dropped"
    );
    let small = log_dir_sizes(&broker, &topic)[&0];
    assert!(
        small > 0 && small * 5 < full,
        "size after retention {small}, before {full}"
    );
    assert_resets(&broker, &topic, 0, 90);
}

/// cleanup.policy=compact: after many updates per key, a reader from the beginning sees exactly the latest
/// record of each key, at its original offset, in offset order, with tombstones kept. A tombstone goes only
/// delete.retention.ms after the compaction that first kept it (KIP-534's delete horizon, fixed then: lowering
/// delete.retention.ms later does not shorten it). The last batch (here a lone sentinel record) is never
/// compacted, nor are batches younger than min.compaction.lag.ms. Keyless records are refused.
#[test]
fn compaction_keeps_the_latest_record_per_key_and_expires_tombstones() {
    let broker = Broker::start_with(FAST_CLEANER);
    let topic = unique_topic("compacted");
    let tail = unique_topic("compacted-tail");
    let lagged = unique_topic("compacted-lagged");
    create_with(
        &broker,
        &topic,
        1,
        &per_batch_segments(&[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "86400000"),
        ]),
    );
    create_with(&broker, &tail, 1, &[("cleanup.policy", "compact")]);
    create_with(
        &broker,
        &lagged,
        1,
        &[
            ("cleanup.policy", "compact"),
            ("min.compaction.lag.ms", "3600000"),
        ],
    );
    let producer = producer_for(&broker);

    // Five rounds of updates to k0..k5, one batch per round: offsets 0..29.
    let keys: Vec<String> = (0..6).map(|k| format!("k{k}")).collect();
    for round in 0..5 {
        let values: Vec<String> = keys.iter().map(|k| format!("{k}-r{round}")).collect();
        let batch: Vec<Rec<'_>> = keys
            .iter()
            .zip(&values)
            .map(|(k, v)| (Some(k.as_str()), Some(v.as_str()), None))
            .collect();
        next_segment();
        send_ok(&producer, &topic, 0, &batch);
    }
    // Tombstones for k0 and k1 and a last update of k2 (offsets 30..32), then a lone sentinel (33): the
    // tombstones' batch is not the last batch, so it may be compacted.
    next_segment();
    send_ok(
        &producer,
        &topic,
        0,
        &[
            (Some("k0"), None, None),
            (Some("k1"), None, None),
            (Some("k2"), Some("k2-final"), None),
        ],
    );
    next_segment();
    assert_eq!(
        send_ok(
            &producer,
            &topic,
            0,
            &[(Some("sentinel"), Some("end"), None)]
        ),
        vec![33]
    );
    // The only batch of `tail` is its last one, and `lagged` is within its lag: neither may change.
    send_ok(
        &producer,
        &tail,
        0,
        &[
            (Some("a"), Some("1"), None),
            (Some("a"), Some("2"), None),
            (Some("a"), Some("3"), None),
        ],
    );
    send_ok(
        &producer,
        &lagged,
        0,
        &[(Some("a"), Some("1"), None), (Some("a"), Some("2"), None)],
    );
    send_ok(&producer, &lagged, 0, &[(Some("a"), Some("3"), None)]);

    let rec = |offset: i64, key: &str, value: Option<&str>| {
        (offset, Some(key.to_string()), value.map(str::to_string))
    };
    let with_tombstones = vec![
        rec(27, "k3", Some("k3-r4")),
        rec(28, "k4", Some("k4-r4")),
        rec(29, "k5", Some("k5-r4")),
        rec(30, "k0", None),
        rec(31, "k1", None),
        rec(32, "k2", Some("k2-final")),
        rec(33, "sentinel", Some("end")),
    ];
    let mut last = Vec::new();
    let compacted = wait_until(CLEANER_DEADLINE, || {
        last = kv(&read_all(&broker.bootstrap(), &topic, 0));
        last == with_tombstones
    });
    assert!(
        compacted,
        "after compaction, read {last:?}\nexpected {with_tombstones:?}\nbroker log:\n{}",
        broker.logs()
    );
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &topic, 1),
        vec![(0, 34)],
        "compaction moves neither watermark"
    );

    // Keyless records cannot be compacted: refused, and nothing is written.
    assert_eq!(
        send_error(&producer, &topic, (None, Some("no key"), None)),
        Some(RDKafkaErrorCode::InvalidRecord)
    );
    assert_eq!(
        watermarks(&consumer, &topic, 1),
        vec![(0, 34)],
        "a refused record takes no offset"
    );

    // Both brokers fixed the tombstones' delete horizon (now + delete.retention.ms, a day) when they first
    // compacted their batch, so lowering delete.retention.ms now does not shorten it. A compaction after the
    // change (seen as k3's older record going) still keeps them.
    // AlterConfigs replaces every config, so Kafka's per-batch segments are set again.
    alter(
        &broker,
        &topic,
        &per_batch_segments(&[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "500"),
        ]),
    );
    next_segment();
    assert_eq!(
        send_ok(&producer, &topic, 0, &[(Some("k3"), Some("k3-r5"), None)]),
        vec![34]
    );
    next_segment();
    assert_eq!(
        send_ok(
            &producer,
            &topic,
            0,
            &[(Some("sentinel"), Some("end2"), None)]
        ),
        vec![35]
    );
    // The first sentinel stays: neither broker's compaction reads the last batch (the active segment), so
    // nothing it has seen supersedes offset 33.
    let recompacted: Vec<_> = with_tombstones
        .iter()
        .filter(|r| r.0 != 27)
        .cloned()
        .chain([
            rec(34, "k3", Some("k3-r5")),
            rec(35, "sentinel", Some("end2")),
        ])
        .collect();
    let compacted_again = wait_until(CLEANER_DEADLINE, || {
        last = kv(&read_all(&broker.bootstrap(), &topic, 0));
        !last.iter().any(|r| r.0 == 27)
    });
    assert!(
        compacted_again,
        "no compaction after lowering delete.retention.ms: read {last:?}\nbroker log:\n{}",
        broker.logs()
    );
    assert_eq!(
        last, recompacted,
        "lowering delete.retention.ms after the first compaction keeps the tombstones"
    );

    // With a short delete.retention.ms from the start, a tombstone goes at the first compaction after its
    // horizon. Kafka compacts only when there is new data (a new segment), so each check produces more.
    let short = unique_topic("compacted-short-tombstones");
    create_with(
        &broker,
        &short,
        1,
        &per_batch_segments(&[
            ("cleanup.policy", "compact"),
            ("delete.retention.ms", "1000"),
        ]),
    );
    send_ok(
        &producer,
        &short,
        0,
        &[
            (Some("gone"), Some("v"), None),
            (Some("kept"), Some("v"), None),
        ],
    );
    next_segment();
    send_ok(&producer, &short, 0, &[(Some("gone"), None, None)]);
    let keys =
        |read: &[Read]| -> Vec<Option<String>> { read.iter().map(|r| r.key.clone()).collect() };
    let mut read = Vec::new();
    let expired = wait_until(CLEANER_DEADLINE, || {
        next_segment();
        send_ok(&producer, &short, 0, &[(Some("more"), Some("v"), None)]);
        read = read_all(&broker.bootstrap(), &short, 0);
        !keys(&read).contains(&Some("gone".to_string()))
    });
    assert!(
        expired,
        "delete.retention.ms=1000 from the start: the tombstone of `gone` is still there: {:?}",
        kv(&read)
    );
    assert_eq!(
        kv(&read[..1]),
        vec![rec(1, "kept", Some("v"))],
        "the tombstone went, the other key stays"
    );

    // Many passes have run by now.
    assert_eq!(
        kv(&read_all(&broker.bootstrap(), &tail, 0)),
        vec![
            rec(0, "a", Some("1")),
            rec(1, "a", Some("2")),
            rec(2, "a", Some("3"))
        ],
        "the last batch of a partition is never compacted"
    );
    assert_eq!(
        kv(&read_all(&broker.bootstrap(), &lagged, 0)),
        vec![
            rec(0, "a", Some("1")),
            rec(1, "a", Some("2")),
            rec(2, "a", Some("3"))
        ],
        "batches younger than min.compaction.lag.ms are not compacted"
    );
    // Producing continues at the next offset.
    assert_eq!(
        send_ok(&producer, &topic, 0, &[(Some("k3"), Some("k3-r6"), None)]),
        vec![36]
    );
}

/// D9 in compat-tests/FINDINGS.md: a tombstone produced with a CreateTime older than delete.retention.ms is
/// still served after compaction, with its own timestamp, for delete.retention.ms from the compaction that first
/// kept it: a reader of a compacted topic sees the delete even when the producer kept an old timestamp
/// (mirroring, replays).
#[test]
fn compaction_keeps_a_tombstone_with_an_old_timestamp_until_its_delete_horizon() {
    let broker = Broker::start_with(FAST_CLEANER);
    let topic = unique_topic("compacted-old-tombstone");
    // The default delete.retention.ms (a day).
    create_with(
        &broker,
        &topic,
        1,
        &per_batch_segments(&[("cleanup.policy", "compact")]),
    );
    let producer = producer_for(&broker);
    let two_days_ago = now_ms() - 2 * 24 * 60 * 60 * 1000;
    // Each record is a batch of its own; the sentinel, the last batch, is never compacted.
    next_segment();
    send_ok(&producer, &topic, 0, &[(Some("k"), Some("v"), None)]);
    next_segment();
    send_ok(
        &producer,
        &topic,
        0,
        &[(Some("k"), None, Some(two_days_ago))],
    );
    next_segment();
    send_ok(&producer, &topic, 0, &[(Some("other"), Some("x"), None)]);
    next_segment();
    assert_eq!(
        send_ok(
            &producer,
            &topic,
            0,
            &[(Some("sentinel"), Some("end"), None)]
        ),
        vec![3]
    );
    let expected = vec![
        (1, Some("k".to_string()), None),
        (2, Some("other".to_string()), Some("x".to_string())),
        (3, Some("sentinel".to_string()), Some("end".to_string())),
    ];
    // The pass that drops k=v at offset 0 is the one that sees the tombstone's batch first.
    let mut read = Vec::new();
    let compacted = wait_until(CLEANER_DEADLINE, || {
        read = read_all(&broker.bootstrap(), &topic, 0);
        read.first().is_some_and(|r| r.offset != 0)
    });
    assert!(
        compacted,
        "k=v at offset 0 was never compacted away: {:?}\nbroker log:\n{}",
        kv(&read),
        broker.logs()
    );
    assert_eq!(
        kv(&read),
        expected,
        "the tombstone is served after compaction"
    );
    assert_eq!(
        read[0].timestamp,
        Timestamp::CreateTime(two_days_ago),
        "the rewritten batch keeps the tombstone's timestamp"
    );
    // Later compactions keep it too (its horizon is a day away): other=y and another sentinel make one.
    next_segment();
    send_ok(&producer, &topic, 0, &[(Some("other"), Some("y"), None)]);
    next_segment();
    send_ok(
        &producer,
        &topic,
        0,
        &[(Some("sentinel"), Some("end2"), None)],
    );
    let compacted_again = wait_until(CLEANER_DEADLINE, || {
        read = read_all(&broker.bootstrap(), &topic, 0);
        !read.iter().any(|r| r.offset == 2)
    });
    assert!(
        compacted_again,
        "other=x at offset 2 was never compacted away: {:?}",
        kv(&read)
    );
    assert_eq!(
        kv(&read),
        vec![
            (1, Some("k".to_string()), None),
            (3, Some("sentinel".to_string()), Some("end".to_string())),
            (4, Some("other".to_string()), Some("y".to_string())),
            (5, Some("sentinel".to_string()), Some("end2".to_string())),
        ],
        "the tombstone stays until its horizon"
    );
}

/// A compacted LogAppendTime topic: a rewritten batch keeps its append time, so the records that survive
/// compaction keep the timestamps consumers saw before.
#[test]
fn compaction_keeps_log_append_time_timestamps() {
    let broker = Broker::start_with(FAST_CLEANER);
    let topic = unique_topic("compacted-append-time");
    create_with(
        &broker,
        &topic,
        1,
        &per_batch_segments(&[
            ("cleanup.policy", "compact"),
            ("message.timestamp.type", "LogAppendTime"),
            ("min.compaction.lag.ms", "0"),
        ]),
    );
    let producer = producer_for(&broker);
    let before = now_ms();
    let old = before - 60_000;
    send_ok(
        &producer,
        &topic,
        0,
        &[
            (Some("a"), Some("1"), Some(old)),
            (Some("b"), Some("1"), Some(old)),
            (Some("a"), Some("2"), Some(old + 1)),
        ],
    );
    let after = now_ms();
    next_segment();
    send_ok(
        &producer,
        &topic,
        0,
        &[(Some("sentinel"), Some("end"), None)],
    );

    let mut last = Vec::new();
    let compacted = wait_until(CLEANER_DEADLINE, || {
        last = read_all(&broker.bootstrap(), &topic, 0);
        last.len() == 3
    });
    assert!(compacted, "not compacted: {last:?}");
    assert_eq!(
        kv(&last[..2]),
        vec![
            (1, Some("b".into()), Some("1".into())),
            (2, Some("a".into()), Some("2".into()))
        ]
    );
    for r in &last[..2] {
        match r.timestamp {
            Timestamp::LogAppendTime(t) if (before..=after).contains(&t) => {}
            other => panic!(
                "offset {} after compaction: {other:?}; it was appended in [{before}, {after}] (producer time {old})",
                r.offset
            ),
        }
    }
}

// ---------------------------------------------------------------------------------------------------------
// max.message.bytes and offset validation
// ---------------------------------------------------------------------------------------------------------

/// A topic's max.message.bytes bounds its batches: over it the producer gets MESSAGE_TOO_LARGE, other topics
/// are unaffected, and raising the limit lets the same record through.
#[test]
fn max_message_bytes_per_topic() {
    let broker = Broker::start();
    let small = unique_topic("small-batches");
    let normal = unique_topic("normal-batches");
    create_with(&broker, &small, 1, &[("max.message.bytes", "1024")]);
    create_topic(&broker.bootstrap(), &normal, 1);
    let producer = producer(
        &broker.bootstrap(),
        &[
            ("acks", "all"),
            ("compression.type", "none"),
            ("linger.ms", "0"),
        ],
    );
    let big = "x".repeat(4000);

    assert_eq!(
        send_error(&producer, &small, (Some("k"), Some(&big), None)),
        Some(RDKafkaErrorCode::MessageSizeTooLarge),
        "4000 bytes to a topic with max.message.bytes=1024"
    );
    assert_eq!(
        send_error(&producer, &small, (Some("k"), Some("tiny"), None)),
        None,
        "a small record"
    );
    assert_eq!(
        send_error(&producer, &normal, (Some("k"), Some(&big), None)),
        None,
        "the default limit"
    );

    alter(&broker, &small, &[("max.message.bytes", "10000")]);
    assert_eq!(
        send_error(&producer, &small, (Some("k"), Some(&big), None)),
        None,
        "after raising the limit"
    );
    let consumer = consumer(&broker.bootstrap(), &[]);
    assert_eq!(
        watermarks(&consumer, &small, 1),
        vec![(0, 2)],
        "the refused record took no offset"
    );
}

/// Polls until `n` messages arrived (transport errors while a broker is away are tolerated, any other error
/// fails) or `timeout` passed; returns their offsets.
fn offsets_within(consumer: &BaseConsumer, n: usize, timeout: Duration) -> Vec<i64> {
    let mut offsets = Vec::new();
    let deadline = Instant::now() + timeout;
    while offsets.len() < n && Instant::now() < deadline {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(m)) => offsets.push(m.offset()),
            Some(Err(e)) => match e.rdkafka_error_code() {
                Some(
                    RDKafkaErrorCode::BrokerTransportFailure | RDKafkaErrorCode::AllBrokersDown,
                ) => {}
                _ => panic!("consumer error after {} messages: {e}", offsets.len()),
            },
            None => {}
        }
    }
    offsets
}

/// After a broker restart, consumers go on promptly from where they were, without a reset: one that stayed
/// up through the restart, and one that starts from the position it committed. librdkafka (2.12) validates a
/// position with OffsetForLeaderEpoch only when the leader epoch in Metadata grows or after a seek with an
/// epoch, neither of which happens here (Sluice's epoch is always 0); `python/test_admin.py` seeks with an
/// epoch, and `offset_for_leader_epoch_answers_from_the_log_end` checks the answers themselves.
#[test]
fn consumers_resume_promptly_after_a_restart() {
    // The consumers keep one bootstrap address across the restart; the broker advertises the forwarder's.
    let forwarder = Forwarder::start();
    let mut broker = Broker::start_own_with(&format!(
        "advertise: \"{}\"\nlog_level: \"info,sluice::net::connection=debug\"\n",
        forwarder.addr
    ));
    forwarder.retarget(broker.addr());
    let bootstrap = forwarder.addr.to_string();
    let topic = unique_topic("validated");
    let group = unique_topic("validating-group");
    create_topic(&bootstrap, &topic, 1);
    let producer = producer(&bootstrap, &[("acks", "all")]);
    send_ok(
        &producer,
        &topic,
        0,
        &[(Some("k"), Some("before"), None); 10],
    );

    // "latest": a reset would skip the records produced after the restart, and show.
    let settings = [
        ("auto.offset.reset", "latest"),
        ("group.id", group.as_str()),
    ];
    let consumer = compat_tests::consumer(&bootstrap, &settings);
    let mut assignment = TopicPartitionList::new();
    assignment
        .add_partition_offset(&topic, 0, Offset::Offset(0))
        .expect("add partition");
    consumer.assign(&assignment).expect("assign");
    // Commit from the last message, so the commit carries its batch's leader epoch.
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(15);
    while seen.last() != Some(&9) {
        assert!(
            Instant::now() < deadline,
            "consumed {seen:?} before the restart"
        );
        if let Some(m) = consumer.poll(Duration::from_millis(100)) {
            let m = m.expect("consume before the restart");
            seen.push(m.offset());
            if m.offset() == 9 {
                consumer
                    .commit_message(&m, CommitMode::Sync)
                    .expect("commit after offset 9");
            }
        }
    }
    assert_eq!(seen, (0..10).collect::<Vec<_>>(), "before the restart");

    broker.restart();
    forwarder.retarget(broker.addr());
    let restarted = Instant::now();
    send_ok(
        &producer,
        &topic,
        0,
        &[(Some("k"), Some("after"), None); 10],
    );
    let after = offsets_within(&consumer, 10, Duration::from_secs(20));
    let elapsed = restarted.elapsed();
    assert_eq!(
        after,
        (10..20).collect::<Vec<_>>(),
        "the consumer that stayed up (waited {elapsed:?}); broker log:\n{}",
        broker.logs()
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "consumption resumed only after {elapsed:?}"
    );

    let resumed = compat_tests::consumer(&bootstrap, &settings);
    let mut stored = TopicPartitionList::new();
    stored
        .add_partition_offset(&topic, 0, Offset::Stored)
        .expect("add partition");
    resumed.assign(&stored).expect("assign");
    let started = Instant::now();
    let from_commit = offsets_within(&resumed, 10, Duration::from_secs(20));
    assert_eq!(
        from_commit,
        (10..20).collect::<Vec<_>>(),
        "a consumer starting from the committed offset (waited {:?}); broker log:\n{}",
        started.elapsed(),
        broker.logs()
    );
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "took {:?}",
        started.elapsed()
    );
    let validated = broker.logs().contains("api=OffsetForLeaderEpoch");
    eprintln!(
        "resumed {elapsed:?} after the restart; from the commit in {:?}; OffsetForLeaderEpoch sent: {validated}",
        started.elapsed()
    );
}

// ---------------------------------------------------------------------------------------------------------
// APIs no client here sends: DescribeTopicPartitions and OffsetForLeaderEpoch, raw
// ---------------------------------------------------------------------------------------------------------

/// `(topic, [partitions])` of each described topic and the next cursor, from one DescribeTopicPartitions page.
type Page = (Vec<(String, i16, Vec<i32>)>, Option<(String, i32)>);

fn describe_partitions_page(
    broker: &Broker,
    topics: &[&str],
    limit: i32,
    cursor: Option<(&str, i32)>,
) -> Page {
    use kafka_protocol::messages::describe_topic_partitions_request::{Cursor, TopicRequest};
    use kafka_protocol::messages::DescribeTopicPartitionsRequest;
    let request = DescribeTopicPartitionsRequest::default()
        .with_topics(
            topics
                .iter()
                .map(|t| TopicRequest::default().with_name(str_bytes(t).into()))
                .collect(),
        )
        .with_response_partition_limit(limit)
        .with_cursor(cursor.map(|(t, p)| {
            Cursor::default()
                .with_topic_name(str_bytes(t).into())
                .with_partition_index(p)
        }));
    let response = RawConn::connect(broker.addr()).request(0, &request);
    let topics = response
        .topics
        .iter()
        .map(|t| {
            for p in &t.partitions {
                assert_eq!(
                    (p.leader_id.0, p.leader_epoch, p.error_code),
                    (1, 0, 0),
                    "partition {}",
                    p.partition_index
                );
            }
            (
                t.name.as_deref().map(|n| n.to_string()).unwrap_or_default(),
                t.error_code,
                t.partitions.iter().map(|p| p.partition_index).collect(),
            )
        })
        .collect();
    let cursor = response
        .next_cursor
        .map(|c| (c.topic_name.to_string(), c.partition_index));
    (topics, cursor)
}

/// DescribeTopicPartitions v0 pages through partitions in topic-name order with a cursor, as Kafka does: a
/// page that ends exactly at a topic boundary points the cursor at the next topic without listing it.
#[test]
fn describe_topic_partitions_pages_with_a_cursor() {
    let broker = Broker::start();
    let a = unique_topic("dtp-a");
    let b = unique_topic("dtp-b");
    create_topic(&broker.bootstrap(), &a, 3);
    create_topic(&broker.bootstrap(), &b, 2);
    let missing = format!("{b}-zz-missing");
    let page =
        |limit, cursor| describe_partitions_page(&broker, &[&b, &missing, &a], limit, cursor);
    let t = |name: &str, code: i16, ps: &[i32]| (name.to_string(), code, ps.to_vec());
    let unknown = code(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART);

    assert_eq!(
        page(10, None),
        (
            vec![
                t(&a, 0, &[0, 1, 2]),
                t(&b, 0, &[0, 1]),
                t(&missing, unknown, &[])
            ],
            None
        ),
        "everything fits"
    );
    assert_eq!(
        page(2, None),
        (vec![t(&a, 0, &[0, 1])], Some((a.clone(), 2))),
        "page 1 of 3"
    );
    assert_eq!(
        page(2, Some((&a, 2))),
        (vec![t(&a, 0, &[2]), t(&b, 0, &[0])], Some((b.clone(), 1))),
        "page 2 of 3"
    );
    assert_eq!(
        page(2, Some((&b, 1))),
        (vec![t(&b, 0, &[1]), t(&missing, unknown, &[])], None),
        "page 3 of 3"
    );
    assert_eq!(
        page(3, None),
        (vec![t(&a, 0, &[0, 1, 2])], Some((b.clone(), 0))),
        "a page that ends with a topic: the cursor names the next topic, which is not listed"
    );
}

/// OffsetForLeaderEpoch: the only epoch, 0, ends at the high watermark; a client's current epoch above or
/// below the leader's is UNKNOWN_LEADER_EPOCH or FENCED_LEADER_EPOCH; an unknown partition is an error.
#[test]
fn offset_for_leader_epoch_answers_from_the_log_end() {
    use kafka_protocol::messages::offset_for_leader_epoch_request::{
        OffsetForLeaderPartition, OffsetForLeaderTopic,
    };
    use kafka_protocol::messages::{BrokerId, OffsetForLeaderEpochRequest};
    let broker = Broker::start();
    let topic = unique_topic("epochs");
    create_topic(&broker.bootstrap(), &topic, 1);
    send_ok(
        &producer_for(&broker),
        &topic,
        0,
        &[(Some("k"), Some("v"), None); 7],
    );
    let version = Versions::fetch(broker.addr()).pick(ApiKey::OffsetForLeaderEpoch, 2, 4);
    let ask = |partition: i32, current: i32, epoch: i32| {
        let request = OffsetForLeaderEpochRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_topics(vec![OffsetForLeaderTopic::default()
                .with_topic(str_bytes(&topic).into())
                .with_partitions(vec![OffsetForLeaderPartition::default()
                    .with_partition(partition)
                    .with_current_leader_epoch(current)
                    .with_leader_epoch(epoch)])]);
        let response = RawConn::connect(broker.addr()).request(version, &request);
        let p = &response.topics[0].partitions[0];
        (p.error_code, p.leader_epoch, p.end_offset)
    };
    assert_eq!(ask(0, 0, 0), (0, 0, 7), "epoch 0 ends at the log end");
    assert_eq!(ask(0, -1, 0), (0, 0, 7), "no current epoch to check");
    assert_eq!(
        ask(0, 1, 0).0,
        code(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_LEADER_EPOCH)
    );
    assert_eq!(ask(0, 0, 3), (0, -1, -1), "an epoch the leader never had");
    assert_eq!(
        ask(5, 0, 0).0,
        code(RDKafkaRespErr::RD_KAFKA_RESP_ERR_UNKNOWN_TOPIC_OR_PART)
    );
}
