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
    c.send(b"GET / HTTP/1.1\r\n\r\n");
    let t = Instant::now();
    assert_eq!(c.read_to_close(), "");
    assert!(t.elapsed() >= Duration::from_millis(350), "two retries 0.2 s apart: {:?}", t.elapsed());
    assert!(p.log.wait_for("ConnectionRefused", Duration::from_secs(5)), "{}", p.log.text());
    let mut c = Raw::connect(unknown);
    c.send(b"x");
    assert_eq!(c.read_to_close(), "");
    assert!(p.log.wait_for("CannotResolve", Duration::from_secs(5)), "{}", p.log.text());
}
