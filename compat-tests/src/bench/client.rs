//! librdkafka plumbing the scenarios share.
//!
//! The harness's helpers panic on any error, which suits a test; a bench reports the error and moves on to
//! its next case, so the admin calls here return `Result`. [`BenchContext`] is the client context of every
//! producer and of the throughput consumer: it counts delivery reports, records their latency, and keeps the
//! `rtt` windows, batch sizes and request counts from librdkafka's statistics events.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::{ClientConfig, RDKafkaLogLevel};
use rdkafka::consumer::ConsumerContext;
use rdkafka::error::KafkaError;
use rdkafka::producer::{BaseProducer, DeliveryResult, Producer, ProducerContext};
use rdkafka::statistics::Statistics;
use rdkafka::ClientContext;

use super::latency::{self, Summary, WindowMerge};

/// Bound on one admin call (CreateTopics, DeleteTopics, Metadata) over loopback.
pub const ADMIN_TIMEOUT: Duration = Duration::from_secs(60);

/// The process-wide origin of the nanosecond timestamps the bench embeds in opaques and payloads.
pub fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

/// Nanoseconds since [`epoch`].
pub fn now_nanos() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

/// `-X key=value` settings from the command line, applied to every client after the bench's own.
static EXTRA: OnceLock<Vec<(String, String)>> = OnceLock::new();

pub fn set_extra(settings: Vec<(String, String)>) {
    let _ = EXTRA.set(settings);
}

pub fn config(bootstrap: &str, settings: &[(String, String)]) -> ClientConfig {
    let mut config = ClientConfig::new();
    config.set("bootstrap.servers", bootstrap);
    let extra = EXTRA.get().map_or(&[][..], Vec::as_slice);
    for (key, value) in settings.iter().chain(extra) {
        config.set(key, value);
    }
    // The rdkafka crate derives librdkafka's log level from the `log` crate's, which is off here: ask for
    // warnings, and for debug lines when `-X debug=...` wants them.
    let debug = extra.iter().any(|(k, _)| k == "debug");
    config.set_log_level(if debug {
        RDKafkaLogLevel::Debug
    } else {
        RDKafkaLogLevel::Warning
    });
    config
}

/// `[("k", "v"), ...]` as owned pairs.
pub fn pairs(settings: &[(&str, &str)]) -> Vec<(String, String)> {
    settings
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// `k=v k=v ...` for the settings header.
pub fn render(settings: &[(String, String)]) -> String {
    settings
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn admin(bootstrap: &str) -> Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("client.id", "sluice-bench-admin")
        .create()
        .context("creating an admin client")
}

fn options() -> AdminOptions {
    AdminOptions::new()
        .request_timeout(Some(ADMIN_TIMEOUT))
        .operation_timeout(Some(ADMIN_TIMEOUT))
}

/// Creates every topic in one CreateTopics request; fails on the first per-topic error.
pub fn create_topics(bootstrap: &str, names: &[String], partitions: i32) -> Result<()> {
    let admin = admin(bootstrap)?;
    let topics: Vec<NewTopic> = names
        .iter()
        .map(|n| NewTopic::new(n, partitions, TopicReplication::Fixed(1)))
        .collect();
    let results =
        compat_tests::block_on(admin.create_topics(&topics, &options())).context("CreateTopics")?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("CreateTopics {topic}: {code:?}");
        }
    }
    Ok(())
}

/// Deletes topics; the bench deletes what it produced so that long runs do not fill the disk.
pub fn delete_topics(bootstrap: &str, names: &[String]) -> Result<()> {
    let admin = admin(bootstrap)?;
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let results =
        compat_tests::block_on(admin.delete_topics(&names, &options())).context("DeleteTopics")?;
    for result in results {
        if let Err((topic, code)) = result {
            bail!("DeleteTopics {topic}: {code:?}");
        }
    }
    Ok(())
}

