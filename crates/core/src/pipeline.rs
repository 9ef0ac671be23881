//! Layouts and pipelines. A `PipelineLayout` is the immutable description a script
//! builds once (a list of filter specs); a `Pipeline` is one running instance of it,
//! with fresh filters and a `Context`.
//!
//! Events are pushed synchronously from filter to filter. Re-entrancy (a sub-pipeline
//! answering its parent while the parent is still busy handing it an event) is made
//! safe here, once: every filter sits in a node with a busy flag, and input that
//! arrives while the node is busy is queued and handled, in order, right after.

use crate::callback::ScriptError;
use crate::context::Context;
use crate::event::{Event, StreamError};
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::{Rc, Weak};

/// A filter instance: reacts to events and outputs events.
pub trait Filter {
    /// Called for every event from upstream.
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>);

    /// Called for every event a sub-pipeline of this filter outputs; `tag` is the
    /// value given when the sub-pipeline was made. Default: output it.
    fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
        let _ = tag;
        cx.output(ev);
    }

    /// Called after `FilterHandle::wake`, when asynchronous work has news. Default: nothing.
    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let _ = cx;
    }
}

/// Where a layout referenced by a filter is found once the whole script is loaded.
pub type LayoutSlot = Rc<Slot>;

/// A layout filled in when loading ends, and emptied when its program is retired
/// (see `program::Generation`): named pipelines may refer to each other, and an
/// emptied slot is what breaks such a cycle.
#[derive(Default)]
pub struct Slot(RefCell<Option<Rc<PipelineLayout>>>);

impl std::fmt::Debug for Slot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.get() {
            Some(l) => write!(f, "Slot({})", l.name),
            None => f.write_str("Slot(empty)"),
        }
    }
}

impl Slot {
    /// An empty slot.
    pub fn empty() -> LayoutSlot {
        Rc::new(Slot::default())
    }

    /// The layout, if the slot is filled.
    pub fn get(&self) -> Option<Rc<PipelineLayout>> {
        self.0.borrow().clone()
    }

    /// Fills the slot.
    pub fn set(&self, layout: Rc<PipelineLayout>) {
        *self.0.borrow_mut() = Some(layout);
    }

    /// Empties the slot.
    pub fn clear(&self) {
        let layout = self.0.borrow_mut().take();
        drop(layout);
    }
}

/// Makes a filter instance from its resolved sub-layout slots.
pub type MakeFilter = dyn Fn(&[LayoutSlot]) -> Box<dyn Filter>;

/// One filter of a layout: a name, a factory, and the sub-layouts it runs.
pub struct FilterSpec {
    /// The script name (`serveHTTP`).
    pub name: &'static str,
    /// True if the script must attach a sub-pipeline with `.to(...)`.
    pub joint: bool,
    /// Sub-layouts, in order.
    pub subs: Vec<LayoutSlot>,
    /// Builds an instance.
    pub make: Box<MakeFilter>,
}

impl FilterSpec {
    /// A filter without sub-pipelines.
    pub fn plain<F: Filter + 'static>(name: &'static str, make: impl Fn() -> F + 'static) -> Self {
        FilterSpec { name, joint: false, subs: Vec::new(), make: Box::new(move |_| Box::new(make())) }
    }

    /// A filter that runs the given sub-layouts.
    pub fn with_subs<F: Filter + 'static>(
        name: &'static str,
        subs: Vec<LayoutSlot>,
        make: impl Fn(&[LayoutSlot]) -> F + 'static,
    ) -> Self {
        FilterSpec { name, joint: false, subs, make: Box::new(move |s| Box::new(make(s))) }
    }
}

/// What a pipeline feeds itself when it starts.
pub enum OnStart {
    /// These events.
    Events(Vec<Event>),
    /// Whatever this callback returns (called with the context).
    Callback(Rc<dyn crate::callback::Callback>),
}

/// An immutable description of a pipeline.
pub struct PipelineLayout {
    /// Name for logs and graphs (`8080`, `hello`, `anonymous`).
    pub name: String,
    /// The filters, in order.
    pub filters: Vec<FilterSpec>,
    /// Input injected at start.
    pub on_start: Option<OnStart>,
    /// Called when a pipeline of this layout is gone (`onEnd`), in its context.
    pub on_end: Option<Rc<dyn crate::callback::Callback>>,
}

