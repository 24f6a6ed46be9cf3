//! End to end over loopback: axum served four ways, loaded by `wrk` for a fixed time.
//!
//! - `layer`: `VerifySignatureLayer` (GitHub scheme) in front of a handler that takes the body;
//! - `by-hand`: verification written inside the handler, the way it usually is: read the body to
//!   `Bytes`, HMAC it, compare with the decoded header;
//! - `bare`: the same handler with no verification at all;
//! - `hash-only`: the handler hashes the body with HMAC-SHA256 and checks nothing: roughly the
//!   cost of the hash alone. It keys the HMAC per request, as a handler written by hand does (two
//!   compressions the layer does not repeat), so it is not a strict floor for a verifier, only
//!   close to one; it shows how far from `bare` hashing 1 KiB alone puts a server.
//!
//! `cargo bench --bench e2e` needs `wrk` (Debian: `apt-get install -y wrk`). For each body size
//! it first calls the four routers in this process (`e2e-in-process`): no socket, hyper, I/O
//! driver or kernel, so it shows what each server's own work costs; building the request and
//! reading the response are timed too, the same for every router. It does so for all four
//! routers, whatever `E2E_SERVERS` says. Then it loads every server `E2E_ROUNDS` times (default
//! 3, interleaved so each server sees the same load from the rest of the machine) for
//! `E2E_SECONDS` (default 5) each, and prints medians: requests per second as `wrk` saw them,
//! and the server process's CPU time per request (user and kernel, every thread's),
//! with how busy the server was. CPU per request is steadier than req/s when `wrk`, sharing the
//! machine, is what holds a server back, but it still depends on load (a server that is not
//! saturated wakes up for fewer requests at a time), and loopback's kernel work is split
//! between the server's core and `wrk`'s. Then comes the bound the hash sets (`e2e-bound`):
//! HMAC-SHA256 of the body from a state keyed in advance, timed in this process (on the
//! server's core when the bench is pinned with `taskset -c 0`), against bare's CPU per request:
//! the most of bare a server doing bare's work plus only that hash could reach. The ratio lines
//! (`e2e-ratio`) come last.
//!
//! The requests carry the headers GitHub sends (signature, event, delivery id). Only 127.0.0.1
//! is used. Without `--bench` it sends one request to each server over loopback, calls each
//! router once in process, writes one `wrk` script, and exits.

use std::net::SocketAddr;
use std::process::Command;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, Request, StatusCode};
use axum::routing::post;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tower_webhook::scheme::{GitHub, Message, Scheme};
use tower_webhook::{Secret, VerifySignatureLayer};

const SECRET: &str = "It's a Secret to Everybody";
// GitHub sends both with every delivery; the layer keeps the event header and the id.
const EVENT: &str = "push";
const DELIVERY: &str = "72d3162e-cc78-11e3-81ab-4c9367dc0958";

async fn take_body(body: Bytes) -> StatusCode {
    std::hint::black_box(&body);
    StatusCode::OK
}

fn hex_value(digit: u8) -> Option<u8> {
    match digit {
        b'0'..=b'9' => Some(digit - b'0'),
        b'a'..=b'f' => Some(digit - b'a' + 10),
        b'A'..=b'F' => Some(digit - b'A' + 10),
        _ => None,
    }
}

fn decode_hex(text: &[u8]) -> Option<[u8; 32]> {
    let mut tag = [0; 32];
    if text.len() != 64 {
        return None;
    }
    for (byte, pair) in tag.iter_mut().zip(text.chunks_exact(2)) {
        *byte = hex_value(pair[0])? << 4 | hex_value(pair[1])?;
    }
    Some(tag)
}

/// What a handler that verifies by itself does: body to `Bytes`, HMAC, constant-time compare.
async fn verify_by_hand(headers: HeaderMap, body: Bytes) -> StatusCode {
    let Some(tag) = headers
        .get("x-hub-signature-256")
        .and_then(|value| value.as_bytes().strip_prefix(b"sha256="))
        .and_then(decode_hex)
    else {
        return StatusCode::BAD_REQUEST;
    };
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(&body);
    match mac.verify_slice(&tag) {
        Ok(()) => take_body(body).await,
        Err(_) => StatusCode::UNAUTHORIZED,
    }
}

/// The hash and nothing else: no header read, no comparison.
async fn hash_only(body: Bytes) -> StatusCode {
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("any key");
    mac.update(&body);
    std::hint::black_box(mac.finalize());
    take_body(body).await
}

