//! The `receive` example's command line and routes, tested here so that plain `cargo test`
//! runs them (an example's own tests do not run by default).

#[path = "../examples/receive/app.rs"]
mod app;
#[path = "../examples/receive/options.rs"]
mod options;

use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::{CONTENT_TYPE, HOST};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use options::{Command, KeyArg, Options};
use serde::Deserialize;
use tower::ServiceExt;
use tower_webhook::Secret;
use tower_webhook::scheme::{
    Discord, GitLab, Message, Meta, PRESETS, Paddle, Scheme, Square, StandardWebhooks, Stripe,
    Twitch,
};

fn secret(text: &str) -> KeyArg {
    KeyArg::Secret(text.to_owned())
}

fn public(text: &str) -> KeyArg {
    KeyArg::Public(text.to_owned())
}

fn parse(args: &[&str]) -> Result<Command, String> {
    options::parse(args.iter().map(|arg| (*arg).to_owned()))
}

fn run(args: &[&str]) -> Options {
    match parse(args) {
        Ok(Command::Run(options)) => options,
        other => panic!("{args:?}: {other:?}"),
    }
}

#[test]
fn flags_parse_with_defaults() {
    let options = run(&["--scheme", "github", "--secret", "s"]);
    assert_eq!(options.scheme, "github");
    assert_eq!(options.keys, [secret("s")]);
    assert_eq!(options.addr.to_string(), "127.0.0.1:3000");
    assert_eq!(
        (options.tolerance, options.now, options.max_body),
        (None, None, None)
    );
    assert_eq!((&options.url, options.url_from_request), (&None, false));
    assert!(options.verify_token.is_none());

    let options = run(&[
        "--scheme=standard-webhooks",
        "--secret",
        "whsec_a=b",
        "--secret=whsec_old==",
        "--tolerance",
        "60",
        "--now",
        "1700000000",
        "--max-body",
        "1024",
        "--addr",
        "127.0.0.1:8080",
    ]);
    assert_eq!(options.scheme, "standard-webhooks");
    // Only the first `=` separates a flag from its value; base64 padding stays.
    assert_eq!(options.keys, [secret("whsec_a=b"), secret("whsec_old==")]);
    assert_eq!(options.tolerance, Some(Duration::from_secs(60)));
    assert_eq!(options.now, Some(1_700_000_000));
    assert_eq!(options.max_body, Some(1024));
    assert_eq!(options.addr.port(), 8080);
    assert!(!options.replay);
    assert!(run(&["--scheme", "github", "--secret", "s", "--replay"]).replay);

    // Every preset by its name, through `scheme::preset`: the ones that sign the URL need it.
    let url_signing = options::url_signing_presets();
    assert_eq!(
        url_signing,
        ["twilio", "twilio-shared-key", "square", "hubspot"]
    );
    for name in PRESETS {
        let mut args = vec!["--secret", "s", "--scheme", name];
        if url_signing.contains(name) {
            args.extend(["--url", "https://example.com/hook"]);
        }
        let options = run(&args);
        assert_eq!(options.scheme, *name);
        assert_eq!(options.scheme().name(), *name);
    }

    let options = run(&[
        "--scheme",
        "square",
        "--secret",
        "s",
        "--url=https://example.com/hooks/square?x=1",
    ]);
    assert_eq!(
        options.url.as_deref(),
        Some("https://example.com/hooks/square?x=1")
    );
    assert_eq!(app::url_path(&options).as_deref(), Some("/hooks/square"));
    let options = run(&["--scheme", "hubspot", "--secret", "s", "--url-from-request"]);
    assert!(options.url_from_request && options.url.is_none());
    assert_eq!(app::url_path(&options), None);

    // Meta's verify token makes a scheme of Meta's data that answers the subscription check;
    // it is kept out of `Debug`.
    let options = run(&[
        "--scheme",
        "meta",
        "--secret",
        "s",
        "--verify-token",
        "my-token-123",
    ]);
    assert_eq!(options.scheme().name(), "meta");
    assert!(!format!("{options:?}").contains("my-token-123"));

    // Both key flags repeat and mix; the keys keep command-line order, so that the number a
    // verified delivery reports is a position on the command line.
    let options = run(&[
        "--public-key",
        "whpk_new=",
        "--scheme",
        "standard-webhooks",
        "--secret=whsec_a=b",
        "--public-key=whpk_old==",
    ]);
    assert_eq!(
        options.keys,
        [
            public("whpk_new="),
            secret("whsec_a=b"),
            public("whpk_old=="),
        ]
    );
    assert_eq!(
        options.keys.iter().map(KeyArg::flag).collect::<Vec<_>>(),
        ["--public-key", "--secret", "--public-key"]
    );
    // A scheme and no key parses: whether the keys suit the scheme is the layer's call.
    assert!(run(&["--scheme", "discord"]).keys.is_empty());
    // What a failing test prints shows public keys but no secret.
    let shown = format!("{options:?}");
    assert!(
        shown.contains("whpk_old==") && !shown.contains("whsec_a"),
        "{shown}"
    );

    assert!(matches!(parse(&["--help"]), Ok(Command::Help)));
    assert!(matches!(
        parse(&["--scheme", "github", "-h"]),
        Ok(Command::Help)
    ));
    assert!(matches!(
        parse(&["--scheme", "github", "--list-schemes"]),
        Ok(Command::ListSchemes)
    ));
}

