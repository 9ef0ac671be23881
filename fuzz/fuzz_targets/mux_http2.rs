//! An HTTP/2 upstream that answers with any bytes: `muxHTTP({ version: 2 })`
//! sends a few requests (bodies and trailers among them) to an origin whose
//! output is the fuzz input, cut where its first byte says, ended or not. The
//! output keeps the filter contract and every pipeline is released.
#![no_main]

use proxy_core::filters::mux_http;
use proxy_core::testing::{spec, Harness, TestArg};
use proxy_core::{Cx, Data, Event, Filter, FilterHandle, FilterSpec, Head, Headers, Message, PipelineLayout, RequestHead};
use std::cell::RefCell;
use std::rc::Rc;

/// The origin: plays its script back, piece by piece, when woken.
struct Origin {
    pieces: Rc<RefCell<Vec<Vec<u8>>>>,
    end: bool,
    handle: Rc<RefCell<Option<FilterHandle>>>,
}

impl Filter for Origin {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        *self.handle.borrow_mut() = Some(cx.handle());
        if ev.is_stream_end() {
            cx.output(Event::end());
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let pieces = std::mem::take(&mut *self.pieces.borrow_mut());
        for p in pieces.into_iter().rev() {
            cx.output(Event::Data(Data::from(p)));
        }
        if self.end {
            self.end = false;
            cx.output(Event::end());
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let mut pieces: Vec<Vec<u8>> = rest.chunks(1 + (how & 0x1f) as usize).map(<[u8]>::to_vec).collect();
    pieces.reverse();
    let pieces = Rc::new(RefCell::new(pieces));
    let end = how & 0x40 != 0;
    let p = pieces.clone();
    let handle: Rc<RefCell<Option<FilterHandle>>> = Rc::default();
    let hd = handle.clone();
    let origin = PipelineLayout::new(
        "origin",
        vec![FilterSpec::plain("origin", move || Origin { pieces: p.clone(), end, handle: hd.clone() })],
    )
    .into_slot();
    let mut s = spec(&mux_http::DEF, vec![TestArg::Null, TestArg::Options([("version".to_string(), "2".to_string())].into())]);
    s.subs.push(origin);
    let h = Harness::new(vec![s]);
    for i in 0..3 {
        let mut head = RequestHead { method: if i == 1 { "POST" } else { "GET" }.into(), path: format!("/{i}").into(), ..Default::default() };
        head.headers.set("host", "origin");
        let mut m = Message::new(Head::Request(head), if i == 1 { "a body" } else { "" });
        if i == 2 {
            let mut t = Headers::default();
            t.append("x-t", "1");
            m.tail.headers = Some(t);
        }
        for ev in m.into_events() {
            h.input(ev);
        }
    }
    // The server speaks once the requests are out.
    let origin = handle.borrow().clone();
    if let Some(o) = origin {
        o.wake();
    }
    if how & 0x80 != 0 {
        h.input(Event::end());
    }
    h.finish();
});
