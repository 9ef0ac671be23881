//! `crypto`: the certificate and key classes TLS options take
//! (`crypto.Certificate`, `crypto.CertificateChain`, `crypto.PrivateKey`,
//! `crypto.PublicKey`), each a script handle on a `proxy_tls` value read once from
//! PEM or DER (a string or `Data`, as `pipy.load` gives it).

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use proxy_tls::{Certificate, CertificateChain, CertificateInfo, KeyError, PrivateKey, PublicKey};
use rquickjs::class::Trace;
use rquickjs::{Class, Ctx, Exception, JsLifetime, Object, Result, Value};
use std::cell::OnceCell;
use std::rc::Rc;

/// The bytes of a constructor's argument: a string or Data.
fn bytes_of<'js>(ctx: &Ctx<'js>, class: &str, v: &Value<'js>) -> Result<Vec<u8>> {
    if v.is_undefined() || v.is_null() {
        return Err(Exception::throw_type(
            ctx,
            &format!("crypto.{class}: expects PEM text (a string or Data), got {}", v.type_name()),
        ));
    }
    if v.is_object() && !v.is_string() && crate::api::kind::kind_of(v) != Some(crate::api::kind::Kind::Data) {
        return Err(Exception::throw_type(
            ctx,
            &format!("crypto.{class}: expects PEM text (a string or Data); making one from options is not supported"),
        ));
    }
    Ok(crate::api::data::to_data(ctx, v, None)?.to_vec())
}

fn thrown(ctx: &Ctx<'_>, class: &str, e: KeyError) -> rquickjs::Error {
    Exception::throw_type(ctx, &format!("crypto.{class}: {e}"))
}

fn pem_data<'js>(ctx: &Ctx<'js>, pem: String) -> Result<Value<'js>> {
    crate::api::data::from_data(ctx, proxy_core::Data::from(pem))
}

/// `crypto.Certificate` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Certificate")]
pub struct JsCertificate {
    #[qjs(skip_trace)]
    pub(crate) cert: Rc<Certificate>,
    #[qjs(skip_trace)]
    info: OnceCell<CertificateInfo>,
}

impl JsCertificate {
    fn info(&self) -> &CertificateInfo {
        self.info.get_or_init(|| self.cert.info())
    }
}

fn names<'js>(ctx: &Ctx<'js>, pairs: &[(String, String)]) -> Result<Object<'js>> {
    let o = Object::new(ctx.clone())?;
    for (k, v) in pairs {
        o.set(k.as_str(), v.as_str())?;
    }
    Ok(o)
}

#[rquickjs::methods]
impl JsCertificate {
    /// `new crypto.Certificate(pem)`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<Self> {
        let bytes = bytes_of(&ctx, "Certificate", &data)?;
        let cert = Certificate::from_bytes(&bytes).map_err(|e| thrown(&ctx, "Certificate", e))?;
        Ok(JsCertificate { cert: Rc::new(cert), info: OnceCell::new() })
    }

    /// The subject's attributes by name (`commonName`, `organizationName`...).
    #[qjs(get)]
    pub fn subject<'js>(&self, ctx: Ctx<'js>) -> Result<Object<'js>> {
        names(&ctx, &self.info().subject)
    }

    /// The issuer's attributes.
    #[qjs(get)]
    pub fn issuer<'js>(&self, ctx: Ctx<'js>) -> Result<Object<'js>> {
        names(&ctx, &self.info().issuer)
    }

    /// The DNS names it is for.
    #[qjs(get, rename = "subjectAltNames")]
    pub fn subject_alt_names(&self) -> Vec<String> {
        self.info().subject_alt_names.clone()
    }

    /// Start of validity, milliseconds since the epoch.
    #[qjs(get, rename = "notBefore")]
    pub fn not_before(&self) -> f64 {
        self.info().not_before
    }

    /// End of validity, milliseconds since the epoch.
    #[qjs(get, rename = "notAfter")]
    pub fn not_after(&self) -> f64 {
        self.info().not_after
    }

    /// PEM text of it, as Data.
    #[qjs(rename = "toPEM")]
    pub fn to_pem<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        pem_data(&ctx, self.cert.to_pem())
    }
}

/// `crypto.CertificateChain` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "CertificateChain")]
pub struct JsCertificateChain {
    #[qjs(skip_trace)]
    pub(crate) chain: Rc<CertificateChain>,
}

#[rquickjs::methods]
impl JsCertificateChain {
    /// `new crypto.CertificateChain(pem)`: every certificate of the text, leaf first.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<Self> {
        let bytes = bytes_of(&ctx, "CertificateChain", &data)?;
        let chain = CertificateChain::from_bytes(&bytes).map_err(|e| thrown(&ctx, "CertificateChain", e))?;
        Ok(JsCertificateChain { chain: Rc::new(chain) })
    }

    /// How many certificates it has.
    #[qjs(get)]
    pub fn size(&self) -> usize {
        self.chain.certs().len()
    }
}

/// `crypto.PrivateKey` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "PrivateKey")]
pub struct JsPrivateKey {
    #[qjs(skip_trace)]
    pub(crate) key: Rc<PrivateKey>,
}

