//! Share-group partition state (KIP-932): what Kafka's share coordinator keeps in
//! `__share_group_state`, one record per (group, topic, partition), rewritten whole on change.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::group_prefix;
use super::metadata::skipped;
use super::{Store, StoreError};

/// One share partition's durable state: its start offset (SPSO), and the offsets in flight
/// above it as runs sharing a state and delivery count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareStateRecord {
    pub start: i64,
    /// (first, last, state, delivery count), in offset order and contiguous from `start`; the
    /// state is Kafka's code (0 available, 2 acknowledged, 4 archived).
    pub runs: Vec<(i64, i64, u8, i16)>,
}

/// The group's key prefix, then the topic id and the partition.
fn share_key(group: &str, topic_id: Uuid, partition: i32) -> Option<Vec<u8>> {
    let mut k = group_prefix(group)?;
    k.extend_from_slice(topic_id.as_bytes());
    k.extend_from_slice(&partition.to_be_bytes());
    Some(k)
}

fn parse_share_key(k: &[u8]) -> Option<(String, Uuid, i32)> {
    let len = u16::from_be_bytes(k.get(0..2)?.try_into().ok()?) as usize;
    let group = std::str::from_utf8(k.get(2..2 + len)?).ok()?.to_string();
    let rest = k.get(2 + len..)?;
    if rest.len() != 20 {
        return None;
    }
    let id = Uuid::from_slice(&rest[..16]).ok()?;
    let partition = i32::from_be_bytes(rest[16..].try_into().ok()?);
    Some((group, id, partition))
}

impl Store {
    fn share_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("share_state")?)
    }

    /// Replaces one share partition's state. Durable at the next flush ([`Store::sync`]).
    pub fn put_share_state(
        &self,
        group: &str,
        topic_id: Uuid,
        partition: i32,
        rec: &ShareStateRecord,
    ) -> Result<(), StoreError> {
        let key = share_key(group, topic_id, partition)
            .ok_or_else(|| StoreError::encode("a share-state key", "the group id is too long"))?;
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::encode("share state", e))?;
        self.share_tree()?.insert(key, v)?;
        Ok(())
    }

    /// Forgets one share partition's state.
    pub fn remove_share_state(
        &self,
        group: &str,
        topic_id: Uuid,
        partition: i32,
    ) -> Result<(), StoreError> {
        if let Some(key) = share_key(group, topic_id, partition) {
            self.share_tree()?.remove(key)?;
        }
        Ok(())
    }

    /// Forgets every share partition of a group.
    pub fn remove_share_group(&self, group: &str) -> Result<(), StoreError> {
        if let Some(prefix) = group_prefix(group) {
            let tree = self.share_tree()?;
            for item in tree.scan_prefix(prefix) {
                tree.remove(item?.0)?;
            }
        }
        Ok(())
    }

    /// Forgets every group's state of a topic's partitions (the topic was deleted).
    pub fn remove_share_topic(&self, topic_id: Uuid) -> Result<(), StoreError> {
        let tree = self.share_tree()?;
        for item in tree.iter() {
            let (k, _) = item?;
            if parse_share_key(&k).is_some_and(|(_, id, _)| id == topic_id) {
                tree.remove(k)?;
            }
        }
        Ok(())
    }

    /// Every share partition's state; one that does not decode is logged and skipped.
    pub fn load_share_states(
        &self,
    ) -> Result<Vec<(String, Uuid, i32, ShareStateRecord)>, StoreError> {
        let mut out = Vec::new();
        for item in self.share_tree()?.iter() {
            let (k, v) = item?;
            let Some((group, id, partition)) = parse_share_key(&k) else {
                skipped("a share-state key", &k, "malformed");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(rec) => out.push((group, id, partition, rec)),
                Err(e) => skipped("share state", &k, e),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn share_state_round_trips_and_is_removed_by_partition_or_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 500).unwrap();
        let (t, rec) = (
            Uuid::new_v4(),
            ShareStateRecord {
                start: 5,
                runs: vec![(5, 6, 0, 1), (7, 7, 2, 1)],
            },
        );
        store.put_share_state("g", t, 0, &rec).unwrap();
        store.put_share_state("g", t, 1, &rec).unwrap();
        store.put_share_state("g2", t, 0, &rec).unwrap();
        assert_eq!(store.load_share_states().unwrap().len(), 3);
        store.remove_share_state("g", t, 1).unwrap();
        store.remove_share_group("g").unwrap();
        assert_eq!(
            store.load_share_states().unwrap(),
            vec![("g2".to_string(), t, 0, rec)]
        );
        store.remove_share_topic(t).unwrap();
        assert!(store.load_share_states().unwrap().is_empty());
    }
}
