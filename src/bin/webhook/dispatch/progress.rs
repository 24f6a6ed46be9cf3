//! What the worker shows as it goes: a line per attempt when stdout is a file or a pipe, one
//! progress line with counts on a terminal.

use std::io::{IsTerminal as _, Write as _};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tower_webhook::dispatch::{AttemptReport, Endpoint, Next};

use super::rfc3339;
use super::text::clean;

/// Shows the worker's attempts.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    attempts: AtomicU64,
    succeeded: AtomicU64,
    failed: AtomicU64,
    retried: AtomicU64,
}

impl Progress {
    /// A progress line when stdout is a terminal, else plain lines.
    pub(crate) fn new() -> Self {
        let bar = std::io::stdout().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stdout());
            bar.set_style(
                ProgressStyle::with_template("{spinner} {elapsed_precise}  {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_spinner()),
            );
            bar.set_message("waiting for deliveries");
            bar.enable_steady_tick(Duration::from_millis(200));
            bar
        });
        Self {
            bar,
            attempts: AtomicU64::new(0),
            succeeded: AtomicU64::new(0),
            failed: AtomicU64::new(0),
            retried: AtomicU64::new(0),
        }
    }

    /// One attempt, recorded.
    pub(crate) fn attempt(&self, report: &AttemptReport) {
        self.attempts.fetch_add(1, Ordering::Relaxed);
        let counter = match report.next {
            Next::Succeeded => &self.succeeded,
            Next::Failed => &self.failed,
            Next::RetryAt(_) => &self.retried,
        };
        counter.fetch_add(1, Ordering::Relaxed);
        match &self.bar {
            None => {
                let line = line(report);
                let _ = writeln!(std::io::stdout().lock(), "{line}");
            }
            Some(bar) => {
                // Deliveries given up on stay on screen above the progress line.
                if report.next == Next::Failed {
                    bar.println(line(report));
                }
                bar.set_message(self.counts());
            }
        }
    }

    /// An endpoint disabled for failing.
    pub(crate) fn disabled(&self, endpoint: &Endpoint) {
        let reason = endpoint.disabled_reason.as_deref().unwrap_or("failing");
        let line = format!(
            "endpoint {} ({}) disabled: {}; `webhook endpoints enable` sends its deliveries again",
            endpoint.id,
            clean(&endpoint.url),
            clean(reason)
        );
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }

    /// Removes the progress line.
    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }

    fn counts(&self) -> String {
        format!(
            "{} attempts: {} delivered, {} failed for good, {} to retry",
            self.attempts.load(Ordering::Relaxed),
            self.succeeded.load(Ordering::Relaxed),
            self.failed.load(Ordering::Relaxed),
            self.retried.load(Ordering::Relaxed),
        )
    }
}

/// `TIME DELIVERY ENDPOINT EVENT attempt N: RESULT in D ms; NEXT`.
pub(crate) fn line(report: &AttemptReport) -> String {
    let result = match (report.status, &report.error) {
        (Some(status), _) => {
            let reason = http::StatusCode::from_u16(status)
                .ok()
                .and_then(|status| status.canonical_reason());
            match reason {
                Some(reason) => format!("{status} {reason}"),
                None => status.to_string(),
            }
        }
        (None, Some(error)) => format!("error: {}", clean(error)),
        (None, None) => "no answer".into(),
    };
    let next = match (report.next, report.retry_at()) {
        (Next::Succeeded, _) => "delivered".to_owned(),
        (Next::RetryAt(_), Some(at)) => {
            let wait = at
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            let wait = Duration::from_millis(wait.as_millis() as u64);
            format!(
                "retry in {} at {}",
                humantime::format_duration(wait),
                rfc3339(at)
            )
        }
        (Next::RetryAt(_), None) => "retry".to_owned(),
        (Next::Failed, _) => match report.status {
            Some(status) if status != 408 && status != 429 && status < 500 => {
                "failed for good (the receiver refused it)".to_owned()
            }
            _ => "failed for good (no retries left)".to_owned(),
        },
    };
    format!(
        "{} {} {} {} attempt {}: {result} in {} ms; {next}",
        rfc3339(report.started_at),
        report.delivery_id,
        report.endpoint_id,
        clean(&report.event_type),
        report.attempt,
        report.duration.as_millis(),
    )
}
