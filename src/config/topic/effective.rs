//! A topic's effective settings: its overrides resolved over the broker-level defaults that Sluice's
//! config file sets ([`BrokerDefaults`]), typed for the code that enforces them.

use std::collections::BTreeMap;

use super::parse::{parse, render, split_list, Value};
use super::table::{
    lookup, ConfigType, Rule, CLEANUP_POLICIES, COMPRESSION_TYPES, TIMESTAMP_TYPES,
};

/// The broker-level defaults that Sluice's own config file can set: the ones [`EffectiveConfig`] uses.
/// Each stands for the Kafka broker config named in its comment.
#[derive(Clone, Debug, PartialEq)]
pub struct BrokerDefaults {
    /// `log.retention.ms` (Kafka's default comes from `log.retention.hours=168`).
    pub retention_ms: i64,
    /// `log.retention.bytes`.
    pub retention_bytes: i64,
    /// `log.cleanup.policy`: a comma-separated list of `compact` and `delete`.
    pub cleanup_policy: String,
    /// `message.max.bytes`.
    pub max_message_bytes: i32,
    /// `log.message.timestamp.type`.
    pub message_timestamp_type: String,
    /// `log.cleaner.delete.retention.ms`.
    pub delete_retention_ms: i64,
    /// `log.cleaner.min.compaction.lag.ms`.
    pub min_compaction_lag_ms: i64,
    /// `compression.type`.
    pub compression_type: String,
}

impl Default for BrokerDefaults {
    /// Kafka 4.x's defaults.
    fn default() -> Self {
        BrokerDefaults {
            retention_ms: 7 * 24 * 60 * 60 * 1000,
            retention_bytes: -1,
            cleanup_policy: "delete".to_string(),
            max_message_bytes: 1024 * 1024 + 12,
            message_timestamp_type: "CreateTime".to_string(),
            delete_retention_ms: 24 * 60 * 60 * 1000,
            min_compaction_lag_ms: 0,
            compression_type: "producer".to_string(),
        }
    }
}

impl BrokerDefaults {
    /// Checks each setting as Kafka checks the broker config it stands for. The message names the
    /// broker config key.
    pub fn validate(&self) -> Result<(), String> {
        if self.retention_ms < 1 && self.retention_ms != -1 {
            return Err(
                "log.retention.ms must be unlimited (-1) or, greater than or equal to 1"
                    .to_string(),
            );
        }
        let checks: [(&str, ConfigType, Rule, String); 6] = [
            (
                "log.cleanup.policy",
                ConfigType::List,
                Rule::ListOf(CLEANUP_POLICIES),
                self.cleanup_policy.clone(),
            ),
            (
                "message.max.bytes",
                ConfigType::Int,
                Rule::AtLeast(0),
                self.max_message_bytes.to_string(),
            ),
            (
                "log.message.timestamp.type",
                ConfigType::String,
                Rule::OneOf(TIMESTAMP_TYPES),
                self.message_timestamp_type.clone(),
            ),
            (
                "log.cleaner.delete.retention.ms",
                ConfigType::Long,
                Rule::AtLeast(0),
                self.delete_retention_ms.to_string(),
            ),
            (
                "log.cleaner.min.compaction.lag.ms",
                ConfigType::Long,
                Rule::AtLeast(0),
                self.min_compaction_lag_ms.to_string(),
            ),
            (
                "compression.type",
                ConfigType::String,
                Rule::OneOf(COMPRESSION_TYPES),
                self.compression_type.clone(),
            ),
        ];
        for (name, config_type, rule, value) in &checks {
            parse(name, *config_type, *rule, value)?;
        }
        Ok(())
    }

