//! HTTP/1.x encoder: message events in, bytes out. The head is written as Pipy
//! writes it: start line, the script's headers in order, then `content-length`,
//! then `connection`. Output keeps the MessageStart / MessageEnd markers around
//! the bytes.
//!
//! Framing: a body is buffered up to `buffer_size` so that its length can be
//! sent. A longer body keeps the length its head declares (`content-length`
//! from the origin, say), so a known length is never turned into chunked;
//! without one it goes out chunked, or, to an HTTP/1.0 client (which cannot read
//! chunked), with no length and the connection closed after it. A message cut
//! off (StreamEnd before its MessageEnd) is written as far as it came, in its
//! framing, and the stream ends there, so the peer sees a short message rather
//! than none. A body that does not match the length it declared ends the
//! stream with `ProtocolError`.
//!
//! Tunnels: an answer that opens the tunnel its request asked for
//! (`ResponseInfo::tunnel`) has its head written at once, without framing, and
//! what follows its MessageEnd is raw (a body it carries is dropped: such an
//! answer has none); a request encoder is told so (`open_tunnel`) once the
//! answer came. In a tunnel, Data goes out as it is and MessageEnd means nothing.

use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::head::{Head, Headers, RequestHead, ResponseHead};
use crate::http::status;
use crate::http::tunnel::Tunnel;
use bytes::{BufMut, BytesMut};

/// What a response encoder must know about the request it answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResponseInfo {
    /// The request was `HEAD`: send the head only.
    pub head_request: bool,
    /// Close the connection after this response.
    pub is_final: bool,
    /// The request was HTTP/1.0: never answer chunked.
    pub http10: bool,
    /// The tunnel the request asked for, if the session takes tunnels.
    pub tunnel: Tunnel,
}

impl ResponseInfo {
    /// What answering `request` takes.
    pub fn for_request(request: &RequestHead) -> Self {
        ResponseInfo {
            head_request: request.method == "HEAD",
            is_final: request.is_final(),
            http10: &*request.protocol == "HTTP/1.0",
            tunnel: Tunnel::No,
        }
    }
}

/// The version written on the wire for a head's `protocol`: HTTP/1.0 stays,
/// anything else (empty, `HTTP/2` from an HTTP/2 peer) is written HTTP/1.1.
fn wire_version(protocol: &str) -> &'static str {
    if protocol == "HTTP/1.0" {
        "HTTP/1.0"
    } else {
        "HTTP/1.1"
    }
}

/// The most an HTTP/1.0 request without a declared length may buffer: it must be
/// whole before its length can be written.
const MAX_UNFRAMED: usize = 16 << 20;

/// How the body of the message being encoded goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Framing {
    /// Still buffered: the head is not written yet.
    Buffered,
    /// The head declared `declared` bytes; `sent` of them are written.
    Length { declared: u64, sent: u64 },
    /// Chunks.
    Chunked,
    /// Raw bytes, ended by closing the connection.
    UntilClose,
    /// The head of an answer opening a tunnel: no framing at all.
    Tunnel,
}

struct Current {
    head: Box<Head>,
    info: ResponseInfo,
    buffer: Data,
    length: usize,
    framing: Framing,
}

/// Encodes a stream of HTTP/1.x requests or responses.
pub struct Encoder {
    response: bool,
    buffer_size: usize,
    next_info: ResponseInfo,
    current: Option<Current>,
    /// Where a tunnel is.
    tunnel: TunnelState,
}

/// How far an encoder is into a tunnel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TunnelState {
    Off,
    /// The answer that opens it is written up to its body, which goes nowhere.
    Head,
    /// Open: Data is raw.
    Open,
}

impl Encoder {
    /// An encoder of responses (a server's side).
    pub fn responses(buffer_size: usize) -> Self {
        Encoder {
            response: true,
            buffer_size,
            next_info: ResponseInfo::default(),
            current: None,
            tunnel: TunnelState::Off,
        }
    }

    /// An encoder of requests (a client's side).
    pub fn requests(buffer_size: usize) -> Self {
        Encoder {
            response: false,
            buffer_size,
            next_info: ResponseInfo::default(),
            current: None,
            tunnel: TunnelState::Off,
        }
    }

