//! WebSocket framing (RFC 6455 §5), sans-IO. `Decoder` turns bytes into
//! messages as they come, a payload streaming through without a frame ever
//! being held whole: MessageStart (a `FrameHead`) at a message's first frame,
//! its unmasked payload as Data, MessageEnd after its final frame. `frame`
//! writes one frame. `accept_key` is the `Sec-WebSocket-Accept` of a key.
//!
//! Written by hand: the header is at most 14 bytes and streaming the payload
//! is the push-model glue itself; the crates that speak WebSocket read whole
//! frames from a socket they own.

use crate::data::Data;
use crate::event::Event;
use crate::head::{FrameHead, Head};
use bytes::{BufMut, Bytes, BytesMut};

/// Opcodes (RFC 6455 §5.2).
pub mod opcode {
    /// The rest of a fragmented message.
    pub const CONTINUATION: u8 = 0;
    /// UTF-8 text.
    pub const TEXT: u8 = 1;
    /// Bytes.
    pub const BINARY: u8 = 2;
    /// The closing handshake.
    pub const CLOSE: u8 = 8;
    /// A ping, to be answered with a pong.
    pub const PING: u8 = 9;
    /// A pong.
    pub const PONG: u8 = 10;
}

/// Control frames (close, ping, pong) carry at most this much (§5.5).
pub const MAX_CONTROL: usize = 125;

/// Control frames (pings, pongs) held while a fragmented message is open, at
/// most; one more is a policy violation (1008). A close is never held.
const MAX_HELD_CONTROL: usize = 8;

/// Why the bytes are not WebSocket frames, with the close code that says it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DecodeError {
    /// The close code (1002 protocol error, 1009 too big, 1008 policy).
    pub code: u16,
    /// What was wrong.
    pub why: &'static str,
}

fn bad(why: &'static str) -> DecodeError {
    DecodeError { code: 1002, why }
}

/// What the decoder checks besides the framing.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Frames must be masked (what a server asks of a client, §5.1).
    pub require_mask: bool,
    /// A message's payload may be at most this long.
    pub max_message_size: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Reading a frame header (`have` of its bytes so far).
    Header,
    /// Passing `left` bytes of payload.
    Payload,
    Failed,
}

/// The frame being read.
#[derive(Debug, Default, Clone, Copy)]
struct Frame {
    fin: bool,
    opcode: u8,
    mask: Option<[u8; 4]>,
    /// Payload bytes passed so far (for the mask's position).
    done: u64,
    left: u64,
}

/// Reads frames from bytes as they come.
pub struct Decoder {
    limits: Limits,
    state: State,
    header: [u8; 14],
    have: usize,
    frame: Frame,
    /// A data message is open (its first frame came, its final one has not).
    in_message: bool,
    message_size: u64,
    /// A control frame's payload, gathered to be output whole.
    control: Vec<u8>,
    /// Control frames that came inside a fragmented message, output after it.
    held: Vec<(u8, bool, Vec<u8>)>,
}

impl Decoder {
    /// A decoder that checks `limits`.
    pub fn new(limits: Limits) -> Self {
        Decoder {
            limits,
            state: State::Header,
            header: [0; 14],
            have: 0,
            frame: Frame::default(),
            in_message: false,
            message_size: 0,
            control: Vec::new(),
            held: Vec::new(),
        }
    }

    /// True while a message is open (its MessageEnd has not been output).
    pub fn in_message(&self) -> bool {
        self.in_message
    }

    /// Takes `data`, outputting the events it completes.
    pub fn input(&mut self, data: Data, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        for chunk in data.into_chunks() {
            if let Err(e) = self.chunk(chunk, out) {
                self.state = State::Failed;
                return Err(e);
            }
        }
        Ok(())
    }

    fn chunk(&mut self, mut b: Bytes, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        while !b.is_empty() {
            match self.state {
                State::Failed => return Ok(()),
                State::Header => {
                    let need = header_len(&self.header[..self.have]);
                    let take = (need - self.have).min(b.len());
                    self.header[self.have..self.have + take].copy_from_slice(&b[..take]);
                    self.have += take;
                    let _ = b.split_to(take);
                    if self.have == header_len(&self.header[..self.have]) {
                        self.begin_frame(out)?;
                    }
                }
                State::Payload => {
                    let n = (self.frame.left.min(b.len() as u64)) as usize;
                    let piece = b.split_to(n);
                    self.payload(piece, out);
                    if self.frame.left == 0 {
                        self.end_frame(out)?;
                    }
                }
            }
        }
        Ok(())
    }

