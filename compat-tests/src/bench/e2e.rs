//! Scenario 3, end-to-end latency at a fixed rate: the time from `send` in the producer to the record's
//! arrival at a consumer's `poll`, both in this process, so one monotonic clock serves both ends.
//!
//! Each 100-byte value starts with the send time (nanoseconds since the bench's epoch, big-endian) and a
//! phase byte. A warm-up phase (phase 0) runs until the consumer has received something, so connection and
//! metadata set-up on either side are not measured; then `rate × duration` records (phase 1) are sent on a
//! schedule (records due by now are sent, then the thread sleeps until the next is due) and their latency
//! recorded. If the producer falls behind its schedule, the achieved rate in the report shows it; latency is
//! from the actual send, so it does not include time the bench itself was late.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::message::Message;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::client::{self, BenchContext};
use super::consume;
use super::latency::{self, Summary};
use super::produce::{MESSAGE_TIMEOUT_MS, STATS_INTERVAL_MS};
use super::report::{self, Row};
use super::run::Bench;

pub const RECORD_SIZE: usize = 100;
pub const WARMUP: Duration = Duration::from_millis(500);
/// Bound on the warm-up (until the consumer sees a record) and on draining the last records after sending.
pub const SETTLE_TIMEOUT: Duration = Duration::from_secs(15);

pub fn producer_settings() -> Vec<(String, String)> {
    client::pairs(&[
        ("client.id", "sluice-bench-e2e-producer"),
        ("acks", "all"),
        ("linger.ms", "0"),
        ("compression.type", "none"),
        ("enable.idempotence", "false"),
        ("message.timeout.ms", &MESSAGE_TIMEOUT_MS.to_string()),
        ("statistics.interval.ms", &STATS_INTERVAL_MS.to_string()),
    ])
}

#[derive(Debug, Clone, Serialize)]
pub struct E2eOutcome {
    pub target_rate: u64,
    pub achieved_rate: f64,
    pub sent: u64,
    pub received: u64,
    pub seconds: f64,
    pub latency: Option<Summary>,
    /// Produce-request round trips during the run (librdkafka statistics).
    pub rtt: Option<Summary>,
}

/// What the consumer thread and the producer share: what the consumer has seen, and when to stop.
pub struct Shared {
    pub warmup_seen: AtomicU64,
    pub measured_seen: AtomicU64,
    pub stop: AtomicBool,
}

impl Shared {
    pub fn new() -> Arc<Shared> {
        Arc::new(Shared {
            warmup_seen: AtomicU64::new(0),
            measured_seen: AtomicU64::new(0),
            stop: AtomicBool::new(false),
        })
    }
}

pub fn run(bootstrap: &str, topic: &str, rate: u64, duration: Duration) -> Result<E2eOutcome> {
    if rate == 0 {
        bail!("rate must be positive");
    }
    let shared = Shared::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    let consumer_thread = {
        let shared = Arc::clone(&shared);
        let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
        let mut settings = consume::consumer_settings();
        settings.push(("client.id".into(), "sluice-bench-e2e-consumer".into()));
        thread::spawn(move || consume(&bootstrap, &topic, &settings, &shared, ready_tx))
    };
    let result = (|| {
        ready_rx
            .recv_timeout(SETTLE_TIMEOUT)
            .map_err(|_| anyhow!("the consumer did not start"))??;
        produce(bootstrap, topic, rate, duration, &shared)
    })();
    shared.stop.store(true, Ordering::Release);
    let hist = consumer_thread
        .join()
        .map_err(|_| anyhow!("the consumer thread panicked"))??;
    let mut outcome = result?;
    outcome.received = hist.len();
    outcome.latency = Summary::of(&hist);
    if outcome.received < outcome.sent {
        bail!(
            "{} of {} acknowledged records reached the consumer within {SETTLE_TIMEOUT:?}",
            outcome.received,
            outcome.sent
        );
    }
    Ok(outcome)
}

/// The consumer side (also the transactions scenario's): assigns partition 0 of `topic` from the beginning,
/// says on `ready` that it has, then records send-to-`poll()` latency of every phase-1 record until told to
/// stop. Values start with the send time (see the module comment).
pub fn consume(
    bootstrap: &str,
    topic: &str,
    settings: &[(String, String)],
    shared: &Shared,
    ready: mpsc::Sender<Result<()>>,
) -> Result<Histogram<u64>> {
    let setup = || -> Result<BaseConsumer> {
        let consumer: BaseConsumer = client::config(bootstrap, settings).create()?;
        let mut assignment = TopicPartitionList::new();
        assignment.add_partition_offset(topic, 0, Offset::Beginning)?;
        consumer.assign(&assignment)?;
        Ok(consumer)
    };
    let consumer = match setup() {
        Ok(c) => {
            let _ = ready.send(Ok(()));
            c
        }
        Err(e) => {
            let _ = ready.send(Err(anyhow!("creating the consumer: {e:#}")));
            return Err(e);
        }
    };
    let mut hist = latency::histogram();
    while !shared.stop.load(Ordering::Acquire) {
        match consumer.poll(Duration::from_millis(20)) {
            Some(Ok(message)) => {
                let now = client::now_nanos();
                let value = message.payload().unwrap_or_default();
                if value.len() < 9 {
                    bail!("record without a timestamp at offset {}", message.offset());
                }
                let sent = u64::from_be_bytes(value[0..8].try_into().expect("8 bytes"));
                if value[8] == 0 {
                    shared.warmup_seen.fetch_add(1, Ordering::AcqRel);
                } else {
                    hist.saturating_record((now.saturating_sub(sent) / 1000).max(1));
                    shared.measured_seen.fetch_add(1, Ordering::AcqRel);
                }
            }
            Some(Err(e)) => bail!("consumer error: {e}"),
            None => {}
        }
    }
    Ok(hist)
}