#[test]
fn list_schemes_prints_every_preset_one_a_line() {
    assert!(matches!(
        parse(&["--list-schemes"]),
        Ok(Command::ListSchemes)
    ));
    let listed = options::scheme_list();
    let lines: Vec<&str> = listed.lines().collect();
    assert!(lines.len() >= 30, "{listed}");
    assert_eq!(lines, PRESETS);
    for name in ["paddle", "twitch", "gitlab", "meta", "twilio", "mux"] {
        assert!(lines.contains(&name), "{name}");
    }
}

#[test]
fn bad_flags_are_explained() {
    for (args, message) in [
        (&[][..], "`--scheme` is required"),
        (&["--secret", "s"][..], "`--scheme` is required"),
        (
            &["--scheme", "nope", "--secret", "s"][..],
            "unknown scheme `nope`: `--list-schemes` prints the",
        ),
        (
            &["--scheme", "github", "--secret"][..],
            "`--secret` needs a value",
        ),
        (
            &["--scheme", "discord", "--public-key"][..],
            "`--public-key` needs a value",
        ),
        (
            &["--scheme", "github", "--verbose"][..],
            "unknown argument `--verbose`",
        ),
        (&["github"][..], "unknown argument `github`"),
        (
            &["--scheme", "github", "--secret", "s", "--tolerance", "-5"][..],
            "`--tolerance` takes whole seconds",
        ),
        (
            &["--scheme", "github", "--secret", "s", "--now", "soon"][..],
            "`--now` takes Unix seconds",
        ),
        (
            &["--scheme", "github", "--secret", "s", "--max-body", "1MB"][..],
            "`--max-body` takes a number of bytes",
        ),
        (
            &["--scheme", "github", "--secret", "s", "--addr", "localhost"][..],
            "`--addr` takes IP:PORT",
        ),
        (
            &["--scheme", "github", "--secret", "s", "--verify-token", "t"][..],
            "`--verify-token` is for `--scheme meta`",
        ),
        (
            &["--scheme", "twilio", "--secret", "s"][..],
            "`--scheme twilio` signs the URL the provider calls: give it with `--url`",
        ),
        (
            &[
                "--scheme",
                "github",
                "--secret",
                "s",
                "--url",
                "https://a.example/",
            ][..],
            "`--url` is for the schemes that sign the URL (twilio, twilio-shared-key, square, hubspot), not `github`",
        ),
        (
            &["--scheme", "stripe", "--secret", "s", "--url-from-request"][..],
            "`--url-from-request` is for the schemes that sign the URL",
        ),
        (
            &[
                "--scheme",
                "square",
                "--secret",
                "s",
                "--url",
                "https://a.example/",
                "--url-from-request",
            ][..],
            "give `--url` or `--url-from-request`, not both",
        ),
        (&["--url-from-request=yes"][..], "unknown argument"),
    ] {
        let error = parse(args).unwrap_err();
        assert!(error.starts_with(message), "{args:?}: {error}");
    }
    let usage = options::usage();
    for text in [
        "--scheme",
        "--public-key",
        "--url",
        "--url-from-request",
        "--verify-token",
        "--list-schemes",
        "discord",
        "sendgrid",
        "whpk_",
        "--now",
    ] {
        assert!(usage.contains(text), "{text}");
    }
    for name in PRESETS {
        assert!(usage.contains(name), "{name}");
    }
}

#[test]
fn a_url_the_layer_refuses_stops_the_receiver() {
    let options = run(&["--scheme", "square", "--secret", "s", "--url", "/relative"]);
    let error = app::app(&options).unwrap_err();
    assert!(
        error.to_string().starts_with("invalid public URL"),
        "{error}"
    );
}

