//! `connectHTTPTunnel(handshake, options?).to(...)`: the client's end of an
//! HTTP tunnel. At the stream's first event the handshake request goes to the
//! sub-pipeline (`muxHTTP` to a proxy, as a rule): a Message (`CONNECT
//! host:port`, or a request asking for an upgrade), a `host:port` string that
//! stands for `CONNECT host:port`, or a function returning either. The stream's
//! bytes wait (a `Backlog`) until the answer opens the tunnel (2xx to `CONNECT`, `101` to an
//! upgrade), then go through it; what comes back after the answer is the
//! stream's output. An answer that opens nothing ends the stream with
//! ConnectionRefused. `onState` hears `connecting`, `connected` and `closed`.

use crate::args::{ArgError, ArgResult, Args, OptValue, Param};
use crate::callback::{Arg, Callback, Plain, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::backlog::{self, Backlog};
use crate::filters::FilterDef;
use crate::head::{Head, RequestHead};
use crate::http::tunnel::Tunnel;
use crate::options::{OptionDef, Ty};
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// `connectHTTPTunnel` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "connectHTTPTunnel",
    params: "handshake: Message | string | (() => Message | string), options?: ConnectHTTPTunnelOptions",
    doc: "Opens an HTTP tunnel with a CONNECT (or Upgrade) request through its sub-pipeline and sends the stream through it.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[OptionDef::new(
    "onState",
    &[Ty::Function],
    "Called with 'connecting', 'connected' or 'closed' as the tunnel's state changes.",
)];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let handshake = if args.is_string(0) {
        let target = args.string(0)?.unwrap_or_default();
        if !crate::http::tunnel::authority_form(&target) {
            return Err(ArgError(format!("{}: '{target}' is not host:port", def.name)));
        }
        Param::Static(connect_request(&target))
    } else if args.is_function(0) || args.is_object(0) {
        args.events_param(0)?
    } else {
        return Err(ArgError(format!("{}: a handshake (a Message, a target or a function) is required", def.name)));
    };
    if let Param::Static(evs) = &handshake {
        if !evs.iter().any(|e| matches!(e, Event::MessageStart(_))) {
            return Err(ArgError(format!("{}: the handshake is not a request Message", def.name)));
        }
    }
    let r = def.options_at(args, 1)?;
    let on_state = match r.raw("onState")? {
        Some(OptValue::Callback(f)) => Some(f),
        _ => None,
    };
    let handshake = Rc::new(handshake);
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| ConnectHttpTunnel {
        handshake: handshake.clone(),
        on_state: on_state.clone(),
        slot: subs[0].clone(),
        state: State::Idle,
        asked: Tunnel::No,
        status: None,
        backlog: Backlog::default(),
        sub: None,
    });
    spec.joint = true;
    Ok(spec)
}

/// `CONNECT target` with `Host: target`.
fn connect_request(target: &str) -> Vec<Event> {
    let mut head = RequestHead { method: "CONNECT".into(), path: target.to_string().into(), ..RequestHead::default() };
    head.headers.set("host", target.to_string());
    vec![Event::start(Head::Request(head)), Event::message_end()]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Nothing has come yet.
    Idle,
    /// The handshake is sent; the answer has not opened the tunnel yet.
    Connecting,
    /// The tunnel is open.
    Connected,
    /// Refused or failed: the rest is dropped.
    Closed,
}

impl State {
    fn name(self) -> &'static str {
        match self {
            State::Idle => "idle",
            State::Connecting => "connecting",
            State::Connected => "connected",
            State::Closed => "closed",
        }
    }
}

/// The `connectHTTPTunnel` filter.
pub struct ConnectHttpTunnel {
    handshake: Rc<Param<Vec<Event>>>,
    on_state: Option<Rc<dyn Callback>>,
    slot: LayoutSlot,
    state: State,
    asked: Tunnel,
    /// The answer's status, once its head has come.
    status: Option<u16>,
    /// What the stream sends before the tunnel opens.
    backlog: Backlog,
    sub: Option<Pipeline>,
}

impl ConnectHttpTunnel {
    fn set_state(&mut self, state: State, cx: &mut Cx<'_>) {
        self.state = state;
        if let Some(cb) = &self.on_state {
            let arg = [Plain::Str(state.name().into())];
            if let Err(err) = cb.call(cx.context(), Arg::Plain(&arg), Want::Nothing) {
                report_script_error(&err, DEF.name);
            }
        }
    }

    /// The handshake request's events, or why there is none.
    fn handshake(&self, cx: &mut Cx<'_>) -> Result<Vec<Event>, String> {
        let evs = match &*self.handshake {
            Param::Static(evs) => evs.clone(),
            Param::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Events) {
                Ok(Returned::Events(evs)) => evs,
                Ok(_) => Vec::new(),
                Err(err) => return Err(err.to_string()),
            },
        };
        if evs.iter().any(|e| matches!(e, Event::MessageStart(_))) {
            return Ok(evs);
        }
        // A string: the target to CONNECT to.
        let target: Vec<u8> =
            evs.iter().filter_map(|e| if let Event::Data(d) = e { Some(d.to_vec()) } else { None }).flatten().collect();
        match std::str::from_utf8(&target) {
            Ok(t) if crate::http::tunnel::authority_form(t) => Ok(connect_request(t)),
            Ok(t) if !t.is_empty() => Err(format!("the handshake function returned '{t}', which is not host:port")),
            _ => Err("the handshake function did not return a request Message or a target".into()),
        }
    }

    fn start(&mut self, cx: &mut Cx<'_>) {
        let evs = match self.handshake(cx) {
            Ok(evs) => evs,
            Err(why) => {
                tracing::error!("connectHTTPTunnel: {why}");
                self.state = State::Closed;
                return cx.output(Event::error(StreamError::RuntimeError));
            }
        };
        self.asked = evs
            .iter()
            .find_map(|e| if let Event::MessageStart(h) = e { h.request().map(Tunnel::asked_by) } else { None })
            .unwrap_or_default();
        let Some(sub) = cx.sub_pipeline(&self.slot, cx.context().fork(), 0) else {
            self.state = State::Closed;
            return cx.output(Event::error(StreamError::RuntimeError));
        };
        self.sub = Some(sub.clone());
        self.set_state(State::Connecting, cx);
        for ev in evs {
            sub.input(ev);
        }
    }

    /// The answer opened the tunnel: what waited goes through it.
    fn open(&mut self, cx: &mut Cx<'_>) {
        self.set_state(State::Connected, cx);
        if let Some(sub) = self.sub.clone() {
            self.backlog.release(&sub);
        }
    }
}

