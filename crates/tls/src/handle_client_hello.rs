//! `handleTLSClientHello(callback)`: calls `callback({ serverNames, protocolNames })`
//! once the connection's ClientHello has arrived, without terminating TLS; every
//! event passes on unchanged. A stream that does not start with a ClientHello
//! never calls it.

use crate::client_hello::{HelloParser, HelloState};
use proxy_core::filters::FilterDef;
use proxy_core::{Arg, ArgError, ArgResult, Args, Callback, Cx, Event, Filter, FilterSpec, Plain, Want};
use std::rc::Rc;

/// `handleTLSClientHello` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "handleTLSClientHello",
    params: "callback: (hello: { serverNames: string[], protocolNames: string[] }) => void",
    doc: "Calls back with the server names and ALPN protocols of the client's TLS ClientHello; passes every event on.",
    options: &[],
    build,
};

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let Some(callback) = args.callback(0)? else {
        return Err(ArgError(format!("{}: a callback function is required", def.name)));
    };
    Ok(FilterSpec::plain(def.name, move || HandleClientHello {
        callback: callback.clone(),
        parser: Some(HelloParser::new()),
    }))
}

/// The `handleTLSClientHello` filter.
pub struct HandleClientHello {
    callback: Rc<dyn Callback>,
    /// Until the hello is read (or known not to come).
    parser: Option<HelloParser>,
}

impl Filter for HandleClientHello {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if let (Event::Data(d), Some(parser)) = (&ev, &mut self.parser) {
            for chunk in d.chunks() {
                match parser.feed(chunk) {
                    HelloState::Reading => continue,
                    HelloState::NotHello => {}
                    HelloState::Done(hello) => {
                        let list = |names: Vec<String>| Plain::List(names.into_iter().map(Plain::Str).collect());
                        let arg = Plain::Object(vec![
                            ("serverNames", list(hello.server_names)),
                            ("protocolNames", list(hello.protocol_names)),
                        ]);
                        if let Err(e) = self.callback.call(cx.context(), Arg::Plain(&[arg]), Want::Nothing) {
                            self.parser = None;
                            return cx.fail(&e, DEF.name);
                        }
                    }
                }
                self.parser = None;
                break;
            }
        }
        cx.output(ev);
    }
}
