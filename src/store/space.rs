//! [`SpaceGuard`]: refuses new data while the data dir's filesystem is nearly full, so that the
//! store never runs out of space mid-write.
//!
//! sled treats a failed log write as final: every later write fails until the database is opened
//! again (its log would otherwise have a hole). Refusing produced data while `min_free_bytes` are
//! still free keeps sled's own writes (flushes of what was accepted, segment headers, metadata)
//! from meeting a full disk, and lets writes resume on their own as soon as space returns.
//! Kafka has no such setting: it takes its log dir offline on the first failed write and needs
//! a restart; the vendored sled still opens and serves reads on a full disk for the case this
//! guard cannot prevent (something else filling the disk past the reserve).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};

use super::StoreError;

/// Default of the config's `min_free_bytes`.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 128 * 1024 * 1024;

pub(super) struct SpaceGuard {
    dir: PathBuf,
    min_free: AtomicU64,
}

impl SpaceGuard {
    pub(super) fn new(dir: PathBuf) -> SpaceGuard {
        SpaceGuard {
            dir,
            min_free: AtomicU64::new(DEFAULT_MIN_FREE_BYTES),
        }
    }

    pub(super) fn set_min_free(&self, bytes: u64) {
        self.min_free.store(bytes, Ordering::Relaxed);
    }

    /// Ok while more than `min_free_bytes` stay free once `incoming` bytes (the append asking,
    /// and what was accepted but not flushed yet) reach the disk, else [`StoreError::DiskFull`].
    /// sled writes a value about twice (as itself, then inside rewritten leaves; see
    /// vendor/README.md), so those count double: a 1 MB produce request accepted just above the
    /// reserve ran a 32 MiB tmpfs out under sled's flush. Free space is read for every append (a
    /// statvfs, a few microseconds): a figure kept for even 10 ms let several requests through on
    /// stale room. A filesystem whose free space cannot be read counts as having room: the write
    /// itself will tell.
    pub(super) fn check(&self, incoming: u64) -> Result<(), StoreError> {
        let min_free = self.min_free.load(Ordering::Relaxed);
        if min_free == 0 {
            return Ok(());
        }
        let free = fs2::available_space(&self.dir).unwrap_or(u64::MAX);
        if free < min_free.saturating_add(incoming.saturating_mul(2)) {
            return Err(StoreError::DiskFull { free, min_free });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_what_would_go_below_the_reserve() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SpaceGuard::new(dir.path().to_path_buf());
        guard.set_min_free(1);
        guard.check(0).unwrap();
        // No filesystem has this much free: refused, with the numbers.
        guard.set_min_free(u64::MAX);
        assert!(matches!(
            guard.check(0),
            Err(StoreError::DiskFull {
                min_free: u64::MAX,
                ..
            })
        ));
        // What is coming counts against the room left.
        let free = fs2::available_space(dir.path()).unwrap();
        guard.set_min_free(free / 2);
        guard.check(0).unwrap();
        assert!(guard.check(free).is_err());
        // 0 turns the guard off.
        guard.set_min_free(0);
        guard.check(u64::MAX).unwrap();
    }
}
