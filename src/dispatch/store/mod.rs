//! Where the Dispatcher keeps endpoints, events, deliveries and attempts.
//!
//! Three stores implement [`Store`], and one conformance suite (`tests/dispatch_store.rs`) runs
//! against each: [`MemoryStore`] (tests and examples: not durable), `SqliteStore` (feature
//! `sqlite`: one file, the embedded default) and `PostgresStore` (feature `postgres`: several
//! workers on several machines).
//!
//! A store is plain data in, plain data out: the rows below. It never sees a secret in plain
//! text (the Dispatcher seals them with its [`StorageKey`](super::StorageKey) first), never
//! signs, never sends, and never decides a policy: the retry schedule and the auto-disable
//! rule live in the Dispatcher, once, for every store. Times are Unix milliseconds.

use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

pub use super::error::StoreError;
pub use memory::MemoryStore;
#[cfg(feature = "postgres")]
pub use postgres::PostgresStore;
#[cfg(feature = "sqlite")]
pub use sqlite::SqliteStore;

/// The driver the Postgres store uses, for `from_pool` and your own queries.
#[cfg(feature = "postgres")]
pub use sqlx;

mod memory;
#[cfg(feature = "postgres")]
#[cfg_attr(docsrs, doc(cfg(feature = "postgres")))]
mod postgres;
#[cfg(feature = "sqlite")]
#[cfg_attr(docsrs, doc(cfg(feature = "sqlite")))]
mod sqlite;

/// A boxed future, so that [`Store`] can be used as `dyn Store`.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A delivery and its attempts, oldest first.
pub type DeliveryWithAttempts = (DeliveryRow, Vec<AttemptRow>);

/// The result of a store operation.
pub type StoreResult<T> = Result<T, StoreError>;

/// The storage behind a [`Dispatcher`](super::Dispatcher).
///
/// Every method is one atomic step (but see [`complete_and_claim`](Self::complete_and_claim)):
/// when it returns `Ok`, what it wrote is durable (for the durable stores), and a concurrent
/// caller — another task, another process, another machine for Postgres — sees all of it or
/// none of it.
pub trait Store: Send + Sync + fmt::Debug + 'static {
    /// Adds an endpoint. Its id is new.
    fn add_endpoint(&self, endpoint: EndpointRow) -> BoxFuture<'_, StoreResult<()>>;

    /// Every endpoint, oldest first.
    fn endpoints(&self) -> BoxFuture<'_, StoreResult<Vec<EndpointRow>>>;

    /// One endpoint.
    fn endpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<EndpointRow>>>;

    /// Enables or disables an endpoint; `reason` says why it was disabled (`None` when
    /// enabling). Enabling also clears its run of failures. Returns false when there is no
    /// such endpoint.
    fn set_enabled<'a>(
        &'a self,
        id: &'a str,
        enabled: bool,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Replaces an endpoint's sealed secrets (rotation). Returns false when there is no such
    /// endpoint.
    fn set_secrets<'a>(
        &'a self,
        id: &'a str,
        sealed_secrets: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>>;

    /// Writes an event and its deliveries in one transaction.
    ///
    /// When the event has an idempotency key that an earlier event already has, nothing is
    /// written, and the earlier event's id and delivery ids come back with `duplicate: true`.
    /// With `lease`, the deliveries are written already claimed by that lease (for
    /// `dispatch_sync`, which attempts them at once), so no worker takes them meanwhile.
    fn enqueue(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> BoxFuture<'_, StoreResult<Enqueued>>;

    /// Claims up to `limit` due deliveries (pending, `next_attempt_at <= now`, no lease or an
    /// expired one, of an enabled endpoint), oldest due first, giving each `lease`.
    ///
    /// No endpoint gets more claimed deliveries than its `max_in_flight` minus those it
    /// already has under an unexpired lease, so one slow endpoint cannot take every worker.
    /// Two concurrent claims never return the same delivery.
    fn claim(&self, now: i64, lease: Lease, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Claim>>>;

    /// Records finished attempts, in one transaction.
    ///
    /// Each attempt is inserted whatever happens (it did happen). The delivery is updated
    /// (`attempts` and `run_attempts` + 1, the attempt's status and error, then `next`) only
    /// while it still holds `lease`: a worker whose lease expired and was taken over does not
    /// overwrite the newer worker's result. The endpoint's run of failures is reset by a
    /// successful attempt and extended by a failed one (`failing_since` is set by the first
    /// failure of a run); the endpoints whose run grew are returned as they are now.
    fn complete(
        &self,
        completions: Vec<Completion>,
    ) -> BoxFuture<'_, StoreResult<Vec<EndpointHealth>>>;

    /// Records `completions` as [`complete`](Self::complete) does, then claims up to `limit`
    /// deliveries as [`claim`](Self::claim) does (none when `limit` is 0): a worker's round
    /// trip to the store, one per turn.
    ///
    /// When it returns an error, nothing was recorded. When the claim fails after the
    /// completions were recorded, it returns no claims rather than an error, which the caller
    /// would answer by recording them again. The default runs the two one after the other;
    /// a store that can do both in one transaction saves a round trip by overriding it.
    fn complete_and_claim(
        &self,
        completions: Vec<Completion>,
        now: i64,
        lease: Lease,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<(Vec<EndpointHealth>, Vec<Claim>)>> {
        Box::pin(async move {
            if completions.is_empty() {
                return Ok((Vec::new(), self.claim(now, lease, limit).await?));
            }
            let health = self.complete(completions).await?;
            // Recorded: a failed claim now only means the next turn claims.
            let claims = self.claim(now, lease, limit).await.unwrap_or_default();
            Ok((health, claims))
        })
    }

    /// Gives deliveries back unattempted (graceful shutdown): their lease is cleared, if it is
    /// still `lease`, and they are due as before.
    fn release<'a>(&'a self, ids: &'a [String], lease: Lease) -> BoxFuture<'a, StoreResult<()>>;

    /// One delivery with its attempts, oldest first.
    fn delivery<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DeliveryWithAttempts>>>;

    /// Deliveries matching `filter`, newest first, at most `filter.limit`.
    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, StoreResult<Vec<DeliveryRow>>>;

    /// Makes deliveries pending again, due `now`, with a new run of attempts (`run_attempts`
    /// back to 0; their attempts so far stay in the log). Returns how many.
    fn requeue(&self, which: Requeue, now: i64) -> BoxFuture<'_, StoreResult<u64>>;

    /// Counts and recent latencies for [`Stats`](super::Stats).
    fn stats(&self, endpoint: Option<String>) -> BoxFuture<'_, StoreResult<StatsRow>>;

    /// What is left to do for enabled endpoints: the number of pending deliveries (leased or
    /// not), and the earliest time one of them may be claimed (its due time, or its lease's
    /// end when that is later).
    fn pending(&self) -> BoxFuture<'_, StoreResult<Pending>>;

    /// How many calls a worker may have under way at once, each recording a batch of attempts
    /// and claiming more. One (the default) for a store that runs its writes one at a time
    /// anyway, such as one SQLite file; more where each runs on a connection of its own.
    fn concurrent_calls(&self) -> usize {
        1
    }

    /// Waits until work may have been added (an enqueue, a requeue, an endpoint enabled), or
    /// until `timeout`. Stores that cannot tell (another process wrote) just wait `timeout`:
    /// workers poll.
    fn wait_for_work(&self, timeout: Duration) -> BoxFuture<'_, ()> {
        Box::pin(tokio::time::sleep(timeout))
    }
}

/// An endpoint as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointRow {
    /// `ep_` and random characters.
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The scheme's name (a preset, or one registered on the Dispatcher).
    pub scheme: String,
    /// The secrets, sealed by the Dispatcher's storage key; the first one signs.
    pub sealed_secrets: Vec<u8>,
    /// Event-type patterns (`order.*`, `order`, `*`); the endpoint receives the events that
    /// match any of them.
    pub patterns: Vec<String>,
    /// Disabled endpoints receive nothing; their deliveries wait.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// A name for people.
    pub name: Option<String>,
    /// Labels, for people and for filtering.
    pub labels: BTreeMap<String, String>,
    /// The most deliveries in flight to this endpoint at once.
    pub max_in_flight: u32,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<i64>,
    /// When it was added.
    pub created_at: i64,
}

