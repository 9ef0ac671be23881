//! `acceptTLS(options).to(...)`: the server side of TLS. Ciphertext from the client
//! comes in as Data; once the handshake is done a sub-pipeline starts (with an
//! empty Data, as in Pipy) and gets the plaintext; what it outputs is encrypted
//! and output. The certificate is the one given, or the one a callback picks for
//! the server name the client asked for; the protocol is negotiated from `alpn`.
//!
//! A failed handshake (no common version or protocol, no certificate for the name,
//! a client certificate not trusted, bytes that are not TLS) outputs the alert
//! rustls gives, if any, and ends the stream with an error, logged once with the
//! reason. A client's StreamEnd ends the sub-pipeline; the sub-pipeline's
//! StreamEnd sends close_notify and ends the output.

use crate::provider;
use crate::session::Tls;
use crate::settings::{
    native, text, CertSource, ClientCheck, Common, ConfigCache, OneCert, Pair, Refusal, COMMON_OPTIONS,
};
use proxy_core::filters::FilterDef;
use proxy_core::{
    Arg, ArgError, ArgResult, Args, Callback, Context, Cx, Data, Event, Filter, FilterSpec, LayoutSlot, OptValue,
    OptionDef, Pipeline, Plain, Returned, StreamError, Ty, Want,
};
use rustls::server::{Accepted, Acceptor};
use rustls::ServerConfig;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::Arc;

/// Options only the server side has.
const SERVER_OPTIONS: &[OptionDef] = &[
    OptionDef::new(
        "alpn",
        &[Ty::List, Ty::Function],
        "Protocols to accept, in the client's order of preference; or names => index of the one to take.",
    )
    .absent("no protocol negotiation"),
    OptionDef::string("dhparam", "Diffie-Hellman parameters.").ignored("only ECDHE key exchange is offered"),
];

/// `acceptTLS` as scripts see it.
pub const DEF: FilterDef = FilterDef {
    name: "acceptTLS",
    params: "options: AcceptTLSOptions",
    doc: "Terminates TLS: the sub-pipeline after it sees the client's plaintext, and its output is encrypted back.",
    options: &[COMMON_OPTIONS, SERVER_OPTIONS],
    build,
};

/// How the protocol is negotiated.
enum Alpn {
    /// Not at all.
    None,
    /// The first of the client's that is in this list.
    List(Vec<String>),
    /// A script function picks the index of one of the client's.
    Chosen(Rc<dyn Callback>),
}

/// What every connection of one `acceptTLS` shares.
struct Server {
    common: Common,
    alpn: Alpn,
    client_check: Option<Arc<ClientCheck>>,
    configs: RefCell<ConfigCache<ServerConfig>>,
}

fn build(def: &'static FilterDef, args: &mut dyn Args) -> ArgResult<FilterSpec> {
    let opts = def.options_at(args, 0)?;
    let common = Common::read(def.name, &opts)?;
    if matches!(common.certificate, CertSource::None) {
        return Err(ArgError(format!("{}: the certificate option is required", def.name)));
    }
    let alpn = match opts.raw("alpn")? {
        Some(OptValue::List(items)) => Alpn::List(
            items
                .iter()
                .enumerate()
                .map(|(i, v)| match v.as_str() {
                    Some(s) if !s.is_empty() && s.len() < 256 => Ok(s.to_string()),
                    _ => Err(ArgError(format!("{}: alpn[{i}] must be a protocol name", def.name))),
                })
                .collect::<ArgResult<_>>()?,
        ),
        Some(OptValue::Callback(f)) => Alpn::Chosen(f),
        _ => Alpn::None,
    };
    let client_check = match &common.trusted {
        Some(roots) => Some(
            ClientCheck::new(roots.clone(), common.hooks.verify.is_some())
                .map_err(|why| ArgError(format!("{}: {why}", def.name)))?,
        ),
        None => None,
    };
    let server = Rc::new(Server { common, alpn, client_check, configs: RefCell::default() });
    let mut spec = FilterSpec::with_subs(def.name, Vec::new(), move |subs| AcceptTls {
        server: server.clone(),
        slot: subs[0].clone(),
        state: State::Hello(Box::default()),
        sub: None,
        ended_in: false,
        timer: None,
    });
    spec.joint = true;
    Ok(spec)
}

/// Why a handshake failed: what to log, and the error the stream ends with.
struct Failure(String, StreamError);

