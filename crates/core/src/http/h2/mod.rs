//! HTTP/2, on the `h2` crate: `server::Session` serves a client connection to
//! `serveHTTP` / `demuxHTTP` through the same `ServerSession` interface as
//! HTTP/1, `client::Session` carries `muxHTTP` requests upstream. `h2` owns the
//! frames, HPACK, flow control and the stream states; what is here is the glue
//! to the push model of filters (`io`), a guard against control-frame floods
//! that `h2` answers but does not bound (`guard`), and the translation of heads
//! between HTTP/2's pseudo-headers and the heads scripts see.
//!
//! A request from HTTP/2 looks like one from HTTP/1 to a script: `method`,
//! `path`, `protocol` (`HTTP/2`), `headers` (with `host` from `:authority` when
//! the client sent none), and besides `scheme` and `authority`. Trailers are the
//! `headers` of the message's tail.

pub mod client;
pub mod guard;
pub mod io;
pub mod server;

use crate::head::{Headers, RequestHead, ResponseHead, Text};
use crate::http::hop;
use bytes::Bytes;
use h2::SendStream;
use http::header::{HeaderMap, HeaderName, HeaderValue};
use std::collections::VecDeque;
use std::task::{Context, Poll};

/// The client connection preface (RFC 9113 §3.4): how an HTTP/2 client with
/// prior knowledge, or after ALPN `h2`, starts.
pub const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// The `protocol` of heads that came over HTTP/2.
pub const PROTOCOL: &str = "HTTP/2";

/// The HTTP/2 settings of a connection, from its filter's options.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Streams the peer may open at once (`SETTINGS_MAX_CONCURRENT_STREAMS`).
    pub max_concurrent_streams: u32,
    /// Each stream's receive window (`SETTINGS_INITIAL_WINDOW_SIZE`).
    pub stream_window: u32,
    /// The connection's receive window.
    pub connection_window: u32,
    /// Largest frame payload the peer may send (`SETTINGS_MAX_FRAME_SIZE`).
    pub max_frame_size: u32,
    /// Largest decoded header list (`SETTINGS_MAX_HEADER_LIST_SIZE`).
    pub max_header_list_size: u32,
}

/// Default streams a client may open at once (nginx's `http2_max_concurrent_streams`).
pub const DEFAULT_MAX_CONCURRENT_STREAMS: u32 = 128;
/// Default receive window of a stream.
pub const DEFAULT_STREAM_WINDOW: u32 = 256 << 10;
/// Default receive window of a connection.
pub const DEFAULT_CONNECTION_WINDOW: u32 = 1 << 20;
/// Default largest frame payload (the protocol's minimum).
pub const DEFAULT_MAX_FRAME_SIZE: u32 = 16 << 10;

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_concurrent_streams: DEFAULT_MAX_CONCURRENT_STREAMS,
            stream_window: DEFAULT_STREAM_WINDOW,
            connection_window: DEFAULT_CONNECTION_WINDOW,
            max_frame_size: DEFAULT_MAX_FRAME_SIZE,
            max_header_list_size: crate::http::DEFAULT_MAX_HEADER_SIZE as u32,
        }
    }
}

impl Settings {
    /// Clamps what a script gave to what the protocol allows (RFC 9113 §6.5.2).
    pub fn clamped(mut self) -> Self {
        self.max_concurrent_streams = self.max_concurrent_streams.max(1);
        self.stream_window = self.stream_window.clamp(1, (1 << 31) - 1);
        self.connection_window = self.connection_window.clamp(65_535, (1 << 31) - 1);
        self.max_frame_size = self.max_frame_size.clamp(16 << 10, (1 << 24) - 1);
        self.max_header_list_size = self.max_header_list_size.max(1024);
        self
    }
}

/// Text of a header value; HTTP/2 values are bytes, scripts see strings.
fn text_of(v: &HeaderValue) -> Text {
    match Text::from_utf8(Bytes::copy_from_slice(v.as_bytes())) {
        Some(t) => t,
        None => String::from_utf8_lossy(v.as_bytes()).into_owned().into(),
    }
}

/// The fields of a header map as a head's headers; `cookie` fields, which
/// HTTP/2 sends one per crumb, are joined with `; ` (RFC 9113 §8.2.3).
pub fn headers_from_h2(map: &HeaderMap) -> Headers {
    let mut headers = Headers::with_capacity(map.len());
    let mut cookies: Option<String> = None;
    for (name, value) in map {
        if name == http::header::COOKIE {
            let c = cookies.get_or_insert_with(String::new);
            if !c.is_empty() {
                c.push_str("; ");
            }
            c.push_str(&String::from_utf8_lossy(value.as_bytes()));
            continue;
        }
        headers.append_lowercase(Text::from(name.as_str().to_string()), text_of(value));
    }
    if let Some(c) = cookies {
        headers.append_lowercase(Text::from_static("cookie"), c.into());
    }
    headers
}

