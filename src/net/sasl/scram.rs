//! The server side of SCRAM-SHA-256 and SCRAM-SHA-512 (RFC 5802), with Kafka's rules
//! (`ScramSaslServer`, `ScramMessages`): the client-first message names the user, the server
//! answers its salt, iterations and the combined nonce; the client-final message proves the
//! password, checked in constant time, and the server answers its own signature. The `tokenauth`
//! extension (delegation tokens) is refused: Sluice has none.

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine;
use subtle::ConstantTimeEq;

use super::{Failure, Step};
use crate::security::scram::{ScramCredentials, ScramMechanism, MIN_ITERATIONS};
use crate::store::ScramCredential;

pub struct ScramServer {
    mechanism: ScramMechanism,
    state: State,
}

enum State {
    ClientFirst,
    ClientFinal {
        user: String,
        credential: ScramCredential,
        client_first_bare: String,
        server_first: String,
        nonce: String,
    },
    Done,
}

impl ScramServer {
    pub fn new(mechanism: ScramMechanism) -> ScramServer {
        ScramServer {
            mechanism,
            state: State::ClientFirst,
        }
    }

    pub fn step(&mut self, credentials: &ScramCredentials, token: &[u8]) -> Result<Step, Failure> {
        match std::mem::replace(&mut self.state, State::Done) {
            State::ClientFirst => self.client_first(credentials, token),
            State::ClientFinal {
                user,
                credential,
                client_first_bare,
                server_first,
                nonce,
            } => {
                let mechanism = self.mechanism;
                client_final(
                    mechanism,
                    token,
                    &user,
                    &credential,
                    &client_first_bare,
                    &server_first,
                    &nonce,
                )
            }
            State::Done => Err(Failure::hidden("a SCRAM token after the exchange ended")),
        }
    }

    fn client_first(
        &mut self,
        credentials: &ScramCredentials,
        token: &[u8],
    ) -> Result<Step, Failure> {
        let first = parse_client_first(token)?;
        if first
            .extensions
            .iter()
            .any(|(k, v)| k == "tokenauth" && v.eq_ignore_ascii_case("true"))
        {
            return Err(Failure::hidden(
                "delegation token authentication is not supported",
            ));
        }
        let Some(credential) = credentials.get(&first.user, self.mechanism) else {
            return Err(Failure::hidden(format!(
                "no {} credential for user {:?}",
                self.mechanism.name(),
                first.user
            )));
        };
        if !first.authzid.is_empty() && first.authzid != first.user {
            return Err(Failure::told(
                "Authentication failed: Client requested an authorization id that is different from username",
            ));
        }
        if credential.iterations < MIN_ITERATIONS {
            return Err(Failure::hidden(format!(
                "iterations {} is less than the minimum {MIN_ITERATIONS}",
                credential.iterations
            )));
        }
        let mut random = [0u8; 24];
        getrandom::fill(&mut random)
            .map_err(|e| Failure::hidden(format!("no random server nonce: {e}")))?;
        let nonce = format!(
            "{}{}",
            first.nonce,
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(random)
        );
        let server_first = format!(
            "r={nonce},s={},i={}",
            B64.encode(&credential.salt),
            credential.iterations
        );
        let reply = server_first.clone().into_bytes();
        self.state = State::ClientFinal {
            user: first.user,
            credential,
            client_first_bare: first.bare,
            server_first,
            nonce,
        };
        Ok(Step::Challenge(reply))
    }
}

