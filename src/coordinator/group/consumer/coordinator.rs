//! ConsumerGroupHeartbeat and ConsumerGroupDescribe on the group coordinator, the member timers
//! (session timeout, revocation deadline), the checks OffsetCommit and OffsetFetch make for
//! consumer-group members, and the durable record of each consumer group.
//!
//! Topic changes reach a group through its heartbeats: each one is given the broker's current
//! topics ([`TopicView`]) and bumps the group epoch when the subscribed topics' ids or partition
//! counts differ from those the group last saw, as Kafka compares its subscription metadata. A
//! member hears of a created, deleted or grown topic within one heartbeat interval.

use std::collections::BTreeMap;
use std::time::Duration;

use kafka_protocol::error::ResponseError;
use regex::Regex;
use tokio::time::Instant;
use tracing::info_span;
use uuid::Uuid;

use super::assignor::{self, AssignorMember};
use super::{
    normalized, Assignment, ConsumerGroup, ConsumerMember, MemberState, LEAVE_EPOCH,
    STATIC_LEAVE_EPOCH,
};
use crate::coordinator::group::state::{Group, GroupState};
use crate::coordinator::group::{code, GroupCoordinator};

/// The broker's topics as a heartbeat sees them: name → (id, partition count), internal topics
/// left out (a regex never matches them, as in Kafka).
#[derive(Debug, Clone, Default)]
pub struct TopicView {
    pub topics: BTreeMap<String, (Uuid, i32)>,
}

/// A ConsumerGroupHeartbeat request, decoded. `None` fields were null: unchanged since the last
/// heartbeat.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatInput {
    pub version: i16,
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub instance_id: Option<String>,
    pub rack_id: Option<String>,
    pub rebalance_timeout_ms: i32,
    pub topic_names: Option<Vec<String>>,
    pub topic_regex: Option<String>,
    pub server_assignor: Option<String>,
    pub owned: Option<Assignment>,
    pub client_id: String,
    pub client_host: String,
}

/// What a ConsumerGroupHeartbeat answers.
#[derive(Debug, Clone, Default)]
pub struct HeartbeatOutput {
    pub error: i16,
    pub message: Option<String>,
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// Sent only when it changed, or the request was a full one (as Kafka).
    pub assignment: Option<Assignment>,
    /// The answer stands on a group record just written: send it once a flush made it durable.
    pub flush: bool,
}

impl HeartbeatOutput {
    fn error(e: ResponseError, message: impl Into<String>, member_id: &str) -> HeartbeatOutput {
        HeartbeatOutput {
            error: e.code(),
            message: Some(message.into()),
            member_id: member_id.to_string(),
            ..HeartbeatOutput::default()
        }
    }
}

/// One member as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerMemberDescription {
    pub member: ConsumerMember,
    pub target: Assignment,
}

/// A consumer group as ConsumerGroupDescribe shows it.
#[derive(Debug, Clone)]
pub struct ConsumerDescription {
    pub state: &'static str,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub assignor: String,
    pub members: Vec<ConsumerMemberDescription>,
}

type Failure = (ResponseError, String);

