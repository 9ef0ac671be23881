//! HTTP/1.x, the first of the protocols behind the HTTP filters: the sans-IO codec,
//! the server session `serveHTTP` and `demuxHTTP` run on, and the client session
//! `muxHTTP` sends requests through.
//!
//! # Layout
//! - `decoder`: `Decoder`, bytes → MessageStart / Data / MessageEnd, requests or responses.
//! - `encoder`: `Encoder`, message events → bytes, with Pipy's header order.
//! - `server`: `Session`, a client connection whose requests are answered in order.
//! - `client`: `Session`, an upstream connection that pipelines requests.

pub mod client;
pub mod decoder;
pub mod encoder;
pub mod server;

pub use decoder::{DecodeError, Decoder};

/// The interim answer to a request that `expects_continue`.
pub const CONTINUE: &str = "HTTP/1.1 100 Continue\r\n\r\n";
pub use encoder::{Encoder, ResponseInfo};
