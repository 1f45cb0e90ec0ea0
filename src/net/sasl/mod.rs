//! SASL authentication on SASL_PLAINTEXT and SASL_SSL listeners, as Kafka's
//! `SaslServerAuthenticator`: a per-connection state machine the read loop consults for every
//! request, on Kafka-framed SaslHandshake v1 and SaslAuthenticate tokens, whatever the transport.
//!
//! Before authentication only ApiVersions, SaslHandshake and SaslAuthenticate are served, and a
//! frame may be at most [`MAX_RECEIVE_BYTES`] (Kafka's `sasl.server.max.receive.size`); anything
//! else closes the connection. A failed authentication is answered with Kafka's error and message,
//! after [`FAILED_AUTHENTICATION_DELAY`], and the connection closes. KIP-368: a session lasts at
//! most `connections_max_reauth_ms` (and no longer than an OAUTHBEARER token); the client
//! re-authenticates on the same connection as the same principal, and a request after the session
//! expired closes it.
//!
//! On other listeners, and once authenticated, the SASL requests reach their handlers in
//! `api::sasl`, which answer ILLEGAL_SASL_STATE as Kafka's request handlers do.

mod oauthbearer;
mod plain;
mod scram;

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{
    ApiKey, RequestKind, ResponseKind, SaslAuthenticateResponse, SaslHandshakeResponse,
};
use tokio::time::Instant;

pub use oauthbearer::load_jwks;

use crate::api::str_bytes;
use crate::broker::Broker;
use crate::security::scram::ScramMechanism;
use crate::security::{Principal, Session};

/// Kafka's `sasl.server.max.receive.size`: the largest frame read before authentication.
pub const MAX_RECEIVE_BYTES: usize = 524_288;

/// Kafka's `connection.failed.authentication.delay.ms` default: a failed client waits this long
/// for its answer, which slows down guessing.
pub const FAILED_AUTHENTICATION_DELAY: Duration = Duration::from_millis(100);

/// Kafka's `MIN_REAUTH_INTERVAL_ONE_SECOND_NANOS`: re-authentications begin at most this often.
const MIN_REAUTH_INTERVAL: Duration = Duration::from_secs(1);

/// What one mechanism makes of one client token.
pub enum Step {
    /// Send these bytes; the client answers with another token.
    Challenge(Vec<u8>),
    /// Authenticated as `user`; `reply` is the last server message (may be empty), and the
    /// credential ends at `expires_at_ms` (Unix ms), if it does.
    Done {
        user: String,
        reply: Vec<u8>,
        expires_at_ms: Option<i64>,
    },
}

/// A failed authentication: `message` is what the client is told (`None`: Kafka's generic
/// "invalid credentials" message, which reveals nothing about the user), `detail` is logged.
pub struct Failure {
    pub message: Option<String>,
    pub detail: String,
}

impl Failure {
    /// A failure whose message the client sees.
    pub fn told(message: impl Into<String>) -> Failure {
        let message = message.into();
        Failure {
            detail: message.clone(),
            message: Some(message),
        }
    }

    /// A failure the client learns only as "invalid credentials".
    pub fn hidden(detail: impl Into<String>) -> Failure {
        Failure {
            message: None,
            detail: detail.into(),
        }
    }

    pub fn because(mut self, detail: impl Into<String>) -> Failure {
        self.detail = detail.into();
        self
    }
}

/// The exchange of one mechanism in progress.
enum Exchange {
    Plain,
    Scram(scram::ScramServer),
    OAuthBearer(oauthbearer::OAuthBearerServer),
    /// A re-authentication asked for another mechanism than the session's: its first token fails
    /// with this message, as in Kafka.
    BadMechanism(String),
}

enum Phase {
    /// Waiting for SaslHandshake (ApiVersions allowed).
    Handshake,
    /// Between SaslHandshake and the last SaslAuthenticate.
    Authenticating {
        mechanism: String,
        // Boxed: a SCRAM exchange in progress holds its messages and credential.
        exchange: Box<Exchange>,
    },
    /// Authenticated: requests are served until the session expires.
    Authenticated,
}

