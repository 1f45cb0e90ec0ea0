//! The share-group coordinator's unit tests: membership, epochs, fencing, limits, expiry,
//! persistence and the listener seam.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use super::*;
use crate::config::Config;

struct Fixture {
    _dir: tempfile::TempDir,
    store: Store,
    config: Config,
    coordinator: ShareGroupCoordinator,
    topics: BTreeMap<String, (Uuid, i32)>,
}

impl Fixture {
    fn new(config: Config) -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let configs = Arc::new(GroupConfigs::open(store.clone(), config.clone()).unwrap());
        let max = config.group_share_max_size as usize;
        let coordinator = ShareGroupCoordinator::open(store.clone(), configs, max).unwrap();
        Fixture {
            _dir: dir,
            store,
            config,
            coordinator,
            topics: BTreeMap::from([("t".to_string(), (Uuid::from_u128(1), 2))]),
        }
    }

    fn beat(
        &self,
        member: &str,
        epoch: i32,
        topics: Option<&[&str]>,
    ) -> Result<HeartbeatAnswer, ShareGroupError> {
        let lookup = |name: &str| self.topics.get(name).copied();
        self.coordinator.heartbeat(
            Heartbeat {
                group_id: "g".into(),
                member_id: member.into(),
                member_epoch: epoch,
                rack_id: None,
                subscribed_topic_names: topics.map(|ts| ts.iter().map(|t| t.to_string()).collect()),
                client_id: "c".into(),
                client_host: "/127.0.0.1".into(),
            },
            &lookup,
        )
    }

    fn reopen(&mut self) {
        let configs =
            Arc::new(GroupConfigs::open(self.store.clone(), self.config.clone()).unwrap());
        self.coordinator = ShareGroupCoordinator::open(self.store.clone(), configs, 200).unwrap();
    }
}

fn count(a: &Option<Assignment>) -> usize {
    a.as_ref().map_or(0, |a| a.values().map(|p| p.len()).sum())
}

#[derive(Default)]
struct Recorder(Mutex<Vec<String>>);

impl ShareGroupListener for Recorder {
    fn member_left(&self, group: &str, member: &str) {
        self.0
            .lock()
            .unwrap()
            .push(format!("left {group} {member}"));
    }
    fn group_deleted(&self, group: &str) {
        self.0.lock().unwrap().push(format!("deleted {group}"));
    }
}

#[tokio::test]
async fn join_heartbeat_rebalance_and_leave() {
    let f = Fixture::new(Config::default());
    let rec = Arc::new(Recorder::default());
    f.coordinator.add_listener(rec.clone());
    let a = f.beat("a", 0, Some(&["t"])).unwrap();
    // A new group starts at epoch 1, as Kafka's: its first member gets 2.
    let first = (
        a.member_epoch,
        count(&a.assignment),
        a.heartbeat_interval_ms,
    );
    assert_eq!(first, (2, 2, 5000));
    assert!(a.flush);
    // A steady heartbeat changes nothing, carries no assignment, needs no flush.
    let again = f.beat("a", 2, None).unwrap();
    let steady = (again.member_epoch, again.assignment.is_none(), again.flush);
    assert_eq!(steady, (2, true, false));
    let b = f.beat("b", 0, Some(&["t"])).unwrap();
    assert_eq!((b.member_epoch, count(&b.assignment)), (3, 1));
    // a reconciles to epoch 3 and gives up one partition.
    let a2 = f.beat("a", 2, None).unwrap();
    assert_eq!((a2.member_epoch, count(&a2.assignment)), (3, 1));
    // The previous epoch is still accepted; anything else is fenced.
    assert!(f.beat("a", 2, None).is_ok());
    for fenced in [1, 4] {
        let r = f.beat("a", fenced, None);
        assert!(
            matches!(r, Err(ShareGroupError::FencedMemberEpoch(_))),
            "{r:?}"
        );
    }
    let r = f.beat("a", 0, None);
    assert!(matches!(r, Err(ShareGroupError::InvalidRequest(_))));
    // Leaving.
    let left = f.beat("b", -1, None).unwrap();
    assert_eq!(left.member_epoch, -1);
    assert_eq!(*rec.0.lock().unwrap(), vec!["left g b".to_string()]);
    let a3 = f.beat("a", 3, None).unwrap();
    assert_eq!((a3.member_epoch, count(&a3.assignment)), (4, 2));
    let r = f.beat("b", 3, None);
    assert!(matches!(r, Err(ShareGroupError::UnknownMemberId(_))));
    assert!(matches!(
        f.beat("b", -1, None),
        Err(ShareGroupError::UnknownMemberId(_))
    ));
}

#[tokio::test]
async fn topic_changes_reach_the_next_heartbeat() {
    let mut f = Fixture::new(Config::default());
    let a = f.beat("a", 0, Some(&["t", "later"])).unwrap();
    assert_eq!(count(&a.assignment), 2);
    // More partitions, and a subscribed topic that now exists.
    f.topics.insert("t".into(), (Uuid::from_u128(1), 3));
    f.topics.insert("later".into(), (Uuid::from_u128(2), 1));
    let a2 = f.beat("a", a.member_epoch, None).unwrap();
    assert_eq!(
        (a2.member_epoch, count(&a2.assignment)),
        (a.member_epoch + 1, 4)
    );
    // Deleted.
    f.topics.remove("t");
    let a3 = f.beat("a", a2.member_epoch, None).unwrap();
    assert_eq!(count(&a3.assignment), 1);
}

