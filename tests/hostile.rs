//! Hostile input: bodies that never end, fail or stall; repeated, huge and non-ASCII headers;
//! signature lists with thousands of entries; timestamps at the edges of the integer types.
//! Every case ends in a definite status, never a panic or a hang, and the inner service runs
//! only for a valid delivery.

mod common;

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::Full;
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_webhook::crypto::{Encoding, MAX_SIGNATURES};
use tower_webhook::scheme::{
    Generic, GitHub, Message, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{Secret, SignError, VerifiedBody, VerifyError, VerifySignatureLayer};

const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"event":"order.completed","id":"evt_1"}"#;

/// A scheme with the secret it is configured with and every header it reads.
struct Case {
    scheme: Arc<dyn Scheme>,
    secret: &'static str,
    signature: &'static str,
    headers: &'static [&'static str],
}

fn cases() -> Vec<Case> {
    let acme = common::acme_scheme();
    vec![
        Case {
            scheme: Arc::new(GitHub),
            secret: "github secret",
            signature: "x-hub-signature-256",
            headers: &["x-hub-signature-256", "x-github-delivery"],
        },
        Case {
            scheme: Arc::new(Stripe),
            secret: "whsec_stripe",
            signature: "stripe-signature",
            headers: &["stripe-signature"],
        },
        Case {
            scheme: Arc::new(Slack),
            secret: "slack secret",
            signature: "x-slack-signature",
            headers: &["x-slack-signature", "x-slack-request-timestamp"],
        },
        Case {
            scheme: Arc::new(StandardWebhooks),
            secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            signature: "webhook-signature",
            headers: &["webhook-signature", "webhook-id", "webhook-timestamp"],
        },
        Case {
            scheme: Arc::new(Shopify),
            secret: "shopify secret",
            signature: "x-shopify-hmac-sha256",
            headers: &["x-shopify-hmac-sha256", "x-shopify-webhook-id"],
        },
        Case {
            scheme: Arc::new(Generic),
            secret: "generic secret",
            signature: "x-webhook-signature",
            headers: &["x-webhook-signature", "x-webhook-timestamp", "x-webhook-id"],
        },
        Case {
            scheme: Arc::new(acme),
            secret: "acme secret",
            signature: "x-acme-signature",
            headers: &["x-acme-signature", "x-acme-timestamp", "x-acme-delivery"],
        },
    ]
}

impl Case {
    fn name(&self) -> &str {
        self.scheme.name()
    }

    fn layer(&self) -> VerifySignatureLayer {
        VerifySignatureLayer::new(Arc::clone(&self.scheme), self.secret)
            .unwrap()
            .clock(|| NOW)
    }

    /// The headers of a valid delivery of `BODY`.
    fn signed(&self) -> HeaderMap {
        let message = Message::new(BODY).id("msg_1").timestamp(NOW);
        self.scheme
            .sign(&Secret::new(self.secret), &message)
            .unwrap()
    }
}

/// What came of one request.
struct Outcome {
    status: StatusCode,
    error: Option<VerifyError>,
    calls: usize,
}

impl Outcome {
    fn reason(&self) -> String {
        self.error
            .as_ref()
            .map_or_else(String::new, ToString::to_string)
    }
}

/// An inner service that answers 200 and counts its calls.
fn counting_service(
    calls: Arc<AtomicUsize>,
) -> impl Service<
    Request<VerifiedBody>,
    Response = Response<Full<Bytes>>,
    Error = Infallible,
    Future: Send,
> + Clone
+ Send {
    tower::service_fn(move |_request: Request<VerifiedBody>| {
        calls.fetch_add(1, Ordering::SeqCst);
        async { Ok::<_, Infallible>(Response::new(Full::new(Bytes::from_static(b"handled")))) }
    })
}

