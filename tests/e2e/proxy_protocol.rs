//! `acceptProxyProtocol` behind a (simulated) load balancer: a version 1 and a
//! version 2 header, sent over raw sockets in pieces, make `__inbound` say the
//! real client's address; a client that comes without a header is closed, and
//! the handler can turn a header down.

use crate::support::{free_port, Proxy, Raw};
use std::time::Duration;

fn front(port: u16) -> Proxy {
    Proxy::script(
        &format!(
            r#"
pipy()
.listen({port})
.acceptProxyProtocol(h => h.sourceAddress !== '198.51.100.66').to($=>$
  .serveHTTP(() => new Message(`${{__inbound.remoteAddress}}:${{__inbound.remotePort}} to ${{__inbound.localAddress}}:${{__inbound.localPort}}\n`))
)
"#
        ),
        &[],
    )
}

fn v2(src: [u8; 4], sport: u16, dst: [u8; 4], dport: u16) -> Vec<u8> {
    let mut h = b"\r\n\r\n\0\r\nQUIT\n\x21\x11\x00\x0c".to_vec();
    h.extend(src);
    h.extend(dst);
    h.extend(sport.to_be_bytes());
    h.extend(dport.to_be_bytes());
    h
}

#[test]
fn the_header_s_client_is_the_one_scripts_see_and_a_stream_without_one_is_closed() {
    let port = free_port();
    let p = front(port);
    let request = b"GET / HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let mut c = Raw::connect(port);
    // Version 1, in two pieces, the request right behind it.
    c.send(b"PROXY TCP4 203.0.113.5 10.0.0.1 ");
    let mut rest = b"5555 80\r\n".to_vec();
    rest.extend(request);
    c.send(&rest);
    let r = c.read_to_close();
    assert!(r.ends_with("203.0.113.5:5555 to 10.0.0.1:80\n"), "{r}");
    // Version 2, byte by byte.
    let mut bytes = v2([192, 0, 2, 44], 40000, [10, 9, 8, 7], 443);
    bytes.extend(request);
    let mut c = Raw::connect(port);
    for b in &bytes {
        c.send(&[*b]);
    }
    let r = c.read_to_close();
    assert!(r.ends_with("192.0.2.44:40000 to 10.9.8.7:443\n"), "{r}");
    // No header: closed without an answer, and said once in the log.
    let mut c = Raw::connect(port);
    c.send(request);
    assert_eq!(c.read_to_close(), "");
    assert!(p.log.wait_for("not a PROXY protocol header", Duration::from_secs(5)), "{}", p.log.text());
    // The handler turns this source down.
    let mut c = Raw::connect(port);
    let mut bytes = b"PROXY TCP4 198.51.100.66 10.0.0.1 1 80\r\n".to_vec();
    bytes.extend(request);
    c.send(&bytes);
    assert_eq!(c.read_to_close(), "");
}

#[test]
fn connect_proxy_protocol_says_whom_a_connection_is_from_to_the_next_hop() {
    let (fixed, made, back) = (free_port(), free_port(), free_port());
    let _p = Proxy::script(
        &format!(
            r#"
pipy()
.listen({back})
.acceptProxyProtocol(() => true).to($=>$
  .serveHTTP(() => new Message(`${{__inbound.remoteAddress}}:${{__inbound.remotePort}}\n`)))
.listen({fixed})
.connectProxyProtocol({{ version: 2, sourceAddress: '203.0.113.77', sourcePort: 9, targetAddress: '10.0.0.1', targetPort: 80 }})
.to($=>$.connect('127.0.0.1:{back}'))
.listen({made})
.connectProxyProtocol(() => ({{
  sourceAddress: __inbound.remoteAddress, sourcePort: __inbound.remotePort,
  targetAddress: __inbound.localAddress, targetPort: __inbound.localPort,
}}))
.to($=>$.connect('127.0.0.1:{back}'))
"#
        ),
        &[],
    );
    assert_eq!(crate::support::curl(&[&format!("http://127.0.0.1:{fixed}/")]), "203.0.113.77:9\n");
    let r = crate::support::curl(&[&format!("http://127.0.0.1:{made}/")]);
    assert!(r.starts_with("127.0.0.1:") && r.trim_end() != format!("127.0.0.1:{made}"), "the client's own port: {r}");
}
