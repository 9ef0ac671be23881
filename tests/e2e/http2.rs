//! HTTP/2 from clients: prior knowledge (h2c) and TLS with ALPN `h2` on the same
//! ports as HTTP/1, to `serveHTTP` and through `demuxHTTP` to an HTTP/1 origin;
//! many streams at once (h2load); trailers; and what the known attacks and bad
//! frames get, sent with Python's `h2` package and raw frames. Clients are curl,
//! nghttp / h2load and Python.

use crate::support::{curl, free_port, Proxy, RawOrigin, TempDir};
use std::process::Command;
use std::time::Duration;

/// A Python with the `h2` package (Debian's `python3-h2` is in /usr/bin).
pub fn python_h2() -> &'static str {
    for p in ["python3", "/usr/bin/python3"] {
        if Command::new(p).args(["-c", "import h2"]).output().is_ok_and(|o| o.status.success()) {
            return p;
        }
    }
    panic!("no Python with the h2 package (Debian: python3-h2)");
}

/// Runs Python `code` (with the frame helpers of `CLIENT` before it) and gives its output.
pub fn python(code: &str) -> String {
    let script = format!("{CLIENT}\n{code}");
    let out = Command::new("timeout").args(["20", python_h2(), "-c", &script]).output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(out.status.success(), "python failed: {text}{}", String::from_utf8_lossy(&out.stderr));
    text
}

/// Helpers for the Python clients: a connection with the h2 state machine, raw
/// frames, and reading until the server's GOAWAY or close.
const CLIENT: &str = r#"
import socket, struct, sys, h2.connection, h2.config, h2.events, h2.errors
def conn(port, validate=True):
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    cfg = h2.config.H2Configuration(client_side=True, validate_outbound_headers=validate,
        normalize_outbound_headers=validate, validate_inbound_headers=False)
    c = h2.connection.H2Connection(config=cfg)
    c.initiate_connection()
    s.sendall(c.data_to_send())
    return s, c
def frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload
def events(s, c, until=lambda evs: False):
    seen = []
    try:
        while True:
            data = s.recv(65536)
            if not data:
                seen.append("closed")
                break
            seen.extend(c.receive_data(data))
            if until(seen):
                break
            s.sendall(c.data_to_send())
    except (ConnectionResetError, socket.timeout, BrokenPipeError) as e:
        seen.append("closed")
    return seen
def goaway(seen):
    for e in seen:
        if isinstance(e, h2.events.ConnectionTerminated):
            try:
                return h2.errors.ErrorCodes(e.error_code).name
            except ValueError:
                return str(e.error_code)
    return "closed" if "closed" in seen else "none"
def get(port, path="/"):
    s, c = conn(port)
    c.send_headers(1, [(":method", "GET"), (":path", path), (":scheme", "http"), (":authority", "x")], end_stream=True)
    s.sendall(c.data_to_send())
    seen = events(s, c, lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
    body = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived))
    s.close()
    return body.decode()
"#;

/// An origin answering with the request line and body size, and a front that
/// serves `serveHTTP` on `port` and proxies through `demuxHTTP` on `port + 1`.
fn front(port: u16, proxied: u16, origin: u16) -> Proxy {
    Proxy::script(
        &format!(
            r#"
pipy()
.listen({origin}).serveHTTP(req => new Message(
  {{ headers: {{ 'x-proto': req.head.protocol }} }},
  `${{req.head.method}} ${{req.head.path}} ${{req.body.size}} ${{req.head.headers.host}}\n`))
.listen({port}).serveHTTP(req => new Message(
  {{ headers: {{ 'x-proto': req.head.protocol, 'x-scheme': req.head.scheme || '-', 'x-authority': req.head.authority || '-' }} }},
  `${{req.head.method}} ${{req.head.path}} ${{req.body.size}}\n`))
.listen({proxied}).demuxHTTP().to($=>$.muxHTTP(() => 'origin').to($=>$.connect('127.0.0.1:{origin}')))
"#
        ),
        &[],
    )
}

#[test]
fn h2c_with_prior_knowledge_and_http1_share_a_port_and_a_request_looks_the_same_to_the_script() {
    let (port, proxied, origin) = (free_port(), free_port(), free_port());
    let _p = front(port, proxied, origin);
    let h2 = curl(&["-si", "--http2-prior-knowledge", "-d", "hello", &format!("http://localhost:{port}/a?b")]);
    assert!(h2.starts_with("HTTP/2 200"), "{h2}");
    for want in ["x-proto: HTTP/2", "x-scheme: http", &format!("x-authority: localhost:{port}"), "POST /a?b 5"] {
        assert!(h2.contains(want), "{want:?} in {h2}");
    }
    let h1 = curl(&["-si", &format!("http://localhost:{port}/c")]);
    assert!(h1.starts_with("HTTP/1.1 200") && h1.contains("x-proto: HTTP/1.1") && h1.contains("GET /c 0"), "{h1}");
    // Through demuxHTTP to an HTTP/1 origin: HTTP/1.1 there, `host` from `:authority`.
    let via = curl(&["-si", "--http2-prior-knowledge", "-d", "12345678", &format!("http://localhost:{proxied}/up")]);
    assert!(via.starts_with("HTTP/2 200"), "{via}");
    assert!(via.contains("x-proto: HTTP/1.1") && via.contains(&format!("POST /up 8 localhost:{proxied}")), "{via}");
    assert!(!via.contains("connection:") && !via.contains("keep-alive"), "no hop-by-hop field in HTTP/2: {via}");
}

