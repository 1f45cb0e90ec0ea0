//! Parsing and validating topic config values as Kafka's `ConfigDef` does, with Kafka's error texts, and
//! rendering a parsed value as DescribeConfigs shows it (Java's `Double.toString` included).

use std::collections::BTreeMap;

use super::effective::{BrokerDefaults, EffectiveConfig};
use super::table::{lookup, ConfigType, Rule};

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
pub(super) enum Value {
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
pub(super) fn parse(
    name: &str,
    config_type: ConfigType,
    rule: Rule,
    raw: &str,
) -> Result<Value, String> {
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
pub(super) fn split_list(trimmed: &str) -> Vec<String> {
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

/// Kafka's rendering of `raw` for topic config `name`, or `raw` itself if it does not parse.
pub(super) fn render(name: &str, raw: &str) -> String {
    lookup(name)
        .and_then(|d| parse(d.name, d.config_type, Rule::Any, raw).ok())
        .map(|v| v.render())
        .unwrap_or_else(|| raw.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::topic::{map, TOPIC_CONFIGS};

    #[test]
    fn every_default_is_valid_and_renders_as_itself() {
        for def in TOPIC_CONFIGS {
            let default = def.default.expect("no topic config has a null default");
            validate(def.name, default).unwrap_or_else(|e| panic!("{}: {e}", def.name));
            assert_eq!(render(def.name, default), default, "{}", def.name);
        }
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
