//! `crypto.Cipher` and `crypto.Decipher`: AES in CBC, ECB (PKCS #7 padding,
//! as OpenSSL pads) or CTR mode, as Pipy has them: `new crypto.Cipher(
//! 'aes-256-cbc', { key, iv })`, `update(data)` as often as needed, each
//! giving what it could encrypt so far, then `final()` once for the rest.
//! What they write and read is what `openssl enc` does. On RustCrypto's
//! `aes`, `cbc`, `ecb` and `ctr`; only the streaming (whole blocks out as they
//! fill, the last held back until `final` to strip its padding) is here.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use crate::api::data::{from_data, to_data};
use cipher::{BlockDecryptMut, BlockEncryptMut, KeyInit, KeyIvInit, StreamCipher};
use rquickjs::class::Trace;
use rquickjs::{Ctx, Exception, JsLifetime, Object, Result, Value};

const BLOCK: usize = 16;

/// One block in place, whichever key size and block mode.
trait Blocks {
    fn block(&mut self, b: &mut [u8; BLOCK]);
}

macro_rules! blocks {
    ($t:ty, $method:ident) => {
        impl Blocks for $t {
            fn block(&mut self, b: &mut [u8; BLOCK]) {
                self.$method(b.into());
            }
        }
    };
}
blocks!(cbc::Encryptor<aes::Aes128>, encrypt_block_mut);
blocks!(cbc::Encryptor<aes::Aes192>, encrypt_block_mut);
blocks!(cbc::Encryptor<aes::Aes256>, encrypt_block_mut);
blocks!(cbc::Decryptor<aes::Aes128>, decrypt_block_mut);
blocks!(cbc::Decryptor<aes::Aes192>, decrypt_block_mut);
blocks!(cbc::Decryptor<aes::Aes256>, decrypt_block_mut);
blocks!(ecb::Encryptor<aes::Aes128>, encrypt_block_mut);
blocks!(ecb::Encryptor<aes::Aes192>, encrypt_block_mut);
blocks!(ecb::Encryptor<aes::Aes256>, encrypt_block_mut);
blocks!(ecb::Decryptor<aes::Aes128>, decrypt_block_mut);
blocks!(ecb::Decryptor<aes::Aes192>, decrypt_block_mut);
blocks!(ecb::Decryptor<aes::Aes256>, decrypt_block_mut);

/// A cipher under way.
enum Running {
    /// A block mode: bytes of a partial block held (and, decrypting, the last
    /// whole block too, which may carry the padding).
    Blocks { mode: Box<dyn Blocks>, held: Vec<u8>, decrypt: bool },
    /// A stream mode: every byte out as it comes.
    Stream(Box<dyn StreamCipher>),
}

