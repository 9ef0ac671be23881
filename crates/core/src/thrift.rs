//! Thrift messages (Apache Thrift's binary protocol, strict and old style, and
//! its compact protocol) as Pipy's script objects:
//!
//! - a message is `{protocol: 'binary' | 'compact' | 'old', type: 'call' |
//!   'reply' | 'exception' | 'oneway', seqID, name, fields}`;
//! - a struct is an array of fields `{id, type, value}`, `type` one of `BOOL`,
//!   `I8`, `I16`, `I32`, `I64`, `DOUBLE`, `BINARY`, `STRUCT`, `MAP`, `SET`,
//!   `LIST`, `UUID`;
//! - a list or set is `{elementType, elements}`, a map `{keyType, valueType,
//!   pairs: [[key, value], ...]}`; binary is text when it is UTF-8, else Data;
//!   a UUID is its text.
//!
//! `Decoder` reads messages from a push stream in small steps that either
//! complete or leave it as it was, so bytes arriving one at a time cost no more
//! than bytes arriving whole, and it holds one message's bytes at most.
//! Hand-written because the values must have Pipy's shapes and the stream is
//! pushed; the wire formats are small (thrift.apache.org/docs: protocol specs).

use crate::data::Data;
use crate::payload::Payload;

/// Why a stream is not Thrift.
pub type Error = &'static str;

/// Deepest nesting of structs and collections read.
pub const MAX_DEPTH: usize = 64;

/// What a struct field costs to hold (its `{id, type, value}` object), besides
/// its bytes, counted against the message size limit: a flood of one-byte
/// fields is bounded by what it holds, not by its bytes.
const FIELD_COST: usize = 384;

/// What a list, set or map element, or a step between values, costs to hold.
const ELEMENT_COST: usize = 48;

/// The message types, by number (1-4).
const MESSAGE_TYPES: [&str; 5] = ["", "call", "reply", "exception", "oneway"];

/// A protocol's encoding of messages.
#[derive(Clone, Copy, PartialEq, Debug)]
pub enum Protocol {
    /// The binary protocol with its version word (strict).
    Binary,
    /// The compact protocol.
    Compact,
    /// The binary protocol without a version word (old clients).
    Old,
}

impl Protocol {
    fn name(self) -> &'static str {
        match self {
            Protocol::Binary => "binary",
            Protocol::Compact => "compact",
            Protocol::Old => "old",
        }
    }
}

/// A value's type.
#[derive(Clone, Copy, PartialEq, Debug)]
enum Ty {
    Bool,
    I8,
    I16,
    I32,
    I64,
    Double,
    Binary,
    Struct,
    Map,
    Set,
    List,
    Uuid,
}

/// Each type: its name, its code in the binary protocol, its code in the compact one.
const TYPES: [(Ty, &str, u8, u8); 12] = [
    (Ty::Bool, "BOOL", 2, 1),
    (Ty::I8, "I8", 3, 3),
    (Ty::I16, "I16", 6, 4),
    (Ty::I32, "I32", 8, 5),
    (Ty::I64, "I64", 10, 6),
    (Ty::Double, "DOUBLE", 4, 7),
    (Ty::Binary, "BINARY", 11, 8),
    (Ty::Struct, "STRUCT", 12, 12),
    (Ty::Map, "MAP", 13, 11),
    (Ty::Set, "SET", 14, 10),
    (Ty::List, "LIST", 15, 9),
    (Ty::Uuid, "UUID", 16, 13),
];

impl Ty {
    fn entry(self) -> &'static (Ty, &'static str, u8, u8) {
        TYPES.iter().find(|t| t.0 == self).expect("every type is listed")
    }
    fn name(self) -> &'static str {
        self.entry().1
    }
    fn code(self, p: Protocol) -> u8 {
        if p == Protocol::Compact {
            self.entry().3
        } else {
            self.entry().2
        }
    }
    fn from_code(p: Protocol, code: u8) -> Result<Ty, Stop> {
        // Compact writes a boolean element type as 1 (true) or, in older writers, 2.
        if p == Protocol::Compact && code == 2 {
            return Ok(Ty::Bool);
        }
        TYPES.iter().find(|t| code == if p == Protocol::Compact { t.3 } else { t.2 }).map(|t| t.0).ok_or(BAD_TYPE)
    }
    fn from_name(name: Option<&Payload>) -> Ty {
        let name = name.and_then(|n| n.text());
        TYPES.iter().find(|t| Some(t.1) == name.as_deref()).map_or(Ty::I32, |t| t.0)
    }
}

