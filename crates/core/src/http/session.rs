//! The interface between the HTTP filters and the protocol versions.
//!
//! - A `ServerSession` is one client connection, as `serveHTTP` and
//!   `demuxHTTP` see it: requests come out (`Incoming`), answers go in, and the
//!   session owns framing, ordering, interim answers, time limits and refusals.
//! - A `ClientSession` is one protocol's end of an upstream connection shared
//!   by the streams of one key; `http::client::Session`, what `muxHTTP` sends
//!   requests through, picks the protocol and keeps it in a `mux::Pool`.
//!
//! HTTP/1.x (`h1::server::Session`, `h1::client::Session`) and HTTP/2
//! (`h2::server::Session`, `h2::client::Session`) implement them; the filters
//! know only these interfaces.

use crate::context::Inbound;
use crate::event::{Event, StreamError};
use crate::flow::Backpressure;
use crate::pipeline::{Cx, FilterHandle, Inbox, Pipeline};
use std::cell::{Cell, RefCell};
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
    /// HTTP/2 settings of the sessions that speak it.
    pub h2: crate::http::h2::Settings,
}

/// What a protocol session is opened on: the upstream connection (a
/// sub-pipeline already started) and where its output goes.
pub struct Upstream {
    /// The sub-pipeline, usually ending in `connect`.
    pub pipeline: Pipeline,
    /// Where the sub-pipeline's output goes: the session sets its receiver.
    pub route: Rc<Route>,
    /// For a session several clients may share: backpressure of its own (the
    /// sub-pipeline's), and whether a client's is held following it. `None`: the
    /// sub-pipeline uses its one client's backpressure directly.
    pub flow: Option<(Rc<Backpressure>, Rc<Cell<bool>>)>,
    /// The backpressure the sub-pipeline reads under (its own, or its client's).
    pub reads_flow: Option<Rc<Backpressure>>,
    /// For a per-connection session (no key): the connection.
    pub inbound: Option<Weak<Inbound>>,
    /// Called once when the session ends, so that it leaves its pool.
    pub retire: Box<dyn Fn()>,
}

/// The output of a sub-pipeline, sent to a receiver set later: what arrives
/// before one is set waits for it (up to `MAX_EARLY` bytes), and its end is
/// told to `on_early_end`.
#[derive(Default)]
pub struct Route {
    receiver: RefCell<Option<Receiver>>,
    early: RefCell<Vec<Event>>,
    early_size: Cell<usize>,
    on_early_end: RefCell<Option<EarlyEnd>>,
}

/// What a `Route` calls when its sub-pipeline ends before there is a receiver.
type EarlyEnd = Box<dyn FnOnce(Option<StreamError>)>;

/// Bytes a sub-pipeline may send before its session knows its protocol; more
/// ends it (the server speaks before it is spoken to, and without end).
pub const MAX_EARLY: usize = 1 << 20;

impl Route {
    /// Delivers `ev` to the receiver, or keeps it until there is one.
    pub fn deliver(&self, ev: Event) {
        let receiver = self.receiver.borrow().clone();
        if let Some(r) = receiver {
            return r(ev);
        }
        let end = match &ev {
            Event::StreamEnd(err) => Some(*err),
            Event::Data(d) => {
                self.early_size.set(self.early_size.get() + d.len());
                (self.early_size.get() > MAX_EARLY).then_some(Some(StreamError::BufferOverflow))
            }
            _ => None,
        };
        self.early.borrow_mut().push(ev);
        if let Some(err) = end {
            let told = self.on_early_end.borrow_mut().take();
            if let Some(f) = told {
                f(err);
            }
        }
    }

    /// Calls `f` if the sub-pipeline ends (or says too much) before there is a receiver.
    pub fn on_early_end(&self, f: impl FnOnce(Option<StreamError>) + 'static) {
        *self.on_early_end.borrow_mut() = Some(Box::new(f));
    }

    /// Sends output to `receiver` from now on, starting with what waited, in order.
    pub fn set_receiver(&self, receiver: Receiver) {
        self.on_early_end.borrow_mut().take();
        loop {
            let early = std::mem::take(&mut *self.early.borrow_mut());
            if early.is_empty() {
                *self.receiver.borrow_mut() = Some(receiver);
                return;
            }
            // What the receiver makes the sub-pipeline say meanwhile waits its turn.
            for ev in early {
                receiver(ev);
            }
        }
    }
}

/// Where a `Route` sends events.
pub type Receiver = Rc<dyn Fn(Event)>;

/// What a stream joining a session brings: how to wake its filter, and its
/// client's backpressure.
#[derive(Clone)]
pub struct Joining {
    /// Wakes the stream's filter to output what waits in its inbox.
    pub handle: FilterHandle,
    /// The backpressure of the stream's client connection.
    pub flow: Option<Rc<Backpressure>>,
}

impl Joining {
    /// The stream at `cx`.
    pub fn of(cx: &Cx<'_>) -> Self {
        Joining { handle: cx.handle(), flow: cx.context().flow().cloned() }
    }
}

/// One protocol's upstream session (HTTP/1.1 or HTTP/2), shared by the streams
/// of one key; `http::client::Session` keeps it in the pool and counts its streams.
pub trait ClientSession: Sized + 'static {
    /// The session's end of one stream.
    type Stream;
    /// A session on `upstream`.
    fn open(upstream: Upstream, options: Rc<ClientOptions>) -> Rc<Self>;
    /// A stream takes the session.
    fn join(self: &Rc<Self>, joining: &Joining) -> Rc<Self::Stream>;
    /// A request event of `stream`.
    fn send(self: &Rc<Self>, stream: &Rc<Self::Stream>, ev: Event);
    /// `stream` is between its request's MessageStart and MessageEnd.
    fn request_open(stream: &Self::Stream) -> bool;
    /// `stream`'s request asked for a tunnel and is written: what it sends
    /// next, its end included, is the tunnel's.
    fn tunneling(_stream: &Self::Stream) -> bool {
        false
    }
    /// `stream` stops using the session (a request cut off half-way ends it);
    /// `shares` streams are left on it.
    fn leave(self: &Rc<Self>, stream: &Rc<Self::Stream>, shares: usize);
    /// Where `stream`'s response events wait for its filter.
    fn inbox(stream: &Self::Stream) -> &Inbox;
    /// It may take new streams.
    fn usable(&self) -> bool;
    /// It is over (its connection closed).
    fn ended(&self) -> bool;
    /// It still has answers to come.
    fn busy(&self) -> bool;
    /// Closes it (idle for a whole `maxIdle`).
    fn close(self: &Rc<Self>);
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
