//! What DescribeConfigs reports: each config's value, source and synonyms, for a topic
//! ([`describe_topic`]) and for the broker resource ([`describe_broker`]).

use std::collections::BTreeMap;

use super::effective::BrokerDefaults;
use super::parse::render;
use super::table::{ConfigType, BROKER_SYNONYMS_WITHOUT_DEFAULT, LONG_MAX, TOPIC_CONFIGS};

/// Where a described value comes from. The codes are those of Kafka's `DescribeConfigsResponse.ConfigSource`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// A topic override (TOPIC_CONFIG).
    DynamicTopic,
    DynamicBroker,
    DynamicDefaultBroker,
    /// Set in the broker's config file; for Sluice, a `BrokerDefaults` value that differs from Kafka's default.
    StaticBroker,
    /// Kafka's default.
    Default,
    /// A group's dynamic config (GROUP_CONFIG, KIP-848 / KIP-932 group configs).
    DynamicGroup,
}

impl ConfigSource {
    pub fn code(&self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
            ConfigSource::DynamicGroup => 8,
        }
    }
}

/// One config in a DescribeConfigs answer.
#[derive(Clone, Debug, PartialEq)]
pub struct DescribedConfig {
    pub name: String,
    pub value: Option<String>,
    pub source: ConfigSource,
    /// DescribeConfigs v0's flag: `source == Default`.
    pub is_default: bool,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: ConfigType,
    pub doc: &'static str,
    /// `(name, value, source)`, highest precedence first. Send them only if the request asked for synonyms.
    pub synonyms: Vec<(String, Option<String>, ConfigSource)>,
}

fn described(
    name: &str,
    config_type: ConfigType,
    doc: &'static str,
    read_only: bool,
    fallback: Option<String>,
    synonyms: Vec<(String, Option<String>, ConfigSource)>,
) -> DescribedConfig {
    let (value, source) = match synonyms.first() {
        Some((_, v, s)) => (v.clone(), *s),
        None => (fallback, ConfigSource::Default),
    };
    DescribedConfig {
        name: name.to_string(),
        value,
        source,
        is_default: source == ConfigSource::Default,
        read_only,
        sensitive: false,
        config_type,
        doc,
        synonyms,
    }
}

/// Every topic config with its effective value for a topic, in name order.
///
/// Overrides are `DynamicTopic`. A value Sluice's config sets differently from Kafka's default is
/// `StaticBroker`. The rest are `Default`. Values are rendered as Kafka renders the parsed value: `TRUE`
/// becomes `true`, `compact, delete` becomes `compact,delete`, and `1` for a DOUBLE becomes `1.0`.
pub fn describe_topic(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerDefaults,
) -> Vec<DescribedConfig> {
    TOPIC_CONFIGS
        .iter()
        .map(|def| {
            let mut synonyms = Vec::new();
            if let Some(raw) = overrides.get(def.name) {
                synonyms.push((
                    def.name.to_string(),
                    Some(render(def.name, raw)),
                    ConfigSource::DynamicTopic,
                ));
            }
            let from_broker = broker
                .value_for(def.name)
                .filter(|v| Some(v.as_str()) != def.default);
            if let Some(synonym) = def.broker_synonym {
                if let Some(v) = &from_broker {
                    synonyms.push((
                        synonym.to_string(),
                        Some(v.clone()),
                        ConfigSource::StaticBroker,
                    ));
                }
                if !BROKER_SYNONYMS_WITHOUT_DEFAULT.contains(&synonym) {
                    synonyms.push((
                        synonym.to_string(),
                        def.default.map(str::to_string),
                        ConfigSource::Default,
                    ));
                }
            }
            // With no synonym (retention.ms at its default, remote.*), the value is the topic default.
            described(
                def.name,
                def.config_type,
                def.doc,
                false,
                def.default.map(str::to_string),
                synonyms,
            )
        })
        .collect()
}

