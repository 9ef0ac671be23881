//! `decompressHTTP(enable?)`: inflates each message whose `content-encoding`
//! is `gzip` or `deflate`, as it streams; the head loses `content-encoding`
//! and `content-length`. `enable`, a function of the MessageStart, may say no
//! for a message. What a body inflates to is bounded by `maxSize`: past it, or
//! on a corrupt body, the stream ends with an error (logged once).

use crate::args::ArgResult;
use crate::args::Args;
use crate::callback::{Arg, Callback, Returned, Want};
use crate::compression::{DecodeError, Decoder, Method};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::options::OptionDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `decompressHTTP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decompressHTTP",
    params: "enable?: (head: MessageStart) => boolean, options?: DecompressHTTPOptions",
    doc: "Inflates each message body in gzip, deflate or brotli, bounded by maxSize.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[OptionDef::size(
    "maxSize",
    "Largest body inflated; past it the stream ends with BufferOverflow (a compression bomb).",
)
.default_size(64 << 20)];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let (enable, at) = if args.is_function(0) { (args.callback(0)?, 1) } else { (None, 0) };
    let max_size = def.options_at(args, at)?.size("maxSize")?;
    let enable = Rc::new(enable);
    Ok(FilterSpec::plain(def.name, move || DecompressHttp {
        enable: enable.clone(),
        max_size,
        decoder: None,
        in_message: false,
        failed: false,
    }))
}

/// The `decompressHTTP` filter.
pub struct DecompressHttp {
    enable: Rc<Option<Rc<dyn Callback>>>,
    max_size: usize,
    decoder: Option<Decoder>,
    in_message: bool,
    /// The body could not be inflated: the stream has ended.
    failed: bool,
}

impl DecompressHttp {
    fn fail(&mut self, why: DecodeError, cx: &mut Cx<'_>) {
        tracing::warn!("decompressHTTP: {why}; the stream ends");
        self.failed = true;
        self.decoder = None;
        cx.output(Event::error(why.stream_error()));
    }
}

impl Filter for DecompressHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            mut ev @ Event::MessageStart(_) if !self.in_message => {
                self.in_message = true;
                let coding = match &ev {
                    Event::MessageStart(h) => {
                        h.headers().and_then(|hs| hs.get("content-encoding")).and_then(Method::from_name)
                    }
                    _ => None,
                };
                // Answers with no body keep their heads as they are.
                let bodiless = match &ev {
                    Event::MessageStart(h) => {
                        h.response().is_some_and(|r| (100..200).contains(&r.status) || matches!(r.status, 204 | 304))
                    }
                    _ => false,
                };
                let coding = coding.filter(|_| !bodiless);
                let wanted = match (coding, &*self.enable) {
                    (None, _) => false,
                    (Some(_), None) => true,
                    (Some(_), Some(cb)) => match cb.call(cx.context(), Arg::Event(&mut ev), Want::Bool) {
                        Ok(Returned::Bool(b)) => b,
                        Ok(_) => false,
                        Err(err) => {
                            report_script_error(&err, "decompressHTTP");
                            self.failed = true;
                            return cx.output(Event::error(StreamError::RuntimeError));
                        }
                    },
                };
                if let (true, Some(method), Event::MessageStart(head)) = (wanted, coding, &mut ev) {
                    if let Some(headers) = head.headers_mut() {
                        headers.remove("content-encoding");
                        headers.remove("content-length");
                        crate::filters::compress_http::weaken_etag(headers);
                    }
                    self.decoder = Some(Decoder::new(method, self.max_size));
                }
                cx.output(ev);
            }
            Event::MessageStart(_) => {}
            Event::Data(d) if self.in_message => match &mut self.decoder {
                Some(dec) => match dec.write(&d.to_vec()) {
                    Ok(out) if out.is_empty() => {}
                    Ok(out) => cx.output(Event::Data(Data::from(out))),
                    Err(e) => self.fail(e, cx),
                },
                None => cx.output(Event::Data(d)),
            },
            Event::Data(_) => {}
            Event::MessageEnd(tail) if self.in_message => {
                self.in_message = false;
                if let Some(dec) = self.decoder.take() {
                    match dec.finish() {
                        Ok(out) if out.is_empty() => {}
                        Ok(out) => cx.output(Event::Data(Data::from(out))),
                        Err(e) => return self.fail(e, cx),
                    }
                }
                cx.output(Event::MessageEnd(tail));
            }
            Event::MessageEnd(_) => {}
            Event::StreamEnd(_) => {
                self.decoder = None;
                self.in_message = false;
                cx.output(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::compress_http;
    use crate::head::{Head, ResponseHead};
    use crate::testing::{spec, Harness, TestArg};

    fn body() -> String {
        (0..500).map(|i| format!("{i} the quick brown fox\n")).collect()
    }

    #[test]
    fn a_message_compressed_then_decompressed_is_the_same_message_in_any_pieces() {
        for method in ["gzip", "deflate"] {
            for piece in [1, 7, 100, 100_000] {
                let h = Harness::new(vec![
                    spec(&compress_http::DEF, vec![TestArg::Str(method.into())]),
                    spec(&DEF, vec![]),
                ]);
                let mut head = ResponseHead::with_status(200);
                head.headers.set("content-length", body().len().to_string());
                h.input(Event::start(Head::Response(head)));
                for chunk in body().as_bytes().chunks(piece) {
                    h.input(Event::Data(Data::from(chunk.to_vec())));
                }
                h.input(Event::message_end());
                let events = h.out.events();
                let Some(Event::MessageStart(head)) = events.first() else { panic!("{events:?}") };
                let headers = head.headers().unwrap();
                assert!(headers.get("content-encoding").is_none() && headers.get("content-length").is_none());
                assert_eq!(h.out.text(), body(), "{method} in pieces of {piece}");
                assert!(matches!(events.last(), Some(Event::MessageEnd(_))));
                h.input(Event::end());
                h.finish();
            }
        }
    }

    #[test]
    fn a_corrupt_body_ends_the_stream_once() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        let mut head = ResponseHead::with_status(200);
        head.headers.set("content-encoding", "gzip");
        h.input(Event::start(Head::Response(head)));
        h.input(Event::Data(Data::from(b"this is not gzip".to_vec())));
        h.input(Event::Data(Data::from(b"nor this".to_vec())));
        h.input(Event::message_end());
        let events = h.out.events();
        assert_eq!(events.iter().filter(|e| e.is_stream_end()).count(), 1, "{events:?}");
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn answers_with_a_coding_and_no_body_pass_without_an_error() {
        for status in [200, 304] {
            let h = Harness::new(vec![spec(&DEF, vec![])]);
            let mut head = ResponseHead::with_status(status);
            head.headers.set("content-encoding", "gzip");
            h.input(Event::start(Head::Response(head)));
            h.input(Event::message_end());
            let events = h.out.events();
            assert!(matches!(events.last(), Some(Event::MessageEnd(_))), "{status}: {events:?}");
            h.input(Event::end());
            h.finish();
        }
    }
}
