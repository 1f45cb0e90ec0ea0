//! Scenario 5, scale: many idle connections, many partitions, a large consumer group.
//!
//! - Idle connections: a producer runs alone (baseline), then N plain sockets each complete one ApiVersions
//!   round trip and stay open while the same producer runs again. The rows give both rates, their ratio and
//!   the broker's RSS per idle connection.
//! - Many partitions: one CreateTopics request for T topics × P partitions (timed), a Metadata request for
//!   all topics (timed), then records spread over every topic and partition.
//! - Consumer group: M librdkafka consumers subscribe to one topic of 2M partitions in one group, each polling
//!   on its own thread; the time runs from the first subscribe until every member owns a non-empty, disjoint
//!   share and together they cover every partition (and still do a second later: a picture seen mid-rebalance
//!   would not be stable).

use std::collections::BTreeSet;
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::producer::{BaseProducer, Producer};

use super::client::{self, BenchContext};
use super::produce::{self, ProduceSpec};
use super::report::{self, Row};
use super::run::Bench;
use super::target::{self, status_bytes};

const RECORD_SIZE: usize = 100;
/// Bound on the consumer group reaching a full assignment.
const GROUP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a full assignment must hold before it counts.
const GROUP_STABLE: Duration = Duration::from_secs(1);

pub fn scenario(bench: &mut Bench) {
    idle_connections(bench);
    many_partitions(bench);
    consumer_group(bench);
}

fn producer_spec(bench: &Bench, topics: Vec<String>, records: u64) -> ProduceSpec {
    ProduceSpec {
        topics,
        record_size: RECORD_SIZE,
        records,
        settings: produce::throughput_settings("1", "none"),
        time_limit: bench.options.case_time_limit,
    }
}

fn idle_connections(bench: &mut Bench) {
    let n = bench.options.idle_connections;
    let records = bench.options.scale_records;
    let case = format!("{n} idle connections + 1 producer");
    bench.case("scale", &case, |b| {
        let baseline_case = "producer alone (baseline), 100 B, 1 part, acks=1";
        let spec = producer_spec(b, vec![client::topic_name("scale-baseline")], records);
        let baseline = produce::measure(b, "scale", baseline_case, &spec, 1)?;

        let addr = target::resolve(&b.target().bootstrap)?;
        let rss_before = b.target().pid.and_then(|pid| status_bytes(pid, "VmRSS"));
        let opened = Instant::now();
        let sockets = open_idle(addr, n)?;
        let open_seconds = opened.elapsed().as_secs_f64();
        // Let the broker settle (buffers of the finished ApiVersions exchanges) before reading its RSS.
        thread::sleep(Duration::from_millis(300));
        let rss_after = b.target().pid.and_then(|pid| status_bytes(pid, "VmRSS"));
        let mut open_row = Row::new(
            "scale",
            &format!("open {n} connections, 1 ApiVersions each"),
        )
        .note(format!(
            "{} conn/s",
            report::human(n as f64 / open_seconds.max(1e-9))
        ));
        open_row.seconds = Some(open_seconds);
        if let (Some(before), Some(after)) = (rss_before, rss_after) {
            let per = (after as f64 - before as f64) / n.max(1) as f64 / 1024.0;
            open_row = open_row.note(format!(
                "broker RSS {} -> {} MiB ({} KiB per connection)",
                report::human(before as f64 / 1048576.0),
                report::human(after as f64 / 1048576.0),
                report::human(per)
            ));
        }

        let spec = producer_spec(b, vec![client::topic_name("scale-loaded")], records);
        let loaded = produce::measure(
            b,
            "scale",
            &format!("producer with {n} idle connections open"),
            &spec,
            1,
        );
        // The sockets stay open until the loaded run is over.
        let still_open = sockets.iter().filter(|s| s.peer_addr().is_ok()).count();
        drop(sockets);
        let mut loaded = loaded?;
        if let (Some(with), Some(without)) = (loaded.records_per_sec, baseline.records_per_sec) {
            loaded = loaded.note(format!("{:.2}x the baseline", with / without.max(1e-9)));
        }
        if still_open < n {
            loaded = loaded.note(format!("only {still_open} of {n} idle sockets still open"));
        }
        Ok(vec![baseline, open_row, loaded])
    });
}

