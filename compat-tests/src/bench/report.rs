//! What a run produces: one [`Row`] per measured case, the settings and machine they were measured with, the
//! human-readable table and the `--json` document.

use std::fmt::Write as _;

use serde::Serialize;

use super::latency::Summary;
use super::target::Cost;

const MIB: f64 = 1024.0 * 1024.0;

/// One measured case. Every field but `scenario` and `case` is optional: each scenario fills what it measures.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Row {
    pub scenario: String,
    pub case: String,
    /// Records the case counts its rate over (acknowledged, consumed or received).
    pub records: Option<u64>,
    pub seconds: Option<f64>,
    pub records_per_sec: Option<f64>,
    /// Record values only (no keys, headers or batch overhead), MiB = 2^20 bytes.
    pub mib_per_sec: Option<f64>,
    /// What `latency` measures: `rtt` (librdkafka's produce-request round trip), `e2e` (send to consumer
    /// receipt), `startup` (spawn to first answer, across runs).
    pub latency_kind: Option<String>,
    pub latency: Option<Summary>,
    pub broker_cpu_seconds: Option<f64>,
    /// Broker CPU seconds (user + system) per million records of this case.
    pub broker_cpu_s_per_m_records: Option<f64>,
    pub broker_peak_rss_mib: Option<f64>,
    /// CPU cores the broker and the bench's own clients kept busy on average over the case (CPU seconds /
    /// wall seconds): on a small machine the clients compete with the broker for the same cores.
    pub broker_cores: Option<f64>,
    pub client_cores: Option<f64>,
    pub notes: Vec<String>,
    /// Why the case failed, if it did.
    pub error: Option<String>,
    /// Scenario-specific measurements, for `--json` readers.
    #[serde(skip_serializing_if = "serde_json::Value::is_null")]
    pub details: serde_json::Value,
}

impl Row {
    pub fn new(scenario: &str, case: &str) -> Row {
        Row {
            scenario: scenario.to_string(),
            case: case.to_string(),
            ..Row::default()
        }
    }

    pub fn throughput(mut self, records: u64, value_bytes: u64, seconds: f64) -> Row {
        let seconds = seconds.max(1e-9);
        self.records = Some(records);
        self.seconds = Some(seconds);
        self.records_per_sec = Some(records as f64 / seconds);
        self.mib_per_sec = Some(value_bytes as f64 / MIB / seconds);
        self
    }

    pub fn latency(mut self, kind: &str, summary: Option<Summary>) -> Row {
        if summary.is_some() {
            self.latency_kind = Some(kind.to_string());
            self.latency = summary;
        }
        self
    }

    /// Records what the broker spent; per million records when the row has a record count.
    pub fn cost(mut self, cost: Option<Cost>) -> Row {
        if let Some(cost) = cost {
            self.broker_cpu_seconds = Some(cost.cpu_seconds);
            self.broker_peak_rss_mib = Some(cost.peak_rss_bytes as f64 / MIB);
            let wall = cost.wall_seconds.max(1e-9);
            self.broker_cores = Some(cost.cpu_seconds / wall);
            self.client_cores = Some(cost.client_cpu_seconds / wall);
            if let Some(records) = self.records.filter(|r| *r > 0) {
                self.broker_cpu_s_per_m_records = Some(cost.cpu_seconds / records as f64 * 1e6);
            }
        }
        self
    }

    pub fn note(mut self, note: impl Into<String>) -> Row {
        self.notes.push(note.into());
        self
    }

    pub fn details(mut self, details: impl Serialize) -> Row {
        self.details = serde_json::to_value(details).unwrap_or(serde_json::Value::Null);
        self
    }
}

/// The machine, as the report header and BENCHMARKS.md describe it.
#[derive(Debug, Clone, Serialize)]
pub struct Machine {
    pub nproc: usize,
    pub cpu_model: String,
    pub memory_gib: f64,
    pub kernel: String,
    /// 1-, 5- and 15-minute load averages when the run started: a busy machine makes every number worse.
    pub loadavg_at_start: String,
    pub loadavg_at_end: String,
}

