//! The share-group coordinator (KIP-932), modelled on the share-group parts of Kafka 4.4's
//! GroupMetadataManager: membership by ShareGroupHeartbeat, the simple assignor, describe, list
//! and delete. Records themselves (acquisition, acknowledgement, share-partition state) belong to
//! the share-partition side, which learns of members leaving and groups going through
//! [`ShareGroupListener`].
//!
//! A share group has a group epoch, bumped by every change that can change the assignment (a
//! member joins, leaves or changes its subscription; a subscribed topic appears, disappears or
//! grows), and an assignment epoch, the group epoch its target assignment was computed at. The
//! assignment is computed at once, under the group's lock, so the two are equal after every
//! request. Share groups need no revocation (the share-partition side arbitrates records), so a
//! member takes its target assignment at its next heartbeat, and its member epoch becomes the
//! assignment epoch then: that heartbeat's answer carries the assignment if it changed.
//!
//! Topic changes reach a group at the next heartbeat of any member (and at describe): the
//! coordinator is handed a lookup of the broker's topics and compares what the group subscribes to
//! with what it saw last (Kafka's metadata hash). Members learn assignments only by heartbeating,
//! so no hook in the topic registry is needed for them to see a change as soon as Kafka's would.
//!
//! Durability: a group's record (epochs, topics seen, members with subscriptions and assignments)
//! is rewritten whenever one of those changes; the answer to the request that changed it waits for
//! the flush. A restarted coordinator restores every group as it was and gives each member a fresh
//! session timeout: a stable group does not notice, a member that does not come back is removed.
//!
//! Locks: the registry lock only finds or inserts a group; each group has its own mutex; neither
//! is held across an `.await`, and listeners are called after the group's lock is released.

mod assignor;

#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::{Arc, Mutex, RwLock, Weak};
use std::time::Duration;

use tokio::time::Instant;
use tracing::{info_span, Instrument};
use uuid::Uuid;

use crate::config::group::GroupConfigs;
use crate::store::{ShareGroupRecord, ShareMemberRecord, Store};

pub use assignor::Assignment;

/// The assignor share groups use (Kafka's `group.share.assignors` default).
pub const ASSIGNOR: &str = "simple";
/// ListGroups' protocol type and group type of a share group.
pub const PROTOCOL_TYPE: &str = "share";

/// What the share-partition side must hear from membership. The lead connects it with
/// [`ShareGroupCoordinator::add_listener`]. Called without any coordinator lock held.
pub trait ShareGroupListener: Send + Sync {
    /// A member left (epoch -1), was fenced or its session expired: its acquired records must be
    /// released for the other members.
    fn member_left(&self, group: &str, member: &str);
    /// The group was deleted: its share-partition state goes with it.
    fn group_deleted(&self, group: &str);
}

/// Asks the other coordinators (classic, KIP-848) what type of group an id names, if any:
/// `Some("classic")`, `Some("consumer")`, or `None`. The lead wires it with
/// [`ShareGroupCoordinator::set_other_groups`]; unset, no other group is known.
pub type OtherGroups = Arc<dyn Fn(&str) -> Option<&'static str> + Send + Sync>;

/// Looks a topic up by name: its id and partition count, if it exists.
pub type TopicLookup<'a> = &'a dyn Fn(&str) -> Option<(Uuid, i32)>;

/// A share group's state as Kafka names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareGroupState {
    Empty,
    Stable,
    Dead,
}

impl ShareGroupState {
    pub fn name(self) -> &'static str {
        match self {
            ShareGroupState::Empty => "Empty",
            ShareGroupState::Stable => "Stable",
            ShareGroupState::Dead => "Dead",
        }
    }
}

