//! The HTTP/2 client session: one upstream connection whose streams carry the
//! requests of every `muxHTTP` stream sharing it, side by side. `h2` reads and
//! writes the frames (see `io` for how it is driven); what is here is the
//! bookkeeping between filter streams and h2 streams.
//!
//! A filter stream may send several requests one after another; each is an h2
//! stream of its own, and their answers come back to it in order. A request's
//! head goes out once something follows it (so that a request without a body is
//! one HEADERS frame with END_STREAM), its body as the h2 stream's window
//! allows, its trailers from the MessageEnd's tail. An answer's body is read as
//! fast as its client reads: while a client is slow, its h2 stream's window
//! stays closed and the other streams go on. Request bytes waiting for a window
//! past `BACKLOG` pause that client.
//!
//! A stream that leaves before its answer is whole resets its h2 stream
//! (CANCEL); a reset from the server, or the connection's end, ends the streams
//! it touches with an error (a `502` for one not answered yet). After the
//! server's GOAWAY, and after `maxMessages` requests, the session takes no new
//! streams and closes once its last answer is in. A session awaiting answers
//! that sees no byte either way for `responseTimeout` closes with ReadTimeout.

use super::io::{Wakeup, Wire};
use super::{headers_from_h2, request_to_h2, response_head, trailers_to_h2, Outgoing, Written};
use crate::context::Inbound;
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::flow::{Backpressure, Gauge};
use crate::head::{Head, Tail};
use crate::http::session::{ClientOptions, ClientSession, Joining, Upstream};
use crate::pipeline::{FilterHandle, Inbox, Pipeline};
use bytes::Bytes;
use h2::client::{Connection, ResponseFuture, SendRequest};
use h2::{RecvStream, SendStream};
use smallvec::SmallVec;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::rc::{Rc, Weak};
use std::task::{Context, Poll};

/// Bytes from the server that `h2` has not read yet past which reading pauses.
const MAX_UNREAD: usize = 256 << 10;

/// Request body bytes of one stream waiting for its window past which its
/// client pauses.
const BACKLOG: usize = 64 << 10;

/// Rounds of polling in one go; more is due work left for a wake-up.
const MAX_ROUNDS: usize = 64;

type Handshake = Pin<Box<dyn Future<Output = Result<(SendRequest<Bytes>, Connection<Wire, Bytes>), h2::Error>>>>;

/// One request and its answer.
struct Exchange {
    /// The request's head, until something follows it.
    head: Option<http::Request<()>>,
    /// The request's body, on its way out.
    body: Outgoing,
    send: Option<SendStream<Bytes>>,
    /// The request's last frame was handed to `h2` (or it can go no further).
    sent: bool,
    response: Option<ResponseFuture>,
    recv: Option<RecvStream>,
    body_size: usize,
    /// Its answer was handed to the filter whole, or ended with an error.
    done: bool,
    /// It never reached the server (GOAWAY came first).
    unsent: bool,
    /// A `CONNECT`: its stream is a tunnel once a 2xx answers it, and its
    /// request's Data after MessageEnd is the tunnel's.
    tunnel: bool,
    /// The request's MessageEnd came (for a tunnel, which does not end the stream).
    head_done: bool,
}

impl Exchange {
    fn new(head: http::Request<()>) -> Self {
        Exchange {
            head: Some(head),
            body: Outgoing::default(),
            send: None,
            sent: false,
            response: None,
            recv: None,
            body_size: 0,
            done: false,
            unsent: false,
            tunnel: false,
            head_done: false,
        }
    }

    /// An exchange that fails as soon as it is its turn.
    fn failed() -> Self {
        let mut e = Exchange::new(http::Request::new(()));
        e.head = None;
        e.sent = true;
        e
    }

    /// Gives up the h2 stream (the client went away, or the answer is cut off).
    fn cancel(&mut self) {
        if let Some(send) = &mut self.send {
            send.send_reset(h2::Reason::CANCEL);
        }
        self.send = None;
        self.response = None;
        self.recv = None;
        self.body.clear();
        self.sent = true;
        self.done = true;
    }
}

