//! Signatures over whole messages with a private key, and checking them with
//! a public key, as `crypto.Sign` and `crypto.Verify` make them: RSA
//! (PKCS #1 v1.5) and ECDSA (DER-encoded, as OpenSSL writes it) with SHA-1,
//! SHA-256, SHA-384 or SHA-512. Signing goes through the key's rustls signer
//! (so PKCS #8, SEC1 and PKCS #1 keys all work), checking through `ring`.

use crate::keys::{KeyError, PrivateKey, PublicKey};
use ring::signature;
use rustls::SignatureScheme;

/// A digest a signature is made over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Digest {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
}

impl Digest {
    /// The digest named `name` (`sha256`, `SHA-256`, `RSA-SHA256` as OpenSSL spells them).
    pub fn from_name(name: &str) -> Option<Digest> {
        let n = name.to_ascii_lowercase().replace(['-', '_'], "");
        Some(match n.strip_prefix("rsa").unwrap_or(&n) {
            "sha1" => Digest::Sha1,
            "sha256" => Digest::Sha256,
            "sha384" => Digest::Sha384,
            "sha512" => Digest::Sha512,
            _ => return None,
        })
    }
}

/// `key`'s signature of `message` with `digest`.
pub fn sign(key: &PrivateKey, digest: Digest, message: &[u8]) -> Result<Vec<u8>, KeyError> {
    let schemes: &[SignatureScheme] = match digest {
        Digest::Sha1 => &[SignatureScheme::RSA_PKCS1_SHA1, SignatureScheme::ECDSA_SHA1_Legacy],
        Digest::Sha256 => &[SignatureScheme::RSA_PKCS1_SHA256, SignatureScheme::ECDSA_NISTP256_SHA256],
        Digest::Sha384 => &[SignatureScheme::RSA_PKCS1_SHA384, SignatureScheme::ECDSA_NISTP384_SHA384],
        Digest::Sha512 => &[SignatureScheme::RSA_PKCS1_SHA512, SignatureScheme::ECDSA_NISTP521_SHA512],
    };
    let signer = key
        .signer()
        .choose_scheme(schemes)
        .ok_or_else(|| KeyError(format!("a {:?} key does not sign with {digest:?} here", key.signer().algorithm())))?;
    signer.sign(message).map_err(|e| KeyError(format!("signing failed: {e}")))
}

/// Whether `sig` is `key`'s signature of `message` with `digest`.
pub fn verify(key: &PublicKey, digest: Digest, message: &[u8], sig: &[u8]) -> bool {
    let Some((is_rsa, bits)) = key.algorithm_and_key() else { return false };
    let candidates: &[&dyn signature::VerificationAlgorithm] = match (is_rsa, digest) {
        (true, Digest::Sha1) => &[&signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY],
        (true, Digest::Sha256) => &[&signature::RSA_PKCS1_2048_8192_SHA256],
        (true, Digest::Sha384) => &[&signature::RSA_PKCS1_2048_8192_SHA384],
        (true, Digest::Sha512) => &[&signature::RSA_PKCS1_2048_8192_SHA512],
        // The key's curve is whichever of these accepts it.
        (false, Digest::Sha256) => &[&signature::ECDSA_P256_SHA256_ASN1, &signature::ECDSA_P384_SHA256_ASN1],
        (false, Digest::Sha384) => &[&signature::ECDSA_P384_SHA384_ASN1, &signature::ECDSA_P256_SHA384_ASN1],
        (false, _) => &[],
    };
    candidates.iter().any(|alg| signature::UnparsedPublicKey::new(*alg, bits).verify(message, sig).is_ok())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(alg: &'static ring::signature::EcdsaSigningAlgorithm) -> (PrivateKey, PublicKey) {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(alg, &rng).unwrap();
        let key = PrivateKey::from_bytes(pkcs8.as_ref()).unwrap();
        let public = key.public_key().unwrap();
        (key, public)
    }

    #[test]
    fn an_ecdsa_signature_checks_with_its_key_and_message_only() {
        let (key, public) = keys(&signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        let sig = sign(&key, Digest::Sha256, b"hello").unwrap();
        assert_eq!(sig[0], 0x30, "DER, as OpenSSL writes it");
        assert!(verify(&public, Digest::Sha256, b"hello", &sig));
        assert!(!verify(&public, Digest::Sha256, b"hellO", &sig));
        assert!(!verify(&public, Digest::Sha384, b"hello", &sig));
        let (_, other) = keys(&signature::ECDSA_P256_SHA256_ASN1_SIGNING);
        assert!(!verify(&other, Digest::Sha256, b"hello", &sig));
        assert!(sign(&key, Digest::Sha512, b"hello").is_err(), "a P-256 key signs with SHA-256 only");
        let (key, public) = keys(&signature::ECDSA_P384_SHA384_ASN1_SIGNING);
        assert!(verify(&public, Digest::Sha384, b"x", &sign(&key, Digest::Sha384, b"x").unwrap()));
    }

    #[test]
    fn digests_are_named_as_openssl_names_them() {
        assert_eq!(Digest::from_name("sha256"), Some(Digest::Sha256));
        assert_eq!(Digest::from_name("SHA-512"), Some(Digest::Sha512));
        assert_eq!(Digest::from_name("RSA-SHA1"), Some(Digest::Sha1));
        assert_eq!(Digest::from_name("md5"), None);
    }
}
