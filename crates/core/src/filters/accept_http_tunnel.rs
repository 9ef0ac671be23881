//! `acceptHTTPTunnel(handler).to(...)`: the server's end of an HTTP tunnel, in
//! a `demuxHTTP` sub-pipeline. The request (`CONNECT host:port`, or one asking
//! for `Upgrade: websocket`) goes to `handler`, which answers with a Message,
//! nothing (a `200`), or a Promise of either. The answer is written; if it opens
//! the tunnel (2xx to `CONNECT`, `101` to an upgrade), the bytes that follow go
//! to the sub-pipeline and what it outputs goes back, until either side ends.
//! The sub-pipeline's context is a copy of the request's, so variables the
//! handler sets (a target) are there. A `101` to a WebSocket request gets the
//! `Upgrade` and `Sec-WebSocket-Accept` headers RFC 6455 asks for, unless the
//! handler gave them.

use super::hold::Hold;
use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, ScriptError, Want};
use crate::event::{Collected, Event, MessageCollector, StreamError};
use crate::filters::FilterDef;
use crate::head::{Head, ResponseHead};
use crate::http::tunnel::Tunnel;
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// `acceptHTTPTunnel` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "acceptHTTPTunnel",
    params: "handler: (request: Message) => Message | undefined | Promise<Message | undefined>",
    doc: "Answers a CONNECT or Upgrade request with the handler's Message and, if that opens the tunnel, passes the bytes that follow to its sub-pipeline.",
    options: &[],
    build,
};

/// Largest request body taken with a tunnel request (they have none, as a rule).
const MAX_REQUEST_BODY: usize = 64 * 1024;

/// Bytes of the tunnel held while a Promised answer is awaited; more ends the
/// stream with BufferOverflow (over HTTP/1 the decoder holds them instead).
pub const MAX_HELD: usize = 1 << 20;

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let Some(handler) = args.callback(0)? else {
        return Err(ArgError(format!("{}: a handler function is required", def.name)));
    };
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| AcceptHttpTunnel {
        handler: handler.clone(),
        slot: subs[0].clone(),
        collector: MessageCollector::new(Some(MAX_REQUEST_BODY)),
        asked: Tunnel::No,
        upgrade: None,
        hold: Hold::default(),
        held_bytes: 0,
        state: State::Request,
    });
    spec.joint = true;
    Ok(spec)
}

enum State {
    /// Reading the request.
    Request,
    /// Answered; the handler's answer opened the tunnel.
    Open(Pipeline),
    /// Answered without a tunnel, or failed: the rest is ignored.
    Done,
}

/// The `acceptHTTPTunnel` filter.
pub struct AcceptHttpTunnel {
    handler: Rc<dyn Callback>,
    slot: LayoutSlot,
    collector: MessageCollector,
    asked: Tunnel,
    /// The request's `Upgrade` and `Sec-WebSocket-Key`, for a `101`.
    upgrade: Option<(String, Option<String>)>,
    hold: Hold,
    /// Data bytes kept by `hold`.
    held_bytes: usize,
    state: State,
}

impl AcceptHttpTunnel {
    fn process(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match &self.state {
            State::Open(sub) => return sub.clone().input(ev),
            State::Done => return,
            State::Request => {}
        }
        match self.collector.feed(ev) {
            Collected::Taken | Collected::Other(_) => {}
            Collected::Overflow => {
                tracing::warn!("acceptHTTPTunnel: the tunnel request has a body over {MAX_REQUEST_BODY} bytes");
                self.state = State::Done;
                cx.output(Event::error(StreamError::BufferOverflow));
            }
            Collected::Message(request) => {
                self.asked = request.head.request().map(Tunnel::asked_by).unwrap_or_default();
                if let (Tunnel::Upgrade, Some(r)) = (self.asked, request.head.request()) {
                    let protocol = r.headers.get("upgrade").unwrap_or_default().to_string();
                    self.upgrade = Some((protocol, r.headers.get("sec-websocket-key").map(str::to_string)));
                }
                let result = self.handler.call(cx.context(), Arg::Message(request), Want::EventObjects);
                self.answer(result, cx);
            }
        }
    }