#[derive(Default)]
struct StreamState {
    /// In request order; the front one's answer is the one being handed over.
    exchanges: VecDeque<Exchange>,
    request_open: bool,
    /// Holds the client's `toward_server` while request bytes back up.
    backlog: Gauge,
}

/// One filter stream's end of a session.
pub struct Stream {
    handle: FilterHandle,
    /// The backpressure of the stream's client connection.
    client: Option<Rc<Backpressure>>,
    inbox: Inbox,
    state: RefCell<StreamState>,
    /// Its one request failed without the server having processed it (it
    /// came after a GOAWAY, or was refused with REFUSED_STREAM): the filter
    /// may send it again, on another session; no StreamEnd was queued for it.
    refused: Cell<bool>,
    /// A StreamEnd was queued for the filter: nothing of this stream is
    /// given back to be sent again after that.
    ended: Cell<bool>,
    /// The answer to its latest request has started (its head was queued).
    answering: Cell<bool>,
    /// Its request was a `CONNECT` that a 2xx answered: it is a tunnel now.
    tunnel_open: Cell<bool>,
}

impl Stream {
    /// Whether the answer to its latest request has started.
    pub fn answering(&self) -> bool {
        self.answering.get()
    }

    /// Queues the end of the stream's output, with `err`.
    fn end_with(&self, err: Option<StreamError>) {
        if !self.ended.replace(true) {
            self.inbox.push(Event::StreamEnd(err));
        }
    }

    /// Whether its request was refused unprocessed (see `refused`), clearing the mark.
    pub fn take_refused(&self) -> bool {
        self.refused.replace(false)
    }

    /// The request failed with `err`: said to the filter, or, when the server
    /// did not process it and it is the stream's only one, marked as refused.
    fn fail(&self, err: StreamError, unprocessed: bool, alone: bool) {
        if unprocessed && alone && !self.ended.get() {
            self.refused.set(true);
        } else {
            self.end_with(Some(err));
        }
    }
}

/// Whether `e` says the server did not process the stream (RFC 9113 §8.7).
fn unprocessed(e: &h2::Error) -> bool {
    e.reason() == Some(h2::Reason::REFUSED_STREAM) || e.is_go_away() && e.is_remote()
}

/// What the h2 connection is doing.
enum Conn {
    Handshaking(Handshake),
    Open(Box<Connection<Wire, Bytes>>),
    Done,
}

/// An HTTP/2 upstream session.
pub struct Session {
    options: Rc<ClientOptions>,
    pipeline: RefCell<Option<Pipeline>>,
    reads_flow: Option<Rc<Backpressure>>,
    inbound: Option<Weak<Inbound>>,
    retire: Box<dyn Fn()>,
    wire: Wire,
    wakeup: Wakeup,
    conn: RefCell<Conn>,
    send: RefCell<Option<SendRequest<Bytes>>>,
    streams: RefCell<Vec<Rc<Stream>>>,
    pumping: Cell<bool>,
    /// Takes no new streams.
    closing: Cell<bool>,
    ended: Cell<bool>,
    /// The server sent its last byte.
    eof: Cell<bool>,
    messages: Cell<usize>,
    unread_pause: RefCell<Gauge>,
    /// Bytes moved either way, the count the last response check saw, how many
    /// checks in a row saw no change, and whether a check is scheduled.
    progress: Cell<u64>,
    progress_seen: Cell<u64>,
    quiet_checks: Cell<u32>,
    response_check: Cell<bool>,
    /// An answer waits for a slow client: silence is not the server's.
    client_slow: Cell<bool>,
    /// `h2` was let go of the connection to close it.
    letting_go: Cell<bool>,
}

/// The error a stream sees when `e` ends its h2 stream or connection.
fn stream_error(e: &h2::Error) -> StreamError {
    if e.reason() == Some(h2::Reason::REFUSED_STREAM) {
        StreamError::ConnectionRefused
    } else {
        StreamError::ConnectionReset
    }
}

