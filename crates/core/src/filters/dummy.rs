//! `dummy()`: swallows Data and message events. StreamEnd still passes, so the
//! stream it sits in can finish.

use crate::args::{ArgResult, Args};
use crate::event::Event;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// Builds `dummy()`.
pub fn build(_: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain("dummy", || Dummy))
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