#[test]
fn many_streams_at_once_on_few_connections_all_get_their_answers() {
    let (port, proxied, origin) = (free_port(), free_port(), free_port());
    let _p = front(port, proxied, origin);
    for target in [port, proxied] {
        let out = Command::new("h2load")
            .args(["-n", "2000", "-c", "4", "-m", "50", &format!("http://127.0.0.1:{target}/x")])
            .output()
            .expect("h2load (Debian nghttp2-client)");
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("2000 succeeded, 0 failed, 0 errored"), "{text}");
        assert!(text.contains("status codes: 2000 2xx"), "{text}");
    }
    // nghttp: a large answer, split into frames and flow-controlled.
    let out = Command::new("nghttp")
        .args(["-s", "-d", "/dev/null", &format!("http://127.0.0.1:{port}/big")])
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn tls_with_alpn_h2_serves_http2_and_http1_clients_on_one_port() {
    let port = free_port();
    let dir = TempDir::new();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(made.status.success());
    let script = r#"
pipy().listen(PORT)
.acceptTLS({
  certificate: { cert: new crypto.Certificate(pipy.load('server.crt')), key: new crypto.PrivateKey(pipy.load('server.key')) },
  alpn: ['h2', 'http/1.1'],
}).to($=>$.serveHTTP(req => new Message(`${req.head.protocol} ${req.head.scheme || '-'}\n`)))
"#
    .replace("PORT", &port.to_string());
    std::fs::write(dir.0.join("main.js"), script).unwrap();
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], Some(&dir.0));
    p.ready();
    let url = format!("https://localhost:{port}/");
    let ca = dir.0.join("server.crt");
    let ca = ca.to_str().unwrap();
    let h2 = curl(&["-si", "--http2", "--cacert", ca, &url]);
    assert!(h2.starts_with("HTTP/2 200") && h2.ends_with("HTTP/2 https\n"), "{h2}");
    let h1 = curl(&["-si", "--http1.1", "--cacert", ca, &url]);
    assert!(h1.starts_with("HTTP/1.1 200") && h1.ends_with("HTTP/1.1 -\n"), "{h1}");
}

/// Starts a serveHTTP port for the attack tests, with `options`.
fn target(options: &str) -> (Proxy, u16) {
    let port = free_port();
    let p = Proxy::script(
        &format!("pipy().listen({port}).serveHTTP(req => new Message(`ok ${{req.head.path}}\\n`), {options})"),
        &[],
    );
    (p, port)
}

/// The server still answers a fresh connection.
fn still_serves(port: u16) {
    assert_eq!(python(&format!("print(get({port}, '/after'), end='')")), "ok /after\n");
}

#[test]
fn rapid_reset_and_ping_and_settings_floods_get_goaway_enhance_your_calm() {
    let (p, port) = target("{}");
    for (n, (what, flood)) in [
        (
            "rapid reset",
            "for i in range(1, 2000, 2):\n    c.send_headers(i, [(':method','GET'),(':path','/'),(':scheme','http'),(':authority','x')])\n    c.reset_stream(i)\ns.sendall(c.data_to_send())",
        ),
        ("ping flood", "s.sendall(b''.join(frame(6, 0, 0, b'12345678') for _ in range(5000)))"),
        ("settings flood", "s.sendall(b''.join(frame(4, 0, 0) for _ in range(5000)))"),
    ]
    .into_iter()
    .enumerate()
    {
        let out = python(&format!(
            "s, c = conn({port})\n{flood}\nprint(goaway(events(s, c, lambda evs: any(isinstance(e, h2.events.ConnectionTerminated) for e in evs))))"
        ));
        // The GOAWAY is sent; a client whose flood the server left unread may
        // see the connection reset before it reads it (the kernel's doing).
        assert!(["ENHANCE_YOUR_CALM", "closed"].contains(&out.trim()), "{what}: {out}");
        assert!(
            p.log.wait_count("closing with ENHANCE_YOUR_CALM", n + 1, Duration::from_secs(5)),
            "{what}: {}",
            p.log.text()
        );
    }
    still_serves(port);
}

