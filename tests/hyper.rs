//! The layer in a bare hyper 1 server (through hyper-util's `TowerToHyperService`), driven by
//! real HTTP/1.1 requests over loopback: fixed-length and chunked bodies.

mod common;

use std::convert::Infallible;

use bytes::Bytes;
use common::{Chunks, NOW};
use http::{Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower::{BoxError, Layer};
use tower_webhook::scheme::{Generic, Message, Scheme};
use tower_webhook::{Secret, Verified, VerifiedBody, VerifySignatureLayer};

const SECRET: &str = "hyper-loopback-secret";
const LIMIT: usize = 4096;

async fn handle(request: Request<VerifiedBody>) -> Result<Response<Full<Bytes>>, Infallible> {
    let verified = request.extensions().get::<Verified>().unwrap().clone();
    let body = request.into_body().collect().await?.to_bytes();
    assert_eq!(&body, verified.body());
    let text = format!(
        "{} bytes, id {}",
        body.len(),
        verified.id().unwrap_or("none")
    );
    Ok(Response::new(Full::new(Bytes::from(text))))
}

/// Serves the layer in front of `handle` on a free loopback port.
async fn start_server() -> std::net::SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let layer = VerifySignatureLayer::new(Generic, SECRET)
        .unwrap()
        .max_body_size(LIMIT)
        .clock(|| NOW);
    let service = layer.layer(tower::service_fn(handle));
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                // A refused connection may be closed early; that is not this test's concern.
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

type Body = BoxBody<Bytes, BoxError>;

fn client() -> Client<HttpConnector, Body> {
    Client::builder(TokioExecutor::new()).build_http()
}

fn full(body: &[u8]) -> Body {
    Full::new(Bytes::copy_from_slice(body))
        .map_err(|never| match never {})
        .boxed()
}

/// A body hyper must send with `Transfer-Encoding: chunked`: no length known up front.
fn chunked(body: &[u8]) -> Body {
    Chunks::split_at(body, &[1, 2, 3, 100, 1000, 3000])
        .map_err(BoxError::from)
        .boxed()
}

fn post(addr: std::net::SocketAddr, signed_body: &[u8], body: Body) -> Request<Body> {
    let headers = Generic
        .sign(
            &Secret::new(SECRET),
            &Message::new(signed_body).timestamp(NOW).id("evt_42"),
        )
        .unwrap();
    let mut request = Request::post(format!("http://{addr}/webhook"))
        .body(body)
        .unwrap();
    request.headers_mut().extend(headers);
    request
}

async fn answer(
    client: &Client<HttpConnector, Body>,
    request: Request<Body>,
) -> (StatusCode, String) {
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn signed_requests_pass_over_real_http_and_others_are_refused() {
    let addr = start_server().await;
    let client = client();
    let body = br#"{"event":"order.completed","total":42}"#;

    let (status, text) = answer(&client, post(addr, body, full(body))).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "38 bytes, id evt_42")
    );

    let mut tampered = body.to_vec();
    tampered[10] ^= 1;
    let (status, text) = answer(&client, post(addr, body, full(&tampered))).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, "signature does not match")
    );

    let unsigned = Request::post(format!("http://{addr}/webhook"))
        .body(full(body))
        .unwrap();
    let (status, text) = answer(&client, unsigned).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::BAD_REQUEST,
            "missing `x-webhook-timestamp` header"
        )
    );
}

#[tokio::test]
async fn chunked_bodies_verify_and_are_held_to_the_limit() {
    let addr = start_server().await;
    let client = client();

    let body: Vec<u8> = (0..LIMIT).map(|i| (i % 251) as u8).collect();
    let request = post(addr, &body, chunked(&body));
    let (status, text) = answer(&client, request).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "4096 bytes, id evt_42")
    );

    let too_big = vec![b'a'; LIMIT + 1];
    let (status, text) = answer(&client, post(addr, &too_big, chunked(&too_big))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(text, "body is larger than the 4096 byte limit");

    // With a Content-Length over the limit the answer comes before the body is read.
    let (status, _) = answer(&client, post(addr, &too_big, full(&too_big))).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
}
