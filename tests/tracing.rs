//! The `tracing` events of refusals, caught by a small capturing subscriber: every refusal the
//! tests can provoke is logged (with its reason and scheme), and nothing captured, event or
//! span, ever holds the secret, the signature the layer expected, or the body.
#![cfg(feature = "tracing")]

mod common;

use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD as BASE64, URL_SAFE_NO_PAD};
use bytes::Bytes;
use common::{Chunks, NOW, Recorder, request, request_with, send};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, StatusCode};
use sha2::Sha256;
use tower_webhook::replay::{MemoryReplayGuard, ReplayProtection};
use tower_webhook::scheme::{Generic, Message, Scheme, StandardWebhooks};
use tower_webhook::{Secret, VerifyError, VerifySignatureLayer};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::subscriber::Interest;
use tracing::{Event, Metadata, Subscriber};

/// One captured event: where it came from and every field as text.
#[derive(Debug, Clone)]
struct Captured {
    level: tracing::Level,
    target: String,
    text: String,
}

/// Keeps every event and every span field it is given, as text.
#[derive(Clone, Default)]
struct Capture {
    events: Arc<Mutex<Vec<Captured>>>,
    /// Span names and fields: a leak there is a leak too.
    spans: Arc<Mutex<Vec<String>>>,
    next_id: Arc<AtomicU64>,
}

/// Writes each field as `name=value`, strings and bytes as they are (a `Debug` rendering would
/// escape or list them, and hide a leaked value from a substring search).
struct Text<'a>(&'a mut String);

impl Visit for Text<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let _ = write!(self.0, " {}={value:?}", field.name());
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        let _ = write!(self.0, " {}={value}", field.name());
    }

    fn record_bytes(&mut self, field: &Field, value: &[u8]) {
        let _ = write!(
            self.0,
            " {}={} hex:{}",
            field.name(),
            String::from_utf8_lossy(value),
            hex::encode(value)
        );
    }

    fn record_error(&mut self, field: &Field, value: &(dyn std::error::Error + 'static)) {
        let _ = write!(self.0, " {}={value} {value:?}", field.name());
        let mut source = value.source();
        while let Some(error) = source {
            let _ = write!(self.0, " caused by {error} {error:?}");
            source = error.source();
        }
    }
}

impl Subscriber for Capture {
    // Asked again for every event: other tests of this binary run other subscribers.
    fn register_callsite(&self, _: &'static Metadata<'static>) -> Interest {
        Interest::sometimes()
    }

    fn enabled(&self, _: &Metadata<'_>) -> bool {
        true
    }

    fn new_span(&self, span: &Attributes<'_>) -> Id {
        let mut text = span.metadata().name().to_owned();
        span.record(&mut Text(&mut text));
        self.spans.lock().unwrap().push(text);
        Id::from_u64(self.next_id.fetch_add(1, Ordering::SeqCst) + 1)
    }

    fn record(&self, _: &Id, values: &Record<'_>) {
        let mut text = String::new();
        values.record(&mut Text(&mut text));
        self.spans.lock().unwrap().push(text);
    }

    fn record_follows_from(&self, _: &Id, _: &Id) {}

    fn event(&self, event: &Event<'_>) {
        let metadata = event.metadata();
        let mut text = metadata.name().to_owned();
        event.record(&mut Text(&mut text));
        self.events.lock().unwrap().push(Captured {
            level: *metadata.level(),
            target: metadata.target().to_owned(),
            text,
        });
    }

    fn enter(&self, _: &Id) {}

    fn exit(&self, _: &Id) {}
}

impl Capture {
    fn event_count(&self) -> usize {
        self.events.lock().unwrap().len()
    }

    fn events_since(&self, start: usize) -> Vec<Captured> {
        self.events.lock().unwrap()[start..].to_vec()
    }

    /// Everything captured, for the leak checks.
    fn all_text(&self) -> Vec<String> {
        let events = self.events.lock().unwrap();
        let spans = self.spans.lock().unwrap();
        events
            .iter()
            .map(|event| format!("{} {}", event.target, event.text))
            .chain(spans.iter().cloned())
            .collect()
    }
}