async fn send<B>(layer: VerifySignatureLayer, headers: HeaderMap, body: B) -> Outcome
where
    B: Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    let calls = Arc::new(AtomicUsize::new(0));
    let service = ServiceBuilder::new()
        .layer(layer)
        .service(counting_service(Arc::clone(&calls)));
    let mut request = Request::post("/webhook").body(body).unwrap();
    *request.headers_mut() = headers;
    let response = service.oneshot(request).await.unwrap();
    Outcome {
        status: response.status(),
        error: response.extensions().get::<VerifyError>().cloned(),
        calls: calls.load(Ordering::SeqCst),
    }
}

fn full(bytes: &'static [u8]) -> Full<Bytes> {
    Full::new(Bytes::from_static(bytes))
}

/// A body that never ends: `chunk`-byte frames for as long as it is polled, counting what was
/// pulled from it.
struct EndlessBody {
    chunk: Bytes,
    pulled: Arc<AtomicUsize>,
}

impl Body for EndlessBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        self.pulled.fetch_add(self.chunk.len(), Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(self.chunk.clone()))))
    }
}

/// A body whose first poll is counted, to show a refusal came before any body byte.
fn unread_body(polled: &Arc<AtomicUsize>) -> EndlessBody {
    EndlessBody {
        chunk: Bytes::from_static(b"x"),
        pulled: Arc::clone(polled),
    }
}

#[tokio::test]
async fn an_endless_body_is_cut_off_just_past_the_limit() {
    const LIMIT: usize = 64 * 1024;
    let case = &cases()[0];
    for chunk_len in [1, 1000, 16 * 1024, LIMIT + 1] {
        let pulled = Arc::new(AtomicUsize::new(0));
        let body = EndlessBody {
            chunk: Bytes::from(vec![b'a'; chunk_len]),
            pulled: Arc::clone(&pulled),
        };
        let outcome = send(case.layer().max_body_size(LIMIT), case.signed(), body).await;
        assert_eq!(outcome.status, StatusCode::PAYLOAD_TOO_LARGE, "{chunk_len}");
        assert!(matches!(
            outcome.error,
            Some(VerifyError::BodyTooLarge { limit: LIMIT })
        ));
        assert_eq!(outcome.calls, 0);
        // Reading stopped at the first chunk that went past the limit: whatever the chunking,
        // no more than the limit plus one chunk was ever pulled (with 1-byte chunks, limit + 1).
        let pulled = pulled.load(Ordering::SeqCst);
        assert!(pulled > LIMIT, "{chunk_len}: stopped early at {pulled}");
        assert!(pulled <= LIMIT + chunk_len, "{chunk_len}: pulled {pulled}");
        if chunk_len == 1 {
            assert_eq!(pulled, LIMIT + 1);
        }
    }
}

/// A body that sends its chunks, then fails.
struct FailingBody {
    chunks: Vec<Bytes>,
}

impl Body for FailingBody {
    type Data = Bytes;
    type Error = std::io::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, std::io::Error>>> {
        Poll::Ready(Some(match self.chunks.pop() {
            Some(chunk) => Ok(Frame::data(chunk)),
            None => Err(std::io::Error::other("connection reset by peer")),
        }))
    }
}

#[tokio::test]
async fn a_body_that_fails_midway_is_refused_before_the_service() {
    for case in cases() {
        // The signature is valid for the whole body; the connection dies after the first half.
        let half = Bytes::from_static(&BODY[..BODY.len() / 2]);
        let body = FailingBody { chunks: vec![half] };
        let outcome = send(case.layer(), case.signed(), body).await;
        assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{}", case.name());
        assert!(
            matches!(&outcome.error, Some(VerifyError::BodyRead { .. })),
            "{}: {}",
            case.name(),
            outcome.reason()
        );
        assert!(outcome.reason().contains("connection reset by peer"));
        assert_eq!(outcome.calls, 0, "{}", case.name());
    }
}

/// A body that sends nothing and never ends, like a client that went silent; it notes when it
/// is dropped.
struct StalledBody {
    dropped: Arc<AtomicBool>,
}

impl Body for StalledBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Pending
    }
}

