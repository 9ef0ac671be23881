//! The `handle*` family: calls a callback on one kind of event and passes every event
//! on unchanged. `handle` sees every event, `handleStreamStart` the first,
//! `handleMessageStart`, `handleData`, `handleMessageEnd` and `handleStreamEnd`
//! every event of their kind, `handleMessage` each whole message and
//! `handleMessageBody` each message's body (copied up to `bufferLimit`, while the
//! events themselves stream on). Changes a callback makes to a head are
//! kept. A callback that returns a Promise holds the stream until it settles; one
//! that throws ends the stream with `RuntimeError`.

use super::hold::Hold;
use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, EventKind, Message};
use crate::filters::FilterDef;
use crate::head::Tail;
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// Which events a handle filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// Every event.
    Any,
    /// The first event of the stream.
    StreamStart,
    /// Each event of this kind.
    Event(EventKind),
    /// Each whole message.
    Message,
    /// Each message's body.
    MessageBody,
}

/// Default limit of the body copy `handleMessage` gives its callback.
const DEFAULT_BUFFER_LIMIT: usize = 16 << 20;

/// `handle` as scripts see it.
pub const ANY: FilterDef = FilterDef {
    name: "handle",
    params: "callback: (event: Event) => any",
    doc: "Calls a function with every event and passes it on.",
    options: &[],
    build: |def, args| build(def, args, HandleKind::Any),
};

/// `handleStreamStart` as scripts see it.
pub const STREAM_START: FilterDef = FilterDef {
    name: "handleStreamStart",
    params: "callback: (event: Event) => any",
    doc: "Calls a function with the stream's first event and passes every event on.",
    options: &[],
    build: |def, args| build(def, args, HandleKind::StreamStart),
};

/// `handleMessageStart` as scripts see it.
pub const MESSAGE_START: FilterDef = FilterDef {
    name: "handleMessageStart",
    params: "callback: (head: MessageStart) => any",
    doc: "Calls a function with each MessageStart and passes every event on.",
    options: &[],
    build: |def, args| build(def, args, HandleKind::Event(EventKind::MessageStart)),
};

/// `handleData` as scripts see it.
pub const DATA: FilterDef = FilterDef {
    name: "handleData",
    params: "callback: (data: Data) => any",
    doc: "Calls a function with each Data event and passes every event on.",
    options: &[],
    build: |def, args| build(def, args, HandleKind::Event(EventKind::Data)),
};

/// `handleMessageEnd` as scripts see it.
pub const MESSAGE_END: FilterDef = FilterDef {
    name: "handleMessageEnd",
    params: "callback: (end: MessageEnd) => any",
    doc: "Calls a function with each MessageEnd and passes every event on.",
    options: &[],
    build: |def, args| build(def, args, HandleKind::Event(EventKind::MessageEnd)),
};

/// `handleStreamEnd` as scripts see it.
pub const STREAM_END: FilterDef = FilterDef {
    name: "handleStreamEnd",
    params: "callback: (end: StreamEnd) => any",
    doc: "Calls a function with the StreamEnd and passes every event on.",
    options: &[],
    build: |def, args| build(def, args, HandleKind::Event(EventKind::StreamEnd)),
};

/// `handleMessage` as scripts see it.
pub const MESSAGE: FilterDef = FilterDef {
    name: "handleMessage",
    params: "callback: (message: Message) => any, options?: HandleMessageOptions",
    doc: "Calls a function with each whole message while its events stream on.",
    options: &[MESSAGE_OPTIONS],
    build: |def, args| build(def, args, HandleKind::Message),
};

/// `handleMessageBody` as scripts see it.
pub const MESSAGE_BODY: FilterDef = FilterDef {
    name: "handleMessageBody",
    params: "callback: (body: Data) => any, options?: HandleMessageBodyOptions",
    doc: "Calls a function with each message's whole body while its events stream on.",
    options: &[MESSAGE_OPTIONS],
    build: |def, args| build(def, args, HandleKind::MessageBody),
};

const MESSAGE_OPTIONS: &[OptionDef] = &[OptionDef::size(
    "bufferLimit",
    "Largest body copied for the callback; past it the callback gets the body cut short.",
)
.default_size(DEFAULT_BUFFER_LIMIT)];