fn hmac_sha256(key: &[u8], content: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(content);
    mac.finalize().into_bytes().to_vec()
}

/// The ways a tag can be written down: hex either case, base64 both alphabets, and a
/// 16-digit hex prefix (half a leak is still a leak).
fn tag_forms(tag: &[u8]) -> Vec<String> {
    let hex = hex::encode(tag);
    vec![
        hex[..16].to_owned(),
        hex::encode_upper(tag)[..16].to_owned(),
        hex,
        BASE64.encode(tag),
        URL_SAFE_NO_PAD.encode(tag),
    ]
}

/// Values no captured text may hold, with what each one is, for the failure message.
#[derive(Default)]
struct Forbidden(Vec<(String, String)>);

impl Forbidden {
    fn add(&mut self, what: &str, value: impl Into<String>) {
        let value = value.into();
        assert!(value.len() >= 8, "{what}: too short to search for");
        self.0.push((what.to_owned(), value));
    }

    fn tag(&mut self, what: &str, tag: &[u8]) {
        for form in tag_forms(tag) {
            self.add(what, form);
        }
    }

    fn assert_absent_from(&self, capture: &Capture) {
        for text in capture.all_text() {
            for (what, value) in &self.0 {
                assert!(
                    !text.contains(value.as_str()),
                    "captured text holds the {what} ({value}): {text}"
                );
            }
        }
    }
}

/// Checks that the refusal in `response` was logged since `start`, by at least one event of
/// the crate that names the scheme and the refusal's reason.
fn assert_logged<B>(
    capture: &Capture,
    start: usize,
    response: &http::Response<B>,
    scheme: &str,
    label: &str,
) -> VerifyError {
    let error = response
        .extensions()
        .get::<VerifyError>()
        .unwrap_or_else(|| panic!("{label}: {} without a VerifyError", response.status()))
        .clone();
    let events = capture.events_since(start);
    assert!(
        events
            .iter()
            .any(|event| event.target.starts_with("tower_webhook")
                && event.text.contains(scheme)
                && event.text.contains(&error.to_string())),
        "{label}: no event of the crate names {scheme:?} and {:?}; got {events:#?}",
        error.to_string()
    );
    error
}

const SECRET: &str = "generic-tracing-secret-5d41402abc4b2a76";
const LIMIT: usize = 256;

/// A body with text worth stealing, of `length` bytes.
fn secret_body(length: usize) -> Vec<u8> {
    let mut body =
        br#"{"event":"card.saved","pan":"4111111111111111","cvv":"737","pad":""#.to_vec();
    while body.len() + 2 < length {
        body.push(b'z');
    }
    body.extend_from_slice(b"\"}");
    body
}

fn generic_headers(secret: &str, timestamp: &str, body: &[u8]) -> HeaderMap {
    let content = [format!("{timestamp}.").as_bytes(), body].concat();
    let tag = hmac_sha256(secret.as_bytes(), &content);
    let mut headers = HeaderMap::new();
    headers.insert(
        "x-webhook-signature",
        format!("sha256={}", hex::encode(tag)).parse().unwrap(),
    );
    headers.insert("x-webhook-timestamp", timestamp.parse().unwrap());
    headers.insert("x-webhook-id", "evt_tracing_1".parse().unwrap());
    headers
}

