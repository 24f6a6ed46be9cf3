//! Keys that check signatures, each prepared once, when the layer is built.

use std::fmt;
use std::sync::Arc;

use super::hmac_key::HmacKey;
use super::{Algorithm, PublicKey, Signature, Signatures, Verifier};

/// A key ready to check signatures: a pre-keyed HMAC, or a decoded public key.
///
/// Schemes make these from the configured secrets and public keys (see
/// [`Scheme::verifying_key`](crate::scheme::Scheme::verifying_key)). `Debug` shows the
/// algorithm only.
#[derive(Clone)]
pub struct VerifyingKey {
    pub(super) kind: KeyKind,
}

#[derive(Clone)]
pub(super) enum KeyKind {
    Hmac(HmacKey),
    Ed25519(ed25519_dalek::VerifyingKey),
    EcdsaP256(p256::ecdsa::VerifyingKey),
    /// The SHA-256 of a shared token: tokens are compared as digests, so that neither their
    /// bytes nor their lengths are compared directly.
    Token(Box<[u8; 32]>),
}

impl VerifyingKey {
    /// An HMAC key for `algorithm`, keyed once here; each request clones the keyed state.
    ///
    /// # Panics
    ///
    /// When `algorithm` is not an HMAC.
    pub fn hmac(algorithm: Algorithm, key: &[u8]) -> Self {
        match HmacKey::new(algorithm, key) {
            Some(mac) => Self {
                kind: KeyKind::Hmac(mac),
            },
            None => panic!("{algorithm} is not an HMAC"),
        }
    }

    /// A shared token, for [`Algorithm::Token`].
    pub fn token(token: &[u8]) -> Self {
        use sha2::Digest as _;
        Self {
            kind: KeyKind::Token(Box::new(sha2::Sha256::digest(token).into())),
        }
    }

    /// The HMAC of `bytes` under this key, for a provider's handshake (Zoom signs a token it
    /// sends with the endpoint's secret); `None` when the key is not an HMAC key.
    pub fn mac(&self, bytes: &[u8]) -> Option<Signature> {
        match &self.kind {
            KeyKind::Hmac(mac) => {
                let mut mac = mac.clone();
                mac.update(bytes);
                Some(mac.finish())
            }
            _ => None,
        }
    }

    /// `key` decoded as a public key for `algorithm`.
    ///
    /// # Errors
    ///
    /// A reason, phrased to follow "public key #1 ", when the key is not in a format
    /// for `algorithm`, or `algorithm` takes a shared secret.
    pub fn public(algorithm: Algorithm, key: &PublicKey) -> Result<Self, &'static str> {
        let kind = match algorithm {
            Algorithm::Ed25519 => KeyKind::Ed25519(key.ed25519()?),
            Algorithm::EcdsaP256Sha256 => KeyKind::EcdsaP256(key.p256()?),
            _ => return Err("cannot be used: this algorithm takes a shared secret"),
        };
        Ok(Self { kind })
    }

    pub(super) fn from_ed25519(key: ed25519_dalek::VerifyingKey) -> Self {
        Self {
            kind: KeyKind::Ed25519(key),
        }
    }

    pub(super) fn from_p256(key: p256::ecdsa::VerifyingKey) -> Self {
        Self {
            kind: KeyKind::EcdsaP256(key),
        }
    }

    /// The algorithm the key checks.
    pub fn algorithm(&self) -> Algorithm {
        match &self.kind {
            KeyKind::Hmac(mac) => mac.algorithm(),
            KeyKind::Ed25519(_) => Algorithm::Ed25519,
            KeyKind::EcdsaP256(_) => Algorithm::EcdsaP256Sha256,
            KeyKind::Token(_) => Algorithm::Token,
        }
    }
}

impl fmt::Debug for VerifyingKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "VerifyingKey({}, ***)", self.algorithm())
    }
}

/// A configured key and the name it was given, if any.
pub(crate) type NamedKey = (VerifyingKey, Option<Arc<str>>);

/// The layer's keys, in the order they were configured, each with its name.
#[derive(Clone)]
pub(crate) struct Keyring {
    keys: Box<[NamedKey]>,
}

impl Keyring {
    pub(crate) fn new(keys: Vec<NamedKey>) -> Self {
        Self { keys: keys.into() }
    }

    pub(crate) fn keys(&self) -> impl Iterator<Item = &VerifyingKey> {
        self.keys.iter().map(|(key, _)| key)
    }

    pub(crate) fn get(&self, index: usize) -> Option<&VerifyingKey> {
        self.keys.get(index).map(|(key, _)| key)
    }

    pub(crate) fn name(&self, index: usize) -> Option<&Arc<str>> {
        self.keys.get(index).and_then(|(_, name)| name.as_ref())
    }

    /// A verifier for one request's `signatures`, or `None` when no key checks any of them.
    pub(crate) fn verifier(&self, signatures: Signatures) -> Option<Verifier> {
        Verifier::new(self, signatures)
    }
}

impl fmt::Debug for Keyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.keys.iter().map(|(key, name)| match name {
                Some(name) => format!("{name}: {} ***", key.algorithm()),
                None => format!("{} ***", key.algorithm()),
            }))
            .finish()
    }
}
