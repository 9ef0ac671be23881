//! The HTTP/2 server session: one client connection whose streams are requests,
//! served at once. It is what `serveHTTP` and `demuxHTTP` run on when a client
//! starts with the HTTP/2 preface, behind the same `ServerSession` interface as
//! HTTP/1; `h2` reads and writes the frames (see `io` for how it is driven).
//!
//! Each stream is a request to the filter as it arrives: its MessageStart, its
//! body as Data, its trailers in the MessageEnd's tail. Its answer goes out as
//! it comes, on its own: a stream's body waits only for that stream's window,
//! and while it waits the filter is told (`answer` gives `Some(false)`), so that
//! the answer's producer pauses and not the connection. A request body is read
//! as fast as the request's own backpressure allows (`input_flow`), the rest
//! staying in the stream's window. A stream the client resets is given up
//! (`Incoming::Abort`), and nothing else is touched.
//!
//! A `CONNECT` stream, in a session that takes tunnels, is a request whose
//! MessageStart and MessageEnd come at once; if its answer is a 2xx, the
//! answer's head goes at once, the stream's DATA both ways is the tunnel's
//! (Data after the MessageEnds), and either side's end (END_STREAM, or the
//! answer's StreamEnd) ends that side.
//!
//! Misbehaving clients: `h2` answers protocol errors with RST_STREAM or GOAWAY
//! as RFC 9113 says and bounds resets of unaccepted streams, oversize header
//! lists, CONTINUATION floods and small-frame floods; `guard` bounds the
//! control frames it does not. Input `h2` has not read yet pauses reading from
//! the client past a window's worth, and output it waits to write is bounded
//! by `io`.

