//! `serveHTTP(message | fn, options?)`: an HTTP server in one filter, on the
//! server session of the connection's version (`http::connection`): HTTP/1.x
//! one request at a time, HTTP/2 streams side by side. Data in is
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
use crate::http::connection::Connection;
use crate::http::server::{self, ServerOptions};
use crate::http::session::{Incoming, RequestId, ServerSession};
use crate::options::OptionDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec};
use std::cell::RefCell;
use std::rc::Rc;

/// Default limit of a request body (a function handler gets it whole).
pub const DEFAULT_MAX_BODY_SIZE: usize = 16 << 20;

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
const OPTIONS: &[OptionDef] = &[OptionDef::size(
    "maxBodySize",
    "Largest request body a request may have (a function handler gets it whole); a bigger one is answered 413.",
)
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
        // HTTP/1: one request at a time, the next is read once this one is
        // answered. HTTP/2 streams come side by side.
        session: Connection::new(options.clone(), 1),
        max_body_size,
        waiting: Vec::new(),
    }))
}

/// What `serveHTTP` keeps for one request while it is read.
struct Exchange {
    /// The request, for a function handler (which gets it whole).
    collector: MessageCollector,
    /// Its body bytes so far (a fixed answer counts them instead of collecting them).
    body_read: usize,
}

/// The `serveHTTP` filter.
pub struct ServeHttp {
    handler: Rc<Param<Vec<Event>>>,
    cache: Rc<WireCache>,
    session: Connection<Exchange>,
    /// The limit of a request body.
    max_body_size: usize,
    /// Requests whose handler returned a Promise, and the Promises.
    waiting: Vec<(RequestId, Pending)>,
}

impl ServeHttp {
    /// Takes the requests the session hands over, answering each, until it has
    /// no more for now.
    fn drain(&mut self, cx: &mut Cx<'_>) {
        loop {
            while let Some(incoming) = self.session.next(cx) {
                match incoming {
                    Incoming::Request(id, ev) => self.request_event(id, ev, cx),
                    Incoming::Abort(id, _, _) => {
                        if let Some(i) = self.waiting.iter().position(|(w, _)| *w == id) {
                            tracing::debug!(
                                "serveHTTP: the client left while the handler's Promise was pending; the request is dropped"
                            );
                            self.waiting.swap_remove(i);
                        }
                    }
                }
            }
            if !self.session.flush(cx) {
                break;
            }
        }
    }

    fn request_event(&mut self, id: RequestId, ev: Event, cx: &mut Cx<'_>) {
        if let Event::MessageStart(_) = &ev {
            let collector = MessageCollector::new(Some(self.max_body_size));
            self.session.keep(id, Exchange { collector, body_read: 0 });
        }
        let fixed = self.fixed();
        let max = self.max_body_size;
        let Some(x) = self.session.state_mut(id) else { return };
        if fixed {
            // A fixed answer needs only the request's end: its body is
            // counted against the limit, not kept.
            match ev {
                Event::Data(d) => {
                    x.body_read += d.len();
                    if x.body_read > max {
                        self.session.refuse(id, 413);
                    }
                }
                Event::MessageEnd(_) => self.answer_fixed(id),
                _ => {}
            }
            return;
        }
        match x.collector.feed(ev) {
            Collected::Message(m) => self.respond(id, m, cx),
            Collected::Overflow => self.session.refuse(id, 413),
            Collected::Taken | Collected::Other(_) => {}
        }
    }

    /// The handler is a fixed message.
    fn fixed(&self) -> bool {
        matches!(*self.handler, Param::Static(_))
    }

    /// Answers request `id` with the fixed message; over HTTP/1, encoded once
    /// per kind of request.
    fn answer_fixed(&mut self, id: RequestId) {
        let Param::Static(events) = &*self.handler else { return };
        let Some(session) = self.session.h1_mut() else {
            for ev in events.iter() {
                self.session.answer(id, ev.clone());
            }
            return;
        };
        let info = session.info(id);
        let key = info.head_request as usize * 4 + info.is_final as usize * 2 + info.http10 as usize;
        let cached = self.cache.borrow()[key].clone();
        let (wire, close) = match cached {
            Some(w) => (w, info.is_final),
            None => {
                let (w, close) = session.encode_whole(info, events.clone());
                // (A final answer ends the stream anyway: that is no fault.)
                if !close || info.is_final {
                    self.cache.borrow_mut()[key] = Some(w.clone());
                }
                (w, close)
            }
        };
        session.answer_encoded(id, wire, close);
    }

    fn respond(&mut self, id: RequestId, req: Message, cx: &mut Cx<'_>) {
        if let Param::Dynamic(cb) = &*self.handler {
            let result = cb.call(cx.context(), Arg::Message(req), Want::Events);
            self.answer(id, result, cx);
        }
    }

