//! The replay guard through the layer: what is refused, what is recorded, and when.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{BoxError, Service, ServiceBuilder, ServiceExt};
use tower_webhook::replay::{
    Freshness, MemoryReplayGuard, ReplayError, ReplayFuture, ReplayGuard, ReplayProtection,
};
use tower_webhook::scheme::{GitHub, Message, Scheme, StandardWebhooks};
use tower_webhook::{Secret, VerifiedBody, VerifyError, VerifySignatureLayer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const NOW: i64 = 1_700_000_000;
const BODY: &[u8] = br#"{"type":"invoice.paid"}"#;

fn standard(id: &str, timestamp: i64) -> HeaderMap {
    StandardWebhooks
        .sign(
            &Secret::new(SECRET),
            &Message::new(BODY).id(id).timestamp(timestamp),
        )
        .unwrap()
}

fn request(headers: &HeaderMap) -> Request<Full<Bytes>> {
    let mut request = Request::post("/webhook")
        .body(Full::new(Bytes::from_static(BODY)))
        .unwrap();
    request.headers_mut().extend(headers.clone());
    request
}

/// A handler that counts its calls and answers with the given status.
#[derive(Clone)]
struct Handler {
    calls: Arc<AtomicUsize>,
    statuses: Arc<Mutex<Vec<StatusCode>>>,
}

impl Handler {
    fn new() -> Self {
        Self::answering(&[])
    }

    /// Answers with these statuses in turn, then 200.
    fn answering(statuses: &[StatusCode]) -> Self {
        let mut statuses = statuses.to_vec();
        statuses.reverse();
        Self {
            calls: Arc::default(),
            statuses: Arc::new(Mutex::new(statuses)),
        }
    }

    fn calls(&self) -> usize {
        self.calls.load(Ordering::SeqCst)
    }
}

impl Service<Request<VerifiedBody>> for Handler {
    type Response = Response<Full<Bytes>>;
    type Error = BoxError;
    type Future = std::future::Ready<Result<Self::Response, BoxError>>;

    fn poll_ready(
        &mut self,
        _: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), BoxError>> {
        std::task::Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<VerifiedBody>) -> Self::Future {
        // Whatever the guard answered, a request that gets here is whole: the verified body
        // and the proof.
        let verified = request
            .extensions()
            .get::<tower_webhook::Verified>()
            .expect("the proof travels with the request");
        assert_eq!(&verified.body()[..], BODY);
        assert_eq!(
            http_body::Body::size_hint(request.body()).exact(),
            Some(BODY.len() as u64)
        );
        self.calls.fetch_add(1, Ordering::SeqCst);
        let status = self
            .statuses
            .lock()
            .unwrap()
            .pop()
            .unwrap_or(StatusCode::OK);
        let mut response = Response::new(Full::new(Bytes::from_static(b"handled")));
        *response.status_mut() = status;
        std::future::ready(Ok(response))
    }
}

async fn send<S>(service: &S, request: Request<Full<Bytes>>) -> (StatusCode, Option<VerifyError>)
where
    S: Service<
            Request<Full<Bytes>>,
            Response = Response<tower_webhook::ResponseBody<Full<Bytes>>>,
            Error = BoxError,
        > + Clone,
{
    let response = service.clone().oneshot(request).await.unwrap();
    let error = response.extensions().get::<VerifyError>().cloned();
    let status = response.status();
    let _ = response.into_body().collect().await.unwrap();
    (status, error)
}

fn layer() -> VerifySignatureLayer {
    VerifySignatureLayer::new(StandardWebhooks, SECRET)
        .unwrap()
        .clock(|| NOW)
}

#[tokio::test]
async fn a_second_delivery_of_the_same_id_is_refused_with_409_and_never_handled() {
    let handler = Handler::new();
    let service = ServiceBuilder::new()
        .layer(layer().replay_guard(MemoryReplayGuard::new(100).clock(|| NOW)))
        .service(handler.clone());
    let headers = standard("msg_1", NOW);

    assert_eq!(send(&service, request(&headers)).await.0, StatusCode::OK);
    let (status, error) = send(&service, request(&headers)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(matches!(error, Some(VerifyError::Replayed { .. })));
    assert_eq!(handler.calls(), 1);

    // Another id is another delivery.
    let other = standard("msg_2", NOW);
    assert_eq!(send(&service, request(&other)).await.0, StatusCode::OK);
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn the_replay_status_is_configurable() {
    let service = ServiceBuilder::new()
        .layer(layer().replay_guard(
            ReplayProtection::new(MemoryReplayGuard::new(100)).status(StatusCode::UNAUTHORIZED),
        ))
        .service(Handler::new());
    let headers = standard("msg_1", NOW);
    send(&service, request(&headers)).await;
    assert_eq!(
        send(&service, request(&headers)).await.0,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn forged_requests_are_never_recorded() {
    let guard = MemoryReplayGuard::new(100);
    let handler = Handler::new();
    let service = ServiceBuilder::new()
        .layer(layer().replay_guard(guard.clone()))
        .service(handler.clone());

    // Someone who knows the next id but not the secret tries to burn it in advance.
    let mut forged = standard("msg_1", NOW);
    forged.insert(
        "webhook-signature",
        "v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
            .parse()
            .unwrap(),
    );
    for _ in 0..3 {
        assert_eq!(
            send(&service, request(&forged)).await.0,
            StatusCode::UNAUTHORIZED
        );
    }
    assert!(guard.is_empty());

    assert_eq!(
        send(&service, request(&standard("msg_1", NOW))).await.0,
        StatusCode::OK
    );
    assert_eq!(guard.len(), 1);
    assert_eq!(handler.calls(), 1);
}

/// Records what the layer asks, and answers from a script.
#[derive(Clone, Default)]
struct Recording {
    asked: Arc<Mutex<Vec<(String, Duration)>>>,
    forgotten: Arc<Mutex<Vec<String>>>,
    fail: bool,
}

impl ReplayGuard for Recording {
    fn check_and_record(&self, key: String, ttl: Duration) -> ReplayFuture<Freshness> {
        self.asked.lock().unwrap().push((key, ttl));
        let answer = if self.fail {
            Err(ReplayError::store("connection refused"))
        } else {
            Ok(Freshness::Fresh)
        };
        Box::pin(async move {
            // Answer later than at once, as a networked store would.
            tokio::task::yield_now().await;
            answer
        })
    }

    fn forget(&self, key: String) -> ReplayFuture<()> {
        self.forgotten.lock().unwrap().push(key);
        Box::pin(std::future::ready(Ok(())))
    }
}

#[tokio::test]
async fn records_live_until_the_timestamp_leaves_the_window_plus_the_margin() {
    let guard = Recording::default();
    let service = ServiceBuilder::new()
        .layer(
            layer()
                .tolerance(Duration::from_secs(300))
                .replay_guard(guard.clone()),
        )
        .service(Handler::new());

    // Sent now: verifiable for 300 s more. Sent 100 s ago: 200 s more. Dated 300 s ahead: 600 s.
    for (id, timestamp) in [("now", NOW), ("old", NOW - 100), ("ahead", NOW + 300)] {
        let headers = standard(id, timestamp);
        assert_eq!(send(&service, request(&headers)).await.0, StatusCode::OK);
    }
    let asked = guard.asked.lock().unwrap().clone();
    assert_eq!(
        asked,
        [
            ("standard-webhooks:now".to_owned(), Duration::from_secs(360)),
            ("standard-webhooks:old".to_owned(), Duration::from_secs(260)),
            (
                "standard-webhooks:ahead".to_owned(),
                Duration::from_secs(660)
            ),
        ]
    );
}

#[tokio::test]
async fn the_margin_and_the_ttl_without_timestamp_are_configurable() {
    let guard = Recording::default();
    let service = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(GitHub, "secret")
                .unwrap()
                .replay_guard(
                    ReplayProtection::new(guard.clone())
                        .trust_unsigned_ids(true)
                        .ttl(Duration::from_secs(3600))
                        .skew_margin(Duration::from_secs(5)),
                ),
        )
        .service(Handler::new());
    let mut headers = GitHub
        .sign(&Secret::new("secret"), &Message::new(BODY).id("d-1"))
        .unwrap();
    headers.insert("x-github-delivery", "d-1".parse().unwrap());
    assert_eq!(send(&service, request(&headers)).await.0, StatusCode::OK);
    assert_eq!(
        guard.asked.lock().unwrap().as_slice(),
        [("github:d-1".to_owned(), Duration::from_secs(3605))]
    );
}

fn github(delivery: Option<&str>) -> HeaderMap {
    let mut headers = GitHub
        .sign(&Secret::new("secret"), &Message::new(BODY))
        .unwrap();
    if let Some(delivery) = delivery {
        headers.insert("x-github-delivery", delivery.parse().unwrap());
    }
    headers
}

#[tokio::test]
async fn unsigned_ids_are_ignored_unless_trusted() {
    let guard = MemoryReplayGuard::new(100);
    let handler = Handler::new();
    let untrusting = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(GitHub, "secret")
                .unwrap()
                .replay_guard(guard.clone()),
        )
        .service(handler.clone());
    let headers = github(Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
    assert_eq!(send(&untrusting, request(&headers)).await.0, StatusCode::OK);
    assert_eq!(send(&untrusting, request(&headers)).await.0, StatusCode::OK);
    assert!(guard.is_empty(), "an unsigned id was recorded");

    let trusting = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(GitHub, "secret")
                .unwrap()
                .replay_guard(ReplayProtection::new(guard.clone()).trust_unsigned_ids(true)),
        )
        .service(handler.clone());
    assert_eq!(send(&trusting, request(&headers)).await.0, StatusCode::OK);
    assert_eq!(
        send(&trusting, request(&headers)).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(handler.calls(), 3);
}

#[tokio::test]
async fn a_verified_request_without_an_id_passes() {
    let guard = MemoryReplayGuard::new(100);
    let handler = Handler::new();
    let service = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(GitHub, "secret")
                .unwrap()
                .replay_guard(ReplayProtection::new(guard.clone()).trust_unsigned_ids(true)),
        )
        .service(handler.clone());
    let headers = github(None);
    assert_eq!(send(&service, request(&headers)).await.0, StatusCode::OK);
    assert_eq!(send(&service, request(&headers)).await.0, StatusCode::OK);
    assert_eq!(handler.calls(), 2);
    assert!(guard.is_empty());
}

#[tokio::test]
async fn a_full_guard_fails_closed_with_503() {
    let guard = MemoryReplayGuard::new(1).clock(|| NOW);
    let handler = Handler::new();
    let service = ServiceBuilder::new()
        .layer(layer().replay_guard(guard.clone()))
        .service(handler.clone());
    assert_eq!(
        send(&service, request(&standard("msg_1", NOW))).await.0,
        StatusCode::OK
    );
    let (status, error) = send(&service, request(&standard("msg_2", NOW))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(matches!(
        error,
        Some(VerifyError::ReplayGuardUnavailable {
            source: ReplayError::Full { capacity: 1 }
        })
    ));
    // The live id is still recognised.
    assert_eq!(
        send(&service, request(&standard("msg_1", NOW))).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(handler.calls(), 1);
}

#[tokio::test]
async fn a_failing_store_fails_closed_unless_told_to_fail_open() {
    let guard = Recording {
        fail: true,
        ..Recording::default()
    };
    let handler = Handler::new();
    let closed = ServiceBuilder::new()
        .layer(layer().replay_guard(guard.clone()))
        .service(handler.clone());
    let (status, error) = send(&closed, request(&standard("msg_1", NOW))).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    let error = error.unwrap();
    // The sender learns nothing about the store; the cause is kept for logs.
    assert_eq!(
        error.to_string(),
        "replay check unavailable; try again later"
    );
    let source = std::error::Error::source(&error).unwrap();
    assert_eq!(
        source.to_string(),
        "replay store failed: connection refused"
    );
    assert_eq!(handler.calls(), 0);

    let open = ServiceBuilder::new()
        .layer(layer().replay_guard(ReplayProtection::new(guard.clone()).fail_open(true)))
        .service(handler.clone());
    assert_eq!(
        send(&open, request(&standard("msg_1", NOW))).await.0,
        StatusCode::OK
    );
    assert_eq!(handler.calls(), 1);
    assert!(
        guard.forgotten.lock().unwrap().is_empty(),
        "nothing was recorded, so nothing is forgotten"
    );
}

#[tokio::test]
async fn a_delivery_the_handler_failed_on_can_be_retried() {
    let guard = MemoryReplayGuard::new(100);
    let handler = Handler::answering(&[StatusCode::INTERNAL_SERVER_ERROR, StatusCode::BAD_REQUEST]);
    let service = ServiceBuilder::new()
        .layer(layer().replay_guard(guard.clone()))
        .service(handler.clone());
    let headers = standard("msg_1", NOW);

    // 500: the sender will retry, so the id is forgotten and the retry is handled.
    assert_eq!(
        send(&service, request(&headers)).await.0,
        StatusCode::INTERNAL_SERVER_ERROR
    );
    assert!(guard.is_empty());
    // 400 is the handler's final word on this delivery: the id stays recorded.
    assert_eq!(
        send(&service, request(&headers)).await.0,
        StatusCode::BAD_REQUEST
    );
    assert_eq!(
        send(&service, request(&headers)).await.0,
        StatusCode::CONFLICT
    );
    assert_eq!(handler.calls(), 2);
}

#[tokio::test]
async fn concurrent_copies_of_one_delivery_get_in_exactly_once() {
    let handler = Handler::new();
    let service = ServiceBuilder::new()
        .layer(layer().replay_guard(MemoryReplayGuard::new(1000)))
        .service(handler.clone());
    let headers = standard("msg_1", NOW);
    let tasks: Vec<_> = (0..32)
        .map(|_| {
            let service = service.clone();
            let request = request(&headers);
            tokio::spawn(async move { send(&service, request).await.0 })
        })
        .collect();
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.unwrap());
    }
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::OK).count(), 1);
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::CONFLICT)
            .count(),
        31
    );
    assert_eq!(handler.calls(), 1);
}

