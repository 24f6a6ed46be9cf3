//! The signature algorithms webhook senders use.

use std::fmt;

/// A signature algorithm.
///
/// # Example
///
/// ```
/// use tower_webhook::crypto::Algorithm;
///
/// assert_eq!(Algorithm::HmacSha256.to_string(), "HMAC-SHA256");
/// assert!(Algorithm::HmacSha1.is_hmac());
/// assert!(!Algorithm::Ed25519.is_hmac());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// HMAC with SHA-1 (Twilio, Intercom, GitHub's legacy header).
    HmacSha1,
    /// HMAC with SHA-256, what most senders use.
    HmacSha256,
    /// HMAC with SHA-512.
    HmacSha512,
    /// Ed25519 ([RFC 8032](https://www.rfc-editor.org/rfc/rfc8032)): Discord, Standard
    /// Webhooks `v1a`.
    Ed25519,
    /// ECDSA over P-256 with SHA-256, DER-encoded signatures: SendGrid.
    EcdsaP256Sha256,
    /// No signature: the shared secret itself travels in a header (GitLab's
    /// `X-Gitlab-Token`), and is compared with the configured one in constant time. It proves
    /// the sender knows the secret, not that the body is theirs; TLS has to do the rest.
    Token,
}

impl Algorithm {
    /// Whether the algorithm uses a shared secret (rather than a key pair).
    pub fn is_hmac(self) -> bool {
        matches!(self, Self::HmacSha1 | Self::HmacSha256 | Self::HmacSha512)
    }

    /// Whether the algorithm's keys are shared secrets: an HMAC, or a [`Token`](Self::Token).
    pub fn is_shared(self) -> bool {
        self.is_hmac() || self == Self::Token
    }

    /// The length of a signature in bytes, when it is fixed (everything but DER-encoded ECDSA).
    pub fn signature_len(self) -> Option<usize> {
        match self {
            Self::HmacSha1 => Some(20),
            Self::HmacSha256 => Some(32),
            Self::HmacSha512 | Self::Ed25519 => Some(64),
            Self::EcdsaP256Sha256 | Self::Token => None,
        }
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::HmacSha1 => "HMAC-SHA1",
            Self::HmacSha256 => "HMAC-SHA256",
            Self::HmacSha512 => "HMAC-SHA512",
            Self::Ed25519 => "Ed25519",
            Self::EcdsaP256Sha256 => "ECDSA-P256-SHA256",
            Self::Token => "token",
        })
    }
}
