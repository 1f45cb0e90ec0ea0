//! One client connection: framing, request parsing, and responses in request order.
//!
//! The read half parses frames and runs each request's handler at once, in arrival order (so two
//! pipelined produces to one partition append in order). A handler that must wait hands back a
//! future; it is spawned so it makes progress while later requests are read, and the write half
//! awaits responses strictly in request order. `max_inflight_requests` bounds the queue between the
//! halves, which is the backpressure on a client that pipelines faster than we answer.
//!
//! Memory a client can make us hold is bounded in bytes, not only in requests (see
//! [`super::limits`]): a large frame waits for the shared request budget before its buffer grows;
//! the reader reads no further request while more than [`QUEUED_RESPONSE_BYTES`] of this
//! connection's responses wait to be written, or while one of its Fetches is being answered (a
//! Fetch's size is known only once it is ready), so a client that does not read costs at most about
//! one response, as with Kafka, which reads nothing from a connection until its response is sent.
//!
//! A client that closes its socket gets no more work done for it: its pending long polls are
//! dropped and its slot freed at once, as Kafka discards responses to a closed connection. A
//! connection that reads and writes nothing for `connections_max_idle_ms` is closed.
//!
//! Quotas (KIP-219): a response that tells the client to back off (`throttle_time_ms`) mutes the
//! connection once it is written: nothing more is read from it until the throttle time has passed
//! (requests already read run). The time spent handling each request (the handler's own work and
//! encoding its response; not a long poll's or a flush's wait) is what `request_percentage`
//! measures: Kafka measures its request handler and network threads, which Sluice does not have.

use std::io::IoSlice;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, Bytes, BytesMut};
use kafka_protocol::messages::ApiKey;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify, OwnedSemaphorePermit};
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tracing::Instrument;

use crate::api::{self, Ctx, Outcome};
use crate::broker::{stopping, Broker, ListenerInfo};
use crate::net::limits::{Limits, UNBUDGETED_FRAME_BYTES};
use crate::net::sasl::{self, Gate, Sasl};
use crate::protocol::{self, Frame, Parsed, ResponseBody};
use crate::quota::QuotaKind;
use crate::security::Session;

/// A connection reads no further request while more than this many bytes of its responses wait to
/// be written: a client that stops reading costs at most this plus one response.
pub const QUEUED_RESPONSE_BYTES: usize = 1024 * 1024;

/// On shutdown, a writer that has sent nothing for this long (a client that does not read) is
/// given up rather than waited for.
const SHUTDOWN_WRITE_STALL: Duration = Duration::from_secs(2);

/// A response slot in the write queue, with the milliseconds the connection is muted for once
/// the response is written (its throttle time).
enum Outgoing {
    Ready(Frame, u32),
    Pending(AbortOnDrop<Result<(Frame, u32), String>>),
}

