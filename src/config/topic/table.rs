//! The table of Kafka 4.4's topic configs (the compat tests check it against the reference broker): each config's type, default, broker synonym, validation
//! rule and whether Sluice acts on it, with [`lookup`] by name.

/// A config's type, as DescribeConfigs (v3+) reports it in `config_type`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ConfigType {
    Boolean,
    String,
    /// No topic config is a SHORT; some broker configs are (`offsets.topic.replication.factor`).
    Short,
    Int,
    Long,
    Double,
    List,
    Class,
    Password,
}

impl ConfigType {
    /// Kafka's `DescribeConfigsResponse.ConfigType` id.
    pub fn code(&self) -> i8 {
        match self {
            ConfigType::Boolean => 1,
            ConfigType::String => 2,
            ConfigType::Int => 3,
            ConfigType::Short => 4,
            ConfigType::Long => 5,
            ConfigType::Double => 6,
            ConfigType::List => 7,
            ConfigType::Class => 8,
            ConfigType::Password => 9,
        }
    }

    /// The type's name as Kafka's parse errors print it ("Not a number of type LONG").
    pub fn name(&self) -> &'static str {
        match self {
            ConfigType::Boolean => "BOOLEAN",
            ConfigType::String => "STRING",
            ConfigType::Short => "SHORT",
            ConfigType::Int => "INT",
            ConfigType::Long => "LONG",
            ConfigType::Double => "DOUBLE",
            ConfigType::List => "LIST",
            ConfigType::Class => "CLASS",
            ConfigType::Password => "PASSWORD",
        }
    }
}

/// Whether Sluice acts on a topic config.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Applies {
    Yes,
    /// Accepted, validated and stored, but it has no effect in Sluice, for the reason given.
    NotApplicable(&'static str),
}

/// How a value is checked after it has been parsed as its type.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Rule {
    Any,
    AtLeast(i64),
    Between(i64, i64),
    /// gzip levels: 1 to 9, or -1 for zlib's default.
    GzipLevel,
    DoubleBetween(f64, f64),
    OneOf(&'static [&'static str]),
    ListOf(&'static [&'static str]),
    /// `[partitionId]:[brokerId],...` or `*`.
    ThrottledReplicas,
}

/// One topic-level config.
#[derive(Debug)]
pub struct TopicConfigDef {
    pub name: &'static str,
    /// The default as DescribeConfigs prints it (`None` would be null; no topic config has a null default).
    pub default: Option<&'static str>,
    pub config_type: ConfigType,
    /// One short sentence.
    pub doc: &'static str,
    /// The broker config that supplies this config's default, e.g. `log.retention.ms` for `retention.ms`.
    pub broker_synonym: Option<&'static str>,
    pub applies: Applies,
    pub(super) rule: Rule,
}

pub(super) const LONG_MAX: &str = "9223372036854775807";
pub(super) const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
/// In the order Kafka's `BrokerCompressionType` lists them, which its error message uses.
pub(super) const COMPRESSION_TYPES: &[&str] =
    &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
pub(super) const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

const NA_SEGMENTS: &str = "sled stores a partition as one ordered tree; there are no segment files";
const NA_INDEX: &str = "sled keys every record batch by offset; there is no sparse offset index";
const NA_FLUSH: &str =
    "durability follows the producer's acks, with flushes shared across requests (group commit)";
const NA_REPLICATION: &str =
    "Sluice is a single broker, which is the only replica of every partition";
const NA_REMOTE: &str = "Sluice has no tiered (remote) storage";
const NA_SHARE_GROUPS: &str = "Sluice has no share groups yet (#16)";
const NA_LEVEL: &str =
    "Sluice keeps batches compressed as the producer sent them and never recompresses";

