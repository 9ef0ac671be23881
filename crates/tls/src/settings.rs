//! What the options of `acceptTLS` and `connectTLS` become: rustls configs built
//! once per filter (or once per certificate a callback picks, kept in a small
//! cache), the verifiers, and the callbacks the filters call around a handshake.
//!
//! Certificate checks that call the script (`verify`) cannot run inside rustls,
//! whose configs are shared across threads while script functions are not. With
//! `verify`, rustls is told to take any peer certificate (handshake signatures are
//! still checked), and the filter runs the same WebPKI check itself once the
//! handshake is done, hands the script its result and the certificate, and ends the
//! stream if the script says no; no byte of application data passes before that.

use crate::keys::{certified_key, Certificate, CertificateChain, PrivateKey};
use crate::provider;
use proxy_core::{
    Arg, ArgError, ArgResult, Callback, Context, OptValue, OptionDef, OptionReader, Plain, Returned, Ty, Want,
};
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::sign::CertifiedKey;
use rustls::{DigitallySignedStruct, DistinguishedName, RootCertStore, SignatureScheme, SupportedProtocolVersion};
use rustls_pki_types::{CertificateDer, ServerName, SubjectPublicKeyInfoDer, UnixTime};
use std::rc::Rc;
use std::sync::Arc;

/// The options both TLS filters take.
pub const COMMON_OPTIONS: &[OptionDef] = &[
    OptionDef::new(
        "certificate",
        &[Ty::Object, Ty::Function],
        "{ cert, key }: a crypto.Certificate or crypto.CertificateChain and its crypto.PrivateKey; or a function of the server name returning one (at once, not a Promise).",
    ),
    OptionDef::new("trusted", &[Ty::List], "crypto.Certificate objects a peer's certificate must chain to.")
        .absent("acceptTLS: clients need no certificate; connectTLS: unchecked, unless verify is given (then the Mozilla roots)"),
    OptionDef::new(
        "verify",
        &[Ty::Function],
        "(ok, cert) => boolean: called with the result of checking the peer's certificate; a truthy answer lets the handshake finish.",
    ),
    OptionDef::new("onVerify", &[Ty::Function], "Another name of verify."),
    OptionDef::new("handshake", &[Ty::Function], "Called with { alpn, version, peer } (and serverName on acceptTLS) once the handshake is done."),
    OptionDef::new("onState", &[Ty::Function], "Called with the session ({ state, error, protocol, hostname, peer }) when its state changes."),
    OptionDef::string("minVersion", "The oldest TLS version allowed ('TLS1' and 'TLS1.1' mean TLS 1.2 here).")
        .one_of(&["TLS1", "TLS1.1", "TLS1.2", "TLS1.3"])
        .default_str("TLS1.2"),
    OptionDef::string("maxVersion", "The newest TLS version allowed.").one_of(&["TLS1.2", "TLS1.3"]).default_str("TLS1.3"),
    OptionDef::duration("handshakeTimeout", "A handshake not done within this long ends the stream with ReadTimeout.")
        .default_duration(std::time::Duration::from_secs(10)),
    OptionDef::string("ciphers", "An OpenSSL cipher list.").refused(),
    OptionDef::bool("ntls", "Chinese national TLS (TLCP).").refused(),
];

/// Wakes a filter once `after` has passed; it then checks whether its handshake
/// is done (a handshake that finished in time makes the wake-up a no-op).
pub fn handshake_timer(cx: &proxy_core::Cx<'_>, after: std::time::Duration) -> Rc<std::cell::Cell<bool>> {
    let (fired, handle) = (Rc::new(std::cell::Cell::new(false)), cx.handle());
    let flag = fired.clone();
    proxy_core::call_after(after, move || {
        flag.set(true);
        handle.wake();
    });
    fired
}

/// Where a filter's own certificate comes from.
pub enum CertSource {
    /// None (a client without one).
    None,
    /// Fixed at load.
    Fixed(Arc<CertifiedKey>),
    /// Chosen per handshake by the script, from the server name.
    Chosen(Rc<dyn Callback>),
}

