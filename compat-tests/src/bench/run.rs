//! The run: resolved options, the broker, the rows so far, and [`Bench::case`], which every scenario's cases
//! go through (progress on stderr, a failed case recorded instead of ending the run, a dead broker ending it).

use std::time::Duration;

use anyhow::Result;

use super::client::Payloads;
use super::report::Row;
use super::target::{Cost, Meter, Target};

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
    /// Upper bound on the sending part of any one case.
    pub case_time_limit: Duration,
    /// Delete each topic after its case (the default), so that long runs do not fill the disk.
    pub keep_topics: bool,
    /// Run only the cases whose name contains this text.
    pub only: Option<String>,
}

pub struct Bench {
    pub target: Target,
    pub options: Options,
    pub payloads: Payloads,
    pub rows: Vec<Row>,
    /// Set when the broker died: the remaining cases are skipped.
    pub fatal: Option<String>,
    /// The broker's VmRSS shortly after the bench started (or connected to) it.
    pub idle_rss_at_start: Option<u64>,
}

impl Bench {
    pub fn bootstrap(&self) -> String {
        self.target.bootstrap.clone()
    }

    /// Starts measuring the broker's CPU and peak RSS (nothing if we cannot see its process).
    pub fn meter(&self) -> Option<Meter> {
        Meter::start(self.target.pid)
    }

    pub fn finish(meter: Option<Meter>) -> Option<Cost> {
        meter.and_then(Meter::finish)
    }

    /// Runs one case and records its rows. A failing case becomes a row with its error; a dead broker stops
    /// the run (every later case would fail the same way).
    pub fn case(
        &mut self,
        scenario: &str,
        case: &str,
        run: impl FnOnce(&mut Bench) -> Result<Vec<Row>>,
    ) {
        if self.fatal.is_some() {
            return;
        }
        if let Some(only) = &self.options.only {
            if !case.contains(only.as_str()) {
                return;
            }
        }
        eprintln!("sluice-bench: {scenario}: {case} ...");
        let result = run(self);
        let alive = self.target.ensure_alive();
        match result {
            Ok(rows) => {
                for row in &rows {
                    eprintln!("sluice-bench:   {}", summary_line(row));
                }
                self.rows.extend(rows);
            }
            Err(e) => {
                eprintln!("sluice-bench:   FAILED: {e:#}");
                let mut row = Row::new(scenario, case);
                row.error = Some(format!("{e:#}"));
                self.rows.push(row);
            }
        }
        if let Err(e) = alive {
            eprintln!("sluice-bench: {e:#}");
            self.fatal = Some(format!("{e:#}"));
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
