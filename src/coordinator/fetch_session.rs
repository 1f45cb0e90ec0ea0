//! Fetch sessions (KIP-227): a consumer of many partitions names them once, and each later Fetch
//! carries only what changed, answered with only the partitions that have something new.
//!
//! A request's `(session_id, session_epoch)` says what it is:
//! - epoch -1: a fetch outside any session (closing `session_id` first, if it names one);
//! - epoch 0: a full fetch that opens a new session (closing `session_id` first), whose id the
//!   answer carries, or 0 when the cache has no room, which tells the client to keep sending full
//!   fetches;
//! - epoch n > 0: an incremental fetch on `session_id`, whose expected epoch must be n: its
//!   partitions add to or update the session's, its forgotten topics leave it, and every partition
//!   of the session is read.
//!
//! The cache holds at most `slots` sessions. A full cache makes room by evicting the least recently
//! used session idle for longer than [`EVICTABLE_AFTER`], else the smallest session when the new
//! one is larger (Kafka's `max.incremental.fetch.session.cache.slots` and
//! `min.incremental.fetch.session.eviction.ms`); otherwise the new session is not cached.
//!
//! Partitions are bounded too, since a client names them and each costs memory: a session holds at
//! most `max_session_partitions` (the broker's `max_partitions`: more cannot all exist), and all
//! sessions together at most [`MAX_CACHED_PARTITIONS`]. A full fetch past either bound gets no
//! session (it makes room as for a slot, first); an incremental fetch that grows its session past
//! them ends the session with FETCH_SESSION_ID_NOT_FOUND, and the client starts over with a full
//! fetch. Kafka bounds only the slots.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

/// How long a session must sit unused before any new session may evict it.
pub const EVICTABLE_AFTER: Duration = Duration::from_secs(120);

/// Partitions all cached sessions may hold together: a few tens of MB at most.
pub const MAX_CACHED_PARTITIONS: usize = 200_000;

/// A partition as a session names it: by topic id from Fetch v13, by topic name before.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct PartitionKey {
    pub topic: String,
    pub topic_id: Uuid,
    pub partition: i32,
}

/// What the client asks of one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FetchPosition {
    pub fetch_offset: i64,
    pub max_bytes: i32,
}

/// What a partition's last answer in the session told the client; `None` before the first one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Reported {
    pub high_watermark: i64,
    pub last_stable_offset: i64,
    pub log_start_offset: i64,
}

/// One partition of an answer, for deciding whether an incremental answer includes it.
#[derive(Debug, Clone, Copy)]
pub struct PartitionAnswer {
    pub has_records: bool,
    pub error: bool,
    pub reported: Reported,
}

struct Session {
    /// The epoch the next incremental request must carry.
    next_epoch: i32,
    uses_topic_ids: bool,
    /// In answer order: partitions answered move to the back, so a `max_bytes` that one answer
    /// cannot fill for all does not starve the same partitions every time.
    partitions: Vec<(PartitionKey, FetchPosition, Option<Reported>)>,
    last_used: Instant,
}

/// The broker's fetch sessions.
pub struct FetchSessions {
    slots: usize,
    max_session_partitions: usize,
    sessions: Mutex<HashMap<i32, Session>>,
}

/// What the handler must do for a request.
#[derive(Debug, PartialEq, Eq)]
pub enum Plan {
    /// Read the request's partitions and answer all of them; `session_id` (0: none) goes in the
    /// answer, and [`FetchSessions::answered`] records what it told the client.
    Full { session_id: i32 },
    /// Read these partitions (the whole session, in order) and answer those
    /// [`FetchSessions::answered`] selects.
    Incremental {
        session_id: i32,
        partitions: Vec<(PartitionKey, FetchPosition)>,
    },
}

/// An incremental request's changes to its session.
pub struct Changes {
    pub upsert: Vec<(PartitionKey, FetchPosition)>,
    /// Partitions to drop, by topic (name or id, per the session's kind) and index.
    pub forget: Vec<PartitionKey>,
}

impl FetchSessions {
    pub fn new(slots: usize, max_session_partitions: usize) -> FetchSessions {
        FetchSessions {
            slots,
            max_session_partitions: max_session_partitions.min(MAX_CACHED_PARTITIONS),
            sessions: Mutex::new(HashMap::new()),
        }
    }

