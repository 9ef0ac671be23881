//! `fork(value? | [values] | fn).to(...)`: copies every event to sub-pipelines and
//! passes it on unchanged; what the sub-pipelines output is discarded. With no
//! value or a single value there is one sub-pipeline, sharing the context; with an
//! array (or a function returning one) there is one per element, each with a
//! cloned context. The value (or element) is what the sub-pipeline's `onStart`
//! callback is called with. The sub-pipelines start at the first event.

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

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let values = if args.is_function(0) {
        Values::Dynamic(args.callback(0)?.expect("checked"))
    } else if args.array_len(0).is_some() {
        Values::Many(args.values(0)?.unwrap_or_default())
    } else {
        Values::One(args.values(0)?.and_then(|mut v| v.pop()))
    };
    let values = Rc::new(values);
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| Fork {
        values: values.clone(),
        slot: subs.first().cloned(),
        subs: None,
    });
    spec.joint = true;
    Ok(spec)
}

/// The `fork` filter.
pub struct Fork {
    values: Rc<Values>,
    slot: Option<LayoutSlot>,
    subs: Option<Vec<Pipeline>>,
}

impl Fork {
    fn start(&mut self, cx: &mut Cx<'_>) -> Result<(), ()> {
        let Some(slot) = &self.slot else { return Ok(()) };
        let one = |value: Option<ScriptValue>, cx: &Cx<'_>| match value {
            Some(v) => cx.sub_pipeline_with_value(slot, cx.context().clone(), 0, v),
            None => cx.sub_pipeline(slot, cx.context().clone(), 0),
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
