//! What `muxHTTP` sends requests through: a `Session` is one upstream connection
//! (a sub-pipeline, usually ending in `connect`) shared by the streams of one
//! key and kept in the filter's `mux::Pool`. It speaks the protocol its
//! `version` says, HTTP/1.1 (`h1::client`) or HTTP/2 (`h2::client`), and counts
//! the streams on it for the pool.
//!
//! A version given by a function is asked for when the session opens. When the
//! function returns a Promise (settled, say, once `connectTLS` knows what ALPN
//! chose), the connection is started at once and the requests of the streams
//! that join meanwhile wait for the answer.

use crate::callback::{Arg, Callback, Returned, ScriptValue, Want};
use crate::context::Inbound;
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::flow::Gauge;
use crate::http::session::{ClientOptions, ClientSession, Joining, Route, Upstream};
use crate::http::{h1, h2};
use crate::mux::{Key, Ledger, Pool, Pooled};
use crate::pipeline::{report_script_error, Cx, Inbox, Pipeline, PipelineLayout, Sink};
use std::cell::RefCell;
use std::rc::{Rc, Weak};

/// Request bytes a stream holds while its session's version is chosen past
/// which its client pauses.
const HELD: usize = 64 << 10;

/// An HTTP version a session can speak.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2.
    Http2,
}

impl Protocol {
    /// The version a number names (1 or 2).
    pub fn from_number(n: f64) -> Option<Protocol> {
        match n {
            1.0 => Some(Protocol::Http1),
            2.0 => Some(Protocol::Http2),
            _ => None,
        }
    }

    /// The version a name names: `http/1`, `http/1.0`, `http/1.1`; `http/2`, `h2`.
    pub fn from_name(name: &str) -> Option<Protocol> {
        match name.to_ascii_lowercase().as_str() {
            "http/1" | "http/1.0" | "http/1.1" => Some(Protocol::Http1),
            "http/2" | "h2" => Some(Protocol::Http2),
            _ => None,
        }
    }

    /// The version a callback's key (`Want::Key`: `n:2`, `s:h2`) names.
    fn from_key(key: &str) -> Option<Protocol> {
        match key.split_once(':') {
            Some(("n", n)) => n.parse().ok().and_then(Protocol::from_number),
            Some(("s", s)) => Protocol::from_name(s),
            _ => None,
        }
    }
}

/// How a `muxHTTP` picks the version of each session it opens.
pub enum Version {
    /// Always this one.
    Fixed(Protocol),
    /// What the function returns when a session opens (a number, a name or a
    /// Promise of one).
    Chosen(Rc<dyn Callback>),
}

/// What a new session is made from.
pub struct Opening {
    /// The key it serves.
    pub key: Key,
    /// For a per-connection session (no key): the connection.
    pub inbound: Option<Rc<Inbound>>,
    /// The object the key stands for, kept alive with the session.
    pub key_object: Option<ScriptValue>,
    /// The layout of its upstream connection.
    pub layout: Rc<PipelineLayout>,
    /// The pool it will be kept in (and leaves when it ends).
    pub pool: Weak<Pool<Session>>,
    /// The options of its filter.
    pub options: Rc<ClientOptions>,
}

enum State {
    /// The version is not known yet: the connection is being made, and the
    /// streams' requests wait.
    Choosing {
        upstream: Option<Upstream>,
        options: Rc<ClientOptions>,
        streams: Vec<Weak<Stream>>,
    },
    H1(Rc<h1::client::Session>),
    H2(Rc<h2::client::Session>),
    /// No version could be had: the session takes nothing.
    Failed,
}

/// A session's protocol half, once it has one.
enum Live {
    H1(Rc<h1::client::Session>),
    H2(Rc<h2::client::Session>),
}

/// An upstream HTTP session shared by the streams of one key.
pub struct Session {
    key: Key,
    pool: Weak<Pool<Session>>,
    ledger: Ledger,
    state: RefCell<State>,
    _key_object: Option<ScriptValue>,
}

