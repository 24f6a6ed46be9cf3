//! The verification itself, apart from tower: headers first, then the body as it streams.

use std::fmt;
use std::sync::{Arc, OnceLock};

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use subtle::{Choice, ConstantTimeEq};

use crate::clock::{Clock, SystemClock};
use crate::error::{ConfigError, VerifyError};
use crate::keyring::{Keyring, Macs};
use crate::reject::OnReject;
use crate::scheme::{Part, Scheme, Signatures, Tag};
use crate::secret::Secrets;
use crate::verified::{Delivery, ReceivedId, Verified};

pub(crate) const DEFAULT_TOLERANCE_SECONDS: u64 = 300;
pub(crate) const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

/// The most a declared length reserves before the bytes arrive. A client can declare 10 MiB and
/// then trickle two bytes; beyond this the buffer grows only as the body really comes in.
const MAX_PREALLOCATION: usize = 64 * 1024;

/// Everything a layer knows, shared by its services behind one `Arc`.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) scheme: Arc<dyn Scheme>,
    pub(crate) keyring: Keyring,
    /// Where `{body}` stands in the scheme's signed content.
    body_at: usize,
    pub(crate) tolerance_seconds: u64,
    pub(crate) max_body_size: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) on_reject: Option<Arc<dyn OnReject>>,
    pub(crate) replay: crate::replay::ReplaySettings,
}

impl Config {
    pub(crate) fn new(scheme: Arc<dyn Scheme>, secrets: &Secrets) -> Result<Self, ConfigError> {
        let body_at = crate::scheme::body_position(scheme.as_ref())?;
        let keyring = Keyring::new(scheme.as_ref(), secrets)?;
        Ok(Self {
            scheme,
            keyring,
            body_at,
            tolerance_seconds: DEFAULT_TOLERANCE_SECONDS,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            clock: Arc::new(SystemClock),
            on_reject: None,
            replay: crate::replay::ReplaySettings::default(),
        })
    }

    /// Everything that can be checked before the body: headers, timestamp window, declared
    /// length. On success, HMAC states that have already absorbed what precedes the body.
    pub(crate) fn begin(
        self: &Arc<Self>,
        headers: &HeaderMap,
        body_size_hint: Option<u64>,
    ) -> Result<Verification, VerifyError> {
        let signed = self.scheme.parse(headers)?;
        let timestamp = match &signed.timestamp {
            Some(timestamp) => {
                self.check_window(timestamp.unix_seconds())?;
                Some(timestamp.unix_seconds())
            }
            None => None,
        };
        // The body's exact size hint is what its `Content-Length` said (hyper, h2 and `Full`
        // all derive it so); the header itself is read only when there is no such hint.
        let declared = body_size_hint.or_else(|| declared_length(headers));
        if declared.is_some_and(|declared| declared > self.max_body_size as u64) {
            return Err(VerifyError::BodyTooLarge {
                limit: self.max_body_size,
            });
        }

        // A reference-counted copy: the event type is resolved later, if asked for.
        let event_header = signed
            .event_header
            .or_else(|| {
                let name = self.scheme.event_header()?;
                headers.get(name)
            })
            .cloned();
        let (id, sent_at) = (signed.id, signed.timestamp.map(|t| t.raw_bytes()));
        // One literal, the hashing built inside it, and the signed text around the body fed
        // to it where it lives: the delivery is half a kilobyte and the hashing 256 bytes of
        // it, and a hashing built apart is copied again on its way in.
        let mut delivery = Arc::new(Delivery {
            scheme: Arc::clone(&self.scheme),
            // Written in place below (see `ReceivedId::put`).
            id: None,
            timestamp,
            event_header,
            hashing: Some(Hashing {
                macs: self.keyring.macs(),
                signatures: signed.signatures,
                suffix: Vec::new(),
                received: 0,
                // Never reserve much on a client's word alone; see `MAX_PREALLOCATION`.
                expected: declared.map_or(0, |n| {
                    n.min(self.max_body_size.min(MAX_PREALLOCATION) as u64) as usize
                }),
                collected: Collected::Empty,
            }),
            key_index: 0,
            key_name: None,
            body: Bytes::new(),
            event: OnceLock::new(),
        });
        let content = self.scheme.signed_content();
        let (before, after) = (&content[..self.body_at], &content[self.body_at + 1..]);
        let has_text = !before.is_empty() || !after.is_empty();
        if id.is_some() || has_text {
            // One uniqueness check (an atomic compare-exchange) for both.
            let unshared = unshared(&mut delivery);
            if let Some(id) = id {
                ReceivedId::put(&mut unshared.id, id);
            }
            if has_text {
                let hashing = hashing_mut(unshared);
                feed(before, id, sent_at, |bytes| hashing.macs.update_text(bytes));
                feed(after, id, sent_at, |bytes| {
                    hashing.suffix.extend_from_slice(bytes)
                });
            }
        }
        Ok(Verification {
            delivery,
            config: Arc::clone(self),
        })
    }

