//! A scheme assembled from parts, for senders none of the presets describe.

use std::borrow::Cow;

use http::{HeaderMap, HeaderName, HeaderValue};

use super::event;
use super::headers::{prefixed_signature, required, single, timestamp};
use super::{
    EventInfo, Message, Part, Scheme, Signature, SignedHeaders, header_value, require_id,
    require_timestamp,
};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{ConfigError, SignError, VerifyError};

/// A scheme built from parts: the signature header and its prefix, hex or base64, optional
/// timestamp and id headers, and the signed content as a template such as
/// `{id}.{timestamp}.{body}`.
///
/// # Example
///
/// ```
/// use http::HeaderName;
/// use tower_webhook::crypto::Encoding;
/// use tower_webhook::scheme::{CustomScheme, Message, Scheme};
/// use tower_webhook::Secret;
///
/// let acme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
///     .named("acme")
///     .signature_prefix("v2=")
///     .encoding(Encoding::Base64)
///     .timestamp_header(HeaderName::from_static("x-acme-timestamp"))
///     .id_header(HeaderName::from_static("x-acme-delivery"))
///     .signed_content("{id}:{timestamp}:{body}")?;
///
/// let headers = acme.sign(
///     &Secret::new("s3cr3t"),
///     &Message::new(b"{}").id("d-1").timestamp(1700000000),
/// )?;
/// assert!(headers["x-acme-signature"].to_str()?.starts_with("v2="));
/// assert_eq!(headers["x-acme-delivery"], "d-1");
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
pub struct CustomScheme {
    name: Cow<'static, str>,
    signature_header: HeaderName,
    signature_prefix: Cow<'static, str>,
    encoding: Encoding,
    algorithm: Algorithm,
    timestamp_header: Option<HeaderName>,
    id_header: Option<HeaderName>,
    signed_content: Vec<Part>,
    template: Cow<'static, str>,
    event_type: EventType,
    id_field: Option<Cow<'static, str>>,
}

/// Where a [`CustomScheme`] reads the event type.
#[derive(Debug, Clone)]
enum EventType {
    None,
    Header(HeaderName),
    Field(Cow<'static, str>),
}

impl CustomScheme {
    /// A scheme whose signature is in `signature_header`, as hex without a prefix, over the body
    /// alone. Refine it with the other methods.
    pub fn new(signature_header: HeaderName) -> Self {
        Self {
            name: Cow::Borrowed("custom"),
            signature_header,
            signature_prefix: Cow::Borrowed(""),
            encoding: Encoding::Hex,
            algorithm: Algorithm::HmacSha256,
            timestamp_header: None,
            id_header: None,
            signed_content: vec![Part::Body],
            template: Cow::Borrowed("{body}"),
            event_type: EventType::None,
            id_field: None,
        }
    }

    /// Reads the event type from this header (replacing any earlier choice).
    ///
    /// # Example
    ///
    /// ```
    /// use http::HeaderName;
    /// use tower_webhook::scheme::{CustomScheme, Scheme};
    ///
    /// let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
    ///     .event_type_header(HeaderName::from_static("x-acme-event"));
    /// let info = scheme.event(Some(&"invoice.paid".parse()?), b"{}");
    /// assert_eq!(info.event_type.as_deref(), Some("invoice.paid"));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    #[must_use]
    pub fn event_type_header(mut self, header: HeaderName) -> Self {
        self.event_type = EventType::Header(header);
        self
    }

    /// Reads the event type from this field of the JSON body (replacing any earlier choice).
    /// Dots step into nested objects: `event.type` is `{"event": {"type": …}}`.
    ///
    /// # Example
    ///
    /// ```
    /// use http::HeaderName;
    /// use tower_webhook::scheme::{CustomScheme, Scheme};
    ///
    /// let scheme = CustomScheme::new(HeaderName::from_static("x-acme-signature"))
    ///     .event_type_field("meta.kind")
    ///     .id_field("meta.id");
    /// let info = scheme.event(None, br#"{"meta":{"kind":"invoice.paid","id":"in_1"}}"#);
    /// assert_eq!(info.event_type.as_deref(), Some("invoice.paid"));
    /// assert_eq!(info.id.as_deref(), Some("in_1"));
    /// ```
    #[must_use]
    pub fn event_type_field(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        self.event_type = EventType::Field(path.into());
        self
    }

    /// Reads the delivery id from this field of the JSON body (dots step into nested objects),
    /// for requests without an [id header](Self::id_header). An id from the body is covered by
    /// the signature.
    #[must_use]
    pub fn id_field(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        self.id_field = Some(path.into());
        self
    }

