//! Committed offsets: OffsetCommit, OffsetFetch and OffsetDelete. Offsets live in memory per group
//! and in the store; the store is written before the in-memory map, so what a fetch sees was stored.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use tokio::time::Instant;

use super::state::GroupState;
use super::{code, GroupCoordinator};
use crate::store::CommittedOffset;

/// One topic's committed offsets by partition; `None` where nothing was committed.
pub type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>)>);

impl GroupCoordinator {
    /// Validates a commit and stores it. Returns per-offset error codes (or a group-level error for
    /// all of them); the caller awaits `Store::sync` before answering when anything was written.
    pub fn commit(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, CommittedOffset)>,
        partition_exists: impl Fn(&str, i32) -> bool,
    ) -> Result<Vec<i16>, i16> {
        if group_id.is_empty() {
            return Err(code(ResponseError::InvalidGroupId));
        }
        let group = if generation_id < 0 {
            self.group_or_create(group_id)
        } else {
            self.group(group_id)
                .ok_or(code(ResponseError::IllegalGeneration))?
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return Err(code(ResponseError::CoordinatorNotAvailable));
        }
        if g.is_fenced(member_id, instance_id) {
            return Err(code(ResponseError::FencedInstanceId));
        }
        let simple = generation_id < 0 && g.state == GroupState::Empty;
        if let Some(check) = Self::check_consumer_commit(
            &g,
            member_id,
            generation_id,
            Some(&committed_partitions(&offsets)),
        ) {
            check?;
            if let Some(m) = g
                .consumer
                .as_mut()
                .and_then(|c| c.members.get_mut(member_id))
            {
                m.last_heartbeat = Instant::now();
            }
        } else if !simple {
            g.validate_member(member_id, instance_id).map_err(code)?;
            if generation_id != g.generation_id {
                return Err(code(ResponseError::IllegalGeneration));
            }
            // Commits are refused only while members wait for assignments; during
            // PreparingRebalance the current generation may still commit what it processed.
            if g.state == GroupState::CompletingRebalance {
                return Err(code(ResponseError::RebalanceInProgress));
            }
            if let Some(m) = g.members.get_mut(member_id) {
                m.last_heartbeat = Instant::now();
            }
        }
        let mut codes = Vec::with_capacity(offsets.len());
        let mut writes = Vec::new();
        for (topic, partition, committed) in offsets {
            let len = committed.metadata.as_ref().map_or(0, String::len);
            let c = if len > self.shared.config.max_metadata_bytes {
                code(ResponseError::OffsetMetadataTooLarge)
            } else if !partition_exists(&topic, partition) {
                code(ResponseError::UnknownTopicOrPartition)
            } else {
                writes.push((topic, partition, Some(committed)));
                0
            };
            codes.push(c);
        }
        if !writes.is_empty() {
            if let Err(e) = self.shared.store.put_offsets(group_id, &writes) {
                tracing::error!(group = group_id, error = %e, "storing committed offsets failed");
                return Err(code(ResponseError::KafkaStorageError));
            }
            for (topic, partition, committed) in writes {
                if let Some(c) = committed {
                    g.offsets.insert((topic, partition), c);
                }
            }
        }
        Ok(codes)
    }

    /// Committed offsets of a group: for the given partitions, or all of them when `None`.
    pub fn fetch_offsets(
        &self,
        group_id: &str,
        wanted: Option<Vec<(String, Vec<i32>)>>,
    ) -> Vec<TopicOffsets> {
        let group = self.group(group_id);
        let g = group.as_ref().map(|g| g.lock().expect("group poisoned"));
        let offsets = g.as_ref().map(|g| &g.offsets);
        match wanted {
            Some(topics) => topics
                .into_iter()
                .map(|(topic, parts)| {
                    let found = parts
                        .into_iter()
                        .map(|p| (p, offsets.and_then(|o| o.get(&(topic.clone(), p)).cloned())))
                        .collect();
                    (topic, found)
                })
                .collect(),
            None => {
                let mut by_topic: BTreeMap<String, Vec<(i32, Option<CommittedOffset>)>> =
                    BTreeMap::new();
                for ((topic, p), c) in offsets.into_iter().flatten() {
                    by_topic
                        .entry(topic.clone())
                        .or_default()
                        .push((*p, Some(c.clone())));
                }
                by_topic.into_iter().collect()
            }
        }
    }

    /// OffsetDelete: refused for topics the group's consumers are subscribed to.
    pub fn delete_offsets(
        &self,
        group_id: &str,
        partitions: &[(String, i32)],
    ) -> Result<Vec<i16>, i16> {
        let group = self
            .group(group_id)
            .ok_or(code(ResponseError::GroupIdNotFound))?;
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return Err(code(ResponseError::GroupIdNotFound));
        }
        let subscribed: HashSet<String> = if let Some(c) = &g.consumer {
            c.members
                .values()
                .flat_map(|m| m.topic_names.iter().cloned())
                .chain(c.topics.keys().cloned())
                .collect()
        } else if g.protocol_type.as_deref() == Some("consumer") {
            let protocol = g.protocol_name.clone().unwrap_or_default();
            g.members
                .values()
                .flat_map(|m| subscribed_topics(&m.metadata_for(&protocol)))
                .collect()
        } else {
            HashSet::new()
        };
        let mut codes = Vec::with_capacity(partitions.len());
        let mut removals = Vec::new();
        for (topic, p) in partitions {
            if subscribed.contains(topic) {
                codes.push(code(ResponseError::GroupSubscribedToTopic));
            } else {
                removals.push((topic.clone(), *p, None));
                codes.push(0);
            }
        }
        self.shared
            .store
            .put_offsets(group_id, &removals)
            .map_err(|e| {
                tracing::error!(group = group_id, error = %e, "deleting offsets failed");
                code(ResponseError::KafkaStorageError)
            })?;
        for (topic, p, _) in removals {
            g.offsets.remove(&(topic, p));
        }
        Ok(codes)
    }
}

/// Topics in a ConsumerProtocolSubscription (any version: the topic list comes first, after the
/// version). Unparseable metadata subscribes to nothing.
/// The (topic, partition) pairs of a commit, for a consumer-group member's epoch check.
pub(super) fn committed_partitions<T>(offsets: &[(String, i32, T)]) -> Vec<(&str, i32)> {
    offsets.iter().map(|(t, p, _)| (t.as_str(), *p)).collect()
}

fn subscribed_topics(metadata: &[u8]) -> Vec<String> {
    fn parse(b: &[u8]) -> Option<Vec<String>> {
        let n = i32::from_be_bytes(b.get(2..6)?.try_into().ok()?);
        let mut pos = 6;
        let mut out = Vec::new();
        for _ in 0..n.max(0) {
            let len = i16::from_be_bytes(b.get(pos..pos + 2)?.try_into().ok()?) as usize;
            pos += 2;
            out.push(String::from_utf8(b.get(pos..pos + len)?.to_vec()).ok()?);
            pos += len;
        }
        Some(out)
    }
    parse(metadata).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subscription_topics_parse() {
        // version 1, two topics "a" and "bc", then user data we ignore.
        let meta = [
            0, 1, 0, 0, 0, 2, 0, 1, b'a', 0, 2, b'b', b'c', 0xff, 0xff, 0xff, 0xff,
        ];
        assert_eq!(
            subscribed_topics(&meta),
            vec!["a".to_string(), "bc".to_string()]
        );
        assert!(subscribed_topics(&[1]).is_empty());
    }
}
