//! One group's state: its members, its place in the rebalance state machine, and the protocol
//! its members have in common. Plain data with no locking or timers: the coordinator holds each
//! `Group` behind its own mutex.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::time::Duration;

use bytes::Bytes;
use tokio::sync::oneshot;
use tokio::time::Instant;

use kafka_protocol::error::ResponseError;

use super::{code, JoinResult, SyncResult};
use crate::store::{CommittedOffset, GroupMemberRecord, GroupRecord};

/// Where a group is in the classic protocol's state machine (Kafka's names and transitions).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GroupState {
    Empty,
    PreparingRebalance,
    CompletingRebalance,
    Stable,
    Dead,
}

impl GroupState {
    /// The names Kafka uses in DescribeGroups and ListGroups.
    pub fn name(self) -> &'static str {
        match self {
            GroupState::Empty => "Empty",
            GroupState::PreparingRebalance => "PreparingRebalance",
            GroupState::CompletingRebalance => "CompletingRebalance",
            GroupState::Stable => "Stable",
            GroupState::Dead => "Dead",
        }
    }
}

/// One member as the coordinator knows it, with the responses it is waiting for.
pub(super) struct Member {
    pub(super) id: String,
    pub(super) instance_id: Option<String>,
    pub(super) client_id: String,
    pub(super) client_host: String,
    pub(super) session_timeout: Duration,
    pub(super) rebalance_timeout: Duration,
    pub(super) protocols: Vec<(String, Bytes)>,
    pub(super) assignment: Bytes,
    /// The JoinGroup or SyncGroup response this member waits for, if any.
    pub(super) awaiting_join: Option<oneshot::Sender<JoinResult>>,
    pub(super) awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    /// Refreshed by heartbeats, joins, syncs and commits; the session timeout counts from it.
    pub(super) last_heartbeat: Instant,
    /// Joined in the current rebalance round (so the join can complete when everyone has).
    pub(super) joined: bool,
}

impl Member {
    pub(super) fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    pub(super) fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

/// One group: its members, generation, chosen protocol and committed offsets.
pub(super) struct Group {
    pub(super) id: String,
    pub(super) state: GroupState,
    pub(super) generation_id: i32,
    pub(super) protocol_type: Option<String>,
    pub(super) protocol_name: Option<String>,
    pub(super) leader_id: Option<String>,
    /// By member id; a BTreeMap so the first member (a new leader when one is needed) and the
    /// member lists in responses come in a stable order.
    pub(super) members: BTreeMap<String, Member>,
    /// Static members (KIP-345): group instance id → the member id currently holding it.
    pub(super) static_members: HashMap<String, String>,
    /// Member ids handed out with MEMBER_ID_REQUIRED (KIP-394) and not yet joined with.
    pub(super) pending_members: HashSet<String>,
    /// Bumped at every PreparingRebalance so a stale rebalance timer does nothing.
    pub(super) rebalance_round: u64,
    /// While the initial rebalance delay runs, joins may not complete the round early.
    pub(super) delaying_initial_join: bool,
    /// A member joined while the initial delay ran: the delay is extended once more (Kafka's
    /// `newMemberAdded`), so members that start together join one generation.
    pub(super) new_member_added: bool,
    /// Committed offsets by (topic, partition), as last stored.
    pub(super) offsets: BTreeMap<(String, i32), CommittedOffset>,
    /// Offsets committed by open transactions (TxnOffsetCommit), by producer id: they replace
    /// `offsets` when the transaction commits, and vanish when it aborts.
    pub(super) pending_txn_offsets: HashMap<i64, BTreeMap<(String, i32), CommittedOffset>>,
    /// Set when this is a KIP-848 consumer group; the classic fields above then stay Empty.
    pub(super) consumer: Option<super::consumer::ConsumerGroup>,
}

impl Group {
    pub(super) fn new(id: &str) -> Group {
        Group {
            id: id.to_string(),
            state: GroupState::Empty,
            generation_id: 0,
            protocol_type: None,
            protocol_name: None,
            leader_id: None,
            members: BTreeMap::new(),
            static_members: HashMap::new(),
            pending_members: HashSet::new(),
            rebalance_round: 0,
            delaying_initial_join: false,
            new_member_added: false,
            offsets: BTreeMap::new(),
            pending_txn_offsets: HashMap::new(),
            consumer: None,
        }
    }

    /// The record that makes this group's membership durable (Kafka's GroupMetadataValue): each
    /// member with its metadata for the chosen protocol and its assignment.
    pub(super) fn to_record(&self) -> GroupRecord {
        let protocol = self.protocol_name.clone().unwrap_or_default();
        GroupRecord {
            protocol_type: self.protocol_type.clone().unwrap_or_default(),
            generation: self.generation_id,
            protocol: self.protocol_name.clone(),
            leader: self.leader_id.clone(),
            current_state_timestamp_ms: crate::now_ms(),
            members: self
                .members
                .values()
                .map(|m| GroupMemberRecord {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    rebalance_timeout_ms: m.rebalance_timeout.as_millis().min(i32::MAX as u128)
                        as i32,
                    session_timeout_ms: m.session_timeout.as_millis().min(i32::MAX as u128) as i32,
                    subscription: m.metadata_for(&protocol).to_vec(),
                    assignment: m.assignment.to_vec(),
                })
                .collect(),
        }
    }