/// Every topic config Kafka 4.x defines, sorted by name.
pub static TOPIC_CONFIGS: &[TopicConfigDef] = &[
    TopicConfigDef {
        name: "cleanup.policy",
        default: Some("delete"),
        config_type: ConfigType::List,
        doc: "Which retention policies apply to the log: delete old data, compact by key, both, or neither.",
        broker_synonym: Some("log.cleanup.policy"),
        applies: Applies::Yes,
        rule: Rule::ListOf(CLEANUP_POLICIES),
    },
    TopicConfigDef {
        name: "compression.gzip.level",
        default: Some("-1"),
        config_type: ConfigType::Int,
        doc: "The gzip level used when the broker compresses this topic's data with gzip.",
        broker_synonym: Some("compression.gzip.level"),
        applies: Applies::NotApplicable(NA_LEVEL),
        rule: Rule::GzipLevel,
    },
    TopicConfigDef {
        name: "compression.lz4.level",
        default: Some("9"),
        config_type: ConfigType::Int,
        doc: "The lz4 level used when the broker compresses this topic's data with lz4.",
        broker_synonym: Some("compression.lz4.level"),
        applies: Applies::NotApplicable(NA_LEVEL),
        rule: Rule::Between(1, 17),
    },
    TopicConfigDef {
        name: "compression.type",
        default: Some("producer"),
        config_type: ConfigType::String,
        doc: "The codec the topic's data is stored with; `producer` keeps whatever the producer used.",
        broker_synonym: Some("compression.type"),
        applies: Applies::Yes,
        rule: Rule::OneOf(COMPRESSION_TYPES),
    },
    TopicConfigDef {
        name: "compression.zstd.level",
        default: Some("3"),
        config_type: ConfigType::Int,
        doc: "The zstd level used when the broker compresses this topic's data with zstd.",
        broker_synonym: Some("compression.zstd.level"),
        applies: Applies::NotApplicable(NA_LEVEL),
        rule: Rule::Between(-131072, 22),
    },
    TopicConfigDef {
        name: "delete.retention.ms",
        default: Some("86400000"),
        config_type: ConfigType::Long,
        doc: "How long a compacted topic keeps tombstones (records with a null value) before removing them.",
        broker_synonym: Some("log.cleaner.delete.retention.ms"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "errors.deadletterqueue.group.enable",
        default: Some("false"),
        config_type: ConfigType::Boolean,
        doc: "Whether share groups may use this topic as a dead-letter queue for undeliverable records.",
        broker_synonym: None,
        applies: Applies::NotApplicable(NA_SHARE_GROUPS),
        rule: Rule::Any,
    },
    TopicConfigDef {
        name: "file.delete.delay.ms",
        default: Some("60000"),
        config_type: ConfigType::Long,
        doc: "How long a deleted log file lingers on disk before it is removed.",
        broker_synonym: Some("log.segment.delete.delay.ms"),
        applies: Applies::NotApplicable(NA_SEGMENTS),
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "flush.messages",
        default: Some(LONG_MAX),
        config_type: ConfigType::Long,
        doc: "Force an fsync after this many messages have been appended.",
        broker_synonym: Some("log.flush.interval.messages"),
        applies: Applies::NotApplicable(NA_FLUSH),
        rule: Rule::AtLeast(1),
    },
    TopicConfigDef {
        name: "flush.ms",
        default: Some(LONG_MAX),
        config_type: ConfigType::Long,
        doc: "Force an fsync once unflushed data is this many milliseconds old.",
        broker_synonym: Some("log.flush.interval.ms"),
        applies: Applies::NotApplicable(NA_FLUSH),
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "follower.replication.throttled.replicas",
        default: Some(""),
        config_type: ConfigType::List,
        doc: "Replicas (partition:broker pairs, or `*`) whose follower-side replication is throttled.",
        broker_synonym: None,
        applies: Applies::NotApplicable(NA_REPLICATION),
        rule: Rule::ThrottledReplicas,
    },
    TopicConfigDef {
        name: "index.interval.bytes",
        default: Some("4096"),
        config_type: ConfigType::Int,
        doc: "How many bytes of log lie between two entries of the offset index.",
        broker_synonym: Some("log.index.interval.bytes"),
        applies: Applies::NotApplicable(NA_INDEX),
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "leader.replication.throttled.replicas",
        default: Some(""),
        config_type: ConfigType::List,
        doc: "Replicas (partition:broker pairs, or `*`) whose leader-side replication is throttled.",
        broker_synonym: None,
        applies: Applies::NotApplicable(NA_REPLICATION),
        rule: Rule::ThrottledReplicas,
    },
    TopicConfigDef {
        name: "local.retention.bytes",
        default: Some("-2"),
        config_type: ConfigType::Long,
        doc: "Bytes per partition kept on local disk when tiered storage holds the rest; -2 means retention.bytes.",
        broker_synonym: Some("log.local.retention.bytes"),
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::AtLeast(-2),
    },
    TopicConfigDef {
        name: "local.retention.ms",
        default: Some("-2"),
        config_type: ConfigType::Long,
        doc: "How long data stays on local disk when tiered storage holds the rest; -2 means retention.ms.",
        broker_synonym: Some("log.local.retention.ms"),
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::AtLeast(-2),
    },
    TopicConfigDef {
        name: "max.compaction.lag.ms",
        default: Some(LONG_MAX),
        config_type: ConfigType::Long,
        doc: "The longest a record may wait before it becomes eligible for compaction.",
        broker_synonym: Some("log.cleaner.max.compaction.lag.ms"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(1),
    },
    TopicConfigDef {
        name: "max.decompressed.message.bytes",
        default: Some("2147483639"),
        config_type: ConfigType::Int,
        doc: "The largest decompressed size of a single record the broker accepts.",
        broker_synonym: Some("max.decompressed.message.bytes"),
        applies: Applies::Yes,
        rule: Rule::Between(1, 2147483639),
    },
    TopicConfigDef {
        name: "max.message.bytes",
        default: Some("1048588"),
        config_type: ConfigType::Int,
        doc: "The largest record batch, after compression, that the topic accepts.",
        broker_synonym: Some("message.max.bytes"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "message.timestamp.after.max.ms",
        default: Some("3600000"),
        config_type: ConfigType::Long,
        doc: "How far into the future a CreateTime timestamp may be, relative to the broker's clock.",
        broker_synonym: Some("log.message.timestamp.after.max.ms"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "message.timestamp.before.max.ms",
        default: Some(LONG_MAX),
        config_type: ConfigType::Long,
        doc: "How far into the past a CreateTime timestamp may be, relative to the broker's clock.",
        broker_synonym: Some("log.message.timestamp.before.max.ms"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "message.timestamp.type",
        default: Some("CreateTime"),
        config_type: ConfigType::String,
        doc: "Whether records keep the producer's timestamp (CreateTime) or get the broker's (LogAppendTime).",
        broker_synonym: Some("log.message.timestamp.type"),
        applies: Applies::Yes,
        rule: Rule::OneOf(TIMESTAMP_TYPES),
    },
    TopicConfigDef {
        name: "min.cleanable.dirty.ratio",
        default: Some("0.5"),
        config_type: ConfigType::Double,
        doc: "The share of uncompacted log that makes a compacted topic due for cleaning.",
        broker_synonym: Some("log.cleaner.min.cleanable.ratio"),
        applies: Applies::NotApplicable(
            "Sluice does not read it: whether a record can be compacted depends only on the compaction lags",
        ),
        rule: Rule::DoubleBetween(0.0, 1.0),
    },
    TopicConfigDef {
        name: "min.compaction.lag.ms",
        default: Some("0"),
        config_type: ConfigType::Long,
        doc: "The shortest time a record stays uncompacted.",
        broker_synonym: Some("log.cleaner.min.compaction.lag.ms"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "min.insync.replicas",
        default: Some("1"),
        config_type: ConfigType::Int,
        doc: "How many in-sync replicas must have a write before an acks=all produce succeeds.",
        broker_synonym: Some("min.insync.replicas"),
        applies: Applies::NotApplicable(NA_REPLICATION),
        rule: Rule::AtLeast(1),
    },
    TopicConfigDef {
        name: "preallocate",
        default: Some("false"),
        config_type: ConfigType::Boolean,
        doc: "Whether a new log segment's file is allocated at full size up front.",
        broker_synonym: Some("log.preallocate"),
        applies: Applies::NotApplicable(NA_SEGMENTS),
        rule: Rule::Any,
    },
    TopicConfigDef {
        name: "remote.copy.lag.bytes",
        default: Some("-1"),
        config_type: ConfigType::Long,
        doc: "How many bytes of newer data make a segment eligible for copying to tiered storage.",
        broker_synonym: Some("log.remote.copy.lag.bytes"),
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::AtLeast(-1),
    },
    TopicConfigDef {
        name: "remote.copy.lag.ms",
        default: Some("0"),
        config_type: ConfigType::Long,
        doc: "How old a segment must be to be eligible for copying to tiered storage.",
        broker_synonym: Some("log.remote.copy.lag.ms"),
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::AtLeast(-1),
    },
    TopicConfigDef {
        name: "remote.log.copy.disable",
        default: Some("false"),
        config_type: ConfigType::Boolean,
        doc: "Stops copying to tiered storage; what is there becomes read-only.",
        broker_synonym: None,
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::Any,
    },
    TopicConfigDef {
        name: "remote.log.delete.on.disable",
        default: Some("false"),
        config_type: ConfigType::Boolean,
        doc: "Whether turning tiered storage off deletes the topic's remote data.",
        broker_synonym: None,
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::Any,
    },
    TopicConfigDef {
        name: "remote.storage.enable",
        default: Some("false"),
        config_type: ConfigType::Boolean,
        doc: "Turns on tiered storage for the topic.",
        broker_synonym: None,
        applies: Applies::NotApplicable(NA_REMOTE),
        rule: Rule::Any,
    },
    TopicConfigDef {
        name: "retention.bytes",
        default: Some("-1"),
        config_type: ConfigType::Long,
        doc: "Under the delete policy, the size a partition may reach before its oldest data goes; -1 means no limit.",
        broker_synonym: Some("log.retention.bytes"),
        applies: Applies::Yes,
        rule: Rule::Any,
    },
    TopicConfigDef {
        name: "retention.ms",
        default: Some("604800000"),
        config_type: ConfigType::Long,
        doc: "Under the delete policy, how long data is kept; -1 means forever.",
        broker_synonym: Some("log.retention.ms"),
        applies: Applies::Yes,
        rule: Rule::AtLeast(-1),
    },
    TopicConfigDef {
        name: "segment.bytes",
        default: Some("1073741824"),
        config_type: ConfigType::Int,
        doc: "The size at which a log segment file is closed and a new one started.",
        broker_synonym: Some("log.segment.bytes"),
        applies: Applies::NotApplicable(NA_SEGMENTS),
        rule: Rule::AtLeast(1024 * 1024),
    },
    TopicConfigDef {
        name: "segment.index.bytes",
        default: Some("10485760"),
        config_type: ConfigType::Int,
        doc: "The size of each segment's offset index file.",
        broker_synonym: Some("log.index.size.max.bytes"),
        applies: Applies::NotApplicable(NA_INDEX),
        rule: Rule::AtLeast(4),
    },
    TopicConfigDef {
        name: "segment.jitter.ms",
        default: Some("0"),
        config_type: ConfigType::Long,
        doc: "A random amount taken off segment.ms so that segments do not all roll at once.",
        broker_synonym: Some("log.roll.jitter.ms"),
        applies: Applies::NotApplicable(NA_SEGMENTS),
        rule: Rule::AtLeast(0),
    },
    TopicConfigDef {
        name: "segment.ms",
        default: Some("604800000"),
        config_type: ConfigType::Long,
        doc: "The age at which a log segment is closed even if it is not full.",
        broker_synonym: Some("log.roll.ms"),
        applies: Applies::NotApplicable(NA_SEGMENTS),
        rule: Rule::AtLeast(1),
    },
    TopicConfigDef {
        name: "unclean.leader.election.enable",
        default: Some("false"),
        config_type: ConfigType::Boolean,
        doc: "Whether an out-of-sync replica may become leader as a last resort, at the risk of losing data.",
        broker_synonym: Some("unclean.leader.election.enable"),
        applies: Applies::NotApplicable(NA_REPLICATION),
        rule: Rule::Any,
    },
];

/// Broker configs that Kafka defines with a null default: DescribeConfigs lists no DEFAULT_CONFIG synonym
/// for them (Kafka falls back to `log.retention.hours`, `log.roll.hours`, ... instead, and
/// `ConfigHelper.configSynonyms` drops those when describing a topic).
pub(super) const BROKER_SYNONYMS_WITHOUT_DEFAULT: &[&str] = &[
    "log.retention.ms",
    "log.roll.ms",
    "log.roll.jitter.ms",
    "log.flush.interval.ms",
];

/// The definition of a topic config, by its exact (case-sensitive) name.
pub fn lookup(name: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS
        .binary_search_by(|d| d.name.cmp(name))
        .ok()
        .map(|i| &TOPIC_CONFIGS[i])
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::topic::validate;

    #[test]
    fn table_is_sorted_unique_and_complete() {
        assert!(TOPIC_CONFIGS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(
            TOPIC_CONFIGS.len(),
            37,
            "Kafka 4.4 documents 37 topic configs"
        );
        for def in TOPIC_CONFIGS {
            assert!(std::ptr::eq(lookup(def.name).unwrap(), def));
            assert!(!def.doc.is_empty());
        }
        for removed in [
            "message.format.version",
            "message.downconversion.enable",
            "message.timestamp.difference.max.ms",
        ] {
            assert_eq!(
                validate(removed, "x").unwrap_err(),
                format!("Unknown topic config name: {removed}")
            );
        }
        assert!(lookup("Retention.ms").is_none());
    }
}
