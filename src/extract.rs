//! axum extractors for verified webhooks: [`WebhookEvent<T>`] and [`Verified`].
//!
//! Both read the [`Verified`] extension that [`VerifySignatureLayer`](crate::VerifySignatureLayer)
//! inserts, never the request body: they work whatever axum's `DefaultBodyLimit`, and they can
//! be used in any order. Without the layer in front they refuse with 500 (fail closed).
//!
//! # Example
//!
//! ```
//! use axum::{Router, routing::post};
//! use bytes::Bytes;
//! use http::{Request, StatusCode};
//! use http_body_util::Full;
//! use serde::Deserialize;
//! use tower::ServiceExt;
//! use tower_webhook::scheme::{Message, Scheme, Stripe};
//! use tower_webhook::{Secret, VerifySignatureLayer, WebhookEvent};
//!
//! #[derive(Deserialize)]
//! struct Charge {
//!     data: ChargeData,
//! }
//! #[derive(Deserialize)]
//! struct ChargeData {
//!     object: ChargeObject,
//! }
//! #[derive(Deserialize)]
//! struct ChargeObject {
//!     amount: u64,
//! }
//!
//! async fn on_charge(event: WebhookEvent<Charge>) -> String {
//!     format!(
//!         "{} {}: {}",
//!         event.event_type.as_deref().unwrap_or("?"),
//!         event.id.as_deref().unwrap_or("?"),
//!         event.payload.data.object.amount
//!     )
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), tower::BoxError> {
//! let secret = "whsec_test";
//! let app = Router::new()
//!     .route("/stripe", post(on_charge))
//!     .layer(VerifySignatureLayer::new(Stripe, [secret])?);
//!
//! let body = br#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{"amount":2000}}}"#;
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let headers = Stripe.sign(&Secret::new(secret), &Message::new(body).timestamp(now as i64))?;
//! let mut request = Request::post("/stripe").body(axum::body::Body::from(&body[..]))?;
//! request.headers_mut().extend(headers);
//!
//! let response = app.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```

use axum_core::extract::{FromRequestParts, OptionalFromRequestParts};
use http::request::Parts;
use serde::de::DeserializeOwned;

use crate::rejection::{MissingVerified, WebhookEventRejection};
use crate::verified::Verified;

/// A verified webhook with its payload decoded as `T`: an axum extractor.
///
/// The payload is the verified JSON ([`Verified::payload`]), decoded with serde; a JSON syntax
/// error answers 400, JSON of the wrong shape 422, each with serde's message. Without
/// [`VerifySignatureLayer`](crate::VerifySignatureLayer) in front it answers 500. As
/// `Option<WebhookEvent<T>>` a missing layer gives `None`, but a bad payload still refuses.
///
/// See the [module docs](crate::extract) for an example.
#[derive(Debug, Clone)]
pub struct WebhookEvent<T> {
    /// The event type ([`Verified::event_type`]).
    pub event_type: Option<String>,
    /// The delivery id ([`Verified::id`]).
    pub id: Option<String>,
    /// The signed timestamp in Unix seconds, for schemes that have one.
    pub timestamp: Option<i64>,
    /// The decoded payload.
    pub payload: T,
}

impl<T: DeserializeOwned> WebhookEvent<T> {
    /// Decodes the payload of a verified delivery, as the extractor does.
    ///
    /// # Errors
    ///
    /// The payload is not JSON, or not JSON of `T`'s shape.
    pub fn from_verified(verified: &Verified) -> Result<Self, WebhookEventRejection> {
        let payload = serde_json::from_slice(&verified.payload())
            .map_err(WebhookEventRejection::from_json)?;
        Ok(Self {
            event_type: verified.event_type().map(str::to_owned),
            id: verified.id().map(str::to_owned),
            timestamp: verified.timestamp(),
            payload,
        })
    }
}

impl<T, S> FromRequestParts<S> for WebhookEvent<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebhookEventRejection;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let verified = parts.extensions.get::<Verified>().ok_or(MissingVerified)?;
        Self::from_verified(verified)
    }
}

impl<T, S> OptionalFromRequestParts<S> for WebhookEvent<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = WebhookEventRejection;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        match parts.extensions.get::<Verified>() {
            Some(verified) => Self::from_verified(verified).map(Some),
            None => Ok(None),
        }
    }
}

/// The metadata of a verified webhook, without decoding its payload.
///
/// Answers 500 ([`MissingVerified`]) without the layer in front; `Option<Verified>` gives
/// `None` instead.
///
/// ```
/// use tower_webhook::Verified;
///
/// async fn handler(verified: Verified) -> String {
///     format!("{} from {}", verified.event_type().unwrap_or("?"), verified.scheme())
/// }
/// let app: axum::Router = axum::Router::new().route("/hook", axum::routing::post(handler));
/// ```
impl<S> FromRequestParts<S> for Verified
where
    S: Send + Sync,
{
    type Rejection = MissingVerified;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts
            .extensions
            .get::<Verified>()
            .cloned()
            .ok_or(MissingVerified)
    }
}

impl<S> OptionalFromRequestParts<S> for Verified
where
    S: Send + Sync,
{
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        _state: &S,
    ) -> Result<Option<Self>, Self::Rejection> {
        Ok(parts.extensions.get::<Verified>().cloned())
    }
}
