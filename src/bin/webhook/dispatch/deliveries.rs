//! `webhook deliveries` (a list, or one delivery with its attempts) and `webhook resend`.

use std::time::{Duration, SystemTime};

use serde::Serialize;
use tower_webhook::dispatch::{
    AttemptRow, DeliveryFilter, DeliveryRow, DeliveryStatus, Dispatcher,
};

use super::text::{clean, cut, deliveries, table};
use super::{DbArgs, failure, rfc3339, rfc3339_ms, runtime};
use crate::Failure;

#[derive(Debug, clap::Args)]
pub(crate) struct DeliveriesArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Show this delivery (`msg_…`) with its attempts, instead of a list.
    #[arg(conflicts_with_all = ["status", "endpoint", "limit"])]
    delivery_id: Option<String>,
    /// Only deliveries in this state.
    #[arg(long, value_parser = ["pending", "succeeded", "failed"])]
    status: Option<String>,
    /// Only deliveries to this endpoint (`ep_…`).
    #[arg(long, value_name = "ID")]
    endpoint: Option<String>,
    /// At most this many, newest first.
    #[arg(long, default_value_t = 100, value_parser = clap::value_parser!(u32).range(1..))]
    limit: u32,
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

#[derive(Debug, clap::Args)]
pub(crate) struct ResendArgs {
    #[command(flatten)]
    db: DbArgs,
    /// The delivery to send again (`msg_…`), whatever its state, with the same id.
    #[arg(required_unless_present = "endpoint", conflicts_with_all = ["endpoint", "failed_since"])]
    delivery_id: Option<String>,
    /// Send again every delivery to this endpoint that failed for good since --failed-since.
    #[arg(long, value_name = "ID", requires = "failed_since")]
    endpoint: Option<String>,
    /// A time: RFC 3339 (2025-01-31T12:00:00Z, or with an offset such as +02:00), or a while
    /// ago (30m, 2h, 1day).
    #[arg(long, value_name = "TIME", requires = "endpoint", value_parser = parse_since)]
    failed_since: Option<SystemTime>,
}

/// A delivery as `--json` prints it.
#[derive(Serialize)]
struct Delivery<'a> {
    id: &'a str,
    status: &'static str,
    event_id: &'a str,
    event_type: &'a str,
    endpoint_id: &'a str,
    attempts: u32,
    last_status: Option<u16>,
    last_error: Option<&'a str>,
    next_attempt_at: Option<String>,
    created_at: String,
    updated_at: String,
}

impl<'a> Delivery<'a> {
    fn new(row: &'a DeliveryRow) -> Self {
        Self {
            id: &row.id,
            status: row.status.as_str(),
            event_id: &row.event_id,
            event_type: &row.event_type,
            endpoint_id: &row.endpoint_id,
            attempts: row.attempts,
            last_status: row.last_status,
            last_error: row.last_error.as_deref(),
            next_attempt_at: match row.status {
                DeliveryStatus::Pending => row.next_attempt_at.map(rfc3339_ms),
                _ => None,
            },
            created_at: rfc3339_ms(row.created_at),
            updated_at: rfc3339_ms(row.updated_at),
        }
    }
}

/// An attempt as `--json` prints it.
#[derive(Serialize)]
struct Attempt<'a> {
    number: u32,
    started_at: String,
    duration_ms: u32,
    status: Option<u16>,
    error: Option<&'a str>,
    /// The start of the answer's body, as text (invalid UTF-8 replaced).
    response_body: String,
}

/// One delivery with its attempts, as `--json` prints it.
#[derive(Serialize)]
struct Log<'a> {
    #[serde(flatten)]
    delivery: Delivery<'a>,
    url: Option<String>,
    attempt_log: Vec<Attempt<'a>>,
}

