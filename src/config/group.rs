//! Group configs (KIP-848, KIP-932): the dynamic configs of one group, set with
//! IncrementalAlterConfigs on a GROUP resource (Kafka's ConfigResource type 32) and described with
//! DescribeConfigs, as Kafka 4.4's `GroupConfig` has them: the names it lists, each defaulting to a
//! broker setting (its synonym), validated against the broker's min and max.
//!
//! [`GroupConfigs`] holds every group's overrides (durable in the store) and answers the typed
//! lookups the coordinators read: [`GroupConfigs::share`] and [`GroupConfigs::consumer`].

use std::collections::{BTreeMap, HashMap};
use std::sync::RwLock;

use super::topic::{ConfigSource, ConfigType, DescribedConfig};
use super::Config;
use crate::store::{Store, StoreError};

/// How a group config's value is checked, beyond its type.
#[derive(Clone, Copy)]
enum Check {
    /// Within the broker's `[min, max]` (read from the broker config).
    Range(fn(&Config) -> (i32, i32)),
    /// At least this.
    AtLeast(i32),
    /// At most the broker's value.
    AtMost(fn(&Config) -> i32),
    /// One of these strings, exactly.
    OneOf(&'static [&'static str]),
    /// `earliest`, `latest` or `by_duration:<ISO-8601 duration>` (share.auto.offset.reset).
    AutoOffsetReset,
    /// A topic name not starting with `__`, or empty (errors.deadletterqueue.topic.name).
    DlqTopic,
    None,
}

struct Def {
    name: &'static str,
    kind: ConfigType,
    /// The broker setting the default comes from (DescribeConfigs' synonym), with its value.
    synonym: &'static str,
    default: fn(&Config) -> String,
    check: Check,
    doc: &'static str,
}

fn n(v: i32) -> String {
    v.to_string()
}

