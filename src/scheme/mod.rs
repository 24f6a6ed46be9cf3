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
//! # Presets
//!
//! Besides those, every common sender has a preset, each a unit struct documented with its
//! headers, signed bytes, window, event type and id, and its provider's page:
//! [`GitHubSha1`], [`Svix`], [`Clerk`], [`Resend`], [`Twilio`], [`TwilioSharedKey`], [`Square`], [`HubSpot`],
//! [`Paddle`], [`PagerDuty`], [`Calendly`], [`WorkOs`], [`Twitch`], [`Zoom`], [`Linear`],
//! [`Meta`], [`Intercom`], [`Vercel`], [`Bitbucket`], [`Typeform`], [`LemonSqueezy`],
//! [`Sentry`], [`GitLab`], [`Paystack`], [`WooCommerce`] and [`Mux`]. Most are data: a
//! [`CustomScheme`] built once, which `to_custom()` hands you to adjust. [`preset`] finds any
//! of them by name, and [`PRESETS`] lists the names.
//!
//! Some sign the URL they call (Square, HubSpot, Twilio): tell the layer that URL with
//! [`public_url`](crate::VerifySignatureLayer::public_url). Some check an endpoint before
//! they deliver (Slack, Twitch, Zoom, Discord, Meta): the layer answers them itself (see
//! [`Scheme::handshake`]).
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

/// Implements [`Scheme`] for a preset's unit struct by handing every method to the scheme
/// `$target()` returns (a `&'static` one, built once).
macro_rules! delegate_scheme {
    ($ty:ty => $target:expr) => {
        impl $crate::scheme::Scheme for $ty {
            fn name(&self) -> &str {
                $target().name()
            }
            fn signed_content(&self) -> &[$crate::scheme::Part] {
                $target().signed_content()
            }
            fn parse<'h>(
                &self,
                headers: &'h ::http::HeaderMap,
            ) -> Result<$crate::scheme::SignedHeaders<'h>, $crate::VerifyError> {
                $target().parse(headers)
            }
            fn write_headers(
                &self,
                headers: &mut ::http::HeaderMap,
                message: &$crate::scheme::Message<'_>,
                signature: &$crate::crypto::Signature,
            ) -> Result<(), $crate::SignError> {
                $target().write_headers(headers, message, signature)
            }
            fn timestamp_format(&self) -> $crate::scheme::TimestampFormat {
                $target().timestamp_format()
            }
            fn tolerance(&self) -> $crate::scheme::Tolerance {
                $target().tolerance()
            }
            fn signed_url<'u>(&self, url: &'u str) -> ::std::borrow::Cow<'u, str> {
                $target().signed_url(url)
            }
            fn timestamp_in_body(&self) -> bool {
                $target().timestamp_in_body()
            }
            fn handshake(
                &self,
                probe: &$crate::scheme::Probe<'_>,
            ) -> Option<::http::Response<::bytes::Bytes>> {
                $target().handshake(probe)
            }
            fn unsigned_handshake(
                &self,
                method: &::http::Method,
                uri: &::http::Uri,
                headers: &::http::HeaderMap,
            ) -> Option<::http::Response<::bytes::Bytes>> {
                $target().unsigned_handshake(method, uri, headers)
            }
            fn algorithm(&self) -> $crate::crypto::Algorithm {
                $target().algorithm()
            }
            fn verifying_key(
                &self,
                key: &$crate::Key,
            ) -> Result<$crate::crypto::VerifyingKey, $crate::InvalidSecret> {
                $target().verifying_key(key)
            }
            fn signing_key(
                &self,
                secret: &$crate::Secret,
            ) -> Result<$crate::crypto::SigningKey, $crate::InvalidSecret> {
                $target().signing_key(secret)
            }
            fn key(
                &self,
                secret: &$crate::Secret,
            ) -> Result<::zeroize::Zeroizing<Vec<u8>>, $crate::InvalidSecret> {
                $target().key(secret)
            }
            fn check(&self) -> Result<(), $crate::ConfigError> {
                $target().check()
            }
            fn id_header(&self) -> Option<&::http::HeaderName> {
                $target().id_header()
            }
            fn event_header(&self) -> Option<&::http::HeaderName> {
                $target().event_header()
            }
            fn event(
                &self,
                header: Option<&::http::HeaderValue>,
                payload: &[u8],
            ) -> $crate::scheme::EventInfo {
                $target().event(header, payload)
            }
            fn payload<'b>(&self, body: &'b [u8]) -> ::std::borrow::Cow<'b, [u8]> {
                $target().payload(body)
            }
        }
    };
}

