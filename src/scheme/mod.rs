//! Signature schemes: where a sender puts its signature, what it signs, and how it encodes it.
//!
//! Schemes differ in four places only:
//!
//! - which headers carry the signature, the timestamp and the delivery id, and how the
//!   signature header is laid out (see [`Scheme::parse`]);
//! - the signed content, a sequence of [`Part`]s around the body (see [`Scheme::signed_content`]);
//! - the [algorithm](crate::crypto::Algorithm) that checks the signature;
//! - how a configured secret or public key becomes a key (see [`Scheme::verifying_key`]).
//!
//! | scheme | signature header | signed content | encoding | timestamp |
//! |---|---|---|---|---|
//! | [`GitHub`] | `X-Hub-Signature-256: sha256=<sig>` | body | hex | none |
//! | [`Stripe`] | `Stripe-Signature: t=<ts>,v1=<sig>[,v1=<sig>…]` | `{t}.{body}` | hex | `t` |
//! | [`Slack`] | `X-Slack-Signature: v0=<sig>` | `v0:{ts}:{body}` | hex | `X-Slack-Request-Timestamp` |
//! | [`StandardWebhooks`] | `webhook-signature: v1,<sig> [v1,<sig>…]` | `{id}.{ts}.{body}` | base64 | `webhook-timestamp` |
//! | [`Shopify`] | `X-Shopify-Hmac-Sha256: <sig>` | body | base64 | none |
//! | [`Generic`] | `X-Webhook-Signature: sha256=<sig>` | `{ts}.{body}` | hex | `X-Webhook-Timestamp` |
//! | [`StandardWebhooks`] `v1a` | `webhook-signature: v1a,<sig>` (Ed25519) | `{id}.{timestamp}.{body}` | base64 | `webhook-timestamp` |
//! | [`Discord`] | `X-Signature-Ed25519: <sig>` (Ed25519) | `{timestamp}{body}` | hex | `X-Signature-Timestamp` |
//! | [`SendGrid`] | `X-Twilio-Email-Event-Webhook-Signature` (ECDSA P-256) | `{timestamp}{body}` | base64 DER | `X-Twilio-Email-Event-Webhook-Timestamp` |
//! | [`CustomScheme`] | yours | yours | hex, base64 or base64url | optional |
//!
//! All but Discord and SendGrid use HMAC-SHA256 with a shared [`Secret`]; those two, and
//! Standard Webhooks' `v1a`, verify with a [`PublicKey`](crate::crypto::PublicKey).
//!
//! The same definitions sign outgoing webhooks: [`Scheme::sign`] produces the headers for a body.
//!
//! Each scheme also says what a delivery is about ([`Scheme::event`]): GitHub's
//! `X-GitHub-Event` plus the body's `action` (`issues.opened`), Stripe's and Standard Webhooks'
//! body `type`, Slack's `event.type` (or `type`), Shopify's `X-Shopify-Topic` with dots for
//! slashes, the generic scheme's body `event`, and for a [`CustomScheme`] a header or a JSON
//! field of your choice. [`Verified::event_type`](crate::Verified::event_type) resolves it on
//! first use; the layer itself never parses the body.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use zeroize::Zeroizing;

use crate::crypto::{Algorithm, NamedKey, Signature, Signatures, SigningKey, VerifyingKey};
use crate::error::{ConfigError, InvalidSecret, SignError, VerifyError};
use crate::secret::{Key, Secret, Secrets};

mod custom;
mod discord;
mod event;
// Unused until the Twilio scheme lands; it builds on this.
#[allow(dead_code)]
mod form;
mod generic;
mod github;
mod headers;
mod key_pair;
mod sendgrid;
mod shopify;
mod slack;
mod standard;
mod stripe;
// Unused until the Twilio and HubSpot schemes land; they build on this.
#[allow(dead_code)]
mod url;

