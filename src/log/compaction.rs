//! Log compaction (`cleanup.policy=compact`): keep the latest record per key.
//!
//! This is the one place, besides offset-by-timestamp lookups, where stored batches are decoded.
//! [`plan`] looks at a section of the log (never the active tail: the caller leaves out the last
//! batch and anything younger than `min.compaction.lag.ms`) and says which batches to drop and which
//! to rewrite. A rewritten batch keeps each retained record's offset, timestamp, key, value and
//! headers, and the batch's compression codec; a batch with nothing left is dropped whole, leaving a
//! gap in the offsets, as Kafka's cleaner does.
//!
//! Tombstones (null values) expire as in Kafka (KIP-534): the first compaction that keeps a
//! tombstone in a batch without a delete horizon rewrites the batch with one, now +
//! `delete.retention.ms`, stored as the batch's base timestamp under attribute bit 6 (record
//! timestamps are deltas from that base, so they read the same). A later compaction drops the
//! tombstone once the horizon has passed. Counting from the first compaction, not from the
//! producer's timestamp, gives every reader `delete.retention.ms` to see a delete, also one produced
//! with an old CreateTime; and the horizon, once written, does not move when the setting changes.
//!
//! Transactions, as Kafka's cleaner ([`CleanedTxns`], its CleanedTransactionMetadata): the section
//! ends at the last stable offset (an ongoing transaction's batches are never compacted), batches
//! of aborted transactions are removed whole and their keys count for nothing, and a transaction
//! marker stays while any batch of its transaction does. A marker whose transaction has no batch
//! left is then treated like a tombstone: stamped with a delete horizon, and removed once that has
//! passed, its aborted-index entry first (an entry without its marker would have a consumer drop
//! the producer's next transactions).

use std::collections::{HashMap, HashSet};

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchEncoder, RecordEncodeOptions};

use crate::log::batch::{BatchError, StoredHeader};
use crate::log::producer_state::AbortedTxn;
use crate::log::records;

/// When records become removable.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub now_ms: i64,
    /// Only read when a delete horizon is stamped (`now_ms` + this).
    pub delete_retention_ms: i64,
    /// The broker's `max_decompressed_batch_bytes`: a batch that cannot be decoded within it is
    /// left as it is (see [`Latest::add`]).
    pub decode_cap: usize,
}

/// One change to the partition tree, keyed by stored base offset.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    Remove(u64),
    Replace {
        old_key: u64,
        new_key: u64,
        bytes: Bytes,
    },
}

/// The last offset of every key seen so far in the compactable section: built by feeding every
/// batch of the section to [`Latest::add`] (pass 1), then consulted by [`plan_batch`] (pass 2).
/// Only keys are held, never batches, so a pass over a large partition reads one batch at a time.
#[derive(Debug, Default)]
pub struct Latest(HashMap<Bytes, i64>);

impl Latest {
    /// Records the keys of one batch. Returns false, recording nothing, for a batch that cannot be
    /// decoded within `cap` (it passed produce under a larger cap, or before there was one): the
    /// caller must end the section before it, since a key's later record in it is unknown.
    pub fn add(&mut self, key: u64, bytes: &Bytes, cap: usize) -> Result<bool, String> {
        // A transaction marker's key is its control type, not a record key (Kafka's cleaner
        // skips control batches when it builds its offset map).
        if StoredHeader::parse(bytes).is_some_and(|h| h.is_control()) {
            return Ok(true);
        }
        let set = match records::decode_bounded(bytes, cap) {
            Ok(set) => set,
            Err(BatchError::DecompressedTooLarge { .. }) => return Ok(false),
            Err(e) => return Err(format!("batch {key}: {e}")),
        };
        for r in &set.records {
            if let Some(k) = &r.key {
                self.0.insert(k.clone(), r.offset);
            }
        }
        Ok(true)
    }
}

/// The transactions of a compaction section, followed batch by batch in offset order (Kafka's
/// CleanedTransactionMetadata).
#[derive(Debug, Default)]
pub struct CleanedTxns {
    /// Aborted transactions not reached yet, by first offset, latest first (popped from the end).
    pending: Vec<AbortedTxn>,
    /// Aborted transactions reached and not yet ended, by producer: the entry, and whether a
    /// batch of it was seen in this pass.
    aborted: HashMap<i64, (AbortedTxn, bool)>,
    /// Producers with a batch of a (committed) transaction seen since their last marker.
    committed: HashSet<i64>,
}

