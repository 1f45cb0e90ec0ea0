//! TLS for SSL and SASL_SSL listeners, with rustls: the server configuration built from Kafka's
//! `ssl.*` keys, the handshake, and the principal a client certificate gives.
//!
//! The handshake runs in the connection's own task, bounded by [`HANDSHAKE_TIMEOUT`] (or
//! `connections_max_idle_ms` if shorter): a client that connects and sends nothing, or stalls
//! half-way, gives its slot back then. Kafka has no separate bound (its idle timeout covers it); a
//! handshake takes milliseconds, so 10 s only ever cuts off clients that will not finish. A failed
//! handshake closes the connection with one line at info (as Kafka logs a failed authentication),
//! one that never started (a port probe, a client that closed at once) at debug.
//!
//! Certificates are reloaded without a restart: on a new connection, at most once a second, the
//! keystore's and truststore's modification times are checked, and a new configuration is built
//! when either changed. Connections already open keep the one they started with. A file that does
//! not load (caught half-written, say) is reported once and the previous configuration is kept.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{bail, Context, Result};
use rustls::crypto::CryptoProvider;
use rustls::server::WebPkiClientVerifier;
use rustls::{RootCertStore, ServerConfig, SupportedProtocolVersion};
use rustls_pki_types::pem::{self, SectionKind};
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;

use crate::broker::{stopping, Broker, ListenerInfo};
use crate::config::Config;
use crate::net::connection;
use crate::net::limits::Limits;
use crate::security::ssl::{self, PrincipalMapper};
use crate::security::{Principal, Session};

/// The longest a TLS handshake may take.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// How often, at most, the keystore and truststore are checked for changes.
const RELOAD_CHECK: Duration = Duration::from_secs(1);

/// Kafka's `ssl.client.auth`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Requested,
    Required,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Result<ClientAuth> {
        Ok(match s.trim().to_ascii_lowercase().as_str() {
            "none" => ClientAuth::None,
            "requested" => ClientAuth::Requested,
            "required" => ClientAuth::Required,
            other => bail!("`ssl_client_auth` must be none, requested or required, got {other:?}"),
        })
    }
}

/// What the server configuration is built from, checked once at start-up.
#[derive(Debug, Clone)]
struct Settings {
    keystore: PathBuf,
    truststore: Option<PathBuf>,
    client_auth: ClientAuth,
    versions: Vec<&'static SupportedProtocolVersion>,
    provider: Arc<CryptoProvider>,
}

/// Checks the TLS keys that need no file: what `Config::validate` calls, so a bad value fails
/// before anything else starts.
pub fn validate(config: &Config, any_tls_listener: bool) -> Result<()> {
    let client_auth = ClientAuth::parse(&config.ssl_client_auth)?;
    PrincipalMapper::parse(&config.ssl_principal_mapping_rules)
        .context("`ssl_principal_mapping_rules`")?;
    protocol_versions(&config.ssl_enabled_protocols)?;
    provider(&config.ssl_cipher_suites)?;
    if any_tls_listener {
        if config.ssl_keystore_location.is_none() {
            bail!("an SSL or SASL_SSL listener needs `ssl_keystore_location` (its key and certificate)");
        }
        if client_auth != ClientAuth::None && config.ssl_truststore_location.is_none() {
            bail!(
                "`ssl_client_auth: {}` needs `ssl_truststore_location` (the CAs client certificates are checked against)",
                config.ssl_client_auth
            );
        }
    }
    Ok(())
}

/// `ssl_enabled_protocols`. rustls has no TLS 1.0 or 1.1 (nor has Java since 2021): those names
/// are skipped, so a Kafka configuration listing them still works.
fn protocol_versions(list: &str) -> Result<Vec<&'static SupportedProtocolVersion>> {
    let mut versions = Vec::new();
    for name in list.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        match name {
            "TLSv1.3" => versions.push(&rustls::version::TLS13),
            "TLSv1.2" => versions.push(&rustls::version::TLS12),
            "TLSv1" | "TLSv1.1" => tracing::warn!(
                protocol = name,
                "`ssl_enabled_protocols`: not supported by rustls, skipped"
            ),
            other => {
                bail!("`ssl_enabled_protocols`: unknown protocol {other:?} (TLSv1.2, TLSv1.3)")
            }
        }
    }
    if versions.is_empty() {
        bail!("`ssl_enabled_protocols` must name TLSv1.2 or TLSv1.3, got {list:?}");
    }
    Ok(versions)
}

