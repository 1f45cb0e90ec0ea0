//! Broker configuration: built-in defaults, overridden by the YAML file, overridden by CLI flags.
//!
//! The YAML keys are the field names below (`deny_unknown_fields`, so a typo is an error that names the key).
//! `config/sluice.yaml` documents every key; keep the two in step.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Deserialize;

/// The default of `max_partitions` (see [`Config::max_partitions`]): the partitions per broker
/// Kafka's operators were long advised not to exceed. Creating a partition writes sled's whole
/// list of trees again, so creation slows with the count (measured, debug build: the first 1,000
/// partitions in 1 s, the third 1,000 in 8 s; 20,000 wrote 8.7 GB).
pub const DEFAULT_MAX_PARTITIONS: i32 = 4_000;

/// Everything the broker reads from its configuration.
#[derive(Debug, Clone, Deserialize, PartialEq)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Address the listener binds. Port 0 picks a free port (tests use this).
    pub listen: String,
    /// `host:port` clients are told to connect to (Metadata). Defaults to the bound address.
    pub advertise: Option<String>,
    /// Named listeners, Kafka's `listeners`: `NAME://HOST:PORT,...`. When set, `listen` and
    /// `advertise` are not used (see [`super::listeners`]).
    pub listeners: Option<String>,
    /// Kafka's `advertised.listeners`: `NAME://HOST:PORT,...`, what Metadata tells the clients of
    /// each listener.
    pub advertised_listeners: Option<String>,
    /// Kafka's `listener.security.protocol.map`: `NAME:PROTOCOL,...`.
    pub listener_security_protocol_map: Option<String>,
    /// TLS of SSL and SASL_SSL listeners (Kafka's `ssl.keystore.type=PEM`): a PEM file holding the
    /// private key and the certificate chain.
    pub ssl_keystore_location: Option<PathBuf>,
    /// PEM file of the CA certificates client certificates are checked against (mTLS).
    pub ssl_truststore_location: Option<PathBuf>,
    /// Kafka's `ssl.client.auth`: `none`, `requested` or `required`.
    pub ssl_client_auth: String,
    /// Kafka's `ssl.principal.mapping.rules`: how a client certificate's subject becomes a principal.
    pub ssl_principal_mapping_rules: String,
    /// Kafka's `ssl.enabled.protocols`: TLSv1.2 and/or TLSv1.3.
    pub ssl_enabled_protocols: String,
    /// Kafka's `ssl.cipher.suites` (IANA names); empty: every suite rustls offers.
    pub ssl_cipher_suites: String,
    /// Kafka's `sasl.enabled.mechanisms`: a comma-separated list of PLAIN, SCRAM-SHA-256,
    /// SCRAM-SHA-512, OAUTHBEARER.
    pub sasl_enabled_mechanisms: String,
    /// PLAIN users and their passwords (Kafka's `user_NAME="password"` JAAS options).
    pub sasl_plain_users: BTreeMap<String, String>,
    /// SCRAM users and passwords stored at start-up, for both SCRAM mechanisms, unless the user
    /// already has credentials (as `kafka-storage format --add-scram`).
    pub sasl_scram_users: BTreeMap<String, String>,
    /// KIP-368: the longest a SASL session lasts before the client must re-authenticate
    /// (Kafka's `connections.max.reauth.ms`); 0 keeps sessions for the connection's life.
    pub connections_max_reauth_ms: i64,
    /// OAUTHBEARER: the token claim holding the principal's name (Kafka's
    /// `sasl.oauthbearer.sub.claim.name`, and `unsecuredValidatorPrincipalClaimName`).
    pub sasl_oauthbearer_sub_claim_name: String,
    /// OAUTHBEARER: a `file://` URL of a JWKS (JSON Web Key Set) file (Kafka's
    /// `sasl.oauthbearer.jwks.endpoint.url`). Set: tokens must be signed by one of its keys and
    /// valid; unset: Kafka's default unsecured validation. Read at each authentication, so a
    /// rotated key set takes effect without a restart.
    pub sasl_oauthbearer_jwks_endpoint_url: Option<String>,
    /// Unsecured OAUTHBEARER: scopes every token's `scope` claim must include, space-separated
    /// (Kafka's `unsecuredValidatorRequiredScope` option); empty: none.
    pub sasl_oauthbearer_unsecured_required_scope: String,
    /// With a JWKS: the audiences a token's `aud` must name one of, comma-separated (Kafka's
    /// `sasl.oauthbearer.expected.audience`); unset: not checked.
    pub sasl_oauthbearer_expected_audience: Option<String>,
    /// With a JWKS: the issuer a token's `iss` must be (Kafka's `sasl.oauthbearer.expected.issuer`).
    pub sasl_oauthbearer_expected_issuer: Option<String>,
    /// Authorize every request against the ACLs (Kafka's `authorizer.class.name` set to
    /// StandardAuthorizer). Off: every principal may do everything, and the ACL APIs answer
    /// SECURITY_DISABLED, as Kafka without an authorizer.
    pub authorizer_enabled: bool,
    /// Kafka's `super.users`: `User:alice;User:bob`, principals every ACL check allows.
    pub super_users: String,
    /// Kafka's `allow.everyone.if.no.acl.found`: a resource no ACL matches is open to all.
    pub allow_everyone_if_no_acl_found: bool,
    /// Most ACL bindings the broker keeps; a CreateAcls that would pass it is refused, binding by
    /// binding, with POLICY_VIOLATION. Sluice-only (Kafka has no such limit): every binding is
    /// held in memory and checked by every authorization.
    pub max_acls: u32,
    /// Directory holding the sled database.
    pub data_dir: PathBuf,
    /// This broker's node id, reported in Metadata as leader of every partition and controller.
    pub node_id: i32,
    /// Log filter (tracing `EnvFilter` syntax); `RUST_LOG` wins when set.
    pub log_level: String,
    /// Create unknown topics when a client asks for them in Metadata or produces to them.
    pub auto_create_topics: bool,
    /// Partition count of auto-created topics and of CreateTopics requests that say -1.
    pub num_partitions: i32,
    /// Most partitions one CreateTopics (summed over its topics) or CreatePartitions (partitions
    /// added) may ask for; more fails the whole request with POLICY_VIOLATION, as Kafka's
    /// controller does past its fixed `MAX_PARTITIONS_PER_BATCH` (10,000). It also bounds a
    /// CreateTopics' metadata records, as Kafka's `MAX_RECORDS_PER_USER_OP` (also 10,000) does.
    pub max_partitions_per_request: i32,
    /// Most partitions the broker holds in all; a creation that would pass it is refused with
    /// POLICY_VIOLATION. Sluice-only (Kafka has no such limit): each partition is a sled tree,
    /// and creating one rewrites sled's list of trees, so creation slows as the count grows.
    pub max_partitions: i32,
    /// Largest request frame accepted; a larger length prefix closes the connection.
    pub max_request_bytes: usize,
    /// Largest record batch accepted by Produce (Kafka's `message.max.bytes`).
    pub max_message_bytes: usize,
    /// Largest size a record batch's records may decompress to. Kafka bounds only single records
    /// (topic config `max.decompressed.message.bytes`, unlimited by default); this one bounds the
    /// CPU a produced batch costs and the memory compaction and offset-by-time lookups spend
    /// decoding one.
    pub max_decompressed_batch_bytes: usize,
    /// Upper bound, in milliseconds, on how long a write that is not flushed before its answer
    /// (produced records and committed offsets always are) stays only in memory.
    pub flush_interval_ms: u64,
    /// Connections served at once; further clients wait in the accept queue.
    pub max_connections: usize,
    /// Connections one client IP address may hold; a further one is closed at once
    /// (Kafka's max.connections.per.ip).
    pub max_connections_per_ip: usize,
    /// A connection that has read and written nothing for this long is closed
    /// (Kafka's connections.max.idle.ms).
    pub connections_max_idle_ms: u64,
    /// Request bytes all connections together may hold while frames are read and handled
    /// (Kafka's queued.max.request.bytes); a reader waits for room before growing its buffer.
    pub queued_max_request_bytes: usize,
    /// Response bytes all connections together may hold waiting to be written: above it, Fetch
    /// responses shrink (down to one batch) until clients read what they were sent.
    pub queued_max_response_bytes: usize,
    /// Requests one connection may have in flight before the broker stops reading from it.
    pub max_inflight_requests: usize,
    /// sled page cache size in bytes.
    pub cache_capacity_bytes: u64,
    /// Written but not yet flushed bytes above which produce requests wait for a flush.
    pub max_unflushed_bytes: u64,
    /// Bytes of the data dir's filesystem kept free: below it, produced data is refused with
    /// KAFKA_STORAGE_ERROR until space returns (Sluice's own; Kafka has no such reserve). 0: none.
    pub min_free_bytes: u64,
    /// Smallest session timeout a group member may ask for (Kafka's group.min.session.timeout.ms).
    pub group_min_session_timeout_ms: i32,
    /// Largest session timeout a group member may ask for (group.max.session.timeout.ms).
    pub group_max_session_timeout_ms: i32,
    /// Share groups (KIP-932): the session timeout of a member, and the range a group's
    /// `share.session.timeout.ms` may set (Kafka's group.share.session.timeout.ms, min, max).
    pub group_share_session_timeout_ms: i32,
    pub group_share_min_session_timeout_ms: i32,
    pub group_share_max_session_timeout_ms: i32,
    /// How often share-group members heartbeat, and the range a group may set
    /// (group.share.heartbeat.interval.ms, min, max).
    pub group_share_heartbeat_interval_ms: i32,
    pub group_share_min_heartbeat_interval_ms: i32,
    pub group_share_max_heartbeat_interval_ms: i32,
    /// Members a share group may have (group.share.max.size).
    pub group_share_max_size: i32,
    /// How long a share consumer holds acquired records, and the range a group may set
    /// (group.share.record.lock.duration.ms, min, max).
    pub group_share_record_lock_duration_ms: i32,
    pub group_share_min_record_lock_duration_ms: i32,
    pub group_share_max_record_lock_duration_ms: i32,
    /// Deliveries of a record before it is archived, and the range a group may set
    /// (group.share.delivery.count.limit, min, max).
    pub group_share_delivery_count_limit: i32,
    pub group_share_min_delivery_count_limit: i32,
    pub group_share_max_delivery_count_limit: i32,
    /// In-flight records per share partition (group.share.partition.max.record.locks).
    pub group_share_partition_max_record_locks: i32,
    /// KIP-848 consumer groups: the session timeout and heartbeat interval of a member, and the
    /// ranges a group's `consumer.session.timeout.ms` / `consumer.heartbeat.interval.ms` may set
    /// (Kafka's group.consumer.session.timeout.ms, min, max; group.consumer.heartbeat.interval.ms,
    /// min, max).
    pub group_consumer_session_timeout_ms: i32,
    pub group_consumer_min_session_timeout_ms: i32,
    pub group_consumer_max_session_timeout_ms: i32,
    pub group_consumer_heartbeat_interval_ms: i32,
    pub group_consumer_min_heartbeat_interval_ms: i32,
    pub group_consumer_max_heartbeat_interval_ms: i32,
    /// Fetch sessions (KIP-227) the broker keeps at most (Kafka's
    /// `max.incremental.fetch.session.cache.slots`); 0 turns them off.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// How long the first rebalance of an empty group waits for more members to join
    /// (group.initial.rebalance.delay.ms).
    pub group_initial_rebalance_delay_ms: u64,
    /// Largest metadata string accepted with a committed offset (offset.metadata.max.bytes).
    pub offset_metadata_max_bytes: usize,
    /// Most members a consumer group may have (group.consumer.max.size).
    pub group_consumer_max_size: usize,
    /// Server-side assignors members may choose, the first being the default
    /// (group.consumer.assignors): `uniform`, `range`.
    pub group_consumer_assignors: Vec<String>,
    /// Default `retention.ms` of topics (Kafka's log.retention.ms); -1 keeps data forever.
    pub log_retention_ms: i64,
    /// Default `retention.bytes` per partition (log.retention.bytes); -1 is unlimited.
    pub log_retention_bytes: i64,
    /// Default `cleanup.policy` (log.cleanup.policy): `delete`, `compact` or `compact,delete`.
    pub log_cleanup_policy: String,
    /// Default `message.timestamp.type` (log.message.timestamp.type): CreateTime or LogAppendTime.
    pub log_message_timestamp_type: String,
    /// Default `delete.retention.ms` (log.cleaner.delete.retention.ms).
    pub log_cleaner_delete_retention_ms: i64,
    /// Default `min.compaction.lag.ms` (log.cleaner.min.compaction.lag.ms).
    pub log_cleaner_min_compaction_lag_ms: i64,
    /// How often retention and compaction run (log.retention.check.interval.ms).
    pub log_cleanup_interval_ms: u64,
    /// Idle time after which an idempotent producer's state is forgotten (producer.id.expiration.ms).
    pub producer_id_expiration_ms: i64,
    /// The longest `transaction.timeout.ms` a transactional producer may ask for
    /// (transaction.max.timeout.ms).
    pub transaction_max_timeout_ms: i32,
    /// How often open transactions are checked against their timeout
    /// (transaction.abort.timed.out.transaction.cleanup.interval.ms).
    pub transaction_abort_timed_out_transaction_cleanup_interval_ms: u64,
    /// The finalized `transaction.version` feature level ApiVersions announces (KIP-890): 2 lets
    /// Java clients 4.x run transactions version 2, 1 keeps them on version 1.
    pub transaction_version: i16,
    /// Idle time after which a transactional id with no open transaction is forgotten
    /// (transactional.id.expiration.ms).
    pub transactional_id_expiration_ms: i64,
    /// Share sessions the broker keeps at most (group.share.max.share.sessions).
    pub group_share_max_share_sessions: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            // `[::]` accepts IPv4 too on Linux (dual stack), so `localhost` works whichever
            // address family it resolves to first.
            listen: "[::]:9092".to_string(),
            advertise: None,
            listeners: None,
            advertised_listeners: None,
            listener_security_protocol_map: None,
            ssl_keystore_location: None,
            ssl_truststore_location: None,
            ssl_client_auth: "none".to_string(),
            ssl_principal_mapping_rules: "DEFAULT".to_string(),
            ssl_enabled_protocols: "TLSv1.2,TLSv1.3".to_string(),
            ssl_cipher_suites: String::new(),
            sasl_enabled_mechanisms: "PLAIN,SCRAM-SHA-256,SCRAM-SHA-512,OAUTHBEARER".to_string(),
            sasl_plain_users: BTreeMap::new(),
            sasl_scram_users: BTreeMap::new(),
            connections_max_reauth_ms: 0,
            sasl_oauthbearer_sub_claim_name: "sub".to_string(),
            sasl_oauthbearer_jwks_endpoint_url: None,
            sasl_oauthbearer_unsecured_required_scope: String::new(),
            sasl_oauthbearer_expected_audience: None,
            sasl_oauthbearer_expected_issuer: None,
            authorizer_enabled: false,
            super_users: String::new(),
            allow_everyone_if_no_acl_found: false,
            max_acls: 100_000,
            data_dir: PathBuf::from("./data"),
            node_id: 1,
            log_level: "info".to_string(),
            auto_create_topics: true,
            num_partitions: 1,
            max_partitions_per_request: 10_000,
            max_partitions: DEFAULT_MAX_PARTITIONS,
            max_request_bytes: 100 * 1024 * 1024,
            max_message_bytes: 1024 * 1024 + 12,
            max_decompressed_batch_bytes: 32 * 1024 * 1024,
            flush_interval_ms: 1000,
            max_connections: 10_000,
            // Kafka's default is unbounded; a tenth of the connection cap keeps one peer from
            // taking every slot, yet leaves a development host running many clients on localhost
            // plenty of room.
            max_connections_per_ip: 1_000,
            connections_max_idle_ms: 10 * 60 * 1000,
            // One largest frame: the most a single request may need, and the ceiling on what
            // clients that send slowly (or stop halfway) can make the broker hold.
            queued_max_request_bytes: 100 * 1024 * 1024,
            queued_max_response_bytes: 100 * 1024 * 1024,
            max_inflight_requests: 128,
            cache_capacity_bytes: 64 * 1024 * 1024,
            max_unflushed_bytes: crate::store::DEFAULT_MAX_UNFLUSHED_BYTES,
            min_free_bytes: crate::store::DEFAULT_MIN_FREE_BYTES,
            group_min_session_timeout_ms: 6_000,
            group_max_session_timeout_ms: 1_800_000,
            group_share_session_timeout_ms: 45_000,
            group_share_min_session_timeout_ms: 45_000,
            group_share_max_session_timeout_ms: 60_000,
            group_share_heartbeat_interval_ms: 5_000,
            group_share_min_heartbeat_interval_ms: 5_000,
            group_share_max_heartbeat_interval_ms: 15_000,
            group_share_max_size: 200,
            group_share_record_lock_duration_ms: 30_000,
            group_share_min_record_lock_duration_ms: 15_000,
            group_share_max_record_lock_duration_ms: 60_000,
            group_share_delivery_count_limit: 5,
            group_share_min_delivery_count_limit: 2,
            group_share_max_delivery_count_limit: 10,
            group_share_partition_max_record_locks: 2_000,
            group_consumer_session_timeout_ms: 45_000,
            group_consumer_min_session_timeout_ms: 45_000,
            group_consumer_max_session_timeout_ms: 60_000,
            group_consumer_heartbeat_interval_ms: 5_000,
            group_consumer_min_heartbeat_interval_ms: 5_000,
            group_consumer_max_heartbeat_interval_ms: 15_000,
            max_incremental_fetch_session_cache_slots: 1000,
            // Kafka's default is 3 s, tuned for production clusters; a development broker should
            // hand a lone consumer its partitions at once, yet let members that start together
            // join one generation (at 0, the second of two static members starting together made
            // the first give back what it had just been assigned: librdkafka's 0102 test).
            group_initial_rebalance_delay_ms: 100,
            offset_metadata_max_bytes: 4096,
            group_consumer_max_size: i32::MAX as usize,
            group_consumer_assignors: vec!["uniform".to_string(), "range".to_string()],
            log_retention_ms: 7 * 24 * 60 * 60 * 1000,
            log_retention_bytes: -1,
            log_cleanup_policy: "delete".to_string(),
            log_message_timestamp_type: "CreateTime".to_string(),
            log_cleaner_delete_retention_ms: 24 * 60 * 60 * 1000,
            log_cleaner_min_compaction_lag_ms: 0,
            log_cleanup_interval_ms: 30_000,
            producer_id_expiration_ms: 24 * 60 * 60 * 1000,
            transaction_max_timeout_ms: 900_000,
            transaction_abort_timed_out_transaction_cleanup_interval_ms: 1_000,
            transaction_version: 2,
            transactional_id_expiration_ms: 7 * 24 * 60 * 60 * 1000,
            group_share_max_share_sessions: 2_000,
        }
    }
}

