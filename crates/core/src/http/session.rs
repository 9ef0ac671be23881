//! The interface between the HTTP filters and the protocol versions. A
//! `ClientSession` is what `muxHTTP` sends requests through: an upstream
//! connection shared by the streams of one key, kept in a `mux::Pool`. HTTP/1.1
//! (`h1::client::Session`) is the first implementation; the filter knows only
//! this interface and the pool.

use crate::callback::ScriptValue;
use crate::context::Inbound;
use crate::event::Event;
use crate::mux::{Key, Pool, Pooled};
use crate::pipeline::{Cx, Inbox, PipelineLayout};
use std::rc::{Rc, Weak};
use std::time::Duration;

/// What every client session of a `muxHTTP` is given.
pub struct ClientOptions {
    /// A session awaiting an answer that sees no byte either way this long closes.
    pub response_timeout: Duration,
    /// Requests a session carries before it takes no more (0: no limit).
    pub max_messages: usize,
    /// Request bodies up to this get a `content-length`.
    pub buffer_size: usize,
    /// Largest response head.
    pub max_header_size: usize,
}

/// What a new session is made from.
pub struct Opening<S> {
    /// The key it serves.
    pub key: Key,
    /// For a per-connection session (no key): the connection.
    pub inbound: Option<Rc<Inbound>>,
    /// The object the key stands for, kept alive with the session.
    pub key_object: Option<ScriptValue>,
    /// The layout of its upstream connection.
    pub layout: Rc<PipelineLayout>,
    /// The pool it will be kept in (and leaves when it ends).
    pub pool: Weak<Pool<S>>,
    /// The options of its filter.
    pub options: Rc<ClientOptions>,
}

/// An upstream HTTP session shared by the streams of one key.
pub trait ClientSession: Pooled + Sized {
    /// The session's end of one stream.
    type Stream;
    /// Opens a session for the stream at `cx` (it runs in that stream's context).
    fn open(opening: Opening<Self>, cx: &Cx<'_>) -> Rc<Self>;
    /// The stream at `cx` takes the session.
    fn join(self: &Rc<Self>, cx: &Cx<'_>) -> Rc<Self::Stream>;
    /// A request event of `stream`.
    fn send(self: &Rc<Self>, stream: &Rc<Self::Stream>, ev: Event);
    /// `stream` is between its request's MessageStart and MessageEnd.
    fn request_open(stream: &Self::Stream) -> bool;
    /// `stream` stops using the session (a request cut off half-way ends it).
    fn leave(self: &Rc<Self>, stream: &Rc<Self::Stream>);
    /// Where `stream`'s response events wait for its filter.
    fn inbox(stream: &Self::Stream) -> &Inbox;
}
