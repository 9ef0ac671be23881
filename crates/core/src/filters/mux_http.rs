//! `muxHTTP(key?, options?).to(...)` or `muxHTTP('pipeline', key?, options?)`: an
//! HTTP/1.1 client. Request messages in are encoded and sent through a *session*:
//! a sub-pipeline (usually ending in `connect`) shared by every stream whose key is
//! the same; the session's output is decoded and each response goes back, as
//! messages, to the stream that sent the request (HTTP/1.1 pipelining: responses
//! come back in request order).
//!
//! Keys: the value `key` gives (a function is called per stream; equal strings and
//! numbers share, objects share by identity). Without a key, each client
//! connection has its own session, closed when the connection closes. Sessions are
//! kept by the filter's place in the layout, per worker thread.
//!
//! Request bodies stream through while the session is free to write; a request
//! that arrives while another is being written is held until that one is done, so
//! requests never interleave. A session is not given new requests once the server
//! says `connection: close` or `maxMessages` is reached. When a session ends, each
//! request still waiting gets StreamEnd with the error (a `demuxHTTP` in front turns
//! it into 502 / 504).
//!
//! A request the client gives up half-way (its stream ends before its MessageEnd)
//! cannot be finished, so its session closes. Hop-by-hop headers (`Connection`,
//! `Keep-Alive`, `TE`, `Upgrade`, ...) are not passed on in either direction.
//! A session awaiting an answer that sees no byte either way for
//! `responseTimeout` closes, and its streams end with ReadTimeout (a
//! `demuxHTTP` in front answers `504`).
//!
//! Forms: `muxHTTP()`, `muxHTTP(key)`, `muxHTTP(options)`, `muxHTTP(key, options)`,
//! and with a pipeline name first.

use crate::args::{ArgError, ArgResult, Args, OptValue, Param};
use crate::callback::{Arg, Returned, Want};
use crate::context::Inbound;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::flow::{self, Backpressure, Direction};
use crate::head::Head;
use crate::http::{self, hop, Decoder, Encoder};
use crate::mux::{Key, Ledger, Pool, Pooled};
use crate::options::{OptionDef, Ty};
use crate::pipeline::{report_script_error, Cx, Filter, FilterHandle, FilterSpec, Inbox, LayoutSlot, Pipeline, Sink};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

struct Options {
    response_timeout: std::time::Duration,
    max_messages: usize,
    buffer_size: usize,
    max_header_size: usize,
}

/// The sessions of one `muxHTTP` in a layout, and the options they share.
struct Upstreams {
    options: Options,
    pool: Pool<Session>,
}

