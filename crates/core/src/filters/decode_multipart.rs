//! `decodeMultipart()`: a message whose head says `content-type: multipart/...;
//! boundary=...` becomes one message per part (see `multipart`), the part's
//! header fields as its head, as the body arrives; the enclosing message's own
//! start and end are not passed on. Other messages pass as they are. A part
//! header over 64 KiB ends the stream with ProtocolError.

use crate::args::{ArgResult, Args};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::multipart::{boundary, Parser};
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `decodeMultipart` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "decodeMultipart",
    params: "",
    doc: "Splits each multipart message into one message per part.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, _: &mut dyn Args) -> ArgResult<FilterSpec> {
    Ok(FilterSpec::plain(def.name, || DecodeMultipart { parser: None, failed: false }))
}

/// The `decodeMultipart` filter.
pub struct DecodeMultipart {
    /// The parser of the multipart message under way.
    parser: Option<Parser>,
    failed: bool,
}

impl DecodeMultipart {
    fn fail(&mut self, why: &str, cx: &mut Cx<'_>) {
        tracing::warn!("decodeMultipart: {why}; closing");
        self.failed = true;
        self.parser = None;
        cx.output(Event::error(StreamError::ProtocolError));
    }
}

impl Filter for DecodeMultipart {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        let Some(parser) = &mut self.parser else {
            if let Event::MessageStart(head) = &ev {
                let b = head.headers().and_then(|h| h.get("content-type")).and_then(boundary);
                if let Some(b) = b {
                    self.parser = Some(Parser::new(b));
                    return;
                }
            }
            return cx.output(ev);
        };
        let result = match ev {
            Event::MessageStart(_) => Ok(()),
            Event::Data(d) => d.into_chunks().try_for_each(|c| parser.feed(c, &mut |e| cx.output(e))),
            Event::MessageEnd(_) | Event::StreamEnd(_) => {
                let r = parser.end(&mut |e| cx.output(e));
                self.parser = None;
                if let Event::StreamEnd(_) = ev {
                    cx.output(ev);
                }
                r
            }
        };
        if let Err(why) = result {
            self.fail(why, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::head::{Head, ResponseHead};
    use crate::testing::{spec, Harness};

    #[test]
    fn a_multipart_message_becomes_its_parts_and_others_pass() {
        let h = Harness::new(vec![spec(&DEF, vec![])]);
        let mut head = ResponseHead::default();
        head.headers.set("content-type", "multipart/mixed; boundary=b");
        h.input(Event::start(Head::Response(head)));
        h.input(Event::Data("--b\r\nx: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--".into()));
        h.input(Event::message_end());
        h.input(Event::start(Head::None));
        h.input(Event::Data("plain".into()));
        h.input(Event::message_end());
        let events = h.finish();
        let starts = events.iter().filter(|e| matches!(e, Event::MessageStart(_))).count();
        let ends = events.iter().filter(|e| matches!(e, Event::MessageEnd(_))).count();
        assert_eq!((starts, ends), (3, 3), "{events:?}");
        let Event::MessageStart(first) = &events[0] else { panic!() };
        assert_eq!(first.headers().unwrap().get("x"), Some("1"));
    }
}
