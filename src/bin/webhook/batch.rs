//! `webhook batch`: many deliveries, a few at a time, with a progress bar and a summary.

use std::path::PathBuf;
use std::sync::Arc;

use indicatif::{ProgressBar, ProgressStyle};
use serde::Deserialize;
use tokio::sync::Semaphore;
use tokio::task::JoinSet;

use crate::Failure;
use crate::input::{SchemeName, json_payload};
use crate::send::{Outcome, Target, Transport, Tuning, deliver, describe_attempt};
use crate::tls::TlsArgs;

#[derive(Debug, clap::Args)]
pub(crate) struct BatchArgs {
    /// The JSON file listing the deliveries.
    file: PathBuf,
    /// How many deliveries are in flight at once.
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u32).range(1..=1024))]
    concurrency: u32,
    /// The scheme for entries that do not name one: any preset's name.
    #[arg(long, value_parser = SchemeName::value_parser())]
    scheme: Option<SchemeName>,
    /// The secret for entries that do not give one (for discord and sendgrid, the private
    /// key; for standard-webhooks, a whsk_ private key signs v1a).
    #[arg(long, env = "WEBHOOK_SECRET", hide_env_values = true)]
    secret: Option<String>,
    #[command(flatten)]
    tuning: Tuning,
    #[command(flatten)]
    tls: TlsArgs,
}

/// One entry of the batch file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Entry {
    url: String,
    payload: Box<serde_json::value::RawValue>,
    scheme: Option<String>,
    secret: Option<String>,
    event: Option<String>,
    id: Option<String>,
    retries: Option<u32>,
}

pub(crate) async fn run(args: BatchArgs) -> Result<(), Failure> {
    let targets = load(&args)?;
    let total = targets.len();
    let progress = ProgressBar::new(total as u64);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {pos}/{len} delivered or given up  {msg}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );

    // indicatif draws nothing when stderr is not a terminal: there, plain lines say how the
    // run goes instead.
    let plain = progress.is_hidden();

    let transport = Transport::new(&args.tls, targets.iter().map(|target| &target.url))?;
    let permits = Arc::new(Semaphore::new(args.concurrency as usize));
    let mut running = JoinSet::new();
    for (index, target) in targets.into_iter().enumerate() {
        let (transport, permits, progress) =
            (transport.clone(), Arc::clone(&permits), progress.clone());
        let url = target.url.to_string();
        running.spawn(async move {
            let _permit = permits.acquire_owned().await;
            let attempts_progress = progress.clone();
            let label = format!("#{} {url}", index + 1);
            let attempts_label = label.clone();
            let outcome = deliver(transport, target, args.tuning, move |attempt| {
                if attempt.retry_in.is_none() {
                    return;
                }
                let line = format!("{attempts_label}: {}", describe_attempt(attempt));
                if plain {
                    eprintln!("{line}");
                } else {
                    attempts_progress.set_message(line);
                }
            })
            .await;
            progress.inc(1);
            if plain {
                match &outcome.problem {
                    None => eprintln!("{label}: delivered"),
                    Some(problem) => eprintln!("{label}: FAILED: {problem}"),
                }
            }
            (index, url, outcome)
        });
    }
    let mut rows = Vec::with_capacity(total);
    while let Some(joined) = running.join_next().await {
        match joined {
            Ok(row) => rows.push(row),
            Err(error) => {
                return Err(Failure::delivery(format!(
                    "a delivery task failed: {error}"
                )));
            }
        }
    }
    progress.finish_and_clear();
    rows.sort_by_key(|(index, _, _)| *index);

    print!("{}", summary(&rows));
    let failed = rows
        .iter()
        .filter(|(_, _, outcome)| !outcome.delivered())
        .count();
    println!("{} delivered, {failed} failed", total - failed);
    if failed > 0 {
        Err(Failure::delivery(String::new()))
    } else {
        Ok(())
    }
}

fn load(args: &BatchArgs) -> Result<Vec<Target>, Failure> {
    let file = args.file.display();
    let text = std::fs::read(&args.file)
        .map_err(|error| Failure::input(format!("cannot read {file}: {error}")))?;
    let entries: Vec<Entry> = serde_json::from_slice(&text).map_err(|error| {
        Failure::input(format!(
            "{file} is not a valid batch file (a JSON list of {{\"url\", \"payload\", …}} objects): {error}"
        ))
    })?;
    if entries.is_empty() {
        return Err(Failure::input(format!("{file} lists no deliveries")));
    }
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let which = |message: String| {
                Failure::input(format!("{file}, delivery #{}: {message}", index + 1))
            };
            let scheme = match (&entry.scheme, args.scheme) {
                (Some(name), _) => SchemeName::parse(name).map_err(which)?,
                (None, Some(scheme)) => scheme,
                (None, None) => return Err(which("no `scheme`, and no --scheme".into())),
            };
            let Some(secret) = entry.secret.or_else(|| args.secret.clone()) else {
                return Err(which("no `secret`, and no --secret".into()));
            };
            let payload = json_payload(entry.payload.get().as_bytes().to_vec(), "payload")?;
            // Batch payloads are JSON; a URL-signing scheme signs the entry's `url`.
            let mut target = Target::new(
                &entry.url,
                scheme.scheme(),
                secret,
                payload,
                "application/json",
            )
            .map_err(which)?;
            target.event = entry.event;
            target.id = entry.id;
            target.retries = entry.retries.unwrap_or(args.tuning.retries);
            Ok(target)
        })
        .collect()
}

fn summary(rows: &[(usize, String, Outcome)]) -> String {
    let header = ["#", "URL", "STATUS", "ATTEMPTS", "TIME", "RESULT"].map(String::from);
    let mut table = vec![header];
    for (index, url, outcome) in rows {
        let report = outcome.report.as_ref();
        table.push([
            (index + 1).to_string(),
            url.clone(),
            report
                .and_then(|r| r.status)
                .map_or("-".into(), |s| s.as_u16().to_string()),
            report.map_or("-".into(), |r| r.attempts.to_string()),
            report.map_or("-".into(), |r| format!("{} ms", r.elapsed.as_millis())),
            match &outcome.problem {
                None => "delivered".into(),
                Some(problem) => format!("FAILED: {problem}"),
            },
        ]);
    }
    let widths: Vec<usize> = (0..6)
        .map(|column| {
            table
                .iter()
                .map(|row| row[column].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    let mut text = String::new();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .zip(&widths)
            .enumerate()
            .map(|(column, (cell, width))| {
                if column == 5 {
                    cell.clone()
                } else {
                    format!("{cell:<width$}")
                }
            })
            .collect();
        text.push_str(cells.join("  ").trim_end());
        text.push('\n');
    }
    text
}
