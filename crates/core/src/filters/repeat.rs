//! `repeat(condition).to(...)`: runs the sub-pipeline after it on the stream,
//! and each time it ends asks `condition(streamEnd)` whether to run it again
//! (a Promise is waited for). Every run is fed the stream's input from its
//! start (held, at most `MAX_HELD` bytes); what each run outputs, but its
//! `StreamEnd`, is this filter's output, and the last run's `StreamEnd` ends
//! the stream. The sub-pipelines share the stream's context. Pipy's newer API:
//! retries, polling loops (`repeat(() => new Timeout(1).wait().then(true))`).

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Pending, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// `repeat` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "repeat",
    params: "condition: (end: StreamEnd) => boolean | Promise<boolean>",
    doc: "Runs the sub-pipeline again, on the same input, while the condition says so when it ends.",
    options: &[],
    build,
};

/// Input bytes held for the runs to come.
pub const MAX_HELD: usize = 4 << 20;

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let condition = args
        .callback(0)?
        .ok_or_else(|| ArgError(format!("{}: expects a function that says whether to run again", def.name)))?;
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| Repeat {
        condition: condition.clone(),
        slot: subs.first().cloned(),
        run: None,
        retired: None,
        generation: 0,
        held: Vec::new(),
        held_bytes: 0,
        end: None,
        pending: None,
        ended: false,
    });
    spec.joint = true;
    Ok(spec)
}

/// The `repeat` filter.
pub struct Repeat {
    condition: Rc<dyn Callback>,
    slot: Option<LayoutSlot>,
    run: Option<Pipeline>,
    /// The run that just ended, kept until it has returned from its last event.
    retired: Option<Pipeline>,
    /// Which run is current: the sub-pipeline's tag.
    generation: usize,
    held: Vec<Event>,
    held_bytes: usize,
    /// The last run's StreamEnd, given out when no run follows.
    end: Option<Event>,
    pending: Option<Pending>,
    ended: bool,
}

impl Repeat {
    fn start(&mut self, cx: &mut Cx<'_>) {
        let Some(slot) = &self.slot else { return };
        self.generation += 1;
        self.retired = self.run.take();
        self.run = cx.sub_pipeline(slot, cx.context().clone(), self.generation);
        if let Some(run) = &self.run {
            for ev in &self.held {
                run.input(ev.clone());
            }
        }
    }

    fn decided(&mut self, result: Result<Returned, crate::ScriptError>, cx: &mut Cx<'_>) {
        match result {
            Ok(Returned::Bool(true)) => self.start(cx),
            Ok(Returned::Pending(p)) => {
                p.wake_on_settle(cx.handle());
                self.pending = Some(p);
            }
            Ok(_) => self.finish(cx),
            Err(e) => {
                report_script_error(&e, "repeat");
                self.ended = true;
                cx.output(Event::error(StreamError::RuntimeError));
            }
        }
    }

    fn finish(&mut self, cx: &mut Cx<'_>) {
        self.ended = true;
        self.held.clear();
        cx.output(self.end.take().unwrap_or_else(Event::end));
    }
}

impl Filter for Repeat {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.ended {
            return;
        }
        self.retired = None;
        if let Event::Data(d) = &ev {
            self.held_bytes += d.len();
        }
        if self.held_bytes > MAX_HELD {
            tracing::warn!("repeat: over {MAX_HELD} bytes of input held for the runs to come; ending the stream");
            self.ended = true;
            self.held.clear();
            self.run = None;
            return cx.output(Event::error(StreamError::RuntimeError));
        }
        self.held.push(ev.clone());
        if self.run.is_none() && self.generation == 0 {
            self.start(cx);
            // `start` fed it what is held, this event included.
            return;
        }
        if let Some(run) = &self.run {
            run.input(ev);
        }
    }

    fn on_sub_event(&mut self, tag: usize, mut ev: Event, cx: &mut Cx<'_>) {
        if tag != self.generation || self.ended || self.pending.is_some() {
            return;
        }
        if !ev.is_stream_end() {
            return cx.output(ev);
        }
        self.end = Some(ev.clone());
        let result = self.condition.call(cx.context(), Arg::Event(&mut ev), Want::Bool);
        self.decided(result, cx);
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let Some(p) = &self.pending else { return };
        let Some(result) = p.take() else { return };
        self.pending = None;
        // A Promise's value is taken for its truth.
        let result = result.map(|r| match r {
            Returned::Bool(b) => Returned::Bool(b),
            Returned::Nothing => Returned::Bool(false),
            other => other,
        });
        self.decided(result, cx);
    }
}
