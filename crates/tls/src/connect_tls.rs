//! `connectTLS(options?).to(...)`: the client side of TLS. At the first event a
//! sub-pipeline starts (usually `connect`) and gets the ClientHello; plaintext in
//! is held until the handshake is done and the server's certificate accepted,
//! then encrypted into the sub-pipeline; what the sub-pipeline outputs (the
//! server's ciphertext) is decrypted and output.
//!
//! The server's certificate is checked against `trusted`, or the Mozilla roots
//! when there is none, for the `sni` name; without `sni` no name is sent and the
//! chain alone is checked. A `verify` callback gets the result and decides. A
//! failed handshake ends the stream with an error, logged once with the reason.

use crate::provider;
use crate::session::Tls;
use crate::settings::{
    native, no_name, text, CertSource, Common, ConfigCache, OneCert, Pair, Refusal, ServerCheck, ServerTrust,
    COMMON_OPTIONS,
};
use proxy_core::filters::FilterDef;
use proxy_core::{
    Arg, ArgError, ArgResult, Args, Backpressure, Callback, Context, Cx, Data, Event, Filter, FilterSpec, Gauge,
    LayoutSlot, OptValue, OptionDef, Pipeline, Plain, Returned, StreamError, Ty, Want,
};
use rustls::{ClientConfig, ClientConnection};
use rustls_pki_types::ServerName;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Options only the client side has.
const CLIENT_OPTIONS: &[OptionDef] = &[
    OptionDef::new(
        "sni",
        &[Ty::Str, Ty::Function],
        "The server name to ask for and check the certificate against; or a function returning it.",
    )
    .absent("none: no name is sent and only the certificate's chain is checked"),
    OptionDef::new("alpn", &[Ty::Str, Ty::List], "The protocols to offer, most wanted first.")
        .absent("no protocol negotiation"),
];

/// `connectTLS` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "connectTLS",
    params: "options?: ConnectTLSOptions",
    doc:
        "Originates TLS: plaintext in is encrypted into the sub-pipeline after it, and what that outputs is decrypted.",
    options: &[COMMON_OPTIONS, CLIENT_OPTIONS],
    build,
};

/// Plaintext held while the handshake runs, past which the client is paused.
const HELD_LIMIT: usize = 64 * 1024;
/// Plaintext held while the handshake runs when there is no client to pause.
const HELD_MAX: usize = 1024 * 1024;

/// What every connection of one `connectTLS` shares.
struct Client {
    common: Common,
    sni: Option<Sni>,
    alpn: Vec<Vec<u8>>,
    check: Arc<ServerCheck>,
    configs: RefCell<ConfigCache<ClientConfig>>,
}

enum Sni {
    Fixed(ServerName<'static>),
    Chosen(Rc<dyn Callback>),
}

fn server_name(owner: &str, name: &str) -> ArgResult<ServerName<'static>> {
    ServerName::try_from(name.to_string()).map_err(|_| ArgError(format!("{owner}: sni '{name}' is not a host name")))
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let opts = def.options_at(args, 0)?;
    let common = Common::read(def.name, &opts)?;
    let sni = match opts.raw("sni")? {
        Some(OptValue::Str(s)) => Some(Sni::Fixed(server_name(def.name, &s)?)),
        Some(OptValue::Callback(f)) => Some(Sni::Chosen(f)),
        _ => None,
    };
    let alpn = match opts.raw("alpn")? {
        Some(OptValue::Str(s)) => vec![s.into_bytes()],
        Some(OptValue::List(items)) => items
            .iter()
            .enumerate()
            .map(|(i, v)| match v.as_str() {
                Some(s) if !s.is_empty() && s.len() < 256 => Ok(s.as_bytes().to_vec()),
                _ => Err(ArgError(format!("{}: alpn[{i}] must be a protocol name", def.name))),
            })
            .collect::<ArgResult<_>>()?,
        _ => Vec::new(),
    };
    let trust = match (&common.trusted, &common.hooks.verify) {
        (_, Some(_)) => ServerTrust::Deferred,
        (Some(_), None) => ServerTrust::Checked,
        (None, None) => {
            args.warn(
                "connectTLS takes any server certificate, as Pipy does when neither `trusted` nor `verify` is given; \
                 to check it, give `trusted` (your CA) or `verify: ok => ok` (the Mozilla roots)",
            );
            ServerTrust::Unchecked
        }
    };
    let check =
        ServerCheck::new(common.trusted.clone(), trust).map_err(|why| ArgError(format!("{}: {why}", def.name)))?;
    let client = Rc::new(Client { common, sni, alpn, check, configs: RefCell::default() });
    if let CertSource::Fixed(_) | CertSource::None = client.common.certificate {
        // Made now, so that a bad option fails the load rather than a connection.
        client.config(&Context::new(None), &no_name()).map_err(|why| ArgError(format!("{}: {why}", def.name)))?;
    }
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| ConnectTls {
        client: client.clone(),
        slot: subs[0].clone(),
        state: State::Idle,
        sub: None,
        held: Data::new(),
        held_gauge: Gauge::default(),
        flow: None,
        end_held: None,
        timer: None,
    });
    spec.joint = true;
    Ok(spec)
}

