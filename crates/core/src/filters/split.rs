//! `split(separator)`: Data in, one message per piece between separators out,
//! the separators left out, as Pipy's `split` does. The separator is text,
//! Data, or a function giving one, called at a stream's first Data. What
//! follows the last separator is a message of its own when the input's
//! message or stream ends. Message boundaries that come in are not passed on:
//! the separators are the boundaries. Bytes are held only while they may be
//! the start of a separator.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::head::Head;
use crate::pipeline::{Cx, Filter, FilterSpec};
use bytes::Bytes;
use std::rc::Rc;

/// `split` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "split",
    params: "separator: string | Data | (() => string | Data)",
    doc: "Splits the stream's bytes into a message per piece between separators.",
    options: &[],
    build,
};

/// Longest separator (as in Pipy).
const MAX_SEPARATOR: usize = 1024;

/// Where the separator comes from.
#[derive(Clone)]
enum Separator {
    Fixed(Rc<[u8]>),
    Computed(Rc<dyn Callback>),
}

fn check(sep: Vec<u8>) -> Result<Rc<[u8]>, String> {
    match sep.len() {
        0 => Err("split: the separator is empty".into()),
        n if n > MAX_SEPARATOR => Err(format!("split: a separator over {MAX_SEPARATOR} bytes is not supported")),
        _ => Ok(sep.into()),
    }
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let sep = if args.is_function(0) {
        Separator::Computed(args.callback(0)?.expect("a function argument is a callback"))
    } else if args.is_string(0) {
        Separator::Fixed(check(args.string(0)?.unwrap_or_default().into_bytes()).map_err(ArgError)?)
    } else if args.is_nullish(0) {
        return Err(ArgError("split: a separator is required".into()));
    } else {
        Separator::Fixed(check(bytes_of(args.events(0)?)).map_err(ArgError)?)
    };
    Ok(FilterSpec::plain(def.name, move || Split {
        sep: sep.clone(),
        current: None,
        held: Vec::new(),
        open: false,
        active: false,
        failed: false,
    }))
}

/// The bytes of the Data among `events`.
fn bytes_of(events: Vec<Event>) -> Vec<u8> {
    events
        .into_iter()
        .filter_map(|e| match e {
            Event::Data(d) => Some(d.to_vec()),
            _ => None,
        })
        .flatten()
        .collect()
}

/// The `split` filter.
pub struct Split {
    sep: Separator,
    /// This stream's separator, once known.
    current: Option<Rc<[u8]>>,
    /// Bytes that may begin a separator.
    held: Vec<u8>,
    /// A message is open downstream.
    open: bool,
    /// Data came since the input's last message or stream boundary.
    active: bool,
    /// The separator function failed: the stream has ended.
    failed: bool,
}

impl Split {
    fn start(&mut self, cx: &mut Cx<'_>) {
        if !std::mem::replace(&mut self.open, true) {
            cx.output(Event::start(Head::None));
        }
    }

    fn content(&mut self, bytes: Bytes, cx: &mut Cx<'_>) {
        self.start(cx);
        if !bytes.is_empty() {
            cx.output(Event::Data(bytes.into()));
        }
    }

    fn end(&mut self, cx: &mut Cx<'_>) {
        self.start(cx);
        self.open = false;
        cx.output(Event::message_end());
    }

    fn separator(&mut self, cx: &mut Cx<'_>) -> Option<Rc<[u8]>> {
        if let Some(s) = &self.current {
            return Some(s.clone());
        }
        let sep = match &self.sep {
            Separator::Fixed(s) => s.clone(),
            Separator::Computed(cb) => {
                let result = match cb.call(cx.context(), Arg::None, Want::Events) {
                    Ok(Returned::Events(evs)) => check(bytes_of(evs)),
                    Ok(_) => Err("split: the separator function gave no text or Data".into()),
                    Err(e) => {
                        self.failed = true;
                        cx.fail(&e, "split");
                        return None;
                    }
                };
                match result {
                    Ok(s) => s,
                    Err(e) => {
                        tracing::error!("{e}");
                        self.failed = true;
                        cx.output(Event::error(StreamError::RuntimeError));
                        return None;
                    }
                }
            }
        };
        self.current = Some(sep.clone());
        Some(sep)
    }