enum Side {
    /// The version is being chosen: its request events wait (past `HELD`
    /// bytes, the client pauses).
    Waiting {
        held: Vec<Event>,
        request_open: bool,
        size: usize,
        pause: Gauge,
    },
    H1(Rc<h1::client::Stream>),
    H2(Rc<h2::client::Stream>),
    /// The session failed before this stream got a protocol.
    Gone,
}

/// One stream's end of a session.
pub struct Stream {
    joining: Joining,
    side: RefCell<Side>,
    /// Events for the filter that come from this layer (a failed choice).
    inbox: Inbox,
}

impl Session {
    /// Opens a session for the stream at `cx` (its upstream runs in that
    /// stream's context); `None` if its version could not be had (said in the log).
    pub fn open(opening: Opening, version: &Version, cx: &Cx<'_>) -> Option<Rc<Session>> {
        let Opening { key, inbound, key_object, layout, pool, options } = opening;
        let session = Rc::new(Session {
            key: key.clone(),
            pool: pool.clone(),
            ledger: Ledger::default(),
            state: RefCell::new(State::Failed),
            _key_object: key_object,
        });
        let chosen = match version {
            Version::Fixed(p) => Ok(*p),
            Version::Chosen(cb) => match cb.call(cx.context(), Arg::None, Want::Key) {
                Ok(Returned::Pending(p)) => Err(p),
                Ok(returned) => Ok(named_version(returned)?),
                Err(err) => {
                    report_script_error(&err, "muxHTTP");
                    return None;
                }
            },
        };
        // An HTTP/1.1 session of one client connection reads at that client's
        // pace; any other has backpressure of its own (HTTP/2 paces each stream).
        let own_flow = !(matches!(key, Key::Inbound(_)) && matches!(chosen, Ok(Protocol::Http1)));
        let upstream = upstream_for(&session, inbound, &layout, own_flow, cx);
        let state = match chosen {
            Ok(p) => start(p, upstream, options),
            Err(pending) => {
                let weak = Rc::downgrade(&session);
                upstream.route.on_early_end(move |err| {
                    if let Some(s) = weak.upgrade() {
                        tracing::warn!(error = ?err, "muxHTTP: the upstream ended before the version was known");
                        s.fail_choice(err.unwrap_or(StreamError::ConnectionReset));
                    }
                });
                let weak = Rc::downgrade(&session);
                let timeout = options.response_timeout;
                if !timeout.is_zero() {
                    crate::timer::call_after(timeout, move || {
                        if let Some(s) = weak.upgrade() {
                            if matches!(&*s.state.borrow(), State::Choosing { .. }) {
                                tracing::warn!("muxHTTP: no version within responseTimeout");
                            }
                            s.fail_choice(StreamError::ReadTimeout);
                        }
                    });
                }
                // Start connecting now: the answer may depend on it (ALPN).
                upstream.pipeline.input(Event::Data(Data::new()));
                let weak = Rc::downgrade(&session);
                let p = pending.clone();
                // Not from inside the filter that settled it, which may be the
                // session's own upstream.
                pending.on_settle(move || {
                    crate::timer::soon(move || {
                        if let Some(s) = weak.upgrade() {
                            s.choose(p.take());
                        }
                    })
                });
                State::Choosing { upstream: Some(upstream), options, streams: Vec::new() }
            }
        };
        *session.state.borrow_mut() = state;
        Some(session)
    }