impl Server {
    /// The config for a client's hello: its certificate and the protocol chosen.
    fn config_for(&self, cx: &Context, accepted: &Accepted) -> Result<Arc<ServerConfig>, Failure> {
        let hello = accepted.client_hello();
        let sni = hello.server_name().map(str::to_string);
        let offered: Vec<String> = hello
            .alpn()
            .map(|names| names.map(|n| String::from_utf8_lossy(n).into_owned()).collect())
            .unwrap_or_default();
        let protocol = self.choose_protocol(cx, &offered)?;
        let (identity, keep, certified) = match &self.common.certificate {
            CertSource::Fixed(ck) => ([Arc::as_ptr(ck) as *const () as usize, 0], None, Some(ck.clone())),
            CertSource::Chosen(f) => {
                let arg = [sni.clone().map(Plain::Str).unwrap_or(Plain::Undefined)];
                let pair = match f.call(cx, Arg::Plain(&arg), Want::Fields) {
                    Ok(Returned::Fields(Some(fields))) => Pair::of(&OptValue::Fields(fields)).map_err(|why| {
                        Failure(format!("the certificate callback's answer: {why}"), StreamError::RuntimeError)
                    })?,
                    Ok(Returned::Pending(_)) => {
                        return Err(Failure(
                            "the certificate callback returned a Promise; it must answer at once".into(),
                            StreamError::RuntimeError,
                        ))
                    }
                    Ok(_) => {
                        let name = sni.as_deref().unwrap_or("(none)");
                        return Err(Failure(
                            format!("no certificate for server name {name}"),
                            StreamError::ProtocolError,
                        ));
                    }
                    Err(e) => {
                        return Err(Failure(format!("the certificate callback failed: {e}"), StreamError::RuntimeError))
                    }
                };
                (pair.identity(), Some(pair), None)
            }
            CertSource::None => unreachable!("checked at load"),
        };
        let alpn = protocol.clone().unwrap_or_default();
        let mut configs = self.configs.borrow_mut();
        // The pair goes into the cache with its config: its objects must live as
        // long as the identity the entry is found by.
        let make_from = keep.clone();
        let made = configs.get(identity, alpn.as_bytes(), keep, || {
            let ck = match (&certified, &make_from) {
                (Some(ck), _) => ck.clone(),
                (None, Some(pair)) => pair.certified()?,
                (None, None) => unreachable!(),
            };
            self.make_config(ck, protocol)
        });
        made.map_err(|why| Failure(why, StreamError::RuntimeError))
    }

    fn choose_protocol(&self, cx: &Context, offered: &[String]) -> Result<Option<String>, Failure> {
        if offered.is_empty() {
            return Ok(None);
        }
        match &self.alpn {
            Alpn::None => Ok(None),
            // None in common: offering rustls our list makes it refuse with the
            // no_application_protocol alert, as the client should hear.
            Alpn::List(ours) => Ok(offered.iter().find(|p| ours.contains(p)).or(ours.first()).cloned()),
            Alpn::Chosen(f) => {
                let names: Vec<Plain> = offered.iter().cloned().map(Plain::Str).collect();
                match f.call(cx, Arg::Plain(&[Plain::List(names)]), Want::Number) {
                    Ok(Returned::Number(Some(i))) if i >= 0.0 && (i as usize) < offered.len() && i.fract() == 0.0 => {
                        Ok(Some(offered[i as usize].clone()))
                    }
                    // Declined: a protocol the client did not offer makes rustls
                    // refuse with the no_application_protocol alert.
                    Ok(_) => Ok(Some(unoffered(offered))),
                    Err(e) => Err(Failure(format!("the alpn callback failed: {e}"), StreamError::RuntimeError)),
                }
            }
        }
    }

    fn make_config(
        &self,
        ck: Arc<rustls::sign::CertifiedKey>,
        protocol: Option<String>,
    ) -> Result<ServerConfig, String> {
        let builder = ServerConfig::builder_with_provider(provider())
            .with_protocol_versions(&self.common.versions)
            .map_err(|e| e.to_string())?;
        let builder = match &self.client_check {
            Some(check) => builder.with_client_cert_verifier(check.clone()),
            None => builder.with_no_client_auth(),
        };
        let mut config = builder.with_cert_resolver(Arc::new(OneCert(ck)));
        config.alpn_protocols = protocol.map(|p| vec![p.into_bytes()]).unwrap_or_default();
        Ok(config)
    }
}

/// A protocol name the client did not offer.
fn unoffered(offered: &[String]) -> String {
    (0..).map(|i| format!("none-{i}")).find(|n| !offered.contains(n)).expect("some name is not offered")
}

