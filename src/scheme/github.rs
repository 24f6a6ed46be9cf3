//! GitHub: `X-Hub-Signature-256: sha256=<hex>` over the body.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};

use super::headers::{prefixed_signature, single};
use super::{EventInfo, Message, Part, Scheme, Signature, SignedHeaders, header_value};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

const SIGNATURE: HeaderName = HeaderName::from_static("x-hub-signature-256");
const EVENT: HeaderName = HeaderName::from_static("x-github-event");
const DELIVERY: HeaderName = HeaderName::from_static("x-github-delivery");

/// GitHub's webhooks: `X-Hub-Signature-256: sha256=<hex>` over the raw body.
///
/// GitHub signs no timestamp, so there is no replay window; `X-GitHub-Delivery` is an id for
/// idempotency but it is not signed, so it proves nothing about the sender.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{GitHub, Message, Scheme};
/// use tower_webhook::Secret;
///
/// // GitHub's documented example.
/// let headers = GitHub.sign(
///     &Secret::new("It's a Secret to Everybody"),
///     &Message::new(b"Hello, World!"),
/// )?;
/// assert_eq!(
///     headers["x-hub-signature-256"],
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
/// );
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct GitHub;

impl Scheme for GitHub {
    fn name(&self) -> &str {
        "github"
    }

    fn id_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = DELIVERY;
        Some(&NAME)
    }

    fn signed_content(&self) -> &[Part] {
        &[Part::Body]
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let signatures = prefixed_signature(
            headers,
            &SIGNATURE,
            "sha256=",
            Algorithm::HmacSha256,
            Encoding::Hex,
        )?;
        let signed = SignedHeaders::new(signatures).with_event_header(headers.get(EVENT));
        Ok(match single(headers, &DELIVERY)? {
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
        let signature = format!("sha256={}", signature.encode(Encoding::Hex));
        headers.insert(SIGNATURE, header_value(&SIGNATURE, &signature)?);
        if let Some(id) = message.id {
            headers.insert(DELIVERY, header_value(&DELIVERY, id)?);
        }
        if let Some(event_type) = message.event_type {
            // `issues.opened` travels as `X-GitHub-Event: issues` plus `"action": "opened"`
            // in the body, which is the sender's to write.
            let event = event_type.split('.').next().unwrap_or(event_type);
            headers.insert(EVENT, header_value(&EVENT, event)?);
        }
        Ok(())
    }

    fn event_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = EVENT;
        Some(&NAME)
    }

    /// `{X-GitHub-Event}.{action}` when the payload has an `action` (`issues.opened`), else
    /// the bare event name (`push`). The header is not signed; the `action` is.
    fn event(&self, header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            action: Text<'a>,
        }
        let Some(event) = header.and_then(|value| value.to_str().ok()) else {
            return EventInfo::new();
        };
        let action = event::read::<Fields<'_>>(payload).and_then(|fields| fields.action);
        EventInfo::new().with_event_type(match action {
            Some(action) => format!("{event}.{action}"),
            None => event.to_owned(),
        })
    }

    /// The JSON in the `payload` field of a form-encoded delivery, or the body itself.
    fn payload<'b>(&self, body: &'b [u8]) -> Cow<'b, [u8]> {
        event::form_payload(body)
    }
}
