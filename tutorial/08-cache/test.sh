# Checked by the tutorial test: its output must equal test.out.
# The first GET is fetched (8081) and kept; the second is answered from the
# cache, so it is not the next server (8082) that answers.
curl -s -w '%header{x-cache}\n' http://localhost:8000/hi
curl -s -w '%header{x-cache}\n' http://localhost:8000/hi
curl -s -w '%header{x-cache}\n' http://localhost:8000/hi/other
# POST and services not listed in config.json are never cached.
curl -s -w '\n%header{x-cache}\n' -d 'echo this' http://localhost:8000/echo
curl -s -w '%header{x-cache}\n' http://localhost:8000/unknown
