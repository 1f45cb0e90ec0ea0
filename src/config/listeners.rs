//! Named listeners, configured with Kafka's three keys: `listeners` (`NAME://HOST:PORT,...`, what to
//! bind), `advertised_listeners` (what Metadata tells a client that connected through each) and
//! `listener_security_protocol_map` (`NAME:PROTOCOL,...`). Without `listeners`, the older `listen` and
//! `advertise` keys make the one plaintext listener they always did, named PLAINTEXT.
//!
//! Two departures from Kafka, both for tests and containers: a listener on port 0 binds a free port,
//! and an advertised port 0 (or a listener left out of `advertised_listeners`) is replaced by the
//! bound port once it is known.

use std::collections::BTreeMap;
use std::net::{SocketAddr, ToSocketAddrs};

use anyhow::{bail, Context, Result};

use super::broker::{parse_host_port, parse_listen, Config};

/// Kafka's security protocols: how a listener's connections are carried and authenticated.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SecurityProtocol {
    Plaintext,
    Ssl,
    SaslPlaintext,
    SaslSsl,
}

impl SecurityProtocol {
    pub fn parse(s: &str) -> Result<SecurityProtocol> {
        Ok(match s.trim().to_ascii_uppercase().as_str() {
            "PLAINTEXT" => SecurityProtocol::Plaintext,
            "SSL" => SecurityProtocol::Ssl,
            "SASL_PLAINTEXT" => SecurityProtocol::SaslPlaintext,
            "SASL_SSL" => SecurityProtocol::SaslSsl,
            other => bail!(
                "{other:?} is not a security protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL)"
            ),
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            SecurityProtocol::Plaintext => "PLAINTEXT",
            SecurityProtocol::Ssl => "SSL",
            SecurityProtocol::SaslPlaintext => "SASL_PLAINTEXT",
            SecurityProtocol::SaslSsl => "SASL_SSL",
        }
    }

    /// Connections are wrapped in TLS.
    pub fn tls(self) -> bool {
        matches!(self, SecurityProtocol::Ssl | SecurityProtocol::SaslSsl)
    }

    /// Clients authenticate with SASL before anything but ApiVersions and the SASL APIs is served.
    pub fn sasl(self) -> bool {
        matches!(
            self,
            SecurityProtocol::SaslPlaintext | SecurityProtocol::SaslSsl
        )
    }
}

/// One listener as configured.
#[derive(Debug, Clone, PartialEq)]
pub struct ListenerSpec {
    /// Upper case, as Kafka normalises it.
    pub name: String,
    pub bind: SocketAddr,
    /// `host:port` clients are told; `None`, or port 0, means the bound address (see the module doc).
    pub advertised: Option<(String, u16)>,
    pub protocol: SecurityProtocol,
}

impl ListenerSpec {
    /// The address Metadata gives clients of this listener, once `bound` is known.
    pub fn advertised_address(&self, bound: SocketAddr) -> (String, u16) {
        match &self.advertised {
            Some((host, port)) => (host.clone(), if *port == 0 { bound.port() } else { *port }),
            None if bound.ip().is_unspecified() => ("localhost".to_string(), bound.port()),
            None => (bound.ip().to_string(), bound.port()),
        }
    }
}

/// Kafka's default `listener.security.protocol.map`: each protocol's own name maps to it.
const DEFAULT_MAP: &str =
    "PLAINTEXT:PLAINTEXT,SSL:SSL,SASL_PLAINTEXT:SASL_PLAINTEXT,SASL_SSL:SASL_SSL";

/// The listeners `config` describes, in the order `listeners` gives them; the first is the one
/// the broker reports where a single address is asked for (DescribeQuorum, the start-up line).
pub fn listener_specs(config: &Config) -> Result<Vec<ListenerSpec>> {
    let Some(listeners) = config.listeners.as_deref() else {
        let bind = parse_listen(&config.listen).context("invalid `listen`")?;
        let advertised = match &config.advertise {
            Some(adv) => Some(parse_host_port(adv).context("invalid `advertise`")?),
            None => None,
        };
        return Ok(vec![ListenerSpec {
            name: "PLAINTEXT".to_string(),
            bind,
            advertised,
            protocol: SecurityProtocol::Plaintext,
        }]);
    };
    let map_text = config
        .listener_security_protocol_map
        .as_deref()
        .unwrap_or(DEFAULT_MAP);
    let mut map = BTreeMap::new();
    for entry in split_list(map_text) {
        let (name, protocol) = entry.split_once(':').with_context(|| {
            format!("invalid `listener_security_protocol_map`: {entry:?} is not NAME:PROTOCOL")
        })?;
        let protocol = SecurityProtocol::parse(protocol)
            .context("invalid `listener_security_protocol_map`")?;
        map.insert(listener_name(name)?, protocol);
    }
    let mut specs: Vec<ListenerSpec> = Vec::new();
    for entry in split_list(listeners) {
        let (name, host, port) = parse_endpoint(entry).context("invalid `listeners`")?;
        if specs.iter().any(|s| s.name == name) {
            bail!("invalid `listeners`: {name} is named twice");
        }
        let Some(&protocol) = map.get(&name) else {
            bail!(
                "invalid `listeners`: listener {name} has no security protocol in \
                 `listener_security_protocol_map`"
            );
        };
        let bind =
            bind_address(&host, port).with_context(|| format!("invalid `listeners`: {entry:?}"))?;
        if port != 0 && specs.iter().any(|s| s.bind.port() == port) {
            bail!("invalid `listeners`: port {port} is used by two listeners");
        }
        specs.push(ListenerSpec {
            name,
            bind,
            advertised: None,
            protocol,
        });
    }
    if specs.is_empty() {
        bail!("`listeners` names no listener");
    }
    if let Some(advertised) = config.advertised_listeners.as_deref() {
        for entry in split_list(advertised) {
            let (name, host, port) =
                parse_endpoint(entry).context("invalid `advertised_listeners`")?;
            let Some(spec) = specs.iter_mut().find(|s| s.name == name) else {
                bail!("invalid `advertised_listeners`: {name} is not one of `listeners`");
            };
            if host.is_empty() {
                bail!("invalid `advertised_listeners`: {entry:?} has no host");
            }
            spec.advertised = Some((host, port));
        }
    }
    Ok(specs)
}

fn split_list(s: &str) -> impl Iterator<Item = &str> {
    s.split(',').map(str::trim).filter(|e| !e.is_empty())
}

fn listener_name(name: &str) -> Result<String> {
    let name = name.trim();
    if name.is_empty()
        || !name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
    {
        bail!("{name:?} is not a listener name (letters, digits, '_' and '-')");
    }
    Ok(name.to_ascii_uppercase())
}

/// `NAME://HOST:PORT`, the host possibly empty or a bracketed IPv6 address.
fn parse_endpoint(entry: &str) -> Result<(String, String, u16)> {
    let (name, rest) = entry
        .split_once("://")
        .with_context(|| format!("{entry:?} is not NAME://HOST:PORT"))?;
    let (host, port) = rest
        .rsplit_once(':')
        .with_context(|| format!("{entry:?} has no port"))?;
    let port: u16 = port
        .parse()
        .with_context(|| format!("{entry:?} has an invalid port"))?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    Ok((listener_name(name)?, host.to_string(), port))
}

/// What a listener binds: an empty host is every interface (IPv6 and IPv4), as in Kafka.
fn bind_address(host: &str, port: u16) -> Result<SocketAddr> {
    if host.is_empty() {
        return Ok(SocketAddr::from((std::net::Ipv6Addr::UNSPECIFIED, port)));
    }
    if let Ok(ip) = host.parse::<std::net::IpAddr>() {
        return Ok(SocketAddr::new(ip, port));
    }
    // A host name is resolved once, at start-up.
    (host, port)
        .to_socket_addrs()
        .with_context(|| format!("cannot resolve {host:?}"))?
        .next()
        .with_context(|| format!("{host:?} resolves to no address"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(listeners: &str, advertised: Option<&str>, map: Option<&str>) -> Config {
        Config {
            listeners: Some(listeners.to_string()),
            advertised_listeners: advertised.map(str::to_string),
            listener_security_protocol_map: map.map(str::to_string),
            ..Config::default()
        }
    }

    #[test]
    fn without_listeners_listen_and_advertise_make_one_plaintext_listener() {
        let specs = listener_specs(&Config::default()).unwrap();
        assert_eq!(specs.len(), 1);
        assert_eq!(specs[0].name, "PLAINTEXT");
        assert_eq!(specs[0].protocol, SecurityProtocol::Plaintext);
        assert_eq!(specs[0].bind, "[::]:9092".parse().unwrap());
        let bound: SocketAddr = "[::]:9092".parse().unwrap();
        assert_eq!(
            specs[0].advertised_address(bound),
            ("localhost".into(), 9092)
        );
    }

    #[test]
    fn named_listeners_with_their_protocols_and_addresses() {
        let c = config(
            "external://0.0.0.0:9092, INTERNAL://:29092,SSL://127.0.0.1:0",
            Some("EXTERNAL://localhost:9092,INTERNAL://sluice:29092"),
            Some("EXTERNAL:PLAINTEXT,INTERNAL:SASL_PLAINTEXT,SSL:SSL"),
        );
        let specs = listener_specs(&c).unwrap();
        let names: Vec<_> = specs.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, ["EXTERNAL", "INTERNAL", "SSL"]);
        assert_eq!(specs[1].protocol, SecurityProtocol::SaslPlaintext);
        assert_eq!(specs[1].bind, "[::]:29092".parse().unwrap());
        assert_eq!(specs[1].advertised, Some(("sluice".into(), 29092)));
        // Port 0 and no advertised address: the bound address.
        let bound: SocketAddr = "127.0.0.1:41000".parse().unwrap();
        assert_eq!(
            specs[2].advertised_address(bound),
            ("127.0.0.1".into(), 41000)
        );
    }

    #[test]
    fn the_default_map_knows_the_protocol_names() {
        let specs = listener_specs(&config("SASL_SSL://:9093", None, None)).unwrap();
        assert_eq!(specs[0].protocol, SecurityProtocol::SaslSsl);
        assert!(specs[0].protocol.tls() && specs[0].protocol.sasl());
    }

    #[test]
    fn mistakes_name_the_key() {
        for (c, key) in [
            (
                config("OTHER://:9092", None, None),
                "listener_security_protocol_map",
            ),
            (
                config("PLAINTEXT://:9092,PLAINTEXT://:9093", None, None),
                "twice",
            ),
            (
                config("PLAINTEXT://:9092,SSL://:9092", None, None),
                "two listeners",
            ),
            (config("PLAINTEXT:9092", None, None), "listeners"),
            (
                config("PLAINTEXT://:9092", Some("SSL://h:1"), None),
                "advertised_listeners",
            ),
            (
                config("A://:9092", None, Some("A:TLS")),
                "listener_security_protocol_map",
            ),
            (config(" , ", None, None), "names no listener"),
        ] {
            let err = format!("{:#}", listener_specs(&c).unwrap_err());
            assert!(err.contains(key), "{err}");
        }
    }
}