/// `muxHTTP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "muxHTTP",
    params: "key?: any | (() => any), options?: MuxHTTPOptions",
    doc: "Sends each HTTP request through an upstream session shared by the streams of the same key.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::duration("maxIdle", "How long a session no stream uses stays open.")
        .default_duration(std::time::Duration::from_secs(10)),
    OptionDef::int("maxQueue", "Streams sharing one session; 0 is no limit.").default_int(0),
    OptionDef::int("maxMessages", "Requests a session carries before it takes no more; 0 is no limit.")
        .default_int(0),
    OptionDef::size(
        "bufferSize",
        "Request bodies up to this get a content-length; longer ones keep the length they declare or go chunked.",
    )
    .default_size(http::DEFAULT_BUFFER_SIZE),
    OptionDef::size("maxHeaderSize", "Largest response head; a bigger one fails the session.")
        .default_size(http::DEFAULT_MAX_HEADER_SIZE),
    OptionDef::duration(
        "responseTimeout",
        "A session awaiting an answer that sees no byte either way for this long closes; its streams end with ReadTimeout.",
    )
    .default_duration(std::time::Duration::from_secs(60)),
    OptionDef::new(
        "version",
        &[Ty::Int, Ty::Str, Ty::Function],
        "The HTTP version spoken upstream: 1 (or 'http/1.1'); 2 is refused until HTTP/2 upstreams are supported.",
    )
    .default_int(1),
    OptionDef::new("ping", &[Ty::Function], "HTTP/2 keep-alive pings.")
        .ignored("applies to HTTP/2 sessions only, which this proxy does not open yet"),
    OptionDef::size("connectionWindowSize", "HTTP/2 connection flow-control window.")
        .ignored("applies to HTTP/2 sessions only, which this proxy does not open yet"),
    OptionDef::size("streamWindowSize", "HTTP/2 stream flow-control window.")
        .ignored("applies to HTTP/2 sessions only, which this proxy does not open yet"),
];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (subs, first) = if args.is_string(0) { (vec![args.layout(0)?], 1) } else { (Vec::new(), 0) };
    // `muxHTTP(options)`: an object first is the options, not a key.
    let (key, options_at): (Option<Param<String>>, usize) = if args.is_function(first) {
        (Some(Param::Dynamic(args.callback(first)?.expect("checked"))), first + 1)
    } else if args.is_object(first) && args.is_nullish(first + 1) {
        (None, first)
    } else if args.is_nullish(first) {
        (None, first + 1)
    } else {
        (args.string(first)?.map(|s| Param::Static(format!("v:{s}"))), first + 1)
    };
    let r = def.options_at(args, options_at)?;
    let http1 = match r.raw("version")? {
        None | Some(OptValue::Callback(_)) => true,
        Some(OptValue::Number(n)) => n == 1.0,
        Some(OptValue::Str(s)) => matches!(s.to_ascii_lowercase().as_str(), "http/1" | "http/1.1" | "http/1.0"),
        Some(_) => false,
    };
    if !http1 {
        return Err(ArgError(format!("{}: only HTTP/1.1 upstreams are supported so far (version: 1)", def.name)));
    }
    let max_idle = r.duration("maxIdle")?;
    let max_queue = r.int("maxQueue")?.max(0) as usize;
    let upstreams = Rc::new(Upstreams {
        options: Options {
            response_timeout: r.duration("responseTimeout")?,
            max_messages: r.int("maxMessages")?.max(0) as usize,
            buffer_size: r.size("bufferSize")?,
            max_header_size: r.size("maxHeaderSize")?,
        },
        pool: Pool::new(max_queue, max_idle),
    });
    let key = Rc::new(key);
    let named = !subs.is_empty();
    let mut spec = FilterSpec::with_subs(def.name, subs, move |subs| MuxHttp {
        upstreams: upstreams.clone(),
        key: key.clone(),
        slot: subs[0].clone(),
        attached: None,
    });
    spec.joint = !named;
    Ok(spec)
}

/// One request stream's end of a session.
struct Stream {
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
}

/// A shared upstream: one sub-pipeline, with the HTTP codec around it.
struct Session {
    key: Key,
    upstreams: Weak<Upstreams>,
    pipeline: RefCell<Option<Pipeline>>,
    encoder: RefCell<Encoder>,
    decoder: RefCell<Decoder>,
    /// Streams whose requests were sent, in order, one entry per request.
    waiting: RefCell<VecDeque<Rc<Stream>>>,
    /// The stream writing a request now, and those waiting to write.
    writer: RefCell<Option<Rc<Stream>>>,
    writers: RefCell<VecDeque<Rc<Stream>>>,
    /// The streams on it, for the pool.
    ledger: Ledger,
    messages: Cell<usize>,
    /// Takes no new requests.
    closing: Cell<bool>,
    /// For a per-connection session: the connection.
    inbound: Option<Weak<Inbound>>,
    /// Inside an interim (1xx) response, which answers no request.
    interim: Cell<bool>,
    /// The object the key stands for, kept alive with the session.
    _key_object: Option<crate::callback::ScriptValue>,
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
}

impl Session {
    fn usable(&self) -> bool {
        !self.closing.get() && self.pipeline.borrow().is_some()
    }

