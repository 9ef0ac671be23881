//! MQTT 3.1.1 and 5.0 packets (OASIS mqtt-v5.0 §2–3) as Pipy's script objects:
//! `Framer` finds whole packets in a byte stream, `decode` reads one into a head
//! (`{type, qos, dup, retain, protocolLevel, packetIdentifier, topicName,
//! reasonCode, properties, ...}`), the payload object of the packet types that
//! have one (CONNECT, SUBSCRIBE, SUBACK, UNSUBSCRIBE, UNSUBACK) and the body
//! (what follows the variable header: a PUBLISH's application message), and
//! `encode` writes one back. Hand-written because the fields must be named as
//! Pipy names them and read from a push stream; the wire format is small.

use crate::data::Data;
use crate::payload::Payload;

/// The packet types, by their number (1-15).
const TYPES: [&str; 16] = [
    "",
    "CONNECT",
    "CONNACK",
    "PUBLISH",
    "PUBACK",
    "PUBREC",
    "PUBREL",
    "PUBCOMP",
    "SUBSCRIBE",
    "SUBACK",
    "UNSUBSCRIBE",
    "UNSUBACK",
    "PINGREQ",
    "PINGRESP",
    "DISCONNECT",
    "AUTH",
];

/// How a property's value is written.
#[derive(Clone, Copy, PartialEq)]
enum Prop {
    VarInt,
    U8,
    U16,
    U32,
    Str,
    Bin,
}

/// MQTT 5 properties (§2.2.2.2) by identifier, with the names Pipy gives them.
/// A user property (38) is a name–value pair of its own.
const PROPERTIES: &[(u8, &str, Prop)] = &[
    (1, "payloadFormatIndicator", Prop::U8),
    (2, "messageExpiryInterval", Prop::U32),
    (3, "contentType", Prop::Str),
    (8, "responseTopic", Prop::Str),
    (9, "correlationData", Prop::Bin),
    (11, "subscriptionIdentifier", Prop::VarInt),
    (17, "sessionExpiryInterval", Prop::U32),
    (18, "assignedClientIdentifier", Prop::Str),
    (19, "serverKeepAlive", Prop::U16),
    (21, "authenticationMethod", Prop::Str),
    (22, "authenticationData", Prop::Bin),
    (23, "requestProblemInfo", Prop::U8),
    (24, "willDelayInterval", Prop::U32),
    (25, "requestResponseInfo", Prop::U8),
    (26, "responseInfo", Prop::Str),
    (28, "serverReference", Prop::Str),
    (31, "reasonString", Prop::Str),
    (33, "receiveMaximum", Prop::U16),
    (34, "topicAliasMaximum", Prop::U16),
    (35, "topicAlias", Prop::U16),
    (36, "maximumQoS", Prop::U8),
    (37, "retainAvailable", Prop::U8),
    (39, "maximumPacketSize", Prop::U32),
    (40, "wildcardSubscriptionAvailable", Prop::U8),
    (41, "subscriptionIdentifierAvailable", Prop::U8),
    (42, "sharedSubscriptionAvailable", Prop::U8),
];

const USER_PROPERTY: u8 = 38;

/// Why bytes are not an MQTT packet.
pub type Error = &'static str;

/// Finds whole packets in a byte stream, holding at most `limit` bytes of one.
#[derive(Debug)]
pub struct Framer {
    buf: Data,
    limit: usize,
}

impl Framer {
    /// A framer refusing packets over `limit` bytes.
    pub fn new(limit: usize) -> Self {
        Framer { buf: Data::new(), limit }
    }

    /// Takes more bytes.
    pub fn push(&mut self, d: Data) {
        self.buf.push(d);
        // Bytes a client sends one at a time must not cost a chunk each.
        self.buf.compact();
    }

