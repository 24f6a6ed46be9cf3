//! Sending durably, with nothing to configure: a Dispatcher on a temporary SQLite file, two
//! local receivers behind `VerifySignatureLayer` (one failing at first), and the attempt log as
//! it goes.
//!
//! ```sh
//! cargo run --example dispatch --features sqlite
//! ```

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::http::StatusCode;
use axum::routing::post;
use axum::{Extension, Router};
use tower_webhook::dispatch::{
    DeliveryStatus, Dispatcher, Event, KeySource, NewEndpoint, Next, RetrySchedule,
};
use tower_webhook::scheme::{GitHub, StandardWebhooks};
use tower_webhook::{Secret, Verified, VerifySignatureLayer};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let dir = std::env::temp_dir().join(format!("tower-webhook-dispatch-{}", std::process::id()));
    std::fs::create_dir_all(&dir)?;
    let db = dir.join("deliveries.db");
    println!("database: {}", db.display());

    // Two receivers, each checking signatures with the crate's own layer.
    let billing_secret = Secret::generate()?;
    let billing = serve(
        "billing",
        VerifySignatureLayer::new(StandardWebhooks, billing_secret.clone())?,
        0,
    )
    .await;
    let shipping_secret = "a shipping secret";
    // The shipping service is down for its first two requests.
    let shipping = serve(
        "shipping",
        VerifySignatureLayer::new(GitHub, shipping_secret)?,
        2,
    )
    .await;

    let (builder, key) = Dispatcher::open(db.to_str().ok_or("a UTF-8 temp dir")?, None).await?;
    if let KeySource::Created(path) = key {
        println!("storage key: created {} (mode 0600)", path.display());
    }
    let dispatcher = builder
        // Quick retries for the example; the default schedule waits 5 s, 5 min, 30 min, ...
        .retry_schedule(RetrySchedule::new([
            Duration::from_millis(200),
            Duration::from_millis(500),
            Duration::from_secs(1),
        ]))
        .on_attempt(|report| {
            let answer = match (report.status, &report.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => error.clone(),
                (None, None) => "-".into(),
            };
            let next = match report.next {
                Next::Succeeded => "done".to_owned(),
                Next::Failed => "failed for good".to_owned(),
                Next::RetryAt(_) => "retry scheduled".to_owned(),
            };
            println!(
                "  attempt {} of {} ({}) to {}: {answer} in {:?}, {next}",
                report.attempt, report.delivery_id, report.event_type, report.url, report.duration
            );
        })
        .build();

    let billing_endpoint = dispatcher
        .add_endpoint(
            NewEndpoint::new(&billing, "standard-webhooks", billing_secret)
                .events(["order.*", "invoice.paid"])
                .named("billing"),
        )
        .await?;
    let shipping_endpoint = dispatcher
        .add_endpoint(
            NewEndpoint::new(&shipping, "github", shipping_secret)
                .events(["order.paid"])
                .named("shipping"),
        )
        .await?;
    println!(
        "endpoints: {} (billing), {} (shipping)",
        billing_endpoint.id, shipping_endpoint.id
    );

    for (event_type, order) in [
        ("order.paid", 77),
        ("order.refunded", 78),
        ("invoice.paid", 79),
    ] {
        let event = Event::json(event_type, &serde_json::json!({ "order": order }))?
            .idempotency_key(format!("{event_type}-{order}"));
        let dispatched = dispatcher.dispatch(event).await?;
        println!(
            "dispatched {event_type}: {} deliveries queued",
            dispatched.delivery_ids.len()
        );
    }
    // The same idempotency key again: nothing new is queued.
    let again = dispatcher
        .dispatch(
            Event::json("order.paid", &serde_json::json!({ "order": 77 }))?
                .idempotency_key("order.paid-77"),
        )
        .await?;
    println!(
        "dispatched order.paid again with its key: duplicate = {}",
        again.duplicate
    );

    println!("worker:");
    let summary = dispatcher.worker().run_until_idle().await?;
    println!("worker idle: {summary}");

    for delivery in dispatcher.deliveries(Default::default()).await? {
        let log = dispatcher.delivery(&delivery.id).await?.ok_or("logged")?;
        let statuses: Vec<String> = log
            .attempts
            .iter()
            .map(|a| {
                a.status
                    .map_or_else(|| "error".to_owned(), |s| s.to_string())
            })
            .collect();
        println!(
            "{} {:<15} {:<9} attempts: {}",
            delivery.id,
            delivery.event_type,
            delivery.status,
            statuses.join(" → ")
        );
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
    }
    let stats = dispatcher.stats(None).await?;
    println!(
        "{} deliveries, {} attempts, success rate {:.0} %",
        stats.deliveries(),
        stats.attempts,
        stats.success_rate.unwrap_or(0.0) * 100.0
    );
    std::fs::remove_dir_all(&dir)?;
    Ok(())
}

/// Serves a receiver on a free loopback port that answers 503 to its first `failures`
/// requests; returns its URL.
async fn serve(name: &'static str, layer: VerifySignatureLayer, failures: usize) -> String {
    let seen = Arc::new(AtomicUsize::new(0));
    let router = Router::new()
        .route(
            "/webhooks",
            post(move |Extension(verified): Extension<Verified>| {
                let seen = Arc::clone(&seen);
                async move {
                    let n = seen.fetch_add(1, Ordering::SeqCst);
                    let id = verified.id().unwrap_or("-").to_owned();
                    if n < failures {
                        println!("  {name}: verified {id}, answering 503 (down for now)");
                        return StatusCode::SERVICE_UNAVAILABLE;
                    }
                    println!("  {name}: verified {id}");
                    StatusCode::NO_CONTENT
                }
            }),
        )
        .layer(layer);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a free port");
    let url = format!("http://{}/webhooks", listener.local_addr().expect("bound"));
    tokio::spawn(async move { axum::serve(listener, router).await });
    url
}
