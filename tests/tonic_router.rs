//! A tonic server with the layer in front of both a gRPC service (tonic-health) and an
//! `EventRouter` mounted through an axum router: signed requests of either kind get through,
//! unsigned ones do not.

use std::net::SocketAddr;

use axum::handler::Handler;
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use tonic::service::Routes;
use tonic::transport::Server;
use tonic::transport::server::TcpIncoming;
use tower_webhook::scheme::{GitHub, Message, Scheme};
use tower_webhook::{EventRouter, Secret, VerifySignatureLayer, WebhookEvent};

const SECRET: &str = "a long random secret";

async fn push(event: WebhookEvent<serde_json::Value>) -> String {
    format!("push to {}", event.payload["ref"].as_str().unwrap_or("?"))
}

async fn start() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let events = EventRouter::new().on_service("push", push.with_state(()));
    let routes =
        Routes::from(axum::Router::new().route_service("/github", events)).add_service(health);
    let server = Server::builder()
        .accept_http1(true)
        .layer(VerifySignatureLayer::new(GitHub, [SECRET]).unwrap())
        .add_routes(routes)
        .serve_with_incoming(TcpIncoming::from(listener));
    tokio::spawn(server);
    address
}

fn signed(uri: String, event: &str, body: Vec<u8>) -> Request<Full<Bytes>> {
    let headers = GitHub
        .sign(&Secret::new(SECRET), &Message::new(&body).event_type(event))
        .unwrap();
    let mut request = Request::post(uri)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    request.headers_mut().extend(headers);
    request
}

#[tokio::test]
async fn signed_webhook_goes_through_layer_and_router_in_a_tonic_server() {
    let address = start().await;
    let client = Client::builder(TokioExecutor::new()).build_http();

    let uri = format!("http://{address}/github");
    let request = signed(
        uri.clone(),
        "push",
        br#"{"ref":"refs/heads/main"}"#.to_vec(),
    );
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "push to refs/heads/main");

    let request = signed(uri.clone(), "ping", b"{}".to_vec());
    let response = client.request(request).await.unwrap();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(body, "ignored");

    let mut forged = signed(uri, "push", br#"{"ref":"refs/heads/main"}"#.to_vec());
    *forged.body_mut() = Full::new(Bytes::from_static(br#"{"ref":"refs/heads/evil"}"#));
    let response = client.request(forged).await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn signed_grpc_call_reaches_tonic_health_and_unsigned_does_not() {
    let address = start().await;
    let client = Client::builder(TokioExecutor::new())
        .http2_only(true)
        .build_http();
    let uri = format!("http://{address}/grpc.health.v1.Health/Check");
    // One gRPC frame: uncompressed, length 0 (a `HealthCheckRequest` for the server as a whole).
    let frame = vec![0, 0, 0, 0, 0];

    let mut request = signed(uri.clone(), "grpc", frame.clone());
    request
        .headers_mut()
        .insert("content-type", "application/grpc".parse().unwrap());
    request
        .headers_mut()
        .insert("te", "trailers".parse().unwrap());
    let response = client.request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let collected = response.into_body().collect().await.unwrap();
    let grpc_status = collected
        .trailers()
        .and_then(|trailers| trailers.get("grpc-status"))
        .cloned();
    // `HealthCheckResponse { status: SERVING }` is field 1 = 1: bytes 08 01.
    assert_eq!(
        collected.to_bytes(),
        Bytes::from_static(&[0, 0, 0, 0, 2, 8, 1])
    );
    assert_eq!(grpc_status.as_ref().map(|v| v.as_bytes()), Some(&b"0"[..]));

    let request = Request::post(uri)
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from(frame)))
        .unwrap();
    let response = client.request(request).await.unwrap();
    assert_eq!(
        response.status(),
        StatusCode::BAD_REQUEST,
        "no signature header"
    );
}
