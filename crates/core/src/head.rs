//! Message heads and tails. HTTP heads decoded from the wire stay these Rust structs;
//! the script host shows them to scripts as objects only when a callback asks.
//! Their text is `Text`: a decoded head's fields are slices of the bytes received,
//! not copies.

use bytes::Bytes;
use std::fmt;
use std::ops::Deref;

/// Shared, immutable UTF-8 text: a slice of received bytes, a static string, or an
/// owned string, all cheap to clone.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Text(Bytes);

impl Text {
    /// Static text, without copying.
    pub const fn from_static(s: &'static str) -> Text {
        Text(Bytes::from_static(s.as_bytes()))
    }

    /// Text of `b` if it is UTF-8.
    pub fn from_utf8(b: Bytes) -> Option<Text> {
        std::str::from_utf8(&b).ok()?;
        Some(Text(b))
    }

    /// The text.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: the field is private and every constructor admits only UTF-8:
        // `from_static` and `From<String>`/`From<&String>` take `str`s, and
        // `from_utf8` checks its bytes. `Bytes` never changes its contents.
        // (Checking again on every read was 2% of the proxy's CPU.) The tests
        // below check that invalid bytes are refused.
        unsafe { std::str::from_utf8_unchecked(&self.0) }
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl From<&'static str> for Text {
    fn from(s: &'static str) -> Text {
        Text::from_static(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Text {
        Text(Bytes::from(s))
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Text {
        Text(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Header fields in arrival order; names are lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(Text, Text)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name` (lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Every value of `name` (lowercase), in order.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.0.iter().filter(move |(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Keeps the fields for which `keep(name, value)` is true.
    pub fn retain(&mut self, mut keep: impl FnMut(&str, &str) -> bool) {
        self.0.retain(|(n, v)| keep(n.as_str(), v.as_str()));
    }

    /// Replaces the value of `name` or appends it.
    pub fn set(&mut self, name: &str, value: impl Into<Text>) {
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| n.eq_ignore_ascii_case(name)) {
            Some(slot) => slot.1 = value,
            None => self.0.push((lowercase(name), value)),
        }
    }

    /// Appends a field even when the name is already present.
    pub fn append(&mut self, name: &str, value: impl Into<Text>) {
        self.0.push((lowercase(name), value.into()));
    }

    /// Appends a field whose name is known to be lowercase already.
    pub fn append_lowercase(&mut self, name: Text, value: Text) {
        self.0.push((name, value));
    }

    /// Removes every field called `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    /// Room for `n` fields.
    pub fn with_capacity(n: usize) -> Self {
        Headers(Vec::with_capacity(n))
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// Header names that need no allocation when a client sends them capitalized.
const COMMON_NAMES: &[&str] = &[
    "host",
    "user-agent",
    "accept",
    "accept-encoding",
    "accept-language",
    "connection",
    "content-length",
    "content-type",
    "transfer-encoding",
    "date",
    "server",
    "cache-control",
    "cookie",
    "set-cookie",
    "expect",
    "keep-alive",
    "upgrade",
    "authorization",
    "referer",
    "origin",
    "last-modified",
    "etag",
    "location",
    "x-forwarded-for",
    "vary",
    "content-encoding",
    "accept-ranges",
    "range",
    "if-none-match",
    "if-modified-since",
];

/// `name` in lowercase, as static text when it is a common header name.
pub fn lowercase(name: &str) -> Text {
    // Lowercased once on the stack, then compared byte for byte: cheaper than a
    // case-insensitive comparison with each common name.
    let mut buf = [0u8; 24];
    let Some(lower) = buf.get_mut(..name.len()) else { return Text::from(name.to_ascii_lowercase()) };
    lower.copy_from_slice(name.as_bytes());
    lower.make_ascii_lowercase();
    if let Some(n) = COMMON_NAMES.iter().find(|n| n.as_bytes() == &*lower) {
        return Text::from_static(n);
    }
    Text::from(name.to_ascii_lowercase())
}

/// The head of an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`, ...
    pub method: Text,
    /// The request target as sent (`/a?b=c`).
    pub path: Text,
    /// `HTTP/1.1`, `HTTP/1.0` or `HTTP/2`.
    pub protocol: Text,
    /// Header fields.
    pub headers: Headers,
    /// HTTP/2's `:scheme` (`http`, `https`); `None` from HTTP/1.
    pub scheme: Option<Text>,
    /// HTTP/2's `:authority`; `None` from HTTP/1, whose `host` header says it.
    pub authority: Option<Text>,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead {
            method: "GET".into(),
            path: "/".into(),
            protocol: "HTTP/1.1".into(),
            headers: Headers::new(),
            scheme: None,
            authority: None,
        }
    }
}

impl RequestHead {
    /// True when the client waits for `100 Continue` before sending its body.
    pub fn expects_continue(&self) -> bool {
        self.headers.get("expect").is_some_and(|v| v.eq_ignore_ascii_case("100-continue"))
    }

    /// True when the client wants the connection closed after the response.
    pub fn is_final(&self) -> bool {
        let conn = self.headers.get("connection").map(|v| v.to_ascii_lowercase());
        match conn.as_deref() {
            Some(v) if v.contains("close") => true,
            Some(v) if v.contains("keep-alive") => false,
            _ => &*self.protocol == "HTTP/1.0",
        }
    }
}

/// The head of an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Reason phrase; `None` means the standard text for `status`.
    pub status_text: Option<Text>,
    /// `HTTP/1.1` unless the script said otherwise.
    pub protocol: Text,
    /// Header fields.
    pub headers: Headers,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead { status: 200, status_text: None, protocol: "HTTP/1.1".into(), headers: Headers::new() }
    }
}

impl ResponseHead {
    /// A response head with this status and no headers.
    pub fn with_status(status: u16) -> Self {
        ResponseHead { status, ..Default::default() }
    }
}

/// The head of a message.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Head {
    /// No head (a script's `new Message('body')`).
    #[default]
    None,
    /// An HTTP request head.
    Request(RequestHead),
    /// An HTTP response head.
    Response(ResponseHead),
    /// A WebSocket message's head.
    WebSocket(FrameHead),
    /// Any other codec's head (an MQTT packet's, a Thrift or Dubbo message's):
    /// named fields, always a `Payload::Map`.
    Fields(std::rc::Rc<crate::payload::Payload>),
}

/// What a WebSocket message is (RFC 6455 §5.2): its opcode (1 text, 2 binary,
/// 8 close, 9 ping, 10 pong) and whether its frames are masked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHead {
    /// The opcode of its first frame.
    pub opcode: u8,
    /// True if its frames are (to be) masked: a client's are.
    pub masked: bool,
}

impl Default for FrameHead {
    fn default() -> Self {
        FrameHead { opcode: 1, masked: false }
    }
}

impl Head {
    /// The request head, if this is one.
    pub fn request(&self) -> Option<&RequestHead> {
        match self {
            Head::Request(r) => Some(r),
            _ => None,
        }
    }