impl Drop for StalledBody {
    fn drop(&mut self) {
        self.dropped.store(true, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn a_stalled_body_blocks_no_other_request_and_an_outer_timeout_ends_it() {
    let case = &cases()[0];
    let calls = Arc::new(AtomicUsize::new(0));
    let mut service = ServiceBuilder::new()
        .layer(case.layer())
        .service(counting_service(Arc::clone(&calls)));

    // A request whose body stalls is in flight on this service...
    let dropped = Arc::new(AtomicBool::new(false));
    let mut stalled = Request::post("/webhook")
        .body(StalledBody {
            dropped: Arc::clone(&dropped),
        })
        .unwrap();
    *stalled.headers_mut() = case.signed();
    let ready = ServiceExt::<Request<StalledBody>>::ready(&mut service);
    let stalled = tokio::spawn(ready.await.unwrap().call(stalled));
    tokio::task::yield_now().await;

    // ...and the same service still answers the next one at once.
    let mut valid = Request::post("/webhook").body(full(BODY)).unwrap();
    *valid.headers_mut() = case.signed();
    let ready = ServiceExt::<Request<Full<Bytes>>>::ready(&mut service);
    let response = ready.await.unwrap().call(valid).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);
    assert!(!stalled.is_finished());
    stalled.abort();

    // A timeout layer outside the verifier ends the stalled request and drops its body.
    let dropped = Arc::new(AtomicBool::new(false));
    let service = ServiceBuilder::new()
        .timeout(Duration::from_millis(50))
        .layer(case.layer())
        .service(counting_service(Arc::clone(&calls)));
    let mut request = Request::post("/webhook")
        .body(StalledBody {
            dropped: Arc::clone(&dropped),
        })
        .unwrap();
    *request.headers_mut() = case.signed();
    let error = service.oneshot(request).await.unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
    assert!(dropped.load(Ordering::SeqCst));
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "the stalled request never ran"
    );
}

/// A body that is always ready with another empty frame, forever.
struct EmptyFrames;

impl Body for EmptyFrames {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(Some(Ok(Frame::data(Bytes::new()))))
    }
}

#[test]
fn endless_empty_frames_yield_to_an_outer_timeout() {
    // Each empty frame is ready at once and adds nothing toward the limit. The layer must still
    // hand control back now and then, or the timeout around it could never fire. Run on a
    // thread of its own so that a regression fails instead of hanging the test run.
    let (done, finished) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_time()
            .build()
            .unwrap();
        let outcome = runtime.block_on(async {
            let case = &cases()[0];
            let service = ServiceBuilder::new()
                .timeout(Duration::from_millis(50))
                .layer(case.layer())
                .service(counting_service(Arc::new(AtomicUsize::new(0))));
            let mut request = Request::post("/webhook").body(EmptyFrames).unwrap();
            *request.headers_mut() = case.signed();
            service.oneshot(request).await
        });
        done.send(outcome.map(|response| response.status()))
            .unwrap();
    });
    let outcome = finished
        .recv_timeout(Duration::from_secs(30))
        .expect("the layer kept polling an endless run of empty frames");
    let error = outcome.unwrap_err();
    assert!(error.is::<tower::timeout::error::Elapsed>(), "{error}");
}

#[tokio::test]
async fn a_repeated_header_is_refused_rather_than_one_value_picked() {
    for case in cases() {
        let outcome = send(case.layer(), case.signed(), full(BODY)).await;
        assert_eq!(outcome.status, StatusCode::OK, "{}", case.name());
        for header in case.headers {
            let mut headers = case.signed();
            let value = headers[*header].clone();
            // Even a repeat of the very same value: which copy a proxy keeps is not ours to know.
            headers.append(*header, value);
            let polled = Arc::new(AtomicUsize::new(0));
            let outcome = send(case.layer(), headers, unread_body(&polled)).await;
            assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{header}");
            assert!(
                matches!(
                    &outcome.error,
                    Some(VerifyError::MalformedHeader { header: h, reason: "sent more than once" })
                        if h == header
                ),
                "{header}: {}",
                outcome.reason()
            );
            assert_eq!(polled.load(Ordering::SeqCst), 0);
            assert_eq!(outcome.calls, 0);
        }
    }
}

