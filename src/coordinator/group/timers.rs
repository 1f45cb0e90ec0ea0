//! The coordinator's delayed tasks. Each sleeps until a deadline and then re-checks the group under
//! its lock, so a timer that lost a race with a request does nothing.

use std::time::Duration;

use tokio::time::Instant;

use super::state::GroupState;
use super::GroupCoordinator;

impl GroupCoordinator {
    pub(super) fn complete_join_later(&self, group_id: &str, round: u64, delay: Duration) {
        let this = self.clone();
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(delay).await;
            let Some(group) = this.group(&group_id) else {
                return;
            };
            let mut g = group.lock().expect("group poisoned");
            if g.state == GroupState::PreparingRebalance && g.rebalance_round == round {
                this.complete_join(&mut g);
            }
        });
    }

    /// Session timeout for one member: sleeps until the member's deadline, re-checked under the
    /// lock; heartbeats move the deadline. Ends when the member is gone.
    pub(super) fn watch_session(&self, group_id: &str, member_id: String) {
        let this = self.clone();
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            loop {
                let deadline = {
                    let Some(group) = this.group(&group_id) else {
                        return;
                    };
                    let mut g = group.lock().expect("group poisoned");
                    let Some(m) = g.members.get(&member_id) else {
                        return;
                    };
                    let deadline = m.last_heartbeat + m.session_timeout;
                    // A member waiting on a join or sync response is alive by definition; the
                    // rebalance timeout governs it.
                    let waiting = m.awaiting_join.is_some() || m.awaiting_sync.is_some();
                    if Instant::now() >= deadline && !waiting {
                        this.remove_member(&mut g, &member_id, "session timeout expired");
                        return;
                    }
                    if waiting {
                        Instant::now() + m.session_timeout
                    } else {
                        deadline
                    }
                };
                tokio::time::sleep_until(deadline).await;
            }
        });
    }

    pub(super) fn expire_pending_later(&self, group_id: &str, member_id: String, after: Duration) {
        let this = self.clone();
        let group_id = group_id.to_string();
        tokio::spawn(async move {
            tokio::time::sleep(after).await;
            let Some(group) = this.group(&group_id) else {
                return;
            };
            let mut g = group.lock().expect("group poisoned");
            if g.pending_members.remove(&member_id) {
                tracing::debug!(group = %group_id, member = %member_id, "pending member id expired");
                this.maybe_complete_join(&mut g);
            }
        });
    }
}