async fn send(app: axum::Router, request: Request<Body>) -> (StatusCode, String) {
    let response = app.oneshot(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

#[tokio::test]
async fn the_receiver_answers_json_refusals_and_health() {
    let now = 1_600_000_000;
    let options = run(&[
        "--scheme",
        "stripe",
        "--secret",
        "whsec_new",
        "--secret",
        "whsec_old",
        "--now",
        &now.to_string(),
        "--max-body",
        "64",
    ]);
    let app = app::app(&options).unwrap();
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let signed = |secret: &str, timestamp: i64, body: &'static [u8]| {
        let headers = Stripe
            .sign(
                &Secret::new(secret),
                &Message::new(body).timestamp(timestamp),
            )
            .unwrap();
        let mut request = Request::post("/webhook").body(Body::from(body)).unwrap();
        request.headers_mut().extend(headers);
        request
    };

    // `--now` is the clock: a delivery from that moment verifies, with the second secret.
    let (status, json) = send(app.clone(), signed("whsec_old", now, body)).await;
    assert_eq!(status, StatusCode::OK);
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "scheme": "stripe",
            "id": "evt_1",
            "key": 2,
            "key_flag": "--secret",
            "bytes": body.len(),
            "event_type": "charge.succeeded"
        })
    );

    let (status, reason) = send(app.clone(), signed("whsec_new", now - 301, body)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(reason, "timestamp is 301 s old; at most 300 s is allowed");

    let (status, reason) = send(app.clone(), signed("whsec_other", now, body)).await;
    assert_eq!(
        (status, reason.as_str()),
        (StatusCode::UNAUTHORIZED, "signature does not match")
    );

    let big: &'static [u8] = &[b'x'; 65];
    let (status, _) = send(app.clone(), signed("whsec_new", now, big)).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);

    let (status, text) = send(app, Request::get("/health").body(Body::empty()).unwrap()).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "ok"));
}

#[tokio::test]
async fn the_receiver_reports_ids_and_tolerance() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let now = 1_700_000_000;
    let options = run(&[
        "--scheme",
        "standard-webhooks",
        "--secret",
        secret,
        "--now",
        &now.to_string(),
        "--tolerance",
        "3600",
    ]);
    let app = app::app(&options).unwrap();
    let headers = StandardWebhooks
        .sign(
            &Secret::new(secret),
            &Message::new(b"{}").id("msg_abc").timestamp(now - 3600),
        )
        .unwrap();
    let mut request = Request::post("/webhook").body(Body::from("{}")).unwrap();
    request.headers_mut().extend(headers);
    let (status, json) = send(app, request).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(json["id"], "msg_abc");
    assert_eq!(json["scheme"], "standard-webhooks");
    assert_eq!(json["key"], 1);
    assert_eq!(json["bytes"], 2);
}

#[tokio::test]
async fn replay_turns_on_the_in_memory_guard() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let now = 1_700_000_000;
    let delivery = || {
        let headers = StandardWebhooks
            .sign(
                &Secret::new(secret),
                &Message::new(b"{}").id("msg_once").timestamp(now),
            )
            .unwrap();
        let mut request = Request::post("/webhook").body(Body::from("{}")).unwrap();
        request.headers_mut().extend(headers);
        request
    };
    let base = ["--scheme", "standard-webhooks", "--secret", secret, "--now"];
    let now_text = now.to_string();

    let without = app::app(&run(&[&base[..], &[now_text.as_str()]].concat())).unwrap();
    assert_eq!(send(without.clone(), delivery()).await.0, StatusCode::OK);
    assert_eq!(send(without, delivery()).await.0, StatusCode::OK);

    let with = app::app(&run(&[&base[..], &[now_text.as_str(), "--replay"]].concat())).unwrap();
    assert_eq!(send(with.clone(), delivery()).await.0, StatusCode::OK);
    let (status, reason) = send(with, delivery()).await;
    assert_eq!(status, StatusCode::CONFLICT, "{reason}");
}

#[test]
fn a_secret_the_scheme_refuses_is_reported_before_listening() {
    let options = run(&["--scheme", "standard-webhooks", "--secret", "not base64!"]);
    let error = app::app(&options).unwrap_err();
    assert_eq!(
        error.to_string(),
        "secret #1 is not base64 after the optional `whsec_` prefix"
    );
}

// RFC 8032 section 7.1, TEST 1: the Ed25519 key the Discord and Standard Webhooks `v1a`
// deliveries below are signed with. Discord writes the public key as hex; Standard Webhooks
// writes the same 32 bytes as `whsk_`/`whpk_` and base64.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_WHSK: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const RFC8032_WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
// RFC 8032 TEST 2's public key: a valid Ed25519 key that did not sign anything here.
const RFC8032_TEST2_PUBLIC: &str =
    "3d4017c3e843895a92b70aa74d1b7ebc9c982ccf2ec4968cc0cd55f12af4660c";

