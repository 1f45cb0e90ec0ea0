//! Scenarios 7 and 8, the next-generation group protocols (issue #16).
//!
//! - settle: time for a group of M librdkafka members (`--group-members`, 20) on a topic of 2M partitions to
//!   settle, with the classic protocol (`group.protocol=classic`, JoinGroup/SyncGroup, range assignor) and with
//!   KIP-848's (`group.protocol=consumer`, ConsumerGroupHeartbeat, the broker's default assignor). Measured as the
//!   scale scenario's consumer-group case is: from the first member's subscribe until every member owns a
//!   non-empty, disjoint share, together they cover every partition, and that holds for a second. Both protocols
//!   run with the broker's default timings (Kafka's KIP-848 heartbeat interval is 5 s, and a KIP-848 member learns
//!   of its next assignment only from a heartbeat), because those are what a user gets.
//! - share: KIP-932 share-group throughput on one partition with 1, 4 and 16 consumers (`--share-consumers`):
//!   records acknowledged per second. librdkafka has no share consumer, so the consumers are Kafka's own
//!   `KafkaShareConsumer` in a JVM (compat-tests/java's `sluice.compat.ShareBench`, compiled by
//!   `mvn -f compat-tests/java/pom.xml test-compile`), with implicit acknowledgement: each poll's records are
//!   accepted by a `commitSync` before the next poll. The topic is preloaded with `--share-records` 100-byte
//!   records (untimed); the time runs from the first record delivered to the last acknowledgement, so the
//!   JVM's start and the group's formation are not counted (the row notes them).

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Instant;

use anyhow::{anyhow, bail, Context, Result};

use super::client;
use super::produce::{self, ProduceSpec};
use super::report::{self, Row};
use super::run::Bench;
use super::scale;

const RECORD_SIZE: usize = 100;

pub fn settle_scenario(bench: &mut Bench) {
    for protocol in ["classic", "consumer"] {
        settle(bench, protocol);
    }
}

pub fn share_scenario(bench: &mut Bench) {
    for consumers in bench.options.share_consumers.clone() {
        share(bench, consumers);
    }
}

fn settle(bench: &mut Bench, protocol: &str) {
    let members = bench.options.group_members;
    let partitions = (2 * members) as i32;
    let case = format!("settle: {members} members, {partitions} partitions, {protocol} protocol");
    bench.case("settle", &case, |b| {
        let bootstrap = b.bootstrap();
        let topic = client::topic_name("settle");
        client::create_topics(&bootstrap, std::slice::from_ref(&topic), partitions)?;
        client::wait_for_leaders(&bootstrap, &topic, partitions)?;
        let group = client::topic_name(&format!("sluice-bench-settle-{protocol}"));
        let assignments: Arc<Mutex<Vec<Option<Vec<i32>>>>> =
            Arc::new(Mutex::new(vec![None; members]));
        let errors: Arc<Mutex<Vec<String>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));

        let meter = b.meter();
        let start = Instant::now();
        let mut threads = Vec::with_capacity(members);
        for member in 0..members {
            let (assignments, errors, stop) = (
                Arc::clone(&assignments),
                Arc::clone(&errors),
                Arc::clone(&stop),
            );
            let settings = client::pairs(&[
                ("client.id", &format!("sluice-bench-settle-{member}")),
                ("group.id", &group),
                ("group.protocol", protocol),
                ("enable.auto.commit", "false"),
                ("auto.offset.reset", "latest"),
            ]);
            let (bootstrap, topic) = (bootstrap.clone(), topic.clone());
            threads.push(thread::spawn(move || {
                let result =
                    scale::member_loop(&bootstrap, &topic, &settings, member, &assignments, &stop);
                if let Err(e) = result {
                    errors
                        .lock()
                        .expect("lock")
                        .push(format!("member {member}: {e:#}"));
                }
            }));
        }
        let outcome = scale::wait_for_full_assignment(&assignments, &errors, partitions, start);
        let cost = Bench::finish(meter);
        stop.store(true, Ordering::Release);
        for t in threads {
            let _ = t.join();
        }
        if !b.options.keep_topics {
            let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
        }
        let settled = outcome?;
        let mut row = Row::new("settle", &case).cost(cost).note(format!(
            "all {members} members hold a complete, stable assignment {} s after the first subscribe",
            report::human(settled.as_secs_f64())
        ));
        row.seconds = Some(settled.as_secs_f64());
        Ok(vec![row])
    });
}

