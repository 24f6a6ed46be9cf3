//! Workers: claim due deliveries, attempt them, record the attempts in batches.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::sync::{Mutex, mpsc, oneshot};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use super::dispatcher::{Dispatcher, Finished};
use super::endpoint::now_millis;
use super::error::DispatchError;
use super::store::{Claim, Lease, Next, StoreError};

/// Deliveries claimed per attempt in flight, for each store call under way: the next attempts
/// are at hand while earlier ones are recorded, and each claim and record covers more
/// deliveries per round trip.
const CLAIM_AHEAD: u32 = 4;
/// Store calls that fail in a row (with growing pauses, about two minutes) before a worker
/// gives up.
const STORE_FAILURES: u32 = 30;
/// Tries to record a batch before leaving it to the leases: another claim redoes it.
const RECORD_TRIES: u32 = 10;
/// The longest a finished attempt waits for others to be recorded with (see `drive`).
const BATCH_WAIT: Duration = Duration::from_millis(5);

/// Delivers a [`Dispatcher`]'s queued deliveries: claims due ones with a lease (up to four
/// times [`concurrency`](Self::concurrency), so the next are ready, for each store call under
/// way: a store may run several at once, each recording a batch and claiming, see
/// [`Store::concurrent_calls`](super::Store::concurrent_calls)), attempts them (at most
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
    /// attempt timeouts and 30 s, or nine where the store runs two calls at once and so
    /// claims twice as far ahead: a claimed delivery may wait for a sending slot). Shorter
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
    /// Dropping the future instead cuts the attempts in flight short, unrecorded: their
    /// deliveries go out again, with the same ids, once their leases end.
    ///
    /// # Errors
    ///
    /// When the store keeps failing (about two minutes of calls in a row).
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

    /// One loop: each turn records what finished and claims what there is room for, in one
    /// store call (up to [`Store::concurrent_calls`](super::Store::concurrent_calls) under way
    /// at once), and queues the claims for `concurrency` sending tasks as each call returns.
    /// It waits when there is nothing to record and no reason to look for work, when every
    /// call is under way, and while at least `concurrency` claims wait for a sending task,
    /// until `concurrency` results are back or the first has waited `BATCH_WAIT`.
    async fn drive(
        self,
        mut shutdown: Shutdown,
        until_idle: bool,
    ) -> Result<WorkerSummary, DispatchError> {
        let dispatcher = &self.dispatcher;
        let store = Arc::clone(&dispatcher.shared.store);
        // A token of its own: a lease it lost to another worker of the same process stays
        // lost (completions and releases apply only to the token that holds it).
        let token = super::dispatcher::new_token();
        let timeout = dispatcher.shared.attempt_timeout;
        // More than one store call at once only where the store runs them side by side; each
        // brings its own batch of claims.
        let most_calls = store.concurrent_calls().max(1);
        let ahead = CLAIM_AHEAD.saturating_mul(u32::try_from(most_calls).unwrap_or(u32::MAX));
        let lease_ms = self.lease.map_or_else(
            || worker_lease(timeout, ahead),
            |lease| i64::try_from(lease.as_millis()).unwrap_or(i64::MAX),
        );
        let timeout_ms = i64::try_from(timeout.as_millis()).unwrap_or(i64::MAX);
        // A lease shorter than an attempt could never be used: every claim would be given
        // back unattempted.
        let lease_ms = lease_ms.max(timeout_ms.saturating_add(1_000));
        let claimable = self.concurrency.saturating_mul(ahead as usize);
        let stopping = Arc::new(AtomicBool::new(false));
        let (done_tx, mut done_rx) = mpsc::unbounded_channel();
        // Long-lived couriers take claims in turn: no task to create and free per delivery.
        let (queue_tx, queue_rx) = mpsc::unbounded_channel();
        let courier = Courier {
            dispatcher: dispatcher.clone(),
            queue: Arc::new(Mutex::new(queue_rx)),
            done: done_tx.clone(),
            stopping: Arc::clone(&stopping),
            timeout_ms,
        };
        let mut couriers = JoinSet::new();
        for _ in 0..self.concurrency {
            courier.spawn_into(&mut couriers);
        }

        let mut summary = WorkerSummary::default();
        let mut back = Back::default();
        // Claimed and not back yet.
        let mut outstanding = 0_usize;
        // Store calls under way, each recording a batch and claiming; and the claims they ask
        // for.
        let mut calls: JoinSet<Call> = JoinSet::new();
        let mut claiming = 0_usize;
        // A call the last turn's wait saw end, to settle first.
        let mut ended_call = None;
        // Whether due deliveries may be waiting: at the start, after a claim that found some,
        // after a wake-up. Every turn that records also looks.
        let mut look = true;
        let mut failures = Failures::default();
        let outcome = 'turns: loop {
            // Asked to stop? Checked every turn, busy or not.
            if !stopping.load(Ordering::Acquire) {
                tokio::select! {
                    biased;
                    () = &mut shutdown => stopping.store(true, Ordering::Release),
                    () = std::future::ready(()) => {}
                }
            }
            while let Ok(done) = done_rx.try_recv() {
                outstanding -= 1;
                back.take(done);
            }
            while let Some(ended) = couriers.try_join_next() {
                courier.replace_panicked(&mut couriers, ended);
            }
            while let Some(ended) = ended_call.take().or_else(|| calls.try_join_next()) {
                let call = match ended {
                    Ok(call) => call,
                    Err(ended) if ended.is_panic() => std::panic::resume_unwind(ended.into_panic()),
                    // Only a runtime shutting down cancels a task: the leases cover the rest.
                    Err(_) => {
                        let cancelled = "the store call was cancelled: the runtime is stopping";
                        break 'turns Err(StoreError::new("record attempts", cancelled).into());
                    }
                };
                claiming -= call.limit;
                match call.result {
                    Ok((nexts, claims)) => {
                        failures.succeeded(!call.batch.is_empty());
                        summary.count(&nexts);
                        // Short claims happen under contention (another worker), so only an
                        // empty one says there is nothing to take.
                        if call.limit > 0 {
                            look = !claims.is_empty();
                        }
                        outstanding += claims.len();
                        for claim in claims {
                            // Never fails: `courier` holds the receiving end.
                            let _ = queue_tx.send((claim, call.lease));
                        }
                    }
                    Err(error) => {
                        let pause = match failures.failed(error, call.batch, &mut back) {
                            Ok(pause) => pause,
                            Err(error) => {
                                stopping.store(true, Ordering::Release);
                                break 'turns Err(error);
                            }
                        };
                        tokio::select! {
                            () = &mut shutdown, if !stopping.load(Ordering::Acquire) => {
                                stopping.store(true, Ordering::Release);
                            }
                            () = tokio::time::sleep(pause) => {}
                        }
                    }
                }
            }
            if stopping.load(Ordering::Acquire) {
                // Claims still queued go back now, not as couriers come free. A courier
                // waiting on the queue holds it, and takes them back itself.
                if let Ok(mut queue) = courier.queue.try_lock() {
                    while let Ok((claim, lease)) = queue.try_recv() {
                        outstanding -= 1;
                        back.unattempted.push((claim.delivery.id, lease));
                    }
                }
            }
            if let Some(&(_, lease)) = back.unattempted.first() {
                // One token per worker: one release covers them all. If it fails, the leases
                // simply run out.
                let ids: Vec<String> = back.unattempted.drain(..).map(|(id, _)| id).collect();
                let _ = store.release(&ids, lease).await;
            }
            let stopped = stopping.load(Ordering::Acquire);
            let room = if stopped {
                0
            } else {
                claimable.saturating_sub(outstanding + claiming)
            };
            let limit = if look || !back.finished.is_empty() {
                room
            } else {
                0
            };
            // Each store call has a fixed cost (a transaction, a round trip) besides the
            // deliveries it carries, so under a backlog a turn waits for a batch: one result
            // per sending task, or BATCH_WAIT. Never while fewer claims wait than there are
            // tasks to take them, and never on the way out.
            let queue_low = outstanding + claiming < self.concurrency.saturating_mul(2);
            let ready = queue_low
                || stopped
                || back.finished.len() >= self.concurrency
                || back
                    .waiting_since
                    .is_some_and(|since| since.elapsed() >= BATCH_WAIT);
            if (back.finished.is_empty() && limit == 0) || !ready || calls.len() >= most_calls {
                if stopped && outstanding == 0 && calls.is_empty() {
                    break Ok(());
                }
                // A deadline even with no batch waiting: `select!` builds every branch's
                // future before it looks at the conditions.
                let batch_due = back.waiting_since.unwrap_or_else(Instant::now) + BATCH_WAIT;
                let mut wait = self.poll_interval;
                // Nothing in flight, nothing unrecorded: is anything left at all?
                if until_idle && !stopped && outstanding == 0 && calls.is_empty() {
                    match idle_wait(&*store, wait).await {
                        Some(until_due) => wait = until_due,
                        None => break Ok(()),
                    }
                }
                tokio::select! {
                    done = done_rx.recv() => {
                        // Never `None`: this loop holds a sender.
                        if let Some(done) = done {
                            outstanding -= 1;
                            back.take(done);
                        }
                    }
                    () = &mut shutdown, if !stopped => stopping.store(true, Ordering::Release),
                    () = store.wait_for_work(wait), if room > 0 => look = true,
                    Some(ended) = couriers.join_next() => courier.replace_panicked(&mut couriers, ended),
                    // Only while a call could start: with every call under way, an overdue
                    // batch would wake this at once, again and again.
                    () = tokio::time::sleep_until(batch_due),
                        if back.waiting_since.is_some() && calls.len() < most_calls => {}
                    Some(ended) = calls.join_next(), if !calls.is_empty() => ended_call = Some(ended),
                }
                continue;
            }
            let now = now_millis();
            let lease = Lease {
                token,
                until: now.saturating_add(lease_ms),
            };
            let batch = back.take_batch();
            claiming += limit;
            let dispatcher = dispatcher.clone();
            let call = async move {
                let asked = u32::try_from(limit).unwrap_or(u32::MAX);
                let result = dispatcher.record_and_claim(&batch, now, lease, asked).await;
                Call {
                    batch,
                    lease,
                    limit,
                    result,
                }
            };
            if most_calls == 1 {
                // One at a time: no task to hand the call to and be woken by.
                ended_call = Some(Ok(call.await));
            } else {
                calls.spawn(call);
            }
        };
        // After a fatal store error, attempts and store calls in flight finish on their own
        // and claims still queued are let go; the leases cover what is not recorded. Idle
        // couriers end when the queue closes.
        drop(queue_tx);
        couriers.detach_all();
        calls.detach_all();
        outcome.map(|()| summary)
    }
}