/// Runs one signed delivery through a layer for `scheme` and returns what `Verified` says.
async fn verified_by(scheme: impl Scheme, message: Message<'_>) -> (Option<String>, bool) {
    let headers = scheme.sign(&Secret::new(SECRET), &message).unwrap();
    let service = ServiceBuilder::new()
        .layer(
            VerifySignatureLayer::new(scheme, SECRET)
                .unwrap()
                .clock(|| NOW),
        )
        .service_fn(|request: Request<VerifiedBody>| async move {
            let verified = request
                .extensions()
                .get::<tower_webhook::Verified>()
                .unwrap();
            let answer = format!(
                "{}|{}",
                verified.id().unwrap_or(""),
                verified.id_is_signed()
            );
            Ok::<_, BoxError>(Response::new(Full::new(Bytes::from(answer))))
        });
    let mut request = Request::post("/")
        .body(Full::new(Bytes::copy_from_slice(message.body)))
        .unwrap();
    request.headers_mut().extend(headers);
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    let (id, signed) = std::str::from_utf8(&body).unwrap().split_once('|').unwrap();
    ((!id.is_empty()).then(|| id.to_owned()), signed == "true")
}

#[tokio::test]
async fn an_id_counts_as_signed_only_when_the_signature_covers_it() {
    use http::HeaderName;
    use tower_webhook::scheme::{CustomScheme, Generic};

    let message = Message::new(BODY).id("d-1").timestamp(NOW);
    assert_eq!(
        verified_by(StandardWebhooks, message).await,
        (Some("d-1".into()), true)
    );
    assert_eq!(
        verified_by(Generic, message).await,
        (Some("d-1".into()), false)
    );
    let custom = CustomScheme::new(HeaderName::from_static("x-sig"))
        .timestamp_header(HeaderName::from_static("x-ts"))
        .id_header(HeaderName::from_static("x-id"));
    assert_eq!(
        verified_by(
            custom
                .clone()
                .signed_content("{id}.{timestamp}.{body}")
                .unwrap(),
            message
        )
        .await,
        (Some("d-1".into()), true)
    );
    assert_eq!(
        verified_by(
            custom.signed_content("{timestamp}.{body}").unwrap(),
            message
        )
        .await,
        (Some("d-1".into()), false)
    );
}
