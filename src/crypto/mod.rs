//! Keys, signatures and the algorithms that check them.
//!
//! Everything cryptographic lives here and comes from well-kept crates: HMAC from `hmac` with
//! `sha1`/`sha2`, Ed25519 from `ed25519-dalek`, ECDSA P-256 from `p256`, encodings from `hex`
//! and `base64`, constant-time comparison from `subtle`. This module knows nothing of schemes
//! or headers: a scheme decides which bytes are signed and where the signature is written.
//!
//! | [`Algorithm`] | signature | keys |
//! |---|---|---|
//! | HMAC-SHA1, HMAC-SHA256, HMAC-SHA512 | the tag (20, 32, 64 bytes) | a shared [`Secret`](crate::Secret) |
//! | Ed25519 | 64 bytes | a [`PublicKey`] (verify), a private key in a `Secret` (sign) |
//! | ECDSA P-256 with SHA-256 | ASN.1 DER | a [`PublicKey`] (verify), a private key in a `Secret` (sign) |

mod algorithm;
mod encoding;
mod hmac_key;
mod public_key;
mod signature;
mod signing_key;
mod verifier;
mod verifying_key;

pub use algorithm::Algorithm;
pub use encoding::Encoding;
pub use public_key::PublicKey;
pub use signature::{MAX_SIGNATURES, Signature, Signatures};
pub use signing_key::SigningKey;
pub(crate) use verifier::Verifier;
pub use verifying_key::VerifyingKey;
pub(crate) use verifying_key::{Keyring, NamedKey};