/// Why a step could not be taken.
#[derive(Debug, PartialEq)]
enum Stop {
    /// The bytes it needs have not come yet.
    More,
    /// The bytes are not Thrift.
    Bad(Error),
}

const BAD_TYPE: Stop = Stop::Bad("unknown value type");
const TOO_LARGE: Stop = Stop::Bad("a message larger than maxMessageSize");

/// A cursor over the bytes held, from the place the decoder has reached.
struct Cur<'a> {
    b: &'a [u8],
    at: usize,
    /// Where the message must end: a length claiming more fails at once.
    limit: usize,
}

impl<'a> Cur<'a> {
    fn take(&mut self, n: usize) -> Result<&'a [u8], Stop> {
        let end = self.at.checked_add(n).filter(|&e| e <= self.limit).ok_or(TOO_LARGE)?;
        let s = self.b.get(self.at..end).ok_or(Stop::More)?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Stop> {
        Ok(self.take(1)?[0])
    }
    fn i16(&mut self) -> Result<i16, Stop> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into().expect("two bytes")))
    }
    fn i32(&mut self) -> Result<i32, Stop> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into().expect("four bytes")))
    }
    fn u64_be(&mut self) -> Result<u64, Stop> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("eight bytes")))
    }
    fn var_int(&mut self) -> Result<u64, Stop> {
        let mut n = 0u64;
        for i in 0..10 {
            let b = self.u8()?;
            n |= ((b & 0x7f) as u64) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(Stop::Bad("a variable-length integer longer than 10 bytes"))
    }
    fn zigzag(&mut self) -> Result<i64, Stop> {
        let n = self.var_int()?;
        Ok((n >> 1) as i64 ^ -((n & 1) as i64))
    }
    /// A length or a size: an i32 in the binary protocols, a varint in compact.
    fn size(&mut self, p: Protocol) -> Result<u32, Stop> {
        let n = if p == Protocol::Compact { self.var_int()? } else { self.i32()? as i64 as u64 };
        u32::try_from(n).ok().filter(|&n| n <= i32::MAX as u32).ok_or(Stop::Bad("a negative or oversized length"))
    }
}

/// A container being read, with what it holds so far.
enum Frame {
    Struct { fields: Vec<Payload>, last_id: i16, pending: Option<(i16, Ty)> },
    Seq { elem: Ty, left: u32, items: Vec<Payload> },
    Map { key: Ty, value: Ty, left: u32, pairs: Vec<Payload>, held: Option<Payload> },
}

/// What reading a value gave: the value, or a container to read into.
enum Read {
    Value(Payload),
    Open(Frame),
}

/// The head of the message being read.
struct MessageHead {
    protocol: Protocol,
    kind: u8,
    seq: i32,
    name: String,
}

/// One message read: its head fields, the message object and its bytes.
#[derive(Debug, PartialEq)]
pub struct Message {
    /// `{protocol, type, seqID, name}`.
    pub head: Payload,
    /// The whole message object, fields included.
    pub message: Payload,
    /// The message's bytes as they came.
    pub bytes: Data,
}

/// Reads Thrift messages from a byte stream.
pub struct Decoder {
    buf: Vec<u8>,
    /// Where the message being read starts in `buf` (what is before it was read).
    start: usize,
    /// How far into that message the decoder has come.
    pos: usize,
    cost: usize,
    limit: usize,
    head: Option<MessageHead>,
    stack: Vec<Frame>,
}

impl Decoder {
    /// A decoder refusing messages over `limit` (bytes plus what values cost to hold).
    pub fn new(limit: usize) -> Self {
        Decoder { buf: Vec::new(), start: 0, pos: 0, cost: 0, limit, head: None, stack: Vec::new() }
    }

    /// Takes more bytes.
    pub fn push(&mut self, d: &Data) {
        // Drop what was read once it is half the buffer: each byte moves about once.
        if self.start > 0 && self.start * 2 >= self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        for c in d.chunks() {
            self.buf.extend_from_slice(c);
        }
    }

