//! The scenarios and instruments behind the `sluice-bench` binary (`src/bin/sluice-bench.rs`).
//!
//! # Layout
//! - [`target`]: the broker under test, one we spawn through the harness's [`compat_tests::Broker`] or one at
//!   `--bootstrap`; what `/proc` says about its process ([`target::Meter`]: CPU time and peak RSS over one
//!   case); the start-up probe; killing what we spawned when the bench is interrupted.
//! - [`latency`]: HDR histograms in microseconds, and merging librdkafka's per-interval `rtt` windows.
//! - [`client`]: librdkafka plumbing shared by the scenarios: admin calls that return errors instead of
//!   panicking, the producer context that collects delivery reports and statistics, payloads.
//! - [`run`]: the resolved options and [`run::Bench`], through which every case runs (on each broker under test)
//!   and records its rows.
//! - One module per scenario: [`produce`], [`consume`], [`e2e`], [`cost`] (start-up and idle RSS; the cost
//!   under load is measured around every case of the others), [`scale`], [`txn`] (transactional throughput
//!   and read_committed end-to-end latency), [`groups`] (a group settling with the classic and KIP-848 protocols;
//!   share-group throughput through a Java helper).
//! - [`report`]: the rows every scenario returns, the settings and machine header, the table and `--json`.
//! - [`compare`]: `--compare-kafka`, the same cases on Sluice and on Apache Kafka (run-kafka.sh) side by side.
//!
//! Speed targets are printed next to the results and written in BENCHMARKS.md; nothing here fails on a slow
//! number. A case fails only when the broker misbehaves (delivery errors, missing records, a dead process).

pub mod client;
pub mod compare;
pub mod consume;
pub mod cost;
pub mod e2e;
pub mod groups;
pub mod latency;
pub mod produce;
pub mod report;
pub mod run;
pub mod scale;
pub mod target;
pub mod txn;
