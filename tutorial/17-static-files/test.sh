# Checked by the tutorial test: its output must equal test.out.
# The index page, with its type and validator.
curl -s -D - http://localhost:8080/ | tr -d '\r'
# A stylesheet's type; a folder's own index (a .md file, by the index option).
curl -s -o /dev/null -w '%{http_code} %{content_type}\n' http://localhost:8080/style.css
curl -s http://localhost:8080/docs/
# A folder named without its slash is sent to it.
curl -s -o /dev/null -w '%{http_code} %{redirect_url}\n' http://localhost:8080/docs
# Bytes 6 to 10 only, as a download resuming would ask.
curl -s -r 6-10 -w ' %{http_code}\n' http://localhost:8080/style.css
# Asked again with the validator it got: nothing changed, nothing sent.
etag=$(curl -s -D - -o /dev/null http://localhost:8080/style.css | tr -d '\r' | sed -n 's/^etag: //p')
curl -s -o /dev/null -w '%{http_code}\n' -H "If-None-Match: $etag" http://localhost:8080/style.css
# Nothing outside www/ is served, however the path is written.
curl -s -w '%{http_code}\n' --path-as-is http://localhost:8080/../main.js
curl -s -w '%{http_code}\n' http://localhost:8080/%2e%2e/main.js
curl -s -w '%{http_code}\n' http://localhost:8080/missing.html
