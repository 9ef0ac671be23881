//! `wait(condition, {timeout})`: holds every event until `condition()` is true,
//! then lets what it held and everything after it through unchanged. The
//! condition is checked at the first event and again whenever script code runs
//! for the same stream family (the stream and the sub-pipelines and forks made
//! from it), or at the next event. If it returns a Promise, the events go on
//! when that settles. After `timeout` the wait ends and the events go on.
//! All four event kinds are held alike and keep their order; a StreamEnd that
//! arrives while waiting is held too.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Pending, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::options::OptionDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec};
use std::cell::Cell;
use std::rc::Rc;
use std::time::Duration;

/// `wait` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "wait",
    params: "condition: () => boolean, options?: WaitOptions",
    doc: "Holds the stream's events until a condition holds.",
    options: &[&[OptionDef::duration(
        "timeout",
        "How long to hold the events; then they go on as if the condition held.",
    )
    .absent("no limit")]],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let cond = args.callback(0)?.ok_or_else(|| ArgError(format!("{}: expects a condition function", def.name)))?;
    let timeout = def.options_at(args, 1)?.opt_duration("timeout")?;
    Ok(FilterSpec::plain(def.name, move || Wait {
        cond: cond.clone(),
        timeout,
        state: State::Unchecked,
        held: Vec::new(),
        registered: false,
        timed_out: Rc::new(Cell::new(false)),
    }))
}

enum State {
    /// No event yet.
    Unchecked,
    /// The condition was false: checked again when the group is touched.
    Waiting,
    /// The condition returned a Promise.
    Promise(Pending),
    /// Events pass.
    Open,
    /// The condition threw: the stream has ended with an error.
    Failed,
}

/// The `wait` filter.
pub struct Wait {
    cond: Rc<dyn Callback>,
    timeout: Option<Duration>,
    state: State,
    held: Vec<Event>,
    registered: bool,
    timed_out: Rc<Cell<bool>>,
}

impl Wait {
    fn check(&mut self, cx: &mut Cx<'_>) {
        let context = cx.context().clone();
        let result = context.quietly(|| self.cond.call(&context, Arg::None, Want::Bool));
        match result {
            Ok(Returned::Bool(true)) => self.open(cx),
            Ok(Returned::Pending(p)) => {
                p.wake_on_settle(cx.handle());
                self.state = State::Promise(p);
            }
            Ok(_) => {
                if !matches!(self.state, State::Waiting) {
                    tracing::debug!(pipeline = cx.pipeline_name(), "wait: stream held until its condition holds");
                }
                self.state = State::Waiting;
                if !self.registered {
                    self.registered = true;
                    context.wake_on_touch(cx.handle());
                }
            }
            Err(err) => self.fail(&err, cx),
        }
    }

    fn open(&mut self, cx: &mut Cx<'_>) {
        self.state = State::Open;
        for ev in std::mem::take(&mut self.held) {
            cx.output(ev);
        }
    }

    fn fail(&mut self, err: &crate::ScriptError, cx: &mut Cx<'_>) {
        report_script_error(err, "wait");
        self.state = State::Failed;
        self.held.clear();
        cx.output(Event::error(StreamError::RuntimeError));
    }
}

impl Filter for Wait {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match self.state {
            State::Open => cx.output(ev),
            State::Failed => {}
            State::Promise(_) => self.held.push(ev),
            State::Waiting => {
                self.held.push(ev);
                self.check(cx);
            }
            State::Unchecked => {
                self.held.push(ev);
                if let Some(t) = self.timeout {
                    let (flag, handle) = (self.timed_out.clone(), cx.handle());
                    crate::timer::call_after(t, move || {
                        flag.set(true);
                        handle.wake();
                    });
                }
                self.check(cx);
            }
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if matches!(self.state, State::Open | State::Failed) {
            return;
        }
        if self.timed_out.get() {
            return self.open(cx);
        }
        match &self.state {
            State::Promise(p) => match p.take() {
                Some(Ok(_)) => self.open(cx),
                Some(Err(err)) => self.fail(&err, cx),
                None => {}
            },
            State::Waiting => {
                self.registered = false;
                self.check(cx);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness, TestArg};

    #[test]
    fn events_are_held_until_the_condition_holds_then_flushed_in_order() {
        let open = Rc::new(Cell::new(false));
        let o = open.clone();
        let cond = TestArg::Callback(Rc::new(move |_: &crate::Context, _: Arg<'_>, _| Ok(Returned::Bool(o.get()))));
        let h = Harness::new(vec![spec(&DEF, vec![cond])]);
        h.input(Event::Data("a".into()));
        h.input(Event::Data("b".into()));
        assert_eq!(h.out.text(), "");
        open.set(true);
        // The next event is an occasion to check again.
        h.input(Event::Data("c".into()));
        assert_eq!(h.out.text(), "abc");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_condition_that_throws_ends_the_stream_with_an_error() {
        let cond = TestArg::Callback(Rc::new(|_: &crate::Context, _: Arg<'_>, _| Err(crate::ScriptError::new("boom"))));
        let h = Harness::new(vec![spec(&DEF, vec![cond])]);
        h.input(Event::Data("a".into()));
        assert!(h.out.ended());
        h.finish();
    }
}
