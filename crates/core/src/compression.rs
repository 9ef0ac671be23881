//! Streaming gzip and deflate (zlib) for the compression filters, on `flate2`,
//! and brotli decoding, on `brotli-decompressor`: an `Encoder` compresses a
//! body as its pieces come, a `Decoder` inflates one with a bound on what it
//! may grow to, so that a compression bomb ends with an error rather than
//! taking the memory.

use flate2::write::{DeflateDecoder, GzEncoder, MultiGzDecoder, ZlibDecoder, ZlibEncoder};
use flate2::Compression;
use std::cell::Cell;
use std::io::Write;
use std::rc::Rc;

/// A content coding this proxy can apply and remove.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Method {
    /// `gzip` (RFC 1952).
    Gzip,
    /// `deflate`: zlib-wrapped deflate (RFC 1950), as HTTP means it; raw
    /// deflate, which some servers send instead, is read too.
    Deflate,
    /// `br` (RFC 7932): read, not written.
    Brotli,
}

impl Method {
    /// The coding a `content-encoding` value (or a script's name) names.
    pub fn from_name(name: &str) -> Option<Method> {
        match name.trim().to_ascii_lowercase().as_str() {
            "gzip" | "x-gzip" => Some(Method::Gzip),
            "deflate" => Some(Method::Deflate),
            "br" | "brotli" => Some(Method::Brotli),
            _ => None,
        }
    }

    /// The coding a name names, if this proxy can compress with it.
    pub fn encodable(name: &str) -> Option<Method> {
        Method::from_name(name).filter(|m| *m != Method::Brotli)
    }

    /// Its `content-encoding` name.
    pub fn name(self) -> &'static str {
        match self {
            Method::Gzip => "gzip",
            Method::Deflate => "deflate",
            Method::Brotli => "br",
        }
    }
}

enum Enc {
    Gzip(GzEncoder<Vec<u8>>),
    Deflate(ZlibEncoder<Vec<u8>>),
}

/// Compresses a body piece by piece.
pub struct Encoder(Enc);

impl Encoder {
    /// An encoder for `method` (one `Method::encodable` gives: brotli is
    /// written as gzip) at `level` (0–9; 6 is zlib's default).
    pub fn new(method: Method, level: u32) -> Encoder {
        let level = Compression::new(level.min(9));
        Encoder(match method {
            Method::Gzip | Method::Brotli => Enc::Gzip(GzEncoder::new(Vec::new(), level)),
            Method::Deflate => Enc::Deflate(ZlibEncoder::new(Vec::new(), level)),
        })
    }

    /// Compresses `input`; what is ready of the output so far.
    pub fn write(&mut self, input: &[u8]) -> Vec<u8> {
        // Writing into a Vec does not fail.
        match &mut self.0 {
            Enc::Gzip(e) => {
                let _ = e.write_all(input);
                std::mem::take(e.get_mut())
            }
            Enc::Deflate(e) => {
                let _ = e.write_all(input);
                std::mem::take(e.get_mut())
            }
        }
    }

    /// The rest of the output, ending the compressed stream.
    pub fn finish(self) -> Vec<u8> {
        match self.0 {
            Enc::Gzip(e) => e.finish().unwrap_or_default(),
            Enc::Deflate(e) => e.finish().unwrap_or_default(),
        }
    }
}

/// Why inflating stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DecodeError {
    /// The input is not what its coding says.
    Corrupt(String),
    /// The output would pass the limit.
    TooLarge(usize),
}

impl DecodeError {
    /// The error a stream ends with for it.
    pub fn stream_error(&self) -> crate::event::StreamError {
        match self {
            DecodeError::Corrupt(_) => crate::event::StreamError::ProtocolError,
            DecodeError::TooLarge(_) => crate::event::StreamError::BufferOverflow,
        }
    }
}

impl std::fmt::Display for DecodeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DecodeError::Corrupt(why) => write!(f, "the compressed body is corrupt: {why}"),
            DecodeError::TooLarge(limit) => write!(f, "the body inflates past {limit} bytes"),
        }
    }
}