/// A spawned response task that is cancelled when its slot is dropped: when the connection goes,
/// so does the work still being done for it (a long poll would otherwise wait out `max_wait_ms`).
struct AbortOnDrop<T>(JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// What the reader, the writer and the response tasks of one connection share.
struct State {
    limits: Arc<Limits>,
    /// Bytes of responses ready and not yet written; also counted in the limits' total.
    queued: AtomicUsize,
    /// Fetch responses still being produced, whose size is not known yet.
    fetches: AtomicUsize,
    /// Signalled when `queued` or `fetches` goes down.
    changed: Notify,
    /// Milliseconds from `opened` to the last byte read or written.
    last_active_ms: AtomicU64,
    /// Milliseconds from `opened` until which nothing is read: the client is throttled.
    muted_until_ms: AtomicU64,
    opened: Instant,
}

impl State {
    fn new(limits: Arc<Limits>) -> State {
        State {
            limits,
            queued: AtomicUsize::new(0),
            fetches: AtomicUsize::new(0),
            changed: Notify::new(),
            last_active_ms: AtomicU64::new(0),
            muted_until_ms: AtomicU64::new(0),
            opened: Instant::now(),
        }
    }

    fn touch(&self) {
        let ms = self.opened.elapsed().as_millis() as u64;
        self.last_active_ms.fetch_max(ms, Ordering::Relaxed);
    }

    fn last_active(&self) -> Instant {
        self.opened + Duration::from_millis(self.last_active_ms.load(Ordering::Relaxed))
    }

    /// Mutes the connection for `ms` from now (a throttled response was sent).
    fn mute(&self, ms: u32) {
        let until = self.opened.elapsed().as_millis() as u64 + u64::from(ms);
        self.muted_until_ms.fetch_max(until, Ordering::Relaxed);
    }

    /// When the connection may read again, if it is muted now.
    fn muted_until(&self) -> Option<Instant> {
        let until =
            self.opened + Duration::from_millis(self.muted_until_ms.load(Ordering::Relaxed));
        (until > Instant::now()).then_some(until)
    }

    fn queue(&self, bytes: usize) {
        self.queued.fetch_add(bytes, Ordering::Relaxed);
        self.limits.add_responses(bytes);
    }

    fn sent(&self, bytes: usize) {
        self.queued.fetch_sub(bytes, Ordering::Relaxed);
        self.limits.sub_responses(bytes);
        self.changed.notify_waiters();
    }

    fn fetch_answered(&self) {
        self.fetches.fetch_sub(1, Ordering::Relaxed);
        self.changed.notify_waiters();
    }

    fn may_read(&self) -> bool {
        self.muted_until().is_none()
            && self.fetches.load(Ordering::Relaxed) == 0
            && self.queued.load(Ordering::Relaxed) <= QUEUED_RESPONSE_BYTES
    }
}

/// A Fetch being answered, counted in its connection's `fetches` until its response is ready, or
/// its task is aborted: either way the reader must not wait for it any longer.
struct FetchInFlight(Arc<State>);

impl FetchInFlight {
    fn new(state: &Arc<State>) -> FetchInFlight {
        state.fetches.fetch_add(1, Ordering::Relaxed);
        FetchInFlight(Arc::clone(state))
    }
}

impl Drop for FetchInFlight {
    fn drop(&mut self) {
        self.0.fetch_answered();
    }
}

impl Drop for State {
    fn drop(&mut self) {
        // Responses never written (the client left) leave the total with the connection.
        self.limits.sub_responses(*self.queued.get_mut());
    }
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

/// Why the reader stopped.
enum Stop {
    /// The broker is stopping: the writer sends what is queued, then the connection closes.
    Shutdown,
    /// The writer has already ended.
    WriterGone,
    /// The client closed its socket: nothing more is sent, pending work is dropped.
    ClientClosed,
    /// Nothing read or written for `connections_max_idle_ms`: closed as the client closing is.
    Idle(Duration),
    /// Something worth a warning; the connection closes at once.
    Refused(String),
    /// Authentication failed: the writer sends the answer, then the connection closes.
    AuthFailed(String),
}

/// Serves one plaintext connection of `listener` until the client leaves, sends something we
/// refuse, goes idle, or the broker stops.
pub async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    broker: Broker,
    limits: Arc<Limits>,
) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    // The owned halves of a TcpStream, not `tokio::io::split`: no lock between reader and writer.
    let (rd, wr) = socket.into_split();
    let session = Session::anonymous(listener, peer.ip());
    serve_halves(rd, wr, peer, session, broker, limits).await
}

/// Serves a connection over any byte stream (plain TCP, or TLS once the handshake is done), its
/// client already known as far as the transport can tell (`session`).
pub async fn serve_halves<R, W>(
    rd: R,
    wr: W,
    peer: SocketAddr,
    mut session: Session,
    broker: Broker,
    limits: Arc<Limits>,
) where
    R: AsyncRead + Unpin + Send,
    W: AsyncWrite + Unpin + Send + 'static,
{
    let state = Arc::new(State::new(limits));
    let (tx, rx) = mpsc::channel(broker.config().max_inflight_requests);
    let writer = tokio::spawn(write_loop(wr, rx, Arc::clone(&state)).in_current_span());
    let idle = Duration::from_millis(broker.config().connections_max_idle_ms);
    let stop = tokio::select! {
        stop = read_loop(rd, tx, &broker, peer, &mut session, &state) => stop,
        () = idle_for(&state, idle) => Stop::Idle(idle),
    };
    match stop {
        // The queue's sender is gone now: the writer sends what is queued, then ends; on shutdown
        // only while it makes progress, or a client that never reads would keep the broker up.
        Stop::Shutdown | Stop::WriterGone | Stop::AuthFailed(_) => {
            tokio::pin!(writer);
            tokio::select! {
                done = &mut writer => {
                    if let Err(e) = done {
                        tracing::error!(error = %e, "connection writer failed");
                    }
                }
                () = idle_for(&state, SHUTDOWN_WRITE_STALL) => {
                    tracing::debug!(%peer, "client reads nothing: its responses are dropped");
                    writer.abort();
                }
            }
        }
        // Nobody will read what is queued: drop it, and with it the tasks still producing
        // responses, so the connection's slot is free now rather than after its longest poll.
        Stop::ClientClosed | Stop::Idle(_) | Stop::Refused(_) => {
            writer.abort();
            let _ = writer.await;
        }
    }
    // Share sessions end with the connection that opened them (as in Kafka), releasing what
    // their members hold; at shutdown the store is closing, and a restart releases it anyway.
    if !matches!(stop, Stop::Shutdown) {
        broker.share().connection_closed(peer);
    }
    match stop {
        Stop::Shutdown => tracing::debug!(%peer, "connection closed: broker shutting down"),
        Stop::WriterGone => tracing::debug!(%peer, "connection closed: writer stopped"),
        Stop::ClientClosed => tracing::debug!(%peer, "connection closed by the client"),
        // Routine (Kafka logs it at debug too): a client that went quiet reconnects when it needs to.
        Stop::Idle(after) => tracing::debug!(
            %peer,
            idle_ms = after.as_millis() as u64,
            "connection closed: idle for connections_max_idle_ms"
        ),
        Stop::Refused(why) => tracing::warn!(%peer, %why, "closing connection"),
        Stop::AuthFailed(why) => {
            tracing::info!(%peer, %why, "closing connection: authentication failed")
        }
    }
}

