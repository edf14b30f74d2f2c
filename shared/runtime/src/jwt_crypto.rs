//! The cryptography under `jsonwebtoken`: ring, for exactly the two algorithms
//! Switchboard accepts (RS256 and ES256).
//!
//! jsonwebtoken's built-in `rust_crypto` provider links a second crypto library beside
//! ring (which the webhooks, the envelope cipher and TLS already use) with every JOSE
//! algorithm: RSA and PSS, P-256 and P-384, Ed25519, HMAC. That was about a tenth of an
//! API function's package for algorithms [`crate::auth`] refuses before verifying anyway.
//! This provider verifies RS256 (PKCS#1 v1.5, SHA-256, 2048–8192-bit keys: ring refuses
//! shorter ones) and ES256 (P-256, fixed-length signatures), signs ES256 (the dev key)
//! and RS256 (the tests' identity provider), and answers every other algorithm with
//! `InvalidAlgorithm`.
//!
//! [`install`] must run before any token is signed or verified; the authenticator and
//! the dev key call it, and it is idempotent.

use jsonwebtoken::crypto::{CryptoProvider, JwkUtils, JwtSigner, JwtVerifier};
use jsonwebtoken::errors::{Error, ErrorKind};
use jsonwebtoken::signature::{self, Signer, Verifier};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, DecodingKeyKind, EncodingKey};
use ring::rand::SystemRandom;
use ring::signature::{
    ECDSA_P256_SHA256_FIXED, ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair,
    RSA_PKCS1_2048_8192_SHA256, RSA_PKCS1_SHA256, RsaKeyPair, RsaPublicKeyComponents,
    UnparsedPublicKey,
};

/// The provider: ring for RS256 and ES256, nothing else.
static RING: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    // JWK thumbprints and key extraction are not used: keys come from JWKS components.
    jwk_utils: JwkUtils::new_unimplemented(),
};

/// Makes ring jsonwebtoken's provider for this process. Idempotent; call it before the
/// first token is signed or verified (jsonwebtoken would otherwise fix a provider that
/// panics, since no built-in one is compiled in).
pub fn install() {
    // `Err` means a provider is already installed: this one, by an earlier call.
    let _ = RING.install_default();
}

fn new_signer(algorithm: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>, Error> {
    match algorithm {
        Algorithm::ES256 => {
            if key.family() != AlgorithmFamily::Ec {
                return Err(ErrorKind::InvalidKeyFormat.into());
            }
            let pair = EcdsaKeyPair::from_pkcs8(
                &ECDSA_P256_SHA256_FIXED_SIGNING,
                key.inner(),
                &SystemRandom::new(),
            )
            .map_err(|_| ErrorKind::InvalidEcdsaKey)?;
            Ok(Box::new(Es256Signer(pair)))
        }
        Algorithm::RS256 => {
            if key.family() != AlgorithmFamily::Rsa {
                return Err(ErrorKind::InvalidKeyFormat.into());
            }
            let pair = RsaKeyPair::from_der(key.inner())
                .map_err(|e| ErrorKind::InvalidRsaKey(e.to_string()))?;
            Ok(Box::new(Rs256Signer(pair)))
        }
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

fn new_verifier(algorithm: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>, Error> {
    match algorithm {
        Algorithm::ES256 if key.family() == AlgorithmFamily::Ec => match key.kind() {
            // An uncompressed SEC1 point (0x04 || x || y), as `from_ec_components` builds it.
            DecodingKeyKind::SecretOrDer(point) => Ok(Box::new(Es256Verifier(point.clone()))),
            DecodingKeyKind::RsaModulusExponent { .. } => Err(ErrorKind::InvalidKeyFormat.into()),
        },
        Algorithm::RS256 if key.family() == AlgorithmFamily::Rsa => {
            Ok(Box::new(Rs256Verifier(key.kind().clone())))
        }
        Algorithm::ES256 | Algorithm::RS256 => Err(ErrorKind::InvalidKeyFormat.into()),
        _ => Err(ErrorKind::InvalidAlgorithm.into()),
    }
}

struct Es256Signer(EcdsaKeyPair);

impl Signer<Vec<u8>> for Es256Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        self.0
            .sign(&SystemRandom::new(), msg)
            .map(|s| s.as_ref().to_vec())
            .map_err(|_| signature::Error::new())
    }
}

impl JwtSigner for Es256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

struct Rs256Signer(RsaKeyPair);

impl Signer<Vec<u8>> for Rs256Signer {
    fn try_sign(&self, msg: &[u8]) -> Result<Vec<u8>, signature::Error> {
        let mut sig = vec![0; self.0.public().modulus_len()];
        self.0
            .sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig)
            .map_err(|_| signature::Error::new())?;
        Ok(sig)
    }
}

impl JwtSigner for Rs256Signer {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

struct Es256Verifier(Vec<u8>);

impl Verifier<Vec<u8>> for Es256Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        UnparsedPublicKey::new(&ECDSA_P256_SHA256_FIXED, &self.0)
            .verify(msg, sig)
            .map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Es256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::ES256
    }
}

