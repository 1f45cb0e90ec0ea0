//! Scenario 1, produce throughput, and the producer loop other scenarios reuse (the consume scenario's
//! preload, the scale scenario's producers).
//!
//! One `BaseProducer` driven from this thread, as librdkafka's `rdkafka_performance` does: `send` until the
//! local queue is full, then `poll` to serve delivery reports until it has room. The clock runs from the
//! first `send` to the last delivery report, so records/s counts acknowledged records, not enqueued ones.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::Serialize;

use super::client::{self, BenchContext, Payloads};
use super::latency::Summary;
use super::report::{self, Row};
use super::run::Bench;

/// librdkafka statistics interval: short enough that a sub-second quick case still gets whole windows.
pub const STATS_INTERVAL_MS: u64 = 200;
/// librdkafka's message.timeout.ms for bench producers: a stuck broker fails a case within this bound.
pub const MESSAGE_TIMEOUT_MS: u64 = 60_000;

/// Producer settings for a throughput run (everything but bootstrap.servers).
pub fn throughput_settings(acks: &str, compression: &str) -> Vec<(String, String)> {
    client::pairs(&[
        ("client.id", "sluice-bench-producer"),
        ("acks", acks),
        ("compression.type", compression),
        ("linger.ms", "5"),
        ("batch.size", "1048576"),
        ("queue.buffering.max.messages", "1000000"),
        ("queue.buffering.max.kbytes", "1048576"),
        ("enable.idempotence", "false"),
        ("message.timeout.ms", &MESSAGE_TIMEOUT_MS.to_string()),
        ("statistics.interval.ms", &STATS_INTERVAL_MS.to_string()),
    ])
}

pub struct ProduceSpec {
    /// Records go to these topics in turn; librdkafka's partitioner picks the partition (no keys).
    pub topics: Vec<String>,
    pub record_size: usize,
    pub records: u64,
    pub settings: Vec<(String, String)>,
    /// Sending stops here even if fewer than `records` were sent; the outcome says so.
    pub time_limit: Duration,
}

#[derive(Debug, Clone, Serialize)]
pub struct ProduceOutcome {
    pub sent: u64,
    pub acked: u64,
    pub failed: u64,
    pub first_error: Option<String>,
    /// First send to last delivery report.
    pub seconds: f64,
    pub hit_time_limit: bool,
    /// Broker round-trip time per request, from librdkafka's statistics (see `latency`).
    pub rtt: Option<Summary>,
    pub rtt_windows: u64,
    /// Send call to delivery report per message, exact; includes time queued in the client.
    pub delivery: Option<Summary>,
    pub avg_batch_records: Option<f64>,
    pub avg_batch_bytes: Option<f64>,
}

impl ProduceOutcome {
    pub fn records_per_sec(&self) -> f64 {
        self.acked as f64 / self.seconds.max(1e-9)
    }
}

pub fn run(bootstrap: &str, spec: &ProduceSpec, payloads: &Payloads) -> Result<ProduceOutcome> {
    client::check_record_size(spec.record_size)?;
    let producer: BaseProducer<BenchContext> = client::config(bootstrap, &spec.settings)
        .create_with_context(BenchContext::default())
        .context("creating the producer")?;
    // Connect and learn the partitions before the clock starts.
    producer
        .client()
        .fetch_metadata(Some(&spec.topics[0]), client::ADMIN_TIMEOUT)
        .with_context(|| format!("Metadata for {}", spec.topics[0]))?;

    let start_nanos = client::now_nanos();
    let start = Instant::now();
    let stop_at = start + spec.time_limit;
    let mut sent = 0u64;
    let mut hit_time_limit = false;
    while sent < spec.records {
        let topic = &spec.topics[(sent % spec.topics.len() as u64) as usize];
        let mut record: BaseRecord<[u8], [u8], usize> =
            BaseRecord::with_opaque_to(topic, client::now_nanos() as usize)
                .payload(payloads.get(sent, spec.record_size));
        loop {
            match producer.send(record) {
                Ok(()) => break,
                Err((KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull), back)) => {
                    record = back;
                    producer.poll(Duration::from_millis(1));
                    if let Some(e) = producer.context().first_error() {
                        if producer.context().failed() > 0 {
                            bail!("after {sent} records: {e}");
                        }
                    }
                }
                Err((e, _)) => bail!("enqueueing record {sent}: {e}"),
            }
        }
        sent += 1;
        if sent.is_multiple_of(1024) {
            producer.poll(Duration::ZERO);
            if Instant::now() >= stop_at {
                hit_time_limit = true;
                break;
            }
        }
    }

    // Serve delivery reports until every record has one; librdkafka fails a record after message.timeout.ms,
    // so this ends within that bound even if the broker stops answering.
    let reports_deadline = Instant::now() + Duration::from_millis(MESSAGE_TIMEOUT_MS + 10_000);
    let context = producer.context();
    while context.reported() < sent {
        if Instant::now() >= reports_deadline {
            bail!(
                "{} of {sent} delivery reports after waiting {}s",
                context.reported(),
                MESSAGE_TIMEOUT_MS / 1000 + 10
            );
        }
        producer.poll(Duration::from_millis(1));
    }
    let seconds = context.last_report_nanos().saturating_sub(start_nanos) as f64 / 1e9;

    // One more statistics event closes the window holding the last requests.
    let events = context.stats_events();
    let stats_deadline = Instant::now() + Duration::from_millis(3 * STATS_INTERVAL_MS);
    while context.stats_events() == events && Instant::now() < stats_deadline {
        producer.poll(Duration::from_millis(10));
    }
    let (rtt, rtt_windows, _) = context.rtt();
    let batches = context.batch_averages();
    Ok(ProduceOutcome {
        sent,
        acked: context.acked(),
        failed: context.failed(),
        first_error: context.first_error(),
        seconds,
        hit_time_limit,
        rtt,
        rtt_windows,
        delivery: context.delivery_latency(),
        avg_batch_records: batches.map(|b| b.0),
        avg_batch_bytes: batches.map(|b| b.1),
    })
}

