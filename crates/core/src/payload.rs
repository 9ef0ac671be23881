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
