//! Scenarios across JoinGroup, SyncGroup, Heartbeat, commits and restarts, driven through the
//! coordinator's public methods.

use std::time::Duration;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::*;
use crate::store::CommittedOffset;

fn coordinator(dir: &std::path::Path) -> GroupCoordinator {
    let store = Store::open(dir, 1 << 20, 1000).unwrap();
    GroupCoordinator::open(
        store,
        GroupConfig {
            min_session_timeout_ms: 10,
            max_session_timeout_ms: 600_000,
            initial_rebalance_delay_ms: 0,
            max_metadata_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: 1000,
            consumer_assignors: vec!["uniform".into(), "range".into()],
        },
    )
    .unwrap()
}

fn join_req(member: &str, instance: Option<&str>, session_ms: i32) -> JoinRequest {
    JoinRequest {
        group_id: "g".into(),
        member_id: member.into(),
        group_instance_id: instance.map(String::from),
        client_id: "c".into(),
        client_host: "/127.0.0.1".into(),
        session_timeout_ms: session_ms,
        rebalance_timeout_ms: 2_000,
        protocol_type: "consumer".into(),
        protocols: vec![("range".into(), Bytes::from_static(b"meta"))],
        require_known_member_id: true,
        supports_skip_assignment: true,
    }
}

fn sync(
    c: &GroupCoordinator,
    generation_id: i32,
    member: &str,
    instance: Option<&str>,
    assignments: Vec<(String, Bytes)>,
) -> Pending<SyncResult> {
    c.sync(SyncRequest {
        group_id: "g".into(),
        generation_id,
        member_id: member.into(),
        instance_id: instance.map(String::from),
        assignments,
        ..SyncRequest::default()
    })
}

async fn resolve<T>(p: Pending<T>) -> T {
    match p {
        Pending::Ready(t) => t,
        Pending::Wait(rx) => tokio::time::timeout(Duration::from_secs(10), rx)
            .await
            .expect("answered in time")
            .expect("sender kept"),
    }
}

/// Joins with KIP-394's two steps and returns the final JoinGroup answer.
async fn join_fully(c: &GroupCoordinator, instance: Option<&str>, session_ms: i32) -> JoinResult {
    let first = resolve(c.join(join_req("", instance, session_ms))).await;
    if instance.is_some() {
        return first;
    }
    assert_eq!(first.error, ResponseError::MemberIdRequired.code());
    resolve(c.join(join_req(&first.member_id, None, session_ms))).await
}

#[tokio::test]
async fn single_member_reaches_stable_and_commits() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let j = join_fully(&c, None, 10_000).await;
    assert_eq!(j.error, 0);
    assert_eq!(j.generation_id, 1);
    assert_eq!(j.leader_id, j.member_id);
    assert_eq!(j.members.len(), 1);
    let s = resolve(sync(
        &c,
        1,
        &j.member_id,
        None,
        vec![(j.member_id.clone(), Bytes::from_static(b"A"))],
    ))
    .await;
    assert_eq!((s.error, &s.assignment[..]), (0, &b"A"[..]));
    assert_eq!(c.heartbeat("g", 1, &j.member_id, None), 0);
    assert_eq!(
        c.heartbeat("g", 0, &j.member_id, None),
        ResponseError::IllegalGeneration.code()
    );
    assert_eq!(
        c.heartbeat("g", 1, "nobody", None),
        ResponseError::UnknownMemberId.code()
    );
    let off = CommittedOffset {
        offset: 42,
        leader_epoch: 0,
        metadata: Some("m".into()),
        commit_timestamp_ms: crate::now_ms(),
    };
    let codes = c
        .commit(
            "g",
            1,
            &j.member_id,
            None,
            vec![("t".into(), 0, off.clone())],
            |_, _| true,
        )
        .unwrap();
    assert_eq!(codes, vec![0]);
    assert_eq!(
        c.commit(
            "g",
            0,
            &j.member_id,
            None,
            vec![("t".into(), 0, off.clone())],
            |_, _| true
        ),
        Err(ResponseError::IllegalGeneration.code())
    );
    let fetched = c.fetch_offsets("g", Some(vec![("t".into(), vec![0, 1])]));
    assert_eq!(fetched[0].1[0].1.as_ref().unwrap().offset, 42);
    assert!(fetched[0].1[1].1.is_none());
    assert_eq!(c.describe("g").state, GroupState::Stable);
    assert_eq!(c.delete_group("g"), ResponseError::NonEmptyGroup.code());
    assert_eq!(
        c.leave("g", &[(j.member_id.clone(), None)]).unwrap(),
        vec![0]
    );
    assert_eq!(c.describe("g").state, GroupState::Empty);
    assert_eq!(c.delete_group("g"), 0);
    assert_eq!(c.delete_group("g"), ResponseError::GroupIdNotFound.code());
    assert!(c.fetch_offsets("g", None).is_empty());
}

