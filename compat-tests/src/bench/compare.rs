//! `--compare-kafka`: the same cases on Sluice and on Apache Kafka, side by side.
//!
//! Each case ran on both brokers back to back ([`super::run::Bench::case`]); here the two reports' rows are
//! paired by scenario and case, one table row per pair, with the column that says plainly where Kafka did
//! better, and the goals against Kafka are checked (informative, as the targets are).

use serde::Serialize;

use super::report::{self, grid, human, opt, Report, Row};
use super::txn;

/// Two values closer than this (relative) count as even: run-to-run noise on a shared machine is larger.
const EVEN: f64 = 0.05;

/// One case on both brokers.
#[derive(Debug, Clone, Serialize)]
pub struct Pair {
    pub scenario: String,
    pub case: String,
    pub sluice: Option<Row>,
    pub kafka: Option<Row>,
    /// The measures on which Kafka did better than Sluice by more than 5 %.
    pub kafka_better_on: Vec<String>,
    /// The measures on which Sluice did better than Kafka by more than 5 %.
    pub sluice_better_on: Vec<String>,
}

/// The measures compared, as (name, value, whether higher is better).
fn measures(row: &Row) -> Vec<(&'static str, Option<f64>, bool)> {
    let l = row.latency;
    // An e2e case runs at a fixed rate: its rate says whether the sender kept up, not which broker is faster.
    let rate = if row.scenario == "e2e" || row.scenario == "txn-e2e" {
        None
    } else {
        row.records_per_sec
    };
    vec![
        ("rec/s", rate, true),
        ("p50", l.map(|l| l.p50_ms), false),
        ("p99", l.map(|l| l.p99_ms), false),
        ("CPU", row.broker_cpu_s_per_m_records, false),
        ("RSS", row.broker_peak_rss_mib, false),
        ("time", seconds_only(row), false),
    ]
}

/// The duration of a row measured only as a duration (creating topics, a group's assignment, opening
/// connections): rows with a rate or a latency have those instead.
fn seconds_only(row: &Row) -> Option<f64> {
    if row.records_per_sec.is_some() || row.latency.is_some() {
        None
    } else {
        row.seconds
    }
}

/// Pairs `sluice`'s rows with `kafka`'s by (scenario, case), in Sluice's order, then Kafka's rows that Sluice
/// lacks.
pub fn pair(sluice: &[Row], kafka: &[Row]) -> Vec<Pair> {
    let key = |r: &Row| (r.scenario.clone(), r.case.clone());
    let mut keys: Vec<(String, String)> = Vec::new();
    for r in sluice.iter().chain(kafka) {
        if !keys.contains(&key(r)) {
            keys.push(key(r));
        }
    }
    keys.into_iter()
        .map(|(scenario, case)| {
            let find = |rows: &[Row]| {
                rows.iter()
                    .find(|r| r.scenario == scenario && r.case == case)
                    .cloned()
            };
            let (s, k) = (find(sluice), find(kafka));
            let (mut kafka_better_on, mut sluice_better_on) = (Vec::new(), Vec::new());
            if let (Some(s), Some(k)) = (&s, &k) {
                if s.error.is_none() && k.error.is_none() {
                    for ((name, sv, higher), (_, kv, _)) in measures(s).into_iter().zip(measures(k))
                    {
                        let (Some(sv), Some(kv)) = (sv, kv) else {
                            continue;
                        };
                        if (sv - kv).abs() <= EVEN * sv.abs().max(kv.abs()) {
                            continue;
                        }
                        if (kv > sv) == higher {
                            kafka_better_on.push(name.to_string());
                        } else {
                            sluice_better_on.push(name.to_string());
                        }
                    }
                }
            }
            Pair {
                scenario,
                case,
                sluice: s,
                kafka: k,
                kafka_better_on,
                sluice_better_on,
            }
        })
        .collect()
}

/// One number of a row, for a column of the side-by-side table.
type Measure<'a> = &'a dyn Fn(&Row) -> Option<f64>;

