//! Scenario 6, transactions (KIP-98): what a transactional producer gets through, and how soon a
//! read_committed consumer sees what it committed.
//!
//! Throughput: one `BaseProducer` with a `transactional.id` (so idempotent, acks=all) writes a fixed count of
//! records in transactions of 1, 100 and 10,000 records, 100 B and 1 KiB values: `begin_transaction`, `send`
//! each record (serving delivery reports when the local queue is full), `commit_transaction`, which flushes
//! the records and then sends EndTxn, and returns once the broker answers it. `init_transactions` and the
//! first Metadata are not timed. The clock runs from the first `begin_transaction` to the return of the last
//! commit; rec/s counts committed records. The row's latency (`lat=commit`) is the time in
//! `commit_transaction` per transaction (the flush of the last records plus EndTxn), exact; the notes add the
//! whole transaction (begin to commit returned) and the requests per transaction from librdkafka's
//! statistics.
//!
//! End to end: transactions of 1 and 100 records of 100 B at a fixed rate of transactions, the records of
//! each sent back to back and then committed; a consumer with `isolation.level=read_committed` in this
//! process records the time from each record's `send` (in its value, as in [`super::e2e`]) to its `poll`.
//! That covers the commit round trips and the consumer's Fetch that finds the last stable offset moved. A
//! warm-up of transactions runs until the consumer has seen one, as in the e2e scenario. A commit that takes
//! longer than the interval between transactions delays the next one: the notes say when the producer fell
//! behind its schedule.

use std::sync::{mpsc, Arc};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use hdrhistogram::Histogram;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use serde::Serialize;

use super::client::{self, BenchContext, Payloads};
use super::consume;
use super::e2e::{self, Shared, SETTLE_TIMEOUT, WARMUP};
use super::latency::{self, Summary};
use super::produce::{MESSAGE_TIMEOUT_MS, STATS_INTERVAL_MS};
use super::report::{self, Row};
use super::run::Bench;

/// Records per transaction in the throughput cases.
pub const TXN_SIZES: [u64; 3] = [1, 100, 10_000];
/// Records per transaction, and transactions per second, of the end-to-end cases.
pub const E2E_CASES: [(u64, u64); 2] = [(1, 50), (100, 50)];
/// Bound on `init_transactions` and on one `commit_transaction`.
const TXN_TIMEOUT: Duration = Duration::from_secs(60);

/// Producer settings for a transactional run (everything but bootstrap.servers and transactional.id).
pub fn producer_settings() -> Vec<(String, String)> {
    client::pairs(&[
        ("client.id", "sluice-bench-txn-producer"),
        ("acks", "all"),
        ("enable.idempotence", "true"),
        ("compression.type", "none"),
        ("linger.ms", "5"),
        ("batch.size", "1048576"),
        ("queue.buffering.max.messages", "1000000"),
        ("queue.buffering.max.kbytes", "1048576"),
        ("transaction.timeout.ms", &MESSAGE_TIMEOUT_MS.to_string()),
        ("message.timeout.ms", &MESSAGE_TIMEOUT_MS.to_string()),
        ("statistics.interval.ms", &STATS_INTERVAL_MS.to_string()),
    ])
}

/// The end-to-end producer: no lingering, as in the e2e scenario (a commit flushes anyway).
pub fn e2e_producer_settings() -> Vec<(String, String)> {
    let mut settings = producer_settings();
    for (key, value) in &mut settings {
        match key.as_str() {
            "client.id" => *value = "sluice-bench-txn-e2e-producer".into(),
            "linger.ms" => *value = "0".into(),
            _ => {}
        }
    }
    settings
}

pub fn consumer_settings() -> Vec<(String, String)> {
    let mut settings = consume::consumer_settings();
    settings.push(("client.id".into(), "sluice-bench-txn-consumer".into()));
    settings.push(("isolation.level".into(), "read_committed".into()));
    settings
}

