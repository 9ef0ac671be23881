//! Filters that need sockets, and `FILTERS`, their part of the filter table (the
//! binary joins it with the other crates' in a `proxy_core::filters::Registry`).
//!
//! # Layout
//! - `connect`: an outbound TCP connection.
//! - `tee`: a copy of the stream's bytes on standard output.

pub mod connect;
pub mod tee;

use proxy_core::filters::FilterDef;

/// The filters of this crate.
pub const FILTERS: &[&FilterDef] = &[&connect::DEF, &tee::DEF];
