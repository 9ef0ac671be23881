//! MIME multipart bodies (RFC 2046 §5.1) as a push parser: the body of a
//! `multipart/*` message in, one message per part out, each with its header
//! fields as the head and its content as the body, as the bytes arrive. A part
//! that is itself multipart is split the same way (up to `MAX_DEPTH` levels);
//! the preamble and the epilogue are dropped.
//!
//! The CRLF before each delimiter belongs to the delimiter (RFC 2046 §5.1.1),
//! so a part's body does not end with it; Pipy keeps it in the body.

use crate::event::Event;
use crate::head::{Head, Headers, ResponseHead};
use bytes::{Bytes, BytesMut};
use memchr::memmem;

/// Most levels of multipart inside multipart that are split.
pub const MAX_DEPTH: usize = 4;

/// Longest header block of one part.
pub const MAX_HEADER: usize = 64 << 10;

/// Longest boundary RFC 2046 allows.
const MAX_BOUNDARY: usize = 70;

/// The boundary of a `multipart/*` content type, if it is one with a usable boundary.
pub fn boundary(content_type: &str) -> Option<&str> {
    let (kind, params) = content_type.split_once(';')?;
    if !kind.trim().to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    params.split(';').find_map(|p| {
        let (k, v) = p.split_once('=')?;
        if !k.trim().eq_ignore_ascii_case("boundary") {
            return None;
        }
        let v = v.trim();
        let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
        (!v.is_empty() && v.len() <= MAX_BOUNDARY).then_some(v)
    })
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum State {
    /// Before the first delimiter.
    Preamble,
    /// After a delimiter: the rest of its line, or `--` for the last one.
    AfterDelimiter,
    /// A part's header lines.
    Headers,
    /// A part's content.
    Body,
    /// After the close delimiter.
    Epilogue,
}

/// Why a multipart body cannot be read.
pub type Error = &'static str;

/// Splits one multipart body into parts.
#[derive(Debug)]
pub struct Parser {
    /// `\r\n--boundary`.
    delimiter: Vec<u8>,
    state: State,
    /// Bytes not yet used: never more than a header block, or a delimiter's length in a body.
    pending: BytesMut,
    headers: Headers,
    child: Option<Box<Parser>>,
    depth: usize,
}

impl Parser {
    /// A parser of a body whose parts are separated by `boundary`.
    pub fn new(boundary: &str) -> Self {
        Self::at_depth(boundary, 0)
    }

    fn at_depth(boundary: &str, depth: usize) -> Self {
        let mut delimiter = b"\r\n--".to_vec();
        delimiter.extend_from_slice(boundary.as_bytes());
        // The first delimiter may open the body without a CRLF before it.
        let pending = BytesMut::from(&b"\r\n"[..]);
        Parser { delimiter, state: State::Preamble, pending, headers: Headers::new(), child: None, depth }
    }

    /// Takes more of the body; `out` gets each part's events.
    pub fn feed(&mut self, chunk: Bytes, out: &mut dyn FnMut(Event)) -> Result<(), Error> {
        // A line still without its end (a header sent a byte at a time) is
        // gathered without scanning or copying again what came of it before.
        let in_line = match self.state {
            State::Headers => !self.pending.is_empty(),
            // Past the first two bytes, which told it is not the closing `--`.
            State::AfterDelimiter => self.pending.len() >= 2,
            _ => false,
        };
        if in_line && memchr::memchr(b'\n', &chunk).is_none() {
            if self.pending.len() + chunk.len() > MAX_HEADER {
                return Err(if self.state == State::Headers {
                    "a part's header over 64 KiB"
                } else {
                    "a delimiter line too long"
                });
            }
            self.pending.extend_from_slice(&chunk);
            return Ok(());
        }
        let mut buf: Bytes = if self.pending.is_empty() {
            chunk
        } else {
            self.pending.extend_from_slice(&chunk);
            self.pending.split().freeze()
        };
        loop {
            match self.state {
                State::Epilogue => return Ok(()),
                State::Preamble | State::Body => {
                    let found = memmem::find(&buf, &self.delimiter);
                    let upto = found.unwrap_or_else(|| buf.len() - self.partial_delimiter(&buf));
                    if self.state == State::Body && upto > 0 {
                        self.content(buf.slice(..upto), out)?;
                    }
                    match found {
                        Some(at) => {
                            buf = buf.slice(at + self.delimiter.len()..);
                            if self.state == State::Body {
                                self.end_part(out)?;
                            }
                            self.state = State::AfterDelimiter;
                        }
                        None => {
                            self.pending.extend_from_slice(&buf[upto..]);
                            return Ok(());
                        }
                    }
                }
                State::AfterDelimiter => {
                    if buf.len() < 2 {
                        self.pending.extend_from_slice(&buf);
                        return Ok(());
                    }
                    if buf.starts_with(b"--") {
                        self.state = State::Epilogue;
                        return Ok(());
                    }
                    // Transport padding, then the line's end.
                    match memchr::memchr(b'\n', &buf) {
                        Some(i) => {
                            buf = buf.slice(i + 1..);
                            self.state = State::Headers;
                        }
                        None if buf.len() > MAX_HEADER => return Err("a delimiter line too long"),
                        None => {
                            self.pending.extend_from_slice(&buf);
                            return Ok(());
                        }
                    }
                }
                State::Headers => {
                    let Some(i) = memchr::memchr(b'\n', &buf) else {
                        if buf.len() > MAX_HEADER {
                            return Err("a part's header over 64 KiB");
                        }
                        self.pending.extend_from_slice(&buf);
                        return Ok(());
                    };
                    let line = &buf[..i];
                    let line = line.strip_suffix(b"\r").unwrap_or(line);
                    if line.is_empty() {
                        self.start_part(out);
                        self.state = State::Body;
                    } else {
                        self.header_line(line)?;
                    }
                    buf = buf.slice(i + 1..);
                }
            }
        }
    }

    /// The body ends; `out` gets the end of a part left open.
    pub fn end(&mut self, out: &mut dyn FnMut(Event)) -> Result<(), Error> {
        if self.state == State::Body {
            let rest = self.pending.split().freeze();
            if !rest.is_empty() {
                self.content(rest, out)?;
            }
            self.end_part(out)?;
        }
        self.state = State::Epilogue;
        Ok(())
    }

    /// How many bytes at the end of `buf` could begin a delimiter.
    fn partial_delimiter(&self, buf: &[u8]) -> usize {
        let max = (self.delimiter.len() - 1).min(buf.len());
        (1..=max).rev().find(|&n| buf[buf.len() - n..] == self.delimiter[..n]).unwrap_or(0)
    }

    fn header_line(&mut self, line: &[u8]) -> Result<(), Error> {
        let size: usize = self.headers.iter().map(|(k, v)| k.len() + v.len() + 4).sum();
        if size + line.len() > MAX_HEADER {
            return Err("a part's header over 64 KiB");
        }
        let line = String::from_utf8_lossy(line);
        if let Some((name, value)) = line.split_once(':') {
            let name = name.trim();
            if !name.is_empty() {
                self.headers.append(name, value.trim().to_string());
            }
        }
        Ok(())
    }

    fn start_part(&mut self, out: &mut dyn FnMut(Event)) {
        let headers = std::mem::take(&mut self.headers);
        let nested =
            headers.get("content-type").and_then(boundary).filter(|_| self.depth + 1 < MAX_DEPTH).map(str::to_owned);
        match nested {
            Some(b) => self.child = Some(Box::new(Parser::at_depth(&b, self.depth + 1))),
            None => out(Event::start(Head::Response(ResponseHead { headers, ..Default::default() }))),
        }
    }

    fn content(&mut self, bytes: Bytes, out: &mut dyn FnMut(Event)) -> Result<(), Error> {
        match &mut self.child {
            Some(child) => child.feed(bytes, out),
            None => {
                out(Event::Data(bytes.into()));
                Ok(())
            }
        }
    }

    fn end_part(&mut self, out: &mut dyn FnMut(Event)) -> Result<(), Error> {
        match self.child.take() {
            Some(mut child) => child.end(out),
            None => {
                out(Event::message_end());
                Ok(())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const BODY: &[u8] = b"preamble\r\n--xyz\r\nContent-Type: text/plain\r\nX-A: 1\r\n\r\nfirst\r\n--xyz  \r\n\r\nsecond\r\n\r\n--xyz\r\ncontent-type: multipart/mixed; boundary=\"in\"\r\n\r\n--in\r\n\r\ninner\r\n--in--\r\n\r\n--xyz--\r\nepilogue";

    fn parts(pieces: &[&[u8]]) -> Vec<(Option<String>, String)> {
        let mut p = Parser::new("xyz");
        let mut events = Vec::new();
        for piece in pieces {
            p.feed(Bytes::copy_from_slice(piece), &mut |e| events.push(e)).unwrap();
        }
        p.end(&mut |e| events.push(e)).unwrap();
        let mut out = Vec::new();
        for e in events {
            match e {
                Event::MessageStart(h) => {
                    out.push((h.headers().unwrap().get("content-type").map(str::to_owned), String::new()))
                }
                Event::Data(d) => out.last_mut().unwrap().1.push_str(&String::from_utf8_lossy(&d.to_vec())),
                Event::MessageEnd(_) => out.last_mut().unwrap().1.push('|'),
                Event::StreamEnd(_) => unreachable!(),
            }
        }
        out
    }

    #[test]
    fn parts_split_at_every_byte_are_the_same_parts() {
        let want = vec![
            (Some("text/plain".to_string()), "first|".to_string()),
            (None, "second\r\n|".to_string()),
            (None, "inner|".to_string()),
        ];
        assert_eq!(parts(&[BODY]), want);
        for cut in 1..BODY.len() {
            assert_eq!(parts(&[&BODY[..cut], &BODY[cut..]]), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = BODY.chunks(1).collect();
        assert_eq!(parts(&bytes), want);
    }

    #[test]
    fn a_body_cut_short_ends_its_last_part_and_random_bodies_never_panic() {
        assert_eq!(parts(&[b"--xyz\r\n\r\npartial\r\n--xy"]), vec![(None, "partial\r\n--xy|".to_string())]);
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let alphabet = b"-xyz\r\n: ab";
        for _ in 0..2000 {
            let mut body = Vec::new();
            for _ in 0..64 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                body.push(alphabet[(seed % alphabet.len() as u64) as usize]);
            }
            let mut p = Parser::new("xyz");
            let mut starts = 0i32;
            let mut count = |e: Event| match e {
                Event::MessageStart(_) => starts += 1,
                Event::MessageEnd(_) => starts -= 1,
                _ => {}
            };
            for piece in body.chunks(5) {
                p.feed(Bytes::copy_from_slice(piece), &mut count).unwrap();
            }
            p.end(&mut count).unwrap();
            assert_eq!(starts, 0, "every part started is ended: {:?}", String::from_utf8_lossy(&body));
        }
    }

    #[test]
    fn boundaries_come_from_multipart_content_types_only() {
        assert_eq!(boundary("multipart/form-data; boundary=----x1"), Some("----x1"));
        assert_eq!(boundary("Multipart/Mixed; charset=a; BOUNDARY=\"q q\""), Some("q q"));
        assert_eq!(boundary("text/plain; boundary=a"), None);
        assert_eq!(boundary("multipart/mixed"), None);
        assert_eq!(boundary(&format!("multipart/mixed; boundary={}", "b".repeat(71))), None);
    }
}