use super::guard::{Flood, Guard};
use super::io::{Wakeup, Wire};
use super::{request_head, response_to_h2, trailers_to_h2, Outgoing, Written, PREFACE};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::flow::{Backpressure, Gauge};
use crate::head::{Head, ResponseHead, Tail, Text};
use crate::http::server::{Exchanges, ServerOptions};
use crate::http::session::{Incoming, RequestId, ServerSession};
use crate::pipeline::Cx;
use bytes::Bytes;
use h2::server::{Connection, Handshake, SendResponse};
use h2::{Reason, RecvStream, SendStream};
use std::collections::{BTreeMap, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::task::{Context, Poll};
use std::time::Instant;

/// Bytes from the client that `h2` has not read yet past which reading pauses.
const MAX_UNREAD: usize = 256 << 10;

/// Rounds of polling in one go; more is due work left for a wake-up.
const MAX_ROUNDS: usize = 64;

enum Conn {
    Handshaking(Handshake<Wire, Bytes>),
    Open(Connection<Wire, Bytes>),
    Done,
}

/// One request stream.
struct Stream<T> {
    /// The request body, until it ended.
    recv: Option<RecvStream>,
    /// The request body ended; its trailers are awaited.
    body_done: bool,
    body_size: usize,
    /// The pace of the request body: read while nothing is backed up toward the server.
    flow: Option<Rc<Backpressure>>,
    /// Where the answer goes, until its head is sent, and then its body.
    respond: Option<SendResponse<Bytes>>,
    send: Option<SendStream<Bytes>>,
    /// The answer's head, until something follows it (so that a head alone
    /// goes out as one HEADERS frame with END_STREAM).
    head: Option<http::Response<()>>,
    /// The answer's body, on its way out.
    body: Outgoing,
    head_request: bool,
    /// The body waits for the stream's window.
    blocked: bool,
    started: bool,
    /// The answer's last frame was handed to `h2`.
    sent: bool,
    /// A `CONNECT` (in a session taking tunnels), and whether its answer opened it.
    tunnel: bool,
    /// An extended `CONNECT` (RFC 8441), which the filter sees as an HTTP/1
    /// upgrade: its `101` goes out as `200`.
    extended: bool,
    tunnel_open: bool,
    state: Option<T>,
}

impl<T> Stream<T> {
    fn answered(&self) -> bool {
        self.body.finish.is_some()
    }
}

/// An HTTP/2 server connection, sans-IO; `T` is what the filter keeps per request.
pub struct Session<T> {
    wire: Wire,
    wakeup: Wakeup,
    conn: Conn,
    guard: Guard,
    streams: BTreeMap<RequestId, Stream<T>>,
    incoming: VecDeque<Incoming<T>>,
    next_id: RequestId,
    exchanges: Exchanges,
    client: Option<Rc<Backpressure>>,
    unread_pause: Gauge,
    eof: bool,
    closed: bool,
    /// A flood was found: GOAWAY is on its way.
    calming: bool,
    /// GOAWAY for shutdown was sent.
    draining: bool,
    /// It counts in its connection's `closes_itself`, and the inbound it counts in.
    holds_close: bool,
    inbound: Option<Rc<crate::context::Inbound>>,
    /// Answers were given since the last pump, and are written on a deferred
    /// pump when `defer` says so.
    answered: bool,
    defer: bool,
    /// `CONNECT` streams are tunnels (see `taking_tunnels`).
    tunnels: bool,
}

impl<T> Session<T> {
    /// A session with these options; what the client sent so far is fed with
    /// `input`. With `defer`, answers are written once what runs now is done.
    /// With `tunnels`, `CONNECT` streams become tunnels when answered 2xx, and
    /// extended `CONNECT` (RFC 8441) is offered; without, a `CONNECT` is a
    /// request like any other.
    pub fn new(options: &ServerOptions, defer: bool, tunnels: bool) -> Self {
        let s = options.h2.clone().clamped();
        let mut b = h2::server::Builder::new();
        if tunnels {
            b.enable_connect_protocol();
        }
        b.max_concurrent_streams(s.max_concurrent_streams)
            .initial_window_size(s.stream_window)
            .initial_connection_window_size(s.connection_window)
            .max_frame_size(s.max_frame_size)
            .max_header_list_size(s.max_header_list_size)
            .max_send_buffer_size(options.buffer_size.max(16 << 10));
        let wire = Wire::default();
        Session {
            conn: Conn::Handshaking(b.handshake(wire.clone())),
            wire,
            wakeup: Wakeup::default(),
            guard: Guard::new(PREFACE.len()),
            streams: BTreeMap::new(),
            incoming: VecDeque::new(),
            next_id: 0,
            exchanges: Exchanges::default(),
            client: None,
            unread_pause: Gauge::default(),
            eof: false,
            closed: false,
            calming: false,
            draining: false,
            holds_close: false,
            inbound: None,
            answered: false,
            defer,
            tunnels,
        }
    }

    /// Polls `h2` and the streams until nothing moves, then writes what it wrote.
    fn pump(&mut self, cx: &mut Cx<'_>) {
        self.answered = false;
        self.wakeup.set_handle(cx.handle());
        self.exchanges.attach(cx.context().inbound());
        if self.client.is_none() {
            self.client = cx.context().flow().cloned();
        }
        self.wakeup.set_busy(true);
        let waker = self.wakeup.waker().clone();
        let mut task = Context::from_waker(&waker);
        for _ in 0..MAX_ROUNDS {
            self.wakeup.take_woken();
            self.poll_connection(&mut task);
            self.watch_drain(cx);
            self.poll_streams(&mut task);
            let (out, blocked) = self.wire.take_output();
            if !out.is_empty() {
                cx.output(Event::Data(Data::from(out)));
            }
            if blocked {
                match &self.client {
                    // The client is slow to read: more when it has caught up.
                    Some(c) if c.toward_client.is_on() => self.wakeup.when_clear(&c.toward_client),
                    _ => self.wakeup.mark(),
                }
            }
            if !self.wakeup.take_woken() {
                break;
            }
            self.wakeup.mark();
        }
        self.wakeup.set_busy(false);
        if self.wakeup.take_woken() {
            // Work left over: another go, from the event loop.
            self.wakeup.waker().wake_by_ref();
        }
        if let Some(c) = &self.client {
            self.unread_pause.update(&c.toward_server, self.wire.unread(), MAX_UNREAD);
        }
        if matches!(self.conn, Conn::Done) && !self.closed {
            self.give_up_all();
            self.closed = true;
            if let Some(c) = &self.client {
                self.unread_pause.clear(&c.toward_server);
            }
            cx.output(Event::end());
        }
    }

    /// Says goodbye when the worker asks the connection to close (shutdown):
    /// GOAWAY, the streams open finish, then the connection ends. Until then
    /// the socket leaves the connection to close itself.
    fn watch_drain(&mut self, cx: &Cx<'_>) {
        let Some(inbound) = cx.context().inbound() else { return };
        if !self.draining && inbound.draining.get() {
            if let Conn::Open(c) = &mut self.conn {
                tracing::debug!("HTTP/2: closing for shutdown; GOAWAY");
                c.graceful_shutdown();
                self.draining = true;
                // The GOAWAY goes out on the next round.
                self.wakeup.mark();
            }
        }
        if !self.draining && !self.holds_close {
            self.holds_close = true;
            inbound.closes_itself.set(inbound.closes_itself.get() + 1);
            self.inbound = Some(inbound.clone());
            inbound.wake_on_drain(self.wakeup.waker());
        }
    }

    fn poll_connection(&mut self, task: &mut Context<'_>) {
        if let Conn::Handshaking(hs) = &mut self.conn {
            match Pin::new(hs).poll(task) {
                Poll::Ready(Ok(c)) => self.conn = Conn::Open(c),
                Poll::Ready(Err(e)) => {
                    tracing::debug!(error = %e, "HTTP/2: handshake failed");
                    self.conn = Conn::Done;
                }
                Poll::Pending => return,
            }
        }
        let Conn::Open(c) = &mut self.conn else { return };
        loop {
            match c.poll_accept(task) {
                Poll::Ready(Some(Ok((req, respond)))) => {
                    let (parts, recv) = req.into_parts();
                    let mut head = request_head(&parts);
                    let id = self.next_id;
                    self.next_id += 1;
                    self.exchanges.begin();
                    let ended = recv.is_end_stream();
                    let tunnel = self.tunnels && parts.method == http::Method::CONNECT;
                    let extended = tunnel && parts.extensions.get::<h2::ext::Protocol>().is_some();
                    if let Some(p) = parts.extensions.get::<h2::ext::Protocol>().filter(|_| tunnel) {
                        as_upgrade(&mut head, p.as_str());
                    }
                    self.incoming.push_back(Incoming::Request(id, Event::start(Head::Request(head))));
                    if ended || tunnel {
                        self.incoming.push_back(Incoming::Request(id, Event::message_end()));
                    }
                    self.streams.insert(
                        id,
                        Stream {
                            recv: (!ended).then_some(recv),
                            body_done: ended,
                            body_size: 0,
                            flow: None,
                            respond: Some(respond),
                            send: None,
                            head: None,
                            body: Outgoing::default(),
                            head_request: parts.method == http::Method::HEAD,
                            blocked: false,
                            started: false,
                            sent: false,
                            tunnel,
                            extended,
                            tunnel_open: false,
                            state: None,
                        },
                    );
                }
                Poll::Ready(Some(Err(e))) => {
                    if e.is_io() || e.is_go_away() && e.reason() == Some(Reason::NO_ERROR) {
                        tracing::debug!(error = %e, "HTTP/2: connection ended");
                    } else {
                        tracing::info!(error = %e, "HTTP/2: connection error");
                    }
                    self.conn = Conn::Done;
                    return;
                }
                Poll::Ready(None) => {
                    self.conn = Conn::Done;
                    return;
                }
                Poll::Pending => return,
            }
        }
    }

    fn poll_streams(&mut self, task: &mut Context<'_>) {
        let mut finished: Vec<(RequestId, Option<StreamError>)> = Vec::new();
        for (&id, s) in self.streams.iter_mut() {
            // A reset from the client gives the stream up.
            let reset = match (&mut s.respond, &mut s.send) {
                (Some(r), _) => r.poll_reset(task),
                (None, Some(send)) if !s.sent => send.poll_reset(task),
                _ => Poll::Pending,
            };
            if let Poll::Ready(r) = reset {
                tracing::debug!(reason = ?r.ok(), "HTTP/2: the client reset a stream");
                finished.push((id, Some(StreamError::ConnectionReset)));
                continue;
            }
            if let Err(why) = read_body(id, s, task, &mut self.incoming, &self.wakeup) {
                finished.push((id, Some(why)));
                continue;
            }
            write_answer(s, task);
            if s.sent && s.body_done {
                finished.push((id, None));
            }
        }
        for (id, why) in finished {
            let Some(mut s) = self.streams.remove(&id) else { continue };
            self.exchanges.end();
            if let Some(why) = why {
                if let Some(send) = &mut s.send {
                    send.send_reset(Reason::CANCEL);
                }
                self.incoming.push_back(Incoming::Abort(id, why, s.state.take()));
            }
        }
    }

    /// The connection is gone: every stream left is given up.
    fn give_up_all(&mut self) {
        for (id, mut s) in std::mem::take(&mut self.streams) {
            self.exchanges.end();
            if !s.sent {
                self.incoming.push_back(Incoming::Abort(id, StreamError::ConnectionReset, s.state.take()));
            }
        }
    }

    /// A flood: GOAWAY with ENHANCE_YOUR_CALM, then the connection closes.
    fn calm(&mut self, flood: Flood) {
        if self.calming {
            return;
        }
        self.calming = true;
        tracing::warn!(?flood, "HTTP/2: the client sent too many control frames; closing with ENHANCE_YOUR_CALM");
        if let Conn::Open(c) = &mut self.conn {
            c.abrupt_shutdown(Reason::ENHANCE_YOUR_CALM);
        } else {
            self.conn = Conn::Done;
        }
    }
}

/// Reads what the request body of stream `id` has, while its pace allows.
fn read_body<T>(
    id: RequestId,
    s: &mut Stream<T>,
    task: &mut Context<'_>,
    incoming: &mut VecDeque<Incoming<T>>,
    wakeup: &Wakeup,
) -> Result<(), StreamError> {
    let Some(recv) = &mut s.recv else { return Ok(()) };
    while !s.body_done {
        if let Some(f) = &s.flow {
            if f.toward_server.is_on() {
                // Its upstream is slow: the rest stays in the stream's window.
                wakeup.when_clear(&f.toward_server);
                return Ok(());
            }
        }
        match recv.poll_data(task) {
            Poll::Ready(Some(Ok(bytes))) => {
                let _ = recv.flow_control().release_capacity(bytes.len());
                s.body_size += bytes.len();
                incoming.push_back(Incoming::Request(id, Event::Data(Data::from(bytes))));
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "HTTP/2: a request body failed");
                return Err(StreamError::ProtocolError);
            }
            Poll::Ready(None) => s.body_done = true,
            Poll::Pending => return Ok(()),
        }
    }
    if s.tunnel {
        // The client's side of the tunnel ended (its MessageEnd went long ago).
        incoming.push_back(Incoming::Request(id, Event::end()));
        s.recv = None;
        return Ok(());
    }
    match recv.poll_trailers(task) {
        Poll::Ready(Ok(trailers)) => {
            let tail = Tail {
                body_size: s.body_size,
                headers: trailers.map(|t| super::headers_from_h2(&t)),
                ..Tail::default()
            };
            incoming.push_back(Incoming::Request(id, Event::MessageEnd(Box::new(tail))));
            s.recv = None;
            Ok(())
        }
        Poll::Ready(Err(e)) => {
            tracing::debug!(error = %e, "HTTP/2: request trailers failed");
            Err(StreamError::ProtocolError)
        }
        // Trailers may follow: asked again on the next round.
        Poll::Pending => Ok(()),
    }
}

