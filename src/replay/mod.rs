//! Replay protection: refuse a verified webhook whose id was already accepted.
//!
//! A signature proves who sent a request, not that it is the first time you see it. Anyone who
//! captures one delivery (a proxy log, a misconfigured tunnel, a leaked request dump) can send
//! it again, and it verifies again for as long as its timestamp stays inside the window. A
//! [`ReplayGuard`] remembers the ids of accepted deliveries and the layer refuses a second one
//! with `409 Conflict` ([`VerifyError::Replayed`]):
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{BoxError, ServiceBuilder, ServiceExt};
//! use tower_webhook::replay::MemoryReplayGuard;
//! use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
//! use tower_webhook::{Secret, SystemClock, Clock, VerifiedBody, VerifySignatureLayer};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), BoxError> {
//! let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
//! let service = ServiceBuilder::new()
//!     .layer(
//!         VerifySignatureLayer::new(StandardWebhooks, secret)?
//!             .replay_guard(MemoryReplayGuard::new(100_000)),
//!     )
//!     .service_fn(|_: Request<VerifiedBody>| async {
//!         Ok::<_, BoxError>(Response::new(Full::new(Bytes::from_static(b"thanks"))))
//!     });
//!
//! let body = br#"{"type":"invoice.paid"}"#;
//! let message = Message::new(body).id("msg_1").timestamp(SystemClock.unix_now());
//! let headers = StandardWebhooks.sign(&Secret::new(secret), &message)?;
//! let delivery = || {
//!     let mut request = Request::post("/webhook").body(Full::new(Bytes::from_static(body)))?;
//!     request.headers_mut().extend(headers.clone());
//!     Ok::<_, http::Error>(request)
//! };
//!
//! let first = service.clone().oneshot(delivery()?).await?;
//! assert_eq!(first.status(), StatusCode::OK);
//! let again = service.oneshot(delivery()?).await?;
//! assert_eq!(again.status(), StatusCode::CONFLICT);
//! # Ok(())
//! # }
//! ```
//!
//! A [`ReplayProtection`] changes the defaults:
//! `.replay_guard(ReplayProtection::new(guard).trust_unsigned_ids(true).status(StatusCode::OK))`.
//!
//! # What is recorded, and when
//!
//! - **Only verified requests.** The guard is asked after the signature matched, never before:
//!   a forger cannot fill it with ids, nor burn a real delivery's id in advance.
//! - **The key** is the scheme's name and the delivery id ([`Verified::id`]), e.g.
//!   `standard-webhooks:msg_1`, so two layers for different senders sharing one store do not
//!   collide on each other's ids.
//! - **How long.** For schemes with a signed timestamp, a delivery can verify until its
//!   timestamp plus the [tolerance](crate::VerifySignatureLayer::tolerance); its record lives
//!   that long, plus a [skew margin](ReplayProtection::skew_margin) (60 s by
//!   default) for replicas whose clocks disagree. After that the timestamp check refuses the
//!   replay by itself. Schemes with no timestamp have no such end, so their records live for a
//!   fixed [time](ReplayProtection::ttl) (24 h by default).
//! - **No usable id: passed.** A verified request without an id (a scheme that has none, or a
//!   sender that left the optional header out) cannot be told apart from a replay and is let
//!   through. Layers whose schemes sign a timestamp still bound its replays to the window.
//!
//! # Signed and unsigned ids
//!
//! Standard Webhooks (and Svix) sign their `webhook-id`, and so does a
//! [`CustomScheme`](crate::scheme::CustomScheme) whose template contains `{id}`: a replayed
//! delivery carries the same id, and changing the id breaks the signature. GitHub's
//! `X-GitHub-Delivery`, Shopify's `X-Shopify-Webhook-Id` and the generic `X-Webhook-ID` are
//! **not signed**: whoever replays a captured delivery can put any fresh id next to the valid
//! signature, so keying on them stops honest duplicates (a sender's retries, a redelivery) but
//! not an attacker. They are idempotency hints, not authentication. The layer therefore keys
//! only on signed ids unless you say otherwise with
//! [`trust_unsigned_ids`](ReplayProtection::trust_unsigned_ids), which is the right
//! call when what you want is idempotency.
//!
//! # When the guard fails
//!
//! A store that cannot answer (Redis down, the in-memory guard full of live ids) is answered
//! with `503 Service Unavailable` ([`VerifyError::ReplayGuardUnavailable`]): the layer fails
//! closed. Every webhook sender retries on 5xx, so a refusal here delays a delivery; failing
//! open would accept replays exactly when someone has a reason to knock the store over.
//! [`ReplayProtection::fail_open`] turns that around when availability matters more than replays.
//!
//! # When the handler fails
//!
//! The id is recorded before your handler runs, so two copies arriving at once cannot both get
//! through. When the handler answers with a server error (5xx), the layer asks the guard to
//! [forget](ReplayGuard::forget) the id again, so that the sender's retry is not refused as a
//! replay of a delivery that was never processed.
//!
//! [`VerifyError::Replayed`]: crate::VerifyError::Replayed
//! [`VerifyError::ReplayGuardUnavailable`]: crate::VerifyError::ReplayGuardUnavailable
//! [`Verified::id`]: crate::Verified::id

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::clock::Clock;
pub use crate::error::ReplayError;
use crate::verified::Verified;

