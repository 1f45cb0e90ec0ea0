//! Authorization (#17): real clients get exactly the access the authorizer gives them, with the errors Kafka
//! sends. Plaintext clients are `User:ANONYMOUS`.
//!
//! - With the authorizer on and no ACLs (and `allow_everyone_if_no_acl_found` off), a producer gets the topic
//!   authorization error, a consumer group the group authorization error, a transactional producer the
//!   transactional id authorization error, and an admin client's topic creation the topic one.
//! - `super_users` naming the client lets it do all of that.
//! - With ACLs made through CreateAcls (kafka-protocol, as any admin client; `allow_everyone_if_no_acl_found` lets
//!   the plaintext client make them and leaves resources without ACLs open): a producer may write only the
//!   topic it was allowed, a consumer read only through the group and topic it was allowed, a transactional
//!   producer use only its own id.
//!
//! Each test must pass against Apache Kafka 4.4 as well (`SLUICE_BIN=$PWD/compat-tests/kafka/run-kafka.sh
//! SLUICE_TARGET=kafka`), which reads the same `authorizer_enabled` and `super_users` keys.

use std::time::Duration;

use compat_tests::raw::{str_bytes, RawConn};
use compat_tests::rdkafka::consumer::{BaseConsumer, Consumer};
use compat_tests::rdkafka::error::{KafkaError, RDKafkaErrorCode};
use compat_tests::rdkafka::producer::{BaseRecord, Producer};
use compat_tests::{
    admin_client, admin_options, block_on, consumer, producer, unique_topic, wait_until, Broker,
    TestProducer, CLIENT_TIMEOUT,
};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::CreateAclsRequest;

/// The authorizer on, no ACLs, nobody a super user: a plaintext client may do nothing.
const LOCKED: &str = "authorizer_enabled: true\nallow_everyone_if_no_acl_found: false\n";
/// The authorizer on, with the plaintext client a super user.
const SUPER: &str =
    "authorizer_enabled: true\nallow_everyone_if_no_acl_found: false\nsuper_users: \"User:ANONYMOUS\"\n";
const WAIT: Duration = Duration::from_secs(30);

/// The code of a client error, looking inside transactional errors.
fn code(e: &KafkaError) -> RDKafkaErrorCode {
    match e {
        KafkaError::Transaction(t) => t.code(),
        other => other.rdkafka_error_code().unwrap_or(RDKafkaErrorCode::Fail),
    }
}

/// Sends one record and waits for its delivery report; returns its error, if any.
fn produce_one(producer: &TestProducer, topic: &str) -> Option<RDKafkaErrorCode> {
    producer
        .send(
            BaseRecord::<str, str, usize>::with_opaque_to(topic, 0)
                .key("k")
                .payload("v"),
        )
        .map_err(|(e, _)| e)
        .expect("enqueue");
    let reported = wait_until(WAIT, || {
        producer.poll(Duration::from_millis(50));
        producer.context().reports().len() == 1
    });
    assert!(reported, "no delivery report for {topic}");
    producer.context().reports()[0].error.as_ref().map(code)
}

/// Polls a subscribed consumer until it reads a message (`Ok`) or reports an error among `wanted` (`Err`);
/// other errors (a denied topic reported before the group) are skipped.
fn consume_or_error(
    consumer: &BaseConsumer,
    wanted: &[RDKafkaErrorCode],
) -> Result<(), RDKafkaErrorCode> {
    let mut seen = Vec::new();
    let mut outcome = None;
    let done = wait_until(WAIT, || {
        match consumer.poll(Duration::from_millis(100)) {
            Some(Ok(_)) => outcome = Some(Ok(())),
            Some(Err(e)) if wanted.contains(&code(&e)) => outcome = Some(Err(code(&e))),
            Some(Err(e)) => seen.push(code(&e)),
            None => {}
        }
        outcome.is_some()
    });
    assert!(
        done,
        "neither a message nor one of {wanted:?}; errors seen: {seen:?}"
    );
    outcome.expect("set when done")
}

fn group_consumer(broker: &Broker, group: &str, topic: &str) -> BaseConsumer {
    let c = consumer(
        &broker.bootstrap(),
        &[("group.id", group), ("enable.auto.commit", "false")],
    );
    c.subscribe(&[topic]).expect("subscribe");
    c
}

#[test]
fn without_acls_every_client_is_refused() {
    let broker = Broker::start_with(LOCKED);
    let topic = unique_topic("authz-locked");

    // Creating the topic needs CREATE on the cluster or the topic.
    let admin = admin_client(&broker.bootstrap());
    let created = block_on(admin.create_topics(
        &[compat_tests::rdkafka::admin::NewTopic::new(
            &topic,
            1,
            compat_tests::rdkafka::admin::TopicReplication::Fixed(1),
        )],
        &admin_options(),
    ))
    .expect("CreateTopics answered");
    assert_eq!(
        created[0].as_ref().map_err(|(_, e)| *e),
        Err(RDKafkaErrorCode::TopicAuthorizationFailed),
        "{created:?}"
    );

    let p = producer(&broker.bootstrap(), &[]);
    assert_eq!(
        produce_one(&p, &topic),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );

    let c = group_consumer(&broker, &unique_topic("authz-group"), &topic);
    assert_eq!(
        consume_or_error(&c, &[RDKafkaErrorCode::GroupAuthorizationFailed]),
        Err(RDKafkaErrorCode::GroupAuthorizationFailed)
    );

    let t = producer(&broker.bootstrap(), &[("transactional.id", "authz-txn")]);
    let err = t
        .init_transactions(CLIENT_TIMEOUT)
        .expect_err("init_transactions was allowed");
    assert_eq!(
        code(&err),
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
        "{err:?}"
    );
}