/// What the script's callbacks around a handshake are.
#[derive(Default)]
pub struct Hooks {
    /// `verify(ok, cert)`.
    pub verify: Option<Rc<dyn Callback>>,
    /// `handshake(info)`.
    pub handshake: Option<Rc<dyn Callback>>,
    /// `onState(session)`.
    pub on_state: Option<Rc<dyn Callback>>,
}

/// How `verify` said no.
pub enum Refusal {
    /// It answered falsy.
    Refused,
    /// It threw, or answered with a Promise: why.
    Failed(String),
}

/// A string for a script, or `undefined`.
pub fn text(v: Option<impl Into<String>>) -> Plain {
    v.map(|s| Plain::Str(s.into())).unwrap_or(Plain::Undefined)
}

/// A native value for a script (a certificate), or `undefined`.
pub fn native<T: 'static>(v: Option<Rc<T>>) -> Plain {
    v.map(|v| Plain::Native(v as Rc<dyn std::any::Any>)).unwrap_or(Plain::Undefined)
}

impl Hooks {
    /// Whether a callback will see the peer's certificate (so it is worth parsing).
    pub fn see_peer(&self) -> bool {
        self.verify.is_some() || self.handshake.is_some() || self.on_state.is_some()
    }

    /// Asks `verify`, if there is one, about the peer's certificate `cert` whose
    /// check gave `ok`.
    pub fn verify(&self, cx: &Context, ok: bool, cert: Plain) -> Result<(), Refusal> {
        let Some(verify) = &self.verify else { return Ok(()) };
        match verify.call(cx, Arg::Plain(&[Plain::Bool(ok), cert]), Want::Bool) {
            Ok(Returned::Bool(true)) => Ok(()),
            Ok(Returned::Pending(_)) => {
                Err(Refusal::Failed("verify returned a Promise; it must answer at once".into()))
            }
            Ok(_) => Err(Refusal::Refused),
            Err(e) => Err(Refusal::Failed(format!("verify failed: {e}"))),
        }
    }