impl Config {
    /// Reads a YAML file; keys it leaves out keep their defaults.
    pub fn from_file(path: &Path) -> Result<Config> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading config file {}", path.display()))?;
        Self::from_yaml(&text).with_context(|| format!("in config file {}", path.display()))
    }

    pub fn from_yaml(text: &str) -> Result<Config> {
        // An empty (or all-comment) file is a valid config of defaults.
        if text.lines().all(|l| {
            let l = l.trim();
            l.is_empty() || l.starts_with('#')
        }) {
            return Ok(Config::default());
        }
        Ok(serde_yaml::from_str(text)?)
    }

    /// The share and consumer group settings, as Kafka checks them: each default within its
    /// range, minimums at least 1 (the delivery count limit's at least 2, as Kafka's), the
    /// heartbeat interval below the session timeout.
    fn validate_group_ranges(&self) -> Result<()> {
        let ranges = [
            (
                "group_share_session_timeout_ms",
                self.group_share_min_session_timeout_ms,
                self.group_share_session_timeout_ms,
                self.group_share_max_session_timeout_ms,
                1,
            ),
            (
                "group_share_heartbeat_interval_ms",
                self.group_share_min_heartbeat_interval_ms,
                self.group_share_heartbeat_interval_ms,
                self.group_share_max_heartbeat_interval_ms,
                1,
            ),
            (
                "group_share_record_lock_duration_ms",
                self.group_share_min_record_lock_duration_ms,
                self.group_share_record_lock_duration_ms,
                self.group_share_max_record_lock_duration_ms,
                1_000,
            ),
            (
                "group_share_delivery_count_limit",
                self.group_share_min_delivery_count_limit,
                self.group_share_delivery_count_limit,
                self.group_share_max_delivery_count_limit,
                2,
            ),
            (
                "group_consumer_session_timeout_ms",
                self.group_consumer_min_session_timeout_ms,
                self.group_consumer_session_timeout_ms,
                self.group_consumer_max_session_timeout_ms,
                1,
            ),
            (
                "group_consumer_heartbeat_interval_ms",
                self.group_consumer_min_heartbeat_interval_ms,
                self.group_consumer_heartbeat_interval_ms,
                self.group_consumer_max_heartbeat_interval_ms,
                1,
            ),
        ];
        for (key, min, value, max, floor) in ranges {
            if min < floor || min > value || value > max {
                bail!(
                    "`{key}` must lie within its min and max, and the min must be at least {floor}: \
                     got min {min}, value {value}, max {max}"
                );
            }
        }
        if self.group_share_heartbeat_interval_ms >= self.group_share_session_timeout_ms {
            bail!("`group_share_heartbeat_interval_ms` must be less than `group_share_session_timeout_ms`");
        }
        if self.group_consumer_heartbeat_interval_ms >= self.group_consumer_session_timeout_ms {
            bail!("`group_consumer_heartbeat_interval_ms` must be less than `group_consumer_session_timeout_ms`");
        }
        if self.group_share_max_size < 1 {
            bail!("`group_share_max_size` must be at least 1");
        }
        if !(100..=10_000).contains(&self.group_share_partition_max_record_locks) {
            bail!("`group_share_partition_max_record_locks` must be between 100 and 10000");
        }
        Ok(())
    }

    fn validate_sasl(&self) -> Result<()> {
        let enabled = crate::net::sasl::enabled_mechanisms(&self.sasl_enabled_mechanisms);
        for m in &enabled {
            if !crate::net::sasl::MECHANISMS.contains(&m.as_str()) {
                bail!(
                    "`sasl_enabled_mechanisms`: unsupported mechanism `{m}` (supported: {})",
                    crate::net::sasl::MECHANISMS.join(", ")
                );
            }
        }
        if self.connections_max_reauth_ms < 0 {
            bail!("`connections_max_reauth_ms` must be >= 0");
        }
        if let Some(url) = &self.sasl_oauthbearer_jwks_endpoint_url {
            crate::net::sasl::load_jwks(url)
                .map_err(|e| anyhow::anyhow!("`sasl_oauthbearer_jwks_endpoint_url`: {e}"))?;
        }
        if self.sasl_oauthbearer_sub_claim_name.trim().is_empty() {
            bail!("`sasl_oauthbearer_sub_claim_name` must not be empty");
        }
        for user in self
            .sasl_scram_users
            .keys()
            .chain(self.sasl_plain_users.keys())
        {
            if user.is_empty() {
                bail!("`sasl_plain_users` and `sasl_scram_users` must not name an empty user");
            }
        }
        Ok(())
    }

    /// Rejects values the broker cannot run with, naming the key.
    pub fn validate(&self) -> Result<()> {
        let listeners = super::listeners::listener_specs(self)?;
        crate::net::tls::validate(self, listeners.iter().any(|l| l.protocol.tls()))?;
        self.validate_sasl()?;
        if self.data_dir.as_os_str().is_empty() {
            bail!("`data_dir` must not be empty");
        }
        if self.node_id < 0 {
            bail!("`node_id` must be >= 0, got {}", self.node_id);
        }
        if self.num_partitions < 1 {
            bail!("`num_partitions` must be >= 1, got {}", self.num_partitions);
        }
        if self.max_partitions_per_request < 1 {
            bail!(
                "`max_partitions_per_request` must be >= 1, got {}",
                self.max_partitions_per_request
            );
        }
        if self.max_partitions < 1 {
            bail!("`max_partitions` must be >= 1, got {}", self.max_partitions);
        }
        if self.max_acls < 1 {
            bail!("`max_acls` must be >= 1, got {}", self.max_acls);
        }
        // Kafka's StandardAuthorizer refuses to start on an entry that is no principal.
        if let Some(bad) = self
            .super_users
            .split(';')
            .map(str::trim)
            .find(|p| !p.is_empty() && !p.contains(':'))
        {
            bail!("`super_users` entries must be Type:name (User:alice), got {bad:?}");
        }
        if self.num_partitions > self.max_partitions_per_request.min(self.max_partitions) {
            bail!(
                "`num_partitions` ({}) must be at most `max_partitions_per_request` ({}) and `max_partitions` ({})",
                self.num_partitions,
                self.max_partitions_per_request,
                self.max_partitions
            );
        }
        if self.max_request_bytes < 1024 || self.max_request_bytes > i32::MAX as usize {
            bail!(
                "`max_request_bytes` must be between 1024 and {}, got {}",
                i32::MAX,
                self.max_request_bytes
            );
        }
        if self.max_message_bytes < 64 || self.max_message_bytes > self.max_request_bytes {
            bail!(
                "`max_message_bytes` must be between 64 and `max_request_bytes` ({}), got {}",
                self.max_request_bytes,
                self.max_message_bytes
            );
        }
        if self.max_decompressed_batch_bytes < self.max_message_bytes
            || self.max_decompressed_batch_bytes > i32::MAX as usize
        {
            bail!(
                "`max_decompressed_batch_bytes` must be between `max_message_bytes` ({}) and {}, got {}",
                self.max_message_bytes,
                i32::MAX,
                self.max_decompressed_batch_bytes
            );
        }
        if self.flush_interval_ms == 0 {
            bail!("`flush_interval_ms` must be >= 1");
        }
        if self.max_connections == 0 {
            bail!("`max_connections` must be >= 1");
        }
        if self.max_connections_per_ip == 0 {
            bail!("`max_connections_per_ip` must be >= 1");
        }
        if self.connections_max_idle_ms < 100 {
            bail!(
                "`connections_max_idle_ms` must be at least 100, got {}",
                self.connections_max_idle_ms
            );
        }
        if self.queued_max_request_bytes < self.max_request_bytes
            || self.queued_max_request_bytes > u32::MAX as usize
        {
            bail!(
                "`queued_max_request_bytes` must be between `max_request_bytes` ({}) and {}, got {}",
                self.max_request_bytes,
                u32::MAX,
                self.queued_max_request_bytes
            );
        }
        if self.queued_max_response_bytes < 1024 * 1024 {
            bail!("`queued_max_response_bytes` must be at least 1 MiB");
        }
        if self.max_inflight_requests == 0 {
            bail!("`max_inflight_requests` must be >= 1");
        }
        if self.cache_capacity_bytes < 1024 * 1024 {
            bail!("`cache_capacity_bytes` must be at least 1 MiB");
        }
        if self.max_unflushed_bytes < 1024 * 1024 {
            bail!("`max_unflushed_bytes` must be at least 1 MiB");
        }
        if self.group_min_session_timeout_ms < 1
            || self.group_min_session_timeout_ms > self.group_max_session_timeout_ms
        {
            bail!(
                "`group_min_session_timeout_ms` must be between 1 and `group_max_session_timeout_ms` ({}), got {}",
                self.group_max_session_timeout_ms,
                self.group_min_session_timeout_ms
            );
        }
        self.validate_group_ranges()?;
        if self.group_initial_rebalance_delay_ms > 300_000 {
            bail!("`group_initial_rebalance_delay_ms` must be at most 300000");
        }
        if self.group_consumer_max_size < 1 {
            bail!("`group_consumer_max_size` must be at least 1");
        }
        if self.group_consumer_assignors.is_empty() {
            bail!("`group_consumer_assignors` must name at least one assignor");
        }
        for a in &self.group_consumer_assignors {
            if !crate::coordinator::group::consumer::assignor::KNOWN.contains(&a.as_str()) {
                bail!(
                    "`group_consumer_assignors`: unknown assignor `{a}` (known: {})",
                    crate::coordinator::group::consumer::assignor::KNOWN.join(", ")
                );
            }
        }
        self.broker_defaults()
            .validate()
            .map_err(|e| anyhow::anyhow!("invalid topic default: {e}"))?;
        if self.log_cleanup_interval_ms < 10 {
            bail!("`log_cleanup_interval_ms` must be at least 10");
        }
        if self.producer_id_expiration_ms < 1 {
            bail!("`producer_id_expiration_ms` must be at least 1");
        }
        if self.transaction_max_timeout_ms < 1 {
            bail!("`transaction_max_timeout_ms` must be at least 1");
        }
        if self.transactional_id_expiration_ms < 1 {
            bail!("`transactional_id_expiration_ms` must be at least 1");
        }
        if !(1..=2).contains(&self.transaction_version) {
            bail!("`transaction_version` must be 1 or 2");
        }
        if self.group_share_max_share_sessions == 0 {
            bail!("`group_share_max_share_sessions` must be >= 1");
        }
        if self.transaction_abort_timed_out_transaction_cleanup_interval_ms < 1 {
            bail!(
                "`transaction_abort_timed_out_transaction_cleanup_interval_ms` must be at least 1"
            );
        }
        tracing_subscriber::EnvFilter::try_new(&self.log_level)
            .map_err(|e| anyhow::anyhow!("invalid `log_level` {:?}: {e}", self.log_level))?;
        Ok(())
    }
}

