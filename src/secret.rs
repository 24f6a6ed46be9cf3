//! Webhook secrets: one or several (for rotation), optionally named, zeroized on drop.

use std::fmt;
use std::sync::Arc;

use zeroize::Zeroizing;

use crate::crypto::{Algorithm, PublicKey, VerifyingKey};
use crate::error::InvalidSecret;

mod generate;

#[cfg(feature = "sign")]
pub use generate::RandomnessUnavailable;
pub use generate::SecretFormat;

/// One webhook secret, exactly as the provider shows it (e.g. `whsec_…` or GitHub's secret).
///
/// How it becomes an HMAC key is the scheme's business: Standard Webhooks base64-decodes what
/// follows `whsec_`, Stripe uses the whole string. The value is wiped from memory when the
/// secret is dropped and never printed: `Debug` shows `Secret(***)` (with the name, if any).
///
/// # Example
///
/// ```
/// use tower_webhook::Secret;
///
/// let secret = Secret::new("It's a Secret to Everybody").named("2024-rotation");
/// assert_eq!(secret.name(), Some("2024-rotation"));
/// assert_eq!(format!("{secret:?}"), r#"Secret("2024-rotation", ***)"#);
/// ```
#[derive(Clone)]
pub struct Secret {
    value: Zeroizing<Vec<u8>>,
    name: Option<Arc<str>>,
}

impl Secret {
    /// A secret given as text.
    pub fn new(value: impl Into<String>) -> Self {
        Self::from_bytes(value.into().into_bytes())
    }

    /// A secret given as raw bytes.
    pub fn from_bytes(value: impl Into<Vec<u8>>) -> Self {
        Self {
            value: Zeroizing::new(value.into()),
            name: None,
        }
    }

    /// Names the secret, so that [`Verified::key_name`](crate::Verified::key_name) can say
    /// which one a request was signed with.
    #[must_use]
    pub fn named(mut self, name: impl Into<Arc<str>>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// The secret's name, if it has one.
    pub fn name(&self) -> Option<&str> {
        self.name.as_deref()
    }

    /// The secret's bytes. Keep them out of logs.
    pub fn expose(&self) -> &[u8] {
        &self.value
    }

    pub(crate) fn name_arc(&self) -> Option<Arc<str>> {
        self.name.clone()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) => write!(f, "Secret({name:?}, ***)"),
            None => f.write_str("Secret(***)"),
        }
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self::new(value)
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self::new(value)
    }
}

/// One configured key: a shared [`Secret`], or a [`PublicKey`] for schemes signed with a key
/// pair (Discord, SendGrid, Standard Webhooks `v1a`).
#[derive(Clone, Debug)]
pub enum Key {
    /// A shared secret (or, for a key-pair scheme, a private key).
    Secret(Secret),
    /// A public key.
    Public(PublicKey),
}

impl Key {
    /// The key's name, if it was given one.
    pub fn name(&self) -> Option<&str> {
        match self {
            Self::Secret(secret) => secret.name(),
            Self::Public(public) => public.name(),
        }
    }

    pub(crate) fn name_arc(&self) -> Option<Arc<str>> {
        match self {
            Self::Secret(secret) => secret.name_arc(),
            Self::Public(public) => public.name_arc(),
        }
    }

    /// The public key that checks `algorithm`'s signatures, for a scheme signed with a key pair.
    ///
    /// # Errors
    ///
    /// The key is not in a format `algorithm` takes, or it is a [`Secret`]: a plain string
    /// becomes a secret, and a provider's public key read as a private one would verify
    /// nothing, so it is refused with a pointer to [`PublicKey`].
    pub fn key_pair(&self, algorithm: Algorithm) -> Result<VerifyingKey, InvalidSecret> {
        match self {
            Self::Public(public) => {
                VerifyingKey::public(algorithm, public).map_err(InvalidSecret::new)
            }
            Self::Secret(_) => Err(InvalidSecret::new(
                "cannot be used: this scheme verifies with a public key; give it as a `PublicKey`",
            )),
        }
    }
}

