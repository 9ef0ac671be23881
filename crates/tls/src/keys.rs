//! Certificates and keys as scripts make them (`crypto.Certificate`,
//! `crypto.CertificateChain`, `crypto.PrivateKey`, `crypto.PublicKey`): read from PEM
//! or DER once, checked then, and held in the form rustls takes. The fields scripts
//! read from a certificate (subject, issuer, names, validity) are parsed on demand.

use crate::provider;
use rustls::sign::SigningKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, SubjectPublicKeyInfoDer};
use std::sync::Arc;

/// Why bytes are not a certificate or key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyError(pub String);

impl std::fmt::Display for KeyError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// DER is a SEQUENCE; PEM is text. Anything starting with a SEQUENCE tag is read as DER.
fn looks_like_der(bytes: &[u8]) -> bool {
    bytes.first() == Some(&0x30)
}

/// One X.509 certificate.
#[derive(Clone, Debug)]
pub struct Certificate {
    der: CertificateDer<'static>,
}

/// What scripts read from a certificate.
#[derive(Clone, Debug, PartialEq)]
pub struct CertificateInfo {
    /// The subject's attributes by OpenSSL's long names (`commonName`), in order.
    pub subject: Vec<(String, String)>,
    /// The issuer's attributes, the same way.
    pub issuer: Vec<(String, String)>,
    /// The DNS names of the subjectAltName extension.
    pub subject_alt_names: Vec<String>,
    /// Start of validity, milliseconds since the epoch.
    pub not_before: f64,
    /// End of validity, milliseconds since the epoch.
    pub not_after: f64,
}

impl Certificate {
    /// The first certificate of PEM text, or one DER certificate.
    pub fn from_bytes(bytes: &[u8]) -> Result<Certificate, KeyError> {
        let der = if looks_like_der(bytes) {
            CertificateDer::from(bytes.to_vec())
        } else {
            match CertificateDer::pem_slice_iter(bytes).next() {
                Some(Ok(der)) => der,
                Some(Err(e)) => return Err(KeyError(format!("broken PEM certificate: {e}"))),
                None => {
                    return Err(KeyError("no certificate: expected PEM text with a CERTIFICATE block, or DER".into()))
                }
            }
        };
        Certificate::from_der(der)
    }

    /// A certificate of DER bytes, checked to parse.
    pub fn from_der(der: CertificateDer<'static>) -> Result<Certificate, KeyError> {
        x509_parser::parse_x509_certificate(&der).map_err(|e| KeyError(format!("not an X.509 certificate: {e}")))?;
        Ok(Certificate { der })
    }

    /// Its DER bytes.
    pub fn der(&self) -> &CertificateDer<'static> {
        &self.der
    }

    /// Its fields.
    pub fn info(&self) -> CertificateInfo {
        let (_, cert) = x509_parser::parse_x509_certificate(&self.der).expect("checked when made");
        let names = |name: &x509_parser::x509::X509Name<'_>| -> Vec<(String, String)> {
            name.iter_attributes()
                .map(|a| {
                    let value = a
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|_| String::from_utf8_lossy(a.as_slice()).into_owned());
                    (long_name(&a.attr_type().to_id_string()), value)
                })
                .collect()
        };
        let subject_alt_names = match cert.subject_alternative_name() {
            Ok(Some(ext)) => ext
                .value
                .general_names
                .iter()
                .filter_map(|n| match n {
                    x509_parser::extensions::GeneralName::DNSName(s) => Some(s.to_string()),
                    _ => None,
                })
                .collect(),
            _ => Vec::new(),
        };
        let validity = cert.validity();
        CertificateInfo {
            subject: names(cert.subject()),
            issuer: names(cert.issuer()),
            subject_alt_names,
            not_before: validity.not_before.timestamp() as f64 * 1000.0,
            not_after: validity.not_after.timestamp() as f64 * 1000.0,
        }
    }

    /// PEM text of it.
    pub fn to_pem(&self) -> String {
        pem("CERTIFICATE", &self.der)
    }
}

