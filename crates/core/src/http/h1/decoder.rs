//! HTTP/1.x decoder: bytes in, MessageStart / Data / MessageEnd out. Bodies are
//! passed on as they arrive (never buffered whole); heads are bounded by
//! `max_header_size`. Malformed input stops the decoder with a `DecodeError`.
//!
//! Tunnels: a response decoder told that a request asked for one
//! (`expect_response`) passes everything after an answer that opens it as raw
//! Data. A request decoder that takes tunnels (`tunnels`) holds what follows a
//! request asking for one, undecoded, until its owner says whether the answer
//! opened it (`open_tunnel`) or not (`resume`).

use crate::data::Data;
use crate::event::Event;
use crate::head::{lowercase, Head, Headers, RequestHead, ResponseHead, Tail, Text};
use crate::http::tunnel::Tunnel;
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Why the input is not valid HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Malformed start line, header, length or chunk (answer `400`).
    Malformed(&'static str),
    /// The head is larger than the limit (answer `431`).
    HeadTooLarge,
    /// A transfer coding other than `chunked` (answer `501`).
    NotImplemented(&'static str),
}

impl DecodeError {
    /// The status a server answers with.
    pub fn status(self) -> u16 {
        match self {
            DecodeError::Malformed(_) => 400,
            DecodeError::HeadTooLarge => 431,
            DecodeError::NotImplemented(_) => 501,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Malformed(why) => write!(f, "malformed HTTP: {why}"),
            DecodeError::HeadTooLarge => f.write_str("HTTP head over the size limit"),
            DecodeError::NotImplemented(what) => write!(f, "HTTP feature not implemented: {what}"),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Head,
    Body(u64),
    BodyUntilClose,
    ChunkSize,
    ChunkData(u64),
    ChunkDataEnd,
    Trailer,
    /// A request asking for a tunnel was read: what follows waits, undecoded,
    /// for the answer.
    Held,
    /// Raw bytes both ways: everything is Data.
    Tunnel,
    Failed,
}

/// Bytes a client may send after a request asking for a tunnel before the
/// answer comes; past this it is an error (the client was to wait).
pub const MAX_HELD: usize = 1 << 20;

/// What a response decoder knows of the request a response answers.
#[derive(Debug, Clone, Copy, Default)]
struct Expected {
    head_request: bool,
    tunnel: Tunnel,
}

const MAX_HEADERS: usize = 128;
const MAX_CHUNK_LINE: usize = 1024;

/// Decodes a stream of HTTP/1.x requests or responses.
pub struct Decoder {
    response: bool,
    max_header_size: usize,
    state: State,
    buf: BytesMut,
    scanned: usize,
    head_size: usize,
    body_size: usize,
    /// Bytes of the trailer section read so far (bounded like a head).
    trailer_size: usize,
    /// Heads decoded so far, and body bytes (for telling whether input progresses).
    heads: u64,
    /// Blank lines came before the next head (they count as its start).
    blank_lines: bool,
    /// HTTP/1.1 requests must have a `Host`.
    require_host: bool,
    body_total: u64,
    /// For a response decoder: what each expected response answers.
    expected: VecDeque<Expected>,
    /// For a request decoder: requests asking for a tunnel hold what follows.
    tunnels: bool,
    /// The tunnel the request being read asks for.
    asked: Tunnel,
}

impl Decoder {
    /// A decoder of requests (a server's side).
    pub fn requests(max_header_size: usize) -> Self {
        Self::new(false, max_header_size)
    }

    /// Refuses HTTP/1.1 requests without a `Host` (RFC 9112 §3.2 asks servers to;
    /// off by default, since Pipy accepts them and its own test harness sends
    /// them). A repeated `Host` is refused either way.
    pub fn require_host(mut self, require: bool) -> Self {
        self.require_host = require;
        self
    }

    /// A decoder of responses (a client's side).
    pub fn responses(max_header_size: usize) -> Self {
        Self::new(true, max_header_size)
    }

    fn new(response: bool, max_header_size: usize) -> Self {
        Decoder {
            response,
            max_header_size,
            state: State::Head,
            buf: BytesMut::new(),
            scanned: 0,
            head_size: 0,
            body_size: 0,
            trailer_size: 0,
            heads: 0,
            blank_lines: false,
            require_host: false,
            body_total: 0,
            expected: VecDeque::new(),
            tunnels: false,
            asked: Tunnel::No,
        }
    }

    /// For a request decoder: a request asking for a tunnel (`CONNECT`, an
    /// `Upgrade`) holds what follows it until `open_tunnel` or `resume`.
    /// Without this, `CONNECT` is an ordinary request with no body and
    /// `Upgrade` is not looked at.
    pub fn tunnels(mut self, take: bool) -> Self {
        self.tunnels = take;
        self
    }

    /// For a response decoder: the next request sent was (or was not) a HEAD
    /// request, so its response has (or may have) a body, and asked for `tunnel`.
    pub fn expect_response(&mut self, to_head_request: bool, tunnel: Tunnel) {
        self.expected.push_back(Expected { head_request: to_head_request, tunnel });
    }

    /// True between messages (nothing half-decoded).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.buf.is_empty()
    }

    /// True once a tunnel is open: all input is raw Data.
    pub fn in_tunnel(&self) -> bool {
        self.state == State::Tunnel
    }

    /// True while what follows a request asking for a tunnel waits for its answer.
    pub fn holding(&self) -> bool {
        self.state == State::Held
    }

    /// Bytes held after a request asking for a tunnel.
    pub fn held_bytes(&self) -> usize {
        if self.state == State::Held {
            self.buf.len()
        } else {
            0
        }
    }

    /// The answer opened the tunnel: what was held, and all that follows, is Data.
    pub fn open_tunnel(&mut self, out: &mut impl FnMut(Event)) {
        if self.state != State::Held {
            return;
        }
        self.state = State::Tunnel;
        let held = std::mem::take(&mut self.buf);
        if !held.is_empty() {
            out(Event::Data(held.freeze().into()));
        }
    }

    /// The answer did not open the tunnel: what was held is decoded as requests.
    pub fn resume(&mut self, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        if self.state != State::Held {
            return Ok(());
        }
        self.state = State::Head;
        let held = std::mem::take(&mut self.buf).freeze();
        self.input_bytes(held, out)
    }

    /// True while part of a head (or blank lines before one) has arrived and the
    /// rest has not.
    pub fn reading_head(&self) -> bool {
        self.state == State::Head && (!self.buf.is_empty() || self.blank_lines)
    }

    /// True while a body with a length or chunks is being read.
    pub fn reading_body(&self) -> bool {
        matches!(
            self.state,
            State::Body(_) | State::ChunkSize | State::ChunkData(_) | State::ChunkDataEnd | State::Trailer
        )
    }

    /// How many heads have been decoded so far.
    pub fn heads(&self) -> u64 {
        self.heads
    }

    /// How many body bytes (chunk framing included) have been decoded so far, in
    /// all messages.
    pub fn body_bytes(&self) -> u64 {
        self.body_total
    }

    /// Decodes `data`, calling `out` for every event.
    pub fn input(&mut self, data: Data, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        for chunk in data.into_chunks() {
            self.input_bytes(chunk, out)?;
        }
        Ok(())
    }

    /// The input ended. A response read until close ends here; a half message is an error.
    pub fn end(&mut self, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        match self.state {
            State::BodyUntilClose => {
                self.finish(out);
                Ok(())
            }
            State::Head if self.buf.is_empty() => Ok(()),
            State::Failed | State::Tunnel | State::Held => Ok(()),
            _ => {
                self.state = State::Failed;
                Err(DecodeError::Malformed("stream ended inside a message"))
            }
        }
    }

    fn input_bytes(&mut self, mut b: Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        while !b.is_empty() {
            match self.state {
                State::Failed => return Ok(()),
                State::Tunnel => {
                    self.body_total += b.len() as u64;
                    out(Event::Data(std::mem::take(&mut b).into()));
                }
                State::Held => {
                    self.buf.extend_from_slice(&b);
                    if self.buf.len() > MAX_HELD {
                        self.state = State::Failed;
                        return Err(DecodeError::Malformed("too much sent before the tunnel was answered"));
                    }
                    return Ok(());
                }
                State::Head => {
                    if let Err(e) = self.head(&mut b, out) {
                        self.state = State::Failed;
                        return Err(e);
                    }
                }
                State::Body(left) => {
                    let n = (left as usize).min(b.len());
                    let part = b.split_to(n);
                    self.body_size += n;
                    self.body_total += n as u64;
                    out(Event::Data(part.into()));
                    if left as usize == n {
                        self.finish(out);
                    } else {
                        self.state = State::Body(left - n as u64);
                    }
                }
                State::BodyUntilClose => {
                    self.body_size += b.len();
                    self.body_total += b.len() as u64;
                    out(Event::Data(std::mem::take(&mut b).into()));
                }
                State::ChunkSize | State::ChunkDataEnd | State::Trailer => {
                    let before = b.len();
                    if let Err(e) = self.chunk_line(&mut b, out) {
                        self.state = State::Failed;
                        return Err(e);
                    }
                    // Framing bytes are progress too (for body timeouts).
                    self.body_total += (before - b.len()) as u64;
                }
                State::ChunkData(left) => {
                    let n = (left as usize).min(b.len());
                    let part = b.split_to(n);
                    self.body_size += n;
                    self.body_total += n as u64;
                    out(Event::Data(part.into()));
                    self.state =
                        if left as usize == n { State::ChunkDataEnd } else { State::ChunkData(left - n as u64) };
                }
            }
        }
        Ok(())
    }

    /// Collects head bytes until the blank line, then parses the head.
    fn head(&mut self, b: &mut Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        // Skip blank lines between messages (RFC 9112 §2.2).
        if self.buf.is_empty() {
            let skip = b.iter().take_while(|&&c| c == b'\r' || c == b'\n').count();
            let _ = b.split_to(skip);
            self.blank_lines |= skip > 0;
            if b.is_empty() {
                return Ok(());
            }
        }
        let start = self.scanned.saturating_sub(3);
        let (head_len, from_buf) = if self.buf.is_empty() {
            match find_head_end(b, 0) {
                Some(n) => (n, false),
                None => {
                    self.buf.extend_from_slice(b);
                    self.scanned = self.buf.len();
                    *b = Bytes::new();
                    return self.check_size();
                }
            }
        } else {
            let old = self.buf.len();
            self.buf.extend_from_slice(b);
            match find_head_end(&self.buf, start) {
                Some(n) => {
                    let used = n - old;
                    let _ = b.split_to(used);
                    (n, true)
                }
                None => {
                    self.scanned = self.buf.len();
                    *b = Bytes::new();
                    return self.check_size();
                }
            }
        };
        if head_len > self.max_header_size {
            return Err(DecodeError::HeadTooLarge);
        }
        let head_bytes: Bytes = if from_buf {
            self.buf.truncate(head_len);
            std::mem::take(&mut self.buf).freeze()
        } else {
            b.split_to(head_len)
        };
        self.scanned = 0;
        self.head_size = head_len;
        self.body_size = 0;
        self.heads += 1;
        self.blank_lines = false;
        if self.response {
            self.response_head(&head_bytes, out)
        } else {
            self.request_head(&head_bytes, out)
        }
    }

    fn check_size(&self) -> Result<(), DecodeError> {
        if self.buf.len() > self.max_header_size {
            Err(DecodeError::HeadTooLarge)
        } else {
            Ok(())
        }
    }

    fn request_head(&mut self, bytes: &Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut raw);
        parsed(req.parse(bytes), "bad request line or header")?;
        let method = match req.method.unwrap_or("GET") {
            "GET" => Text::from_static("GET"),
            "POST" => Text::from_static("POST"),
            "HEAD" => Text::from_static("HEAD"),
            "PUT" => Text::from_static("PUT"),
            m => text(bytes, m),
        };
        let path = text(bytes, req.path.unwrap_or("/"));
        let http10 = req.version == Some(0);
        let protocol = Text::from_static(if http10 { "HTTP/1.0" } else { "HTTP/1.1" });
        let headers = collect_headers(bytes, req.headers)?;
        let mut framing = body_framing(&headers, false, http10, http10 || !self.require_host)?;
        let head = RequestHead { method, path, protocol, headers, scheme: None, authority: None };
        self.asked = if self.tunnels { Tunnel::asked_by(&head) } else { Tunnel::No };
        if head.method == "CONNECT" {
            if !crate::http::tunnel::authority_form(&head.path) {
                return Err(DecodeError::Malformed("the CONNECT target is not host:port"));
            }
            // A CONNECT's content means nothing (RFC 9110 §9.3.6): what follows
            // its head is the tunnel's, or the next request.
            framing = Framing::Length(0);
        }
        out(Event::start(Head::Request(head)));
        self.begin_body(framing, out);
        Ok(())
    }

    fn response_head(&mut self, bytes: &Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut raw);
        parsed(res.parse(bytes), "bad status line or header")?;
        let status = res.code.unwrap_or(200);
        let status_text = res.reason.map(|r| match r {
            "OK" => Text::from_static("OK"),
            r => text(bytes, r),
        });
        let http10 = res.version == Some(0);
        let protocol = Text::from_static(if http10 { "HTTP/1.0" } else { "HTTP/1.1" });
        let headers = collect_headers(bytes, res.headers)?;
        let next = self.expected.front().copied().unwrap_or_default();
        let opens = next.tunnel.opened_by(status);
        let informational = (100..200).contains(&status) && !opens;
        if !informational {
            self.expected.pop_front();
        }
        let bodiless = next.head_request || informational || status == 204 || status == 304;
        let framing = if bodiless || opens { Framing::Length(0) } else { body_framing(&headers, true, http10, true)? };
        self.asked = if opens { next.tunnel } else { Tunnel::No };
        out(Event::start(Head::Response(ResponseHead { status, status_text, protocol, headers })));
        self.begin_body(framing, out);
        Ok(())
    }

    fn begin_body(&mut self, framing: Framing, out: &mut impl FnMut(Event)) {
        match framing {
            Framing::Length(0) => self.finish(out),
            Framing::Length(n) => self.state = State::Body(n),
            Framing::Chunked => self.state = State::ChunkSize,
            Framing::UntilClose => self.state = State::BodyUntilClose,
        }
    }

    fn finish(&mut self, out: &mut impl FnMut(Event)) {
        self.state = match std::mem::take(&mut self.asked) {
            Tunnel::No => State::Head,
            // A response that opened its tunnel: raw from here.
            _ if self.response => State::Tunnel,
            _ => State::Held,
        };
        out(Event::MessageEnd(Box::new(Tail {
            head_size: self.head_size,
            body_size: self.body_size,
            ..Tail::default()
        })));
    }

    /// Reads one line of chunked framing (size line, the CRLF after data, or a trailer).
    fn chunk_line(&mut self, b: &mut Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        if self.state == State::ChunkDataEnd {
            // Only CRLF (or LF) may follow chunk data: anything else is wrong at once,
            // not once a line's worth of it has come.
            let first = self.buf.first().or(b.first()).copied();
            let second = if self.buf.is_empty() { b.get(1) } else { b.first() }.copied();
            let ok = matches!((first, second), (Some(b'\n'), _) | (Some(b'\r'), None | Some(b'\n')) | (None, _));
            if !ok {
                return Err(DecodeError::Malformed("missing CRLF after chunk"));
            }
        }
        let Some(nl) = b.iter().position(|&c| c == b'\n') else {
            self.buf.extend_from_slice(b);
            *b = Bytes::new();
            if self.buf.len() > MAX_CHUNK_LINE {
                return Err(DecodeError::Malformed("chunk line too long"));
            }
            return Ok(());
        };
        self.buf.extend_from_slice(&b.split_to(nl + 1));
        if self.buf.len() > MAX_CHUNK_LINE {
            return Err(DecodeError::Malformed("chunk line too long"));
        }
        let line = std::mem::take(&mut self.buf);
        let line = trim_eol(&line);
        match self.state {
            State::ChunkSize => {
                let n = chunk_size(line)?;
                self.trailer_size = 0;
                self.state = if n == 0 { State::Trailer } else { State::ChunkData(n) };
            }
            State::ChunkDataEnd => {
                if !line.is_empty() {
                    return Err(DecodeError::Malformed("missing CRLF after chunk"));
                }
                self.state = State::ChunkSize;
            }
            State::Trailer => {
                self.trailer_size += line.len() + 2;
                if self.trailer_size > self.max_header_size {
                    return Err(DecodeError::HeadTooLarge);
                }
                if line.is_empty() {
                    self.finish(out);
                }
            }
            _ => unreachable!("chunk_line is only called in chunk framing states"),
        }
        Ok(())
    }
}

