//! `serveHTTP(message | fn, options?)`: an HTTP/1.x server in one filter. Data in is
//! decoded into requests; each whole request is answered with the fixed message or
//! with what the callback returns (a Message or a Promise of one); responses go out
//! as bytes, in request order. StreamEnd in (the client closed) ends the output
//! once every request read has been answered; a request still waiting for its
//! handler's Promise then is given up.
//!
//! Bad input is answered, then the connection closes: `400` for a malformed request,
//! `431` for a head over `maxHeaderSize`, `413` for a body over `maxBodySize`,
//! `501` for a transfer coding other than chunked, `408` for a head not received
//! whole within `headerTimeout` or a body stalled for `bodyTimeout`. A callback
//! that throws gets the client a `500`, and the connection carries on. Past
//! `maxPipelined` requests read and not answered, reading from the client pauses.
//!
//! A fixed response is encoded once and the bytes are reused for every request.

use crate::args::{ArgError, ArgResult, Args, Param};
use crate::callback::{Arg, Pending, Returned, ScriptError, Want};
use crate::data::Data;
use crate::event::{Collected, Event, Message, MessageCollector};
use crate::filters::FilterDef;
use crate::head::{Head, ResponseHead};
use crate::http::server::{self, reading_paused, Exchanges, InputPause, ReadTimer, ServerOptions};
use crate::http::{Decoder, Encoder, ResponseInfo};
use crate::options::OptionDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec};
use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;

/// Default limit of a request body that is buffered for the handler.
pub const DEFAULT_MAX_BODY_SIZE: usize = 16 << 20;

/// Body bytes that may wait decoded behind a pending answer before reading pauses
/// (at least; `bufferSize` if larger).
const MIN_QUEUED_BYTES: usize = 64 << 10;

/// Encoded fixed responses, per kind of request they answer.
type WireCache = RefCell<[Option<Data>; 8]>;

/// `serveHTTP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "serveHTTP",
    params: "handler: Message | ((request: Message) => Message | Promise<Message>), options?: ServeHTTPOptions",
    doc: "Answers each HTTP request on the connection with a message or what a function returns.",
    options: &[server::OPTIONS, OPTIONS],
    build,
};

/// The options only `serveHTTP` takes.
const OPTIONS: &[OptionDef] =
    &[OptionDef::size("maxBodySize", "Largest request body buffered for the handler; a bigger one is answered 413.")
        .default_size(DEFAULT_MAX_BODY_SIZE)];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    if args.is_nullish(0) {
        return Err(ArgError(format!("{}: needs a Message to answer with, or a function that returns one", def.name)));
    }
    let handler = Rc::new(args.events_param(0)?);
    let r = def.options_at(args, 1)?;
    let options = Rc::new(ServerOptions::read(&r)?);
    let max_body_size = r.size("maxBodySize")?;
    let cache: Rc<WireCache> = Rc::default();
    Ok(FilterSpec::plain(def.name, move || ServeHttp {
        handler: handler.clone(),
        cache: cache.clone(),
        decoder: options.decoder(),
        encoder: Encoder::responses(options.buffer_size),
        collector: MessageCollector::new(Some(max_body_size)),
        timer: ReadTimer::new(&options),
        options: options.clone(),
        decoded: VecDeque::new(),
        queued_requests: 0,
        queued_bytes: 0,
        pause: InputPause::default(),
        waiting: None,
        input_ended: false,
        client_closed: false,
        closed: false,
        exchanges: Exchanges::default(),
    }))
}

enum Decoded {
    Event(Event),
    Error(u16),
    End,
}

/// The `serveHTTP` filter.
pub struct ServeHttp {
    handler: Rc<Param<Vec<Event>>>,
    cache: Rc<WireCache>,
    decoder: Decoder,
    encoder: Encoder,
    collector: MessageCollector,
    timer: ReadTimer,
    options: Rc<ServerOptions>,
    decoded: VecDeque<Decoded>,
    /// Requests in `decoded` not yet taken, and body bytes there.
    queued_requests: usize,
    queued_bytes: usize,
    pause: InputPause,
    waiting: Option<(Pending, ResponseInfo)>,
    input_ended: bool,
    client_closed: bool,
    closed: bool,
    /// Requests read and not answered, counted on the client connection.
    exchanges: Exchanges,
}