/// Starts the receiver as `main` does, over a real socket: parse the flags, build the app,
/// bind `--addr` and serve. Port 0, so that tests can run side by side.
async fn start(args: &[&str]) -> SocketAddr {
    let args = [args, &["--addr", "127.0.0.1:0"]].concat();
    let options = run(&args);
    let app = app::app(&options).unwrap_or_else(|error| panic!("{args:?}: {error}"));
    let listener = tokio::net::TcpListener::bind(options.addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

/// One request to the receiver over HTTP/1.1, as a sender would make it.
struct Delivery<'a> {
    method: Method,
    /// The path and query, from `/`.
    target: &'a str,
    content_type: &'a str,
    headers: HeaderMap,
    body: Bytes,
}

impl<'a> Delivery<'a> {
    /// A JSON POST to /webhook.
    fn post(headers: HeaderMap, body: impl Into<Bytes>) -> Self {
        Self {
            method: Method::POST,
            target: "/webhook",
            content_type: "application/json",
            headers,
            body: body.into(),
        }
    }

    async fn send(self, addr: SocketAddr) -> (StatusCode, String) {
        let client: Client<HttpConnector, Full<Bytes>> =
            Client::builder(TokioExecutor::new()).build_http();
        let mut request = Request::builder()
            .method(self.method)
            .uri(format!("http://{addr}{}", self.target))
            .header(CONTENT_TYPE, self.content_type)
            .body(Full::new(self.body))
            .unwrap();
        request.headers_mut().extend(self.headers);
        let response = client.request(request).await.unwrap();
        let status = response.status();
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (status, String::from_utf8_lossy(&bytes).into_owned())
    }
}

/// POSTs `body` with `headers` to the receiver's /webhook as JSON.
async fn post(
    addr: SocketAddr,
    headers: HeaderMap,
    body: impl Into<Bytes>,
) -> (StatusCode, String) {
    Delivery::post(headers, body).send(addr).await
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// A published provider vector (see /work/shared/PROVIDERS.md for the format).
#[derive(Debug, Clone, Deserialize)]
struct Vector {
    name: String,
    scheme: String,
    secret: Option<String>,
    #[serde(default)]
    additional_secrets: Vec<String>,
    public_key: Option<String>,
    body: Option<String>,
    /// The exact body bytes, for a body that is not UTF-8; it wins over `body`.
    body_hex: Option<String>,
    headers: BTreeMap<String, String>,
    expect: String,
    /// The moment to verify at: the receiver's `--now`.
    now: Option<i64>,
    tolerance_seconds: Option<u64>,
    /// The endpoint's public URL, for schemes that sign it.
    url: Option<String>,
    method: Option<String>,
    content_type: Option<String>,
}

impl Vector {
    fn headers(&self) -> HeaderMap {
        self.headers
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_bytes(value.as_bytes()).unwrap(),
                )
            })
            .collect()
    }

    fn body(&self) -> Bytes {
        match (&self.body_hex, &self.body) {
            (Some(hex), _) => hex::decode(hex).unwrap().into(),
            (None, Some(body)) => Bytes::from(body.clone()),
            (None, None) => panic!("{}: no body", self.name),
        }
    }

    fn public_key(&self) -> &str {
        self.public_key.as_deref().expect("a public key")
    }

    fn now(&self) -> i64 {
        self.now.expect("a moment to verify at")
    }

    /// The receiver's flags for this vector: its keys in order, and `--now`, `--tolerance`
    /// and `--url` when it has them; `url` is the `--url` to give, when the scheme signs one.
    fn receiver_args(&self, url: Option<&str>) -> Vec<String> {
        let mut args = vec!["--scheme".to_owned(), self.scheme.clone()];
        let secrets = self.secret.iter().chain(&self.additional_secrets);
        for secret in secrets {
            args.extend(["--secret".to_owned(), secret.clone()]);
        }
        if let Some(public) = &self.public_key {
            args.extend(["--public-key".to_owned(), public.clone()]);
        }
        if let Some(now) = self.now {
            args.extend(["--now".to_owned(), now.to_string()]);
        }
        if let Some(seconds) = self.tolerance_seconds {
            args.extend(["--tolerance".to_owned(), seconds.to_string()]);
        }
        if let Some(url) = url {
            args.extend(["--url".to_owned(), url.to_owned()]);
        }
        args
    }

    /// The `--url`s to try: the vector's whole URL (used as it is, query and all), and the
    /// URL as it is registered, without the query, which each request then adds.
    fn urls(&self) -> Vec<Option<String>> {
        match &self.url {
            None => vec![None],
            Some(url) => match url.split_once('?') {
                Some((registered, _)) => vec![Some(url.clone()), Some(registered.to_owned())],
                None => vec![Some(url.clone())],
            },
        }
    }

    /// The path and query the provider called, as written in `url` (not re-encoded).
    fn target(&self) -> &str {
        let Some(url) = &self.url else {
            return "/webhook";
        };
        let after_scheme = url.split_once("://").map_or(url.as_str(), |(_, rest)| rest);
        match after_scheme.find('/') {
            Some(at) => &after_scheme[at..],
            None => "/",
        }
    }

    fn delivery(&self) -> Delivery<'_> {
        Delivery {
            method: self
                .method
                .as_deref()
                .unwrap_or("POST")
                .parse()
                .expect("a method"),
            target: self.target(),
            content_type: self.content_type.as_deref().unwrap_or("application/json"),
            headers: self.headers(),
            body: self.body(),
        }
    }
}

