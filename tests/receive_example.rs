//! The `receive` example's command line and routes, tested here so that plain `cargo test`
//! runs them (an example's own tests do not run by default).

#[path = "../examples/receive/app.rs"]
mod app;
#[path = "../examples/receive/options.rs"]
mod options;

use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use http_body_util::BodyExt;
use options::{Command, Options, SchemeName};
use tower::ServiceExt;
use tower_webhook::Secret;
use tower_webhook::scheme::{Message, Scheme, StandardWebhooks, Stripe};

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
    assert_eq!(options.secrets, ["s"]);
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
    assert_eq!(options.secrets, ["whsec_a=b", "whsec_old=="]);
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
    ] {
        assert_eq!(run(&["--secret", "s", "--scheme", name]).scheme, scheme);
        assert_eq!(scheme.scheme().name(), name);
    }
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
        (
            &["--scheme", "github"][..],
            "at least one `--secret` is required",
        ),
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
    assert!(options::USAGE.contains("--scheme"));
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
