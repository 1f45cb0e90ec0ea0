//! Broker-wide metadata: topics, committed consumer-group offsets, group protocol types and
//! membership, producer ids, the cluster id and metadata directory id, client quotas, and the
//! purge of deleted topics' partition trees.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

use super::keys::{
    group_prefix, offset_key, parse_offset_key, partition_key, producer_prefix, tree_partition,
    tree_topic_id,
};
use super::{Store, StoreError};

/// A topic as persisted.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TopicRecord {
    pub name: String,
    pub id: Uuid,
    pub partitions: i32,
    #[serde(default)]
    pub configs: BTreeMap<String, String>,
}

/// A committed consumer-group offset as persisted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: Option<String>,
    pub commit_timestamp_ms: i64,
}

/// A classic group's membership as persisted: what Kafka's GroupMetadataValue holds, written when
/// a rebalance completes, when the group empties, and when a static member is replaced; removed
/// with the group. Start-up restores the group from it (Stable with these members, or Empty).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupRecord {
    pub protocol_type: String,
    pub generation: i32,
    /// The protocol chosen for this generation; `None` once the group is empty.
    pub protocol: Option<String>,
    pub leader: Option<String>,
    /// When the group entered its current state (Kafka's `current_state_timestamp`).
    pub current_state_timestamp_ms: i64,
    pub members: Vec<GroupMemberRecord>,
}

/// One member of a [`GroupRecord`] (Kafka's MemberMetadata).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct GroupMemberRecord {
    pub member_id: String,
    pub group_instance_id: Option<String>,
    pub client_id: String,
    pub client_host: String,
    pub rebalance_timeout_ms: i32,
    pub session_timeout_ms: i32,
    /// The member's metadata for the chosen protocol only, as Kafka keeps it.
    pub subscription: Vec<u8>,
    pub assignment: Vec<u8>,
}

/// Logs a stored record start-up cannot read and skips it.
pub(super) fn skipped(what: &str, key: &[u8], detail: impl std::fmt::Display) {
    let shown = &key[..key.len().min(64)];
    tracing::error!(
        key = %String::from_utf8_lossy(shown),
        key_len = key.len(),
        %detail,
        "skipping {what} that does not decode"
    );
}

/// A client quota entity (KIP-546): its (entity type, name) pairs sorted by type, a `None` name
/// being the type's default entity. Types are `user`, `client-id` and `ip`.
pub type QuotaEntity = Vec<(String, Option<String>)>;

/// An entity's quota values by key (`producer_byte_rate`, ...).
pub type QuotaValues = BTreeMap<String, f64>;

impl Store {
    /// Topic ids that have partition trees but no topic record: deleted topics whose purge a stop
    /// interrupted. Only meaningful before anything can create topics (at start-up).
    pub fn orphaned_topic_ids(&self) -> Result<Vec<Uuid>, StoreError> {
        if !self.all_topics_readable()? {
            tracing::warn!("a topic record does not decode: not purging partitions without one");
            return Ok(Vec::new());
        }
        let live: std::collections::HashSet<Uuid> =
            self.load_topics()?.into_iter().map(|t| t.id).collect();
        let mut out: Vec<Uuid> = self
            .inner
            .db
            .tree_names()
            .iter()
            .filter_map(|name| tree_topic_id(name))
            .filter(|id| !live.contains(id))
            .collect();
        out.sort();
        out.dedup();
        Ok(out)
    }

    /// The partition trees that exist, as partition indexes by topic id.
    pub fn partition_trees(
        &self,
    ) -> Result<std::collections::HashMap<Uuid, std::collections::BTreeSet<i32>>, StoreError> {
        let mut out: std::collections::HashMap<Uuid, std::collections::BTreeSet<i32>> =
            Default::default();
        for name in self.inner.db.tree_names() {
            if let Some((id, partition)) = tree_partition(&name) {
                out.entry(id).or_default().insert(partition);
            }
        }
        Ok(out)
    }