    /// The next whole packet: its first byte and what follows the length.
    pub fn next_packet(&mut self) -> Result<Option<(u8, Data)>, Error> {
        let Some(first) = self.buf.byte_at(0) else { return Ok(None) };
        if first >> 4 == 0 {
            return Err("packet type 0 is reserved");
        }
        let mut len = 0usize;
        let mut i = 1;
        loop {
            let Some(b) = self.buf.byte_at(i) else { return Ok(None) };
            len |= ((b & 0x7f) as usize) << (7 * (i - 1));
            i += 1;
            if b & 0x80 == 0 {
                break;
            }
            if i > 4 {
                return Err("remaining length longer than 4 bytes");
            }
        }
        if len > self.limit {
            return Err("packet larger than maxPacketSize");
        }
        if self.buf.len() < i + len {
            return Ok(None);
        }
        self.buf.shift(i);
        Ok(Some((first, self.buf.shift(len))))
    }
}

/// One packet read: its head, its payload object (for the packet types that
/// have one) and its body.
#[derive(Debug, PartialEq)]
pub struct Packet {
    /// The head's fields.
    pub head: Payload,
    /// The payload object of CONNECT, SUBSCRIBE, SUBACK, UNSUBSCRIBE and UNSUBACK.
    pub payload: Option<Payload>,
    /// What follows the variable header.
    pub body: Data,
}

struct Reader<'a> {
    b: &'a [u8],
    at: usize,
}

impl<'a> Reader<'a> {
    fn done(&self) -> bool {
        self.at >= self.b.len()
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8], Error> {
        let s = self.b.get(self.at..self.at + n).ok_or("packet ends early")?;
        self.at += n;
        Ok(s)
    }
    fn u8(&mut self) -> Result<u8, Error> {
        Ok(self.take(1)?[0])
    }
    fn u16(&mut self) -> Result<u16, Error> {
        let s = self.take(2)?;
        Ok(u16::from_be_bytes([s[0], s[1]]))
    }
    fn u32(&mut self) -> Result<u32, Error> {
        let s = self.take(4)?;
        Ok(u32::from_be_bytes([s[0], s[1], s[2], s[3]]))
    }
    fn var_int(&mut self) -> Result<u32, Error> {
        let mut n = 0u32;
        for i in 0..4 {
            let b = self.u8()?;
            n |= ((b & 0x7f) as u32) << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err("variable byte integer longer than 4 bytes")
    }
    fn bin(&mut self) -> Result<&'a [u8], Error> {
        let n = self.u16()? as usize;
        self.take(n)
    }
    fn text(&mut self) -> Result<String, Error> {
        Ok(String::from_utf8_lossy(self.bin()?).into_owned())
    }
}

fn num(n: impl Into<i64>) -> Payload {
    Payload::Int(n.into())
}

