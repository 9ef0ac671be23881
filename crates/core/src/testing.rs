//! Test helpers: `TestArgs` builds filters from Rust values instead of a script, and
//! `run` drives a layout and checks the filter contract on its output (StreamEnd
//! last and once, MessageStart / MessageEnd balanced, every pipeline released).

use crate::args::{ArgError, ArgResult, Args, NoOptions, OptValue, Options};
use crate::callback::Callback;
use crate::context::Context;
use crate::event::Event;
use crate::pipeline::{live_pipelines, FilterSpec, LayoutSlot, Pipeline, PipelineLayout, Sink};
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// One argument given to a filter in a test.
pub enum TestArg {
    /// A callback.
    Callback(Rc<dyn Callback>),
    /// Events (an Event, a Message, ...).
    Events(Vec<Event>),
    /// A string.
    Str(String),
    /// A pipeline.
    Layout(LayoutSlot),
    /// An options object.
    Options(HashMap<String, String>),
    /// A boolean.
    Bool(bool),
    /// An array of strings.
    Strings(Vec<String>),
    /// Script values (an array of them).
    Values(Vec<crate::callback::ScriptValue>),
    /// A native object (a `Quota`).
    Native(crate::callback::ScriptValue),
}

thread_local! {
    static MODULES: RefCell<HashMap<(String, Option<String>), LayoutSlot>> = RefCell::default();
}

/// Makes `slot` the pipeline `name` (or the entrance, for `None`) of module `file`
/// for filters built with `TestArgs` on this thread.
pub fn define_module_pipeline(file: &str, name: Option<&str>, slot: LayoutSlot) {
    MODULES.with(|m| m.borrow_mut().insert((file.to_string(), name.map(String::from)), slot));
}

/// Filter arguments made of Rust values.
pub struct TestArgs(pub Vec<TestArg>);

struct MapOptions(HashMap<String, String>);

impl Options for MapOptions {
    fn get(&self, name: &str) -> Option<OptValue> {
        self.0.get(name).map(|v| OptValue::Str(v.clone()))
    }
}

impl Args for TestArgs {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_nullish(&self, i: usize) -> bool {
        self.0.get(i).is_none()
    }
    fn is_function(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(TestArg::Callback(_)))
    }
    fn is_string(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(TestArg::Str(_)))
    }
    fn array_len(&self, i: usize) -> Option<usize> {
        match self.0.get(i) {
            Some(TestArg::Events(e)) => Some(e.len()),
            Some(TestArg::Strings(v)) => Some(v.len()),
            Some(TestArg::Values(v)) => Some(v.len()),
            _ => None,
        }
    }
    fn truthy(&mut self, i: usize) -> bool {
        matches!(self.0.get(i), Some(TestArg::Bool(true)))
    }
    fn callback(&mut self, i: usize) -> ArgResult<Option<Rc<dyn Callback>>> {
        Ok(match self.0.get(i) {
            Some(TestArg::Callback(cb)) => Some(cb.clone()),
            _ => None,
        })
    }
    fn events(&mut self, i: usize) -> ArgResult<Vec<Event>> {
        match self.0.get(i) {
            Some(TestArg::Events(e)) => Ok(e.clone()),
            None => Ok(Vec::new()),
            _ => Err(ArgError(format!("argument {i} is not events"))),
        }
    }
    fn string(&mut self, i: usize) -> ArgResult<Option<String>> {
        Ok(match self.0.get(i) {
            Some(TestArg::Str(s)) => Some(s.clone()),
            _ => None,
        })
    }
    fn layout(&mut self, i: usize) -> ArgResult<LayoutSlot> {
        match self.0.get(i) {
            Some(TestArg::Layout(l)) => Ok(l.clone()),
            _ => Err(ArgError(format!("argument {i} is not a pipeline"))),
        }
    }
    fn options(&mut self, i: usize) -> ArgResult<Box<dyn Options>> {
        Ok(match self.0.get(i) {
            Some(TestArg::Options(m)) => Box::new(MapOptions(m.clone())),
            _ => Box::new(NoOptions),
        })
    }
    fn values(&mut self, i: usize) -> ArgResult<Option<Vec<crate::callback::ScriptValue>>> {
        Ok(match self.0.get(i) {
            Some(TestArg::Values(v)) => Some(v.clone()),
            Some(TestArg::Str(s)) => Some(vec![Rc::new(s.clone()) as crate::callback::ScriptValue]),
            _ => None,
        })
    }
    fn native(&mut self, i: usize) -> ArgResult<Option<crate::callback::ScriptValue>> {
        Ok(match self.0.get(i) {
            Some(TestArg::Native(v)) => Some(v.clone()),
            _ => None,
        })
    }
    fn strings(&mut self, i: usize) -> ArgResult<Option<Vec<String>>> {
        Ok(match self.0.get(i) {
            Some(TestArg::Str(s)) => Some(vec![s.clone()]),
            Some(TestArg::Strings(v)) => Some(v.clone()),
            _ => None,
        })
    }
    fn module_layout(&mut self, file: &str, name: Option<&str>, required: bool) -> ArgResult<LayoutSlot> {
        let found = MODULES.with(|m| m.borrow().get(&(file.to_string(), name.map(String::from))).cloned());
        match found {
            Some(slot) => Ok(slot),
            None if required => Err(ArgError(format!("module {file} has no pipeline {name:?}"))),
            None => Ok(Rc::new(std::cell::OnceCell::new())),
        }
    }
}

