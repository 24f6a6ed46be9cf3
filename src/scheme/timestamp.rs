//! Timestamps as senders write them, and how far from now a scheme lets them be.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use http::HeaderName;

use crate::error::VerifyError;

const NANOS_PER_SECOND: i128 = 1_000_000_000;

/// How a scheme writes its timestamp.
///
/// # Example
///
/// ```
/// use tower_webhook::scheme::TimestampFormat;
///
/// assert_eq!(TimestampFormat::Seconds.format(1700000000).unwrap(), "1700000000");
/// assert_eq!(TimestampFormat::Milliseconds.format(1700000000).unwrap(), "1700000000000");
/// assert_eq!(
///     TimestampFormat::Rfc3339.format(1700000000).unwrap(),
///     "2023-11-14T22:13:20.000000000Z"
/// );
/// // RFC 3339 has four digits for the year.
/// assert_eq!(TimestampFormat::Rfc3339.format(253402300800), None);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum TimestampFormat {
    /// Unix seconds in ASCII digits, as most senders write them.
    #[default]
    Seconds,
    /// Unix milliseconds in ASCII digits (HubSpot, WorkOS, Linear).
    Milliseconds,
    /// [RFC 3339](https://www.rfc-editor.org/rfc/rfc3339) in UTC, with any number of
    /// fractional digits (Twitch writes nanoseconds).
    Rfc3339,
}

impl TimestampFormat {
    /// `unix_seconds` written this way, as a sender would (RFC 3339 with nine fractional
    /// digits, as Twitch sends them); `None` for an instant the format cannot
    /// write: before 1970, or after 9999 in RFC 3339.
    pub fn format(self, unix_seconds: i64) -> Option<String> {
        // The last second RFC 3339's four-digit year can write: 9999-12-31T23:59:59Z.
        const LAST_RFC3339: u64 = 253_402_300_799;
        let seconds = u64::try_from(unix_seconds).ok()?;
        Some(match self {
            Self::Seconds => seconds.to_string(),
            Self::Milliseconds => (u128::from(seconds) * 1000).to_string(),
            Self::Rfc3339 if seconds > LAST_RFC3339 => return None,
            Self::Rfc3339 => {
                let instant = UNIX_EPOCH + Duration::from_secs(seconds);
                humantime::format_rfc3339_nanos(instant).to_string()
            }
        })
    }
}

/// A timestamp read from a request: its text as sent (that is what gets signed) and the instant
/// it names.
///
/// # Example
///
/// ```
/// use http::HeaderName;
/// use tower_webhook::scheme::{Timestamp, TimestampFormat};
///
/// let header = HeaderName::from_static("x-timestamp");
/// let timestamp = Timestamp::parse("1700000000", &header)?;
/// assert_eq!((timestamp.raw(), timestamp.unix_seconds()), ("1700000000", 1_700_000_000));
/// assert!(Timestamp::parse("+1700000000", &header).is_err());
///
/// let twitch = Timestamp::parse_as("2023-11-14T22:13:20.5Z", TimestampFormat::Rfc3339, &header)?;
/// assert_eq!(twitch.unix_seconds(), 1_700_000_000);
/// # Ok::<(), tower_webhook::VerifyError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timestamp<'h> {
    raw: &'h str,
    unix_seconds: i64,
    /// The fraction of a second, for formats finer than seconds: a window of 0 s refuses a
    /// timestamp 0.7 s away.
    nanos: u32,
}

impl<'h> Timestamp<'h> {
    /// Parses Unix seconds written as ASCII digits, as most schemes send them.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidTimestamp`] for an empty value, a sign, anything but digits, or a
    /// number beyond `i64`.
    pub fn parse(raw: &'h str, header: &HeaderName) -> Result<Self, VerifyError> {
        Self::parse_as(raw, TimestampFormat::Seconds, header)
    }