    /// A whole header is in: checks it, and starts the frame.
    fn begin_frame(&mut self, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        let h = &self.header[..self.have];
        self.have = 0;
        let (fin, rsv, op) = (h[0] & 0x80 != 0, h[0] & 0x70, h[0] & 0x0f);
        let masked = h[1] & 0x80 != 0;
        let (len, at) = match h[1] & 0x7f {
            126 => (u16::from_be_bytes([h[2], h[3]]) as u64, 4),
            127 => (u64::from_be_bytes(h[2..10].try_into().expect("8 bytes")), 10),
            n => (n as u64, 2),
        };
        let mask = masked.then(|| [h[at], h[at + 1], h[at + 2], h[at + 3]]);
        if rsv != 0 {
            return Err(bad("reserved bits set without an extension"));
        }
        if len >> 63 != 0 {
            return Err(bad("a payload length with its top bit set"));
        }
        let control = op >= 8;
        match op {
            opcode::CONTINUATION if !self.in_message => return Err(bad("a continuation frame with no message")),
            opcode::TEXT | opcode::BINARY if self.in_message => {
                return Err(bad("a new message inside a fragmented one"))
            }
            opcode::CONTINUATION | opcode::TEXT | opcode::BINARY => {}
            opcode::CLOSE | opcode::PING | opcode::PONG => {
                if !fin {
                    return Err(bad("a fragmented control frame"));
                }
                if len > MAX_CONTROL as u64 {
                    return Err(bad("a control frame over 125 bytes"));
                }
                if op == opcode::CLOSE && len == 1 {
                    return Err(bad("a close frame with a 1-byte payload"));
                }
            }
            _ => return Err(bad("an unknown opcode")),
        }
        if self.limits.require_mask && !masked {
            return Err(bad("an unmasked frame from a client"));
        }
        if !control {
            self.message_size += len;
            if self.message_size > self.limits.max_message_size {
                return Err(DecodeError { code: 1009, why: "a message over maxMessageSize" });
            }
        }
        self.frame = Frame { fin, opcode: op, mask, done: 0, left: len };
        if !control && !self.in_message {
            self.in_message = true;
            out(Event::start(Head::WebSocket(FrameHead { opcode: op, masked })));
        }
        self.state = State::Payload;
        if len == 0 {
            self.end_frame(out)?;
        }
        Ok(())
    }

    fn payload(&mut self, piece: Bytes, out: &mut impl FnMut(Event)) {
        let f = &mut self.frame;
        let n = piece.len() as u64;
        let piece = match f.mask {
            Some(key) => {
                let mut v = piece.to_vec();
                unmask(&mut v, key, f.done);
                Bytes::from(v)
            }
            None => piece,
        };
        f.done += n;
        f.left -= n;
        if f.opcode >= 8 {
            self.control.extend_from_slice(&piece);
        } else if !piece.is_empty() {
            out(Event::Data(Data::from(piece)));
        }
    }

    fn end_frame(&mut self, out: &mut impl FnMut(Event)) -> Result<(), DecodeError> {
        self.state = State::Header;
        let f = self.frame;
        if f.opcode >= 8 {
            let payload = std::mem::take(&mut self.control);
            let masked = f.mask.is_some();
            if !self.in_message {
                emit_whole(f.opcode, masked, payload, out);
            } else if f.opcode == opcode::CLOSE {
                // The peer is closing: the message it left open ends here, and
                // its close is not held back.
                self.end_message(out);
                emit_whole(f.opcode, masked, payload, out);
            } else if self.held.len() < MAX_HELD_CONTROL {
                self.held.push((f.opcode, masked, payload));
            } else {
                return Err(DecodeError { code: 1008, why: "too many control frames inside one message" });
            }
            return Ok(());
        }
        if f.fin {
            self.end_message(out);
        }
        Ok(())
    }

    /// Ends the open message, and outputs the control frames held meanwhile.
    fn end_message(&mut self, out: &mut impl FnMut(Event)) {
        self.in_message = false;
        self.message_size = 0;
        out(Event::message_end());
        for (op, masked, payload) in std::mem::take(&mut self.held) {
            emit_whole(op, masked, payload, out);
        }
    }
}