/// Where a connection is.
enum State {
    /// Reading the ClientHello.
    Hello(Box<Acceptor>),
    /// Handshaking, then carrying data.
    Running(Box<Tls>),
    /// Ended.
    Done,
}

/// The `acceptTLS` filter.
pub struct AcceptTls {
    server: Rc<Server>,
    slot: LayoutSlot,
    state: State,
    sub: Option<Pipeline>,
    /// The client's StreamEnd came (answers may still go out).
    ended_in: bool,
    /// Set once `handshakeTimeout` has passed since the first byte.
    timer: Option<Rc<std::cell::Cell<bool>>>,
}

impl AcceptTls {
    fn receive(&mut self, mut input: &[u8], cx: &mut Cx<'_>) {
        let mut wire = Data::new();
        if let State::Hello(acceptor) = &mut self.state {
            while !input.is_empty() {
                if let Err(e) = acceptor.read_tls(&mut input) {
                    return self.fail(
                        cx,
                        wire,
                        Failure(format!("reading the ClientHello: {e}"), StreamError::ProtocolError),
                    );
                }
                match acceptor.accept() {
                    Ok(None) => continue,
                    Ok(Some(accepted)) => {
                        let config = match self.server.config_for(cx.context(), &accepted) {
                            Ok(c) => c,
                            Err(f) => return self.fail(cx, wire, f),
                        };
                        match accepted.into_connection(config) {
                            Ok(conn) => {
                                let mut tls = Tls::new(conn);
                                tls.flush(&mut wire);
                                self.state = State::Running(Box::new(tls));
                                self.call_on_state(cx, "handshake", None);
                                break;
                            }
                            Err((e, mut alert)) => {
                                let mut bytes = Vec::new();
                                let _ = alert.write_all(&mut bytes);
                                wire.push_bytes(bytes.into());
                                return self.fail(cx, wire, Failure(e.to_string(), StreamError::ProtocolError));
                            }
                        }
                    }
                    Err((e, mut alert)) => {
                        let mut bytes = Vec::new();
                        let _ = alert.write_all(&mut bytes);
                        wire.push_bytes(bytes.into());
                        return self.fail(cx, wire, Failure(e.to_string(), StreamError::ProtocolError));
                    }
                }
            }
        }
        let State::Running(tls) = &mut self.state else { return self.output(cx, wire) };
        let was_handshaking = tls.handshaking();
        let mut plain = Data::new();
        let result = tls.receive(input, &mut plain, &mut wire);
        let (done_now, peer_closed) = (was_handshaking && !tls.handshaking(), tls.peer_closed());
        if let Err(e) = result {
            let error = match e {
                rustls::Error::InvalidCertificate(_) | rustls::Error::NoCertificatesPresented => {
                    StreamError::Unauthorized
                }
                _ => StreamError::ProtocolError,
            };
            return self.fail(cx, wire, Failure(e.to_string(), error));
        }
        self.output(cx, wire);
        if done_now {
            if let Err(f) = self.established(cx) {
                return self.fail(cx, Data::new(), f);
            }
        }
        if !plain.is_empty() {
            if let Some(sub) = &self.sub {
                sub.input(Event::Data(plain));
            }
        }
        if peer_closed && !self.ended_in {
            self.ended_in = true;
            if let Some(sub) = &self.sub {
                sub.input(Event::end());
            }
        }
    }

    /// The handshake is done: the script checks the client's certificate and
    /// hears about it, and the sub-pipeline starts.
    fn established(&mut self, cx: &mut Cx<'_>) -> Result<(), Failure> {
        let State::Running(tls) = &self.state else { return Ok(()) };
        let hooks = &self.server.common.hooks;
        let leaf = if hooks.see_peer() { tls.peer() } else { None };
        let peer = || native(leaf.clone());
        if let (Some(_), Some(check)) = (&hooks.verify, &self.server.client_check) {
            let ok = check.check(&tls.peer_certificates());
            match hooks.verify(cx.context(), ok, peer()) {
                Ok(()) => {}
                Err(Refusal::Refused) => {
                    return Err(Failure("verify refused the client's certificate".into(), StreamError::Unauthorized))
                }
                Err(Refusal::Failed(why)) => return Err(Failure(why, StreamError::RuntimeError)),
            }
        }
        if hooks.handshake.is_some() {
            let info = vec![
                ("alpn", text(tls.alpn())),
                ("serverName", text(tls.server_name())),
                ("version", text(tls.version())),
                ("peer", peer()),
            ];
            hooks.handshake(cx.context(), info).map_err(|why| Failure(why, StreamError::RuntimeError))?;
        }
        self.call_on_state(cx, "connected", None);
        match cx.sub_pipeline(&self.slot, cx.context().clone(), 0) {
            Some(sub) => {
                sub.input(Event::Data(Data::new()));
                self.sub = Some(sub);
                Ok(())
            }
            None => Err(Failure("its sub-pipeline is missing".into(), StreamError::RuntimeError)),
        }
    }

