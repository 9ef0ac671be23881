//! The one door through which filters run user code. The script host implements
//! `Callback`; tests implement it with plain closures.

use crate::context::Context;
use crate::event::{Event, Message};
use crate::pipeline::FilterHandle;
use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;

/// A script error: what went wrong and where.
#[derive(Debug, Clone, PartialEq)]
pub struct ScriptError {
    /// The message, e.g. `TypeError: x is not a function`.
    pub message: String,
    /// `file:line:col` of the failing code, when known.
    pub location: Option<String>,
    /// The script's stack trace, when known.
    pub stack: Option<String>,
}

impl ScriptError {
    /// An error with only a message.
    pub fn new(message: impl Into<String>) -> Self {
        ScriptError { message: message.into(), location: None, stack: None }
    }
}

impl fmt::Display for ScriptError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(loc) = &self.location {
            write!(f, "{loc}: ")?;
        }
        f.write_str(&self.message)?;
        if let Some(stack) = &self.stack {
            let stack = stack.trim_end();
            if !stack.is_empty() {
                write!(f, "\n{stack}")?;
            }
        }
        Ok(())
    }
}

impl std::error::Error for ScriptError {}

/// A script value kept for later (a `fork` value handed to a sub-pipeline's
/// `onStart`). Opaque here: only the script host knows what is inside.
pub type ScriptValue = Rc<dyn std::any::Any>;