/// Ends once the connection has read and written nothing for `idle`.
async fn idle_for(state: &State, idle: Duration) {
    loop {
        let deadline = state.last_active() + idle;
        if Instant::now() >= deadline {
            return;
        }
        tokio::time::sleep_until(deadline).await;
    }
}

async fn read_loop<R: AsyncRead + Unpin>(
    mut rd: R,
    tx: mpsc::Sender<Outgoing>,
    broker: &Broker,
    peer: SocketAddr,
    session: &mut Session,
    state: &Arc<State>,
) -> Stop {
    let mut buf = BytesMut::with_capacity(8 * 1024);
    let mut shutdown = broker.shutdown_signal();
    let max = broker.config().max_request_bytes;
    let limits = Arc::clone(&state.limits);
    let room: api::ResponseRoom = Arc::new(move || limits.response_room());
    let mut sasl = Sasl::for_session(broker, session);
    loop {
        // Before SASL authentication frames are held to Kafka's smaller bound.
        let max = sasl.as_ref().map_or(max, |s| s.max_frame(max));
        let frame = tokio::select! {
            f = next_frame(&mut rd, &mut buf, max, state) => f,
            _ = stopping(&mut shutdown) => return Stop::Shutdown,
        };
        let (frame, budget) = match frame {
            Ok(Some(f)) => f,
            Ok(None) => return Stop::ClientClosed,
            Err(why) => return why,
        };
        let request_bytes = frame.len();
        let out = match protocol::parse_frame(api::SUPPORTED_APIS, frame) {
            Ok(Parsed::UnsupportedApiVersions { correlation_id }) => {
                tracing::debug!(correlation_id, "ApiVersions at an unsupported version");
                match protocol::unsupported_api_versions_response(
                    api::SUPPORTED_APIS,
                    correlation_id,
                ) {
                    Ok(b) => ready(state, b.into(), 0),
                    Err(e) => return Stop::Refused(e.to_string()),
                }
            }
            Ok(Parsed::Request(req)) => {
                let api = req.api_key;
                let version = req.version();
                let correlation_id = req.header.correlation_id;
                let client_id = req.header.client_id.as_deref().unwrap_or_default();
                let span =
                    tracing::debug_span!("request", ?api, version, correlation_id, client_id);
                if let Some(sasl) = sasl.as_mut() {
                    let gate =
                        span.in_scope(|| sasl.gate(broker, session, api, version, &req.body));
                    match gate {
                        Gate::Pass => {}
                        Gate::Answer(body) => {
                            let out = match encode(api, version, correlation_id, body.into()) {
                                Ok(frame) => ready(state, frame, 0),
                                Err(why) => return Stop::Refused(why),
                            };
                            if tx.send(out).await.is_err() {
                                return Stop::WriterGone;
                            }
                            continue;
                        }
                        Gate::Fail(body, why) => {
                            tokio::time::sleep(sasl::FAILED_AUTHENTICATION_DELAY).await;
                            let out = match encode(api, version, correlation_id, body.into()) {
                                Ok(frame) => ready(state, frame, 0),
                                Err(why) => return Stop::Refused(why),
                            };
                            if tx.send(out).await.is_err() {
                                return Stop::WriterGone;
                            }
                            return Stop::AuthFailed(why);
                        }
                        Gate::Close(why) => return Stop::Refused(why),
                    }
                }
                // Whom the request's handling time counts against (kept past the request's
                // end), while any client has a request_percentage quota.
                let quota_id = broker
                    .quotas()
                    .enabled(QuotaKind::Request)
                    .then(|| (session.principal.name.clone(), client_id.to_string()));
                if api == ApiKey::Produce {
                    // Stop reading this client while the store's write backlog is over its bound:
                    // the backpressure that keeps a producer faster than the disk from growing
                    // memory. The request itself still runs in order, after the wait.
                    if let Err(e) = broker.write_backlog_drained().await {
                        tracing::warn!(error = %e, "waiting for the write backlog to drain failed");
                    }
                }
                let handling = std::time::Instant::now();
                let outcome = span.in_scope(|| {
                    let req = *req;
                    let client_id = req.header.client_id.as_deref().unwrap_or_default();
                    tracing::debug!("request");
                    let ctx = Ctx {
                        broker,
                        version,
                        client_id,
                        request_bytes,
                        peer,
                        session: &*session,
                        response_room: room.clone(),
                    };
                    api::dispatch(&ctx, req.body)
                });
                let request_throttle = count_handling(broker, &quota_id, handling, true);
                match outcome {
                    Outcome::Now(body) => {
                        let encoding = std::time::Instant::now();
                        let (body, throttle) = throttled(body, request_throttle);
                        let frame = encode(api, version, correlation_id, body);
                        count_handling(broker, &quota_id, encoding, false);
                        match frame {
                            Ok(frame) => ready(state, frame, throttle),
                            Err(why) => return Stop::Refused(why),
                        }
                    }
                    Outcome::Later(fut) => {
                        let fetch = (api == ApiKey::Fetch).then(|| FetchInFlight::new(state));
                        let state = Arc::clone(state);
                        let broker = broker.clone();
                        let task = async move {
                            // The request's bytes may be borrowed by the future until it ends.
                            let body = fut.await;
                            drop(budget);
                            let encoding = std::time::Instant::now();
                            let (body, throttle) = throttled(body, request_throttle);
                            let frame = encode(api, version, correlation_id, body);
                            count_handling(&broker, &quota_id, encoding, false);
                            if let Ok(f) = &frame {
                                state.queue(f.remaining());
                            }
                            drop(fetch);
                            frame.map(|f| (f, throttle))
                        };
                        Outgoing::Pending(AbortOnDrop(tokio::spawn(task.instrument(span))))
                    }
                    Outcome::Nothing => continue,
                    Outcome::Close(why) => return Stop::Refused(why),
                }
            }
            Err(e) => return Stop::Refused(e.to_string()),
        };
        if tx.send(out).await.is_err() {
            return Stop::WriterGone;
        }
    }
}

