//! How close verification comes to the cost of the bare cryptography.
//!
//! `cargo bench --bench verify` runs criterion groups for the floor (raw HMAC-SHA256, key setup
//! included), the layer end to end for every HMAC-SHA256 scheme, rotation, a forged request, the
//! asymmetric schemes, HMAC-SHA1 and HMAC-SHA512 presets and Twilio's form, then measures each
//! ratio again with interleaved batches (so both sides of a ratio see the same load from the rest
//! of the machine) and prints one `ratio …` line per case, after the shape floor (`ShapeFloor`),
//! which gets no `ratio` line:
//!
//! - `ratio <scheme>/<size>`: the layer ÷ raw HMAC-SHA256 of the body;
//! - `ratio rotation-<k>`: the layer with k secrets (signed by the last) ÷ with one, at 64 KiB;
//! - `ratio forged-1m`: a 1 MiB request with a malformed signature ÷ a valid 1 KiB one;
//! - `ratio ed25519/64k`: the layer verifying a 64 KiB Standard Webhooks `v1a` delivery (Ed25519,
//!   streamed) ÷ one `ed25519_dalek::VerifyingKey::verify` of the same signed message in one piece;
//! - `ratio ecdsa/64k`: the layer verifying a 64 KiB SendGrid delivery (ECDSA P-256) ÷ one p256
//!   `VerifyingKey::verify` of the same signed message in one piece;
//! - `ratio discord/64k`: the same as `ed25519/64k` for a Discord delivery (`{ts}{body}`);
//! - `ratio github-sha1/<size>`, `ratio paystack/<size>` (1 KiB, 64 KiB, 1 MiB): the other HMAC
//!   families through a preset that signs the body alone ÷ raw HMAC-SHA1 or HMAC-SHA512 of the
//!   body, key setup included;
//! - `ratio twilio/1k`, `ratio twilio/64k`: the layer verifying a Twilio form of many fields
//!   (read whole, decoded, sorted, the URL tried in each spelling) ÷ raw HMAC-SHA1 of the URL
//!   and the sorted fields, which the bench writes itself; a `twilio-direct` line (no target)
//!   gives the same for a direct canonicalisation (`TwilioDirect`).
//!
//! Environment: `VERIFY_RATIOS_ONLY=1` skips the criterion groups; `VERIFY_RATIO_FILTER=<text>`
//! measures only the ratios whose name contains it (or any of several, comma-separated);
//! `VERIFY_RATIO_BUDGET_MS` (default 400) is each ratio's time budget; `VERIFY_RATIO_MIN=1`
//! compares the fastest batches instead of the medians. Run without `--bench` (as `cargo test
//! --benches` does) it only checks, once, that every case is answered as expected, including
//! that the asymmetric deliveries verify both through the layer and with the reference crates,
//! that each raw HMAC is the tag the request carries (Twilio's computed from fields the bench
//! sorts itself), and that tampered deliveries are refused.

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
use sha1::Sha1;
use sha2::{Sha256, Sha512};
use tower::Service;
use tower_webhook::crypto::{Algorithm, Encoding, PublicKey};
use tower_webhook::scheme::{
    self, Discord, Generic, GitHub, Message, Part, Scheme, SendGrid, Shopify, Slack,
    StandardWebhooks, Stripe, Twilio,
};
use tower_webhook::{
    Clock, Secret, Secrets, SystemClock, VerifiedBody, VerifySignature, VerifySignatureLayer,
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
    signed_case(scheme, &signer, configured, size).0
}

const DELIVERY_ID: &str = "msg_2KWPBgLlAfxdpx2AI54pPJ85f4W";

/// A delivery of `size` bytes signed by `signer` with the crate's own `Scheme::sign`, and a
/// layer that accepts `keys`; with the timestamp it was signed at.
fn signed_case(
    scheme: impl Scheme,
    signer: &Secret,
    keys: impl Into<Secrets>,
    size: usize,
) -> (Case, i64) {
    let body = body(size);
    let timestamp = SystemClock.unix_now();
    let message = Message::new(&body)
        .id(DELIVERY_ID)
        .timestamp(timestamp)
        .event_type("payment.succeeded");
    let mut headers = scheme.sign(signer, &message).expect("bench message signs");
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    let layer = VerifySignatureLayer::new(scheme, keys)
        .expect("bench keys are valid")
        .tolerance(WINDOW);
    let service = tower::Layer::layer(&layer, NoOp::new());
    let case = Case {
        service,
        headers,
        body,
    };
    (case, timestamp)
}

