//! Does verification time depend on how much of a forged signature is right? A dudect-style
//! check (Reparaz, Balasch, Verbauwhede, "Dude, is my code constant time?", 2017): two classes
//! of forged signatures, measured in random interleaving, compared with Welch's t-test.
//!
//! - class A: a forged signature with no correct leading byte;
//! - class B: a forged signature whose first 31 of 32 bytes are right.
//!
//! A comparison that stops at the first differing byte takes longer for class B, and with
//! enough measurements |t| grows past 4.5, the threshold dudect uses. Three more experiments
//! frame the result: a null run (both classes the same signature) shows the set-up's own noise;
//! a positive control adds one naive early-exit comparison to each layer call, to show the
//! method sees a leak of that size on this machine; and `subtle`'s `ct_eq`, which the layer
//! compares with, is measured alone.
//!
//! Run: `cargo bench --bench timing` (set `TIMING_MEASUREMENTS` to change the count, default
//! 400 000 per experiment). Exits with status 1 when the layer shows a leak.

use std::hint::black_box;
use std::task::{Context, Poll, Waker};
use std::time::Instant;

use bytes::Bytes;
use http::{HeaderValue, Request, Response};
use http_body_util::Full;
use subtle::ConstantTimeEq;
use tower::Service;
use tower_webhook::crypto::Encoding;
use tower_webhook::scheme::{GitHub, Message, Scheme};

/// An HMAC-SHA256 tag.
type Tag = [u8; 32];
use tower_webhook::{Secret, VerifiedBody, VerifySignatureLayer};

const THRESHOLD: f64 = 4.5;

/// Welford's running mean and variance for one class.
#[derive(Default, Clone, Copy)]
struct Moments {
    count: f64,
    mean: f64,
    m2: f64,
}

impl Moments {
    fn push(&mut self, x: f64) {
        self.count += 1.0;
        let delta = x - self.mean;
        self.mean += delta / self.count;
        self.m2 += delta * (x - self.mean);
    }

    fn variance(&self) -> f64 {
        self.m2 / (self.count - 1.0)
    }
}

fn welch_t(a: &Moments, b: &Moments) -> f64 {
    (a.mean - b.mean) / (a.variance() / a.count + b.variance() / b.count).sqrt()
}

/// xorshift64*: enough randomness to interleave the classes.
struct Rng(u64);

impl Rng {
    fn bit(&mut self) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 63) as usize
    }
}

/// The result of one experiment: |t| over all measurements and over those below several
/// percentiles (cropping, as dudect does, removes the long tail that interrupts add).
struct Report {
    name: &'static str,
    means: [f64; 2],
    counts: [f64; 2],
    t: Vec<(&'static str, f64)>,
}

impl Report {
    fn max_t(&self) -> f64 {
        self.t.iter().map(|(_, t)| t.abs()).fold(0.0, f64::max)
    }

    fn print(&self) {
        let crops: Vec<String> = self
            .t
            .iter()
            .map(|(crop, t)| format!("{crop} {:.2}", t.abs()))
            .collect();
        println!(
            "{}\n    n = {} + {}, mean {:.1} ns (A) / {:.1} ns (B)\n    |t|: {}\n    max |t| = {:.2}",
            self.name,
            self.counts[0],
            self.counts[1],
            self.means[0],
            self.means[1],
            crops.join(", "),
            self.max_t(),
        );
    }
}

/// Measures `run(class)` `total` times, classes chosen at random, and runs the t-tests.
fn experiment(name: &'static str, total: usize, mut run: impl FnMut(usize) -> u64) -> Report {
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |since| since.as_nanos() as u64);
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15 ^ seed);
    for _ in 0..total / 20 {
        run(rng.bit());
    }
    let samples: Vec<(usize, u64)> = (0..total)
        .map(|_| {
            let class = rng.bit();
            (class, run(class))
        })
        .collect();
    let mut sorted: Vec<u64> = samples.iter().map(|(_, ns)| *ns).collect();
    sorted.sort_unstable();
    let percentile = |p: f64| sorted[((sorted.len() - 1) as f64 * p) as usize];
    let crops = [
        ("all", u64::MAX),
        ("p99", percentile(0.99)),
        ("p90", percentile(0.90)),
        ("p50", percentile(0.50)),
    ];
    let mut all = [Moments::default(); 2];
    let t = crops
        .iter()
        .map(|&(crop, limit)| {
            let mut moments = [Moments::default(); 2];
            for &(class, ns) in &samples {
                if ns <= limit {
                    moments[class].push(ns as f64);
                }
            }
            if crop == "all" {
                all = moments;
            }
            (crop, welch_t(&moments[0], &moments[1]))
        })
        .collect();
    Report {
        name,
        means: [all[0].mean, all[1].mean],
        counts: [all[0].count, all[1].count],
        t,
    }
}