pub use custom::CustomScheme;
pub use discord::Discord;
pub use event::EventInfo;
pub use generic::{Envelope, Generic, Resource};
pub use github::GitHub;
pub use headers::Timestamp;
pub use sendgrid::SendGrid;
pub use shopify::Shopify;
pub use slack::Slack;
pub use standard::StandardWebhooks;
pub use stripe::Stripe;

/// One piece of the content a scheme signs.
///
/// A scheme's signed content is a sequence of parts with exactly one [`Part::Body`], e.g.
/// Standard Webhooks signs `[Id, Literal("."), Timestamp, Literal("."), Body]`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Part {
    /// The delivery id, as sent in its header.
    Id,
    /// The timestamp, exactly as sent (its digits, not a re-formatted number).
    Timestamp,
    /// The raw request body.
    Body,
    /// Fixed text, such as a `.` separator or Slack's `v0:` version tag.
    Literal(Cow<'static, str>),
}

/// What a scheme reads from the request headers, before any body byte is read.
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct SignedHeaders<'h> {
    /// The delivery id, when the scheme has one in its headers.
    pub id: Option<&'h str>,
    /// The timestamp, when the scheme has one.
    pub timestamp: Option<Timestamp<'h>>,
    /// Every signature of a supported version found in the header.
    pub signatures: Signatures,
    /// The value of the header named by the scheme's [`event_header`](Scheme::event_header)
    /// (and no other: the layer keeps it as that header's value), for a scheme that reads it
    /// along with the others; when it is `None` the layer looks the header up itself.
    pub event_header: Option<&'h HeaderValue>,
}

impl<'h> SignedHeaders<'h> {
    /// Headers that carry only signatures.
    pub fn new(signatures: Signatures) -> Self {
        Self {
            id: None,
            timestamp: None,
            signatures,
            event_header: None,
        }
    }

    /// Adds the delivery id.
    #[must_use]
    pub fn with_id(mut self, id: &'h str) -> Self {
        self.id = Some(id);
        self
    }

    /// Adds the timestamp.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: Timestamp<'h>) -> Self {
        self.timestamp = Some(timestamp);
        self
    }

    /// Adds the value of the event header, if the request has one (see
    /// [`SignedHeaders::event_header`]).
    #[must_use]
    pub fn with_event_header(mut self, value: Option<&'h HeaderValue>) -> Self {
        self.event_header = value;
        self
    }
}

/// An outgoing webhook to sign: the body, and the id and timestamp for schemes that sign them.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
/// use tower_webhook::Secret;
///
/// let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
/// let message = Message::new(br#"{"test": 2432232314}"#)
///     .id("msg_p5jXN8AQM9LWM0D4loKWxJek")
///     .timestamp(1614265330);
/// let headers = StandardWebhooks.sign(&secret, &message)?;
/// assert_eq!(
///     headers["webhook-signature"],
///     "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
/// );
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Message<'a> {
    /// The exact body bytes that will be sent.
    pub body: &'a [u8],
    /// The delivery id (schemes that have no id header ignore it).
    pub id: Option<&'a str>,
    /// Unix seconds (schemes without a timestamp ignore it).
    pub timestamp: Option<i64>,
    /// The event type, for schemes that send it in a header (GitHub, Shopify).
    pub event_type: Option<&'a str>,
}

impl<'a> Message<'a> {
    /// A message with this body and no id, timestamp or event type yet.
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            body,
            id: None,
            timestamp: None,
            event_type: None,
        }
    }

    /// Sets the delivery id.
    #[must_use]
    pub fn id(mut self, id: &'a str) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the timestamp, in Unix seconds. A scheme that sends a timestamp refuses to sign a
    /// negative one ([`SignError::NegativeTimestamp`]).
    #[must_use]
    pub fn timestamp(mut self, unix_seconds: i64) -> Self {
        self.timestamp = Some(unix_seconds);
        self
    }

    /// Sets the event type (e.g. `issues.opened`), for schemes that carry it in a header.
    #[must_use]
    pub fn event_type(mut self, event_type: &'a str) -> Self {
        self.event_type = Some(event_type);
        self
    }
}

