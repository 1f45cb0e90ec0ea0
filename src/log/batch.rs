//! Record batch (magic v2) header validation and in-place offset assignment.
//!
//! Produce hands us `records` bytes holding one or more record batches. The header tells us
//! everything the log needs (record count, offset span, timestamps, producer fields), and the CRC
//! covers the rest; that the records really are what the header says is checked by walking them
//! (`log::records`), never by decoding them into memory. The broker only rewrites the fields the CRC
//! does not cover (base offset and partition leader epoch), so the stored bytes stay the producer's bytes.

use bytes::{Bytes, BytesMut};

// Byte offsets of the v2 batch header fields (see the Kafka protocol's "Record Batch" layout).
const BASE_OFFSET: usize = 0;
const BATCH_LENGTH: usize = 8;
const PARTITION_LEADER_EPOCH: usize = 12;
const MAGIC: usize = 16;
pub(crate) const CRC: usize = 17;
pub(crate) const ATTRIBUTES: usize = 21;
const LAST_OFFSET_DELTA: usize = 23;
const BASE_TIMESTAMP: usize = 27;
const MAX_TIMESTAMP: usize = 35;
const PRODUCER_ID: usize = 43;
const PRODUCER_EPOCH: usize = 51;
const BASE_SEQUENCE: usize = 53;
const RECORD_COUNT: usize = 57;
/// Size of the v2 header, up to and including the record count.
pub const HEADER_LEN: usize = 61;
const LOG_APPEND_TIME_BIT: i16 = 1 << 3;
const TRANSACTIONAL_BIT: i16 = 1 << 4;
const CONTROL_BIT: i16 = 1 << 5;
/// KIP-534: the base timestamp is the tombstones' delete horizon, not the first record's
/// timestamp. Only the log cleaner sets it (see `log::compaction`).
const DELETE_HORIZON_BIT: i16 = 1 << 6;
/// Bytes before the batch-length field's coverage starts (base offset + length).
pub const LOG_OVERHEAD: usize = 12;

/// Why a produced batch was refused; each maps to the error code Kafka answers with.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// Truncated or inconsistent framing, or a CRC mismatch: CORRUPT_MESSAGE.
    #[error("corrupt record batch: {0}")]
    Corrupt(String),
    /// A legacy (v0/v1) message set, or an invalid offset span: INVALID_RECORD.
    #[error("invalid record batch: {0}")]
    Invalid(String),
    /// The batch exceeds the topic's max message size: MESSAGE_TOO_LARGE.
    #[error("record batch of {size} bytes exceeds the limit of {limit}")]
    TooLarge { size: usize, limit: usize },
    /// The records decompress to more than `max_decompressed_batch_bytes`: MESSAGE_TOO_LARGE.
    /// Kafka has no such bound (it streams); ours keeps a small compressed batch from costing the
    /// broker unbounded CPU and, where records are decoded whole, memory.
    #[error("record batch decompresses to more than max_decompressed_batch_bytes ({limit} bytes)")]
    DecompressedTooLarge { limit: usize },
    /// The records section is not a valid stream of the batch's codec. Kafka fails with a
    /// KafkaException there, which reaches the client as UNKNOWN_SERVER_ERROR (not the retriable
    /// CORRUPT_MESSAGE, which would have the client resend it until its delivery timeout).
    #[error("the records do not decompress: {0}")]
    Undecompressable(String),
}

/// What the log needs to know about one validated batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchInfo {
    /// The whole batch, base offset field included.
    pub bytes: Bytes,
    pub record_count: u32,
    pub last_offset_delta: u32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub attributes: i16,
}