/// Why a request was refused; the API layer maps each to its Kafka error code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ShareGroupError {
    #[error("{0}")]
    InvalidRequest(String),
    #[error("{0}")]
    UnknownMemberId(String),
    #[error("{0}")]
    FencedMemberEpoch(String),
    #[error("{0}")]
    GroupMaxSizeReached(String),
    #[error("{0}")]
    GroupIdNotFound(String),
    #[error("{0}")]
    NonEmptyGroup(String),
    #[error("{0}")]
    Storage(String),
}

/// A ShareGroupHeartbeat, as the coordinator needs it.
#[derive(Debug, Clone)]
pub struct Heartbeat {
    pub group_id: String,
    pub member_id: String,
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    /// None: unchanged since the last heartbeat.
    pub subscribed_topic_names: Option<Vec<String>>,
    pub client_id: String,
    pub client_host: String,
}

/// The answer to a heartbeat.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeartbeatAnswer {
    pub member_id: String,
    pub member_epoch: i32,
    pub heartbeat_interval_ms: i32,
    /// The member's whole assignment, when it joined or the assignment changed.
    pub assignment: Option<Assignment>,
    /// Something durable changed: answer only after the store flushed.
    pub flush: bool,
}

/// One member as described.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberDescription {
    pub member_id: String,
    pub member_epoch: i32,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topic_names: Vec<String>,
    pub assignment: Assignment,
}

/// One share group as described (ShareGroupDescribe).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupDescription {
    pub group_id: String,
    pub state: ShareGroupState,
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    pub members: Vec<MemberDescription>,
}

struct Member {
    member_epoch: i32,
    previous_member_epoch: i32,
    rack_id: Option<String>,
    client_id: String,
    client_host: String,
    subscribed: BTreeSet<String>,
    /// What the member was last given (its current assignment).
    assignment: Assignment,
    /// When its session ends unless it heartbeats.
    deadline: Instant,
    /// Which joining this is: a member that left and joined again gets a new session timer,
    /// and an old timer, finding another incarnation, ends.
    incarnation: u64,
    /// Its session timer, ended when the member goes: members that join and leave often must
    /// not leave sleeping timers behind.
    timer: Option<tokio::task::AbortHandle>,
}

struct ShareGroup {
    id: String,
    group_epoch: i32,
    assignment_epoch: i32,
    /// The subscribed topics as the assignment last saw them.
    topics: BTreeMap<String, (Uuid, i32)>,
    members: BTreeMap<String, Member>,
    /// Each member's target assignment at `assignment_epoch`.
    target: BTreeMap<String, Assignment>,
    /// Deleted: requests that still hold the group find it gone.
    dead: bool,
}

impl ShareGroup {
    fn new(id: &str) -> ShareGroup {
        // Kafka 4.4 answers a new share group's first member with epoch 2: a group starts at 1.
        ShareGroup {
            id: id.to_string(),
            group_epoch: 1,
            assignment_epoch: 1,
            topics: BTreeMap::new(),
            members: BTreeMap::new(),
            target: BTreeMap::new(),
            dead: false,
        }
    }

    fn state(&self) -> ShareGroupState {
        if self.dead {
            ShareGroupState::Dead
        } else if self.members.is_empty() {
            ShareGroupState::Empty
        } else {
            ShareGroupState::Stable
        }
    }

    fn subscribed_topics(&self) -> BTreeSet<String> {
        self.members
            .values()
            .flat_map(|m| m.subscribed.iter().cloned())
            .collect()
    }

    /// The subscribed topics as the broker has them now.
    fn resolve(&self, topics: TopicLookup) -> BTreeMap<String, (Uuid, i32)> {
        self.subscribed_topics()
            .into_iter()
            .filter_map(|name| topics(&name).map(|t| (name, t)))
            .collect()
    }

