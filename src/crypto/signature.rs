//! Signatures as read from a request (or made for one), tagged with their algorithm.

use std::fmt;

use subtle::ConstantTimeEq;
use zeroize::{Zeroize as _, Zeroizing};

use super::{Algorithm, Encoding};

/// The most signatures one request may carry; more are refused with 400. Each public key runs
/// one Ed25519 verification over the whole body per signature of its algorithm, so this bounds
/// the work a forged request can cause.
pub const MAX_SIGNATURES: usize = 8;

/// One signature: its algorithm and its bytes.
///
/// `Debug` prints the algorithm and the length only: a signature is not secret, but it is noise
/// in logs. Equality is constant-time (`subtle`), since a signature is often compared with a
/// tag computed from a secret.
///
/// # Example
///
/// ```
/// use tower_webhook::crypto::{Algorithm, Encoding, Signature};
///
/// let text = "0".repeat(64);
/// let signature = Signature::decode(Algorithm::HmacSha256, Encoding::Hex, &text).unwrap();
/// assert_eq!(signature.as_bytes(), &[0; 32]);
/// // Too short for HMAC-SHA256.
/// assert!(Signature::decode(Algorithm::HmacSha256, Encoding::Hex, "00").is_none());
/// ```
#[derive(Clone)]
pub struct Signature {
    algorithm: Algorithm,
    // Inline, so that reading a signature allocates nothing: every algorithm here fits.
    bytes: [u8; MAX_LEN],
    len: u8,
    /// A token longer than the inline room (GitLab lets users choose long ones).
    long: Option<Zeroizing<Box<[u8]>>>,
}

/// The longest signature: a DER-encoded P-256 ECDSA signature.
const MAX_LEN: usize = 72;

/// The longest [token](Algorithm::Token): more than any header a server takes whole.
pub(crate) const MAX_TOKEN_LEN: usize = 8 * 1024;

impl Signature {
    /// A signature made with `algorithm`, or `None` when `bytes` is longer than any
    /// algorithm's signature (72 bytes; 8 KiB for a [token](Algorithm::Token)).
    pub fn new(algorithm: Algorithm, bytes: &[u8]) -> Option<Self> {
        if algorithm == Algorithm::Token && bytes.len() > MAX_LEN {
            return (bytes.len() <= MAX_TOKEN_LEN).then(|| Self {
                algorithm,
                bytes: [0; MAX_LEN],
                len: 0,
                long: Some(Zeroizing::new(bytes.into())),
            });
        }
        let mut inline = [0; MAX_LEN];
        inline.get_mut(..bytes.len())?.copy_from_slice(bytes);
        Some(Self {
            algorithm,
            bytes: inline,
            len: bytes.len() as u8,
            long: None,
        })
    }

    /// Decodes `text` as a signature of `algorithm`; `None` when it is not `encoding`, or not
    /// the algorithm's length (or, for ECDSA, not a DER signature).
    pub fn decode(algorithm: Algorithm, encoding: Encoding, text: &str) -> Option<Self> {
        // A token is not encoded: it is the text itself.
        if algorithm == Algorithm::Token {
            return Self::new(algorithm, text.as_bytes()).filter(|_| !text.is_empty());
        }
        let mut bytes = [0; MAX_LEN];
        let len = encoding.decode_into(text, &mut bytes)?;
        let well_formed = match algorithm.signature_len() {
            Some(expected) => len == expected,
            None => p256::ecdsa::Signature::from_der(&bytes[..len]).is_ok(),
        };
        well_formed.then_some(Self {
            algorithm,
            bytes,
            len: len as u8,
            long: None,
        })
    }

    /// What a well-formed signature of `algorithm` in `encoding` looks like, for error messages.
    pub(crate) fn expectation(algorithm: Algorithm, encoding: Encoding) -> &'static str {
        use Algorithm::*;
        use Encoding::*;
        match (algorithm, encoding) {
            (HmacSha256, Hex) => "the signature is not 64 hex digits",
            (HmacSha256, Base64) => "the signature is not base64 of 32 bytes",
            (HmacSha1, Hex) => "the signature is not 40 hex digits",
            (HmacSha1, Base64) => "the signature is not base64 of 20 bytes",
            (HmacSha512, Hex) => "the signature is not 128 hex digits",
            (Ed25519, Hex) => "the signature is not 128 hex digits (64 bytes)",
            (_, Base64Url) => "the signature is not base64url of the right length",
            (HmacSha512 | Ed25519, _) => "the signature is not base64 of 64 bytes",
            (EcdsaP256Sha256, _) => "the signature is not an encoded DER ECDSA signature",
            (Token, _) => "the token is empty or longer than 8 KiB",
        }
    }

    /// The algorithm it claims to be made with.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// The raw signature bytes.
    pub fn as_bytes(&self) -> &[u8] {
        match &self.long {
            Some(long) => long,
            None => &self.bytes[..usize::from(self.len)],
        }
    }

    /// The signature written in `encoding`.
    pub fn encode(&self, encoding: Encoding) -> String {
        if self.algorithm == Algorithm::Token {
            return String::from_utf8_lossy(self.as_bytes()).into_owned();
        }
        encoding.encode(self.as_bytes())
    }
}

impl ConstantTimeEq for Signature {
    fn ct_eq(&self, other: &Self) -> subtle::Choice {
        let same_algorithm = u8::from(self.algorithm == other.algorithm).ct_eq(&1);
        same_algorithm & self.as_bytes().ct_eq(other.as_bytes())
    }
}

impl PartialEq for Signature {
    fn eq(&self, other: &Self) -> bool {
        self.ct_eq(other).into()
    }
}

impl Eq for Signature {}

// A token is the secret itself: wiped when dropped, like keys.
impl Drop for Signature {
    fn drop(&mut self) {
        if self.algorithm == Algorithm::Token {
            self.bytes.zeroize();
        }
    }
}

impl fmt::Debug for Signature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Signature")
            .field("algorithm", &self.algorithm)
            .field("len", &self.as_bytes().len())
            .finish()
    }
}

/// Every signature a request carries, at most [`MAX_SIGNATURES`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Signatures {
    list: Vec<Signature>,
}

impl Signatures {
    /// No signatures yet.
    pub fn new() -> Self {
        Self::default()
    }

    /// Just this one.
    pub fn one(signature: Signature) -> Self {
        Self {
            list: vec![signature],
        }
    }

    /// Adds a signature, or hands it back when there are already [`MAX_SIGNATURES`]. A
    /// signature the list already holds is not added again: checking it twice would only
    /// double the work.
    ///
    /// # Errors
    ///
    /// The signature, when the list is full.
    pub fn push(&mut self, signature: Signature) -> Result<(), Signature> {
        if self.list.contains(&signature) {
            return Ok(());
        }
        if self.list.len() == MAX_SIGNATURES {
            return Err(signature);
        }
        self.list.push(signature);
        Ok(())
    }

    /// The signatures, in the order they were read.
    pub fn as_slice(&self) -> &[Signature] {
        &self.list
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.list.is_empty()
    }

    /// How many there are.
    pub fn len(&self) -> usize {
        self.list.len()
    }
}
