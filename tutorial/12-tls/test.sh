# Checked by the tutorial test: its output must equal test.out.
# Every client checks the certificate against the tutorial's CA (never -k).
ca=certs/ca.crt
# HTTPS for two names, each through to the backend.
curl -s --cacert $ca --resolve a.example:8443:127.0.0.1 https://a.example:8443/hello
curl -s --cacert $ca --resolve b.example:8443:127.0.0.1 https://b.example:8443/
# Each name gets its own certificate; ALPN settles on http/1.1.
for name in a.example b.example; do
  echo | openssl s_client -connect 127.0.0.1:8443 -servername $name -alpn h2,http/1.1 -CAfile $ca \
    -verify_hostname $name 2>/dev/null | grep -E '^(subject=|ALPN protocol|Verify return code)' | sort -u
done
# A name with no certificate gets no handshake.
echo | openssl s_client -connect 127.0.0.1:8443 -servername c.example -CAfile $ca 2>&1 | grep -c 'BEGIN CERTIFICATE'
# Plain HTTP is sent to HTTPS.
curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' -H 'Host: a.example:8000' http://127.0.0.1:8000/hello
curl -s -L --cacert $ca --resolve a.example:8443:127.0.0.1 -H 'Host: a.example' http://127.0.0.1:8000/via-redirect
# The backend wants a client certificate: with one from the CA it answers...
printf 'GET /direct HTTP/1.1\r\nhost: backend.example\r\nconnection: close\r\n\r\n' |
  openssl s_client -quiet -connect 127.0.0.1:9443 -servername backend.example -CAfile $ca \
    -cert certs/proxy.client.crt -key certs/proxy.client.key 2>/dev/null | tail -1
# ...and without one it does not.
printf 'GET /direct HTTP/1.1\r\nhost: backend.example\r\nconnection: close\r\n\r\n' |
  openssl s_client -quiet -connect 127.0.0.1:9443 -servername backend.example -CAfile $ca 2>/dev/null | grep -c backend
# Python's ssl module, with the CA and SNI.
python3 - <<'PY'
import socket, ssl
ctx = ssl.create_default_context(cafile="certs/ca.crt")
ctx.set_alpn_protocols(["http/1.1"])
with socket.create_connection(("127.0.0.1", 8443)) as raw:
    with ctx.wrap_socket(raw, server_hostname="b.example") as s:
        s.sendall(b"GET /python HTTP/1.1\r\nhost: b.example\r\nconnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        print(s.version(), s.selected_alpn_protocol(), data.split(b"\r\n\r\n", 1)[1].decode(), end="")
PY
