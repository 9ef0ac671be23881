//! `demuxHTTP(options?).to(...)`: an HTTP/1.x server whose requests each run in a
//! sub-pipeline of their own, with a forked context. Data in is decoded; each
//! request's MessageStart, Data and MessageEnd go to its sub-pipeline as they
//! arrive (bodies stream, nothing is buffered whole). Each sub-pipeline answers with
//! a message; answers are encoded and written in request order, streaming as well
//! (a later answer waits, buffered, until the ones before it are written).
//! StreamEnd in (the client closed) ends the output once the answers already
//! being written are out; requests whose answers have not started are given up,
//! as nginx does.
//!
//! A sub-pipeline that ends before answering gets the client a synthesized
//! response: `502` for refused, unresolved or failed upstreams, `504` for timeouts
//! (`HTTP/1.1 502 Connection Refused`, empty body). One that fails half-way
//! through its answer closes the client connection after what it sent. Bad input
//! is answered with `400` / `431` / `501` after the answers before it, then the
//! connection closes; a request cut off by bad input (a broken chunk) or by the
//! client closing is aborted: its sub-pipeline gets StreamEnd, so an upstream
//! request it started is dropped too. A head not received whole within
//! `headerTimeout`, or a body that stalls for `bodyTimeout`, gets `408`.
//!
//! At most `maxPipelined` requests run at once; past that, reading from the
//! client pauses until answers go out, so a client pipelining without reading
//! holds a bounded amount of memory.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::flow::{self, Backpressure, Direction, Gauge};
use crate::head::{Head, ResponseHead};
use crate::http::server::{self, reading_paused, Exchanges, InputPause, ReadExpired, ReadTimer, ServerOptions};
use crate::http::{Decoder, Encoder, ResponseInfo};
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::cell::Cell;
use std::collections::VecDeque;
use std::rc::Rc;

/// `demuxHTTP` as scripts see it (its sub-pipeline comes from `.to(...)`).
pub const DEF: FilterDef = FilterDef {
    name: "demuxHTTP",
    params: "options?: DemuxHTTPOptions",
    doc: "Serves HTTP on the connection, each request in a sub-pipeline of its own that answers it.",
    options: &[server::OPTIONS],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (first_opts, subs) = if args.is_string(0) { (1, vec![args.layout(0)?]) } else { (0, Vec::new()) };
    let options = Rc::new(ServerOptions::read(&def.options_at(args, first_opts)?)?);
    let named = !subs.is_empty();
    let mut spec = FilterSpec::with_subs(def.name, subs, move |subs| DemuxHttp {
        slot: subs[0].clone(),
        decoder: options.decoder(),
        encoder: Encoder::responses(options.buffer_size),
        timer: ReadTimer::new(&options),
        options: options.clone(),
        streams: VecDeque::new(),
        queued: VecDeque::new(),
        pause: InputPause::default(),
        next_tag: 0,
        input_ended: false,
        closed: false,
        exchanges: Exchanges::default(),
    });
    spec.joint = !named;
    Ok(spec)
}

struct Stream {
    tag: usize,
    pipeline: Option<Pipeline>,
    /// For a request read while others were being answered: the backpressure its
    /// sub-pipeline runs under, so that it can be paused alone while its answer
    /// waits its turn (it follows the client's once it is the one being written);
    /// the answer bytes waiting, and the holds.
    own_flow: Option<OwnFlow>,
    info: ResponseInfo,
    request_done: bool,
    started: bool,
    done: bool,
    /// Answer events waiting for the answers before this one.
    held: Vec<Event>,
    /// Given up (the client left, or its request was cut off): nothing more goes out.
    aborted: bool,
}

/// The backpressure of one pipelined request's sub-pipeline.
struct OwnFlow {
    flow: Rc<Backpressure>,
    held_bytes: usize,
    waiting_turn: Gauge,
    following_client: Rc<Cell<bool>>,
    followed_by_client: Rc<Cell<bool>>,
}

