//! Client quotas enforced (KIP-13, KIP-55, KIP-124, KIP-219): `producer_byte_rate` (Produce request
//! bytes), `consumer_byte_rate` (Fetch response bytes) and `request_percentage` (time spent
//! handling a client's requests) per user and client id, with Kafka's precedence, windows and
//! throttle times. A client over its quota is told how long to back off in the response's
//! `throttle_time_ms`, and its connection reads nothing more for that long (the muting is in
//! [`crate::net::connection`]).
//!
//! Its own module beside `security` rather than in `net` or `api`: it is shared state of the
//! broker, fed by the Produce and Fetch handlers (bytes) and by the connection (handling time),
//! and knows neither sockets nor the wire, only entities, rates and limits.
//!
//! As Kafka's default quota callback: the quota that applies to (user, client id) is the first
//! that exists of /users/u/clients/c, /users/u/clients/default, /users/u,
//! /users/default/clients/c, /users/default/clients/default, /users/default, /clients/c,
//! /clients/default. Clients that the same entity limits share one rate (all clients of a user
//! limited at /users/u count together). Limits are looked up at every record, so a quota set or
//! removed applies to running clients at once. Nothing is measured for a kind of quota while no
//! entity has one.
//!
//! Memory: a rate whose client has recorded nothing for the whole window measures zero, exactly as
//! a new one does, so rates idle that long are dropped (Kafka keeps its sensors an hour for its
//! metrics, which Sluice does not export). A client cycling client ids faster than that is further
//! bounded by [`MAX_RATES`]: beyond it the longest-idle half is dropped, which forgets their
//! history (they may briefly exceed their quota) rather than grow.

pub mod rate;

use std::collections::HashMap;
use std::sync::{Mutex, RwLock};
use std::time::Instant;

use rate::{Rate, SAMPLES, WINDOW_MS};

use crate::store::{QuotaEntity, QuotaValues};

/// The rates kept at most, across all clients and kinds.
pub const MAX_RATES: usize = 50_000;

/// A kind of client quota, by its configuration key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum QuotaKind {
    Produce,
    Fetch,
    Request,
}

impl QuotaKind {
    const ALL: [QuotaKind; 3] = [QuotaKind::Produce, QuotaKind::Fetch, QuotaKind::Request];