/// What a pass may do with a transaction marker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerFate {
    /// Batches of its transaction are still in the log.
    Keep,
    /// Its transaction has nothing left: a tombstone, with the aborted-index entry (the marker's
    /// offset) to remove along with it for an abort.
    Empty { aborted_entry: Option<u64> },
}

impl CleanedTxns {
    /// `aborted`: the aborted transactions overlapping the section.
    pub fn new(mut aborted: Vec<AbortedTxn>) -> CleanedTxns {
        aborted.sort_by_key(|t| std::cmp::Reverse(t.first_offset));
        CleanedTxns {
            pending: aborted,
            ..CleanedTxns::default()
        }
    }

    fn reach(&mut self, offset: u64) {
        while self
            .pending
            .last()
            .is_some_and(|t| t.first_offset <= offset)
        {
            let t = self.pending.pop().expect("checked above");
            self.aborted.entry(t.producer_id).or_insert((t, false));
        }
    }

    /// A data batch: whether it belongs to an aborted transaction (then it is dropped whole).
    pub fn on_batch(&mut self, h: &StoredHeader) -> bool {
        self.reach(h.next_offset() - 1);
        if !h.is_transactional() {
            return false;
        }
        match self.aborted.get_mut(&h.producer_id) {
            Some((_, seen)) => {
                *seen = true;
                true
            }
            None => {
                self.committed.insert(h.producer_id);
                false
            }
        }
    }

    /// A control batch and, if it is a transaction marker, what it says.
    pub fn on_marker(&mut self, h: &StoredHeader, commit: Option<bool>) -> MarkerFate {
        self.reach(h.base_offset);
        match commit {
            Some(false) => match self.aborted.remove(&h.producer_id) {
                Some((_, true)) => MarkerFate::Keep,
                Some((t, false)) => MarkerFate::Empty {
                    aborted_entry: Some(t.last_offset),
                },
                None => MarkerFate::Empty {
                    aborted_entry: None,
                },
            },
            Some(true) => {
                if self.committed.remove(&h.producer_id) {
                    MarkerFate::Keep
                } else {
                    MarkerFate::Empty {
                        aborted_entry: None,
                    }
                }
            }
            None => MarkerFate::Keep,
        }
    }
}

/// The change for a marker whose transaction has nothing left (see [`MarkerFate::Empty`]): stamp
/// a delete horizon on it the first time, remove it once the horizon has passed.
pub fn plan_empty_marker(
    key: u64,
    bytes: &Bytes,
    policy: Policy,
) -> Result<Option<Change>, String> {
    let header = StoredHeader::parse(bytes).ok_or_else(|| format!("batch {key}: short header"))?;
    match header.delete_horizon() {
        Some(h) if h <= policy.now_ms => Ok(Some(Change::Remove(key))),
        Some(_) => Ok(None),
        None => {
            let horizon = policy.now_ms.saturating_add(policy.delete_retention_ms);
            let set = records::decode_bounded(bytes, policy.decode_cap)
                .map_err(|e| format!("batch {key}: {e}"))?;
            let mut out = BytesMut::new();
            let options = RecordEncodeOptions {
                version: 2,
                compression: set.compression,
            };
            RecordBatchEncoder::encode_with_delete_horizon(
                &mut out,
                set.records.iter(),
                &options,
                horizon,
            )
            .map_err(|e| format!("batch {key}: re-encoding failed: {e}"))?;
            restore_header(&mut out, bytes);
            Ok(Some(Change::Replace {
                old_key: key,
                new_key: key,
                bytes: out.freeze(),
            }))
        }
    }
}

/// Decides the changes for `batches` (the compactable section, in offset order).
#[cfg(test)]
pub fn plan(batches: &[(u64, Bytes)], policy: Policy) -> Result<Vec<Change>, String> {
    let mut latest = Latest::default();
    for (key, bytes) in batches {
        latest.add(*key, bytes, policy.decode_cap)?;
    }
    let mut changes = Vec::new();
    for (key, bytes) in batches {
        changes.extend(plan_batch(*key, bytes, &latest, policy)?);
    }
    Ok(changes)
}

