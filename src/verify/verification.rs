//! The layer's settings, and one request's verification with them, apart from tower: the
//! headers first, then the body as it streams, then the verdict.

use std::fmt;
use std::sync::Arc;

use bytes::{Buf, BufMut, Bytes, BytesMut};
use http::HeaderMap;
use http_body_util::Full;

use crate::DEFAULT_MAX_BODY_SIZE;
use crate::clock::{Clock, SystemClock};
use crate::crypto::Signatures;
use crate::crypto::{Keyring, Verifier};
use crate::error::{ConfigError, VerifyError};
use crate::reject::OnReject;
use crate::replay::ReplayProtection;
use crate::scheme::{
    Part, PartValues, Scheme, SignedHeaders, Timestamp, Tolerance, body_hash_matches, part_bytes,
    signed_url_variants, sorted_forms,
};
use crate::secret::Secrets;
use crate::verified::{Claims, Verified};

use super::public_url::PublicUrl;

/// Everything a layer knows, shared by its services behind one `Arc`.
#[derive(Clone)]
pub(crate) struct Config {
    pub(crate) scheme: Arc<dyn Scheme>,
    pub(crate) keyring: Keyring,
    /// The scheme's signed content before and after `{body}`, split once, here.
    before_body: Box<[Part]>,
    after_body: Box<[Part]>,
    /// Whether that content holds `{timestamp}` and `{id}`, which a request must then carry,
    /// and `{url}`, which the layer must then know.
    signs_timestamp: bool,
    signs_id: bool,
    signs_url: bool,
    /// Whether it signs Twilio's form instead of the body.
    form: bool,
    pub(crate) tolerance: Tolerance,
    pub(crate) public_url: Option<PublicUrl>,
    pub(crate) answer_handshakes: bool,
    pub(crate) max_body_size: usize,
    pub(crate) clock: Arc<dyn Clock>,
    pub(crate) on_reject: Option<Arc<dyn OnReject>>,
    pub(crate) replay: Option<ReplayProtection>,
}

impl Config {
    pub(crate) fn new(scheme: Arc<dyn Scheme>, keys: &Secrets) -> Result<Self, ConfigError> {
        let body_at = crate::scheme::body_position(scheme.as_ref())?;
        let content = scheme.signed_content();
        let (before_body, after_body) = (content[..body_at].into(), content[body_at + 1..].into());
        let keys = crate::scheme::verifying_keys(scheme.as_ref(), keys)?;
        Ok(Self {
            signs_timestamp: content.contains(&Part::Timestamp),
            signs_id: content.contains(&Part::Id),
            signs_url: content.contains(&Part::Url),
            form: content.contains(&Part::Form),
            tolerance: scheme.tolerance(),
            public_url: None,
            answer_handshakes: true,
            scheme,
            keyring: Keyring::new(keys),
            before_body,
            after_body,
            max_body_size: DEFAULT_MAX_BODY_SIZE,
            clock: Arc::new(SystemClock),
            on_reject: None,
            replay: None,
        })
    }

    /// Refuses a timestamp outside the tolerance around now.
    pub(crate) fn check_window(&self, timestamp: &Timestamp<'_>) -> Result<(), VerifyError> {
        self.tolerance.check(self.clock.unix_now(), timestamp)
    }

    /// The mismatch error: for a scheme that signs its URL, one that says where that URL
    /// comes from.
    fn mismatch(&self) -> VerifyError {
        match self.signs_url {
            true => VerifyError::SignedUrlMismatch,
            false => VerifyError::SignatureMismatch,
        }
    }

    /// The response for a refused request, with the error in its extensions.
    pub(crate) fn reject(&self, error: VerifyError) -> http::Response<Full<Bytes>> {
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

// The settings, and each key's algorithm and name, never a key itself.
impl fmt::Debug for Config {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Config")
            .field("scheme", &self.scheme.name())
            .field("keys", &self.keyring)
            .field("tolerance", &self.tolerance)
            .field("public_url", &self.public_url)
            .field("answer_handshakes", &self.answer_handshakes)
            .field("max_body_size", &self.max_body_size)
            .field("on_reject", &self.on_reject.as_ref().map(|_| ".."))
            .field("replay", &self.replay)
            .finish()
    }
}

/// The most a declared length reserves before the bytes arrive. A client can declare 10 MiB and
/// then trickle two bytes; beyond this the buffer grows only as the body really comes in.
const MAX_PREALLOCATION: usize = 64 * 1024;

/// A request whose headers passed, while its body streams in: hashed and kept as it arrives.
pub(crate) struct Verification {
    config: Arc<Config>,
    /// Absorbs the body as it streams, or, for Twilio's form, waits for all of it.
    check: Check,
    claims: Claims,

