//! Workers: claim due deliveries, attempt them, record the attempts in batches.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore, mpsc, oneshot};

use super::dispatcher::{Dispatcher, Finished};
use super::endpoint::now_millis;
use super::error::DispatchError;
use super::store::{Lease, Next};

/// Deliveries claimed per attempt in flight: the next attempts are at hand while earlier ones
/// are recorded, and each claim and record covers more deliveries per round trip.
const CLAIM_AHEAD: u32 = 4;
/// The most finished attempts recorded in one write.
const RECORD_BATCH: usize = 256;
/// Claims that fail in a row (with growing pauses, about two minutes) before a worker gives up.
const CLAIM_FAILURES: u32 = 30;
/// Tries to record a batch before leaving it to the leases: another claim redoes it.
const RECORD_TRIES: u32 = 10;

/// Delivers a [`Dispatcher`]'s queued deliveries: claims due ones with a lease (up to four
/// times [`concurrency`](Self::concurrency), so the next are ready), attempts them (at most
/// `concurrency` at once), and records each attempt and what follows it in the store, in
/// batches.
///
/// Run as many workers as you like, in as many processes as the store allows (one machine for
/// SQLite, any number for Postgres): claims never overlap. A worker killed mid-attempt loses
/// nothing: its deliveries are claimed again when their lease ends (see
/// [`lease`](Self::lease)), and those it had sent are sent again with the same delivery id.
///
/// ```no_run
/// # async fn run(dispatcher: tower_webhook::dispatch::Dispatcher) -> Result<(), tower_webhook::dispatch::DispatchError> {
/// // Until told to stop (e.g. by a signal handler), then finish what is in flight.
/// let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
/// # drop(stop);
/// let summary = dispatcher
///     .worker()
///     .concurrency(32)
///     .run(async { stopped.await.ok(); })
///     .await?;
/// println!("{} attempts", summary.attempts);
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct Worker {
    dispatcher: Dispatcher,
    concurrency: usize,
    poll_interval: Duration,
    lease: Option<Duration>,
}

/// What a worker did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WorkerSummary {
    /// Attempts made and recorded.
    pub attempts: u64,
    /// Deliveries that succeeded.
    pub succeeded: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
    /// Attempts that failed and were scheduled again.
    pub retried: u64,
}

/// A worker running in the background, from [`Worker::spawn`].
#[derive(Debug)]
#[must_use = "dropping the handle detaches the worker; call `shutdown` to stop it gracefully"]
pub struct WorkerHandle {
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<WorkerSummary, DispatchError>>,
}

impl WorkerHandle {
    /// Stops claiming, finishes the attempts in flight, records them, and returns.
    ///
    /// # Errors
    ///
    /// The worker's error, if it stopped on one.
    pub async fn shutdown(mut self) -> Result<WorkerSummary, DispatchError> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        self.task
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
    }
}

type Shutdown = Pin<Box<dyn Future<Output = ()> + Send>>;

impl Worker {
    pub(crate) fn new(dispatcher: Dispatcher) -> Self {
        Self {
            dispatcher,
            concurrency: 16,
            poll_interval: Duration::from_millis(500),
            lease: None,
        }
    }

    /// Attempts in flight at once (default 16, at least 1).
    pub fn concurrency(mut self, attempts: usize) -> Self {
        self.concurrency = attempts.max(1);
        self
    }

