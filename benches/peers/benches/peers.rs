//! tower-webhook against other webhook verifiers, at the verify bench's body sizes.
//!
//! `cargo bench` in `benches/peers/`. Each line compares one peer with tower-webhook on the same
//! scheme, same body, same secret: medians of interleaved batches (so both sides see the same
//! load from the rest of the machine). tower-webhook is measured end to end through its layer
//! (a `Request` in, the verified `Request` handed to a no-op service), which is more work than
//! the peers' plain function calls on a borrowed body and header map.
//!
//! - `standardwebhooks` 1.0.1 and `svix` 2.9.1 `Webhook::verify(payload, headers)` vs the
//!   `StandardWebhooks` scheme;
//! - `async-stripe-webhook` `Webhook::construct_event(payload, sig, secret)` vs the `Stripe`
//!   scheme (it also parses the event JSON after verifying; that is its API);
//! - a GitHub check as tutorials write it (HMAC, hex-encode, compare strings) vs `GitHub`.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use sha2::Sha256;
use tower_service::Service;
use tower_webhook::scheme::{GitHub, Message, Scheme, StandardWebhooks, Stripe};
use tower_webhook::{Secret, VerifiedBody, VerifySignature, VerifySignatureLayer};

const SIZES: [(&str, usize); 5] = [
    ("256", 256),
    ("1k", 1024),
    ("16k", 16 * 1024),
    ("64k", 64 * 1024),
    ("1m", 1024 * 1024),
];

const STANDARD_SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
const STRIPE_SECRET: &str = "whsec_test_secret_for_the_peers_bench";
const GITHUB_SECRET: &str = "It's a Secret to Everybody";

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs() as i64
}

/// The no-op inner service; it keeps the verified request so that freeing it happens outside
/// the timing (a server frees its requests with or without verification).
#[derive(Clone)]
struct NoOp {
    kept: Rc<RefCell<Vec<Request<VerifiedBody>>>>,
}

impl Service<Request<VerifiedBody>> for NoOp {
    type Response = Response<()>;
    type Error = Infallible;
    type Future = Ready<Result<Response<()>, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request<VerifiedBody>) -> Self::Future {
        self.kept.borrow_mut().push(request);
        ready(Ok(Response::new(())))
    }
}

/// Something verified `n` times in a row; seconds per verification.
trait Timed {
    fn batch(&mut self, n: usize) -> f64;
}

/// tower-webhook's layer with one secret.
struct Ours {
    service: VerifySignature<NoOp>,
    kept: Rc<RefCell<Vec<Request<VerifiedBody>>>>,
    headers: HeaderMap,
    body: Bytes,
}

impl Ours {
    fn new(scheme: impl Scheme, secret: &str, headers: HeaderMap, body: Bytes) -> Self {
        let kept = Rc::new(RefCell::new(Vec::with_capacity(1024)));
        let layer = VerifySignatureLayer::new(scheme, secret).expect("valid secret");
        let service = tower_layer_apply(
            &layer,
            NoOp {
                kept: Rc::clone(&kept),
            },
        );
        let mut ours = Self {
            service,
            kept,
            headers,
            body,
        };
        assert_eq!(ours.run(ours.request()), StatusCode::OK);
        ours
    }

    fn request(&self) -> Request<Full<Bytes>> {
        let mut request = Request::post("/webhook")
            .body(Full::new(self.body.clone()))
            .expect("valid request");
        *request.headers_mut() = self.headers.clone();
        request
    }

    fn run(&mut self, request: Request<Full<Bytes>>) -> StatusCode {
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Ok(())) =
            Service::<Request<Full<Bytes>>>::poll_ready(&mut self.service, &mut cx)
        else {
            unreachable!("always ready")
        };
        let future = pin!(self.service.call(request));
        match future.poll(&mut cx) {
            Poll::Ready(Ok(response)) => response.status(),
            Poll::Ready(Err(never)) => match never {},
            Poll::Pending => unreachable!("a full body never waits"),
        }
    }
}

fn tower_layer_apply(layer: &VerifySignatureLayer, inner: NoOp) -> VerifySignature<NoOp> {
    <VerifySignatureLayer as tower_layer::Layer<NoOp>>::layer(layer, inner)
}

impl Timed for Ours {
    fn batch(&mut self, n: usize) -> f64 {
        let requests: Vec<_> = (0..n).map(|_| self.request()).collect();
        let start = Instant::now();
        for request in requests {
            black_box(self.run(request));
        }
        let elapsed = start.elapsed().as_secs_f64() / n as f64;
        self.kept.borrow_mut().clear();
        elapsed
    }
}

/// A peer: a closure that verifies one delivery and says whether it passed.
struct Peer<F: FnMut() -> bool>(F);

impl<F: FnMut() -> bool> Timed for Peer<F> {
    fn batch(&mut self, n: usize) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            black_box((self.0)());
        }
        start.elapsed().as_secs_f64() / n as f64
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median seconds per verification of `ours` and of `peer`, from alternating batches.
fn compare(
    ours: &mut dyn Timed,
    peer: &mut dyn Timed,
    size: usize,
    budget: Duration,
) -> (f64, f64) {
    let n = (256 * 1024 / size).clamp(1, 512);
    for _ in 0..3 {
        ours.batch(n);
        peer.batch(n);
    }
    let (mut a, mut b) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut round = 0;
    while round < 21 || (start.elapsed() < budget && round < 2001) {
        if round % 2 == 0 {
            a.push(ours.batch(n));
            b.push(peer.batch(n));
        } else {
            b.push(peer.batch(n));
            a.push(ours.batch(n));
        }
        round += 1;
    }
    (median(a), median(b))
}

