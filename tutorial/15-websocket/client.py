"""A WebSocket client in the standard library only: the handshake, masked
frames, fragments, ping and close, printed as it goes."""
import base64, hashlib, os, socket, struct, sys

def connect(port, path="/echo"):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall((f"GET {path} HTTP/1.1\r\nHost: localhost\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = b""
    while b"\r\n\r\n" not in head:
        head += s.recv(1)
    lines = head.decode().split("\r\n")
    fields = {l.split(":", 1)[0].lower(): l.split(":", 1)[1].strip() for l in lines[1:] if ":" in l}
    want = base64.b64encode(hashlib.sha1((key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11").encode()).digest()).decode()
    return s, lines[0], fields.get("sec-websocket-accept") == want

def send(s, opcode, payload=b"", fin=True, mask=True):
    head = bytes([(0x80 if fin else 0) | opcode])
    n = len(payload)
    m = 0x80 if mask else 0
    head += bytes([m | n]) if n < 126 else bytes([m | 126]) + struct.pack(">H", n) if n < 65536 else bytes([m | 127]) + struct.pack(">Q", n)
    if mask:
        key = os.urandom(4)
        head += key
        payload = bytes(b ^ key[i % 4] for i, b in enumerate(payload))
    s.sendall(head + payload)

def exactly(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b

def receive(s):
    """One message, its fragments joined: (opcode, payload), or None when the
    connection closed."""
    opcode, payload = None, b""
    try:
        while True:
            a, b = exactly(s, 2)
            n = b & 0x7f
            if n == 126:
                n = struct.unpack(">H", exactly(s, 2))[0]
            elif n == 127:
                n = struct.unpack(">Q", exactly(s, 8))[0]
            if opcode is None:
                opcode = a & 0x0f
            payload += exactly(s, n)
            if a & 0x80:
                return opcode, payload
    except (EOFError, ConnectionResetError, socket.timeout):
        return None

if __name__ == "__main__":
    port = int(sys.argv[1])
    s, status, accepted = connect(port)
    print(status, "accept key ok" if accepted else "accept key WRONG")
    send(s, 1, b"hello")
    print("echo:", receive(s)[1].decode())
    send(s, 1, b"frag", fin=False)
    send(s, 9, b"mid")            # a ping between fragments
    send(s, 0, b"mented")
    print("echo:", receive(s)[1].decode())
    op, payload = receive(s)
    print("pong:" if op == 10 else "not a pong:", payload.decode())
    send(s, 2, bytes(range(256)) * 300)
    op, payload = receive(s)
    print("binary echo of", len(payload), "bytes", "intact" if payload == bytes(range(256)) * 300 else "CHANGED")
    send(s, 8, struct.pack(">H", 1000) + b"bye")
    op, payload = receive(s)
    print("close:", struct.unpack(">H", payload[:2])[0], payload[2:].decode())
    print("then:", "closed" if receive(s) is None else "still open")
    # A client that does not mask breaks RFC 6455: the service says 1002 and closes.
    s, status, _ = connect(port)
    send(s, 1, b"unmasked", mask=False)
    op, payload = receive(s)
    print("unmasked frame: close", struct.unpack(">H", payload[:2])[0])
    print("then:", "closed" if receive(s) is None else "still open")