pub(crate) async fn run(args: DeliveriesArgs) -> Result<(), Failure> {
    let dispatcher = args.db.open(false).await?.build();
    if let Some(id) = &args.delivery_id {
        return show(&dispatcher, id, args.json).await;
    }
    let filter = DeliveryFilter {
        status: args
            .status
            .as_deref()
            .map(|s| s.parse().expect("clap checked it")),
        endpoint_id: args.endpoint.clone(),
        limit: args.limit,
        ..DeliveryFilter::default()
    };
    let rows = dispatcher.deliveries(filter).await.map_err(failure)?;
    if args.json {
        let listed: Vec<Delivery<'_>> = rows.iter().map(Delivery::new).collect();
        return print_json(&listed);
    }
    if rows.is_empty() {
        eprintln!("no deliveries");
        return Ok(());
    }
    let mut table_rows = vec![
        [
            "ID", "STATUS", "ATTEMPTS", "LAST", "ENDPOINT", "EVENT", "CREATED", "NEXT",
        ]
        .map(String::from)
        .to_vec(),
    ];
    for row in &rows {
        table_rows.push(vec![
            row.id.clone(),
            row.status.to_string(),
            row.attempts.to_string(),
            last(row.last_status, row.last_error.as_deref()),
            row.endpoint_id.clone(),
            clean(&row.event_type),
            rfc3339_ms(row.created_at),
            match (row.status, row.next_attempt_at) {
                (DeliveryStatus::Pending, Some(at)) => rfc3339_ms(at),
                _ => "-".into(),
            },
        ]);
    }
    print!("{}", table(&table_rows));
    if rows.len() == args.limit as usize {
        eprintln!("(the newest {}: --limit shows more)", rows.len());
    }
    Ok(())
}

/// The last attempt's outcome, short.
fn last(status: Option<u16>, error: Option<&str>) -> String {
    match (status, error) {
        (Some(status), _) => status.to_string(),
        (None, Some(error)) => cut(error, 40),
        (None, None) => "-".into(),
    }
}

async fn show(dispatcher: &Dispatcher, id: &str, json: bool) -> Result<(), Failure> {
    let log = dispatcher
        .delivery(id)
        .await
        .map_err(failure)?
        .ok_or_else(|| Failure::input(format!("no delivery {}", clean(id))))?;
    let row = &log.delivery;
    let url = dispatcher
        .endpoint(&row.endpoint_id)
        .await
        .map_err(failure)?
        .map(|endpoint| super::endpoints::shown_url(&endpoint.url));
    if json {
        return print_json(&Log {
            delivery: Delivery::new(row),
            url,
            attempt_log: log.attempts.iter().map(attempt_json).collect(),
        });
    }
    let mut head = vec![
        vec!["delivery".into(), row.id.clone()],
        vec!["status".into(), row.status.to_string()],
        vec![
            "event".into(),
            format!("{} ({})", row.event_id, clean(&row.event_type)),
        ],
        vec![
            "endpoint".into(),
            format!(
                "{} {}",
                row.endpoint_id,
                clean(url.as_deref().unwrap_or("(removed)"))
            ),
        ],
        vec!["attempts".into(), row.attempts.to_string()],
        vec!["created".into(), rfc3339_ms(row.created_at)],
        vec!["updated".into(), rfc3339_ms(row.updated_at)],
    ];
    if let (DeliveryStatus::Pending, Some(at)) = (row.status, row.next_attempt_at) {
        head.push(vec!["next attempt".into(), rfc3339_ms(at)]);
    }
    print!("{}", table(&head));
    if log.attempts.is_empty() {
        println!("\nno attempts yet");
        return Ok(());
    }
    let mut rows = vec![
        ["#", "STARTED", "RESULT", "DURATION", "RESPONSE"]
            .map(String::from)
            .to_vec(),
    ];
    for attempt in &log.attempts {
        rows.push(vec![
            attempt.number.to_string(),
            rfc3339_ms(attempt.started_at),
            match (attempt.status, &attempt.error) {
                (Some(status), _) => status.to_string(),
                (None, Some(error)) => format!("error: {}", clean(error)),
                (None, None) => "-".into(),
            },
            format!("{} ms", attempt.duration_ms),
            cut(&String::from_utf8_lossy(&attempt.response_body), 80),
        ]);
    }
    println!();
    print!("{}", table(&rows));
    Ok(())
}

