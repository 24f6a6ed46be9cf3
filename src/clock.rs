//! Where the layer gets "now" from, for the timestamp window.

use std::time::{SystemTime, UNIX_EPOCH};

/// The time source for the timestamp window, in Unix seconds.
///
/// The layer uses [`SystemClock`] unless told otherwise. Any `Fn() -> i64` is a clock, which
/// makes tests and replays of captured deliveries simple:
///
/// ```
/// use tower_webhook::{scheme::Stripe, VerifySignatureLayer};
///
/// // Verify as if it were 2018-08-02, when this delivery was captured.
/// let layer = VerifySignatureLayer::new(Stripe, "whsec_test_secret")?.clock(|| 1533204620);
/// # Ok::<(), tower_webhook::ConfigError>(())
/// ```
pub trait Clock: Send + Sync + 'static {
    /// Seconds since the Unix epoch.
    fn unix_now(&self) -> i64;
}

impl<F> Clock for F
where
    F: Fn() -> i64 + Send + Sync + 'static,
{
    fn unix_now(&self) -> i64 {
        self()
    }
}

/// The system's wall clock, [`SystemTime::now`].
///
/// ```
/// use tower_webhook::{Clock, SystemClock};
///
/// let now = std::time::SystemTime::now()
///     .duration_since(std::time::UNIX_EPOCH)
///     .unwrap()
///     .as_secs() as i64;
/// assert!((SystemClock.unix_now() - now).abs() <= 1);
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn unix_now(&self) -> i64 {
        match SystemTime::now().duration_since(UNIX_EPOCH) {
            Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
            Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
        }
    }
}
