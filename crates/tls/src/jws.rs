//! JWS signatures as JWTs carry them (RFC 7515, algorithms of RFC 7518):
//! checking one over its signing input with a public key or a shared secret,
//! on `ring` (and RustCrypto's `p521` for ES512). `none` is not an algorithm here, and a key of one kind never
//! checks a signature of another (an HMAC token given a public key is false).

use crate::keys::PublicKey;
use ring::{hmac, signature};

/// A JWS algorithm (`alg`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Alg {
    /// HMAC with SHA-256, -384, -512.
    Hs256,
    Hs384,
    Hs512,
    /// RSASSA-PKCS1-v1_5 with SHA-256, -384, -512.
    Rs256,
    Rs384,
    Rs512,
    /// RSASSA-PSS with SHA-256, -384, -512.
    Ps256,
    Ps384,
    Ps512,
    /// ECDSA on P-256, P-384 and P-521.
    Es256,
    Es384,
    Es512,
}

impl Alg {
    /// The algorithm named `name` (`"RS256"`), if this proxy checks it.
    pub fn from_name(name: &str) -> Option<Alg> {
        Some(match name {
            "HS256" => Alg::Hs256,
            "HS384" => Alg::Hs384,
            "HS512" => Alg::Hs512,
            "RS256" => Alg::Rs256,
            "RS384" => Alg::Rs384,
            "RS512" => Alg::Rs512,
            "PS256" => Alg::Ps256,
            "PS384" => Alg::Ps384,
            "PS512" => Alg::Ps512,
            "ES256" => Alg::Es256,
            "ES384" => Alg::Es384,
            "ES512" => Alg::Es512,
            _ => return None,
        })
    }

    /// True for the HMAC algorithms, which take a shared secret.
    pub fn is_hmac(self) -> bool {
        matches!(self, Alg::Hs256 | Alg::Hs384 | Alg::Hs512)
    }
}

/// Whether `sig` is `alg`'s HMAC of `input` under `secret` (compared in constant time).
pub fn verify_secret(alg: Alg, secret: &[u8], input: &[u8], sig: &[u8]) -> bool {
    let algorithm = match alg {
        Alg::Hs256 => hmac::HMAC_SHA256,
        Alg::Hs384 => hmac::HMAC_SHA384,
        Alg::Hs512 => hmac::HMAC_SHA512,
        _ => return false,
    };
    hmac::verify(&hmac::Key::new(algorithm, secret), input, sig).is_ok()
}

/// Whether `sig` is `alg`'s signature of `input` by the private half of `key`.
pub fn verify_key(alg: Alg, key: &PublicKey, input: &[u8], sig: &[u8]) -> bool {
    let Some((is_rsa, bits)) = key.algorithm_and_key() else { return false };
    let algorithm: &dyn signature::VerificationAlgorithm = match (alg, is_rsa) {
        (Alg::Rs256, true) => &signature::RSA_PKCS1_2048_8192_SHA256,
        (Alg::Rs384, true) => &signature::RSA_PKCS1_2048_8192_SHA384,
        (Alg::Rs512, true) => &signature::RSA_PKCS1_2048_8192_SHA512,
        (Alg::Ps256, true) => &signature::RSA_PSS_2048_8192_SHA256,
        (Alg::Ps384, true) => &signature::RSA_PSS_2048_8192_SHA384,
        (Alg::Ps512, true) => &signature::RSA_PSS_2048_8192_SHA512,
        // JWS carries ECDSA signatures as r || s, what ring calls FIXED.
        (Alg::Es256, false) => &signature::ECDSA_P256_SHA256_FIXED,
        (Alg::Es384, false) => &signature::ECDSA_P384_SHA384_FIXED,
        (Alg::Es512, false) => return verify_p521(bits, input, sig),
        _ => return false,
    };
    signature::UnparsedPublicKey::new(algorithm, bits).verify(input, sig).is_ok()
}

/// ES512, which `ring` has not: ECDSA on P-521 with SHA-512 (RustCrypto's `p521`).
fn verify_p521(point: &[u8], input: &[u8], sig: &[u8]) -> bool {
    use p521::ecdsa::signature::Verifier as _;
    let (Ok(key), Ok(sig)) =
        (p521::ecdsa::VerifyingKey::from_sec1_bytes(point), p521::ecdsa::Signature::from_slice(sig))
    else {
        return false;
    };
    key.verify(input, &sig).is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_hmac_is_checked_and_a_key_of_another_kind_checks_nothing() {
        let key = hmac::Key::new(hmac::HMAC_SHA256, b"secret");
        let tag = hmac::sign(&key, b"a.b");
        assert!(verify_secret(Alg::Hs256, b"secret", b"a.b", tag.as_ref()));
        assert!(!verify_secret(Alg::Hs256, b"other", b"a.b", tag.as_ref()));
        assert!(!verify_secret(Alg::Hs256, b"secret", b"a.c", tag.as_ref()));
        assert!(!verify_secret(Alg::Rs256, b"secret", b"a.b", tag.as_ref()));
        assert_eq!(Alg::from_name("none"), None);
        assert_eq!(Alg::from_name("ES512"), Some(Alg::Es512));
    }

    #[test]
    fn an_ecdsa_signature_is_checked_with_its_public_key() {
        let rng = ring::rand::SystemRandom::new();
        let pkcs8 = signature::EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng).unwrap();
        let pair =
            signature::EcdsaKeyPair::from_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, pkcs8.as_ref(), &rng)
                .unwrap();
        let sig = pair.sign(&rng, b"head.body").unwrap();
        let private = crate::keys::PrivateKey::from_bytes(pkcs8.as_ref()).unwrap();
        let public = private.public_key().unwrap();
        assert!(verify_key(Alg::Es256, &public, b"head.body", sig.as_ref()));
        assert!(!verify_key(Alg::Es256, &public, b"head.bodx", sig.as_ref()));
        assert!(!verify_key(Alg::Rs256, &public, b"head.body", sig.as_ref()));
        assert!(!verify_key(Alg::Hs256, &public, b"head.body", sig.as_ref()));
    }
}
