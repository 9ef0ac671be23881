//! `branchMessageStart(cond1, pipeline1, ..., [fallback])` and
//! `branchMessage(...)`: like `branch`, but the choice waits for the first message:
//! each condition is called with its MessageStart (or, for `branchMessage`, the
//! whole message, body included). Events before the choice are held, then
//! replayed into the chosen pipeline, which gets every later event too (sharing the
//! context). With no match and no fallback, events pass through unchanged.

use super::branch::{choose, parse_pairs, Cond, CondArg};
use crate::args::{ArgResult, Args};
use crate::event::{Collected, Event, Message, MessageCollector, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// `branchMessageStart` as scripts see it.
pub const START: FilterDef = FilterDef {
    name: "branchMessageStart",
    params: "...conditionsAndPipelines: (boolean | ((head: MessageStart) => boolean) | SubPipeline)[]",
    doc: "Runs the first pipeline whose condition holds for the first MessageStart.",
    options: &[],
    build: |def, args| build(def, args, false),
};

/// `branchMessage` as scripts see it.
pub const MESSAGE: FilterDef = FilterDef {
    name: "branchMessage",
    params: "...conditionsAndPipelines: (boolean | ((message: Message) => boolean) | SubPipeline)[]",
    doc: "Runs the first pipeline whose condition holds for the first whole message.",
    options: &[],
    build: |def, args| build(def, args, true),
};

fn build(def: &'static FilterDef, args: &mut dyn Args, whole: bool) -> ArgResult<FilterSpec> {
    let name = def.name;
    let (conds, slots, fallback) = parse_pairs(args, name)?;
    Ok(FilterSpec::with_subs(name, slots, move |subs| BranchMessage {
        name,
        whole,
        conds: conds.clone(),
        slots: subs.to_vec(),
        fallback,
        collector: MessageCollector::new(Some(16 << 20)),
        held: Vec::new(),
        chosen: None,
    }))
}

enum Chosen {
    Sub(Pipeline),
    PassThrough,
}

/// The `branchMessageStart` / `branchMessage` filter.
pub struct BranchMessage {
    name: &'static str,
    whole: bool,
    conds: Rc<[Cond]>,
    slots: Vec<LayoutSlot>,
    fallback: bool,
    collector: MessageCollector,
    /// Events seen before the choice, replayed after it.
    held: Vec<Event>,
    chosen: Option<Chosen>,
}

impl BranchMessage {
    fn decide(&mut self, msg: &Message, cx: &mut Cx<'_>) {
        let arg = if self.whole { CondArg::Message(msg) } else { CondArg::Start(msg) };
        let chosen = match choose(&self.conds, self.fallback, arg, cx, self.name) {
            Err(()) => {
                self.chosen = Some(Chosen::PassThrough);
                self.held.clear();
                return cx.output(Event::error(StreamError::RuntimeError));
            }
            Ok(None) => Chosen::PassThrough,
            Ok(Some(i)) => match cx.sub_pipeline(&self.slots[i], cx.context().clone(), 0) {
                Some(p) => Chosen::Sub(p),
                None => Chosen::PassThrough,
            },
        };
        self.chosen = Some(chosen);
        for ev in std::mem::take(&mut self.held) {
            self.forward(ev, cx);
        }
    }

    fn forward(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match &self.chosen {
            Some(Chosen::Sub(p)) => p.input(ev),
            _ => cx.output(ev),
        }
    }
}

impl Filter for BranchMessage {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.chosen.is_some() {
            return self.forward(ev, cx);
        }
        self.held.push(ev.clone());
        let decided = if self.whole {
            match self.collector.feed(ev) {
                Collected::Message(m) => Some(m),
                Collected::Overflow => Some(Message::default()),
                Collected::Other(e) if e.is_stream_end() => Some(Message::default()),
                _ => None,
            }
        } else {
            match ev {
                Event::MessageStart(h) => Some(Message { head: *h, ..Default::default() }),
                e if e.is_stream_end() => Some(Message::default()),
                _ => None,
            }
        };
        if let Some(m) = decided {
            self.decide(&m, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::{Arg, Returned, Want};
    use crate::filters::replace;
    use crate::head::{Head, RequestHead};
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, PipelineLayout};

    fn answer(text: &'static str) -> LayoutSlot {
        PipelineLayout::new(
            "sub",
            vec![spec(&replace::MESSAGE, vec![TestArg::Events(Message::new(Head::None, text).into_events())])],
        )
        .into_slot()
    }

    #[test]
    fn chooses_by_the_first_message_head_and_replays_what_came_before() {
        let is_api = |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, crate::ScriptError> {
            let Arg::Event(Event::MessageStart(h)) = arg else { panic!("a MessageStart") };
            Ok(Returned::Bool(h.request().is_some_and(|r| r.path.starts_with("/api"))))
        };
        for (path, want) in [("/api/x", "api"), ("/other", "other")] {
            let h = Harness::new(vec![spec(
                &START,
                vec![
                    TestArg::Callback(Rc::new(is_api)),
                    TestArg::Layout(answer("api")),
                    TestArg::Layout(answer("other")),
                ],
            )]);
            let head = Head::Request(RequestHead { path: path.into(), ..Default::default() });
            for ev in Message::new(head, "body").into_events() {
                h.input(ev);
            }
            assert_eq!(h.out.text(), want);
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn branch_message_sees_the_body() {
        let has_body = |_: &Context, arg: Arg<'_>, _: Want| -> Result<Returned, crate::ScriptError> {
            let Arg::Message(m) = arg else { panic!("a Message") };
            Ok(Returned::Bool(m.body.len() == 4))
        };
        let h = Harness::new(vec![spec(
            &MESSAGE,
            vec![TestArg::Callback(Rc::new(has_body)), TestArg::Layout(answer("four"))],
        )]);
        h.input(Event::start(Head::None));
        h.send("ab");
        h.send("cd");
        h.input(Event::message_end());
        assert_eq!(h.out.text(), "four");
        h.finish();
    }
}
