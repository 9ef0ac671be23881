//! HTTP, sans-IO: what the HTTP filters share, whatever the version, and each
//! version's codec and sessions in a folder of its own.
//!
//! # Layout
//! - `session`: `ServerSession`, what `serveHTTP` and `demuxHTTP` run on, and
//!   `ClientSession`, one protocol's end of an upstream connection.
//! - `client`: the upstream sessions `muxHTTP` sends requests through, in the
//!   version its options pick.
//! - `connection`: a server connection whose version its first bytes tell.
//! - `h1`: HTTP/1.x: the codec (`Decoder`, `Encoder`) and both sessions.
//! - `h2`: HTTP/2 on the `h2` crate: both sessions.
//! - `server`: what the server filters share: options, read time limits, the
//!   bound on unanswered requests.
//! - `hop`: hop-by-hop headers, which a proxy does not pass on.
//! - `status`: standard reason phrases.
//! - `tunnel`: what turns an exchange into a tunnel (`CONNECT`, `Upgrade`).

pub mod client;
pub mod connection;
pub mod h1;
pub mod h2;
pub mod hop;
pub mod server;
pub mod session;
pub mod status;
pub mod tunnel;

pub use h1::{DecodeError, Decoder, Encoder, ResponseInfo};

/// Default limit of a request or response head, in bytes.
pub const DEFAULT_MAX_HEADER_SIZE: usize = 16 * 1024;

/// Default size up to which an encoder buffers a body to send `content-length`;
/// larger bodies are sent chunked.
pub const DEFAULT_BUFFER_SIZE: usize = 16 * 1024;
