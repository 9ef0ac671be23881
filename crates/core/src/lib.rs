//! The engine of `proxy`: events, filters and pipelines, with no sockets and no
//! script engine. Bytes become `Data` events; codecs turn them into messages
//! (`MessageStart`, `Data`*, `MessageEnd`); a stream finishes with `StreamEnd`.
//! A script's layouts are `PipelineLayout`s; each connection or request runs a
//! `Pipeline` made from one. Filters run user code only through `Callback`.
//!
//! Modules are private; what other crates use is re-exported at the root (the
//! `pub use` block below), except the two rooms with layouts of their own,
//! `filters` and `http`.
//!
//! # Layout
//! - `data`: `Data`, a rope of shared byte chunks.
//! - `event`: `Event`, `StreamError`, `Message`.
//! - `head`: HTTP heads, headers and tails.
//! - `context`: per-stream `Context` and the `Inbound` connection.
//! - `flow`: backpressure between a client connection and the servers it reaches.
//! - `callback`: `Callback`, how filters call scripts, and `Pending` results.
//! - `args`: `Args`, how filters read their script arguments.
//! - `options`: `OptionDef`, a filter's options declared once, and `OptionReader`.
//! - `pipeline`: `Filter`, `PipelineLayout`, `Pipeline`, `Cx`.
//! - `http`: HTTP, sans-IO: the session interface, HTTP/1 (`http::h1`), hop-by-hop rules.
//! - `mux`: upstream sessions shared by key, whatever protocol they speak.
//! - `compression`: streaming gzip / deflate, inflating with a size bound.
//! - `proxy_protocol`: the PROXY protocol header, read and written.
//! - `socks`: SOCKS 4, 4a and 5 requests and answers, read and written.
//! - `websocket`: WebSocket frames, read as they stream and written.
//! - `filters`: one file per filter, each declared by a `FilterDef`; the `FILTERS` table; `Registry`.
//! - `program`: `Program`, the ports a script listens on.
//! - `quota`: `Quota`, what throttling filters consume.
//! - `testing`: the filter contract checker used by tests (feature `testing`).
//! - `value_args`: filter arguments from Rust values (host-built filters, tests).
//! - `timer`: delayed callbacks (`call_after`) through a driver the worker installs.

mod args;
mod callback;
pub mod compression;
mod context;
mod data;
mod event;
pub mod filters;
mod flow;
mod head;
pub mod http;
pub mod hub;
pub mod mqtt;
pub mod multipart;
mod mux;
mod options;
pub mod payload;
mod pipeline;
mod program;
pub mod protobuf;
pub mod proxy_protocol;
mod quota;
pub mod resp;
pub mod socks;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod thrift;
mod timer;
mod value_args;
pub mod websocket;

pub use args::{ArgError, ArgResult, Args, Fields, NoOptions, OptValue, Options, Param};
pub use callback::{Arg, Callback, Pending, Plain, Returned, ScriptError, ScriptValue, Want};
pub use context::{Context, ContextVars, Inbound, WeakContext};
pub use data::{Data, DataReader};
pub use event::{Collected, Event, EventKind, Message, MessageCollector, StreamError};
pub use flow::{follow, Backpressure, Direction, Gauge, Pressure};
pub use head::{lowercase, FrameHead, Head, Headers, RequestHead, ResponseHead, Tail, Text};
pub use mux::{Key, KeyHasher, Ledger, Pool, Pooled};
pub use options::{
    format_duration, format_size, parse_duration, parse_size, DefaultValue, OptionDef, OptionReader, Support, Ty,
};
pub use pipeline::{
    live_pipelines, report_script_error, ChainLink, Cx, Filter, FilterHandle, FilterSpec, Inbox, LayoutSlot,
    MakeFilter, OnStart, Pipeline, PipelineLayout, Placement, Sink, Slot, StartArg,
};
pub use program::{
    Generation, ListenOptions, ModuleLayouts, Port, PortKey, Program, Task, TaskSchedule, Transport, LISTEN_OPTIONS,
    SIGNALS,
};
pub use quota::{Quota, QuotaOptions};
pub use timer::{call_after, set_timer_driver, TimerDriver};
pub use value_args::{define_module_pipeline, ValueArg, ValueArgs};
