//! How close verification comes to the cost of HMAC-SHA256 itself.
//!
//! `cargo bench --bench verify` runs criterion groups for the floor (raw HMAC-SHA256, key setup
//! included), the layer end to end for every scheme, rotation and a forged request, then measures
//! each ratio again with interleaved batches (so both sides of a ratio see the same load from the
//! rest of the machine) and prints one `ratio …` line per case, after the shape floor
//! (`ShapeFloor`), which gets no `ratio` line. `VERIFY_RATIOS_ONLY=1` skips the criterion
//! groups. Run without `--bench` (as `cargo test --benches` does) it only checks that every case
//! verifies.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::{Future, Ready, ready};
use std::hint::black_box;
use std::pin::pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use bytes::Bytes;
use criterion::{BatchSize, BenchmarkId, Criterion, Throughput};
use hmac::{Hmac, KeyInit, Mac};
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::Full;
use sha2::Sha256;
use tower::Service;
use tower_webhook::scheme::{
    Generic, GitHub, Message, Scheme, Shopify, Slack, StandardWebhooks, Stripe,
};
use tower_webhook::{
    Clock, Secret, SystemClock, VerifiedBody, VerifySignature, VerifySignatureLayer,
};

/// The layer's timestamp window in the bench: the layer reads the system clock, as a server's
/// does, and a day is more than any run lasts, so no signed timestamp leaves the window.
const WINDOW: Duration = Duration::from_secs(24 * 60 * 60);

const SIZES: [(&str, usize); 5] = [
    ("256", 256),
    ("1k", 1024),
    ("16k", 16 * 1024),
    ("64k", 64 * 1024),
    ("1m", 1024 * 1024),
];

const FLOOR_KEY: &[u8] = b"a 32-byte HMAC key for the floor";

/// The inner service: answers at once. It keeps the verified request instead of dropping it,
/// so that freeing the request (its headers, its body), which a server does with or without
/// the layer, happens after the clock stops, like the construction of the request before it.
#[derive(Clone)]
struct NoOp {
    kept: Rc<RefCell<Vec<Request<VerifiedBody>>>>,
}

impl NoOp {
    fn new() -> Self {
        Self {
            kept: Rc::new(RefCell::new(Vec::with_capacity(1024))),
        }
    }
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

/// One request shape: a service, and the headers and body of a request it should see.
struct Case {
    service: VerifySignature<NoOp>,
    headers: HeaderMap,
    body: Bytes,
}

/// A fresh request with these headers and body, as a server would hand it to the layer.
fn request(headers: &HeaderMap, body: &Bytes) -> Request<Full<Bytes>> {
    let mut request = Request::post("/webhook")
        .body(Full::new(body.clone()))
        .expect("valid request");
    *request.headers_mut() = headers.clone();
    request
}

/// Calls the ready service and runs the whole response future.
fn run(service: &mut VerifySignature<NoOp>, request: Request<Full<Bytes>>) -> StatusCode {
    let mut cx = Context::from_waker(Waker::noop());
    let Poll::Ready(Ok(())) = Service::<Request<Full<Bytes>>>::poll_ready(service, &mut cx) else {
        unreachable!("the no-op service is always ready")
    };
    let future = pin!(service.call(request));
    match future.poll(&mut cx) {
        Poll::Ready(Ok(response)) => response.status(),
        Poll::Ready(Err(never)) => match never {},
        Poll::Pending => unreachable!("a full body and a ready service never wait"),
    }
}

impl Case {
    fn request(&self) -> Request<Full<Bytes>> {
        request(&self.headers, &self.body)
    }

    fn run(&mut self, request: Request<Full<Bytes>>) -> StatusCode {
        run(&mut self.service, request)
    }

