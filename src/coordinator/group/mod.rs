//! The group coordinator for the classic consumer group protocol, modelled on Apache Kafka's.
//!
//! Each group is a state machine (Empty → PreparingRebalance → CompletingRebalance → Stable, and Dead
//! once deleted) behind its own mutex, so one group's rebalance never blocks another group or the
//! data path. The registry lock is held only to find or insert a group. Neither lock is held across
//! an `.await`: requests that must wait (JoinGroup until the rebalance completes, SyncGroup until the
//! leader assigns) get a oneshot receiver, completed by whichever request or timer finishes the phase.
//!
//! Timers are tasks that sleep until a deadline and then re-check the state under the lock:
//! - one per member for its session timeout (refreshed by heartbeats and joins);
//! - one per rebalance round for the rebalance timeout (members that did not rejoin are removed);
//! - one per pending member id (KIP-394) that the client never used.
//!
//! Committed offsets live in memory per group and in the store; a commit is answered after the store
//! flushed it, so an acknowledged commit survives a crash. Membership is not persisted: after a
//! restart, members find themselves unknown and rejoin, as with a coordinator failover in Kafka.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use crate::store::{CommittedOffset, Store, StoreError};

/// Limits from the broker configuration.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: u64,
    pub max_metadata_bytes: usize,
}

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

/// A JoinGroup request, decoded.
#[derive(Debug, Clone)]
pub struct JoinRequest {
    pub group_id: String,
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub session_timeout_ms: i32,
    pub rebalance_timeout_ms: i32,
    pub protocol_type: String,
    pub protocols: Vec<(String, Bytes)>,
    /// v4+: a new member first gets MEMBER_ID_REQUIRED with its id (KIP-394).
    pub require_known_member_id: bool,
    /// v9+: the response can tell a rejoining static leader not to reassign (KIP-814).
    pub supports_skip_assignment: bool,
}

/// What JoinGroup answers.
#[derive(Debug, Clone, Default)]
pub struct JoinResult {
    pub error: i16,
    pub generation_id: i32,
    pub protocol_type: Option<String>,
    pub protocol_name: Option<String>,
    pub leader_id: String,
    pub member_id: String,
    /// Filled for the leader only: every member with its metadata for the chosen protocol.
    pub members: Vec<(String, Option<String>, Bytes)>,
    pub skip_assignment: bool,
}

impl JoinResult {
    fn error(code: i16, member_id: &str) -> JoinResult {
        JoinResult {
            error: code,
            generation_id: -1,
            member_id: member_id.to_string(),
            ..JoinResult::default()
        }
    }
}

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
}

impl SyncResult {
    fn error(code: i16) -> SyncResult {
        SyncResult {
            error: code,
            ..SyncResult::default()
        }
    }
}

/// An answer now, or one to wait for.
pub enum Pending<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

struct Member {
    id: String,
    instance_id: Option<String>,
    client_id: String,
    client_host: String,
    session_timeout: Duration,
    rebalance_timeout: Duration,
    protocol_type: String,
    protocols: Vec<(String, Bytes)>,
    assignment: Bytes,
    awaiting_join: Option<oneshot::Sender<JoinResult>>,
    awaiting_sync: Option<oneshot::Sender<SyncResult>>,
    last_heartbeat: Instant,
    /// Joined in the current rebalance round (so the join can complete when everyone has).
    joined: bool,
}

impl Member {
    fn metadata_for(&self, protocol: &str) -> Bytes {
        self.protocols
            .iter()
            .find(|(n, _)| n == protocol)
            .map(|(_, m)| m.clone())
            .unwrap_or_default()
    }

    fn same_protocols(&self, protocols: &[(String, Bytes)]) -> bool {
        self.protocols == protocols
    }
}

struct Group {
    id: String,
    state: GroupState,
    generation_id: i32,
    protocol_type: Option<String>,
    protocol_name: Option<String>,
    leader_id: Option<String>,
    members: BTreeMap<String, Member>,
    static_members: HashMap<String, String>,
    pending_members: HashSet<String>,
    /// Bumped at every PreparingRebalance so a stale rebalance timer does nothing.
    rebalance_round: u64,
    /// While the initial rebalance delay runs, joins may not complete the round early.
    delaying_initial_join: bool,
    offsets: BTreeMap<(String, i32), CommittedOffset>,
}

