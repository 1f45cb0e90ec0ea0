//! Share groups (KIP-932), membership side: ShareGroupHeartbeat (join, assignment, leave, fencing,
//! session expiry, the group size limit), ShareGroupDescribe, share groups in ListGroups /
//! DescribeGroups / DeleteGroups, and group configs (GROUP config resources, type 32), on the raw
//! protocol. Run against Apache Kafka 4.4 too.
//!
//! Kafka assigns a share partition only once its share state is initialized, which happens after
//! the heartbeat that first subscribed to it: the first answers may carry an empty assignment. The
//! tests therefore heartbeat (bounded) until the assignment they expect arrives, as a client does.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use compat_tests::raw::{str_bytes, RawConn};
use compat_tests::{create_topic, unique_topic, wait_until, Broker};
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::*;
use uuid::Uuid;

const GROUP_RESOURCE: i8 = 32;
const WAIT: Duration = Duration::from_secs(30);

const INVALID_REQUEST: i16 = 42;
const UNKNOWN_MEMBER_ID: i16 = 25;
const FENCED_MEMBER_EPOCH: i16 = 110;
const GROUP_MAX_SIZE_REACHED: i16 = 81;
const GROUP_ID_NOT_FOUND: i16 = 69;
const NON_EMPTY_GROUP: i16 = 68;
const INVALID_CONFIG: i16 = 40;

/// One share consumer's membership, driven by hand.
struct Member {
    id: String,
    epoch: i32,
    /// The assignment as last received: topic id -> partitions.
    assignment: BTreeMap<Uuid, BTreeSet<i32>>,
}

impl Member {
    fn new() -> Member {
        Member {
            id: unique_topic("member"),
            epoch: 0,
            assignment: BTreeMap::new(),
        }
    }

    fn partitions(&self) -> usize {
        self.assignment.values().map(BTreeSet::len).sum()
    }
}

fn heartbeat_request(
    group: &str,
    member: &str,
    epoch: i32,
    topics: Option<&[&str]>,
) -> ShareGroupHeartbeatRequest {
    ShareGroupHeartbeatRequest::default()
        .with_group_id(GroupId(str_bytes(group)))
        .with_member_id(str_bytes(member))
        .with_member_epoch(epoch)
        .with_subscribed_topic_names(
            topics.map(|ts| ts.iter().map(|t| TopicName(str_bytes(t))).collect()),
        )
}

/// One heartbeat of `m` (a join while its epoch is 0), applying the answer to it.
fn beat(
    conn: &mut RawConn,
    group: &str,
    m: &mut Member,
    topics: &[&str],
) -> ShareGroupHeartbeatResponse {
    let subs = (m.epoch == 0).then_some(topics);
    let r = conn.request(1, &heartbeat_request(group, &m.id, m.epoch, subs));
    if r.error_code == 0 {
        assert_eq!(r.member_id.as_deref(), Some(m.id.as_str()));
        assert!(r.heartbeat_interval_ms > 0, "{r:?}");
        m.epoch = r.member_epoch;
        if let Some(a) = &r.assignment {
            m.assignment = a
                .topic_partitions
                .iter()
                .map(|tp| (tp.topic_id, tp.partitions.iter().copied().collect()))
                .collect();
        }
    }
    r
}

/// Heartbeats every member in turn until `done` holds (bounded).
fn settle(
    conn: &mut RawConn,
    group: &str,
    members: &mut [&mut Member],
    topics: &[&str],
    done: impl Fn(&[&mut Member]) -> bool,
) {
    let settled = wait_until(WAIT, || {
        for m in members.iter_mut() {
            let r = beat(conn, group, m, topics);
            assert_eq!(r.error_code, 0, "heartbeat failed: {r:?}");
        }
        done(members)
    });
    let state: Vec<_> = members
        .iter()
        .map(|m| (&m.id, m.epoch, &m.assignment))
        .collect();
    assert!(settled, "the group did not settle: {state:?}");
}

fn owners(members: &[&mut Member]) -> BTreeMap<(Uuid, i32), usize> {
    let mut o = BTreeMap::new();
    for m in members {
        for (t, ps) in &m.assignment {
            for p in ps {
                *o.entry((*t, *p)).or_default() += 1;
            }
        }
    }
    o
}

fn describe(conn: &mut RawConn, group: &str) -> share_group_describe_response::DescribedGroup {
    let r = conn.request(
        1,
        &ShareGroupDescribeRequest::default().with_group_ids(vec![GroupId(str_bytes(group))]),
    );
    assert_eq!(r.groups.len(), 1);
    r.groups.into_iter().next().unwrap()
}