/// What a callback is given.
// Lives on the stack for one call; boxing the message would cost an allocation per call.
#[allow(clippy::large_enum_variant)]
pub enum Arg<'a> {
    /// Nothing.
    None,
    /// One event; changes the script makes to a head are written back.
    Event(&'a mut Event),
    /// A whole message.
    Message(Message),
    /// A script value.
    Value(&'a ScriptValue),
    /// Script values, one argument each.
    Values(&'a [ScriptValue]),
    /// The stream's client connection (what a port pipeline's `onStart` gets).
    Inbound,
    /// Plain values, one per argument (a server name; `ok` and a certificate).
    Plain(&'a [Plain]),
}

/// A plain value a filter hands to a script: the host makes a script value of it.
#[derive(Debug, Clone)]
pub enum Plain {
    /// `undefined`.
    Undefined,
    /// A boolean.
    Bool(bool),
    /// A number.
    Number(f64),
    /// A string.
    Str(String),
    /// An array.
    List(Vec<Plain>),
    /// An object with these fields.
    Object(Vec<(&'static str, Plain)>),
    /// A native value the host has a class for (a certificate becomes a
    /// `crypto.Certificate`).
    Native(ScriptValue),
}

/// How the filter wants the callback's return value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// Ignore it, unless it is a Promise (then wait for it).
    Nothing,
    /// Events: an Event, a Message, an array of them, or nothing.
    Events,
    /// Events as `Events`, but only from objects: a string or a number
    /// returned is no event (what Pipy's `Message::output` takes; a callback
    /// whose last expression is an assignment returns the value assigned).
    EventObjects,
    /// Truthiness.
    Bool,
    /// A string, or nothing.
    Str,
    /// A grouping key: equal primitives give equal keys (as `Str`), objects
    /// compare by identity (as `Object`); nothing (null / undefined) gives
    /// `Str(None)`.
    Key,
    /// The length of an array (`Count(None)` for anything else).
    Count,
    /// Script values: an array's elements (`Values`), or any other value as it
    /// is (`Value`, `None` for null / undefined).
    Values,
    /// The native object behind a script object (a `Quota`), as `Native`.
    Native,
    /// A plain object's fields, as `Fields` (`None` for anything else).
    Fields,
    /// A number, as `Number` (`None` for anything that is not one).
    Number,
    /// Pipeline layouts: a `pipeline()` layout or an array of them, as
    /// `Layouts`; a string or number, as `Str` (a name to look up); nothing,
    /// as `Nothing`.
    Layouts,
}

/// What a callback returned, converted as the filter asked.
#[derive(Debug)]
pub enum Returned {
    /// Nothing to use.
    Nothing,
    /// Events to output.
    Events(Vec<Event>),
    /// A truth value.
    Bool(bool),
    /// A string (`None` for null/undefined).
    Str(Option<String>),
    /// The length of an array, if the value was one.
    Count(Option<usize>),
    /// The elements of a returned array.
    Values(Vec<ScriptValue>),
    /// A returned value that is not an array (`None`: null or undefined).
    Value(Option<ScriptValue>),
    /// The native object behind the returned value, if it has one.
    Native(Option<ScriptValue>),
    /// The fields of a returned plain object.
    Fields(Option<crate::args::Fields>),
    /// A returned number.
    Number(Option<f64>),
    /// A returned layout (`Want::Layouts`).
    Layout(crate::pipeline::LayoutSlot),
    /// A returned array of layouts, in order (`Want::Layouts`).
    Layouts(Vec<crate::pipeline::LayoutSlot>),
    /// An object as a key (`Want::Key`): its identity, and the object itself,
    /// which keeps the identity from being reused while it is held.
    Object(u64, ScriptValue),
    /// A Promise: the result comes later through `Pending`.
    Pending(Pending),
}

/// A function supplied by the script.
pub trait Callback {
    /// Calls it in `cx` with `arg`.
    fn call(&self, cx: &Context, arg: Arg<'_>, want: Want) -> Result<Returned, ScriptError>;

    /// Calls it in `cx` with no argument, for nothing it returns, now or, if the
    /// host is busy running script code, as soon as that returns (`onEnd`, called
    /// when a pipeline is dropped, which may happen anywhere). Errors are logged.
    fn call_soon(&self, cx: &Context) {
        if let Err(e) = self.call(cx, Arg::None, Want::Nothing) {
            tracing::error!("{}", e);
        }
    }
}

/// Plain closures are callbacks too (for tests and built-in behaviour).
impl<F> Callback for F
where
    F: Fn(&Context, Arg<'_>, Want) -> Result<Returned, ScriptError>,
{
    fn call(&self, cx: &Context, arg: Arg<'_>, want: Want) -> Result<Returned, ScriptError> {
        self(cx, arg, want)
    }
}

#[derive(Default)]
struct PendingState {
    result: Option<Result<Returned, ScriptError>>,
    waiter: Option<FilterHandle>,
    /// Runs when the result is delivered, for a waiter that is not a filter.
    then: Option<Box<dyn FnOnce()>>,
    /// Touched when the result is delivered: script state changed (see `Context::touched`).
    context: Option<Context>,
}

/// The result of a callback that returned a Promise, delivered later.
#[derive(Clone, Default)]
pub struct Pending(Rc<RefCell<PendingState>>);

impl Pending {
    /// A result not yet known.
    pub fn new() -> Self {
        Self::default()
    }

    /// A result not yet known, of script code running in `cx`.
    pub fn in_context(cx: &Context) -> Self {
        let p = Self::default();
        p.0.borrow_mut().context = Some(cx.clone());
        p
    }

    /// Asks for `waiter` to be woken when the result is known.
    pub fn wake_on_settle(&self, waiter: FilterHandle) {
        let settled = {
            let mut s = self.0.borrow_mut();
            s.waiter = Some(waiter.clone());
            s.result.is_some()
        };
        if settled {
            waiter.wake();
        }
    }

    /// Runs `f` when the result is known (at once if it is).
    pub fn on_settle(&self, f: impl FnOnce() + 'static) {
        {
            let mut s = self.0.borrow_mut();
            if s.result.is_none() {
                s.then = Some(Box::new(f));
                return;
            }
        }
        f();
    }

    /// Stores the result; the host calls `notify` once it is safe to run filters.
    pub fn settle(&self, result: Result<Returned, ScriptError>) {
        self.0.borrow_mut().result = Some(result);
    }

    /// Wakes the waiting filter, if any, and says script state changed.
    pub fn notify(&self) {
        let (waiter, then, context) = {
            let mut s = self.0.borrow_mut();
            (s.waiter.clone(), s.then.take(), s.context.clone())
        };
        if let Some(w) = waiter {
            w.wake();
        }
        if let Some(f) = then {
            f();
        }
        if let Some(c) = context {
            c.touched();
        }
    }

    /// Takes the result if it is known.
    pub fn take(&self) -> Option<Result<Returned, ScriptError>> {
        self.0.borrow_mut().result.take()
    }
}

impl fmt::Debug for Pending {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Pending")
    }
}