impl ServeHttp {
    /// Works through decoded input until it runs out or a response is pending.
    fn pump(&mut self, cx: &mut Cx<'_>) {
        while self.waiting.is_none() && !self.closed {
            let Some(item) = self.decoded.pop_front() else { break };
            match item {
                Decoded::Event(ev) => {
                    if let Event::Data(d) = &ev {
                        self.queued_bytes = self.queued_bytes.saturating_sub(d.len());
                    }
                    if let Event::MessageStart(h) = &ev {
                        self.queued_requests = self.queued_requests.saturating_sub(1);
                        if h.request().is_some_and(|r| r.expects_continue()) {
                            cx.output(Event::Data(Data::from(crate::http::h1::CONTINUE)));
                        }
                    }
                    match self.collector.feed(ev) {
                        Collected::Message(m) => self.respond(m, cx),
                        Collected::Overflow => self.reject(413, cx),
                        Collected::Taken | Collected::Other(_) => {}
                    }
                }
                Decoded::Error(status) => self.reject(status, cx),
                Decoded::End => {
                    self.closed = true;
                    cx.output(Event::end());
                }
            }
        }
        // Requests, or body bytes, waiting behind a pending answer pause the client.
        let waiting = if self.queued_bytes > self.options.buffer_size.max(MIN_QUEUED_BYTES) {
            self.options.max_pipelined
        } else {
            self.queued_requests
        };
        self.pause.update(cx.context().flow(), waiting, self.options.max_pipelined);
    }

    fn respond(&mut self, req: Message, cx: &mut Cx<'_>) {
        let info = req.head.request().map(ResponseInfo::for_request).unwrap_or_default();
        match &*self.handler {
            Param::Static(events) => {
                let key = info.head_request as usize * 4 + info.is_final as usize * 2 + info.http10 as usize;
                let cached = self.cache.borrow()[key].clone();
                let (wire, broken) = match cached {
                    Some(w) => (w, info.is_final),
                    None => {
                        let (w, broken) = encode_all(&mut self.encoder, info, events.clone());
                        // (A final answer ends the stream anyway: that is no fault.)
                        if !broken || info.is_final {
                            self.cache.borrow_mut()[key] = Some(w.clone());
                        }
                        (w, broken)
                    }
                };
                self.exchanges.end();
                cx.output(Event::Data(wire));
                if info.is_final || broken {
                    self.closed = true;
                    cx.output(Event::end());
                }
            }
            Param::Dynamic(cb) => {
                let result = cb.call(cx.context(), Arg::Message(req), Want::Events);
                self.answer(result, info, cx);
            }
        }
    }

    fn answer(&mut self, result: Result<Returned, ScriptError>, info: ResponseInfo, cx: &mut Cx<'_>) {
        let events = match result {
            Ok(Returned::Events(evs)) if evs.iter().any(|e| matches!(e, Event::MessageStart(_))) => evs,
            Ok(Returned::Pending(p)) => {
                if self.client_closed {
                    return self.give_up(cx);
                }
                tracing::debug!("serveHTTP: waiting for the handler's Promise");
                p.wake_on_settle(cx.handle());
                self.waiting = Some((p, info));
                return;
            }
            Ok(_) => {
                report_script_error(&ScriptError::new("the handler returned no Message"), "serveHTTP");
                error_response(500)
            }
            Err(err) => {
                report_script_error(&err, "serveHTTP");
                error_response(500)
            }
        };
        let (wire, broken) = encode_all(&mut self.encoder, info, events);
        self.exchanges.end();
        if !wire.is_empty() {
            cx.output(Event::Data(wire));
        }
        if info.is_final || broken {
            self.closed = true;
            cx.output(Event::end());
        }
    }

