//! Loading a codebase into a `Program`.
//!
//! # Layout
//! - `host`: `Host::load`, a codebase to a `Program`, on one worker's engine.
//! - `files`: where a codebase's files come from (a folder, a URL), and which
//!   paths stay inside it.
//! - `module`: modules, each evaluated in its own scope; the codebase they come from.
//! - `config`: `pipy()` and the configurator methods, made from the filter registry.
//! - `args`: `JsArgs`, script arguments as `proxy_core::Args`.

pub mod args;
pub mod config;
pub mod esm;
pub mod files;
pub mod host;
pub mod module;
