//! A client stream of any bytes into `demuxHTTP`, whose requests are answered
//! (or failed, or cut off) by a sub-pipeline, through the contract harness: the
//! output keeps the filter contract and every pipeline is released.
#![no_main]

use proxy_core::{Arg, Returned, Want};
use proxy_core::filters::{demux_http, replace};
use proxy_core::{FilterSpec, PipelineLayout};
use proxy_core::testing::{spec, Harness, TestArg};
use proxy_core::{Context, Data, Event, Head, Message, StreamError};
use std::rc::Rc;

fn demux() -> FilterSpec {
    let answer = |_: &Context, arg: Arg<'_>, _: Want| {
        let Arg::Message(m) = arg else { return Ok(Returned::Nothing) };
        let path = m.head.request().map(|r| r.path.to_string()).unwrap_or_default();
        let events = match path.as_bytes().get(1) {
            Some(b'f') => vec![Event::error(StreamError::ConnectionRefused)],
            Some(b'c') => vec![Event::start(Head::None), Event::Data(Data::from("cut")), Event::end()],
            _ => Message::new(Head::None, format!("ok {} {}", path, m.body.len())).into_events(),
        };
        Ok(Returned::Events(events))
    };
    let sub = PipelineLayout::new(
        "answer",
        vec![spec(&replace::MESSAGE, vec![TestArg::Callback(Rc::new(answer))])],
    );
    let opts = [("maxPipelined".to_string(), "4".to_string()), ("bufferSize".to_string(), "64".to_string())];
    let mut s = spec(&demux_http::DEF, vec![TestArg::Options(opts.into())]);
    s.subs.push(sub.into_slot());
    s
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let h = Harness::new(vec![demux()]);
    for piece in rest.chunks(1 + (how & 0x3f) as usize) {
        h.input(Event::Data(Data::from(piece.to_vec())));
    }
    if how & 0x40 != 0 {
        h.input(Event::end());
    }
    h.finish();
});
