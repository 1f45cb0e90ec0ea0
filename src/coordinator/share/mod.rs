//! The partition side of share groups (KIP-932): per (group, topic, partition) delivery state,
//! share sessions, and the lock-expiry timer. Membership (ShareGroupHeartbeat, assignment) is the
//! share-group coordinator's; it tells this one when a member leaves ([`ShareCoordinator::member_left`])
//! or a group goes ([`ShareCoordinator::group_deleted`]).
//!
//! # Layout
//! - `mod.rs`: [`ShareCoordinator`]: the share partitions, acquisition from the log, the durable
//!   state, and the long-poll wake-ups; [`ShareSettings`], what a group's configs decide.
//! - `partition.rs`: [`SharePartition`], one partition's state machine, without I/O.
//! - `session.rs`: [`ShareSessions`], share sessions and their epochs.
//!
//! Locks: the map of partitions, then one partition, never the other way round; a partition's
//! lock is held while its log is read and its new state stored, so state and store agree, and
//! never across an `.await`. Every change is written to the store before the lock is released;
//! acknowledgements are made durable (a shared flush) before they are answered.

pub mod partition;
pub mod session;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::Notify;
use uuid::Uuid;

use crate::broker::{stopping, Broker};
use crate::log::batch::StoredHeader;
use crate::log::PartitionLog;
use crate::store::{Store, StoreError};

pub use partition::{Acquired, Limits, RecordState, SharePartition};
pub use session::{Plan, SessionPartition, ShareSessions};

/// Where a share partition starts when a group first fetches it (`share.auto.offset.reset`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AutoOffsetReset {
    /// The high watermark: only records produced from now on (Kafka's default).
    Latest,
    /// The log start offset.
    Earliest,
    /// The first record at most this many milliseconds old (Kafka's `by_duration:<ISO-8601>`).
    ByDuration(u64),
}

/// What a group's configs decide for its share partitions. Built from the broker's defaults;
/// the per-group configs (`share.*` on GROUP config resources) override them through the lookup
/// set with [`ShareCoordinator::set_settings_lookup`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ShareSettings {
    pub limits: Limits,
    pub auto_offset_reset: AutoOffsetReset,
    /// `share.isolation.level=read_committed`: deliver only below the last stable offset.
    pub read_committed: bool,
}

/// What the share-group coordinator knows of a group, for the offset admin APIs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupStatus {
    /// No such group.
    Missing,
    /// A share group without members.
    Empty,
    /// A share group with members.
    Active,
    /// A group of another type (classic or consumer).
    OtherType,
}

type SettingsLookup = dyn Fn(&str, ShareSettings) -> ShareSettings + Send + Sync;
type StatusLookup = dyn Fn(&str) -> GroupStatus + Send + Sync;
type InitializedLookup = dyn Fn(&str, Uuid, i32) -> bool + Send + Sync;

/// A share partition: group, topic id, partition index.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ShareKey {
    pub group: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// What one partition gave a ShareFetch.
#[derive(Debug, Default)]
pub struct Delivered {
    /// Whole batches holding the acquired records, as stored.
    pub records: Option<Bytes>,
    pub acquired: Vec<Acquired>,
}

pub struct ShareCoordinator {
    store: Store,
    defaults: ShareSettings,
    partitions: Mutex<HashMap<ShareKey, Arc<Mutex<SharePartition>>>>,
    sessions: Mutex<ShareSessions>,
    /// Long polls waiting for records to become available again (released, expired).
    waiters: Mutex<Vec<Arc<Notify>>>,
    /// Wakes the lock-expiry task when a new lock may expire before what it sleeps for.
    timer: Notify,
    settings_lookup: RwLock<Option<Box<SettingsLookup>>>,
    status_lookup: RwLock<Option<Box<StatusLookup>>>,
    initialized_lookup: RwLock<Option<Box<InitializedLookup>>>,
}

/// Milliseconds since the epoch: the clock of acquisition locks.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

