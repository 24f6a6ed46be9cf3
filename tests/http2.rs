//! The layer behind hyper's HTTP/2 server (plain h2c, prior knowledge) on a real loopback
//! socket, driven by hyper's HTTP/2 client over one connection: signed, forged, oversized
//! (declared and streamed) and concurrent requests, each a stream of that connection.

mod common;

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use common::{Chunks, NOW};
use http::{Request, Response, StatusCode, Version, header};
use http_body::Body as _;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::service::TowerToHyperService;
use tokio::net::{TcpListener, TcpStream};
use tower::{BoxError, Layer, ServiceExt};
use tower_webhook::scheme::{Generic, Message, Scheme};
use tower_webhook::{Secret, Verified, VerifiedBody, VerifySignatureLayer};

const SECRET: &str = "h2c-loopback-secret";
const LIMIT: usize = 4096;

type Body = BoxBody<Bytes, BoxError>;

/// What the server saw of each request before the layer: its version, and whether its length
/// was declared (a `Content-Length` header, or an exact size hint from h2).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Arrival {
    version: Version,
    content_length: bool,
    exact_hint: bool,
}

struct Server {
    addr: SocketAddr,
    /// Calls of the inner service, i.e. requests that got past the layer.
    calls: Arc<AtomicUsize>,
    connections: Arc<AtomicUsize>,
    arrivals: Arc<Mutex<Vec<Arrival>>>,
}

async fn start_server() -> Server {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let calls = Arc::new(AtomicUsize::new(0));
    let connections = Arc::new(AtomicUsize::new(0));
    let arrivals = Arc::new(Mutex::new(Vec::new()));

    let counted = Arc::clone(&calls);
    let inner = tower::service_fn(move |request: Request<VerifiedBody>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            let verified = request.extensions().get::<Verified>().unwrap().clone();
            let body = request.into_body().collect().await?.to_bytes();
            assert_eq!(&body, verified.body());
            let text = format!("{} {}", verified.id().unwrap_or("-"), body.len());
            Ok::<_, Infallible>(Response::new(Full::new(Bytes::from(text))))
        }
    });
    let verifying = VerifySignatureLayer::new(Generic, SECRET)
        .unwrap()
        .max_body_size(LIMIT)
        .clock(|| NOW)
        .layer(inner);
    let seen = Arc::clone(&arrivals);
    // Records each request as it arrives, then hands it to the layer untouched.
    let service = tower::service_fn(move |request: Request<Incoming>| {
        seen.lock().unwrap().push(Arrival {
            version: request.version(),
            content_length: request.headers().contains_key(header::CONTENT_LENGTH),
            exact_hint: request.body().size_hint().exact().is_some(),
        });
        verifying.clone().oneshot(request)
    });

    let accepted = Arc::clone(&connections);
    tokio::spawn(async move {
        loop {
            let (stream, _) = listener.accept().await.unwrap();
            accepted.fetch_add(1, Ordering::SeqCst);
            let service = TowerToHyperService::new(service.clone());
            tokio::spawn(async move {
                // A stream reset after an early refusal is not this test's concern.
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    Server {
        addr,
        calls,
        connections,
        arrivals,
    }
}

/// One HTTP/2 connection, spoken with prior knowledge.
async fn connect(addr: SocketAddr) -> SendRequest<Body> {
    let stream = TcpStream::connect(addr).await.unwrap();
    let (sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(async move {
        let _ = connection.await;
    });
    sender
}

fn full(body: &[u8]) -> Body {
    Full::new(Bytes::copy_from_slice(body))
        .map_err(|never| match never {})
        .boxed()
}

/// A body with no length known up front: sent as DATA frames with no `Content-Length`.
fn streamed(body: &[u8]) -> Body {
    let cuts: Vec<usize> = (1..body.len() / 1024).map(|i| i * 1024).collect();
    Chunks::split_at(body, &cuts)
        .map_err(BoxError::from)
        .boxed()
}

fn post(addr: SocketAddr, secret: &str, id: &str, signed_body: &[u8], body: Body) -> Request<Body> {
    let headers = Generic
        .sign(
            &Secret::new(secret),
            &Message::new(signed_body).timestamp(NOW).id(id),
        )
        .unwrap();
    let mut request = Request::post(format!("http://{addr}/webhook"))
        .version(Version::HTTP_2)
        .body(body)
        .unwrap();
    request.headers_mut().extend(headers);
    request
}

async fn answer(sender: &mut SendRequest<Body>, request: Request<Body>) -> (StatusCode, String) {
    sender.ready().await.unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_2);
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn signed_forged_and_oversized_streams_on_one_connection() {
    let server = start_server().await;
    let addr = server.addr;
    let mut sender = connect(addr).await;
    let body = br#"{"event":"order.completed","total":42}"#;

    let (status, text) = answer(&mut sender, post(addr, SECRET, "evt_1", body, full(body))).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "evt_1 38"));
    assert_eq!(server.calls.load(Ordering::SeqCst), 1);

    // Signed with another secret: refused, and the inner service never sees it.
    let forged = post(addr, "not-the-secret", "evt_2", body, full(body));
    let (status, text) = answer(&mut sender, forged).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, "signature does not match")
    );
    assert_eq!(server.calls.load(Ordering::SeqCst), 1, "forged: not called");

    // Over the limit with no declared length: cut off while it streams in.
    let too_big: Vec<u8> = (0..64 * 1024).map(|i| (i % 251) as u8).collect();
    let request = post(addr, SECRET, "evt_3", &too_big, streamed(&too_big));
    let (status, text) = answer(&mut sender, request).await;
    assert_eq!(
        (status, text.as_str()),
        (
            StatusCode::PAYLOAD_TOO_LARGE,
            "body is larger than the 4096 byte limit"
        )
    );
    let streamed_arrival = *server.arrivals.lock().unwrap().last().unwrap();
    assert_eq!(
        streamed_arrival,
        Arrival {
            version: Version::HTTP_2,
            content_length: false,
            exact_hint: false,
        },
        "the oversized body must arrive without a declared length"
    );

    // The same connection serves the next stream.
    let (status, text) = answer(&mut sender, post(addr, SECRET, "evt_4", body, full(body))).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "evt_4 38"));

    // Over the limit with a declared length: refused up front, and the connection lives on.
    let request = post(addr, SECRET, "evt_5", &too_big, full(&too_big));
    let (status, _) = answer(&mut sender, request).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let declared = *server.arrivals.lock().unwrap().last().unwrap();
    assert!(declared.exact_hint, "{declared:?}");

    // Exactly the limit, streamed, still verifies.
    let at_limit = &too_big[..LIMIT];
    let request = post(addr, SECRET, "evt_6", at_limit, streamed(at_limit));
    let (status, text) = answer(&mut sender, request).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "evt_6 4096"));

    assert_eq!(
        server.calls.load(Ordering::SeqCst),
        3,
        "only signed, fitting requests"
    );
    assert_eq!(
        server.connections.load(Ordering::SeqCst),
        1,
        "every stream travelled on one connection"
    );
    assert!(
        server
            .arrivals
            .lock()
            .unwrap()
            .iter()
            .all(|arrival| arrival.version == Version::HTTP_2)
    );
}