/// Kafka's throwIfConsumerGroupHeartbeatRequestIsInvalid.
fn validate(req: &HeartbeatInput, assignors: &[String]) -> Result<(), Failure> {
    let invalid = |m: &str| Err((ResponseError::InvalidRequest, m.to_string()));
    if req.group_id.is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.instance_id.as_deref() == Some("") {
        return invalid("InstanceId can't be empty.");
    }
    if req.rack_id.as_deref() == Some("") {
        return invalid("RackId can't be empty.");
    }
    // From v1 the client generates its member id, on its first heartbeat too.
    if (req.version >= 1 || req.member_epoch > 0 || req.member_epoch < 0)
        && req.member_id.is_empty()
    {
        return invalid("MemberId can't be empty.");
    }
    match req.member_epoch {
        0 => {
            if req.rebalance_timeout_ms == -1 {
                return invalid("RebalanceTimeoutMs must be provided in first request.");
            }
            if req.owned.as_ref().is_none_or(|o| !o.is_empty()) {
                return invalid("TopicPartitions must be empty when (re-)joining.");
            }
            let names = req.topic_names.as_ref().is_some_and(|n| !n.is_empty());
            let regex = req.topic_regex.as_ref().is_some_and(|r| !r.is_empty());
            if !names && !regex {
                return invalid(
                    "SubscribedTopicNames or SubscribedTopicRegex must be set in first request.",
                );
            }
        }
        STATIC_LEAVE_EPOCH => {
            if req.instance_id.is_none() {
                return invalid("InstanceId can't be null.");
            }
        }
        e if e > 0 || e == LEAVE_EPOCH => {}
        _ => return invalid("MemberEpoch is invalid."),
    }
    if let Some(re) = req.topic_regex.as_deref().filter(|r| !r.is_empty()) {
        if let Err(e) = compile(re) {
            return Err((
                ResponseError::InvalidRegularExpression,
                format!("SubscribedTopicRegex `{re}` is not a valid regular expression: {e}."),
            ));
        }
    }
    if let Some(a) = &req.server_assignor {
        if !assignors.iter().any(|x| x == a) {
            return Err((
                ResponseError::UnsupportedAssignor,
                format!(
                    "ServerAssignor {a} is not supported. Supported assignors: {}.",
                    assignors.join(", ")
                ),
            ));
        }
    }
    Ok(())
}

/// A subscription regex, matched against whole topic names as Kafka's RE2/J `matches()` does.
/// The regex crate's syntax is RE2's but for a few corners: no `\C`, and `\b`, `\w`, `\d` are
/// Unicode-aware unless `(?-u)` (RE2 is ASCII there).
fn compile(re: &str) -> Result<Regex, regex::Error> {
    regex::RegexBuilder::new(&format!("^(?:{re})$"))
        .size_limit(1 << 20)
        .build()
}

/// The topics a member subscribes to that exist: its names and its regex's matches.
fn resolve(m: &ConsumerMember, view: &TopicView) -> BTreeMap<String, (Uuid, i32)> {
    let mut out = BTreeMap::new();
    for name in &m.topic_names {
        if let Some(t) = view.topics.get(name) {
            out.insert(name.clone(), *t);
        }
    }
    if let Some(re) = m.topic_regex.as_deref().and_then(|r| compile(r).ok()) {
        for (name, t) in &view.topics {
            if re.is_match(name) {
                out.insert(name.clone(), *t);
            }
        }
    }
    out
}

/// The assignor the group uses: the one most members ask for, else the configured default.
fn group_assignor(c: &ConsumerGroup, default: &str) -> String {
    let mut votes: BTreeMap<&str, usize> = BTreeMap::new();
    for m in c.members.values() {
        if let Some(a) = &m.server_assignor {
            *votes.entry(a.as_str()).or_default() += 1;
        }
    }
    votes
        .into_iter()
        .max_by_key(|(_, v)| *v)
        .map_or_else(|| default.to_string(), |(a, _)| a.to_string())
}

/// Recomputes the target assignment for the current group epoch.
fn compute_target(c: &mut ConsumerGroup, view: &TopicView, default_assignor: &str) {
    let name = group_assignor(c, default_assignor);
    let partitions: BTreeMap<Uuid, i32> = c.topics.values().copied().collect();
    let previous = std::mem::take(&mut c.target);
    let members: Vec<AssignorMember> = c
        .members
        .values()
        .map(|m| AssignorMember {
            id: &m.id,
            topics: resolve(m, view).values().map(|(id, _)| *id).collect(),
            current: previous.get(&m.id),
        })
        .collect();
    let target = assignor::assign(&name, &members, &partitions);
    c.target = target;
    c.assignment_epoch = c.group_epoch;
}

/// Records the subscribed topics; whether they changed (appeared, vanished, grew), which needs
/// a new group epoch.
fn refresh_topics(c: &mut ConsumerGroup, view: &TopicView) -> bool {
    let mut now: BTreeMap<String, (Uuid, i32)> = BTreeMap::new();
    for m in c.members.values() {
        now.extend(resolve(m, view));
    }
    if now != c.topics {
        c.topics = now;
        return true;
    }
    false
}

