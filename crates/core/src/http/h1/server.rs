//! The HTTP/1.x server session: one client connection, read as a sequence of
//! requests and answered in the same order. Both server filters run on it:
//! `serveHTTP` one request at a time, `demuxHTTP` up to `maxPipelined` at once.
//!
//! The session decodes what the client sends and hands the filter, through
//! `next`, each request's events as they arrive (bodies stream), holding back a
//! request while `running` requests are unanswered. The filter answers through
//! `answer`; answers are encoded and written in request order, the front one as
//! it comes, later ones when their turn comes. The rest is the protocol's:
//! `100 Continue` when a request expecting it is the one being answered,
//! response framing for `HEAD`, HTTP/1.0 and `connection: close`, the time limits
//! on reading a request, `400` / `408` / `431` / `501` for bad input after the
//! answers before it, and pausing the client past `maxPipelined` requests read
//! and not answered.
//!
//! When the client closes, answers already being written go on; requests whose
//! answers have not started are given up (`Incoming::Abort`), as nginx does.
//!
//! Tunnels (when the session takes them): after a request asking for one
//! (`CONNECT`, `Upgrade`), what the client sends waits undecoded for the
//! answer. An answer that opens it (2xx, `101`) is written at once and the
//! connection becomes raw bytes both ways: the client's go to that request as
//! Data (and its close as StreamEnd), the answer's Data go out as they are,
//! and the answer's StreamEnd closes the connection. Any other answer lets
//! what waited be read as the next requests.

use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::head::{Head, ResponseHead};
use crate::http::server::{reading_paused, Exchanges, InputPause, ReadExpired, ReadTimer, ServerOptions};
use crate::http::session::{Incoming, RequestId, ServerSession};
use crate::http::tunnel::Tunnel;
use crate::http::{DecodeError, Decoder, Encoder, ResponseInfo};
use crate::pipeline::Cx;
use smallvec::{smallvec, SmallVec};
use std::collections::VecDeque;
use std::rc::Rc;

/// Body bytes that may wait decoded behind unanswered requests before reading
/// pauses (at least; `bufferSize` if larger).
const MIN_QUEUED_BYTES: usize = 64 << 10;

/// How the session's own answers (refusals) go out: the connection closes after them.
const CLOSING: ResponseInfo = ResponseInfo { head_request: false, is_final: true, http10: false, tunnel: Tunnel::No };

/// Answer events waiting to be written: the one being answered passes them on one
/// at a time, so room for one is kept inline.
type Held = SmallVec<[Event; 1]>;

/// One request read and not yet answered in full, with what its filter keeps for it.
struct Answer<T> {
    id: RequestId,
    info: ResponseInfo,
    /// The filter's own state for the request (taken when it is given up).
    state: Option<T>,
    request_done: bool,
    started: bool,
    done: bool,
    /// Answer events waiting for the answers before this one.
    held: Held,
    /// `held` is bytes already encoded.
    encoded: bool,
    /// Given up: nothing of it goes out.
    aborted: bool,
}

impl<T> Answer<T> {
    fn new(id: RequestId, info: ResponseInfo) -> Self {
        Answer {
            id,
            info,
            state: None,
            request_done: false,
            started: false,
            done: false,
            held: Held::new(),
            encoded: false,
            aborted: false,
        }
    }

    /// An answer of the session's own: `status`, then the connection closes.
    fn refusal(id: RequestId, status: u16) -> Self {
        let mut a = Answer::new(id, CLOSING);
        a.request_done = true;
        a.started = true;
        a.done = true;
        a.held = status_only(status);
        a
    }
}

/// What was decoded and waits, in order, for the filter to take it.
enum Queued {
    Event(Event),
    /// Input stopped here (bad input, a time limit, the client closing
    /// half-way): see `cut_off`.
    Stop(Option<u16>, StreamError),
}

