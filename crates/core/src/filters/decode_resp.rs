//! `decodeRESP(options?)`: the Redis protocol in, one message per top-level
//! value out: a MessageStart (no head) at the value's first byte, and a
//! MessageEnd whose payload is the value (text, an Error, a number, Data for a
//! bulk string, an array, or null), when it is whole. Bytes that are not RESP,
//! a line over 64 KiB, nesting over 128 levels or a value over
//! `maxMessageSize` end the stream with ProtocolError, logged once.

use crate::args::{ArgResult, Args};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::head::{Head, Tail};
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use crate::resp::{Decoder, Found};
use std::rc::Rc;

/// `decodeRESP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decodeRESP",
    params: "options?: DecodeRESPOptions",
    doc: "Decodes the Redis protocol (RESP) into messages whose MessageEnd payload is each value.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[OptionDef::size(
    "maxMessageSize",
    "A value larger than this (its bytes, and what each element costs to hold) ends the stream.",
)
.default_size(32 << 20)];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let limit = def.options_at(args, 0)?.size("maxMessageSize")?;
    Ok(FilterSpec::plain(def.name, move || DecodeResp { decoder: Decoder::new(limit), limit, failed: false }))
}

/// The `decodeRESP` filter.
pub struct DecodeResp {
    decoder: Decoder,
    limit: usize,
    failed: bool,
}

impl Filter for DecodeResp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            Event::Data(d) => {
                let mut give = |f: Found| {
                    cx.output(match f {
                        Found::Start => Event::start(Head::None),
                        Found::Value(v) => {
                            Event::MessageEnd(Box::new(Tail { payload: Some(Rc::new(v)), ..Tail::default() }))
                        }
                    })
                };
                let result = d.chunks().try_for_each(|chunk| self.decoder.feed(chunk, &mut give));
                if let Err(e) = result {
                    tracing::warn!("decodeRESP: {e}; closing");
                    self.failed = true;
                    cx.output(Event::error(StreamError::ProtocolError));
                }
            }
            Event::StreamEnd(_) => {
                self.decoder = Decoder::new(self.limit);
                cx.output(ev);
            }
            // Messages in are not RESP bytes: they pass.
            other => cx.output(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;
    use crate::testing::{spec, Harness};

    #[test]
    fn each_value_is_a_message_with_its_payload_and_garbage_ends_the_stream() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        h.input(Event::Data("+OK\r\n:1".into()));
        h.input(Event::Data("2\r\n?".into()));
        let events = h.out.events();
        let payloads: Vec<Payload> = events
            .iter()
            .filter_map(|e| match e {
                Event::MessageEnd(t) => t.payload.as_deref().cloned(),
                _ => None,
            })
            .collect();
        assert_eq!(payloads, vec![Payload::Str("OK".into()), Payload::Int(12)]);
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.finish();
    }
}
