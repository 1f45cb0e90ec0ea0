//! Scenario 4, broker cost at rest: start-up time and idle RSS. (The cost under load, CPU seconds per
//! million records and peak RSS, is measured around every case of the other scenarios by [`Meter`].)
//!
//! Start-up is measured on fresh brokers the probe spawns itself, each on a new data directory: from
//! `spawn()` to the first TCP connect that succeeds (the definition), and to the first ApiVersions
//! answer, which is when a client can actually start; the broker binds its listener before it opens the
//! store, so the two can differ. Idle RSS is VmRSS [`IDLE_SETTLE`] after that answer.
//!
//! [`Meter`]: super::target::Meter

use std::path::Path;

use super::latency::{self, Summary};
use super::report::{self, Row};
use super::run::Bench;
use super::target::{self, IDLE_SETTLE};

pub fn scenario(bench: &mut Bench, bin: Option<&Path>) {
    let Some(bin) = bin else {
        // Against --bootstrap there is nothing to spawn; report what we can see of the given process.
        bench.case("cost", report::IDLE_RSS_CASE, |b| {
            let Some(rss) = b.idle_rss_at_start else {
                return Ok(vec![Row::new("cost", report::IDLE_RSS_CASE).note(
                    "skipped: needs a broker the bench starts, or --broker-pid",
                )]);
            };
            let mut row = Row::new("cost", report::IDLE_RSS_CASE)
                .note("VmRSS of --broker-pid when the bench started (not a fresh broker)");
            row.broker_peak_rss_mib = Some(rss as f64 / (1024.0 * 1024.0));
            Ok(vec![row])
        });
        return;
    };
    let runs = bench.options.startup_runs.max(1);
    bench.case("cost", "start-up", |b| {
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            samples.push(target::probe_startup(bin)?);
        }
        let summarise = |values: &mut dyn Iterator<Item = std::time::Duration>| -> Option<Summary> {
            let mut h = latency::histogram();
            for v in values {
                h.saturating_record((v.as_micros() as u64).max(1));
            }
            Summary::of(&h)
        };
        let range = |ms: &mut dyn Iterator<Item = f64>| {
            let v: Vec<f64> = ms.collect();
            let min = v.iter().copied().fold(f64::INFINITY, f64::min);
            let max = v.iter().copied().fold(0.0, f64::max);
            format!("min {} max {}", report::human(min), report::human(max))
        };
        let connect = Row::new("cost", report::STARTUP_CONNECT_CASE)
            .latency("startup", summarise(&mut samples.iter().map(|s| s.connect)))
            .note(format!("{runs} fresh brokers; p50 is the median"));
        let api = Row::new("cost", report::STARTUP_API_CASE).latency(
            "startup",
            summarise(&mut samples.iter().map(|s| s.api_versions)),
        );
        let mut rss: Vec<u64> = samples.iter().map(|s| s.idle_rss_bytes).collect();
        rss.sort_unstable();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut idle = Row::new("cost", report::IDLE_RSS_CASE).note(format!(
            "VmRSS {} ms after the first answer, median of {runs} (MiB {})",
            IDLE_SETTLE.as_millis(),
            range(&mut rss.iter().map(|b| mib(*b)))
        ));
        idle.broker_peak_rss_mib = Some(mib(rss[rss.len() / 2]));
        if let Some(main) = b.idle_rss_at_start {
            idle = idle.note(format!(
                "bench's own broker at start: {} MiB",
                report::human(mib(main))
            ));
        }
        Ok(vec![connect, api, idle])
    });
}