    /// Sets what the next response answers.
    pub fn set_response_info(&mut self, info: ResponseInfo) {
        self.next_info = info;
    }

    /// True while a message is being encoded.
    pub fn in_message(&self) -> bool {
        self.current.is_some()
    }

    /// The answer opened the tunnel the request asked for: Data from now on is
    /// raw (a request encoder, once the request is written).
    pub fn open_tunnel(&mut self) {
        self.current = None;
        self.tunnel = TunnelState::Open;
    }

    /// True once a tunnel is open (or its answer's head written).
    pub fn in_tunnel(&self) -> bool {
        self.tunnel != TunnelState::Off
    }

    /// Encodes one event, calling `out` with what goes on the wire.
    pub fn encode(&mut self, ev: Event, out: &mut impl FnMut(Event)) {
        if self.tunnel != TunnelState::Off {
            match ev {
                Event::Data(d) if self.tunnel == TunnelState::Open && !d.is_empty() => out(Event::Data(d)),
                Event::Data(d) if !d.is_empty() => {
                    tracing::debug!(bytes = d.len(), "the body of an answer opening a tunnel is dropped");
                }
                Event::MessageEnd(_) => self.tunnel = TunnelState::Open,
                ev @ Event::StreamEnd(_) => out(ev),
                _ => {}
            }
            return;
        }
        match ev {
            Event::MessageStart(head) => {
                if self.current.is_none() {
                    let info = std::mem::take(&mut self.next_info);
                    let opens = self.response && matches!(&*head, Head::Response(r) if info.tunnel.opened_by(r.status));
                    let framing = if opens { Framing::Tunnel } else { Framing::Buffered };
                    let mut cur = Current { head, info, buffer: Data::new(), length: 0, framing };
                    if opens {
                        // The head goes now; the tunnel's bytes follow as they come.
                        out(Event::MessageStart(cur.head.clone()));
                        out(Event::Data(write_head(&mut cur, true)));
                        self.tunnel = TunnelState::Head;
                        return;
                    }
                    self.current = Some(cur);
                }
            }
            Event::Data(d) => {
                let Some(cur) = &mut self.current else { return };
                if cur.info.head_request || bodiless(&cur.head) {
                    // No body goes out; a HEAD answer's length is the body's.
                    cur.length += d.len();
                    return;
                }
                cur.length += d.len();
                match &mut cur.framing {
                    Framing::Buffered => {
                        cur.buffer.push(d);
                        if cur.buffer.len() > self.buffer_size {
                            let framing = streaming_framing(cur, self.response);
                            if framing != Framing::Buffered {
                                start_streaming(cur, framing, self.response, out);
                            } else if cur.buffer.len() > MAX_UNFRAMED {
                                // An HTTP/1.0 request with no length cannot be sent
                                // until it ends, and this one does not end.
                                tracing::debug!("HTTP/1.0 request body without a length over {MAX_UNFRAMED} bytes");
                                self.current = None;
                                out(Event::error(StreamError::BufferOverflow));
                            }
                        }
                    }
                    Framing::Chunked => {
                        if !d.is_empty() {
                            out(Event::Data(chunk(d)));
                        }
                    }
                    Framing::Length { .. } => write_within_length(cur, d, out),
                    Framing::UntilClose | Framing::Tunnel => out(Event::Data(d)),
                }
            }
            Event::MessageEnd(tail) => {
                let Some(mut cur) = self.current.take() else { return };
                let mut broken = false;
                match cur.framing {
                    Framing::Buffered => {
                        out(Event::MessageStart(cur.head.clone()));
                        // Head and body as one Data: one write, one segment on the wire.
                        let mut wire = write_head(&mut cur, self.response);
                        if !cur.info.head_request && !cur.buffer.is_empty() && !bodiless(&cur.head) {
                            wire.push(std::mem::take(&mut cur.buffer));
                        }
                        out(Event::Data(wire));
                    }
                    Framing::Chunked => out(Event::Data(Data::from("0\r\n\r\n"))),
                    Framing::Length { declared, sent } => {
                        if sent != declared || cur.length as u64 != declared {
                            tracing::debug!(declared, body = cur.length, "HTTP body does not match its content-length");
                            broken = true;
                        }
                    }
                    Framing::UntilClose | Framing::Tunnel => {}
                }
                if broken {
                    out(Event::error(StreamError::ProtocolError));
                } else if cur.framing == Framing::UntilClose || (self.response && cur.info.is_final) {
                    out(Event::end());
                } else {
                    out(Event::MessageEnd(tail));
                }
            }
            ev @ Event::StreamEnd(_) => {
                // Cut off: what came of the message goes out as far as it goes.
                if let Some(mut cur) = self.current.take() {
                    if cur.framing == Framing::Buffered && !cur.info.head_request && !bodiless(&cur.head) {
                        let framing = match streaming_framing(&cur, self.response) {
                            Framing::Buffered => Framing::UntilClose,
                            f => f,
                        };
                        start_streaming(&mut cur, framing, self.response, out);
                    } else if cur.framing == Framing::Buffered {
                        out(Event::MessageStart(cur.head.clone()));
                        out(Event::Data(write_head(&mut cur, self.response)));
                    }
                }
                out(ev);
            }
        }
    }
}