#[test]
fn members_join_share_partitions_and_leave() {
    let broker = Broker::start();
    let topic = unique_topic("share-join");
    create_topic(&broker.bootstrap(), &topic, 2);
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("sg");
    let t = [topic.as_str()];

    // One member gets every partition.
    let mut a = Member::new();
    settle(&mut conn, &group, &mut [&mut a], &t, |ms| {
        ms[0].partitions() == 2
    });
    assert!(a.epoch > 0);

    // A second one: one partition each (two partitions, two members), none shared.
    let mut b = Member::new();
    settle(&mut conn, &group, &mut [&mut a, &mut b], &t, |ms| {
        ms.iter().all(|m| m.partitions() == 1) && owners(ms).len() == 2
    });
    assert_eq!(
        a.epoch, b.epoch,
        "both reconciled to the group's assignment epoch"
    );

    // A third: more members than partitions. Kafka gives each partition to ceil(3 / 2) = 2
    // members, so one member has both: every member has one, every partition two.
    let mut c = Member::new();
    settle(&mut conn, &group, &mut [&mut a, &mut b, &mut c], &t, |ms| {
        ms.iter().all(|m| m.partitions() >= 1)
            && owners(ms).len() == 2
            && owners(ms).values().all(|&n| n == 2)
    });

    // Leaving answers epoch -1; the others take over.
    let r = conn.request(1, &heartbeat_request(&group, &c.id, -1, None));
    assert_eq!((r.error_code, r.member_epoch), (0, -1), "{r:?}");
    let r = conn.request(1, &heartbeat_request(&group, &b.id, -1, None));
    assert_eq!((r.error_code, r.member_epoch), (0, -1), "{r:?}");
    settle(&mut conn, &group, &mut [&mut a], &t, |ms| {
        ms[0].partitions() == 2
    });
    let d = describe(&mut conn, &group);
    assert_eq!(d.members.len(), 1);
    assert_eq!(d.members[0].member_id.as_str(), a.id);
}

#[test]
fn heartbeat_errors_are_kafkas() {
    let broker = Broker::start_with("group_share_max_size: 2\n");
    let topic = unique_topic("share-err");
    create_topic(&broker.bootstrap(), &topic, 1);
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("sg");
    let t = [topic.as_str()];

    // Malformed requests.
    let r = conn.request(1, &heartbeat_request(&group, "", 0, Some(&t)));
    assert_eq!(r.error_code, INVALID_REQUEST, "empty member id: {r:?}");
    let r = conn.request(1, &heartbeat_request(&group, "m", 0, None));
    assert_eq!(
        r.error_code, INVALID_REQUEST,
        "a join without topics: {r:?}"
    );
    let r = conn.request(1, &heartbeat_request(&group, "m", -2, None));
    assert_eq!(r.error_code, INVALID_REQUEST, "epoch -2: {r:?}");

    let mut a = Member::new();
    assert_eq!(beat(&mut conn, &group, &mut a, &t).error_code, 0);
    assert!(a.epoch > 0);
    // A member the group does not know.
    let r = conn.request(1, &heartbeat_request(&group, "stranger", a.epoch, None));
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID, "{r:?}");
    // An epoch the member never had.
    let r = conn.request(1, &heartbeat_request(&group, &a.id, a.epoch + 5, None));
    assert_eq!(r.error_code, FENCED_MEMBER_EPOCH, "{r:?}");
    // The group's size limit.
    let mut b = Member::new();
    assert_eq!(beat(&mut conn, &group, &mut b, &t).error_code, 0);
    let mut c = Member::new();
    let r = beat(&mut conn, &group, &mut c, &t);
    assert_eq!(r.error_code, GROUP_MAX_SIZE_REACHED, "{r:?}");
    // The fenced and refused members did not disturb the others.
    assert_eq!(beat(&mut conn, &group, &mut a, &t).error_code, 0);
    assert_eq!(describe(&mut conn, &group).members.len(), 2);
    // Leaving as a member the group does not know.
    let r = conn.request(1, &heartbeat_request(&group, "stranger", -1, None));
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID, "{r:?}");
    // A member that joins again (epoch 0) with its id is taken back, with the group's epoch.
    let r = conn.request(1, &heartbeat_request(&group, &a.id, 0, Some(&t)));
    assert_eq!(r.error_code, 0, "{r:?}");
    assert!(r.member_epoch >= a.epoch, "{r:?}");
    assert_eq!(describe(&mut conn, &group).members.len(), 2);
    // A heartbeat for a group that does not exist.
    let r = conn.request(1, &heartbeat_request("no-such-share-group", "m", 3, None));
    assert_eq!(
        (r.error_code, r.error_message.as_deref()),
        (
            GROUP_ID_NOT_FOUND,
            Some("Share group no-such-share-group not found.")
        ),
        "{r:?}"
    );
}

