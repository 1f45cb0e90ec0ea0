//! Heartbeat (a member is alive and learns of rebalances) and LeaveGroup.

use kafka_protocol::error::ResponseError;
use tokio::time::Instant;

use super::state::GroupState;
use super::{code, GroupCoordinator};

impl GroupCoordinator {
    /// Keeps a member's session alive; the error code tells it when to rejoin
    /// (REBALANCE_IN_PROGRESS) or that it is no longer a member.
    pub fn heartbeat(
        &self,
        group_id: &str,
        generation_id: i32,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> i16 {
        let Some(group) = self.group(group_id) else {
            return code(ResponseError::UnknownMemberId);
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return code(ResponseError::CoordinatorNotAvailable);
        }
        if g.is_fenced(member_id, instance_id) {
            return code(ResponseError::FencedInstanceId);
        }
        if !g.members.contains_key(member_id) {
            return code(ResponseError::UnknownMemberId);
        }
        if generation_id != g.generation_id {
            return code(ResponseError::IllegalGeneration);
        }
        let state = g.state;
        if let Some(m) = g.members.get_mut(member_id) {
            m.last_heartbeat = Instant::now();
        }
        match state {
            GroupState::Stable | GroupState::CompletingRebalance => 0,
            GroupState::PreparingRebalance => code(ResponseError::RebalanceInProgress),
            GroupState::Empty => code(ResponseError::UnknownMemberId),
            GroupState::Dead => code(ResponseError::CoordinatorNotAvailable),
        }
    }

    /// Removes members; each is `(member_id, group_instance_id)`. Returns per-member error codes,
    /// or a group-level error.
    pub fn leave(
        &self,
        group_id: &str,
        members: &[(String, Option<String>)],
    ) -> Result<Vec<i16>, i16> {
        let Some(group) = self.group(group_id) else {
            return Err(code(ResponseError::UnknownMemberId));
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return Err(code(ResponseError::CoordinatorNotAvailable));
        }
        let mut codes = Vec::with_capacity(members.len());
        for (member_id, instance_id) in members {
            let id = match instance_id {
                Some(instance) => match g.static_members.get(instance) {
                    Some(current) if member_id.is_empty() || current == member_id => {
                        current.clone()
                    }
                    Some(_) => {
                        codes.push(code(ResponseError::FencedInstanceId));
                        continue;
                    }
                    None => {
                        codes.push(code(ResponseError::UnknownMemberId));
                        continue;
                    }
                },
                None => member_id.clone(),
            };
            if g.pending_members.remove(&id) {
                self.maybe_complete_join(&mut g);
                codes.push(0);
            } else if g.members.contains_key(&id) {
                self.remove_member(&mut g, &id, "member left the group");
                codes.push(0);
            } else {
                codes.push(code(ResponseError::UnknownMemberId));
            }
        }
        Ok(codes)
    }
}