#[tokio::test]
async fn second_member_triggers_rebalance_and_both_get_assignments() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let a = join_fully(&c, None, 10_000).await;
    resolve(sync(&c, 1, &a.member_id, None, vec![])).await;
    // B joins: the group goes to PreparingRebalance; A learns it from its heartbeat and rejoins.
    let b_first = resolve(c.join(join_req("", None, 10_000))).await;
    let b_join = c.join(join_req(&b_first.member_id, None, 10_000));
    assert_eq!(
        c.heartbeat("g", 1, &a.member_id, None),
        ResponseError::RebalanceInProgress.code()
    );
    let a2 = resolve(c.join(join_req(&a.member_id, None, 10_000))).await;
    let b = resolve(b_join).await;
    assert_eq!((a2.generation_id, b.generation_id), (2, 2));
    assert_eq!(a2.leader_id, a.member_id);
    assert_eq!(a2.members.len(), 2);
    assert!(b.members.is_empty());
    let b_sync = sync(&c, 2, &b.member_id, None, vec![]);
    let a_sync = resolve(sync(
        &c,
        2,
        &a.member_id,
        None,
        vec![(b.member_id.clone(), Bytes::from_static(b"B"))],
    ))
    .await;
    assert_eq!(
        a_sync.assignment.len(),
        0,
        "left out of the assignment: empty but valid"
    );
    assert_eq!(&resolve(b_sync).await.assignment[..], b"B");
}

#[tokio::test(start_paused = true)]
async fn session_timeout_removes_a_silent_member() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let a = join_fully(&c, None, 1_000).await;
    resolve(sync(&c, 1, &a.member_id, None, vec![])).await;
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    assert_eq!(
        c.heartbeat("g", 1, &a.member_id, None),
        ResponseError::UnknownMemberId.code()
    );
    assert_eq!(c.describe("g").state, GroupState::Empty);
}

#[tokio::test(start_paused = true)]
async fn rebalance_timeout_drops_a_member_that_did_not_rejoin() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let a = join_fully(&c, None, 10_000).await;
    resolve(sync(&c, 1, &a.member_id, None, vec![])).await;
    // B's join starts a rebalance; A never rejoins, so B's join waits for the rebalance timeout
    // (2 s in join_req), which ends the round without A, well inside A's 10 s session.
    let b_first = resolve(c.join(join_req("", None, 10_000))).await;
    let b = resolve(c.join(join_req(&b_first.member_id, None, 10_000))).await;
    assert_eq!((b.error, b.generation_id), (0, 2));
    assert_eq!(b.leader_id, b.member_id);
    assert_eq!(b.members.len(), 1);
    assert_eq!(
        c.heartbeat("g", 1, &a.member_id, None),
        ResponseError::UnknownMemberId.code()
    );
}

#[tokio::test(start_paused = true)]
async fn an_unused_pending_member_id_expires() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let first = resolve(c.join(join_req("", None, 1_000))).await;
    assert_eq!(first.error, ResponseError::MemberIdRequired.code());
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let late = resolve(c.join(join_req(&first.member_id, None, 1_000))).await;
    assert_eq!(late.error, ResponseError::UnknownMemberId.code());
}

