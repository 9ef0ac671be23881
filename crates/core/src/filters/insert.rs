//! `insert(events)`: puts events (a fixed Event, Message or array of them, or
//! what a function returns) into the stream before its first event; every
//! event then passes unchanged. A function returning a Promise holds the
//! stream until it settles, so what it resolves to still comes first (Pipy
//! lets the stream run on and adds the events whenever the Promise settles).

use super::hold::Hold;
use crate::args::{ArgError, ArgResult, Args, Param};
use crate::callback::{Arg, Returned, ScriptError, Want};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `insert` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "insert",
    params: "events: Events | (() => Events)",
    doc: "Puts events into the stream before its first event.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    if args.is_nullish(0) {
        return Err(ArgError("insert: the events to insert are required".into()));
    }
    let with: Rc<Param<Vec<Event>>> = Rc::new(args.events_param(0)?);
    Ok(FilterSpec::plain(def.name, move || Insert {
        with: with.clone(),
        inserted: false,
        failed: false,
        hold: Hold::default(),
    }))
}

/// The `insert` filter.
pub struct Insert {
    with: Rc<Param<Vec<Event>>>,
    inserted: bool,
    /// The function threw or its Promise rejected: the stream has ended.
    failed: bool,
    hold: Hold,
}

impl Insert {
    fn emit(&mut self, result: Result<Returned, ScriptError>, cx: &mut Cx<'_>) -> bool {
        match result {
            Ok(Returned::Events(evs)) => evs.into_iter().for_each(|e| cx.output(e)),
            Ok(Returned::Pending(p)) => {
                self.hold.wait(p, cx);
                return false;
            }
            Ok(_) => {}
            Err(err) => {
                self.failed = true;
                cx.fail(&err, "insert");
                return false;
            }
        }
        true
    }
}

impl Filter for Insert {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        if self.hold.is_waiting() {
            return self.hold.keep(ev);
        }
        if !std::mem::replace(&mut self.inserted, true) {
            let result = match &*self.with {
                Param::Static(evs) => Ok(Returned::Events(evs.clone())),
                Param::Dynamic(cb) => cb.call(cx.context(), Arg::None, Want::Events),
            };
            if !self.emit(result, cx) {
                if self.hold.is_waiting() {
                    self.hold.keep(ev);
                }
                return;
            }
        }
        cx.output(ev);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some(result) = self.hold.settled() else { return };
        if self.emit(result, cx) {
            while let Some(ev) = self.hold.next_kept() {
                cx.output(ev);
            }
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
    fn the_events_come_before_the_first_event_once() {
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Events(vec![Event::Data("hello ".into())])])]);
        h.send("world");
        h.send("!");
        h.input(Event::end());
        assert_eq!(h.out.text(), "hello world!");
        h.finish();
    }

    #[test]
    fn a_promise_holds_the_stream_until_its_events_are_in() {
        let pending = Pending::new();
        let p = pending.clone();
        let cb = move |_: &Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            Ok(Returned::Pending(p.clone()))
        };
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Callback(Rc::new(cb))])]);
        h.send("b");
        h.send("c");
        assert_eq!(h.out.text(), "");
        pending.settle(Ok(Returned::Events(Message::new(Head::None, "a").into_events())));
        pending.notify();
        h.input(Event::end());
        assert_eq!(h.out.text(), "abc");
        h.finish();
    }
}
