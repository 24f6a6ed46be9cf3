//! The `timestamps` target: `Timestamp::parse_as` and `TimestampFormat::format` in every
//! format, and the layer's window at any "now" and any tolerance.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use tower_webhook::crypto::{Algorithm, Encoding, SigningKey};
use tower_webhook::scheme::{CustomScheme, Timestamp, TimestampFormat, Tolerance};
use tower_webhook::{VerifyError, VerifySignatureLayer};

use crate::{Input, Outcome, RFC3339_END, ScriptedBody, digits_value, drive, unwritable_timestamp};

const FORMATS: [TimestampFormat; 3] = [
    TimestampFormat::Seconds,
    TimestampFormat::Milliseconds,
    TimestampFormat::Rfc3339,
];

const SECRET: &[u8] = b"window secret";
const NANOS: i128 = 1_000_000_000;

static HEADER: HeaderName = HeaderName::from_static("x-ts");

/// "Now" for the window layers, chosen by each input.
static NOW: AtomicI64 = AtomicI64::new(0);

/// One layer per format: `x-sig: <hex HMAC-SHA256 of {timestamp}.{body}>`, `x-ts`.
static LAYERS: LazyLock<Vec<VerifySignatureLayer>> = LazyLock::new(|| {
    FORMATS
        .iter()
        .map(|&format| {
            let scheme = CustomScheme::new(HeaderName::from_static("x-sig"))
                .named("window")
                .timestamp_header(HEADER.clone())
                .timestamp_format(format)
                .signed_content("{timestamp}.{body}")
                .expect("a valid template");
            VerifySignatureLayer::new(scheme, "window secret")
                .expect("a valid secret")
                .clock(|| NOW.load(Ordering::Relaxed))
        })
        .collect()
});

pub fn fuzz_timestamps(data: &[u8]) {
    let mut input = Input::new(data);
    let format = FORMATS[usize::from(input.byte()) % FORMATS.len()];
    match input.byte() % 4 {
        0 => {
            let raw = raw(format, &mut input);
            parse(format, &raw);
        }
        1 => written(format, input.i64()),
        _ => window(format, &mut input),
    }
}

/// A timestamp's text: any bytes, digits, or the parts of an RFC 3339 time, each perhaps out
/// of range.
fn raw(format: TimestampFormat, input: &mut Input<'_>) -> String {
    match input.byte() % 4 {
        0 => String::from_utf8_lossy(input.short_bytes()).into_owned(),
        1 => match format {
            TimestampFormat::Milliseconds => {
                (i128::from(input.i64()) * 1000 + i128::from(input.u16() % 1000)).to_string()
            }
            _ => input.i64().to_string(),
        },
        2 => input.u64().to_string(),
        _ => {
            let mut text = format!(
                "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
                1970 + input.u16() % 8100,
                input.byte() % 14,
                input.byte() % 33,
                input.byte() % 26,
                input.byte() % 62,
                input.byte() % 62,
            );
            if input.byte() & 1 == 1 {
                text.push('.');
                for _ in 0..input.byte() % 14 {
                    text.push(char::from(b'0' + input.byte() % 10));
                }
            }
            text.push_str(match input.byte() % 8 {
                0 => "+00:00",
                1 => "z",
                2 => "",
                3 => "+02:00",
                _ => "Z",
            });
            if input.byte().is_multiple_of(8) {
                text.insert(10, ' ');
                text.remove(11);
            }
            text
        }
    }
}

