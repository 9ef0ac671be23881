//! Every filter a script can use that needs no socket, one per file, each declared
//! once by a `FilterDef` (name, parameters, options, builder); `FILTERS`, this
//! crate's table of them; and `Registry`, the tables of every crate joined.
//!
//! # Layout
//! - `serve_http`: `serveHTTP`, an HTTP server in one filter.
//! - `demux_http`: `demuxHTTP`, an HTTP server with a sub-pipeline per request.
//! - `mux_http`: `muxHTTP`, an HTTP client over sessions shared by key.
//! - `accept_http_tunnel`, `connect_http_tunnel`: the two ends of an HTTP tunnel (CONNECT, Upgrade).
//! - `accept_socks`, `connect_socks`: the two ends of SOCKS.
//! - `decode_websocket`, `encode_websocket`: WebSocket frames to messages and back.
//! - `decode_http`, `encode_http`: HTTP/1 codecs as filters.
//! - `link`, `branch`: run other pipelines inline.
//! - `chain`, `use_module`: plugin chains and pipelines of other modules.
//! - `pipe`, `pipe_next`: plugin chains of the newer API, chosen per stream.
//! - `decode_resp`, `encode_resp`: the Redis protocol, values as MessageEnd payloads.
//! - `decode_mqtt`, `encode_mqtt`: MQTT packets, fields in the head.
//! - `decode_multipart`: a multipart message split into its parts.
//! - `decode_dubbo`, `encode_dubbo`: Dubbo frames, the header as the head.
//! - `decode_thrift`, `encode_thrift`: Thrift messages, the message object as MessageEnd payload.
//! - `insert`: events put before a stream's first event.
//! - `split`: a message per piece of the stream between separators.
//! - `swap`: streams meeting at a `Hub`, each getting what the others send.
//! - `repeat`: a sub-pipeline run again on the same input while a condition holds.
//! - `loop_back`: `loop`, a sub-pipeline whose output also goes back into it.
//! - `fork`: copy events to sub-pipelines.
//! - `branch_message`: `branchMessageStart` / `branchMessage`, a branch chosen by the first message.
//! - `handle`: the `handle*` family (look at events).
//! - `replace`: the `replace*` family (replace events).
//! - `dummy`, `dump`: swallow events; log events.
//! - `throttle`: `throttleMessageRate` / `throttleDataRate`, paced by a `Quota`.
//! - `wait`: hold events until a condition holds.
//! - `hold`: the shared state of a filter waiting for a Promise.
//! - `backlog`: what a stream sends while its handshake (a tunnel, SOCKS) is under way.

pub mod accept_http_tunnel;
pub mod accept_proxy_protocol;
pub mod accept_socks;
pub mod backlog;
pub mod branch;
pub mod branch_message;
pub mod chain;
pub mod compress;
pub mod compress_http;
pub mod connect_http_tunnel;
pub mod connect_proxy_protocol;
pub mod connect_socks;
pub mod decode_dubbo;
pub mod decode_http;
pub mod decode_mqtt;
pub mod decode_multipart;
pub mod decode_resp;
pub mod decode_thrift;
pub mod decode_websocket;
pub mod decompress;
pub mod decompress_http;
pub mod demux_http;
pub mod dummy;
pub mod dump;
pub mod encode_dubbo;
pub mod encode_http;
pub mod encode_mqtt;
pub mod encode_resp;
pub mod encode_thrift;
pub mod encode_websocket;
pub mod fork;
pub mod handle;
pub mod hold;
pub mod insert;
pub mod link;
pub mod loop_back;
pub mod mux_http;
pub mod pipe;
pub mod pipe_next;
pub mod repeat;
pub mod replace;
pub mod serve_http;
pub mod split;
pub mod swap;
pub mod throttle;
pub mod use_module;
pub mod wait;

use crate::args::{ArgResult, Args};
use crate::options::{OptionDef, OptionReader};
use crate::pipeline::FilterSpec;

