//! The principal of a TLS client certificate: its subject DN written as Java's
//! `X500Principal.getName()` writes it (RFC 2253), then mapped by Kafka's
//! `ssl.principal.mapping.rules` (`ssl_principal_mapping_rules`), so ACLs and `super_users` written
//! for a Kafka cluster name the same principals here.
//!
//! The rules: a comma-separated list of `DEFAULT` (the DN itself) and
//! `RULE:pattern/replacement/[LU]`, tried in order; the first whose pattern matches the whole DN
//! gives the name, every match of the pattern in the DN replaced (Java's `replaceAll`, `$n` naming a
//! group), lower- or upper-cased with `L` or `U`. A DN no rule matches is refused, as Kafka refuses
//! the connection. Patterns are Rust regexes: the common Java syntax is the same, but look-around
//! and back-references inside a pattern are not supported (a start-up error names the key).

use anyhow::{bail, Context, Result};
use regex::{Captures, Regex};
use x509_parser::asn1_rs::{Any, Tag, ToDer};
use x509_parser::prelude::{FromDer, X509Certificate};

/// One rule, as Kafka's `SslPrincipalMapper.Rule`.
#[derive(Debug, Clone)]
enum Rule {
    Default,
    Replace {
        /// The pattern anchored at both ends: a rule applies only when it matches the whole DN.
        whole: Regex,
        pattern: Regex,
        replacement: String,
        case: Case,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Case {
    Keep,
    Lower,
    Upper,
}

/// `ssl_principal_mapping_rules`, parsed.
#[derive(Debug, Clone)]
pub struct PrincipalMapper {
    rules: Vec<Rule>,
}

/// Kafka's rule grammar (SslPrincipalMapper's RULE_PATTERN): `\x` escapes inside the pattern and
/// the replacement, so either may hold a `/`.
const RULE: &str = r"(DEFAULT)|RULE:((?:\\.|[^\\/])*)/((?:\\.|[^\\/])*)/([LU]?).*?|(.*?)";

impl PrincipalMapper {
    pub fn parse(rules: &str) -> Result<PrincipalMapper> {
        let splitter = Regex::new(&format!(r"\s*({RULE})\s*(?:,\s*|$)")).expect("valid");
        let parser = Regex::new(&format!("^(?:{RULE})")).expect("valid");
        let mut parsed = Vec::new();
        for found in splitter.captures_iter(rules.trim()) {
            let rule = &found[1];
            let caps = parser.captures(rule).expect("the splitter matched it");
            let end = caps.get(0).map_or(0, |m| m.end());
            if end != rule.len() {
                bail!("invalid rule {rule:?}: unmatched {:?}", &rule[end..]);
            }
            if caps.get(1).is_some() {
                parsed.push(Rule::Default);
            } else if let (Some(pattern), Some(replacement)) = (caps.get(2), caps.get(3)) {
                let pattern = pattern.as_str();
                let compile = |p: &str| {
                    Regex::new(p).with_context(|| format!("pattern {pattern:?} of rule {rule:?}"))
                };
                parsed.push(Rule::Replace {
                    whole: compile(&format!("^(?:{pattern})$"))?,
                    pattern: compile(pattern)?,
                    replacement: replacement.as_str().to_string(),
                    case: match caps.get(4).map(|m| m.as_str()) {
                        Some("L") => Case::Lower,
                        Some("U") => Case::Upper,
                        _ => Case::Keep,
                    },
                });
            }
            // Anything else matched the empty alternative: an empty rule, ignored as Kafka does.
        }
        Ok(PrincipalMapper { rules: parsed })
    }

    /// The principal name of `dn` (RFC 2253), or `None` when no rule applies.
    pub fn name(&self, dn: &str) -> Option<String> {
        self.rules.iter().find_map(|rule| match rule {
            Rule::Default => Some(dn.to_string()),
            Rule::Replace {
                whole,
                pattern,
                replacement,
                case,
            } => {
                if !whole.is_match(dn) {
                    return None;
                }
                let name = replace_all(pattern, dn, replacement);
                Some(match case {
                    Case::Keep => name,
                    // Locale.ENGLISH in Kafka: no locale-specific mappings, as Rust's are.
                    Case::Lower => name.to_lowercase(),
                    Case::Upper => name.to_uppercase(),
                })
            }
        })
    }
}

/// Java's `String.replaceAll`: every match, an empty match also right after a non-empty one (so
/// `.*` replaces twice, as in Java), the replacement in Java's syntax.
fn replace_all(pattern: &Regex, text: &str, replacement: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    let mut from = 0;
    while from <= text.len() {
        let Some(caps) = pattern.captures_at(text, from) else {
            break;
        };
        let m = caps.get(0).expect("group 0 always matches");
        out.push_str(&text[copied..m.start()]);
        expand(&caps, replacement, &mut out);
        copied = m.end();
        from = if m.is_empty() {
            match text[m.end()..].chars().next() {
                Some(c) => m.end() + c.len_utf8(),
                None => break,
            }
        } else {
            m.end()
        };
    }
    out.push_str(&text[copied..]);
    out
}

/// Appends `replacement` with Java's `Matcher.appendReplacement` syntax: `\x` is `x`, `$n` is group
/// n, digits joining the number while it names a group. A `$n` beyond the groups is literal, as
/// Kafka makes it (its `escapeLiteralBackReferences`).
fn expand(caps: &Captures<'_>, replacement: &str, out: &mut String) {
    let groups = caps.len() - 1;
    let mut chars = replacement.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '$' => {
                let Some(first) = chars.peek().and_then(|d| d.to_digit(10)) else {
                    out.push('$');
                    continue;
                };
                chars.next();
                let mut group = first as usize;
                if group > groups {
                    out.push('$');
                    out.push(char::from_digit(first, 10).expect("a digit"));
                    continue;
                }
                while let Some(d) = chars.peek().and_then(|d| d.to_digit(10)) {
                    let longer = group * 10 + d as usize;
                    if longer > groups {
                        break;
                    }
                    group = longer;
                    chars.next();
                }
                if let Some(m) = caps.get(group) {
                    out.push_str(m.as_str());
                }
            }
            c => out.push(c),
        }
    }
}

