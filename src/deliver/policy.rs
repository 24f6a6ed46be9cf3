//! The retry policy: which outcomes are worth another attempt, and when.

use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use http::{Request, Response, StatusCode};
use tokio::time::Sleep;
use tower::retry::Policy;

use super::backoff::{full_jitter, retry_after};
use super::report::{Attempt, error_chain};
use crate::clock::{Clock, SystemClock};
use crate::error::BoxError;
use crate::sign::SignRequestError;

/// A [`tower::retry::Policy`] for webhook delivery.
///
/// - **Retried:** errors (connection refused or reset, a per-attempt timeout from
///   `tower::timeout`), and the statuses 408, 429 and 5xx.
/// - **Not retried:** every other status (2xx is done, 3xx and other 4xx will not change by
///   trying again), and [`SignRequestError`]s, which are local.
/// - **Waits:** a random delay up to `base_delay × 2^(retry − 1)`, capped at `max_delay`
///   ("full jitter"). When the receiver sends `Retry-After` (seconds or an HTTP date) on a
///   retried status, that is the wait instead; if it is longer than `max_delay`, the policy
///   stops rather than disobey it, and the delivery ends with that status.
/// - **Stops** after `max_attempts` attempts (first one included).
///
/// Defaults: 5 attempts, 500 ms base delay, 30 s cap. The waits use `tokio::time`, so run
/// deliveries on a tokio runtime.
///
/// Use it on its own with `tower::retry::RetryLayer`, or through
/// [`DeliverLayer`](super::DeliverLayer), which adds a timeout per attempt, fixes the
/// delivery id before the first attempt, and reports the outcome. The retry layer must sit
/// outside [`SignRequestLayer`](crate::sign::SignRequestLayer), so that each attempt is signed
/// afresh.
///
/// See the [module docs](super) for an example.
#[derive(Clone)]
#[must_use]
pub struct DeliveryPolicy {
    config: Arc<PolicyConfig>,
    /// Attempts made for the request this copy of the policy is retrying.
    attempts: u32,
    record: Option<Arc<Mutex<Record>>>,
}

