//! `branchMessageStart(cond1, pipeline1, ..., [fallback])` and
//! `branchMessage(...)`: like `branch`, but the choice waits for the first message:
//! each condition is called with its MessageStart (or, for `branchMessage`, the
//! whole message, body included). Events before the choice are held, then
//! replayed into the chosen pipeline, which gets every later event too (sharing the
//! context). With no match and no fallback, events pass through unchanged.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Collected, Event, Message, MessageCollector, StreamError};
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use std::rc::Rc;

/// Builds `branchMessageStart(...)`.
pub fn build_start(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    build(args, "branchMessageStart", false)
}

/// Builds `branchMessage(...)`.
pub fn build_message(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    build(args, "branchMessage", true)
}

/// A condition: a function of the message, or decided at load time.
#[derive(Clone)]
enum Cond {
    Static(bool),
    Dynamic(Rc<dyn Callback>),
}

fn build(args: &mut dyn Args, name: &'static str, whole: bool) -> ArgResult<FilterSpec> {
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
    let conds: Rc<[Cond]> = conds.into();
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
    /// Evaluates the conditions against `msg`; the index of the pipeline to run.
    fn choose(&self, msg: &Message, cx: &mut Cx<'_>) -> Result<Option<usize>, ()> {
        for (i, cond) in self.conds.iter().enumerate() {
            let yes = match cond {
                Cond::Static(b) => *b,
                Cond::Dynamic(cb) => {
                    let r = if self.whole {
                        cb.call(cx.context(), Arg::Message(msg.clone()), Want::Bool)
                    } else {
                        let mut start = Event::start(msg.head.clone());
                        cb.call(cx.context(), Arg::Event(&mut start), Want::Bool)
                    };
                    return_bool(r, self.name)?
                }
            };
            if yes {
                return Ok(Some(i));
            }
        }
        Ok(self.fallback.then_some(self.conds.len()))
    }

    fn decide(&mut self, msg: &Message, cx: &mut Cx<'_>) {
        let chosen = match self.choose(msg, cx) {
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

fn return_bool(r: Result<Returned, crate::callback::ScriptError>, name: &str) -> Result<bool, ()> {
    match r {
        Ok(Returned::Bool(b)) => Ok(b),
        Ok(_) => Ok(false),
        Err(err) => {
            report_script_error(&err, name);
            Err(())
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
    use crate::filters::replace;
    use crate::head::{Head, RequestHead};
    use crate::testing::{spec, Harness, TestArg};
    use crate::{Context, PipelineLayout};

    fn answer(text: &'static str) -> LayoutSlot {
        PipelineLayout::new(
            "sub",
            vec![spec(
                |a| replace::build(a, replace::ReplaceKind::Message),
                vec![TestArg::Events(Message::new(Head::None, text).into_events())],
            )],
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
                build_start,
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
            build_message,
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
