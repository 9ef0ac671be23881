//! Process and connection lifecycle: graceful and immediate shutdown, idle
//! timeouts, `onStart`, and backpressure from a client that does not read.

use crate::support::{curl, free_port, Proxy, Raw};
use std::io::{Read, Write};
use std::time::{Duration, Instant};

#[test]
fn sigint_lets_an_in_flight_response_finish_then_exits_zero() {
    let port = free_port();
    let mut p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(() => (console.log('request in'), new Timeout(0.5).wait().then(() => new Message('finished'))))"
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    // Stop the proxy once the request is in and its response pending.
    assert!(p.log.wait_for("request in", Duration::from_secs(5)));
    p.signal("INT");
    assert!(c.read_responses(1).ends_with("finished"));
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0), "{}", p.log.text());
    // The port is closed now.
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
}

#[test]
fn pipy_exit_drains_like_sigint_and_exits_with_its_code() {
    let port = free_port();
    let mut p = Proxy::script(
        &format!(
            "pipy.listen({port}, $=>$.serveHTTP(req => {{\n\
               if (req.head.path === '/stop') pipy.exit(3)\n\
               return new Timeout(0.3).wait().then(() => new Message('done ' + req.head.path))\n\
             }}))"
        ),
        &[],
    );
    let mut slow = Raw::connect(port);
    slow.send(b"GET /slow HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(curl(&[&format!("http://127.0.0.1:{port}/stop")]).ends_with("done /stop"));
    assert!(slow.read_responses(1).ends_with("done /slow"), "a response in flight finishes");
    drop(slow);
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(3), "{}", p.log.text());
}

#[test]
fn a_second_sigint_stops_at_once() {
    let port = free_port();
    let mut p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(() => (console.log('request in'), new Timeout(30).wait().then(() => new Message('late'))))"
        ),
        &[],
    );
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(p.log.wait_for("request in", Duration::from_secs(5)));
    p.signal("INT");
    assert!(p.log.wait_for("Shutting down", Duration::from_secs(5)));
    let t = Instant::now();
    p.signal("INT");
    assert!(p.wait_exit(Duration::from_secs(5)).is_some());
    assert!(t.elapsed() < Duration::from_secs(3));
}

#[test]
fn idle_connections_are_closed_after_idle_timeout() {
    let port = free_port();
    let _p = Proxy::script(&format!("pipy().listen({port}, {{ idleTimeout: 0.3 }}).serveHTTP(new Message('x'))"), &[]);
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    let t = Instant::now();
    let out = c.read_to_close();
    assert!(out.ends_with('x'));
    assert!(t.elapsed() >= Duration::from_millis(250) && t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());
}

#[test]
fn on_start_stream_end_closes_the_connection_at_once() {
    let port = free_port();
    let _p = Proxy::script(&format!("pipy().listen({port}).onStart(new StreamEnd).serveHTTP(new Message('x'))"), &[]);
    let mut c = Raw::connect(port);
    assert_eq!(c.read_to_close(), "");
    let _ = curl(&[&format!("http://127.0.0.1:{port}/")]);
}

#[test]
fn a_client_that_does_not_read_makes_the_proxy_stop_reading_not_buffer() {
    let port = free_port();
    let body = "b".repeat(64 * 1024);
    let p = Proxy::script(&format!("pipy().listen({port}).serveHTTP(new Message('{body}'))"), &[]);
    let c = Raw::connect(port);
    let mut s = c.0.try_clone().unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    // Each 20-byte request asks for a 64 KiB answer. If the proxy kept reading while
    // its answers pile up, 1 GiB of answers would be queued; it must stop reading
    // instead, and then our writes stall.
    let req = b"GET / HTTP/1.1\r\nhost: x\r\n\r\n";
    let mut sent = 0usize;
    let stalled = loop {
        match s.write(&req.repeat(256)) {
            Ok(n) => sent += n,
            Err(_) => break true,
        }
        if sent > 20 * 64 * 1024 * 1024 / 64 {
            break false;
        }
    };
    assert!(stalled, "the proxy kept reading {sent} bytes of requests");
    let rss_mib = p.rss_kib() / 1024;
    assert!(rss_mib < 64, "proxy RSS {rss_mib} MiB while a client is not reading");
}

#[test]
fn read_timeout_closes_a_connection_that_sends_nothing_and_write_timeout_one_that_reads_nothing() {
    let port = free_port();
    let _p =
        Proxy::script(&format!("pipy().listen({port}, {{ readTimeout: '300ms' }}).serveHTTP(new Message('x'))"), &[]);
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n");
    let t = Instant::now();
    assert_eq!(c.read_to_close(), "", "a half-sent request is dropped");
    assert!(t.elapsed() >= Duration::from_millis(250) && t.elapsed() < Duration::from_secs(5), "{:?}", t.elapsed());

    // A client that asks for 64 KiB answers and never reads: once the socket buffers
    // are full, nothing moves and the write timeout ends the connection.
    let port = free_port();
    let body = "b".repeat(64 * 1024);
    let p = Proxy::script(
        &format!("pipy().listen({port}, {{ writeTimeout: 0.3 }}).serveHTTP(new Message('{body}'))"),
        &["--log-level", "debug"],
    );
    let c = Raw::connect(port);
    let mut s = c.0.try_clone().unwrap();
    s.set_write_timeout(Some(Duration::from_secs(2))).unwrap();
    for _ in 0..2000 {
        if s.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n").is_err() {
            break;
        }
    }
    assert!(p.log.wait_for("WriteTimeout", Duration::from_secs(10)), "{}", p.log.text());
}