fn build(def: &'static FilterDef, args: &mut dyn Args, kind: HandleKind) -> ArgResult<FilterSpec> {
    let name = def.name;
    let cb = args.callback(0)?.ok_or_else(|| ArgError(format!("{name}: a callback function is required")))?;
    let r = def.options_at(args, 1)?;
    let limit = if def.options.is_empty() { DEFAULT_BUFFER_LIMIT } else { r.size("bufferLimit")? };
    Ok(FilterSpec::plain(name, move || Handle {
        name,
        kind,
        cb: cb.clone(),
        limit,
        started: false,
        message: None,
        hold: Hold::default(),
    }))
}

/// A `handle*` filter.
pub struct Handle {
    name: &'static str,
    kind: HandleKind,
    cb: Rc<dyn Callback>,
    limit: usize,
    started: bool,
    message: Option<Message>,
    hold: Hold,
}

impl Handle {
    fn process(&mut self, mut ev: Event, cx: &mut Cx<'_>) {
        let call = match self.kind {
            HandleKind::Any => true,
            HandleKind::StreamStart => !std::mem::replace(&mut self.started, true),
            HandleKind::Event(k) => ev.kind() == k,
            HandleKind::Message | HandleKind::MessageBody => {
                self.collect(&ev);
                false
            }
        };
        let whole = matches!(self.kind, HandleKind::Message | HandleKind::MessageBody);
        let result = if call {
            Some(self.cb.call(cx.context(), Arg::Event(&mut ev), Want::Nothing))
        } else if whole && matches!(ev, Event::MessageEnd(_) | Event::StreamEnd(_)) {
            // A stream that ends mid-message ends the message too (as in Pipy).
            self.message.take().map(|mut m| {
                if let Event::MessageEnd(tail) = &ev {
                    m.tail = (**tail).clone();
                }
                match self.kind {
                    HandleKind::MessageBody => {
                        self.cb.call(cx.context(), Arg::Event(&mut Event::Data(m.body)), Want::Nothing)
                    }
                    _ => self.cb.call(cx.context(), Arg::Message(m), Want::Nothing),
                }
            })
        } else {
            None
        };
        match result {
            Some(Err(err)) => return cx.fail(&err, self.name),
            Some(Ok(Returned::Pending(p))) => {
                self.hold.wait(p, cx);
                self.hold.keep(ev);
                return;
            }
            _ => {}
        }
        cx.output(ev);
    }

    fn collect(&mut self, ev: &Event) {
        match ev {
            Event::MessageStart(head) => {
                self.message = Some(Message { head: (**head).clone(), body: Default::default(), tail: Tail::default() })
            }
            Event::Data(d) => {
                if let Some(m) = &mut self.message {
                    if m.body.len() + d.len() <= self.limit {
                        m.body.push(d.clone());
                    }
                }
            }
            _ => {}
        }
    }
}

impl Filter for Handle {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.hold.is_waiting() {
            return self.hold.keep(ev);
        }
        self.process(ev, cx);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        match self.hold.settled() {
            Some(Err(err)) => return cx.fail(&err, self.name),
            Some(Ok(_)) => {}
            None => return,
        }
        // The event the callback was called for goes first, then what arrived meanwhile.
        let mut first = true;
        while let Some(ev) = self.hold.next_kept() {
            if first {
                first = false;
                cx.output(ev);
            } else {
                self.process(ev, cx);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::{Pending, ScriptError};
    use crate::head::{Head, RequestHead};
    use crate::testing::{spec, Harness, TestArg};
    use crate::Context;
    use std::cell::RefCell;

    fn request(path: &'static str) -> Vec<Event> {
        Message::new(Head::Request(RequestHead { path: path.into(), ..Default::default() }), "body").into_events()
    }

    #[test]
    fn message_start_handler_can_change_the_head_and_sees_every_message() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let cb = move |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            if let Arg::Event(Event::MessageStart(h)) = arg {
                if let Head::Request(r) = &mut **h {
                    s.borrow_mut().push(r.path.clone());
                    r.path = r.path.to_uppercase().into();
                }
            }
            Ok(Returned::Nothing)
        };
        let h = Harness::new(vec![spec(&MESSAGE_START, vec![TestArg::Callback(Rc::new(cb))])]);
        for ev in request("/a").into_iter().chain(request("/b")) {
            h.input(ev);
        }
        h.input(Event::end());
        let out = h.finish();
        assert_eq!(*seen.borrow(), vec!["/a", "/b"]);
        let paths: Vec<_> = out
            .iter()
            .filter_map(|e| match e {
                Event::MessageStart(h) => h.request().map(|r| r.path.clone()),
                _ => None,
            })
            .collect();
        assert_eq!(paths, vec!["/A", "/B"]);
        assert_eq!(out.len(), 7);
    }