/// The asymmetric cases' body size.
const ASYMMETRIC_SIZE: usize = 64 * 1024;

/// Fixed bytes for the asymmetric cases' private keys: test keys, not secrets. Any 32 bytes are
/// an Ed25519 seed; these, read as a big-endian number, are a P-256 scalar (below the order).
const ED25519_SEED: [u8; 32] = [0x5e; 32];
const P256_SCALAR: [u8; 32] = [0x11; 32];

/// The asymmetric schemes the bench signs and verifies, each with a `ratio` line (see
/// `ASYMMETRIC_RATIOS`).
const ASYMMETRIC: [&str; 3] = ["standard-webhooks-v1a", "discord", "sendgrid"];

/// An asymmetric delivery through the layer, and the same delivery checked in one call by the
/// reference crate (the signed message in one piece, the key and signature decoded beforehand).
struct Asymmetric {
    case: Case,
    one_shot: OneShot,
}

enum OneShot {
    Ed25519 {
        key: ed25519_dalek::VerifyingKey,
        message: Vec<u8>,
        signature: ed25519_dalek::Signature,
    },
    Ecdsa {
        key: p256::ecdsa::VerifyingKey,
        message: Vec<u8>,
        signature: p256::ecdsa::Signature,
    },
}

impl OneShot {
    fn verify(&self) -> bool {
        // The `signature` crate's `Verifier`, which both keys implement.
        use ed25519_dalek::Verifier as _;
        match self {
            Self::Ed25519 {
                key,
                message,
                signature,
            } => key.verify(black_box(message), black_box(signature)).is_ok(),
            Self::Ecdsa {
                key,
                message,
                signature,
            } => key.verify(black_box(message), black_box(signature)).is_ok(),
        }
    }

    fn message_mut(&mut self) -> &mut Vec<u8> {
        match self {
            Self::Ed25519 { message, .. } | Self::Ecdsa { message, .. } => message,
        }
    }
}

impl Timed for OneShot {
    fn batch(&mut self, n: usize) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(self.verify());
        }
        start.elapsed().as_secs_f64() / n as f64
    }
}

/// The bytes `scheme` signs for the bench's delivery: its signed content, in one piece.
fn signed_message(scheme: &dyn Scheme, timestamp: i64, body: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(body.len() + 64);
    for part in scheme.signed_content() {
        match part {
            Part::Id => message.extend_from_slice(DELIVERY_ID.as_bytes()),
            Part::Timestamp => message.extend_from_slice(timestamp.to_string().as_bytes()),
            Part::Body => message.extend_from_slice(body),
            Part::Literal(text) => message.extend_from_slice(text.as_bytes()),
            other => unreachable!("no bench scheme signs {other:?}"),
        }
    }
    message
}

