//! Delivery with retries against local servers that fail, throttle, refuse or hang.
#![cfg(feature = "send")]

mod support;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::Full;
use tower::{BoxError, ServiceBuilder, ServiceExt};
use tower_webhook::deliver::{
    Attempt, DeliverLayer, DeliveryFailed, DeliveryPolicy, DeliveryReport,
};
use tower_webhook::scheme::StandardWebhooks;
use tower_webhook::sign::{DeliveryId, SignRequestLayer};
use tower_webhook::{Verified, VerifySignatureLayer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// Answers each request with the next status of `script` (the last one repeats), with
/// `Retry-After` when given, behind a verifier; records the verified (id, timestamp) of each.
async fn scripted(
    script: Vec<(StatusCode, Option<&'static str>)>,
) -> (SocketAddr, Arc<Mutex<Vec<(String, i64)>>>) {
    let seen = Arc::new(Mutex::new(Vec::new()));
    let calls = Arc::new(AtomicU32::new(0));
    let record = Arc::clone(&seen);
    let router = Router::new()
        .route(
            "/hook",
            post(move |Extension(verified): Extension<Verified>| {
                let call = calls.fetch_add(1, Ordering::SeqCst) as usize;
                let (status, retry_after) = script[call.min(script.len() - 1)];
                record.lock().unwrap().push((
                    verified.id().unwrap().to_owned(),
                    verified.timestamp().unwrap(),
                ));
                async move {
                    let mut response = Response::builder().status(status);
                    if let Some(value) = retry_after {
                        response = response.header("retry-after", value);
                    }
                    response.body(axum::body::Body::empty()).unwrap()
                }
            }),
        )
        .layer(
            VerifySignatureLayer::new(StandardWebhooks, SECRET)
                .unwrap()
                .clock(|| 1_700_000_000),
        );
    (support::serve(router).await, seen)
}

type Attempts = Arc<Mutex<Vec<Attempt>>>;

/// The full sending stack over a real client; the signing clock ticks one second per use.
fn sender(
    policy: DeliveryPolicy,
    attempt_timeout: Duration,
) -> (
    impl tower::Service<
        Request<Full<Bytes>>,
        Response = Response<hyper::body::Incoming>,
        Error = BoxError,
    > + Clone,
    Attempts,
) {
    let attempts: Attempts = Arc::default();
    let log = Arc::clone(&attempts);
    let policy = policy
        .base_delay(Duration::from_millis(1))
        .on_attempt(move |attempt| log.lock().unwrap().push(attempt.clone()));
    let tick = Arc::new(AtomicI64::new(1_700_000_000));
    let service = ServiceBuilder::new()
        .layer(DeliverLayer::new(policy).attempt_timeout(attempt_timeout))
        .layer(
            SignRequestLayer::new(StandardWebhooks, SECRET)
                .unwrap()
                .clock(move || tick.fetch_add(1, Ordering::SeqCst)),
        )
        .service(support::http_client());
    (service, attempts)
}

fn post_to(addr: SocketAddr) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/hook"))
        .body(Full::new(Bytes::from_static(br#"{"type":"ping"}"#)))
        .unwrap()
}

fn statuses(attempts: &Attempts) -> Vec<Option<u16>> {
    attempts
        .lock()
        .unwrap()
        .iter()
        .map(|a| a.status.map(|s| s.as_u16()))
        .collect()
}

#[tokio::test]
async fn failures_are_retried_until_one_succeeds_with_fresh_timestamps_and_the_same_id() {
    let unavailable = (StatusCode::SERVICE_UNAVAILABLE, None);
    let (addr, seen) = scripted(vec![unavailable, unavailable, (StatusCode::OK, None)]).await;
    let (service, attempts) = sender(
        DeliveryPolicy::new().max_attempts(5),
        Duration::from_secs(10),
    );

    let response = service.oneshot(post_to(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let report = response.extensions().get::<DeliveryReport>().unwrap();
    assert!(report.is_delivered());
    assert_eq!(report.attempts, 3);
    assert_eq!(report.status, Some(StatusCode::OK));
    assert_eq!(statuses(&attempts), [Some(503), Some(503), Some(200)]);

    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 3, "every attempt passed verification");
    assert!(seen.iter().all(|(id, _)| *id == report.id.as_str()));
    let timestamps: Vec<i64> = seen.iter().map(|(_, ts)| *ts).collect();
    assert_eq!(timestamps, [1_700_000_000, 1_700_000_001, 1_700_000_002]);
}

#[tokio::test]
async fn a_given_delivery_id_is_used_for_every_attempt() {
    let (addr, seen) = scripted(vec![
        (StatusCode::INTERNAL_SERVER_ERROR, None),
        (StatusCode::NO_CONTENT, None),
    ])
    .await;
    let (service, _) = sender(DeliveryPolicy::new(), Duration::from_secs(10));
    let mut request = post_to(addr);
    request
        .extensions_mut()
        .insert(DeliveryId::new("msg_outbox_17"));
    let response = service.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let seen = seen.lock().unwrap();
    assert_eq!(seen.len(), 2);
    assert!(seen.iter().all(|(id, _)| id == "msg_outbox_17"));
}

#[tokio::test]
async fn the_attempts_stop_at_the_maximum() {
    let (addr, seen) = scripted(vec![(StatusCode::BAD_GATEWAY, None)]).await;
    let (service, attempts) = sender(
        DeliveryPolicy::new().max_attempts(3),
        Duration::from_secs(10),
    );
    let response = service.oneshot(post_to(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
    let report = response.extensions().get::<DeliveryReport>().unwrap();
    assert!(!report.is_delivered());
    assert_eq!(report.attempts, 3);
    assert_eq!(seen.lock().unwrap().len(), 3);
    let attempts = attempts.lock().unwrap();
    assert!(attempts[..2].iter().all(|a| a.retry_in.is_some()));
    assert_eq!(attempts[2].retry_in, None);
}

#[tokio::test]
async fn other_client_errors_are_never_retried() {
    for status in [
        StatusCode::BAD_REQUEST,
        StatusCode::UNAUTHORIZED,
        StatusCode::NOT_FOUND,
    ] {
        let (addr, seen) = scripted(vec![(status, None), (StatusCode::OK, None)]).await;
        let (service, _) = sender(DeliveryPolicy::new(), Duration::from_secs(10));
        let response = service.oneshot(post_to(addr)).await.unwrap();
        assert_eq!(response.status(), status);
        assert_eq!(
            response
                .extensions()
                .get::<DeliveryReport>()
                .unwrap()
                .attempts,
            1
        );
        assert_eq!(seen.lock().unwrap().len(), 1);
    }
}

#[tokio::test]
async fn throttling_is_retried_after_the_time_retry_after_asks_for() {
    let (addr, seen) = scripted(vec![
        (StatusCode::TOO_MANY_REQUESTS, Some("1")),
        (StatusCode::REQUEST_TIMEOUT, None),
        (StatusCode::OK, None),
    ])
    .await;
    // The backoff here is at most a few milliseconds: a one-second wait is `Retry-After`'s.
    let policy = DeliveryPolicy::new().max_attempts(3);
    let (service, attempts) = sender(policy, Duration::from_secs(10));
    let response = service.oneshot(post_to(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let attempts = attempts.lock().unwrap();
    assert_eq!(attempts[0].status, Some(StatusCode::TOO_MANY_REQUESTS));
    assert_eq!(attempts[0].retry_in, Some(Duration::from_secs(1)));
    assert_eq!(attempts[1].status, Some(StatusCode::REQUEST_TIMEOUT));
    assert!(attempts[1].retry_in.unwrap() <= Duration::from_millis(2));
    assert_eq!(seen.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_retry_after_beyond_the_cap_ends_the_delivery() {
    let (addr, seen) = scripted(vec![
        (StatusCode::SERVICE_UNAVAILABLE, Some("3600")),
        (StatusCode::OK, None),
    ])
    .await;
    let policy = DeliveryPolicy::new().max_delay(Duration::from_secs(60));
    let (service, attempts) = sender(policy, Duration::from_secs(10));
    let response = service.oneshot(post_to(addr)).await.unwrap();
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(attempts.lock().unwrap()[0].retry_in, None);
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn a_server_that_hangs_times_out_on_every_attempt() {
    let addr = support::serve_silence().await;
    let (service, attempts) = sender(
        DeliveryPolicy::new().max_attempts(2),
        Duration::from_millis(100),
    );
    let result = service.oneshot(post_to(addr)).await;
    let report = DeliveryReport::of(&result).unwrap().clone();
    assert_eq!(report.attempts, 2);
    assert_eq!(report.status, None);
    assert!(
        report.last_error.as_deref().unwrap().contains("timed out"),
        "{report:?}"
    );
    let error = result.unwrap_err();
    let failed = error.downcast_ref::<DeliveryFailed>().unwrap();
    assert!(failed.to_string().contains("after 2 attempts"), "{failed}");
    assert_eq!(statuses(&attempts), [None, None]);
}

#[tokio::test]
async fn an_unreachable_host_fails_after_the_retries_with_the_connection_error() {
    let addr = support::closed_port();
    let (service, _) = sender(
        DeliveryPolicy::new().max_attempts(3),
        Duration::from_secs(10),
    );
    let error = service.oneshot(post_to(addr)).await.unwrap_err();
    let failed = error.downcast_ref::<DeliveryFailed>().unwrap();
    assert_eq!(failed.report().attempts, 3);
    let message = failed.to_string();
    assert!(message.contains("after 3 attempts"), "{message}");
    assert!(message.to_lowercase().contains("connect"), "{message}");
}

#[tokio::test]
async fn signing_failures_are_not_retried() {
    let addr = support::closed_port();
    let attempts: Attempts = Arc::default();
    let log = Arc::clone(&attempts);
    let service = ServiceBuilder::new()
        .layer(DeliverLayer::new(
            DeliveryPolicy::new().on_attempt(move |a| log.lock().unwrap().push(a.clone())),
        ))
        .layer(
            SignRequestLayer::new(StandardWebhooks, SECRET)
                .unwrap()
                .max_body_size(2),
        )
        .service(support::http_client());
    let error = service.oneshot(post_to(addr)).await.unwrap_err();
    let failed = error.downcast_ref::<DeliveryFailed>().unwrap();
    assert_eq!(failed.report().attempts, 1);
    assert!(failed.to_string().contains("signing limit"), "{failed}");
}

#[tokio::test]
async fn the_policy_works_alone_with_tower_retry() {
    use tower::retry::RetryLayer;
    let calls = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&calls);
    let always_unavailable = tower::service_fn(move |_request: Request<Full<Bytes>>| {
        counter.fetch_add(1, Ordering::SeqCst);
        async {
            let mut response = Response::new(Full::new(Bytes::new()));
            *response.status_mut() = StatusCode::SERVICE_UNAVAILABLE;
            Ok::<_, BoxError>(response)
        }
    });
    let service = ServiceBuilder::new()
        .layer(RetryLayer::new(
            DeliveryPolicy::new()
                .max_attempts(3)
                .base_delay(Duration::from_millis(1)),
        ))
        .service(always_unavailable);
    for round in 1..=2 {
        let request = Request::post("/").body(Full::new(Bytes::new())).unwrap();
        let response = service.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        // Each request gets its own three attempts: the count does not carry over.
        assert_eq!(calls.load(Ordering::SeqCst), 3 * round);
    }
}