struct Rs256Verifier(DecodingKeyKind);

impl Verifier<Vec<u8>> for Rs256Verifier {
    fn verify(&self, msg: &[u8], sig: &Vec<u8>) -> Result<(), signature::Error> {
        let result = match &self.0 {
            // From a JWKS: big-endian modulus and exponent.
            DecodingKeyKind::RsaModulusExponent { n, e } => {
                RsaPublicKeyComponents { n, e }.verify(&RSA_PKCS1_2048_8192_SHA256, msg, sig)
            }
            // A PKCS#1 RSAPublicKey DER (`from_rsa_der`, `from_rsa_pem`).
            DecodingKeyKind::SecretOrDer(der) => {
                UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, der).verify(msg, sig)
            }
        };
        result.map_err(|_| signature::Error::new())
    }
}

impl JwtVerifier for Rs256Verifier {
    fn algorithm(&self) -> Algorithm {
        Algorithm::RS256
    }
}

#[cfg(test)]
mod tests {
    use jsonwebtoken::{Header, Validation, decode, encode};
    use serde_json::{Value, json};

    use super::*;

    const RSA_KEY: &str = include_str!("../testdata/test-rsa-key.pem");

    fn validation(alg: Algorithm) -> Validation {
        let mut v = Validation::new(alg);
        v.required_spec_claims.clear();
        v.validate_exp = false;
        v
    }

    #[test]
    fn es256_and_rs256_round_trip_and_reject_tampering() {
        install();
        let pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, &SystemRandom::new())
                .unwrap();
        let pair = EcdsaKeyPair::from_pkcs8(
            &ECDSA_P256_SHA256_FIXED_SIGNING,
            pkcs8.as_ref(),
            &SystemRandom::new(),
        )
        .unwrap();
        use base64::Engine;
        use ring::signature::KeyPair;
        let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let point = pair.public_key().as_ref();
        let ec = DecodingKey::from_ec_components(
            &b64.encode(&point[1..33]),
            &b64.encode(&point[33..65]),
        )
        .unwrap();
        let claims = json!({"org_id": "acme"});
        let token = encode(
            &Header::new(Algorithm::ES256),
            &claims,
            &EncodingKey::from_ec_der(pkcs8.as_ref()),
        )
        .unwrap();
        let data = decode::<Value>(&token, &ec, &validation(Algorithm::ES256)).unwrap();
        assert_eq!(data.claims, claims);
        // Another payload under the same signature does not verify.
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            b64.encode(r#"{"org_id":"evil"}"#),
            parts[2]
        );
        assert!(decode::<Value>(&forged, &ec, &validation(Algorithm::ES256)).is_err());

        let rsa = EncodingKey::from_rsa_pem(RSA_KEY.as_bytes()).unwrap();
        let token = encode(&Header::new(Algorithm::RS256), &claims, &rsa).unwrap();
        let jwks: jsonwebtoken::jwk::JwkSet =
            serde_json::from_str(include_str!("../testdata/test-jwks.json")).unwrap();
        let public = DecodingKey::from_jwk(&jwks.keys[0]).unwrap();
        let data = decode::<Value>(&token, &public, &validation(Algorithm::RS256)).unwrap();
        assert_eq!(data.claims, claims);
        // The RSA key cannot verify an ES256 token, nor the EC key an RS256 one.
        assert!(decode::<Value>(&token, &ec, &validation(Algorithm::RS256)).is_err());
    }

    #[test]
    fn every_other_algorithm_is_refused() {
        install();
        for alg in [
            Algorithm::HS256,
            Algorithm::RS512,
            Algorithm::PS256,
            Algorithm::EdDSA,
        ] {
            assert!(
                encode(
                    &Header::new(alg),
                    &json!({}),
                    &EncodingKey::from_secret(b"k")
                )
                .is_err(),
                "{alg:?}"
            );
        }
    }
}