/// The delivery of `kind` (one of [`ASYMMETRIC`]), signed with a private key in a `Secret` and
/// checked with a `PublicKey`, in the formats the providers use.
fn asymmetric(kind: &str, size: usize) -> Asymmetric {
    use base64::Engine as _;
    use p256::pkcs8::{EncodePrivateKey as _, EncodePublicKey as _};
    let base64 = &base64::engine::general_purpose::STANDARD;
    let ed25519 = ed25519_dalek::SigningKey::from_bytes(&ED25519_SEED).verifying_key();
    let ed25519_signature = |bytes: Vec<u8>| {
        let bytes: [u8; 64] = bytes.try_into().expect("a 64-byte Ed25519 signature");
        ed25519_dalek::Signature::from_bytes(&bytes)
    };
    let header = |case: &Case, name: &str| {
        case.headers[name]
            .to_str()
            .expect("ascii header")
            .to_owned()
    };
    match kind {
        "standard-webhooks-v1a" => {
            let private = Secret::new(format!("whsk_{}", base64.encode(ED25519_SEED)));
            let public = PublicKey::new(format!("whpk_{}", base64.encode(ed25519.as_bytes())));
            let (case, timestamp) = signed_case(StandardWebhooks, &private, public, size);
            let value = header(&case, "webhook-signature");
            let signature = value.strip_prefix("v1a,").expect("a v1a signature");
            let signature = base64.decode(signature).expect("base64");
            Asymmetric {
                one_shot: OneShot::Ed25519 {
                    key: ed25519,
                    message: signed_message(&StandardWebhooks, timestamp, &case.body),
                    signature: ed25519_signature(signature),
                },
                case,
            }
        }
        "discord" => {
            let private = Secret::new(hex::encode(ED25519_SEED));
            let public = PublicKey::new(hex::encode(ed25519.as_bytes()));
            let (case, timestamp) = signed_case(Discord, &private, public, size);
            let signature = hex::decode(header(&case, "x-signature-ed25519")).expect("hex");
            Asymmetric {
                one_shot: OneShot::Ed25519 {
                    key: ed25519,
                    message: signed_message(&Discord, timestamp, &case.body),
                    signature: ed25519_signature(signature),
                },
                case,
            }
        }
        "sendgrid" => {
            let key = p256::ecdsa::SigningKey::from_slice(&P256_SCALAR).expect("a P-256 scalar");
            let pem = key
                .to_pkcs8_pem(p256::pkcs8::LineEnding::LF)
                .expect("PKCS#8 PEM");
            let private = Secret::new(pem.as_str());
            let der = key.verifying_key().to_public_key_der().expect("SPKI DER");
            // As SendGrid shows its verification key: base64 SPKI DER.
            let public = PublicKey::new(base64.encode(der.as_bytes()));
            let (case, timestamp) = signed_case(SendGrid, &private, public, size);
            let signature = header(&case, "x-twilio-email-event-webhook-signature");
            let signature = base64.decode(signature).expect("base64");
            Asymmetric {
                one_shot: OneShot::Ecdsa {
                    key: *key.verifying_key(),
                    message: signed_message(&SendGrid, timestamp, &case.body),
                    signature: p256::ecdsa::Signature::from_der(&signature).expect("DER"),
                },
                case,
            }
        }
        other => unreachable!("no asymmetric case {other}"),
    }
}

/// The HMAC families besides SHA-256, each through a preset that signs the body alone; their
/// `ratio` lines divide by the raw HMAC of the same algorithm.
const FAMILIES: [(&str, Algorithm); 2] = [
    ("github-sha1", Algorithm::HmacSha1),
    ("paystack", Algorithm::HmacSha512),
];

const FAMILY_SIZES: [(&str, usize); 3] = [("1k", 1024), ("64k", 64 * 1024), ("1m", 1024 * 1024)];

/// A valid request for the preset `name`, one secret configured.
fn family_case(name: &str, size: usize) -> Case {
    case_for(scheme::preset(name).expect("a preset"), 1, size)
}

/// The HMAC of `message` with `algorithm` (key setup included, as the floor's), written to
/// `out`; its length.
fn raw_mac(algorithm: Algorithm, key: &[u8], message: &[u8], out: &mut [u8; 64]) -> usize {
    fn finish<M: Mac + KeyInit>(key: &[u8], message: &[u8], out: &mut [u8]) -> usize {
        let mut mac = <M as KeyInit>::new_from_slice(key).expect("any key length");
        mac.update(message);
        let tag = mac.finalize().into_bytes();
        out[..tag.len()].copy_from_slice(&tag);
        tag.len()
    }
    match algorithm {
        Algorithm::HmacSha1 => finish::<Hmac<Sha1>>(key, message, out),
        Algorithm::HmacSha256 => finish::<Hmac<Sha256>>(key, message, out),
        Algorithm::HmacSha512 => finish::<Hmac<Sha512>>(key, message, out),
        other => unreachable!("{other} is not an HMAC"),
    }
}

/// Raw HMAC of fixed bytes with any of the three hashes: the denominator of the families' and
/// Twilio's ratios.
struct RawMac {
    algorithm: Algorithm,
    key: Vec<u8>,
    message: Vec<u8>,
}

impl RawMac {
    fn tag(&self) -> Vec<u8> {
        let mut out = [0; 64];
        let len = raw_mac(self.algorithm, &self.key, &self.message, &mut out);
        out[..len].to_vec()
    }
}

