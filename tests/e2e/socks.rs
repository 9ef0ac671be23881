//! SOCKS: curl through `acceptSOCKS` with versions 4, 4a and 5 (an allow-list
//! in the handler), bad requests over raw sockets answered with the
//! protocol's own refusal, and `connectSOCKS` reaching an origin through it.

use crate::support::{curl, free_port, Proxy, Raw};
use std::process::Command;

/// A SOCKS server on `front` that grants `localhost`, 127.0.0.1 and ::1 on
/// `origin` only, the origin, and a client end on `client` through the server.
fn socks_proxy(front: u16, origin: u16, client: u16) -> Proxy {
    Proxy::script(
        &format!(
            r#"
pipy({{ _target: '' }})
.listen({front})
.acceptSOCKS(({{ version, ip, domain, port }}) => (
  _target = `${{domain || ip}}:${{port}}`,
  port === {origin} && (domain === 'localhost' || ip === '127.0.0.1' || ip === '::1')
)).to($=>$.connect(() => _target))
.listen({origin})
.serveHTTP(msg => new Message(`origin saw ${{msg.head.path}}\n`))
.listen({client})
.connectSOCKS('localhost:{origin}').to($=>$.connect('127.0.0.1:{front}'))
"#
        ),
        &[],
    )
}

#[test]
fn curl_reaches_an_allowed_origin_over_socks4_4a_and_5_and_the_client_end_uses_it() {
    let (front, origin, client) = (free_port(), free_port(), free_port());
    let _p = socks_proxy(front, origin, client);
    for scheme in ["socks4", "socks4a", "socks5", "socks5h"] {
        let proxy = format!("{scheme}://127.0.0.1:{front}");
        let url = format!("http://localhost:{origin}/{scheme}");
        assert_eq!(curl(&["--proxy", &proxy, &url, &url]), format!("origin saw /{scheme}\n").repeat(2), "{scheme}");
    }
    let url = format!("http://127.0.0.1:{client}/via");
    assert_eq!(curl(&[&url, &url]), "origin saw /via\n".repeat(2));
    // An IPv6 address in a SOCKS 5 request (what curl sends for `localhost` when
    // it resolves to ::1 first) reaches the origin listening on a port number.
    if std::net::TcpListener::bind("[::1]:0").is_ok() {
        let (proxy, url) = (format!("socks5://127.0.0.1:{front}"), format!("http://[::1]:{origin}/v6"));
        assert_eq!(curl(&["-g", "--proxy", &proxy, &url]), "origin saw /v6\n");
    }
}

#[test]
fn refused_and_bad_requests_get_the_protocol_s_refusal_and_are_closed() {
    let (front, origin, client) = (free_port(), free_port(), free_port());
    let _p = socks_proxy(front, origin, client);
    // Off the allow-list: curl hears the refusal.
    let out = Command::new("curl")
        .args(["-s", "--max-time", "10", "--proxy"])
        .arg(format!("socks5h://127.0.0.1:{front}"))
        .arg(format!("http://localhost:{}/", free_port()))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(97), "curl's 'proxy handshake error'");
    let cases: &[(&[u8], &[u8])] = &[
        // Not SOCKS: closed without an answer.
        (b"GET / HTTP/1.1\r\n\r\n", b""),
        // SOCKS4 BIND: refused.
        (b"\x04\x02\x00\x50\x7f\x00\x00\x01\0", &[0, 0x5b, 0, 0, 0, 0, 0, 0]),
        // SOCKS5 wanting a password only: no acceptable method.
        (b"\x05\x01\x02", &[5, 0xff]),
        // SOCKS5 UDP ASSOCIATE: command not supported.
        (b"\x05\x01\x00\x05\x03\x00\x01\x7f\x00\x00\x01\x00\x50", &[5, 0, 5, 7, 0, 1, 0, 0, 0, 0, 0, 0]),
        // An address type that does not exist.
        (b"\x05\x01\x00\x05\x01\x00\x07", &[5, 0, 5, 8, 0, 1, 0, 0, 0, 0, 0, 0]),
    ];
    for (input, want) in cases {
        let mut c = Raw::connect(front);
        c.send(input);
        let mut got = Vec::new();
        let _ = std::io::Read::read_to_end(&mut c.0, &mut got);
        assert_eq!(&got[..], *want, "{input:?}");
    }
    // Nothing else was affected: the next client is served.
    let proxy = format!("socks5h://127.0.0.1:{front}");
    assert_eq!(curl(&["--proxy", &proxy, &format!("http://localhost:{origin}/after")]), "origin saw /after\n");
}
