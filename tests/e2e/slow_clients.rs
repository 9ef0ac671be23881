//! Clients that try to hold the server's time or memory: sending a head one byte
//! at a time, stalling in a body, pipelining without reading the answers,
//! opening more connections than there are file descriptors.

use crate::support::{free_port, reverse_proxy, Proxy, Raw, TempDir};
use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

/// Sends `first`, then one byte of `drip` every `every`, until the server answers
/// or closes (or `limit` passes); returns what it answered and when.
fn drip(port: u16, first: &[u8], drip: &[u8], every: Duration, limit: Duration) -> (String, Duration) {
    let mut s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(every)).unwrap();
    let t = Instant::now();
    let _ = s.write_all(first);
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let mut next = drip.iter().cycle();
    while t.elapsed() < limit {
        match s.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(_) => {
                if !got.is_empty() {
                    continue;
                }
                if s.write_all(&[*next.next().unwrap()]).is_err() {
                    break;
                }
            }
        }
    }
    (String::from_utf8_lossy(&got).into_owned(), t.elapsed())
}

#[test]
fn clients_sending_a_head_byte_by_byte_get_408_at_the_header_timeout() {
    let (serve, demux, origin) = (free_port(), free_port(), free_port());
    let script = format!(
        "pipy()\n.listen({serve}).serveHTTP(new Message('ok'), {{ headerTimeout: '1s' }})\n\
         .listen({origin}).serveHTTP(new Message('ok'))\n\
         .listen({demux}).demuxHTTP({{ headerTimeout: '1s' }}).to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')))\n"
    );
    let p = Proxy::script(&script, &[]);
    let clients: Vec<_> = (0..50)
        .map(|i| {
            let port = if i % 2 == 0 { serve } else { demux };
            std::thread::spawn(move || {
                drip(port, b"GET / HTTP/1.1\r\n", b"x-slow: 1\r\n", Duration::from_millis(200), Duration::from_secs(10))
            })
        })
        .collect();
    for c in clients {
        let (got, took) = c.join().unwrap();
        assert_eq!(got, "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        assert!(took >= Duration::from_millis(900) && took < Duration::from_secs(3), "closed after {took:?}");
    }
    // A client that sends its request promptly is served as usual.
    let mut c = Raw::connect(serve);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(c.read_responses(1).ends_with("ok"), "{}", p.log.text());
}

#[test]
fn a_body_that_stalls_gets_408_and_one_that_trickles_is_served() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(req => new Message('got ' + req.body.size), {{ bodyTimeout: '1s' }})"
        ),
        &[],
    );
    let head = b"POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 12\r\n\r\npart";
    // Stalls after four bytes.
    let (got, took) = drip(port, head, b"", Duration::from_secs(5), Duration::from_secs(10));
    assert_eq!(got, "HTTP/1.1 408 Request Timeout\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // One byte every 0.4 s never stalls for a second: the request completes.
    let (got, took) = drip(port, head, b"12345678", Duration::from_millis(400), Duration::from_secs(10));
    assert!(got.ends_with("got 12"), "{got}");
    assert!(took > Duration::from_secs(2), "{took:?}");
}

#[test]
fn clients_pipelining_without_reading_hold_bounded_memory() {
    let origin = free_port();
    let o = TempDir::with_files(&[("main.js", &format!("pipy().listen({origin}).serveHTTP(new Message('hi'))"))]);
    let mut origin_proxy = Proxy::spawn(&o.0.join("main.js"), &[], None);
    origin_proxy.ready();
    let front = free_port();
    let p = Proxy::script(&format!("pipy()\n{}", reverse_proxy(front, origin, "")), &[]);
    let before = p.rss_kib();
    let request = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n".repeat(1000);
    let floods: Vec<_> = (0..10)
        .map(|_| {
            let request = request.clone();
            std::thread::spawn(move || {
                let mut s = TcpStream::connect(("127.0.0.1", front)).unwrap();
                s.set_write_timeout(Some(Duration::from_millis(500))).unwrap();
                let t = Instant::now();
                let mut sent = 0usize;
                // Up to 20 MiB each, for at most 4 s; never reading an answer.
                while sent < 20 << 20 && t.elapsed() < Duration::from_secs(4) {
                    match s.write(&request) {
                        Ok(n) => sent += n,
                        Err(_) => std::thread::sleep(Duration::from_millis(50)),
                    }
                }
                (s, sent)
            })
        })
        .collect();
    let mut peak = 0;
    while !floods.iter().all(|f| f.is_finished()) {
        peak = peak.max(p.rss_kib());
        std::thread::sleep(Duration::from_millis(20));
    }
    let held: Vec<_> = floods.into_iter().map(|f| f.join().unwrap()).collect();
    peak = peak.max(p.rss_kib());
    let sent: usize = held.iter().map(|(_, n)| n).sum();
    assert!(peak < before + 48 * 1024, "RSS {before} KiB before, {peak} KiB with {sent} bytes of requests pipelined");
    drop(held);
    // The clients are gone: the proxy answers a new one at once.
    let t = Instant::now();
    let mut c = Raw::connect(front);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(c.read_responses(1).ends_with("hi"));
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
}

