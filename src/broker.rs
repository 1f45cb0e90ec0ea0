//! The broker's shared state: configuration, identity, the store, the topic registry and client quotas.
//!
//! `Broker` is a cheap-clone handle around `Arc<BrokerState>`. The topic map sits behind a std `RwLock`
//! that is never held across an `.await`: handlers take an `Arc<Topic>` out and release the lock.
//! One broker is leader, only replica and ISR of every partition, and the controller.
//!
//! Creating a topic or adding partitions never holds that lock while partitions are made: the
//! name (or topic) and its partitions are reserved under the lock, the partitions' storage is
//! created outside it, and the topic record, written last, publishes the result. A crash before
//! the record leaves partition trees that no record names: empty, purged at the next start (a new
//! topic's), or reused by the next growth (added partitions'). So after a restart a topic is
//! either absent or complete, and so is every growth.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, RwLock};

use tokio::sync::watch;
use uuid::Uuid;

use crate::config::group::GroupConfigs;
use crate::config::topic::{self, BrokerDefaults, EffectiveConfig};
use crate::config::Config;
use crate::coordinator::fetch_session::FetchSessions;
use crate::coordinator::group::{GroupConfig, GroupCoordinator};
use crate::coordinator::share::{
    AutoOffsetReset, GroupStatus, Limits, ShareCoordinator, ShareSettings,
};
use crate::coordinator::share_group::{ShareGroupCoordinator, ShareGroupListener};
use crate::coordinator::txn::{TxnConfig, TxnCoordinator};
use crate::log::PartitionLog;
use crate::store::{QuotaEntity, QuotaValues, Store, StoreError, TopicRecord};

/// How clients reach this broker (Metadata's broker list).
#[derive(Debug, Clone)]
pub struct NodeInfo {
    pub node_id: i32,
    pub host: String,
    pub port: i32,
}

/// One listener as clients see it: its name, security protocol and advertised address.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerInfo {
    pub name: String,
    pub protocol: crate::config::SecurityProtocol,
    pub host: String,
    pub port: i32,
}

impl ListenerInfo {
    /// This broker as the clients of this listener reach it.
    pub fn node(&self, node_id: i32) -> NodeInfo {
        NodeInfo {
            node_id,
            host: self.host.clone(),
            port: self.port,
        }
    }
}

pub struct Topic {
    pub name: String,
    pub id: Uuid,
    pub partitions: Vec<Arc<PartitionLog>>,
    /// The topic's config overrides, as set.
    pub configs: BTreeMap<String, String>,
    /// Overrides over the broker's defaults, typed: what produce, retention and compaction obey.
    pub effective: EffectiveConfig,
}

impl Topic {
    pub fn partition(&self, index: i32) -> Option<&Arc<PartitionLog>> {
        usize::try_from(index)
            .ok()
            .and_then(|i| self.partitions.get(i))
    }
}

#[derive(Clone)]
pub struct Broker {
    shared: Arc<BrokerState>,
}

struct BrokerState {
    config: Config,
    /// The first listener's address: where one address is asked for (DescribeQuorum, tests).
    node: NodeInfo,
    /// Every listener, as clients of each reach it.
    listeners: Vec<Arc<ListenerInfo>>,
    authorizer: crate::security::acl::Authorizer,
    scram: crate::security::scram::ScramCredentials,
    cluster_id: String,
    /// The id of the directory holding the cluster metadata (DescribeQuorum v2).
    metadata_directory_id: Uuid,
    store: Store,
    groups: GroupCoordinator,
    /// Every group's dynamic configs (GROUP config resources), read by the group coordinators.
    group_configs: Arc<GroupConfigs>,
    share_groups: ShareGroupCoordinator,
    transactions: TxnCoordinator,
    fetch_sessions: FetchSessions,
    share: Arc<ShareCoordinator>,
    topics: RwLock<Topics>,
    /// Client quotas (KIP-546) by entity, as stored and described. Written through to the store
    /// and to `quotas` under the write lock, so all three change in the same order.
    client_quotas: RwLock<BTreeMap<QuotaEntity, QuotaValues>>,
    /// The client quotas enforced: their limits and the clients' rates.
    quotas: crate::quota::ClientQuotas,
    shutdown: watch::Receiver<bool>,
}

#[derive(Default)]
struct Topics {
    by_name: HashMap<String, Arc<Topic>>,
    by_id: HashMap<Uuid, Arc<Topic>>,
    /// Topics being created and topics being grown, by name, with the partitions they will add:
    /// reserved so that the name is taken and the partitions count against `max_partitions`
    /// while their storage is created outside the lock.
    pending: HashMap<String, i32>,
}

impl Topics {
    /// Partitions that exist or are being created.
    fn partition_count(&self) -> i64 {
        let live: i64 = self
            .by_name
            .values()
            .map(|t| t.partitions.len() as i64)
            .sum();
        live + self.pending.values().map(|&n| i64::from(n)).sum::<i64>()
    }
}

/// The stored ACL bindings; one this version cannot read is logged and skipped.
fn load_acls(store: &Store) -> anyhow::Result<Vec<crate::security::acl::AclBinding>> {
    let mut out = Vec::new();
    for record in store.load_acls()? {
        let shown = format!("{record:?}");
        match crate::security::acl::AclBinding::from_record(record) {
            Some(b) => out.push(b),
            None => tracing::error!(acl = %shown, "skipping a stored ACL with an unknown code"),
        }
    }
    Ok(out)
}