/// The change for one batch of the section, if any: keep what is still the latest, drop
/// superseded records and tombstones past their batch's delete horizon, and stamp a horizon on a
/// batch that keeps tombstones without one.
pub fn plan_batch(
    key: u64,
    bytes: &Bytes,
    latest: &Latest,
    policy: Policy,
) -> Result<Option<Change>, String> {
    let latest = &latest.0;
    let header = StoredHeader::parse(bytes).ok_or_else(|| format!("batch {key}: short header"))?;
    // Control batches (transaction markers) are not ours to rewrite.
    if header.is_control() {
        return Ok(None);
    }
    // Kafka's `shouldRetainDeletes`: a batch without a horizon keeps its tombstones.
    let horizon = header.delete_horizon();
    let tombstones_expired = horizon.is_some_and(|h| h <= policy.now_ms);
    let set = records::decode_bounded(bytes, policy.decode_cap)
        .map_err(|e| format!("batch {key}: {e}"))?;
    let total = set.records.len();
    let mut kept: Vec<_> = set
        .records
        .into_iter()
        .filter(|r| match &r.key {
            // Keyless records cannot be compacted (produce refuses them on compacted topics;
            // any from before the policy changed are left alone).
            None => true,
            Some(k) => {
                latest.get(k) == Some(&r.offset) && !(r.value.is_none() && tombstones_expired)
            }
        })
        .collect();
    if kept.is_empty() {
        return Ok(Some(Change::Remove(key)));
    }
    // As Kafka's `filterTo`: any kept null value asks for a horizon. A batch that already has one
    // keeps it through later rewrites, so lowering `delete.retention.ms` does not shorten it.
    let stamp = horizon.is_none() && kept.iter().any(|r| r.value.is_none());
    if kept.len() == total && !stamp {
        return Ok(None);
    }
    let horizon =
        horizon.or(stamp.then(|| policy.now_ms.saturating_add(policy.delete_retention_ms)));
    let idempotent = kept[0].producer_id >= 0;
    let first_offset = kept[0].offset;
    for r in &mut kept {
        if !idempotent {
            // The encoder derives the base sequence from the first record; keep "no sequence".
            r.sequence = (-1i32).wrapping_add((r.offset - first_offset) as i32);
        }
    }
    let mut out = BytesMut::new();
    let options = RecordEncodeOptions {
        version: 2,
        compression: set.compression,
    };
    match horizon {
        Some(h) => {
            RecordBatchEncoder::encode_with_delete_horizon(&mut out, kept.iter(), &options, h)
        }
        None => RecordBatchEncoder::encode(&mut out, kept.iter(), &options),
    }
    .map_err(|e| format!("batch {key}: re-encoding failed: {e}"))?;
    // The encoder splits records it considers unlike into several batches; the log stores one
    // batch per key, so anything else is a bug to stop on, not to store.
    let expected_len = crate::log::batch::LOG_OVERHEAD
        + i32::from_be_bytes([out[8], out[9], out[10], out[11]]) as usize;
    if expected_len != out.len() {
        return Err(format!(
            "batch {key}: re-encoding produced more than one batch"
        ));
    }
    restore_header(&mut out, bytes);
    Ok(Some(Change::Replace {
        old_key: key,
        new_key: first_offset as u64,
        bytes: out.freeze(),
    }))
}