#[test]
fn a_silent_member_is_removed_after_its_session_timeout() {
    let broker = Broker::start_with(
        "group_share_session_timeout_ms: 2000\ngroup_share_min_session_timeout_ms: 1000\n\
         group_share_heartbeat_interval_ms: 500\ngroup_share_min_heartbeat_interval_ms: 100\n",
    );
    let topic = unique_topic("share-expiry");
    create_topic(&broker.bootstrap(), &topic, 2);
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("sg");
    let t = [topic.as_str()];
    let mut a = Member::new();
    let mut b = Member::new();
    settle(&mut conn, &group, &mut [&mut a, &mut b], &t, |ms| {
        ms.iter().all(|m| m.partitions() == 1)
    });
    // b goes silent; a keeps heartbeating and gets b's partition once b's session ends.
    settle(&mut conn, &group, &mut [&mut a], &t, |ms| {
        ms[0].partitions() == 2
    });
    let d = describe(&mut conn, &group);
    let ids: Vec<_> = d.members.iter().map(|m| m.member_id.to_string()).collect();
    assert_eq!(ids, vec![a.id.clone()]);
    // b's next heartbeat finds it gone.
    let r = conn.request(1, &heartbeat_request(&group, &b.id, b.epoch, None));
    assert_eq!(r.error_code, UNKNOWN_MEMBER_ID, "{r:?}");
}

#[test]
fn describe_list_and_delete() {
    let mut broker = Broker::start_own();
    let topic = unique_topic("share-admin");
    create_topic(&broker.bootstrap(), &topic, 2);
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("sg");
    let t = [topic.as_str()];
    let mut a = Member::new();
    settle(&mut conn, &group, &mut [&mut a], &t, |ms| {
        ms[0].partitions() == 2
    });

    let d = describe(&mut conn, &group);
    assert_eq!(d.error_code, 0, "{d:?}");
    assert_eq!(d.group_state.as_str(), "Stable");
    assert_eq!(d.assignor_name.as_str(), "simple");
    assert_eq!((d.group_epoch, d.assignment_epoch), (a.epoch, a.epoch));
    let m = &d.members[0];
    assert_eq!(
        (m.member_id.as_str(), m.member_epoch),
        (a.id.as_str(), a.epoch)
    );
    assert_eq!(
        m.subscribed_topic_names
            .iter()
            .map(|n| n.as_str())
            .collect::<Vec<_>>(),
        t
    );
    assert_eq!(m.assignment.topic_partitions.len(), 1);
    assert_eq!(m.assignment.topic_partitions[0].topic_name.as_str(), topic);
    assert_eq!(m.assignment.topic_partitions[0].partitions.len(), 2);

    let missing = describe(&mut conn, "no-such-share-group");
    assert_eq!(missing.error_code, GROUP_ID_NOT_FOUND, "{missing:?}");

    // ListGroups v5: type "share", state, filterable by both.
    let list = |conn: &mut RawConn,
                types: &[&str],
                states: &[&str]|
     -> Vec<(String, String, String, String)> {
        let r = conn.request(
            5,
            &ListGroupsRequest::default()
                .with_types_filter(types.iter().map(|t| str_bytes(t)).collect())
                .with_states_filter(states.iter().map(|s| str_bytes(s)).collect()),
        );
        assert_eq!(r.error_code, 0);
        r.groups
            .into_iter()
            .filter(|g| g.group_id.as_str() == group)
            .map(|g| {
                (
                    g.group_id.to_string(),
                    g.protocol_type.to_string(),
                    g.group_state.to_string(),
                    g.group_type.to_string(),
                )
            })
            .collect()
    };
    let row = (
        group.clone(),
        "share".to_string(),
        "Stable".to_string(),
        "share".to_string(),
    );
    assert_eq!(list(&mut conn, &[], &[]), vec![row.clone()]);
    assert_eq!(list(&mut conn, &["share"], &["Stable"]), vec![row]);
    assert!(list(&mut conn, &["classic"], &[]).is_empty());
    assert!(list(&mut conn, &[], &["Empty"]).is_empty());

    // DeleteGroups refuses a group with members.
    let delete = |conn: &mut RawConn| -> i16 {
        let r = conn.request(
            2,
            &DeleteGroupsRequest::default().with_groups_names(vec![GroupId(str_bytes(&group))]),
        );
        r.results[0].error_code
    };
    assert_eq!(delete(&mut conn), NON_EMPTY_GROUP);

    // A restart keeps the group as it was: the member goes on with its epoch and assignment.
    broker.restart();
    let mut conn = RawConn::connect(broker.addr());
    let before = (a.epoch, a.assignment.clone());
    let settled = wait_until(WAIT, || beat(&mut conn, &group, &mut a, &t).error_code == 0);
    assert!(settled, "the member's heartbeat after the restart failed");
    assert_eq!((a.epoch, a.assignment.clone()), before);

    let r = conn.request(1, &heartbeat_request(&group, &a.id, -1, None));
    assert_eq!(r.error_code, 0);
    let d = describe(&mut conn, &group);
    assert_eq!((d.group_state.as_str(), d.members.len()), ("Empty", 0));
    let empty = (
        group.clone(),
        "share".to_string(),
        "Empty".to_string(),
        "share".to_string(),
    );
    assert_eq!(list(&mut conn, &[], &["empty"]), vec![empty]);
    assert_eq!(delete(&mut conn), 0);
    assert_eq!(describe(&mut conn, &group).error_code, GROUP_ID_NOT_FOUND);
    assert!(list(&mut conn, &[], &[]).is_empty());
    assert_eq!(delete(&mut conn), GROUP_ID_NOT_FOUND);
}

