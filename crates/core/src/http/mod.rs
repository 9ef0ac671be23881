//! HTTP/1.x, sans-IO: a decoder from bytes to message events and an encoder back.
//!
//! # Layout
//! - `decoder`: `Decoder`, bytes → MessageStart / Data / MessageEnd, requests or responses.
//! - `encoder`: `Encoder`, message events → bytes, with Pipy's header order.
//! - `server`: what the server filters share: options, read time limits, the
//!   bound on unanswered requests.
//! - `hop`: hop-by-hop headers, which a proxy does not pass on.
//! - `status`: standard reason phrases.

pub mod decoder;
pub mod encoder;
pub mod hop;
pub mod server;
pub mod status;

pub use decoder::{DecodeError, Decoder};
pub use encoder::{Encoder, ResponseInfo};

/// Default limit of a request or response head, in bytes.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 16 * 1024;

/// Default size up to which an encoder buffers a body to send `content-length`;
/// larger bodies are sent chunked.
pub const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;
