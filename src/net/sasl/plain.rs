//! SASL/PLAIN (RFC 4616) against `sasl_plain_users`, as Kafka's `PlainSaslServer` with its JAAS
//! `user_NAME` options: one token `[authzid] NUL user NUL password`, one answer.

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{Failure, Step};
use crate::config::Config;

pub fn authenticate(config: &Config, token: &[u8]) -> Result<Step, Failure> {
    // As Java's `new String(bytes, UTF_8)`: invalid sequences become U+FFFD and then fail to match.
    let text = String::from_utf8_lossy(token);
    let parts: Vec<&str> = text.split('\0').collect();
    let [authzid, user, password] = parts[..] else {
        return Err(Failure::told(format!(
            "Invalid SASL/PLAIN response: expected 3 tokens, got {}",
            parts.len()
        )));
    };
    if user.is_empty() {
        return Err(Failure::told(
            "Authentication failed: username not specified",
        ));
    }
    if password.is_empty() {
        return Err(Failure::told(
            "Authentication failed: password not specified",
        ));
    }
    // Digests of both sides, compared in constant time: neither the password nor its length
    // shows in how long a wrong guess takes.
    let expected = config.sasl_plain_users.get(user);
    let given = Sha256::digest(password.as_bytes());
    let matches = match expected {
        Some(p) => bool::from(Sha256::digest(p.as_bytes()).ct_eq(&given)),
        None => false,
    };
    if !matches {
        return Err(
            Failure::told("Authentication failed: Invalid username or password").because(
                if expected.is_none() {
                    "unknown user"
                } else {
                    "wrong password"
                },
            ),
        );
    }
    if !authzid.is_empty() && authzid != user {
        return Err(Failure::told(
            "Authentication failed: Client requested an authorization id that is different from username",
        ));
    }
    Ok(Step::Done {
        user: user.to_string(),
        reply: Vec::new(),
        expires_at_ms: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> Config {
        Config {
            sasl_plain_users: [("alice".to_string(), "secret".to_string())].into(),
            ..Config::default()
        }
    }

    fn message(r: Result<Step, Failure>) -> String {
        match r {
            Err(f) => f.message.unwrap_or_default(),
            Ok(_) => "ok".to_string(),
        }
    }

    #[test]
    fn checks_user_password_and_authzid() {
        let c = config();
        assert!(matches!(
            authenticate(&c, b"\0alice\0secret"),
            Ok(Step::Done { ref user, .. }) if user == "alice"
        ));
        assert!(authenticate(&c, b"alice\0alice\0secret").is_ok());
        assert_eq!(
            message(authenticate(&c, b"\0alice\0wrong")),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            message(authenticate(&c, b"\0bob\0secret")),
            "Authentication failed: Invalid username or password"
        );
        assert_eq!(
            message(authenticate(&c, b"bob\0alice\0secret")),
            "Authentication failed: Client requested an authorization id that is different from username"
        );
        assert_eq!(
            message(authenticate(&c, b"alice\0secret")),
            "Invalid SASL/PLAIN response: expected 3 tokens, got 2"
        );
        assert_eq!(
            message(authenticate(&c, b"\0\0x")),
            "Authentication failed: username not specified"
        );
    }
}