fn attempt_json(attempt: &AttemptRow) -> Attempt<'_> {
    Attempt {
        number: attempt.number,
        started_at: rfc3339_ms(attempt.started_at),
        duration_ms: attempt.duration_ms,
        status: attempt.status,
        error: attempt.error.as_deref(),
        response_body: String::from_utf8_lossy(&attempt.response_body).into_owned(),
    }
}

fn print_json(value: &impl Serialize) -> Result<(), Failure> {
    let text = serde_json::to_string_pretty(value).map_err(|error| runtime(error.to_string()))?;
    println!("{text}");
    Ok(())
}

pub(crate) async fn resend(args: ResendArgs) -> Result<(), Failure> {
    let dispatcher = args.db.open(false).await?.build();
    match (&args.delivery_id, &args.endpoint, args.failed_since) {
        (Some(id), _, _) => {
            dispatcher.resend(id).await.map_err(failure)?;
            println!("{} queued again", clean(id));
        }
        (None, Some(endpoint), Some(since)) => {
            let count = dispatcher.recover(endpoint, since).await.map_err(failure)?;
            println!(
                "{} to {} queued again (failed since {})",
                deliveries(usize::try_from(count).unwrap_or(usize::MAX)),
                clean(endpoint),
                rfc3339(since)
            );
        }
        _ => {
            return Err(Failure::input(
                "give a DELIVERY_ID, or --endpoint ID --failed-since TIME",
            ));
        }
    }
    Ok(())
}

/// RFC 3339 (UTC `Z` or an offset), or a duration ago.
fn parse_since(text: &str) -> Result<SystemTime, String> {
    let text = text.trim();
    if let Ok(ago) = humantime::parse_duration(text) {
        return SystemTime::now()
            .checked_sub(ago)
            .ok_or_else(|| format!("`{text}` ago is before any time this can count"));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!("`{text}` is neither an RFC 3339 time (2025-01-31T12:00:00Z) nor a while ago (2h)")
    })
}

/// RFC 3339 with `Z` or a numeric offset (humantime reads only UTC).
fn parse_rfc3339(text: &str) -> Option<SystemTime> {
    if let Some(utc) = text.strip_suffix(['Z', 'z']) {
        return humantime::parse_rfc3339_weak(utc).ok();
    }
    let sign_at = text.rfind(['+', '-'])?;
    let (local, offset) = text.split_at(sign_at);
    // The date's own dashes come before the `T`: an offset follows the time.
    if !local.contains(['T', 't', ' ']) {
        return None;
    }
    let sign = if offset.starts_with('-') { -1 } else { 1 };
    let (hours, minutes) = offset[1..].split_once(':')?;
    let (hours, minutes): (u64, u64) = (hours.parse().ok()?, minutes.parse().ok()?);
    if hours > 23 || minutes > 59 || offset.len() != 6 {
        return None;
    }
    let local = humantime::parse_rfc3339_weak(local).ok()?;
    let offset = Duration::from_secs(hours * 3600 + minutes * 60);
    // Local time = UTC + offset, so UTC = local − offset.
    if sign > 0 {
        local.checked_sub(offset)
    } else {
        local.checked_add(offset)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_with_offsets_and_durations_ago() {
        let utc = parse_since("2025-01-31T12:00:00Z").unwrap();
        assert_eq!(parse_since("2025-01-31T14:00:00+02:00").unwrap(), utc);
        assert_eq!(parse_since("2025-01-31T07:30:00-04:30").unwrap(), utc);
        assert_eq!(
            rfc3339(parse_since("2025-01-31T12:00:00.250Z").unwrap()),
            "2025-01-31T12:00:00.250Z"
        );
        let ago = parse_since("2h").unwrap();
        let expected = SystemTime::now() - Duration::from_secs(7200);
        let gap = expected
            .duration_since(ago)
            .unwrap_or_else(|e| e.duration());
        assert!(gap < Duration::from_secs(5), "{gap:?}");
        assert!(parse_since("yesterday-ish").is_err());
        assert!(parse_since("2025-01-31").is_err());
        assert!(parse_since("2025-01-31T12:00:00+2").is_err());
    }
}
