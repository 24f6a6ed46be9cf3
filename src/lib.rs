//! Accept webhooks safely in any tower service: axum, tonic or bare hyper.
//!
//! [`VerifySignatureLayer`] sits in front of your service and lets through only requests whose
//! signature matches one of your keys, whose timestamp is fresh, and whose body fits the
//! limit. It checks the headers before reading a single body byte, feeds the body to the
//! verifier as it streams in (no copies), compares in constant time, and hands on the exact
//! bytes it verified together with a [`Verified`] extension.
//!
//! Schemes: [`GitHub`](scheme::GitHub), [`Stripe`](scheme::Stripe), [`Slack`](scheme::Slack),
//! [`StandardWebhooks`](scheme::StandardWebhooks) (and Svix; `v1` HMAC and `v1a` Ed25519),
//! [`Shopify`](scheme::Shopify), [`Discord`](scheme::Discord) (Ed25519),
//! [`SendGrid`](scheme::SendGrid) (ECDSA P-256), the [`Generic`](scheme::Generic)
//! `X-Webhook-*` scheme, and your own with [`CustomScheme`](scheme::CustomScheme). Every scheme
//! also [signs](scheme::Scheme::sign). The [`crypto`] module lists the algorithms (HMAC-SHA1,
//! -SHA256 and -SHA512, Ed25519, ECDSA P-256), all from RustCrypto and dalek crates.
//!
//! # Example
//!
//! ```
//! use std::time::Duration;
//!
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt, BoxError};
//! use tower_webhook::scheme::{GitHub, Message, Scheme};
//! use tower_webhook::{Secret, Verified, VerifiedBody, VerifySignatureLayer};
//!
//! async fn handle(request: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, BoxError> {
//!     let verified = request.extensions().get::<Verified>().expect("the layer inserts it");
//!     Ok(Response::new(Full::new(verified.body().clone())))
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let service = ServiceBuilder::new()
//!     .layer(
//!         VerifySignatureLayer::new(GitHub, ["new secret", "old secret"])?
//!             .max_body_size(1 << 20),
//!     )
//!     .service_fn(handle);
//!
//! // A delivery signed with the old secret, as during a rotation: accepted.
//! let body = br#"{"zen":"Keep it logically awesome."}"#;
//! let headers = GitHub.sign(&Secret::new("old secret"), &Message::new(body))?;
//! let mut request = Request::post("/webhook").body(Full::new(Bytes::from_static(body)))?;
//! request.headers_mut().extend(headers);
//! let response = service.clone().oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//!
//! // A forged one: refused, and `handle` never runs.
//! let request = Request::post("/webhook")
//!     .header("x-hub-signature-256", format!("sha256={}", "0".repeat(64)))
//!     .body(Full::new(Bytes::from_static(body)))?;
//! let response = service.oneshot(request).await?;
//! assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
//! # Ok(())
//! # }
//! ```
//!
//! With axum, add it to a router like any other layer:
//! `Router::new().route("/webhook", post(handler)).layer(layer)`.
//!
//! Handlers can then take the payload typed, with [`WebhookEvent<T>`], and an [`EventRouter`]
//! sends each delivery to the handler of the most specific event-type [`Pattern`]
//! (`issues.opened`, `order.*`, `*`); see the [`router`] module.
//!
//! # Where to put the layer
//!
//! - **Innermost of the body-changing layers.** The signature covers the bytes the sender sent.
//!   A decompression layer in front of it is fine only if the sender signed the decompressed
//!   body (none of the schemes here do); anything that re-encodes the body (a JSON normaliser,
//!   a charset converter) breaks every signature.
//! - **Body limits.** The layer enforces its own limit ([`max_body_size`](VerifySignatureLayer::max_body_size)).
//!   An outer `RequestBodyLimitLayer` still works: its refusal surfaces as 413 here. axum's
//!   `Json`/`Bytes` extractors apply their own 2 MiB default after the layer; read the verified
//!   bytes from [`Verified::body`] to avoid it.
//! - **Slow senders.** The layer reads the whole body before calling the inner service; put a
//!   timeout layer outside it so a slow body cannot hold a connection forever.
//!
//! # Clock skew and replays
//!
//! Schemes with a timestamp are refused when it is more than the
//! [tolerance](VerifySignatureLayer::tolerance) (300 s by default, both ways) away from the
//! layer's [`Clock`]. Keep servers on NTP. Inside the window a captured delivery can be sent
//! again; GitHub and Shopify sign no timestamp at all, and their delivery ids are not signed.
//! A [replay guard](replay) ([`replay_guard`](VerifySignatureLayer::replay_guard)) remembers
//! accepted delivery ids and refuses a second copy with 409.
//!
//! # Sending
//!
//! The same schemes sign outgoing webhooks: [`Scheme::sign`](scheme::Scheme::sign) returns the
//! headers for a body; with the `sign` feature, `SignRequestLayer` signs every request of a tower
//! HTTP client and `Secret::generate` makes new secrets; with `send`, the `deliver` module adds
//! retries with backoff; with `cli`, the `webhook` program sends from the command line.
//!
//! # Features
//!
//! None are on by default. `axum`: [`EventRouter`] takes axum handlers; `tracing`: an event for
//! every refusal (never the secret or signature); `redis`: a replay guard shared by replicas;
//! `sign`, `send`, `cli`: the sending side, as above.
#![warn(missing_docs, rust_2018_idioms, missing_debug_implementations)]
#![deny(unreachable_pub, unsafe_code)]
#![cfg_attr(docsrs, feature(doc_cfg))]

#[macro_use]
mod macros;

mod clock;
pub mod crypto;
#[cfg(feature = "send")]
#[cfg_attr(docsrs, doc(cfg(feature = "send")))]
pub mod deliver;
#[cfg(feature = "dispatch")]
#[cfg_attr(docsrs, doc(cfg(feature = "dispatch")))]
pub mod dispatch;
mod error;
pub mod extract;
mod pattern;
mod reject;
pub mod rejection;
pub mod replay;
pub mod router;
pub mod scheme;
mod secret;
#[cfg(feature = "sign")]
#[cfg_attr(docsrs, doc(cfg(feature = "sign")))]
pub mod sign;
mod verified;
mod verify;

/// The largest body the verifying and the signing layers buffer unless told otherwise.
const DEFAULT_MAX_BODY_SIZE: usize = 10 * 1024 * 1024;

pub use clock::{Clock, SystemClock};
pub use error::{BoxError, ConfigError, InvalidSecret, SignError, VerifyError};
pub use extract::WebhookEvent;
pub use pattern::{Pattern, PatternError};
pub use reject::OnReject;
pub use router::{EventRouter, EventRouterFuture};
#[cfg(feature = "sign")]
pub use secret::RandomnessUnavailable;
pub use secret::{Key, Secret, SecretFormat, Secrets};
pub use verified::Verified;
pub use verify::{
    ResponseBody, ResponseFuture, VerifiedBody, VerifySignature, VerifySignatureLayer,
};
