//! Serving HTTP with `serveHTTP`: exact bytes, keep-alive, pipelining, HTTP/1.0,
//! chunked bodies, context variables and `__inbound`.

use crate::support::{curl, free_port, Proxy, Raw};
use std::io::Write;

#[test]
fn fixed_message_has_pipys_exact_response_head() {
    let port = free_port();
    let _p = Proxy::script(&format!("pipy().listen({port}).serveHTTP(new Message('Hi, there!\\n'))"), &[]);
    let out = curl(&["-i", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: keep-alive\r\n\r\nHi, there!\n");
}

#[test]
fn callback_sees_request_and_keeps_per_connection_variables() {
    let port = free_port();
    let script = format!(
        "pipy({{ _n: 0 }})\n.listen({port})\n.serveHTTP(msg => new Message({{ status: 201, headers: {{ 'x-path': msg.head.path }} }}, `#${{++_n}} ${{msg.body.size}}\\n`))"
    );
    let _p = Proxy::script(&script, &[]);
    let url = format!("http://127.0.0.1:{port}/a/b?c=d");
    let out = curl(&["-i", "-d", "hello", &url]);
    assert_eq!(
        out,
        "HTTP/1.1 201 Created\r\nx-path: /a/b?c=d\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\n#1 5\n"
    );
    // One connection, two requests: the counter goes on; a new connection starts again.
    assert_eq!(curl(&[&url, &url]), "#1 0\n#2 0\n");
    assert_eq!(curl(&[&url]), "#1 0\n");
}

#[test]
fn pipelined_requests_are_answered_in_order_on_one_connection() {
    let port = free_port();
    let _p = Proxy::script(&format!("pipy().listen({port}).serveHTTP(msg => new Message(msg.head.path))"), &[]);
    let mut c = Raw::connect(port);
    let mut reqs = String::new();
    for i in 0..50 {
        reqs.push_str(&format!("GET /{i} HTTP/1.1\r\nhost: x\r\n\r\n"));
    }
    c.send(reqs.as_bytes());
    let out = c.read_responses(50);
    let bodies: Vec<String> =
        out.split("\r\n\r\n").skip(1).map(|s| s.split("HTTP/1.1").next().unwrap().to_string()).collect();
    let want: Vec<String> = (0..50).map(|i| format!("/{i}")).collect();
    assert_eq!(bodies, want);
}

#[test]
fn http10_and_connection_close_get_answered_then_closed() {
    let port = free_port();
    let _p = Proxy::script(&format!("pipy().listen({port}).serveHTTP(new Message('x'))"), &[]);
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.0\r\n\r\n");
    assert_eq!(c.read_to_close(), "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx");
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.1\r\nhost: x\r\nConnection: close\r\n\r\nGET /ignored HTTP/1.1\r\nhost: x\r\n\r\n");
    assert_eq!(c.read_to_close(), "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: close\r\n\r\nx");
    let mut c = Raw::connect(port);
    c.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
    assert_eq!(c.read_responses(1), "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\nx");
}

#[test]
fn chunked_and_split_request_bodies_arrive_whole() {
    let port = free_port();
    let _p = Proxy::script(
        &format!("pipy().listen({port}).serveHTTP(msg => new Message(msg.body.size + ':' + msg.body.toString()))"),
        &[],
    );
    let mut c = Raw::connect(port);
    let req =
        b"POST /u HTTP/1.1\r\nhost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n";
    for b in req.chunks(3) {
        c.send(b);
        c.0.flush().unwrap();
    }
    assert_eq!(
        c.read_responses(1),
        "HTTP/1.1 200 OK\r\ncontent-length: 14\r\nconnection: keep-alive\r\n\r\n11:hello world"
    );
    // A 1 MiB body through curl (which sends `Expect: 100-continue`).
    let body = "z".repeat(1 << 20);
    let dir = crate::support::TempDir::new();
    let f = dir.0.join("body");
    std::fs::write(&f, &body).unwrap();
    let out = curl(&["--data-binary", &format!("@{}", f.display()), &format!("http://127.0.0.1:{port}/")]);
    assert!(out.starts_with("1048576:zzz"), "{}", &out[..out.len().min(40)]);
}

#[test]
fn head_requests_get_no_body_and_inbound_is_visible() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(() => new Message(`${{__inbound.remoteAddress}} ${{__inbound.localPort}}`))"
        ),
        &[],
    );
    let out = curl(&["-I", &format!("http://127.0.0.1:{port}/")]);
    assert_eq!(
        out,
        format!(
            "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: keep-alive\r\n\r\n",
            format!("127.0.0.1 {port}").len()
        )
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), format!("127.0.0.1 {port}"));
}

#[test]
fn a_port_given_by_number_takes_ipv6_and_ipv4_clients_and_names_each_as_it_is() {
    let port = free_port();
    let _p = Proxy::script(
        &format!(
            "pipy().listen({port}).serveHTTP(() => new Message(`${{__inbound.remoteAddress}} ${{__inbound.localAddress}}`))"
        ),
        &[],
    );
    assert_eq!(curl(&[&format!("http://127.0.0.1:{port}/")]), "127.0.0.1 127.0.0.1");
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        assert_eq!(curl(&["-g", &format!("http://[::1]:{port}/")]), "::1 ::1");
    } else {
        // No IPv6 here: the port fell back to IPv4, which the answer above shows.
        assert!(std::net::TcpStream::connect(("::1", port)).is_err());
    }
}
