//! The coordinator's delayed tasks: the rebalance timeout (one per rebalance round), the session
//! timeout (one per member) and the expiry of a pending member id (KIP-394) the client never used.
//!
//! All three are [`GroupCoordinator::after`]: a task that sleeps, then looks the group up again and
//! re-checks it under its lock, so a timer that lost a race with a request finds nothing to do. No
//! lock is held across a sleep. Each task runs in a root span of its own (group, and member or
//! round): it outlives the request that started it, whose span must not stay open hours for it.

use std::time::Duration;

use tokio::time::Instant;
use tracing::{info_span, Instrument, Span};

use super::state::{Group, GroupState};
use super::GroupCoordinator;

impl GroupCoordinator {
    /// Rebalance timeout: ends the join phase of `round` with the members that rejoined (the
    /// others are removed). Does nothing if that round already completed or a later one began.
    pub(super) fn complete_join_later(&self, group_id: &str, round: u64, delay: Duration) {
        let span = info_span!(parent: None, "rebalance_timeout", group = group_id, round);
        self.after(group_id, Some(delay), span, move |this, g| {
            if g.state == GroupState::PreparingRebalance && g.rebalance_round == round {
                this.complete_join(g);
            }
            None
        });
    }

    /// The initial rebalance delay of a group starting from Empty: after `delay`, the join phase
    /// of `round` ends, unless a member joined meanwhile and time `remaining` of the rebalance
    /// timeout is left; then it waits `delay` again (at most `remaining`). Kafka's
    /// `tryCompleteInitialRebalanceElseSchedule`.
    pub(super) fn end_initial_delay_later(
        &self,
        group_id: &str,
        round: u64,
        delay: Duration,
        remaining: Duration,
    ) {
        let span = info_span!(parent: None, "initial_rebalance_delay", group = group_id, round);
        let mut remaining = remaining;
        let mut delay = delay;
        self.after(group_id, Some(delay), span, move |this, g| {
            if g.state != GroupState::PreparingRebalance || g.rebalance_round != round {
                return None;
            }
            if g.new_member_added && !remaining.is_zero() {
                g.new_member_added = false;
                let next = delay.min(remaining);
                remaining = remaining.saturating_sub(delay);
                delay = next;
                return Some(Instant::now() + next);
            }
            this.complete_join(g);
            None
        });
    }

    /// Session timeout for one member: checks at once, then sleeps until the member's deadline,
    /// re-checked under the lock; heartbeats move the deadline. Ends when the member is gone.
    pub(super) fn watch_session(&self, group_id: &str, member_id: String) {
        let span =
            info_span!(parent: None, "session_timeout", group = group_id, member = %member_id);
        self.after(group_id, None, span, move |this, g| {
            let m = g.members.get(&member_id)?;
            let deadline = m.last_heartbeat + m.session_timeout;
            // A member waiting on a join or sync response is alive by definition; the rebalance
            // timeout governs it.
            let waiting = m.awaiting_join.is_some() || m.awaiting_sync.is_some();
            if Instant::now() >= deadline && !waiting {
                this.remove_member(g, &member_id, "session timeout expired");
                return None;
            }
            Some(if waiting {
                Instant::now() + m.session_timeout
            } else {
                deadline
            })
        });
    }

    /// KIP-394: a member id handed out with MEMBER_ID_REQUIRED that the client has not joined with
    /// once `after` has passed is dropped, so a client that gave up leaves no ghost for the
    /// rebalance to wait on.
    pub(super) fn expire_pending_later(&self, group_id: &str, member_id: String, after: Duration) {
        let span = info_span!(parent: None, "pending_member_expiry", group = group_id, member = %member_id);
        self.after(group_id, Some(after), span, move |this, g| {
            if g.pending_members.remove(&member_id) {
                tracing::debug!(group = %g.id, member = %member_id, "pending member id expired");
                this.maybe_complete_join(g);
            }
            None
        });
    }

    /// After `first` (at once if `None`), and then at each deadline `check` returns, runs `check`
    /// on the group under its lock, until it returns `None` or no group has this id any more. The
    /// group is looked up by id each time: a deleted group is not kept alive by its timers.
    pub(super) fn after<F>(&self, group_id: &str, first: Option<Duration>, span: Span, mut check: F)
    where
        F: FnMut(&GroupCoordinator, &mut Group) -> Option<Instant> + Send + 'static,
    {
        let this = self.clone();
        let group_id = group_id.to_string();
        tokio::spawn(
            async move {
                if let Some(delay) = first {
                    tokio::time::sleep(delay).await;
                }
                loop {
                    let next = {
                        let Some(group) = this.group(&group_id) else {
                            return;
                        };
                        let mut g = group.lock().expect("group poisoned");
                        check(&this, &mut g)
                    };
                    match next {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => return,
                    }
                }
            }
            .instrument(span),
        );
    }
}
