//! The server-side assignors of KIP-848: `uniform` (Kafka's UniformAssignor, the default) and
//! `range` (Kafka's RangeAssignor). Both are pure functions from the members' subscriptions, the
//! subscribed topics' partition counts and the current target assignment to a new target.

use std::collections::{BTreeMap, BTreeSet};

use uuid::Uuid;

use super::Assignment;

/// The assignor names Sluice knows; `group_consumer_assignors` may list any of them, the first
/// being the default (Kafka's `group.consumer.assignors`).
pub const KNOWN: &[&str] = &["uniform", "range"];

/// One member as an assignor sees it: the topics it subscribes to (resolved to ids, names and
/// regex alike) and its current target (for stickiness).
pub struct AssignorMember<'a> {
    pub id: &'a str,
    pub topics: BTreeSet<Uuid>,
    pub current: Option<&'a Assignment>,
}

/// Computes a target assignment with the named assignor (`range`, or `uniform` for anything
/// else: the name was validated on the way in).
pub fn assign(
    name: &str,
    members: &[AssignorMember],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    if name == "range" {
        range(members, partitions)
    } else {
        uniform(members, partitions)
    }
}

/// Kafka's RangeAssignor: per topic, the members subscribed to it in member id order each get a
/// contiguous range, the first `partitions % members` one more. Topics with the same partition
/// count and subscribers are co-partitioned: partition i of each goes to the same member.
fn range(
    members: &[AssignorMember],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    for (&topic, &count) in partitions {
        let mut subscribers: Vec<&str> = members
            .iter()
            .filter(|m| m.topics.contains(&topic))
            .map(|m| m.id)
            .collect();
        if subscribers.is_empty() {
            continue;
        }
        subscribers.sort_unstable();
        let n = subscribers.len() as i32;
        let (per, extra) = (count / n, count % n);
        let mut next = 0;
        for (i, id) in subscribers.iter().enumerate() {
            let take = per + i32::from((i as i32) < extra);
            if take > 0 {
                out.get_mut(*id)
                    .expect("every member has an entry")
                    .entry(topic)
                    .or_default()
                    .extend(next..next + take);
            }
            next += take;
        }
    }
    out
}

