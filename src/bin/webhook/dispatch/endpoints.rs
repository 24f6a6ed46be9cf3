//! `webhook endpoints add|list|enable|disable`: who receives which events, signed how.

use clap::builder::{PossibleValue, PossibleValuesParser, TypedValueParser};
use serde::Serialize;
use tower_webhook::Secret;
use tower_webhook::dispatch::{Endpoint, NewEndpoint};
use tower_webhook::scheme::PRESETS;

use super::text::{clean, table};
use super::{DbArgs, failure, rfc3339};
use crate::Failure;

#[derive(Debug, clap::Subcommand)]
pub(crate) enum Command {
    /// Subscribe a URL to events: prints the new endpoint's id (and nothing else on stdout).
    ///
    /// Its secrets are sealed with the storage key before they reach the database.
    Add(AddArgs),
    /// List the endpoints (never their secrets).
    List(ListArgs),
    /// Enable an endpoint: its waiting deliveries go out again, and its run of failures is
    /// forgotten.
    Enable(IdArgs),
    /// Disable an endpoint: it receives nothing, and its deliveries wait until it is enabled.
    Disable(IdArgs),
}

#[derive(Debug, clap::Args)]
pub(crate) struct AddArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Where deliveries are POSTed: an http:// or https:// URL.
    #[arg(long)]
    url: String,
    /// The signature scheme: any preset's name.
    #[arg(long, value_parser = scheme_parser())]
    scheme: String,
    /// The secret to sign with (for discord and sendgrid the private key; for
    /// standard-webhooks a whsec_ secret or a whsk_ private key). Give it again for more
    /// secrets, kept for a rotation: the first one signs.
    #[arg(
        long = "secret",
        env = "WEBHOOK_SECRET",
        hide_env_values = true,
        required = true
    )]
    secrets: Vec<String>,
    /// The event types it receives, as patterns (`order.*`, `order.paid`, `*`); give it again
    /// for more. Default: every event.
    #[arg(long = "events", value_name = "PATTERN")]
    events: Vec<String>,
    /// A name for people.
    #[arg(long)]
    name: Option<String>,
    /// The most deliveries in flight to it at once, so that a slow endpoint cannot take
    /// every worker.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..))]
    max_in_flight: u32,
    /// Add it disabled: it receives nothing until enabled.
    #[arg(long)]
    disabled: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Print a JSON list instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct IdArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The endpoint's id (`ep_…`).
    id: String,
}

/// Every preset's name (`standard` for `standard-webhooks` too), listed in `--help`.
fn scheme_parser() -> impl TypedValueParser<Value = String> {
    let names = PRESETS.iter().map(|name| match *name {
        "standard-webhooks" => PossibleValue::new(*name).alias("standard"),
        _ => PossibleValue::new(*name),
    });
    PossibleValuesParser::new(names).map(|name| match name.as_str() {
        "standard" => "standard-webhooks".to_owned(),
        _ => name,
    })
}

pub(crate) async fn run(command: Command) -> Result<(), Failure> {
    match command {
        Command::Add(args) => add(args).await,
        Command::List(args) => list(args).await,
        Command::Enable(args) => set_enabled(args, true).await,
        Command::Disable(args) => set_enabled(args, false).await,
    }
}

async fn add(args: AddArgs) -> Result<(), Failure> {
    let mut secrets = args.secrets.into_iter().map(Secret::new);
    let first = secrets
        .next()
        .ok_or_else(|| Failure::input("give the secret to sign with: --secret"))?;
    let mut endpoint = NewEndpoint::new(args.url, args.scheme, first)
        .events(&args.events)
        .max_in_flight(args.max_in_flight);
    for secret in secrets {
        endpoint = endpoint.secret(secret);
    }
    if let Some(name) = args.name {
        endpoint = endpoint.named(name);
    }
    if args.disabled {
        endpoint = endpoint.disabled();
    }
    let dispatcher = args.db.open(true).await?.build();
    let added = dispatcher.add_endpoint(endpoint).await.map_err(failure)?;
    println!("{}", added.id);
    Ok(())
}

/// An endpoint as `list --json` prints it: everything but its secrets.
#[derive(Serialize)]
struct Listed<'a> {
    id: &'a str,
    enabled: bool,
    disabled_reason: Option<&'a str>,
    scheme: &'a str,
    events: Vec<&'a str>,
    url: String,
    name: Option<&'a str>,
    labels: &'a std::collections::BTreeMap<String, String>,
    max_in_flight: u32,
    failures: u32,
    failing_since: Option<String>,
    created_at: String,
}

impl<'a> Listed<'a> {
    fn new(endpoint: &'a Endpoint) -> Self {
        Self {
            id: &endpoint.id,
            enabled: endpoint.enabled,
            disabled_reason: endpoint.disabled_reason.as_deref(),
            scheme: &endpoint.scheme,
            events: endpoint.events.iter().map(|p| p.as_str()).collect(),
            url: shown_url(&endpoint.url),
            name: endpoint.name.as_deref(),
            labels: &endpoint.labels,
            max_in_flight: endpoint.max_in_flight,
            failures: endpoint.failures,
            failing_since: endpoint.failing_since.map(rfc3339),
            created_at: rfc3339(endpoint.created_at),
        }
    }
}

/// A URL without the password it may carry (`https://user:pass@host/`).
pub(crate) fn shown_url(text: &str) -> String {
    match url::Url::parse(text) {
        Ok(mut url) if url.password().is_some() => {
            let _ = url.set_password(Some("***"));
            url.to_string()
        }
        _ => text.to_owned(),
    }
}

async fn list(args: ListArgs) -> Result<(), Failure> {
    let dispatcher = args.db.open(false).await?.build();
    let endpoints = dispatcher.endpoints().await.map_err(failure)?;
    if args.json {
        let listed: Vec<Listed<'_>> = endpoints.iter().map(Listed::new).collect();
        let text = serde_json::to_string_pretty(&listed)
            .map_err(|error| super::runtime(error.to_string()))?;
        println!("{text}");
        return Ok(());
    }
    if endpoints.is_empty() {
        eprintln!("no endpoints: add one with `webhook endpoints add`");
        return Ok(());
    }
    let mut rows = vec![
        [
            "ID", "ENABLED", "SCHEME", "EVENTS", "URL", "NAME", "FAILURES",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for endpoint in &endpoints {
        let events: Vec<&str> = endpoint.events.iter().map(|p| p.as_str()).collect();
        rows.push(vec![
            endpoint.id.clone(),
            match endpoint.enabled {
                true => "yes".into(),
                false => "no".into(),
            },
            endpoint.scheme.clone(),
            clean(&events.join(",")),
            clean(&shown_url(&endpoint.url)),
            clean(endpoint.name.as_deref().unwrap_or("-")),
            endpoint.failures.to_string(),
        ]);
    }
    print!("{}", table(&rows));
    for endpoint in endpoints.iter().filter(|e| !e.enabled) {
        if let Some(reason) = &endpoint.disabled_reason {
            eprintln!("{} is disabled: {}", endpoint.id, clean(reason));
        }
    }
    Ok(())
}

async fn set_enabled(args: IdArgs, enable: bool) -> Result<(), Failure> {
    let dispatcher = args.db.open(false).await?.build();
    let result = match enable {
        true => dispatcher.enable(&args.id).await,
        false => dispatcher.disable(&args.id).await,
    };
    result.map_err(failure)?;
    let done = if enable { "enabled" } else { "disabled" };
    println!("{} {done}", clean(&args.id));
    Ok(())
}
