//! `encodeMQTT()`: messages in, MQTT packets out: each message's head gives
//! the packet's fields (as `decodeMQTT` makes them), its body a PUBLISH's
//! application message, and its MessageEnd payload the payload object of a
//! CONNECT, SUBSCRIBE, SUBACK, UNSUBSCRIBE or UNSUBACK (see `mqtt::encode`).
//! A head without `protocolLevel` is written at the level of the last CONNECT
//! this stream wrote, else 5 (as Pipy writes it). A message whose head has no
//! packet `type` writes nothing.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::Event;
use crate::filters::FilterDef;
use crate::head::Head;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `encodeMQTT` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "encodeMQTT",
    params: "",
    doc: "Encodes messages into MQTT packets: fields from the head, application message from the body.",
    options: &[],
    build,
};

/// Longest PUBLISH body held while its message arrives (the most MQTT can carry).
const MAX_BODY: usize = 268_435_455;

fn build(def: &'static FilterDef, _: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || EncodeMqtt { head: None, body: Data::new(), level: 5 }))
}

/// The `encodeMQTT` filter.
pub struct EncodeMqtt {
    head: Option<Box<Head>>,
    body: Data,
    level: u8,
}

impl Filter for EncodeMqtt {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::MessageStart(head) => {
                if self.head.is_none() {
                    self.head = Some(head.clone());
                    self.body = Data::new();
                    cx.output(Event::MessageStart(head));
                }
            }
            Event::Data(d) => {
                if self.head.is_some() && self.body.len() + d.len() <= MAX_BODY {
                    self.body.push(d);
                }
            }
            Event::MessageEnd(tail) => {
                let Some(head) = self.head.take() else { return };
                if let Head::Fields(fields) = &*head {
                    if fields.get("type").and_then(|t| t.text()).as_deref() == Some("CONNECT") {
                        if let Some(l) = fields.get("protocolLevel") {
                            self.level = l.to_i64().clamp(0, 255) as u8;
                        }
                    }
                    let mut out = Vec::new();
                    let body = std::mem::take(&mut self.body);
                    crate::mqtt::encode(fields, tail.payload.as_deref(), &body, self.level, &mut out);
                    if !out.is_empty() {
                        cx.output(Event::Data(Data::from(out)));
                    }
                }
                cx.output(Event::MessageEnd(tail));
            }
            Event::StreamEnd(_) => {
                self.head = None;
                self.body = Data::new();
                self.level = 5;
                cx.output(ev);
            }
        }
    }
}
