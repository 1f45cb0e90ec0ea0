//! Scenario 2, consume throughput: one consumer reads a preloaded topic from its first offset.
//!
//! The consumer uses `assign()` (no group), librdkafka's default fetch sizes and `poll` per message, as an
//! application would. The clock runs from `assign` to the last record, so it includes the first ListOffsets
//! and Fetch round trips. The row's latency is librdkafka's `rtt` of those requests, nearly all Fetches.

use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use super::client::{self, BenchContext};
use super::latency::Summary;
use super::produce;
use super::report::{self, Row};
use super::run::Bench;

pub fn consumer_settings() -> Vec<(String, String)> {
    client::pairs(&[
        ("client.id", "sluice-bench-consumer"),
        ("group.id", "sluice-bench"),
        ("enable.auto.commit", "false"),
        ("enable.auto.offset.store", "false"),
        ("auto.offset.reset", "earliest"),
        ("enable.partition.eof", "false"),
        (
            "statistics.interval.ms",
            &produce::STATS_INTERVAL_MS.to_string(),
        ),
        // librdkafka (2.4+) stops fetching a partition for up to fetch.queue.backoff.ms (default 1 s) whenever
        // more than queued.min.messages (default 100k) are buffered; with 100-byte records that caps one
        // consumer near 250k rec/s whatever the broker does. Buffer more and never back off, so the
        // number measures the broker.
        ("queued.min.messages", "1000000"),
        ("fetch.queue.backoff.ms", "0"),
    ])
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumeOutcome {
    pub received: u64,
    pub value_bytes: u64,
    pub seconds: f64,
    pub hit_time_limit: bool,
    /// Fetch round trips (librdkafka statistics `rtt`; Fetch is nearly every request a consumer sends).
    pub rtt: Option<Summary>,
    /// Fetch requests sent during the run, per the last statistics event.
    pub fetch_requests: i64,
}

/// Reads `records` records from partitions `0..partitions` of `topic`.
pub fn run(
    bootstrap: &str,
    topic: &str,
    partitions: i32,
    records: u64,
    time_limit: Duration,
) -> Result<ConsumeOutcome> {
    let consumer: BaseConsumer<BenchContext> = client::config(bootstrap, &consumer_settings())
        .create_with_context(BenchContext::default())
        .context("creating the consumer")?;
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment.add_partition_offset(topic, partition, Offset::Beginning)?;
    }
    // Learn the partition leaders first: assigned before that, librdkafka retries its offset lookup on a
    // 500 ms timer, which would be counted here as broker time.
    consumer
        .fetch_metadata(Some(topic), client::ADMIN_TIMEOUT)
        .with_context(|| format!("Metadata for {topic}"))?;
    let start = Instant::now();
    let stop_at = start + time_limit;
    consumer.assign(&assignment).context("assign")?;
    let mut received = 0u64;
    let mut value_bytes = 0u64;
    let mut hit_time_limit = false;
    while received < records {
        let check_clock = match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(message)) => {
                received += 1;
                value_bytes += message.payload_len() as u64;
                received.is_multiple_of(4096)
            }
            Some(Err(e)) => bail!("consumer error after {received} records: {e}"),
            None => true,
        };
        if check_clock && Instant::now() >= stop_at {
            hit_time_limit = true;
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    // One more statistics event closes the window holding the last fetches.
    let context = consumer.context();
    let events = context.stats_events();
    let stats_deadline = Instant::now() + Duration::from_millis(3 * produce::STATS_INTERVAL_MS);
    while context.stats_events() == events && Instant::now() < stats_deadline {
        let _ = consumer.poll(Duration::from_millis(10));
    }
    Ok(ConsumeOutcome {
        received,
        value_bytes,
        seconds,
        hit_time_limit,
        rtt: context.rtt().0,
        fetch_requests: context.requests("Fetch"),
    })
}

/// Value size of the consume scenario's records.
pub const RECORD_SIZE: usize = 100;

/// Preloads the topic (not timed, acks=1, no compression), then times one consumer reading all of it.
pub fn scenario(bench: &mut Bench) {
    let records = bench.options.consume_records;
    let partitions = bench.options.consume_partitions;
    let case = format!("{RECORD_SIZE} B, {partitions} part, from the beginning");
    bench.case("consume", &case, |b| {
        let bootstrap = b.bootstrap();
        let topic = client::topic_name("consume");
        client::create_topics(&bootstrap, std::slice::from_ref(&topic), partitions)?;
        let spec = produce::ProduceSpec {
            topics: vec![topic.clone()],
            record_size: RECORD_SIZE,
            records,
            settings: produce::throughput_settings("1", "none"),
            time_limit: b.options.case_time_limit,
        };
        eprintln!("sluice-bench:   preloading {records} records (not timed)");
        let preload = produce::run(&bootstrap, &spec, &b.payloads)?;
        if preload.failed > 0 || preload.acked < records {
            bail!(
                "preload: {} of {records} records acknowledged ({})",
                preload.acked,
                preload.first_error.unwrap_or_default()
            );
        }
        let meter = b.meter();
        let outcome = run(
            &bootstrap,
            &topic,
            partitions,
            records,
            b.options.case_time_limit,
        );
        let cost = Bench::finish(meter);
        if !b.options.keep_topics {
            let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
        }
        let outcome = outcome?;
        if outcome.received < records && !outcome.hit_time_limit {
            bail!("read {} of {records} records", outcome.received);
        }
        let mut row = Row::new("consume", &case)
            .throughput(outcome.received, outcome.value_bytes, outcome.seconds)
            .latency("rtt", outcome.rtt)
            .cost(cost)
            .note(format!(
                "preload {} rec/s",
                report::human(preload.records_per_sec())
            ));
        if outcome.fetch_requests > 0 {
            row = row.note(format!(
                "{} fetches, {} rec/fetch",
                outcome.fetch_requests,
                report::human(outcome.received as f64 / outcome.fetch_requests as f64)
            ));
        }
        if outcome.hit_time_limit {
            row = row.note(format!(
                "stopped at the time limit after {} of {records} records",
                outcome.received
            ));
        }
        Ok(vec![row.details(outcome)])
    });
}