    /// Tells `handshake`, if there is one, about the handshake done.
    pub fn handshake(&self, cx: &Context, info: Vec<(&'static str, Plain)>) -> Result<(), String> {
        let Some(f) = &self.handshake else { return Ok(()) };
        f.call(cx, Arg::Plain(&[Plain::Object(info)]), Want::Nothing)
            .map(|_| ())
            .map_err(|e| format!("the handshake callback failed: {e}"))
    }

    /// Tells `onState`, if there is one, about the session; its errors are logged.
    pub fn on_state(&self, cx: &Context, owner: &str, session: Vec<(&'static str, Plain)>) {
        let Some(f) = &self.on_state else { return };
        if let Err(e) = f.call(cx, Arg::Plain(&[Plain::Object(session)]), Want::Nothing) {
            proxy_core::report_script_error(&e, owner);
        }
    }
}

/// The options both filters share, read.
pub struct Common {
    /// The protocol versions allowed.
    pub versions: Vec<&'static SupportedProtocolVersion>,
    /// The filter's own certificate.
    pub certificate: CertSource,
    /// `trusted`, as a root store.
    pub trusted: Option<Arc<RootCertStore>>,
    /// The callbacks.
    pub hooks: Hooks,
    /// How long a handshake may take.
    pub handshake_timeout: std::time::Duration,
}

fn err(owner: &str, why: impl std::fmt::Display) -> ArgError {
    ArgError(format!("{owner}: {why}"))
}

impl Common {
    /// Reads the shared options of `owner`.
    pub fn read(owner: &str, opts: &OptionReader) -> ArgResult<Common> {
        let version = |name: &str| -> ArgResult<&'static SupportedProtocolVersion> {
            Ok(match opts.opt_string(name)?.as_deref() {
                Some("TLS1.3") => &rustls::version::TLS13,
                _ => &rustls::version::TLS12,
            })
        };
        let (min, max) = (version("minVersion")?, version("maxVersion")?);
        let versions: Vec<_> = [&rustls::version::TLS12, &rustls::version::TLS13]
            .into_iter()
            .filter(|v| (u16::from(min.version)..=u16::from(max.version)).contains(&u16::from(v.version)))
            .collect();
        if versions.is_empty() {
            return Err(err(owner, "minVersion is newer than maxVersion"));
        }
        let certificate = match opts.raw("certificate")? {
            None => CertSource::None,
            Some(OptValue::Callback(f)) => CertSource::Chosen(f),
            Some(v) => CertSource::Fixed(certified_pair(&v).map_err(|why| err(owner, format!("certificate: {why}")))?),
        };
        let trusted = match opts.raw("trusted")? {
            Some(OptValue::List(items)) => Some(Arc::new(root_store(&items).map_err(|why| err(owner, why))?)),
            _ => None,
        };
        let callback = |name: &str| -> ArgResult<Option<Rc<dyn Callback>>> {
            Ok(match opts.raw(name)? {
                Some(OptValue::Callback(f)) => Some(f),
                _ => None,
            })
        };
        let hooks = Hooks {
            verify: callback("verify")?.or(callback("onVerify")?),
            handshake: callback("handshake")?,
            on_state: callback("onState")?,
        };
        let handshake_timeout = opts.duration("handshakeTimeout")?;
        Ok(Common { versions, certificate, trusted, hooks, handshake_timeout })
    }
}

/// The objects of a `{ cert, key }` pair, not yet checked to belong together.
#[derive(Clone)]
pub struct Pair {
    cert: OptValue,
    key: Rc<PrivateKey>,
}

impl Pair {
    /// The pair in `v`, if it is one.
    pub fn of(v: &OptValue) -> Result<Pair, String> {
        let OptValue::Fields(fields) = v else {
            return Err("expected an object { cert, key }".into());
        };
        let cert = fields.get("cert").ok_or("cert is missing")?;
        if cert.native::<Certificate>().is_none() && cert.native::<CertificateChain>().is_none() {
            return Err("cert must be a crypto.Certificate or a crypto.CertificateChain".into());
        }
        let key = fields.get("key").ok_or("key is missing")?;
        let key = key.native::<PrivateKey>().ok_or("key must be a crypto.PrivateKey")?;
        Ok(Pair { cert, key })
    }

    /// Which objects these are: equal for the same two objects.
    pub fn identity(&self) -> [usize; 2] {
        let cert = match &self.cert {
            OptValue::Native(v) => Rc::as_ptr(v) as *const () as usize,
            _ => 0,
        };
        [cert, Rc::as_ptr(&self.key) as usize]
    }

    /// The certificate and key, checked to belong together.
    pub fn certified(&self) -> Result<Arc<CertifiedKey>, String> {
        let chain = match (self.cert.native::<Certificate>(), self.cert.native::<CertificateChain>()) {
            (Some(c), _) => CertificateChain::of((*c).clone()),
            (_, Some(c)) => (*c).clone(),
            _ => unreachable!("checked in Pair::of"),
        };
        certified_key(&chain, &self.key).map_err(|e| e.0)
    }
}

/// `{ cert, key }` as a checked certificate and key.
pub fn certified_pair(v: &OptValue) -> Result<Arc<CertifiedKey>, String> {
    Pair::of(v)?.certified()
}

fn root_store(items: &[OptValue]) -> Result<RootCertStore, String> {
    let mut roots = RootCertStore::empty();
    for (i, item) in items.iter().enumerate() {
        let cert = item.native::<Certificate>().ok_or_else(|| format!("trusted[{i}] must be a crypto.Certificate"))?;
        roots.add(cert.der().clone()).map_err(|e| format!("trusted[{i}] cannot be a trust anchor: {e}"))?;
    }
    if roots.is_empty() {
        return Err("trusted is empty: give the certificates peers must chain to, or leave it out".into());
    }
    Ok(roots)
}

/// The server's check of client certificates: WebPKI against `trusted`, or, when
/// the script verifies, any certificate now and the WebPKI result handed to the
/// script after the handshake.
#[derive(Debug)]
pub struct ClientCheck {
    webpki: Arc<dyn ClientCertVerifier>,
    deferred: bool,
}

impl ClientCheck {
    /// A check against `roots`; `deferred` when a `verify` callback decides.
    pub fn new(roots: Arc<RootCertStore>, deferred: bool) -> Result<Arc<ClientCheck>, String> {
        let webpki = WebPkiClientVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| format!("trusted: {e}"))?;
        Ok(Arc::new(ClientCheck { webpki, deferred }))
    }