/// Where a decoder writes: takes at most `room` bytes, then refuses, so that
/// no decoder (brotli's writes all a meta-block makes, up to 16 MiB from a few
/// bytes) can hold more than the limit.
/// Its `over` is shared with the `Decoder`, which still sees it after a
/// finishing decoder consumed the writer.
struct Capped {
    out: Vec<u8>,
    room: usize,
    over: Rc<Cell<bool>>,
}

impl Capped {
    fn new(limit: usize, over: &Rc<Cell<bool>>) -> Capped {
        Capped { out: Vec::new(), room: limit, over: over.clone() }
    }
}

impl Write for Capped {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if buf.len() > self.room {
            self.over.set(true);
            return Err(std::io::Error::other("past the limit"));
        }
        self.room -= buf.len();
        self.out.extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

enum Dec {
    /// Deflate, until its first bytes say zlib or raw.
    Sniffing(Vec<u8>),
    /// gzip, one member or several in a row.
    Gzip(MultiGzDecoder<Capped>),
    Zlib(ZlibDecoder<Capped>),
    Raw(DeflateDecoder<Capped>),
    Brotli(Box<brotli_decompressor::DecompressorWriter<Capped>>),
}

/// Input fed at a time, so that one piece cannot inflate far past the limit
/// (deflate expands at most about 1032 times).
const STEP: usize = 1024;

/// Inflates a body piece by piece, at most `limit` bytes of it.
pub struct Decoder {
    dec: Dec,
    limit: usize,
    /// Input bytes taken: a body of none is empty, not corrupt.
    fed: usize,
    /// The output reached the limit.
    over: Rc<Cell<bool>>,
}

impl Decoder {
    /// A decoder for `method` whose output may be at most `limit` bytes.
    pub fn new(method: Method, limit: usize) -> Decoder {
        let over = Rc::new(Cell::new(false));
        let dec = match method {
            Method::Gzip => Dec::Gzip(MultiGzDecoder::new(Capped::new(limit, &over))),
            Method::Deflate => Dec::Sniffing(Vec::new()),
            Method::Brotli => {
                Dec::Brotli(Box::new(brotli_decompressor::DecompressorWriter::new(Capped::new(limit, &over), 4096)))
            }
        };
        Decoder { dec, limit, fed: 0, over }
    }

    /// Inflates `input`; what it gave.
    pub fn write(&mut self, input: &[u8]) -> Result<Vec<u8>, DecodeError> {
        self.fed += input.len();
        let mut input = input;
        let sniffed;
        if let Dec::Sniffing(held) = &mut self.dec {
            held.extend_from_slice(input);
            if held.len() < 2 {
                return Ok(Vec::new());
            }
            // A zlib header: CM 8, a window up to 32K, and a check that divides by 31.
            let zlib =
                held[0] & 0x0f == 8 && held[0] >> 4 <= 7 && (u16::from(held[0]) << 8 | u16::from(held[1])) % 31 == 0;
            sniffed = std::mem::take(held);
            self.dec = if zlib {
                Dec::Zlib(ZlibDecoder::new(Capped::new(self.limit, &self.over)))
            } else {
                Dec::Raw(DeflateDecoder::new(Capped::new(self.limit, &self.over)))
            };
            input = &sniffed;
        }
        let mut all = Vec::new();
        for step in input.chunks(STEP) {
            let (written, out) = match &mut self.dec {
                Dec::Gzip(d) => (d.write_all(step), d.get_mut()),
                Dec::Zlib(d) => (d.write_all(step), d.get_mut()),
                Dec::Raw(d) => (d.write_all(step), d.get_mut()),
                Dec::Brotli(d) => (d.write_all(step), d.get_mut()),
                Dec::Sniffing(_) => unreachable!("sniffed above"),
            };
            if self.over.get() {
                out.out.clear();
                return Err(DecodeError::TooLarge(self.limit));
            }
            all.append(&mut out.out);
            if let Err(e) = written {
                return Err(DecodeError::Corrupt(e.to_string()));
            }
        }
        Ok(all)
    }

