//! KIP-848 consumer groups: the broker assigns partitions and each member reconciles towards its
//! target one heartbeat at a time, as Apache Kafka's GroupMetadataManager and
//! CurrentAssignmentBuilder do it.
//!
//! A consumer group is a [`ConsumerGroup`] inside the same `Group` as a classic group's state
//! (group ids are one namespace, committed offsets are shared, and an empty group converts
//! between the protocols). Three epochs drive it:
//! - the group epoch, bumped whenever what the assignment depends on changes (a member joins or
//!   goes, a subscription or assignor changes, a subscribed topic appears, vanishes or grows);
//! - the assignment epoch: the group epoch the target assignment was last computed for (it is
//!   computed on the next heartbeat after a bump);
//! - each member's epoch: the target epoch it has reconciled to.
//!
//! Reconciliation (KIP-848): a member first gives up the partitions its target no longer holds
//! (UNREVOKED_PARTITIONS, epoch unchanged, nothing new), then takes its target, except partitions
//! another member still owns or has not yet revoked (UNRELEASED_PARTITIONS), which it gets on a
//! later heartbeat once they are free. So a partition never has two owners.
//!
//! # Layout
//! - this file: the group and member data, the group state, reconciliation;
//! - `assignor`: the `uniform` and `range` server-side assignors;
//! - `coordinator`: ConsumerGroupHeartbeat and ConsumerGroupDescribe on the [`super::GroupCoordinator`],
//!   the session and revocation timers, durability, and the offset-commit checks.

pub mod assignor;
mod coordinator;
#[cfg(test)]
mod scenarios;

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};
use tokio::time::Instant;
use uuid::Uuid;

pub use coordinator::{
    ConsumerDescription, ConsumerMemberDescription, HeartbeatInput, HeartbeatOutput, TopicNames,
    TopicView,
};

/// Partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// The epoch a member sends to leave the group.
pub const LEAVE_EPOCH: i32 = -1;
/// The epoch a static member sends to leave temporarily, keeping its instance id and assignment.
pub const STATIC_LEAVE_EPOCH: i32 = -2;

/// Where a member is in its reconciliation (Kafka's MemberState).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MemberState {
    Stable,
    UnrevokedPartitions,
    UnreleasedPartitions,
}

/// One member of a consumer group (Kafka's ConsumerGroupMember), as persisted.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ConsumerMember {
    pub id: String,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub topic_names: Vec<String>,
    pub topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub member_epoch: i32,
    pub previous_member_epoch: i32,
    pub state: MemberState,
    /// What the member owns now (or may start fetching).
    pub assigned: Assignment,
    /// What it must give up before it gets anything new.
    pub pending_revocation: Assignment,
    /// The member epoch at which it was given each partition it owns or must revoke: a commit
    /// at an older epoch is accepted for the partitions it had by then (Kafka 4.4's
    /// assignment-epoch check of OffsetCommit).
    #[serde(default)]
    pub partition_epochs: BTreeMap<Uuid, BTreeMap<i32, i32>>,
    /// Refreshed by heartbeats; a restarted broker gives every member a fresh session.
    #[serde(skip, default = "Instant::now")]
    pub last_heartbeat: Instant,
    /// Set when the member is asked to revoke: it is fenced if it has not revoked by then.
    #[serde(skip)]
    pub revoke_by: Option<Instant>,
}

/// Equal as persisted: the time of the last heartbeat is not part of the record, so a heartbeat
/// that changes nothing else writes (and flushes) nothing.
impl PartialEq for ConsumerMember {
    fn eq(&self, o: &ConsumerMember) -> bool {
        self.id == o.id
            && self.instance_id == o.instance_id
            && self.rack_id == o.rack_id
            && self.client_id == o.client_id
            && self.client_host == o.client_host
            && self.topic_names == o.topic_names
            && self.topic_regex == o.topic_regex
            && self.server_assignor == o.server_assignor
            && self.rebalance_timeout_ms == o.rebalance_timeout_ms
            && self.member_epoch == o.member_epoch
            && self.previous_member_epoch == o.previous_member_epoch
            && self.state == o.state
            && self.assigned == o.assigned
            && self.pending_revocation == o.pending_revocation
            && self.partition_epochs == o.partition_epochs
            && self.revoke_by == o.revoke_by
    }
}

/// A consumer group's membership and assignment (Kafka's ConsumerGroup), as persisted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConsumerGroup {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: BTreeMap<String, ConsumerMember>,
    /// The target assignment by member id, computed at `assignment_epoch`.
    pub target: BTreeMap<String, Assignment>,
    /// The subscribed topics (name → id, partition count) the group epoch was last bumped for.
    pub topics: BTreeMap<String, (Uuid, i32)>,
}