fn produce(
    bootstrap: &str,
    topic: &str,
    rate: u64,
    duration: Duration,
    shared: &Shared,
) -> Result<E2eOutcome> {
    let producer: BaseProducer<BenchContext> = client::config(bootstrap, &producer_settings())
        .create_with_context(BenchContext::default())
        .context("creating the producer")?;
    let mut value = [b'x'; RECORD_SIZE];
    let mut send = |phase: u8| -> Result<()> {
        let now = client::now_nanos();
        value[0..8].copy_from_slice(&now.to_be_bytes());
        value[8] = phase;
        let mut record: BaseRecord<[u8], [u8], usize> =
            BaseRecord::with_opaque_to(topic, now as usize)
                .partition(0)
                .payload(&value[..]);
        loop {
            match producer.send(record) {
                Ok(()) => return Ok(()),
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                }
                Err((e, _)) => bail!("enqueueing: {e}"),
            }
        }
    };

    // Warm-up: at the same rate, until the consumer has seen a record (and at least WARMUP).
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= WARMUP && shared.warmup_seen.load(Ordering::Acquire) > 0 {
            break;
        }
        if elapsed >= SETTLE_TIMEOUT {
            bail!("no record reached the consumer within {SETTLE_TIMEOUT:?} of warm-up");
        }
        n = pace(start, rate, n, u64::MAX, |_| send(0))?;
        producer.poll(Duration::ZERO);
    }

    // Measured phase.
    let total = (rate as f64 * duration.as_secs_f64()).round() as u64;
    let start = Instant::now();
    let mut sent = 0u64;
    while sent < total {
        let before = sent;
        sent = pace(start, rate, sent, total, |_| send(1))?;
        if sent == before {
            producer.poll(Duration::ZERO);
        }
        if start.elapsed() > duration + SETTLE_TIMEOUT {
            bail!(
                "sent only {sent} of {total} records in {:?}",
                start.elapsed()
            );
        }
    }
    let seconds = start.elapsed().as_secs_f64();

    let deadline = Instant::now() + Duration::from_millis(MESSAGE_TIMEOUT_MS);
    let context = producer.context();
    let expected_reports = n + sent;
    while context.reported() < expected_reports {
        if Instant::now() >= deadline {
            bail!(
                "{} of {expected_reports} delivery reports",
                context.reported()
            );
        }
        producer.poll(Duration::from_millis(1));
    }
    if context.failed() > 0 {
        bail!(
            "{} records failed: {}",
            context.failed(),
            context.first_error().unwrap_or_default()
        );
    }
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while shared.measured_seen.load(Ordering::Acquire) < sent && Instant::now() < deadline {
        producer.poll(Duration::from_millis(5));
    }
    // Close the statistics window holding the last requests.
    let events = context.stats_events();
    let stats_deadline = Instant::now() + Duration::from_millis(3 * STATS_INTERVAL_MS);
    while context.stats_events() == events && Instant::now() < stats_deadline {
        producer.poll(Duration::from_millis(10));
    }
    Ok(E2eOutcome {
        target_rate: rate,
        achieved_rate: sent as f64 / seconds.max(1e-9),
        sent,
        received: 0,
        seconds,
        latency: None,
        rtt: context.rtt().0,
    })
}

/// Sends every record due by now (up to `limit` in all) on a `rate`-per-second schedule that began at
/// `start`, `done` having been sent so far, then sleeps until the next is due (at most 1 ms). Returns the
/// new count.
fn pace(
    start: Instant,
    rate: u64,
    mut done: u64,
    limit: u64,
    mut send: impl FnMut(u64) -> Result<()>,
) -> Result<u64> {
    let due = ((start.elapsed().as_secs_f64() * rate as f64) as u64).min(limit);
    while done < due {
        send(done)?;
        done += 1;
    }
    let next = start + Duration::from_secs_f64((done + 1) as f64 / rate as f64);
    let wait = next.saturating_duration_since(Instant::now());
    if !wait.is_zero() {
        thread::sleep(wait.min(Duration::from_millis(1)));
    }
    Ok(done)
}

/// One run per rate, each on a fresh one-partition topic.
pub fn scenario(bench: &mut Bench) {
    for rate in bench.options.e2e_rates.clone() {
        let case = report::e2e_case(rate);
        bench.case("e2e", &case, |b| {
            let bootstrap = b.bootstrap();
            let topic = client::topic_name("e2e");
            client::create_topics(&bootstrap, std::slice::from_ref(&topic), 1)?;
            let duration = Duration::from_secs_f64(b.options.e2e_seconds);
            let meter = b.meter();
            let outcome = run(&bootstrap, &topic, rate, duration);
            let cost = Bench::finish(meter);
            if !b.options.keep_topics {
                let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
            }
            let outcome = outcome?;
            let mut row = Row::new("e2e", &case)
                .throughput(
                    outcome.received,
                    outcome.received * RECORD_SIZE as u64,
                    outcome.seconds,
                )
                .latency("e2e", outcome.latency)
                .cost(cost);
            // The row's rate is received / sending time; say how close the sender kept to its schedule.
            if outcome.achieved_rate < 0.95 * rate as f64 {
                row = row.note(format!(
                    "sender reached only {} rec/s",
                    report::human(outcome.achieved_rate)
                ));
            }
            if let Some(rtt) = outcome.rtt {
                row = row.note(format!(
                    "produce rtt p50 {} ms p99 {} ms",
                    report::human(rtt.p50_ms),
                    report::human(rtt.p99_ms)
                ));
            }
            Ok(vec![row.details(outcome)])
        });
    }
}