    /// The value Sluice's config gives the broker synonym of topic config `topic_config`, rendered as
    /// DescribeConfigs shows it, if Sluice's config covers that synonym.
    pub(super) fn value_for(&self, topic_config: &str) -> Option<String> {
        let raw = match topic_config {
            "retention.ms" => self.retention_ms.to_string(),
            "retention.bytes" => self.retention_bytes.to_string(),
            "cleanup.policy" => self.cleanup_policy.clone(),
            "max.message.bytes" => self.max_message_bytes.to_string(),
            "message.timestamp.type" => self.message_timestamp_type.clone(),
            "delete.retention.ms" => self.delete_retention_ms.to_string(),
            "min.compaction.lag.ms" => self.min_compaction_lag_ms.to_string(),
            "compression.type" => self.compression_type.clone(),
            _ => return None,
        };
        Some(render(topic_config, &raw))
    }
}

/// A topic's effective settings: its overrides on top of the broker's defaults, typed, for the configs
/// Sluice enforces.
#[derive(Clone, Debug, PartialEq)]
pub struct EffectiveConfig {
    /// -1 means forever.
    pub retention_ms: i64,
    /// -1 means unlimited.
    pub retention_bytes: i64,
    pub cleanup_compact: bool,
    pub cleanup_delete: bool,
    pub delete_retention_ms: i64,
    pub min_compaction_lag_ms: i64,
    pub max_compaction_lag_ms: i64,
    pub max_message_bytes: i32,
    /// `message.timestamp.type=LogAppendTime`.
    pub log_append_time: bool,
    pub message_timestamp_before_max_ms: i64,
    pub message_timestamp_after_max_ms: i64,
    /// One of `uncompressed`, `zstd`, `lz4`, `snappy`, `gzip`, `producer`.
    pub compression_type: String,
    /// The largest decompressed record of a compressed batch (`max.decompressed.message.bytes`).
    pub max_decompressed_message_bytes: i64,
}

