//! Events: a type and a payload, sent to every endpoint that subscribes to the type.

use std::time::SystemTime;

use bytes::Bytes;
use serde::Serialize;

use super::error::DispatchError;
use crate::scheme::{Envelope, Resource};

/// An event to dispatch.
///
/// ```
/// use serde_json::json;
/// use tower_webhook::dispatch::Event;
/// use tower_webhook::scheme::Resource;
///
/// // Raw bytes, sent exactly as given.
/// let raw = Event::new("order.paid", r#"{"order":77}"#).idempotency_key("order-77-paid");
///
/// // JSON.
/// let json = Event::json("order.paid", &json!({"order": 77}))?;
///
/// // The envelope of the generic scheme: event, timestamp, resource, data.
/// let resource = Resource { id: "77".into(), kind: "order".into(), ..Resource::default() };
/// let enveloped = Event::envelope("order.paid", resource, &json!({"total": 1200}))?;
/// let body: serde_json::Value = serde_json::from_slice(enveloped.payload())?;
/// assert_eq!(body["resource"]["type"], "order");
/// assert_eq!(body["data"]["total"], 1200);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[must_use]
pub struct Event {
    pub(crate) event_type: String,
    pub(crate) payload: Bytes,
    pub(crate) content_type: String,
    pub(crate) idempotency_key: Option<String>,
}

impl Event {
    /// An event of this type whose deliveries send `payload` exactly, as `application/json`
    /// unless [`content_type`](Self::content_type) says otherwise.
    pub fn new(event_type: impl Into<String>, payload: impl Into<Bytes>) -> Self {
        Self {
            event_type: event_type.into(),
            payload: payload.into(),
            content_type: "application/json".into(),
            idempotency_key: None,
        }
    }

    /// An event whose payload is `data` as JSON.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Payload`] when `data` does not serialise.
    pub fn json(
        event_type: impl Into<String>,
        data: &impl Serialize,
    ) -> Result<Self, DispatchError> {
        let payload = serde_json::to_vec(data).map_err(DispatchError::Payload)?;
        Ok(Self::new(event_type, payload))
    }

    /// An event whose payload is the [`Envelope`] of the generic scheme (the Go package's
    /// `BuildPayload`): `{"event", "timestamp", "resource", "data"}`, stamped now in RFC 3339.
    ///
    /// # Errors
    ///
    /// [`DispatchError::Payload`] when `data` does not serialise.
    pub fn envelope<T: Serialize>(
        event_type: impl Into<String>,
        resource: Resource,
        data: &T,
    ) -> Result<Self, DispatchError> {
        let event_type = event_type.into();
        let envelope = Envelope {
            event: event_type.clone(),
            timestamp: humantime::format_rfc3339_seconds(SystemTime::now()).to_string(),
            resource,
            data,
        };
        Self::json(event_type, &envelope)
    }

    /// Dispatching another event with the same key queues nothing new and returns the first
    /// event's ids: safe to call again after a timeout or a crash.
    pub fn idempotency_key(mut self, key: impl Into<String>) -> Self {
        self.idempotency_key = Some(key.into());
        self
    }

    /// The payload's media type (default `application/json`).
    pub fn content_type(mut self, content_type: impl Into<String>) -> Self {
        self.content_type = content_type.into();
        self
    }

    /// The event type.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The payload.
    pub fn payload(&self) -> &Bytes {
        &self.payload
    }
}