impl Filter for ConnectHttpTunnel {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.state == State::Idle {
            self.start(cx);
        }
        match self.state {
            State::Connected => {
                if let Some(sub) = &self.sub {
                    sub.clone().input(ev);
                }
            }
            State::Connecting => {
                if self.backlog.keep(ev).is_err() {
                    tracing::warn!("connectHTTPTunnel: over {} bytes sent before the tunnel opened", backlog::MAX);
                    self.state = State::Closed;
                    self.sub = None;
                    cx.output(Event::error(StreamError::BufferOverflow));
                }
            }
            State::Idle | State::Closed => {}
        }
    }

    fn on_sub_event(&mut self, _tag: usize, ev: Event, cx: &mut Cx<'_>) {
        if self.state == State::Connected || ev.is_stream_end() {
            if ev.is_stream_end() && self.state != State::Closed {
                let was = self.state;
                self.set_state(State::Closed, cx);
                if was == State::Connecting {
                    tracing::debug!("connectHTTPTunnel: the stream ended before the tunnel opened");
                }
            }
            return cx.output(ev);
        }
        if self.state != State::Connecting {
            return;
        }
        match &ev {
            Event::MessageStart(h) if self.status.is_none() => {
                self.status = Some(h.response().map_or(0, |r| r.status));
            }
            Event::MessageEnd(_) => {
                let Some(status) = self.status.take() else { return };
                if self.asked.opened_by(status) {
                    self.open(cx);
                } else {
                    tracing::warn!(status, "connectHTTPTunnel: the proxy did not open the tunnel");
                    self.set_state(State::Closed, cx);
                    self.backlog.clear();
                    self.sub = None;
                    cx.output(Event::error(StreamError::ConnectionRefused));
                }
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::ResponseHead;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, Message};
    use std::cell::RefCell;

    /// A proxy in one filter: records what reaches it, answers the handshake
    /// with `status`, then echoes bytes back.
    struct Proxy {
        status: u16,
        seen: Rc<RefCell<Vec<String>>>,
    }
    impl Filter for Proxy {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            match ev {
                Event::MessageStart(h) => {
                    let r = h.request().expect("a request");
                    self.seen.borrow_mut().push(format!("{} {} host={:?}", r.method, r.path, r.headers.get("host")));
                }
                Event::MessageEnd(_) => {
                    let head = ResponseHead { status: self.status, ..ResponseHead::default() };
                    for e in Message::new(Head::Response(head), "").into_events() {
                        cx.output(e);
                    }
                }
                Event::Data(d) => {
                    self.seen.borrow_mut().push(String::from_utf8_lossy(&d.to_vec()).into());
                    cx.output(Event::Data(d));
                }
                Event::StreamEnd(_) => {
                    self.seen.borrow_mut().push("end".into());
                    cx.output(ev);
                }
            }
        }
    }

    fn filter(handshake: TestArg, status: u16, seen: &Rc<RefCell<Vec<String>>>) -> FilterSpec {
        let mut s = spec(&DEF, vec![handshake]);
        let seen = seen.clone();
        let proxy = move || Proxy { status, seen: seen.clone() };
        s.subs.push(PipelineLayout::new("proxy", vec![FilterSpec::plain("proxy", proxy)]).into_slot());
        s
    }

    #[test]
    fn a_target_string_is_a_connect_and_the_bytes_go_through_once_it_is_answered() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let h = Harness::new(vec![filter(TestArg::Str("db:5432".into()), 200, &seen)]);
        h.send("hello");
        h.input(Event::end());
        assert_eq!(*seen.borrow(), ["CONNECT db:5432 host=Some(\"db:5432\")", "hello", "end"]);
        // The answer is not the stream's: only the bytes after it are.
        assert_eq!(h.out.text(), "hello");
        assert!(h.out.events().iter().all(|e| !matches!(e, Event::MessageStart(_))));
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn a_function_gives_the_handshake_message() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let cb = |_: &Context, _: Arg<'_>, _: Want| {
            let head = RequestHead { method: "CONNECT".into(), path: "x:1".into(), ..RequestHead::default() };
            Ok(Returned::Events(Message::new(Head::Request(head), "").into_events()))
        };
        let h = Harness::new(vec![filter(TestArg::Callback(Rc::new(cb)), 200, &seen)]);
        h.send("a");
        assert_eq!(seen.borrow()[0], "CONNECT x:1 host=None");
        assert_eq!(h.out.text(), "a");
        h.finish();
    }

    #[test]
    fn a_refusal_ends_the_stream_and_the_bytes_never_leave() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let h = Harness::new(vec![filter(TestArg::Str("db:5432".into()), 403, &seen)]);
        h.send("secret");
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ConnectionRefused)))));
        assert_eq!(seen.borrow().len(), 1, "{seen:?}");
        h.finish();
    }
}