#[rquickjs::methods]
impl JsPrivateKey {
    /// `new crypto.PrivateKey(pem)`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<Self> {
        let bytes = bytes_of(&ctx, "PrivateKey", &data)?;
        let key = PrivateKey::from_bytes(&bytes).map_err(|e| thrown(&ctx, "PrivateKey", e))?;
        Ok(JsPrivateKey { key: Rc::new(key) })
    }

    /// PEM text of it, as Data.
    #[qjs(rename = "toPEM")]
    pub fn to_pem<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        pem_data(&ctx, self.key.to_pem())
    }
}

/// `crypto.PublicKey` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "PublicKey")]
pub struct JsPublicKey {
    #[qjs(skip_trace)]
    pub(crate) key: Rc<PublicKey>,
}

#[rquickjs::methods]
impl JsPublicKey {
    /// `new crypto.PublicKey(pem)`, or the public half of a `crypto.PrivateKey`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, data: Value<'js>) -> Result<Self> {
        if let Some(private) = data.as_object().and_then(Class::<JsPrivateKey>::from_object) {
            let key = private.borrow().key.public_key();
            return match key {
                Some(k) => Ok(JsPublicKey { key: Rc::new(k) }),
                None => {
                    Err(Exception::throw_type(&ctx, "crypto.PublicKey: this private key has no public half to give"))
                }
            };
        }
        let bytes = bytes_of(&ctx, "PublicKey", &data)?;
        let key = PublicKey::from_bytes(&bytes).map_err(|e| thrown(&ctx, "PublicKey", e))?;
        Ok(JsPublicKey { key: Rc::new(key) })
    }

    /// PEM text of it, as Data.
    #[qjs(rename = "toPEM")]
    pub fn to_pem<'js>(&self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        pem_data(&ctx, self.key.to_pem())
    }
}

/// `crypto.JWK` as scripts see it: a public key given as a JSON Web Key
/// (`{kty: 'RSA', n, e}` or `{kty: 'EC', crv, x, y}`), for `JWT.verify()`.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "JWK")]
pub struct JsJwk {
    #[qjs(skip_trace)]
    pub(crate) key: Rc<PublicKey>,
}

#[rquickjs::methods]
impl JsJwk {
    /// `new crypto.JWK(json)`: a key of a JWK object (as `JSON.parse` gives it).
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, json: Value<'js>) -> Result<Self> {
        let Some(o) = json.as_object() else {
            return Err(Exception::throw_type(&ctx, "crypto.JWK: expects a JSON Web Key object"));
        };
        let get = |name: &str| o.get::<_, Option<String>>(name).ok().flatten();
        let key = PublicKey::from_jwk(&get).map_err(|e| thrown(&ctx, "JWK", e))?;
        Ok(JsJwk { key: Rc::new(key) })
    }

    /// True: a key that could not be read throws when it is made.
    #[qjs(get, rename = "isValid")]
    pub fn is_valid(&self) -> bool {
        true
    }
}

/// The native value behind a crypto object, for filter options.
pub fn native_of(obj: &Object<'_>) -> Option<proxy_core::ScriptValue> {
    if let Some(c) = Class::<JsCertificate>::from_object(obj) {
        return Some(c.borrow().cert.clone());
    }
    if let Some(c) = Class::<JsCertificateChain>::from_object(obj) {
        return Some(c.borrow().chain.clone());
    }
    if let Some(k) = Class::<JsPrivateKey>::from_object(obj) {
        return Some(k.borrow().key.clone());
    }
    if let Some(k) = Class::<JsPublicKey>::from_object(obj) {
        return Some(k.borrow().key.clone());
    }
    None
}

/// A script object for a native value a filter hands over (a peer's certificate).
pub fn to_js<'js>(ctx: &Ctx<'js>, v: &proxy_core::ScriptValue) -> Option<Result<Value<'js>>> {
    let cert = v.clone().downcast::<Certificate>().ok()?;
    Some(Class::instance(ctx.clone(), JsCertificate { cert, info: OnceCell::new() }).map(|c| c.into_value()))
}

/// Installs the `crypto` global.
pub fn install(ctx: &Ctx<'_>) -> Result<()> {
    let crypto = Object::new(ctx.clone())?;
    Class::<JsCertificate>::define(&crypto)?;
    Class::<JsCertificateChain>::define(&crypto)?;
    Class::<JsPrivateKey>::define(&crypto)?;
    Class::<JsPublicKey>::define(&crypto)?;
    Class::<JsJwt>::define(&crypto)?;
    Class::<JsJwk>::define(&crypto)?;
    crate::api::cipher::define(&crypto)?;
    Class::<crate::api::digest::JsHash>::define(&crypto)?;
    Class::<crate::api::digest::JsHmac>::define(&crypto)?;
    Class::<crate::api::signature::JsSign>::define(&crypto)?;
    Class::<crate::api::signature::JsVerify>::define(&crypto)?;
    ctx.globals().set("crypto", crypto)
}

