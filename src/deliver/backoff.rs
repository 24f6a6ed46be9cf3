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

/// The delay a `Retry-After` header asks for: delay-seconds, or an HTTP date compared with
/// `now` (Unix seconds). A date in the past means "now". Unreadable values count as absent.
pub(crate) fn retry_after(headers: &HeaderMap, now: i64) -> Option<Duration> {
    let value = headers.get(header::RETRY_AFTER)?.to_str().ok()?.trim();
    if !value.is_empty() && value.bytes().all(|b| b.is_ascii_digit()) {
        return Some(Duration::from_secs(value.parse().unwrap_or(u64::MAX)));
    }
    let date = http_date(value)?;
    Some(Duration::from_secs(
        u64::try_from(date.saturating_sub(now)).unwrap_or(0),
    ))
}

/// An HTTP date as Unix seconds, in any of the three formats a recipient must accept (RFC 9110,
/// section 5.6.7): IMF-fixdate (`Sun, 06 Nov 1994 08:49:37 GMT`), and the obsolete RFC 850
/// (`Sunday, 06-Nov-94 08:49:37 GMT`) and asctime (`Sun Nov  6 08:49:37 1994`) forms.
fn http_date(value: &str) -> Option<i64> {
    let time = httpdate::parse_http_date(value).ok()?;
    let since_epoch = time.duration_since(std::time::UNIX_EPOCH).ok()?;
    i64::try_from(since_epoch.as_secs()).ok()
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
    fn http_dates_are_unix_seconds_in_all_three_formats() {
        for (text, seconds) in [
            ("Sun, 06 Nov 1994 08:49:37 GMT", 784_111_777),
            ("Sunday, 06-Nov-94 08:49:37 GMT", 784_111_777),
            ("Sun Nov  6 08:49:37 1994", 784_111_777),
            ("Thu, 01 Jan 1970 00:00:00 GMT", 0),
            ("Thu, 29 Feb 2024 12:00:00 GMT", 1_709_208_000),
        ] {
            assert_eq!(http_date(text), Some(seconds), "{text:?}");
        }
    }

    #[test]
    fn malformed_http_dates_are_refused() {
        for bad in [
            "",
            "Sun, 06 Nov 1994 08:49:37 UTC",
            "Sun, 6 Nov 1994 08:49:37 GMT",
            "Sun, 06 Now 1994 08:49:37 GMT",
            "Sun, 06 Nov 1994 25:49:37 GMT",
            "Sun, 06 Nov 1994 08:49:37 GMT extra",
        ] {
            assert_eq!(http_date(bad), None, "{bad:?}");
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
        let obsolete = with_retry_after("Sun Nov  6 08:49:37 1994");
        assert_eq!(
            retry_after(&obsolete, 784_111_777 - 30),
            Some(Duration::from_secs(30))
        );
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
