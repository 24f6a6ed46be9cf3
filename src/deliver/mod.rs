//! Deliver webhooks with retries: a retry policy, a timeout per attempt, a report.
//!
//! The stack, outermost first:
//!
//! ```text
//! DeliverLayer      fixes the delivery id, retries under DeliveryPolicy, reports the outcome
//!   Timeout         one per attempt (tower::timeout)
//!     SignRequest   signs each attempt afresh: new timestamp, same id
//!       client      e.g. hyper-util's legacy Client
//! ```
//!
//! Requests need a `Clone` body (`Full<Bytes>` is) so that each attempt can resend it.
//!
//! # Example
//!
//! A receiver that fails twice before it accepts; the delivery succeeds on the third attempt.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{BoxError, ServiceBuilder, ServiceExt};
//! use tower_webhook::deliver::{DeliverLayer, DeliveryPolicy, DeliveryReport};
//! use tower_webhook::scheme::Stripe;
//! use tower_webhook::sign::SignRequestLayer;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let calls = Arc::new(AtomicU32::new(0));
//! let counter = Arc::clone(&calls);
//! let flaky_receiver = tower::service_fn(move |_request: Request<Full<Bytes>>| {
//!     let call = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         let status = if call < 2 { StatusCode::SERVICE_UNAVAILABLE } else { StatusCode::OK };
//!         let mut response = Response::new(Full::new(Bytes::new()));
//!         *response.status_mut() = status;
//!         Ok::<_, BoxError>(response)
//!     }
//! });
//!
//! let policy = DeliveryPolicy::new()
//!     .max_attempts(5)
//!     .base_delay(Duration::from_millis(1))
//!     .on_attempt(|attempt| println!("attempt {}: {:?}", attempt.number, attempt.status));
//! let client = ServiceBuilder::new()
//!     .layer(DeliverLayer::new(policy).attempt_timeout(Duration::from_secs(10)))
//!     .layer(SignRequestLayer::new(Stripe, "whsec_test_secret")?)
//!     .service(flaky_receiver);
//!
//! let request = Request::post("http://127.0.0.1:8080/webhook")
//!     .body(Full::new(Bytes::from_static(br#"{"type":"invoice.paid"}"#)))?;
//! let response = client.oneshot(request).await?;
//! let report = response.extensions().get::<DeliveryReport>().unwrap();
//! assert!(report.is_delivered());
//! assert_eq!(report.attempts, 3);
//! # Ok(())
//! # }
//! ```

mod backoff;
mod future;
mod layer;
mod policy;
mod report;
mod service;

pub use future::ResponseFuture;
pub use layer::DeliverLayer;
pub use policy::DeliveryPolicy;
pub use report::{Attempt, DeliveryFailed, DeliveryReport};
pub use service::Deliver;

/// For the Dispatcher, which judges its own attempts the same way.
#[cfg(feature = "dispatch")]
pub(crate) use report::error_chain;

/// The wait a `Retry-After` header asks for, now.
#[cfg(feature = "dispatch")]
pub(crate) fn retry_after_header(headers: &http::HeaderMap) -> Option<std::time::Duration> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
    backoff::retry_after(headers, now)
}
