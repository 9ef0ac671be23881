//! `algo`: the script's algorithm classes.
//!
//! # Layout
//! - `url_router`: `algo.URLRouter`.

pub mod url_router;

use rquickjs::{Class, Ctx, Object, Result};

/// Installs the `algo` global.
pub fn install(ctx: &Ctx<'_>) -> Result<()> {
    let algo = Object::new(ctx.clone())?;
    Class::<url_router::JsUrlRouter>::define(&algo)?;
    ctx.globals().set("algo", algo)
}
