//! Filter arguments made of Rust values instead of script values: for filters the
//! host builds itself (the pipeline behind `http.Agent`) and for tests.

use crate::args::{ArgError, ArgResult, Args, NoOptions, OptValue, Options};
use crate::callback::Callback;
use crate::event::Event;
use crate::pipeline::LayoutSlot;
use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;

/// One argument given to a filter.
pub enum ValueArg {
    /// Nothing (null / undefined), to give a later argument.
    Null,
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
    /// An options object with values of any kind (functions).
    OptionValues(Vec<(String, OptValue)>),
    /// A boolean.
    Bool(bool),
    /// An array of strings.
    Strings(Vec<String>),
    /// Script values (an array of them).
    Values(Vec<crate::callback::ScriptValue>),
    /// A native object (a `Quota`).
    Native(crate::callback::ScriptValue),
    /// An array of pipelines.
    Layouts(Vec<LayoutSlot>),
    /// An object of named pipelines.
    LayoutMap(Vec<(String, LayoutSlot)>),
}

thread_local! {
    static MODULES: RefCell<HashMap<(String, Option<String>), LayoutSlot>> = RefCell::default();
}

/// Makes `slot` the pipeline `name` (or the entrance, for `None`) of module `file`
/// for filters built with `ValueArgs` on this thread (tests).
pub fn define_module_pipeline(file: &str, name: Option<&str>, slot: LayoutSlot) {
    MODULES.with(|m| m.borrow_mut().insert((file.to_string(), name.map(String::from)), slot));
}

/// Filter arguments made of Rust values.
pub struct ValueArgs(pub Vec<ValueArg>);

struct MapOptions(HashMap<String, String>);

impl Options for MapOptions {
    fn get(&self, name: &str) -> Option<OptValue> {
        // Numbers given as text are numbers ("1"), anything else is text ("10s").
        self.0.get(name).map(|v| match v.parse::<f64>() {
            Ok(n) => OptValue::Number(n),
            Err(_) => OptValue::Str(v.clone()),
        })
    }
    fn names(&self) -> Vec<String> {
        self.0.keys().cloned().collect()
    }
}

struct ListOptions(Vec<(String, OptValue)>);

impl Options for ListOptions {
    fn get(&self, name: &str) -> Option<OptValue> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone())
    }
    fn names(&self) -> Vec<String> {
        self.0.iter().map(|(n, _)| n.clone()).collect()
    }
}

impl Args for ValueArgs {
    fn len(&self) -> usize {
        self.0.len()
    }
    fn is_nullish(&self, i: usize) -> bool {
        matches!(self.0.get(i), None | Some(ValueArg::Null))
    }
    fn is_function(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(ValueArg::Callback(_)))
    }
    fn is_string(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(ValueArg::Str(_)))
    }
    fn is_object(&self, i: usize) -> bool {
        matches!(self.0.get(i), Some(ValueArg::Options(_) | ValueArg::OptionValues(_) | ValueArg::LayoutMap(_)))
    }
    fn array_len(&self, i: usize) -> Option<usize> {
        match self.0.get(i) {
            Some(ValueArg::Events(e)) => Some(e.len()),
            Some(ValueArg::Strings(v)) => Some(v.len()),
            Some(ValueArg::Values(v)) => Some(v.len()),
            Some(ValueArg::Layouts(v)) => Some(v.len()),
            _ => None,
        }
    }
    fn truthy(&mut self, i: usize) -> bool {
        matches!(self.0.get(i), Some(ValueArg::Bool(true)))
    }
    fn callback(&mut self, i: usize) -> ArgResult<Option<Rc<dyn Callback>>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Callback(cb)) => Some(cb.clone()),
            _ => None,
        })
    }
    fn events(&mut self, i: usize) -> ArgResult<Vec<Event>> {
        match self.0.get(i) {
            Some(ValueArg::Events(e)) => Ok(e.clone()),
            None => Ok(Vec::new()),
            _ => Err(ArgError(format!("argument {i} is not events"))),
        }
    }
    fn string(&mut self, i: usize) -> ArgResult<Option<String>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Str(s)) => Some(s.clone()),
            _ => None,
        })
    }
    fn layout(&mut self, i: usize) -> ArgResult<LayoutSlot> {
        match self.0.get(i) {
            Some(ValueArg::Layout(l)) => Ok(l.clone()),
            _ => Err(ArgError(format!("argument {i} is not a pipeline"))),
        }
    }
    fn options(&mut self, i: usize) -> ArgResult<Box<dyn Options>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Options(m)) => Box::new(MapOptions(m.clone())),
            Some(ValueArg::OptionValues(v)) => Box::new(ListOptions(v.clone())),
            _ => Box::new(NoOptions),
        })
    }
    fn values(&mut self, i: usize) -> ArgResult<Option<Vec<crate::callback::ScriptValue>>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Values(v)) => Some(v.clone()),
            Some(ValueArg::Str(s)) => Some(vec![Rc::new(s.clone()) as crate::callback::ScriptValue]),
            _ => None,
        })
    }
    fn native(&mut self, i: usize) -> ArgResult<Option<crate::callback::ScriptValue>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Native(v)) => Some(v.clone()),
            _ => None,
        })
    }
    fn strings(&mut self, i: usize) -> ArgResult<Option<Vec<String>>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Str(s)) => Some(vec![s.clone()]),
            Some(ValueArg::Strings(v)) => Some(v.clone()),
            _ => None,
        })
    }
    fn layouts(&mut self, i: usize) -> ArgResult<Option<Vec<LayoutSlot>>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::Layouts(v)) => Some(v.clone()),
            _ => None,
        })
    }
    fn layout_map(&mut self, i: usize) -> ArgResult<Option<Vec<(String, LayoutSlot)>>> {
        Ok(match self.0.get(i) {
            Some(ValueArg::LayoutMap(v)) => Some(v.clone()),
            _ => None,
        })
    }
    fn module_layout(&mut self, file: &str, name: Option<&str>, required: bool) -> ArgResult<LayoutSlot> {
        let found = MODULES.with(|m| m.borrow().get(&(file.to_string(), name.map(String::from))).cloned());
        match found {
            Some(slot) => Ok(slot),
            None if required => Err(ArgError(format!("module {file} has no pipeline {name:?}"))),
            None => Ok(crate::pipeline::Slot::empty()),
        }
    }
}
