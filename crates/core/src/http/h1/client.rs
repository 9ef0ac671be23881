//! The HTTP/1.1 client session: one upstream connection (a sub-pipeline, usually
//! ending in `connect`) shared by the streams of one key. Requests are encoded in
//! the order their streams start writing them and never interleave: a stream that
//! starts while another writes is held until that one's request is done. Responses
//! are decoded and go back, in request order (pipelining), to the stream that sent
//! each. The session takes no new requests once the server says `connection:
//! close` or `maxMessages` is reached; when it ends, each request still waiting
//! gets StreamEnd with the error. Hop-by-hop headers are removed both ways. A
//! session awaiting an answer that sees no byte either way for `responseTimeout`
//! closes with ReadTimeout.
//!
//! A request asking for a tunnel (`CONNECT`, `Upgrade: websocket`) takes the
//! connection for itself: no request follows it. If the answer opens the
//! tunnel (2xx, `101`), the stream's Data after its request go upstream raw,
//! what the upstream sends comes back as Data after the answer, and either
//! side's end ends the other's; the stream's Data before that wait for the
//! answer (at most `MAX_HELD` bytes).

use crate::context::Inbound;
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::flow::{self, Backpressure, Direction};
use crate::head::Head;
use crate::http::session::{ClientOptions, ClientSession, Joining, Upstream};
use crate::http::tunnel::{self, Tunnel};
use crate::http::{hop, Decoder, Encoder};
use crate::pipeline::{FilterHandle, Inbox, Pipeline};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

/// Filters to wake once a session's state is settled (most often one).
type Wakes = SmallVec<[FilterHandle; 2]>;

/// One request stream's end of a session.
pub struct Stream {
    handle: FilterHandle,
    /// On a session that may be shared: the backpressure of the stream's client
    /// connection, and whether it is paused because the upstream is slow to read.
    follow: Option<(Rc<Backpressure>, Rc<Cell<bool>>)>,
    /// Response events for the filter to output.
    inbox: Inbox,
    /// Request events held while another stream writes.
    held: RefCell<Vec<Event>>,
    /// Between the request's MessageStart and its MessageEnd.
    request_open: Cell<bool>,
    /// The tunnel its request asked for, and whether the answer opened it.
    tunnel: Cell<Tunnel>,
    tunnel_open: Cell<bool>,
    /// Bytes of tunnel Data held until the answer comes.
    tunnel_held: Cell<usize>,
}

/// Bytes of tunnel Data a stream may send before the answer opens its tunnel.
pub const MAX_HELD: usize = crate::http::h1::decoder::MAX_HELD;

/// A shared upstream: one sub-pipeline, with the HTTP codec around it.
pub struct Session {
    options: Rc<ClientOptions>,
    pipeline: RefCell<Option<Pipeline>>,
    encoder: RefCell<Encoder>,
    decoder: RefCell<Decoder>,
    /// Streams whose requests were sent, in order, one entry per request.
    waiting: RefCell<VecDeque<Rc<Stream>>>,
    /// The stream writing a request now, and those waiting to write.
    writer: RefCell<Option<Rc<Stream>>>,
    writers: RefCell<VecDeque<Rc<Stream>>>,
    messages: Cell<usize>,
    /// Takes no new requests.
    closing: Cell<bool>,
    /// For a per-connection session: the connection.
    inbound: Option<Weak<Inbound>>,
    /// Inside an interim (1xx) response, which answers no request.
    interim: Cell<bool>,
    /// Tells the pool the session is over.
    retire: Box<dyn Fn()>,
    /// A session streams of several clients may share has backpressure of its
    /// own: the upstream pauses while the client of the response being read is
    /// slow, whichever client that is; and whether it is paused so. A session of
    /// one client connection (no key) uses that client's backpressure directly.
    flow: Option<(Rc<Backpressure>, Rc<Cell<bool>>)>,
    /// Bytes moved either way, the count the last response check saw, and how
    /// many checks in a row saw no change; a check is scheduled.
    progress: Cell<u64>,
    progress_seen: Cell<u64>,
    quiet_checks: Cell<u32>,
    response_check: Cell<bool>,
    /// The backpressure the session's pipeline reads under (its own, or its
    /// client's): while it points toward the client, silence is the client's doing.
    reads_flow: Option<Rc<Backpressure>>,
    /// The stream whose tunnel is open: what the upstream sends is its.
    tunnel: RefCell<Option<Rc<Stream>>>,
}

