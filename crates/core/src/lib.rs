//! The engine of `proxy`: events, filters and pipelines, with no sockets and no
//! script engine. Bytes become `Data` events; codecs turn them into messages
//! (`MessageStart`, `Data`*, `MessageEnd`); a stream finishes with `StreamEnd`.
//! A script's layouts are `PipelineLayout`s; each connection or request runs a
//! `Pipeline` made from one. Filters run user code only through `Callback`.
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
//! - `filters`: one file per filter, each declared by a `FilterDef`; the `FILTERS` table; `Registry`.
//! - `program`: `Program`, the ports a script listens on.
//! - `quota`: `Quota`, what throttling filters consume.
//! - `testing`: the filter contract checker used by tests (feature `testing`).
//! - `value_args`: filter arguments from Rust values (host-built filters, tests).
//! - `timer`: delayed callbacks through a driver the worker installs.

pub mod args;
pub mod callback;
pub mod context;
pub mod data;
pub mod event;
pub mod filters;
pub mod flow;
pub mod head;
pub mod http;
pub mod mux;
pub mod options;
pub mod pipeline;
pub mod program;
pub mod quota;
#[cfg(any(test, feature = "testing"))]
pub mod testing;
pub mod timer;
pub mod value_args;

pub use callback::{Arg, Callback, Pending, Returned, ScriptError, ScriptValue, Want};
pub use context::{Context, Inbound};
pub use data::Data;
pub use event::{Event, EventKind, Message, StreamError};
pub use head::{Head, Headers, RequestHead, ResponseHead, Tail};
pub use pipeline::{
    live_pipelines, ChainLink, Cx, Filter, FilterHandle, FilterSpec, LayoutSlot, Pipeline, PipelineLayout, Sink, Slot,
};
pub use program::{Generation, ListenOptions, ModuleLayouts, Port, Program, Task, TaskSchedule};