/// Why a topic could not be created, changed or deleted (`api::error` maps each to a Kafka error).
#[derive(Debug, thiserror::Error)]
pub enum TopicError {
    #[error("topic name {0:?} is invalid: {1}")]
    InvalidName(String, &'static str),
    #[error("topic {0:?} already exists")]
    AlreadyExists(String),
    #[error("Topic '{0}' collides with existing topic: {1}")]
    Collides(String, String),
    #[error("number of partitions must be at least 1, got {0}")]
    InvalidPartitions(i32),
    #[error("unknown topic {0:?}")]
    Unknown(String),
    #[error("{0}")]
    InvalidConfig(String),
    /// Any other refusal, with the Kafka error code to send.
    #[error("{1}")]
    Refused(i16, String),
    #[error("topic has {current} partitions; the count can only grow, {requested} asked")]
    CannotShrink { current: i32, requested: i32 },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Kafka's committed-offsets topic. Sluice keeps committed offsets in its store, not as records,
/// but lists the topic as Kafka does once a group coordinator exists, because clients and their
/// tests look for it (or filter it out) by name; it stays empty.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";

/// Whether a topic is one of Kafka's internal topics, which Metadata marks and Produce refuses.
pub fn is_internal(topic: &str) -> bool {
    topic == OFFSETS_TOPIC
}

/// Kafka's topic name rules: 1..=249 characters of `[a-zA-Z0-9._-]`, not `.` or `..`.
pub fn validate_topic_name(name: &str) -> Result<(), TopicError> {
    let bad = |why| Err(TopicError::InvalidName(name.to_string(), why));
    if name.is_empty() {
        return bad("the name is empty");
    }
    if name == "." || name == ".." {
        return bad("'.' and '..' are not allowed");
    }
    if name.len() > 249 {
        return bad("longer than 249 characters");
    }
    if !name
        .bytes()
        .all(|c| c.is_ascii_alphanumeric() || c == b'.' || c == b'_' || c == b'-')
    {
        return bad("only ASCII alphanumerics, '.', '_' and '-' are allowed");
    }
    Ok(())
}

/// Connects the share-group coordinator (membership), the share partitions and the group
/// configs, which are built apart: members leaving release their records, a deleted group takes
/// its share state along, each group's `share.*` configs set its partitions' limits, and one group
/// id names one group of one type. The callbacks the share partitions hold do not keep the
/// share-group coordinator alive (no reference cycle keeps the store open).
fn connect_share_groups(
    groups: &GroupCoordinator,
    configs: &Arc<GroupConfigs>,
    share_groups: &ShareGroupCoordinator,
    share: &Arc<ShareCoordinator>,
) {
    struct Partitions(Arc<ShareCoordinator>);
    impl ShareGroupListener for Partitions {
        fn member_left(&self, group: &str, member: &str) {
            self.0.member_left(group, member);
        }
        fn group_deleted(&self, group: &str) {
            if let Err(e) = self.0.group_deleted(group) {
                tracing::error!(group, error = %e, "deleting the share group's partition state failed");
            }
        }
    }
    share_groups.add_listener(Arc::new(Partitions(share.clone())));
    let classic = groups.clone();
    share_groups.set_other_groups(Arc::new(move |id: &str| classic.group_type(id)));

    let configs = configs.clone();
    share.set_settings_lookup(move |group, defaults| {
        let g = configs.share(group);
        ShareSettings {
            limits: Limits {
                lock_duration_ms: u64::try_from(g.record_lock_duration_ms)
                    .unwrap_or(defaults.limits.lock_duration_ms),
                delivery_count_limit: i16::try_from(g.delivery_count_limit)
                    .unwrap_or(defaults.limits.delivery_count_limit),
                max_record_locks: usize::try_from(g.partition_max_record_locks)
                    .unwrap_or(defaults.limits.max_record_locks),
            },
            auto_offset_reset: match g.auto_offset_reset.as_str() {
                "earliest" => AutoOffsetReset::Earliest,
                "latest" => AutoOffsetReset::Latest,
                other => crate::config::group::by_duration_ms(other)
                    .map_or(defaults.auto_offset_reset, AutoOffsetReset::ByDuration),
            },
            read_committed: g.isolation_level.eq_ignore_ascii_case("read_committed"),
        }
    });
    let members = share_groups.downgrade();
    let classic = groups.clone();
    share.set_status_lookup(move |group| {
        match members.upgrade().and_then(|c| c.member_count(group)) {
            Some(0) => GroupStatus::Empty,
            Some(_) => GroupStatus::Active,
            None if classic.group_type(group).is_some() => GroupStatus::OtherType,
            None => GroupStatus::Missing,
        }
    });
    let assigned = share_groups.downgrade();
    share.set_initialized_lookup(move |group, topic_id, partition| {
        assigned
            .upgrade()
            .is_some_and(|c| c.is_assigned(group, topic_id, partition))
    });
}

impl Broker {
    /// Loads every topic from the store. Partitions open lazily in the sense that matters: opening
    /// one reads its last batch, never its whole log. `listeners` must not be empty.
    pub fn open(
        config: Config,
        listeners: Vec<ListenerInfo>,
        store: Store,
        shutdown: watch::Receiver<bool>,
    ) -> anyhow::Result<Broker> {
        let Some(first) = listeners.first() else {
            anyhow::bail!("a broker needs at least one listener");
        };
        let node = first.node(config.node_id);
        let listeners = listeners.into_iter().map(Arc::new).collect();
        let authorizer = crate::security::acl::Authorizer::new(
            config.authorizer_enabled,
            &config.super_users,
            config.allow_everyone_if_no_acl_found,
        );
        authorizer.load(load_acls(&store)?);
        let scram = crate::security::scram::ScramCredentials::open(
            store.clone(),
            &config.sasl_scram_users,
        )?;
        let cluster_id = store.cluster_id()?;
        let metadata_directory_id = store.metadata_directory_id()?;
        let client_quotas: BTreeMap<QuotaEntity, QuotaValues> =
            store.load_client_quotas()?.into_iter().collect();
        let quotas = crate::quota::ClientQuotas::new();
        for (entity, values) in &client_quotas {
            quotas.set(entity, values);
        }
        let defaults = config.broker_defaults();
        let mut topics = Topics::default();
        let trees = store.partition_trees()?;
        for rec in store.load_topics()? {
            let Some(rec) = complete_topic(&store, rec, &trees, config.max_partitions)? else {
                continue;
            };
            let topic = Arc::new(open_topic(&store, rec, &defaults)?);
            topics.by_id.insert(topic.id, topic.clone());
            topics.by_name.insert(topic.name.clone(), topic);
        }
        let groups = GroupCoordinator::open(
            store.clone(),
            GroupConfig {
                min_session_timeout_ms: config.group_min_session_timeout_ms,
                max_session_timeout_ms: config.group_max_session_timeout_ms,
                initial_rebalance_delay_ms: config.group_initial_rebalance_delay_ms,
                max_metadata_bytes: config.offset_metadata_max_bytes,
                consumer_session_timeout_ms: config.group_consumer_session_timeout_ms,
                consumer_heartbeat_interval_ms: config.group_consumer_heartbeat_interval_ms,
                consumer_max_size: config.group_consumer_max_size,
                consumer_assignors: config.group_consumer_assignors.clone(),
            },
        )?;
        let group_configs = Arc::new(GroupConfigs::open(store.clone(), config.clone())?);
        let share_groups = ShareGroupCoordinator::open(
            store.clone(),
            group_configs.clone(),
            usize::try_from(config.group_share_max_size).unwrap_or(1),
        )?;
        let transactions = TxnCoordinator::open(
            store.clone(),
            TxnConfig {
                max_timeout_ms: config.transaction_max_timeout_ms,
                id_expiration_ms: config.transactional_id_expiration_ms,
            },
        )?;
        let fetch_sessions = FetchSessions::new(
            config.max_incremental_fetch_session_cache_slots,
            usize::try_from(config.max_partitions).unwrap_or(0),
        );
        let share = ShareCoordinator::open(
            store.clone(),
            ShareSettings {
                limits: Limits {
                    // Config::validate keeps these in Kafka's ranges, so they fit.
                    lock_duration_ms: u64::try_from(config.group_share_record_lock_duration_ms)
                        .unwrap_or(30_000),
                    delivery_count_limit: i16::try_from(config.group_share_delivery_count_limit)
                        .unwrap_or(5),
                    max_record_locks: usize::try_from(
                        config.group_share_partition_max_record_locks,
                    )
                    .unwrap_or(2_000),
                },
                auto_offset_reset: AutoOffsetReset::Latest,
                read_committed: false,
            },
            config.group_share_max_share_sessions,
        )?;
        let share = Arc::new(share);
        connect_share_groups(&groups, &group_configs, &share_groups, &share);
        Ok(Broker {
            shared: Arc::new(BrokerState {
                fetch_sessions,
                share,
                config,
                node,
                listeners,
                authorizer,
                scram,
                cluster_id,
                metadata_directory_id,
                store,
                groups,
                group_configs,
                share_groups,
                transactions,
                topics: RwLock::new(topics),
                client_quotas: RwLock::new(client_quotas),
                quotas,
                shutdown,
            }),
        })
    }

    pub fn config(&self) -> &Config {
        &self.shared.config
    }

    pub fn fetch_sessions(&self) -> &FetchSessions {
        &self.shared.fetch_sessions
    }

    /// Share groups' partition state and share sessions (KIP-932).
    pub fn share(&self) -> &ShareCoordinator {
        &self.shared.share
    }

    pub fn node(&self) -> &NodeInfo {
        &self.shared.node
    }

    pub fn authorizer(&self) -> &crate::security::acl::Authorizer {
        &self.shared.authorizer
    }

    /// SCRAM credentials by user and mechanism.
    pub fn scram(&self) -> &crate::security::scram::ScramCredentials {
        &self.shared.scram
    }

    pub fn listeners(&self) -> &[Arc<ListenerInfo>] {
        &self.shared.listeners
    }

    pub fn cluster_id(&self) -> &str {
        &self.shared.cluster_id
    }

    pub fn metadata_directory_id(&self) -> Uuid {
        self.shared.metadata_directory_id
    }

    /// The client quotas enforced (see [`crate::quota`]).
    pub fn quotas(&self) -> &crate::quota::ClientQuotas {
        &self.shared.quotas
    }

    /// Every client quota entity with its values, sorted by entity.
    pub fn client_quotas(&self) -> Vec<(QuotaEntity, QuotaValues)> {
        let quotas = self.shared.client_quotas.read().expect("quotas poisoned");
        quotas.iter().map(|(e, v)| (e.clone(), v.clone())).collect()
    }

    /// The quota values of one entity (empty when it has none).
    pub fn client_quota(&self, entity: &QuotaEntity) -> QuotaValues {
        let quotas = self.shared.client_quotas.read().expect("quotas poisoned");
        quotas.get(entity).cloned().unwrap_or_default()
    }

    /// Sets (`Some`) or removes (`None`) quota values of one entity, in the store and then here.
    /// Durable after the next flush (`durable`), as other metadata.
    pub fn alter_client_quotas(
        &self,
        entity: &QuotaEntity,
        changes: &[(String, Option<f64>)],
    ) -> Result<(), StoreError> {
        let mut quotas = self.shared.client_quotas.write().expect("quotas poisoned");
        let mut values = quotas.get(entity).cloned().unwrap_or_default();
        for (key, value) in changes {
            match value {
                Some(v) => values.insert(key.clone(), *v),
                None => values.remove(key),
            };
        }
        self.shared.store.put_client_quotas(entity, &values)?;
        self.shared.quotas.set(entity, &values);
        if values.is_empty() {
            quotas.remove(entity);
        } else {
            quotas.insert(entity.clone(), values);
        }
        Ok(())
    }

    /// Adds ACL bindings in the store and then the authorizer (a binding already there is no
    /// change), durable after the next flush (`durable`). Returns, per binding, whether it is
    /// there now: not when adding it would pass `max_acls`.
    pub fn create_acls(
        &self,
        bindings: &[crate::security::acl::AclBinding],
    ) -> Result<Vec<bool>, StoreError> {
        let max = usize::try_from(self.shared.config.max_acls).unwrap_or(usize::MAX);
        self.shared.authorizer.change(|current| {
            let mut added = Vec::new();
            let accepted: Vec<bool> = bindings
                .iter()
                .map(|b| {
                    if current.contains(b) || added.contains(b) {
                        true
                    } else if current.len() + added.len() < max {
                        added.push(b.clone());
                        true
                    } else {
                        false
                    }
                })
                .collect();
            let records: Vec<_> = added.iter().map(|b| b.to_record()).collect();
            self.shared.store.change_acls(&records, &[])?;
            current.extend(added);
            Ok(accepted)
        })
    }

    /// Removes the ACL bindings the filters match, in the store and then the authorizer, durable
    /// after the next flush. Returns each filter's matches, as Kafka does: what it matched before
    /// this request, so a binding two filters match is listed by both.
    pub fn delete_acls(
        &self,
        filters: &[crate::security::acl::AclBindingFilter],
    ) -> Result<Vec<Vec<crate::security::acl::AclBinding>>, StoreError> {
        self.shared.authorizer.change(|current| {
            let matched: Vec<Vec<_>> = filters
                .iter()
                .map(|f| current.iter().filter(|b| f.matches(b)).cloned().collect())
                .collect();
            let gone =
                |b: &crate::security::acl::AclBinding| matched.iter().flatten().any(|m| m == b);
            let records: Vec<_> = current
                .iter()
                .filter(|b| gone(b))
                .map(|b| b.to_record())
                .collect();
            if !records.is_empty() {
                self.shared.store.change_acls(&[], &records)?;
                current.retain(|b| !gone(b));
            }
            Ok(matched)
        })
    }

    /// Resolves once everything written so far is durable: one flush shared by every request
    /// waiting at that moment (group commit).
    pub fn durable(&self) -> impl std::future::Future<Output = Result<(), StoreError>> + Send {
        let store = self.shared.store.clone();
        async move { store.sync().await }
    }

    /// Waits while more than `max_unflushed_bytes` are written and not yet flushed: the
    /// backpressure that keeps a producer faster than the disk from growing memory.
    pub async fn write_backlog_drained(&self) -> Result<(), StoreError> {
        self.shared.store.admit().await
    }

    /// A new producer id, never handed out before (durably, across restarts).
    pub fn next_producer_id(&self) -> Result<i64, StoreError> {
        self.shared.store.next_producer_id()
    }

    /// Flushes and closes the store, once every connection has ended. Blocking.
    pub fn close_store(&self) -> anyhow::Result<()> {
        self.shared.store.close()
    }

    /// The topic-config defaults from this broker's configuration.
    pub fn topic_defaults(&self) -> BrokerDefaults {
        self.shared.config.broker_defaults()
    }

    pub fn groups(&self) -> &GroupCoordinator {
        &self.shared.groups
    }

    /// The share-group coordinator (KIP-932).
    pub fn share_groups(&self) -> &ShareGroupCoordinator {
        &self.shared.share_groups
    }

    /// Every group's dynamic configs; [`GroupConfigs::share`] and [`GroupConfigs::consumer`]
    /// give a group's effective settings.
    pub fn group_configs(&self) -> &GroupConfigs {
        &self.shared.group_configs
    }

    /// A topic's id and partition count: what the group coordinators' assignors see.
    pub fn topic_shape(&self, name: &str) -> Option<(Uuid, i32)> {
        self.topic(name)
            .map(|t| (t.id, i32::try_from(t.partitions.len()).unwrap_or(i32::MAX)))
    }

    pub fn transactions(&self) -> &TxnCoordinator {
        &self.shared.transactions
    }

    /// Resolves when the broker starts shutting down; long polls select on it.
    pub fn shutdown_signal(&self) -> watch::Receiver<bool> {
        self.shared.shutdown.clone()
    }

    pub fn topic(&self, name: &str) -> Option<Arc<Topic>> {
        self.shared
            .topics
            .read()
            .expect("topics poisoned")
            .by_name
            .get(name)
            .cloned()
    }

    pub fn topic_by_id(&self, id: Uuid) -> Option<Arc<Topic>> {
        self.shared
            .topics
            .read()
            .expect("topics poisoned")
            .by_id
            .get(&id)
            .cloned()
    }

    /// All topics, sorted by name so Metadata answers are stable.
    pub fn topics(&self) -> Vec<Arc<Topic>> {
        let mut all: Vec<_> = self
            .shared
            .topics
            .read()
            .expect("topics poisoned")
            .by_name
            .values()
            .cloned()
            .collect();
        all.sort_by(|a, b| a.name.cmp(&b.name));
        all
    }

    /// Creates a topic, or with `validate_only` checks that it could be created.
    pub fn create_topic(
        &self,
        name: &str,
        partitions: i32,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        validate_topic_name(name)?;
        if partitions < 1 {
            return Err(TopicError::InvalidPartitions(partitions));
        }
        let defaults = self.topic_defaults();
        topic::validate_all(&configs, &defaults).map_err(TopicError::InvalidConfig)?;
        let rec = TopicRecord {
            name: name.to_string(),
            id: Uuid::new_v4(),
            partitions,
            configs,
        };
        {
            // The write lock makes check-and-reserve atomic against a concurrent creator.
            let mut topics = self.shared.topics.write().expect("topics poisoned");
            if topics.by_name.contains_key(name) || topics.pending.contains_key(name) {
                return Err(TopicError::AlreadyExists(name.to_string()));
            }
            // Kafka refuses names that differ from an existing one only by '.' versus '_'.
            let unified = name.replace('.', "_");
            if let Some(other) = topics
                .by_name
                .keys()
                .chain(topics.pending.keys())
                .find(|n| n.replace('.', "_") == unified)
            {
                return Err(TopicError::Collides(name.to_string(), other.clone()));
            }
            self.check_total(&topics, partitions)?;
            if validate_only {
                return Ok(Arc::new(Topic {
                    name: rec.name,
                    id: rec.id,
                    partitions: Vec::new(),
                    effective: EffectiveConfig::resolve(&rec.configs, &defaults),
                    configs: rec.configs,
                }));
            }
            topics.pending.insert(rec.name.clone(), partitions);
        }
        let id = rec.id;
        let created = open_partitions(&self.shared.store, id, 0..partitions).and_then(|parts| {
            // The commit point: the record names partitions that all exist.
            self.shared.store.put_topic(&rec)?;
            Ok(parts)
        });
        let mut topics = self.shared.topics.write().expect("topics poisoned");
        topics.pending.remove(name);
        let partitions = match created {
            Ok(parts) => parts,
            Err(e) => {
                drop(topics);
                // Never published: nothing else can have opened these trees.
                self.shared.store.purge_in_background(vec![id]);
                return Err(e.into());
            }
        };
        let topic = Arc::new(Topic {
            name: rec.name,
            id: rec.id,
            partitions,
            effective: EffectiveConfig::resolve(&rec.configs, &defaults),
            configs: rec.configs,
        });
        topics.by_id.insert(topic.id, topic.clone());
        topics.by_name.insert(topic.name.clone(), topic.clone());
        let count = topic.partitions.len();
        tracing::info!(topic = %topic.name, id = %topic.id, partitions = count, "created topic");
        Ok(topic)
    }

    /// Refuses `adding` more partitions when the broker would then hold more than
    /// `max_partitions` (counting those being created).
    fn check_total(&self, topics: &Topics, adding: i32) -> Result<(), TopicError> {
        let max = self.shared.config.max_partitions;
        let now = topics.partition_count();
        if now + i64::from(adding) > i64::from(max) {
            return Err(TopicError::Refused(
                kafka_protocol::error::ResponseError::PolicyViolation.code(),
                format!(
                    "Unable to add {adding} partitions: the broker has {now} and allows at most {max} (max_partitions)."
                ),
            ));
        }
        Ok(())
    }

    /// The named topic, auto-created with the default partition count when configured so.
    pub fn get_or_create(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.topic(name) {
            return Ok(t);
        }
        if name == OFFSETS_TOPIC {
            return self.offsets_topic();
        }
        if !self.shared.config.auto_create_topics {
            validate_topic_name(name)?;
            return Err(TopicError::Unknown(name.to_string()));
        }
        match self.create_topic(
            name,
            self.shared.config.num_partitions,
            BTreeMap::new(),
            false,
        ) {
            // Lost a race with another creator: theirs is as good as ours.
            Err(TopicError::AlreadyExists(_)) => self
                .topic(name)
                .ok_or_else(|| TopicError::Unknown(name.to_string())),
            other => other,
        }
    }

    /// The committed-offsets topic, created as Kafka creates it when the first group coordinator
    /// is looked up: one partition (Kafka's default is 50; nothing is ever stored in it here) and
    /// the topic configs Kafka gives it.
    pub fn offsets_topic(&self) -> Result<Arc<Topic>, TopicError> {
        if let Some(t) = self.topic(OFFSETS_TOPIC) {
            return Ok(t);
        }
        let configs = BTreeMap::from([
            ("cleanup.policy".to_string(), "compact".to_string()),
            ("compression.type".to_string(), "producer".to_string()),
            ("segment.bytes".to_string(), "104857600".to_string()),
        ]);
        match self.create_topic(OFFSETS_TOPIC, 1, configs, false) {
            Err(TopicError::AlreadyExists(_)) => self
                .topic(OFFSETS_TOPIC)
                .ok_or_else(|| TopicError::Unknown(OFFSETS_TOPIC.to_string())),
            other => other,
        }
    }

    /// Grows a topic to `count` partitions (or with `validate_only` checks that it could).
    pub fn add_partitions(
        &self,
        name: &str,
        count: i32,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        let (id, current) = {
            let mut topics = self.shared.topics.write().expect("topics poisoned");
            let Some(topic) = topics.by_name.get(name).cloned() else {
                return Err(TopicError::Unknown(name.to_string()));
            };
            if topics.pending.contains_key(name) {
                return Err(TopicError::Refused(
                    kafka_protocol::error::ResponseError::ReassignmentInProgress.code(),
                    format!("Partitions are already being added to topic {name}."),
                ));
            }
            let current = topic.partitions.len() as i32;
            if count <= current {
                return Err(TopicError::CannotShrink {
                    current,
                    requested: count,
                });
            }
            self.check_total(&topics, count - current)?;
            if validate_only {
                return Ok(topic);
            }
            topics.pending.insert(name.to_string(), count - current);
            (topic.id, current)
        };
        // Trees left by a growth that a crash cut short are empty, and opened again here.
        let created = open_partitions(&self.shared.store, id, current..count);
        let mut topics = self.shared.topics.write().expect("topics poisoned");
        topics.pending.remove(name);
        let added = created?;
        // Deleted (and perhaps recreated) meanwhile: its record must not come back. The new
        // trees carry the old id, so the deletion's purge or the next start removes them.
        let Some(topic) = topics.by_name.get(name).filter(|t| t.id == id).cloned() else {
            return Err(TopicError::Unknown(name.to_string()));
        };
        // The topic as it is now: its configs may have changed meanwhile.
        let rec = TopicRecord {
            name: topic.name.clone(),
            id,
            partitions: count,
            configs: topic.configs.clone(),
        };
        // The commit point; one insert, so holding the lock for it is brief.
        self.shared.store.put_topic(&rec)?;
        let mut partitions = topic.partitions.clone();
        partitions.extend(added);
        let grown = Arc::new(Topic {
            name: rec.name,
            id: rec.id,
            partitions,
            effective: topic.effective.clone(),
            configs: rec.configs,
        });
        topics.by_id.insert(grown.id, grown.clone());
        topics.by_name.insert(grown.name.clone(), grown.clone());
        tracing::info!(topic = %grown.name, from = current, to = count, "added partitions");
        Ok(grown)
    }

    /// Replaces a topic's config overrides (after validating them), or with `validate_only` only
    /// checks them. The change is durable before this returns.
    pub fn set_topic_configs(
        &self,
        name: &str,
        configs: BTreeMap<String, String>,
        validate_only: bool,
    ) -> Result<Arc<Topic>, TopicError> {
        self.update_topic_configs(name, validate_only, |_| Ok(configs))
    }

    /// Computes a topic's new config overrides from its current ones and stores them, all under
    /// the registry lock, so concurrent incremental changes to different keys cannot lose one.
    pub fn update_topic_configs(
        &self,
        name: &str,
        validate_only: bool,
        change: impl FnOnce(&BTreeMap<String, String>) -> Result<BTreeMap<String, String>, TopicError>,
    ) -> Result<Arc<Topic>, TopicError> {
        let defaults = self.topic_defaults();
        let mut topics = self.shared.topics.write().expect("topics poisoned");
        let Some(topic) = topics.by_name.get(name).cloned() else {
            return Err(TopicError::Unknown(name.to_string()));
        };
        let configs = change(&topic.configs)?;
        topic::validate_all(&configs, &defaults).map_err(TopicError::InvalidConfig)?;
        if validate_only {
            return Ok(topic);
        }
        let rec = TopicRecord {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            configs,
        };
        self.shared.store.put_topic(&rec)?;
        let updated = Arc::new(Topic {
            name: rec.name,
            id: rec.id,
            partitions: topic.partitions.clone(),
            effective: EffectiveConfig::resolve(&rec.configs, &defaults),
            configs: rec.configs,
        });
        topics.by_id.insert(updated.id, updated.clone());
        topics.by_name.insert(updated.name.clone(), updated.clone());
        tracing::info!(topic = %updated.name, configs = ?updated.configs, "topic configs changed");
        Ok(updated)
    }

    pub fn delete_topic(&self, name: &str) -> Result<Arc<Topic>, TopicError> {
        let mut topics = self.shared.topics.write().expect("topics poisoned");
        let Some(topic) = topics.by_name.get(name).cloned() else {
            return Err(TopicError::Unknown(name.to_string()));
        };
        self.shared.store.delete_topic(&TopicRecord {
            name: topic.name.clone(),
            id: topic.id,
            partitions: topic.partitions.len() as i32,
            configs: topic.configs.clone(),
        })?;
        topics.by_name.remove(name);
        topics.by_id.remove(&topic.id);
        // Share groups' state of its partitions goes with it: a recreated topic has a new id.
        if let Err(e) = self.shared.share.topic_deleted(topic.id) {
            tracing::error!(error = %e, topic = %topic.name, "could not remove share-group state of a deleted topic");
        }
        tracing::info!(topic = %topic.name, id = %topic.id, "deleted topic");
        Ok(topic)
    }
}

/// Resolves once shutdown starts. A dropped sender means nobody will ever signal, so it never
/// resolves then (unit tests build brokers without a server).
pub async fn stopping(rx: &mut watch::Receiver<bool>) {
    if rx.wait_for(|s| *s).await.is_err() {
        std::future::pending::<()>().await;
    }
}

fn open_topic(
    store: &Store,
    rec: TopicRecord,
    defaults: &BrokerDefaults,
) -> Result<Topic, StoreError> {
    Ok(Topic {
        partitions: open_partitions(store, rec.id, 0..rec.partitions)?,
        name: rec.name,
        id: rec.id,
        effective: EffectiveConfig::resolve(&rec.configs, defaults),
        configs: rec.configs,
    })
}

/// Opens (creating where missing) the logs of a topic's partitions `range`.
fn open_partitions(
    store: &Store,
    id: Uuid,
    range: std::ops::Range<i32>,
) -> Result<Vec<Arc<PartitionLog>>, StoreError> {
    range
        .map(|p| Ok(Arc::new(PartitionLog::open(store.open_partition(id, p)?)?)))
        .collect()
}

/// A topic record as start-up should load it, given the partition trees that exist (partitions
/// by topic id). Releases before crash-safe creation wrote the record first and then created the
/// partitions one by one, so a crash (or a count too large ever to finish) left a record naming
/// partitions that do not exist, and every start tried to create them all again. Such a topic
/// keeps the partitions that exist (counted from 0); with none, or more than `max_partitions`
/// (what a runaway creation left, never a topic anyone used), it is dropped and its trees purged.
/// Either way it is logged. Records written since never name a missing partition.
fn complete_topic(
    store: &Store,
    mut rec: TopicRecord,
    trees: &HashMap<Uuid, std::collections::BTreeSet<i32>>,
    max_partitions: i32,
) -> Result<Option<TopicRecord>, StoreError> {
    let present = trees.get(&rec.id);
    let existing = (0..rec.partitions)
        .take_while(|p| present.is_some_and(|s| s.contains(p)))
        .count() as i32;
    if existing == rec.partitions {
        return Ok(Some(rec));
    }
    tracing::error!(
        topic = %rec.name,
        id = %rec.id,
        recorded = rec.partitions,
        existing,
        "the topic's creation was interrupted before all its partitions existed; keeping those that do"
    );
    if existing == 0 || existing > max_partitions {
        store.remove_topic_record(&rec.name)?;
        store.purge_in_background(vec![rec.id]);
        return Ok(None);
    }
    rec.partitions = existing;
    store.put_topic(&rec)?;
    Ok(Some(rec))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A broker on a temporary directory, for handler unit tests.
    pub fn test_broker(dir: &std::path::Path, config: Config) -> Broker {
        let store = Store::open(dir, 1 << 20, 1000).unwrap();
        let (_tx, rx) = watch::channel(false);
        Broker::open(config, vec![test_listener()], store, rx).unwrap()
    }

    /// The one plaintext listener of [`test_broker`].
    pub fn test_listener() -> ListenerInfo {
        ListenerInfo {
            name: "PLAINTEXT".into(),
            protocol: crate::config::SecurityProtocol::Plaintext,
            host: "127.0.0.1".into(),
            port: 9092,
        }
    }

    #[test]
    fn topic_names_follow_kafka_rules() {
        for ok in ["a", "orders.v1", "A-b_c", &"x".repeat(249)] {
            validate_topic_name(ok).unwrap();
        }
        for bad in ["", ".", "..", "has space", "slash/", "ü", &"x".repeat(250)] {
            assert!(validate_topic_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn create_get_delete_and_recreate_gets_new_id() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let t = b.create_topic("t", 3, BTreeMap::new(), false).unwrap();
        assert_eq!(t.partitions.len(), 3);
        assert!(matches!(
            b.create_topic("t", 1, BTreeMap::new(), false),
            Err(TopicError::AlreadyExists(_))
        ));
        assert!(b.topic_by_id(t.id).is_some());
        b.delete_topic("t").unwrap();
        assert!(b.topic("t").is_none());
        let t2 = b.create_topic("t", 1, BTreeMap::new(), false).unwrap();
        assert_ne!(t.id, t2.id);
    }

    #[test]
    fn auto_create_respects_config() {
        let dir = tempfile::tempdir().unwrap();
        let off = Config {
            auto_create_topics: false,
            ..Config::default()
        };
        let b = test_broker(dir.path(), off);
        assert!(matches!(
            b.get_or_create("nope"),
            Err(TopicError::Unknown(_))
        ));
        assert!(matches!(
            b.get_or_create("bad name"),
            Err(TopicError::InvalidName(..))
        ));
    }

    /// Closes a test broker's store, so another can open the same directory (a restart).
    fn stop(b: Broker) {
        b.close_store().unwrap();
        drop(b);
    }

    fn policy_violation(r: Result<Arc<Topic>, TopicError>) -> bool {
        matches!(r, Err(TopicError::Refused(code, _)) if code == 44)
    }

    #[test]
    fn the_broker_wide_partition_limit_counts_every_way_of_creating() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            max_partitions: 10,
            num_partitions: 4,
            ..Config::default()
        };
        let b = test_broker(dir.path(), config);
        b.create_topic("a", 6, BTreeMap::new(), false).unwrap();
        assert!(policy_violation(b.create_topic(
            "b",
            5,
            BTreeMap::new(),
            true
        )));
        assert!(policy_violation(b.create_topic(
            "b",
            5,
            BTreeMap::new(),
            false
        )));
        assert!(policy_violation(b.add_partitions("a", 11, false)));
        assert!(policy_violation(b.add_partitions("a", 11, true)));
        // Partitions being created count too.
        b.shared
            .topics
            .write()
            .unwrap()
            .pending
            .insert("c".into(), 1);
        assert!(policy_violation(b.get_or_create("auto")));
        b.shared.topics.write().unwrap().pending.clear();
        assert_eq!(b.get_or_create("auto").unwrap().partitions.len(), 4);
        assert!(policy_violation(b.add_partitions("a", 7, false)));
        assert!(b.topic("b").is_none());
        assert_eq!(b.topic("a").unwrap().partitions.len(), 6);
    }

    #[test]
    fn a_name_being_created_is_taken() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.shared
            .topics
            .write()
            .unwrap()
            .pending
            .insert("t.x".into(), 3);
        assert!(matches!(
            b.create_topic("t.x", 1, BTreeMap::new(), false),
            Err(TopicError::AlreadyExists(_))
        ));
        assert!(matches!(
            b.create_topic("t_x", 1, BTreeMap::new(), false),
            Err(TopicError::Collides(..))
        ));
        // A topic being grown cannot be grown again until that is done.
        b.create_topic("g", 1, BTreeMap::new(), false).unwrap();
        b.shared
            .topics
            .write()
            .unwrap()
            .pending
            .insert("g".into(), 1);
        assert!(matches!(
            b.add_partitions("g", 3, false),
            Err(TopicError::Refused(..))
        ));
    }

    #[test]
    fn validate_only_touches_nothing_in_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        b.create_topic("dry", 50, BTreeMap::new(), true).unwrap();
        b.create_topic("t", 1, BTreeMap::new(), false).unwrap();
        b.add_partitions("t", 40, true).unwrap();
        let trees = b.shared.store.partition_trees().unwrap();
        assert_eq!(trees.len(), 1);
        assert_eq!(trees.values().next().unwrap().len(), 1);
        assert_eq!(b.shared.store.load_topics().unwrap().len(), 1);
    }