/// OpenSSL's long name of an attribute type, as Pipy gives them; the dotted form
/// for the rest.
fn long_name(oid: &str) -> String {
    let name = match oid {
        "2.5.4.3" => "commonName",
        "2.5.4.4" => "surname",
        "2.5.4.5" => "serialNumber",
        "2.5.4.6" => "countryName",
        "2.5.4.7" => "localityName",
        "2.5.4.8" => "stateOrProvinceName",
        "2.5.4.9" => "streetAddress",
        "2.5.4.10" => "organizationName",
        "2.5.4.11" => "organizationalUnitName",
        "2.5.4.12" => "title",
        "2.5.4.17" => "postalCode",
        "2.5.4.42" => "givenName",
        "1.2.840.113549.1.9.1" => "emailAddress",
        "0.9.2342.19200300.100.1.25" => "domainComponent",
        "0.9.2342.19200300.100.1.1" => "userId",
        _ => return oid.to_string(),
    };
    name.to_string()
}

/// A certificate and the ones that certify it, leaf first.
#[derive(Clone, Debug)]
pub struct CertificateChain {
    certs: Vec<Certificate>,
}

impl CertificateChain {
    /// Every certificate of PEM text (or one DER certificate); at least one.
    pub fn from_bytes(bytes: &[u8]) -> Result<CertificateChain, KeyError> {
        if looks_like_der(bytes) {
            return Ok(CertificateChain { certs: vec![Certificate::from_bytes(bytes)?] });
        }
        let mut certs = Vec::new();
        for der in CertificateDer::pem_slice_iter(bytes) {
            let der = der.map_err(|e| KeyError(format!("broken PEM certificate: {e}")))?;
            certs.push(Certificate::from_der(der)?);
        }
        if certs.is_empty() {
            return Err(KeyError("no certificate: expected PEM text with CERTIFICATE blocks".into()));
        }
        Ok(CertificateChain { certs })
    }

    /// A chain of one.
    pub fn of(cert: Certificate) -> CertificateChain {
        CertificateChain { certs: vec![cert] }
    }

    /// Its certificates, leaf first.
    pub fn certs(&self) -> &[Certificate] {
        &self.certs
    }

    /// Its DER certificates, as rustls takes them.
    pub fn ders(&self) -> Vec<CertificateDer<'static>> {
        self.certs.iter().map(|c| c.der.clone()).collect()
    }
}

/// A private key, ready to sign handshakes.
pub struct PrivateKey {
    der: PrivateKeyDer<'static>,
    signer: Arc<dyn SigningKey>,
}

impl std::fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "PrivateKey({:?})", self.signer.algorithm())
    }
}

impl PrivateKey {
    /// A key of PEM text (PKCS#8, SEC1 or PKCS#1) or DER.
    pub fn from_bytes(bytes: &[u8]) -> Result<PrivateKey, KeyError> {
        let der = if looks_like_der(bytes) {
            PrivateKeyDer::try_from(bytes.to_vec()).map_err(|e| KeyError(format!("not a DER private key: {e}")))?
        } else {
            PrivateKeyDer::from_pem_slice(bytes).map_err(|e| pem_error("private key", "PRIVATE KEY", e))?
        };
        let signer = provider()
            .key_provider
            .load_private_key(der.clone_key())
            .map_err(|e| KeyError(format!("unusable private key: {e}")))?;
        Ok(PrivateKey { der, signer })
    }

    /// What signs with it.
    pub fn signer(&self) -> Arc<dyn SigningKey> {
        self.signer.clone()
    }

    /// Its public half.
    pub fn public_key(&self) -> Option<PublicKey> {
        self.signer.public_key().map(|spki| PublicKey { spki: spki.into_owned() })
    }