#[tokio::test]
async fn repeats_merged_into_one_header_by_a_proxy_are_refused() {
    // Some proxies fold repeated headers into one, joined by ", ".
    for case in [&cases()[0], &cases()[1]] {
        let mut headers = case.signed();
        let value = headers[case.signature].to_str().unwrap().to_owned();
        let merged = HeaderValue::from_str(&format!("{value}, {value}")).unwrap();
        headers.insert(case.signature, merged);
        let outcome = send(case.layer(), headers, full(BODY)).await;
        assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{}", case.name());
        assert_eq!(outcome.calls, 0);
    }
}

#[tokio::test]
async fn very_long_header_values_are_refused_before_the_body() {
    for case in cases() {
        // A signature-shaped value of the right prefix but absurd length, and a timestamp of
        // absurd length, where the scheme has one.
        let prefix = match case.name() {
            "github" | "generic" => "sha256=",
            "stripe" => "t=1700000000,v1=",
            "slack" => "v0=",
            "standard-webhooks" => "v1,",
            "shopify" => "",
            _ => "v2=",
        };
        for len in [64 * 1024, 1024 * 1024] {
            let mut headers = case.signed();
            let long = format!("{prefix}{}", "a".repeat(len));
            headers.insert(case.signature, HeaderValue::from_str(&long).unwrap());
            let polled = Arc::new(AtomicUsize::new(0));
            let outcome = send(case.layer(), headers, unread_body(&polled)).await;
            assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{}", case.name());
            assert!(
                matches!(&outcome.error, Some(VerifyError::MalformedHeader { .. })),
                "{}: {}",
                case.name(),
                outcome.reason()
            );
            assert!(outcome.reason().len() < 200, "the refusal echoes the value");
            assert_eq!(polled.load(Ordering::SeqCst), 0);

            let timestamp = case
                .headers
                .iter()
                .find(|header| header.ends_with("timestamp"));
            if let Some(timestamp) = timestamp {
                let mut headers = case.signed();
                let digits = HeaderValue::from_str(&"7".repeat(len)).unwrap();
                headers.insert(*timestamp, digits);
                let outcome = send(case.layer(), headers, unread_body(&polled)).await;
                assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{}", case.name());
                assert!(matches!(
                    &outcome.error,
                    Some(VerifyError::InvalidTimestamp {
                        reason: "out of range",
                        ..
                    })
                ));
                assert_eq!(polled.load(Ordering::SeqCst), 0);
            }
        }
    }
}

#[tokio::test]
async fn non_ascii_and_invalid_utf8_header_bytes_are_refused() {
    let hostile: [&[u8]; 4] = [
        b"\x80\x81\xfe\xff",
        "sha256=caf\u{e9}".as_bytes(),
        b"v1,\xc3\x28",
        &[0xff; 64],
    ];
    for case in cases() {
        for header in case.headers {
            for bytes in hostile {
                let mut headers = case.signed();
                headers.insert(*header, HeaderValue::from_bytes(bytes).unwrap());
                let polled = Arc::new(AtomicUsize::new(0));
                let outcome = send(case.layer(), headers, unread_body(&polled)).await;
                assert_eq!(
                    outcome.status,
                    StatusCode::BAD_REQUEST,
                    "{header} {bytes:?}"
                );
                assert!(
                    matches!(
                        &outcome.error,
                        Some(VerifyError::MalformedHeader { header: h, reason: "not visible ASCII" })
                            if h == header
                    ),
                    "{header}: {}",
                    outcome.reason()
                );
                assert_eq!(polled.load(Ordering::SeqCst), 0);
                assert_eq!(outcome.calls, 0);
            }
        }
    }
}