impl EffectiveConfig {
    /// Each setting comes from the topic's override if it has one, else from `broker`. Settings
    /// `BrokerDefaults` does not carry fall back to Kafka's default. Overrides are expected to have passed
    /// [`validate`](super::validate); one that does not parse is ignored, as if absent.
    pub fn resolve(
        overrides: &BTreeMap<String, String>,
        broker: &BrokerDefaults,
    ) -> EffectiveConfig {
        let parsed = |name: &str| -> Option<Value> {
            let def = lookup(name)?;
            parse(def.name, def.config_type, Rule::Any, overrides.get(name)?).ok()
        };
        let long = |name: &str, fallback: i64| match parsed(name) {
            Some(Value::Int(n)) => n,
            _ => fallback,
        };
        let string = |name: &str, fallback: &str| match parsed(name) {
            Some(Value::Str(s)) => s,
            _ => fallback.trim().to_string(),
        };
        let policies: Vec<String> = match parsed("cleanup.policy") {
            Some(Value::List(items)) => items,
            _ => split_list(broker.cleanup_policy.trim()),
        };
        // Kafka matches the policies without regard to case once they have been validated.
        let has_policy = |p: &str| policies.iter().any(|i| i.eq_ignore_ascii_case(p));
        EffectiveConfig {
            retention_ms: long("retention.ms", broker.retention_ms),
            retention_bytes: long("retention.bytes", broker.retention_bytes),
            cleanup_compact: has_policy("compact"),
            cleanup_delete: has_policy("delete"),
            delete_retention_ms: long("delete.retention.ms", broker.delete_retention_ms),
            min_compaction_lag_ms: long("min.compaction.lag.ms", broker.min_compaction_lag_ms),
            max_compaction_lag_ms: long("max.compaction.lag.ms", i64::MAX),
            max_message_bytes: i32::try_from(long(
                "max.message.bytes",
                broker.max_message_bytes.into(),
            ))
            .unwrap_or(broker.max_message_bytes),
            log_append_time: string("message.timestamp.type", &broker.message_timestamp_type)
                == "LogAppendTime",
            message_timestamp_before_max_ms: long("message.timestamp.before.max.ms", i64::MAX),
            message_timestamp_after_max_ms: long("message.timestamp.after.max.ms", 3_600_000),
            compression_type: string("compression.type", &broker.compression_type),
            max_decompressed_message_bytes: long("max.decompressed.message.bytes", 2_147_483_639),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::topic::{map, TOPIC_CONFIGS};

    #[test]
    fn broker_defaults_are_kafkas_and_validate() {
        let b = BrokerDefaults::default();
        assert_eq!(b.retention_ms, 604_800_000);
        assert_eq!(b.max_message_bytes, 1_048_588);
        assert_eq!(b.delete_retention_ms, 86_400_000);
        b.validate().unwrap();
        for def in TOPIC_CONFIGS {
            if let Some(v) = b.value_for(def.name) {
                assert_eq!(Some(v.as_str()), def.default, "{}", def.name);
            }
        }
        let bad = BrokerDefaults {
            retention_ms: 0,
            ..BrokerDefaults::default()
        };
        assert!(bad.validate().unwrap_err().contains("log.retention.ms"));
        let bad = BrokerDefaults {
            cleanup_policy: "forever".into(),
            ..BrokerDefaults::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("configuration log.cleanup.policy"));
        let bad = BrokerDefaults {
            compression_type: "brotli".into(),
            ..BrokerDefaults::default()
        };
        assert!(bad
            .validate()
            .unwrap_err()
            .contains("configuration compression.type"));
    }

    #[test]
    fn resolve_prefers_overrides_over_broker_defaults() {
        let broker = BrokerDefaults {
            retention_ms: 1000,
            retention_bytes: 5000,
            cleanup_policy: "compact".into(),
            max_message_bytes: 2000,
            message_timestamp_type: "LogAppendTime".into(),
            delete_retention_ms: 10,
            min_compaction_lag_ms: 20,
            compression_type: "lz4".into(),
        };
        let plain = EffectiveConfig::resolve(&BTreeMap::new(), &broker);
        assert_eq!(plain.retention_ms, 1000);
        assert_eq!(plain.retention_bytes, 5000);
        assert!(plain.cleanup_compact && !plain.cleanup_delete);
        assert_eq!(plain.max_message_bytes, 2000);
        assert!(plain.log_append_time);
        assert_eq!(plain.delete_retention_ms, 10);
        assert_eq!(plain.min_compaction_lag_ms, 20);
        assert_eq!(plain.max_compaction_lag_ms, i64::MAX);
        assert_eq!(plain.message_timestamp_before_max_ms, i64::MAX);
        assert_eq!(plain.message_timestamp_after_max_ms, 3_600_000);
        assert_eq!(plain.compression_type, "lz4");

        let overrides = map(&[
            ("retention.ms", "-1"),
            ("retention.bytes", " 42 "),
            ("cleanup.policy", "delete, compact"),
            ("max.message.bytes", "100"),
            ("message.timestamp.type", "CreateTime"),
            ("delete.retention.ms", "11"),
            ("min.compaction.lag.ms", "21"),
            ("max.compaction.lag.ms", "99"),
            ("message.timestamp.before.max.ms", "7"),
            ("message.timestamp.after.max.ms", "8"),
            ("compression.type", "zstd"),
            ("max.decompressed.message.bytes", "4096"),
        ]);
        let eff = EffectiveConfig::resolve(&overrides, &broker);
        assert_eq!(
            eff,
            EffectiveConfig {
                retention_ms: -1,
                retention_bytes: 42,
                cleanup_compact: true,
                cleanup_delete: true,
                delete_retention_ms: 11,
                min_compaction_lag_ms: 21,
                max_compaction_lag_ms: 99,
                max_message_bytes: 100,
                log_append_time: false,
                message_timestamp_before_max_ms: 7,
                message_timestamp_after_max_ms: 8,
                compression_type: "zstd".into(),
                max_decompressed_message_bytes: 4096,
            }
        );

        let none = EffectiveConfig::resolve(&map(&[("cleanup.policy", "")]), &broker);
        assert!(
            !none.cleanup_compact && !none.cleanup_delete,
            "an empty policy list means keep forever"
        );
        let garbage = EffectiveConfig::resolve(&map(&[("retention.ms", "soon")]), &broker);
        assert_eq!(
            garbage.retention_ms, 1000,
            "an unparsable override is ignored"
        );
    }
}
