//! What scripts see besides the configuration API: classes, globals, and the
//! conversions between script values and the engine's events.
//!
//! # Layout
//! - `data`: the native `Data` class, and the budget of bytes Data objects hold.
//! - `message`: the native `Message` class, with heads converted only when read.
//! - `head`: heads and tails as plain script objects.
//! - `kind`: which native kind a script value is.
//! - `convert`: script values to and from events and messages.
//! - `callback`: `JsCallback`, a script function as a `proxy_core::Callback`.
//! - `vars`: context variables and `__inbound`.
//! - `http_agent`: `http.Agent`, HTTP requests from scripts.
//! - `hub`: `pipeline.Hub`, where `swap` streams meet.
//! - `http_directory`: `http.Directory`, static files from the codebase or a folder.
//! - `algo`: `algo.URLRouter` and the other algorithm classes.
//! - `crypto`: `crypto.Certificate`, `crypto.PrivateKey` and the other key classes, `crypto.JWT`.
//! - `digest`: `crypto.Hash` and `crypto.Hmac`.
//! - `signature`: `crypto.Sign` and `crypto.Verify`.
//! - `cipher`: `crypto.Cipher` and `crypto.Decipher` (AES).
//! - `xml`: `XML` and `XML.Node`, read on `quick-xml`.
//! - `yaml`: `YAML`, on `yaml-rust2`, with a bound on aliases.
//! - `netmask`: `Netmask`, IPv4 and IPv6 networks, on `ipnet`.
//! - `protobuf`: `protobuf`, Protocol Buffers messages read and written field by field.
//! - `payload`: codec payloads (`MessageEnd.payload`) to and from script values.
//! - `globals`: `console`, `print`, `__thread`, timers, `URL`, the event classes
//!   (`prelude.js`), and what reads the codebase (`pipy.load`, `JSON.decode`, `os`).

pub mod algo;
pub mod callback;
pub mod cipher;
pub mod convert;
pub mod crypto;
pub mod data;
pub mod digest;
pub mod globals;
pub mod head;
pub mod http_agent;
pub mod http_directory;
pub mod hub;
pub mod kind;
pub mod message;
pub mod netmask;
pub mod payload;
pub mod protobuf;
pub mod signature;
pub mod vars;
pub mod xml;
pub mod yaml;
