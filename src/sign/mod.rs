//! Sign outgoing webhooks in a tower client stack.
//!
//! [`SignRequestLayer`] wraps any HTTP client that is a tower service, such as hyper-util's
//! legacy `Client`. For each request it buffers the body once, stamps the time and a delivery
//! id where the scheme has them, and adds the scheme's signature headers, made with the same
//! [`Scheme`](crate::scheme::Scheme) definitions the receiving side verifies with. The client
//! receives `Request<Full<Bytes>>`.
//!
//! For retries, put [`DeliverLayer`](crate::deliver::DeliverLayer) (feature `send`) outside
//! it: every attempt is then signed afresh, with a new timestamp and the same id.
//!
//! # Example
//!
//! Here the "client" is a receiver behind [`VerifySignatureLayer`](crate::VerifySignatureLayer),
//! called in-process; with hyper-util it is
//! `Client::builder(TokioExecutor::new()).build_http::<Full<Bytes>>()`.
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{BoxError, ServiceBuilder, ServiceExt};
//! use tower_webhook::scheme::StandardWebhooks;
//! use tower_webhook::sign::{EventType, SignRequestLayer};
//! use tower_webhook::{Verified, VerifiedBody, VerifySignatureLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let receiver = ServiceBuilder::new()
//!     .layer(VerifySignatureLayer::new(StandardWebhooks, secret)?)
//!     .service_fn(|request: Request<VerifiedBody>| async move {
//!         let verified = request.extensions().get::<Verified>().unwrap();
//!         assert!(verified.id().unwrap().starts_with("msg_"));
//!         Ok::<_, BoxError>(Response::new(Full::new(Bytes::new())))
//!     });
//!
//! let sender = ServiceBuilder::new()
//!     .layer(SignRequestLayer::new(StandardWebhooks, secret)?)
//!     .service(receiver);
//!
//! let mut request = Request::post("http://example.com/webhook")
//!     .header("content-type", "application/json")
//!     .body(Full::new(Bytes::from_static(br#"{"type":"order.completed"}"#)))?;
//! request.extensions_mut().insert(EventType::new("order.completed"));
//! let response = sender.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! # Ok(())
//! # }
//! ```
//!
//! # Ids and timestamps
//!
//! The timestamp is the layer's [clock](SignRequestLayer::clock) at signing time. The id is,
//! in order: the request's own id header if it has one (so a request you resend keeps its
//! id), the [`DeliveryId`] extension, or a new random `msg_…` id. Schemes without an id header
//! (Stripe, Slack) ignore it; GitHub, Shopify and the generic scheme send it unsigned.

mod error;
mod future;
mod id;
mod layer;
mod service;

pub use error::SignRequestError;
pub use future::ResponseFuture;
pub use id::{DeliveryId, EventType};
pub use layer::SignRequestLayer;
pub use service::SignRequest;
