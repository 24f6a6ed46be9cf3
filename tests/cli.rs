//! The `webhook` binary, run as a user would, against local servers.
#![cfg(feature = "cli")]

mod cli_support;

mod support;

use std::net::SocketAddr;
use std::process::Output;

use cli_support::{Scratch, args, stderr, stdout, webhook};
use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};

use axum::Router;
use axum::routing::post;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::Full;
use tower::{BoxError, ServiceBuilder, ServiceExt, service_fn};
use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{
    Discord, Generic, GitLab, HubSpot, PRESETS, Paddle, SendGrid, Square, StandardWebhooks, Twilio,
};
use tower_webhook::{Verified, VerifiedBody, VerifySignatureLayer};

const SECRET: &str = "a long random secret";

/// `/ok` accepts, `/flaky` fails once then accepts, `/bad` refuses with 400; all behind a
/// verifier for the generic scheme, so unsigned or badly signed requests get 401.
async fn receiver() -> SocketAddr {
    let flaky_calls = Arc::new(AtomicU32::new(0));
    let router = Router::new()
        .route("/ok", post(|| async { StatusCode::OK }))
        .route(
            "/flaky",
            post(move || {
                let call = flaky_calls.fetch_add(1, Ordering::SeqCst);
                async move {
                    if call == 0 {
                        StatusCode::SERVICE_UNAVAILABLE
                    } else {
                        StatusCode::OK
                    }
                }
            }),
        )
        .route(
            "/bad",
            post(|| async { (StatusCode::BAD_REQUEST, "unknown event type\n") }),
        )
        .layer(VerifySignatureLayer::new(Generic, SECRET).unwrap());
    support::serve(router).await
}

