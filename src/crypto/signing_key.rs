//! Keys that make signatures, for the sending side and for tests of receiving endpoints.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::Signer as _;
use p256::ecdsa::signature::hazmat::PrehashSigner as _;
use p256::pkcs8::DecodePrivateKey as _;
use sha2::{Digest as _, Sha256};
use zeroize::Zeroizing;

use super::hmac_key::HmacKey;
use super::verifying_key::KeyKind;
use super::{Algorithm, Signature, VerifyingKey};

/// A key that signs: a shared HMAC secret, or an Ed25519 or ECDSA P-256 private key.
///
/// Private keys are wiped from memory when dropped, and `Debug` shows the algorithm only.
///
/// # Example
///
/// ```
/// use tower_webhook::crypto::{Algorithm, SigningKey};
///
/// let key = SigningKey::hmac(Algorithm::HmacSha256, b"secret");
/// let signature = key.sign(b"hello");
/// assert_eq!(signature.algorithm(), Algorithm::HmacSha256);
/// assert_eq!(format!("{key:?}"), "SigningKey(HMAC-SHA256, ***)");
/// ```
#[derive(Clone)]
pub struct SigningKey {
    kind: Kind,
}

#[derive(Clone)]
enum Kind {
    /// Keyed once, here: each signature starts from a clone.
    Hmac(HmacKey),
    Ed25519(ed25519_dalek::SigningKey),
    EcdsaP256(p256::ecdsa::SigningKey),
    /// A shared token, sent as it is (at most 8 KiB, checked when made).
    Token(Zeroizing<Vec<u8>>),
}

impl SigningKey {
    /// An HMAC key for `algorithm`.
    ///
    /// # Panics
    ///
    /// When `algorithm` is not an HMAC.
    pub fn hmac(algorithm: Algorithm, key: &[u8]) -> Self {
        match HmacKey::new(algorithm, key) {
            Some(mac) => Self {
                kind: Kind::Hmac(mac),
            },
            None => panic!("{algorithm} is not an HMAC"),
        }
    }