/// Hands `h2` what of the answer of `s` its window allows.
fn write_answer<T>(s: &mut Stream<T>, task: &mut Context<'_>) {
    if s.sent {
        return;
    }
    if let Some(head) = s.head.take_if(|_| s.body.len > 0 || s.body.finish.is_some() || s.tunnel_open) {
        let Some(mut respond) = s.respond.take() else { return };
        let alone = s.body.ends_empty();
        match respond.send_response(head, alone) {
            Ok(send) if !alone => s.send = Some(send),
            Ok(_) => {
                s.sent = true;
                return;
            }
            Err(e) => {
                tracing::debug!(error = %e, "HTTP/2: an answer could not be sent");
                s.sent = true;
                return;
            }
        }
    }
    let Some(send) = &mut s.send else { return };
    match s.body.write(send, task) {
        Written::Blocked => s.blocked = true,
        Written::Open => s.blocked = false,
        Written::Done => {
            s.blocked = false;
            s.sent = true;
        }
    }
}

/// Makes the head of an extended `CONNECT` for `protocol` (RFC 8441) what an
/// HTTP/1 client would send for it: `GET` with `Upgrade: protocol` and
/// `Connection: upgrade`, and, for WebSocket, a `Sec-WebSocket-Key` (HTTP/2
/// has none; an HTTP/1 server needs one, and its accept key is not passed on).
fn as_upgrade(head: &mut crate::head::RequestHead, protocol: &str) {
    head.method = Text::from_static("GET");
    if let Some(a) = &head.authority {
        if !head.path.starts_with('/') {
            head.path = a.clone();
        }
    }
    head.headers.set("upgrade", protocol.to_string());
    head.headers.set("connection", "upgrade");
    if protocol.eq_ignore_ascii_case("websocket") && head.headers.get("sec-websocket-key").is_none() {
        use base64::Engine;
        let mut key = [0u8; 16];
        let seed = std::collections::hash_map::RandomState::new();
        for (i, chunk) in key.chunks_mut(8).enumerate() {
            use std::hash::{BuildHasher, Hasher};
            let mut h = seed.build_hasher();
            h.write_usize(i);
            chunk.copy_from_slice(&h.finish().to_be_bytes());
        }
        head.headers.set("sec-websocket-key", base64::engine::general_purpose::STANDARD.encode(key));
    }
}