/// Outputs a control message whole.
fn emit_whole(op: u8, masked: bool, payload: Vec<u8>, out: &mut impl FnMut(Event)) {
    out(Event::start(Head::WebSocket(FrameHead { opcode: op, masked })));
    if !payload.is_empty() {
        out(Event::Data(Data::from(payload)));
    }
    out(Event::message_end());
}

/// How long the header that starts with `h` is (as far as `h` tells).
fn header_len(h: &[u8]) -> usize {
    if h.len() < 2 {
        return 2;
    }
    let mask = if h[1] & 0x80 != 0 { 4 } else { 0 };
    match h[1] & 0x7f {
        126 => 4 + mask,
        127 => 10 + mask,
        _ => 2 + mask,
    }
}

/// XORs `b` with `key`, `b` starting `offset` bytes into the payload.
pub fn unmask(b: &mut [u8], key: [u8; 4], offset: u64) {
    let shift = (offset % 4) as usize;
    for (i, c) in b.iter_mut().enumerate() {
        *c ^= key[(i + shift) % 4];
    }
}

/// One frame: `fin`, `opcode`, masked with `mask` if given, carrying `payload`.
pub fn frame(fin: bool, opcode: u8, mask: Option<[u8; 4]>, payload: &Data) -> Data {
    let len = payload.len();
    let mut head = BytesMut::with_capacity(14);
    head.put_u8(if fin { 0x80 } else { 0 } | (opcode & 0x0f));
    let m = if mask.is_some() { 0x80 } else { 0 };
    if len < 126 {
        head.put_u8(m | len as u8);
    } else if len <= 0xffff {
        head.put_u8(m | 126);
        head.put_u16(len as u16);
    } else {
        head.put_u8(m | 127);
        head.put_u64(len as u64);
    }
    let mut out = Data::new();
    match mask {
        Some(key) => {
            head.put_slice(&key);
            let mut body = payload.to_vec();
            unmask(&mut body, key, 0);
            out.push_bytes(head.freeze());
            out.push_bytes(Bytes::from(body));
        }
        None => {
            out.push_bytes(head.freeze());
            out.push(payload.clone());
        }
    }
    out
}

