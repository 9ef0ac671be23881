//! `link('name')`: runs a named pipeline inline. The sub-pipeline starts at the
//! first event, shares this stream's context, takes every event, and what it
//! outputs is this filter's output.

use crate::args::{ArgError, ArgResult, Args};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};

/// `link` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "link",
    params: "pipeline: SubPipeline",
    doc: "Runs a named pipeline inline, sharing the stream's context.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    if args.is_nullish(0) {
        return Err(ArgError(format!("{}: a pipeline name is required", def.name)));
    }
    let slot = args.layout(0)?;
    Ok(FilterSpec::with_subs(def.name, vec![slot], |subs| Link { slot: subs[0].clone(), sub: None }))
}

/// The `link` filter.
pub struct Link {
    slot: LayoutSlot,
    sub: Option<Pipeline>,
}

impl Filter for Link {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.sub.is_none() {
            match cx.sub_pipeline(&self.slot, cx.context().clone(), 0) {
                Some(p) => self.sub = Some(p),
                None => return cx.output(ev),
            }
        }
        if let Some(sub) = &self.sub {
            sub.input(ev);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::serve_http;
    use crate::head::Head;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Message, PipelineLayout};

    #[test]
    fn linked_pipeline_runs_inline_and_shares_the_stream() {
        let sub = PipelineLayout::new(
            "hello",
            vec![spec(&serve_http::DEF, vec![TestArg::Events(Message::new(Head::None, "hi").into_events())])],
        )
        .into_slot();
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Layout(sub)])]);
        h.send("GET / HTTP/1.1\r\nhost: x\r\n\r\n");
        assert_eq!(h.out.text(), "HTTP/1.1 200 OK\r\ncontent-length: 2\r\nconnection: keep-alive\r\n\r\nhi");
        h.input(Event::end());
        assert!(h.out.ended());
        h.finish();
    }
}
