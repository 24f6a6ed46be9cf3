//! Load: 20 000 mixed webhooks through an axum server on loopback, 64 keep-alive connections.
//!
//! Every verdict is checked, and every valid body must reach the handler byte for byte exactly
//! once. Ignored by default (it wants a release build); `.ci/run` runs it with
//! `cargo test --release --test load -- --ignored --nocapture`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{HeaderMap, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tower_webhook::replay::MemoryReplayGuard;
use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
use tower_webhook::{Clock, Secret, SystemClock, Verified, VerifySignatureLayer};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const REQUESTS: usize = 20_000;
const CONNECTIONS: usize = 64;
const MAX_BODY: usize = 64 * 1024;
/// The whole run must end by then, whatever happens.
const DEADLINE: Duration = Duration::from_secs(120);
const PER_REQUEST: Duration = Duration::from_secs(20);

/// What one request is, and so what the server must answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    /// Signed now, new id: 200, and its body reaches the handler.
    Valid,
    /// One body byte changed after signing: 401.
    Forged,
    /// Signed an hour ago: 401.
    Stale,
    /// The exact bytes of a delivery this connection already got accepted: 409.
    Replayed,
    /// Larger than the limit: 413.
    Oversized,
    /// The same delivery sent on two connections at about the same time: one 200, one 409.
    Twin,
}

#[derive(Clone)]
struct Delivery {
    kind: Kind,
    id: String,
    headers: HeaderMap,
    body: Bytes,
}

/// A deterministic body of some length between 16 bytes and 8 KiB, unique to `n`.
fn body(n: usize, salt: u64) -> Bytes {
    let mut state = (n as u64 ^ salt)
        .wrapping_mul(6364136223846793005)
        .wrapping_add(1);
    let len = 16 + (state >> 33) as usize % 8192;
    let mut bytes = format!("{{\"n\":{n},\"pad\":\"").into_bytes();
    while bytes.len() < len {
        state = state
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        bytes.push(b'a' + (state >> 59) as u8);
    }
    bytes.extend_from_slice(b"\"}");
    Bytes::from(bytes)
}

fn signed(kind: Kind, id: String, body: Bytes, timestamp: i64) -> Delivery {
    let headers = StandardWebhooks
        .sign(
            &Secret::new(SECRET),
            &Message::new(&body).id(&id).timestamp(timestamp),
        )
        .unwrap();
    Delivery {
        kind,
        id,
        headers,
        body,
    }
}

/// The requests of each connection, in order. Twins appear in two neighbouring connections'
/// plans at the same step.
fn plans() -> Vec<Vec<Delivery>> {
    let now = SystemClock.unix_now();
    let steps = REQUESTS / CONNECTIONS;
    let mut plans: Vec<Vec<Delivery>> = (0..CONNECTIONS).map(|_| Vec::new()).collect();
    let mut n = 0;
    for step in 0..steps {
        for connection in 0..CONNECTIONS {
            if plans[connection].len() > step {
                continue; // already given this step's twin
            }
            n += 1;
            let id = format!("msg_{n}");
            let delivery = match (step + connection) % 10 {
                5 => {
                    let mut delivery = signed(Kind::Forged, id, body(n, 1), now);
                    let mut bytes = delivery.body.to_vec();
                    let middle = bytes.len() / 2;
                    bytes[middle] ^= 1;
                    delivery.body = Bytes::from(bytes);
                    delivery
                }
                6 => signed(Kind::Stale, id, body(n, 2), now - 3600),
                7 => match plans[connection]
                    .iter()
                    .rev()
                    .find(|delivery| delivery.kind == Kind::Valid)
                {
                    Some(earlier) => Delivery {
                        kind: Kind::Replayed,
                        ..earlier.clone()
                    },
                    None => signed(Kind::Valid, id, body(n, 0), now),
                },
                8 => {
                    let big = Bytes::from(vec![b'x'; MAX_BODY + 1 + n % 1024]);
                    signed(Kind::Oversized, id, big, now)
                }
                9 if connection + 1 < CONNECTIONS => {
                    let twin = signed(Kind::Twin, id, body(n, 3), now);
                    plans[connection + 1].push(twin.clone());
                    twin
                }
                _ => signed(Kind::Valid, id, body(n, 0), now),
            };
            plans[connection].push(delivery);
        }
    }
    // Fill up to exactly REQUESTS with valid ones on the first connections.
    let mut connection = 0;
    while plans.iter().map(Vec::len).sum::<usize>() < REQUESTS {
        n += 1;
        plans[connection].push(signed(Kind::Valid, format!("msg_{n}"), body(n, 0), now));
        connection += 1;
    }
    plans
}

type Seen = Arc<Mutex<HashMap<String, Vec<Bytes>>>>;

async fn handler(Extension(verified): Extension<Verified>, body: Bytes, seen: Seen) -> StatusCode {
    let id = verified.id().unwrap_or_default().to_owned();
    seen.lock().unwrap().entry(id).or_default().push(body);
    StatusCode::OK
}

async fn serve(seen: Seen) -> std::net::SocketAddr {
    let layer = VerifySignatureLayer::new(StandardWebhooks, SECRET)
        .unwrap()
        .max_body_size(MAX_BODY)
        .replay_guard(MemoryReplayGuard::new(100_000));
    let app = Router::new()
        .route(
            "/webhook",
            post(move |verified, body| handler(verified, body, seen.clone())),
        )
        .layer(layer);
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    address
}

