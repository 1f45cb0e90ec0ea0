//! SyncGroup: members wait for the leader's assignments; the leader's SyncGroup makes the group
//! Stable and answers everyone.

use std::collections::HashMap;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::state::{Group, GroupState};
use super::{code, GroupCoordinator, Pending};

/// A SyncGroup request, decoded.
#[derive(Debug, Clone, Default)]
pub struct SyncRequest {
    pub group_id: String,
    pub generation_id: i32,
    pub member_id: String,
    pub instance_id: Option<String>,
    /// v5+: checked against the group's when present.
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    /// Only the leader's assignments are used.
    pub assignments: Vec<(String, Bytes)>,
}

#[derive(Debug, Clone, Default)]
pub struct SyncResult {
    pub error: i16,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub assignment: Bytes,
    /// The answer stands on the group record (the assignments): send it only once a flush made
    /// that durable, so no member consumes by an assignment a restart would forget.
    pub flush: bool,
}

impl SyncResult {
    pub(super) fn error(code: i16) -> SyncResult {
        SyncResult {
            error: code,
            ..SyncResult::default()
        }
    }
}

impl GroupCoordinator {
    /// SyncGroup: a member of the current generation gets its assignment, at once in Stable or,
    /// while CompletingRebalance, once the leader's SyncGroup brings the assignments.
    pub fn sync(&self, req: SyncRequest) -> Pending<SyncResult> {
        let SyncRequest {
            group_id,
            generation_id,
            member_id,
            instance_id,
            protocol_type,
            protocol_name,
            assignments,
        } = req;
        let (group_id, member_id, instance_id) = (
            group_id.as_str(),
            member_id.as_str(),
            instance_id.as_deref(),
        );
        let (protocol_type, protocol_name) = (protocol_type.as_deref(), protocol_name.as_deref());
        let Some(group) = self.group(group_id) else {
            return Pending::Ready(SyncResult::error(code(ResponseError::UnknownMemberId)));
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return Pending::Ready(SyncResult::error(code(
                ResponseError::CoordinatorNotAvailable,
            )));
        }
        if g.is_fenced(member_id, instance_id) {
            return Pending::Ready(SyncResult::error(code(ResponseError::FencedInstanceId)));
        }
        if !g.members.contains_key(member_id) {
            return Pending::Ready(SyncResult::error(code(ResponseError::UnknownMemberId)));
        }
        if generation_id != g.generation_id {
            return Pending::Ready(SyncResult::error(code(ResponseError::IllegalGeneration)));
        }
        if protocol_type.is_some_and(|t| Some(t) != g.protocol_type.as_deref())
            || protocol_name.is_some_and(|n| Some(n) != g.protocol_name.as_deref())
        {
            return Pending::Ready(SyncResult::error(code(
                ResponseError::InconsistentGroupProtocol,
            )));
        }
        match g.state {
            GroupState::Empty => {
                Pending::Ready(SyncResult::error(code(ResponseError::UnknownMemberId)))
            }
            GroupState::PreparingRebalance => {
                Pending::Ready(SyncResult::error(code(ResponseError::RebalanceInProgress)))
            }
            GroupState::Stable => {
                let assignment = g.members[member_id].assignment.clone();
                Pending::Ready(assigned(&g, assignment))
            }
            GroupState::Dead => Pending::Ready(SyncResult::error(code(
                ResponseError::CoordinatorNotAvailable,
            ))),
            GroupState::CompletingRebalance => {
                let (tx, rx) = oneshot::channel();
                if let Some(m) = g.members.get_mut(member_id) {
                    m.last_heartbeat = Instant::now();
                    if let Some(old) = m.awaiting_sync.replace(tx) {
                        let _ =
                            old.send(SyncResult::error(code(ResponseError::RebalanceInProgress)));
                    }
                }
                if g.leader_id.as_deref() == Some(member_id) {
                    self.complete_sync(&mut g, assignments);
                }
                Pending::Wait(rx)
            }
        }
    }
}

impl GroupCoordinator {
    /// The leader's SyncGroup ends the rebalance: every member gets its assignment from the
    /// leader's, the group record is written, the group is Stable, and every member waiting on
    /// SyncGroup is answered (after a flush: their answers carry `flush`). If the record cannot
    /// be written, as in Kafka, the waiting members get NOT_COORDINATOR (its answer to a storage
    /// error) and the group rebalances again.
    fn complete_sync(&self, g: &mut Group, assignments: Vec<(String, Bytes)>) {
        let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
        for m in g.members.values_mut() {
            // A member the leader left out gets an empty (but valid) assignment.
            m.assignment = given.remove(&m.id).unwrap_or_default();
        }
        if self.store_group(g).is_err() {
            for m in g.members.values_mut() {
                m.assignment = Bytes::new();
                if let Some(tx) = m.awaiting_sync.take() {
                    let _ = tx.send(SyncResult::error(code(ResponseError::NotCoordinator)));
                }
            }
            self.prepare_rebalance(g, "the group record could not be stored");
            return;
        }
        g.state = GroupState::Stable;
        tracing::info!(group = %g.id, generation = g.generation_id, "rebalance complete: group stable");
        let results: Vec<(String, SyncResult)> = g
            .members
            .values()
            .map(|m| (m.id.clone(), assigned(g, m.assignment.clone())))
            .collect();
        for (id, result) in results {
            if let Some(tx) = g.members.get_mut(&id).and_then(|m| m.awaiting_sync.take()) {
                let _ = tx.send(result);
            }
        }
    }
}

/// A successful SyncGroup answer carrying `assignment`.
fn assigned(g: &Group, assignment: Bytes) -> SyncResult {
    SyncResult {
        error: 0,
        protocol_type: g.protocol_type.clone(),
        protocol_name: g.protocol_name.clone(),
        assignment,
        flush: true,
    }
}