impl BatchInfo {
    pub fn compression(&self) -> i16 {
        self.attributes & 0x07
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Whether the producer marked the batch LogAppendTime (then every record's timestamp is the
    /// batch's max timestamp, not base + delta).
    pub fn is_log_append_time(&self) -> bool {
        self.attributes & LOG_APPEND_TIME_BIT != 0
    }

    /// The producer id and sequence range of an idempotent producer's batch.
    pub fn sequenced(&self) -> Option<crate::log::producer_state::Sequenced> {
        sequence_range(
            self.producer_id,
            self.producer_epoch,
            self.base_sequence,
            self.last_offset_delta,
            self.attributes & TRANSACTIONAL_BIT != 0,
        )
    }
}

fn sequence_range(
    producer_id: i64,
    epoch: i16,
    base_sequence: i32,
    last_offset_delta: u32,
    transactional: bool,
) -> Option<crate::log::producer_state::Sequenced> {
    if producer_id < 0 || base_sequence < 0 {
        return None;
    }
    // Sequences wrap from i32::MAX to 0, as Kafka's incrementSequence does.
    let delta = last_offset_delta as i32;
    let last_seq = if base_sequence > i32::MAX - delta {
        delta - (i32::MAX - base_sequence) - 1
    } else {
        base_sequence + delta
    };
    Some(crate::log::producer_state::Sequenced {
        producer_id,
        epoch,
        first_seq: base_sequence,
        last_seq,
        transactional,
    })
}

fn be_i32(b: &[u8], at: usize) -> i32 {
    i32::from_be_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    i64::from_be_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// Splits a Produce partition's `records` into batches and validates each header and CRC.
///
/// Nothing is written for a partition unless every batch in it is valid, which is why this runs
/// before the log is touched.
pub fn validate(records: &Bytes, max_batch_bytes: usize) -> Result<Vec<BatchInfo>, BatchError> {
    let mut batches = Vec::new();
    let mut pos = 0usize;
    let data = &records[..];
    if data.is_empty() {
        return Err(BatchError::Invalid(
            "a produce partition must hold at least one record batch".into(),
        ));
    }
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < MAGIC + 1 {
            return Err(BatchError::Corrupt(format!(
                "{} trailing bytes are too short for a batch header",
                rest.len()
            )));
        }
        let magic = rest[MAGIC] as i8;
        if magic != 2 {
            // Produce v3+ may only carry v2 batches; Kafka answers INVALID_RECORD.
            return Err(BatchError::Invalid(format!(
                "record batch magic {magic} is not supported, only v2"
            )));
        }
        let batch_length = be_i32(rest, BATCH_LENGTH);
        if batch_length < (HEADER_LEN - LOG_OVERHEAD) as i32 {
            return Err(BatchError::Corrupt(format!(
                "batch length {batch_length} is smaller than a v2 header"
            )));
        }
        let total = LOG_OVERHEAD + batch_length as usize;
        if total > max_batch_bytes {
            return Err(BatchError::TooLarge {
                size: total,
                limit: max_batch_bytes,
            });
        }
        if total > rest.len() {
            return Err(BatchError::Corrupt(format!(
                "batch length {batch_length} runs past the end of the records ({} bytes left)",
                rest.len()
            )));
        }
        let batch = &rest[..total];
        let stored_crc = u32::from_be_bytes(batch[CRC..CRC + 4].try_into().expect("4 bytes"));
        let actual_crc = crc32c::crc32c(&batch[ATTRIBUTES..]);
        if stored_crc != actual_crc {
            return Err(BatchError::Corrupt(format!(
                "CRC mismatch: batch says {stored_crc:#010x}, bytes give {actual_crc:#010x}"
            )));
        }
        let last_offset_delta = be_i32(batch, LAST_OFFSET_DELTA);
        let record_count = be_i32(batch, RECORD_COUNT);
        if record_count <= 0 || last_offset_delta < 0 || last_offset_delta + 1 != record_count {
            return Err(BatchError::Invalid(format!(
                "record count {record_count} does not match last offset delta {last_offset_delta}"
            )));
        }
        let attributes = i16::from_be_bytes(batch[ATTRIBUTES..ATTRIBUTES + 2].try_into().unwrap());
        if attributes & 0x07 > 4 {
            return Err(BatchError::Corrupt(format!(
                "unknown compression codec {}",
                attributes & 0x07
            )));
        }
        batches.push(BatchInfo {
            bytes: records.slice(pos..pos + total),
            record_count: record_count as u32,
            last_offset_delta: last_offset_delta as u32,
            base_timestamp: be_i64(batch, BASE_TIMESTAMP),
            max_timestamp: be_i64(batch, MAX_TIMESTAMP),
            producer_id: be_i64(batch, PRODUCER_ID),
            producer_epoch: i16::from_be_bytes([batch[PRODUCER_EPOCH], batch[PRODUCER_EPOCH + 1]]),
            base_sequence: be_i32(batch, BASE_SEQUENCE),
            attributes,
        });
        pos += total;
    }
    Ok(batches)
}

/// Returns the batch bytes with the broker-assigned base offset and leader epoch written in.
/// Neither field is covered by the CRC, so the producer's checksum stays valid. This is the one
/// copy produce makes of a batch.
/// Whether a Produce's records start with a transactional batch (what Kafka looks at to decide a
/// produce is transactional), read from the header before any validation.
pub fn starts_transactional(records: &[u8]) -> bool {
    records.len() > ATTRIBUTES + 1
        && records[MAGIC] == 2
        && i16::from_be_bytes([records[ATTRIBUTES], records[ATTRIBUTES + 1]]) & TRANSACTIONAL_BIT
            != 0
}

pub fn with_offset(batch: &Bytes, base_offset: u64, leader_epoch: i32) -> Bytes {
    let mut out = BytesMut::from(&batch[..]);
    out[BASE_OFFSET..BASE_OFFSET + 8].copy_from_slice(&(base_offset as i64).to_be_bytes());
    out[PARTITION_LEADER_EPOCH..PARTITION_LEADER_EPOCH + 4]
        .copy_from_slice(&leader_epoch.to_be_bytes());
    out.freeze()
}

/// Stamps a batch with the broker's clock (`message.timestamp.type=LogAppendTime`): the timestamp-
/// type attribute and the max timestamp change, so the CRC is recomputed. Consumers read every
/// record's timestamp as the batch's max timestamp.
pub fn with_log_append_time(batch: &Bytes, now_ms: i64) -> Bytes {
    let mut out = BytesMut::from(&batch[..]);
    let attributes = i16::from_be_bytes([out[ATTRIBUTES], out[ATTRIBUTES + 1]]) | (1 << 3);
    out[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
    out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

/// Sets a CreateTime batch's max timestamp to what its records hold, as Kafka's LogValidator does
/// (`setMaxTimestamp`), so a header that says otherwise cannot steer retention or offset-by-time
/// lookups. The CRC covers the field, so it is recomputed.
pub fn with_max_timestamp(batch: &Bytes, max_timestamp: i64) -> Bytes {
    let mut out = BytesMut::from(&batch[..]);
    out[MAX_TIMESTAMP..MAX_TIMESTAMP + 8].copy_from_slice(&max_timestamp.to_be_bytes());
    let crc = crc32c::crc32c(&out[ATTRIBUTES..]);
    out[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    out.freeze()
}

/// What a transaction marker (an end-transaction control record) says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Marker {
    pub commit: bool,
    pub coordinator_epoch: i32,
}

/// A transaction marker batch as Kafka writes one (MemoryRecords.withEndTransactionMarker): v2,
/// attributes control|transactional, base sequence -1, one record whose key is the control record
/// version (0) and type (0 abort, 1 commit) as i16s and whose value is the end-marker version (0)
/// and the coordinator epoch. Base offset 0: the log stamps it with [`with_offset`].
pub fn marker_batch(
    producer_id: i64,
    producer_epoch: i16,
    marker: Marker,
    timestamp: i64,
) -> Bytes {
    let mut key = Vec::with_capacity(4);
    key.extend_from_slice(&0i16.to_be_bytes());
    key.extend_from_slice(&i16::from(marker.commit).to_be_bytes());
    let mut value = Vec::with_capacity(6);
    value.extend_from_slice(&0i16.to_be_bytes());
    value.extend_from_slice(&marker.coordinator_epoch.to_be_bytes());
    // attributes, timestamp delta, offset delta, key, value, header count (all varints of one
    // byte: zigzag(4) = 8, zigzag(6) = 12).
    let mut body = vec![0u8, 0, 0, 8];
    body.extend_from_slice(&key);
    body.push(12);
    body.extend_from_slice(&value);
    body.push(0);
    let mut b = Vec::with_capacity(HEADER_LEN + 1 + body.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&0i32.to_be_bytes()); // length, patched below
    b.extend_from_slice(&0i32.to_be_bytes()); // leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
    b.extend_from_slice(&(CONTROL_BIT | TRANSACTIONAL_BIT).to_be_bytes());
    b.extend_from_slice(&0i32.to_be_bytes()); // last offset delta
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&timestamp.to_be_bytes());
    b.extend_from_slice(&producer_id.to_be_bytes());
    b.extend_from_slice(&producer_epoch.to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&1i32.to_be_bytes()); // record count
    b.push((body.len() as u8) << 1); // the record's length, zigzag (under 64)
    b.extend_from_slice(&body);
    let len = (b.len() - LOG_OVERHEAD) as i32;
    b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
    let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
    b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
    Bytes::from(b)
}

/// The marker a stored control batch holds: None if it is not a transaction marker (another
/// control type, a compressed or emptied batch, or bytes that do not parse).
pub fn parse_marker(batch: &[u8]) -> Option<Marker> {
    let h = StoredHeader::parse(batch)?;
    if !h.is_control() || h.record_count == 0 || h.attributes & 0x07 != 0 {
        return None;
    }
    let mut r = batch.get(HEADER_LEN..)?;
    let _len = read_varint(&mut r)?;
    r = r.get(1..)?; // the record's attributes
    let _ts_delta = read_varint(&mut r)?;
    let _offset_delta = read_varint(&mut r)?;
    let key_len = usize::try_from(read_varint(&mut r)?).ok()?;
    let key = r.get(..key_len)?;
    r = &r[key_len..];
    let value_len = usize::try_from(read_varint(&mut r)?).ok()?;
    let value = r.get(..value_len)?;
    let kind = i16::from_be_bytes(key.get(2..4)?.try_into().ok()?);
    if value.len() < 6 || !(0..=1).contains(&kind) {
        return None;
    }
    Some(Marker {
        commit: kind == 1,
        coordinator_epoch: be_i32(value, 2),
    })
}

/// A zigzag varint (at most ten bytes), advancing `r` past it.
fn read_varint(r: &mut &[u8]) -> Option<i64> {
    let mut z = 0u64;
    for (i, byte) in r.iter().enumerate().take(10) {
        z |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *r = &r[i + 1..];
            return Some((z >> 1) as i64 ^ -((z & 1) as i64));
        }
    }
    None
}

/// Header facts about a batch already in the log (trusted: it was validated on the way in).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoredHeader {
    pub base_offset: u64,
    pub last_offset_delta: u32,
    /// Records in the batch: fewer than the offset span once compaction has removed some.
    pub record_count: u32,
    /// The base from which record timestamps are counted: the first record's timestamp as a
    /// producer wrote it, or the delete horizon once compaction has stamped one
    /// ([`StoredHeader::delete_horizon`]). Never a record timestamp to compare times with: the
    /// log's time-based decisions use `max_timestamp`.
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    /// The whole batch's size in bytes, log overhead included (what it occupies in the store).
    pub size: u64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub attributes: i16,
}

impl StoredHeader {
    pub fn parse(b: &[u8]) -> Option<StoredHeader> {
        if b.len() < HEADER_LEN {
            return None;
        }
        Some(StoredHeader {
            base_offset: be_i64(b, BASE_OFFSET) as u64,
            last_offset_delta: be_i32(b, LAST_OFFSET_DELTA) as u32,
            record_count: be_i32(b, RECORD_COUNT).max(0) as u32,
            base_timestamp: be_i64(b, BASE_TIMESTAMP),
            max_timestamp: be_i64(b, MAX_TIMESTAMP),
            size: (be_i32(b, BATCH_LENGTH).max(0) as usize + LOG_OVERHEAD) as u64,
            producer_id: be_i64(b, PRODUCER_ID),
            producer_epoch: i16::from_be_bytes([b[PRODUCER_EPOCH], b[PRODUCER_EPOCH + 1]]),
            base_sequence: be_i32(b, BASE_SEQUENCE),
            attributes: i16::from_be_bytes([b[ATTRIBUTES], b[ATTRIBUTES + 1]]),
        })
    }

