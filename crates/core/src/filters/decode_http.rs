//! `decodeHTTPRequest()` / `decodeHTTPResponse()`: Data in, HTTP messages out
//! (MessageStart, Data*, MessageEnd per message); bodies stream as they arrive.
//! Malformed input ends the stream with `ProtocolError`. StreamEnd passes on.

use crate::args::{ArgResult, Args, OptionReader};
use crate::event::{Event, StreamError};
use crate::http::{self, Decoder};
use crate::pipeline::{Cx, Filter, FilterSpec};

/// Builds `decodeHTTPRequest(options?)`.
pub fn build_request(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    build(args, "decodeHTTPRequest", false)
}

/// Builds `decodeHTTPResponse(options?)`.
pub fn build_response(args: &mut dyn Args) -> ArgResult<FilterSpec> {
    build(args, "decodeHTTPResponse", true)
}

fn build(args: &mut dyn Args, name: &'static str, response: bool) -> ArgResult<FilterSpec> {
    let opts = args.options(0)?;
    let max = OptionReader::new(name, opts.as_ref()).size("maxHeaderSize")?.unwrap_or(http::DEFAULT_MAX_HEADER_SIZE);
    Ok(FilterSpec::plain(name, move || DecodeHttp {
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
