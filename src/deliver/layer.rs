//! The layer: a retry policy and a timeout per attempt.

use std::time::Duration;

use tower::timeout::Timeout;
use tower_layer::Layer;

use super::policy::DeliveryPolicy;
use super::service::Deliver;

/// Delivers each request with retries: fixes its delivery id, then makes attempts under
/// [`DeliveryPolicy`], each with its own timeout, and reports the outcome.
///
/// Put it outside [`SignRequestLayer`](crate::sign::SignRequestLayer) so that each attempt
/// is signed afresh. See the [module docs](super) for an example.
///
/// Default: 30 s per attempt.
#[derive(Debug, Clone)]
#[must_use]
pub struct DeliverLayer {
    policy: DeliveryPolicy,
    attempt_timeout: Duration,
}

impl DeliverLayer {
    /// Retries as `policy` says.
    pub fn new(policy: DeliveryPolicy) -> Self {
        Self {
            policy,
            attempt_timeout: Duration::from_secs(30),
        }
    }

    /// How long one attempt may take, from sending to the response head (default 30 s).
    /// An attempt that takes longer fails with a timeout and is retried.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }
}

impl Default for DeliverLayer {
    fn default() -> Self {
        Self::new(DeliveryPolicy::new())
    }
}

impl<S> Layer<S> for DeliverLayer {
    type Service = Deliver<S>;

    fn layer(&self, inner: S) -> Self::Service {
        Deliver::from_parts(
            Timeout::new(inner, self.attempt_timeout),
            self.policy.clone(),
        )
    }
}