impl PipelineLayout {
    /// A layout with these filters.
    pub fn new(name: impl Into<String>, filters: Vec<FilterSpec>) -> Self {
        PipelineLayout { name: name.into(), filters, on_start: None, on_end: None }
    }

    /// A resolved slot holding this layout.
    pub fn into_slot(self) -> LayoutSlot {
        let slot = Slot::empty();
        slot.set(Rc::new(self));
        slot
    }

    /// A small text graph of the layout and its sub-layouts.
    pub fn graph(&self) -> String {
        let mut out = String::new();
        self.write_graph(&mut out, 0, &mut Vec::new());
        out
    }

    fn write_graph(&self, out: &mut String, depth: usize, seen: &mut Vec<*const PipelineLayout>) {
        let pad = "  ".repeat(depth);
        for f in &self.filters {
            out.push_str(&format!("{pad}-> {}\n", f.name));
            for s in &f.subs {
                if let Some(l) = s.get() {
                    let ptr = Rc::as_ptr(&l);
                    if seen.contains(&ptr) {
                        out.push_str(&format!("{pad}   => {} (again)\n", l.name));
                        continue;
                    }
                    out.push_str(&format!("{pad}   => {}\n", l.name));
                    seen.push(ptr);
                    l.write_graph(out, depth + 2, seen);
                    seen.pop();
                }
            }
        }
    }
}

thread_local! {
    static LIVE: Cell<usize> = const { Cell::new(0) };
}

/// How many pipelines exist on this thread (for leak checks in tests and metrics).
pub fn live_pipelines() -> usize {
    LIVE.with(|c| c.get())
}

/// Where a pipeline stands in a plugin chain: the module entrance a `chain()` with
/// no arguments runs next, and what follows it. Sub-pipelines inherit it.
pub struct ChainLink {
    /// The next module's entrance pipeline.
    pub layout: Rc<PipelineLayout>,
    /// What comes after it.
    pub next: Option<Rc<ChainLink>>,
}

impl ChainLink {
    /// The chain of the layouts in `slots`, first one first (unresolved slots left out).
    pub fn of(slots: &[LayoutSlot]) -> Option<Rc<ChainLink>> {
        slots.iter().rev().fold(None, |next, slot| match slot.get() {
            Some(layout) => Some(Rc::new(ChainLink { layout, next })),
            None => next,
        })
    }
}

/// Where a pipeline's output goes.
pub enum Sink {
    /// Nowhere.
    Discard,
    /// To a sub-pipeline's parent filter, as `on_sub_event(tag, ...)`.
    Parent { pipeline: Weak<PipelineInner>, index: usize, tag: usize },
    /// To a function (a socket writer, a test collector).
    Func(Box<dyn Fn(Event)>),
}

enum Input {
    Event(Event),
    Sub(usize, Event),
    Wake,
}

struct Node {
    filter: RefCell<Box<dyn Filter>>,
    busy: Cell<bool>,
    queue: RefCell<VecDeque<Input>>,
}

/// The shared part of a running pipeline.
pub struct PipelineInner {
    layout: Rc<PipelineLayout>,
    nodes: Vec<Node>,
    context: Context,
    sink: Sink,
    chain: Option<Rc<ChainLink>>,
    /// What `pipeNext` starts the next pipeline of the chain with (`pipe`'s arguments).
    chain_args: Option<Rc<[crate::callback::ScriptValue]>>,
    /// What `onStart` is called with.
    start_arg: Option<StartArg>,
    /// The Promise an `onStart` callback returned, until it settles.
    start_pending: RefCell<Option<crate::callback::Pending>>,
    input_ended: Cell<bool>,
    output_ended: Cell<bool>,
}

impl Drop for PipelineInner {
    fn drop(&mut self) {
        LIVE.with(|c| c.set(c.get() - 1));
        if let Some(on_end) = &self.layout.on_end {
            // The pipeline may go while script code runs: the host calls it then
            // or as soon as that code returns.
            on_end.call_soon(&self.context);
        }
    }
}