/// A webhook signature scheme.
///
/// The crate ships [`GitHub`], [`Stripe`], [`Slack`], [`StandardWebhooks`], [`Shopify`],
/// [`Generic`], [`Discord`], [`SendGrid`] and [`CustomScheme`]; implement this trait only for a
/// layout that [`CustomScheme`] cannot express. The verifier does the rest: it checks the
/// timestamp window, streams the signed bytes through every key that can check one of the
/// request's signatures, and compares in constant time.
pub trait Scheme: Send + Sync + 'static {
    /// A short lowercase name (`"github"`), recorded in [`Verified`](crate::Verified) and logs.
    fn name(&self) -> &str;

    /// The signed content, in order, with exactly one [`Part::Body`]: a scheme without it, or
    /// with it twice, is refused by both layers and by [`sign`](Self::sign).
    fn signed_content(&self) -> &[Part];

    /// Reads the signatures, timestamp and id from the headers. It must read back what
    /// [`write_headers`](Self::write_headers) writes: signing checks that it does.
    ///
    /// # Errors
    ///
    /// A missing or malformed header, or a header with no signature of a supported version.
    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError>;

    /// Writes the signature headers (and the id, timestamp and event type headers, where the
    /// scheme has them) for an outgoing message whose signature is `signature`.
    ///
    /// # Errors
    ///
    /// A field the scheme needs is missing from `message` or cannot be a header value, or the
    /// timestamp is negative.
    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError>;

    /// The algorithm the scheme's keys sign with (default HMAC-SHA256); the default
    /// [`verifying_key`](Self::verifying_key) and [`signing_key`](Self::signing_key) follow it.
    /// A scheme with two (Standard Webhooks' `v1` and `v1a`) overrides those instead.
    fn algorithm(&self) -> Algorithm {
        Algorithm::HmacSha256
    }

    /// Turns a configured secret or public key into the key that checks signatures.
    ///
    /// The default follows [`algorithm`](Self::algorithm): for an HMAC, shared secrets only,
    /// through [`key`](Self::key); for a key pair, public keys only (see [`Key::key_pair`]).
    ///
    /// # Errors
    ///
    /// The key cannot be used with this scheme; the reason follows "secret #1 " or
    /// "public key #1 " in the message.
    fn verifying_key(&self, key: &Key) -> Result<VerifyingKey, InvalidSecret> {
        let algorithm = self.algorithm();
        match key {
            _ if !algorithm.is_hmac() => key.key_pair(algorithm),
            Key::Secret(secret) => Ok(VerifyingKey::hmac(algorithm, &self.key(secret)?)),
            Key::Public(_) => Err(InvalidSecret::new(
                "cannot be used: this scheme verifies with shared secrets",
            )),
        }
    }

    /// Turns a configured secret into the key that signs. The default follows
    /// [`algorithm`](Self::algorithm): an HMAC key from [`key`](Self::key), or the private key
    /// the secret holds.
    ///
    /// # Errors
    ///
    /// The secret cannot be used to sign with this scheme.
    fn signing_key(&self, secret: &Secret) -> Result<SigningKey, InvalidSecret> {
        let algorithm = self.algorithm();
        if algorithm.is_hmac() {
            Ok(SigningKey::hmac(algorithm, &self.key(secret)?))
        } else {
            SigningKey::private(algorithm, secret.expose()).map_err(InvalidSecret::new)
        }
    }

    /// Turns a configured secret into the HMAC key.
    ///
    /// The default uses the secret's bytes as they are, after refusing values that look pasted
    /// wrong (empty, or surrounded by whitespace).
    ///
    /// # Errors
    ///
    /// The secret cannot be a key for this scheme.
    fn key(&self, secret: &Secret) -> Result<Zeroizing<Vec<u8>>, InvalidSecret> {
        headers::check_plain_secret(secret)?;
        Ok(Zeroizing::new(secret.expose().to_vec()))
    }

    /// Checks the scheme's own configuration; the layer calls it once, when it is built.
    ///
    /// # Errors
    ///
    /// The scheme cannot work as configured (e.g. it signs a timestamp it has no header for).
    fn check(&self) -> Result<(), ConfigError> {
        Ok(())
    }

    /// The header that carries the delivery id, when the scheme sends one (`webhook-id`,
    /// `X-GitHub-Delivery`): the header [`write_headers`](Self::write_headers) puts
    /// [`Message::id`] in.
    fn id_header(&self) -> Option<&HeaderName> {
        None
    }

    /// The header that names the event type, when the scheme has one (`X-GitHub-Event`).
    ///
    /// The layer keeps that header's value (a reference-counted copy; nothing is parsed) so that
    /// [`event`](Self::event) can read it after the request has moved on. A scheme that reads
    /// it in [`parse`](Self::parse) anyway can hand it over in
    /// [`SignedHeaders::event_header`]; otherwise the layer looks it up.
    fn event_header(&self) -> Option<&HeaderName> {
        None
    }

    /// Finds the event type, and the delivery id when the scheme keeps it in the body, in a
    /// verified delivery. `header` is the value of [`event_header`](Self::event_header);
    /// `payload` is the JSON document the delivery carries (see [`payload`](Self::payload)).
    ///
    /// [`Verified`](crate::Verified) calls it on first use, at most once per request: never
    /// while verifying, and after it only when asked (a handler, or a replay guard keying on an
    /// id from the body). Implementations read only the fields they need.
    fn event(&self, header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        let _ = (header, payload);
        EventInfo::new()
    }

    /// The JSON document inside a verified body: the body itself, unless the scheme has
    /// another encoding (GitHub's form-encoded deliveries carry it in a `payload=` field).
    fn payload<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        Cow::Borrowed(body)
    }

    /// Signs `message` with `secret` and returns the headers to send with it.
    ///
    /// See [`Message`] for an example.
    ///
    /// # Errors
    ///
    /// The scheme is misconfigured (its [`check`](Self::check) fails, or its signed content does
    /// not hold the body exactly once), the secret is not usable with it, the message lacks a
    /// field the scheme signs or sends, its timestamp, which the scheme sends, is negative, or a
    /// value cannot travel in a header. [`SignError::Unreadable`] when the scheme's own
    /// [`parse`](Self::parse) does not read back the signature, id and timestamp it wrote.
    fn sign(&self, secret: &Secret, message: &Message<'_>) -> Result<HeaderMap, SignError> {
        // The scheme's own check first: a misconfigured scheme says so, not that the key is odd.
        body_position(self).map_err(SignError::Config)?;
        let key = self.signing_key(secret)?;
        let mut headers = HeaderMap::new();
        sign_into(self, &key, message, &mut headers)?;
        Ok(headers)
    }
}