/// Concurrent streams of one connection are verified apart: each handler sees its own body
/// and id, and a forged stream among them is the only one refused.
#[tokio::test]
async fn concurrent_streams_are_verified_apart() {
    let server = start_server().await;
    let addr = server.addr;
    let sender = connect(addr).await;

    let tasks: Vec<_> = (0..16)
        .map(|i| {
            let mut sender = sender.clone();
            tokio::spawn(async move {
                let id = format!("evt_{i}");
                let body = format!(r#"{{"event":"n","i":{i},"pad":"{}"}}"#, "x".repeat(i * 97));
                let secret = if i == 5 { "forged" } else { SECRET };
                // Half the streams send their body in pieces.
                let sent = if i % 2 == 0 {
                    full(body.as_bytes())
                } else {
                    streamed(body.as_bytes())
                };
                let request = post(addr, secret, &id, body.as_bytes(), sent);
                let answer = answer(&mut sender, request).await;
                (i, body.len(), answer)
            })
        })
        .collect();
    for task in tasks {
        let (i, length, (status, text)) = task.await.unwrap();
        if i == 5 {
            assert_eq!(status, StatusCode::UNAUTHORIZED, "stream {i}");
        } else {
            assert_eq!(
                (status, text),
                (StatusCode::OK, format!("evt_{i} {length}")),
                "stream {i}"
            );
        }
    }
    assert_eq!(server.calls.load(Ordering::SeqCst), 15);
    assert_eq!(server.connections.load(Ordering::SeqCst), 1);
}