impl Timed for RawMac {
    fn batch(&mut self, n: usize) -> f64 {
        let mut out = [0; 64];
        let start = Instant::now();
        for _ in 0..n {
            black_box(raw_mac(
                self.algorithm,
                black_box(&self.key),
                black_box(&self.message),
                &mut out,
            ));
            black_box(&out);
        }
        start.elapsed().as_secs_f64() / n as f64
    }
}

const TWILIO_URL: &str = "https://example.com/hooks/twilio";
const TWILIO_TOKEN: &str = "bench-twilio-auth-token";
const TWILIO_SIZES: [(&str, usize); 2] = [("1k", 1024), ("64k", 64 * 1024)];

/// A URL-encoded form of exactly `size` bytes, as Twilio posts them: many fields in no order,
/// spaces as `+`, some characters escaped; and what Twilio signs after the URL, written here
/// from the fields themselves: names sorted, each followed by its value.
/// <https://www.twilio.com/docs/usage/webhooks/webhooks-security>
fn twilio_form(size: usize) -> (Bytes, Vec<u8>) {
    let encode = |text: &str| {
        let mut encoded = String::new();
        for c in text.chars() {
            match c {
                ' ' => encoded.push('+'),
                '!' | '+' | '(' | ')' | '&' | '=' => encoded.push_str(&format!("%{:02X}", c as u8)),
                c => encoded.push(c),
            }
        }
        encoded
    };
    let mut fields = Vec::new();
    let mut body = String::new();
    for n in 0u32.. {
        // Distinct names in a scrambled order (10007 is prime).
        let name = format!("Field{:05}", n * 7919 % 10007);
        let value = format!("Hello world! Message {n} from +15005550006 (sent)");
        let piece = format!("&{name}={}", encode(&value));
        // Room left for the last field, `&Padding=` and at least one byte of value.
        if body.len() + piece.len() + 10 > size {
            break;
        }
        body.push_str(&piece[usize::from(body.is_empty())..]);
        fields.push((name, value));
    }
    let padding = "x".repeat(size - body.len() - "&Padding=".len());
    body.push_str("&Padding=");
    body.push_str(&padding);
    fields.push(("Padding".to_owned(), padding));
    fields.sort();
    let mut signed = Vec::new();
    for (name, value) in &fields {
        signed.extend_from_slice(name.as_bytes());
        signed.extend_from_slice(value.as_bytes());
    }
    assert_eq!(body.len(), size);
    (Bytes::from(body), signed)
}

/// A Twilio form delivery of `size` bytes through a layer told the public URL, and the raw
/// HMAC-SHA1 of the URL and the sorted fields under the same token.
fn twilio(size: usize) -> (Case, RawMac) {
    let (body, fields) = twilio_form(size);
    let token = Secret::new(TWILIO_TOKEN);
    let mut headers = Twilio
        .sign(&token, &Message::new(&body).url(TWILIO_URL))
        .expect("bench message signs");
    headers.insert(http::header::CONTENT_LENGTH, HeaderValue::from(size));
    headers.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/x-www-form-urlencoded"),
    );
    let layer = VerifySignatureLayer::new(Twilio, TWILIO_TOKEN)
        .and_then(|layer| layer.public_url(TWILIO_URL))
        .expect("a valid layer");
    let case = Case {
        service: tower::Layer::layer(&layer, NoOp::new()),
        headers,
        body,
    };
    let raw = RawMac {
        algorithm: Algorithm::HmacSha1,
        key: TWILIO_TOKEN.as_bytes().to_vec(),
        message: [TWILIO_URL.as_bytes(), &fields].concat(),
    };
    (case, raw)
}

/// A reference point for Twilio's ratios, as `ShapeFloor` is for GitHub's: the canonical form
/// computed the direct way, in the timing (`form_urlencoded::parse` into a list, sorted, equal
/// pairs once), then HMAC-SHA1 of the URL and the fields. It reads invalid UTF-8 lossily and
/// checks no URL spellings, so it does less than the layer must.
struct TwilioDirect {
    body: Bytes,
}