#[tokio::test(flavor = "multi_thread")]
async fn send_delivers_a_signed_webhook() {
    let addr = receiver().await;
    let output = webhook(args(&[
        "send",
        &format!("http://{addr}/ok"),
        "--scheme",
        "generic",
        "--secret",
        SECRET,
        "--payload",
        r#"{"event":"order.completed"}"#,
    ]))
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("200 OK after 1 attempt"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn send_with_the_wrong_secret_fails_with_the_receivers_reason() {
    let addr = receiver().await;
    let output = webhook(args(&[
        "send",
        &format!("http://{addr}/ok"),
        "--scheme",
        "generic",
        "--secret",
        "not the secret",
        "--payload",
        "{}",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(message.contains("signature does not match"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn send_to_an_unreachable_host_fails_after_the_retries() {
    let addr = support::closed_port();
    let output = webhook(args(&[
        "send",
        &format!("http://{addr}/hook"),
        "--scheme",
        "github",
        "--secret",
        SECRET,
        "--payload",
        "{}",
        "--retries",
        "2",
        "--backoff-ms",
        "1",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1));
    let message = stderr(&output);
    assert!(message.contains("could not deliver"), "{message}");
    assert!(message.contains("after 3 attempts"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_is_refused_before_sending() {
    let cases: [(&[&str], &str); 5] = [
        (
            &["send", "http://127.0.0.1:9/", "--payload", "{nope"],
            "not valid JSON",
        ),
        (
            &["send", "ftp://example.com/", "--payload", "{}"],
            "is neither http:// nor https://",
        ),
        (&["send", "not a url", "--payload", "{}"], "not a valid URL"),
        (&["send", "/relative", "--payload", "{}"], "needs `http://`"),
        (
            &[
                "send",
                "http://127.0.0.1:9/",
                "--payload-file",
                "/nonexistent/p.json",
            ],
            "cannot read",
        ),
    ];
    for (given, expected) in cases {
        let mut list = args(given);
        list.extend(args(&["--scheme", "github", "--secret", SECRET]));
        let output = webhook(list).await;
        assert_eq!(output.status.code(), Some(2), "{given:?}");
        assert!(
            stderr(&output).contains(expected),
            "{given:?}: {}",
            stderr(&output)
        );
    }
    let output = webhook(args(&[
        "send",
        "http://127.0.0.1:9/",
        "--scheme",
        "standard-webhooks",
        "--secret",
        "whsec_not base64!",
        "--payload",
        "{}",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("secret #1 is not base64"),
        "{}",
        stderr(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_reports_a_mix_of_outcomes_and_fails_when_any_failed() {
    let addr = receiver().await;
    let closed = support::closed_port();
    let dir = Scratch::new("cli");
    let file = dir.write(
        "batch.json",
        &format!(
            r#"[
              {{"url": "http://{addr}/ok", "payload": {{"event": "a"}}}},
              {{"url": "http://{addr}/flaky", "payload": {{"event": "b"}}}},
              {{"url": "http://{addr}/bad", "payload": {{"event": "c"}}}},
              {{"url": "http://{closed}/hook", "payload": {{"event": "d"}}, "retries": 1}}
            ]"#
        ),
    );
    let output = webhook(args(&[
        "batch",
        file.to_str().unwrap(),
        "--scheme",
        "generic",
        "--secret",
        SECRET,
        "--concurrency",
        "2",
        "--backoff-ms",
        "1",
    ]))
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let table = stdout(&output);
    let rows: Vec<&str> = table.lines().collect();
    assert!(rows[0].starts_with("#  URL"), "{table}");
    let row = |n: usize| rows[n].split_whitespace().collect::<Vec<_>>();
    assert_eq!(row(1)[2..4], ["200", "1"], "{table}");
    assert_eq!(row(2)[2..4], ["200", "2"], "{table}");
    assert_eq!(row(3)[2..4], ["400", "1"], "{table}");
    assert!(
        rows[3].contains("FAILED: refused: 400 Bad Request: unknown event type"),
        "{table}"
    );
    assert_eq!(row(4)[2..4], ["-", "2"], "{table}");
    assert!(rows[4].contains("FAILED:"), "{table}");
    assert!(table.contains("2 delivered, 2 failed"), "{table}");
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_succeeds_when_everything_is_delivered() {
    let addr = receiver().await;
    let dir = Scratch::new("cli");
    let file = dir.write(
        "batch-ok.json",
        &format!(
            r#"[{{"url": "http://{addr}/ok", "scheme": "generic", "secret": "{SECRET}", "payload": [1, 2]}}]"#
        ),
    );
    let output = webhook(args(&["batch", file.to_str().unwrap()])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(stdout(&output).contains("1 delivered, 0 failed"));
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_refuses_bad_files_before_sending_anything() {
    let cases = [
        ("not-json.json", "[{", "not a valid batch file"),
        ("not-list.json", r#"{"url": "x"}"#, "not a valid batch file"),
        ("empty.json", "[]", "lists no deliveries"),
        (
            "bad-url.json",
            r#"[{"url": "ftp://x/", "payload": {}, "scheme": "github", "secret": "s"}]"#,
            "delivery #1: `ftp://x/`",
        ),
        (
            "no-secret.json",
            r#"[{"url": "http://127.0.0.1:9/", "payload": {}, "scheme": "github"}]"#,
            "no `secret`",
        ),
        (
            "bad-scheme.json",
            r#"[{"url": "http://127.0.0.1:9/", "payload": {}, "scheme": "nope", "secret": "s"}]"#,
            "unknown scheme `nope`",
        ),
    ];
    for (name, contents, expected) in cases {
        let dir = Scratch::new("cli");
        let file = dir.write(name, contents);
        let output = webhook(args(&["batch", file.to_str().unwrap()])).await;
        assert_eq!(output.status.code(), Some(2), "{name}");
        assert!(
            stderr(&output).contains(expected),
            "{name}: {}",
            stderr(&output)
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn secret_new_prints_a_usable_secret_and_its_fingerprint() {
    let output = webhook(args(&["secret", "new", "--scheme", "standard-webhooks"])).await;
    assert!(output.status.success());
    let secret = stdout(&output).trim().to_owned();
    assert!(secret.starts_with("whsec_"), "{secret}");
    assert!(VerifySignatureLayer::new(StandardWebhooks, secret.as_str()).is_ok());
    let fingerprint = tower_webhook::Secret::new(secret.as_str()).fingerprint();
    assert!(
        stderr(&output).contains(&fingerprint),
        "{}",
        stderr(&output)
    );
    assert!(!stderr(&output).contains(&secret));

    let output = webhook(args(&["secret", "new", "--scheme", "github"])).await;
    let secret = stdout(&output).trim().to_owned();
    assert_eq!(secret.len(), 64);
    assert!(secret.bytes().all(|b| b.is_ascii_hexdigit()));
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_prints_headers_a_verifier_accepts() {
    let payload = r#"{"type":"invoice.paid"}"#;
    let dir = Scratch::new("cli");
    let file = dir.write("payload.json", payload);
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let output = webhook(args(&[
        "sign",
        "--scheme",
        "standard-webhooks",
        "--secret",
        secret,
        "--payload-file",
        file.to_str().unwrap(),
        "--id",
        "msg_cli_1",
    ]))
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    let mut headers = HeaderMap::new();
    for line in stdout(&output).lines() {
        let (name, value) = line.split_once(": ").unwrap();
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    assert_eq!(headers["webhook-id"], "msg_cli_1");
    let verifier = ServiceBuilder::new()
        .layer(VerifySignatureLayer::new(StandardWebhooks, secret).unwrap())
        .service(service_fn(|_: Request<VerifiedBody>| async {
            Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::new())))
        }));
    let mut request = Request::post("/")
        .body(Full::new(Bytes::from(payload)))
        .unwrap();
    *request.headers_mut() = headers;
    let response = verifier.oneshot(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

// RFC 8032 section 7.1, TEST 1: Discord signs with the seed and publishes the public key as
// hex; Standard Webhooks writes the same two keys as `whsk_`/`whpk_` and base64.
const RFC8032_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";
const RFC8032_PUBLIC: &str = "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a";
const RFC8032_WHSK: &str = "whsk_nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=";
const RFC8032_WHPK: &str = "whpk_11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
// RFC 8032 TEST 2's seed: a valid Ed25519 key that is not the receiver's.
const RFC8032_TEST2_SEED: &str = "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb";
// A P-256 key pair made with openssl for these tests alone (PKCS#8 and SPKI, base64 DER), the
// forms SendGrid's signing side and its verification key take.
const P256_PRIVATE: &str = "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgYXwOgkjXQg/8J9dhQmog71YZMmmDwF52UEYKOgOu6nmhRANCAATNH1OSZBK4ehGk+7vp4fqua1BFqH9wRK781vOFd9DEPm71IuEspM5uE35lrgfDGIbWPcr/SYv/fieqfYf1JQo2";
const P256_PUBLIC: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEzR9TkmQSuHoRpPu76eH6rmtQRah/cESu/NbzhXfQxD5u9SLhLKTObhN+Za4HwxiG1j3K/0mL/34nqn2H9SUKNg==";

/// `/discord`, `/sendgrid` and `/v1a`, each behind a verifier that holds only a public key, so
/// that a 200 proves the CLI signed with the matching private key (and, for `/v1a`, signed
/// `v1a`: the verifier has no HMAC secret for a `v1` signature to match).
async fn key_pair_receiver() -> SocketAddr {
    let ok = || post(|| async { StatusCode::OK });
    let router = Router::new()
        .route("/discord", ok())
        .route_layer(VerifySignatureLayer::new(Discord, PublicKey::new(RFC8032_PUBLIC)).unwrap())
        .merge(
            Router::new().route("/sendgrid", ok()).route_layer(
                VerifySignatureLayer::new(SendGrid, PublicKey::new(P256_PUBLIC)).unwrap(),
            ),
        )
        .merge(Router::new().route("/v1a", ok()).route_layer(
            VerifySignatureLayer::new(StandardWebhooks, PublicKey::new(RFC8032_WHPK)).unwrap(),
        ));
    support::serve(router).await
}

fn send_discord(addr: SocketAddr, secret: &str) -> Vec<String> {
    args(&[
        "send",
        &format!("http://{addr}/discord"),
        "--scheme",
        "discord",
        "--secret",
        secret,
        "--payload",
        r#"{"id":"1215406394432852028","type":1}"#,
        "--retries",
        "0",
    ])
}

#[tokio::test(flavor = "multi_thread")]
async fn send_signs_discord_with_the_private_key_and_the_public_key_verifies() {
    let addr = key_pair_receiver().await;
    let output = webhook(send_discord(addr, RFC8032_SEED)).await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("200 OK after 1 attempt"),
        "{}",
        stdout(&output)
    );

    // Another application's private key: the receiver's public key refuses it.
    let output = webhook(send_discord(addr, RFC8032_TEST2_SEED)).await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    let message = stderr(&output);
    assert!(message.contains("401 Unauthorized"), "{message}");
    assert!(message.contains("signature does not match"), "{message}");

    // A shared secret is no Ed25519 key: refused before anything is sent, without echoing it.
    let output = webhook(send_discord(addr, SECRET)).await;
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("secret #1 is not an Ed25519 private key"),
        "{message}"
    );
    assert!(!message.contains(SECRET), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn send_takes_a_pem_private_key_after_an_equals_sign() {
    let addr = key_pair_receiver().await;
    // The same P-256 key as PEM, as openssl writes it. It begins with dashes, so it goes after
    // `=` (a separate argument would read as a flag).
    let lines: Vec<&str> = P256_PRIVATE
        .as_bytes()
        .chunks(64)
        .map(|line| std::str::from_utf8(line).unwrap())
        .collect();
    let pem = format!(
        "-----BEGIN PRIVATE KEY-----\n{}\n-----END PRIVATE KEY-----\n",
        lines.join("\n")
    );
    let output = webhook(args(&[
        "send",
        &format!("http://{addr}/sendgrid"),
        "--scheme",
        "sendgrid",
        &format!("--secret={pem}"),
        "--payload",
        r#"[{"event":"open"}]"#,
        "--retries",
        "0",
    ]))
    .await;
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(
        stdout(&output).contains("200 OK after 1 attempt"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_signs_sendgrid_and_standard_webhooks_v1a_with_private_keys() {
    let addr = key_pair_receiver().await;
    let entry = |path: &str, scheme: &str, secret: &str, payload: &str| {
        format!(
            r#"{{"url": "http://{addr}/{path}", "scheme": "{scheme}", "secret": "{secret}", "payload": {payload}}}"#
        )
    };
    let mut entries = vec![
        entry(
            "sendgrid",
            "sendgrid",
            P256_PRIVATE,
            r#"[{"event": "delivered", "sg_event_id": "ZGVsaXZlcmVk"}]"#,
        ),
        entry(
            "v1a",
            "standard-webhooks",
            RFC8032_WHSK,
            r#"{"type": "invoice.paid"}"#,
        ),
        entry("discord", "discord", RFC8032_SEED, r#"{"type": 1}"#),
    ];
    let dir = Scratch::new("cli");
    let file = dir.write("batch-key-pairs.json", &format!("[{}]", entries.join(",")));
    let output = webhook(args(&["batch", file.to_str().unwrap(), "--retries", "0"])).await;
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("3 delivered, 0 failed"),
        "{}",
        stdout(&output)
    );

    // The public key where the private one belongs: the whole batch is refused before
    // anything is sent, with the entry named.
    entries.push(entry("sendgrid", "sendgrid", P256_PUBLIC, "[]"));
    let dir = Scratch::new("cli");
    let file = dir.write(
        "batch-key-pairs-bad.json",
        &format!("[{}]", entries.join(",")),
    );
    let output = webhook(args(&["batch", file.to_str().unwrap(), "--retries", "0"])).await;
    assert_eq!(output.status.code(), Some(2), "{}", stdout(&output));
    assert!(stdout(&output).is_empty(), "{}", stdout(&output));
    let message = stderr(&output);
    assert!(
        message.contains("delivery #4: secret #1 is not a P-256 private key"),
        "{message}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_help_names_the_key_pair_schemes_and_secret_new_refuses_them() {
    let output = webhook(args(&["send", "--help"])).await;
    assert!(output.status.success());
    let help = stdout(&output);
    for text in ["discord", "sendgrid", "whsk_", "private key"] {
        assert!(help.contains(text), "{text}: {help}");
    }

    for scheme in ["discord", "sendgrid"] {
        let output = webhook(args(&["secret", "new", "--scheme", scheme])).await;
        assert_eq!(output.status.code(), Some(2), "{scheme}");
        assert!(stdout(&output).is_empty(), "{scheme}: {}", stdout(&output));
        assert!(
            stderr(&output).contains(&format!("{scheme} signs with a key pair")),
            "{}",
            stderr(&output)
        );
    }
}

// Shared secrets for the presets below, each what its provider would issue.
const PADDLE_SECRET: &str = "pdl_ntfset_01hbpjmytsa32fhr36nqgc3kgb_TjIG2BXbm83HPXqNfziwe506sBEdqL";
const TWILIO_TOKEN: &str = "12345";
const SQUARE_KEY: &str = "a square signature key";
const HUBSPOT_SECRET: &str = "yyyyyyyy-yyyy-yyyy-yyyy-yyyyyyyyyyyy";
const GITLAB_TOKEN: &str = "a gitlab secret token";

/// Routes behind the crate's layer for newer presets, on a socket bound first so that the
/// URL-signing ones know the public URL they are reached at (`http://{addr}/twilio`…); the
/// handlers answer the delivery's event type, or its id.
async fn preset_receiver() -> SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let url = |path: &str| format!("http://{addr}{path}");
    let event = || {
        post(|verified: Verified| async move { verified.event_type().unwrap_or("-").to_owned() })
    };
    let router = Router::new()
        .route("/paddle", event())
        .route_layer(VerifySignatureLayer::new(Paddle, PADDLE_SECRET).unwrap())
        .merge(
            Router::new().route("/twilio", event()).route_layer(
                VerifySignatureLayer::new(Twilio, TWILIO_TOKEN)
                    .unwrap()
                    .public_url(&url("/twilio"))
                    .unwrap(),
            ),
        )
        .merge(
            // Registered elsewhere: what the CLI signs (the URL it sends to) does not match.
            Router::new()
                .route("/twilio-elsewhere", event())
                .route_layer(
                    VerifySignatureLayer::new(Twilio, TWILIO_TOKEN)
                        .unwrap()
                        .public_url("https://example.com/twilio-elsewhere")
                        .unwrap(),
                ),
        )
        .merge(
            Router::new().route("/square", event()).route_layer(
                VerifySignatureLayer::new(Square, SQUARE_KEY)
                    .unwrap()
                    .public_url(&url("/square"))
                    .unwrap(),
            ),
        )
        .merge(
            Router::new().route("/hubspot", event()).route_layer(
                VerifySignatureLayer::new(HubSpot, HUBSPOT_SECRET)
                    .unwrap()
                    .public_url(&url("/hubspot"))
                    .unwrap(),
            ),
        )
        .merge(
            Router::new()
                .route("/gitlab", event())
                .route_layer(VerifySignatureLayer::new(GitLab, GITLAB_TOKEN).unwrap()),
        );
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    addr
}

fn send_to(addr: SocketAddr, path: &str, scheme: &str, secret: &str, payload: &str) -> Vec<String> {
    args(&[
        "send",
        &format!("http://{addr}{path}"),
        "--scheme",
        scheme,
        "--secret",
        secret,
        "--payload",
        payload,
        "--retries",
        "0",
    ])
}

fn delivered(output: &Output) -> bool {
    output.status.success() && stdout(output).contains("200 OK after 1 attempt")
}

#[tokio::test(flavor = "multi_thread")]
async fn send_signs_paddle_and_gitlab_for_the_crates_layer() {
    let addr = preset_receiver().await;
    let payload = r#"{"event_type":"transaction.completed","notification_id":"ntf_01"}"#;
    let output = webhook(send_to(addr, "/paddle", "paddle", PADDLE_SECRET, payload)).await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));
    let output = webhook(send_to(
        addr,
        "/paddle",
        "paddle",
        "pdl_ntfset_other",
        payload,
    ))
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("401 Unauthorized"),
        "{}",
        stderr(&output)
    );

    let payload = r#"{"object_kind":"push"}"#;
    let output = webhook(send_to(addr, "/gitlab", "gitlab", GITLAB_TOKEN, payload)).await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn send_signs_the_url_it_sends_to_for_twilio_square_and_hubspot() {
    let addr = preset_receiver().await;

    // Twilio, JSON: the CLI adds `bodySHA256` to the URL, as Twilio does, and signs the URL.
    let payload = r#"{"MessageSid":"SM1","MessageStatus":"delivered"}"#;
    let output = webhook(send_to(addr, "/twilio", "twilio", TWILIO_TOKEN, payload)).await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("/twilio?bodySHA256="),
        "{}",
        stdout(&output)
    );
    // A query of its own stays, and the hash is added after it.
    let output = webhook(send_to(
        addr,
        "/twilio?account=AC1",
        "twilio",
        TWILIO_TOKEN,
        payload,
    ))
    .await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));
    assert!(
        stdout(&output).contains("/twilio?account=AC1&bodySHA256="),
        "{}",
        stdout(&output)
    );

    // Twilio, a form: its sorted fields are signed after the URL.
    let mut form = send_to(
        addr,
        "/twilio",
        "twilio",
        TWILIO_TOKEN,
        "To=%2B15558675310&Body=Hello+there&From=%2B15017122661",
    );
    form.extend(args(&[
        "--content-type",
        "application/x-www-form-urlencoded",
    ]));
    let output = webhook(form).await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));
    assert!(
        !stdout(&output).contains("bodySHA256"),
        "{}",
        stdout(&output)
    );

    // A receiver that knows itself by another URL refuses what was signed for this one.
    let output = webhook(send_to(
        addr,
        "/twilio-elsewhere",
        "twilio",
        TWILIO_TOKEN,
        payload,
    ))
    .await;
    assert_eq!(output.status.code(), Some(1), "{}", stderr(&output));
    assert!(
        stderr(&output).contains("signature does not match"),
        "{}",
        stderr(&output)
    );

    let payload = r#"{"type":"payment.updated","event_id":"ev-1"}"#;
    let output = webhook(send_to(addr, "/square", "square", SQUARE_KEY, payload)).await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));

    // HubSpot signs the method, URL, body and a millisecond timestamp.
    let payload = r#"[{"eventId":1,"subscriptionType":"contact.creation"}]"#;
    let output = webhook(send_to(
        addr,
        "/hubspot",
        "hubspot",
        HUBSPOT_SECRET,
        payload,
    ))
    .await;
    assert!(delivered(&output), "{}{}", stdout(&output), stderr(&output));
}

#[tokio::test(flavor = "multi_thread")]
async fn batch_signs_every_kind_of_preset_by_name() {
    let addr = preset_receiver().await;
    let entry = |path: &str, scheme: &str, secret: &str, payload: &str| {
        format!(
            r#"{{"url": "http://{addr}{path}", "scheme": "{scheme}", "secret": "{secret}", "payload": {payload}}}"#
        )
    };
    let entries = [
        entry("/paddle", "paddle", PADDLE_SECRET, r#"{"event_type":"a"}"#),
        entry("/twilio", "twilio", TWILIO_TOKEN, r#"{"MessageSid":"SM2"}"#),
        entry("/square", "Square", SQUARE_KEY, r#"{"type":"b"}"#),
        entry("/hubspot", "hubspot", HUBSPOT_SECRET, r#"[{"eventId":2}]"#),
        entry(
            "/gitlab",
            "gitlab",
            GITLAB_TOKEN,
            r#"{"object_kind":"tag_push"}"#,
        ),
    ];
    let dir = Scratch::new("cli");
    let file = dir.write("batch-presets.json", &format!("[{}]", entries.join(",")));
    let output = webhook(args(&["batch", file.to_str().unwrap(), "--retries", "0"])).await;
    assert!(
        output.status.success(),
        "{}{}",
        stdout(&output),
        stderr(&output)
    );
    assert!(
        stdout(&output).contains("5 delivered, 0 failed"),
        "{}",
        stdout(&output)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sign_signs_the_url_given_and_needs_one_for_square() {
    let payload = r#"{"type":"payment.updated","event_id":"ev-2"}"#;
    let dir = Scratch::new("cli");
    let file = dir.write("square-payload.json", payload);
    let sign = |extra: &[&str]| {
        let mut list = args(&[
            "sign",
            "--scheme",
            "square",
            "--secret",
            SQUARE_KEY,
            "--payload-file",
            file.to_str().unwrap(),
        ]);
        list.extend(args(extra));
        list
    };
    let output = webhook(sign(&[])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("square signs the URL the webhook is sent to: give it with --url"),
        "{}",
        stderr(&output)
    );

    let public = "https://hooks.example.com/square";
    let output = webhook(sign(&["--url", public])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let mut headers = HeaderMap::new();
    for line in stdout(&output).lines() {
        let (name, value) = line.split_once(": ").unwrap();
        headers.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(value).unwrap(),
        );
    }
    assert_eq!(headers["content-type"], "application/json");
    let verify = |url: &str, headers: HeaderMap| {
        let verifier = ServiceBuilder::new()
            .layer(
                VerifySignatureLayer::new(Square, SQUARE_KEY)
                    .unwrap()
                    .public_url(url)
                    .unwrap(),
            )
            .service(service_fn(|_: Request<VerifiedBody>| async {
                Ok::<_, BoxError>(http::Response::new(Full::new(Bytes::new())))
            }));
        let mut request = Request::post("/square")
            .body(Full::new(Bytes::from(payload)))
            .unwrap();
        *request.headers_mut() = headers;
        verifier.oneshot(request)
    };
    let response = verify(public, headers.clone()).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let response = verify("https://hooks.example.com/other", headers)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test(flavor = "multi_thread")]
async fn every_preset_is_a_scheme_name_and_secret_new_knows_them() {
    for command in [
        &["send", "--help"][..],
        &["batch", "--help"],
        &["sign", "--help"],
    ] {
        let output = webhook(args(command)).await;
        let help = stdout(&output);
        for name in PRESETS {
            assert!(help.contains(name), "{command:?}: {name}");
        }
    }
    let output = webhook(args(&["secret", "new", "--scheme", "paddle"])).await;
    assert!(output.status.success(), "{}", stderr(&output));
    let secret = stdout(&output).trim().to_owned();
    assert!(VerifySignatureLayer::new(Paddle, secret.as_str()).is_ok());

    // Unknown names are refused by clap, with the list.
    let output = webhook(args(&["secret", "new", "--scheme", "nope"])).await;
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("woocommerce"),
        "{}",
        stderr(&output)
    );
}
