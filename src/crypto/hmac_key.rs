//! A pre-keyed HMAC of any of the three hashes: keyed once, cloned for each message.

use hmac::{Hmac, KeyInit, Mac};
use sha1::Sha1;
use sha2::{Sha256, Sha512};

use super::{Algorithm, Signature};

/// An HMAC state that has absorbed its key (and nothing else yet, until updated). The `hmac`
/// and hash crates' `zeroize` features wipe it on drop.
#[derive(Clone)]
pub(super) enum HmacKey {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    // Boxed: twice the size of the others, it would set the size of every clone.
    Sha512(Box<Hmac<Sha512>>),
}

impl HmacKey {
    /// `None` when `algorithm` is not an HMAC.
    pub(super) fn new(algorithm: Algorithm, key: &[u8]) -> Option<Self> {
        // HMAC hashes long keys and pads short ones: every length is a valid key.
        const ANY_LENGTH: &str = "HMAC accepts keys of any length";
        Some(match algorithm {
            Algorithm::HmacSha1 => Self::Sha1(Hmac::new_from_slice(key).expect(ANY_LENGTH)),
            Algorithm::HmacSha256 => Self::Sha256(Hmac::new_from_slice(key).expect(ANY_LENGTH)),
            Algorithm::HmacSha512 => {
                Self::Sha512(Box::new(Hmac::new_from_slice(key).expect(ANY_LENGTH)))
            }
            Algorithm::Ed25519 | Algorithm::EcdsaP256Sha256 | Algorithm::Token => return None,
        })
    }

    pub(super) fn algorithm(&self) -> Algorithm {
        match self {
            Self::Sha1(_) => Algorithm::HmacSha1,
            Self::Sha256(_) => Algorithm::HmacSha256,
            Self::Sha512(_) => Algorithm::HmacSha512,
        }
    }

    pub(super) fn update(&mut self, bytes: &[u8]) {
        match self {
            Self::Sha1(mac) => mac.update(bytes),
            Self::Sha256(mac) => mac.update(bytes),
            Self::Sha512(mac) => mac.update(bytes),
        }
    }

    /// The tag of everything absorbed, as a signature of this HMAC.
    pub(super) fn finish(self) -> Signature {
        let algorithm = self.algorithm();
        let tag = match self {
            Self::Sha1(mac) => Signature::new(algorithm, &mac.finalize().into_bytes()),
            Self::Sha256(mac) => Signature::new(algorithm, &mac.finalize().into_bytes()),
            Self::Sha512(mac) => Signature::new(algorithm, &(*mac).finalize().into_bytes()),
        };
        tag.expect("an HMAC tag fits a signature")
    }
}