/// What was decoded and waits, in order, for fewer requests to be running.
enum Queued {
    Event(Event),
    /// Bad input at this point: answer with this status, then close.
    Reject(u16),
}

/// The `demuxHTTP` filter.
pub struct DemuxHttp {
    slot: LayoutSlot,
    options: Rc<ServerOptions>,
    decoder: Decoder,
    encoder: Encoder,
    timer: ReadTimer,
    /// Requests read and not yet answered in full, in order; their tags are consecutive.
    streams: VecDeque<Stream>,
    queued: VecDeque<Queued>,
    pause: InputPause,
    next_tag: usize,
    input_ended: bool,
    closed: bool,
    /// Requests read and not answered, counted on the client connection.
    exchanges: Exchanges,
}

impl DemuxHttp {
    fn stream_mut(&mut self, tag: usize) -> Option<&mut Stream> {
        let first = self.streams.front()?.tag;
        self.streams.get_mut(tag.checked_sub(first)?)
    }
}

fn synthesized(status: u16, text: &'static str) -> Vec<Event> {
    let head = ResponseHead { status, status_text: Some(text.into()), ..ResponseHead::default() };
    vec![Event::start(Head::Response(head)), Event::message_end()]
}

fn status_only(status: u16) -> Vec<Event> {
    vec![Event::start(Head::Response(ResponseHead::with_status(status))), Event::message_end()]
}

/// Gives up a stream: its sub-pipeline learns why (an upstream request it made is
/// dropped), and it answers nothing more; with `answer`, that answer goes out in
/// its place if nothing of its own did.
fn abort(s: &mut Stream, why: StreamError, answer: Option<u16>) {
    if let Some(p) = s.pipeline.take() {
        p.input(Event::error(why));
    }
    s.request_done = true;
    s.done = true;
    match answer {
        Some(status) if !s.started => {
            s.held = status_only(status);
            s.info = ResponseInfo { is_final: true, ..ResponseInfo::default() };
            s.started = true;
        }
        _ if s.started => s.held.push(Event::error(why)),
        _ => {
            s.held.clear();
            s.started = true;
            s.aborted = true;
        }
    }
}