/// DescribeGroups (the classic API) up to v5 on a share group: Kafka 4.4 describes it as no
/// classic group at all, Dead with nothing else.
#[test]
fn describe_groups_on_a_share_group() {
    let broker = Broker::start();
    let topic = unique_topic("share-dg");
    create_topic(&broker.bootstrap(), &topic, 1);
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("sg");
    let mut a = Member::new();
    assert_eq!(
        beat(&mut conn, &group, &mut a, &[topic.as_str()]).error_code,
        0
    );
    let r = conn.request(
        5,
        &DescribeGroupsRequest::default().with_groups(vec![GroupId(str_bytes(&group))]),
    );
    let g = &r.groups[0];
    assert_eq!(
        (
            g.error_code,
            g.group_state.as_str(),
            g.protocol_type.as_str(),
            g.members.len()
        ),
        (0, "Dead", "", 0),
        "{g:?}"
    );
}

fn alter(
    conn: &mut RawConn,
    group: &str,
    configs: &[(&str, Option<&str>)],
    validate_only: bool,
) -> (i16, Option<String>) {
    let r = conn.request(
        1,
        &IncrementalAlterConfigsRequest::default()
            .with_validate_only(validate_only)
            .with_resources(vec![AlterConfigsResource::default()
                .with_resource_type(GROUP_RESOURCE)
                .with_resource_name(str_bytes(group))
                .with_configs(
                    configs
                        .iter()
                        .map(|(k, v)| {
                            AlterableConfig::default()
                                .with_name(str_bytes(k))
                                .with_config_operation(if v.is_some() { 0 } else { 1 })
                                .with_value(v.map(str_bytes))
                        })
                        .collect(),
                )]),
    );
    let res = &r.responses[0];
    assert_eq!(
        (res.resource_type, res.resource_name.as_str()),
        (GROUP_RESOURCE, group)
    );
    (
        res.error_code,
        res.error_message.as_ref().map(|m| m.to_string()),
    )
}

/// (value, source) of each named config of a group.
fn describe_configs(conn: &mut RawConn, group: &str) -> BTreeMap<String, (Option<String>, i8)> {
    let r = conn.request(
        4,
        &DescribeConfigsRequest::default().with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(GROUP_RESOURCE)
            .with_resource_name(str_bytes(group))]),
    );
    let res = &r.results[0];
    assert_eq!(res.error_code, 0, "{res:?}");
    res.configs
        .iter()
        .map(|c| {
            (
                c.name.to_string(),
                (c.value.as_ref().map(|v| v.to_string()), c.config_source),
            )
        })
        .collect()
}

