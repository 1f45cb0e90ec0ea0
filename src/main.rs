//! The `sluice` command: parse flags, load configuration, start the broker, stop on SIGINT/SIGTERM.

use std::io::IsTerminal;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Parser;
use tokio::net::TcpListener;
use tokio::sync::watch;

use sluice::broker::{Broker, ListenerInfo};
use sluice::config::{self, Config};
use sluice::store::Store;

/// A Kafka-compatible broker in one binary. Flags override the config file, which overrides the
/// built-in defaults.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    /// YAML config file (see config/sluice.yaml for every key).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 0.0.0.0:9092 or 127.0.0.1:0 (port 0 picks a free port).
    /// Default: [::]:9092, which accepts IPv4 and IPv6.
    #[arg(long, value_name = "HOST:PORT")]
    listen: Option<String>,
    /// host:port that clients are told to connect to. Default: the listen address, or
    /// localhost:<port> when listening on all interfaces.
    #[arg(long, value_name = "HOST:PORT")]
    advertise: Option<String>,
    /// Directory for the sled database. Default: ./data
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// This broker's node id. Default: 1
    #[arg(long, value_name = "N")]
    node_id: Option<i32>,
}

/// jemalloc, not the system allocator: with glibc's malloc, freed memory stayed in its per-thread
/// arenas, and the broker's RSS rose with every load peak and never came back down (about 1 GiB
/// after a full `sluice-bench` run whose live heap, trimmed, was under 30 MiB). jemalloc returns
/// it within seconds (options in .cargo/config.toml); see BENCHMARKS.md.
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("sluice: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn load_config(cli: Cli) -> Result<Config> {
    let mut config = match &cli.config {
        Some(path) => Config::from_file(path)?,
        None => Config::default(),
    };
    if config.listeners.is_some() && (cli.listen.is_some() || cli.advertise.is_some()) {
        anyhow::bail!(
            "--listen and --advertise set the single listener; the config file names its `listeners`"
        );
    }
    if let Some(v) = cli.listen {
        config.listen = v;
    }
    if let Some(v) = cli.advertise {
        config.advertise = Some(v);
    }
    if let Some(v) = cli.data_dir {
        config.data_dir = v;
    }
    if let Some(v) = cli.node_id {
        config.node_id = v;
    }
    config.validate()?;
    Ok(config)
}

fn run() -> Result<()> {
    let config = load_config(Cli::parse())?;
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.is_empty() => {
            tracing_subscriber::EnvFilter::try_new(v).context("invalid RUST_LOG")?
        }
        _ => tracing_subscriber::EnvFilter::new(&config.log_level),
    };
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        // A closed stderr (`sluice 2>&1 | head`, a log collector gone) must not take the broker
        // down: tracing would report the failed write with eprintln!, which panics on EPIPE.
        .log_internal_errors(false)
        .init();
    let (data_dir, cache, flush_ms) = (
        config.data_dir.clone(),
        config.cache_capacity_bytes,
        config.flush_interval_ms,
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    runtime.block_on(serve(config))?;
    // Every task goes with the runtime, and with them every handle on the store.
    drop(runtime);
    let started = std::time::Instant::now();
    match sluice::store::write_snapshot(&data_dir, cache, flush_ms) {
        Ok(()) => tracing::info!(
            ms = started.elapsed().as_millis() as u64,
            "wrote the store's snapshot for a fast next start; bye"
        ),
        // The next start replays the log instead: slower, not wrong.
        Err(e) => tracing::warn!(error = %format!("{e:#}"), "could not write the store's snapshot"),
    }
    Ok(())
}

async fn bind(addr: SocketAddr) -> Result<TcpListener> {
    match TcpListener::bind(addr).await {
        Ok(l) => Ok(l),
        // A host without IPv6 cannot bind [::]; all IPv4 interfaces are the closest equivalent.
        Err(e) if addr.ip().is_unspecified() && addr.is_ipv6() => {
            tracing::warn!(error = %e, "cannot listen on [::], falling back to 0.0.0.0");
            let v4 = SocketAddr::from(([0, 0, 0, 0], addr.port()));
            TcpListener::bind(v4)
                .await
                .with_context(|| format!("binding {v4}"))
        }
        Err(e) => Err(e).with_context(|| format!("binding {addr}")),
    }
}

async fn serve(config: Config) -> Result<()> {
    // Before anything is logged: a supervisor that sees the `listen=` line may stop us at once,
    // and a signal that arrives before the handlers exist would kill the process uncleanly.
    let stop = shutdown_signal()?;
    let specs = config::listener_specs(&config)?;
    // Before binding: a missing or unreadable keystore stops the start with the key named.
    let tls =
        sluice::net::tls::Tls::for_listeners(&config, specs.iter().any(|s| s.protocol.tls()))?;
    let mut bound_listeners = Vec::new();
    let mut listener_infos = Vec::new();
    for spec in specs {
        let listener = bind(spec.bind)
            .await
            .with_context(|| format!("listener {}", spec.name))?;
        let bound = listener.local_addr()?;
        let (host, port) = spec.advertised_address(bound);
        let info = ListenerInfo {
            name: spec.name.clone(),
            protocol: spec.protocol,
            host,
            port: i32::from(port),
        };
        listener_infos.push(info.clone());
        bound_listeners.push((listener, bound, std::sync::Arc::new(info)));
    }
    // The first listener is the one `listen=` names: tools that read the start-up line find it.
    let bound = bound_listeners[0].1;
    let (host, port) = (listener_infos[0].host.clone(), listener_infos[0].port);
    let all_bound = bound_listeners
        .iter()
        .map(|(_, addr, info)| format!("{}://{addr}", info.name))
        .collect::<Vec<_>>()
        .join(",");
    let store = Store::open(
        &config.data_dir,
        config.cache_capacity_bytes,
        config.flush_interval_ms,
    )?;
    store.set_max_unflushed_bytes(config.max_unflushed_bytes);
    store.set_min_free_bytes(config.min_free_bytes);
    // Before anything can create a topic: partitions of topics whose deletion a stop cut short.
    store.purge_in_background(store.orphaned_topic_ids()?);
    let (shutdown_tx, shutdown_rx) = watch::channel(false);
    let data_dir = config.data_dir.clone();
    let broker = Broker::open(config, listener_infos, store, shutdown_rx)?;
    tracing::info!(
        listen = %bound,
        advertise = %format!("{host}:{port}"),
        listeners = %all_bound,
        data_dir = %data_dir.display(),
        cluster_id = broker.cluster_id(),
        topics = broker.topics().len(),
        "sluice started"
    );
    tokio::spawn(sluice::log::cleaner::run(broker.clone()));
    // Completes transactions a crash left prepared, then aborts the ones that time out.
    tokio::spawn(sluice::coordinator::txn::markers::run(broker.clone()));
    tokio::spawn(sluice::coordinator::share::run(broker.clone()));
    let listeners = bound_listeners
        .into_iter()
        .map(|(listener, _, info)| (listener, info))
        .collect();
    sluice::net::server::run(listeners, tls, broker, shutdown_tx, stop).await
}

/// Resolves on SIGINT or SIGTERM; both handlers are installed when this returns.
fn shutdown_signal() -> Result<impl std::future::Future<Output = ()>> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).context("listening for SIGTERM")?;
    let mut int = signal(SignalKind::interrupt()).context("listening for SIGINT")?;
    Ok(async move {
        tokio::select! {
            _ = int.recv() => tracing::info!("SIGINT received"),
            _ = term.recv() => tracing::info!("SIGTERM received"),
        }
    })
}
