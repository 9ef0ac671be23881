//! `dummy()`: swallows Data and message events. StreamEnd still passes, so the
//! stream it sits in can finish.

use crate::args::{ArgResult, Args};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `dummy` as scripts see it.
pub const DEF: FilterDef =
    FilterDef { name: "dummy", params: "", doc: "Swallows every event but StreamEnd.", options: &[], build };

fn build(def: &'static FilterDef, _: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || Dummy))
}

/// The `dummy` filter.
pub struct Dummy;

impl Filter for Dummy {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if ev.is_stream_end() {
            cx.output(ev);
        }
    }
}
