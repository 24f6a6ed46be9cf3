//! Shopify: `X-Shopify-Hmac-Sha256: <base64>` over the body.

use http::{HeaderMap, HeaderName, HeaderValue};

use super::headers::{prefixed_signature, single};
use super::{EventInfo, Message, Part, Scheme, Signature, SignedHeaders, header_value};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

const SIGNATURE: HeaderName = HeaderName::from_static("x-shopify-hmac-sha256");
const TOPIC: HeaderName = HeaderName::from_static("x-shopify-topic");
const WEBHOOK_ID: HeaderName = HeaderName::from_static("x-shopify-webhook-id");

/// Shopify's webhooks: `X-Shopify-Hmac-Sha256: <base64>` over the raw body.
///
/// Like GitHub, Shopify signs no timestamp, and its `X-Shopify-Webhook-Id` is not signed: use it
/// for idempotency, not as proof of anything.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{Message, Scheme, Shopify};
/// use tower_webhook::Secret;
///
/// let headers = Shopify.sign(
///     &Secret::new("shpss_example"),
///     &Message::new(br#"{"id":1}"#).event_type("orders.create"),
/// )?;
/// assert_eq!(headers["x-shopify-topic"], "orders/create");
/// assert_eq!(headers["x-shopify-hmac-sha256"].len(), 44);
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Shopify;

impl Scheme for Shopify {
    fn name(&self) -> &str {
        "shopify"
    }

    fn id_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = WEBHOOK_ID;
        Some(&NAME)
    }

    fn signed_content(&self) -> &[Part] {
        &[Part::Body]
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let signatures = prefixed_signature(
            headers,
            &SIGNATURE,
            "",
            Algorithm::HmacSha256,
            Encoding::Base64,
        )?;
        let signed = SignedHeaders::new(signatures).with_event_header(headers.get(TOPIC));
        Ok(match single(headers, &WEBHOOK_ID)? {
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
        headers.insert(
            SIGNATURE,
            header_value(&SIGNATURE, &signature.encode(Encoding::Base64))?,
        );
        if let Some(id) = message.id {
            headers.insert(WEBHOOK_ID, header_value(&WEBHOOK_ID, id)?);
        }
        if let Some(event_type) = message.event_type {
            let topic = event_type.replace('.', "/");
            headers.insert(TOPIC, header_value(&TOPIC, &topic)?);
        }
        Ok(())
    }

    fn event_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = TOPIC;
        Some(&NAME)
    }

    /// `X-Shopify-Topic` with its slashes read as dots: `orders/create` → `orders.create`.
    fn event(&self, header: Option<&HeaderValue>, _payload: &[u8]) -> EventInfo {
        match header.and_then(|value| value.to_str().ok()) {
            Some(topic) => EventInfo::new().with_event_type(topic.replace('/', ".")),
            None => EventInfo::new(),
        }
    }
}
