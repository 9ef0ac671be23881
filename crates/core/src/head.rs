//! Message heads and tails. HTTP heads decoded from the wire stay these Rust structs;
//! the script host shows them to scripts as objects only when a callback asks.

/// Header fields in arrival order; names are lowercase.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers(Vec<(String, String)>);

impl Headers {
    /// No headers.
    pub fn new() -> Self {
        Self::default()
    }

    /// The first value of `name` (lowercase), if present.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str())
    }

    /// Replaces the value of `name` or appends it.
    pub fn set(&mut self, name: impl Into<String>, value: impl Into<String>) {
        let name = name.into().to_ascii_lowercase();
        let value = value.into();
        match self.0.iter_mut().find(|(n, _)| *n == name) {
            Some(slot) => slot.1 = value,
            None => self.0.push((name, value)),
        }
    }

    /// Appends a field even when the name is already present.
    pub fn append(&mut self, name: impl Into<String>, value: impl Into<String>) {
        self.0.push((name.into().to_ascii_lowercase(), value.into()));
    }

    /// Removes every field called `name`.
    pub fn remove(&mut self, name: &str) {
        self.0.retain(|(n, _)| n != name);
    }

    /// The fields, in order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.0.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there are no fields.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// The head of an HTTP request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestHead {
    /// `GET`, `POST`, ...
    pub method: String,
    /// The request target as sent (`/a?b=c`).
    pub path: String,
    /// `HTTP/1.1` or `HTTP/1.0`.
    pub protocol: String,
    /// Header fields.
    pub headers: Headers,
}

impl Default for RequestHead {
    fn default() -> Self {
        RequestHead { method: "GET".into(), path: "/".into(), protocol: "HTTP/1.1".into(), headers: Headers::new() }
    }
}

impl RequestHead {
    /// True when the client wants the connection closed after the response.
    pub fn is_final(&self) -> bool {
        let conn = self.headers.get("connection").map(|v| v.to_ascii_lowercase());
        match conn.as_deref() {
            Some(v) if v.contains("close") => true,
            Some(v) if v.contains("keep-alive") => false,
            _ => self.protocol == "HTTP/1.0",
        }
    }
}

/// The head of an HTTP response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResponseHead {
    /// Status code.
    pub status: u16,
    /// Reason phrase; `None` means the standard text for `status`.
    pub status_text: Option<String>,
    /// `HTTP/1.1` unless the script said otherwise.
    pub protocol: String,
    /// Header fields.
    pub headers: Headers,
}

impl Default for ResponseHead {
    fn default() -> Self {
        ResponseHead { status: 200, status_text: None, protocol: "HTTP/1.1".into(), headers: Headers::new() }
    }
}

impl ResponseHead {
    /// A response head with this status and no headers.
    pub fn with_status(status: u16) -> Self {
        ResponseHead { status, ..Default::default() }
    }
}

/// The head of a message.
#[derive(Debug, Clone, Default, PartialEq)]
pub enum Head {
    /// No head (a script's `new Message('body')`).
    #[default]
    None,
    /// An HTTP request head.
    Request(RequestHead),
    /// An HTTP response head.
    Response(ResponseHead),
}

impl Head {
    /// The request head, if this is one.
    pub fn request(&self) -> Option<&RequestHead> {
        match self {
            Head::Request(r) => Some(r),
            _ => None,
        }
    }
}

/// The tail of a message: sizes measured by the decoder.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Tail {
    /// Bytes in the head as received.
    pub head_size: usize,
    /// Bytes in the body as received.
    pub body_size: usize,
}