/// The encoder does not carry the LogAppendTime flag or the stored partition leader epoch; put
/// them back from the original header and recompute the CRC they affect.
fn restore_header(out: &mut BytesMut, original: &[u8]) {
    out[12..16].copy_from_slice(&original[12..16]);
    let original_attributes = i16::from_be_bytes([original[21], original[22]]);
    let mut attributes = i16::from_be_bytes([out[21], out[22]]);
    attributes |= original_attributes & (1 << 3);
    out[21..23].copy_from_slice(&attributes.to_be_bytes());
    if original_attributes & (1 << 3) != 0 {
        out[35..43].copy_from_slice(&original[35..43]);
    }
    let crc = crc32c::crc32c(&out[21..]);
    out[17..21].copy_from_slice(&crc.to_be_bytes());
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::log::batch;
    use kafka_protocol::records::{Compression, RecordBatchDecoder};
    use producer as rec;

    /// Records built through kafka-protocol's own encoder, as a producer would send them.
    mod producer {
        use bytes::{Bytes, BytesMut};
        use kafka_protocol::records::{
            Compression, Record, RecordBatchEncoder, RecordEncodeOptions, TimestampType,
        };

        pub fn batch(
            base: i64,
            items: &[(Option<&str>, Option<&str>)],
            ts: i64,
            compression: Compression,
        ) -> Bytes {
            batch_at(base, items, &vec![ts; items.len()], compression)
        }

        /// As [`batch`], with a timestamp per record.
        pub fn batch_at(
            base: i64,
            items: &[(Option<&str>, Option<&str>)],
            timestamps: &[i64],
            compression: Compression,
        ) -> Bytes {
            let records: Vec<Record> = items
                .iter()
                .enumerate()
                .map(|(i, (k, v))| Record {
                    transactional: false,
                    control: false,
                    delete_horizon: false,
                    partition_leader_epoch: 0,
                    producer_id: -1,
                    producer_epoch: -1,
                    timestamp_type: TimestampType::Creation,
                    offset: base + i as i64,
                    sequence: -1 + i as i32,
                    timestamp: timestamps[i],
                    key: k.map(|k| Bytes::copy_from_slice(k.as_bytes())),
                    value: v.map(|v| Bytes::copy_from_slice(v.as_bytes())),
                    headers: Default::default(),
                })
                .collect();
            let mut out = BytesMut::new();
            RecordBatchEncoder::encode(
                &mut out,
                records.iter(),
                &RecordEncodeOptions {
                    version: 2,
                    compression,
                },
            )
            .unwrap();
            out.freeze()
        }
    }

    const DAY: i64 = 24 * 60 * 60 * 1000;

    /// The log after `changes`, as the store applies them.
    fn apply(batches: &[(u64, Bytes)], changes: &[Change]) -> Vec<(u64, Bytes)> {
        let mut log: std::collections::BTreeMap<u64, Bytes> = batches.iter().cloned().collect();
        for c in changes {
            match c {
                Change::Remove(key) => {
                    log.remove(key);
                }
                Change::Replace {
                    old_key,
                    new_key,
                    bytes,
                } => {
                    log.remove(old_key);
                    log.insert(*new_key, bytes.clone());
                }
            }
        }
        log.into_iter().collect()
    }

    fn policy(now_ms: i64, delete_retention_ms: i64) -> Policy {
        Policy {
            now_ms,
            delete_retention_ms,
            decode_cap: 1 << 20,
        }
    }

    /// (offset, timestamp, key, value) of every record: what a consumer reads.
    fn records(b: &Bytes) -> Vec<(i64, i64, Option<Bytes>, Option<Bytes>)> {
        RecordBatchDecoder::decode(&mut b.clone())
            .unwrap()
            .records
            .into_iter()
            .map(|r| (r.offset, r.timestamp, r.key, r.value))
            .collect()
    }

    fn decode(b: &Bytes) -> Vec<(i64, Option<Bytes>, Option<Bytes>)> {
        RecordBatchDecoder::decode(&mut b.clone())
            .unwrap()
            .records
            .into_iter()
            .map(|r| (r.offset, r.key, r.value))
            .collect()
    }

    #[test]
    fn keeps_latest_per_key_with_offsets_and_codec() {
        let b0 = rec::batch(
            0,
            &[
                (Some("a"), Some("1")),
                (Some("b"), Some("1")),
                (Some("a"), Some("2")),
            ],
            1000,
            Compression::Lz4,
        );
        let b3 = rec::batch(
            3,
            &[(Some("b"), Some("2")), (Some("c"), None)],
            1000,
            Compression::None,
        );
        let b5 = rec::batch(5, &[(Some("a"), Some("3"))], 1000, Compression::Gzip);
        let batches = vec![(0, b0), (3, b3.clone()), (5, b5.clone())];
        let changes = plan(&batches, policy(2000, 100_000)).unwrap();
        // b0 loses everything (a and b superseded later); b3 keeps b=2 and the tombstone, and is
        // rewritten only to stamp the tombstone's delete horizon; b5 keeps a=3 and is untouched.
        let [Change::Remove(0), Change::Replace {
            old_key: 3,
            new_key: 3,
            bytes,
        }] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(decode(bytes), decode(&b3));
        let after = apply(&batches, &changes);
        assert_eq!(after.iter().map(|(k, _)| *k).collect::<Vec<_>>(), [3, 5]);
        assert_eq!(after[1].1, b5);
        assert!(plan(&after, policy(2000, 100_000)).unwrap().is_empty());
    }

    #[test]
    fn first_compaction_stamps_the_delete_horizon_and_keeps_record_timestamps() {
        let now = 10 * DAY;
        // A tombstone with a CreateTime two days old, beside records with their own timestamps.
        let ts = [now - 2 * DAY, now - 2 * DAY + 5, now - DAY];
        for compression in [Compression::None, Compression::Gzip, Compression::Zstd] {
            let b0 = rec::batch_at(
                0,
                &[
                    (Some("a"), Some("1")),
                    (Some("t"), None),
                    (Some("b"), Some("2")),
                ],
                &ts,
                compression,
            );
            let changes = plan(&[(0, b0.clone())], policy(now, DAY)).unwrap();
            let [Change::Replace {
                old_key: 0,
                new_key: 0,
                bytes,
            }] = &changes[..]
            else {
                panic!("{changes:?}")
            };
            let h = StoredHeader::parse(bytes).unwrap();
            assert_eq!(h.delete_horizon(), Some(now + DAY));
            assert_eq!(h.base_timestamp, now + DAY);
            assert_eq!(StoredHeader::parse(&b0).unwrap().delete_horizon(), None);
            // What a consumer reads is unchanged: offsets, timestamps, keys and values.
            assert_eq!(records(bytes), records(&b0));
            assert_eq!(h.max_timestamp, now - DAY);
            // One batch, CRC valid (validate checks it), same codec, same producer fields.
            let info = batch::validate(bytes, 1 << 20).unwrap();
            assert_eq!(info.len(), 1);
            assert_eq!(info[0].compression(), compression as i16);
            assert_eq!(info[0].attributes & (1 << 6), 1 << 6);
            assert_eq!((info[0].producer_id, info[0].base_sequence), (-1, -1));
            assert_eq!(info[0].record_count, 3);
            let decoded = RecordBatchDecoder::decode(&mut bytes.clone()).unwrap();
            assert!(decoded.records.iter().all(|r| r.delete_horizon));
        }
    }

    #[test]
    fn a_tombstone_stays_until_its_horizon_then_goes() {
        let now = 10 * DAY;
        let b0 = rec::batch(0, &[(Some("t"), None)], now - 2 * DAY, Compression::Lz4);
        let b1 = rec::batch(1, &[(Some("x"), Some("1"))], now, Compression::None);
        let log = vec![(0, b0.clone()), (1, b1)];
        // The producer's timestamp is older than delete.retention.ms: still kept, and stamped.
        let log = apply(&log, &plan(&log, policy(now, DAY)).unwrap());
        assert_eq!(records(&log[0].1), records(&b0));
        // Before the horizon nothing changes, pass after pass.
        assert!(plan(&log, policy(now + DAY - 1, DAY)).unwrap().is_empty());
        // At the horizon the tombstone goes, and its batch with it.
        assert_eq!(
            plan(&log, policy(now + DAY, DAY)).unwrap(),
            vec![Change::Remove(0)]
        );
    }

    #[test]
    fn lowering_delete_retention_after_stamping_does_not_shorten_the_horizon() {
        let now = 10 * DAY;
        let b0 = rec::batch(0, &[(Some("t"), None)], now, Compression::None);
        let b1 = rec::batch(1, &[(Some("x"), Some("1"))], now, Compression::None);
        let log = vec![(0, b0), (1, b1)];
        let log = apply(&log, &plan(&log, policy(now, DAY)).unwrap());
        assert_eq!(
            StoredHeader::parse(&log[0].1).unwrap().delete_horizon(),
            Some(now + DAY)
        );
        // delete.retention.ms lowered to 0 (or 500 ms) an hour later: the horizon stands.
        for retention in [0, 500] {
            assert!(plan(&log, policy(now + DAY / 24, retention))
                .unwrap()
                .is_empty());
        }
    }

    #[test]
    fn a_stamped_batch_rewritten_later_keeps_its_horizon() {
        let now = 10 * DAY;
        let b0 = rec::batch(
            0,
            &[(Some("t"), None), (Some("a"), Some("1"))],
            now,
            Compression::Snappy,
        );
        let b2 = rec::batch(2, &[(Some("z"), Some("1"))], now, Compression::None);
        let log = vec![(0, b0), (2, b2)];
        let log = apply(&log, &plan(&log, policy(now, DAY)).unwrap());
        // `a` is superseded an hour later, with delete.retention.ms lowered meanwhile: the batch
        // is rewritten without `a` and its tombstone keeps the horizon of the first compaction.
        let b3 = rec::batch(3, &[(Some("a"), Some("2"))], now, Compression::None);
        let mut log = log;
        log.push((3, b3));
        let changes = plan(&log, policy(now + DAY / 24, 1)).unwrap();
        let [Change::Replace {
            old_key: 0,
            new_key: 0,
            bytes,
        }] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(
            StoredHeader::parse(bytes).unwrap().delete_horizon(),
            Some(now + DAY)
        );
        assert_eq!(
            records(bytes),
            vec![(0, now, Some(Bytes::from_static(b"t")), None)]
        );
        batch::validate(bytes, 1 << 20).unwrap();
    }

    #[test]
    fn stamping_a_log_append_time_batch_keeps_its_append_time() {
        let now = 10 * DAY;
        let produced = rec::batch(0, &[(Some("t"), None)], now - 2 * DAY, Compression::None);
        let b0 = batch::with_log_append_time(&produced, now - 5);
        let b1 = rec::batch(1, &[(Some("x"), Some("1"))], now, Compression::None);
        let log = vec![(0, b0.clone()), (1, b1)];
        let changes = plan(&log, policy(now, DAY)).unwrap();
        let [Change::Replace { bytes, .. }] = &changes[..] else {
            panic!("{changes:?}")
        };
        let h = StoredHeader::parse(bytes).unwrap();
        assert_eq!(h.delete_horizon(), Some(now + DAY));
        assert_eq!(h.max_timestamp, now - 5);
        assert_ne!(h.attributes & (1 << 3), 0);
        assert_eq!(records(bytes), records(&b0));
        batch::validate(bytes, 1 << 20).unwrap();
    }

    #[test]
    fn a_batch_past_the_decode_cap_is_not_read() {
        let b = rec::batch(0, &[(Some("a"), Some("1"))], 1000, Compression::Gzip);
        let mut latest = Latest::default();
        assert!(!latest.add(0, &b, 10).unwrap());
        assert!(latest.0.is_empty());
        assert!(latest.add(0, &b, 1 << 20).unwrap());
        assert_eq!(latest.0.len(), 1);
    }

    #[test]
    fn a_rewritten_batch_with_several_records_stays_one_valid_batch() {
        let b0 = rec::batch(
            0,
            &[
                (Some("a"), Some("1")),
                (Some("b"), Some("1")),
                (Some("a"), Some("2")),
                (Some("c"), Some("1")),
            ],
            1000,
            Compression::Snappy,
        );
        let changes = plan(
            &[(0, b0)],
            Policy {
                now_ms: 2000,
                delete_retention_ms: 100_000,
                decode_cap: 1 << 20,
            },
        )
        .unwrap();
        let [Change::Replace { new_key, bytes, .. }] = &changes[..] else {
            panic!("{changes:?}")
        };
        assert_eq!(*new_key, 1);
        let info = batch::validate(bytes, 1 << 20).unwrap();
        assert_eq!(info.len(), 1);
        assert_eq!(info[0].record_count, 3);
        assert_eq!(info[0].base_sequence, -1);
        let offsets: Vec<i64> = decode(bytes).into_iter().map(|(o, _, _)| o).collect();
        assert_eq!(offsets, vec![1, 2, 3]);
    }

    #[test]
    fn rewrites_partially_superseded_batches_and_expires_tombstones_by_horizon() {
        let b0 = rec::batch(
            0,
            &[
                (Some("a"), Some("1")),
                (Some("b"), Some("1")),
                (Some("c"), None),
            ],
            1000,
            Compression::Zstd,
        );
        let b3 = rec::batch(3, &[(Some("a"), Some("2"))], 1000, Compression::None);
        let log = vec![(0, b0.clone()), (3, b3)];
        // First pass: `a` goes; the tombstone, although its CreateTime is older than
        // delete.retention.ms, stays with a horizon of now + 1000.
        let changes = plan(&log, policy(10_000, 1000)).unwrap();
        let [Change::Replace {
            old_key: 0,
            new_key: 1,
            bytes,
        }] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert_eq!(decode(bytes), decode(&b0)[1..]);
        let log = apply(&log, &changes);
        // Past the horizon the tombstone goes.
        let changes = plan(&log, policy(11_000, 1000)).unwrap();
        let [Change::Replace {
            old_key,
            new_key,
            bytes,
        }] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert_eq!((*old_key, *new_key), (1, 1));
        assert_eq!(
            decode(bytes),
            vec![(
                1,
                Some(Bytes::from_static(b"b")),
                Some(Bytes::from_static(b"1"))
            )]
        );
        // Same codec, valid CRC, header as the log expects.
        let info = batch::validate(bytes, 1 << 20).unwrap();
        assert_eq!(info[0].compression(), Compression::Zstd as i16);
        assert_eq!(StoredHeader::parse(bytes).unwrap().base_offset, 1);
    }
}