/// What a sending task needs: it takes queued claims one at a time and attempts each, until
/// the queue closes.
#[derive(Clone)]
struct Courier {
    dispatcher: Dispatcher,
    queue: Arc<Mutex<mpsc::UnboundedReceiver<(Claim, Lease)>>>,
    done: mpsc::UnboundedSender<Done>,
    stopping: Arc<AtomicBool>,
    timeout_ms: i64,
}

impl Courier {
    fn spawn_into(&self, couriers: &mut JoinSet<()>) {
        couriers.spawn(self.clone().run());
    }

    /// A courier that panicked gave its claim back (see [`Slot`]); another takes its place.
    fn replace_panicked(&self, couriers: &mut JoinSet<()>, ended: Result<(), JoinError>) {
        if ended.is_err_and(|error| error.is_panic()) {
            self.spawn_into(couriers);
        }
    }

    async fn run(self) {
        loop {
            let next = self.queue.lock().await.recv().await;
            let Some((claim, lease)) = next else {
                return;
            };
            // Taken after the worker stopped, or too late to finish within the lease (another
            // claim may take it then): given back unattempted, as the slot drops.
            let late = now_millis().saturating_add(self.timeout_ms) > lease.until;
            let slot = Slot {
                done: &self.done,
                held: Some((claim, lease)),
            };
            if !self.stopping.load(Ordering::Acquire) && !late {
                slot.attempt(&self.dispatcher).await;
            }
        }
    }
}