/// `crypto.JWT` as scripts see it: a token read, and its signature checked on
/// demand with `verify(key)`. Its claims (`exp`, `nbf`, `aud`) are the script's
/// to check, as in Pipy.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "JWT")]
pub struct JsJwt<'js> {
    header: Value<'js>,
    payload: Value<'js>,
    #[qjs(skip_trace)]
    token: Option<Token>,
}

/// A token whose parts decoded and whose algorithm is known.
struct Token {
    alg: proxy_tls::jws::Alg,
    /// `header.payload`, what the signature is of.
    input: String,
    signature: Vec<u8>,
}

/// The longest token read (a header line of nginx's default size is 8 KiB).
const MAX_TOKEN: usize = 64 * 1024;

/// Reads a `header.payload.signature` token: its header and payload objects,
/// and what `verify` needs, or `None` where it is not a token this proxy checks.
fn read_token<'js>(ctx: &Ctx<'js>, text: &str) -> Option<(Value<'js>, Value<'js>, Token)> {
    use base64::Engine as _;
    if text.len() > MAX_TOKEN {
        return None;
    }
    let parts: Vec<&str> = text.trim().split('.').collect();
    let [h, p, s] = parts.as_slice() else { return None };
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let decode = |t: &str| b64.decode(t.trim_end_matches('=')).ok();
    let (hj, pj, signature) = (decode(h)?, decode(p)?, decode(s)?);
    let object = |bytes: Vec<u8>| -> Option<Value<'js>> {
        let v = ctx.json_parse(String::from_utf8(bytes).ok()?).ok()?;
        (v.is_object() && !v.is_array()).then_some(v)
    };
    let (header, payload) = (object(hj)?, object(pj)?);
    let alg: String = header.as_object()?.get::<_, Option<String>>("alg").ok()??;
    let alg = proxy_tls::jws::Alg::from_name(&alg)?;
    Some((header, payload, Token { alg, input: format!("{h}.{p}"), signature }))
}

#[rquickjs::methods]
impl<'js> JsJwt<'js> {
    /// `new crypto.JWT(token)`: never throws; a token it cannot read is not `isValid`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'js>, token: rquickjs::Coerced<String>) -> Self {
        match read_token(&ctx, &token.0) {
            Some((header, payload, token)) => JsJwt { header, payload, token: Some(token) },
            None => {
                JsJwt { header: Value::new_undefined(ctx.clone()), payload: Value::new_undefined(ctx), token: None }
            }
        }
    }

    /// True if the token has three parts that decode, JSON objects for header
    /// and payload, and an `alg` this proxy checks.
    #[qjs(get, rename = "isValid")]
    pub fn is_valid(&self) -> bool {
        self.token.is_some()
    }

    /// The decoded header (undefined when not valid).
    #[qjs(get)]
    pub fn header(&self) -> Value<'js> {
        self.header.clone()
    }

    /// The decoded payload, the claims (undefined when not valid).
    #[qjs(get)]
    pub fn payload(&self) -> Value<'js> {
        self.payload.clone()
    }

    /// Whether the signature is right for `key`: a `crypto.PublicKey` (or the
    /// public half of a `crypto.PrivateKey`, or PEM text of either) for the RSA
    /// and ECDSA algorithms, the shared secret (a string or Data) for HMAC.
    pub fn verify(&self, ctx: Ctx<'js>, key: Value<'js>) -> Result<bool> {
        let Some(t) = &self.token else { return Ok(false) };
        let (input, sig) = (t.input.as_bytes(), t.signature.as_slice());
        let object_key = key.as_object().and_then(|o| {
            Class::<JsPublicKey>::from_object(o)
                .map(|k| (*k.borrow().key).clone())
                .or_else(|| Class::<JsJwk>::from_object(o).map(|k| (*k.borrow().key).clone()))
                .or_else(|| Class::<JsPrivateKey>::from_object(o).and_then(|k| k.borrow().key.public_key()))
        });
        if let Some(public) = object_key {
            return Ok(proxy_tls::jws::verify_key(t.alg, &public, input, sig));
        }
        let bytes = bytes_of(&ctx, "JWT", &key)?;
        if t.alg.is_hmac() {
            // A key's text is never a shared secret: a token that says HS256,
            // checked with the PEM of a public key, would be one anybody can make.
            let is_key = bytes.windows(11).any(|w| w == b"-----BEGIN ")
                || PublicKey::from_bytes(&bytes).is_ok()
                || proxy_tls::PrivateKey::from_bytes(&bytes).is_ok();
            return Ok(!is_key && proxy_tls::jws::verify_secret(t.alg, &bytes, input, sig));
        }
        let public = PublicKey::from_bytes(&bytes)
            .ok()
            .or_else(|| proxy_tls::PrivateKey::from_bytes(&bytes).ok().and_then(|k| k.public_key()));
        match public {
            Some(public) => Ok(proxy_tls::jws::verify_key(t.alg, &public, input, sig)),
            None => Err(Exception::throw_type(
                &ctx,
                "crypto.JWT: verify() needs a public key (or PEM text of one) for this token",
            )),
        }
    }
}