/// The subject DN of a DER certificate as Java's `X500Principal.getName()` (RFC 2253) gives it: the
/// RDNs last first, the attribute types Java names in RFC 2253 by name and others by OID with
/// their value as `#` and the hex of its DER encoding, the values escaped as Java escapes them.
pub fn subject_dn(cert_der: &[u8]) -> Result<String> {
    let (_, cert) =
        X509Certificate::from_der(cert_der).map_err(|e| anyhow::anyhow!("bad certificate: {e}"))?;
    let rdns: Vec<String> = cert
        .subject()
        .iter()
        .map(|rdn| {
            rdn.iter()
                .map(|atv| attribute(&atv.attr_type().to_id_string(), atv.attr_value()))
                .collect::<Vec<_>>()
                .join("+")
        })
        .collect();
    Ok(rdns.into_iter().rev().collect::<Vec<_>>().join(","))
}

/// The keywords Java's X500Principal writes in RFC 2253 form; every other type is its OID.
fn keyword(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.9" => "STREET",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

fn attribute(oid: &str, value: &Any<'_>) -> String {
    let text = keyword(oid).and_then(|_| string_value(value));
    match (keyword(oid), text) {
        (Some(name), Some(text)) => format!("{name}={}", escape(&text)),
        (name, _) => {
            let der = value.to_der_vec().unwrap_or_default();
            let hex: String = der.iter().map(|b| format!("{b:02x}")).collect();
            format!("{}=#{hex}", name.unwrap_or(oid))
        }
    }
}

/// The text of a directory string, for the string types Java writes as text.
fn string_value(value: &Any<'_>) -> Option<String> {
    let data = value.data;
    match value.tag() {
        Tag::PrintableString
        | Tag::Utf8String
        | Tag::Ia5String
        | Tag::T61String
        | Tag::GeneralString => Some(String::from_utf8_lossy(data).into_owned()),
        Tag::BmpString => {
            let units: Vec<u16> = data
                .chunks_exact(2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]))
                .collect();
            Some(String::from_utf16_lossy(&units))
        }
        Tag::UniversalString => data
            .chunks_exact(4)
            .map(|b| char::from_u32(u32::from_be_bytes([b[0], b[1], b[2], b[3]])))
            .collect(),
        _ => None,
    }
}