type Wakes = SmallVec<[FilterHandle; 4]>;

impl Session {
    /// Polls `h2` and the streams until nothing moves, writes what `h2` wrote,
    /// then wakes the filters that have something.
    fn pump(self: &Rc<Self>) {
        if self.pumping.get() {
            // Called from inside a round (the upstream answered at once): the
            // round in progress goes again.
            self.wakeup.mark();
            return;
        }
        if self.ended.get() {
            return;
        }
        self.pumping.set(true);
        self.wakeup.set_busy(true);
        let waker = self.wakeup.waker().clone();
        let mut task = Context::from_waker(&waker);
        let mut wakes = Wakes::new();
        let mut failure: Option<Option<StreamError>> = None;
        for _ in 0..MAX_ROUNDS {
            self.wakeup.take_woken();
            if let Some(f) = self.poll_connection(&mut task) {
                failure = Some(f);
            }
            self.notice_goaway(&mut task);
            self.poll_streams(&mut task, &mut wakes);
            let upstream_slow = self.reads_flow.as_ref().is_some_and(|f| f.toward_server.is_on());
            if upstream_slow {
                if let Some(f) = &self.reads_flow {
                    self.wakeup.when_clear(&f.toward_server);
                }
            } else {
                let (out, blocked) = self.wire.take_output();
                if !out.is_empty() {
                    self.progress.set(self.progress.get() + out.len() as u64);
                    let pipeline = self.pipeline.borrow().clone();
                    if let Some(p) = pipeline {
                        p.input(Event::Data(Data::from(out)));
                    }
                }
                if blocked {
                    self.wakeup.mark();
                }
            }
            if failure.is_some() || !self.wakeup.take_woken() {
                break;
            }
            self.wakeup.mark();
        }
        self.wakeup.set_busy(false);
        self.pumping.set(false);
        if self.wakeup.take_woken() && failure.is_none() {
            self.wakeup.waker().wake_by_ref();
        }
        if let Some(f) = &self.reads_flow {
            self.unread_pause.borrow_mut().update(&f.toward_client, self.wire.unread(), MAX_UNREAD);
        }
        if let Some(err) = failure {
            self.end(err, &mut wakes);
        } else {
            self.close_if_done();
        }
        for h in wakes {
            h.wake();
        }
    }

    /// After the server's GOAWAY the session takes no new streams (those it
    /// still answers go on); `h2` says so through `poll_ready`.
    fn notice_goaway(&self, task: &mut Context<'_>) {
        let mut send = self.send.borrow_mut();
        let Some(sender) = send.as_mut() else { return };
        if let Poll::Ready(Err(e)) = sender.poll_ready(task) {
            tracing::debug!(error = %e, "muxHTTP: the HTTP/2 upstream takes no more streams");
            self.closing.set(true);
            *send = None;
        }
    }

    /// Polls the handshake and the connection; `Some(error)` once it is over.
    fn poll_connection(&self, task: &mut Context<'_>) -> Option<Option<StreamError>> {
        let mut conn = self.conn.borrow_mut();
        if let Conn::Handshaking(hs) = &mut *conn {
            match hs.as_mut().poll(task) {
                Poll::Ready(Ok((send, c))) => {
                    *self.send.borrow_mut() = (!self.closing.get()).then_some(send);
                    *conn = Conn::Open(Box::new(c));
                }
                Poll::Ready(Err(e)) => {
                    tracing::warn!(error = %e, "muxHTTP: HTTP/2 handshake with the upstream failed");
                    *conn = Conn::Done;
                    return Some(Some(StreamError::ProtocolError));
                }
                Poll::Pending => return None,
            }
        }
        let Conn::Open(c) = &mut *conn else { return None };
        match Pin::new(&mut **c).poll(task) {
            Poll::Ready(Ok(())) => {
                tracing::debug!("muxHTTP: the HTTP/2 upstream connection closed");
                *conn = Conn::Done;
                Some(None)
            }
            Poll::Ready(Err(e)) => {
                if e.is_io() || e.is_go_away() && e.reason() == Some(h2::Reason::NO_ERROR) {
                    tracing::debug!(error = %e, "muxHTTP: the HTTP/2 upstream connection ended");
                } else {
                    tracing::warn!(error = %e, "muxHTTP: HTTP/2 upstream connection error");
                }
                *conn = Conn::Done;
                Some(Some(stream_error(&e)))
            }
            Poll::Pending => None,
        }
    }