/// A claim on its way back to the loop. It holds the claim while it is attempted, so the claim
/// comes back however the attempt ends: attempted, or given back unattempted when it is let go
/// without one (the worker stopping, a lease too short, a panic, an abort).
struct Slot<'a> {
    done: &'a mpsc::UnboundedSender<Done>,
    held: Option<(Claim, Lease)>,
}

impl Slot<'_> {
    async fn attempt(mut self, dispatcher: &Dispatcher) {
        let Some((claim, _)) = &self.held else {
            return;
        };
        let outcome = dispatcher.attempt(claim).await;
        if let Some((claim, lease)) = self.held.take() {
            // After a fatal store error the loop is gone; the lease covers this one.
            let _ = self.done.send(Done::Attempted(Box::new(Finished {
                claim,
                lease,
                outcome,
            })));
        }
    }
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        if let Some((claim, lease)) = self.held.take() {
            let _ = self.done.send(Done::Unattempted(claim.delivery.id, lease));
        }
    }
}

/// What came back from the sending tasks since the last turn.
#[derive(Default)]
struct Back {
    finished: Vec<Finished>,
    /// When the loop took in the oldest of `finished`.
    waiting_since: Option<Instant>,
    unattempted: Vec<(String, Lease)>,
}

impl Back {
    fn take(&mut self, done: Done) {
        match done {
            Done::Attempted(finished) => {
                self.waiting_since.get_or_insert_with(Instant::now);
                self.finished.push(*finished);
            }
            Done::Unattempted(id, lease) => self.unattempted.push((id, lease)),
        }
    }