    /// PEM text of it.
    pub fn to_pem(&self) -> String {
        let label = match &self.der {
            PrivateKeyDer::Pkcs1(_) => "RSA PRIVATE KEY",
            PrivateKeyDer::Sec1(_) => "EC PRIVATE KEY",
            _ => "PRIVATE KEY",
        };
        pem(label, self.der.secret_der())
    }
}

/// A public key (SubjectPublicKeyInfo).
#[derive(Clone, Debug)]
pub struct PublicKey {
    spki: SubjectPublicKeyInfoDer<'static>,
}

impl PublicKey {
    /// A key of PEM text (PUBLIC KEY) or DER.
    pub fn from_bytes(bytes: &[u8]) -> Result<PublicKey, KeyError> {
        let spki = if looks_like_der(bytes) {
            SubjectPublicKeyInfoDer::from(bytes.to_vec())
        } else {
            SubjectPublicKeyInfoDer::from_pem_slice(bytes).map_err(|e| pem_error("public key", "PUBLIC KEY", e))?
        };
        Ok(PublicKey { spki })
    }

    /// PEM text of it.
    pub fn to_pem(&self) -> String {
        pem("PUBLIC KEY", &self.spki)
    }

    /// The key a JSON Web Key (RFC 7517, 7518 §6) describes: `kty` `RSA` with
    /// `n` and `e`, or `EC` with `crv` (`P-256`, `P-384`, `P-521`), `x` and `y`,
    /// each base64url. `get` reads a member's text.
    pub fn from_jwk(get: &dyn Fn(&str) -> Option<String>) -> Result<PublicKey, KeyError> {
        use base64::Engine as _;
        let member = |name: &str| -> Result<Vec<u8>, KeyError> {
            let text = get(name).ok_or_else(|| KeyError(format!("missing \"{name}\"")))?;
            base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(text.trim_end_matches('='))
                .map_err(|_| KeyError(format!("invalid \"{name}\"")))
        };
        let spki = match get("kty").as_deref() {
            Some("RSA") => {
                let key = der::seq(&[der::uint(&member("n")?), der::uint(&member("e")?)]);
                der::seq(&[der::seq(&[der::oid(der::RSA), der::NULL.to_vec()]), der::bits(&key)])
            }
            Some("EC") => {
                let (curve, size) = match get("crv").as_deref() {
                    Some("P-256") => (der::P256, 32),
                    Some("P-384") => (der::P384, 48),
                    Some("P-521") => (der::P521, 66),
                    Some(_) => return Err(KeyError("unknown \"crv\"".into())),
                    None => return Err(KeyError("missing \"crv\"".into())),
                };
                let mut point = vec![4u8];
                for name in ["x", "y"] {
                    let c = member(name)?;
                    if c.len() > size {
                        return Err(KeyError(format!("invalid \"{name}\"")));
                    }
                    point.extend(std::iter::repeat_n(0, size - c.len()));
                    point.extend_from_slice(&c);
                }
                der::seq(&[der::seq(&[der::oid(der::EC), der::oid(curve)]), der::bits(&point)])
            }
            Some(_) => return Err(KeyError("unknown \"kty\"".into())),
            None => return Err(KeyError("missing \"kty\"".into())),
        };
        Ok(PublicKey { spki: SubjectPublicKeyInfoDer::from(spki) })
    }

    /// Whether it is an RSA key (else an elliptic-curve one), and the key's own
    /// bytes (the SubjectPublicKeyInfo's bit string); `None` for another kind,
    /// or bytes that are not a key.
    pub fn algorithm_and_key(&self) -> Option<(bool, &[u8])> {
        use x509_parser::prelude::FromDer as _;
        let (_, info) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&self.spki).ok()?;
        let oid = &info.algorithm.algorithm;
        let is_rsa = *oid == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
        if !is_rsa && *oid != x509_parser::oid_registry::OID_KEY_TYPE_EC_PUBLIC_KEY {
            return None;
        }
        let bits = info.subject_public_key.data;
        // The bit string borrows from the SPKI this key holds.
        let start = (bits.as_ptr() as usize).checked_sub(self.spki.as_ptr() as usize)?;
        Some((is_rsa, self.spki.get(start..start + bits.len())?))
    }
}

