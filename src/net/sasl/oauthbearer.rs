//! SASL/OAUTHBEARER (RFC 7628) with Kafka's default, unsecured token validation
//! (`OAuthBearerUnsecuredValidatorCallbackHandler`): the token is an unsigned JWS (`alg` "none"),
//! its principal the `sasl_oauthbearer_sub_claim_name` claim, valid until its `exp`. A token that
//! does not validate is answered, as RFC 7628 and Kafka do, with an error challenge
//! (`{"status":"invalid_token"}`); the client acknowledges it with a single %x01 and the exchange
//! then fails. With `sasl_oauthbearer_jwks_endpoint_url` set, tokens must instead be JWTs signed by
//! a key of that JSON Web Key Set and valid (expiry, and audience and issuer when configured), as
//! Kafka's validating `OAuthBearerValidatorCallbackHandler`.

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
        let validated = match &config.sasl_oauthbearer_jwks_endpoint_url {
            Some(url) => validate_signed(config, url, &first.token).map_err(Refused::Invalid),
            None => validate_unsecured(config, &first.token, now_ms),
        };
        let claims = match validated {
            Ok(c) => c,
            Err(Refused::Scope(missing)) => {
                tracing::debug!(?missing, "OAUTHBEARER token lacks required scope");
                let error = format!(
                    r#"{{"status":"insufficient_scope", "scope":"[{}]"}}"#,
                    missing.join(", ")
                );
                self.error_sent = Some(error.clone());
                return Ok(Step::Challenge(error.into_bytes()));
            }
            Err(Refused::Invalid(why)) => {
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

/// Why a token was refused: it is invalid, or lacks these required scopes.
enum Refused {
    Invalid(String),
    Scope(Vec<String>),
}

struct Claims {
    principal: String,
    expires_at_ms: i64,
}

/// Kafka's unsecured JWS rules: three dot-separated parts, the last empty; header and payload
/// base64url JSON objects; `alg` "none"; the principal claim a non-empty string; `exp` a number
/// of seconds, not past; `iat`, if present, a number before `exp`.
fn validate_unsecured(config: &Config, token: &str, now_ms: i64) -> Result<Claims, Refused> {
    let claims = unsecured_claims(config, token, now_ms).map_err(Refused::Invalid)?;
    let required: Vec<&str> = config
        .sasl_oauthbearer_unsecured_required_scope
        .split_whitespace()
        .collect();
    if !required.is_empty() {
        let granted: Vec<&str> = match claims.scope.as_ref() {
            Some(Value::String(s)) => s.split_whitespace().collect(),
            Some(Value::Array(a)) => a.iter().filter_map(Value::as_str).collect(),
            _ => Vec::new(),
        };
        let missing: Vec<String> = required
            .iter()
            .filter(|r| !granted.contains(r))
            .map(|r| r.to_string())
            .collect();
        if !missing.is_empty() {
            return Err(Refused::Scope(missing));
        }
    }
    Ok(Claims {
        principal: claims.principal,
        expires_at_ms: claims.expires_at_ms,
    })
}

struct UnsecuredClaims {
    principal: String,
    expires_at_ms: i64,
    scope: Option<Value>,
}

fn unsecured_claims(config: &Config, token: &str, now_ms: i64) -> Result<UnsecuredClaims, String> {
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
    Ok(UnsecuredClaims {
        principal: principal.to_string(),
        expires_at_ms,
        scope: claims.get("scope").cloned(),
    })
}

/// The key set of a `file://` JWKS URL.
pub fn load_jwks(url: &str) -> Result<jsonwebtoken::jwk::JwkSet, String> {
    let path = url
        .strip_prefix("file://")
        .ok_or_else(|| format!("{url:?}: only file:// URLs are supported"))?;
    let text = std::fs::read(path).map_err(|e| format!("reading {path}: {e}"))?;
    serde_json::from_slice(&text).map_err(|e| format!("{path} is not a JWKS: {e}"))
}

/// Kafka's clock skew allowance for signed tokens (`sasl.oauthbearer.clock.skew.seconds`).
const CLOCK_SKEW_SECONDS: u64 = 30;

/// A JWT signed by a key of the JWKS at `url` (picked by the token's `kid`, or the set's only key),
/// with an `exp` not past and the principal claim; `aud` and `iss` as configured.
fn validate_signed(config: &Config, url: &str, token: &str) -> Result<Claims, String> {
    use jsonwebtoken::{decode, decode_header, DecodingKey, Validation};
    let jwks = load_jwks(url)?;
    let header = decode_header(token).map_err(|e| format!("bad JWT header: {e}"))?;
    let jwk = match &header.kid {
        Some(kid) => jwks
            .find(kid)
            .ok_or_else(|| format!("no key {kid:?} in the JWKS"))?,
        None if jwks.keys.len() == 1 => &jwks.keys[0],
        None => return Err("the token names no key (kid) and the JWKS has several".to_string()),
    };
    let key = DecodingKey::from_jwk(jwk).map_err(|e| format!("unusable JWK: {e}"))?;
    let mut validation = Validation::new(header.alg);
    validation.leeway = CLOCK_SKEW_SECONDS;
    validation.set_required_spec_claims(&["exp"]);
    match &config.sasl_oauthbearer_expected_audience {
        Some(aud) => {
            let audiences: Vec<&str> = aud
                .split(',')
                .map(str::trim)
                .filter(|a| !a.is_empty())
                .collect();
            validation.set_audience(&audiences);
        }
        None => validation.validate_aud = false,
    }
    if let Some(iss) = &config.sasl_oauthbearer_expected_issuer {
        validation.set_issuer(&[iss]);
    }
    let data = decode::<Map<String, Value>>(token, &key, &validation)
        .map_err(|e| format!("invalid JWT: {e}"))?;
    let claim = &config.sasl_oauthbearer_sub_claim_name;
    let principal = data
        .claims
        .get(claim)
        .and_then(Value::as_str)
        .filter(|s| !s.trim().is_empty())
        .ok_or_else(|| format!("no {claim} claim"))?;
    let exp = data
        .claims
        .get("exp")
        .and_then(Value::as_f64)
        .ok_or("no exp claim")?;
    Ok(Claims {
        principal: principal.to_string(),
        expires_at_ms: (exp * 1000.0) as i64,
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

    fn now_ms() -> i64 {
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64
    }

    fn signed(claims: &Value, kid: &str) -> String {
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(include_bytes!("testdata/rsa.pem")).unwrap();
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.to_string());
        jsonwebtoken::encode(&header, claims, &key).unwrap()
    }

    fn jwks_config() -> Config {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/src/net/sasl/testdata/jwks.json"
        );
        Config {
            sasl_oauthbearer_jwks_endpoint_url: Some(format!("file://{path}")),
            sasl_oauthbearer_expected_audience: Some("kafka, other".to_string()),
            sasl_oauthbearer_expected_issuer: Some("https://issuer".to_string()),
            ..Config::default()
        }
    }

    fn outcome(c: &Config, token: &str) -> Option<String> {
        let now_ms = now_ms();
        match OAuthBearerServer::new().step(c, &first(token), now_ms) {
            Ok(Step::Done { user, .. }) => Some(user),
            _ => None,
        }
    }

    #[test]
    fn with_a_jwks_only_valid_signed_tokens_authenticate() {
        let c = jwks_config();
        let exp = now_ms() / 1000 + 3600;
        let good =
            serde_json::json!({"sub": "svc", "exp": exp, "aud": "kafka", "iss": "https://issuer"});
        assert_eq!(
            outcome(&c, &signed(&good, "test-key")).as_deref(),
            Some("svc")
        );
        let mut wrong_aud = good.clone();
        wrong_aud["aud"] = "elsewhere".into();
        let mut wrong_iss = good.clone();
        wrong_iss["iss"] = "https://evil".into();
        let mut expired = good.clone();
        expired["exp"] = (exp - 7200).into();
        for bad in [
            signed(&wrong_aud, "test-key"),
            signed(&wrong_iss, "test-key"),
            signed(&expired, "test-key"),
            signed(&good, "unknown-key"),
            unsecured_token(&good.to_string()),
        ] {
            assert_eq!(outcome(&c, &bad), None, "{bad}");
        }
        // Tampered: the payload of another token under this signature.
        let t = signed(&good, "test-key");
        let parts: Vec<&str> = t.split('.').collect();
        let other = signed(&wrong_aud, "test-key");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            other.split('.').nth(1).unwrap(),
            parts[2]
        );
        assert_eq!(outcome(&c, &forged), None);
        assert!(load_jwks("https://example.com/jwks").is_err());
    }

    #[test]
    fn a_required_scope_is_checked() {
        let c = Config {
            sasl_oauthbearer_unsecured_required_scope: "read write".to_string(),
            ..Config::default()
        };
        let ok = [
            unsecured_token(r#"{"sub":"a","exp":9999999999,"scope":"write other read"}"#),
            unsecured_token(r#"{"sub":"a","exp":9999999999,"scope":["read","write"]}"#),
        ];
        for t in ok {
            assert!(matches!(
                OAuthBearerServer::new().step(&c, &first(&t), 0),
                Ok(Step::Done { .. })
            ));
        }
        let t = unsecured_token(r#"{"sub":"a","exp":9999999999,"scope":"read"}"#);
        let mut s = OAuthBearerServer::new();
        match s.step(&c, &first(&t), 0) {
            Ok(Step::Challenge(b)) => assert_eq!(
                String::from_utf8(b).unwrap(),
                r#"{"status":"insufficient_scope", "scope":"[write]"}"#
            ),
            _ => panic!("no insufficient_scope challenge"),
        }
        assert!(s.step(&c, &[1], 0).is_err());
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
