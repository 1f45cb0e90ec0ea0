//! `sluice-bench`: drives a Sluice broker with librdkafka (the `rdkafka` crate), in the spirit of
//! kafka-producer-perf-test and rdkafka_performance, and prints one table (or `--json`).
//!
//! ```sh
//! cargo build --release -p sluice
//! cargo run --release -p compat-tests --bin sluice-bench -- --scenario all
//! cargo run --release -p compat-tests --bin sluice-bench -- --quick            # smoke run, < 1 min
//! cargo run --release -p compat-tests --bin sluice-bench -- --bootstrap 127.0.0.1:9092 --broker-pid 1234
//! cargo run --release -p compat-tests --bin sluice-bench -- --compare-kafka   # Sluice and Apache Kafka
//! ```
//!
//! By default it starts the broker itself (`$SLUICE_BIN`, or target/release/sluice) on 127.0.0.1:0 with a
//! temporary data directory, and kills it on exit, Ctrl-C included. With `--compare-kafka` it also starts
//! Apache Kafka through compat-tests/kafka/run-kafka.sh, runs every case on both back to back and prints them
//! side by side. The scenarios and how each number is measured are in `src/bench/` (see its module map) and in
//! BENCHMARKS.md at the repository root.

#[path = "../bench/mod.rs"]
mod bench;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use clap::{Parser, ValueEnum};

use bench::client::{self, Payloads};
use bench::compare::{self, Comparison};
use bench::report::{Machine, Report};
use bench::run::{Bench, BrokerRun, Options};
use bench::target::{self, Kind, Target};
use bench::{consume, cost, e2e, groups, produce, scale, txn};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Scenario {
    /// Produce throughput and request latency: 100 B / 1 KiB, 1 / 8 partitions, acks 1 / all, none / lz4.
    Produce,
    /// One consumer reading a preloaded topic from the beginning.
    Consume,
    /// Send-to-receive latency at fixed rates, acks=all.
    E2e,
    /// Broker start-up time and idle RSS (CPU and peak RSS under load are measured in every scenario).
    Cost,
    /// Idle connections, many partitions, a large consumer group.
    Scale,
    /// Transactional produce throughput (1, 100, 10,000 records per transaction) and read_committed
    /// end-to-end latency.
    Txn,
    /// Time for a `--group-members` group to settle, classic vs KIP-848 consumer protocol.
    Settle,
    /// KIP-932 share-group throughput on one partition (Kafka's KafkaShareConsumer in a JVM: needs
    /// `mvn -f compat-tests/java/pom.xml test-compile`).
    Share,
    /// All of the above.
    All,
}