#[tokio::test]
async fn every_refusal_is_logged_and_nothing_secret_is() {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let layer = VerifySignatureLayer::new(Generic, SECRET)
        .unwrap()
        .max_body_size(LIMIT)
        .clock(|| NOW);
    let recorder = Recorder::new();
    let mut forbidden = Forbidden::default();
    forbidden.add("secret", SECRET);

    let body = secret_body(200);
    forbidden.add("body", String::from_utf8(body.clone()).unwrap());
    forbidden.add("card number in the body", "4111111111111111");
    let now = NOW.to_string();
    let signed = generic_headers(SECRET, &now, &body);
    // What the layer computes for an untouched body at this timestamp.
    let expected = |timestamp: &str, body: &[u8]| {
        hmac_sha256(
            SECRET.as_bytes(),
            &[format!("{timestamp}.").as_bytes(), body].concat(),
        )
    };
    forbidden.tag("expected signature", &expected(&now, &body));

    let without = |name: &str| {
        let mut headers = signed.clone();
        headers.remove(name);
        headers
    };
    let with = |name: &'static str, value: &str| {
        let mut headers = signed.clone();
        headers.insert(name, value.parse().unwrap());
        headers
    };

    let mut tampered = body.clone();
    tampered[70] ^= 1;
    forbidden.tag(
        "expected signature of the tampered body",
        &expected(&now, &tampered),
    );
    let stale = (NOW - 3600).to_string();
    let ahead = (NOW + 3600).to_string();
    let too_big = secret_body(LIMIT + 100);
    forbidden.tag(
        "expected signature of the large body",
        &expected(&now, &too_big),
    );

    let cases: Vec<(&str, HeaderMap, Vec<u8>, StatusCode)> = vec![
        (
            "no headers",
            HeaderMap::new(),
            body.clone(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "missing signature",
            without("x-webhook-signature"),
            body.clone(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "malformed signature",
            with(
                "x-webhook-signature",
                &format!("sha256={}", "zz".repeat(32)),
            ),
            body.clone(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "unsupported signature",
            with("x-webhook-signature", &format!("sha1={}", "ab".repeat(20))),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "malformed timestamp",
            with("x-webhook-timestamp", "yesterday"),
            body.clone(),
            StatusCode::BAD_REQUEST,
        ),
        (
            "stale timestamp",
            generic_headers(SECRET, &stale, &body),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "future timestamp",
            generic_headers(SECRET, &ahead, &body),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "tampered body",
            signed.clone(),
            tampered.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "wrong secret",
            generic_headers("not-the-secret-at-all", &now, &body),
            body.clone(),
            StatusCode::UNAUTHORIZED,
        ),
        (
            "declared body too large",
            generic_headers(SECRET, &now, &too_big),
            too_big.clone(),
            StatusCode::PAYLOAD_TOO_LARGE,
        ),
    ];
    for (label, headers, body, status) in cases {
        let start = capture.event_count();
        let response = send(&layer, &recorder, request(&headers, body)).await;
        assert_eq!(response.status(), status, "{label}");
        assert_logged(&capture, start, &response, "generic", label);
    }
    // The stale and future signatures are valid ones, for other timestamps.
    forbidden.tag("signature of the stale delivery", &expected(&stale, &body));
    forbidden.tag("signature of the future delivery", &expected(&ahead, &body));

    // Bodies without a declared length: cut off at the limit, and a body that fails.
    let start = capture.event_count();
    let streamed = Chunks::split_at(&too_big, &[10, 100, 200]);
    let headers = generic_headers(SECRET, &now, &too_big);
    let response = send(&layer, &recorder, request_with(&headers, streamed)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_logged(
        &capture,
        start,
        &response,
        "generic",
        "streamed body too large",
    );

    let start = capture.event_count();
    let failing = Chunks::split_at(&body, &[50]).failing();
    let response = send(&layer, &recorder, request_with(&signed, failing)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let error = assert_logged(&capture, start, &response, "generic", "body fails");
    assert!(matches!(error, VerifyError::BodyRead { .. }), "{error:?}");

    // And the signed request itself goes through.
    let response = send(&layer, &recorder, request(&signed, body.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorder.calls(), 1, "only the signed request got through");

    forbidden.assert_absent_from(&capture);
    assert!(capture.event_count() >= 12);
}

/// Standard Webhooks, whose key is the base64 after `whsec_` and whose signatures are base64:
/// mismatches, replays and a failing replay guard (closed, then open) are logged, and neither
/// the secret, its key, the expected signatures nor the body show up.
#[tokio::test]
async fn standard_webhooks_refusals_and_replays_leak_nothing() {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let key = BASE64.decode(&secret["whsec_".len()..]).unwrap();
    let mut forbidden = Forbidden::default();
    forbidden.add("secret", secret);
    forbidden.add("secret without its prefix", &secret["whsec_".len()..]);
    forbidden.add("key in hex", hex::encode(&key));

    let body = secret_body(120);
    forbidden.add("body", String::from_utf8(body.clone()).unwrap());
    forbidden.add("card number in the body", "4111111111111111");
    let sign = |id: &str, body: &[u8]| {
        let headers = StandardWebhooks
            .sign(
                &Secret::new(secret),
                &Message::new(body).id(id).timestamp(NOW),
            )
            .unwrap();
        let content = [format!("{id}.{NOW}.").as_bytes(), body].concat();
        (headers, hmac_sha256(&key, &content))
    };

    // A guard with room for one id: the second fresh delivery finds it full.
    let guard = MemoryReplayGuard::new(1);
    let layer = VerifySignatureLayer::new(StandardWebhooks, secret)
        .unwrap()
        .clock(|| NOW)
        .replay_guard(guard.clone());
    let recorder = Recorder::new();

    let (first, tag) = sign("msg_1", &body);
    forbidden.tag("signature of msg_1", &tag);
    let response = send(&layer, &recorder, request(&first, body.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);

    let start = capture.event_count();
    let response = send(&layer, &recorder, request(&first, body.clone())).await;
    assert_eq!(response.status(), StatusCode::CONFLICT);
    assert_logged(&capture, start, &response, "standard-webhooks", "replay");

    let (second, tag) = sign("msg_2", &body);
    forbidden.tag("signature of msg_2", &tag);
    let start = capture.event_count();
    let response = send(&layer, &recorder, request(&second, body.clone())).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_logged(
        &capture,
        start,
        &response,
        "standard-webhooks",
        "guard full",
    );

    let mut tampered = body.clone();
    tampered[30] ^= 1;
    let content = [format!("msg_2.{NOW}.").as_bytes(), &tampered[..]].concat();
    forbidden.tag(
        "expected signature of the tampered body",
        &hmac_sha256(&key, &content),
    );
    let start = capture.event_count();
    let response = send(&layer, &recorder, request(&second, tampered)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_logged(&capture, start, &response, "standard-webhooks", "tampered");

    // Fail-open lets the delivery through; whatever it logs leaks nothing either.
    let open = layer.replay_guard(ReplayProtection::new(guard).fail_open(true));
    let (third, tag) = sign("msg_3", &body);
    forbidden.tag("signature of msg_3", &tag);
    let start = capture.event_count();
    let response = send(&open, &recorder, request(&third, body.clone())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        capture.event_count() > start,
        "a guard failure let through unrecorded is worth an event"
    );
    assert_eq!(recorder.calls(), 2);

    forbidden.assert_absent_from(&capture);
}

/// The capture itself works: an event with the secret in it would be caught. Without this a
/// subscriber that saw nothing would pass every leak check above.
#[test]
fn the_capture_catches_a_leak() {
    let capture = Capture::default();
    let _default = tracing::subscriber::set_default(capture.clone());
    let body = Bytes::from_static(b"raw body bytes 0123456789");
    tracing::info!(target: "tower_webhook", secret = SECRET, body = &body[..], "leaky");
    tracing::info_span!("span", tag = %hex::encode([7u8; 32])).in_scope(|| {});
    let mut forbidden = Forbidden::default();
    forbidden.add("secret", SECRET);
    let caught = std::panic::catch_unwind(|| forbidden.assert_absent_from(&capture));
    assert!(caught.is_err(), "a secret in a field was not caught");

    let mut forbidden = Forbidden::default();
    forbidden.add("body", "raw body bytes 0123456789");
    let caught = std::panic::catch_unwind(|| forbidden.assert_absent_from(&capture));
    assert!(caught.is_err(), "a body logged as bytes was not caught");

    let mut forbidden = Forbidden::default();
    forbidden.tag("tag", &[7u8; 32]);
    let caught = std::panic::catch_unwind(|| forbidden.assert_absent_from(&capture));
    assert!(caught.is_err(), "a tag in a span field was not caught");
    assert_eq!(capture.events_since(0)[0].level, tracing::Level::INFO);
}
