//! `WebhookEvent<T>` and `Verified` as axum extractors: from a signed request through the layer
//! to a typed handler, and every rejection.

use std::error::Error as _;

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use tower::ServiceExt;
use tower_webhook::rejection::{
    MissingVerified, PayloadDataError, PayloadSyntaxError, WebhookEventRejection,
};
use tower_webhook::scheme::{Generic, GitHub, Message, Scheme, Stripe};
use tower_webhook::{Secret, Verified, VerifySignatureLayer, WebhookEvent, scheme::Envelope};

const NOW: i64 = 1_700_000_000;
const SECRET: &str = "whsec_test_secret";

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    data: Data,
}

#[derive(Debug, Deserialize)]
struct Data {
    object: Amount,
}

#[derive(Debug, Deserialize)]
struct Amount {
    amount: u64,
}

async fn on_payment(event: WebhookEvent<PaymentIntent>) -> String {
    format!(
        "{} {} at {}: {}",
        event.event_type.unwrap_or_default(),
        event.id.unwrap_or_default(),
        event.timestamp.unwrap_or_default(),
        event.payload.data.object.amount
    )
}

fn stripe_layer() -> VerifySignatureLayer {
    VerifySignatureLayer::new(Stripe, [SECRET])
        .unwrap()
        .clock(|| NOW)
}

fn stripe_request(body: &[u8]) -> Request<Body> {
    let headers = Stripe
        .sign(&Secret::new(SECRET), &Message::new(body).timestamp(NOW))
        .unwrap();
    let mut request = Request::post("/hook")
        .body(Body::from(body.to_vec()))
        .unwrap();
    request.headers_mut().extend(headers);
    request
}

