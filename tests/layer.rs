//! The layer's own cases: every refusal and its status, the timestamp window, rotation,
//! multi-signature headers, bodies of every shape, configuration errors, and what never leaks.

mod common;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use common::{Chunks, NOW, Recorder, refusal, request, request_with, send, text};
use http::{HeaderMap, HeaderName, HeaderValue, Response, StatusCode};
use http_body_util::Full;
use tower::Layer;
use tower_webhook::scheme::{
    CustomScheme, Generic, GitHub, Message, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{ConfigError, Secret, Secrets, VerifyError, VerifySignatureLayer};

const GITHUB_SECRET: &str = "gh-secret-7f3a9c";
const STRIPE_SECRET: &str = "whsec_stripe_secret_4b8d";
/// A Standard Webhooks secret: `whsec_` and base64 of 24 random-looking bytes.
const SW_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const SW_OLD_SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
const BODY: &[u8] = br#"{"type":"invoice.paid","id":"evt_1"}"#;

fn github() -> VerifySignatureLayer {
    VerifySignatureLayer::new(GitHub, GITHUB_SECRET).unwrap()
}

fn stripe() -> VerifySignatureLayer {
    VerifySignatureLayer::new(Stripe, STRIPE_SECRET)
        .unwrap()
        .clock(|| NOW)
}

fn standard() -> VerifySignatureLayer {
    VerifySignatureLayer::new(StandardWebhooks, SW_SECRET)
        .unwrap()
        .clock(|| NOW)
}

fn sign(scheme: &impl Scheme, secret: &str, message: &Message<'_>) -> HeaderMap {
    scheme.sign(&Secret::new(secret), message).unwrap()
}

fn stripe_headers(timestamp: i64, body: &[u8]) -> HeaderMap {
    sign(
        &Stripe,
        STRIPE_SECRET,
        &Message::new(body).timestamp(timestamp),
    )
}

fn standard_headers(timestamp: i64, body: &[u8]) -> HeaderMap {
    sign(
        &StandardWebhooks,
        SW_SECRET,
        &Message::new(body).id("msg_1").timestamp(timestamp),
    )
}

fn with(mut headers: HeaderMap, name: &'static str, value: &str) -> HeaderMap {
    headers.insert(
        HeaderName::from_static(name),
        HeaderValue::from_str(value).unwrap(),
    );
    headers
}

/// The `v1` hex signature Stripe's `sign` produced.
fn stripe_v1(headers: &HeaderMap) -> String {
    let value = headers["stripe-signature"].to_str().unwrap();
    value.split_once(",v1=").unwrap().1.to_owned()
}

/// The base64 signature Standard Webhooks' `sign` produced.
fn standard_v1(headers: &HeaderMap) -> String {
    let value = headers["webhook-signature"].to_str().unwrap();
    value.strip_prefix("v1,").unwrap().to_owned()
}

fn flip_first_char(signature: &str) -> String {
    let replacement = if signature.starts_with('0') { "1" } else { "0" };
    format!("{replacement}{}", &signature[1..])
}

/// Sends a request the layer must refuse, and checks everything a refusal promises: the
/// status, the reason in the body and in the extensions, the inner service untouched, and
/// no secret or correct signature in what goes back.
async fn assert_refused(
    layer: &VerifySignatureLayer,
    request: http::Request<Full<Bytes>>,
    status: u16,
    never_shown: &[&str],
) -> VerifyError {
    let recorder = Recorder::new();
    let response = send(layer, &recorder, request).await;
    assert_eq!(response.status().as_u16(), status);
    let error = refusal(&response);
    assert_eq!(error.status().as_u16(), status);
    let body = text(response).await;
    assert_eq!(body, error.to_string());
    for secret in never_shown {
        assert!(!body.contains(secret), "{body:?} shows {secret:?}");
        assert!(!format!("{error:?}").contains(secret), "{error:?}");
    }
    assert_eq!(recorder.calls(), 0, "the inner service ran for {error}");
    error
}

#[tokio::test]
async fn a_signed_request_reaches_the_inner_service_with_its_bytes_and_verified() {
    let recorder = Recorder::new();
    let headers = standard_headers(NOW, BODY);
    let response = send(&standard(), &recorder, request(&headers, BODY)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.extensions().get::<VerifyError>().is_none());
    assert_eq!(text(response).await, "inner");
    let seen = recorder.last();
    assert_eq!(seen.body, BODY);
    assert_eq!(seen.verified.body(), BODY);
    assert_eq!(seen.verified.scheme(), "standard-webhooks");
    assert_eq!(seen.verified.id(), Some("msg_1"));
    assert_eq!(seen.verified.timestamp(), Some(NOW));
    assert_eq!(seen.verified.key_index(), 0);
    assert_eq!(seen.verified.key_name(), None);
    // The headers travel on untouched.
    assert_eq!(seen.headers["webhook-id"], "msg_1");
}

#[tokio::test]
async fn every_refusal_reason_has_its_status_and_hides_secrets_and_signatures() {
    let good = stripe_headers(NOW, BODY);
    let right = stripe_v1(&good);
    let hidden = [STRIPE_SECRET, right.as_str()];
    let cases: Vec<(&str, HeaderMap, u16)> = vec![
        ("missing header", HeaderMap::new(), 400),
        (
            "no v1",
            with(HeaderMap::new(), "stripe-signature", &format!("t={NOW}")),
            401,
        ),
        (
            "not key=value",
            with(HeaderMap::new(), "stripe-signature", "garbage"),
            400,
        ),
        (
            "short v1",
            with(
                HeaderMap::new(),
                "stripe-signature",
                &format!("t={NOW},v1=abc"),
            ),
            400,
        ),
        (
            "no t",
            with(HeaderMap::new(), "stripe-signature", &format!("v1={right}")),
            400,
        ),
        (
            "mismatch",
            with(
                HeaderMap::new(),
                "stripe-signature",
                &format!("t={NOW},v1={}", flip_first_char(&right)),
            ),
            401,
        ),
        (
            "unparseable timestamp",
            with(
                HeaderMap::new(),
                "stripe-signature",
                &format!("t=soon,v1={right}"),
            ),
            400,
        ),
        ("too old", stripe_headers(NOW - 301, BODY), 401),
        ("too new", stripe_headers(NOW + 301, BODY), 401),
    ];
    for (name, headers, status) in cases {
        let error = assert_refused(&stripe(), request(&headers, BODY), status, &hidden).await;
        let matches = match name {
            "missing header" => matches!(error, VerifyError::MissingHeader { .. }),
            "no v1" => matches!(error, VerifyError::NoSupportedSignature { .. }),
            "not key=value" | "short v1" | "no t" => {
                matches!(error, VerifyError::MalformedHeader { .. })
            }
            "mismatch" => matches!(error, VerifyError::SignatureMismatch),
            "unparseable timestamp" => matches!(error, VerifyError::InvalidTimestamp { .. }),
            "too old" => matches!(error, VerifyError::TimestampTooOld { .. }),
            "too new" => matches!(error, VerifyError::TimestampTooNew { .. }),
            _ => unreachable!(),
        };
        assert!(matches, "{name}: {error:?}");
    }

    // Too large (413): a declared length over the limit.
    let error = assert_refused(
        &stripe().max_body_size(BODY.len() - 1),
        request(&good, BODY),
        413,
        &hidden,
    )
    .await;
    assert!(matches!(error, VerifyError::BodyTooLarge { limit } if limit == BODY.len() - 1));

    // The body fails while it is read (400).
    let recorder = Recorder::new();
    let body = Chunks::new([Bytes::from_static(BODY)]).failing();
    let response = send(&stripe(), &recorder, request_with(&good, body)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert!(matches!(refusal(&response), VerifyError::BodyRead { .. }));
    let body = text(response).await;
    assert!(body.contains("connection reset"), "{body}");
    assert!(!body.contains(&right) && !body.contains(STRIPE_SECRET));
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn header_level_refusals_of_the_other_schemes() {
    let body = BODY;
    let right = sign(&GitHub, GITHUB_SECRET, &Message::new(body));
    let right_hex = right["x-hub-signature-256"].to_str().unwrap()[7..].to_owned();
    let hidden = [GITHUB_SECRET, right_hex.as_str()];

    // An old `sha1=` signature alone is not a supported version.
    let sha1 = with(
        HeaderMap::new(),
        "x-hub-signature-256",
        "sha1=0123456789abcdef0123456789abcdef01234567",
    );
    let error = assert_refused(&github(), request(&sha1, body), 401, &hidden).await;
    assert!(matches!(error, VerifyError::NoSupportedSignature { .. }));

    // The same header twice: refused rather than one picked.
    let mut twice = right.clone();
    twice.append("x-hub-signature-256", right["x-hub-signature-256"].clone());
    let error = assert_refused(&github(), request(&twice, body), 400, &hidden).await;
    assert!(matches!(error, VerifyError::MalformedHeader { .. }));

    // Bytes that are not visible ASCII.
    let mut binary = HeaderMap::new();
    binary.insert(
        "x-hub-signature-256",
        HeaderValue::from_bytes(b"sha256=\xff\xfe").unwrap(),
    );
    let error = assert_refused(&github(), request(&binary, body), 400, &hidden).await;
    assert!(matches!(error, VerifyError::MalformedHeader { .. }));

    // Slack and the generic scheme need their timestamp header.
    let slack = VerifySignatureLayer::new(Slack, "slack-secret")
        .unwrap()
        .clock(|| NOW);
    let mut headers = sign(&Slack, "slack-secret", &Message::new(body).timestamp(NOW));
    headers.remove("x-slack-request-timestamp");
    let error = assert_refused(&slack, request(&headers, body), 400, &["slack-secret"]).await;
    assert!(
        matches!(&error, VerifyError::MissingHeader { header } if header == "x-slack-request-timestamp")
    );

    // Standard Webhooks needs its id.
    let mut headers = standard_headers(NOW, body);
    headers.remove("webhook-id");
    let error = assert_refused(&standard(), request(&headers, body), 400, &[SW_SECRET]).await;
    assert!(matches!(&error, VerifyError::MissingHeader { header } if header == "webhook-id"));
}

#[tokio::test]
async fn the_window_is_300_seconds_inclusive_both_ways() {
    for (offset, accepted) in [
        (-301, false),
        (-300, true),
        (0, true),
        (300, true),
        (301, false),
    ] {
        let recorder = Recorder::new();
        let response = send(
            &stripe(),
            &recorder,
            request(&stripe_headers(NOW + offset, BODY), BODY),
        )
        .await;
        assert_eq!(
            response.status() == StatusCode::OK,
            accepted,
            "offset {offset}: {}",
            response.status()
        );
        assert_eq!(recorder.calls(), usize::from(accepted));
        if !accepted {
            let error = refusal(&response);
            match error {
                VerifyError::TimestampTooOld {
                    age_seconds,
                    tolerance_seconds,
                } => assert_eq!((offset, age_seconds, tolerance_seconds), (-301, 301, 300)),
                VerifyError::TimestampTooNew {
                    ahead_seconds,
                    tolerance_seconds,
                } => assert_eq!((offset, ahead_seconds, tolerance_seconds), (301, 301, 300)),
                other => panic!("offset {offset}: {other:?}"),
            }
        }
    }
}

#[tokio::test]
async fn a_custom_tolerance_moves_both_bounds() {
    let layer = standard().tolerance(Duration::from_secs(10));
    for (offset, accepted) in [(-11, false), (-10, true), (10, true), (11, false)] {
        let recorder = Recorder::new();
        let headers = standard_headers(NOW + offset, BODY);
        let response = send(&layer, &recorder, request(&headers, BODY)).await;
        assert_eq!(response.status() == StatusCode::OK, accepted, "{offset}");
    }
    // Zero tolerance: only the very second.
    let layer = standard().tolerance(Duration::ZERO);
    for (offset, accepted) in [(-1, false), (0, true), (1, false)] {
        let headers = standard_headers(NOW + offset, BODY);
        let response = send(&layer, &Recorder::new(), request(&headers, BODY)).await;
        assert_eq!(response.status() == StatusCode::OK, accepted, "{offset}");
    }
    // A day's tolerance lets a day-old delivery through.
    let layer = standard().tolerance(Duration::from_secs(86_400));
    let headers = standard_headers(NOW - 86_400, BODY);
    let response = send(&layer, &Recorder::new(), request(&headers, BODY)).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn absurd_timestamps_get_a_clean_4xx() {
    // Correctly signed, but absurd in value.
    for (timestamp, status) in [(i64::MAX, 401), (0, 401), (1, 401)] {
        let headers = stripe_headers(timestamp, BODY);
        assert_refused(&stripe(), request(&headers, BODY), status, &[STRIPE_SECRET]).await;
    }
    // Not numbers the crate can hold: refused as invalid, before any signature check.
    let any_sig = "0".repeat(64);
    for raw in [
        "99999999999999999999",
        "9223372036854775808",
        "-1",
        "-9223372036854775808",
        "+1700000000",
        "1700000000.5",
        "",
    ] {
        let headers = with(
            HeaderMap::new(),
            "stripe-signature",
            &format!("t={raw},v1={any_sig}"),
        );
        let error = assert_refused(&stripe(), request(&headers, BODY), 400, &[STRIPE_SECRET]).await;
        assert!(
            matches!(error, VerifyError::InvalidTimestamp { .. }),
            "{raw:?}: {error:?}"
        );
        let headers = with(
            with(
                with(HeaderMap::new(), "webhook-id", "msg_1"),
                "webhook-signature",
                &format!("v1,{}", "A".repeat(43) + "="),
            ),
            "webhook-timestamp",
            raw,
        );
        let error = assert_refused(&standard(), request(&headers, BODY), 400, &[SW_SECRET]).await;
        assert!(matches!(error, VerifyError::InvalidTimestamp { .. }));
    }
    // Clocks at the ends of time do not overflow either.
    for now in [i64::MIN, i64::MAX] {
        let layer = stripe().clock(move || now);
        for timestamp in [0, i64::MAX] {
            let headers = stripe_headers(timestamp, BODY);
            let response = send(&layer, &Recorder::new(), request(&headers, BODY)).await;
            let expected = if timestamp == now {
                StatusCode::OK
            } else {
                StatusCode::UNAUTHORIZED
            };
            assert_eq!(
                response.status(),
                expected,
                "now {now}, timestamp {timestamp}"
            );
            if expected == StatusCode::UNAUTHORIZED {
                let error = refusal(&response);
                assert!(
                    matches!(
                        error,
                        VerifyError::TimestampTooOld { .. } | VerifyError::TimestampTooNew { .. }
                    ),
                    "{error:?}"
                );
            }
        }
    }
}

#[tokio::test]
async fn rotation_accepts_the_old_secret_and_says_which_matched() {
    let secrets = Secrets::from([
        Secret::new(SW_SECRET).named("current"),
        Secret::new(SW_OLD_SECRET).named("previous"),
    ]);
    let layer = VerifySignatureLayer::new(StandardWebhooks, secrets)
        .unwrap()
        .clock(|| NOW);
    for (secret, index, name) in [(SW_SECRET, 0, "current"), (SW_OLD_SECRET, 1, "previous")] {
        let recorder = Recorder::new();
        let headers = sign(
            &StandardWebhooks,
            secret,
            &Message::new(BODY).id("msg_r").timestamp(NOW),
        );
        let response = send(&layer, &recorder, request(&headers, BODY)).await;
        assert_eq!(response.status(), StatusCode::OK);
        let verified = recorder.last().verified;
        assert_eq!(verified.key_index(), index);
        assert_eq!(verified.key_name(), Some(name));
    }
    // Unnamed secrets are told apart by position; a third, unknown secret is refused.
    let layer = VerifySignatureLayer::new(GitHub, ["new", "old"]).unwrap();
    let recorder = Recorder::new();
    let headers = sign(&GitHub, "old", &Message::new(BODY));
    assert_eq!(
        send(&layer, &recorder, request(&headers, BODY))
            .await
            .status(),
        StatusCode::OK
    );
    assert_eq!(recorder.last().verified.key_index(), 1);
    assert_eq!(recorder.last().verified.key_name(), None);
    let headers = sign(&GitHub, "older", &Message::new(BODY));
    assert_refused(&layer, request(&headers, BODY), 401, &["new", "old"]).await;
}

#[tokio::test]
async fn stripe_any_v1_may_match_and_v0_and_unknown_entries_are_skipped() {
    let right = stripe_v1(&stripe_headers(NOW, BODY));
    let wrong = flip_first_char(&right);
    let header = |value: String| with(HeaderMap::new(), "stripe-signature", &value);

    for value in [
        format!("t={NOW},v1={wrong},v1={right}"),
        format!("t={NOW},v1={right},v1={wrong}"),
        format!("v1={right},t={NOW}"),
        format!("t={NOW},v0={wrong},v1={right}"),
        format!("t={NOW},v2=whatever,scheme=x,v1={right}"),
        // A `v1` that is not hex does not spoil a good one next to it.
        format!("t={NOW},v1=nothex,v1={right}"),
        format!("t={NOW}, v1={right}"),
        format!("t={NOW},v1={}", right.to_uppercase()),
    ] {
        let recorder = Recorder::new();
        let response = send(&stripe(), &recorder, request(&header(value.clone()), BODY)).await;
        assert_eq!(response.status(), StatusCode::OK, "{value}");
        assert_eq!(recorder.last().body, BODY);
    }

    // The right signature under `v0` or an unknown version counts for nothing.
    for value in [format!("t={NOW},v0={right}"), format!("t={NOW},v2={right}")] {
        let error = assert_refused(&stripe(), request(&header(value), BODY), 401, &[]).await;
        assert!(matches!(error, VerifyError::NoSupportedSignature { .. }));
    }
    let error = assert_refused(
        &stripe(),
        request(&header(format!("t={NOW},v1={wrong},v1={wrong}")), BODY),
        401,
        &[&right],
    )
    .await;
    assert!(matches!(error, VerifyError::SignatureMismatch));
    // Two timestamps are refused rather than one picked.
    let error = assert_refused(
        &stripe(),
        request(&header(format!("t={NOW},t={NOW},v1={right}")), BODY),
        400,
        &[],
    )
    .await;
    assert!(matches!(error, VerifyError::MalformedHeader { .. }));
}

#[tokio::test]
async fn standard_webhooks_any_v1_may_match_and_other_versions_are_skipped() {
    let headers = standard_headers(NOW, BODY);
    let right = standard_v1(&headers);
    let wrong = flip_first_char(&right);
    let header = |value: String| with(headers.clone(), "webhook-signature", &value);

    for value in [
        format!("v1,{wrong} v1,{right}"),
        format!("v1,{right} v1,{wrong}"),
        format!("v1a,{wrong} v2,junk v1,{right}"),
        format!("v1,{right}  v1,{wrong}"),
        format!("v1,not-base64 v1,{right}"),
    ] {
        let recorder = Recorder::new();
        let response = send(
            &standard(),
            &recorder,
            request(&header(value.clone()), BODY),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{value}");
    }
    for value in [format!("v3,{right}"), format!("v2,{right} v0,{right}")] {
        let error = assert_refused(
            &standard(),
            request(&header(value), BODY),
            401,
            &[SW_SECRET],
        )
        .await;
        assert!(matches!(error, VerifyError::NoSupportedSignature { .. }));
    }
    // `v1a` is Ed25519 (64 bytes): an HMAC tag under that label is no signature of it.
    let error = assert_refused(
        &standard(),
        request(&header(format!("v1a,{right}")), BODY),
        400,
        &[SW_SECRET],
    )
    .await;
    assert!(matches!(error, VerifyError::MalformedHeader { .. }));
    let error = assert_refused(
        &standard(),
        request(&header(format!("v1,{wrong} v1,{wrong}")), BODY),
        401,
        &[SW_SECRET, &right],
    )
    .await;
    assert!(matches!(error, VerifyError::SignatureMismatch));
}

#[tokio::test]
async fn svix_header_names_are_read_too() {
    let headers = standard_headers(NOW, BODY);
    let mut svix = HeaderMap::new();
    for (standard_name, svix_name) in [
        ("webhook-id", "svix-id"),
        ("webhook-timestamp", "svix-timestamp"),
        ("webhook-signature", "svix-signature"),
    ] {
        svix.insert(svix_name, headers[standard_name].clone());
    }
    let recorder = Recorder::new();
    let response = send(&standard(), &recorder, request(&svix, BODY)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorder.last().verified.id(), Some("msg_1"));

    // A tampered Svix delivery is refused like any other.
    svix.insert("svix-id", HeaderValue::from_static("msg_2"));
    let error = assert_refused(&standard(), request(&svix, BODY), 401, &[SW_SECRET]).await;
    assert!(matches!(error, VerifyError::SignatureMismatch));
}

#[tokio::test]
async fn bodies_that_are_not_utf8_are_handed_on_byte_for_byte() {
    let body: Vec<u8> = vec![0xff, 0xfe, 0x00, 0x80, b'{', 0xc3, 0x28, 0x00, 0xf0, 0x90];
    assert!(std::str::from_utf8(&body).is_err());
    let cases = [
        (stripe(), stripe_headers(NOW, &body)),
        (github(), sign(&GitHub, GITHUB_SECRET, &Message::new(&body))),
    ];
    for (layer, headers) in cases {
        let recorder = Recorder::new();
        let response = send(&layer, &recorder, request(&headers, body.clone())).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(recorder.last().body, body);
        assert_eq!(recorder.last().verified.body(), &body);
        // In many chunks too, split inside multi-byte sequences.
        let recorder = Recorder::new();
        let chunks = Chunks::split_at(&body, &[1, 3, 6, 9]);
        let response = send(&layer, &recorder, request_with(&headers, chunks)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(recorder.last().body, body);
    }
}

#[tokio::test]
async fn an_empty_body_verifies() {
    let recorder = Recorder::new();
    let headers = standard_headers(NOW, b"");
    let response = send(&standard(), &recorder, request(&headers, Bytes::new())).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(recorder.last().body.is_empty());
    assert!(recorder.last().verified.body().is_empty());

    // An empty body does not match a signature over a non-empty one.
    let headers = standard_headers(NOW, BODY);
    assert_refused(&standard(), request(&headers, Bytes::new()), 401, &[]).await;
}

#[tokio::test]
async fn a_body_in_one_byte_chunks_verifies_and_arrives_whole() {
    let body: Vec<u8> = (0..2000u32).map(|i| (i * 7 % 256) as u8).collect();
    let headers = standard_headers(NOW, &body);
    let recorder = Recorder::new();
    let chunks = Chunks::bytewise(&body);
    let polls = chunks.polls();
    let response = send(&standard(), &recorder, request_with(&headers, chunks)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorder.last().body, body);
    assert!(polls.load(Ordering::SeqCst) > body.len());

    // The same chunks with one byte changed are refused.
    let mut tampered = body.clone();
    tampered[1234] ^= 1;
    let recorder = Recorder::new();
    let response = send(
        &standard(),
        &recorder,
        request_with(&headers, Chunks::bytewise(&tampered)),
    )
    .await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(recorder.calls(), 0);

    // Empty chunks in between change nothing.
    let recorder = Recorder::new();
    let chunks = Chunks::new([
        Bytes::new(),
        Bytes::copy_from_slice(&body[..10]),
        Bytes::new(),
        Bytes::copy_from_slice(&body[10..]),
        Bytes::new(),
    ]);
    let response = send(&standard(), &recorder, request_with(&headers, chunks)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorder.last().body, body);
}

#[tokio::test]
async fn a_body_over_the_limit_is_413_with_or_without_content_length() {
    let limit = 100;
    let body = vec![b'x'; limit + 1];
    let headers = standard_headers(NOW, &body);
    let layer = standard().max_body_size(limit);

    // With Content-Length: refused before reading.
    let declared = with(headers.clone(), "content-length", &body.len().to_string());
    let chunks = Chunks::new([Bytes::from(body.clone())]);
    let polls = chunks.polls();
    let recorder = Recorder::new();
    let response = send(&layer, &recorder, request_with(&declared, chunks)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(polls.load(Ordering::SeqCst), 0, "the body was read");
    assert_eq!(recorder.calls(), 0);

    // Without Content-Length or a size hint: refused while streaming.
    for chunks in [
        Chunks::new([Bytes::from(body.clone())]),
        Chunks::bytewise(&body),
    ] {
        let polls = chunks.polls();
        let recorder = Recorder::new();
        let response = send(&layer, &recorder, request_with(&headers, chunks)).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert!(matches!(
            refusal(&response),
            VerifyError::BodyTooLarge { limit: 100 }
        ));
        assert!(polls.load(Ordering::SeqCst) >= 1);
        assert_eq!(recorder.calls(), 0);
    }

    // A body exactly at the limit passes, in one piece or many.
    let body = vec![b'y'; limit];
    let headers = standard_headers(NOW, &body);
    for chunks in [
        Chunks::new([Bytes::from(body.clone())]),
        Chunks::bytewise(&body),
    ] {
        let recorder = Recorder::new();
        let response = send(&layer, &recorder, request_with(&headers, chunks)).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(recorder.last().body, body);
    }
}

#[tokio::test]
async fn a_content_length_that_lies_changes_nothing_it_should_not() {
    let limit = 100;
    let layer = standard().max_body_size(limit);

    // Says small, is big: the limit is still enforced on what arrives.
    let body = vec![b'z'; limit * 3];
    let headers = with(standard_headers(NOW, &body), "content-length", "10");
    let chunks = Chunks::split_at(&body, &[10, 50, 120, 250]);
    let response = send(&layer, &Recorder::new(), request_with(&headers, chunks)).await;
    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);

    // Says small, is bigger but within the limit: the signature covers what arrived, and
    // exactly that is handed on.
    let body = vec![b'w'; limit - 1];
    let headers = with(standard_headers(NOW, &body), "content-length", "3");
    let recorder = Recorder::new();
    let response = send(
        &layer,
        &recorder,
        request_with(&headers, Chunks::split_at(&body, &[1, 2, 3, 40])),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorder.last().body, body);

    // Says big beyond the limit (in the header or the size hint), is small: refused before
    // the body is polled at all.
    let body = b"tiny".to_vec();
    let signed = standard_headers(NOW, &body);
    for (headers, hint) in [
        (with(signed.clone(), "content-length", "101"), None),
        (
            with(signed.clone(), "content-length", "18446744073709551615"),
            None,
        ),
        (signed.clone(), Some(101)),
        (signed.clone(), Some(u64::MAX)),
    ] {
        let mut chunks = Chunks::new([Bytes::from(body.clone())]);
        if let Some(hint) = hint {
            chunks = chunks.with_exact_hint(hint);
        }
        let polls = chunks.polls();
        let recorder = Recorder::new();
        let response = send(&layer, &recorder, request_with(&headers, chunks)).await;
        assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(polls.load(Ordering::SeqCst), 0, "the body was polled");
        assert_eq!(recorder.calls(), 0);
    }

    // A Content-Length that is not a number is no reason to refuse a good delivery.
    let headers = with(signed.clone(), "content-length", "lots");
    let response = send(
        &layer,
        &Recorder::new(),
        request_with(&headers, Chunks::new([Bytes::from(body.clone())])),
    )
    .await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn header_refusals_never_poll_the_body() {
    let headers = stripe_headers(NOW - 3600, BODY);
    let chunks = Chunks::new([Bytes::from_static(BODY)]);
    let polls = chunks.polls();
    let recorder = Recorder::new();
    let response = send(&stripe(), &recorder, request_with(&headers, chunks)).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(polls.load(Ordering::SeqCst), 0);
    assert_eq!(recorder.calls(), 0);
}

#[tokio::test]
async fn on_reject_builds_the_response_and_the_error_rides_along() {
    let layer = stripe().on_reject(|error: &VerifyError| {
        Response::builder()
            .status(StatusCode::IM_A_TEAPOT)
            .header("x-refused", error.status().as_str())
            .body(Full::new(Bytes::from(format!(
                r#"{{"refused":"{}"}}"#,
                error.status().as_u16()
            ))))
            .unwrap()
    });
    let recorder = Recorder::new();
    let headers = stripe_headers(NOW - 1000, BODY);
    let response = send(&layer, &recorder, request(&headers, BODY)).await;
    assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
    assert_eq!(response.headers()["x-refused"], "401");
    assert!(matches!(
        refusal(&response),
        VerifyError::TimestampTooOld {
            age_seconds: 1000,
            ..
        }
    ));
    assert_eq!(text(response).await, r#"{"refused":"401"}"#);
    assert_eq!(recorder.calls(), 0);

    // A good delivery never meets the hook.
    let response = send(&layer, &recorder, request(&stripe_headers(NOW, BODY), BODY)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(recorder.calls(), 1);

    // The default refusal is plain text.
    let response = send(&stripe(), &recorder, request(&HeaderMap::new(), BODY)).await;
    assert_eq!(
        response.headers()["content-type"],
        "text/plain; charset=utf-8"
    );
}

#[test]
fn config_errors_say_which_secret_and_what_is_wrong_but_not_its_value() {
    let cases: Vec<(Box<dyn Scheme>, Secrets, &str, &str)> = vec![
        (
            Box::new(GitHub),
            Secrets::new(),
            "no keys: at least one secret or public key is required",
            "",
        ),
        (
            Box::new(GitHub),
            Secrets::from(""),
            "secret #1 is empty",
            "",
        ),
        (
            Box::new(Stripe),
            Secrets::from(["whsec_fine", " whsec_padded-value"]),
            "secret #2 starts or ends with whitespace (pasted with a newline?)",
            "padded-value",
        ),
        (
            Box::new(Shopify),
            Secrets::from(Secret::new("newline-value\n").named("primary")),
            "secret #1 (\"primary\") starts or ends with whitespace (pasted with a newline?)",
            "newline-value",
        ),
        (
            Box::new(StandardWebhooks),
            Secrets::from("v1,pastedSignatureValue="),
            "secret #1 starts with `v1,`: that is a signature, not a secret",
            "pastedSignatureValue",
        ),
        (
            Box::new(StandardWebhooks),
            Secrets::from([
                Secret::new(SW_SECRET),
                Secret::new("whsec_not*base64*value").named("legacy"),
            ]),
            "secret #2 (\"legacy\") is not base64 after the optional `whsec_` prefix",
            "not*base64*value",
        ),
        (
            Box::new(StandardWebhooks),
            Secrets::from("whsec_"),
            "secret #1 decodes to an empty key",
            "",
        ),
    ];
    for (scheme, secrets, message, value) in cases {
        let error = VerifySignatureLayer::new(std::sync::Arc::<dyn Scheme>::from(scheme), secrets)
            .unwrap_err();
        assert_eq!(error.to_string(), message);
        if !value.is_empty() {
            assert!(!format!("{error:?}").contains(value), "{error:?}");
        }
    }
    // The service's constructor refuses the same way.
    let error = tower_webhook::VerifySignature::new((), GitHub, Secrets::new()).unwrap_err();
    assert!(matches!(error, ConfigError::NoSecrets));
    // Stripe's `whsec_` strings are not base64 and need not be.
    assert!(VerifySignatureLayer::new(Stripe, "whsec_not*base64").is_ok());
    // Signing with a bad secret fails the same way, without the value either.
    let error = StandardWebhooks
        .sign(
            &Secret::new("whsec_not*base64*value"),
            &Message::new(b"").id("a").timestamp(1),
        )
        .unwrap_err();
    assert!(!error.to_string().contains("not*base64*value"));
}

#[derive(Debug, Clone)]
struct Inner;

#[test]
fn debug_never_shows_secrets() {
    let secrets = Secrets::from([
        Secret::new("whsec_dGhpcyBpcyB0aGUgZmlyc3Qgc2VjcmV0").named("first"),
        Secret::new("whsec_c2Vjb25kIHNlY3JldCBoZXJlIQ=="),
    ]);
    let layer = VerifySignatureLayer::new(StandardWebhooks, secrets.clone())
        .unwrap()
        .clock(|| NOW);
    let service = layer.layer(Inner);
    let texts = [
        format!("{layer:?}"),
        format!("{layer:#?}"),
        format!("{service:?}"),
        format!("{secrets:?}"),
        format!("{:?}", secrets.iter().next().unwrap()),
    ];
    for text in &texts {
        for leak in [
            "dGhpcyBpcyB0aGUgZmlyc3Qgc2VjcmV0",
            "c2Vjb25kIHNlY3JldCBoZXJlIQ",
            "this is the first secret",
            "second secret",
        ] {
            assert!(!text.contains(leak), "{text} shows {leak}");
        }
    }
    assert!(texts[0].contains("first"), "names may show: {}", texts[0]);
    assert!(texts[0].contains("standard-webhooks"));
}

#[tokio::test]
async fn a_custom_scheme_round_trips_with_text_after_the_body() {
    let scheme = common::acme_scheme_base;
    let acme = scheme()
        .signed_content("{id}|{timestamp}|{body}|end")
        .unwrap();
    let message = Message::new(BODY).id("d-42").timestamp(NOW);
    let headers = acme.sign(&Secret::new("acme-secret"), &message).unwrap();
    assert!(
        headers["x-acme-signature"]
            .to_str()
            .unwrap()
            .starts_with("v2=")
    );

    let layer = VerifySignatureLayer::new(acme.clone(), "acme-secret")
        .unwrap()
        .clock(|| NOW);
    let recorder = Recorder::new();
    let response = send(&layer, &recorder, request(&headers, BODY)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let verified = recorder.last().verified;
    assert_eq!(verified.scheme(), "acme");
    assert_eq!(verified.id(), Some("d-42"));
    assert_eq!(verified.timestamp(), Some(NOW));

    // The text after the body is signed: a scheme with another suffix refuses the delivery.
    let other = scheme()
        .signed_content("{id}|{timestamp}|{body}|END")
        .unwrap();
    let layer = VerifySignatureLayer::new(other, "acme-secret")
        .unwrap()
        .clock(|| NOW);
    assert_refused(&layer, request(&headers, BODY), 401, &["acme-secret"]).await;

    // So is the id.
    let layer = VerifySignatureLayer::new(acme, "acme-secret")
        .unwrap()
        .clock(|| NOW);
    let tampered = with(headers, "x-acme-delivery", "d-43");
    assert_refused(&layer, request(&tampered, BODY), 401, &["acme-secret"]).await;

    // A template that names a header the scheme lacks is refused when the layer is built.
    let no_id = CustomScheme::new(HeaderName::from_static("x-sig"))
        .signed_content("{id}.{body}")
        .unwrap();
    let error = VerifySignatureLayer::new(no_id, "secret").unwrap_err();
    assert!(matches!(error, ConfigError::InvalidSignedContent { .. }));
}

#[tokio::test]
async fn the_generic_slack_and_shopify_presets_verify_what_they_sign() {
    let message = Message::new(BODY).id("delivery-1").timestamp(NOW);
    let layers: [(Box<dyn Scheme>, &str); 3] = [
        (Box::new(Generic), "generic-secret"),
        (Box::new(Slack), "slack-secret"),
        (Box::new(Shopify), "shopify-secret"),
    ];
    for (scheme, secret) in layers {
        let scheme = std::sync::Arc::<dyn Scheme>::from(scheme);
        let headers = scheme.sign(&Secret::new(secret), &message).unwrap();
        let layer = VerifySignatureLayer::new(scheme.clone(), secret)
            .unwrap()
            .clock(|| NOW);
        let recorder = Recorder::new();
        let response = send(&layer, &recorder, request(&headers, BODY)).await;
        assert_eq!(response.status(), StatusCode::OK, "{}", scheme.name());
        assert_eq!(recorder.last().verified.scheme(), scheme.name());
        let mut tampered = BODY.to_vec();
        tampered[2] ^= 0x20;
        assert_refused(&layer, request(&headers, tampered), 401, &[secret]).await;
    }
}

#[test]
fn signing_refuses_a_negative_timestamp_where_the_scheme_sends_one() {
    use tower_webhook::SignError;
    let sends_but_does_not_sign = common::acme_scheme_base()
        .signed_content("{body}")
        .expect("a valid template");
    // A timestamp the scheme sends but does not sign could be rewritten at will: refused.
    let secret = Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw");
    let unsigned = Message::new(b"{}").id("msg_1").timestamp(0);
    assert!(matches!(
        sends_but_does_not_sign.sign(&secret, &unsigned),
        Err(tower_webhook::SignError::Config(_))
    ));
    // Each scheme, and whether it sends a timestamp.
    let schemes: [(&dyn Scheme, bool); 7] = [
        (&GitHub, false),
        (&Shopify, false),
        (&Stripe, true),
        (&Slack, true),
        (&StandardWebhooks, true),
        (&Generic, true),
        (&common::acme_scheme(), true),
    ];
    for (scheme, sends_a_timestamp) in schemes {
        let message = |timestamp| Message::new(b"{}").id("msg_1").timestamp(timestamp);
        assert!(
            scheme.sign(&secret, &message(0)).is_ok(),
            "{}",
            scheme.name()
        );
        let negative = scheme.sign(&secret, &message(-1));
        if sends_a_timestamp {
            assert_eq!(
                negative.unwrap_err(),
                SignError::NegativeTimestamp { timestamp: -1 },
                "{}",
                scheme.name()
            );
        } else {
            assert!(negative.is_ok(), "{} sends no timestamp", scheme.name());
        }
    }
}

/// GitHub's headers around signed content of the test's choosing.
struct SignsContent(Vec<tower_webhook::scheme::Part>);

impl Scheme for SignsContent {
    fn name(&self) -> &str {
        "signs-content"
    }
    fn signed_content(&self) -> &[tower_webhook::scheme::Part] {
        &self.0
    }
    fn parse<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<tower_webhook::scheme::SignedHeaders<'h>, VerifyError> {
        GitHub.parse(headers)
    }
    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &tower_webhook::crypto::Signature,
    ) -> Result<(), tower_webhook::SignError> {
        GitHub.write_headers(headers, message, signature)
    }
}

#[test]
fn a_scheme_must_sign_the_body_exactly_once_on_either_side() {
    use tower_webhook::SignError;
    use tower_webhook::scheme::Part;
    let without_body = || SignsContent(vec![Part::Literal("pay".into())]);
    let body_twice = || SignsContent(vec![Part::Body, Part::Literal(".".into()), Part::Body]);
    for (scheme, reason) in [
        (without_body as fn() -> SignsContent, "`{body}` is missing"),
        (body_twice, "`{body}` may appear only once"),
    ] {
        let refused = |error: &ConfigError| matches!(error, ConfigError::InvalidSignedContent { reason: r, .. } if *r == reason);
        let error = VerifySignatureLayer::new(scheme(), "secret").unwrap_err();
        assert!(refused(&error), "{error}");
        // A signature that covered none of the body would let anyone change it.
        let error = scheme()
            .sign(&Secret::new("secret"), &Message::new(b"pay 1"))
            .unwrap_err();
        assert!(
            matches!(&error, SignError::Config(config) if refused(config)),
            "{error}"
        );
        #[cfg(feature = "sign")]
        {
            let error = tower_webhook::sign::SignRequestLayer::new(scheme(), "secret").unwrap_err();
            assert!(refused(&error), "{error}");
        }
    }
}

/// An inner service that counts its clones and the requests it is called with, and must be
/// made ready before each call, as tower allows: a clone starts unready, and `call` panics on
/// an instance its own `poll_ready` did not prepare.
#[derive(Default)]
struct Counted {
    clones: Arc<AtomicUsize>,
    calls: Arc<AtomicUsize>,
    ready: bool,
}

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.clones.fetch_add(1, Ordering::SeqCst);
        Self {
            clones: Arc::clone(&self.clones),
            calls: Arc::clone(&self.calls),
            ready: false,
        }
    }
}

impl tower::Service<http::Request<tower_webhook::VerifiedBody>> for Counted {
    type Response = Response<Full<Bytes>>;
    type Error = std::convert::Infallible;
    type Future = std::future::Ready<Result<Self::Response, Self::Error>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), Self::Error>> {
        self.ready = true;
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: http::Request<tower_webhook::VerifiedBody>) -> Self::Future {
        assert!(self.ready, "called without its own poll_ready");
        self.ready = false;
        self.calls.fetch_add(1, Ordering::SeqCst);
        std::future::ready(Ok(Response::new(Full::default())))
    }
}

/// Refused and signed requests in a mixed order, on one service as a server calls it (ready,
/// then call): a refusal on the headers costs no clone and keeps the prepared instance for the
/// next request; a signed one takes the prepared instance and leaves a clone behind, as tower
/// asks; only signed requests reach the inner service.
#[tokio::test]
async fn a_request_refused_on_its_headers_costs_no_clone_of_the_inner_service() {
    use tower::{Service, ServiceExt};

    let inner = Counted::default();
    let (clones, calls) = (Arc::clone(&inner.clones), Arc::clone(&inner.calls));
    let mut service = github().layer(inner);
    let signed = sign(&GitHub, GITHUB_SECRET, &Message::new(BODY));
    let forged = with(signed.clone(), "x-hub-signature-256", "sha256=not-hex");
    let mut signed_so_far = 0;
    for (step, headers) in [
        &forged, &forged, &forged, &signed, &forged, &forged, &signed, &signed,
    ]
    .into_iter()
    .enumerate()
    {
        let is_signed = std::ptr::eq(headers, &signed);
        let status = ServiceExt::<http::Request<Full<Bytes>>>::ready(&mut service)
            .await
            .unwrap()
            .call(request(headers, BODY))
            .await
            .unwrap()
            .status();
        signed_so_far += usize::from(is_signed);
        let expected = if is_signed {
            StatusCode::OK
        } else {
            StatusCode::BAD_REQUEST
        };
        assert_eq!(status, expected, "step {step}");
        assert_eq!(
            clones.load(Ordering::SeqCst),
            signed_so_far,
            "step {step}: one clone per signed request, none for a refusal"
        );
        assert_eq!(
            calls.load(Ordering::SeqCst),
            signed_so_far,
            "step {step}: only signed requests reach it"
        );
    }
}

#[tokio::test]
async fn a_scheme_that_signs_a_part_it_did_not_read_is_refused() {
    use tower_webhook::scheme::Part;
    // GitHub's parser reads no timestamp; a scheme signing `{timestamp}.{body}` on top of it
    // must not verify with an empty stand-in (and no window at all).
    let scheme = SignsContent(vec![Part::Timestamp, Part::Literal(".".into()), Part::Body]);
    let layer = VerifySignatureLayer::new(scheme, "secret").unwrap();
    let signed = GitHub
        .sign(
            &Secret::new("secret"),
            &Message::new(format!(".{}", String::from_utf8_lossy(BODY)).as_bytes()),
        )
        .unwrap();
    let error = assert_refused(&layer, request(&signed, BODY), 400, &["secret"]).await;
    assert!(
        matches!(error, VerifyError::MissingSignedPart { part: "timestamp" }),
        "{error}"
    );
}

#[test]
fn a_standard_webhooks_public_key_given_as_a_secret_is_refused() {
    // Read as a shared secret, the public key would let anyone who has it forge `v1`.
    let error = VerifySignatureLayer::new(
        StandardWebhooks,
        "whpk_Gv2kkKhjnlT4WwHCZ2pE8rKMgDwMMhmjLZXqYXXr3sA=",
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "secret #1 is a public key (`whpk_`): give it as a `PublicKey`, which checks `v1a`"
    );
}

/// Slack's scheme, but writing a timestamp one second off the one it signed.
struct WritesAnotherTimestamp;

impl Scheme for WritesAnotherTimestamp {
    fn name(&self) -> &str {
        "writes-another-timestamp"
    }
    fn signed_content(&self) -> &[tower_webhook::scheme::Part] {
        Slack.signed_content()
    }
    fn parse<'h>(
        &self,
        headers: &'h HeaderMap,
    ) -> Result<tower_webhook::scheme::SignedHeaders<'h>, VerifyError> {
        Slack.parse(headers)
    }
    fn write_headers(
        &self,
        headers: &mut HeaderMap,
        message: &Message<'_>,
        signature: &tower_webhook::crypto::Signature,
    ) -> Result<(), tower_webhook::SignError> {
        let off = message.timestamp.map(|timestamp| timestamp + 1);
        let message = Message {
            timestamp: off,
            ..*message
        };
        Slack.write_headers(headers, &message, signature)
    }
}

#[test]
fn signing_fails_when_the_headers_written_would_not_verify() {
    // The signature is right and reads back, but over another timestamp than the one sent:
    // no receiver could verify it, so the sender hears of it first.
    let error = WritesAnotherTimestamp
        .sign(&Secret::new("secret"), &Message::new(BODY).timestamp(NOW))
        .unwrap_err();
    assert!(
        matches!(error, tower_webhook::SignError::Unreadable { .. }),
        "{error}"
    );
    assert!(
        error
            .to_string()
            .contains("the timestamp written is not the one signed"),
        "{error}"
    );
    assert!(
        Slack
            .sign(&Secret::new("secret"), &Message::new(BODY).timestamp(NOW))
            .is_ok()
    );
}
