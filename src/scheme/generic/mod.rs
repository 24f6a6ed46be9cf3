//! The generic `X-Webhook-*` scheme: `X-Webhook-Signature: sha256=<hex>` over `{ts}.{body}`.

mod envelope;

pub use envelope::{Envelope, Resource};

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};
use crate::scheme::event::{self, Text};
use crate::scheme::headers::{prefixed_signature, single, timestamp};
use crate::scheme::{
    EventInfo, Message, Part, Scheme, Signature, SignedHeaders, header_value, require_timestamp,
};

const SIGNATURE: HeaderName = HeaderName::from_static("x-webhook-signature");
const TIMESTAMP: HeaderName = HeaderName::from_static("x-webhook-timestamp");
const ID: HeaderName = HeaderName::from_static("x-webhook-id");

const SIGNED_CONTENT: &[Part] = &[
    Part::Timestamp,
    Part::Literal(Cow::Borrowed(".")),
    Part::Body,
];

/// The generic scheme many in-house senders use: `X-Webhook-Signature: sha256=<hex>` over
/// `{timestamp}.{body}`, the timestamp in `X-Webhook-Timestamp`, the delivery id in
/// `X-Webhook-ID` (not signed), the event type in the body's `event` field.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{Generic, Message, Scheme};
/// use tower_webhook::Secret;
///
/// let headers = Generic.sign(
///     &Secret::new("a long random secret"),
///     &Message::new(br#"{"event":"order.completed"}"#)
///         .timestamp(1700000000)
///         .id("evt_1"),
/// )?;
/// assert_eq!(headers["x-webhook-timestamp"], "1700000000");
/// assert_eq!(headers["x-webhook-id"], "evt_1");
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Generic;

impl Scheme for Generic {
    fn name(&self) -> &str {
        "generic"
    }

    fn id_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = ID;
        Some(&NAME)
    }

    fn signed_content(&self) -> &[Part] {
        SIGNED_CONTENT
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let timestamp = timestamp(headers, &TIMESTAMP)?;
        let signatures = prefixed_signature(
            headers,
            &SIGNATURE,
            "sha256=",
            Algorithm::HmacSha256,
            Encoding::Hex,
        )?;
        let signed = SignedHeaders::new(signatures).with_timestamp(timestamp);
        Ok(match single(headers, &ID)? {
            Some(id) => signed.with_id(id),
            None => signed,
        })
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let timestamp = require_timestamp(message, self.name())?;
        let signature = format!("sha256={}", signature.encode(Encoding::Hex));
        headers.insert(SIGNATURE, header_value(&SIGNATURE, &signature)?);
        headers.insert(TIMESTAMP, timestamp.into());
        if let Some(id) = message.id {
            headers.insert(ID, header_value(&ID, id)?);
        }
        Ok(())
    }

    /// The body's `event` field (see [`Envelope`](crate::scheme::Envelope)).
    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            event: Text<'a>,
        }
        EventInfo {
            event_type: event::read::<Fields<'_>>(payload).and_then(|f| event::owned(f.event)),
            id: None,
            ..EventInfo::new()
        }
    }
}
