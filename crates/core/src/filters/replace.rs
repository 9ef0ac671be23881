//! The `replace*` family: replaces one kind of event with what a value or a callback
//! gives (an Event, a Message, an array of them, or nothing to drop it); every other
//! event passes on. `replace` replaces every event, `replaceStreamStart` the first,
//! `replaceMessageStart`, `replaceData`, `replaceMessageEnd` and `replaceStreamEnd`
//! every event of their kind, `replaceMessage` each whole message (buffered up to
//! `bufferLimit`; a bigger one ends the stream with `BufferOverflow`), and
//! `replaceMessageBody` each message's body (the callback gets the body as Data
//! and returns the new body: Data or a string; head and tail stay). A callback that
//! returns a Promise holds the stream until it settles.

use super::hold::Hold;
use crate::args::{ArgResult, Args, Param};
use crate::callback::{Arg, Returned, ScriptError, Want};
use crate::event::{Collected, Event, EventKind, MessageCollector, StreamError};
use crate::filters::FilterDef;
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// Which events a replace filter replaces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReplaceKind {
    /// Every event.
    Any,
    /// The first event of the stream.
    StreamStart,
    /// Each event of this kind.
    Event(EventKind),
    /// Each whole message.
    Message,
    /// Each message's body (the head and tail stay).
    MessageBody,
}

const DEFAULT_BUFFER_LIMIT: usize = 16 << 20;

/// `replace` as scripts see it.
pub const ANY: FilterDef = FilterDef {
    name: "replace",
    params: "replacement?: Events | ((event: Event) => Events)",
    doc: "Replaces every event with what a value or a function gives.",
    options: &[],
    build: |def, args| build(def, args, ReplaceKind::Any),
};

/// `replaceStreamStart` as scripts see it.
pub const STREAM_START: FilterDef = FilterDef {
    name: "replaceStreamStart",
    params: "replacement?: Events | ((event: Event) => Events)",
    doc: "Replaces the stream's first event.",
    options: &[],
    build: |def, args| build(def, args, ReplaceKind::StreamStart),
};

/// `replaceMessageStart` as scripts see it.
pub const MESSAGE_START: FilterDef = FilterDef {
    name: "replaceMessageStart",
    params: "replacement?: Events | ((head: MessageStart) => Events)",
    doc: "Replaces each MessageStart.",
    options: &[],
    build: |def, args| build(def, args, ReplaceKind::Event(EventKind::MessageStart)),
};

/// `replaceData` as scripts see it.
pub const DATA: FilterDef = FilterDef {
    name: "replaceData",
    params: "replacement?: Events | ((data: Data) => Events)",
    doc: "Replaces each Data event.",
    options: &[],
    build: |def, args| build(def, args, ReplaceKind::Event(EventKind::Data)),
};

/// `replaceMessageEnd` as scripts see it.
pub const MESSAGE_END: FilterDef = FilterDef {
    name: "replaceMessageEnd",
    params: "replacement?: Events | ((end: MessageEnd) => Events)",
    doc: "Replaces each MessageEnd.",
    options: &[],
    build: |def, args| build(def, args, ReplaceKind::Event(EventKind::MessageEnd)),
};

/// `replaceStreamEnd` as scripts see it.
pub const STREAM_END: FilterDef = FilterDef {
    name: "replaceStreamEnd",
    params: "replacement?: Events | ((end: StreamEnd) => Events)",
    doc: "Replaces the StreamEnd.",
    options: &[],
    build: |def, args| build(def, args, ReplaceKind::Event(EventKind::StreamEnd)),
};

/// `replaceMessage` as scripts see it.
pub const MESSAGE: FilterDef = FilterDef {
    name: "replaceMessage",
    params: "replacement?: Events | ((message: Message) => Events), options?: ReplaceMessageOptions",
    doc: "Replaces each whole message.",
    options: &[MESSAGE_OPTIONS],
    build: |def, args| build(def, args, ReplaceKind::Message),
};

