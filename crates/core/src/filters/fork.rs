//! `fork(value? | [values] | fn).to(...)`: copies every event to sub-pipelines and
//! passes it on unchanged; what the sub-pipelines output is discarded. With no
//! value or a single value there is one sub-pipeline, sharing the context; with an
//! array (or a function returning one) there is one per element, each with a
//! cloned context. The sub-pipelines start at the first event.

use crate::args::{ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, StreamError};
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// How many sub-pipelines, decided once or per stream.
enum Count {
    /// One, sharing the context.
    One,
    /// This many, each with a cloned context.
    Many(usize),
    /// As many as the callback's array has elements (one if it gives no array).
    Dynamic(Rc<dyn Callback>),
}

/// Builds `fork(...)` (its sub-pipeline comes from `.to(...)`).
pub fn build(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let count = if args.is_function(0) {
        Count::Dynamic(args.callback(0)?.expect("checked"))
    } else if let Some(n) = args.array_len(0) {
        Count::Many(n)
    } else {
        Count::One
    };
    let count = Rc::new(count);
    let mut spec = FilterSpec::with_subs("fork", Vec::new(), move |subs| Fork {
        count: count.clone(),
        slot: subs.first().cloned(),
        subs: None,
    });
    spec.joint = true;
    Ok(spec)
}

/// The `fork` filter.
pub struct Fork {
    count: Rc<Count>,
    slot: Option<LayoutSlot>,
    subs: Option<Vec<Pipeline>>,
}

impl Fork {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ()> {
        let Some(slot) = &self.slot else { return Ok(()) };
        let many = match &*self.count {
            Count::One => None,
            Count::Many(n) => Some(*n),
            Count::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Count) {
                Ok(Returned::Count(n)) => n,
                Ok(_) => None,
                Err(err) => {
                    report_script_error(&err, "fork");
                    return Err(());
                }
            },
        };
        let subs = match many {
            None => cx.sub_pipeline(slot, cx.context().clone(), 0).into_iter().collect(),
            Some(n) => (0..n).filter_map(|i| cx.sub_pipeline(slot, cx.context().fork(), i)).collect(),
        };
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
        cx.output(ev);
    }

    fn on_sub_event(&mut self, _tag: usize, _ev: Event, _cx: &mut Cx<'_>) {}
}
