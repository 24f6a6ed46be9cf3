//! How long to wait before the next attempt: capped exponential backoff with full jitter, or
//! what the receiver asked for in `Retry-After`.

use std::time::Duration;

use http::{HeaderMap, header};

/// A random delay between zero and `min(cap, base × 2^(retry − 1))` ("full jitter"), so that
/// many senders retrying after one outage do not arrive in step.
pub(crate) fn full_jitter(base: Duration, cap: Duration, retry: u32) -> Duration {
    let factor = 2u32.saturating_pow(retry.saturating_sub(1));
    let ceiling = base.saturating_mul(factor).min(cap);
    let ceiling_nanos = u64::try_from(ceiling.as_nanos()).unwrap_or(u64::MAX);
    if ceiling_nanos == 0 {
        return Duration::ZERO;
    }
    // Without randomness, waiting the whole ceiling is the safe side.
    let random = getrandom::u64().unwrap_or(u64::MAX);
    Duration::from_nanos(random % ceiling_nanos.saturating_add(1).max(1))
}

/// The delay a `Retry-After` header asks for: delay-seconds, or an HTTP date (IMF-fixdate)
/// compared with `now` (Unix seconds). A date in the past means "now". Unreadable values and
/// the obsolete date formats count as absent.
pub(crate) fn retry_after(headers: &HeaderMap, now: i64) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = parse_imf_fixdate(value)?;
    Some(Duration::from_secs(
        u64::try_from(date.saturating_sub(now)).unwrap_or(0),
    ))
}

/// `Sun, 06 Nov 1994 08:49:37 GMT` as Unix seconds (RFC 9110, section 5.6.7).
fn parse_imf_fixdate(value: &str) -> Option<i64> {
    let mut fields = value.split(' ');
    let weekday = fields.next()?;
    let day = fields.next()?;
    let month = fields.next()?;
    let year = fields.next()?;
    let time = fields.next()?;
    if fields.next()? != "GMT" || fields.next().is_some() {
        return None;
    }
    const WEEKDAYS: [&str; 7] = ["Mon,", "Tue,", "Wed,", "Thu,", "Fri,", "Sat,", "Sun,"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    if !WEEKDAYS.contains(&weekday) {
        return None;
    }
    let month = MONTHS.iter().position(|m| *m == month)? as i64 + 1;
    let day = digits(day, 2)?;
    let year = digits(year, 4)?;
    let mut hms = time.split(':');
    let (hour, minute, second) = (
        digits(hms.next()?, 2)?,
        digits(hms.next()?, 2)?,
        digits(hms.next()?, 2)?,
    );
    if hms.next().is_some() || !(1..=31).contains(&day) || hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3600 + minute * 60 + second)
}

fn digits(text: &str, len: usize) -> Option<i64> {
    if text.len() != len || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    text.parse().ok()
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year - era * 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_retry_after(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::RETRY_AFTER, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn http_dates_are_unix_seconds() {
        assert_eq!(
            parse_imf_fixdate("Sun, 06 Nov 1994 08:49:37 GMT"),
            Some(784_111_777)
        );
        assert_eq!(parse_imf_fixdate("Thu, 01 Jan 1970 00:00:00 GMT"), Some(0));
        assert_eq!(
            parse_imf_fixdate("Wed, 29 Feb 2024 12:00:00 GMT"),
            Some(1_709_208_000)
        );
    }

    #[test]
    fn malformed_http_dates_are_refused() {
        for bad in [
            "",
            "Sunday, 06-Nov-94 08:49:37 GMT",
            "Sun Nov  6 08:49:37 1994",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Now 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(parse_imf_fixdate(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn retry_after_reads_seconds_and_dates() {
        assert_eq!(
            retry_after(&with_retry_after("120"), 0),
            Some(Duration::from_secs(120))
        );
        let date = with_retry_after("Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(
            retry_after(&date, 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
        assert_eq!(retry_after(&date, 784_111_777 + 30), Some(Duration::ZERO));
        assert_eq!(retry_after(&with_retry_after("soon"), 0), None);
        assert_eq!(retry_after(&with_retry_after("-5"), 0), None);
        assert_eq!(retry_after(&HeaderMap::new(), 0), None);
    }

    #[test]
    fn jitter_stays_under_the_capped_exponential() {
        let base = Duration::from_millis(100);
        let cap = Duration::from_millis(250);
        for retry in 1..40 {
            let ceiling = (base * 2u32.saturating_pow(retry - 1).min(1 << 20)).min(cap);
            for _ in 0..20 {
                assert!(full_jitter(base, cap, retry) <= ceiling, "retry {retry}");
            }
        }
        assert_eq!(full_jitter(Duration::ZERO, cap, 3), Duration::ZERO);
    }
}