/// The correct tag with its last `wrong` bytes changed. XOR with 0x11 keeps every hex digit a
/// digit and every letter a letter, so decoding the header costs the same in both classes.
fn forged(correct: &Tag, wrong: usize) -> Tag {
    let mut tag = *correct;
    for byte in &mut tag[32 - wrong..] {
        *byte ^= 0x11;
    }
    tag
}

/// The comparison a naive implementation would write: byte by byte, out at the first
/// difference. `black_box` keeps the compiler from turning it into one wide compare.
fn early_exit_eq(a: &Tag, b: &Tag) -> bool {
    for (x, y) in a.iter().zip(b) {
        if black_box(*x) != black_box(*y) {
            return false;
        }
    }
    true
}

fn main() {
    let total: usize = std::env::var("TIMING_MEASUREMENTS")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(400_000);

    let secret = "timing secret";
    let body = Bytes::from_static(br#"{"action":"opened","number":1}"#);
    let signed = GitHub
        .sign(&Secret::new(secret), &Message::new(&body))
        .expect("signing works");
    let text = signed["x-hub-signature-256"].to_str().unwrap();
    let correct: Tag = Encoding::Hex
        .decode(text.strip_prefix("sha256=").unwrap())
        .unwrap()
        .try_into()
        .unwrap();
    let classes = [forged(&correct, 32), forged(&correct, 1)];
    let texts = classes.map(|tag| format!("sha256={}", Encoding::Hex.encode(&tag)));

    let layer = VerifySignatureLayer::new(GitHub, secret).expect("a valid secret");
    let service = tower_layer::Layer::layer(
        &layer,
        tower::service_fn(|_: Request<VerifiedBody>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::new(Bytes::new())))
        }),
    );
    // Each request gets a freshly allocated copy of its class's header, so that both classes
    // are read from the same recycled allocation rather than from two fixed addresses, whose
    // cache behaviour could differ for reasons that have nothing to do with their content.
    // `leaky` adds, inside the timed region, what a naive layer would do: an early-exit
    // comparison of the forged tag with the right one.
    let measure = |texts: &[String; 2], leaky: bool| {
        let texts = texts.clone();
        let mut service = service.clone();
        let body = body.clone();
        let mut cx = Context::from_waker(Waker::noop());
        move |class: usize| {
            let mut request = Request::post("/webhook")
                .body(Full::new(body.clone()))
                .unwrap();
            request.headers_mut().insert(
                "x-hub-signature-256",
                HeaderValue::from_bytes(texts[class].as_bytes()).unwrap(),
            );
            let start = Instant::now();
            let _ = Service::<Request<Full<Bytes>>>::poll_ready(&mut service, &mut cx);
            let mut future = std::pin::pin!(service.call(request));
            let response = loop {
                if let Poll::Ready(response) = future.as_mut().poll(&mut cx) {
                    break response;
                }
            };
            if leaky {
                black_box(early_exit_eq(&correct, &classes[class]));
            }
            let elapsed = start.elapsed().as_nanos() as u64;
            assert_eq!(response.unwrap().status(), 401);
            elapsed
        }
    };
    // Calibration: both classes the same forged signature. Whatever |t| this shows is the
    // set-up's own noise, not a leak.
    let null_report = experiment(
        "null (calibration): the same forged signature in both classes, through the layer",
        total,
        measure(&[texts[0].clone(), texts[0].clone()], false),
    );
    let layer_report = experiment(
        "layer: GitHub delivery, forged signature with 0 vs 31 correct leading bytes",
        total,
        measure(&texts, false),
    );
    let control_report = experiment(
        "positive control: the same, plus one early-exit comparison of the forged tag",
        total,
        measure(&texts, true),
    );

    const BATCH: usize = 64;
    let subtle_report = experiment(
        "subtle's ct_eq alone (what the layer compares with), 64 calls per measurement",
        total,
        |class| {
            let start = Instant::now();
            for _ in 0..BATCH {
                black_box(bool::from(
                    black_box(&correct).ct_eq(black_box(&classes[class])),
                ));
            }
            start.elapsed().as_nanos() as u64
        },
    );

    println!("dudect-style timing check, Welch's t-test, threshold |t| = {THRESHOLD}\n");
    for report in [&null_report, &layer_report, &control_report, &subtle_report] {
        report.print();
        println!();
    }
    let leaks = layer_report.max_t() >= THRESHOLD || subtle_report.max_t() >= THRESHOLD;
    let sees = control_report.max_t() >= THRESHOLD;
    match (leaks, sees) {
        (false, true) => println!(
            "verdict: no evidence that verification time depends on the correct prefix, \
             and the same method does see the early-exit comparison's leak"
        ),
        (false, false) => println!(
            "verdict: inconclusive: the control's leak was not visible either; measure more"
        ),
        (true, _) => {
            println!("verdict: verification time depends on the forged signature's correct prefix");
            std::process::exit(1);
        }
    }
}
