//! The records inside a v2 batch, read without trusting the producer.
//!
//! A batch header says how many records follow and the codec they are compressed with; both are the
//! producer's word. [`walk`] streams the records section (decompressing as it goes) and checks each
//! record's framing against the header, holding only a small read buffer: never the decompressed
//! batch, never a record. [`decode_bounded`] is the full decode that compaction needs, refused
//! before it allocates more than the broker's `max_decompressed_batch_bytes`.
//!
//! Every decompressor reads through [`Capped`], which stops the stream at the cap instead of
//! decompressing a "zip bomb" to the end and then measuring it: a 300 KB gzip batch can otherwise
//! inflate to 300 MB, and zstd's RLE blocks to far more.

use std::io::{self, BufRead, BufReader, Read};

use bytes::Bytes;
use kafka_protocol::records::{Compression, RecordBatchDecoder, RecordSet};

use crate::log::batch::{BatchError, HEADER_LEN};

/// What one record looks like to validation: enough for Kafka's per-record checks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordView {
    /// The record's position in its batch (KIP-467's `batch_index`).
    pub index: i32,
    pub timestamp_delta: i64,
    pub offset_delta: i32,
    pub has_key: bool,
    /// The record's size, from its length prefix (what `max.decompressed.message.bytes` bounds).
    pub size: i32,
}

/// Raised inside the reader stack when the decompressed stream passes the cap, and recognised
/// again by [`read_error`] so it becomes [`BatchError::DecompressedTooLarge`].
#[derive(Debug)]
struct OverCap;

impl std::fmt::Display for OverCap {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("decompressed size over the cap")
    }
}

impl std::error::Error for OverCap {}

fn over_cap() -> io::Error {
    io::Error::other(OverCap)
}

/// A codec's own failure (the compressed bytes are not a valid stream), told apart from the records
/// running out, which the walk reports as a record-count error.
#[derive(Debug)]
struct Undecompressable(String);

impl std::fmt::Display for Undecompressable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Undecompressable {}

fn codec_error(e: io::Error) -> io::Error {
    if e.get_ref().is_some_and(|inner| inner.is::<OverCap>()) {
        e
    } else {
        io::Error::other(Undecompressable(e.to_string()))
    }
}

/// A reader that yields at most `left` bytes and fails (rather than ending) if the inner stream has
/// more, so "exactly at the cap" and "past the cap" are told apart without reading much further.
struct Capped<R> {
    inner: R,
    left: usize,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        // One byte past the budget is enough to know the stream does not end within it.
        let want = buf.len().min(self.left.saturating_add(1));
        let n = self.inner.read(&mut buf[..want]).map_err(codec_error)?;
        if n > self.left {
            return Err(over_cap());
        }
        self.left -= n;
        Ok(n)
    }
}

/// The xerial framing Kafka's Java client writes (and librdkafka): a 16-byte header, then blocks
/// of a big-endian length and a raw snappy block. A stream without the header is one raw block.
/// Each block's declared size is checked against the budget before its buffer is allocated.
struct XerialSnappy<'a> {
    input: &'a [u8],
    /// Whether the first block has been read (the header, or its absence, is decided then).
    started: bool,
    block: Vec<u8>,
    pos: usize,
    budget: usize,
}

const XERIAL_MAGIC: &[u8; 8] = b"\x82SNAPPY\x00";
const XERIAL_HEADER_LEN: usize = 16;