    /// The WebPKI result for a client's chain (for `verify`).
    pub fn check(&self, chain: &[CertificateDer<'static>]) -> bool {
        let Some((ee, rest)) = chain.split_first() else { return false };
        self.webpki.verify_client_cert(ee, rest, UnixTime::now()).is_ok()
    }
}

impl ClientCertVerifier for ClientCheck {
    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        self.webpki.root_hint_subjects()
    }
    fn verify_client_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        if self.deferred {
            return Ok(ClientCertVerified::assertion());
        }
        self.webpki.verify_client_cert(end_entity, intermediates, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss).or_else(|e| by_key(e, message, cert, dss, false))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss).or_else(|e| by_key(e, message, cert, dss, true))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// The name a client connects with when the script gives no `sni`: an address no
/// certificate is for. No SNI is sent for it, and the server's certificate is then
/// checked for its chain only, as Pipy does.
pub fn no_name() -> ServerName<'static> {
    ServerName::from(std::net::Ipv4Addr::UNSPECIFIED)
}

/// What `connectTLS` does with the server's certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServerTrust {
    /// rustls checks it against `trusted` (there is no `verify`).
    Checked,
    /// Any is taken in the handshake; the filter then hands the check's result
    /// to `verify`, which decides.
    Deferred,
    /// Any is taken and nothing is checked but the handshake's signature: neither
    /// `trusted` nor `verify` was given, which is how Pipy (and nginx's
    /// `proxy_ssl_verify off`) behave. The filter warns at load.
    Unchecked,
}

/// The client's check of server certificates: WebPKI against `trusted` or the
/// Mozilla roots, for the name the client asked for, as `ServerTrust` says.
#[derive(Debug)]
pub struct ServerCheck {
    webpki: Arc<WebPkiServerVerifier>,
    trust: ServerTrust,
}

impl ServerCheck {
    /// A check against `roots` (the Mozilla roots when `None`).
    pub fn new(roots: Option<Arc<RootCertStore>>, trust: ServerTrust) -> Result<Arc<ServerCheck>, String> {
        let roots = roots.unwrap_or_else(|| Arc::new(RootCertStore { roots: webpki_roots::TLS_SERVER_ROOTS.to_vec() }));
        let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
            .build()
            .map_err(|e| format!("trusted: {e}"))?;
        Ok(Arc::new(ServerCheck { webpki, trust }))
    }

    fn webpki_check(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        name: &ServerName<'_>,
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let result = self.webpki.verify_server_cert(end_entity, intermediates, name, &[], now);
        match result {
            // webpki checks the chain before the name: a wrong name means a good chain.
            Err(rustls::Error::InvalidCertificate(
                rustls::CertificateError::NotValidForName | rustls::CertificateError::NotValidForNameContext { .. },
            )) if *name == no_name() => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    /// The WebPKI result for a server's chain and the name asked for (for
    /// `verify`): why it fails, if it does.
    pub fn check(&self, chain: &[CertificateDer<'static>], name: &ServerName<'_>) -> Result<(), String> {
        let Some((ee, rest)) = chain.split_first() else { return Err("no certificate".into()) };
        self.webpki_check(ee, rest, name, UnixTime::now()).map(|_| ()).map_err(|e| e.to_string())
    }
}

impl ServerCertVerifier for ServerCheck {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if self.trust != ServerTrust::Checked {
            return Ok(ServerCertVerified::assertion());
        }
        self.webpki_check(end_entity, intermediates, server_name, now)
    }
    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss).or_else(|e| by_key(e, message, cert, dss, false))
    }
    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss).or_else(|e| by_key(e, message, cert, dss, true))
    }
    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Checks a handshake signature with the public key of `cert` as x509-parser