/// The ring provider, its cipher suites narrowed to `ssl_cipher_suites` when that is set. Names
/// are IANA's, as Java takes them (`TLS_AES_128_GCM_SHA256`,
/// `TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256`); unknown ones are an error, not silently dropped.
fn provider(suites: &str) -> Result<Arc<CryptoProvider>> {
    // ring, not aws-lc-rs (deprecated in rustls for lacking post-quantum key exchange): aws-lc-rs
    // needs cmake and a long C build, and Kafka's Java clients do not offer ML-KEM either.
    #[allow(deprecated)]
    let mut provider = rustls::crypto::ring::default_provider();
    let wanted: Vec<&str> = suites
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect();
    if !wanted.is_empty() {
        let iana = |s: &rustls::SupportedCipherSuite| {
            let name = format!("{:?}", s.suite());
            match name.strip_prefix("TLS13_") {
                Some(rest) => format!("TLS_{rest}"),
                None => name,
            }
        };
        for name in &wanted {
            if !provider
                .cipher_suites
                .iter()
                .any(|s| iana(s).eq_ignore_ascii_case(name))
            {
                let known: Vec<String> = provider.cipher_suites.iter().map(iana).collect();
                bail!(
                    "`ssl_cipher_suites`: {name:?} is not supported (supported: {})",
                    known.join(",")
                );
            }
        }
        provider
            .cipher_suites
            .retain(|s| wanted.iter().any(|w| iana(s).eq_ignore_ascii_case(w)));
    }
    Ok(Arc::new(provider))
}

/// The modification times of the files a configuration was built from.
type Stamps = (Option<SystemTime>, Option<SystemTime>);

struct Current {
    acceptor: TlsAcceptor,
    stamps: Stamps,
    checked: Instant,
}

/// The TLS side of every SSL and SASL_SSL listener.
pub struct Tls {
    settings: Settings,
    mapper: PrincipalMapper,
    current: Mutex<Current>,
}

impl Tls {
    /// Loads the keystore and truststore: `None` when no listener uses TLS; an error, naming the
    /// key, when a file is missing, unreadable or holds no usable key or certificate.
    pub fn for_listeners(config: &Config, any_tls_listener: bool) -> Result<Option<Arc<Tls>>> {
        validate(config, any_tls_listener)?;
        let Some(keystore) = config
            .ssl_keystore_location
            .clone()
            .filter(|_| any_tls_listener)
        else {
            return Ok(None);
        };
        let client_auth = ClientAuth::parse(&config.ssl_client_auth)?;
        let settings = Settings {
            keystore,
            // Without client authentication the truststore is not read, as in Kafka.
            truststore: config
                .ssl_truststore_location
                .clone()
                .filter(|_| client_auth != ClientAuth::None),
            client_auth,
            versions: protocol_versions(&config.ssl_enabled_protocols)?,
            provider: provider(&config.ssl_cipher_suites)?,
        };
        let stamps = stamps(&settings);
        let server = server_config(&settings)?;
        Ok(Some(Arc::new(Tls {
            mapper: PrincipalMapper::parse(&config.ssl_principal_mapping_rules)?,
            settings,
            current: Mutex::new(Current {
                acceptor: TlsAcceptor::from(server),
                stamps,
                checked: Instant::now(),
            }),
        })))
    }

    /// The acceptor for a new connection, rebuilt first if a file changed.
    fn acceptor(&self) -> TlsAcceptor {
        let mut current = self.current.lock().unwrap_or_else(|e| e.into_inner());
        if current.checked.elapsed() >= RELOAD_CHECK {
            current.checked = Instant::now();
            let now = stamps(&self.settings);
            if now != current.stamps {
                current.stamps = now;
                match server_config(&self.settings) {
                    Ok(server) => {
                        current.acceptor = TlsAcceptor::from(server);
                        tracing::info!("TLS keystore or truststore changed: reloaded");
                    }
                    Err(e) => tracing::warn!(
                        error = %format!("{e:#}"),
                        "TLS keystore or truststore changed but does not load: keeping the previous one"
                    ),
                }
            }
        }
        current.acceptor.clone()
    }

    /// The principal of a client certificate's subject. An error when no mapping rule applies,
    /// which closes the connection, as in Kafka.
    fn principal(&self, cert: Option<&CertificateDer<'_>>) -> Result<Principal> {
        let Some(cert) = cert else {
            return Ok(Principal::anonymous());
        };
        let dn = ssl::subject_dn(cert)?;
        match self.mapper.name(&dn) {
            Some(name) => Ok(Principal::user(name)),
            None => bail!("no `ssl_principal_mapping_rules` rule applies to {dn:?}"),
        }
    }
}

