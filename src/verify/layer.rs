//! The layer: configuration only, cheap to clone.

use std::fmt;
use std::sync::Arc;
#[cfg(doc)]
use std::time::Duration;

use tower_layer::Layer;

use super::public_url::PublicUrl;
use super::service::VerifySignature;
use super::verification::Config;
use crate::clock::Clock;
use crate::error::ConfigError;
use crate::reject::OnReject;
use crate::replay::ReplayProtection;
use crate::scheme::{Scheme, Tolerance};
use crate::secret::Secrets;

/// Verifies webhook signatures before requests reach the inner service.
///
/// See the [crate docs](crate) for an example and for where to put the layer.
///
/// Defaults: the scheme's timestamp window (300 s both ways for most), a 10 MiB body limit, the system clock,
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

    /// How far a signed timestamp may be from now: a [`Duration`] for the same bound in both
    /// directions, or a [`Tolerance`] for two. The bounds are inclusive. The default is the
    /// scheme's own ([`Scheme::tolerance`]): 300 s either way for most, Paddle's 5 s, Twitch's
    /// 10 minutes.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_webhook::{scheme::Stripe, VerifySignatureLayer};
    ///
    /// let layer = VerifySignatureLayer::new(Stripe, "whsec_test")?.tolerance(Duration::from_secs(60));
    /// # Ok::<(), tower_webhook::ConfigError>(())
    /// ```
    pub fn tolerance(mut self, tolerance: impl Into<Tolerance>) -> Self {
        self.config_mut().tolerance = tolerance.into();
        self
    }

    /// The URL senders call this endpoint at, for schemes that sign it (Square, HubSpot,
    /// Twilio): the public one, as registered with the provider, not the one a proxy forwards
    /// to. Give it without a query, and each request's own query is added (Twilio puts a hash
    /// of the body there); a URL with a query is used as it is.
    ///
    /// Without it (or [`public_url_from_request`](Self::public_url_from_request)), a scheme
    /// that signs its URL refuses every request with
    /// [`VerifyError::NoPublicUrl`](crate::VerifyError::NoPublicUrl) (500).
    ///
    /// ```
    /// use tower_webhook::{scheme::Square, VerifySignatureLayer};
    ///
    /// let layer = VerifySignatureLayer::new(Square, "signature-key")?
    ///     .public_url("https://example.com/hooks/square")?;
    /// # Ok::<(), tower_webhook::ConfigError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidPublicUrl`] when `url` is not an absolute `http` or `https` URL,
    /// or has a fragment.
    pub fn public_url(mut self, url: &str) -> Result<Self, ConfigError> {
        self.config_mut().public_url = Some(PublicUrl::configured(url)?);
        Ok(self)
    }

    /// Rebuilds the URL senders call from each request: `X-Forwarded-Proto` (else `https`),
    /// `X-Forwarded-Host` (else `Host`), and the request's path and query. Only for an
    /// endpoint no proxy rewrites, and where no client can set those headers: behind a proxy,
    /// give [`public_url`](Self::public_url) instead.
    pub fn public_url_from_request(mut self) -> Self {
        self.config_mut().public_url = Some(PublicUrl::FromRequest);
        self
    }

    /// Whether the layer answers providers' endpoint checks itself (default: yes): Slack's
    /// `url_verification`, Twitch's `webhook_callback_verification`, Zoom's
    /// `endpoint.url_validation`, Discord's `PING`, and Meta's unsigned `GET` with the verify
    /// token you gave [`Meta`](crate::scheme::Meta). Signed checks are answered only once
    /// they verify, and never reach the inner service; with `false` they are passed on like
    /// any delivery.
    pub fn answer_handshakes(mut self, answer: bool) -> Self {
        self.config_mut().answer_handshakes = answer;
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
