//! A GitHub webhook receiver: typed handlers for `issues.opened`, `push` and `ping`, and a `*`
//! fallback for every other event.
//!
//! ```text
//! GITHUB_WEBHOOK_SECRET='a long random secret' cargo run --example github --features axum
//! ```
//!
//! It listens on `127.0.0.1:3000` (or `PORT`, or `--port N`) at `/github`.
//!
//! # Pointing GitHub at it
//!
//! GitHub must reach the server, so expose it with a tunnel (`ngrok http 3000`, or
//! `npx smee-client --url https://smee.io/<channel> --target http://127.0.0.1:3000/github`).
//! In the repository, *Settings → Webhooks → Add webhook*: the tunnel's URL ending in
//! `/github`, content type `application/json` (form-encoded deliveries work too), and the same
//! secret as `GITHUB_WEBHOOK_SECRET`. GitHub sends a `ping` at once; *Recent Deliveries*
//! shows the answer and can redeliver.
//!
//! # A signed test delivery without GitHub
//!
//! ```text
//! cargo run --example github --features axum -- curl issues.opened | sh
//! ```
//!
//! prints (and the pipe runs) a `curl` command whose headers the crate's `GitHub.sign` made
//! with the same secret, for a small sample payload of that event (`issues.opened`, `push`,
//! `ping`, or anything else).

use std::net::SocketAddr;

use axum::Router;
use serde::Deserialize;
use tower_webhook::scheme::{GitHub, Message, Scheme};
use tower_webhook::{BoxError, EventRouter, Secret, Verified, VerifySignatureLayer, WebhookEvent};

const DEFAULT_SECRET: &str = "a long random secret";

#[derive(Debug, Deserialize)]
struct IssuesEvent {
    issue: Issue,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct Issue {
    number: u64,
    title: String,
}

#[derive(Debug, Deserialize)]
struct Repository {
    full_name: String,
}

#[derive(Debug, Deserialize)]
struct PushEvent {
    #[serde(rename = "ref")]
    reference: String,
    commits: Vec<serde_json::Value>,
    repository: Repository,
}

#[derive(Debug, Deserialize)]
struct PingEvent {
    zen: String,
}

async fn issue_opened(event: WebhookEvent<IssuesEvent>) -> String {
    let issue = &event.payload.issue;
    let message = format!(
        "issue #{} opened in {}: {}",
        issue.number, event.payload.repository.full_name, issue.title
    );
    println!("{message}");
    message
}

async fn push(event: WebhookEvent<PushEvent>) -> String {
    let push = &event.payload;
    let message = format!(
        "{} commit(s) pushed to {} in {}",
        push.commits.len(),
        push.reference,
        push.repository.full_name
    );
    println!("{message}");
    message
}

async fn ping(event: WebhookEvent<PingEvent>) -> String {
    println!("ping: {}", event.payload.zen);
    "pong".to_owned()
}

/// Everything else: acknowledged (GitHub would retry an error), and logged.
async fn anything_else(verified: Verified) -> String {
    let event_type = verified.event_type().unwrap_or("(none)");
    println!(
        "{event_type}: {} bytes, delivery {}",
        verified.body().len(),
        verified.id().unwrap_or("?")
    );
    format!("ignored {event_type}")
}

fn app(secret: &str) -> Result<Router, BoxError> {
    let events = EventRouter::new()
        .on("issues.opened", issue_opened)
        .on("push", push)
        .on("ping", ping)
        .on("*", anything_else);
    Ok(Router::new()
        .route_service("/github", events)
        .layer(VerifySignatureLayer::new(GitHub, [secret])?))
}

/// A `curl` command for a signed delivery of `event_type` to `address`.
fn curl(event_type: &str, secret: &str, address: SocketAddr) -> Result<String, BoxError> {
    let (event, action) = match event_type.split_once('.') {
        Some((event, action)) => (event, Some(action)),
        None => (event_type, None),
    };
    let repository = r#""repository":{"full_name":"octo-org/hello-world"}"#;
    let body = match (event, action) {
        ("issues", Some(action)) => format!(
            r#"{{"action":"{action}","issue":{{"number":1347,"title":"Found a bug"}},{repository}}}"#
        ),
        ("push", _) => {
            format!(r#"{{"ref":"refs/heads/main","commits":[{{"id":"6dcb09b"}}],{repository}}}"#)
        }
        ("ping", _) => r#"{"zen":"Design for failure.","hook_id":1}"#.to_owned(),
        (_, Some(action)) => format!(r#"{{"action":"{action}",{repository}}}"#),
        (_, None) => format!("{{{repository}}}"),
    };
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    let message = Message::new(body.as_bytes())
        .event_type(event_type)
        .id(delivery);
    let headers = GitHub.sign(&Secret::new(secret), &message)?;
    let mut command =
        format!("curl -i http://{address}/github -H 'content-type: application/json'");
    for (name, value) in &headers {
        command += &format!(" -H '{name}: {}'", value.to_str()?);
    }
    command += &format!(" --data-raw '{body}'");
    Ok(command)
}

fn port() -> Result<u16, BoxError> {
    let mut args = std::env::args().skip_while(|arg| arg != "--port").skip(1);
    match (args.next(), std::env::var("PORT")) {
        (Some(port), _) | (None, Ok(port)) => Ok(port.parse()?),
        (None, Err(_)) => Ok(3000),
    }
}

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    let secret =
        std::env::var("GITHUB_WEBHOOK_SECRET").unwrap_or_else(|_| DEFAULT_SECRET.to_owned());
    let address = SocketAddr::from(([127, 0, 0, 1], port()?));

    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("curl") {
        let event_type = args.get(2).map_or("issues.opened", String::as_str);
        println!("{}", curl(event_type, &secret, address)?);
        return Ok(());
    }

    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on http://{}/github", listener.local_addr()?);
    axum::serve(listener, app(&secret)?).await?;
    Ok(())
}