    /// The client left while the handler's Promise is pending: the answer would
    /// go nowhere, so the stream ends now.
    fn give_up(&mut self, cx: &mut Cx<'_>) {
        tracing::debug!("serveHTTP: the client closed while the handler's Promise was pending; the request is dropped");
        self.waiting = None;
        self.exchanges.end();
        self.closed = true;
        cx.output(Event::end());
    }

    fn reject(&mut self, status: u16, cx: &mut Cx<'_>) {
        let info = ResponseInfo { is_final: true, ..ResponseInfo::default() };
        let (wire, _) = encode_all(&mut self.encoder, info, error_response(status));
        cx.output(Event::Data(wire));
        self.closed = true;
        cx.output(Event::end());
    }
}

fn error_response(status: u16) -> Vec<Event> {
    Message::new(Head::Response(ResponseHead::with_status(status)), Data::new()).into_events()
}

/// Encodes one response into bytes. Anything after the first message is ignored.
/// A response that cannot be framed whole (the handler's events end the stream
/// half-way, or break their declared length) says so: the connection must close.
fn encode_all(encoder: &mut Encoder, info: ResponseInfo, events: Vec<Event>) -> (Data, bool) {
    encoder.set_response_info(info);
    let mut wire = Data::new();
    let mut broken = false;
    let mut collect = |out: Event| match out {
        Event::Data(d) => wire.push(d),
        Event::StreamEnd(_) => broken = true,
        _ => {}
    };
    for ev in events {
        let done = matches!(ev, Event::MessageEnd(_) | Event::StreamEnd(_));
        encoder.encode(ev, &mut collect);
        if done {
            break;
        }
    }
    if encoder.in_message() {
        encoder.encode(Event::message_end(), &mut collect);
    }
    (wire, broken)
}