/// A head's headers as an HTTP/2 header map: hop-by-hop fields and `host`
/// (which becomes `:authority`) are left out, `te` only as `trailers`; fields
/// HTTP/2 cannot carry are dropped with a debug line.
pub fn headers_to_h2(headers: &Headers) -> HeaderMap {
    let mut map = HeaderMap::with_capacity(headers.len());
    let mut kept = headers.clone();
    let te_trailers =
        headers.get("te").is_some_and(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("trailers")));
    hop::remove(&mut kept);
    if te_trailers {
        map.insert(http::header::TE, HeaderValue::from_static("trailers"));
    }
    for (name, value) in kept.iter() {
        if name == "host" || name.starts_with(':') {
            continue;
        }
        match (HeaderName::from_bytes(name.as_bytes()), HeaderValue::from_str(value)) {
            (Ok(n), Ok(v)) => {
                map.append(n, v);
            }
            _ => tracing::debug!(name, "HTTP/2: a header field that cannot be sent is left out"),
        }
    }
    map
}

/// The head of a request that came over HTTP/2.
pub fn request_head(parts: &http::request::Parts) -> RequestHead {
    let mut headers = headers_from_h2(&parts.headers);
    let authority = parts.uri.authority().map(|a| Text::from(a.as_str().to_string()));
    if let Some(a) = &authority {
        if headers.get("host").is_none() {
            headers.append_lowercase(Text::from_static("host"), a.clone());
        }
    }
    let path = match parts.uri.path_and_query() {
        Some(p) => p.as_str().to_string(),
        // CONNECT names an authority and no path.
        None => authority.as_ref().map(|a| a.to_string()).unwrap_or_else(|| "/".into()),
    };
    RequestHead {
        method: Text::from(parts.method.as_str().to_string()),
        path: path.into(),
        protocol: Text::from_static(PROTOCOL),
        headers,
        scheme: parts.uri.scheme_str().map(|s| Text::from(s.to_string())),
        authority,
    }
}

/// A request head as HTTP/2 sends it: `:authority` from the head's
/// `authority`, else its `host`, else `default_authority`; `:scheme` from the
/// head, else `scheme`.
pub fn request_to_h2(head: &RequestHead, scheme: &str, default_authority: &str) -> Result<http::Request<()>, String> {
    let authority = head.authority.as_deref().or_else(|| head.headers.get("host")).unwrap_or(default_authority);
    let method =
        http::Method::from_bytes(head.method.as_bytes()).map_err(|_| format!("bad method {:?}", head.method))?;
    let mut b = http::Request::builder().method(method);
    if head.method.as_str() == "CONNECT" {
        // The target is the request's (`CONNECT host:port`), whatever its Host says.
        let target = if head.path.is_empty() || head.path.starts_with('/') { authority } else { head.path.as_str() };
        b = b.uri(target);
    } else {
        let path = if head.path.is_empty() { "/" } else { head.path.as_str() };
        let scheme = head.scheme.as_deref().unwrap_or(scheme);
        b = b.uri(format!("{scheme}://{authority}{path}"));
    }
    let mut req = b.body(()).map_err(|e| format!("bad request target: {e}"))?;
    *req.headers_mut() = headers_to_h2(&head.headers);
    Ok(req)
}

/// A response head as HTTP/2 sends it (no reason phrase, no hop-by-hop fields).
pub fn response_to_h2(head: &ResponseHead) -> http::Response<()> {
    let status = http::StatusCode::from_u16(head.status).unwrap_or(http::StatusCode::INTERNAL_SERVER_ERROR);
    let mut res = http::Response::new(());
    *res.status_mut() = status;
    *res.headers_mut() = headers_to_h2(&head.headers);
    res
}

/// The head of a response that came over HTTP/2.
pub fn response_head(parts: &http::response::Parts) -> ResponseHead {
    ResponseHead {
        status: parts.status.as_u16(),
        status_text: None,
        protocol: Text::from_static(PROTOCOL),
        headers: headers_from_h2(&parts.headers),
    }
}

/// Trailers as HTTP/2 sends them.
pub fn trailers_to_h2(headers: &Headers) -> HeaderMap {
    headers_to_h2(headers)
}

/// A message body on its way out of an h2 stream (a request's or an
/// answer's): the bytes waiting for the stream's window, and how it ends.
#[derive(Default)]
pub struct Outgoing {
    /// Bytes not handed to `h2` yet.
    pub out: VecDeque<Bytes>,
    /// Their length.
    pub len: usize,
    /// The message ended: with trailers, or none.
    pub finish: Option<Option<HeaderMap>>,
}

/// What `Outgoing::write` got done.
#[derive(Debug, PartialEq, Eq)]
pub enum Written {
    /// The stream's window is shut: the rest waits.
    Blocked,
    /// All there is now went; the message has not ended yet.
    Open,
    /// The last frame went, or the stream is gone (reset, closed).
    Done,
}

