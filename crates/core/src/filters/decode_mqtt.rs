//! `decodeMQTT(options?)`: MQTT 3.1.1 / 5.0 packets in, one message per packet
//! out (see `mqtt`): the head holds the packet's fields, the body what follows
//! its variable header (a PUBLISH's application message), and the MessageEnd
//! payload the packet's payload object where it has one. The protocol level is
//! the CONNECT's, else `protocolLevel`. A malformed packet or one over
//! `maxPacketSize` ends the stream with ProtocolError, logged once.

use crate::args::{ArgResult, Args, OptValue};
use crate::callback::{Arg, Callback, Returned, Want};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::head::{Head, Tail};
use crate::mqtt::{decode, Framer};
use crate::options::{OptionDef, Ty};
use crate::pipeline::{Cx, Filter, FilterSpec};
use std::rc::Rc;

/// `decodeMQTT` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decodeMQTT",
    params: "options?: DecodeMQTTOptions",
    doc: "Decodes MQTT packets into messages: fields in the head, application message in the body.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::new(
        "protocolLevel",
        &[Ty::Int, Ty::Function],
        "The protocol level (4: MQTT 3.1.1, 5: MQTT 5.0) of a stream that has no CONNECT (a broker's answers), or a function returning it, called at the first packet.",
    )
    .absent("5, reading a packet without properties as having none"),
    OptionDef::size("maxPacketSize", "A packet larger than this ends the stream.").default_size(16 << 20),
];

#[derive(Clone)]
enum Level {
    Unknown,
    Fixed(u8),
    Chosen(Rc<dyn Callback>),
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let r = def.options_at(args, 0)?;
    let level = match r.raw("protocolLevel")? {
        Some(OptValue::Callback(cb)) => Level::Chosen(cb),
        Some(OptValue::Number(n)) => Level::Fixed(n.clamp(0.0, 255.0) as u8),
        _ => Level::Unknown,
    };
    let limit = r.size("maxPacketSize")?;
    Ok(FilterSpec::plain(def.name, move || DecodeMqtt {
        framer: Framer::new(limit),
        limit,
        option: level.clone(),
        level: None,
        asked: false,
        failed: false,
    }))
}

/// The `decodeMQTT` filter.
pub struct DecodeMqtt {
    framer: Framer,
    limit: usize,
    option: Level,
    /// The stream's protocol level, once known.
    level: Option<u8>,
    asked: bool,
    failed: bool,
}

impl DecodeMqtt {
    fn fail(&mut self, why: &str, cx: &mut Cx<'_>) {
        tracing::warn!("decodeMQTT: {why}; closing");
        self.failed = true;
        cx.output(Event::error(StreamError::ProtocolError));
    }
}

impl Filter for DecodeMqtt {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            Event::Data(d) => {
                self.framer.push(d);
                loop {
                    let (first, rest) = match self.framer.next_packet() {
                        Ok(Some(p)) => p,
                        Ok(None) => return,
                        Err(why) => return self.fail(why, cx),
                    };
                    if !std::mem::replace(&mut self.asked, true) {
                        self.level = match &self.option {
                            Level::Unknown => None,
                            Level::Fixed(n) => Some(*n),
                            Level::Chosen(cb) => match cb.call(cx.context(), Arg::None, Want::Number) {
                                Ok(Returned::Number(Some(n))) => Some(n.clamp(0.0, 255.0) as u8),
                                Ok(_) => None,
                                Err(e) => {
                                    self.failed = true;
                                    return cx.fail(&e, "decodeMQTT");
                                }
                            },
                        };
                    }
                    let packet = match decode(first, rest, &mut self.level) {
                        Ok(p) => p,
                        Err(why) => return self.fail(why, cx),
                    };
                    cx.output(Event::start(Head::Fields(Rc::new(packet.head))));
                    if !packet.body.is_empty() {
                        cx.output(Event::Data(packet.body));
                    }
                    let tail = Tail { payload: packet.payload.map(Rc::new), ..Tail::default() };
                    cx.output(Event::MessageEnd(Box::new(tail)));
                }
            }
            Event::StreamEnd(_) => {
                self.framer = Framer::new(self.limit);
                self.level = None;
                self.asked = false;
                cx.output(ev);
            }
            // Messages in are not MQTT bytes: they pass.
            other => cx.output(other),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::payload::Payload;
    use crate::testing::{spec, Harness};

    const STREAM: &[u8] = b"\x10\x10\x00\x04MQTT\x04\x02\x00\x3c\x00\x04abcd\x32\x08\x00\x01t\x00\x09hey\xc0\x00";

    fn types(events: &[Event]) -> Vec<String> {
        events
            .iter()
            .filter_map(|e| match e {
                Event::MessageStart(h) => h.field("type").and_then(|t| t.text()).map(|t| t.into_owned()),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn packets_split_at_every_byte_decode_the_same() {
        for cut in 1..STREAM.len() {
            let h = Harness::new(vec![spec(&DEF, vec![])]);
            h.input(Event::Data(STREAM[..cut].to_vec().into()));
            h.input(Event::Data(STREAM[cut..].to_vec().into()));
            let events = h.finish();
            assert_eq!(types(&events), ["CONNECT", "PUBLISH", "PINGREQ"], "cut at {cut}");
            let body: Vec<u8> = events
                .iter()
                .filter_map(|e| if let Event::Data(d) = e { Some(d.to_vec()) } else { None })
                .flatten()
                .collect();
            // The CONNECT's payload bytes, then the PUBLISH's message.
            assert_eq!(body, b"\x00\x04abcdhey");
        }
    }

    #[test]
    fn a_connect_payload_rides_on_the_message_end_and_garbage_ends_the_stream() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        h.input(Event::Data(STREAM.to_vec().into()));
        h.input(Event::Data(b"\x00\x00".to_vec().into()));
        let events = h.out.events();
        let Some(Event::MessageEnd(t)) = events.iter().find(|e| matches!(e, Event::MessageEnd(_))) else { panic!() };
        assert_eq!(t.payload.as_ref().unwrap().get("clientID"), Some(&Payload::Str("abcd".into())));
        assert!(matches!(events.last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.finish();
    }

    #[test]
    fn a_large_packet_sent_a_byte_at_a_time_is_read_once_whole() {
        // A 256 KiB PUBLISH (QoS 0, topic "t", MQTT 3.1.1) after a CONNECT, one byte per Data.
        let body = vec![b'x'; 256 << 10];
        let len = 3 + body.len();
        let mut wire = STREAM[..18].to_vec();
        wire.push(0x30);
        let mut n = len;
        loop {
            let b = (n % 128) as u8;
            n /= 128;
            wire.push(if n > 0 { b | 0x80 } else { b });
            if n == 0 {
                break;
            }
        }
        wire.extend_from_slice(b"\x00\x01t");
        wire.extend_from_slice(&body);
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        for b in &wire {
            h.input(Event::Data(vec![*b].into()));
        }
        let events = h.finish();
        assert_eq!(types(&events), ["CONNECT", "PUBLISH"]);
        let size: usize = events.iter().map(|e| if let Event::Data(d) = e { d.len() } else { 0 }).sum();
        assert_eq!(size, 6 + body.len(), "the CONNECT's payload bytes and the whole message");
    }
}
