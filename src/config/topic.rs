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

use std::collections::BTreeMap;

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
enum Rule {
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
    rule: Rule,
}

const LONG_MAX: &str = "9223372036854775807";
const CLEANUP_POLICIES: &[&str] = &["compact", "delete"];
/// In the order Kafka's `BrokerCompressionType` lists them, which its error message uses.
const COMPRESSION_TYPES: &[&str] = &["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"];
const TIMESTAMP_TYPES: &[&str] = &["CreateTime", "LogAppendTime"];

const NA_SEGMENTS: &str = "sled stores a partition as one ordered tree; there are no segment files";
const NA_INDEX: &str = "sled keys every record batch by offset; there is no sparse offset index";
const NA_FLUSH: &str =
    "durability follows the producer's acks, with flushes shared across requests (group commit)";
const NA_REPLICATION: &str =
    "Sluice is a single broker, which is the only replica of every partition";
const NA_REMOTE: &str = "Sluice has no tiered (remote) storage";
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
const BROKER_SYNONYMS_WITHOUT_DEFAULT: &[&str] = &[
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

/// Validates one value as Kafka would: type, then range or enumeration.
///
/// `Err` carries Kafka's text, e.g. `Invalid value -2 for configuration retention.ms: Value must be at
/// least -1`, or `Unknown topic config name: X` for a name Kafka 4.x does not know. For the checks that
/// look at more than one config, see [`validate_all`].
pub fn validate(name: &str, value: &str) -> Result<(), String> {
    let def = lookup(name).ok_or_else(|| format!("Unknown topic config name: {name}"))?;
    parse(def.name, def.config_type, def.rule, value).map(|_| ())
}

/// Validates a topic's whole set of overrides as Kafka's controller does before creating or altering a
/// topic. Each value is checked by [`validate`]. Then come the checks that span several configs:
/// `min.compaction.lag.ms` may not exceed `max.compaction.lag.ms` (the broker's defaults fill in either one
/// that is not overridden), and `remote.storage.enable=true` is refused, as Kafka refuses it when tiered
/// storage is off in the broker.
pub fn validate_all(
    overrides: &BTreeMap<String, String>,
    broker: &BrokerDefaults,
) -> Result<(), String> {
    for (name, value) in overrides {
        validate(name, value)?;
    }
    let eff = EffectiveConfig::resolve(overrides, broker);
    if eff.min_compaction_lag_ms > eff.max_compaction_lag_ms {
        return Err(format!(
            "conflict topic config setting min.compaction.lag.ms ({}) > max.compaction.lag.ms ({})",
            eff.min_compaction_lag_ms, eff.max_compaction_lag_ms
        ));
    }
    if let Some(v) = overrides.get("remote.storage.enable") {
        if v.trim().eq_ignore_ascii_case("true") {
            return Err("Tiered Storage functionality is disabled in the broker. \
                        Topic cannot be configured with remote log storage."
                .to_string());
        }
    }
    Ok(())
}

/// A parsed value.
#[derive(Clone, Debug, PartialEq)]
enum Value {
    Bool(bool),
    Int(i64),
    Double(f64),
    Str(String),
    List(Vec<String>),
}

impl Value {
    /// How Kafka's `ConfigDef.convertToString` prints the parsed value: what DescribeConfigs shows.
    fn render(&self) -> String {
        match self {
            Value::Bool(b) => b.to_string(),
            Value::Int(n) => n.to_string(),
            Value::Double(d) => java_double(*d),
            Value::Str(s) => s.clone(),
            Value::List(items) => items.join(","),
        }
    }
}

fn invalid(name: &str, shown: &str, reason: &str) -> String {
    format!("Invalid value {shown} for configuration {name}: {reason}")
}

/// Parses `raw` as `config_type` and applies `rule`, with Kafka's error texts.
fn parse(name: &str, config_type: ConfigType, rule: Rule, raw: &str) -> Result<Value, String> {
    let trimmed = raw.trim();
    let not_a_number = || {
        invalid(
            name,
            raw,
            &format!("Not a number of type {}", config_type.name()),
        )
    };
    let value = match config_type {
        ConfigType::Boolean => {
            if trimmed.eq_ignore_ascii_case("true") {
                Value::Bool(true)
            } else if trimmed.eq_ignore_ascii_case("false") {
                Value::Bool(false)
            } else {
                return Err(invalid(
                    name,
                    raw,
                    "Expected value to be either true or false",
                ));
            }
        }
        ConfigType::Short => Value::Int(trimmed.parse::<i16>().map_err(|_| not_a_number())?.into()),
        ConfigType::Int => Value::Int(trimmed.parse::<i32>().map_err(|_| not_a_number())?.into()),
        ConfigType::Long => Value::Int(trimmed.parse::<i64>().map_err(|_| not_a_number())?),
        ConfigType::Double => Value::Double(parse_java_double(trimmed).ok_or_else(not_a_number)?),
        ConfigType::List => Value::List(split_list(trimmed)),
        ConfigType::String | ConfigType::Class | ConfigType::Password => {
            Value::Str(trimmed.to_string())
        }
    };
    check(name, rule, &value)?;
    Ok(value)
}

fn check(name: &str, rule: Rule, value: &Value) -> Result<(), String> {
    match (rule, value) {
        (Rule::Any, _) => Ok(()),
        (Rule::AtLeast(min), Value::Int(n)) if *n < min => Err(invalid(
            name,
            &n.to_string(),
            &format!("Value must be at least {min}"),
        )),
        (Rule::Between(min, _), Value::Int(n)) if *n < min => Err(invalid(
            name,
            &n.to_string(),
            &format!("Value must be at least {min}"),
        )),
        (Rule::Between(_, max), Value::Int(n)) if *n > max => Err(invalid(
            name,
            &n.to_string(),
            &format!("Value must be no more than {max}"),
        )),
        (Rule::GzipLevel, Value::Int(n)) if *n > 9 || (*n < 1 && *n != -1) => Err(invalid(
            name,
            &n.to_string(),
            "Value must be between 1 and 9 or equal to -1",
        )),
        // Kafka prints an integral bound as the integer it was declared as ("no more than 1").
        (Rule::DoubleBetween(min, _), Value::Double(d)) if *d < min => Err(invalid(
            name,
            &java_double(*d),
            &format!("Value must be at least {}", min as i64),
        )),
        (Rule::DoubleBetween(_, max), Value::Double(d)) if *d > max => Err(invalid(
            name,
            &java_double(*d),
            &format!("Value must be no more than {}", max as i64),
        )),
        (Rule::OneOf(valid), Value::Str(s)) if !valid.contains(&s.as_str()) => Err(invalid(
            name,
            s,
            &format!("String must be one of: {}", valid.join(", ")),
        )),
        (Rule::ListOf(valid), Value::List(items)) => {
            match items.iter().find(|i| !valid.contains(&i.as_str())) {
                Some(bad) => Err(invalid(
                    name,
                    bad,
                    &format!("String must be one of: {}", valid.join(", ")),
                )),
                None => Ok(()),
            }
        }
        (Rule::ThrottledReplicas, Value::List(items)) => {
            let trimmed: Vec<&str> = items.iter().map(|i| i.trim()).collect();
            if trimmed.iter().all(|i| is_replica_pair_or_empty(i)) || trimmed.concat() == "*" {
                Ok(())
            } else {
                Err(invalid(
                    name,
                    &format!("[{}]", items.join(", ")),
                    &format!(
                        "{name} must be the literal '*' or a list of replicas in the following format: \
                         [partitionId]:[brokerId],[partitionId]:[brokerId],..."
                    ),
                ))
            }
        }
        _ => Ok(()),
    }
}

/// `([0-9]+:[0-9]+)?`, matched against the whole string.
fn is_replica_pair_or_empty(s: &str) -> bool {
    if s.is_empty() {
        return true;
    }
    let all_digits = |p: &str| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit());
    matches!(s.split_once(':'), Some((p, b)) if all_digits(p) && all_digits(b))
}