mod custom;
mod discord;
mod event;
mod form;
mod generic;
mod github;
mod handshake;
mod headers;
mod key_pair;
mod named;
mod presets;
mod sendgrid;
mod shopify;
mod slack;
mod standard;
mod stripe;
mod timestamp;
mod url;
pub use url::url_for_body;

pub use custom::{Answer, CustomScheme};
pub use discord::Discord;
pub use event::EventInfo;
pub use generic::{Envelope, Generic, Resource};
pub use github::GitHub;
pub use handshake::Probe;
pub use named::{PRESETS, preset};
pub use presets::{
    Bitbucket, Calendly, GitHubSha1, GitLab, HubSpot, Intercom, LemonSqueezy, Linear, Meta, Mux,
    Paddle, PagerDuty, Paystack, Sentry, Square, Twilio, TwilioSharedKey, Twitch, Typeform, Vercel,
    WooCommerce, WorkOs, Zoom,
};
pub use sendgrid::SendGrid;
pub use shopify::Shopify;
pub use slack::Slack;
pub use standard::{Clerk, Resend, StandardWebhooks, Svix};
pub use stripe::Stripe;
pub use timestamp::{Timestamp, TimestampFormat, Tolerance};

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
    /// The URL the sender called, as the layer is configured to know it (see
    /// [`VerifySignatureLayer::public_url`](crate::VerifySignatureLayer::public_url)): Square
    /// and HubSpot sign it.
    Url,
    /// The request method, in capitals (`POST`): HubSpot signs it.
    Method,
    /// Twilio's canonical form, in place of the body: for a form post, every field, sorted by
    /// name (and a name's distinct values sorted), written name then value; for any other
    /// body nothing, and the URL's `bodySHA256` must be the body's SHA-256. With it the body
    /// is read whole before it is checked, and `{url}` is tried in each form Twilio's SDKs
    /// sign: as given, with its port removed or the default one added, and as a WHATWG URL
    /// parser writes it.
    /// <https://www.twilio.com/docs/usage/webhooks/webhooks-security>
    Form,
}

impl Part {
    /// Whether the part stands for the body: [`Body`](Self::Body) or [`Form`](Self::Form).
    pub fn is_body(&self) -> bool {
        matches!(self, Self::Body | Self::Form)
    }
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
    /// The URL the message is sent to, for schemes that sign it (Square, HubSpot, Twilio).
    pub url: Option<&'a str>,
    /// The request method, for schemes that sign it (default `POST`).
    pub method: Option<&'a str>,
    /// The body's media type, for schemes that sign a form's fields rather than its bytes
    /// (Twilio; default `application/x-www-form-urlencoded`).
    pub content_type: Option<&'a str>,
}