/// Whether every partition in `owned` is in `assigned` (a missing list is).
fn is_subset(owned: Option<&Assignment>, assigned: &Assignment) -> bool {
    owned.is_none_or(|o| {
        o.iter().all(|(t, ps)| {
            ps.iter()
                .all(|p| assigned.get(t).is_some_and(|a| a.contains(p)))
        })
    })
}

impl GroupCoordinator {
    /// ConsumerGroupHeartbeat: joins, leaves, or moves a member one step towards its target
    /// assignment, and answers its epoch and (when it changed) its assignment.
    pub fn consumer_heartbeat(&self, req: HeartbeatInput, view: &TopicView) -> HeartbeatOutput {
        let cfg = &self.shared.config;
        if let Err((e, msg)) = validate(&req, &cfg.consumer_assignors) {
            return HeartbeatOutput::error(e, msg, &req.member_id);
        }
        let group = if req.member_epoch == 0 {
            self.group_or_create(&req.group_id)
        } else {
            match self.group(&req.group_id) {
                Some(g) => g,
                None => {
                    return HeartbeatOutput::error(
                        ResponseError::GroupIdNotFound,
                        format!("Consumer group {} not found.", req.group_id),
                        &req.member_id,
                    )
                }
            }
        };
        let mut g = group.lock().expect("group poisoned");
        if g.state == GroupState::Dead {
            return HeartbeatOutput::error(
                ResponseError::CoordinatorNotAvailable,
                "The group is being deleted.",
                &req.member_id,
            );
        }
        if g.consumer.is_none() {
            // An empty classic group becomes a consumer group on a first heartbeat (Kafka's
            // BIDIRECTIONAL migration policy); one with members would need KIP-848's online
            // upgrade, which Sluice does not do: Kafka answers this when it is disabled.
            let empty = g.state == GroupState::Empty && g.members.is_empty();
            if req.member_epoch != 0 || !empty {
                return HeartbeatOutput::error(
                    ResponseError::GroupIdNotFound,
                    format!("Group {} is not a consumer group", req.group_id),
                    &req.member_id,
                );
            }
            g.consumer = Some(ConsumerGroup::new());
            g.protocol_type = Some("consumer".to_string());
            g.protocol_name = None;
            g.leader_id = None;
        }
        let out = self.consumer_heartbeat_locked(&mut g, req, view);
        if out.flush {
            self.store_consumer_group(&g);
        }
        out
    }

