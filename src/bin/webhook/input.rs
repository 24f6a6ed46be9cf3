//! Reading what the user gave: scheme names, URLs, payloads.

use std::path::Path;
use std::sync::Arc;

use bytes::Bytes;
use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use http::Uri;
use tower_webhook::scheme::{self, PRESETS, Part, Scheme};

use crate::Failure;

/// A scheme the command line knows by name: any of `tower_webhook::scheme::PRESETS`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SchemeName(&'static str);

impl SchemeName {
    pub(crate) fn scheme(self) -> Arc<dyn Scheme> {
        scheme::preset(self.0).expect("a name from PRESETS")
    }

    /// Whether the scheme signs with a private key (whose public half the receiver holds)
    /// rather than a secret both sides share.
    pub(crate) fn signs_with_key_pair(self) -> bool {
        !self.scheme().algorithm().is_shared()
    }

    /// Whether the scheme signs the URL the webhook is sent to (Twilio, Square, HubSpot).
    pub(crate) fn signs_url(self) -> bool {
        self.scheme().signed_content().contains(&Part::Url)
    }

    /// The preset called `name`, in any case; `standard` is short for `standard-webhooks`.
    pub(crate) fn parse(name: &str) -> Result<Self, String> {
        let lower = name.to_ascii_lowercase();
        let wanted = if lower == "standard" {
            "standard-webhooks"
        } else {
            lower.as_str()
        };
        PRESETS
            .iter()
            .find(|preset| **preset == wanted)
            .map(|preset| Self(preset))
            .ok_or_else(|| format!("unknown scheme `{name}` (known: {})", PRESETS.join(", ")))
    }

    /// The `--scheme` parser: every preset's name, listed in `--help` and in the error for
    /// an unknown one.
    pub(crate) fn value_parser() -> impl TypedValueParser<Value = Self> {
        let names = PRESETS.iter().map(|name| match *name {
            "standard-webhooks" => PossibleValue::new(*name).alias("standard"),
            _ => PossibleValue::new(*name),
        });
        PossibleValuesParser::new(names)
            .map(|name| Self::parse(&name).expect("clap checked it is listed"))
    }
}

/// Whether a media type is JSON: `application/json`, or `…+json`.
pub(crate) fn is_json(content_type: &str) -> bool {
    let essence = content_type.split(';').next().unwrap_or_default().trim();
    let essence = essence.to_ascii_lowercase();
    essence == "application/json"
        || (essence.starts_with("application/") && essence.ends_with("+json"))
}

/// The URL to send `body` to (see [`tower_webhook::scheme::url_for_body`]).
pub(crate) fn url_for_body(
    scheme: &dyn Scheme,
    url: &str,
    content_type: &str,
    body: &[u8],
) -> String {
    tower_webhook::scheme::url_for_body(scheme, url, content_type, body)
}

/// An http:// or https:// URL with a host, or a message that says what is wrong with it.
pub(crate) fn parse_url(text: &str) -> Result<Uri, String> {
    let uri: Uri = text
        .parse()
        .map_err(|error| format!("`{text}` is not a valid URL: {error}"))?;
    match uri.scheme_str() {
        Some("http" | "https") => {}
        Some(other) => {
            return Err(format!(
                "`{text}`: `{other}://` is neither http:// nor https://"
            ));
        }
        None => {
            return Err(format!(
                "`{text}` is not a URL: it needs `http://` or `https://` and a host"
            ));
        }
    }
    if uri.host().is_none_or(str::is_empty) {
        return Err(format!("`{text}` has no host"));
    }
    Ok(uri)
}

/// The payload bytes, exactly as given, once they are known to be JSON (for a JSON media
/// type; others are sent as they are).
pub(crate) fn payload(bytes: Vec<u8>, what: &str, content_type: &str) -> Result<Bytes, Failure> {
    if is_json(content_type) {
        json_payload(bytes, what)
    } else {
        Ok(Bytes::from(bytes))
    }
}

/// The payload bytes, exactly as given, once they are known to be JSON.
pub(crate) fn json_payload(bytes: Vec<u8>, what: &str) -> Result<Bytes, Failure> {
    serde_json::from_slice::<serde::de::IgnoredAny>(&bytes)
        .map_err(|error| Failure::input(format!("{what} is not valid JSON: {error}")))?;
    Ok(Bytes::from(bytes))
}

pub(crate) fn read_payload_file(path: &Path, content_type: &str) -> Result<Bytes, Failure> {
    let bytes = std::fs::read(path)
        .map_err(|error| Failure::input(format!("cannot read {}: {error}", path.display())))?;
    payload(bytes, &path.display().to_string(), content_type)
}
