//! `Payload`: a value a codec puts on a `MessageEnd` (Pipy's `MessageEnd.payload`),
//! the decoded form of a message that is not bytes and headers: a RESP reply,
//! an MQTT packet's fields. The script host turns it into script values and back.

use crate::data::Data;

/// A codec's value, a JSON-like tree with bytes and errors.
#[derive(Debug, Clone, PartialEq)]
pub enum Payload {
    /// `null`.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer (kept exact: RESP integers are 64-bit).
    Int(i64),
    /// Another number.
    Number(f64),
    /// Text.
    Str(String),
    /// Bytes (a script's `Data`).
    Bytes(Data),
    /// An error with its message (a script's `Error`).
    Error(String),
    /// A list.
    Array(Vec<Payload>),
    /// Named fields, in order.
    Map(Vec<(String, Payload)>),
}

/// How deep a payload may nest, read from the wire or from a script.
pub const MAX_DEPTH: usize = 128;

impl Payload {
    /// The field `name` of a map (the last, if named twice).
    pub fn get(&self, name: &str) -> Option<&Payload> {
        match self {
            Payload::Map(fields) => fields.iter().rev().find(|(k, _)| k == name).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The value as an integer, as a script's `ToInt32`/`ToInt64` would take it
    /// (a number's integer part, a numeric string, a boolean); 0 otherwise.
    pub fn to_i64(&self) -> i64 {
        match self {
            Payload::Int(n) => *n,
            Payload::Number(n) if n.is_finite() => *n as i64,
            Payload::Bool(b) => *b as i64,
            Payload::Str(s) => s.trim().parse::<f64>().ok().filter(|n| n.is_finite()).map_or(0, |n| n as i64),
            _ => 0,
        }
    }

    /// The value as a number.
    pub fn to_f64(&self) -> f64 {
        match self {
            Payload::Int(n) => *n as f64,
            Payload::Number(n) => *n,
            Payload::Bool(b) => *b as i64 as f64,
            Payload::Str(s) => s.trim().parse().unwrap_or(f64::NAN),
            _ => f64::NAN,
        }
    }

    /// True when a script would take the value as true.
    pub fn truthy(&self) -> bool {
        match self {
            Payload::Null => false,
            Payload::Bool(b) => *b,
            Payload::Int(n) => *n != 0,
            Payload::Number(n) => *n != 0.0 && !n.is_nan(),
            Payload::Str(s) => !s.is_empty(),
            _ => true,
        }
    }

    /// The text of a string, or the bytes of `Data` read as UTF-8.
    pub fn text(&self) -> Option<std::borrow::Cow<'_, str>> {
        match self {
            Payload::Str(s) => Some(s.as_str().into()),
            Payload::Bytes(d) => Some(String::from_utf8_lossy(&d.to_vec()).into_owned().into()),
            Payload::Int(n) => Some(n.to_string().into()),
            Payload::Number(n) => Some(n.to_string().into()),
            Payload::Bool(b) => Some(b.to_string().into()),
            _ => None,
        }
    }

    /// The bytes of `Data`, or of a string as UTF-8.
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match self {
            Payload::Bytes(d) => Some(d.to_vec()),
            Payload::Str(s) => Some(s.as_bytes().to_vec()),
            _ => None,
        }
    }
}
