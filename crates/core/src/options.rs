//! Filter options declared once. A filter lists its options as `OptionDef`s (name,
//! accepted types, default, one-line doc); `OptionReader` checks a script's options
//! object against that list before the filter reads a single field, so an unknown,
//! mistyped or unsupported option is a load error naming the filter and the option,
//! and the filter reads its fields (and their defaults) from the same list. The
//! reference pages and the editor types are generated from it too.

use crate::args::{ArgError, ArgResult, OptValue, Options};
use std::time::Duration;

/// A type an option's value may have.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ty {
    /// A byte size: a number, or a string like `16k`, `1m`.
    Size,
    /// A duration: seconds as a number, or a string like `10s`, `100ms`.
    Duration,
    /// A whole number.
    Int,
    /// Any number.
    Number,
    /// `true` or `false`.
    Bool,
    /// A string.
    Str,
    /// A function the filter calls.
    Function,
    /// An object.
    Object,
    /// An array.
    List,
}

impl Ty {
    /// How the reference says it.
    pub fn describe(self) -> &'static str {
        match self {
            Ty::Size => "a size like 16k or 1m",
            Ty::Duration => "a duration like 10s",
            Ty::Int => "a whole number",
            Ty::Number => "a number",
            Ty::Bool => "true or false",
            Ty::Str => "a string",
            Ty::Function => "a function",
            Ty::Object => "an object",
            Ty::List => "an array",
        }
    }

    /// The TypeScript type of a value of this type.
    pub fn typescript(self) -> &'static str {
        match self {
            Ty::Size | Ty::Duration => "number | string",
            Ty::Int | Ty::Number => "number",
            Ty::Bool => "boolean",
            Ty::Str => "string",
            Ty::Function => "((...args: any[]) => any)",
            Ty::Object => "object",
            Ty::List => "any[]",
        }
    }

    fn accepts(self, v: &OptValue) -> bool {
        match (self, v) {
            (Ty::Size, OptValue::Number(n)) => *n >= 0.0 && n.is_finite(),
            (Ty::Size, OptValue::Str(s)) => parse_size(s).is_some(),
            (Ty::Duration, OptValue::Number(n)) => Duration::try_from_secs_f64(*n).is_ok(),
            (Ty::Duration, OptValue::Str(s)) => parse_duration(s).is_some(),
            (Ty::Int, OptValue::Number(n)) => n.fract() == 0.0,
            (Ty::Number, OptValue::Number(n)) => !n.is_nan(),
            (Ty::Bool, OptValue::Bool(_)) => true,
            (Ty::Str, OptValue::Str(_)) => true,
            (Ty::Function, OptValue::Callback(_)) => true,
            (Ty::Object, OptValue::Fields(_) | OptValue::Native(_) | OptValue::Other) => true,
            (Ty::List, OptValue::List(_)) => true,
            _ => false,
        }
    }
}

/// What an option is when a script leaves it out.
#[derive(Clone, Copy, Debug)]
pub enum DefaultValue {
    /// Nothing; the text says what that means ("no limit").
    Absent(&'static str),
    /// This size.
    Size(usize),
    /// This duration.
    Duration(Duration),
    /// This whole number.
    Int(i64),
    /// This boolean.
    Bool(bool),
    /// This string.
    Str(&'static str),
}

impl DefaultValue {
    /// How the reference shows it.
    pub fn describe(self) -> String {
        match self {
            DefaultValue::Absent(what) => what.to_string(),
            DefaultValue::Size(n) => format_size(n),
            DefaultValue::Duration(d) => format_duration(d),
            DefaultValue::Int(n) => n.to_string(),
            DefaultValue::Bool(b) => b.to_string(),
            DefaultValue::Str(s) => format!("'{s}'"),
        }
    }
}

/// Whether this proxy does what an option asks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Support {
    /// It does.
    Yes,
    /// Accepted for Pipy scripts' sake and without effect here; the text says why
    /// that is harmless.
    Ignored(&'static str),
    /// Pipy has it and this proxy does not do it yet: giving it is a load error
    /// rather than a silent difference.
    Refused,
}

/// One option of a filter: what the script may give and what it means.
#[derive(Clone, Copy, Debug)]
pub struct OptionDef {
    /// Its name in the options object.
    pub name: &'static str,
    /// The types its value may have.
    pub types: &'static [Ty],
    /// What it is when left out.
    pub default: DefaultValue,
    /// One line for the reference.
    pub doc: &'static str,
    /// Whether it is done here.
    pub support: Support,
    /// The strings it may be, when it is a string (empty: any).
    pub values: &'static [&'static str],
}

impl OptionDef {
    /// An option of `types`, left out by default.
    pub const fn new(name: &'static str, types: &'static [Ty], doc: &'static str) -> Self {
        OptionDef { name, types, default: DefaultValue::Absent("none"), doc, support: Support::Yes, values: &[] }
    }