    fn check_window(&self, timestamp: i64) -> Result<(), VerifyError> {
        let tolerance = self.tolerance_seconds;
        let age = i128::from(self.clock.unix_now()) - i128::from(timestamp);
        let seconds = |n: i128| u64::try_from(n).unwrap_or(u64::MAX);
        if age > i128::from(tolerance) {
            Err(VerifyError::TimestampTooOld {
                age_seconds: seconds(age),
                tolerance_seconds: tolerance,
            })
        } else if -age > i128::from(tolerance) {
            Err(VerifyError::TimestampTooNew {
                ahead_seconds: seconds(-age),
                tolerance_seconds: tolerance,
            })
        } else {
            Ok(())
        }
    }

    pub(crate) fn reject(&self, error: VerifyError) -> http::Response<http_body_util::Full<Bytes>> {
        #[cfg(feature = "tracing")]
        tracing::info!(
            target: "tower_webhook",
            scheme = self.scheme.name(),
            status = error.status().as_u16(),
            reason = %error,
            "webhook refused"
        );
        let mut response = match &self.on_reject {
            Some(on_reject) => on_reject.on_reject(&error),
            None => error.to_response(),
        };
        response.extensions_mut().insert(error);
        response
    }
}

impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifySignatureLayer")
            .field("scheme", &self.scheme.name())
            .field("secrets", &self.keyring)
            .field("tolerance_seconds", &self.tolerance_seconds)
            .field("max_body_size", &self.max_body_size)
            .field("on_reject", &self.on_reject.as_ref().map(|_| ".."))
            .field("replay_guard", &self.replay.guard.as_ref().map(|_| ".."))
            .finish_non_exhaustive()
    }
}

fn declared_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)?
        .to_str()
        .ok()?
        .parse()
        .ok()
}

/// A delivery that is still being verified: nothing else holds it until it becomes the proof.
fn unshared(delivery: &mut Arc<Delivery>) -> &mut Delivery {
    Arc::get_mut(delivery).expect("a delivery is not shared before it is verified")
}

/// The hashing of a delivery that is still being verified.
fn hashing_of(delivery: &mut Arc<Delivery>) -> &mut Hashing {
    hashing_mut(unshared(delivery))
}

fn hashing_mut(delivery: &mut Delivery) -> &mut Hashing {
    delivery
        .hashing
        .as_mut()
        .expect("a verification hashes until it is finished")
}

fn feed(parts: &[Part], id: Option<&str>, sent_at: Option<&[u8]>, mut update: impl FnMut(&[u8])) {
    for part in parts {
        match part {
            Part::Literal(text) => update(text.as_bytes()),
            Part::Timestamp => update(sent_at.unwrap_or_default()),
            Part::Id => update(id.unwrap_or_default().as_bytes()),
            Part::Body => {}
        }
    }
}

/// The buffer for a body that came in more than one chunk, sized once from what was declared.
fn collect_many(body: &mut Collected, expected: usize) -> &mut BytesMut {
    if !matches!(body, Collected::Many(_)) {
        let first = match std::mem::replace(body, Collected::Empty) {
            Collected::One(first) => first,
            Collected::Empty | Collected::Many(_) => Bytes::new(),
        };
        let mut buffer = BytesMut::with_capacity(expected.max(first.len() * 2));
        buffer.extend_from_slice(&first);
        *body = Collected::Many(buffer);
    }
    match body {
        Collected::Many(buffer) => buffer,
        Collected::Empty | Collected::One(_) => unreachable!("made a buffer just above"),
    }
}