    /// The version settled: starts speaking it, with the requests that waited.
    fn choose(self: &Rc<Self>, result: Option<Result<Returned, crate::callback::ScriptError>>) {
        let protocol = match result {
            Some(Ok(returned)) => named_version(returned),
            Some(Err(err)) => {
                report_script_error(&err, "muxHTTP");
                None
            }
            None => None,
        };
        let Some(protocol) = protocol else {
            return self.fail_choice(StreamError::RuntimeError);
        };
        if !matches!(&*self.state.borrow(), State::Choosing { .. }) {
            return;
        }
        let State::Choosing { upstream, options, streams } =
            std::mem::replace(&mut *self.state.borrow_mut(), State::Failed)
        else {
            return;
        };
        let streams: Vec<Rc<Stream>> = streams.iter().filter_map(Weak::upgrade).collect();
        let Some(upstream) = upstream else { return };
        let started = start(protocol, upstream, options);
        *self.state.borrow_mut() = started;
        for s in streams {
            let side = self.side_for(&s.joining);
            let held = match std::mem::replace(&mut *s.side.borrow_mut(), side) {
                Side::Waiting { held, mut pause, .. } => {
                    if let Some(c) = &s.joining.flow {
                        pause.clear(&c.toward_server);
                    }
                    held
                }
                _ => Vec::new(),
            };
            for ev in held {
                self.send(&s, ev);
            }
        }
    }

    /// No version will come (the upstream ended, the time ran out, the
    /// function failed): the streams waiting for one end with `err`.
    fn fail_choice(self: &Rc<Self>, err: StreamError) {
        let streams = match &mut *self.state.borrow_mut() {
            State::Choosing { streams, .. } => std::mem::take(streams),
            _ => return,
        };
        let old = std::mem::replace(&mut *self.state.borrow_mut(), State::Failed);
        self.retire();
        for s in streams.iter().filter_map(Weak::upgrade) {
            if let Side::Waiting { mut pause, .. } = std::mem::replace(&mut *s.side.borrow_mut(), Side::Gone) {
                if let Some(c) = &s.joining.flow {
                    pause.clear(&c.toward_server);
                }
            }
            s.inbox.push(Event::error(err));
            s.joining.handle.wake();
        }
        // The upstream goes last: we may be inside it.
        drop(old);
    }

    /// The protocol end of a stream that joins now.
    fn side_for(&self, joining: &Joining) -> Side {
        match &*self.state.borrow() {
            State::H1(s) => Side::H1(s.join(joining)),
            State::H2(s) => Side::H2(s.join(joining)),
            State::Choosing { .. } => {
                Side::Waiting { held: Vec::new(), request_open: false, size: 0, pause: Gauge::default() }
            }
            State::Failed => Side::Gone,
        }
    }

    fn retire(self: &Rc<Self>) {
        if let Some(pool) = self.pool.upgrade() {
            pool.remove(&self.key, self);
        }
    }

    /// The stream at `cx` takes the session.
    pub fn join(self: &Rc<Self>, cx: &Cx<'_>) -> Rc<Stream> {
        self.ledger.join();
        let joining = Joining::of(cx);
        let side = self.side_for(&joining);
        let stream = Rc::new(Stream { joining, side: RefCell::new(side), inbox: Inbox::default() });
        if let State::Choosing { streams, .. } = &mut *self.state.borrow_mut() {
            streams.retain(|s| s.strong_count() > 0);
            streams.push(Rc::downgrade(&stream));
        }
        stream
    }

    /// A request event of `stream`.
    pub fn send(self: &Rc<Self>, stream: &Rc<Stream>, ev: Event) {
        if matches!(ev, Event::MessageStart(_)) && self.protocol().is_some() && self.ended() {
            // The upstream ended before this request could be sent.
            stream.inbox.push(Event::error(StreamError::ConnectionReset));
            stream.joining.handle.wake();
            return;
        }
        let mut side = stream.side.borrow_mut();
        match &mut *side {
            Side::H1(st) => {
                let st = st.clone();
                drop(side);
                if let Some(Live::H1(s)) = self.live() {
                    s.send(&st, ev);
                }
            }
            Side::H2(st) => {
                let st = st.clone();
                drop(side);
                if let Some(Live::H2(s)) = self.live() {
                    s.send(&st, ev);
                }
            }
            Side::Waiting { held, request_open, size, pause } => {
                match &ev {
                    Event::MessageStart(_) => *request_open = true,
                    Event::MessageEnd(_) => *request_open = false,
                    Event::Data(d) => *size += d.len(),
                    _ => {}
                }
                held.push(ev);
                if let Some(c) = &stream.joining.flow {
                    pause.update(&c.toward_server, *size, HELD);
                }
            }
            Side::Gone => {
                if matches!(ev, Event::MessageStart(_)) {
                    drop(side);
                    stream.inbox.push(Event::error(StreamError::RuntimeError));
                    stream.joining.handle.wake();
                }
            }
        }
    }

