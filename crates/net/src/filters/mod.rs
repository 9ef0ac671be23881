//! Filters that need sockets, and `FILTERS`, their part of the filter table (the
//! binary joins it with the other crates' in a `proxy_core::filters::Registry`).
//!
//! # Layout
//! - `connect`: an outbound TCP connection.

pub mod connect;

use proxy_core::filters::BuildFn;

/// Script name → builder, for the filters of this crate.
pub const FILTERS: &[(&str, BuildFn)] = &[("connect", connect::build)];