/// Constant-time equality of two tags, a word at a time: no branch and no early exit
/// depends on their bytes, and only the final word goes through `subtle`'s barrier.
fn tags_equal(a: &Tag, b: &Tag) -> Choice {
    let mut difference = 0u64;
    for (a, b) in a.chunks_exact(8).zip(b.chunks_exact(8)) {
        let word = |bytes: &[u8]| u64::from_ne_bytes(bytes.try_into().expect("8 bytes"));
        difference |= word(a) ^ word(b);
    }
    difference.ct_eq(&0)
}

/// One request on its way through: the body is hashed and kept as it arrives.
///
/// It lives in the allocation that becomes the request's [`Verified`] (see [`Delivery`]): the
/// state is large (an HMAC state, a signature, the delivery id) and the request future moves
/// what it holds several times before the body arrives; a pointer moves for free.
pub(crate) struct Verification {
    delivery: Arc<Delivery>,
    /// Kept apart from the delivery, which becomes the proof a handler may keep: the
    /// configuration holds the keyed secrets.
    config: Arc<Config>,
}

/// The hashing part of a [`Delivery`]: dropped, with the states derived from the keys, once
/// the verdict is in.
pub(crate) struct Hashing {
    /// One state per secret, zeroised on drop.
    macs: Macs,
    signatures: Signatures,
    suffix: Vec<u8>,
    received: usize,
    expected: usize,
    collected: Collected,
}

/// The body so far. A body that arrives in one piece is kept as that piece, with no copy.
enum Collected {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Verification {
    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }

    #[cfg(test)]
    fn hashing_ref(&self) -> &Hashing {
        self.delivery
            .hashing
            .as_ref()
            .expect("a verification hashes until it is finished")
    }

    /// Hashes and keeps one chunk, or refuses it when it takes the body past the limit.
    pub(crate) fn update(&mut self, mut chunk: impl Buf) -> Result<(), VerifyError> {
        let len = chunk.remaining();
        if len == 0 {
            return Ok(());
        }
        let config = &self.config;
        let hashing = hashing_of(&mut self.delivery);
        if len > config.max_body_size - hashing.received {
            return Err(VerifyError::BodyTooLarge {
                limit: config.max_body_size,
            });
        }
        hashing.received += len;
        let macs = &mut hashing.macs;
        if let Collected::Empty = hashing.collected {
            let bytes = chunk.copy_to_bytes(len);
            macs.update(&bytes);
            hashing.collected = Collected::One(bytes);
            return Ok(());
        }
        let buffer = collect_many(&mut hashing.collected, hashing.expected);
        while chunk.has_remaining() {
            let slice = chunk.chunk();
            buffer.put_slice(slice);
            let n = slice.len();
            chunk.advance(n);
        }
        let new = &buffer[buffer.len() - len..];
        macs.update(new);
        Ok(())
    }

    /// The configuration, for a request refused before it was finished.
    pub(crate) fn into_config(self) -> Arc<Config> {
        self.config
    }