impl DemuxHttp {
    /// A decoded request event: started now, or queued while too many run.
    fn request_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        let full = self.streams.len() >= self.options.max_pipelined;
        if !self.queued.is_empty() || (full && matches!(ev, Event::MessageStart(_))) {
            self.queued.push_back(Queued::Event(ev));
            return;
        }
        self.start_event(ev, cx);
    }

    fn start_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if let Event::MessageStart(h) = &ev {
            let info = h.request().map(ResponseInfo::for_request).unwrap_or_default();
            if h.request().is_some_and(|r| r.expects_continue()) && self.streams.is_empty() {
                cx.output(Event::Data(Data::from(crate::http::h1::CONTINUE)));
            }
            let tag = self.next_tag;
            self.next_tag += 1;
            // The first request in line answers straight to the client, under its
            // backpressure; one behind others gets backpressure of its own.
            let own_flow = (!self.streams.is_empty() && cx.context().flow().is_some()).then(|| OwnFlow {
                flow: Rc::default(),
                held_bytes: 0,
                waiting_turn: Gauge::default(),
                following_client: Rc::default(),
                followed_by_client: Rc::default(),
            });
            let context = match &own_flow {
                Some(own) => cx.context().fork_with_flow(own.flow.clone()),
                None => cx.context().fork(),
            };
            let pipeline = cx.sub_pipeline(&self.slot, context, tag);
            self.exchanges.begin();
            self.streams.push_back(Stream {
                tag,
                pipeline,
                own_flow,
                info,
                request_done: false,
                started: false,
                done: false,
                held: Vec::new(),
                aborted: false,
            });
        }
        let Some(stream) = self.streams.back_mut() else { return };
        if stream.request_done {
            return;
        }
        if matches!(ev, Event::MessageEnd(_)) {
            stream.request_done = true;
        }
        // An upstream slow to take this request's body pauses the client.
        if let (Some(own), Some(client)) = (&stream.own_flow, cx.context().flow()) {
            flow::follow(&own.flow, client, Direction::TowardServer, &own.followed_by_client);
        }
        // An answer the sub-pipeline gives at once is queued by the pipeline and
        // handled when this call returns, so holding `stream` here is safe.
        if let Some(p) = &stream.pipeline {
            p.input(ev);
        } else if stream.request_done && !stream.started {
            // The layout was never resolved: nothing will answer.
            stream.held.extend(synthesized(502, "Bad Gateway"));
            stream.started = true;
            stream.done = true;
        }
    }

    /// Answers `status` after the answers before it, then closes.
    fn reject(&mut self, status: u16) {
        let tag = self.next_tag;
        self.next_tag += 1;
        self.exchanges.begin();
        self.streams.push_back(Stream {
            tag,
            pipeline: None,
            own_flow: None,
            info: ResponseInfo { is_final: true, ..ResponseInfo::default() },
            request_done: true,
            started: true,
            done: true,
            held: status_only(status),
            aborted: false,
        });
    }

    /// Input can go no further: answer `status` (none if the client is gone),
    /// aborting a request the bad input cut off.
    fn stop_input(&mut self, status: Option<u16>, why: StreamError) {
        self.input_ended = true;
        if !self.queued.is_empty() {
            // The last queued request may be cut off: it never starts.
            let complete =
                self.queued.iter().rposition(|q| matches!(q, Queued::Event(Event::MessageEnd(_)))).map_or(0, |i| i + 1);
            self.queued.truncate(complete);
            if let Some(status) = status {
                self.queued.push_back(Queued::Reject(status));
            }
            return;
        }
        match self.streams.back_mut() {
            Some(s) if !s.request_done => abort(s, why, status),
            _ => {
                if let Some(status) = status {
                    self.reject(status);
                }
            }
        }
    }

    /// The client closed: answers being written go on; the rest are given up.
    fn client_closed(&mut self) {
        self.queued.clear();
        for s in self.streams.iter_mut().filter(|s| !s.started && !s.aborted) {
            tracing::debug!("client closed before its request was answered; the request is dropped");
            abort(s, StreamError::ConnectionReset, None);
        }
    }

    /// Starts queued requests while fewer than `maxPipelined` run.
    fn start_queued(&mut self, cx: &mut Cx<'_>) {
        while let Some(q) = self.queued.front() {
            if matches!(q, Queued::Event(Event::MessageStart(_))) && self.streams.len() >= self.options.max_pipelined {
                break;
            }
            match self.queued.pop_front() {
                Some(Queued::Event(ev)) => self.start_event(ev, cx),
                Some(Queued::Reject(status)) => self.reject(status),
                None => break,
            }
        }
    }

    /// Writes answers in order: the front one as it comes, later ones when their
    /// turn comes; starts queued requests as running ones finish.
    fn flush(&mut self, cx: &mut Cx<'_>) {
        loop {
            self.write_answers(cx);
            if self.closed || self.queued.is_empty() {
                break;
            }
            let before = (self.streams.len(), self.queued.len());
            self.start_queued(cx);
            if (self.streams.len(), self.queued.len()) == before {
                break;
            }
        }
        let waiting = if self.queued.is_empty() { 0 } else { self.options.max_pipelined };
        self.pause.update(cx.context().flow(), waiting, self.options.max_pipelined);
        if !self.closed && self.input_ended && self.streams.is_empty() && self.queued.is_empty() {
            self.closed = true;
            cx.output(Event::end());
        }
    }

    fn write_answers(&mut self, cx: &mut Cx<'_>) {
        while !self.closed {
            let Some(front) = self.streams.front_mut() else { break };
            let held = std::mem::take(&mut front.held);
            if let Some(own) = &mut front.own_flow {
                // Its turn: it answers to the client now, at the client's pace.
                own.held_bytes = 0;
                own.waiting_turn.clear(&own.flow.toward_client);
            }
            let info = front.info;
            for ev in held {
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
            let front = self.streams.front().expect("still there");
            if !(front.done && front.request_done) {
                break;
            }
            self.streams.pop_front();
            self.exchanges.end();
        }
    }
}