/// An HTTP/1.x server connection, sans-IO; `T` is what the filter keeps per request.
pub struct Session<T> {
    options: Rc<ServerOptions>,
    /// Requests handed to the filter and not answered in full, at most.
    running: usize,
    decoder: Decoder,
    encoder: Encoder,
    timer: ReadTimer,
    /// Requests handed to the filter and not answered in full, in order; ids are consecutive.
    answers: VecDeque<Answer<T>>,
    queued: VecDeque<Queued>,
    /// Body bytes in `queued`, and the requests that start there.
    queued_bytes: usize,
    queued_starts: usize,
    /// Answers whose requests have been read whole.
    read_whole: usize,
    /// Requests given up, for the filter to learn of.
    aborts: VecDeque<(RequestId, StreamError)>,
    pause: InputPause,
    next_id: RequestId,
    input_ended: bool,
    /// The client closed; applied once what it sent before has been handed over.
    client_gone: bool,
    closed: bool,
    exchanges: Exchanges,
    /// Requests may open tunnels.
    tunnels: bool,
    /// Whether the answer to the request asking for a tunnel opened it, told
    /// before the decoder holds what follows (its request still being read).
    tunnel_answer: Option<bool>,
    /// The request whose tunnel is open: all the client sends goes to it.
    tunnel: Option<RequestId>,
}

/// Where decoded events wait: `queued`, with its counts kept.
fn queuer<'a>(queued: &'a mut VecDeque<Queued>, bytes: &'a mut usize, starts: &'a mut usize) -> impl FnMut(Event) + 'a {
    move |ev: Event| {
        match &ev {
            Event::Data(d) => *bytes += d.len(),
            Event::MessageStart(_) => *starts += 1,
            _ => {}
        }
        queued.push_back(Queued::Event(ev));
    }
}

fn status_only(status: u16) -> Held {
    smallvec![Event::start(Head::Response(ResponseHead::with_status(status))), Event::message_end()]
}

/// The answer given for a request whose handler ended without answering.
fn synthesized(err: Option<StreamError>) -> Held {
    let (status, text) = err.unwrap_or(StreamError::ConnectionReset).http_status();
    let head = ResponseHead { status, status_text: Some(text.into()), ..ResponseHead::default() };
    smallvec![Event::start(Head::Response(head)), Event::message_end()]
}

impl<T> Session<T> {
    /// A session with these options that hands the filter at most `running`
    /// unanswered requests at a time.
    pub fn new(options: Rc<ServerOptions>, running: usize) -> Self {
        Session {
            running: running.max(1),
            decoder: options.decoder(),
            encoder: Encoder::responses(options.buffer_size),
            timer: ReadTimer::new(&options),
            options,
            answers: VecDeque::new(),
            queued: VecDeque::new(),
            queued_bytes: 0,
            queued_starts: 0,
            read_whole: 0,
            aborts: VecDeque::new(),
            pause: InputPause::default(),
            next_id: 0,
            input_ended: false,
            client_gone: false,
            closed: false,
            exchanges: Exchanges::default(),
            tunnels: false,
            tunnel_answer: None,
            tunnel: None,
        }
    }

    /// Requests asking for a tunnel (`CONNECT`, `Upgrade`) open one when answered so.
    pub fn taking_tunnels(mut self, take: bool) -> Self {
        self.tunnels = take;
        self.decoder = self.options.decoder().tunnels(take);
        self
    }

    /// Once the decoder holds what follows a request asking for a tunnel and
    /// its answer has said: opens the tunnel, or reads on.
    fn settle_tunnel(&mut self) {
        if !self.decoder.holding() {
            return;
        }
        let Some(open) = self.tunnel_answer.take() else { return };
        if open {
            self.tunnel = self.answers.back().map(|a| a.id);
            tracing::debug!("the answer opened a tunnel: the connection carries raw bytes from now on");
        }
        let mut queue = queuer(&mut self.queued, &mut self.queued_bytes, &mut self.queued_starts);
        let result = if open {
            self.decoder.open_tunnel(&mut queue);
            Ok(())
        } else {
            self.decoder.resume(&mut queue)
        };
        drop(queue);
        if let Err(e) = result {
            self.bad_input(e);
        }
    }

