//! Group commit and write backpressure: one flush thread shared by every caller of
//! [`Store::sync`], and [`Store::admit`] holding writers back while too much is unflushed.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};

use tokio::sync::watch;

use super::{Store, StoreError};

/// Group-commit bookkeeping: `requested` counts sync calls, `done` publishes the highest request
/// number covered by a completed flush (and whether the last flush failed).
pub(super) struct Flusher {
    state: Mutex<FlushState>,
    unflushed: Arc<AtomicU64>,
    wake: Condvar,
    done: watch::Sender<FlushDone>,
    /// Flushes run so far: what group commit saves is visible here (tests check it).
    flushes: AtomicU64,
}

#[derive(Default)]
struct FlushState {
    requested: u64,
    shutdown: bool,
}

#[derive(Clone, Copy, Default)]
struct FlushDone {
    covered: u64,
    /// Request number of the most recent flush that failed; callers at or below it get an error.
    failed_upto: u64,
}

/// Default of [`Store::set_max_unflushed_bytes`] (the config's `max_unflushed_bytes`).
pub const DEFAULT_MAX_UNFLUSHED_BYTES: u64 = 64 * 1024 * 1024;

impl Store {
    /// Sets how many written but unflushed bytes [`admit`](Self::admit) lets accumulate.
    pub fn set_max_unflushed_bytes(&self, bytes: u64) {
        self.inner.max_unflushed.store(bytes, Ordering::Relaxed);
    }

    /// Waits while more than the configured backlog of written bytes is not yet on disk.
    ///
    /// sled acknowledges a write once it is in its in-memory log buffers and writes those out on
    /// its own threads without ever pushing back; a producer faster than the disk (acks=0/1) would
    /// grow that queue without bound (measured: RSS rising by ~80 MB/s once the kernel's dirty-page
    /// limit throttled sled's writes). Writers call this first, so the backlog stays bounded and
    /// a fast producer is slowed to the disk's pace, as Kafka's own writes are by the page cache.
    pub async fn admit(&self) -> Result<(), StoreError> {
        while self.inner.unflushed.load(Ordering::Relaxed)
            > self.inner.max_unflushed.load(Ordering::Relaxed)
        {
            self.sync().await?;
        }
        Ok(())
    }

    /// Waits until everything written before the call is on disk. Concurrent callers share flushes.
    pub async fn sync(&self) -> Result<(), StoreError> {
        self.inner.flusher.sync().await
    }
}

impl Flusher {
    pub(super) fn new(unflushed: Arc<AtomicU64>) -> Flusher {
        let (done, _) = watch::channel(FlushDone::default());
        Flusher {
            state: Mutex::new(FlushState::default()),
            unflushed,
            wake: Condvar::new(),
            done,
            flushes: AtomicU64::new(0),
        }
    }

    /// See [`Store::sync`]: takes a ticket, wakes the flush thread, and waits for a flush that
    /// started after the ticket was taken.
    async fn sync(&self) -> Result<(), StoreError> {
        let mut rx = self.done.subscribe();
        let ticket = {
            let mut st = self.state.lock().expect("flush state poisoned");
            st.requested += 1;
            st.requested
        };
        self.wake.notify_one();
        let done = *rx
            .wait_for(|d| d.covered >= ticket)
            .await
            .map_err(|_| StoreError::Closed)?;
        if done.failed_upto >= ticket {
            return Err(StoreError::FlushFailed);
        }
        Ok(())
    }

    /// Asks the flush thread to stop once no sync is waiting.
    pub(super) fn stop(&self) {
        self.state.lock().expect("flush state poisoned").shutdown = true;
        self.wake.notify_one();
    }

    pub(super) fn run(&self, db: sled::Db) {
        let mut covered = 0u64;
        loop {
            let target = {
                let mut st = self.state.lock().expect("flush state poisoned");
                while st.requested == covered && !st.shutdown {
                    st = self.wake.wait(st).expect("flush state poisoned");
                }
                if st.shutdown && st.requested == covered {
                    return;
                }
                st.requested
            };
            // Every request numbered <= target was made before this flush started, so this one
            // flush covers all of them, and every byte counted as unflushed by now.
            let pending = self.unflushed.load(Ordering::Acquire);
            let flushed = db.flush();
            self.flushes.fetch_add(1, Ordering::Relaxed);
            let failed = match flushed {
                Ok(_) => false,
                Err(e) => {
                    tracing::error!(error = %e, "flushing sled failed");
                    true
                }
            };
            if !failed {
                self.unflushed.fetch_sub(pending, Ordering::AcqRel);
            }
            covered = target;
            self.done.send_modify(|d| {
                d.covered = target;
                if failed {
                    d.failed_upto = target;
                }
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PartitionStorage;
    use uuid::Uuid;

    #[tokio::test]
    async fn admit_waits_for_the_backlog_to_be_flushed() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 60_000).unwrap();
        store.set_max_unflushed_bytes(1024);
        let p = store.open_partition(Uuid::new_v4(), 0).unwrap();
        p.append(0, &[7u8; 4096], None).unwrap();
        assert!(store.inner.unflushed.load(Ordering::Relaxed) >= 4096);
        // Over the bound: admit flushes (sled's own timer is a minute away) and returns.
        tokio::time::timeout(std::time::Duration::from_secs(10), store.admit())
            .await
            .expect("admit returns once a flush covered the backlog")
            .unwrap();
        assert_eq!(store.inner.unflushed.load(Ordering::Relaxed), 0);
    }

    /// 50 syncs waiting together cost one flush. The flush thread starts only once all 50 hold
    /// a ticket, so the count does not depend on how fast a flush is; a flusher that flushed per
    /// ticket would run 50.
    #[tokio::test]
    async fn concurrent_syncs_share_flushes() {
        let dir = tempfile::tempdir().unwrap();
        let db = sled::Config::new()
            .path(dir.path().join("sled"))
            .open()
            .unwrap();
        db.insert("k", "v").unwrap();
        let flusher = Arc::new(Flusher::new(Arc::new(AtomicU64::new(0))));
        let mut tasks = Vec::new();
        for _ in 0..50 {
            let f = flusher.clone();
            tasks.push(tokio::spawn(async move { f.sync().await }));
        }
        while flusher.state.lock().unwrap().requested < 50 {
            tokio::task::yield_now().await;
        }
        let thread = {
            let f = flusher.clone();
            std::thread::spawn(move || f.run(db))
        };
        for t in tasks {
            t.await.unwrap().unwrap();
        }
        assert_eq!(flusher.flushes.load(Ordering::Relaxed), 1);
        // And a sync after those needs a flush of its own.
        flusher.sync().await.unwrap();
        assert_eq!(flusher.flushes.load(Ordering::Relaxed), 2);
        flusher.stop();
        thread.join().unwrap();
    }
}
