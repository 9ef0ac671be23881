//! `use(file, name)` and `use([files], name, nameDown?, turnDown?)`: pipelines of
//! other modules, sharing this stream's context.
//!
//! With one file, events run through that module's pipeline `name` and its output
//! is this filter's output. With a list, each module that has `name` is a stage:
//! the output of one stage is the input of the next. After the last stage, output
//! runs back through the `nameDown` pipelines in reverse order (modules without one
//! are skipped). `turnDown()`, called as a stage starts, can turn the stream back
//! there: that stage and the ones after it are skipped, and events go straight to
//! the `nameDown` pipelines of the stages before it. Events of every kind take
//! the same way, in order.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline, PipelineLayout};
use std::cell::OnceCell;
use std::rc::Rc;

/// `use` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "use",
    params: "modules: string | string[], pipeline: string, turnDown?: string | (() => boolean), turnDownCondition?: () => boolean",
    doc: "Runs a named pipeline of each of a list of modules in turn, and optionally a second one on the way back.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let usage = || ArgError("use: expects a module file (or an array of them) and a pipeline name".into());
    let single = args.is_string(0);
    let files = args.strings(0)?.ok_or_else(usage)?;
    let name = args.string(1)?.ok_or_else(usage)?;
    let (down, turn_down) =
        if args.is_function(2) { (None, args.callback(2)?) } else { (args.string(2)?, args.callback(3)?) };
    let mut slots = Vec::new();
    for file in &files {
        slots.push(args.module_layout(file, Some(&name), single)?);
        if let Some(down) = &down {
            slots.push(args.module_layout(file, Some(down), false)?);
        }
    }
    let has_down = down.is_some();
    let stages: OnceCell<Rc<[Stage]>> = OnceCell::new();
    Ok(FilterSpec::with_subs(def.name, slots, move |subs| {
        let stages = stages.get_or_init(|| resolve(subs, has_down)).clone();
        let running = (0..stages.len()).map(|_| Running::default()).collect();
        Use { stages, turn_down: turn_down.clone(), running, ended: false }
    }))
}

/// One module of the list, with the pipelines it has.
struct Stage {
    up: Option<Rc<PipelineLayout>>,
    down: Option<Rc<PipelineLayout>>,
}

/// The stages, leaving out modules that have neither pipeline.
fn resolve(subs: &[LayoutSlot], has_down: bool) -> Rc<[Stage]> {
    let per = if has_down { 2 } else { 1 };
    subs.chunks(per)
        .map(|c| Stage { up: c[0].get(), down: c.get(1).and_then(|s| s.get()) })
        .filter(|s| s.up.is_some() || s.down.is_some())
        .collect()
}

#[derive(Default)]
struct Running {
    started: bool,
    turned_down: bool,
    up: Option<Pipeline>,
    down: Option<Pipeline>,
}

/// The `use` filter.
pub struct Use {
    stages: Rc<[Stage]>,
    turn_down: Option<Rc<dyn Callback>>,
    running: Vec<Running>,
    ended: bool,
}

impl Use {
    /// Sends `ev` into stage `i` on the way up (past the last: back down).
    fn up(&mut self, mut i: usize, ev: Event, cx: &mut Cx<'_>) {
        loop {
            if i >= self.stages.len() {
                return self.down(self.stages.len(), ev, cx);
            }
            let stages = self.stages.clone();
            if let (Some(layout), false) = (&stages[i].up, self.running[i].started) {
                self.running[i].started = true;
                if let Some(cb) = &self.turn_down {
                    match cb.call(cx.context(), Arg::None, Want::Bool) {
                        Ok(Returned::Bool(true)) => self.running[i].turned_down = true,
                        Ok(_) => {}
                        Err(err) => {
                            report_script_error(&err, "use");
                            self.ended = true;
                            return cx.output(Event::error(StreamError::RuntimeError));
                        }
                    }
                }
                if !self.running[i].turned_down {
                    let p = cx.sub_pipeline_in_chain(layout, cx.context().clone(), 2 * i, cx.chain().cloned());
                    self.running[i].up = Some(p);
                }
            }
            if self.running[i].turned_down {
                return self.down(i, ev, cx);
            }
            if let Some(p) = &self.running[i].up {
                return p.clone().input(ev);
            }
            i += 1;
        }
    }

