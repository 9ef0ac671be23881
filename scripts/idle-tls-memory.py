#!/usr/bin/env python3
"""Memory per idle TLS connection of a running server.

    scripts/idle-tls-memory.py PORT CONNECTIONS PID

Opens CONNECTIONS TLS connections to 127.0.0.1:PORT, makes one GET / on each (the
answer must end with "there!\n", as the benchmark scenarios' does), keeps them
all open, and prints (RSS of PID with them - RSS before) / CONNECTIONS. Give the
PID of the process that serves (nginx's worker, not its master). Raise the open
file limit first (ulimit -n) for large counts.
"""
import socket, ssl, sys, time, os
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss(p):
    for l in open(f"/proc/{p}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
ctx = ssl.create_default_context(); ctx.check_hostname = False; ctx.verify_mode = ssl.CERT_NONE
before = rss(pid); conns = []
for i in range(n):
    s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="bench.test")
    s.sendall(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n"); data = b""
    while not data.endswith(b"there!\n"): data += s.recv(4096)
    conns.append(s)
time.sleep(0.5); after = rss(pid)
print(f"{(after-before)/n:.2f} KiB per idle TLS connection ({before} -> {after} KiB, {n} connections)")