    /// A group as a restarted coordinator finds it, as Kafka loads one: Stable with the stored
    /// members and their assignments, or Empty. Each member knows only the chosen protocol, and
    /// its session timeout counts from now (the caller starts the timers).
    pub(super) fn from_record(id: &str, rec: GroupRecord) -> Group {
        let mut g = Group::new(id);
        g.generation_id = rec.generation;
        g.protocol_type = (!rec.protocol_type.is_empty()).then_some(rec.protocol_type);
        if rec.members.is_empty() {
            return g;
        }
        let protocol = rec.protocol.unwrap_or_default();
        for m in rec.members {
            if let Some(instance) = &m.group_instance_id {
                g.static_members
                    .insert(instance.clone(), m.member_id.clone());
            }
            g.members.insert(
                m.member_id.clone(),
                Member {
                    id: m.member_id,
                    instance_id: m.group_instance_id,
                    client_id: m.client_id,
                    client_host: m.client_host,
                    session_timeout: Duration::from_millis(m.session_timeout_ms.max(0) as u64),
                    rebalance_timeout: Duration::from_millis(m.rebalance_timeout_ms.max(0) as u64),
                    protocols: vec![(protocol.clone(), Bytes::from(m.subscription))],
                    assignment: Bytes::from(m.assignment),
                    awaiting_join: None,
                    awaiting_sync: None,
                    last_heartbeat: Instant::now(),
                    joined: false,
                },
            );
        }
        g.protocol_name = Some(protocol);
        g.leader_id = rec
            .leader
            .filter(|l| g.members.contains_key(l))
            .or_else(|| g.members.keys().next().cloned());
        g.state = GroupState::Stable;
        g
    }

    /// Kafka's validateMember, for commits: a static member by its instance id (one the group does
    /// not know is UNKNOWN_MEMBER_ID, one now held by another member id FENCED_INSTANCE_ID), and the
    /// member id itself (UNKNOWN_MEMBER_ID).
    pub(super) fn validate_member(
        &self,
        member_id: &str,
        instance_id: Option<&str>,
    ) -> Result<(), ResponseError> {
        if let Some(instance) = instance_id {
            match self.static_members.get(instance) {
                None => return Err(ResponseError::UnknownMemberId),
                Some(current) if current != member_id => {
                    return Err(ResponseError::FencedInstanceId)
                }
                Some(_) => {}
            }
        }
        if !self.members.contains_key(member_id) {
            return Err(ResponseError::UnknownMemberId);
        }
        Ok(())
    }

    /// A static member whose instance id now maps to another member id is fenced (KIP-345).
    pub(super) fn is_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(current) => current != member_id,
            None => false,
        }
    }

    pub(super) fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.joined)
    }

    /// The protocol every member supports that most members rank highest.
    pub(super) fn select_protocol(&self) -> Option<String> {
        let mut candidates: Option<HashSet<&str>> = None;
        for m in self.members.values() {
            let names: HashSet<&str> = m.protocols.iter().map(|(n, _)| n.as_str()).collect();
            candidates = Some(match candidates {
                None => names,
                Some(c) => c.intersection(&names).copied().collect(),
            });
        }
        let candidates = candidates?;
        let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
        for m in self.members.values() {
            if let Some((n, _)) = m
                .protocols
                .iter()
                .find(|(n, _)| candidates.contains(n.as_str()))
            {
                *votes.entry(n.as_str()).or_default() += 1;
            }
        }
        votes
            .into_iter()
            .max_by_key(|(_, v)| *v)
            .map(|(n, _)| n.to_string())
    }

    /// Would a member with these protocols still leave the group a protocol in common?
    pub(super) fn supports(
        &self,
        protocol_type: &str,
        protocols: &[(String, Bytes)],
        except: Option<&str>,
    ) -> bool {
        if self.state == GroupState::Empty
            || self.members.keys().all(|k| Some(k.as_str()) == except)
        {
            return !protocol_type.is_empty() && !protocols.is_empty();
        }
        if self.protocol_type.as_deref() != Some(protocol_type) {
            return false;
        }
        protocols.iter().any(|(name, _)| {
            self.members
                .values()
                .filter(|m| Some(m.id.as_str()) != except)
                .all(|m| m.protocols.iter().any(|(n, _)| n == name))
        })
    }

    pub(super) fn join_result_for(&self, member_id: &str) -> JoinResult {
        let leader = self.leader_id.clone().unwrap_or_default();
        let protocol = self.protocol_name.clone().unwrap_or_default();
        let members = if leader == member_id {
            self.members
                .values()
                .map(|m| {
                    (
                        m.id.clone(),
                        m.instance_id.clone(),
                        m.metadata_for(&protocol),
                    )
                })
                .collect()
        } else {
            Vec::new()
        };
        JoinResult {
            error: 0,
            generation_id: self.generation_id,
            protocol_type: self.protocol_type.clone(),
            protocol_name: self.protocol_name.clone(),
            leader_id: leader,
            member_id: member_id.to_string(),
            members,
            skip_assignment: false,
            flush: false,
        }
    }

    /// Takes a member out, and nothing more: requests it has waiting are answered
    /// UNKNOWN_MEMBER_ID, its instance id is freed, and leadership moves on if it led. Moving the
    /// group's state on is the caller's (`GroupCoordinator::remove_member`, `complete_join`).
    pub(super) fn remove_member_entry(&mut self, id: &str) {
        if let Some(mut m) = self.members.remove(id) {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error(code(ResponseError::UnknownMemberId), id));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(code(ResponseError::UnknownMemberId)));
            }
            if let Some(instance) = &m.instance_id {
                if self.static_members.get(instance).map(String::as_str) == Some(id) {
                    self.static_members.remove(instance);
                }
            }
        }
        if self.leader_id.as_deref() == Some(id) {
            self.leader_id = self.members.keys().next().cloned();
        }
    }
}