    /// Parses a timestamp written in `format`.
    ///
    /// # Errors
    ///
    /// [`VerifyError::InvalidTimestamp`] when `raw` is not a timestamp in that format, or names
    /// an instant before 1970 or beyond what `i64` seconds hold.
    pub fn parse_as(
        raw: &'h str,
        format: TimestampFormat,
        header: &HeaderName,
    ) -> Result<Self, VerifyError> {
        let invalid = |reason| VerifyError::InvalidTimestamp {
            header: header.clone(),
            reason,
        };
        let whole = |unit| {
            if raw.is_empty() {
                return Err(invalid("empty"));
            }
            // Digits only: `str::parse` would also take a sign.
            if !raw.bytes().all(|byte| byte.is_ascii_digit()) {
                return Err(invalid(unit));
            }
            raw.parse::<i64>().map_err(|_| invalid("out of range"))
        };
        let (unix_seconds, nanos) = match format {
            TimestampFormat::Seconds => (whole("not a whole number of seconds")?, 0),
            TimestampFormat::Milliseconds => {
                let millis = whole("not a whole number of milliseconds")?;
                let fraction = millis % 1000;
                (millis / 1000, (fraction * 1_000_000) as u32)
            }
            TimestampFormat::Rfc3339 => {
                let instant = humantime::parse_rfc3339(raw)
                    .map_err(|_| invalid("not an RFC 3339 time in UTC"))?;
                let since = instant
                    .duration_since(SystemTime::UNIX_EPOCH)
                    .map_err(|_| invalid("before 1970"))?;
                let seconds =
                    i64::try_from(since.as_secs()).map_err(|_| invalid("out of range"))?;
                (seconds, since.subsec_nanos())
            }
        };
        Ok(Self {
            raw,
            unix_seconds,
            nanos,
        })
    }

    /// The text exactly as sent.
    pub fn raw(&self) -> &'h str {
        self.raw
    }

    /// The value in whole Unix seconds (rounded down).
    pub fn unix_seconds(&self) -> i64 {
        self.unix_seconds
    }

    pub(crate) fn unix_nanos(&self) -> i128 {
        i128::from(self.unix_seconds) * NANOS_PER_SECOND + i128::from(self.nanos)
    }
}

/// How far from now a timestamp may be: at most `max_age` old and `max_ahead` in the future,
/// both inclusive.
///
/// Each scheme has its provider's window as its default ([`Scheme::tolerance`]); a layer's
/// [`tolerance`](crate::VerifySignatureLayer::tolerance) replaces it, and a plain [`Duration`]
/// there is the same on both sides.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_webhook::scheme::Tolerance;
///
/// // Paddle refuses a delivery more than 5 s old; a clock a little ahead is not its concern.
/// let paddle = Tolerance::new(Duration::from_secs(5), Duration::from_secs(300));
/// assert_eq!(paddle.max_age(), Duration::from_secs(5));
/// assert_eq!(Tolerance::from(Duration::from_secs(60)), Tolerance::symmetric(Duration::from_secs(60)));
/// ```
///
/// [`Scheme::tolerance`]: super::Scheme::tolerance
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tolerance {
    max_age: Duration,
    max_ahead: Duration,
}

impl Tolerance {
    /// Five minutes either way: what most providers document.
    pub const DEFAULT: Self = Self::symmetric(Duration::from_secs(300));

    /// At most `max_age` old and `max_ahead` in the future.
    pub const fn new(max_age: Duration, max_ahead: Duration) -> Self {
        Self { max_age, max_ahead }
    }

    /// The same window on both sides.
    pub const fn symmetric(window: Duration) -> Self {
        Self::new(window, window)
    }

    /// How old a timestamp may be.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// How far in the future a timestamp may be.
    pub fn max_ahead(&self) -> Duration {
        self.max_ahead
    }

    /// Refuses `timestamp` when it is outside the window around `now` (Unix seconds).
    pub(crate) fn check(&self, now: i64, timestamp: &Timestamp<'_>) -> Result<(), VerifyError> {
        let age = i128::from(now) * NANOS_PER_SECOND - timestamp.unix_nanos();
        let nanos = |duration: Duration| duration.as_nanos().min(i128::MAX as u128) as i128;
        // Whole seconds, rounded up: 0.7 s ahead of a 0 s window reads "1 s in the future".
        let seconds = |nanos: i128| {
            u64::try_from((nanos + NANOS_PER_SECOND - 1) / NANOS_PER_SECOND).unwrap_or(u64::MAX)
        };
        if age > nanos(self.max_age) {
            Err(VerifyError::TimestampTooOld {
                age_seconds: seconds(age),
                tolerance_seconds: self.max_age.as_secs(),
            })
        } else if -age > nanos(self.max_ahead) {
            Err(VerifyError::TimestampTooNew {
                ahead_seconds: seconds(-age),
                tolerance_seconds: self.max_ahead.as_secs(),
            })
        } else {
            Ok(())
        }
    }
}

impl Default for Tolerance {
    fn default() -> Self {
        Self::DEFAULT
    }
}

