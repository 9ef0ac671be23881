//! Sockets for `proxy`: each worker thread runs a current-thread tokio runtime with a
//! `LocalSet`, binds its own listening sockets, and runs one root pipeline per
//! accepted connection. Nothing here knows the script engine: a worker is handed a
//! function that loads the script on its thread and returns the `Program`.
//!
//! Modules are private; the binary uses what the root re-exports: the worker
//! and its controls, and this crate's part of the filter table.
//!
//! # Layout
//! - `worker`: `Worker`, a thread with its runtime, its ports and a drain on shutdown.
//! - `listener`: binding ports and accepting connections (with `maxConnections`).
//! - `pump`: the socket loop both directions run: writes, reads, limits, pressure.
//! - `inbound`: one client connection: socket ⇄ pipeline, timeouts, backpressure.
//! - `outbound`: connections to servers, for `connect` (resolve, retry, pump).
//! - `task`: task pipelines, run once or every period.
//! - `udp`: UDP ports (a pipeline per peer) and `connect`'s UDP sockets.
//! - `filters`: filters that need sockets (`connect`), and their part of the filter table.
//! - `io`: a single-task wake-up, one-timer timeouts, reads without idle buffers, queued writes.

mod filters;
mod inbound;
mod io;
mod listener;
mod outbound;
mod pump;
mod task;
mod udp;
mod worker;

pub use filters::FILTERS;
pub use worker::{on_worker_thread, reload, spawn_worker, Controller, Died, Shutdown, Worker, WorkerOptions};