impl Session {
    fn takes_requests(&self) -> bool {
        !self.closing.get() && self.pipeline.borrow().is_some()
    }

    /// Encodes and sends `ev` of `stream`, or holds it while another stream writes.
    fn write(self: &Rc<Self>, stream: &Rc<Stream>, mut ev: Event) {
        match &mut ev {
            Event::MessageStart(h) => {
                stream.request_open.set(true);
                let asked = h.request().map(Tunnel::asked_by).unwrap_or_default();
                stream.tunnel.set(asked);
                if asked.is_asked() {
                    // The connection is the tunnel's, if the answer opens it.
                    self.closing.set(true);
                }
                if let Some(headers) = h.headers_mut() {
                    if asked == Tunnel::Upgrade {
                        tunnel::forward_upgrade(headers);
                    } else {
                        hop::remove(headers);
                    }
                }
            }
            Event::MessageEnd(_) => stream.request_open.set(false),
            _ if !stream.request_open.get() && stream.tunnel.get().is_asked() => {
                return self.write_tunnel(stream, ev);
            }
            _ => {}
        }
        if let (Some((own, _)), Some((client, paused))) = (&self.flow, &stream.follow) {
            flow::follow(own, client, Direction::TowardServer, paused);
        }
        {
            let mut writer = self.writer.borrow_mut();
            match &*writer {
                Some(w) if !Rc::ptr_eq(w, stream) => {
                    stream.held.borrow_mut().push(ev);
                    let mut writers = self.writers.borrow_mut();
                    if !writers.iter().any(|s| Rc::ptr_eq(s, stream)) {
                        writers.push_back(stream.clone());
                    }
                    return;
                }
                Some(_) => {}
                None => *writer = Some(stream.clone()),
            }
        }
        self.send(stream, ev);
    }

    /// Tunnel Data (or the end) of `stream`, after its request: raw upstream
    /// once the tunnel is open, held until then.
    fn write_tunnel(self: &Rc<Self>, stream: &Rc<Stream>, ev: Event) {
        if let (Some((own, _)), Some((client, paused))) = (&self.flow, &stream.follow) {
            flow::follow(own, client, Direction::TowardServer, paused);
        }
        if !stream.tunnel_open.get() {
            if let Event::Data(d) = &ev {
                stream.tunnel_held.set(stream.tunnel_held.get() + d.len());
                if stream.tunnel_held.get() > MAX_HELD {
                    tracing::debug!("muxHTTP: too much tunnel data before the answer; closing the session");
                    let mut wake = Wakes::new();
                    self.end(Some(StreamError::BufferOverflow), &mut wake);
                    for h in wake {
                        h.wake();
                    }
                    return;
                }
            }
            stream.held.borrow_mut().push(ev);
            return;
        }
        let pipeline = self.pipeline.borrow().clone();
        let Some(p) = pipeline else { return };
        match ev {
            Event::Data(d) => {
                self.progress.set(self.progress.get() + d.len() as u64);
                p.input(Event::Data(d));
            }
            // The client's side of the tunnel ends: so does the upstream's.
            Event::StreamEnd(err) => p.input(Event::StreamEnd(err)),
            _ => {}
        }
    }

    /// The answer opened `stream`'s tunnel: what it held goes now.
    fn open_tunnel(self: &Rc<Self>, stream: &Rc<Stream>) {
        stream.tunnel_open.set(true);
        self.encoder.borrow_mut().open_tunnel();
        *self.tunnel.borrow_mut() = Some(stream.clone());
        let held = std::mem::take(&mut *stream.held.borrow_mut());
        for ev in held {
            self.write_tunnel(stream, ev);
        }
    }

    /// Sends one event of the writing stream; at its request's end, hands over.
    fn send(self: &Rc<Self>, stream: &Rc<Stream>, ev: Event) {
        if self.encode_and_pipe(stream, ev) {
            self.next_writer();
        }
    }

