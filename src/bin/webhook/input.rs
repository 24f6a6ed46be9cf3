//! Reading what the user gave: scheme names, URLs, payloads.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use http::Uri;
use tower_webhook::scheme::{
    Discord, Generic, GitHub, Scheme, SendGrid, Shopify, Slack, StandardWebhooks, Stripe,
};

use crate::Failure;

/// The schemes the command line knows by name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum SchemeName {
    /// GitHub: X-Hub-Signature-256 over the body.
    Github,
    /// Stripe: Stripe-Signature t=…,v1=… over `{t}.{body}`.
    Stripe,
    /// Slack: X-Slack-Signature v0=… over `v0:{ts}:{body}`.
    Slack,
    /// Standard Webhooks (Svix): webhook-signature over `{id}.{ts}.{body}`; v1,… (HMAC) with
    /// a whsec_ secret, v1a,… (Ed25519) with a whsk_ private key.
    #[value(alias = "standard", alias = "svix")]
    StandardWebhooks,
    /// Shopify: X-Shopify-Hmac-Sha256 over the body.
    Shopify,
    /// Generic: X-Webhook-Signature sha256=… over `{ts}.{body}`.
    Generic,
    /// Discord: X-Signature-Ed25519 over `{ts}{body}`; the secret is the Ed25519 private key
    /// (its 32-byte seed as 64 hex digits, or PKCS#8 PEM).
    Discord,
    /// SendGrid: X-Twilio-Email-Event-Webhook-Signature (ECDSA P-256) over `{ts}{body}`; the
    /// secret is the P-256 private key (PKCS#8, as PEM or base64 DER).
    #[value(name = "sendgrid")]
    SendGrid,
}

impl SchemeName {
    pub(crate) fn scheme(self) -> Arc<dyn Scheme> {
        match self {
            Self::Github => Arc::new(GitHub),
            Self::Stripe => Arc::new(Stripe),
            Self::Slack => Arc::new(Slack),
            Self::StandardWebhooks => Arc::new(StandardWebhooks),
            Self::Shopify => Arc::new(Shopify),
            Self::Generic => Arc::new(Generic),
            Self::Discord => Arc::new(Discord),
            Self::SendGrid => Arc::new(SendGrid),
        }
    }

    /// Whether the scheme signs with a private key (whose public half the receiver holds)
    /// rather than a secret both sides share.
    pub(crate) fn signs_with_key_pair(self) -> bool {
        matches!(self, Self::Discord | Self::SendGrid)
    }

    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        <Self as clap::ValueEnum>::from_str(name, true).map_err(|_| {
            format!(
                "unknown scheme `{name}` (known: github, stripe, slack, standard-webhooks, \
                 shopify, generic, discord, sendgrid)"
            )
        })
    }
}

/// An http:// URL with a host, or a message that says what is wrong with it.
pub(crate) fn parse_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|error| format!("`{text}` is not a valid URL: {error}"))?;
    match uri.scheme_str() {
        Some("http") => {}
        Some("https") => {
            return Err(format!(
                "`{text}`: https:// is not supported; this build sends over plain http:// only \
                 (use `webhook sign` with curl for https)"
            ));
        }
        Some(other) => return Err(format!("`{text}`: `{other}://` is not http://")),
        None => {
            return Err(format!(
                "`{text}` is not a URL: it needs `http://` and a host"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(uri)
}

/// The payload bytes, exactly as given, once they are known to be JSON.
pub(crate) fn json_payload(bytes: Vec<u8>, what: &str) -> Result<Bytes, Failure> {
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|error| Failure::input(format!("{what} is not valid JSON: {error}")))?;
    Ok(Bytes::from(bytes))
}

pub(crate) fn read_payload_file(path: &Path) -> Result<Bytes, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|error| Failure::input(format!("cannot read {}: {error}", path.display())))?;
    json_payload(bytes, &path.display().to_string())
}
