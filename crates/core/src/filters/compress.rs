//! `compress(method)`: compresses a raw stream (gzip or deflate): its Data
//! events come out compressed as they go, the compressed stream ends at
//! StreamEnd. `method` is a name or a function called at the first event.
//! Message events are not passed on (the stream is bytes).

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::compression::{Encoder, Method};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `compress` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "compress",
    params: "method: 'gzip' | 'deflate' | (() => string)",
    doc: "Compresses a raw byte stream with gzip or deflate.",
    options: &[],
    build,
};

/// A coding given by name, or by a function asked once per stream.
pub enum Choice {
    /// This one.
    Fixed(Method),
    /// What the function returns, named as `names` reads it.
    Chosen(Rc<dyn Callback>, fn(&str) -> Option<Method>),
}

impl Choice {
    /// The coding from argument `i`: one this proxy can write (`decoding`
    /// false), or read too (brotli).
    pub fn from_args(def: &FilterDef, args: &mut dyn Args, i: usize, decoding: bool) -> ArgResult<Choice> {
        let names: fn(&str) -> Option<Method> = if decoding { Method::from_name } else { Method::encodable };
        if args.is_function(i) {
            return Ok(Choice::Chosen(args.callback(i)?.expect("checked"), names));
        }
        let name = args.string(i)?.ok_or_else(|| ArgError(format!("{}: a method is required", def.name)))?;
        let known = if decoding { "'gzip', 'deflate' or 'brotli'" } else { "'gzip' or 'deflate'" };
        names(&name)
            .map(Choice::Fixed)
            .ok_or_else(|| ArgError(format!("{}: unknown method '{name}' (use {known})", def.name)))
    }

    /// The coding for the stream at `cx` (a function is called with `arg`).
    pub fn pick(&self, cx: &Cx<'_>, arg: Arg<'_>, filter: &str) -> Picked {
        match self {
            Choice::Fixed(m) => Picked::Method(*m),
            Choice::Chosen(cb, names) => match cb.call(cx.context(), arg, Want::Str) {
                Ok(Returned::Str(Some(name))) => match names(&name) {
                    Some(m) => Picked::Method(m),
                    None => {
                        tracing::error!(name, "{filter}: unknown method; the bytes pass as they are");
                        Picked::None
                    }
                },
                Ok(_) => Picked::None,
                Err(err) => {
                    report_script_error(&err, filter);
                    Picked::Failed
                }
            },
        }
    }
}

/// What `Choice::pick` gave.
pub enum Picked {
    /// This coding.
    Method(Method),
    /// None: the stream passes as it is.
    None,
    /// The script failed (reported).
    Failed,
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let choice = Rc::new(Choice::from_args(def, args, 0, false)?);
    Ok(FilterSpec::plain(def.name, move || Compress { choice: choice.clone(), state: State::Unstarted }))
}

enum State {
    Unstarted,
    Compressing(Box<Encoder>),
    Passing,
    Done,
}

/// The `compress` filter.
pub struct Compress {
    choice: Rc<Choice>,
    state: State,
}

impl Filter for Compress {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if matches!(self.state, State::Unstarted) {
            self.state = match self.choice.pick(cx, Arg::None, DEF.name) {
                Picked::Method(m) => State::Compressing(Box::new(Encoder::new(m, 6))),
                Picked::None => State::Passing,
                Picked::Failed => {
                    self.state = State::Done;
                    return cx.output(Event::error(StreamError::RuntimeError));
                }
            };
        }
        match (ev, &mut self.state) {
            (Event::Data(d), State::Compressing(e)) => {
                let out = e.write(&d.to_vec());
                if !out.is_empty() {
                    cx.output(Event::Data(Data::from(out)));
                }
            }
            (Event::Data(d), State::Passing) => cx.output(Event::Data(d)),
            (ev @ Event::StreamEnd(_), _) => {
                if let State::Compressing(e) = std::mem::replace(&mut self.state, State::Done) {
                    let out = e.finish();
                    if !out.is_empty() {
                        cx.output(Event::Data(Data::from(out)));
                    }
                }
                self.state = State::Done;
                cx.output(ev);
            }
            _ => {}
        }
    }
}