impl Machine {
    pub fn read() -> Machine {
        let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
        let cpu_model = cpuinfo
            .lines()
            .find(|l| l.starts_with("model name"))
            .and_then(|l| l.split_once(':'))
            .map_or("unknown".to_string(), |(_, v)| v.trim().to_string());
        let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
        let mem_kb: f64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0);
        Machine {
            nproc: std::thread::available_parallelism().map_or(0, |n| n.get()),
            cpu_model,
            memory_gib: mem_kb / 1024.0 / 1024.0,
            kernel: read_trimmed("/proc/sys/kernel/osrelease"),
            loadavg_at_start: loadavg(),
            loadavg_at_end: String::new(),
        }
    }
}

pub fn loadavg() -> String {
    read_trimmed("/proc/loadavg")
        .split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

fn read_trimmed(path: &str) -> String {
    std::fs::read_to_string(path)
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "unknown".to_string())
}

/// A speed target from the issue, checked against the rows (informative: nothing fails on it).
#[derive(Debug, Clone, Serialize)]
pub struct TargetCheck {
    pub target: String,
    pub measured: Option<String>,
    pub met: Option<bool>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: String,
    pub command: String,
    pub quick: bool,
    pub machine: Machine,
    /// Every setting that shapes the numbers, in the order the header prints them (a JSON object).
    #[serde(serialize_with = "ordered_map")]
    pub settings: Vec<(String, String)>,
    pub rows: Vec<Row>,
    pub targets: Vec<TargetCheck>,
}

impl Report {
    pub fn targets(rows: &[Row]) -> Vec<TargetCheck> {
        let find = |scenario: &str, case: &str| {
            rows.iter()
                .find(|r| r.scenario == scenario && r.case == case && r.error.is_none())
        };
        let rate = |row: Option<&Row>| row.and_then(|r| r.records_per_sec);
        let mut checks = Vec::new();
        let mut check =
            |target: &str, measured: Option<f64>, unit: &str, ok: &dyn Fn(f64) -> bool| {
                checks.push(TargetCheck {
                    target: target.to_string(),
                    measured: measured.map(|m| format!("{} {unit}", human(m))),
                    met: measured.map(ok),
                });
            };
        check(
            "produce 100 B, 1 producer, acks=1: >= 1.5M rec/s",
            rate(find("produce", &produce_case(100, 1, "1", "none"))),
            "rec/s",
            &|v| v >= 1.5e6,
        );
        check(
            "produce 100 B, 1 producer, acks=all: >= 1M rec/s",
            rate(find("produce", &produce_case(100, 1, "all", "none"))),
            "rec/s",
            &|v| v >= 1e6,
        );
        check(
            "consume 100 B: >= 2M rec/s",
            rate(
                rows.iter()
                    .find(|r| r.scenario == "consume" && r.error.is_none()),
            ),
            "rec/s",
            &|v| v >= 2e6,
        );
        check(
            "e2e at 10k rec/s, acks=all: p99 < 5 ms",
            find("e2e", &e2e_case(10_000)).and_then(|r| r.latency.map(|l| l.p99_ms)),
            "ms",
            &|v| v < 5.0,
        );
        check(
            "start-up (spawn to first TCP connect): < 20 ms",
            find("cost", STARTUP_CONNECT_CASE).and_then(|r| r.latency.map(|l| l.p50_ms)),
            "ms",
            &|v| v < 20.0,
        );
        check(
            "idle RSS: < 12 MB",
            find("cost", IDLE_RSS_CASE)
                .and_then(|r| r.broker_peak_rss_mib)
                .map(|mib| mib * MIB / 1e6),
            "MB",
            &|v| v < 12.0,
        );
        checks
    }

