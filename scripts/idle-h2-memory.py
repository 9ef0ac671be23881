#!/usr/bin/python3
"""Memory per idle HTTP/2 connection of a running server.

    scripts/idle-h2-memory.py PORT CONNECTIONS PID

Opens CONNECTIONS h2c connections (prior knowledge) to 127.0.0.1:PORT, makes one
GET / on each and reads its whole answer, keeps them all open, and prints (RSS
of PID with them - RSS before) / CONNECTIONS. Give the PID of the process that
serves (nginx's worker, not its master). Needs Python's h2 package (Debian:
python3-h2). Raise the open file limit first (ulimit -n) for large counts.
"""
import socket, sys, time
import h2.connection, h2.events
port, n, pid = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
def rss(p):
    for l in open(f"/proc/{p}/status"):
        if l.startswith("VmRSS:"): return int(l.split()[1])
before = rss(pid); conns = []
for i in range(n):
    s = socket.create_connection(("127.0.0.1", port))
    c = h2.connection.H2Connection(); c.initiate_connection()
    c.send_headers(1, [(":method", "GET"), (":path", "/"), (":scheme", "http"), (":authority", "x")], end_stream=True)
    s.sendall(c.data_to_send()); done = False
    while not done:
        for e in c.receive_data(s.recv(65536)):
            done |= isinstance(e, h2.events.StreamEnded)
        s.sendall(c.data_to_send())
    conns.append((s, c))
time.sleep(0.5); after = rss(pid)
print(f"{(after-before)/n:.2f} KiB per idle HTTP/2 connection ({before} -> {after} KiB, {n} connections)")