impl<'a> Message<'a> {
    /// A message with this body and no id, timestamp or event type yet.
    pub fn new(body: &'a [u8]) -> Self {
        Self {
            body,
            id: None,
            timestamp: None,
            event_type: None,
            url: None,
            method: None,
            content_type: None,
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

    /// Sets the URL the message is sent to, for schemes that sign it.
    #[must_use]
    pub fn url(mut self, url: &'a str) -> Self {
        self.url = Some(url);
        self
    }

    /// Sets the request method, for schemes that sign it (default `POST`).
    #[must_use]
    pub fn method(mut self, method: &'a str) -> Self {
        self.method = Some(method);
        self
    }

    /// Sets the body's media type, for schemes that sign a form's fields.
    #[must_use]
    pub fn content_type(mut self, content_type: &'a str) -> Self {
        self.content_type = Some(content_type);
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

    /// How the scheme writes its timestamp (default Unix seconds): signing writes it so, and
    /// a timestamp in the body ([`timestamp_in_body`](Self::timestamp_in_body)) is read so.
    fn timestamp_format(&self) -> TimestampFormat {
        TimestampFormat::Seconds
    }

    /// The window a timestamp must fall in unless the layer is given another: the provider's
    /// documented one, five minutes either way by default.
    fn tolerance(&self) -> Tolerance {
        Tolerance::DEFAULT
    }

    /// The URL as the scheme signs it, given the URL the sender called: itself, unless the
    /// provider rewrites it first (HubSpot decodes a few escapes).
    fn signed_url<'u>(&self, url: &'u str) -> Cow<'u, str> {
        Cow::Borrowed(url)
    }

    /// Whether the timestamp is a field of the signed body (Linear's `webhookTimestamp`)
    /// rather than a header. [`event`](Self::event) then reads it into
    /// [`EventInfo::timestamp`], and the layer checks the window once the signature has
    /// verified, refusing a delivery without it.
    fn timestamp_in_body(&self) -> bool {
        false
    }

    /// The answer to a provider checking the endpoint (Slack's `url_verification`, Twitch's
    /// `webhook_callback_verification`, Zoom's `endpoint.url_validation`), for a request whose
    /// signature has verified; `None` for an ordinary delivery. The layer sends the answer
    /// itself and the inner service never sees the check (see
    /// [`VerifySignatureLayer::answer_handshakes`](crate::VerifySignatureLayer::answer_handshakes)).
    fn handshake(&self, probe: &Probe<'_>) -> Option<http::Response<bytes::Bytes>> {
        let _ = probe;
        None
    }

    /// The answer to an unsigned check the provider makes before it signs anything (Meta's
    /// `GET ?hub.mode=subscribe&hub.verify_token=…`), from the request head alone; `None` to
    /// verify the request as usual.
    fn unsigned_handshake(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Option<http::Response<bytes::Bytes>> {
        let _ = (method, uri, headers);
        None
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
            _ if !algorithm.is_shared() => key.key_pair(algorithm),
            Key::Secret(secret) if algorithm == Algorithm::Token => {
                let token = self.key(secret)?;
                SigningKey::token(&token).map_err(InvalidSecret::new)?;
                Ok(VerifyingKey::token(&token))
            }
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
        } else if algorithm == Algorithm::Token {
            SigningKey::token(&self.key(secret)?).map_err(InvalidSecret::new)
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
        true => Some(timestamp_text(
            message,
            scheme.name(),
            scheme.timestamp_format(),
        )?),
        false => None,
    };
    let url = match content.contains(&Part::Url) {
        true => Some(scheme.signed_url(require_url(message, scheme.name())?)),
        false => None,
    };
    let values = PartValues {
        id,
        timestamp: timestamp.as_deref(),
        url: url.as_deref(),
        method: message.method,
    };
    let mut signed = Vec::with_capacity(message.body.len() + 64);
    for part in content {
        match part {
            Part::Body => signed.extend_from_slice(message.body),
            Part::Form => signed.extend(signed_form(scheme.name(), message, url.as_deref())?),
            part => signed.extend_from_slice(part_bytes(part, &values)),
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
            "standard-webhooks" | "svix" | "clerk" | "resend" | "stripe" => Self::Whsec,
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

/// What a request (or an outgoing message) gives the parts of the signed content around the
/// body: the one source of those bytes for both the signing and the verifying side.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct PartValues<'a> {
    pub(crate) id: Option<&'a str>,
    pub(crate) timestamp: Option<&'a str>,
    pub(crate) url: Option<&'a str>,
    pub(crate) method: Option<&'a str>,
}

/// The bytes a part other than the body stands for.
pub(crate) fn part_bytes<'a>(part: &'a Part, values: &PartValues<'a>) -> &'a [u8] {
    let text = match part {
        Part::Literal(text) => text,
        Part::Timestamp => values.timestamp.unwrap_or_default(),
        Part::Id => values.id.unwrap_or_default(),
        Part::Url => values.url.unwrap_or_default(),
        Part::Method => values.method.unwrap_or("POST"),
        Part::Body | Part::Form => "",
    };
    text.as_bytes()
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
        .filter(|(_, part)| part.is_body());
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
    fn timestamp_format(&self) -> TimestampFormat {
        (**self).timestamp_format()
    }
    fn tolerance(&self) -> Tolerance {
        (**self).tolerance()
    }
    fn signed_url<'u>(&self, url: &'u str) -> Cow<'u, str> {
        (**self).signed_url(url)
    }
    fn timestamp_in_body(&self) -> bool {
        (**self).timestamp_in_body()
    }
    fn handshake(&self, probe: &Probe<'_>) -> Option<http::Response<bytes::Bytes>> {
        (**self).handshake(probe)
    }
    fn unsigned_handshake(
        &self,
        method: &http::Method,
        uri: &http::Uri,
        headers: &HeaderMap,
    ) -> Option<http::Response<bytes::Bytes>> {
        (**self).unsigned_handshake(method, uri, headers)
    }
}

pub(crate) use form::{body_hash_matches, sorted_forms};
pub(crate) use headers::{header_value, single};
pub(crate) use url::signed_url_variants;

pub(crate) fn require_id<'a>(message: &Message<'a>, scheme: &str) -> Result<&'a str, SignError> {
    message.id.ok_or_else(|| SignError::MissingField {
        scheme: scheme.to_owned(),
        field: "id",
    })
}

