//! HTTP tunnels: a forward proxy that takes `CONNECT` (curl `--proxytunnel`),
//! the client end that reaches an origin through it (`connectHTTPTunnel`), and
//! a WebSocket upgrade proxied by `demuxHTTP` / `muxHTTP`, which becomes raw
//! bytes both ways after the origin's `101`.

use crate::support::{curl, free_port, Proxy, Raw, RawOrigin};
use std::io::{Read, Write};
use std::process::Command;
use std::time::Duration;

/// A forward proxy on `front` that lets CONNECT reach `allowed` only, an
/// origin on `origin`, and a client end on `client` that reaches the origin
/// through the forward proxy.
fn forward_proxy(front: u16, origin: u16, client: u16, allowed: &str) -> Proxy {
    Proxy::script(
        &format!(
            r#"
pipy({{ _target: '' }})
.listen({front})
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(msg => (
    msg.head.method !== 'CONNECT' ? new Message({{ status: 405 }}, 'CONNECT only\n') :
    msg.head.path !== '{allowed}' ? new Message({{ status: 403 }}, 'not allowed\n') :
    void (_target = msg.head.path)
  )).to($=>$.connect(() => _target))
)
.listen({origin})
.serveHTTP(msg => new Message(`origin saw ${{msg.head.path}}\n`))
.listen({client})
.connectHTTPTunnel(new Message({{ method: 'CONNECT', path: '{allowed}' }}))
.to($=>$.muxHTTP().to($=>$.connect('127.0.0.1:{front}')))
"#
        ),
        &[],
    )
}

#[test]
fn connect_opens_a_tunnel_to_an_allowed_target_and_the_client_end_uses_it() {
    let (front, origin, client) = (free_port(), free_port(), free_port());
    let target = format!("127.0.0.1:{origin}");
    let _p = forward_proxy(front, origin, client, &target);
    let proxy = format!("http://127.0.0.1:{front}");
    // Through the tunnel, several requests on one connection.
    let url = format!("http://{target}/a");
    let out = curl(&["-p", "-x", &proxy, &url, &url, &url]);
    assert_eq!(out, "origin saw /a\n".repeat(3));
    // Not CONNECT: 405, and the connection goes on.
    let out = curl(&["-i", &format!("{proxy}/x")]);
    assert!(out.starts_with("HTTP/1.1 405 "), "{out}");
    assert!(out.ends_with("CONNECT only\n"), "{out}");
    // The client end: plain HTTP in, through the tunnel to the origin.
    let url = format!("http://127.0.0.1:{client}/via");
    assert_eq!(curl(&[&url, &url]), "origin saw /via\n".repeat(2));
}

#[test]
fn a_target_off_the_allow_list_or_not_host_port_is_refused_with_the_answer() {
    let (front, origin, client) = (free_port(), free_port(), free_port());
    let _p = forward_proxy(front, origin, client, &format!("127.0.0.1:{origin}"));
    let out = Command::new("curl")
        .args(["-s", "-v", "--max-time", "10", "-p", "-x"])
        .arg(format!("http://127.0.0.1:{front}"))
        .arg(format!("http://127.0.0.1:{}/", free_port()))
        .output()
        .unwrap();
    assert!(!out.status.success());
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(said.contains("403"), "{said}");
    // Not an authority: the decoder answers 400 before any script runs.
    let mut c = Raw::connect(front);
    c.send(b"CONNECT /etc/passwd HTTP/1.1\r\nhost: x\r\n\r\n");
    let answer = c.read_to_close();
    assert!(answer.starts_with("HTTP/1.1 400 "), "{answer}");
    // Bytes sent before the answer are held, then go through the tunnel.
    let mut c = Raw::connect(front);
    c.send(
        format!(
            "CONNECT 127.0.0.1:{origin} HTTP/1.1\r\n\r\nGET /early HTTP/1.1\r\nhost: o\r\nconnection: close\r\n\r\n"
        )
        .as_bytes(),
    );
    let answer = c.read_to_close();
    assert!(answer.starts_with("HTTP/1.1 200 OK\r\n\r\nHTTP/1.1 200 OK\r\n"), "{answer}");
    assert!(answer.ends_with("origin saw /early\n"), "{answer}");
}

