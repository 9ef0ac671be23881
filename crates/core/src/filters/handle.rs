//! The `handle*` family: calls a callback on one kind of event and passes every event
//! on unchanged. `handleStreamStart` sees the first event, `handleMessageStart`,
//! `handleData`, `handleMessageEnd` and `handleStreamEnd` see every event of their
//! kind, `handleMessage` sees each whole message (body copied up to `bufferLimit`,
//! while the events themselves stream on). Changes a callback makes to a head are
//! kept. A callback that returns a Promise holds the stream until it settles; one
//! that throws ends the stream with `RuntimeError`.

use super::hold::Hold;
use crate::args::{ArgError, ArgResult, Args, OptionReader};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, EventKind, Message};
use crate::head::Tail;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// Which events a handle filter looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HandleKind {
    /// The first event of the stream.
    StreamStart,
    /// Each event of this kind.
    Event(EventKind),
    /// Each whole message.
    Message,
}

impl HandleKind {
    fn filter_name(self) -> &'static str {
        match self {
            HandleKind::StreamStart => "handleStreamStart",
            HandleKind::Message => "handleMessage",
            HandleKind::Event(EventKind::Data) => "handleData",
            HandleKind::Event(EventKind::MessageStart) => "handleMessageStart",
            HandleKind::Event(EventKind::MessageEnd) => "handleMessageEnd",
            HandleKind::Event(EventKind::StreamEnd) => "handleStreamEnd",
        }
    }
}

/// Default limit of the body copy `handleMessage` gives its callback.
const DEFAULT_BUFFER_LIMIT: usize = 16 << 20;

/// Builds a `handle*` filter of the given kind.
pub fn build(args: &mut dyn Args, kind: HandleKind) -> ArgResult<FilterSpec> {
    let name = kind.filter_name();
    let cb = args.callback(0)?.ok_or_else(|| ArgError(format!("{name}: a callback function is required")))?;
    let opts = args.options(1)?;
    let limit = OptionReader::new(name, opts.as_ref()).size("bufferLimit")?.unwrap_or(DEFAULT_BUFFER_LIMIT);
    Ok(FilterSpec::plain(name, move || Handle {
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
            HandleKind::StreamStart => !std::mem::replace(&mut self.started, true),
            HandleKind::Event(k) => ev.kind() == k,
            HandleKind::Message => {
                self.collect(&ev);
                false
            }
        };
        let result = if call {
            Some(self.cb.call(cx.context(), Arg::Event(&mut ev), Want::Nothing))
        } else if let (HandleKind::Message, Event::MessageEnd(tail)) = (self.kind, &ev) {
            self.message.take().map(|mut m| {
                m.tail = (**tail).clone();
                self.cb.call(cx.context(), Arg::Message(m), Want::Nothing)
            })
        } else {
            None
        };
        match result {
            Some(Err(err)) => return cx.fail(&err, self.kind.filter_name()),
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
            Some(Err(err)) => return cx.fail(&err, self.kind.filter_name()),
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