    /// The end of the input: the rest of the output, or an error if the
    /// compressed stream was cut short.
    pub fn finish(self) -> Result<Vec<u8>, DecodeError> {
        if self.fed == 0 {
            // No body (an answer to HEAD, a 304 that kept its coding): nothing to inflate.
            return Ok(Vec::new());
        }
        let out = match self.dec {
            Dec::Sniffing(_) => return Err(DecodeError::Corrupt("too short".into())),
            Dec::Gzip(d) => d.finish().map(|c| c.out),
            Dec::Zlib(d) => d.finish().map(|c| c.out),
            Dec::Raw(d) => d.finish().map(|c| c.out),
            Dec::Brotli(mut d) => d.close().map(|()| std::mem::take(&mut d.get_mut().out)),
        };
        match out {
            _ if self.over.get() => Err(DecodeError::TooLarge(self.limit)),
            Ok(out) => Ok(out),
            Err(e) => Err(DecodeError::Corrupt(e.to_string())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::Rng;

    fn text() -> Vec<u8> {
        (0..2000).flat_map(|i| format!("line {i}: the quick brown fox\n").into_bytes()).collect()
    }

    fn compress(method: Method, body: &[u8]) -> Vec<u8> {
        let mut e = Encoder::new(method, 6);
        let mut out = e.write(body);
        out.extend(e.finish());
        out
    }

    #[test]
    fn a_body_comes_back_whole_split_at_every_byte() {
        let body = text();
        for method in [Method::Gzip, Method::Deflate] {
            let packed = compress(method, &body);
            assert!(packed.len() < body.len() / 4, "{method:?} compresses");
            for split in 1..packed.len().min(300) {
                let mut d = Decoder::new(method, 1 << 20);
                let mut out = Vec::new();
                for piece in packed.chunks(split) {
                    out.extend(d.write(piece).unwrap());
                }
                out.extend(d.finish().unwrap());
                assert_eq!(out, body, "{method:?} split {split}");
            }
        }
    }

    /// `text()`'s first 200 lines (`line {i}: the quick brown fox`), brotli'd by the `brotli` tool.
    const BROTLI: &str = "d108b80060a454dd1ee9702a6d738149b1560079c343213b00397ca42518469c0d2672f3383b851f7b7ddfedc89347ef6fbc42a9526bb43aba7a7b8cb3064c169bc3e5e1d5cb7c0c268bcde1f2f0ea653d0693c5e6707978f5b21f83c96273b83cbc7a398fc164b1395c1e5ebddcc760b2d81c2e0faf5e9ec760b2d81c2e0faf5edec760b2d81c2e0faf5ebec760b2d81c2e0fef4735ee1f0ea7cbedf1faf8f2753c87d3e5f6787d7cf93a9fc3e9727bbc3ebe7c5dcfe174b93d5e1f5fbeeee770badc1eaf8f2f5fcf73385d6e8fd7c797aff7399c2eb7c7ebe3cbd7e7399c2eb7c7ebe3cbd7f7399c2eb7c7ebe3cbd7ef399c2eb7c7ebe30b07";

    #[test]
    fn brotli_is_read_in_any_pieces_and_a_cut_stream_is_an_error() {
        let packed: Vec<u8> =
            (0..BROTLI.len()).step_by(2).map(|i| u8::from_str_radix(&BROTLI[i..i + 2], 16).unwrap()).collect();
        let want: Vec<u8> = (0..200).flat_map(|i| format!("line {i}: the quick brown fox\n").into_bytes()).collect();
        for split in 1..packed.len() {
            let mut d = Decoder::new(Method::Brotli, 1 << 20);
            let mut out = Vec::new();
            for piece in packed.chunks(split) {
                out.extend(d.write(piece).unwrap());
            }
            out.extend(d.finish().unwrap());
            assert_eq!(out, want, "split {split}");
        }
        let mut d = Decoder::new(Method::Brotli, 1 << 20);
        d.write(&packed[..packed.len() / 2]).unwrap();
        assert!(d.finish().is_err(), "cut short");
        let mut d = Decoder::new(Method::Brotli, 100);
        assert_eq!(d.write(&packed), Err(DecodeError::TooLarge(100)));
        assert_eq!(Method::encodable("br"), None, "brotli is read, not written");
    }

    /// 64 MiB of zeros, brotli'd: 54 bytes.
    const BROTLI_BOMB: &str =
        "cfffff7ff82700e2b14020f7fe9ffffffff04f00c4610180eefd3fffffffe19f0088c32200ddfb7ffeffffc33f0110870500baf7ff03";

    #[test]
    fn a_brotli_bomb_stops_at_the_limit_within_one_piece() {
        let packed: Vec<u8> = (0..BROTLI_BOMB.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&BROTLI_BOMB[i..i + 2], 16).unwrap())
            .collect();
        let mut d = Decoder::new(Method::Brotli, 1 << 20);
        assert_eq!(d.write(&packed), Err(DecodeError::TooLarge(1 << 20)));
    }

    #[test]
    fn gzip_members_in_a_row_are_one_body_and_no_body_is_an_empty_one() {
        let mut packed = compress(Method::Gzip, b"first ");
        packed.extend(compress(Method::Gzip, b"second"));
        let mut d = Decoder::new(Method::Gzip, 1 << 20);
        let mut out = d.write(&packed).unwrap();
        out.extend(d.finish().unwrap());
        assert_eq!(out, b"first second");
        for method in [Method::Gzip, Method::Deflate, Method::Brotli] {
            assert_eq!(Decoder::new(method, 10).finish(), Ok(Vec::new()), "{method:?}");
        }
    }

    #[test]
    fn raw_deflate_is_read_as_deflate_too() {
        let body = text();
        let mut e = flate2::write::DeflateEncoder::new(Vec::new(), Compression::default());
        e.write_all(&body).unwrap();
        let packed = e.finish().unwrap();
        let mut d = Decoder::new(Method::Deflate, 1 << 20);
        let mut out = d.write(&packed).unwrap();
        out.extend(d.finish().unwrap());
        assert_eq!(out, body);
    }

    #[test]
    fn a_bomb_stops_at_the_limit_and_a_cut_or_corrupt_stream_is_an_error() {
        let zeros = vec![0u8; 50 << 20];
        let bomb = compress(Method::Gzip, &zeros);
        assert!(bomb.len() < 100 << 10);
        let mut d = Decoder::new(Method::Gzip, 1 << 20);
        let mut got = 0;
        let mut err = None;
        for piece in bomb.chunks(16 << 10) {
            match d.write(piece) {
                Ok(out) => got += out.len(),
                Err(e) => {
                    err = Some(e);
                    break;
                }
            }
        }
        assert_eq!(err, Some(DecodeError::TooLarge(1 << 20)));
        assert!(got <= 1 << 20);

        let packed = compress(Method::Gzip, &text());
        let mut d = Decoder::new(Method::Gzip, 1 << 20);
        d.write(&packed[..packed.len() / 2]).unwrap();
        assert!(matches!(d.finish(), Err(DecodeError::Corrupt(_))), "cut short");
        let mut d = Decoder::new(Method::Gzip, 1 << 20);
        assert!(matches!(d.write(b"not gzip at all, not at all"), Err(DecodeError::Corrupt(_))));
    }

    #[test]
    fn random_bytes_end_in_an_error_or_output_within_the_limit() {
        let mut rng = Rng::new(7);
        let packed = compress(Method::Deflate, &text());
        for _ in 0..500 {
            let mut bytes = packed.clone();
            for _ in 0..1 + rng.below(8) {
                let at = rng.below(bytes.len());
                bytes[at] = rng.below(256) as u8;
            }
            for method in [Method::Gzip, Method::Deflate, Method::Brotli] {
                let mut d = Decoder::new(method, 64 << 10);
                let mut total = 0;
                let mut failed = false;
                for piece in bytes.chunks(1 + rng.below(100)) {
                    match d.write(piece) {
                        Ok(out) => total += out.len(),
                        Err(_) => {
                            failed = true;
                            break;
                        }
                    }
                }
                if !failed {
                    if let Ok(out) = d.finish() {
                        total += out.len();
                    }
                }
                assert!(total <= 64 << 10);
            }
        }
    }
}