impl ShareCoordinator {
    /// Loads every share partition's durable state.
    pub fn open(
        store: Store,
        defaults: ShareSettings,
        max_sessions: usize,
    ) -> Result<ShareCoordinator, StoreError> {
        let mut partitions = HashMap::new();
        // A stored state is at most as large as the largest lock limit a group may have.
        let max_offsets = defaults
            .limits
            .max_record_locks
            .max(MAX_RECORD_LOCKS_CEILING);
        for (group, topic_id, partition, rec) in store.load_share_states()? {
            match SharePartition::from_record(&rec, max_offsets) {
                Some(p) => {
                    let key = ShareKey {
                        group,
                        topic_id,
                        partition,
                    };
                    partitions.insert(key, Arc::new(Mutex::new(p)));
                }
                None => tracing::error!(
                    group,
                    %topic_id,
                    partition,
                    "skipping share-partition state that does not decode"
                ),
            }
        }
        Ok(ShareCoordinator {
            store,
            defaults,
            partitions: Mutex::new(partitions),
            sessions: Mutex::new(ShareSessions::new(max_sessions)),
            waiters: Mutex::new(Vec::new()),
            timer: Notify::new(),
            settings_lookup: RwLock::new(None),
            status_lookup: RwLock::new(None),
            initialized_lookup: RwLock::new(None),
        })
    }

    /// Seam for the group configs: `f(group, broker defaults)` gives a group's settings.
    pub fn set_settings_lookup(
        &self,
        f: impl Fn(&str, ShareSettings) -> ShareSettings + Send + Sync + 'static,
    ) {
        *self.settings_lookup.write().expect("lookup poisoned") = Some(Box::new(f));
    }

    /// Seam for the share-group coordinator: whether a group exists and has members.
    pub fn set_status_lookup(&self, f: impl Fn(&str) -> GroupStatus + Send + Sync + 'static) {
        *self.status_lookup.write().expect("lookup poisoned") = Some(Box::new(f));
    }

    /// Seam for the share-group coordinator: whether it has initialised a partition for a group
    /// (assigned it to a member at least once; Kafka's share-group-initialized-partitions). Kafka
    /// serves nothing of a partition it has not: a ShareFetch leaves it out of the answer.
    pub fn set_initialized_lookup(
        &self,
        f: impl Fn(&str, Uuid, i32) -> bool + Send + Sync + 'static,
    ) {
        *self.initialized_lookup.write().expect("lookup poisoned") = Some(Box::new(f));
    }

    /// Whether a share partition without state may start now. Until the share-group coordinator
    /// is wired, any may.
    fn may_initialize(&self, key: &ShareKey) -> bool {
        match &*self.initialized_lookup.read().expect("lookup poisoned") {
            Some(f) => f(&key.group, key.topic_id, key.partition),
            None => true,
        }
    }

    /// A group's settings.
    pub fn settings(&self, group: &str) -> ShareSettings {
        match &*self.settings_lookup.read().expect("lookup poisoned") {
            Some(f) => f(group, self.defaults),
            None => self.defaults,
        }
    }

    /// A group's status. Until the share-group coordinator is wired, a group is taken to be
    /// active while one of its members has a share session, else empty.
    pub fn group_status(&self, group: &str) -> GroupStatus {
        if let Some(f) = &*self.status_lookup.read().expect("lookup poisoned") {
            return f(group);
        }
        if self
            .sessions
            .lock()
            .expect("sessions poisoned")
            .has_group(group)
        {
            GroupStatus::Active
        } else {
            GroupStatus::Empty
        }
    }

