//! `pipe(target, [map], [args])`: runs a pipeline chosen per stream, Pipy's way
//! of building plugin chains in its newer API. At the first event it starts,
//! sharing this stream's context:
//!
//! - `pipe(layout)`: that layout, standing where this pipeline stands in a chain;
//! - `pipe([a, b, c])`: `a`, as the first of a chain: a `pipeNext()` inside `a`
//!   runs `b`, one in `b` runs `c`, one in `c` passes events on;
//! - `pipe(fn)`: what `fn(firstEvent)` returns: a layout, an array of them, a
//!   key into `map` (an object of layouts or `$=>$` builders), or nothing (then
//!   events pass straight through).
//!
//! `args` (an array, or a function of the first event returning a value or an
//! array) are what the started pipeline's `onStart` is called with, one
//! argument each; a chain's `pipeNext()` hands them on. What the started
//! pipeline outputs is this filter's output.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, ScriptValue, Want};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{ChainLink, Cx, Filter, FilterSpec, LayoutSlot, Pipeline, Placement, StartArg};
use std::cell::OnceCell;
use std::rc::Rc;

/// `pipe` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "pipe",
    params: "target: PipelineLayout | PipelineLayout[] | ((event: Event) => PipelineLayout | PipelineLayout[] | string | null), map?: { [key: string]: PipelineLayout | (($: Configuration) => any) }, args?: any[] | ((event: Event) => any)",
    doc: "Runs a pipeline (or a chain of them) chosen per stream, sharing its context.",
    options: &[],
    build,
};

/// What the pipeline to run is.
enum Target {
    /// Always this layout.
    One,
    /// This chain of layouts.
    Chain,
    /// What a function returns.
    Chosen(Rc<dyn Callback>),
}

/// What the started pipeline's `onStart` gets.
enum InitArgs {
    None,
    Fixed(Rc<[ScriptValue]>),
    Chosen(Rc<dyn Callback>),
}

/// What every instance of one `pipe` shares.
struct Shared {
    target: Target,
    /// How many of the subs are the target's (one layout, or the chain).
    fixed: usize,
    /// Names of the map's layouts, in the order of the subs after the fixed ones.
    names: Vec<String>,
    init: InitArgs,
    /// The chain, linked once the slots are resolved.
    links: OnceCell<Option<Rc<ChainLink>>>,
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let name = def.name;
    if args.is_nullish(0) {
        return Err(ArgError(format!("{name}: a pipeline, an array of pipelines or a function is required")));
    }
    let (target, mut subs) = if args.is_function(0) {
        (Target::Chosen(args.callback(0)?.expect("checked")), Vec::new())
    } else if let Some(chain) = args.layouts(0)? {
        (Target::Chain, chain)
    } else {
        (Target::One, vec![args.layout(0)?])
    };
    let fixed = subs.len();
    let mut at = 1;
    let mut names = Vec::new();
    if let Some(map) = args.layout_map(1)? {
        for (n, slot) in map {
            names.push(n);
            subs.push(slot);
        }
        at = 2;
    } else if args.is_nullish(1) && args.len() > 2 {
        at = 2; // pipe(target, null, args): no map.
    }
    let init = if args.is_nullish(at) {
        InitArgs::None
    } else if args.is_function(at) {
        InitArgs::Chosen(args.callback(at)?.expect("checked"))
    } else if args.array_len(at).is_some() {
        InitArgs::Fixed(args.values(at)?.unwrap_or_default().into())
    } else {
        return Err(ArgError(format!("{name}: argument {} must be an array or a function", at + 1)));
    };
    if args.len() > at + 1 {
        return Err(ArgError(format!("{name}: too many arguments")));
    }
    let shared = Rc::new(Shared { target, fixed, names, init, links: OnceCell::new() });
    Ok(FilterSpec::with_subs(name, subs, move |subs| Pipe {
        shared: shared.clone(),
        subs: subs.to_vec(),
        state: State::Waiting,
    }))
}

enum State {
    Waiting,
    Running(Pipeline),
    PassThrough,
    /// The choice failed and the stream was ended: the rest is dropped.
    Failed,
}

/// The `pipe` filter.
pub struct Pipe {
    shared: Rc<Shared>,
    subs: Vec<LayoutSlot>,
    state: State,
}

