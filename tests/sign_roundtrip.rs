//! From `SignRequestLayer` over a real hyper client to a server behind `VerifySignatureLayer`,
//! for every scheme.
#![cfg(feature = "sign")]

mod common;
mod support;

use std::sync::Arc;

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderName, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use tower::{BoxError, ServiceBuilder, ServiceExt, service_fn};
use tower_webhook::scheme::{Generic, GitHub, Scheme, Shopify, Slack, StandardWebhooks, Stripe};
use tower_webhook::sign::{DeliveryId, EventType, SignRequestError, SignRequestLayer};
use tower_webhook::{Secret, SecretFormat, SignError, Verified, VerifySignatureLayer};

fn schemes() -> Vec<(Arc<dyn Scheme>, &'static str)> {
    let custom = common::acme_scheme();
    vec![
        (Arc::new(GitHub), "It's a Secret to Everybody"),
        (Arc::new(Stripe), "whsec_test_secret"),
        (Arc::new(Slack), "8f742231b10e8888abcd99yyyzzz85a5"),
        (
            Arc::new(StandardWebhooks),
            "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
        ),
        (Arc::new(Shopify), "shpss_example"),
        (Arc::new(Generic), "a long random secret"),
        (Arc::new(custom), "s3cr3t"),
    ]
}

/// A receiver that answers with what it verified: scheme, id and body.
async fn receiver(scheme: Arc<dyn Scheme>, secret: &str) -> std::net::SocketAddr {
    let router = Router::new()
        .route(
            "/hook",
            post(|Extension(verified): Extension<Verified>| async move {
                format!(
                    "{}|{}|{}",
                    verified.scheme(),
                    verified.id().unwrap_or("-"),
                    String::from_utf8_lossy(verified.body())
                )
            }),
        )
        .layer(VerifySignatureLayer::new(scheme, secret).unwrap());
    support::serve(router).await
}

fn post_json(addr: std::net::SocketAddr, body: &'static str) -> Request<Full<Bytes>> {
    Request::post(format!("http://{addr}/hook"))
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .unwrap()
}

async fn text(response: http::Response<hyper::body::Incoming>) -> String {
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    String::from_utf8(bytes.to_vec()).unwrap()
}

#[tokio::test]
async fn every_scheme_round_trips_through_a_real_client_and_server() {
    for (scheme, secret) in schemes() {
        let name = scheme.name().to_owned();
        let addr = receiver(Arc::clone(&scheme), secret).await;
        let client = ServiceBuilder::new()
            .layer(SignRequestLayer::new(scheme, secret).unwrap())
            .service(support::http_client());
        let body = r#"{"type":"order.completed","n":1}"#;
        let response = client.oneshot(post_json(addr, body)).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{name}");
        let answer = text(response).await;
        let mut fields = answer.splitn(3, '|');
        assert_eq!(fields.next(), Some(name.as_str()));
        let id = fields.next().unwrap();
        if matches!(name.as_str(), "stripe" | "slack") {
            assert_eq!(id, "-", "{name} has no id header");
        } else {
            assert!(id.starts_with("msg_") && id.len() == 26, "{name}: {id}");
        }
        assert_eq!(fields.next(), Some(body), "{name}");
    }
}

