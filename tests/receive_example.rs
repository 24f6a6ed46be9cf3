//! The `receive` example's command line and routes, tested here so that plain `cargo test`
//! runs them (an example's own tests do not run by default).

#[path = "../examples/receive/app.rs"]
mod app;
#[path = "../examples/receive/options.rs"]
mod options;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::header::CONTENT_TYPE;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use options::{Command, KeyArg, Options, SchemeName};
use serde::Deserialize;
use tower::ServiceExt;
use tower_webhook::Secret;
use tower_webhook::scheme::{Discord, Message, Scheme, StandardWebhooks, Stripe};

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
    assert_eq!(options.scheme, SchemeName::GitHub);
    assert_eq!(options.keys, [secret("s")]);
    assert_eq!(options.addr.to_string(), "127.0.0.1:3000");
    assert_eq!(
        (options.tolerance, options.now, options.max_body),
        (None, None, None)
    );

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
    assert_eq!(options.scheme, SchemeName::StandardWebhooks);
    // Only the first `=` separates a flag from its value; base64 padding stays.
    assert_eq!(options.keys, [secret("whsec_a=b"), secret("whsec_old==")]);
    assert_eq!(options.tolerance, Some(Duration::from_secs(60)));
    assert_eq!(options.now, Some(1_700_000_000));
    assert_eq!(options.max_body, Some(1024));
    assert_eq!(options.addr.port(), 8080);
    assert!(!options.replay);
    assert!(run(&["--scheme", "github", "--secret", "s", "--replay"]).replay);

    for (name, scheme) in [
        ("stripe", SchemeName::Stripe),
        ("slack", SchemeName::Slack),
        ("shopify", SchemeName::Shopify),
        ("generic", SchemeName::Generic),
        ("discord", SchemeName::Discord),
        ("sendgrid", SchemeName::SendGrid),
    ] {
        assert_eq!(run(&["--secret", "s", "--scheme", name]).scheme, scheme);
        assert_eq!(scheme.scheme().name(), name);
    }

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
}

#[test]
fn bad_flags_are_explained() {
    for (args, message) in [
        (&[][..], "`--scheme` is required"),
        (&["--secret", "s"][..], "`--scheme` is required"),
        (
            &["--scheme", "gitlab", "--secret", "s"][..],
            "unknown scheme `gitlab`",
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
    ] {
        let error = parse(args).unwrap_err();
        assert!(error.starts_with(message), "{args:?}: {error}");
    }
    for text in [
        "--scheme",
        "--public-key",
        "discord",
        "sendgrid",
        "whpk_",
        "--now",
    ] {
        assert!(options::USAGE.contains(text), "{text}");
    }
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

/// POSTs `body` with `headers` to the receiver's /webhook over HTTP/1.1, as a sender would.
async fn post(
    addr: SocketAddr,
    headers: HeaderMap,
    body: impl Into<Bytes>,
) -> (StatusCode, String) {
    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let mut request = Request::post(format!("http://{addr}/webhook"))
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body.into()))
        .unwrap();
    request.headers_mut().extend(headers);
    let response = client.request(request).await.unwrap();
    let status = response.status();
    let bytes = response.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8(bytes.to_vec()).unwrap())
}

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|error| panic!("{error}: {text}"))
}

/// A published SendGrid Event Webhook vector.
#[derive(Debug, Deserialize)]
struct Vector {
    name: String,
    public_key: String,
    /// The moment the vector was signed: the receiver's `--now`.
    now: i64,
    body: String,
    headers: BTreeMap<String, String>,
    expect: String,
}

impl Vector {
    fn headers(&self) -> HeaderMap {
        self.headers
            .iter()
            .map(|(name, value)| {
                (
                    HeaderName::from_bytes(name.as_bytes()).unwrap(),
                    HeaderValue::from_str(value).unwrap(),
                )
            })
            .collect()
    }
}

/// The published provider vectors, a verbatim copy of the shared set (see
/// tests/provider_vectors.rs, which judges all of them through the layer alone).
const PROVIDER_VECTORS: &str = include_str!("vectors/providers.json");

/// The SendGrid entries: SendGrid's own SDK tests, each cross-checked against sendgrid-python
/// and @sendgrid/eventwebhook, and copies with one body byte changed.
fn sendgrid_vectors() -> Vec<Vector> {
    let all: Vec<serde_json::Value> = serde_json::from_str(PROVIDER_VECTORS).unwrap();
    let vectors: Vec<Vector> = all
        .into_iter()
        .filter(|vector| vector["scheme"] == "sendgrid")
        .map(|vector| serde_json::from_value(vector).unwrap())
        .collect();
    let valid = vectors.iter().filter(|v| v.expect == "valid").count();
    assert_eq!(
        (valid, vectors.len()),
        (3, 10),
        "the SendGrid vectors changed"
    );
    vectors
}

#[tokio::test]
async fn sendgrid_published_vectors_pass_through_the_receiver_over_http() {
    for vector in sendgrid_vectors() {
        let now = vector.now.to_string();
        let addr = start(&[
            "--scheme",
            "sendgrid",
            "--public-key",
            &vector.public_key,
            "--now",
            &now,
        ])
        .await;
        let (status, text) = post(addr, vector.headers(), vector.body.clone()).await;
        let name = &vector.name;
        match vector.expect.as_str() {
            "valid" => {
                assert_eq!(status, StatusCode::OK, "{name}: {text}");
                let answer = json(&text);
                assert_eq!(answer["scheme"], "sendgrid", "{name}");
                assert_eq!(answer["key"], 1, "{name}");
                assert_eq!(answer["key_flag"], "--public-key", "{name}");
                assert_eq!(answer["bytes"], vector.body.len(), "{name}");
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
    let addr = start(&["--scheme", "sendgrid", "--public-key", &single.public_key]).await;
    let (status, text) = post(addr, single.headers(), single.body.clone()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{text}");
    assert!(text.starts_with("timestamp is "), "{text}");
    assert!(text.ends_with(" s old; at most 300 s is allowed"), "{text}");

    // The same verification key as PEM, as `openssl ec -pubout` writes it; the single event's
    // type and `sg_event_id` come back as the delivery's event type and id.
    let lines: Vec<&str> = single
        .public_key
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        lines.join("\n")
    );
    let now = single.now.to_string();
    let addr = start(&["--scheme", "sendgrid", "--public-key", &pem, "--now", &now]).await;
    let (status, text) = post(addr, single.headers(), single.body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{text}");
    let answer = json(&text);
    assert_eq!(answer["event_type"], "dropped");
    assert_eq!(
        answer["id"],
        "ZHJvcC0xMDk5NDkxOS1MUnpYbF9OSFN0T0doUTRrb2ZTbV9BLTA"
    );
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
