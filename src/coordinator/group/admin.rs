//! ListGroups, DescribeGroups and DeleteGroups.

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::state::GroupState;
use super::{code, GroupCoordinator};

#[derive(Debug, Clone)]
pub struct MemberDescription {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub metadata: Bytes,
    pub assignment: Bytes,
}

/// One group in a ListGroups answer.
#[derive(Debug, Clone)]
pub struct ListedGroup {
    pub group_id: String,
    pub protocol_type: String,
    /// Kafka's state name: a classic state, or a consumer group's (Empty, Assigning,
    /// Reconciling, Stable).
    pub state: &'static str,
    /// "classic" or "consumer".
    pub group_type: &'static str,
}

#[derive(Debug, Clone)]
pub struct GroupDescription {
    pub state: GroupState,
    pub protocol_type: String,
    pub protocol_name: String,
    pub members: Vec<MemberDescription>,
}

impl GroupCoordinator {
    /// The type of the group with this id, "classic" or "consumer", if there is one (the
    /// share-group coordinator refuses ids of other types, as Kafka).
    pub fn group_type(&self, group_id: &str) -> Option<&'static str> {
        let g = self.group(group_id)?;
        let g = g.lock().expect("group poisoned");
        match (&g.consumer, g.state) {
            (_, GroupState::Dead) => None,
            (Some(_), _) => Some("consumer"),
            (None, _) => Some("classic"),
        }
    }

    /// Every group as ListGroups shows it, optionally filtered by state names and group types
    /// (case-insensitive, as Kafka): classic groups with their classic states, consumer groups
    /// (KIP-848) with theirs.
    pub fn list(&self, states: &[String], types: &[String]) -> Vec<ListedGroup> {
        let groups: Vec<_> = self
            .shared
            .groups
            .lock()
            .expect("groups poisoned")
            .values()
            .cloned()
            .collect();
        let mut out: Vec<ListedGroup> = groups
            .iter()
            .filter_map(|g| {
                let g = g.lock().expect("group poisoned");
                if g.state == GroupState::Dead {
                    return None;
                }
                Some(match &g.consumer {
                    Some(c) => ListedGroup {
                        group_id: g.id.clone(),
                        protocol_type: "consumer".to_string(),
                        state: c.state(),
                        group_type: "consumer",
                    },
                    None => ListedGroup {
                        group_id: g.id.clone(),
                        protocol_type: g.protocol_type.clone().unwrap_or_default(),
                        state: g.state.name(),
                        group_type: "classic",
                    },
                })
            })
            .filter(|l| states.is_empty() || states.iter().any(|f| f.eq_ignore_ascii_case(l.state)))
            .filter(|l| {
                types.is_empty() || types.iter().any(|f| f.eq_ignore_ascii_case(l.group_type))
            })
            .collect();
        out.sort_by(|a, b| a.group_id.cmp(&b.group_id));
        out
    }

    /// DescribeGroups for one group; an unknown group is described as Dead, as Kafka does.
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
        if g.consumer.is_some() {
            // DescribeGroups (up to v5) describes classic groups only; Kafka answers Dead for a
            // consumer group, which admin clients then describe with ConsumerGroupDescribe.
            return GroupDescription {
                state: GroupState::Dead,
                protocol_type: String::new(),
                protocol_name: String::new(),
                members: Vec::new(),
            };
        }
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
        if g.consumer.as_ref().is_some_and(|c| !c.members.is_empty()) {
            return code(ResponseError::NonEmptyGroup);
        }
        if let Err(e) = self.shared.store.delete_group_offsets(group_id) {
            tracing::error!(group = group_id, error = %e, "deleting group offsets failed");
            return code(ResponseError::KafkaStorageError);
        }
        g.state = GroupState::Dead;
        g.offsets.clear();
        g.consumer = None;
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
