# Checked by the tutorial test: its output must equal test.out.
# Wait (at most 10 s) until the probes have taken 8083 out of rotation.
for i in $(seq 100); do
  curl -s localhost:8000/status | grep -q '"healthy": 2' && break
  sleep 0.1
done
# Requests take turns between the two healthy backends only.
curl -s localhost:8000/
curl -s localhost:8000/
curl -s localhost:8000/
curl -s localhost:8000/
# The status page: health of each backend, and a round-trip time for the healthy.
curl -s localhost:8000/status | python3 -c '
import json, sys
s = json.load(sys.stdin)
for b in s["backends"]:
    print(b["target"], "up" if b["healthy"] else "down", "timed" if isinstance(b["rtt_ms"], (int, float)) else "-")
'
