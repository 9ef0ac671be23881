//! `pipeNext([args])`: inside a pipeline that `pipe([a, b, ...])` started, runs
//! the next pipeline of the chain, sharing this stream's context; past the last
//! one (or outside a chain) events pass straight through. The next pipeline's
//! `onStart` gets what `pipe` was given, or `args` (an array, or a function of
//! the first event) when given here. What it outputs is this filter's output.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, ScriptValue, Want};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec, Pipeline, Placement, StartArg};
use std::rc::Rc;

/// `pipeNext` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "pipeNext",
    params: "args?: any[] | ((event: Event) => any)",
    doc: "Runs the next pipeline of the chain pipe() started, or passes events on past its end.",
    options: &[],
    build,
};

enum Args2 {
    Inherited,
    Fixed(Rc<[ScriptValue]>),
    Chosen(Rc<dyn Callback>),
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let given = if args.is_nullish(0) {
        Args2::Inherited
    } else if args.is_function(0) {
        Args2::Chosen(args.callback(0)?.expect("checked"))
    } else if args.array_len(0).is_some() {
        Args2::Fixed(args.values(0)?.unwrap_or_default().into())
    } else {
        return Err(ArgError(format!("{}: the arguments must be an array or a function", def.name)));
    };
    let given = Rc::new(given);
    Ok(FilterSpec::plain(def.name, move || PipeNext { given: given.clone(), state: State::Waiting }))
}

enum State {
    Waiting,
    Running(Pipeline),
    PassThrough,
    /// Its arguments failed and the stream was ended: the rest is dropped.
    Failed,
}

/// The `pipeNext` filter.
pub struct PipeNext {
    given: Rc<Args2>,
    state: State,
}

impl Filter for PipeNext {
    fn on_event(&mut self, mut ev: Event, cx: &mut Cx<'_>) {
        if let State::Waiting = self.state {
            self.state = match cx.chain().cloned() {
                None => State::PassThrough,
                Some(link) => {
                    let args = match &*self.given {
                        Args2::Inherited => cx.chain_args().cloned(),
                        Args2::Fixed(v) => Some(v.clone()),
                        Args2::Chosen(f) => match f.call(cx.context(), Arg::Event(&mut ev), Want::Values) {
                            Ok(Returned::Values(v)) => Some(v.into()),
                            Ok(Returned::Value(Some(v))) => Some(vec![v].into()),
                            Ok(_) => None,
                            Err(e) => {
                                cx.fail(&e, "pipeNext");
                                self.state = State::Failed;
                                return;
                            }
                        },
                    };
                    let at = Placement {
                        chain: link.next.clone(),
                        chain_args: args.clone(),
                        start: args.map(StartArg::Many),
                    };
                    State::Running(cx.sub_pipeline_placed(&link.layout, cx.context().clone(), 0, at))
                }
            };
        }
        match &self.state {
            State::Running(p) => p.input(ev),
            State::Failed => {}
            _ => cx.output(ev),
        }
    }
}
