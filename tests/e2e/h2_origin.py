# An HTTP/2 (h2c, prior knowledge) origin for the end-to-end tests, on the
# Python `h2` package: another implementation than the proxy's, so the tests
# check interoperation and not one library against itself.
#
# Usage: h2_origin.py PORT. Prints "listening" once it accepts connections.
#
# Every answer tells what the origin saw: `x-conn` (which connection, from 1),
# `x-stream`, `x-open` (streams open on the connection when it answered), and
# a body `METHOD PATH BODY-SIZE AUTHORITY TE TRAILER`, where TE is the request's
# `te` and TRAILER its `x-t` trailer ("-" for none). Paths:
#   /stats     the totals: connections, max-open, resets (RST_STREAM received)
#   /wait/N    answer once N streams are open on the connection (or after 5 s)
#   /hang      never answer
#   /reset     answer with RST_STREAM (INTERNAL_ERROR)
#   /goaway    answer, then GOAWAY: no stream after this one
#   /grpc      answer with trailers: grpc-status 0, grpc-message, x-t echoed
#   /big/N     answer with N bytes
#   /early     answer 413 as soon as the head arrives, without reading the body
#   /refused   the first on each connection: RST_STREAM (REFUSED_STREAM); then answered
#   /goaway-before  on connection 1: GOAWAY that leaves this stream unprocessed
import socket, sys, threading, time
import h2.config, h2.connection, h2.events, h2.exceptions, h2.settings, h2.errors

lock = threading.Lock()
totals = {"connections": 0, "max-open": 0, "resets": 0}


class Conn:
    def __init__(self, sock, n):
        self.sock, self.n = sock, n
        cfg = h2.config.H2Configuration(client_side=False, header_encoding="utf-8", validate_inbound_headers=False)
        self.c = h2.connection.H2Connection(config=cfg)
        self.c.local_settings = h2.settings.Settings(
            client=False, initial_values={h2.settings.SettingCodes.MAX_CONCURRENT_STREAMS: 1000}
        )
        self.streams = {}  # id -> [headers, body, trailers]
        self.waiting = []  # (id, n, deadline)
        self.pending = {}  # id -> bytes left to send
        self.gone = False
        self.refused = False

    def send(self):
        data = self.c.data_to_send()
        if data:
            self.sock.sendall(data)

    def open_count(self):
        return len(self.streams)

    def answer(self, sid, status=200, extra=(), body=None, trailers=None):
        head, got, tr = self.streams.pop(sid)
        if body is None:
            line = "%s %s %d %s %s %s\n" % (
                head.get(":method"), head.get(":path"), len(got), head.get(":authority", "-"),
                head.get("te", "-"), tr.get("x-t", "-"))
            body = line.encode()
        headers = [(":status", str(status)), ("x-conn", str(self.n)), ("x-stream", str(sid)),
                   ("x-open", str(self.open_count() + 1)), ("x-scheme", head.get(":scheme", "-"))] + list(extra)
        if trailers is None:
            headers.append(("content-length", str(len(body))))
        self.c.send_headers(sid, headers)
        self.pending[sid] = [body, trailers]
        self.flush_bodies()

    def flush_bodies(self):
        for sid in list(self.pending):
            body, trailers = self.pending[sid]
            while body:
                room = min(self.c.local_flow_control_window(sid), self.c.max_outbound_frame_size)
                if room <= 0:
                    break
                self.c.send_data(sid, body[:room])
                body = body[room:]
            self.pending[sid][0] = body
            if not body:
                if trailers:
                    self.c.send_headers(sid, trailers, end_stream=True)
                else:
                    self.c.end_stream(sid)
                del self.pending[sid]

    def ended(self, sid):
        head, _, tr = self.streams[sid]
        path = head.get(":path", "")
        if path == "/stats":
            with lock:
                body = " ".join("%s=%d" % kv for kv in sorted(totals.items())) + "\n"
            self.answer(sid, body=body.encode())
        elif path.startswith("/wait/"):
            self.waiting.append((sid, int(path[6:]), time.time() + 5))
            self.release_waiting()
        elif path == "/hang":
            pass
        elif path == "/reset":
            self.streams.pop(sid)
            self.c.reset_stream(sid, h2.errors.ErrorCodes.INTERNAL_ERROR)
        elif path == "/refused" and not self.refused:
            self.refused = True
            self.streams.pop(sid)
            self.c.reset_stream(sid, h2.errors.ErrorCodes.REFUSED_STREAM)
        elif path == "/goaway-before" and self.n == 1:
            self.streams.pop(sid)
            self.c.close_connection(last_stream_id=max(0, sid - 2))
        elif path == "/goaway":
            self.answer(sid)
            self.c.close_connection(last_stream_id=sid)
        elif path == "/grpc":
            self.answer(sid, extra=[("content-type", "application/grpc")],
                        body=b"\x00\x00\x00\x00\x02hi",
                        trailers=[("grpc-status", "0"), ("grpc-message", "ok"), ("x-t", tr.get("x-t", "-"))])
        elif path.startswith("/big/"):
            self.answer(sid, body=b"x" * int(path[5:]))
        else:
            self.answer(sid)

    def release_waiting(self):
        now = time.time()
        for item in list(self.waiting):
            sid, n, deadline = item
            if self.open_count() >= n or now > deadline:
                self.waiting.remove(item)
                self.answer(sid)

    def run(self):
        self.c.initiate_connection()
        self.send()
        self.sock.settimeout(0.2)
        while True:
            try:
                data = self.sock.recv(65536)
            except socket.timeout:
                self.release_waiting()
                self.send()
                continue
            except OSError:
                break
            if not data:
                break
            try:
                events = self.c.receive_data(data)
            except h2.exceptions.ProtocolError:
                self.send()
                break
            for e in events:
                if isinstance(e, h2.events.RequestReceived):
                    self.streams[e.stream_id] = [dict(e.headers), b"", {}]
                    with lock:
                        totals["max-open"] = max(totals["max-open"], self.open_count())
                    if dict(e.headers).get(":path") == "/early" and not e.stream_ended:
                        self.answer(e.stream_id, status=413, body=b"too big\n")
                elif isinstance(e, h2.events.DataReceived):
                    if e.stream_id in self.streams:
                        self.streams[e.stream_id][1] += e.data
                        self.c.acknowledge_received_data(e.flow_controlled_length, e.stream_id)
                    else:
                        # A stream answered early: its body is not read, only
                        # the connection's window given back.
                        self.c.increment_flow_control_window(e.flow_controlled_length)
                elif isinstance(e, h2.events.TrailersReceived):
                    self.streams[e.stream_id][2] = dict(e.headers)
                elif isinstance(e, h2.events.StreamEnded):
                    if e.stream_id in self.streams:
                        self.ended(e.stream_id)
                elif isinstance(e, h2.events.StreamReset):
                    self.streams.pop(e.stream_id, None)
                    self.pending.pop(e.stream_id, None)
                    self.waiting = [w for w in self.waiting if w[0] != e.stream_id]
                    with lock:
                        totals["resets"] += 1
                elif isinstance(e, h2.events.WindowUpdated):
                    self.flush_bodies()
            self.release_waiting()
            self.send()
        self.sock.close()


def main():
    port = int(sys.argv[1])
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(128)
    print("listening", flush=True)
    while True:
        sock, _ = srv.accept()
        with lock:
            totals["connections"] += 1
            n = totals["connections"]
        threading.Thread(target=Conn(sock, n).run, daemon=True).start()


main()