#[tokio::test]
async fn the_size_limit_and_other_group_types() {
    let f = Fixture::new(Config::default());
    let small = ShareGroupCoordinator {
        shared: Arc::new(Shared {
            groups: Mutex::new(HashMap::new()),
            store: f.store.clone(),
            configs: Arc::new(GroupConfigs::open(f.store.clone(), Config::default()).unwrap()),
            max_size: 1,
            listeners: RwLock::new(Vec::new()),
            other_groups: RwLock::new(None),
        }),
    };
    let lookup = |name: &str| f.topics.get(name).copied();
    let hb = |member: &str, group: &str| Heartbeat {
        group_id: group.into(),
        member_id: member.into(),
        member_epoch: 0,
        rack_id: None,
        subscribed_topic_names: Some(vec!["t".into()]),
        client_id: "c".into(),
        client_host: "h".into(),
    };
    small.heartbeat(hb("a", "g"), &lookup).unwrap();
    assert!(matches!(
        small.heartbeat(hb("b", "g"), &lookup),
        Err(ShareGroupError::GroupMaxSizeReached(_))
    ));
    small.set_other_groups(Arc::new(|id: &str| {
        (id == "classic-one").then_some("classic")
    }));
    assert_eq!(
        small.heartbeat(hb("a", "classic-one"), &lookup),
        Err(ShareGroupError::GroupIdNotFound(
            "Group classic-one is not a share group.".into()
        ))
    );
    assert!(small.has_group("g"));
    assert!(!small.has_group("classic-one"));
}

#[tokio::test]
async fn a_restart_keeps_the_group_and_deletion_needs_it_empty() {
    let mut f = Fixture::new(Config::default());
    let a = f.beat("a", 0, Some(&["t"])).unwrap();
    let b = f.beat("b", 0, Some(&["t"])).unwrap();
    let a = f.beat("a", a.member_epoch, None).unwrap();
    f.reopen();
    // Both go on with their epochs; nothing changed for them.
    let a2 = f.beat("a", a.member_epoch, None).unwrap();
    assert_eq!(
        (a2.member_epoch, a2.assignment, a2.flush),
        (a.member_epoch, None, false)
    );
    let b2 = f.beat("b", b.member_epoch, None).unwrap();
    assert_eq!((b2.member_epoch, b2.assignment), (b.member_epoch, None));
    let lookup = |name: &str| f.topics.get(name).copied();
    let d = f.coordinator.describe("g", &lookup).unwrap();
    assert_eq!((d.state, d.members.len()), (ShareGroupState::Stable, 2));

    let rec = Arc::new(Recorder::default());
    f.coordinator.add_listener(rec.clone());
    assert!(matches!(
        f.coordinator.delete_group("g"),
        Some(Err(ShareGroupError::NonEmptyGroup(_)))
    ));
    f.beat("a", a.member_epoch, None).unwrap();
    f.beat("a", -1, None).unwrap();
    f.beat("b", -1, None).unwrap();
    assert_eq!(
        f.coordinator.list(&[]),
        vec![("g".to_string(), ShareGroupState::Empty)]
    );
    assert!(f.coordinator.list(&["Stable".into()]).is_empty());
    assert_eq!(f.coordinator.delete_group("g"), Some(Ok(())));
    assert_eq!(f.coordinator.delete_group("g"), None);
    assert!(rec.0.lock().unwrap().contains(&"deleted g".to_string()));
    f.reopen();
    assert!(!f.coordinator.has_group("g"));
}

#[tokio::test(start_paused = true)]
async fn a_silent_member_expires_and_its_partitions_move() {
    let f = Fixture::new(Config::default());
    let rec = Arc::new(Recorder::default());
    f.coordinator.add_listener(rec.clone());
    let a = f.beat("a", 0, Some(&["t"])).unwrap();
    f.beat("b", 0, Some(&["t"])).unwrap();
    let mut epoch = f.beat("a", a.member_epoch, None).unwrap().member_epoch;
    // a heartbeats every 5 s; b is silent past its 45 s session.
    for _ in 0..12 {
        tokio::time::sleep(Duration::from_secs(5)).await;
        epoch = f.beat("a", epoch, None).unwrap().member_epoch;
    }
    assert_eq!(*rec.0.lock().unwrap(), vec!["left g b".to_string()]);
    let lookup = |name: &str| f.topics.get(name).copied();
    let d = f.coordinator.describe("g", &lookup).unwrap();
    assert_eq!(d.members.len(), 1);
    assert_eq!(
        d.members[0]
            .assignment
            .values()
            .map(|p| p.len())
            .sum::<usize>(),
        2
    );
}

#[tokio::test(start_paused = true)]
async fn a_member_that_leaves_and_rejoins_keeps_one_session_timer() {
    let f = Fixture::new(Config::default());
    let before = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    for _ in 0..50 {
        f.beat("a", 0, Some(&["t"])).unwrap();
        f.beat("a", -1, None).unwrap();
        f.beat("a", 0, Some(&["t"])).unwrap();
        // Let aborted timers finish.
        tokio::time::sleep(Duration::from_millis(1)).await;
        tokio::task::yield_now().await;
        f.beat("a", -1, None).unwrap();
    }
    f.beat("a", 0, Some(&["t"])).unwrap();
    tokio::time::sleep(Duration::from_millis(1)).await;
    let alive = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    assert!(alive <= before + 1, "{alive} tasks alive, {before} before");
}
