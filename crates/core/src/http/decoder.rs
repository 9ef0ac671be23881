//! HTTP/1.x decoder: bytes in, MessageStart / Data / MessageEnd out. Bodies are
//! passed on as they arrive (never buffered whole); heads are bounded by
//! `max_header_size`. Malformed input stops the decoder with a `DecodeError`.

use crate::data::Data;
use crate::event::Event;
use crate::head::{lowercase, Head, Headers, RequestHead, ResponseHead, Tail, Text};
use bytes::{Bytes, BytesMut};
use std::collections::VecDeque;

/// Why the input is not valid HTTP.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DecodeError {
    /// Malformed start line, header, length or chunk (answer `400`).
    Malformed(&'static str),
    /// The head is larger than the limit (answer `431`).
    HeadTooLarge,
}

impl DecodeError {
    /// The status a server answers with.
    pub fn status(self) -> u16 {
        match self {
            DecodeError::Malformed(_) => 400,
            DecodeError::HeadTooLarge => 431,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Malformed(why) => write!(f, "malformed HTTP: {why}"),
            DecodeError::HeadTooLarge => f.write_str("HTTP head over the size limit"),
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
    Failed,
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
    /// For a response decoder: whether each expected response answers a HEAD request.
    head_requests: VecDeque<bool>,
}

impl Decoder {
    /// A decoder of requests (a server's side).
    pub fn requests(max_header_size: usize) -> Self {
        Self::new(false, max_header_size)
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
            head_requests: VecDeque::new(),
        }
    }

    /// For a response decoder: the next request sent was (or was not) a HEAD request,
    /// so its response has (or may have) a body.
    pub fn expect_response(&mut self, to_head_request: bool) {
        self.head_requests.push_back(to_head_request);
    }

    /// True between messages (nothing half-decoded).
    pub fn is_idle(&self) -> bool {
        self.state == State::Head && self.buf.is_empty()
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
            State::Failed => Ok(()),
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
                    out(Event::Data(part.into()));
                    if left as usize == n {
                        self.finish(out);
                    } else {
                        self.state = State::Body(left - n as u64);
                    }
                }
                State::BodyUntilClose => {
                    self.body_size += b.len();
                    out(Event::Data(std::mem::take(&mut b).into()));
                }
                State::ChunkSize | State::ChunkDataEnd | State::Trailer => {
                    if let Err(e) = self.chunk_line(&mut b, out) {
                        self.state = State::Failed;
                        return Err(e);
                    }
                }
                State::ChunkData(left) => {
                    let n = (left as usize).min(b.len());
                    let part = b.split_to(n);
                    self.body_size += n;
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
        match req.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(DecodeError::Malformed("incomplete head")),
            Err(httparse::Error::TooManyHeaders) => return Err(DecodeError::HeadTooLarge),
            Err(_) => return Err(DecodeError::Malformed("bad request line or header")),
        }
        let method = match req.method.unwrap_or("GET") {
            "GET" => Text::from_static("GET"),
            "POST" => Text::from_static("POST"),
            "HEAD" => Text::from_static("HEAD"),
            "PUT" => Text::from_static("PUT"),
            m => text(bytes, m),
        };
        let path = text(bytes, req.path.unwrap_or("/"));
        let protocol = Text::from_static(if req.version == Some(0) { "HTTP/1.0" } else { "HTTP/1.1" });
        let headers = collect_headers(bytes, req.headers)?;
        let framing = body_framing(&headers, false)?;
        out(Event::start(Head::Request(RequestHead { method, path, protocol, headers })));
        self.begin_body(framing, out);
        Ok(())
    }

    fn response_head(&mut self, bytes: &Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        let mut raw = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut res = httparse::Response::new(&mut raw);
        match res.parse(bytes) {
            Ok(httparse::Status::Complete(_)) => {}
            Ok(httparse::Status::Partial) => return Err(DecodeError::Malformed("incomplete head")),
            Err(httparse::Error::TooManyHeaders) => return Err(DecodeError::HeadTooLarge),
            Err(_) => return Err(DecodeError::Malformed("bad status line or header")),
        }
        let status = res.code.unwrap_or(200);
        let status_text = res.reason.map(|r| match r {
            "OK" => Text::from_static("OK"),
            r => text(bytes, r),
        });
        let protocol = Text::from_static(if res.version == Some(0) { "HTTP/1.0" } else { "HTTP/1.1" });
        let headers = collect_headers(bytes, res.headers)?;
        let informational = (100..200).contains(&status);
        let to_head = if informational { false } else { self.head_requests.pop_front().unwrap_or(false) };
        let bodiless = to_head || informational || status == 204 || status == 304;
        let framing = if bodiless { Framing::Length(0) } else { body_framing(&headers, true)? };
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
        self.state = State::Head;
        out(Event::MessageEnd(Box::new(Tail { head_size: self.head_size, body_size: self.body_size })));
    }