    fn consumer_heartbeat_locked(
        &self,
        g: &mut Group,
        req: HeartbeatInput,
        view: &TopicView,
    ) -> HeartbeatOutput {
        let cfg = self.shared.config.clone();
        let group_id = g.id.clone();
        let c = g.consumer.as_mut().expect("a consumer group");
        let before = c.clone();
        let now = Instant::now();

        if req.member_epoch == LEAVE_EPOCH || req.member_epoch == STATIC_LEAVE_EPOCH {
            return self.consumer_leave(g, &req);
        }

        let member_id;
        let mut new_member = false;
        if req.member_epoch == 0 {
            member_id = if req.member_id.is_empty() {
                uuid::Uuid::new_v4().to_string()
            } else {
                req.member_id.clone()
            };
            let static_holder = req
                .instance_id
                .as_deref()
                .and_then(|i| c.static_member(i))
                .map(str::to_string);
            match static_holder {
                Some(old) if old != member_id => {
                    if c.members[&old].member_epoch != STATIC_LEAVE_EPOCH {
                        return HeartbeatOutput::error(
                            ResponseError::UnreleasedInstanceId,
                            format!(
                                "Static member {old} with instance id {} is not released yet.",
                                req.instance_id.as_deref().unwrap_or_default()
                            ),
                            &member_id,
                        );
                    }
                    // A static member back under a new member id takes over its old self: its
                    // epoch and its assignment, and the target computed for it.
                    let mut m = c.members.remove(&old).expect("holder is a member");
                    m.id = member_id.clone();
                    m.member_epoch = m.previous_member_epoch.max(0);
                    if let Some(t) = c.target.remove(&old) {
                        c.target.insert(member_id.clone(), t);
                    }
                    c.members.insert(member_id.clone(), m);
                    new_member = true;
                }
                _ => {
                    if let Some(m) = c.members.get_mut(&member_id) {
                        // Rejoining with epoch 0: the client owns nothing any more.
                        m.assigned.clear();
                        m.pending_revocation.clear();
                        m.state = MemberState::Stable;
                        m.revoke_by = None;
                        m.member_epoch = 0;
                    } else {
                        if c.members.len() >= cfg.consumer_max_size {
                            return HeartbeatOutput::error(
                                ResponseError::GroupMaxSizeReached,
                                format!(
                                    "The consumer group has reached its maximum capacity of {} members.",
                                    cfg.consumer_max_size
                                ),
                                &member_id,
                            );
                        }
                        c.members.insert(
                            member_id.clone(),
                            ConsumerMember {
                                id: member_id.clone(),
                                instance_id: None,
                                rack_id: None,
                                client_id: req.client_id.clone(),
                                client_host: req.client_host.clone(),
                                topic_names: Vec::new(),
                                topic_regex: None,
                                server_assignor: None,
                                rebalance_timeout_ms: req.rebalance_timeout_ms,
                                member_epoch: 0,
                                previous_member_epoch: 0,
                                state: MemberState::Stable,
                                assigned: Assignment::new(),
                                pending_revocation: Assignment::new(),
                                partition_epochs: BTreeMap::new(),
                                last_heartbeat: now,
                                revoke_by: None,
                            },
                        );
                        // Joining changes the subscriptions: a new target is needed (the
                        // epoch is bumped below, once for everything this heartbeat changed).
                        new_member = true;
                    }
                }
            }
        } else {
            member_id = req.member_id.clone();
            let Some(m) = c.members.get(&member_id) else {
                return HeartbeatOutput::error(
                    ResponseError::UnknownMemberId,
                    format!("Member {member_id} is not a member of group {group_id}."),
                    &member_id,
                );
            };
            if let Some(instance) = &req.instance_id {
                if m.instance_id.as_deref() != Some(instance.as_str()) {
                    return HeartbeatOutput::error(
                        ResponseError::FencedInstanceId,
                        format!("Instance id {instance} is held by another member."),
                        &member_id,
                    );
                }
            }
            if req.member_epoch > m.member_epoch
                || (req.member_epoch < m.member_epoch
                    && (req.member_epoch != m.previous_member_epoch
                        || !is_subset(req.owned.as_ref(), &m.assigned)))
            {
                return HeartbeatOutput::error(
                    ResponseError::FencedMemberEpoch,
                    format!(
                        "The consumer group member has a member epoch ({}) other than the one known by the group coordinator ({}). The member must abandon all its partitions and rejoin.",
                        req.member_epoch, m.member_epoch
                    ),
                    &member_id,
                );
            }
        }

        // Apply what the request changes; a changed subscription or assignor needs a new target.
        let m = c.members.get_mut(&member_id).expect("member present");
        let old_assigned = normalized(&m.assigned);
        let mut subscription_changed = false;
        m.last_heartbeat = now;
        if let Some(instance) = &req.instance_id {
            m.instance_id = Some(instance.clone());
        }
        if req.rack_id.is_some() {
            m.rack_id = req.rack_id.clone();
        }
        if req.rebalance_timeout_ms > 0 {
            m.rebalance_timeout_ms = req.rebalance_timeout_ms;
        }
        if let Some(names) = &req.topic_names {
            let mut names = names.clone();
            names.sort();
            names.dedup();
            if m.topic_names != names {
                m.topic_names = names;
                subscription_changed = true;
            }
        }
        if let Some(re) = &req.topic_regex {
            let re = (!re.is_empty()).then(|| re.clone());
            if m.topic_regex != re {
                m.topic_regex = re;
                subscription_changed = true;
            }
        }
        if req.server_assignor.is_some() && m.server_assignor != req.server_assignor {
            m.server_assignor = req.server_assignor.clone();
            subscription_changed = true;
        }
        m.client_id = req.client_id.clone();
        m.client_host = req.client_host.clone();
        let topics_changed = refresh_topics(c, view);
        let joined = new_member && req.member_epoch == 0 && !c.target.contains_key(&member_id);
        if subscription_changed || topics_changed || joined {
            c.group_epoch += 1;
        }
        if c.group_epoch > c.assignment_epoch {
            let default = cfg
                .consumer_assignors
                .first()
                .map_or("uniform", String::as_str);
            compute_target(c, view, default);
        }
        let was_revoking = c.members[&member_id].revoke_by;
        c.reconcile(&member_id, req.owned.as_ref(), now);

        let m = &c.members[&member_id];
        if let Some(deadline) = m.revoke_by.filter(|d| Some(*d) != was_revoking) {
            self.fence_unless_revoked(&group_id, member_id.clone(), deadline);
        }
        let full = req.member_epoch == 0
            || (req.rebalance_timeout_ms != -1
                && (req.topic_names.is_some() || req.topic_regex.is_some())
                && req.owned.is_some());
        let assigned = normalized(&m.assigned);
        let out = HeartbeatOutput {
            error: 0,
            message: None,
            member_id: member_id.clone(),
            member_epoch: m.member_epoch,
            heartbeat_interval_ms: cfg.consumer_heartbeat_interval_ms,
            assignment: (full || assigned != old_assigned).then_some(assigned),
            flush: *c != before,
        };
        if new_member {
            tracing::info!(group = %group_id, member = %member_id, epoch = c.group_epoch, "consumer group member joined");
            self.watch_consumer_member(&group_id, member_id);
        }
        out
    }

