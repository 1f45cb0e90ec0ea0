//! The simple assignor of share groups (KIP-932, Kafka's `SimpleAssignor`): share groups need no
//! revocation, since the share-partition side arbitrates records between members, so a partition
//! may go to several members at once and moves without waiting for anyone.
//!
//! The rules, in Kafka 4.4's order of priority:
//! 1. every subscribed partition gets at least one member (if any member subscribes to its topic);
//! 2. balance: each partition goes to the same number of members, the fewest that give every
//!    member a partition (one while there are at least as many partitions as members), and the
//!    members' counts differ by at most one;
//! 3. stickiness: within those bounds, a member keeps what it had.
//!
//! When every member subscribes to the same topics the rules apply to all their partitions
//! together (Kafka's homogeneous builder); otherwise they apply topic by topic, among the members
//! subscribed to it (its heterogeneous builder).

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

/// A member's assigned partitions by topic id.
pub type Assignment = BTreeMap<Uuid, BTreeSet<i32>>;

/// One partition of a subscribed topic.
type Tp = (Uuid, i32);

/// Computes every member's assignment. `members`: member id -> subscribed topic names and current
/// assignment; `topics`: existing topic name -> (id, partition count).
pub fn assign(
    members: &BTreeMap<String, (BTreeSet<String>, Assignment)>,
    topics: &BTreeMap<String, (Uuid, i32)>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .keys()
        .map(|m| (m.clone(), Assignment::new()))
        .collect();
    let partitions_of = |names: &BTreeSet<String>| -> Vec<Tp> {
        names
            .iter()
            .filter_map(|n| topics.get(n))
            .flat_map(|&(id, count)| (0..count).map(move |p| (id, p)))
            .collect()
    };
    let homogeneous = members
        .values()
        .map(|(subs, _)| subs)
        .collect::<BTreeSet<_>>()
        .len()
        <= 1;
    let groups: Vec<(Vec<Tp>, Vec<&String>)> = if homogeneous {
        let subs = members
            .values()
            .next()
            .map(|(s, _)| s.clone())
            .unwrap_or_default();
        vec![(partitions_of(&subs), members.keys().collect())]
    } else {
        let names: BTreeSet<&String> = members.values().flat_map(|(s, _)| s).collect();
        names
            .into_iter()
            .map(|name| {
                let one = BTreeSet::from([name.clone()]);
                let subscribed = members
                    .iter()
                    .filter(|(_, (s, _))| s.contains(name))
                    .map(|(m, _)| m)
                    .collect();
                (partitions_of(&one), subscribed)
            })
            .collect()
    };
    for (partitions, subscribed) in groups {
        if partitions.is_empty() || subscribed.is_empty() {
            continue;
        }
        let current: BTreeMap<&String, Vec<Tp>> = subscribed
            .iter()
            .map(|&m| {
                let held = members[m]
                    .1
                    .iter()
                    .flat_map(|(id, ps)| ps.iter().map(move |p| (*id, *p)))
                    .filter(|tp| partitions.contains(tp))
                    .collect();
                (m, held)
            })
            .collect();
        for (m, tps) in balance(&partitions, &subscribed, &current) {
            let a = out.get_mut(m).expect("every member has an entry");
            for (id, p) in tps {
                a.entry(id).or_default().insert(p);
            }
        }
    }
    out
}