impl ConsumerGroup {
    /// A new group: Kafka 4.4 starts a group's epoch at 1 (its first member joins at 2) and its
    /// assignment epoch at 0.
    pub fn new() -> ConsumerGroup {
        ConsumerGroup {
            group_epoch: 1,
            ..ConsumerGroup::default()
        }
    }

    /// The state names Kafka reports (ListGroups, ConsumerGroupDescribe).
    pub fn state(&self) -> &'static str {
        if self.members.is_empty() {
            "Empty"
        } else if self.group_epoch > self.assignment_epoch {
            "Assigning"
        } else if self
            .members
            .values()
            .any(|m| m.state != MemberState::Stable || m.member_epoch != self.assignment_epoch)
        {
            "Reconciling"
        } else {
            "Stable"
        }
    }

    /// The member id holding a static instance id.
    pub fn static_member(&self, instance_id: &str) -> Option<&str> {
        self.members
            .values()
            .find(|m| m.instance_id.as_deref() == Some(instance_id))
            .map(|m| m.id.as_str())
    }

    /// Whether any member other than `except` owns the partition or has yet to revoke it.
    fn owned_elsewhere(&self, except: &str, topic: &Uuid, partition: i32) -> bool {
        self.members.values().any(|m| {
            m.id != except
                && (contains(&m.assigned, topic, partition)
                    || contains(&m.pending_revocation, topic, partition))
        })
    }

    /// Kafka's CurrentAssignmentBuilder: moves one member a step towards its target, given what
    /// its heartbeat says it owns (`None`: the heartbeat did not say). Returns whether anything
    /// changed.
    pub fn reconcile(&mut self, member_id: &str, owned: Option<&Assignment>, now: Instant) -> bool {
        let Some(m) = self.members.get(member_id) else {
            return false;
        };
        let before = m.clone();
        let next = match m.state {
            MemberState::UnrevokedPartitions => {
                // The member may move on once its heartbeat no longer lists anything it must revoke.
                let revoked = owned.is_some_and(|o| {
                    !m.pending_revocation
                        .iter()
                        .any(|(t, ps)| ps.iter().any(|p| contains(o, t, *p)))
                });
                revoked.then(|| {
                    let mut m = m.clone();
                    m.pending_revocation.clear();
                    m.revoke_by = None;
                    m
                })
            }
            MemberState::Stable | MemberState::UnreleasedPartitions => Some(m.clone()),
        };
        let Some(mut m) = next else {
            return false;
        };
        if m.state == MemberState::UnrevokedPartitions {
            m.state = MemberState::Stable;
        }
        if m.state == MemberState::Stable && m.member_epoch == self.assignment_epoch {
            self.members.insert(member_id.to_string(), m);
            return self.members[member_id] != before;
        }
        let target = self.target.get(member_id).cloned().unwrap_or_default();
        let mut keep = Assignment::new();
        let mut revoke = Assignment::new();
        for (t, ps) in &m.assigned {
            for p in ps {
                let dest = if contains(&target, t, *p) {
                    &mut keep
                } else {
                    &mut revoke
                };
                dest.entry(*t).or_default().insert(*p);
            }
        }
        // A revocation the client already made (it does not list the partition) needs no round.
        let still_owned = |t: &Uuid, p: i32| owned.is_none_or(|o| contains(o, t, p));
        let must_revoke = revoke
            .iter()
            .any(|(t, ps)| ps.iter().any(|p| still_owned(t, *p)));
        if must_revoke {
            m.assigned = keep;
            m.pending_revocation = revoke;
            m.state = MemberState::UnrevokedPartitions;
            m.revoke_by =
                Some(now + std::time::Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64));
        } else {
            let mut unreleased = false;
            for (t, ps) in &target {
                for p in ps {
                    if contains(&keep, t, *p) {
                        continue;
                    }
                    if self.owned_elsewhere(member_id, t, *p) {
                        unreleased = true;
                    } else {
                        keep.entry(*t).or_default().insert(*p);
                    }
                }
            }
            m.assigned = keep;
            m.pending_revocation.clear();
            m.revoke_by = None;
            m.state = if unreleased {
                MemberState::UnreleasedPartitions
            } else {
                MemberState::Stable
            };
            if m.member_epoch != self.assignment_epoch {
                m.previous_member_epoch = m.member_epoch;
                m.member_epoch = self.assignment_epoch;
            }
        }
        m.record_partition_epochs();
        self.members.insert(member_id.to_string(), m);
        self.members[member_id] != before
    }
}

