//! The generic `X-Webhook-*` scheme: `X-Webhook-Signature: sha256=<hex>` over `{ts}.{body}`.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};
use super::parse::{Encoding, prefixed_signature, scan};
use super::{
    EventInfo, Message, Part, Scheme, SignedHeaders, Tag, header_value, require_timestamp,
};
use crate::error::{SignError, VerifyError};

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
        let [timestamp, signature, id] = scan(headers, [&TIMESTAMP, &SIGNATURE, &ID]);
        let timestamp = timestamp.timestamp(&TIMESTAMP)?;
        let signatures = prefixed_signature(signature, &SIGNATURE, "sha256=", Encoding::Hex)?;
        let signed = SignedHeaders::new(signatures).with_timestamp(timestamp);
        Ok(match id.single(&ID)? {
            Some(id) => signed.with_id(id),
            None => signed,
        })
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        tag: &Tag,
    ) -> Result<(), SignError> {
        let timestamp = require_timestamp(message, self.name())?;
        let signature = format!("sha256={}", Encoding::Hex.encode(tag));
        headers.insert(SIGNATURE, header_value(&SIGNATURE, &signature)?);
        headers.insert(TIMESTAMP, timestamp.into());
        if let Some(id) = message.id {
            headers.insert(ID, header_value(&ID, id)?);
        }
        Ok(())
    }

    /// The body's `event` field (see [`Envelope`](crate::Envelope)).
    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            event: Text<'a>,
        }
        EventInfo {
            event_type: event::read::<Fields<'_>>(payload).and_then(|f| event::owned(f.event)),
            id: None,
        }
    }
}
