//! Signature schemes: where a sender puts its signature, what it signs, and how it encodes it.
//!
//! Every scheme here is HMAC-SHA256. They differ in three places only:
//!
//! - which headers carry the signature, the timestamp and the delivery id, and how the
//!   signature header is laid out (see [`Scheme::parse`]);
//! - the signed content, a sequence of [`Part`]s around the body (see [`Scheme::signed_content`]);
//! - how a configured secret becomes the HMAC key (see [`Scheme::key`]).
//!
//! | scheme | signature header | signed content | encoding | timestamp |
//! |---|---|---|---|---|
//! | [`GitHub`] | `X-Hub-Signature-256: sha256=<sig>` | body | hex | none |
//! | [`Stripe`] | `Stripe-Signature: t=<ts>,v1=<sig>[,v1=<sig>…]` | `{t}.{body}` | hex | `t` |
//! | [`Slack`] | `X-Slack-Signature: v0=<sig>` | `v0:{ts}:{body}` | hex | `X-Slack-Request-Timestamp` |
//! | [`StandardWebhooks`] | `webhook-signature: v1,<sig> [v1,<sig>…]` | `{id}.{ts}.{body}` | base64 | `webhook-timestamp` |
//! | [`Shopify`] | `X-Shopify-Hmac-Sha256: <sig>` | body | base64 | none |
//! | [`Generic`] | `X-Webhook-Signature: sha256=<sig>` | `{ts}.{body}` | hex | `X-Webhook-Timestamp` |
//! | [`CustomScheme`] | yours | yours | hex or base64 | optional |
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

use crate::error::{ConfigError, InvalidSecret, SignError, VerifyError};
use crate::secret::Secret;

mod custom;
mod event;
mod generic;
mod github;
mod parse;
mod shopify;
mod slack;
mod standard;
mod stripe;

pub use custom::CustomScheme;
pub use event::EventInfo;
pub use generic::Generic;
pub use github::GitHub;
pub use parse::{Encoding, MAX_SIGNATURE_ENTRIES, Signatures, Tag, Timestamp};
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
/// [`Generic`] and [`CustomScheme`]; implement this trait only for a layout that
/// [`CustomScheme`] cannot express. The verifier does the rest: it checks the timestamp window,
/// streams the body through one pre-keyed HMAC-SHA256 per secret, and compares in constant time.
pub trait Scheme: Send + Sync + 'static {
    /// A short lowercase name (`"github"`), recorded in [`Verified`](crate::Verified) and logs.
    fn name(&self) -> &str;

    /// The signed content, in order, with exactly one [`Part::Body`]: a scheme without it, or
    /// with it twice, is refused by both layers and by [`sign`](Self::sign).
    fn signed_content(&self) -> &[Part];

    /// Reads the signatures, timestamp and id from the headers.
    ///
    /// # Errors
    ///
    /// A missing or malformed header, or a header with no signature of a supported version.
    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError>;

    /// Writes the signature headers (and the id, timestamp and event type headers, where the
    /// scheme has them) for an outgoing message whose HMAC tag is `tag`.
    ///
    /// # Errors
    ///
    /// A field the scheme needs is missing from `message` or cannot be a header value, or the
    /// timestamp is negative.
    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        tag: &Tag,
    ) -> Result<(), SignError>;

    /// Turns a configured secret into the HMAC key.
    ///
    /// The default uses the secret's bytes as they are, after refusing values that look pasted
    /// wrong (empty, or surrounded by whitespace).
    ///
    /// # Errors
    ///
    /// The secret cannot be a key for this scheme.
    fn key(&self, secret: &Secret) -> Result<Zeroizing<Vec<u8>>, InvalidSecret> {
        parse::check_plain_secret(secret)?;
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
    /// [`Verified`](crate::Verified) calls it on first use, at most once per request, never on
    /// the layer's path. Implementations read only the fields they need.
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
    /// field the scheme signs or sends, or its timestamp, which the scheme sends, is negative.
    fn sign(&self, secret: &Secret, message: &Message<'_>) -> Result<HeaderMap, SignError> {
        body_position(self).map_err(SignError::Config)?;
        let mac = crate::keyring::new_mac(&self.key(secret)?);
        let mut headers = HeaderMap::new();
        crate::keyring::write_signed(self, mac, message, &mut headers)?;
        Ok(headers)
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
        tag: &Tag,
    ) -> Result<(), SignError> {
        (**self).write_headers(headers, message, tag)
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

/// A header value the verifying side can read back: visible ASCII (and tabs) only. `HeaderValue`
/// itself also takes bytes above 0x7F, which every verifier here refuses.
pub(crate) fn header_value(name: &HeaderName, value: &str) -> Result<HeaderValue, SignError> {
    HeaderValue::from_str(value)
        .ok()
        .filter(|value| value.to_str().is_ok())
        .ok_or_else(|| SignError::InvalidHeaderValue {
            header: name.clone(),
        })
}

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
