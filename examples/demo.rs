//! See it work: an axum server with the layer, and five webhooks sent to it.
//!
//! ```text
//! cargo run --example demo
//! ```
//!
//! The server verifies Standard Webhooks signatures with two secrets, as during a rotation: the
//! current one and the previous one, and with an Ed25519 public key for the spec's `v1a`
//! signatures. It then receives a correctly signed webhook, a tampered one, a stale one, one
//! signed with the previous secret and one signed with the Ed25519 private key, and prints what
//! happened to each. The exit code is 0 when every verdict is the expected one.

use std::process::ExitCode;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::routing::post;
use axum::{Extension, Router};
use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tower_webhook::crypto::PublicKey;
use tower_webhook::scheme::{Message, Scheme, StandardWebhooks};
use tower_webhook::{Secret, Secrets, Verified, VerifySignatureLayer};

/// Demo secrets in the Standard Webhooks format (`whsec_` + base64). Never hard-code real ones.
const CURRENT: &str = "whsec_ZGVtbyBzZWNyZXQgbnVtYmVyIHR3byAoY3VycmVudCk=";
const PREVIOUS: &str = "whsec_ZGVtbyBzZWNyZXQgbnVtYmVyIG9uZSAocHJldmlvdXMp";
/// A demo Ed25519 key pair for `v1a`: the sender's private key and the receiver's public key.
const ED25519_PRIVATE: &str = "whsk_ZGVtbyBlZDI1NTE5IHNlZWQsIG5vdCBhIHNlY3JldCE=";
const ED25519_PUBLIC: &str = "whpk_bW28hOpo49RdMt+h7LsubC0Xtfax0hG6pg68k3BqBlk=";

const BODY: &str = r#"{"type":"invoice.paid","data":{"invoice":"in_1001","amount":4200}}"#;

async fn webhook(Extension(verified): Extension<Verified>) -> String {
    format!(
        "verified with the {} key, id {}, {} bytes",
        verified.key_name().unwrap_or("unnamed"),
        verified.id().unwrap_or("-"),
        verified.body().len()
    )
}

struct Case {
    what: &'static str,
    secret: &'static str,
    /// Seconds before now that the webhook claims to have been signed.
    age_seconds: i64,
    /// Changes the body after signing, as an attacker would.
    tamper: bool,
    expected: StatusCode,
}

const CASES: [Case; 5] = [
    Case {
        what: "signed with the current secret",
        secret: CURRENT,
        age_seconds: 0,
        tamper: false,
        expected: StatusCode::OK,
    },
    Case {
        what: "tampered (amount changed after signing)",
        secret: CURRENT,
        age_seconds: 0,
        tamper: true,
        expected: StatusCode::UNAUTHORIZED,
    },
    Case {
        what: "stale (signed 10 minutes ago, a replay)",
        secret: CURRENT,
        age_seconds: 600,
        tamper: false,
        expected: StatusCode::UNAUTHORIZED,
    },
    Case {
        what: "signed with the previous (rotated) secret",
        secret: PREVIOUS,
        age_seconds: 0,
        tamper: false,
        expected: StatusCode::OK,
    },
    Case {
        what: "signed with Ed25519 (v1a)",
        secret: ED25519_PRIVATE,
        age_seconds: 0,
        tamper: false,
        expected: StatusCode::OK,
    },
];

#[tokio::main]
async fn main() -> Result<ExitCode, Box<dyn std::error::Error>> {
    let secrets = Secrets::new()
        .with(Secret::new(CURRENT).named("current"))
        .with(Secret::new(PREVIOUS).named("previous"))
        .with(PublicKey::new(ED25519_PUBLIC).named("Ed25519"));
    let app = Router::new()
        .route("/webhook", post(webhook))
        .layer(VerifySignatureLayer::new(StandardWebhooks, secrets)?);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    tokio::spawn(async move { axum::serve(listener, app).await });
    println!(
        "Standard Webhooks receiver with two secrets (current, previous) and an Ed25519 public \
         key on http://{addr}/webhook\n"
    );

    let client: Client<HttpConnector, Full<Bytes>> =
        Client::builder(TokioExecutor::new()).build_http();
    let now = i64::try_from(SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs())?;
    let mut all_as_expected = true;
    for (number, case) in CASES.iter().enumerate() {
        let id = format!("msg_demo_{}", number + 1);
        let message = Message::new(BODY.as_bytes())
            .id(&id)
            .timestamp(now - case.age_seconds);
        let headers = StandardWebhooks.sign(&Secret::new(case.secret), &message)?;
        let body = if case.tamper {
            BODY.replace("4200", "1")
        } else {
            BODY.to_owned()
        };
        let mut request =
            Request::post(format!("http://{addr}/webhook")).body(Full::new(Bytes::from(body)))?;
        request.headers_mut().extend(headers);

        let response = client.request(request).await?;
        let status = response.status();
        let reason = response.into_body().collect().await?.to_bytes();
        let as_expected = status == case.expected;
        all_as_expected &= as_expected;
        println!(
            "{} {:<42} -> {} {}: {}",
            if as_expected { "[ok]  " } else { "[FAIL]" },
            case.what,
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            String::from_utf8_lossy(&reason)
        );
    }

    if all_as_expected {
        println!("\nEvery webhook was judged as expected.");
        Ok(ExitCode::SUCCESS)
    } else {
        println!("\nSome verdicts were not the expected ones.");
        Ok(ExitCode::FAILURE)
    }
}