    /// Encodes `ev` into the session's sub-pipeline; true if it ended a request.
    fn encode_and_pipe(self: &Rc<Self>, stream: &Rc<Stream>, ev: Event) -> bool {
        let end = matches!(ev, Event::MessageEnd(_));
        if let Event::MessageStart(h) = &ev {
            let head_request = h.request().is_some_and(|r| r.method == "HEAD");
            self.decoder.borrow_mut().expect_response(head_request, stream.tunnel.get());
            self.waiting.borrow_mut().push_back(stream.clone());
            self.watch_response();
        }
        let mut wire: SmallVec<[Data; 2]> = SmallVec::new();
        let mut broken = false;
        self.encoder.borrow_mut().encode(ev, &mut |out| match out {
            Event::Data(d) => wire.push(d),
            // The request did not keep to the length it declared.
            Event::StreamEnd(_) => broken = true,
            _ => {}
        });
        self.progress.set(self.progress.get() + wire.iter().map(|d| d.len() as u64).sum::<u64>());
        // A handle of our own: the sub-pipeline may answer at once and end the session.
        let pipeline = self.pipeline.borrow().clone();
        if let Some(p) = pipeline {
            for d in wire {
                p.input(Event::Data(d));
            }
        }
        if broken {
            tracing::debug!("muxHTTP: a request broke its content-length; closing the session");
            self.closing.set(true);
            if let Some(p) = self.pipeline.borrow().clone() {
                p.input(Event::end());
            }
        }
        if end {
            self.messages.set(self.messages.get() + 1);
            let max = self.options.max_messages;
            if max > 0 && self.messages.get() >= max {
                self.closing.set(true);
            }
        }
        end
    }

    /// Lets the next waiting stream write what it holds.
    fn next_writer(self: &Rc<Self>) {
        loop {
            let next = self.writers.borrow_mut().pop_front();
            *self.writer.borrow_mut() = next.clone();
            let Some(next) = next else { return };
            let held = std::mem::take(&mut *next.held.borrow_mut());
            let mut finished = false;
            for ev in held {
                finished = self.encode_and_pipe(&next, ev);
            }
            if !finished {
                return;
            }
        }
    }