    /// The results waiting, for a store call to record: the next result starts a new batch.
    fn take_batch(&mut self) -> Vec<Finished> {
        self.waiting_since = None;
        // The next batch is likely as large: no growing it again from nothing.
        let capacity = self.finished.len();
        std::mem::replace(&mut self.finished, Vec::with_capacity(capacity))
    }

    /// A batch the store did not record, ahead of what came back since, to try again.
    fn put_back(&mut self, mut batch: Vec<Finished>) {
        if batch.is_empty() {
            return;
        }
        batch.append(&mut self.finished);
        self.finished = batch;
        self.waiting_since.get_or_insert_with(Instant::now);
    }
}

/// Store calls failed in a row, and tries at recording the batch now waiting.
#[derive(Default)]
struct Failures {
    in_a_row: u32,
    record_tries: u32,
}

impl Failures {
    /// A call went through; `recorded` if it carried a batch.
    fn succeeded(&mut self, recorded: bool) {
        self.in_a_row = 0;
        // Only a recorded batch ends the tries: a claim beside a batch that keeps failing must
        // not let it fail for ever.
        if recorded {
            self.record_tries = 0;
        }
    }

    /// A call failed: its batch goes back to be tried again (after `RECORD_TRIES`, to the
    /// leases instead), and the loop pauses for the returned time; after `STORE_FAILURES` in
    /// a row, the error ends the worker. What is unrecorded is not lost either way: its
    /// leases end, and another claim makes the attempts again, with the same delivery ids.
    fn failed(
        &mut self,
        error: DispatchError,
        batch: Vec<Finished>,
        back: &mut Back,
    ) -> Result<Duration, DispatchError> {
        self.in_a_row += 1;
        if self.in_a_row >= STORE_FAILURES {
            return Err(error);
        }
        if !batch.is_empty() {
            self.record_tries += 1;
        }
        if self.record_tries >= RECORD_TRIES {
            #[cfg(feature = "tracing")]
            tracing::error!(%error, "recording attempts failed; their leases will expire");
            self.record_tries = 0;
        } else {
            #[cfg(feature = "tracing")]
            tracing::warn!(%error, "recording or claiming failed; trying again");
            back.put_back(batch);
        }
        drop(error);
        Ok(Duration::from_millis(100 << self.in_a_row.min(6)))
    }
}

/// A store call that recorded `batch` and asked for `limit` claims under `lease`.
struct Call {
    batch: Vec<Finished>,
    lease: Lease,
    limit: usize,
    result: Result<(Vec<Next>, Vec<Claim>), DispatchError>,
}

impl WorkerSummary {
    fn count(&mut self, nexts: &[Next]) {
        for next in nexts {
            self.attempts += 1;
            match next {
                Next::Succeeded => self.succeeded += 1,
                Next::Failed => self.failed += 1,
                Next::RetryAt(_) => self.retried += 1,
            }
        }
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
fn worker_lease(attempt_timeout: Duration, ahead: u32) -> i64 {
    let lease = attempt_timeout
        .saturating_mul(ahead.saturating_add(1))
        .saturating_add(Duration::from_secs(30));
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// A claimed delivery, attempted or given back.
enum Done {
    Attempted(Box<Finished>),
    Unattempted(String, Lease),
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
