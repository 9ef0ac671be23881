//! `acceptProxyProtocol(handler).to(...)`: reads the PROXY protocol header
//! (versions 1 and 2) a load balancer puts before a connection's bytes, and
//! calls `handler` with what it says (`version`, `command`, `protocol`,
//! `sourceAddress`, `sourcePort`, `targetAddress`, `targetPort`). When the
//! handler returns true, the rest of the stream goes to the sub-pipeline, and
//! the header's source and target become `__inbound`'s `remoteAddress` /
//! `remotePort` and `localAddress` / `localPort`; otherwise, or when the bytes
//! are not a header, the stream ends (logged once).

use crate::args::{ArgError, ArgResult, Args};
use crate::callback::{Arg, Callback, Plain, Returned, Want};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use crate::proxy_protocol::{Header, Read, Reader};
use std::rc::Rc;

/// `acceptProxyProtocol` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "acceptProxyProtocol",
    params: "handler: (header: ProxyProtocolHeader) => boolean",
    doc: "Reads the PROXY protocol header before a stream and, if the handler accepts it, passes the rest to its sub-pipeline.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let Some(handler) = args.callback(0)? else {
        return Err(ArgError(format!("{}: a handler function is required", def.name)));
    };
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| AcceptProxyProtocol {
        handler: handler.clone(),
        slot: subs[0].clone(),
        state: State::Reading(Reader::default()),
    });
    spec.joint = true;
    Ok(spec)
}

enum State {
    Reading(Reader),
    Accepted(Pipeline),
    Done,
}

/// The `acceptProxyProtocol` filter.
pub struct AcceptProxyProtocol {
    handler: Rc<dyn Callback>,
    slot: LayoutSlot,
    state: State,
}

/// What a header says, as the handler sees it.
fn script_value(h: &Header) -> Plain {
    let mut fields = vec![
        ("version", Plain::Number(h.version as f64)),
        ("command", Plain::Str(h.command.into())),
        ("protocol", Plain::Str(h.protocol.into())),
    ];
    if let (Some(s), Some(t)) = (h.source, h.target) {
        fields.push(("sourceAddress", Plain::Str(s.ip().to_string())));
        fields.push(("sourcePort", Plain::Number(s.port() as f64)));
        fields.push(("targetAddress", Plain::Str(t.ip().to_string())));
        fields.push(("targetPort", Plain::Number(t.port() as f64)));
    }
    Plain::Object(fields)
}

impl AcceptProxyProtocol {
    fn refuse(&mut self, why: &str, cx: &mut Cx<'_>) {
        tracing::warn!("acceptProxyProtocol: {why}; closing the connection");
        self.state = State::Done;
        cx.output(Event::error(StreamError::ProtocolError));
    }

    fn header(&mut self, h: Header, rest: Vec<u8>, cx: &mut Cx<'_>) {
        let arg = [script_value(&h)];
        match self.handler.call(cx.context(), Arg::Plain(&arg), Want::Bool) {
            Ok(Returned::Bool(true)) => {}
            Ok(_) => {
                tracing::info!(source = ?h.source, "acceptProxyProtocol: the handler refused the connection");
                self.state = State::Done;
                return cx.output(Event::end());
            }
            Err(err) => {
                report_script_error(&err, DEF.name);
                self.state = State::Done;
                return cx.output(Event::error(StreamError::RuntimeError));
            }
        }
        if let (Some(source), Some(inbound), "PROXY") = (h.source, cx.context().inbound(), h.command) {
            inbound.set_proxied(source, h.target);
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

impl Filter for AcceptProxyProtocol {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match &mut self.state {
            State::Reading(reader) => match ev {
                Event::Data(d) => match reader.feed(&d.to_vec()) {
                    Ok(Read::More) => {}
                    Ok(Read::Done(h, rest)) => self.header(h, rest, cx),
                    Err(why) => self.refuse(&why.to_string(), cx),
                },
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
    use crate::proxy_protocol::encode_v2;
    use crate::testing::{Harness, TestArg};
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
        let mut s = crate::testing::spec(&DEF, vec![TestArg::Callback(Rc::new(handler))]);
        s.subs.push(PipelineLayout::new("echo", vec![FilterSpec::plain("echo", || Echo)]).into_slot());
        s
    }

    #[test]
    fn an_accepted_header_is_taken_off_and_the_rest_goes_to_the_sub_pipeline_in_any_pieces() {
        let mut bytes = encode_v2("192.0.2.9:4000".parse().unwrap(), "10.1.1.1:80".parse().unwrap());
        bytes.extend(b"hello");
        for piece in 1..bytes.len() {
            let seen = Rc::new(RefCell::new(Vec::new()));
            let h = Harness::new(vec![filter(true, &seen)]);
            for p in bytes.chunks(piece) {
                h.input(Event::Data(Data::from(p.to_vec())));
            }
            assert_eq!(h.out.text(), "hello", "piece {piece}");
            assert!(seen.borrow().contains(&"sourceAddress=Str(\"192.0.2.9\")".to_string()), "{seen:?}");
            h.input(Event::end());
            h.finish();
        }
    }

    #[test]
    fn a_refused_header_or_bytes_that_are_not_one_end_the_stream() {
        let seen = Rc::new(RefCell::new(Vec::new()));
        let h = Harness::new(vec![filter(false, &seen)]);
        h.input(Event::Data(Data::from(b"PROXY UNKNOWN\r\nsecret".to_vec())));
        assert!(h.out.ended() && h.out.text().is_empty(), "{:?}", h.out.events());
        h.finish();
        let h = Harness::new(vec![filter(true, &seen)]);
        h.input(Event::Data(Data::from(b"GET / HTTP/1.1\r\n\r\n".to_vec())));
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ProtocolError)))));
        h.finish();
    }
}
