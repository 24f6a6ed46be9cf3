//! When a failed delivery is tried again: a schedule of waits, stored, never slept.

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

/// The waits between attempts of one delivery.
///
/// The first attempt is made at once; after the `n`-th failed attempt the delivery is tried
/// again after the `n`-th wait, give or take the jitter; when the waits run out, it has failed
/// for good. The default is the schedule the well-known services use (Svix, Standard
/// Webhooks' guidance): 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 10 h — eight attempts over about
/// 28 hours.
///
/// Each wait is spread by up to ±10 % at random, so that deliveries that failed together do
/// not return together. A `Retry-After` from the receiver (on 429, 503 or any retried status)
/// is obeyed when it asks for longer than the schedule, up to
/// [`max_retry_after`](Self::max_retry_after) (default 1 hour).
///
/// ```
/// use std::time::Duration;
/// use tower_webhook::dispatch::RetrySchedule;
///
/// let quick: RetrySchedule = "1s,5s,30s".parse()?;
/// assert_eq!(quick.waits(), [Duration::from_secs(1), Duration::from_secs(5), Duration::from_secs(30)]);
/// assert_eq!(quick.max_attempts(), 4);
/// assert_eq!(RetrySchedule::default().max_attempts(), 8);
/// # Ok::<(), tower_webhook::dispatch::InvalidSchedule>(())
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct RetrySchedule {
    waits: Vec<Duration>,
    jitter: bool,
    max_retry_after: Duration,
}

impl Default for RetrySchedule {
    fn default() -> Self {
        let minutes = |m: u64| Duration::from_secs(60 * m);
        Self::new([
            Duration::from_secs(5),
            minutes(5),
            minutes(30),
            minutes(120),
            minutes(300),
            minutes(600),
            minutes(600),
        ])
    }
}

impl RetrySchedule {
    /// A schedule of these waits (an empty one never retries).
    pub fn new(waits: impl IntoIterator<Item = Duration>) -> Self {
        Self {
            waits: waits.into_iter().collect(),
            jitter: true,
            max_retry_after: Duration::from_secs(3600),
        }
    }

    /// Whether waits are spread by up to ±10 % (default true).
    #[must_use]
    pub fn jitter(mut self, jitter: bool) -> Self {
        self.jitter = jitter;
        self
    }

    /// The longest `Retry-After` obeyed (default 1 hour); a longer one waits this long.
    #[must_use]
    pub fn max_retry_after(mut self, limit: Duration) -> Self {
        self.max_retry_after = limit;
        self
    }

    /// The waits.
    pub fn waits(&self) -> &[Duration] {
        &self.waits
    }

    /// Attempts per delivery, the first one included.
    pub fn max_attempts(&self) -> u32 {
        u32::try_from(self.waits.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    /// The wait after the `attempts`-th failed attempt of a run, or `None` when the schedule
    /// has run out. `retry_after` is what the receiver asked for, if anything.
    pub(crate) fn wait_after(
        &self,
        attempts: u32,
        retry_after: Option<Duration>,
    ) -> Option<Duration> {
        let index = usize::try_from(attempts.checked_sub(1)?).ok()?;
        let mut wait = *self.waits.get(index)?;
        if self.jitter && !wait.is_zero() {
            // A random factor in [0.9, 1.1]; without randomness, the wait as scheduled.
            let random = getrandom::u32().unwrap_or(u32::MAX / 2);
            let permille = 900 + random % 201;
            // A wait too long to scale (centuries) stays as scheduled rather than panic.
            wait = Duration::try_from_secs_f64(wait.as_secs_f64() * f64::from(permille) / 1000.0)
                .unwrap_or(wait);
        }
        if let Some(asked) = retry_after {
            wait = wait.max(asked.min(self.max_retry_after));
        }
        Some(wait)
    }
}

impl fmt::Debug for RetrySchedule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RetrySchedule")
            .field(
                "waits",
                &self
                    .waits
                    .iter()
                    .map(|w| humantime::format_duration(*w).to_string())
                    .collect::<Vec<_>>(),
            )
            .field("jitter", &self.jitter)
            .field("max_retry_after", &self.max_retry_after)
            .finish()
    }
}

/// A retry schedule that is not a comma-separated list of durations (`1s,5s,30s,2h`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("retry schedule: {0:?} is not a duration (write e.g. 1s,5s,30s,5m,2h)")]
pub struct InvalidSchedule(String);

impl FromStr for RetrySchedule {
    type Err = InvalidSchedule;

    /// Reads `1s,5s,30s,5m,2h` (humantime durations); an empty text never retries.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let waits = text
            .split(',')
            .map(str::trim)
            .filter(|part| !part.is_empty())
            .map(|part| {
                humantime::parse_duration(part).map_err(|_| InvalidSchedule(part.to_owned()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Self::new(waits))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn waits_follow_the_schedule_within_the_jitter() {
        let schedule = RetrySchedule::default();
        for (attempts, base) in [(1, 5), (2, 300), (7, 36_000)] {
            let wait = schedule.wait_after(attempts, None).unwrap();
            let base = Duration::from_secs(base);
            assert!(
                wait >= base.mul_f64(0.9) && wait <= base.mul_f64(1.1),
                "{wait:?} for {base:?}"
            );
        }
        assert_eq!(
            schedule.wait_after(8, None),
            None,
            "eight attempts, then failed"
        );
        assert_eq!(schedule.wait_after(0, None), None);
    }

    #[test]
    fn retry_after_lengthens_within_its_bound() {
        let schedule = RetrySchedule::new([Duration::from_secs(5)]).jitter(false);
        let wait = |asked| {
            schedule
                .wait_after(1, Some(Duration::from_secs(asked)))
                .unwrap()
        };
        assert_eq!(
            wait(1),
            Duration::from_secs(5),
            "never sooner than scheduled"
        );
        assert_eq!(wait(60), Duration::from_secs(60));
        assert_eq!(wait(86_400), Duration::from_secs(3600), "capped");
    }

    #[test]
    fn parses_lists_and_refuses_nonsense() {
        assert_eq!("".parse::<RetrySchedule>().unwrap().max_attempts(), 1);
        assert_eq!(
            " 1s, 2m ".parse::<RetrySchedule>().unwrap().waits(),
            [Duration::from_secs(1), Duration::from_secs(120)]
        );
        assert_eq!(
            "1s,soon".parse::<RetrySchedule>(),
            Err(InvalidSchedule("soon".into()))
        );
    }
}