/// Kafka 4.4's group configs, in the order Kafka describes them (by name). Its internal ones
/// (the assignor offload switches and some streams tuning knobs) are not listed, as Kafka does not
/// list them either; Sluice refuses them as unknown.
const DEFS: &[Def] = &[
    Def {
        name: "consumer.assignment.interval.ms",
        kind: ConfigType::Int,
        synonym: "group.consumer.assignment.interval.ms",
        default: |_| n(1000),
        check: Check::Range(|_| (0, 15_000)),
        doc: "The minimum interval between assignment computations of the consumer group.",
    },
    Def {
        name: "consumer.heartbeat.interval.ms",
        kind: ConfigType::Int,
        synonym: "group.consumer.heartbeat.interval.ms",
        default: |c| n(c.group_consumer_heartbeat_interval_ms),
        check: Check::Range(|c| {
            (
                c.group_consumer_min_heartbeat_interval_ms,
                c.group_consumer_max_heartbeat_interval_ms,
            )
        }),
        doc: "The heartbeat interval given to the members of the consumer group.",
    },
    Def {
        name: "consumer.session.timeout.ms",
        kind: ConfigType::Int,
        synonym: "group.consumer.session.timeout.ms",
        default: |c| n(c.group_consumer_session_timeout_ms),
        check: Check::Range(|c| {
            (
                c.group_consumer_min_session_timeout_ms,
                c.group_consumer_max_session_timeout_ms,
            )
        }),
        doc: "The timeout to detect client failures when using the consumer group protocol.",
    },
    Def {
        name: "errors.deadletterqueue.copy.record.enable",
        kind: ConfigType::Boolean,
        synonym: "errors.deadletterqueue.copy.record.enable",
        default: |_| "false".into(),
        check: Check::None,
        doc: "When writing onto the dead-letter queue topic, whether to copy the original record.",
    },
    Def {
        name: "errors.deadletterqueue.topic.name",
        kind: ConfigType::String,
        synonym: "errors.deadletterqueue.topic.name",
        default: |_| String::new(),
        check: Check::DlqTopic,
        doc: "The dead-letter queue topic of the share group; blank for none.",
    },
    Def {
        name: "share.assignment.interval.ms",
        kind: ConfigType::Int,
        synonym: "group.share.assignment.interval.ms",
        default: |_| n(1000),
        check: Check::Range(|_| (0, 15_000)),
        doc: "The minimum interval between assignment computations of the share group.",
    },
    Def {
        name: "share.auto.offset.reset",
        kind: ConfigType::String,
        synonym: "share.auto.offset.reset",
        default: |_| "latest".into(),
        check: Check::AutoOffsetReset,
        doc: "The strategy to initialize the share-partition start offset: earliest, latest or \
              by_duration:<ISO-8601 duration>.",
    },
    Def {
        name: "share.delivery.count.limit",
        kind: ConfigType::Int,
        synonym: "group.share.delivery.count.limit",
        default: |c| n(c.group_share_delivery_count_limit),
        check: Check::Range(|c| {
            (
                c.group_share_min_delivery_count_limit,
                c.group_share_max_delivery_count_limit,
            )
        }),
        doc: "The maximum number of delivery attempts for a record delivered to a share group.",
    },
    Def {
        name: "share.heartbeat.interval.ms",
        kind: ConfigType::Int,
        synonym: "group.share.heartbeat.interval.ms",
        default: |c| n(c.group_share_heartbeat_interval_ms),
        check: Check::Range(|c| {
            (
                c.group_share_min_heartbeat_interval_ms,
                c.group_share_max_heartbeat_interval_ms,
            )
        }),
        doc: "The heartbeat interval given to the members of the share group.",
    },
    Def {
        name: "share.isolation.level",
        kind: ConfigType::String,
        synonym: "share.isolation.level",
        default: |_| "read_uncommitted".into(),
        check: Check::OneOf(&["read_committed", "read_uncommitted"]),
        doc: "Controls how to read records written transactionally.",
    },
    Def {
        name: "share.partition.max.record.locks",
        kind: ConfigType::Int,
        synonym: "group.share.partition.max.record.locks",
        default: |c| n(c.group_share_partition_max_record_locks),
        check: Check::Range(|_| (100, 10_000)),
        doc: "The maximum number of in-flight records per share partition.",
    },
    Def {
        name: "share.record.lock.duration.ms",
        kind: ConfigType::Int,
        synonym: "group.share.record.lock.duration.ms",
        default: |c| n(c.group_share_record_lock_duration_ms),
        check: Check::Range(|c| {
            (
                c.group_share_min_record_lock_duration_ms,
                c.group_share_max_record_lock_duration_ms,
            )
        }),
        doc: "The record acquisition lock duration in milliseconds for share groups.",
    },
    Def {
        name: "share.renew.acknowledge.enable",
        kind: ConfigType::Boolean,
        synonym: "share.renew.acknowledge.enable",
        default: |_| "true".into(),
        check: Check::None,
        doc: "Whether the renew acknowledge type is enabled for the share group.",
    },
    Def {
        name: "share.session.timeout.ms",
        kind: ConfigType::Int,
        synonym: "group.share.session.timeout.ms",
        default: |c| n(c.group_share_session_timeout_ms),
        check: Check::Range(|c| {
            (
                c.group_share_min_session_timeout_ms,
                c.group_share_max_session_timeout_ms,
            )
        }),
        doc: "The timeout to detect client failures when using the share group protocol.",
    },
    Def {
        name: "streams.assignment.interval.ms",
        kind: ConfigType::Int,
        synonym: "group.streams.assignment.interval.ms",
        default: |_| n(1000),
        check: Check::Range(|_| (0, 15_000)),
        doc: "The minimum interval between assignment computations of the streams group.",
    },
    Def {
        name: "streams.assignor.name",
        kind: ConfigType::String,
        synonym: "group.streams.assignors",
        default: |_| "sticky".into(),
        check: Check::None,
        doc: "The task assignor of the streams group.",
    },
    Def {
        name: "streams.heartbeat.interval.ms",
        kind: ConfigType::Int,
        synonym: "group.streams.heartbeat.interval.ms",
        default: |_| n(5000),
        check: Check::Range(|_| (5000, 15_000)),
        doc: "The heartbeat interval given to the members of the streams group.",
    },
    Def {
        name: "streams.initial.rebalance.delay.ms",
        kind: ConfigType::Int,
        synonym: "group.streams.initial.rebalance.delay.ms",
        default: |_| n(3000),
        check: Check::AtLeast(0),
        doc: "The amount of time the group coordinator waits before the first rebalance of a streams group.",
    },
    Def {
        name: "streams.num.standby.replicas",
        kind: ConfigType::Int,
        synonym: "group.streams.num.standby.replicas",
        default: |_| n(0),
        check: Check::AtMost(|_| 2),
        doc: "The number of standby replicas for each task.",
    },
    Def {
        name: "streams.rack.aware.assignment.tags",
        kind: ConfigType::List,
        synonym: "group.streams.rack.aware.assignment.tags",
        default: |_| String::new(),
        check: Check::None,
        doc: "The client tags used for rack-aware standby task placement.",
    },
    Def {
        name: "streams.session.timeout.ms",
        kind: ConfigType::Int,
        synonym: "group.streams.session.timeout.ms",
        default: |_| n(45_000),
        check: Check::Range(|_| (45_000, 60_000)),
        doc: "The timeout to detect client failures when using the streams group protocol.",
    },
];

