//! The extensions that steer signing: a fixed delivery id, and the event type.

use std::borrow::Cow;
use std::fmt;

use base64::Engine as _;

use super::error::SignRequestError;

/// The delivery id to sign a request with, as a request extension.
///
/// [`SignRequestLayer`](super::SignRequestLayer) takes the id from the request's id header when
/// it already has one, else from this extension, else it makes a new one. Fixing the id before
/// the first attempt is what makes retries recognisable as the same delivery: the delivery
/// layer in [`deliver`](crate::deliver) inserts one for you.
///
/// # Example
///
/// ```
/// use tower_webhook::sign::DeliveryId;
///
/// let id = DeliveryId::generate()?;
/// assert!(id.as_str().starts_with("msg_"));
/// assert_eq!(id.as_str().len(), 4 + 22);
/// assert!(id.as_str()[4..].bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(DeliveryId::new("msg_2024_order_77"));
/// # Ok::<(), tower_webhook::sign::SignRequestError>(())
/// ```
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct DeliveryId(Cow<'static, str>);

impl DeliveryId {
    /// An id you chose, e.g. the primary key of the event in your outbox.
    pub fn new(id: impl Into<Cow<'static, str>>) -> Self {
        Self(id.into())
    }

    /// A new random id: `msg_` and 128 random bits as unpadded base64url (22 characters),
    /// so it is safe in URLs and headers.
    ///
    /// # Errors
    ///
    /// [`SignRequestError`] when the operating system's random source fails.
    pub fn generate() -> Result<Self, SignRequestError> {
        let mut bytes = [0u8; 16];
        getrandom::fill(&mut bytes).map_err(|_| SignRequestError::RandomnessUnavailable)?;
        let encoded = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
        Ok(Self(Cow::Owned(format!("msg_{encoded}"))))
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("DeliveryId").field(&self.as_str()).finish()
    }
}

impl fmt::Display for DeliveryId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The event type of an outgoing webhook (e.g. `issues.opened`), as a request extension.
///
/// Schemes that carry the event type in a header (GitHub's `X-GitHub-Event`, Shopify's
/// `X-Shopify-Topic`) write it when the request has this extension; the others carry it in the
/// body, which is yours to write.
///
/// ```
/// use tower_webhook::sign::EventType;
///
/// let mut request = http::Request::new(());
/// request.extensions_mut().insert(EventType::new("orders.create"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventType(Cow<'static, str>);

impl EventType {
    /// The event type, dot-separated.
    pub fn new(event_type: impl Into<Cow<'static, str>>) -> Self {
        Self(event_type.into())
    }

    /// The event type.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}