/// Kafka's LIST parsing: an empty string is an empty list, anything else is split on commas with any
/// whitespace around them. Empty items are kept (Java's `split(regex, -1)`), so `"compact,"` fails the
/// enumeration check.
fn split_list(trimmed: &str) -> Vec<String> {
    if trimmed.is_empty() {
        return Vec::new();
    }
    let java_ws: &[char] = &[' ', '\t', '\n', '\u{b}', '\u{c}', '\r'];
    trimmed
        .split(',')
        .map(|s| s.trim_matches(java_ws).to_string())
        .collect()
}

/// Close to Java's `Double.parseDouble`: decimal and exponent forms, `NaN`, `Infinity`, and an optional
/// `d`/`f` suffix. Rust's own spellings such as `inf` are refused, as Java refuses them.
fn parse_java_double(s: &str) -> Option<f64> {
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned == "NaN" || unsigned == "Infinity" {
        return s.replace("Infinity", "inf").parse().ok();
    }
    let body = s.strip_suffix(['d', 'D', 'f', 'F']).unwrap_or(s);
    if body
        .chars()
        .any(|c| c.is_alphabetic() && c != 'e' && c != 'E')
    {
        return None;
    }
    body.parse().ok()
}

/// Prints a double the way Java's `Double.toString` does ("0.5", "1.0", "1.0E-4").
fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".to_string();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.to_string();
    }
    if v == 0.0 {
        return if v.is_sign_negative() { "-0.0" } else { "0.0" }.to_string();
    }
    if (1e-3..1e7).contains(&v.abs()) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            s + ".0"
        }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exponent) = s.split_once('e').unwrap_or((&s, "0"));
        if mantissa.contains('.') {
            format!("{mantissa}E{exponent}")
        } else {
            format!("{mantissa}.0E{exponent}")
        }
    }
}

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
    fn value_for(&self, topic_config: &str) -> Option<String> {
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

/// Kafka's rendering of `raw` for topic config `name`, or `raw` itself if it does not parse.
fn render(name: &str, raw: &str) -> String {
    lookup(name)
        .and_then(|d| parse(d.name, d.config_type, Rule::Any, raw).ok())
        .map(|v| v.render())
        .unwrap_or_else(|| raw.to_string())
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
}

impl EffectiveConfig {
    /// Each setting comes from the topic's override if it has one, else from `broker`. Settings
    /// `BrokerDefaults` does not carry fall back to Kafka's default. Overrides are expected to have passed
    /// [`validate`]; one that does not parse is ignored, as if absent.
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
        }
    }
}

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
}

