# Checked by the tutorial test: its output must equal test.out.
curl -s -d 'Hello!' http://localhost:8080/
echo
curl -s http://localhost:8081/a http://localhost:8081/b
curl -s -d 'four' http://localhost:8081/c
curl -s http://localhost:8082/
curl -si http://localhost:8082/nothing