    /// Writes the handler's answer and opens the tunnel if it says so.
    fn answer(&mut self, result: Result<Returned, ScriptError>, cx: &mut Cx<'_>) {
        let events = match result {
            Ok(Returned::Pending(p)) => return self.hold.wait(p, cx),
            Ok(Returned::Events(evs)) if !evs.is_empty() => evs,
            Ok(Returned::Events(_) | Returned::Nothing) => {
                vec![Event::start(Head::Response(ResponseHead::default())), Event::message_end()]
            }
            Ok(_) => {
                tracing::error!("acceptHTTPTunnel: the handler did not return a Message");
                self.state = State::Done;
                return cx.output(Event::error(StreamError::RuntimeError));
            }
            Err(err) => {
                self.state = State::Done;
                return cx.fail(&err, DEF.name);
            }
        };
        let status = events.iter().find_map(|e| match e {
            Event::MessageStart(h) => Some(h.response().map_or(200, |r| r.status)),
            _ => None,
        });
        let Some(status) = status else {
            tracing::error!("acceptHTTPTunnel: the handler did not return a Message");
            self.state = State::Done;
            return cx.output(Event::error(StreamError::RuntimeError));
        };
        let open = self.asked.opened_by(status);
        let mut events = events;
        if let (true, Some((protocol, key))) = (open && self.asked == Tunnel::Upgrade, &self.upgrade) {
            complete_upgrade(&mut events, protocol, key.as_deref());
        }
        for ev in events {
            cx.output(ev);
        }
        if !open {
            tracing::debug!(status, "acceptHTTPTunnel: answered without a tunnel");
            self.state = State::Done;
            return;
        }
        match cx.sub_pipeline(&self.slot, cx.context().fork(), 0) {
            Some(sub) => self.state = State::Open(sub),
            None => {
                self.state = State::Done;
                cx.output(Event::error(StreamError::RuntimeError));
            }
        }
    }
}

/// Gives a `101` the `Upgrade` its request asked for and, for WebSocket, the
/// `Sec-WebSocket-Accept` of its key, where the handler did not.
fn complete_upgrade(events: &mut [Event], protocol: &str, key: Option<&str>) {
    let Some(Event::MessageStart(head)) = events.iter_mut().find(|e| matches!(e, Event::MessageStart(_))) else {
        return;
    };
    if matches!(**head, Head::None) {
        **head = Head::Response(ResponseHead::with_status(101));
    }
    let Some(h) = head.headers_mut() else { return };
    if h.get("upgrade").is_none() {
        h.set("upgrade", protocol.to_string());
    }
    if let (Some(key), true) = (key, protocol.eq_ignore_ascii_case("websocket")) {
        if h.get("sec-websocket-accept").is_none() {
            h.set("sec-websocket-accept", crate::websocket::accept_key(key));
        }
    }
}

impl Filter for AcceptHttpTunnel {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.hold.is_waiting() {
            if let Event::Data(d) = &ev {
                self.held_bytes += d.len();
                if self.held_bytes > MAX_HELD {
                    tracing::warn!("acceptHTTPTunnel: over {MAX_HELD} bytes came while the answer was awaited");
                    self.state = State::Done;
                    self.hold = Hold::default();
                    return cx.output(Event::error(StreamError::BufferOverflow));
                }
            }
            return self.hold.keep(ev);
        }
        if matches!(self.state, State::Done) {
            return;
        }
        self.process(ev, cx);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some(result) = self.hold.settled() else { return };
        self.held_bytes = 0;
        self.answer(result, cx);
        while let Some(ev) = self.hold.next_kept() {
            self.process(ev, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::Pending;
    use crate::head::RequestHead;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, Data, Message};

    /// Echoes what reaches it, in capitals, to tell it from the answer.
    struct Shout;
    impl Filter for Shout {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            match ev {
                Event::Data(d) => cx.output(Event::Data(Data::from(d.to_vec().to_ascii_uppercase()))),
                ev => cx.output(ev),
            }
        }
    }

