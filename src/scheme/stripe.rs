//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]` over `{t}.{body}`.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};

use super::headers::{List, Version, required};
use super::{
    EventInfo, Message, Part, Scheme, Signature, SignedHeaders, Timestamp, header_value,
    require_timestamp,
};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{SignError, VerifyError};

const SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");

/// `t=<timestamp>,v1=<hex>,v1=<hex>,v0=<hex>`: test mode adds `v0=`, a secret being rolled
/// adds a second `v1=`.
const LIST: List = List {
    separator: ',',
    pair: '=',
    shape: "expected comma-separated `key=value` entries",
};

const VERSIONS: &[Version<'static>] = &[Version {
    tag: "v1",
    algorithm: Algorithm::HmacSha256,
    encoding: Encoding::Hex,
}];

const SIGNED_CONTENT: &[Part] = &[
    Part::Timestamp,
    Part::Literal(Cow::Borrowed(".")),
    Part::Body,
];

/// Stripe's webhooks: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]` over `{t}.{body}`.
///
/// Any `v1` entry may match (Stripe sends one per active secret while you roll a secret);
/// `v0` and unknown entries are ignored. The secret is the whole `whsec_…` string, used as it is.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{Message, Scheme, Stripe};
/// use tower_webhook::Secret;
///
/// let headers = Stripe.sign(
///     &Secret::new("whsec_test_secret"),
///     &Message::new(br#"{"id":"evt_1","type":"charge.succeeded"}"#).timestamp(1700000000),
/// )?;
/// let value = headers["stripe-signature"].to_str().unwrap();
/// assert!(value.starts_with("t=1700000000,v1="));
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Stripe;

impl Scheme for Stripe {
    fn name(&self) -> &str {
        "stripe"
    }

    fn signed_content(&self) -> &[Part] {
        SIGNED_CONTENT
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let malformed = |reason| VerifyError::MalformedHeader {
            header: SIGNATURE,
            reason,
        };
        let value = required(headers, &SIGNATURE)?;
        let mut timestamp = None;
        let signatures = LIST.read(value, &SIGNATURE, VERSIONS, |key, value| match key {
            "t" if timestamp.is_some() => Err(malformed("more than one `t=`")),
            "t" => {
                timestamp = Some(Timestamp::parse(value, &SIGNATURE)?);
                Ok(true)
            }
            _ => Ok(false),
        })?;
        let timestamp = timestamp.ok_or(malformed("no `t=` timestamp"))?;
        Ok(SignedHeaders::new(signatures.require(&SIGNATURE)?).with_timestamp(timestamp))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let timestamp = require_timestamp(message, self.name())?;
        let value = format!("t={timestamp},v1={}", signature.encode(Encoding::Hex));
        headers.insert(SIGNATURE, header_value(&SIGNATURE, &value)?);
        Ok(())
    }

    /// The event's `type` and `id`, from the body.
    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow)]
            id: Text<'a>,
            #[serde(borrow, rename = "type")]
            event_type: Text<'a>,
        }
        let Some(fields) = event::read::<Fields<'_>>(payload) else {
            return EventInfo::new();
        };
        EventInfo {
            event_type: event::owned(fields.event_type),
            id: event::owned(fields.id),
            ..EventInfo::new()
        }
    }
}