/// Benchmark a Sluice broker with librdkafka.
#[derive(Debug, Parser)]
#[command(about, long_about = None)]
struct Cli {
    /// Scenarios to run, comma-separated or repeated.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "all")]
    scenario: Vec<Scenario>,
    /// Small sizes (the whole run takes about a minute): a smoke test, not a measurement.
    #[arg(long)]
    quick: bool,
    /// Records per produce case with 100-byte values (1 KiB cases send a fifth). Default 5M; quick 1M.
    #[arg(long, value_name = "N")]
    records: Option<u64>,
    /// Records the consume scenario preloads and reads. Default 10M; quick 1M.
    #[arg(long, value_name = "N")]
    consume_records: Option<u64>,
    /// Partitions of the consume scenario's topic.
    #[arg(long, value_name = "N", default_value_t = 1)]
    consume_partitions: i32,
    /// Seconds each end-to-end rate runs. Default 10; quick 2.
    #[arg(long, value_name = "S")]
    e2e_seconds: Option<f64>,
    /// End-to-end rates in records/s.
    #[arg(
        long,
        value_name = "R,R,...",
        value_delimiter = ',',
        default_value = "1000,10000,100000"
    )]
    e2e_rates: Vec<u64>,
    /// Fresh brokers the start-up probe spawns. Default 5; quick 3.
    #[arg(long, value_name = "N")]
    startup_runs: Option<usize>,
    /// Idle connections in the scale scenario.
    #[arg(long, value_name = "N", default_value_t = 1000)]
    idle_connections: usize,
    /// Topics the scale scenario creates and produces to.
    #[arg(long, value_name = "N", default_value_t = 100)]
    scale_topics: usize,
    /// Partitions of each of those topics.
    #[arg(long, value_name = "N", default_value_t = 8)]
    scale_partitions: i32,
    /// Members of the scale scenario's consumer group.
    #[arg(long, value_name = "N", default_value_t = 20)]
    group_members: usize,
    /// Records of the transactions scenario's 10,000-record-transaction case (100 B; 1 KiB cases send a fifth,
    /// 100-record transactions a tenth, single-record transactions a thousandth). Default 2M; quick 200k.
    #[arg(long, value_name = "N")]
    txn_records: Option<u64>,
    /// Records of each share-group case (100 B). Default 500k; quick 50k.
    #[arg(long, value_name = "N")]
    share_records: Option<u64>,
    /// Consumer counts of the share-group cases.
    #[arg(
        long,
        value_name = "N,N,...",
        value_delimiter = ',',
        default_value = "1,4,16"
    )]
    share_consumers: Vec<usize>,
    /// Upper bound, in seconds, on the sending part of any one case.
    #[arg(long, value_name = "S", default_value_t = 300)]
    case_timeout: u64,
    /// Use the broker at HOST:PORT instead of starting one; broker-cost metrics need --broker-pid.
    #[arg(long, value_name = "HOST:PORT")]
    bootstrap: Option<String>,
    /// The process id of the --bootstrap broker, on this machine, for CPU and RSS.
    #[arg(long, value_name = "PID", requires = "bootstrap")]
    broker_pid: Option<u32>,
    /// The sluice binary to start. Default: $SLUICE_BIN, or target/release/sluice in this workspace. A file
    /// named run-kafka* (compat-tests/kafka/run-kafka.sh) starts Apache Kafka instead, measured as its JVM.
    #[arg(long, value_name = "PATH")]
    sluice_bin: Option<PathBuf>,
    /// Also start Apache Kafka (--kafka-bin), run every case on Sluice and on Kafka back to back, and print
    /// them side by side.
    #[arg(long, conflicts_with = "bootstrap")]
    compare_kafka: bool,
    /// The Kafka launcher for --compare-kafka. Default: compat-tests/kafka/run-kafka.sh in this workspace.
    #[arg(long, value_name = "PATH")]
    kafka_bin: Option<PathBuf>,
    /// Untimed 100-byte records each broker gets before the first case, so that a JVM's JIT has compiled
    /// Kafka's produce path. Default: 2M (quick: 500k) when a broker is Kafka, else 0.
    #[arg(long, value_name = "N")]
    warm_up_records: Option<u64>,
    /// A YAML config file for the brokers the bench starts (Sluice's keys; run-kafka.sh maps them for Kafka),
    /// e.g. TLS or SASL listeners. Pair with -X for the clients' security settings.
    #[arg(long, value_name = "FILE", conflicts_with = "bootstrap")]
    broker_config: Option<PathBuf>,
    /// Bootstrap through this listener of --broker-config's `listeners` (default: the first one).
    #[arg(long, value_name = "NAME", requires = "broker_config")]
    listener: Option<String>,
    /// Print the tables as Markdown.
    #[arg(long)]
    markdown: bool,
    /// Print the report as JSON on stdout (the table then goes to stderr).
    #[arg(long)]
    json: bool,
    /// Keep each case's topics instead of deleting them after the case.
    #[arg(long)]
    keep_topics: bool,
    /// Run only the cases whose name contains TEXT, e.g. `--only "1024 B, 1 part"`.
    #[arg(long, value_name = "TEXT")]
    only: Option<String>,
    /// A librdkafka setting for every client the bench creates, after its own (as kcat's -X), e.g.
    /// `-X fetch.wait.max.ms=100` or `-X debug=fetch`. Repeatable.
    #[arg(short = 'X', value_name = "KEY=VALUE", value_parser = parse_setting)]
    client_settings: Vec<(String, String)>,
}

fn parse_setting(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(format!("expected KEY=VALUE, got {s:?}")),
    }
}