    /// Compares every signature with every secret's tag, in constant time, and on a match
    /// returns what the inner service will see; with the configuration the verification held,
    /// handed back rather than cloned (the caller still needs it, and this is one reference
    /// count less per request).
    ///
    /// The hashing is finished where it lies in the delivery and then dropped there: taking it
    /// out first would copy its 256 bytes.
    pub(crate) fn finish(mut self) -> (Arc<Config>, Result<Verified, VerifyError>) {
        let delivery = unshared(&mut self.delivery);
        let hashing = hashing_mut(delivery);
        let keyring = &self.config.keyring;
        let mut matched = None;
        let signatures = hashing.signatures.as_slice();
        hashing.macs.finish(keyring, &hashing.suffix, |index, tag| {
            let mut hit = Choice::from(0);
            for signature in signatures {
                hit |= tags_equal(tag, signature);
            }
            if bool::from(hit) && matched.is_none() {
                matched = Some(index);
            }
        });
        let collected = std::mem::replace(&mut hashing.collected, Collected::Empty);
        delivery.hashing = None;
        let Some(matched) = matched else {
            return (self.config, Err(VerifyError::SignatureMismatch));
        };
        delivery.key_index = matched;
        delivery.key_name = keyring.name(matched).cloned();
        delivery.body = match collected {
            Collected::Empty => Bytes::new(),
            Collected::One(bytes) => bytes,
            Collected::Many(buffer) => buffer.freeze(),
        };
        (self.config, Ok(Verified::new(self.delivery)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::GitHub;

    #[test]
    fn a_declared_length_reserves_little_before_the_bytes_arrive() {
        let config = Arc::new(Config::new(Arc::new(GitHub), &Secrets::from("secret")).unwrap());
        let mut headers = HeaderMap::new();
        let signature = format!("sha256={}", "0".repeat(64));
        headers.insert("x-hub-signature-256", signature.parse().unwrap());
        headers.insert("content-length", DEFAULT_MAX_BODY_SIZE.into());
        let mut verification = config.begin(&headers, None).unwrap();
        verification.update(Bytes::from_static(b"a")).unwrap();
        verification.update(Bytes::from_static(b"b")).unwrap();
        match &verification.hashing_ref().collected {
            Collected::Many(buffer) => {
                assert_eq!(&buffer[..], b"ab");
                assert!(
                    buffer.capacity() <= MAX_PREALLOCATION,
                    "{}",
                    buffer.capacity()
                );
            }
            _ => panic!("two chunks are collected into one buffer"),
        }
    }

    #[test]
    fn short_and_long_ids_verify_and_a_changed_id_does_not() {
        use crate::scheme::{Message, StandardWebhooks};
        use crate::secret::Secret;

        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let config =
            Arc::new(Config::new(Arc::new(StandardWebhooks), &Secrets::from(secret)).unwrap());
        let now = config.clock.unix_now();
        let body = b"{\"type\":\"ping\"}";
        // Around the 48 bytes a delivery keeps inline, and far beyond.
        for length in [1, 36, 47, 48, 49, 100, 300, 4000] {
            let id = "i".repeat(length);
            let message = Message::new(body).id(&id).timestamp(now);
            let headers = StandardWebhooks
                .sign(&Secret::new(secret), &message)
                .unwrap();
            let mut verification = config.begin(&headers, None).unwrap();
            verification.update(Bytes::from_static(body)).unwrap();
            let (_, verified) = verification.finish();
            assert_eq!(verified.unwrap().id(), Some(id.as_str()), "{length}");

            // The same signature under an id one byte shorter must not verify.
            let mut headers = headers;
            headers.insert("webhook-id", id[1..].parse().unwrap());
            let mut verification = config.begin(&headers, None).unwrap();
            verification.update(Bytes::from_static(body)).unwrap();
            assert!(verification.finish().1.is_err(), "{length}");
        }
    }

    #[test]
    fn a_verified_request_does_not_keep_the_keys() {
        use crate::scheme::Message;
        use crate::secret::Secret;

        let config = Arc::new(
            Config::new(
                Arc::new(GitHub),
                &Secrets::from([Secret::new("old").named("a"), Secret::new("new").named("b")]),
            )
            .unwrap(),
        );
        let body = b"{\"zen\":\"Keep it logically awesome.\"}";
        let headers = GitHub
            .sign(&Secret::new("new"), &Message::new(body))
            .unwrap();
        let mut verification = config.begin(&headers, None).unwrap();
        assert_eq!(
            Arc::strong_count(&config),
            2,
            "the verification holds the configuration"
        );
        verification.update(Bytes::from_static(body)).unwrap();
        let (handed_back, verified) = verification.finish();
        assert!(Arc::ptr_eq(&handed_back, &config));
        drop(handed_back);
        let verified = verified.unwrap();
        assert!(
            !verified.still_hashing(),
            "the HMAC states, derived from the keys, are dropped with the verdict"
        );
        assert_eq!((verified.key_index(), verified.key_name()), (1, Some("b")));
        assert_eq!(
            Arc::strong_count(&config),
            1,
            "the proof a handler may keep holds neither the keyring nor the rest of the layer"
        );
        assert_eq!(&verified.body()[..], body);
    }
}
