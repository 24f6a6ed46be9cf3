//! Discord's interactions endpoint (and its webhook events), signed with Ed25519.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};
use super::key_pair::{KeyPairShape, SIGNED_CONTENT};
use super::{EventInfo, Message, Part, Scheme, Signature, SignedHeaders};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

const SHAPE: KeyPairShape = KeyPairShape {
    timestamp: HeaderName::from_static("x-signature-timestamp"),
    signature: HeaderName::from_static("x-signature-ed25519"),
    algorithm: Algorithm::Ed25519,
    encoding: Encoding::Hex,
};

/// [Discord](https://discord.com/developers/docs/interactions/overview#setting-up-an-endpoint-validating-security-request-headers):
/// `X-Signature-Ed25519: <hex>` over `X-Signature-Timestamp` followed directly by the body,
/// checked with the application's public key (64 hex digits, from the developer portal).
///
/// Discord sends deliberately bad signatures to an endpoint to check that it answers 401;
/// the layer does. The event type is the interaction's type (`ping`, `application_command`,
/// `message_component`, `application_command_autocomplete`, `modal_submit`), or for a webhook
/// event the event's own type in lower case (`application_authorized`); the id is the body's
/// `id`.
///
/// To sign (for tests of your endpoint), give a [`Secret`](crate::Secret) holding the private key's 32-byte
/// seed in hex or base64, or a PKCS#8 PEM.
///
/// # Example
///
/// ```
/// use tower_webhook::crypto::PublicKey;
/// use tower_webhook::scheme::{Discord, Message, Scheme};
/// use tower_webhook::{Secret, VerifySignatureLayer};
///
/// // RFC 8032's first test key.
/// let private = Secret::new("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60");
/// let public = PublicKey::new("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
/// let headers = Discord.sign(&private, &Message::new(br#"{"type":1}"#).timestamp(1700000000))?;
/// assert_eq!(headers["x-signature-timestamp"], "1700000000");
/// assert_eq!(headers["x-signature-ed25519"].len(), 128);
/// let layer = VerifySignatureLayer::new(Discord, public)?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Discord;

impl Scheme for Discord {
    fn name(&self) -> &str {
        "discord"
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

    /// Discord's `PING`s: `{"type": 1}` for an interaction, 204 for Webhook Events.
    fn handshake(&self, probe: &super::Probe<'_>) -> Option<http::Response<bytes::Bytes>> {
        super::handshake::discord(probe)
    }

    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct WebhookEvent<'a> {
            #[serde(borrow, rename = "type")]
            event_type: Text<'a>,
        }
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(rename = "type")]
            kind: Option<u64>,
            #[serde(borrow)]
            id: Text<'a>,
            #[serde(borrow)]
            event: Option<WebhookEvent<'a>>,
        }
        let Some(fields) = event::read::<Fields<'_>>(payload) else {
            return EventInfo::new();
        };
        // https://discord.com/developers/docs/interactions/receiving-and-responding#interaction-object-interaction-type
        let interaction = |kind| match kind {
            1 => Some("ping"),
            2 => Some("application_command"),
            3 => Some("message_component"),
            4 => Some("application_command_autocomplete"),
            5 => Some("modal_submit"),
            _ => None,
        };
        let event_type = match fields.event.and_then(|event| event.event_type) {
            Some(name) => Some(Cow::Owned(name.to_ascii_lowercase())),
            None => fields.kind.and_then(interaction).map(Cow::Borrowed),
        };
        EventInfo {
            event_type: event::owned(event_type),
            id: event::owned(fields.id),
            ..EventInfo::new()
        }
    }
}
