//! What turns an HTTP exchange into a tunnel: a `CONNECT` answered 2xx, or a
//! request asking to switch protocols (`Upgrade: websocket`) answered `101`.
//! From then on the connection carries raw bytes both ways, as the request's
//! and the answer's Data after their MessageEnd, until either side ends.

use crate::head::{Headers, RequestHead};

/// The tunnel a request asks for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Tunnel {
    /// None: an ordinary request.
    #[default]
    No,
    /// `CONNECT host:port`: a 2xx answer opens it.
    Connect,
    /// `Upgrade: <protocol>` with `Connection: upgrade`: a `101` answer opens it.
    Upgrade,
}

impl Tunnel {
    /// What `request` asks for. `Upgrade: h2c` is not a tunnel (an HTTP/2
    /// upgrade is not taken; the request is answered over HTTP/1.1).
    pub fn asked_by(request: &RequestHead) -> Tunnel {
        if request.method == "CONNECT" {
            return Tunnel::Connect;
        }
        if asks_upgrade(&request.headers) {
            Tunnel::Upgrade
        } else {
            Tunnel::No
        }
    }

    /// True if an answer with `status` opens the tunnel asked for.
    pub fn opened_by(self, status: u16) -> bool {
        match self {
            Tunnel::No => false,
            Tunnel::Connect => (200..300).contains(&status),
            Tunnel::Upgrade => status == 101,
        }
    }

    /// True for a tunnel of either kind.
    pub fn is_asked(self) -> bool {
        self != Tunnel::No
    }
}

/// True if `target` is what a `CONNECT` must name (RFC 9112 §3.2.3): a host
/// (a name, an IPv4 address, or an IPv6 one in brackets), a colon, a port.
pub fn authority_form(target: &str) -> bool {
    let Some((host, port)) = target.rsplit_once(':') else { return false };
    let port_ok = !port.is_empty()
        && port.len() <= 5
        && port.bytes().all(|b| b.is_ascii_digit())
        && port.parse::<u32>().is_ok_and(|p| p > 0 && p <= 65535);
    let host_ok = match host.strip_prefix('[').and_then(|h| h.strip_suffix(']')) {
        Some(v6) => v6.parse::<std::net::Ipv6Addr>().is_ok(),
        None => {
            !host.is_empty()
                && host.len() <= 253
                && host.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.' || b == b'_')
        }
    };
    port_ok && host_ok
}

/// True if `headers` ask to switch to a protocol other than `h2c`.
fn asks_upgrade(headers: &Headers) -> bool {
    let Some(upgrade) = headers.get("upgrade") else { return false };
    if upgrade.trim().is_empty() || upgrade.trim().eq_ignore_ascii_case("h2c") {
        return false;
    }
    headers.get_all("connection").any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")))
}

/// Readies the headers of a request that asks for an upgrade to go to the next
/// hop: the other hop-by-hop fields go, `Upgrade` stays, and `Connection` says
/// `upgrade` only.
pub fn forward_upgrade(headers: &mut Headers) {
    let upgrade = headers.get("upgrade").map(|v| v.to_string());
    crate::http::hop::remove(headers);
    if let Some(upgrade) = upgrade {
        headers.set("upgrade", upgrade);
        headers.set("connection", "upgrade");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: &str, headers: &[(&str, &str)]) -> RequestHead {
        let mut r = RequestHead { method: method.to_string().into(), ..RequestHead::default() };
        for (n, v) in headers {
            r.headers.append(n, v.to_string());
        }
        r
    }

    #[test]
    fn connect_and_upgrade_ask_for_tunnels_h2c_and_a_bare_upgrade_do_not() {
        assert_eq!(Tunnel::asked_by(&request("CONNECT", &[])), Tunnel::Connect);
        let ws = request("GET", &[("upgrade", "websocket"), ("connection", "keep-alive, Upgrade")]);
        assert_eq!(Tunnel::asked_by(&ws), Tunnel::Upgrade);
        assert_eq!(Tunnel::asked_by(&request("GET", &[("upgrade", "websocket")])), Tunnel::No);
        let h2c = request("GET", &[("upgrade", "h2c"), ("connection", "upgrade")]);
        assert_eq!(Tunnel::asked_by(&h2c), Tunnel::No);
        assert_eq!(Tunnel::asked_by(&request("GET", &[])), Tunnel::No);
    }

    #[test]
    fn a_connect_target_is_host_colon_port_and_nothing_else() {
        for ok in ["db:5432", "10.0.0.1:443", "[::1]:8080", "a-b.example_x.com:1"] {
            assert!(authority_form(ok), "{ok}");
        }
        for bad in [
            "",
            "db",
            "db:",
            ":80",
            "db:0",
            "db:65536",
            "db:8o",
            "http://db:80",
            "db:80/x",
            "[::1:80",
            "[zz]:80",
            "a b:80",
            "db:+80",
        ] {
            assert!(!authority_form(bad), "{bad}");
        }
    }

    #[test]
    fn connect_opens_on_2xx_and_upgrade_on_101_only() {
        assert!(Tunnel::Connect.opened_by(200) && Tunnel::Connect.opened_by(299));
        assert!(!Tunnel::Connect.opened_by(101) && !Tunnel::Connect.opened_by(407));
        assert!(Tunnel::Upgrade.opened_by(101) && !Tunnel::Upgrade.opened_by(200));
        assert!(!Tunnel::No.opened_by(200));
    }

    #[test]
    fn an_upgrade_request_keeps_upgrade_and_says_connection_upgrade_only() {
        let mut r = request("GET", &[("upgrade", "websocket"), ("connection", "Upgrade, x-a"), ("x-a", "1")]);
        forward_upgrade(&mut r.headers);
        let left: Vec<_> = r.headers.iter().map(|(n, v)| format!("{n}: {v}")).collect();
        assert_eq!(left, vec!["upgrade: websocket", "connection: upgrade"]);
    }
}