    fn answer(&mut self, id: RequestId, result: Result<Returned, ScriptError>, cx: &mut Cx<'_>) {
        let events = match result {
            Ok(Returned::Events(evs)) if evs.iter().any(|e| matches!(e, Event::MessageStart(_))) => evs,
            Ok(Returned::Pending(p)) => {
                tracing::debug!("serveHTTP: waiting for the handler's Promise");
                p.wake_on_settle(cx.handle());
                self.waiting.push((id, p));
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
        match self.session.h1_mut() {
            Some(session) => {
                let (wire, close) = session.encode_whole(session.info(id), events);
                session.answer_encoded(id, wire, close);
            }
            None => {
                for ev in events {
                    let end = matches!(ev, Event::MessageEnd(_));
                    self.session.answer(id, ev);
                    if end {
                        break;
                    }
                }
                self.session.answer(id, Event::message_end());
            }
        }
    }
}

fn error_response(status: u16) -> Vec<Event> {
    Message::new(Head::Response(ResponseHead::with_status(status)), Data::new()).into_events()
}

impl Filter for ServeHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.session.input_ended() {
            return;
        }
        self.session.input(ev, cx);
        self.drain(cx);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let mut i = 0;
        while i < self.waiting.len() {
            match self.waiting[i].1.take() {
                Some(result) => {
                    let (id, _) = self.waiting.swap_remove(i);
                    self.answer(id, result, cx);
                }
                None => i += 1,
            }
        }
        self.session.wake(cx);
        self.drain(cx);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::Pending;
    use crate::testing::{spec, Harness, Rng, TestArg};
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

    /// Pending answers of `echo`, with what each settles with.
    type Pendings = Rc<RefCell<Vec<(Pending, Vec<Event>)>>>;

    /// Settles the newest pending answer, if any.
    fn settle_one(pendings: &Pendings) -> bool {
        let Some((p, events)) = pendings.borrow_mut().pop() else { return false };
        p.settle(Ok(Returned::Events(events)));
        p.notify();
        true
    }

    /// A handler that answers with the request's path and body length, and
    /// returns a Promise for paths containing "slow" (kept in `pendings`).
    fn echo(pendings: Pendings, options: Vec<(&str, &str)>) -> FilterSpec {
        let cb = move |_: &crate::Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            let Arg::Message(m) = arg else { panic!("serveHTTP passes the request message") };
            let answer = format!("{} {}", m.head.request().unwrap().path, m.body.len());
            let events = Message::new(Head::None, answer).into_events();
            if m.head.request().unwrap().path.contains("slow") {
                let p = Pending::new();
                pendings.borrow_mut().push((p.clone(), events));
                return Ok(Returned::Pending(p));
            }
            Ok(Returned::Events(events))
        };
        let options = options.into_iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        spec(&DEF, vec![TestArg::Callback(Rc::new(cb)), TestArg::Options(options)])
    }

    const PIPELINED: &str = "GET /a HTTP/1.1\r\nhost: x\r\n\r\n\
POST /b HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyz\
PUT /c HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n\
HEAD /d HTTP/1.1\r\nhost: x\r\n\r\n\
GET /e HTTP/1.0\r\n\r\n";

    #[test]
    fn split_at_every_byte_gives_the_same_answers() {
        let whole = {
            let h = Harness::new(vec![echo(Rc::default(), vec![])]);
            h.send(PIPELINED);
            let t = h.out.text();
            assert!(h.out.ended(), "HTTP/1.0 closes");
            h.finish();
            t
        };
        assert!(whole.contains("100 Continue") && whole.ends_with("/e 0"), "{whole}");
        for at in 1..PIPELINED.len() {
            let h = Harness::new(vec![echo(Rc::default(), vec![])]);
            h.send(&PIPELINED[..at]);
            h.send(&PIPELINED[at..]);
            assert_eq!(h.out.text(), whole, "split at {at}");
            h.finish();
        }
    }

