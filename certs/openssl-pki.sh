#!/usr/bin/env bash
# Issue Sightline certificates with the openssl CLI, for an organisation with its own PKI.
# These are the commands certs/README.md explains; the test suite runs this script and checks
# that the gateway accepts what it makes.
#
#   certs/openssl-pki.sh init-ca DIR
#   certs/openssl-pki.sh issue CA_DIR TRUST_DOMAIN ROLE ID OUT_DIR [serves]
set -euo pipefail

case "${1:-}" in
init-ca)
  dir=$2
  mkdir -p "$dir"; chmod 700 "$dir"
  # P-256 key for the partnership CA; keep it offline: never on the gateway host (certs/README.md).
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$dir/ca-key.pem"
  chmod 600 "$dir/ca-key.pem"
  # Self-signed root, allowed to sign end-entity certificates only (pathlen 0).
  openssl req -x509 -new -key "$dir/ca-key.pem" -sha256 -days 3650 \
    -subj "/O=Sightline partnership/CN=Partnership CA" \
    -addext "basicConstraints=critical,CA:TRUE,pathlen:0" \
    -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -addext "subjectKeyIdentifier=hash" \
    -out "$dir/ca.pem"
  ;;
issue)
  ca=$2 domain=$3 role=$4 id=$5 out=$6 serves=${7:-}
  # clientAuth to call the gateway; serverAuth only for a participant that receives pushed
  # forwards (sightline partner listen), so no other certificate can pose as a server.
  usage=clientAuth
  if [ "$serves" = serves ]; then usage=clientAuth,serverAuth; fi
  mkdir -p "$out"; chmod 700 "$out"
  openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$out/key.pem"
  chmod 600 "$out/key.pem"
  openssl req -new -key "$out/key.pem" -subj "/O=Sightline partnership/CN=$role\/$id" -out "$out/request.csr"
  # The identity is the one URI SAN.
  cat >"$out/extensions.cnf" <<EXT
basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature
extendedKeyUsage=$usage
subjectAltName=URI:spiffe://$domain/$role/$id
authorityKeyIdentifier=keyid
EXT
  openssl x509 -req -in "$out/request.csr" -CA "$ca/ca.pem" -CAkey "$ca/ca-key.pem" -CAcreateserial \
    -days 397 -sha256 -extfile "$out/extensions.cnf" -out "$out/cert.pem"
  cp "$ca/ca.pem" "$out/ca.pem"
  rm -f "$out/request.csr" "$out/extensions.cnf"
  ;;
*)
  echo "usage: $0 init-ca DIR | issue CA_DIR TRUST_DOMAIN ROLE ID OUT_DIR [serves]" >&2
  exit 64
  ;;
esac
