#!/usr/bin/env bash
# Regenerates the test PKI of the TLS compat tests (compat-tests/tests/tls.rs, python/test_tls.py,
# java TlsTest). 100-year validity so the tests never expire; unencrypted PKCS#8 keys ("BEGIN
# PRIVATE KEY"), the form Kafka's PEM keystore (ssl.keystore.type=PEM) and rustls both read.
#
#   ca.pem                  the test CA (the truststore of brokers and clients)
#   server.pem, server.key  the broker's certificate (SAN localhost, 127.0.0.1, ::1) and key
#   server-keystore.pem     key + certificate chain in one file: ssl_keystore_location
#   alice.pem, alice.key    a client certificate CN=alice,OU=eng,O=Sluice,C=US signed by the CA
#   alice-keystore.pem      key + chain, for clients that take one file (Java's PEM keystore)
#   dn.pem                  a client certificate whose subject exercises RFC 2253 escaping
#   untrusted-ca.pem        a second CA nobody trusts
#   mallory.pem, .key       a client certificate CN=mallory signed by the untrusted CA
#   mallory-keystore.pem    key + chain
# The CA keys are kept (ca.key, untrusted-ca.key) to sign further test certificates.
set -euo pipefail
cd "$(dirname "$0")"
DAYS=36500
rm -f ./*.pem ./*.key ./*.srl

ca() { # name subject
  openssl req -x509 -newkey rsa:2048 -nodes -days $DAYS -subj "$2" \
    -keyout "$1.key" -out "$1.pem" \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign 2>/dev/null
}

leaf() { # name subject ca extensions [req options]
  openssl req -newkey rsa:2048 -nodes ${5:-} -subj "$2" -keyout "$1.key" -out "$1.csr" 2>/dev/null
  printf '%s\n' "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA "$3.pem" -CAkey "$3.key" -CAcreateserial -days $DAYS \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  cat "$1.key" "$1.pem" "$3.pem" > "$1-keystore.pem"
  rm -f "$1.csr" "$1.ext"
}

CLIENT='basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=clientAuth'

ca ca "/C=US/O=Sluice/CN=Sluice Test CA"
ca untrusted-ca "/C=US/O=Elsewhere/CN=Untrusted Test CA"
leaf server "/C=US/O=Sluice/CN=localhost" ca 'basicConstraints=CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1,IP:::1'
leaf alice "/C=US/O=Sluice/OU=eng/CN=alice" ca "$CLIENT"
leaf mallory "/C=US/O=Elsewhere/CN=mallory" untrusted-ca "$CLIENT"
# Multi-valued RDN, characters RFC 2253 escapes, a leading space, and emailAddress (which Java
# writes by OID, its value as hex DER).
leaf dn "/DC=com/DC=example/O=Sluice, Inc./OU=eng+UID=42/CN= bob #1;x=y/emailAddress=bob@example.com" ca "$CLIENT" -multivalue-rdn
rm -f dn-keystore.pem ./*.srl
echo "regenerated in $PWD"
