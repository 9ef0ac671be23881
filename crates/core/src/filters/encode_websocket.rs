//! `encodeWebSocket()`: messages in, WebSocket frames out. A message's head
//! says its opcode and whether to mask (`{ opcode, masked }`; a message
//! without one is unmasked text). Its body goes as frames of at most 16 KiB
//! (a longer one fragmented, as it streams), the last one final; a control
//! message (close, ping, pong) is one frame, its payload cut to 125 bytes.
//! Masked frames get a fresh random key each. Only the frames (Data) and the
//! StreamEnd go out.

use crate::args::{ArgResult, Args};
use crate::data::Data;
use crate::event::Event;
use crate::filters::FilterDef;
use crate::head::Head;
use crate::pipeline::{Cx, Filter, FilterSpec};
use crate::websocket::{frame, opcode, MAX_CONTROL};
use std::hash::{BuildHasher, Hasher};

/// `encodeWebSocket` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "encodeWebSocket",
    params: "",
    doc: "Encodes messages (head: opcode, masked) into WebSocket frames.",
    options: &[],
    build,
};

/// Body bytes past which a data message goes out as a fragment.
pub const FRAGMENT: usize = 16 * 1024;

fn build(def: &'static FilterDef, _args: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || EncodeWebSocket {
        message: None,
        body: Data::new(),
        continuation: false,
        keys: MaskKeys::default(),
    }))
}

/// Masking keys: unpredictable to whoever sees the frames (RFC 6455 §10.3).
struct MaskKeys(std::collections::hash_map::DefaultHasher, u64);

impl Default for MaskKeys {
    fn default() -> Self {
        MaskKeys(std::collections::hash_map::RandomState::new().build_hasher(), 0)
    }
}

impl MaskKeys {
    fn next(&mut self) -> [u8; 4] {
        self.1 += 1;
        self.0.write_u64(self.1);
        (self.0.finish() as u32).to_be_bytes()
    }
}

/// The `encodeWebSocket` filter.
pub struct EncodeWebSocket {
    /// The opcode and masking of the message being encoded.
    message: Option<(u8, bool)>,
    body: Data,
    /// A fragment of the message went out: the next frame continues it.
    continuation: bool,
    keys: MaskKeys,
}

impl EncodeWebSocket {
    fn send(&mut self, fin: bool, cx: &mut Cx<'_>) {
        let Some((op, masked)) = self.message else { return };
        let op = if self.continuation { opcode::CONTINUATION } else { op };
        let mask = masked.then(|| self.keys.next());
        let body = if fin { std::mem::take(&mut self.body) } else { self.body.shift(FRAGMENT) };
        cx.output(Event::Data(frame(fin, op, mask, &body)));
        self.continuation = !fin;
    }
}

impl Filter for EncodeWebSocket {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::MessageStart(head) => {
                if self.message.is_none() {
                    let (op, masked) = match &*head {
                        Head::WebSocket(f) => (f.opcode, f.masked),
                        _ => (opcode::TEXT, false),
                    };
                    if !matches!(op, opcode::TEXT | opcode::BINARY | opcode::CLOSE | opcode::PING | opcode::PONG) {
                        tracing::warn!(
                            op,
                            "encodeWebSocket: a message with an opcode no frame may start with; dropped"
                        );
                        return;
                    }
                    self.message = Some((op, masked));
                    self.body = Data::new();
                    self.continuation = false;
                }
            }
            Event::Data(d) => {
                let Some((op, _)) = self.message else { return };
                if op >= 8 {
                    // A control frame carries at most 125 bytes: the rest is not kept.
                    let room = (MAX_CONTROL + 1).saturating_sub(self.body.len());
                    let mut d = d;
                    if d.len() > room {
                        d = d.shift(room);
                    }
                    self.body.push(d);
                    return;
                }
                self.body.push(d);
                if op < 8 {
                    while self.body.len() > FRAGMENT {
                        self.send(false, cx);
                    }
                }
            }
            Event::MessageEnd(_) => {
                let Some((op, _)) = self.message else { return };
                if op >= 8 && self.body.len() > MAX_CONTROL {
                    tracing::warn!(
                        op,
                        size = self.body.len(),
                        "encodeWebSocket: a control message over 125 bytes; cut"
                    );
                    self.body = self.body.shift(MAX_CONTROL);
                }
                self.send(true, cx);
                self.message = None;
            }
            Event::StreamEnd(_) => cx.output(ev),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::decode_websocket;
    use crate::head::FrameHead;
    use crate::testing::{spec, Harness};
    use crate::Message;

    fn ws(opcode: u8, masked: bool) -> Head {
        Head::WebSocket(FrameHead { opcode, masked })
    }

    #[test]
    fn encoded_messages_decode_to_themselves_long_ones_fragmented() {
        let h = Harness::new(vec![spec(&DEF, vec![]), spec(&decode_websocket::DEF, vec![])]);
        let long = "z".repeat(3 * FRAGMENT + 5);
        for ev in Message::new(ws(opcode::BINARY, true), long.clone()).into_events() {
            h.input(ev);
        }
        for ev in Message::new(Head::None, "plain").into_events() {
            h.input(ev);
        }
        for ev in Message::new(ws(opcode::PING, false), "x".repeat(200)).into_events() {
            h.input(ev);
        }
        let starts: Vec<Head> = h
            .out
            .events()
            .iter()
            .filter_map(|e| if let Event::MessageStart(h) = e { Some((**h).clone()) } else { None })
            .collect();
        assert_eq!(starts, vec![ws(2, true), ws(1, false), ws(9, false)]);
        assert_eq!(h.out.text(), format!("{long}plain{}", "x".repeat(125)));
        h.input(Event::end());
        h.finish();
    }

    #[test]
    fn a_long_body_goes_as_it_streams_and_masks_differ_per_frame() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        h.input(Event::start(ws(opcode::TEXT, true)));
        h.input(Event::Data(Data::from("a".repeat(2 * FRAGMENT + 1))));
        let frames: Vec<Vec<u8>> = h
            .out
            .events()
            .iter()
            .filter_map(|e| if let Event::Data(d) = e { Some(d.to_vec()) } else { None })
            .collect();
        assert_eq!(frames.len(), 2, "two fragments before the end");
        assert_eq!(frames[0][0], 0x01, "text, not final");
        assert_eq!(frames[1][0], 0x00, "a continuation");
        assert_ne!(frames[0][4..8], frames[1][4..8], "a fresh key per frame");
        h.input(Event::message_end());
        h.input(Event::end());
        h.finish();
    }
}
