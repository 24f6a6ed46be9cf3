//! The layer: configuration only, cheap to clone.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use tower_layer::Layer;

use crate::clock::Clock;
use crate::error::ConfigError;
use crate::reject::OnReject;
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