/// What a pipeline's `onStart` callback is called with.
#[derive(Clone)]
pub enum StartArg {
    /// One value (a `fork` value).
    One(crate::callback::ScriptValue),
    /// These values, one argument each (`pipe`'s arguments).
    Many(Rc<[crate::callback::ScriptValue]>),
}

/// Where a sub-pipeline stands in a plugin chain and what it starts with.
#[derive(Clone, Default)]
pub struct Placement {
    /// Its place in the chain.
    pub chain: Option<Rc<ChainLink>>,
    /// What `pipeNext` inside it passes on.
    pub chain_args: Option<Rc<[crate::callback::ScriptValue]>>,
    /// What its `onStart` gets.
    pub start: Option<StartArg>,
}

/// A running pipeline; dropping its last handle drops its filters and their
/// sub-pipelines. A clone is another handle to the same pipeline (taken to keep it
/// alive while feeding it from state that may let go of it meanwhile).
#[derive(Clone)]
pub struct Pipeline(Rc<PipelineInner>);

impl Pipeline {
    /// Instantiates `layout` with `context`, sending output to `sink`, and feeds it
    /// the layout's `onStart` input.
    pub fn new(layout: &Rc<PipelineLayout>, context: Context, sink: Sink) -> Pipeline {
        Pipeline::in_chain(layout, context, sink, None)
    }

    /// Like `new`, for a pipeline standing at `chain` in a plugin chain.
    pub fn in_chain(
        layout: &Rc<PipelineLayout>,
        context: Context,
        sink: Sink,
        chain: Option<Rc<ChainLink>>,
    ) -> Pipeline {
        Pipeline::make(layout, context, sink, Placement { chain, ..Placement::default() })
    }

    fn make(layout: &Rc<PipelineLayout>, context: Context, sink: Sink, at: Placement) -> Pipeline {
        let Placement { chain, chain_args, start: start_arg } = at;
        let nodes = layout
            .filters
            .iter()
            .map(|spec| Node {
                filter: RefCell::new((spec.make)(&spec.subs)),
                busy: Cell::new(false),
                queue: RefCell::new(VecDeque::new()),
            })
            .collect();
        LIVE.with(|c| c.set(c.get() + 1));
        let p = Pipeline(Rc::new(PipelineInner {
            layout: layout.clone(),
            nodes,
            context,
            sink,
            chain,
            chain_args,
            start_arg,
            start_pending: RefCell::new(None),
            input_ended: Cell::new(false),
            output_ended: Cell::new(false),
        }));
        p.start();
        p
    }

    fn start(&self) {
        let Some(on_start) = &self.0.layout.on_start else { return };
        let events = match on_start {
            OnStart::Events(evs) => evs.clone(),
            OnStart::Callback(cb) => {
                let arg = match &self.0.start_arg {
                    Some(StartArg::One(v)) => crate::callback::Arg::Value(v),
                    Some(StartArg::Many(v)) => crate::callback::Arg::Values(v),
                    None if self.0.context.inbound().is_some() => crate::callback::Arg::Inbound,
                    None => crate::callback::Arg::None,
                };
                let result = cb.call(&self.0.context, arg, crate::callback::Want::Events);
                if let Ok(crate::callback::Returned::Pending(pending)) = &result {
                    // The events come when the Promise settles (see `resume_start`).
                    *self.0.start_pending.borrow_mut() = Some(pending.clone());
                    pending.wake_on_settle(FilterHandle { pipeline: Rc::downgrade(&self.0), index: START });
                    return;
                }
                start_events(result)
            }
        };
        for ev in events {
            self.input(ev);
        }
    }

    /// Feeds one event in. Nothing is taken after a `StreamEnd`.
    pub fn input(&self, ev: Event) {
        let inner = self.0.clone();
        if inner.input_ended.get() {
            return;
        }
        if ev.is_stream_end() {
            inner.input_ended.set(true);
        }
        deliver(&inner, 0, Input::Event(ev));
    }

    /// The pipeline's context.
    pub fn context(&self) -> &Context {
        &self.0.context
    }

    /// True once the pipeline has output its `StreamEnd`.
    pub fn output_ended(&self) -> bool {
        self.0.output_ended.get()
    }
}

/// The node index that stands for the pipeline's start, when `onStart` waits for a Promise.
const START: usize = usize::MAX;