    /// The name recorded in [`Verified`](crate::Verified) and logs (default `"custom"`).
    #[must_use]
    pub fn named(mut self, name: impl Into<Cow<'static, str>>) -> Self {
        self.name = name.into();
        self
    }

    /// Text before the encoded signature, such as `sha256=`.
    #[must_use]
    pub fn signature_prefix(mut self, prefix: impl Into<Cow<'static, str>>) -> Self {
        self.signature_prefix = prefix.into();
        self
    }

    /// How the signature is encoded (default hex).
    #[must_use]
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The HMAC that signs (default HMAC-SHA256).
    ///
    /// # Example
    ///
    /// ```
    /// use http::HeaderName;
    /// use tower_webhook::crypto::{Algorithm, Encoding};
    /// use tower_webhook::scheme::{CustomScheme, Message, Scheme};
    /// use tower_webhook::Secret;
    ///
    /// let scheme = CustomScheme::new(HeaderName::from_static("x-signature"))
    ///     .algorithm(Algorithm::HmacSha512)
    ///     .encoding(Encoding::Base64Url);
    /// let headers = scheme.sign(&Secret::new("key"), &Message::new(b"{}"))?;
    /// assert_eq!(headers["x-signature"].len(), 86); // 64 bytes in unpadded base64url
    /// # Ok::<(), tower_webhook::SignError>(())
    /// ```
    ///
    /// A custom scheme signs with a shared secret: an algorithm that is not an HMAC is refused
    /// when the layer is built ([`ConfigError::UnsupportedAlgorithm`]).
    #[must_use]
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The header carrying the Unix timestamp. With it, every request must carry a timestamp
    /// within the layer's tolerance.
    #[must_use]
    pub fn timestamp_header(mut self, header: HeaderName) -> Self {
        self.timestamp_header = Some(header);
        self
    }

    /// The header carrying the delivery id.
    #[must_use]
    pub fn id_header(mut self, header: HeaderName) -> Self {
        self.id_header = Some(header);
        self
    }

