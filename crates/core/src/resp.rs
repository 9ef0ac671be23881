//! RESP, the Redis protocol (RESP2, what Pipy speaks): a push parser that turns
//! bytes, in any pieces, into one `Payload` per top-level value, and the
//! encoder back. Simple strings are text, errors `Payload::Error`, integers
//! `Int`, bulk strings bytes, arrays lists, and `$-1` / `*-1` null.
//!
//! What a peer sends is bounded: a line (a simple string, an error, a length)
//! is at most `MAX_LINE` bytes, nesting at most `payload::MAX_DEPTH` levels,
//! and one top-level value at most the decoder's `limit` bytes, each value
//! counted with what it costs to hold (so a million one-byte integers cannot
//! take a hundred times their size; an error reply counts for more, as the
//! `Error` object a script sees it as). Past a bound, or on a byte that starts
//! no RESP value, decoding fails and the stream should end.

use crate::data::Data;
use crate::payload::{Payload, MAX_DEPTH};

/// The longest line: Redis's own limit for inline requests.
pub const MAX_LINE: usize = 64 * 1024;

/// What holding one value costs beyond its bytes, for the size bound.
const VALUE_COST: usize = 32;

/// What an error costs beyond that: a script sees it as an `Error` object,
/// about ten times a plain value.
const ERROR_COST: usize = 288;

/// Why decoding stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failure(pub String);

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the decoder found.
#[derive(Debug, PartialEq)]
pub enum Found {
    /// A top-level value has begun.
    Start,
    /// A top-level value, whole.
    Value(Payload),
}

enum State {
    /// Before a value's type byte.
    Type,
    /// Reading the line after type byte `kind`.
    Line(u8),
    /// Reading a bulk string: bytes still to come.
    Bulk(usize),
    /// Past a bulk string's bytes: its CR LF (`0` read so far, then `1`).
    BulkEnd(u8),
}

/// An array being filled.
struct Level {
    items: Vec<Payload>,
    want: usize,
}

/// A RESP push parser.
pub struct Decoder {
    state: State,
    line: Vec<u8>,
    bulk: Vec<u8>,
    stack: Vec<Level>,
    /// Bytes (and costs) of the top-level value so far.
    size: usize,
    limit: usize,
    in_value: bool,
}

impl Decoder {
    /// A decoder whose top-level values may be at most `limit` bytes.
    pub fn new(limit: usize) -> Decoder {
        Decoder {
            state: State::Type,
            line: Vec::new(),
            bulk: Vec::new(),
            stack: Vec::new(),
            size: 0,
            limit,
            in_value: false,
        }
    }

    /// True between a value's first byte and its end.
    pub fn in_value(&self) -> bool {
        self.in_value
    }

    fn count(&mut self, n: usize) -> Result<(), Failure> {
        self.size = self.size.saturating_add(n);
        if self.size > self.limit {
            return Err(Failure(format!("a value is larger than {} bytes", self.limit)));
        }
        Ok(())
    }

    /// Takes `bytes`, telling `found` of each value as it starts and ends.
    pub fn feed(&mut self, bytes: &[u8], found: &mut dyn FnMut(Found)) -> Result<(), Failure> {
        let mut i = 0;
        while i < bytes.len() {
            match self.state {
                State::Type => {
                    let kind = bytes[i];
                    i += 1;
                    if !matches!(kind, b'+' | b'-' | b':' | b'$' | b'*') {
                        return Err(Failure(format!("byte 0x{kind:02x} starts no RESP value")));
                    }
                    if !self.in_value {
                        self.in_value = true;
                        self.size = 0;
                        found(Found::Start);
                    }
                    self.count(1 + VALUE_COST)?;
                    self.line.clear();
                    self.state = State::Line(kind);
                }
                State::Line(kind) => {
                    let rest = &bytes[i..];
                    let (take, done) = match memchr::memchr(b'\n', rest) {
                        Some(n) => (n + 1, true),
                        None => (rest.len(), false),
                    };
                    if self.line.len() + take > MAX_LINE {
                        return Err(Failure(format!("a line is longer than {MAX_LINE} bytes")));
                    }
                    self.line.extend_from_slice(&rest[..take]);
                    self.count(take)?;
                    i += take;
                    if done {
                        self.line.pop();
                        if self.line.pop() != Some(b'\r') {
                            return Err(Failure("a line ends without CR LF".into()));
                        }
                        self.line_done(kind, found)?;
                    }
                }
                State::Bulk(left) => {
                    let take = left.min(bytes.len() - i);
                    self.bulk.extend_from_slice(&bytes[i..i + take]);
                    i += take;
                    self.state = if take == left { State::BulkEnd(0) } else { State::Bulk(left - take) };
                }
                State::BulkEnd(seen) => {
                    let want = if seen == 0 { b'\r' } else { b'\n' };
                    if bytes[i] != want {
                        return Err(Failure("a bulk string ends without CR LF".into()));
                    }
                    i += 1;
                    if seen == 0 {
                        self.state = State::BulkEnd(1);
                    } else {
                        self.state = State::Type;
                        let data = Data::from(std::mem::take(&mut self.bulk));
                        self.push(Payload::Bytes(data), found)?;
                    }
                }
            }
        }
        Ok(())
    }