    fn poll_streams(&self, task: &mut Context<'_>, wakes: &mut Wakes) {
        let streams = self.streams.borrow();
        let mut send = self.send.borrow_mut();
        let mut slow = false;
        for stream in streams.iter() {
            let mut state = stream.state.borrow_mut();
            let st = &mut *state;
            let mut woke = false;
            for ex in st.exchanges.iter_mut() {
                if self.open_request(ex, &mut send, task) {
                    write_request(ex, task);
                } else {
                    break;
                }
            }
            // Answers in request order: only the front one is read.
            loop {
                let alone = st.exchanges.len() == 1;
                let Some(front) = st.exchanges.front_mut() else { break };
                if !front.done {
                    match read_answer(front, stream, task, &self.wakeup, false, alone) {
                        Progress::Moved => woke = true,
                        Progress::Paused => slow = true,
                        Progress::Still => {}
                    }
                }
                if front.done && !front.sent {
                    // Answered before the request was sent whole (a 413, say):
                    // the rest of the request is not wanted.
                    if let Some(send) = &mut front.send {
                        send.send_reset(h2::Reason::NO_ERROR);
                    }
                    front.send = None;
                    front.body.clear();
                    front.sent = true;
                }
                if front.done {
                    st.exchanges.pop_front();
                    continue;
                }
                break;
            }
            let backlog: usize = st.exchanges.iter().map(|e| e.body.len).sum();
            if let Some(c) = &stream.client {
                st.backlog.update(&c.toward_server, backlog, BACKLOG);
            }
            if woke {
                wakes.push(stream.handle.clone());
            }
        }
        self.client_slow.set(slow);
    }

    /// Opens the h2 stream of `ex` once its head can go; false if it must wait
    /// (the server takes no more streams now), and so must those after it.
    fn open_request(&self, ex: &mut Exchange, send: &mut Option<SendRequest<Bytes>>, task: &mut Context<'_>) -> bool {
        if ex.head.is_none() {
            return true;
        }
        if ex.body.len == 0 && ex.body.finish.is_none() && !(ex.tunnel && ex.head_done) {
            // The head waits for what follows it.
            return false;
        }
        let Some(sender) = send else {
            if matches!(&*self.conn.borrow(), Conn::Handshaking(_)) {
                return false;
            }
            ex.head = None;
            ex.sent = true;
            ex.unsent = true;
            return true;
        };
        match sender.poll_ready(task) {
            Poll::Ready(Ok(())) => {}
            Poll::Ready(Err(e)) => {
                // GOAWAY: no new streams on this connection.
                tracing::debug!(error = %e, "muxHTTP: the HTTP/2 upstream takes no more streams");
                self.closing.set(true);
                *send = None;
                ex.head = None;
                ex.sent = true;
                ex.unsent = true;
                return true;
            }
            Poll::Pending => return false,
        }
        let head = ex.head.take().expect("checked");
        let alone = ex.body.ends_empty();
        match sender.send_request(head, alone) {
            Ok((response, stream)) => {
                ex.response = Some(response);
                if alone {
                    ex.sent = true;
                } else {
                    ex.send = Some(stream);
                }
            }
            Err(e) => {
                tracing::debug!(error = %e, "muxHTTP: an HTTP/2 request could not be sent");
                ex.sent = true;
                ex.unsent = true;
            }
        }
        true
    }