    /// A member leaving (epoch -1), or a static member leaving for now (-2): it keeps its
    /// instance id and assignment until it comes back or its session expires.
    fn consumer_leave(&self, g: &mut Group, req: &HeartbeatInput) -> HeartbeatOutput {
        let c = g.consumer.as_mut().expect("a consumer group");
        let member_id = match &req.instance_id {
            Some(instance) => match c.static_member(instance) {
                Some(holder) if holder == req.member_id => holder.to_string(),
                Some(_) => {
                    return HeartbeatOutput::error(
                        ResponseError::FencedInstanceId,
                        format!("Instance id {instance} is held by another member."),
                        &req.member_id,
                    )
                }
                None => {
                    return HeartbeatOutput::error(
                        ResponseError::UnknownMemberId,
                        format!("Instance id {instance} is unknown."),
                        &req.member_id,
                    )
                }
            },
            None => req.member_id.clone(),
        };
        if !c.members.contains_key(&member_id) {
            return HeartbeatOutput::error(
                ResponseError::UnknownMemberId,
                format!("Member {member_id} is not a member of group {}.", g.id),
                &req.member_id,
            );
        }
        if req.member_epoch == STATIC_LEAVE_EPOCH {
            let m = c.members.get_mut(&member_id).expect("checked");
            if m.member_epoch != STATIC_LEAVE_EPOCH {
                m.previous_member_epoch = m.member_epoch;
            }
            m.member_epoch = STATIC_LEAVE_EPOCH;
            tracing::info!(group = %g.id, member = %member_id, "static consumer group member left temporarily");
        } else {
            self.remove_consumer_member(g, &member_id, "member left the group");
        }
        self.store_consumer_group(g);
        HeartbeatOutput {
            member_id,
            member_epoch: req.member_epoch,
            flush: true,
            ..HeartbeatOutput::default()
        }
    }

    /// Takes a member out (it left, or was fenced): its partitions become free, and the group
    /// epoch moves so the others get a new target at their next heartbeat.
    fn remove_consumer_member(&self, g: &mut Group, member_id: &str, reason: &str) {
        let Some(c) = g.consumer.as_mut() else {
            return;
        };
        if c.members.remove(member_id).is_none() {
            return;
        }
        c.target.remove(member_id);
        c.group_epoch += 1;
        tracing::info!(group = %g.id, member = member_id, epoch = c.group_epoch, reason, "consumer group member removed");
    }