impl Filter for DemuxHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.closed || self.input_ended {
            return;
        }
        self.exchanges.attach(cx.context().inbound());
        let mut decoded = Vec::new();
        let closed = ev.is_stream_end();
        let result = match ev {
            Event::Data(d) => self.decoder.input(d, &mut |e| decoded.push(e)),
            Event::StreamEnd(_) => {
                self.input_ended = true;
                self.decoder.end(&mut |e| decoded.push(e))
            }
            _ => Ok(()),
        };
        for e in decoded {
            self.request_event(e, cx);
        }
        match result {
            Err(_) if closed => {
                tracing::debug!("client closed in the middle of a request; the request is aborted");
                self.stop_input(None, StreamError::ConnectionReset);
            }
            Err(e) => {
                tracing::debug!(error = %e, "bad request");
                self.stop_input(Some(e.status()), StreamError::ProtocolError);
            }
            Ok(()) if !closed => self.timer.after_input(&self.decoder, &cx.handle()),
            Ok(()) => {}
        }
        if closed {
            self.client_closed();
        }
        self.flush(cx);
    }

    fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
        let is_front = self.streams.front().is_some_and(|s| s.tag == tag);
        let turn_buffer = self.options.buffer_size;
        let Some(stream) = self.stream_mut(tag) else { return };
        if stream.done || stream.aborted {
            return;
        }
        match ev {
            Event::MessageStart(_) if stream.started => return,
            Event::MessageStart(_) => stream.started = true,
            Event::Data(_) if !stream.started => return,
            Event::MessageEnd(_) if !stream.started => return,
            Event::MessageEnd(_) => stream.done = true,
            Event::StreamEnd(err) => {
                if stream.started {
                    // Cut off half-way: the client cannot get a whole answer.
                    tracing::debug!(error = ?err, "answer cut off; closing the client connection");
                    stream.done = true;
                    stream.held.push(Event::error(err.unwrap_or(StreamError::ConnectionReset)));
                } else {
                    let (status, text) = err.unwrap_or(StreamError::ConnectionReset).http_status();
                    stream.held.extend(synthesized(status, text));
                    stream.started = true;
                    stream.done = true;
                }
                stream.pipeline = None;
                self.flush(cx);
                return;
            }
            _ => {}
        }
        let client = cx.context().flow();
        if let Some(own) = &mut stream.own_flow {
            if is_front {
                if let Some(client) = client {
                    flow::follow(client, &own.flow, Direction::TowardClient, &own.following_client);
                }
            } else if let Event::Data(d) = &ev {
                // Waiting its turn: past a buffer's worth, its upstream pauses.
                own.held_bytes += d.len();
                own.waiting_turn.update(&own.flow.toward_client, own.held_bytes, turn_buffer);
            }
        }
        stream.held.push(ev);
        if is_front {
            // The answer being written: out it goes, without waiting in `held`.
            self.flush(cx);
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if self.closed || self.input_ended {
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
            None => return,
        }
        self.flush(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::Message;
    use crate::filters::replace;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
    use crate::Context;

    fn answering() -> LayoutSlot {
        let cb = |_: &Context, arg: crate::callback::Arg<'_>, _: crate::callback::Want| {
            let crate::callback::Arg::Message(m) = arg else { panic!("a message") };
            let path = m.head.request().map(|r| r.path.to_string()).unwrap_or_default();
            let events = if path.contains("fail") {
                vec![Event::error(StreamError::ConnectionRefused)]
            } else {
                Message::new(Head::None, format!("ok {path}")).into_events()
            };
            Ok(crate::callback::Returned::Events(events))
        };
        PipelineLayout::new("answer", vec![spec(&replace::MESSAGE, vec![TestArg::Callback(Rc::new(cb))])]).into_slot()
    }

    fn demux() -> FilterSpec {
        let mut s = spec(&DEF, vec![]);
        s.subs.push(answering());
        s
    }

    #[test]
    fn answers_in_order_and_synthesizes_502_for_a_failed_sub_pipeline() {
        let h = Harness::new(vec![demux()]);
        h.send(
            "GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /fail HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        assert_eq!(
            h.out.text(),
            "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nok /a\
HTTP/1.1 502 Connection Refused\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n\
HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: keep-alive\r\n\r\nok /c"
        );
        h.input(Event::end());
        assert!(h.out.ended());
        h.finish();
    }

    /// A sub-pipeline that never answers and notes what it is given.
    fn silent(seen: Rc<std::cell::RefCell<Vec<String>>>) -> FilterSpec {
        struct Note(Rc<std::cell::RefCell<Vec<String>>>);
        impl Filter for Note {
            fn on_event(&mut self, ev: Event, _: &mut Cx<'_>) {
                let what = match &ev {
                    Event::MessageStart(h) => {
                        format!("start {}", h.request().map(|r| r.path.to_string()).unwrap_or_default())
                    }
                    Event::Data(d) => format!("data {}", d.len()),
                    Event::MessageEnd(_) => "end".into(),
                    Event::StreamEnd(e) => format!("eos {e:?}"),
                };
                self.0.borrow_mut().push(what);
            }
        }
        let layout = PipelineLayout::new("silent", vec![FilterSpec::plain("note", move || Note(seen.clone()))]);
        let mut s = spec(&DEF, vec![TestArg::Options([("maxPipelined".to_string(), "2".to_string())].into())]);
        s.subs.push(layout.into_slot());
        s
    }

    #[test]
    fn at_most_max_pipelined_requests_run_and_the_rest_wait_their_turn() {
        let seen = Rc::default();
        let h = Harness::new(vec![silent(Rc::clone(&seen))]);
        let live = crate::live_pipelines();
        h.send(
            "GET /1 HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\nGET /3 HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        assert_eq!(crate::live_pipelines(), live + 2, "the third request waits");
        assert_eq!(seen.borrow().iter().filter(|s| s.starts_with("start")).count(), 2);
        h.input(Event::end());
        // The client left: requests not answered are given up, their pipelines told.
        assert_eq!(seen.borrow().iter().filter(|s| s.starts_with("eos")).count(), 2, "{:?}", seen.borrow());
        assert!(h.out.ended());
        assert_eq!(h.out.text(), "");
        h.finish();
    }

    #[test]
    fn a_broken_chunk_aborts_its_request_and_gets_400_at_once() {
        let seen = Rc::default();
        let h = Harness::new(vec![silent(Rc::clone(&seen))]);
        h.send("POST /up HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n3\r\nabc\r\n+5\r\n");
        assert_eq!(*seen.borrow(), vec!["start /up", "data 3", "eos Some(ProtocolError)"]);
        assert_eq!(h.out.text(), "HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn random_request_streams_keep_the_contract_and_release_everything() {
        let mut x: u64 = 0x9E3779B97F4A7C15;
        let mut rnd = move |n: usize| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x % n.max(1) as u64) as usize
        };
        let parts: &[&str] = &[
            "GET /a HTTP/1.1\r\nhost: x\r\n\r\n",
            "POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyz",
            "GET /fail HTTP/1.1\r\nhost: x\r\n\r\n",
            "PUT /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n",
            "GET /close HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n",
            "BROKEN\r\n\r\n",
        ];
        for _ in 0..2_000 {
            let mut input = String::new();
            for _ in 0..1 + rnd(5) {
                input.push_str(parts[rnd(parts.len())]);
            }
            let h = Harness::new(vec![demux()]);
            let bytes = input.as_bytes();
            let mut at = 0;
            while at < bytes.len() {
                let n = 1 + rnd(bytes.len() - at);
                h.input(Event::Data(bytes[at..at + n].to_vec().into()));
                at += n;
            }
            if rnd(2) == 0 {
                h.input(Event::end());
            }
            h.finish();
        }
    }
}