impl Config {
    /// The topic-config defaults this broker applies to topics without overrides.
    pub fn broker_defaults(&self) -> crate::config::topic::BrokerDefaults {
        crate::config::topic::BrokerDefaults {
            retention_ms: self.log_retention_ms,
            retention_bytes: self.log_retention_bytes,
            cleanup_policy: self.log_cleanup_policy.clone(),
            max_message_bytes: self.max_message_bytes.min(i32::MAX as usize) as i32,
            message_timestamp_type: self.log_message_timestamp_type.clone(),
            delete_retention_ms: self.log_cleaner_delete_retention_ms,
            min_compaction_lag_ms: self.log_cleaner_min_compaction_lag_ms,
            ..crate::config::topic::BrokerDefaults::default()
        }
    }
}

/// Parses a listen address; `[::]:9092`, `0.0.0.0:9092`, `127.0.0.1:0`.
pub fn parse_listen(s: &str) -> Result<SocketAddr> {
    s.parse::<SocketAddr>()
        .with_context(|| format!("{s:?} is not an IP:PORT address"))
}

/// Parses an advertised `host:port`; the host may be a name.
pub fn parse_host_port(s: &str) -> Result<(String, u16)> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("{s:?} is not HOST:PORT"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    if host.is_empty() {
        bail!("{s:?} has an empty host");
    }
    let port: u16 = port
        .parse()
        .with_context(|| format!("{s:?} has an invalid port"))?;
    if port == 0 {
        bail!("{s:?}: the advertised port cannot be 0");
    }
    Ok((host.to_string(), port))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_valid() {
        Config::default().validate().unwrap();
    }

    #[test]
    fn unknown_key_is_named() {
        let err = Config::from_yaml("listen: \"127.0.0.1:1\"\nnum_partitons: 3\n").unwrap_err();
        assert!(format!("{err:#}").contains("num_partitons"), "{err:#}");
    }

    #[test]
    fn file_overrides_defaults_partially() {
        let c = Config::from_yaml("num_partitions: 3\n").unwrap();
        assert_eq!(c.num_partitions, 3);
        assert_eq!(c.listen, Config::default().listen);
    }

    #[test]
    fn empty_file_is_defaults() {
        assert_eq!(
            Config::from_yaml("# nothing\n\n").unwrap(),
            Config::default()
        );
    }

    #[test]
    fn invalid_values_are_refused() {
        let mut c = Config {
            num_partitions: 0,
            ..Config::default()
        };
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("num_partitions"));
        c.num_partitions = 1;
        c.listen = "nope".into();
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("listen"));
        c.listen = "127.0.0.1:0".into();
        c.advertise = Some("host:0".into());
        assert!(c.validate().is_err());
        c.advertise = None;
        c.max_decompressed_batch_bytes = c.max_message_bytes - 1;
        assert!(format!("{:#}", c.validate().unwrap_err()).contains("max_decompressed_batch_bytes"));
    }

    #[test]
    fn partition_limits_are_validated() {
        for (yaml, key) in [
            (
                "max_partitions_per_request: 0\n",
                "max_partitions_per_request",
            ),
            ("max_partitions: 0\n", "max_partitions"),
            ("max_acls: 0\n", "max_acls"),
            ("super_users: \"User:a; bob\"\n", "super_users"),
            ("num_partitions: 11\nmax_partitions: 10\n", "num_partitions"),
            (
                "num_partitions: 11\nmax_partitions_per_request: 10\n",
                "num_partitions",
            ),
        ] {
            let err = Config::from_yaml(yaml).unwrap().validate().unwrap_err();
            assert!(format!("{err:#}").contains(key), "{yaml}: {err:#}");
        }
        let c = Config::from_yaml("max_partitions: 20\nmax_partitions_per_request: 5\n").unwrap();
        c.validate().unwrap();
        assert_eq!((c.max_partitions, c.max_partitions_per_request), (20, 5));
    }

    #[test]
    fn connection_limits_are_checked() {
        let base = Config::default();
        let cases = [
            (
                Config {
                    max_connections_per_ip: 0,
                    ..base.clone()
                },
                "max_connections_per_ip",
            ),
            (
                Config {
                    connections_max_idle_ms: 0,
                    ..base.clone()
                },
                "connections_max_idle_ms",
            ),
            (
                // A budget smaller than one frame would leave the largest request waiting forever.
                Config {
                    queued_max_request_bytes: base.max_request_bytes - 1,
                    ..base.clone()
                },
                "queued_max_request_bytes",
            ),
            (
                Config {
                    queued_max_response_bytes: 1,
                    ..base.clone()
                },
                "queued_max_response_bytes",
            ),
        ];
        for (config, key) in cases {
            let err = format!("{:#}", config.validate().unwrap_err());
            assert!(err.contains(key), "{key}: {err}");
        }
    }

    #[test]
    fn group_share_and_consumer_settings_are_checked() {
        let refused = |c: Config, key: &str| {
            let e = c.validate().unwrap_err().to_string();
            assert!(e.contains(key), "{e}");
        };
        refused(
            Config {
                group_share_session_timeout_ms: 1000,
                ..Config::default()
            },
            "group_share_session_timeout_ms",
        );
        refused(
            Config {
                group_share_min_delivery_count_limit: 1,
                ..Config::default()
            },
            "group_share_delivery_count_limit",
        );
        refused(
            Config {
                group_share_min_session_timeout_ms: 1000,
                group_share_session_timeout_ms: 4000,
                ..Config::default()
            },
            "group_share_heartbeat_interval_ms",
        );
        refused(
            Config {
                group_share_max_size: 0,
                ..Config::default()
            },
            "group_share_max_size",
        );
        refused(
            Config {
                group_consumer_heartbeat_interval_ms: 20_000,
                ..Config::default()
            },
            "group_consumer_heartbeat_interval_ms",
        );
        Config {
            group_share_session_timeout_ms: 2000,
            group_share_min_session_timeout_ms: 1000,
            group_share_heartbeat_interval_ms: 500,
            group_share_min_heartbeat_interval_ms: 100,
            ..Config::default()
        }
        .validate()
        .unwrap();
    }

    #[test]
    fn host_port_parsing() {
        assert_eq!(
            parse_host_port("localhost:9092").unwrap(),
            ("localhost".into(), 9092)
        );
        assert_eq!(parse_host_port("[::1]:9093").unwrap(), ("::1".into(), 9093));
        assert!(parse_host_port("9092").is_err());
    }
}

#[cfg(test)]
mod shipped_config {
    use super::*;

    /// The documented default file must parse and say exactly what the built-in defaults say.
    #[test]
    fn config_file_matches_defaults() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/sluice.yaml");
        let c = Config::from_file(&path).unwrap();
        assert_eq!(c, Config::default());
    }

    /// The container's config (Dockerfile, docker-compose.yml): valid, with its two listeners.
    #[test]
    fn docker_config_has_a_host_and_a_docker_listener() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("config/docker.yaml");
        let c = Config::from_file(&path).unwrap();
        c.validate().unwrap();
        let specs = crate::config::listener_specs(&c).unwrap();
        let advertised: Vec<_> = specs
            .iter()
            .map(|s| (s.name.as_str(), s.advertised.clone()))
            .collect();
        assert_eq!(
            advertised,
            [
                ("HOST", Some(("localhost".to_string(), 9092))),
                ("DOCKER", Some(("sluice".to_string(), 29092)))
            ]
        );
    }
}