type Sender = hyper::client::conn::http1::SendRequest<Full<Bytes>>;

async fn connect(address: std::net::SocketAddr) -> Sender {
    let stream = TcpStream::connect(address).await.unwrap();
    stream.set_nodelay(true).unwrap();
    let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    sender
}

/// Sends a connection's plan in order over one keep-alive connection, opening a new one only
/// after a 413 (or if the server closed it otherwise).
async fn run(
    address: std::net::SocketAddr,
    plan: Vec<Delivery>,
) -> (Vec<(Delivery, StatusCode)>, usize) {
    let mut sender = connect(address).await;
    let mut reconnects = 0;
    let mut verdicts = Vec::with_capacity(plan.len());
    for delivery in plan {
        if sender.ready().await.is_err() {
            sender = connect(address).await;
            reconnects += 1;
        }
        let mut request = Request::post("/webhook")
            .header("host", "127.0.0.1")
            .body(Full::new(delivery.body.clone()))
            .unwrap();
        request.headers_mut().extend(delivery.headers.clone());
        let response = tokio::time::timeout(PER_REQUEST, sender.send_request(request))
            .await
            .expect("a request took longer than 20 s")
            .unwrap_or_else(|error| {
                panic!(
                    "{:?} request {} failed: {error}",
                    delivery.kind, delivery.id
                )
            });
        let status = response.status();
        response.into_body().collect().await.unwrap();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            // The server refused without reading the body, so it closes this connection after
            // the response (without saying so in a header); a sender must open a new one.
            sender = connect(address).await;
            reconnects += 1;
        }
        verdicts.push((delivery, status));
    }
    (verdicts, reconnects)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "load test: run with --release -- --ignored"]
async fn twenty_thousand_mixed_webhooks_over_64_connections() {
    let plans = plans();
    let sent: usize = plans.iter().map(Vec::len).sum();
    assert_eq!(sent, REQUESTS);

    let seen = Seen::default();
    let address = serve(seen.clone()).await;
    let started = Instant::now();
    let tasks: Vec<_> = plans
        .into_iter()
        .map(|plan| tokio::spawn(run(address, plan)))
        .collect();
    let results = tokio::time::timeout(DEADLINE, async {
        let mut results = Vec::new();
        for task in tasks {
            results.push(task.await.unwrap());
        }
        results
    })
    .await
    .expect("the load test did not finish within its deadline");
    let elapsed = started.elapsed();

    let mut counts: HashMap<(Kind, StatusCode), usize> = HashMap::new();
    let mut twins: HashMap<String, Vec<StatusCode>> = HashMap::new();
    let mut accepted: HashMap<String, Bytes> = HashMap::new();
    let mut reconnects = 0;
    for (verdicts, reconnected) in results {
        reconnects += reconnected;
        for (delivery, status) in verdicts {
            *counts.entry((delivery.kind, status)).or_default() += 1;
            let expected = match delivery.kind {
                Kind::Valid => StatusCode::OK,
                Kind::Forged | Kind::Stale => StatusCode::UNAUTHORIZED,
                Kind::Replayed => StatusCode::CONFLICT,
                Kind::Oversized => StatusCode::PAYLOAD_TOO_LARGE,
                Kind::Twin => {
                    twins.entry(delivery.id.clone()).or_default().push(status);
                    if status == StatusCode::OK {
                        accepted.insert(delivery.id.clone(), delivery.body.clone());
                    }
                    continue;
                }
            };
            assert_eq!(
                status, expected,
                "{:?} request {}",
                delivery.kind, delivery.id
            );
            if delivery.kind == Kind::Valid {
                assert!(accepted.insert(delivery.id, delivery.body).is_none());
            }
        }
    }
    for (id, mut statuses) in twins.iter().map(|(id, s)| (id, s.clone())) {
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "twin {id}"
        );
    }

    // Nothing lost, nothing doubled, nothing unverified: the handler saw exactly the accepted
    // deliveries, each once, byte for byte.
    let seen = seen.lock().unwrap();
    assert_eq!(
        seen.len(),
        accepted.len(),
        "the handler saw other ids than were accepted"
    );
    for (id, body) in &accepted {
        let bodies = seen
            .get(id)
            .unwrap_or_else(|| panic!("{id} was accepted but never handled"));
        assert_eq!(bodies.len(), 1, "{id} was handled {} times", bodies.len());
        assert!(
            bodies[0] == body,
            "{id} reached the handler with other bytes"
        );
    }

    let count = |kind| {
        counts
            .iter()
            .filter(|((k, _), _)| *k == kind)
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    println!(
        "load: {sent} requests, {CONNECTIONS} connections, {:.2} s, {:.0} req/s: valid {} (200), \
         forged {} (401), stale {} (401), replayed {} (409), oversized {} (413), \
         twins {} pairs (one 200 + one 409 each); handler got {} bodies, each once and intact; \
         {reconnects} reconnects",
        elapsed.as_secs_f64(),
        sent as f64 / elapsed.as_secs_f64(),
        count(Kind::Valid),
        count(Kind::Forged),
        count(Kind::Stale),
        count(Kind::Replayed),
        count(Kind::Oversized),
        twins.len(),
        seen.len(),
    );
}
