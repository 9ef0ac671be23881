# Checked by the tutorial test: its output must equal test.out.
curl -s http://localhost:8000/hi
curl -s http://localhost:8000/hi/again
curl -s -d 'echo this' http://localhost:8000/echo
echo
curl -s -w '%{http_code}\n' http://localhost:8000/unknown