#[test]
fn a_super_user_may_do_everything() {
    let broker = Broker::start_with(SUPER);
    let topic = unique_topic("authz-super");
    compat_tests::create_topic(&broker.bootstrap(), &topic, 1);

    let p = producer(&broker.bootstrap(), &[("enable.idempotence", "true")]);
    assert_eq!(produce_one(&p, &topic), None);

    let c = group_consumer(&broker, &unique_topic("authz-group"), &topic);
    assert_eq!(consume_or_error(&c, &[]), Ok(()));

    let t = producer(
        &broker.bootstrap(),
        &[("transactional.id", "authz-super-txn")],
    );
    t.init_transactions(CLIENT_TIMEOUT)
        .expect("init_transactions");
    t.begin_transaction().expect("begin");
    t.send(BaseRecord::<str, str, usize>::with_opaque_to(&topic, 1).payload("t"))
        .map_err(|(e, _)| e)
        .expect("enqueue");
    t.commit_transaction(CLIENT_TIMEOUT).expect("commit");
}

/// An ALLOW ACL for `principal` on a literal resource (resource type and operation by wire code).
fn allow(principal: &str, resource_type: i8, name: &str, operation: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(resource_type)
        .with_resource_name(str_bytes(name))
        .with_resource_pattern_type(3)
        .with_principal(str_bytes(principal))
        .with_host(str_bytes("*"))
        .with_operation(operation)
        .with_permission_type(3)
}

const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const TRANSACTIONAL_ID: i8 = 5;
const READ: i8 = 3;
const WRITE: i8 = 4;
const CREATE: i8 = 5;

/// With `allow_everyone_if_no_acl_found`, a resource nobody has an ACL for is open (so this plaintext client may
/// create ACLs: the cluster has none), and one with ACLs is open only to whom they name.
const OPEN_UNLESS_ACLS: &str = "authorizer_enabled: true\nallow_everyone_if_no_acl_found: true\n";
const ME: &str = "User:ANONYMOUS";
const SOMEONE_ELSE: &str = "User:someone-else";

#[test]
fn clients_get_exactly_what_the_acls_allow() {
    let broker = Broker::start_with(OPEN_UNLESS_ACLS);
    let (mine, theirs) = (unique_topic("authz-mine"), unique_topic("authz-theirs"));
    let (group, other_group) = (unique_topic("authz-g"), unique_topic("authz-other-g"));
    let acls = vec![
        allow(ME, TOPIC, &mine, CREATE),
        allow(ME, TOPIC, &mine, WRITE),
        allow(ME, TOPIC, &mine, READ),
        allow(SOMEONE_ELSE, TOPIC, &theirs, WRITE),
        allow(ME, GROUP, &group, READ),
        allow(SOMEONE_ELSE, GROUP, &other_group, READ),
        allow(ME, TRANSACTIONAL_ID, "authz-mine-txn", WRITE),
        allow(SOMEONE_ELSE, TRANSACTIONAL_ID, "authz-their-txn", WRITE),
    ];
    let mut raw = RawConn::connect(broker.addr());
    let created = raw.request(2, &CreateAclsRequest::default().with_creations(acls));
    for r in &created.results {
        assert_eq!(r.error_code, 0, "{:?}", r.error_message);
    }
    compat_tests::create_topic(&broker.bootstrap(), &mine, 1);

    let p = producer(&broker.bootstrap(), &[]);
    assert_eq!(produce_one(&p, &mine), None);
    let denied = producer(&broker.bootstrap(), &[]);
    assert_eq!(
        produce_one(&denied, &theirs),
        Some(RDKafkaErrorCode::TopicAuthorizationFailed)
    );

    let c = group_consumer(&broker, &group, &mine);
    assert_eq!(
        consume_or_error(&c, &[RDKafkaErrorCode::GroupAuthorizationFailed]),
        Ok(())
    );
    let other = group_consumer(&broker, &other_group, &mine);
    assert_eq!(
        consume_or_error(&other, &[RDKafkaErrorCode::GroupAuthorizationFailed]),
        Err(RDKafkaErrorCode::GroupAuthorizationFailed)
    );

    let t = producer(
        &broker.bootstrap(),
        &[("transactional.id", "authz-mine-txn")],
    );
    t.init_transactions(CLIENT_TIMEOUT)
        .expect("init_transactions of an allowed id");
    let u = producer(
        &broker.bootstrap(),
        &[("transactional.id", "authz-their-txn")],
    );
    let err = u
        .init_transactions(CLIENT_TIMEOUT)
        .expect_err("init_transactions of another id");
    assert_eq!(
        code(&err),
        RDKafkaErrorCode::TransactionalIdAuthorizationFailed,
        "{err:?}"
    );
}
