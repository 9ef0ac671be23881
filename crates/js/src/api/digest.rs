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

/// A digest under way.
enum Hasher {
    Md5(md5::Md5),
    Sha1(sha1::Sha1),
    Sha224(sha2::Sha224),
    Sha256(sha2::Sha256),
    Sha384(sha2::Sha384),
    Sha512(sha2::Sha512),
}

/// An HMAC under way.
enum Keyed {
    Md5(hmac::Hmac<md5::Md5>),
    Sha1(hmac::Hmac<sha1::Sha1>),
    Sha224(hmac::Hmac<sha2::Sha224>),
    Sha256(hmac::Hmac<sha2::Sha256>),
    Sha384(hmac::Hmac<sha2::Sha384>),
    Sha512(hmac::Hmac<sha2::Sha512>),
}

fn name_of(algorithm: &str) -> String {
    algorithm.to_ascii_lowercase().replace('-', "")
}

fn unknown(ctx: &Ctx<'_>, class: &str, algorithm: &str) -> rquickjs::Error {
    Exception::throw_type(ctx, &format!("crypto.{class}: unknown algorithm '{algorithm}' (this proxy has {NAMES})"))
}

/// The bytes of `update`'s argument: Data, or text in `encoding` (utf8 by default).
fn input<'js>(ctx: &Ctx<'js>, class: &str, v: &Value<'js>, encoding: Option<String>) -> Result<Vec<u8>> {
    if v.is_undefined() || v.is_null() {
        return Err(Exception::throw_type(ctx, &format!("crypto.{class}: update() takes Data or a string")));
    }
    Ok(to_data(ctx, v, encoding.as_deref())?.to_vec())
}

/// An optional encoding argument: left out, `undefined` or `null` is none.
fn text(v: Option<Value<'_>>) -> Result<Option<String>> {
    match v {
        Some(v) if !v.is_undefined() && !v.is_null() => Ok(Some(v.get::<rquickjs::Coerced<String>>()?.0)),
        _ => Ok(None),
    }
}

fn output<'js>(ctx: &Ctx<'js>, bytes: Vec<u8>, encoding: Option<String>) -> Result<Value<'js>> {
    match encoding {
        None => from_data(ctx, proxy_core::Data::from(bytes)),
        Some(e) => Ok(rquickjs::String::from_str(ctx.clone(), &encode_text(ctx, &bytes, Some(&e))?)?.into_value()),
    }
}

/// `crypto.Hash` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Hash")]
pub struct JsHash {
    #[qjs(skip_trace)]
    state: Option<Hasher>,
}