#[test]
fn a_websocket_upgrade_through_the_reverse_proxy_is_raw_bytes_both_ways_after_101() {
    // The origin answers the upgrade, then echoes each read back.
    let origin = RawOrigin::start(|mut s, seen| {
        if !seen.wait_text(Duration::from_secs(5), |t| t.contains("\r\n\r\n")) {
            return;
        }
        // What came after the head before the answer (nothing, as a rule): counted
        // before answering, since the client's bytes may arrive as soon as it is out.
        let mut echoed = seen.text().split_once("\r\n\r\n").map_or(0, |(_, rest)| rest.len());
        let _ = s.write_all(b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n");
        loop {
            if !seen.wait_text(Duration::from_secs(5), |t| {
                t.split_once("\r\n\r\n").is_some_and(|(_, rest)| rest.len() > echoed)
                    || seen.closed.load(std::sync::atomic::Ordering::SeqCst)
            }) {
                return;
            }
            let text = seen.text();
            let rest = text.split_once("\r\n\r\n").map_or("", |(_, r)| r);
            if rest.len() <= echoed {
                let _ = s.shutdown(std::net::Shutdown::Both);
                return;
            }
            let _ = s.write_all(rest[echoed..].to_uppercase().as_bytes());
            echoed = rest.len();
        }
    });
    let front = free_port();
    let _p = Proxy::script(&format!("pipy(){}", crate::support::reverse_proxy(front, origin.port, "")), &[]);
    let mut c = Raw::connect(front);
    c.send(b"GET /chat HTTP/1.1\r\nhost: x\r\nupgrade: websocket\r\nconnection: Upgrade\r\nsec-websocket-key: dGhlIHNhbXBsZSBub25jZQ==\r\nsec-websocket-version: 13\r\n\r\n");
    let head = read_until(&mut c, |t| t.contains("\r\n\r\n"));
    assert!(head.starts_with("HTTP/1.1 101 Switching Protocols\r\n"), "{head}");
    assert!(head.to_ascii_lowercase().contains("upgrade: websocket"), "{head}");
    let sent = origin.conn(0).text().to_ascii_lowercase();
    assert!(sent.contains("upgrade: websocket") && sent.contains("connection: upgrade"), "{sent}");
    assert!(sent.contains("sec-websocket-key: dghlihnhbxbszsbub25jzq=="), "{sent}");
    c.send(b"hello");
    let echo = read_until(&mut c, |t| t.len() >= 5);
    assert_eq!(echo, "HELLO", "the origin saw {:?}; log:\n{}", origin.conn(0).text(), _p.log.text());
    c.send(b" again");
    assert_eq!(read_until(&mut c, |t| t.len() >= 6), " AGAIN");
    // The client's end reaches the origin, and the origin's end the client.
    c.0.shutdown(std::net::Shutdown::Write).unwrap();
    assert!(origin.conn(0).wait_closed(Duration::from_secs(5)), "the origin never saw the end");
    assert_eq!(c.read_to_close(), "");
}

/// Reads from `c` until `done` holds for what came (bounded by its read timeout).
fn read_until(c: &mut Raw, done: impl Fn(&str) -> bool) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while !done(&String::from_utf8_lossy(&got)) {
        match c.0.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn tunnels_over_http2_share_one_connection_to_the_proxy_and_a_refusal_is_an_answer() {
    let (front, origin, client) = (free_port(), free_port(), free_port());
    let target = format!("127.0.0.1:{origin}");
    let p = Proxy::script(
        &format!(
            r#"
pipy({{ _target: '' }})
.listen({front})
.handleStreamStart(() => console.log('front connection'))
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(msg => (
    msg.head.path !== '{target}' ? new Message({{ status: 403 }}, 'not allowed\n') :
    void (_target = msg.head.path)
  )).to($=>$.connect(() => _target))
)
.listen({origin})
.serveHTTP(msg => new Message(`origin saw ${{msg.head.path}}\n`))
.listen({client})
.connectHTTPTunnel('{target}')
.to($=>$.muxHTTP(() => 'one', {{ version: 2 }}).to($=>$.connect('127.0.0.1:{front}')))
"#
        ),
        &[],
    );
    // Three clients at once, each its own tunnel: streams of one HTTP/2 connection.
    let clients: Vec<_> = (0..3)
        .map(|i| {
            let url = format!("http://127.0.0.1:{client}/c{i}");
            std::thread::spawn(move || curl(&[&url, &url]))
        })
        .collect();
    for (i, c) in clients.into_iter().enumerate() {
        assert_eq!(c.join().unwrap(), format!("origin saw /c{i}\n").repeat(2));
    }
    assert_eq!(p.log.text().matches("front connection").count(), 1, "{}", p.log.text());
    // An HTTP/2 client's own CONNECT: the tunnel is the stream's DATA both ways;
    // a target off the list is answered 403 on its stream.
    let out = crate::http2::python(&format!(
        r#"
s, c = conn({front}, validate=False)
c.send_headers(1, [(":method", "CONNECT"), (":authority", "{target}")])
c.send_data(1, b"GET /h2 HTTP/1.1\r\nhost: o\r\nconnection: close\r\n\r\n")
c.send_headers(3, [(":method", "CONNECT"), (":authority", "127.0.0.1:1")])
s.sendall(c.data_to_send())
ended = set()
seen = events(s, c, lambda evs: len([e for e in evs if isinstance(e, h2.events.StreamEnded)]) >= 2)
for sid in (1, 3):
    status = [dict(e.headers)[b":status"].decode() for e in seen if isinstance(e, h2.events.ResponseReceived) and e.stream_id == sid]
    body = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived) and e.stream_id == sid)
    print(sid, status, body.decode().split("\r\n")[0].strip(), body.decode().split("\r\n")[-1].strip())
"#
    ));
    assert!(out.contains("1 ['200'] HTTP/1.1 200 OK origin saw /h2"), "{out}");
    assert!(out.contains("3 ['403'] not allowed not allowed"), "{out}");
}

