//! The Protocol Buffers wire format without a schema, as Pipy's `protobuf`
//! global has it: a `Message` is its records by field number, each a varint,
//! a 32- or 64-bit word or a length-delimited run of bytes
//! (protobuf.dev/programming-guides/encoding), and a `Kind` says how a
//! script reads or writes a record as a number. What a field means is the
//! script's to say, as it asks with `getInt32(1)` or `getString(2)`.
//! Hand-written: the format is a tag and four shapes of value, and the
//! records must stay as they came so a message re-encodes to its bytes.

use std::collections::BTreeMap;

/// How a record's value is laid out on the wire.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Wire {
    /// A base-128 varint.
    Varint,
    /// Eight bytes, little-endian.
    I64,
    /// A varint length, then that many bytes.
    Len,
    /// Four bytes, little-endian.
    I32,
}

impl Wire {
    /// The name Pipy gives it (`VARINT`, `I32`, `I64`, `LEN`).
    pub fn name(self) -> &'static str {
        match self {
            Wire::Varint => "VARINT",
            Wire::I64 => "I64",
            Wire::Len => "LEN",
            Wire::I32 => "I32",
        }
    }
    fn code(self) -> u64 {
        match self {
            Wire::Varint => 0,
            Wire::I64 => 1,
            Wire::Len => 2,
            Wire::I32 => 5,
        }
    }
}

/// One record: its wire type and its value (the bits of a number, or bytes).
#[derive(Clone, PartialEq, Debug)]
pub struct Record {
    /// Its wire type.
    pub wire: Wire,
    /// A number's bits (varint, I32, I64).
    pub bits: u64,
    /// A length-delimited record's bytes.
    pub bytes: Vec<u8>,
}

impl Record {
    /// A number record.
    pub fn number(wire: Wire, bits: u64) -> Record {
        Record { wire, bits, bytes: Vec::new() }
    }
    /// A length-delimited record.
    pub fn bytes(bytes: Vec<u8>) -> Record {
        Record { wire: Wire::Len, bits: 0, bytes }
    }
}

/// A message: the records of each field, in the order they came.
#[derive(Clone, Default, PartialEq, Debug)]
pub struct Message {
    fields: BTreeMap<u32, Vec<Record>>,
}

/// Largest field number (2^29 - 1).
const MAX_FIELD: u64 = (1 << 29) - 1;

fn read_varint(b: &[u8], at: &mut usize) -> Option<u64> {
    let mut n = 0u64;
    for i in 0..10 {
        let c = *b.get(*at)?;
        *at += 1;
        n |= ((c & 0x7f) as u64) << (7 * i);
        if c & 0x80 == 0 {
            return Some(n);
        }
    }
    None
}