    /// Bumps the group epoch and computes the target assignment at it.
    fn bump_and_assign(&mut self, topics: BTreeMap<String, (Uuid, i32)>) {
        self.group_epoch += 1;
        self.topics = topics;
        let input = self
            .members
            .iter()
            .map(|(id, m)| {
                let current = self.target.get(id).cloned().unwrap_or_default();
                (id.clone(), (m.subscribed.clone(), current))
            })
            .collect();
        self.target = assignor::assign(&input, &self.topics);
        self.assignment_epoch = self.group_epoch;
        tracing::info!(
            group = %self.id,
            epoch = self.group_epoch,
            members = self.members.len(),
            "share group assignment computed"
        );
    }

    /// Recomputes the assignment if the subscribed topics changed since it was computed.
    fn refresh(&mut self, topics: TopicLookup) -> bool {
        let now = self.resolve(topics);
        if now != self.topics {
            self.bump_and_assign(now);
            true
        } else {
            false
        }
    }

    fn to_record(&self) -> ShareGroupRecord {
        ShareGroupRecord {
            group_epoch: self.group_epoch,
            assignment_epoch: self.assignment_epoch,
            topics: self.topics.clone(),
            members: self
                .members
                .iter()
                .map(|(id, m)| ShareMemberRecord {
                    member_id: id.clone(),
                    member_epoch: m.member_epoch,
                    previous_member_epoch: m.previous_member_epoch,
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topics: m.subscribed.iter().cloned().collect(),
                    assignment: flatten(&m.assignment),
                })
                .collect(),
        }
    }

    /// A group as stored. Its target assignment is recomputed from the stored members (the
    /// assignor is deterministic and sticky, so it is the one they were given), and every member
    /// starts a fresh session of `session`.
    fn from_record(id: &str, rec: ShareGroupRecord, session: Duration) -> ShareGroup {
        let deadline = Instant::now() + session;
        let members: BTreeMap<String, Member> = rec
            .members
            .into_iter()
            .map(|m| {
                (
                    m.member_id,
                    Member {
                        member_epoch: m.member_epoch,
                        previous_member_epoch: m.previous_member_epoch,
                        rack_id: m.rack_id,
                        client_id: m.client_id,
                        client_host: m.client_host,
                        subscribed: m.subscribed_topics.into_iter().collect(),
                        assignment: m
                            .assignment
                            .into_iter()
                            .map(|(t, ps)| (t, ps.into_iter().collect()))
                            .collect(),
                        deadline,
                        incarnation: next_incarnation(),
                        timer: None,
                    },
                )
            })
            .collect();
        let input = members
            .iter()
            .map(|(id, m)| (id.clone(), (m.subscribed.clone(), m.assignment.clone())))
            .collect();
        let target = assignor::assign(&input, &rec.topics);
        ShareGroup {
            id: id.to_string(),
            group_epoch: rec.group_epoch,
            assignment_epoch: rec.assignment_epoch,
            topics: rec.topics,
            members,
            target,
            dead: false,
        }
    }
}

/// A number no other member incarnation of this process has.
fn next_incarnation() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

fn flatten(a: &Assignment) -> BTreeMap<Uuid, Vec<i32>> {
    a.iter()
        .map(|(t, ps)| (*t, ps.iter().copied().collect()))
        .collect()
}

/// A [`ShareGroupCoordinator`] that does not keep it alive (see `downgrade`).
#[derive(Clone)]
pub struct WeakShareGroups(Weak<Shared>);

impl WeakShareGroups {
    pub fn upgrade(&self) -> Option<ShareGroupCoordinator> {
        self.0
            .upgrade()
            .map(|shared| ShareGroupCoordinator { shared })
    }
}

/// Handle to the coordinator; cheap to clone.
#[derive(Clone)]
pub struct ShareGroupCoordinator {
    shared: Arc<Shared>,
}

struct Shared {
    groups: Mutex<HashMap<String, Arc<Mutex<ShareGroup>>>>,
    store: Store,
    configs: Arc<GroupConfigs>,
    max_size: usize,
    listeners: RwLock<Vec<Arc<dyn ShareGroupListener>>>,
    other_groups: RwLock<Option<OtherGroups>>,
}