impl<'a> XerialSnappy<'a> {
    fn new(input: &'a [u8], budget: usize) -> XerialSnappy<'a> {
        XerialSnappy {
            input,
            started: false,
            block: Vec::new(),
            pos: 0,
            budget,
        }
    }

    fn next_block(&mut self) -> io::Result<bool> {
        let first = !std::mem::replace(&mut self.started, true);
        let raw = if first && self.input.starts_with(XERIAL_MAGIC) {
            self.input = &self.input[XERIAL_HEADER_LEN.min(self.input.len())..];
            None
        } else if first && !self.input.is_empty() {
            // No framing: the whole input is one raw block (older clients).
            Some(std::mem::take(&mut self.input))
        } else {
            None
        };
        let block = match raw {
            Some(b) => b,
            None => {
                if self.input.is_empty() {
                    return Ok(false);
                }
                if self.input.len() < 4 {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "truncated snappy block length",
                    ));
                }
                let len = u32::from_be_bytes(self.input[..4].try_into().expect("4 bytes")) as usize;
                let rest = &self.input[4..];
                if len > rest.len() {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "snappy block runs past the end of the batch",
                    ));
                }
                self.input = &rest[len..];
                &rest[..len]
            }
        };
        let size = snap::raw::decompress_len(block)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        if size > self.budget {
            return Err(over_cap());
        }
        self.budget -= size;
        self.block.clear();
        self.block.resize(size, 0);
        snap::raw::Decoder::new()
            .decompress(block, &mut self.block)
            .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))?;
        self.pos = 0;
        Ok(true)
    }
}

impl Read for XerialSnappy<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.pos == self.block.len() {
            if !self.next_block()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.block.len() - self.pos);
        buf[..n].copy_from_slice(&self.block[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// The records section of `batch` (a whole, CRC-checked v2 batch) as a decompressed stream that
/// fails once it has yielded more than `cap` bytes. Uncompressed records are not capped: they are
/// already in memory, within `max.message.bytes`.
fn records_reader<'a>(batch: &'a [u8], codec: i16, cap: usize) -> io::Result<Box<dyn Read + 'a>> {
    let body = &batch[HEADER_LEN.min(batch.len())..];
    let inner: Box<dyn Read + 'a> = match codec {
        0 => return Ok(Box::new(body)),
        // Java's GZIPInputStream reads concatenated members; so does MultiGzDecoder.
        1 => Box::new(flate2::read::MultiGzDecoder::new(body)),
        2 => Box::new(XerialSnappy::new(body, cap.saturating_add(1))),
        3 => Box::new(lz4::Decoder::new(body).map_err(codec_error)?),
        4 => Box::new(zstd::stream::read::Decoder::with_buffer(body).map_err(codec_error)?),
        other => {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                format!("unknown compression codec {other}"),
            ))
        }
    };
    Ok(Box::new(Capped { inner, left: cap }))
}

/// How a failed read of the records section is reported: past the cap is MESSAGE_TOO_LARGE, a
/// stream that does not decompress is what Kafka answers (UNKNOWN_SERVER_ERROR), and records that
/// do not fit the declared count are INVALID_RECORD with Kafka's wording.
fn read_error(e: io::Error, cap: usize) -> BatchError {
    if e.get_ref().is_some_and(|inner| inner.is::<OverCap>()) {
        BatchError::DecompressedTooLarge { limit: cap }
    } else if let Some(Undecompressable(m)) = e.get_ref().and_then(|i| i.downcast_ref()) {
        BatchError::Undecompressable(m.clone())
    } else if e.kind() == io::ErrorKind::UnexpectedEof {
        BatchError::Invalid("Incorrect declared batch size, premature EOF reached".into())
    } else {
        BatchError::Corrupt(format!("the records do not decompress: {e}"))
    }
}

fn read_u8(r: &mut impl Read) -> io::Result<u8> {
    let mut b = [0u8; 1];
    r.read_exact(&mut b)?;
    Ok(b[0])
}

/// A zigzag varint of at most `max_bytes` bytes (5 for an int, 10 for a long).
fn read_varlong(r: &mut impl Read, max_bytes: u32) -> io::Result<i64> {
    let mut raw = 0u64;
    for i in 0..max_bytes {
        let b = read_u8(r)?;
        raw |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return Ok((raw >> 1) as i64 ^ -((raw & 1) as i64));
        }
    }
    Err(bad("varint is too long".into()))
}

