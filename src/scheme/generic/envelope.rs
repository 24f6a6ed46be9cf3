//! The envelope of the [`Generic`](crate::scheme::Generic) scheme's deliveries.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

/// A delivery of the [`Generic`](crate::scheme::Generic) scheme: what happened (`event`), when,
/// to which resource, and the event's own `data`.
///
/// ```json
/// {
///   "event": "order.completed",
///   "timestamp": "2026-11-23T18:00:00Z",
///   "resource": {"id": "ord_1", "type": "order", "labels": {"env": "prod"}, "annotations": {}},
///   "data": {"total": 4200}
/// }
/// ```
///
/// `timestamp` is kept as sent; a number (Unix seconds) is read as its digits. `labels` and
/// `annotations` may be left out.
///
/// # Example
///
/// ```
/// use serde::Deserialize;
/// use tower_webhook::scheme::Envelope;
///
/// #[derive(Deserialize)]
/// struct Order {
///     total: u64,
/// }
///
/// let json = r#"{"event":"order.completed","timestamp":1700000000,
///     "resource":{"id":"ord_1","type":"order","labels":{"env":"prod"}},
///     "data":{"total":4200}}"#;
/// let envelope: Envelope<Order> = serde_json::from_str(json)?;
/// assert_eq!(envelope.event, "order.completed");
/// assert_eq!(envelope.timestamp, "1700000000");
/// assert_eq!(envelope.resource.kind, "order");
/// assert_eq!(envelope.resource.labels["env"], "prod");
/// assert_eq!(envelope.data.total, 4200);
/// # Ok::<(), serde_json::Error>(())
/// ```
///
/// With the extractor: `WebhookEvent<Envelope<Order>>`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Envelope<T> {
    /// The event type, such as `order.completed`.
    pub event: String,
    /// When the event happened, as the sender wrote it.
    #[serde(deserialize_with = "string_or_number")]
    pub timestamp: String,
    /// The resource the event is about.
    pub resource: Resource,
    /// The event's own data.
    pub data: T,
}

/// The resource an [`Envelope`] is about.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Resource {
    /// The resource's id.
    pub id: String,
    /// The resource's type (`type` in JSON).
    #[serde(rename = "type")]
    pub kind: String,
    /// Identifying key/value labels.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// Non-identifying key/value annotations.
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

fn string_or_number<'de, D: Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Either {
        Text(String),
        Number(serde_json::Number),
    }
    Ok(match Either::deserialize(deserializer)? {
        Either::Text(text) => text,
        Either::Number(number) => number.to_string(),
    })
}