    body: Collected,
    received: usize,
    /// What the body is expected to weigh, capped by `MAX_PREALLOCATION`.
    expected: usize,
}

/// How the signed bytes are checked.
enum Check {
    /// Streamed through the verifier, with the signed text after the body still to come.
    Streaming { verifier: Verifier, suffix: Vec<u8> },
    /// Built once the whole body is in ([`Part::Form`]): for each URL the sender may have
    /// signed, the signed text before and after the form.
    Form {
        signatures: Signatures,
        candidates: Vec<(Vec<u8>, Vec<u8>)>,
        /// The URL as resolved, whose `bodySHA256`, when it has one, the body must match.
        url: String,
    },
}

/// The body so far. A body that arrives in one piece is kept as that piece, with no copy.
enum Collected {
    Empty,
    One(Bytes),
    Many(BytesMut),
}

impl Verification {
    /// Everything that can be checked before the body: headers, timestamp window, declared
    /// length, and whether any key can check any of the signatures.
    pub(crate) fn begin(
        config: &Arc<Config>,
        head: Head<'_>,
        body_size_hint: Option<u64>,
    ) -> Result<Self, VerifyError> {
        let scheme = &config.scheme;
        let headers = head.headers;
        let SignedHeaders {
            id,
            timestamp,
            signatures,
            event_header,
            ..
        } = scheme.parse(headers)?;
        // A scheme that signs a part must have read it: signing an empty stand-in would verify
        // without the part, and a missing timestamp would skip the window.
        if config.signs_timestamp && timestamp.is_none() {
            return Err(VerifyError::MissingSignedPart { part: "timestamp" });
        }
        if config.signs_id && id.is_none() {
            return Err(VerifyError::MissingSignedPart { part: "id" });
        }
        if let Some(timestamp) = &timestamp {
            config.check_window(timestamp)?;
        }
        let url = match (config.signs_url, &config.public_url) {
            (false, _) => None,
            (true, None) => return Err(VerifyError::NoPublicUrl),
            (true, Some(public)) => Some(public.resolve(head.uri, headers)?),
        };
        let url = url.as_deref().map(|url| scheme.signed_url(url));
        // The body's exact size hint is what its `Content-Length` said (hyper, h2 and `Full`
        // all derive it so); the header itself is read only when there is no such hint.
        let declared = body_size_hint.or_else(|| declared_length(headers));
        if declared.is_some_and(|declared| declared > config.max_body_size as u64) {
            return Err(VerifyError::BodyTooLarge {
                limit: config.max_body_size,
            });
        }
        // Twilio's form is checked once the body is in, by fresh verifiers.
        let kept = config.form.then(|| signatures.clone());
        // No key checks any of the signatures: refused before a byte of the body is read.
        let mut verifier = config
            .keyring
            .verifier(signatures)
            .ok_or_else(|| config.mismatch())?;

        let values = PartValues {
            id,
            timestamp: timestamp.map(|timestamp| timestamp.raw()),
            url: url.as_deref(),
            method: Some(head.method.as_str()),
        };
        let check = match kept {
            None => {
                let text = |part| part_bytes(part, &values);
                config
                    .before_body
                    .iter()
                    .for_each(|part| verifier.update(text(part)));
                let suffix = config.after_body.iter().flat_map(text).copied().collect();
                Check::Streaming { verifier, suffix }
            }
            Some(signatures) => {
                let url = values.url.unwrap_or_default().to_owned();
                let urls = match config.signs_url {
                    true => signed_url_variants(&url),
                    false => vec![url.clone()],
                };
                let candidates = urls
                    .iter()
                    .map(|variant| {
                        let values = PartValues {
                            url: Some(variant),
                            ..values
                        };
                        let text = |parts: &[Part]| {
                            parts
                                .iter()
                                .flat_map(|part| part_bytes(part, &values))
                                .copied()
                                .collect()
                        };
                        (text(&config.before_body), text(&config.after_body))
                    })
                    .collect();
                Check::Form {
                    signatures,
                    candidates,
                    url,
                }
            }
        };

        let event_header = event_header
            .or_else(|| headers.get(scheme.event_header()?))
            .cloned();
        Ok(Self {
            config: Arc::clone(config),
            check,
            claims: Claims {
                id: id.map(Box::from),
                timestamp: timestamp.map(|timestamp| timestamp.unix_seconds()),
                event_header,
            },
            body: Collected::Empty,
            received: 0,
            // Never reserve much on a client's word alone.
            expected: declared.map_or(0, |n| {
                n.min(config.max_body_size.min(MAX_PREALLOCATION) as u64) as usize
            }),
        })
    }