/// The answer given for a request whose handler ended without answering.
fn synthesized(err: Option<StreamError>) -> http::Response<()> {
    let (status, _) = err.unwrap_or(StreamError::ConnectionReset).http_status();
    response_to_h2(&ResponseHead::with_status(status))
}

impl<T> Drop for Session<T> {
    fn drop(&mut self) {
        if let Some(i) = self.inbound.take() {
            i.closes_itself.set(i.closes_itself.get().saturating_sub(1));
        }
    }
}

impl<T> ServerSession<T> for Session<T> {
    fn input(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.eof {
            return;
        }
        match ev {
            Event::Data(d) => {
                let now = Instant::now();
                for chunk in d.into_chunks() {
                    if let Err(flood) = self.guard.scan(&chunk, now) {
                        self.calm(flood);
                    }
                    if !self.calming {
                        self.wire.feed(chunk);
                    }
                }
            }
            Event::StreamEnd(_) => {
                self.eof = true;
                self.wire.feed_eof();
            }
            _ => {}
        }
        self.pump(cx);
    }

    fn wake(&mut self, cx: &mut Cx<'_>) {
        self.pump(cx);
    }

    fn refuse(&mut self, id: RequestId, status: u16) {
        let Some(s) = self.streams.get_mut(&id) else { return };
        // The rest of its body is not wanted.
        s.recv = None;
        s.body_done = true;
        if !s.started {
            s.started = true;
            s.head = Some(response_to_h2(&ResponseHead::with_status(status)));
            s.body.finish = Some(None);
        }
    }