/// Signs `message` with `key` and writes the scheme's headers for it: the one signing path,
/// shared by [`Scheme::sign`] and `SignRequestLayer`.
///
/// The headers are then read back with the scheme's own [`parse`](Scheme::parse): the signature,
/// and the id and timestamp where they are signed, must be the ones made, so that a scheme whose
/// writer and reader disagree fails here, at the sender, and not at every receiver.
pub(crate) fn sign_into<S: Scheme + ?Sized>(
    scheme: &S,
    key: &SigningKey,
    message: &Message<'_>,
    headers: &mut HeaderMap,
) -> Result<(), SignError> {
    // The callers ran `body_position` once already: `Scheme::sign` per call, `SignRequestLayer`
    // when it was built. Here the content is only read.
    let content = scheme.signed_content();
    let id = match content.contains(&Part::Id) {
        true => Some(require_id(message, scheme.name())?),
        false => None,
    };
    let timestamp = match content.contains(&Part::Timestamp) {
        true => Some(require_timestamp(message, scheme.name())?.to_string()),
        false => None,
    };
    let mut signed = Vec::with_capacity(message.body.len() + 64);
    for part in content {
        match part {
            Part::Body => signed.extend_from_slice(message.body),
            part => signed.extend_from_slice(part_bytes(part, id, timestamp.as_deref())),
        }
    }
    let signature = key.sign(&signed);
    scheme.write_headers(headers, message, &signature)?;

    // A receiver rebuilds the signed bytes from the body and from the id and timestamp it
    // reads: reading back the same signature, id and timestamp (where signed) means it will
    // rebuild exactly what was signed.
    let unreadable = |reason: &str| SignError::Unreadable {
        scheme: scheme.name().to_owned(),
        reason: reason.to_owned(),
    };
    let read = scheme
        .parse(headers)
        .map_err(|error| unreadable(&error.to_string()))?;
    if !read.signatures.as_slice().contains(&signature) {
        return Err(unreadable("the signature written is not the one read back"));
    }
    if id.is_some() && read.id != id {
        return Err(unreadable("the id written is not the one signed"));
    }
    if timestamp.is_some() && read.timestamp.map(|t| t.raw()) != timestamp.as_deref() {
        return Err(unreadable("the timestamp written is not the one signed"));
    }
    Ok(())
}

