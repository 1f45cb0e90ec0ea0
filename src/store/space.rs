//! [`SpaceGuard`]: refuses new data while the data dir's filesystem is nearly full, so that the
//! store never runs out of space mid-write.
//!
//! sled treats a failed log write as final: every later write fails until the database is opened
//! again (its log would otherwise have a hole). Refusing produced data while `min_free_bytes` are
//! still free keeps sled's own writes (flushes of what was accepted, segment headers, metadata)
//! from ever meeting a full disk, and lets writes resume on their own as soon as space returns.
//! Kafka has no such setting: it takes its log dir offline on the first failed write and needs
//! a restart; the vendored sled still opens and serves reads on a full disk for the case this
//! guard cannot prevent (something else filling the disk past the reserve).

use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use super::StoreError;

/// How long one look at the filesystem's free space is trusted. A statvfs per append would be
/// cheap, but appends come per partition per request; at the disk's full write speed (~300 MB/s
/// here) this lets at most a few MB through unchecked, well inside the reserve.
const RECHECK_MS: u64 = 10;

/// Default of the config's `min_free_bytes`.
pub const DEFAULT_MIN_FREE_BYTES: u64 = 128 * 1024 * 1024;

pub(super) struct SpaceGuard {
    dir: PathBuf,
    min_free: AtomicU64,
    started: Instant,
    /// When `free` was last read, in ms since `started` (+1, so 0 means never).
    checked_at: AtomicU64,
    free: AtomicU64,
}

impl SpaceGuard {
    pub(super) fn new(dir: PathBuf) -> SpaceGuard {
        SpaceGuard {
            dir,
            min_free: AtomicU64::new(DEFAULT_MIN_FREE_BYTES),
            started: Instant::now(),
            checked_at: AtomicU64::new(0),
            free: AtomicU64::new(u64::MAX),
        }
    }

    pub(super) fn set_min_free(&self, bytes: u64) {
        self.min_free.store(bytes, Ordering::Relaxed);
        self.checked_at.store(0, Ordering::Relaxed);
    }

    /// Ok while more than `min_free_bytes` are free, else [`StoreError::DiskFull`]. A filesystem
    /// whose free space cannot be read counts as having room: the write itself will tell.
    pub(super) fn check(&self) -> Result<(), StoreError> {
        let min_free = self.min_free.load(Ordering::Relaxed);
        if min_free == 0 {
            return Ok(());
        }
        let now = self.started.elapsed().as_millis() as u64 + 1;
        let checked = self.checked_at.load(Ordering::Relaxed);
        let free = if checked == 0 || now.saturating_sub(checked) >= RECHECK_MS {
            let free = fs2::available_space(&self.dir).unwrap_or(u64::MAX);
            self.free.store(free, Ordering::Relaxed);
            self.checked_at.store(now, Ordering::Relaxed);
            free
        } else {
            self.free.load(Ordering::Relaxed)
        };
        if free < min_free {
            return Err(StoreError::DiskFull { free, min_free });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_below_the_reserve_and_rechecks() {
        let dir = tempfile::tempdir().unwrap();
        let guard = SpaceGuard::new(dir.path().to_path_buf());
        guard.set_min_free(1);
        guard.check().unwrap();
        // No filesystem has this much free: refused, with the numbers.
        guard.set_min_free(u64::MAX);
        assert!(matches!(
            guard.check(),
            Err(StoreError::DiskFull {
                min_free: u64::MAX,
                ..
            })
        ));
        // 0 turns the guard off.
        guard.set_min_free(0);
        guard.check().unwrap();
    }
}