/// What happened under a group's lock that listeners must hear once it is released.
enum Event {
    MemberLeft(String, String),
    GroupDeleted(String),
}

impl ShareGroupCoordinator {
    /// Loads every share group; each member's session timeout starts now. Needs a tokio runtime
    /// for those timers.
    pub fn open(
        store: Store,
        configs: Arc<GroupConfigs>,
        max_size: usize,
    ) -> anyhow::Result<ShareGroupCoordinator> {
        let mut groups = HashMap::new();
        let mut members = Vec::new();
        for (id, rec) in store.load_share_groups()? {
            let session = Duration::from_millis(configs.share(&id).session_timeout_ms as u64);
            let g = ShareGroup::from_record(&id, rec, session);
            tracing::info!(group = %id, epoch = g.group_epoch, members = g.members.len(), "loaded share group");
            members.extend(
                g.members
                    .iter()
                    .map(|(m, x)| (id.clone(), m.clone(), x.incarnation)),
            );
            groups.insert(id, Arc::new(Mutex::new(g)));
        }
        let coordinator = ShareGroupCoordinator {
            shared: Arc::new(Shared {
                groups: Mutex::new(groups),
                store,
                configs,
                max_size,
                listeners: RwLock::new(Vec::new()),
                other_groups: RwLock::new(None),
            }),
        };
        for (group, member, incarnation) in members {
            let timer = coordinator.watch_session(&group, member.clone(), incarnation);
            if let Some(g) = coordinator.group(&group) {
                if let Some(m) = g
                    .lock()
                    .expect("share group poisoned")
                    .members
                    .get_mut(&member)
                {
                    m.timer = Some(timer);
                }
            }
        }
        Ok(coordinator)
    }

    /// Connects the share-partition side (see [`ShareGroupListener`]).
    pub fn add_listener(&self, listener: Arc<dyn ShareGroupListener>) {
        self.shared
            .listeners
            .write()
            .expect("listeners poisoned")
            .push(listener);
    }

    /// Connects the other coordinators (see [`OtherGroups`]).
    pub fn set_other_groups(&self, other: OtherGroups) {
        *self.shared.other_groups.write().expect("seam poisoned") = Some(other);
    }

    /// A handle for callbacks that other coordinators hold: it does not keep this one (and its
    /// store) alive, so the callbacks make no reference cycle.
    pub fn downgrade(&self) -> WeakShareGroups {
        WeakShareGroups(Arc::downgrade(&self.shared))
    }

    /// How many members a share group has; None if there is no share group of this id.
    pub fn member_count(&self, id: &str) -> Option<usize> {
        let g = self.group(id)?;
        let g = g.lock().expect("share group poisoned");
        (!g.dead).then_some(g.members.len())
    }

    /// Whether a member of the group is assigned the partition now: the share partition is
    /// initialised once it is (Kafka initialises a share partition's state when the group
    /// coordinator first assigns it).
    pub fn is_assigned(&self, id: &str, topic_id: Uuid, partition: i32) -> bool {
        let Some(g) = self.group(id) else {
            return false;
        };
        let g = g.lock().expect("share group poisoned");
        !g.dead
            && g.members.values().any(|m| {
                m.assignment
                    .get(&topic_id)
                    .is_some_and(|ps| ps.contains(&partition))
            })
    }

    /// Whether a share group with this id exists (for the other coordinators, which must refuse
    /// the id as Kafka does).
    pub fn has_group(&self, id: &str) -> bool {
        self.group(id)
            .is_some_and(|g| !g.lock().expect("share group poisoned").dead)
    }