#[tokio::test]
async fn static_member_rejoins_without_rebalance_and_old_id_is_fenced() {
    let dir = tempfile::tempdir().unwrap();
    let c = coordinator(dir.path());
    let a = join_fully(&c, Some("i-1"), 10_000).await;
    assert_eq!(a.error, 0);
    resolve(sync(
        &c,
        1,
        &a.member_id,
        Some("i-1"),
        vec![(a.member_id.clone(), Bytes::from_static(b"P"))],
    ))
    .await;
    let again = resolve(c.join(join_req("", Some("i-1"), 10_000))).await;
    assert_eq!(again.error, 0);
    assert_eq!(again.generation_id, 1, "no new generation");
    assert_ne!(again.member_id, a.member_id);
    assert_eq!(c.describe("g").state, GroupState::Stable);
    let s = resolve(sync(&c, 1, &again.member_id, Some("i-1"), vec![])).await;
    assert_eq!(&s.assignment[..], b"P");
    assert_eq!(
        c.heartbeat("g", 1, &a.member_id, Some("i-1")),
        ResponseError::FencedInstanceId.code()
    );
    // Commits check the static member as Kafka's validateMember: an instance id the group does
    // not know is an unknown member, one now held by another member id is fenced.
    let off = CommittedOffset {
        offset: 1,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: 0,
    };
    let commit = |member: &str, instance: &str| {
        c.commit(
            "g",
            1,
            member,
            Some(instance),
            vec![("t".into(), 0, off.clone())],
            |_, _| true,
        )
    };
    assert_eq!(
        commit(&again.member_id, "i-2"),
        Err(ResponseError::UnknownMemberId.code())
    );
    assert_eq!(
        commit(&a.member_id, "i-1"),
        Err(ResponseError::FencedInstanceId.code())
    );
    assert_eq!(commit(&again.member_id, "i-1"), Ok(vec![0]));
}

#[tokio::test]
async fn simple_consumer_commits_and_offsets_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    {
        let c = coordinator(dir.path());
        let off = CommittedOffset {
            offset: 7,
            leader_epoch: -1,
            metadata: None,
            commit_timestamp_ms: 0,
        };
        assert_eq!(
            c.commit(
                "simple",
                -1,
                "",
                None,
                vec![("t".into(), 3, off)],
                |_, _| true
            )
            .unwrap(),
            vec![0]
        );
        let codes = c
            .commit(
                "simple",
                -1,
                "",
                None,
                vec![(
                    "nope".into(),
                    0,
                    CommittedOffset {
                        offset: 1,
                        leader_epoch: -1,
                        metadata: None,
                        commit_timestamp_ms: 0,
                    },
                )],
                |t, _| t == "t",
            )
            .unwrap();
        assert_eq!(codes, vec![ResponseError::UnknownTopicOrPartition.code()]);
        c.store().close().unwrap();
    }
    let c = coordinator(dir.path());
    assert_eq!(
        c.fetch_offsets("simple", None)[0].1[0]
            .1
            .as_ref()
            .unwrap()
            .offset,
        7
    );
    assert_eq!(c.list(&[], &[]).len(), 1);
    assert_eq!(
        c.list(&[], &[])[0].protocol_type,
        "",
        "a simple consumer's group has no protocol type"
    );
}

#[test]
fn an_emptied_consumer_group_stays_a_consumer_group_across_restarts() {
    let dir = tempfile::tempdir().unwrap();
    // Its own runtime, dropped before the restart: the coordinator's timer tasks hold the
    // database open until they are gone.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = coordinator(dir.path());
        let j = join_fully(&c, None, 10_000).await;
        resolve(sync(&c, 1, &j.member_id, None, vec![])).await;
        c.leave("g", &[(j.member_id.clone(), None)]).unwrap();
        assert_eq!(c.describe("g").protocol_type, "consumer");
        c.store().close().unwrap();
    });
    drop(rt);
    {
        let c = coordinator(dir.path());
        assert_eq!(
            c.list(&[], &[])
                .iter()
                .map(|l| (
                    l.group_id.as_str(),
                    l.protocol_type.as_str(),
                    l.state,
                    l.group_type
                ))
                .collect::<Vec<_>>(),
            vec![("g", "consumer", "Empty", "classic")]
        );
        assert_eq!(c.delete_group("g"), 0);
        c.store().close().unwrap();
    }
    assert!(coordinator(dir.path()).list(&[], &[]).is_empty());
}