    /// Encodes and sends `ev` of `stream`, or holds it while another stream writes.
    fn write(self: &Rc<Self>, stream: &Rc<Stream>, mut ev: Event) {
        match &mut ev {
            Event::MessageStart(h) => {
                stream.request_open.set(true);
                if let Some(headers) = h.headers_mut() {
                    hop::remove(headers);
                }
            }
            Event::MessageEnd(_) => stream.request_open.set(false),
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
            self.decoder.borrow_mut().expect_response(head_request);
            self.waiting.borrow_mut().push_back(stream.clone());
            self.watch_response();
        }
        let mut wire = Vec::new();
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
            let max = self.upstreams.upgrade().map(|u| u.options.max_messages).unwrap_or(0);
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
        let mut decoded = Vec::new();
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
        let mut wake: Vec<FilterHandle> = Vec::new();
        for mut e in decoded {
            // `100 Continue` and other interim answers are not the response.
            if let Event::MessageStart(h) = &e {
                if let Head::Response(r) = &**h {
                    self.interim.set((100..200).contains(&r.status) && r.status != 101);
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
            }
            wake.push(stream.handle.clone());
        }
        if let Some(err) = ended {
            self.end(err.or(Some(StreamError::ConnectionReset)), &mut wake);
        }
        // Waking runs the streams' filters, which may drop them and release this
        // session: nothing of the session is borrowed any more.
        for h in wake {
            h.wake();
        }
    }

    /// The session is over: fail what waits, leave the pool.
    fn end(self: &Rc<Self>, err: Option<StreamError>, wake: &mut Vec<FilterHandle>) {
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
        self.leave_pool();
        // Keep the sub-pipeline alive until this call returns (we may be inside it).
        let pipeline = self.pipeline.borrow_mut().take();
        drop(pipeline);
    }

    fn leave_pool(self: &Rc<Self>) {
        if let Some(u) = self.upstreams.upgrade() {
            u.pool.remove(&self.key, self);
        }
    }

    /// A stream stopped using the session.
    fn release(self: &Rc<Self>, stream: &Rc<Stream>) {
        let shares = self.ledger.leave();
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
        if was_writing || (abandoned && !others) || (shares == 0 && (self.closing.get() || client_gone)) {
            // A half-written request leaves the upstream connection unusable.
            let mut wake = Vec::new();
            self.end(None, &mut wake);
            for h in wake {
                h.wake();
            }
        } else if shares == 0 {
            if let Some(u) = self.upstreams.upgrade() {
                u.pool.watch_idle(self);
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
        let timeout = self.upstreams.upgrade().map(|u| u.options.response_timeout).unwrap_or_default();
        if timeout.is_zero() {
            return;
        }
        let weak = Rc::downgrade(self);
        let scheduled = crate::timer::after(timeout / 4, move || {
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
                let mut wake = Vec::new();
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

impl Pooled for Session {
    fn ledger(&self) -> &Ledger {
        &self.ledger
    }

    fn usable(&self) -> bool {
        Session::usable(self)
    }

    fn ended(&self) -> bool {
        self.pipeline.borrow().is_none()
    }

    fn busy(&self) -> bool {
        !self.waiting.borrow().is_empty()
    }

    fn close_idle(self: Rc<Self>) {
        let mut wake = Vec::new();
        self.end(None, &mut wake);
        for h in wake {
            h.wake();
        }
    }
}

/// The `muxHTTP` filter.
pub struct MuxHttp {
    upstreams: Rc<Upstreams>,
    key: Rc<Option<Param<String>>>,
    slot: LayoutSlot,
    attached: Option<(Rc<Session>, Rc<Stream>)>,
}

impl MuxHttp {
    fn attach(&mut self, cx: &mut Cx<'_>) -> Option<(Rc<Session>, Rc<Stream>)> {
        let mut holder = None;
        let (key, inbound) = match &*self.key {
            Some(Param::Static(k)) => (Key::Script(k.clone()), None),
            Some(Param::Dynamic(cb)) => match cb.call(cx.context(), Arg::None, Want::Key) {
                Ok(Returned::Str(Some(k))) => (Key::Script(k), None),
                Ok(Returned::Object(id, object)) => {
                    holder = Some(object);
                    (Key::Object(id), None)
                }
                Ok(_) => (Key::Script(String::new()), None),
                Err(err) => {
                    report_script_error(&err, "muxHTTP");
                    cx.output(Event::error(StreamError::RuntimeError));
                    return None;
                }
            },
            None => {
                let inbound = cx.context().inbound().cloned();
                (Key::Inbound(inbound.as_ref().map(|i| i.id).unwrap_or(0)), inbound)
            }
        };
        let existing = self.upstreams.pool.find(&key);
        let session = match existing {
            Some(s) => s,
            None => {
                let layout = self.slot.get()?;
                let own_flow: Option<(Rc<Backpressure>, Rc<Cell<bool>>)> = match &key {
                    Key::Inbound(_) => None,
                    Key::Script(_) | Key::Object(_) => Some(Default::default()),
                };
                let session = Rc::new(Session {
                    key: key.clone(),
                    upstreams: Rc::downgrade(&self.upstreams),
                    pipeline: RefCell::new(None),
                    encoder: RefCell::new(Encoder::requests(self.upstreams.options.buffer_size)),
                    decoder: RefCell::new(Decoder::responses(self.upstreams.options.max_header_size)),
                    waiting: RefCell::default(),
                    writer: RefCell::default(),
                    writers: RefCell::default(),
                    ledger: Ledger::default(),
                    messages: Cell::new(0),
                    closing: Cell::new(false),
                    inbound: inbound.as_ref().map(Rc::downgrade),
                    interim: Cell::new(false),
                    progress: Cell::new(0),
                    progress_seen: Cell::new(0),
                    quiet_checks: Cell::new(0),
                    response_check: Cell::new(false),
                    reads_flow: match &own_flow {
                        Some((own, _)) => Some(own.clone()),
                        None => cx.context().flow().cloned(),
                    },
                    flow: own_flow,
                    _key_object: holder,
                });
                let weak = Rc::downgrade(&session);
                let sink = Sink::Func(Box::new(move |ev| {
                    if let Some(s) = weak.upgrade() {
                        s.on_output(ev);
                    }
                }));
                // The session runs in the context of the stream that opened it; with
                // backpressure of its own if other clients' streams may share it.
                let context = match &session.flow {
                    Some((own, _)) => cx.context().with_own_flow(own.clone()),
                    None => cx.context().clone(),
                };
                let pipeline = Pipeline::in_chain(&layout, context, sink, cx.chain().cloned());
                *session.pipeline.borrow_mut() = Some(pipeline);
                self.upstreams.pool.add(key, session.clone());
                session
            }
        };
        session.ledger.join();
        let stream = Rc::new(Stream {
            handle: cx.handle(),
            follow: match (&session.flow, cx.context().flow()) {
                (Some(_), Some(client)) => Some((client.clone(), Rc::default())),
                _ => None,
            },
            inbox: Inbox::default(),
            held: RefCell::default(),
            request_open: Cell::new(false),
        });
        self.attached = Some((session.clone(), stream.clone()));
        Some((session, stream))
    }
}

impl Filter for MuxHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        let (session, stream) = match &self.attached {
            Some((s, st)) if s.usable() || !matches!(ev, Event::MessageStart(_)) => (s.clone(), st.clone()),
            _ => {
                if !matches!(ev, Event::MessageStart(_)) {
                    if ev.is_stream_end() {
                        cx.output(ev);
                    }
                    return;
                }
                if let Some((s, st)) = self.attached.take() {
                    s.release(&st);
                }
                match self.attach(cx) {
                    Some(x) => x,
                    None => return cx.output(Event::error(StreamError::RuntimeError)),
                }
            }
        };
        match ev {
            Event::StreamEnd(err) => {
                if stream.request_open.get() {
                    // Cut off before its end: the request cannot be finished.
                    tracing::debug!("muxHTTP: the request was cut off; dropping it and its upstream connection");
                    self.attached = None;
                    session.release(&stream);
                    cx.output(Event::error(err.unwrap_or(StreamError::ConnectionReset)));
                }
            }
            ev => session.write(&stream, ev),
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some((_, stream)) = &self.attached else { return };
        stream.clone().inbox.drain(cx);
    }
}

impl Drop for MuxHttp {
    fn drop(&mut self) {
        if let Some((session, stream)) = self.attached.take() {
            session.release(&stream);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Data, Message};
    use std::collections::HashMap;

    /// What the fake upstreams saw: per upstream connection opened, the request
    /// bytes it received and whether it was ended or dropped.
    #[derive(Default)]
    struct Upstreams {
        conns: RefCell<Vec<(String, bool)>>,
    }

    /// An upstream that answers each request head it receives with the next of
    /// `answers` (cycling), or with nothing when `answers` is empty.
    struct Origin {
        index: usize,
        seen: Rc<Upstreams>,
        answers: Rc<Vec<&'static str>>,
        answered: usize,
        split: usize,
    }

    impl Drop for Origin {
        fn drop(&mut self) {
            self.seen.conns.borrow_mut()[self.index].1 = true;
        }
    }

    impl Filter for Origin {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            let text = {
                let mut conns = self.seen.conns.borrow_mut();
                let conn = &mut conns[self.index];
                match &ev {
                    Event::Data(d) => conn.0.push_str(&String::from_utf8_lossy(&d.to_vec())),
                    Event::StreamEnd(_) => conn.1 = true,
                    _ => {}
                }
                conn.0.clone()
            };
            if ev.is_stream_end() {
                return cx.output(Event::end());
            }
            if self.answers.is_empty() {
                return;
            }
            while text.matches("\r\n\r\n").count() > self.answered {
                let answer = self.answers[self.answered % self.answers.len()];
                self.answered += 1;
                // Answer in pieces of `split` bytes, to see the decoder reassemble them.
                let bytes = answer.as_bytes();
                for piece in bytes.chunks(self.split.max(1)) {
                    cx.output(Event::Data(Data::from(piece.to_vec())));
                }
                if answer.contains("connection: close") {
                    return cx.output(Event::end());
                }
            }
        }
    }

    fn origin(seen: &Rc<Upstreams>, answers: Vec<&'static str>, split: usize) -> LayoutSlot {
        let seen = seen.clone();
        let answers = Rc::new(answers);
        PipelineLayout::new(
            "origin",
            vec![FilterSpec::plain("origin", move || {
                let index = {
                    let mut conns = seen.conns.borrow_mut();
                    conns.push((String::new(), false));
                    conns.len() - 1
                };
                Origin { index, seen: seen.clone(), answers: answers.clone(), answered: 0, split }
            })],
        )
        .into_slot()
    }

    fn mux(key: Option<&str>, options: &[(&str, &str)], upstream: LayoutSlot) -> FilterSpec {
        let options: HashMap<String, String> = options.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        let key = match key {
            Some(k) => {
                let k = k.to_string();
                TestArg::Callback(Rc::new(move |_: &crate::Context, _: Arg<'_>, _: Want| {
                    Ok(Returned::Str(Some(k.clone())))
                }))
            }
            None => TestArg::Null,
        };
        let mut s = spec(&DEF, vec![key, TestArg::Options(options)]);
        s.subs.push(upstream);
        s
    }

    fn request(h: &Harness, path: &str, headers: &[(&'static str, &'static str)]) {
        let mut head = crate::RequestHead { method: "GET".into(), path: path.to_string().into(), ..Default::default() };
        for (k, v) in headers {
            head.headers.set(k, *v);
        }
        for ev in Message::new(Head::Request(head), "").into_events() {
            h.input(ev);
        }
    }

    fn response_status(events: &[Event]) -> Vec<u16> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::MessageStart(h) => h.response().map(|r| r.status),
                _ => None,
            })
            .collect()
    }

    const OK: &str =
        "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nkeep-alive: timeout=5\r\nconnection: keep-alive\r\n\r\nok";
    const CLOSE: &str = "HTTP/1.1 200 OK\r\ncontent-length: 5\r\nconnection: close\r\n\r\nclose";

    #[test]
    fn streams_of_one_key_share_a_session_and_each_gets_its_own_answer() {
        let seen = Rc::new(Upstreams::default());
        let filter = mux(Some("k"), &[], origin(&seen, vec![OK], 1000));
        let layout = Rc::new(PipelineLayout::new("client", vec![filter]));
        let run = |path: &'static str| {
            let out = Rc::new(crate::testing::Collector::default());
            let o = out.clone();
            let p = Pipeline::new(&layout, crate::Context::new(None), Sink::Func(Box::new(move |ev| o.push(ev))));
            let mut head =
                crate::RequestHead { method: "GET".into(), path: path.to_string().into(), ..Default::default() };
            head.headers.set("host", "x");
            for ev in Message::new(Head::Request(head), "").into_events() {
                p.input(ev);
            }
            (p, out)
        };
        let (a, out_a) = run("/a");
        let (b, out_b) = run("/b");
        assert_eq!(seen.conns.borrow().len(), 1, "one upstream connection for the key");
        assert_eq!(response_status(&out_a.events()), vec![200]);
        assert_eq!(response_status(&out_b.events()), vec![200]);
        let sent = seen.conns.borrow()[0].0.clone();
        assert!(sent.starts_with("GET /a HTTP/1.1\r\n") && sent.contains("GET /b HTTP/1.1\r\n"), "{sent}");
        out_a.check();
        out_b.check();
        drop((a, b));
    }

    #[test]
    fn hop_by_hop_headers_are_removed_both_ways() {
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(None, &[], origin(&seen, vec![OK], 1000))]);
        request(
            &h,
            "/",
            &[
                ("host", "x"),
                ("connection", "x-secret, keep-alive"),
                ("x-secret", "1"),
                ("te", "trailers"),
                ("x-kept", "yes"),
            ],
        );
        let sent = seen.conns.borrow()[0].0.to_ascii_lowercase();
        assert!(sent.contains("x-kept: yes"), "{sent}");
        for gone in ["x-secret", "te:", "connection: x-secret"] {
            assert!(!sent.contains(gone), "{gone} was passed on: {sent}");
        }
        let events = h.out.events();
        let Some(Event::MessageStart(head)) = events.first() else { panic!("{events:?}") };
        let headers = head.headers().unwrap();
        assert!(headers.get("keep-alive").is_none() && headers.get("connection").is_none(), "{headers:?}");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_response_split_at_every_byte_is_the_same_response() {
        for split in 1..OK.len() {
            let seen = Rc::new(Upstreams::default());
            let h = Harness::new(vec![mux(None, &[], origin(&seen, vec![OK], split))]);
            request(&h, "/", &[("host", "x")]);
            let events = h.out.events();
            assert_eq!(response_status(&events), vec![200], "split {split}");
            let body: Vec<u8> = events
                .iter()
                .filter_map(|e| match e {
                    Event::Data(d) => Some(d.to_vec()),
                    _ => None,
                })
                .flatten()
                .collect();
            assert_eq!(body, b"ok", "split {split}");
            assert!(matches!(events.last(), Some(Event::MessageEnd(_))), "split {split}: {events:?}");
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn connection_close_and_max_messages_retire_a_session() {
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(Some("k"), &[], origin(&seen, vec![CLOSE], 1000))]);
        request(&h, "/1", &[("host", "x")]);
        request(&h, "/2", &[("host", "x")]);
        assert_eq!(seen.conns.borrow().len(), 2, "an answer with connection: close ends its session");
        let events = h.out.events();
        assert_eq!(response_status(&events), vec![200, 200]);
        assert!(
            !events.iter().any(|e| e.is_stream_end()),
            "an upstream closing after its answer is no error: {events:?}"
        );
        h.input(Event::end());
        h.finish();

        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(Some("k"), &[("maxMessages", "2")], origin(&seen, vec![OK], 1000))]);
        for i in 0..5 {
            request(&h, &format!("/{i}"), &[("host", "x")]);
        }
        assert_eq!(seen.conns.borrow().len(), 3, "two requests per session");
        assert_eq!(response_status(&h.out.events()), vec![200; 5]);
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn an_upstream_that_closes_before_answering_fails_the_waiting_stream() {
        struct Hangup;
        impl Filter for Hangup {
            fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
                if matches!(ev, Event::Data(_)) {
                    cx.output(Event::error(StreamError::ConnectionRefused));
                }
            }
        }
        let upstream = PipelineLayout::new("refusing", vec![FilterSpec::plain("hangup", || Hangup)]).into_slot();
        let h = Harness::new(vec![mux(None, &[], upstream)]);
        request(&h, "/", &[("host", "x")]);
        let events = h.out.events();
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(StreamError::ConnectionRefused)))), "{events:?}");
        h.finish();
    }

    #[test]
    fn a_request_cut_off_half_way_closes_its_upstream_connection() {
        let seen = Rc::new(Upstreams::default());
        let h = Harness::new(vec![mux(Some("k"), &[], origin(&seen, vec![], 1000))]);
        let mut head = crate::RequestHead { method: "POST".into(), path: "/upload".into(), ..Default::default() };
        head.headers.set("host", "x");
        head.headers.set("content-length", "100");
        h.input(Event::start(Head::Request(head)));
        h.input(Event::Data("only part".into()));
        h.input(Event::end());
        assert!(seen.conns.borrow()[0].1, "the upstream connection was closed");
        let events = h.out.events();
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(_)))), "{events:?}");
        h.finish();
    }

    #[test]
    fn a_second_stream_waits_while_the_first_writes_its_body() {
        let seen = Rc::new(Upstreams::default());
        let filter = mux(Some("k"), &[], origin(&seen, vec![OK], 1000));
        let layout = Rc::new(PipelineLayout::new("client", vec![filter]));
        let open = || {
            let out = Rc::new(crate::testing::Collector::default());
            let o = out.clone();
            (Pipeline::new(&layout, crate::Context::new(None), Sink::Func(Box::new(move |ev| o.push(ev)))), out)
        };
        let ((a, out_a), (b, out_b)) = (open(), open());
        let mut post = crate::RequestHead { method: "POST".into(), path: "/a".into(), ..Default::default() };
        post.headers.set("host", "x");
        post.headers.set("content-length", "4");
        a.input(Event::start(Head::Request(post)));
        a.input(Event::Data("ab".into()));
        let mut get = crate::RequestHead { method: "GET".into(), path: "/b".into(), ..Default::default() };
        get.headers.set("host", "x");
        for ev in Message::new(Head::Request(get), "").into_events() {
            b.input(ev);
        }
        assert!(!seen.conns.borrow()[0].0.contains("GET /b"), "the second request waits for the first's body");
        a.input(Event::Data("cd".into()));
        a.input(Event::MessageEnd(Default::default()));
        let sent = seen.conns.borrow()[0].0.clone();
        let body_end = sent.find("abcd").expect("the first body was sent whole");
        assert!(sent[body_end..].contains("GET /b"), "then the second request: {sent}");
        assert_eq!(response_status(&out_a.events()), vec![200]);
        assert_eq!(response_status(&out_b.events()), vec![200]);
        drop((a, b));
    }
}
