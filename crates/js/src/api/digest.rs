//! `crypto.Hash` and `crypto.Hmac`: digests of bytes and text, as Pipy has
//! them: `new crypto.Hash('sha256')`, `update(data | text, encoding?)` as often
//! as needed, then `digest(encoding?)` once (Data, or text in `hex`, `base64`,
//! `base64url`). On RustCrypto's `sha1`, `sha2`, `md-5` and `hmac`.

use crate::api::data::{encode_text, from_data, to_data};
use hmac::Mac;
use rquickjs::class::Trace;
use rquickjs::function::Opt;
use rquickjs::{Ctx, Exception, JsLifetime, Result, Value};
use sha2::Digest;

/// The algorithms both classes take.
const NAMES: &str = "md5, sha1, sha224, sha256, sha384, sha512";

/// A digest or an HMAC under way, of whichever algorithm.
trait Running {
    fn add(&mut self, bytes: &[u8]);
    fn finish(self: Box<Self>) -> Vec<u8>;
}

/// A plain digest.
struct Plain<D>(D);

impl<D: Digest> Running for Plain<D> {
    fn add(&mut self, bytes: &[u8]) {
        self.0.update(bytes)
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().to_vec()
    }
}

/// A keyed one.
struct Keyed<M>(M);

impl<M: Mac> Running for Keyed<M> {
    fn add(&mut self, bytes: &[u8]) {
        self.0.update(bytes)
    }
    fn finish(self: Box<Self>) -> Vec<u8> {
        self.0.finalize().into_bytes().to_vec()
    }
}

/// The digest `algorithm` names, or the HMAC with it under `key`; `None` for
/// an algorithm this proxy has not.
fn running(algorithm: &str, key: Option<&[u8]>) -> Option<Box<dyn Running>> {
    fn plain<D: Digest + 'static>() -> Box<dyn Running> {
        Box::new(Plain(D::new()))
    }
    fn keyed<M: Mac + hmac::digest::KeyInit + 'static>(key: &[u8]) -> Box<dyn Running> {
        // An HMAC takes a key of any length.
        Box::new(Keyed(<M as hmac::digest::KeyInit>::new_from_slice(key).expect("any key length")))
    }
    Some(match (name_of(algorithm).as_str(), key) {
        ("md5", None) => plain::<md5::Md5>(),
        ("sha1", None) => plain::<sha1::Sha1>(),
        ("sha224", None) => plain::<sha2::Sha224>(),
        ("sha256", None) => plain::<sha2::Sha256>(),
        ("sha384", None) => plain::<sha2::Sha384>(),
        ("sha512", None) => plain::<sha2::Sha512>(),
        ("md5", Some(k)) => keyed::<hmac::Hmac<md5::Md5>>(k),
        ("sha1", Some(k)) => keyed::<hmac::Hmac<sha1::Sha1>>(k),
        ("sha224", Some(k)) => keyed::<hmac::Hmac<sha2::Sha224>>(k),
        ("sha256", Some(k)) => keyed::<hmac::Hmac<sha2::Sha256>>(k),
        ("sha384", Some(k)) => keyed::<hmac::Hmac<sha2::Sha384>>(k),
        ("sha512", Some(k)) => keyed::<hmac::Hmac<sha2::Sha512>>(k),
        _ => return None,
    })
}

fn name_of(algorithm: &str) -> String {
    algorithm.to_ascii_lowercase().replace('-', "")
}

fn unknown(ctx: &Ctx<'_>, class: &str, algorithm: &str) -> rquickjs::Error {
    Exception::throw_type(ctx, &format!("crypto.{class}: unknown algorithm '{algorithm}' (this proxy has {NAMES})"))
}

/// The bytes of `update`'s argument: Data, or text in `encoding` (utf8 by default).
pub(crate) fn input<'js>(ctx: &Ctx<'js>, class: &str, v: &Value<'js>, encoding: Option<String>) -> Result<Vec<u8>> {
    if v.is_undefined() || v.is_null() {
        return Err(Exception::throw_type(ctx, &format!("crypto.{class}: update() takes Data or a string")));
    }
    Ok(to_data(ctx, v, encoding.as_deref())?.to_vec())
}

