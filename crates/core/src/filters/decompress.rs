//! `decompress(method, options?)`: inflates a raw stream (gzip or deflate) as
//! its Data events come, at most `maxSize` bytes of it: past that, or on a
//! corrupt stream, the stream ends with an error (logged once). `method` is a
//! name or a function called at the first event. Message events are not passed
//! on (the stream is bytes).

use crate::args::{ArgResult, Args};
use crate::compression::{DecodeError, Decoder};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::compress::{Choice, Picked};
use crate::filters::FilterDef;
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `decompress` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decompress",
    params: "method: 'gzip' | 'deflate' | 'brotli' | (() => string), options?: DecompressOptions",
    doc: "Inflates a raw gzip, deflate or brotli byte stream, bounded by maxSize.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[OptionDef::size(
    "maxSize",
    "Largest stream inflated; past it the stream ends with BufferOverflow (a compression bomb).",
)
.default_size(64 << 20)];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let choice = Rc::new(Choice::from_args(def, args, 0, true)?);
    let max_size = def.options_at(args, 1)?.size("maxSize")?;
    Ok(FilterSpec::plain(def.name, move || Decompress { choice: choice.clone(), max_size, state: State::Unstarted }))
}

enum State {
    Unstarted,
    Inflating(Box<Decoder>),
    Passing,
    Done,
}

/// The `decompress` filter.
pub struct Decompress {
    choice: Rc<Choice>,
    max_size: usize,
    state: State,
}

impl Decompress {
    fn fail(&mut self, why: DecodeError, cx: &mut Cx<'_>) {
        tracing::warn!("decompress: {why}; the stream ends");
        self.state = State::Done;
        cx.output(Event::error(why.stream_error()));
    }
}

impl Filter for Decompress {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if matches!(self.state, State::Unstarted) {
            self.state = match self.choice.pick(cx, crate::callback::Arg::None, DEF.name) {
                Picked::Method(m) => State::Inflating(Box::new(Decoder::new(m, self.max_size))),
                Picked::None => State::Passing,
                Picked::Failed => {
                    self.state = State::Done;
                    return cx.output(Event::error(StreamError::RuntimeError));
                }
            };
        }
        match (ev, &mut self.state) {
            (Event::Data(d), State::Inflating(dec)) => match dec.write(&d.to_vec()) {
                Ok(out) if out.is_empty() => {}
                Ok(out) => cx.output(Event::Data(Data::from(out))),
                Err(e) => self.fail(e, cx),
            },
            (Event::Data(d), State::Passing) => cx.output(Event::Data(d)),
            (ev @ Event::StreamEnd(Some(_)), State::Inflating(_)) => {
                // Cut off upstream: that error is the one to pass on.
                self.state = State::Done;
                cx.output(ev);
            }
            (ev @ Event::StreamEnd(_), State::Inflating(_)) => {
                let State::Inflating(dec) = std::mem::replace(&mut self.state, State::Done) else { unreachable!() };
                match dec.finish() {
                    Ok(out) => {
                        if !out.is_empty() {
                            cx.output(Event::Data(Data::from(out)));
                        }
                        cx.output(ev);
                    }
                    // A stream cut short: the error says so, rather than a clean end.
                    Err(e) => self.fail(e, cx),
                }
            }
            (ev @ Event::StreamEnd(_), State::Passing) => {
                self.state = State::Done;
                cx.output(ev);
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::compress;
    use crate::testing::{spec, Harness, TestArg};

    #[test]
    fn a_stream_compressed_then_decompressed_is_the_same_bytes_in_any_pieces() {
        let text: String = (0..400).map(|i| format!("{i} jumps over the lazy dog\n")).collect();
        for method in ["gzip", "deflate"] {
            for piece in [1, 13, 4096] {
                let h = Harness::new(vec![
                    spec(&compress::DEF, vec![TestArg::Str(method.into())]),
                    spec(&DEF, vec![TestArg::Str(method.into())]),
                ]);
                for chunk in text.as_bytes().chunks(piece) {
                    h.input(Event::Data(Data::from(chunk.to_vec())));
                }
                h.input(Event::end());
                assert_eq!(h.out.text(), text, "{method} in pieces of {piece}");
                assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(None))));
                h.finish();
            }
        }
    }

    #[test]
    fn a_stream_cut_short_ends_with_an_error() {
        let h = Harness::new(vec![spec(&compress::DEF, vec![TestArg::Str("gzip".into())])]);
        h.input(Event::Data(Data::from(vec![b'x'; 10_000])));
        h.input(Event::end());
        let packed: Vec<u8> = h
            .out
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(d.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(&packed[..2], &[0x1f, 0x8b], "a gzip stream");
        h.finish();
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str("gzip".into())])]);
        // The header and part of the body, not the end.
        let bytes: Vec<u8> = packed.iter().copied().take(packed.len() - 4).collect();
        h.input(Event::Data(Data::from(bytes)));
        h.input(Event::end());
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.finish();
    }

    #[test]
    fn a_stream_cut_off_upstream_ends_with_the_upstream_s_error() {
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::Str("gzip".into())])]);
        h.input(Event::Data(Data::from(vec![0x1f, 0x8b, 8, 0])));
        h.input(Event::error(StreamError::ConnectionReset));
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ConnectionReset)))));
        h.finish();
    }
}