    /// A byte size.
    pub const fn size(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, &[Ty::Size], doc)
    }

    /// A duration.
    pub const fn duration(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, &[Ty::Duration], doc)
    }

    /// A whole number.
    pub const fn int(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, &[Ty::Int], doc)
    }

    /// A boolean.
    pub const fn bool(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, &[Ty::Bool], doc)
    }

    /// A string.
    pub const fn string(name: &'static str, doc: &'static str) -> Self {
        Self::new(name, &[Ty::Str], doc)
    }

    /// This size when left out.
    pub const fn default_size(mut self, n: usize) -> Self {
        self.default = DefaultValue::Size(n);
        self
    }

    /// This duration when left out.
    pub const fn default_duration(mut self, d: Duration) -> Self {
        self.default = DefaultValue::Duration(d);
        self
    }

    /// This number when left out.
    pub const fn default_int(mut self, n: i64) -> Self {
        self.default = DefaultValue::Int(n);
        self
    }

    /// This boolean when left out.
    pub const fn default_bool(mut self, b: bool) -> Self {
        self.default = DefaultValue::Bool(b);
        self
    }

    /// This string when left out.
    pub const fn default_str(mut self, s: &'static str) -> Self {
        self.default = DefaultValue::Str(s);
        self
    }

    /// Left out means `what` ("no limit", "the client's").
    pub const fn absent(mut self, what: &'static str) -> Self {
        self.default = DefaultValue::Absent(what);
        self
    }

    /// Only these strings.
    pub const fn one_of(mut self, values: &'static [&'static str]) -> Self {
        self.values = values;
        self
    }

    /// Accepted without effect, for `why`.
    pub const fn ignored(mut self, why: &'static str) -> Self {
        self.support = Support::Ignored(why);
        self
    }

    /// Not done here yet: giving it fails the load.
    pub const fn refused(mut self) -> Self {
        self.support = Support::Refused;
        self
    }

    /// What a value must be, for error messages and the reference.
    pub fn describe_types(&self) -> String {
        if !self.values.is_empty() {
            let quoted: Vec<String> = self.values.iter().map(|v| format!("'{v}'")).collect();
            let mut text = quoted.join(" or ");
            for t in self.types.iter().filter(|t| **t != Ty::Str) {
                text.push_str(" or ");
                text.push_str(t.describe());
            }
            return text;
        }
        let parts: Vec<&str> = self.types.iter().map(|t| t.describe()).collect();
        parts.join(" or ")
    }

    /// The TypeScript type of its value.
    pub fn typescript(&self) -> String {
        let mut parts: Vec<String> = Vec::new();
        for t in self.types {
            let ts = if *t == Ty::Str && !self.values.is_empty() {
                self.values.iter().map(|v| format!("'{v}'")).collect::<Vec<_>>().join(" | ")
            } else {
                t.typescript().to_string()
            };
            if !parts.contains(&ts) {
                parts.push(ts);
            }
        }
        parts.join(" | ")
    }

    fn accepts(&self, v: &OptValue) -> bool {
        if let (OptValue::Str(s), false) = (v, self.values.is_empty()) {
            return self.values.contains(&s.as_str());
        }
        self.types.iter().any(|t| t.accepts(v))
    }
}

/// A filter's options object, checked against the filter's declarations and read
/// through them.
pub struct OptionReader {
    owner: &'static str,
    decls: &'static [&'static [OptionDef]],
    opts: Box<dyn Options>,
}

