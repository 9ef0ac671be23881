//! Script errors with their location: the exception's message, and `file:line:col`
//! taken from the first frame of its stack that points into a script file.

use proxy_core::ScriptError;
use rquickjs::{Ctx, Error, Exception, Value};
use std::cell::RefCell;
use std::collections::HashMap;

/// Length of the code a module's text is wrapped in on its line 1
/// (`with(__proxy_scope_NNNN){`, see `load::module`), taken off the columns of
/// locations on that line.
pub const PREFIX_LEN: usize = "with(__proxy_scope_0000){".len();

/// What a module whose top level returns is also wrapped in (`(function(){`),
/// so that `return` is allowed there as in Pipy; `void 0;` keeps a leading
/// `"use strict"` of the file from becoming the function's directive.
pub const FUNCTION_PREFIX: &str = "(function(){void 0;";

thread_local! {
    /// Files evaluated as modules, and how many characters their line 1
    /// starts with that the user did not write.
    static WRAPPED: RefCell<HashMap<String, usize>> = RefCell::default();
}

/// Notes that `file` runs as a module (see `module`), its line 1 after
/// `prefix_len` characters of wrapper (0: as written).
pub fn note_wrapped(file: &str, prefix_len: usize) {
    WRAPPED.with(|w| {
        let mut w = w.borrow_mut();
        if prefix_len == 0 {
            w.remove(file);
        } else {
            w.insert(file.to_string(), prefix_len);
        }
    });
}

/// Takes the module prefix off the columns of line 1 in `file:1:col` locations.
fn unwrap_columns(text: &str) -> String {
    WRAPPED.with(|w| {
        let w = w.borrow();
        let mut out = text.to_string();
        for (file, &prefix_len) in w.iter() {
            let needle = format!("{file}:1:");
            let mut from = 0;
            while let Some(at) = out[from..].find(&needle).map(|i| i + from) {
                let digits_at = at + needle.len();
                // `main.js` is not the end of `xmain.js` or `plugins/main.js`.
                let whole = out[..at].chars().next_back().is_none_or(|c| !(c.is_alphanumeric() || "_-./".contains(c)));
                if !whole {
                    from = digits_at;
                    continue;
                }
                let digits: String = out[digits_at..].chars().take_while(|c| c.is_ascii_digit()).collect();
                let Ok(col) = digits.parse::<usize>() else {
                    from = digits_at;
                    continue;
                };
                let fixed = col.saturating_sub(prefix_len).max(1).to_string();
                out.replace_range(digits_at..digits_at + digits.len(), &fixed);
                from = digits_at + fixed.len();
            }
        }
        out
    })
}

/// Turns a failed call into a `ScriptError`, taking the pending exception if any.
pub fn from_rquickjs(ctx: &Ctx<'_>, err: Error) -> ScriptError {
    if !err.is_exception() {
        return ScriptError::new(err.to_string());
    }
    from_value(ctx.catch())
}

/// Describes a thrown value.
pub fn from_value(thrown: Value<'_>) -> ScriptError {
    if let Some(ex) = thrown.as_object().and_then(|o| Exception::from_object(o.clone())) {
        let name: String = ex.get("name").unwrap_or_else(|_| "Error".into());
        let message = ex.message().unwrap_or_default();
        let stack = unwrap_columns(&ex.stack().unwrap_or_default());
        let mut location = first_location(&stack);
        if location.is_none() {
            // Syntax errors carry the position in fileName/lineNumber.
            let file: Option<String> = ex.get("fileName").ok();
            let line: Option<i32> = ex.get("lineNumber").ok();
            let col: Option<i32> = ex.get("columnNumber").ok();
            if let (Some(f), Some(l)) = (file, line) {
                location = Some(match col {
                    Some(c) => unwrap_columns(&format!("{f}:{l}:{c}")),
                    None => format!("{f}:{l}"),
                });
            }
        }
        let message = if message == "interrupted" {
            "the callback ran past its time limit and was stopped".to_string()
        } else if name.is_empty() {
            message
        } else {
            format!("{name}: {message}")
        };
        return ScriptError { message, location, stack: Some(stack).filter(|s| !s.trim().is_empty()) };
    }
    let text = match thrown.as_string() {
        Some(s) => s.to_string().unwrap_or_default(),
        None => format!("{thrown:?}"),
    };
    ScriptError::new(format!("uncaught {text}"))
}

/// The user's `file:line:col` a QuickJS stack trace starts at.
pub fn stack_location(stack: &str) -> Option<String> {
    first_location(&unwrap_columns(stack))
}

/// The first `file:line[:col]` in a QuickJS stack trace that is not native code.
pub fn first_location(stack: &str) -> Option<String> {
    for line in stack.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("at ") else { continue };
        let place = match (rest.rfind('('), rest.ends_with(')')) {
            (Some(i), true) => &rest[i + 1..rest.len() - 1],
            _ => rest,
        };
        // `eval_script` is the host's own script code (the prelude, `pipy.load`'s
        // wrapper): the user's code is the frame that called it.
        if place.contains("native") || place.starts_with("eval_script:") || !place.contains(':') {
            continue;
        }
        let mut parts = place.rsplitn(3, ':');
        let last = parts.next()?;
        if last.chars().all(|c| c.is_ascii_digit()) && !last.is_empty() {
            return Some(place.to_string());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::first_location;

    #[test]
    fn columns_of_line_1_of_modules_lose_the_prefix() {
        super::note_wrapped("m.js", super::PREFIX_LEN);
        let n = super::PREFIX_LEN;
        let stack = format!("    at f (m.js:1:{})\n    at m.js:2:7\n    at other.js:1:{}\n", n + 5, n + 5);
        let fixed = super::unwrap_columns(&stack);
        assert_eq!(fixed, format!("    at f (m.js:1:5)\n    at m.js:2:7\n    at other.js:1:{}\n", n + 5));
        // Another file whose name ends the same is not that file.
        let stack = format!("    at xm.js:1:{}\n    at lib/m.js:1:{}\n", n + 5, n + 5);
        assert_eq!(super::unwrap_columns(&stack), stack);
        // A file noted as unwrapped loses nothing.
        super::note_wrapped("m.js", 0);
        assert_eq!(super::unwrap_columns("m.js:1:40"), "m.js:1:40");
    }

    #[test]
    fn finds_the_first_script_frame() {
        let stack = "    at <anonymous> (native)\n    at handler (main.js:3:17)\n    at main.js:9:1\n";
        assert_eq!(first_location(stack).as_deref(), Some("main.js:3:17"));
        assert_eq!(first_location("    at tutorial/a b/main.js:2:5\n").as_deref(), Some("tutorial/a b/main.js:2:5"));
        assert_eq!(first_location("nothing here"), None);
        let stack = "    at <anonymous> (eval_script:8:51)\n    at <anonymous> (main.js:1:9)\n";
        assert_eq!(first_location(stack).as_deref(), Some("main.js:1:9"), "the host's own code is skipped");
    }
}