/// The length a head declares in `content-length`, if one valid length.
fn declared_length(head: &Head) -> Option<u64> {
    let headers = head.headers()?;
    let mut found = None;
    for v in headers.get_all("content-length") {
        for part in v.split(',') {
            let n: u64 = part.trim().parse().ok()?;
            if found.is_some_and(|f| f != n) {
                return None;
            }
            found = Some(n);
        }
    }
    found
}

/// How a body too long to buffer goes out: with its declared length if it has
/// one, else chunked if the peer reads chunked, else (a response to HTTP/1.0)
/// until close. A request to an HTTP/1.0 peer without a length stays buffered.
fn streaming_framing(cur: &Current, response: bool) -> Framing {
    if let Some(declared) = declared_length(&cur.head).filter(|&d| d >= cur.buffer.len() as u64) {
        return Framing::Length { declared, sent: 0 };
    }
    let http10 =
        if response { cur.info.http10 } else { matches!(&*cur.head, Head::Request(r) if &*r.protocol == "HTTP/1.0") };
    match (http10, response) {
        (false, _) => Framing::Chunked,
        (true, true) => Framing::UntilClose,
        (true, false) => Framing::Buffered,
    }
}

/// Writes the head for `framing` and what is buffered, and streams from now on.
fn start_streaming(cur: &mut Current, framing: Framing, response: bool, out: &mut impl FnMut(Event)) {
    cur.framing = framing;
    let body = std::mem::take(&mut cur.buffer);
    out(Event::MessageStart(cur.head.clone()));
    let mut wire = write_head(cur, response);
    match framing {
        Framing::Chunked => {
            if !body.is_empty() {
                wire.push(chunk(body));
            }
            out(Event::Data(wire));
        }
        Framing::Length { .. } => {
            out(Event::Data(wire));
            write_within_length(cur, body, out);
        }
        _ => {
            wire.push(body);
            out(Event::Data(wire));
        }
    }
}

/// Writes body bytes up to the declared length; bytes past it are dropped (the
/// message is then broken, and MessageEnd says so).
fn write_within_length(cur: &mut Current, mut d: Data, out: &mut impl FnMut(Event)) {
    let Framing::Length { declared, sent } = &mut cur.framing else { return };
    let room = (*declared - *sent) as usize;
    if d.len() > room {
        d = d.shift(room);
    }
    *sent += d.len() as u64;
    if !d.is_empty() {
        out(Event::Data(d));
    }
}

fn bodiless(head: &Head) -> bool {
    matches!(head, Head::Response(r) if r.status < 200 || r.status == 204 || r.status == 304)
}

fn chunk(d: Data) -> Data {
    let mut out = Data::from(format!("{:X}\r\n", d.len()));
    out.push(d);
    out.push(Data::from("\r\n"));
    out
}

