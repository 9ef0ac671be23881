//! `branch(cond1, pipeline1, cond2, pipeline2, ..., [fallback])`: at the first event,
//! picks the first pipeline whose condition is true and runs it (sharing the context);
//! every event goes to it and its output is this filter's output. A condition that is
//! not a function is decided once, at load time. When nothing matches and there is no
//! fallback, events pass through unchanged.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, Message, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// A branch condition.
#[derive(Clone)]
pub(crate) enum Cond {
    /// Decided at load time.
    Static(bool),
    /// Called when the branch is chosen.
    Dynamic(Rc<dyn Callback>),
}

/// Reads `cond, pipeline, ..., [fallback]` as every branch filter takes them:
/// the conditions, the pipelines (the fallback last) and whether there is one.
pub(crate) fn parse_pairs(args: &mut dyn Args, name: &str) -> ArgResult<(Rc<[Cond]>, Vec<LayoutSlot>, bool)> {
    let n = args.len();
    if n < 2 {
        return Err(ArgError(format!("{name}: expects condition, pipeline pairs")));
    }
    let (mut conds, mut slots) = (Vec::new(), Vec::new());
    let mut i = 0;
    while i + 1 < n {
        conds.push(match args.callback(i)? {
            Some(cb) => Cond::Dynamic(cb),
            None => Cond::Static(args.truthy(i)),
        });
        slots.push(args.layout(i + 1)?);
        i += 2;
    }
    let fallback = i < n;
    if fallback {
        slots.push(args.layout(i)?);
    }
    Ok((conds.into(), slots, fallback))
}

/// What each condition is called with.
pub(crate) enum CondArg<'a> {
    /// Nothing.
    None,
    /// A MessageStart with this message's head.
    Start(&'a Message),
    /// The whole message.
    Message(&'a Message),
}

/// The index of the pipeline to run: the first true condition's, else the
/// fallback's, else `None`. `Err` when a condition threw (already logged).
pub(crate) fn choose(
    conds: &[Cond],
    fallback: bool,
    arg: CondArg<'_>,
    cx: &mut Cx<'_>,
    name: &str,
) -> Result<Option<usize>, ()> {
    for (i, cond) in conds.iter().enumerate() {
        let yes = match cond {
            Cond::Static(b) => *b,
            Cond::Dynamic(cb) => {
                let result = match &arg {
                    CondArg::None => cb.call(cx.context(), Arg::None, Want::Bool),
                    CondArg::Start(m) => {
                        let mut start = Event::start(m.head.clone());
                        cb.call(cx.context(), Arg::Event(&mut start), Want::Bool)
                    }
                    CondArg::Message(m) => cb.call(cx.context(), Arg::Message((*m).clone()), Want::Bool),
                };
                match result {
                    Ok(Returned::Bool(b)) => b,
                    Ok(_) => false,
                    Err(err) => {
                        report_script_error(&err, name);
                        return Err(());
                    }
                }
            }
        };
        if yes {
            return Ok(Some(i));
        }
    }
    Ok(fallback.then_some(conds.len()))
}

/// `branch` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "branch",
    params: "...conditionsAndPipelines: (boolean | ((...args: any[]) => boolean) | SubPipeline)[]",
    doc: "Runs the first pipeline whose condition holds, chosen at the stream's first event.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (conds, slots, has_fallback) = parse_pairs(args, def.name)?;
    Ok(FilterSpec::with_subs(def.name, slots, move |subs| Branch {
        conds: conds.clone(),
        slots: subs.to_vec(),
        has_fallback,
        chosen: None,
    }))
}

enum Chosen {
    Sub(Pipeline),
    PassThrough,
}

/// The `branch` filter.
pub struct Branch {
    conds: Rc<[Cond]>,
    slots: Vec<LayoutSlot>,
    has_fallback: bool,
    chosen: Option<Chosen>,
}

impl Filter for Branch {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.chosen.is_none() {
            let chosen = match choose(&self.conds, self.has_fallback, CondArg::None, cx, "branch") {
                Err(()) => return cx.output(Event::error(StreamError::RuntimeError)),
                Ok(None) => Chosen::PassThrough,
                Ok(Some(i)) => match cx.sub_pipeline(&self.slots[i], cx.context().clone(), 0) {
                    Some(p) => Chosen::Sub(p),
                    None => Chosen::PassThrough,
                },
            };
            self.chosen = Some(chosen);
        }
        match &self.chosen {
            Some(Chosen::Sub(p)) => p.input(ev),
            _ => cx.output(ev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::ScriptError;
    use crate::filters::{dummy, replace};
    use crate::head::Head;
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, FilterSpec, Message, PipelineLayout};

    fn layout(filters: Vec<FilterSpec>) -> LayoutSlot {
        PipelineLayout::new("sub", filters).into_slot()
    }

    fn answer(text: &'static str) -> LayoutSlot {
        layout(vec![spec(&replace::STREAM_START, vec![TestArg::Events(Message::new(Head::None, text).into_events())])])
    }

    fn cond(b: bool) -> TestArg {
        TestArg::Callback(Rc::new(move |_: &Context, _: Arg<'_>, _: Want| -> Result<Returned, ScriptError> {
            Ok(Returned::Bool(b))
        }))
    }

    #[test]
    fn the_first_true_condition_wins_and_the_fallback_catches_the_rest() {
        for (conds, want) in [((false, true), "second"), ((true, true), "first"), ((false, false), "fallback")] {
            let h = Harness::new(vec![spec(
                &DEF,
                vec![
                    cond(conds.0),
                    TestArg::Layout(answer("first")),
                    cond(conds.1),
                    TestArg::Layout(answer("second")),
                    TestArg::Layout(answer("fallback")),
                ],
            )]);
            h.send("x");
            assert_eq!(h.out.text(), want);
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn without_a_match_or_fallback_events_pass_and_static_conditions_work() {
        let h = Harness::new(vec![spec(&DEF, vec![cond(false), TestArg::Layout(answer("no"))])]);
        h.send("through");
        assert_eq!(h.out.text(), "through");
        h.finish();
        let h = Harness::new(vec![spec(
            &DEF,
            vec![TestArg::Bool(true), TestArg::Layout(layout(vec![spec(&dummy::DEF, vec![])]))],
        )]);
        h.send("swallowed");
        h.input(Event::end());
        assert_eq!(h.out.text(), "");
        assert!(h.out.ended());
        h.finish();
    }
}