    /// The session is over: what waits gets `err`, and it leaves the pool.
    fn end(self: &Rc<Self>, err: Option<StreamError>, wakes: &mut Wakes) {
        if self.ended.replace(true) {
            return;
        }
        self.closing.set(true);
        *self.send.borrow_mut() = None;
        let mut task = Context::from_waker(std::task::Waker::noop());
        for s in self.streams.borrow().iter() {
            let mut st = s.state.borrow_mut();
            // What has arrived of the answers goes to their streams, whatever
            // their clients' pace (the windows bound it): a whole answer is
            // not cut off because its connection closed after it.
            let mut moved = false;
            loop {
                let alone = st.exchanges.len() == 1;
                let Some(front) = st.exchanges.front_mut() else { break };
                if !front.done {
                    moved |= !matches!(read_answer(front, s, &mut task, &self.wakeup, true, alone), Progress::Still);
                }
                if !front.done {
                    break;
                }
                st.exchanges.pop_front();
            }
            if moved {
                wakes.push(s.handle.clone());
            }
            let mut failed = false;
            // A lone request the connection never carried may go again elsewhere.
            let unsent = st.exchanges.len() == 1 && st.exchanges.iter().all(|ex| ex.head.is_some() || ex.unsent);
            for ex in st.exchanges.iter_mut() {
                if !ex.done {
                    failed = true;
                }
                ex.cancel();
            }
            st.exchanges.clear();
            if let Some(c) = &s.client {
                st.backlog.clear(&c.toward_server);
            }
            drop(st);
            if failed {
                s.fail(err.unwrap_or(StreamError::ConnectionReset), unsent, true);
                wakes.push(s.handle.clone());
            }
        }
        *self.conn.borrow_mut() = Conn::Done;
        if let Some(f) = &self.reads_flow {
            self.unread_pause.borrow_mut().clear(&f.toward_client);
        }
        (self.retire)();
        let pipeline = self.pipeline.borrow_mut().take();
        if let Some(p) = pipeline {
            if !self.eof.get() {
                p.input(Event::end());
            }
        }
    }

    /// A closing session with nothing in flight ends: first `h2` is let go of
    /// the connection (it writes GOAWAY and finishes), then the session ends.
    fn close_if_done(self: &Rc<Self>) {
        if !self.closing.get() || self.ended.get() || self.busy_now() {
            return;
        }
        if !self.letting_go.replace(true) {
            *self.send.borrow_mut() = None;
            return self.pump();
        }
        let mut wakes = Wakes::new();
        self.end(None, &mut wakes);
        for h in wakes {
            h.wake();
        }
    }

    fn busy_now(&self) -> bool {
        self.streams.borrow().iter().any(|s| !s.state.borrow().exchanges.is_empty())
    }

    /// Output of the session's sub-pipeline: frames from the server, or its end.
    fn on_output(self: &Rc<Self>, ev: Event) {
        match ev {
            Event::Data(d) => {
                self.progress.set(self.progress.get() + d.len() as u64);
                for chunk in d.into_chunks() {
                    self.wire.feed(chunk);
                }
                self.pump();
            }
            Event::StreamEnd(err) => {
                self.eof.set(true);
                self.wire.feed_eof();
                self.pump();
                let mut wakes = Wakes::new();
                self.end(err.or(Some(StreamError::ConnectionReset)), &mut wakes);
                for h in wakes {
                    h.wake();
                }
            }
            _ => {}
        }
    }

    /// Watches for answers that do not come, as the HTTP/1 session does.
    fn watch_response(self: &Rc<Self>) {
        let timeout = self.options.response_timeout;
        if self.response_check.get() || timeout.is_zero() {
            return;
        }
        let weak = Rc::downgrade(self);
        let scheduled = crate::timer::call_after(timeout / 4, move || {
            let Some(s) = weak.upgrade() else { return };
            s.response_check.set(false);
            if s.ended.get() || !s.busy_now() {
                s.quiet_checks.set(0);
                return;
            }
            if s.progress.get() != s.progress_seen.get() || s.client_slow.get() {
                s.progress_seen.set(s.progress.get());
                s.quiet_checks.set(0);
            } else {
                s.quiet_checks.set(s.quiet_checks.get() + 1);
            }
            if s.quiet_checks.get() >= 4 {
                tracing::warn!("muxHTTP: no answer from the HTTP/2 upstream within responseTimeout");
                let mut wakes = Wakes::new();
                s.end(Some(StreamError::ReadTimeout), &mut wakes);
                for h in wakes {
                    h.wake();
                }
                return;
            }
            s.watch_response();
        });
        self.response_check.set(scheduled);
    }
}