#[tokio::test]
async fn signature_lists_with_thousands_of_entries_are_refused_unread() {
    let stripe = &cases()[1];
    let standard = &cases()[3];
    let valid = |case: &Case| case.signed()[case.signature].to_str().unwrap().to_owned();
    let stripe_valid = valid(stripe);
    let stripe_entry = stripe_valid.split(',').nth(1).unwrap().to_owned();
    let standard_entry = valid(standard);

    // Thousands of entries, the valid one first: refused whole, without reading the body.
    for count in [1_000, 10_000] {
        let lists = [
            (
                stripe,
                format!("t={NOW},{}", vec![stripe_entry.as_str(); count].join(",")),
            ),
            (
                stripe,
                format!("t={NOW},{stripe_entry}{}", ",v9=junk".repeat(count)),
            ),
            (standard, vec![standard_entry.as_str(); count].join(" ")),
            (
                standard,
                format!("{standard_entry}{}", " v9,junk".repeat(count)),
            ),
        ];
        for (case, list) in lists {
            let mut headers = case.signed();
            headers.insert(case.signature, HeaderValue::from_str(&list).unwrap());
            let polled = Arc::new(AtomicUsize::new(0));
            let outcome = send(case.layer(), headers, unread_body(&polled)).await;
            assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{}", case.name());
            assert!(
                outcome.reason().contains("too many"),
                "{}",
                outcome.reason()
            );
            assert_eq!(polled.load(Ordering::SeqCst), 0);
        }
    }

    // Where the one cap is: MAX_SIGNATURES entries (Stripe's `t=` aside), of any version.
    let forged = |case: &Case| {
        let tag = [0x5a; 32];
        match case.name() {
            "stripe" => format!("v1={}", Encoding::Hex.encode(&tag)),
            _ => format!("v1,{}", Encoding::Base64.encode(&tag)),
        }
    };
    let list = |case: &Case, entries: Vec<String>| match case.name() {
        "stripe" => format!("t={NOW},{}", entries.join(",")),
        _ => entries.join(" "),
    };
    for (case, valid_entry) in [(stripe, &stripe_entry), (standard, &standard_entry)] {
        let other = match case.name() {
            "stripe" => "v0=ignored".to_owned(),
            _ => "v2,ignored".to_owned(),
        };
        let judge = |entries: Vec<String>| {
            let mut headers = case.signed();
            headers.insert(
                case.signature,
                HeaderValue::from_str(&list(case, entries)).unwrap(),
            );
            send(case.layer(), headers, full(BODY))
        };

        let mut entries = vec![other.clone(); MAX_SIGNATURES - 1];
        entries.push(valid_entry.clone());
        assert_eq!(judge(entries.clone()).await.status, StatusCode::OK);
        entries.insert(0, other.clone());
        let outcome = judge(entries).await;
        assert_eq!(outcome.status, StatusCode::BAD_REQUEST);
        assert!(outcome.reason().contains("too many signatures"));

        let mut entries = vec![forged(case); MAX_SIGNATURES - 1];
        entries.push(valid_entry.clone());
        assert_eq!(judge(entries.clone()).await.status, StatusCode::OK);
        entries.insert(0, forged(case));
        let outcome = judge(entries).await;
        assert_eq!(outcome.status, StatusCode::BAD_REQUEST);
        assert!(outcome.reason().contains("too many signatures"));
    }
}