#[test]
fn running_out_of_file_descriptors_backs_off_instead_of_spinning() {
    let port = free_port();
    let dir = TempDir::with_files(&[("main.js", &format!("pipy().listen({port}).serveHTTP(new Message('ok'))"))]);
    let mut cmd = std::process::Command::new("sh");
    cmd.arg("-c").arg(format!(
        "ulimit -n 40 && exec '{}' '{}'",
        crate::support::binary(),
        dir.0.join("main.js").display()
    ));
    let mut p = Proxy::from_command(cmd);
    p.ready();
    // More connections than the process may have descriptors.
    let held: Vec<TcpStream> = (0..60).filter_map(|_| TcpStream::connect(("127.0.0.1", port)).ok()).collect();
    assert!(p.log.wait_for("cannot accept", Duration::from_secs(5)), "{}", p.log.text());
    let (ticks, lines) = (p.cpu_ticks(), p.log.text().lines().count());
    std::thread::sleep(Duration::from_secs(2));
    let (ticks, lines) = (p.cpu_ticks() - ticks, p.log.text().lines().count() - lines);
    let hz = 100;
    assert!(ticks < hz * 2 / 5, "{ticks} ticks of CPU in 2 s while out of descriptors");
    assert!(lines <= 2, "{lines} log lines in 2 s:\n{}", p.log.text());
    drop(held);
    // Descriptors are free again: new clients are served.
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let mut c = Raw::connect(port);
        c.0.set_read_timeout(Some(Duration::from_secs(2))).unwrap();
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        if c.read_responses(1).ends_with("ok") {
            break;
        }
        assert!(Instant::now() < deadline, "not serving again:\n{}", p.log.text());
    }
}

#[test]
fn a_large_answer_waiting_behind_a_slow_one_is_paused_not_buffered() {
    let origin = free_port();
    let o = TempDir::with_files(&[(
        "main.js",
        &format!(
            "var big = new Message('b'.repeat(64 << 20));\n\
             pipy().listen({origin}).serveHTTP(req => req.head.path === '/slow'\n\
               ? new Timeout(2).wait().then(() => new Message('slow'))\n\
               : big)\n"
        ),
    )]);
    let mut origin_proxy = Proxy::spawn(&o.0.join("main.js"), &["--js-memory-limit", "1g"], None);
    origin_proxy.ready();
    let front = free_port();
    // One upstream connection per request, so that the big answer comes at once.
    let p = Proxy::script(&format!("pipy()\n{}", reverse_proxy(front, origin, "() => 'k', { maxQueue: 1 }")), &[]);
    let before = p.rss_kib();
    let mut c = Raw::connect(front);
    c.send(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /big HTTP/1.1\r\nhost: x\r\n\r\n");
    let mut peak = 0;
    let t = Instant::now();
    while t.elapsed() < Duration::from_millis(1500) {
        peak = peak.max(p.rss_kib());
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(peak < before + 24 * 1024, "RSS {before} KiB before, {peak} KiB while the big answer waited");
    // Both answers arrive whole, in order.
    c.0.set_read_timeout(Some(Duration::from_secs(20))).unwrap();
    let mut got = Vec::new();
    let mut buf = vec![0u8; 1 << 20];
    // (The origin sends its 64 MiB chunked, as Pipy would: it has no length to keep.)
    while !got.ends_with(b"\r\n0\r\n\r\n") {
        match c.0.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    let text = String::from_utf8_lossy(&got[..200.min(got.len())]).into_owned();
    assert!(text.starts_with("HTTP/1.1 200 OK\r\ncontent-length: 4\r\n") && text.contains("slow"), "{text}");
    let bs = got.iter().filter(|&&b| b == b'b').count();
    assert_eq!(bs, 64 << 20, "the big answer arrives whole ({} bytes in all)", got.len());
}

#[test]
fn a_body_sent_behind_a_pending_answer_is_paused_not_buffered() {
    let port = free_port();
    let p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(req => req.head.path === '/slow'\n\
               ? new Timeout(3).wait().then(() => new Message('slow'))\n\
               : new Message('got ' + req.body.size), {{ maxBodySize: '1g' }})"
        ),
        &[],
    );
    let before = p.rss_kib();
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let mut w = s.try_clone().unwrap();
    w.set_write_timeout(Some(Duration::from_millis(200))).unwrap();
    w.write_all(
        b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\nPOST /big HTTP/1.1\r\nhost: x\r\ncontent-length: 200000000\r\n\r\n",
    )
    .unwrap();
    let chunk = vec![b'z'; 1 << 20];
    let t = Instant::now();
    let mut sent = 0usize;
    let mut peak = 0;
    while t.elapsed() < Duration::from_secs(2) {
        if let Ok(n) = w.write(&chunk) {
            sent += n;
        }
        peak = peak.max(p.rss_kib());
    }
    assert!(peak < before + 32 * 1024, "RSS {before} KiB before, {peak} KiB with {sent} body bytes sent");
    assert!(sent < 64 << 20, "{sent} bytes were taken while the answer before was pending");
}