    fn filter(answer: impl Fn(Message) -> Result<Returned, ScriptError> + 'static) -> FilterSpec {
        let cb = move |_: &Context, arg: Arg<'_>, _: Want| {
            let Arg::Message(m) = arg else { panic!("the request") };
            answer(m)
        };
        let mut s = spec(&DEF, vec![TestArg::Callback(Rc::new(cb))]);
        s.subs.push(PipelineLayout::new("shout", vec![FilterSpec::plain("shout", || Shout)]).into_slot());
        s
    }

    fn request(method: &str, headers: &[(&str, &str)]) -> Vec<Event> {
        let mut head = RequestHead { method: method.to_string().into(), ..RequestHead::default() };
        for (n, v) in headers {
            head.headers.append(n, v.to_string());
        }
        Message::new(Head::Request(head), "").into_events()
    }

    fn status(ev: &Event) -> Option<u16> {
        match ev {
            Event::MessageStart(h) => h.response().map(|r| r.status),
            _ => None,
        }
    }

    #[test]
    fn connect_answered_with_nothing_gets_200_and_a_tunnel_both_ways() {
        let h = Harness::new(vec![filter(|_| Ok(Returned::Nothing))]);
        for ev in request("CONNECT", &[]) {
            h.input(ev);
        }
        h.input(Event::Data("hello".into()));
        h.input(Event::end());
        let evs = h.out.events();
        assert_eq!(status(&evs[0]), Some(200), "{evs:?}");
        assert!(matches!(evs[1], Event::MessageEnd(_)), "{evs:?}");
        assert_eq!(h.out.text(), "HELLO");
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn an_answer_that_does_not_open_the_tunnel_is_written_and_the_bytes_after_it_go_nowhere() {
        let h = Harness::new(vec![filter(|_| {
            let head = ResponseHead { status: 405, ..ResponseHead::default() };
            Ok(Returned::Events(Message::new(Head::Response(head), "no\n").into_events()))
        })]);
        for ev in request("CONNECT", &[]) {
            h.input(ev);
        }
        h.input(Event::Data("secret".into()));
        assert_eq!(status(&h.out.events()[0]), Some(405));
        assert_eq!(h.out.text(), "no\n");
        h.finish();
        // A 200 to a plain GET opens nothing either.
        let h = Harness::new(vec![filter(|_| Ok(Returned::Nothing))]);
        for ev in request("GET", &[]) {
            h.input(ev);
        }
        h.input(Event::Data("secret".into()));
        assert_eq!(h.out.text(), "");
        h.finish();
    }

    #[test]
    fn an_upgrade_opens_on_101_only() {
        let ws = [("upgrade", "websocket"), ("connection", "upgrade")];
        for (code, opens) in [(101, true), (200, false)] {
            let h = Harness::new(vec![filter(move |_| {
                let head = ResponseHead { status: code, ..ResponseHead::default() };
                Ok(Returned::Events(Message::new(Head::Response(head), "").into_events()))
            })]);
            for ev in request("GET", &ws) {
                h.input(ev);
            }
            h.input(Event::Data("frame".into()));
            assert_eq!(h.out.text(), if opens { "FRAME" } else { "" }, "status {code}");
            h.finish();
        }
    }

    #[test]
    fn a_101_to_a_websocket_request_gets_its_accept_key_and_upgrade() {
        let h = Harness::new(vec![filter(|_| {
            let head = ResponseHead { status: 101, ..ResponseHead::default() };
            Ok(Returned::Events(Message::new(Head::Response(head), "").into_events()))
        })]);
        let ws =
            [("upgrade", "websocket"), ("connection", "Upgrade"), ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ==")];
        for ev in request("GET", &ws) {
            h.input(ev);
        }
        let evs = h.out.events();
        let Event::MessageStart(head) = &evs[0] else { panic!("{evs:?}") };
        let headers = head.headers().unwrap();
        assert_eq!(headers.get("upgrade"), Some("websocket"));
        assert_eq!(headers.get("sec-websocket-accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
        h.finish();
    }

    #[test]
    fn a_promised_answer_holds_the_bytes_that_come_meanwhile() {
        let pending = Pending::new();
        let p = pending.clone();
        let h = Harness::new(vec![filter(move |_| Ok(Returned::Pending(p.clone())))]);
        for ev in request("CONNECT", &[]) {
            h.input(ev);
        }
        h.input(Event::Data("early".into()));
        assert!(h.out.events().is_empty());
        pending.settle(Ok(Returned::Nothing));
        pending.notify();
        assert_eq!(status(&h.out.events()[0]), Some(200));
        assert_eq!(h.out.text(), "EARLY");
        h.finish();
    }

    #[test]
    fn a_handler_that_returns_something_else_fails_the_stream() {
        let h = Harness::new(vec![filter(|_| Ok(Returned::Bool(true)))]);
        for ev in request("CONNECT", &[]) {
            h.input(ev);
        }
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::RuntimeError)))));
        h.finish();
    }
}
