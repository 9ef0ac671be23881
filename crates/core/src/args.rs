//! How a filter reads the arguments a script passed to it. The script host implements
//! `Args`; each filter's `build` function reads what it needs, so the glue between the
//! script API and the filters is one generic function, not one unpacker per filter.

use crate::callback::Callback;
use crate::event::Event;
use crate::pipeline::LayoutSlot;
use std::rc::Rc;
use std::time::Duration;

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
pub enum OptValue {
    /// A number.
    Number(f64),
    /// A string.
    Str(String),
    /// A boolean.
    Bool(bool),
    /// A function.
    Callback(Rc<dyn Callback>),
    /// Anything else (objects, arrays).
    Other,
}

/// An options object (`{ maxHeaderSize: '16k', ... }`).
pub trait Options {
    /// The value of `name`, or `None` if absent, null or undefined.
    fn get(&self, name: &str) -> Option<OptValue>;
}

/// An empty options object.
pub struct NoOptions;

impl Options for NoOptions {
    fn get(&self, _: &str) -> Option<OptValue> {
        None
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

/// Reads typed options with errors that name the filter and the field.
pub struct OptionReader<'a> {
    filter: &'static str,
    opts: &'a dyn Options,
}

impl<'a> OptionReader<'a> {
    /// Reads options of `filter`.
    pub fn new(filter: &'static str, opts: &'a dyn Options) -> Self {
        OptionReader { filter, opts }
    }

    fn bad(&self, name: &str, want: &str) -> ArgError {
        ArgError(format!("{}: option '{}' must be {}", self.filter, name, want))
    }

    /// A byte size: a number, or a string like `16k`, `1m`.
    pub fn size(&self, name: &str) -> ArgResult<Option<usize>> {
        match self.opts.get(name) {
            None => Ok(None),
            Some(OptValue::Number(n)) if n >= 0.0 => Ok(Some(n as usize)),
            Some(OptValue::Str(s)) => parse_size(&s).map(Some).ok_or_else(|| self.bad(name, "a size like 16k or 1m")),
            Some(_) => Err(self.bad(name, "a size like 16k or 1m")),
        }
    }

    /// A duration: seconds as a number, or a string like `10s`, `5m`, `100ms`.
    pub fn duration(&self, name: &str) -> ArgResult<Option<Duration>> {
        match self.opts.get(name) {
            None => Ok(None),
            Some(OptValue::Number(n)) if n >= 0.0 => {
                Duration::try_from_secs_f64(n).map(Some).map_err(|_| self.bad(name, "a duration like 10s"))
            }
            Some(OptValue::Str(s)) => parse_duration(&s).map(Some).ok_or_else(|| self.bad(name, "a duration like 10s")),
            Some(_) => Err(self.bad(name, "a duration like 10s")),
        }
    }

    /// A whole number (negative allowed).
    pub fn int(&self, name: &str) -> ArgResult<Option<i64>> {
        match self.opts.get(name) {
            None => Ok(None),
            Some(OptValue::Number(n)) if n.fract() == 0.0 => Ok(Some(n as i64)),
            Some(_) => Err(self.bad(name, "a whole number")),
        }
    }

    /// A boolean.
    pub fn bool(&self, name: &str) -> ArgResult<Option<bool>> {
        match self.opts.get(name) {
            None => Ok(None),
            Some(OptValue::Bool(b)) => Ok(Some(b)),
            Some(_) => Err(self.bad(name, "true or false")),
        }
    }

    /// A string.
    pub fn string(&self, name: &str) -> ArgResult<Option<String>> {
        match self.opts.get(name) {
            None => Ok(None),
            Some(OptValue::Str(s)) => Ok(Some(s)),
            Some(_) => Err(self.bad(name, "a string")),
        }
    }
}

/// Parses `16k`, `1.5m`, `2g`, `100` (bytes; k/m/g/t are powers of 1024).
pub fn parse_size(s: &str) -> Option<usize> {
    let s = s.trim().to_ascii_lowercase();
    let s = s.strip_suffix('b').unwrap_or(&s);
    let (num, mul) = match s.chars().last()? {
        'k' => (&s[..s.len() - 1], 1u64 << 10),
        'm' => (&s[..s.len() - 1], 1 << 20),
        'g' => (&s[..s.len() - 1], 1 << 30),
        't' => (&s[..s.len() - 1], 1 << 40),
        _ => (s, 1),
    };
    let n: f64 = num.trim().parse().ok()?;
    (n >= 0.0 && n.is_finite()).then_some((n * mul as f64) as usize)
}

/// Parses `10`, `10s`, `5m`, `2h`, `1d`, and (unlike Pipy, where it means minutes) `100ms`.
pub fn parse_duration(s: &str) -> Option<Duration> {
    let s = s.trim().to_ascii_lowercase();
    let (num, secs) = if let Some(n) = s.strip_suffix("ms") {
        (n, 0.001)
    } else {
        match s.chars().last()? {
            's' => (&s[..s.len() - 1], 1.0),
            'm' => (&s[..s.len() - 1], 60.0),
            'h' => (&s[..s.len() - 1], 3600.0),
            'd' => (&s[..s.len() - 1], 86400.0),
            _ => (s.as_str(), 1.0),
        }
    };
    let n: f64 = num.trim().parse().ok()?;
    if n < 0.0 {
        return None;
    }
    Duration::try_from_secs_f64(n * secs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16k"), Some(16384));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1k"), None);
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("10s"), Some(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("100ms"), Some(Duration::from_millis(100)));
        assert_eq!(parse_duration("1.5"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("soon"), None);
        assert_eq!(parse_duration("1e300s"), None, "too long to be a Duration");
        assert_eq!(parse_duration("inf"), None);
    }
}