    /// The response head, if this is one.
    pub fn response(&self) -> Option<&ResponseHead> {
        match self {
            Head::Response(r) => Some(r),
            _ => None,
        }
    }

    /// The header fields, unless there is no head.
    pub fn headers(&self) -> Option<&Headers> {
        match self {
            Head::Request(r) => Some(&r.headers),
            Head::Response(r) => Some(&r.headers),
            Head::None | Head::WebSocket(_) | Head::Fields(_) => None,
        }
    }

    /// The header fields to change, unless there is no head.
    pub fn headers_mut(&mut self) -> Option<&mut Headers> {
        match self {
            Head::Request(r) => Some(&mut r.headers),
            Head::Response(r) => Some(&mut r.headers),
            Head::None | Head::WebSocket(_) | Head::Fields(_) => None,
        }
    }

    /// The field `name` of a codec's head (`Head::Fields`), if it has one.
    pub fn field(&self, name: &str) -> Option<&crate::payload::Payload> {
        match self {
            Head::Fields(f) => f.get(name),
            _ => None,
        }
    }
}

/// The tail of a message: sizes measured by the decoder, trailers, and the
/// value a codec decoded the message into.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Tail {
    /// Bytes in the head as received.
    pub head_size: usize,
    /// Bytes in the body as received.
    pub body_size: usize,
    /// Trailer fields sent after the body (HTTP/2 trailers, gRPC's `grpc-status`).
    pub headers: Option<Headers>,
    /// What a codec decoded the message into (`decodeRESP`), or a script put here.
    pub payload: Option<std::rc::Rc<crate::payload::Payload>>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_admits_only_utf8() {
        assert!(Text::from_utf8(Bytes::from_static(b"\xff\xfe")).is_none());
        assert_eq!(Text::from_utf8(Bytes::from_static("héllo".as_bytes())).unwrap(), "héllo");
        assert_eq!(Text::from(String::from("x")).as_str(), "x");
    }

    #[test]
    fn header_names_are_lowercased_without_allocating_common_ones() {
        assert_eq!(lowercase("Content-Length"), "content-length");
        assert_eq!(lowercase("X-Custom-Thing"), "x-custom-thing");
        assert_eq!(lowercase(&"A".repeat(40)), "a".repeat(40).as_str());
        let mut h = Headers::new();
        h.set("Host", "a");
        h.set("host", "b");
        assert_eq!(h.get("host"), Some("b"));
        assert_eq!(h.len(), 1);
    }
}
