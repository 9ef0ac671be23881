//! `encodeThrift()`: messages in, Thrift messages out: each message's
//! MessageEnd payload is a message object as `decodeThrift` gives it (or an
//! array of them), written in the protocol it names (compact when it names
//! none) when the message ends; the message's body is not written. A message
//! without a payload object writes nothing.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::Event;
use crate::filters::FilterDef;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `encodeThrift` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "encodeThrift",
    params: "",
    doc: "Encodes the message object in each MessageEnd payload as a Thrift message.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, _: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || EncodeThrift { started: false }))
}

/// The `encodeThrift` filter.
pub struct EncodeThrift {
    started: bool,
}

impl Filter for EncodeThrift {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::MessageStart(_) => {
                if !std::mem::replace(&mut self.started, true) {
                    cx.output(ev);
                }
            }
            Event::Data(_) => {}
            Event::MessageEnd(tail) => {
                if std::mem::take(&mut self.started) {
                    if let Some(payload) = tail.payload.as_deref() {
                        let mut out = Vec::new();
                        crate::thrift::encode(payload, &mut out);
                        if !out.is_empty() {
                            cx.output(Event::Data(Data::from(out)));
                        }
                    }
                    cx.output(Event::MessageEnd(tail));
                }
            }
            Event::StreamEnd(_) => {
                self.started = false;
                cx.output(ev);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness};

    #[test]
    fn decoded_messages_encode_to_the_bytes_they_came_from() {
        let wire: &[u8] = b"\x82\x21\x05\x03add\x15\x02\x15\x04\x00\x80\x01\x00\x02\x00\x00\x00\x03add\x00\x00\x00\x05\x08\x00\x00\x00\x00\x00\x03\x00";
        let h = Harness::new(vec![spec(&crate::filters::decode_thrift::DEF, vec![]), spec(&DEF, vec![])]);
        h.input(Event::Data(wire.to_vec().into()));
        let bytes: Vec<u8> = h
            .out
            .events()
            .iter()
            .filter_map(|e| match e {
                Event::Data(d) => Some(d.to_vec()),
                _ => None,
            })
            .flatten()
            .collect();
        assert_eq!(bytes, wire);
        h.finish();
    }
}