#[test]
fn max_connections_holds_further_clients_until_a_slot_frees() {
    let port = free_port();
    let _p = Proxy::script(&format!("pipy().listen({port}, {{ maxConnections: 1 }}).serveHTTP(new Message('x'))"), &[]);
    let mut first = Raw::connect(port);
    first.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(first.read_responses(1).ends_with('x'));
    // The second client is accepted by the kernel but not served while the first
    // connection stays open.
    let mut second = Raw::connect(port);
    second.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    second.0.set_read_timeout(Some(Duration::from_millis(300))).unwrap();
    let mut buf = [0u8; 64];
    let held = matches!(second.0.read(&mut buf), Err(ref e) if e.kind() == std::io::ErrorKind::WouldBlock || e.kind() == std::io::ErrorKind::TimedOut);
    assert!(held, "the second client must wait");
    drop(first);
    second.0.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    assert!(second.read_responses(1).ends_with('x'), "served once the first client left");
}

#[test]
fn exit_pipelines_run_on_shutdown_and_shutdown_waits_for_them() {
    let port = free_port();
    let mut p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(new Message('x'))\n\
             .exit().onStart(() => new Timeout(0.3).wait().then(() => (console.log('exit pipeline done'), new StreamEnd)))\n"
        ),
        &[],
    );
    p.signal("INT");
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0), "{}", p.log.text());
    let log = p.log.text();
    let done = log.find("exit pipeline done").expect("the exit pipeline ran");
    assert!(done < log.find("Thread 0 stopped").unwrap(), "{log}");
}

#[test]
fn signal_tasks_run_on_each_signal() {
    let port = free_port();
    let p = Proxy::script(
        &format!(
            "pipy({{ _n: {{ runs: 0 }} }}).listen({port}).serveHTTP(new Message('x'))\n\
             .task('SIGUSR1').onStart(() => (console.log(`usr1 run ${{++_n.runs}}`), new StreamEnd))\n"
        ),
        &[],
    );
    p.signal("USR1");
    assert!(p.log.wait_for("usr1 run 1", Duration::from_secs(5)), "{}", p.log.text());
    p.signal("USR1");
    assert!(p.log.wait_for("usr1 run 2", Duration::from_secs(5)), "{}", p.log.text());
    // Still serving.
    assert_eq!(curl(&["-s", &format!("http://127.0.0.1:{port}/")]), "x");
}

#[test]
fn two_threads_both_serve_and_their_log_lines_say_which() {
    let port = free_port();
    let p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(() => (console.log(`served by ${{__thread.id}}`), new Message(`${{__thread.id}}/${{__thread.concurrency}}`)))"
        ),
        &["--threads", "2"],
    );
    assert!(p.log.wait_for("Thread 1 started", Duration::from_secs(5)), "{}", p.log.text());
    // The kernel spreads new connections over the two sockets (SO_REUSEPORT);
    // within a bounded number of connections both workers answer.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..200 {
        seen.insert(curl(&[&format!("http://127.0.0.1:{port}/")]));
        if seen.len() == 2 {
            break;
        }
    }
    assert_eq!(seen.into_iter().collect::<Vec<_>>(), vec!["0/2".to_string(), "1/2".to_string()]);
    assert!(p.log.wait_for("[worker 0] served by 0", Duration::from_secs(5)), "{}", p.log.text());
    assert!(p.log.wait_for("[worker 1] served by 1", Duration::from_secs(5)), "{}", p.log.text());
}

#[test]
fn sigint_during_a_streamed_response_lets_it_finish() {
    // An origin that sends the head and most of a 100 KB body, pauses, then the rest.
    let origin = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let origin_port = origin.local_addr().unwrap().port();
    std::thread::spawn(move || {
        if let Ok((mut s, _)) = origin.accept() {
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 200 OK\r\ncontent-length: 100000\r\n\r\n");
            let _ = s.write_all(&[b'a'; 70_000]);
            std::thread::sleep(Duration::from_millis(600));
            let _ = s.write_all(&[b'b'; 30_000]);
        }
    });
    let port = free_port();
    let mut p = Proxy::script(
        &format!("pipy().listen({port}).demuxHTTP().to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin_port}')))"),
        &[],
    );
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    // Wait for most of the body to reach the client, then stop the proxy.
    let count = |got: &[u8], byte: u8| got.iter().filter(|&&b| b == byte).count();
    let mut got = Vec::new();
    let mut chunk = [0u8; 65536];
    while count(&got, b'a') < 60_000 {
        let n = c.0.read(&mut chunk).unwrap();
        assert!(n > 0, "closed early");
        got.extend_from_slice(&chunk[..n]);
    }
    p.signal("INT");
    while count(&got, b'b') < 30_000 {
        let n = c.0.read(&mut chunk).unwrap_or(0);
        assert!(n > 0, "the response was cut after {} bytes", got.len());
        got.extend_from_slice(&chunk[..n]);
    }
    assert_eq!(p.wait_exit(Duration::from_secs(5)), Some(0), "{}", p.log.text());
}