#[test]
fn continuation_floods_and_header_bombs_are_bounded() {
    let (_p, port) = target("{ maxHeaderListSize: 4096 }");
    // HEADERS without END_HEADERS, then CONTINUATION frames without end.
    let out = python(&format!(
        "s, c = conn({port})\n\
import hpack\n\
block = hpack.Encoder().encode([(':method','GET'),(':path','/'),(':scheme','http'),(':authority','x')])\n\
s.sendall(frame(1, 0x1, 1, block))\n\
try:\n    s.sendall(b''.join(frame(9, 0, 1, b'\\x40\\x01a\\x01b') for _ in range(20000)))\nexcept Exception: pass\n\
print(goaway(events(s, c)))"
    ));
    assert!(["ENHANCE_YOUR_CALM", "PROTOCOL_ERROR", "COMPRESSION_ERROR", "closed"].contains(&out.trim()), "{out}");
    // One header field repeated past the list limit: the stream is refused, not the process.
    let out = python(&format!(
        "s, c = conn({port})\n\
c.send_headers(1, [(':method','GET'),(':path','/'),(':scheme','http'),(':authority','x')] + [('x-big', 'v' * 1000)] * 10, end_stream=True)\n\
s.sendall(c.data_to_send())\n\
seen = events(s, c, lambda evs: any(isinstance(e, (h2.events.StreamReset, h2.events.ResponseReceived, h2.events.ConnectionTerminated)) for e in evs))\n\
print([type(e).__name__ for e in seen if not isinstance(e, (h2.events.RemoteSettingsChanged, h2.events.SettingsAcknowledged, h2.events.WindowUpdated))])"
    ));
    assert!(
        out.contains("ResponseReceived") && !out.contains("DataReceived")
            || out.contains("StreamReset")
            || out.contains("ConnectionTerminated"),
        "{out}"
    );
    still_serves(port);
}

#[test]
fn bad_frames_get_the_protocol_error_rfc_9113_says_and_the_connection_or_process_goes_on() {
    let (_p, port) = target("{}");
    let request = "[(':method','GET'),(':path','/'),(':scheme','http'),(':authority','x')]";
    // Stream errors: the same connection answers a good request afterwards.
    for (what, headers) in [
        ("uppercase name", format!("{request} + [('X-Upper', '1')]")),
        ("connection-specific field", format!("{request} + [('connection', 'keep-alive')]")),
        ("no :path", "[(':method','GET'),(':scheme','http'),(':authority','x')]".to_string()),
        ("unknown pseudo-header", format!("{request} + [(':bogus', '1')]")),
    ] {
        let out = python(&format!(
            "s, c = conn({port}, validate=False)\n\
c.send_headers(1, {headers}, end_stream=True)\n\
c.send_headers(3, {request}, end_stream=True)\n\
s.sendall(c.data_to_send())\n\
seen = events(s, c, lambda evs: any(isinstance(e, (h2.events.ConnectionTerminated)) or isinstance(e, h2.events.StreamEnded) and e.stream_id == 3 for e in evs))\n\
resets = [h2.errors.ErrorCodes(e.error_code).name for e in seen if isinstance(e, h2.events.StreamReset) and e.stream_id == 1]\n\
got = [e.stream_id for e in seen if isinstance(e, h2.events.ResponseReceived)]\n\
print(resets, got, goaway(seen))"
        ));
        // h2's HPACK decoder takes an uppercase name or an unknown pseudo-header
        // for a bad header block: a connection error, where RFC 9113 asks for a
        // stream error; the client is cut off either way.
        let want = if what == "uppercase name" || what == "unknown pseudo-header" {
            "[] [] PROTOCOL_ERROR"
        } else {
            "['PROTOCOL_ERROR'] [3] none"
        };
        assert_eq!(out.trim(), want, "{what}");
    }
    // Connection errors: GOAWAY, and only that connection ends.
    for (what, bytes, want) in [
        (
            "bad preface",
            "b'PRI * HTTP/2.0\\r\\n\\r\\nXX\\r\\n\\r\\n' + frame(4, 0, 0)",
            &["closed", "PROTOCOL_ERROR"][..],
        ),
        ("oversize frame", "frame(0, 0, 1, b'x' * 20000)", &["FRAME_SIZE_ERROR", "PROTOCOL_ERROR"][..]),
        ("window overflow", "frame(8, 0, 0, struct.pack('>I', 0x7fffffff)) * 2", &["FLOW_CONTROL_ERROR"][..]),
        ("frame on a closed stream", "frame(0, 1, 7, b'late')", &["PROTOCOL_ERROR", "STREAM_CLOSED"][..]),
    ] {
        let raw = what == "bad preface";
        let code = if raw {
            format!(
                "s = socket.create_connection(('127.0.0.1', {port}), timeout=10)\ns.sendall({bytes})\n\
c = h2.connection.H2Connection(config=h2.config.H2Configuration(client_side=True))\nc.initiate_connection(); c.data_to_send()\n\
print(goaway(events(s, c)))"
            )
        } else {
            format!("s, c = conn({port})\ns.sendall({bytes})\nprint(goaway(events(s, c)))")
        };
        let out = python(&code);
        assert!(want.contains(&out.trim()), "{what}: {out}");
    }
    still_serves(port);
}