async fn send(app: Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[tokio::test]
async fn signed_request_reaches_a_typed_handler() {
    let app = Router::new()
        .route("/hook", post(on_payment))
        .layer(stripe_layer());
    let body =
        br#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"amount":2000}}}"#;
    let (status, text) = send(app, stripe_request(body)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "payment_intent.succeeded evt_1 at 1700000000: 2000");
}

#[tokio::test]
async fn forged_request_never_reaches_the_handler() {
    let app = Router::new()
        .route("/hook", post(on_payment))
        .layer(stripe_layer());
    let mut request = stripe_request(br#"{"data":{"object":{"amount":1}}}"#);
    *request.body_mut() = Body::from(r#"{"data":{"object":{"amount":1000000}}}"#);
    let (status, _) = send(app, request).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn payload_that_is_not_json_is_400_with_serde_message() {
    let app = Router::new()
        .route("/hook", post(on_payment))
        .layer(stripe_layer());
    let (status, text) = send(app, stripe_request(b"{\"data\": nope}")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(
        text.starts_with("Failed to parse the webhook payload as JSON: expected ident at line 1"),
        "{text}"
    );
}

#[tokio::test]
async fn truncated_json_is_400() {
    let app = Router::new()
        .route("/hook", post(on_payment))
        .layer(stripe_layer());
    let (status, text) = send(app, stripe_request(br#"{"data":"#)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(text.contains("EOF while parsing"), "{text}");
}

#[tokio::test]
async fn payload_of_the_wrong_shape_is_422_with_serde_message() {
    let app = Router::new()
        .route("/hook", post(on_payment))
        .layer(stripe_layer());
    let (status, text) = send(app, stripe_request(br#"{"data":{"object":{}}}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        text.starts_with("Failed to deserialize the webhook payload: missing field `amount`"),
        "{text}"
    );
}

#[tokio::test]
async fn webhook_event_without_the_layer_is_500_naming_it() {
    let app = Router::new().route("/hook", post(on_payment));
    let (status, text) = send(app, stripe_request(br#"{"data":{"object":{"amount":1}}}"#)).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert!(text.contains("VerifySignatureLayer"), "{text}");
}

#[tokio::test]
async fn verified_without_the_layer_is_500_naming_it() {
    async fn handler(verified: Verified) -> String {
        verified.scheme().to_owned()
    }
    let app = Router::new().route("/hook", post(handler));
    let (status, text) = send(app, stripe_request(b"{}")).await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(
        text,
        "No `Verified` extension on the request: is `VerifySignatureLayer` in front of this handler?"
    );
}

#[tokio::test]
async fn verified_extractor_gives_the_metadata() {
    async fn handler(verified: Verified) -> String {
        format!(
            "{} {} {}",
            verified.scheme(),
            verified.event_type().unwrap_or("?"),
            verified.id().unwrap_or("?")
        )
    }
    let app = Router::new()
        .route("/hook", post(handler))
        .layer(stripe_layer());
    let (status, text) = send(app, stripe_request(br#"{"id":"evt_2","type":"a.b"}"#)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(text, "stripe a.b evt_2");
}

#[tokio::test]
async fn optional_extractors_give_none_without_the_layer() {
    async fn handler(
        verified: Option<Verified>,
        event: Option<WebhookEvent<serde_json::Value>>,
    ) -> String {
        format!("{} {}", verified.is_some(), event.is_some())
    }
    let app = Router::new().route("/hook", post(handler));
    assert_eq!(
        send(app.clone(), stripe_request(b"{}")).await,
        (StatusCode::OK, "false false".to_owned())
    );
    let app = app.layer(stripe_layer());
    assert_eq!(
        send(app, stripe_request(b"{}")).await,
        (StatusCode::OK, "true true".to_owned())
    );
}

#[tokio::test]
async fn optional_webhook_event_still_refuses_a_bad_payload() {
    async fn handler(event: Option<WebhookEvent<PaymentIntent>>) -> String {
        format!("{}", event.is_some())
    }
    let app = Router::new()
        .route("/hook", post(handler))
        .layer(stripe_layer());
    let (status, _) = send(app, stripe_request(br#"{"data":1}"#)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn github_form_encoded_payload_is_decoded() {
    #[derive(Deserialize)]
    struct Push {
        #[serde(rename = "ref")]
        reference: String,
    }
    async fn handler(event: WebhookEvent<Push>) -> String {
        format!(
            "{} {}",
            event.event_type.unwrap_or_default(),
            event.payload.reference
        )
    }
    let body = "payload=%7B%22ref%22%3A%22refs%2Fheads%2Fmain%22%7D";
    let headers = GitHub
        .sign(
            &Secret::new(SECRET),
            &Message::new(body.as_bytes()).event_type("push"),
        )
        .unwrap();
    let mut request = Request::post("/hook")
        .header("content-type", "application/x-www-form-urlencoded")
        .body(Body::from(body))
        .unwrap();
    request.headers_mut().extend(headers);
    let app = Router::new()
        .route("/hook", post(handler))
        .layer(VerifySignatureLayer::new(GitHub, [SECRET]).unwrap());
    assert_eq!(
        send(app, request).await,
        (StatusCode::OK, "push refs/heads/main".to_owned())
    );
}

#[tokio::test]
async fn body_above_axums_two_mib_default_reaches_the_handler() {
    #[derive(Deserialize)]
    struct Big {
        #[serde(rename = "type")]
        event_type: String,
        data: String,
    }
    async fn handler(event: WebhookEvent<Big>) -> String {
        format!("{} {}", event.payload.event_type, event.payload.data.len())
    }
    let filler = "x".repeat(3 * 1024 * 1024);
    let body = format!(r#"{{"id":"evt_big","type":"big.one","data":"{filler}"}}"#);
    assert!(body.len() > 3 << 20);
    let app = Router::new()
        .route("/hook", post(handler))
        .layer(stripe_layer().max_body_size(8 << 20));
    let (status, text) = send(app, stripe_request(body.as_bytes())).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(text, format!("big.one {}", 3 * 1024 * 1024));
}

#[tokio::test]
async fn generic_envelope_is_a_payload_type() {
    #[derive(Deserialize)]
    struct Order {
        total: u64,
    }
    async fn handler(event: WebhookEvent<Envelope<Order>>) -> String {
        let envelope = event.payload;
        format!(
            "{} {} {} {} {}",
            event.event_type.unwrap_or_default(),
            envelope.resource.kind,
            envelope.resource.id,
            envelope.resource.labels.get("env").map_or("-", |v| v),
            envelope.data.total
        )
    }
    let body = br#"{"event":"order.completed","timestamp":"2023-11-14T22:13:20Z","resource":{"id":"ord_1","type":"order","labels":{"env":"prod"}},"data":{"total":4200}}"#;
    let headers = Generic
        .sign(&Secret::new(SECRET), &Message::new(body).timestamp(NOW))
        .unwrap();
    let mut request = Request::post("/hook").body(Body::from(&body[..])).unwrap();
    request.headers_mut().extend(headers);
    let app = Router::new().route("/hook", post(handler)).layer(
        VerifySignatureLayer::new(Generic, [SECRET])
            .unwrap()
            .clock(|| NOW),
    );
    assert_eq!(
        send(app, request).await,
        (
            StatusCode::OK,
            "order.completed order ord_1 prod 4200".to_owned()
        )
    );
}

#[test]
fn rejections_carry_status_message_and_source() {
    let missing = WebhookEventRejection::from(MissingVerified::default());
    assert_eq!(missing.status(), StatusCode::INTERNAL_SERVER_ERROR);
    assert!(missing.to_string().contains("VerifySignatureLayer"));
    assert!(missing.source().is_none());

    let syntax = serde_json::from_str::<u8>("nul").unwrap_err();
    let rejection = rejection_for::<u8>("nul");
    assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
    assert!(matches!(
        rejection,
        WebhookEventRejection::PayloadSyntaxError(_)
    ));
    assert_eq!(
        rejection.body_text(),
        format!("Failed to parse the webhook payload as JSON: {syntax}")
    );
    assert!(rejection.source().is_some());

    let rejection = rejection_for::<u8>("\"text\"");
    assert!(matches!(
        rejection,
        WebhookEventRejection::PayloadDataError(_)
    ));
    assert_eq!(rejection.status(), StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(rejection.to_string(), rejection.body_text());

    let _: fn(PayloadSyntaxError) -> WebhookEventRejection = WebhookEventRejection::from;
    let _: fn(PayloadDataError) -> WebhookEventRejection = WebhookEventRejection::from;
}

/// The extractor's decoding of a verified Stripe delivery of `json`, which must fail.
fn rejection_for<T: serde::de::DeserializeOwned + std::fmt::Debug>(
    json: &str,
) -> WebhookEventRejection {
    WebhookEvent::<T>::from_verified(&verified_stripe(json)).unwrap_err()
}

fn verified_stripe(json: &str) -> Verified {
    use tower_webhook::VerifiedBody;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    runtime.block_on(async {
        let service = tower::ServiceBuilder::new()
            .layer(stripe_layer())
            .service_fn(|request: Request<VerifiedBody>| async move {
                let verified = request.extensions().get::<Verified>().cloned().unwrap();
                let mut response = http::Response::new(Body::empty());
                response.extensions_mut().insert(verified);
                Ok::<_, std::convert::Infallible>(response)
            });
        let response = service
            .oneshot(stripe_request(json.as_bytes()))
            .await
            .unwrap();
        response.extensions().get::<Verified>().cloned().unwrap()
    })
}
