//! `pipeline.Hub`: a meeting point for `swap` (see `proxy_core::hub`), one
//! worker's: streams on other workers do not meet it.

use proxy_core::hub::Hub;
use rquickjs::class::Trace;
use rquickjs::{Class, JsLifetime, Object, Result};
use std::rc::Rc;

/// `pipeline.Hub` as scripts see it.
#[derive(Trace, JsLifetime)]
#[rquickjs::class(rename = "Hub")]
pub struct JsHub {
    #[qjs(skip_trace)]
    pub(crate) hub: Rc<Hub>,
}

#[rquickjs::methods]
impl JsHub {
    /// `new pipeline.Hub()`.
    #[qjs(constructor)]
    pub fn new() -> Self {
        JsHub { hub: Hub::new() }
    }

    /// How many streams have joined it.
    #[qjs(get)]
    pub fn size(&self) -> usize {
        self.hub.len()
    }
}

/// Puts the `Hub` class on a module's `pipeline` function.
pub fn install(pipeline: &Object<'_>) -> Result<()> {
    Class::<JsHub>::define(pipeline)
}

/// The hub behind a script object, for `swap`.
pub fn native_of(obj: &Object<'_>) -> Option<proxy_core::ScriptValue> {
    Class::<JsHub>::from_object(obj).map(|h| h.borrow().hub.clone() as proxy_core::ScriptValue)
}
