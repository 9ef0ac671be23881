//! `loop(...)`: runs the sub-pipeline given, sharing the stream's context,
//! feeds it the stream's events, and feeds what it outputs back into it as
//! well as out of this filter: a pipeline that answers its own output (a
//! client that keeps a connection to a server busy with what the server
//! said). What comes back goes in on the next turn of the event loop, so a
//! sub-pipeline that echoes at once does not hold the worker.

use crate::args::{ArgError, ArgResult, Args};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::cell::RefCell;
use std::rc::Rc;

/// `loop` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "loop",
    params: "pipeline: SubPipeline",
    doc: "Runs a sub-pipeline whose output goes out and back into it.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    if args.is_nullish(0) {
        return Err(ArgError(format!("{}: a pipeline is required", def.name)));
    }
    let slot = args.layout(0)?;
    Ok(FilterSpec::with_subs(def.name, vec![slot], |subs| Loop {
        slot: subs[0].clone(),
        sub: None,
        back: Rc::default(),
        scheduled: Rc::default(),
    }))
}

/// The `loop` filter.
pub struct Loop {
    slot: LayoutSlot,
    sub: Option<Pipeline>,
    /// What the sub-pipeline output, to go back into it.
    back: Rc<RefCell<Vec<Event>>>,
    scheduled: Rc<std::cell::Cell<bool>>,
}

impl Filter for Loop {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.sub.is_none() {
            self.sub = cx.sub_pipeline(&self.slot, cx.context().clone(), 0);
        }
        match &self.sub {
            Some(sub) => sub.input(ev),
            None => cx.output(ev),
        }
    }

    fn on_sub_event(&mut self, _tag: usize, ev: Event, cx: &mut Cx<'_>) {
        cx.output(ev.clone());
        self.back.borrow_mut().push(ev);
        if !self.scheduled.replace(true) {
            let handle = cx.handle();
            crate::timer::soon(move || handle.wake());
        }
    }

    fn on_wake(&mut self, _cx: &mut Cx<'_>) {
        self.scheduled.set(false);
        let back = std::mem::take(&mut *self.back.borrow_mut());
        if let Some(sub) = &self.sub {
            for ev in back {
                sub.input(ev);
            }
        }
    }
}