#[tokio::test]
async fn generated_secrets_round_trip_for_every_scheme() {
    for (scheme, _) in schemes() {
        let secret = Secret::generate_as(SecretFormat::for_scheme(scheme.as_ref())).unwrap();
        let text = String::from_utf8(secret.expose().to_vec()).unwrap();
        let addr = receiver(Arc::clone(&scheme), &text).await;
        let client = ServiceBuilder::new()
            .layer(SignRequestLayer::new(Arc::clone(&scheme), secret).unwrap())
            .service(support::http_client());
        let response = client.oneshot(post_json(addr, "{}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{}", scheme.name());
    }
}

#[tokio::test]
async fn it_signs_with_the_first_secret() {
    let client = |secrets: [&'static str; 2]| {
        ServiceBuilder::new()
            .layer(SignRequestLayer::new(GitHub, secrets).unwrap())
            .service(support::http_client())
    };
    let only_old = receiver(Arc::new(GitHub), "old secret").await;
    let only_new = receiver(Arc::new(GitHub), "new secret").await;
    let sender = client(["new secret", "old secret"]);
    let response = sender
        .clone()
        .oneshot(post_json(only_new, "{}"))
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = sender.oneshot(post_json(only_old, "{}")).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn an_existing_id_header_or_delivery_id_is_kept_and_the_event_type_is_sent() {
    let seen = service_fn(|request: Request<Full<Bytes>>| async move {
        Ok::<_, BoxError>(request.headers().clone())
    });
    let signer = SignRequestLayer::new(GitHub, "secret").unwrap();
    assert_eq!(
        signer.id_header().map(HeaderName::as_str),
        Some("x-github-delivery")
    );
    let service = ServiceBuilder::new().layer(signer).service(seen);

    let mut request = Request::post("/")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    request
        .headers_mut()
        .insert("x-github-delivery", "72d3162e-cc78-11e3".parse().unwrap());
    request.extensions_mut().insert(DeliveryId::new("ignored"));
    request
        .extensions_mut()
        .insert(EventType::new("issues.opened"));
    let headers = service.clone().oneshot(request).await.unwrap();
    assert_eq!(headers["x-github-delivery"], "72d3162e-cc78-11e3");
    assert_eq!(headers["x-github-event"], "issues");

    let mut request = Request::post("/")
        .body(Full::new(Bytes::from_static(b"{}")))
        .unwrap();
    request.extensions_mut().insert(DeliveryId::new("evt_42"));
    let headers = service.oneshot(request).await.unwrap();
    assert_eq!(headers["x-github-delivery"], "evt_42");
}

#[tokio::test]
async fn it_stamps_the_clock_time_and_new_ids() {
    let seen = service_fn(|request: Request<Full<Bytes>>| async move {
        Ok::<_, BoxError>(request.headers().clone())
    });
    let service = ServiceBuilder::new()
        .layer(
            SignRequestLayer::new(StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
                .unwrap()
                .clock(|| 1_614_265_330),
        )
        .service(seen);
    let request = || {
        Request::post("/")
            .body(Full::new(Bytes::from_static(b"{}")))
            .unwrap()
    };
    let first = service.clone().oneshot(request()).await.unwrap();
    let second = service.oneshot(request()).await.unwrap();
    assert_eq!(first["webhook-timestamp"], "1614265330");
    assert_ne!(first["webhook-id"], second["webhook-id"]);
}

/// Sends `body` through `layer` to a client that counts its calls; what the layer refused it
/// with, and whether the client was called.
async fn signing_refusal(
    layer: SignRequestLayer,
    body: &'static [u8],
) -> (SignRequestError, usize) {
    let calls = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = Arc::clone(&calls);
    let client = service_fn(move |_request: Request<Full<Bytes>>| {
        counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        async { Ok::<_, BoxError>(()) }
    });
    let service = ServiceBuilder::new().layer(layer).service(client);
    let request = Request::post("/")
        .body(Full::new(Bytes::from_static(body)))
        .unwrap();
    let error = service.oneshot(request).await.unwrap_err();
    let error = *error.downcast::<SignRequestError>().unwrap();
    (error, calls.load(std::sync::atomic::Ordering::SeqCst))
}

#[tokio::test]
async fn bodies_over_the_limit_are_not_sent() {
    let layer = SignRequestLayer::new(GitHub, "secret")
        .unwrap()
        .max_body_size(4);
    let (error, calls) = signing_refusal(layer, b"12345").await;
    assert!(matches!(error, SignRequestError::BodyTooLarge { limit: 4 }));
    assert_eq!(calls, 0);
}

#[test]
fn the_layer_debug_hides_the_secret() {
    let layer = SignRequestLayer::new(GitHub, "hunter2-very-secret").unwrap();
    let text = format!("{layer:?}");
    assert!(!text.contains("hunter2"), "{text}");
    assert!(text.contains("github"), "{text}");
}

#[tokio::test]
async fn the_signing_layer_refuses_a_clock_before_1970() {
    let layer = SignRequestLayer::new(Stripe, "whsec_test_secret")
        .unwrap()
        .clock(|| -5);
    let (error, calls) = signing_refusal(layer, b"{}").await;
    assert!(
        matches!(
            error,
            SignRequestError::Sign(SignError::NegativeTimestamp { timestamp: -5 })
        ),
        "{error}"
    );
    assert_eq!(calls, 0);
}

/// Every shared-secret preset signs through `SignRequestLayer` what its own verifier accepts
/// over real HTTP: the URL-signing ones sign the URL the client calls, which the receiver
/// rebuilds from the request it gets.
#[tokio::test]
async fn every_preset_round_trips_through_a_real_client_and_server() {
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis();
    let mut checked = 0;
    for name in tower_webhook::scheme::PRESETS {
        let scheme = tower_webhook::scheme::preset(name).unwrap();
        if !scheme.algorithm().is_shared() {
            continue; // Key pairs: tests/asymmetric.rs signs with the private keys.
        }
        let secret = Secret::generate_as(SecretFormat::for_scheme(scheme.as_ref())).unwrap();
        let text = String::from_utf8(secret.expose().to_vec()).unwrap();
        let layer = VerifySignatureLayer::new(Arc::clone(&scheme), text.as_str())
            .unwrap()
            .public_url_from_request();
        let router = Router::new()
            .route(
                "/hook",
                post(|Extension(verified): Extension<Verified>| async move {
                    verified.scheme().to_owned()
                }),
            )
            .layer(layer);
        let addr = support::serve(router).await;
        let client = ServiceBuilder::new()
            .layer(SignRequestLayer::new(Arc::clone(&scheme), secret).unwrap())
            .service(support::http_client());
        // Twilio signs a form's fields; Linear's body carries its timestamp.
        let signs_form = scheme
            .signed_content()
            .contains(&tower_webhook::scheme::Part::Form);
        let (content_type, body) = match *name {
            _ if signs_form => (
                "application/x-www-form-urlencoded",
                "From=%2B14158675309&Body=hello+there".to_owned(),
            ),
            "linear" => (
                "application/json",
                format!(r#"{{"type":"Issue","action":"create","webhookTimestamp":{now_ms}}}"#),
            ),
            _ => (
                "application/json",
                r#"{"type":"order.completed"}"#.to_owned(),
            ),
        };
        let request = Request::post(format!("http://{addr}/hook?source=test"))
            .header("content-type", content_type)
            .header("x-forwarded-proto", "http")
            .body(Full::new(Bytes::from(body)))
            .unwrap();
        let response = client.oneshot(request).await.unwrap();
        let status = response.status();
        assert_eq!(
            status,
            StatusCode::OK,
            "{name}: {}",
            text_of(response).await
        );
        checked += 1;
    }
    assert!(checked >= 28, "only {checked} presets were checked");
}

async fn text_of(response: http::Response<hyper::body::Incoming>) -> String {
    text(response).await
}