/// reads it, for the certificates webpki will not parse at all: X.509 version 1
/// (no extensions), which OpenSSL and so Pipy take, and which test and lab
/// setups still make. Only the signature is checked here; whether the
/// certificate is trusted is the verifier's business, and webpki refuses a
/// version 1 certificate in any chain it is asked to check. `refused` is what
/// webpki said, returned for any certificate that is not version 1.
fn by_key(
    refused: rustls::Error,
    message: &[u8],
    cert: &CertificateDer<'_>,
    dss: &DigitallySignedStruct,
    tls13: bool,
) -> Result<HandshakeSignatureValid, rustls::Error> {
    let Ok((_, parsed)) = x509_parser::parse_x509_certificate(cert) else { return Err(refused) };
    if parsed.version() != x509_parser::x509::X509Version::V1 {
        return Err(refused);
    }
    let spki = SubjectPublicKeyInfoDer::from(parsed.tbs_certificate.subject_pki.raw);
    let algorithms = &provider().signature_verification_algorithms;
    if tls13 {
        return rustls::crypto::verify_tls13_signature_with_raw_key(message, &spki, dss, algorithms);
    }
    let key = webpki::RawPublicKeyEntity::try_from(&spki).map_err(|_| refused.clone())?;
    let candidates = algorithms.mapping.iter().filter(|(scheme, _)| *scheme == dss.scheme).flat_map(|(_, algs)| *algs);
    for alg in candidates {
        if key.verify_signature(*alg, message, dss.signature()).is_ok() {
            return Ok(HandshakeSignatureValid::assertion());
        }
    }
    Err(rustls::Error::InvalidCertificate(rustls::CertificateError::BadSignature))
}

/// Always this certificate (a server config per certificate).
#[derive(Debug)]
pub struct OneCert(pub Arc<CertifiedKey>);

impl rustls::server::ResolvesServerCert for OneCert {
    fn resolve(&self, _: rustls::server::ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
}

impl rustls::client::ResolvesClientCert for OneCert {
    fn resolve(&self, _: &[&[u8]], _: &[SignatureScheme]) -> Option<Arc<CertifiedKey>> {
        Some(self.0.clone())
    }
    fn has_certs(&self) -> bool {
        true
    }
}

/// Configs made for the certificates a callback chose and the protocols
/// negotiated, by the objects' identity, so that a script returning the same
/// objects reuses one config. The objects are kept while their entry is, so an
/// identity is not reused meanwhile. Bounded: past `CACHED` entries it starts over.
pub struct ConfigCache<C> {
    entries: Vec<CacheEntry<C>>,
}

struct CacheEntry<C> {
    identity: [usize; 2],
    alpn: Vec<u8>,
    _keep: Option<Pair>,
    config: Arc<C>,
}

/// How many configs a cache keeps.
const CACHED: usize = 64;

impl<C> Default for ConfigCache<C> {
    fn default() -> Self {
        ConfigCache { entries: Vec::new() }
    }
}

impl<C> ConfigCache<C> {
    /// The config for the pair `identity` (kept alive by `keep`) and `alpn`, made
    /// by `make` if there is none yet.
    pub fn get(
        &mut self,
        identity: [usize; 2],
        alpn: &[u8],
        keep: Option<Pair>,
        make: impl FnOnce() -> Result<C, String>,
    ) -> Result<Arc<C>, String> {
        if let Some(e) = self.entries.iter().find(|e| e.identity == identity && e.alpn == alpn) {
            return Ok(e.config.clone());
        }
        let config = Arc::new(make()?);
        if self.entries.len() >= CACHED {
            self.entries.clear();
        }
        self.entries.push(CacheEntry { identity, alpn: alpn.to_vec(), _keep: keep, config: config.clone() });
        Ok(config)
    }
}