    /// The next whole message, if its bytes have all come.
    pub fn next_message(&mut self) -> Result<Option<Message>, Error> {
        loop {
            let mut cur = Cur { b: &self.buf[self.start..], at: self.pos, limit: self.limit.saturating_sub(self.cost) };
            let step = match self.head {
                None => Self::message_head(&mut cur).map(|h| {
                    self.head = Some(h);
                    self.stack.push(Frame::Struct { fields: Vec::new(), last_id: 0, pending: None });
                    None
                }),
                Some(ref h) => {
                    let p = h.protocol;
                    Self::step(p, &mut self.stack, &mut cur, &mut self.cost)
                }
            };
            match step {
                Err(Stop::More) => {
                    if self.buf.len() - self.start > self.limit {
                        return Err("a message larger than maxMessageSize");
                    }
                    return Ok(None);
                }
                Err(Stop::Bad(e)) => return Err(e),
                Ok(done) => {
                    self.pos = cur.at;
                    self.cost += ELEMENT_COST;
                    if self.pos + self.cost > self.limit {
                        return Err("a message larger than maxMessageSize");
                    }
                    if self.stack.len() > MAX_DEPTH {
                        return Err("values nested too deep");
                    }
                    if let Some(fields) = done {
                        return Ok(Some(self.finish(fields)));
                    }
                }
            }
        }
    }

    /// Forgets what was read (the stream ended).
    pub fn reset(&mut self) {
        *self = Decoder::new(self.limit);
    }

    fn finish(&mut self, fields: Payload) -> Message {
        let h = self.head.take().expect("a message being read has a head");
        let bytes = Data::from(self.buf[self.start..self.start + self.pos].to_vec());
        self.start += self.pos;
        self.pos = 0;
        self.cost = 0;
        let head = vec![
            ("protocol".to_string(), Payload::Str(h.protocol.name().into())),
            ("type".into(), Payload::Str(MESSAGE_TYPES[h.kind as usize].into())),
            ("seqID".into(), Payload::Int(h.seq as i64)),
            ("name".into(), Payload::Str(h.name)),
        ];
        let mut message = head.clone();
        message.push(("fields".into(), fields));
        Message { head: Payload::Map(head), message: Payload::Map(message), bytes }
    }

    fn message_head(cur: &mut Cur) -> Result<MessageHead, Stop> {
        let first = cur.u8()?;
        let kind_of = |k: u8| if (1..=4).contains(&k) { Ok(k) } else { Err(Stop::Bad("unknown message type")) };
        let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
        Ok(match first {
            0x80 => {
                if cur.u8()? != 0x01 {
                    return Err(Stop::Bad("unknown binary protocol version"));
                }
                let _ = cur.u8()?;
                let kind = kind_of(cur.u8()?)?;
                let n = cur.size(Protocol::Binary)?;
                let name = text(cur.take(n as usize)?);
                MessageHead { protocol: Protocol::Binary, kind, seq: cur.i32()?, name }
            }
            0x82 => {
                let b = cur.u8()?;
                if b & 0x1f != 1 {
                    return Err(Stop::Bad("unknown compact protocol version"));
                }
                let kind = kind_of(b >> 5)?;
                let seq = cur.var_int()? as u32 as i32;
                let n = cur.size(Protocol::Compact)?;
                let name = text(cur.take(n as usize)?);
                MessageHead { protocol: Protocol::Compact, kind, seq, name }
            }
            b if b & 0x80 != 0 => return Err(Stop::Bad("not a Thrift message")),
            _ => {
                cur.at -= 1;
                let n = cur.size(Protocol::Old)?;
                let name = text(cur.take(n as usize)?);
                let kind = kind_of(cur.u8()?)?;
                MessageHead { protocol: Protocol::Old, kind, seq: cur.i32()?, name }
            }
        })
    }

