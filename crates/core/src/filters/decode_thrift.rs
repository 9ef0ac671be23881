//! `decodeThrift(options?)`: Thrift messages in (binary, old binary or compact
//! protocol, told apart by their first byte), one message out per Thrift
//! message (see `thrift`): a MessageStart whose head is `{protocol, type,
//! seqID, name}`, the message's bytes as its body, and a MessageEnd whose
//! payload is the whole message object, once all of it has come. Bytes that
//! are not Thrift, nesting over 64 levels or a message over `maxMessageSize`
//! end the stream with ProtocolError, logged once.

use crate::args::{ArgResult, Args};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::head::{Head, Tail};
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use crate::thrift::Decoder;
use std::rc::Rc;

/// `decodeThrift` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decodeThrift",
    params: "options?: DecodeThriftOptions",
    doc: "Decodes Thrift messages into messages whose MessageEnd payload is the message object.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[OptionDef::size(
    "maxMessageSize",
    "A message larger than this (its bytes, and what each value costs to hold) ends the stream.",
)
.default_size(16 << 20)];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let limit = def.options_at(args, 0)?.size("maxMessageSize")?;
    Ok(FilterSpec::plain(def.name, move || DecodeThrift { decoder: Decoder::new(limit), failed: false }))
}

/// The `decodeThrift` filter.
pub struct DecodeThrift {
    decoder: Decoder,
    failed: bool,
}

impl Filter for DecodeThrift {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::Data(d) if !self.failed => {
                self.decoder.push(&d);
                loop {
                    match self.decoder.next_message() {
                        Ok(Some(m)) => {
                            cx.output(Event::start(Head::Fields(Rc::new(m.head))));
                            cx.output(Event::Data(m.bytes));
                            let tail = Tail { payload: Some(Rc::new(m.message)), ..Tail::default() };
                            cx.output(Event::MessageEnd(Box::new(tail)));
                        }
                        Ok(None) => break,
                        Err(e) => {
                            tracing::warn!("decodeThrift: {e}; closing");
                            self.failed = true;
                            self.decoder.reset();
                            cx.output(Event::error(StreamError::ProtocolError));
                            break;
                        }
                    }
                }
            }
            Event::Data(_) => {}
            Event::StreamEnd(_) => {
                self.decoder.reset();
                if !std::mem::take(&mut self.failed) {
                    cx.output(ev);
                }
            }
            // Messages in are not Thrift bytes: they pass (until the stream failed).
            other if !self.failed => cx.output(other),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness};

    const PING: &[u8] = b"\x80\x01\x00\x01\x00\x00\x00\x04ping\x00\x00\x00\x01\x00";

    fn kinds(events: &[Event]) -> String {
        events
            .iter()
            .map(|e| match e {
                Event::MessageStart(_) => "<".to_string(),
                Event::Data(d) => d.len().to_string(),
                Event::MessageEnd(t) => format!(">{}", t.payload.is_some()),
                Event::StreamEnd(e) => format!("end:{e:?}"),
            })
            .collect::<Vec<_>>()
            .join(" ")
    }

    #[test]
    fn messages_split_at_every_byte_come_out_the_same_and_garbage_ends_the_stream() {
        let wire = [PING, PING].concat();
        for cut in 0..wire.len() {
            let h = Harness::new(vec![spec(&DEF, vec![])]);
            h.input(Event::Data(wire[..cut].to_vec().into()));
            h.input(Event::Data(wire[cut..].to_vec().into()));
            assert_eq!(kinds(&h.out.events()), "< 17 >true < 17 >true", "cut at {cut}");
            h.finish();
        }
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        h.input(Event::Data([PING, b"\xff"].concat().into()));
        h.input(Event::Data(PING.to_vec().into()));
        assert_eq!(kinds(&h.out.events()), "< 17 >true end:Some(ProtocolError)");
        h.finish();
    }
}