/// Untimed, before the first case: `records` 100-byte records to each broker, half with acks=1 and no
/// compression, half with acks=all and lz4, on a fresh one-partition topic, so that a JVM broker's JIT has
/// compiled its produce path before anything is measured. Failures are printed, not fatal: the cases will
/// show them.
pub fn warm_up(bench: &Bench, records: u64) {
    for broker in &bench.brokers {
        let bootstrap = broker.target.bootstrap.clone();
        for (acks, compression) in [("1", "none"), ("all", "lz4")] {
            let n = (records / 2).max(1);
            eprintln!(
                "sluice-bench: [{}] warm-up: {n} x 100 B, acks={acks}, {compression} (not timed)",
                broker.target.name
            );
            let topic = client::topic_name("warm-up");
            let spec = ProduceSpec {
                topics: vec![topic.clone()],
                record_size: 100,
                records: n,
                settings: throughput_settings(acks, compression),
                time_limit: bench.options.case_time_limit,
            };
            let result = client::create_topics(&bootstrap, &spec.topics, 1)
                .and_then(|()| run(&bootstrap, &spec, &bench.payloads));
            let _ = client::delete_topics(&bootstrap, &spec.topics);
            match result {
                Ok(o) => eprintln!(
                    "sluice-bench:   {} rec/s",
                    report::human(o.records_per_sec())
                ),
                Err(e) => eprintln!("sluice-bench:   warm-up failed: {e:#}"),
            }
        }
    }
}

/// Every combination of value size, partition count, acks and compression, one fresh topic each.
pub fn scenario(bench: &mut Bench) {
    for size in [100usize, 1024] {
        for partitions in [1, 8] {
            for acks in ["1", "all"] {
                for compression in ["none", "lz4"] {
                    let case = report::produce_case(size, partitions, acks, compression);
                    bench.case("produce", &case, |b| {
                        let records = if size == 100 {
                            b.options.records
                        } else {
                            (b.options.records / 5).max(1)
                        };
                        let spec = ProduceSpec {
                            topics: vec![client::topic_name("produce")],
                            record_size: size,
                            records,
                            settings: throughput_settings(acks, compression),
                            time_limit: b.options.case_time_limit,
                        };
                        let row = measure(b, "produce", &case, &spec, partitions)?;
                        Ok(vec![row])
                    });
                }
            }
        }
    }
}

/// Creates the spec's topics with `partitions` each, produces (metered), deletes them, and returns the row.
pub fn measure(
    bench: &mut Bench,
    scenario: &str,
    case: &str,
    spec: &ProduceSpec,
    partitions: i32,
) -> Result<Row> {
    let bootstrap = bench.bootstrap();
    client::create_topics(&bootstrap, &spec.topics, partitions)?;
    let meter = bench.meter();
    let outcome = run(&bootstrap, spec, &bench.payloads);
    let cost = Bench::finish(meter);
    if !bench.options.keep_topics {
        if let Err(e) = client::delete_topics(&bootstrap, &spec.topics) {
            eprintln!("sluice-bench:   (could not delete the topics: {e:#})");
        }
    }
    let outcome = outcome?;
    if outcome.failed > 0 {
        bail!(
            "{} of {} records failed: {}",
            outcome.failed,
            outcome.sent,
            outcome.first_error.clone().unwrap_or_default()
        );
    }
    Ok(row(scenario, case, spec, &outcome).cost(cost))
}

pub fn row(scenario: &str, case: &str, spec: &ProduceSpec, outcome: &ProduceOutcome) -> Row {
    let mut row = Row::new(scenario, case)
        .throughput(
            outcome.acked,
            outcome.acked * spec.record_size as u64,
            outcome.seconds,
        )
        .latency("rtt", outcome.rtt);
    if let Some(d) = outcome.delivery {
        row = row.note(format!(
            "delivery p50 {} ms p99 {} ms",
            report::human(d.p50_ms),
            report::human(d.p99_ms)
        ));
    }
    if let (Some(records), Some(bytes)) = (outcome.avg_batch_records, outcome.avg_batch_bytes) {
        row = row.note(format!(
            "{} rec/batch, {} KiB/batch",
            report::human(records),
            report::human(bytes / 1024.0)
        ));
    }
    if outcome.hit_time_limit {
        row = row.note(format!(
            "stopped at the time limit after {} of {} records",
            outcome.sent, spec.records
        ));
    }
    row.details(outcome)
}