mod call;
mod memory;
#[cfg(feature = "redis")]
mod redis;

pub(crate) use call::GuardedCall;
pub use memory::MemoryReplayGuard;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub use redis::RedisReplayGuard;

/// The future a [`ReplayGuard`] returns: boxed, `Send`, and owning everything it needs.
pub type ReplayFuture<T> = Pin<Box<dyn Future<Output = Result<T, ReplayError>> + Send + 'static>>;

/// Whether a delivery id was new.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Freshness {
    /// First time this id was seen inside its lifetime; it is now recorded.
    Fresh,
    /// The id is already recorded: the request is a replay (or a duplicate).
    Seen,
}

/// Remembers the ids of accepted webhooks; see the [module docs](self).
///
/// The layer keeps it as `Arc<dyn ReplayGuard>`, so the methods return a boxed future
/// ([`ReplayFuture`]) that owns what it uses (clone your handle into it). A guard that answers
/// at once returns `Box::pin(std::future::ready(…))`.
///
/// # Example
///
/// A guard that never refuses anything, e.g. to switch replay protection off in a test:
///
/// ```
/// use std::time::Duration;
/// use tower_webhook::replay::{Freshness, ReplayFuture, ReplayGuard};
///
/// struct Forgetful;
///
/// impl ReplayGuard for Forgetful {
///     fn check_and_record(&self, _key: String, _ttl: Duration) -> ReplayFuture<Freshness> {
///         Box::pin(std::future::ready(Ok(Freshness::Fresh)))
///     }
/// }
/// ```
pub trait ReplayGuard: Send + Sync + 'static {
    /// Records `key` for `ttl` and answers [`Freshness::Fresh`], or answers
    /// [`Freshness::Seen`] when it is already recorded. The check and the record must be one
    /// atomic step: of two concurrent calls with the same key, exactly one is `Fresh`.
    ///
    /// `ttl` is at least one second.
    fn check_and_record(&self, key: String, ttl: Duration) -> ReplayFuture<Freshness>;

    /// Drops the record of `key`, after the handler failed to process its delivery, so that
    /// the sender's retry is accepted. The default does nothing (the retry is then refused
    /// until the record expires).
    fn forget(&self, key: String) -> ReplayFuture<()> {
        let _ = key;
        Box::pin(std::future::ready(Ok(())))
    }
}

impl<G: ReplayGuard + ?Sized> ReplayGuard for Arc<G> {
    fn check_and_record(&self, key: String, ttl: Duration) -> ReplayFuture<Freshness> {
        (**self).check_and_record(key, ttl)
    }

    fn forget(&self, key: String) -> ReplayFuture<()> {
        (**self).forget(key)
    }
}

/// Replay protection for [`VerifySignatureLayer::replay_guard`](crate::VerifySignatureLayer::replay_guard):
/// a guard and how the layer uses it. A bare [`ReplayGuard`] converts into one with the
/// defaults.
///
/// # Example
///
/// ```
/// use std::time::Duration;
///
/// use http::StatusCode;
/// use tower_webhook::replay::{MemoryReplayGuard, ReplayProtection};
/// use tower_webhook::{scheme::GitHub, VerifySignatureLayer};
///
/// let layer = VerifySignatureLayer::new(GitHub, "secret")?.replay_guard(
///     ReplayProtection::new(MemoryReplayGuard::new(10_000))
///         .trust_unsigned_ids(true) // GitHub's delivery ids are not signed
///         .ttl(Duration::from_secs(3 * 24 * 60 * 60))
///         .status(StatusCode::OK),
/// );
/// # Ok::<(), tower_webhook::ConfigError>(())
/// ```
#[derive(Clone)]
pub struct ReplayProtection {
    guard: Arc<dyn ReplayGuard>,
    status: http::StatusCode,
    trust_unsigned_ids: bool,
    ttl_without_timestamp: Duration,
    skew_margin: Duration,
    fail_open: bool,
}