/// The instant an RFC 3339 time in UTC names, in Unix seconds, computed here from its fields
/// (days from the civil date: <https://howardhinnant.github.io/date_algorithms.html>); `None`
/// for text not in the strict shape, or fields out of range.
fn rfc3339_seconds(raw: &str) -> Option<i64> {
    let b = raw.as_bytes();
    let rest = raw.get(19..)?;
    let zone_ok = match rest.strip_prefix('.') {
        Some(fraction) => {
            let digits = fraction
                .strip_suffix('Z')
                .or_else(|| fraction.strip_suffix("+00:00"))?;
            digits.bytes().all(|b| b.is_ascii_digit())
        }
        None => rest == "Z" || rest == "+00:00",
    };
    let shape = b.len() >= 20
        && b[4] == b'-'
        && b[7] == b'-'
        && b[10] == b'T'
        && b[13] == b':'
        && b[16] == b':';
    if !(zone_ok && shape) {
        return None;
    }
    let number = |range: std::ops::Range<usize>| -> Option<i64> {
        let text = raw.get(range)?;
        text.bytes()
            .all(|b| b.is_ascii_digit())
            .then(|| text.parse().ok())?
    };
    let (year, month, day) = (number(0..4)?, number(5..7)?, number(8..10)?);
    let (hour, minute, second) = (number(11..13)?, number(14..16)?, number(17..19)?);
    let leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    let days_in_month = match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        1..=12 => 31,
        _ => return None,
    };
    if year < 1970 || day == 0 || day > days_in_month || hour > 23 || minute > 59 || second > 59 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let year_of_era = y - era * 400;
    let day_of_year = (153 * ((month + 9) % 12) + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    Some(days * 86_400 + hour * 3_600 + minute * 60 + second)
}

/// What parsing must give: for digits, exactly the number they write (refused beyond `i64`);
/// for a strict RFC 3339 time in UTC, the instant its fields name; never a panic.
fn parse(format: TimestampFormat, raw: &str) -> Option<Timestamp<'_>> {
    let parsed = Timestamp::parse_as(raw, format, &HEADER);
    let digits = digits_value(raw).filter(|&value| value <= i128::from(i64::MAX));
    match &parsed {
        Ok(timestamp) => {
            assert_eq!(timestamp.raw(), raw);
            let seconds = i128::from(timestamp.unix_seconds());
            match format {
                TimestampFormat::Seconds => assert_eq!(Some(seconds), digits, "{raw:?}"),
                TimestampFormat::Milliseconds => {
                    assert_eq!(Some(seconds), digits.map(|ms| ms / 1000), "{raw:?}")
                }
                _ => {
                    assert!((0..i128::from(RFC3339_END)).contains(&seconds), "{raw:?}");
                    if let Some(expected) = rfc3339_seconds(raw) {
                        assert_eq!(seconds, i128::from(expected), "{raw:?}");
                    }
                }
            }
        }
        Err(error) => {
            match error {
                VerifyError::InvalidTimestamp { header, .. } => assert_eq!(header, HEADER),
                other => panic!("{raw:?}: {other}"),
            }
            assert_eq!(error.status(), 400);
            match format {
                TimestampFormat::Seconds | TimestampFormat::Milliseconds => {
                    assert_eq!(digits, None, "{raw:?} refused")
                }
                _ => assert_eq!(rfc3339_seconds(raw), None, "{raw:?} refused"),
            }
        }
    }
    parsed.ok()
}

/// What a format writes reads back as the same instant, and it writes every instant it can:
/// all from 1970 on, up to the end of the year 9999 in RFC 3339. Milliseconds beyond `i64` are
/// written but refused when read.
fn written(format: TimestampFormat, seconds: i64) {
    let Some(text) = format.format(seconds) else {
        let cannot = seconds < 0 || (format == TimestampFormat::Rfc3339 && seconds >= RFC3339_END);
        assert!(cannot, "{seconds} not written in {format:?}");
        return;
    };
    let read = Timestamp::parse_as(&text, format, &HEADER).map(|t| t.unix_seconds());
    match unwritable_timestamp(format, seconds) {
        false => assert_eq!(read.ok(), Some(seconds), "{text}"),
        true => assert!(read.is_err(), "{seconds} written as {text:?} reads back"),
    }
}

/// A window of either side: none, a second, five minutes, the largest, or any.
fn duration(input: &mut Input<'_>) -> Duration {
    match input.byte() % 6 {
        0 => Duration::ZERO,
        1 => Duration::from_secs(1),
        2 => Duration::from_secs(300),
        3 => Duration::MAX,
        4 => Duration::from_secs(u64::MAX),
        _ => Duration::new(input.u64(), u32::from(input.u16()) * 15_259),
    }
}

/// "Now" at the edges of `i64`, today, or anywhere.
fn now(input: &mut Input<'_>) -> i64 {
    match input.byte() % 8 {
        0 => i64::MIN,
        1 => i64::MIN + 1,
        2 => -1,
        3 => 0,
        4 => i64::MAX,
        5 => 1_700_000_000,
        _ => input.i64(),
    }
}

