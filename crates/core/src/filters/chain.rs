//! `chain([files])` and `chain()`: plugin chains. `chain(['a.js', 'b.js'])` runs the
//! entrance pipeline (`pipeline()` without a name) of `a.js`, sharing this stream's
//! context; inside it, `chain()` runs the entrance of `b.js`, and a `chain()` past
//! the last module passes events straight through. What the chained pipeline
//! outputs is this filter's output. The place in the chain is kept by each pipeline
//! instance and inherited by its sub-pipelines, so `chain()` works from inside a
//! `branch` too. Events of every kind go to the chained pipeline as they come.

use crate::args::{ArgError, ArgResult, Args};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{ChainLink, Cx, Filter, FilterSpec, Pipeline};
use std::cell::OnceCell;
use std::rc::Rc;

/// `chain` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "chain",
    params: "modules?: string[]",
    doc: "Runs the entrance pipelines of a list of modules as a plugin chain; chain() runs the next one.",
    options: &[],
    build,
};

fn build(_: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    if args.is_nullish(0) {
        return Ok(FilterSpec::plain("chain", || Chain { start: Start::Next, state: State::Waiting }));
    }
    let files = args.strings(0)?.ok_or_else(|| ArgError("chain: expects an array of module file names".into()))?;
    let slots = files.iter().map(|f| args.module_layout(f, None, true)).collect::<ArgResult<Vec<_>>>()?;
    // The links are made once, at the first instance: the slots are resolved by then.
    let links: OnceCell<Option<Rc<ChainLink>>> = OnceCell::new();
    Ok(FilterSpec::with_subs("chain", slots, move |subs| {
        let first = links.get_or_init(|| ChainLink::of(subs)).clone();
        Chain { start: Start::First(first), state: State::Waiting }
    }))
}

enum Start {
    /// `chain([files])`: the first module of the list.
    First(Option<Rc<ChainLink>>),
    /// `chain()`: the module after the one running this pipeline.
    Next,
}

enum State {
    Waiting,
    Running(Pipeline),
    PassThrough,
}

/// The `chain` filter.
pub struct Chain {
    start: Start,
    state: State,
}

impl Filter for Chain {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if let State::Waiting = self.state {
            let link = match &self.start {
                Start::First(first) => first.clone(),
                Start::Next => cx.chain().cloned(),
            };
            self.state = match link {
                Some(l) => State::Running(cx.sub_pipeline_in_chain(&l.layout, cx.context().clone(), 0, l.next.clone())),
                None => State::PassThrough,
            };
        }
        match &self.state {
            State::Running(p) => p.input(ev),
            _ => cx.output(ev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::replace;
    use crate::testing::{define_module_pipeline, spec, Harness, TestArg};
    use crate::PipelineLayout;

    fn plugin(file: &str, tag: &'static str, then_chain: bool) {
        let mut filters = vec![spec(
            &replace::DATA,
            vec![TestArg::Callback(Rc::new(move |_: &crate::Context, arg: crate::Arg<'_>, _| {
                let crate::Arg::Event(Event::Data(d)) = arg else { return Ok(crate::Returned::Nothing) };
                let text = format!("{}{tag}", String::from_utf8_lossy(&d.to_vec()));
                Ok(crate::Returned::Events(vec![Event::Data(text.into())]))
            }))],
        )];
        if then_chain {
            filters.push(spec(&DEF, vec![]));
        }
        define_module_pipeline(file, None, PipelineLayout::new(file, filters).into_slot());
    }

    #[test]
    fn modules_run_in_order_and_the_last_chain_passes_through() {
        plugin("a.js", "a", true);
        plugin("b.js", "b", true);
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Strings(vec!["a.js".into(), "b.js".into()])])]);
        h.input(Event::Data("x".into()));
        assert_eq!(h.out.text(), "xab");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_module_that_does_not_chain_ends_the_chain() {
        plugin("c.js", "c", false);
        plugin("d.js", "d", true);
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Strings(vec!["c.js".into(), "d.js".into()])])]);
        h.input(Event::Data("x".into()));
        assert_eq!(h.out.text(), "xc");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn chain_outside_a_chain_passes_through() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        h.input(Event::Data("x".into()));
        assert_eq!(h.out.text(), "x");
        h.input(Event::end());
        h.finish();
    }
}