fn client_final(
    mechanism: ScramMechanism,
    token: &[u8],
    user: &str,
    credential: &ScramCredential,
    client_first_bare: &str,
    server_first: &str,
    nonce: &str,
) -> Result<Step, Failure> {
    let malformed = || Failure::hidden("Invalid SCRAM client final message format");
    let text = std::str::from_utf8(token).map_err(|_| malformed())?;
    let (without_proof, proof) = text.rsplit_once(",p=").ok_or_else(malformed)?;
    let proof = B64.decode(proof).map_err(|_| malformed())?;
    let mut fields = without_proof.split(',');
    let channel = fields
        .next()
        .and_then(|f| f.strip_prefix("c="))
        .ok_or_else(malformed)?;
    B64.decode(channel).map_err(|_| malformed())?;
    let client_nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .ok_or_else(malformed)?;
    if !fields.all(is_extension) {
        return Err(malformed());
    }
    // Kafka checks only the end: librdkafka 2.0 (Debian's kcat) sends its own nonce again in front of the
    // combined one, and Kafka accepts it.
    if !client_nonce.ends_with(nonce) {
        return Err(Failure::hidden(format!(
            "Invalid client nonce in the final client message: {client_nonce:?}, expected {nonce:?}"
        )));
    }
    // Kafka signs the final message without its extensions (`clientFinalMessageWithoutProof`).
    let auth_message = format!("{client_first_bare},{server_first},c={channel},r={client_nonce}");
    let signature = mechanism.hmac(&credential.stored_key, auth_message.as_bytes());
    if proof.len() != signature.len() {
        return Err(Failure::hidden("the client proof has the wrong length"));
    }
    let client_key: Vec<u8> = proof.iter().zip(&signature).map(|(a, b)| a ^ b).collect();
    let stored_key = mechanism.hash(&client_key);
    if !bool::from(stored_key.ct_eq(&credential.stored_key)) {
        return Err(Failure::hidden("Invalid client credentials"));
    }
    let server_signature = mechanism.hmac(&credential.server_key, auth_message.as_bytes());
    Ok(Step::Done {
        user: user.to_string(),
        reply: format!("v={}", B64.encode(server_signature)).into_bytes(),
        expires_at_ms: None,
    })
}

struct ClientFirst {
    authzid: String,
    user: String,
    nonce: String,
    extensions: Vec<(String, String)>,
    /// The message without its GS2 header: part of what both sides sign.
    bare: String,
}

/// Parses `n,[a=authzid],[m=reserved,]n=saslname,r=nonce[,ext=value]*` as Kafka's pattern does.
fn parse_client_first(token: &[u8]) -> Result<ClientFirst, Failure> {
    let malformed = || Failure::hidden("Invalid SCRAM client first message format");
    let text = std::str::from_utf8(token).map_err(|_| malformed())?;
    if !text.is_ascii() {
        return Err(malformed());
    }
    let rest = text.strip_prefix("n,").ok_or_else(malformed)?;
    let (authzid, bare) = rest.split_once(',').ok_or_else(malformed)?;
    let authzid = match authzid {
        "" => String::new(),
        a => user_name(a.strip_prefix("a=").ok_or_else(malformed)?).ok_or_else(malformed)?,
    };
    let mut fields = bare.split(',').peekable();
    if fields.peek().is_some_and(|f| f.starts_with("m=")) {
        fields.next();
    }
    let user = fields
        .next()
        .and_then(|f| f.strip_prefix("n="))
        .and_then(user_name)
        .ok_or_else(malformed)?;
    let nonce = fields
        .next()
        .and_then(|f| f.strip_prefix("r="))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| (0x21..=0x7e).contains(&b)))
        .ok_or_else(malformed)?;
    let mut extensions = Vec::new();
    for f in fields {
        if !is_extension(f) {
            return Err(malformed());
        }
        let (k, v) = f.split_once('=').ok_or_else(malformed)?;
        extensions.push((k.to_string(), v.to_string()));
    }
    Ok(ClientFirst {
        authzid,
        user,
        nonce: nonce.to_string(),
        extensions,
        bare: bare.to_string(),
    })
}

/// A SCRAM `saslname` decoded (`=2C` is ',', `=3D` is '='); `None` if empty or another '='.
fn user_name(sasl_name: &str) -> Option<String> {
    if sasl_name.is_empty() || sasl_name.bytes().any(|b| b == 0) {
        return None;
    }
    let mut out = String::with_capacity(sasl_name.len());
    let mut rest = sasl_name;
    while let Some(i) = rest.find('=') {
        out.push_str(&rest[..i]);
        match rest.get(i..i + 3) {
            Some("=2C") => out.push(','),
            Some("=3D") => out.push('='),
            _ => return None,
        }
        rest = &rest[i + 3..];
    }
    out.push_str(rest);
    Some(out)
}