/// The session of an authenticated connection.
struct Authenticated {
    mechanism: String,
    principal: Principal,
    /// When the session ends (KIP-368); `None`: with the connection.
    expires: Option<Instant>,
}

/// What the read loop does with a request.
pub enum Gate {
    /// Serve it as usual.
    Pass,
    /// Answer it with this response.
    Answer(ResponseKind),
    /// Answer with this response after [`FAILED_AUTHENTICATION_DELAY`], then close, logging why.
    Fail(ResponseKind, String),
    /// Close at once, logging why.
    Close(String),
}

/// The SASL state of one connection of a SASL listener.
pub struct Sasl {
    phase: Phase,
    enabled: Vec<String>,
    done: Option<Authenticated>,
    /// When the last re-authentication began.
    last_reauth: Option<Instant>,
}

impl Sasl {
    /// The state machine of a new connection, if its listener authenticates with SASL.
    pub fn for_session(broker: &Broker, session: &Session) -> Option<Sasl> {
        session.listener.protocol.sasl().then(|| Sasl {
            phase: Phase::Handshake,
            enabled: enabled_mechanisms(&broker.config().sasl_enabled_mechanisms),
            done: None,
            last_reauth: None,
        })
    }

    /// The largest frame to read now: [`MAX_RECEIVE_BYTES`] until authenticated, `max` after.
    pub fn max_frame(&self, max: usize) -> usize {
        match self.phase {
            Phase::Authenticated => max,
            _ => max.min(MAX_RECEIVE_BYTES),
        }
    }

    /// Decides what happens to one request; SASL requests are answered here, and change
    /// `session`'s principal when they complete an authentication.
    pub fn gate(
        &mut self,
        broker: &Broker,
        session: &mut Session,
        api: ApiKey,
        version: i16,
        body: &RequestKind,
    ) -> Gate {
        if api == ApiKey::SaslHandshake && version == 0 {
            return Gate::Close(
                "SaslHandshake v0 (raw SASL tokens without SaslAuthenticate) is not supported"
                    .to_string(),
            );
        }
        match (&mut self.phase, body) {
            (Phase::Authenticated, RequestKind::SaslHandshake(h)) => {
                // KIP-368: a handshake on an authenticated connection begins re-authentication, as
                // in Kafka's KafkaChannel only when the session expires at all, and at most once a
                // second; otherwise the handler answers ILLEGAL_SASL_STATE.
                let now = Instant::now();
                let expiring = self.done.as_ref().is_some_and(|d| d.expires.is_some());
                let too_soon = self
                    .last_reauth
                    .is_some_and(|t| now.duration_since(t) < MIN_REAUTH_INTERVAL);
                if !expiring || too_soon {
                    return Gate::Pass;
                }
                self.last_reauth = Some(now);
                self.handshake(h.mechanism.as_str())
            }
            (Phase::Authenticated, _) => {
                let expired = self
                    .done
                    .as_ref()
                    .and_then(|d| d.expires)
                    .is_some_and(|t| Instant::now() >= t);
                if expired && !matches!(api, ApiKey::ApiVersions | ApiKey::SaslAuthenticate) {
                    return Gate::Close(format!(
                        "expired credential: the SASL session of {} ended before this {api:?} request",
                        session.principal
                    ));
                }
                Gate::Pass
            }
            (Phase::Handshake, RequestKind::ApiVersions(_)) => Gate::Pass,
            (Phase::Handshake, RequestKind::SaslHandshake(h)) => {
                self.handshake(h.mechanism.as_str())
            }
            (Phase::Handshake, RequestKind::SaslAuthenticate(_)) => Gate::Fail(
                SaslAuthenticateResponse::default()
                    .with_error_code(ResponseError::IllegalSaslState.code())
                    .with_error_message(Some(str_bytes(
                        "Unexpected Kafka request of type SASL_AUTHENTICATE during SASL handshake.",
                    )))
                    .into(),
                "SaslAuthenticate before SaslHandshake".to_string(),
            ),
            (Phase::Handshake, _) => Gate::Close(format!(
                "unexpected {api:?} request during SASL handshake (not authenticated)"
            )),
            (Phase::Authenticating { .. }, RequestKind::SaslAuthenticate(a)) => {
                self.authenticate(broker, session, version, &a.auth_bytes)
            }
            (Phase::Authenticating { .. }, _) => Gate::Close(format!(
                "unexpected {api:?} request during SASL authentication"
            )),
        }
    }