/// Builds a filter spec from its definition and a script's arguments.
pub type BuildFn = fn(&'static FilterDef, &mut dyn Args) -> ArgResult<FilterSpec>;

/// What a filter is to scripts: the name they call it by, its parameters, its
/// options, and how it is built. The one declaration of each; the reference pages
/// and the editor types are generated from it.
pub struct FilterDef {
    /// The configurator method's name (`connect`).
    pub name: &'static str,
    /// Its parameters in TypeScript (`target: string, options?: ConnectOptions`);
    /// an options parameter is typed by the interface generated from `options`.
    pub params: &'static str,
    /// One line: what it does.
    pub doc: &'static str,
    /// The options it takes.
    pub options: &'static [&'static [OptionDef]],
    /// Builds it.
    pub build: BuildFn,
}

impl FilterDef {
    /// Argument `i` as this filter's options, checked against its declarations.
    pub fn options_at(&'static self, args: &mut dyn Args, i: usize) -> ArgResult<OptionReader> {
        OptionReader::check(self.name, self.options, args.options(i)?)
    }

    /// The name of the TypeScript interface of its options (`ConnectOptions`).
    pub fn options_type(&self) -> String {
        let mut chars = self.name.chars();
        let first = chars.next().map(|c| c.to_ascii_uppercase()).unwrap_or_default();
        format!("{first}{}Options", chars.as_str())
    }
}

/// Every filter of this crate.
pub const FILTERS: &[&FilterDef] = &[
    &serve_http::DEF,
    &demux_http::DEF,
    &mux_http::DEF,
    &accept_http_tunnel::DEF,
    &connect_http_tunnel::DEF,
    &accept_socks::DEF,
    &connect_socks::DEF,
    &compress_http::DEF,
    &decompress_http::DEF,
    &compress::DEF,
    &decompress::DEF,
    &accept_proxy_protocol::DEF,
    &connect_proxy_protocol::DEF,
    &decode_http::REQUEST,
    &decode_http::RESPONSE,
    &encode_http::REQUEST,
    &encode_http::RESPONSE,
    &decode_websocket::DEF,
    &decode_resp::DEF,
    &encode_resp::DEF,
    &decode_mqtt::DEF,
    &encode_mqtt::DEF,
    &decode_multipart::DEF,
    &decode_dubbo::DEF,
    &encode_dubbo::DEF,
    &decode_thrift::DEF,
    &encode_thrift::DEF,
    &encode_websocket::DEF,
    &link::DEF,
    &chain::DEF,
    &pipe::DEF,
    &pipe_next::DEF,
    &swap::DEF,
    &split::DEF,
    &insert::DEF,
    &repeat::DEF,
    &loop_back::DEF,
    &use_module::DEF,
    &wait::DEF,
    &throttle::MESSAGE_RATE,
    &throttle::DATA_RATE,
    &throttle::CONCURRENCY,
    &fork::DEF,
    &fork::JOIN,
    &fork::RACE,
    &branch::DEF,
    &branch_message::START,
    &branch_message::MESSAGE,
    &dummy::DEF,
    &dump::DUMP,
    &dump::PRINT,
    &handle::ANY,
    &handle::STREAM_START,
    &handle::MESSAGE_START,
    &handle::DATA,
    &handle::MESSAGE_END,
    &handle::STREAM_END,
    &handle::MESSAGE,
    &handle::MESSAGE_BODY,
    &replace::ANY,
    &replace::STREAM_START,
    &replace::MESSAGE_START,
    &replace::DATA,
    &replace::MESSAGE_END,
    &replace::STREAM_END,
    &replace::MESSAGE,
    &replace::MESSAGE_BODY,
];

/// Every filter scripts may use, by script name: the binary joins each crate's
/// table (`FILTERS` here, `proxy_net::filters::FILTERS`, ...) and hands the
/// result to the script host, so a filter in a new crate is one more table, not
/// an edit to the host or to another crate. A later table's filter of the same
/// name replaces an earlier one's.
#[derive(Clone, Default)]
pub struct Registry(Vec<&'static FilterDef>);

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
    pub fn with(mut self, table: &[&'static FilterDef]) -> Self {
        for &def in table {
            self.0.retain(|d| d.name != def.name);
            self.0.push(def);
        }
        self
    }

    /// The filter called `name`.
    pub fn find(&self, name: &str) -> Option<&'static FilterDef> {
        self.0.iter().copied().find(|d| d.name == name)
    }

    /// Every filter, in the order the tables gave them.
    pub fn iter(&self) -> impl Iterator<Item = &'static FilterDef> + '_ {
        self.0.iter().copied()
    }
}