    /// One step: a field header, a value, or the end of a container. When
    /// the message's own struct ends, its fields.
    fn step(p: Protocol, stack: &mut Vec<Frame>, cur: &mut Cur, cost: &mut usize) -> Result<Option<Payload>, Stop> {
        let top = stack.last_mut().expect("a message being read has its struct open");
        let read = match top {
            Frame::Struct { fields, last_id, pending } => match *pending {
                Some((_, ty)) => Some(read_value(p, ty, cur)?),
                None => {
                    let b = cur.u8()?;
                    if b == 0 {
                        None
                    } else if p == Protocol::Compact {
                        let delta = (b >> 4) as i16;
                        let id = if delta != 0 { last_id.wrapping_add(delta) } else { cur.zigzag()? as i16 };
                        *last_id = id;
                        match b & 0x0f {
                            code @ (1 | 2) => {
                                *cost += FIELD_COST;
                                fields.push(field(id, Ty::Bool, Payload::Bool(code == 1)))
                            }
                            code => *pending = Some((id, Ty::from_code(p, code)?)),
                        }
                        return Ok(None);
                    } else {
                        let ty = Ty::from_code(p, b)?;
                        *pending = Some((cur.i16()?, ty));
                        return Ok(None);
                    }
                }
            },
            Frame::Seq { elem, left, .. } => (*left > 0).then(|| read_value(p, *elem, cur)).transpose()?,
            Frame::Map { key, value, left, held, .. } => match held {
                Some(_) => Some(read_value(p, *value, cur)?),
                None if *left > 0 => Some(read_value(p, *key, cur)?),
                None => None,
            },
        };
        let value = match read {
            Some(Read::Open(frame)) => {
                stack.push(frame);
                return Ok(None);
            }
            Some(Read::Value(v)) => v,
            None => {
                let done = match stack.pop().expect("the top frame") {
                    Frame::Struct { fields, .. } => Payload::Array(fields),
                    Frame::Seq { elem, items, .. } => Payload::Map(vec![
                        ("elementType".into(), Payload::Str(elem.name().into())),
                        ("elements".into(), Payload::Array(items)),
                    ]),
                    Frame::Map { key, value, pairs, .. } => map(key, value, pairs),
                };
                if stack.is_empty() {
                    return Ok(Some(done));
                }
                done
            }
        };
        match stack.last_mut().expect("a parent frame") {
            Frame::Struct { fields, pending, .. } => {
                let (id, ty) = pending.take().expect("a value read in a struct is a field's");
                *cost += FIELD_COST;
                fields.push(field(id, ty, value));
            }
            Frame::Seq { left, items, .. } => {
                *left -= 1;
                items.push(value);
            }
            Frame::Map { left, pairs, held, .. } => match held.take() {
                Some(k) => {
                    *left -= 1;
                    pairs.push(Payload::Array(vec![k, value]));
                }
                None => *held = Some(value),
            },
        }
        Ok(None)
    }
}

fn field(id: i16, ty: Ty, value: Payload) -> Payload {
    Payload::Map(vec![
        ("id".into(), Payload::Int(id as i64)),
        ("type".into(), Payload::Str(ty.name().into())),
        ("value".into(), value),
    ])
}

fn map(key: Ty, value: Ty, pairs: Vec<Payload>) -> Payload {
    Payload::Map(vec![
        ("keyType".into(), Payload::Str(key.name().into())),
        ("valueType".into(), Payload::Str(value.name().into())),
        ("pairs".into(), Payload::Array(pairs)),
    ])
}

/// Reads a value of type `ty`: a scalar whole, or a container's header.
fn read_value(p: Protocol, ty: Ty, cur: &mut Cur) -> Result<Read, Stop> {
    let compact = p == Protocol::Compact;
    let int = |n: i64| Ok(Read::Value(Payload::Int(n)));
    match ty {
        Ty::Bool => {
            let b = cur.u8()?;
            Ok(Read::Value(Payload::Bool(if compact { b == 1 } else { b != 0 })))
        }
        Ty::I8 => int(cur.u8()? as i8 as i64),
        Ty::I16 if compact => int(cur.zigzag()? as i16 as i64),
        Ty::I16 => int(cur.i16()? as i64),
        Ty::I32 if compact => int(cur.zigzag()? as i32 as i64),
        Ty::I32 => int(cur.i32()? as i64),
        Ty::I64 if compact => int(cur.zigzag()?),
        Ty::I64 => int(cur.u64_be()? as i64),
        Ty::Double => {
            let b: [u8; 8] = cur.take(8)?.try_into().expect("eight bytes");
            Ok(Read::Value(Payload::Number(if compact { f64::from_le_bytes(b) } else { f64::from_be_bytes(b) })))
        }
        Ty::Binary => {
            let n = cur.size(p)?;
            let b = cur.take(n as usize)?;
            Ok(Read::Value(match std::str::from_utf8(b) {
                Ok(s) => Payload::Str(s.into()),
                Err(_) => Payload::Bytes(Data::from(b.to_vec())),
            }))
        }
        Ty::Uuid => Ok(Read::Value(Payload::Str(uuid_text(cur.take(16)?)))),
        Ty::Struct => Ok(Read::Open(Frame::Struct { fields: Vec::new(), last_id: 0, pending: None })),
        Ty::List | Ty::Set => {
            let (elem, left) = if compact {
                let b = cur.u8()?;
                let n = if b >> 4 == 15 { cur.size(p)? } else { (b >> 4) as u32 };
                (Ty::from_code(p, b & 0x0f)?, n)
            } else {
                (Ty::from_code(p, cur.u8()?)?, cur.size(p)?)
            };
            Ok(Read::Open(Frame::Seq { elem, left, items: Vec::new() }))
        }
        Ty::Map => {
            let (key, value, left) = if compact {
                let n = cur.size(p)?;
                if n == 0 {
                    return Ok(Read::Value(map(Ty::I32, Ty::I32, Vec::new())));
                }
                let b = cur.u8()?;
                (Ty::from_code(p, b >> 4)?, Ty::from_code(p, b & 0x0f)?, n)
            } else {
                let k = Ty::from_code(p, cur.u8()?)?;
                let v = Ty::from_code(p, cur.u8()?)?;
                (k, v, cur.size(p)?)
            };
            Ok(Read::Open(Frame::Map { key, value, left, pairs: Vec::new(), held: None }))
        }
    }
}

