//! `connectSOCKS(target).to(...)`: the client's end of SOCKS 5. At the
//! stream's first event it greets the proxy its sub-pipeline reaches (no
//! authentication), asks it to `CONNECT` to `target` (`host:port`, or a
//! function returning one, called then), and once the proxy grants it, sends
//! the stream through; what comes back after the proxy's answer is the
//! stream's output. A proxy that refuses ends the stream with
//! ConnectionRefused, one that does not speak SOCKS 5 with ProtocolError.

use crate::args::{ArgError, ArgResult, Args, Param};
use crate::callback::{Arg, Returned, Want};
use crate::data::Data;
use crate::event::{Event, StreamError};
use crate::filters::backlog::{self, Backlog};
use crate::filters::FilterDef;
use crate::pipeline::{report_script_error, Cx, Filter, FilterSpec, LayoutSlot, Pipeline};
use crate::socks::{connect_request, Answer, Client, Failure, GREETING};
use std::rc::Rc;

/// `connectSOCKS` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "connectSOCKS",
    params: "target: string | (() => string)",
    doc: "Asks the SOCKS 5 proxy its sub-pipeline reaches to connect to the target, then sends the stream through it.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let target = if args.is_function(0) {
        Param::Dynamic(args.callback(0)?.expect("checked is_function"))
    } else {
        match args.string(0)? {
            Some(t) if connect_request(&t).is_some() => Param::Static(t),
            Some(t) => return Err(ArgError(format!("{}: '{t}' is not host:port", def.name))),
            None => return Err(ArgError(format!("{}: a target (host:port, or a function) is required", def.name))),
        }
    };
    let target = Rc::new(target);
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| ConnectSocks {
        target: target.clone(),
        slot: subs[0].clone(),
        state: State::Idle,
        request: Vec::new(),
        client: Client::default(),
        backlog: Backlog::default(),
        sub: None,
    });
    spec.joint = true;
    Ok(spec)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Idle,
    Asking,
    Granted,
    Closed,
}

/// The `connectSOCKS` filter.
pub struct ConnectSocks {
    target: Rc<Param<String>>,
    slot: LayoutSlot,
    state: State,
    /// The CONNECT request, sent once the proxy has chosen the method.
    request: Vec<u8>,
    client: Client,
    /// What the stream sends before the proxy grants the request.
    backlog: Backlog,
    sub: Option<Pipeline>,
}

impl ConnectSocks {
    fn target(&self, cx: &mut Cx<'_>) -> Result<String, String> {
        match &*self.target {
            Param::Static(t) => Ok(t.clone()),
            Param::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Str) {
                Ok(Returned::Str(Some(t))) => Ok(t),
                Ok(_) => Err("the target function did not return a string".into()),
                Err(err) => {
                    report_script_error(&err, DEF.name);
                    Err("the target function failed".into())
                }
            },
        }
    }

    fn start(&mut self, cx: &mut Cx<'_>) {
        let target = match self.target(cx) {
            Ok(t) => t,
            Err(why) => return self.fail(&why, StreamError::RuntimeError, cx),
        };
        let Some(request) = connect_request(&target) else {
            return self.fail(&format!("'{target}' is not host:port"), StreamError::RuntimeError, cx);
        };
        self.request = request;
        let Some(sub) = cx.sub_pipeline(&self.slot, cx.context().clone(), 0) else {
            return self.fail("no sub-pipeline", StreamError::RuntimeError, cx);
        };
        self.sub = Some(sub.clone());
        self.state = State::Asking;
        sub.input(Event::Data(Data::from(GREETING.to_vec())));
    }

    fn fail(&mut self, why: &str, err: StreamError, cx: &mut Cx<'_>) {
        tracing::warn!("connectSOCKS: {why}");
        self.state = State::Closed;
        self.backlog.clear();
        self.sub = None;
        cx.output(Event::error(err));
    }

    /// The proxy granted the request: what waited goes through.
    fn granted(&mut self, rest: Vec<u8>, cx: &mut Cx<'_>) {
        self.state = State::Granted;
        if !rest.is_empty() {
            cx.output(Event::Data(Data::from(rest)));
        }
        if let Some(sub) = self.sub.clone() {
            self.backlog.release(&sub);
        }
    }
}

