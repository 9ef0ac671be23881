# Checked by the tutorial test: its output must equal test.out.
curl -s http://localhost:8000/hi
curl -s http://localhost:8000/hi/there
curl -s -d 'echoed body' http://localhost:8000/echo
echo
curl -s http://localhost:8000/ip/address
curl -si http://localhost:8000/nowhere