/// Reads one packet (`first` its first byte, `rest` what follows its length).
/// `level` is the protocol level the stream speaks (5 for MQTT 5), updated by
/// a CONNECT; `None` when not known yet: MQTT 5 is assumed, but a packet that
/// ends where its properties would start is read as having none.
pub fn decode(first: u8, rest: Data, level: &mut Option<u8>) -> Result<Packet, Error> {
    let kind = first >> 4;
    let bytes = rest.to_vec();
    let mut r = Reader { b: &bytes, at: 0 };
    let qos = (first >> 1) & 3;
    let mut head = vec![
        ("type".to_string(), Payload::Str(TYPES[kind as usize].into())),
        ("qos".into(), num(qos)),
        ("dup".into(), Payload::Bool(first & 0x08 != 0)),
        ("retain".into(), Payload::Bool(first & 1 != 0)),
    ];
    let mut payload = None;
    let mut body_at = 0;
    if kind == 1 {
        if r.take(6)? != b"\x00\x04MQTT" {
            return Err("CONNECT without the protocol name MQTT");
        }
        *level = Some(r.u8()?);
    }
    let v5 = level.is_none_or(|l| l >= 5);
    let lenient = level.is_none();
    head.push(("protocolLevel".into(), num(level.unwrap_or(5))));
    let props = |r: &mut Reader, head: &mut Vec<(String, Payload)>| -> Result<(), Error> {
        if v5 && !(lenient && r.done()) {
            if let Some(p) = properties(r)? {
                head.push(("properties".into(), p));
            }
        }
        Ok(())
    };
    match kind {
        1 => {
            let flags = r.u8()?;
            head.push(("keepAlive".into(), num(r.u16()?)));
            props(&mut r, &mut head)?;
            body_at = r.at;
            let mut p = vec![("clientID".to_string(), Payload::Str(r.text()?))];
            p.push(("cleanStart".into(), Payload::Bool(flags & 0x02 != 0)));
            if flags & 0x04 != 0 {
                let mut will = vec![
                    ("qos".to_string(), num((flags >> 3) & 3)),
                    ("retain".into(), Payload::Bool(flags & 0x20 != 0)),
                ];
                if v5 {
                    if let Some(props) = properties(&mut r)? {
                        will.push(("properties".into(), props));
                    }
                }
                will.push(("topic".into(), Payload::Str(r.text()?)));
                will.push(("payload".into(), Payload::Bytes(Data::from(r.bin()?.to_vec()))));
                p.push(("will".into(), Payload::Map(will)));
            }
            if flags & 0x80 != 0 {
                p.push(("username".into(), Payload::Str(r.text()?)));
            }
            if flags & 0x40 != 0 {
                p.push(("password".into(), Payload::Bytes(Data::from(r.bin()?.to_vec()))));
            }
            payload = Some(Payload::Map(p));
        }
        2 => {
            head.push(("sessionPresent".into(), Payload::Bool(r.u8()? & 1 != 0)));
            head.push(("reasonCode".into(), num(r.u8()?)));
            props(&mut r, &mut head)?;
        }
        3 => {
            head.push(("topicName".into(), Payload::Str(r.text()?)));
            if qos > 0 {
                head.push(("packetIdentifier".into(), num(r.u16()?)));
            }
            props(&mut r, &mut head)?;
        }
        4..=7 => {
            head.push(("packetIdentifier".into(), num(r.u16()?)));
            // In MQTT 5 a reason code of 0 with no properties may be left out.
            head.push(("reasonCode".into(), num(if r.done() { 0 } else { r.u8()? })));
            if !r.done() {
                props(&mut r, &mut head)?;
            }
        }
        8..=11 => {
            head.push(("packetIdentifier".into(), num(r.u16()?)));
            props(&mut r, &mut head)?;
            let start = r.at;
            let mut items = Vec::new();
            while !r.done() {
                items.push(match kind {
                    8 => {
                        let filter = r.text()?;
                        let options = r.u8()?;
                        Payload::Map(vec![("filter".into(), Payload::Str(filter)), ("qos".into(), num(options & 3))])
                            .with_options(options)
                    }
                    10 => Payload::Str(r.text()?),
                    _ => num(r.u8()?),
                });
            }
            if kind == 8 {
                payload = Some(Payload::Map(vec![("topicFilters".into(), Payload::Array(items))]));
            } else {
                payload = Some(Payload::Array(items));
            }
            body_at = start;
        }
        12 | 13 => {}
        14 | 15 => {
            // Both may be empty: reason code 0, no properties.
            head.push(("reasonCode".into(), num(if r.done() { 0 } else { r.u8()? })));
            if !r.done() {
                props(&mut r, &mut head)?;
            }
        }
        _ => return Err("packet type 0 is reserved"),
    }
    if !matches!(kind, 1 | 8..=11) {
        body_at = r.at;
    }
    let mut body = rest;
    body.shift(body_at.min(body.len()));
    Ok(Packet { head: Payload::Map(head), payload, body })
}

impl Payload {
    /// A SUBSCRIBE topic filter's MQTT 5 options other than its QoS, kept when set.
    fn with_options(mut self, options: u8) -> Payload {
        if let Payload::Map(f) = &mut self {
            if options & 0x04 != 0 {
                f.push(("noLocal".into(), Payload::Bool(true)));
            }
            if options & 0x08 != 0 {
                f.push(("retainAsPublished".into(), Payload::Bool(true)));
            }
            if options & 0x30 != 0 {
                f.push(("retainHandling".into(), num((options >> 4) & 3)));
            }
        }
        self
    }
}