// Here rather than beside `SecretFormat`, so that secrets need not know schemes.
impl crate::secret::SecretFormat {
    /// The format a scheme's own provider uses: [`Whsec`](Self::Whsec) for Standard Webhooks
    /// and Stripe, [`Hex`](Self::Hex) for the others.
    ///
    /// ```
    /// use tower_webhook::scheme::{GitHub, StandardWebhooks};
    /// use tower_webhook::SecretFormat;
    ///
    /// assert_eq!(SecretFormat::for_scheme(&StandardWebhooks), SecretFormat::Whsec);
    /// assert_eq!(SecretFormat::for_scheme(&GitHub), SecretFormat::Hex);
    /// ```
    pub fn for_scheme(scheme: &dyn Scheme) -> Self {
        match scheme.name() {
            "standard-webhooks" | "stripe" => Self::Whsec,
            _ => Self::Hex,
        }
    }
}

/// Every configured key turned into a verifying key by `scheme`, in order, with its name: the
/// check both the verifying and the signing layer make when they are built. An error names the
/// key by position and name, never by value.
pub(crate) fn verifying_keys<S: Scheme + ?Sized>(
    scheme: &S,
    keys: &Secrets,
) -> Result<Vec<NamedKey>, ConfigError> {
    if keys.is_empty() {
        return Err(ConfigError::NoSecrets);
    }
    keys.iter()
        .enumerate()
        .map(|(index, key)| {
            scheme
                .verifying_key(key)
                .map(|verifying| (verifying, key.name_arc()))
                .map_err(|reason| key_error(index, key, reason))
        })
        .collect()
}

/// The error for the key at `index`, named by position and name.
pub(crate) fn key_error(index: usize, key: &Key, reason: InvalidSecret) -> ConfigError {
    let which = match key.name() {
        Some(name) => format!("#{} ({name:?})", index + 1),
        None => format!("#{}", index + 1),
    };
    match key {
        Key::Secret(_) => ConfigError::InvalidSecret { which, reason },
        Key::Public(_) => ConfigError::InvalidPublicKey { which, reason },
    }
}

/// The bytes a part other than the body stands for, on both the signing and the verifying side.
pub(crate) fn part_bytes<'a>(
    part: &'a Part,
    id: Option<&'a str>,
    timestamp: Option<&'a str>,
) -> &'a [u8] {
    match part {
        Part::Literal(text) => text.as_bytes(),
        Part::Timestamp => timestamp.unwrap_or_default().as_bytes(),
        Part::Id => id.unwrap_or_default().as_bytes(),
        Part::Body => &[],
    }
}