    fn bad_input(&mut self, e: DecodeError) {
        tracing::debug!(error = %e, "bad request");
        self.stop_input(Some(e.status()), StreamError::ProtocolError);
    }

    /// Hands over one decoded event; `None` if it goes nowhere (its request
    /// was given up).
    fn hand_over(&mut self, ev: Event, cx: &mut Cx<'_>) -> Option<Incoming<T>> {
        if let Event::Data(d) = &ev {
            self.queued_bytes = self.queued_bytes.saturating_sub(d.len());
        }
        if let Event::MessageStart(h) = &ev {
            self.queued_starts = self.queued_starts.saturating_sub(1);
            let mut info = h.request().map(ResponseInfo::for_request).unwrap_or_default();
            if self.tunnels {
                info.tunnel = h.request().map(Tunnel::asked_by).unwrap_or_default();
            }
            if h.request().is_some_and(|r| r.expects_continue()) && self.answers.is_empty() {
                cx.output(Event::Data(Data::from(super::CONTINUE)));
            }
            let id = self.next_id;
            self.next_id += 1;
            self.exchanges.begin();
            self.answers.push_back(Answer::new(id, info));
            return Some(Incoming::Request(id, ev));
        }
        let back = self.answers.back_mut()?;
        if back.request_done {
            // What the client sends through the tunnel, and its close.
            return (self.tunnel == Some(back.id)).then_some(Incoming::Request(back.id, ev));
        }
        let id = back.id;
        if matches!(ev, Event::MessageEnd(_)) {
            back.request_done = true;
            self.read_whole += 1;
        }
        Some(Incoming::Request(id, ev))
    }

    fn push_refusal(&mut self, status: u16) {
        let id = self.next_id;
        self.next_id += 1;
        self.exchanges.begin();
        self.answers.push_back(Answer::refusal(id, status));
        self.read_whole += 1;
    }

    /// Input can go no further: once what was decoded before is handed over,
    /// answer `status` (none if the client is gone) after the answers before
    /// it, giving up a request the end cut off. A cut-off request that would
    /// wait for others to be answered is never handed over.
    fn stop_input(&mut self, status: Option<u16>, why: StreamError) {
        self.input_ended = true;
        let whole =
            self.queued.iter().rposition(|q| matches!(q, Queued::Event(Event::MessageEnd(_)))).map_or(0, |i| i + 1);
        let is_start = |q: &Queued| matches!(q, Queued::Event(Event::MessageStart(_)));
        let cut_start = self.queued.iter().skip(whole).position(is_start).map(|i| whole + i);
        // The cut-off request is dropped if it would wait for others to be answered.
        let free = self.running.saturating_sub(self.answers.len());
        if cut_start.is_some_and(|i| self.queued.iter().take(i + 1).filter(|q| is_start(q)).count() > free) {
            self.queued.truncate(whole);
            self.queued_bytes =
                self.queued.iter().map(|q| if let Queued::Event(Event::Data(d)) = q { d.len() } else { 0 }).sum();
            self.queued_starts = self.queued.iter().filter(|q| is_start(q)).count();
        }
        self.queued.push_back(Queued::Stop(status, why));
    }

    /// Input stopped here: the request being read, if any, is given up (and
    /// answered `status`); otherwise `status` goes out after the answers before.
    fn cut_off(&mut self, status: Option<u16>, why: StreamError) {
        match self.answers.back() {
            Some(a) if !a.request_done => {
                let id = a.id;
                self.abort(id, why, status);
            }
            _ => {
                if let Some(status) = status {
                    self.push_refusal(status);
                }
            }
        }
    }

