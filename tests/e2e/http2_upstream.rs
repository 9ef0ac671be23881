//! HTTP/2 to origins: `muxHTTP({version: 2})` sessions to an h2c origin (Python's
//! `h2` package, another implementation than ours), many client streams on one
//! upstream connection, trailers and gRPC through, HTTP/1 ↔ HTTP/2 translation,
//! resets and GOAWAY either way, and the version chosen by a function or a
//! Promise settled by `connectTLS`'s ALPN result.

use crate::http2::{python, python_h2};
use crate::support::{curl, free_port, repo, Proxy, TempDir};
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The Python HTTP/2 origin of `h2_origin.py`, stopped when dropped.
struct H2Origin {
    child: Child,
    port: u16,
}

impl H2Origin {
    fn start() -> H2Origin {
        let port = free_port();
        let script = repo().join("tests/e2e/h2_origin.py");
        let mut child = Command::new(python_h2())
            .arg(script)
            .arg(port.to_string())
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start the Python origin");
        let stdout = child.stdout.take().unwrap();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx.recv_timeout(Duration::from_secs(10)).unwrap_or_default();
        assert_eq!(line.trim(), "listening", "the Python origin did not start");
        H2Origin { child, port }
    }

    /// Its totals, asked over a connection of its own.
    fn stats(&self) -> String {
        python(&format!("print(get({}, '/stats'), end='')", self.port))
    }

