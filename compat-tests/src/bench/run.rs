//! The run: resolved options, the broker(s), the rows so far, and [`Bench::case`], which every scenario's cases
//! go through (progress on stderr, a failed case recorded instead of ending the run, a dead broker ending it).
//!
//! With `--compare-kafka` there are two brokers, Sluice and Apache Kafka, both running for the whole bench:
//! each case runs on one, then at once on the other (which goes first alternates from case to case), so both
//! see the same machine conditions. The broker not running a case idles; what it spends meanwhile is counted
//! ([`BrokerRun::idle_cpu_seconds`]).

use std::time::{Duration, Instant};

use anyhow::Result;

use super::client::Payloads;
use super::report::Row;
use super::target::{self, Cost, Meter, Target};

/// Sizes and counts of one run, after `--quick` and the flags are applied.
#[derive(Debug, Clone)]
pub struct Options {
    pub quick: bool,
    /// Records per produce case with 100-byte values; 1 KiB cases send a fifth of this.
    pub records: u64,
    pub consume_records: u64,
    pub consume_partitions: i32,
    pub e2e_seconds: f64,
    pub e2e_rates: Vec<u64>,
    pub startup_runs: usize,
    pub idle_connections: usize,
    /// Records of the scale scenario's producer, with and without the idle connections.
    pub scale_records: u64,
    pub scale_topics: usize,
    pub scale_partitions: i32,
    pub scale_topic_records: u64,
    pub group_members: usize,
    /// Records of the transactions scenario's 10,000-record-transaction case; smaller transactions send
    /// fewer (see [`super::txn::case_records`]).
    pub txn_records: u64,
    /// Records the share scenario preloads and acknowledges per case.
    pub share_records: u64,
    /// Consumer counts of the share scenario's cases.
    pub share_consumers: Vec<usize>,
    /// Upper bound on the sending part of any one case.
    pub case_time_limit: Duration,
    /// Delete each topic after its case (the default), so that long runs do not fill the disk.
    pub keep_topics: bool,
    /// Run only the cases whose name contains this text.
    pub only: Option<String>,
}

/// One broker under test and what the run measured on it.
pub struct BrokerRun {
    pub target: Target,
    pub rows: Vec<Row>,
    /// Set when the broker died: its remaining cases are skipped.
    pub fatal: Option<String>,
    /// The broker's VmRSS shortly after the bench started (or connected to) it.
    pub idle_rss_at_start: Option<u64>,
    /// CPU seconds this broker used, and wall seconds that passed, while the other broker ran its cases.
    pub idle_cpu_seconds: f64,
    pub idle_wall_seconds: f64,
}

impl BrokerRun {
    pub fn new(target: Target) -> BrokerRun {
        // Idle RSS of the broker we measure, before any load.
        std::thread::sleep(target::IDLE_SETTLE);
        let idle_rss_at_start = target
            .pid
            .and_then(|pid| target::status_bytes(pid, "VmRSS"));
        BrokerRun {
            target,
            rows: Vec::new(),
            fatal: None,
            idle_rss_at_start,
            idle_cpu_seconds: 0.0,
            idle_wall_seconds: 0.0,
        }
    }
}

pub struct Bench {
    /// The brokers under test: one, or Sluice then Kafka with `--compare-kafka`.
    pub brokers: Vec<BrokerRun>,
    /// The broker the current case runs on.
    current: usize,
    cases: usize,
    pub options: Options,
    pub payloads: Payloads,
}

impl Bench {
    pub fn new(brokers: Vec<BrokerRun>, options: Options, payloads: Payloads) -> Bench {
        Bench {
            brokers,
            current: 0,
            cases: 0,
            options,
            payloads,
        }
    }

    /// The broker the current case runs on.
    pub fn target(&self) -> &Target {
        &self.brokers[self.current].target
    }

    pub fn idle_rss_at_start(&self) -> Option<u64> {
        self.brokers[self.current].idle_rss_at_start
    }

    pub fn bootstrap(&self) -> String {
        self.target().bootstrap.clone()
    }

    /// Starts measuring the broker's CPU and peak RSS (nothing if we cannot see its process).
    pub fn meter(&self) -> Option<Meter> {
        Meter::start(self.target().pid)
    }

    pub fn finish(meter: Option<Meter>) -> Option<Cost> {
        meter.and_then(Meter::finish)
    }

    /// Runs one case on every broker, one after the other, and records its rows. A failing case becomes a row
    /// with its error; a dead broker stops its part of the run (every later case would fail the same way).
    pub fn case(
        &mut self,
        scenario: &str,
        case: &str,
        mut run: impl FnMut(&mut Bench) -> Result<Vec<Row>>,
    ) {
        if let Some(only) = &self.options.only {
            if !case.contains(only.as_str()) {
                return;
            }
        }
        // Which broker goes first alternates, so that neither always runs right after the other's writes.
        let n = self.brokers.len();
        let order: Vec<usize> = (0..n).map(|i| (i + self.cases) % n).collect();
        self.cases += 1;
        for i in order {
            if self.brokers[i].fatal.is_some() {
                continue;
            }
            self.current = i;
            let label = if n > 1 {
                format!("[{}] ", self.brokers[i].target.name)
            } else {
                String::new()
            };
            eprintln!("sluice-bench: {label}{scenario}: {case} ...");
            let idle_before: Vec<Option<f64>> = self
                .brokers
                .iter()
                .map(|b| b.target.pid.and_then(target::cpu_seconds))
                .collect();
            let started = Instant::now();
            let result = run(self);
            let wall = started.elapsed().as_secs_f64();
            for (j, before) in idle_before.into_iter().enumerate() {
                let other = &mut self.brokers[j];
                if j == i {
                    continue;
                }
                if let (Some(before), Some(after)) =
                    (before, other.target.pid.and_then(target::cpu_seconds))
                {
                    other.idle_cpu_seconds += after - before;
                    other.idle_wall_seconds += wall;
                }
            }
            let broker = &mut self.brokers[i];
            let alive = broker.target.ensure_alive();
            match result {
                Ok(rows) => {
                    for row in &rows {
                        eprintln!("sluice-bench:   {label}{}", summary_line(row));
                    }
                    broker.rows.extend(rows);
                }
                Err(e) => {
                    eprintln!("sluice-bench:   {label}FAILED: {e:#}");
                    let mut row = Row::new(scenario, case);
                    row.error = Some(format!("{e:#}"));
                    broker.rows.push(row);
                }
            }
            if let Err(e) = alive {
                eprintln!("sluice-bench: {label}{e:#}");
                broker.fatal = Some(format!("{e:#}"));
            }
        }
    }
}

fn summary_line(row: &Row) -> String {
    let mut parts = vec![row.case.clone()];
    if let Some(r) = row.records_per_sec {
        parts.push(format!("{r:.0} rec/s"));
    }
    if let Some(m) = row.mib_per_sec {
        parts.push(format!("{m:.1} MiB/s"));
    }
    if let (Some(kind), Some(l)) = (&row.latency_kind, row.latency) {
        parts.push(format!(
            "{kind} p50 {:.2} ms p99 {:.2} ms max {:.2} ms",
            l.p50_ms, l.p99_ms, l.max_ms
        ));
    }
    parts.extend(row.notes.iter().cloned());
    parts.join(", ")
}