/// What `new crypto.Cipher(algorithm, options)` was given, read.
fn open<'js>(ctx: &Ctx<'js>, class: &str, algorithm: &str, options: &Value<'js>, decrypt: bool) -> Result<Running> {
    let fail = |m: String| Exception::throw_type(ctx, &format!("crypto.{class}: {m}"));
    let name = algorithm.to_ascii_lowercase();
    let mut parts = name.split('-');
    let (Some("aes"), Some(bits), Some(mode), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(fail(format!(
            "unknown algorithm '{algorithm}' (aes-128, aes-192 or aes-256 with cbc, ecb or ctr)"
        )));
    };
    let key_size = match bits {
        "128" => 16,
        "192" => 24,
        "256" => 32,
        _ => return Err(fail(format!("unknown algorithm '{algorithm}'"))),
    };
    let Some(o) = options.as_object() else { return Err(fail("options { key, iv } are required".into())) };
    let bytes = |name: &str| -> Result<Option<Vec<u8>>> {
        let v: Value = o.get(name)?;
        Ok(if v.is_undefined() || v.is_null() { None } else { Some(to_data(ctx, &v, None)?.to_vec()) })
    };
    let key = bytes("key")?.unwrap_or_default();
    if key.len() != key_size {
        return Err(fail(format!("options.key expected to have a length of {key_size}")));
    }
    let iv = bytes("iv")?;
    let needs_iv = mode != "ecb";
    let iv = match iv {
        Some(iv) if needs_iv && iv.len() != BLOCK => {
            return Err(fail(format!("options.iv expected to have a length of {BLOCK}")))
        }
        Some(iv) => iv,
        // OpenSSL takes a missing IV as zeros.
        None => vec![0; BLOCK],
    };
    let (k, iv) = (key.as_slice(), iv.as_slice());
    let bad = |_| fail("a key or IV of the wrong length".into());
    let blocks = |mode: Box<dyn Blocks>| Running::Blocks { mode, held: Vec::new(), decrypt };
    Ok(match (mode, key_size, decrypt) {
        ("cbc", 16, false) => blocks(Box::new(cbc::Encryptor::<aes::Aes128>::new_from_slices(k, iv).map_err(bad)?)),
        ("cbc", 24, false) => blocks(Box::new(cbc::Encryptor::<aes::Aes192>::new_from_slices(k, iv).map_err(bad)?)),
        ("cbc", 32, false) => blocks(Box::new(cbc::Encryptor::<aes::Aes256>::new_from_slices(k, iv).map_err(bad)?)),
        ("cbc", 16, true) => blocks(Box::new(cbc::Decryptor::<aes::Aes128>::new_from_slices(k, iv).map_err(bad)?)),
        ("cbc", 24, true) => blocks(Box::new(cbc::Decryptor::<aes::Aes192>::new_from_slices(k, iv).map_err(bad)?)),
        ("cbc", 32, true) => blocks(Box::new(cbc::Decryptor::<aes::Aes256>::new_from_slices(k, iv).map_err(bad)?)),
        ("ecb", 16, false) => blocks(Box::new(ecb::Encryptor::<aes::Aes128>::new_from_slice(k).map_err(bad)?)),
        ("ecb", 24, false) => blocks(Box::new(ecb::Encryptor::<aes::Aes192>::new_from_slice(k).map_err(bad)?)),
        ("ecb", 32, false) => blocks(Box::new(ecb::Encryptor::<aes::Aes256>::new_from_slice(k).map_err(bad)?)),
        ("ecb", 16, true) => blocks(Box::new(ecb::Decryptor::<aes::Aes128>::new_from_slice(k).map_err(bad)?)),
        ("ecb", 24, true) => blocks(Box::new(ecb::Decryptor::<aes::Aes192>::new_from_slice(k).map_err(bad)?)),
        ("ecb", 32, true) => blocks(Box::new(ecb::Decryptor::<aes::Aes256>::new_from_slice(k).map_err(bad)?)),
        // CTR is its own inverse.
        ("ctr", 16, _) => Running::Stream(Box::new(ctr::Ctr128BE::<aes::Aes128>::new_from_slices(k, iv).map_err(bad)?)),
        ("ctr", 24, _) => Running::Stream(Box::new(ctr::Ctr128BE::<aes::Aes192>::new_from_slices(k, iv).map_err(bad)?)),
        ("ctr", 32, _) => Running::Stream(Box::new(ctr::Ctr128BE::<aes::Aes256>::new_from_slices(k, iv).map_err(bad)?)),
        _ => return Err(fail(format!("unknown algorithm '{algorithm}' (cbc, ecb or ctr)"))),
    })
}

impl Running {
    fn update(&mut self, input: &[u8]) -> Vec<u8> {
        match self {
            Running::Stream(s) => {
                let mut out = input.to_vec();
                s.apply_keystream(&mut out);
                out
            }
            Running::Blocks { mode, held, decrypt } => {
                held.extend_from_slice(input);
                // Decrypting, the last whole block waits: it may be the padded one.
                let keep = if *decrypt && held.len() % BLOCK == 0 { BLOCK } else { held.len() % BLOCK };
                let ready = held.len().saturating_sub(keep);
                let mut out: Vec<u8> = held.drain(..ready).collect();
                for chunk in out.chunks_exact_mut(BLOCK) {
                    mode.block(chunk.try_into().expect("a whole block"));
                }
                out
            }
        }
    }