    fn handshake(&mut self, mechanism: &str) -> Gate {
        let response = SaslHandshakeResponse::default()
            .with_mechanisms(self.enabled.iter().cloned().map(str_bytes).collect());
        if !self.enabled.iter().any(|m| m == mechanism) {
            return Gate::Fail(
                response
                    .with_error_code(ResponseError::UnsupportedSaslMechanism.code())
                    .into(),
                format!("unsupported SASL mechanism {mechanism:?}"),
            );
        }
        let exchange = match &self.done {
            Some(done) if done.mechanism != mechanism => Exchange::BadMechanism(format!(
                "SASL mechanism '{mechanism}' requested by client is not supported for re-authentication of mechanism '{}'",
                done.mechanism
            )),
            _ => match mechanism {
                "PLAIN" => Exchange::Plain,
                "OAUTHBEARER" => Exchange::OAuthBearer(oauthbearer::OAuthBearerServer::new()),
                m => match ScramMechanism::from_name(m) {
                    Some(m) => Exchange::Scram(scram::ScramServer::new(m)),
                    // Config::validate allows only mechanisms handled above.
                    None => {
                        return Gate::Close(format!("no implementation of SASL mechanism {m:?}"))
                    }
                },
            },
        };
        self.phase = Phase::Authenticating {
            mechanism: mechanism.to_string(),
            exchange: Box::new(exchange),
        };
        Gate::Answer(response.into())
    }

    fn authenticate(
        &mut self,
        broker: &Broker,
        session: &mut Session,
        version: i16,
        token: &[u8],
    ) -> Gate {
        let Phase::Authenticating {
            mechanism,
            exchange,
        } = &mut self.phase
        else {
            return Gate::Close("SaslAuthenticate outside an authentication".to_string());
        };
        let now_ms = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        let step = match exchange.as_mut() {
            Exchange::Plain => plain::authenticate(broker.config(), token),
            Exchange::Scram(s) => s.step(broker.scram(), token),
            Exchange::OAuthBearer(s) => s.step(broker.config(), token, now_ms),
            Exchange::BadMechanism(message) => Err(Failure::told(message.clone())),
        };
        let reauthenticating = self.done.is_some();
        let (user, reply, expires_at_ms) = match step {
            Ok(Step::Challenge(bytes)) => {
                return Gate::Answer(
                    SaslAuthenticateResponse::default()
                        .with_auth_bytes(bytes.into())
                        .into(),
                )
            }
            Ok(Step::Done {
                user,
                reply,
                expires_at_ms,
            }) => (user, reply, expires_at_ms),
            Err(f) => return Sasl::failed(mechanism.clone(), reauthenticating, f),
        };
        let principal = Principal::user(user);
        let mechanism = mechanism.clone();
        if let Some(done) = &self.done {
            if done.principal != principal {
                let message = format!(
                    "Cannot change principals during re-authentication from {}.{}: {}.{}",
                    done.principal.principal_type,
                    done.principal.name,
                    principal.principal_type,
                    principal.name
                );
                return Sasl::failed(mechanism, true, Failure::told(message));
            }
        }
        let lifetime_ms = session_lifetime_ms(
            broker.config().connections_max_reauth_ms,
            expires_at_ms,
            now_ms,
        );
        tracing::debug!(%principal, %mechanism, reauthenticating, ?lifetime_ms, "SASL authentication complete");
        self.done = Some(Authenticated {
            mechanism,
            principal: principal.clone(),
            expires: lifetime_ms
                .map(|ms| Instant::now() + Duration::from_millis(u64::try_from(ms).unwrap_or(0))),
        });
        self.phase = Phase::Authenticated;
        session.principal = principal;
        let mut response = SaslAuthenticateResponse::default().with_auth_bytes(reply.into());
        if version >= 1 {
            response = response.with_session_lifetime_ms(lifetime_ms.unwrap_or(0));
        }
        Gate::Answer(response.into())
    }

