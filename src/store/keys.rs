//! Key and tree-name encodings: how offsets, groups and partitions become sled keys.

use uuid::Uuid;

/// A string's length as the u16 that prefixes it in a key, None if it does not fit. The wire
/// caps client strings at 32,767 bytes (as Kafka's readers do), so None means a caller bypassed
/// that: refusing beats a prefix that wraps and files the key under another group or topic.
fn prefix_len(s: &str) -> Option<[u8; 2]> {
    u16::try_from(s.len()).ok().map(u16::to_be_bytes)
}

/// The prefix of every offset key of `group`; None if the group id is too long to have any.
pub(super) fn group_prefix(group: &str) -> Option<Vec<u8>> {
    let mut k = Vec::with_capacity(2 + group.len());
    k.extend_from_slice(&prefix_len(group)?);
    k.extend_from_slice(group.as_bytes());
    Some(k)
}

/// Length-prefixed group and topic, then the partition: unambiguous for any strings, and one
/// group's keys form a prefix range. None if the group or topic is longer than a u16 says.
pub(super) fn offset_key(group: &str, topic: &str, partition: i32) -> Option<Vec<u8>> {
    let mut k = group_prefix(group)?;
    k.extend_from_slice(&prefix_len(topic)?);
    k.extend_from_slice(topic.as_bytes());
    k.extend_from_slice(&partition.to_be_bytes());
    Some(k)
}

/// The inverse of [`offset_key`]; None for a key it cannot have written: lengths that overrun or
/// leave bytes over, text that is not UTF-8, or a topic name Kafka would not allow (which is
/// what a key whose length prefix wrapped, written by releases before the check, looks like).
pub(super) fn parse_offset_key(k: &[u8]) -> Option<(String, String, i32)> {
    let glen = u16::from_be_bytes(k.get(0..2)?.try_into().ok()?) as usize;
    let group = std::str::from_utf8(k.get(2..2 + glen)?).ok()?.to_string();
    let rest = &k[2 + glen..];
    let tlen = u16::from_be_bytes(rest.get(0..2)?.try_into().ok()?) as usize;
    if rest.len() != 6 + tlen {
        return None;
    }
    let topic = &rest[2..2 + tlen];
    // Commits are accepted only for existing topics, so a stored topic is a valid name (Kafka's
    // rules; checked here rather than by calling the broker, which sits above the store).
    let name_char = |c: &u8| c.is_ascii_alphanumeric() || b"._-".contains(c);
    if topic.is_empty() || topic.len() > 249 || !topic.iter().all(name_char) {
        return None;
    }
    let topic = std::str::from_utf8(topic).ok()?.to_string();
    let partition = i32::from_be_bytes(rest[2 + tlen..].try_into().ok()?);
    Some((group, topic, partition))
}

pub(super) fn partition_tree_name(topic_id: Uuid, partition: i32) -> String {
    format!("p/{}/{}", topic_id.simple(), partition)
}

/// The topic id of a partition tree's name (`p/<id>/<partition>`), None for other trees.
pub(super) fn tree_topic_id(name: &[u8]) -> Option<Uuid> {
    let rest = std::str::from_utf8(name).ok()?.strip_prefix("p/")?;
    Uuid::parse_str(rest.split('/').next()?).ok()
}

/// The topic id and partition of a partition tree's name (`p/<id>/<partition>`).
pub(super) fn tree_partition(name: &[u8]) -> Option<(Uuid, i32)> {
    let rest = std::str::from_utf8(name).ok()?.strip_prefix("p/")?;
    let (id, partition) = rest.split_once('/')?;
    Some((Uuid::parse_str(id).ok()?, partition.parse().ok()?))
}

pub(super) fn producer_prefix(topic_id: Uuid, partition: i32) -> Vec<u8> {
    format!("{}/{}/", topic_id.simple(), partition).into_bytes()
}

pub(super) fn partition_key(topic_id: Uuid, partition: i32) -> String {
    format!("{}/{}", topic_id.simple(), partition)
}

/// Batches are stored in chunks of at most this many bytes, keyed (base offset, chunk index).
/// sled splits a leaf only past 16 entries, writes a leaf larger than a quarter segment as a
/// separate blob file, and its LRU (256 shards of cache/256 each) never evicts a shard's newest
/// page, so every shard can pin one leaf of up to 16 values. Whole 1 MiB batches therefore pinned
/// hundreds of MiB; with 16 KiB chunks a leaf stays under 256 KiB, inline, and evictable.
/// (Measured: 600 MB of 1 KiB records left 330 MiB live with 64 KiB chunks, 125 MiB with 16 KiB.)
pub(super) const CHUNK: usize = 16 * 1024;

pub(super) fn chunk_key(base: u64, index: u16) -> [u8; 10] {
    let mut k = [0u8; 10];
    k[..8].copy_from_slice(&base.to_be_bytes());
    k[8..].copy_from_slice(&index.to_be_bytes());
    k
}

pub(super) fn chunks(base: u64, batch: &[u8]) -> impl Iterator<Item = ([u8; 10], &[u8])> {
    batch
        .chunks(CHUNK)
        .enumerate()
        .map(move |(i, c)| (chunk_key(base, i as u16), c))
}

/// The base offset a (chunk) key or a log-start value starts with.
pub(super) fn key_offset(k: &[u8]) -> u64 {
    k.get(..8)
        .and_then(|b| b.try_into().ok())
        .map_or(0, u64::from_be_bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offset_keys_round_trip_up_to_the_longest_length_they_can_hold() {
        for len in [0, 1, 249, 32_767, 65_535] {
            let group = "g".repeat(len);
            let key = offset_key(&group, "orders.v1", 7).unwrap();
            assert!(key.starts_with(&group_prefix(&group).unwrap()));
            assert_eq!(
                parse_offset_key(&key),
                Some((group, "orders.v1".to_string(), 7))
            );
        }
    }

    #[test]
    fn lengths_that_would_wrap_are_refused_not_wrapped() {
        // 65,536 bytes once went out with a length prefix of 0, and the key read back as
        // another group's.
        for len in [65_536, 70_000] {
            let long = "g".repeat(len);
            assert_eq!(offset_key(&long, "t", 0), None);
            assert_eq!(offset_key("g", &long, 0), None);
            assert_eq!(group_prefix(&long), None);
        }
    }

    #[test]
    fn partition_tree_names_parse_back() {
        let id = Uuid::new_v4();
        let name = partition_tree_name(id, 12);
        assert_eq!(tree_partition(name.as_bytes()), Some((id, 12)));
        assert_eq!(tree_topic_id(name.as_bytes()), Some(id));
        assert_eq!(tree_partition(b"offsets"), None);
    }

    #[test]
    fn keys_written_with_a_wrapped_length_do_not_parse() {
        // What releases before the check wrote for a 65,536-byte group id: prefix 0.
        let mut wrapped = vec![0, 0];
        wrapped.extend(std::iter::repeat_n(b'g', 65_536));
        wrapped.extend_from_slice(&[0, 1, b't']);
        wrapped.extend_from_slice(&0i32.to_be_bytes());
        assert_eq!(parse_offset_key(&wrapped), None);
        let mut trailing = offset_key("g", "t", 0).unwrap();
        trailing.push(0);
        assert_eq!(parse_offset_key(&trailing), None);
        assert_eq!(parse_offset_key(&[0, 5, b'g']), None);
    }
}