    /// Sends `ev` down through the stages before `i` (none left: out).
    fn down(&mut self, mut i: usize, ev: Event, cx: &mut Cx<'_>) {
        while i > 0 {
            i -= 1;
            if let Some(layout) = &self.stages[i].down {
                if self.running[i].down.is_none() {
                    let p = cx.sub_pipeline_in_chain(layout, cx.context().clone(), 2 * i + 1, cx.chain().cloned());
                    self.running[i].down = Some(p);
                }
                return self.running[i].down.clone().expect("just made").input(ev);
            }
        }
        cx.output(ev);
    }
}

impl Filter for Use {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if !self.ended {
            self.up(0, ev, cx);
        }
    }

    fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
        let i = tag / 2;
        if tag.is_multiple_of(2) {
            self.up(i + 1, ev, cx);
        } else {
            self.down(i, ev, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::replace;
    use crate::testing::{define_module_pipeline, spec, Harness, TestArg};

    /// A pipeline that appends `tag` to every Data event.
    fn appender(file: &str, name: &str, tag: &'static str) {
        let f = spec(
            &replace::DATA,
            vec![TestArg::Callback(Rc::new(move |_: &crate::Context, arg: Arg<'_>, _| {
                let Arg::Event(Event::Data(d)) = arg else { return Ok(Returned::Nothing) };
                let text = format!("{}{tag}", String::from_utf8_lossy(&d.to_vec()));
                Ok(Returned::Events(vec![Event::Data(text.into())]))
            }))],
        );
        define_module_pipeline(file, Some(name), PipelineLayout::new(name, vec![f]).into_slot());
    }

    fn run(args: Vec<TestArg>) -> String {
        let h = Harness::new(vec![spec(&DEF, args)]);
        h.input(Event::Data("x".into()));
        let out = h.out.text();
        h.input(Event::end());
        h.finish();
        out
    }

    fn files(names: &[&str]) -> TestArg {
        TestArg::Strings(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn one_module_runs_its_named_pipeline() {
        appender("one.js", "req", "1");
        assert_eq!(run(vec![TestArg::Str("one.js".into()), TestArg::Str("req".into())]), "x1");
        let missing = build(
            &DEF,
            &mut crate::testing::TestArgs(vec![TestArg::Str("none.js".into()), TestArg::Str("req".into())]),
        );
        assert!(missing.is_err());
    }

    #[test]
    fn stages_go_up_in_order_then_down_in_reverse_skipping_modules_without_them() {
        appender("p1.js", "req", "1");
        appender("p1.js", "resp", "A");
        appender("p2.js", "resp", "B");
        appender("p3.js", "req", "3");
        let args = vec![files(&["p1.js", "p2.js", "p3.js"]), TestArg::Str("req".into()), TestArg::Str("resp".into())];
        assert_eq!(run(args), "x13BA");
    }

    #[test]
    fn turn_down_skips_the_rest_and_goes_back_down() {
        appender("q1.js", "req", "1");
        appender("q1.js", "resp", "A");
        appender("q2.js", "req", "2");
        appender("q2.js", "resp", "B");
        let calls = Rc::new(std::cell::Cell::new(0));
        let c = calls.clone();
        let turn_down = TestArg::Callback(Rc::new(move |_: &crate::Context, _: Arg<'_>, _| {
            c.set(c.get() + 1);
            Ok(Returned::Bool(c.get() == 2))
        }));
        let args = vec![files(&["q1.js", "q2.js"]), TestArg::Str("req".into()), TestArg::Str("resp".into()), turn_down];
        assert_eq!(run(args), "x1A");
        assert_eq!(calls.get(), 2);
    }
}
