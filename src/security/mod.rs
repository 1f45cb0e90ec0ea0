//! Who a connection is and what it may do: the principal a connection authenticated as, and the
//! session the network layer hands to every handler with it. TLS and SASL (in `net`) establish the
//! principal; the authorizer checks it against the ACLs.

pub mod acl;
pub mod scram;
pub mod ssl;

use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use crate::broker::ListenerInfo;

/// Kafka's `KafkaPrincipal`: a type (always `User` for what Sluice authenticates) and a name,
/// written `User:alice` in ACLs and `super_users`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Principal {
    pub principal_type: String,
    pub name: String,
}

impl Principal {
    pub const USER_TYPE: &'static str = "User";

    pub fn user(name: impl Into<String>) -> Principal {
        Principal {
            principal_type: Principal::USER_TYPE.to_string(),
            name: name.into(),
        }
    }

    /// The principal of a connection that did not authenticate (PLAINTEXT, or SSL without a
    /// client certificate): `User:ANONYMOUS`, as in Kafka.
    pub fn anonymous() -> Principal {
        Principal::user("ANONYMOUS")
    }

    /// Parses `Type:name`; the name may itself contain ':'.
    pub fn parse(s: &str) -> Option<Principal> {
        let (kind, name) = s.split_once(':')?;
        (!kind.is_empty()).then(|| Principal {
            principal_type: kind.to_string(),
            name: name.to_string(),
        })
    }
}

impl fmt::Display for Principal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.principal_type, self.name)
    }
}

/// What the network layer knows about the client behind a request.
#[derive(Debug, Clone)]
pub struct Session {
    pub principal: Principal,
    /// The listener the client connected through: Metadata answers with its advertised address.
    pub listener: Arc<ListenerInfo>,
    pub client_address: IpAddr,
}

impl Session {
    /// A session before (or without) authentication.
    pub fn anonymous(listener: Arc<ListenerInfo>, client_address: IpAddr) -> Session {
        Session {
            principal: Principal::anonymous(),
            listener,
            client_address,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn principals_parse_and_print_as_kafka_writes_them() {
        let p = Principal::parse("User:CN=a,O=b:c").unwrap();
        assert_eq!(p.principal_type, "User");
        assert_eq!(p.name, "CN=a,O=b:c");
        assert_eq!(p.to_string(), "User:CN=a,O=b:c");
        assert_eq!(Principal::parse("alice"), None);
        assert_eq!(Principal::parse(":alice"), None);
        assert_eq!(Principal::anonymous().to_string(), "User:ANONYMOUS");
    }
}