/// The side-by-side table: per measure a Sluice column and a Kafka column.
pub fn table(pairs: &[Pair], markdown: bool) -> String {
    let header = [
        "scenario",
        "case",
        "rec/s S",
        "rec/s K",
        "p50 ms S",
        "p50 ms K",
        "p99 ms S",
        "p99 ms K",
        "CPU s/M S",
        "CPU s/M K",
        "RSS MiB S",
        "RSS MiB K",
        "secs S",
        "secs K",
        "Kafka better on",
    ];
    let mut cells: Vec<Vec<String>> = vec![header.iter().map(|h| h.to_string()).collect()];
    for p in pairs {
        let cell = |row: &Option<Row>, f: Measure| match row {
            Some(r) if r.error.is_some() => "FAILED".to_string(),
            Some(r) => opt(f(r)),
            None => "-".to_string(),
        };
        let mut line = vec![p.scenario.clone(), p.case.clone()];
        let columns: [Measure; 6] = [
            &|r| r.records_per_sec,
            &|r| r.latency.map(|l| l.p50_ms),
            &|r| r.latency.map(|l| l.p99_ms),
            &|r| r.broker_cpu_s_per_m_records,
            &|r| r.broker_peak_rss_mib,
            &seconds_only,
        ];
        for f in columns {
            line.push(cell(&p.sluice, f));
            line.push(cell(&p.kafka, f));
        }
        line.push(if p.kafka_better_on.is_empty() {
            "-".to_string()
        } else {
            p.kafka_better_on.join(", ")
        });
        cells.push(line);
    }
    grid(&cells, &[0, 1, 14], markdown)
}

/// One of the goals against Kafka.
#[derive(Debug, Clone, Serialize)]
pub struct Goal {
    pub goal: String,
    pub sluice: Option<f64>,
    pub kafka: Option<f64>,
    pub unit: String,
    pub met: Option<bool>,
}

/// "More records/s with acks=all, a lower p99, a tenth of its memory and a fiftieth of its start-up time."
pub fn goals(sluice: &[Row], kafka: &[Row]) -> Vec<Goal> {
    let find = |rows: &[Row], scenario: &str, case: &str| -> Option<Row> {
        rows.iter()
            .find(|r| r.scenario == scenario && r.case == case && r.error.is_none())
            .cloned()
    };
    let peak = |rows: &[Row]| {
        rows.iter()
            .filter(|r| r.scenario != "cost")
            .filter_map(|r| r.broker_peak_rss_mib)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))))
    };
    let mut out = Vec::new();
    let mut goal =
        |text: &str, unit: &str, s: Option<f64>, k: Option<f64>, ok: &dyn Fn(f64, f64) -> bool| {
            out.push(Goal {
                goal: text.to_string(),
                sluice: s,
                kafka: k,
                unit: unit.to_string(),
                met: s.zip(k).map(|(s, k)| ok(s, k)),
            });
        };
    let acks_all = report::produce_case(100, 1, "all", "none");
    let rate = |rows: &[Row]| find(rows, "produce", &acks_all).and_then(|r| r.records_per_sec);
    goal(
        "more rec/s: produce 100 B, 1 part, acks=all",
        "rec/s",
        rate(sluice),
        rate(kafka),
        &|s, k| s > k,
    );
    let e2e = report::e2e_case(10_000);
    let p99 = |rows: &[Row]| find(rows, "e2e", &e2e).and_then(|r| r.latency.map(|l| l.p99_ms));
    goal(
        "lower p99: e2e at 10k rec/s, acks=all",
        "ms",
        p99(sluice),
        p99(kafka),
        &|s, k| s < k,
    );
    let idle = |rows: &[Row]| {
        find(rows, "cost", report::IDLE_RSS_CASE).and_then(|r| r.broker_peak_rss_mib)
    };
    goal(
        "a tenth of the memory: idle RSS",
        "MiB",
        idle(sluice),
        idle(kafka),
        &|s, k| s <= k / 10.0,
    );
    goal(
        "a tenth of the memory: highest peak RSS of any case",
        "MiB",
        peak(sluice),
        peak(kafka),
        &|s, k| s <= k / 10.0,
    );
    let ready = |rows: &[Row]| {
        find(rows, "cost", report::STARTUP_READY_CASE).and_then(|r| r.latency.map(|l| l.p50_ms))
    };
    goal(
        "a fiftieth of the start-up time: spawn -> Metadata lists the broker, median",
        "ms",
        ready(sluice),
        ready(kafka),
        &|s, k| s <= k / 50.0,
    );
    // #15: beat Kafka on transactional throughput and on what a read_committed consumer waits.
    for txn_size in txn::TXN_SIZES {
        let case = txn::case_name(100, txn_size);
        let rate = |rows: &[Row]| find(rows, "txn", &case).and_then(|r| r.records_per_sec);
        goal(
            &format!("more rec/s: transactions, {case}"),
            "rec/s",
            rate(sluice),
            rate(kafka),
            &|s, k| s > k,
        );
    }
    for (txn_size, txns_per_sec) in txn::E2E_CASES {
        let case = txn::e2e_case_name(txn_size, txns_per_sec);
        let p99 =
            |rows: &[Row]| find(rows, "txn-e2e", &case).and_then(|r| r.latency.map(|l| l.p99_ms));
        goal(
            &format!("lower p99: e2e {case}"),
            "ms",
            p99(sluice),
            p99(kafka),
            &|s, k| s < k,
        );
    }
    out
}

