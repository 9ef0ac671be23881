//! The script host of `proxy`: Pipy's JavaScript API on QuickJS (through rquickjs).
//! Scripts run at load time to build pipeline layouts, and at message boundaries
//! through `JsCallback`; bytes never pass through the engine unless a script asks.
//! This is the only crate that names the engine.
//!
//! # Layout
//! Three rooms, each depending only on the ones listed before it:
//! - `engine`: the runtime, deadlines, stack and heap limits, microtasks, script
//!   errors with `file:line:col`.
//! - `api`: what scripts see: the native `Data` and `Message` classes, events and
//!   heads to and from script values, callbacks, context variables, `http.Agent`,
//!   `algo.*`, `console` and the other globals.
//! - `load`: turning a codebase into a `Program`: where files come from, modules
//!   and their scopes, `pipy()` and the configurator methods made from the filter
//!   registry, filter arguments read from script values.

mod api;
mod engine;
mod load;

pub use api::globals::{on_process_request, ProcessRequest};
pub use engine::{Limits, DEFAULT_MEMORY_LIMIT};
pub use load::files::{codebase_files, codebase_path, is_codebase_file, Fetch, Files, RemoteFiles};
pub use load::host::{Host, HostOptions, Source};
