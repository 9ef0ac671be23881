//! The script host of `proxy`: Pipy's JavaScript API on QuickJS (through rquickjs).
//! Scripts run at load time to build pipeline layouts, and at message boundaries
//! through `JsCallback`; bytes never pass through the engine unless a script asks.
//! This is the only crate that names the engine.
//!
//! # Layout
//! - `host`: `Host::load`, a codebase to a `Program`.
//! - `algo`: `algo.URLRouter` and the other algorithm classes.
//! - `engine`: the runtime, deadlines, microtasks, waking filters after Promises.
//! - `files`: where a codebase's files come from (a folder, a URL).
//! - `module`: modules, each evaluated in its own scope; the codebase they come from.
//! - `config`: `pipy()` and the configurator methods, generated from the filter table.
//! - `args`: `JsArgs`, script arguments as `proxy_core::args::Args`.
//! - `callback`: `JsCallback`, a script function as a `proxy_core::Callback`.
//! - `convert`: script values to and from events, messages and heads.
//! - `data`: the native `Data` class.
//! - `message`: the native `Message` class, with heads converted only when read.
//! - `vars`: context variables and `__inbound`.
//! - `http_agent`: `http.Agent`, HTTP requests from scripts.
//! - `globals`: `console`, `print`, `__thread`, timers, and the event classes (`prelude.js`).
//! - `error`: script errors with `file:line:col`.

pub mod algo;
pub mod args;
pub mod callback;
pub mod config;
pub mod convert;
pub mod data;
pub mod engine;
pub mod error;
pub mod files;
pub mod globals;
pub mod host;
pub mod http_agent;
pub mod message;
pub mod module;
pub mod vars;

pub use engine::{Limits, DEFAULT_MEMORY_LIMIT};
pub use files::{Fetch, Files, RemoteFiles};
pub use host::{Host, HostOptions, Source};
pub use module::{codebase_files, is_codebase_file};