fn properties(r: &mut Reader) -> Result<Option<Payload>, Error> {
    let size = r.var_int()? as usize;
    if size == 0 {
        return Ok(None);
    }
    let end = r.at + size;
    if end > r.b.len() {
        return Err("properties run past the packet");
    }
    let mut out = Vec::new();
    while r.at < end {
        let id = r.u8()?;
        if id == USER_PROPERTY {
            let k = r.text()?;
            let v = r.text()?;
            out.push((k, Payload::Str(v)));
            continue;
        }
        let &(_, name, kind) = PROPERTIES.iter().find(|p| p.0 == id).ok_or("unknown property")?;
        let value = match kind {
            Prop::VarInt => num(r.var_int()?),
            Prop::U8 => num(r.u8()?),
            Prop::U16 => num(r.u16()?),
            Prop::U32 => num(r.u32()?),
            Prop::Str => Payload::Str(r.text()?),
            Prop::Bin => Payload::Bytes(Data::from(r.bin()?.to_vec())),
        };
        out.push((name.to_string(), value));
    }
    if r.at != end {
        return Err("a property runs past the property length");
    }
    Ok(Some(Payload::Map(out)))
}

/// The number of a packet type's name (`"PUBLISH"`: 3); 0 if it is none.
pub fn type_number(name: &str) -> u8 {
    TYPES.iter().position(|t| !t.is_empty() && *t == name).unwrap_or(0) as u8
}

struct Writer(Vec<u8>);