    /// Empties and drops, on a background thread, the partition trees of these deleted topics.
    pub fn purge_in_background(&self, topic_ids: Vec<Uuid>) {
        if topic_ids.is_empty() {
            return;
        }
        let store = self.clone();
        let spawned = std::thread::Builder::new()
            .name("sluice-purge".into())
            .spawn(move || match store.purge(&topic_ids) {
                Ok(0) => {}
                Ok(n) => tracing::info!(trees = n, "purged the partitions of deleted topics"),
                Err(e) => tracing::error!(error = %e, "purging deleted topics failed"),
            });
        if let Err(e) = spawned {
            tracing::error!(error = %e, "could not start the purge thread");
        }
    }

    /// Purges now what [`purge_in_background`](Self::purge_in_background) would; returns how
    /// many trees were dropped. Stops early, leaving the rest for the next start, when the store
    /// is closing.
    ///
    /// Why not just `drop_tree`: sled 0.34's `drop_tree` reads every page of the tree back into
    /// memory to free it and keeps what it read (heaptrack: ~800 MB held after deleting a few GB
    /// of topics). Removing the keys in small batches first goes through the ordinary, evicting
    /// page cache and leaves `drop_tree` an empty tree.
    pub fn purge(&self, topic_ids: &[Uuid]) -> Result<usize, StoreError> {
        let _one_at_a_time = self.inner.purging.lock().expect("purge lock poisoned");
        let mut dropped = 0;
        for name in self.inner.db.tree_names() {
            if !tree_topic_id(&name).is_some_and(|id| topic_ids.contains(&id)) {
                continue;
            }
            let tree = self.inner.db.open_tree(&name)?;
            loop {
                if self.inner.closing.load(Ordering::Relaxed) {
                    return Ok(dropped);
                }
                let mut batch = sled::Batch::default();
                let mut n = 0;
                for key in tree.iter().keys().take(256) {
                    batch.remove(key?);
                    n += 1;
                }
                if n == 0 {
                    break;
                }
                tree.apply_batch(batch)?;
            }
            drop(tree);
            self.inner.db.drop_tree(&name)?;
            dropped += 1;
        }
        Ok(dropped)
    }

    /// The cluster id, created on first start and stable afterwards.
    pub fn cluster_id(&self) -> Result<String, StoreError> {
        let meta = self.inner.db.open_tree("meta")?;
        if let Some(v) = meta.get("cluster_id")? {
            return Ok(String::from_utf8_lossy(&v).into_owned());
        }
        // Kafka cluster ids are 22-character URL-safe base64 of a UUID; a hex id is just as
        // opaque to clients and needs no extra crate.
        let id = Uuid::new_v4().simple().to_string()[..22].to_string();
        meta.insert("cluster_id", id.as_bytes())?;
        Ok(id)
    }

    /// The id of the directory holding the cluster metadata, created on first start and stable
    /// afterwards: what Kafka keeps in `meta.properties` as `directory.id` and DescribeQuorum v2
    /// reports for each voter.
    pub fn metadata_directory_id(&self) -> Result<Uuid, StoreError> {
        let meta = self.inner.db.open_tree("meta")?;
        if let Some(v) = meta.get("metadata_directory_id")? {
            if let Ok(bytes) = <[u8; 16]>::try_from(v.as_ref()) {
                return Ok(Uuid::from_bytes(bytes));
            }
            return Err(StoreError::corrupt(
                "the metadata directory id".to_string(),
                format!("{} bytes, not 16", v.len()),
            ));
        }
        let id = Uuid::new_v4();
        meta.insert("metadata_directory_id", id.as_bytes())?;
        Ok(id)
    }

