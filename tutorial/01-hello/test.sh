# Checked by the tutorial test: its output must equal test.out.
curl -si http://localhost:8080/
echo
curl -s http://localhost:8080/any/path?at=all
curl -s -X POST -d 'ignored' http://localhost:8080/