/// What reading an answer did.
enum Progress {
    Moved,
    Paused,
    Still,
}

/// Hands the filter what of the answer of `ex` has come, while its client
/// keeps up (or, with `force`, whatever its pace).
fn read_answer(
    ex: &mut Exchange,
    stream: &Stream,
    task: &mut Context<'_>,
    wakeup: &Wakeup,
    force: bool,
    alone: bool,
) -> Progress {
    let mut moved = false;
    if ex.head.is_some() {
        // Not sent yet.
        return Progress::Still;
    }
    if let Some(response) = &mut ex.response {
        match Pin::new(response).poll(task) {
            Poll::Ready(Ok(res)) => {
                ex.response = None;
                let (parts, recv) = res.into_parts();
                stream.answering.set(true);
                stream.inbox.push(Event::start(Head::Response(response_head(&parts))));
                moved = true;
                if ex.tunnel && parts.status.is_success() && !recv.is_end_stream() {
                    // The tunnel is open: the answer is its head, and the
                    // stream's DATA is the tunnel's until either side ends.
                    stream.inbox.push(Event::message_end());
                    stream.tunnel_open.set(true);
                } else if recv.is_end_stream() {
                    stream.inbox.push(Event::MessageEnd(Box::default()));
                    ex.done = true;
                    return Progress::Moved;
                }
                ex.recv = Some(recv);
            }
            Poll::Ready(Err(e)) => {
                tracing::debug!(error = %e, "muxHTTP: an HTTP/2 request failed upstream");
                stream.fail(stream_error(&e), unprocessed(&e), alone);
                ex.cancel();
                return Progress::Moved;
            }
            Poll::Pending => return Progress::Still,
        }
    } else if ex.recv.is_none() {
        // Failed before it was sent.
        stream.fail(StreamError::ConnectionReset, ex.unsent, alone);
        ex.cancel();
        return Progress::Moved;
    }
    let Some(recv) = &mut ex.recv else { return Progress::Moved };
    loop {
        if let Some(c) = stream.client.as_ref().filter(|_| !force) {
            if c.toward_client.is_on() {
                // The client is slow: the rest stays in the h2 stream's window.
                wakeup.when_clear(&c.toward_client);
                return if moved { Progress::Moved } else { Progress::Paused };
            }
        }
        match recv.poll_data(task) {
            Poll::Ready(Some(Ok(bytes))) => {
                let _ = recv.flow_control().release_capacity(bytes.len());
                ex.body_size += bytes.len();
                stream.inbox.push(Event::Data(Data::from(bytes)));
                moved = true;
            }
            Poll::Ready(Some(Err(e))) => {
                tracing::debug!(error = %e, "muxHTTP: an HTTP/2 answer was cut off");
                stream.end_with(Some(stream_error(&e)));
                ex.cancel();
                return Progress::Moved;
            }
            Poll::Ready(None) => break,
            Poll::Pending => return if moved { Progress::Moved } else { Progress::Still },
        }
    }
    if stream.tunnel_open.get() {
        // The server's side of the tunnel ended: so does the tunnel.
        stream.end_with(None);
        ex.recv = None;
        ex.done = true;
        return Progress::Moved;
    }
    match recv.poll_trailers(task) {
        Poll::Ready(Ok(trailers)) => {
            let tail =
                Tail { body_size: ex.body_size, headers: trailers.map(|t| headers_from_h2(&t)), ..Tail::default() };
            stream.inbox.push(Event::MessageEnd(Box::new(tail)));
            ex.recv = None;
            ex.done = true;
            Progress::Moved
        }
        Poll::Ready(Err(e)) => {
            tracing::debug!(error = %e, "muxHTTP: HTTP/2 trailers failed");
            stream.end_with(Some(stream_error(&e)));
            ex.cancel();
            Progress::Moved
        }
        Poll::Pending => {
            if moved {
                Progress::Moved
            } else {
                Progress::Still
            }
        }
    }
}