    pub fn key(self) -> &'static str {
        match self {
            QuotaKind::Produce => "producer_byte_rate",
            QuotaKind::Fetch => "consumer_byte_rate",
            QuotaKind::Request => "request_percentage",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// One level of an entity: absent (`None`), the default (`Some(None)`), or a name.
type Level = Option<Option<String>>;

/// The tags a rate is kept under, as Kafka's metric tags: "" where the level does not count.
type Tags = (String, String);

struct Tracked {
    rate: Rate,
    last_record_ms: u64,
}

/// The broker's client quota managers: limits by entity, and the rates of the clients they apply to.
pub struct ClientQuotas {
    clock: Instant,
    /// Per kind: (user level, client-id level) -> limit.
    limits: RwLock<[HashMap<(Level, Level), f64>; 3]>,
    rates: Mutex<Rates>,
}

#[derive(Default)]
struct Rates {
    by_tags: HashMap<(QuotaKind, Tags), Tracked>,
    last_sweep_ms: u64,
}

impl Default for ClientQuotas {
    fn default() -> Self {
        ClientQuotas::new()
    }
}

impl ClientQuotas {
    pub fn new() -> ClientQuotas {
        ClientQuotas {
            clock: Instant::now(),
            limits: RwLock::new(Default::default()),
            rates: Mutex::new(Rates::default()),
        }
    }

    /// Milliseconds on the managers' monotonic clock.
    pub fn now_ms(&self) -> u64 {
        self.clock.elapsed().as_millis() as u64
    }

    /// Replaces what one stored entity sets (its values after an AlterClientQuotas, or at start).
    /// Entities naming an IP are not client quotas and are ignored here.
    pub fn set(&self, entity: &QuotaEntity, values: &QuotaValues) {
        let mut user: Level = None;
        let mut client: Level = None;
        for (entity_type, name) in entity {
            match entity_type.as_str() {
                "user" => user = Some(name.clone()),
                "client-id" => client = Some(name.clone()),
                _ => return,
            }
        }
        if user.is_none() && client.is_none() {
            return;
        }
        let mut limits = self.limits.write().expect("quota limits poisoned");
        for kind in QuotaKind::ALL {
            let key = (user.clone(), client.clone());
            match values.get(kind.key()) {
                Some(&v) => limits[kind.index()].insert(key, v),
                None => limits[kind.index()].remove(&key),
            };
        }
    }

    /// Whether any entity has a quota of this kind: nothing is measured otherwise.
    pub fn enabled(&self, kind: QuotaKind) -> bool {
        !self.limits.read().expect("quota limits poisoned")[kind.index()].is_empty()
    }

    /// Records `value` for the client and returns how long it must be throttled, in
    /// milliseconds (0 when within its quota or it has none).
    pub fn record(&self, kind: QuotaKind, user: &str, client_id: &str, value: f64) -> u32 {
        self.record_at(kind, user, client_id, value, self.now_ms(), true)
    }

    /// Records without checking the quota (Kafka's `recordNoThrottle`; negative to take back).
    pub fn record_only(&self, kind: QuotaKind, user: &str, client_id: &str, value: f64) {
        self.record_at(kind, user, client_id, value, self.now_ms(), false);
    }

    /// The most a client may take in one quota window, for capping a Fetch's size (Kafka's
    /// `getMaxValueInQuotaWindow`); `None` without a quota.
    pub fn max_in_window(&self, kind: QuotaKind, user: &str, client_id: &str) -> Option<f64> {
        let limits = self.limits.read().expect("quota limits poisoned");
        let limits = &limits[kind.index()];
        if limits.is_empty() {
            return None;
        }
        let tags = metric_tags(limits, user, client_id);
        limit(limits, &tags).map(|l| l * (SAMPLES as f64 - 1.0) * (WINDOW_MS as f64 / 1000.0))
    }

    fn record_at(
        &self,
        kind: QuotaKind,
        user: &str,
        client_id: &str,
        value: f64,
        now: u64,
        check: bool,
    ) -> u32 {
        let (tags, bound) = {
            let limits = self.limits.read().expect("quota limits poisoned");
            let limits = &limits[kind.index()];
            if limits.is_empty() {
                return 0;
            }
            let tags = metric_tags(limits, user, client_id);
            let bound = limit(limits, &tags);
            (tags, bound)
        };
        let mut rates = self.rates.lock().expect("quota rates poisoned");
        rates.sweep(now);
        let tracked = rates
            .by_tags
            .entry((kind, tags))
            .or_insert_with(|| Tracked {
                rate: Rate::new(now),
                last_record_ms: now,
            });
        tracked.rate.record(value, now);
        tracked.last_record_ms = now;
        let Some(bound) = bound.filter(|_| check) else {
            return 0;
        };
        let throttle = rate::throttle_ms(&mut tracked.rate, bound, now);
        // Request time is throttled at most one window (Kafka's ClientRequestQuotaManager): a
        // client's handling time is not its to control as its bytes are.
        let throttle = match kind {
            QuotaKind::Request => throttle.min(WINDOW_MS),
            _ => throttle,
        };
        throttle.min(i32::MAX as u64) as u32
    }

    #[cfg(test)]
    fn rates_kept(&self) -> usize {
        self.rates.lock().unwrap().by_tags.len()
    }
}

impl Rates {
    /// Drops rates idle for the whole window (they measure zero, as a new one would), at most
    /// once a second; and past [`MAX_RATES`], the longest-idle half.
    fn sweep(&mut self, now: u64) {
        let full = self.by_tags.len() >= MAX_RATES;
        if !full && now.saturating_sub(self.last_sweep_ms) < WINDOW_MS {
            return;
        }
        self.last_sweep_ms = now;
        let idle = SAMPLES as u64 * WINDOW_MS;
        self.by_tags
            .retain(|_, t| now.saturating_sub(t.last_record_ms) < idle);
        if self.by_tags.len() >= MAX_RATES {
            let mut times: Vec<u64> = self.by_tags.values().map(|t| t.last_record_ms).collect();
            let mid = times.len() / 2;
            let (_, &mut cut, _) = times.select_nth_unstable(mid);
            tracing::warn!(
                rates = self.by_tags.len(),
                "too many clients measured for quotas: forgetting the longest idle half"
            );
            self.by_tags.retain(|_, t| t.last_record_ms > cut);
        }
    }
}

/// The tags of the rate a client is measured in: the levels of the entity whose quota applies
/// (Kafka's `DefaultQuotaCallback.quotaMetricTags`).
fn metric_tags(limits: &HashMap<(Level, Level), f64>, user: &str, client_id: &str) -> Tags {
    let has = |u: Level, c: Level| limits.contains_key(&(u, c));
    let named = |s: &str| Some(Some(s.to_string()));
    let default = || Some(None);
    let both = (user.to_string(), client_id.to_string());
    let user_only = (user.to_string(), String::new());
    if has(named(user), named(client_id)) || has(named(user), default()) {
        both
    } else if has(named(user), None) {
        user_only
    } else if has(default(), named(client_id)) || has(default(), default()) {
        both
    } else if has(default(), None) {
        user_only
    } else {
        (String::new(), client_id.to_string())
    }
}

/// The limit for a rate's tags, by the precedence above (Kafka's `DefaultQuotaCallback.quotaLimit`).
fn limit(limits: &HashMap<(Level, Level), f64>, (user, client_id): &Tags) -> Option<f64> {
    let named = |s: &str| Some(Some(s.to_string()));
    let default = || Some(None);
    let get = |u: Level, c: Level| limits.get(&(u, c)).copied();
    if !user.is_empty() && !client_id.is_empty() {
        get(named(user), named(client_id))
            .or_else(|| get(named(user), default()))
            .or_else(|| get(default(), named(client_id)))
            .or_else(|| get(default(), default()))
    } else if !user.is_empty() {
        get(named(user), None).or_else(|| get(default(), None))
    } else if !client_id.is_empty() {
        get(None, named(client_id)).or_else(|| get(None, default()))
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entity(user: Option<Option<&str>>, client: Option<Option<&str>>) -> QuotaEntity {
        let mut e = Vec::new();
        if let Some(c) = client {
            e.push(("client-id".to_string(), c.map(String::from)));
        }
        if let Some(u) = user {
            e.push(("user".to_string(), u.map(String::from)));
        }
        e
    }

    fn set(q: &ClientQuotas, e: QuotaEntity, v: Option<f64>) {
        let values = v
            .map(|v| [("producer_byte_rate".to_string(), v)].into())
            .unwrap_or_default();
        q.set(&e, &values);
    }

    fn applies(q: &ClientQuotas, user: &str, client: &str) -> Option<f64> {
        let limits = q.limits.read().unwrap();
        let limits = &limits[QuotaKind::Produce.index()];
        limit(limits, &metric_tags(limits, user, client))
    }

    #[test]
    fn precedence_is_kafkas() {
        let q = ClientQuotas::new();
        let levels = [
            (Some(Some("u")), Some(Some("c"))),
            (Some(Some("u")), Some(None)),
            (Some(Some("u")), None),
            (Some(None), Some(Some("c"))),
            (Some(None), Some(None)),
            (Some(None), None),
            (None, Some(Some("c"))),
            (None, Some(None)),
        ];
        for (i, (u, c)) in levels.iter().enumerate() {
            set(&q, entity(*u, *c), Some(i as f64 + 1.0));
        }
        // Removing the most specific each time exposes the next.
        for (i, (u, c)) in levels.iter().enumerate() {
            assert_eq!(applies(&q, "u", "c"), Some(i as f64 + 1.0), "level {i}");
            set(&q, entity(*u, *c), None);
        }
        assert_eq!(applies(&q, "u", "c"), None);
    }

    #[test]
    fn clients_of_a_user_quota_share_one_rate() {
        let q = ClientQuotas::new();
        set(&q, entity(Some(Some("alice")), None), Some(1000.0));
        let limits = q.limits.read().unwrap();
        let limits = &limits[0];
        assert_eq!(
            metric_tags(limits, "alice", "a"),
            metric_tags(limits, "alice", "b")
        );
        assert_ne!(
            metric_tags(limits, "bob", "a"),
            metric_tags(limits, "bob", "b"),
            "without a quota, clients are measured apart as Kafka does"
        );
    }

    #[test]
    fn throttles_over_the_quota_and_stops_when_removed() {
        let q = ClientQuotas::new();
        assert_eq!(
            q.record_at(QuotaKind::Produce, "u", "c", 1e9, 0, true),
            0,
            "no quota"
        );
        assert_eq!(q.rates_kept(), 0, "nothing measured without any quota");
        set(&q, entity(None, Some(Some("c"))), Some(100.0));
        assert_eq!(q.record_at(QuotaKind::Produce, "u", "c", 500.0, 0, true), 0);
        // 2000 bytes over the 10 s minimum window: 200/s, 100/s over.
        let t = q.record_at(QuotaKind::Produce, "u", "c", 1500.0, 10, true);
        assert_eq!(t, 9_990);
        assert_eq!(
            q.record_at(QuotaKind::Produce, "u", "other", 1500.0, 10, true),
            0
        );
        set(&q, entity(None, Some(Some("c"))), None);
        assert_eq!(
            q.record_at(QuotaKind::Produce, "u", "c", 1500.0, 20, true),
            0
        );
    }

    #[test]
    fn request_time_throttle_is_bounded_by_a_window() {
        let q = ClientQuotas::new();
        let values = [("request_percentage".to_string(), 1.0)].into();
        q.set(&entity(Some(None), None), &values);
        let t = q.record_at(QuotaKind::Request, "u", "c", 500.0, 0, true);
        assert_eq!(t, 1000);
        assert_eq!(q.record_at(QuotaKind::Produce, "u", "c", 1e9, 0, true), 0);
    }

    #[test]
    fn rates_do_not_grow_with_cycling_client_ids() {
        let q = ClientQuotas::new();
        set(&q, entity(None, Some(None)), Some(100.0));
        for i in 0..(MAX_RATES as u64 + 10) {
            q.record_at(QuotaKind::Produce, "u", &format!("c{i}"), 1.0, 0, true);
        }
        assert!(q.rates_kept() <= MAX_RATES);
        // Idle for the whole window: all gone at the next record.
        q.record_at(QuotaKind::Produce, "u", "last", 1.0, 1_000_000, true);
        assert_eq!(q.rates_kept(), 1);
    }

    #[test]
    fn max_in_window_caps_by_the_quota() {
        let q = ClientQuotas::new();
        assert_eq!(q.max_in_window(QuotaKind::Fetch, "u", "c"), None);
        let values = [("consumer_byte_rate".to_string(), 100.0)].into();
        q.set(&entity(Some(Some("u")), None), &values);
        assert_eq!(q.max_in_window(QuotaKind::Fetch, "u", "c"), Some(1000.0));
        assert_eq!(q.max_in_window(QuotaKind::Fetch, "v", "c"), None);
    }
}