fn stamps(settings: &Settings) -> Stamps {
    let modified = |p: &Path| std::fs::metadata(p).and_then(|m| m.modified()).ok();
    (
        modified(&settings.keystore),
        settings.truststore.as_deref().and_then(modified),
    )
}

fn server_config(settings: &Settings) -> Result<Arc<ServerConfig>> {
    let (chain, key) = read_keystore(&settings.keystore)
        .with_context(|| format!("`ssl_keystore_location` {}", settings.keystore.display()))?;
    let builder = ServerConfig::builder_with_provider(Arc::clone(&settings.provider))
        .with_protocol_versions(&settings.versions)
        .context("`ssl_enabled_protocols` and `ssl_cipher_suites` have nothing in common")?;
    let builder = match (&settings.truststore, settings.client_auth) {
        (Some(path), auth) if auth != ClientAuth::None => {
            let roots = read_truststore(path)
                .with_context(|| format!("`ssl_truststore_location` {}", path.display()))?;
            let verifier = WebPkiClientVerifier::builder_with_provider(
                Arc::new(roots),
                Arc::clone(&settings.provider),
            );
            let verifier = if auth == ClientAuth::Requested {
                verifier.allow_unauthenticated()
            } else {
                verifier
            };
            builder.with_client_cert_verifier(verifier.build().context("the client verifier")?)
        }
        _ => builder.with_no_client_auth(),
    };
    let config = builder
        .with_single_cert(chain, key)
        .context("`ssl_keystore_location`: the key does not suit the certificate")?;
    Ok(Arc::new(config))
}

/// A PEM keystore: the private key (PKCS#8, PKCS#1 or SEC1, unencrypted) and its certificate
/// chain, the server's own certificate first.
fn read_keystore(path: &Path) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)> {
    let sections = read_sections(path)?;
    let mut chain = Vec::new();
    let mut key = None;
    for (kind, der) in sections {
        match kind {
            SectionKind::Certificate => chain.push(CertificateDer::from(der)),
            SectionKind::PrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs8(der.into()));
            }
            SectionKind::RsaPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Pkcs1(der.into()));
            }
            SectionKind::EcPrivateKey if key.is_none() => {
                key = Some(PrivateKeyDer::Sec1(der.into()));
            }
            _ => {}
        }
    }
    let Some(key) = key else {
        bail!(
            "no private key (an unencrypted `BEGIN PRIVATE KEY`; encrypted keys are not supported)"
        );
    };
    if chain.is_empty() {
        bail!("no certificate");
    }
    Ok((chain, key))
}

fn read_truststore(path: &Path) -> Result<RootCertStore> {
    let mut roots = RootCertStore::empty();
    for (kind, der) in read_sections(path)? {
        if kind == SectionKind::Certificate {
            roots
                .add(CertificateDer::from(der))
                .context("a CA certificate")?;
        }
    }
    if roots.is_empty() {
        bail!("no CA certificate");
    }
    Ok(roots)
}

fn read_sections(path: &Path) -> Result<Vec<(SectionKind, Vec<u8>)>> {
    let file = std::fs::File::open(path).context("cannot open")?;
    let mut reader = std::io::BufReader::new(file);
    let mut sections = Vec::new();
    while let Some(section) = pem::from_buf(&mut reader).context("not valid PEM")? {
        sections.push(section);
    }
    Ok(sections)
}

