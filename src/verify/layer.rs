//! The layer: configuration only, cheap to clone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use super::service::VerifySignature;
use super::verification::Config;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::reject::OnReject;
use crate::replay::ReplayProtection;
use crate::scheme::Scheme;
use crate::secret::Secrets;

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
    /// A layer for `scheme` that accepts a signature made with any of `secrets` (shared
    /// [`Secret`](crate::Secret)s, or [`PublicKey`](crate::crypto::PublicKey)s for schemes signed
    /// with a key pair).
    ///
    /// # Errors
    ///
    /// [`ConfigError`] when there is no key, a key cannot be used with the scheme (empty,
    /// surrounded by whitespace, not base64 for Standard Webhooks, a public key in the wrong
    /// format…), or the scheme itself is misconfigured. The message says which key by position
    /// and name, never what a secret is.
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
    /// Refuses verified deliveries whose id the guard has already recorded (409 by default).
    ///
    /// Takes a [`ReplayGuard`](crate::replay::ReplayGuard) with the default settings, or a
    /// [`ReplayProtection`] that changes them. Only signed ids are used (see
    /// [`Verified::id_is_signed`](crate::Verified::id_is_signed)) unless
    /// [`ReplayProtection::trust_unsigned_ids`] is on. See the [`replay`](crate::replay) module
    /// for an example, and for what is recorded and when.
    pub fn replay_guard(mut self, protection: impl Into<ReplayProtection>) -> Self {
        self.config_mut().replay = Some(protection.into());
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
        f.debug_struct("VerifySignatureLayer")
            .field("config", &self.config)
            .finish()
    }
}
