//! Certificates made for tests, and rustls configs around them.

use rustls::{ClientConfig, RootCertStore, ServerConfig};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::sync::Arc;

/// A new self-signed ECDSA P-256 certificate for `name` (its common name and only
/// DNS name), and its key, both PEM.
pub fn self_signed(name: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().unwrap();
    let mut params = rcgen::CertificateParams::new(vec![name.to_string()]).unwrap();
    params.distinguished_name = rcgen::DistinguishedName::new();
    params.distinguished_name.push(rcgen::DnType::CommonName, name);
    let cert = params.self_signed(&key).unwrap();
    (cert.pem(), key.serialize_pem())
}

/// A server config with a new certificate for `name`, and the roots that trust it.
pub fn server_config(name: &str) -> (ServerConfig, RootCertStore) {
    let (cert, key) = self_signed(name);
    let der = CertificateDer::from_pem_slice(cert.as_bytes()).unwrap();
    let mut roots = RootCertStore::empty();
    roots.add(der.clone()).unwrap();
    let config = ServerConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![der], PrivateKeyDer::from_pem_slice(key.as_bytes()).unwrap())
        .unwrap();
    (config, roots)
}

/// A client config trusting `roots`.
pub fn client_config(roots: RootCertStore) -> ClientConfig {
    ClientConfig::builder_with_provider(crate::provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(Arc::new(roots))
        .with_no_client_auth()
}