    fn finish(&mut self) -> std::result::Result<Vec<u8>, &'static str> {
        match self {
            Running::Stream(_) => Ok(Vec::new()),
            Running::Blocks { mode, held, decrypt: false } => {
                // PKCS #7: always a padding, a whole block of it when the input filled its last.
                let pad = BLOCK - held.len() % BLOCK;
                held.extend(std::iter::repeat_n(pad as u8, pad));
                let mut out = std::mem::take(held);
                for chunk in out.chunks_exact_mut(BLOCK) {
                    mode.block(chunk.try_into().expect("a whole block"));
                }
                Ok(out)
            }
            Running::Blocks { mode, held, decrypt: true } => {
                if held.len() != BLOCK {
                    return Err("the input is not a whole number of blocks");
                }
                let mut last: [u8; BLOCK] = held.as_slice().try_into().expect("one block");
                held.clear();
                mode.block(&mut last);
                let pad = last[BLOCK - 1] as usize;
                if pad == 0 || pad > BLOCK || last[BLOCK - pad..].iter().any(|&b| b as usize != pad) {
                    return Err("bad decrypt (wrong key, IV or padding)");
                }
                Ok(last[..BLOCK - pad].to_vec())
            }
        }
    }
}

/// What both classes share: a cipher that runs until `final()`.
struct State {
    class: &'static str,
    running: Option<Running>,
}

impl State {
    fn update<'js>(&mut self, ctx: &Ctx<'js>, data: Value<'js>) -> Result<Value<'js>> {
        let input = to_data(ctx, &data, None)?.to_vec();
        let Some(r) = self.running.as_mut() else {
            return Err(Exception::throw_type(ctx, &format!("crypto.{}: update() after final()", self.class)));
        };
        from_data(ctx, proxy_core::Data::from(r.update(&input)))
    }

    fn finish<'js>(&mut self, ctx: &Ctx<'js>) -> Result<Value<'js>> {
        let Some(mut r) = self.running.take() else {
            return Err(Exception::throw_type(ctx, &format!("crypto.{}: final() was already called", self.class)));
        };
        let out = r.finish().map_err(|e| Exception::throw_type(ctx, &format!("crypto.{}: {e}", self.class)))?;
        from_data(ctx, proxy_core::Data::from(out))
    }
}

/// `crypto.Cipher` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Cipher")]
pub struct JsCipher {
    #[qjs(skip_trace)]
    state: State,
}

#[rquickjs::methods]
impl JsCipher {
    /// `new crypto.Cipher(algorithm, { key, iv })`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, algorithm: String, options: Value<'js>) -> Result<Self> {
        let running = open(&ctx, "Cipher", &algorithm, &options, false)?;
        Ok(JsCipher { state: State { class: "Cipher", running: Some(running) } })
    }

    /// Encrypts more: what could be encrypted so far, as Data.
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, data: Value<'js>) -> Result<Value<'js>> {
        self.state.update(&ctx, data)
    }

    /// The rest, padded, once.
    #[qjs(rename = "final")]
    pub fn finish<'js>(&mut self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.state.finish(&ctx)
    }
}

/// `crypto.Decipher` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Decipher")]
pub struct JsDecipher {
    #[qjs(skip_trace)]
    state: State,
}

#[rquickjs::methods]
impl JsDecipher {
    /// `new crypto.Decipher(algorithm, { key, iv })`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, algorithm: String, options: Value<'js>) -> Result<Self> {
        let running = open(&ctx, "Decipher", &algorithm, &options, true)?;
        Ok(JsDecipher { state: State { class: "Decipher", running: Some(running) } })
    }

    /// Decrypts more: what could be decrypted so far, as Data.
    pub fn update<'js>(&mut self, ctx: Ctx<'js>, data: Value<'js>) -> Result<Value<'js>> {
        self.state.update(&ctx, data)
    }

    /// The rest, its padding checked and removed, once.
    #[qjs(rename = "final")]
    pub fn finish<'js>(&mut self, ctx: Ctx<'js>) -> Result<Value<'js>> {
        self.state.finish(&ctx)
    }
}

/// Adds the two classes to `crypto`.
pub fn define(crypto: &Object<'_>) -> Result<()> {
    rquickjs::Class::<JsCipher>::define(crypto)?;
    rquickjs::Class::<JsDecipher>::define(crypto)
}