    /// The client closed: answers being written go on; the rest are given up.
    fn give_up_unstarted(&mut self) {
        self.queued.clear();
        self.queued_bytes = 0;
        self.queued_starts = 0;
        let unstarted: Vec<RequestId> =
            self.answers.iter().filter(|a| !a.started && !a.aborted).map(|a| a.id).collect();
        for id in unstarted {
            tracing::debug!("client closed before its request was answered; the request is dropped");
            self.abort(id, StreamError::ConnectionReset, None);
        }
    }

    /// Gives up request `id`: the filter learns why, and it answers nothing
    /// more; with `status`, that answer goes out in its place if nothing of its
    /// own did.
    fn abort(&mut self, id: RequestId, why: StreamError, status: Option<u16>) {
        let Some(a) = self.answer_mut(id) else { return };
        let was_read = std::mem::replace(&mut a.request_done, true);
        a.done = true;
        match status {
            Some(status) if !a.started => {
                a.held = status_only(status);
                a.encoded = false;
                a.info = CLOSING;
                a.started = true;
            }
            _ if a.started => a.held.push(Event::error(why)),
            _ => {
                a.held.clear();
                a.started = true;
                a.aborted = true;
            }
        }
        if !was_read {
            self.read_whole += 1;
        }
        self.aborts.push_back((id, why));
    }

    /// Where request `id` is in `answers` (ids there are consecutive).
    fn position(&self, id: RequestId) -> Option<usize> {
        let first = self.answers.front()?.id;
        usize::try_from(id.checked_sub(first)?).ok()
    }

    fn answer_mut(&mut self, id: RequestId) -> Option<&mut Answer<T>> {
        let i = self.position(id)?;
        self.answers.get_mut(i)
    }

    /// How request `id` is to be answered (`HEAD`, HTTP/1.0, last on the connection).
    pub fn info(&self, id: RequestId) -> ResponseInfo {
        self.position(id).and_then(|i| self.answers.get(i)).map(|a| a.info).unwrap_or_default()
    }

    /// A whole answer to request `id`, already encoded; with `close`, the
    /// connection closes after it.
    pub fn answer_encoded(&mut self, id: RequestId, wire: Data, close: bool) {
        let Some(a) = self.answer_mut(id) else { return };
        if a.started || a.aborted {
            return;
        }
        a.started = true;
        a.done = true;
        a.encoded = true;
        a.held = smallvec![Event::Data(wire)];
        if close {
            a.held.push(Event::end());
        }
    }

    /// Encodes a whole answer for a request with `info` into bytes, and whether
    /// the connection must close after it (it is the last, or it cannot be
    /// framed whole). Only between answers: the encoder is the session's.
    pub fn encode_whole(&mut self, info: ResponseInfo, events: impl IntoIterator<Item = Event>) -> (Data, bool) {
        debug_assert!(!self.encoder.in_message(), "encode_whole in the middle of an answer");
        self.encoder.set_response_info(info);
        let mut wire = Data::new();
        let mut close = false;
        let mut collect = |out: Event| match out {
            Event::Data(d) => wire.push(d),
            Event::StreamEnd(_) => close = true,
            _ => {}
        };
        for ev in events {
            let done = matches!(ev, Event::MessageEnd(_) | Event::StreamEnd(_));
            self.encoder.encode(ev, &mut collect);
            if done {
                break;
            }
        }
        if self.encoder.in_message() {
            self.encoder.encode(Event::message_end(), &mut collect);
        }
        (wire, close || info.is_final)
    }
}

