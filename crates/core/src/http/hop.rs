//! Hop-by-hop header fields (RFC 9110 §7.6.1): they describe one connection, so a
//! proxy removes them from what it forwards. These are `Connection`, the fields
//! `Connection` names, `Keep-Alive`, `Proxy-Connection`, `TE`, `Transfer-Encoding`
//! and `Upgrade`.

use crate::head::Headers;

/// The hop-by-hop fields every message may carry.
const ALWAYS: &[&str] = &["connection", "keep-alive", "proxy-connection", "te", "transfer-encoding", "upgrade"];

/// Fields `Connection` may name but which are never removed for it: the message's
/// framing and target depend on them, and a client naming them is attacking.
const KEPT: &[&str] = &["content-length", "host"];

/// Removes the hop-by-hop fields from `headers`.
pub fn remove(headers: &mut Headers) {
    let named: Vec<String> = headers
        .get_all("connection")
        .flat_map(|v| v.split(','))
        .map(|n| n.trim().to_ascii_lowercase())
        .filter(|n| !n.is_empty() && n != "close" && n != "keep-alive" && !KEPT.contains(&n.as_str()))
        .collect();
    if !headers.iter().any(|(n, _)| ALWAYS.contains(&n) || named.iter().any(|x| x == n)) {
        return;
    }
    headers.retain(|n, _| !ALWAYS.contains(&n) && !named.iter().any(|x| x == n));
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