/// The input an `onStart` callback's result gives.
fn start_events(result: Result<crate::callback::Returned, ScriptError>) -> Vec<Event> {
    match result {
        Ok(crate::callback::Returned::Events(evs)) => evs,
        Ok(_) => Vec::new(),
        Err(err) => {
            report_script_error(&err, "onStart");
            vec![Event::error(StreamError::RuntimeError)]
        }
    }
}

/// Feeds the pipeline what its `onStart` Promise resolved to.
fn resume_start(p: &Rc<PipelineInner>) {
    let Some(result) = p.start_pending.borrow().as_ref().and_then(|pending| pending.take()) else { return };
    p.start_pending.borrow_mut().take();
    let pipeline = Pipeline(p.clone());
    for ev in start_events(result) {
        pipeline.input(ev);
    }
}

/// Logs a script error the way every filter does.
pub fn report_script_error(err: &ScriptError, filter: &str) {
    tracing::error!("script error in {filter}: {err}");
}

/// How deeply event deliveries may nest on one thread: each filter hop and each
/// sub-pipeline adds one. Scripts reach it only by pipelines that run themselves
/// without end (`link` to the pipeline it is in); past it, the pipeline fails.
const MAX_DELIVERY_DEPTH: usize = 1000;

thread_local! {
    static DELIVERY_DEPTH: Cell<usize> = const { Cell::new(0) };
}

/// Counts one nested delivery while alive.
struct Nested;

impl Nested {
    fn enter() -> (Nested, usize) {
        (
            Nested,
            DELIVERY_DEPTH.with(|d| {
                d.set(d.get() + 1);
                d.get()
            }),
        )
    }
}

impl Drop for Nested {
    fn drop(&mut self) {
        DELIVERY_DEPTH.with(|d| d.set(d.get() - 1));
    }
}

fn deliver(p: &Rc<PipelineInner>, index: usize, input: Input) {
    let (_nested, depth) = Nested::enter();
    if depth > MAX_DELIVERY_DEPTH {
        if !p.output_ended.get() {
            tracing::error!(
                pipeline = %p.layout.name,
                "pipelines nest more than {MAX_DELIVERY_DEPTH} deep (one that runs itself without end?); the stream fails"
            );
        }
        emit(p, Event::error(StreamError::RuntimeError));
        return;
    }
    if index == START {
        if let Input::Wake = input {
            resume_start(p);
        }
        return;
    }
    let Some(node) = p.nodes.get(index) else {
        if let Input::Event(ev) | Input::Sub(_, ev) = input {
            emit(p, ev);
        }
        return;
    };
    if node.busy.get() {
        node.queue.borrow_mut().push_back(input);
        return;
    }
    node.busy.set(true);
    run(p, index, node, input);
    loop {
        let next = node.queue.borrow_mut().pop_front();
        match next {
            Some(input) => run(p, index, node, input),
            None => break,
        }
    }
    node.busy.set(false);
}

fn run(p: &Rc<PipelineInner>, index: usize, node: &Node, input: Input) {
    let mut filter = node.filter.borrow_mut();
    let mut cx = Cx { pipeline: p, index };
    match input {
        Input::Event(ev) => filter.on_event(ev, &mut cx),
        Input::Sub(tag, ev) => filter.on_sub_event(tag, ev, &mut cx),
        Input::Wake => filter.on_wake(&mut cx),
    }
}

fn emit(p: &Rc<PipelineInner>, ev: Event) {
    if p.output_ended.get() {
        return;
    }
    if ev.is_stream_end() {
        p.output_ended.set(true);
    }
    match &p.sink {
        Sink::Discard => {}
        Sink::Parent { pipeline, index, tag } => {
            if let Some(parent) = pipeline.upgrade() {
                deliver(&parent, *index, Input::Sub(*tag, ev));
            }
        }
        Sink::Func(f) => f(ev),
    }
}

/// What a filter can do while it handles an event.
pub struct Cx<'a> {
    pipeline: &'a Rc<PipelineInner>,
    index: usize,
}

