//! Apache Kafka's topic-level configs (as of Kafka 4.x), and what DescribeConfigs needs to report them.
//!
//! [`TOPIC_CONFIGS`] lists every topic config that Kafka 4.x's `LogConfig` defines and its docs list: the
//! name, the default as DescribeConfigs prints it, the type, and the broker-level synonym that supplies the
//! default (Kafka's `ServerTopicConfigSynonyms`). Configs that mean nothing for a single sled-backed broker
//! are still accepted and stored, so that tools which set them keep working. They are marked
//! [`Applies::NotApplicable`], with the reason.
//!
//! # Behaviour taken from Kafka's source
//! - Values are parsed the way `ConfigDef.parseType` parses them. Surrounding whitespace is ignored. Booleans
//!   ignore case. A LIST is split on commas with any whitespace around them, and an empty string is an empty
//!   list. Errors read `Invalid value X for configuration Y: reason`, the text of Kafka's `ConfigException`,
//!   which reaches clients as INVALID_CONFIG.
//! - Enumerations are case-sensitive (`ValidString`, `ValidList`). `cleanup.policy=""` (no policy at all) is
//!   accepted, as it is in Kafka.
//! - Kafka 4.0 removed `message.format.version` and `message.timestamp.difference.max.ms`. Kafka 4.x's
//!   `LogConfig` no longer defines `message.downconversion.enable` either: only a deprecated constant is
//!   left in the client's `TopicConfig`. All three are unknown here.
//! - `segment.bytes` must be at least 1 MiB: the minimum Kafka 4.1 and later enforce. Kafka 4.0 accepted
//!   anything from 14 bytes.
//! - In DescribeConfigs, a topic's synonyms are ordered like `ConfigHelper.createTopicConfigEntry`'s: the
//!   topic override, then the broker synonym from the static config, then the broker synonym's default. As
//!   in Kafka, a default exists only where the broker config has a non-null default. `log.retention.ms`,
//!   `log.roll.ms`, `log.roll.jitter.ms` and `log.flush.interval.ms` have none, so `retention.ms`,
//!   `segment.ms`, `segment.jitter.ms` and `flush.ms` list no default synonym.
//! - IncrementalAlterConfigs APPEND and SUBTRACT follow the KRaft controller
//!   (`ConfigurationControlManager`). They work only on LIST configs. Their starting value is the topic's
//!   override or, without one, the topic config's own default; the broker's setting is not used.
//!
//! # Layout
//! - `table`: [`TOPIC_CONFIGS`], the definitions (type, default, broker synonym, rule) and [`lookup`].
//! - `parse`: value parsing and checks with Kafka's texts ([`validate`], [`validate_all`]) and the
//!   rendering DescribeConfigs uses.
//! - `effective`: [`BrokerDefaults`] and [`EffectiveConfig::resolve`], the typed settings Sluice enforces.
//! - `describe`: [`ConfigSource`], [`DescribedConfig`], [`describe_topic`] and [`describe_broker`].
//! - `list_ops`: [`append_list`], [`subtract_list`] and [`list_op_base`] for IncrementalAlterConfigs.

mod describe;
mod effective;
mod list_ops;
mod parse;
mod table;

pub use describe::{describe_broker, describe_topic, ConfigSource, DescribedConfig};
pub use effective::{BrokerDefaults, EffectiveConfig};
pub use list_ops::{append_list, list_op_base, subtract_list};
pub use parse::{validate, validate_all};
pub use table::{lookup, Applies, ConfigType, TopicConfigDef, TOPIC_CONFIGS};

/// A map of overrides, for the tests.
#[cfg(test)]
fn map(pairs: &[(&str, &str)]) -> std::collections::BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}