fn routers() -> [(&'static str, Router); 4] {
    let layer = VerifySignatureLayer::new(GitHub, SECRET).expect("valid secret");
    [
        ("bare", Router::new().route("/webhook", post(take_body))),
        (
            "layer",
            Router::new()
                .route("/webhook", post(take_body))
                .layer(layer),
        ),
        (
            "by-hand",
            Router::new().route("/webhook", post(verify_by_hand)),
        ),
        (
            "hash-only",
            Router::new().route("/webhook", post(hash_only)),
        ),
    ]
}

/// A printable body (letters only, so it sits in a Lua long string as it is).
fn body(size: usize) -> Vec<u8> {
    b"abcdefghijklmnopqrstuvwxyz"
        .iter()
        .copied()
        .cycle()
        .take(size)
        .collect()
}

/// The headers every request carries: what GitHub sends (signature, event, delivery id, as
/// the scheme signs them) and the content type.
fn github_headers(body: &[u8]) -> HeaderMap {
    let message = Message::new(body).id(DELIVERY).event_type(EVENT);
    let mut headers = GitHub.sign(&Secret::new(SECRET), &message).expect("signs");
    headers.insert("content-type", HeaderValue::from_static("application/json"));
    headers
}

/// Each of `headers` as `name`, `value` text.
fn header_lines(headers: &HeaderMap) -> impl Iterator<Item = (&str, &str)> {
    headers
        .iter()
        .map(|(name, value)| (name.as_str(), value.to_str().expect("ascii")))
}

fn lua_script(body: &[u8]) -> String {
    let mut script = String::from("wrk.method = \"POST\"\nwrk.path = \"/webhook\"\n");
    for (name, value) in header_lines(&github_headers(body)) {
        script += &format!("wrk.headers[\"{name}\"] = \"{value}\"\n");
    }
    script
        + &format!(
            "wrk.body = [[{}]]\n",
            std::str::from_utf8(body).expect("letters")
        )
}

/// The four routers called in this process, with no socket, hyper or kernel in the way: a
/// request with the headers `wrk` sends and the body in one piece, the response body read.
/// What each server's own work costs, interleaved like the `wrk` rounds (medians over
/// `rounds`); building the request is timed too, the same for every router.
async fn in_process(label: &str, size: usize, rounds: usize, requests: usize) {
    use tower::Service as _;
    let body = Bytes::from(body(size));
    let mut headers = github_headers(&body);
    headers.insert("host", HeaderValue::from_static("127.0.0.1"));
    headers.insert("content-length", HeaderValue::from(size));
    let routers = routers();
    let mut times: Vec<Vec<f64>> = vec![Vec::new(); routers.len()];
    for round in 0..rounds {
        for step in 0..routers.len() {
            let index = (round + step) % routers.len();
            // As `axum::serve` does for each connection: handlers become routes once, not per
            // request.
            let mut router = routers[index].1.clone().with_state::<()>(());
            let start = Instant::now();
            for _ in 0..requests {
                let mut request = Request::post("/webhook")
                    .body(Body::from(body.clone()))
                    .expect("a request");
                *request.headers_mut() = headers.clone();
                let response = router.call(request).await.expect("infallible");
                assert_eq!(response.status(), StatusCode::OK);
                let answer = axum::body::to_bytes(response.into_body(), usize::MAX).await;
                std::hint::black_box(answer.expect("an empty body"));
            }
            times[index].push(start.elapsed().as_secs_f64() * 1e6 / requests as f64);
        }
    }
    let medians: Vec<f64> = times.into_iter().map(median).collect();
    let bare = medians[0];
    let each: Vec<String> = routers
        .iter()
        .zip(&medians)
        .map(|((name, _), time)| format!("{name} {time:.3} µs ({:+.3})", time - bare))
        .collect();
    println!(
        "e2e-in-process {label} {} (medians of {rounds} interleaved rounds; ± against bare)",
        each.join(", ")
    );
}

/// One request over a raw HTTP/1.1 connection; the status code.
async fn post_once(addr: SocketAddr, body: &[u8]) -> u16 {
    let mut stream = TcpStream::connect(addr).await.expect("connects");
    let mut head = format!("POST /webhook HTTP/1.1\r\nHost: {addr}\r\n");
    for (name, value) in header_lines(&github_headers(body)) {
        head += &format!("{name}: {value}\r\n");
    }
    head += &format!(
        "Content-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("writes");
    stream.write_all(body).await.expect("writes");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).await.expect("reads");
    if std::env::var_os("E2E_SHOW_RESPONSES").is_some() {
        println!("{}", String::from_utf8_lossy(&response));
    }
    let status = String::from_utf8_lossy(&response[..12.min(response.len())]).into_owned();
    status[9..12].parse().expect("a status line")
}

/// CPU time this process has spent so far, in nanoseconds: user and kernel, every thread,
/// including threads that have exited (`CLOCK_PROCESS_CPUTIME_ID`; `/proc/self/stat`'s 100 Hz
/// ticks were ±10 ms, up to 0.7 % of a 3 s run, as large as the differences measured).
#[cfg(any(target_os = "linux", target_os = "android"))]
fn process_cpu_nanos() -> u64 {
    let now = rustix::time::clock_gettime(rustix::time::ClockId::ProcessCPUTime);
    let seconds = u64::try_from(now.tv_sec).expect("CPU time is not negative");
    let nanos = u64::try_from(now.tv_nsec).expect("CPU time is not negative");
    seconds * 1_000_000_000 + nanos
}

/// Elsewhere no CPU time is read; a timed run then stops at its check that the server used some.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn process_cpu_nanos() -> u64 {
    0
}