/// True if the stream's latest request is a `CONNECT` whose head is written:
/// what the stream sends next, its end included, is the tunnel's.
fn tunneling(st: &StreamState) -> bool {
    !st.request_open && st.exchanges.back().is_some_and(|ex| ex.tunnel && ex.head_done && !ex.done)
}

/// Hands `h2` what of the request body of `ex` its window allows.
fn write_request(ex: &mut Exchange, task: &mut Context<'_>) {
    if ex.sent {
        return;
    }
    let Some(send) = &mut ex.send else { return };
    if ex.body.write(send, task) == Written::Done {
        ex.sent = true;
    }
}

impl ClientSession for Session {
    type Stream = Stream;

    fn open(upstream: Upstream, options: Rc<ClientOptions>) -> Rc<Session> {
        let Upstream { pipeline, route, flow: _, reads_flow, inbound, retire } = upstream;
        let s = options.h2.clone().clamped();
        let mut b = h2::client::Builder::new();
        b.initial_window_size(s.stream_window)
            .initial_connection_window_size(s.connection_window)
            .max_frame_size(s.max_frame_size)
            .max_header_list_size(options.max_header_size.max(1024) as u32)
            .max_send_buffer_size(options.buffer_size.max(16 << 10))
            .enable_push(false);
        let wire = Wire::default();
        let handshake: Handshake = Box::pin(b.handshake(wire.clone()));
        let session = Rc::new(Session {
            options,
            pipeline: RefCell::new(Some(pipeline)),
            reads_flow,
            inbound,
            retire,
            wire,
            wakeup: Wakeup::default(),
            conn: RefCell::new(Conn::Handshaking(handshake)),
            send: RefCell::new(None),
            streams: RefCell::default(),
            pumping: Cell::new(false),
            closing: Cell::new(false),
            ended: Cell::new(false),
            eof: Cell::new(false),
            messages: Cell::new(0),
            unread_pause: RefCell::default(),
            progress: Cell::new(0),
            progress_seen: Cell::new(0),
            quiet_checks: Cell::new(0),
            response_check: Cell::new(false),
            client_slow: Cell::new(false),
            letting_go: Cell::new(false),
        });
        let weak = Rc::downgrade(&session);
        session.wakeup.set_callback(Rc::new(move || {
            if let Some(s) = weak.upgrade() {
                s.pump();
            }
        }));
        let weak = Rc::downgrade(&session);
        route.set_receiver(Rc::new(move |ev| {
            if let Some(s) = weak.upgrade() {
                s.on_output(ev);
            }
        }));
        // The preface and SETTINGS go out now: the connection starts.
        session.pump();
        session
    }

    fn join(self: &Rc<Self>, joining: &Joining) -> Rc<Stream> {
        let stream = Rc::new(Stream {
            handle: joining.handle.clone(),
            client: joining.flow.clone(),
            inbox: Inbox::default(),
            state: RefCell::default(),
            refused: Cell::new(false),
            ended: Cell::new(false),
            answering: Cell::new(false),
            tunnel_open: Cell::new(false),
        });
        self.streams.borrow_mut().push(stream.clone());
        stream
    }