enum Framing {
    Length(u64),
    Chunked,
    UntilClose,
}

/// The size of a chunk-size line: hex digits, then optional whitespace and
/// extensions (RFC 9112 §7.1). A sign, a prefix or stray bytes are errors.
fn chunk_size(line: &[u8]) -> Result<u64, DecodeError> {
    let digits = line.iter().take_while(|c| c.is_ascii_hexdigit()).count();
    let (size, rest) = line.split_at(digits);
    let rest_ok = match rest.iter().position(|&c| c != b' ' && c != b'\t') {
        None => true,
        Some(i) => rest[i] == b';',
    };
    if size.is_empty() || size.len() > 15 || !rest_ok {
        return Err(DecodeError::Malformed("bad chunk size"));
    }
    let size = std::str::from_utf8(size).map_err(|_| DecodeError::Malformed("bad chunk size"))?;
    u64::from_str_radix(size, 16).map_err(|_| DecodeError::Malformed("bad chunk size"))
}

/// `part` (a slice of `head`) as text sharing `head`'s memory.
/// What parsing a whole head with httparse came to; `bad` names a malformed one.
fn parsed(result: httparse::Result<usize>, bad: &'static str) -> Result<(), DecodeError> {
    match result {
        Ok(httparse::Status::Complete(_)) => Ok(()),
        Ok(httparse::Status::Partial) => Err(DecodeError::Malformed("incomplete head")),
        Err(httparse::Error::TooManyHeaders) => Err(DecodeError::HeadTooLarge),
        Err(_) => Err(DecodeError::Malformed(bad)),
    }
}