    fn next(&mut self, _: &mut Cx<'_>) -> Option<Incoming<T>> {
        self.incoming.pop_front()
    }

    fn keep(&mut self, id: RequestId, state: T) {
        if let Some(s) = self.streams.get_mut(&id) {
            s.state = Some(state);
        }
    }

    fn is_front(&self, _: RequestId) -> bool {
        // Streams are answered side by side: none waits for another's turn.
        false
    }

    fn answer(&mut self, id: RequestId, ev: Event) -> Option<bool> {
        let s = self.streams.get_mut(&id)?;
        if s.answered() || s.sent {
            return None;
        }
        match ev {
            Event::MessageStart(h) => {
                if s.started {
                    return None;
                }
                s.started = true;
                let mut head = match &*h {
                    Head::Response(r) => response_to_h2(r),
                    _ => response_to_h2(&ResponseHead::default()),
                };
                if s.extended && head.status() == http::StatusCode::SWITCHING_PROTOCOLS {
                    // HTTP/1's "switching protocols" is HTTP/2's 200 to an extended CONNECT.
                    *head.status_mut() = http::StatusCode::OK;
                    head.headers_mut().remove("sec-websocket-accept");
                } else if s.extended && head.status().is_success() {
                    // A 2xx that switched nothing (an upstream that ignored the
                    // upgrade): over HTTP/2 it would read as the tunnel opening.
                    tracing::debug!(status = %head.status(), "HTTP/2: an extended CONNECT was answered without switching protocols");
                    head = response_to_h2(&ResponseHead::with_status(502));
                }
                s.tunnel_open = s.tunnel && head.status().is_success();
                if s.tunnel && !s.tunnel_open {
                    // Refused: the rest of what the client sends is not wanted.
                    s.recv = None;
                    s.body_done = true;
                }
                s.head = Some(head);
            }
            // A tunnel's answer does not end with its MessageEnd.
            Event::MessageEnd(_) if s.tunnel_open => return None,
            Event::Data(d) if s.started => {
                if !s.head_request {
                    s.body.push(d);
                }
            }
            Event::Data(_) => return None,
            Event::MessageEnd(tail) if s.started => {
                s.body.finish = Some(tail.headers.as_ref().filter(|h| !h.is_empty()).map(trailers_to_h2));
            }
            Event::MessageEnd(_) => return None,
            Event::StreamEnd(None) if s.tunnel_open => {
                // The tunnel's far side closed: END_STREAM after what waits.
                s.body.finish = Some(None);
            }
            Event::StreamEnd(Some(err)) if s.tunnel_open => {
                // It failed: RST_STREAM CONNECT_ERROR (RFC 9113 §8.5), so that
                // a cut-off transfer does not look whole.
                tracing::debug!(error = ?err, "HTTP/2: a tunnel failed; resetting its stream");
                if let Some(send) = &mut s.send {
                    send.send_reset(Reason::CONNECT_ERROR);
                } else if let Some(r) = &mut s.respond {
                    r.send_reset(Reason::CONNECT_ERROR);
                }
                s.body.clear();
                s.sent = true;
                s.body.finish = Some(None);
            }
            Event::StreamEnd(err) => {
                if s.started {
                    // Cut off half-way: the stream is reset, the connection goes on.
                    tracing::debug!(error = ?err, "HTTP/2: an answer was cut off; resetting its stream");
                    if let Some(send) = &mut s.send {
                        send.send_reset(Reason::INTERNAL_ERROR);
                    } else if let Some(r) = &mut s.respond {
                        r.send_reset(Reason::INTERNAL_ERROR);
                    }
                    s.body.clear();
                    s.sent = true;
                    s.body.finish = Some(None);
                } else {
                    s.started = true;
                    s.head = Some(synthesized(err));
                    s.body.finish = Some(None);
                }
            }
        }
        // Written by a pump after what runs now, so that a body's last frame
        // carries END_STREAM and the answers of several streams go out in one
        // write: unless the stream waits for its window.
        self.answered = true;
        Some(!s.blocked)
    }

    fn flush(&mut self, cx: &mut Cx<'_>) -> bool {
        if self.defer && self.answered && self.incoming.is_empty() && self.wakeup.defer() {
            return false;
        }
        self.pump(cx);
        !self.incoming.is_empty()
    }

    fn state_mut(&mut self, id: RequestId) -> Option<&mut T> {
        self.streams.get_mut(&id)?.state.as_mut()
    }

    fn for_each_writing(&mut self, f: &mut dyn FnMut(&mut T)) {
        for s in self.streams.values_mut() {
            if !s.blocked {
                if let Some(t) = &mut s.state {
                    f(t);
                }
            }
        }
    }

    fn input_flow(&mut self, id: RequestId, flow: &Rc<Backpressure>) -> bool {
        if let Some(s) = self.streams.get_mut(&id) {
            s.flow = Some(flow.clone());
        }
        true
    }

    fn input_ended(&self) -> bool {
        self.eof || self.closed
    }

    fn closed(&self) -> bool {
        self.closed
    }
}