/// Builds a filter with `TestArgs`, panicking on argument errors.
pub fn spec(build: crate::filters::BuildFn, args: Vec<TestArg>) -> FilterSpec {
    build(&mut TestArgs(args)).unwrap_or_else(|e| panic!("building filter: {e}"))
}

/// Output collected from a pipeline, checked against the filter contract.
#[derive(Default)]
pub struct Collector {
    events: RefCell<Vec<Event>>,
    violation: RefCell<Option<String>>,
}

impl Collector {
    fn push(&self, ev: Event) {
        let mut events = self.events.borrow_mut();
        if events.last().is_some_and(|e| e.is_stream_end()) {
            *self.violation.borrow_mut() = Some(format!("{ev:?} after StreamEnd"));
        }
        let depth: i32 = events
            .iter()
            .map(|e| match e {
                Event::MessageStart(_) => 1,
                Event::MessageEnd(_) => -1,
                _ => 0,
            })
            .sum();
        match &ev {
            Event::MessageStart(_) if depth != 0 => *self.violation.borrow_mut() = Some("nested MessageStart".into()),
            Event::MessageEnd(_) if depth != 1 => {
                *self.violation.borrow_mut() = Some("MessageEnd without MessageStart".into())
            }
            _ => {}
        }
        events.push(ev);
    }

    /// Events output so far.
    pub fn events(&self) -> Vec<Event> {
        self.events.borrow().clone()
    }

    /// All Data output so far, as text.
    pub fn text(&self) -> String {
        let mut s = Vec::new();
        for ev in self.events.borrow().iter() {
            if let Event::Data(d) = ev {
                s.extend(d.to_vec());
            }
        }
        String::from_utf8_lossy(&s).into_owned()
    }

    /// True once a StreamEnd came out.
    pub fn ended(&self) -> bool {
        self.events.borrow().iter().any(|e| e.is_stream_end())
    }

    /// Panics if the output broke the filter contract.
    pub fn check(&self) {
        if let Some(v) = &*self.violation.borrow() {
            panic!("filter contract broken: {v}");
        }
    }
}

/// A pipeline under test with its collected output.
pub struct Harness {
    /// The pipeline.
    pub pipeline: Option<Pipeline>,
    /// Its output.
    pub out: Rc<Collector>,
    live_before: usize,
}

impl Harness {
    /// Starts a pipeline of `filters`.
    pub fn new(filters: Vec<FilterSpec>) -> Self {
        let live_before = live_pipelines();
        let layout = Rc::new(PipelineLayout::new("test", filters));
        let out = Rc::new(Collector::default());
        let o = out.clone();
        let pipeline = Pipeline::new(&layout, Context::new(None), Sink::Func(Box::new(move |ev| o.push(ev))));
        Harness { pipeline: Some(pipeline), out, live_before }
    }

    /// Feeds one event.
    pub fn input(&self, ev: Event) {
        self.pipeline.as_ref().expect("pipeline is running").input(ev);
    }

    /// Feeds bytes as one Data event.
    pub fn send(&self, bytes: &str) {
        self.input(Event::Data(bytes.to_string().into()));
    }

    /// Checks the contract, drops the pipeline and checks that everything was released.
    pub fn finish(mut self) -> Vec<Event> {
        self.out.check();
        self.pipeline = None;
        assert_eq!(live_pipelines(), self.live_before, "pipelines leaked");
        self.out.events()
    }
}