    /// The signed content, as a template of `{id}`, `{timestamp}` and `{body}` (exactly once)
    /// between literal text, e.g. `{timestamp}.{body}`.
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSignedContent`] when `{body}` is missing or repeated, or a brace
    /// opens anything else.
    pub fn signed_content(
        mut self,
        template: impl Into<Cow<'static, str>>,
    ) -> Result<Self, ConfigError> {
        let template = template.into();
        self.signed_content = parse_template(&template)?;
        self.template = template;
        Ok(self)
    }
}

fn parse_template(template: &str) -> Result<Vec<Part>, ConfigError> {
    let invalid = |reason| ConfigError::InvalidSignedContent {
        template: template.to_owned(),
        reason,
    };
    let mut parts = Vec::new();
    let mut rest = template;
    while !rest.is_empty() {
        let Some(open) = rest.find('{') else {
            parts.push(Part::Literal(Cow::Owned(rest.to_owned())));
            break;
        };
        if open > 0 {
            parts.push(Part::Literal(Cow::Owned(rest[..open].to_owned())));
        }
        let after = &rest[open..];
        let (part, len) = if after.starts_with("{body}") {
            (Part::Body, "{body}".len())
        } else if after.starts_with("{timestamp}") {
            (Part::Timestamp, "{timestamp}".len())
        } else if after.starts_with("{id}") {
            (Part::Id, "{id}".len())
        } else {
            return Err(invalid(
                "only `{id}`, `{timestamp}` and `{body}` may stand in braces",
            ));
        };
        parts.push(part);
        rest = &after[len..];
    }
    match parts.iter().filter(|part| **part == Part::Body).count() {
        1 => Ok(parts),
        0 => Err(invalid("`{body}` is missing")),
        _ => Err(invalid("`{body}` may appear only once")),
    }
}

impl Scheme for CustomScheme {
    fn name(&self) -> &str {
        &self.name
    }

    fn id_header(&self) -> Option<&HeaderName> {
        self.id_header.as_ref()
    }

    fn signed_content(&self) -> &[Part] {
        &self.signed_content
    }

    fn check(&self) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::InvalidSignedContent {
            template: self.template.clone().into_owned(),
            reason,
        };
        for part in &self.signed_content {
            match part {
                Part::Timestamp if self.timestamp_header.is_none() => {
                    return Err(invalid("uses `{timestamp}` but no timestamp header is set"));
                }
                Part::Id if self.id_header.is_none() => {
                    return Err(invalid("uses `{id}` but no id header is set"));
                }
                _ => {}
            }
        }
        if !self.algorithm.is_hmac() {
            return Err(ConfigError::UnsupportedAlgorithm {
                algorithm: self.algorithm.to_string(),
                reason: "a custom scheme signs with a shared secret, so with an HMAC",
            });
        }
        // A prefix outside visible ASCII could never be read back from a header value: the
        // same rule as for the values the signing side writes.
        let readable = HeaderValue::from_str(&self.signature_prefix)
            .is_ok_and(|prefix| prefix.to_str().is_ok());
        if !readable {
            return Err(ConfigError::InvalidSignaturePrefix {
                prefix: self.signature_prefix.clone().into_owned(),
            });
        }
        Ok(())
    }

    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let mut signed = SignedHeaders::default();
        if let Some(name) = &self.timestamp_header {
            signed = signed.with_timestamp(timestamp(headers, name)?);
        }
        if let Some(name) = &self.id_header {
            let id = if self.signed_content.contains(&Part::Id) {
                Some(required(headers, name)?)
            } else {
                single(headers, name)?
            };
            if let Some(id) = id {
                signed = signed.with_id(id);
            }
        }
        signed.signatures = prefixed_signature(
            headers,
            &self.signature_header,
            &self.signature_prefix,
            self.algorithm,
            self.encoding,
        )?;
        let event = self.event_header().and_then(|name| headers.get(name));
        Ok(signed.with_event_header(event))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let signature = format!(
            "{}{}",
            self.signature_prefix,
            signature.encode(self.encoding)
        );
        headers.insert(
            self.signature_header.clone(),
            header_value(&self.signature_header, &signature)?,
        );
        if let Some(name) = &self.timestamp_header {
            headers.insert(name.clone(), require_timestamp(message, &self.name)?.into());
        }
        if let Some(name) = &self.id_header {
            let id = if self.signed_content.contains(&Part::Id) {
                Some(require_id(message, &self.name)?)
            } else {
                message.id
            };
            if let Some(id) = id {
                headers.insert(name.clone(), header_value(name, id)?);
            }
        }
        if let (EventType::Header(name), Some(event_type)) = (&self.event_type, message.event_type)
        {
            headers.insert(name.clone(), header_value(name, event_type)?);
        }
        Ok(())
    }

    fn event_header(&self) -> Option<&HeaderName> {
        match &self.event_type {
            EventType::Header(name) => Some(name),
            EventType::None | EventType::Field(_) => None,
        }
    }

    fn event(&self, header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        let event_type = match &self.event_type {
            EventType::None => None,
            EventType::Header(_) => header
                .and_then(|value| value.to_str().ok())
                .map(str::to_owned),
            EventType::Field(path) => event::field_at(payload, path),
        };
        EventInfo {
            event_type,
            id: self
                .id_field
                .as_ref()
                .and_then(|path| event::field_at(payload, path)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_signature_prefix_outside_visible_ascii_is_refused_at_configuration() {
        let scheme = |prefix: &'static str| {
            CustomScheme::new(HeaderName::from_static("x-sig")).signature_prefix(prefix)
        };
        assert!(scheme("v2=").check().is_ok());
        assert!(scheme("sha256 ").check().is_ok());
        for prefix in ["é=", "v2=\n", "v2\u{7f}="] {
            let error = scheme(prefix).check().unwrap_err();
            assert!(
                error.to_string().contains("not visible ASCII"),
                "{prefix:?}: {error}"
            );
        }
    }

    #[test]
    fn templates_parse_into_parts() {
        assert_eq!(
            parse_template("{id}.{timestamp}.{body}").unwrap(),
            vec![
                Part::Id,
                Part::Literal(".".into()),
                Part::Timestamp,
                Part::Literal(".".into()),
                Part::Body
            ]
        );
        assert_eq!(
            parse_template("v0:{timestamp}:{body}:end").unwrap(),
            vec![
                Part::Literal("v0:".into()),
                Part::Timestamp,
                Part::Literal(":".into()),
                Part::Body,
                Part::Literal(":end".into())
            ]
        );
    }

    #[test]
    fn templates_without_exactly_one_body_are_refused() {
        for bad in [
            "",
            "{id}",
            "{body}{body}",
            "{bod}",
            "{timestamp}.{body",
            "{x}{body}",
        ] {
            assert!(parse_template(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn templates_need_the_headers_they_use() {
        let scheme = CustomScheme::new(HeaderName::from_static("x-sig"))
            .signed_content("{timestamp}.{body}")
            .unwrap();
        assert!(scheme.check().is_err());
        let scheme = scheme.timestamp_header(HeaderName::from_static("x-ts"));
        assert!(scheme.check().is_ok());
    }
}