/// What one `wrk` run measured.
struct Load {
    /// Requests per second reported by `wrk`.
    rate: f64,
    /// Server CPU time per request, in microseconds.
    cpu_micros: f64,
    /// The share of one core the server used during the run.
    busy: f64,
}

/// Loads one server with `wrk`, failing on any non-2xx answer or socket error.
fn run_wrk(addr: SocketAddr, script: &std::path::Path, seconds: u64, connections: u32) -> Load {
    // `E2E_WRK_CPU=1` pins `wrk` to that core (start the bench itself with `taskset -c 0`), so
    // that the server and the load generator do not trade places between rounds.
    let mut command = match std::env::var("E2E_WRK_CPU") {
        Ok(cpu) => {
            let mut command = Command::new("taskset");
            command.args(["-c", &cpu, "wrk"]);
            command
        }
        Err(_) => Command::new("wrk"),
    };
    let (cpu_before, started) = (process_cpu_nanos(), Instant::now());
    let output = command
        .args(["-t1", &format!("-c{connections}"), &format!("-d{seconds}s")])
        .arg("-s")
        .arg(script)
        .arg(format!("http://{addr}/webhook"))
        .output()
        .expect("`wrk` runs (apt-get install -y wrk)");
    let elapsed = started.elapsed().as_secs_f64();
    let cpu = process_cpu_nanos()
        .checked_sub(cpu_before)
        .filter(|&cpu| cpu > 0)
        .expect("the server used CPU time during the run");
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "wrk failed: {text}");
    assert!(
        !text.contains("Non-2xx") && !text.contains("Socket errors"),
        "wrk saw errors: {text}"
    );
    let rate: f64 = text
        .lines()
        .find_map(|line| line.strip_prefix("Requests/sec:"))
        .and_then(|value| value.trim().parse().ok())
        .unwrap_or_else(|| panic!("no Requests/sec in: {text}"));
    // "  312345 requests in 3.00s, 40.12MB read"
    let requests: f64 = text
        .lines()
        .find_map(|line| line.trim().split_once(" requests in "))
        .and_then(|(count, _)| count.parse().ok())
        .unwrap_or_else(|| panic!("no request count in: {text}"));
    Load {
        rate,
        cpu_micros: cpu as f64 / 1000.0 / requests,
        busy: cpu as f64 / 1e9 / elapsed,
    }
}

/// The least CPU a verifier spends on `body`: HMAC-SHA256 from a state keyed in advance (the
/// layer keys once, not per request), median of 51 batches of 2 000.
fn keyed_hmac_micros(body: &[u8]) -> f64 {
    let keyed = <Hmac<Sha256> as KeyInit>::new_from_slice(SECRET.as_bytes()).expect("any key");
    let batches = (0..51)
        .map(|_| {
            let start = Instant::now();
            for _ in 0..2_000 {
                let mut mac = keyed.clone();
                mac.update(std::hint::black_box(body));
                std::hint::black_box(mac.finalize());
            }
            start.elapsed().as_secs_f64() * 1e6 / 2_000.0
        })
        .collect();
    median(batches)
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn env_number(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|value| value.parse().ok())
        .unwrap_or(default)
}

