//! Stripe: `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>…]` over `{t}.{body}`.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;

use super::event::{self, Text};

use super::parse::{Encoding, MAX_SIGNATURE_ENTRIES, scan, split_ascii, split_once_ascii};
use super::{
    EventInfo, Message, Part, Scheme, Signatures, SignedHeaders, Tag, Timestamp, header_value,
    require_timestamp,
};
use crate::error::{SignError, VerifyError};

const SIGNATURE: HeaderName = HeaderName::from_static("stripe-signature");

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
        let [found] = scan(headers, [&SIGNATURE]);
        // The usual header, `t=<timestamp>,v1=<signature>`, read without the list parser; any
        // other shape (test mode adds `v0=`, rotation adds more `v1=`) goes through it.
        if let Some(signed) = found
            .unique()
            .and_then(|value| usual_header(value.as_bytes()))
        {
            return Ok(signed);
        }
        let malformed = |reason| VerifyError::MalformedHeader {
            header: SIGNATURE,
            reason,
        };
        let value = found.required(&SIGNATURE)?;
        let mut timestamp = None;
        let mut signatures = Signatures::new();
        let mut undecodable = false;
        for (index, entry) in split_ascii(value, b',').enumerate() {
            if index == MAX_SIGNATURE_ENTRIES {
                return Err(malformed("too many entries"));
            }
            let Some((key, value)) = split_once_ascii(entry.trim_matches(' '), b'=') else {
                return Err(malformed("expected comma-separated `key=value` entries"));
            };
            match key {
                "t" if timestamp.is_some() => return Err(malformed("more than one `t=`")),
                "t" => timestamp = Some(Timestamp::parse(value, &SIGNATURE)?),
                "v1" => match Encoding::Hex.decode(value) {
                    Some(tag) => signatures
                        .push(tag)
                        .map_err(|_| malformed("too many signatures"))?,
                    None => undecodable = true,
                },
                _ => {}
            }
        }
        let timestamp = timestamp.ok_or(malformed("no `t=` timestamp"))?;
        if signatures.is_empty() {
            return Err(if undecodable {
                malformed("no `v1=` signature is 64 hex digits")
            } else {
                VerifyError::NoSupportedSignature { header: SIGNATURE }
            });
        }
        Ok(SignedHeaders::new(signatures).with_timestamp(timestamp))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        tag: &Tag,
    ) -> Result<(), SignError> {
        let timestamp = require_timestamp(message, self.name())?;
        let value = format!("t={timestamp},v1={}", Encoding::Hex.encode(tag));
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
        }
    }
}

/// `t=<timestamp>,v1=<signature>` and nothing else, or `None`.
fn usual_header(value: &[u8]) -> Option<SignedHeaders<'_>> {
    let rest = value.strip_prefix(b"t=")?;
    let comma = rest.iter().position(|&byte| byte == b',')?;
    let (digits, signature) = (&rest[..comma], rest[comma + 1..].strip_prefix(b"v1=")?);
    let tag = Encoding::Hex.decode_bytes(signature)?;
    let timestamp = Timestamp::from_digits(digits)?;
    Some(SignedHeaders::new(Signatures::one_aligned(tag)).with_timestamp(timestamp))
}