/// Where `{body}` stands in the scheme's signed content, once the scheme has passed its own
/// [`check`](Scheme::check): every side that signs or verifies asks this first, so that no
/// scheme can sign without the body (its signature would cover none of it) or count it twice.
pub(crate) fn body_position<S: Scheme + ?Sized>(scheme: &S) -> Result<usize, ConfigError> {
    scheme.check()?;
    let content = scheme.signed_content();
    let invalid = |reason| ConfigError::InvalidSignedContent {
        template: format!("{content:?}"),
        reason,
    };
    let mut bodies = content
        .iter()
        .enumerate()
        .filter(|(_, part)| **part == Part::Body);
    match (bodies.next(), bodies.next()) {
        (Some((at, _)), None) => Ok(at),
        (None, _) => Err(invalid("`{body}` is missing")),
        (Some(_), Some(_)) => Err(invalid("`{body}` may appear only once")),
    }
}

impl<T: Scheme + ?Sized> Scheme for std::sync::Arc<T> {
    fn name(&self) -> &str {
        (**self).name()
    }
    fn signed_content(&self) -> &[Part] {
        (**self).signed_content()
    }
    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        (**self).parse(headers)
    }
    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        (**self).write_headers(headers, message, signature)
    }
    fn algorithm(&self) -> Algorithm {
        (**self).algorithm()
    }
    fn verifying_key(&self, key: &Key) -> Result<VerifyingKey, InvalidSecret> {
        (**self).verifying_key(key)
    }
    fn signing_key(&self, secret: &Secret) -> Result<SigningKey, InvalidSecret> {
        (**self).signing_key(secret)
    }
    fn key(&self, secret: &Secret) -> Result<Zeroizing<Vec<u8>>, InvalidSecret> {
        (**self).key(secret)
    }
    fn check(&self) -> Result<(), ConfigError> {
        (**self).check()
    }
    fn id_header(&self) -> Option<&HeaderName> {
        (**self).id_header()
    }
    fn event_header(&self) -> Option<&HeaderName> {
        (**self).event_header()
    }
    fn event(&self, header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        (**self).event(header, payload)
    }
    fn payload<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        (**self).payload(body)
    }
}

pub(crate) use headers::header_value;

pub(crate) fn require_id<'a>(message: &Message<'a>, scheme: &str) -> Result<&'a str, SignError> {
    message.id.ok_or_else(|| SignError::MissingField {
        scheme: scheme.to_owned(),
        field: "id",
    })
}

pub(crate) fn require_timestamp(message: &Message<'_>, scheme: &str) -> Result<i64, SignError> {
    match message.timestamp {
        Some(timestamp) if timestamp < 0 => Err(SignError::NegativeTimestamp { timestamp }),
        Some(timestamp) => Ok(timestamp),
        None => Err(SignError::MissingField {
            scheme: scheme.to_owned(),
            field: "timestamp",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::SecretFormat;

    #[cfg(feature = "sign")]
    #[test]
    fn generated_secrets_differ_and_work_with_every_scheme() {
        let one = Secret::generate().unwrap();
        let two = Secret::generate().unwrap();
        assert_ne!(one.expose(), two.expose());
        assert!(!format!("{one:?}").contains(&*String::from_utf8_lossy(one.expose())));
        let schemes: [&dyn Scheme; 6] = [
            &GitHub,
            &Stripe,
            &Slack,
            &StandardWebhooks,
            &Shopify,
            &Generic,
        ];
        for scheme in schemes {
            for format in [SecretFormat::Whsec, SecretFormat::Hex] {
                if scheme.name() == "standard-webhooks" && format == SecretFormat::Hex {
                    continue; // hex is not base64 of 32 bytes
                }
                let secret = Secret::generate_as(format).unwrap();
                assert!(scheme.key(&secret).is_ok(), "{} {format:?}", scheme.name());
            }
            let own = Secret::generate_as(SecretFormat::for_scheme(scheme)).unwrap();
            assert!(scheme.key(&own).is_ok(), "{}", scheme.name());
        }
        let key = StandardWebhooks.key(&one).unwrap();
        assert_eq!(key.len(), 32);
    }
}
