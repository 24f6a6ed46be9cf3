//! `webhook dispatch`: queue events for the endpoints that subscribe to them.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use bytes::Bytes;
use serde::Deserialize;
use serde_json::value::RawValue;
use tokio::task::JoinSet;
use tower_webhook::dispatch::{DispatchError, Dispatched, Dispatcher, Event};

use super::text::{clean, deliveries};
use super::{DbArgs, failure, runtime};
use crate::Failure;
use crate::input::json_payload;

#[derive(Debug, clap::Args)]
pub(crate) struct DispatchArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The event's type, e.g. `order.paid`: every enabled endpoint whose patterns match it
    /// gets a delivery.
    #[arg(long, required_unless_present = "file", conflicts_with = "file")]
    event: Option<String>,
    /// The payload, as JSON text (sent exactly as given).
    #[arg(long, conflicts_with_all = ["payload_file", "file"], required_unless_present_any = ["payload_file", "file"])]
    payload: Option<String>,
    /// A file holding the JSON payload, sent byte for byte.
    #[arg(long, conflicts_with = "file")]
    payload_file: Option<PathBuf>,
    /// The event's idempotency key: dispatching the same key again queues nothing.
    #[arg(long = "id", value_name = "KEY", conflicts_with = "file")]
    id: Option<String>,
    /// A file of events, one JSON object per line: {"event": TYPE, "payload": any JSON, "id":
    /// KEY (optional)}. Every line is checked first: one bad line, and nothing is queued.
    #[arg(long, value_name = "EVENTS.jsonl")]
    file: Option<PathBuf>,
}

/// A line of an events file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Line {
    event: String,
    payload: Box<RawValue>,
    id: Option<String>,
}

/// Events dispatched at once from a file: a few, so a remote database's round trips overlap.
const IN_FLIGHT: usize = 8;

pub(crate) async fn run(args: DispatchArgs) -> Result<(), Failure> {
    let Some(path) = &args.file else {
        let event = single(&args)?;
        let dispatcher = args.db.open(false).await?.build();
        let event_type = event.event_type().to_owned();
        let dispatched = dispatcher.dispatch(event).await.map_err(failure)?;
        if dispatched.duplicate {
            println!(
                "queued 0 deliveries: event {} was dispatched before with this --id",
                dispatched.event_id
            );
        } else {
            println!(
                "queued {} for event {}",
                deliveries(dispatched.delivery_ids.len()),
                dispatched.event_id
            );
            if dispatched.delivery_ids.is_empty() {
                eprintln!("no enabled endpoint receives {}", clean(&event_type));
            }
        }
        return Ok(());
    };
    let events = read_file(path)?;
    let dispatcher = args.db.open(false).await?.build();
    let total = events.len();
    let (queued, duplicates) = dispatch_all(&dispatcher, events).await?;
    println!(
        "queued {} for {total} event{} ({duplicates} duplicate{})",
        deliveries(queued),
        if total == 1 { "" } else { "s" },
        if duplicates == 1 { "" } else { "s" },
    );
    Ok(())
}

/// The event --event and --payload (or --payload-file) describe.
fn single(args: &DispatchArgs) -> Result<Event, Failure> {
    let Some(event_type) = &args.event else {
        return Err(Failure::input("give --event TYPE, or --file"));
    };
    check_type(event_type).map_err(Failure::input)?;
    let payload = match (&args.payload, &args.payload_file) {
        (Some(text), _) => json_payload(text.clone().into_bytes(), "--payload")?,
        (None, Some(path)) => {
            let bytes = std::fs::read(path).map_err(|error| {
                Failure::input(format!("cannot read {}: {error}", path.display()))
            })?;
            json_payload(bytes, &path.display().to_string())?
        }
        (None, None) => return Err(Failure::input("give --payload or --payload-file")),
    };
    let mut event = Event::new(event_type.clone(), payload);
    if let Some(key) = &args.id {
        if key.is_empty() {
            return Err(Failure::input("--id is empty"));
        }
        event = event.idempotency_key(key.clone());
    }
    Ok(event)
}

