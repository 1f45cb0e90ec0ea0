//! One client connection: framing, request parsing, and responses in request order.
//!
//! The read half parses frames and runs each request's handler at once, in arrival order (so two
//! pipelined produces to one partition append in order). A handler that must wait hands back a
//! future; it is spawned so it makes progress while later requests are read, and the write half
//! awaits responses strictly in request order. `max_inflight_requests` bounds the queue between the
//! halves, which is the backpressure on a client that pipelines faster than we answer.

use std::net::SocketAddr;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tracing::Instrument;

use crate::api::{self, Ctx, Outcome};
use crate::broker::{stopping, Broker};
use crate::protocol::{self, Frame, Parsed, ResponseBody};

/// A response slot in the write queue.
enum Outgoing {
    Ready(Frame),
    Pending {
        api: ApiKey,
        version: i16,
        correlation_id: i32,
        response: JoinHandle<ResponseBody>,
    },
}

fn encode(
    api: ApiKey,
    version: i16,
    correlation_id: i32,
    body: ResponseBody,
) -> Result<Frame, String> {
    protocol::encode(api, version, correlation_id, body)
        .map_err(|e| format!("encoding {api:?} v{version} response failed: {e}"))
}

/// Serves one connection until the client leaves, sends something we refuse, or the broker stops.
pub async fn serve(socket: TcpStream, peer: SocketAddr, broker: Broker) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let (rd, wr) = socket.into_split();
    let (tx, rx) = mpsc::channel(broker.config().max_inflight_requests);
    let writer = tokio::spawn(write_loop(wr, rx).in_current_span());
    let reason = read_loop(rd, tx, &broker, peer).await;
    // The queue's sender is gone now: the writer sends what is queued, then ends.
    if let Err(e) = writer.await {
        tracing::error!(error = %e, "connection writer failed");
    }
    match reason {
        Ok(why) => tracing::debug!(%peer, why, "connection closed"),
        Err(why) => tracing::warn!(%peer, %why, "closing connection"),
    }
}

/// Returns why reading stopped: `Ok` for a normal end, `Err` for something worth a warning.
async fn read_loop(
    mut rd: OwnedReadHalf,
    tx: mpsc::Sender<Outgoing>,
    broker: &Broker,
    peer: SocketAddr,
) -> Result<&'static str, String> {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut shutdown = broker.shutdown_signal();
    let max = broker.config().max_request_bytes;
    loop {
        let frame = tokio::select! {
            f = read_frame(&mut rd, &mut buf, max) => f?,
            _ = stopping(&mut shutdown) => return Ok("broker shutting down"),
        };
        let Some(frame) = frame else {
            return Ok("client closed the connection");
        };
        let out = match protocol::parse_frame(api::SUPPORTED_APIS, frame) {
            Ok(Parsed::UnsupportedApiVersions { correlation_id }) => {
                tracing::debug!(correlation_id, "ApiVersions at an unsupported version");
                Outgoing::Ready(
                    protocol::unsupported_api_versions_response(
                        api::SUPPORTED_APIS,
                        correlation_id,
                    )
                    .map_err(|e| e.to_string())?
                    .into(),
                )
            }
            Ok(Parsed::Request(req)) => {
                let api = req.api_key;
                let version = req.version();
                let correlation_id = req.header.correlation_id;
                let client_id = req.header.client_id.as_deref().unwrap_or_default();
                let span =
                    tracing::debug_span!("request", ?api, version, correlation_id, client_id);
                if api == ApiKey::Produce {
                    // Stop reading this client while the store's write backlog is over its bound:
                    // the backpressure that keeps a producer faster than the disk from growing
                    // memory. The request itself still runs in order, after the wait.
                    if let Err(e) = broker.write_backlog_drained().await {
                        tracing::warn!(error = %e, "waiting for the write backlog to drain failed");
                    }
                }
                let outcome = span.in_scope(|| {
                    let req = *req;
                    let client_id = req.header.client_id.as_deref().unwrap_or_default();
                    tracing::debug!("request");
                    let ctx = Ctx {
                        broker,
                        version,
                        client_id,
                        peer,
                    };
                    api::dispatch(&ctx, req.body)
                });
                match outcome {
                    Outcome::Now(body) => {
                        Outgoing::Ready(encode(api, version, correlation_id, body)?)
                    }
                    Outcome::Later(fut) => Outgoing::Pending {
                        api,
                        version,
                        correlation_id,
                        response: tokio::spawn(fut.instrument(span)),
                    },
                    Outcome::Nothing => continue,
                    Outcome::Close(why) => return Err(why),
                }
            }
            Err(e) => return Err(e.to_string()),
        };
        if tx.send(out).await.is_err() {
            return Ok("writer stopped");
        }
    }
}

/// Reads one length-prefixed frame. The length is checked before anything is allocated for it, and
/// the buffer grows only as bytes actually arrive. `Ok(None)` is a clean close between frames.
async fn read_frame(
    rd: &mut OwnedReadHalf,
    buf: &mut BytesMut,
    max: usize,
) -> Result<Option<Bytes>, String> {
    loop {
        if buf.len() >= 4 {
            let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if len < 0 || len as usize > max {
                return Err(format!("frame length {len} is outside 0..={max}"));
            }
            let need = 4 + len as usize;
            if buf.len() >= need {
                let mut frame = buf.split_to(need);
                frame.advance(4);
                return Ok(Some(frame.freeze()));
            }
            buf.reserve((need - buf.len()).min(1 << 20));
        } else {
            buf.reserve(8 * 1024);
        }
        let n = rd
            .read_buf(buf)
            .await
            .map_err(|e| format!("read failed: {e}"))?;
        if n == 0 {
            return if buf.is_empty() {
                Ok(None)
            } else {
                Err(format!(
                    "connection closed mid-frame ({} bytes buffered)",
                    buf.len()
                ))
            };
        }
    }
}

async fn write_loop(wr: OwnedWriteHalf, mut rx: mpsc::Receiver<Outgoing>) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(out) = rx.recv().await {
        let mut frame = match out {
            Outgoing::Ready(f) => f,
            Outgoing::Pending {
                api,
                version,
                correlation_id,
                response,
            } => {
                let resp = match response.await {
                    Ok(r) => r,
                    Err(e) => {
                        tracing::error!(?api, error = %e, "request task failed");
                        break;
                    }
                };
                match encode(api, version, correlation_id, resp) {
                    Ok(f) => f,
                    Err(e) => {
                        tracing::error!(error = %e, "closing the connection");
                        break;
                    }
                }
            }
        };
        // Vectored: a large frame (a Fetch's record chunks) goes past the buffer to the socket
        // as it is; small ones are gathered in the buffer.
        if let Err(e) = w.write_all_buf(&mut frame).await {
            tracing::debug!(error = %e, "write failed");
            return;
        }
        // Batch writes while responses are queued; flush once the queue runs dry.
        if rx.is_empty() {
            if let Err(e) = w.flush().await {
                tracing::debug!(error = %e, "flush failed");
                return;
            }
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}
