//! `fork(value? | [values] | fn).to(...)`: copies every event to sub-pipelines and
//! passes it on unchanged; what the sub-pipelines output is discarded. With no
//! value or a single value there is one sub-pipeline, sharing the context; with an
//! array (or a function returning one) there is one per element, each with a
//! cloned context. The value (or element) is what the sub-pipeline's `onStart`
//! callback is called with. The sub-pipelines start at the first event.
//!
//! `forkJoin(...)` does the same, but holds what it passes on until every
//! sub-pipeline has ended (at most `MAX_HELD` bytes); `forkRace(...)` passes on
//! nothing of its own and outputs what the first sub-pipeline to output
//! anything outputs. Their sub-pipelines always have cloned contexts, as in Pipy.

use crate::args::{ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, ScriptValue, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// Which sub-pipelines, decided once or per stream.
enum Values {
    /// One, sharing the context, with this value if any.
    One(Option<ScriptValue>),
    /// One per value, each with a cloned context.
    Many(Vec<ScriptValue>),
    /// What the callback returns: an array gives one per element (cloned
    /// contexts), anything else one sharing the context.
    Dynamic(Rc<dyn Callback>),
}

/// `fork` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "fork",
    params: "values?: any | any[] | (() => any | any[])",
    doc: "Copies every event to sub-pipelines (one per value) and passes it on.",
    options: &[],
    build,
};

/// `forkJoin` as scripts see it.
pub const JOIN: FilterDef = FilterDef {
    name: "forkJoin",
    params: "values?: any | any[] | (() => any | any[])",
    doc: "Copies every event to sub-pipelines (one per value) and passes it on once all of them have ended.",
    options: &[],
    build,
};

/// `forkRace` as scripts see it.
pub const RACE: FilterDef = FilterDef {
    name: "forkRace",
    params: "values?: any | any[] | (() => any | any[])",
    doc: "Copies every event to sub-pipelines (one per value) and outputs what the first of them to answer outputs.",
    options: &[],
    build,
};

/// The most bytes `forkJoin` holds while its sub-pipelines run.
pub const MAX_HELD: usize = 64 << 20;

/// What holding an event that is not bytes (a head, an end) is counted as.
const HELD_EVENT_COST: usize = 1024;

#[derive(Clone, Copy, PartialEq, Eq)]
enum Mode {
    Fork,
    Join,
    Race,
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let mode = match def.name {
        "forkJoin" => Mode::Join,
        "forkRace" => Mode::Race,
        _ => Mode::Fork,
    };
    let values = if args.is_function(0) {
        Values::Dynamic(args.callback(0)?.expect("checked"))
    } else if args.array_len(0).is_some() {
        Values::Many(args.values(0)?.unwrap_or_default())
    } else {
        Values::One(args.values(0)?.and_then(|mut v| v.pop()))
    };
    let values = Rc::new(values);
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| Fork {
        mode,
        values: values.clone(),
        slot: subs.first().cloned(),
        subs: None,
        held: Vec::new(),
        held_bytes: 0,
        waiting: false,
        ended: 0,
        winner: None,
    });
    spec.joint = true;
    Ok(spec)
}

/// The `fork`, `forkJoin` and `forkRace` filter.
pub struct Fork {
    mode: Mode,
    values: Rc<Values>,
    slot: Option<LayoutSlot>,
    subs: Option<Vec<Pipeline>>,
    /// What `forkJoin` holds until its sub-pipelines have ended.
    held: Vec<Event>,
    held_bytes: usize,
    waiting: bool,
    /// How many sub-pipelines have ended (`forkJoin`).
    ended: usize,
    /// The sub-pipeline that answered first (`forkRace`).
    winner: Option<usize>,
}

impl Fork {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ()> {
        let Some(slot) = &self.slot else { return Ok(()) };
        let shared = self.mode == Mode::Fork;
        let one = |value: Option<ScriptValue>, cx: &Cx<'_>| {
            let context = if shared { cx.context().clone() } else { cx.context().fork() };
            match value {
                Some(v) => cx.sub_pipeline_with_value(slot, context, 0, v),
                None => cx.sub_pipeline(slot, context, 0),
            }
        };
        let many = |values: &[ScriptValue], cx: &Cx<'_>| -> Vec<Pipeline> {
            values
                .iter()
                .enumerate()
                .filter_map(|(i, v)| cx.sub_pipeline_with_value(slot, cx.context().fork(), i, v.clone()))
                .collect()
        };
        let subs = match &*self.values {
            Values::One(v) => one(v.clone(), cx).into_iter().collect(),
            Values::Many(vs) => many(vs, cx),
            Values::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Values) {
                Ok(Returned::Values(vs)) => many(&vs, cx),
                Ok(Returned::Value(v)) => one(v, cx).into_iter().collect(),
                Ok(_) => one(None, cx).into_iter().collect(),
                Err(err) => {
                    report_script_error(&err, "fork");
                    return Err(());
                }
            },
        };
        self.waiting = self.mode == Mode::Join && !subs.is_empty();
        if self.mode == Mode::Race && subs.is_empty() {
            // No racer will ever answer: the stream ends now, not never.
            self.winner = Some(usize::MAX);
            cx.output(Event::end());
        }
        self.subs = Some(subs);
        Ok(())
    }
}

impl Filter for Fork {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.subs.is_none() && self.start(cx).is_err() {
            self.subs = Some(Vec::new());
            return cx.output(Event::error(StreamError::RuntimeError));
        }
        for p in self.subs.iter().flatten() {
            p.input(ev.clone());
        }
        match self.mode {
            Mode::Race => {}
            Mode::Join if self.waiting => {
                // Every event counts, not only bytes: a flood of small messages
                // must not be held for free.
                self.held_bytes += match &ev {
                    Event::Data(d) => d.len(),
                    _ => HELD_EVENT_COST,
                };
                if self.held_bytes > MAX_HELD {
                    tracing::warn!(
                        "forkJoin: over {MAX_HELD} bytes held while its sub-pipelines run; ending the stream"
                    );
                    self.waiting = false;
                    self.held.clear();
                    self.subs = Some(Vec::new());
                    return cx.output(Event::error(StreamError::RuntimeError));
                }
                self.held.push(ev);
            }
            _ => cx.output(ev),
        }
    }

    fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
        match self.mode {
            Mode::Fork => {}
            Mode::Join => {
                if ev.is_stream_end() && self.waiting {
                    self.ended += 1;
                    if self.ended >= self.subs.as_ref().map_or(0, |s| s.len()) {
                        self.waiting = false;
                        self.held_bytes = 0;
                        for held in std::mem::take(&mut self.held) {
                            cx.output(held);
                        }
                    }
                }
            }
            Mode::Race => {
                if *self.winner.get_or_insert(tag) == tag {
                    cx.output(ev);
                }
            }
        }
    }
}