    /// The same measurement as criterion's, with request construction outside the timing.
    fn bench(&mut self, b: &mut criterion::Bencher<'_>) {
        let Case {
            service,
            headers,
            body,
        } = self;
        let kept = Rc::clone(&service.get_ref().kept);
        b.iter_batched(
            || {
                kept.borrow_mut().clear();
                request(headers, body)
            },
            |request| run(service, request),
            BatchSize::NumIterations(512),
        )
    }
}

fn body(size: usize) -> Bytes {
    // JSON-ish printable bytes, as webhooks carry.
    let pattern = br#"{"event":"payment.succeeded","amount":4200,"currency":"eur"},"#;
    Bytes::from(
        pattern
            .iter()
            .copied()
            .cycle()
            .take(size)
            .collect::<Vec<u8>>(),
    )
}

fn secret_for(scheme: &str, n: usize) -> String {
    match scheme {
        // Standard Webhooks secrets are base64 after `whsec_`; 24 bytes like Svix's.
        "standard-webhooks" => {
            use base64::Engine as _;
            let key = [b'k' + n as u8; 24];
            format!(
                "whsec_{}",
                base64::engine::general_purpose::STANDARD.encode(key)
            )
        }
        _ => format!("bench-secret-{scheme}-{n}"),
    }
}

const SCHEMES: [&str; 6] = [
    "github",
    "stripe",
    "slack",
    "standard-webhooks",
    "shopify",
    "generic",
];

/// A valid request for the scheme named `name`, `secrets` configured, signed by the last.
fn case(name: &str, secrets: usize, size: usize) -> Case {
    match name {
        "github" => case_for(GitHub, secrets, size),
        "stripe" => case_for(Stripe, secrets, size),
        "slack" => case_for(Slack, secrets, size),
        "standard-webhooks" => case_for(StandardWebhooks, secrets, size),
        "shopify" => case_for(Shopify, secrets, size),
        "generic" => case_for(Generic, secrets, size),
        other => unreachable!("no scheme {other}"),
    }
}

fn case_for(scheme: impl Scheme, secrets: usize, size: usize) -> Case {
    let name = scheme.name().to_owned();
    let configured: Vec<String> = (0..secrets).map(|n| secret_for(&name, n)).collect();
    let signer = Secret::new(configured[secrets - 1].clone());
    let body = body(size);
    let message = Message::new(&body)
        .id("msg_2KWPBgLlAfxdpx2AI54pPJ85f4W")
        .timestamp(SystemClock.unix_now())
        .event_type("payment.succeeded");
    let mut headers = scheme.sign(&signer, &message).expect("bench message signs");
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let layer = VerifySignatureLayer::new(scheme, configured)
        .expect("bench secrets are valid")
        .tolerance(WINDOW);
    let service = tower::Layer::layer(&layer, NoOp::new());
    Case {
        service,
        headers,
        body,
    }
}

/// A GitHub request whose signature header is not hex: refused before the body is read.
fn forged(size: usize) -> Case {
    let mut case = case("github", 1, size);
    case.headers.insert(
        "x-hub-signature-256",
        HeaderValue::from_static("sha256=forged-and-not-even-hex"),
    );
    case
}

fn raw_hmac(key: &[u8], body: &[u8]) -> [u8; 32] {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(key).expect("any key length");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

fn criterion_groups(c: &mut Criterion) {
    let mut group = c.benchmark_group("hmac-sha256");
    for (label, size) in SIZES {
        let body = body(size);
        group.throughput(Throughput::Bytes(size as u64));
        group.bench_function(BenchmarkId::from_parameter(label), |b| {
            b.iter(|| raw_hmac(black_box(FLOOR_KEY), black_box(&body)))
        });
    }
    group.finish();

    for name in SCHEMES {
        let mut group = c.benchmark_group(format!("layer/{name}"));
        for (label, size) in SIZES {
            let mut case = case(name, 1, size);
            group.throughput(Throughput::Bytes(size as u64));
            group.bench_function(BenchmarkId::from_parameter(label), |b| case.bench(b));
        }
        group.finish();
    }

    let mut group = c.benchmark_group("layer/special");
    let mut cases = vec![
        ("rotation-1/64k", case("github", 1, 64 * 1024)),
        ("rotation-2/64k", case("github", 2, 64 * 1024)),
        ("rotation-4/64k", case("github", 4, 64 * 1024)),
        ("forged/1m", forged(1024 * 1024)),
        ("valid/1k", case("github", 1, 1024)),
    ];
    for (label, case) in &mut cases {
        group.bench_function(*label, |b| case.bench(b));
    }
    group.finish();
}

/// Something timed per operation, in batches.
trait Timed {
    /// Seconds per operation over one batch of `n`.
    fn batch(&mut self, n: usize) -> f64;
}

struct Raw(Bytes);

impl Timed for Raw {
    fn batch(&mut self, n: usize) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(raw_hmac(black_box(FLOOR_KEY), black_box(&self.0)));
        }
        start.elapsed().as_secs_f64() / n as f64
    }
}

