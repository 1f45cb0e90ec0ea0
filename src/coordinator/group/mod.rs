//! The group coordinator for the classic consumer group protocol and KIP-848 consumer groups,
//! modelled on Apache Kafka's.
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
//! flushed it, so an acknowledged commit survives a crash. Membership is persisted as Kafka does
//! it (a [`crate::store::GroupRecord`] per group, Kafka's GroupMetadataValue), written when a
//! rebalance completes (before any member gets its assignment: SyncGroup answers wait for the
//! flush), when the group empties and when a static member is replaced, and removed with the
//! group. A restarted coordinator restores each group Stable with its members, or Empty, and gives
//! every member a fresh session timeout: a stable group does not notice the restart, and a member
//! that does not come back is removed (and the others rebalance) as if it had gone silent.
//!
//! # Layout
//! - this file: the [`GroupCoordinator`] handle, the registry of groups it shares with its timers,
//!   loading groups and committed offsets at start-up, and writing group records;
//! - `state`: one group and its members ([`GroupState`], protocol selection, fencing);
//! - `join`: JoinGroup (new, known and static members);
//! - `rebalance`: moving a group through a rebalance (prepare, complete the join phase, remove members);
//! - `sync`: SyncGroup (the leader's assignments);
//! - `heartbeat`: Heartbeat and LeaveGroup;
//! - `timers`: the delayed tasks (rebalance timeout, session timeout, pending member expiry);
//! - `offsets`: OffsetCommit, OffsetFetch, OffsetDelete;
//! - `admin`: ListGroups, DescribeGroups, DeleteGroups;
//! - `txn_offsets`: TxnOffsetCommit's pending offsets, applied or dropped when the transaction ends;
//! - `consumer`: KIP-848 consumer groups (ConsumerGroupHeartbeat, ConsumerGroupDescribe, the
//!   server-side assignors), kept in the same `Group` so that group ids are one namespace, offsets
//!   are shared and an empty group converts between the protocols.

mod admin;
pub mod consumer;
mod heartbeat;
mod join;
mod offsets;
mod rebalance;
mod state;
mod sync;
mod timers;
mod txn_offsets;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use kafka_protocol::error::ResponseError;
use tokio::sync::oneshot;

use crate::store::{Store, StoreError};

pub use admin::{GroupDescription, ListedGroup, MemberDescription};
pub use join::{JoinRequest, JoinResult};
pub use offsets::TopicOffsets;
pub use state::GroupState;
pub use sync::{SyncRequest, SyncResult};

use state::Group;

/// Limits from the broker configuration.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    pub initial_rebalance_delay_ms: u64,
    pub max_metadata_bytes: usize,
    /// KIP-848 consumer groups: Kafka's group.consumer.session.timeout.ms,
    /// group.consumer.heartbeat.interval.ms, group.consumer.max.size, group.consumer.assignors.
    pub consumer_session_timeout_ms: i32,
    pub consumer_heartbeat_interval_ms: i32,
    pub consumer_max_size: usize,
    pub consumer_assignors: Vec<String>,
}

/// An answer now, or one to wait for.
pub enum Pending<T> {
    Ready(T),
    Wait(oneshot::Receiver<T>),
}

/// Handle to the coordinator; cheap to clone.
#[derive(Clone)]
pub struct GroupCoordinator {
    shared: Arc<CoordinatorState>,
}

/// What every clone of the handle, and every timer task, shares: the registry of groups (each
/// behind its own lock), the store for committed offsets, and the limits.
struct CoordinatorState {
    groups: Mutex<HashMap<String, Arc<Mutex<Group>>>>,
    store: Store,
    config: GroupConfig,
}

fn code(e: ResponseError) -> i16 {
    e.code()
}

impl GroupCoordinator {
    /// Loads groups (their membership records, then committed offsets): a group with members
    /// is Stable again and each member's session timeout starts now; a group that has only
    /// offsets or a protocol type exists again, Empty. Needs a tokio runtime for those timers.
    pub fn open(store: Store, config: GroupConfig) -> anyhow::Result<GroupCoordinator> {
        let mut groups: HashMap<String, Group> = HashMap::new();
        for (group, protocol_type) in store.load_group_protocol_types()? {
            groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group))
                .protocol_type = Some(protocol_type);
        }
        for (group, rec) in store.load_group_records()? {
            let g = Group::from_record(&group, rec);
            tracing::info!(
                group = %group,
                generation = g.generation_id,
                members = g.members.len(),
                state = g.state.name(),
                "loaded group"
            );
            groups.insert(group, g);
        }
        for (group, topic, partition, committed) in store.load_offsets()? {
            groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group))
                .offsets
                .insert((topic, partition), committed);
        }
        GroupCoordinator::load_pending(&mut groups, store.load_pending_offsets()?);
        for (group, c) in store.load_consumer_groups::<consumer::ConsumerGroup>()? {
            let g = groups
                .entry(group.clone())
                .or_insert_with(|| Group::new(&group));
            tracing::info!(
                group = %group,
                epoch = c.group_epoch,
                members = c.members.len(),
                "loaded consumer group"
            );
            g.protocol_type = Some("consumer".to_string());
            g.consumer = Some(c);
        }
        let members: Vec<(String, String)> = groups
            .values()
            .flat_map(|g| g.members.keys().map(|m| (g.id.clone(), m.clone())))
            .collect();
        let coordinator = GroupCoordinator {
            shared: Arc::new(CoordinatorState {
                groups: Mutex::new(
                    groups
                        .into_iter()
                        .map(|(k, g)| (k, Arc::new(Mutex::new(g))))
                        .collect(),
                ),
                store,
                config,
            }),
        };
        for (group, member) in members {
            coordinator.watch_session(&group, member);
        }
        coordinator.watch_loaded_consumer_members();
        Ok(coordinator)
    }

    /// Writes the group's membership record (durable at the next flush: answers that depend on
    /// it set their `flush` flag). Under the group's lock, as offset writes are: a sled insert.
    fn store_group(&self, g: &Group) -> Result<(), StoreError> {
        self.shared
            .store
            .put_group_record(&g.id, &g.to_record())
            .inspect_err(|e| {
                tracing::error!(group = %g.id, error = %e, "storing the group's membership failed");
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

    /// The store it writes offsets and groups to; today only tests use it, to close the store
    /// before reopening.
    pub fn store(&self) -> &Store {
        &self.shared.store
    }
}