impl TwilioDirect {
    fn tag(&self) -> [u8; 20] {
        let mut fields: Vec<_> = form_urlencoded::parse(&self.body).collect();
        fields.sort_unstable();
        fields.dedup();
        let mut mac = <Hmac<Sha1> as KeyInit>::new_from_slice(TWILIO_TOKEN.as_bytes())
            .expect("any key length");
        mac.update(TWILIO_URL.as_bytes());
        for (name, value) in &fields {
            mac.update(name.as_bytes());
            mac.update(value.as_bytes());
        }
        mac.finalize().into_bytes().into()
    }
}

impl Timed for TwilioDirect {
    fn batch(&mut self, n: usize) -> f64 {
        let start = Instant::now();
        for _ in 0..n {
            black_box(black_box(&*self).tag());
        }
        start.elapsed().as_secs_f64() / n as f64
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
        (
            "ed25519/64k",
            asymmetric("standard-webhooks-v1a", ASYMMETRIC_SIZE).case,
        ),
        ("discord/64k", asymmetric("discord", ASYMMETRIC_SIZE).case),
        ("ecdsa/64k", asymmetric("sendgrid", ASYMMETRIC_SIZE).case),
    ];
    for (label, case) in &mut cases {
        group.bench_function(*label, |b| case.bench(b));
    }
    group.finish();

    // The asymmetric cases' denominators: the reference crates' one-shot verification.
    let mut group = c.benchmark_group("one-shot");
    for (label, kind) in ASYMMETRIC_RATIOS {
        let one_shot = asymmetric(kind, ASYMMETRIC_SIZE).one_shot;
        group.bench_function(label, |b| b.iter(|| one_shot.verify()));
    }
    group.finish();

    // The other HMAC families and Twilio's form: the layer, then the raw HMAC it is divided by.
    let mut group = c.benchmark_group("families");
    for (name, algorithm) in FAMILIES {
        for (label, size) in FAMILY_SIZES {
            group.throughput(Throughput::Bytes(size as u64));
            let mut case = family_case(name, size);
            group.bench_function(format!("{name}/{label}"), |b| case.bench(b));
            let raw = family_raw(name, algorithm, size);
            group.bench_function(format!("{name}-raw/{label}"), |b| b.iter(|| raw.tag()));
        }
    }
    for (label, size) in TWILIO_SIZES {
        group.throughput(Throughput::Bytes(size as u64));
        let (mut case, raw) = twilio(size);
        group.bench_function(format!("twilio/{label}"), |b| case.bench(b));
        group.bench_function(format!("twilio-raw/{label}"), |b| b.iter(|| raw.tag()));
    }
    group.finish();
}

/// The asymmetric ratios: each line's name and the delivery it measures.
const ASYMMETRIC_RATIOS: [(&str, &str); 3] = [
    ("ed25519/64k", "standard-webhooks-v1a"),
    ("discord/64k", "discord"),
    ("ecdsa/64k", "sendgrid"),
];