impl ReplayProtection {
    /// `guard` with the defaults: 409 for a replay, signed ids only, 24 h records for schemes
    /// without a timestamp, a 60 s skew margin, failing closed.
    pub fn new(guard: impl ReplayGuard) -> Self {
        Self {
            guard: Arc::new(guard),
            status: http::StatusCode::CONFLICT,
            trust_unsigned_ids: false,
            ttl_without_timestamp: Duration::from_secs(24 * 60 * 60),
            skew_margin: Duration::from_secs(60),
            fail_open: false,
        }
    }

    /// The status for a replayed delivery (default `409 Conflict`). Some senders stop retrying
    /// only on 2xx; others count a 4xx as "do not retry": pick what your sender expects.
    #[must_use]
    pub fn status(mut self, status: http::StatusCode) -> Self {
        self.status = status;
        self
    }

    /// Also keys on ids the signature does not cover (GitHub's `X-GitHub-Delivery`, Shopify's
    /// `X-Shopify-Webhook-Id`, the generic `X-Webhook-ID`); default off. These stop a sender's
    /// duplicates and redeliveries, but not an attacker, who can replay a captured delivery
    /// under a fresh id.
    #[must_use]
    pub fn trust_unsigned_ids(mut self, trust: bool) -> Self {
        self.trust_unsigned_ids = trust;
        self
    }

    /// How long ids are recorded for schemes without a signed timestamp (default 24 h).
    /// Schemes with one keep each id for as long as its timestamp stays in the window.
    #[must_use]
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl_without_timestamp = ttl;
        self
    }

    /// How much longer than its window an id is recorded, to cover replicas whose clocks
    /// disagree (default 60 s).
    #[must_use]
    pub fn skew_margin(mut self, margin: Duration) -> Self {
        self.skew_margin = margin;
        self
    }

    /// Lets deliveries through, unrecorded, when the guard fails (default off: they are
    /// refused with 503 and the sender retries). See
    /// [when the guard fails](self#when-the-guard-fails) for why failing closed is the default.
    #[must_use]
    pub fn fail_open(mut self, fail_open: bool) -> Self {
        self.fail_open = fail_open;
        self
    }

    /// What to ask the guard about one verified request, or `None` when there is nothing to
    /// key on.
    pub(crate) fn check(
        &self,
        verified: &Verified,
        tolerance_seconds: u64,
        clock: &dyn Clock,
    ) -> Option<ReplayCheck> {
        let id = verified.id().filter(|id| !id.is_empty())?;
        if !(verified.id_is_signed() || self.trust_unsigned_ids) {
            return None;
        }
        let lifetime = match verified.timestamp() {
            // Verifiable until `timestamp + tolerance` on this clock.
            Some(timestamp) => {
                let end = i128::from(timestamp) + i128::from(tolerance_seconds);
                let now = i128::from(clock.unix_now());
                let left = u64::try_from((end - now).max(0)).unwrap_or(u64::MAX);
                Duration::from_secs(left)
            }
            None => self.ttl_without_timestamp,
        };
        Some(ReplayCheck {
            protection: self.clone(),
            key: format!("{}:{id}", verified.scheme()),
            ttl: lifetime
                .saturating_add(self.skew_margin)
                .max(Duration::from_secs(1)),
        })
    }
}

impl<G: ReplayGuard> From<G> for ReplayProtection {
    fn from(guard: G) -> Self {
        Self::new(guard)
    }
}

impl std::fmt::Debug for ReplayProtection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ReplayProtection")
            .field("status", &self.status)
            .field("trust_unsigned_ids", &self.trust_unsigned_ids)
            .field("ttl_without_timestamp", &self.ttl_without_timestamp)
            .field("skew_margin", &self.skew_margin)
            .field("fail_open", &self.fail_open)
            .finish_non_exhaustive()
    }
}

/// What to ask the guard about one verified request.
pub(crate) struct ReplayCheck {
    protection: ReplayProtection,
    key: String,
    ttl: Duration,
}
