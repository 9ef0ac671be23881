//! The interface between the HTTP filters and the protocol versions.
//!
//! - A `ServerSession` is one client connection, as `serveHTTP` and
//!   `demuxHTTP` see it: requests come out (`Incoming`), answers go in, and the
//!   session owns framing, ordering, interim answers, time limits and refusals.
//! - A `ClientSession` is what `muxHTTP` sends requests through: an upstream
//!   connection shared by the streams of one key, kept in a `mux::Pool`.
//!
//! HTTP/1.x (`h1::server::Session`, `h1::client::Session`) is the first
//! implementation of each; the filters know only these interfaces and the pool.

use crate::callback::ScriptValue;
use crate::context::Inbound;
use crate::event::{Event, StreamError};
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

/// A request of a server connection, numbered in the order requests arrive.
pub type RequestId = u64;

/// What a server session hands its filter; `T` is what the filter keeps per request.
pub enum Incoming<T> {
    /// An event of request `id`; its MessageStart opens it.
    Request(RequestId, Event),
    /// Request `id` is given up (bad input, a time limit, the client left): its
    /// handler is to be told `why`; the filter's state for it comes back.
    Abort(RequestId, StreamError, Option<T>),
}

/// A client connection served one request at a time or several at once.
/// The filter feeds it what the client sends (`input`, `wake`), takes the
/// requests that come out (`next`), gives back answers (`answer`) and lets it
/// write them (`flush`).
pub trait ServerSession<T> {
    /// What the client sent (Data, or StreamEnd when it closed).
    fn input(&mut self, ev: Event, cx: &mut Cx<'_>);
    /// The filter was woken: a time limit on reading a request may have passed.
    fn wake(&mut self, cx: &mut Cx<'_>);
    /// The filter refuses request `id`, whose body is being read: it is given
    /// up and answered `status` (HTTP/1: then the connection closes).
    fn refuse(&mut self, id: RequestId, status: u16);
    /// The next request event or abort for the filter, `None` when nothing
    /// more can be handed over now.
    fn next(&mut self, cx: &mut Cx<'_>) -> Option<Incoming<T>>;
    /// Keeps `state` for request `id` (given back if it is aborted).
    fn keep(&mut self, id: RequestId, state: T);
    /// Request `id` is the one being answered now (HTTP/1, one at a time);
    /// never on a session that answers requests side by side (HTTP/2), where
    /// each answer goes at its own pace.
    fn is_front(&self, id: RequestId) -> bool;
    /// An event of the answer to request `id`: `Some(now)` if taken (`now`: it
    /// goes out without waiting, for HTTP/1 because it is the answer being
    /// written, for HTTP/2 because its stream's window has room), `None` if ignored (a second message,
    /// or anything after the end). StreamEnd before the answer started gets the
    /// client a `502` / `504` in its place; after, the client's stream ends once
    /// what was sent is out.
    fn answer(&mut self, id: RequestId, ev: Event) -> Option<bool>;
    /// Writes what answers can go out, and ends the output once the connection
    /// is done; true if a request was answered in full and another may be
    /// handed over (call `next` again).
    fn flush(&mut self, cx: &mut Cx<'_>) -> bool;
    /// What the filter keeps for request `id`, while it is unanswered.
    fn state_mut(&mut self, id: RequestId) -> Option<&mut T>;
    /// Calls `f` with what the filter keeps for each request whose answer is
    /// writing without waiting now (HTTP/1: the one being answered).
    fn for_each_writing(&mut self, f: &mut dyn FnMut(&mut T));
    /// Request `id`'s body is to be read at the pace of `flow` (read while
    /// nothing is backed up toward the server); false if the session cannot
    /// pace one request alone (HTTP/1), and the filter pauses the connection.
    fn input_flow(&mut self, id: RequestId, flow: &Rc<crate::flow::Backpressure>) -> bool;
    /// Nothing more is read from the client.
    fn input_ended(&self) -> bool;
    /// The output has ended: the connection is done.
    fn closed(&self) -> bool;
}
