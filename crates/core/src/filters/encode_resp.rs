//! `encodeRESP()`: messages in, the Redis protocol out: each message's
//! MessageEnd payload is written as one RESP value (see `resp::encode`; no
//! payload is null), between the message's MessageStart and MessageEnd. The
//! message's body is not written: the payload is the value.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::Event;
use crate::filters::FilterDef;
use crate::payload::Payload;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `encodeRESP` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "encodeRESP",
    params: "",
    doc: "Encodes each message's MessageEnd payload as one Redis protocol (RESP) value.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, _: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || EncodeResp { in_message: false }))
}

/// The `encodeRESP` filter.
pub struct EncodeResp {
    in_message: bool,
}

impl Filter for EncodeResp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::MessageStart(_) => {
                if !std::mem::replace(&mut self.in_message, true) {
                    cx.output(ev);
                }
            }
            Event::Data(_) => {}
            Event::MessageEnd(tail) => {
                if std::mem::replace(&mut self.in_message, false) {
                    let mut out = Vec::new();
                    crate::resp::encode(tail.payload.as_deref().unwrap_or(&Payload::Null), &mut out);
                    cx.output(Event::Data(Data::from(out)));
                    cx.output(Event::MessageEnd(tail));
                }
            }
            Event::StreamEnd(_) => {
                self.in_message = false;
                cx.output(ev);
            }
        }
    }
}