impl From<Duration> for Tolerance {
    fn from(window: Duration) -> Self {
        Self::symmetric(window)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> HeaderName {
        HeaderName::from_static("x-ts")
    }

    fn reason(raw: &str, format: TimestampFormat) -> &'static str {
        match Timestamp::parse_as(raw, format, &header()) {
            Err(VerifyError::InvalidTimestamp { reason, .. }) => reason,
            other => panic!("{raw:?}: {other:?}"),
        }
    }

    #[test]
    fn seconds_are_digits_only() {
        let seconds = TimestampFormat::Seconds;
        assert_eq!(reason("", seconds), "empty");
        for raw in ["+1", "-1", " 1", "1 ", "1.5", "1e3", "٣"] {
            assert_eq!(
                reason(raw, seconds),
                "not a whole number of seconds",
                "{raw:?}"
            );
        }
        assert_eq!(reason("9223372036854775808", seconds), "out of range");
        let max = Timestamp::parse("9223372036854775807", &header()).unwrap();
        assert_eq!(max.unix_seconds(), i64::MAX);
        // Leading zeros are digits, and the text is kept as sent: it is what gets signed.
        let padded = Timestamp::parse("0001700000000", &header()).unwrap();
        assert_eq!(
            (padded.raw(), padded.unix_seconds()),
            ("0001700000000", 1_700_000_000)
        );
    }

    #[test]
    fn milliseconds_keep_their_fraction() {
        let millis = TimestampFormat::Milliseconds;
        let t = Timestamp::parse_as("1632409405772", millis, &header()).unwrap();
        assert_eq!(t.unix_seconds(), 1_632_409_405);
        assert_eq!(t.unix_nanos(), 1_632_409_405_772_000_000);
        assert_eq!(reason("1.5", millis), "not a whole number of milliseconds");
        assert_eq!(reason("-5", millis), "not a whole number of milliseconds");
    }

    #[test]
    fn rfc3339_in_utc_with_any_fraction() {
        let rfc = TimestampFormat::Rfc3339;
        let t = Timestamp::parse_as("2025-11-20T10:00:00.123456789Z", rfc, &header()).unwrap();
        assert_eq!(t.unix_seconds(), 1_763_632_800);
        assert_eq!(t.unix_nanos() % NANOS_PER_SECOND, 123_456_789);
        for raw in [
            "",
            "2025-11-20",
            "2025-11-20T10:00:00+02:00",
            "1763632800",
            "2025-13-01T00:00:00Z",
        ] {
            assert_eq!(reason(raw, rfc), "not an RFC 3339 time in UTC", "{raw:?}");
        }
        // What the signing side writes reads back as the same instant.
        let written = rfc.format(1_763_632_800).unwrap();
        let read = Timestamp::parse_as(&written, rfc, &header()).unwrap();
        assert_eq!(read.unix_nanos(), 1_763_632_800 * NANOS_PER_SECOND);
    }

    #[test]
    fn windows_count_fractions_and_each_side_apart() {
        let t = Timestamp::parse_as("1000500", TimestampFormat::Milliseconds, &header()).unwrap();
        // 1000.5 s: half a second ahead of 1000, half a second old at 1001.
        let zero = Tolerance::symmetric(Duration::ZERO);
        assert!(matches!(
            zero.check(1000, &t),
            Err(VerifyError::TimestampTooNew {
                ahead_seconds: 1,
                ..
            })
        ));
        assert!(matches!(
            zero.check(1001, &t),
            Err(VerifyError::TimestampTooOld { age_seconds: 1, .. })
        ));
        let one = Tolerance::symmetric(Duration::from_secs(1));
        assert!(one.check(1000, &t).is_ok() && one.check(1001, &t).is_ok());

        let paddle = Tolerance::new(Duration::from_secs(5), Duration::from_secs(300));
        let sent = Timestamp::parse("100", &header()).unwrap();
        assert!(paddle.check(105, &sent).is_ok());
        assert!(paddle.check(106, &sent).is_err());
        assert!(paddle.check(-200, &sent).is_ok());
        assert!(paddle.check(-201, &sent).is_err());
        // Absurd values on either side are refused, not overflowed.
        let far = Timestamp::parse("9223372036854775807", &header()).unwrap();
        assert!(Tolerance::DEFAULT.check(i64::MIN, &far).is_err());
        assert!(Tolerance::DEFAULT.check(i64::MAX, &sent).is_err());
    }
}