impl Group {
    fn new(id: &str) -> Group {
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
            offsets: BTreeMap::new(),
        }
    }

    /// A static member whose instance id now maps to another member id is fenced (KIP-345).
    fn is_fenced(&self, member_id: &str, instance_id: Option<&str>) -> bool {
        match instance_id.and_then(|i| self.static_members.get(i)) {
            Some(current) => current != member_id,
            None => false,
        }
    }

    fn all_joined(&self) -> bool {
        self.pending_members.is_empty() && self.members.values().all(|m| m.joined)
    }

    /// The protocol every member supports that most members rank highest.
    fn select_protocol(&self) -> Option<String> {
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
    fn supports(
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

    fn join_result_for(&self, member_id: &str) -> JoinResult {
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
        }
    }
}

/// One topic's committed offsets by partition; `None` where nothing was committed.
pub type TopicOffsets = (String, Vec<(i32, Option<CommittedOffset>)>);

/// Handle to the coordinator; cheap to clone.
#[derive(Clone)]
pub struct GroupCoordinator {
    shared: Arc<Shared>,
}

struct Shared {
    groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    store: Store,
    config: GroupConfig,
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

impl GroupCoordinator {
    /// Loads committed offsets; each group that has some exists again, Empty.
    pub fn open(store: Store, config: GroupConfig) -> anyhow::Result<GroupCoordinator> {
        let mut groups: HashMap<String, Group> = HashMap::new();
        for (group, protocol_type) in store.load_group_protocol_types()? {
            groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group))
                .protocol_type = Some(protocol_type);
        }
        for (group, topic, partition, committed) in store.load_offsets()? {
            groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group))
                .offsets
                .insert((topic, partition), committed);
        }
        Ok(GroupCoordinator {
            shared: Arc::new(Shared {
                groups: Mutex::new(
                    groups
                        .into_iter()
                        .map(|(k, g)| (k, Arc::new(Mutex::new(g))))
                        .collect(),
                ),
                store,
                config,
            }),
        })
    }

    fn group(&self, id: &str) -> Option<Arc<Mutex<Group>>> {
        self.shared
            .groups
            .lock()
            .expect("groups poisoned")
            .get(id)
            .cloned()
    }

    fn group_or_create(&self, id: &str) -> Arc<Mutex<Group>> {
        let mut groups = self.shared.groups.lock().expect("groups poisoned");
        groups
            .entry(id.to_string())
            .or_insert_with(|| Arc::new(Mutex::new(Group::new(id))))
            .clone()
    }

    // ---------------------------------------------------------------- JoinGroup

    pub fn join(&self, req: JoinRequest) -> Pending<JoinResult> {
        if req.group_id.is_empty() {
            return Pending::Ready(JoinResult::error(
                code(ResponseError::InvalidGroupId),
                &req.member_id,
            ));
        }
        let cfg = &self.shared.config;
        if req.session_timeout_ms < cfg.min_session_timeout_ms
            || req.session_timeout_ms > cfg.max_session_timeout_ms
        {
            return Pending::Ready(JoinResult::error(
                code(ResponseError::InvalidSessionTimeout),
                &req.member_id,
            ));
        }
        let group = if req.member_id.is_empty() {
            self.group_or_create(&req.group_id)
        } else {
            match self.group(&req.group_id) {
                Some(g) => g,
                None => {
                    return Pending::Ready(JoinResult::error(
                        code(ResponseError::UnknownMemberId),
                        &req.member_id,
                    ))
                }
            }
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            // Deleted while we looked it up: the client retries and finds a fresh group.
            return Pending::Ready(JoinResult::error(
                code(ResponseError::CoordinatorNotAvailable),
                &req.member_id,
            ));
        }
        let except = (!req.member_id.is_empty()).then_some(req.member_id.as_str());
        if !g.supports(&req.protocol_type, &req.protocols, except) {
            return Pending::Ready(JoinResult::error(
                code(ResponseError::InconsistentGroupProtocol),
                &req.member_id,
            ));
        }
        if req.member_id.is_empty() {
            self.join_new_member(&mut g, req)
        } else {
            self.join_known_member(&mut g, req)
        }
    }

    fn join_new_member(&self, g: &mut Group, req: JoinRequest) -> Pending<JoinResult> {
        let new_id = format!("{}-{}", req.client_id, uuid::Uuid::new_v4());
        if let Some(instance) = req.group_instance_id.clone() {
            if let Some(old_id) = g.static_members.get(&instance).cloned() {
                return self.replace_static_member(g, old_id, new_id, req);
            }
            let (tx, rx) = oneshot::channel();
            self.add_member(g, new_id, req, tx);
            return Pending::Wait(rx);
        }
        if req.require_known_member_id {
            // KIP-394: hand out the id first, so a client that times out and retries does not leave
            // a ghost member behind; the id expires if it is never used.
            g.pending_members.insert(new_id.clone());
            self.expire_pending_later(
                &g.id,
                new_id.clone(),
                Duration::from_millis(req.session_timeout_ms as u64),
            );
            return Pending::Ready(JoinResult::error(
                code(ResponseError::MemberIdRequired),
                &new_id,
            ));
        }
        let (tx, rx) = oneshot::channel();
        self.add_member(g, new_id, req, tx);
        Pending::Wait(rx)
    }

    fn join_known_member(&self, g: &mut Group, req: JoinRequest) -> Pending<JoinResult> {
        let id = req.member_id.clone();
        if g.pending_members.remove(&id) {
            let (tx, rx) = oneshot::channel();
            self.add_member(g, id, req, tx);
            return Pending::Wait(rx);
        }
        if g.is_fenced(&id, req.group_instance_id.as_deref()) {
            return Pending::Ready(JoinResult::error(
                code(ResponseError::FencedInstanceId),
                &id,
            ));
        }
        if !g.members.contains_key(&id) {
            return Pending::Ready(JoinResult::error(code(ResponseError::UnknownMemberId), &id));
        }
        match g.state {
            GroupState::PreparingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.update_member(g, &id, req, tx);
                self.maybe_complete_join(g);
                Pending::Wait(rx)
            }
            GroupState::CompletingRebalance | GroupState::Stable => {
                let m = &g.members[&id];
                let unchanged = m.same_protocols(&req.protocols);
                let is_leader = g.leader_id.as_deref() == Some(id.as_str());
                // A member that lost its JoinGroup response rejoins with the same metadata: give it
                // the current generation again. A changed subscription, or the leader asking to
                // reassign in Stable, starts a new rebalance.
                if unchanged && (g.state == GroupState::CompletingRebalance || !is_leader) {
                    if let Some(m) = g.members.get_mut(&id) {
                        m.last_heartbeat = Instant::now();
                    }
                    return Pending::Ready(g.join_result_for(&id));
                }
                let (tx, rx) = oneshot::channel();
                self.update_member(g, &id, req, tx);
                self.prepare_rebalance(g, "member rejoined with new metadata or as leader");
                Pending::Wait(rx)
            }
            GroupState::Empty | GroupState::Dead => {
                Pending::Ready(JoinResult::error(code(ResponseError::UnknownMemberId), &id))
            }
        }
    }

    /// A static member came back with a new member id (it restarted). In a Stable group with the
    /// same subscription it gets its old assignment back without a rebalance (KIP-345).
    fn replace_static_member(
        &self,
        g: &mut Group,
        old_id: String,
        new_id: String,
        req: JoinRequest,
    ) -> Pending<JoinResult> {
        let Some(mut m) = g.members.remove(&old_id) else {
            g.static_members
                .remove(req.group_instance_id.as_deref().unwrap_or_default());
            let (tx, rx) = oneshot::channel();
            self.add_member(g, new_id, req, tx);
            return Pending::Wait(rx);
        };
        // The old incarnation may still be waiting on a response: it is fenced now.
        if let Some(tx) = m.awaiting_join.take() {
            let _ = tx.send(JoinResult::error(
                code(ResponseError::FencedInstanceId),
                &old_id,
            ));
        }
        if let Some(tx) = m.awaiting_sync.take() {
            let _ = tx.send(SyncResult::error(code(ResponseError::FencedInstanceId)));
        }
        let unchanged = m.same_protocols(&req.protocols);
        let was_leader = g.leader_id.as_deref() == Some(old_id.as_str());
        m.id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        m.last_heartbeat = Instant::now();
        let instance = req.group_instance_id.clone().unwrap_or_default();
        g.static_members.insert(instance, new_id.clone());
        if g.leader_id.as_deref() == Some(old_id.as_str()) {
            g.leader_id = Some(new_id.clone());
        }
        g.members.insert(new_id.clone(), m);
        self.watch_session(&g.id, new_id.clone());
        tracing::info!(group = %g.id, old = %old_id, new = %new_id, "static member rejoined");
        match g.state {
            GroupState::Stable if unchanged => {
                let mut result = g.join_result_for(&new_id);
                if was_leader {
                    if req.supports_skip_assignment {
                        // The leader gets the members (to watch their metadata) but need not assign.
                        result.skip_assignment = true;
                    } else {
                        // Older clients cannot be told to skip: as in Kafka, answer as to a
                        // follower (old leader id, no members), so it keeps its assignment.
                        result.leader_id = old_id.clone();
                        result.members.clear();
                    }
                }
                Pending::Ready(result)
            }
            GroupState::PreparingRebalance => {
                let (tx, rx) = oneshot::channel();
                self.update_member(g, &new_id, req, tx);
                self.maybe_complete_join(g);
                Pending::Wait(rx)
            }
            _ => {
                let (tx, rx) = oneshot::channel();
                self.update_member(g, &new_id, req, tx);
                self.prepare_rebalance(g, "static member rejoined");
                Pending::Wait(rx)
            }
        }
    }

    fn add_member(
        &self,
        g: &mut Group,
        id: String,
        req: JoinRequest,
        tx: oneshot::Sender<JoinResult>,
    ) {
        if g.members.is_empty() {
            g.protocol_type = Some(req.protocol_type.clone());
        }
        if let Some(instance) = &req.group_instance_id {
            g.static_members.insert(instance.clone(), id.clone());
        }
        g.members.insert(
            id.clone(),
            Member {
                id: id.clone(),
                instance_id: req.group_instance_id,
                client_id: req.client_id,
                client_host: req.client_host,
                session_timeout: Duration::from_millis(req.session_timeout_ms as u64),
                rebalance_timeout: Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64),
                protocol_type: req.protocol_type,
                protocols: req.protocols,
                assignment: Bytes::new(),
                awaiting_join: Some(tx),
                awaiting_sync: None,
                last_heartbeat: Instant::now(),
                joined: true,
            },
        );
        if g.leader_id.is_none() {
            g.leader_id = Some(id.clone());
        }
        self.watch_session(&g.id, id.clone());
        tracing::info!(group = %g.id, member = %id, "member joined");
        if g.state == GroupState::PreparingRebalance {
            self.maybe_complete_join(g);
        } else {
            self.prepare_rebalance(g, "new member joined");
        }
    }

    fn update_member(
        &self,
        g: &mut Group,
        id: &str,
        req: JoinRequest,
        tx: oneshot::Sender<JoinResult>,
    ) {
        if let Some(m) = g.members.get_mut(id) {
            if let Some(old) = m.awaiting_join.replace(tx) {
                // A duplicate join from the same member: the earlier request is superseded.
                let _ = old.send(JoinResult::error(
                    code(ResponseError::RebalanceInProgress),
                    id,
                ));
            }
            m.protocols = req.protocols;
            m.protocol_type = req.protocol_type;
            m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
            m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
            m.joined = true;
            m.last_heartbeat = Instant::now();
        }
    }

    fn prepare_rebalance(&self, g: &mut Group, reason: &str) {
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
        let delay = if from_empty && !initial.is_zero() {
            g.delaying_initial_join = true;
            initial.min(rebalance_timeout.max(initial))
        } else {
            g.delaying_initial_join = false;
            rebalance_timeout
        };
        tracing::info!(group = %g.id, generation = g.generation_id, reason, "preparing rebalance");
        self.complete_join_later(&g.id, g.rebalance_round, delay);
        self.maybe_complete_join(g);
    }

    fn maybe_complete_join(&self, g: &mut Group) {
        if g.state == GroupState::PreparingRebalance && !g.delaying_initial_join && g.all_joined() {
            self.complete_join(g);
        }
    }

    /// Ends the join phase: members that did not rejoin are dropped, a new generation starts, and
    /// every joined member gets its JoinGroup response (the leader with the member list).
    fn complete_join(&self, g: &mut Group) {
        let gone: Vec<String> = g
            .members
            .values()
            .filter(|m| !m.joined)
            .map(|m| m.id.clone())
            .collect();
        for id in gone {
            tracing::info!(group = %g.id, member = %id, "member did not rejoin in time; removed");
            self.remove_member_entry(g, &id);
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

    fn remove_member_entry(&self, g: &mut Group, id: &str) {
        if let Some(mut m) = g.members.remove(id) {
            if let Some(tx) = m.awaiting_join.take() {
                let _ = tx.send(JoinResult::error(code(ResponseError::UnknownMemberId), id));
            }
            if let Some(tx) = m.awaiting_sync.take() {
                let _ = tx.send(SyncResult::error(code(ResponseError::UnknownMemberId)));
            }
            if let Some(instance) = &m.instance_id {
                if g.static_members.get(instance).map(String::as_str) == Some(id) {
                    g.static_members.remove(instance);
                }
            }
        }
        if g.leader_id.as_deref() == Some(id) {
            g.leader_id = g.members.keys().next().cloned();
        }
    }

    /// Removes a member (leave, session expiry) and moves the group on as Kafka does.
    fn remove_member(&self, g: &mut Group, id: &str, reason: &str) {
        self.remove_member_entry(g, id);
        tracing::info!(group = %g.id, member = %id, reason, "member removed");
        match g.state {
            GroupState::Stable | GroupState::CompletingRebalance => {
                self.prepare_rebalance(g, reason)
            }
            GroupState::PreparingRebalance => self.maybe_complete_join(g),
            GroupState::Empty | GroupState::Dead => {}
        }
    }

    // ---------------------------------------------------------------- timers

    fn complete_join_later(&self, group_id: &str, round: u64, delay: Duration) {
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
    fn watch_session(&self, group_id: &str, member_id: String) {
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

    fn expire_pending_later(&self, group_id: &str, member_id: String, after: Duration) {
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

    // ---------------------------------------------------------------- SyncGroup, Heartbeat, Leave

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
        let ok = |g: &Group, assignment: Bytes| SyncResult {
            error: 0,
            protocol_type: g.protocol_type.clone(),
            protocol_name: g.protocol_name.clone(),
            assignment,
        };
        match g.state {
            GroupState::Empty => {
                Pending::Ready(SyncResult::error(code(ResponseError::UnknownMemberId)))
            }
            GroupState::PreparingRebalance => {
                Pending::Ready(SyncResult::error(code(ResponseError::RebalanceInProgress)))
            }
            GroupState::Stable => {
                let assignment = g.members[member_id].assignment.clone();
                Pending::Ready(ok(&g, assignment))
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
                    let mut given: HashMap<String, Bytes> = assignments.into_iter().collect();
                    for m in g.members.values_mut() {
                        // A member the leader left out gets an empty (but valid) assignment.
                        m.assignment = given.remove(&m.id).unwrap_or_default();
                    }
                    g.state = GroupState::Stable;
                    tracing::info!(group = %g.id, generation = g.generation_id, "rebalance complete: group stable");
                    let results: Vec<(String, SyncResult)> = g
                        .members
                        .values()
                        .map(|m| (m.id.clone(), ok(&g, m.assignment.clone())))
                        .collect();
                    for (id, result) in results {
                        if let Some(tx) =
                            g.members.get_mut(&id).and_then(|m| m.awaiting_sync.take())
                        {
                            let _ = tx.send(result);
                        }
                    }
                }
                Pending::Wait(rx)
            }
        }
    }

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

    // ---------------------------------------------------------------- offsets

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
        if !simple {
            if !g.members.contains_key(member_id) {
                return Err(code(ResponseError::UnknownMemberId));
            }
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
        let subscribed: HashSet<String> = if g.protocol_type.as_deref() == Some("consumer") {
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
            .map_err(|e: StoreError| {
                tracing::error!(group = group_id, error = %e, "deleting offsets failed");
                code(ResponseError::KafkaStorageError)
            })?;
        for (topic, p, _) in removals {
            g.offsets.remove(&(topic, p));
        }
        Ok(codes)
    }

    pub fn store(&self) -> &Store {
        &self.shared.store
    }

    // ---------------------------------------------------------------- admin

    /// (group id, protocol type, state) of every group, optionally filtered by state name.
    pub fn list(&self, states: &[String]) -> Vec<(String, String, GroupState)> {
        let groups: Vec<_> = self
            .shared
            .groups
            .lock()
            .expect("groups poisoned")
            .values()
            .cloned()
            .collect();
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                let g = g.lock().expect("group poisoned");
                (
                    g.id.clone(),
                    g.protocol_type.clone().unwrap_or_default(),
                    g.state,
                )
            })
            .filter(|(_, _, s)| *s != GroupState::Dead)
            .filter(|(_, _, s)| {
                states.is_empty() || states.iter().any(|f| f.eq_ignore_ascii_case(s.name()))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    pub fn describe(&self, group_id: &str) -> GroupDescription {
        let Some(group) = self.group(group_id) else {
            return GroupDescription {
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            };
        };
        let g = group.lock().expect("group poisoned");
        let stable = g.state == GroupState::Stable;
        let protocol = g.protocol_name.clone().unwrap_or_default();
        GroupDescription {
            state: g.state,
            protocol_type: g.protocol_type.clone().unwrap_or_default(),
            // Kafka reports the protocol, member metadata and assignments only once they are final.
            protocol_name: if stable {
                protocol.clone()
            } else {
                String::new()
            },
            members: g
                .members
                .values()
                .map(|m| MemberDescription {
                    member_id: m.id.clone(),
                    group_instance_id: m.instance_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    metadata: if stable {
                        m.metadata_for(&protocol)
                    } else {
                        Bytes::new()
                    },
                    assignment: if stable {
                        m.assignment.clone()
                    } else {
                        Bytes::new()
                    },
                })
                .collect(),
        }
    }

    /// DeleteGroups: only groups without members; their committed offsets go too.
    pub fn delete_group(&self, group_id: &str) -> i16 {
        let Some(group) = self.group(group_id) else {
            return code(ResponseError::GroupIdNotFound);
        };
        let mut g = group.lock().expect("group poisoned");
        match g.state {
            GroupState::Dead => return code(ResponseError::GroupIdNotFound),
            GroupState::Empty => {}
            _ => return code(ResponseError::NonEmptyGroup),
        }
        if let Err(e) = self.shared.store.delete_group_offsets(group_id) {
            tracing::error!(group = group_id, error = %e, "deleting group offsets failed");
            return code(ResponseError::KafkaStorageError);
        }
        g.state = GroupState::Dead;
        g.offsets.clear();
        for id in std::mem::take(&mut g.pending_members) {
            tracing::debug!(group = group_id, member = %id, "pending member dropped with group");
        }
        drop(g);
        let mut groups = self.shared.groups.lock().expect("groups poisoned");
        if groups.get(group_id).is_some_and(|x| Arc::ptr_eq(x, &group)) {
            groups.remove(group_id);
        }
        tracing::info!(group = group_id, "group deleted");
        0
    }
}

/// Topics in a ConsumerProtocolSubscription (any version: the topic list comes first, after the
/// version). Unparseable metadata subscribes to nothing.
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

    fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
        let store = Store::open(dir, 1 << 20, 1000).unwrap();
        GroupCoordinator::open(
            store,
            GroupConfig {
                min_session_timeout_ms: 10,
                max_session_timeout_ms: 600_000,
                initial_rebalance_delay_ms: 0,
                max_metadata_bytes: 4096,
            },
        )
        .unwrap()
    }

    fn join_req(member: &str, instance: Option<&str>, session_ms: i32) -> JoinRequest {
        JoinRequest {
            group_id: "g".into(),
            member_id: member.into(),
            group_instance_id: instance.map(String::from),
            client_id: "c".into(),
            client_host: "/127.0.0.1".into(),
            session_timeout_ms: session_ms,
            rebalance_timeout_ms: 2_000,
            protocol_type: "consumer".into(),
            protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
            require_known_member_id: true,
            supports_skip_assignment: true,
        }
    }

    fn sync(
        c: &GroupCoordinator,
        generation_id: i32,
        member: &str,
        instance: Option<&str>,
        assignments: Vec<(String, Bytes)>,
    ) -> Pending<SyncResult> {
        c.sync(SyncRequest {
            group_id: "g".into(),
            generation_id,
            member_id: member.into(),
            instance_id: instance.map(String::from),
            assignments,
            ..SyncRequest::default()
        })
    }

    async fn resolve<T>(p: Pending<T>) -> T {
        match p {
            Pending::Ready(t) => t,
            Pending::Wait(rx) => tokio::time::timeout(Duration::from_secs(10), rx)
                .await
                .expect("answered in time")
                .expect("sender kept"),
        }
    }

    /// Joins with KIP-394's two steps and returns the final JoinGroup answer.
    async fn join_fully(
        c: &GroupCoordinator,
        instance: Option<&str>,
        session_ms: i32,
    ) -> JoinResult {
        let first = resolve(c.join(join_req("", instance, session_ms))).await;
        if instance.is_some() {
            return first;
        }
        assert_eq!(first.error, ResponseError::MemberIdRequired.code());
        resolve(c.join(join_req(&first.member_id, None, session_ms))).await
    }

    #[tokio::test]
    async fn single_member_reaches_stable_and_commits() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let j = join_fully(&c, None, 10_000).await;
        assert_eq!(j.error, 0);
        assert_eq!(j.generation_id, 1);
        assert_eq!(j.leader_id, j.member_id);
        assert_eq!(j.members.len(), 1);
        let s = resolve(sync(
            &c,
            1,
            &j.member_id,
            None,
            vec![(j.member_id.clone(), Bytes::from_static(b"A"))],
        ))
        .await;
        assert_eq!((s.error, &s.assignment[..]), (0, &b"A"[..]));
        assert_eq!(c.heartbeat("g", 1, &j.member_id, None), 0);
        assert_eq!(
            c.heartbeat("g", 0, &j.member_id, None),
            ResponseError::IllegalGeneration.code()
        );
        assert_eq!(
            c.heartbeat("g", 1, "nobody", None),
            ResponseError::UnknownMemberId.code()
        );
        let off = CommittedOffset {
            offset: 42,
            leader_epoch: 0,
            metadata: Some("m".into()),
            commit_timestamp_ms: crate::now_ms(),
        };
        let codes = c
            .commit(
                "g",
                1,
                &j.member_id,
                None,
                vec![("t".into(), 0, off.clone())],
                |_, _| true,
            )
            .unwrap();
        assert_eq!(codes, vec![0]);
        assert_eq!(
            c.commit(
                "g",
                0,
                &j.member_id,
                None,
                vec![("t".into(), 0, off.clone())],
                |_, _| true
            ),
            Err(ResponseError::IllegalGeneration.code())
        );
        let fetched = c.fetch_offsets("g", Some(vec![("t".into(), vec![0, 1])]));
        assert_eq!(fetched[0].1[0].1.as_ref().unwrap().offset, 42);
        assert!(fetched[0].1[1].1.is_none());
        assert_eq!(c.describe("g").state, GroupState::Stable);
        assert_eq!(c.delete_group("g"), ResponseError::NonEmptyGroup.code());
        assert_eq!(
            c.leave("g", &[(j.member_id.clone(), None)]).unwrap(),
            vec![0]
        );
        assert_eq!(c.describe("g").state, GroupState::Empty);
        assert_eq!(c.delete_group("g"), 0);
        assert_eq!(c.delete_group("g"), ResponseError::GroupIdNotFound.code());
        assert!(c.fetch_offsets("g", None).is_empty());
    }

    #[tokio::test]
    async fn second_member_triggers_rebalance_and_both_get_assignments() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let a = join_fully(&c, None, 10_000).await;
        resolve(sync(&c, 1, &a.member_id, None, vec![])).await;
        // B joins: the group goes to PreparingRebalance; A learns it from its heartbeat and rejoins.
        let b_first = resolve(c.join(join_req("", None, 10_000))).await;
        let b_join = c.join(join_req(&b_first.member_id, None, 10_000));
        assert_eq!(
            c.heartbeat("g", 1, &a.member_id, None),
            ResponseError::RebalanceInProgress.code()
        );
        let a2 = resolve(c.join(join_req(&a.member_id, None, 10_000))).await;
        let b = resolve(b_join).await;
        assert_eq!((a2.generation_id, b.generation_id), (2, 2));
        assert_eq!(a2.leader_id, a.member_id);
        assert_eq!(a2.members.len(), 2);
        assert!(b.members.is_empty());
        let b_sync = sync(&c, 2, &b.member_id, None, vec![]);
        let a_sync = resolve(sync(
            &c,
            2,
            &a.member_id,
            None,
            vec![(b.member_id.clone(), Bytes::from_static(b"B"))],
        ))
        .await;
        assert_eq!(
            a_sync.assignment.len(),
            0,
            "left out of the assignment: empty but valid"
        );
        assert_eq!(&resolve(b_sync).await.assignment[..], b"B");
    }

    #[tokio::test(start_paused = true)]
    async fn session_timeout_removes_a_silent_member() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let a = join_fully(&c, None, 1_000).await;
        resolve(sync(&c, 1, &a.member_id, None, vec![])).await;
        tokio::time::sleep(Duration::from_millis(1_500)).await;
        assert_eq!(
            c.heartbeat("g", 1, &a.member_id, None),
            ResponseError::UnknownMemberId.code()
        );
        assert_eq!(c.describe("g").state, GroupState::Empty);
    }

    #[tokio::test]
    async fn static_member_rejoins_without_rebalance_and_old_id_is_fenced() {
        let dir = tempfile::tempdir().unwrap();
        let c = coordinator(dir.path());
        let a = join_fully(&c, Some("i-1"), 10_000).await;
        assert_eq!(a.error, 0);
        resolve(sync(
            &c,
            1,
            &a.member_id,
            Some("i-1"),
            vec![(a.member_id.clone(), Bytes::from_static(b"P"))],
        ))
        .await;
        let again = resolve(c.join(join_req("", Some("i-1"), 10_000))).await;
        assert_eq!(again.error, 0);
        assert_eq!(again.generation_id, 1, "no new generation");
        assert_ne!(again.member_id, a.member_id);
        assert_eq!(c.describe("g").state, GroupState::Stable);
        let s = resolve(sync(&c, 1, &again.member_id, Some("i-1"), vec![])).await;
        assert_eq!(&s.assignment[..], b"P");
        assert_eq!(
            c.heartbeat("g", 1, &a.member_id, Some("i-1")),
            ResponseError::FencedInstanceId.code()
        );
    }

    #[tokio::test]
    async fn simple_consumer_commits_and_offsets_survive_restart() {
        let dir = tempfile::tempdir().unwrap();
        {
            let c = coordinator(dir.path());
            let off = CommittedOffset {
                offset: 7,
                leader_epoch: -1,
                metadata: None,
                commit_timestamp_ms: 0,
            };
            assert_eq!(
                c.commit(
                    "simple",
                    -1,
                    "",
                    None,
                    vec![("t".into(), 3, off)],
                    |_, _| true
                )
                .unwrap(),
                vec![0]
            );
            let codes = c
                .commit(
                    "simple",
                    -1,
                    "",
                    None,
                    vec![(
                        "nope".into(),
                        0,
                        CommittedOffset {
                            offset: 1,
                            leader_epoch: -1,
                            metadata: None,
                            commit_timestamp_ms: 0,
                        },
                    )],
                    |t, _| t == "t",
                )
                .unwrap();
            assert_eq!(codes, vec![ResponseError::UnknownTopicOrPartition.code()]);
            c.store().close().unwrap();
        }
        let c = coordinator(dir.path());
        assert_eq!(
            c.fetch_offsets("simple", None)[0].1[0]
                .1
                .as_ref()
                .unwrap()
                .offset,
            7
        );
        assert_eq!(c.list(&[]).len(), 1);
        assert_eq!(
            c.list(&[])[0].1,
            "",
            "a simple consumer's group has no protocol type"
        );
    }

    #[test]
    fn an_emptied_consumer_group_stays_a_consumer_group_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        // Its own runtime, dropped before the restart: the coordinator's timer tasks hold the
        // database open until they are gone.
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async {
            let c = coordinator(dir.path());
            let j = join_fully(&c, None, 10_000).await;
            resolve(sync(&c, 1, &j.member_id, None, vec![])).await;
            c.leave("g", &[(j.member_id.clone(), None)]).unwrap();
            assert_eq!(c.describe("g").protocol_type, "consumer");
            c.store().close().unwrap();
        });
        drop(rt);
        {
            let c = coordinator(dir.path());
            assert_eq!(
                c.list(&[]),
                vec![("g".to_string(), "consumer".to_string(), GroupState::Empty)]
            );
            assert_eq!(c.delete_group("g"), 0);
            c.store().close().unwrap();
        }
        assert!(coordinator(dir.path()).list(&[]).is_empty());
    }

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