impl Pipe {
    /// Starts what the stream runs, given its first event.
    fn start(&mut self, ev: &mut Event, cx: &mut Cx<'_>) -> Result<Option<Pipeline>, String> {
        let shared = self.shared.clone();
        let args: Option<Rc<[ScriptValue]>> = match &shared.init {
            InitArgs::None => None,
            InitArgs::Fixed(v) => Some(v.clone()),
            InitArgs::Chosen(f) => match f.call(cx.context(), Arg::Event(ev), Want::Values) {
                Ok(Returned::Values(v)) => Some(v.into()),
                Ok(Returned::Value(Some(v))) => Some(vec![v].into()),
                Ok(_) => None,
                Err(e) => return Err(e.to_string()),
            },
        };
        // One layout stands where this pipeline stands; an array is a new chain.
        let one: LayoutSlot = match &shared.target {
            Target::One => self.subs[0].clone(),
            Target::Chain => {
                let first = shared.links.get_or_init(|| ChainLink::of(&self.subs[..shared.fixed])).clone();
                return Ok(first.map(|l| self.run_chain(&l, args, cx)));
            }
            Target::Chosen(f) => match f.call(cx.context(), Arg::Event(ev), Want::Layouts) {
                Ok(Returned::Layout(slot)) => slot,
                Ok(Returned::Layouts(slots)) => return Ok(ChainLink::of(&slots).map(|l| self.run_chain(&l, args, cx))),
                Ok(Returned::Str(Some(key))) => match shared.names.iter().position(|n| *n == key) {
                    Some(i) => self.subs[shared.fixed + i].clone(),
                    None => return Err(format!("no pipeline '{key}' in the map")),
                },
                Ok(Returned::Pending(_)) => {
                    return Err("the function returned a Promise; it must answer at once".into())
                }
                Ok(_) => return Ok(None),
                Err(e) => return Err(e.to_string()),
            },
        };
        let Some(layout) = one.get() else { return Ok(None) };
        let at = Placement {
            chain: cx.chain().cloned(),
            chain_args: cx.chain_args().cloned(),
            start: args.map(StartArg::Many),
        };
        Ok(Some(cx.sub_pipeline_placed(&layout, cx.context().clone(), 0, at)))
    }

    fn run_chain(&self, first: &Rc<ChainLink>, args: Option<Rc<[ScriptValue]>>, cx: &Cx<'_>) -> Pipeline {
        let at = Placement { chain: first.next.clone(), chain_args: args.clone(), start: args.map(StartArg::Many) };
        cx.sub_pipeline_placed(&first.layout, cx.context().clone(), 0, at)
    }
}

impl Filter for Pipe {
    fn on_event(&mut self, mut ev: Event, cx: &mut Cx<'_>) {
        if let State::Waiting = self.state {
            self.state = match self.start(&mut ev, cx) {
                Ok(Some(p)) => State::Running(p),
                Ok(None) => State::PassThrough,
                Err(why) => {
                    tracing::error!("pipe: {why}");
                    cx.output(Event::error(crate::event::StreamError::RuntimeError));
                    State::Failed
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::{pipe_next, replace};
    use crate::testing::{spec, Harness, TestArg};
    use crate::PipelineLayout;

    /// A layout that appends `tag` to each Data, then passes on with `pipeNext` if asked.
    fn plugin(tag: &'static str, next: bool) -> LayoutSlot {
        let mut filters = vec![spec(
            &replace::DATA,
            vec![TestArg::Callback(Rc::new(move |_: &crate::Context, arg: Arg<'_>, _| {
                let Arg::Event(Event::Data(d)) = arg else { return Ok(Returned::Nothing) };
                let text = format!("{}{tag}", String::from_utf8_lossy(&d.to_vec()));
                Ok(Returned::Events(vec![Event::Data(text.into())]))
            }))],
        )];
        if next {
            filters.push(spec(&pipe_next::DEF, vec![]));
        }
        PipelineLayout::new(tag, filters).into_slot()
    }

    #[test]
    fn a_chain_runs_in_order_and_its_last_pipe_next_passes_on() {
        let chain = vec![plugin("a", true), plugin("b", true), plugin("c", true)];
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Layouts(chain)])]);
        h.input(Event::Data("x".into()));
        assert_eq!(h.out.text(), "xabc");
        h.input(Event::end());
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn a_plugin_that_does_not_pipe_on_ends_the_chain() {
        let chain = vec![plugin("a", true), plugin("b", false), plugin("c", true)];
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Layouts(chain)])]);
        h.input(Event::Data("x".into()));
        assert_eq!(h.out.text(), "xab");
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_function_picks_a_layout_by_key_or_passes_through() {
        let pick = |key: Option<&'static str>| {
            TestArg::Callback(Rc::new(move |_: &crate::Context, _: Arg<'_>, want| {
                assert!(matches!(want, Want::Layouts));
                Ok(match key {
                    Some(k) => Returned::Str(Some(k.into())),
                    None => Returned::Nothing,
                })
            }))
        };
        let map = || TestArg::LayoutMap(vec![("x".into(), plugin("X", false)), ("y".into(), plugin("Y", false))]);
        let h = Harness::new(vec![spec(&DEF, vec![pick(Some("y")), map()])]);
        h.input(Event::Data("in".into()));
        assert_eq!(h.out.text(), "inY");
        h.input(Event::end());
        h.finish();
        let h = Harness::new(vec![spec(&DEF, vec![pick(None), map()])]);
        h.input(Event::Data("in".into()));
        assert_eq!(h.out.text(), "in");
        h.input(Event::end());
        h.finish();
        // A key not in the map ends the stream with an error.
        let h = Harness::new(vec![spec(&DEF, vec![pick(Some("z")), map()])]);
        h.input(Event::Data("in".into()));
        assert!(h.out.ended());
        h.finish();
    }
}