/// Waits (up to [`ADMIN_TIMEOUT`]) until the broker's Metadata lists `topic` with `partitions` partitions, each
/// with a leader. Kafka can answer CreateTopics before its own metadata lists the topic, and a consumer that
/// subscribes in between gets UNKNOWN_TOPIC_OR_PARTITION; Sluice lists it at once. Not timed by any case.
pub fn wait_for_leaders(bootstrap: &str, topic: &str, partitions: i32) -> Result<()> {
    let client: BaseProducer = config(bootstrap, &[])
        .create()
        .context("creating a metadata client")?;
    let deadline = Instant::now() + ADMIN_TIMEOUT;
    loop {
        let metadata = client
            .client()
            .fetch_metadata(Some(topic), ADMIN_TIMEOUT)
            .with_context(|| format!("Metadata for {topic}"))?;
        let ready = metadata.topics().iter().any(|t| {
            t.name() == topic
                && t.error().is_none()
                && t.partitions().len() == partitions as usize
                && t.partitions()
                    .iter()
                    .all(|p| p.error().is_none() && p.leader() >= 0)
        });
        if ready {
            return Ok(());
        }
        if Instant::now() >= deadline {
            bail!("Metadata does not list {topic} with {partitions} led partitions after {ADMIN_TIMEOUT:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A topic name no earlier run against the same broker used.
pub fn topic_name(prefix: &str) -> String {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    format!(
        "bench-{prefix}-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    )
}

/// The context of every bench producer. The delivery opaque is the send time in [`now_nanos`].
pub struct BenchContext {
    acked: AtomicU64,
    failed: AtomicU64,
    /// [`now_nanos`] of the latest delivery report.
    last_report: AtomicU64,
    /// Statistics events seen, empty windows included.
    stats_events: AtomicU64,
    first_error: Mutex<Option<String>>,
    /// Send to delivery report, microseconds.
    delivery: Mutex<Histogram<u64>>,
    rtt: Mutex<WindowMerge>,
    /// Sum of (window average × window count) and of counts, for records and bytes per produced batch.
    batches: Mutex<BatchTotals>,
    /// Requests sent so far by type (`Produce`, `Fetch`, ...), summed over brokers, from the latest statistics.
    requests: Mutex<HashMap<String, i64>>,
}

#[derive(Default)]
struct BatchTotals {
    records_weighted: f64,
    bytes_weighted: f64,
    batches: f64,
}

impl Default for BenchContext {
    fn default() -> Self {
        BenchContext {
            acked: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            last_report: AtomicU64::new(0),
            stats_events: AtomicU64::new(0),
            first_error: Mutex::new(None),
            delivery: Mutex::new(latency::histogram()),
            rtt: Mutex::new(WindowMerge::default()),
            batches: Mutex::new(BatchTotals::default()),
            requests: Mutex::new(HashMap::new()),
        }
    }
}

impl BenchContext {
    pub fn acked(&self) -> u64 {
        self.acked.load(Ordering::Acquire)
    }

    pub fn failed(&self) -> u64 {
        self.failed.load(Ordering::Acquire)
    }

    /// Delivery reports so far, successful or not.
    pub fn reported(&self) -> u64 {
        self.acked() + self.failed()
    }

    pub fn last_report_nanos(&self) -> u64 {
        self.last_report.load(Ordering::Acquire)
    }

    pub fn first_error(&self) -> Option<String> {
        self.first_error.lock().expect("lock").clone()
    }

    fn note_error(&self, error: String) {
        let mut first = self.first_error.lock().expect("lock");
        if first.is_none() {
            *first = Some(error);
        }
    }

    pub fn delivery_latency(&self) -> Option<Summary> {
        Summary::of(&self.delivery.lock().expect("lock"))
    }

    pub fn rtt(&self) -> (Option<Summary>, u64, i64) {
        let rtt = self.rtt.lock().expect("lock");
        (rtt.summary(), rtt.windows, rtt.out_of_range)
    }

    /// Requests of type `kind` (`Produce`, `Fetch`, ...) sent up to the latest statistics event.
    pub fn requests(&self, kind: &str) -> i64 {
        self.requests
            .lock()
            .expect("lock")
            .get(kind)
            .copied()
            .unwrap_or(0)
    }

    pub fn stats_events(&self) -> u64 {
        self.stats_events.load(Ordering::Acquire)
    }

    /// Average records and bytes per produced batch (MessageSet), over every statistics window.
    pub fn batch_averages(&self) -> Option<(f64, f64)> {
        let b = self.batches.lock().expect("lock");
        (b.batches > 0.0).then(|| (b.records_weighted / b.batches, b.bytes_weighted / b.batches))
    }
}

impl ClientContext for BenchContext {
    fn stats(&self, statistics: Statistics) {
        {
            let mut rtt = self.rtt.lock().expect("lock");
            let mut requests = HashMap::new();
            for broker in statistics.brokers.values() {
                // Bootstrap connections (node id -1) only fetch the first metadata: left out of the round
                // trips. Requests are counted on every connection, for the transaction coordinator's is a
                // logical broker with node id -1 too.
                if let (Some(window), true) = (&broker.rtt, broker.nodeid >= 0) {
                    rtt.add(window);
                }
                for (kind, count) in &broker.req {
                    *requests.entry(kind.clone()).or_insert(0) += count;
                }
            }
            *self.requests.lock().expect("lock") = requests;
        }
        {
            let mut batches = self.batches.lock().expect("lock");
            for topic in statistics.topics.values() {
                let (count, size) = (&topic.batchcnt, &topic.batchsize);
                if count.cnt > 0 {
                    batches.records_weighted += count.avg as f64 * count.cnt as f64;
                    batches.bytes_weighted += size.avg as f64 * size.cnt as f64;
                    batches.batches += count.cnt as f64;
                }
            }
        }
        self.stats_events.fetch_add(1, Ordering::AcqRel);
    }

    /// librdkafka's log lines (warnings, and everything `-X debug=...` asks for) go to stderr.
    fn log(&self, level: RDKafkaLogLevel, fac: &str, log_message: &str) {
        eprintln!(
            "librdkafka {level:?} {fac} {:.3}: {log_message}",
            epoch().elapsed().as_secs_f64()
        );
    }

    fn error(&self, error: KafkaError, reason: &str) {
        self.note_error(format!("librdkafka: {error}: {reason}"));
    }
}

impl ConsumerContext for BenchContext {}

impl ProducerContext for BenchContext {
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_nanos: usize) {
        let now = now_nanos();
        match result {
            Ok(_) => {
                let micros = now.saturating_sub(sent_nanos as u64) / 1000;
                self.delivery
                    .lock()
                    .expect("lock")
                    .saturating_record(micros.max(1));
                self.last_report.fetch_max(now, Ordering::AcqRel);
                self.acked.fetch_add(1, Ordering::AcqRel);
            }
            Err((error, _)) => {
                self.note_error(format!("delivery failed: {error}"));
                self.last_report.fetch_max(now, Ordering::AcqRel);
                self.failed.fetch_add(1, Ordering::AcqRel);
            }
        }
    }
}

/// Record values: pseudo-English text from a fixed seed, so that lz4 finds about as much to squeeze as in
/// log lines or JSON (a constant or all-random payload would flatter or starve the codec). Record `i` is a
/// window into a 4 MiB corpus, larger than lz4's 64 KiB match window, so records do not repeat inside a batch.
pub struct Payloads {
    corpus: Vec<u8>,
}

const CORPUS_BYTES: usize = 4 << 20;

impl Payloads {
    pub fn new() -> Payloads {
        const WORDS: &[&str] = &[
            "the",
            "sluice",
            "broker",
            "record",
            "offset",
            "partition",
            "topic",
            "consumer",
            "producer",
            "batch",
            "request",
            "latency",
            "of",
            "and",
            "to",
            "in",
            "with",
            "error",
            "status",
            "ok",
            "user",
            "session",
            "order",
            "id",
            "event",
            "click",
            "page",
            "value",
            "timestamp",
            "key",
            "region",
            "eu-west",
            "us-east",
            "200",
            "404",
            "GET",
            "POST",
            "/api/v1/items",
            "true",
            "false",
            "null",
            "{",
            "}",
            ":",
            ",",
        ];
        let mut rng = 0x9E37_79B9_7F4A_7C15u64;
        let mut next = move || {
            // xorshift64*: fast, deterministic, good enough to pick words and digits.
            rng ^= rng >> 12;
            rng ^= rng << 25;
            rng ^= rng >> 27;
            rng.wrapping_mul(0x2545_F491_4F6C_DD1D)
        };
        let mut corpus = Vec::with_capacity(CORPUS_BYTES + 64);
        while corpus.len() < CORPUS_BYTES {
            let r = next();
            if r % 5 == 0 {
                // A number: the part of real payloads that compresses worst.
                let digits = (r >> 8).to_string();
                let n = ((r >> 4) % 9 + 1) as usize;
                corpus.extend_from_slice(&digits.as_bytes()[..n.min(digits.len())]);
            } else {
                corpus.extend_from_slice(WORDS[(r >> 8) as usize % WORDS.len()].as_bytes());
            }
            corpus.push(b' ');
        }
        Payloads { corpus }
    }

    /// Value of record `i` when every value is `size` bytes long.
    pub fn get(&self, i: u64, size: usize) -> &[u8] {
        let span = self.corpus.len() - size;
        let start = (i as usize).wrapping_mul(size) % span;
        &self.corpus[start..start + size]
    }
}

/// An error if `size` does not fit the corpus.
pub fn check_record_size(size: usize) -> Result<()> {
    if size == 0 || size > CORPUS_BYTES / 2 {
        return Err(anyhow!(
            "record size {size} out of range (1..={})",
            CORPUS_BYTES / 2
        ));
    }
    Ok(())
}
