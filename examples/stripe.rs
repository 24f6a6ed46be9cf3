//! A Stripe webhook receiver: one handler for every `payment_intent.*` event, one for
//! `customer.subscription.updated`; everything else is acknowledged with `200 ignored`.
//!
//! ```text
//! STRIPE_WEBHOOK_SECRET=whsec_... cargo run --example stripe --features axum
//! ```
//!
//! It listens on `127.0.0.1:3000` (or `PORT`, or `--port N`) at `/stripe`.
//!
//! # Pointing Stripe at it
//!
//! With the Stripe CLI: `stripe listen --forward-to localhost:3000/stripe` prints the signing
//! secret (`whsec_...`) to use as `STRIPE_WEBHOOK_SECRET`; then
//! `stripe trigger payment_intent.succeeded` or `stripe trigger customer.subscription.updated`.
//! For a deployed endpoint, add it in the Dashboard (*Developers → Webhooks*) and use that
//! endpoint's signing secret. Stripe signs with the whole `whsec_` string as the key, and
//! refuses timestamps more than 300 s away, as this layer does.
//!
//! # A signed test delivery without Stripe
//!
//! ```text
//! cargo run --example stripe --features axum -- curl payment_intent.succeeded | sh
//! ```
//!
//! prints (and the pipe runs) a `curl` command signed now by the crate's `Stripe.sign` with
//! the same secret, for a small sample event of that type.

use std::net::SocketAddr;
use std::time::{SystemTime, UNIX_EPOCH};

use axum::Router;
use serde::Deserialize;
use tower_webhook::scheme::{Message, Scheme, Stripe};
use tower_webhook::{BoxError, EventRouter, Secret, VerifySignatureLayer, WebhookEvent};

const DEFAULT_SECRET: &str = "whsec_test_not_a_real_secret";

/// A Stripe event whose `data.object` is a `T`.
#[derive(Debug, Deserialize)]
struct Event<T> {
    data: EventData<T>,
}

#[derive(Debug, Deserialize)]
struct EventData<T> {
    object: T,
}

#[derive(Debug, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: i64,
    currency: String,
    status: String,
}

#[derive(Debug, Deserialize)]
struct Subscription {
    id: String,
    customer: String,
    status: String,
}

async fn payment_intent(event: WebhookEvent<Event<PaymentIntent>>) -> String {
    let intent = &event.payload.data.object;
    let message = format!(
        "{} ({}): {} {} {} is {}",
        event.event_type.as_deref().unwrap_or("?"),
        event.id.as_deref().unwrap_or("?"),
        intent.id,
        intent.amount,
        intent.currency,
        intent.status
    );
    println!("{message}");
    message
}

async fn subscription_updated(event: WebhookEvent<Event<Subscription>>) -> String {
    let subscription = &event.payload.data.object;
    let message = format!(
        "subscription {} of {} is now {}",
        subscription.id, subscription.customer, subscription.status
    );
    println!("{message}");
    message
}

fn app(secret: &str) -> Result<Router, BoxError> {
    let events = EventRouter::new()
        .on("payment_intent.*", payment_intent)
        .on("customer.subscription.updated", subscription_updated);
    Ok(Router::new()
        .route_service("/stripe", events)
        .layer(VerifySignatureLayer::new(Stripe, [secret])?))
}

/// A `curl` command for a delivery of `event_type`, signed now.
fn curl(event_type: &str, secret: &str, address: SocketAddr) -> Result<String, BoxError> {
    let object = if event_type.starts_with("customer.subscription.") {
        r#"{"id":"sub_1MowQVLkdIwHu7ix","object":"subscription","customer":"cus_Na6dX7aXxi11N4","status":"active"}"#
    } else {
        r#"{"id":"pi_3MtwBwLkdIwHu7ix","object":"payment_intent","amount":2000,"currency":"usd","status":"succeeded"}"#
    };
    let body = format!(
        r#"{{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"{event_type}","data":{{"object":{object}}}}}"#
    );
    let now = SystemTime::now().duration_since(UNIX_EPOCH)?.as_secs();
    let message = Message::new(body.as_bytes()).timestamp(i64::try_from(now)?);
    let headers = Stripe.sign(&Secret::new(secret), &message)?;
    let mut command =
        format!("curl -i http://{address}/stripe -H 'content-type: application/json'");
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
        std::env::var("STRIPE_WEBHOOK_SECRET").unwrap_or_else(|_| DEFAULT_SECRET.to_owned());
    let address = SocketAddr::from(([127, 0, 0, 1], port()?));

    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("curl") {
        let event_type = args
            .get(2)
            .map_or("payment_intent.succeeded", String::as_str);
        println!("{}", curl(event_type, &secret, address)?);
        return Ok(());
    }

    let listener = tokio::net::TcpListener::bind(address).await?;
    println!("listening on http://{}/stripe", listener.local_addr()?);
    axum::serve(listener, app(&secret)?).await?;
    Ok(())
}