    /// One timer per member: removes it when its session expires (heartbeats move the deadline).
    pub(in crate::coordinator::group) fn watch_consumer_member(
        &self,
        group_id: &str,
        member_id: String,
    ) {
        let span = info_span!(parent: None, "consumer_member_timeout", group = group_id, member = %member_id);
        let session = Duration::from_millis(self.shared.config.consumer_session_timeout_ms as u64);
        self.after(group_id, None, span, move |this, g| {
            let m = g.consumer.as_ref()?.members.get(&member_id)?;
            let now = Instant::now();
            let expires = m.last_heartbeat + session;
            if now < expires {
                return Some(expires);
            }
            this.remove_consumer_member(g, &member_id, "session timeout expired");
            this.store_consumer_group(g);
            None
        });
    }

    /// The rebalance timeout of one revocation: at `deadline`, a member still asked to revoke by
    /// that same deadline is fenced (its session timer may sleep far longer).
    fn fence_unless_revoked(&self, group_id: &str, member_id: String, deadline: Instant) {
        let span = info_span!(parent: None, "consumer_revocation_timeout", group = group_id, member = %member_id);
        let delay = deadline.saturating_duration_since(Instant::now());
        self.after(group_id, Some(delay), span, move |this, g| {
            let m = g.consumer.as_ref()?.members.get(&member_id)?;
            if m.revoke_by == Some(deadline) {
                this.remove_consumer_member(
                    g,
                    &member_id,
                    "did not revoke its partitions within the rebalance timeout",
                );
                this.store_consumer_group(g);
            }
            None
        });
    }

    /// Writes the consumer group's record (durable at the next flush). A failure is logged: the
    /// group goes on in memory, as a classic group does when its record cannot be written.
    pub(in crate::coordinator::group) fn store_consumer_group(&self, g: &Group) {
        let Some(c) = &g.consumer else { return };
        if let Err(e) = self.shared.store.put_consumer_group(&g.id, c) {
            tracing::error!(group = %g.id, error = %e, "storing the consumer group failed");
        }
    }

    /// ConsumerGroupDescribe for one group: GROUP_ID_NOT_FOUND when there is none, or it is a
    /// classic group (with Kafka's messages).
    pub fn consumer_describe(
        &self,
        group_id: &str,
    ) -> Result<(ConsumerDescription, TopicNames), (i16, String)> {
        let not_found = |m: String| (ResponseError::GroupIdNotFound.code(), m);
        let group = self
            .group(group_id)
            .ok_or_else(|| not_found(format!("Group {group_id} not found.")))?;
        let g = group.lock().expect("group poisoned");
        let Some(c) = g.consumer.as_ref().filter(|_| g.state != GroupState::Dead) else {
            return Err(not_found(format!(
                "Group {group_id} is not a consumer group."
            )));
        };
        let default = self
            .shared
            .config
            .consumer_assignors
            .first()
            .cloned()
            .unwrap_or_else(|| "uniform".to_string());
        let names = c
            .topics
            .iter()
            .map(|(n, (id, _))| (*id, n.clone()))
            .collect();
        Ok((
            ConsumerDescription {
                state: c.state(),
                group_epoch: c.group_epoch,
                assignment_epoch: c.assignment_epoch,
                assignor: group_assignor(c, &default),
                members: c
                    .members
                    .values()
                    .map(|m| ConsumerMemberDescription {
                        member: m.clone(),
                        target: c.target.get(&m.id).cloned().unwrap_or_default(),
                    })
                    .collect(),
            },
            names,
        ))
    }