    /// Waits up to 10 s for its totals to contain `want`.
    fn wait_stats(&self, want: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let s = self.stats();
            if s.contains(want) || Instant::now() > deadline {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for H2Origin {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A front on `port` taking HTTP/1 and h2c, each request to the origin through
/// one `muxHTTP` session of version `version`.
fn front(port: u16, origin: u16, version: &str) -> Proxy {
    Proxy::script(
        &format!(
            "pipy().listen({port}).demuxHTTP().to($=>$.muxHTTP(() => 'o', {{ version: {version} }}).to($=>$.connect('127.0.0.1:{origin}')))"
        ),
        &[],
    )
}

fn header<'a>(response: &'a str, name: &str) -> Option<&'a str> {
    response.lines().find_map(|l| {
        let (n, v) = l.split_once(':')?;
        n.eq_ignore_ascii_case(name).then(|| v.trim())
    })
}

#[test]
fn a_hundred_concurrent_client_streams_share_one_upstream_connection() {
    let origin = H2Origin::start();
    let port = free_port();
    let _p = front(port, origin.port, "2");
    // 100 streams at once from one client; the origin holds each answer until
    // all 100 are open on its connection.
    let out = Command::new("h2load")
        .args(["-n", "100", "-c", "1", "-m", "100", &format!("http://127.0.0.1:{port}/wait/100")])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("100 succeeded"), "{text}");
    // HTTP/1 clients too, one connection each, all on the same upstream one.
    let handles: Vec<_> = (0..20)
        .map(|i| std::thread::spawn(move || curl(&["-si", &format!("http://127.0.0.1:{port}/h1/{i}")])))
        .collect();
    for h in handles {
        let r = h.join().unwrap();
        assert!(r.starts_with("HTTP/1.1 200") && header(&r, "x-conn") == Some("1"), "{r}");
    }
    let stats = origin.stats();
    assert!(stats.contains("connections=2") && stats.contains("max-open=100"), "one upstream connection: {stats}");
}

#[test]
fn http1_and_http2_requests_are_translated_both_ways() {
    let origin = H2Origin::start();
    let port = free_port();
    let _p = front(port, origin.port, "'h2'");
    let r = curl(&[
        "-si",
        "-H",
        "connection: keep-alive, x-private",
        "-H",
        "x-private: 1",
        "-H",
        "te: gzip, trailers",
        "-d",
        "hello",
        &format!("http://localhost:{port}/p?q=1"),
    ]);
    assert!(r.starts_with("HTTP/1.1 200"), "{r}");
    // `host` became `:authority`, `te` only as `trailers`, hop-by-hop fields gone.
    assert!(r.ends_with(&format!("POST /p?q=1 5 localhost:{port} trailers -\n")), "{r}");
    let body = r.split("\r\n\r\n").nth(1).unwrap_or("");
    assert_eq!(header(&r, "content-length"), Some(body.len().to_string().as_str()), "{r}");
    for gone in ["x-private", "x-open: 2"] {
        assert!(!r.contains(gone), "{gone} in {r}");
    }
    assert_eq!(header(&r, "x-scheme"), Some("http"), "{r}");
    // An h2c client through to the h2 origin.
    let h2 = curl(&["-si", "--http2-prior-knowledge", &format!("http://localhost:{port}/two")]);
    assert!(h2.starts_with("HTTP/2 200") && h2.contains(&format!("GET /two 0 localhost:{port}")), "{h2}");
    // A body larger than the windows, both ways.
    let big =
        curl(&["-s", "-o", "/dev/null", "-w", "%{size_download}", &format!("http://localhost:{port}/big/3000000")]);
    assert_eq!(big, "3000000");
    let dir = TempDir::new();
    let upload = dir.0.join("up");
    std::fs::write(&upload, vec![b'u'; 2_000_000]).unwrap();
    let up = curl(&["-s", "--data-binary", &format!("@{}", upload.display()), &format!("http://localhost:{port}/up")]);
    assert_eq!(up, format!("POST /up 2000000 localhost:{port} - -\n"));
}

#[test]
fn a_session_without_a_key_carries_large_bodies_and_an_early_answer_frees_its_stream() {
    let origin = H2Origin::start();
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).demuxHTTP().to($=>$.muxHTTP({{ version: 2 }}).to($=>$.connect('127.0.0.1:{}')))",
            origin.port
        ),
        &[],
    );
    let dir = TempDir::new();
    let upload = dir.0.join("up");
    std::fs::write(&upload, vec![b'u'; 3_000_000]).unwrap();
    let data = format!("@{}", upload.display());
    // Far past every window, on a session of one client connection.
    let up = curl(&["-s", "--data-binary", &data, &format!("http://localhost:{port}/up")]);
    assert_eq!(up, format!("POST /up 3000000 localhost:{port} - -\n"));
    // The origin answers before it has the body and never reads it: the answer
    // comes back, and the client's next request on its connection is served.
    let url = format!("http://localhost:{port}/early");
    let after = format!("http://localhost:{port}/after");
    let both = curl(&["-s", "--data-binary", &data, &url, "--next", &after]);
    assert!(both.starts_with("too big\n"), "{both}");
    assert!(both.ends_with(&format!("GET /after 0 localhost:{port} - -\n")), "{both}");
}

#[test]
fn an_upstream_that_fails_before_its_version_is_known_fails_the_waiting_requests() {
    let closed = free_port();
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy({{ _pick: null }})
.listen({port}).demuxHTTP().to($=>$
  .muxHTTP(() => 'k', {{ version: () => new Promise(f => _pick = f) }}).to($=>$
    .connectTLS({{ alpn: ['h2'], handshake: ({{ alpn }}) => _pick(alpn) }})
    .to($=>$.connect('127.0.0.1:{closed}'))))
"#
        ),
        &[],
    );
    let started = Instant::now();
    for _ in 0..2 {
        let r = curl(&["-si", &format!("http://127.0.0.1:{port}/")]);
        assert!(r.starts_with("HTTP/1.1 502"), "{r}");
    }
    assert!(started.elapsed() < Duration::from_secs(8), "answered at once, not after a time limit");
}