    fn other_type(&self, id: &str) -> Option<&'static str> {
        let other = self
            .shared
            .other_groups
            .read()
            .expect("seam poisoned")
            .clone();
        other.and_then(|f| f(id))
    }

    fn group(&self, id: &str) -> Option<Arc<Mutex<ShareGroup>>> {
        self.shared
            .groups
            .lock()
            .expect("share groups poisoned")
            .get(id)
            .cloned()
    }

    fn notify(&self, events: Vec<Event>) {
        if events.is_empty() {
            return;
        }
        let listeners = self
            .shared
            .listeners
            .read()
            .expect("listeners poisoned")
            .clone();
        for e in events {
            for l in &listeners {
                match &e {
                    Event::MemberLeft(g, m) => l.member_left(g, m),
                    Event::GroupDeleted(g) => l.group_deleted(g),
                }
            }
        }
    }

    fn store_group(&self, g: &ShareGroup) -> Result<(), ShareGroupError> {
        self.shared
            .store
            .put_share_group(&g.id, &g.to_record())
            .map_err(|e| {
                tracing::error!(group = %g.id, error = %e, "storing the share group failed");
                ShareGroupError::Storage(e.to_string())
            })
    }

    /// Creates an empty share group with this id unless one exists (Kafka creates it when an admin
    /// sets start offsets before any member joined). False if the id is another type's group.
    pub fn create_empty(&self, id: &str) -> Result<bool, ShareGroupError> {
        if self.other_type(id).is_some() {
            return Ok(false);
        }
        let mut groups = self.shared.groups.lock().expect("share groups poisoned");
        if groups
            .get(id)
            .is_some_and(|g| !g.lock().expect("share group poisoned").dead)
        {
            return Ok(true);
        }
        let g = ShareGroup::new(id);
        self.store_group(&g)?;
        groups.insert(id.to_string(), Arc::new(Mutex::new(g)));
        Ok(true)
    }

    /// ShareGroupHeartbeat v1: join (epoch 0), heartbeat, leave (epoch -1).
    pub fn heartbeat(
        &self,
        req: Heartbeat,
        topics: TopicLookup,
    ) -> Result<HeartbeatAnswer, ShareGroupError> {
        validate(&req)?;
        let settings = self.shared.configs.share(&req.group_id);
        let group = if req.member_epoch == 0 {
            if let Some(kind) = self.other_type(&req.group_id) {
                tracing::debug!(group = %req.group_id, kind, "share heartbeat for another type of group");
                return Err(ShareGroupError::GroupIdNotFound(format!(
                    "Group {} is not a share group.",
                    req.group_id
                )));
            }
            let mut groups = self.shared.groups.lock().expect("share groups poisoned");
            groups
                .entry(req.group_id.clone())
                .or_insert_with(|| Arc::new(Mutex::new(ShareGroup::new(&req.group_id))))
                .clone()
        } else {
            match self.group(&req.group_id) {
                Some(g) => g,
                None if self.other_type(&req.group_id).is_some() => {
                    return Err(ShareGroupError::GroupIdNotFound(format!(
                        "Group {} is not a share group.",
                        req.group_id
                    )))
                }
                None => {
                    return Err(ShareGroupError::GroupIdNotFound(format!(
                        "Share group {} not found.",
                        req.group_id
                    )))
                }
            }
        };
        let mut events = Vec::new();
        let result = {
            let mut g = group.lock().expect("share group poisoned");
            if g.dead {
                return Err(ShareGroupError::GroupIdNotFound(format!(
                    "Share group {} not found.",
                    req.group_id
                )));
            }
            if req.member_epoch == -1 {
                self.leave(&mut g, &req.member_id, topics, &mut events)
                    .map(|flush| HeartbeatAnswer {
                        member_id: req.member_id.clone(),
                        member_epoch: -1,
                        heartbeat_interval_ms: 0,
                        assignment: None,
                        flush,
                    })
            } else {
                self.join_or_heartbeat(
                    &mut g,
                    req,
                    settings.heartbeat_interval_ms,
                    settings.session_timeout_ms,
                    topics,
                )
            }
        };
        self.notify(events);
        result
    }

    fn join_or_heartbeat(
        &self,
        g: &mut ShareGroup,
        req: Heartbeat,
        heartbeat_interval_ms: i32,
        session_timeout_ms: i32,
        topics: TopicLookup,
    ) -> Result<HeartbeatAnswer, ShareGroupError> {
        let session = Duration::from_millis(session_timeout_ms.max(0) as u64);
        let mut changed = false;
        let joining = req.member_epoch == 0;
        if joining {
            if !g.members.contains_key(&req.member_id) {
                if g.members.len() >= self.shared.max_size {
                    return Err(ShareGroupError::GroupMaxSizeReached(format!(
                        "The share group has reached its maximum capacity of {} members.",
                        self.shared.max_size
                    )));
                }
                g.members.insert(
                    req.member_id.clone(),
                    Member {
                        member_epoch: 0,
                        previous_member_epoch: -1,
                        rack_id: None,
                        client_id: String::new(),
                        client_host: String::new(),
                        subscribed: BTreeSet::new(),
                        assignment: Assignment::new(),
                        deadline: Instant::now() + session,
                        incarnation: next_incarnation(),
                        timer: None,
                    },
                );
                changed = true;
                let incarnation = g.members[&req.member_id].incarnation;
                let timer = self.watch_session(&g.id, req.member_id.clone(), incarnation);
                g.members.get_mut(&req.member_id).expect("just added").timer = Some(timer);
                tracing::info!(group = %g.id, member = %req.member_id, "share group member joined");
            }
        } else {
            let Some(m) = g.members.get(&req.member_id) else {
                return Err(ShareGroupError::UnknownMemberId(format!(
                    "Member {} is not a member of group {}.",
                    req.member_id, g.id
                )));
            };
            // Kafka accepts the previous epoch too: the answer that moved the member on may
            // have been lost.
            if req.member_epoch > m.member_epoch {
                return Err(ShareGroupError::FencedMemberEpoch(format!(
                    "The share group member has a greater member epoch ({}) than the one known by \
                     the group coordinator ({}). The member must abandon all its partitions and \
                     rejoin.",
                    req.member_epoch, m.member_epoch
                )));
            }
            if req.member_epoch < m.member_epoch && req.member_epoch != m.previous_member_epoch {
                return Err(ShareGroupError::FencedMemberEpoch(format!(
                    "The share group member has a smaller member epoch ({}) than the one known by \
                     the group coordinator ({}), and it does not match the previous member epoch \
                     ({}). The member must abandon all its partitions and rejoin.",
                    req.member_epoch, m.member_epoch, m.previous_member_epoch
                )));
            }
        }
        let mut subscription_changed = false;
        {
            let m = g.members.get_mut(&req.member_id).expect("present");
            m.deadline = Instant::now() + session;
            if let Some(names) = &req.subscribed_topic_names {
                let names: BTreeSet<String> = names.iter().cloned().collect();
                if names != m.subscribed {
                    m.subscribed = names;
                    subscription_changed = true;
                }
            }
            if req.rack_id.is_some() && req.rack_id != m.rack_id {
                m.rack_id = req.rack_id.clone();
                changed = true;
            }
            if m.client_id != req.client_id || m.client_host != req.client_host {
                m.client_id = req.client_id.clone();
                m.client_host = req.client_host.clone();
                changed = true;
            }
        }
        if subscription_changed || (joining && changed) {
            let now = g.resolve(topics);
            g.bump_and_assign(now);
            changed = true;
        } else if g.refresh(topics) {
            changed = true;
        }
        // Reconcile: the member takes its target assignment at the assignment epoch.
        let assignment_epoch = g.assignment_epoch;
        let target = g.target.get(&req.member_id).cloned().unwrap_or_default();
        let m = g.members.get_mut(&req.member_id).expect("present");
        let mut assignment_changed = false;
        if m.member_epoch != assignment_epoch {
            m.previous_member_epoch = m.member_epoch;
            m.member_epoch = assignment_epoch;
            changed = true;
        }
        if m.assignment != target {
            m.assignment = target;
            assignment_changed = true;
            changed = true;
        }
        let answer = HeartbeatAnswer {
            member_id: req.member_id.clone(),
            member_epoch: m.member_epoch,
            heartbeat_interval_ms,
            assignment: (joining || assignment_changed).then(|| m.assignment.clone()),
            flush: changed,
        };
        if changed {
            self.store_group(g)?;
        }
        Ok(answer)
    }

    /// Removes a member (it left, was fenced, or its session expired) and reassigns its
    /// partitions. Returns whether anything changed.
    fn leave(
        &self,
        g: &mut ShareGroup,
        member_id: &str,
        topics: TopicLookup,
        events: &mut Vec<Event>,
    ) -> Result<bool, ShareGroupError> {
        let Some(gone) = g.members.remove(member_id) else {
            return Err(ShareGroupError::UnknownMemberId(format!(
                "Member {member_id} is not a member of group {}.",
                g.id
            )));
        };
        // The expiring timer itself may be the caller: it returns before its next await, so
        // aborting it here cuts nothing short.
        if let Some(timer) = gone.timer {
            timer.abort();
        }
        tracing::info!(group = %g.id, member = member_id, "share group member left");
        g.target.remove(member_id);
        let now = g.resolve(topics);
        g.bump_and_assign(now);
        events.push(Event::MemberLeft(g.id.clone(), member_id.to_string()));
        self.store_group(g)?;
        Ok(true)
    }

    /// Session timeout for one member: sleeps until its deadline, re-checked under the lock
    /// (heartbeats move it), and removes the member once it passed. Topics are not looked up
    /// here (the timer has no broker): the assignment is recomputed over the topics last seen,
    /// and the next heartbeat notices any change to them.
    fn watch_session(
        &self,
        group_id: &str,
        member_id: String,
        incarnation: u64,
    ) -> tokio::task::AbortHandle {
        let this = self.clone();
        let group_id = group_id.to_string();
        let span = info_span!(parent: None, "share_session_timeout", group = %group_id, member = %member_id);
        tokio::spawn(
            async move {
                loop {
                    let next = {
                        let Some(group) = this.group(&group_id) else {
                            return;
                        };
                        let mut events = Vec::new();
                        let next = {
                            let mut g = group.lock().expect("share group poisoned");
                            let Some(m) = g.members.get(&member_id) else {
                                return;
                            };
                            if m.incarnation != incarnation {
                                return;
                            }
                            if Instant::now() < m.deadline {
                                Some(m.deadline)
                            } else {
                                tracing::info!(group = %group_id, member = %member_id, "share group member session expired");
                                let seen = g.topics.clone();
                                let lookup = move |name: &str| seen.get(name).copied();
                                let _ = this.leave(&mut g, &member_id, &lookup, &mut events);
                                None
                            }
                        };
                        this.notify(events);
                        next
                    };
                    match next {
                        Some(deadline) => tokio::time::sleep_until(deadline).await,
                        None => return,
                    }
                }
            }
            .instrument(span),
        )
        .abort_handle()
    }

    /// ShareGroupDescribe for one group.
    pub fn describe(
        &self,
        group_id: &str,
        topics: TopicLookup,
    ) -> Result<GroupDescription, ShareGroupError> {
        let Some(group) = self.group(group_id) else {
            return Err(ShareGroupError::GroupIdNotFound(
                match self.other_type(group_id) {
                    Some(_) => format!("Group {group_id} is not a share group."),
                    None => format!("Group {group_id} not found."),
                },
            ));
        };
        let mut g = group.lock().expect("share group poisoned");
        if g.dead {
            return Err(ShareGroupError::GroupIdNotFound(format!(
                "Group {group_id} not found."
            )));
        }
        if !g.members.is_empty() && g.refresh(topics) {
            // Members take the new assignment at their next heartbeat; the record must say
            // what the group's epoch now is either way.
            let _ = self.store_group(&g);
        }
        Ok(GroupDescription {
            group_id: g.id.clone(),
            state: g.state(),
            group_epoch: g.group_epoch,
            assignment_epoch: g.assignment_epoch,
            members: g
                .members
                .iter()
                .map(|(id, m)| MemberDescription {
                    member_id: id.clone(),
                    member_epoch: m.member_epoch,
                    rack_id: m.rack_id.clone(),
                    client_id: m.client_id.clone(),
                    client_host: m.client_host.clone(),
                    subscribed_topic_names: m.subscribed.iter().cloned().collect(),
                    assignment: m.assignment.clone(),
                })
                .collect(),
        })
    }

    /// (group id, state) of every share group, optionally filtered by state name.
    pub fn list(&self, states: &[String]) -> Vec<(String, ShareGroupState)> {
        let groups: Vec<_> = self
            .shared
            .groups
            .lock()
            .expect("share groups poisoned")
            .values()
            .cloned()
            .collect();
        let mut out: Vec<_> = groups
            .iter()
            .map(|g| {
                let g = g.lock().expect("share group poisoned");
                (g.id.clone(), g.state())
            })
            .filter(|(_, s)| *s != ShareGroupState::Dead)
            .filter(|(_, s)| {
                states.is_empty() || states.iter().any(|f| f.eq_ignore_ascii_case(s.name()))
            })
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }

    /// DeleteGroups for a share group: only an empty one (NON_EMPTY_GROUP otherwise). `None` if
    /// no share group has this id (the caller asks the other coordinators).
    pub fn delete_group(&self, group_id: &str) -> Option<Result<(), ShareGroupError>> {
        let group = self.group(group_id)?;
        let result = {
            let mut g = group.lock().expect("share group poisoned");
            if g.dead {
                return None;
            }
            if !g.members.is_empty() {
                return Some(Err(ShareGroupError::NonEmptyGroup(format!(
                    "Group {group_id} is not empty."
                ))));
            }
            if let Err(e) = self.shared.store.delete_share_group(group_id) {
                tracing::error!(group = group_id, error = %e, "deleting the share group failed");
                return Some(Err(ShareGroupError::Storage(e.to_string())));
            }
            g.dead = true;
            Ok(())
        };
        let mut groups = self.shared.groups.lock().expect("share groups poisoned");
        if groups.get(group_id).is_some_and(|x| Arc::ptr_eq(x, &group)) {
            groups.remove(group_id);
        }
        drop(groups);
        tracing::info!(group = group_id, "share group deleted");
        self.notify(vec![Event::GroupDeleted(group_id.to_string())]);
        Some(result)
    }

    /// The store; tests close it before reopening.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }
}

/// Kafka's checks of a ShareGroupHeartbeat before any group is touched
/// (`throwIfShareGroupHeartbeatRequestIsInvalid`).
fn validate(req: &Heartbeat) -> Result<(), ShareGroupError> {
    let invalid = |m: &str| Err(ShareGroupError::InvalidRequest(m.to_string()));
    if req.member_id.trim().is_empty() {
        return invalid("MemberId can't be empty.");
    }
    if req.group_id.trim().is_empty() {
        return invalid("GroupId can't be empty.");
    }
    if req.rack_id.as_deref().is_some_and(|r| r.trim().is_empty()) {
        return invalid("RackId can't be empty.");
    }
    let no_topics = req
        .subscribed_topic_names
        .as_ref()
        .is_none_or(|t| t.is_empty());
    match req.member_epoch {
        0 if no_topics => invalid("SubscribedTopicNames must be set in first request."),
        e if e < -1 => invalid("MemberEpoch is invalid."),
        _ => Ok(()),
    }
}