    /// Output of the session's sub-pipeline: responses to route, or its end.
    fn on_output(self: &Rc<Self>, ev: Event) {
        let mut decoded: SmallVec<[Event; 4]> = SmallVec::new();
        let ended = match ev {
            Event::Data(d) => {
                self.progress.set(self.progress.get() + d.len() as u64);
                if let Err(e) = self.decoder.borrow_mut().input(d, &mut |e| decoded.push(e)) {
                    tracing::warn!(error = %e, "muxHTTP: bad response from upstream");
                    Some(Some(StreamError::ProtocolError))
                } else {
                    None
                }
            }
            Event::StreamEnd(err) => {
                let _ = self.decoder.borrow_mut().end(&mut |e| decoded.push(e));
                Some(err)
            }
            _ => None,
        };
        let mut wake = Wakes::new();
        let mut opened = None;
        for mut e in decoded {
            let tunnel = self.tunnel.borrow().clone();
            if let Some(stream) = tunnel {
                // The upstream's side of an open tunnel.
                stream.inbox.push(e);
                if let (Some((own, paused)), Some((client, _))) = (&self.flow, &stream.follow) {
                    flow::follow(client, own, Direction::TowardClient, paused);
                }
                wake.push(stream.handle.clone());
                continue;
            }
            // `100 Continue` and other interim answers are not the response; nor
            // is a `101` to a request that asked for no upgrade (as the decoder
            // reads it).
            if let Event::MessageStart(h) = &e {
                if let Head::Response(r) = &**h {
                    let asked = self.waiting.borrow().front().map(|s| s.tunnel.get()).unwrap_or_default();
                    self.interim.set((100..200).contains(&r.status) && !asked.opened_by(r.status));
                }
            }
            if self.interim.get() {
                if matches!(e, Event::MessageEnd(_)) {
                    self.interim.set(false);
                }
                continue;
            }
            let front = self.waiting.borrow().front().cloned();
            let Some(stream) = front else { continue };
            if let Event::MessageStart(h) = &e {
                if let Head::Response(r) = &**h {
                    let close = r.headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("close"))
                        || (r.protocol == "HTTP/1.0"
                            && !r.headers.get("connection").is_some_and(|v| v.eq_ignore_ascii_case("keep-alive")));
                    if close {
                        self.closing.set(true);
                    }
                    if stream.tunnel.get().opened_by(r.status) {
                        opened = Some(stream.clone());
                    }
                }
            }
            if let Event::MessageStart(h) = &mut e {
                if h.response().is_some_and(|r| r.status != 101) {
                    if let Some(headers) = h.headers_mut() {
                        hop::remove(headers);
                    }
                }
            }
            let done = matches!(e, Event::MessageEnd(_));
            stream.inbox.push(e);
            if let (Some((own, paused)), Some((client, _))) = (&self.flow, &stream.follow) {
                flow::follow(client, own, Direction::TowardClient, paused);
            }
            if done {
                self.waiting.borrow_mut().pop_front();
                if let Some(stream) = opened.take() {
                    tracing::debug!("muxHTTP: the upstream opened a tunnel");
                    self.open_tunnel(&stream);
                }
            }
            wake.push(stream.handle.clone());
        }
        if let Some(err) = ended {
            let tunnel = self.tunnel.borrow_mut().take();
            if let Some(stream) = tunnel {
                // The upstream's side of the tunnel ends as it ended.
                stream.inbox.push(Event::StreamEnd(err));
                wake.push(stream.handle.clone());
            }
            self.end(err.or(Some(StreamError::ConnectionReset)), &mut wake);
        }
        // Waking runs the streams' filters, which may drop them and release this
        // session: nothing of the session is borrowed any more.
        for h in wake {
            h.wake();
        }
    }

    /// The session is over: fail what waits, leave the pool.
    fn end(self: &Rc<Self>, err: Option<StreamError>, wake: &mut Wakes) {
        self.closing.set(true);
        let waiting: Vec<_> = self.waiting.borrow_mut().drain(..).collect();
        let writers: Vec<_> = self.writers.borrow_mut().drain(..).collect();
        // The stream writing now is among those waiting, unless its answer came
        // whole before its request was written out (an early answer, then the
        // upstream closed): it has its answer and gets no error.
        self.writer.borrow_mut().take();
        for s in waiting.iter().chain(writers.iter()) {
            s.inbox.push(Event::StreamEnd(err));
            wake.push(s.handle.clone());
        }
        (self.retire)();
        // Keep the sub-pipeline alive until this call returns (we may be inside it).
        let pipeline = self.pipeline.borrow_mut().take();
        drop(pipeline);
    }

    /// A stream stopped using the session; `shares` are left on it.
    fn release(self: &Rc<Self>, stream: &Rc<Stream>, shares: usize) {
        self.writers.borrow_mut().retain(|s| !Rc::ptr_eq(s, stream));
        let was_writing = self.writer.borrow().as_ref().is_some_and(|w| Rc::ptr_eq(w, stream));
        let client_gone = self.inbound.as_ref().is_some_and(|i| i.upgrade().is_none_or(|i| i.closed.get()));
        // A stream that leaves before its answer came (its client went away, or a
        // script cancelled the request): with nobody else waiting on the session,
        // closing the upstream connection is the only way to cancel in HTTP/1.1.
        let (abandoned, others) = {
            let waiting = self.waiting.borrow();
            (waiting.iter().any(|s| Rc::ptr_eq(s, stream)), waiting.iter().any(|s| !Rc::ptr_eq(s, stream)))
        };
        let tunneling = self.tunnel.borrow().as_ref().is_some_and(|t| Rc::ptr_eq(t, stream));
        if was_writing || tunneling || (abandoned && !others) || (shares == 0 && (self.closing.get() || client_gone)) {
            // A half-written request leaves the upstream connection unusable.
            let mut wake = Wakes::new();
            self.end(None, &mut wake);
            for h in wake {
                h.wake();
            }
        }
    }

    /// Watches for an answer that does not come: every quarter of
    /// `responseTimeout` while requests wait, and after four looks in a row with
    /// no byte moved either way, the session closes with ReadTimeout.
    fn watch_response(self: &Rc<Self>) {
        if self.response_check.get() {
            return;
        }
        let timeout = self.options.response_timeout;
        if timeout.is_zero() {
            return;
        }
        let weak = Rc::downgrade(self);
        let scheduled = crate::timer::call_after(timeout / 4, move || {
            let Some(s) = weak.upgrade() else { return };
            s.response_check.set(false);
            if s.pipeline.borrow().is_none() || s.waiting.borrow().is_empty() {
                s.quiet_checks.set(0);
                return;
            }
            // A client that is slow to read pauses the upstream: not its fault.
            let client_slow = s.reads_flow.as_ref().is_some_and(|f| f.toward_client.is_on());
            if s.progress.get() != s.progress_seen.get() || client_slow {
                s.progress_seen.set(s.progress.get());
                s.quiet_checks.set(0);
            } else {
                s.quiet_checks.set(s.quiet_checks.get() + 1);
            }
            if s.quiet_checks.get() >= 4 {
                let waiting = s.waiting.borrow().len();
                tracing::warn!(waiting, "muxHTTP: no answer from upstream within responseTimeout");
                let mut wake = Wakes::new();
                s.end(Some(StreamError::ReadTimeout), &mut wake);
                for h in wake {
                    h.wake();
                }
                return;
            }
            s.watch_response();
        });
        self.response_check.set(scheduled);
    }
}