impl Filter for ServeHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.closed || self.input_ended {
            return;
        }
        self.exchanges.attach(cx.context().inbound());
        let before = self.decoder.heads();
        match ev {
            Event::Data(d) => {
                let (decoded, bytes) = (&mut self.decoded, &mut self.queued_bytes);
                let mut queue = |ev: Event| {
                    if let Event::Data(d) = &ev {
                        *bytes += d.len();
                    }
                    decoded.push_back(Decoded::Event(ev));
                };
                if let Err(e) = self.decoder.input(d, &mut queue) {
                    tracing::debug!(error = %e, "bad request");
                    self.decoded.push_back(Decoded::Error(e.status()));
                    self.input_ended = true;
                } else {
                    self.timer.after_input(&self.decoder, &cx.handle());
                }
            }
            Event::StreamEnd(_) => {
                let decoded = &mut self.decoded;
                let _ = self.decoder.end(&mut |ev| decoded.push_back(Decoded::Event(ev)));
                self.decoded.push_back(Decoded::End);
                self.input_ended = true;
                self.client_closed = true;
                if self.waiting.is_some() {
                    return self.give_up(cx);
                }
            }
            _ => {}
        }
        let new = (self.decoder.heads() - before) as usize;
        self.queued_requests += new;
        for _ in 0..new {
            self.exchanges.begin();
        }
        self.pump(cx);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if let Some((pending, info)) = &self.waiting {
            let info = *info;
            if let Some(result) = pending.take() {
                self.waiting = None;
                self.answer(result, info, cx);
                self.pump(cx);
            }
        }
        if self.closed || self.input_ended {
            return;
        }
        if let Some(expired) = self.timer.check(&self.decoder, &cx.handle(), reading_paused(cx)) {
            tracing::debug!(?expired, "serveHTTP: request not received in time");
            self.decoded.push_back(Decoded::Error(408));
            self.input_ended = true;
            self.pump(cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::Pending;
    use crate::testing::{spec, Harness, TestArg};
    use std::cell::RefCell;

    fn hello() -> FilterSpec {
        spec(&DEF, vec![TestArg::Events(Message::new(Head::None, "Hi, there!\n").into_events())])
    }

    const OK: &str = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: keep-alive\r\n\r\nHi, there!\n";

    #[test]
    fn answers_pipelined_requests_in_order_and_closes_on_http10() {
        let h = Harness::new(vec![hello()]);
        h.send("GET / HTTP/1.1\r\nhost: x\r\n\r\nGET /2 HTTP/1.1\r\nhost: x\r\n\r\nGET /3 HTTP/1.0\r\n\r\n");
        let close = "HTTP/1.1 200 OK\r\ncontent-length: 11\r\nconnection: close\r\n\r\nHi, there!\n";
        assert_eq!(h.out.text(), format!("{OK}{OK}{close}"));
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn bad_requests_get_400_431_413_then_close() {
        for (input, status) in [
            ("GET / HTTP/1.1\r\nhost: x\r\nno colon\r\n\r\n", "400 Bad Request"),
            ("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\ntransfer-encoding: chunked\r\n\r\n", "400 Bad Request"),
            ("GET / HTTP/1.1\r\nhost: x\r\nx: 12345678901234567890123456789012345678901234567890123456789012345678901234567890\r\n\r\n", "431 Request Header Fields Too Large"),
            ("POST / HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\n\r\n0123456789012345678901234567890123456789", "413 Payload Too Large"),
        ] {
            let opts = [("maxHeaderSize", "80"), ("maxBodySize", "16")]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            let h = Harness::new(vec![spec(
                &DEF,
                vec![TestArg::Events(Message::new(Head::None, "x").into_events()), TestArg::Options(opts)],
            )]);
            h.send(input);
            let want = format!("HTTP/1.1 {status}\r\ncontent-length: 0\r\nconnection: close\r\n\r\n");
            assert_eq!(h.out.text(), want, "for {input:?}");
            assert!(h.out.ended());
            h.finish();
        }
    }

    #[test]
    fn a_throwing_handler_gives_500_and_the_next_request_works() {
        let calls = Rc::new(RefCell::new(0));
        let c = calls.clone();
        let cb = move |_: &crate::Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            *c.borrow_mut() += 1;
            if *c.borrow() == 1 {
                Err(ScriptError::new("boom"))
            } else {
                Ok(Returned::Events(Message::new(Head::None, "ok").into_events()))
            }
        };
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Callback(Rc::new(cb))])]);
        h.send("GET / HTTP/1.1\r\nhost: x\r\n\r\nGET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert_eq!(
            h.out.text(),
            "HTTP/1.1 500 Internal Server Error\r\ncontent-length: 0\r\nconnection: keep-alive\r\n\r\n\
HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nok"
        );
        h.finish();
    }

    #[test]
    fn a_pending_response_holds_later_requests_until_it_settles() {
        let pendings: Rc<RefCell<Vec<Pending>>> = Rc::default();
        let p2 = pendings.clone();
        let cb = move |_: &crate::Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            let Arg::Message(m) = arg else { panic!("serveHTTP passes the request message") };
            let path = m.head.request().unwrap().path.clone();
            if path == "/slow" {
                let p = Pending::new();
                p2.borrow_mut().push(p.clone());
                Ok(Returned::Pending(p))
            } else {
                Ok(Returned::Events(Message::new(Head::None, path.to_string()).into_events()))
            }
        };
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Callback(Rc::new(cb))])]);
        h.send("GET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /fast HTTP/1.1\r\nhost: x\r\n\r\n");
        assert_eq!(h.out.text(), "");
        let p = pendings.borrow()[0].clone();
        p.settle(Ok(Returned::Events(Message::new(Head::None, "slow").into_events())));
        p.notify();
        let t = h.out.text();
        assert!(t.find("slow").unwrap() < t.find("/fast").unwrap(), "{t}");
        h.input(Event::end());
        assert!(h.out.ended());
        h.finish();
    }
}