/// A signed request whose timestamp is `raw`, at `now`, through a layer with `tolerance`:
/// accepted exactly when the timestamp reads and is within the window (inclusive, counting
/// fractions of a second); refused otherwise, saying by how much, rounded up.
fn window(format: TimestampFormat, input: &mut Input<'_>) {
    let tolerance = Tolerance::new(duration(input), duration(input));
    let now = now(input);
    let raw = match input.byte() % 4 {
        // Near now, in this format, when it can be written.
        0 => {
            let offset = i64::from(input.i16());
            let at = now.saturating_add(offset);
            match format.format(at) {
                Some(text) => text,
                None => raw(format, input),
            }
        }
        _ => raw(format, input),
    };
    let Ok(value) = HeaderValue::from_str(&raw) else {
        return;
    };
    let body = Bytes::copy_from_slice(input.short_bytes());
    let mut signed = raw.clone().into_bytes();
    signed.push(b'.');
    signed.extend_from_slice(&body);
    let signature = SigningKey::hmac(Algorithm::HmacSha256, SECRET).sign(&signed);

    let layer = LAYERS[FORMATS.iter().position(|&f| f == format).expect("a format")]
        .clone()
        .tolerance(tolerance);
    NOW.store(now, Ordering::Relaxed);
    let mut request = Request::post("/")
        .body(ScriptedBody::whole(&body))
        .expect("a valid request");
    let headers = request.headers_mut();
    headers.insert(HEADER.clone(), value.clone());
    let signature = signature.encode(Encoding::Hex);
    headers.insert("x-sig", HeaderValue::from_str(&signature).expect("hex"));
    let outcome = drive(&layer, request);

    // The instant, in nanoseconds, as read here: exactly for digits; for RFC 3339, whole
    // seconds, with up to a second of fraction unknown.
    let readable = value.to_str().is_ok();
    let (nanos, slack) = match format {
        TimestampFormat::Seconds => (
            digits_value(&raw)
                .filter(|&v| v <= i128::from(i64::MAX))
                .map(|v| v * NANOS),
            0,
        ),
        TimestampFormat::Milliseconds => (
            digits_value(&raw)
                .filter(|&v| v <= i128::from(i64::MAX))
                .map(|v| v * 1_000_000),
            0,
        ),
        _ => (
            Timestamp::parse_as(&raw, format, &HEADER)
                .ok()
                .map(|t| i128::from(t.unix_seconds()) * NANOS),
            NANOS - 1,
        ),
    };
    let Some(nanos) = nanos.filter(|_| readable) else {
        assert!(!outcome.is_accepted(), "{raw:?} accepted");
        return;
    };
    let max_age = tolerance.max_age().as_nanos() as i128;
    let max_ahead = tolerance.max_ahead().as_nanos() as i128;
    // How old the timestamp is: between `age - slack` and `age`.
    let age = i128::from(now) * NANOS - nanos;
    let surely_in = age <= max_age && -(age - slack) <= max_ahead;
    let surely_out = age - slack > max_age || -age > max_ahead;
    let rounded_up = |nanos: i128| u64::try_from((nanos + NANOS - 1) / NANOS).unwrap_or(u64::MAX);
    match outcome {
        Outcome::Accepted(verified, _) => {
            assert!(!surely_out, "{raw:?} accepted at {now} with {tolerance:?}");
            let seconds = verified.timestamp().expect("a timestamp");
            assert_eq!(i128::from(seconds), nanos / NANOS);
        }
        Outcome::Answered => panic!("no handshake here"),
        Outcome::Refused(error) => {
            assert!(
                !surely_in,
                "{raw:?} refused at {now} with {tolerance:?}: {error}"
            );
            match error {
                VerifyError::TimestampTooOld {
                    age_seconds,
                    tolerance_seconds,
                } => {
                    assert_eq!(tolerance_seconds, tolerance.max_age().as_secs());
                    if slack == 0 {
                        assert_eq!(age_seconds, rounded_up(age));
                    }
                }
                VerifyError::TimestampTooNew {
                    ahead_seconds,
                    tolerance_seconds,
                } => {
                    assert_eq!(tolerance_seconds, tolerance.max_ahead().as_secs());
                    if slack == 0 {
                        assert_eq!(ahead_seconds, rounded_up(-age));
                    }
                }
                other => panic!("{raw:?} at {now}: {other}"),
            }
        }
    }
}