fn uuid_text(b: &[u8]) -> String {
    let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
    format!("{}-{}-{}-{}-{}", &hex[..8], &hex[8..12], &hex[12..16], &hex[16..20], &hex[20..])
}

fn uuid_bytes(text: &str) -> [u8; 16] {
    let digits: Vec<u8> = text.bytes().filter_map(|c| (c as char).to_digit(16).map(|d| d as u8)).collect();
    let mut out = [0u8; 16];
    if digits.len() == 32 {
        for (i, o) in out.iter_mut().enumerate() {
            *o = digits[2 * i] << 4 | digits[2 * i + 1];
        }
    }
    out
}

/// Writes a message object, or each of an array of them, as `decode` gives them.
pub fn encode(msg: &Payload, out: &mut Vec<u8>) {
    match msg {
        Payload::Array(items) => items.iter().filter(|m| matches!(m, Payload::Map(_))).for_each(|m| message(m, out)),
        Payload::Map(_) => message(msg, out),
        _ => {}
    }
}

fn message(msg: &Payload, out: &mut Vec<u8>) {
    let p = match msg.get("protocol").and_then(|p| p.text()).as_deref() {
        Some("binary") => Protocol::Binary,
        Some("old") => Protocol::Old,
        _ => Protocol::Compact,
    };
    let kind = msg
        .get("type")
        .and_then(|t| t.text())
        .and_then(|t| MESSAGE_TYPES.iter().position(|&n| !n.is_empty() && n == t))
        .unwrap_or(1) as u8;
    let seq = msg.get("seqID").map_or(0, |s| s.to_i64()) as i32;
    let name = msg.get("name").and_then(|n| n.bytes()).unwrap_or_default();
    let mut w = Writer { p, out };
    match p {
        Protocol::Binary => {
            w.out.extend_from_slice(&[0x80, 0x01, 0x00, kind]);
            w.i32(name.len() as i32);
            w.out.extend_from_slice(&name);
            w.i32(seq);
        }
        Protocol::Compact => {
            w.out.extend_from_slice(&[0x82, kind << 5 | 1]);
            w.var_int(seq as u32 as u64);
            w.var_int(name.len() as u64);
            w.out.extend_from_slice(&name);
        }
        Protocol::Old => {
            w.i32(name.len() as i32);
            w.out.extend_from_slice(&name);
            w.out.push(kind);
            w.i32(seq);
        }
    }
    w.value(Ty::Struct, msg.get("fields").unwrap_or(&Payload::Null));
}

struct Writer<'a> {
    p: Protocol,
    out: &'a mut Vec<u8>,
}