fn main() {
    let benching = std::env::args().any(|arg| arg == "--bench");
    // One worker: `wrk` takes the other core.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("runtime");
    let servers: Vec<(&str, SocketAddr)> = runtime.block_on(async {
        let mut servers = Vec::new();
        // `E2E_SERVERS=layer,bare` serves (and loads) only those.
        let only = std::env::var("E2E_SERVERS").unwrap_or_default();
        for (name, router) in routers() {
            if !only.is_empty() && !only.split(',').any(|wanted| wanted == name) {
                continue;
            }
            let listener = TcpListener::bind("127.0.0.1:0").await.expect("binds");
            let addr = listener.local_addr().expect("bound");
            tokio::spawn(async move { axum::serve(listener, router).await });
            servers.push((name, addr));
        }
        servers
    });

    runtime.block_on(async {
        for (name, addr) in &servers {
            for size in [1024, 64 * 1024] {
                assert_eq!(post_once(*addr, &body(size)).await, 200, "{name} {size}");
            }
        }
    });
    if !benching {
        // The paths a timed run takes besides `wrk`, once each, so that a break shows here.
        for (label, size) in [("1k check", 1024), ("64k check", 64 * 1024)] {
            runtime.block_on(in_process(label, size, 1, 1));
            let script = lua_script(&body(size));
            assert!(script.contains("x-hub-signature-256") && script.contains("wrk.body = [["));
        }
        println!("e2e bench: every server answers 200 (run `cargo bench --bench e2e` to measure)");
        return;
    }

    let seconds = env_number("E2E_SECONDS", 5);
    let rounds = env_number("E2E_ROUNDS", 3);
    let connections = env_number("E2E_CONNECTIONS", 16) as u32;
    let directory = std::env::temp_dir().join(format!("tower-webhook-e2e-{}", std::process::id()));
    std::fs::create_dir_all(&directory).expect("temp dir");
    println!(
        "wrk -t1 -c{connections} -d{seconds}s, {rounds} rounds, server: axum on one tokio worker"
    );
    // `E2E_SIZES=1k` or `E2E_SIZES=64k` runs only that size.
    let sizes = std::env::var("E2E_SIZES").unwrap_or_default();
    for (label, size) in [("1k", 1024), ("64k", 64 * 1024)] {
        if !sizes.is_empty() && !sizes.split(',').any(|wanted| wanted == label) {
            continue;
        }
        let requests = (4 * 1024 * 1024 / size).clamp(64, 4096);
        runtime.block_on(in_process(label, size, 21, requests));
        let script = directory.join(format!("{label}.lua"));
        std::fs::write(&script, lua_script(&body(size))).expect("writes script");
        let mut results: Vec<Vec<Load>> = servers.iter().map(|_| Vec::new()).collect();
        for round in 0..rounds {
            // Each round starts with the next server, so none is always first or last.
            for step in 0..servers.len() {
                let index = (round as usize + step) % servers.len();
                let (name, addr) = &servers[index];
                std::thread::sleep(Duration::from_millis(200));
                let load = run_wrk(*addr, &script, seconds, connections);
                println!(
                    "  round {round} {label} {name:<9} {:>10.0} req/s {:>7.2} µs CPU/request \
                     (server {:.0} % busy)",
                    load.rate,
                    load.cpu_micros,
                    load.busy * 100.0
                );
                results[index].push(load);
            }
        }
        for ((name, _), loads) in servers.iter().zip(&results) {
            let rate = median(loads.iter().map(|load| load.rate).collect());
            let cpu = median(loads.iter().map(|load| load.cpu_micros).collect());
            println!(
                "e2e {label} {name:<9} {rate:>10.0} req/s {cpu:>7.2} µs CPU/request (medians)"
            );
        }
        // What the hash alone costs bounds what any verifier can reach against `bare`: a
        // verifier does what `bare` does, and hashes the body.
        if let Some(bare) = servers.iter().position(|(name, _)| *name == "bare") {
            let bare_cpu = median(results[bare].iter().map(|load| load.cpu_micros).collect());
            let hash = keyed_hmac_micros(&body(size));
            println!(
                "e2e-bound {label} HMAC-SHA256 of the body, keyed in advance: {hash:.3} µs; \
                 bare's work plus only that reaches at most {:.3} of bare's req/cpu-s \
                 ({bare_cpu:.2} ÷ ({bare_cpu:.2} + {hash:.3}))",
                bare_cpu / (bare_cpu + hash)
            );
        }
        if servers.len() < 4 {
            continue;
        }
        // Ratios within each round (the runs of a round are seconds apart, so they share the
        // machine's load), then the median over rounds: of requests per second as `wrk` saw
        // them, and of requests per CPU second of the server, the throughput a server would
        // have that is the bottleneck. The second is fair between servers run at about the same
        // load (the `busy` figures): an idle server wakes up for fewer requests at a time.
        let per_round = |a: usize, b: usize, measure: fn(&Load) -> f64| {
            median(
                results[a]
                    .iter()
                    .zip(&results[b])
                    .map(|(x, y)| measure(x) / measure(y))
                    .collect(),
            )
        };
        let per_second: fn(&Load) -> f64 = |load| load.rate;
        let per_cpu_second: fn(&Load) -> f64 = |load| 1.0 / load.cpu_micros;
        for (measure_name, measure) in [("req/s", per_second), ("req/cpu-s", per_cpu_second)] {
            println!(
                "e2e-ratio {label} {measure_name:<9} layer/bare {:.3} layer/by-hand {:.3} \
                 hash-only/bare {:.3} layer/hash-only {:.3} (median of per-round ratios)",
                per_round(1, 0, measure),
                per_round(1, 2, measure),
                per_round(3, 0, measure),
                per_round(1, 3, measure),
            );
        }
    }
    let _ = std::fs::remove_dir_all(&directory);
}