    /// Decides what a Fetch (v7+) does with its session fields. `full` are the request's
    /// partitions, used when it opens a session; `changes` its incremental updates. An error is
    /// the Kafka code for the whole answer.
    pub fn begin(
        &self,
        session_id: i32,
        epoch: i32,
        uses_topic_ids: bool,
        full: impl FnOnce() -> Vec<(PartitionKey, FetchPosition)>,
        changes: Changes,
    ) -> Result<Plan, i16> {
        let now = Instant::now();
        let mut sessions = self.sessions.lock().expect("fetch sessions poisoned");
        match epoch {
            -1 | 0 => {
                if session_id != 0 {
                    sessions.remove(&session_id);
                }
                if epoch == -1 {
                    return Ok(Plan::Full { session_id: 0 });
                }
                let partitions: Vec<_> = full().into_iter().map(|(k, p)| (k, p, None)).collect();
                let Some(id) = self.make_room(&mut sessions, partitions.len(), now) else {
                    return Ok(Plan::Full { session_id: 0 });
                };
                sessions.insert(
                    id,
                    Session {
                        next_epoch: 1,
                        uses_topic_ids,
                        partitions,
                        last_used: now,
                    },
                );
                Ok(Plan::Full { session_id: id })
            }
            epoch => {
                let session = sessions
                    .get_mut(&session_id)
                    .ok_or(ResponseError::FetchSessionIdNotFound.code())?;
                if epoch != session.next_epoch {
                    return Err(ResponseError::InvalidFetchSessionEpoch.code());
                }
                if session.uses_topic_ids != uses_topic_ids {
                    return Err(ResponseError::FetchSessionTopicIdError.code());
                }
                session.next_epoch = epoch.checked_add(1).unwrap_or(1);
                session.last_used = now;
                // Hashed lookups: a client controls both lists' lengths (up to a request's worth).
                let forget: HashSet<&PartitionKey> = changes.forget.iter().collect();
                session.partitions.retain(|(k, _, _)| !forget.contains(k));
                let targets: Vec<Option<usize>> = {
                    let index = index_of(&session.partitions);
                    changes
                        .upsert
                        .iter()
                        .map(|(k, _)| index.get(k).copied())
                        .collect()
                };
                let mut added: HashMap<PartitionKey, usize> = HashMap::new();
                for ((key, position), target) in changes.upsert.into_iter().zip(targets) {
                    match target.or_else(|| added.get(&key).copied()) {
                        Some(i) => session.partitions[i].1 = position,
                        None => {
                            added.insert(key.clone(), session.partitions.len());
                            session.partitions.push((key, position, None));
                        }
                    }
                }
                let grown = session.partitions.len();
                if grown > self.max_session_partitions
                    || cached_partitions(&sessions) > MAX_CACHED_PARTITIONS
                {
                    tracing::debug!(
                        session_id,
                        partitions = grown,
                        "fetch session grew past its bound; closed"
                    );
                    sessions.remove(&session_id);
                    return Err(ResponseError::FetchSessionIdNotFound.code());
                }
                let session = sessions.get(&session_id).expect("still cached");
                Ok(Plan::Incremental {
                    session_id,
                    partitions: session
                        .partitions
                        .iter()
                        .map(|(k, p, _)| (k.clone(), *p))
                        .collect(),
                })
            }
        }
    }

