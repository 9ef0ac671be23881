#!/usr/bin/env bash
# Makes the certificate this tutorial serves, in certs/: a test CA and a server
# certificate for localhost. Throwaway keys, made on your machine.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p certs && cd certs
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days 30 -subj "/CN=Tutorial CA" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out server.key
openssl req -new -key server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
printf 'subjectAltName=DNS:localhost\nextendedKeyUsage=serverAuth\n' > server.ext
openssl x509 -req -in server.csr -CA ca.crt -CAkey ca.key -CAcreateserial \
  -out server.crt -days 30 -extfile server.ext 2>/dev/null
rm server.csr server.ext
