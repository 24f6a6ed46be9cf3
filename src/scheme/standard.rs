//! Standard Webhooks (and Svix): `webhook-signature: v1,<base64> …` over `{id}.{ts}.{body}`.

use std::borrow::Cow;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::event::{self, Text};
use super::parse::{
    Encoding, MAX_SIGNATURE_ENTRIES, check_plain_secret, scan, split_ascii, split_once_ascii,
};
use super::{
    EventInfo, Message, Part, Scheme, Signatures, SignedHeaders, Tag, header_value, require_id,
    require_timestamp,
};
use crate::error::{InvalidSecret, SignError, VerifyError};
use crate::secret::Secret;

/// One set of header names: the standard ones, or Svix's branded ones.
struct Names {
    id: HeaderName,
    timestamp: HeaderName,
    signature: HeaderName,
}

static STANDARD: Names = Names {
    id: HeaderName::from_static("webhook-id"),
    timestamp: HeaderName::from_static("webhook-timestamp"),
    signature: HeaderName::from_static("webhook-signature"),
};

static SVIX: Names = Names {
    id: HeaderName::from_static("svix-id"),
    timestamp: HeaderName::from_static("svix-timestamp"),
    signature: HeaderName::from_static("svix-signature"),
};

const SIGNED_CONTENT: &[Part] = &[
    Part::Id,
    Part::Literal(Cow::Borrowed(".")),
    Part::Timestamp,
    Part::Literal(Cow::Borrowed(".")),
    Part::Body,
];

/// [Standard Webhooks](https://www.standardwebhooks.com/): `webhook-signature: v1,<base64>`
/// (a space-separated list; any entry may match) over `{id}.{timestamp}.{body}`.
///
/// Svix's branded headers (`svix-id`, `svix-timestamp`, `svix-signature`) are read as well,
/// when the `webhook-*` ones are absent. Secrets are `whsec_` followed by base64 (the prefix is
/// optional); the key is the decoded bytes. Entries of other versions, such as `v1a`, are skipped.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
/// use tower_webhook::Secret;
///
/// let headers = StandardWebhooks.sign(
///     &Secret::new("whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"),
///     &Message::new(br#"{"email":"test@example.com","username":"test_user"}"#)
///         .id("msg_27UH4WbU6Z5A5EzD8u03UvzRbpk")
///         .timestamp(1649367553),
/// )?;
/// assert_eq!(
///     headers["webhook-signature"],
///     "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw="
/// );
/// # Ok::<(), tower_webhook::SignError>(())
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct StandardWebhooks;

impl Scheme for StandardWebhooks {
    fn name(&self) -> &str {
        "standard-webhooks"
    }

    fn id_header(&self) -> Option<&HeaderName> {
        static NAME: HeaderName = HeaderName::from_static("webhook-id");
        Some(&NAME)
    }

    fn signed_content(&self) -> &[Part] {
        SIGNED_CONTENT
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let mut names = &STANDARD;
        let mut found = scan(headers, [&names.id, &names.timestamp, &names.signature]);
        if !found[2].is_present() {
            // Svix's own names, for senders that still use them; looked for only when needed.
            let svix = scan(headers, [&SVIX.id, &SVIX.timestamp, &SVIX.signature]);
            if svix[2].is_present() {
                (names, found) = (&SVIX, svix);
            }
        }
        let [id, timestamp, signature] = found;
        let id = id.required(&names.id)?;
        let timestamp = timestamp.timestamp(&names.timestamp)?;
        // The usual header, a single `v1` signature; a list goes to the list parser.
        let signatures = match signature.usual_signature("v1,", Encoding::Base64) {
            Some(signatures) => signatures,
            None => signature_list(signature.required(&names.signature)?, &names.signature)?,
        };
        Ok(SignedHeaders::new(signatures)
            .with_id(id)
            .with_timestamp(timestamp))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        tag: &Tag,
    ) -> Result<(), SignError> {
        let id = require_id(message, self.name())?;
        let timestamp = require_timestamp(message, self.name())?;
        let signature = format!("v1,{}", Encoding::Base64.encode(tag));
        headers.insert(STANDARD.id.clone(), header_value(&STANDARD.id, id)?);
        headers.insert(STANDARD.timestamp.clone(), timestamp.into());
        headers.insert(
            STANDARD.signature.clone(),
            header_value(&STANDARD.signature, &signature)?,
        );
        Ok(())
    }

    fn key(&self, secret: &Secret) -> Result<Zeroizing<Vec<u8>>, InvalidSecret> {
        check_plain_secret(secret)?;
        let text = secret.expose();
        if text.starts_with(b"v1,") {
            return Err(InvalidSecret::new(
                "starts with `v1,`: that is a signature, not a secret",
            ));
        }
        let encoded = text.strip_prefix(b"whsec_").unwrap_or(text);
        let key = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map(Zeroizing::new)
            .map_err(|_| InvalidSecret::new("is not base64 after the optional `whsec_` prefix"))?;
        if key.is_empty() {
            return Err(InvalidSecret::new("decodes to an empty key"));
        }
        Ok(key)
    }

    /// The body's `type`; the id is the signed `webhook-id` header.
    fn event(&self, _header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        #[derive(Deserialize)]
        struct Fields<'a> {
            #[serde(borrow, rename = "type")]
            event_type: Text<'a>,
        }
        EventInfo {
            event_type: event::read::<Fields<'_>>(payload).and_then(|f| event::owned(f.event_type)),
            id: None,
        }
    }
}

/// Every `v1` signature in a space-separated `version,signature` list.
fn signature_list(value: &str, name: &HeaderName) -> Result<Signatures, VerifyError> {
    let malformed = |reason| VerifyError::MalformedHeader {
        header: name.clone(),
        reason,
    };
    let mut signatures = Signatures::new();
    let mut undecodable = false;
    for (index, entry) in split_ascii(value, b' ')
        .filter(|e| !e.is_empty())
        .enumerate()
    {
        if index == MAX_SIGNATURE_ENTRIES {
            return Err(malformed("too many entries"));
        }
        let Some((version, encoded)) = split_once_ascii(entry, b',') else {
            return Err(malformed(
                "expected space-separated `version,signature` entries",
            ));
        };
        if version != "v1" {
            continue;
        }
        match Encoding::Base64.decode(encoded) {
            Some(tag) => signatures
                .push(tag)
                .map_err(|_| malformed("too many signatures"))?,
            None => undecodable = true,
        }
    }
    if signatures.is_empty() {
        return Err(if undecodable {
            malformed("no `v1` signature is base64 of 32 bytes")
        } else {
            VerifyError::NoSupportedSignature {
                header: name.clone(),
            }
        });
    }
    Ok(signatures)
}
