//! The layer: configuration only, cheap to clone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::reject::OnReject;
use crate::replay::ReplayGuard;
use crate::scheme::Scheme;
use crate::secret::Secrets;
use crate::service::VerifySignature;
use crate::verify::Config;

/// Verifies webhook signatures before requests reach the inner service.
///
/// See the [crate docs](crate) for an example and for where to put the layer.
///
/// Defaults: a 300-second timestamp window both ways, a 10 MiB body limit, the system clock,
/// and plain-text refusals.
#[derive(Clone)]
#[must_use]
pub struct VerifySignatureLayer {
    config: Arc<Config>,
}

impl VerifySignatureLayer {
    /// A layer for `scheme` that accepts a signature made with any of `secrets`.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when there is no secret, a secret cannot be a key for the scheme (empty,
    /// surrounded by whitespace, not base64 for Standard Webhooks…), or the scheme itself is
    /// misconfigured. The message says which secret, never what it is.
    ///
    /// # Example
    ///
    /// ```
    /// use tower_webhook::{scheme::StandardWebhooks, ConfigError, VerifySignatureLayer};
    ///
    /// let error = VerifySignatureLayer::new(StandardWebhooks, ["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "whsec_not base64!"])
    ///     .unwrap_err();
    /// assert_eq!(
    ///     error.to_string(),
    ///     "secret #2 is not base64 after the optional `whsec_` prefix"
    /// );
    /// ```
    pub fn new(scheme: impl Scheme, secrets: impl Into<Secrets>) -> Result<Self, ConfigError> {
        Ok(Self {
            config: Arc::new(Config::new(Arc::new(scheme), &secrets.into())?),
        })
    }

    /// How far a signed timestamp may be from now, in either direction (default 300 s).
    /// The bound is inclusive. Sub-second parts are ignored.
    pub fn tolerance(mut self, tolerance: Duration) -> Self {
        self.config_mut().tolerance_seconds = tolerance.as_secs();
        self
    }

    /// The largest body the layer will buffer, in bytes (default 10 MiB). Larger requests are
    /// refused with 413, before reading when they declare their length.
    pub fn max_body_size(mut self, bytes: usize) -> Self {
        self.config_mut().max_body_size = bytes;
        self
    }

    /// The time source for the timestamp window; see [`Clock`].
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config_mut().clock = Arc::new(clock);
        self
    }

    /// Builds the response for refused requests; see [`OnReject`].
    pub fn on_reject(mut self, on_reject: impl OnReject) -> Self {
        self.config_mut().on_reject = Some(Arc::new(on_reject));
        self
    }

    fn config_mut(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.config)
    }
}

/// Replay protection; see [`replay`](crate::replay).
impl VerifySignatureLayer {
    /// Refuses verified deliveries whose id `guard` has already recorded (409 by default).
    ///
    /// Only signed ids are used (see [`Verified::id_is_signed`](crate::Verified::id_is_signed))
    /// unless [`trust_unsigned_ids`](Self::trust_unsigned_ids) is on. See the
    /// [`replay`](crate::replay) module for an example, and for what is recorded and when.
    pub fn replay_guard(mut self, guard: impl ReplayGuard) -> Self {
        self.config_mut().replay.guard = Some(Arc::new(guard));
        self
    }

    /// The status for a replayed delivery (default `409 Conflict`). Some senders stop retrying
    /// only on 2xx; others count a 4xx as "do not retry": pick what your sender expects.
    pub fn replay_status(mut self, status: http::StatusCode) -> Self {
        self.config_mut().replay.status = status;
        self
    }

    /// Also keys the replay guard on ids the signature does not cover (GitHub's
    /// `X-GitHub-Delivery`, Shopify's `X-Shopify-Webhook-Id`, the generic `X-Webhook-ID`);
    /// default off. These stop a sender's duplicates and redeliveries, but not an attacker,
    /// who can replay a captured delivery under a fresh id.
    pub fn trust_unsigned_ids(mut self, trust: bool) -> Self {
        self.config_mut().replay.trust_unsigned_ids = trust;
        self
    }

    /// How long ids are recorded for schemes without a signed timestamp (default 24 h).
    /// Schemes with one keep each id for as long as its timestamp stays in the window.
    pub fn replay_ttl(mut self, ttl: Duration) -> Self {
        self.config_mut().replay.ttl_without_timestamp = ttl;
        self
    }

    /// How much longer than its window an id is recorded, to cover replicas whose clocks
    /// disagree (default 60 s).
    pub fn replay_skew_margin(mut self, margin: Duration) -> Self {
        self.config_mut().replay.skew_margin = margin;
        self
    }

    /// Lets deliveries through, unrecorded, when the replay guard fails (default off: they are
    /// refused with 503 and the sender retries). See
    /// [`replay`](crate::replay#when-the-guard-fails) for why failing closed is the default.
    pub fn fail_open_on_replay_guard_error(mut self, fail_open: bool) -> Self {
        self.config_mut().replay.fail_open = fail_open;
        self
    }
}

impl<S> Layer<S> for VerifySignatureLayer {
    type Service = VerifySignature<S>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifySignature::from_config(inner, Arc::clone(&self.config))
    }
}

impl fmt::Debug for VerifySignatureLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.config.fmt(f)
    }
}