type OnAttempt = dyn Fn(&Attempt) + Send + Sync;
type IsPermanent = dyn Fn(&(dyn std::error::Error + 'static)) -> bool + Send + Sync;

#[derive(Clone)]
struct PolicyConfig {
    max_attempts: u32,
    base_delay: Duration,
    max_delay: Duration,
    on_attempt: Option<Arc<OnAttempt>>,
    permanent: Option<Arc<IsPermanent>>,
    clock: Arc<dyn Clock>,
}

/// What [`Deliver`](super::Deliver) learns from the policy about one delivery.
#[derive(Debug, Default)]
pub(crate) struct Record {
    pub(crate) attempts: u32,
    pub(crate) status: Option<StatusCode>,
    pub(crate) last_error: Option<String>,
}

impl Default for DeliveryPolicy {
    fn default() -> Self {
        Self::new()
    }
}

impl DeliveryPolicy {
    /// The default policy: 5 attempts, 500 ms base delay, 30 s cap.
    pub fn new() -> Self {
        Self {
            config: Arc::new(PolicyConfig {
                max_attempts: 5,
                base_delay: Duration::from_millis(500),
                max_delay: Duration::from_secs(30),
                on_attempt: None,
                permanent: None,
                clock: Arc::new(SystemClock),
            }),
            attempts: 0,
            record: None,
        }
    }

    /// At most this many attempts, the first included (at least 1; default 5).
    pub fn max_attempts(mut self, attempts: u32) -> Self {
        self.config_mut().max_attempts = attempts.max(1);
        self
    }

    /// The first retry waits up to this long; each further one up to twice as long as the
    /// one before (default 500 ms).
    pub fn base_delay(mut self, delay: Duration) -> Self {
        self.config_mut().base_delay = delay;
        self
    }

    /// No wait is longer than this (default 30 s); nor is a `Retry-After` longer than this
    /// obeyed: the policy stops instead.
    pub fn max_delay(mut self, delay: Duration) -> Self {
        self.config_mut().max_delay = delay;
        self
    }

    /// Called after every attempt, for logs, metrics or a delivery log.
    pub fn on_attempt(mut self, on_attempt: impl Fn(&Attempt) + Send + Sync + 'static) -> Self {
        self.config_mut().on_attempt = Some(Arc::new(on_attempt));
        self
    }

    /// Errors that another attempt cannot cure, such as a TLS certificate the client does not
    /// trust: the policy stops at the first one. `is_permanent` sees each error of the chain
    /// in turn (and the error an `io::Error` wraps); signing failures are always permanent.
    ///
    /// ```
    /// use tower_webhook::deliver::DeliveryPolicy;
    ///
    /// let policy = DeliveryPolicy::new()
    ///     .permanent_error(|error| error.to_string().contains("certificate"));
    /// ```
    pub fn permanent_error(
        mut self,
        is_permanent: impl Fn(&(dyn std::error::Error + 'static)) -> bool + Send + Sync + 'static,
    ) -> Self {
        self.config_mut().permanent = Some(Arc::new(is_permanent));
        self
    }

    /// The clock that `Retry-After` dates are compared with (default: the system clock).
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.config_mut().clock = Arc::new(clock);
        self
    }

    /// A copy for one delivery that writes what happens into `record`.
    pub(crate) fn recording(&self, record: Arc<Mutex<Record>>) -> Self {
        Self {
            config: Arc::clone(&self.config),
            attempts: 0,
            record: Some(record),
        }
    }

    fn config_mut(&mut self) -> &mut PolicyConfig {
        Arc::make_mut(&mut self.config)
    }

    /// The wait before the next attempt, or `None` to stop.
    fn next_delay(&self, retryable: bool, asked: Option<Duration>) -> Option<Duration> {
        let config = &self.config;
        if !retryable || self.attempts >= config.max_attempts {
            return None;
        }
        match asked {
            Some(asked) if asked > config.max_delay => None,
            Some(asked) => Some(asked),
            None => Some(full_jitter(
                config.base_delay,
                config.max_delay,
                self.attempts,
            )),
        }
    }
}

/// Statuses that may succeed later: the receiver timed out, asked us to slow down, or failed.
fn is_retryable_status(status: StatusCode) -> bool {
    status == StatusCode::REQUEST_TIMEOUT
        || status == StatusCode::TOO_MANY_REQUESTS
        || status.is_server_error()
}

/// Every error is worth another attempt except our own signing failures, which are local, and
/// those the caller calls permanent.
fn is_retryable_error(error: &BoxError, permanent: Option<&IsPermanent>) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(&**error);
    while let Some(error) = source {
        if error.is::<SignRequestError>() || permanent.is_some_and(|is| is(error)) {
            return false;
        }
        // `io::Error::source` skips the error it wraps; look inside it as well.
        source = match error
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            Some(inner) => Some(inner as &(dyn std::error::Error + 'static)),
            None => error.source(),
        };
    }
    true
}

impl<B, ResBody> Policy<Request<B>, Response<ResBody>, BoxError> for DeliveryPolicy
where
    B: Clone,
{
    type Future = Sleep;

    fn retry(
        &mut self,
        _request: &mut Request<B>,
        result: &mut Result<Response<ResBody>, BoxError>,
    ) -> Option<Self::Future> {
        self.attempts += 1;
        let (status, error, retryable, asked) = match result {
            Ok(response) => {
                let status = response.status();
                let retryable = is_retryable_status(status);
                let asked = retryable
                    .then(|| retry_after(response.headers(), self.config.clock.unix_now()))
                    .flatten();
                (Some(status), None, retryable, asked)
            }
            Err(error) => (
                None,
                Some(error_chain(&**error)),
                is_retryable_error(error, self.config.permanent.as_deref()),
                None,
            ),
        };
        let retry_in = self.next_delay(retryable, asked);

        if let Some(record) = &self.record {
            let mut record = record.lock().unwrap_or_else(PoisonError::into_inner);
            record.attempts = self.attempts;
            record.status = status;
            if error.is_some() {
                record.last_error.clone_from(&error);
            }
        }
        if let Some(on_attempt) = &self.config.on_attempt {
            on_attempt(&Attempt {
                number: self.attempts,
                status,
                error,
                retry_in,
            });
        }
        retry_in.map(tokio::time::sleep)
    }

    fn clone_request(&mut self, request: &Request<B>) -> Option<Request<B>> {
        let mut clone = Request::new(request.body().clone());
        *clone.method_mut() = request.method().clone();
        *clone.uri_mut() = request.uri().clone();
        *clone.version_mut() = request.version();
        *clone.headers_mut() = request.headers().clone();
        *clone.extensions_mut() = request.extensions().clone();
        Some(clone)
    }
}

impl fmt::Debug for DeliveryPolicy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let config = &self.config;
        f.debug_struct("DeliveryPolicy")
            .field("max_attempts", &config.max_attempts)
            .field("base_delay", &config.base_delay)
            .field("max_delay", &config.max_delay)
            .field("on_attempt", &config.on_attempt.as_ref().map(|_| ".."))
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_timeouts_throttling_and_server_errors_are_retried() {
        for code in [408, 429, 500, 502, 503, 504, 599] {
            assert!(
                is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
        for code in [
            200, 201, 204, 301, 304, 400, 401, 403, 404, 409, 410, 413, 422,
        ] {
            assert!(
                !is_retryable_status(StatusCode::from_u16(code).unwrap()),
                "{code}"
            );
        }
    }

    #[test]
    fn signing_failures_are_not_retried_even_when_wrapped() {
        let local: BoxError = SignRequestError::BodyTooLarge { limit: 1 }.into();
        assert!(!is_retryable_error(&local, None));
        let remote: BoxError = "connection reset".into();
        assert!(is_retryable_error(&remote, None));
    }

    #[test]
    fn a_retry_after_beyond_the_cap_stops_the_delivery() {
        let mut policy = DeliveryPolicy::new().max_delay(Duration::from_secs(10));
        policy.attempts = 1;
        assert_eq!(
            policy.next_delay(true, Some(Duration::from_secs(3))),
            Some(Duration::from_secs(3))
        );
        assert_eq!(policy.next_delay(true, Some(Duration::from_secs(11))), None);
        assert_eq!(policy.next_delay(false, None), None);
        policy.attempts = 5;
        assert_eq!(policy.next_delay(true, None), None);
    }

    #[test]
    fn errors_the_caller_calls_permanent_stop_the_retries_even_inside_io_errors() {
        #[derive(Debug, thiserror::Error)]
        #[error("certificate not trusted")]
        struct Untrusted;
        let permanent = |error: &(dyn std::error::Error + 'static)| error.is::<Untrusted>();
        let wrapped: BoxError = Box::new(std::io::Error::other(Untrusted));
        assert!(is_retryable_error(&wrapped, None));
        assert!(!is_retryable_error(&wrapped, Some(&permanent)));
        let other: BoxError = Box::new(std::io::Error::other("connection reset"));
        assert!(is_retryable_error(&other, Some(&permanent)));
    }
}