/// `replaceMessageBody` as scripts see it.
pub const MESSAGE_BODY: FilterDef = FilterDef {
    name: "replaceMessageBody",
    params: "replacement?: Data | string | ((body: Data) => Data | string), options?: ReplaceMessageBodyOptions",
    doc: "Replaces each message's body, keeping its head and tail.",
    options: &[MESSAGE_OPTIONS],
    build: |def, args| build(def, args, ReplaceKind::MessageBody),
};

const MESSAGE_OPTIONS: &[OptionDef] =
    &[OptionDef::size("bufferLimit", "Largest message buffered; a bigger one ends the stream with BufferOverflow.")
        .default_size(DEFAULT_BUFFER_LIMIT)];

fn build(def: &'static FilterDef, args: &mut dyn Args, kind: ReplaceKind) -> ArgResult<FilterSpec> {
    let name = def.name;
    let with: Rc<Param<Vec<Event>>> =
        Rc::new(if args.is_nullish(0) { Param::Static(Vec::new()) } else { args.events_param(0)? });
    let r = def.options_at(args, 1)?;
    let limit = if def.options.is_empty() { DEFAULT_BUFFER_LIMIT } else { r.size("bufferLimit")? };
    Ok(FilterSpec::plain(name, move || Replace {
        name,
        kind,
        with: with.clone(),
        started: false,
        collector: MessageCollector::new(Some(limit)),
        hold: Hold::default(),
    }))
}

/// A `replace*` filter.
pub struct Replace {
    name: &'static str,
    kind: ReplaceKind,
    with: Rc<Param<Vec<Event>>>,
    started: bool,
    collector: MessageCollector,
    hold: Hold,
}

impl Replace {
    fn process(&mut self, mut ev: Event, cx: &mut Cx<'_>) {
        if matches!(ev, Event::StreamEnd(_))
            && matches!(self.kind, ReplaceKind::Message | ReplaceKind::MessageBody)
            && self.collector.in_message()
        {
            // A stream that ends mid-message ends the message too (as in Pipy):
            // what arrived of it is replaced, then the stream ends.
            self.process(Event::message_end(), cx);
            if self.hold.is_waiting() {
                return self.hold.keep(ev);
            }
        }
        let result = match self.kind {
            ReplaceKind::Any => self.replacement(Arg::Event(&mut ev), cx),
            ReplaceKind::StreamStart => {
                if std::mem::replace(&mut self.started, true) {
                    return cx.output(ev);
                }
                self.replacement(Arg::Event(&mut ev), cx)
            }
            ReplaceKind::Event(k) => {
                if ev.kind() != k {
                    if let (EventKind::Data, Event::MessageStart(head)) = (k, &mut ev) {
                        // The body is about to change: a length its head declares
                        // would no longer hold (the encoder finds the new one).
                        if let Some(h) = head.headers_mut() {
                            h.remove("content-length");
                        }
                    }
                    return cx.output(ev);
                }
                self.replacement(Arg::Event(&mut ev), cx)
            }
            ReplaceKind::MessageBody => match self.collector.feed(ev) {
                Collected::Taken => return,
                Collected::Other(ev) => return cx.output(ev),
                Collected::Overflow => {
                    tracing::error!("replaceMessageBody: message body over bufferLimit");
                    return cx.output(Event::error(StreamError::BufferOverflow));
                }
                Collected::Message(m) => {
                    let head = m.head.clone();
                    let tail = m.tail.clone();
                    let mut body_arg = Event::Data(m.body);
                    let result = match &*self.with {
                        Param::Static(evs) => Ok(Returned::Events(evs.clone())),
                        Param::Dynamic(cb) => cb.call(cx.context(), Arg::Event(&mut body_arg), Want::Events),
                    };
                    match result {
                        Ok(Returned::Events(evs)) => {
                            // A length the old body declared would be wrong for the new one.
                            let mut head = head;
                            let size: usize =
                                evs.iter().map(|e| if let Event::Data(d) = e { d.len() } else { 0 }).sum();
                            if let Some(h) = head.headers_mut().filter(|h| h.get("content-length").is_some()) {
                                h.set("content-length", size.to_string());
                            }
                            cx.output(Event::start(head));
                            for e in evs {
                                if let Event::Data(_) = e {
                                    cx.output(e);
                                }
                            }
                            cx.output(Event::MessageEnd(Box::new(tail)));
                            return;
                        }
                        Ok(Returned::Pending(_)) => {
                            tracing::error!("replaceMessageBody: a Promise is not supported as the new body");
                            return cx.output(Event::error(StreamError::RuntimeError));
                        }
                        Ok(_) => {
                            cx.output(Event::start(head));
                            cx.output(Event::MessageEnd(Box::new(tail)));
                            return;
                        }
                        Err(err) => Err(err),
                    }
                }
            },
            ReplaceKind::Message => match self.collector.feed(ev) {
                Collected::Taken => return,
                Collected::Other(ev) => return cx.output(ev),
                Collected::Overflow => {
                    tracing::error!("{}: message body over bufferLimit", self.name);
                    return cx.output(Event::error(StreamError::BufferOverflow));
                }
                Collected::Message(m) => self.replacement(Arg::Message(m), cx),
            },
        };
        self.emit(result, cx);
    }