    /// A control batch (transaction markers), never rewritten.
    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// A batch of a transaction (data or marker).
    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    /// When compaction may drop this batch's tombstones (KIP-534), if a compaction has fixed it.
    pub fn delete_horizon(&self) -> Option<i64> {
        (self.attributes & DELETE_HORIZON_BIT != 0).then_some(self.base_timestamp)
    }

    /// The producer id and sequence range of an idempotent producer's batch.
    pub fn sequenced(&self) -> Option<crate::log::producer_state::Sequenced> {
        sequence_range(
            self.producer_id,
            self.producer_epoch,
            self.base_sequence,
            self.last_offset_delta,
            self.attributes & TRANSACTIONAL_BIT != 0,
        )
    }

    /// The offset after this batch's last record.
    pub fn next_offset(&self) -> u64 {
        self.base_offset + self.last_offset_delta as u64 + 1
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Builds an uncompressed v2 batch of `n` records with tiny values, CRC included.
    pub fn make_batch(n: u32, timestamp: i64) -> Bytes {
        let mut records = Vec::new();
        for i in 0..n {
            // attributes, ts delta, offset delta, key len -1, value len 1, value, no headers
            let body = [
                0u8,
                zigzag(i as i64),
                zigzag(i as i64),
                zigzag(-1),
                zigzag(1),
                b'a' + (i % 26) as u8,
                0,
            ];
            records.push(zigzag(body.len() as i64));
            records.extend_from_slice(&body);
        }
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes()); // base offset
        b.extend_from_slice(&0i32.to_be_bytes()); // length, patched below
        b.extend_from_slice(&(-1i32).to_be_bytes()); // leader epoch
        b.push(2); // magic
        b.extend_from_slice(&0u32.to_be_bytes()); // crc, patched below
        b.extend_from_slice(&0i16.to_be_bytes()); // attributes
        b.extend_from_slice(&(n as i32 - 1).to_be_bytes());
        b.extend_from_slice(&timestamp.to_be_bytes());
        b.extend_from_slice(&(timestamp + n as i64 - 1).to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&(n as i32).to_be_bytes());
        b.extend_from_slice(&records);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[BATCH_LENGTH..BATCH_LENGTH + 4].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    }