impl From<Secret> for Key {
    fn from(secret: Secret) -> Self {
        Self::Secret(secret)
    }
}

impl From<&str> for Key {
    fn from(secret: &str) -> Self {
        Self::Secret(secret.into())
    }
}

impl From<String> for Key {
    fn from(secret: String) -> Self {
        Self::Secret(secret.into())
    }
}

impl From<PublicKey> for Key {
    fn from(public: PublicKey) -> Self {
        Self::Public(public)
    }
}

/// The keys a layer accepts: during a rotation, the new one and the old ones. Each is a
/// [`Secret`] or, for schemes signed with a key pair, a [`PublicKey`]; both kinds may be mixed
/// (Standard Webhooks `v1` and `v1a`).
///
/// A request verifies when its signature matches any of them. Order them newest first: the
/// first is the one [`Scheme::sign`](crate::scheme::Scheme::sign) users reach for, and
/// verification tries all of them in any case.
///
/// # Example
///
/// ```
/// use tower_webhook::{Secret, Secrets};
///
/// let secrets = Secrets::from([
///     Secret::new("new secret").named("current"),
///     Secret::new("old secret").named("previous"),
/// ]);
/// assert_eq!(secrets.len(), 2);
/// // Plain strings work too.
/// let secrets: Secrets = ["new secret", "old secret"].into();
/// assert_eq!(secrets.len(), 2);
/// ```
#[derive(Clone, Debug, Default)]
pub struct Secrets {
    secrets: Vec<Key>,
}

impl Secrets {
    /// No secrets yet; a layer refuses to be built without at least one.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a secret.
    #[must_use]
    pub fn with(mut self, secret: impl Into<Key>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// How many secrets there are.
    pub fn len(&self) -> usize {
        self.secrets.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// The secrets, in the order given.
    pub fn iter(&self) -> impl Iterator<Item = &Key> {
        self.secrets.iter()
    }
}

impl From<Secret> for Secrets {
    fn from(secret: Secret) -> Self {
        Self {
            secrets: vec![secret.into()],
        }
    }
}

impl From<PublicKey> for Secrets {
    fn from(public: PublicKey) -> Self {
        Self {
            secrets: vec![public.into()],
        }
    }
}

impl From<Key> for Secrets {
    fn from(key: Key) -> Self {
        Self { secrets: vec![key] }
    }
}

impl From<&str> for Secrets {
    fn from(secret: &str) -> Self {
        Secret::new(secret).into()
    }
}

impl From<String> for Secrets {
    fn from(secret: String) -> Self {
        Secret::new(secret).into()
    }
}

impl<T: Into<Key>> From<Vec<T>> for Secrets {
    fn from(secrets: Vec<T>) -> Self {
        Self {
            secrets: secrets.into_iter().map(Into::into).collect(),
        }
    }
}

impl<T: Into<Key>, const N: usize> From<[T; N]> for Secrets {
    fn from(secrets: [T; N]) -> Self {
        Self {
            secrets: secrets.into_iter().map(Into::into).collect(),
        }
    }
}

impl<T: Into<Key>> FromIterator<T> for Secrets {
    fn from_iter<I: IntoIterator<Item = T>>(iter: I) -> Self {
        Self {
            secrets: iter.into_iter().map(Into::into).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_never_shows_the_value() {
        let secret = Secret::new("hunter2-very-secret");
        let secrets = Secrets::from(vec![secret.clone(), secret.clone().named("old")]);
        for text in [
            format!("{secret:?}"),
            format!("{secrets:?}"),
            format!("{secrets:#?}"),
        ] {
            assert!(!text.contains("hunter2"), "{text}");
        }
        assert_eq!(format!("{secret:?}"), "Secret(***)");
    }
}