    /// A shared token for [`Algorithm::Token`], which is sent as it is.
    ///
    /// # Errors
    ///
    /// A reason, phrased to follow "secret #1 ", when the token is empty or longer than 8 KiB.
    pub fn token(token: &[u8]) -> Result<Self, &'static str> {
        if token.is_empty() || Signature::new(Algorithm::Token, token).is_none() {
            return Err("is empty or longer than 8 KiB, which a token may not be");
        }
        Ok(Self {
            kind: Kind::Token(Zeroizing::new(token.to_vec())),
        })
    }

    /// An Ed25519 private key from its 32-byte seed, written as 64 hex digits, as base64, or
    /// as `whsk_` followed by base64 (Standard Webhooks), or as a PKCS#8 PEM. Base64 may also
    /// hold the 64-byte seed-and-public-key pair that libsodium writes.
    ///
    /// # Errors
    ///
    /// A reason, phrased to follow "secret #1 ", when the text is none of these.
    pub fn ed25519(text: &[u8]) -> Result<Self, &'static str> {
        const EXPECTED: &str = "is not an Ed25519 private key (64 hex digits, `whsk_` and \
                                base64, or PKCS#8 PEM)";
        let text = std::str::from_utf8(text).map_err(|_| EXPECTED)?.trim();
        let key = if text.starts_with("-----BEGIN") {
            ed25519_dalek::SigningKey::from_pkcs8_pem(text).map_err(|_| EXPECTED)?
        } else {
            let seed = Zeroizing::new(
                match text.strip_prefix("whsk_") {
                    Some(base64) => STANDARD.decode(base64).ok(),
                    None if text.len() == 64 => hex::decode(text).ok(),
                    None => STANDARD.decode(text).ok(),
                }
                .ok_or(EXPECTED)?,
            );
            let (seed, public) = match seed.len() {
                32 => (&seed[..], None),
                64 => (&seed[..32], Some(&seed[32..])),
                _ => return Err(EXPECTED),
            };
            let seed: &[u8; 32] = seed.try_into().map_err(|_| EXPECTED)?;
            let key = ed25519_dalek::SigningKey::from_bytes(seed);
            if public.is_some_and(|public| public != key.verifying_key().as_bytes()) {
                return Err("holds a public key that does not belong to its private key");
            }
            key
        };
        Ok(Self {
            kind: Kind::Ed25519(key),
        })
    }

    /// An ECDSA P-256 private key, as PKCS#8 PEM or base64 PKCS#8 DER.
    ///
    /// # Errors
    ///
    /// A reason, phrased to follow "secret #1 ", when the text is neither.
    pub fn p256(text: &[u8]) -> Result<Self, &'static str> {
        const EXPECTED: &str = "is not a P-256 private key (PKCS#8 as PEM or base64 DER)";
        let text = std::str::from_utf8(text).map_err(|_| EXPECTED)?.trim();
        let key = if text.starts_with("-----BEGIN") {
            p256::ecdsa::SigningKey::from_pkcs8_pem(text).map_err(|_| EXPECTED)?
        } else {
            let der = Zeroizing::new(STANDARD.decode(text).map_err(|_| EXPECTED)?);
            p256::ecdsa::SigningKey::from_pkcs8_der(&der).map_err(|_| EXPECTED)?
        };
        Ok(Self {
            kind: Kind::EcdsaP256(key),
        })
    }

    /// A private key for `algorithm` (Ed25519 or ECDSA P-256), in the formats
    /// [`ed25519`](Self::ed25519) and [`p256`](Self::p256) take.
    ///
    /// # Errors
    ///
    /// A reason, phrased to follow "secret #1 ", when the text is not such a key or
    /// `algorithm` is an HMAC.
    pub fn private(algorithm: Algorithm, text: &[u8]) -> Result<Self, &'static str> {
        match algorithm {
            Algorithm::Ed25519 => Self::ed25519(text),
            Algorithm::EcdsaP256Sha256 => Self::p256(text),
            _ => Err("cannot be a private key: this algorithm takes a shared secret"),
        }
    }

    /// The algorithm the key signs with.
    pub fn algorithm(&self) -> Algorithm {
        match &self.kind {
            Kind::Hmac(mac) => mac.algorithm(),
            Kind::Ed25519(_) => Algorithm::Ed25519,
            Kind::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
            Kind::Token(_) => Algorithm::Token,
        }
    }

    /// The key that checks this key's signatures.
    pub fn verifying_key(&self) -> VerifyingKey {
        match &self.kind {
            Kind::Hmac(mac) => VerifyingKey {
                kind: KeyKind::Hmac(mac.clone()),
            },
            Kind::Ed25519(key) => VerifyingKey::from_ed25519(key.verifying_key()),
            Kind::EcdsaP256(key) => VerifyingKey::from_p256(*key.verifying_key()),
            Kind::Token(token) => VerifyingKey::token(token),
        }
    }

    /// Signs `message`.
    pub fn sign(&self, message: &[u8]) -> Signature {
        let bytes = match &self.kind {
            Kind::Hmac(keyed) => {
                let mut mac = keyed.clone();
                mac.update(message);
                return mac.finish();
            }
            Kind::Ed25519(key) => key.sign(message).to_bytes().to_vec(),
            Kind::EcdsaP256(key) => {
                let signature: p256::ecdsa::Signature = key
                    .sign_prehash(&Sha256::digest(message))
                    .expect("a SHA-256 digest is a valid prehash");
                signature.to_der().as_bytes().to_vec()
            }
            // The token is the "signature", whatever the message; checked to fit when made.
            Kind::Token(token) => {
                return Signature::new(Algorithm::Token, token).expect("a token that fits");
            }
        };
        Signature::new(self.algorithm(), &bytes).expect("every algorithm's signature fits")
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SigningKey({}, ***)", self.algorithm())
    }
}
