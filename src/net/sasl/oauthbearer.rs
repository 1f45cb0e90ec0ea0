//! SASL/OAUTHBEARER (RFC 7628) with Kafka's default, unsecured token validation
//! (`OAuthBearerUnsecuredValidatorCallbackHandler`): the token is an unsigned JWS (`alg` "none"),
//! its principal the `sasl_oauthbearer_sub_claim_name` claim, valid until its `exp`. A token that
//! does not validate is answered, as RFC 7628 and Kafka do, with an error challenge
//! (`{"status":"invalid_token"}`); the client acknowledges it with a single %x01 and the exchange
//! then fails.

use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use base64::Engine;
use serde_json::{Map, Value};

use super::{Failure, Step};
use crate::config::Config;

pub struct OAuthBearerServer {
    /// The error challenge sent, once a token did not validate.
    error_sent: Option<String>,
}

impl OAuthBearerServer {
    pub fn new() -> OAuthBearerServer {
        OAuthBearerServer { error_sent: None }
    }

    pub fn step(&mut self, config: &Config, token: &[u8], now_ms: i64) -> Result<Step, Failure> {
        if let Some(error) = self.error_sent.take() {
            if token == [0x01] {
                return Err(Failure::told(error));
            }
        }
        let first = parse_initial_response(token).map_err(Failure::hidden)?;
        let claims = match validate_unsecured(config, &first.token, now_ms) {
            Ok(c) => c,
            Err(why) => {
                tracing::debug!(%why, "OAUTHBEARER token refused");
                let error = r#"{"status":"invalid_token"}"#.to_string();
                self.error_sent = Some(error.clone());
                return Ok(Step::Challenge(error.into_bytes()));
            }
        };
        if !first.authzid.is_empty() && first.authzid != claims.principal {
            return Err(Failure::told(format!(
                "Authentication failed: Client requested an authorization id ({}) that is different from the token's principal name ({})",
                first.authzid, claims.principal
            )));
        }
        Ok(Step::Done {
            user: claims.principal,
            reply: Vec::new(),
            expires_at_ms: Some(claims.expires_at_ms),
        })
    }
}

struct InitialResponse {
    authzid: String,
    token: String,
}

/// Parses `n,[a=authzid],%x01auth=Bearer TOKEN%x01[key=value%x01]*%x01`; extensions are accepted
/// and, as with Kafka's unsecured validator, not used.
fn parse_initial_response(bytes: &[u8]) -> Result<InitialResponse, String> {
    let bad = || "Invalid OAUTHBEARER client first message".to_string();
    let text = std::str::from_utf8(bytes).map_err(|_| bad())?;
    let rest = text.strip_prefix("n,").ok_or_else(bad)?;
    let (authzid, rest) = rest.split_once(',').ok_or_else(bad)?;
    let authzid = match authzid {
        "" => "",
        a => a
            .strip_prefix("a=")
            .filter(|a| !a.is_empty())
            .ok_or_else(bad)?,
    };
    let pairs = rest
        .strip_prefix('\x01')
        .and_then(|r| r.strip_suffix('\x01'))
        .ok_or_else(bad)?;
    let mut auth = None;
    for pair in pairs.split_terminator('\x01') {
        let (k, v) = pair.split_once('=').ok_or_else(bad)?;
        let value_ok = !v.is_empty()
            && v.bytes()
                .all(|b| (0x21..=0x7e).contains(&b) || b" \t\r\n".contains(&b));
        if k.is_empty() || !k.bytes().all(|b| b.is_ascii_alphabetic()) || !value_ok {
            return Err(bad());
        }
        if k == "auth" {
            auth = Some(v);
        }
    }
    if !pairs.is_empty() && !pairs.ends_with('\x01') {
        return Err(bad());
    }
    let auth =
        auth.ok_or_else(|| "Invalid OAUTHBEARER client first message: no auth".to_string())?;
    let (scheme, token) = auth.split_once(' ').ok_or_else(bad)?;
    let token = token.trim_start_matches(' ');
    if !scheme.eq_ignore_ascii_case("bearer") {
        return Err(format!(
            "Invalid scheme in OAUTHBEARER client first message: {scheme}"
        ));
    }
    if token.is_empty() {
        return Err(bad());
    }
    Ok(InitialResponse {
        authzid: authzid.to_string(),
        token: token.to_string(),
    })
}

struct Claims {
    principal: String,
    expires_at_ms: i64,
}