    /// `stream` is between its request's MessageStart and MessageEnd.
    pub fn request_open(stream: &Stream) -> bool {
        match &*stream.side.borrow() {
            Side::H1(st) => h1::client::Session::request_open(st),
            Side::H2(st) => h2::client::Session::request_open(st),
            Side::Waiting { request_open, .. } => *request_open,
            Side::Gone => false,
        }
    }

    /// `stream`'s request asked for a tunnel and is written: its end goes to
    /// the session too.
    pub fn tunneling(stream: &Stream) -> bool {
        match &*stream.side.borrow() {
            Side::H1(st) => h1::client::Session::tunneling(st),
            Side::H2(st) => h2::client::Session::tunneling(st),
            _ => false,
        }
    }

    /// `stream` stops using the session (a request cut off half-way ends it).
    pub fn leave(self: &Rc<Self>, stream: &Rc<Stream>) {
        let shares = self.ledger.leave();
        let mut side = std::mem::replace(&mut *stream.side.borrow_mut(), Side::Gone);
        if let (Side::Waiting { pause, .. }, Some(c)) = (&mut side, &stream.joining.flow) {
            pause.clear(&c.toward_server);
        }
        // A request cut off before the version was known was never carried:
        // the connection goes on for the others.
        match (side, self.live()) {
            (Side::H1(st), Some(Live::H1(s))) => s.leave(&st, shares),
            (Side::H2(st), Some(Live::H2(s))) => s.leave(&st, shares),
            _ => {}
        }
        if shares == 0 && !self.ended() {
            if let Some(pool) = self.pool.upgrade() {
                pool.watch_idle(self);
            }
        }
    }

    /// Outputs what waits for `stream`'s filter.
    pub fn drain(stream: &Stream, cx: &mut Cx<'_>) {
        stream.inbox.drain(cx);
        // Not borrowed while draining: the filter may send at once.
        let side = match &*stream.side.borrow() {
            Side::H1(st) => Side::H1(st.clone()),
            Side::H2(st) => Side::H2(st.clone()),
            _ => return,
        };
        match side {
            Side::H1(st) => h1::client::Session::inbox(&st).drain(cx),
            Side::H2(st) => h2::client::Session::inbox(&st).drain(cx),
            _ => {}
        }
    }

    /// Whether `stream`'s one request failed without the server processing
    /// it (HTTP/2's GOAWAY or REFUSED_STREAM), so that it may be sent again on
    /// another session; clears the mark. Its StreamEnd was not queued.
    pub fn take_refused(stream: &Stream) -> bool {
        match &*stream.side.borrow() {
            Side::H2(st) => st.take_refused(),
            _ => false,
        }
    }

    /// Whether the answer to `stream`'s latest request has started (HTTP/2;
    /// HTTP/1.1 sessions give nothing back to be sent again, so: true).
    pub fn answering(stream: &Stream) -> bool {
        match &*stream.side.borrow() {
            Side::H2(st) => st.answering(),
            Side::Waiting { .. } => false,
            _ => true,
        }
    }

    /// The protocol session, once there is one (a handle, not borrowed, so
    /// that what it calls may come back here).
    fn live(&self) -> Option<Live> {
        match &*self.state.borrow() {
            State::H1(s) => Some(Live::H1(s.clone())),
            State::H2(s) => Some(Live::H2(s.clone())),
            _ => None,
        }
    }