impl Cli {
    fn options(&self) -> Result<Options> {
        let quick = self.quick;
        let pick = |flag: Option<u64>, full: u64, small: u64| {
            flag.unwrap_or(if quick { small } else { full })
        };
        let options = Options {
            quick,
            records: pick(self.records, 5_000_000, 1_000_000),
            consume_records: pick(self.consume_records, 10_000_000, 1_000_000),
            consume_partitions: self.consume_partitions,
            e2e_seconds: self.e2e_seconds.unwrap_or(if quick { 2.0 } else { 10.0 }),
            e2e_rates: self.e2e_rates.clone(),
            startup_runs: self.startup_runs.unwrap_or(if quick { 3 } else { 5 }),
            idle_connections: self.idle_connections,
            scale_records: pick(None, 2_000_000, 500_000),
            scale_topics: self.scale_topics,
            scale_partitions: self.scale_partitions,
            scale_topic_records: pick(None, 800_000, 200_000),
            group_members: self.group_members,
            txn_records: pick(self.txn_records, 2_000_000, 200_000),
            share_records: pick(self.share_records, 500_000, 50_000),
            share_consumers: self.share_consumers.clone(),
            case_time_limit: Duration::from_secs(self.case_timeout),
            keep_topics: self.keep_topics,
            only: self.only.clone(),
        };
        if options.records == 0 || options.consume_records == 0 || options.txn_records == 0 {
            bail!("--records, --consume-records and --txn-records must be positive");
        }
        if options.share_records == 0 || options.share_consumers.contains(&0) {
            bail!("--share-records and every --share-consumers value must be positive");
        }
        if options.consume_partitions < 1 || options.scale_partitions < 1 {
            bail!("partition counts must be positive");
        }
        if options.e2e_seconds <= 0.0 || options.e2e_rates.contains(&0) {
            bail!("--e2e-seconds and every --e2e-rates value must be positive");
        }
        if options.scale_topics == 0 || options.group_members == 0 {
            bail!("--scale-topics and --group-members must be positive");
        }
        Ok(options)
    }

    fn wants(&self, scenario: Scenario) -> bool {
        self.scenario.contains(&Scenario::All) || self.scenario.contains(&scenario)
    }
}

