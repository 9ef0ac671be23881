#!/usr/bin/env python3
"""WebSocket load for scripts/bench.sh: CONNS connections upgrade through the
server on PORT, then each sends BATCH masked 32-byte text messages in one write
and waits for them to come back, for SECONDS. Prints wrk-style lines that
bench.sh reads: messages per second as "Requests/sec", batch round-trip
latency percentiles, and errors.

    ws-load.py PORT CONNS SECONDS [BATCH]
"""
import asyncio, base64, os, struct, sys, time

PORT, CONNS, SECONDS = int(sys.argv[1]), int(sys.argv[2]), float(sys.argv[3])
BATCH = int(sys.argv[4]) if len(sys.argv) > 4 else 16

def frame(payload):
    key = os.urandom(4)
    body = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    return bytes([0x81, 0x80 | len(payload)]) + key + body

MESSAGE = frame(b"x" * 32)
BURST = MESSAGE * BATCH

async def client(stop, stats):
    r, w = await asyncio.open_connection("127.0.0.1", PORT)
    key = base64.b64encode(os.urandom(16)).decode()
    w.write((f"GET /ws HTTP/1.1\r\nHost: bench\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = await r.readuntil(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 101"):
        stats["errors"] += 1
        return
    while time.monotonic() < stop:
        t = time.monotonic()
        w.write(BURST)
        # The echo service sends the bytes back as they came.
        await r.readexactly(len(BURST))
        stats["messages"] += BATCH
        stats["lat"].append(time.monotonic() - t)
    w.close()

async def main():
    stats = {"messages": 0, "errors": 0, "lat": []}
    start = time.monotonic()
    stop = start + SECONDS
    results = await asyncio.gather(*(client(stop, stats) for _ in range(CONNS)), return_exceptions=True)
    stats["errors"] += sum(1 for x in results if isinstance(x, Exception))
    took = time.monotonic() - start
    lat = sorted(stats["lat"]) or [0.0]
    pick = lambda q: lat[min(len(lat) - 1, int(q * len(lat)))] * 1000
    print(f"Requests/sec: {stats['messages'] / took:.2f}")
    print("  Latency Distribution")
    print(f"     50%  {pick(0.50):.3f}ms")
    print(f"     99%  {pick(0.99):.3f}ms")
    if stats["errors"]:
        print(f"Non-2xx or Non-3xx responses: {stats['errors']}")

asyncio.run(main())