/// The published provider vectors, a verbatim copy of the shared set (see
/// tests/provider_vectors.rs, which judges all of them through the layer alone).
const PROVIDER_VECTORS: &str = include_str!("vectors/providers.json");

fn provider_vectors() -> Vec<Vector> {
    serde_json::from_str(PROVIDER_VECTORS).expect("the vectors parse")
}

/// The SendGrid entries: SendGrid's own SDK tests, each cross-checked against sendgrid-python
/// and @sendgrid/eventwebhook, and copies with one body byte changed.
fn sendgrid_vectors() -> Vec<Vector> {
    let vectors: Vec<Vector> = provider_vectors()
        .into_iter()
        .filter(|vector| vector.scheme == "sendgrid")
        .collect();
    let valid = vectors.iter().filter(|v| v.expect == "valid").count();
    assert_eq!(
        (valid, vectors.len()),
        (3, 10),
        "the SendGrid vectors changed"
    );
    vectors
}

/// Receivers started so far, by their flags: vectors with the same keys, clock and URL share
/// one.
#[derive(Default)]
struct Receivers(HashMap<Vec<String>, SocketAddr>);

impl Receivers {
    async fn get(&mut self, args: Vec<String>) -> SocketAddr {
        if let Some(addr) = self.0.get(&args) {
            return *addr;
        }
        let flags: Vec<&str> = args.iter().map(String::as_str).collect();
        let addr = start(&flags).await;
        self.0.insert(args, addr);
        addr
    }
}

/// Sends `vector` to a receiver started with its flags (and `url` as `--url`), and checks the
/// answer against its expectation; `Err` says how it went wrong.
async fn judge_over_http(
    receivers: &mut Receivers,
    vector: &Vector,
    url: Option<&str>,
) -> Result<(), String> {
    let name = &vector.name;
    let addr = receivers.get(vector.receiver_args(url)).await;
    let (status, text) = vector.delivery().send(addr).await;
    let keys = vector.additional_secrets.len() + 1;
    match vector.expect.as_str() {
        "valid" if status == StatusCode::OK => {
            let answer: serde_json::Value = serde_json::from_str(&text)
                .map_err(|error| format!("{name}: the answer is not JSON ({error}): {text}"))?;
            let key = answer["key"].as_u64().unwrap_or(0) as usize;
            if answer["scheme"] != vector.scheme.as_str()
                || answer["bytes"] != vector.body().len()
                || !(1..=keys).contains(&key)
            {
                return Err(format!("{name}: accepted with the wrong answer {answer}"));
            }
            Ok(())
        }
        "valid" => Err(format!(
            "{name} (--url {url:?}): expected 200, got {status}: {text}"
        )),
        "invalid" if status == StatusCode::UNAUTHORIZED || status == StatusCode::BAD_REQUEST => {
            Ok(())
        }
        "invalid" => Err(format!(
            "{name} (--url {url:?}): expected 400 or 401, got {status}: {text}"
        )),
        other => Err(format!("{name}: unknown expectation {other:?}")),
    }
}

#[tokio::test]
async fn every_published_provider_vector_is_judged_right_over_http() {
    let vectors = provider_vectors();
    let mut receivers = Receivers::default();
    let mut judged: BTreeMap<&str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    for vector in &vectors {
        for url in vector.urls() {
            if let Err(failure) = judge_over_http(&mut receivers, vector, url.as_deref()).await {
                failures.push(failure);
            }
        }
        *judged.entry(vector.scheme.as_str()).or_default() += 1;
    }
    println!(
        "{} vectors judged over HTTP by {} receivers: {judged:?}",
        vectors.len(),
        receivers.0.len()
    );
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // The set the brief names: a vector lost or a scheme gone is noticed here.
    assert_eq!(vectors.len(), 79);
    assert_eq!(
        judged.keys().copied().collect::<Vec<_>>(),
        [
            "hubspot",
            "paddle",
            "pagerduty",
            "sendgrid",
            "square",
            "twilio",
            "workos"
        ]
    );
}

/// The judge can fail: a valid vector with one body byte changed is reported, as is an
/// invalid one labelled valid, and the URL a vector was signed for matters.
#[tokio::test]
async fn the_http_judge_notices_a_wrong_verdict() {
    let vectors = provider_vectors();
    let mut receivers = Receivers::default();
    for scheme in ["twilio", "paddle", "square"] {
        let valid = vectors
            .iter()
            .find(|v| v.scheme == scheme && v.expect == "valid")
            .unwrap();
        let url = valid.urls().remove(0);
        assert_eq!(
            judge_over_http(&mut receivers, valid, url.as_deref()).await,
            Ok(())
        );
        let mut tampered = valid.clone();
        // One byte more at the end: a changed last value for a form, a changed JSON body.
        let mut body = valid.body().to_vec();
        body.push(b'x');
        tampered.body_hex = Some(hex::encode(body));
        assert!(
            judge_over_http(&mut receivers, &tampered, url.as_deref())
                .await
                .is_err(),
            "{scheme}"
        );
        tampered.expect = "invalid".to_owned();
        assert_eq!(
            judge_over_http(&mut receivers, &tampered, url.as_deref()).await,
            Ok(())
        );
    }
    let square = vectors
        .iter()
        .find(|v| v.name == "square-sdk-valid")
        .unwrap();
    // The same path on another host: served, but not the URL Square signed.
    let elsewhere = square
        .url
        .as_deref()
        .unwrap()
        .replace("webhook.site", "example.com");
    let error = judge_over_http(&mut receivers, square, Some(&elsewhere))
        .await
        .unwrap_err();
    assert!(error.contains("expected 200, got 401"), "{error}");
}

