//! Proxying: layer 4 with `connect`, and (with demuxHTTP / muxHTTP) layer 7.

use crate::support::{free_port, Proxy, Raw};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

fn random_bytes(n: usize) -> Vec<u8> {
    // xorshift: reproducible "random" payload without a dependency.
    let mut x: u64 = 0x9E3779B97F4A7C15;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

#[test]
fn layer4_proxy_carries_3_mib_byte_exact_both_ways() {
    let (echo, front) = (free_port(), free_port());
    // A listen() with no filters sends its input back: an echo server.
    let _p = Proxy::script(&format!("pipy().listen({echo}).listen({front}).connect('127.0.0.1:{echo}')"), &[]);
    let payload = random_bytes(3 << 20);
    let c = Raw::connect(front);
    let mut w = c.0.try_clone().unwrap();
    let sent = payload.clone();
    let writer = std::thread::spawn(move || {
        w.write_all(&sent).unwrap();
        w.shutdown(std::net::Shutdown::Write).unwrap();
    });
    let mut got = Vec::new();
    let mut r = c.0;
    r.read_to_end(&mut got).unwrap();
    writer.join().unwrap();
    assert_eq!(got.len(), payload.len());
    assert!(got == payload, "payload differs");
}

#[test]
fn layer4_upstream_down_or_unknown_ends_the_client_stream_after_retries() {
    let (down, front, unknown) = (free_port(), free_port(), free_port());
    let p = Proxy::script(
        &format!(
            "pipy()\n.listen({front}).connect('localhost:{down}', {{ retryCount: 2, retryDelay: 0.2 }})\n.listen({unknown}).connect('no-such-host.invalid:80')"
        ),
        &[],
    );
    let mut c = Raw::connect(front);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let t = Instant::now();
    assert_eq!(c.read_to_close(), "");
    assert!(t.elapsed() >= Duration::from_millis(350), "two retries 0.2 s apart: {:?}", t.elapsed());
    assert!(p.log.wait_for("ConnectionRefused", Duration::from_secs(5)), "{}", p.log.text());
    let mut c = Raw::connect(unknown);
    c.send(b"x");
    assert_eq!(c.read_to_close(), "");
    assert!(p.log.wait_for("CannotResolve", Duration::from_secs(5)), "{}", p.log.text());
}

/// An origin that streams each request body back, with `x-method` set.
fn echo_origin(port: u16) -> String {
    format!(
        ".listen({port}).demuxHTTP().to($=>$.replaceMessageStart(evt => new MessageStart({{ status: 200, headers: {{ 'x-method': evt.head.method }} }})))\n"
    )
}

fn curl_to_file(args: &[&str], out: &std::path::Path) -> String {
    let o = std::process::Command::new("curl")
        .args(["-s", "--max-time", "30", "-o"])
        .arg(out)
        .args(["-w", "%{http_code}"])
        .args(args)
        .output()
        .unwrap();
    String::from_utf8_lossy(&o.stdout).into_owned()
}

#[test]
fn layer7_proxy_carries_bodies_of_0_10k_and_20m_for_get_post_put() {
    let (origin, front) = (free_port(), free_port());
    let script = format!(
        "pipy()\n{}.listen({front}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')))\n",
        echo_origin(origin)
    );
    let _p = Proxy::script(&script, &[]);
    let dir = crate::support::TempDir::new();
    for size in [0usize, 10 << 10, 20 << 20] {
        let body = random_bytes(size);
        let input = dir.0.join("in");
        std::fs::write(&input, &body).unwrap();
        for method in ["GET", "POST", "PUT"] {
            let out = dir.0.join("out");
            let code = curl_to_file(
                &[
                    "-X",
                    method,
                    "--data-binary",
                    &format!("@{}", input.display()),
                    &format!("http://127.0.0.1:{front}/x"),
                ],
                &out,
            );
            assert_eq!(code, "200", "{method} {size}");
            let got = std::fs::read(&out).unwrap_or_default();
            assert!(got == body, "{method} {size}: got {} bytes", got.len());
        }
    }
}

#[test]
fn layer7_chunked_both_ways_and_pipelined_requests_in_order() {
    let (origin, front) = (free_port(), free_port());
    let script = format!(
        "pipy()\n{}.listen({front}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')))\n",
        echo_origin(origin)
    );
    let _p = Proxy::script(&script, &[]);
    let body = "c".repeat(40_000);
    let mut c = Raw::connect(front);
    let mut req = format!(
        "POST /a HTTP/1.1\r\nhost: x\r\nTransfer-Encoding: chunked\r\n\r\n{:x}\r\n{body}\r\n0\r\n\r\n",
        body.len()
    )
    .into_bytes();
    for i in 0..10 {
        req.extend(format!("POST /{i} HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{i:02}").as_bytes());
    }
    c.send(&req);
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    while !String::from_utf8_lossy(&got).ends_with("09") {
        let n = c.0.read(&mut chunk).unwrap();
        assert!(n > 0, "connection closed early: {}", String::from_utf8_lossy(&got));
        got.extend_from_slice(&chunk[..n]);
    }
    let text = String::from_utf8_lossy(&got);
    let first = text.split("HTTP/1.1 200 OK").nth(1).unwrap();
    assert!(first.contains("transfer-encoding: chunked"), "a 40k answer is sent chunked: {}", &first[..120]);
    assert_eq!(
        first.matches('c').count(),
        40_000 + "x-method: POST\r\ntransfer-encoding: chunked\r\nconnection: keep-alive".matches('c').count()
    );
    let order: Vec<&str> = text.split("keep-alive\r\n\r\n").skip(2).map(|r| &r[..2]).collect();
    assert_eq!(
        order,
        (0..10).map(|i| format!("{i:02}")).collect::<Vec<_>>().iter().map(|s| s.as_str()).collect::<Vec<_>>()
    );
}

#[test]
fn many_clients_share_one_pooled_upstream_connection() {
    let (origin, front) = (free_port(), free_port());
    let script = format!(
        "pipy()\n.listen({origin}).serveHTTP(msg => new Message(msg.head.path + ' via ' + __inbound.remotePort))\n\
         .listen({front}).demuxHTTP().to($=>$.muxHTTP(() => 'everyone').to($=>$.connect('127.0.0.1:{origin}')))\n"
    );
    let _p = Proxy::script(&script, &[]);
    let threads: Vec<_> = (0..10)
        .map(|t| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(front);
                let mut out = Vec::new();
                for i in 0..10 {
                    c.send(format!("GET /{t}-{i} HTTP/1.1\r\nhost: x\r\n\r\n").as_bytes());
                    let r = c.read_responses(1);
                    out.push(r.split("\r\n\r\n").nth(1).unwrap().to_string());
                }
                out
            })
        })
        .collect();
    let mut ports = std::collections::HashSet::new();
    for (t, h) in threads.into_iter().enumerate() {
        for (i, body) in h.join().unwrap().into_iter().enumerate() {
            let (path, port) = body.split_once(" via ").unwrap();
            assert_eq!(path, format!("/{t}-{i}"));
            ports.insert(port.to_string());
        }
    }
    assert_eq!(ports.len(), 1, "all requests went through one upstream connection: {ports:?}");
}

