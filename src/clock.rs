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

/// The system's wall clock.
///
/// On Linux and Android it reads the kernel's coarse wall clock (`CLOCK_REALTIME_COARSE`),
/// which lags the precise one by at most a scheduler tick, a few milliseconds: nothing to a
/// window counted in whole seconds, and the precise read cost 35 ns against 3 ns on the bench
/// machine, on every request that carries a timestamp. Where the kernel refuses that clock
/// (a sandbox without the vDSO, say), and on other systems, it is
/// [`SystemTime::now`](std::time::SystemTime::now).
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
        #[cfg(any(target_os = "linux", target_os = "android"))]
        {
            use rustix::time::{ClockId, DynamicClockId, clock_gettime_dynamic};
            // The dynamic form reports a refusal instead of panicking, as the plain one does.
            if let Ok(now) = clock_gettime_dynamic(DynamicClockId::Known(ClockId::RealtimeCoarse)) {
                return now.tv_sec;
            }
        }
        precise_unix_now()
    }
}

fn precise_unix_now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(since) => i64::try_from(since.as_secs()).unwrap_or(i64::MAX),
        Err(before) => i64::try_from(before.duration().as_secs()).map_or(i64::MIN, |s| -s),
    }
}