    /// The protocol it speaks, once known.
    pub fn protocol(&self) -> Option<Protocol> {
        match &*self.state.borrow() {
            State::H1(_) => Some(Protocol::Http1),
            State::H2(_) => Some(Protocol::Http2),
            _ => None,
        }
    }
}

/// The version a `version` function's result names; said in the log when it names none.
fn named_version(returned: Returned) -> Option<Protocol> {
    let protocol = match &returned {
        Returned::Str(Some(key)) => Protocol::from_key(key),
        _ => None,
    };
    if protocol.is_none() {
        tracing::error!(?returned, "muxHTTP: version must be 1, 2, 'http/1.1' or 'h2'");
    }
    protocol
}

/// A protocol session on `upstream`.
fn start(protocol: Protocol, upstream: Upstream, options: Rc<ClientOptions>) -> State {
    match protocol {
        Protocol::Http1 => State::H1(h1::client::Session::open(upstream, options)),
        Protocol::Http2 => State::H2(h2::client::Session::open(upstream, options)),
    }
}

/// The upstream connection of `session`, started in the context of the stream
/// at `cx`: with backpressure of its own (`own_flow`) or its client's.
fn upstream_for(
    session: &Rc<Session>,
    inbound: Option<Rc<Inbound>>,
    layout: &Rc<PipelineLayout>,
    own_flow: bool,
    cx: &Cx<'_>,
) -> Upstream {
    let flow: Option<(Rc<crate::flow::Backpressure>, Rc<std::cell::Cell<bool>>)> = own_flow.then(Default::default);
    let route = Rc::new(Route::default());
    let r = route.clone();
    let sink = Sink::Func(Box::new(move |ev| r.deliver(ev)));
    let context = match &flow {
        Some((own, _)) => cx.context().with_own_flow(own.clone()),
        None => cx.context().clone(),
    };
    let pipeline = Pipeline::in_chain(layout, context, sink, cx.chain().cloned());
    let me = Rc::downgrade(session);
    Upstream {
        pipeline,
        route,
        reads_flow: match &flow {
            Some((own, _)) => Some(own.clone()),
            None => cx.context().flow().cloned(),
        },
        flow,
        inbound: inbound.as_ref().map(Rc::downgrade),
        retire: Box::new(move || {
            if let Some(s) = me.upgrade() {
                s.retire();
            }
        }),
    }
}

impl Pooled for Session {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn usable(&self) -> bool {
        match &*self.state.borrow() {
            State::H1(s) => s.usable(),
            State::H2(s) => s.usable(),
            State::Choosing { .. } => true,
            State::Failed => false,
        }
    }

    fn ended(&self) -> bool {
        match &*self.state.borrow() {
            State::H1(s) => s.ended(),
            State::H2(s) => s.ended(),
            State::Choosing { .. } => false,
            State::Failed => true,
        }
    }

    fn busy(&self) -> bool {
        match &*self.state.borrow() {
            State::H1(s) => s.busy(),
            State::H2(s) => s.busy(),
            State::Choosing { .. } => true,
            State::Failed => false,
        }
    }

    fn close_idle(self: Rc<Self>) {
        match self.live() {
            Some(Live::H1(s)) => s.close(),
            Some(Live::H2(s)) => s.close(),
            None => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_numbers_names_and_callback_keys() {
        assert_eq!(Protocol::from_number(2.0), Some(Protocol::Http2));
        assert_eq!(Protocol::from_number(3.0), None);
        assert_eq!(Protocol::from_name("HTTP/1.1"), Some(Protocol::Http1));
        assert_eq!(Protocol::from_name("h2"), Some(Protocol::Http2));
        assert_eq!(Protocol::from_name("spdy"), None);
        assert_eq!(Protocol::from_key("n:2"), Some(Protocol::Http2));
        assert_eq!(Protocol::from_key("s:http/1.0"), Some(Protocol::Http1));
        assert_eq!(Protocol::from_key("s:2"), None, "the string '2' is no version name");
        assert_eq!(Protocol::from_key("b:true"), None);
    }
}