/// An event as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventRow {
    /// `evt_`, the dispatch time (12 hex digits of milliseconds), then 22 random base64url
    /// characters.
    pub id: String,
    /// The event type, e.g. `order.paid`.
    pub event_type: String,
    /// The exact bytes every delivery sends (shared, not copied, by every claim and attempt).
    pub payload: bytes::Bytes,
    /// The payload's media type.
    pub content_type: String,
    /// Dispatching a second event with the same key writes nothing.
    pub idempotency_key: Option<String>,
    /// When it was dispatched.
    pub created_at: i64,
}

/// A delivery to write with its event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewDelivery {
    /// The delivery id, sent with every attempt: `msg_`, the dispatch time (12 hex digits of
    /// milliseconds), then 22 random base64url characters.
    pub id: String,
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// When the first attempt is due.
    pub next_attempt_at: i64,
}

/// What [`Store::enqueue`] wrote, or found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Enqueued {
    /// The event's id (the earlier event's, for a duplicate).
    pub event_id: String,
    /// Its deliveries' ids, in the order given (for a duplicate, as first written).
    pub delivery_ids: Vec<String>,
    /// The idempotency key was seen before: nothing was written.
    pub duplicate: bool,
}

/// A claim on deliveries: who holds them, and until when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lease {
    /// A random token, one per worker (and one for `dispatch_sync`): completions and
    /// releases apply only while the delivery still holds it.
    pub token: i64,
    /// When the lease expires and the delivery may be claimed again.
    pub until: i64,
}

/// The state of a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum DeliveryStatus {
    /// Not delivered yet: due now, or scheduled for a retry.
    Pending,
    /// A 2xx answer was received.
    Succeeded,
    /// Given up: a final 4xx, or the retry schedule ran out.
    Failed,
}