    /// How often an idle worker looks for due deliveries that it was not told about: ones
    /// another process queued into a store that cannot say so (SQLite), and retries coming
    /// due (default 500 ms).
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval.max(Duration::from_millis(1));
        self
    }

    /// How long a claim holds a delivery before another worker may take it (default five
    /// attempt timeouts and 30 s: a claimed delivery may wait for a sending slot). Shorter
    /// means a killed worker's deliveries go out sooner. A claimed delivery that could not
    /// finish within its lease is given back unattempted rather than risk being sent twice.
    /// A lease shorter than the attempt timeout and a second is raised to that.
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = Some(lease);
        self
    }

    /// Runs in the background until [`WorkerHandle::shutdown`]. Dropping the handle leaves it
    /// running until the runtime ends.
    pub fn spawn(self) -> WorkerHandle {
        let (stop, stopped) = oneshot::channel();
        let task = tokio::spawn(self.run(async {
            // A dropped handle detaches the worker rather than stopping it.
            if stopped.await.is_err() {
                std::future::pending::<()>().await;
            }
        }));
        WorkerHandle {
            stop: Some(stop),
            task,
        }
    }

    /// Delivers until `shutdown` completes, then stops claiming, finishes the attempts in
    /// flight, records them, and returns.
    ///
    /// # Errors
    ///
    /// When the store keeps failing to claim (for about two minutes).
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<WorkerSummary, DispatchError> {
        self.drive(Box::pin(shutdown), false).await
    }

    /// Delivers until nothing is left to do: every delivery succeeded, failed for good, or
    /// belongs to a disabled endpoint. Retries are waited for.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_until_idle(self) -> Result<WorkerSummary, DispatchError> {
        self.run_until_idle_or(std::future::pending()).await
    }

    /// Delivers until nothing is left to do, as [`run_until_idle`](Self::run_until_idle), or
    /// until `shutdown` completes, whichever comes first; then stops as [`run`](Self::run)
    /// does.
    ///
    /// # Errors
    ///
    /// As [`run`](Self::run).
    pub async fn run_until_idle_or(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> Result<WorkerSummary, DispatchError> {
        self.drive(Box::pin(shutdown), true).await
    }

    async fn drive(
        self,
        mut shutdown: Shutdown,
        until_idle: bool,
    ) -> Result<WorkerSummary, DispatchError> {
        let store = Arc::clone(&self.dispatcher.shared.store);
        // A token of its own: a lease it lost to another worker of the same process stays
        // lost (completions and releases apply only to the token that holds it).
        let token = super::dispatcher::new_token();
        let timeout = self.dispatcher.shared.attempt_timeout;
        let lease_ms = self.lease.map_or_else(
            || worker_lease(timeout),
            |lease| i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
        );
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        // A lease shorter than an attempt could never be used: every claim would be given
        // back unattempted.
        let lease_ms = lease_ms.max(timeout_ms.saturating_add(1_000));
        let claimable = self.concurrency.saturating_mul(CLAIM_AHEAD as usize);
        let stopping = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let slots = Arc::new(Semaphore::new(claimable));
        let sending = Arc::new(Semaphore::new(self.concurrency));
        let recorded = Arc::new(Notify::new());
        let (finished_tx, finished_rx) = mpsc::unbounded_channel();
        let recorder = tokio::spawn(record(
            self.dispatcher.clone(),
            finished_rx,
            Arc::clone(&recorded),
        ));

        let mut claim_failures = 0;
        let outcome = loop {
            let first = tokio::select! {
                biased;
                () = &mut shutdown => break Ok(()),
                permit = Arc::clone(&slots).acquire_owned() => permit.expect("never closed"),
            };
            let mut permits = vec![first];
            while let Ok(permit) = Arc::clone(&slots).try_acquire_owned() {
                permits.push(permit);
            }
            let now = now_millis();
            let lease = Lease {
                token,
                until: now.saturating_add(lease_ms),
            };
            let limit = u32::try_from(permits.len()).unwrap_or(u32::MAX);
            let claims = match store.claim(now, lease, limit).await {
                Ok(claims) => {
                    claim_failures = 0;
                    claims
                }
                Err(error) => {
                    claim_failures += 1;
                    #[cfg(feature = "tracing")]
                    tracing::warn!(%error, "claiming deliveries failed");
                    if claim_failures >= CLAIM_FAILURES {
                        break Err(DispatchError::Store(error));
                    }
                    drop(error);
                    drop(permits);
                    let pause = Duration::from_millis(100 << claim_failures.min(6));
                    tokio::select! {
                        () = &mut shutdown => break Ok(()),
                        () = tokio::time::sleep(pause) => continue,
                    }
                }
            };
            if claims.is_empty() {
                drop(permits);
                let mut wait = self.poll_interval;
                // Nothing in flight, nothing unrecorded: is anything left at all?
                if until_idle && slots.available_permits() == claimable {
                    match idle_wait(&*store, wait).await {
                        Some(until_due) => wait = until_due,
                        None => break Ok(()),
                    }
                }
                tokio::select! {
                    () = &mut shutdown => break Ok(()),
                    () = store.wait_for_work(wait) => {}
                    () = recorded.notified() => {}
                }
                continue;
            }
            for (claim, permit) in claims.into_iter().zip(permits) {
                let dispatcher = self.dispatcher.clone();
                let finished = finished_tx.clone();
                let sending = Arc::clone(&sending);
                let stopping = Arc::clone(&stopping);
                tokio::spawn(async move {
                    let _sending = sending.acquire().await.expect("never closed");
                    // Not started when the worker stops, or too late to finish within the
                    // lease (another claim may take it then): give it back unattempted.
                    let late = now_millis().saturating_add(timeout_ms) > lease.until;
                    let done = if stopping.load(std::sync::atomic::Ordering::Acquire) || late {
                        Done::Unattempted(claim.delivery.id, lease)
                    } else {
                        let outcome = dispatcher.attempt(&claim).await;
                        Done::Attempted(Box::new(Finished {
                            claim,
                            lease,
                            outcome,
                        }))
                    };
                    // The recorder outlives every attempt: it stops only when all senders
                    // are gone.
                    let _ = finished.send((done, permit));
                });
            }
        };
        // Graceful: no more claims; attempts in flight finish (each within its timeout) and are
        // recorded, those not started yet are released, before the recorder sees the channel
        // close.
        stopping.store(true, std::sync::atomic::Ordering::Release);
        drop(finished_tx);
        let summary = recorder
            .await
            .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()));
        outcome.map(|()| summary)
    }
}

