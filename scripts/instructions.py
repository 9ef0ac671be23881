#!/usr/bin/env python3
"""Drive REQUESTS keep-alive HTTP/1.1 requests over CONNS connections to 127.0.0.1:PORT.

Used by instructions.sh: each connection sends one request at a time and reads the
answer by its content-length, so the server's work per request is all the client
causes. Exits non-zero on any answer that is not 200.
"""
import asyncio
import sys


async def client(port, count, path):
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    req = f"GET {path} HTTP/1.1\r\nHost: bench\r\n\r\n".encode()
    for _ in range(count):
        writer.write(req)
        head = await reader.readuntil(b"\r\n\r\n")
        status = head.split(b" ", 2)[1]
        if status != b"200":
            raise SystemExit(f"status {status!r}")
        length = 0
        for line in head.split(b"\r\n"):
            if line.lower().startswith(b"content-length:"):
                length = int(line.split(b":", 1)[1])
        await reader.readexactly(length)
    writer.close()


async def main():
    port, requests, conns = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    path = sys.argv[4] if len(sys.argv) > 4 else "/"
    each = [requests // conns + (1 if i < requests % conns else 0) for i in range(conns)]
    await asyncio.gather(*(client(port, n, path) for n in each if n))


asyncio.run(main())