    /// Kafka's ConsumerGroup.validateOffsetCommit for the group under `g`'s lock; `None` when it is
    /// not a consumer group. A commit with a negative epoch is an admin's, accepted when the group
    /// has no members. A member's epoch newer than its own is STALE_MEMBER_EPOCH; an older one is
    /// accepted for partitions (`Some`) the member was given at or before that epoch, as Kafka 4.4
    /// does (a member may commit what it processed while its next epoch was on its way). `None`
    /// partitions (OffsetFetch) want the current epoch exactly.
    pub(in crate::coordinator::group) fn check_consumer_commit(
        g: &Group,
        member_id: &str,
        member_epoch: i32,
        partitions: Option<&[(&str, i32)]>,
    ) -> Option<Result<(), i16>> {
        let c = g.consumer.as_ref()?;
        if member_epoch < 0 && c.members.is_empty() {
            return Some(Ok(()));
        }
        let Some(m) = c.members.get(member_id) else {
            return Some(Err(code(ResponseError::UnknownMemberId)));
        };
        let stale = Err(code(ResponseError::StaleMemberEpoch));
        Some(if member_epoch == m.member_epoch {
            Ok(())
        } else if member_epoch > m.member_epoch {
            stale
        } else {
            let had_it = |(topic, partition): &(&str, i32)| {
                c.topics
                    .get(*topic)
                    .and_then(|(id, _)| m.assignment_epoch(id, *partition))
                    .is_some_and(|since| member_epoch >= since)
            };
            match partitions {
                Some(ps) if ps.iter().all(had_it) => Ok(()),
                _ => stale,
            }
        })
    }

    /// Whether OffsetCommit below v9 must be refused for this member: Kafka requires v9 of
    /// members of consumer groups (UNSUPPORTED_VERSION).
    pub fn commit_needs_v9(&self, group_id: &str, member_id: &str) -> bool {
        self.group(group_id).is_some_and(|g| {
            let g = g.lock().expect("group poisoned");
            g.consumer
                .as_ref()
                .is_some_and(|c| c.members.contains_key(member_id))
        })
    }

    /// OffsetFetch v9's member check (Kafka's validateOffsetFetch): a member id and epoch given for
    /// a consumer group must be its current ones. Returns the group-level error code, if any.
    pub fn check_offset_fetch(&self, group_id: &str, member_id: Option<&str>, epoch: i32) -> i16 {
        let Some(member_id) = member_id.filter(|m| !m.is_empty()) else {
            return 0;
        };
        if epoch < 0 {
            return 0;
        }
        let Some(group) = self.group(group_id) else {
            return 0;
        };
        let g = group.lock().expect("group poisoned");
        match Self::check_consumer_commit(&g, member_id, epoch, None) {
            Some(Err(c)) => c,
            _ => 0,
        }
    }

    /// Restarts the timers of loaded consumer groups' members: each gets a fresh session, and a
    /// member that was revoking a fresh rebalance timeout.
    pub(in crate::coordinator::group) fn watch_loaded_consumer_members(&self) {
        let groups: Vec<_> = self
            .shared
            .groups
            .lock()
            .expect("groups poisoned")
            .values()
            .cloned()
            .collect();
        for group in groups {
            let (id, members): (String, Vec<(String, Option<Instant>)>) = {
                let mut g = group.lock().expect("group poisoned");
                let id = g.id.clone();
                let now = Instant::now();
                let members = g
                    .consumer
                    .as_mut()
                    .map(|c| {
                        c.members
                            .values_mut()
                            .map(|m| {
                                // A revocation under way gets its rebalance timeout afresh too.
                                if m.state == MemberState::UnrevokedPartitions {
                                    m.revoke_by = Some(
                                        now + Duration::from_millis(
                                            m.rebalance_timeout_ms.max(0) as u64
                                        ),
                                    );
                                }
                                (m.id.clone(), m.revoke_by)
                            })
                            .collect()
                    })
                    .unwrap_or_default();
                (id, members)
            };
            for (m, revoke_by) in members {
                if let Some(deadline) = revoke_by {
                    self.fence_unless_revoked(&id, m.clone(), deadline);
                }
                self.watch_consumer_member(&id, m);
            }
        }
    }
}

/// Topic ids to names, for describing assignments.
pub type TopicNames = BTreeMap<Uuid, String>;
