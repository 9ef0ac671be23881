//! `decodeHTTPRequest()` / `decodeHTTPResponse()`: Data in, HTTP messages out
//! (MessageStart, Data*, MessageEnd per message); bodies stream as they arrive.
//! Malformed input ends the stream with `ProtocolError`. StreamEnd passes on.

use crate::args::{ArgResult, Args};
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::http::{self, Decoder};
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `decodeHTTPRequest` as scripts see it.
pub const REQUEST: FilterDef = FilterDef {
    name: "decodeHTTPRequest",
    params: "options?: DecodeHTTPRequestOptions",
    doc: "Decodes bytes into HTTP/1 request messages.",
    options: &[OPTIONS],
    build: |def, args| build(def, args, false),
};

/// `decodeHTTPResponse` as scripts see it.
pub const RESPONSE: FilterDef = FilterDef {
    name: "decodeHTTPResponse",
    params: "options?: DecodeHTTPResponseOptions",
    doc: "Decodes bytes into HTTP/1 response messages.",
    options: &[OPTIONS],
    build: |def, args| build(def, args, true),
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::size("maxHeaderSize", "Largest message head; a bigger one ends the stream with ProtocolError.")
        .default_size(http::DEFAULT_MAX_HEADER_SIZE),
    OptionDef::size("bufferSize", "Accepted as Pipy has it.").ignored("bodies stream as they arrive here"),
];

fn build(def: &'static FilterDef, args: &mut dyn Args, response: bool) -> ArgResult<FilterSpec> {
    let max = def.options_at(args, 0)?.size("maxHeaderSize")?;
    Ok(FilterSpec::plain(def.name, move || DecodeHttp {
        decoder: if response { Decoder::responses(max) } else { Decoder::requests(max) },
        failed: false,
    }))
}

/// The `decodeHTTPRequest` / `decodeHTTPResponse` filter.
pub struct DecodeHttp {
    decoder: Decoder,
    failed: bool,
}

impl Filter for DecodeHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.failed {
            return;
        }
        let result = match ev {
            Event::Data(d) => self.decoder.input(d, &mut |e| cx.output(e)),
            Event::StreamEnd(err) => {
                let r = self.decoder.end(&mut |e| cx.output(e));
                if r.is_ok() {
                    cx.output(Event::StreamEnd(err));
                }
                r
            }
            _ => Ok(()),
        };
        if let Err(e) = result {
            tracing::debug!(error = %e, "HTTP decoding failed");
            self.failed = true;
            cx.output(Event::error(StreamError::ProtocolError));
        }
    }
}