impl DeliveryStatus {
    /// `pending`, `succeeded` or `failed`, as stored and printed.
    ///
    /// ```
    /// use tower_webhook::dispatch::DeliveryStatus;
    ///
    /// assert_eq!(DeliveryStatus::Failed.as_str(), "failed");
    /// assert_eq!("failed".parse(), Ok(DeliveryStatus::Failed));
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Succeeded => "succeeded",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for DeliveryStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::str::FromStr for DeliveryStatus {
    type Err = UnknownStatus;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        match text {
            "pending" => Ok(Self::Pending),
            "succeeded" => Ok(Self::Succeeded),
            "failed" => Ok(Self::Failed),
            _ => Err(UnknownStatus),
        }
    }
}

/// Not `pending`, `succeeded` or `failed`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a delivery status is pending, succeeded or failed")]
pub struct UnknownStatus;

/// A delivery as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryRow {
    /// The delivery id, the same in every attempt.
    pub id: String,
    /// The event delivered.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The endpoint it goes to.
    pub endpoint_id: String,
    /// Where it stands.
    pub status: DeliveryStatus,
    /// Attempts made, all runs together.
    pub attempts: u32,
    /// Attempts made since it was (re)queued: the position in the retry schedule.
    pub run_attempts: u32,
    /// When the next attempt is due (pending deliveries).
    pub next_attempt_at: Option<i64>,
    /// The last attempt's HTTP status, if it got an answer.
    pub last_status: Option<u16>,
    /// The last attempt's error, if it got none.
    pub last_error: Option<String>,
    /// When it was created.
    pub created_at: i64,
    /// When it last changed.
    pub updated_at: i64,
}

/// One attempt as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptRow {
    /// The delivery.
    pub delivery_id: String,
    /// 1 for the first attempt, counting across runs.
    pub number: u32,
    /// When the request started.
    pub started_at: i64,
    /// How long until the answer (or the error), in milliseconds.
    pub duration_ms: u32,
    /// The HTTP status, if an answer came.
    pub status: Option<u16>,
    /// What went wrong without an answer (refused, timed out, …), or why the attempt could
    /// not be made (a secret that no longer opens).
    pub error: Option<String>,
    /// The start of the answer's body (a few KiB at most).
    pub response_body: Vec<u8>,
}

/// A claimed delivery, with what it takes to attempt it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    /// The delivery.
    pub delivery: DeliveryRow,
    /// Its event.
    pub event: EventRow,
    /// Its endpoint.
    pub endpoint: EndpointRow,
}

/// What happens to a delivery after an attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Done: it succeeded.
    Succeeded,
    /// Try again at this time.
    RetryAt(i64),
    /// Give up.
    Failed,
}

/// A finished attempt, for [`Store::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Completion {
    /// The lease the attempt was made under.
    pub lease: Lease,
    /// The endpoint (its run of failures changes).
    pub endpoint_id: String,
    /// The attempt.
    pub attempt: AttemptRow,
    /// Whether the attempt counts as a success for the endpoint's health (a 2xx).
    pub succeeded: bool,
    /// What happens next.
    pub next: Next,
}

/// An endpoint's run of failures after [`Store::complete`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EndpointHealth {
    /// The endpoint.
    pub endpoint_id: String,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the run began.
    pub failing_since: Option<i64>,
    /// Whether it is enabled.
    pub enabled: bool,
}

/// Which deliveries [`Store::deliveries`] lists.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryFilter {
    /// Only this status.
    pub status: Option<DeliveryStatus>,
    /// Only this endpoint.
    pub endpoint_id: Option<String>,
    /// Only this event.
    pub event_id: Option<String>,
    /// At most this many.
    pub limit: u32,
}

impl Default for DeliveryFilter {
    fn default() -> Self {
        Self {
            status: None,
            endpoint_id: None,
            event_id: None,
            limit: 100,
        }
    }
}

/// Which deliveries [`Store::requeue`] makes pending again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    /// This one, whatever its status.
    Delivery(String),
    /// Every failed delivery of this endpoint that changed at or after `since`.
    FailedSince {
        /// The endpoint.
        endpoint_id: String,
        /// Unix milliseconds.
        since: i64,
    },
}

/// What [`Store::stats`] counts.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StatsRow {
    /// Pending deliveries.
    pub pending: u64,
    /// Succeeded deliveries.
    pub succeeded: u64,
    /// Failed deliveries.
    pub failed: u64,
    /// Attempts, all deliveries together.
    pub attempts: u64,
    /// The durations of the most recent attempts that got an answer (at most 10 000), in
    /// milliseconds, in any order.
    pub recent_durations_ms: Vec<u32>,
}

/// What [`Store::pending`] finds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pending {
    /// Pending deliveries of enabled endpoints, leased or not.
    pub count: u64,
    /// The earliest time one of them may be claimed.
    pub next_due: Option<i64>,
}

/// How many recent durations [`StatsRow`] carries.
pub const RECENT_DURATIONS: u32 = 10_000;

/// How much of a response body an attempt keeps.
pub const RESPONSE_BODY_LIMIT: usize = 4 * 1024;
