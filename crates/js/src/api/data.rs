//! The script's `Data` class: a native wrapper of `proxy_core::Data`, so bytes a
//! script holds are the same chunks the pipeline moves, not copies.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use base64::Engine as _;
use bytes::Bytes;
use proxy_core::Data;
use rquickjs::class::Trace;
use rquickjs::prelude::{Opt, This};
use rquickjs::{Class, Ctx, Exception, Function, JsLifetime, Result, Value};

/// `Data` as scripts see it.
#[derive(Trace, JsLifetime, Default)]
#[rquickjs::class(rename = "Data")]
pub struct JsData {
    #[qjs(skip_trace)]
    data: Data,
}

thread_local! {
    /// Bytes the `Data` objects of this thread's scripts hold, and how many they may.
    static HELD: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
    static BUDGET: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Lets the `Data` objects of this thread's scripts hold up to `bytes` (0: no limit).
/// Their bytes live outside the script heap, so they have a limit of their own: the
/// same size as the heap's.
pub fn set_budget(bytes: usize) {
    BUDGET.with(|b| b.set(bytes));
}

/// How many more bytes `Data` objects may hold (`usize::MAX` with no limit):
/// the most a decoder run by a script should build.
pub fn budget_left() -> usize {
    let (held, budget) = (HELD.with(|h| h.get()), BUDGET.with(|b| b.get()));
    if budget == 0 {
        usize::MAX
    } else {
        budget.saturating_sub(held)
    }
}

/// Counts `n` more bytes held, or fails if that would pass the budget.
fn hold(ctx: &Ctx<'_>, n: usize) -> Result<()> {
    let (held, budget) = (HELD.with(|h| h.get()), BUDGET.with(|b| b.get()));
    if budget > 0 && held.saturating_add(n) > budget {
        return Err(Exception::throw_range(
            ctx,
            &format!("out of memory: Data objects would hold over {budget} bytes (--js-memory-limit)"),
        ));
    }
    HELD.with(|h| h.set(held + n));
    Ok(())
}

fn release(n: usize) {
    HELD.with(|h| h.set(h.get().saturating_sub(n)));
}

/// Bytes a script object holds outside the script heap (a message body), counted
/// against the budget until dropped or cleared.
#[derive(Default)]
pub struct Held(usize);

impl Held {
    /// Counts `n` bytes, or fails if the budget has no room for them.
    pub fn new(ctx: &Ctx<'_>, n: usize) -> Result<Held> {
        hold(ctx, n)?;
        Ok(Held(n))
    }

    /// The bytes are no longer held here.
    pub fn clear(&mut self) {
        release(std::mem::take(&mut self.0));
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        self.clear();
    }
}

impl JsData {
    /// A script object's worth of `data`, counted against the budget.
    fn wrap(ctx: &Ctx<'_>, data: Data) -> Result<JsData> {
        hold(ctx, data.len())?;
        Ok(JsData { data })
    }

    /// The bytes.
    pub fn data(&self) -> &Data {
        &self.data
    }

    /// Bytes taken out of another object (the total held stays the same).
    fn split(part: Data) -> JsData {
        JsData { data: part }
    }
}

impl Drop for JsData {
    fn drop(&mut self) {
        release(self.data.len());
    }
}

/// `bytes` as text in `encoding`: utf8 (the default), hex, base64 or base64url.
pub fn encode_text(ctx: &Ctx<'_>, bytes: &[u8], encoding: Option<&str>) -> Result<String> {
    Ok(match encoding.unwrap_or("utf8") {
        "utf8" | "utf-8" => String::from_utf8_lossy(bytes).into_owned(),
        "hex" => bytes.iter().map(|b| format!("{b:02x}")).collect(),
        "base64" => base64::engine::general_purpose::STANDARD.encode(bytes),
        "base64url" => base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes),
        other => return Err(Exception::throw_type(ctx, &format!("Data: unknown encoding '{other}'"))),
    })
}

/// Bytes of `value` in `encoding` (utf8, hex, base64, base64url).
fn decode_text(ctx: &Ctx<'_>, s: &str, encoding: Option<&str>) -> Result<Vec<u8>> {
    match encoding.unwrap_or("utf8") {
        "utf8" | "utf-8" => Ok(s.as_bytes().to_vec()),
        "hex" => hex_decode(s).ok_or_else(|| Exception::throw_type(ctx, "Data: invalid hex string")),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(s.trim_end_matches('=').to_string() + &"=".repeat((4 - s.trim_end_matches('=').len() % 4) % 4))
            .map_err(|_| Exception::throw_type(ctx, "Data: invalid base64 string")),
        "base64url" => base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(s.trim_end_matches('='))
            .map_err(|_| Exception::throw_type(ctx, "Data: invalid base64url string")),
        other => Err(Exception::throw_type(ctx, &format!("Data: unknown encoding '{other}'"))),
    }
}

fn hex_decode(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len()).step_by(2).map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok()).collect()
}

