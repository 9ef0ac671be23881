//! Every filter a script can use that needs no socket, one per file; `FILTERS`,
//! the table that maps their script names to the functions that build them; and
//! `Registry`, the tables of every crate joined.
//!
//! # Layout
//! - `serve_http`: `serveHTTP`, an HTTP server in one filter.
//! - `demux_http`: `demuxHTTP`, an HTTP server with a sub-pipeline per request.
//! - `mux_http`: `muxHTTP`, an HTTP client over sessions shared by key.
//! - `decode_http`, `encode_http`: HTTP/1 codecs as filters.
//! - `link`, `branch`: run other pipelines inline.
//! - `chain`, `use_module`: plugin chains and pipelines of other modules.
//! - `fork`: copy events to sub-pipelines.
//! - `branch_message`: `branchMessageStart` / `branchMessage`, a branch chosen by the first message.
//! - `handle`: the `handle*` family (look at events).
//! - `replace`: the `replace*` family (replace events).
//! - `dummy`, `dump`: swallow events; log events.
//! - `throttle`: `throttleMessageRate` / `throttleDataRate`, paced by a `Quota`.
//! - `wait`: hold events until a condition holds.
//! - `hold`: the shared state of a filter waiting for a Promise.

pub mod branch;
pub mod branch_message;
pub mod chain;
pub mod decode_http;
pub mod demux_http;
pub mod dummy;
pub mod dump;
pub mod encode_http;
pub mod fork;
pub mod handle;
pub mod hold;
pub mod link;
pub mod mux_http;
pub mod replace;
pub mod serve_http;
pub mod throttle;
pub mod use_module;
pub mod wait;

use crate::args::{ArgResult, Args};
use crate::event::EventKind;
use crate::pipeline::FilterSpec;
use handle::HandleKind;
use replace::ReplaceKind;

/// Builds a filter spec from script arguments.
pub type BuildFn = fn(&mut dyn Args) -> ArgResult<FilterSpec>;

/// Script name → builder, for every filter.
pub const FILTERS: &[(&str, BuildFn)] = &[
    ("serveHTTP", serve_http::build),
    ("demuxHTTP", demux_http::build),
    ("muxHTTP", mux_http::build),
    ("decodeHTTPRequest", decode_http::build_request),
    ("decodeHTTPResponse", decode_http::build_response),
    ("encodeHTTPRequest", encode_http::build_request),
    ("encodeHTTPResponse", encode_http::build_response),
    ("link", link::build),
    ("chain", chain::build),
    ("use", use_module::build),
    ("wait", wait::build),
    ("throttleMessageRate", |a| throttle::build(a, throttle::Unit::Message)),
    ("throttleDataRate", |a| throttle::build(a, throttle::Unit::Byte)),
    ("fork", fork::build),
    ("branch", branch::build),
    ("branchMessageStart", branch_message::build_start),
    ("branchMessage", branch_message::build_message),
    ("dummy", dummy::build),
    ("dump", dump::build_dump),
    ("print", dump::build_print),
    ("handleStreamStart", |a| handle::build(a, HandleKind::StreamStart)),
    ("handleMessageStart", |a| handle::build(a, HandleKind::Event(EventKind::MessageStart))),
    ("handleData", |a| handle::build(a, HandleKind::Event(EventKind::Data))),
    ("handleMessageEnd", |a| handle::build(a, HandleKind::Event(EventKind::MessageEnd))),
    ("handleStreamEnd", |a| handle::build(a, HandleKind::Event(EventKind::StreamEnd))),
    ("handleMessage", |a| handle::build(a, HandleKind::Message)),
    ("replaceStreamStart", |a| replace::build(a, ReplaceKind::StreamStart)),
    ("replaceMessageStart", |a| replace::build(a, ReplaceKind::Event(EventKind::MessageStart))),
    ("replaceData", |a| replace::build(a, ReplaceKind::Event(EventKind::Data))),
    ("replaceMessageEnd", |a| replace::build(a, ReplaceKind::Event(EventKind::MessageEnd))),
    ("replaceStreamEnd", |a| replace::build(a, ReplaceKind::Event(EventKind::StreamEnd))),
    ("replaceMessage", |a| replace::build(a, ReplaceKind::Message)),
    ("replaceMessageBody", |a| replace::build(a, ReplaceKind::MessageBody)),
];

/// The builder of the filter called `name` among core's filters.
pub fn find(name: &str) -> Option<BuildFn> {
    FILTERS.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
}

/// Every filter scripts may use, by script name: the binary joins each crate's
/// table (`FILTERS` here, `proxy_net::filters::FILTERS`, ...) and hands the
/// result to the script host, so a filter in a new crate is one more table, not
/// an edit to the host or to another crate. A later table's filter of the same
/// name replaces an earlier one's.
#[derive(Clone, Default)]
pub struct Registry(Vec<(&'static str, BuildFn)>);

impl Registry {
    /// No filters.
    pub fn new() -> Self {
        Self::default()
    }

    /// Core's own filters (what needs no socket).
    pub fn core() -> Self {
        Self::new().with(FILTERS)
    }

    /// These filters too.
    pub fn with(mut self, table: &[(&'static str, BuildFn)]) -> Self {
        for &(name, build) in table {
            self.0.retain(|(n, _)| *n != name);
            self.0.push((name, build));
        }
        self
    }

    /// The builder of the filter called `name`.
    pub fn find(&self, name: &str) -> Option<BuildFn> {
        self.0.iter().find(|(n, _)| *n == name).map(|(_, b)| *b)
    }

    /// Every filter, in the order the tables gave them.
    pub fn iter(&self) -> impl Iterator<Item = (&'static str, BuildFn)> + '_ {
        self.0.iter().copied()
    }
}
