# Checked by the tutorial test: its output must equal test.out.
ca=certs/ca.crt
# HTTP/1 and h2c with prior knowledge, on one port.
curl -s http://localhost:8080/one
curl -s --http2-prior-knowledge http://localhost:8080/two
curl -s -o /dev/null -w '%{http_version}\n' --http2-prior-knowledge http://localhost:8080/
# TLS: ALPN picks HTTP/2 for a client that offers it, HTTP/1.1 for one that does not.
curl -s -o /dev/null -w '%{http_version}\n' --http2 --cacert $ca https://localhost:8443/
curl -s -o /dev/null -w '%{http_version}\n' --http1.1 --cacert $ca https://localhost:8443/
curl -s --http2 --cacert $ca https://localhost:8443/three
# nghttp: several streams on one connection.
nghttp -n -s http://127.0.0.1:8080/a http://127.0.0.1:8080/b http://127.0.0.1:8080/c 2>&1 | grep -c ' 200 '
# To the h2c origin: every request, from every client, on one HTTP/2 connection.
nghttp -n -s http://127.0.0.1:8080/h2/a http://127.0.0.1:8080/h2/b http://127.0.0.1:8080/h2/c 2>&1 | grep -c ' 200 '
curl -s http://localhost:8080/h2/d
curl -s --http2 --cacert $ca https://localhost:8443/h2/e