impl Writer<'_> {
    fn compact(&self) -> bool {
        self.p == Protocol::Compact
    }
    fn i32(&mut self, n: i32) {
        self.out.extend_from_slice(&n.to_be_bytes());
    }
    fn var_int(&mut self, mut n: u64) {
        while n >= 0x80 {
            self.out.push(n as u8 | 0x80);
            n >>= 7;
        }
        self.out.push(n as u8);
    }
    fn zigzag(&mut self, n: i64) {
        self.var_int(((n << 1) ^ (n >> 63)) as u64);
    }
    fn size(&mut self, n: usize) {
        if self.compact() {
            self.var_int(n as u64)
        } else {
            self.i32(n as i32)
        }
    }

    fn value(&mut self, ty: Ty, v: &Payload) {
        let compact = self.compact();
        match ty {
            Ty::Bool if compact => self.out.push(if v.truthy() { 1 } else { 2 }),
            Ty::Bool => self.out.push(v.truthy() as u8),
            Ty::I8 => self.out.push(v.to_i64() as u8),
            Ty::I16 if compact => self.zigzag(v.to_i64() as i16 as i64),
            Ty::I16 => self.out.extend_from_slice(&(v.to_i64() as i16).to_be_bytes()),
            Ty::I32 if compact => self.zigzag(v.to_i64() as i32 as i64),
            Ty::I32 => self.i32(v.to_i64() as i32),
            Ty::I64 if compact => self.zigzag(v.to_i64()),
            Ty::I64 => self.out.extend_from_slice(&v.to_i64().to_be_bytes()),
            Ty::Double if compact => self.out.extend_from_slice(&v.to_f64().to_le_bytes()),
            Ty::Double => self.out.extend_from_slice(&v.to_f64().to_be_bytes()),
            Ty::Binary => {
                let b = v.bytes().unwrap_or_default();
                self.size(b.len());
                self.out.extend_from_slice(&b);
            }
            Ty::Uuid => self.out.extend_from_slice(&uuid_bytes(&v.text().unwrap_or_default())),
            Ty::Struct => {
                let mut last = 0i16;
                if let Payload::Array(fields) = v {
                    for f in fields.iter().filter(|f| matches!(f, Payload::Map(_))) {
                        let id = f.get("id").map_or(0, |i| i.to_i64()) as i16;
                        let ty = Ty::from_name(f.get("type"));
                        let value = f.get("value").unwrap_or(&Payload::Null);
                        if compact {
                            let code = if ty == Ty::Bool { 2 - value.truthy() as u8 } else { ty.code(self.p) };
                            let delta = id.wrapping_sub(last);
                            if (1..=15).contains(&delta) {
                                self.out.push((delta as u8) << 4 | code);
                            } else {
                                self.out.push(code);
                                self.zigzag(id as i64);
                            }
                            last = id;
                            if ty != Ty::Bool {
                                self.value(ty, value);
                            }
                        } else {
                            self.out.push(ty.code(self.p));
                            self.out.extend_from_slice(&id.to_be_bytes());
                            self.value(ty, value);
                        }
                    }
                }
                self.out.push(0);
            }
            Ty::List | Ty::Set => {
                let elem = Ty::from_name(v.get("elementType"));
                let items: &[Payload] = match v.get("elements") {
                    Some(Payload::Array(a)) => a,
                    _ => &[],
                };
                let code = elem.code(self.p);
                if compact {
                    if items.len() < 15 {
                        self.out.push((items.len() as u8) << 4 | code);
                    } else {
                        self.out.push(0xf0 | code);
                        self.var_int(items.len() as u64);
                    }
                } else {
                    self.out.push(code);
                    self.i32(items.len() as i32);
                }
                for item in items {
                    self.value(elem, item);
                }
            }
            Ty::Map => {
                let (k, vt) = (Ty::from_name(v.get("keyType")), Ty::from_name(v.get("valueType")));
                let pairs: &[Payload] = match v.get("pairs") {
                    Some(Payload::Array(a)) => a,
                    _ => &[],
                };
                if compact {
                    self.var_int(pairs.len() as u64);
                    if !pairs.is_empty() {
                        self.out.push(k.code(self.p) << 4 | vt.code(self.p));
                    }
                } else {
                    self.out.push(k.code(self.p));
                    self.out.push(vt.code(self.p));
                    self.i32(pairs.len() as i32);
                }
                for pair in pairs {
                    let (key, value) = match pair {
                        Payload::Array(kv) => (kv.first(), kv.get(1)),
                        _ => (None, None),
                    };
                    self.value(k, key.unwrap_or(&Payload::Null));
                    self.value(vt, value.unwrap_or(&Payload::Null));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A call to `calculate(1, Work{num1: 1, num2: 0, op: 4})` as Apache
    /// Thrift's tutorial client sends it, strict binary.
    const CALCULATE: &[u8] = b"\x80\x01\x00\x01\x00\x00\x00\x09calculate\x00\x00\x00\x03\x08\x00\x01\x00\x00\x00\x01\x0c\x00\x02\x08\x00\x01\x00\x00\x00\x01\x08\x00\x02\x00\x00\x00\x00\x08\x00\x03\x00\x00\x00\x04\x00\x00";

    fn all(pieces: &[&[u8]]) -> Result<Vec<Message>, Error> {
        let mut d = Decoder::new(1 << 20);
        let mut found = Vec::new();
        for p in pieces {
            d.push(&Data::from(p.to_vec()));
            while let Some(m) = d.next_message()? {
                found.push(m);
            }
        }
        Ok(found)
    }

    fn roundtrip(m: &Message) -> Vec<u8> {
        let mut out = Vec::new();
        encode(&m.message, &mut out);
        out
    }

    #[test]
    fn a_binary_call_reads_as_pipy_shapes_it_and_writes_back_the_same_bytes() {
        let msgs = all(&[CALCULATE]).unwrap();
        assert_eq!(msgs.len(), 1);
        let m = &msgs[0];
        assert_eq!(m.head.get("name").and_then(|n| n.text()).as_deref(), Some("calculate"));
        assert_eq!(m.head.get("type").and_then(|n| n.text()).as_deref(), Some("call"));
        assert_eq!(m.head.get("seqID").map(|s| s.to_i64()), Some(3));
        let Some(Payload::Array(fields)) = m.message.get("fields") else { panic!("fields") };
        assert_eq!(fields.len(), 2);
        assert_eq!(fields[1].get("type").and_then(|t| t.text()).as_deref(), Some("STRUCT"));
        let Some(Payload::Array(work)) = fields[1].get("value") else { panic!("a struct value") };
        assert_eq!(work[2].get("value").map(|v| v.to_i64()), Some(4));
        assert_eq!(m.bytes.to_vec(), CALCULATE);
        assert_eq!(roundtrip(m), CALCULATE);
    }

    /// Every type, in a compact message: field deltas short and long, a list
    /// over 14 elements, a map, a set of booleans, a negative i64, a double,
    /// binary that is not UTF-8, a UUID, and nesting.
    fn every_type() -> Payload {
        let f = |id: i64, ty: &str, value: Payload| {
            Payload::Map(vec![
                ("id".into(), Payload::Int(id)),
                ("type".into(), Payload::Str(ty.into())),
                ("value".into(), value),
            ])
        };
        let list = |ty: &str, items: Vec<Payload>| {
            Payload::Map(vec![
                ("elementType".into(), Payload::Str(ty.into())),
                ("elements".into(), Payload::Array(items)),
            ])
        };
        let fields = vec![
            f(1, "BOOL", Payload::Bool(true)),
            f(2, "BOOL", Payload::Bool(false)),
            f(3, "I8", Payload::Int(-5)),
            f(4, "I16", Payload::Int(-300)),
            f(20, "I32", Payload::Int(70000)),
            f(-1, "I64", Payload::Int(-(1 << 40))),
            f(5, "DOUBLE", Payload::Number(1.5)),
            f(6, "BINARY", Payload::Str("héllo".into())),
            f(7, "BINARY", Payload::Bytes(Data::from(vec![0xff, 0xfe]))),
            f(8, "UUID", Payload::Str("00112233-4455-6677-8899-aabbccddeeff".into())),
            f(9, "LIST", list("I32", (0..20).map(Payload::Int).collect())),
            f(10, "SET", list("BOOL", vec![Payload::Bool(true), Payload::Bool(false)])),
            f(
                11,
                "MAP",
                map(
                    Ty::Binary,
                    Ty::Struct,
                    vec![Payload::Array(vec![
                        Payload::Str("k".into()),
                        Payload::Array(vec![f(1, "I8", Payload::Int(1))]),
                    ])],
                ),
            ),
            f(12, "MAP", map(Ty::I32, Ty::I32, vec![])),
            f(13, "STRUCT", Payload::Array(vec![f(1, "STRUCT", Payload::Array(vec![]))])),
        ];
        Payload::Map(vec![
            ("protocol".into(), Payload::Str("compact".into())),
            ("type".into(), Payload::Str("reply".into())),
            ("seqID".into(), Payload::Int(-7)),
            ("name".into(), Payload::Str("all".into())),
            ("fields".into(), Payload::Array(fields)),
        ])
    }

    #[test]
    fn every_type_in_each_protocol_reads_back_as_it_was_written() {
        for protocol in ["compact", "binary", "old"] {
            let Payload::Map(mut m) = every_type() else { unreachable!() };
            m[0].1 = Payload::Str(protocol.into());
            let m = Payload::Map(m);
            let mut wire = Vec::new();
            encode(&m, &mut wire);
            let read = all(&[&wire]).unwrap();
            assert_eq!(read.len(), 1, "{protocol}");
            assert_eq!(read[0].message, m, "{protocol}");
            assert_eq!(roundtrip(&read[0]), wire, "{protocol}");
        }
    }

    #[test]
    fn messages_split_at_every_byte_read_the_same() {
        let mut wire = CALCULATE.to_vec();
        encode(&every_type(), &mut wire);
        let want = all(&[&wire]).unwrap();
        assert_eq!(want.len(), 2);
        for cut in 0..wire.len() {
            assert_eq!(all(&[&wire[..cut], &wire[cut..]]).unwrap(), want, "cut at {cut}");
        }
        let bytes: Vec<&[u8]> = wire.chunks(1).collect();
        assert_eq!(all(&bytes).unwrap(), want);
    }

    #[test]
    fn malformed_and_oversized_messages_are_errors_not_panics() {
        assert!(all(&[b"\x80\x02\x00\x01"]).is_err(), "version 2");
        assert!(all(&[b"\x81"]).is_err(), "not a message");
        assert!(all(&[b"\x80\x01\x00\x09"]).is_err(), "message type 9");
        assert!(all(&[b"\x80\x01\x00\x01\xff\xff\xff\xff"]).is_err(), "negative name length");
        assert!(all(&[b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x07"]).is_err(), "field type 7");
        // A claim of a huge string fails at once against the limit, holding nothing.
        let mut d = Decoder::new(1024);
        d.push(&Data::from(b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x0b\x00\x01\x00\x00\x04\x00".to_vec()));
        assert!(d.next_message().is_err());
        // Bytes that never end a message are bounded too.
        let mut d = Decoder::new(1024);
        d.push(&Data::from(
            b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x0f\x00\x01\x03\x00\x10\x00\x00".to_vec(),
        ));
        assert_eq!(d.next_message(), Ok(None));
        d.push(&Data::from(vec![0u8; 2048]));
        assert!(d.next_message().is_err());
        // Nesting: struct in struct, deeper than allowed.
        let mut deep = b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01".to_vec();
        for _ in 0..100 {
            deep.extend_from_slice(b"\x0c\x00\x01");
        }
        assert_eq!(all(&[&deep]).err(), Some("values nested too deep"));
        // A flood of empty structs in a list is bounded by what they cost to hold.
        let mut flood = b"\x80\x01\x00\x01\x00\x00\x00\x00\x00\x00\x00\x01\x0f\x00\x01\x0c\x00\x10\x00\x00".to_vec();
        flood.extend(std::iter::repeat_n(0u8, 1 << 20));
        let mut d = Decoder::new(1 << 20);
        d.push(&Data::from(flood));
        assert!(d.next_message().is_err());
    }

    #[test]
    fn random_bytes_never_panic_and_what_decodes_encodes_to_itself() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        let mut decoded = 0;
        for round in 0..20000 {
            let mut wire: Vec<u8> = match round % 3 {
                0 => b"\x80\x01\x00\x01\x00\x00\x00\x01a\x00\x00\x00\x01".to_vec(),
                1 => b"\x82\x21\x01\x01a".to_vec(),
                _ => Vec::new(),
            };
            for _ in 0..24 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                wire.push(if seed & 3 == 0 { 0 } else { (seed >> 8) as u8 % 17 });
            }
            if let Ok(msgs) = all(&[&wire]) {
                for m in msgs {
                    decoded += 1;
                    let out = roundtrip(&m);
                    let again = all(&[&out]).unwrap();
                    assert_eq!(again[0].message, m.message);
                }
            }
        }
        assert!(decoded > 100, "the random messages exercise the decoder: {decoded}");
    }
}