    fn line_done(&mut self, kind: u8, found: &mut dyn FnMut(Found)) -> Result<(), Failure> {
        let text = std::mem::take(&mut self.line);
        let number = || -> Result<i64, Failure> {
            std::str::from_utf8(&text)
                .ok()
                // As Redis reads them: no `+`, no `-0`, no leading zeros but `0`.
                .filter(|s| !(s.starts_with('+') || s.starts_with("-0") || (s.len() > 1 && s.starts_with('0'))))
                .and_then(|s| s.parse::<i64>().ok())
                .ok_or_else(|| Failure(format!("'{}' is not an integer", String::from_utf8_lossy(&text))))
        };
        self.state = State::Type;
        if text.contains(&b'\r') {
            return Err(Failure("a line holds a CR".into()));
        }
        match kind {
            b'+' => self.push(Payload::Str(String::from_utf8_lossy(&text).into_owned()), found),
            b'-' => {
                self.count(ERROR_COST)?;
                self.push(Payload::Error(String::from_utf8_lossy(&text).into_owned()), found)
            }
            b':' => self.push(Payload::Int(number()?), found),
            b'$' => match number()? {
                -1 => self.push(Payload::Null, found),
                n if n < 0 => Err(Failure(format!("a bulk string of length {n}"))),
                n => {
                    let n = n as usize;
                    self.count(n.saturating_add(2))?;
                    self.bulk = Vec::with_capacity(n.min(64 * 1024));
                    self.state = if n == 0 { State::BulkEnd(0) } else { State::Bulk(n) };
                    Ok(())
                }
            },
            _ => match number()? {
                -1 => self.push(Payload::Null, found),
                n if n < 0 => Err(Failure(format!("an array of length {n}"))),
                0 => self.push(Payload::Array(Vec::new()), found),
                n => {
                    if self.stack.len() >= MAX_DEPTH {
                        return Err(Failure(format!("arrays nest deeper than {MAX_DEPTH}")));
                    }
                    self.stack.push(Level { items: Vec::new(), want: n as usize });
                    Ok(())
                }
            },
        }
    }

    /// Puts a finished value in the array being filled, or gives it out.
    fn push(&mut self, mut value: Payload, found: &mut dyn FnMut(Found)) -> Result<(), Failure> {
        loop {
            let Some(top) = self.stack.last_mut() else {
                self.in_value = false;
                found(Found::Value(value));
                return Ok(());
            };
            top.items.push(value);
            if top.items.len() < top.want {
                return Ok(());
            }
            value = Payload::Array(self.stack.pop().expect("checked").items);
        }
    }
}

/// Appends the RESP of `value` to `out`. Text with a CR or LF in it, which a
/// simple string cannot hold, is written as a bulk string; an error's message
/// has them replaced by spaces; named fields are written as an array of names
/// and values (as `HGETALL` answers); a boolean as a simple string, as in Pipy.
pub fn encode(value: &Payload, out: &mut Vec<u8>) {
    encode_at(value, out, 0)
}