#[test]
fn a_client_reset_ends_only_its_stream_and_cancels_its_upstream_request() {
    let port = free_port();
    // An origin that never answers.
    let origin = RawOrigin::start(|_, _| {});
    let _p = Proxy::script(
        &format!("pipy().listen({port}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{}')))", origin.port),
        &[],
    );
    // The client resets its stream once the request has reached the origin.
    let code = format!(
        "{CLIENT}\ns, c = conn({port})\n\
c.send_headers(1, [(':method','GET'),(':path','/slow'),(':scheme','http'),(':authority','x')], end_stream=True)\n\
s.sendall(c.data_to_send())\n\
sys.stdin.readline()\n\
c.reset_stream(1)\n\
s.sendall(c.data_to_send())\n\
print('True')\n\
s.close()"
    );
    let mut client = Command::new("timeout")
        .args(["20", python_h2(), "-c", &code])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let upstream = origin.conn(0);
    assert!(upstream.wait_text(Duration::from_secs(5), |t| t.starts_with("GET /slow HTTP/1.1")), "{}", upstream.text());
    use std::io::Write;
    client.stdin.take().unwrap().write_all(b"go\n").unwrap();
    let out = client.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "True");
    assert!(upstream.wait_closed(Duration::from_secs(5)), "the upstream request is cancelled");
}

#[test]
fn request_trailers_reach_the_script_in_the_tail() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(req => new Message(`${{req.body.size}} ${{JSON.stringify(req.tail.headers)}}\\n`))"
        ),
        &[],
    );
    let out = python(&format!(
        "s, c = conn({port})\n\
c.send_headers(1, [(':method','POST'),(':path','/grpc'),(':scheme','http'),(':authority','x'),('te','trailers')])\n\
c.send_data(1, b'abcd')\n\
c.send_headers(1, [('grpc-status', '0'), ('grpc-message', 'ok')], end_stream=True)\n\
s.sendall(c.data_to_send())\n\
seen = events(s, c, lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))\n\
print(b''.join(e.data for e in seen if isinstance(e, h2.events.DataReceived)).decode(), end='')"
    ));
    assert_eq!(out, "4 {\"grpc-status\":\"0\",\"grpc-message\":\"ok\"}\n");
}

#[test]
fn shutdown_says_goaway_to_http2_clients_and_lets_open_streams_finish() {
    let port = free_port();
    let mut p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(req => req.head.path === '/slow' ? new Timeout(1).wait().then(() => new Message('slow done\\n')) : new Message('ok\\n'))"
        ),
        &["--shutdown-timeout", "10s"],
    );
    // Frames are read raw after the request: Python's h2 takes no PING after a
    // GOAWAY, which RFC 9113 allows (and a graceful shutdown sends).
    let script = format!(
        r#"{CLIENT}
s, c = conn({port})
events(s, c, lambda evs: any(isinstance(e, h2.events.SettingsAcknowledged) for e in evs))
c.send_headers(1, [(':method','GET'),(':path','/slow'),(':scheme','http'),(':authority','x')], end_stream=True)
s.sendall(c.data_to_send())
print('ready', flush=True)
buf, codes, body = b'', [], b''
while True:
    try:
        d = s.recv(65536)
    except (ConnectionResetError, socket.timeout):
        break
    if not d:
        break
    buf += d
    while len(buf) >= 9:
        n = int.from_bytes(buf[:3], 'big')
        if len(buf) < 9 + n:
            break
        kind, flags, payload, buf = buf[3], buf[4], buf[9:9 + n], buf[9 + n:]
        if kind == 6 and not flags & 1:
            s.sendall(frame(6, 1, 0, payload))
        if kind == 7:
            codes.append(h2.errors.ErrorCodes(int.from_bytes(payload[4:8], 'big')).name)
        if kind == 0:
            body += payload
print(' '.join(sorted(set(codes))), body.decode().strip(), flush=True)
"#
    );
    let mut child =
        Command::new(python_h2()).args(["-c", &script]).stdout(std::process::Stdio::piped()).spawn().unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    assert_eq!(line.trim(), "ready");
    p.signal("TERM");
    line.clear();
    std::io::BufRead::read_line(&mut out, &mut line).unwrap();
    let _ = child.wait();
    assert_eq!(line.trim(), "NO_ERROR slow done", "a GOAWAY, and the open stream's answer: {}", p.log.text());
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
}
