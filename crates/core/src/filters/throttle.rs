//! `throttleMessageRate(quota | fn)`, `throttleDataRate(quota | fn)` and
//! `throttleConcurrency(quota | fn)`: let events through only as fast as a
//! `Quota` allows: one unit per message (taken at its MessageStart), one per
//! byte of Data (a chunk larger than what is left is split), or one per stream
//! (taken at its first event and given back when it ends, so the quota is how
//! many streams may run at once). When the quota is short, events wait, in order, until it
//! refills; meanwhile the stream's connections stop reading, so a throttled
//! stream holds little memory. The quota may be given per stream by a function.
//! Other events (MessageEnd, StreamEnd, and Data for the message rate) cost
//! nothing but wait behind the events before them, so order is kept.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec};
use crate::quota::Quota;
use std::collections::VecDeque;
use std::rc::Rc;

/// What a unit of the quota pays for.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// A message.
    Message,
    /// A byte.
    Byte,
    /// A stream, for as long as it lasts.
    Stream,
}

enum Source {
    Static(Quota),
    Dynamic(Rc<dyn Callback>),
}

/// `throttleMessageRate` as scripts see it.
pub const MESSAGE_RATE: FilterDef = FilterDef {
    name: "throttleMessageRate",
    params: "quota: algo.Quota | (() => algo.Quota)",
    doc: "Lets messages through only as fast as a quota allows, one unit each.",
    options: &[],
    build: |def, args| build(def, args, Unit::Message),
};

/// `throttleDataRate` as scripts see it.
pub const DATA_RATE: FilterDef = FilterDef {
    name: "throttleDataRate",
    params: "quota: algo.Quota | (() => algo.Quota)",
    doc: "Lets bytes through only as fast as a quota allows, one unit per byte.",
    options: &[],
    build: |def, args| build(def, args, Unit::Byte),
};

/// `throttleConcurrency` as scripts see it.
pub const CONCURRENCY: FilterDef = FilterDef {
    name: "throttleConcurrency",
    params: "quota: algo.Quota | (() => algo.Quota)",
    doc: "Lets only as many streams run at once as a quota has units; the others wait.",
    options: &[],
    build: |def, args| build(def, args, Unit::Stream),
};

fn build(def: &'static FilterDef, args: &mut dyn Args, unit: Unit) -> ArgResult<FilterSpec> {
    let name = def.name;
    let source = if let Some(cb) = args.callback(0)? {
        Source::Dynamic(cb)
    } else {
        match args.native(0)?.and_then(|n| n.downcast_ref::<Quota>().cloned()) {
            Some(q) => Source::Static(q),
            None => return Err(ArgError(format!("{name}: expects an algo.Quota or a function returning one"))),
        }
    };
    let source = Rc::new(source);
    Ok(FilterSpec::plain(name, move || Throttle {
        name,
        unit,
        source: source.clone(),
        quota: None,
        held: VecDeque::new(),
        holding_flow: false,
        failed: false,
        holds_unit: false,
    }))
}

/// The throttle filters.
pub struct Throttle {
    name: &'static str,
    unit: Unit,
    source: Rc<Source>,
    quota: Option<Quota>,
    held: VecDeque<Event>,
    holding_flow: bool,
    failed: bool,
    /// This stream holds one of the quota's units (`throttleConcurrency`).
    holds_unit: bool,
}

impl Throttle {
    /// Gives back the unit this stream holds, once it no longer runs.
    fn give_back(&mut self) {
        if std::mem::take(&mut self.holds_unit) {
            if let Some(q) = &self.quota {
                q.produce(1.0);
            }
        }
    }