/// Converts a script value (Data, string, array of bytes) to `Data`.
pub fn to_data<'js>(ctx: &Ctx<'js>, v: &Value<'js>, encoding: Option<&str>) -> Result<Data> {
    if v.is_undefined() || v.is_null() {
        return Ok(Data::new());
    }
    if let Some(s) = v.as_string() {
        return Ok(Data::from(decode_text(ctx, &s.to_string()?, encoding)?));
    }
    if crate::api::kind::kind_of(v) == Some(crate::api::kind::Kind::Data) {
        if let Ok(cls) = Class::<JsData>::from_value(v) {
            return Ok(cls.borrow().data.clone());
        }
    }
    if let Some(arr) = v.as_array() {
        let mut bytes = Vec::with_capacity(arr.len());
        for b in arr.iter::<i32>() {
            bytes.push(b? as u8);
        }
        return Ok(Data::from(bytes));
    }
    let s: rquickjs::Coerced<String> = v.get()?;
    Ok(Data::from(s.0))
}

/// Wraps `Data` as a script object.
pub fn from_data<'js>(ctx: &Ctx<'js>, data: Data) -> Result<Value<'js>> {
    Ok(Class::instance(ctx.clone(), JsData::wrap(ctx, data)?)?.into_value())
}

impl JsData {
    /// `shiftTo` (`to`: through the first byte the scanner accepts) or
    /// `shiftWhile` (while it accepts). The scanner runs on a copy of the
    /// chunks (no bytes copied) with the object not borrowed, so it may read
    /// or change the same Data.
    fn shift_scanned<'js>(this: This<Class<'js, JsData>>, scanner: Function<'js>, to: bool) -> Result<JsData> {
        let data = this.0.borrow().data.clone();
        let n = Self::scan(&data, &scanner, to)?;
        let part = this.0.borrow_mut().data.shift(n);
        Ok(JsData::split(part))
    }

    /// How many bytes of `data` the scanner takes.
    fn scan<'js>(data: &Data, scanner: &Function<'js>, to: bool) -> Result<usize> {
        let mut n = 0;
        for chunk in data.chunks() {
            for &b in chunk.iter() {
                let yes = scanner.call::<_, rquickjs::Coerced<bool>>((b,))?.0;
                if to {
                    n += 1;
                    if yes {
                        return Ok(n);
                    }
                } else if yes {
                    n += 1;
                } else {
                    return Ok(n);
                }
            }
        }
        Ok(n)
    }
}

#[rquickjs::methods]
impl JsData {
    /// `new Data()`, `new Data('text', enc?)`, `new Data([1, 2])`, `new Data(data)`.
    #[qjs(constructor)]
    pub fn new<'js>(ctx: Ctx<'js>, value: Opt<Value<'js>>, encoding: Opt<String>) -> Result<Self> {
        let data = match value.0 {
            Some(v) => to_data(&ctx, &v, encoding.0.as_deref())?,
            None => Data::new(),
        };
        JsData::wrap(&ctx, data)
    }

    /// `Data.from(value, enc?)`.
    #[qjs(static)]
    pub fn from<'js>(ctx: Ctx<'js>, value: Value<'js>, encoding: Opt<String>) -> Result<Self> {
        let data = to_data(&ctx, &value, encoding.0.as_deref())?;
        JsData::wrap(&ctx, data)
    }

    /// Number of bytes.
    #[qjs(get)]
    pub fn size(&self) -> usize {
        self.data.len()
    }

    /// Always `'Data'` (every event has a type).
    #[qjs(get, rename = "type")]
    pub fn kind(&self) -> &'static str {
        "Data"
    }

    /// Appends Data or a string.
    pub fn push<'js>(&mut self, ctx: Ctx<'js>, value: Value<'js>) -> Result<()> {
        let d = to_data(&ctx, &value, None)?;
        hold(&ctx, d.len())?;
        self.data.push(d);
        self.data.compact();
        Ok(())
    }

    /// Removes and returns the first `n` bytes.
    pub fn shift(&mut self, n: usize) -> JsData {
        let part = self.data.shift(n);
        JsData::split(part)
    }

    /// Removes and returns the last `n` bytes.
    pub fn pop(&mut self, n: usize) -> JsData {
        let part = self.data.pop(n);
        JsData::split(part)
    }

    /// Removes and returns the bytes up to and including the first one for
    /// which `scanner(byte)` is truthy (all of them if none is).
    #[qjs(rename = "shiftTo")]
    pub fn shift_to<'js>(this: This<Class<'js, JsData>>, scanner: Function<'js>) -> Result<JsData> {
        JsData::shift_scanned(this, scanner, true)
    }

    /// Removes and returns the bytes for which `scanner(byte)` is truthy, up
    /// to the first for which it is not.
    #[qjs(rename = "shiftWhile")]
    pub fn shift_while<'js>(this: This<Class<'js, JsData>>, scanner: Function<'js>) -> Result<JsData> {
        JsData::shift_scanned(this, scanner, false)
    }

    /// The bytes as an array of numbers.
    #[qjs(rename = "toArray")]
    pub fn to_array(&self) -> Vec<u8> {
        self.data.to_vec()
    }

    /// The bytes as text: utf8 (default), hex, base64 or base64url.
    #[qjs(rename = "toString")]
    pub fn to_string<'js>(&self, ctx: Ctx<'js>, encoding: Opt<String>) -> Result<String> {
        let bytes: Bytes = self.data.to_bytes();
        encode_text(&ctx, &bytes, encoding.0.as_deref())
    }
}