    /// An HTTP/2 client (Python's h2): the preface and SETTINGS, a POST of
    /// `abc` with a `grpc-status` trailer on stream 1, a GET of /slow on stream 3.
    const H2_CLIENT: &[u8] = b"\x50\x52\x49\x20\x2a\x20\x48\x54\x54\x50\x2f\x32\x2e\x30\x0d\x0a\x0d\x0a\x53\x4d\x0d\x0a\x0d\x0a\x00\x00\x2a\x04\x00\x00\x00\x00\x00\x00\x01\x00\x00\x10\x00\x00\x02\x00\x00\x00\x01\x00\x04\x00\x00\xff\xff\x00\x05\x00\x00\x40\x00\x00\x08\x00\x00\x00\x00\x00\x03\x00\x00\x00\x64\x00\x06\x00\x01\x00\x00\x00\x00\x09\x01\x04\x00\x00\x00\x01\x83\x44\x82\x60\x7f\x86\x41\x81\xf3\x00\x00\x03\x00\x00\x00\x00\x00\x01\x61\x62\x63\x00\x00\x0c\x01\x05\x00\x00\x00\x01\x40\x88\x9a\xca\xc8\xb2\x12\x34\xda\x8f\x81\x07\x00\x00\x09\x01\x05\x00\x00\x00\x03\x82\x44\x84\x61\x14\x1f\xc7\x86\xc0";

    #[test]
    fn http2_streams_split_at_every_byte_are_all_answered() {
        for at in 0..H2_CLIENT.len() {
            let pendings: Pendings = Rc::default();
            let h = Harness::new(vec![echo(pendings.clone(), vec![])]);
            h.input(Event::Data(H2_CLIENT[..at].to_vec().into()));
            h.input(Event::Data(H2_CLIENT[at..].to_vec().into()));
            let first = h.out.text();
            assert!(first.contains("/a 3") && !first.contains("/slow 0"), "split at {at}: {first:?}");
            assert!(settle_one(&pendings), "the Promise of /slow waits");
            assert!(h.out.text().contains("/slow 0"), "split at {at}");
            assert!(!h.out.ended(), "the connection stays open");
            h.input(Event::end());
            assert!(h.out.ended());
            h.finish();
        }
    }

    #[test]
    fn the_client_closing_while_a_promise_is_pending_gives_the_request_up() {
        let pendings: Pendings = Rc::default();
        let h = Harness::new(vec![echo(pendings.clone(), vec![])]);
        h.send(
            "GET /a HTTP/1.1\r\nhost: x\r\n\r\nGET /slow HTTP/1.1\r\nhost: x\r\n\r\nGET /c HTTP/1.1\r\nhost: x\r\n\r\n",
        );
        assert!(h.out.text().ends_with("/a 0"), "the first is answered, the rest wait: {:?}", h.out.text());
        h.input(Event::end());
        assert!(h.out.ended());
        // Settling later sends nothing.
        assert!(settle_one(&pendings));
        assert!(h.out.text().ends_with("/a 0"));
        h.finish();
    }

    #[test]
    fn random_request_streams_keep_the_contract_and_are_answered_in_order() {
        let mut rng = Rng::new(0x2545F4914F6CDD1D);
        // Each request, and the answer body it gets if it is answered.
        let parts: &[(&str, &str)] = &[
            ("GET /a HTTP/1.1\r\nhost: x\r\n\r\n", "/a 0"),
            ("POST /slow HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\nxyz", "/slow 3"),
            ("PUT /c HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\nab\r\n0\r\n\r\n", "/c 2"),
            ("GET /close HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n", "/close 0"),
            (
                "POST /big HTTP/1.1\r\nhost: x\r\ncontent-length: 40\r\n\r\n0123456789012345678901234567890123456789",
                "413",
            ),
            ("BROKEN\r\n\r\n", "400"),
        ];
        for _ in 0..2_000 {
            let mut input = String::new();
            let mut answers = Vec::new();
            for _ in 0..1 + rng.below(5) {
                let (part, answer) = parts[rng.below(parts.len())];
                input.push_str(part);
                answers.push(answer);
            }
            let pendings: Pendings = Rc::default();
            let h = Harness::new(vec![echo(pendings.clone(), vec![("maxBodySize", "16")])]);
            for piece in rng.pieces(input.as_bytes()) {
                h.input(Event::Data(piece.to_vec().into()));
                // Promises settle at random moments.
                while rng.below(2) == 0 && settle_one(&pendings) {}
            }
            while settle_one(&pendings) {}
            // Every request up to the first that closes is answered, in order.
            let text = h.out.text();
            let mut from = 0;
            for answer in &answers {
                let found = text[from..].find(answer).map(|i| from + i);
                assert!(found.is_some(), "{answer:?} missing after {from} in {text:?} for {input:?}");
                from = found.unwrap() + answer.len();
                if matches!(*answer, "/close 0" | "413" | "400") {
                    break;
                }
            }
            let answered =
                answers.iter().position(|a| matches!(*a, "/close 0" | "413" | "400")).map_or(answers.len(), |i| i + 1);
            assert_eq!(text.matches("HTTP/1.1 ").count(), answered, "one answer per request up to the close: {text:?}");
            if rng.below(2) == 0 {
                h.input(Event::end());
            }
            h.finish();
        }
    }
}
