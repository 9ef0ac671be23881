//! `encodeHTTPRequest()` / `encodeHTTPResponse()`: HTTP messages in, bytes out, with
//! MessageStart / MessageEnd kept around each message's bytes. Bodies up to
//! `bufferSize` get a `content-length`; bigger ones are sent chunked. Data outside a
//! message is dropped; StreamEnd passes on.

use crate::args::{ArgResult, Args, OptionReader};
use crate::event::Event;
use crate::http::{self, Encoder};
use crate::pipeline::{Cx, Filter, FilterSpec};

/// Builds `encodeHTTPRequest(options?)`.
pub fn build_request(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    build(args, "encodeHTTPRequest", false)
}

/// Builds `encodeHTTPResponse(options?)`.
pub fn build_response(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    build(args, "encodeHTTPResponse", true)
}

fn build(args: &mut dyn Args, name: &'static str, response: bool) -> ArgResult<FilterSpec> {
    let opts = args.options(0)?;
    let size = OptionReader::new(name, opts.as_ref()).size("bufferSize")?.unwrap_or(http::DEFAULT_BUFFER_SIZE);
    Ok(FilterSpec::plain(name, move || EncodeHttp {
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