#[tokio::test]
async fn timestamps_at_the_integer_edges() {
    const I64_MAX: &str = "9223372036854775807";
    let generic = &cases()[5];
    let stripe = &cases()[1];
    let with_timestamp = |case: &Case, text: &str| {
        let mut headers = case.signed();
        match case.name() {
            "stripe" => {
                let value = headers["stripe-signature"].to_str().unwrap();
                let (_, signature) = value.split_once(',').unwrap();
                let value = format!("t={text},{signature}");
                headers.insert("stripe-signature", HeaderValue::from_str(&value).unwrap());
            }
            _ => {
                headers.insert("x-webhook-timestamp", HeaderValue::from_str(text).unwrap());
            }
        }
        headers
    };
    let signed_at = |case: &Case, timestamp: i64| {
        let message = Message::new(BODY).timestamp(timestamp);
        case.scheme
            .sign(&Secret::new(case.secret), &message)
            .unwrap()
    };
    let at = |case: &Case, now: i64, tolerance: Duration| {
        VerifySignatureLayer::new(Arc::clone(&case.scheme), case.secret)
            .unwrap()
            .clock(move || now)
            .tolerance(tolerance)
    };
    let default = Duration::from_secs(300);

    for case in [generic, stripe] {
        let name = case.name();
        // Values that are no i64: refused as invalid, before the clock is consulted.
        for text in [
            "9223372036854775808",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-1",
        ] {
            for now in [i64::MIN, 0, NOW, i64::MAX] {
                let headers = with_timestamp(case, text);
                let outcome = send(at(case, now, default), headers, full(BODY)).await;
                assert_eq!(outcome.status, StatusCode::BAD_REQUEST, "{name} {text}");
                assert!(matches!(
                    outcome.error,
                    Some(VerifyError::InvalidTimestamp { .. })
                ));
            }
        }

        // i64 values far from the clock: too new or too old, with the distance saturating
        // rather than overflowing.
        let judged = [
            (NOW, I64_MAX, (i64::MAX - NOW) as u64, true),
            (i64::MIN, I64_MAX, u64::MAX, true),
            (i64::MIN, "0", 1 << 63, true),
            (NOW, "0", NOW as u64, false),
            (i64::MAX, "0", i64::MAX as u64, false),
        ];
        for (now, text, distance, too_new) in judged {
            let headers = with_timestamp(case, text);
            let outcome = send(at(case, now, default), headers, full(BODY)).await;
            assert_eq!(
                outcome.status,
                StatusCode::UNAUTHORIZED,
                "{name} {now} {text}"
            );
            match outcome.error {
                Some(VerifyError::TimestampTooNew { ahead_seconds, .. }) if too_new => {
                    assert_eq!(ahead_seconds, distance)
                }
                Some(VerifyError::TimestampTooOld { age_seconds, .. }) if !too_new => {
                    assert_eq!(age_seconds, distance)
                }
                other => panic!("{name} {now} {text}: {other:?}"),
            }
        }

        // Valid signatures at the edges are accepted when the clock agrees, including with
        // the widest tolerance there is.
        let accepted = [
            (i64::MAX, i64::MAX, default),
            (0, 0, default),
            (i64::MAX - 300, i64::MAX, default),
            (i64::MIN, i64::MAX, Duration::MAX),
            (i64::MAX, 0, Duration::MAX),
        ];
        for (now, timestamp, tolerance) in accepted {
            let headers = signed_at(case, timestamp);
            let outcome = send(at(case, now, tolerance), headers, full(BODY)).await;
            assert_eq!(
                outcome.status,
                StatusCode::OK,
                "{name} now {now} signed {timestamp}: {}",
                outcome.reason()
            );
        }

        // A negative timestamp is never a valid Unix time on the wire (a receiver refuses "-1",
        // above), so the signing side refuses to write one.
        let message = Message::new(BODY).timestamp(-1);
        assert_eq!(
            case.scheme.sign(&Secret::new(case.secret), &message),
            Err(SignError::NegativeTimestamp { timestamp: -1 }),
            "{name}"
        );
    }
}