fn def(name: &str) -> Option<&'static Def> {
    DEFS.iter().find(|d| d.name == name)
}

/// Why a group's configs were refused: Kafka answers INVALID_CONFIG with this message.
pub type GroupConfigError = String;

/// Checks one value against its definition, with Kafka's messages.
fn check_value(d: &Def, value: &str, config: &Config) -> Result<(), GroupConfigError> {
    let invalid = |why: &str| {
        Err(format!(
            "Invalid value {value} for configuration {}: {why}",
            d.name
        ))
    };
    match d.kind {
        ConfigType::Int => {
            let Ok(v) = value.trim().parse::<i32>() else {
                return invalid("Not a number of type INT");
            };
            match d.check {
                Check::Range(bounds) => {
                    let (min, max) = bounds(config);
                    if v < min || v > max {
                        return Err(format!(
                            "{} must be in the range {min} to {max} inclusive.",
                            d.name
                        ));
                    }
                }
                Check::AtLeast(min) if v < min => {
                    return Err(format!("{} must be greater than or equal to {min}", d.name));
                }
                Check::AtMost(max) if v > max(config) => {
                    return Err(format!(
                        "{} must be less than or equal to {}",
                        d.name,
                        max(config)
                    ));
                }
                _ => {}
            }
        }
        ConfigType::Boolean => {
            if !value.trim().eq_ignore_ascii_case("true")
                && !value.trim().eq_ignore_ascii_case("false")
            {
                return invalid("Expected value to be either true or false");
            }
        }
        _ => match d.check {
            Check::OneOf(allowed) if !allowed.contains(&value) => {
                return invalid(&format!("String must be one of: {}", allowed.join(", ")));
            }
            Check::AutoOffsetReset if !valid_auto_offset_reset(value) => {
                return invalid(&format!(
                    "Invalid value `{value}` for configuration {}. The value must be either \
                     'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.",
                    d.name
                ));
            }
            Check::DlqTopic if value.starts_with("__") => {
                return Err(format!(
                    "{}: DLQ topic name must not start with '__'",
                    d.name
                ));
            }
            _ => {}
        },
    }
    Ok(())
}

/// `earliest`, `latest` (any case, as Kafka's strategy parser), or `by_duration:` and a
/// non-negative ISO-8601 duration of days, hours, minutes and seconds (Java's `Duration.parse`).
fn valid_auto_offset_reset(value: &str) -> bool {
    let lower = value.to_ascii_lowercase();
    lower == "earliest" || lower == "latest" || by_duration_ms(&lower).is_some()
}