/// What [`Part::Form`] stands for in an outgoing message: its sorted fields, or nothing for a
/// body that is not a form and whose URL carries its hash.
fn signed_form(
    scheme: &str,
    message: &Message<'_>,
    url: Option<&str>,
) -> Result<Vec<u8>, SignError> {
    let unsignable = |reason| SignError::Unsignable {
        scheme: scheme.to_owned(),
        reason,
    };
    match url.and_then(|url| form::body_hash_matches(url, message.body)) {
        Some(true) => Ok(Vec::new()),
        Some(false) => Err(unsignable(
            "the URL's `bodySHA256` is not the body's SHA-256",
        )),
        None if message.content_type.is_none_or(is_form) => {
            form::sorted_form(message.body).map_err(|_| unsignable("the form is not UTF-8"))
        }
        None => Err(unsignable(
            "a body that is not a form is signed through its URL, which must carry \
             `bodySHA256=<hex SHA-256 of the body>`",
        )),
    }
}

/// Whether a media type is a URL-encoded form, whatever its parameters.
pub(crate) fn is_form(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    essence.eq_ignore_ascii_case("application/x-www-form-urlencoded")
}

pub(crate) fn require_url<'a>(message: &Message<'a>, scheme: &str) -> Result<&'a str, SignError> {
    message.url.ok_or_else(|| SignError::MissingField {
        scheme: scheme.to_owned(),
        field: "url",
    })
}

/// The message's timestamp as `format` writes it.
pub(crate) fn timestamp_text(
    message: &Message<'_>,
    scheme: &str,
    format: TimestampFormat,
) -> Result<String, SignError> {
    let timestamp = require_timestamp(message, scheme)?;
    format
        .format(timestamp)
        .ok_or_else(|| SignError::Unsignable {
            scheme: scheme.to_owned(),
            reason: "its timestamp is past the year 9999, which RFC 3339 cannot write",
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
    #[cfg(feature = "sign")]
    use super::*;
    #[cfg(feature = "sign")]
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