/// Kafka's initial rebalance delay: the join phase of a group starting from Empty waits the delay
/// and, each time a member joined meanwhile, the delay again; so members arriving one after the
/// other, each within a delay of the last, all join the first generation.
#[tokio::test(start_paused = true)]
async fn the_initial_delay_extends_while_members_keep_joining() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
    let c = GroupCoordinator::open(
        store,
        GroupConfig {
            min_session_timeout_ms: 10,
            max_session_timeout_ms: 600_000,
            initial_rebalance_delay_ms: 100,
            max_metadata_bytes: 4096,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
            consumer_max_size: 1000,
            consumer_assignors: vec!["uniform".into(), "range".into()],
        },
    )
    .unwrap();
    let started = tokio::time::Instant::now();
    let mut waiting = Vec::new();
    for instance in ["a", "b", "c"] {
        let Pending::Wait(rx) = c.join(join_req("", Some(instance), 30_000)) else {
            panic!("{instance}: the join phase must wait for the initial delay");
        };
        waiting.push(rx);
        // Each arrives 80 ms after the last: within the delay, so it extends once more.
        tokio::time::sleep(Duration::from_millis(80)).await;
    }
    let mut generations = Vec::new();
    for rx in waiting {
        let r = rx.await.expect("answered");
        assert_eq!(r.error, 0);
        generations.push(r.generation_id);
    }
    assert_eq!(generations, vec![1, 1, 1], "one generation for all three");
    // Three 100 ms rounds (the first member's, then one per later arrival within it), not one.
    assert!(started.elapsed() >= Duration::from_millis(300));
}

/// Runs `f` on a coordinator over `dir` in a runtime of its own (paused time if `paused`), then
/// closes the store and drops the runtime: the coordinator's timer tasks hold the database open
/// until they are gone, so a restart needs both.
fn run_then_stop<T, F, Fut>(dir: &std::path::Path, paused: bool, f: F) -> T
where
    F: FnOnce(GroupCoordinator) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let mut builder = tokio::runtime::Builder::new_current_thread();
    builder.enable_all().start_paused(paused);
    let rt = builder.build().unwrap();
    let out = rt.block_on(async {
        let c = coordinator(dir);
        let out = f(c.clone()).await;
        c.store().close().unwrap();
        out
    });
    drop(rt);
    out
}

/// Two members reach Stable with assignments; returns (leader, follower) JoinGroup answers.
async fn stable_pair(
    c: &GroupCoordinator,
    instances: [Option<&str>; 2],
) -> (JoinResult, JoinResult) {
    let a = join_fully(c, instances[0], 10_000).await;
    resolve(sync(c, 1, &a.member_id, instances[0], vec![])).await;
    let b_join = if instances[1].is_some() {
        c.join(join_req("", instances[1], 10_000))
    } else {
        let b_first = resolve(c.join(join_req("", None, 10_000))).await;
        c.join(join_req(&b_first.member_id, None, 10_000))
    };
    let a2 = resolve(c.join(join_req(&a.member_id, instances[0], 10_000))).await;
    let b = resolve(b_join).await;
    assert_eq!((a2.generation_id, b.generation_id), (2, 2));
    let b_sync = sync(c, 2, &b.member_id, instances[1], vec![]);
    let a_sync = resolve(sync(
        c,
        2,
        &a2.member_id,
        instances[0],
        vec![
            (a2.member_id.clone(), Bytes::from_static(b"A")),
            (b.member_id.clone(), Bytes::from_static(b"B")),
        ],
    ))
    .await;
    assert!(
        a_sync.flush,
        "an assignment waits for the group record's flush"
    );
    assert_eq!(&resolve(b_sync).await.assignment[..], b"B");
    (a2, b)
}

fn offset(offset: i64) -> CommittedOffset {
    CommittedOffset {
        offset,
        leader_epoch: -1,
        metadata: None,
        commit_timestamp_ms: 0,
    }
}