impl OptionReader {
    /// Checks `opts` against `decls`: every option given is declared, of a declared
    /// type and supported. `owner` names the filter in errors.
    pub fn check(
        owner: &'static str,
        decls: &'static [&'static [OptionDef]],
        opts: Box<dyn Options>,
    ) -> ArgResult<Self> {
        for name in opts.names() {
            let Some(decl) = decls.iter().flat_map(|g| g.iter()).find(|d| d.name == name) else {
                return Err(unknown(owner, decls, &name));
            };
            let Some(value) = opts.get(&name) else { continue };
            if decl.support == Support::Refused {
                return Err(ArgError(format!("{owner}: option '{name}' is not supported by this proxy yet")));
            }
            if let (OptValue::Str(s), false) = (&value, decl.values.is_empty()) {
                if !decl.values.contains(&s.as_str()) {
                    return Err(ArgError(format!(
                        "{owner}: option '{name}' is '{s}'; this proxy supports only {} so far",
                        decl.describe_types()
                    )));
                }
            }
            if !decl.accepts(&value) {
                let given = match &value {
                    OptValue::Str(s) => format!(", not '{s}'"),
                    _ => String::new(),
                };
                return Err(ArgError(format!("{owner}: option '{name}' must be {}{given}", decl.describe_types())));
            }
        }
        Ok(OptionReader { owner, decls, opts })
    }

    fn decl(&self, name: &str) -> ArgResult<&'static OptionDef> {
        self.decls
            .iter()
            .flat_map(|g| g.iter())
            .find(|d| d.name == name)
            .ok_or_else(|| ArgError(format!("{}: option '{name}' is read but not declared", self.owner)))
    }

    fn given(&self, name: &str) -> ArgResult<(Option<OptValue>, &'static OptionDef)> {
        let decl = self.decl(name)?;
        Ok((self.opts.get(name), decl))
    }

    fn no_default(&self, name: &str) -> ArgError {
        ArgError(format!("{}: option '{name}' is read with its default, but none is declared", self.owner))
    }

    /// The value of option `name` as given (already checked against its types).
    pub fn raw(&self, name: &str) -> ArgResult<Option<OptValue>> {
        Ok(self.given(name)?.0)
    }

    /// A byte size: the one given, else the declared default, else `None`.
    pub fn opt_size(&self, name: &str) -> ArgResult<Option<usize>> {
        Ok(match self.given(name)? {
            (Some(OptValue::Number(n)), _) => Some(n as usize),
            (Some(OptValue::Str(s)), _) => parse_size(&s),
            (_, d) => match d.default {
                DefaultValue::Size(n) => Some(n),
                _ => None,
            },
        })
    }

    /// A byte size, the declared default when left out.
    pub fn size(&self, name: &str) -> ArgResult<usize> {
        self.opt_size(name)?.ok_or_else(|| self.no_default(name))
    }

    /// A duration: the one given, else the declared default, else `None`.
    pub fn opt_duration(&self, name: &str) -> ArgResult<Option<Duration>> {
        Ok(match self.given(name)? {
            (Some(OptValue::Number(n)), _) => Duration::try_from_secs_f64(n).ok(),
            (Some(OptValue::Str(s)), _) => parse_duration(&s),
            (_, d) => match d.default {
                DefaultValue::Duration(t) => Some(t),
                _ => None,
            },
        })
    }

    /// A duration, the declared default when left out.
    pub fn duration(&self, name: &str) -> ArgResult<Duration> {
        self.opt_duration(name)?.ok_or_else(|| self.no_default(name))
    }

    /// A whole number: the one given, else the declared default, else `None`.
    pub fn opt_int(&self, name: &str) -> ArgResult<Option<i64>> {
        Ok(match self.given(name)? {
            (Some(OptValue::Number(n)), _) if n.fract() == 0.0 => Some(n as i64),
            (_, d) => match d.default {
                DefaultValue::Int(n) => Some(n),
                _ => None,
            },
        })
    }

    /// A whole number, the declared default when left out.
    pub fn int(&self, name: &str) -> ArgResult<i64> {
        self.opt_int(name)?.ok_or_else(|| self.no_default(name))
    }

    /// A boolean, the declared default when left out.
    pub fn bool(&self, name: &str) -> ArgResult<bool> {
        match self.given(name)? {
            (Some(OptValue::Bool(b)), _) => Ok(b),
            (_, d) => match d.default {
                DefaultValue::Bool(b) => Ok(b),
                _ => Err(self.no_default(name)),
            },
        }
    }

    /// A string: the one given, else the declared default, else `None`.
    pub fn opt_string(&self, name: &str) -> ArgResult<Option<String>> {
        Ok(match self.given(name)? {
            (Some(OptValue::Str(s)), _) => Some(s),
            (_, d) => match d.default {
                DefaultValue::Str(s) => Some(s.to_string()),
                _ => None,
            },
        })
    }
}

/// The error for an option nobody declared, with the nearest declared name.
fn unknown(owner: &str, decls: &[&[OptionDef]], name: &str) -> ArgError {
    let decls: Vec<&OptionDef> = decls.iter().flat_map(|g| g.iter()).collect();
    let near = decls
        .iter()
        .map(|d| (strsim::levenshtein(&d.name.to_ascii_lowercase(), &name.to_ascii_lowercase()), d.name))
        .filter(|(dist, _)| *dist <= 2.max(name.len() / 4))
        .min();
    let hint = match near {
        Some((_, n)) => format!(" (did you mean '{n}'?)"),
        None if decls.is_empty() => " (it takes no options)".to_string(),
        None => {
            let names: Vec<&str> = decls.iter().map(|d| d.name).collect();
            format!(" (it knows {})", names.join(", "))
        }
    };
    ArgError(format!("{owner}: unknown option '{name}'{hint}"))
}

/// `16384` as `16k`, `1048576` as `1m`; other numbers as they are.
pub fn format_size(n: usize) -> String {
    for (shift, unit) in [(30, 'g'), (20, 'm'), (10, 'k')] {
        if n >= 1 << shift && n.is_multiple_of(1 << shift) {
            return format!("{}{unit}", n >> shift);
        }
    }
    n.to_string()
}