#[test]
fn an_id_the_verifier_would_refuse_is_never_signed() {
    // `HeaderValue` takes bytes above 0x7F, but no verifier reads them back: signing such an
    // id would produce a delivery its own receiver refuses (found by the `layer` fuzz target).
    // Nor does an id padded with spaces or tabs survive: HTTP parsers strip them.
    for case in cases() {
        for id in ["caf\u{e9}", "\u{fffd}", "line\u{7f}", " id", "id\t", "id "] {
            let message = Message::new(BODY).id(id).timestamp(NOW);
            let signed = case.scheme.sign(&Secret::new(case.secret), &message);
            match case.name() {
                // These schemes send no id header at all.
                "stripe" | "slack" => assert!(signed.is_ok()),
                name => assert!(
                    matches!(
                        signed,
                        Err(tower_webhook::SignError::InvalidHeaderValue { .. })
                    ),
                    "{name} signed {id:?}"
                ),
            }
        }
    }
}

#[tokio::test]
async fn a_correct_signature_under_another_version_label_is_refused() {
    // A downgrade: the right tag relabelled as a version this crate does not verify (or an
    // older, weaker one) must not pass, and an unknown label alone is "no supported signature".
    for case in cases() {
        let signed = case.signed();
        let value = signed[case.signature].to_str().unwrap();
        let relabelled = match case.name() {
            "github" | "generic" => value.replacen("sha256=", "sha1=", 1),
            "stripe" => value.replacen(",v1=", ",v0=", 1),
            "slack" => value.replacen("v0=", "v1=", 1),
            "standard-webhooks" => value.replacen("v1,", "v2,", 1),
            "shopify" => format!("sha256={value}"),
            _ => value.replacen("v2=", "v1=", 1),
        };
        let mut headers = signed.clone();
        headers.insert(case.signature, HeaderValue::from_str(&relabelled).unwrap());
        let polled = Arc::new(AtomicUsize::new(0));
        let outcome = send(case.layer(), headers, unread_body(&polled)).await;
        assert_eq!(outcome.calls, 0, "{}", case.name());
        assert_eq!(polled.load(Ordering::SeqCst), 0, "{}", case.name());
        match case.name() {
            // Shopify's header has no label: a prefixed value is simply not base64 of 32 bytes.
            "shopify" => assert_eq!(outcome.status, StatusCode::BAD_REQUEST),
            name => {
                assert_eq!(outcome.status, StatusCode::UNAUTHORIZED, "{name}");
                assert!(
                    matches!(
                        outcome.error,
                        Some(VerifyError::NoSupportedSignature { .. })
                    ),
                    "{name}: {}",
                    outcome.reason()
                );
            }
        }
    }

    // Standard Webhooks' `v1a` is Ed25519: the HMAC tag under that label is not a signature of
    // that algorithm at all, and is refused before the body is read.
    let case = &cases()[3];
    let signed = case.signed();
    let relabelled = signed[case.signature]
        .to_str()
        .unwrap()
        .replacen("v1,", "v1a,", 1);
    let mut headers = signed.clone();
    headers.insert(case.signature, HeaderValue::from_str(&relabelled).unwrap());
    let polled = Arc::new(AtomicUsize::new(0));
    let outcome = send(case.layer(), headers, unread_body(&polled)).await;
    assert_eq!(outcome.status, StatusCode::BAD_REQUEST);
    assert_eq!((outcome.calls, polled.load(Ordering::SeqCst)), (0, 0));
}

#[tokio::test]
async fn a_declared_length_over_the_limit_is_refused_unread() {
    for case in cases() {
        let mut headers = case.signed();
        headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(1025));
        let polled = Arc::new(AtomicUsize::new(0));
        let outcome = send(
            case.layer().max_body_size(1024),
            headers,
            unread_body(&polled),
        )
        .await;
        assert_eq!(
            outcome.status,
            StatusCode::PAYLOAD_TOO_LARGE,
            "{}",
            case.name()
        );
        assert_eq!(polled.load(Ordering::SeqCst), 0, "{}", case.name());
    }
}