    pub fn sessions(&self) -> std::sync::MutexGuard<'_, ShareSessions> {
        self.sessions.lock().expect("sessions poisoned")
    }

    fn get(&self, key: &ShareKey) -> Option<Arc<Mutex<SharePartition>>> {
        self.partitions
            .lock()
            .expect("share partitions poisoned")
            .get(key)
            .cloned()
    }

    /// Acquires records of one partition for `member` and reads the batches holding them: at most
    /// `*budget` records (lowered by what is acquired; with `whole_batches`, the last batch begun
    /// is acquired whole even past it) and about `max_bytes` (at least one batch when
    /// `at_least_one`). A partition the group has never fetched starts where
    /// `share.auto.offset.reset` says, once the share-group coordinator has initialised it (None
    /// before).
    #[allow(clippy::too_many_arguments)]
    pub fn acquire(
        &self,
        key: &ShareKey,
        log: &PartitionLog,
        member: &Arc<str>,
        settings: &ShareSettings,
        budget: &mut usize,
        max_bytes: usize,
        at_least_one: bool,
        whole_batches: bool,
    ) -> Result<Option<Delivered>, i16> {
        let sp = {
            let mut map = self.partitions.lock().expect("share partitions poisoned");
            match map.get(key) {
                Some(sp) => sp.clone(),
                None if !self.may_initialize(key) => return Ok(None),
                None => {
                    let start = initial_offset(log, settings.auto_offset_reset)?;
                    let sp = Arc::new(Mutex::new(SharePartition::new(start)));
                    map.insert(key.clone(), sp.clone());
                    sp
                }
            }
        };
        let mut sp = sp.lock().expect("share partition poisoned");
        let mut changed = sp.skip_to(log.offsets().log_start as i64);
        let mut out = Delivered::default();
        // An altered start past the log's end waits for the log to get there.
        let mut from = sp.next_to_read();
        // The log is read in windows that grow, not all of `max_bytes` at once: a member asks for
        // a few hundred records, and reading (and copying) a whole backlog of `max_bytes` for
        // each fetch made share throughput fall as the backlog grew.
        let mut window = FIRST_READ_WINDOW;
        let mut room = max_bytes;
        let mut at_least_one = at_least_one;
        // read_committed: the producers whose aborted transaction is open at this point.
        let mut aborting: Vec<i64> = Vec::new();
        let mut served: Vec<Bytes> = Vec::new();
        let now = now_ms();
        'windows: while *budget > 0
            && (room > 0 || at_least_one)
            && from < log.offsets().high_watermark as i64
        {
            let read = log
                .read_isolated(
                    from,
                    window.min(room),
                    at_least_one,
                    settings.read_committed,
                )
                .map_err(|e| crate::api::error::code(&e, "a share fetch read"))?;
            let Some(records) = read.records else {
                if window < room {
                    // The next batch is larger than this window, and may still fit in `room`.
                    window = window.saturating_mul(4);
                    continue;
                }
                break;
            };
            // read_committed: an aborted transaction's batches are archived, never delivered.
            let mut aborted = if settings.read_committed {
                log.aborted_transactions(from as u64, read.next_offset)
                    .map_err(|e| {
                        crate::api::error::code(&e, "a share fetch's aborted transactions")
                    })?
            } else {
                Vec::new()
            };
            aborted.sort_unstable_by_key(|&(_, first)| std::cmp::Reverse(first));
            room = room.saturating_sub(records.len());
            at_least_one = false;
            // The stored chunks, uncopied: a batch's chunks follow each other and the first holds
            // its header (a chunk is 16 KiB, a header 61 bytes).
            let parts = records.into_parts();
            let mut next = 0usize;
            while next < parts.len() && *budget > 0 {
                let Some(h) = StoredHeader::parse(&parts[next]) else {
                    break;
                };
                if h.base_offset as i64 >= sp.end() && !sp.has_room(&settings.limits) {
                    // Nothing past here can be acquired until the start moves.
                    break 'windows;
                }
                let first = next;
                let mut len = 0usize;
                while next < parts.len() && len < h.size as usize {
                    len += parts[next].len();
                    next += 1;
                }
                while aborted
                    .last()
                    .is_some_and(|&(_, first)| first <= h.base_offset)
                {
                    let producer = aborted.pop().expect("checked").0;
                    if !aborting.contains(&producer) {
                        aborting.push(producer);
                    }
                }
                let undeliverable = if h.is_control() {
                    // The marker ends its producer's transaction.
                    aborting.retain(|&p| p != h.producer_id);
                    true
                } else {
                    h.is_transactional() && aborting.contains(&h.producer_id)
                };
                let before = out.acquired.len();
                let last = out.acquired.last().copied();
                // batch_optimized: a batch begun is acquired whole, so `max_records` is a soft
                // limit rounded up to a batch end, as in Kafka; record_limit stops at it exactly.
                let mut batch_budget = if whole_batches { usize::MAX } else { *budget };
                let offered = batch_budget;
                changed |= sp.acquire_batch(
                    h.base_offset as i64,
                    h.next_offset() as i64 - 1,
                    undeliverable,
                    member,
                    now,
                    &settings.limits,
                    &mut batch_budget,
                    &mut out.acquired,
                );
                *budget = budget.saturating_sub(offered - batch_budget);
                if out.acquired.len() != before || out.acquired.last().copied() != last {
                    served.extend_from_slice(&parts[first..next]);
                }
            }
            if read.next_offset as i64 <= from {
                break;
            }
            from = read.next_offset as i64;
            window = window.saturating_mul(4);
        }
        if !served.is_empty() {
            out.records = Some(match served.as_slice() {
                [one] => one.clone(),
                many => many.concat().into(),
            });
            self.timer.notify_one();
        }
        if changed {
            self.persist(key, &sp)?;
        }
        Ok(Some(out))
    }

    /// Applies a member's acknowledgement batches to one partition: all of them or, if one is
    /// invalid, none. The change is in the store when this returns; the caller makes it durable
    /// before answering.
    pub fn acknowledge(
        &self,
        key: &ShareKey,
        member: &str,
        batches: &[(i64, i64, Vec<i8>)],
    ) -> Result<(), i16> {
        let Some(sp) = self.get(key) else {
            // Nothing was ever acquired here, by anyone.
            return Err(ResponseError::InvalidRecordState.code());
        };
        let limits = self.settings(&key.group).limits;
        let mut sp = sp.lock().expect("share partition poisoned");
        let before = sp.clone();
        let now = now_ms();
        for (first, last, types) in batches {
            if let Err(code) = sp.acknowledge(member, *first, *last, types, &limits, now) {
                *sp = before;
                return Err(code);
            }
        }
        self.persist(key, &sp)?;
        if sp.has_available() {
            self.wake();
        }
        Ok(())
    }

    /// Releases what a member holds in every partition of its group: it left the group, or ended
    /// its share session. Returns whether anything was released.
    pub fn release_member(&self, group: &str, member: &str) -> bool {
        let limits = self.settings(group).limits;
        let mut released = false;
        for (key, sp) in self.of_group(group) {
            let mut sp = sp.lock().expect("share partition poisoned");
            if sp.release_member(member, &limits) {
                released = true;
                if let Err(e) = self.persist(&key, &sp) {
                    tracing::error!(error = %e, group, "could not store released records");
                }
            }
        }
        if released {
            self.wake();
        }
        released
    }

    /// A member left its share group (the share-group coordinator calls this): its records are
    /// released at once and its share session dropped. This asks the settings lookup for the
    /// group's delivery-count limit, so the caller must not hold a lock that lookup takes.
    pub fn member_left(&self, group: &str, member: &str) {
        self.sessions().remove(group, member);
        self.release_member(group, member);
    }

    /// A connection closed: the share sessions it opened end, and their members' records are
    /// released at once, as Kafka does, rather than when their locks expire.
    pub fn connection_closed(&self, conn: std::net::SocketAddr) {
        let ended = self.sessions().connection_closed(conn);
        for (group, member) in ended {
            self.release_member(&group, &member);
        }
    }

    /// A share group was deleted (the share-group coordinator calls this): its state goes.
    pub fn group_deleted(&self, group: &str) -> Result<(), StoreError> {
        self.sessions().remove_group(group);
        self.partitions
            .lock()
            .expect("share partitions poisoned")
            .retain(|k, _| k.group != group);
        self.store.remove_share_group(group)
    }

    /// Releases every lock expired at `now`; returns the next deadline.
    pub fn expire(&self, now: u64) -> Option<u64> {
        let all: Vec<(ShareKey, Arc<Mutex<SharePartition>>)> = self
            .partitions
            .lock()
            .expect("share partitions poisoned")
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        let mut next: Option<u64> = None;
        let mut released = false;
        for (key, sp) in all {
            let limits = self.settings(&key.group).limits;
            let mut sp = sp.lock().expect("share partition poisoned");
            if sp.expire(now, &limits) {
                released = true;
                if let Err(e) = self.persist(&key, &sp) {
                    tracing::error!(error = %e, group = key.group, "could not store expired locks");
                }
            }
            if let Some(d) = sp.next_deadline() {
                next = Some(next.map_or(d, |n| n.min(d)));
            }
        }
        if released {
            self.wake();
        }
        next
    }

    /// The start offset of a share partition, None if the group never initialised it.
    pub fn start_offset(&self, key: &ShareKey) -> Option<i64> {
        self.get(key)
            .map(|sp| sp.lock().expect("share partition poisoned").start())
    }

    /// Sets a partition's start offset, forgetting what was in flight (AlterShareGroupOffsets).
    pub fn alter(&self, key: &ShareKey, offset: i64) -> Result<(), i16> {
        let sp = {
            let mut map = self.partitions.lock().expect("share partitions poisoned");
            map.entry(key.clone())
                .or_insert_with(|| Arc::new(Mutex::new(SharePartition::new(offset))))
                .clone()
        };
        let mut sp = sp.lock().expect("share partition poisoned");
        sp.reset(offset);
        self.persist(key, &sp)
    }

    /// Forgets a group's state of every partition of a topic (DeleteShareGroupOffsets); returns
    /// whether it had any.
    pub fn delete_topic(&self, group: &str, topic_id: Uuid) -> Result<bool, StoreError> {
        let removed: Vec<ShareKey> = {
            let mut map = self.partitions.lock().expect("share partitions poisoned");
            let keys: Vec<ShareKey> = map
                .keys()
                .filter(|k| k.group == group && k.topic_id == topic_id)
                .cloned()
                .collect();
            for k in &keys {
                map.remove(k);
            }
            keys
        };
        for k in &removed {
            self.store
                .remove_share_state(&k.group, k.topic_id, k.partition)?;
        }
        Ok(!removed.is_empty())
    }

    /// Forgets every group's state of a deleted topic.
    pub fn topic_deleted(&self, topic_id: Uuid) -> Result<(), StoreError> {
        self.partitions
            .lock()
            .expect("share partitions poisoned")
            .retain(|k, _| k.topic_id != topic_id);
        self.store.remove_share_topic(topic_id)
    }

    /// The partitions a group has state for, sorted.
    pub fn partitions_of(&self, group: &str) -> Vec<ShareKey> {
        let mut keys: Vec<ShareKey> = self.of_group(group).into_iter().map(|(k, _)| k).collect();
        keys.sort();
        keys
    }

    fn of_group(&self, group: &str) -> Vec<(ShareKey, Arc<Mutex<SharePartition>>)> {
        self.partitions
            .lock()
            .expect("share partitions poisoned")
            .iter()
            .filter(|(k, _)| k.group == group)
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    fn persist(&self, key: &ShareKey, sp: &SharePartition) -> Result<(), i16> {
        self.store
            .put_share_state(&key.group, key.topic_id, key.partition, &sp.to_record())
            .map_err(|e| crate::api::error::code(&e, "storing share-partition state"))
    }

    /// Registers a long-poll waiter, woken when records become available again.
    pub fn register_waiter(&self, waiter: &Arc<Notify>) {
        let mut ws = self.waiters.lock().expect("waiters poisoned");
        ws.retain(|w| Arc::strong_count(w) > 1);
        ws.push(waiter.clone());
    }

    fn wake(&self) {
        let waiters = std::mem::take(&mut *self.waiters.lock().expect("waiters poisoned"));
        for w in waiters {
            w.notify_one();
        }
    }
}