/// The milliseconds of a `by_duration:<ISO-8601 duration>` value of `share.auto.offset.reset`
/// (days, hours, minutes and seconds with a fraction, as Java's `Duration.parse` reads them);
/// None for anything else.
pub fn by_duration_ms(value: &str) -> Option<u64> {
    let lower = value.to_ascii_lowercase();
    let rest = lower
        .strip_prefix("by_duration:")?
        .trim()
        .strip_prefix('p')?;
    let (days, time) = match rest.split_once('t') {
        Some((days, time)) => (days, Some(time)),
        None => (rest, None),
    };
    let number = |s: &str, decimals: bool| -> Option<f64> {
        let ok = !s.is_empty()
            && s.chars()
                .all(|c| c.is_ascii_digit() || (decimals && c == '.'))
            && s.chars().next().is_some_and(|c| c.is_ascii_digit());
        if ok {
            s.parse::<f64>().ok()
        } else {
            None
        }
    };
    let mut ms = 0f64;
    if !days.is_empty() {
        ms += number(days.strip_suffix('d')?, false)? * 86_400_000.0;
    }
    match time {
        None if days.is_empty() => return None,
        None => {}
        Some(t) => {
            let mut rest = t;
            let mut any = false;
            for (unit, decimals, scale) in [
                ('h', false, 3_600_000.0),
                ('m', false, 60_000.0),
                ('s', true, 1_000.0),
            ] {
                if let Some(i) = rest.find(unit) {
                    ms += number(&rest[..i], decimals)? * scale;
                    rest = &rest[i + 1..];
                    any = true;
                }
            }
            if !any || !rest.is_empty() {
                return None;
            }
        }
    }
    (ms.is_finite() && ms <= u64::MAX as f64).then_some(ms as u64)
}

/// Validates a group's whole set of overrides, as Kafka's `GroupConfig.validate`: names, each
/// value, then each session timeout above its heartbeat interval (overrides or defaults).
pub fn validate(
    configs: &BTreeMap<String, String>,
    config: &Config,
) -> Result<(), GroupConfigError> {
    for (name, value) in configs {
        let d = def(name).ok_or_else(|| format!("Unknown group config name: {name}"))?;
        check_value(d, value, config)?;
    }
    for (session, heartbeat) in [
        (
            "consumer.session.timeout.ms",
            "consumer.heartbeat.interval.ms",
        ),
        ("share.session.timeout.ms", "share.heartbeat.interval.ms"),
        (
            "streams.session.timeout.ms",
            "streams.heartbeat.interval.ms",
        ),
    ] {
        let value = |name: &str| -> i64 {
            configs
                .get(name)
                .cloned()
                .unwrap_or_else(|| (def(name).expect("listed").default)(config))
                .trim()
                .parse()
                .unwrap_or(0)
        };
        if value(session) <= value(heartbeat) {
            return Err(format!("{session} must be greater than {heartbeat}"));
        }
    }
    Ok(())
}

/// Whether `name` is a group config Kafka accepts (for IncrementalAlterConfigs' name check).
pub fn is_group_config(name: &str) -> bool {
    def(name).is_some()
}

/// The effective share-group settings of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShareGroupSettings {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
    pub record_lock_duration_ms: i32,
    pub delivery_count_limit: i32,
    pub partition_max_record_locks: i32,
    /// `earliest`, `latest` or `by_duration:<ISO-8601>`, lower-cased.
    pub auto_offset_reset: String,
    /// `read_committed` or `read_uncommitted`.
    pub isolation_level: String,
    pub renew_acknowledge_enable: bool,
}

/// The effective KIP-848 consumer-group settings of one group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumerGroupSettings {
    pub session_timeout_ms: i32,
    pub heartbeat_interval_ms: i32,
}

