//! `decodeDubbo()`: Dubbo frames in, one message per frame out: a
//! MessageStart whose head is the frame header (`{requestID, isRequest,
//! isTwoWay, isEvent, serializationType, status}`), the body as it arrives
//! (not buffered), and a MessageEnd when the body's length is reached. A
//! frame that does not start with Dubbo's magic, or declares a body over
//! `maxMessageSize`, ends the stream with ProtocolError, logged once.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::head::Head;
use crate::options::OptionDef;
use crate::payload::Payload;
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `decodeDubbo` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decodeDubbo",
    params: "options?: DecodeDubboOptions",
    doc: "Decodes Dubbo frames into messages: the frame header as the head, the body streamed.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] =
    &[OptionDef::size("maxMessageSize", "A frame declaring a larger body ends the stream.").default_size(16 << 20)];

/// Bytes in a frame header.
pub const HEADER: usize = 16;

/// The first two bytes of every frame.
pub const MAGIC: [u8; 2] = [0xda, 0xbb];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let limit = def.options_at(args, 0)?.size("maxMessageSize")?;
    Ok(FilterSpec::plain(def.name, move || DecodeDubbo { limit, header: Vec::new(), left: None, failed: false }))
}

/// The `decodeDubbo` filter.
pub struct DecodeDubbo {
    limit: usize,
    header: Vec<u8>,
    /// Body bytes still to come in the current frame.
    left: Option<usize>,
    failed: bool,
}

/// A frame header as the head scripts see.
fn head(h: &[u8]) -> Payload {
    let flags = h[2];
    let id = u64::from_be_bytes(h[4..12].try_into().expect("eight bytes"));
    Payload::Map(vec![
        // An id a script number cannot hold exactly (past 2^53) is its decimal text.
        ("requestID".into(), if id <= 1 << 53 { Payload::Int(id as i64) } else { Payload::Str(id.to_string()) }),
        ("isRequest".into(), Payload::Bool(flags & 0x80 != 0)),
        ("isTwoWay".into(), Payload::Bool(flags & 0x40 != 0)),
        ("isEvent".into(), Payload::Bool(flags & 0x20 != 0)),
        ("serializationType".into(), Payload::Int((flags & 0x1f) as i64)),
        ("status".into(), Payload::Int(h[3] as i64)),
    ])
}

impl DecodeDubbo {
    fn input(&mut self, mut d: Data, cx: &mut Cx<'_>) {
        while !d.is_empty() {
            match self.left {
                Some(n) => {
                    let piece = d.shift(n.min(d.len()));
                    let n = n - piece.len();
                    cx.output(Event::Data(piece));
                    self.left = Some(n);
                    if n == 0 {
                        self.left = None;
                        cx.output(Event::message_end());
                    }
                }
                None => {
                    let want = HEADER - self.header.len();
                    self.header.extend_from_slice(&d.shift(want.min(d.len())).to_vec());
                    if self.header.len() < HEADER {
                        return;
                    }
                    let h = std::mem::take(&mut self.header);
                    let size = u32::from_be_bytes(h[12..16].try_into().expect("four bytes")) as usize;
                    if h[..2] != MAGIC || size > self.limit {
                        let why = if h[..2] != MAGIC { "not a Dubbo frame" } else { "a body over maxMessageSize" };
                        tracing::warn!("decodeDubbo: {why}; closing");
                        self.failed = true;
                        return cx.output(Event::error(StreamError::ProtocolError));
                    }
                    cx.output(Event::start(Head::Fields(Rc::new(head(&h)))));
                    if size == 0 {
                        cx.output(Event::message_end());
                    } else {
                        self.left = Some(size);
                    }
                }
            }
        }
    }
}

impl Filter for DecodeDubbo {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            Event::Data(d) => self.input(d, cx),
            Event::StreamEnd(_) => {
                // A frame cut short ends with the stream.
                if self.left.take().is_some() {
                    cx.output(Event::message_end());
                }
                self.header.clear();
                cx.output(ev);
            }
            // Messages in are not Dubbo bytes: they pass.
            other => cx.output(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness};

    /// A two-way request (id 7, Hessian) with body "abc", then an event frame with no body.
    const FRAMES: &[u8] = b"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x03abc\xda\xbb\x22\x14\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00";

    fn run(pieces: &[&[u8]]) -> String {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        for p in pieces {
            h.input(Event::Data(p.to_vec().into()));
        }
        let mut out = String::new();
        for e in h.out.events() {
            match e {
                Event::MessageStart(head) => {
                    let Head::Fields(f) = &*head else { panic!("a Dubbo head") };
                    let n = |k| f.get(k).map_or(-1, |v| v.to_i64());
                    let b = |k| f.get(k).is_some_and(|v| v.truthy());
                    out += &format!(
                        "<{} {} {} {} {} {}>",
                        n("requestID"),
                        b("isRequest"),
                        b("isTwoWay"),
                        b("isEvent"),
                        n("serializationType"),
                        n("status")
                    );
                }
                Event::Data(d) => out += &String::from_utf8_lossy(&d.to_vec()),
                Event::MessageEnd(_) => out += "|",
                Event::StreamEnd(e) => out += &format!("end:{e:?}"),
            }
        }
        h.finish();
        out
    }

    #[test]
    fn frames_split_at_every_byte_decode_the_same_and_garbage_ends_the_stream() {
        let want = "<7 true true false 2 0>abc|<8 false false true 2 20>|";
        assert_eq!(run(&[FRAMES]), want);
        for cut in 0..=FRAMES.len() {
            assert_eq!(run(&[&FRAMES[..cut], &FRAMES[cut..]]), want, "cut at {cut}");
        }
        assert_eq!(run(&[b"GET / HTTP/1.1\r\n\r\n"]), "end:Some(ProtocolError)");
        assert_eq!(
            run(&[b"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x00\x00\x07\x7f\xff\xff\xff"]),
            "end:Some(ProtocolError)"
        );
    }
}