    /// The header, the table (Markdown with `markdown`), the targets and the failures.
    pub fn render(&self, markdown: bool) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.tool);
        let _ = writeln!(out, "command: {}", self.command);
        let m = &self.machine;
        let _ = writeln!(
            out,
            "machine: {} CPUs ({}), {:.1} GiB RAM, Linux {}; load average {} at start, {} at end",
            m.nproc, m.cpu_model, m.memory_gib, m.kernel, m.loadavg_at_start, m.loadavg_at_end
        );
        if self.quick {
            let _ = writeln!(
                out,
                "QUICK RUN: small sizes for a smoke test; the numbers are not representative."
            );
        }
        let _ = writeln!(out, "settings:");
        for (key, value) in &self.settings {
            let _ = writeln!(out, "  {key}: {value}");
        }
        let _ = writeln!(out);
        out.push_str(&table(&self.rows, markdown));
        let _ = writeln!(out);
        let _ = writeln!(out, "targets (informative; never asserted):");
        for t in &self.targets {
            let verdict = match t.met {
                Some(true) => "met",
                Some(false) => "NOT met",
                None => "not measured",
            };
            let _ = writeln!(
                out,
                "  {:<52} {:>16}  {verdict}",
                t.target,
                t.measured.as_deref().unwrap_or("-")
            );
        }
        let failed: Vec<&Row> = self.rows.iter().filter(|r| r.error.is_some()).collect();
        if !failed.is_empty() {
            let _ = writeln!(out);
            let _ = writeln!(out, "FAILED cases:");
            for r in failed {
                let _ = writeln!(
                    out,
                    "  {} / {}: {}",
                    r.scenario,
                    r.case,
                    r.error.as_deref().unwrap_or_default()
                );
            }
        }
        out
    }
}

fn ordered_map<S: serde::Serializer>(pairs: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
    s.collect_map(pairs.iter().map(|(k, v)| (k, v)))
}

pub const STARTUP_CONNECT_CASE: &str = "start-up: spawn -> first TCP connect";
pub const STARTUP_API_CASE: &str = "start-up: spawn -> first ApiVersions answer";
pub const STARTUP_READY_CASE: &str = "start-up: spawn -> Metadata lists the broker";
pub const RESTART_READY_CASE: &str = "restart on its data dir -> Metadata lists the broker";
pub const IDLE_RSS_CASE: &str = "idle RSS after start-up";

pub fn produce_case(size: usize, partitions: i32, acks: &str, compression: &str) -> String {
    format!("{size} B, {partitions} part, acks={acks}, {compression}")
}

pub fn e2e_case(rate: u64) -> String {
    format!("{} rec/s target", human(rate as f64))
}