/// Every group's config overrides, written through to the store. Cheap to read: one read lock.
pub struct GroupConfigs {
    config: Config,
    store: Store,
    overrides: RwLock<HashMap<String, BTreeMap<String, String>>>,
}

impl GroupConfigs {
    /// Loads every group's overrides. A stored set that no longer validates (the broker's ranges
    /// changed) is kept as stored: the lookups clamp each value to the current range, as Kafka
    /// does for a group config outside the broker's bounds.
    pub fn open(store: Store, config: Config) -> Result<GroupConfigs, StoreError> {
        let overrides = store.load_group_configs()?.into_iter().collect();
        Ok(GroupConfigs {
            config,
            store,
            overrides: RwLock::new(overrides),
        })
    }

    /// A group's overrides, as set.
    pub fn overrides(&self, group: &str) -> BTreeMap<String, String> {
        self.overrides
            .read()
            .expect("group configs poisoned")
            .get(group)
            .cloned()
            .unwrap_or_default()
    }

    /// Changes a group's overrides with `change`, validates the result and stores it (durable at
    /// the next flush). With `validate_only`, nothing changes.
    pub fn update(
        &self,
        group: &str,
        validate_only: bool,
        change: impl FnOnce(
            &BTreeMap<String, String>,
        ) -> Result<BTreeMap<String, String>, (i16, String)>,
    ) -> Result<(), UpdateError> {
        let mut all = self.overrides.write().expect("group configs poisoned");
        let current = all.get(group).cloned().unwrap_or_default();
        let next = change(&current).map_err(|(code, m)| UpdateError::Refused(code, m))?;
        validate(&next, &self.config).map_err(UpdateError::Invalid)?;
        if validate_only || next == current {
            return Ok(());
        }
        self.store.put_group_configs(group, &next)?;
        if next.is_empty() {
            all.remove(group);
        } else {
            all.insert(group.to_string(), next);
        }
        Ok(())
    }

    /// Forgets a group's overrides (Kafka keeps them when the group is deleted, so nothing in
    /// Sluice calls this for a deleted group; it is here for tests and tools).
    pub fn clear(&self, group: &str) -> Result<(), StoreError> {
        let mut all = self.overrides.write().expect("group configs poisoned");
        self.store.put_group_configs(group, &BTreeMap::new())?;
        all.remove(group);
        Ok(())
    }

    /// One config's effective value, clamped into its current range.
    fn int(&self, overrides: &BTreeMap<String, String>, name: &str) -> i32 {
        let d = def(name).expect("a listed group config");
        let default: i32 = (d.default)(&self.config).parse().unwrap_or(0);
        let v = overrides
            .get(name)
            .and_then(|v| v.trim().parse::<i32>().ok())
            .unwrap_or(default);
        match d.check {
            Check::Range(bounds) => {
                let (min, max) = bounds(&self.config);
                v.clamp(min, max.max(min))
            }
            _ => v,
        }
    }

    fn string(&self, overrides: &BTreeMap<String, String>, name: &str) -> String {
        overrides
            .get(name)
            .cloned()
            .unwrap_or_else(|| (def(name).expect("a listed group config").default)(&self.config))
    }

    /// The effective share-group settings of `group`: its overrides over the broker's defaults.
    pub fn share(&self, group: &str) -> ShareGroupSettings {
        let o = self.overrides(group);
        ShareGroupSettings {
            session_timeout_ms: self.int(&o, "share.session.timeout.ms"),
            heartbeat_interval_ms: self.int(&o, "share.heartbeat.interval.ms"),
            record_lock_duration_ms: self.int(&o, "share.record.lock.duration.ms"),
            delivery_count_limit: self.int(&o, "share.delivery.count.limit"),
            partition_max_record_locks: self.int(&o, "share.partition.max.record.locks"),
            auto_offset_reset: self
                .string(&o, "share.auto.offset.reset")
                .to_ascii_lowercase(),
            isolation_level: self.string(&o, "share.isolation.level"),
            renew_acknowledge_enable: self
                .string(&o, "share.renew.acknowledge.enable")
                .trim()
                .eq_ignore_ascii_case("true"),
        }
    }