    /// Every client quota entity with its values (KIP-546), as [`put_client_quotas`]
    /// (Self::put_client_quotas) wrote them.
    pub fn load_client_quotas(&self) -> Result<Vec<(QuotaEntity, QuotaValues)>, StoreError> {
        let mut out = Vec::new();
        for item in self.client_quotas_tree()?.iter() {
            let (k, v) = item?;
            // An unreadable entry is skipped, not a reason to refuse to start.
            let entity: QuotaEntity = match serde_json::from_slice(&k) {
                Ok(e) => e,
                Err(e) => {
                    skipped("a client quota", &k, e);
                    continue;
                }
            };
            let bits: BTreeMap<String, u64> = match serde_json::from_slice(&v) {
                Ok(b) => b,
                Err(e) => {
                    skipped("a client quota", &k, e);
                    continue;
                }
            };
            let values = bits
                .into_iter()
                .map(|(k, b)| (k, f64::from_bits(b)))
                .collect();
            out.push((entity, values));
        }
        Ok(out)
    }

    /// Replaces one entity's quota values; no values removes the entity. Values are stored as
    /// their bits, so every double reads back exactly.
    pub fn put_client_quotas(
        &self,
        entity: &QuotaEntity,
        values: &QuotaValues,
    ) -> Result<(), StoreError> {
        let key = serde_json::to_vec(entity)
            .map_err(|e| StoreError::encode("a client quota entity", e))?;
        let tree = self.client_quotas_tree()?;
        if values.is_empty() {
            tree.remove(key)?;
            return Ok(());
        }
        let bits: BTreeMap<&str, u64> = values
            .iter()
            .map(|(k, v)| (k.as_str(), v.to_bits()))
            .collect();
        let v = serde_json::to_vec(&bits).map_err(|e| StoreError::encode("client quotas", e))?;
        tree.insert(key, v)?;
        Ok(())
    }