impl ConsumerMember {
    /// The epoch at which the member was given the partition, if it owns it or must revoke it.
    pub fn assignment_epoch(&self, topic: &Uuid, partition: i32) -> Option<i32> {
        self.partition_epochs.get(topic)?.get(&partition).copied()
    }

    /// Partitions new to the member get its current epoch; partitions it no longer has are
    /// forgotten.
    fn record_partition_epochs(&mut self) {
        let mut epochs: BTreeMap<Uuid, BTreeMap<i32, i32>> = BTreeMap::new();
        for (t, ps) in self.assigned.iter().chain(self.pending_revocation.iter()) {
            for p in ps {
                let e = self.assignment_epoch(t, *p).unwrap_or(self.member_epoch);
                epochs.entry(*t).or_default().insert(*p, e);
            }
        }
        self.partition_epochs = epochs;
    }
}

fn contains(a: &Assignment, topic: &Uuid, partition: i32) -> bool {
    a.get(topic).is_some_and(|ps| ps.contains(&partition))
}

/// An assignment without empty topic entries, for comparisons.
pub fn normalized(a: &Assignment) -> Assignment {
    a.iter()
        .filter(|(_, ps)| !ps.is_empty())
        .map(|(t, ps)| (*t, ps.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn member(id: &str) -> ConsumerMember {
        ConsumerMember {
            id: id.to_string(),
            instance_id: None,
            rack_id: None,
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            topic_names: vec!["t".into()],
            topic_regex: None,
            server_assignor: None,
            rebalance_timeout_ms: 1000,
            member_epoch: 0,
            previous_member_epoch: 0,
            state: MemberState::Stable,
            assigned: Assignment::new(),
            pending_revocation: Assignment::new(),
            partition_epochs: BTreeMap::new(),
            last_heartbeat: Instant::now(),
            revoke_by: None,
        }
    }

    fn parts(t: Uuid, ps: &[i32]) -> Assignment {
        BTreeMap::from([(t, ps.iter().copied().collect())])
    }

    #[tokio::test]
    async fn a_partition_moves_only_after_its_owner_revoked_it() {
        let t = Uuid::from_u128(7);
        let now = Instant::now();
        let mut g = ConsumerGroup {
            group_epoch: 2,
            assignment_epoch: 2,
            ..Default::default()
        };
        let mut a = member("a");
        a.member_epoch = 1;
        a.assigned = parts(t, &[0, 1]);
        g.members.insert("a".into(), a);
        g.members.insert("b".into(), member("b"));
        g.target.insert("a".into(), parts(t, &[0]));
        g.target.insert("b".into(), parts(t, &[1]));

        // b cannot take partition 1 while a owns it.
        assert!(g.reconcile("b", Some(&Assignment::new()), now));
        let b = &g.members["b"];
        assert_eq!(b.state, MemberState::UnreleasedPartitions);
        assert_eq!(b.member_epoch, 2);
        assert!(normalized(&b.assigned).is_empty());

        // a must revoke 1 first, keeping its epoch and getting nothing new.
        assert!(g.reconcile("a", Some(&parts(t, &[0, 1])), now));
        let a = &g.members["a"];
        assert_eq!(a.state, MemberState::UnrevokedPartitions);
        assert_eq!(a.member_epoch, 1);
        assert_eq!(a.assigned, parts(t, &[0]));
        assert!(a.revoke_by.is_some());

        // Still listing 1: nothing moves.
        assert!(!g.reconcile("a", Some(&parts(t, &[0, 1])), now));
        assert!(!g.reconcile("b", Some(&Assignment::new()), now));

        // a revoked: it reaches the target epoch, and then b gets partition 1.
        assert!(g.reconcile("a", Some(&parts(t, &[0])), now));
        assert_eq!(g.members["a"].state, MemberState::Stable);
        assert_eq!(g.members["a"].member_epoch, 2);
        assert_eq!(g.members["a"].previous_member_epoch, 1);
        assert!(g.reconcile("b", Some(&Assignment::new()), now));
        assert_eq!(g.members["b"].assigned, parts(t, &[1]));
        assert_eq!(g.members["b"].state, MemberState::Stable);
        assert_eq!(g.state(), "Stable");
    }

    #[tokio::test]
    async fn group_states() {
        let mut g = ConsumerGroup::default();
        assert_eq!(g.state(), "Empty");
        g.members.insert("a".into(), member("a"));
        g.group_epoch = 1;
        assert_eq!(g.state(), "Assigning");
        g.assignment_epoch = 1;
        assert_eq!(g.state(), "Reconciling");
        g.members.get_mut("a").unwrap().member_epoch = 1;
        assert_eq!(g.state(), "Stable");
    }
}
