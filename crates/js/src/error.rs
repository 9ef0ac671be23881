//! Script errors with their location: the exception's message, and `file:line:col`
//! taken from the first frame of its stack that points into a script file.

use proxy_core::ScriptError;
use rquickjs::{Ctx, Error, Exception, Value};

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
        let stack = ex.stack().unwrap_or_default();
        let mut location = first_location(&stack);
        if location.is_none() {
            // Syntax errors carry the position in fileName/lineNumber.
            let file: Option<String> = ex.get("fileName").ok();
            let line: Option<i32> = ex.get("lineNumber").ok();
            let col: Option<i32> = ex.get("columnNumber").ok();
            if let (Some(f), Some(l)) = (file, line) {
                location = Some(match col {
                    Some(c) => format!("{f}:{l}:{c}"),
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

/// The first `file:line[:col]` in a QuickJS stack trace that is not native code.
pub fn first_location(stack: &str) -> Option<String> {
    for line in stack.lines() {
        let line = line.trim();
        let Some(rest) = line.strip_prefix("at ") else { continue };
        let place = match (rest.rfind('('), rest.ends_with(')')) {
            (Some(i), true) => &rest[i + 1..rest.len() - 1],
            _ => rest,
        };
        if place.contains("native") || !place.contains(':') {
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
    fn finds_the_first_script_frame() {
        let stack = "    at <anonymous> (native)\n    at handler (main.js:3:17)\n    at main.js:9:1\n";
        assert_eq!(first_location(stack).as_deref(), Some("main.js:3:17"));
        assert_eq!(first_location("    at tutorial/a b/main.js:2:5\n").as_deref(), Some("tutorial/a b/main.js:2:5"));
        assert_eq!(first_location("nothing here"), None);
    }
}
