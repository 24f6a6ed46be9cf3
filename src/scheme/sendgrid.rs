//! SendGrid's Event Webhook, signed with ECDSA P-256.

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};
use super::key_pair::{KeyPairShape, SIGNED_CONTENT};
use super::{EventInfo, Message, Part, Scheme, Signature, SignedHeaders};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

const SHAPE: KeyPairShape = KeyPairShape {
    timestamp: HeaderName::from_static("x-twilio-email-event-webhook-timestamp"),
    signature: HeaderName::from_static("x-twilio-email-event-webhook-signature"),
    algorithm: Algorithm::EcdsaP256Sha256,
    encoding: Encoding::Base64,
};

/// [SendGrid's signed Event Webhook](https://www.twilio.com/docs/sendgrid/for-developers/tracking-events/getting-started-event-webhook-security-features):
/// `X-Twilio-Email-Event-Webhook-Signature: <base64 DER>` (ECDSA P-256 with SHA-256) over
/// `X-Twilio-Email-Event-Webhook-Timestamp` followed directly by the body, checked with the
/// verification key SendGrid shows (base64 SPKI DER; PEM works too).
///
/// The body is a JSON array of events. The event type is their `event` when they all share
/// it (`delivered`), and the id is `sg_event_id` when there is one event.
///
/// To sign (for tests of your endpoint), give a [`Secret`](crate::Secret) holding a P-256 private key as
/// PKCS#8 (PEM or base64 DER).
///
/// # Example
///
/// ```
/// use tower_webhook::crypto::PublicKey;
/// use tower_webhook::scheme::SendGrid;
/// use tower_webhook::VerifySignatureLayer;
///
/// let key = PublicKey::new(
///     "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE83T4O/n84iotIvIW4mdBgQ/7dAfSmpqIM8kF9mN1flpVKS3GRqe62gw+2fNNRaINXvVpiglSI8eNEc6wEA3F+g==",
/// );
/// let layer = VerifySignatureLayer::new(SendGrid, key)?;
/// # Ok::<(), tower_webhook::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SendGrid;

impl Scheme for SendGrid {
    fn name(&self) -> &str {
        "sendgrid"
    }

    fn signed_content(&self) -> &[Part] {
        SIGNED_CONTENT
    }

    fn algorithm(&self) -> Algorithm {
        SHAPE.algorithm
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        SHAPE.parse(headers)
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        SHAPE.write_headers(self.name(), headers, message, signature)
    }

    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            event: Text<'a>,
            #[serde(borrow)]
            sg_event_id: Text<'a>,
        }
        let Some(events) = event::read::<Vec<Fields<'_>>>(payload) else {
            return EventInfo::new();
        };
        let first = events.first().and_then(|fields| fields.event.clone());
        let shared = events.iter().all(|fields| fields.event == first);
        EventInfo {
            event_type: event::owned(first.filter(|_| shared)),
            id: match events.as_slice() {
                [only] => event::owned(only.sg_event_id.clone()),
                _ => None,
            },
            ..EventInfo::new()
        }
    }
}
