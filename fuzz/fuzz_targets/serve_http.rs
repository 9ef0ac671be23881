//! A client stream of any bytes into `serveHTTP`, whose handler answers at once,
//! throws, or returns a Promise that settles at points the input chooses, through
//! the contract harness: the output keeps the filter contract and every pipeline
//! is released.
#![no_main]

use proxy_core::{Arg, Pending, Returned, ScriptError, Want};
use proxy_core::filters::serve_http;
use proxy_core::testing::{spec, Harness, TestArg};
use proxy_core::{Context, Data, Event, Head, Message};
use std::cell::RefCell;
use std::rc::Rc;

type Pendings = Rc<RefCell<Vec<(Pending, Vec<Event>)>>>;

fn serve(pendings: Pendings) -> proxy_core::FilterSpec {
    let answer = move |_: &Context, arg: Arg<'_>, _: Want| {
        let Arg::Message(m) = arg else { return Ok(Returned::Nothing) };
        let path = m.head.request().map(|r| r.path.to_string()).unwrap_or_default();
        let events = Message::new(Head::None, format!("ok {} {}", path, m.body.len())).into_events();
        match path.as_bytes().get(1) {
            Some(b't') => Err(ScriptError::new("thrown")),
            Some(b'p') => {
                let p = Pending::new();
                pendings.borrow_mut().push((p.clone(), events));
                Ok(Returned::Pending(p))
            }
            _ => Ok(Returned::Events(events)),
        }
    };
    let opts = [
        ("maxPipelined".to_string(), "4".to_string()),
        ("bufferSize".to_string(), "64".to_string()),
        ("maxBodySize".to_string(), "256".to_string()),
    ];
    spec(&serve_http::DEF, vec![TestArg::Callback(Rc::new(answer)), TestArg::Options(opts.into())])
}

fn settle(pendings: &Pendings) {
    // Settling may run the handler again, which adds to `pendings`.
    let Some((p, events)) = pendings.borrow_mut().pop() else { return };
    p.settle(Ok(Returned::Events(events)));
    p.notify();
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Some((&how, rest)) = data.split_first() else { return };
    let pendings: Pendings = Rc::default();
    let h = Harness::new(vec![serve(pendings.clone())]);
    for (i, piece) in rest.chunks(1 + (how & 0x3f) as usize).enumerate() {
        h.input(Event::Data(Data::from(piece.to_vec())));
        if i % 2 == 0 {
            settle(&pendings);
        }
    }
    if how & 0x40 != 0 {
        h.input(Event::end());
    }
    while !pendings.borrow().is_empty() {
        settle(&pendings);
    }
    h.finish();
});
