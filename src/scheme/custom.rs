//! A scheme assembled from parts, for senders none of the presets describe, and the data
//! most presets are made of.

use std::borrow::Cow;
use std::fmt;

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Response, Uri};

use super::event;
use super::handshake::{self, Probe};
use super::headers::{List, Version, check_plain_secret, prefixed_signature, required, single};
use super::{
    EventInfo, Message, Part, Scheme, Signature, SignedHeaders, Timestamp, TimestampFormat,
    Tolerance, header_value, require_id, timestamp_text,
};
use crate::crypto::{Algorithm, Encoding};
use crate::error::{ConfigError, SignError, VerifyError};
use crate::secret::Secret;

/// A scheme built from parts: where the signature is and how it is written, the algorithm,
/// where the timestamp and the id are, and the signed content as a template such as
/// `{id}.{timestamp}.{body}`. Most of the crate's presets are made this way (see
/// [`presets`](super#presets)); a provider the crate lacks takes about ten lines.
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
///
/// A list of signatures with the timestamp among them, as Paddle writes
/// `Paddle-Signature: ts=1700000000;h1=<hex>`:
///
/// ```
/// use std::time::Duration;
/// use http::HeaderName;
/// use tower_webhook::scheme::{CustomScheme, Message, Scheme};
/// use tower_webhook::Secret;
///
/// let paddle_like = CustomScheme::new(HeaderName::from_static("paddle-signature"))
///     .signature_list(";", '=', "h1")
///     .timestamp_in_signature("ts")
///     .tolerance(Duration::from_secs(5))
///     .signed_content("{timestamp}:{body}")?;
/// let headers = paddle_like.sign(&Secret::new("pdl_ntfset_x"), &Message::new(b"{}").timestamp(1700000000))?;
/// assert!(headers["paddle-signature"].to_str()?.starts_with("ts=1700000000;h1="));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct CustomScheme {
    name: Cow<'static, str>,
    signature_header: HeaderName,
    signature_prefix: Cow<'static, str>,
    list: Option<SignatureList>,
    encoding: Encoding,
    algorithm: Algorithm,
    timestamp: TimestampSource,
    timestamp_format: TimestampFormat,
    tolerance: Tolerance,
    id_header: Option<HeaderName>,
    signed_content: Vec<Part>,
    template: Cow<'static, str>,
    event_type: EventType,
    id_field: Option<Cow<'static, str>>,
    signed_url: Option<fn(&str) -> Cow<'_, str>>,
    answer: Option<Answer>,
    verify_token: Option<Secret>,
}