/// Item 10 of issue #14: a restart is invisible to a stable group. Its members heartbeat and
/// commit with the generation they had, DescribeGroups shows them Stable with their assignments,
/// and a SyncGroup gives each its assignment again.
#[test]
fn a_stable_group_is_stable_again_after_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = run_then_stop(dir.path(), false, |c| async move {
        stable_pair(&c, [None, None]).await
    });
    run_then_stop(dir.path(), false, |c| async move {
        assert_eq!(c.heartbeat("g", 2, &a.member_id, None), 0);
        assert_eq!(c.heartbeat("g", 2, &b.member_id, None), 0);
        assert_eq!(
            c.heartbeat("g", 1, &b.member_id, None),
            ResponseError::IllegalGeneration.code()
        );
        assert_eq!(
            c.commit(
                "g",
                2,
                &b.member_id,
                None,
                vec![("t".into(), 0, offset(5))],
                |_, _| true
            ),
            Ok(vec![0])
        );
        let d = c.describe("g");
        assert_eq!(
            (d.state, d.protocol_type.as_str(), d.protocol_name.as_str()),
            (GroupState::Stable, "consumer", "range")
        );
        let members: Vec<_> = d
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.clone(),
                    m.metadata.clone(),
                    m.assignment.clone(),
                )
            })
            .collect();
        let mut expected = vec![
            (
                a.member_id.clone(),
                Bytes::from_static(b"meta"),
                Bytes::from_static(b"A"),
            ),
            (
                b.member_id.clone(),
                Bytes::from_static(b"meta"),
                Bytes::from_static(b"B"),
            ),
        ];
        expected.sort();
        assert_eq!(members, expected);
        let s = resolve(sync(&c, 2, &b.member_id, None, vec![])).await;
        assert_eq!((s.error, &s.assignment[..]), (0, &b"B"[..]));
        // A follower rejoining with its loaded subscription gets the generation again, as
        // before the restart.
        let j = resolve(c.join(join_req(&b.member_id, None, 10_000))).await;
        assert_eq!((j.error, j.generation_id), (0, 2));
        assert_eq!(c.describe("g").state, GroupState::Stable);
    });
}

/// A member that does not come back after the restart is removed once its session timeout
/// passes (counted from the restart), and the members that did come back rebalance without it.
#[test]
fn a_member_that_never_comes_back_is_removed_after_its_session_timeout() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = run_then_stop(dir.path(), false, |c| async move {
        stable_pair(&c, [None, None]).await
    });
    run_then_stop(dir.path(), true, |c| async move {
        // Within the 10 s session timeout both are members; only A heartbeats.
        for _ in 0..4 {
            tokio::time::sleep(Duration::from_secs(3)).await;
            let code = c.heartbeat("g", 2, &a.member_id, None);
            if code != 0 {
                assert_eq!(code, ResponseError::RebalanceInProgress.code());
                break;
            }
        }
        assert_eq!(
            c.heartbeat("g", 2, &b.member_id, None),
            ResponseError::UnknownMemberId.code()
        );
        assert_eq!(c.describe("g").state, GroupState::PreparingRebalance);
        let a3 = resolve(c.join(join_req(&a.member_id, None, 10_000))).await;
        assert_eq!((a3.error, a3.generation_id, a3.members.len()), (0, 3, 1));
    });
}

/// A group that emptied before the restart is Empty after it, with its generation, and none of
/// its former members.
#[test]
fn an_emptied_group_stays_empty_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = run_then_stop(dir.path(), false, |c| async move {
        let (a, b) = stable_pair(&c, [None, None]).await;
        c.leave(
            "g",
            &[(a.member_id.clone(), None), (b.member_id.clone(), None)],
        )
        .unwrap();
        assert_eq!(c.describe("g").state, GroupState::Empty);
        (a, b)
    });
    run_then_stop(dir.path(), false, |c| async move {
        let d = c.describe("g");
        assert_eq!(
            (d.state, d.protocol_type.as_str()),
            (GroupState::Empty, "consumer")
        );
        assert!(d.members.is_empty());
        for m in [&a, &b] {
            assert_eq!(
                c.heartbeat("g", 2, &m.member_id, None),
                ResponseError::UnknownMemberId.code()
            );
        }
        // The next generation follows the stored one.
        let j = join_fully(&c, None, 10_000).await;
        assert_eq!(j.generation_id, 4);
    });
}

