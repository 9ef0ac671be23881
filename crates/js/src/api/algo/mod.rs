//! `algo`: the script's algorithm classes.
//!
//! # Layout
//! - `url_router`: `algo.URLRouter`.
//! - `quota`: `algo.Quota`.
//! - `load_balancer.js`: `algo.RoundRobinLoadBalancer`, `algo.LeastWorkLoadBalancer`,
//!   `algo.HashingLoadBalancer` (script code: it keeps script
//!   objects as borrowers and resources, which the engine's weak maps handle).
//! - `balancer.js`: `algo.LoadBalancer` (script code, for the same reason).
//! - `cache.js`: `algo.Cache`, `algo.hash`, `algo.uuid` (script code).

pub mod quota;
pub mod url_router;

use rquickjs::{Class, Ctx, Object, Result};

/// Installs the `algo` global.
pub fn install(ctx: &Ctx<'_>) -> Result<()> {
    let algo = Object::new(ctx.clone())?;
    Class::<url_router::JsUrlRouter>::define(&algo)?;
    Class::<quota::JsQuota>::define(&algo)?;
    ctx.globals().set("algo", algo)?;
    ctx.eval::<(), _>(include_str!("load_balancer.js"))?;
    ctx.eval::<(), _>(include_str!("balancer.js"))?;
    ctx.eval::<(), _>(include_str!("cache.js"))
}