    /// Records what an answer in the session told the client and says, per partition, whether an
    /// incremental answer includes it: when it has records or an error, or its offsets changed
    /// since the last answer. A full answer (`incremental` false) includes every partition.
    pub fn answered(
        &self,
        session_id: i32,
        incremental: bool,
        answers: &[(PartitionKey, PartitionAnswer)],
    ) -> Vec<bool> {
        let mut sessions = self.sessions.lock().expect("fetch sessions poisoned");
        let Some(session) = sessions.get_mut(&session_id) else {
            // Evicted or closed while the fetch waited: answer in full, as a sessionless fetch.
            return vec![true; answers.len()];
        };
        // Where each answered partition sits in the session now: another fetch on the same
        // session may have reordered it since this one began.
        let positions: Vec<Option<usize>> = {
            let index = index_of(&session.partitions);
            answers.iter().map(|(k, _)| index.get(k).copied()).collect()
        };
        let mut include = Vec::with_capacity(answers.len());
        let mut answered = vec![false; session.partitions.len()];
        for ((_, answer), position) in answers.iter().zip(positions) {
            let Some(i) = position else {
                include.push(!incremental);
                continue;
            };
            let last = &mut session.partitions[i].2;
            let changed = *last != Some(answer.reported);
            *last = Some(answer.reported);
            let yes = !incremental || answer.has_records || answer.error || changed;
            include.push(yes);
            answered[i] |= yes;
        }
        if incremental && answered.iter().any(|&a| a) {
            // Answered partitions move to the back, each group keeping its order.
            let (back, front): (Vec<_>, Vec<_>) = std::mem::take(&mut session.partitions)
                .into_iter()
                .zip(answered)
                .partition(|(_, a)| *a);
            session.partitions = front.into_iter().chain(back).map(|(p, _)| p).collect();
        }
        include
    }

    /// A fresh session id, after evicting a session if the cache is full and one may go; `None`
    /// when the new session (of `size` partitions) is not worth any cached one.
    fn make_room(
        &self,
        sessions: &mut HashMap<i32, Session>,
        size: usize,
        now: Instant,
    ) -> Option<i32> {
        if self.slots == 0 || size > self.max_session_partitions {
            return None;
        }
        while sessions.len() >= self.slots
            || cached_partitions(sessions) + size > MAX_CACHED_PARTITIONS
        {
            let stale = sessions
                .iter()
                .filter(|(_, s)| now.duration_since(s.last_used) >= EVICTABLE_AFTER)
                .min_by_key(|(_, s)| s.last_used)
                .map(|(id, _)| *id);
            let victim = stale.or_else(|| {
                sessions
                    .iter()
                    .filter(|(_, s)| s.partitions.len() < size)
                    .min_by_key(|(_, s)| (s.partitions.len(), s.last_used))
                    .map(|(id, _)| *id)
            })?;
            sessions.remove(&victim);
        }
        loop {
            let id = (rand_u32() & 0x7fff_ffff) as i32;
            if id != 0 && !sessions.contains_key(&id) {
                return Some(id);
            }
        }
    }

    #[cfg(test)]
    fn partitions_cached(&self) -> usize {
        cached_partitions(&self.sessions.lock().unwrap())
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.sessions.lock().unwrap().len()
    }
}

/// Each partition's position in a session.
fn index_of(
    partitions: &[(PartitionKey, FetchPosition, Option<Reported>)],
) -> HashMap<&PartitionKey, usize> {
    partitions
        .iter()
        .enumerate()
        .map(|(i, (k, _, _))| (k, i))
        .collect()
}

/// Partitions held by all cached sessions.
fn cached_partitions(sessions: &HashMap<i32, Session>) -> usize {
    sessions.values().map(|s| s.partitions.len()).sum()
}

