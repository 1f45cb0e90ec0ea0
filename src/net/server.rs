//! The accept loop: a connection cap, a per-address cap, accept retries with backoff, and graceful
//! shutdown.
//!
//! `run` takes an already-bound listener so tests can bind port 0. Beyond `max_connections` clients
//! wait in the listen backlog; a connection over `max_connections_per_ip` is closed at once, as
//! Kafka does. Shutdown: stop accepting, tell every connection (they stop reading, finish what is
//! in flight, long polls return early), wait until each has finished, then flush the store.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch, Semaphore};
use tokio::task::JoinSet;
use tracing::Instrument;

use crate::broker::{Broker, ListenerInfo};
use crate::net::connection;
use crate::net::limits::Limits;
use crate::net::tls::{self, Tls};

/// `tls` serves the listeners whose protocol is SSL or SASL_SSL; it is `None` when there are none.
pub async fn run(
    listeners: Vec<(TcpListener, Arc<ListenerInfo>)>,
    tls: Option<Arc<Tls>>,
    broker: Broker,
    shutdown_tx: watch::Sender<bool>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    // Every connection task holds a clone; `recv` returns `None` once all have ended.
    let (done_tx, mut done_rx) = mpsc::channel::<()>(1);
    // One connection cap and one set of byte budgets for all listeners together.
    let limit = Arc::new(Semaphore::new(broker.config().max_connections));
    let limits = Limits::new(broker.config());
    let mut loops = JoinSet::new();
    for (listener, info) in listeners {
        let span = tracing::info_span!("listener", name = %info.name);
        let tls = match (info.protocol.tls(), &tls) {
            (false, _) => None,
            (true, Some(tls)) => Some(Arc::clone(tls)),
            (true, None) => anyhow::bail!("listener {} uses TLS but no TLS was set up", info.name),
        };
        let accept = accept_loop(
            listener,
            info,
            tls,
            broker.clone(),
            Arc::clone(&limit),
            Arc::clone(&limits),
            done_tx.clone(),
        );
        loops.spawn(accept.instrument(span));
    }
    tokio::select! {
        Some(ended) = loops.join_next() => ended??,
        _ = shutdown => tracing::info!("shutdown requested: no longer accepting connections"),
    }
    // Aborting the accept loops drops their listeners: nothing new connects from here on.
    loops.shutdown().await;
    let _ = shutdown_tx.send(true);
    drop(done_tx);
    let _ = done_rx.recv().await;
    let closing = broker.clone();
    tokio::task::spawn_blocking(move || closing.close_store()).await??;
    tracing::info!("store flushed");
    Ok(())
}

async fn accept_loop(
    listener: TcpListener,
    info: Arc<ListenerInfo>,
    tls: Option<Arc<Tls>>,
    broker: Broker,
    limit: Arc<Semaphore>,
    limits: Arc<Limits>,
    done_tx: mpsc::Sender<()>,
) -> anyhow::Result<()> {
    let mut backoff = Duration::from_millis(10);
    loop {
        let permit = limit.clone().acquire_owned().await?;
        let (socket, peer) = match listener.accept().await {
            Ok(s) => {
                backoff = Duration::from_millis(10);
                s
            }
            Err(e) => {
                // Typically EMFILE: wait for connections to close rather than spin.
                tracing::error!(error = %e, ?backoff, "accept failed");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(Duration::from_secs(1));
                continue;
            }
        };
        let Some(ip_slot) = limits.admit(peer.ip()) else {
            // At info, as Kafka: a peer retrying in a loop must not flood the log with warnings.
            tracing::info!(
                %peer,
                max = broker.config().max_connections_per_ip,
                "refusing connection: its address holds max_connections_per_ip connections"
            );
            continue;
        };
        let broker = broker.clone();
        let limits = Arc::clone(&limits);
        let info = Arc::clone(&info);
        let done = done_tx.clone();
        let tls = tls.clone();
        tokio::spawn(
            async move {
                // The handshake runs here, in the connection's task: a slow client never holds up
                // the accept loop. Plaintext keeps the owned TcpStream halves.
                match tls {
                    Some(tls) => tls::serve(socket, peer, info, tls, broker, limits).await,
                    None => connection::serve(socket, peer, info, broker, limits).await,
                }
                drop(ip_slot);
                drop(permit);
                drop(done);
            }
            .instrument(tracing::info_span!("conn", %peer)),
        );
    }
}
