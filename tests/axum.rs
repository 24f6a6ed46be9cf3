//! The layer in an axum app: `Router::layer` guards every route, `route_layer` only the routes
//! it is added after, and handlers read the `Verified` extension.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Extension, State};
use axum::http::{Request, StatusCode};
use axum::routing::{get, post};
use http_body_util::BodyExt;
use tower::ServiceExt;
use tower_webhook::scheme::{GitHub, Message, Scheme, Stripe};
use tower_webhook::{Secret, Verified, VerifyError, VerifySignatureLayer};

const SECRET: &str = "axum-webhook-secret";
const BODY: &[u8] = br#"{"action":"opened","number":7}"#;

async fn webhook(
    State(calls): State<Arc<AtomicUsize>>,
    Extension(verified): Extension<Verified>,
    body: Bytes,
) -> String {
    calls.fetch_add(1, Ordering::SeqCst);
    assert_eq!(body, verified.body());
    format!(
        "{} {} key#{} id={}",
        verified.scheme(),
        body.len(),
        verified.key_index(),
        verified.id().unwrap_or("-")
    )
}

fn app(calls: &Arc<AtomicUsize>) -> Router {
    Router::new()
        .route("/webhook", post(webhook))
        .with_state(Arc::clone(calls))
}

fn signed(path: &str, secret: &str, body: &'static [u8]) -> Request<Body> {
    let mut headers = GitHub
        .sign(&Secret::new(secret), &Message::new(body).id("delivery-1"))
        .unwrap();
    let mut request = Request::post(path).body(Body::from(body)).unwrap();
    request.headers_mut().extend(headers.drain());
    request
}

async fn text(response: axum::response::Response) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn router_layer_verifies_and_the_handler_reads_verified() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = app(&calls).layer(VerifySignatureLayer::new(GitHub, ["new-secret", SECRET]).unwrap());

    let response = app
        .clone()
        .oneshot(signed("/webhook", SECRET, BODY))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "github 30 key#1 id=delivery-1");
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    for request in [
        signed("/webhook", "wrong-secret", BODY),
        Request::post("/webhook").body(Body::from(BODY)).unwrap(),
    ] {
        let response = app.clone().oneshot(request).await.unwrap();
        assert!(response.status().is_client_error());
        assert!(response.extensions().get::<VerifyError>().is_some());
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "refused requests reached the handler"
    );

    // `Router::layer` wraps the fallback too: an unknown path is verified before it is a 404.
    let response = app
        .clone()
        .oneshot(Request::get("/nowhere").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = app.oneshot(signed("/nowhere", SECRET, BODY)).await.unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn route_layer_guards_only_the_routes_before_it() {
    let calls = Arc::new(AtomicUsize::new(0));
    let app = app(&calls)
        .route_layer(VerifySignatureLayer::new(GitHub, SECRET).unwrap())
        .route("/health", get(|| async { "ok" }));

    let response = app
        .clone()
        .oneshot(Request::get("/health").body(Body::empty()).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(text(response).await, "ok");

    let response = app
        .clone()
        .oneshot(Request::post("/webhook").body(Body::from(BODY)).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    assert_eq!(text(response).await, "missing `x-hub-signature-256` header");

    let response = app
        .clone()
        .oneshot(signed("/webhook", SECRET, BODY))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(calls.load(Ordering::SeqCst), 1);

    // Unmatched paths skip a route layer and get axum's 404.
    let response = app
        .oneshot(Request::post("/nowhere").body(Body::from(BODY)).unwrap())
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_stale_stripe_delivery_never_reaches_the_handler() {
    let calls = Arc::new(AtomicUsize::new(0));
    let now = 1_700_000_000;
    let app = app(&calls).layer(
        VerifySignatureLayer::new(Stripe, "whsec_axum")
            .unwrap()
            .clock(move || now),
    );
    for (timestamp, status) in [(now, StatusCode::OK), (now - 301, StatusCode::UNAUTHORIZED)] {
        let headers = Stripe
            .sign(
                &Secret::new("whsec_axum"),
                &Message::new(BODY).timestamp(timestamp),
            )
            .unwrap();
        let mut request = Request::post("/webhook").body(Body::from(BODY)).unwrap();
        request.headers_mut().extend(headers);
        let response = app.clone().oneshot(request).await.unwrap();
        assert_eq!(response.status(), status);
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1);
}