    fn input(&mut self, d: Data, cx: &mut Cx<'_>) {
        let Some(sep) = self.separator(cx) else { return };
        self.active = true;
        for chunk in d.into_chunks() {
            let buf: Bytes = if self.held.is_empty() {
                chunk
            } else {
                let mut joined = std::mem::take(&mut self.held);
                joined.extend_from_slice(&chunk);
                joined.into()
            };
            let mut at = 0;
            while let Some(i) = memchr::memmem::find(&buf[at..], &sep) {
                self.content(buf.slice(at..at + i), cx);
                self.end(cx);
                at += i + sep.len();
            }
            // Hold back the longest end that could begin a separator.
            let rest = &buf[at..];
            let keep =
                (1..sep.len().min(rest.len() + 1)).rev().find(|&n| rest[rest.len() - n..] == sep[..n]).unwrap_or(0);
            if rest.len() > keep {
                self.content(buf.slice(at..buf.len() - keep), cx);
            }
            self.held = rest[rest.len() - keep..].to_vec();
        }
    }

    /// The input's message or stream ended: what follows the last separator is a message.
    fn flush(&mut self, cx: &mut Cx<'_>) {
        if !std::mem::take(&mut self.active) && !self.open {
            return;
        }
        let held = Bytes::from(std::mem::take(&mut self.held));
        self.content(held, cx);
        self.end(cx);
    }
}

impl Filter for Split {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            Event::Data(d) => self.input(d, cx),
            Event::MessageStart(_) => {}
            Event::MessageEnd(_) => {
                self.flush(cx);
                if matches!(self.sep, Separator::Computed(_)) {
                    self.current = None;
                }
            }
            Event::StreamEnd(_) => {
                self.flush(cx);
                self.current = None;
                cx.output(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness, TestArg};

    fn messages(pieces: &[&str], sep: &str) -> Vec<String> {
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str(sep.into())])]);
        for p in pieces {
            h.send(p);
        }
        h.input(Event::end());
        let mut out = Vec::new();
        for e in h.finish() {
            match e {
                Event::MessageStart(_) => out.push(String::new()),
                Event::Data(d) => out.last_mut().unwrap().push_str(&String::from_utf8_lossy(&d.to_vec())),
                Event::MessageEnd(_) => out.last_mut().unwrap().push('|'),
                Event::StreamEnd(_) => out.push("end".into()),
            }
        }
        out
    }

    #[test]
    fn pieces_between_separators_are_messages_however_the_bytes_are_cut() {
        let text = "one\r\ntwo\r\n\r\nthree\r";
        let want = vec!["one|", "two|", "|", "three\r|", "end"];
        assert_eq!(messages(&[text], "\r\n"), want);
        for cut in 0..=text.len() {
            assert_eq!(messages(&[&text[..cut], &text[cut..]], "\r\n"), want, "cut at {cut}");
        }
        let bytes: Vec<String> = text.chars().map(String::from).collect();
        let refs: Vec<&str> = bytes.iter().map(String::as_str).collect();
        assert_eq!(messages(&refs, "\r\n"), want);
        // Overlapping starts of the separator.
        assert_eq!(messages(&["aab", "aaab"], "aab"), vec!["|", "a|", "|", "end"]);
        // Nothing came: no message, and the stream still ends.
        assert_eq!(messages(&[], ","), vec!["end"]);
        // A message of the input ends the last piece; the stream's end after it adds none.
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str(",".into())])]);
        h.input(Event::start(Head::None));
        h.send("a,b");
        h.input(Event::message_end());
        h.input(Event::end());
        let ends = h.finish().iter().filter(|e| matches!(e, Event::MessageEnd(_))).count();
        assert_eq!(ends, 2, "a and b, nothing more");
    }

    #[test]
    fn random_input_splits_as_the_plain_string_split_does() {
        let mut seed = 0x9e37_79b9_7f4a_7c15u64;
        for _ in 0..300 {
            let mut text = String::new();
            for _ in 0..40 {
                seed ^= seed << 13;
                seed ^= seed >> 7;
                seed ^= seed << 17;
                text.push(['a', 'b', ','][(seed % 3) as usize]);
            }
            let cut = (seed as usize >> 8) % (text.len() + 1);
            let mut want: Vec<String> = text.split("a,b").map(|s| format!("{s}|")).collect();
            want.push("end".into());
            assert_eq!(messages(&[&text[..cut], &text[cut..]], "a,b"), want, "{text}");
        }
    }
}