/// Records of one throughput case: `base` (`--txn-records`) for transactions of 10,000, a tenth of it for
/// transactions of 100 and a thousandth for single-record transactions (each costs a few round trips and
/// a flush), a fifth of that for 1 KiB values; never less than one transaction.
pub fn case_records(base: u64, txn_size: u64, record_size: usize) -> u64 {
    let records = match txn_size {
        1 => base / 1000,
        2..=100 => base / 10,
        _ => base,
    };
    let records = if record_size > 100 {
        records / 5
    } else {
        records
    };
    records.max(txn_size)
}

pub fn case_name(record_size: usize, txn_size: u64) -> String {
    format!("{record_size} B, {txn_size} rec/txn")
}

pub fn e2e_case_name(txn_size: u64, txns_per_sec: u64) -> String {
    format!("{txn_size} rec/txn, {txns_per_sec} txn/s, read_committed")
}

fn producer(bootstrap: &str, settings: &[(String, String)]) -> Result<BaseProducer<BenchContext>> {
    let mut settings = settings.to_vec();
    // A fresh id per run: no earlier producer to fence, no transaction to recover.
    settings.push(("transactional.id".into(), client::topic_name("txn-id")));
    let producer: BaseProducer<BenchContext> = client::config(bootstrap, &settings)
        .create_with_context(BenchContext::default())
        .context("creating the transactional producer")?;
    producer
        .init_transactions(TXN_TIMEOUT)
        .context("init_transactions")?;
    Ok(producer)
}

/// `send` that serves delivery reports while librdkafka's queue is full.
fn send(
    producer: &BaseProducer<BenchContext>,
    topic: &str,
    value: &[u8],
    opaque: u64,
) -> Result<()> {
    let mut record: BaseRecord<[u8], [u8], usize> =
        BaseRecord::with_opaque_to(topic, opaque as usize)
            .partition(0)
            .payload(value);
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
}

/// Serves delivery reports until nothing is left in flight, then commits. The rdkafka crate's
/// `commit_transaction` flushes first through `BaseProducer::flush`, which polls in slices of 100 ms, and its
/// `poll` returns only at its deadline, not at the first event: after the last delivery report each commit
/// would idle up to 100 ms in the client, whatever the broker. Draining here first (checking every 0.1 ms)
/// leaves that flush nothing to wait for.
fn commit(producer: &BaseProducer<BenchContext>) -> Result<()> {
    let deadline = Instant::now() + TXN_TIMEOUT;
    while producer.in_flight_count() > 0 {
        if Instant::now() >= deadline {
            bail!(
                "{} messages still in flight after {TXN_TIMEOUT:?}",
                producer.in_flight_count()
            );
        }
        // poll(ZERO) serves what is queued and returns; a poll with a timeout below 1 ms would spin a
        // core (librdkafka waits in whole milliseconds) that the broker shares on a small machine.
        producer.poll(Duration::ZERO);
        thread::sleep(Duration::from_micros(100));
    }
    producer
        .commit_transaction(TXN_TIMEOUT)
        .map_err(|e| anyhow!("commit_transaction: {e}"))?;
    let context = producer.context();
    if context.failed() > 0 {
        bail!(
            "{} records failed: {}",
            context.failed(),
            context.first_error().unwrap_or_default()
        );
    }
    Ok(())
}

fn micros(d: Duration) -> u64 {
    (d.as_micros() as u64).max(1)
}