    fn client_quotas_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("client_quotas")?)
    }

    /// Every topic record that decodes; the others are skipped and logged (see
    /// [`all_topics_readable`](Self::all_topics_readable)).
    pub fn load_topics(&self) -> Result<Vec<TopicRecord>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.topics.iter() {
            let (k, v) = item?;
            match serde_json::from_slice(&v) {
                Ok(rec) => out.push(rec),
                Err(e) => skipped("a topic record", &k, e),
            }
        }
        Ok(out)
    }

    /// Whether every topic record decodes. When one does not, its topic id is unknown, so no
    /// partition tree can be called an orphan: purging would destroy the data of the topic whose
    /// record is damaged.
    fn all_topics_readable(&self) -> Result<bool, StoreError> {
        for item in self.inner.topics.iter() {
            if serde_json::from_slice::<TopicRecord>(&item?.1).is_err() {
                return Ok(false);
            }
        }
        Ok(true)
    }

    pub fn put_topic(&self, rec: &TopicRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::encode("a topic record", e))?;
        self.inner.topics.insert(rec.name.as_bytes(), v)?;
        Ok(())
    }

    /// Removes a topic's record alone: for a topic none of whose partitions exist.
    pub fn remove_topic_record(&self, name: &str) -> Result<(), StoreError> {
        self.inner.topics.remove(name.as_bytes())?;
        Ok(())
    }

    /// Removes a topic's record and its partitions' state; their batches are purged in the
    /// background (see [`purge`](Self::purge)), as Kafka deletes log files after answering.
    pub fn delete_topic(&self, rec: &TopicRecord) -> Result<(), StoreError> {
        self.inner.topics.remove(rec.name.as_bytes())?;
        self.purge_in_background(vec![rec.id]);
        for p in 0..rec.partitions {
            self.inner.log_start.remove(partition_key(rec.id, p))?;
            for item in self.inner.producers.scan_prefix(producer_prefix(rec.id, p)) {
                self.inner.producers.remove(item?.0)?;
            }
            self.inner.txn_partitions.remove(partition_key(rec.id, p))?;
            for item in self
                .inner
                .aborted_txns
                .scan_prefix(producer_prefix(rec.id, p))
            {
                self.inner.aborted_txns.remove(item?.0)?;
            }
        }
        Ok(())
    }

    /// Writes (or with `None`, removes) committed offsets of one group. Key by key, not atomically
    /// (see the module doc): the commit is acknowledged only after a flush, so a crash midway leaves
    /// some partitions at offsets the client committed and the rest at their previous ones, and the
    /// client, never acknowledged, commits again.
    pub fn put_offsets(
        &self,
        group: &str,
        offsets: &[(String, i32, Option<CommittedOffset>)],
    ) -> Result<(), StoreError> {
        let keys = offsets
            .iter()
            .map(|(topic, partition, _)| {
                offset_key(group, topic, *partition).ok_or_else(|| {
                    StoreError::encode(
                        "a committed-offset key",
                        "the group id or topic is longer than 65,535 bytes",
                    )
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        for ((_, _, committed), key) in offsets.iter().zip(keys) {
            match committed {
                Some(c) => {
                    let v = serde_json::to_vec(c)
                        .map_err(|e| StoreError::encode("a committed offset", e))?;
                    self.inner.offsets.insert(key, v)?;
                }
                None => {
                    self.inner.offsets.remove(key)?;
                }
            }
        }
        Ok(())
    }

    /// Removes every committed offset of a group, and what is known of the group itself.
    pub fn delete_group_offsets(&self, group: &str) -> Result<(), StoreError> {
        // A group id too long for a key never had offsets stored.
        if let Some(prefix) = group_prefix(group) {
            let mut batch = sled::Batch::default();
            for item in self.inner.offsets.scan_prefix(prefix) {
                batch.remove(item?.0);
            }
            self.inner.offsets.apply_batch(batch)?;
        }
        self.groups_tree()?.remove(group.as_bytes())?;
        // Kafka's tombstone for the group's metadata record.
        self.group_metadata_tree()?.remove(group.as_bytes())?;
        self.consumer_groups_tree()?.remove(group.as_bytes())?;
        Ok(())
    }

    fn consumer_groups_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("consumer_groups")?)
    }

    /// Replaces a KIP-848 consumer group's record (its epochs, members and target assignment:
    /// Kafka's ConsumerGroupMetadata, member and target records in one value). The coordinator
    /// owns the type; the store keeps it as JSON. Durable at the next flush.
    pub fn put_consumer_group<T: Serialize>(&self, group: &str, rec: &T) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::encode("a consumer group", e))?;
        self.consumer_groups_tree()?.insert(group.as_bytes(), v)?;
        Ok(())
    }

    /// Removes a consumer group's record (the group was deleted or became a classic group).
    pub fn remove_consumer_group(&self, group: &str) -> Result<(), StoreError> {
        self.consumer_groups_tree()?.remove(group.as_bytes())?;
        Ok(())
    }

    /// Every consumer group's record; one that does not decode is skipped and logged (the group
    /// then starts empty, as if its members had all gone).
    pub fn load_consumer_groups<T: serde::de::DeserializeOwned>(
        &self,
    ) -> Result<Vec<(String, T)>, StoreError> {
        let mut out = Vec::new();
        for item in self.consumer_groups_tree()?.iter() {
            let (k, v) = item?;
            let Ok(group) = std::str::from_utf8(&k) else {
                skipped("a consumer group key", &k, "not UTF-8");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(rec) => out.push((group.to_string(), rec)),
                Err(e) => skipped("a consumer group", &k, e),
            }
        }
        Ok(out)
    }

    fn group_metadata_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("group_metadata")?)
    }

    /// Replaces a group's membership record. Durable at the next flush ([`Store::sync`]); callers
    /// whose answer depends on it await one.
    pub fn put_group_record(&self, group: &str, rec: &GroupRecord) -> Result<(), StoreError> {
        let v = serde_json::to_vec(rec).map_err(|e| StoreError::encode("a group record", e))?;
        self.group_metadata_tree()?.insert(group.as_bytes(), v)?;
        Ok(())
    }

    /// Every group's membership record. One that does not decode is skipped and logged (the
    /// group then starts without members, as if they had all gone), not an error.
    pub fn load_group_records(&self) -> Result<Vec<(String, GroupRecord)>, StoreError> {
        let mut out = Vec::new();
        for item in self.group_metadata_tree()?.iter() {
            let (k, v) = item?;
            let Ok(group) = std::str::from_utf8(&k) else {
                skipped("a group record key", &k, "not UTF-8");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(rec) => out.push((group.to_string(), rec)),
                Err(e) => skipped("a group record", &k, e),
            }
        }
        Ok(out)
    }

    fn groups_tree(&self) -> Result<sled::Tree, StoreError> {
        Ok(self.inner.db.open_tree("groups")?)
    }

    /// Remembers a group's protocol type (e.g. "consumer"), so an emptied group is still reported
    /// as that kind of group after a restart, as Kafka does.
    pub fn put_group_protocol_type(
        &self,
        group: &str,
        protocol_type: &str,
    ) -> Result<(), StoreError> {
        self.groups_tree()?
            .insert(group.as_bytes(), protocol_type.as_bytes())?;
        Ok(())
    }

    /// Every remembered group with its protocol type.
    pub fn load_group_protocol_types(&self) -> Result<Vec<(String, String)>, StoreError> {
        let mut out = Vec::new();
        for item in self.groups_tree()?.iter() {
            let (k, v) = item?;
            out.push((
                String::from_utf8_lossy(&k).into_owned(),
                String::from_utf8_lossy(&v).into_owned(),
            ));
        }
        Ok(out)
    }

    /// Every committed offset: (group, topic, partition, offset). A record that does not decode
    /// is skipped and logged, not an error: one damaged commit must not keep the broker from
    /// starting. It stays in the store (nothing reads it) for whoever investigates.
    pub fn load_offsets(&self) -> Result<Vec<(String, String, i32, CommittedOffset)>, StoreError> {
        let mut out = Vec::new();
        for item in self.inner.offsets.iter() {
            let (k, v) = item?;
            let Some((group, topic, partition)) = parse_offset_key(&k) else {
                skipped("a committed-offset key", &k, "malformed");
                continue;
            };
            match serde_json::from_slice(&v) {
                Ok(c) => out.push((group, topic, partition, c)),
                Err(e) => skipped("a committed offset", &k, e),
            }
        }
        Ok(out)
    }

    /// A producer id never handed out before, also across restarts.
    pub fn next_producer_id(&self) -> Result<i64, StoreError> {
        // sled's ids are monotonic across restarts (not contiguous, which producer ids need not be).
        Ok((self.inner.db.generate_id()? & (i64::MAX as u64)) as i64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::PartitionStorage;

    #[test]
    fn offsets_round_trip_and_delete_by_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let c = |o| CommittedOffset {
            offset: o,
            leader_epoch: 0,
            metadata: Some("m".into()),
            commit_timestamp_ms: 1,
        };
        store
            .put_offsets(
                "g",
                &[("t".into(), 0, Some(c(5))), ("t".into(), 1, Some(c(7)))],
            )
            .unwrap();
        store
            .put_offsets("g2", &[("t".into(), 0, Some(c(9)))])
            .unwrap();
        store.put_offsets("g", &[("t".into(), 1, None)]).unwrap();
        let all = store.load_offsets().unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0], ("g".into(), "t".into(), 0, c(5)));
        store.delete_group_offsets("g").unwrap();
        let all = store.load_offsets().unwrap();
        assert_eq!(all.len(), 1);
        assert_eq!(all[0].0, "g2");
    }

    #[test]
    fn deleted_topic_trees_are_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let rec = TopicRecord {
            name: "gone".into(),
            id: Uuid::new_v4(),
            partitions: 2,
            configs: BTreeMap::new(),
        };
        store.put_topic(&rec).unwrap();
        store
            .open_partition(rec.id, 1)
            .unwrap()
            .append(0, b"x", None)
            .unwrap();
        store.delete_topic(&rec).unwrap();
        assert!(store.load_topics().unwrap().is_empty());
        // A stop before the purge leaves the trees without a record: found again at start-up.
        let orphans = store.orphaned_topic_ids().unwrap();
        assert!(orphans.is_empty() || orphans == vec![rec.id]);
        // Whether or not the background purge got there first, the trees end up gone.
        store.purge(&[rec.id]).unwrap();
        let prefix = format!("p/{}/", rec.id.simple());
        assert!(!store
            .inner
            .db
            .tree_names()
            .iter()
            .any(|n| n.starts_with(prefix.as_bytes())));
        assert!(store.orphaned_topic_ids().unwrap().is_empty());
        // A live topic's trees are never orphans.
        let live = TopicRecord {
            name: "live".into(),
            id: Uuid::new_v4(),
            ..rec
        };
        store.put_topic(&live).unwrap();
        store
            .open_partition(live.id, 0)
            .unwrap()
            .append(0, b"y", None)
            .unwrap();
        assert!(store.orphaned_topic_ids().unwrap().is_empty());
    }

    #[test]
    fn unreadable_records_are_skipped_at_start_up() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let c = CommittedOffset {
            offset: 5,
            leader_epoch: 0,
            metadata: None,
            commit_timestamp_ms: 1,
        };
        store
            .put_offsets("g", &[("t".into(), 0, Some(c.clone()))])
            .unwrap();
        // A key as releases before the length check wrote it for a 65,536-byte group id.
        let mut wrapped = vec![0, 0];
        wrapped.extend(std::iter::repeat_n(b'g', 65_536));
        wrapped.extend_from_slice(&[0, 1, b't', 0, 0, 0, 0]);
        store.inner.offsets.insert(wrapped, b"{}".to_vec()).unwrap();
        let bad_value = offset_key("g", "u", 0).unwrap();
        store
            .inner
            .offsets
            .insert(bad_value, &b"not json"[..])
            .unwrap();
        assert_eq!(
            store.load_offsets().unwrap(),
            vec![("g".into(), "t".into(), 0, c)]
        );

        let rec = TopicRecord {
            name: "ok".into(),
            id: Uuid::new_v4(),
            partitions: 1,
            configs: BTreeMap::new(),
        };
        store.put_topic(&rec).unwrap();
        store.open_partition(rec.id, 0).unwrap();
        assert!(store.all_topics_readable().unwrap());
        store.inner.topics.insert("broken", &b"{"[..]).unwrap();
        assert_eq!(store.load_topics().unwrap(), vec![rec.clone()]);
        // The damaged record's id is unknown, so no tree may be purged as an orphan.
        store.open_partition(Uuid::new_v4(), 0).unwrap();
        assert!(!store.all_topics_readable().unwrap());
        assert!(store.orphaned_topic_ids().unwrap().is_empty());

        let p = store.open_partition(rec.id, 0).unwrap();
        let entry = crate::log::producer_state::ProducerEntry::new(0, 1);
        p.put_producer(7, &entry).unwrap();
        let mut bad = producer_prefix(rec.id, 0);
        bad.extend_from_slice(&8i64.to_be_bytes());
        store.inner.producers.insert(bad, &b"?"[..]).unwrap();
        let mut short = producer_prefix(rec.id, 0);
        short.push(1);
        store.inner.producers.insert(short, &b"{}"[..]).unwrap();
        assert_eq!(p.load_producers().unwrap(), vec![(7, entry)]);
    }

    #[test]
    fn group_records_round_trip_skip_what_does_not_decode_and_go_with_the_group() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let rec = GroupRecord {
            protocol_type: "consumer".into(),
            generation: 3,
            protocol: Some("range".into()),
            leader: Some("m-1".into()),
            current_state_timestamp_ms: 1,
            members: vec![GroupMemberRecord {
                member_id: "m-1".into(),
                group_instance_id: Some("i-1".into()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
                rebalance_timeout_ms: 300_000,
                session_timeout_ms: 45_000,
                subscription: vec![0, 1, 255],
                assignment: vec![],
            }],
        };
        store.put_group_record("g", &rec).unwrap();
        let tree = store.group_metadata_tree().unwrap();
        tree.insert("broken", &b"{"[..]).unwrap();
        tree.insert(&[0xff, 0xfe][..], &b"{}"[..]).unwrap();
        assert_eq!(store.load_group_records().unwrap(), vec![("g".into(), rec)]);
        store.delete_group_offsets("g").unwrap();
        assert!(store.load_group_records().unwrap().is_empty());
    }
}