/// The goals as lines under the table.
pub fn render_goals(goals: &[Goal]) -> String {
    let mut out = String::from("goals against Apache Kafka (informative; never asserted):\n");
    for g in goals {
        let verdict = match g.met {
            Some(true) => "met",
            Some(false) => "NOT met",
            None => "not measured",
        };
        let ratio = match (g.sluice, g.kafka) {
            (Some(s), Some(k)) if s > 0.0 => format!(" (Kafka/Sluice {})", human(k / s)),
            _ => String::new(),
        };
        out.push_str(&format!(
            "  {:<76} Sluice {:>8} {} vs Kafka {:>8} {}{ratio}  {verdict}\n",
            g.goal,
            opt(g.sluice),
            g.unit,
            opt(g.kafka),
            g.unit
        ));
    }
    out
}

/// `--json` with `--compare-kafka`: both reports, the pairs and the goals.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    pub reports: Vec<Report>,
    pub pairs: Vec<Pair>,
    pub goals: Vec<Goal>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bench::latency::Summary;

    fn produce(rate: f64, p99: f64, rss: f64) -> Row {
        let mut row = Row::new("produce", &report::produce_case(100, 1, "all", "none"))
            .throughput(rate as u64, rate as u64 * 100, 1.0)
            .latency(
                "rtt",
                Some(Summary {
                    count: 10,
                    p50_ms: p99 / 2.0,
                    p99_ms: p99,
                    p999_ms: p99,
                    max_ms: p99,
                }),
            );
        row.broker_peak_rss_mib = Some(rss);
        row
    }

    #[test]
    fn rows_pair_by_case_and_say_where_kafka_did_better() {
        // Sluice faster and smaller, Kafka with the lower p99; p50 within 5 % counts as even.
        let mut s = produce(2e6, 20.0, 100.0);
        let mut k = produce(1e6, 10.0, 1000.0);
        s.latency.as_mut().unwrap().p50_ms = 5.0;
        k.latency.as_mut().unwrap().p50_ms = 5.1;
        let only_kafka = Row::new("scale", "consumer group: 20 members, 40 partitions");
        let pairs = pair(&[s], &[k, only_kafka]);
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[0].kafka_better_on, vec!["p99"]);
        assert_eq!(pairs[0].sluice_better_on, vec!["rec/s", "RSS"]);
        assert!(pairs[1].sluice.is_none() && pairs[1].kafka.is_some());

        let text = table(&pairs, false);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines[2].contains("2.00M") && lines[2].contains("1.00M"),
            "{text}"
        );
        assert!(lines[2].trim_end().ends_with("p99"), "{text}");
        let md = table(&pairs, true);
        assert_eq!(
            md.lines().nth(2).unwrap().matches(" | ").count(),
            14,
            "{md}"
        );
    }

    #[test]
    fn goals_compare_against_kafka() {
        let goals = goals(&[produce(2e6, 1.0, 10.0)], &[produce(1e6, 1.0, 200.0)]);
        assert_eq!(goals[0].met, Some(true), "{goals:?}");
        // No e2e rows: not measured rather than failed.
        assert_eq!(goals[1].met, None);
        // Peak RSS 10 vs 200 MiB: within a tenth.
        assert_eq!(goals[3].met, Some(true), "{goals:?}");
        assert!(
            render_goals(&goals).contains("NOT met")
                || render_goals(&goals).contains("not measured")
        );
    }
}