/// Kafka's unsecured JWS rules: three dot-separated parts, the last empty; header and payload
/// base64url JSON objects; `alg` "none"; the principal claim a non-empty string; `exp` a number
/// of seconds, not past; `iat`, if present, a number before `exp`.
fn validate_unsecured(config: &Config, token: &str, now_ms: i64) -> Result<Claims, String> {
    let parts: Vec<&str> = token.split('.').collect();
    let [header, payload, signature] = parts[..] else {
        return Err("not three dot-separated parts".to_string());
    };
    if !signature.is_empty() {
        return Err("an unsecured JWS must have an empty signature".to_string());
    }
    let header = json_object(header)?;
    if header.get("alg").and_then(Value::as_str) != Some("none") {
        return Err("the header's alg is not \"none\"".to_string());
    }
    let claims = json_object(payload)?;
    let claim = &config.sasl_oauthbearer_sub_claim_name;
    let principal = claims
        .get(claim)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("no {claim} claim"))?;
    let exp = claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or("no exp claim")?;
    let expires_at_ms = (exp * 1000.0) as i64;
    if now_ms >= expires_at_ms {
        return Err(format!("expired at {expires_at_ms} ms"));
    }
    if let Some(iat) = claims.get("iat") {
        let iat = iat.as_f64().ok_or("iat is not a number")?;
        if iat >= exp {
            return Err("iat is not before exp".to_string());
        }
    }
    Ok(Claims {
        principal: principal.to_string(),
        expires_at_ms,
    })
}

fn json_object(part: &str) -> Result<Map<String, Value>, String> {
    let bytes = B64URL
        .decode(part.trim_end_matches('='))
        .map_err(|e| format!("not base64url: {e}"))?;
    match serde_json::from_slice(&bytes) {
        Ok(Value::Object(m)) => Ok(m),
        Ok(_) => Err("not a JSON object".to_string()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub fn unsecured_token(claims: &str) -> String {
        format!(
            "{}.{}.",
            B64URL.encode(r#"{"alg":"none"}"#),
            B64URL.encode(claims)
        )
    }

    fn first(token: &str) -> Vec<u8> {
        format!("n,,\x01auth=Bearer {token}\x01\x01").into_bytes()
    }

    #[test]
    fn a_valid_token_authenticates_its_subject_until_exp() {
        let c = Config::default();
        let token = unsecured_token(r#"{"sub":"alice","exp":2000,"iat":1000}"#);
        let mut s = OAuthBearerServer::new();
        match s.step(&c, &first(&token), 1_500_000) {
            Ok(Step::Done {
                user,
                expires_at_ms,
                ..
            }) => {
                assert_eq!(user, "alice");
                assert_eq!(expires_at_ms, Some(2_000_000));
            }
            _ => panic!("refused"),
        }
        let with_ext = format!("n,a=alice,\x01auth=Bearer {token}\x01traceId=123\x01\x01");
        assert!(matches!(
            OAuthBearerServer::new().step(&c, with_ext.as_bytes(), 0),
            Ok(Step::Done { .. })
        ));
        let other = format!("n,a=bob,\x01auth=Bearer {token}\x01\x01");
        assert!(OAuthBearerServer::new()
            .step(&c, other.as_bytes(), 0)
            .is_err());
    }

    #[test]
    fn an_invalid_token_gets_the_error_challenge_then_fails() {
        let c = Config::default();
        for token in [
            unsecured_token(r#"{"sub":"alice","exp":1}"#),
            unsecured_token(r#"{"sub":"alice"}"#),
            unsecured_token(r#"{"exp":9999999999}"#),
            unsecured_token("[]"),
            format!("{}.x", unsecured_token(r#"{"sub":"a","exp":9999999999}"#)),
            "abc".to_string(),
        ] {
            let mut s = OAuthBearerServer::new();
            match s.step(&c, &first(&token), 1_500_000) {
                Ok(Step::Challenge(b)) => assert_eq!(b, br#"{"status":"invalid_token"}"#),
                _ => panic!("{token}: no error challenge"),
            }
            match s.step(&c, &[1], 1_500_000) {
                Err(f) => assert_eq!(f.message.unwrap(), r#"{"status":"invalid_token"}"#),
                _ => panic!("{token}: did not fail"),
            }
        }
    }

    #[test]
    fn malformed_first_messages_fail() {
        let c = Config::default();
        for bad in [
            &b""[..],
            b"\x01",
            b"n,,auth=Bearer x\x01\x01",
            b"n,,\x01auth=Basic x\x01\x01",
            b"n,,\x01\x01",
            b"n,,\x01auth=Bearer x\x01",
            b"y,,\x01auth=Bearer x\x01\x01",
        ] {
            assert!(
                OAuthBearerServer::new().step(&c, bad, 0).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}