    /// `batch` (from [`make_batch`]) as an idempotent producer's, CRC recomputed.
    pub fn with_producer(batch: &Bytes, producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
        let mut b = BytesMut::from(&batch[..]);
        b[PRODUCER_ID..PRODUCER_ID + 8].copy_from_slice(&producer_id.to_be_bytes());
        b[PRODUCER_EPOCH..PRODUCER_EPOCH + 2].copy_from_slice(&epoch.to_be_bytes());
        b[BASE_SEQUENCE..BASE_SEQUENCE + 4].copy_from_slice(&base_sequence.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    /// `batch` (from [`make_batch`]) as a transactional producer's, CRC recomputed.
    pub fn with_txn(batch: &Bytes, producer_id: i64, epoch: i16, base_sequence: i32) -> Bytes {
        let mut b = BytesMut::from(&with_producer(batch, producer_id, epoch, base_sequence)[..]);
        let attributes = i16::from_be_bytes([b[ATTRIBUTES], b[ATTRIBUTES + 1]]) | TRANSACTIONAL_BIT;
        b[ATTRIBUTES..ATTRIBUTES + 2].copy_from_slice(&attributes.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        b.freeze()
    }

    fn zigzag(v: i64) -> u8 {
        let z = ((v << 1) ^ (v >> 63)) as u64;
        assert!(z < 128, "test helper only encodes one-byte varints");
        z as u8
    }

    #[test]
    fn valid_batches_split() {
        let mut both = BytesMut::new();
        both.extend_from_slice(&make_batch(3, 1000));
        both.extend_from_slice(&make_batch(2, 2000));
        let infos = validate(&both.freeze(), 1 << 20).unwrap();
        assert_eq!(infos.len(), 2);
        assert_eq!(infos[0].record_count, 3);
        assert_eq!(infos[0].max_timestamp, 1002);
        assert_eq!(infos[1].last_offset_delta, 1);
    }

    #[test]
    fn crc_mismatch_is_corrupt() {
        let mut b = BytesMut::from(&make_batch(3, 0)[..]);
        let last = b.len() - 1;
        b[last] ^= 0xff;
        assert!(matches!(
            validate(&b.freeze(), 1 << 20),
            Err(BatchError::Corrupt(_))
        ));
    }

    #[test]
    fn legacy_magic_is_invalid() {
        let mut b = BytesMut::from(&make_batch(1, 0)[..]);
        b[MAGIC] = 1;
        assert!(matches!(
            validate(&b.freeze(), 1 << 20),
            Err(BatchError::Invalid(_))
        ));
    }

    #[test]
    fn truncation_and_garbage_are_corrupt() {
        let b = make_batch(3, 0);
        for cut in [1, 10, 20, b.len() - 1] {
            assert!(validate(&b.slice(..cut), 1 << 20).is_err(), "cut at {cut}");
        }
        assert!(validate(&Bytes::new(), 1 << 20).is_err());
    }

    #[test]
    fn too_large_is_refused() {
        let b = make_batch(3, 0);
        assert!(matches!(validate(&b, 20), Err(BatchError::TooLarge { .. })));
    }

    #[test]
    fn log_append_time_stamp_keeps_crc_valid() {
        let stamped = with_log_append_time(&make_batch(2, 5), 99);
        let info = validate(&stamped, 1 << 20).unwrap();
        assert_eq!(info[0].max_timestamp, 99);
        assert_ne!(info[0].attributes & (1 << 3), 0);
    }

    #[test]
    fn a_marker_batch_is_a_valid_control_batch_that_parses_back() {
        let marker = Marker {
            commit: true,
            coordinator_epoch: 7,
        };
        let b = marker_batch(42, 3, marker, 1_000);
        let info = validate(&b, 1 << 20).unwrap();
        assert_eq!(info.len(), 1);
        let i = &info[0];
        assert!(i.is_control() && i.is_transactional());
        assert_eq!(
            (i.producer_id, i.producer_epoch, i.base_sequence),
            (42, 3, -1)
        );
        assert_eq!(i.sequenced(), None, "markers carry no sequence");
        assert_eq!(parse_marker(&b), Some(marker));
        // The record walks as Kafka frames it: one record, a 4-byte key.
        let mut seen = Vec::new();
        crate::log::records::walk(&b, 0, 1, 1 << 20, |r| seen.push(r)).unwrap();
        assert_eq!(seen.len(), 1);
        assert!(seen[0].has_key);
        let abort = Marker {
            commit: false,
            coordinator_epoch: -1,
        };
        assert_eq!(parse_marker(&marker_batch(1, 0, abort, 0)), Some(abort));
        assert_eq!(parse_marker(&make_batch(1, 0)), None);
    }

    #[test]
    fn offset_assignment_keeps_crc_valid() {
        let b = make_batch(4, 0);
        let stamped = with_offset(&b, 42, 0);
        let info = validate(&stamped, 1 << 20).unwrap();
        let h = StoredHeader::parse(&info[0].bytes).unwrap();
        assert_eq!(h.base_offset, 42);
        assert_eq!(h.next_offset(), 46);
    }
}