    fn failed(mechanism: String, reauthenticating: bool, f: Failure) -> Gate {
        let what = if reauthenticating {
            "re-authentication"
        } else {
            "authentication"
        };
        let message = f.message.unwrap_or_else(|| {
            format!(
                "Authentication failed during {what} due to invalid credentials with SASL mechanism {mechanism}"
            )
        });
        Gate::Fail(
            SaslAuthenticateResponse::default()
                .with_error_code(ResponseError::SaslAuthenticationFailed.code())
                .with_error_message(Some(str_bytes(message)))
                .into(),
            format!("SASL {what} with {mechanism} failed: {}", f.detail),
        )
    }
}

/// Kafka's session lifetime (`ReauthInfo.calcCompletionTimesAndReturnSessionLifetimeMs`): the
/// smaller of `connections_max_reauth_ms` (when > 0) and the credential's remaining life (when it
/// has one), never negative; `None` when neither applies.
fn session_lifetime_ms(max_reauth_ms: i64, expires_at_ms: Option<i64>, now_ms: i64) -> Option<i64> {
    let remaining = expires_at_ms.map(|e| (e - now_ms).max(0));
    match (max_reauth_ms > 0, remaining) {
        (false, None) => None,
        (false, Some(r)) => Some(r),
        (true, None) => Some(max_reauth_ms),
        (true, Some(r)) => Some(r.min(max_reauth_ms)),
    }
}

/// The mechanisms of `sasl_enabled_mechanisms`, in order.
pub fn enabled_mechanisms(list: &str) -> Vec<String> {
    list.split(',')
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .map(str::to_string)
        .collect()
}