/// `60s` as `60s`, half a second as `500ms`.
pub fn format_duration(d: Duration) -> String {
    if d.subsec_millis() == 0 {
        format!("{}s", d.as_secs())
    } else {
        format!("{}ms", d.as_millis())
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
    use std::collections::HashMap;

    struct Map(HashMap<&'static str, OptValue>);

    impl Options for Map {
        fn get(&self, name: &str) -> Option<OptValue> {
            self.0.get(name).cloned()
        }
        fn names(&self) -> Vec<String> {
            let mut names: Vec<String> = self.0.keys().map(|k| k.to_string()).collect();
            names.sort();
            names
        }
    }

    const DECLS: &[OptionDef] = &[
        OptionDef::duration("idleTimeout", "Closes an idle connection.").default_duration(Duration::from_secs(60)),
        OptionDef::size("bufferLimit", "Pauses the reader past this.").absent("no limit"),
        OptionDef::string("protocol", "The transport.").one_of(&["tcp"]).default_str("tcp"),
        OptionDef::bool("transparent", "Keeps the original destination.").refused(),
        OptionDef::bool("noDelay", "TCP_NODELAY.").ignored("always on").default_bool(true),
    ];

    fn check(pairs: Vec<(&'static str, OptValue)>) -> Result<(), String> {
        let map = Map(pairs.into_iter().collect());
        OptionReader::check("listen", &[DECLS], Box::new(map)).map(|_| ()).map_err(|e| e.0)
    }

    #[test]
    fn declared_options_of_the_right_type_pass() {
        assert_eq!(check(vec![("idleTimeout", OptValue::Str("5s".into()))]), Ok(()));
        assert_eq!(check(vec![("bufferLimit", OptValue::Number(1024.0))]), Ok(()));
        assert_eq!(check(vec![("protocol", OptValue::Str("tcp".into()))]), Ok(()));
        assert_eq!(check(vec![("noDelay", OptValue::Bool(false))]), Ok(()));
    }

    #[test]
    fn unknown_options_are_refused_with_the_nearest_name() {
        assert_eq!(
            check(vec![("idleTimeot", OptValue::Number(1.0))]),
            Err("listen: unknown option 'idleTimeot' (did you mean 'idleTimeout'?)".into())
        );
        let far = check(vec![("colour", OptValue::Number(1.0))]).unwrap_err();
        assert!(far.starts_with("listen: unknown option 'colour' (it knows idleTimeout, bufferLimit"), "{far}");
    }

    #[test]
    fn mistyped_and_unsupported_options_are_refused() {
        assert_eq!(
            check(vec![("idleTimeout", OptValue::Str("soon".into()))]),
            Err("listen: option 'idleTimeout' must be a duration like 10s, not 'soon'".into())
        );
        assert_eq!(
            check(vec![("bufferLimit", OptValue::Bool(true))]),
            Err("listen: option 'bufferLimit' must be a size like 16k or 1m".into())
        );
        assert_eq!(
            check(vec![("protocol", OptValue::Str("udp".into()))]),
            Err("listen: option 'protocol' is 'udp'; this proxy supports only 'tcp' so far".into())
        );
        assert_eq!(
            check(vec![("transparent", OptValue::Bool(true))]),
            Err("listen: option 'transparent' is not supported by this proxy yet".into())
        );
    }

    #[test]
    fn reads_give_the_value_or_the_declared_default() {
        let map = Map([("bufferLimit", OptValue::Str("2k".into()))].into_iter().collect());
        let r = OptionReader::check("listen", &[DECLS], Box::new(map)).unwrap();
        assert_eq!(r.duration("idleTimeout"), Ok(Duration::from_secs(60)));
        assert_eq!(r.opt_size("bufferLimit"), Ok(Some(2048)));
        assert_eq!(r.opt_string("protocol"), Ok(Some("tcp".into())));
        assert!(r.bool("noDelay").unwrap());
        assert!(r.size("idleTimeout").is_err(), "a size read of a duration option has no size default");
        assert!(r.opt_size("undeclared").is_err(), "reading an undeclared option is an error");
    }

    #[test]
    fn sizes() {
        assert_eq!(parse_size("16k"), Some(16384));
        assert_eq!(parse_size("1M"), Some(1 << 20));
        assert_eq!(parse_size("100"), Some(100));
        assert_eq!(parse_size("x"), None);
        assert_eq!(parse_size("-1k"), None);
        assert_eq!(format_size(16384), "16k");
        assert_eq!(format_size(1 << 20), "1m");
        assert_eq!(format_size(1000), "1000");
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
        assert_eq!(format_duration(Duration::from_secs(60)), "60s");
        assert_eq!(format_duration(Duration::from_millis(250)), "250ms");
    }
}