#[tokio::test]
async fn sendgrid_published_vectors_pass_through_the_receiver_over_http() {
    for vector in sendgrid_vectors() {
        let now = vector.now().to_string();
        let addr = start(&[
            "--scheme",
            "sendgrid",
            "--public-key",
            vector.public_key(),
            "--now",
            &now,
        ])
        .await;
        let (status, text) = post(addr, vector.headers(), vector.body()).await;
        let name = &vector.name;
        match vector.expect.as_str() {
            "valid" => {
                assert_eq!(status, StatusCode::OK, "{name}: {text}");
                let answer = json(&text);
                assert_eq!(answer["scheme"], "sendgrid", "{name}");
                assert_eq!(answer["key"], 1, "{name}");
                assert_eq!(answer["key_flag"], "--public-key", "{name}");
                assert_eq!(answer["bytes"], vector.body().len(), "{name}");
            }
            "invalid" => {
                // A key, body or signature that does not match is 401; a timestamp that is
                // not a number is 400. Neither reaches the handler.
                let expected = if name.ends_with("wrong-timestamp") {
                    StatusCode::BAD_REQUEST
                } else {
                    StatusCode::UNAUTHORIZED
                };
                assert_eq!(status, expected, "{name}: {text}");
                if expected == StatusCode::UNAUTHORIZED {
                    assert_eq!(text, "signature does not match", "{name}");
                }
            }
            other => panic!("{name}: unknown expectation {other}"),
        }
    }
}