#[test]
fn group_configs_round_trip_validate_and_survive_a_restart() {
    let mut broker = Broker::start_own();
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("cfg-group");

    let before = describe_configs(&mut conn, &group);
    for name in [
        "share.auto.offset.reset",
        "share.record.lock.duration.ms",
        "share.delivery.count.limit",
        "share.session.timeout.ms",
        "share.heartbeat.interval.ms",
        "share.isolation.level",
        "consumer.session.timeout.ms",
        "consumer.heartbeat.interval.ms",
    ] {
        assert!(
            before.contains_key(name),
            "{name} not described: {before:?}"
        );
    }
    assert_eq!(
        before["share.auto.offset.reset"],
        (Some("latest".into()), 5)
    );
    assert_eq!(before["share.delivery.count.limit"], (Some("5".into()), 5));

    // validate_only changes nothing.
    assert_eq!(
        alter(
            &mut conn,
            &group,
            &[("share.auto.offset.reset", Some("earliest"))],
            true
        )
        .0,
        0
    );
    assert_eq!(
        describe_configs(&mut conn, &group)["share.auto.offset.reset"]
            .0
            .as_deref(),
        Some("latest")
    );

    let set = [
        ("share.auto.offset.reset", Some("earliest")),
        ("share.delivery.count.limit", Some("3")),
        ("share.record.lock.duration.ms", Some("20000")),
    ];
    assert_eq!(alter(&mut conn, &group, &set, false), (0, None));
    let after = describe_configs(&mut conn, &group);
    assert_eq!(
        after["share.auto.offset.reset"],
        (Some("earliest".into()), 8)
    );
    assert_eq!(after["share.delivery.count.limit"], (Some("3".into()), 8));

    // Kafka's validation: ranges from the broker's settings, types, names, enumerations.
    for (name, value, message) in [
        ("share.session.timeout.ms", "1000", "share.session.timeout.ms must be in the range 45000 to 60000 inclusive."),
        ("share.delivery.count.limit", "20", "share.delivery.count.limit must be in the range 2 to 10 inclusive."),
        ("share.heartbeat.interval.ms", "abc", "Invalid value abc for configuration share.heartbeat.interval.ms: Not a number of type INT"),
        ("no.such.config", "1", "Unknown group config name: no.such.config"),
        ("share.isolation.level", "READ_COMMITTED", "Invalid value READ_COMMITTED for configuration share.isolation.level: String must be one of: read_committed, read_uncommitted"),
    ] {
        let (code, m) = alter(&mut conn, &group, &[(name, Some(value))], false);
        assert_eq!((code, m.as_deref()), (INVALID_CONFIG, Some(message)), "{name}={value}");
    }
    let (code, m) = alter(
        &mut conn,
        &group,
        &[("share.auto.offset.reset", Some("bogus"))],
        false,
    );
    assert_eq!(code, INVALID_CONFIG, "{m:?}");

    // A refused change leaves the others as they were; DELETE goes back to the default.
    assert_eq!(
        alter(
            &mut conn,
            &group,
            &[("share.delivery.count.limit", None)],
            false
        )
        .0,
        0
    );
    broker.restart();
    let mut conn = RawConn::connect(broker.addr());
    let reopened = describe_configs(&mut conn, &group);
    assert_eq!(
        reopened["share.auto.offset.reset"],
        (Some("earliest".into()), 8)
    );
    assert_eq!(
        reopened["share.record.lock.duration.ms"],
        (Some("20000".into()), 8)
    );
    assert_eq!(
        reopened["share.delivery.count.limit"],
        (Some("5".into()), 5)
    );
}

/// A share group may not take a classic group's id: Kafka answers GROUP_ID_NOT_FOUND ("Group .. is
/// not a share group."), and ShareGroupDescribe says the same.
#[test]
fn a_classic_groups_id_is_not_a_share_group() {
    let broker = Broker::start();
    let topic = unique_topic("share-classic");
    create_topic(&broker.bootstrap(), &topic, 1);
    let mut conn = RawConn::connect(broker.addr());
    let group = unique_topic("classic");
    // A committed offset makes the (empty) classic group.
    let commit = OffsetCommitRequest::default()
        .with_group_id(GroupId(str_bytes(&group)))
        .with_generation_id_or_member_epoch(-1)
        .with_member_id(str_bytes(""))
        .with_topics(vec![
            offset_commit_request::OffsetCommitRequestTopic::default()
                .with_name(TopicName(str_bytes(&topic)))
                .with_partitions(vec![
                    offset_commit_request::OffsetCommitRequestPartition::default()
                        .with_partition_index(0)
                        .with_committed_offset(0),
                ]),
        ]);
    let r = conn.request(8, &commit);
    assert_eq!(r.topics[0].partitions[0].error_code, 0, "{r:?}");
    let mut a = Member::new();
    let r = beat(&mut conn, &group, &mut a, &[topic.as_str()]);
    assert_eq!(r.error_code, GROUP_ID_NOT_FOUND, "{r:?}");
    let d = describe(&mut conn, &group);
    assert_eq!(d.error_code, GROUP_ID_NOT_FOUND, "{d:?}");
    assert_eq!(
        d.error_message.as_deref(),
        Some(format!("Group {group} is not a share group.").as_str())
    );
}
