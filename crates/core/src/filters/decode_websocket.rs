//! `decodeWebSocket(options?)`: WebSocket frames in, messages out: a
//! MessageStart whose head is `{ opcode, masked }` at a message's first frame,
//! its unmasked payload as Data as it streams (fragments joined), MessageEnd
//! after its final frame. Control frames (close, ping, pong) are messages of
//! their own; one that comes inside a fragmented message follows it. Frames
//! that break RFC 6455 end the stream with ProtocolError, after a close message
//! with the code that says why (1002; 1009 for a message over
//! `maxMessageSize`; 1008 for more than 8 pings inside one fragmented message),
//! for an echoing pipeline to send; a message open then is ended first.

use crate::args::ArgResult;
use crate::args::Args;
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::head::{FrameHead, Head};
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};
use crate::websocket::{opcode, DecodeError, Decoder, Limits};

/// `decodeWebSocket` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decodeWebSocket",
    params: "options?: DecodeWebSocketOptions",
    doc: "Decodes WebSocket frames into messages (head: opcode, masked), payloads streaming.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::bool(
        "requireMask",
        "Frames must be masked, as a server must ask of its clients; an unmasked one is a protocol error.",
    )
    .default_bool(false),
    OptionDef::size("maxMessageSize", "A message whose payload grows past this ends the stream (close code 1009).")
        .default_size(64 << 20),
];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let r = def.options_at(args, 0)?;
    let limits = Limits { require_mask: r.bool("requireMask")?, max_message_size: r.size("maxMessageSize")? as u64 };
    Ok(FilterSpec::plain(def.name, move || DecodeWebSocket { decoder: Decoder::new(limits), failed: false }))
}

/// The `decodeWebSocket` filter.
pub struct DecodeWebSocket {
    decoder: Decoder,
    failed: bool,
}

impl DecodeWebSocket {
    fn fail(&mut self, err: DecodeError, cx: &mut Cx<'_>) {
        tracing::warn!(code = err.code, "decodeWebSocket: {}; closing", err.why);
        self.failed = true;
        {
            if self.decoder.in_message() {
                // The message cut off ends, so that the close can follow it.
                cx.output(Event::message_end());
            }
            let mut payload = err.code.to_be_bytes().to_vec();
            payload.extend_from_slice(err.why.as_bytes());
            payload.truncate(crate::websocket::MAX_CONTROL);
            cx.output(Event::start(Head::WebSocket(FrameHead { opcode: opcode::CLOSE, masked: false })));
            cx.output(Event::Data(Data::from(payload)));
            cx.output(Event::message_end());
        }
        cx.output(Event::error(StreamError::ProtocolError));
    }
}

impl Filter for DecodeWebSocket {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        match ev {
            Event::Data(d) => {
                if let Err(e) = self.decoder.input(d, &mut |ev| cx.output(ev)) {
                    self.fail(e, cx);
                }
            }
            Event::StreamEnd(_) => cx.output(ev),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{spec, Harness, TestArg};
    use crate::websocket::frame;

    #[test]
    fn frames_become_messages_and_a_bad_one_is_answered_with_a_close_message() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        h.input(Event::Data(frame(true, opcode::TEXT, Some([9, 8, 7, 6]), &Data::from("hi"))));
        h.input(Event::Data(Data::from(vec![0x83, 0])));
        let evs = h.out.events();
        assert!(
            matches!(&evs[0], Event::MessageStart(h) if **h == Head::WebSocket(FrameHead { opcode: 1, masked: true }))
        );
        assert!(
            matches!(&evs[3], Event::MessageStart(h) if **h == Head::WebSocket(FrameHead { opcode: 8, masked: false }))
        );
        let Event::Data(close) = &evs[4] else { panic!("{evs:?}") };
        assert_eq!(&close.to_vec()[..2], &1002u16.to_be_bytes());
        assert!(matches!(evs.last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        assert_eq!(h.out.text(), format!("hi{}", String::from_utf8_lossy(&close.to_vec())));
        h.finish();
    }

    #[test]
    fn a_server_side_decoder_refuses_unmasked_frames() {
        let opts = vec![("requireMask".to_string(), crate::OptValue::Bool(true))];
        let h = Harness::new(vec![spec(&DEF, vec![TestArg::OptionValues(opts)])]);
        h.input(Event::Data(frame(true, opcode::TEXT, None, &Data::from("hi"))));
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.finish();
    }
}
