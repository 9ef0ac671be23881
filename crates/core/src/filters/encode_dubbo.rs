//! `encodeDubbo()`: messages in, Dubbo frames out: each message's head gives
//! the frame header (`requestID`, `isRequest`, `isTwoWay`, `isEvent`,
//! `serializationType`, `status`, as `decodeDubbo` makes them; missing ones
//! are 0 or false, a missing `serializationType` is 2, Hessian), and its body,
//! held until the message ends so its length can be written first, is the
//! frame's body. A body over 64 MiB ends the stream with BufferOverflow.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::{Collected, Event, MessageCollector, StreamError};
use crate::filters::decode_dubbo::MAGIC;
use crate::filters::FilterDef;
use crate::head::Head;
use crate::payload::Payload;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `encodeDubbo` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "encodeDubbo",
    params: "",
    doc: "Encodes messages into Dubbo frames: the head as the frame header, the body after it.",
    options: &[],
    build,
};

/// Largest body held while its message arrives.
const MAX_BODY: usize = 64 << 20;

fn build(def: &'static FilterDef, _: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || EncodeDubbo { collector: MessageCollector::new(Some(MAX_BODY)), failed: false }))
}

/// The `encodeDubbo` filter.
pub struct EncodeDubbo {
    /// The message being gathered: its length goes in the header.
    collector: MessageCollector,
    /// A body overflowed: the stream has ended.
    failed: bool,
}

/// The 16-byte frame header for `head` and a body of `size` bytes.
fn header(head: &Head, size: usize) -> [u8; 16] {
    let empty = Payload::Map(Vec::new());
    let f = match head {
        Head::Fields(f) => &**f,
        _ => &empty,
    };
    let int = |k: &str, default: i64| f.get(k).map_or(default, |v| v.to_i64());
    let flag = |k: &str, bit: u8| if f.get(k).is_some_and(|v| v.truthy()) { bit } else { 0 };
    let mut h = [0u8; 16];
    h[..2].copy_from_slice(&MAGIC);
    h[2] = (int("serializationType", 2) as u8 & 0x1f)
        | flag("isRequest", 0x80)
        | flag("isTwoWay", 0x40)
        | flag("isEvent", 0x20);
    h[3] = int("status", 0) as u8;
    let id = match f.get("requestID") {
        Some(Payload::Number(n)) if *n >= 0.0 => *n as u64,
        Some(Payload::Str(s)) if s.trim().parse::<u64>().is_ok() => s.trim().parse::<u64>().unwrap_or(0),
        Some(v) => v.to_i64() as u64,
        None => 0,
    };
    h[4..12].copy_from_slice(&id.to_be_bytes());
    h[12..16].copy_from_slice(&(size as u32).to_be_bytes());
    h
}

impl Filter for EncodeDubbo {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match self.collector.feed(ev) {
            Collected::Taken => {}
            Collected::Message(m) => {
                let mut frame = Data::from(header(&m.head, m.body.len()).to_vec());
                frame.push(m.body);
                cx.output(Event::start(m.head));
                cx.output(Event::Data(frame));
                cx.output(Event::MessageEnd(Box::new(m.tail)));
            }
            Collected::Overflow => {
                tracing::error!("encodeDubbo: a message body over 64 MiB");
                self.failed = true;
                cx.output(Event::error(StreamError::BufferOverflow));
            }
            Collected::Other(ev @ Event::StreamEnd(_)) => {
                self.collector.clear();
                cx.output(ev);
            }
            // Data or an end outside a message is no frame.
            Collected::Other(_) => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness};

    #[test]
    fn decoded_frames_encode_to_the_bytes_they_came_from() {
        let wire: &[u8] = b"\xda\xbb\xc2\x00\x00\x00\x00\x00\x00\x00\x00\x07\x00\x00\x00\x03abc\xda\xbb\x22\x14\x00\x00\x00\x00\x00\x00\x00\x08\x00\x00\x00\x00";
        let h = Harness::new(vec![spec(&crate::filters::decode_dubbo::DEF, vec![]), spec(&DEF, vec![])]);
        for piece in wire.chunks(5) {
            h.input(Event::Data(piece.to_vec().into()));
        }
        assert_eq!(h.out.bytes(), wire);
        h.finish();
    }
}