impl Writer {
    fn u8(&mut self, n: i64) {
        self.0.push(n as u8);
    }
    fn u16(&mut self, n: i64) {
        self.0.extend_from_slice(&(n as u16).to_be_bytes());
    }
    fn u32(&mut self, n: i64) {
        self.0.extend_from_slice(&(n as u32).to_be_bytes());
    }
    fn var_int(&mut self, mut n: usize) {
        n = n.min(268_435_455);
        loop {
            let b = (n & 0x7f) as u8;
            n >>= 7;
            if n == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn bin(&mut self, b: &[u8]) {
        let b = &b[..b.len().min(0xffff)];
        self.u16(b.len() as i64);
        self.0.extend_from_slice(b);
    }
    fn text(&mut self, p: Option<&Payload>) {
        match p.and_then(|p| p.text()) {
            Some(t) => self.bin(t.as_bytes()),
            None => self.u16(0),
        }
    }
    fn properties(&mut self, p: Option<&Payload>) {
        let mut w = Writer(Vec::new());
        if let Some(Payload::Map(fields)) = p {
            for (k, v) in fields {
                match PROPERTIES.iter().find(|p| p.1 == k) {
                    Some(&(id, _, kind)) => {
                        w.0.push(id);
                        match kind {
                            Prop::VarInt => w.var_int(v.to_i64().max(0) as usize),
                            Prop::U8 => w.u8(v.to_i64()),
                            Prop::U16 => w.u16(v.to_i64()),
                            Prop::U32 => w.u32(v.to_i64()),
                            Prop::Str => w.text(Some(v)),
                            Prop::Bin => w.bin(&v.bytes().unwrap_or_default()),
                        }
                    }
                    None => {
                        w.0.push(USER_PROPERTY);
                        w.bin(k.as_bytes());
                        w.text(Some(v));
                    }
                }
            }
        }
        self.var_int(w.0.len());
        self.0.extend_from_slice(&w.0);
    }
}

/// Writes one packet from its head's fields, its payload object and its body
/// (the application message of a PUBLISH; other packets' bodies are not
/// written). A head without `protocolLevel` is written at `level`. A head
/// whose `type` is not a packet type writes nothing.
pub fn encode(head: &Payload, payload: Option<&Payload>, body: &Data, level: u8, out: &mut Vec<u8>) {
    let kind = head.get("type").and_then(|t| t.text()).map_or(0, |t| type_number(&t));
    if kind == 0 {
        return;
    }
    let field = |name: &str| head.get(name);
    let int = |name: &str| field(name).map_or(0, |v| v.to_i64());
    let level = field("protocolLevel").map_or(level as i64, |v| v.to_i64());
    let v5 = level >= 5;
    let qos = int("qos") & 3;
    let mut w = Writer(Vec::new());
    let mut flags = 0u8;
    let props = |w: &mut Writer| {
        if v5 {
            w.properties(field("properties"))
        }
    };
    match kind {
        1 => {
            let p = |name: &str| payload.and_then(|p| p.get(name));
            let will = p("will").filter(|w| matches!(w, Payload::Map(_)));
            let mut cf = 0u8;
            if p("cleanStart").is_some_and(|v| v.truthy()) {
                cf |= 0x02;
            }
            if let Some(will) = will {
                cf |= 0x04 | ((will.get("qos").map_or(0, |q| q.to_i64()) as u8 & 3) << 3);
                if will.get("retain").is_some_and(|v| v.truthy()) {
                    cf |= 0x20;
                }
            }
            fn present(v: Option<&Payload>) -> Option<&Payload> {
                v.filter(|v| !matches!(v, Payload::Null))
            }
            if present(p("username")).is_some() {
                cf |= 0x80;
            }
            if present(p("password")).is_some() {
                cf |= 0x40;
            }
            w.0.extend_from_slice(b"\x00\x04MQTT");
            w.u8(level);
            w.0.push(cf);
            w.u16(int("keepAlive"));
            props(&mut w);
            w.text(p("clientID"));
            if let Some(will) = will {
                if v5 {
                    w.properties(will.get("properties"));
                }
                w.text(will.get("topic"));
                w.bin(&will.get("payload").and_then(|p| p.bytes()).unwrap_or_default());
            }
            if let Some(u) = present(p("username")) {
                w.text(Some(u));
            }
            if let Some(pw) = present(p("password")) {
                w.bin(&pw.bytes().unwrap_or_default());
            }
        }
        2 => {
            w.u8(field("sessionPresent").is_some_and(|v| v.truthy()) as i64);
            w.u8(int("reasonCode"));
            props(&mut w);
        }
        3 => {
            flags = (qos as u8) << 1;
            if field("dup").is_some_and(|v| v.truthy()) {
                flags |= 0x08;
            }
            if field("retain").is_some_and(|v| v.truthy()) {
                flags |= 0x01;
            }
            w.text(field("topicName"));
            if qos > 0 {
                w.u16(int("packetIdentifier"));
            }
            props(&mut w);
            w.0.extend_from_slice(&body.to_vec());
        }
        4..=7 => {
            if kind == 6 {
                flags = 0x02;
            }
            w.u16(int("packetIdentifier"));
            if v5 {
                w.u8(int("reasonCode"));
                props(&mut w);
            }
        }
        8..=11 => {
            if kind == 8 || kind == 10 {
                flags = 0x02;
            }
            w.u16(int("packetIdentifier"));
            props(&mut w);
            let items = match (kind, payload) {
                (8, Some(p)) => p.get("topicFilters"),
                (_, p) => p,
            };
            if let Some(Payload::Array(items)) = items {
                for item in items {
                    match kind {
                        8 => {
                            w.text(item.get("filter"));
                            let mut options = item.get("qos").map_or(0, |q| q.to_i64()) as u8 & 3;
                            if item.get("noLocal").is_some_and(|v| v.truthy()) {
                                options |= 0x04;
                            }
                            if item.get("retainAsPublished").is_some_and(|v| v.truthy()) {
                                options |= 0x08;
                            }
                            options |= (item.get("retainHandling").map_or(0, |v| v.to_i64()) as u8 & 3) << 4;
                            w.0.push(options);
                        }
                        10 => w.text(Some(item)),
                        _ => w.u8(item.to_i64()),
                    }
                }
            }
        }
        12 | 13 => {}
        _ => {
            if v5 {
                w.u8(int("reasonCode"));
                props(&mut w);
            }
        }
    }
    out.push(kind << 4 | flags);
    let mut len = Writer(Vec::new());
    len.var_int(w.0.len());
    out.extend_from_slice(&len.0);
    out.extend_from_slice(&w.0);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(wire: &[u8], level: &mut Option<u8>) -> Packet {
        let mut f = Framer::new(1 << 20);
        f.push(Data::from(wire.to_vec()));
        let (first, rest) = f.next_packet().unwrap().unwrap();
        let p = decode(first, rest, level).unwrap();
        let mut out = Vec::new();
        encode(&p.head, p.payload.as_ref(), &p.body, 4, &mut out);
        assert_eq!(out, wire, "{p:?}");
        p
    }

    #[test]
    fn packets_of_each_kind_read_and_write_back_the_same_bytes() {
        let mut level = None;
        // CONNECT, MQTT 5, a will with properties, username and password.
        let connect = b"\x10\x2d\x00\x04MQTT\x05\xee\x00\x3c\x05\x11\x00\x00\x00\x0a\x00\x02id\x02\x01\x01\x00\x03w/t\x00\x03bye\x00\x04user\x00\x04pass";
        let p = round_trip(connect, &mut level);
        assert_eq!(level, Some(5));
        let pl = p.payload.unwrap();
        assert_eq!(pl.get("username"), Some(&Payload::Str("user".into())));
        assert_eq!(pl.get("will").and_then(|w| w.get("topic")), Some(&Payload::Str("w/t".into())));
        // PUBLISH QoS 1 with a property and a body.
        let p = round_trip(b"\x32\x0d\x00\x01a\x00\x07\x02\x01\x01hello", &mut level);
        assert_eq!(p.body.to_vec(), b"hello");
        assert_eq!(p.head.get("packetIdentifier"), Some(&Payload::Int(7)));
        // SUBSCRIBE with options, SUBACK, UNSUBSCRIBE, PINGREQ, DISCONNECT.
        round_trip(b"\x82\x09\x00\x01\x00\x00\x03a/b\x2d", &mut level);
        round_trip(b"\x90\x05\x00\x01\x00\x01\x80", &mut level);
        round_trip(b"\xa2\x06\x00\x02\x00\x00\x01x", &mut level);
        round_trip(b"\xc0\x00", &mut level);
        round_trip(b"\xe0\x02\x00\x00", &mut level);
        // MQTT 3.1.1: no properties anywhere.
        let mut level = None;
        round_trip(b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd", &mut level);
        round_trip(b"\x40\x02\x00\x05", &mut level);
        round_trip(b"\x30\x05\x00\x01tok", &mut level);
    }

    #[test]
    fn malformed_packets_are_errors_not_panics() {
        let mut f = Framer::new(10);
        f.push(Data::from(b"\x30\xff\xff\xff\xff\x01".to_vec()));
        assert!(f.next_packet().is_err());
        let mut f = Framer::new(10);
        f.push(Data::from(b"\x30\x20".to_vec()));
        assert!(f.next_packet().is_err(), "over the limit");
        for wire in [&b"\x10\x03\x00\x04M"[..], b"\x30\x01\x00", b"\x20\x03\x00\x00\x05", b"\x82\x04\x00\x01\x00\x05"] {
            let first = wire[0];
            let rest = Data::from(wire[2..].to_vec());
            assert!(decode(first, rest, &mut Some(5)).is_err(), "{wire:?}");
        }
    }

    #[test]
    fn random_bytes_never_panic_and_what_decodes_encodes() {
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20000 {
            let mut wire = Vec::new();
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            let n = (seed % 24) as usize;
            wire.push(((seed >> 8) as u8 % 15 + 1) << 4 | (seed >> 16) as u8 & 0x0f);
            wire.push(n as u8);
            for i in 0..n {
                wire.push((seed >> (i % 7 * 8)) as u8 ^ i as u8);
            }
            let mut level = if seed & 1 == 0 { None } else { Some(4) };
            if let Ok(p) = decode(wire[0], Data::from(wire[2..].to_vec()), &mut level) {
                let mut out = Vec::new();
                encode(&p.head, p.payload.as_ref(), &p.body, 4, &mut out);
                assert!(!out.is_empty());
            }
        }
    }
}