/// Why PEM text did not give a `what` (from a `label` block).
fn pem_error(what: &str, label: &str, e: rustls_pki_types::pem::Error) -> KeyError {
    match e {
        rustls_pki_types::pem::Error::NoItemsFound => {
            KeyError(format!("no {what}: expected PEM text with a {label} block, or DER"))
        }
        e => KeyError(format!("broken PEM {what}: {e}")),
    }
}

/// PEM text: `label` around base64 lines of 64 characters.
fn pem(label: &str, der: &[u8]) -> String {
    use base64::Engine as _;
    let text = base64::engine::general_purpose::STANDARD.encode(der);
    let mut out = format!("-----BEGIN {label}-----\n");
    for line in text.as_bytes().chunks(64) {
        out.push_str(std::str::from_utf8(line).expect("base64 is ASCII"));
        out.push('\n');
    }
    out.push_str(&format!("-----END {label}-----\n"));
    out
}

/// A certificate chain and the key of its leaf, checked to belong together.
pub fn certified_key(chain: &CertificateChain, key: &PrivateKey) -> Result<Arc<rustls::sign::CertifiedKey>, KeyError> {
    let ck = rustls::sign::CertifiedKey::new(chain.ders(), key.signer());
    match ck.keys_match() {
        Ok(()) => Ok(Arc::new(ck)),
        Err(rustls::Error::InconsistentKeys(_)) => {
            Err(KeyError("the private key does not match the certificate".into()))
        }
        // The key's public half is unknown (some key types): nothing to compare.
        Err(_) => Ok(Arc::new(ck)),
    }
}