impl Timed for Case {
    fn batch(&mut self, n: usize) -> f64 {
        let requests: Vec<_> = (0..n).map(|_| self.request()).collect();
        let start = Instant::now();
        for request in requests {
            black_box(self.run(request));
        }
        let elapsed = start.elapsed().as_secs_f64() / n as f64;
        self.service.get_ref().kept.borrow_mut().clear();
        elapsed
    }
}

/// About the least a layer of this shape can do, as a reference point for the layer's own
/// cost: take the request apart, read and decode GitHub's signature header, take the one frame
/// a `Full` body has, HMAC it with a state keyed in advance, compare in constant time, put the
/// request back together with the body and a one-pointer proof in its extensions, and hand it
/// on. No tower service or future, no id or event header, no end-of-stream poll, no size limit,
/// no error to report. Its HMAC is the `hmac` crate's keyed state, cloned per request, which is
/// larger than the layer's own (`src/mac.rs`): so it is not the strict least, and the layer's
/// distance from the least is a little larger than the printed figures show.
struct ShapeFloor {
    keyed: Hmac<Sha256>,
    headers: HeaderMap,
    body: Bytes,
    kept: Vec<Request<Bytes>>,
}

#[derive(Clone)]
struct Proof(#[allow(dead_code)] Arc<Bytes>);

impl ShapeFloor {
    fn new(size: usize) -> Self {
        let Case { headers, body, .. } = case("github", 1, size);
        let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(secret_for("github", 0).as_bytes())
            .expect("any key length");
        Self {
            keyed,
            headers,
            body,
            kept: Vec::with_capacity(1024),
        }
    }

    fn run(&mut self, request: Request<Full<Bytes>>) -> bool {
        use http_body::Body as _;
        let (parts, body) = request.into_parts();
        let Some(tag) = parts
            .headers
            .get("x-hub-signature-256")
            .and_then(|value| value.as_bytes().strip_prefix(b"sha256="))
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| tower_webhook::scheme::Encoding::Hex.decode(hex))
        else {
            return false;
        };
        let mut cx = Context::from_waker(Waker::noop());
        let Poll::Ready(Some(Ok(frame))) = pin!(body).poll_frame(&mut cx) else {
            return false;
        };
        let Ok(data) = frame.into_data() else {
            return false;
        };
        let mut mac = self.keyed.clone();
        mac.update(&data);
        if mac.verify_slice(&tag).is_err() {
            return false;
        }
        let mut request = Request::from_parts(parts, data.clone());
        request.extensions_mut().insert(Proof(Arc::new(data)));
        self.kept.push(request);
        true
    }
}

impl Timed for ShapeFloor {
    fn batch(&mut self, n: usize) -> f64 {
        let requests: Vec<_> = (0..n).map(|_| request(&self.headers, &self.body)).collect();
        let start = Instant::now();
        for request in requests {
            assert!(black_box(self.run(request)));
        }
        let elapsed = start.elapsed().as_secs_f64() / n as f64;
        self.kept.clear();
        elapsed
    }
}

