//! Public keys in the formats providers publish them.

use std::fmt;
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ed25519_dalek::pkcs8::DecodePublicKey as _;

/// A public key for an asymmetric scheme, as the provider publishes it: 64 hex digits
/// (Discord), `whpk_` followed by base64 (Standard Webhooks), or an SPKI key as base64 DER or
/// PEM (SendGrid).
///
/// The text is kept as given and decoded when the layer is built; a key in the wrong format is
/// refused there, with a message that names it by position and says what was expected.
///
/// # Example
///
/// ```
/// use tower_webhook::{crypto::PublicKey, scheme::Discord, VerifySignatureLayer};
///
/// let key = PublicKey::new("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
/// let layer = VerifySignatureLayer::new(Discord, key)?;
///
/// let error = VerifySignatureLayer::new(Discord, PublicKey::new("not a key")).unwrap_err();
/// assert!(error.to_string().starts_with("public key #1 is not an Ed25519 public key"));
/// # Ok::<(), tower_webhook::ConfigError>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct PublicKey {
    text: String,
    name: Option<Arc<str>>,
}

impl PublicKey {
    /// A public key, in any of the formats above.
    pub fn new(text: impl Into<String>) -> Self {
        Self {
            text: text.into(),
            name: None,
        }
    }

    /// Gives the key a name, reported by [`Verified::key_name`](crate::Verified::key_name).
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The key's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    pub(crate) fn name_arc(&self) -> Option<Arc<str>> {
        self.name.clone()
    }

    /// The key as given.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The key as an Ed25519 verifying key.
    pub(crate) fn ed25519(&self) -> Result<ed25519_dalek::VerifyingKey, &'static str> {
        const EXPECTED: &str = "is not an Ed25519 public key (64 hex digits, `whpk_` and base64, \
                                or SPKI as base64 DER or PEM)";
        let text = self.text.trim();
        let key = if text.starts_with("-----BEGIN") {
            ed25519_dalek::VerifyingKey::from_public_key_pem(text).map_err(|_| EXPECTED)?
        } else {
            let raw = match text.strip_prefix("whpk_") {
                Some(base64) => STANDARD.decode(base64).ok(),
                None if text.len() == 64 => hex::decode(text).ok(),
                None => STANDARD.decode(text).ok(),
            }
            .ok_or(EXPECTED)?;
            match <[u8; 32]>::try_from(raw.as_slice()) {
                Ok(bytes) => ed25519_dalek::VerifyingKey::from_bytes(&bytes).ok(),
                Err(_) => ed25519_dalek::VerifyingKey::from_public_key_der(&raw).ok(),
            }
            .ok_or(EXPECTED)?
        };
        // A small-order key would verify forged signatures for any message.
        if key.is_weak() {
            return Err("is a weak Ed25519 key (of small order)");
        }
        Ok(key)
    }

    /// The key as an ECDSA P-256 verifying key.
    pub(crate) fn p256(&self) -> Result<p256::ecdsa::VerifyingKey, &'static str> {
        const EXPECTED: &str = "is not a P-256 public key (SPKI as base64 DER or PEM)";
        let text = self.text.trim();
        if text.starts_with("-----BEGIN") {
            return p256::ecdsa::VerifyingKey::from_public_key_pem(text).map_err(|_| EXPECTED);
        }
        let der = STANDARD.decode(text).map_err(|_| EXPECTED)?;
        p256::ecdsa::VerifyingKey::from_public_key_der(&der).map_err(|_| EXPECTED)
    }
}

impl fmt::Debug for PublicKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PublicKey")
            .field("name", &self.name)
            .field("key", &self.text)
            .finish()
    }
}

impl From<&str> for PublicKey {
    fn from(text: &str) -> Self {
        Self::new(text)
    }
}