/// Just enough DER to write a SubjectPublicKeyInfo.
mod der {
    /// rsaEncryption, id-ecPublicKey and the three NIST curves, as encoded OIDs.
    pub const RSA: &[u8] = &[0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x01];
    pub const EC: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x02, 0x01];
    pub const P256: &[u8] = &[0x2a, 0x86, 0x48, 0xce, 0x3d, 0x03, 0x01, 0x07];
    pub const P384: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x22];
    pub const P521: &[u8] = &[0x2b, 0x81, 0x04, 0x00, 0x23];
    pub const NULL: &[u8] = &[0x05, 0x00];

    fn tlv(tag: u8, body: &[u8]) -> Vec<u8> {
        let mut out = vec![tag];
        let n = body.len();
        if n < 0x80 {
            out.push(n as u8);
        } else {
            let bytes: Vec<u8> = n.to_be_bytes().into_iter().skip_while(|b| *b == 0).collect();
            out.push(0x80 | bytes.len() as u8);
            out.extend(bytes);
        }
        out.extend_from_slice(body);
        out
    }

    pub fn seq(items: &[Vec<u8>]) -> Vec<u8> {
        tlv(0x30, &items.concat())
    }

    pub fn oid(encoded: &[u8]) -> Vec<u8> {
        tlv(0x06, encoded)
    }

    /// A non-negative INTEGER of big-endian bytes.
    pub fn uint(bytes: &[u8]) -> Vec<u8> {
        let trimmed: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
        let mut body = if trimmed.first().is_some_and(|b| b & 0x80 != 0) { vec![0] } else { Vec::new() };
        body.extend(if trimmed.is_empty() { vec![0] } else { trimmed });
        tlv(0x02, &body)
    }

    /// A BIT STRING of whole bytes.
    pub fn bits(bytes: &[u8]) -> Vec<u8> {
        let mut body = vec![0];
        body.extend_from_slice(bytes);
        tlv(0x03, &body)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::self_signed;

    #[test]
    fn a_pem_certificate_gives_its_fields() {
        let (cert_pem, _) = self_signed("localhost");
        let cert = Certificate::from_bytes(cert_pem.as_bytes()).unwrap();
        let info = cert.info();
        assert_eq!(info.subject, vec![("commonName".to_string(), "localhost".to_string())]);
        assert_eq!(info.issuer, info.subject);
        assert_eq!(info.subject_alt_names, vec!["localhost".to_string()]);
        assert!(info.not_before < info.not_after);
        let again = Certificate::from_bytes(cert.to_pem().as_bytes()).unwrap();
        assert_eq!(again.der(), cert.der());
        let der = Certificate::from_bytes(cert.der()).unwrap();
        assert_eq!(der.der(), cert.der());
    }

    #[test]
    fn what_is_not_a_certificate_or_key_is_an_error_saying_so() {
        let (cert, key) = self_signed("localhost");
        for bad in ["", "hello", "-----BEGIN CERTIFICATE-----\nnot base64!\n-----END CERTIFICATE-----\n"] {
            let e = Certificate::from_bytes(bad.as_bytes()).unwrap_err();
            assert!(e.0.contains("certificate"), "{e}");
        }
        assert!(Certificate::from_bytes(&[0x30, 0x03, 0x01, 0x01, 0x00]).is_err());
        assert!(PrivateKey::from_bytes(cert.as_bytes()).unwrap_err().0.contains("no private key"));
        assert!(PrivateKey::from_bytes(b"\x30\x00").is_err());
        assert!(CertificateChain::from_bytes(key.as_bytes()).is_err());
    }

    #[test]
    fn a_key_matches_its_certificate_and_no_other() {
        let (cert, key) = self_signed("localhost");
        let (_, other) = self_signed("localhost");
        let chain = CertificateChain::from_bytes(cert.as_bytes()).unwrap();
        let key = PrivateKey::from_bytes(key.as_bytes()).unwrap();
        assert!(certified_key(&chain, &key).is_ok());
        let other = PrivateKey::from_bytes(other.as_bytes()).unwrap();
        assert_eq!(certified_key(&chain, &other).unwrap_err().0, "the private key does not match the certificate");
        let again = PrivateKey::from_bytes(key.to_pem().as_bytes()).unwrap();
        assert!(certified_key(&chain, &again).is_ok());
        let public = key.public_key().unwrap();
        assert!(PublicKey::from_bytes(public.to_pem().as_bytes()).is_ok());
    }

    #[test]
    fn a_jwk_is_the_same_key_as_its_pem() {
        use base64::Engine as _;
        let b64 = |b: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(b);
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 =
            ring::signature::EcdsaKeyPair::generate_pkcs8(&ring::signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap();
        let public = PrivateKey::from_bytes(pkcs8.as_ref()).unwrap().public_key().unwrap();
        let (is_rsa, point) = public.algorithm_and_key().unwrap();
        assert!(!is_rsa && point.len() == 65);
        let (x, y) = (b64(&point[1..33]), b64(&point[33..]));
        let jwk = |k: &str| match k {
            "kty" => Some("EC".to_string()),
            "crv" => Some("P-256".to_string()),
            "x" => Some(x.clone()),
            "y" => Some(y.clone()),
            _ => None,
        };
        assert_eq!(PublicKey::from_jwk(&jwk).unwrap().to_pem(), public.to_pem());
        let rsa = |k: &str| match k {
            "kty" => Some("RSA".to_string()),
            "n" => Some(b64(&[0xc0; 256])),
            "e" => Some("AQAB".to_string()),
            _ => None,
        };
        let (is_rsa, _) = PublicKey::from_jwk(&rsa).unwrap().algorithm_and_key().unwrap();
        assert!(is_rsa);
        assert!(PublicKey::from_jwk(&|k| (k == "kty").then(|| "oct".to_string())).is_err());
        assert!(PublicKey::from_jwk(&|k| (k == "kty").then(|| "RSA".to_string())).is_err(), "missing n");
    }
}