    /// The effective KIP-848 consumer-group settings of `group`.
    pub fn consumer(&self, group: &str) -> ConsumerGroupSettings {
        let o = self.overrides(group);
        ConsumerGroupSettings {
            session_timeout_ms: self.int(&o, "consumer.session.timeout.ms"),
            heartbeat_interval_ms: self.int(&o, "consumer.heartbeat.interval.ms"),
        }
    }

    /// DescribeConfigs' rows for a GROUP resource: every listed config, an override with source
    /// GROUP_CONFIG, otherwise the broker's value (STATIC_BROKER_CONFIG where Sluice's config
    /// differs from Kafka's default, DEFAULT_CONFIG otherwise), as Kafka describes them.
    pub fn describe(&self, group: &str) -> Vec<DescribedConfig> {
        let o = self.overrides(group);
        let kafka = Config::default();
        DEFS.iter()
            .map(|d| {
                let broker_value = (d.default)(&self.config);
                let broker_source = if broker_value == (d.default)(&kafka) {
                    ConfigSource::Default
                } else {
                    ConfigSource::StaticBroker
                };
                let mut synonyms = Vec::new();
                if let Some(v) = o.get(d.name) {
                    synonyms.push((
                        d.name.to_string(),
                        Some(v.clone()),
                        ConfigSource::DynamicGroup,
                    ));
                }
                synonyms.push((
                    d.synonym.to_string(),
                    Some(broker_value.clone()),
                    broker_source,
                ));
                let (value, source) = match o.get(d.name) {
                    Some(v) => (v.clone(), ConfigSource::DynamicGroup),
                    None => (broker_value, broker_source),
                };
                DescribedConfig {
                    name: d.name.to_string(),
                    value: Some(value),
                    source,
                    is_default: source == ConfigSource::Default,
                    read_only: false,
                    sensitive: false,
                    config_type: d.kind,
                    doc: d.doc,
                    synonyms,
                }
            })
            .collect()
    }
}

