//! The Fetch splice: a Fetch response's record bytes go to the socket as the chunks they were read
//! as from the store, never copied into the encoder.

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::{ApiKey, FetchResponse, ResponseKind};

use super::response::{encode_response, Frame};

/// A Fetch response whose record bytes travel beside it, as the stored chunks, so they reach the
/// socket without a copy. `records[i]` holds the chunks of the i-th partition of `response`,
/// counting through its topics in order; an empty list means no records.
#[derive(Debug, Default)]
pub struct FetchBody {
    pub response: FetchResponse,
    pub records: Vec<Vec<Bytes>>,
}

/// Encodes a Fetch response without copying its record bytes. The body is encoded by the
/// kafka-protocol crate with a 16-byte placeholder in every partition's `records` that has data: a
/// random nonce and the partition's position. The placeholders are then found in the (small)
/// encoded body and replaced by the right length prefix and the record chunks themselves, and the
/// frame length is fixed up. The crate has no way to emit a field by reference, and copying every
/// fetched byte into the encoder was one of two copies on the hot read path.
pub fn encode_fetch(
    version: i16,
    correlation_id: i32,
    mut fetched: FetchBody,
) -> anyhow::Result<Frame> {
    const MARK: usize = 16;
    let nonce = *uuid::Uuid::new_v4().as_bytes();
    let partitions = fetched
        .response
        .responses
        .iter_mut()
        .flat_map(|t| t.partitions.iter_mut());
    for (i, part) in partitions.enumerate() {
        if fetched.records.get(i).is_some_and(|r| has_bytes(r)) {
            let mut mark = [0u8; MARK];
            mark[..12].copy_from_slice(&nonce[..12]);
            mark[12..].copy_from_slice(&(i as u32).to_be_bytes());
            part.records = Some(Bytes::copy_from_slice(&mark));
        }
    }
    let body = ResponseKind::Fetch(fetched.response);
    let head = encode_response(ApiKey::Fetch, version, correlation_id, &body)?;
    let flexible = version >= 12;
    // Where each placeholder sits: (start of its length prefix, end of the placeholder, slot).
    let mut found = Vec::new();
    let mut at = 0;
    while let Some(pos) = find(&head[at..], &nonce[..12]).map(|p| p + at) {
        let end = pos + MARK;
        let slot = head
            .get(pos + 12..end)
            .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
        let prefix_ok = if flexible {
            pos >= 1 && head[pos - 1] == MARK as u8 + 1
        } else {
            pos >= 4 && head[pos - 4..pos] == (MARK as i32).to_be_bytes()
        };
        match slot {
            Some(slot) if prefix_ok && slot < fetched.records.len() => {
                found.push((pos - if flexible { 1 } else { 4 }, end, slot));
            }
            _ => anyhow::bail!("a fetch record placeholder was not where it should be"),
        }
        at = end;
    }
    let expected = fetched.records.iter().filter(|r| has_bytes(r)).count();
    if found.len() != expected {
        anyhow::bail!(
            "found {} of {expected} fetch record placeholders",
            found.len()
        );
    }
    let mut prefixes = Vec::with_capacity(found.len());
    let mut total = head.len() - 4;
    for &(start, end, slot) in &found {
        let len: usize = fetched.records[slot].iter().map(Bytes::len).sum();
        let mut prefix = BytesMut::with_capacity(5);
        if flexible {
            put_uvarint(&mut prefix, len as u64 + 1);
        } else {
            prefix.put_i32(i32::try_from(len)?);
        }
        total = total - (end - start) + prefix.len() + len;
        prefixes.push(prefix.freeze());
    }
    let mut length = BytesMut::with_capacity(4);
    length.put_i32(i32::try_from(total)?);
    let mut frame = Frame::default();
    frame.push(length.freeze());
    let mut cursor = 4;
    for (&(start, end, slot), prefix) in found.iter().zip(prefixes) {
        frame.push(head.slice(cursor..start));
        frame.push(prefix);
        for chunk in std::mem::take(&mut fetched.records[slot]) {
            frame.push(chunk);
        }
        cursor = end;
    }
    frame.push(head.slice(cursor..));
    Ok(frame)
}

fn has_bytes(chunks: &[Bytes]) -> bool {
    chunks.iter().any(|c| !c.is_empty())
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// kafka-protocol keeps its varint encoder private, so the compact length prefix is written here.
fn put_uvarint(buf: &mut BytesMut, mut v: u64) {
    while v >= 0x80 {
        buf.put_u8((v as u8) | 0x80);
        v >>= 7;
    }
    buf.put_u8(v as u8);
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Buf;

    /// The spliced Fetch frame is byte for byte what the codec writes with the records inline, at
    /// every version, for several topics and partitions, chunked, empty and failed partitions.
    #[test]
    fn fetch_splice_matches_the_codec() {
        use kafka_protocol::messages::fetch_response::{FetchableTopicResponse, PartitionData};
        use kafka_protocol::messages::FetchResponse;

        let chunk =
            |n: usize, seed: u8| Bytes::from((0..n).map(|i| seed ^ i as u8).collect::<Vec<_>>());
        // Per partition: the record chunks (empty: no data) and the error code.
        let layout: Vec<Vec<(Vec<Bytes>, i16)>> = vec![
            vec![
                (vec![chunk(100, 1)], 0),
                (vec![], 0),
                (vec![chunk(16384, 2), chunk(16384, 3), chunk(70, 4)], 0),
            ],
            vec![(vec![], 1), (vec![chunk(200, 5), chunk(1, 6)], 0)],
            vec![],
        ];
        for version in 4..=16 {
            let mut fetched = FetchBody::default();
            let mut inline = FetchResponse::default().with_throttle_time_ms(7);
            fetched.response = inline.clone();
            for (t, parts) in layout.iter().enumerate() {
                let mut spliced_topic = FetchableTopicResponse::default()
                    .with_topic(
                        kafka_protocol::protocol::StrBytes::from_string(format!("topic-{t}"))
                            .into(),
                    )
                    .with_topic_id(uuid::Uuid::from_u128(t as u128 + 1));
                let mut inline_topic = spliced_topic.clone();
                for (p, (chunks, error)) in parts.iter().enumerate() {
                    let data = PartitionData::default()
                        .with_partition_index(p as i32)
                        .with_error_code(*error)
                        .with_high_watermark(42)
                        .with_records(Some(Bytes::new()));
                    let joined: Vec<u8> = chunks.concat();
                    inline_topic
                        .partitions
                        .push(data.clone().with_records(Some(joined.into())));
                    spliced_topic.partitions.push(data);
                    fetched.records.push(chunks.clone());
                }
                inline.responses.push(inline_topic);
                fetched.response.responses.push(spliced_topic);
            }
            let want =
                encode_response(ApiKey::Fetch, version, 99, &ResponseKind::Fetch(inline)).unwrap();
            let got = encode_fetch(version, 99, fetched).unwrap();
            assert_eq!(got.remaining(), want.len(), "v{version}");
            assert_eq!(got.to_bytes(), want, "v{version}");
        }
    }
}
