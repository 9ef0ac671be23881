//! `compressHTTP(method)`: compresses each message's body (gzip or deflate) as
//! it streams, unless the message already has a `content-encoding`. The head
//! gets `content-encoding` and loses `content-length` (the length changes).
//! `method` is a name, an options object (`{ method, level }`), or a function
//! of the MessageStart returning a name, or nothing for no compression; after
//! a name or a function, `{ level }` may follow.

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::Arg;
use crate::compression::{Encoder, Method};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::compress::{Choice, Picked};
use crate::filters::FilterDef;
use crate::head::{Head, ResponseHead};
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `compressHTTP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "compressHTTP",
    params: "method: 'gzip' | 'deflate' | CompressHTTPOptions | ((head: MessageStart) => string | undefined), options?: CompressHTTPOptions",
    doc: "Compresses each message's body with gzip or deflate, unless it already has a content-encoding.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::string("method", "'gzip' or 'deflate'.").default_str("gzip").one_of(&["gzip", "deflate"]),
    OptionDef::int("level", "Compression level, 0 (none) to 9 (smallest); 6 is zlib's default.").default_int(6),
];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (choice, level) = if args.is_function(0) || args.is_string(0) {
        let choice = Choice::from_args(def, args, 0, false)?;
        let r = def.options_at(args, 1)?;
        if r.raw("method")?.is_some() {
            return Err(ArgError(format!(
                "{}: the method is the first argument; the options take only level",
                def.name
            )));
        }
        (choice, r.int("level")?.clamp(0, 9) as u32)
    } else {
        let r = def.options_at(args, 0)?;
        let method = r.opt_string("method")?.unwrap_or_else(|| "gzip".into());
        let method = Method::encodable(&method)
            .ok_or_else(|| ArgError(format!("{}: unknown method '{method}' (use 'gzip' or 'deflate')", def.name)))?;
        (Choice::Fixed(method), r.int("level")?.clamp(0, 9) as u32)
    };
    let choice = Rc::new(choice);
    Ok(FilterSpec::plain(def.name, move || CompressHttp {
        choice: choice.clone(),
        level,
        encoder: None,
        in_message: false,
        failed: false,
    }))
}

/// The `compressHTTP` filter.
pub struct CompressHttp {
    choice: Rc<Choice>,
    level: u32,
    encoder: Option<Encoder>,
    in_message: bool,
    /// A script failed and the stream has ended.
    failed: bool,
}

/// A strong `ETag` names the bytes as they were: once they change it can only
/// be a weak one (RFC 9110 §8.8.1), as nginx's gzip and gunzip make it.
pub fn weaken_etag(headers: &mut crate::head::Headers) {
    if let Some(tag) = headers.get("etag").filter(|t| t.starts_with('"')).map(str::to_string) {
        headers.set("etag", format!("W/{tag}"));
    }
}

impl Filter for CompressHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            ev @ Event::MessageStart(_) if !self.in_message => {
                self.in_message = true;
                let mut ev = ev;
                let method = match self.choice.pick(cx, Arg::Event(&mut ev), DEF.name) {
                    Picked::Method(m) => Some(m),
                    Picked::None => None,
                    Picked::Failed => {
                        self.failed = true;
                        return cx.output(Event::error(StreamError::RuntimeError));
                    }
                };
                let Event::MessageStart(mut head) = ev else { unreachable!("a MessageStart") };
                if method.is_some() && matches!(*head, Head::None) {
                    // A script's `new Message(body)`: an answer, which now has headers.
                    *head = Head::Response(ResponseHead::with_status(200));
                }
                // Answers with no body, ranges of one, and ones that must not be
                // transformed (RFC 9110 §7.7) are left as they are, as nginx does.
                let untouched = head
                    .response()
                    .is_some_and(|r| (100..200).contains(&r.status) || matches!(r.status, 204 | 206 | 304));
                if let (Some(method), Some(headers), false) = (method, head.headers_mut(), untouched) {
                    let empty = headers.get("content-length").is_some_and(|l| l.trim() == "0");
                    let no_transform = headers
                        .get("cache-control")
                        .is_some_and(|c| c.split(',').any(|d| d.trim().eq_ignore_ascii_case("no-transform")));
                    if headers.get("content-encoding").is_none() && !empty && !no_transform {
                        headers.remove("content-length");
                        headers.remove("accept-ranges");
                        weaken_etag(headers);
                        headers.set("content-encoding", method.name());
                        self.encoder = Some(Encoder::new(method, self.level));
                    }
                }
                cx.output(Event::MessageStart(head));
            }
            Event::MessageStart(_) => {}
            Event::Data(d) if self.in_message => match &mut self.encoder {
                Some(e) => {
                    let out = e.write(&d.to_vec());
                    if !out.is_empty() {
                        cx.output(Event::Data(Data::from(out)));
                    }
                }
                None => cx.output(Event::Data(d)),
            },
            Event::Data(_) => {}
            Event::MessageEnd(tail) if self.in_message => {
                self.in_message = false;
                if let Some(e) = self.encoder.take() {
                    let out = e.finish();
                    if !out.is_empty() {
                        cx.output(Event::Data(Data::from(out)));
                    }
                }
                cx.output(Event::MessageEnd(tail));
            }
            Event::MessageEnd(_) => {}
            Event::StreamEnd(_) => {
                self.encoder = None;
                self.in_message = false;
                cx.output(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::callback::{Returned, Want};
    use crate::testing::{spec, Harness, TestArg};

    #[test]
    fn answers_without_a_body_and_coded_ones_are_left_as_they_are() {
        for (status, coding) in [(204, None), (304, None), (200, Some("br"))] {
            let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str("gzip".into())])]);
            let mut head = ResponseHead::with_status(status);
            if let Some(c) = coding {
                head.headers.set("content-encoding", c);
            }
            h.input(Event::start(Head::Response(head)));
            h.input(Event::message_end());
            let events = h.out.events();
            let Some(Event::MessageStart(head)) = events.first() else { panic!("{events:?}") };
            assert_eq!(head.headers().unwrap().get("content-encoding"), coding, "{status}");
            assert!(h.out.text().is_empty(), "{status}: no body bytes");
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn a_compressed_answer_weakens_its_etag_and_ranges_empty_and_no_transform_ones_are_left() {
        let run = |status: u16, headers: &[(&str, &str)]| {
            let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str("gzip".into())])]);
            let mut head = ResponseHead::with_status(status);
            for (k, v) in headers {
                head.headers.set(k, v.to_string());
            }
            h.input(Event::start(Head::Response(head)));
            h.input(Event::Data(Data::from(b"some body".to_vec())));
            h.input(Event::message_end());
            let events = h.out.events();
            let Some(Event::MessageStart(head)) = events.first() else { panic!("{events:?}") };
            let out = head.headers().unwrap().clone();
            h.input(Event::end());
            h.finish();
            out
        };
        let out = run(200, &[("etag", "\"v1\""), ("accept-ranges", "bytes")]);
        assert_eq!(out.get("etag"), Some("W/\"v1\""));
        assert_eq!((out.get("content-encoding"), out.get("accept-ranges")), (Some("gzip"), None));
        for (status, headers) in [
            (206, vec![("content-range", "bytes 0-8/100")]),
            (200, vec![("content-length", "0")]),
            (200, vec![("cache-control", "public, no-transform")]),
        ] {
            assert_eq!(run(status, &headers).get("content-encoding"), None, "{status} {headers:?}");
        }
    }

    #[test]
    fn a_level_may_follow_a_name_or_a_function_but_not_a_second_method() {
        let body = "compressible ".repeat(500);
        let size = |level: i64| {
            let opts = vec![("level".to_string(), crate::OptValue::Number(level as f64))];
            let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str("gzip".into()), TestArg::OptionValues(opts)])]);
            h.input(Event::start(Head::Response(ResponseHead::with_status(200))));
            h.input(Event::Data(Data::from(body.clone())));
            h.input(Event::message_end());
            let n: usize = h.out.events().iter().map(|e| if let Event::Data(d) = e { d.len() } else { 0 }).sum();
            h.finish();
            n
        };
        assert!(size(0) > body.len(), "level 0 stores");
        assert!(size(9) < body.len() / 10);
        let opts = vec![("method".to_string(), crate::OptValue::Str("deflate".into()))];
        let err = (DEF.build)(
            &DEF,
            &mut crate::testing::TestArgs(vec![TestArg::Str("gzip".into()), TestArg::OptionValues(opts)]),
        );
        assert!(err.is_err());
    }

    #[test]
    fn a_method_function_that_throws_ends_the_stream_once() {
        let cb = |_: &crate::Context, _: Arg<'_>, _: Want| -> Result<Returned, crate::callback::ScriptError> {
            Err(crate::callback::ScriptError::new("boom"))
        };
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Callback(Rc::new(cb))])]);
        h.input(Event::start(Head::Response(ResponseHead::with_status(200))));
        h.input(Event::Data(Data::from(b"x".to_vec())));
        h.input(Event::message_end());
        h.input(Event::end());
        let events = h.out.events();
        assert_eq!(events.len(), 1, "{events:?}");
        assert!(matches!(events[0], Event::StreamEnd(Some(StreamError::RuntimeError))));
        h.finish();
    }
}
