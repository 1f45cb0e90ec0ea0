//! The cluster APIs a single Kafka node answers that Sluice did not offer (#14 items 17 and 19),
//! starting with the ACL APIs without an authorizer. Each is sent over a raw connection at the
//! lowest and the highest version the broker advertises, and the answers compared with what
//! Kafka 4.4 sends: the same test passes against both.

use compat_tests::raw::{str_bytes, RawConn, Versions};
use compat_tests::Broker;
use kafka_protocol::messages::create_acls_request::AclCreation;
use kafka_protocol::messages::delete_acls_request::DeleteAclsFilter;
use kafka_protocol::messages::{ApiKey, CreateAclsRequest, DeleteAclsRequest, DescribeAclsRequest};

const SECURITY_DISABLED: i16 = 54;

/// The lowest and the highest advertised version of `key` (once if they are the same).
fn ends(versions: &Versions, key: ApiKey) -> Vec<i16> {
    let (lo, hi) = versions
        .range(key)
        .unwrap_or_else(|| panic!("{key:?} is not advertised"));
    if lo == hi {
        vec![lo]
    } else {
        vec![lo, hi]
    }
}

#[test]
fn every_api_is_advertised_at_kafkas_versions() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    // What Kafka 4.4.0 advertises on a single KRaft node.
    for (key, range) in [
        (ApiKey::DescribeAcls, (1, 3)),
        (ApiKey::CreateAcls, (1, 3)),
        (ApiKey::DeleteAcls, (1, 3)),
    ] {
        assert_eq!(versions.range(key), Some(range), "{key:?}");
    }
}

#[test]
fn acl_apis_answer_security_disabled_without_an_authorizer() {
    let broker = Broker::start();
    let versions = Versions::fetch(broker.addr());
    let mut conn = RawConn::connect(broker.addr());
    // ANY (1) for every filter field; a LITERAL (3) TOPIC (2) ALLOW (3) READ (3) binding to create.
    for v in ends(&versions, ApiKey::DescribeAcls) {
        let r = conn.request(
            v,
            &DescribeAclsRequest::default()
                .with_resource_type_filter(1)
                .with_pattern_type_filter(1)
                .with_operation(1)
                .with_permission_type(1),
        );
        assert_eq!(r.error_code, SECURITY_DISABLED, "DescribeAcls v{v}");
        assert_eq!(
            r.error_message.as_deref(),
            Some("No Authorizer is configured on the broker"),
            "DescribeAcls v{v}"
        );
        assert!(r.resources.is_empty());
    }
    for v in ends(&versions, ApiKey::CreateAcls) {
        let creation = AclCreation::default()
            .with_resource_type(2)
            .with_resource_name(str_bytes("t"))
            .with_resource_pattern_type(3)
            .with_principal(str_bytes("User:alice"))
            .with_host(str_bytes("*"))
            .with_operation(3)
            .with_permission_type(3);
        let r = conn.request(
            v,
            &CreateAclsRequest::default().with_creations(vec![creation.clone(), creation]),
        );
        assert_eq!(r.results.len(), 2, "CreateAcls v{v}");
        for result in &r.results {
            assert_eq!(result.error_code, SECURITY_DISABLED, "CreateAcls v{v}");
            assert_eq!(
                result.error_message.as_deref(),
                Some("No Authorizer is configured.")
            );
        }
    }
    for v in ends(&versions, ApiKey::DeleteAcls) {
        let filter = DeleteAclsFilter::default()
            .with_resource_type_filter(1)
            .with_pattern_type_filter(1)
            .with_operation(1)
            .with_permission_type(1);
        let r = conn.request(v, &DeleteAclsRequest::default().with_filters(vec![filter]));
        assert_eq!(r.filter_results.len(), 1, "DeleteAcls v{v}");
        let f = &r.filter_results[0];
        assert_eq!(f.error_code, SECURITY_DISABLED, "DeleteAcls v{v}");
        assert_eq!(
            f.error_message.as_deref(),
            Some("No Authorizer is configured.")
        );
        assert!(f.matching_acls.is_empty());
    }
}