/// Kafka's default for a broker config, as DescribeConfigs lists it.
#[derive(Clone, Copy)]
enum KafkaDefault {
    /// Listed as the DEFAULT_CONFIG synonym.
    Value(&'static str),
    /// Null in Kafka, so no DEFAULT_CONFIG synonym, but another config implies this value: a Sluice
    /// value equal to it is not reported as set.
    Implied(&'static str),
    /// Null, with nothing implied.
    Null,
}

/// Where Sluice's value for a broker config comes from.
#[derive(Clone, Copy)]
enum BrokerValue {
    /// Always the same in Sluice: a single broker is the only replica of everything, and so on.
    Fixed(&'static str),
    /// The broker's id. Always `StaticBroker`, since a KRaft broker must be given its id.
    NodeId,
    NumPartitions,
    AutoCreateTopics,
    /// A topic default that Sluice's config file sets, rendered as DescribeConfigs shows it.
    Config(fn(&BrokerDefaults) -> String),
}

/// One broker config that DescribeConfigs reports for the broker resource.
struct BrokerEntry {
    name: &'static str,
    config_type: ConfigType,
    default: KafkaDefault,
    value: BrokerValue,
    doc: &'static str,
}

/// The broker configs clients commonly read, sorted by name.
static BROKER_ENTRIES: &[BrokerEntry] = &[
    BrokerEntry {
        name: "auto.create.topics.enable",
        config_type: ConfigType::Boolean,
        default: KafkaDefault::Value("true"),
        value: BrokerValue::AutoCreateTopics,
        doc: "Whether a request for an unknown topic creates it.",
    },
    BrokerEntry {
        name: "broker.id",
        config_type: ConfigType::Int,
        default: KafkaDefault::Value("-1"),
        value: BrokerValue::NodeId,
        doc: "The broker's id; in KRaft mode, node.id.",
    },
    BrokerEntry {
        name: "compression.type",
        config_type: ConfigType::String,
        default: KafkaDefault::Value("producer"),
        value: BrokerValue::Config(|b| render("compression.type", &b.compression_type)),
        doc: "The default compression.type of topics.",
    },
    BrokerEntry {
        name: "default.replication.factor",
        config_type: ConfigType::Int,
        default: KafkaDefault::Value("1"),
        value: BrokerValue::Fixed("1"),
        doc: "The replication factor of topics created without one.",
    },
    BrokerEntry {
        name: "delete.topic.enable",
        config_type: ConfigType::Boolean,
        default: KafkaDefault::Value("true"),
        value: BrokerValue::Fixed("true"),
        doc: "Whether topics can be deleted.",
    },
    BrokerEntry {
        name: "log.cleaner.delete.retention.ms",
        config_type: ConfigType::Long,
        default: KafkaDefault::Value("86400000"),
        value: BrokerValue::Config(|b| b.delete_retention_ms.to_string()),
        doc: "The default delete.retention.ms of topics.",
    },
    BrokerEntry {
        name: "log.cleaner.min.compaction.lag.ms",
        config_type: ConfigType::Long,
        default: KafkaDefault::Value("0"),
        value: BrokerValue::Config(|b| b.min_compaction_lag_ms.to_string()),
        doc: "The default min.compaction.lag.ms of topics.",
    },
    BrokerEntry {
        name: "log.cleanup.policy",
        config_type: ConfigType::List,
        default: KafkaDefault::Value("delete"),
        value: BrokerValue::Config(|b| render("cleanup.policy", &b.cleanup_policy)),
        doc: "The default cleanup.policy of topics.",
    },
    BrokerEntry {
        name: "log.message.timestamp.after.max.ms",
        config_type: ConfigType::Long,
        default: KafkaDefault::Value("3600000"),
        value: BrokerValue::Fixed("3600000"),
        doc: "The default message.timestamp.after.max.ms of topics.",
    },
    BrokerEntry {
        name: "log.message.timestamp.before.max.ms",
        config_type: ConfigType::Long,
        default: KafkaDefault::Value(LONG_MAX),
        value: BrokerValue::Fixed(LONG_MAX),
        doc: "The default message.timestamp.before.max.ms of topics.",
    },
    BrokerEntry {
        name: "log.message.timestamp.type",
        config_type: ConfigType::String,
        default: KafkaDefault::Value("CreateTime"),
        value: BrokerValue::Config(|b| render("message.timestamp.type", &b.message_timestamp_type)),
        doc: "The default message.timestamp.type of topics.",
    },
    BrokerEntry {
        name: "log.retention.bytes",
        config_type: ConfigType::Long,
        default: KafkaDefault::Value("-1"),
        value: BrokerValue::Config(|b| b.retention_bytes.to_string()),
        doc: "The default retention.bytes of topics.",
    },
    BrokerEntry {
        name: "log.retention.ms",
        config_type: ConfigType::Long,
        // 7 days, from log.retention.hours=168.
        default: KafkaDefault::Implied("604800000"),
        value: BrokerValue::Config(|b| b.retention_ms.to_string()),
        doc: "The default retention.ms of topics.",
    },
    BrokerEntry {
        name: "message.max.bytes",
        config_type: ConfigType::Int,
        default: KafkaDefault::Value("1048588"),
        value: BrokerValue::Config(|b| b.max_message_bytes.to_string()),
        doc: "The default max.message.bytes of topics.",
    },
    BrokerEntry {
        name: "min.insync.replicas",
        config_type: ConfigType::Int,
        default: KafkaDefault::Value("1"),
        value: BrokerValue::Fixed("1"),
        doc: "The default min.insync.replicas of topics.",
    },
    BrokerEntry {
        name: "node.id",
        config_type: ConfigType::Int,
        default: KafkaDefault::Null,
        value: BrokerValue::NodeId,
        doc: "The node's id.",
    },
    BrokerEntry {
        name: "num.partitions",
        config_type: ConfigType::Int,
        default: KafkaDefault::Value("1"),
        value: BrokerValue::NumPartitions,
        doc: "The partition count of topics created without one.",
    },
    BrokerEntry {
        name: "offsets.topic.replication.factor",
        config_type: ConfigType::Short,
        default: KafkaDefault::Value("3"),
        value: BrokerValue::Fixed("1"),
        doc: "The replication factor of the committed-offsets topic.",
    },
    BrokerEntry {
        name: "transaction.state.log.min.isr",
        config_type: ConfigType::Int,
        default: KafkaDefault::Value("2"),
        value: BrokerValue::Fixed("1"),
        doc: "The min.insync.replicas of the transaction state topic.",
    },
    BrokerEntry {
        name: "transaction.state.log.replication.factor",
        config_type: ConfigType::Short,
        default: KafkaDefault::Value("3"),
        value: BrokerValue::Fixed("1"),
        doc: "The replication factor of the transaction state topic.",
    },
    BrokerEntry {
        name: "unclean.leader.election.enable",
        config_type: ConfigType::Boolean,
        default: KafkaDefault::Value("false"),
        value: BrokerValue::Fixed("false"),
        doc: "The default unclean.leader.election.enable of topics.",
    },
];

/// The broker resource: the broker configs clients commonly read (`BROKER_ENTRIES`), with Sluice's
/// values.
///
/// All are read-only, because Sluice takes them from its config file and has no dynamic broker configs.
/// In Kafka, the topic defaults among them (`log.retention.ms` ...) can be altered at runtime. A value
/// that differs from Kafka's default is `StaticBroker`. `node.id` and `broker.id` are always
/// `StaticBroker`, since a KRaft broker must be given its id. Unlike Kafka, which shows
/// `log.retention.ms` as null unless it is set explicitly, Sluice always gives its value in
/// milliseconds.
pub fn describe_broker(
    node_id: i32,
    num_partitions: i32,
    auto_create: bool,
    broker: &BrokerDefaults,
) -> Vec<DescribedConfig> {
    BROKER_ENTRIES
        .iter()
        .map(|entry| {
            let value = match entry.value {
                BrokerValue::Fixed(v) => v.to_string(),
                BrokerValue::NodeId => node_id.to_string(),
                BrokerValue::NumPartitions => num_partitions.to_string(),
                BrokerValue::AutoCreateTopics => auto_create.to_string(),
                BrokerValue::Config(from) => from(broker),
            };
            let is_static = match (entry.value, entry.default) {
                (BrokerValue::NodeId, _) | (_, KafkaDefault::Null) => true,
                (_, KafkaDefault::Value(d) | KafkaDefault::Implied(d)) => d != value,
            };
            let mut synonyms = Vec::new();
            if is_static {
                synonyms.push((
                    entry.name.to_string(),
                    Some(value.clone()),
                    ConfigSource::StaticBroker,
                ));
            }
            if let KafkaDefault::Value(d) = entry.default {
                synonyms.push((
                    entry.name.to_string(),
                    Some(d.to_string()),
                    ConfigSource::Default,
                ));
            }
            described(
                entry.name,
                entry.config_type,
                entry.doc,
                true,
                Some(value),
                synonyms,
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::topic::map;

    #[test]
    fn codes_match_kafka() {
        assert_eq!(ConfigType::Boolean.code(), 1);
        assert_eq!(ConfigType::Short.code(), 4);
        assert_eq!(ConfigType::Long.code(), 5);
        assert_eq!(ConfigType::List.code(), 7);
        assert_eq!(ConfigType::Password.code(), 9);
        assert_eq!(ConfigSource::DynamicTopic.code(), 1);
        assert_eq!(ConfigSource::StaticBroker.code(), 4);
        assert_eq!(ConfigSource::Default.code(), 5);
    }

    #[test]
    fn describe_topic_lists_every_config_with_sources_and_synonyms() {
        let broker = BrokerDefaults::default();
        let overrides = map(&[
            ("cleanup.policy", "compact, delete"),
            ("min.cleanable.dirty.ratio", "1"),
            ("preallocate", "TRUE"),
        ]);
        let rows = describe_topic(&overrides, &broker);
        let names: Vec<&str> = rows.iter().map(|r| r.name.as_str()).collect();
        let all: Vec<&str> = TOPIC_CONFIGS.iter().map(|d| d.name).collect();
        assert_eq!(names, all);
        let row = |n: &str| rows.iter().find(|r| r.name == n).unwrap();

        let cp = row("cleanup.policy");
        assert_eq!(cp.value.as_deref(), Some("compact,delete"));
        assert_eq!(cp.source, ConfigSource::DynamicTopic);
        assert!(!cp.is_default && !cp.read_only && !cp.sensitive);
        assert_eq!(cp.config_type, ConfigType::List);
        assert_eq!(
            cp.synonyms,
            vec![
                (
                    "cleanup.policy".into(),
                    Some("compact,delete".into()),
                    ConfigSource::DynamicTopic
                ),
                (
                    "log.cleanup.policy".into(),
                    Some("delete".into()),
                    ConfigSource::Default
                ),
            ]
        );
        assert_eq!(
            row("min.cleanable.dirty.ratio").value.as_deref(),
            Some("1.0")
        );
        assert_eq!(row("preallocate").value.as_deref(), Some("true"));

        let mmb = row("max.message.bytes");
        assert_eq!(mmb.value.as_deref(), Some("1048588"));
        assert_eq!(mmb.source, ConfigSource::Default);
        assert!(mmb.is_default);
        assert_eq!(
            mmb.synonyms,
            vec![(
                "message.max.bytes".into(),
                Some("1048588".into()),
                ConfigSource::Default
            )]
        );

        // Kafka lists no synonym for retention.ms at its default (log.retention.ms has a null default).
        let rms = row("retention.ms");
        assert_eq!(rms.value.as_deref(), Some("604800000"));
        assert_eq!(rms.source, ConfigSource::Default);
        assert!(rms.synonyms.is_empty());

        // No broker synonym at all.
        let rse = row("remote.storage.enable");
        assert_eq!(
            (rse.value.as_deref(), rse.source),
            (Some("false"), ConfigSource::Default)
        );
        assert!(rse.synonyms.is_empty());
        assert_eq!(
            row("leader.replication.throttled.replicas")
                .value
                .as_deref(),
            Some("")
        );
    }

    #[test]
    fn describe_topic_shows_sluice_broker_settings_as_static() {
        let broker = BrokerDefaults {
            retention_ms: 3_600_000,
            cleanup_policy: "compact".into(),
            ..BrokerDefaults::default()
        };
        let rows = describe_topic(&map(&[("retention.ms", "1000")]), &broker);
        let row = |n: &str| rows.iter().find(|r| r.name == n).unwrap();

        let cp = row("cleanup.policy");
        assert_eq!(
            (cp.value.as_deref(), cp.source),
            (Some("compact"), ConfigSource::StaticBroker)
        );
        assert!(!cp.is_default);
        assert_eq!(
            cp.synonyms,
            vec![
                (
                    "log.cleanup.policy".into(),
                    Some("compact".into()),
                    ConfigSource::StaticBroker
                ),
                (
                    "log.cleanup.policy".into(),
                    Some("delete".into()),
                    ConfigSource::Default
                ),
            ]
        );
        let rms = row("retention.ms");
        assert_eq!(
            (rms.value.as_deref(), rms.source),
            (Some("1000"), ConfigSource::DynamicTopic)
        );
        assert_eq!(
            rms.synonyms,
            vec![
                (
                    "retention.ms".into(),
                    Some("1000".into()),
                    ConfigSource::DynamicTopic
                ),
                (
                    "log.retention.ms".into(),
                    Some("3600000".into()),
                    ConfigSource::StaticBroker
                ),
            ]
        );
    }

    /// Every field of every broker row, one line a row, for pinning the whole answer.
    fn broker_rows_as_text(rows: &[DescribedConfig]) -> String {
        rows.iter()
            .map(|r| {
                format!(
                    "{} = {:?} {:?} default={} ro={} sensitive={} {:?} {:?} {:?}\n",
                    r.name,
                    r.value,
                    r.source,
                    r.is_default,
                    r.read_only,
                    r.sensitive,
                    r.config_type,
                    r.doc,
                    r.synonyms
                )
            })
            .collect()
    }

    /// The whole broker answer, field by field, for Kafka's defaults and for a config that changes every
    /// setting Sluice has: the table's rows, values, sources and synonyms must not drift unnoticed.
    #[test]
    fn describe_broker_answer_is_pinned() {
        let kafka = describe_broker(1, 1, true, &BrokerDefaults::default());
        let sluice = describe_broker(
            3,
            6,
            false,
            &BrokerDefaults {
                retention_ms: 3_600_000,
                retention_bytes: 1 << 30,
                cleanup_policy: "compact, delete".into(),
                max_message_bytes: 2_000_000,
                message_timestamp_type: "LogAppendTime".into(),
                delete_retention_ms: 1000,
                min_compaction_lag_ms: 5,
                compression_type: "zstd".into(),
            },
        );
        let got = format!(
            "{}--\n{}",
            broker_rows_as_text(&kafka),
            broker_rows_as_text(&sluice)
        );
        assert_eq!(got, include_str!("testdata/describe_broker.txt"));
    }

    #[test]
    fn describe_broker_reports_sluice_values() {
        let broker = BrokerDefaults {
            max_message_bytes: 2_000_000,
            ..BrokerDefaults::default()
        };
        let rows = describe_broker(3, 6, false, &broker);
        let row = |n: &str| {
            rows.iter()
                .find(|r| r.name == n)
                .unwrap_or_else(|| panic!("{n}"))
        };
        assert!(rows.windows(2).all(|w| w[0].name < w[1].name));
        assert!(rows
            .iter()
            .all(|r| r.read_only && !r.sensitive && r.value.is_some()));

        assert_eq!(
            (row("node.id").value.as_deref(), row("node.id").source),
            (Some("3"), ConfigSource::StaticBroker)
        );
        assert_eq!(row("broker.id").value.as_deref(), Some("3"));
        assert_eq!(row("num.partitions").value.as_deref(), Some("6"));
        assert_eq!(row("num.partitions").source, ConfigSource::StaticBroker);
        assert_eq!(
            row("auto.create.topics.enable").value.as_deref(),
            Some("false")
        );
        let mmb = row("message.max.bytes");
        assert_eq!(
            (mmb.value.as_deref(), mmb.source),
            (Some("2000000"), ConfigSource::StaticBroker)
        );
        assert_eq!(
            mmb.synonyms,
            vec![
                (
                    "message.max.bytes".into(),
                    Some("2000000".into()),
                    ConfigSource::StaticBroker
                ),
                (
                    "message.max.bytes".into(),
                    Some("1048588".into()),
                    ConfigSource::Default
                ),
            ]
        );
        let rms = row("log.retention.ms");
        assert_eq!(
            (rms.value.as_deref(), rms.source),
            (Some("604800000"), ConfigSource::Default)
        );
        assert!(rms.is_default && rms.synonyms.is_empty());
        let drf = row("default.replication.factor");
        assert_eq!(
            (drf.value.as_deref(), drf.source),
            (Some("1"), ConfigSource::Default)
        );
        let otrf = row("offsets.topic.replication.factor");
        assert_eq!(
            (otrf.value.as_deref(), otrf.source),
            (Some("1"), ConfigSource::StaticBroker)
        );
        assert_eq!(otrf.config_type, ConfigType::Short);
        assert_eq!(row("min.insync.replicas").value.as_deref(), Some("1"));
        assert_eq!(row("log.cleanup.policy").value.as_deref(), Some("delete"));
    }
}