/// Printable JSON-ish bytes (valid UTF-8, as the Standard Webhooks crates require).
fn filler(size: usize) -> String {
    let pattern = r#"{"event":"payment.succeeded","amount":4200,"currency":"eur"},"#;
    pattern.chars().cycle().take(size).collect()
}

/// A Stripe event that `construct_event` parses, padded to `size` bytes with an extra field.
fn stripe_event(size: usize) -> String {
    let head = r#"{"id":"evt_test","object":"event","api_version":"2017-05-25","created":1492774577,"livemode":false,"pending_webhooks":1,"data":{"object":{"object":"bank_account","country":"us","currency":"usd","id":"ba_test","last4":"6789","status":"verified"}},"type":"account.external_account.created","padding":""#;
    let tail = r#""}"#;
    let pad = size.saturating_sub(head.len() + tail.len());
    format!("{head}{}{tail}", "x".repeat(pad))
}

fn standard_headers(body: &[u8], timestamp: i64) -> HeaderMap {
    StandardWebhooks
        .sign(
            &Secret::new(STANDARD_SECRET),
            &Message::new(body)
                .id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
                .timestamp(timestamp),
        )
        .expect("signs")
}

fn with_length(mut headers: HeaderMap, size: usize) -> HeaderMap {
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
    headers
}

fn github_as_tutorials_write_it(secret: &str, body: &[u8], header: &str) -> bool {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()).expect("any key");
    mac.update(body);
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    expected == header
}

fn main() {
    let budget = std::env::var("PEERS_BUDGET_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_millis(400), Duration::from_millis);
    let mut lines = Vec::new();
    let mut report = |peer: &str, label: &str, (ours, theirs): (f64, f64)| {
        let line = format!(
            "peer {peer:<22} {label:>4}  tower-webhook {:>10.3} µs  peer {:>10.3} µs  speedup {:>6.2}x",
            ours * 1e6,
            theirs * 1e6,
            theirs / ours
        );
        println!("{line}");
        lines.push(line);
    };

    for (label, size) in SIZES {
        let timestamp = now();
        let body = Bytes::from(filler(size));
        let headers = with_length(standard_headers(&body, timestamp), size);

        let mut ours = Ours::new(
            StandardWebhooks,
            STANDARD_SECRET,
            headers.clone(),
            body.clone(),
        );
        let webhook = standardwebhooks::Webhook::new(STANDARD_SECRET).expect("valid secret");
        webhook
            .verify(&body, &headers)
            .expect("standardwebhooks accepts it");
        let mut peer = Peer(|| {
            webhook
                .verify(black_box(&body), black_box(&headers))
                .is_ok()
        });
        report(
            "standardwebhooks",
            label,
            compare(&mut ours, &mut peer, size, budget),
        );

        let webhook = svix::webhooks::Webhook::new(STANDARD_SECRET).expect("valid secret");
        webhook.verify(&body, &headers).expect("svix accepts it");
        let mut peer = Peer(|| {
            webhook
                .verify(black_box(&body), black_box(&headers))
                .is_ok()
        });
        report("svix", label, compare(&mut ours, &mut peer, size, budget));

        let event = stripe_event(size);
        let signature =
            stripe_webhook::Webhook::generate_test_header(&event, STRIPE_SECRET, Some(timestamp));
        stripe_webhook::Webhook::construct_event(&event, &signature, STRIPE_SECRET)
            .expect("async-stripe-webhook accepts it");
        let mut stripe_headers = HeaderMap::new();
        stripe_headers.insert(
            "stripe-signature",
            HeaderValue::from_str(&signature).expect("ascii"),
        );
        let mut ours_stripe = Ours::new(
            Stripe,
            STRIPE_SECRET,
            with_length(stripe_headers, event.len()),
            Bytes::from(event.clone()),
        );
        let mut peer = Peer(|| {
            stripe_webhook::Webhook::construct_event(
                black_box(&event),
                black_box(&signature),
                STRIPE_SECRET,
            )
            .is_ok()
        });
        report(
            "async-stripe-webhook",
            label,
            compare(&mut ours_stripe, &mut peer, size, budget),
        );

        let github = GitHub
            .sign(&Secret::new(GITHUB_SECRET), &Message::new(&body))
            .expect("signs");
        let header = github["x-hub-signature-256"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(github_as_tutorials_write_it(GITHUB_SECRET, &body, &header));
        let mut ours_github = Ours::new(
            GitHub,
            GITHUB_SECRET,
            with_length(github, size),
            body.clone(),
        );
        let mut peer = Peer(|| {
            github_as_tutorials_write_it(GITHUB_SECRET, black_box(&body), black_box(&header))
        });
        report(
            "github-tutorial",
            label,
            compare(&mut ours_github, &mut peer, size, budget),
        );
    }

    println!("\nsummary (medians of interleaved batches):");
    for line in lines {
        println!("{line}");
    }
}