#[test]
fn an_http2_tunnel_whose_upstream_fails_is_reset_with_connect_error_not_ended() {
    let front = free_port();
    let _p = Proxy::script(
        &format!(
            r#"
pipy({{ _target: '' }})
.listen({front})
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(msg => void (_target = msg.head.path)).to($=>$.connect(() => _target))
)
"#
        ),
        &[],
    );
    // The upstream takes the connection, sends a little, and resets it.
    let out = crate::http2::python(&format!(
        r#"
import threading
l = socket.socket(); l.bind(("127.0.0.1", 0)); l.listen(1)
got_partial = threading.Event()
def upstream():
    c, _ = l.accept()
    c.sendall(b"partial")
    c.recv(100)
    # Reset only once the client has the bytes (a reset discards unread ones).
    got_partial.wait(10)
    c.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    c.close()
threading.Thread(target=upstream, daemon=True).start()
s, c = conn({front}, validate=False)
c.send_headers(1, [(":method", "CONNECT"), (":authority", "127.0.0.1:%d" % l.getsockname()[1])])
c.send_data(1, b"hello")
s.sendall(c.data_to_send())
seen = events(s, c, lambda evs: any(isinstance(e, h2.events.DataReceived) for e in evs))
got_partial.set()
seen += events(s, c, lambda evs: any(isinstance(e, (h2.events.StreamReset, h2.events.StreamEnded)) for e in evs))
body = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived))
ends = [("reset %d" % e.error_code) if isinstance(e, h2.events.StreamReset) else "ended" for e in seen
        if isinstance(e, (h2.events.StreamReset, h2.events.StreamEnded))]
print(body.decode(), ends)
"#
    ));
    assert_eq!(out.trim(), "partial ['reset 10']", "CONNECT_ERROR is 0xa");
}

#[test]
fn a_websocket_over_http2_extended_connect_reaches_an_http1_websocket_origin() {
    let (front, origin) = (free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            r#"
pipy()
.listen({origin})
.demuxHTTP().to($=>$
  .acceptHTTPTunnel(msg => msg.head.path === '/plain' ? new Message('no upgrade here\n') : new Message({{ status: 101 }})).to($=>$
    .decodeWebSocket({{ requireMask: true }})
    .replaceMessage(msg => new Message({{ opcode: msg.head.opcode }}, msg.body.toString().toUpperCase()))
    .encodeWebSocket()
  )
)
{}
"#,
            crate::support::reverse_proxy(front, origin, "")
        ),
        &[],
    );
    // RFC 8441: the front offers extended CONNECT; the client's stream becomes
    // an HTTP/1 upgrade to the origin, whose 101 comes back as 200, and the
    // stream's DATA carries the frames both ways.
    let out = crate::http2::python(&format!(
        r#"
s, c = conn({front}, validate=False)
seen = events(s, c, lambda evs: any(isinstance(e, h2.events.RemoteSettingsChanged) for e in evs))
offered = [e.changed_settings.get(8) for e in seen if isinstance(e, h2.events.RemoteSettingsChanged)]
c.send_headers(1, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/chat"),
                   (":authority", "x"), ("sec-websocket-version", "13")])
key = b"\x01\x02\x03\x04"
c.send_data(1, bytes([0x81, 0x80 | 5]) + key + bytes(b ^ key[i % 4] for i, b in enumerate(b"hello")))
s.sendall(c.data_to_send())
seen = events(s, c, lambda evs: sum(len(e.data) for e in evs if isinstance(e, h2.events.DataReceived)) >= 7)
status = [dict(e.headers)[b":status"].decode() for e in seen if isinstance(e, h2.events.ResponseReceived)]
body = b"".join(e.data for e in seen if isinstance(e, h2.events.DataReceived))
print(offered[0].new_value if offered and offered[0] else None, status, body[2:].decode())
# An upstream that does not switch protocols: a 502, not a tunnel that seems open.
c.send_headers(3, [(":method", "CONNECT"), (":protocol", "websocket"), (":scheme", "http"), (":path", "/plain"),
                   (":authority", "x"), ("sec-websocket-version", "13")])
s.sendall(c.data_to_send())
seen = events(s, c, lambda evs: any(isinstance(e, h2.events.ResponseReceived) for e in evs))
print([dict(e.headers)[b":status"].decode() for e in seen if isinstance(e, h2.events.ResponseReceived)])
"#
    ));
    assert_eq!(out.trim(), "1 ['200'] HELLO\n['502']", "{out}");
}