/// A server that accepts, reads a request, then does `then` with the socket.
fn raw_origin(then: impl FnOnce(std::net::TcpStream) + Send + 'static) -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = l.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            then(s);
        }
    });
    port
}

#[test]
fn upstream_failures_become_502_504_or_a_closed_connection() {
    let down = free_port();
    let silent = raw_origin(|s| {
        std::thread::sleep(Duration::from_secs(5));
        drop(s)
    });
    let cut = raw_origin(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 1000\r\n\r\npartial");
    });
    let (f1, f2, f3) = (free_port(), free_port(), free_port());
    let script = format!(
        "pipy()\n\
         .listen({f1}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{down}')))\n\
         .listen({f2}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{silent}', {{ readTimeout: 0.5 }})))\n\
         .listen({f3}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{cut}')))\n"
    );
    let _p = Proxy::script(&script, &[]);
    let out = crate::support::curl(&["-i", &format!("http://127.0.0.1:{f1}/")]);
    assert_eq!(out, "HTTP/1.1 502 Connection Refused\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n");
    let t = Instant::now();
    let out = crate::support::curl(&["-i", &format!("http://127.0.0.1:{f2}/")]);
    assert!(out.starts_with("HTTP/1.1 504 Gateway Timeout\r\n"), "{out}");
    assert!(t.elapsed() < Duration::from_secs(4), "answered after the read timeout, not the origin: {:?}", t.elapsed());
    let mut c = Raw::connect(f3);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let t = Instant::now();
    let got = c.read_to_close();
    // What arrived goes out in the origin's framing, then the connection closes:
    // the client sees a response shorter than its content-length.
    assert_eq!(got, "HTTP/1.1 200 OK\r\ncontent-length: 1000\r\nconnection: keep-alive\r\n\r\npartial");
    assert!(t.elapsed() < Duration::from_secs(5), "the client sees the cut, not a hang");
}

