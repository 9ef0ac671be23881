//! The four kinds of event that flow through a pipeline, and `Message`, the
//! MessageStart + Data* + MessageEnd group that callbacks see as one value.

use crate::data::Data;
use crate::head::{Head, Tail};
use std::fmt;

/// One step of a stream.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// Bytes.
    Data(Data),
    /// The start of a message, with its head.
    MessageStart(Box<Head>),
    /// The end of a message, with its tail.
    MessageEnd(Box<Tail>),
    /// The end of the stream; `Some` when it ended because of an error.
    StreamEnd(Option<StreamError>),
}

impl Event {
    /// A `StreamEnd` without error.
    pub fn end() -> Event {
        Event::StreamEnd(None)
    }

    /// A `StreamEnd` carrying `err`.
    pub fn error(err: StreamError) -> Event {
        Event::StreamEnd(Some(err))
    }

    /// A `MessageStart` with `head`.
    pub fn start(head: Head) -> Event {
        Event::MessageStart(Box::new(head))
    }

    /// A `MessageEnd` with an empty tail.
    pub fn message_end() -> Event {
        Event::MessageEnd(Box::default())
    }

    /// The kind of this event.
    pub fn kind(&self) -> EventKind {
        match self {
            Event::Data(_) => EventKind::Data,
            Event::MessageStart(_) => EventKind::MessageStart,
            Event::MessageEnd(_) => EventKind::MessageEnd,
            Event::StreamEnd(_) => EventKind::StreamEnd,
        }
    }

    /// True for `StreamEnd`.
    pub fn is_stream_end(&self) -> bool {
        matches!(self, Event::StreamEnd(_))
    }
}

/// The kind of an event, without its payload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EventKind {
    /// `Event::Data`.
    Data,
    /// `Event::MessageStart`.
    MessageStart,
    /// `Event::MessageEnd`.
    MessageEnd,
    /// `Event::StreamEnd`.
    StreamEnd,
}

impl EventKind {
    /// The name scripts see in `event.type`.
    pub fn name(self) -> &'static str {
        match self {
            EventKind::Data => "Data",
            EventKind::MessageStart => "MessageStart",
            EventKind::MessageEnd => "MessageEnd",
            EventKind::StreamEnd => "StreamEnd",
        }
    }
}

/// Why a stream ended abnormally; the names are Pipy's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamError {
    /// The stream asked to be replayed.
    Replay,
    /// A script or filter failed.
    RuntimeError,
    /// Reading from a socket failed.
    ReadError,
    /// Writing to a socket failed.
    WriteError,
    /// A host name could not be resolved.
    CannotResolve,
    /// The connection was aborted.
    ConnectionAborted,
    /// The peer reset the connection.
    ConnectionReset,
    /// The peer refused the connection.
    ConnectionRefused,
    /// Connecting took too long.
    ConnectionTimeout,
    /// No bytes arrived in time.
    ReadTimeout,
    /// Bytes could not be written in time.
    WriteTimeout,
    /// Nothing happened on the stream for too long.
    IdleTimeout,
    /// A buffer limit was reached.
    BufferOverflow,
    /// The peer broke the protocol.
    ProtocolError,
    /// Authentication failed.
    Unauthorized,
}

impl StreamError {
    /// Every kind, for name lookups.
    pub const ALL: [StreamError; 15] = [
        StreamError::Replay,
        StreamError::RuntimeError,
        StreamError::ReadError,
        StreamError::WriteError,
        StreamError::CannotResolve,
        StreamError::ConnectionAborted,
        StreamError::ConnectionReset,
        StreamError::ConnectionRefused,
        StreamError::ConnectionTimeout,
        StreamError::ReadTimeout,
        StreamError::WriteTimeout,
        StreamError::IdleTimeout,
        StreamError::BufferOverflow,
        StreamError::ProtocolError,
        StreamError::Unauthorized,
    ];