impl ConfigSource {
    pub fn code(&self) -> i8 {
        match self {
            ConfigSource::DynamicTopic => 1,
            ConfigSource::DynamicBroker => 2,
            ConfigSource::DynamicDefaultBroker => 3,
            ConfigSource::StaticBroker => 4,
            ConfigSource::Default => 5,
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

/// The broker resource: the broker configs clients commonly read, with Sluice's values.
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
    // (name, type, Kafka's default, Sluice's value, doc)
    let rows: Vec<(&str, ConfigType, Option<&str>, String, &'static str)> = vec![
        (
            "auto.create.topics.enable",
            ConfigType::Boolean,
            Some("true"),
            auto_create.to_string(),
            "Whether a request for an unknown topic creates it.",
        ),
        (
            "broker.id",
            ConfigType::Int,
            Some("-1"),
            node_id.to_string(),
            "The broker's id; in KRaft mode, node.id.",
        ),
        (
            "compression.type",
            ConfigType::String,
            Some("producer"),
            render("compression.type", &broker.compression_type),
            "The default compression.type of topics.",
        ),
        (
            "default.replication.factor",
            ConfigType::Int,
            Some("1"),
            "1".to_string(),
            "The replication factor of topics created without one.",
        ),
        (
            "delete.topic.enable",
            ConfigType::Boolean,
            Some("true"),
            "true".to_string(),
            "Whether topics can be deleted.",
        ),
        (
            "log.cleaner.delete.retention.ms",
            ConfigType::Long,
            Some("86400000"),
            broker.delete_retention_ms.to_string(),
            "The default delete.retention.ms of topics.",
        ),
        (
            "log.cleaner.min.compaction.lag.ms",
            ConfigType::Long,
            Some("0"),
            broker.min_compaction_lag_ms.to_string(),
            "The default min.compaction.lag.ms of topics.",
        ),
        (
            "log.cleanup.policy",
            ConfigType::List,
            Some("delete"),
            render("cleanup.policy", &broker.cleanup_policy),
            "The default cleanup.policy of topics.",
        ),
        (
            "log.message.timestamp.after.max.ms",
            ConfigType::Long,
            Some("3600000"),
            "3600000".to_string(),
            "The default message.timestamp.after.max.ms of topics.",
        ),
        (
            "log.message.timestamp.before.max.ms",
            ConfigType::Long,
            Some(LONG_MAX),
            LONG_MAX.to_string(),
            "The default message.timestamp.before.max.ms of topics.",
        ),
        (
            "log.message.timestamp.type",
            ConfigType::String,
            Some("CreateTime"),
            render("message.timestamp.type", &broker.message_timestamp_type),
            "The default message.timestamp.type of topics.",
        ),
        (
            "log.retention.bytes",
            ConfigType::Long,
            Some("-1"),
            broker.retention_bytes.to_string(),
            "The default retention.bytes of topics.",
        ),
        (
            "log.retention.ms",
            ConfigType::Long,
            None,
            broker.retention_ms.to_string(),
            "The default retention.ms of topics.",
        ),
        (
            "message.max.bytes",
            ConfigType::Int,
            Some("1048588"),
            broker.max_message_bytes.to_string(),
            "The default max.message.bytes of topics.",
        ),
        (
            "min.insync.replicas",
            ConfigType::Int,
            Some("1"),
            "1".to_string(),
            "The default min.insync.replicas of topics.",
        ),
        (
            "node.id",
            ConfigType::Int,
            None,
            node_id.to_string(),
            "The node's id.",
        ),
        (
            "num.partitions",
            ConfigType::Int,
            Some("1"),
            num_partitions.to_string(),
            "The partition count of topics created without one.",
        ),
        (
            "offsets.topic.replication.factor",
            ConfigType::Short,
            Some("3"),
            "1".to_string(),
            "The replication factor of the committed-offsets topic.",
        ),
        (
            "transaction.state.log.min.isr",
            ConfigType::Int,
            Some("2"),
            "1".to_string(),
            "The min.insync.replicas of the transaction state topic.",
        ),
        (
            "transaction.state.log.replication.factor",
            ConfigType::Short,
            Some("3"),
            "1".to_string(),
            "The replication factor of the transaction state topic.",
        ),
        (
            "unclean.leader.election.enable",
            ConfigType::Boolean,
            Some("false"),
            "false".to_string(),
            "The default unclean.leader.election.enable of topics.",
        ),
    ];
    rows.into_iter()
        .map(|(name, config_type, kafka_default, value, doc)| {
            // log.retention.ms has no default in Kafka; 7 days comes from log.retention.hours.
            let implied_default = if name == "log.retention.ms" {
                Some("604800000")
            } else {
                kafka_default
            };
            let is_static =
                name == "node.id" || name == "broker.id" || implied_default != Some(value.as_str());
            let mut synonyms = Vec::new();
            if is_static {
                synonyms.push((
                    name.to_string(),
                    Some(value.clone()),
                    ConfigSource::StaticBroker,
                ));
            }
            if let Some(d) = kafka_default {
                synonyms.push((name.to_string(), Some(d.to_string()), ConfigSource::Default));
            }
            described(name, config_type, doc, true, Some(value), synonyms)
        })
        .collect()
}

/// Java's `String.split(",")`: trailing empty pieces are dropped, but `""` gives one empty piece.
fn java_split_commas(s: &str) -> Vec<&str> {
    if s.is_empty() {
        return vec![""];
    }
    let mut parts: Vec<&str> = s.split(',').collect();
    while parts.last() == Some(&"") {
        parts.pop();
    }
    parts
}

/// The current items of a LIST value, as the controller splits it: on commas, without trimming, dropping
/// empty items.
fn current_parts(current: &str) -> Vec<&str> {
    current.split(',').filter(|p| !p.is_empty()).collect()
}

/// IncrementalAlterConfigs APPEND: adds each comma-separated item of `add` that `current` lacks, at the end.
///
/// As in Kafka's controller, items are compared exactly, without trimming, and the result is validated
/// afterwards like any other value. For `current`, pass the topic's override or, if it has none, what
/// [`list_op_base`] gives.
pub fn append_list(current: &str, add: &str) -> String {
    let mut parts = current_parts(current);
    for item in java_split_commas(add) {
        if !parts.contains(&item) {
            parts.push(item);
        }
    }
    parts.join(",")
}

/// IncrementalAlterConfigs SUBTRACT: removes the first occurrence of each comma-separated item of `remove`.
/// Subtracting every item leaves an empty string; for `cleanup.policy` that means no cleanup at all.
pub fn subtract_list(current: &str, remove: &str) -> String {
    let mut parts = current_parts(current);
    for item in java_split_commas(remove) {
        if let Some(i) = parts.iter().position(|p| *p == item) {
            parts.remove(i);
        }
    }
    parts.join(",")
}

/// Where an APPEND or SUBTRACT on topic config `name` starts: the topic's override, or else the topic
/// config's own default. Kafka's controller uses the default, not the broker's setting (`KafkaConfigSchema.getDefault`).
/// `op` (`"APPEND"` or `"SUBTRACT"`) is used only in the error that Kafka returns for a config that is not a
/// LIST.
pub fn list_op_base(
    op: &str,
    name: &str,
    overrides: &BTreeMap<String, String>,
) -> Result<String, String> {
    match lookup(name) {
        Some(def) if def.config_type == ConfigType::List => Ok(overrides
            .get(name)
            .cloned()
            .or_else(|| def.default.map(str::to_string))
            .unwrap_or_default()),
        _ => Err(format!(
            "Can't {op} to key {name} because its type is not LIST."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn table_is_sorted_unique_and_complete() {
        assert!(TOPIC_CONFIGS.windows(2).all(|w| w[0].name < w[1].name));
        assert_eq!(
            TOPIC_CONFIGS.len(),
            33,
            "Kafka 4.x documents 33 topic configs"
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

    #[test]
    fn every_default_is_valid_and_renders_as_itself() {
        for def in TOPIC_CONFIGS {
            let default = def.default.expect("no topic config has a null default");
            validate(def.name, default).unwrap_or_else(|e| panic!("{}: {e}", def.name));
            assert_eq!(render(def.name, default), default, "{}", def.name);
        }
    }

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
    fn bad_numbers_are_refused_with_kafkas_text() {
        let cases = [
            ("retention.ms", "-2", "Invalid value -2 for configuration retention.ms: Value must be at least -1"),
            ("retention.ms", "7d", "Invalid value 7d for configuration retention.ms: Not a number of type LONG"),
            (
                "max.message.bytes",
                "-1",
                "Invalid value -1 for configuration max.message.bytes: Value must be at least 0",
            ),
            (
                "max.message.bytes",
                "3000000000",
                "Invalid value 3000000000 for configuration max.message.bytes: Not a number of type INT",
            ),
            (
                "min.cleanable.dirty.ratio",
                "1.5",
                "Invalid value 1.5 for configuration min.cleanable.dirty.ratio: Value must be no more than 1",
            ),
            (
                "min.cleanable.dirty.ratio",
                "-1",
                "Invalid value -1.0 for configuration min.cleanable.dirty.ratio: Value must be at least 0",
            ),
            (
                "min.cleanable.dirty.ratio",
                "half",
                "Invalid value half for configuration min.cleanable.dirty.ratio: Not a number of type DOUBLE",
            ),
            (
                "compression.gzip.level",
                "0",
                "Invalid value 0 for configuration compression.gzip.level: Value must be between 1 and 9 or equal to -1",
            ),
            (
                "compression.zstd.level",
                "23",
                "Invalid value 23 for configuration compression.zstd.level: Value must be no more than 22",
            ),
            (
                "segment.bytes",
                "1000",
                "Invalid value 1000 for configuration segment.bytes: Value must be at least 1048576",
            ),
            (
                "local.retention.ms",
                "-3",
                "Invalid value -3 for configuration local.retention.ms: Value must be at least -2",
            ),
        ];
        for (name, value, want) in cases {
            assert_eq!(validate(name, value).unwrap_err(), want);
        }
        // retention.bytes has no lower bound in Kafka.
        validate("retention.bytes", "-5").unwrap();
        validate("retention.ms", " 1000 ").unwrap();
        validate("max.message.bytes", "+64").unwrap();
        validate("compression.gzip.level", "-1").unwrap();
        validate("min.cleanable.dirty.ratio", "0.01").unwrap();
        validate("min.cleanable.dirty.ratio", "1").unwrap();
    }

    #[test]
    fn enumerations_and_booleans() {
        assert_eq!(
            validate("cleanup.policy", "compact,foo").unwrap_err(),
            "Invalid value foo for configuration cleanup.policy: String must be one of: compact, delete"
        );
        assert_eq!(
            validate("cleanup.policy", "Compact").unwrap_err(),
            "Invalid value Compact for configuration cleanup.policy: String must be one of: compact, delete"
        );
        assert!(validate("cleanup.policy", "compact,").is_err());
        for ok in [
            "compact",
            "delete",
            "compact, delete",
            " delete ,compact",
            "",
        ] {
            validate("cleanup.policy", ok).unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        assert_eq!(
            validate("compression.type", "brotli").unwrap_err(),
            "Invalid value brotli for configuration compression.type: \
             String must be one of: uncompressed, zstd, lz4, snappy, gzip, producer"
        );
        assert!(
            validate("compression.type", "GZIP").is_err(),
            "Kafka's ValidString is case-sensitive"
        );
        validate("compression.type", " zstd ").unwrap();
        assert_eq!(
            validate("message.timestamp.type", "createtime").unwrap_err(),
            "Invalid value createtime for configuration message.timestamp.type: \
             String must be one of: CreateTime, LogAppendTime"
        );
        validate("message.timestamp.type", "LogAppendTime").unwrap();
        assert_eq!(
            validate("preallocate", "yes").unwrap_err(),
            "Invalid value yes for configuration preallocate: Expected value to be either true or false"
        );
        validate("preallocate", "TRUE").unwrap();
    }

    #[test]
    fn throttled_replica_lists() {
        for ok in ["", "*", "0:1", "0:1, 1:1", "0:1,1:2,2:3"] {
            validate("leader.replication.throttled.replicas", ok)
                .unwrap_or_else(|e| panic!("{ok:?}: {e}"));
        }
        assert_eq!(
            validate("follower.replication.throttled.replicas", "0:1,x:2").unwrap_err(),
            "Invalid value [0:1, x:2] for configuration follower.replication.throttled.replicas: \
             follower.replication.throttled.replicas must be the literal '*' or a list of replicas in the \
             following format: [partitionId]:[brokerId],[partitionId]:[brokerId],..."
        );
        assert!(validate("leader.replication.throttled.replicas", "*,0:1").is_err());
    }

    #[test]
    fn validate_all_checks_across_configs() {
        let broker = BrokerDefaults::default();
        validate_all(
            &map(&[("retention.ms", "1000"), ("cleanup.policy", "compact")]),
            &broker,
        )
        .unwrap();
        assert_eq!(
            validate_all(
                &map(&[
                    ("min.compaction.lag.ms", "10"),
                    ("max.compaction.lag.ms", "5")
                ]),
                &broker
            )
            .unwrap_err(),
            "conflict topic config setting min.compaction.lag.ms (10) > max.compaction.lag.ms (5)"
        );
        let broker_lag = BrokerDefaults {
            min_compaction_lag_ms: 100,
            ..BrokerDefaults::default()
        };
        assert!(validate_all(&map(&[("max.compaction.lag.ms", "50")]), &broker_lag).is_err());
        assert!(
            validate_all(&map(&[("remote.storage.enable", "true")]), &broker)
                .unwrap_err()
                .contains("Tiered Storage functionality is disabled")
        );
        validate_all(&map(&[("remote.storage.enable", "false")]), &broker).unwrap();
        assert!(validate_all(&map(&[("retention.ms", "-7")]), &broker).is_err());
        assert!(validate_all(&map(&[("no.such.config", "1")]), &broker).is_err());
    }

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

    #[test]
    fn append_and_subtract_on_cleanup_policy() {
        assert_eq!(append_list("delete", "compact"), "delete,compact");
        assert_eq!(append_list("delete,compact", "compact"), "delete,compact");
        assert_eq!(append_list("", "compact,delete"), "compact,delete");
        assert_eq!(
            append_list("delete", "compact,"),
            "delete,compact",
            "Java's split drops a trailing empty"
        );
        assert_eq!(subtract_list("delete,compact", "delete"), "compact");
        assert_eq!(subtract_list("delete,compact", "compact,delete"), "");
        assert_eq!(subtract_list("delete", "compact"), "delete");
        // The result is then validated like any other value.
        validate("cleanup.policy", &append_list("delete", "compact")).unwrap();
        validate("cleanup.policy", &subtract_list("delete", "delete")).unwrap();
        assert!(validate("cleanup.policy", &append_list("delete", "forever")).is_err());

        let none = BTreeMap::new();
        assert_eq!(
            list_op_base("APPEND", "cleanup.policy", &none).unwrap(),
            "delete"
        );
        assert_eq!(
            list_op_base(
                "APPEND",
                "cleanup.policy",
                &map(&[("cleanup.policy", "compact")])
            )
            .unwrap(),
            "compact"
        );
        assert_eq!(
            list_op_base("SUBTRACT", "leader.replication.throttled.replicas", &none).unwrap(),
            ""
        );
        assert_eq!(
            list_op_base("APPEND", "retention.ms", &none).unwrap_err(),
            "Can't APPEND to key retention.ms because its type is not LIST."
        );
    }

    #[test]
    fn java_number_rendering() {
        assert_eq!(java_double(0.5), "0.5");
        assert_eq!(java_double(1.0), "1.0");
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12345678.0), "1.2345678E7");
        assert_eq!(parse_java_double("0.5d"), Some(0.5));
        assert_eq!(parse_java_double("1e-3"), Some(0.001));
        assert_eq!(parse_java_double("inf"), None);
        assert!(parse_java_double("NaN").unwrap().is_nan());
    }
}