/// A record-framing error (INVALID_RECORD), as opposed to a stream that does not decompress.
fn bad(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, InvalidRecord(message))
}

fn read_varint(r: &mut impl Read) -> io::Result<i32> {
    let v = read_varlong(r, 5)?;
    i32::try_from(v).map_err(|_| bad(format!("varint {v} overflows an int")))
}

/// Skips a length-prefixed field; -1 (null) is allowed where `nullable`.
fn skip_field(r: &mut impl Read, nullable: bool) -> io::Result<bool> {
    let len = read_varint(r)?;
    if len < 0 {
        if nullable && len == -1 {
            return Ok(false);
        }
        return Err(bad(format!("Invalid field length {len}")));
    }
    let skipped = io::copy(&mut r.by_ref().take(len as u64), &mut io::sink())?;
    if skipped != len as u64 {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    Ok(true)
}

/// A record cut short by the end of the section is Kafka's "invalid record structure".
fn invalid_structure(e: io::Error) -> io::Error {
    if e.kind() == io::ErrorKind::UnexpectedEof {
        bad("Found invalid record structure".into())
    } else {
        e
    }
}

/// A record whose framing is wrong, carried through `io::Error` to [`walk`].
#[derive(Debug)]
struct InvalidRecord(String);

impl std::fmt::Display for InvalidRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for InvalidRecord {}

/// Reads one record's body (its length already read) and checks it fills exactly that length.
fn read_record(r: &mut impl Read, index: i32, size: i32) -> io::Result<RecordView> {
    let mut body = r.by_ref().take(size as u64);
    let parse = |body: &mut io::Take<&mut _>| -> io::Result<RecordView> {
        let _attributes = read_u8(body)?;
        let timestamp_delta = read_varlong(body, 10)?;
        let offset_delta = read_varint(body)?;
        let has_key = skip_field(body, true)?;
        skip_field(body, true)?;
        let headers = read_varint(body)?;
        if headers < 0 {
            return Err(bad(format!(
                "Found invalid number of record headers {headers}"
            )));
        }
        for _ in 0..headers {
            skip_field(body, false)?;
            skip_field(body, true)?;
        }
        Ok(RecordView {
            index,
            timestamp_delta,
            offset_delta,
            has_key,
            size,
        })
    };
    let view = parse(&mut body).map_err(invalid_structure)?;
    if body.limit() != 0 {
        return Err(bad(format!(
            "Invalid record size: expected to read {size} bytes in record payload, but there are {} bytes remaining",
            body.limit()
        )));
    }
    Ok(view)
}

/// Streams the records of `batch` (a whole v2 batch whose header and CRC are already checked),
/// calling `each` per record, and checks that exactly `record_count` records fill the section.
/// At most `cap` decompressed bytes are read; memory use does not depend on the batch.
pub fn walk(
    batch: &[u8],
    codec: i16,
    record_count: u32,
    cap: usize,
    mut each: impl FnMut(RecordView),
) -> Result<(), BatchError> {
    let fail = |e: io::Error| match e.get_ref().and_then(|i| i.downcast_ref::<InvalidRecord>()) {
        Some(InvalidRecord(m)) => BatchError::Invalid(m.clone()),
        None => read_error(e, cap),
    };
    let reader = records_reader(batch, codec, cap).map_err(fail)?;
    // Varints are read a byte at a time; the buffer keeps that off the decompressor's call path.
    let mut r = BufReader::with_capacity(8 * 1024, reader);
    for index in 0..record_count {
        let size = match read_varint(&mut r) {
            Ok(size) if size >= 0 => size,
            Ok(size) => {
                return Err(BatchError::Invalid(format!(
                    "Invalid record size: {size} in record {index}"
                )))
            }
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                return Err(BatchError::Invalid(
                    "Incorrect declared batch size, premature EOF reached".into(),
                ))
            }
            Err(e) => return Err(fail(invalid_structure(e))),
        };
        each(read_record(&mut r, index as i32, size).map_err(fail)?);
    }
    // As Kafka's ensureNoneRemaining: one more byte is enough to know the count was a lie, so a
    // batch padded with a long compressed tail is not decompressed to its end.
    if !r.fill_buf().map_err(fail)?.is_empty() {
        return Err(BatchError::Invalid(
            "Incorrect declared batch size, records still remaining in file".into(),
        ));
    }
    Ok(())
}