fn write_head(cur: &mut Current, response: bool) -> Data {
    // Room for the whole head at once: growing it would copy it (and realloc).
    let fields = cur.head.headers().map_or(0, |h| h.iter().map(|(n, v)| n.len() + v.len() + 4).sum::<usize>());
    let mut b = BytesMut::with_capacity(fields + 128);
    let default_request;
    let default_response;
    let mut no_length = false;
    let mut method_sets_length = false;
    let headers: &Headers = if response {
        let r = match &*cur.head {
            Head::Response(r) => r,
            _ => {
                default_response = ResponseHead::default();
                &default_response
            }
        };
        put(&mut b, wire_version(&r.protocol));
        b.put_u8(b' ');
        put_number(&mut b, r.status.into());
        b.put_u8(b' ');
        put(&mut b, r.status_text.as_deref().or(status::reason(r.status)).unwrap_or("OK"));
        put(&mut b, "\r\n");
        // 1xx and 204 have no length; a 304's is the one its head declares, if any
        // (RFC 9110 §8.6): the length of what a 200 would have carried.
        if r.status < 200 || r.status == 204 || r.status == 304 {
            no_length = true;
        }
        &r.headers
    } else {
        let r = match &*cur.head {
            Head::Request(r) => r,
            _ => {
                default_request = RequestHead::default();
                &default_request
            }
        };
        put(&mut b, if r.method.is_empty() { "GET" } else { &r.method });
        b.put_u8(b' ');
        put(&mut b, if r.path.is_empty() { "/" } else { &r.path });
        b.put_u8(b' ');
        put(&mut b, wire_version(&r.protocol));
        put(&mut b, "\r\n");
        method_sets_length = matches!(r.method.as_str(), "POST" | "PUT" | "PATCH");
        &r.headers
    };
    let mut connection: Option<&str> = None;
    for (name, value) in headers.iter() {
        match name {
            "keep-alive" | "transfer-encoding" => continue,
            "content-length" => {
                let not_modified = matches!(&*cur.head, Head::Response(r) if r.status == 304);
                if cur.info.head_request || not_modified {
                    no_length = true;
                } else {
                    continue;
                }
            }
            "connection" => {
                connection = Some(value);
                continue;
            }
            _ => {}
        }
        put(&mut b, name);
        put(&mut b, ": ");
        put(&mut b, value);
        put(&mut b, "\r\n");
    }
    if !no_length {
        match cur.framing {
            Framing::Chunked => put(&mut b, "transfer-encoding: chunked\r\n"),
            Framing::Length { declared, .. } => {
                put(&mut b, "content-length: ");
                put_number(&mut b, declared);
                put(&mut b, "\r\n");
            }
            Framing::UntilClose | Framing::Tunnel => {}
            Framing::Buffered => {
                if cur.length > 0 || response || method_sets_length {
                    put(&mut b, "content-length: ");
                    put_number(&mut b, cur.length as u64);
                    put(&mut b, "\r\n");
                }
            }
        }
    }
    if cur.framing == Framing::Tunnel {
        // The answer opening a tunnel says what its peer said, or `upgrade` for a 101.
        let upgraded = matches!(&*cur.head, Head::Response(r) if r.status == 101);
        if let Some(c) = connection.or(upgraded.then_some("upgrade")) {
            put(&mut b, "connection: ");
            put(&mut b, c);
            put(&mut b, "\r\n");
        }
    } else if response && (cur.info.is_final || cur.framing == Framing::UntilClose) {
        put(&mut b, "connection: close\r\n");
    } else if let Some(c) = connection {
        put(&mut b, "connection: ");
        put(&mut b, c);
        put(&mut b, "\r\n");
    } else {
        put(&mut b, "connection: keep-alive\r\n");
    }
    put(&mut b, "\r\n");
    Data::from(b.freeze())
}

fn put(b: &mut BytesMut, s: &str) {
    b.put_slice(s.as_bytes());
}