    pub(crate) fn config(&self) -> &Arc<Config> {
        &self.config
    }

    /// Hashes and keeps one chunk, or refuses it when it takes the body past the limit.
    pub(crate) fn update(&mut self, mut chunk: impl Buf) -> Result<(), VerifyError> {
        let len = chunk.remaining();
        if len == 0 {
            return Ok(());
        }
        let limit = self.config.max_body_size;
        if len > limit - self.received {
            return Err(VerifyError::BodyTooLarge { limit });
        }
        self.received += len;
        let mut buffer = match std::mem::replace(&mut self.body, Collected::Empty) {
            Collected::Empty => {
                let bytes = chunk.copy_to_bytes(len);
                self.check.update(&bytes);
                self.body = Collected::One(bytes);
                return Ok(());
            }
            Collected::One(first) => {
                let mut buffer = BytesMut::with_capacity(self.expected.max(first.len() * 2));
                buffer.put_slice(&first);
                buffer
            }
            Collected::Many(buffer) => buffer,
        };
        while chunk.has_remaining() {
            let piece = chunk.chunk();
            self.check.update(piece);
            buffer.put_slice(piece);
            let n = piece.len();
            chunk.advance(n);
        }
        self.body = Collected::Many(buffer);
        Ok(())
    }

    /// The verdict: the proof if a key signed the bytes, with the configuration handed back
    /// either way for what comes next.
    pub(crate) fn finish(self) -> (Arc<Config>, Result<Verified, VerifyError>) {
        let Self {
            config,
            check,
            claims,
            body,
            ..
        } = self;
        let body = match body {
            Collected::Empty => Bytes::new(),
            Collected::One(bytes) => bytes,
            Collected::Many(buffer) => buffer.freeze(),
        };
        let key_index = match check.finish(&config, &body) {
            Ok(Some(key_index)) => key_index,
            Ok(None) => {
                let mismatch = config.mismatch();
                return (config, Err(mismatch));
            }
            Err(error) => return (config, Err(error)),
        };
        let verified = match config.scheme.timestamp_in_body() {
            false => Ok(Verified::new(
                Arc::clone(&config.scheme),
                claims,
                key_index,
                config.keyring.name(key_index).cloned(),
                body,
                None,
            )),
            true => body_timestamp(&config, claims, key_index, body),
        };
        (config, verified)
    }

    /// The configuration, for a request refused before it was finished.
    pub(crate) fn into_config(self) -> Arc<Config> {
        self.config
    }
}

impl Check {
    fn update(&mut self, bytes: &[u8]) {
        if let Self::Streaming { verifier, .. } = self {
            verifier.update(bytes);
        }
    }