/// Decompresses the records section of `batch` into memory, failing once it passes `cap`.
fn decompress_bounded(batch: &[u8], codec: i16, cap: usize) -> Result<Vec<u8>, BatchError> {
    let mut out = Vec::new();
    records_reader(batch, codec, cap)
        .and_then(|mut r| r.read_to_end(&mut out))
        .map_err(|e| read_error(e, cap))?;
    Ok(out)
}

/// Decodes a whole stored batch, refusing one whose records would take more than about `cap`
/// bytes: decompressed, or as decoded records (each costs a fixed-size struct however small it is
/// on the wire). Compaction uses this; a batch it refuses is left as it is.
pub fn decode_bounded(batch: &Bytes, cap: usize) -> Result<RecordSet, BatchError> {
    let header = crate::log::batch::StoredHeader::parse(batch)
        .ok_or_else(|| BatchError::Corrupt("short batch header".into()))?;
    let count = header.record_count as usize;
    if count.saturating_mul(std::mem::size_of::<kafka_protocol::records::Record>()) > cap {
        return Err(BatchError::DecompressedTooLarge { limit: cap });
    }
    let codec = header.attributes & 0x07;
    let records = Bytes::from(decompress_bounded(batch, codec, cap)?);
    // The section is already decompressed: hand it to the decoder as is.
    let decompress =
        |_: &mut Bytes, _: Compression| -> anyhow::Result<Bytes> { Ok(records.clone()) };
    RecordBatchDecoder::decode_with_custom_compression(&mut batch.clone(), Some(decompress))
        .map_err(|e| BatchError::Corrupt(e.to_string()))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::log::batch::tests::make_batch;
    use crate::log::batch::{ATTRIBUTES, CRC, LOG_OVERHEAD};
    use std::io::Write;

    /// A v2 batch of `count` claimed records whose records section is `records`, compressed with
    /// `codec`, CRC and length filled in.
    pub fn raw_batch(codec: i16, count: i32, records: &[u8]) -> Bytes {
        let body = compress(codec, records);
        let mut b = Vec::new();
        b.extend_from_slice(&0i64.to_be_bytes());
        b.extend_from_slice(&0i32.to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.push(2);
        b.extend_from_slice(&0u32.to_be_bytes());
        b.extend_from_slice(&codec.to_be_bytes());
        b.extend_from_slice(&(count - 1).to_be_bytes());
        b.extend_from_slice(&crate::now_ms().to_be_bytes());
        b.extend_from_slice(&crate::now_ms().to_be_bytes());
        b.extend_from_slice(&(-1i64).to_be_bytes());
        b.extend_from_slice(&(-1i16).to_be_bytes());
        b.extend_from_slice(&(-1i32).to_be_bytes());
        b.extend_from_slice(&count.to_be_bytes());
        b.extend_from_slice(&body);
        let len = (b.len() - LOG_OVERHEAD) as i32;
        b[8..12].copy_from_slice(&len.to_be_bytes());
        let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
        b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
        Bytes::from(b)
    }

    pub fn compress(codec: i16, data: &[u8]) -> Vec<u8> {
        match codec {
            0 => data.to_vec(),
            1 => {
                let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
                e.write_all(data).unwrap();
                e.finish().unwrap()
            }
            2 => {
                let mut out = XERIAL_MAGIC.to_vec();
                out.extend_from_slice(&[0, 0, 0, 1, 0, 0, 0, 1]);
                for chunk in data.chunks(32 * 1024) {
                    let c = snap::raw::Encoder::new().compress_vec(chunk).unwrap();
                    out.extend_from_slice(&(c.len() as u32).to_be_bytes());
                    out.extend_from_slice(&c);
                }
                out
            }
            3 => {
                let mut e = lz4::EncoderBuilder::new().build(Vec::new()).unwrap();
                e.write_all(data).unwrap();
                let (out, r) = e.finish();
                r.unwrap();
                out
            }
            4 => zstd::stream::encode_all(data, 3).unwrap(),
            _ => unreachable!(),
        }
    }

    /// One record, offset delta `i`, with a key unless `keyless`, and `value` as its value.
    pub fn record(i: u8, keyless: bool, value: &[u8]) -> Vec<u8> {
        let mut body = vec![0u8, 0, i << 1];
        if keyless {
            body.push(1); // zigzag(-1)
        } else {
            body.extend_from_slice(&[2, b'k']);
        }
        put_varint(&mut body, value.len() as i64);
        body.extend_from_slice(value);
        body.push(0);
        let mut out = Vec::new();
        put_varint(&mut out, body.len() as i64);
        out.extend_from_slice(&body);
        out
    }

    fn put_varint(out: &mut Vec<u8>, v: i64) {
        let mut z = ((v << 1) ^ (v >> 63)) as u64;
        while z >= 0x80 {
            out.push((z as u8) | 0x80);
            z >>= 7;
        }
        out.push(z as u8);
    }

    fn count(batch: &Bytes, cap: usize) -> Result<Vec<RecordView>, BatchError> {
        let h = crate::log::batch::validate(batch, usize::MAX)
            .unwrap()
            .remove(0);
        let mut seen = Vec::new();
        walk(batch, h.compression(), h.record_count, cap, |v| {
            seen.push(v)
        })
        .map(|()| seen)
    }

    #[test]
    fn walks_every_codec() {
        let mut records = Vec::new();
        for i in 0..3 {
            records.extend(record(i, i == 1, b"value"));
        }
        for codec in 0..=4 {
            let seen = count(&raw_batch(codec, 3, &records), 1 << 20).unwrap();
            assert_eq!(seen.len(), 3, "codec {codec}");
            assert_eq!(
                seen.iter().map(|v| v.has_key).collect::<Vec<_>>(),
                [true, false, true]
            );
            assert_eq!(seen[2].offset_delta, 2);
        }
        assert_eq!(count(&make_batch(5, 0), 1 << 20).unwrap().len(), 5);
    }

    #[test]
    fn a_count_the_records_do_not_fill_is_invalid() {
        let one = record(0, false, b"v");
        for codec in 0..=4 {
            // Claims more records than it holds (issue #14 item 4: a one-record batch claiming
            // 1,000,000 moved the high watermark by 1,000,000).
            let e = count(&raw_batch(codec, 1_000_000, &one), 1 << 20).unwrap_err();
            assert_eq!(
                e,
                BatchError::Invalid("Incorrect declared batch size, premature EOF reached".into()),
                "codec {codec}"
            );
            // Holds more than it claims.
            let mut two = one.clone();
            two.extend(record(1, false, b"v"));
            let e = count(&raw_batch(codec, 1, &two), 1 << 20).unwrap_err();
            assert!(
                matches!(&e, BatchError::Invalid(m) if m.contains("records still remaining")),
                "codec {codec}: {e}"
            );
        }
    }

    #[test]
    fn records_that_do_not_decompress_are_undecompressable() {
        for codec in 1..=4 {
            let mut b = bytes::BytesMut::from(&make_batch(2, 0)[..]);
            b[ATTRIBUTES + 1] |= codec as u8;
            let crc = crc32c::crc32c(&b[ATTRIBUTES..]);
            b[CRC..CRC + 4].copy_from_slice(&crc.to_be_bytes());
            let e = count(&b.freeze(), 1 << 20).unwrap_err();
            assert!(
                matches!(e, BatchError::Undecompressable(_)),
                "codec {codec}: {e:?}"
            );
        }
    }

    #[test]
    fn a_record_that_overruns_its_length_is_invalid() {
        let mut r = record(0, false, b"value");
        r[0] -= 2; // the length now ends inside the value
        let e = count(&raw_batch(0, 1, &r), 1 << 20).unwrap_err();
        assert!(matches!(e, BatchError::Invalid(_)), "{e}");
    }

    /// A "zip bomb": one small record followed by 64 MiB of zeros, which each codec squeezes to
    /// between 1:21 (snappy) and 1:1000s. The walk stops at the first byte past the declared record; the full decode stops
    /// at the cap, never allocating the whole.
    #[test]
    fn zip_bombs_stop_at_the_cap() {
        let big = 64 << 20;
        let cap = 1 << 20;
        let mut records = record(0, false, b"v");
        records.resize(big, 0);
        for codec in 1..=4 {
            let bomb = raw_batch(codec, 1, &records);
            // Snappy squeezes least (its blocks are 32 KiB): about 1:21.
            assert!(bomb.len() < big / 16, "codec {codec}: {} bytes", bomb.len());
            let e = count(&bomb, cap).unwrap_err();
            assert!(
                matches!(&e, BatchError::Invalid(m) if m.contains("remaining")),
                "{e}"
            );
            assert_eq!(
                decompress_bounded(&bomb, codec, cap).unwrap_err(),
                BatchError::DecompressedTooLarge { limit: cap },
                "codec {codec}"
            );
            assert!(decode_bounded(&bomb, cap).is_err());
        }
        // One record whose value is the whole 64 MiB: the walk itself must stop at the cap.
        let mut one = Vec::new();
        let value = vec![0u8; big];
        one.extend(record(0, false, &value));
        for codec in 1..=4 {
            let bomb = raw_batch(codec, 1, &one);
            assert_eq!(
                count(&bomb, cap).unwrap_err(),
                BatchError::DecompressedTooLarge { limit: cap },
                "codec {codec}"
            );
            assert!(count(&bomb, big + 100).is_ok(), "codec {codec}");
        }
    }

    #[test]
    fn decode_bounded_matches_the_decoder() {
        let mut records = Vec::new();
        for i in 0..4 {
            records.extend(record(i, false, b"abc"));
        }
        for codec in 0..=4 {
            let b = raw_batch(codec, 4, &records);
            let set = decode_bounded(&b, 1 << 20).unwrap();
            assert_eq!(set.records.len(), 4);
            assert_eq!(set.records[3].offset, 3);
            assert_eq!(set.records[0].key.as_deref(), Some(&b"k"[..]));
            // A cap below the decoded records' footprint refuses the batch.
            assert!(matches!(
                decode_bounded(&b, 100),
                Err(BatchError::DecompressedTooLarge { .. })
            ));
        }
    }

    /// What walking costs on the produce path next to the CRC check it already paid for: 1 MiB of
    /// 1 KiB records per codec. `cargo test --lib walk_cost -- --ignored --nocapture`; numbers from a
    /// debug build only say how the two compare.
    #[test]
    #[ignore]
    fn walk_cost() {
        let value: Vec<u8> = (0..1000u32).map(|i| (i * 7 % 251) as u8).collect();
        let mut records = Vec::new();
        for i in 0..1024u32 {
            records.extend(record((i % 64) as u8, false, &value));
        }
        for codec in 0..=4 {
            let b = raw_batch(codec, 1024, &records);
            let rounds = 20;
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                crate::log::batch::validate(&b, usize::MAX).unwrap();
            }
            let crc = start.elapsed() / rounds;
            let start = std::time::Instant::now();
            for _ in 0..rounds {
                walk(&b, codec, 1024, 64 << 20, |_| {}).unwrap();
            }
            let walked = start.elapsed() / rounds;
            println!(
                "codec {codec}: {} bytes on the wire, header+CRC {crc:?}, walk {walked:?}",
                b.len()
            );
        }
    }
}
