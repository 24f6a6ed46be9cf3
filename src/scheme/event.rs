//! What a delivery is about: its event type, and the id some schemes keep in the body.
//!
//! The layer never parses JSON: it keeps the one header a scheme names its events with, and a
//! [`Verified`](crate::Verified) resolves the event type on first use, reading only the fields
//! it needs.

use std::borrow::Cow;
use std::fmt;

use serde::Deserialize;
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};

/// The event type and body id a scheme found in a verified delivery.
///
/// Returned by [`Scheme::event`](super::Scheme::event); read it through
/// [`Verified::event_type`](crate::Verified::event_type) and [`Verified::id`](crate::Verified::id).
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::{EventInfo, Scheme, Stripe};
///
/// let info = Stripe.event(None, br#"{"id":"evt_1","type":"payment_intent.succeeded"}"#);
/// assert_eq!(info, EventInfo::new().with_event_type("payment_intent.succeeded").with_id("evt_1"));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct EventInfo {
    /// The event type, dot-separated (`issues.opened`), when the delivery names one.
    pub event_type: Option<String>,
    /// The delivery id found in the body (Stripe's `id`, Slack's `event_id`).
    pub id: Option<String>,
    /// The timestamp as written in the body, for a scheme whose timestamp is a body field
    /// ([`Scheme::timestamp_in_body`](super::Scheme::timestamp_in_body)).
    pub timestamp: Option<String>,
}

impl EventInfo {
    /// Nothing known.
    pub fn new() -> Self {
        Self::default()
    }

    /// Sets the event type.
    #[must_use]
    pub fn with_event_type(mut self, event_type: impl Into<String>) -> Self {
        self.event_type = Some(event_type.into());
        self
    }

    /// Sets the body id.
    #[must_use]
    pub fn with_id(mut self, id: impl Into<String>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// Sets the body timestamp, as written.
    #[must_use]
    pub fn with_timestamp(mut self, timestamp: impl Into<String>) -> Self {
        self.timestamp = Some(timestamp.into());
        self
    }
}

/// Borrows a string field when it has no escapes, copies it otherwise.
pub(crate) type Text<'a> = Option<Cow<'a, str>>;

pub(crate) fn owned(text: Text<'_>) -> Option<String> {
    text.map(Cow::into_owned)
}

/// Reads `T` (a small struct of the fields a scheme needs) from a JSON body, or nothing when
/// the body is not a JSON object of that shape.
pub(crate) fn read<'a, T: Deserialize<'a>>(json: &'a [u8]) -> Option<T> {
    serde_json::from_slice(json).ok()
}

/// The JSON inside a form-encoded delivery's `payload` field (GitHub's and Slack's
/// `application/x-www-form-urlencoded` deliveries); the body itself when it is JSON already.
pub(crate) fn form_payload(body: &[u8]) -> Cow<'_, [u8]> {
    let first = body.iter().find(|byte| !byte.is_ascii_whitespace());
    if matches!(first, None | Some(b'{' | b'[')) {
        return Cow::Borrowed(body);
    }
    match form_urlencoded::parse(body).find(|(key, _)| key == "payload") {
        Some((_, Cow::Borrowed(json))) => Cow::Owned(json.as_bytes().to_vec()),
        Some((_, Cow::Owned(json))) => Cow::Owned(json.into_bytes()),
        None => Cow::Borrowed(body),
    }
}

/// The string (or number, as written) at a dot-separated `path` of object keys, e.g.
/// `event.type`, reading past every other field without building it.
pub(crate) fn field_at(json: &[u8], path: &str) -> Option<String> {
    let segments: Vec<&str> = path.split('.').collect();
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    FieldAt(&segments).deserialize(&mut deserializer).ok()?
}

struct FieldAt<'p>(&'p [&'p str]);

impl<'de> DeserializeSeed<'de> for FieldAt<'_> {
    type Value = Option<String>;

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FieldAt<'_> {
    type Value = Option<String>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut found = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match self.0.split_first() {
                Some((first, rest)) if *first == key && found.is_none() => {
                    found = map.next_value_seed(FieldAt(rest))?;
                }
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(found)
    }

    /// A numeric segment steps into that element of an array (`0.subscriptionType`).
    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        let wanted = self.0.split_first().and_then(|(first, rest)| {
            let index: usize = first.parse().ok()?;
            Some((index, rest))
        });
        let mut found = None;
        let mut index = 0;
        loop {
            match wanted {
                Some((at, rest)) if at == index => match seq.next_element_seed(FieldAt(rest))? {
                    Some(value) => found = value,
                    None => break,
                },
                _ => {
                    if seq.next_element::<IgnoredAny>()?.is_none() {
                        break;
                    }
                }
            }
            index += 1;
        }
        Ok(found)
    }

    fn visit_str<E>(self, text: &str) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then(|| text.to_owned()))
    }

    fn visit_i64<E>(self, n: i64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then(|| n.to_string()))
    }

    fn visit_u64<E>(self, n: u64) -> Result<Self::Value, E> {
        Ok(self.0.is_empty().then(|| n.to_string()))
    }

    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_at_reads_nested_fields_and_skips_the_rest() {
        let json = br#"{"a":[1,{"type":"no"}],"event":{"x":{"type":"deep"},"type":"yes"},"n":42}"#;
        assert_eq!(field_at(json, "event.type").as_deref(), Some("yes"));
        assert_eq!(field_at(json, "event.x.type").as_deref(), Some("deep"));
        assert_eq!(field_at(json, "n").as_deref(), Some("42"));
        assert_eq!(field_at(json, "event").as_deref(), None);
        assert_eq!(field_at(json, "a.1.type").as_deref(), Some("no"));
        assert_eq!(field_at(json, "a.0").as_deref(), Some("1"));
        assert_eq!(field_at(json, "a.2.type").as_deref(), None);
        assert_eq!(field_at(br#"[{"t":"x"}]"#, "0.t").as_deref(), Some("x"));
        assert_eq!(field_at(json, "missing").as_deref(), None);
        assert_eq!(field_at(b"not json", "a"), None);
        assert_eq!(
            field_at(br#"{"a":"\u00e9t\u00e9"}"#, "a").as_deref(),
            Some("été")
        );
    }

    #[test]
    fn form_payload_decodes_the_payload_field_only() {
        assert_eq!(&*form_payload(br#" {"a":1}"#), br#" {"a":1}"#);
        assert_eq!(
            &*form_payload(b"payload=%7B%22action%22%3A%22opened%22%7D"),
            br#"{"action":"opened"}"#
        );
        assert_eq!(&*form_payload(b"a=1&payload=%7B%7D"), b"{}");
        assert_eq!(&*form_payload(b"command=/deploy"), b"command=/deploy");
    }
}
