//! IncrementalAlterConfigs APPEND and SUBTRACT on LIST values, as Kafka's KRaft controller
//! (`ConfigurationControlManager`) applies them.

use std::collections::BTreeMap;

use super::table::{lookup, ConfigType};

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
    use crate::config::topic::{map, validate};

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
}
