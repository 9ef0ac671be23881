//! TLS for proxy, as filters over `Data`: `acceptTLS` terminates TLS for the
//! sub-pipeline after it, `connectTLS` originates it through the sub-pipeline after
//! it, both driving rustls sans-IO, so TLS composes with every other filter (TLS in
//! a tunnel, TLS over TLS). Also the certificate and key types the script host's
//! `crypto` classes wrap, and the filters that read a ClientHello without
//! terminating (`handleTLSClientHello`, `detectProtocol`).
//!
//! # Layout
//! - `keys`: `Certificate`, `CertificateChain`, `PrivateKey`, `PublicKey`.
//! - `jws`: JWT signatures checked with a public key or a shared secret.
//! - `signing`: signatures of whole messages, made and checked (`crypto.Sign`, `crypto.Verify`).
//! - `settings`: the options both TLS filters share, read into rustls configs.
//! - `session`: `Tls`, one rustls connection pumped with `Data`.
//! - `accept_tls`, `connect_tls`: the two filters.
//! - `client_hello`: reads a ClientHello's server names and ALPN protocols.
//! - `handle_client_hello`, `detect_protocol`: the filters that peek.

mod accept_tls;
mod client_hello;
mod connect_tls;
mod detect_protocol;
mod handle_client_hello;
pub mod jws;
mod keys;
mod session;
mod settings;
pub mod signing;
#[cfg(any(test, feature = "fuzzing"))]
mod testing;

/// What the fuzz targets drive (feature `fuzzing`).
#[cfg(feature = "fuzzing")]
pub mod fuzzing {
    pub use crate::session::fuzz_server_input;
}

pub use client_hello::{ClientHello, HelloParser, HelloState};
pub use keys::{Certificate, CertificateChain, CertificateInfo, KeyError, PrivateKey, PublicKey};

use proxy_core::filters::FilterDef;
use std::sync::{Arc, OnceLock};

/// Every filter of this crate.
pub const FILTERS: &[&FilterDef] =
    &[&accept_tls::DEF, &connect_tls::DEF, &handle_client_hello::DEF, &detect_protocol::DEF];

/// The cryptography rustls uses here: *ring* (see docs/tls.md for why).
pub(crate) fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    static PROVIDER: OnceLock<Arc<rustls::crypto::CryptoProvider>> = OnceLock::new();
    PROVIDER.get_or_init(|| Arc::new(rustls::crypto::ring::default_provider())).clone()
}