#[test]
fn a_request_the_origin_did_not_process_is_sent_again_once() {
    let origin = H2Origin::start();
    let port = free_port();
    let _p = front(port, origin.port, "2");
    // REFUSED_STREAM: sent again, on the same connection, which still takes streams.
    let r = curl(&["-si", &format!("http://127.0.0.1:{port}/refused")]);
    assert!(r.starts_with("HTTP/1.1 200") && header(&r, "x-conn") == Some("1"), "{r}");
    assert!(r.contains("GET /refused 0"), "{r}");
    // A GOAWAY that leaves the stream unprocessed: sent again on a new connection.
    let r = curl(&["-si", "-d", "body", &format!("http://127.0.0.1:{port}/goaway-before")]);
    assert!(r.starts_with("HTTP/1.1 200") && header(&r, "x-conn") == Some("2"), "{r}");
    assert!(r.contains("POST /goaway-before 4"), "the body went again too: {r}");
    // A body too large to keep (past bufferSize) cannot go again: 502.
    let dir = TempDir::new();
    let upload = dir.0.join("up");
    std::fs::write(&upload, vec![b'u'; 100_000]).unwrap();
    let r =
        curl(&["-si", "--data-binary", &format!("@{}", upload.display()), &format!("http://127.0.0.1:{port}/refused")]);
    assert!(r.starts_with("HTTP/1.1 502"), "{r}");
}

#[test]
fn grpc_trailers_pass_through_untouched_and_request_trailers_reach_the_origin() {
    let origin = H2Origin::start();
    let port = free_port();
    let _p = front(port, origin.port, "2");
    let out = python(&format!(
        r#"
s, c = conn({port})
c.send_headers(1, [(":method", "POST"), (":path", "/grpc"), (":scheme", "http"), (":authority", "x"),
    ("content-type", "application/grpc"), ("te", "trailers")])
c.send_data(1, b"\x00\x00\x00\x00\x01z")
c.send_headers(1, [("x-t", "sent-by-client")], end_stream=True)
s.sendall(c.data_to_send())
seen = events(s, c, lambda evs: any(isinstance(e, h2.events.StreamEnded) for e in evs))
for e in seen:
    if isinstance(e, h2.events.ResponseReceived):
        print("head", dict(e.headers).get(b":status"), dict(e.headers).get(b"content-type"))
    if isinstance(e, h2.events.DataReceived):
        print("data", e.data)
    if isinstance(e, h2.events.TrailersReceived):
        print("trailers", sorted((k, v) for k, v in e.headers))
"#
    ));
    assert!(out.contains("head b'200' b'application/grpc'"), "{out}");
    assert!(out.contains(r"data b'\x00\x00\x00\x00\x02hi'"), "{out}");
    assert!(
        out.contains("(b'grpc-message', b'ok'), (b'grpc-status', b'0'), (b'x-t', b'sent-by-client')"),
        "the trailers come back, and the request's reached the origin: {out}"
    );
}

#[test]
fn resets_either_way_end_one_stream_and_a_goaway_moves_on_to_a_new_connection() {
    let origin = H2Origin::start();
    let port = free_port();
    let _p = front(port, origin.port, "2");
    // The origin resets a stream: that request gets 502, the connection goes on.
    let r = curl(&["-si", &format!("http://127.0.0.1:{port}/reset")]);
    assert!(r.starts_with("HTTP/1.1 502"), "{r}");
    let r = curl(&["-si", &format!("http://127.0.0.1:{port}/after-reset")]);
    assert!(r.starts_with("HTTP/1.1 200") && header(&r, "x-conn") == Some("1"), "{r}");
    let stream = header(&r, "x-stream").unwrap().parse::<u32>().unwrap();
    assert!(stream > 1, "the same connection as the reset stream: {r}");
    // A client that gives up: its upstream stream is reset (CANCEL).
    let gave_up = curl(&["-si", "--max-time", "1", &format!("http://127.0.0.1:{port}/hang")]);
    assert_eq!(gave_up, "");
    let stats = origin.wait_stats("resets=1");
    assert!(stats.contains("resets=1"), "{stats}");
    // GOAWAY after an answer: that answer arrives whole, the next request goes on a new connection.
    let r = curl(&["-si", &format!("http://127.0.0.1:{port}/goaway")]);
    assert!(r.starts_with("HTTP/1.1 200") && r.contains("GET /goaway 0") && header(&r, "x-conn") == Some("1"), "{r}");
    let next = curl(&["-si", &format!("http://127.0.0.1:{port}/next")]);
    assert!(next.starts_with("HTTP/1.1 200") && header(&next, "x-stream") == Some("1"), "a new connection: {next}");
    assert_ne!(header(&next, "x-conn"), Some("1"), "{next}");
}