/// A scheme's answer to its provider's endpoint check (see [`Scheme::handshake`]).
pub type Answer = fn(&Probe<'_>) -> Option<Response<Bytes>>;

/// Several signatures in one header: `v1=<sig>,v1=<sig>` or `v1,<sig> v1,<sig>`.
#[derive(Debug, Clone)]
struct SignatureList {
    /// As written between entries (`,`, `;`, `, ` or ` `).
    separator: Cow<'static, str>,
    pair: char,
    version: Cow<'static, str>,
}

impl SignatureList {
    /// The character entries are split on; spaces around it are trimmed from each entry.
    fn split_on(&self) -> char {
        self.separator.trim().chars().next().unwrap_or(' ')
    }

    /// Refuses a shape whose entries could not be told apart when read back: a separator of
    /// more than one character (besides spaces around it), and a version or timestamp key
    /// that is empty, holds the separator or the pair, or is the other.
    fn check(&self, timestamp_key: Option<&str>) -> Result<(), ConfigError> {
        let invalid = |reason| ConfigError::InvalidSignatureList {
            shape: format!("{}{}<sig>{}", self.version, self.pair, self.separator),
            reason,
        };
        let separator = self.split_on();
        let trimmed = self.separator.trim();
        if self.separator.is_empty() || trimmed.chars().count() > 1 {
            return Err(invalid(
                "the separator must be one character, with spaces around it or not",
            ));
        }
        if !self.separator.chars().all(|c| c == ' ' || c == separator) || !readable(&self.separator)
        {
            return Err(invalid("the separator must be visible ASCII or a space"));
        }
        if self.pair == separator || self.pair == ' ' || !readable(&self.pair.to_string()) {
            return Err(invalid(
                "the pair must be visible ASCII other than the separator",
            ));
        }
        let distinct = |word: &str| {
            !word.is_empty() && readable(word) && !word.contains([separator, self.pair, ' '])
        };
        if !distinct(&self.version) {
            return Err(invalid(
                "the version must be visible ASCII without the separator or pair",
            ));
        }
        match timestamp_key {
            Some(key) if !distinct(key) || key == self.version => Err(invalid(
                "the timestamp key must be visible ASCII without the separator or pair, and not \
                 the version",
            )),
            _ => Ok(()),
        }
    }
}

/// Whether a header value can carry `text` and be read back as it is.
fn readable(text: &str) -> bool {
    HeaderValue::from_str(text).is_ok_and(|value| value.to_str().is_ok())
}

/// Where a [`CustomScheme`] reads the timestamp.
#[derive(Debug, Clone)]
enum TimestampSource {
    None,
    Header(HeaderName),
    /// The entry with this key in the signature list (Stripe's `t=`, Paddle's `ts=`).
    InSignature(Cow<'static, str>),
    /// A field of the JSON body (Linear's `webhookTimestamp`), checked once the body verifies.
    BodyField(Cow<'static, str>),
}

/// Where a [`CustomScheme`] reads the event type.
#[derive(Debug, Clone)]
enum EventType {
    None,
    Header(HeaderName),
    Field(Cow<'static, str>),
    /// `{header}.{field}` when the body has the field, else the header alone.
    HeaderAndField(HeaderName, Cow<'static, str>),
}

impl CustomScheme {
    /// A scheme whose signature is in `signature_header`, as hex without a prefix, over the body
    /// alone, with HMAC-SHA256. Refine it with the other methods.
    pub fn new(signature_header: HeaderName) -> Self {
        Self {
            name: Cow::Borrowed("custom"),
            signature_header,
            signature_prefix: Cow::Borrowed(""),
            list: None,
            encoding: Encoding::Hex,
            algorithm: Algorithm::HmacSha256,
            timestamp: TimestampSource::None,
            timestamp_format: TimestampFormat::Seconds,
            tolerance: Tolerance::DEFAULT,
            id_header: None,
            signed_content: vec![Part::Body],
            template: Cow::Borrowed("{body}"),
            event_type: EventType::None,
            id_field: None,
            signed_url: None,
            answer: None,
            verify_token: None,
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
    /// Dots step into nested objects, numbers into arrays: `event.type` is
    /// `{"event": {"type": …}}`, `0.type` the `type` of the first element.
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

    /// Names the event `{header}.{field}`: the header's value, then the body field's when the
    /// body has it (GitHub's `X-GitHub-Event` and `action` make `issues.opened`).
    #[must_use]
    pub fn event_type_header_and_field(
        mut self,
        header: HeaderName,
        path: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.event_type = EventType::HeaderAndField(header, path.into());
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

    /// The signature header holds a list: entries separated by `separator` (`","`, `";"`,
    /// `", "`, or `" "`), each `version` then `pair` then a signature (`v1=<sig>`,
    /// `v1,<sig>`). Every entry of that version counts (a sender rolling its secret signs
    /// with both); entries of other versions are skipped.
    #[must_use]
    pub fn signature_list(
        mut self,
        separator: impl Into<Cow<'static, str>>,
        pair: char,
        version: impl Into<Cow<'static, str>>,
    ) -> Self {
        self.list = Some(SignatureList {
            separator: separator.into(),
            pair,
            version: version.into(),
        });
        self
    }

    /// How the signature is encoded (default hex).
    #[must_use]
    pub fn encoding(mut self, encoding: Encoding) -> Self {
        self.encoding = encoding;
        self
    }

    /// The algorithm that signs (default HMAC-SHA256).
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
    /// With Ed25519 or ECDSA the layer verifies with [`PublicKey`](crate::crypto::PublicKey)s
    /// and signs with a private key; with [`Algorithm::Token`] the secret itself is the header.
    #[must_use]
    pub fn algorithm(mut self, algorithm: Algorithm) -> Self {
        self.algorithm = algorithm;
        self
    }

    /// The header carrying the timestamp. With it, every request must carry a timestamp
    /// within the layer's tolerance.
    #[must_use]
    pub fn timestamp_header(mut self, header: HeaderName) -> Self {
        self.timestamp = TimestampSource::Header(header);
        self
    }

    /// The timestamp is the entry with this key in the [signature list](Self::signature_list)
    /// (Stripe's and Calendly's `t`, Paddle's `ts`).
    #[must_use]
    pub fn timestamp_in_signature(mut self, key: impl Into<Cow<'static, str>>) -> Self {
        self.timestamp = TimestampSource::InSignature(key.into());
        self
    }

    /// The timestamp is this field of the signed JSON body (Linear's `webhookTimestamp`): the
    /// layer checks it once the signature has verified, and refuses a delivery without it.
    #[must_use]
    pub fn timestamp_field(mut self, path: impl Into<Cow<'static, str>>) -> Self {
        self.timestamp = TimestampSource::BodyField(path.into());
        self
    }

    /// How the timestamp is written (default Unix seconds).
    #[must_use]
    pub fn timestamp_format(mut self, format: TimestampFormat) -> Self {
        self.timestamp_format = format;
        self
    }

    /// The window a timestamp must fall in by default (300 s either way unless set): a
    /// [`Duration`](std::time::Duration) or a [`Tolerance`]. A layer's own
    /// [`tolerance`](crate::VerifySignatureLayer::tolerance) still overrides it.
    #[must_use]
    pub fn tolerance(mut self, tolerance: impl Into<Tolerance>) -> Self {
        self.tolerance = tolerance.into();
        self
    }

    /// The header carrying the delivery id.
    #[must_use]
    pub fn id_header(mut self, header: HeaderName) -> Self {
        self.id_header = Some(header);
        self
    }

    /// Rewrites the URL before it is signed, for a provider that does (HubSpot decodes a few
    /// escapes).
    #[must_use]
    pub fn signed_url_with(mut self, rewrite: fn(&str) -> Cow<'_, str>) -> Self {
        self.signed_url = Some(rewrite);
        self
    }

    /// Answers the provider's endpoint check with `answer` (see [`Scheme::handshake`]).
    #[must_use]
    pub fn answers(mut self, answer: Answer) -> Self {
        self.answer = Some(answer);
        self
    }

    /// Answers the unsigned subscription check Meta (and WebSub hubs) make, `GET
    /// ?hub.mode=subscribe&hub.challenge=…&hub.verify_token=…`, with the challenge when the
    /// verify token is this one (compared in constant time), and with 403 when it is not.
    /// The verify token is yours to choose; it is not the app secret.
    #[must_use]
    pub fn verify_token(mut self, token: impl Into<Secret>) -> Self {
        self.verify_token = Some(token.into());
        self
    }

    /// The signed content, as a template of `{id}`, `{timestamp}`, `{url}`, `{method}` and
    /// `{body}` (exactly once) between literal text, e.g. `{timestamp}.{body}`. `{form}`
    /// stands for Twilio's canonical form in place of `{body}` (see [`Part::Form`]).
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

    fn timestamp_key(&self) -> Option<&str> {
        match &self.timestamp {
            TimestampSource::InSignature(key) => Some(key),
            _ => None,
        }
    }

    /// Reads the list of signatures and, when the scheme keeps it there, the timestamp.
    fn parse_list<'h>(
        &self,
        list: &SignatureList,
        value: &'h str,
    ) -> Result<SignedHeaders<'h>, VerifyError> {
        let name = &self.signature_header;
        let malformed = |reason| VerifyError::MalformedHeader {
            header: name.clone(),
            reason,
        };
        let shape = List {
            separator: list.split_on(),
            pair: list.pair,
            shape: "not a list of signatures in the expected shape",
        };
        let versions = [Version {
            tag: &list.version,
            algorithm: self.algorithm,
            encoding: self.encoding,
        }];
        let key = self.timestamp_key();
        let mut timestamp = None;
        let listed = shape.read(value, name, &versions, |entry, value| {
            if Some(entry) != key {
                return Ok(false);
            }
            if timestamp.is_some() {
                return Err(malformed("more than one timestamp"));
            }
            timestamp = Some(Timestamp::parse_as(value, self.timestamp_format, name)?);
            Ok(true)
        })?;
        let mut signed = SignedHeaders::new(listed.require(name)?);
        if key.is_some() {
            signed = signed.with_timestamp(timestamp.ok_or(malformed("no timestamp entry"))?);
        }
        Ok(signed)
    }
}

// The parts, without the verify token's value.
impl fmt::Debug for CustomScheme {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CustomScheme")
            .field("name", &self.name)
            .field("signature_header", &self.signature_header)
            .field("signature_prefix", &self.signature_prefix)
            .field("list", &self.list)
            .field("encoding", &self.encoding)
            .field("algorithm", &self.algorithm)
            .field("timestamp", &self.timestamp)
            .field("timestamp_format", &self.timestamp_format)
            .field("tolerance", &self.tolerance)
            .field("id_header", &self.id_header)
            .field("template", &self.template)
            .field("event_type", &self.event_type)
            .field("id_field", &self.id_field)
            .field("verify_token", &self.verify_token.as_ref().map(|_| "***"))
            .finish_non_exhaustive()
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
        const PLACES: [(&str, Part); 6] = [
            ("{body}", Part::Body),
            ("{form}", Part::Form),
            ("{timestamp}", Part::Timestamp),
            ("{id}", Part::Id),
            ("{url}", Part::Url),
            ("{method}", Part::Method),
        ];
        let Some((place, part)) = PLACES.iter().find(|(place, _)| after.starts_with(place)) else {
            return Err(invalid(
                "only `{id}`, `{timestamp}`, `{url}`, `{method}`, `{body}` and `{form}` may stand in \
                 braces",
            ));
        };
        let (part, len) = (part.clone(), place.len());
        parts.push(part);
        rest = &after[len..];
    }
    match parts.iter().filter(|part| part.is_body()).count() {
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
        let signs = |part| self.signed_content.contains(&part);
        if self.algorithm == Algorithm::Token
            && (self.signed_content != [Part::Body] || self.timestamp_in_body())
        {
            return Err(invalid(
                "cannot be anything but `{body}` with a token, which signs nothing (nor a body \
                 timestamp)",
            ));
        }
        match &self.timestamp {
            TimestampSource::None if signs(Part::Timestamp) => {
                return Err(invalid("uses `{timestamp}` but no timestamp header is set"));
            }
            TimestampSource::BodyField(_) if signs(Part::Timestamp) => {
                return Err(invalid(
                    "uses `{timestamp}`, which cannot be a field of the body it signs",
                ));
            }
            // An unsigned timestamp could be rewritten at will: the window would mean nothing.
            TimestampSource::Header(_) | TimestampSource::InSignature(_)
                if !signs(Part::Timestamp) =>
            {
                return Err(invalid("does not sign the timestamp the scheme reads"));
            }
            _ => {}
        }
        if signs(Part::Id) && self.id_header.is_none() {
            return Err(invalid("uses `{id}` but no id header is set"));
        }
        if self.timestamp_key().is_some() && self.list.is_none() {
            return Err(invalid(
                "keeps the timestamp in the signature header, which is not a list",
            ));
        }
        if let Some(list) = &self.list {
            list.check(self.timestamp_key())?;
        }
        if let Some(token) = &self.verify_token {
            check_plain_secret(token).map_err(|reason| ConfigError::InvalidSecret {
                which: "verify token".to_owned(),
                reason,
            })?;
        }
        // A prefix outside visible ASCII could never be read back from a header value: the
        // same rule as for the values the signing side writes.
        if !readable(&self.signature_prefix) {
            return Err(ConfigError::InvalidSignaturePrefix {
                prefix: self.signature_prefix.clone().into_owned(),
            });
        }
        Ok(())
    }

    fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    fn timestamp_format(&self) -> TimestampFormat {
        self.timestamp_format
    }

    fn tolerance(&self) -> Tolerance {
        self.tolerance
    }

    fn timestamp_in_body(&self) -> bool {
        matches!(self.timestamp, TimestampSource::BodyField(_))
    }

    fn signed_url<'u>(&self, url: &'u str) -> Cow<'u, str> {
        match self.signed_url {
            Some(rewrite) => rewrite(url),
            None => Cow::Borrowed(url),
        }
    }

    fn handshake(&self, probe: &Probe<'_>) -> Option<Response<Bytes>> {
        self.answer.and_then(|answer| answer(probe))
    }

    fn unsigned_handshake(
        &self,
        method: &Method,
        uri: &Uri,
        _headers: &HeaderMap,
    ) -> Option<Response<Bytes>> {
        let token = self.verify_token.as_ref()?;
        (method == Method::GET).then(|| handshake::hub_challenge(uri, token))?
    }

    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<SignedHeaders<'h>, VerifyError> {
        let name = &self.signature_header;
        let mut signed = match &self.list {
            Some(list) => self.parse_list(list, required(headers, name)?)?,
            None => SignedHeaders::new(prefixed_signature(
                headers,
                name,
                &self.signature_prefix,
                self.algorithm,
                self.encoding,
            )?),
        };
        if let TimestampSource::Header(name) = &self.timestamp {
            let raw = required(headers, name)?;
            signed = signed.with_timestamp(Timestamp::parse_as(raw, self.timestamp_format, name)?);
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
        let event = self.event_header().and_then(|name| headers.get(name));
        Ok(signed.with_event_header(event))
    }

    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &Signature,
    ) -> Result<(), SignError> {
        let encoded = signature.encode(self.encoding);
        let timestamp = || timestamp_text(message, &self.name, self.timestamp_format);
        let value = match &self.list {
            None => format!("{}{encoded}", self.signature_prefix),
            Some(list) => {
                let entry = format!("{}{}{encoded}", list.version, list.pair);
                match self.timestamp_key() {
                    Some(key) => format!(
                        "{key}{}{}{}{entry}",
                        list.pair,
                        timestamp()?,
                        list.separator
                    ),
                    None => entry,
                }
            }
        };
        let name = &self.signature_header;
        headers.insert(name.clone(), header_value(name, &value)?);
        if let TimestampSource::Header(name) = &self.timestamp {
            headers.insert(name.clone(), header_value(name, &timestamp()?)?);
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
        if let (Some(name), Some(event_type)) = (self.event_header(), message.event_type) {
            // `issues.opened` travels as the header `issues` when the rest is a body field,
            // which is the sender's to write.
            let value = match &self.event_type {
                EventType::HeaderAndField(..) => event_type.split('.').next().unwrap_or(event_type),
                _ => event_type,
            };
            headers.insert(name.clone(), header_value(name, value)?);
        }
        Ok(())
    }

    fn event_header(&self) -> Option<&HeaderName> {
        match &self.event_type {
            EventType::Header(name) | EventType::HeaderAndField(name, _) => Some(name),
            EventType::None | EventType::Field(_) => None,
        }
    }

    fn event(&self, header: Option<&HeaderValue>, payload: &[u8]) -> EventInfo {
        let header = header.and_then(|value| value.to_str().ok());
        let event_type = match &self.event_type {
            EventType::None => None,
            EventType::Header(_) => header.map(str::to_owned),
            EventType::Field(path) => event::field_at(payload, path),
            EventType::HeaderAndField(_, path) => {
                header.map(|header| match event::field_at(payload, path) {
                    Some(field) => format!("{header}.{field}"),
                    None => header.to_owned(),
                })
            }
        };
        let field =
            |path: Option<&Cow<'static, str>>| path.and_then(|path| event::field_at(payload, path));
        let timestamp = match &self.timestamp {
            TimestampSource::BodyField(path) => field(Some(path)),
            _ => None,
        };
        EventInfo {
            event_type,
            id: field(self.id_field.as_ref()),
            timestamp,
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
    fn lists_that_could_not_be_read_back_are_refused() {
        let list =
            |separator: &'static str, pair, version: &'static str, key: Option<&'static str>| {
                let scheme = CustomScheme::new(HeaderName::from_static("x-sig"))
                    .signature_list(separator, pair, version);
                match key {
                    Some(key) => scheme
                        .timestamp_in_signature(key)
                        .signed_content("{timestamp}.{body}")
                        .unwrap(),
                    None => scheme,
                }
            };
        for good in [
            list(",", '=', "v1", Some("t")),
            list(", ", '=', "v1", Some("t")),
            list(";", '=', "h1", Some("ts")),
            list(" ", ',', "v1", None),
        ] {
            assert!(good.check().is_ok(), "{good:?}");
        }
        for bad in [
            list("", '=', "v1", None),
            list("\t", '=', "v1", None),
            list(";;", '=', "v1", None),
            list(",", ',', "v1", None),
            list(",", '=', "", None),
            list(",", '=', "v=1", None),
            list(",", '=', "v1", Some("v1")),
            list(",", '=', "v1", Some("t,s")),
        ] {
            assert!(
                matches!(bad.check(), Err(ConfigError::InvalidSignatureList { .. })),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn a_timestamp_read_must_be_signed_and_a_token_signs_nothing() {
        let header = || HeaderName::from_static("x-sig");
        let unsigned =
            CustomScheme::new(header()).timestamp_header(HeaderName::from_static("x-ts"));
        assert!(
            unsigned.check().is_err(),
            "a window over an unsigned timestamp"
        );
        let token = CustomScheme::new(header()).algorithm(Algorithm::Token);
        assert!(token.check().is_ok());
        let token_with_id = token
            .clone()
            .id_header(HeaderName::from_static("x-id"))
            .signed_content("{id}{body}")
            .unwrap();
        assert!(token_with_id.check().is_err());
        assert!(token.clone().timestamp_field("ts").check().is_err());
    }

    #[test]
    fn an_empty_verify_token_is_refused() {
        let scheme = CustomScheme::new(HeaderName::from_static("x-sig"));
        assert!(scheme.clone().verify_token("my-token").check().is_ok());
        for token in ["", " my-token"] {
            let error = scheme.clone().verify_token(token).check().unwrap_err();
            assert!(
                error.to_string().starts_with("secret verify token"),
                "{error}"
            );
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