fn write_varint(mut n: u64, out: &mut Vec<u8>) {
    while n >= 0x80 {
        out.push(n as u8 | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

impl Message {
    /// The message in `b`; `None` if it is not one (a record cut short, a
    /// group, field 0, or one field with records of two number wire types).
    pub fn decode(b: &[u8]) -> Option<Message> {
        let mut m = Message::default();
        let mut at = 0;
        while at < b.len() {
            let tag = read_varint(b, &mut at)?;
            let field = tag >> 3;
            if field == 0 || field > MAX_FIELD {
                return None;
            }
            let mut fixed = |n: usize| -> Option<u64> {
                let s = b.get(at..at + n)?;
                at += n;
                Some(s.iter().rev().fold(0u64, |acc, &x| acc << 8 | x as u64))
            };
            let record = match tag & 7 {
                0 => Record::number(Wire::Varint, read_varint(b, &mut at)?),
                1 => Record::number(Wire::I64, fixed(8)?),
                5 => Record::number(Wire::I32, fixed(4)?),
                2 => {
                    let n = usize::try_from(read_varint(b, &mut at)?).ok()?;
                    let s = b.get(at..at.checked_add(n)?)?;
                    at += n;
                    Record::bytes(s.to_vec())
                }
                _ => return None,
            };
            let records = m.fields.entry(field as u32).or_default();
            // A repeated number may come packed (LEN) and unpacked both, as the
            // encoding guide says parsers must take; two number types may not mix.
            let number = |w: Wire| w != Wire::Len;
            if records.iter().any(|r| r.wire != record.wire && number(r.wire) && number(record.wire)) {
                return None;
            }
            records.push(record);
        }
        Some(m)
    }

    /// Writes the message: fields in number order, each field's records in order.
    pub fn encode(&self, out: &mut Vec<u8>) {
        for (&field, records) in &self.fields {
            for r in records {
                write_varint((field as u64) << 3 | r.wire.code(), out);
                match r.wire {
                    Wire::Varint => write_varint(r.bits, out),
                    Wire::I32 => out.extend_from_slice(&(r.bits as u32).to_le_bytes()),
                    Wire::I64 => out.extend_from_slice(&r.bits.to_le_bytes()),
                    Wire::Len => {
                        write_varint(r.bytes.len() as u64, out);
                        out.extend_from_slice(&r.bytes);
                    }
                }
            }
        }
    }

    /// The records of a field (none if it has none).
    pub fn records(&self, field: u32) -> &[Record] {
        self.fields.get(&field).map_or(&[], |r| r.as_slice())
    }

    /// The last record of a field: the one a singular field's value is.
    pub fn last(&self, field: u32) -> Option<&Record> {
        self.records(field).last()
    }

    /// Replaces a field's records (none removes the field).
    pub fn set(&mut self, field: u32, records: Vec<Record>) {
        if records.is_empty() {
            self.fields.remove(&field);
        } else {
            self.fields.insert(field, records);
        }
    }
}

/// How a number field is read and written.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Float,
    Double,
    Int32,
    Int64,
    Uint32,
    Uint64,
    Sint32,
    Sint64,
    Fixed32,
    Fixed64,
    Sfixed32,
    Sfixed64,
    Bool,
}

/// Every number kind with its name in the script methods (`getInt32`...).
pub const KINDS: [(Kind, &str); 13] = [
    (Kind::Float, "Float"),
    (Kind::Double, "Double"),
    (Kind::Int32, "Int32"),
    (Kind::Int64, "Int64"),
    (Kind::Uint32, "Uint32"),
    (Kind::Uint64, "Uint64"),
    (Kind::Sint32, "Sint32"),
    (Kind::Sint64, "Sint64"),
    (Kind::Fixed32, "Fixed32"),
    (Kind::Fixed64, "Fixed64"),
    (Kind::Sfixed32, "Sfixed32"),
    (Kind::Sfixed64, "Sfixed64"),
    (Kind::Bool, "Bool"),
];

impl Kind {
    /// The wire type a value of this kind is written with.
    pub fn wire(self) -> Wire {
        match self {
            Kind::Float | Kind::Fixed32 | Kind::Sfixed32 => Wire::I32,
            Kind::Double | Kind::Fixed64 | Kind::Sfixed64 => Wire::I64,
            _ => Wire::Varint,
        }
    }

    /// A record's bits read as this kind.
    pub fn value(self, bits: u64) -> f64 {
        let zigzag = |n: u64| ((n >> 1) as i64 ^ -((n & 1) as i64)) as f64;
        match self {
            Kind::Float => f32::from_bits(bits as u32) as f64,
            Kind::Double => f64::from_bits(bits),
            Kind::Int32 | Kind::Sfixed32 => bits as u32 as i32 as f64,
            Kind::Int64 | Kind::Sfixed64 => bits as i64 as f64,
            Kind::Uint32 | Kind::Fixed32 => bits as u32 as f64,
            Kind::Uint64 | Kind::Fixed64 => bits as f64,
            Kind::Sint32 => zigzag(bits as u32 as u64),
            Kind::Sint64 => zigzag(bits),
            Kind::Bool => (bits != 0) as u8 as f64,
        }
    }

    /// The bits a number is written as (a negative int32 sign-extended, as
    /// the encoding guide says, so any reader takes it).
    pub fn bits(self, n: f64) -> u64 {
        let i = n as i64;
        match self {
            Kind::Float => (n as f32).to_bits() as u64,
            Kind::Double => n.to_bits(),
            Kind::Int32 => i as i32 as i64 as u64,
            Kind::Int64 | Kind::Sfixed64 => i as u64,
            Kind::Uint32 | Kind::Fixed32 | Kind::Sfixed32 => i as u32 as u64,
            Kind::Uint64 | Kind::Fixed64 => {
                if n < 0.0 {
                    i as u64
                } else {
                    n as u64
                }
            }
            Kind::Sint32 => {
                let i = i as i32;
                ((i << 1) ^ (i >> 31)) as u32 as u64
            }
            Kind::Sint64 => ((i << 1) ^ (i >> 63)) as u64,
            Kind::Bool => (n != 0.0) as u64,
        }
    }

    /// The values of a field's records: each number record, and each packed
    /// run; `None` if a packed run is cut short.
    pub fn values(self, records: &[Record]) -> Option<Vec<f64>> {
        let mut out = Vec::new();
        for r in records {
            if r.wire != Wire::Len {
                out.push(self.value(r.bits));
                continue;
            }
            let b = &r.bytes;
            let mut at = 0;
            while at < b.len() {
                let bits = match self.wire() {
                    Wire::Varint => read_varint(b, &mut at)?,
                    w => {
                        let n = if w == Wire::I32 { 4 } else { 8 };
                        let s = b.get(at..at + n)?;
                        at += n;
                        s.iter().rev().fold(0u64, |acc, &x| acc << 8 | x as u64)
                    }
                };
                out.push(self.value(bits));
            }
        }
        Some(out)
    }

    /// One packed record of `values`.
    pub fn packed(self, values: &[f64]) -> Record {
        let mut out = Vec::new();
        for &v in values {
            let bits = self.bits(v);
            match self.wire() {
                Wire::Varint => write_varint(bits, &mut out),
                Wire::I32 => out.extend_from_slice(&(bits as u32).to_le_bytes()),
                _ => out.extend_from_slice(&bits.to_le_bytes()),
            }
        }
        Record::bytes(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `{1: "Pipy", 2: 12345678, 3: [{1: "a", 2: 1}, {1: "b"}], 4: packed [1, -1], 5: 1.5f, 6: -2 (sint64)}`
    fn sample() -> Vec<u8> {
        let mut m = Message::default();
        m.set(1, vec![Record::bytes(b"Pipy".to_vec())]);
        m.set(2, vec![Record::number(Wire::Varint, Kind::Int32.bits(12345678.0))]);
        let mut a = Message::default();
        a.set(1, vec![Record::bytes(b"a".to_vec())]);
        a.set(2, vec![Record::number(Wire::Varint, 1)]);
        let mut b = Message::default();
        b.set(1, vec![Record::bytes(b"b".to_vec())]);
        let sub = |m: &Message| {
            let mut out = Vec::new();
            m.encode(&mut out);
            Record::bytes(out)
        };
        m.set(3, vec![sub(&a), sub(&b)]);
        m.set(4, vec![Kind::Int32.packed(&[1.0, -1.0])]);
        m.set(5, vec![Record::number(Wire::I32, Kind::Float.bits(1.5))]);
        m.set(6, vec![Record::number(Wire::Varint, Kind::Sint64.bits(-2.0))]);
        let mut out = Vec::new();
        m.encode(&mut out);
        out
    }

    #[test]
    fn a_message_reads_back_field_by_field_and_reencodes_to_its_bytes() {
        let wire = sample();
        let m = Message::decode(&wire).unwrap();
        assert_eq!(m.last(1).unwrap().bytes, b"Pipy");
        assert_eq!(Kind::Int32.value(m.last(2).unwrap().bits), 12345678.0);
        assert_eq!(m.records(3).len(), 2);
        let a = Message::decode(&m.records(3)[0].bytes).unwrap();
        assert_eq!(a.last(1).unwrap().bytes, b"a");
        assert_eq!(Kind::Int32.values(m.records(4)), Some(vec![1.0, -1.0]));
        assert_eq!(Kind::Float.value(m.last(5).unwrap().bits), 1.5);
        assert_eq!(Kind::Sint64.value(m.last(6).unwrap().bits), -2.0);
        assert_eq!(m.last(5).unwrap().wire.name(), "I32");
        let mut again = Vec::new();
        m.encode(&mut again);
        assert_eq!(again, wire);
        // -1 as int32 is ten bytes on the wire, as every reader expects.
        assert_eq!(m.records(4)[0].bytes.len(), 11);
    }

    #[test]
    fn every_kind_writes_and_reads_back_its_values() {
        for (kind, name) in KINDS {
            let values: &[f64] = match kind {
                Kind::Bool => &[0.0, 1.0],
                Kind::Uint32 | Kind::Uint64 | Kind::Fixed32 | Kind::Fixed64 => &[0.0, 1.0, 4294967295.0],
                Kind::Float => &[0.0, -1.5, 3.25],
                _ => &[0.0, -1.0, 2147483647.0, -2147483648.0],
            };
            for &v in values {
                assert_eq!(kind.value(kind.bits(v)), v, "{name} {v}");
            }
            assert_eq!(kind.values(&[kind.packed(values)]).as_deref(), Some(values), "{name}");
        }
    }

    #[test]
    fn malformed_bytes_are_no_message_and_never_panic() {
        assert!(Message::decode(b"\x0a\x05ab").is_none(), "cut short");
        assert!(Message::decode(b"\x0b\x0c").is_none(), "a group");
        assert!(Message::decode(b"\x00\x01").is_none(), "field 0");
        assert!(Message::decode(b"\x08\x01\x0d\x00\x00\x00\x00").is_none(), "two number wire types");
        // Packed and unpacked both: the values of all of them.
        let mixed = Message::decode(b"\x08\x01\x0a\x02\x02\x03\x08\x04").unwrap();
        assert_eq!(Kind::Int32.values(mixed.records(1)), Some(vec![1.0, 2.0, 3.0, 4.0]));
        assert!(Message::decode(b"\x08\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01").is_none(), "an 11-byte varint");
        assert!(Message::decode(b"\x0a\xff\xff\xff\xff\xff\xff\xff\xff\x7f").is_none(), "a huge length");
        assert_eq!(Message::decode(b""), Some(Message::default()));
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..20000 {
            let bytes: Vec<u8> = (0..16)
                .map(|_| {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    seed as u8
                })
                .collect();
            if let Some(m) = Message::decode(&bytes) {
                let mut out = Vec::new();
                m.encode(&mut out);
                assert_eq!(Message::decode(&out), Some(m));
            }
        }
    }
}