/// Serves one connection of a TLS listener: the handshake, then the same serving as plaintext
/// over the decrypted stream, with the client certificate's principal.
pub async fn serve(
    socket: TcpStream,
    peer: SocketAddr,
    listener: Arc<ListenerInfo>,
    tls: Arc<Tls>,
    broker: Broker,
    limits: Arc<Limits>,
) {
    if let Err(e) = socket.set_nodelay(true) {
        tracing::debug!(error = %e, "could not set TCP_NODELAY");
    }
    let bound = HANDSHAKE_TIMEOUT.min(Duration::from_millis(
        broker.config().connections_max_idle_ms,
    ));
    let mut shutdown = broker.shutdown_signal();
    let handshake = tls.acceptor().accept(socket);
    let stream = tokio::select! {
        done = tokio::time::timeout(bound, handshake) => match done {
            Ok(Ok(stream)) => stream,
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
                tracing::debug!(%peer, "connection closed before the TLS handshake completed");
                return;
            }
            Ok(Err(e)) => {
                tracing::info!(%peer, listener = %listener.name, error = %e, "failed TLS handshake: connection closed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, timeout_ms = bound.as_millis() as u64, "TLS handshake timed out: connection closed");
                return;
            }
        },
        _ = stopping(&mut shutdown) => return,
    };
    let cert = stream
        .get_ref()
        .1
        .peer_certificates()
        .and_then(|chain| chain.first());
    let principal = match tls.principal(cert) {
        Ok(p) => p,
        Err(e) => {
            tracing::info!(%peer, error = %format!("{e:#}"), "failed TLS authentication: connection closed");
            return;
        }
    };
    tracing::debug!(%peer, %principal, "TLS handshake completed");
    let mut session = Session::anonymous(listener, peer.ip());
    session.principal = principal;
    // One TLS state for both directions: the halves share it behind tokio's split lock.
    let (rd, wr) = tokio::io::split(stream);
    connection::serve_halves(rd, wr, peer, session, broker, limits).await
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustls::pki_types::ServerName;
    use rustls::ClientConfig;
    use rustls_pki_types::pem::PemObject;
    use tokio_rustls::TlsConnector;

    fn certs(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("compat-tests/certs")
            .join(name)
    }

    fn tls_config(keystore: &Path, client_auth: &str) -> Config {
        Config {
            ssl_keystore_location: Some(keystore.to_path_buf()),
            ssl_truststore_location: Some(certs("ca.pem")),
            ssl_client_auth: client_auth.to_string(),
            ssl_principal_mapping_rules: "RULE:^CN=([^,]*),.*$/$1/,DEFAULT".to_string(),
            ..Config::default()
        }
    }

    /// A handshake with `tls` over an in-memory pipe, by a client trusting the test CA and
    /// presenting `client` (a name in compat-tests/certs) if given: the server certificate's
    /// subject and the principal, or why the handshake failed.
    async fn handshake(tls: &Tls, client: Option<&str>) -> Result<(String, Principal)> {
        let mut roots = RootCertStore::empty();
        roots.add(CertificateDer::from_pem_file(certs("ca.pem"))?)?;
        let builder = ClientConfig::builder_with_provider(provider("")?)
            .with_safe_default_protocol_versions()?
            .with_root_certificates(roots);
        let config = match client {
            Some(name) => {
                let (chain, key) = read_keystore(&certs(&format!("{name}-keystore.pem")))?;
                builder.with_client_auth_cert(chain, key)?
            }
            None => builder.with_no_client_auth(),
        };
        let (client_io, server_io) = tokio::io::duplex(64 * 1024);
        let connector = TlsConnector::from(Arc::new(config));
        let name = ServerName::try_from("localhost")?;
        let (client, server) = tokio::join!(
            connector.connect(name, client_io),
            tls.acceptor().accept(server_io)
        );
        let mut client = client?;
        let server = server?;
        // TLS 1.3 sends the verdict on the client's certificate after the client's handshake
        // ends: a refused client learns it at its first read.
        let mut byte = [0u8; 1];
        let mut server = server;
        tokio::io::AsyncWriteExt::write_all(&mut server, b"x").await?;
        tokio::io::AsyncReadExt::read_exact(&mut client, &mut byte).await?;
        let server_cert = client.get_ref().1.peer_certificates().unwrap()[0].clone();
        let principal = tls.principal(
            server
                .get_ref()
                .1
                .peer_certificates()
                .and_then(|c| c.first()),
        )?;
        Ok((ssl::subject_dn(&server_cert)?, principal))
    }

    #[tokio::test]
    async fn client_certificates_give_principals_and_required_means_required() {
        let tls = Tls::for_listeners(&tls_config(&certs("server-keystore.pem"), "required"), true)
            .unwrap()
            .unwrap();
        let (server, principal) = handshake(&tls, Some("alice")).await.unwrap();
        assert_eq!(server, "CN=localhost,O=Sluice,C=US");
        assert_eq!(principal, Principal::user("alice"));
        assert!(
            handshake(&tls, None).await.is_err(),
            "no client certificate"
        );
        assert!(
            handshake(&tls, Some("mallory")).await.is_err(),
            "untrusted CA"
        );

        let tls = Tls::for_listeners(
            &tls_config(&certs("server-keystore.pem"), "requested"),
            true,
        )
        .unwrap()
        .unwrap();
        let (_, principal) = handshake(&tls, None).await.unwrap();
        assert_eq!(principal, Principal::anonymous());
    }

    #[tokio::test]
    async fn a_changed_keystore_is_reloaded_and_a_broken_one_ignored() {
        let dir = tempfile::tempdir().unwrap();
        let keystore = dir.path().join("keystore.pem");
        std::fs::copy(certs("server-keystore.pem"), &keystore).unwrap();
        let tls = Tls::for_listeners(&tls_config(&keystore, "none"), true)
            .unwrap()
            .unwrap();
        assert_eq!(
            handshake(&tls, None).await.unwrap().0,
            "CN=localhost,O=Sluice,C=US"
        );

        // Not a check per handshake: within RELOAD_CHECK of the last one the old file still serves.
        let replace = |from: &str, age: Duration| {
            std::fs::copy(certs(from), &keystore).unwrap();
            let f = std::fs::File::options()
                .write(true)
                .open(&keystore)
                .unwrap();
            f.set_modified(SystemTime::now() - age).unwrap();
        };
        let recheck = || {
            let mut current = tls.current.lock().unwrap();
            current.checked -= RELOAD_CHECK;
        };
        // alice's certificate has no localhost name: a client that checks names refuses it, so a
        // failed handshake shows the file was reloaded.
        replace("alice-keystore.pem", Duration::from_secs(60));
        assert!(
            handshake(&tls, None).await.is_ok(),
            "reloaded before RELOAD_CHECK passed"
        );
        recheck();
        assert!(handshake(&tls, None).await.is_err(), "not reloaded");

        std::fs::write(&keystore, "-----BEGIN PRIVATE KEY-----\nbroken\n").unwrap();
        recheck();
        assert!(
            handshake(&tls, None).await.is_err(),
            "the broken file kept the last good one"
        );
        replace("server-keystore.pem", Duration::from_secs(30));
        recheck();
        assert!(
            handshake(&tls, None).await.is_ok(),
            "reloaded once good again"
        );
    }

    #[test]
    fn bad_stores_fail_the_start_naming_the_key() {
        let dir = tempfile::tempdir().unwrap();
        let err =
            |config: &Config| format!("{:#}", Tls::for_listeners(config, true).err().unwrap());
        let missing = tls_config(&dir.path().join("nope.pem"), "none");
        assert!(
            err(&missing).contains("ssl_keystore_location"),
            "{}",
            err(&missing)
        );
        let cert_only = tls_config(&certs("server.pem"), "none");
        assert!(
            err(&cert_only).contains("no private key"),
            "{}",
            err(&cert_only)
        );
        let key_only = tls_config(&certs("server.key"), "none");
        assert!(
            err(&key_only).contains("no certificate"),
            "{}",
            err(&key_only)
        );
        let mut no_trust = tls_config(&certs("server-keystore.pem"), "required");
        no_trust.ssl_truststore_location = Some(certs("server.key"));
        assert!(
            err(&no_trust).contains("ssl_truststore_location"),
            "{}",
            err(&no_trust)
        );
        no_trust.ssl_truststore_location = None;
        assert!(
            err(&no_trust).contains("ssl_truststore_location"),
            "{}",
            err(&no_trust)
        );
        let no_keystore = Config::default();
        assert!(err(&no_keystore).contains("ssl_keystore_location"));
        assert!(Tls::for_listeners(&no_keystore, false).unwrap().is_none());
    }

    #[test]
    fn protocol_and_suite_names_are_javas() {
        assert_eq!(protocol_versions("TLSv1.2,TLSv1.3").unwrap().len(), 2);
        assert_eq!(protocol_versions("TLSv1.1, TLSv1.3").unwrap().len(), 1);
        assert!(protocol_versions("TLSv1.1").is_err());
        assert!(protocol_versions("SSLv3").is_err());
        let p = provider("TLS_AES_128_GCM_SHA256,TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256").unwrap();
        assert_eq!(p.cipher_suites.len(), 2);
        assert!(provider("TLS_RSA_WITH_RC4_128_MD5").is_err());
        assert!(!provider("").unwrap().cipher_suites.is_empty());
    }

    #[test]
    fn client_auth_takes_kafkas_values() {
        assert_eq!(ClientAuth::parse("REQUIRED").unwrap(), ClientAuth::Required);
        assert!(ClientAuth::parse("want").is_err());
    }
}