    fn replacement(&self, arg: Arg<'_>, cx: &mut Cx<'_>) -> Result<Returned, ScriptError> {
        match &*self.with {
            Param::Static(evs) => Ok(Returned::Events(evs.clone())),
            Param::Dynamic(cb) => cb.call(cx.context(), arg, Want::Events),
        }
    }

    fn emit(&mut self, result: Result<Returned, ScriptError>, cx: &mut Cx<'_>) {
        match result {
            Ok(Returned::Events(mut evs)) => {
                if self.kind == ReplaceKind::Message {
                    fix_declared_lengths(&mut evs);
                }
                evs.into_iter().for_each(|e| cx.output(e))
            }
            Ok(Returned::Pending(p)) => self.hold.wait(p, cx),
            Ok(_) => {}
            Err(err) => cx.fail(&err, self.name),
        }
    }
}

/// Makes the `content-length` of each message in `evs` (when it has one) match
/// its body: a script that returns `new Message(msg.head, newBody)` keeps the old
/// message's length in the head.
fn fix_declared_lengths(evs: &mut [Event]) {
    let mut i = 0;
    while i < evs.len() {
        if let Event::MessageStart(_) = &evs[i] {
            let size: usize = evs[i + 1..]
                .iter()
                .take_while(|e| !matches!(e, Event::MessageEnd(_) | Event::MessageStart(_)))
                .map(|e| if let Event::Data(d) = e { d.len() } else { 0 })
                .sum();
            if let Event::MessageStart(head) = &mut evs[i] {
                if let Some(h) = head.headers_mut().filter(|h| h.get("content-length").is_some()) {
                    h.set("content-length", size.to_string());
                }
            }
        }
        i += 1;
    }
}