fn ready(state: &State, frame: Frame, throttle_ms: u32) -> Outgoing {
    state.queue(frame.remaining());
    Outgoing::Ready(frame, throttle_ms)
}

/// Counts the time since `since` against the client's `request_percentage` (`quota_id`: its user
/// and client id, `None` while no client has such a quota), in percent of one second as Kafka's
/// `nanosToPercentage`; with `check`, returns the throttle time it calls for (Kafka checks the
/// handler's time and adds its network thread's unchecked, as the encoding is here).
fn count_handling(
    broker: &Broker,
    quota_id: &Option<(String, String)>,
    since: std::time::Instant,
    check: bool,
) -> u32 {
    let Some((user, client_id)) = quota_id else {
        return 0;
    };
    let percent = since.elapsed().as_secs_f64() * 100.0;
    let quotas = broker.quotas();
    if check {
        quotas.record(QuotaKind::Request, user, client_id, percent)
    } else {
        quotas.record_only(QuotaKind::Request, user, client_id, percent);
        0
    }
}

/// The response with the larger of its own throttle time (a byte-rate quota's, set by its
/// handler) and the request-time quota's, and that time: what the client is told and how long
/// the connection is muted for (Kafka throttles with the larger of the two).
fn throttled(mut body: ResponseBody, request_throttle: u32) -> (ResponseBody, u32) {
    let own = body.throttle_time_ms().max(0) as u32;
    if request_throttle > own {
        body.set_throttle_time_ms(request_throttle as i32);
    }
    (body, own.max(request_throttle))
}