/// A random session id: ids must not be guessable across clients more than Kafka's are, and must
/// not repeat soon after a restart (a client may still hold an old one).
fn rand_u32() -> u32 {
    let id = Uuid::new_v4();
    let b = id.as_bytes();
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(topic: &str, partition: i32) -> PartitionKey {
        PartitionKey {
            topic: topic.into(),
            topic_id: Uuid::nil(),
            partition,
        }
    }

    fn pos(fetch_offset: i64) -> FetchPosition {
        FetchPosition {
            fetch_offset,
            max_bytes: 1 << 20,
        }
    }

    fn none() -> Changes {
        Changes {
            upsert: Vec::new(),
            forget: Vec::new(),
        }
    }

    fn answer(hw: i64, records: bool) -> PartitionAnswer {
        PartitionAnswer {
            has_records: records,
            error: false,
            reported: Reported {
                high_watermark: hw,
                last_stable_offset: hw,
                log_start_offset: 0,
            },
        }
    }

    fn open(cache: &FetchSessions, parts: &[(&str, i32)]) -> i32 {
        let full: Vec<_> = parts.iter().map(|(t, p)| (key(t, *p), pos(0))).collect();
        match cache.begin(0, 0, false, || full, none()).unwrap() {
            Plan::Full { session_id } => session_id,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn epochs_minus_one_and_zero_are_full_fetches_and_zero_opens_a_session() {
        let cache = FetchSessions::new(10, 1000);
        assert_eq!(
            cache.begin(0, -1, false, Vec::new, none()),
            Ok(Plan::Full { session_id: 0 })
        );
        let id = open(&cache, &[("t", 0)]);
        assert_ne!(id, 0);
        // A non-zero id with epoch -1 closes that session and fetches without one (kafka-go).
        assert_eq!(
            cache.begin(id, -1, false, Vec::new, none()),
            Ok(Plan::Full { session_id: 0 })
        );
        assert_eq!(cache.len(), 0);
        // ... and with epoch 0 replaces it with a new one.
        let id = open(&cache, &[("t", 0)]);
        let Ok(Plan::Full { session_id: new }) =
            cache.begin(id, 0, false, || vec![(key("t", 0), pos(0))], none())
        else {
            panic!()
        };
        assert!(new != 0 && new != id);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn incremental_fetches_check_id_and_epoch_and_apply_changes() {
        let cache = FetchSessions::new(10, 1000);
        let id = open(&cache, &[("a", 0), ("a", 1)]);
        assert_eq!(
            cache.begin(id + 1, 1, false, Vec::new, none()),
            Err(ResponseError::FetchSessionIdNotFound.code())
        );
        assert_eq!(
            cache.begin(id, 2, false, Vec::new, none()),
            Err(ResponseError::InvalidFetchSessionEpoch.code())
        );
        assert_eq!(
            cache.begin(id, 1, true, Vec::new, none()),
            Err(ResponseError::FetchSessionTopicIdError.code())
        );
        let changes = Changes {
            upsert: vec![(key("a", 1), pos(7)), (key("b", 0), pos(3))],
            forget: vec![key("a", 0)],
        };
        let Ok(Plan::Incremental { partitions, .. }) = cache.begin(id, 1, false, Vec::new, changes)
        else {
            panic!()
        };
        assert_eq!(
            partitions,
            vec![(key("a", 1), pos(7)), (key("b", 0), pos(3))]
        );
        // The epoch moved on: 1 again is refused, 2 is next.
        assert!(cache.begin(id, 1, false, Vec::new, none()).is_err());
        assert!(cache.begin(id, 2, false, Vec::new, none()).is_ok());
    }

    #[test]
    fn an_incremental_answer_has_only_what_changed_and_rotates_it_to_the_back() {
        let cache = FetchSessions::new(10, 1000);
        let id = open(&cache, &[("t", 0), ("t", 1), ("t", 2)]);
        let full = [
            (key("t", 0), answer(5, true)),
            (key("t", 1), answer(0, false)),
            (key("t", 2), answer(0, false)),
        ];
        assert_eq!(cache.answered(id, false, &full), vec![true; 3]);
        let Ok(Plan::Incremental { partitions, .. }) = cache.begin(id, 1, false, Vec::new, none())
        else {
            panic!()
        };
        assert_eq!(partitions.len(), 3);
        let now = [
            (key("t", 0), answer(5, false)),
            (key("t", 1), answer(2, false)),
            (key("t", 2), answer(0, true)),
        ];
        assert_eq!(cache.answered(id, true, &now), vec![false, true, true]);
        let Ok(Plan::Incremental { partitions, .. }) = cache.begin(id, 2, false, Vec::new, none())
        else {
            panic!()
        };
        let order: Vec<i32> = partitions.iter().map(|(k, _)| k.partition).collect();
        assert_eq!(order, vec![0, 1, 2]);
    }

    #[test]
    fn a_full_cache_evicts_a_smaller_session_or_declines() {
        let cache = FetchSessions::new(2, 1000);
        let small = open(&cache, &[("t", 0)]);
        let big = open(&cache, &[("t", 0), ("t", 1), ("t", 2)]);
        // Not larger than any cached session: no session for it.
        let full = || vec![(key("t", 0), pos(0))];
        assert_eq!(
            cache.begin(0, 0, false, full, none()),
            Ok(Plan::Full { session_id: 0 })
        );
        // Larger than the small one: it replaces it.
        let two = || vec![(key("t", 0), pos(0)), (key("t", 1), pos(0))];
        let Ok(Plan::Full { session_id }) = cache.begin(0, 0, false, two, none()) else {
            panic!()
        };
        assert_ne!(session_id, 0);
        assert_eq!(cache.len(), 2);
        assert!(cache.begin(small, 1, false, Vec::new, none()).is_err());
        assert!(cache.begin(big, 1, false, Vec::new, none()).is_ok());
    }

    /// A client names the partitions, so their number is bounded: per session by the broker's
    /// partition limit, over all sessions by MAX_CACHED_PARTITIONS.
    #[test]
    fn sessions_cannot_hold_more_partitions_than_their_bounds() {
        let cache = FetchSessions::new(10, 3);
        let parts = |n: i32| -> Vec<(PartitionKey, FetchPosition)> {
            (0..n).map(|p| (key("t", p), pos(0))).collect()
        };
        assert_eq!(
            cache.begin(0, 0, false, || parts(4), none()),
            Ok(Plan::Full { session_id: 0 }),
            "more partitions than a session may hold: no session"
        );
        let id = open(&cache, &[("t", 0), ("t", 1)]);
        let grow = Changes {
            upsert: vec![(key("t", 2), pos(0)), (key("t", 3), pos(0))],
            forget: Vec::new(),
        };
        assert_eq!(
            cache.begin(id, 1, false, Vec::new, grow),
            Err(ResponseError::FetchSessionIdNotFound.code())
        );
        assert_eq!(
            cache.len(),
            0,
            "the session that grew past its bound is gone"
        );

        let cache = FetchSessions::new(10, MAX_CACHED_PARTITIONS);
        let big = MAX_CACHED_PARTITIONS as i32 * 3 / 4;
        let Ok(Plan::Full { session_id: first }) = cache.begin(0, 0, false, || parts(big), none())
        else {
            panic!()
        };
        assert_ne!(first, 0);
        // A second one as large does not fit beside it, and is not larger: no session.
        assert_eq!(
            cache.begin(0, 0, false, || parts(big), none()),
            Ok(Plan::Full { session_id: 0 })
        );
        assert_eq!(cache.partitions_cached(), big as usize);
    }

    /// A fetch on a session answered after another fetch on it reordered the partitions still
    /// finds each partition where it now is (it used to assume its own order, and could remove
    /// past the end of the list), and duplicate partitions in one request are kept once.
    #[test]
    fn overlapping_fetches_on_one_session_and_duplicate_partitions() {
        let cache = FetchSessions::new(10, 1000);
        let id = open(&cache, &[("t", 0), ("t", 1), ("t", 2)]);
        let all = [
            (key("t", 0), answer(0, false)),
            (key("t", 1), answer(0, false)),
            (key("t", 2), answer(0, false)),
        ];
        cache.answered(id, false, &all);
        // A second fetch answers partition 0 first: it moves to the back.
        assert_eq!(
            cache.answered(id, true, &[(key("t", 0), answer(1, true))]),
            vec![true]
        );
        // The first fetch, begun before, answers in its own order: 0 (now last) and 2, which
        // move to the back in the session's order: 1, 2, 0.
        let late = [
            (key("t", 0), answer(1, true)),
            (key("t", 1), answer(0, false)),
            (key("t", 2), answer(3, true)),
        ];
        assert_eq!(cache.answered(id, true, &late), vec![true, false, true]);
        let Ok(Plan::Incremental { partitions, .. }) = cache.begin(
            id,
            1,
            false,
            Vec::new,
            Changes {
                upsert: vec![(key("u", 0), pos(1)), (key("u", 0), pos(2))],
                forget: vec![key("t", 1), key("t", 1)],
            },
        ) else {
            panic!()
        };
        let order: Vec<(String, i32, i64)> = partitions
            .iter()
            .map(|(k, p)| (k.topic.clone(), k.partition, p.fetch_offset))
            .collect();
        assert_eq!(
            order,
            vec![("t".into(), 2, 0), ("t".into(), 0, 0), ("u".into(), 0, 2)]
        );
    }
}