fn minimum(values: Vec<f64>) -> f64 {
    values.into_iter().fold(f64::INFINITY, f64::min)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

/// Median of `a` ÷ median of `b`, from alternating batches of each.
fn ratio(a: &mut dyn Timed, b: &mut dyn Timed, size: usize, budget: Duration) -> (f64, f64, f64) {
    // Batches of about 256 KiB of body, at least one request.
    let n = (256 * 1024 / size.max(1)).clamp(1, 512);
    // Warm up both sides (the allocator's free lists, the caches, the clock speed) for a tenth
    // of a second, not a fixed number of batches: a 256-byte batch lasts a fraction of a
    // millisecond.
    let warm_up = Instant::now();
    while warm_up.elapsed() < Duration::from_millis(100) {
        a.batch(n);
        b.batch(n);
    }
    let (mut times_a, mut times_b) = (Vec::new(), Vec::new());
    let start = Instant::now();
    let mut round = 0;
    while round < 31 || (start.elapsed() < budget && round < 2001) {
        if round % 2 == 0 {
            times_a.push(a.batch(n));
            times_b.push(b.batch(n));
        } else {
            times_b.push(b.batch(n));
            times_a.push(a.batch(n));
        }
        round += 1;
    }
    let (median_a, median_b) = if std::env::var_os("VERIFY_RATIO_MIN").is_some() {
        // The fastest batch of each side: steadier than the median when comparing two builds
        // of the layer on a machine whose neighbours come and go.
        (minimum(times_a), minimum(times_b))
    } else {
        (median(times_a), median(times_b))
    };
    (median_a / median_b, median_a, median_b)
}

fn ratios(budget: Duration) {
    let mut lines = Vec::new();
    let mut floors = Vec::new();
    let mut detail = Vec::new();
    // `VERIFY_RATIO_FILTER=github/256` measures only the ratios whose name contains it.
    let filter = std::env::var("VERIFY_RATIO_FILTER").unwrap_or_default();
    let wanted = |name: &str| name.contains(filter.as_str());
    let mut record = |name: String, (r, a, b): (f64, f64, f64)| {
        detail.push(format!(
            "{name:<28} {:>12.3} µs ÷ {:>12.3} µs",
            a * 1e6,
            b * 1e6
        ));
        // The shape's floor is a reference point, not one of issue 5's cases: it gets no
        // `ratio` line.
        match name.strip_prefix("shape-floor/") {
            Some(size) => floors.push(format!("shape-floor {size} {r:.3}")),
            None => lines.push(format!("ratio {name} {r:.3}")),
        }
    };
    for name in SCHEMES {
        for (label, size) in SIZES {
            if !wanted(&format!("{name}/{label}")) {
                continue;
            }
            let mut layer = case(name, 1, size);
            let mut raw = Raw(body(size));
            record(
                format!("{name}/{label}"),
                ratio(&mut layer, &mut raw, size, budget),
            );
        }
    }
    for (label, size) in SIZES {
        if !wanted(&format!("shape-floor/{label}")) {
            continue;
        }
        let mut floor = ShapeFloor::new(size);
        let mut raw = Raw(body(size));
        record(
            format!("shape-floor/{label}"),
            ratio(&mut floor, &mut raw, size, budget),
        );
    }
    let size = 64 * 1024;
    let mut one = case("github", 1, size);
    for k in [2, 4] {
        if !wanted(&format!("rotation-{k}")) {
            continue;
        }
        let mut rotated = case("github", k, size);
        record(
            format!("rotation-{k}"),
            ratio(&mut rotated, &mut one, size, budget),
        );
    }
    if wanted("forged-1m") {
        let mut forged = forged(1024 * 1024);
        let mut valid = case("github", 1, 1024);
        record(
            "forged-1m".to_owned(),
            ratio(&mut forged, &mut valid, 1024, budget),
        );
    }

    println!("\nmedians (interleaved batches; numerator ÷ denominator):");
    for line in detail {
        println!("  {line}");
    }
    if !floors.is_empty() {
        println!("\nthe least a layer of this shape does, ÷ raw (GitHub-shaped; see ShapeFloor):");
        for line in floors {
            println!("  {line}");
        }
    }
    println!();
    for line in lines {
        println!("{line}");
    }
}

/// Without `--bench`: every case is answered as expected, once.
fn smoke() {
    for name in SCHEMES {
        for (_, size) in SIZES {
            let mut case = case(name, 1, size);
            let request = case.request();
            assert_eq!(case.run(request), StatusCode::OK, "{name}");
        }
    }
    for k in [2, 4] {
        let mut case = case("github", k, 1024);
        let request = case.request();
        assert_eq!(case.run(request), StatusCode::OK);
    }
    let mut forged = forged(1024 * 1024);
    let refused = forged.request();
    assert_eq!(forged.run(refused), StatusCode::BAD_REQUEST);
    for (_, size) in SIZES {
        let mut floor = ShapeFloor::new(size);
        let valid = request(&floor.headers, &floor.body);
        assert!(floor.run(valid), "the shape's floor verifies");
    }
    println!("verify bench: every case answers as expected (run `cargo bench` to measure)");
}

fn main() {
    if !std::env::args().any(|arg| arg == "--bench") {
        smoke();
        return;
    }
    smoke();
    if std::env::var_os("VERIFY_RATIOS_ONLY").is_none() {
        let mut criterion = Criterion::default()
            .warm_up_time(Duration::from_millis(300))
            .measurement_time(Duration::from_millis(800))
            .sample_size(20)
            .configure_from_args();
        criterion_groups(&mut criterion);
        criterion.final_summary();
    }
    let budget = std::env::var("VERIFY_RATIO_BUDGET_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .map_or(Duration::from_millis(400), Duration::from_millis);
    ratios(budget);
}
