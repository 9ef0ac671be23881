#!/usr/bin/env bash
# Makes the certificates this tutorial uses, in certs/: a test CA, server
# certificates for a.example, b.example and backend.example, and a client
# certificate the proxy shows the backend. Throwaway keys, made on your machine;
# run it again to make new ones.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p certs && cd certs
openssl ecparam -name prime256v1 -genkey -noout -out ca.key
openssl req -x509 -new -key ca.key -out ca.crt -days 30 -subj "/CN=Tutorial CA" 2>/dev/null
for name in a.example b.example backend.example proxy.client; do
  openssl ecparam -name prime256v1 -genkey -noout -out "$name.key"
  openssl req -new -key "$name.key" -out "$name.csr" -subj "/CN=$name" 2>/dev/null
  printf 'subjectAltName=DNS:%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$name" > "$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.crt -CAkey ca.key -CAcreateserial \
    -out "$name.crt" -days 30 -extfile "$name.ext" 2>/dev/null
  rm "$name.csr" "$name.ext"
done