/// Opens `n` sockets, each completing one ApiVersions round trip; fails on the first that does not.
fn open_idle(addr: SocketAddr, n: usize) -> Result<Vec<TcpStream>> {
    let mut sockets = Vec::with_capacity(n);
    for i in 0..n {
        let mut stream =
            TcpStream::connect_timeout(&addr, Duration::from_secs(10)).with_context(|| {
                format!(
                    "idle connection {i} of {n} (is `ulimit -n` high enough for both processes?)"
                )
            })?;
        stream.set_read_timeout(Some(Duration::from_secs(10)))?;
        target::api_versions_round_trip(&mut stream, i as i32)
            .with_context(|| format!("idle connection {i}"))?;
        sockets.push(stream);
    }
    Ok(sockets)
}

fn many_partitions(bench: &mut Bench) {
    let topics = bench.options.scale_topics;
    let partitions = bench.options.scale_partitions;
    let records = bench.options.scale_topic_records;
    let case = format!("{topics} topics x {partitions} partitions");
    bench.case("scale", &case, |b| {
        let bootstrap = b.bootstrap();
        let names: Vec<String> = (0..topics)
            .map(|_| client::topic_name("scale-many"))
            .collect();
        let meter = b.meter();
        let created = Instant::now();
        client::create_topics(&bootstrap, &names, partitions)?;
        let create_seconds = created.elapsed().as_secs_f64();

        let metadata_client: BaseProducer<BenchContext> = client::config(&bootstrap, &[])
            .create_with_context(BenchContext::default())
            .context("creating a metadata client")?;
        let fetched = Instant::now();
        let metadata = metadata_client
            .client()
            .fetch_metadata(None, client::ADMIN_TIMEOUT)
            .context("Metadata for all topics")?;
        let metadata_seconds = fetched.elapsed().as_secs_f64();
        let ours = metadata
            .topics()
            .iter()
            .filter(|t| names.iter().any(|n| n == t.name()))
            .map(|t| t.partitions().len())
            .sum::<usize>();
        let expected = topics * partitions as usize;
        if ours != expected {
            bail!("Metadata lists {ours} of the {expected} partitions just created");
        }
        let cost = Bench::finish(meter);
        let mut create_row = Row::new("scale", &format!("create {case} (one request)"))
            .cost(cost)
            .note(format!(
                "Metadata for all {} topics: {} ms",
                metadata.topics().len(),
                report::human(metadata_seconds * 1e3)
            ));
        create_row.seconds = Some(create_seconds);

        let spec = producer_spec(b, names.clone(), records);
        let meter = b.meter();
        let outcome = produce::run(&bootstrap, &spec, &b.payloads);
        let cost = Bench::finish(meter);
        if !b.options.keep_topics {
            if let Err(e) = client::delete_topics(&bootstrap, &names) {
                eprintln!("sluice-bench:   (could not delete the topics: {e:#})");
            }
        }
        let outcome = outcome?;
        if outcome.failed > 0 {
            bail!(
                "{} records failed: {}",
                outcome.failed,
                outcome.first_error.clone().unwrap_or_default()
            );
        }
        let produce_row = produce::row(
            "scale",
            &format!("produce to {case}, 100 B, acks=1"),
            &spec,
            &outcome,
        )
        .cost(cost);
        Ok(vec![create_row, produce_row])
    });
}