/// Writes `n` in decimal, without the allocation `to_string` makes.
fn put_number(b: &mut BytesMut, mut n: u64) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    loop {
        at -= 1;
        digits[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    b.put_slice(&digits[at..]);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{Message, StreamError};

    fn wire(enc: &mut Encoder, events: Vec<Event>) -> String {
        let mut s = Vec::new();
        for ev in events {
            enc.encode(ev, &mut |e| match e {
                Event::Data(d) => s.extend(d.to_vec()),
                Event::StreamEnd(_) => s.extend(b"<EOS>"),
                _ => {}
            });
        }
        String::from_utf8(s).unwrap()
    }

    #[test]
    fn response_head_matches_pipy_byte_for_byte() {
        let mut enc = Encoder::responses(16);
        let out = wire(&mut enc, Message::new(Head::None, "Hello!\n").into_events());
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 7\r\nconnection: keep-alive\r\n\r\nHello!\n");

        let mut head = ResponseHead::with_status(201);
        head.headers.set("x-path", "/a");
        head.headers.set("Content-Length", "999");
        let out = wire(&mut enc, Message::new(Head::Response(head), "").into_events());
        assert_eq!(out, "HTTP/1.1 201 Created\r\nx-path: /a\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n");
    }

    #[test]
    fn large_bodies_switch_to_chunked_and_final_responses_close() {
        let mut enc = Encoder::responses(4);
        enc.set_response_info(ResponseInfo { is_final: true, ..ResponseInfo::default() });
        let out = wire(
            &mut enc,
            vec![Event::start(Head::None), Event::Data("abc".into()), Event::Data("defg".into()), Event::message_end()],
        );
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: close\r\n\r\n7\r\nabcdefg\r\n0\r\n\r\n<EOS>"
        );
    }

    #[test]
    fn head_and_204_responses_carry_no_body() {
        let mut enc = Encoder::responses(64);
        enc.set_response_info(ResponseInfo { head_request: true, ..ResponseInfo::default() });
        let out = wire(&mut enc, Message::new(Head::None, "body").into_events());
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 4\r\nconnection: keep-alive\r\n\r\n");
        let out = wire(&mut enc, Message::new(Head::Response(ResponseHead::with_status(204)), "x").into_events());
        assert_eq!(out, "HTTP/1.1 204 No Content\r\nconnection: keep-alive\r\n\r\n");
    }

    fn with_length(n: usize) -> Head {
        let mut head = ResponseHead::default();
        head.headers.set("content-length", n.to_string());
        Head::Response(head)
    }

    fn body_events(head: Head, parts: &[&str], end: Event) -> Vec<Event> {
        let mut v = vec![Event::start(head)];
        v.extend(parts.iter().map(|p| Event::Data(Data::from(p.to_string()))));
        v.push(end);
        v
    }

    #[test]
    fn a_declared_length_is_kept_for_long_bodies_never_turned_into_chunked() {
        let mut enc = Encoder::responses(4);
        let out = wire(&mut enc, body_events(with_length(9), &["abc", "def", "ghi"], Event::message_end()));
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 9\r\nconnection: keep-alive\r\n\r\nabcdefghi");
        // The next message starts afresh.
        let out = wire(&mut enc, Message::new(Head::None, "x").into_events());
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 1\r\nconnection: keep-alive\r\n\r\nx");
    }

    #[test]
    fn a_body_that_breaks_its_declared_length_ends_the_stream() {
        let mut enc = Encoder::responses(4);
        let out = wire(&mut enc, body_events(with_length(6), &["abc", "de", "fgh"], Event::message_end()));
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 6\r\nconnection: keep-alive\r\n\r\nabcdef<EOS>");
        // A length the body has outgrown before anything is written is stale (a
        // script changed the body): the body goes out chunked instead.
        let out = wire(&mut enc, body_events(with_length(2), &["abc", "defgh"], Event::message_end()));
        assert!(out.contains("transfer-encoding: chunked") && out.ends_with("0\r\n\r\n"), "{out}");
        let mut enc = Encoder::responses(4);
        let out = wire(&mut enc, body_events(with_length(20), &["abc", "defgh"], Event::message_end()));
        assert!(out.ends_with("abcdefgh<EOS>"), "{out}");
    }

    #[test]
    fn http10_clients_get_no_chunks_but_a_close() {
        let mut enc = Encoder::responses(4);
        enc.set_response_info(ResponseInfo { http10: true, ..ResponseInfo::default() });
        let out = wire(&mut enc, body_events(Head::None, &["abc", "defgh"], Event::message_end()));
        assert_eq!(out, "HTTP/1.1 200 OK\r\nconnection: close\r\n\r\nabcdefgh<EOS>");
        // HTTP/1.0 requests keep their length and are never chunked.
        let mut enc = Encoder::requests(4);
        let head = RequestHead { method: "POST".into(), protocol: "HTTP/1.0".into(), ..Default::default() };
        let out = wire(&mut enc, body_events(Head::Request(head.clone()), &["abc", "defgh"], Event::message_end()));
        assert_eq!(out, "POST / HTTP/1.0\r\ncontent-length: 8\r\nconnection: keep-alive\r\n\r\nabcdefgh");
        let mut declared = head;
        declared.headers.set("content-length", "8");
        let out = wire(&mut enc, body_events(Head::Request(declared), &["abc", "defgh"], Event::message_end()));
        assert_eq!(out, "POST / HTTP/1.0\r\ncontent-length: 8\r\nconnection: keep-alive\r\n\r\nabcdefgh");
    }

    #[test]
    fn a_message_cut_off_goes_out_as_far_as_it_came_in_its_framing() {
        // Cut off right after the head: the head goes out, then the close.
        let mut enc = Encoder::responses(64);
        let out = wire(&mut enc, body_events(with_length(10), &[], Event::error(StreamError::ConnectionReset)));
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: keep-alive\r\n\r\n<EOS>");
        // Mid-body, with a length: the bytes so far, never a chunked re-framing.
        let mut enc = Encoder::responses(4);
        let out = wire(&mut enc, body_events(with_length(10), &["abc", "defg"], Event::end()));
        assert_eq!(out, "HTTP/1.1 200 OK\r\ncontent-length: 10\r\nconnection: keep-alive\r\n\r\nabcdefg<EOS>");
        // Without a length: chunked, and no last chunk.
        let mut enc = Encoder::responses(64);
        let out = wire(&mut enc, body_events(Head::None, &["abc"], Event::end()));
        assert_eq!(
            out,
            "HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\nconnection: keep-alive\r\n\r\n3\r\nabc\r\n<EOS>"
        );
    }

    #[test]
    fn bodiless_statuses_get_no_body_however_long_and_304_keeps_its_declared_length() {
        let big = "x".repeat(100);
        for status in [204u16, 304] {
            let mut enc = Encoder::responses(16);
            let head = Head::Response(ResponseHead::with_status(status));
            let out = wire(&mut enc, body_events(head.clone(), &[&big, &big], Event::message_end()));
            assert!(!out.contains('x') && !out.contains("chunked") && !out.contains("content-length"), "{out}");
            let out = wire(&mut enc, body_events(head, &[&big], Event::end()));
            assert!(!out.contains('x') && out.ends_with("\r\n\r\n<EOS>"), "{out}");
        }
        let mut head = ResponseHead::with_status(304);
        head.headers.set("content-length", "1234");
        let out = wire(&mut Encoder::responses(16), body_events(Head::Response(head), &[], Event::message_end()));
        assert_eq!(out, "HTTP/1.1 304 Not Modified\r\ncontent-length: 1234\r\nconnection: keep-alive\r\n\r\n");
    }

    #[test]
    fn requests_get_defaults_and_lengths() {
        let mut enc = Encoder::requests(64);
        let out = wire(&mut enc, Message::new(Head::None, "").into_events());
        assert_eq!(out, "GET / HTTP/1.1\r\nconnection: keep-alive\r\n\r\n");
        let head = RequestHead { method: "POST".into(), path: "/x".into(), ..Default::default() };
        let out = wire(&mut enc, Message::new(Head::Request(head), "").into_events());
        assert_eq!(out, "POST /x HTTP/1.1\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n");
    }
}
