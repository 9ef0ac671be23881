//! Bad input gets a clear answer on its own connection and nothing else is affected.

use crate::support::{free_port, Proxy, Raw};

fn hello(port: u16) -> Proxy {
    Proxy::script(&format!("pipy().listen({port}).serveHTTP(new Message('ok'))"), &[])
}

fn answer_then_close(port: u16, input: &[u8]) -> String {
    let mut c = Raw::connect(port);
    c.send(input);
    c.read_to_close()
}

fn status_only(status: &str) -> String {
    format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n")
}

#[test]
fn malformed_requests_get_400_and_other_connections_carry_on() {
    let port = free_port();
    let _p = hello(port);
    // A keep-alive client that is already connected.
    let mut other = Raw::connect(port);
    other.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(other.read_responses(1).ends_with("ok"));

    for bad in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/1.1\r\nhost: x\r\nno colon here\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\nContent-Length: 12x\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab",
        b"POST / HTTP/1.1\r\nhost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"POST / HTTP/1.1\r\nhost: x\r\nTransfer-Encoding: chunked\r\n\r\nxyz\r\n",
        b"\x00\x01\x02\xff\r\n\r\n",
    ] {
        assert_eq!(
            answer_then_close(port, bad),
            status_only("400 Bad Request"),
            "for {:?}",
            String::from_utf8_lossy(bad)
        );
    }
    // A good request before the bad one is answered first.
    let out = answer_then_close(port, b"GET / HTTP/1.1\r\nhost: x\r\n\r\nBAD\r\n\r\n");
    assert_eq!(
        out,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok{}",
            status_only("400 Bad Request")
        )
    );

    other.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(other.read_responses(1).ends_with("ok"), "the other connection still works");
}

#[test]
fn oversized_heads_get_431_and_the_limit_is_configurable() {
    let port = free_port();
    let _p = hello(port);
    let big = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(17 * 1024));
    assert_eq!(answer_then_close(port, big.as_bytes()), status_only("431 Request Header Fields Too Large"));
    let fits = format!("GET / HTTP/1.1\r\nhost: x\r\nx-big: {}\r\n\r\n", "a".repeat(15 * 1024));
    let mut c = Raw::connect(port);
    c.send(fits.as_bytes());
    assert!(c.read_responses(1).ends_with("ok"));

    let port = free_port();
    let _q =
        Proxy::script(&format!("pipy().listen({port}).serveHTTP(new Message('ok'), {{ maxHeaderSize: 100 }})"), &[]);
    let head = format!("GET / HTTP/1.1\r\nhost: x\r\nx: {}\r\n\r\n", "a".repeat(100));
    assert_eq!(answer_then_close(port, head.as_bytes()), status_only("431 Request Header Fields Too Large"));
}

#[test]
fn a_client_sending_half_a_request_then_closing_does_no_harm() {
    let port = free_port();
    let _p = hello(port);
    for partial in [&b"GET / HT"[..], b"POST / HTTP/1.1\r\nhost: x\r\nContent-Length: 10\r\n\r\nabc"] {
        let mut c = Raw::connect(port);
        c.send(partial);
        c.0.shutdown(std::net::Shutdown::Write).unwrap();
        assert_eq!(c.read_to_close(), "");
    }
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
    assert!(c.read_responses(1).ends_with("ok"));
}

#[test]
fn framing_nginx_refuses_is_refused_by_the_server_and_by_the_reverse_proxy() {
    let (serve, origin, front) = (free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            "pipy()\n.listen({serve}).serveHTTP(new Message('ok'))\n.listen({origin}).serveHTTP(new Message('ok'))\n{}",
            crate::support::reverse_proxy(front, origin, "")
        ),
        &[],
    );
    let chunked = "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n";
    for port in [serve, front] {
        for (input, status) in [
            (format!("{chunked}+5\r\nhello\r\n0\r\n\r\n"), "400 Bad Request"),
            (format!("{chunked}5 5\r\nhello\r\n0\r\n\r\n"), "400 Bad Request"),
            (
                "POST / HTTP/1.1\r\nhost: x\r\ntransfer-encoding: gzip, chunked\r\n\r\n0\r\n\r\n".to_string(),
                "501 Not Implemented",
            ),
            ("GET / HTTP/1.1\r\nhost: a\r\nhost: b\r\n\r\n".to_string(), "400 Bad Request"),
            ("POST / HTTP/1.0\r\ntransfer-encoding: chunked\r\n\r\n0\r\n\r\n".to_string(), "400 Bad Request"),
        ] {
            assert_eq!(answer_then_close(port, input.as_bytes()), status_only(status), "port {port}: {input:?}");
        }
        // HTTP/1.0 needs no Host; HTTP/1.1 may go without, as in Pipy.
        let mut c = Raw::connect(port);
        c.send(b"GET / HTTP/1.0\r\n\r\n");
        assert!(c.read_to_close().ends_with("ok"));
        let mut c = Raw::connect(port);
        c.send(b"GET / HTTP/1.1\r\n\r\n");
        assert!(c.read_responses(1).ends_with("ok"));
    }
}

#[test]
fn require_host_refuses_http11_requests_without_one() {
    let (serve, origin, front) = (free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            "pipy()\n.listen({serve}).serveHTTP(new Message('ok'), {{ requireHost: true }})\n\
             .listen({origin}).serveHTTP(new Message('ok'))\n\
             .listen({front}).demuxHTTP({{ requireHost: true }}).to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{origin}')))\n"
        ),
        &[],
    );
    for port in [serve, front] {
        assert_eq!(answer_then_close(port, b"GET / HTTP/1.1\r\n\r\n"), status_only("400 Bad Request"));
        let mut c = Raw::connect(port);
        c.send(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert!(c.read_responses(1).ends_with("ok"));
    }
}