/// A deleted group stays deleted: its record goes with it.
#[test]
fn a_deleted_group_does_not_come_back() {
    let dir = tempfile::tempdir().unwrap();
    run_then_stop(dir.path(), false, |c| async move {
        let j = join_fully(&c, None, 10_000).await;
        resolve(sync(&c, 1, &j.member_id, None, vec![])).await;
        c.leave("g", &[(j.member_id.clone(), None)]).unwrap();
        assert_eq!(c.delete_group("g"), 0);
    });
    run_then_stop(dir.path(), false, |c| async move {
        assert!(c.list(&[], &[]).is_empty());
        assert!(c.store().load_group_records().unwrap().is_empty());
    });
}

/// Static members keep their instance id → member id mapping: after a restart the member id
/// they use is recognised, and one coming back with a new member id (it restarted too) takes
/// its assignment back without a rebalance while the old id is fenced.
#[test]
fn static_members_keep_their_instance_ids_across_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let (a, b) = run_then_stop(dir.path(), false, |c| async move {
        stable_pair(&c, [Some("i-a"), Some("i-b")]).await
    });
    let a_new = run_then_stop(dir.path(), false, |c| async move {
        assert_eq!(c.heartbeat("g", 2, &b.member_id, Some("i-b")), 0);
        let again = resolve(c.join(join_req("", Some("i-a"), 10_000))).await;
        assert_eq!((again.error, again.generation_id), (0, 2));
        assert!(
            again.flush,
            "the new member id waits for the group record's flush"
        );
        assert_eq!(c.describe("g").state, GroupState::Stable);
        assert_eq!(
            c.heartbeat("g", 2, &a.member_id, Some("i-a")),
            ResponseError::FencedInstanceId.code()
        );
        again
    });
    // The replacement was stored: after another restart the new id is the member.
    run_then_stop(dir.path(), false, |c| async move {
        assert_eq!(c.heartbeat("g", 2, &a_new.member_id, Some("i-a")), 0);
        let s = resolve(sync(&c, 2, &a_new.member_id, Some("i-a"), vec![])).await;
        assert_eq!(&s.assignment[..], b"A");
    });
}

/// A loaded member knows only the protocol the group chose (as in Kafka). A static member that
/// comes back after the restart with every protocol it supports still takes its assignment back
/// without a rebalance: as Kafka, what counts is whether the group would select another protocol.
#[test]
fn a_static_member_with_more_protocols_than_were_stored_rejoins_without_rebalance() {
    let dir = tempfile::tempdir().unwrap();
    let (a, _b) = run_then_stop(dir.path(), false, |c| async move {
        stable_pair(&c, [Some("i-a"), Some("i-b")]).await
    });
    run_then_stop(dir.path(), false, |c| async move {
        let mut req = join_req("", Some("i-a"), 10_000);
        req.protocols
            .push(("roundrobin".into(), Bytes::from_static(b"meta")));
        let again = resolve(c.join(req)).await;
        assert_eq!((again.error, again.generation_id), (0, 2));
        assert_ne!(again.member_id, a.member_id);
        assert_eq!(c.describe("g").state, GroupState::Stable);
        let s = resolve(sync(&c, 2, &again.member_id, Some("i-a"), vec![])).await;
        assert_eq!((s.error, &s.assignment[..]), (0, &b"A"[..]));
        // Dropping the chosen protocol, the only one the other member has, is refused.
        let mut req = join_req("", Some("i-a"), 10_000);
        req.protocols = vec![("roundrobin".into(), Bytes::from_static(b"meta"))];
        let Pending::Ready(refused) = c.join(req) else {
            panic!("refused at once");
        };
        assert_eq!(
            refused.error,
            ResponseError::InconsistentGroupProtocol.code()
        );
    });
}
