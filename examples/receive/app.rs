//! The receiver's routes: /webhook (and `--url`'s path) behind the layer, GET /health beside
//! it.

use std::sync::Arc;

use axum::routing::{any, get};
use axum::{Extension, Json, Router};
use serde::Serialize;
use tower_webhook::replay::MemoryReplayGuard;
use tower_webhook::{ConfigError, Verified, VerifyError, VerifySignatureLayer};

use super::options::Options;

/// The answer to a verified delivery.
#[derive(Debug, Serialize)]
pub struct Accepted {
    /// The scheme that verified it.
    pub scheme: String,
    /// The delivery id, when the scheme has one (unsigned for GitHub and Shopify).
    pub id: Option<String>,
    /// Which key matched, counting from 1 over `--secret` and `--public-key` together, in
    /// command-line order.
    pub key: usize,
    /// The flag that gave that key: `--secret` or `--public-key`.
    pub key_flag: &'static str,
    /// The body's length in bytes.
    pub bytes: usize,
    /// The event type the scheme reads (e.g. `issues.opened`), when there is one.
    pub event_type: Option<String>,
}

impl Accepted {
    /// `flags` holds each configured key's flag, in the order the layer was given the keys.
    pub fn from_verified(verified: &Verified, flags: &[&'static str]) -> Self {
        let index = verified.key_index();
        Self {
            scheme: verified.scheme().to_owned(),
            id: verified.id().map(str::to_owned),
            key: index + 1,
            // The layer numbers the keys it was given, which are exactly `flags`' keys.
            key_flag: flags.get(index).copied().unwrap_or("?"),
            bytes: verified.body().len(),
            event_type: verified.event_type().map(str::to_owned),
        }
    }
}

async fn webhook(
    Extension(verified): Extension<Verified>,
    Extension(flags): Extension<Arc<[&'static str]>>,
) -> Json<Accepted> {
    let accepted = Accepted::from_verified(&verified, &flags);
    println!(
        "accepted: {} delivery {}, {} bytes, key #{} ({})",
        accepted.scheme,
        accepted.id.as_deref().unwrap_or("(no id)"),
        accepted.bytes,
        accepted.key,
        accepted.key_flag,
    );
    Json(accepted)
}

/// The path of `--url`, where the provider's requests arrive when nothing rewrites them, if it
/// is not one the receiver already serves.
pub fn url_path(options: &Options) -> Option<String> {
    let url = url::Url::parse(options.url.as_deref()?).ok()?;
    let path = url.path();
    (path != "/webhook" && path != "/health").then(|| path.to_owned())
}

/// The receiver as the command line configured it.
///
/// # Errors
///
/// The layer's own [`ConfigError`] when the keys do not suit the scheme (none given, a
/// secret where the scheme needs a public key, a key in the wrong format) or `--url` is not
/// an absolute http(s) URL.
pub fn app(options: &Options) -> Result<Router, ConfigError> {
    let mut layer = VerifySignatureLayer::new(options.scheme(), options.secrets())?.on_reject(
        |error: &VerifyError| {
            println!("refused: {} {error}", error.status().as_u16());
            error.to_response()
        },
    );
    if let Some(url) = &options.url {
        layer = layer.public_url(url)?;
    }
    if options.url_from_request {
        layer = layer.public_url_from_request();
    }
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
    let flags: Arc<[&'static str]> = options.keys.iter().map(|key| key.flag()).collect();
    // Any method: Meta's subscription check is a GET, and HubSpot signs the method it used.
    let mut router = Router::new().route("/webhook", any(webhook));
    if let Some(path) = url_path(options) {
        // A path from a URL is literal: `:` or `*` starting a segment are not captures here.
        router = router.without_v07_checks().route(&path, any(webhook));
    }
    Ok(router
        .route_layer(layer)
        .layer(Extension(flags))
        .route("/health", get(|| async { "ok" })))
}
