# Checked by the tutorial test: its output must equal test.out.
# Sequential: 8081 is busy (503), so 8082 answers, even though it is slow.
curl -s -w '%{http_code}\n' http://localhost:8000/hello
# A 404 is usable by default: 8082's answer is the answer.
curl -s -w '%{http_code}\n' http://localhost:8000/missing
# Parallel: all three are asked at once; the fast 8083 wins.
curl -s -w '%{http_code}\n' http://localhost:8001/hello
# Only 1xx-3xx usable on this front: 8082's 404 is passed over for 8083.
curl -s -w '%{http_code}\n' http://localhost:8002/missing
# Nothing usable: 500.
curl -s -w '%{http_code}\n' http://localhost:8003/hello