impl<T> ServerSession<T> for Session<T> {
    fn input(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.input_ended() {
            return;
        }
        self.exchanges.attach(cx.context().inbound());
        let closed = ev.is_stream_end();
        if closed {
            self.input_ended = true;
        }
        let mut queue = queuer(&mut self.queued, &mut self.queued_bytes, &mut self.queued_starts);
        let result = match ev {
            Event::Data(d) => self.decoder.input(d, &mut queue),
            Event::StreamEnd(err) => {
                if self.decoder.in_tunnel() {
                    // The tunnel's request side ends; its answer goes on.
                    queue(Event::StreamEnd(err));
                }
                self.decoder.end(&mut queue)
            }
            _ => Ok(()),
        };
        drop(queue);
        match result {
            Err(_) if closed => {
                tracing::debug!("client closed in the middle of a request; the request is aborted");
                self.stop_input(None, StreamError::ConnectionReset);
            }
            Err(e) => self.bad_input(e),
            Ok(()) if !closed => {
                self.settle_tunnel();
                self.timer.after_input(&self.decoder, &cx.handle());
            }
            Ok(()) => {}
        }
        if closed {
            self.client_gone = true;
        }
    }

    fn wake(&mut self, cx: &mut Cx<'_>) {
        if self.input_ended() {
            return;
        }
        match self.timer.check(&self.decoder, &cx.handle(), reading_paused(cx)) {
            Some(ReadExpired::Head) => {
                tracing::debug!("request head not received within headerTimeout");
                self.stop_input(Some(408), StreamError::ReadTimeout);
            }
            Some(ReadExpired::Body) => {
                tracing::debug!("request body stalled for bodyTimeout");
                self.stop_input(Some(408), StreamError::ReadTimeout);
            }
            None => {}
        }
    }

    fn refuse(&mut self, _: RequestId, status: u16) {
        if self.closed {
            return;
        }
        // Whatever was read after it, bad input included, goes unanswered.
        self.input_ended = true;
        self.queued.clear();
        self.queued_bytes = 0;
        self.queued_starts = 0;
        self.cut_off(Some(status), StreamError::ProtocolError);
    }

    fn next(&mut self, cx: &mut Cx<'_>) -> Option<Incoming<T>> {
        loop {
            if let Some((id, why)) = self.aborts.pop_front() {
                let state = self.answer_mut(id).and_then(|a| a.state.take());
                return Some(Incoming::Abort(id, why, state));
            }
            let front_is_start = matches!(self.queued.front(), Some(Queued::Event(Event::MessageStart(_))));
            if self.closed {
                // The connection is done: what was read after its last answer goes nowhere.
            } else if front_is_start && self.answers.len() >= self.running {
                // Too many running: the rest waits.
            } else if let Some(q) = self.queued.pop_front() {
                match q {
                    Queued::Event(ev) => {
                        if let Some(incoming) = self.hand_over(ev, cx) {
                            return Some(incoming);
                        }
                    }
                    Queued::Stop(status, why) => self.cut_off(status, why),
                }
                continue;
            }
            if !self.client_gone {
                return None;
            }
            self.client_gone = false;
            self.give_up_unstarted();
        }
    }

    fn answer(&mut self, id: RequestId, ev: Event) -> Option<bool> {
        let is_front = self.is_front(id);
        let tunnel_open = self.tunnel == Some(id);
        let a = self.answer_mut(id)?;
        if a.done || a.aborted {
            return None;
        }
        let mut decided = None;
        match &ev {
            Event::MessageStart(_) if a.started => return None,
            Event::MessageStart(h) => {
                a.started = true;
                if a.info.tunnel.is_asked() {
                    let status = h.response().map_or(200, |r| r.status);
                    decided = Some(a.info.tunnel.opened_by(status));
                }
            }
            Event::Data(_) | Event::MessageEnd(_) if !a.started => return None,
            // A tunnel's answer goes on after its head's end, until its StreamEnd.
            Event::MessageEnd(_) if tunnel_open => {}
            Event::MessageEnd(_) => a.done = true,
            Event::StreamEnd(err) if tunnel_open && a.started => {
                a.held.push(Event::StreamEnd(*err));
                a.done = true;
                return Some(is_front);
            }
            &Event::StreamEnd(err) => {
                if a.started {
                    tracing::debug!(error = ?err, "answer cut off; closing the client connection");
                    a.held.push(Event::error(err.unwrap_or(StreamError::ConnectionReset)));
                } else {
                    a.held = synthesized(err);
                    a.started = true;
                }
                a.done = true;
                return Some(is_front);
            }
            Event::Data(_) => {}
        }
        a.held.push(ev);
        if let Some(open) = decided {
            if open {
                // Said at once: the request side opens with the answer's head.
                self.tunnel = Some(id);
            }
            self.tunnel_answer = Some(open);
            self.settle_tunnel();
        }
        Some(is_front)
    }

