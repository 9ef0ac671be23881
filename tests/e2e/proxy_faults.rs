//! The reverse proxy (demuxHTTP → muxHTTP → connect) in fault cases: a client or
//! an origin that breaks framing, stops, or leaves; what each side then sees is
//! what nginx gives in the same case.

use crate::support::{free_port, reverse_proxy, Proxy, Raw, RawOrigin, Seen};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

/// Waits until `seen` has a whole request head, then writes `answer` and closes.
fn answer_after_head(mut s: std::net::TcpStream, seen: &Seen, answer: &[u8]) {
    if seen.wait_text(Duration::from_secs(5), |t| t.contains("\r\n\r\n")) {
        let _ = s.write_all(answer);
    }
    let _ = s.shutdown(std::net::Shutdown::Both);
}

/// Keeps answering `answer` to each request head, the connection kept open.
fn keep_answering(mut s: std::net::TcpStream, seen: &Seen, answer: &[u8]) {
    let mut answered = 0;
    while !seen.closed.load(std::sync::atomic::Ordering::SeqCst) {
        if seen.text().matches("\r\n\r\n").count() > answered {
            answered += 1;
            if s.write_all(answer).is_err() {
                return;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn proxy_to(origin: u16, mux: &str) -> (Proxy, u16) {
    let front = free_port();
    let p = Proxy::script(&format!("pipy()\n{}", reverse_proxy(front, origin, mux)), &[]);
    (p, front)
}

/// Everything the proxy sends until it closes (bounded by `limit`), and how long that took.
fn read_all(c: &mut Raw, limit: Duration) -> (String, Duration) {
    c.0.set_read_timeout(Some(limit)).unwrap();
    let t = Instant::now();
    let mut buf = Vec::new();
    let _ = c.0.read_to_end(&mut buf);
    (String::from_utf8_lossy(&buf).into_owned(), t.elapsed())
}

#[test]
fn a_broken_request_body_gets_400_at_once_and_its_upstream_request_is_dropped() {
    let origin = RawOrigin::start(|_, _| {});
    let (_p, front) = proxy_to(origin.port, "");
    // A first chunk large enough to be on its way upstream before the break.
    let first = "a".repeat(20_000);
    let head =
        format!("POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{first}\r\n", first.len());
    let long_ext = format!("1;{}\r\n", "e".repeat(2000));
    for (n, broken) in ["+5\r\nhello\r\n", "5\r\nhelloXX", long_ext.as_str()].into_iter().enumerate() {
        let mut c = Raw::connect(front);
        c.send(head.as_bytes());
        let upstream = origin.conn(n);
        assert!(upstream.wait_text(Duration::from_secs(5), |t| t.len() > 20_000), "case {n}: the body went upstream");
        c.send(broken.as_bytes());
        let (got, took) = read_all(&mut c, Duration::from_secs(10));
        assert_eq!(got, "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n", "case {n}");
        assert!(took < Duration::from_secs(3), "case {n}: answered after {took:?}");
        assert!(upstream.wait_closed(Duration::from_secs(3)), "case {n}: the upstream request was dropped");
    }
}

#[test]
fn a_client_leaving_mid_upload_closes_the_upstream_connection() {
    let origin = RawOrigin::start(|_, _| {});
    let (_p, front) = proxy_to(origin.port, "");
    let mut c = Raw::connect(front);
    let part = "p".repeat(20_000);
    c.send(format!("POST /up HTTP/1.1\r\nhost: x\r\ncontent-length: 100000\r\n\r\n{part}").as_bytes());
    let upstream = origin.conn(0);
    assert!(upstream.wait_text(Duration::from_secs(5), |t| t.ends_with(&part)));
    drop(c);
    assert!(upstream.wait_closed(Duration::from_secs(3)), "the upstream connection is closed with the client's");
}

#[test]
fn an_origin_that_never_answers_gets_504_at_the_response_timeout() {
    let origin = RawOrigin::start(|_, _| {});
    let (_p, front) = proxy_to(origin.port, "{ responseTimeout: '1s' }");
    let mut c = Raw::connect(front);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    c.0.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let t = Instant::now();
    let got = c.read_responses(1);
    assert_eq!(got, "HTTP/1.1 504 Gateway Timeout\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n");
    assert!(t.elapsed() >= Duration::from_secs(1) && t.elapsed() < Duration::from_secs(3), "{:?}", t.elapsed());
    assert!(origin.conn(0).wait_closed(Duration::from_secs(3)), "the stuck upstream connection is closed");
}

#[test]
fn an_origin_cut_off_mid_answer_is_forwarded_in_its_own_framing_then_closed() {
    let body = "b".repeat(20_000);
    let head_then_close = RawOrigin::start(|s, seen| {
        answer_after_head(s, &seen, b"HTTP/1.1 200 OK\r\ncontent-length: 10\r\n\r\n");
    });
    let b = body.clone();
    let mid_length = RawOrigin::start(move |s, seen| {
        answer_after_head(s, &seen, format!("HTTP/1.1 200 OK\r\ncontent-length: 50000\r\n\r\n{b}").as_bytes());
    });
    let b = body.clone();
    let mid_chunks = RawOrigin::start(move |s, seen| {
        answer_after_head(
            s,
            &seen,
            format!("HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n{:x}\r\n{b}\r\n", b.len()).as_bytes(),
        );
    });
    for (origin, want) in [
        (&head_then_close, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: keep-alive\r\n\r\n".to_string()),
        (&mid_length, format!("HTTP/1.1 200 OK\r\ncontent-length: 50000\r\nconnection: keep-alive\r\n\r\n{body}")),
        (
            &mid_chunks,
            format!(
                "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n{:X}\r\n{body}\r\n",
                body.len()
            ),
        ),
    ] {
        let (_p, front) = proxy_to(origin.port, "");
        let mut c = Raw::connect(front);
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        let (got, took) = read_all(&mut c, Duration::from_secs(10));
        assert_eq!(got.len(), want.len(), "{:?}", &got[..got.len().min(200)]);
        assert!(got == want, "{:?}", &got[..got.len().min(200)]);
        assert!(took < Duration::from_secs(3), "closed after {took:?}");
    }
}

#[test]
fn http10_request_bodies_keep_their_length_upstream() {
    let origin =
        RawOrigin::start(|s, seen| keep_answering(s, &seen, b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"));
    let (_p, front) = proxy_to(origin.port, "() => 'shared'");
    let body = "z".repeat(40_000);
    let mut c = Raw::connect(front);
    c.send(format!("POST /old HTTP/1.0\r\ncontent-length: {}\r\n\r\n{body}", body.len()).as_bytes());
    let (got, _) = read_all(&mut c, Duration::from_secs(10));
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n") && got.ends_with("ok"), "{got}");
    let sent = origin.conn(0).text();
    let head = &sent[..sent.find("\r\n\r\n").unwrap()];
    assert!(head.starts_with("POST /old HTTP/1.0\r\n"), "{head}");
    assert!(head.contains("content-length: 40000") && !head.contains("transfer-encoding"), "{head}");
    assert!(sent.ends_with(&body), "the body went upstream as it came");
    // Another client on the same upstream session is unaffected.
    let mut other = Raw::connect(front);
    other.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(other.read_responses(1).ends_with("ok"));
}

#[test]
fn hop_by_hop_headers_stay_on_their_own_hop_both_ways() {
    let origin = RawOrigin::start(|s, seen| {
        answer_after_head(
            s,
            &seen,
            b"HTTP/1.1 200 OK\r\nconnection: x-hop\r\nx-hop: 1\r\nkeep-alive: timeout=5\r\nx-end: 2\r\ncontent-length: 2\r\n\r\nok",
        );
    });
    let (_p, front) = proxy_to(origin.port, "");
    let mut c = Raw::connect(front);
    c.send(
        b"GET / HTTP/1.1\r\nhost: x\r\nconnection: keep-alive, x-secret\r\nx-secret: s\r\nkeep-alive: 300\r\n\
          te: trailers\r\nupgrade: websocket\r\nproxy-connection: keep-alive\r\nx-end-to-end: e\r\n\r\n",
    );
    let got = c.read_responses(1);
    let sent = origin.conn(0).text().to_ascii_lowercase();
    for gone in ["x-secret", "keep-alive: 300", "te:", "upgrade", "proxy-connection"] {
        assert!(!sent.contains(gone), "{gone} reached the origin:\n{sent}");
    }
    assert!(sent.contains("x-end-to-end: e") && sent.contains("host: x"), "{sent}");
    assert!(!got.contains("x-hop") && !got.contains("keep-alive: timeout"), "{got}");
    assert!(got.contains("x-end: 2") && got.ends_with("ok"), "{got}");
}

#[test]
fn mux_http_takes_pipys_options_object_first() {
    let (origin, front) = (free_port(), free_port());
    let script = format!(
        "pipy()\n.listen({origin}).serveHTTP(() => new Timeout(0.3).wait().then(() => new Message('slow')))\n{}",
        reverse_proxy(front, origin, "{ maxIdle: '5s' }")
    );
    let _p = Proxy::script(&script, &[]);
    let t = Instant::now();
    let clients: Vec<_> = (0..4)
        .map(|_| {
            std::thread::spawn(move || {
                let mut c = Raw::connect(front);
                c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
                c.read_responses(1)
            })
        })
        .collect();
    for c in clients {
        assert!(c.join().unwrap().ends_with("slow"));
    }
    // Each client has its own session: the four run at once (one shared session
    // would answer them one after another, 1.2 s).
    assert!(t.elapsed() < Duration::from_millis(1000), "{:?}", t.elapsed());
}

#[test]
fn a_request_stuck_on_a_promise_or_a_wait_ends_when_its_client_leaves() {
    let (a, b) = (free_port(), free_port());
    let script = format!(
        "pipy()\n.listen({a}).serveHTTP(() => new Promise(() => {{}}))\n\
         .listen({b}).demuxHTTP().to($=>$.wait(() => false).replaceMessage(new Message('never')))\n"
    );
    let mut p = Proxy::script(&script, &["--log-level", "debug", "--shutdown-timeout", "20s"]);
    for port in [a, b] {
        let mut c = Raw::connect(port);
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        std::thread::sleep(Duration::from_millis(100));
        c.0.shutdown(std::net::Shutdown::Both).unwrap();
    }
    assert!(p.log.wait_for("waiting for the handler's Promise", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("held until its condition holds", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_count("closed", 2, Duration::from_secs(5)), "{}", p.log.text());
    // Nothing is left open, so shutdown does not wait for the grace period.
    let t = Instant::now();
    p.signal("INT");
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(0));
    assert!(t.elapsed() < Duration::from_secs(3), "shutdown took {:?}", t.elapsed());
}

#[test]
fn serve_http_without_a_handler_is_a_load_error() {
    let port = free_port();
    let dir = crate::support::TempDir::with_files(&[("main.js", &format!("pipy()\n.listen({port})\n.serveHTTP()\n"))]);
    let mut p = Proxy::spawn(&dir.0.join("main.js"), &[], None);
    assert_eq!(p.wait_exit(Duration::from_secs(10)), Some(1), "{}", p.log.text());
    assert!(p.log.wait_for("serveHTTP: needs a Message", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.text().contains("main.js:3:"), "{}", p.log.text());
}

#[test]
fn connection_cannot_strip_the_length_a_request_is_framed_by() {
    let origin = RawOrigin::start(|_, _| {});
    let (_p, front) = proxy_to(origin.port, "");
    let mut c = Raw::connect(front);
    let part = "q".repeat(30_000);
    c.send(
        format!("POST /up HTTP/1.0\r\nconnection: content-length, host\r\nhost: x\r\ncontent-length: 99999999\r\n\r\n{part}")
            .as_bytes(),
    );
    let upstream = origin.conn(0);
    assert!(upstream.wait_text(Duration::from_secs(5), |t| t.ends_with(&part)), "the body streams on upstream");
    let sent = upstream.text();
    assert!(sent.contains("content-length: 99999999") && sent.contains("host: x"), "{}", &sent[..200.min(sent.len())]);
}

#[test]
fn a_script_reads_an_answer_with_many_set_cookie_fields() {
    let origin = RawOrigin::start(|s, seen| {
        keep_answering(
            s,
            &seen,
            b"HTTP/1.1 200 OK\r\nset-cookie: a=1\r\nset-cookie: b=2\r\nset-cookie: c=3\r\ncontent-length: 2\r\n\r\nok",
        )
    });
    let front = free_port();
    let p = Proxy::script(
        &format!(
            "pipy()\n.listen({front})\n.demuxHTTP().to($=>$\n  .muxHTTP().to($=>$.connect('127.0.0.1:{}'))\n  .handleMessageStart(msg => {{ msg.head.headers['x-cookies'] = msg.head.headers['set-cookie'].join(' ') }}))\n",
            origin.port
        ),
        &[],
    );
    let mut c = Raw::connect(front);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let got = c.read_responses(1);
    assert!(got.starts_with("HTTP/1.1 200 OK\r\n"), "{got}\n{}", p.log.text());
    assert!(got.contains("x-cookies: a=1 b=2 c=3\r\n"), "{got}");
    for cookie in ["a=1", "b=2", "c=3"] {
        assert!(got.contains(&format!("set-cookie: {cookie}\r\n")), "{cookie}: {got}");
    }
}