    /// The key that signed the request, if one did.
    fn finish(self, config: &Config, body: &[u8]) -> Result<Option<usize>, VerifyError> {
        match self {
            Self::Streaming {
                mut verifier,
                suffix,
            } => {
                verifier.update(&suffix);
                Ok(verifier.finish())
            }
            Self::Form {
                signatures,
                candidates,
                url,
            } => {
                // A URL with `bodySHA256` signs the body through that hash, and nothing follows
                // the URL; any other request signs its body's fields, read as a form whatever
                // its `Content-Type` says (which nobody signs), as Twilio's SDKs do.
                let forms = match body_hash_matches(&url, body) {
                    Some(true) => vec![Vec::new()],
                    Some(false) => return Ok(None),
                    None => sorted_forms(body)
                        .map_err(|reason| VerifyError::MalformedBody { reason })?,
                };
                let signed = forms.iter().flat_map(|form| {
                    candidates
                        .iter()
                        .map(move |(before, after)| (before, form, after))
                });
                let mut signed = signed;
                Ok(signed.find_map(|(before, form, after)| {
                    let mut verifier = config.keyring.verifier(signatures.clone())?;
                    verifier.update(before);
                    verifier.update(form);
                    verifier.update(after);
                    verifier.finish()
                }))
            }
        }
    }
}

/// The proof for a scheme whose timestamp is a field of the signed body: read once the
/// signature has verified, and checked against the window like a header's.
fn body_timestamp(
    config: &Config,
    mut claims: Claims,
    key_index: usize,
    body: Bytes,
) -> Result<Verified, VerifyError> {
    let scheme = &config.scheme;
    let event = scheme.event(claims.event_header.as_ref(), &scheme.payload(&body));
    let raw = event
        .timestamp
        .as_deref()
        .ok_or(VerifyError::MissingSignedPart { part: "timestamp" })?;
    const FIELD: http::HeaderName = http::HeaderName::from_static("body-timestamp");
    let timestamp = Timestamp::parse_as(raw, scheme.timestamp_format(), &FIELD).map_err(|_| {
        VerifyError::MalformedBody {
            reason: "its timestamp field is not a timestamp",
        }
    })?;
    config.check_window(&timestamp)?;
    claims.timestamp = Some(timestamp.unix_seconds());
    Ok(Verified::new(
        Arc::clone(scheme),
        claims,
        key_index,
        config.keyring.name(key_index).cloned(),
        body,
        Some(event),
    ))
}

/// What the verifier reads of a request besides its body.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Head<'a> {
    pub(crate) method: &'a http::Method,
    pub(crate) uri: &'a http::Uri,
    pub(crate) headers: &'a HeaderMap,
}

impl<'a> Head<'a> {
    pub(crate) fn of<B>(request: &'a http::Request<B>) -> Self {
        Self {
            method: request.method(),
            uri: request.uri(),
            headers: request.headers(),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scheme::{GitHub, Message, StandardWebhooks};
    use crate::secret::Secret;

    fn head(headers: &HeaderMap) -> Head<'_> {
        static POST: http::Method = http::Method::POST;
        static ROOT: std::sync::LazyLock<http::Uri> =
            std::sync::LazyLock::new(|| http::Uri::from_static("/"));
        Head {
            method: &POST,
            uri: &ROOT,
            headers,
        }
    }

    fn config(scheme: impl Scheme, secret: &str) -> Arc<Config> {
        Arc::new(Config::new(Arc::new(scheme), &Secrets::from(secret)).unwrap())
    }

    #[test]
    fn a_declared_length_reserves_little_before_the_bytes_arrive() {
        let config = config(GitHub, "secret");
        let mut headers = GitHub
            .sign(&Secret::new("secret"), &Message::new(b"ab"))
            .unwrap();
        headers.insert("content-length", DEFAULT_MAX_BODY_SIZE.into());
        let mut verification = Verification::begin(&config, head(&headers), None).unwrap();
        verification.update(Bytes::from_static(b"a")).unwrap();
        verification.update(Bytes::from_static(b"b")).unwrap();
        match &verification.body {
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
        assert!(verification.finish().1.is_ok());
    }

    #[test]
    fn short_and_long_ids_verify_and_a_changed_id_does_not() {
        let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
        let config = config(StandardWebhooks, secret);
        let now = config.clock.unix_now();
        let body = b"{\"type\":\"ping\"}";
        for length in [1, 36, 47, 48, 49, 100, 300, 4000] {
            let id = "i".repeat(length);
            let message = Message::new(body).id(&id).timestamp(now);
            let headers = StandardWebhooks
                .sign(&Secret::new(secret), &message)
                .unwrap();
            let mut verification = Verification::begin(&config, head(&headers), None).unwrap();
            verification.update(Bytes::from_static(body)).unwrap();
            let (_, verified) = verification.finish();
            assert_eq!(verified.unwrap().id(), Some(id.as_str()), "{length}");

            // The same signature under an id one byte shorter must not verify.
            let mut headers = headers;
            headers.insert("webhook-id", id[1..].parse().unwrap());
            let mut verification = Verification::begin(&config, head(&headers), None).unwrap();
            verification.update(Bytes::from_static(body)).unwrap();
            assert!(verification.finish().1.is_err(), "{length}");
        }
    }
}