fn main() -> ExitCode {
    match run() {
        Ok(code) => code,
        Err(e) => {
            eprintln!("sluice-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// bin/kafka-server-start.sh's heap and bin/kafka-run-class.sh's JVM options: Kafka as its own scripts run
/// it. (run-kafka.sh's defaults, a smaller heap and the C1 compiler only, are for quick test brokers.)
const KAFKA_HEAP_OPTS: &str = "-Xmx1G -Xms1G";
const KAFKA_JVM_PERFORMANCE_OPTS: &str = "-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 \
    -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 \
    -Djava.awt.headless=true";

/// Sets Kafka's JVM options for run-kafka.sh unless the caller set them; returns what the JVM gets.
fn kafka_jvm_options() -> String {
    for (key, default) in [
        ("KAFKA_HEAP_OPTS", KAFKA_HEAP_OPTS),
        ("KAFKA_JVM_PERFORMANCE_OPTS", KAFKA_JVM_PERFORMANCE_OPTS),
    ] {
        if std::env::var_os(key).is_none_or(|v| v.is_empty()) {
            std::env::set_var(key, default);
        }
    }
    format!(
        "KAFKA_HEAP_OPTS=\"{}\" KAFKA_JVM_PERFORMANCE_OPTS=\"{}\" (bin/kafka-server-start.sh's and \
         bin/kafka-run-class.sh's defaults unless set by the caller); run-kafka.sh adds its class-data archive \
         (AppCDS) and its config: one KRaft node (broker and controller), plaintext, replication factor 1, \
         min.insync.replicas=1, group.initial.rebalance.delay.ms=0, Kafka's defaults otherwise (no fsync per \
         write: log.flush.interval.messages unset)",
        std::env::var("KAFKA_HEAP_OPTS").unwrap_or_default(),
        std::env::var("KAFKA_JVM_PERFORMANCE_OPTS").unwrap_or_default()
    )
}

fn default_kafka_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("kafka/run-kafka.sh")
}

fn run() -> Result<ExitCode> {
    let cli = Cli::parse();
    let options = cli.options()?;
    target::install_signal_handler()?;
    client::epoch();
    client::set_extra(cli.client_settings.clone());
    let mut machine = Machine::read();

    let mut bins = vec![cli
        .sluice_bin
        .clone()
        .unwrap_or_else(compat_tests::sluice_bin)];
    if cli.compare_kafka {
        bins.push(cli.kafka_bin.clone().unwrap_or_else(default_kafka_bin));
        if Kind::of(&bins[0]) == Kind::Kafka || Kind::of(&bins[1]) != Kind::Kafka {
            bail!("--compare-kafka needs Sluice as --sluice-bin and a run-kafka* script as --kafka-bin");
        }
    }
    let mut brokers = Vec::new();
    let mut kafka_jvm = None;
    match &cli.bootstrap {
        Some(bootstrap) => brokers.push(BrokerRun::new(Target::external(
            bootstrap.clone(),
            cli.broker_pid,
        )?)),
        None => {
            for bin in &bins {
                if Kind::of(bin) == Kind::Kafka {
                    kafka_jvm = Some(kafka_jvm_options());
                }
                eprintln!("sluice-bench: starting {}", bin.display());
                let config =
                    match &cli.broker_config {
                        Some(path) => Some(std::fs::read_to_string(path).with_context(|| {
                            format!("reading --broker-config {}", path.display())
                        })?),
                        None => None,
                    };
                let target = Target::spawn(bin, config.as_deref(), cli.listener.as_deref())?;
                if let (Some(launcher), Some(pid)) = (target.launcher_pid, target.pid) {
                    eprintln!(
                        "sluice-bench: {} is the JVM, pid {pid}, a child of {} (pid {launcher}): CPU and RSS are \
                         the JVM's",
                        target.name,
                        bin.display()
                    );
                }
                brokers.push(BrokerRun::new(target));
            }
        }
    }
    let warm_up = cli
        .warm_up_records
        .unwrap_or(match (&kafka_jvm, options.quick) {
            (None, _) => 0,
            (Some(_), false) => 2_000_000,
            (Some(_), true) => 500_000,
        });
    let mut bench = Bench::new(brokers, options, Payloads::new());
    if warm_up > 0 {
        bench::produce::warm_up(&bench, warm_up);
    }

    if cli.wants(Scenario::Cost) {
        cost::scenario(&mut bench);
    }
    if cli.wants(Scenario::Produce) {
        produce::scenario(&mut bench);
    }
    if cli.wants(Scenario::Consume) {
        consume::scenario(&mut bench);
    }
    if cli.wants(Scenario::E2e) {
        e2e::scenario(&mut bench);
    }
    if cli.wants(Scenario::Scale) {
        scale::scenario(&mut bench);
    }
    if cli.wants(Scenario::Txn) {
        txn::scenario(&mut bench);
    }
    if cli.wants(Scenario::Settle) {
        groups::settle_scenario(&mut bench);
    }
    if cli.wants(Scenario::Share) {
        groups::share_scenario(&mut bench);
    }
    machine.loadavg_at_end = bench::report::loadavg();
    let both = bench.brokers.len() > 1;
    let mut shared: Vec<(String, String)> = Vec::new();
    if warm_up > 0 {
        shared.push((
            "warm-up".into(),
            format!(
                "{warm_up} x 100 B records per broker before the first case, half acks=1 uncompressed, half \
                 acks=all lz4, not timed (so that Kafka's JIT has compiled its produce path)"
            ),
        ));
    }
    if both {
        let idle: Vec<String> = bench
            .brokers
            .iter()
            .map(|b| {
                format!(
                    "{} {} cores",
                    b.target.name,
                    report_cores(b.idle_cpu_seconds, b.idle_wall_seconds)
                )
            })
            .collect();
        shared.push((
            "side by side".into(),
            format!(
                "both brokers run for the whole bench; every case runs on one, then at once on the other (which \
                 goes first alternates from case to case); the one not under test idles, using on average: {}",
                idle.join(", ")
            ),
        ));
    }
    let reports: Vec<Report> = bench
        .brokers
        .iter()
        .map(|b| {
            let mut settings = settings(&cli, &bench.options, &b.target);
            if let (Some(jvm), true) = (&kafka_jvm, b.target.launcher_pid.is_some()) {
                settings.push(("Kafka JVM".into(), jvm.clone()));
            }
            settings.extend(shared.iter().cloned());
            Report {
                tool: format!(
                    "sluice-bench {}{}",
                    env!("CARGO_PKG_VERSION"),
                    if both {
                        format!(": {}", b.target.name)
                    } else {
                        String::new()
                    }
                ),
                command: std::env::args().collect::<Vec<_>>().join(" "),
                quick: bench.options.quick,
                machine: machine.clone(),
                settings,
                targets: Report::targets(&b.rows),
                rows: b.rows.clone(),
            }
        })
        .collect();
    // After the reports: their headers describe the brokers (data dirs, pids) as they ran.
    for broker in &mut bench.brokers {
        broker.target.stop();
    }

    let mut text: Vec<String> = reports.iter().map(|r| r.render(cli.markdown)).collect();
    let comparison = both.then(|| {
        let pairs = compare::pair(&reports[0].rows, &reports[1].rows);
        let goals = compare::goals(&reports[0].rows, &reports[1].rows);
        text.push(format!(
            "Sluice (S) and Apache Kafka (K) side by side; \"Kafka better on\" lists the measures where Kafka did \
             more than 5 % better (rec/s higher; latency, CPU s/M, RSS, secs lower)\n\n{}\n{}",
            compare::table(&pairs, cli.markdown),
            compare::render_goals(&goals)
        ));
        Comparison {
            reports: reports.clone(),
            pairs,
            goals,
        }
    });
    let text = text.join("\n\n");
    if cli.json {
        eprintln!("{text}");
        let json = match &comparison {
            Some(c) => serde_json::to_string_pretty(c)?,
            None => serde_json::to_string_pretty(&reports[0])?,
        };
        println!("{json}");
    } else {
        println!("{text}");
    }
    let mut code = ExitCode::SUCCESS;
    for broker in &bench.brokers {
        if broker.rows.iter().any(|r| r.error.is_some()) {
            code = ExitCode::from(1);
        }
    }
    for broker in &bench.brokers {
        if let Some(fatal) = &broker.fatal {
            eprintln!(
                "sluice-bench: {} stopped early: {}",
                broker.target.name,
                fatal.lines().next().unwrap_or_default()
            );
            code = ExitCode::from(2);
        }
    }
    Ok(code)
}

fn report_cores(cpu: f64, wall: f64) -> String {
    if wall > 0.0 {
        format!("{:.3}", cpu / wall)
    } else {
        "-".to_string()
    }
}

/// Everything that shapes the numbers, printed above the table.
fn settings(cli: &Cli, o: &Options, target: &Target) -> Vec<(String, String)> {
    let mut s: Vec<(String, String)> = Vec::new();
    let mut set = |k: &str, v: String| s.push((k.to_string(), v));
    let broker = if let (true, Some(bin)) = (target.spawned(), &target.bin) {
        format!(
            "started by the bench: {} ({}) on {}, fresh data dir {}, default config{}",
            bin.display(),
            target::binary_version(bin).unwrap_or_else(|| "version unknown".into()),
            target.bootstrap,
            target
                .data_dir()
                .map_or("?".into(), |d| d.display().to_string()),
            match (target.launcher_pid, target.pid) {
                (Some(launcher), Some(pid)) => format!(
                    "; CPU and RSS are those of its JVM (pid {pid}, found among the descendants of the \
                     launcher, pid {launcher})"
                ),
                _ => String::new(),
            }
        )
    } else {
        format!(
            "external at {}; {}",
            target.bootstrap,
            match target.pid {
                Some(pid) => format!("pid {pid} watched for CPU and RSS"),
                None => "no --broker-pid: broker CPU and RSS not measured".into(),
            }
        )
    };
    set("broker", broker);
    let (_, librdkafka) = rdkafka::util::get_rdkafka_version();
    set(
        "clients",
        format!("librdkafka {librdkafka} through the rdkafka crate, in this process, on the same machine"),
    );
    set(
        "scenarios",
        match &o.only {
            Some(only) => format!("{:?}, cases containing {only:?}", cli.scenario).to_lowercase(),
            None => format!("{:?}", cli.scenario).to_lowercase(),
        },
    );
    if !cli.client_settings.is_empty() {
        set(
            "-X (every client, after the settings below)",
            client::render(&cli.client_settings),
        );
    }
    set(
        "produce",
        format!(
            "{} x 100 B and {} x 1 KiB records per case; partitions 1 and 8; acks 1 and all; compression none \
             and lz4; one BaseProducer; a fresh topic per case, deleted after it; time limit {} s per case",
            o.records,
            (o.records / 5).max(1),
            o.case_time_limit.as_secs()
        ),
    );
    set(
        "produce config",
        client::render(&produce::throughput_settings("<acks>", "<codec>")),
    );
    set(
        "produce values",
        "pseudo-text windows of a 4 MiB corpus (about as lz4-compressible as log lines), no keys, librdkafka's \
         default partitioner (sticky for keyless records)"
            .into(),
    );
    set(
        "produce clock",
        "first send() to the last delivery report; rec/s counts acknowledged records; MiB/s counts record \
         values (2^20 bytes)"
            .into(),
    );
    set(
        "latency lat=rtt",
        format!(
            "librdkafka statistics brokers.<id>.rtt: broker round trip per request (Produce, plus rare Metadata), \
             HDR windows every {} ms merged by interpolating each window's p50..p99.99 (p99.9 is \
             interpolated; librdkafka caps rtt at 500 ms); notes add 'delivery' = send() to delivery report per \
             message, exact, including client queueing",
            produce::STATS_INTERVAL_MS
        ),
    );
    set(
        "consume",
        format!(
            "{} x 100 B records preloaded (acks=1, not timed) into {} partition(s); one BaseConsumer, assign() \
             from the beginning, poll() per record; clock from assign() to the last record",
            o.consume_records, o.consume_partitions
        ),
    );
    set(
        "consume config",
        format!(
            "{} (fetch sizes and waits: librdkafka defaults; with librdkafka's default queued.min.messages and \
             fetch.queue.backoff.ms one consumer stalls near 250k rec/s whatever the broker does)",
            client::render(&consume::consumer_settings())
        ),
    );
    set(
        "e2e",
        format!(
            "rates {:?} rec/s, {} s each after a warm-up; 100 B, 1 partition; lat=e2e: send() to the consumer's \
             poll() in one process (monotonic clock in the value)",
            o.e2e_rates, o.e2e_seconds
        ),
    );
    set(
        "e2e producer config",
        client::render(&e2e::producer_settings()),
    );
    set(
        "broker cost",
        format!(
            "start-up: {} fresh brokers (own port and data dir), spawn() to first TCP connect, to first \
             ApiVersions answer and to first Metadata answer listing a broker, then a restart on the same data \
             dir after SIGTERM, timed to Metadata; idle RSS: VmRSS {} ms after the first start was ready; CPU \
             s/M: broker utime+stime per million records of the case; peak RSS: max of VmHWM (reset per case \
             via /proc/<pid>/clear_refs) and VmRSS sampled every 10 ms",
            o.startup_runs,
            target::IDLE_SETTLE.as_millis()
        ),
    );
    set(
        "scale",
        format!(
            "{} idle connections (1 ApiVersions each, then held) around a producer of {} x 100 B acks=1; \
             {} topics x {} partitions in one CreateTopics, then {} records over all of them; a consumer group \
             of {} members on {} partitions (librdkafka defaults: range,roundrobin assignors, \
             session.timeout.ms 45000, heartbeat.interval.ms 3000; broker default \
             group_initial_rebalance_delay_ms 0)",
            o.idle_connections,
            o.scale_records,
            o.scale_topics,
            o.scale_partitions,
            o.scale_topic_records,
            o.group_members,
            2 * o.group_members
        ),
    );
    set(
        "txn",
        format!(
            "one transactional BaseProducer (a fresh transactional.id per case, init_transactions not timed) \
             on a fresh 1-partition topic: transactions of {:?} records, {} x 100 B records for 10,000-record \
             transactions, a tenth for 100, a thousandth for 1, a fifth of each for 1 KiB; begin, send, \
             commit_transaction (flush + EndTxn) per transaction; clock from the first begin to the last \
             commit's return; lat=commit: time in commit_transaction per transaction, exact",
            txn::TXN_SIZES,
            o.txn_records
        ),
    );
    set(
        "txn producer config",
        client::render(&txn::producer_settings()),
    );
    set(
        "txn-e2e",
        format!(
            "(records per transaction, transactions/s) {:?}, {} s each after a warm-up, 100 B, records of a \
             transaction sent back to back then committed; lat=e2e: send() to the poll() of a consumer with \
             {} in the same process",
            txn::E2E_CASES,
            o.e2e_seconds,
            client::render(&[("isolation.level".into(), "read_committed".into())])
        ),
    );
    set(
        "txn-e2e producer config",
        client::render(&txn::e2e_producer_settings()),
    );
    set(
        "settle",
        format!(
            "{} librdkafka members on {} partitions, group.protocol classic then consumer, librdkafka's and the \
             broker's default timings; clock from the first subscribe until every member owns a non-empty, \
             disjoint share covering every partition, held for 1 s",
            o.group_members,
            2 * o.group_members
        ),
    );
    set(
        "share",
        format!(
            "{} x 100 B records preloaded (acks=1, not timed) into 1 partition; {:?} KafkaShareConsumers \
             (sluice.compat.ShareBench, one JVM, a thread each, implicit acknowledgement, commitSync per poll); \
             clock from the first record delivered to the last acknowledgement",
            o.share_records, o.share_consumers
        ),
    );
    s
}
