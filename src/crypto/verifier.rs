//! One request's verification: the signed bytes stream in, then a verdict comes out.

use hmac::{Hmac, Mac};
use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha1::Sha1;
use sha2::{Digest as _, Sha256, Sha512};
use subtle::{Choice, ConstantTimeEq};

use super::verifying_key::KeyKind;
use super::{Algorithm, Keyring, Signature, Signatures};

/// Absorbs the signed bytes as they stream and then says which key, if any, signed them.
///
/// Each key checks only the signatures of its own algorithm: an HMAC key computes one tag and
/// compares it, in constant time, with every such signature; an Ed25519 key runs one stream per
/// signature (Ed25519 hashes the signature's `R` first); ECDSA keys share one SHA-256.
pub(crate) struct Verifier {
    hmacs: Vec<(usize, HmacState)>,
    ed25519: Vec<(usize, ed25519_dalek::StreamVerifier)>,
    ecdsa: Option<Sha256>,
    signatures: Signatures,
}

enum HmacState {
    Sha1(Hmac<Sha1>),
    Sha256(Hmac<Sha256>),
    Sha512(Hmac<Sha512>),
}

impl Verifier {
    /// `None` when no key checks any of `signatures`: the request can be refused unread.
    pub(super) fn new(keyring: &Keyring, signatures: Signatures) -> Option<Self> {
        let of = |algorithm| {
            signatures
                .as_slice()
                .iter()
                .filter(move |signature| signature.algorithm() == algorithm)
        };
        let has = |algorithm| of(algorithm).next().is_some();
        let mut verifier = Self {
            hmacs: Vec::new(),
            ed25519: Vec::new(),
            ecdsa: None,
            signatures: Signatures::new(),
        };
        for (index, key) in keyring.keys().enumerate() {
            match &key.kind {
                KeyKind::HmacSha1(mac) if has(Algorithm::HmacSha1) => {
                    verifier.hmacs.push((index, HmacState::Sha1(mac.clone())));
                }
                KeyKind::HmacSha256(mac) if has(Algorithm::HmacSha256) => {
                    verifier.hmacs.push((index, HmacState::Sha256(mac.clone())));
                }
                KeyKind::HmacSha512(mac) if has(Algorithm::HmacSha512) => {
                    verifier.hmacs.push((index, HmacState::Sha512(mac.clone())));
                }
                KeyKind::Ed25519(public) => {
                    for signature in of(Algorithm::Ed25519) {
                        let Ok(bytes) = <[u8; 64]>::try_from(signature.as_bytes()) else {
                            continue;
                        };
                        // A signature whose scalar is out of range fails here: it matches nothing.
                        let signature = ed25519_dalek::Signature::from_bytes(&bytes);
                        if let Ok(stream) = public.verify_stream(&signature) {
                            verifier.ed25519.push((index, stream));
                        }
                    }
                }
                KeyKind::EcdsaP256(_) if has(Algorithm::EcdsaP256Sha256) => {
                    verifier.ecdsa.get_or_insert_with(Sha256::new);
                }
                _ => {}
            }
        }
        let idle =
            verifier.hmacs.is_empty() && verifier.ed25519.is_empty() && verifier.ecdsa.is_none();
        verifier.signatures = signatures;
        (!idle).then_some(verifier)
    }

    /// Absorbs the next signed bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for (_, state) in &mut self.hmacs {
            match state {
                HmacState::Sha1(mac) => mac.update(bytes),
                HmacState::Sha256(mac) => mac.update(bytes),
                HmacState::Sha512(mac) => mac.update(bytes),
            }
        }
        for (_, stream) in &mut self.ed25519 {
            stream.update(bytes);
        }
        if let Some(hash) = &mut self.ecdsa {
            hash.update(bytes);
        }
    }

    /// The position of the first key that signed the bytes, if any did.
    pub(crate) fn finish(self, keyring: &Keyring) -> Option<usize> {
        let Self {
            hmacs,
            ed25519,
            ecdsa,
            signatures,
        } = self;
        let of = |algorithm| {
            signatures
                .as_slice()
                .iter()
                .filter(move |signature| signature.algorithm() == algorithm)
        };
        let mut matched = None;
        let mut note =
            |index: usize| matched = Some(matched.map_or(index, |m: usize| m.min(index)));
        for (index, state) in hmacs {
            let hit = match state {
                HmacState::Sha1(mac) => {
                    any_equal(&mac.finalize().into_bytes(), of(Algorithm::HmacSha1))
                }
                HmacState::Sha256(mac) => {
                    any_equal(&mac.finalize().into_bytes(), of(Algorithm::HmacSha256))
                }
                HmacState::Sha512(mac) => {
                    any_equal(&mac.finalize().into_bytes(), of(Algorithm::HmacSha512))
                }
            };
            if hit {
                note(index);
            }
        }
        for (index, stream) in ed25519 {
            if stream.finalize_and_verify().is_ok() {
                note(index);
            }
        }
        if let Some(hash) = ecdsa {
            let digest = hash.finalize();
            for (index, key) in keyring.keys().enumerate() {
                let KeyKind::EcdsaP256(public) = &key.kind else {
                    continue;
                };
                let signed = of(Algorithm::EcdsaP256Sha256).any(|signature| {
                    p256::ecdsa::Signature::from_der(signature.as_bytes())
                        .is_ok_and(|signature| public.verify_prehash(&digest, &signature).is_ok())
                });
                if signed {
                    note(index);
                }
            }
        }
        matched
    }
}

/// Whether `tag` equals any of `signatures`, each compared in full and in constant time.
fn any_equal<'s>(tag: &[u8], signatures: impl Iterator<Item = &'s Signature>) -> bool {
    let hit = signatures.fold(Choice::from(0), |hit, signature| {
        hit | tag.ct_eq(signature.as_bytes())
    });
    hit.into()
}