    /// The quota of this stream; `None` (stream failed) if the callback threw.
    fn quota(&mut self, cx: &mut Cx<'_>) -> Option<Quota> {
        if let Some(q) = &self.quota {
            return Some(q.clone());
        }
        let q = match &*self.source {
            Source::Static(q) => q.clone(),
            Source::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Native) {
                Ok(Returned::Native(Some(n))) if n.is::<Quota>() => {
                    n.downcast_ref::<Quota>().cloned().expect("checked")
                }
                Ok(_) => {
                    let err =
                        crate::ScriptError::new(format!("{}: the function did not return an algo.Quota", self.name));
                    self.fail(&err, cx);
                    return None;
                }
                Err(err) => {
                    self.fail(&err, cx);
                    return None;
                }
            },
        };
        self.quota = Some(q.clone());
        Some(q)
    }

    fn fail(&mut self, err: &crate::ScriptError, cx: &mut Cx<'_>) {
        report_script_error(err, self.name);
        self.failed = true;
        self.give_back();
        self.held.clear();
        self.set_flow(cx, false);
        cx.output(Event::error(StreamError::RuntimeError));
    }

    /// Lets held events through while the quota lasts.
    fn drain(&mut self, cx: &mut Cx<'_>) {
        let Some(quota) = self.quota(cx) else { return };
        while let Some(ev) = self.held.pop_front() {
            if self.unit == Unit::Stream && !self.holds_unit {
                if !quota.take(1.0) {
                    self.held.push_front(ev);
                    break;
                }
                self.holds_unit = true;
            }
            let ended = ev.is_stream_end();
            match (&ev, self.unit) {
                (Event::MessageStart(_), Unit::Message) if !quota.take(1.0) => {
                    self.held.push_front(ev);
                    break;
                }
                (Event::Data(d), Unit::Byte) if !d.is_empty() => {
                    let size = d.len();
                    let paid = quota.consume(size as f64) as usize;
                    if paid < size {
                        let Event::Data(mut rest) = ev else { unreachable!() };
                        let first = rest.shift(paid);
                        if paid > 0 {
                            cx.output(Event::Data(first));
                        }
                        self.held.push_front(Event::Data(rest));
                        break;
                    }
                    cx.output(ev);
                }
                _ => cx.output(ev),
            }
            if ended {
                self.give_back();
            }
        }
        let waiting = !self.held.is_empty();
        if waiting {
            quota.wait(cx.handle());
        }
        self.set_flow(cx, waiting);
    }

    /// Pauses (or resumes) reading on both sides of the stream while events wait.
    fn set_flow(&mut self, cx: &mut Cx<'_>, hold: bool) {
        if hold == self.holding_flow {
            return;
        }
        self.holding_flow = hold;
        if let Some(flow) = cx.context().flow() {
            if hold {
                flow.toward_client.hold();
                flow.toward_server.hold();
            } else {
                flow.toward_client.release();
                flow.toward_server.release();
            }
        }
    }
}

impl Filter for Throttle {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        self.held.push_back(ev);
        if self.held.len() == 1 {
            self.drain(cx);
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        if !self.failed && !self.held.is_empty() {
            self.drain(cx);
        }
    }
}

/// A stream torn down without its StreamEnd still gives its unit back, after
/// the teardown, so the stream it wakes does not run inside it.
impl Drop for Throttle {
    fn drop(&mut self) {
        if std::mem::take(&mut self.holds_unit) {
            if let Some(q) = self.quota.take() {
                if !crate::timer::call_after(std::time::Duration::ZERO, move || q.produce(1.0)) {
                    tracing::debug!("throttleConcurrency: no timer to give a unit back on");
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::quota::QuotaOptions;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Head, Message};

    #[test]
    fn messages_wait_for_the_quota_and_go_on_when_it_is_produced() {
        let q = Quota::new(1.0, QuotaOptions::default());
        let h = Harness::new(vec![spec(&MESSAGE_RATE, vec![TestArg::Native(Rc::new(q.clone()))])]);
        for body in ["a", "b"] {
            for ev in Message::new(Head::None, body).into_events() {
                h.input(ev);
            }
        }
        assert_eq!(h.out.text(), "a");
        q.produce(1.0);
        assert_eq!(h.out.text(), "ab");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn data_is_split_at_what_the_quota_allows() {
        let q = Quota::new(3.0, QuotaOptions::default());
        let h = Harness::new(vec![spec(&DATA_RATE, vec![TestArg::Native(Rc::new(q.clone()))])]);
        h.input(Event::Data("hello".into()));
        assert_eq!(h.out.text(), "hel");
        q.produce(10.0);
        assert_eq!(h.out.text(), "hello");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn only_as_many_streams_run_as_the_quota_has_units() {
        let q = Quota::new(1.0, QuotaOptions::default());
        let make = || spec(&CONCURRENCY, vec![TestArg::Native(Rc::new(q.clone()))]);
        let first = Harness::new(vec![make()]);
        let second = Harness::new(vec![make()]);
        first.send("a");
        second.send("b");
        assert_eq!(first.out.text(), "a");
        assert_eq!(second.out.text(), "", "the second stream waits for a unit");
        first.input(Event::end());
        assert_eq!(second.out.text(), "b", "the first stream's end gives its unit to the second");
        assert_eq!(q.current(), 0.0);
        second.input(Event::end());
        assert_eq!(q.current(), 1.0);
        second.finish();
        first.finish();
    }
}
