//! The receiver's routes: POST /webhook behind the layer, GET /health beside it.

use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use serde::Serialize;
use tower_webhook::replay::MemoryReplayGuard;
use tower_webhook::{ConfigError, Secrets, Verified, VerifyError, VerifySignatureLayer};

use super::options::Options;

/// The answer to a verified delivery.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// The scheme that verified it.
    pub scheme: String,
    /// The delivery id, when the scheme has one (unsigned for GitHub and Shopify).
    pub id: Option<String>,
    /// Which `--secret` matched, counting from 1 in the order given.
    pub key: usize,
    /// The body's length in bytes.
    pub bytes: usize,
    /// The event type the scheme reads (e.g. `issues.opened`), when there is one.
    pub event_type: Option<String>,
}

impl Accepted {
    pub fn from_verified(verified: &Verified) -> Self {
        Self {
            scheme: verified.scheme().to_owned(),
            id: verified.id().map(str::to_owned),
            key: verified.key_index() + 1,
            bytes: verified.body().len(),
            event_type: verified.event_type().map(str::to_owned),
        }
    }
}

async fn webhook(Extension(verified): Extension<Verified>) -> Json<Accepted> {
    let accepted = Accepted::from_verified(&verified);
    println!(
        "accepted: {} delivery {}, {} bytes, secret #{}",
        accepted.scheme,
        accepted.id.as_deref().unwrap_or("(no id)"),
        accepted.bytes,
        accepted.key
    );
    Json(accepted)
}

/// The receiver as the command line configured it.
pub fn app(options: &Options) -> Result<Router, ConfigError> {
    let secrets: Secrets = options.secrets.iter().map(String::as_str).collect();
    let mut layer = VerifySignatureLayer::new(options.scheme.scheme(), secrets)?.on_reject(
        |error: &VerifyError| {
            println!("refused: {} {error}", error.status().as_u16());
            error.to_response()
        },
    );
    if let Some(tolerance) = options.tolerance {
        layer = layer.tolerance(tolerance);
    }
    if let Some(max_body) = options.max_body {
        layer = layer.max_body_size(max_body);
    }
    if let Some(now) = options.now {
        layer = layer.clock(move || now);
    }
    if options.replay {
        let mut guard = MemoryReplayGuard::new(100_000);
        if let Some(now) = options.now {
            guard = guard.clock(move || now);
        }
        layer = layer.replay_guard(guard);
    }
    Ok(Router::new()
        .route("/webhook", post(webhook))
        .route_layer(layer)
        .route("/health", get(|| async { "ok" })))
}
