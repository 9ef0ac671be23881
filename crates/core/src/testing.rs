//! Test helpers: `TestArgs` (`value_args`) builds filters from Rust values, and
//! `run` drives a layout and checks the filter contract on its output (StreamEnd
//! last and once, MessageStart / MessageEnd balanced, every pipeline released);
//! `Rng` makes randomised tests repeatable.

use crate::context::Context;
use crate::event::Event;
use crate::pipeline::{live_pipelines, FilterSpec, Pipeline, PipelineLayout, Sink};
pub use crate::value_args::{define_module_pipeline, ValueArg as TestArg, ValueArgs as TestArgs};
use std::cell::RefCell;
use std::rc::Rc;

/// Builds filter `def` with `TestArgs`, panicking on argument errors.
pub fn spec(def: &'static crate::filters::FilterDef, args: Vec<TestArg>) -> FilterSpec {
    (def.build)(def, &mut TestArgs(args)).unwrap_or_else(|e| panic!("building {}: {e}", def.name))
}

/// Output collected from a pipeline, checked against the filter contract.
#[derive(Default)]
pub struct Collector {
    events: RefCell<Vec<Event>>,
    violation: RefCell<Option<String>>,
}

impl Collector {
    pub(crate) fn push(&self, ev: Event) {
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

    /// All Data output so far, as bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut s = Vec::new();
        for ev in self.events.borrow().iter() {
            if let Event::Data(d) = ev {
                s.extend(d.to_vec());
            }
        }
        s
    }

    /// All Data output so far, as text.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
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

/// A small repeatable random source (xorshift) for randomised tests.
pub struct Rng(u64);

impl Rng {
    /// A source starting from `seed` (not zero).
    pub fn new(seed: u64) -> Self {
        Rng(seed.max(1))
    }

    /// A number below `n` (0 if `n` is 0).
    pub fn below(&mut self, n: usize) -> usize {
        let x = &mut self.0;
        *x ^= *x << 13;
        *x ^= *x >> 7;
        *x ^= *x << 17;
        (*x % n.max(1) as u64) as usize
    }

    /// `bytes` cut into pieces of random sizes, in order.
    pub fn pieces<'a>(&mut self, bytes: &'a [u8]) -> Vec<&'a [u8]> {
        let mut pieces = Vec::new();
        let mut at = 0;
        while at < bytes.len() {
            let n = 1 + self.below(bytes.len() - at);
            pieces.push(&bytes[at..at + n]);
            at += n;
        }
        pieces
    }
}