/// Every mechanism Sluice implements.
pub const MECHANISMS: [&str; 4] = ["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512", "OAUTHBEARER"];

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::ListenerInfo;
    use crate::config::{Config, SecurityProtocol};
    use kafka_protocol::messages::{
        MetadataRequest, SaslAuthenticateRequest, SaslHandshakeRequest,
    };
    use std::sync::Arc;

    fn sasl_session() -> Session {
        let listener = ListenerInfo {
            name: "SASL_PLAINTEXT".into(),
            protocol: SecurityProtocol::SaslPlaintext,
            host: "127.0.0.1".into(),
            port: 9093,
        };
        Session::anonymous(Arc::new(listener), std::net::Ipv4Addr::LOCALHOST.into())
    }

    fn handshake(mechanism: &str) -> RequestKind {
        RequestKind::SaslHandshake(
            SaslHandshakeRequest::default().with_mechanism(str_bytes(mechanism)),
        )
    }

    fn token(bytes: &'static [u8]) -> RequestKind {
        RequestKind::SaslAuthenticate(
            SaslAuthenticateRequest::default().with_auth_bytes(bytes::Bytes::from_static(bytes)),
        )
    }

    fn kind(g: &Gate) -> &'static str {
        match g {
            Gate::Pass => "pass",
            Gate::Answer(_) => "answer",
            Gate::Fail(..) => "fail",
            Gate::Close(_) => "close",
        }
    }

    #[test]
    fn the_state_machine_follows_kafkas_authenticator() {
        let dir = tempfile::tempdir().unwrap();
        let config = Config {
            sasl_enabled_mechanisms: "PLAIN,SCRAM-SHA-256".to_string(),
            sasl_plain_users: [
                ("alice".to_string(), "pw".to_string()),
                ("bob".to_string(), "pw".to_string()),
            ]
            .into(),
            connections_max_reauth_ms: 60_000,
            ..Config::default()
        };
        let b = crate::broker::tests::test_broker(dir.path(), config);
        let mut session = sasl_session();
        let mut sasl = Sasl::for_session(&b, &session).unwrap();
        let step = |sasl: &mut Sasl, session: &mut Session, api, version, body: RequestKind| {
            kind(&sasl.gate(&b, session, api, version, &body))
        };
        assert_eq!(sasl.max_frame(1 << 30), MAX_RECEIVE_BYTES);
        // Disabled mechanism, v0 handshake, requests before authentication.
        let mut other = Sasl::for_session(&b, &session).unwrap();
        assert_eq!(
            step(
                &mut other,
                &mut session,
                ApiKey::SaslHandshake,
                1,
                handshake("OAUTHBEARER")
            ),
            "fail"
        );
        let mut other = Sasl::for_session(&b, &session).unwrap();
        assert_eq!(
            step(
                &mut other,
                &mut session,
                ApiKey::SaslHandshake,
                0,
                handshake("PLAIN")
            ),
            "close"
        );
        let mut other = Sasl::for_session(&b, &session).unwrap();
        let metadata = RequestKind::Metadata(MetadataRequest::default());
        assert_eq!(
            step(
                &mut other,
                &mut session,
                ApiKey::Metadata,
                12,
                metadata.clone()
            ),
            "close"
        );
        let mut other = Sasl::for_session(&b, &session).unwrap();
        assert_eq!(
            step(
                &mut other,
                &mut session,
                ApiKey::SaslAuthenticate,
                2,
                token(b"x")
            ),
            "fail"
        );

        // PLAIN as alice: the principal changes, requests pass, frames may be large again.
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslHandshake,
                1,
                handshake("PLAIN")
            ),
            "answer"
        );
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::Metadata,
                12,
                metadata.clone()
            ),
            "close"
        );
        let mut sasl = Sasl::for_session(&b, &session).unwrap();
        step(
            &mut sasl,
            &mut session,
            ApiKey::SaslHandshake,
            1,
            handshake("PLAIN"),
        );
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslAuthenticate,
                2,
                token(b"\0alice\0pw")
            ),
            "answer"
        );
        assert_eq!(session.principal, Principal::user("alice"));
        assert_eq!(sasl.max_frame(1 << 30), 1 << 30);
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::Metadata,
                12,
                metadata.clone()
            ),
            "pass"
        );
        // A SaslAuthenticate now reaches the handler (ILLEGAL_SASL_STATE).
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslAuthenticate,
                2,
                token(b"x")
            ),
            "pass"
        );

        // Re-authentication: same principal works; another mechanism or principal fails.
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslHandshake,
                1,
                handshake("PLAIN")
            ),
            "answer"
        );
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslAuthenticate,
                2,
                token(b"\0alice\0pw")
            ),
            "answer"
        );
        // Within a second of the last re-authentication: left to the handler (ILLEGAL_SASL_STATE).
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslHandshake,
                1,
                handshake("PLAIN")
            ),
            "pass"
        );
        sasl.last_reauth = None;
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslHandshake,
                1,
                handshake("PLAIN")
            ),
            "answer"
        );
        assert_eq!(
            step(
                &mut sasl,
                &mut session,
                ApiKey::SaslAuthenticate,
                2,
                token(b"\0bob\0pw")
            ),
            "fail"
        );
        assert_eq!(
            session.principal,
            Principal::user("alice"),
            "unchanged by the failure"
        );
        let mut again = Sasl::for_session(&b, &session).unwrap();
        step(
            &mut again,
            &mut session,
            ApiKey::SaslHandshake,
            1,
            handshake("PLAIN"),
        );
        step(
            &mut again,
            &mut session,
            ApiKey::SaslAuthenticate,
            2,
            token(b"\0alice\0pw"),
        );
        again.last_reauth = None;
        assert_eq!(
            step(
                &mut again,
                &mut session,
                ApiKey::SaslHandshake,
                1,
                handshake("SCRAM-SHA-256")
            ),
            "answer"
        );
        assert_eq!(
            step(
                &mut again,
                &mut session,
                ApiKey::SaslAuthenticate,
                2,
                token(b"n,,n=alice,r=x")
            ),
            "fail"
        );
    }

    #[test]
    fn session_lifetime_is_the_smaller_limit() {
        assert_eq!(session_lifetime_ms(0, None, 5), None);
        assert_eq!(session_lifetime_ms(1000, None, 5), Some(1000));
        assert_eq!(session_lifetime_ms(0, Some(505), 5), Some(500));
        assert_eq!(session_lifetime_ms(1000, Some(505), 5), Some(500));
        assert_eq!(session_lifetime_ms(100, Some(505), 5), Some(100));
        assert_eq!(session_lifetime_ms(100, Some(1), 5), Some(0));
    }
}
