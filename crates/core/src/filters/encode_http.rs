//! `encodeHTTPRequest()` / `encodeHTTPResponse()`: HTTP messages in, bytes out, with
//! MessageStart / MessageEnd kept around each message's bytes. Bodies up to
//! `bufferSize` get a `content-length`; bigger ones keep the length their head
//! declares, or are sent chunked (a response to HTTP/1.0 is sent unframed and the
//! stream ends after it). Data outside a message is dropped; StreamEnd passes on.

use crate::args::{ArgResult, Args};
use crate::event::Event;
use crate::filters::FilterDef;
use crate::http::{self, Encoder};
use crate::options::OptionDef;
use crate::pipeline::{Cx, Filter, FilterSpec};

/// `encodeHTTPRequest` as scripts see it.
pub const REQUEST: FilterDef = FilterDef {
    name: "encodeHTTPRequest",
    params: "options?: EncodeHTTPRequestOptions",
    doc: "Encodes HTTP request messages into HTTP/1 bytes.",
    options: &[OPTIONS],
    build: |def, args| build(def, args, false),
};

/// `encodeHTTPResponse` as scripts see it.
pub const RESPONSE: FilterDef = FilterDef {
    name: "encodeHTTPResponse",
    params: "options?: EncodeHTTPResponseOptions",
    doc: "Encodes HTTP response messages into HTTP/1 bytes.",
    options: &[OPTIONS],
    build: |def, args| build(def, args, true),
};

const OPTIONS: &[OptionDef] = &[OptionDef::size(
    "bufferSize",
    "Bodies up to this get a content-length; longer ones keep the length they declare or go chunked.",
)
.default_size(http::DEFAULT_BUFFER_SIZE)];

fn build(def: &'static FilterDef, args: &mut dyn Args, response: bool) -> ArgResult<FilterSpec> {
    let size = def.options_at(args, 0)?.size("bufferSize")?;
    Ok(FilterSpec::plain(def.name, move || EncodeHttp {
        encoder: if response { Encoder::responses(size) } else { Encoder::requests(size) },
    }))
}

/// The `encodeHTTPRequest` / `encodeHTTPResponse` filter.
pub struct EncodeHttp {
    encoder: Encoder,
}

impl Filter for EncodeHttp {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        self.encoder.encode(ev, &mut |e| cx.output(e));
    }
}