/// 1234567 -> "1.23M", 12345 -> "12.3k", 12.345 -> "12.3", 0.01234 -> "0.0123".
pub fn human(v: f64) -> String {
    let a = v.abs();
    if a >= 1e6 {
        format!("{:.2}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 100.0 {
        format!("{v:.0}")
    } else if a >= 10.0 {
        format!("{v:.1}")
    } else if a >= 1.0 {
        format!("{v:.2}")
    } else if a == 0.0 {
        "0".to_string()
    } else {
        format!("{v:.3}")
    }
}

pub fn opt(v: Option<f64>) -> String {
    v.map_or("-".to_string(), human)
}

fn table(rows: &[Row], markdown: bool) -> String {
    let header = [
        "scenario",
        "case",
        "records",
        "secs",
        "rec/s",
        "MiB/s",
        "lat",
        "p50 ms",
        "p99 ms",
        "p99.9 ms",
        "max ms",
        "CPU s/M",
        "peak RSS MiB",
        "cores b/c",
        "notes",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for r in rows {
        let l = r.latency;
        let mut notes = r.notes.join("; ");
        if let Some(e) = &r.error {
            notes = format!("FAILED: {}", e.lines().next().unwrap_or_default());
        }
        cells.push(vec![
            r.scenario.clone(),
            r.case.clone(),
            opt(r.records.map(|v| v as f64)),
            opt(r.seconds),
            opt(r.records_per_sec),
            opt(r.mib_per_sec),
            r.latency_kind.clone().unwrap_or_else(|| "-".into()),
            opt(l.map(|l| l.p50_ms)),
            opt(l.map(|l| l.p99_ms)),
            opt(l.map(|l| l.p999_ms)),
            opt(l.map(|l| l.max_ms)),
            opt(r.broker_cpu_s_per_m_records),
            opt(r.broker_peak_rss_mib),
            match (r.broker_cores, r.client_cores) {
                (Some(b), Some(c)) => format!("{b:.2}/{c:.2}"),
                _ => "-".to_string(),
            },
            notes,
        ]);
    }
    // Text columns (scenario, case, lat, notes) left-aligned, numbers right-aligned.
    grid(&cells, &[0, 1, 6, 14], markdown)
}

/// `cells[0]` is the header. Plain: columns padded to their widest cell, a rule under the header, `left` columns
/// left-aligned and the others right-aligned. Markdown: a pipe table with the same alignment.
pub fn grid(cells: &[Vec<String>], left: &[usize], markdown: bool) -> String {
    let columns = cells.first().map_or(0, Vec::len);
    let mut out = String::new();
    if markdown {
        for (i, row) in cells.iter().enumerate() {
            let escaped: Vec<String> = row.iter().map(|c| c.replace('|', "\\|")).collect();
            out.push_str(&format!("| {} |\n", escaped.join(" | ")));
            if i == 0 {
                let rule: Vec<&str> = (0..columns)
                    .map(|c| if left.contains(&c) { "---" } else { "--:" })
                    .collect();
                out.push_str(&format!("|{}|\n", rule.join("|")));
            }
        }
        return out;
    }
    let widths: Vec<usize> = (0..columns)
        .map(|c| {
            cells
                .iter()
                .map(|row| row[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for (i, row) in cells.iter().enumerate() {
        let mut line = String::new();
        for (c, cell) in row.iter().enumerate() {
            let pad = widths[c] - cell.chars().count();
            if c > 0 {
                line.push_str("  ");
            }
            if left.contains(&c) {
                line.push_str(cell);
                if c + 1 < columns {
                    line.push_str(&" ".repeat(pad));
                }
            } else {
                line.push_str(&" ".repeat(pad));
                line.push_str(cell);
            }
        }
        out.push_str(line.trim_end());
        out.push('\n');
        if i == 0 {
            let total: usize = widths.iter().sum::<usize>() + 2 * (columns - 1);
            out.push_str(&"-".repeat(total.min(200)));
            out.push('\n');
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn human_numbers() {
        assert_eq!(human(1_234_567.0), "1.23M");
        assert_eq!(human(12_345.0), "12.3k");
        assert_eq!(human(512.4), "512");
        assert_eq!(human(12.34), "12.3");
        assert_eq!(human(1.234), "1.23");
        assert_eq!(human(0.01234), "0.012");
        assert_eq!(human(0.0), "0");
    }

    #[test]
    fn the_table_aligns_and_reports_failures() {
        let ok = Row::new("produce", "100 B").throughput(1000, 100_000, 0.5);
        let mut bad = Row::new("consume", "x");
        bad.error = Some("broker died\nlog...".into());
        let text = table(&[ok.clone(), bad.clone()], false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(lines[2].contains("2000"), "{text}");
        assert!(lines[2].contains("0.500"), "{text}");
        assert!(lines[3].contains("FAILED: broker died"), "{text}");

        let md = table(&[ok, bad], true);
        let lines: Vec<&str> = md.lines().collect();
        assert_eq!(lines.len(), 4, "{md}");
        assert!(
            lines[0].starts_with("| scenario | case | records |"),
            "{md}"
        );
        assert!(lines[1].starts_with("|---|---|--:|"), "{md}");
        assert_eq!(lines[2].matches(" | ").count(), 14, "{md}");
    }
}
