//! Log compaction (`cleanup.policy=compact`): keep the latest record per key.
//!
//! This is the one place, besides offset-by-timestamp lookups, where stored batches are decoded.
//! [`plan`] looks at a section of the log (never the active tail: the caller leaves out the last
//! batch and anything younger than `min.compaction.lag.ms`) and says which batches to drop and which
//! to rewrite. A rewritten batch keeps each retained record's offset, timestamp, key, value and
//! headers, and the batch's compression codec; a batch with nothing left is dropped whole, leaving a
//! gap in the offsets, as Kafka's cleaner does. Tombstones (null values) are kept until their batch
//! is older than `delete.retention.ms`, so consumers that read the log meanwhile see the delete.

use std::collections::HashMap;

use bytes::{Bytes, BytesMut};
use kafka_protocol::records::{RecordBatchDecoder, RecordBatchEncoder, RecordEncodeOptions};

use crate::log::batch::StoredHeader;

/// When records become removable.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    pub now_ms: i64,
    pub delete_retention_ms: i64,
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
    pub fn add(&mut self, key: u64, bytes: &Bytes) -> Result<(), String> {
        let set = RecordBatchDecoder::decode(&mut bytes.clone())
            .map_err(|e| format!("batch {key}: {e}"))?;
        for r in &set.records {
            if let Some(k) = &r.key {
                self.0.insert(k.clone(), r.offset);
            }
        }
        Ok(())
    }
}

/// Decides the changes for `batches` (the compactable section, in offset order).
#[cfg(test)]
pub fn plan(batches: &[(u64, Bytes)], policy: Policy) -> Result<Vec<Change>, String> {
    let mut latest = Latest::default();
    for (key, bytes) in batches {
        latest.add(*key, bytes)?;
    }
    let mut changes = Vec::new();
    for (key, bytes) in batches {
        changes.extend(plan_batch(*key, bytes, &latest, policy)?);
    }
    Ok(changes)
}

/// The change for one batch of the section, if any: keep what is still the latest, drop
/// superseded records and expired tombstones.
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
    let tombstones_expired =
        header.max_timestamp < policy.now_ms.saturating_sub(policy.delete_retention_ms);
    let set =
        RecordBatchDecoder::decode(&mut bytes.clone()).map_err(|e| format!("batch {key}: {e}"))?;
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
    if kept.len() == total {
        return Ok(None);
    }
    if kept.is_empty() {
        return Ok(Some(Change::Remove(key)));
    }
    let idempotent = kept[0].producer_id >= 0;
    let first_offset = kept[0].offset;
    for r in &mut kept {
        if !idempotent {
            // The encoder derives the base sequence from the first record; keep "no sequence".
            r.sequence = (-1i32).wrapping_add((r.offset - first_offset) as i32);
        }
    }
    let mut out = BytesMut::new();
    RecordBatchEncoder::encode(
        &mut out,
        kept.iter(),
        &RecordEncodeOptions {
            version: 2,
            compression: set.compression,
        },
    )
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
    use kafka_protocol::records::Compression;
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
                    timestamp: ts,
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
        let batches = vec![(0, b0), (3, b3), (5, b5)];
        let changes = plan(
            &batches,
            Policy {
                now_ms: 2000,
                delete_retention_ms: 100_000,
            },
        )
        .unwrap();
        // b0 loses everything (a and b superseded later); b3 keeps b=2 and the young tombstone;
        // b5 keeps a=3 and is untouched.
        assert_eq!(changes, vec![Change::Remove(0)]);
        let no_more = plan(
            &batches[1..],
            Policy {
                now_ms: 2000,
                delete_retention_ms: 100_000,
            },
        )
        .unwrap();
        assert!(no_more.is_empty());
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
    fn rewrites_partially_superseded_batches_and_drops_old_tombstones() {
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
        let changes = plan(
            &[(0, b0.clone()), (3, b3)],
            Policy {
                now_ms: 10_000,
                delete_retention_ms: 1000,
            },
        )
        .unwrap();
        let [Change::Replace {
            old_key,
            new_key,
            bytes,
        }] = &changes[..]
        else {
            panic!("{changes:?}")
        };
        assert_eq!((*old_key, *new_key), (0, 1));
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
