//! What all connections share: the budgets that keep clients from growing the broker's memory,
//! and the per-address connection count.
//!
//! Requests: a frame larger than [`UNBUDGETED_FRAME_BYTES`] takes its whole size from one byte
//! budget (Kafka's `queued.max.request.bytes`) before its buffer grows, and gives it back once
//! handled. Taking a frame's size at once, never piecemeal, is what keeps two half-read frames from
//! each holding part of the budget and both waiting for the rest.
//!
//! Responses: every connection counts the bytes of its responses that are ready but not yet
//! written, here and in a total over all connections. The total does not block anyone: it shrinks
//! the Fetch responses answered while it is high (down to the one batch KIP-74 always returns), so
//! clients that do not read cannot make the broker hold more, and consumers that do still move.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use crate::config::Config;

/// Frames up to this size are read without the request budget: every connection may hold this
/// much, so a client's small requests never wait behind another client's large ones.
pub const UNBUDGETED_FRAME_BYTES: usize = 16 * 1024;

pub struct Limits {
    requests: Arc<Semaphore>,
    responses: AtomicUsize,
    max_responses: usize,
    per_ip: Mutex<HashMap<IpAddr, usize>>,
    max_per_ip: usize,
}

impl Limits {
    pub fn new(config: &Config) -> Arc<Limits> {
        Arc::new(Limits {
            requests: Arc::new(Semaphore::new(config.queued_max_request_bytes)),
            responses: AtomicUsize::new(0),
            max_responses: config.queued_max_response_bytes,
            per_ip: Mutex::new(HashMap::new()),
            max_per_ip: config.max_connections_per_ip,
        })
    }

    /// Counts a connection from `ip`, or refuses it when the address already holds its maximum.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        // An IPv4 client of a dual-stack listener shows as ::ffff:a.b.c.d; count it as a.b.c.d.
        let ip = ip.to_canonical();
        let mut per_ip = self.per_ip.lock().expect("per-ip counts poisoned");
        let n = per_ip.entry(ip).or_insert(0);
        if *n >= self.max_per_ip {
            return None;
        }
        *n += 1;
        Some(IpSlot {
            limits: Arc::clone(self),
            ip,
        })
    }

    /// Waits until `bytes` of the request budget are free and takes them. The config check that
    /// the budget holds at least one largest frame guarantees this ends.
    pub async fn request_room(&self, bytes: usize) -> Result<OwnedSemaphorePermit, String> {
        let n = u32::try_from(bytes).map_err(|_| format!("frame of {bytes} bytes"))?;
        Arc::clone(&self.requests)
            .acquire_many_owned(n)
            .await
            .map_err(|e| format!("request budget closed: {e}"))
    }

    /// Response bytes a Fetch answered now may use before the total goes over its bound.
    pub fn response_room(&self) -> usize {
        self.max_responses
            .saturating_sub(self.responses.load(Ordering::Relaxed))
    }

    pub(super) fn add_responses(&self, n: usize) {
        self.responses.fetch_add(n, Ordering::Relaxed);
    }

    pub(super) fn sub_responses(&self, n: usize) {
        self.responses.fetch_sub(n, Ordering::Relaxed);
    }

    #[cfg(test)]
    pub fn queued_responses(&self) -> usize {
        self.responses.load(Ordering::Relaxed)
    }
}

/// One connection's place in its address's count, given back when dropped.
pub struct IpSlot {
    limits: Arc<Limits>,
    ip: IpAddr,
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut per_ip = self.limits.per_ip.lock().expect("per-ip counts poisoned");
        if let Some(n) = per_ip.get_mut(&self.ip) {
            *n -= 1;
            if *n == 0 {
                per_ip.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limits(per_ip: usize) -> Arc<Limits> {
        Limits::new(&Config {
            max_connections_per_ip: per_ip,
            ..Config::default()
        })
    }

    #[test]
    fn per_ip_count_refuses_the_extra_connection_and_frees_on_drop() {
        let l = limits(2);
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let mapped: IpAddr = "::ffff:10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let first = l.admit(a).unwrap();
        let _second = l.admit(mapped).unwrap();
        assert!(l.admit(a).is_none(), "a third connection from one address");
        let _other = l.admit(b).expect("another address is not affected");
        drop(first);
        assert!(l.admit(a).is_some(), "a closed connection frees its slot");
    }

    #[tokio::test]
    async fn request_budget_waits_for_room() {
        let l = Limits::new(&Config {
            max_request_bytes: 1 << 20,
            queued_max_request_bytes: 1 << 20,
            ..Config::default()
        });
        let held = l.request_room(1 << 20).await.unwrap();
        let waiting = l.request_room(64 * 1024);
        tokio::pin!(waiting);
        assert!(
            futures_poll_once(waiting.as_mut()).await.is_none(),
            "no room while a whole frame's worth is held"
        );
        drop(held);
        let _room = waiting.await.unwrap();
    }

    /// Polls a future once: `Some` if it finished.
    async fn futures_poll_once<F: std::future::Future + Unpin>(f: F) -> Option<F::Output> {
        tokio::select! {
            biased;
            out = f => Some(out),
            _ = std::future::ready(()) => None,
        }
    }
}