    #[test]
    fn a_crash_before_the_record_leaves_no_topic_and_its_trees_are_purged() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        // What a creation cut short leaves: some partitions' trees, no record.
        let id = Uuid::new_v4();
        open_partitions(&b.shared.store, id, 0..3).unwrap();
        stop(b);
        let b = test_broker(dir.path(), Config::default());
        assert!(b.topics().is_empty());
        let store = &b.shared.store;
        assert_eq!(store.orphaned_topic_ids().unwrap(), vec![id]);
        store.purge(&[id]).unwrap();
        assert!(store.partition_trees().unwrap().is_empty());
        // Complete, it survives a restart whole.
        b.create_topic("t", 3, BTreeMap::new(), false).unwrap();
        stop(b);
        let b = test_broker(dir.path(), Config::default());
        assert_eq!(b.topic("t").unwrap().partitions.len(), 3);
    }

    #[test]
    fn a_crash_during_growth_leaves_the_old_count_and_the_next_growth_reuses_the_trees() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        let id = b.create_topic("t", 2, BTreeMap::new(), false).unwrap().id;
        // Added partitions' trees created, the record not yet rewritten.
        open_partitions(&b.shared.store, id, 2..5).unwrap();
        stop(b);
        let b = test_broker(dir.path(), Config::default());
        assert_eq!(b.topic("t").unwrap().partitions.len(), 2);
        assert!(b.shared.store.orphaned_topic_ids().unwrap().is_empty());
        b.add_partitions("t", 4, false).unwrap();
        stop(b);
        let b = test_broker(dir.path(), Config::default());
        assert_eq!(b.topic("t").unwrap().partitions.len(), 4);
    }

    #[test]
    fn records_naming_missing_partitions_load_what_exists() {
        let dir = tempfile::tempdir().unwrap();
        let b = test_broker(dir.path(), Config::default());
        // As releases before crash-safe creation left them: the record first, then a crash
        // (or two billion partitions that could never all be created).
        let store = &b.shared.store;
        let partial = TopicRecord {
            name: "partial".into(),
            id: Uuid::new_v4(),
            partitions: 2_000_000_000,
            configs: BTreeMap::new(),
        };
        store.put_topic(&partial).unwrap();
        open_partitions(store, partial.id, 0..3).unwrap();
        let none = TopicRecord {
            name: "none".into(),
            id: Uuid::new_v4(),
            ..partial.clone()
        };
        store.put_topic(&none).unwrap();
        let runaway = TopicRecord {
            name: "runaway".into(),
            id: Uuid::new_v4(),
            ..partial.clone()
        };
        store.put_topic(&runaway).unwrap();
        open_partitions(store, runaway.id, 0..6).unwrap();
        stop(b);
        let config = Config {
            max_partitions: 5,
            num_partitions: 1,
            ..Config::default()
        };
        let b = test_broker(dir.path(), config);
        assert_eq!(b.topic("partial").unwrap().partitions.len(), 3);
        assert!(b.topic("none").is_none());
        assert!(b.topic("runaway").is_none());
        let records = b.shared.store.load_topics().unwrap();
        assert_eq!(records.len(), 1);
        assert_eq!(records[0].partitions, 3);
        // The runaway topic's trees go (in the background; purging again is harmless).
        b.shared.store.purge(&[runaway.id]).unwrap();
        assert!(!b
            .shared
            .store
            .partition_trees()
            .unwrap()
            .contains_key(&runaway.id));
    }
}
