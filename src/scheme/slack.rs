//! Slack: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};

use super::headers::timestamped_signature;
use super::{
    EventInfo, Message, Part, Scheme, Signature, SignedHeaders, header_value, require_timestamp,
};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

const SIGNATURE: HeaderName = HeaderName::from_static("x-slack-signature");
const TIMESTAMP: HeaderName = HeaderName::from_static("x-slack-request-timestamp");

const SIGNED_CONTENT: &[Part] = &[
    Part::Literal(Cow::Borrowed("v0:")),
    Part::Timestamp,
    Part::Literal(Cow::Borrowed(":")),
    Part::Body,
];

/// Slack's signed requests: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`, with
/// the timestamp in `X-Slack-Request-Timestamp`.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{Message, Scheme, Slack};
/// use tower_webhook::Secret;
///
/// let headers = Slack.sign(
///     &Secret::new("8f742231b10e8888abcd99yyyzzz85a5"),
///     &Message::new(b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J").timestamp(1531420618),
/// )?;
/// assert_eq!(headers["x-slack-request-timestamp"], "1531420618");
/// assert!(headers["x-slack-signature"].to_str().unwrap().starts_with("v0="));
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Slack;

impl Scheme for Slack {
    fn name(&self) -> &str {
        "slack"
    }

    fn signed_content(&self) -> &[Part] {
        SIGNED_CONTENT
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        timestamped_signature(
            headers,
            &TIMESTAMP,
            &SIGNATURE,
            "v0=",
            Algorithm::HmacSha256,
            Encoding::Hex,
        )
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let timestamp = require_timestamp(message, self.name())?;
        let signature = format!("v0={}", signature.encode(Encoding::Hex));
        headers.insert(SIGNATURE, header_value(&SIGNATURE, &signature)?);
        headers.insert(TIMESTAMP, timestamp.into());
        Ok(())
    }

    /// `event.type` inside an `event_callback` (`app_mention`), else the body's `type`
    /// (`url_verification`, `block_actions`), and `event_id`.
    /// Slack's `url_verification`: the challenge back, as text.
    fn handshake(&self, probe: &super::Probe<'_>) -> Option<http::Response<bytes::Bytes>> {
        super::handshake::slack(probe)
    }

    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Inner<'a> {
            #[serde(borrow, rename = "type")]
            event_type: Text<'a>,
        }
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow, rename = "type")]
            event_type: Text<'a>,
            #[serde(borrow)]
            event: Option<Inner<'a>>,
            #[serde(borrow)]
            event_id: Text<'a>,
        }
        let Some(fields) = event::read::<Fields<'_>>(payload) else {
            return EventInfo::new();
        };
        let inner = fields.event.and_then(|inner| inner.event_type);
        let event_type = match (fields.event_type, inner) {
            (Some(outer), Some(inner)) if outer == "event_callback" => Some(inner),
            (outer, _) => outer,
        };
        EventInfo {
            event_type: event::owned(event_type),
            id: event::owned(fields.event_id),
            ..EventInfo::new()
        }
    }

    /// The JSON in the `payload` field of a form-encoded interaction, or the body itself.
    fn payload<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        event::form_payload(body)
    }
}