fn consumer_group(bench: &mut Bench) {
    let members = bench.options.group_members;
    let partitions = (2 * members) as i32;
    let case = format!("consumer group: {members} members, {partitions} partitions");
    bench.case("scale", &case, |b| {
        let bootstrap = b.bootstrap();
        let topic = client::topic_name("scale-group");
        client::create_topics(&bootstrap, std::slice::from_ref(&topic), partitions)?;
        client::wait_for_leaders(&bootstrap, &topic, partitions)?;
        let group = format!("sluice-bench-group-{}", std::process::id());
        let assignments: Arc<Mutex<Vec<Option<Vec<i32>>>>> =
            Arc::new(Mutex::new(vec![None; members]));
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (done_tx, done_rx) = mpsc::channel::<()>();

        let meter = b.meter();
        let start = Instant::now();
        let mut threads = Vec::with_capacity(members);
        for member in 0..members {
            let (assignments, errors, stop, done) = (
                Arc::clone(&assignments),
                Arc::clone(&errors),
                Arc::clone(&stop),
                done_tx.clone(),
            );
            let settings = client::pairs(&[
                ("client.id", &format!("sluice-bench-member-{member}")),
                ("group.id", &group),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "latest"),
            ]);
            let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
            threads.push(thread::spawn(move || {
                let result =
                    member_loop(&bootstrap, &topic, &settings, member, &assignments, &stop);
                if let Err(e) = result {
                    errors
                        .lock()
                        .expect("lock")
                        .push(format!("member {member}: {e:#}"));
                }
                let _ = done.send(());
            }));
        }
        drop(done_tx);

        let outcome = wait_for_full_assignment(&assignments, &errors, partitions, start);
        let cost = Bench::finish(meter);

        // Every consumer leaves the group as it closes; bounded, since a close can hang on a broken broker.
        stop.store(true, Ordering::Release);
        let closing = Instant::now();
        let mut closed = 0;
        while closed < members {
            let left = Duration::from_secs(30).saturating_sub(closing.elapsed());
            if done_rx.recv_timeout(left).is_err() {
                break;
            }
            closed += 1;
        }
        let close_seconds = closing.elapsed().as_secs_f64();
        if closed == members {
            for t in threads {
                let _ = t.join();
            }
        }
        if !b.options.keep_topics {
            let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
        }
        let assigned_after = outcome?;
        let mut row = Row::new("scale", &case)
            .cost(cost)
            .note(format!(
                "all {members} members assigned {} s after the first subscribe",
                report::human(assigned_after.as_secs_f64())
            ))
            .note(format!(
                "{closed} of {members} closed in {} s",
                report::human(close_seconds)
            ));
        row.seconds = Some(assigned_after.as_secs_f64());
        Ok(vec![row])
    });
}

pub(super) fn member_loop(
    bootstrap: &str,
    topic: &str,
    settings: &[(String, String)],
    member: usize,
    assignments: &Mutex<Vec<Option<Vec<i32>>>>,
    stop: &AtomicBool,
) -> Result<()> {
    let consumer: BaseConsumer = client::config(bootstrap, settings).create()?;
    consumer.subscribe(&[topic])?;
    while !stop.load(Ordering::Acquire) {
        if let Some(Err(e)) = consumer.poll(Duration::from_millis(50)) {
            bail!("poll: {e}");
        }
        let mine: Vec<i32> = consumer
            .assignment()?
            .elements()
            .iter()
            .filter(|e| e.topic() == topic)
            .map(|e| e.partition())
            .collect();
        assignments.lock().expect("lock")[member] = Some(mine);
    }
    Ok(())
}

/// Waits until every member has a non-empty share, the shares are disjoint and cover `0..partitions`, and
/// that has held for [`GROUP_STABLE`]; returns when it first held, measured from `start`.
pub(super) fn wait_for_full_assignment(
    assignments: &Mutex<Vec<Option<Vec<i32>>>>,
    errors: &Mutex<Vec<String>>,
    partitions: i32,
    start: Instant,
) -> Result<Duration> {
    let all: BTreeSet<i32> = (0..partitions).collect();
    let mut full_since: Option<Duration> = None;
    loop {
        if let Some(e) = errors.lock().expect("lock").first() {
            bail!("{e}");
        }
        let full = {
            let a = assignments.lock().expect("lock");
            let mut seen = BTreeSet::new();
            let mut disjoint = true;
            let mut every_member = true;
            for share in a.iter() {
                match share {
                    Some(parts) if !parts.is_empty() => {
                        for p in parts {
                            disjoint &= seen.insert(*p);
                        }
                    }
                    _ => every_member = false,
                }
            }
            every_member && disjoint && seen == all
        };
        let now = start.elapsed();
        match (full, full_since) {
            (true, None) => full_since = Some(now),
            (true, Some(since)) if now - since >= GROUP_STABLE => return Ok(since),
            (false, _) => full_since = None,
            _ => {}
        }
        if now >= GROUP_TIMEOUT {
            let a = assignments.lock().expect("lock");
            let with_share = a
                .iter()
                .filter(|s| s.as_ref().is_some_and(|p| !p.is_empty()))
                .count();
            return Err(anyhow!(
                "no full assignment within {GROUP_TIMEOUT:?}: {with_share} of {} members own partitions",
                a.len()
            ));
        }
        thread::sleep(Duration::from_millis(10));
    }
}