    fn send(self: &Rc<Self>, stream: &Rc<Stream>, ev: Event) {
        {
            let mut st = stream.state.borrow_mut();
            match ev {
                Event::MessageStart(h) => {
                    st.request_open = true;
                    stream.answering.set(false);
                    let ex = match &*h {
                        Head::Request(r) => match request_to_h2(r, "http", "localhost") {
                            Ok(req) => {
                                let mut ex = Exchange::new(req);
                                ex.tunnel = r.method == "CONNECT";
                                ex
                            }
                            Err(why) => {
                                tracing::warn!(why, "muxHTTP: a request that HTTP/2 cannot carry");
                                Exchange::failed()
                            }
                        },
                        _ => Exchange::failed(),
                    };
                    st.exchanges.push_back(ex);
                    self.messages.set(self.messages.get() + 1);
                    let max = self.options.max_messages;
                    if max > 0 && self.messages.get() >= max {
                        self.closing.set(true);
                    }
                }
                Event::Data(d) => {
                    let tunneling = tunneling(&st);
                    if !st.request_open && !tunneling {
                        return;
                    }
                    let Some(ex) = st.exchanges.back_mut() else { return };
                    if ex.sent {
                        return;
                    }
                    ex.body.push(d);
                }
                Event::MessageEnd(tail) => {
                    if !st.request_open {
                        return;
                    }
                    st.request_open = false;
                    let Some(ex) = st.exchanges.back_mut() else { return };
                    ex.head_done = true;
                    if !ex.tunnel {
                        ex.body.finish = Some(tail.headers.as_ref().filter(|h| !h.is_empty()).map(trailers_to_h2));
                    }
                }
                Event::StreamEnd(err) => {
                    // The client's side of a tunnel ends: END_STREAM after what
                    // waits, or, if it failed, RST_STREAM CONNECT_ERROR (RFC 9113 §8.5).
                    if !tunneling(&st) {
                        return;
                    }
                    let Some(ex) = st.exchanges.back_mut() else { return };
                    if err.is_some() {
                        if let Some(send) = &mut ex.send {
                            send.send_reset(h2::Reason::CONNECT_ERROR);
                        }
                        ex.send = None;
                        ex.body.clear();
                        ex.sent = true;
                    } else {
                        ex.body.finish.get_or_insert(None);
                    }
                }
            }
        }
        self.watch_response();
        // One pump once what runs now is done, for the events of every stream
        // that sends meanwhile: their frames go out in one write.
        if !self.wakeup.defer() {
            self.pump();
        }
    }

    fn request_open(stream: &Stream) -> bool {
        stream.state.borrow().request_open
    }

    fn tunneling(stream: &Stream) -> bool {
        tunneling(&stream.state.borrow())
    }

    fn leave(self: &Rc<Self>, stream: &Rc<Stream>, shares: usize) {
        self.streams.borrow_mut().retain(|s| !Rc::ptr_eq(s, stream));
        let mut abandoned = false;
        {
            let mut st = stream.state.borrow_mut();
            for ex in st.exchanges.iter_mut() {
                if !(ex.done && ex.sent) {
                    abandoned = true;
                }
                ex.cancel();
            }
            st.exchanges.clear();
            if let Some(c) = &stream.client {
                st.backlog.clear(&c.toward_server);
            }
        }
        if abandoned {
            tracing::debug!("muxHTTP: a stream left before its HTTP/2 exchange was over; resetting it");
        }
        let client_gone = self.inbound.as_ref().is_some_and(|i| i.upgrade().is_none_or(|i| i.closed.get()));
        if shares == 0 && client_gone {
            self.closing.set(true);
        }
        // The reset goes out, and a closing session with nothing left ends.
        self.pump();
    }

    fn inbox(stream: &Stream) -> &Inbox {
        &stream.inbox
    }

    fn usable(&self) -> bool {
        !self.closing.get() && !self.ended.get()
    }

    fn ended(&self) -> bool {
        self.ended.get()
    }

    fn busy(&self) -> bool {
        self.busy_now()
    }

    fn close(self: &Rc<Self>) {
        self.closing.set(true);
        self.letting_go.set(true);
        *self.send.borrow_mut() = None;
        self.pump();
        let mut wakes = Wakes::new();
        self.end(None, &mut wakes);
        for h in wakes {
            h.wake();
        }
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        if let Some(f) = &self.reads_flow {
            self.unread_pause.borrow_mut().clear(&f.toward_client);
        }
    }
}