fn is_extension(field: &str) -> bool {
    field.split_once('=').is_some_and(|(k, v)| {
        !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphabetic()) && !v.is_empty()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    /// The client side of the exchange, as a real client computes it.
    fn client_final_message(
        m: ScramMechanism,
        password: &str,
        client_first_bare: &str,
        server_first: &str,
    ) -> String {
        let fields: BTreeMap<&str, &str> = server_first
            .split(',')
            .map(|f| f.split_once('=').unwrap())
            .collect();
        let salt = B64.decode(fields["s"]).unwrap();
        let iterations: u32 = fields["i"].parse().unwrap();
        let salted = m.salted_password(password.as_bytes(), &salt, iterations);
        let client_key = m.hmac(&salted, b"Client Key");
        let stored = m.hash(&client_key);
        let without_proof = format!("c=biws,r={}", fields["r"]);
        let auth = format!("{client_first_bare},{server_first},{without_proof}");
        let sig = m.hmac(&stored, auth.as_bytes());
        let proof: Vec<u8> = client_key.iter().zip(&sig).map(|(a, b)| a ^ b).collect();
        format!("{without_proof},p={}", B64.encode(proof))
    }

    fn credentials() -> (tempfile::TempDir, ScramCredentials) {
        let dir = tempfile::tempdir().unwrap();
        let store = crate::store::Store::open(dir.path(), 1 << 20, 1000).unwrap();
        let seed = [("al,ice".to_string(), "pencil".to_string())].into();
        let creds = ScramCredentials::open(store, &seed).unwrap();
        (dir, creds)
    }

    fn exchange(
        m: ScramMechanism,
        creds: &ScramCredentials,
        password: &str,
    ) -> Result<Step, Failure> {
        let mut server = ScramServer::new(m);
        let bare = "n=al=2Cice,r=fyko+d2lbbFgONRv9qkxdawL";
        let Step::Challenge(first) = server.step(creds, format!("n,,{bare}").as_bytes())? else {
            panic!("no challenge");
        };
        let first = String::from_utf8(first).unwrap();
        assert!(first.starts_with("r=fyko+d2lbbFgONRv9qkxdawL"));
        let last = client_final_message(m, password, bare, &first);
        server.step(creds, last.as_bytes())
    }

    #[test]
    fn both_mechanisms_authenticate_the_right_password_only() {
        let (_dir, creds) = credentials();
        for m in ScramMechanism::ALL {
            match exchange(m, &creds, "pencil") {
                Ok(Step::Done { user, reply, .. }) => {
                    assert_eq!(user, "al,ice");
                    assert!(reply.starts_with(b"v="));
                }
                _ => panic!("{m:?} refused the right password"),
            }
            assert!(exchange(m, &creds, "pen").is_err());
        }
    }

    #[test]
    fn malformed_and_refused_first_messages() {
        let (_dir, creds) = credentials();
        let m = ScramMechanism::Sha256;
        for bad in [
            &b""[..],
            b"n,,",
            b"y,,n=al=2Cice,r=x",
            b"n,,n=al=2Xice,r=x",
            b"n,,n=,r=x",
            b"n,,n=al=2Cice,r=",
            b"n,,n=al=2Cice,r=x,BAD",
            b"n,,n=al=2Cice,r=x,tokenauth=true",
            b"n,,n=bob,r=x",
            b"\xff\xfe",
        ] {
            assert!(
                ScramServer::new(m).step(&creds, bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(matches!(
            ScramServer::new(m).step(&creds, b"n,a=bob,n=al=2Cice,r=x"),
            Err(Failure {
                message: Some(_),
                ..
            })
        ));
    }

    #[test]
    fn malformed_final_messages_fail() {
        let (_dir, creds) = credentials();
        let m = ScramMechanism::Sha512;
        for bad in [
            "",
            "c=biws",
            "c=biws,r=other,p=AAAA",
            "p=,c=biws",
            "c=!,r=x,p=AAAA",
        ] {
            let mut server = ScramServer::new(m);
            assert!(server.step(&creds, b"n,,n=al=2Cice,r=abc").is_ok());
            assert!(server.step(&creds, bad.as_bytes()).is_err(), "{bad}");
            assert!(
                server.step(&creds, bad.as_bytes()).is_err(),
                "after the end"
            );
        }
    }
}
