//! `algo.Quota`: scripts' handle on a `proxy_core::Quota`, the amount the
//! throttle filters consume. `new algo.Quota(initial, { per, produce, max })`;
//! `initial`, `current`, `consume(n)`, `produce(n)`, `reset()`.

#![allow(unsafe_code)] // rquickjs' class macros generate `unsafe impl`s of its own traits.

use proxy_core::{Quota, QuotaOptions};
use rquickjs::class::Trace;
use rquickjs::function::Opt;
use rquickjs::{Coerced, Ctx, Exception, JsLifetime, Object, Result, Value};

/// `algo.Quota` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Quota")]
pub struct JsQuota {
    #[qjs(skip_trace)]
    pub(crate) quota: Quota,
}

fn seconds(ctx: &Ctx<'_>, v: Value<'_>) -> Result<Option<std::time::Duration>> {
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    let text = match v.as_number() {
        Some(n) => n.to_string(),
        None => v.get::<Coerced<String>>()?.0,
    };
    proxy_core::parse_duration(&text).map(Some).ok_or_else(|| {
        Exception::throw_type(ctx, &format!("algo.Quota: 'per' must be a duration like 1s, not '{text}'"))
    })
}

fn number(o: &Object<'_>, name: &str) -> Result<Option<f64>> {
    let v: Value = o.get(name)?;
    if v.is_undefined() || v.is_null() {
        return Ok(None);
    }
    Ok(Some(v.get::<Coerced<f64>>()?.0))
}

#[rquickjs::methods]
impl JsQuota {
    /// `new algo.Quota(initial, options?)`.
    #[qjs(constructor)]
    pub fn new(ctx: Ctx<'_>, initial: Coerced<f64>, options: Opt<Object<'_>>) -> Result<Self> {
        let mut opts = QuotaOptions::default();
        if let Some(o) = options.0 {
            if o.contains_key("key")? {
                return Err(Exception::throw_type(
                    &ctx,
                    "algo.Quota: 'key' (a quota shared by every worker) is not supported yet; each worker has its own quota",
                ));
            }
            opts.per = seconds(&ctx, o.get("per")?)?;
            opts.produce = number(&o, "produce")?;
            opts.max = number(&o, "max")?;
        }
        Ok(JsQuota { quota: Quota::new(initial.0, opts) })
    }

    /// The amount it starts with and refills to.
    #[qjs(get)]
    pub fn initial(&self) -> f64 {
        self.quota.initial()
    }

    /// The amount there now.
    #[qjs(get)]
    pub fn current(&self) -> f64 {
        self.quota.current()
    }

    /// Takes up to `n`; returns what was taken.
    pub fn consume(&self, n: Coerced<f64>) -> f64 {
        self.quota.consume(n.0)
    }

    /// Adds `n` (up to `max`).
    pub fn produce(&self, n: Coerced<f64>) {
        self.quota.produce(n.0)
    }

    /// Back to the initial amount.
    pub fn reset(&self) {
        self.quota.reset()
    }
}
