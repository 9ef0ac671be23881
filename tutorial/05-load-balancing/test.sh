# Checked by the tutorial test: its output must equal test.out.
curl -s http://localhost:8000/ http://localhost:8000/
curl -s http://localhost:8000/
curl -s http://localhost:8000/
curl -s http://localhost:8000/
