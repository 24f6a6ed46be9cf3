//! Standard Webhooks (and Svix): `webhook-signature: v1,<base64> …` over `{id}.{ts}.{body}`.

use std::borrow::Cow;

use base64::Engine as _;
use http::{HeaderMap, HeaderName, HeaderValue};
use serde::Deserialize;
use zeroize::Zeroizing;

use super::event::{self, Text};
use super::headers::{List, Version, check_plain_secret, required, timestamp};
use super::{
    EventInfo, Message, Part, Scheme, Signature, SignedHeaders, header_value, require_id,
    require_timestamp,
};
use crate::crypto::{Algorithm, Encoding, SigningKey, VerifyingKey};
use crate::error::{InvalidSecret, SignError, VerifyError};
use crate::secret::{Key, Secret};

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

/// `v1,<base64> v1a,<base64>`: any entry may match; other versions are skipped.
const LIST: List = List {
    separator: ' ',
    pair: ',',
    shape: "expected space-separated `version,signature` entries",
};

const VERSIONS: &[Version<'static>] = &[
    Version {
        tag: "v1",
        algorithm: Algorithm::HmacSha256,
        encoding: Encoding::Base64,
    },
    Version {
        tag: "v1a",
        algorithm: Algorithm::Ed25519,
        encoding: Encoding::Base64,
    },
];

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
/// optional); the key is the decoded bytes. Entries of other versions are skipped.
///
/// The [spec's asymmetric version](https://github.com/standard-webhooks/standard-webhooks/blob/main/spec/standard-webhooks.md#asymmetric-signatures)
/// `v1a` signs the same content with Ed25519: verify it with a
/// [`PublicKey`](crate::crypto::PublicKey) (`whpk_…`), sign it with a `whsk_…` secret. A list
/// may mix `v1,` and `v1a,` entries, and keys of both kinds may be configured at once.
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

/// Svix: Standard Webhooks under Svix's own header names (`svix-id`, `svix-timestamp`,
/// `svix-signature`), which it writes; `webhook-*` headers are read when those are absent.
/// <https://docs.svix.com/receiving/verifying-payloads/how-manual>
#[derive(Debug, Clone, Copy, Default)]
pub struct Svix;

/// Clerk, which delivers through Svix: the [`Svix`] scheme under its own name. Event `type`
/// (`user.created`), id `svix-id`.
/// <https://clerk.com/docs/webhooks/sync-data>
#[derive(Debug, Clone, Copy, Default)]
pub struct Clerk;

/// Resend, which delivers through Svix: the [`Svix`] scheme under its own name. Event `type`
/// (`email.sent`), id `svix-id`.
/// <https://resend.com/docs/dashboard/webhooks/verify-webhooks-requests>
#[derive(Debug, Clone, Copy, Default)]
pub struct Resend;

/// The one implementation behind all four: a name, the header names it writes, and the ones it
/// also reads when those are absent.
struct Family {
    name: &'static str,
    names: &'static Names,
    fallback: &'static Names,
}

// One static each: the unit structs hand every method to theirs, with nothing looked up.
static STANDARD_FAMILY: Family = Family {
    name: "standard-webhooks",
    names: &STANDARD,
    fallback: &SVIX,
};
static SVIX_FAMILY: Family = Family {
    name: "svix",
    names: &SVIX,
    fallback: &STANDARD,
};
static CLERK_FAMILY: Family = Family {
    name: "clerk",
    names: &SVIX,
    fallback: &STANDARD,
};
static RESEND_FAMILY: Family = Family {
    name: "resend",
    names: &SVIX,
    fallback: &STANDARD,
};

delegate_scheme!(StandardWebhooks => (|| &STANDARD_FAMILY));
delegate_scheme!(Svix => (|| &SVIX_FAMILY));
delegate_scheme!(Clerk => (|| &CLERK_FAMILY));
delegate_scheme!(Resend => (|| &RESEND_FAMILY));

impl Scheme for Family {
    fn name(&self) -> &str {
        self.name
    }

    fn id_header(&self) -> Option<&HeaderName> {
        Some(&self.names.id)
    }

    fn signed_content(&self) -> &[Part] {
        SIGNED_CONTENT
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        // The other family's names, for senders that use them, when the scheme's are absent.
        let names = if !headers.contains_key(&self.names.signature)
            && headers.contains_key(&self.fallback.signature)
        {
            self.fallback
        } else {
            self.names
        };
        let id = required(headers, &names.id)?;
        let timestamp = timestamp(headers, &names.timestamp)?;
        let value = required(headers, &names.signature)?;
        let signatures = LIST
            .read(value, &names.signature, VERSIONS, |_, _| Ok(false))?
            .require(&names.signature)?;
        Ok(SignedHeaders::new(signatures)
            .with_id(id)
            .with_timestamp(timestamp))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let id = require_id(message, self.name())?;
        let timestamp = require_timestamp(message, self.name())?;
        let version = match signature.algorithm() {
            Algorithm::Ed25519 => "v1a",
            _ => "v1",
        };
        let value = format!("{version},{}", signature.encode(Encoding::Base64));
        let names = self.names;
        headers.insert(names.id.clone(), header_value(&names.id, id)?);
        headers.insert(names.timestamp.clone(), timestamp.into());
        headers.insert(
            names.signature.clone(),
            header_value(&names.signature, &value)?,
        );
        Ok(())
    }

    /// A `whsec_` secret checks `v1` signatures; a `whpk_`
    /// [`PublicKey`](crate::crypto::PublicKey) checks `v1a` ones.
    fn verifying_key(&self, key: &Key) -> Result<VerifyingKey, InvalidSecret> {
        match key {
            Key::Secret(secret) if secret.expose().starts_with(b"whsk_") => {
                Err(InvalidSecret::new(
                    "is a private key (`whsk_`): verify with its public key (`whpk_`), as a `PublicKey`",
                ))
            }
            Key::Secret(secret) => Ok(VerifyingKey::hmac(
                Algorithm::HmacSha256,
                &self.key(secret)?,
            )),
            Key::Public(public) => {
                VerifyingKey::public(Algorithm::Ed25519, public).map_err(InvalidSecret::new)
            }
        }
    }

    /// A `whsk_` secret signs `v1a` (Ed25519); any other signs `v1` (HMAC-SHA256).
    fn signing_key(&self, secret: &Secret) -> Result<SigningKey, InvalidSecret> {
        if secret.expose().starts_with(b"whsk_") {
            return SigningKey::ed25519(secret.expose()).map_err(InvalidSecret::new);
        }
        Ok(SigningKey::hmac(Algorithm::HmacSha256, &self.key(secret)?))
    }

    fn key(&self, secret: &Secret) -> Result<Zeroizing<Vec<u8>>, InvalidSecret> {
        check_plain_secret(secret)?;
        let text = secret.expose();
        if text.starts_with(b"v1,") || text.starts_with(b"v1a,") {
            return Err(InvalidSecret::new(
                "starts with `v1,`: that is a signature, not a secret",
            ));
        }
        // Read as a shared secret, a public key would let anyone who has it forge `v1`.
        if text.starts_with(b"whpk_") {
            return Err(InvalidSecret::new(
                "is a public key (`whpk_`): give it as a `PublicKey`, which checks `v1a`",
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
            ..EventInfo::new()
        }
    }
}
