//! How a filter reads the arguments a script passed to it. The script host implements
//! `Args`; each filter's `build` function reads what it needs, so the glue between the
//! script API and the filters is one generic function, not one unpacker per filter.

use crate::callback::Callback;
use crate::event::Event;
use crate::pipeline::LayoutSlot;
use std::rc::Rc;

/// A configure-time argument error, shown to the user with the script location.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArgError(pub String);

impl std::fmt::Display for ArgError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// Result of reading an argument.
pub type ArgResult<T> = Result<T, ArgError>;

/// A value that is either fixed at load time or computed per stream by a callback.
pub enum Param<T> {
    /// Fixed.
    Static(T),
    /// Computed by calling the script.
    Dynamic(Rc<dyn Callback>),
}

/// One option value from an options object.
#[derive(Clone)]
pub enum OptValue {
    /// A number.
    Number(f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A function.
    Callback(Rc<dyn Callback>),
    /// An array, element by element.
    List(Vec<OptValue>),
    /// A plain object (`certificate: { cert, key }`), field by field.
    Fields(Fields),
    /// An object of the script host's with a native value behind it (a
    /// `crypto.Certificate`, an `algo.Quota`).
    Native(crate::callback::ScriptValue),
    /// Anything else.
    Other,
}

impl OptValue {
    /// The string, if it is one.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            OptValue::Str(s) => Some(s),
            _ => None,
        }
    }

    /// The native value of type `T` behind it, if it has one.
    pub fn native<T: 'static>(&self) -> Option<Rc<T>> {
        match self {
            OptValue::Native(v) => v.clone().downcast::<T>().ok(),
            _ => None,
        }
    }
}

/// The fields of a plain script object, read once.
#[derive(Clone)]
pub struct Fields(pub Rc<dyn Options>);

impl Fields {
    /// The value of field `name`, or `None` if absent, null or undefined.
    pub fn get(&self, name: &str) -> Option<OptValue> {
        self.0.get(name)
    }
}

impl std::fmt::Debug for Fields {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_list().entries(self.0.names()).finish()
    }
}

/// An options object (`{ maxHeaderSize: '16k', ... }`).
pub trait Options {
    /// The value of `name`, or `None` if absent, null or undefined.
    fn get(&self, name: &str) -> Option<OptValue>;
    /// The names of the options given (null and undefined ones included).
    fn names(&self) -> Vec<String>;
}

/// An empty options object.
pub struct NoOptions;

impl Options for NoOptions {
    fn get(&self, _: &str) -> Option<OptValue> {
        None
    }
    fn names(&self) -> Vec<String> {
        Vec::new()
    }
}

/// The arguments of one filter call in a script.
pub trait Args {
    /// Number of arguments given.
    fn len(&self) -> usize;
    /// True when no arguments were given.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// True if argument `i` is missing, null or undefined.
    fn is_nullish(&self, i: usize) -> bool;
    /// True if argument `i` is a function.
    fn is_function(&self, i: usize) -> bool;
    /// True if argument `i` is a string.
    fn is_string(&self, i: usize) -> bool;
    /// True if argument `i` is a plain object (not a function or an array): an
    /// options object.
    fn is_object(&self, i: usize) -> bool;
    /// The length of argument `i` if it is an array.
    fn array_len(&self, i: usize) -> Option<usize>;
    /// Argument `i` converted to a boolean as JavaScript would.
    fn truthy(&mut self, i: usize) -> bool;
    /// Argument `i` as a callback, if it is a function.
    fn callback(&mut self, i: usize) -> ArgResult<Option<Rc<dyn Callback>>>;
    /// Argument `i` as events (an Event, a Message or an array of them).
    fn events(&mut self, i: usize) -> ArgResult<Vec<Event>>;
    /// Argument `i` as a string, if it is one (numbers are converted).
    fn string(&mut self, i: usize) -> ArgResult<Option<String>>;
    /// Argument `i` as a pipeline: a name, or a `$=>$...` builder function.
    fn layout(&mut self, i: usize) -> ArgResult<LayoutSlot>;
    /// Argument `i` as an options object (empty when missing).
    fn options(&mut self, i: usize) -> ArgResult<Box<dyn Options>>;
    /// Argument `i` as script values: an array's elements, any other value as the
    /// one element, `None` when missing, null or undefined.
    fn values(&mut self, i: usize) -> ArgResult<Option<Vec<crate::callback::ScriptValue>>>;
    /// The native object behind argument `i` (an `algo.Quota` gives a
    /// `crate::quota::Quota`), if it has one.
    fn native(&mut self, i: usize) -> ArgResult<Option<crate::callback::ScriptValue>>;
    /// Argument `i` as a list of strings: one string, or an array of strings.
    fn strings(&mut self, i: usize) -> ArgResult<Option<Vec<String>>>;
    /// A pipeline of the module in codebase file `file`: the one called `name`, or
    /// the module's entrance (`pipeline()` without a name) when `name` is `None`.
    /// The host loads the module if it has not yet. When `required`, a module
    /// without that pipeline fails the load; otherwise the slot stays empty.
    fn module_layout(&mut self, file: &str, name: Option<&str>, required: bool) -> ArgResult<LayoutSlot>;
    /// Argument `i` as pipeline layouts: an array of them (`None` when it is
    /// not an array).
    fn layouts(&mut self, i: usize) -> ArgResult<Option<Vec<LayoutSlot>>> {
        let _ = i;
        Err(ArgError("a list of pipelines is not taken here".into()))
    }
    /// Argument `i` as named pipeline layouts: an object whose values are
    /// layouts or `$=>$` builders (`None` when it is not such an object).
    fn layout_map(&mut self, i: usize) -> ArgResult<Option<Vec<(String, LayoutSlot)>>> {
        let _ = i;
        Err(ArgError("a map of pipelines is not taken here".into()))
    }
    /// Logs a warning about this filter call (a setting that works but is
    /// probably not what a user wants), where the script host can, with the
    /// call's `file:line:col`, once per process.
    fn warn(&mut self, message: &str) {
        tracing::warn!("{message}");
    }
}

impl<'a> dyn Args + 'a {
    /// Argument `i` as events or as a callback returning events.
    pub fn events_param(&mut self, i: usize) -> ArgResult<Param<Vec<Event>>> {
        if self.is_function(i) {
            Ok(Param::Dynamic(self.callback(i)?.expect("checked is_function")))
        } else {
            Ok(Param::Static(self.events(i)?))
        }
    }
}