/// The `Sec-WebSocket-Accept` that answers `key` (RFC 6455 §4.2.2).
pub fn accept_key(key: &str) -> String {
    use base64::Engine;
    use sha1::{Digest, Sha1};
    let mut h = Sha1::new();
    h.update(key.trim().as_bytes());
    h.update(b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11");
    base64::engine::general_purpose::STANDARD.encode(h.finalize())
}

#[cfg(test)]
mod tests {
    use super::*;

    const OPEN: Limits = Limits { require_mask: false, max_message_size: 1 << 20 };

    fn trace(limits: Limits, pieces: &[&[u8]]) -> Result<String, DecodeError> {
        let mut d = Decoder::new(limits);
        let mut s = String::new();
        for p in pieces {
            d.input(Data::from(p.to_vec()), &mut |ev| match ev {
                Event::MessageStart(h) => match *h {
                    Head::WebSocket(f) => s.push_str(&format!("[{}{}]", f.opcode, if f.masked { "m" } else { "" })),
                    _ => s.push_str("[?]"),
                },
                Event::Data(d) => s.push_str(&String::from_utf8_lossy(&d.to_vec())),
                Event::MessageEnd(_) => s.push('|'),
                Event::StreamEnd(_) => s.push('$'),
            })?;
        }
        Ok(s)
    }

    fn bytes(frames: &[Data]) -> Vec<u8> {
        frames.iter().flat_map(|f| f.to_vec()).collect()
    }

    #[test]
    fn frames_split_at_every_byte_give_the_same_messages() {
        let key = [1, 2, 3, 4];
        let input = bytes(&[
            frame(true, opcode::TEXT, Some(key), &Data::from("hello")),
            frame(false, opcode::BINARY, None, &Data::from("frag")),
            frame(true, opcode::PING, Some(key), &Data::from("p")),
            frame(false, opcode::CONTINUATION, Some(key), &Data::from("men")),
            frame(true, opcode::CONTINUATION, None, &Data::from("ted")),
            frame(true, opcode::TEXT, None, &Data::from("x".repeat(300))),
            frame(true, opcode::CLOSE, None, &Data::from(vec![3u8, 232])),
        ]);
        let want = format!("[1m]hello|[2]fragmented|[9m]p|[1]{}|[8]\u{3}\u{fffd}|", "x".repeat(300));
        for at in 0..=input.len() {
            assert_eq!(trace(OPEN, &[&input[..at], &input[at..]]).unwrap(), want, "split at {at}");
        }
        let one_by_one: Vec<&[u8]> = input.chunks(1).collect();
        assert_eq!(trace(OPEN, &one_by_one).unwrap(), want);
        // A 64-bit length, split around and inside its header.
        let big = frame(true, opcode::BINARY, Some(key), &Data::from("y".repeat(70_000))).to_vec();
        let want = format!("[2m]{}|", "y".repeat(70_000));
        for at in (0..20).chain([big.len() - 1]) {
            assert_eq!(trace(OPEN, &[&big[..at], &big[at..]]).unwrap(), want, "split at {at}");
        }
    }

    #[test]
    fn bad_frames_are_refused_with_the_close_code_that_says_why() {
        let text = |fin: bool, op: u8, len: u8| vec![if fin { 0x80 } else { 0 } | op, len];
        let cases: Vec<(Vec<u8>, Limits, u16)> = vec![
            (text(true, 3, 0), OPEN, 1002),
            (text(true, 0x0b, 0), OPEN, 1002),
            (vec![0xc1, 0], OPEN, 1002),
            (text(true, opcode::CONTINUATION, 0), OPEN, 1002),
            ([text(false, opcode::TEXT, 0), text(true, opcode::TEXT, 0)].concat(), OPEN, 1002),
            (text(false, opcode::PING, 0), OPEN, 1002),
            ([text(true, opcode::PING, 126), vec![0, 200]].concat(), OPEN, 1002),
            ([&text(true, opcode::CLOSE, 1)[..], b"x"].concat(), OPEN, 1002),
            ([&[0x82, 127][..], &[0x80, 0, 0, 0, 0, 0, 0, 1]].concat(), OPEN, 1002),
            (text(true, opcode::TEXT, 1), Limits { require_mask: true, ..OPEN }, 1002),
            ([&[0x82, 127][..], &[0, 0, 0, 0, 0, 0x20, 0, 0]].concat(), OPEN, 1009),
        ];
        for (input, limits, code) in cases {
            let err = trace(limits, &[&input]).map(|ok| panic!("{input:?} gave {ok:?}")).unwrap_err();
            assert_eq!(err.code, code, "{input:?}: {}", err.why);
        }
        // A message over the limit in fragments is refused at the frame that passes it.
        let small = Limits { max_message_size: 5, ..OPEN };
        let input = bytes(&[frame(false, 1, None, &Data::from("abc")), frame(true, 0, None, &Data::from("def"))]);
        assert_eq!(trace(small, &[&input]).unwrap_err().code, 1009);
    }

    #[test]
    fn a_close_inside_a_fragmented_message_ends_it_and_too_many_pings_in_one_are_refused() {
        let mut frames = vec![frame(false, opcode::TEXT, None, &Data::from("a"))];
        frames.push(frame(true, opcode::PING, None, &Data::from("p")));
        frames.push(frame(true, opcode::CLOSE, None, &Data::from(vec![3u8, 232])));
        assert_eq!(trace(OPEN, &[&bytes(&frames)]).unwrap(), "[1]a|[9]p|[8]\u{3}\u{fffd}|");
        let mut frames = vec![frame(false, opcode::TEXT, None, &Data::from("a"))];
        for _ in 0..=MAX_HELD_CONTROL {
            frames.push(frame(true, opcode::PING, None, &Data::from("p")));
        }
        assert_eq!(trace(OPEN, &[&bytes(&frames)]).unwrap_err().code, 1008);
    }

    #[test]
    fn random_bytes_never_panic_and_events_stay_balanced() {
        let mut rng = crate::testing::Rng::new(0x0ebc);
        for _ in 0..20_000 {
            let len = rng.below(64);
            let input: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
            let mut d = Decoder::new(OPEN);
            let mut depth = 0i32;
            let _ = d.input(Data::from(input), &mut |ev| match ev {
                Event::MessageStart(_) => {
                    depth += 1;
                    assert_eq!(depth, 1);
                }
                Event::MessageEnd(_) => {
                    depth -= 1;
                    assert_eq!(depth, 0);
                }
                _ => {}
            });
        }
    }

    #[test]
    fn the_accept_key_is_rfc_6455_s_example() {
        assert_eq!(accept_key("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    }
}