    /// The name scripts see in `streamEnd.error`.
    pub fn name(self) -> &'static str {
        match self {
            StreamError::Replay => "Replay",
            StreamError::RuntimeError => "RuntimeError",
            StreamError::ReadError => "ReadError",
            StreamError::WriteError => "WriteError",
            StreamError::CannotResolve => "CannotResolve",
            StreamError::ConnectionAborted => "ConnectionAborted",
            StreamError::ConnectionReset => "ConnectionReset",
            StreamError::ConnectionRefused => "ConnectionRefused",
            StreamError::ConnectionTimeout => "ConnectionTimeout",
            StreamError::ReadTimeout => "ReadTimeout",
            StreamError::WriteTimeout => "WriteTimeout",
            StreamError::IdleTimeout => "IdleTimeout",
            StreamError::BufferOverflow => "BufferOverflow",
            StreamError::ProtocolError => "ProtocolError",
            StreamError::Unauthorized => "Unauthorized",
        }
    }

    /// The kind with this name, if any.
    pub fn from_name(name: &str) -> Option<StreamError> {
        Self::ALL.into_iter().find(|e| e.name() == name)
    }

    /// The HTTP status and text a server answers with when an upstream failed this way.
    pub fn http_status(self) -> (u16, &'static str) {
        match self {
            StreamError::ConnectionRefused => (502, "Connection Refused"),
            StreamError::CannotResolve => (502, "Cannot Resolve"),
            StreamError::ReadError | StreamError::WriteError => (502, "Bad Gateway"),
            StreamError::ConnectionTimeout
            | StreamError::ReadTimeout
            | StreamError::WriteTimeout
            | StreamError::IdleTimeout => (504, "Gateway Timeout"),
            StreamError::Unauthorized => (401, "Unauthorized"),
            // The script failed, not the upstream.
            StreamError::RuntimeError => (500, "Internal Server Error"),
            _ => (502, "Bad Gateway"),
        }
    }
}

impl fmt::Display for StreamError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A whole message: head, body and tail.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Message {
    /// The head (`Head::None` when the script gave none).
    pub head: Head,
    /// The body.
    pub body: Data,
    /// The tail.
    pub tail: Tail,
}

impl Message {
    /// A message with a head and a body.
    pub fn new(head: Head, body: impl Into<Data>) -> Self {
        Message { head, body: body.into(), tail: Tail::default() }
    }

    /// Appends the events this message is made of.
    pub fn write_events(self, out: &mut Vec<Event>) {
        out.push(Event::start(self.head));
        if !self.body.is_empty() {
            out.push(Event::Data(self.body));
        }
        out.push(Event::MessageEnd(Box::new(self.tail)));
    }

    /// The events this message is made of.
    pub fn into_events(self) -> Vec<Event> {
        let mut v = Vec::with_capacity(3);
        self.write_events(&mut v);
        v
    }
}

/// Collects MessageStart + Data* + MessageEnd back into a `Message`, with a size limit.
#[derive(Debug, Default)]
pub struct MessageCollector {
    current: Option<Message>,
    limit: Option<usize>,
}

/// What feeding one event to a `MessageCollector` gave.
#[derive(Debug)]
// (A whole message is moved out at once: boxing it would cost an allocation per message.)
#[allow(clippy::large_enum_variant)]
pub enum Collected {
    /// The event was taken into the message being collected.
    Taken,
    /// A whole message is complete.
    Message(Message),
    /// The event is not part of a message; hand it on.
    Other(Event),
    /// The body went over the limit; the message was dropped.
    Overflow,
}

impl MessageCollector {
    /// A collector whose bodies may grow to `limit` bytes (`None`: no limit).
    pub fn new(limit: Option<usize>) -> Self {
        MessageCollector { current: None, limit }
    }

    /// True while a message is being collected.
    pub fn in_message(&self) -> bool {
        self.current.is_some()
    }

    /// Drops the message being collected, if any.
    pub fn clear(&mut self) {
        self.current = None;
    }

    /// Feeds one event.
    pub fn feed(&mut self, ev: Event) -> Collected {
        match ev {
            Event::MessageStart(head) => {
                self.current = Some(Message { head: *head, ..Default::default() });
                Collected::Taken
            }
            Event::Data(d) => match &mut self.current {
                Some(m) => {
                    if self.limit.is_some_and(|l| m.body.len() + d.len() > l) {
                        self.current = None;
                        return Collected::Overflow;
                    }
                    m.body.push(d);
                    Collected::Taken
                }
                None => Collected::Other(Event::Data(d)),
            },
            Event::MessageEnd(tail) => match self.current.take() {
                Some(mut m) => {
                    m.tail = *tail;
                    Collected::Message(m)
                }
                None => Collected::Other(Event::MessageEnd(tail)),
            },
            ev @ Event::StreamEnd(_) => {
                self.current = None;
                Collected::Other(ev)
            }
        }
    }
}