impl ClientSession for Session {
    type Stream = Stream;

    fn open(upstream: Upstream, options: Rc<ClientOptions>) -> Rc<Session> {
        let Upstream { pipeline, route, flow, reads_flow, inbound, retire } = upstream;
        let session = Rc::new(Session {
            pipeline: RefCell::new(Some(pipeline)),
            encoder: RefCell::new(Encoder::requests(options.buffer_size)),
            decoder: RefCell::new(Decoder::responses(options.max_header_size)),
            options,
            waiting: RefCell::default(),
            writer: RefCell::default(),
            writers: RefCell::default(),
            messages: Cell::new(0),
            closing: Cell::new(false),
            inbound,
            interim: Cell::new(false),
            progress: Cell::new(0),
            progress_seen: Cell::new(0),
            quiet_checks: Cell::new(0),
            response_check: Cell::new(false),
            reads_flow,
            flow,
            retire,
            tunnel: RefCell::default(),
        });
        let weak = Rc::downgrade(&session);
        route.set_receiver(Rc::new(move |ev| {
            if let Some(s) = weak.upgrade() {
                s.on_output(ev);
            }
        }));
        session
    }

    fn join(self: &Rc<Self>, joining: &Joining) -> Rc<Stream> {
        Rc::new(Stream {
            handle: joining.handle.clone(),
            follow: match (&self.flow, &joining.flow) {
                (Some(_), Some(client)) => Some((client.clone(), Rc::default())),
                _ => None,
            },
            inbox: Inbox::default(),
            held: RefCell::default(),
            request_open: Cell::new(false),
            tunnel: Cell::default(),
            tunnel_open: Cell::new(false),
            tunnel_held: Cell::new(0),
        })
    }

    fn send(self: &Rc<Self>, stream: &Rc<Stream>, ev: Event) {
        self.write(stream, ev);
    }

    fn request_open(stream: &Stream) -> bool {
        stream.request_open.get()
    }

    fn tunneling(stream: &Stream) -> bool {
        stream.tunnel.get().is_asked() && !stream.request_open.get()
    }

    fn leave(self: &Rc<Self>, stream: &Rc<Stream>, shares: usize) {
        self.release(stream, shares);
    }

    fn inbox(stream: &Stream) -> &Inbox {
        &stream.inbox
    }

    fn usable(&self) -> bool {
        self.takes_requests()
    }

    fn ended(&self) -> bool {
        self.pipeline.borrow().is_none()
    }

    fn busy(&self) -> bool {
        !self.waiting.borrow().is_empty() || self.tunnel.borrow().is_some()
    }

    fn close(self: &Rc<Self>) {
        let mut wake = Wakes::new();
        self.end(None, &mut wake);
        for h in wake {
            h.wake();
        }
    }
}
