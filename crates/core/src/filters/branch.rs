//! `branch(cond1, pipeline1, cond2, pipeline2, ..., [fallback])`: at the first event,
//! picks the first pipeline whose condition is true and runs it (sharing the context);
//! every event goes to it and its output is this filter's output. A condition that is
//! not a function is decided once, at load time. When nothing matches and there is no
//! fallback, events pass through unchanged.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, StreamError};
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// A branch condition.
#[derive(Clone)]
enum Cond {
    Static(bool),
    Dynamic(Rc<dyn Callback>),
}

/// Builds `branch(...)`.
pub fn build(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let n = args.len();
    if n < 2 {
        return Err(ArgError("branch: expects condition, pipeline pairs".into()));
    }
    let mut conds = Vec::new();
    let mut slots = Vec::new();
    let mut i = 0;
    while i + 1 < n {
        let cond = match args.callback(i)? {
            Some(cb) => Cond::Dynamic(cb),
            None => Cond::Static(args.truthy(i)),
        };
        conds.push(cond);
        slots.push(args.layout(i + 1)?);
        i += 2;
    }
    let has_fallback = i < n;
    if has_fallback {
        slots.push(args.layout(i)?);
    }
    let conds: Rc<[Cond]> = conds.into();
    Ok(FilterSpec::with_subs("branch", slots, move |subs| Branch {
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

impl Branch {
    fn choose(&self, cx: &mut Cx<'_>) -> Result<Option<usize>, ()> {
        for (i, cond) in self.conds.iter().enumerate() {
            let yes = match cond {
                Cond::Static(b) => *b,
                Cond::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Bool) {
                    Ok(Returned::Bool(b)) => b,
                    Ok(_) => false,
                    Err(err) => {
                        report_script_error(&err, "branch");
                        return Err(());
                    }
                },
            };
            if yes {
                return Ok(Some(i));
            }
        }
        Ok(self.has_fallback.then_some(self.conds.len()))
    }
}

impl Filter for Branch {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.chosen.is_none() {
            let chosen = match self.choose(cx) {
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
        layout(vec![spec(
            |a| replace::build(a, replace::ReplaceKind::StreamStart),
            vec![TestArg::Events(Message::new(Head::None, text).into_events())],
        )])
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
                build,
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
        let h = Harness::new(vec![spec(build, vec![cond(false), TestArg::Layout(answer("no"))])]);
        h.send("through");
        assert_eq!(h.out.text(), "through");
        h.finish();
        let h = Harness::new(vec![spec(
            build,
            vec![TestArg::Bool(true), TestArg::Layout(layout(vec![spec(dummy::build, vec![])]))],
        )]);
        h.send("swallowed");
        h.input(Event::end());
        assert_eq!(h.out.text(), "");
        assert!(h.out.ended());
        h.finish();
    }
}