impl Client {
    /// The config for a connection to `name`: the certificate function is called
    /// with it.
    fn config(&self, cx: &Context, name: &ServerName<'_>) -> Result<Arc<ClientConfig>, String> {
        let (identity, pair) = match &self.common.certificate {
            CertSource::None => ([0, 0], None),
            CertSource::Fixed(ck) => ([Arc::as_ptr(ck) as *const () as usize, 0], None),
            CertSource::Chosen(f) => match f.call(cx, Arg::Plain(&[name_arg(name)]), Want::Fields) {
                Ok(Returned::Fields(Some(fields))) => {
                    let pair = Pair::of(&OptValue::Fields(fields))
                        .map_err(|why| format!("the certificate callback's answer: {why}"))?;
                    (pair.identity(), Some(pair))
                }
                Ok(Returned::Pending(_)) => {
                    return Err("the certificate callback returned a Promise; it must answer at once".into())
                }
                Ok(_) => ([0, 0], None),
                Err(e) => return Err(format!("the certificate callback failed: {e}")),
            },
        };
        let certified = match (&self.common.certificate, &pair) {
            (CertSource::Fixed(ck), _) => Some(ck.clone()),
            (_, Some(pair)) => Some(pair.certified()?),
            _ => None,
        };
        self.configs.borrow_mut().get(identity, &[], pair, || {
            let builder = ClientConfig::builder_with_provider(provider())
                .with_protocol_versions(&self.common.versions)
                .map_err(|e| e.to_string())?
                .dangerous()
                .with_custom_certificate_verifier(self.check.clone());
            let mut config = match certified {
                Some(ck) => builder.with_client_cert_resolver(Arc::new(OneCert(ck))),
                None => builder.with_no_client_auth(),
            };
            config.alpn_protocols = self.alpn.clone();
            Ok(config)
        })
    }

    fn name(&self, cx: &Context) -> Result<ServerName<'static>, String> {
        match &self.sni {
            None => Ok(no_name()),
            Some(Sni::Fixed(n)) => Ok(n.clone()),
            Some(Sni::Chosen(f)) => match f.call(cx, Arg::None, Want::Str) {
                Ok(Returned::Str(Some(s))) if !s.is_empty() => {
                    ServerName::try_from(s.clone()).map_err(|_| format!("sni '{s}' is not a host name"))
                }
                Ok(_) => Ok(no_name()),
                Err(e) => Err(format!("the sni callback failed: {e}")),
            },
        }
    }
}

/// The server name as the certificate function gets it (`undefined` for none).
fn name_arg(name: &ServerName<'_>) -> Plain {
    match name {
        ServerName::DnsName(n) => Plain::Str(n.as_ref().to_string()),
        _ => Plain::Undefined,
    }
}

