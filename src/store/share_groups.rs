//! Share groups' durable state (KIP-932): one record per share group (Kafka's ShareGroupMetadata,
//! member and target-assignment records in `__consumer_offsets`, kept here as one value), and the
//! dynamic group configs of any group (Kafka keeps those as GROUP config records in the metadata log).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::metadata::skipped;
use super::{Store, StoreError};

/// A share group as persisted: its epochs, the metadata its assignment was computed from, and its
/// members with their subscriptions and assignments. Rewritten whole when any of those changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareGroupRecord {
    pub group_epoch: i32,
    pub assignment_epoch: i32,
    /// The subscribed topics as last seen: name -> (id, partition count). A change (created,
    /// deleted, grown) bumps the group epoch and recomputes the assignment.
    pub topics: BTreeMap<String, (Uuid, i32)>,
    pub members: Vec<ShareMemberRecord>,
}

/// One member of a [`ShareGroupRecord`] (Kafka's ShareGroupMemberMetadataValue plus its
/// ShareGroupCurrentMemberAssignmentValue).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareMemberRecord {
    pub member_id: String,
    pub member_epoch: i32,
    /// The epoch before `member_epoch`, which the member may still send (Kafka accepts it).
    #[serde(default)]
    pub previous_member_epoch: i32,
    pub rack_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub subscribed_topics: Vec<String>,
    /// Assigned partitions by topic id.
    pub assignment: BTreeMap<Uuid, Vec<i32>>,
}

/// One group's config overrides: name -> value.
pub type GroupConfigOverrides = BTreeMap<String, String>;

impl Store {
    fn share_groups_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("share_groups")?)
    }

    fn group_configs_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("group_configs")?)
    }

    /// Replaces a share group's record; durable at the next flush.
    pub fn put_share_group(&self, group: &str, rec: &ShareGroupRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::encode("a share group", e))?;
        self.share_groups_tree()?.insert(group.as_bytes(), v)?;
        Ok(())
    }

    pub fn delete_share_group(&self, group: &str) -> Result<(), StoreError> {
        self.share_groups_tree()?.remove(group.as_bytes())?;
        Ok(())
    }

    /// Every share group; one whose record does not decode is skipped and logged.
    pub fn load_share_groups(&self) -> Result<Vec<(String, ShareGroupRecord)>, StoreError> {
        load_json(&self.share_groups_tree()?, "a share group")
    }

    /// Replaces a group's config overrides; an empty set removes the entry. Durable at the next flush.
    pub fn put_group_configs(
        &self,
        group: &str,
        configs: &BTreeMap<String, String>,
    ) -> Result<(), StoreError> {
        let tree = self.group_configs_tree()?;
        if configs.is_empty() {
            tree.remove(group.as_bytes())?;
        } else {
            let v = serde_json::to_vec(configs)
                .map_err(|e| StoreError::encode("a group's configs", e))?;
            tree.insert(group.as_bytes(), v)?;
        }
        Ok(())
    }

    /// Every group's config overrides; one that does not decode is skipped and logged.
    pub fn load_group_configs(&self) -> Result<Vec<(String, GroupConfigOverrides)>, StoreError> {
        load_json(&self.group_configs_tree()?, "a group's configs")
    }
}

fn load_json<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
) -> Result<Vec<(String, T)>, StoreError> {
    let mut out = Vec::new();
    for item in tree.iter() {
        let (k, v) = item?;
        let Ok(group) = std::str::from_utf8(&k) else {
            skipped(what, &k, "the key is not UTF-8");
            continue;
        };
        match serde_json::from_slice(&v) {
            Ok(rec) => out.push((group.to_string(), rec)),
            Err(e) => skipped(what, &k, e),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_groups_and_group_configs_round_trip_and_skip_what_does_not_decode() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let rec = ShareGroupRecord {
            group_epoch: 3,
            assignment_epoch: 3,
            topics: BTreeMap::from([("t".to_string(), (Uuid::from_u128(7), 2))]),
            members: vec![ShareMemberRecord {
                member_id: "m".into(),
                member_epoch: 3,
                previous_member_epoch: 1,
                rack_id: None,
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                subscribed_topics: vec!["t".into()],
                assignment: BTreeMap::from([(Uuid::from_u128(7), vec![0, 1])]),
            }],
        };
        store.put_share_group("g", &rec).unwrap();
        store
            .share_groups_tree()
            .unwrap()
            .insert("bad", &b"{"[..])
            .unwrap();
        assert_eq!(store.load_share_groups().unwrap(), vec![("g".into(), rec)]);
        store.delete_share_group("g").unwrap();
        store.delete_share_group("bad").unwrap();
        assert!(store.load_share_groups().unwrap().is_empty());

        let configs = BTreeMap::from([("share.auto.offset.reset".into(), "earliest".into())]);
        store.put_group_configs("g", &configs).unwrap();
        assert_eq!(
            store.load_group_configs().unwrap(),
            vec![("g".into(), configs)]
        );
        store.put_group_configs("g", &BTreeMap::new()).unwrap();
        assert!(store.load_group_configs().unwrap().is_empty());
    }
}