    /// Reads one line of chunked framing (size line, the CRLF after data, or a trailer).
    fn chunk_line(&mut self, b: &mut Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
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
                let size = line.split(|&c| c == b';').next().unwrap_or(&[]);
                let size = std::str::from_utf8(size).map_err(|_| DecodeError::Malformed("bad chunk size"))?.trim();
                if size.is_empty() || size.len() > 15 {
                    return Err(DecodeError::Malformed("bad chunk size"));
                }
                let n = u64::from_str_radix(size, 16).map_err(|_| DecodeError::Malformed("bad chunk size"))?;
                self.state = if n == 0 { State::Trailer } else { State::ChunkData(n) };
            }
            State::ChunkDataEnd => {
                if !line.is_empty() {
                    return Err(DecodeError::Malformed("missing CRLF after chunk"));
                }
                self.state = State::ChunkSize;
            }
            State::Trailer => {
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

/// `part` (a slice of `head`) as text sharing `head`'s memory.
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

fn body_framing(headers: &Headers, response: bool) -> Result<Framing, DecodeError> {
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut has_te = false;
    for (name, value) in headers.iter() {
        match name {
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
                chunked = value.rsplit(',').next().is_some_and(|last| last.trim().eq_ignore_ascii_case("chunked"));
            }
            _ => {}
        }
    }
    if has_te && length.is_some() {
        return Err(DecodeError::Malformed("both content-length and transfer-encoding"));
    }
    if has_te {
        return match (chunked, response) {
            (true, _) => Ok(Framing::Chunked),
            (false, true) => Ok(Framing::UntilClose),
            (false, false) => Err(DecodeError::Malformed("unsupported transfer-encoding")),
        };
    }
    match length {
        Some(n) => Ok(Framing::Length(n)),
        None if response => Ok(Framing::UntilClose),
        None => Ok(Framing::Length(0)),
    }
}

/// Finds the end of a head (after the blank line), scanning from `from`.
fn find_head_end(b: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    while i < b.len() {
        if b[i] == b'\n' {
            if b.get(i + 1) == Some(&b'\n') {
                return Some(i + 2);
            }
            if b.get(i + 1) == Some(&b'\r') && b.get(i + 2) == Some(&b'\n') {
                return Some(i + 3);
            }
        }
        i += 1;
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
                    Head::None => s.push_str("[?]"),
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
POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello\
PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n2\r\nde\r\n0\r\nT: 1\r\n\r\n\
GET /old HTTP/1.0\r\n\r\n";
        assert_all(
            input,
            false,
            Ok("[GET / HTTP/1.1 1]|[POST /p HTTP/1.1 1]hello|[PUT /c HTTP/1.1 1]abcde|[GET /old HTTP/1.0 0]|"),
        );
    }

    #[test]
    fn malformed_requests_are_rejected() {
        assert_all(
            b"GET / HTTP/1.1\r\nBad Header\r\n\r\n",
            false,
            Err(DecodeError::Malformed("bad request line or header")),
        );
        assert_all(
            b"GET / HTTP/1.1\r\nContent-Length: x1\r\n\r\n",
            false,
            Err(DecodeError::Malformed("bad content-length")),
        );
        assert_all(
            b"POST / HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n",
            false,
            Err(DecodeError::Malformed("both content-length and transfer-encoding")),
        );
        assert_all(
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            false,
            Err(DecodeError::Malformed("bad chunk size")),
        );
    }

    #[test]
    fn oversized_head_is_431() {
        let mut input = b"GET / HTTP/1.1\r\n".to_vec();
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
        dec.expect_response(true);
        let s = trace(
            &mut dec,
            &[b"HTTP/1.1 200 OK\r\ncontent-length: 5\r\n\r\nHTTP/1.1 404 Not Found\r\ncontent-length: 0\r\n\r\n"],
        )
        .unwrap();
        assert_eq!(s, "[200 1]|[404 1]|");
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
        b"POST /p HTTP/1.1\r\nContent-Length: 5\r\n\r\nhello",
        b"PUT /c HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3;x=y\r\nabc\r\n0\r\nT: 1\r\n\r\n",
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