/// The next frame, once this connection may read one, with the request budget it holds.
async fn next_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max: usize,
    state: &State,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, Stop> {
    if !wait_until_readable(rd, buf, state).await? {
        return Ok(None);
    }
    read_frame(rd, buf, max, state).await.map_err(Stop::Refused)
}

/// Waits until this connection may read its next request. Meanwhile the socket is still read into
/// the small unbudgeted buffer, so a client that closes while its long poll waits is seen at once.
/// `Ok(false)` is a clean close between frames.
async fn wait_until_readable<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    state: &State,
) -> Result<bool, Stop> {
    let mut chunk = [0u8; 4096];
    loop {
        let changed = state.changed.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if state.may_read() {
            return Ok(true);
        }
        // A muted connection may read once its mute ends, with nothing to signal it.
        let unmuted = async {
            match state.muted_until() {
                Some(until) => tokio::time::sleep_until(until).await,
                None => std::future::pending().await,
            }
        };
        let room = UNBUDGETED_FRAME_BYTES
            .saturating_sub(buf.len())
            .min(chunk.len());
        if room == 0 {
            tokio::select! {
                _ = &mut changed => {}
                () = unmuted => {}
            }
            continue;
        }
        tokio::select! {
            _ = &mut changed => {}
            () = unmuted => {}
            n = rd.read(&mut chunk[..room]) => {
                let n = n.map_err(|e| Stop::Refused(format!("read failed: {e}")))?;
                if n == 0 {
                    return if buf.is_empty() {
                        Err(Stop::ClientClosed)
                    } else {
                        Err(Stop::Refused(format!(
                            "connection closed mid-frame ({} bytes buffered)",
                            buf.len()
                        )))
                    };
                }
                state.touch();
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    }
}

/// Reads one length-prefixed frame. The length is checked before anything is allocated for it, a
/// frame above [`UNBUDGETED_FRAME_BYTES`] waits for its size in the shared request budget, and the
/// buffer grows only as bytes actually arrive. `Ok(None)` is a clean close between frames.
async fn read_frame<R: AsyncRead + Unpin>(
    rd: &mut R,
    buf: &mut BytesMut,
    max: usize,
    state: &State,
) -> Result<Option<(Bytes, Option<OwnedSemaphorePermit>)>, String> {
    let mut budget = None;
    loop {
        if buf.len() >= 4 {
            let len = i32::from_be_bytes([buf[0], buf[1], buf[2], buf[3]]);
            if len < 0 || len as usize > max {
                return Err(format!("frame length {len} is outside 0..={max}"));
            }
            let need = 4 + len as usize;
            if need > UNBUDGETED_FRAME_BYTES && budget.is_none() {
                budget = Some(state.limits.request_room(need).await?);
                // The room is ours now: one allocation of the frame's size (the pages are touched
                // only as bytes arrive) instead of a doubling buffer that could reach twice it.
                buf.reserve(need - buf.len().min(need));
            }
            if buf.len() >= need {
                let mut frame = buf.split_to(need);
                frame.advance(4);
                if budget.is_some() {
                    // The remainder still shares the large allocation; give it its own small one
                    // so the connection does not keep a frame-sized buffer once the frame is gone.
                    let rest = BytesMut::from(&buf[..]);
                    *buf = rest;
                }
                return Ok(Some((frame.freeze(), budget)));
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
        state.touch();
    }
}

async fn write_loop<W: AsyncWrite + Unpin>(
    wr: W,
    mut rx: mpsc::Receiver<Outgoing>,
    state: Arc<State>,
) {
    let mut w = BufWriter::with_capacity(64 * 1024, wr);
    while let Some(out) = rx.recv().await {
        let (mut frame, throttle) = match out {
            Outgoing::Ready(f, throttle) => (f, throttle),
            Outgoing::Pending(mut task) => match (&mut task.0).await {
                Ok(Ok(f)) => f,
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "closing the connection");
                    break;
                }
                Err(e) => {
                    tracing::error!(error = %e, "request task failed");
                    break;
                }
            },
        };
        let size = frame.remaining();
        let written = write_frame(&mut w, &mut frame, &state).await;
        if throttle > 0 {
            state.mute(throttle);
        }
        state.sent(size);
        if let Err(e) = written {
            tracing::debug!(error = %e, "write failed");
            return;
        }
        // Batch writes while responses are queued; flush once the queue runs dry.
        if rx.is_empty() {
            if let Err(e) = w.flush().await {
                tracing::debug!(error = %e, "flush failed");
                return;
            }
            state.touch();
        }
    }
    let _ = w.flush().await;
    let _ = w.shutdown().await;
}

/// Writes a frame, noting each step of progress: a client reading a large response slowly is not
/// idle. Vectored: a large frame (a Fetch's record chunks) goes past the buffer to the socket as it
/// is; small ones are gathered in the buffer.
async fn write_frame<W: AsyncWrite + Unpin>(
    w: &mut BufWriter<W>,
    frame: &mut Frame,
    state: &State,
) -> std::io::Result<()> {
    while frame.has_remaining() {
        let n = {
            let mut slices = [IoSlice::new(&[]); 64];
            let k = frame.chunks_vectored(&mut slices);
            w.write_vectored(&slices[..k]).await?
        };
        if n == 0 {
            return Err(std::io::ErrorKind::WriteZero.into());
        }
        frame.advance(n);
        state.touch();
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Config;

    #[tokio::test]
    async fn an_idle_connection_is_closed() {
        use tokio::io::AsyncReadExt;
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            connections_max_idle_ms: 200,
            ..Config::default()
        };
        let broker = crate::broker::tests::test_broker(dir.path(), config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let mut client = TcpStream::connect(listener.local_addr().unwrap())
            .await
            .unwrap();
        let (socket, peer) = listener.accept().await.unwrap();
        let limits = Limits::new(broker.config());
        let listener_info = Arc::new(crate::broker::tests::test_listener());
        let served = tokio::spawn(serve(socket, peer, listener_info, broker, limits));
        let bound = Duration::from_secs(10);
        let n = tokio::time::timeout(bound, client.read(&mut [0u8; 1]))
            .await
            .expect("an idle connection stays open")
            .unwrap();
        assert_eq!(n, 0, "the broker closed it without sending anything");
        tokio::time::timeout(bound, served).await.unwrap().unwrap();
    }

    #[tokio::test]
    async fn an_aborted_fetch_no_longer_holds_reading_back() {
        let state = Arc::new(State::new(Limits::new(&Config::default())));
        let fetch = FetchInFlight::new(&state);
        let task = AbortOnDrop(tokio::spawn(async move {
            let _fetch = fetch;
            std::future::pending::<()>().await
        }));
        assert!(!state.may_read());
        drop(task);
        let freed = async {
            while !state.may_read() {
                tokio::task::yield_now().await;
            }
        };
        tokio::time::timeout(Duration::from_secs(10), freed)
            .await
            .expect("the aborted fetch still counts");
    }

    #[test]
    fn a_throttled_response_mutes_reading_for_its_time() {
        let state = State::new(Limits::new(&Config::default()));
        state.mute(0);
        assert!(state.may_read(), "no throttle, no mute");
        state.mute(60_000);
        assert!(!state.may_read());
        let until = state.muted_until().expect("muted");
        assert!(until > Instant::now() + Duration::from_secs(50));
        state.mute(10);
        assert_eq!(
            state.muted_until(),
            Some(until),
            "a shorter mute does not cut it"
        );
    }

    #[test]
    fn the_larger_of_the_throttle_times_is_sent_and_applied() {
        use kafka_protocol::messages::ProduceResponse;
        let body = ResponseBody::Kind(ProduceResponse::default().with_throttle_time_ms(50).into());
        let (body, t) = throttled(body, 20);
        assert_eq!((t, body.throttle_time_ms()), (50, 50));
        let (body, t) = throttled(body, 80);
        assert_eq!((t, body.throttle_time_ms()), (80, 80));
    }

    #[test]
    fn queued_responses_leave_the_total_with_their_connection() {
        let limits = Limits::new(&Config::default());
        let state = State::new(Arc::clone(&limits));
        state.queue(1000);
        state.sent(400);
        assert_eq!(limits.queued_responses(), 600);
        assert!(state.may_read());
        drop(state);
        assert_eq!(limits.queued_responses(), 0);
    }

    #[test]
    fn reading_stops_while_responses_wait_or_a_fetch_is_answered() {
        let state = Arc::new(State::new(Limits::new(&Config::default())));
        state.queue(QUEUED_RESPONSE_BYTES + 1);
        assert!(!state.may_read(), "over the per-connection bound");
        state.sent(QUEUED_RESPONSE_BYTES + 1);
        let fetch = FetchInFlight::new(&state);
        assert!(!state.may_read(), "a fetch of unknown size is outstanding");
        drop(fetch);
        assert!(state.may_read());
    }
}