/// Why [`GroupConfigs::update`] refused.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// The resulting configs are invalid (INVALID_CONFIG).
    #[error("{0}")]
    Invalid(GroupConfigError),
    /// The change itself was refused, with this Kafka error code.
    #[error("{1}")]
    Refused(i16, String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn configs(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn validation_follows_kafka() {
        let c = Config::default();
        let check = |pairs: &[(&str, &str)]| validate(&configs(pairs), &c);
        assert_eq!(check(&[("share.auto.offset.reset", "earliest")]), Ok(()));
        assert_eq!(
            check(&[("share.auto.offset.reset", "by_duration:PT1H")]),
            Ok(())
        );
        assert_eq!(
            check(&[("share.auto.offset.reset", "by_duration:P1DT2H3M4.5S")]),
            Ok(())
        );
        assert!(check(&[("share.auto.offset.reset", "by_duration:-PT1H")]).is_err());
        assert_eq!(by_duration_ms("by_duration:PT1H"), Some(3_600_000));
        assert_eq!(by_duration_ms("BY_DURATION:P1DT2H3M4.5S"), Some(93_784_500));
        assert_eq!(by_duration_ms("by_duration:P2D"), Some(172_800_000));
        assert_eq!(by_duration_ms("by_duration:PT"), None);
        assert_eq!(by_duration_ms("latest"), None);
        assert!(check(&[("share.auto.offset.reset", "by_duration:P")]).is_err());
        assert_eq!(
            check(&[("share.auto.offset.reset", "bogus")]).unwrap_err(),
            "Invalid value bogus for configuration share.auto.offset.reset: Invalid value `bogus` \
             for configuration share.auto.offset.reset. The value must be either 'earliest', \
             'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'."
        );
        assert_eq!(
            check(&[("share.session.timeout.ms", "1000")]).unwrap_err(),
            "share.session.timeout.ms must be in the range 45000 to 60000 inclusive."
        );
        assert_eq!(
            check(&[("share.session.timeout.ms", "abc")]).unwrap_err(),
            "Invalid value abc for configuration share.session.timeout.ms: Not a number of type INT"
        );
        assert_eq!(
            check(&[("foo", "1")]).unwrap_err(),
            "Unknown group config name: foo"
        );
        assert_eq!(
            check(&[("share.isolation.level", "READ_COMMITTED")]).unwrap_err(),
            "Invalid value READ_COMMITTED for configuration share.isolation.level: String must \
             be one of: read_committed, read_uncommitted"
        );
        assert_eq!(
            check(&[("share.renew.acknowledge.enable", "maybe")]).unwrap_err(),
            "Invalid value maybe for configuration share.renew.acknowledge.enable: Expected value \
             to be either true or false"
        );
        assert_eq!(check(&[("share.delivery.count.limit", "10")]), Ok(()));
        assert!(check(&[("share.delivery.count.limit", "11")]).is_err());
        let short = Config {
            group_share_min_session_timeout_ms: 1000,
            group_share_min_heartbeat_interval_ms: 500,
            ..Config::default()
        };
        assert_eq!(
            validate(&configs(&[("share.session.timeout.ms", "4000")]), &short).unwrap_err(),
            "share.session.timeout.ms must be greater than share.heartbeat.interval.ms"
        );
        assert_eq!(
            validate(
                &configs(&[
                    ("share.session.timeout.ms", "4000"),
                    ("share.heartbeat.interval.ms", "1000")
                ]),
                &short
            ),
            Ok(())
        );
    }

    #[test]
    fn lookups_describe_and_updates_persist() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let config = Config {
            group_share_delivery_count_limit: 3,
            ..Config::default()
        };
        let gc = GroupConfigs::open(store.clone(), config.clone()).unwrap();
        assert_eq!(gc.share("g").delivery_count_limit, 3);
        assert_eq!(gc.share("g").session_timeout_ms, 45_000);
        assert_eq!(gc.share("g").auto_offset_reset, "latest");
        let set = |k: &str, v: &str| {
            let (k, v) = (k.to_string(), v.to_string());
            gc.update("g", false, move |cur| {
                let mut next = cur.clone();
                next.insert(k, v);
                Ok(next)
            })
        };
        set("share.auto.offset.reset", "earliest").unwrap();
        set("consumer.heartbeat.interval.ms", "6000").unwrap();
        assert!(matches!(
            set("share.delivery.count.limit", "1"),
            Err(UpdateError::Invalid(_))
        ));
        assert_eq!(gc.share("g").auto_offset_reset, "earliest");
        assert_eq!(gc.consumer("g").heartbeat_interval_ms, 6000);
        assert_eq!(gc.share("other").auto_offset_reset, "latest");

        let rows = gc.describe("g");
        let row = |name: &str| rows.iter().find(|r| r.name == name).unwrap().clone();
        assert_eq!(rows.len(), DEFS.len());
        let reset = row("share.auto.offset.reset");
        assert_eq!(
            (reset.value.as_deref(), reset.source),
            (Some("earliest"), ConfigSource::DynamicGroup)
        );
        let limit = row("share.delivery.count.limit");
        assert_eq!(
            (limit.value.as_deref(), limit.source),
            (Some("3"), ConfigSource::StaticBroker)
        );
        assert_eq!(limit.synonyms[0].0, "group.share.delivery.count.limit");
        assert_eq!(
            row("share.session.timeout.ms").source,
            ConfigSource::Default
        );

        drop(gc);
        let again = GroupConfigs::open(store, config).unwrap();
        assert_eq!(again.share("g").auto_offset_reset, "earliest");
        assert_eq!(again.consumer("g").heartbeat_interval_ms, 6000);
    }
}
