//! Moving a group through a rebalance: PreparingRebalance when membership changes, the end of the
//! join phase (a new generation, the leader chosen, the protocol selected), and removing members.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::time::Instant;

use super::state::{Group, GroupState};
use super::{code, GroupCoordinator, SyncResult};

impl GroupCoordinator {
    /// Starts a rebalance round: members must rejoin before the rebalance timeout (or, for a
    /// group starting from Empty, the initial rebalance delay) ends the join phase.
    pub(super) fn prepare_rebalance(&self, g: &mut Group, reason: &str) {
        if g.state == GroupState::CompletingRebalance {
            // Members waiting for their assignment must rejoin instead.
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(SyncResult::error(code(ResponseError::RebalanceInProgress)));
                }
            }
        }
        let from_empty = g.state == GroupState::Empty;
        g.state = GroupState::PreparingRebalance;
        g.rebalance_round += 1;
        for m in g.members.values_mut() {
            if m.awaiting_join.is_none() {
                m.joined = false;
            }
        }
        let rebalance_timeout = g
            .members
            .values()
            .map(|m| m.rebalance_timeout)
            .max()
            .unwrap_or_default();
        let initial = Duration::from_millis(self.shared.config.initial_rebalance_delay_ms);
        tracing::info!(group = %g.id, generation = g.generation_id, reason, "preparing rebalance");
        if from_empty && !initial.is_zero() {
            // As Kafka: wait `initial`, and again while members keep arriving, within the
            // rebalance timeout.
            g.delaying_initial_join = true;
            g.new_member_added = false;
            let remaining = rebalance_timeout.saturating_sub(initial);
            self.end_initial_delay_later(&g.id, g.rebalance_round, initial, remaining);
        } else {
            g.delaying_initial_join = false;
            self.complete_join_later(&g.id, g.rebalance_round, rebalance_timeout);
        }
        self.maybe_complete_join(g);
    }

    /// Ends the join phase early once every member has rejoined, unless the initial delay runs.
    pub(super) fn maybe_complete_join(&self, g: &mut Group) {
        if g.state == GroupState::PreparingRebalance && !g.delaying_initial_join && g.all_joined() {
            self.complete_join(g);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, a new generation starts, and
    /// every joined member gets its JoinGroup response (the leader with the member list).
    pub(super) fn complete_join(&self, g: &mut Group) {
        let gone: Vec<String> = g
            .members
            .values()
            .filter(|m| !m.joined)
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %g.id, member = %id, "member did not rejoin in time; removed");
            g.remove_member_entry(&id);
        }
        g.delaying_initial_join = false;
        if !g
            .leader_id
            .as_ref()
            .is_some_and(|l| g.members.contains_key(l))
        {
            g.leader_id = g.members.keys().next().cloned();
        }
        g.generation_id += 1;
        if g.members.is_empty() {
            // The protocol type stays: an emptied consumer group is still a consumer group (and not
            // a "simple" one) for ListGroups and DescribeGroups, as in Kafka.
            g.state = GroupState::Empty;
            g.protocol_name = None;
            g.leader_id = None;
            tracing::info!(group = %g.id, generation = g.generation_id, "group is empty");
            // Kafka stores the emptied group, so a restart does not bring back its members. No
            // answer waits on it; a failure is logged (`store_group`), and the stale record's
            // members would expire after their session timeout.
            let _ = self.store_group(g);
            return;
        }
        g.protocol_name = g.select_protocol();
        g.state = GroupState::CompletingRebalance;
        if g.generation_id == 1 || g.members.len() == 1 {
            // Cheap enough to repeat, and it only changes when a group starts over.
            if let Some(t) = &g.protocol_type {
                if let Err(e) = self.shared.store.put_group_protocol_type(&g.id, t) {
                    tracing::warn!(group = %g.id, error = %e, "could not remember the group's protocol type");
                }
            }
        }
        tracing::info!(
            group = %g.id,
            generation = g.generation_id,
            members = g.members.len(),
            protocol = ?g.protocol_name,
            "rebalance: join phase complete"
        );
        let ids: Vec<String> = g.members.keys().cloned().collect();
        for id in ids {
            let result = g.join_result_for(&id);
            if let Some(m) = g.members.get_mut(&id) {
                m.joined = false;
                m.last_heartbeat = Instant::now();
                if let Some(tx) = m.awaiting_join.take() {
                    let _ = tx.send(result);
                }
            }
        }
    }

    /// Removes a member (leave, session expiry) and moves the group on as Kafka does.
    pub(super) fn remove_member(&self, g: &mut Group, id: &str, reason: &str) {
        g.remove_member_entry(id);
        tracing::info!(group = %g.id, member = %id, reason, "member removed");
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(g, reason)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(g),
            GroupState::Empty | GroupState::Dead => {}
        }
    }
}