/// Waits (bounded) for one more statistics event, which closes the window holding the last requests.
fn close_stats_window(producer: &BaseProducer<BenchContext>) {
    let context = producer.context();
    let events = context.stats_events();
    let deadline = Instant::now() + Duration::from_millis(3 * STATS_INTERVAL_MS);
    while context.stats_events() == events && Instant::now() < deadline {
        producer.poll(Duration::from_millis(10));
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct TxnOutcome {
    pub records: u64,
    pub transactions: u64,
    /// First begin_transaction to the return of the last commit_transaction.
    pub seconds: f64,
    /// Time in commit_transaction, per transaction.
    pub commit: Option<Summary>,
    /// begin_transaction to commit_transaction returned, per transaction.
    pub transaction: Option<Summary>,
    pub hit_time_limit: bool,
    /// Requests per transaction, from librdkafka's statistics (all brokers; includes init_transactions').
    pub produce_requests_per_txn: f64,
    pub add_partitions_requests_per_txn: f64,
    pub end_txn_requests_per_txn: f64,
}

pub fn run(
    bootstrap: &str,
    topic: &str,
    record_size: usize,
    txn_size: u64,
    records: u64,
    time_limit: Duration,
    payloads: &Payloads,
) -> Result<TxnOutcome> {
    client::check_record_size(record_size)?;
    let producer = producer(bootstrap, &producer_settings())?;
    producer
        .client()
        .fetch_metadata(Some(topic), client::ADMIN_TIMEOUT)
        .with_context(|| format!("Metadata for {topic}"))?;

    let mut commits = latency::histogram();
    let mut transactions = latency::histogram();
    let start = Instant::now();
    let stop_at = start + time_limit;
    let (mut sent, mut txns, mut hit_time_limit) = (0u64, 0u64, false);
    while sent < records {
        let began = Instant::now();
        producer
            .begin_transaction()
            .map_err(|e| anyhow!("begin_transaction: {e}"))?;
        let n = txn_size.min(records - sent);
        for i in sent..sent + n {
            send(
                &producer,
                topic,
                payloads.get(i, record_size),
                client::now_nanos(),
            )
            .with_context(|| format!("record {i}"))?;
        }
        sent += n;
        let committing = Instant::now();
        commit(&producer).with_context(|| format!("transaction {txns}"))?;
        commits.saturating_record(micros(committing.elapsed()));
        transactions.saturating_record(micros(began.elapsed()));
        txns += 1;
        if Instant::now() >= stop_at {
            hit_time_limit = sent < records;
            break;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    close_stats_window(&producer);
    let context = producer.context();
    let per_txn = |kind: &str| context.requests(kind) as f64 / txns.max(1) as f64;
    Ok(TxnOutcome {
        records: context.acked(),
        transactions: txns,
        seconds,
        commit: Summary::of(&commits),
        transaction: Summary::of(&transactions),
        hit_time_limit,
        produce_requests_per_txn: per_txn("Produce"),
        add_partitions_requests_per_txn: per_txn("AddPartitionsToTxn"),
        end_txn_requests_per_txn: per_txn("EndTxn"),
    })
}

#[derive(Debug, Clone, Serialize)]
pub struct TxnE2eOutcome {
    pub txn_size: u64,
    pub target_txns_per_sec: u64,
    pub achieved_txns_per_sec: f64,
    pub transactions: u64,
    pub sent: u64,
    pub received: u64,
    pub seconds: f64,
    /// Send to the read_committed consumer's poll, per record.
    pub latency: Option<Summary>,
    pub commit: Option<Summary>,
}

pub fn run_e2e(
    bootstrap: &str,
    topic: &str,
    txn_size: u64,
    txns_per_sec: u64,
    duration: Duration,
) -> Result<TxnE2eOutcome> {
    if txn_size == 0 || txns_per_sec == 0 {
        bail!("transaction size and rate must be positive");
    }
    let shared = Shared::new();
    let (ready_tx, ready_rx) = mpsc::channel();
    let consumer_thread = {
        let shared = Arc::clone(&shared);
        let (bootstrap, topic) = (bootstrap.to_string(), topic.to_string());
        thread::spawn(move || {
            e2e::consume(&bootstrap, &topic, &consumer_settings(), &shared, ready_tx)
        })
    };
    let result = (|| {
        ready_rx
            .recv_timeout(SETTLE_TIMEOUT)
            .map_err(|_| anyhow!("the consumer did not start"))??;
        produce_e2e(bootstrap, topic, txn_size, txns_per_sec, duration, &shared)
    })();
    shared
        .stop
        .store(true, std::sync::atomic::Ordering::Release);
    let hist = consumer_thread
        .join()
        .map_err(|_| anyhow!("the consumer thread panicked"))??;
    let mut outcome = result?;
    outcome.received = hist.len();
    outcome.latency = Summary::of(&hist);
    if outcome.received < outcome.sent {
        bail!(
            "{} of {} committed records reached the read_committed consumer within {SETTLE_TIMEOUT:?}",
            outcome.received,
            outcome.sent
        );
    }
    Ok(outcome)
}

fn produce_e2e(
    bootstrap: &str,
    topic: &str,
    txn_size: u64,
    txns_per_sec: u64,
    duration: Duration,
    shared: &Shared,
) -> Result<TxnE2eOutcome> {
    use std::sync::atomic::Ordering;
    let producer = producer(bootstrap, &e2e_producer_settings())?;
    let mut value = [b'x'; e2e::RECORD_SIZE];
    let mut commits = latency::histogram();
    let mut transaction = |phase: u8, commits: &mut Histogram<u64>| -> Result<()> {
        producer
            .begin_transaction()
            .map_err(|e| anyhow!("begin_transaction: {e}"))?;
        for _ in 0..txn_size {
            let now = client::now_nanos();
            value[0..8].copy_from_slice(&now.to_be_bytes());
            value[8] = phase;
            send(&producer, topic, &value, now)?;
        }
        let committing = Instant::now();
        commit(&producer)?;
        commits.saturating_record(micros(committing.elapsed()));
        Ok(())
    };
    let interval = Duration::from_secs_f64(1.0 / txns_per_sec as f64);
    // Sleeps until transaction `n` of a schedule that began at `start` is due; late ones go at once.
    let pace = |start: Instant, n: u64| {
        let due = start + interval * n as u32;
        let wait = due.saturating_duration_since(Instant::now());
        if !wait.is_zero() {
            thread::sleep(wait);
        }
    };

    // Warm-up: at the same rate, until the consumer has seen a committed record (and at least WARMUP).
    let mut warm_up = latency::histogram();
    let start = Instant::now();
    let mut n = 0u64;
    loop {
        let elapsed = start.elapsed();
        if elapsed >= WARMUP && shared.warmup_seen.load(Ordering::Acquire) > 0 {
            break;
        }
        if elapsed >= SETTLE_TIMEOUT {
            bail!("no committed record reached the consumer within {SETTLE_TIMEOUT:?} of warm-up");
        }
        pace(start, n);
        transaction(0, &mut warm_up)?;
        n += 1;
    }

    // Measured phase.
    let total = ((txns_per_sec as f64 * duration.as_secs_f64()).round() as u64).max(1);
    let start = Instant::now();
    for i in 0..total {
        pace(start, i);
        transaction(1, &mut commits)?;
        if start.elapsed() > duration + SETTLE_TIMEOUT {
            bail!(
                "committed only {i} of {total} transactions in {:?}",
                start.elapsed()
            );
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    let sent = total * txn_size;
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    while shared.measured_seen.load(Ordering::Acquire) < sent && Instant::now() < deadline {
        producer.poll(Duration::from_millis(5));
    }
    Ok(TxnE2eOutcome {
        txn_size,
        target_txns_per_sec: txns_per_sec,
        achieved_txns_per_sec: total as f64 / seconds.max(1e-9),
        transactions: total,
        sent,
        received: 0,
        seconds,
        latency: None,
        commit: Summary::of(&commits),
    })
}

/// Throughput per value size and transaction size, then end-to-end latency; one fresh topic per case.
pub fn scenario(bench: &mut Bench) {
    for record_size in [100usize, 1024] {
        for txn_size in TXN_SIZES {
            let case = case_name(record_size, txn_size);
            bench.case("txn", &case, |b| {
                let records = case_records(b.options.txn_records, txn_size, record_size);
                let bootstrap = b.bootstrap();
                let topic = client::topic_name("txn");
                client::create_topics(&bootstrap, std::slice::from_ref(&topic), 1)?;
                client::wait_for_leaders(&bootstrap, &topic, 1)?;
                let meter = b.meter();
                let outcome = run(
                    &bootstrap,
                    &topic,
                    record_size,
                    txn_size,
                    records,
                    b.options.case_time_limit,
                    &b.payloads,
                );
                let cost = Bench::finish(meter);
                if !b.options.keep_topics {
                    let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
                }
                let o = outcome?;
                let mut row = Row::new("txn", &case)
                    .throughput(o.records, o.records * record_size as u64, o.seconds)
                    .latency("commit", o.commit)
                    .cost(cost)
                    .note(format!(
                        "{} txn/s",
                        report::human(o.transactions as f64 / o.seconds.max(1e-9))
                    ));
                if let Some(t) = o.transaction {
                    row = row.note(format!(
                        "txn p50 {} ms p99 {} ms",
                        report::human(t.p50_ms),
                        report::human(t.p99_ms)
                    ));
                }
                row = row.note(format!(
                    "per txn: {} Produce, {} AddPartitionsToTxn, {} EndTxn",
                    report::human(o.produce_requests_per_txn),
                    report::human(o.add_partitions_requests_per_txn),
                    report::human(o.end_txn_requests_per_txn)
                ));
                if o.hit_time_limit {
                    row = row.note(format!(
                        "stopped at the time limit after {} of {records} records",
                        o.records
                    ));
                }
                Ok(vec![row.details(o)])
            });
        }
    }
    for (txn_size, txns_per_sec) in E2E_CASES {
        let case = e2e_case_name(txn_size, txns_per_sec);
        bench.case("txn-e2e", &case, |b| {
            let bootstrap = b.bootstrap();
            let topic = client::topic_name("txn-e2e");
            client::create_topics(&bootstrap, std::slice::from_ref(&topic), 1)?;
            client::wait_for_leaders(&bootstrap, &topic, 1)?;
            let duration = Duration::from_secs_f64(b.options.e2e_seconds);
            let meter = b.meter();
            let outcome = run_e2e(&bootstrap, &topic, txn_size, txns_per_sec, duration);
            let cost = Bench::finish(meter);
            if !b.options.keep_topics {
                let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
            }
            let o = outcome?;
            let mut row = Row::new("txn-e2e", &case)
                .throughput(o.received, o.received * e2e::RECORD_SIZE as u64, o.seconds)
                .latency("e2e", o.latency)
                .cost(cost);
            if let Some(c) = o.commit {
                row = row.note(format!(
                    "commit p50 {} ms p99 {} ms",
                    report::human(c.p50_ms),
                    report::human(c.p99_ms)
                ));
            }
            if o.achieved_txns_per_sec < 0.95 * txns_per_sec as f64 {
                row = row.note(format!(
                    "producer reached only {} txn/s",
                    report::human(o.achieved_txns_per_sec)
                ));
            }
            Ok(vec![row.details(o)])
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn case_sizes_scale_with_the_transaction() {
        assert_eq!(case_records(2_000_000, 10_000, 100), 2_000_000);
        assert_eq!(case_records(2_000_000, 100, 100), 200_000);
        assert_eq!(case_records(2_000_000, 1, 100), 2_000);
        assert_eq!(case_records(2_000_000, 1, 1024), 400);
        // Never less than one whole transaction.
        assert_eq!(case_records(1_000, 10_000, 1024), 10_000);
        assert_eq!(case_records(10, 1, 100), 1);
    }

    #[test]
    fn the_e2e_producer_does_not_linger() {
        let settings = e2e_producer_settings();
        assert!(settings.iter().any(|(k, v)| k == "linger.ms" && v == "0"));
        assert!(consumer_settings()
            .iter()
            .any(|(k, v)| k == "isolation.level" && v == "read_committed"));
    }
}