impl Filter for Replace {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.hold.is_waiting() {
            return self.hold.keep(ev);
        }
        self.process(ev, cx);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some(result) = self.hold.settled() else { return };
        self.emit(result, cx);
        while let Some(ev) = self.hold.next_kept() {
            self.process(ev, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::Pending;
    use crate::head::Head;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, Message};

    #[test]
    fn a_replaced_body_does_not_keep_the_length_the_old_one_declared() {
        let mut head = crate::head::ResponseHead::default();
        head.headers.set("content-length", "3");
        let original = Message::new(Head::Response(head), "abc");
        // replaceMessage returning the old head with a new body.
        let cb = |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            let Arg::Message(m) = arg else { panic!("a message") };
            Ok(Returned::Events(Message::new(m.head, "longer body").into_events()))
        };
        let h = Harness::new(vec![spec(&MESSAGE, vec![TestArg::Callback(Rc::new(cb))])]);
        for ev in original.clone().into_events() {
            h.input(ev);
        }
        let out = h.finish();
        let Event::MessageStart(head) = &out[0] else { panic!("{out:?}") };
        assert_eq!(head.headers().unwrap().get("content-length"), Some("11"));
        // replaceData: the length goes, since the bytes may change.
        let cb = |_: &Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            Ok(Returned::Events(vec![Event::Data("changed".into())]))
        };
        let h = Harness::new(vec![spec(&DATA, vec![TestArg::Callback(Rc::new(cb))])]);
        for ev in original.into_events() {
            h.input(ev);
        }
        let out = h.finish();
        let Event::MessageStart(head) = &out[0] else { panic!("{out:?}") };
        assert_eq!(head.headers().unwrap().get("content-length"), None);
    }

    #[test]
    fn replace_message_turns_each_message_into_the_callbacks_answer() {
        let cb = |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            let Arg::Message(m) = arg else { panic!("replaceMessage passes the message") };
            let text = format!("[{}]", String::from_utf8_lossy(&m.body.to_vec()));
            Ok(Returned::Events(Message::new(Head::None, text).into_events()))
        };
        let h = Harness::new(vec![spec(&MESSAGE, vec![TestArg::Callback(Rc::new(cb))])]);
        for body in ["a", "bc"] {
            for ev in Message::new(Head::None, body).into_events() {
                h.input(ev);
            }
        }
        h.input(Event::end());
        assert_eq!(h.out.text(), "[a][bc]");
        h.finish();
    }

    #[test]
    fn replace_stream_start_with_a_promise_holds_the_stream() {
        let pending = Pending::new();
        let p = pending.clone();
        let cb = move |_: &Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            Ok(Returned::Pending(p.clone()))
        };
        let h = Harness::new(vec![spec(&STREAM_START, vec![TestArg::Callback(Rc::new(cb))])]);
        h.send("first");
        h.send("second");
        assert_eq!(h.out.text(), "");
        pending.settle(Ok(Returned::Events(vec![Event::Data("start ".into())])));
        pending.notify();
        assert_eq!(h.out.text(), "start second");
        h.finish();
    }

    #[test]
    fn static_replacement_and_drop_by_omission() {
        let h = Harness::new(vec![
            spec(&DATA, vec![TestArg::Events(vec![Event::Data("*".into())])]),
            spec(&MESSAGE_END, vec![]),
        ]);
        h.input(Event::start(Head::None));
        h.send("abc");
        h.send("def");
        h.input(Event::end());
        assert_eq!(h.out.text(), "**");
        let out = h.out.events();
        assert!(!out.iter().any(|e| matches!(e, Event::MessageEnd(_))), "MessageEnd dropped");
        assert!(h.out.ended());
        h.finish();
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;
    use crate::head::Head;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, Data, Message};

    #[test]
    fn replace_message_body_keeps_the_head() {
        let upper = |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            let Arg::Event(Event::Data(d)) = arg else { panic!("the body as Data") };
            let text = String::from_utf8_lossy(&d.to_vec()).to_uppercase();
            Ok(Returned::Events(vec![Event::Data(Data::from(text))]))
        };
        let h = Harness::new(vec![spec(&MESSAGE_BODY, vec![TestArg::Callback(Rc::new(upper))])]);
        for ev in Message::new(Head::Request(Default::default()), "abc").into_events() {
            h.input(ev);
        }
        let out = h.out.events();
        assert!(matches!(&out[0], Event::MessageStart(h) if h.request().is_some()));
        assert_eq!(h.out.text(), "ABC");
        h.finish();
    }

    #[test]
    fn replace_gets_every_event_and_what_it_returns_goes_on() {
        let cb = |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            let Arg::Event(e) = arg else { panic!("replace passes the event") };
            Ok(match e {
                Event::Data(d) => {
                    Returned::Events(vec![Event::Data(String::from_utf8_lossy(&d.to_vec()).to_uppercase().into())])
                }
                Event::MessageEnd(_) => Returned::Nothing,
                other => Returned::Events(vec![other.clone()]),
            })
        };
        let h = Harness::new(vec![spec(&ANY, vec![TestArg::Callback(Rc::new(cb))])]);
        for ev in Message::new(Head::None, "abc").into_events() {
            h.input(ev);
        }
        h.input(Event::end());
        assert_eq!(h.out.text(), "ABC");
        let out = h.finish();
        let kinds: Vec<_> = out.iter().map(|e| e.kind()).collect();
        assert_eq!(
            kinds,
            vec![EventKind::MessageStart, EventKind::Data, EventKind::StreamEnd],
            "the MessageEnd is dropped"
        );
    }
}
