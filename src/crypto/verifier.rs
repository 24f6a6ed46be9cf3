//! One request's verification: the signed bytes stream in, then a verdict comes out.

use p256::ecdsa::signature::hazmat::PrehashVerifier as _;
use sha2::{Digest as _, Sha256};
use subtle::{Choice, ConstantTimeEq};

use super::hmac_key::HmacKey;
use super::verifying_key::KeyKind;
use super::{Algorithm, Keyring, Signature, Signatures};

/// Absorbs the signed bytes as they stream and then says which key, if any, signed them.
///
/// Each key checks only the signatures of its own algorithm: an HMAC key computes one tag and
/// compares it, in constant time, with every such signature; an Ed25519 key runs one stream per
/// signature (Ed25519 hashes the signature's `R` first); ECDSA keys share one SHA-256.
pub(crate) struct Verifier {
    hmacs: Vec<(usize, HmacKey)>,
    ed25519: Vec<(usize, ed25519_dalek::StreamVerifier)>,
    ecdsa_keys: Vec<(usize, p256::ecdsa::VerifyingKey)>,
    /// One hash for every ECDSA key, when there is one; boxed, so that the other schemes'
    /// requests do not carry its room.
    ecdsa_hash: Option<Box<Sha256>>,
    tokens: Vec<(usize, [u8; 32])>,
    signatures: Signatures,
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
            ecdsa_keys: Vec::new(),
            ecdsa_hash: None,
            tokens: Vec::new(),
            signatures: Signatures::new(),
        };
        for (index, key) in keyring.keys().enumerate() {
            match &key.kind {
                KeyKind::Hmac(mac) if has(mac.algorithm()) => {
                    verifier.hmacs.push((index, mac.clone()));
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
                KeyKind::EcdsaP256(public) if has(Algorithm::EcdsaP256Sha256) => {
                    verifier.ecdsa_keys.push((index, *public));
                    verifier.ecdsa_hash.get_or_insert_with(Box::default);
                }
                KeyKind::Token(digest) if has(Algorithm::Token) => {
                    verifier.tokens.push((index, **digest));
                }
                _ => {}
            }
        }
        let idle = verifier.hmacs.is_empty()
            && verifier.ed25519.is_empty()
            && verifier.ecdsa_keys.is_empty()
            && verifier.tokens.is_empty();
        verifier.signatures = signatures;
        (!idle).then_some(verifier)
    }

    /// Absorbs the next signed bytes.
    pub(crate) fn update(&mut self, bytes: &[u8]) {
        for (_, mac) in &mut self.hmacs {
            mac.update(bytes);
        }
        for (_, stream) in &mut self.ed25519 {
            stream.update(bytes);
        }
        if let Some(hash) = &mut self.ecdsa_hash {
            hash.update(bytes);
        }
    }

    /// The position of the first key that signed the bytes, if any did.
    pub(crate) fn finish(self) -> Option<usize> {
        let of = |algorithm| {
            self.signatures
                .as_slice()
                .iter()
                .filter(move |signature| signature.algorithm() == algorithm)
        };
        let hmacs = self.hmacs.into_iter().filter_map(|(index, mac)| {
            let algorithm = mac.algorithm();
            any_equal(&mac.finish(), of(algorithm)).then_some(index)
        });
        let ed25519 = self
            .ed25519
            .into_iter()
            .filter_map(|(index, stream)| stream.finalize_and_verify().is_ok().then_some(index));
        let digest = self
            .ecdsa_hash
            .map(|hash| hash.finalize())
            .unwrap_or_default();
        let ecdsa = self.ecdsa_keys.iter().filter_map(|(index, public)| {
            let signed = of(Algorithm::EcdsaP256Sha256).any(|signature| {
                // Decoded once already when the header was read: well-formed DER.
                p256::ecdsa::Signature::from_der(signature.as_bytes())
                    .is_ok_and(|signature| public.verify_prehash(&digest, &signature).is_ok())
            });
            signed.then_some(*index)
        });
        let tokens = self.tokens.iter().filter_map(|(index, digest)| {
            let sent = of(Algorithm::Token).fold(Choice::from(0), |hit, token| {
                hit | Sha256::digest(token.as_bytes()).as_slice().ct_eq(digest)
            });
            bool::from(sent).then_some(*index)
        });
        // `min` runs every check, whatever the others found; the first key that matched wins.
        hmacs.chain(ed25519).chain(ecdsa).chain(tokens).min()
    }
}

/// Whether `tag` equals any of `signatures`, each compared in full and in constant time.
fn any_equal<'s>(tag: &Signature, signatures: impl Iterator<Item = &'s Signature>) -> bool {
    let hit = signatures.fold(Choice::from(0), |hit, signature| hit | tag.ct_eq(signature));
    hit.into()
}