fn encode_at(value: &Payload, out: &mut Vec<u8>, depth: usize) {
    let bulk = |bytes: &[u8], out: &mut Vec<u8>| {
        out.extend_from_slice(format!("${}\r\n", bytes.len()).as_bytes());
        out.extend_from_slice(bytes);
        out.extend_from_slice(b"\r\n");
    };
    match value {
        Payload::Null => out.extend_from_slice(b"$-1\r\n"),
        Payload::Bool(b) => out.extend_from_slice(if *b { b"+true\r\n" } else { b"+false\r\n" }),
        Payload::Int(n) => out.extend_from_slice(format!(":{n}\r\n").as_bytes()),
        // Only whole numbers are RESP integers; 1.5, NaN or 1e300 go as their text.
        Payload::Number(n) if n.fract() == 0.0 && n.abs() < 9.2e18 => {
            out.extend_from_slice(format!(":{}\r\n", *n as i64).as_bytes())
        }
        Payload::Number(n) => bulk(format!("{n}").as_bytes(), out),
        Payload::Str(s) if s.contains(['\r', '\n']) => bulk(s.as_bytes(), out),
        Payload::Str(s) => {
            out.push(b'+');
            out.extend_from_slice(s.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Payload::Error(e) => {
            out.push(b'-');
            out.extend_from_slice(e.replace(['\r', '\n'], " ").as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        Payload::Bytes(d) => bulk(&d.to_vec(), out),
        Payload::Array(items) if depth >= MAX_DEPTH => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes())
        }
        Payload::Array(items) => {
            out.extend_from_slice(format!("*{}\r\n", items.len()).as_bytes());
            for item in items {
                encode_at(item, out, depth + 1);
            }
        }
        Payload::Map(fields) => {
            out.extend_from_slice(format!("*{}\r\n", fields.len() * 2).as_bytes());
            for (name, v) in fields {
                bulk(name.as_bytes(), out);
                encode_at(v, out, depth + 1);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decode_all(bytes: &[u8], limit: usize) -> Result<Vec<Payload>, Failure> {
        let mut d = Decoder::new(limit);
        let mut out = Vec::new();
        d.feed(bytes, &mut |f| {
            if let Found::Value(v) = f {
                out.push(v)
            }
        })?;
        Ok(out)
    }

    const SAMPLE: &[u8] =
        b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n+OK\r\n-ERR no\r\n:-42\r\n$-1\r\n*-1\r\n*2\r\n*1\r\n:1\r\n*0\r\n";

    fn sample() -> Vec<Payload> {
        vec![
            Payload::Array(vec![
                Payload::Bytes(Data::from("SET")),
                Payload::Bytes(Data::from("k")),
                Payload::Bytes(Data::from("")),
            ]),
            Payload::Str("OK".into()),
            Payload::Error("ERR no".into()),
            Payload::Int(-42),
            Payload::Null,
            Payload::Null,
            Payload::Array(vec![Payload::Array(vec![Payload::Int(1)]), Payload::Array(vec![])]),
        ]
    }

    #[test]
    fn every_kind_of_value_decodes_and_encodes_back() {
        assert_eq!(decode_all(SAMPLE, 1 << 20).unwrap(), sample());
        let mut out = Vec::new();
        for v in sample() {
            encode(&v, &mut out);
        }
        // `*-1` comes back as `$-1`: both are null.
        assert_eq!(out, SAMPLE.to_vec().replace_first(b"*-1", b"$-1"));
    }

    trait ReplaceFirst {
        fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8>;
    }
    impl ReplaceFirst for Vec<u8> {
        fn replace_first(self, from: &[u8], to: &[u8]) -> Vec<u8> {
            let at = self.windows(from.len()).position(|w| w == from).unwrap();
            [&self[..at], to, &self[at + from.len()..]].concat()
        }
    }

    #[test]
    fn split_at_every_byte_gives_the_same_values_and_starts() {
        for cut in 0..=SAMPLE.len() {
            let mut d = Decoder::new(1 << 20);
            let (mut values, mut starts) = (Vec::new(), 0);
            let mut take = |f| match f {
                Found::Start => starts += 1,
                Found::Value(v) => values.push(v),
            };
            d.feed(&SAMPLE[..cut], &mut take).unwrap();
            d.feed(&SAMPLE[cut..], &mut take).unwrap();
            assert_eq!(values, sample(), "cut at {cut}");
            assert_eq!(starts, 7, "cut at {cut}");
        }
    }

    #[test]
    fn what_a_peer_cannot_make_it_hold_or_parse() {
        assert!(decode_all(b"?x\r\n", 1 << 20).is_err());
        assert!(decode_all(b"$-2\r\n", 1 << 20).is_err());
        assert!(decode_all(b":12x\r\n", 1 << 20).is_err());
        assert!(decode_all(b"+no cr\n", 1 << 20).is_err());
        assert!(decode_all(b"+a\rb\r\n", 1 << 20).is_err());
        for lax in [b"$+2\r\nab\r\n".as_slice(), b"*-0\r\n", b"$-0\r\n", b":007\r\n"] {
            assert!(decode_all(lax, 1 << 20).is_err(), "{}", String::from_utf8_lossy(lax));
        }
        assert!(decode_all(b"$3\r\nabcXY", 1 << 20).is_err());
        // A length is a claim: nothing is made for it before the bytes come.
        assert_eq!(
            decode_all(b"$9223372036854775807\r\nab", 1 << 20),
            Err(Failure("a value is larger than 1048576 bytes".into()))
        );
        assert!(decode_all(b"*2147483647\r\n:1\r\n", 1 << 20).is_ok());
        let long = [b"+".as_slice(), &vec![b'a'; MAX_LINE + 1]].concat();
        assert!(decode_all(&long, 1 << 30).is_err());
        let deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert!(decode_all(&deep, 1 << 20).is_err());
        // Many small values count for what they hold.
        let many = [b"*100000\r\n".as_slice(), &b":1\r\n".repeat(100_000)].concat();
        assert!(decode_all(&many, 1 << 20).is_err());
        assert!(decode_all(&many, 8 << 20).is_ok());
        // Errors, which a script holds as Error objects, count for more.
        let errors = [b"*100000\r\n".as_slice(), &b"-E\r\n".repeat(100_000)].concat();
        assert!(decode_all(&errors, 8 << 20).is_err());
    }

    #[test]
    fn text_that_a_simple_string_cannot_hold_is_sent_as_bytes() {
        let mut out = Vec::new();
        encode(&Payload::Str("a\r\nb".into()), &mut out);
        encode(&Payload::Error("bad\r\n+OK".into()), &mut out);
        assert_eq!(out, b"$4\r\na\r\nb\r\n-bad  +OK\r\n");
        let mut out = Vec::new();
        for n in [1.5, f64::NAN, 1e300, 3.0] {
            encode(&Payload::Number(n), &mut out);
        }
        assert_eq!(
            out,
            b"$3\r\n1.5\r\n$3\r\nNaN\r\n$301\r\n"
                .iter()
                .copied()
                .chain(format!("{}", 1e300).into_bytes())
                .chain(b"\r\n:3\r\n".iter().copied())
                .collect::<Vec<u8>>()
        );
    }

    #[test]
    fn random_bytes_never_panic_and_random_values_round_trip() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let alphabet = b"+-:$*\r\n0123456789-ab";
        for _ in 0..5000 {
            let len = (next() % 64) as usize;
            let bytes: Vec<u8> = (0..len).map(|_| alphabet[(next() % alphabet.len() as u64) as usize]).collect();
            let _ = decode_all(&bytes, 1 << 16);
        }
        fn value(next: &mut dyn FnMut() -> u64, depth: usize) -> Payload {
            match next() % if depth > 3 { 5 } else { 6 } {
                0 => Payload::Null,
                1 => Payload::Int(next() as i64),
                2 => Payload::Str(format!("s{}", next() % 100)),
                3 => Payload::Error(format!("E{}", next() % 100)),
                4 => Payload::Bytes(Data::from(vec![(next() % 256) as u8; (next() % 5) as usize])),
                _ => Payload::Array((0..next() % 4).map(|_| value(next, depth + 1)).collect()),
            }
        }
        for _ in 0..2000 {
            let v = value(&mut next, 0);
            let mut out = Vec::new();
            encode(&v, &mut out);
            assert_eq!(decode_all(&out, 1 << 20).unwrap(), vec![v]);
        }
    }
}