/// For `run_until_idle`: `None` when nothing is pending for an enabled endpoint, else how
/// long to wait before claiming again (at most `poll`).
async fn idle_wait(store: &dyn super::Store, poll: Duration) -> Option<Duration> {
    // A failed check is not the end: the next loop asks again.
    let Ok(pending) = store.pending().await else {
        return Some(poll);
    };
    if pending.count == 0 {
        return None;
    }
    // Due later: wake then. Due already but not claimable (an endpoint at its cap
    // elsewhere): the poll interval, not a busy loop.
    let until_due = pending
        .next_due
        .and_then(|due| u64::try_from(due.saturating_sub(now_millis())).ok())
        .filter(|&until| until > 0)
        .map_or(poll, Duration::from_millis);
    Some(until_due.min(poll))
}

/// A claim outlasts the wait for a sending slot and the attempt, with room to record it.
fn worker_lease(attempt_timeout: Duration) -> i64 {
    let lease = attempt_timeout
        .saturating_mul(CLAIM_AHEAD + 1)
        .saturating_add(Duration::from_secs(30));
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// A claimed delivery, attempted or given back.
enum Done {
    Attempted(Box<Finished>),
    Unattempted(String, Lease),
}

/// Records finished attempts in batches, releases unattempted deliveries, then frees their
/// slots.
async fn record(
    dispatcher: Dispatcher,
    mut finished: mpsc::UnboundedReceiver<(Done, OwnedSemaphorePermit)>,
    recorded: Arc<Notify>,
) -> WorkerSummary {
    let mut summary = WorkerSummary::default();
    let mut batch = Vec::with_capacity(RECORD_BATCH);
    let mut unattempted = Vec::new();
    let mut permits = Vec::with_capacity(RECORD_BATCH);
    while let Some((done, permit)) = finished.recv().await {
        let mut take = |done| match done {
            Done::Attempted(finished) => batch.push(*finished),
            Done::Unattempted(id, lease) => unattempted.push((id, lease)),
        };
        take(done);
        permits.push(permit);
        while permits.len() < RECORD_BATCH {
            match finished.try_recv() {
                Ok((done, permit)) => {
                    take(done);
                    permits.push(permit);
                }
                Err(_) => break,
            }
        }
        if let Some(&(_, lease)) = unattempted.first() {
            // One token per worker: one release covers them all. If it fails, the leases
            // simply run out.
            let ids: Vec<String> = unattempted.drain(..).map(|(id, _)| id).collect();
            let _ = dispatcher.shared.store.release(&ids, lease).await;
        }
        for try_number in 1..=RECORD_TRIES {
            if batch.is_empty() {
                break;
            }
            match dispatcher.record(&batch).await {
                Ok(reports) => {
                    for report in reports {
                        summary.attempts += 1;
                        match report.next {
                            Next::Succeeded => summary.succeeded += 1,
                            Next::Failed => summary.failed += 1,
                            Next::RetryAt(_) => summary.retried += 1,
                        }
                    }
                    break;
                }
                // Unrecorded attempts are not lost: their leases end, and another claim makes
                // them again, with the same delivery id.
                Err(_error) if try_number < RECORD_TRIES => {
                    #[cfg(feature = "tracing")]
                    tracing::warn!(error = %_error, "recording attempts failed; trying again");
                    tokio::time::sleep(Duration::from_millis(100 << try_number.min(5))).await;
                }
                Err(_error) => {
                    #[cfg(feature = "tracing")]
                    tracing::error!(error = %_error, "recording attempts failed; their leases will expire");
                }
            }
        }
        batch.clear();
        permits.clear();
        recorded.notify_waiters();
    }
    summary
}

impl fmt::Display for WorkerSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} attempts: {} succeeded, {} failed, {} to retry",
            self.attempts, self.succeeded, self.failed, self.retried
        )
    }
}