/// The assignment of one set of partitions among the members subscribed to all of them, as
/// Kafka's `SimpleHomogeneousAssignmentBuilder`: each partition goes to `sharing` members, the
/// fewest that give every member one (`ceil(members / partitions)`), and member `i` (in id order)
/// gets `ceil(total * (i + 1) / members) - ceil(total * i / members)` of the `total` slots. What a
/// member held stays with it within those counts; the rest is filled in partition order.
fn balance<'a>(
    partitions: &[Tp],
    members: &[&'a String],
    current: &BTreeMap<&'a String, Vec<Tp>>,
) -> BTreeMap<&'a String, Vec<Tp>> {
    let (n, m) = (partitions.len(), members.len());
    let sharing = m.div_ceil(n);
    let total = sharing * n;
    let desired: Vec<usize> = (0..m)
        .map(|i| (total * (i + 1)).div_ceil(m) - (total * i).div_ceil(m))
        .collect();
    let mut out: BTreeMap<&String, Vec<Tp>> = BTreeMap::new();
    let mut holders: BTreeMap<Tp, usize> = partitions.iter().map(|&tp| (tp, 0)).collect();
    // Keep: each member's held partitions up to its count, each partition up to `sharing`.
    for (i, &mem) in members.iter().enumerate() {
        let mut kept = Vec::new();
        for &tp in &current[mem] {
            let h = holders
                .get_mut(&tp)
                .expect("held partitions are subscribed ones");
            if kept.len() < desired[i] && *h < sharing && !kept.contains(&tp) {
                *h += 1;
                kept.push(tp);
            }
        }
        out.insert(mem, kept);
    }
    // Fill: each partition short of `sharing` goes to the member with the most room that does not
    // hold it yet. The slots add up, so this places every partition at least once.
    for &tp in partitions {
        while holders[&tp] < sharing {
            let next = members
                .iter()
                .enumerate()
                .filter(|(i, mem)| out[*mem].len() < desired[*i] && !out[*mem].contains(&tp))
                .max_by_key(|(i, mem)| (desired[*i] - out[*mem].len(), std::cmp::Reverse(*i)))
                .map(|(_, mem)| *mem);
            let Some(mem) = next else { break };
            out.get_mut(mem).expect("member").push(tp);
            *holders.get_mut(&tp).expect("partition") += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(n: u128) -> Uuid {
        Uuid::from_u128(n)
    }

    fn members(list: &[(&str, &[&str])]) -> BTreeMap<String, (BTreeSet<String>, Assignment)> {
        list.iter()
            .map(|(m, subs)| {
                (
                    m.to_string(),
                    (
                        subs.iter().map(|s| s.to_string()).collect(),
                        Assignment::new(),
                    ),
                )
            })
            .collect()
    }

    fn counts(a: &BTreeMap<String, Assignment>) -> Vec<usize> {
        a.values()
            .map(|x| x.values().map(BTreeSet::len).sum())
            .collect()
    }

    /// How many members hold each partition.
    fn owners(a: &BTreeMap<String, Assignment>) -> BTreeMap<Tp, usize> {
        let mut o = BTreeMap::new();
        for x in a.values() {
            for (id, ps) in x {
                for p in ps {
                    *o.entry((*id, *p)).or_default() += 1;
                }
            }
        }
        o
    }

    #[test]
    fn more_partitions_than_members_gives_each_partition_one_member_balanced() {
        let topics = BTreeMap::from([("a".to_string(), (t(1), 5))]);
        let ms = members(&[("m1", &["a"]), ("m2", &["a"])]);
        let a = assign(&ms, &topics);
        let mut c = counts(&a);
        c.sort();
        assert_eq!(c, vec![2, 3]);
        assert_eq!(owners(&a).len(), 5);
        assert!(owners(&a).values().all(|&n| n == 1));
    }

    #[test]
    fn more_members_than_partitions_shares_each_partition_as_kafka() {
        // Kafka 4.4: each partition to ceil(5 / 2) = 3 members; the 6 slots as 2, 1, 1, 1, 1.
        let topics = BTreeMap::from([("a".to_string(), (t(1), 2))]);
        let ms = members(&[
            ("m1", &["a"]),
            ("m2", &["a"]),
            ("m3", &["a"]),
            ("m4", &["a"]),
            ("m5", &["a"]),
        ]);
        let a = assign(&ms, &topics);
        assert_eq!(counts(&a), vec![2, 1, 1, 1, 1]);
        assert!(owners(&a).values().all(|&n| n == 3));
        // Three members on two partitions (what the reference broker answered): 2, 1, 1, each
        // partition held twice.
        let ms = members(&[("m1", &["a"]), ("m2", &["a"]), ("m3", &["a"])]);
        let a = assign(&ms, &topics);
        assert_eq!(counts(&a), vec![2, 1, 1]);
        assert!(owners(&a).values().all(|&n| n == 2));
    }

    #[test]
    fn a_new_member_takes_only_what_balance_needs() {
        let topics = BTreeMap::from([("a".to_string(), (t(1), 4))]);
        let first = assign(&members(&[("m1", &["a"])]), &topics);
        assert_eq!(counts(&first), vec![4]);
        let mut ms = members(&[("m1", &["a"]), ("m2", &["a"])]);
        ms.get_mut("m1").unwrap().1 = first["m1"].clone();
        let second = assign(&ms, &topics);
        assert_eq!(counts(&second), vec![2, 2]);
        // m1 kept two of its own; nobody shares a partition.
        assert!(second["m1"][&t(1)].is_subset(&first["m1"][&t(1)]));
        assert!(owners(&second).values().all(|&n| n == 1));
    }

    #[test]
    fn overlapping_stale_assignments_still_balance() {
        let topics = BTreeMap::from([("a".to_string(), (t(1), 5))]);
        let mut ms = members(&[("m1", &["a"]), ("m2", &["a"]), ("m3", &["a"])]);
        ms.get_mut("m1").unwrap().1 = BTreeMap::from([(t(1), BTreeSet::from([0, 1, 2]))]);
        ms.get_mut("m2").unwrap().1 = BTreeMap::from([(t(1), BTreeSet::from([0, 1]))]);
        let a = assign(&ms, &topics);
        let mut c = counts(&a);
        c.sort();
        assert_eq!(c, vec![1, 2, 2]);
        assert!(owners(&a).values().all(|&n| n == 1));
        assert_eq!(owners(&a).len(), 5);
        // m1 keeps two of its three, m2 what m1 did not keep.
        assert!(a["m1"][&t(1)].is_subset(&BTreeSet::from([0, 1, 2])));
    }

    #[test]
    fn heterogeneous_subscriptions_assign_topic_by_topic() {
        let topics = BTreeMap::from([("a".to_string(), (t(1), 1)), ("b".to_string(), (t(2), 2))]);
        let ms = members(&[
            ("m1", &["a", "b"]),
            ("m2", &["b"]),
            ("m3", &["a", "missing"]),
        ]);
        let a = assign(&ms, &topics);
        assert_eq!(
            owners(&a).len(),
            3,
            "every subscribed partition has a member"
        );
        assert!(!a["m2"].contains_key(&t(1)), "m2 is not subscribed to a");
        assert!(!a["m3"].contains_key(&t(2)), "m3 is not subscribed to b");
        assert_eq!(a["m2"][&t(2)].len(), 1);
    }

    #[test]
    fn no_topics_or_no_members_assign_nothing() {
        let topics = BTreeMap::new();
        let a = assign(&members(&[("m1", &["a"])]), &topics);
        assert_eq!(counts(&a), vec![0]);
        assert!(assign(&BTreeMap::new(), &topics).is_empty());
    }
}
