//! `connect(target | fn, options?)`: an outbound TCP connection (or, with
//! `protocol: 'udp'`, a connected UDP socket: a datagram per Data event in, a
//! Data event per datagram back, StreamEnd in closes it). Data in is written
//! to the peer; bytes read from the peer are output as Data. StreamEnd in closes
//! the write side once everything is written; the peer closing ends the output with
//! StreamEnd. Message events are ignored. The target (`host:port`, `[v6]:port`) is
//! resolved without blocking the worker. Failures end the output with the error:
//! `CannotResolve`, `ConnectionRefused`, `ConnectionTimeout`, `ReadTimeout`,
//! `WriteTimeout`, `IdleTimeout`, `ConnectionReset`.

use crate::outbound::{Outbound, OutboundOptions};
use crate::udp::{UdpOptions, UdpOutbound};
use proxy_core::filters::FilterDef;
use proxy_core::report_script_error;
use proxy_core::{Arg, Cx, Event, Filter, FilterSpec, Returned, StreamError, Want};
use proxy_core::{ArgError, ArgResult, Args, Param};
use proxy_core::{OptionDef, Ty};
use std::rc::Rc;
use std::time::Duration;

/// Options of `connect`.
#[derive(Debug, Clone)]
pub struct ConnectOptions {
    outbound: Rc<OutboundOptions>,
    /// Set for `protocol: 'udp'`.
    udp: Option<Rc<UdpOptions>>,
    buffer_limit: Option<usize>,
}

/// `connect` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "connect",
    params: "target: string | (() => string), options?: ConnectOptions",
    doc: "Opens a TCP connection to the target and exchanges the stream's Data with it.",
    options: &[OPTIONS],
    build,
};

const OPTIONS: &[OptionDef] = &[
    OptionDef::duration("connectTimeout", "How long a connection attempt may take; then ConnectionTimeout.")
        .absent("no limit"),
    OptionDef::duration("readTimeout", "Closes the connection when nothing arrives for this long (ReadTimeout).")
        .absent("no limit"),
    OptionDef::duration(
        "writeTimeout",
        "Closes the connection when a write makes no progress for this long (WriteTimeout).",
    )
    .absent("no limit"),
    OptionDef::duration("idleTimeout", "Closes the connection when nothing moves either way for this long.")
        .default_duration(Duration::from_secs(60)),
    OptionDef::int("retryCount", "Further attempts after a failed connect; -1 retries for ever.").default_int(0),
    OptionDef::duration("retryDelay", "Pause between attempts.").default_duration(Duration::ZERO),
    OptionDef::size(
        "bufferLimit",
        "Bytes waiting to be written to the peer; more is dropped with an error in the log.",
    )
    .absent("no limit"),
    OptionDef::string("protocol", "The transport: 'tcp', or 'udp' (a datagram per Data event each way).")
        .one_of(&["tcp", "udp"])
        .default_str("tcp"),
    OptionDef::size("congestionLimit", "Queued bytes past which the writer pushes back.")
        .ignored("backpressure here follows the socket's own writability"),
    OptionDef::bool("keepAlive", "TCP keep-alive probes.")
        .ignored("keep-alive probes are not sent; idleTimeout closes a dead connection"),
    OptionDef::bool("noDelay", "TCP_NODELAY.").ignored("it is always on"),
    OptionDef::new("bind", &[Ty::Str], "The local address to connect from.").refused(),
    OptionDef::new("onState", &[Ty::Function], "Called as the connection changes state.").refused(),
    OptionDef::new("netlinkFamily", &[Ty::Int], "Netlink family, with protocol 'netlink'.").refused(),
];

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let target: Param<String> = if args.is_function(0) {
        Param::Dynamic(args.callback(0)?.expect("checked"))
    } else {
        match args.string(0)? {
            Some(t) => Param::Static(t),
            None => return Err(ArgError(format!("{}: a target like 'host:port' is required", def.name))),
        }
    };
    let r = def.options_at(args, 1)?;
    let udp = (r.opt_string("protocol")?.as_deref() == Some("udp"))
        .then(|| Rc::new(UdpOptions { idle_timeout: r.duration("idleTimeout").ok() }));
    let options = Rc::new(ConnectOptions {
        udp,
        outbound: Rc::new(OutboundOptions {
            connect_timeout: r.opt_duration("connectTimeout")?,
            read_timeout: r.opt_duration("readTimeout")?,
            write_timeout: r.opt_duration("writeTimeout")?,
            idle_timeout: Some(r.duration("idleTimeout")?),
            retry_count: r.int("retryCount")?,
            retry_delay: r.duration("retryDelay")?,
        }),
        buffer_limit: r.opt_size("bufferLimit")?,
    });
    let target = Rc::new(target);
    Ok(FilterSpec::plain(def.name, move || Connect {
        target: target.clone(),
        options: options.clone(),
        outbound: None,
    }))
}

/// The `connect` filter.
pub struct Connect {
    target: Rc<Param<String>>,
    options: Rc<ConnectOptions>,
    outbound: Option<Link>,
}

/// A started connection.
enum Link {
    Tcp(Outbound),
    Udp(UdpOutbound),
}

impl Connect {
    /// Starts the connection; None (the stream ended) if the target cannot be had.
    fn start(&mut self, cx: &mut Cx<'_>) -> Option<()> {
        let target = match &*self.target {
            Param::Static(t) => t.clone(),
            Param::Dynamic(cb) => match cb.call(cx.context(), Arg::None, Want::Str) {
                Ok(Returned::Str(Some(t))) => t,
                Ok(_) => String::new(),
                Err(err) => {
                    report_script_error(&err, "connect");
                    cx.output(Event::error(StreamError::RuntimeError));
                    return None;
                }
            },
        };
        self.outbound = Some(match &self.options.udp {
            Some(udp) => Link::Udp(UdpOutbound::start(target, udp.clone(), cx.handle())),
            None => {
                let flow = cx.context().flow().cloned();
                Link::Tcp(Outbound::start(target, self.options.outbound.clone(), cx.handle(), flow))
            }
        });
        Some(())
    }
}

impl Filter for Connect {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if self.outbound.is_none() {
            // Nothing to send and nothing sent: end without connecting.
            if ev.is_stream_end() {
                return cx.output(ev);
            }
            if self.start(cx).is_none() {
                return;
            }
        }
        match (&self.outbound, ev) {
            (Some(Link::Tcp(o)), Event::Data(d)) => {
                let size = o.link.wire.pending() + d.len();
                if self.options.buffer_limit.is_some_and(|l| size > l) {
                    tracing::error!(size, "connect: outbound buffer over bufferLimit; data dropped");
                    return;
                }
                o.link.wire.send(d);
            }
            (Some(Link::Tcp(o)), Event::StreamEnd(_)) => o.link.wire.end(),
            (Some(Link::Udp(o)), Event::Data(d)) => o.link.send(d),
            (Some(Link::Udp(o)), Event::StreamEnd(_)) => o.link.end(),
            _ => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        match &self.outbound {
            Some(Link::Tcp(o)) => o.link.clone().inbox.drain(cx),
            Some(Link::Udp(o)) => o.link.clone().inbox.drain(cx),
            None => {}
        }
    }
}
