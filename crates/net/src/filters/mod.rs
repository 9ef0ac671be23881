//! Filters that need sockets, and `FILTERS`, their part of the filter table
//! (`all()` joins it with `proxy_core::filters::FILTERS`).
//!
//! # Layout
//! - `connect`: an outbound TCP connection.

pub mod connect;

use proxy_core::filters::BuildFn;

/// Script name → builder, for the filters of this crate.
pub const FILTERS: &[(&str, BuildFn)] = &[("connect", connect::build)];

/// Every filter a script can use: core's and this crate's.
pub fn all() -> impl Iterator<Item = &'static (&'static str, BuildFn)> {
    proxy_core::filters::FILTERS.iter().chain(FILTERS.iter())
}
