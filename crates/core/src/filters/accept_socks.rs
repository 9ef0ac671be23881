//! `acceptSOCKS(handler).to(...)`: a SOCKS server (versions 4, 4a and 5,
//! `CONNECT`, no authentication). The client's request goes to `handler` as
//! `{ version, id, ip, domain, port }`; when it returns true the client is
//! told the connection is granted and the rest of the stream goes to the
//! sub-pipeline (which connects where the script says); otherwise it is told
//! no, and the stream ends. A request that is not SOCKS, or asks for what is
//! not served, gets the protocol's own refusal and the stream ends (logged once).

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Plain, Returned, Want};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use crate::socks::{Read, Request, Server};
use std::rc::Rc;

/// `acceptSOCKS` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "acceptSOCKS",
    params: "handler: (request: SOCKSRequest) => boolean",
    doc: "A SOCKS 4/4a/5 server: reads the client's CONNECT request and, if the handler accepts it, passes the rest of the stream to its sub-pipeline.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let Some(handler) = args.callback(0)? else {
        return Err(ArgError(format!("{}: a handler function is required", def.name)));
    };
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| AcceptSocks {
        handler: handler.clone(),
        slot: subs[0].clone(),
        state: State::Reading(Server::default()),
    });
    spec.joint = true;
    Ok(spec)
}

enum State {
    Reading(Server),
    Accepted(Pipeline),
    Done,
}

/// The `acceptSOCKS` filter.
pub struct AcceptSocks {
    handler: Rc<dyn Callback>,
    slot: LayoutSlot,
    state: State,
}

/// The request as the handler sees it.
fn script_value(r: &Request) -> Plain {
    let text = |s: Option<String>| s.map_or(Plain::Undefined, Plain::Str);
    Plain::Object(vec![
        ("version", Plain::Number(r.version as f64)),
        ("id", Plain::Str(r.id.clone())),
        ("ip", text(r.ip.map(|ip| ip.to_string()))),
        ("domain", text(r.domain.clone())),
        ("port", Plain::Number(r.port as f64)),
    ])
}

impl AcceptSocks {
    fn request(&mut self, request: Request, rest: Vec<u8>, cx: &mut Cx<'_>) {
        let arg = [script_value(&request)];
        let granted = match self.handler.call(cx.context(), Arg::Plain(&arg), Want::Bool) {
            Ok(Returned::Bool(b)) => b,
            Ok(_) => false,
            Err(err) => {
                report_script_error(&err, DEF.name);
                self.state = State::Done;
                cx.output(Event::Data(Data::from(request.reply(false))));
                return cx.output(Event::error(StreamError::RuntimeError));
            }
        };
        cx.output(Event::Data(Data::from(request.reply(granted))));
        if !granted {
            tracing::info!(target = %request.target(), "acceptSOCKS: the handler refused the connection");
            self.state = State::Done;
            return cx.output(Event::end());
        }
        let Some(sub) = cx.sub_pipeline(&self.slot, cx.context().clone(), 0) else {
            self.state = State::Done;
            return cx.output(Event::error(StreamError::RuntimeError));
        };
        self.state = State::Accepted(sub.clone());
        if !rest.is_empty() {
            sub.input(Event::Data(Data::from(rest)));
        }
    }
}

impl Filter for AcceptSocks {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match &mut self.state {
            State::Reading(server) => match ev {
                Event::Data(d) => {
                    let mut answer = Vec::new();
                    let result = server.feed(&d.to_vec(), &mut answer);
                    if !answer.is_empty() {
                        cx.output(Event::Data(Data::from(answer)));
                    }
                    match result {
                        Ok(Read::More) => {}
                        Ok(Read::Done(request, rest)) => self.request(request, rest, cx),
                        Err(refusal) => {
                            tracing::warn!("acceptSOCKS: {}; closing the connection", refusal.why);
                            self.state = State::Done;
                            if !refusal.reply.is_empty() {
                                cx.output(Event::Data(Data::from(refusal.reply)));
                            }
                            cx.output(Event::error(StreamError::ProtocolError));
                        }
                    }
                }
                Event::StreamEnd(_) => {
                    self.state = State::Done;
                    cx.output(ev);
                }
                _ => {}
            },
            State::Accepted(sub) => {
                let sub = sub.clone();
                sub.input(ev);
            }
            State::Done => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
    use std::cell::RefCell;

    /// Echoes what reaches it.
    struct Echo;
    impl Filter for Echo {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            cx.output(ev);
        }
    }

    fn filter(accept: bool, seen: &Rc<RefCell<Vec<String>>>) -> FilterSpec {
        let seen = seen.clone();
        let handler = move |_: &crate::Context, arg: Arg<'_>, _: Want| {
            if let Arg::Plain([Plain::Object(fields)]) = arg {
                for (k, v) in fields {
                    seen.borrow_mut().push(format!("{k}={v:?}"));
                }
            }
            Ok(Returned::Bool(accept))
        };
        let mut s = spec(&DEF, vec![TestArg::Callback(Rc::new(handler))]);
        s.subs.push(PipelineLayout::new("echo", vec![FilterSpec::plain("echo", || Echo)]).into_slot());
        s
    }

    fn bytes(h: &Harness) -> Vec<u8> {
        h.out.events().iter().flat_map(|e| if let Event::Data(d) = e { d.to_vec() } else { Vec::new() }).collect()
    }

    #[test]
    fn a_socks5_request_in_any_pieces_is_granted_and_the_stream_goes_to_the_sub_pipeline() {
        let input = b"\x05\x01\x00\x05\x01\x00\x03\x02db\x15\x38hello";
        for size in 1..=input.len() {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let h = Harness::new(vec![filter(true, &seen)]);
            for p in input.chunks(size) {
                h.input(Event::Data(Data::from(p.to_vec())));
            }
            assert_eq!(bytes(&h), b"\x05\x00\x05\x00\x00\x01\0\0\0\0\0\0hello", "size {size}");
            assert!(seen.borrow().contains(&"domain=Str(\"db\")".to_string()), "{seen:?}");
            assert!(seen.borrow().contains(&"port=Number(5432.0)".to_string()), "{seen:?}");
            h.input(Event::end());
            assert!(h.out.ended());
            h.finish();
        }
    }

    #[test]
    fn a_refused_or_bad_request_gets_the_refusal_and_the_stream_ends() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let h = Harness::new(vec![filter(false, &seen)]);
        h.input(Event::Data(Data::from(b"\x04\x01\x00\x50\x7f\x00\x00\x01\0secret".to_vec())));
        assert_eq!(bytes(&h), [0, 0x5b, 0, 0, 0, 0, 0, 0]);
        assert!(h.out.ended());
        assert!(seen.borrow().contains(&"ip=Str(\"127.0.0.1\")".to_string()), "{seen:?}");
        h.finish();
        let h = Harness::new(vec![filter(true, &seen)]);
        h.input(Event::Data(Data::from(b"GET / HTTP/1.1\r\n\r\n".to_vec())));
        assert!(bytes(&h).is_empty());
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.finish();
    }
}