impl Filter for ConnectSocks {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.state == State::Idle {
            self.start(cx);
        }
        match self.state {
            State::Granted => {
                if let Some(sub) = &self.sub {
                    sub.clone().input(ev);
                }
            }
            State::Asking => {
                if self.backlog.keep(ev).is_err() {
                    let why = format!("over {} bytes sent before the proxy answered", backlog::MAX);
                    self.fail(&why, StreamError::BufferOverflow, cx);
                }
            }
            State::Idle | State::Closed => {}
        }
    }

    fn on_sub_event(&mut self, _tag: usize, ev: Event, cx: &mut Cx<'_>) {
        match self.state {
            State::Granted => cx.output(ev),
            State::Asking => match ev {
                Event::Data(d) => {
                    let mut answer = self.client.feed(&d.to_vec());
                    if answer == Ok(Answer::SendRequest) {
                        if let Some(sub) = self.sub.clone() {
                            sub.input(Event::Data(Data::from(std::mem::take(&mut self.request))));
                        }
                        answer = self.client.feed(&[]);
                    }
                    match answer {
                        Ok(Answer::Granted(rest)) => self.granted(rest, cx),
                        Ok(_) => {}
                        Err(failure) => {
                            let err = match failure {
                                Failure::Refused(_) => StreamError::ConnectionRefused,
                                Failure::Garbled(_) => StreamError::ProtocolError,
                            };
                            self.fail(failure.why(), err, cx);
                        }
                    }
                }
                Event::StreamEnd(_) => {
                    tracing::warn!("connectSOCKS: the proxy closed before it answered");
                    self.state = State::Closed;
                    cx.output(ev);
                }
                _ => {}
            },
            State::Idle | State::Closed => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::filters::accept_socks;
    use crate::pipeline::PipelineLayout;
    use crate::testing::{spec, Harness, TestArg};
    use crate::Plain;

    /// Echoes what reaches it, in capitals.
    struct Shout;
    impl Filter for Shout {
        fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
            match ev {
                Event::Data(d) => cx.output(Event::Data(d.to_vec().to_ascii_uppercase().into())),
                ev => cx.output(ev),
            }
        }
    }

    /// connectSOCKS through acceptSOCKS (which grants `db:5432` only) to Shout.
    fn client(target: &str) -> FilterSpec {
        let handler = |_: &crate::Context, arg: Arg<'_>, _: Want| {
            let Arg::Plain([Plain::Object(fields)]) = arg else { panic!("the request") };
            let domain = fields.iter().any(|(k, v)| *k == "domain" && matches!(v, Plain::Str(d) if d == "db"));
            Ok(Returned::Bool(domain))
        };
        let mut server = spec(&accept_socks::DEF, vec![TestArg::Callback(Rc::new(handler))]);
        server.subs.push(PipelineLayout::new("shout", vec![FilterSpec::plain("shout", || Shout)]).into_slot());
        let mut s = spec(&DEF, vec![TestArg::Str(target.into())]);
        s.subs.push(PipelineLayout::new("proxy", vec![server]).into_slot());
        s
    }

    #[test]
    fn the_stream_goes_through_once_the_proxy_grants_it_and_nothing_of_the_handshake_shows() {
        let h = Harness::new(vec![client("db:5432")]);
        h.send("hello ");
        h.send("there");
        h.input(Event::end());
        assert_eq!(h.out.text(), "HELLO THERE");
        assert!(h.out.ended());
        h.finish();
    }

    #[test]
    fn a_refusal_ends_the_stream_with_connection_refused_and_nothing_leaves() {
        let h = Harness::new(vec![client("other:5432")]);
        h.send("secret");
        assert_eq!(h.out.text(), "");
        assert!(matches!(h.out.events().last(), Some(Event::StreamEnd(Some(StreamError::ConnectionRefused)))));
        h.finish();
    }

    #[test]
    fn a_target_that_is_not_host_port_is_a_load_error() {
        let err = (DEF.build)(&DEF, &mut crate::testing::TestArgs(vec![TestArg::Str("nowhere".into())]));
        assert!(err.is_err());
    }
}