#[rquickjs::methods]
impl JsHash {
    /// `new crypto.Hash(algorithm)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, algorithm: String) -> Result<Self> {
        let state = match name_of(&algorithm).as_str() {
            "md5" => Hasher::Md5(md5::Md5::new()),
            "sha1" => Hasher::Sha1(sha1::Sha1::new()),
            "sha224" => Hasher::Sha224(sha2::Sha224::new()),
            "sha256" => Hasher::Sha256(sha2::Sha256::new()),
            "sha384" => Hasher::Sha384(sha2::Sha384::new()),
            "sha512" => Hasher::Sha512(sha2::Sha512::new()),
            _ => return Err(unknown(&ctx, "Hash", &algorithm)),
        };
        Ok(JsHash { state: Some(state) })
    }

    /// Adds bytes: Data, or text in `encoding` (utf8, hex, base64, base64url).
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, v: Value<'js>, encoding: Opt<Value<'js>>) -> Result<()> {
        let bytes = input(&ctx, "Hash", &v, text(encoding.0)?)?;
        match self.state.as_mut() {
            Some(Hasher::Md5(h)) => h.update(&bytes),
            Some(Hasher::Sha1(h)) => h.update(&bytes),
            Some(Hasher::Sha224(h)) => h.update(&bytes),
            Some(Hasher::Sha256(h)) => h.update(&bytes),
            Some(Hasher::Sha384(h)) => h.update(&bytes),
            Some(Hasher::Sha512(h)) => h.update(&bytes),
            None => return Err(Exception::throw_type(&ctx, "crypto.Hash: update() after digest()")),
        }
        Ok(())
    }

    /// The digest, once: Data, or text in `encoding`.
    pub fn digest<'js>(&mut self, ctx: Ctx<'js>, encoding: Opt<Value<'js>>) -> Result<Value<'js>> {
        let bytes = match self.state.take() {
            Some(Hasher::Md5(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha1(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha224(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha256(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha384(h)) => h.finalize().to_vec(),
            Some(Hasher::Sha512(h)) => h.finalize().to_vec(),
            None => return Err(Exception::throw_type(&ctx, "crypto.Hash: digest() was already taken")),
        };
        output(&ctx, bytes, text(encoding.0)?)
    }
}

/// `crypto.Hmac` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Hmac")]
pub struct JsHmac {
    #[qjs(skip_trace)]
    state: Option<Keyed>,
}

#[rquickjs::methods]
impl JsHmac {
    /// `new crypto.Hmac(algorithm, key)`: the key is Data or a string.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, algorithm: String, key: Value<'js>) -> Result<Self> {
        let k = input(&ctx, "Hmac", &key, None)?;
        let bad = |_| Exception::throw_type(&ctx, "crypto.Hmac: the key cannot be used");
        let state = match name_of(&algorithm).as_str() {
            "md5" => Keyed::Md5(hmac::Hmac::new_from_slice(&k).map_err(bad)?),
            "sha1" => Keyed::Sha1(hmac::Hmac::new_from_slice(&k).map_err(bad)?),
            "sha224" => Keyed::Sha224(hmac::Hmac::new_from_slice(&k).map_err(bad)?),
            "sha256" => Keyed::Sha256(hmac::Hmac::new_from_slice(&k).map_err(bad)?),
            "sha384" => Keyed::Sha384(hmac::Hmac::new_from_slice(&k).map_err(bad)?),
            "sha512" => Keyed::Sha512(hmac::Hmac::new_from_slice(&k).map_err(bad)?),
            _ => return Err(unknown(&ctx, "Hmac", &algorithm)),
        };
        Ok(JsHmac { state: Some(state) })
    }

    /// Adds bytes: Data, or text in `encoding` (utf8, hex, base64, base64url).
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, v: Value<'js>, encoding: Opt<Value<'js>>) -> Result<()> {
        let bytes = input(&ctx, "Hmac", &v, text(encoding.0)?)?;
        match self.state.as_mut() {
            Some(Keyed::Md5(h)) => h.update(&bytes),
            Some(Keyed::Sha1(h)) => h.update(&bytes),
            Some(Keyed::Sha224(h)) => h.update(&bytes),
            Some(Keyed::Sha256(h)) => h.update(&bytes),
            Some(Keyed::Sha384(h)) => h.update(&bytes),
            Some(Keyed::Sha512(h)) => h.update(&bytes),
            None => return Err(Exception::throw_type(&ctx, "crypto.Hmac: update() after digest()")),
        }
        Ok(())
    }

    /// The HMAC, once: Data, or text in `encoding`.
    pub fn digest<'js>(&mut self, ctx: Ctx<'js>, encoding: Opt<Value<'js>>) -> Result<Value<'js>> {
        let bytes = match self.state.take() {
            Some(Keyed::Md5(h)) => h.finalize().into_bytes().to_vec(),
            Some(Keyed::Sha1(h)) => h.finalize().into_bytes().to_vec(),
            Some(Keyed::Sha224(h)) => h.finalize().into_bytes().to_vec(),
            Some(Keyed::Sha256(h)) => h.finalize().into_bytes().to_vec(),
            Some(Keyed::Sha384(h)) => h.finalize().into_bytes().to_vec(),
            Some(Keyed::Sha512(h)) => h.finalize().into_bytes().to_vec(),
            None => return Err(Exception::throw_type(&ctx, "crypto.Hmac: digest() was already taken")),
        };
        output(&ctx, bytes, text(encoding.0)?)
    }
}
