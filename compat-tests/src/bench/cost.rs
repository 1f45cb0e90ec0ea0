//! Scenario 4, broker cost at rest: start-up time and idle RSS. (The cost under load, CPU seconds per
//! million records and peak RSS, is measured around every case of the other scenarios by [`Meter`].)
//!
//! Start-up is measured on fresh brokers the probe spawns itself, each on a new data directory: from
//! `spawn()` to the first TCP connect that succeeds (the definition), to the first ApiVersions
//! answer, and to the first Metadata answer that lists a broker, which is when a client can actually produce;
//! the broker binds its listener before it opens the store, so these can differ (by seconds for Kafka, which
//! accepts connections and answers ApiVersions before its broker has registered with its controller). Then
//! each is stopped with SIGTERM and started again on the same data directory, timed to Metadata again: for
//! Kafka that leaves out formatting the directory. Idle RSS is VmRSS [`IDLE_SETTLE`] after the first start
//! was ready.
//!
//! [`Meter`]: super::target::Meter

use std::time::Duration;

use super::latency::{self, Summary};
use super::report::{self, Row};
use super::run::Bench;
use super::target::{self, IDLE_SETTLE};

pub fn scenario(bench: &mut Bench) {
    bench.case("cost", "start-up", |b| {
        let Some(bin) = b.target().bin.clone() else {
            // Against --bootstrap there is nothing to spawn; report what we can see of the given process.
            let Some(rss) = b.idle_rss_at_start() else {
                return Ok(vec![Row::new("cost", report::IDLE_RSS_CASE).note(
                    "skipped: needs a broker the bench starts, or --broker-pid",
                )]);
            };
            let mut row = Row::new("cost", report::IDLE_RSS_CASE)
                .note("VmRSS of --broker-pid when the bench started (not a fresh broker)");
            row.broker_peak_rss_mib = Some(rss as f64 / (1024.0 * 1024.0));
            return Ok(vec![row]);
        };
        let runs = b.options.startup_runs.max(1);
        let mut samples = Vec::with_capacity(runs);
        for _ in 0..runs {
            samples.push(target::probe_startup(&bin)?);
        }
        let summarise = |values: &mut dyn Iterator<Item = Duration>| -> Option<Summary> {
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
        let ready = Row::new("cost", report::STARTUP_READY_CASE)
            .latency("startup", summarise(&mut samples.iter().map(|s| s.ready)));
        let restart = Row::new("cost", report::RESTART_READY_CASE)
            .latency(
                "startup",
                summarise(&mut samples.iter().map(|s| s.restart_ready)),
            )
            .note("after a clean stop (SIGTERM)");
        let mut rss: Vec<u64> = samples.iter().map(|s| s.idle_rss_bytes).collect();
        rss.sort_unstable();
        let mib = |b: u64| b as f64 / (1024.0 * 1024.0);
        let mut idle = Row::new("cost", report::IDLE_RSS_CASE).note(format!(
            "VmRSS {} ms after it was ready, median of {runs} (MiB {})",
            IDLE_SETTLE.as_millis(),
            range(&mut rss.iter().map(|b| mib(*b)))
        ));
        idle.broker_peak_rss_mib = Some(mib(rss[rss.len() / 2]));
        if let Some(main) = b.idle_rss_at_start() {
            idle = idle.note(format!(
                "bench's own broker at start: {} MiB",
                report::human(mib(main))
            ));
        }
        Ok(vec![connect, api, ready, restart, idle])
    });
}