#[test]
fn the_version_comes_from_a_function_or_from_the_alpn_result_through_a_promise() {
    let h2_origin = H2Origin::start();
    let dir = TempDir::new();
    let made = Command::new("openssl")
        .args(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2"])
        .args(["-subj", "/CN=localhost", "-addext", "subjectAltName=DNS:localhost"])
        .args(["-addext", "basicConstraints=critical,CA:FALSE"])
        .args(["-keyout", "server.key", "-out", "server.crt"])
        .current_dir(&dir.0)
        .output()
        .unwrap();
    assert!(made.status.success());
    let (by_fn, by_alpn, tls_h2, tls_h1) = (free_port(), free_port(), free_port(), free_port());
    let script = format!(
        r#"
var cert = {{ cert: new crypto.Certificate(pipy.load('server.crt')), key: new crypto.PrivateKey(pipy.load('server.key')) }}
pipy({{ _target: '', _pick: null, _proto: '' }})
.listen({by_fn}).demuxHTTP().to($=>$
  .handleMessageStart(msg => msg.head.scheme = 'https')
  .muxHTTP(() => 'f', {{ version: () => 2 }}).to($=>$.connect('127.0.0.1:{h2}')))
.listen({tls_h2}).acceptTLS({{ certificate: cert, alpn: ['h2', 'http/1.1'] }}).to($=>$
  .detectProtocol(p => _proto = p)
  .serveHTTP(req => new Message(`${{req.head.protocol}} ${{_proto}}\n`)))
.listen({tls_h1}).acceptTLS({{ certificate: cert, alpn: ['http/1.1'] }}).to($=>$
  .serveHTTP(req => new Message(`${{req.head.protocol}}\n`)))
.listen({by_alpn}).demuxHTTP().to($=>$
  .handleMessageStart(msg => _target = msg.head.path === '/a' ? '127.0.0.1:{tls_h2}' : '127.0.0.1:{tls_h1}')
  .muxHTTP(
    () => _target,
    {{ version: () => new Promise(f => _pick = f) }}
  ).to($=>$
    .connectTLS({{
      sni: 'localhost',
      trusted: [new crypto.Certificate(pipy.load('server.crt'))],
      alpn: ['h2', 'http/1.1'],
      handshake: ({{ alpn }}) => _pick(alpn || 'http/1.1'),
    }}).to($=>$.connect(() => _target))))
"#,
        h2 = h2_origin.port
    );
    std::fs::write(dir.0.join("main.js"), script).unwrap();
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], Some(&dir.0));
    p.ready();
    let r = curl(&["-si", &format!("http://127.0.0.1:{by_fn}/fn")]);
    assert!(r.starts_with("HTTP/1.1 200") && r.contains("GET /fn 0"), "{r}");
    assert_eq!(header(&r, "x-scheme"), Some("https"), "the script's scheme is :scheme: {r}");
    // One origin's ALPN says h2, the other's http/1.1: each session speaks what its says.
    let a = curl(&["-s", &format!("http://127.0.0.1:{by_alpn}/a")]);
    assert_eq!(a, "HTTP/2 HTTP2\n", "{}", p.log.text());
    let b = curl(&["-s", &format!("http://127.0.0.1:{by_alpn}/b")]);
    assert_eq!(b, "HTTP/1.1\n", "{}", p.log.text());
}