    fn call_on_state(&self, cx: &mut Cx<'_>, state: &str, error: Option<&str>) {
        let hooks = &self.server.common.hooks;
        if hooks.on_state.is_none() {
            return;
        }
        let tls = match &self.state {
            State::Running(tls) => Some(tls),
            _ => None,
        };
        let session = vec![
            ("state", text(Some(state))),
            ("error", text(error)),
            ("protocol", text(tls.and_then(|t| t.alpn()))),
            ("hostname", text(tls.and_then(|t| t.server_name()))),
            ("peer", native(tls.and_then(|t| t.peer()))),
        ];
        hooks.on_state(cx.context(), DEF.name, session);
    }

    fn output(&self, cx: &mut Cx<'_>, wire: Data) {
        if !wire.is_empty() {
            cx.output(Event::Data(wire));
        }
    }

    /// Ends the stream after a failed handshake (or a broken record later).
    fn fail(&mut self, cx: &mut Cx<'_>, wire: Data, Failure(why, error): Failure) {
        let peer = cx.context().inbound().map(|i| i.remote.to_string()).unwrap_or_else(|| "a client".into());
        let handshaking = !matches!(&self.state, State::Running(t) if !t.handshaking());
        let what = if handshaking { "handshake with" } else { "connection with" };
        tracing::warn!("{}: {what} {peer} failed: {why}", DEF.name);
        self.call_on_state(cx, "closed", Some(&why));
        self.state = State::Done;
        self.output(cx, wire);
        cx.output(Event::error(error));
        if let Some(sub) = self.sub.take() {
            sub.input(Event::error(error));
        }
    }
}

impl Filter for AcceptTls {
    fn on_event(&mut self, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::Data(d) => {
                if self.timer.is_none() {
                    self.timer = Some(crate::settings::handshake_timer(cx, self.server.common.handshake_timeout));
                }
                for chunk in d.chunks() {
                    if matches!(self.state, State::Done) {
                        return;
                    }
                    self.receive(chunk, cx);
                }
            }
            Event::StreamEnd(e) => {
                if matches!(self.state, State::Done) || self.ended_in {
                    return;
                }
                self.ended_in = true;
                match &self.sub {
                    Some(sub) => sub.input(Event::StreamEnd(e)),
                    None => {
                        self.state = State::Done;
                        cx.output(Event::StreamEnd(e));
                    }
                }
            }
            Event::MessageStart(_) | Event::MessageEnd(_) => {}
        }
    }

    fn on_wake(&mut self, cx: &mut Cx<'_>) {
        let fired = self.timer.as_ref().is_some_and(|t| t.get());
        let handshaking = match &self.state {
            State::Hello(_) => true,
            State::Running(tls) => tls.handshaking(),
            State::Done => false,
        };
        if fired && handshaking {
            let why = format!("not done within {}", proxy_core::format_duration(self.server.common.handshake_timeout));
            self.fail(cx, Data::new(), Failure(why, StreamError::ReadTimeout));
        }
    }

    fn on_sub_event(&mut self, _: usize, ev: Event, cx: &mut Cx<'_>) {
        match ev {
            Event::Data(d) => {
                if let State::Running(tls) = &mut self.state {
                    let mut wire = Data::new();
                    tls.send(&d, &mut wire);
                    self.output(cx, wire);
                }
            }
            Event::StreamEnd(e) => {
                if matches!(self.state, State::Done) {
                    return; // ended already (a failure), or queued before it
                }
                let mut wire = Data::new();
                // close_notify only for a whole answer: after an error the client
                // must see the connection cut, not a clean end of a truncated one.
                if let (State::Running(tls), None) = (&mut self.state, &e) {
                    tls.close(&mut wire);
                }
                self.state = State::Done;
                self.sub = None;
                self.output(cx, wire);
                cx.output(Event::StreamEnd(e));
            }
            Event::MessageStart(_) | Event::MessageEnd(_) => {}
        }
    }
}
