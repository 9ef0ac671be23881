//! UDP: a port with `protocol: 'udp'` really binds a UDP socket, runs a
//! pipeline per peer (one Data event per datagram, one datagram per Data
//! event back), ends a quiet peer's stream after `idleTimeout`, and bounds
//! peers and datagram sizes; `connect` with `protocol: 'udp'` talks to it.

use crate::support::{binary, curl, free_port, Proxy, TempDir};
use std::net::UdpSocket;
use std::process::Command;
use std::time::Duration;

fn client() -> UdpSocket {
    let s = UdpSocket::bind("127.0.0.1:0").unwrap();
    s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    s
}

/// Sends `text` to `port` and returns the answer datagram, if one comes.
fn ask(s: &UdpSocket, port: u16, text: &str) -> Option<String> {
    s.send_to(text.as_bytes(), ("127.0.0.1", port)).unwrap();
    let mut buf = [0u8; 70000];
    let n = s.recv(&mut buf).ok()?;
    Some(String::from_utf8_lossy(&buf[..n]).into_owned())
}

#[test]
fn each_peer_gets_its_own_pipeline_and_each_datagram_its_own_answer() {
    let (port, front) = (free_port(), free_port());
    let p = Proxy::script(
        &format!(
            r#"
pipy({{ _n: 0 }})
.listen({port}, {{ protocol: 'udp', idleTimeout: 1, maxDatagramSize: 1000 }})
.handleStreamEnd(e => console.log(`peer ${{__inbound.remotePort}} ended: ${{e.error}}`))
.replaceData(d => new Data(`#${{++_n}} from ${{__inbound.remotePort}}: ${{d.toString()}}`))
.listen({front})
.demuxHTTP().to($=>$
  .replaceMessage(msg => new Data(msg.head.path))
  .connect('127.0.0.1:{port}', {{ protocol: 'udp' }})
  .replaceData(d => new Message(d.toString() + '\n'))
)
"#
        ),
        &[],
    );
    // A UDP socket is bound on the port, and no TCP one.
    assert!(UdpSocket::bind(("0.0.0.0", port)).is_err(), "nothing bound UDP port {port}");
    assert!(std::net::TcpStream::connect(("127.0.0.1", port)).is_err());
    let (a, b) = (client(), client());
    let (pa, pb) = (a.local_addr().unwrap().port(), b.local_addr().unwrap().port());
    // Boundaries are kept: two datagrams, two answers, counted per peer.
    assert_eq!(ask(&a, port, "x").as_deref(), Some(format!("#1 from {pa}: x").as_str()));
    assert_eq!(ask(&a, port, "yy").as_deref(), Some(format!("#2 from {pa}: yy").as_str()));
    assert_eq!(ask(&b, port, "z").as_deref(), Some(format!("#1 from {pb}: z").as_str()));
    // Too long for maxDatagramSize: dropped, and said.
    assert_eq!(ask(&b, port, &"w".repeat(2000)), None);
    assert!(p.log.wait_for("datagrams over maxDatagramSize dropped", Duration::from_secs(5)), "{}", p.log.text());
    // A quiet peer's stream ends; its next datagram starts a new one.
    assert!(p.log.wait_for(&format!("peer {pa} ended: IdleTimeout"), Duration::from_secs(5)), "{}", p.log.text());
    assert_eq!(ask(&a, port, "again").as_deref(), Some(format!("#1 from {pa}: again").as_str()));
    // connect over UDP, from an HTTP front.
    assert!(curl(&[&format!("http://127.0.0.1:{front}/hi")]).ends_with(": /hi\n"));
}

#[test]
fn peers_past_max_connections_are_dropped_not_served() {
    let port = free_port();
    let p = Proxy::script(
        &format!("pipy()\n.listen({port}, {{ protocol: 'udp', maxConnections: 2 }})\n.replaceData(d => d)\n"),
        &[],
    );
    let peers: Vec<_> = (0..3).map(|_| client()).collect();
    assert_eq!(ask(&peers[0], port, "1").as_deref(), Some("1"));
    assert_eq!(ask(&peers[1], port, "2").as_deref(), Some("2"));
    peers[2].set_read_timeout(Some(Duration::from_millis(500))).unwrap();
    assert_eq!(ask(&peers[2], port, "3"), None);
    assert!(p.log.wait_for("past maxConnections dropped", Duration::from_secs(5)), "{}", p.log.text());
    // The two served go on being served.
    assert_eq!(ask(&peers[0], port, "4").as_deref(), Some("4"));
}

#[test]
fn an_unknown_protocol_is_a_load_error_naming_the_option() {
    let dir = TempDir::new();
    let path = dir.0.join("main.js");
    std::fs::write(&path, "pipy()\n.listen(8099, { protocol: 'sctp' })\n.dummy()\n").unwrap();
    let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("protocol") && err.contains("sctp"), "{err}");
    std::fs::write(&path, "pipy()\n.listen(8099)\n.connect('a:1', { protocol: 'quic' })\n").unwrap();
    let out = Command::new(binary()).arg("--check").arg(&path).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("quic"));
}