/// An optional encoding argument: left out, `undefined` or `null` is none.
pub(crate) fn text(v: Option<Value<'_>>) -> Result<Option<String>> {
    match v {
        Some(v) if !v.is_undefined() && !v.is_null() => Ok(Some(v.get::<rquickjs::Coerced<String>>()?.0)),
        _ => Ok(None),
    }
}

pub(crate) fn output<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>, encoding: Option<String>) -> Result<Value<'js>> {
    match encoding {
        None => from_data(ctx, proxy_core::Data::from(bytes)),
        Some(e) => Ok(rquickjs::String::from_str(ctx.clone(), &encode_text(ctx, &bytes, Some(&e))?)?.into_value()),
    }
}

/// Adds `v` (Data, or text in `encoding`) to `state`, unless the digest was taken.
fn update<'js>(
    ctx: &Ctx<'js>,
    class: &str,
    state: &mut Option<Box<dyn Running>>,
    v: Value<'js>,
    encoding: Option<Value<'js>>,
) -> Result<()> {
    let bytes = input(ctx, class, &v, text(encoding)?)?;
    match state.as_mut() {
        Some(s) => s.add(&bytes),
        None => return Err(Exception::throw_type(ctx, &format!("crypto.{class}: update() after digest()"))),
    }
    Ok(())
}

/// Takes the digest of `state`, once.
fn digest<'js>(
    ctx: &Ctx<'js>,
    class: &str,
    state: &mut Option<Box<dyn Running>>,
    encoding: Option<Value<'js>>,
) -> Result<Value<'js>> {
    match state.take() {
        Some(s) => output(ctx, s.finish(), text(encoding)?),
        None => Err(Exception::throw_type(ctx, &format!("crypto.{class}: digest() was already taken"))),
    }
}

/// `crypto.Hash` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Hash")]
pub struct JsHash {
    #[qjs(skip_trace)]
    state: Option<Box<dyn Running>>,
}

#[rquickjs::methods]
impl JsHash {
    /// `new crypto.Hash(algorithm)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, algorithm: String) -> Result<Self> {
        let state = running(&algorithm, None).ok_or_else(|| unknown(&ctx, "Hash", &algorithm))?;
        Ok(JsHash { state: Some(state) })
    }

    /// Adds bytes: Data, or text in `encoding` (utf8, hex, base64, base64url).
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, v: Value<'js>, encoding: Opt<Value<'js>>) -> Result<()> {
        update(&ctx, "Hash", &mut self.state, v, encoding.0)
    }

    /// The digest, once: Data, or text in `encoding`.
    pub fn digest<'js>(&mut self, ctx: Ctx<'js>, encoding: Opt<Value<'js>>) -> Result<Value<'js>> {
        digest(&ctx, "Hash", &mut self.state, encoding.0)
    }
}

/// `crypto.Hmac` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Hmac")]
pub struct JsHmac {
    #[qjs(skip_trace)]
    state: Option<Box<dyn Running>>,
}

#[rquickjs::methods]
impl JsHmac {
    /// `new crypto.Hmac(algorithm, key)`: the key is Data or a string.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, algorithm: String, key: Value<'js>) -> Result<Self> {
        let key = input(&ctx, "Hmac", &key, None)?;
        let state = running(&algorithm, Some(&key)).ok_or_else(|| unknown(&ctx, "Hmac", &algorithm))?;
        Ok(JsHmac { state: Some(state) })
    }

    /// Adds bytes: Data, or text in `encoding` (utf8, hex, base64, base64url).
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, v: Value<'js>, encoding: Opt<Value<'js>>) -> Result<()> {
        update(&ctx, "Hmac", &mut self.state, v, encoding.0)
    }

    /// The HMAC, once: Data, or text in `encoding`.
    pub fn digest<'js>(&mut self, ctx: Ctx<'js>, encoding: Opt<Value<'js>>) -> Result<Value<'js>> {
        digest(&ctx, "Hmac", &mut self.state, encoding.0)
    }
}
