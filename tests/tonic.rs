//! The layer in front of a real tonic server (tonic-health's service, so no protoc): a gRPC
//! client whose requests are signed over their exact framed body gets through; an unsigned or
//! wrongly signed one gets a gRPC `UNAUTHENTICATED` status built by `on_reject`.

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use tokio::net::TcpListener;
use tonic::transport::server::TcpIncoming;
use tonic::transport::{Channel, Endpoint, Server};
use tonic::{Code, Status};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_check_response::ServingStatus;
use tonic_health::pb::health_client::HealthClient;
use tower::{BoxError, ServiceExt};
use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
use tower_webhook::{Secret, VerifyError, VerifySignatureLayer};

const SECRET: &str = "whsec_dG9uaWMgaW50ZWdyYXRpb24gdGVzdCBrZXk=";

async fn start_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (_reporter, health) = tonic_health::server::health_reporter();
    let layer = VerifySignatureLayer::new(StandardWebhooks, SECRET)
        .unwrap()
        .on_reject(|error: &VerifyError| Status::unauthenticated(error.to_string()).into_http());
    tokio::spawn(
        Server::builder()
            .layer(layer)
            .add_service(health)
            .serve_with_incoming(TcpIncoming::from(listener)),
    );
    addr
}

async fn channel(addr: std::net::SocketAddr) -> Channel {
    Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect()
        .await
        .unwrap()
}

/// A client transport that signs each request's gRPC-framed body with `secret`, as a webhook
/// sender would, before it goes on the wire.
fn signing(
    channel: Channel,
    secret: &'static str,
) -> impl tonic::client::GrpcService<
    tonic::body::Body,
    Error = BoxError,
    ResponseBody = tonic::body::Body,
    Future = impl Send,
> + Clone {
    tower::service_fn(move |request: http::Request<tonic::body::Body>| {
        let channel = channel.clone();
        async move {
            let (mut parts, body) = request.into_parts();
            let body: Bytes = body.collect().await?.to_bytes();
            let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs() as i64;
            let headers = StandardWebhooks.sign(
                &Secret::new(secret),
                &Message::new(&body).id("msg_grpc").timestamp(now),
            )?;
            parts.headers.extend(headers);
            let request = http::Request::from_parts(parts, tonic::body::Body::new(Full::new(body)));
            Ok::<_, BoxError>(channel.oneshot(request).await?)
        }
    })
}

fn check() -> HealthCheckRequest {
    HealthCheckRequest {
        service: String::new(),
    }
}

#[tokio::test]
async fn a_signed_grpc_call_passes_and_an_unsigned_one_is_unauthenticated() {
    let addr = start_server().await;
    let channel = channel(addr).await;

    let mut signed = HealthClient::new(signing(channel.clone(), SECRET));
    let response = signed.check(check()).await.expect("signed call");
    assert_eq!(response.into_inner().status(), ServingStatus::Serving);

    let mut unsigned = HealthClient::new(channel.clone());
    let status = unsigned.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "missing `webhook-id` header");

    let mut forged = HealthClient::new(signing(channel, "whsec_c29tZSBvdGhlciBrZXkgZW50aXJlbHk="));
    let status = forged.check(check()).await.unwrap_err();
    assert_eq!(status.code(), Code::Unauthenticated);
    assert_eq!(status.message(), "signature does not match");
}