#[tokio::test]
async fn refusals_and_debug_output_never_show_the_secret_or_the_expected_signature() {
    for case in cases() {
        let signed = case.signed();
        let expected = signed[case.signature].to_str().unwrap().to_owned();
        // The tag part alone, in the scheme's encoding, whatever its label.
        let tag = expected
            .trim_end_matches('=')
            .rsplit(['=', ','])
            .next()
            .unwrap()
            .to_owned();
        assert!(tag.len() >= 40, "{}: {tag}", case.name());

        let layer = case.layer();
        let mut shown = vec![format!("{layer:?}")];
        let service = ServiceBuilder::new()
            .layer(layer)
            .service(counting_service(Arc::new(AtomicUsize::new(0))));

        // Forged, stale, truncated, oversized: every refusal's message, Debug and body.
        let mut forged = signed.clone();
        let wrong = expected.replace(&tag[..8], "00000000");
        forged.insert(case.signature, HeaderValue::from_str(&wrong).unwrap());
        let mut attempts = vec![
            (forged, full(BODY)),
            (signed.clone(), full(b"tampered body")),
            (signed.clone(), full(&BODY[..10])),
        ];
        let mut missing = signed.clone();
        missing.remove(case.signature);
        attempts.push((missing, full(BODY)));
        for (headers, body) in attempts {
            let mut request = Request::post("/webhook").body(body).unwrap();
            *request.headers_mut() = headers;
            let response = service.clone().oneshot(request).await.unwrap();
            assert_ne!(response.status(), StatusCode::OK);
            let error = response.extensions().get::<VerifyError>().unwrap().clone();
            shown.push(error.to_string());
            shown.push(format!("{error:?}"));
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await
                .unwrap()
                .to_bytes();
            shown.push(String::from_utf8_lossy(&body).into_owned());
        }
        for text in &shown {
            assert!(!text.contains(case.secret), "{}: {text}", case.name());
            assert!(!text.contains(&tag), "{}: {text}", case.name());
        }
    }
}

#[tokio::test]
async fn forged_ed25519_lists_are_bounded() {
    use tower_webhook::crypto::PublicKey;
    // Each Ed25519 signature costs a pass over the body per public key: a forged list may hold
    // at most MAX_SIGNATURES entries, and a repeated entry is checked once.
    let public = PublicKey::new("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a");
    let layer = || {
        VerifySignatureLayer::new(StandardWebhooks, public.clone())
            .unwrap()
            .clock(|| NOW)
    };
    let headers = |entries: Vec<String>| {
        let mut headers = HeaderMap::new();
        headers.insert("webhook-id", HeaderValue::from_static("msg_1"));
        headers.insert("webhook-timestamp", HeaderValue::from(NOW));
        headers.insert(
            "webhook-signature",
            HeaderValue::from_str(&entries.join(" ")).unwrap(),
        );
        headers
    };
    // Distinct forged signatures (`R` differs, `s` = 0 is canonical), so each is checked.
    let forged = |n: u8| {
        let mut bytes = [0u8; 64];
        bytes[0] = n;
        format!("v1a,{}", Encoding::Base64.encode(&bytes))
    };
    let full_list: Vec<String> = (0..MAX_SIGNATURES as u8).map(forged).collect();
    let outcome = send(layer(), headers(full_list.clone()), full(BODY)).await;
    assert_eq!(outcome.status, StatusCode::UNAUTHORIZED);
    assert_eq!(outcome.calls, 0);

    let mut too_long = full_list;
    too_long.push(forged(MAX_SIGNATURES as u8));
    let polled = Arc::new(AtomicUsize::new(0));
    let outcome = send(layer(), headers(too_long), unread_body(&polled)).await;
    assert_eq!(outcome.status, StatusCode::BAD_REQUEST);
    assert!(outcome.reason().contains("too many signatures"));
    assert_eq!((outcome.calls, polled.load(Ordering::SeqCst)), (0, 0));

    // One entry repeated past the limit still counts as that many entries.
    let repeated = vec![forged(1); MAX_SIGNATURES + 1];
    let outcome = send(layer(), headers(repeated), unread_body(&polled)).await;
    assert_eq!(outcome.status, StatusCode::BAD_REQUEST);
}
