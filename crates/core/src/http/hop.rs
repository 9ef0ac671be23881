//! Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection, so a
//! proxy removes them from what it forwards. These are `Connection`, the fields
//! `Connection` names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding`
//! and `Upgrade`.

use crate::head::Headers;

/// True for the hop-by-hop fields every message may carry (names are lowercase;
/// told apart by length first, since this runs for every field of every message).
fn always_hop(name: &str) -> bool {
    match name.len() {
        2 => name == "te",
        7 => name == "upgrade",
        10 => name == "connection" || name == "keep-alive",
        16 => name == "proxy-connection",
        17 => name == "transfer-encoding",
        _ => false,
    }
}

/// Fields `Connection` may name but which are never removed for it: the message's
/// framing and target depend on them, and a client naming them is attacking.
const KEPT: &[&str] = &["content-length", "host"];

/// Removes the hop-by-hop fields from `headers`. It runs for every proxied message,
/// so the usual case (a `connection: keep-alive` and nothing it names) allocates
/// nothing and looks at each field once.
pub fn remove(headers: &mut Headers) {
    let mut found = false;
    let mut named: Vec<String> = Vec::new();
    for (name, value) in headers.iter() {
        if always_hop(name) {
            found = true;
        }
        if name == "connection" {
            for token in value.split(',').map(str::trim) {
                let ordinary = token.is_empty()
                    || token.eq_ignore_ascii_case("close")
                    || token.eq_ignore_ascii_case("keep-alive")
                    || KEPT.iter().any(|k| token.eq_ignore_ascii_case(k));
                if !ordinary {
                    named.push(token.to_ascii_lowercase());
                }
            }
        }
    }
    if !found {
        return;
    }
    headers.retain(|n, _| !always_hop(n) && !named.iter().any(|x| x == n));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_and_the_fields_it_names_go_end_to_end_fields_stay() {
        let mut h = Headers::new();
        for (n, v) in [
            ("host", "a"),
            ("connection", "close, X-Secret"),
            ("x-secret", "1"),
            ("keep-alive", "timeout=5"),
            ("te", "trailers"),
            ("proxy-connection", "keep-alive"),
            ("upgrade", "websocket"),
            ("transfer-encoding", "chunked"),
            ("content-length", "3"),
            ("x-other", "2"),
        ] {
            h.append(n, v);
        }
        remove(&mut h);
        let left: Vec<_> = h.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(left, vec!["host", "content-length", "x-other"]);
    }

    #[test]
    fn connection_cannot_remove_the_length_or_the_host() {
        let mut h = Headers::new();
        for (n, v) in [("host", "a"), ("connection", "content-length, host"), ("content-length", "9")] {
            h.append(n, v);
        }
        remove(&mut h);
        let left: Vec<_> = h.iter().map(|(n, _)| n.to_string()).collect();
        assert_eq!(left, vec!["host", "content-length"]);
    }
}
