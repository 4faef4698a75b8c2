#!/bin/sh
# Regenerate the test PKI used by tests/unit/net (TLS engine tests).
#
#   ca.pem                 self-signed test CA (the only trust anchor the tests use)
#   server.pem/server.key  server certificate signed by the CA:
#                          CN=localhost, SAN DNS:localhost, IP:127.0.0.1, serverAuth
#   client.pem/client.key  client certificate signed by the CA (mutual TLS tests), clientAuth
#
# Keys are EC P-256 (small and fast); validity is long (~100 years) so the files can
# be committed and never expire under the test suite.  The CA key is thrown away: to
# change anything, rerun this script and commit all the files together.
#
# Usage: sh tests/unit/net/certs/make_certs.sh   (needs the openssl command, 1.1.1+)
set -eu

here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
days=36500

cd "$work"

openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -sha256 -days "$days" \
    -subj "/O=coroloop tests/CN=coroloop test CA" \
    -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out ca.pem

# issue NAME SUBJECT EXTENSIONS
issue() {
    openssl ecparam -name prime256v1 -genkey -noout -out "$1.key.ec"
    # PKCS#8, unencrypted: what ssl.SSLContext.load_cert_chain reads without a password.
    openssl pkcs8 -topk8 -nocrypt -in "$1.key.ec" -out "$1.key"
    openssl req -new -key "$1.key" -subj "$2" -out "$1.csr"
    printf '%s\n' "$3" > "$1.ext"
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial \
        -sha256 -days "$days" -extfile "$1.ext" -out "$1.pem"
}

issue server "/O=coroloop tests/CN=localhost" \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
extendedKeyUsage=serverAuth
subjectAltName=DNS:localhost,IP:127.0.0.1
authorityKeyIdentifier=keyid"

issue client "/O=coroloop tests/CN=coroloop test client" \
"basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=clientAuth
authorityKeyIdentifier=keyid"

openssl verify -CAfile ca.pem server.pem client.pem
cp ca.pem server.pem server.key client.pem client.key "$here/"
echo "certificates written to $here"
