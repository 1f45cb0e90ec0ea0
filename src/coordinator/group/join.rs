//! JoinGroup: a new member (KIP-394's two steps), a known member rejoining, and a static member
//! coming back with a new member id (KIP-345).

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;
use tokio::time::Instant;

use super::state::{Group, GroupState, Member};
use super::{code, GroupCoordinator, Pending, SyncResult};

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
    /// The answer stands on a group record just written (a static member's new member id):
    /// send it only once a flush made that durable.
    pub flush: bool,
}

impl JoinResult {
    pub(super) fn error(code: i16, member_id: &str) -> JoinResult {
        JoinResult {
            error: code,
            generation_id: -1,
            member_id: member_id.to_string(),
            ..JoinResult::default()
        }
    }
}

impl GroupCoordinator {
    /// JoinGroup: checks what holds for every member, then joins a new member or a known one. A
    /// join that must wait for the rebalance's join phase to end returns a receiver.
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
        if let Some(c) = &g.consumer {
            if !c.members.is_empty() {
                // KIP-848's online downgrade path (a classic member joining a consumer group with
                // members) is not implemented: Sluice answers as Kafka does for a group of another
                // type.
                return Pending::Ready(JoinResult::error(
                    code(ResponseError::InconsistentGroupProtocol),
                    &req.member_id,
                ));
            }
            // An empty consumer group becomes a classic group on a JoinGroup (Kafka's
            // BIDIRECTIONAL migration policy); its committed offsets stay.
            g.consumer = None;
            g.protocol_type = None;
            if let Err(e) = self.shared.store.remove_consumer_group(&g.id) {
                tracing::error!(group = %g.id, error = %e, "removing the consumer group record failed");
            }
            tracing::info!(group = %g.id, "empty consumer group converted to a classic group");
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
        let was_leader = g.leader_id.as_deref() == Some(old_id.as_str());
        // What a failed store puts back (Kafka reverts to the old member id).
        let previous = (
            m.client_id.clone(),
            m.client_host.clone(),
            m.session_timeout,
            m.rebalance_timeout,
            std::mem::replace(&mut m.protocols, req.protocols.clone()),
        );
        m.id = new_id.clone();
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
        m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
        m.last_heartbeat = Instant::now();
        let instance = req.group_instance_id.clone().unwrap_or_default();
        g.static_members.insert(instance.clone(), new_id.clone());
        if was_leader {
            g.leader_id = Some(new_id.clone());
        }
        g.members.insert(new_id.clone(), m);
        self.watch_session(&g.id, new_id.clone());
        tracing::info!(group = %g.id, old = %old_id, new = %new_id, "static member rejoined");
        // As Kafka: no rebalance while the protocol the group would select stays the one it has.
        // (Not "the same protocols": a member loaded after a restart knows only the chosen one.)
        let unchanged = g.select_protocol() == g.protocol_name;
        match g.state {
            GroupState::Stable if unchanged => {
                // As Kafka, the new member id is stored before the member learns it: after a
                // restart its instance id must map to the id it uses, or it would be fenced.
                if self.store_group(g).is_err() {
                    if let Some(mut m) = g.members.remove(&new_id) {
                        m.id = old_id.clone();
                        (
                            m.client_id,
                            m.client_host,
                            m.session_timeout,
                            m.rebalance_timeout,
                            m.protocols,
                        ) = previous;
                        g.members.insert(old_id.clone(), m);
                    }
                    g.static_members.insert(instance, old_id.clone());
                    if was_leader {
                        g.leader_id = Some(old_id.clone());
                    }
                    // The old id's session timer still runs: it never saw the old id gone.
                    return Pending::Ready(JoinResult::error(
                        code(ResponseError::NotCoordinator),
                        "",
                    ));
                }
                let mut result = g.join_result_for(&new_id);
                result.flush = true;
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
        if g.delaying_initial_join {
            g.new_member_added = true;
        }
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
            m.session_timeout = Duration::from_millis(req.session_timeout_ms as u64);
            m.rebalance_timeout = Duration::from_millis(req.rebalance_timeout_ms.max(0) as u64);
            m.joined = true;
            m.last_heartbeat = Instant::now();
        }
    }
}