fn share(bench: &mut Bench, consumers: usize) {
    let records = bench.options.share_records;
    let case = format!("share group: {consumers} consumers, 1 partition, {RECORD_SIZE} B");
    bench.case("share", &case, |b| {
        let (java, classpath) = share_helper()?;
        let bootstrap = b.bootstrap();
        let topic = client::topic_name("share");
        client::create_topics(&bootstrap, std::slice::from_ref(&topic), 1)?;
        client::wait_for_leaders(&bootstrap, &topic, 1)?;
        let spec = ProduceSpec {
            topics: vec![topic.clone()],
            record_size: RECORD_SIZE,
            records,
            settings: produce::throughput_settings("1", "none"),
            time_limit: b.options.case_time_limit,
        };
        let preload = produce::run(&bootstrap, &spec, &b.payloads)?;
        if preload.acked < records {
            bail!("preload: {} of {records} records acknowledged", preload.acked);
        }
        let group = client::topic_name("sluice-bench-share");

        let meter = b.meter();
        let output = Command::new(&java)
            .args(["-Xmx512m", "-XX:+UseG1GC", "-Dorg.slf4j.simpleLogger.defaultLogLevel=warn"])
            .arg("-cp")
            .arg(&classpath)
            .arg("sluice.compat.ShareBench")
            .args([&bootstrap, &topic, &group])
            .arg(consumers.to_string())
            .arg(records.to_string())
            .arg(b.options.case_time_limit.as_secs().to_string())
            .stdin(Stdio::null())
            .output()
            .with_context(|| format!("running {}", java.display()))?;
        let cost = Bench::finish(meter);
        if !b.options.keep_topics {
            let _ = client::delete_topics(&bootstrap, std::slice::from_ref(&topic));
        }
        let stdout = String::from_utf8_lossy(&output.stdout);
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = stderr.lines().rev().take(5).collect();
            bail!(
                "ShareBench exited with {}: {}",
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
            );
        }
        let line = stdout
            .lines()
            .find_map(|l| l.strip_prefix("SHAREBENCH "))
            .ok_or_else(|| anyhow!("ShareBench printed no result: {stdout}"))?;
        let field = |name: &str| -> Result<f64> {
            line.split_whitespace()
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .ok_or_else(|| anyhow!("no {name} in {line:?}"))?
                .parse::<f64>()
                .with_context(|| format!("{name} in {line:?}"))
        };
        let (acked, seconds) = (field("acked")? as u64, field("seconds")?);
        let row = Row::new("share", &case)
            .throughput(acked, acked * RECORD_SIZE as u64, seconds)
            .cost(cost)
            .note(format!(
                "acknowledged with KafkaShareConsumer (implicit mode, commitSync per poll); first record {} s \
                 after the consumers started; {} of {consumers} consumers got records",
                report::human(field("first_record_s")?),
                field("consumers_with_records")?
            ));
        Ok(vec![row])
    });
}

/// `java` and the classpath of the share helper: compat-tests/java's test classes and the Kafka tools' classpath
/// (kafka-clients among them), both written by `mvn -f compat-tests/java/pom.xml test-compile`.
fn share_helper() -> Result<(PathBuf, String)> {
    let java_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("java");
    let classes = java_dir.join("target/test-classes");
    let tools = java_dir.join("target/kafka-tools.classpath");
    if !classes.join("sluice/compat/ShareBench.class").is_file() || !tools.is_file() {
        bail!(
            "the share scenario runs sluice.compat.ShareBench: build it first with \
             `mvn -q -f {}/pom.xml test-compile`",
            java_dir.display()
        );
    }
    let deps =
        std::fs::read_to_string(&tools).with_context(|| format!("reading {}", tools.display()))?;
    let java = std::env::var_os("JAVA_HOME")
        .map(|home| PathBuf::from(home).join("bin/java"))
        .filter(|p| p.is_file())
        .unwrap_or_else(|| PathBuf::from("java"));
    Ok((java, format!("{}:{}", classes.display(), deps.trim())))
}