fn text(head: &Bytes, part: &str) -> Text {
    Text::from_utf8(head.slice_ref(part.as_bytes())).unwrap_or_default()
}

fn collect_headers(head: &Bytes, raw: &[httparse::Header<'_>]) -> Result<Headers, DecodeError> {
    let mut headers = Headers::with_capacity(raw.len());
    for h in raw {
        let value = std::str::from_utf8(h.value).map_err(|_| DecodeError::Malformed("header value is not UTF-8"))?;
        let value = value.trim();
        let value = if value.is_empty() { Text::default() } else { text(head, value) };
        let name = if h.name.bytes().any(|c| c.is_ascii_uppercase()) { lowercase(h.name) } else { text(head, h.name) };
        headers.append_lowercase(name, value);
    }
    Ok(headers)
}

/// How the body of a message with these headers is framed (RFC 9112 §6.3).
/// `http10` says the message is HTTP/1.0, which knows no transfer codings. For a
/// request, `Host` is checked on the same pass: at most one, and exactly one
/// unless `host_optional` (RFC 9112 §3.2).
fn body_framing(headers: &Headers, response: bool, http10: bool, host_optional: bool) -> Result<Framing, DecodeError> {
    let mut length: Option<u64> = None;
    let (mut has_te, mut chunked, mut chunked_last, mut other_coding) = (false, 0, false, false);
    let mut hosts = 0;
    for (name, value) in headers.iter() {
        match name {
            "host" => hosts += 1,
            "content-length" => {
                for part in value.split(',') {
                    let part = part.trim();
                    if part.is_empty() || part.len() > 18 || !part.bytes().all(|c| c.is_ascii_digit()) {
                        return Err(DecodeError::Malformed("bad content-length"));
                    }
                    let n: u64 = part.parse().map_err(|_| DecodeError::Malformed("bad content-length"))?;
                    if length.is_some_and(|l| l != n) {
                        return Err(DecodeError::Malformed("conflicting content-length"));
                    }
                    length = Some(n);
                }
            }
            "transfer-encoding" => {
                has_te = true;
                for coding in value.split(',').map(str::trim).filter(|c| !c.is_empty()) {
                    // A coding may carry parameters (`gzip;q=1`); only its name counts.
                    let name = coding.split(';').next().unwrap_or("").trim();
                    chunked_last = name.eq_ignore_ascii_case("chunked");
                    if chunked_last {
                        chunked += 1;
                    } else {
                        other_coding = true;
                    }
                }
            }
            _ => {}
        }
    }
    if !response {
        match hosts {
            0 if !host_optional => return Err(DecodeError::Malformed("missing Host header")),
            0 | 1 => {}
            _ => return Err(DecodeError::Malformed("more than one Host header")),
        }
    }
    if !has_te {
        return Ok(match length {
            Some(n) => Framing::Length(n),
            None if response => Framing::UntilClose,
            None => Framing::Length(0),
        });
    }
    if length.is_some() {
        return Err(DecodeError::Malformed("both content-length and transfer-encoding"));
    }
    if http10 && !response {
        return Err(DecodeError::Malformed("transfer-encoding in an HTTP/1.0 request"));
    }
    if chunked > 1 {
        return Err(DecodeError::Malformed("chunked applied twice"));
    }
    if other_coding {
        // Only `chunked` is decoded; passing another coding on would need it kept.
        return Err(if response {
            DecodeError::Malformed("unsupported transfer-encoding")
        } else {
            DecodeError::NotImplemented("a transfer coding other than chunked")
        });
    }
    match (chunked_last, response) {
        (true, _) => Ok(Framing::Chunked),
        (false, true) => Ok(Framing::UntilClose),
        (false, false) => Err(DecodeError::Malformed("transfer-encoding without chunked last")),
    }
}

/// Finds the end of a head (after the blank line), scanning from `from`.
fn find_head_end(b: &[u8], from: usize) -> Option<usize> {
    let rest = b.get(from..)?;
    for i in memchr::memchr_iter(b'\n', rest).map(|i| from + i) {
        match (b.get(i + 1), b.get(i + 2)) {
            (Some(b'\n'), _) => return Some(i + 2),
            (Some(b'\r'), Some(b'\n')) => return Some(i + 3),
            _ => {}
        }
    }
    None
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` split at `at` (and whole), returning a text trace.
    fn trace(dec: &mut Decoder, parts: &[&[u8]]) -> Result<String, DecodeError> {
        let mut s = String::new();
        let mut body = Vec::new();
        for p in parts {
            let mut out = |ev: Event| match ev {
                Event::MessageStart(h) => match *h {
                    Head::Request(r) => {
                        s.push_str(&format!("[{} {} {} {}]", r.method, r.path, r.protocol, r.headers.len()))
                    }
                    Head::Response(r) => s.push_str(&format!("[{} {}]", r.status, r.headers.len())),
                    Head::None | Head::WebSocket(_) | Head::Fields(_) => s.push_str("[?]"),
                },
                Event::Data(d) => body.extend(d.to_vec()),
                Event::MessageEnd(_) => {
                    s.push_str(&String::from_utf8_lossy(&body));
                    s.push('|');
                    body.clear();
                }
                Event::StreamEnd(_) => s.push('$'),
            };
            dec.input(Bytes::copy_from_slice(p).into(), &mut out)?;
        }
        Ok(s)
    }

    fn every_split(input: &[u8], response: bool) -> Vec<Result<String, DecodeError>> {
        let mut results = Vec::new();
        for at in 0..=input.len() {
            let mut dec = if response { Decoder::responses(1024) } else { Decoder::requests(1024) };
            results.push(trace(&mut dec, &[&input[..at], &input[at..]]));
        }
        // Byte by byte, too.
        let mut dec = if response { Decoder::responses(1024) } else { Decoder::requests(1024) };
        let bytes: Vec<&[u8]> = input.chunks(1).collect();
        results.push(trace(&mut dec, &bytes));
        results
    }

    fn assert_all(input: &[u8], response: bool, want: Result<&str, DecodeError>) {
        for (i, got) in every_split(input, response).into_iter().enumerate() {
            assert_eq!(got.as_deref().map_err(|e| *e), want, "split at {i}");
        }
    }

    #[test]
    fn pipelined_requests_with_lengths_and_chunks() {
        let input = b"GET / HTTP/1.1\r\nHost: a\r\n\r\n\
POST /p HTTP/1.1\r\nhost: a\r\nContent-Length: 5\r\n\r\nhello\
PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2 \t; e\r\nde\r\n0\r\nT: 1\r\n\r\n\
GET /old HTTP/1.0\r\n\r\n";
        assert_all(
            input,
            false,
            Ok("[GET / HTTP/1.1 1]|[POST /p HTTP/1.1 2]hello|[PUT /c HTTP/1.1 2]abcde|[GET /old HTTP/1.0 0]|"),
        );
    }

    #[test]
    fn malformed_requests_are_rejected() {
        let m = DecodeError::Malformed;
        for (input, want) in [
            (&b"GET / HTTP/1.1\r\nHost: a\r\nBad Header\r\n\r\n"[..], m("bad request line or header")),
            (b"GET / HTTP/1.1\r\nHost: a\r\nContent-Length: x1\r\n\r\n", m("bad content-length")),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
                m("both content-length and transfer-encoding"),
            ),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n", m("bad chunk size")),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n+5\r\n", m("bad chunk size")),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\n", m("bad chunk size")),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n 5\r\n", m("bad chunk size")),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n5 x\r\n", m("bad chunk size")),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\nab\r\n",
                m("missing CRLF after chunk"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\na\rX",
                m("missing CRLF after chunk"),
            ),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1\r\naX", m("missing CRLF after chunk")),
            (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked, chunked\r\n\r\n", m("chunked applied twice")),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: identity\r\n\r\n",
                DecodeError::NotImplemented("a transfer coding other than chunked"),
            ),
            (
                b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
                DecodeError::NotImplemented("a transfer coding other than chunked"),
            ),
            (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", m("transfer-encoding in an HTTP/1.0 request")),
            (b"GET / HTTP/1.1\r\nHost: a\r\nhost: b\r\n\r\n", m("more than one Host header")),
            (b"GET / HTTP/1.0\r\nHost: a\r\nhost: a\r\n\r\n", m("more than one Host header")),
        ] {
            for (i, got) in every_split(input, false).into_iter().enumerate() {
                assert_eq!(got, Err(want), "{:?} split at {i}", String::from_utf8_lossy(input));
            }
        }
        assert_eq!(DecodeError::NotImplemented("x").status(), 501);
        // Without Host: refused only when asked to be strict.
        let mut dec = Decoder::requests(1024).require_host(true);
        assert_eq!(trace(&mut dec, &[b"GET / HTTP/1.1\r\n\r\n"]), Err(m("missing Host header")));
        let mut dec = Decoder::requests(1024);
        assert_eq!(trace(&mut dec, &[b"GET / HTTP/1.1\r\n\r\n"]).unwrap(), "[GET / HTTP/1.1 0]|");
    }

    #[test]
    fn long_chunk_extensions_and_trailers_are_bounded() {
        let mut input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n1;".to_vec();
        input.extend(std::iter::repeat_n(b'x', 2000));
        assert_all(&input, false, Err(DecodeError::Malformed("chunk line too long")));
        let mut input = b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n".to_vec();
        for i in 0..100 {
            input.extend(format!("t{i}: {}\r\n", "v".repeat(20)).as_bytes());
        }
        assert_all(&input, false, Err(DecodeError::HeadTooLarge));
    }

    #[test]
    fn responses_with_codings_other_than_chunked_are_refused() {
        assert_all(
            b"HTTP/1.1 200 OK\r\ntransfer-encoding: gzip, chunked\r\n\r\n",
            true,
            Err(DecodeError::Malformed("unsupported transfer-encoding")),
        );
    }

    #[test]
    fn oversized_head_is_431() {
        let mut input = b"GET / HTTP/1.1\r\nHost: a\r\n".to_vec();
        for i in 0..100 {
            input.extend(format!("x-h{i}: {}\r\n", "v".repeat(20)).as_bytes());
        }
        input.extend(b"\r\n");
        assert_all(&input, false, Err(DecodeError::HeadTooLarge));
    }

    #[test]
    fn responses_by_length_chunks_close_and_bodiless() {
        let input = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi\
HTTP/1.1 204 No Content\r\n\r\n\
HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n";
        assert_all(input, true, Ok("[200 1]hi|[204 0]|[200 1]x|"));

        let mut dec = Decoder::responses(1024);
        let mut s = trace(&mut dec, &[b"HTTP/1.0 200 OK\r\n\r\nuntil close"]).unwrap();
        assert_eq!(s, "[200 0]");
        dec.end(&mut |ev| {
            if let Event::MessageEnd(_) = ev {
                s.push('|')
            }
        })
        .unwrap();
        assert_eq!(s, "[200 0]|");
    }

    #[test]
    fn response_to_head_request_has_no_body() {
        let mut dec = Decoder::responses(1024);
        dec.expect_response(true, Tunnel::No);
        let s = trace(
            &mut dec,
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"],
        )
        .unwrap();
        assert_eq!(s, "[200 1]|[404 1]|");
    }

    /// Feeds `input` split at `at` to a request decoder that takes tunnels;
    /// at the first hold, the answer opens the tunnel (`open`) or not.
    fn tunnel_trace(input: &[u8], at: usize, open: bool) -> String {
        let mut dec = Decoder::requests(1024).tunnels(true);
        let mut s = String::new();
        let record = |ev: Event, s: &mut String| match ev {
            Event::MessageStart(h) => s.push_str(&format!("[{}]", h.request().map_or("?", |r| r.method.as_str()))),
            Event::Data(d) => s.push_str(&String::from_utf8_lossy(&d.to_vec())),
            Event::MessageEnd(_) => s.push('|'),
            Event::StreamEnd(_) => s.push('$'),
        };
        let mut answered = false;
        for part in [&input[..at], &input[at..]] {
            dec.input(Bytes::copy_from_slice(part).into(), &mut |ev| record(ev, &mut s)).unwrap();
            if dec.holding() && !answered {
                answered = true;
                if open {
                    dec.open_tunnel(&mut |ev| record(ev, &mut s));
                } else {
                    dec.resume(&mut |ev| record(ev, &mut s)).unwrap();
                }
            }
        }
        s
    }

    #[test]
    fn what_follows_a_tunnel_request_waits_for_the_answer_then_is_raw_or_the_next_request() {
        let input = b"CONNECT db:5432 HTTP/1.1\r\nContent-Length: 3\r\n\r\nGET / HTTP/1.1\r\n\r\n";
        for at in 0..=input.len() {
            // Opened: the bytes after the head are the tunnel's, whatever they look like
            // (a CONNECT's Content-Length means nothing).
            assert_eq!(tunnel_trace(input, at, true), "[CONNECT]|GET / HTTP/1.1\r\n\r\n", "split at {at}");
            // Refused: they are the next request.
            assert_eq!(tunnel_trace(input, at, false), "[CONNECT]|[GET]|", "split at {at}");
        }
        let ws = b"GET /ws HTTP/1.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nframes";
        for at in 0..=ws.len() {
            assert_eq!(tunnel_trace(ws, at, true), "[GET]|frames", "split at {at}");
        }
        // A CONNECT to something that is not host:port is a bad request.
        let mut dec = Decoder::requests(1024).tunnels(true);
        assert!(trace(&mut dec, &[b"CONNECT /etc/passwd HTTP/1.1\r\n\r\n"]).is_err());
        // A decoder that takes no tunnels reads CONNECT as a request without a body.
        let mut dec = Decoder::requests(1024);
        assert_eq!(
            trace(&mut dec, &[b"CONNECT a:1 HTTP/1.1\r\n\r\nGET / HTTP/1.1\r\n\r\n"]).unwrap(),
            "[CONNECT a:1 HTTP/1.1 0]|[GET / HTTP/1.1 0]|"
        );
    }

    #[test]
    fn a_client_that_does_not_wait_for_the_tunnel_answer_is_cut_off_past_the_limit() {
        let mut dec = Decoder::requests(1024).tunnels(true);
        let mut out = |_: Event| {};
        dec.input(Bytes::from_static(b"CONNECT a:1 HTTP/1.1\r\n\r\n").into(), &mut out).unwrap();
        assert!(dec.holding());
        let big = Bytes::from(vec![b'x'; MAX_HELD + 1]);
        assert!(dec.input(big.into(), &mut out).is_err());
    }

    #[test]
    fn a_response_that_opens_the_tunnel_is_followed_by_raw_bytes_and_one_that_does_not_is_not() {
        let mut dec = Decoder::responses(1024);
        dec.expect_response(false, Tunnel::Upgrade);
        let mut raw = Vec::new();
        let mut ends = 0;
        let input = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nHTTP/1.1 200 OK\r\n\r\n";
        for piece in input.chunks(7) {
            dec.input(Bytes::copy_from_slice(piece).into(), &mut |ev| match ev {
                Event::Data(d) if ends == 1 => raw.extend(d.to_vec()),
                Event::MessageEnd(_) => ends += 1,
                _ => {}
            })
            .unwrap();
        }
        assert_eq!((ends, &raw[..]), (1, &b"HTTP/1.1 200 OK\r\n\r\n"[..]));
        assert!(dec.in_tunnel());
        let mut dec = Decoder::responses(1024);
        dec.expect_response(false, Tunnel::Connect);
        let s = trace(&mut dec, &[b"HTTP/1.1 407 Proxy Authentication Required\r\ncontent-length: 2\r\n\r\nno"]);
        assert_eq!(s.unwrap(), "[407 1]no|");
        assert!(!dec.in_tunnel());
    }
}

#[cfg(test)]
mod robustness {
    use super::*;

    /// xorshift, so the test is the same on every run.
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 << 13;
            self.0 ^= self.0 >> 7;
            self.0 ^= self.0 << 17;
            self.0
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n.max(1) as u64) as usize
        }
    }

    const SEEDS: &[&[u8]] = &[
        b"GET / HTTP/1.1\r\nHost: a\r\n\r\n",
        b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /c HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
        b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nhi",
        b"HTTP/1.1 200 OK\r\ntransfer-encoding: chunked\r\n\r\n1\r\nx\r\n0\r\n\r\n",
        b"HTTP/1.0 204 No Content\r\n\r\n",
    ];

    #[test]
    fn garbage_and_mutated_messages_never_panic() {
        let mut rng = Rng(0x2545F4914F6CDD1D);
        for round in 0..20_000 {
            let mut input: Vec<u8> = if round % 4 == 0 {
                (0..rng.below(300)).map(|_| rng.next() as u8).collect()
            } else {
                let mut v = Vec::new();
                for _ in 0..1 + rng.below(3) {
                    v.extend_from_slice(SEEDS[rng.below(SEEDS.len())]);
                }
                for _ in 0..rng.below(6) {
                    let i = rng.below(v.len());
                    match rng.below(3) {
                        0 => v[i] = rng.next() as u8,
                        1 => {
                            v.remove(i);
                        }
                        _ => v.insert(i, b"\r\n:;0x9 F"[rng.below(9)]),
                    }
                }
                v
            };
            input.truncate(4096);
            for response in [false, true] {
                let mut dec = if response { Decoder::responses(256) } else { Decoder::requests(256) };
                let mut rest = &input[..];
                let mut events = 0usize;
                let mut failed = false;
                while !rest.is_empty() {
                    let n = 1 + rng.below(rest.len());
                    let (part, tail) = rest.split_at(n);
                    rest = tail;
                    if dec.input(Bytes::copy_from_slice(part).into(), &mut |_| events += 1).is_err() {
                        failed = true;
                        break;
                    }
                }
                if !failed {
                    let _ = dec.end(&mut |_| events += 1);
                }
                assert!(events <= input.len() * 3 + 3, "events are bounded by the input");
            }
        }
    }
}