impl Cx<'_> {
    /// Sends an event to the next filter (or out of the pipeline).
    pub fn output(&mut self, ev: Event) {
        deliver(self.pipeline, self.index + 1, Input::Event(ev));
    }

    /// The pipeline's context.
    pub fn context(&self) -> &Context {
        &self.pipeline.context
    }

    /// The name of the pipeline's layout (for logs).
    pub fn pipeline_name(&self) -> &str {
        &self.pipeline.layout.name
    }

    /// Starts a sub-pipeline whose output comes back to this filter's
    /// `on_sub_event(tag, ...)`. It stands where this pipeline stands in a plugin
    /// chain. Returns `None` if the slot was never resolved.
    pub fn sub_pipeline(&self, slot: &LayoutSlot, context: Context, tag: usize) -> Option<Pipeline> {
        let layout = slot.get()?;
        Some(self.sub_pipeline_in_chain(&layout, context, tag, self.pipeline.chain.clone()))
    }

    /// Starts a sub-pipeline of `layout` placed as `at` says (`pipe`, `pipeNext`).
    pub fn sub_pipeline_placed(
        &self,
        layout: &Rc<PipelineLayout>,
        context: Context,
        tag: usize,
        at: Placement,
    ) -> Pipeline {
        let sink = Sink::Parent { pipeline: Rc::downgrade(self.pipeline), index: self.index, tag };
        Pipeline::make(layout, context, sink, at)
    }

    /// What `pipeNext` in this pipeline passes on, if it was started by `pipe`.
    pub fn chain_args(&self) -> Option<&Rc<[crate::callback::ScriptValue]>> {
        self.pipeline.chain_args.as_ref()
    }

    /// Like `sub_pipeline`, for a layout at hand and a given place in a plugin chain.
    pub fn sub_pipeline_in_chain(
        &self,
        layout: &Rc<PipelineLayout>,
        context: Context,
        tag: usize,
        chain: Option<Rc<ChainLink>>,
    ) -> Pipeline {
        let sink = Sink::Parent { pipeline: Rc::downgrade(self.pipeline), index: self.index, tag };
        let chain_args = self.pipeline.chain_args.clone();
        Pipeline::make(layout, context, sink, Placement { chain, chain_args, start: None })
    }

    /// Like `sub_pipeline`, handing `value` to the layout's `onStart` callback.
    pub fn sub_pipeline_with_value(
        &self,
        slot: &LayoutSlot,
        context: Context,
        tag: usize,
        value: crate::callback::ScriptValue,
    ) -> Option<Pipeline> {
        let layout = slot.get()?;
        let sink = Sink::Parent { pipeline: Rc::downgrade(self.pipeline), index: self.index, tag };
        let at = Placement {
            chain: self.pipeline.chain.clone(),
            chain_args: self.pipeline.chain_args.clone(),
            start: Some(StartArg::One(value)),
        };
        Some(Pipeline::make(&layout, context, sink, at))
    }

    /// Where this pipeline stands in a plugin chain, if it is in one.
    pub fn chain(&self) -> Option<&Rc<ChainLink>> {
        self.pipeline.chain.as_ref()
    }

    /// A handle asynchronous work uses to wake this filter later.
    pub fn handle(&self) -> FilterHandle {
        FilterHandle { pipeline: Rc::downgrade(self.pipeline), index: self.index }
    }

    /// Logs a script error and ends the stream with `RuntimeError`.
    pub fn fail(&mut self, err: &ScriptError, filter: &str) {
        report_script_error(err, filter);
        self.output(Event::error(StreamError::RuntimeError));
    }
}

/// Events that reach a filter from outside its pipeline (a socket task, a shared
/// upstream session): whoever has them pushes them here and wakes the filter
/// through its `FilterHandle`, and the filter's `on_wake` outputs them, in order,
/// with `drain`.
#[derive(Default)]
pub struct Inbox(RefCell<VecDeque<Event>>);

impl Inbox {
    /// Queues `ev` for the filter.
    pub fn push(&self, ev: Event) {
        self.0.borrow_mut().push_back(ev);
    }

    /// Outputs every queued event, including ones queued while it runs.
    pub fn drain(&self, cx: &mut Cx<'_>) {
        loop {
            let next = self.0.borrow_mut().pop_front();
            match next {
                Some(ev) => cx.output(ev),
                None => return,
            }
        }
    }
}

