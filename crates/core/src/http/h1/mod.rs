//! HTTP/1.x, the first of the protocols behind the HTTP filters: the sans-IO codec
//! and the client session `muxHTTP` sends requests through.
//!
//! # Layout
//! - `decoder`: `Decoder`, bytes → MessageStart / Data / MessageEnd, requests or responses.
//! - `encoder`: `Encoder`, message events → bytes, with Pipy's header order.
//! - `client`: `Session`, an upstream connection that pipelines requests.

pub mod client;
pub mod decoder;
pub mod encoder;

pub use decoder::{DecodeError, Decoder};
pub use encoder::{Encoder, ResponseInfo};
