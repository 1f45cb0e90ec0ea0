//! The ACL APIs with an authorizer (CreateAcls, DescribeAcls, DeleteAcls v1-3), on the wire: creation, filters
//! (ANY, MATCH, exact pattern types, principal and host), deletion with filters, Kafka's errors for invalid
//! creations and filters, and ACLs surviving a restart and a kill -9 after the answer.
//!
//! The broker runs with the authorizer and `User:ANONYMOUS` (a plaintext client) as super user. Against Kafka
//! the shared broker may hold other tests' ACLs, so every test names its own resources. Kafka's broker applies
//! a created ACL a moment after CreateAcls answers (it comes back through the metadata log), so what a
//! describe should show is waited for, bounded.

use std::time::Duration;

use compat_tests::raw::{str_bytes, RawConn, Versions};
use compat_tests::{is_reference_kafka, unique_topic, wait_until, Broker};
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{
    ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest, DescribeAclsResponse,
};

const CONFIG: &str = "authorizer_enabled: true\nsuper_users: \"User:ANONYMOUS\"\n";

// The wire's codes (Kafka's ResourceType, PatternType, AclOperation, AclPermissionType).
const ANY: i8 = 1;
const MATCH: i8 = 2;
const LITERAL: i8 = 3;
const PREFIXED: i8 = 4;
const TOPIC: i8 = 2;
const GROUP: i8 = 3;
const CLUSTER: i8 = 4;
const READ: i8 = 3;
const WRITE: i8 = 4;
const ALTER: i8 = 7;
const DESCRIBE: i8 = 8;
const DENY: i8 = 2;
const ALLOW: i8 = 3;

const INVALID_REQUEST: i16 = 42;
const UNKNOWN_SERVER_ERROR: i16 = -1;
const WAIT: Duration = Duration::from_secs(15);

fn creation(rt: i8, name: &str, pt: i8, principal: &str, op: i8, perm: i8) -> AclCreation {
    AclCreation::default()
        .with_resource_type(rt)
        .with_resource_name(str_bytes(name))
        .with_resource_pattern_type(pt)
        .with_principal(str_bytes(principal))
        .with_host(str_bytes("*"))
        .with_operation(op)
        .with_permission_type(perm)
}