/// Wakes a filter from asynchronous work; does nothing once the pipeline is gone.
#[derive(Clone)]
pub struct FilterHandle {
    pipeline: Weak<PipelineInner>,
    index: usize,
}

impl FilterHandle {
    /// Calls the filter's `on_wake`.
    pub fn wake(&self) {
        if let Some(p) = self.pipeline.upgrade() {
            deliver(&p, self.index, Input::Wake);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Data;

    /// Answers every Data event through a sub-pipeline that echoes synchronously:
    /// the answer arrives while this filter is still busy, which must not panic.
    struct Reflect {
        sub: LayoutSlot,
        child: Option<Pipeline>,
    }

    impl Filter for Reflect {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            if self.child.is_none() {
                self.child = cx.sub_pipeline(&self.sub, cx.context().clone(), 7);
            }
            let child = self.child.as_ref().unwrap();
            child.input(ev);
            cx.output(Event::Data(Data::from("after-input ")));
        }
        fn on_sub_event(&mut self, tag: usize, ev: Event, cx: &mut Cx<'_>) {
            assert_eq!(tag, 7);
            cx.output(ev);
        }
    }

    #[test]
    fn sub_pipeline_answers_during_input_are_queued_not_double_borrowed() {
        let sub = PipelineLayout::new("echo", vec![]).into_slot();
        let layout = Rc::new(PipelineLayout::new(
            "root",
            vec![FilterSpec::with_subs("reflect", vec![sub], |s| Reflect { sub: s[0].clone(), child: None })],
        ));
        let out = Rc::new(RefCell::new(Vec::new()));
        let o = out.clone();
        let p = Pipeline::new(&layout, Context::new(None), Sink::Func(Box::new(move |ev| o.borrow_mut().push(ev))));
        p.input(Event::Data(Data::from("x ")));
        let got: Vec<_> = out.borrow().iter().map(|e| format!("{e:?}")).collect();
        assert_eq!(got, vec![r#"Data(Data("after-input "))"#, r#"Data(Data("x "))"#]);
        drop(p);
        assert_eq!(live_pipelines(), 0);
    }

    /// Links to itself: every event goes one pipeline deeper, without end.
    struct Deeper {
        sub: LayoutSlot,
        child: Option<Pipeline>,
    }

    impl Filter for Deeper {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            if self.child.is_none() {
                self.child = cx.sub_pipeline(&self.sub, cx.context().clone(), 0);
            }
            if let Some(c) = &self.child {
                c.input(ev);
            }
        }
    }

    #[test]
    fn a_pipeline_running_itself_without_end_fails_instead_of_overflowing_the_stack() {
        // The recursion needs more stack than a test thread's default.
        let run = || {
            let slot = Slot::empty();
            let s2 = slot.clone();
            let layout = Rc::new(PipelineLayout::new(
                "loop",
                vec![FilterSpec::with_subs("deeper", vec![s2], |s| Deeper { sub: s[0].clone(), child: None })],
            ));
            slot.set(layout.clone());
            let out = Rc::new(RefCell::new(Vec::new()));
            let o = out.clone();
            let p = Pipeline::new(&layout, Context::new(None), Sink::Func(Box::new(move |ev| o.borrow_mut().push(ev))));
            p.input(Event::Data(Data::from("x")));
            drop(p);
            slot.clear();
            let got = format!("{:?}", out.borrow().as_slice());
            (got, live_pipelines())
        };
        let (got, live) = std::thread::Builder::new().stack_size(16 << 20).spawn(run).unwrap().join().unwrap();
        assert_eq!(got, "[StreamEnd(Some(RuntimeError))]");
        assert_eq!(live, 0);
    }

    #[test]
    fn nothing_passes_after_stream_end() {
        let layout = Rc::new(PipelineLayout::new("empty", vec![]));
        let out = Rc::new(RefCell::new(Vec::new()));
        let o = out.clone();
        let p = Pipeline::new(&layout, Context::new(None), Sink::Func(Box::new(move |ev| o.borrow_mut().push(ev))));
        p.input(Event::end());
        p.input(Event::Data(Data::from("late")));
        assert_eq!(out.borrow().len(), 1);
        assert!(p.output_ended());
    }
}