/// Where a connection is.
enum State {
    /// Before the first event.
    Idle,
    /// Handshaking, then carrying data.
    Running(Box<Tls>, ServerName<'static>),
    /// Handshake done and accepted: plaintext flows.
    Open(Box<Tls>),
    /// Ended.
    Done,
}

/// The `connectTLS` filter.
pub struct ConnectTls {
    client: Rc<Client>,
    slot: LayoutSlot,
    state: State,
    sub: Option<Pipeline>,
    /// Plaintext waiting for the handshake.
    held: Data,
    held_gauge: Gauge,
    flow: Option<Rc<Backpressure>>,
    /// StreamEnd that came while the handshake ran.
    end_held: Option<Option<StreamError>>,
    /// Set once `handshakeTimeout` has passed since the handshake started.
    timer: Option<Rc<std::cell::Cell<bool>>>,
}

impl ConnectTls {
    fn start(&mut self, cx: &mut Cx<'_>) {
        let started = self.client.name(cx.context()).and_then(|name| {
            let config = self.client.config(cx.context(), &name)?;
            let conn = ClientConnection::new(config, name.clone()).map_err(|e| e.to_string())?;
            Ok((conn, name))
        });
        let (conn, name) = match started {
            Ok(c) => c,
            Err(why) => return self.fail(cx, Data::new(), why, StreamError::RuntimeError),
        };
        let Some(sub) = cx.sub_pipeline(&self.slot, cx.context().clone(), 0) else {
            return self.fail(cx, Data::new(), "its sub-pipeline is missing".into(), StreamError::RuntimeError);
        };
        self.flow = cx.context().flow().cloned();
        let mut tls = Tls::new(conn);
        let mut wire = Data::new();
        tls.flush(&mut wire);
        self.state = State::Running(Box::new(tls), name);
        self.sub = Some(sub);
        self.timer = Some(crate::settings::handshake_timer(cx, self.client.common.handshake_timeout));
        self.to_server(wire);
    }

    fn to_server(&self, wire: Data) {
        if let (Some(sub), false) = (&self.sub, wire.is_empty()) {
            sub.input(Event::Data(wire));
        }
    }

    fn hold(&mut self, d: Data, cx: &mut Cx<'_>) {
        self.held.push(d);
        match &self.flow {
            Some(flow) => self.held_gauge.update(&flow.toward_server, self.held.len(), HELD_LIMIT),
            // Nothing to pause (a stream with no client connection): a bound instead.
            None if self.held.len() > HELD_MAX => {
                let why = format!("over {HELD_MAX} bytes sent before the handshake was done");
                self.fail(cx, Data::new(), why, StreamError::BufferOverflow)
            }
            None => {}
        }
    }

    fn let_go(&mut self) {
        if let Some(flow) = &self.flow {
            self.held_gauge.clear(&flow.toward_server);
        }
    }

    /// Ciphertext from the server.
    fn receive(&mut self, input: &[u8], cx: &mut Cx<'_>) {
        let (mut plain, mut wire) = (Data::new(), Data::new());
        let (tls, handshaking) = match &mut self.state {
            State::Running(tls, _) => (tls, true),
            State::Open(tls) => (tls, false),
            _ => return,
        };
        if let Err(e) = tls.receive(input, &mut plain, &mut wire) {
            // Not Unauthorized, whatever the cause: that would tell an HTTP client
            // 401, when it is the upstream that failed (502).
            return self.fail(cx, wire, e.to_string(), StreamError::ProtocolError);
        }
        let (done_now, peer_closed) = (handshaking && !tls.handshaking(), tls.peer_closed());
        self.to_server(wire);
        if done_now {
            if let Err((why, error)) = self.established(cx) {
                return self.fail(cx, Data::new(), why, error);
            }
        }
        if !plain.is_empty() {
            cx.output(Event::Data(plain));
        }
        if peer_closed {
            // The server's close_notify: its answer is whole. Say ours and end.
            if let State::Open(tls) = &mut self.state {
                let mut wire = Data::new();
                tls.close(&mut wire);
                self.to_server(wire);
            }
            self.state = State::Done;
            self.let_go();
            if let Some(sub) = self.sub.take() {
                sub.input(Event::end());
            }
            cx.output(Event::end());
        }
    }

