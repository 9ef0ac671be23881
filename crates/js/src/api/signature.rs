//! `crypto.Sign` and `crypto.Verify`: signatures of a message with a
//! `crypto.PrivateKey`, checked with a `crypto.PublicKey`, as Pipy has them:
//! `new crypto.Sign('sha256')`, `update(data | text, encoding?)` as often as
//! needed, then `sign(key, encoding?)` once; `new crypto.Verify('sha256')`,
//! `update(...)`, then `verify(key, signature, encoding?)` once. RSA keys
//! sign with PKCS #1 v1.5, EC keys with ECDSA (DER), as OpenSSL does
//! (`proxy_tls::signing`). The message is held until it is signed, up to 64 MiB.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use crate::api::crypto::{JsPrivateKey, JsPublicKey};
use crate::api::digest::{input, output, text};
use proxy_tls::signing::{self, Digest};
use rquickjs::class::Trace;
use rquickjs::function::Opt;
use rquickjs::{Class, Ctx, Exception, JsLifetime, Result, Value};

/// Longest message held for one signature.
const MAX_MESSAGE: usize = 64 << 20;

/// A message being gathered for a signature; `None` once it was signed or checked.
struct Pending {
    digest: Digest,
    message: Option<Vec<u8>>,
}

impl Pending {
    fn new(ctx: &Ctx<'_>, class: &str, algorithm: &str) -> Result<Pending> {
        let digest = Digest::from_name(algorithm).ok_or_else(|| {
            Exception::throw_type(
                ctx,
                &format!("crypto.{class}: unknown algorithm '{algorithm}' (sha1, sha256, sha384, sha512)"),
            )
        })?;
        Ok(Pending { digest, message: Some(Vec::new()) })
    }

    fn update<'js>(&mut self, ctx: &Ctx<'js>, class: &str, v: Value<'js>, encoding: Option<Value<'js>>) -> Result<()> {
        let bytes = input(ctx, class, &v, text(encoding)?)?;
        let Some(m) = self.message.as_mut() else {
            return Err(Exception::throw_type(ctx, &format!("crypto.{class}: update() after the signature was made")));
        };
        if m.len() + bytes.len() > MAX_MESSAGE {
            return Err(Exception::throw_range(ctx, &format!("crypto.{class}: a message over 64 MiB")));
        }
        m.extend_from_slice(&bytes);
        Ok(())
    }

    fn take(&mut self, ctx: &Ctx<'_>, class: &str) -> Result<Vec<u8>> {
        self.message
            .take()
            .ok_or_else(|| Exception::throw_type(ctx, &format!("crypto.{class}: the signature was already made")))
    }
}

/// `crypto.Sign` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Sign")]
pub struct JsSign {
    #[qjs(skip_trace)]
    pending: Pending,
}

#[rquickjs::methods]
impl JsSign {
    /// `new crypto.Sign(algorithm)`: the digest to sign with.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, algorithm: String) -> Result<Self> {
        Ok(JsSign { pending: Pending::new(&ctx, "Sign", &algorithm)? })
    }

    /// Adds to the message: Data, or text in `encoding` (utf8, hex, base64, base64url).
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, v: Value<'js>, encoding: Opt<Value<'js>>) -> Result<()> {
        self.pending.update(&ctx, "Sign", v, encoding.0)
    }

    /// The signature, once: Data, or text in `encoding` (a string second argument).
    pub fn sign<'js>(&mut self, ctx: Ctx<'js>, key: Value<'js>, encoding: Opt<Value<'js>>) -> Result<Value<'js>> {
        let Some(key) = key.as_object().and_then(Class::<JsPrivateKey>::from_object) else {
            return Err(Exception::throw_type(&ctx, "crypto.Sign: sign() takes a crypto.PrivateKey"));
        };
        let encoding = encoding.0.filter(|e| e.is_string());
        let message = self.pending.take(&ctx, "Sign")?;
        let key = key.borrow().key.clone();
        let sig = signing::sign(&key, self.pending.digest, &message)
            .map_err(|e| Exception::throw_type(&ctx, &format!("crypto.Sign: {e}")))?;
        output(&ctx, sig, text(encoding)?)
    }
}

/// `crypto.Verify` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Verify")]
pub struct JsVerify {
    #[qjs(skip_trace)]
    pending: Pending,
}

#[rquickjs::methods]
impl JsVerify {
    /// `new crypto.Verify(algorithm)`: the digest the signature was made with.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, algorithm: String) -> Result<Self> {
        Ok(JsVerify { pending: Pending::new(&ctx, "Verify", &algorithm)? })
    }

    /// Adds to the message: Data, or text in `encoding` (utf8, hex, base64, base64url).
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, v: Value<'js>, encoding: Opt<Value<'js>>) -> Result<()> {
        self.pending.update(&ctx, "Verify", v, encoding.0)
    }

    /// Whether `signature` (Data, or text in `encoding`) is the key's signature of the message, once.
    pub fn verify<'js>(
        &mut self,
        ctx: Ctx<'js>,
        key: Value<'js>,
        signature: Value<'js>,
        encoding: Opt<Value<'js>>,
    ) -> Result<bool> {
        let Some(key) = key.as_object().and_then(Class::<JsPublicKey>::from_object) else {
            return Err(Exception::throw_type(&ctx, "crypto.Verify: verify() takes a crypto.PublicKey"));
        };
        let sig = input(&ctx, "Verify", &signature, text(encoding.0.filter(|e| e.is_string()))?)?;
        let message = self.pending.take(&ctx, "Verify")?;
        let key = key.borrow().key.clone();
        Ok(signing::verify(&key, self.pending.digest, &message, &sig))
    }
}