fn describe_any() -> DescribeAclsRequest {
    DescribeAclsRequest::default()
        .with_resource_type_filter(ANY)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(ANY)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

fn delete_any() -> DeleteAclsFilter {
    DeleteAclsFilter::default()
        .with_resource_type_filter(ANY)
        .with_resource_name_filter(None)
        .with_pattern_type_filter(ANY)
        .with_principal_filter(None)
        .with_host_filter(None)
        .with_operation(ANY)
        .with_permission_type(ANY)
}

/// Each creation's (error code, message), `None` for a success with no or an empty message.
fn create(conn: &mut RawConn, v: i16, creations: Vec<AclCreation>) -> Vec<(i16, Option<String>)> {
    let r = conn.request(v, &CreateAclsRequest::default().with_creations(creations));
    r.results
        .iter()
        .map(|r| {
            let message = r
                .error_message
                .as_ref()
                .map(|m| m.to_string())
                .filter(|m| !m.is_empty());
            (r.error_code, message)
        })
        .collect()
}

/// The bindings a describe returns, sorted: (resource type, name, pattern type, principal, operation, permission).
fn bindings(r: &DescribeAclsResponse) -> Vec<(i8, String, i8, String, i8, i8)> {
    assert_eq!(r.error_code, 0, "DescribeAcls: {:?}", r.error_message);
    let mut out: Vec<_> = r
        .resources
        .iter()
        .flat_map(|res| {
            res.acls.iter().map(move |a| {
                (
                    res.resource_type,
                    res.resource_name.to_string(),
                    res.pattern_type,
                    a.principal.to_string(),
                    a.operation,
                    a.permission_type,
                )
            })
        })
        .collect();
    out.sort();
    out
}

/// Describes until the answer is `expected` (bounded); returns the last answer.
fn describe_until(
    conn: &mut RawConn,
    v: i16,
    req: &DescribeAclsRequest,
    expected: &[(i8, String, i8, String, i8, i8)],
) -> Vec<(i8, String, i8, String, i8, i8)> {
    let mut last = Vec::new();
    wait_until(WAIT, || {
        last = bindings(&conn.request(v, req));
        last == expected
    });
    last
}

fn b(
    rt: i8,
    name: &str,
    pt: i8,
    principal: &str,
    op: i8,
    perm: i8,
) -> (i8, String, i8, String, i8, i8) {
    (rt, name.to_string(), pt, principal.to_string(), op, perm)
}

#[test]
fn create_describe_and_delete_with_filters() {
    let broker = Broker::start_with(CONFIG);
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    for v in 1..=3 {
        for key in [ApiKey::CreateAcls, ApiKey::DescribeAcls, ApiKey::DeleteAcls] {
            let (lo, hi) = versions.range(key).expect("ACL APIs advertised");
            assert!(lo <= v && v <= hi, "{key:?} v{v} not in {lo}..={hi}");
        }
        let t = unique_topic(&format!("acl-v{v}-"));
        let user = format!("User:{t}");
        let prefix = format!("{t}-pay-");
        let topic_in = format!("{t}-pay-in");
        let got = create(
            &mut conn,
            v,
            vec![
                creation(TOPIC, &topic_in, LITERAL, &user, READ, ALLOW),
                creation(TOPIC, &topic_in, LITERAL, "User:other", WRITE, DENY),
                creation(TOPIC, &prefix, PREFIXED, &user, WRITE, ALLOW),
                creation(GROUP, &t, LITERAL, &user, READ, ALLOW),
                creation(TOPIC, &topic_in, LITERAL, &user, READ, ALLOW),
            ],
        );
        assert_eq!(got, vec![(0, None); 5], "v{v}");

        // By principal: everything the user was given (the duplicate made once).
        let mine = describe_any().with_principal_filter(Some(str_bytes(&user)));
        let all_mine = vec![
            b(TOPIC, &topic_in, LITERAL, &user, READ, ALLOW),
            b(TOPIC, &prefix, PREFIXED, &user, WRITE, ALLOW),
            b(GROUP, &t, LITERAL, &user, READ, ALLOW),
        ];
        let mut sorted = all_mine.clone();
        sorted.sort();
        assert_eq!(describe_until(&mut conn, v, &mine, &sorted), sorted, "v{v}");

        // MATCH on a topic name: its literal bindings and the prefixes of it (any principal).
        let matching = describe_any()
            .with_resource_type_filter(TOPIC)
            .with_pattern_type_filter(MATCH)
            .with_resource_name_filter(Some(str_bytes(&topic_in)));
        let mut expected = vec![
            b(TOPIC, &topic_in, LITERAL, &user, READ, ALLOW),
            b(TOPIC, &topic_in, LITERAL, "User:other", WRITE, DENY),
            b(TOPIC, &prefix, PREFIXED, &user, WRITE, ALLOW),
        ];
        expected.sort();
        assert_eq!(
            bindings(&conn.request(v, &matching)),
            expected,
            "MATCH v{v}"
        );
        // A name with an exact pattern type: only that binding; LITERAL for the prefix's name: nothing.
        let exact = |pt: i8, name: &str| {
            describe_any()
                .with_pattern_type_filter(pt)
                .with_resource_name_filter(Some(str_bytes(name)))
        };
        assert_eq!(
            bindings(&conn.request(v, &exact(PREFIXED, &prefix))),
            vec![b(TOPIC, &prefix, PREFIXED, &user, WRITE, ALLOW)]
        );
        assert!(bindings(&conn.request(v, &exact(LITERAL, &prefix))).is_empty());
        // Resource type, operation and permission filters.
        let groups = mine.clone().with_resource_type_filter(GROUP);
        assert_eq!(
            bindings(&conn.request(v, &groups)),
            vec![b(GROUP, &t, LITERAL, &user, READ, ALLOW)]
        );
        let denies = exact(LITERAL, &topic_in).with_permission_type(DENY);
        assert_eq!(
            bindings(&conn.request(v, &denies)),
            vec![b(TOPIC, &topic_in, LITERAL, "User:other", WRITE, DENY)]
        );
        let writes = mine.clone().with_operation(WRITE);
        assert_eq!(
            bindings(&conn.request(v, &writes)),
            vec![b(TOPIC, &prefix, PREFIXED, &user, WRITE, ALLOW)]
        );
        assert!(bindings(&conn.request(
            v,
            &mine.clone().with_host_filter(Some(str_bytes("10.9.9.9")))
        ))
        .is_empty());
        // Grouped by resource pattern: one resource with both of the literal topic's bindings.
        let r = conn.request(v, &exact(LITERAL, &topic_in));
        assert_eq!(r.resources.len(), 1);
        assert_eq!(r.resources[0].acls.len(), 2);

        // Delete: a filter per binding kind; two filters matching one binding both list it.
        let r = conn.request(
            v,
            &DeleteAclsRequest::default().with_filters(vec![
                delete_any()
                    .with_resource_type_filter(TOPIC)
                    .with_pattern_type_filter(MATCH)
                    .with_resource_name_filter(Some(str_bytes(&topic_in)))
                    .with_principal_filter(Some(str_bytes(&user))),
                delete_any()
                    .with_pattern_type_filter(PREFIXED)
                    .with_resource_name_filter(Some(str_bytes(&prefix))),
                delete_any().with_resource_type_filter(99),
            ]),
        );
        let summary: Vec<(i16, usize)> = r
            .filter_results
            .iter()
            .map(|f| (f.error_code, f.matching_acls.len()))
            .collect();
        assert_eq!(
            summary,
            vec![(0, 2), (0, 1), (INVALID_REQUEST, 0)],
            "DeleteAcls v{v}"
        );
        assert_eq!(
            r.filter_results[2].error_message.as_deref(),
            Some("Unknown patternFilter.")
        );
        let deleted = &r.filter_results[1].matching_acls[0];
        assert_eq!(
            (
                deleted.resource_type,
                deleted.resource_name.as_str(),
                deleted.pattern_type,
                deleted.operation
            ),
            (TOPIC, prefix.as_str(), PREFIXED, WRITE)
        );
        let left = vec![b(GROUP, &t, LITERAL, &user, READ, ALLOW)];
        assert_eq!(
            describe_until(&mut conn, v, &mine, &left),
            left,
            "after delete v{v}"
        );
        let r = conn.request(
            v,
            &DeleteAclsRequest::default().with_filters(vec![
                delete_any().with_resource_name_filter(Some(str_bytes(&t))),
                delete_any().with_resource_name_filter(Some(str_bytes(&topic_in))),
            ]),
        );
        assert_eq!(r.filter_results[0].matching_acls.len(), 1);
        assert_eq!(
            r.filter_results[1].matching_acls.len(),
            1,
            "User:other's DENY"
        );
        assert_eq!(describe_until(&mut conn, v, &mine, &[]), vec![]);
    }
}

#[test]
fn invalid_creations_get_kafkas_errors() {
    let broker = Broker::start_with(CONFIG);
    let mut conn = RawConn::connect(broker.addr());
    let t = unique_topic("acl-invalid-");
    let user = format!("User:{t}");
    let invalid = |m: &str| (INVALID_REQUEST, Some(m.to_string()));
    let got = create(
        &mut conn,
        3,
        vec![
            creation(CLUSTER, "not-the-cluster", LITERAL, &user, ALTER, ALLOW),
            creation(TOPIC, "", LITERAL, &user, READ, ALLOW),
            creation(99, &t, LITERAL, &user, READ, ALLOW),
            creation(TOPIC, &t, 99, &user, READ, ALLOW),
            creation(TOPIC, &t, LITERAL, &user, 99, ALLOW),
            creation(TOPIC, &t, LITERAL, &user, READ, 99),
            creation(TOPIC, &t, LITERAL, "no-colon", READ, ALLOW),
            creation(TOPIC, &t, LITERAL, &user, READ, ALLOW).with_host(str_bytes("")),
            creation(CLUSTER, "kafka-cluster", LITERAL, &user, DESCRIBE, ALLOW),
        ],
    );
    assert_eq!(
        got,
        vec![
            invalid("The only valid name for the CLUSTER resource is kafka-cluster"),
            invalid("Invalid empty resource name"),
            invalid("Invalid resourceType UNKNOWN"),
            invalid("Invalid patternType UNKNOWN"),
            invalid("Invalid operation UNKNOWN"),
            invalid("Invalid permissionType UNKNOWN"),
            invalid("Could not parse principal from `no-colon` (no colon is present separating the principal type from the principal name)"),
            invalid("Host pattern cannot be null or empty"),
            (0, None),
        ]
    );
    // ANY (or MATCH) where a binding needs a value: the whole request fails and nothing is made.
    for bad in [
        creation(ANY, &t, LITERAL, &user, READ, ALLOW),
        creation(TOPIC, &t, MATCH, &user, READ, ALLOW),
        creation(TOPIC, &t, ANY, &user, READ, ALLOW),
        creation(TOPIC, &t, LITERAL, &user, ANY, ALLOW),
        creation(TOPIC, &t, LITERAL, &user, READ, ANY),
    ] {
        let got = create(
            &mut conn,
            3,
            vec![creation(TOPIC, &t, LITERAL, &user, WRITE, ALLOW), bad],
        );
        assert_eq!(got, vec![(UNKNOWN_SERVER_ERROR, None); 2]);
    }
    let mine = describe_any().with_principal_filter(Some(str_bytes(&user)));
    let expected = vec![b(CLUSTER, "kafka-cluster", LITERAL, &user, DESCRIBE, ALLOW)];
    assert_eq!(describe_until(&mut conn, 3, &mine, &expected), expected);
    let r = conn.request(
        3,
        &DeleteAclsRequest::default().with_filters(vec![
            delete_any().with_principal_filter(Some(str_bytes(&user)))
        ]),
    );
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
}

#[test]
fn an_unknown_code_closes_the_connection() {
    let broker = Broker::start_with(CONFIG);
    let t = unique_topic("acl-unknown-");
    for unknown in 0..4 {
        let mut c = creation(TOPIC, &t, LITERAL, "User:x", READ, ALLOW);
        match unknown {
            0 => c.resource_type = 0,
            1 => c.resource_pattern_type = 0,
            2 => c.operation = 0,
            _ => c.permission_type = 0,
        }
        let mut conn = RawConn::connect(broker.addr());
        conn.send_request(3, &CreateAclsRequest::default().with_creations(vec![c]));
        conn.expect_closed(WAIT)
            .unwrap_or_else(|e| panic!("CreateAcls field {unknown}: {e}"));
    }
    let mut conn = RawConn::connect(broker.addr());
    conn.send_request(3, &describe_any().with_operation(0));
    conn.expect_closed(WAIT)
        .expect("DescribeAcls with an UNKNOWN operation");
    let mut conn = RawConn::connect(broker.addr());
    conn.send_request(
        3,
        &DeleteAclsRequest::default().with_filters(vec![delete_any().with_resource_type_filter(0)]),
    );
    conn.expect_closed(WAIT)
        .expect("DeleteAcls with an UNKNOWN resource type");
    // Codes Kafka does not know are no reason to close: a describe with them matches nothing.
    let mut conn = RawConn::connect(broker.addr());
    let r = conn.request(3, &describe_any().with_resource_type_filter(99));
    assert_eq!((r.error_code, r.resources.len()), (0, 0));
}

#[test]
fn acls_survive_a_restart_and_a_kill() {
    let mut broker = Broker::start_own_with(CONFIG);
    let user = "User:durable";
    let mine = describe_any().with_principal_filter(Some(str_bytes(user)));
    let mut conn = RawConn::connect(broker.addr());
    let got = create(
        &mut conn,
        3,
        vec![
            creation(TOPIC, "kept", LITERAL, user, READ, ALLOW),
            creation(TOPIC, "gone", PREFIXED, user, WRITE, DENY),
        ],
    );
    assert_eq!(got, vec![(0, None); 2]);
    let both = vec![
        b(TOPIC, "gone", PREFIXED, user, WRITE, DENY),
        b(TOPIC, "kept", LITERAL, user, READ, ALLOW),
    ];
    assert_eq!(describe_until(&mut conn, 3, &mine, &both), both);
    drop(conn);
    broker.restart();
    let mut conn = RawConn::connect(broker.addr());
    assert_eq!(
        describe_until(&mut conn, 3, &mine, &both),
        both,
        "after a restart"
    );

    // Answered means durable: a kill -9 right after the answers loses neither a creation nor a deletion.
    let got = create(
        &mut conn,
        3,
        vec![creation(GROUP, "g", LITERAL, user, READ, ALLOW)],
    );
    assert_eq!(got, vec![(0, None)]);
    let r = conn.request(
        3,
        &DeleteAclsRequest::default().with_filters(vec![delete_any()
            .with_resource_name_filter(Some(str_bytes("gone")))
            .with_principal_filter(Some(str_bytes(user)))]),
    );
    assert_eq!(r.filter_results[0].matching_acls.len(), 1);
    drop(conn);
    broker.kill9();
    broker.start_again();
    let mut conn = RawConn::connect(broker.addr());
    let after = vec![
        b(TOPIC, "kept", LITERAL, user, READ, ALLOW),
        b(GROUP, "g", LITERAL, user, READ, ALLOW),
    ];
    assert_eq!(
        describe_until(&mut conn, 3, &mine, &after),
        after,
        "after a kill -9"
    );
}

/// Sluice's `max_acls` (Kafka has no such bound).
#[test]
fn max_acls_bounds_the_bindings() {
    if is_reference_kafka() {
        return;
    }
    let broker = Broker::start_own_with(&format!("{CONFIG}max_acls: 2\n"));
    let mut conn = RawConn::connect(broker.addr());
    let got = create(
        &mut conn,
        3,
        vec![
            creation(TOPIC, "a", LITERAL, "User:x", READ, ALLOW),
            creation(TOPIC, "b", LITERAL, "User:x", READ, ALLOW),
            creation(TOPIC, "c", LITERAL, "User:x", READ, ALLOW),
        ],
    );
    let codes: Vec<i16> = got.iter().map(|g| g.0).collect();
    assert_eq!(
        codes,
        vec![0, 0, 44],
        "POLICY_VIOLATION past max_acls: {got:?}"
    );
    assert_eq!(bindings(&conn.request(3, &describe_any())).len(), 2);
}