impl Outgoing {
    /// Takes body bytes.
    pub fn push(&mut self, d: crate::data::Data) {
        for chunk in d.into_chunks() {
            self.len += chunk.len();
            self.out.push_back(chunk);
        }
    }

    /// Drops what waits (the stream is given up).
    pub fn clear(&mut self) {
        self.out.clear();
        self.len = 0;
    }

    /// Nothing but the end is left: the message can end with the frame before.
    pub fn ends_empty(&self) -> bool {
        self.len == 0 && matches!(self.finish, Some(None))
    }

    /// Hands `send` what its window allows: the last piece with END_STREAM,
    /// or the trailers.
    pub fn write(&mut self, send: &mut SendStream<Bytes>, task: &mut Context<'_>) -> Written {
        while let Some(front) = self.out.front_mut() {
            send.reserve_capacity(self.len);
            let mut room = send.capacity();
            if room == 0 {
                match send.poll_capacity(task) {
                    Poll::Ready(Some(Ok(n))) if n > 0 => room = n,
                    Poll::Ready(Some(Ok(_))) | Poll::Pending => return Written::Blocked,
                    Poll::Ready(None) | Poll::Ready(Some(Err(_))) => {
                        // The stream is gone: what waits goes nowhere.
                        self.clear();
                        return Written::Done;
                    }
                }
            }
            let chunk = if front.len() <= room { self.out.pop_front().expect("there") } else { front.split_to(room) };
            self.len -= chunk.len();
            let last = self.ends_empty();
            if send.send_data(chunk, last).is_err() || last {
                return Written::Done;
            }
        }
        match self.finish.take() {
            Some(Some(trailers)) => {
                let _ = send.send_trailers(trailers);
                Written::Done
            }
            Some(None) => {
                let _ = send.send_data(Bytes::new(), true);
                Written::Done
            }
            None => Written::Open,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_request_gets_host_from_authority_and_cookies_joined() {
        let req = http::Request::builder()
            .method("POST")
            .uri("https://example.com:8443/a?b=c")
            .header("cookie", "a=1")
            .header("cookie", "b=2")
            .header("x-y", "z")
            .body(())
            .unwrap();
        let (parts, _) = req.into_parts();
        let head = request_head(&parts);
        assert_eq!(head.method, "POST");
        assert_eq!(head.path, "/a?b=c");
        assert_eq!(head.protocol, "HTTP/2");
        assert_eq!(head.scheme.as_deref(), Some("https"));
        assert_eq!(head.authority.as_deref(), Some("example.com:8443"));
        assert_eq!(head.headers.get("host"), Some("example.com:8443"));
        assert_eq!(head.headers.get("cookie"), Some("a=1; b=2"));
        assert_eq!(head.headers.get("x-y"), Some("z"));
    }

    #[test]
    fn an_http1_request_loses_its_hop_by_hop_fields_and_host_becomes_authority() {
        let mut head = RequestHead { path: "/p".into(), ..Default::default() };
        for (n, v) in [
            ("host", "origin:80"),
            ("connection", "keep-alive, x-private"),
            ("x-private", "1"),
            ("keep-alive", "timeout=5"),
            ("transfer-encoding", "chunked"),
            ("te", "gzip, trailers"),
            ("upgrade", "h2c"),
            ("content-length", "3"),
            ("X-Mixed-Case", "ok"),
        ] {
            head.headers.append(n, v);
        }
        let req = request_to_h2(&head, "http", "fallback").unwrap();
        assert_eq!(req.uri().to_string(), "http://origin:80/p");
        let names: Vec<&str> = req.headers().keys().map(|k| k.as_str()).collect();
        assert_eq!(names, ["te", "content-length", "x-mixed-case"]);
        assert_eq!(req.headers()["te"], "trailers");
        let bare = RequestHead::default();
        assert_eq!(request_to_h2(&bare, "https", "up:443").unwrap().uri().to_string(), "https://up:443/");
    }

    #[test]
    fn a_response_keeps_its_status_and_length_and_drops_hop_by_hop_fields() {
        let mut head = ResponseHead::with_status(404);
        head.headers.append("content-length", "0");
        head.headers.append("connection", "close");
        let res = response_to_h2(&head);
        assert_eq!(res.status(), 404);
        assert_eq!(res.headers().len(), 1);
        let (parts, _) = res.into_parts();
        let back = response_head(&parts);
        assert_eq!((back.status, back.headers.get("content-length")), (404, Some("0")));
    }

    #[test]
    fn settings_are_clamped_to_what_the_protocol_allows() {
        let s =
            Settings { max_frame_size: 1, stream_window: u32::MAX, max_concurrent_streams: 0, ..Default::default() }
                .clamped();
        assert_eq!((s.max_frame_size, s.stream_window, s.max_concurrent_streams), (16 << 10, (1 << 31) - 1, 1));
    }
}