/// Reads `size` bytes at about 128 MiB/s (far slower than loopback, so a proxy
/// without backpressure piles the difference up in memory); returns the proxy's
/// peak RSS in KiB meanwhile.
fn read_slowly(c: &mut Raw, size: usize, p: &Proxy) -> u64 {
    let mut total = 0usize;
    let mut buf = vec![0u8; 256 << 10];
    let mut peak = 0;
    let start = Instant::now();
    while total < size {
        let n = c.0.read(&mut buf).unwrap();
        assert!(n > 0, "closed after {total} bytes");
        total += n;
        std::thread::sleep(Duration::from_micros(n as u64 / 128));
        peak = peak.max(p.rss_kib());
        assert!(start.elapsed() < Duration::from_secs(60));
    }
    peak
}

#[test]
fn a_slow_client_downloading_256_mib_keeps_the_proxy_small() {
    const SIZE: usize = 256 << 20;
    let origin = raw_origin(|mut s| {
        let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {SIZE}\r\n\r\n").as_bytes());
        let block = vec![b'z'; 1 << 20];
        for _ in 0..SIZE >> 20 {
            if s.write_all(&block).is_err() {
                return;
            }
        }
    });
    let front = free_port();
    let p = Proxy::script(
        &format!("pipy().listen({front}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')))"),
        &[],
    );
    let mut c = Raw::connect(front);
    c.send(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n");
    let peak = read_slowly(&mut c, SIZE, &p);
    assert!(peak / 1024 < 64, "proxy RSS reached {} MiB", peak / 1024);
}

/// A proxy whose muxHTTP sessions are shared by every client (one key), and a
/// first client that has opened the session to `origin` (answered `small`) and
/// stays connected.
fn shared_session(origin: u16) -> (Proxy, u16, Raw) {
    let front = free_port();
    let p = Proxy::script(
        &format!(
            "pipy().listen({front}).demuxHTTP().to($=>$.muxHTTP(() => 'shared').to($=>$.connect('127.0.0.1:{origin}')))"
        ),
        &[],
    );
    let mut first = Raw::connect(front);
    first.send(b"GET /small HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(first.read_responses(1).ends_with("small"));
    (p, front, first)
}

#[test]
fn a_slow_client_on_a_session_another_client_opened_still_slows_the_upstream() {
    const SIZE: usize = 256 << 20;
    // One upstream connection: a small answer first (for the client that opens
    // the shared session), then a big one (for the slow client).
    let origin = raw_origin(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nsmall");
        let mut buf = [0u8; 4096];
        let _ = s.read(&mut buf);
        let _ = s.write_all(format!("HTTP/1.1 200 OK\r\ncontent-length: {SIZE}\r\n\r\n").as_bytes());
        let block = vec![b'z'; 1 << 20];
        for _ in 0..SIZE >> 20 {
            if s.write_all(&block).is_err() {
                return;
            }
        }
    });
    let (p, front, first) = shared_session(origin);
    let mut c = Raw::connect(front);
    c.send(b"GET /big HTTP/1.1\r\nhost: x\r\n\r\n");
    let peak = read_slowly(&mut c, SIZE, &p);
    assert!(peak / 1024 < 64, "proxy RSS reached {} MiB", peak / 1024);
    drop(first);
}

#[test]
fn a_fast_uploader_on_a_session_another_client_opened_is_slowed_to_the_upstream() {
    const SIZE: usize = 256 << 20;
    // One upstream connection that answers a small request, then reads the next
    // request's body slowly (about 128 MiB/s) before answering it.
    let origin = raw_origin(|mut s| {
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nsmall");
        let mut buf = vec![0u8; 256 << 10];
        let mut got = 0usize;
        while got < SIZE {
            match s.read(&mut buf) {
                Ok(0) | Err(_) => return,
                Ok(n) => got += n,
            }
            std::thread::sleep(Duration::from_micros(256 << 10 >> 7));
        }
        let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 4\r\n\r\ndone");
    });
    let (p, front, first) = shared_session(origin);
    let mut c = Raw::connect(front);
    c.send(format!("POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: {SIZE}\r\n\r\n").as_bytes());
    let block = vec![b'u'; 1 << 20];
    let mut peak = 0;
    let start = Instant::now();
    for _ in 0..SIZE >> 20 {
        c.send(&block);
        peak = peak.max(p.rss_kib());
        assert!(start.elapsed() < Duration::from_secs(60));
    }
    assert!(c.read_responses(1).ends_with("done"));
    assert!(peak / 1024 < 64, "proxy RSS reached {} MiB", peak / 1024);
    drop(first);
}

#[test]
fn mux_sessions_close_after_max_idle_and_the_next_request_opens_a_new_one() {
    let (origin, front) = (free_port(), free_port());
    let script = format!(
        "pipy()\n.listen({origin}).serveHTTP(() => new Message(String(__inbound.remotePort)))\n\
         .listen({front}).demuxHTTP().to($=>$.muxHTTP(() => 'k', {{ maxIdle: 0.3 }}).to($=>$.connect('127.0.0.1:{origin}')))\n"
    );
    let p = Proxy::script(&script, &["--log-level", "debug"]);
    let url = format!("http://127.0.0.1:{front}/");
    let first = crate::support::curl(&[&url]);
    let again = crate::support::curl(&[&url]);
    assert_eq!(first, again, "back-to-back requests reuse the session");
    let t = Instant::now();
    assert!(p.log.wait_for("closing a session idle for maxIdle", Duration::from_secs(5)), "{}", p.log.text());
    assert!(t.elapsed() >= Duration::from_millis(200), "closed only after maxIdle: {:?}", t.elapsed());
    let after = crate::support::curl(&[&url]);
    assert_ne!(after, first, "a new upstream connection after the idle close");
}

#[test]
fn mux_keys_that_are_objects_group_by_identity_not_content() {
    let (origin, front, switch) = (free_port(), free_port(), free_port());
    let script = format!(
        "((a = {{ id: 'same' }}, b = {{ id: 'same' }}) => pipy()\n\
         .listen({origin}).serveHTTP(() => new Message(String(__inbound.remotePort)))\n\
         .listen({front}).demuxHTTP().to($=>$.muxHTTP(() => __inbound.localPort && (globalThis.__pick === 'b' ? b : a)).to($=>$.connect('127.0.0.1:{origin}')))\n\
         .listen({switch}).serveHTTP(() => (globalThis.__pick = 'b', new Message('switched')))\n\
         )()\n"
    );
    let _p = Proxy::script(&script, &[]);
    let url = format!("http://127.0.0.1:{front}/");
    // Same object: one upstream connection (same source port) across clients.
    let first = crate::support::curl(&[&url]);
    assert_eq!(crate::support::curl(&[&url]), first);
    // An object with the same content is another key: another connection.
    assert_eq!(crate::support::curl(&[&format!("http://127.0.0.1:{switch}/")]), "switched");
    let other = crate::support::curl(&[&url]);
    assert_ne!(other, first, "a different object must not share the session");
    assert_eq!(crate::support::curl(&[&url]), other);
}

#[test]
fn a_closed_clients_balancer_resource_and_its_upstream_connection_go_to_the_next_client() {
    // Pipy's test/curl/001-http-proxy, with the upstream connection named by its
    // source port: each client borrows a target's resource, muxHTTP keys sessions
    // by it, and once a client has gone the next one reuses its resource and so
    // its upstream connection.
    let (a, b, front) = (free_port(), free_port(), free_port());
    let script = format!(
        "((lb = new algo.RoundRobinLoadBalancer(['127.0.0.1:{a}', '127.0.0.1:{b}'])) => pipy({{ _t: null }})\n\
         .listen({a}).serveHTTP(() => new Message(`a:${{__inbound.remotePort}}`))\n\
         .listen({b}).serveHTTP(() => new Message(`b:${{__inbound.remotePort}}`))\n\
         .listen({front}).demuxHTTP().to($=>$\n\
           .handleMessageStart(() => _t = lb.next())\n\
           .muxHTTP(() => _t).to($=>$.connect(() => _t.id))\n\
         ))()\n"
    );
    let _p = Proxy::script(&script, &[]);
    let url = format!("http://127.0.0.1:{front}/");
    // One client after the other (each curl is a new connection).
    let answers: Vec<String> = (0..4).map(|_| crate::support::curl(&[&url])).collect();
    assert!(answers[0].starts_with("a:") && answers[1].starts_with("b:"), "{answers:?}");
    assert_eq!(answers[2], answers[0], "the third client reuses the first one's upstream connection");
    assert_eq!(answers[3], answers[1], "the fourth reuses the second's");
    // One client, several requests: the same resource, the same connection.
    let one = crate::support::curl(&[&url, &url, &url]);
    assert!(one == answers[0].repeat(3) || one == answers[1].repeat(3), "{one}");
}

#[test]
fn inbound_ids_number_connections_as_pipy_does() {
    // Each port takes a number when it starts listening and another each time it
    // accepts, giving the one it held to the connection it accepted.
    let (a, b) = (free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            "pipy().listen({a}).serveHTTP(() => new Message(`a${{__inbound.id}}`)).listen({b}).serveHTTP(() => new Message(`b${{__inbound.id}}`))"
        ),
        &[],
    );
    let get = |port: u16| crate::support::curl(&[&format!("http://127.0.0.1:{port}/")]);
    assert_eq!([get(a), get(b), get(a), get(b), get(b)], ["a1", "b2", "a3", "b4", "b6"]);
}

#[test]
fn connect_idle_timeout_closes_an_idle_upstream_connection_on_time() {
    let (origin, front) = (free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            "pipy().listen({origin}).serveHTTP(() => new Message(String(__inbound.remotePort)))\n\
             .listen({front}).demuxHTTP().to($=>$.muxHTTP(() => 'k').to($=>$.connect('127.0.0.1:{origin}', {{ idleTimeout: 2 }})))"
        ),
        &[],
    );
    let url = format!("http://127.0.0.1:{front}/");
    let first = crate::support::curl(&[&url]);
    assert_eq!(crate::support::curl(&[&url]), first, "reused while not idle");
    // Waiting out the timeout is what is tested here: 2 s, kept to within 1/8.
    std::thread::sleep(Duration::from_millis(2500));
    assert_ne!(crate::support::curl(&[&url]), first, "the idle upstream connection was closed");
}