/// Java's RFC 2253 escaping: `,=+<>#;"\` anywhere, NUL as `\00`, spaces (and CRs) leading or
/// trailing; everything else as it is.
fn escape(value: &str) -> String {
    let chars: Vec<char> = value.chars().collect();
    let blank = |c: &char| *c == ' ' || *c == '\r';
    let lead = chars.iter().take_while(|c| blank(c)).count();
    let trail = chars.len() - chars.iter().rev().take_while(|c| blank(c)).count();
    let mut out = String::with_capacity(value.len());
    for (i, c) in chars.into_iter().enumerate() {
        if c == '\0' {
            out.push_str("\\00");
        } else if ",=+<>#;\"\\".contains(c) || i < lead || i >= trail {
            out.push('\\');
            out.push(c);
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(rules: &str, dn: &str) -> Option<String> {
        PrincipalMapper::parse(rules).unwrap().name(dn)
    }

    #[test]
    fn default_is_the_dn_itself() {
        let dn = "CN=alice,OU=eng,O=Sluice,C=US";
        assert_eq!(map("DEFAULT", dn).as_deref(), Some(dn));
        assert_eq!(map("", dn), None, "no rules: nothing matches");
    }

    // The cases of Kafka's SslPrincipalMapperTest, re-derived.
    #[test]
    fn rules_map_as_kafka_maps_them() {
        let rules = "RULE:^CN=(.*?),OU=ServiceUsers.*$/$1/,\
                     RULE:^CN=(.*?),OU=(.*?),O=(.*?),L=(.*?),ST=(.*?),C=(.*?)$/$1@$2/L,\
                     RULE:^cn=(.*?),ou=(.*?),dc=(.*?),dc=(.*?)$/$1@$2/U,\
                     RULE:^.*[Cc][Nn]=([a-zA-Z0-9.]*).*$/$1/U,\
                     DEFAULT";
        let cases = [
            ("CN=Duke,OU=ServiceUsers,O=Org,C=US", "Duke"),
            ("CN=Duke,OU=SME,O=mycp,L=Fulton,ST=MD,C=US", "duke@sme"),
            ("cn=duke,ou=sme,dc=mycp,dc=com", "DUKE@SME"),
            ("cN=duke,OU=JavaSoft,O=Sun Microsystems", "DUKE"),
            (
                "OU=JavaSoft,O=Sun Microsystems,C=US",
                "OU=JavaSoft,O=Sun Microsystems,C=US",
            ),
        ];
        for (dn, want) in cases {
            assert_eq!(map(rules, dn).as_deref(), Some(want), "{dn}");
        }
    }

    #[test]
    fn escaped_slashes_commas_and_spaces_between_rules() {
        assert_eq!(
            map(r"RULE:^CN=(.*),O=(.*)$/$1\/$2/", "CN=a,O=b").as_deref(),
            Some("a/b")
        );
        assert_eq!(
            map("  RULE:^CN=([^,]*),.*$/x-$1/L ,  DEFAULT ", "CN=Bob,O=b").as_deref(),
            Some("x-bob")
        );
        assert_eq!(
            map("RULE:^O=(.*)$/$1/,DEFAULT", "CN=a,O=b").as_deref(),
            Some("CN=a,O=b"),
            "a rule must match the whole DN"
        );
    }

    #[test]
    fn replacement_follows_java() {
        // A group beyond the pattern's is literal; digits join a group number while it exists;
        // `.*` also matches the empty end, so it is replaced twice, as Java's replaceAll does.
        assert_eq!(map("RULE:^(a)(b)$/$3$1/", "ab").as_deref(), Some("$3a"));
        assert_eq!(map("RULE:^(a)(b)$/$12/", "ab").as_deref(), Some("a2"));
        assert_eq!(map("RULE:.*/x/", "ab").as_deref(), Some("xx"));
        assert_eq!(map(r"RULE:^(a)$/\$1/", "a").as_deref(), Some("$1"));
    }

    #[test]
    fn malformed_rules_are_refused() {
        for bad in [
            "NOT_A_RULE",
            "RULE:a/b/X",
            "RULE:^CN=(.*$/$1/",
            "DEFAULT,RULE:a/b",
        ] {
            assert!(PrincipalMapper::parse(bad).is_err(), "{bad}");
        }
    }

    fn cert(name: &str) -> Vec<u8> {
        use rustls_pki_types::pem::PemObject;
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("compat-tests/certs")
            .join(name);
        rustls_pki_types::CertificateDer::from_pem_file(path)
            .unwrap()
            .to_vec()
    }

    /// The expected names are what Java 17's `X500Principal.getName()` printed for these files.
    #[test]
    fn subject_dns_are_written_as_java_writes_them() {
        assert_eq!(
            subject_dn(&cert("alice.pem")).unwrap(),
            "CN=alice,OU=eng,O=Sluice,C=US"
        );
        assert_eq!(
            subject_dn(&cert("dn.pem")).unwrap(),
            concat!(
                r"1.2.840.113549.1.9.1=#160f626f62406578616d706c652e636f6d,",
                r"CN=\ bob \#1\;x\=y,OU=eng+UID=42,O=Sluice\, Inc.,DC=example,DC=com"
            )
        );
        assert!(subject_dn(b"not a certificate").is_err());
    }

    #[test]
    fn values_are_escaped_as_java_escapes_them() {
        assert_eq!(escape("a,b=c+d"), r"a\,b\=c\+d");
        assert_eq!(escape(" a b "), r"\ a b\ ");
        assert_eq!(escape("#x;y\"z\\<>"), r#"\#x\;y\"z\\\<\>"#);
        assert_eq!(escape("a\0b_é@"), "a\\00b_é@");
    }
}
