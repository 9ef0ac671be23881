# Checked by the tutorial test: its output must equal test.out.
curl -si http://localhost:8000/hello
curl -s -d 'twelve bytes' http://localhost:8000/post
curl -s http://localhost:8001/layer4
curl -si http://localhost:8002/