    #[test]
    fn a_pending_handler_holds_later_events_and_replays_them_in_order() {
        let pending = Pending::new();
        let p = pending.clone();
        let calls = Rc::new(RefCell::new(0));
        let c = calls.clone();
        let cb = move |_: &Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            *c.borrow_mut() += 1;
            Ok(if *c.borrow() == 1 { Returned::Pending(p.clone()) } else { Returned::Nothing })
        };
        let h = Harness::new(vec![spec(&DATA, vec![TestArg::Callback(Rc::new(cb))])]);
        h.send("one ");
        h.send("two ");
        h.input(Event::end());
        assert_eq!(h.out.text(), "");
        assert_eq!(*calls.borrow(), 1, "later events wait for the first callback");
        pending.settle(Ok(Returned::Nothing));
        pending.notify();
        assert_eq!(h.out.text(), "one two ");
        assert!(h.out.ended());
        assert_eq!(*calls.borrow(), 2);
        h.finish();
    }

    #[test]
    fn a_throwing_handler_ends_the_stream_with_runtime_error() {
        let cb = |_: &Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> { Err(ScriptError::new("boom")) };
        let h = Harness::new(vec![spec(&STREAM_START, vec![TestArg::Callback(Rc::new(cb))])]);
        h.send("x");
        h.send("y");
        let out = h.finish();
        assert_eq!(out, vec![Event::error(crate::StreamError::RuntimeError)]);
    }

    #[test]
    fn whole_message_handler_gets_the_body() {
        let got = Rc::new(RefCell::new(String::new()));
        let g = got.clone();
        let cb = move |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            if let Arg::Message(m) = arg {
                g.borrow_mut().push_str(&String::from_utf8_lossy(&m.body.to_vec()));
            }
            Ok(Returned::Nothing)
        };
        let h = Harness::new(vec![spec(&MESSAGE, vec![TestArg::Callback(Rc::new(cb))])]);
        h.input(Event::start(Head::None));
        h.send("ab");
        h.send("cd");
        h.input(Event::message_end());
        assert_eq!(*got.borrow(), "abcd");
        assert_eq!(h.out.text(), "abcd");
        h.finish();
    }

    #[test]
    fn handle_sees_every_event_and_handle_message_body_each_whole_body() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let s = seen.clone();
        let any = move |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            if let Arg::Event(e) = arg {
                s.borrow_mut().push(format!("{:?}", e.kind()));
            }
            Ok(Returned::Nothing)
        };
        let b = seen.clone();
        let body = move |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            if let Arg::Event(Event::Data(d)) = arg {
                b.borrow_mut().push(format!("body {}", String::from_utf8_lossy(&d.to_vec())));
            }
            Ok(Returned::Nothing)
        };
        let h = Harness::new(vec![
            spec(&ANY, vec![TestArg::Callback(Rc::new(any))]),
            spec(&MESSAGE_BODY, vec![TestArg::Callback(Rc::new(body))]),
        ]);
        h.input(Event::start(Head::None));
        h.send("ab");
        h.send("c");
        h.input(Event::message_end());
        // A stream cut mid-message still hands over the body it had.
        h.input(Event::start(Head::None));
        h.send("partial");
        h.input(Event::end());
        let out = h.finish();
        assert_eq!(out.len(), 7, "every event passes: {out:?}");
        assert_eq!(
            *seen.borrow(),
            vec![
                "MessageStart",
                "Data",
                "Data",
                "MessageEnd",
                "body abc",
                "MessageStart",
                "Data",
                "StreamEnd",
                "body partial"
            ]
        );
    }
}