/// The raw HMAC a family's ratio divides by: its algorithm over the body, with the secret the
/// layer is given.
fn family_raw(name: &str, algorithm: Algorithm, size: usize) -> RawMac {
    RawMac {
        algorithm,
        key: secret_for(name, 0).into_bytes(),
        message: body(size).to_vec(),
    }
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
/// no error to report, no choice of algorithm. Its HMAC is the `hmac` crate's keyed state cloned
/// per request, as the layer's is.
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
            .and_then(|hex| tower_webhook::crypto::Encoding::Hex.decode(hex))
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
    // `VERIFY_RATIO_FILTER=github/256` measures only the ratios whose name contains it;
    // `twilio,paystack` those whose name contains either.
    let filter = std::env::var("VERIFY_RATIO_FILTER").unwrap_or_default();
    let wanted = |name: &str| filter.split(',').any(|part| name.contains(part));
    let mut record = |name: String, (r, a, b): (f64, f64, f64)| {
        detail.push(format!(
            "{name:<28} {:>12.3} µs ÷ {:>12.3} µs",
            a * 1e6,
            b * 1e6
        ));
        // The floors are reference points, not cases with targets: they get no `ratio` line.
        if let Some(size) = name.strip_prefix("shape-floor/") {
            floors.push(format!("shape-floor {size} {r:.3}"));
        } else if let Some(size) = name.strip_prefix("twilio-direct/") {
            floors.push(format!("twilio-direct {size} {r:.3}"));
        } else {
            lines.push(format!("ratio {name} {r:.3}"));
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
    for (name, kind) in ASYMMETRIC_RATIOS {
        if !wanted(name) {
            continue;
        }
        let Asymmetric {
            mut case,
            mut one_shot,
        } = asymmetric(kind, ASYMMETRIC_SIZE);
        record(
            name.to_owned(),
            ratio(&mut case, &mut one_shot, ASYMMETRIC_SIZE, budget),
        );
    }
    for (name, algorithm) in FAMILIES {
        for (label, size) in FAMILY_SIZES {
            let line = format!("{name}/{label}");
            if !wanted(&line) {
                continue;
            }
            let mut layer = family_case(name, size);
            let mut raw = family_raw(name, algorithm, size);
            record(line, ratio(&mut layer, &mut raw, size, budget));
        }
    }
    for (label, size) in TWILIO_SIZES {
        let line = format!("twilio/{label}");
        if !wanted(&line) {
            continue;
        }
        let (mut layer, mut raw) = twilio(size);
        record(line, ratio(&mut layer, &mut raw, size, budget));
        let mut direct = TwilioDirect { body: layer.body };
        record(
            format!("twilio-direct/{label}"),
            ratio(&mut direct, &mut raw, size, budget),
        );
    }

    println!("\nmedians (interleaved batches; numerator ÷ denominator):");
    for line in detail {
        println!("  {line}");
    }
    if !floors.is_empty() {
        println!("\nreference points ÷ raw (see ShapeFloor and TwilioDirect):");
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
    // The asymmetric deliveries: signed by the crate, accepted by the layer and by the reference
    // crates' one-shot checks, and refused by both once a body byte changes (so the ratios time
    // verifications that really check).
    for kind in ASYMMETRIC {
        let Asymmetric {
            mut case,
            mut one_shot,
        } = asymmetric(kind, ASYMMETRIC_SIZE);
        let request = case.request();
        assert_eq!(case.run(request), StatusCode::OK, "{kind}");
        assert!(one_shot.verify(), "{kind}: the reference crate accepts it");
        let mut tampered = case.body.to_vec();
        tampered[ASYMMETRIC_SIZE / 2] ^= 1;
        case.body = Bytes::from(tampered);
        let request = case.request();
        assert_eq!(
            case.run(request),
            StatusCode::UNAUTHORIZED,
            "{kind} tampered"
        );
        let message = one_shot.message_mut();
        let middle = message.len() / 2;
        message[middle] ^= 1;
        assert!(
            !one_shot.verify(),
            "{kind} tampered: the reference crate refuses it"
        );
    }
    // The other HMAC families: accepted, and the raw HMAC their ratios divide by is the tag the
    // request carries (so both sides compute the same thing).
    for (name, algorithm) in FAMILIES {
        for (_, size) in FAMILY_SIZES {
            let mut case = family_case(name, size);
            let request = case.request();
            assert_eq!(case.run(request), StatusCode::OK, "{name}");
            let tag = Encoding::Hex.encode(&family_raw(name, algorithm, size).tag());
            let carried = case
                .headers
                .values()
                .filter_map(|value| value.to_str().ok())
                .any(|value| value.ends_with(&tag));
            assert!(carried, "{name}: the raw HMAC is the signature sent");
        }
    }
    // Twilio: accepted; the signature is the bench's own HMAC-SHA1 of the URL and the fields it
    // sorted; refused once a field's value changes.
    for (_, size) in TWILIO_SIZES {
        let (mut case, raw) = twilio(size);
        let request = case.request();
        assert_eq!(case.run(request), StatusCode::OK, "twilio {size}");
        assert_eq!(
            case.headers["x-twilio-signature"],
            Encoding::Base64.encode(&raw.tag()).as_str(),
            "twilio {size}: the signature over the URL and the sorted fields"
        );
        let direct = TwilioDirect {
            body: case.body.clone(),
        };
        assert_eq!(direct.tag().to_vec(), raw.tag(), "twilio {size}: direct");
        let mut changed = case.body.to_vec();
        let at = changed.iter().position(|&b| b == b'H').expect("a value");
        changed[at] = b'J';
        case.body = Bytes::from(changed);
        let request = case.request();
        assert_eq!(
            case.run(request),
            StatusCode::UNAUTHORIZED,
            "twilio changed"
        );
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