#[tokio::test]
async fn a_sendgrid_delivery_needs_now_and_accepts_a_pem_key() {
    let vectors = sendgrid_vectors();
    let single = vectors
        .iter()
        .find(|v| v.name == "sendgrid-sdk-single-event")
        .unwrap();

    // Without `--now` the clock is today's and the 2020 delivery is far too old: that is
    // what the flag is for.
    let addr = start(&["--scheme", "sendgrid", "--public-key", single.public_key()]).await;
    let (status, text) = post(addr, single.headers(), single.body()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.starts_with("timestamp is "), "{text}");
    assert!(text.ends_with(" s old; at most 300 s is allowed"), "{text}");

    // The same verification key as PEM, as `openssl ec -pubout` writes it; the single event's
    // type and `sg_event_id` come back as the delivery's event type and id.
    let lines: Vec<&str> = single
        .public_key()
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let now = single.now().to_string();
    let addr = start(&["--scheme", "sendgrid", "--public-key", &pem, "--now", &now]).await;
    let (status, text) = post(addr, single.headers(), single.body()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json(&text);
    assert_eq!(answer["event_type"], "dropped");
    assert_eq!(
        answer["id"],
        "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    );
}

/// Signs `body` with `scheme` as its provider would, for a receiver at `now`.
fn signed<S: Scheme>(scheme: S, secret: &str, message: Message<'_>) -> HeaderMap {
    scheme
        .sign(&Secret::new(secret), &message)
        .unwrap_or_else(|error| panic!("{}: {error}", scheme.name()))
}

#[tokio::test]
async fn deliveries_of_newer_presets_signed_by_the_crate_are_accepted_over_http() {
    let now: i64 = 1_700_000_000;
    let now_text = now.to_string();

    // Paddle: `ts=…;h1=…` with the whole `pdl_ntfset_` secret; event and id from the body.
    let secret = "pdl_ntfset_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL";
    let addr = start(&["--scheme", "paddle", "--secret", secret, "--now", &now_text]).await;
    let body: &'static [u8] =
        br#"{"event_id":"evt_01","event_type":"transaction.completed","notification_id":"ntf_01"}"#;
    let headers = signed(Paddle, secret, Message::new(body).timestamp(now));
    let (status, text) = post(addr, headers.clone(), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        json(&text),
        serde_json::json!({
            "scheme": "paddle",
            "id": "ntf_01",
            "key": 1,
            "key_flag": "--secret",
            "bytes": body.len(),
            "event_type": "transaction.completed"
        })
    );
    // Paddle's own window: 6 s late is refused.
    let late = signed(Paddle, secret, Message::new(body).timestamp(now - 6));
    assert_eq!(post(addr, late, body).await.0, StatusCode::UNAUTHORIZED);

    // Twitch: id, RFC 3339 timestamp and body signed; the event type is a header.
    let secret = "a twitch subscription secret";
    let addr = start(&["--scheme", "twitch", "--secret", secret, "--now", &now_text]).await;
    let body: &'static [u8] = br#"{"subscription":{"type":"channel.follow"},"event":{}}"#;
    let message = Message::new(body)
        .id("e6b2b1f0-0000-4000-8000-000000000001")
        .timestamp(now)
        .event_type("channel.follow");
    let mut headers = signed(Twitch, secret, message);
    headers.insert(
        "twitch-eventsub-message-type",
        HeaderValue::from_static("notification"),
    );
    let (status, text) = post(addr, headers, body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json(&text);
    assert_eq!(answer["scheme"], "twitch");
    assert_eq!(answer["event_type"], "channel.follow");
    assert_eq!(answer["id"], "e6b2b1f0-0000-4000-8000-000000000001");

    // Its `webhook_callback_verification` is answered by the layer with the challenge.
    let body: &'static [u8] = br#"{"challenge":"pogchamp-kappa-360noscope-vohiyo"}"#;
    let message = Message::new(body)
        .id("e6b2b1f0-0000-4000-8000-000000000002")
        .timestamp(now);
    let mut headers = signed(Twitch, secret, message);
    headers.insert(
        "twitch-eventsub-message-type",
        HeaderValue::from_static("webhook_callback_verification"),
    );
    let (status, text) = post(addr, headers, body).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::OK, "pogchamp-kappa-360noscope-vohiyo")
    );

    // GitLab: the token itself in `X-Gitlab-Token`; another token is refused.
    let token = "a gitlab secret token";
    let addr = start(&["--scheme", "gitlab", "--secret", token]).await;
    let body: &'static [u8] = br#"{"object_kind":"push","ref":"refs/heads/main"}"#;
    let headers = signed(GitLab, token, Message::new(body).id("uuid-1"));
    let (status, text) = post(addr, headers, body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json(&text);
    assert_eq!(
        (&answer["scheme"], &answer["event_type"]),
        (&"gitlab".into(), &"push".into())
    );
    let wrong = signed(GitLab, "another token", Message::new(body));
    assert_eq!(post(addr, wrong, body).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn meta_answers_its_subscription_check_with_the_verify_token() {
    let app_secret = "a meta app secret";
    let addr = start(&[
        "--scheme",
        "meta",
        "--secret",
        app_secret,
        "--verify-token",
        "my-verify-token",
    ])
    .await;
    let check = |token: &'static str| Delivery {
        method: Method::GET,
        target: match token {
            "my-verify-token" => {
                "/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=my-verify-token"
            }
            _ => "/webhook?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token=guess",
        },
        content_type: "text/plain",
        headers: HeaderMap::new(),
        body: Bytes::new(),
    };
    let (status, text) = check("my-verify-token").send(addr).await;
    assert_eq!((status, text.as_str()), (StatusCode::OK, "1158201444"));
    let (status, _) = check("guess").send(addr).await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Deliveries are signed with the app secret, not the verify token.
    let body: &'static [u8] = br#"{"object":"page","entry":[]}"#;
    let (status, text) = post(addr, signed(Meta, app_secret, Message::new(body)), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json(&text)["event_type"], "page");
    let forged = signed(Meta, "my-verify-token", Message::new(body));
    assert_eq!(post(addr, forged, body).await.0, StatusCode::UNAUTHORIZED);

    // Without `--verify-token` the check is not answered: it is an unsigned request.
    let plain = start(&["--scheme", "meta", "--secret", app_secret]).await;
    let (status, _) = check("my-verify-token").send(plain).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn url_from_request_rebuilds_the_signed_url_from_the_host() {
    let key = "a square signature key";
    let addr = start(&["--scheme", "square", "--secret", key, "--url-from-request"]).await;
    let body: &'static [u8] = br#"{"type":"payment.updated","event_id":"ev-1"}"#;
    // Behind no proxy the URL is `https://` (the default), the Host and the path.
    let delivery = |signed_for: &str, host: &'static str| {
        let mut headers = signed(Square, key, Message::new(body).url(signed_for));
        headers.insert(HOST, HeaderValue::from_static(host));
        Delivery::post(headers, body)
    };
    let (status, text) = delivery("https://hooks.example.com/webhook", "hooks.example.com")
        .send(addr)
        .await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(json(&text)["id"], "ev-1");
    let (status, _) = delivery("https://hooks.example.com/webhook", "other.example.com")
        .send(addr)
        .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_discord_delivery_verifies_with_the_application_public_key_over_http() {
    let now = 1_700_000_000;
    let now_text = now.to_string();
    // Another key first, as after a rotation: the answer names the second one.
    let addr = start(&[
        "--scheme",
        "discord",
        "--public-key",
        RFC8032_TEST2_PUBLIC,
        "--public-key",
        RFC8032_PUBLIC,
        "--now",
        &now_text,
    ])
    .await;
    let body: &'static [u8] = br#"{"id":"1215406394432852028","type":2,"version":1}"#;
    let headers = Discord
        .sign(
            &Secret::new(RFC8032_SEED),
            &Message::new(body).timestamp(now),
        )
        .unwrap();

    let (status, text) = post(addr, headers.clone(), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    assert_eq!(
        json(&text),
        serde_json::json!({
            "scheme": "discord",
            "id": "1215406394432852028",
            "key": 2,
            "key_flag": "--public-key",
            "bytes": body.len(),
            "event_type": "application_command"
        })
    );

    // Discord's PING is answered by the layer with a PONG, as Discord requires.
    let ping: &'static [u8] = br#"{"id":"1215406394432852029","type":1,"version":1}"#;
    let ping_headers = Discord
        .sign(
            &Secret::new(RFC8032_SEED),
            &Message::new(ping).timestamp(now),
        )
        .unwrap();
    let (status, text) = post(addr, ping_headers, ping).await;
    assert_eq!(
        (status, json(&text)),
        (StatusCode::OK, serde_json::json!({"type": 1}))
    );

    // Discord probes endpoints with bad signatures and expects 401: a changed body is one.
    let tampered: &'static [u8] = br#"{"id":"1215406394432852028","type":3,"version":1}"#;
    let (status, text) = post(addr, headers.clone(), tampered).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, "signature does not match")
    );

    // A receiver that has only the other key refuses the genuine delivery.
    let other = start(&[
        "--scheme",
        "discord",
        "--public-key",
        RFC8032_TEST2_PUBLIC,
        "--now",
        &now_text,
    ])
    .await;
    assert_eq!(post(other, headers, body).await.0, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn standard_webhooks_v1a_and_v1_verify_side_by_side_over_http() {
    let now = 1_700_000_000;
    let whsec = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let addr = start(&[
        "--scheme",
        "standard-webhooks",
        "--secret",
        whsec,
        "--public-key",
        RFC8032_WHPK,
        "--now",
        &now.to_string(),
    ])
    .await;
    let body: &'static [u8] = br#"{"type":"invoice.paid","data":{}}"#;
    let signed = |secret: &str, id: &'static str| {
        StandardWebhooks
            .sign(
                &Secret::new(secret),
                &Message::new(body).id(id).timestamp(now),
            )
            .unwrap()
    };

    // A `whsk_` private key signs `v1a` (Ed25519); the `whpk_` key, given second, checks it.
    let v1a = signed(RFC8032_WHSK, "msg_v1a");
    assert!(
        v1a["webhook-signature"]
            .to_str()
            .unwrap()
            .starts_with("v1a,")
    );
    let (status, text) = post(addr, v1a.clone(), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json(&text);
    assert_eq!(
        (&answer["id"], &answer["key"], &answer["key_flag"]),
        (&"msg_v1a".into(), &2.into(), &"--public-key".into())
    );
    assert_eq!(answer["event_type"], "invoice.paid");

    // The HMAC `v1` of the same endpoint still verifies, with the first key.
    let (status, text) = post(addr, signed(whsec, "msg_v1"), body).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json(&text);
    assert_eq!(
        (&answer["key"], &answer["key_flag"]),
        (&1.into(), &"--secret".into())
    );

    let (status, text) = post(addr, v1a, &b"{}"[..]).await;
    assert_eq!(
        (status, text.as_str()),
        (StatusCode::UNAUTHORIZED, "signature does not match")
    );
}

#[test]
fn keys_the_scheme_cannot_use_stop_the_receiver_with_the_layers_message() {
    for (args, message) in [
        (
            &["--scheme", "discord"][..],
            "no keys: at least one secret or public key is required",
        ),
        (
            &["--scheme", "discord", "--secret", "a shared secret"][..],
            "secret #1 cannot be used: this scheme verifies with a public key; give it as a \
             `PublicKey`",
        ),
        (
            &[
                "--scheme",
                "sendgrid",
                "--secret",
                "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
            ][..],
            "secret #1 cannot be used: this scheme verifies with a public key; give it as a \
             `PublicKey`",
        ),
        (
            &["--scheme", "sendgrid", "--public-key", RFC8032_PUBLIC][..],
            "public key #1 is not a P-256 public key (SPKI as base64 DER or PEM)",
        ),
        (
            &[
                "--scheme",
                "github",
                "--secret",
                "s",
                "--public-key",
                RFC8032_PUBLIC,
            ][..],
            "public key #2 cannot be used: this scheme verifies with shared secrets",
        ),
    ] {
        let error = app::app(&run(args)).unwrap_err();
        assert_eq!(error.to_string(), message, "{args:?}");
    }
}
