//! Offsets committed inside a transaction (TxnOffsetCommit, KIP-98 and KIP-447): held apart from
//! the group's committed offsets, per producer, until the transaction coordinator ends the
//! transaction, then applied (commit) or dropped (abort). While any are pending for a partition,
//! an OffsetFetch that asks for stable offsets gets UNSTABLE_OFFSET_COMMIT for it, as Kafka answers.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use super::state::GroupState;
use super::{code, GroupCoordinator};
use crate::store::{CommittedOffset, StoreError};

impl GroupCoordinator {
    /// Validates a transactional commit as Kafka does (a member of the current generation, or a
    /// simple commit to an empty group, KIP-447) and stores the offsets as pending for the producer.
    /// Returns per-offset codes or one code for all; the caller awaits a flush before answering.
    #[allow(clippy::too_many_arguments)]
    pub fn txn_commit(
        &self,
        group_id: &str,
        producer_id: i64,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
        offsets: Vec<(String, i32, CommittedOffset)>,
        partition_exists: impl Fn(&str, i32) -> bool,
    ) -> Result<Vec<i16>, i16> {
        if group_id.is_empty() {
            return Err(code(ResponseError::InvalidGroupId));
        }
        let group = if generation_id < 0 && member_id.is_empty() {
            self.group_or_create(group_id)
        } else {
            self.group(group_id)
                .ok_or(code(ResponseError::IllegalGeneration))?
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return Err(code(ResponseError::CoordinatorNotAvailable));
        }
        // Old clients (TxnOffsetCommit v0-2) send no member: their commits are not fenced by the
        // group, only by the producer epoch.
        let checked = !(member_id.is_empty() && generation_id < 0);
        if let Some(check) = Self::check_consumer_commit(
            &g,
            member_id,
            generation_id,
            Some(&super::offsets::committed_partitions(&offsets)),
        ) {
            // A consumer-group member commits at its member epoch (KIP-848), as with OffsetCommit.
            if checked {
                check?;
            }
        } else if checked {
            g.validate_member(member_id, instance_id).map_err(code)?;
            if generation_id != g.generation_id {
                return Err(code(ResponseError::IllegalGeneration));
            }
        }
        let mut codes = Vec::with_capacity(offsets.len());
        let mut pending = g
            .pending_txn_offsets
            .get(&producer_id)
            .cloned()
            .unwrap_or_default();
        let mut wrote = false;
        for (topic, partition, committed) in offsets {
            let len = committed.metadata.as_ref().map_or(0, String::len);
            let c = if len > self.shared.config.max_metadata_bytes {
                code(ResponseError::OffsetMetadataTooLarge)
            } else if !partition_exists(&topic, partition) {
                code(ResponseError::UnknownTopicOrPartition)
            } else {
                pending.insert((topic, partition), committed);
                wrote = true;
                0
            };
            codes.push(c);
        }
        if wrote {
            let list: Vec<(String, i32, CommittedOffset)> = pending
                .iter()
                .map(|((t, p), c)| (t.clone(), *p, c.clone()))
                .collect();
            if let Err(e) = self
                .shared
                .store
                .put_pending_offsets(group_id, producer_id, &list)
            {
                tracing::error!(group = group_id, error = %e, "storing transactional offsets failed");
                return Err(code(ResponseError::KafkaStorageError));
            }
            g.pending_txn_offsets.insert(producer_id, pending);
        }
        Ok(codes)
    }

    /// Ends a producer's transaction in a group: its pending offsets become the group's committed
    /// offsets (commit) or are dropped (abort). Durable at the next flush; doing it again after a
    /// crash finds nothing left to do.
    pub fn complete_txn(
        &self,
        group_id: &str,
        producer_id: i64,
        commit: bool,
    ) -> Result<(), StoreError> {
        let Some(group) = self.group(group_id) else {
            // The group was deleted meanwhile: its pending offsets go with it.
            return self
                .shared
                .store
                .remove_pending_offsets(group_id, producer_id);
        };
        let mut g = group.lock().expect("group poisoned");
        let Some(pending) = g.pending_txn_offsets.get(&producer_id).cloned() else {
            return Ok(());
        };
        if commit {
            let writes: Vec<(String, i32, Option<CommittedOffset>)> = pending
                .iter()
                .map(|((t, p), c)| (t.clone(), *p, Some(c.clone())))
                .collect();
            self.shared.store.put_offsets(group_id, &writes)?;
        }
        self.shared
            .store
            .remove_pending_offsets(group_id, producer_id)?;
        g.pending_txn_offsets.remove(&producer_id);
        if commit {
            for ((t, p), c) in pending {
                g.offsets.insert((t, p), c);
            }
        }
        Ok(())
    }

    /// Whether an open transaction carries an offset for this partition of the group (OffsetFetch
    /// with require_stable then answers UNSTABLE_OFFSET_COMMIT).
    pub fn has_pending_txn_offset(&self, group_id: &str, topic: &str, partition: i32) -> bool {
        let Some(group) = self.group(group_id) else {
            return false;
        };
        let g = group.lock().expect("group poisoned");
        let key = (topic.to_string(), partition);
        g.pending_txn_offsets.values().any(|o| o.contains_key(&key))
    }

    /// Restores pending transactional offsets at start-up.
    pub(super) fn load_pending(
        groups: &mut std::collections::HashMap<String, super::state::Group>,
        pending: Vec<(String, i64, crate::store::PendingOffsets)>,
    ) {
        for (group, pid, offsets) in pending {
            let map: BTreeMap<(String, i32), CommittedOffset> =
                offsets.into_iter().map(|(t, p, c)| ((t, p), c)).collect();
            groups
                .entry(group.clone())
                .or_insert_with(|| super::state::Group::new(&group))
                .pending_txn_offsets
                .insert(pid, map);
        }
    }
}