/// An event type a header can carry, as the Dispatcher requires: checked here so that a file
/// with a bad one queues nothing.
fn check_type(event_type: &str) -> Result<(), String> {
    if event_type.is_empty() {
        return Err("the event type is empty".into());
    }
    if http::HeaderValue::from_str(event_type).is_err() {
        return Err(format!(
            "event type \"{}\" has characters a header cannot carry",
            clean(event_type)
        ));
    }
    Ok(())
}

/// Every event of the file, or the first bad line's number and what is wrong with it.
fn read_file(path: &Path) -> Result<Vec<(Event, Option<String>)>, Failure> {
    let shown = path.display();
    let text = std::fs::read_to_string(path)
        .map_err(|error| Failure::input(format!("cannot read {shown}: {error}")))?;
    let mut events = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let number = index + 1;
        if line.trim().is_empty() {
            continue;
        }
        let bad = |message: String| {
            Failure::input(format!("{shown}:{number}: {message}; nothing was queued"))
        };
        let parsed: Line = serde_json::from_str(line).map_err(|error| {
            bad(format!(
                "not an event ({{\"event\": TYPE, \"payload\": JSON, \"id\": KEY}}): {error}"
            ))
        })?;
        check_type(&parsed.event).map_err(bad)?;
        let mut event = Event::new(parsed.event, Bytes::from(compact(parsed.payload.get())));
        if let Some(key) = &parsed.id {
            if key.is_empty() {
                return Err(bad("\"id\" is empty".into()));
            }
            event = event.idempotency_key(key.clone());
        }
        events.push((event, parsed.id));
    }
    if events.is_empty() {
        return Err(Failure::input(format!("{shown} holds no events")));
    }
    Ok(events)
}

/// Valid JSON text without the whitespace between its tokens, its members in their order.
fn compact(json: &str) -> String {
    let mut out = String::with_capacity(json.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in json.chars() {
        if in_string {
            out.push(c);
            match (escaped, c) {
                (true, _) => escaped = false,
                (false, '\\') => escaped = true,
                (false, '"') => in_string = false,
                _ => {}
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !matches!(c, ' ' | '\t' | '\n' | '\r') {
            out.push(c);
        }
    }
    out
}

/// Dispatches every event, a few at a time; returns the deliveries queued and the events
/// that were duplicates (an idempotency key seen before, in the database or earlier in the
/// file).
async fn dispatch_all(
    dispatcher: &Dispatcher,
    events: Vec<(Event, Option<String>)>,
) -> Result<(usize, usize), Failure> {
    let mut tally = Tally::default();
    let mut keys = HashSet::new();
    let mut running = JoinSet::new();
    for (event, key) in events {
        // A key twice in one file: the second is a duplicate of the first, as it would be if
        // the lines were dispatched one by one.
        if let Some(key) = key
            && !keys.insert(key)
        {
            tally.duplicates += 1;
            continue;
        }
        while running.len() >= IN_FLIGHT {
            tally.collect(&mut running).await;
        }
        if tally.error.is_some() {
            break;
        }
        let dispatcher = dispatcher.clone();
        running.spawn(async move { dispatcher.dispatch(event).await });
    }
    while !running.is_empty() {
        tally.collect(&mut running).await;
    }
    match tally.error {
        None => Ok((tally.queued, tally.duplicates)),
        Some(mut failure) => {
            failure.message = format!(
                "{}; {} events were dispatched before it stopped ({} queued): dispatching \
                 the file again queues the events that have an \"id\" only once",
                failure.message,
                tally.done,
                deliveries(tally.queued)
            );
            Err(failure)
        }
    }
}

type Dispatching = JoinSet<Result<Dispatched, DispatchError>>;

/// What the dispatches of a file have done so far.
#[derive(Default)]
struct Tally {
    queued: usize,
    duplicates: usize,
    done: usize,
    error: Option<Failure>,
}

impl Tally {
    async fn collect(&mut self, running: &mut Dispatching) {
        match running.join_next().await {
            Some(Ok(Ok(dispatched))) => {
                self.done += 1;
                if dispatched.duplicate {
                    self.duplicates += 1;
                } else {
                    self.queued += dispatched.delivery_ids.len();
                }
            }
            Some(Ok(Err(error))) => {
                self.error.get_or_insert(failure(error));
            }
            Some(Err(panic)) => {
                self.error
                    .get_or_insert(runtime(format!("a dispatch failed: {panic}")));
            }
            None => {}
        }
    }
}