/// The first slice of the log a share fetch reads; each further one is four times larger.
const FIRST_READ_WINDOW: usize = 64 * 1024;

/// The most record locks any group may have (Kafka's `group.share.max.partition.max.record.locks`
/// default): what a stored state may hold.
const MAX_RECORD_LOCKS_CEILING: usize = 4_000;

/// Where a share partition starts.
fn initial_offset(log: &PartitionLog, reset: AutoOffsetReset) -> Result<i64, i16> {
    let offsets = log.offsets();
    Ok(match reset {
        AutoOffsetReset::Latest => offsets.high_watermark as i64,
        AutoOffsetReset::Earliest => offsets.log_start as i64,
        AutoOffsetReset::ByDuration(ms) => {
            let since = now_ms().saturating_sub(ms) as i64;
            let headers = log
                .headers()
                .map_err(|e| crate::api::error::code(&e, "a share-partition start by time"))?;
            let mut found = offsets.high_watermark as i64;
            for h in headers {
                let h = h.map_err(|e| crate::api::error::code(&e, "a share-partition start"))?;
                if h.max_timestamp >= since {
                    found = (h.base_offset as i64).max(offsets.log_start as i64);
                    break;
                }
            }
            found
        }
    })
}

/// Releases expired acquisition locks: sleeps until the earliest lock deadline, or until a new
/// acquisition may have set an earlier one, and stops with the broker.
pub async fn run(broker: Broker) {
    let mut shutdown = broker.shutdown_signal();
    let share = broker.share();
    loop {
        let tick = share.timer.notified();
        let next = share.expire(now_ms());
        let wait = next.map_or(Duration::from_secs(3600), |d| {
            Duration::from_millis(d.saturating_sub(now_ms()))
        });
        tokio::select! {
            _ = tick => {}
            _ = tokio::time::sleep(wait) => {}
            _ = stopping(&mut shutdown) => return,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::tests::test_broker;
    use crate::config::Config;
    use crate::log::batch::{self, tests::make_batch};

    fn key(id: Uuid) -> ShareKey {
        ShareKey {
            group: "g".into(),
            topic_id: id,
            partition: 0,
        }
    }

    /// A broker whose topic "t" holds `batches` batches of three records, where every share
    /// partition may start (no share-group coordinator assigns them here), and group "g"'s
    /// settings with share.auto.offset.reset=earliest.
    fn with_batches(
        dir: &std::path::Path,
        config: Config,
        batches: usize,
    ) -> (Broker, Arc<crate::broker::Topic>, ShareSettings) {
        let b = test_broker(dir, config);
        b.share().set_initialized_lookup(|_, _, _| true);
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        for _ in 0..batches {
            t.partitions[0]
                .append_visible(&batch::validate(&make_batch(3, 0), 1 << 20).unwrap())
                .unwrap();
        }
        let mut settings = b.share().settings("g");
        settings.auto_offset_reset = AutoOffsetReset::Earliest;
        (b, t, settings)
    }

    #[test]
    fn acquires_from_the_log_persists_and_survives_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config::default();
        let (b, t, settings) = with_batches(dir.path(), config.clone(), 2);
        let log = &t.partitions[0];
        let share = b.share();
        let (k, m) = (key(t.id), Arc::<str>::from("m"));
        let mut budget = 4;
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, false)
            .unwrap()
            .unwrap();
        // Four records of two batches: both batches are served whole.
        assert_eq!(
            got.acquired,
            vec![Acquired {
                first: 0,
                last: 3,
                delivery_count: 1
            }]
        );
        let two = batch::validate(&make_batch(3, 0), 1 << 20).unwrap()[0]
            .bytes
            .len();
        assert_eq!(got.records.unwrap().len(), 2 * two);
        share
            .acknowledge(&k, "m", &[(0, 1, vec![partition::ACCEPT])])
            .unwrap();
        share
            .acknowledge(&k, "m", &[(2, 2, vec![partition::REJECT]), (5, 5, vec![1])])
            .unwrap_err();
        assert_eq!(share.start_offset(&k), Some(2));
        b.close_store().unwrap();
        drop(t);
        drop(b);
        let b = test_broker(dir.path(), config);
        let share = b.share();
        assert_eq!(share.start_offset(&k), Some(2));
        let t = b.topic("t").unwrap();
        let mut budget = usize::MAX;
        let got = share
            .acquire(
                &k,
                &t.partitions[0],
                &m,
                &settings,
                &mut budget,
                1 << 20,
                true,
                false,
            )
            .unwrap()
            .unwrap();
        // What was acquired and not acknowledged comes back as its second delivery.
        assert_eq!(
            got.acquired,
            vec![
                Acquired {
                    first: 2,
                    last: 3,
                    delivery_count: 2
                },
                Acquired {
                    first: 4,
                    last: 5,
                    delivery_count: 1
                }
            ]
        );
    }

    #[test]
    fn batch_optimized_acquires_the_last_batch_begun_whole() {
        let dir = tempfile::tempdir().unwrap();
        let (b, t, settings) = with_batches(dir.path(), Config::default(), 3);
        let log = &t.partitions[0];
        let share = b.share();
        let (k, m) = (key(t.id), Arc::<str>::from("m"));
        // Four records asked for: the first batch and all of the second, not the third.
        let mut budget = 4;
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            got.acquired,
            vec![Acquired {
                first: 0,
                last: 5,
                delivery_count: 1
            }]
        );
        assert_eq!(budget, 0);
        // The rest, from a small byte limit: at least one batch, read past the first window.
        let mut budget = 1;
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1, true, true)
            .unwrap()
            .unwrap();
        assert_eq!(
            got.acquired,
            vec![Acquired {
                first: 6,
                last: 8,
                delivery_count: 1
            }]
        );
    }

    #[test]
    fn latest_starts_at_the_high_watermark_and_members_leaving_release() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let log = &t.partitions[0];
        log.append_visible(&batch::validate(&make_batch(3, 0), 1 << 20).unwrap())
            .unwrap();
        let share = b.share();
        let settings = share.settings("g");
        assert_eq!(settings.auto_offset_reset, AutoOffsetReset::Latest);
        let (k, m) = (key(t.id), Arc::<str>::from("m"));
        let mut budget = usize::MAX;
        // Nothing starts before the share-group coordinator has initialised the partition.
        share.set_initialized_lookup(|_, _, p| p == 0);
        let other = ShareKey {
            partition: 1,
            ..k.clone()
        };
        let got = share.acquire(
            &other,
            log,
            &m,
            &settings,
            &mut budget,
            1 << 20,
            true,
            false,
        );
        assert!(matches!(got, Ok(None)));
        assert_eq!(share.start_offset(&other), None);
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, false)
            .unwrap()
            .unwrap();
        assert!(got.acquired.is_empty() && got.records.is_none());
        assert_eq!(share.start_offset(&k), Some(3));
        log.append_visible(&batch::validate(&make_batch(2, 0), 1 << 20).unwrap())
            .unwrap();
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, false)
            .unwrap()
            .unwrap();
        assert_eq!(got.acquired.len(), 1);
        assert!(share.expire(now_ms()).is_some());
        share.member_left("g", "m");
        assert_eq!(share.expire(now_ms()), None);
        share.alter(&k, 1).unwrap();
        assert_eq!(share.start_offset(&k), Some(1));
        // Altered past the log's end: nothing to read yet, and no error.
        share.alter(&k, 100).unwrap();
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, false)
            .unwrap()
            .unwrap();
        assert!(got.acquired.is_empty());
        assert!(share.delete_topic("g", t.id).unwrap());
        assert_eq!(share.start_offset(&k), None);
        share.alter(&k, 1).unwrap();
        share.group_deleted("g").unwrap();
        assert!(share.partitions_of("g").is_empty());
        // Deleting the topic drops every group's state of it.
        share.alter(&k, 1).unwrap();
        b.delete_topic("t").unwrap();
        assert_eq!(share.start_offset(&k), None);
        assert!(share.partitions_of("g").is_empty());
    }

    /// read_committed: only below the last stable offset, and an aborted transaction's records
    /// and the markers are archived, never delivered.
    #[test]
    fn read_committed_skips_aborted_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        // No share-group coordinator assigns partitions here: every one may start.
        b.share().set_initialized_lookup(|_, _, _| true);
        let t = b.create_topic("t", 1, Default::default(), false).unwrap();
        let log = &t.partitions[0];
        let txn = batch::tests::with_txn(&make_batch(2, 0), 7, 0, 0);
        log.append_visible(&batch::validate(&txn, 1 << 20).unwrap())
            .unwrap();
        log.append_visible(&batch::validate(&make_batch(1, 0), 1 << 20).unwrap())
            .unwrap();
        let share = b.share();
        let mut settings = share.settings("g");
        settings.auto_offset_reset = AutoOffsetReset::Earliest;
        settings.read_committed = true;
        let (k, m) = (key(t.id), Arc::<str>::from("m"));
        let mut budget = usize::MAX;
        // The open transaction holds the last stable offset at 0: nothing yet.
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, false)
            .unwrap()
            .unwrap();
        assert!(got.acquired.is_empty());
        let abort = log.write_marker(7, 0, false, 0).unwrap();
        log.publish(abort.end);
        let got = share
            .acquire(&k, log, &m, &settings, &mut budget, 1 << 20, true, false)
            .unwrap()
            .unwrap();
        assert_eq!(
            got.acquired,
            vec![Acquired {
                first: 2,
                last: 2,
                delivery_count: 1
            }]
        );
        share
            .acknowledge(&k, "m", &[(2, 2, vec![partition::ACCEPT])])
            .unwrap();
        assert_eq!(share.start_offset(&k), Some(4));
    }
}
