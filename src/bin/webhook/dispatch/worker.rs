//! `webhook worker`: deliver what is queued, until stopped or until nothing is pending.

use std::sync::Arc;
use std::time::Duration;

use tower_webhook::dispatch::RetrySchedule;

use super::progress::Progress;
use super::signals::{self, Stop};
use super::{DbArgs, failure, runtime};
use crate::Failure;

#[derive(Debug, clap::Args)]
pub(crate) struct WorkerArgs {
    #[command(flatten)]
    db: DbArgs,
    /// Attempts in flight at once.
    #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=4096))]
    concurrency: u32,
    /// The waits between attempts of a delivery, e.g. 1s,5s,30s,5m,2h: after the last, it has
    /// failed for good. Default: 5s,5m,30m,2h,5h,10h,10h (eight attempts over about 28 hours).
    #[arg(long, value_name = "WAITS", value_parser = parse_schedule)]
    retry_schedule: Option<RetrySchedule>,
    /// How long one attempt may take, e.g. 30s or 500ms.
    #[arg(long, value_name = "DUR", default_value = "30s", value_parser = parse_duration)]
    attempt_timeout: Duration,
    /// How long a claim holds a delivery before another worker may take it: a killed
    /// worker's deliveries go out again after this. Longer than --attempt-timeout. Default:
    /// five attempt timeouts and 30 s, nine on Postgres with its two store calls at once (a
    /// claimed delivery may wait for a sending slot).
    #[arg(long, value_name = "DUR", value_parser = parse_duration)]
    lease: Option<Duration>,
    /// How often to look for deliveries queued by other processes and retries coming due.
    #[arg(long, value_name = "DUR", default_value = "500ms", value_parser = parse_duration)]
    poll_interval: Duration,
    /// Exit once nothing is pending: every delivery succeeded, failed for good, or belongs
    /// to a disabled endpoint (retries coming due are waited for).
    #[arg(long)]
    until_idle: bool,
}

fn parse_schedule(text: &str) -> Result<RetrySchedule, String> {
    text.parse()
        .map_err(|error: tower_webhook::dispatch::InvalidSchedule| error.to_string())
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    match humantime::parse_duration(text) {
        Ok(duration) if !duration.is_zero() => Ok(duration),
        _ => Err(format!(
            "`{text}` is not a duration (write e.g. 500ms, 30s, 2m)"
        )),
    }
}

pub(crate) async fn run(args: WorkerArgs) -> Result<(), Failure> {
    if let Some(lease) = args.lease
        && lease <= args.attempt_timeout
    {
        return Err(Failure::input(format!(
            "--lease ({}) must be longer than --attempt-timeout ({}), or a slow attempt \
             would be made twice",
            humantime::format_duration(lease),
            humantime::format_duration(args.attempt_timeout)
        )));
    }
    signals::install();
    let progress = Arc::new(Progress::new());
    let mut builder = args
        .db
        .open(false)
        .await?
        .attempt_timeout(args.attempt_timeout);
    if let Some(schedule) = args.retry_schedule {
        builder = builder.retry_schedule(schedule);
    }
    let on_attempt = Arc::clone(&progress);
    let on_disabled = Arc::clone(&progress);
    let dispatcher = builder
        .on_attempt(move |report| on_attempt.attempt(report))
        .on_endpoint_disabled(move |endpoint| on_disabled.disabled(endpoint))
        .build();
    let store = Arc::clone(dispatcher.store());

    eprintln!(
        "worker: delivering from {} ({} at once){}",
        args.db.shown(),
        args.concurrency,
        if args.until_idle {
            "; stops once nothing is pending"
        } else {
            "; Ctrl-C or SIGTERM stops it after the attempts in flight"
        }
    );
    // The signal that stopped the worker, if one did (with --until-idle the worker may end
    // first, dropping the sender).
    let (stopped_tx, stopped_rx) = tokio::sync::oneshot::channel();
    let shutdown = async move {
        let _ = stopped_tx.send(signals::stop().await);
    };
    let mut worker = dispatcher
        .worker()
        .concurrency(args.concurrency as usize)
        .poll_interval(args.poll_interval);
    if let Some(lease) = args.lease {
        worker = worker.lease(lease);
    }
    let result = match args.until_idle {
        true => worker.run_until_idle_or(shutdown).await,
        false => worker.run(shutdown).await,
    };
    progress.finish();
    let summary = result.map_err(|error| {
        let mut failure = failure(error);
        failure.message = format!("the worker stopped: {}", failure.message);
        failure
    })?;
    let stop: Option<Stop> = stopped_rx.await.ok();
    let left = store.pending().await.map(|pending| pending.count);
    let how = match stop {
        Some(stop) => format!("stopped by {}", stop.name()),
        None => "nothing pending".to_owned(),
    };
    println!("worker done ({how}): {summary}");
    match left {
        Ok(0) => {}
        Ok(left) => println!("{} still pending", super::text::deliveries(left as usize)),
        Err(error) => return Err(runtime(format!("counting what is left: {error}"))),
    }
    Ok(())
}