    fn established(&mut self, cx: &mut Cx<'_>) -> Result<(), (String, StreamError)> {
        let State::Running(tls, name) = std::mem::replace(&mut self.state, State::Done) else { return Ok(()) };
        let hooks = &self.client.common.hooks;
        let leaf = if hooks.see_peer() { tls.peer() } else { None };
        let peer = || native(leaf.clone());
        if hooks.verify.is_some() {
            let check = self.client.check.check(&tls.peer_certificates(), &name);
            match hooks.verify(cx.context(), check.is_ok(), peer()) {
                Ok(()) => {}
                Err(Refusal::Refused) => {
                    let why = match check {
                        Ok(()) => "verify refused the server's certificate".into(),
                        Err(e) => format!("verify refused the server's certificate, which failed the check: {e}"),
                    };
                    return Err((why, StreamError::ProtocolError));
                }
                Err(Refusal::Failed(why)) => return Err((why, StreamError::RuntimeError)),
            }
        }
        if hooks.handshake.is_some() {
            let info = vec![("alpn", text(tls.alpn())), ("version", text(tls.version())), ("peer", peer())];
            hooks.handshake(cx.context(), info).map_err(|why| (why, StreamError::RuntimeError))?;
        }
        if hooks.on_state.is_some() {
            let session = vec![("state", text(Some("connected"))), ("protocol", text(tls.alpn())), ("peer", peer())];
            hooks.on_state(cx.context(), DEF.name, session);
        }
        let mut tls = tls;
        let mut wire = Data::new();
        let held = std::mem::take(&mut self.held);
        tls.send(&held, &mut wire);
        self.let_go();
        if let Some(end) = self.end_held.take() {
            if end.is_none() {
                tls.close(&mut wire);
            }
            self.to_server(wire);
            self.state = State::Open(tls);
            if let Some(sub) = &self.sub {
                sub.input(Event::StreamEnd(end));
            }
            return Ok(());
        }
        self.state = State::Open(tls);
        self.to_server(wire);
        Ok(())
    }

    fn fail(&mut self, cx: &mut Cx<'_>, wire: Data, why: String, error: StreamError) {
        let handshaking = !matches!(self.state, State::Open(_));
        let what = if handshaking { "handshake with the server" } else { "connection to the server" };
        tracing::warn!("{}: {what} failed: {why}", DEF.name);
        self.state = State::Done;
        self.let_go();
        self.held = Data::new();
        if let Some(sub) = self.sub.take() {
            if !wire.is_empty() {
                sub.input(Event::Data(wire));
            }
            sub.input(Event::error(error));
        }
        cx.output(Event::error(error));
    }
}

impl Drop for ConnectTls {
    fn drop(&mut self) {
        self.let_go();
    }
}

impl Filter for ConnectTls {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        if matches!(self.state, State::Idle) {
            if let Event::StreamEnd(_) = ev {
                // Ended before anything was sent: nothing to connect, as with `connect`.
                self.state = State::Done;
                return cx.output(ev);
            }
            self.start(cx);
        }
        match ev {
            Event::Data(d) => match &mut self.state {
                State::Running(..) => self.hold(d, cx),
                State::Open(tls) => {
                    let mut wire = Data::new();
                    tls.send(&d, &mut wire);
                    self.to_server(wire);
                }
                _ => {}
            },
            Event::StreamEnd(e) => match &mut self.state {
                State::Running(..) => self.end_held = Some(e),
                State::Open(tls) => {
                    // close_notify only after a whole stream: after an error the
                    // server must see the connection cut, not a clean end.
                    if e.is_none() {
                        let mut wire = Data::new();
                        tls.close(&mut wire);
                        self.to_server(wire);
                    }
                    if let Some(sub) = &self.sub {
                        sub.input(Event::StreamEnd(e));
                    }
                }
                _ => {}
            },
            Event::MessageStart(_) | Event::MessageEnd(_) => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let fired = self.timer.as_ref().is_some_and(|t| t.get());
        if fired && matches!(self.state, State::Running(..)) {
            let why = format!("not done within {}", proxy_core::format_duration(self.client.common.handshake_timeout));
            self.fail(cx, Data::new(), why, StreamError::ReadTimeout);
        }
    }

    fn on_sub_event(&mut self, _: usize, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::Data(d) => {
                for chunk in d.chunks() {
                    if matches!(self.state, State::Done) {
                        return;
                    }
                    self.receive(chunk, cx);
                }
            }
            Event::StreamEnd(e) => {
                let was_handshaking = matches!(self.state, State::Running(..));
                if matches!(self.state, State::Done) {
                    return;
                }
                self.state = State::Done;
                self.let_go();
                self.sub = None;
                let e = match e {
                    None if was_handshaking => {
                        tracing::warn!("{}: the server closed the connection during the handshake", DEF.name);
                        Some(StreamError::ConnectionReset)
                    }
                    e => e,
                };
                cx.output(Event::StreamEnd(e));
            }
            Event::MessageStart(_) | Event::MessageEnd(_) => {}
        }
    }
}