    fn flush(&mut self, cx: &mut Cx<'_>) -> bool {
        let mut finished = false;
        while !self.closed {
            let Some(front) = self.answers.front_mut() else { break };
            let mut held = std::mem::take(&mut front.held);
            let (info, encoded) = (front.info, front.encoded);
            for ev in held.drain(..) {
                if encoded {
                    if ev.is_stream_end() {
                        self.closed = true;
                    }
                    cx.output(ev);
                    continue;
                }
                if let Event::MessageStart(_) = ev {
                    self.encoder.set_response_info(info);
                }
                let mut ended = false;
                self.encoder.encode(ev, &mut |out| {
                    if out.is_stream_end() {
                        ended = true;
                    }
                    cx.output(out)
                });
                if ended {
                    self.closed = true;
                    break;
                }
            }
            // An answer given before its request ended stays until the request has
            // been read (the next request cannot start before that anyway).
            let front = self.answers.front_mut().expect("still there");
            if front.held.is_empty() {
                // Its room, for what comes next.
                front.held = held;
            }
            if self.closed || !(front.done && front.request_done) {
                break;
            }
            self.answers.pop_front();
            self.read_whole -= 1;
            self.exchanges.end();
            finished = true;
        }
        debug_assert_eq!(self.read_whole, self.answers.iter().filter(|a| a.request_done).count());
        debug_assert_eq!(
            self.queued_starts,
            self.queued.iter().filter(|q| matches!(q, Queued::Event(Event::MessageStart(_)))).count()
        );
        // Requests read and not answered, or body bytes waiting behind them, pause the client.
        let queued_bytes = self.queued_bytes + self.decoder.held_bytes();
        let waiting = if queued_bytes > self.options.buffer_size.max(MIN_QUEUED_BYTES) {
            self.options.max_pipelined
        } else {
            self.read_whole + self.queued_starts
        };
        self.pause.update(cx.context().flow(), waiting, self.options.max_pipelined);
        let idle = self.answers.is_empty() && self.queued.is_empty() && self.aborts.is_empty();
        if !self.closed && self.input_ended && !self.client_gone && idle {
            self.closed = true;
            cx.output(Event::end());
        }
        finished && !self.closed && !self.queued.is_empty()
    }

    fn keep(&mut self, id: RequestId, state: T) {
        if let Some(a) = self.answer_mut(id) {
            a.state = Some(state);
        }
    }

    fn is_front(&self, id: RequestId) -> bool {
        self.answers.front().is_some_and(|a| a.id == id)
    }

    fn state_mut(&mut self, id: RequestId) -> Option<&mut T> {
        self.answer_mut(id)?.state.as_mut()
    }

    fn for_each_writing(&mut self, f: &mut dyn FnMut(&mut T)) {
        if let Some(t) = self.answers.front_mut().and_then(|a| a.state.as_mut()) {
            f(t);
        }
    }

    fn input_flow(&mut self, _: RequestId, _: &Rc<crate::flow::Backpressure>) -> bool {
        false
    }

    fn input_ended(&self) -> bool {
        self.input_ended || self.closed
    }

    fn closed(&self) -> bool {
        self.closed
    }
}