/// Kafka's UniformAssignor: balanced (member counts differ by at most one among members with the
/// same subscription) and sticky (a partition stays with its current owner while that keeps the
/// balance). Members with different subscriptions are balanced greedily, partition by partition,
/// towards the least loaded eligible member, after keeping what each may keep.
fn uniform(
    members: &[AssignorMember],
    partitions: &BTreeMap<Uuid, i32>,
) -> BTreeMap<String, Assignment> {
    let mut out: BTreeMap<String, Assignment> = members
        .iter()
        .map(|m| (m.id.to_string(), Assignment::new()))
        .collect();
    if members.is_empty() {
        return out;
    }
    let mut all: Vec<(Uuid, i32)> = Vec::new();
    for (&topic, &count) in partitions {
        if members.iter().any(|m| m.topics.contains(&topic)) {
            all.extend((0..count).map(|p| (topic, p)));
        }
    }
    // Each member's quota: an equal share of the partitions it can take, the remainder spread
    // one each over the members that already hold more (stickiness first), then in id order.
    let homogeneous = members.windows(2).all(|w| w[0].topics == w[1].topics);
    let n = members.len();
    let total = all.len();
    let (min_quota, mut extras) = if homogeneous {
        (total / n, total % n)
    } else {
        (0, 0)
    };
    let mut counts: BTreeMap<&str, usize> = members.iter().map(|m| (m.id, 0)).collect();
    let mut owner: BTreeMap<(Uuid, i32), &str> = BTreeMap::new();
    let eligible = |m: &AssignorMember, t: &Uuid| m.topics.contains(t);
    // Sticky pass: members with larger current assignments first, so the ones that may keep one
    // extra partition are those that had the most.
    let mut order: Vec<&AssignorMember> = members.iter().collect();
    order.sort_by_key(|m| {
        (
            std::cmp::Reverse(m.current.map_or(0, |c| c.values().map(BTreeSet::len).sum())),
            m.id,
        )
    });
    for m in &order {
        let Some(current) = m.current else { continue };
        let held: Vec<(Uuid, i32)> = current
            .iter()
            .filter(|(t, _)| eligible(m, t) && partitions.contains_key(t))
            .flat_map(|(t, ps)| ps.iter().map(move |p| (*t, *p)))
            .filter(|(t, p)| *p < partitions[t])
            .collect();
        let mut cap = if homogeneous { min_quota } else { usize::MAX };
        if homogeneous && held.len() > min_quota && extras > 0 {
            cap += 1;
            extras -= 1;
        }
        for tp in held {
            if counts[m.id] >= cap || owner.contains_key(&tp) {
                continue;
            }
            owner.insert(tp, m.id);
            *counts.get_mut(m.id).expect("counted") += 1;
        }
    }
    // What is left goes to the least loaded eligible member within its quota.
    for tp in all {
        if owner.contains_key(&tp) {
            continue;
        }
        let pick = members
            .iter()
            .filter(|m| eligible(m, &tp.0))
            .filter(|m| {
                !homogeneous
                    || counts[m.id] < min_quota
                    || (counts[m.id] == min_quota && extras > 0)
            })
            .min_by_key(|m| (counts[m.id], m.id));
        let Some(m) = pick else { continue };
        if homogeneous && counts[m.id] == min_quota {
            extras -= 1;
        }
        owner.insert(tp, m.id);
        *counts.get_mut(m.id).expect("counted") += 1;
    }
    for ((topic, p), id) in owner {
        out.get_mut(id)
            .expect("every member has an entry")
            .entry(topic)
            .or_default()
            .insert(p);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sizes(a: &BTreeMap<String, Assignment>) -> Vec<usize> {
        a.values()
            .map(|x| x.values().map(BTreeSet::len).sum())
            .collect()
    }

    fn member<'a>(
        id: &'a str,
        topics: &[Uuid],
        current: Option<&'a Assignment>,
    ) -> AssignorMember<'a> {
        AssignorMember {
            id,
            topics: topics.iter().copied().collect(),
            current,
        }
    }

    #[test]
    fn uniform_balances_and_sticks() {
        let t = Uuid::from_u128(1);
        let parts = BTreeMap::from([(t, 7)]);
        let one = uniform(&[member("a", &[t], None)], &parts);
        assert_eq!(sizes(&one), vec![7]);
        let a_cur = one["a"].clone();
        let two = uniform(
            &[member("a", &[t], Some(&a_cur)), member("b", &[t], None)],
            &parts,
        );
        let mut s = sizes(&two);
        s.sort();
        assert_eq!(s, vec![3, 4]);
        // Sticky: a keeps a subset of what it had, b gets only what a gave up.
        assert!(two["a"][&t].is_subset(&a_cur[&t]));
        assert!(two["a"][&t].is_disjoint(&two["b"][&t]));
        let (a2, b2) = (two["a"].clone(), two["b"].clone());
        let three = uniform(
            &[
                member("a", &[t], Some(&a2)),
                member("b", &[t], Some(&b2)),
                member("c", &[t], None),
            ],
            &parts,
        );
        let mut s = sizes(&three);
        s.sort();
        assert_eq!(s, vec![2, 2, 3]);
        assert!(three["a"][&t].is_subset(&a2[&t]));
        assert!(three["b"][&t].is_subset(&b2[&t]));
    }

    #[test]
    fn uniform_covers_heterogeneous_subscriptions() {
        let (x, y) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let parts = BTreeMap::from([(x, 2), (y, 2)]);
        let out = uniform(
            &[member("a", &[x], None), member("b", &[x, y], None)],
            &parts,
        );
        assert!(!out["a"].contains_key(&y));
        assert_eq!(out["b"][&y].len(), 2);
        let total: usize = sizes(&out).iter().sum();
        assert_eq!(total, 4);
    }

    #[test]
    fn range_is_co_partitioned() {
        let (x, y) = (Uuid::from_u128(1), Uuid::from_u128(2));
        let parts = BTreeMap::from([(x, 3), (y, 3)]);
        let out = range(
            &[member("b", &[x, y], None), member("a", &[x, y], None)],
            &parts,
        );
        assert_eq!(out["a"][&x], BTreeSet::from([0, 1]));
        assert_eq!(out["a"][&y], BTreeSet::from([0, 1]));
        assert_eq!(out["b"][&x], BTreeSet::from([2]));
        assert_eq!(out["b"][&y], BTreeSet::from([2]));
    }
}
