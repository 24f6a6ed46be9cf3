//! The SQLite store: one file, the embedded default.
//!
//! SQLite is a library, not a server: a statement is a function call, so the store runs each
//! operation whole — every statement of its transaction — on one blocking thread, handing off
//! once per operation rather than once per statement.
//!
//! Several processes may share the file: every write runs in a `BEGIN IMMEDIATE` transaction,
//! which takes SQLite's single write lock at once, so a claim's read and its lease are one
//! step that no other writer can interleave with (<https://www.sqlite.org/lang_transaction.html>).
//! Within one process writes share one connection, so they queue on its lock rather than on
//! SQLite's sleeping busy handler; other processes wait on the busy timeout.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, Transaction, TransactionBehavior, params};
use tokio::sync::Notify;

use super::{
    AttemptRow, BoxFuture, Claim, Completion, DeliveryFilter, DeliveryRow, DeliveryStatus,
    DeliveryWithAttempts, EndpointHealth, EndpointRow, Enqueued, EventRow, Lease, NewDelivery,
    Next, Pending, RECENT_DURATIONS, Requeue, StatsRow, Store, StoreError, StoreResult,
};
use crate::dispatch::endpoint::now_millis;
use crate::error::BoxError;

/// The schema, one script per version, each applied once, in order.
const MIGRATIONS: &[(i64, &str)] = &[
    (1, include_str!("sqlite/0001_init.sql")),
    (2, include_str!("sqlite/0002_pending_index.sql")),
];

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The columns [`delivery_from_row`] reads, in its order, from `deliveries AS d JOIN events AS ev`.
macro_rules! delivery_columns {
    () => {
        "d.id, d.event_id, ev.event_type, d.endpoint_id, d.status, d.attempts, \
         d.run_attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, \
         d.updated_at"
    };
}

/// The columns [`endpoint_from_row`] reads, in its order.
macro_rules! endpoint_columns {
    () => {
        "id, url, scheme, sealed_secrets, patterns, enabled, disabled_reason, name, labels, \
         max_in_flight, failures, failing_since, created_at"
    };
}

/// The columns [`attempt_from_row`] reads, in its order.
macro_rules! attempt_columns {
    () => {
        "delivery_id, number, started_at, duration_ms, status, error, response_body"
    };
}

/// The start of both requeue statements.
macro_rules! requeue_set {
    () => {
        "UPDATE deliveries SET status = 'pending', run_attempts = 0, next_attempt_at = ?1, \
         updated_at = ?1, lease_token = NULL, lease_until = NULL "
    };
}

/// A [`Store`] in one SQLite file: durable, and shared by the workers of every process on
/// the machine.
///
/// The file is opened in WAL mode with `synchronous=NORMAL`: a commit survives a crash of the
/// process, and the last commits before a power loss may be lost
/// (<https://www.sqlite.org/pragma.html#pragma_synchronous>). Sealed secrets are stored as
/// they are given, as a blob. The schema is created, or brought up to date, when the store
/// opens.
///
/// ```no_run
/// use tower_webhook::dispatch::{Dispatcher, SqliteStore, StorageKey};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let store = SqliteStore::open("deliveries.db").await?;
/// let dispatcher = Dispatcher::builder(store, StorageKey::load("storage.key")?).build();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct SqliteStore {
    shared: Arc<Shared>,
}

struct Shared {
    path: PathBuf,
    /// Every write of this process, one at a time.
    writer: Mutex<Connection>,
    /// Reads (listings, stats), beside the writes: WAL lets them run at once.
    reader: Mutex<Connection>,
    /// Signalled when this process adds work; other processes' work is found by polling.
    work: Notify,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.shared.path)
            .finish_non_exhaustive()
    }
}

impl SqliteStore {
    /// Opens the database at `path`, creating the file if it is missing, and brings its
    /// schema up to date.
    ///
    /// Several processes may open the same file at once.
    ///
    /// # Errors
    ///
    /// When the file cannot be opened or created, or its schema was written by a newer
    /// version of this crate.
    ///
    /// ```no_run
    /// use tower_webhook::dispatch::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let store = SqliteStore::open("/var/lib/my-app/deliveries.db").await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn open(path: impl AsRef<Path>) -> Result<Self, StoreError> {
        let path = path.as_ref().to_owned();
        let (writer, reader) = tokio::task::spawn_blocking({
            let path = path.clone();
            move || open_connections(&path)
        })
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))?;
        Ok(Self {
            shared: Arc::new(Shared {
                path,
                writer: Mutex::new(writer),
                reader: Mutex::new(reader),
                work: Notify::new(),
            }),
        })
    }

    /// Runs `operation` in one write transaction (`BEGIN IMMEDIATE`) on a blocking thread,
    /// and commits it.
    async fn write<T: Send + 'static>(
        &self,
        what: &'static str,
        operation: impl FnOnce(&Transaction<'_>) -> Result<T, BoxError> + Send + 'static,
    ) -> StoreResult<T> {
        let shared = Arc::clone(&self.shared);
        run_blocking(what, move || {
            let mut connection = shared.writer.lock().unwrap_or_else(PoisonError::into_inner);
            let transaction =
                connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = operation(&transaction)?;
            transaction.commit()?;
            Ok(value)
        })
        .await
    }

    /// Runs `operation` in one read transaction, so it sees one state of the file.
    async fn read<T: Send + 'static>(
        &self,
        what: &'static str,
        operation: impl FnOnce(&Transaction<'_>) -> Result<T, BoxError> + Send + 'static,
    ) -> StoreResult<T> {
        let shared = Arc::clone(&self.shared);
        run_blocking(what, move || {
            let mut connection = shared.reader.lock().unwrap_or_else(PoisonError::into_inner);
            let transaction = connection.transaction()?;
            let value = operation(&transaction)?;
            transaction.commit()?;
            Ok(value)
        })
        .await
    }

    fn work_added(&self) {
        self.shared.work.notify_waiters();
    }
}

/// `operation` on tokio's blocking threads; its error named after `what`.
async fn run_blocking<T: Send + 'static>(
    what: &'static str,
    operation: impl FnOnce() -> Result<T, BoxError> + Send + 'static,
) -> StoreResult<T> {
    tokio::task::spawn_blocking(operation)
        .await
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic.into_panic()))
        .map_err(|error| StoreError::new(what, error))
}

/// The writer's and the reader's connections, the schema brought up to date.
fn open_connections(path: &Path) -> Result<(Connection, Connection), StoreError> {
    // Switching a new file to WAL while another process does the same can fail at once with
    // "database is locked" (SQLite does not call the busy handler where waiting could
    // deadlock): try again for as long as the busy timeout.
    let started = std::time::Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        let opened = connect(path)
            .map_err(|error| StoreError::new("open the SQLite database", error))
            .and_then(|mut writer| {
                migrate(&mut writer)
                    .map_err(|error| StoreError::new("migrate the SQLite database", error))?;
                let reader = connect(path)
                    .map_err(|error| StoreError::new("open the SQLite database", error))?;
                Ok((writer, reader))
            });
        match opened {
            Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                std::thread::sleep(pause);
                pause = (pause * 2).min(Duration::from_millis(200));
            }
            opened => return opened,
        }
    }
}

/// One connection: WAL, `synchronous=NORMAL`, a busy timeout, foreign keys.
fn connect(path: &Path) -> Result<Connection, BoxError> {
    let connection = Connection::open(path)?;
    connection.busy_timeout(BUSY_TIMEOUT)?;
    // `journal_mode` answers with the mode now in force.
    let mode: String =
        connection.pragma_update_and_check(None, "journal_mode", "wal", |row| row.get(0))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(format!("the file stayed in journal mode {mode}, not WAL").into());
    }
    connection.pragma_update(None, "synchronous", "NORMAL")?;
    connection.pragma_update(None, "foreign_keys", "ON")?;
    // Room for every statement the store prepares, listings' 16 variants included, so none is
    // prepared again each time another pushes it out of rusqlite's default 16.
    connection.set_prepared_statement_cache_capacity(64);
    Ok(connection)
}

fn add_endpoint(tx: &Transaction<'_>, endpoint: &EndpointRow) -> Result<(), BoxError> {
    tx.prepare_cached(
        "INSERT INTO endpoints (id, url, scheme, sealed_secrets, patterns, enabled, \
         disabled_reason, name, labels, max_in_flight, failures, failing_since, created_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
    )?
    .execute(params![
        endpoint.id,
        endpoint.url,
        endpoint.scheme,
        endpoint.sealed_secrets,
        serde_json::to_string(&endpoint.patterns)?,
        endpoint.enabled,
        endpoint.disabled_reason,
        endpoint.name,
        serde_json::to_string(&endpoint.labels)?,
        endpoint.max_in_flight,
        endpoint.failures,
        endpoint.failing_since,
        endpoint.created_at,
    ])?;
    Ok(())
}

fn enqueue(
    tx: &Transaction<'_>,
    event: EventRow,
    deliveries: Vec<NewDelivery>,
    lease: Option<Lease>,
) -> Result<Enqueued, BoxError> {
    // A key seen before inserts nothing; the write lock makes "seen" final, even for two
    // processes racing with the same key.
    let inserted = tx
        .prepare_cached(
            "INSERT INTO events (id, event_type, payload, content_type, idempotency_key, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )?
        .execute(params![
            event.id,
            event.event_type,
            event.payload.as_ref(),
            event.content_type,
            event.idempotency_key,
            event.created_at,
        ])?;
    if inserted == 0 {
        let first: String = tx
            .prepare_cached("SELECT id FROM events WHERE idempotency_key = ?1")?
            .query_row([&event.idempotency_key], |row| row.get(0))?;
        let delivery_ids = tx
            .prepare_cached("SELECT id FROM deliveries WHERE event_id = ?1 ORDER BY seq")?
            .query_map([&first], |row| row.get(0))?
            .collect::<Result<_, _>>()?;
        return Ok(Enqueued {
            event_id: first,
            delivery_ids,
            duplicate: true,
        });
    }
    let mut insert = tx.prepare_cached(
        "INSERT INTO deliveries (id, event_id, endpoint_id, status, next_attempt_at, \
         lease_token, lease_until, created_at, updated_at) \
         VALUES (?1, ?2, ?3, 'pending', ?4, ?5, ?6, ?7, ?7)",
    )?;
    for new in &deliveries {
        insert.execute(params![
            new.id,
            event.id,
            new.endpoint_id,
            new.next_attempt_at,
            lease.map(|lease| lease.token),
            lease.map(|lease| lease.until),
            event.created_at,
        ])?;
    }
    Ok(Enqueued {
        event_id: event.id,
        delivery_ids: deliveries.into_iter().map(|new| new.id).collect(),
        duplicate: false,
    })
}

/// A page of due deliveries, oldest due first, after (`?2`, `?3`), of enabled endpoints,
/// each with its endpoint's cap: read from the index of pending deliveries alone.
const DUE: &str = "SELECT d.seq, d.next_attempt_at, d.endpoint_id, e.max_in_flight \
     FROM deliveries AS d CROSS JOIN endpoints AS e \
     WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 \
     AND d.next_attempt_at >= ?2 \
     AND (d.next_attempt_at > ?2 OR d.seq > ?3) \
     AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
     AND e.id = d.endpoint_id AND e.enabled \
     ORDER BY d.next_attempt_at, d.seq LIMIT ?4";

fn claim(
    tx: &Transaction<'_>,
    now: i64,
    lease: Lease,
    limit: usize,
) -> Result<Vec<Claim>, BoxError> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    // Deliveries under an unexpired lease, per endpoint: few, from a partial index.
    let busy: HashMap<String, i64> = tx
        .prepare_cached(
            "SELECT endpoint_id, COUNT(*) FROM deliveries WHERE lease_until > ?1 \
             GROUP BY endpoint_id",
        )?
        .query_map([now], |row| Ok((row.get(0)?, row.get(1)?)))?
        .collect::<Result<_, _>>()?;
    // Walk the due deliveries oldest first, a page at a time, skipping those of endpoints at
    // their cap: the work is the deliveries taken and skipped, not the whole backlog.
    let page = limit.saturating_mul(2).max(64);
    let mut room: HashMap<String, i64> = HashMap::new();
    let mut chosen: Vec<i64> = Vec::with_capacity(limit);
    let (mut after_at, mut after_seq) = (i64::MIN, i64::MIN);
    let mut due = tx.prepare_cached(DUE)?;
    'pages: loop {
        let mut rows = due.query(params![now, after_at, after_seq, page as i64])?;
        let mut seen = 0;
        while let Some(row) = rows.next()? {
            seen += 1;
            let seq: i64 = row.get(0)?;
            after_at = row.get(1)?;
            after_seq = seq;
            let endpoint: String = row.get(2)?;
            let max: i64 = row.get(3)?;
            let left = room
                .entry(endpoint)
                .or_insert_with_key(|endpoint| max - busy.get(endpoint).copied().unwrap_or(0));
            if *left > 0 {
                *left -= 1;
                chosen.push(seq);
                if chosen.len() == limit {
                    break 'pages;
                }
            }
        }
        if seen < page {
            break;
        }
    }
    let mut take = tx.prepare_cached(
        "UPDATE deliveries SET lease_token = ?2, lease_until = ?3 WHERE seq = ?1",
    )?;
    let mut read = tx.prepare_cached(concat!(
        "SELECT ",
        delivery_columns!(),
        ", ev.payload, ev.content_type, ev.idempotency_key, ev.created_at \
         FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id WHERE d.seq = ?1"
    ))?;
    let mut read_endpoint = tx.prepare_cached(concat!(
        "SELECT ",
        endpoint_columns!(),
        " FROM endpoints WHERE id = ?1"
    ))?;
    let mut endpoints: HashMap<String, EndpointRow> = HashMap::new();
    let mut claims = Vec::with_capacity(chosen.len());
    for seq in chosen {
        take.execute(params![seq, lease.token, lease.until])?;
        let (delivery, event) = read.query_row([seq], |row| {
            let mut column = Columns::new(row);
            let delivery = delivery_from_columns(&mut column)?;
            let event = EventRow {
                id: delivery.event_id.clone(),
                event_type: delivery.event_type.clone(),
                payload: column.next::<Vec<u8>>()?.into(),
                content_type: column.next()?,
                idempotency_key: column.next()?,
                created_at: column.next()?,
            };
            Ok((delivery, event))
        })?;
        let endpoint = match endpoints.get(&delivery.endpoint_id) {
            Some(endpoint) => endpoint.clone(),
            None => {
                let endpoint =
                    read_endpoint.query_row([&delivery.endpoint_id], endpoint_from_row)?;
                endpoints.insert(endpoint.id.clone(), endpoint.clone());
                endpoint
            }
        };
        claims.push(Claim {
            delivery,
            event,
            endpoint,
        });
    }
    Ok(claims)
}

fn complete(
    tx: &Transaction<'_>,
    completions: &[Completion],
) -> Result<Vec<EndpointHealth>, BoxError> {
    let mut log = tx.prepare_cached(
        "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status, error, \
         response_body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
    )?;
    // Only the lease holder updates; the update clears the lease, so a second completion of
    // the same claim changes nothing.
    let mut update = tx.prepare_cached(
        "UPDATE deliveries SET status = ?3, attempts = attempts + 1, \
         run_attempts = run_attempts + 1, next_attempt_at = ?4, last_status = ?5, \
         last_error = ?6, updated_at = ?7, lease_token = NULL, lease_until = NULL \
         WHERE id = ?1 AND lease_token = ?2",
    )?;
    let mut runs: Vec<(&str, Run)> = Vec::new();
    for (position, completion) in completions.iter().enumerate() {
        let attempt = &completion.attempt;
        log.execute(params![
            attempt.delivery_id,
            attempt.number,
            attempt.started_at,
            attempt.duration_ms,
            attempt.status,
            attempt.error,
            attempt.response_body,
        ])?;
        let (status, next) = match completion.next {
            Next::Succeeded => (DeliveryStatus::Succeeded, None),
            Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            Next::Failed => (DeliveryStatus::Failed, None),
        };
        update.execute(params![
            attempt.delivery_id,
            completion.lease.token,
            status.as_str(),
            next,
            attempt.status,
            attempt.error,
            attempt.started_at + i64::from(attempt.duration_ms),
        ])?;
        let run = match runs
            .iter_mut()
            .find(|(id, _)| *id == completion.endpoint_id)
        {
            Some((_, run)) => run,
            None => {
                runs.push((&completion.endpoint_id, Run::default()));
                &mut runs.last_mut().expect("just pushed").1
            }
        };
        if completion.succeeded {
            *run = Run {
                reset: true,
                ..Run::default()
            };
        } else {
            run.failures += 1;
            run.since.get_or_insert(attempt.started_at);
            run.last_failure = position;
        }
    }
    // A success in the batch sets the run to the failures after it; otherwise the batch's
    // failures extend the stored run. Nothing to write when nothing changes.
    let mut record_run = tx.prepare_cached(
        "UPDATE endpoints SET \
         failures = CASE WHEN ?2 THEN ?3 ELSE failures + ?3 END, \
         failing_since = CASE WHEN ?2 THEN ?4 ELSE coalesce(failing_since, ?4) END \
         WHERE id = ?1 AND (?3 > 0 OR failures <> 0 OR failing_since IS NOT NULL) \
         RETURNING failures, failing_since, enabled",
    )?;
    let mut grew = Vec::new();
    for (endpoint_id, run) in &runs {
        let health = record_run
            .query_row(
                params![endpoint_id, run.reset, run.failures, run.since],
                |row| {
                    Ok(EndpointHealth {
                        endpoint_id: (*endpoint_id).to_owned(),
                        failures: row.get(0)?,
                        failing_since: row.get(1)?,
                        enabled: row.get(2)?,
                    })
                },
            )
            .optional()?;
        if let Some(health) = health
            && run.failures > 0
        {
            grew.push((run.last_failure, health));
        }
    }
    grew.sort_by_key(|(position, _)| *position);
    Ok(grew.into_iter().map(|(_, health)| health).collect())
}

fn delivery(tx: &Transaction<'_>, id: &str) -> Result<Option<DeliveryWithAttempts>, BoxError> {
    let Some(delivery) = tx
        .prepare_cached(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id WHERE d.id = ?1"
        ))?
        .query_row([id], delivery_from_row)
        .optional()?
    else {
        return Ok(None);
    };
    let attempts = tx
        .prepare_cached(concat!(
            "SELECT ",
            attempt_columns!(),
            " FROM attempts WHERE delivery_id = ?1 ORDER BY seq"
        ))?
        .query_map([id], attempt_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(Some((delivery, attempts)))
}

fn deliveries(tx: &Transaction<'_>, filter: &DeliveryFilter) -> Result<Vec<DeliveryRow>, BoxError> {
    let (sql, values) = listing(filter);
    let rows = tx
        .prepare_cached(&sql)?
        .query_map(values.as_slice(), delivery_from_row)?
        .collect::<Result<_, _>>()?;
    Ok(rows)
}

/// The statement that lists `filter`'s deliveries, and its parameters: one statement per
/// combination of filters, so each can use its index. The status is written out, not bound:
/// the planner uses a partial index only for a value it can see.
fn listing(filter: &DeliveryFilter) -> (String, Vec<&dyn rusqlite::ToSql>) {
    let mut sql = String::from(concat!(
        "SELECT ",
        delivery_columns!(),
        " FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id WHERE 1"
    ));
    let mut values: Vec<&dyn rusqlite::ToSql> = Vec::new();
    sql.push_str(match filter.status {
        None => "",
        Some(DeliveryStatus::Pending) => " AND d.status = 'pending'",
        Some(DeliveryStatus::Succeeded) => " AND d.status = 'succeeded'",
        Some(DeliveryStatus::Failed) => " AND d.status = 'failed'",
    });
    if let Some(endpoint) = &filter.endpoint_id {
        sql.push_str(" AND d.endpoint_id = ?");
        values.push(endpoint);
    }
    if let Some(event) = &filter.event_id {
        sql.push_str(" AND d.event_id = ?");
        values.push(event);
    }
    sql.push_str(" ORDER BY d.seq DESC LIMIT ?");
    values.push(&filter.limit);
    (sql, values)
}

/// How many deliveries of enabled endpoints are pending, and when the first is ready: walked
/// from the index of pending deliveries (CROSS JOIN keeps that order), not from the endpoints.
const PENDING: &str = "SELECT COUNT(*), \
    MIN(CASE WHEN d.lease_until > d.next_attempt_at THEN d.lease_until \
    ELSE d.next_attempt_at END) \
    FROM deliveries AS d CROSS JOIN endpoints AS e \
    WHERE e.id = d.endpoint_id AND d.status = 'pending' AND e.enabled";

/// Every delivery, the pending ones and the failed ones, each count read from an index: no
/// index holds every delivery's status, and a walk of the table grows with it.
const STATUS_COUNTS: &str = "SELECT (SELECT COUNT(*) FROM deliveries), \
    (SELECT COUNT(*) FROM deliveries WHERE status = 'pending'), \
    (SELECT COUNT(*) FROM deliveries WHERE status = 'failed')";

/// The same counts for one endpoint, from its deliveries.
const ENDPOINT_STATUS_COUNTS: &str = "SELECT COUNT(*), \
    COUNT(*) FILTER (WHERE status = 'pending'), COUNT(*) FILTER (WHERE status = 'failed') \
    FROM deliveries WHERE endpoint_id = ?1";

fn stats(tx: &Transaction<'_>, endpoint: Option<&str>) -> Result<StatsRow, BoxError> {
    let counts = |row: &Row<'_>| Ok((row.get(0)?, row.get(1)?, row.get(2)?));
    let (total, pending, failed): (i64, i64, i64) = match endpoint {
        None => tx.prepare_cached(STATUS_COUNTS)?.query_row([], counts)?,
        Some(id) => tx
            .prepare_cached(ENDPOINT_STATUS_COUNTS)?
            .query_row([id], counts)?,
    };
    let (attempts, durations): (i64, Vec<u32>) = match endpoint {
        None => (
            tx.prepare_cached("SELECT COUNT(*) FROM attempts")?
                .query_row([], |row| row.get(0))?,
            tx.prepare_cached(
                "SELECT duration_ms FROM attempts WHERE status IS NOT NULL \
                 ORDER BY seq DESC LIMIT ?1",
            )?
            .query_map([RECENT_DURATIONS], |row| row.get(0))?
            .collect::<Result<_, _>>()?,
        ),
        Some(id) => (
            tx.prepare_cached(
                "SELECT COUNT(*) FROM attempts AS a JOIN deliveries AS d \
                 ON d.id = a.delivery_id WHERE d.endpoint_id = ?1",
            )?
            .query_row([id], |row| row.get(0))?,
            tx.prepare_cached(
                "SELECT a.duration_ms FROM attempts AS a JOIN deliveries AS d \
                 ON d.id = a.delivery_id WHERE d.endpoint_id = ?1 AND a.status IS NOT NULL \
                 ORDER BY a.seq DESC LIMIT ?2",
            )?
            .query_map(params![id, RECENT_DURATIONS], |row| row.get(0))?
            .collect::<Result<_, _>>()?,
        ),
    };
    Ok(StatsRow {
        pending: u64::try_from(pending)?,
        succeeded: u64::try_from(total - pending - failed)?,
        failed: u64::try_from(failed)?,
        attempts: u64::try_from(attempts)?,
        recent_durations_ms: durations,
    })
}

/// An endpoint's run of failures within one batch of completions.
#[derive(Default)]
struct Run {
    /// A success came: the stored run ends.
    reset: bool,
    /// Failures since the last success (or the batch's start).
    failures: u32,
    /// The first of those failures' start.
    since: Option<i64>,
    /// The last failure's position in the batch.
    last_failure: usize,
}

/// A row's columns, read one after another in the order the query lists them.
///
/// By position, not by name: rusqlite finds a named column by comparing it with every
/// column's name in turn, which cost the claim more than some of its writes.
struct Columns<'r, 's> {
    row: &'r Row<'s>,
    next: usize,
}

impl<'r, 's> Columns<'r, 's> {
    fn new(row: &'r Row<'s>) -> Self {
        Self { row, next: 0 }
    }

    /// The next column, as `T`.
    fn next<T: rusqlite::types::FromSql>(&mut self) -> rusqlite::Result<T> {
        let value = self.row.get(self.next);
        self.next += 1;
        value
    }

    /// The next column, text, parsed as `T` (a status): a stored value it does not parse
    /// as is a conversion error, not a panic.
    fn parsed<T>(&mut self) -> rusqlite::Result<T>
    where
        T: std::str::FromStr,
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let text: String = self.next()?;
        text.parse()
            .map_err(|error| unreadable_text(self.next - 1, error))
    }

    /// The next column, JSON, as `T`.
    fn json<T: serde::de::DeserializeOwned>(&mut self) -> rusqlite::Result<T> {
        let text: String = self.next()?;
        serde_json::from_str(&text).map_err(|error| unreadable_text(self.next - 1, error))
    }
}

/// A text column that does not hold what it should.
fn unreadable_text(
    column: usize,
    error: impl std::error::Error + Send + Sync + 'static,
) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(column, rusqlite::types::Type::Text, Box::new(error))
}

fn endpoint_from_row(row: &Row<'_>) -> rusqlite::Result<EndpointRow> {
    // Fields in the order of `endpoint_columns!`: a struct literal runs in source order.
    let mut column = Columns::new(row);
    Ok(EndpointRow {
        id: column.next()?,
        url: column.next()?,
        scheme: column.next()?,
        sealed_secrets: column.next()?,
        patterns: column.json()?,
        enabled: column.next()?,
        disabled_reason: column.next()?,
        name: column.next()?,
        labels: column.json()?,
        max_in_flight: column.next()?,
        failures: column.next()?,
        failing_since: column.next()?,
        created_at: column.next()?,
    })
}

fn delivery_from_row(row: &Row<'_>) -> rusqlite::Result<DeliveryRow> {
    delivery_from_columns(&mut Columns::new(row))
}

/// A delivery from the next columns, those of `delivery_columns!` in its order.
fn delivery_from_columns(column: &mut Columns<'_, '_>) -> rusqlite::Result<DeliveryRow> {
    Ok(DeliveryRow {
        id: column.next()?,
        event_id: column.next()?,
        event_type: column.next()?,
        endpoint_id: column.next()?,
        status: column.parsed()?,
        attempts: column.next()?,
        run_attempts: column.next()?,
        next_attempt_at: column.next()?,
        last_status: column.next()?,
        last_error: column.next()?,
        created_at: column.next()?,
        updated_at: column.next()?,
    })
}

fn attempt_from_row(row: &Row<'_>) -> rusqlite::Result<AttemptRow> {
    // Fields in the order of `attempt_columns!`.
    let mut column = Columns::new(row);
    Ok(AttemptRow {
        delivery_id: column.next()?,
        number: column.next()?,
        started_at: column.next()?,
        duration_ms: column.next()?,
        status: column.next()?,
        error: column.next()?,
        response_body: column.next()?,
    })
}

/// Applies the scripts not applied yet, each once, under the write lock: two processes
/// opening the file at once apply each script once between them.
fn migrate(connection: &mut Connection) -> Result<(), BoxError> {
    let tx = connection.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS tower_webhook_migrations \
         (version INTEGER PRIMARY KEY, applied_at INTEGER)",
        [],
    )?;
    let applied: Vec<i64> = tx
        .prepare("SELECT version FROM tower_webhook_migrations")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if let Some(newest) = applied.iter().copied().max()
        && newest > known
    {
        return Err(format!(
            "the schema is at version {newest}, newer than this tower-webhook knows ({known})"
        )
        .into());
    }
    for (version, script) in MIGRATIONS {
        if applied.contains(version) {
            continue;
        }
        tx.execute_batch(script)?;
        tx.execute(
            "INSERT INTO tower_webhook_migrations (version, applied_at) VALUES (?1, ?2)",
            params![version, now_millis()],
        )?;
    }
    tx.commit()?;
    Ok(())
}

impl Store for SqliteStore {
    fn add_endpoint(&self, endpoint: EndpointRow) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(self.write("add an endpoint", move |tx| add_endpoint(tx, &endpoint)))
    }

    fn endpoints(&self) -> BoxFuture<'_, StoreResult<Vec<EndpointRow>>> {
        Box::pin(self.read("list endpoints", |tx| {
            let rows = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM endpoints ORDER BY seq"
                ))?
                .query_map([], endpoint_from_row)?
                .collect::<Result<_, _>>()?;
            Ok(rows)
        }))
    }

    fn endpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<EndpointRow>>> {
        let id = id.to_owned();
        Box::pin(self.read("read an endpoint", move |tx| {
            let row = tx
                .prepare_cached(concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM endpoints WHERE id = ?1"
                ))?
                .query_row([id], endpoint_from_row)
                .optional()?;
            Ok(row)
        }))
    }

    fn set_enabled<'a>(
        &'a self,
        id: &'a str,
        enabled: bool,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let (id, reason) = (id.to_owned(), reason.map(str::to_owned));
        Box::pin(async move {
            let found = self
                .write("enable or disable an endpoint", move |tx| {
                    let changed = tx
                        .prepare_cached(
                            "UPDATE endpoints SET enabled = ?2, disabled_reason = ?3, \
                             failures = CASE WHEN ?2 THEN 0 ELSE failures END, \
                             failing_since = CASE WHEN ?2 THEN NULL ELSE failing_since END \
                             WHERE id = ?1",
                        )?
                        .execute(params![id, enabled, reason])?;
                    Ok(changed > 0)
                })
                .await?;
            if found && enabled {
                self.work_added();
            }
            Ok(found)
        })
    }

    fn set_secrets<'a>(
        &'a self,
        id: &'a str,
        sealed_secrets: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let (id, sealed) = (id.to_owned(), sealed_secrets.to_owned());
        Box::pin(self.write("replace an endpoint's secrets", move |tx| {
            let changed = tx
                .prepare_cached("UPDATE endpoints SET sealed_secrets = ?2 WHERE id = ?1")?
                .execute(params![id, sealed])?;
            Ok(changed > 0)
        }))
    }

    fn enqueue(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> BoxFuture<'_, StoreResult<Enqueued>> {
        Box::pin(async move {
            let enqueued = self
                .write("queue an event", move |tx| {
                    enqueue(tx, event, deliveries, lease)
                })
                .await?;
            if !enqueued.duplicate {
                self.work_added();
            }
            Ok(enqueued)
        })
    }

    fn claim(&self, now: i64, lease: Lease, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Claim>>> {
        Box::pin(self.write("claim deliveries", move |tx| {
            claim(tx, now, lease, limit as usize)
        }))
    }

    fn complete(
        &self,
        completions: Vec<Completion>,
    ) -> BoxFuture<'_, StoreResult<Vec<EndpointHealth>>> {
        Box::pin(async move {
            if completions.is_empty() {
                return Ok(Vec::new());
            }
            self.write("record attempts", move |tx| complete(tx, &completions))
                .await
        })
    }

    fn complete_and_claim(
        &self,
        completions: Vec<Completion>,
        now: i64,
        lease: Lease,
        limit: u32,
    ) -> BoxFuture<'_, StoreResult<(Vec<EndpointHealth>, Vec<Claim>)>> {
        Box::pin(
            self.write("record attempts and claim deliveries", move |tx| {
                if completions.is_empty() {
                    return Ok((Vec::new(), claim(tx, now, lease, limit as usize)?));
                }
                let health = complete(tx, &completions)?;
                // A claim that fails must not undo the record: the caller would record again.
                tx.execute_batch("SAVEPOINT claim")?;
                let claims = match claim(tx, now, lease, limit as usize) {
                    Ok(claims) => claims,
                    Err(_) => {
                        tx.execute_batch("ROLLBACK TO claim")?;
                        Vec::new()
                    }
                };
                tx.execute_batch("RELEASE claim")?;
                Ok((health, claims))
            }),
        )
    }

    fn release<'a>(&'a self, ids: &'a [String], lease: Lease) -> BoxFuture<'a, StoreResult<()>> {
        let ids = ids.to_owned();
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            self.write("release deliveries", move |tx| {
                let mut release = tx.prepare_cached(
                    "UPDATE deliveries SET lease_token = NULL, lease_until = NULL \
                     WHERE id = ?1 AND lease_token = ?2",
                )?;
                for id in &ids {
                    release.execute(params![id, lease.token])?;
                }
                Ok(())
            })
            .await?;
            self.work_added();
            Ok(())
        })
    }

    fn delivery<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DeliveryWithAttempts>>> {
        let id = id.to_owned();
        Box::pin(self.read("read a delivery", move |tx| delivery(tx, &id)))
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, StoreResult<Vec<DeliveryRow>>> {
        Box::pin(self.read("list deliveries", move |tx| deliveries(tx, &filter)))
    }

    fn requeue(&self, which: Requeue, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let changed = self
                .write("requeue deliveries", move |tx| {
                    let changed = match &which {
                        Requeue::Delivery(id) => tx
                            .prepare_cached(concat!(requeue_set!(), "WHERE id = ?2"))?
                            .execute(params![now, id])?,
                        Requeue::FailedSince { endpoint_id, since } => tx
                            .prepare_cached(concat!(
                                requeue_set!(),
                                "WHERE endpoint_id = ?2 AND status = 'failed' \
                                 AND updated_at >= ?3"
                            ))?
                            .execute(params![now, endpoint_id, since])?,
                    };
                    Ok(u64::try_from(changed)?)
                })
                .await?;
            self.work_added();
            Ok(changed)
        })
    }

    fn stats(&self, endpoint: Option<String>) -> BoxFuture<'_, StoreResult<StatsRow>> {
        Box::pin(self.read("count deliveries", move |tx| stats(tx, endpoint.as_deref())))
    }

    fn pending(&self) -> BoxFuture<'_, StoreResult<Pending>> {
        Box::pin(self.read("count pending deliveries", |tx| {
            let (count, next_due): (i64, Option<i64>) = tx
                .prepare_cached(PENDING)?
                .query_row([], |row| Ok((row.get(0)?, row.get(1)?)))?;
            Ok(Pending {
                count: u64::try_from(count)?,
                next_due,
            })
        }))
    }

    fn wait_for_work(&self, timeout: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = tokio::time::timeout(timeout, self.shared.work.notified()).await;
        })
    }
}

/// SQLite's "database is busy" or "locked", anywhere in the error's chain.
fn is_busy(error: &StoreError) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(error) = source {
        if let Some(rusqlite::Error::SqliteFailure(failure, _)) =
            error.downcast_ref::<rusqlite::Error>()
            && matches!(
                failure.code,
                rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
            )
        {
            return true;
        }
        source = error.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    /// A database file under the temp directory, removed (with its WAL files) when dropped.
    struct TempDb(PathBuf);

    impl TempDb {
        fn new(name: &str) -> Self {
            static NEXT: AtomicU32 = AtomicU32::new(0);
            let n = NEXT.fetch_add(1, Ordering::Relaxed);
            let nanos = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .subsec_nanos();
            Self(std::env::temp_dir().join(format!(
                "tower-webhook-sqlite-{}-{name}-{n}-{nanos}.db",
                std::process::id()
            )))
        }
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            for suffix in ["", "-wal", "-shm"] {
                let mut path = self.0.clone().into_os_string();
                path.push(suffix);
                let _ = std::fs::remove_file(path);
            }
        }
    }

    fn endpoint(id: &str, max_in_flight: u32) -> EndpointRow {
        EndpointRow {
            id: id.to_owned(),
            url: "http://127.0.0.1:9/".into(),
            scheme: "standard-webhooks".into(),
            sealed_secrets: vec![1, 2, 3],
            patterns: vec!["order.*".into(), "*".into()],
            enabled: true,
            disabled_reason: None,
            name: Some("orders".into()),
            labels: [("team".to_owned(), "billing".to_owned())].into(),
            max_in_flight,
            failures: 0,
            failing_since: None,
            created_at: 1,
        }
    }

    fn event(id: &str, key: Option<&str>) -> EventRow {
        EventRow {
            id: id.to_owned(),
            event_type: "order.paid".into(),
            payload: bytes::Bytes::from_static(br#"{"n":1}"#),
            content_type: "application/json".into(),
            idempotency_key: key.map(str::to_owned),
            created_at: 100,
        }
    }

    fn new(id: &str, endpoint_id: &str, due: i64) -> NewDelivery {
        NewDelivery {
            id: id.to_owned(),
            endpoint_id: endpoint_id.to_owned(),
            next_attempt_at: due,
        }
    }

    fn lease(token: i64) -> Lease {
        Lease {
            token,
            until: 1_000_000,
        }
    }

    fn completion(delivery: &str, token: i64, succeeded: bool, started_at: i64) -> Completion {
        Completion {
            lease: lease(token),
            endpoint_id: "ep_a".into(),
            attempt: AttemptRow {
                delivery_id: delivery.to_owned(),
                number: 1,
                started_at,
                duration_ms: 7,
                status: Some(if succeeded { 204 } else { 503 }),
                error: None,
                response_body: if succeeded {
                    Vec::new()
                } else {
                    b"busy".to_vec()
                },
            },
            succeeded,
            next: if succeeded {
                Next::Succeeded
            } else {
                Next::RetryAt(started_at + 1_000)
            },
        }
    }

    #[tokio::test]
    async fn migrations_apply_once_and_rows_survive_reopening() {
        let db = TempDb::new("migrate");
        let (first, second) = tokio::join!(SqliteStore::open(&db.0), SqliteStore::open(&db.0));
        let (first, second) = (first.unwrap(), second.unwrap());
        first.add_endpoint(endpoint("ep_a", 4)).await.unwrap();
        drop((first, second));
        let again = SqliteStore::open(&db.0).await.unwrap();
        let versions: Vec<i64> = Connection::open(&db.0)
            .unwrap()
            .prepare("SELECT version FROM tower_webhook_migrations ORDER BY version")
            .unwrap()
            .query_map([], |row| row.get(0))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap();
        let expected: Vec<i64> = MIGRATIONS.iter().map(|(version, _)| *version).collect();
        assert_eq!(versions, expected);
        assert_eq!(
            again.endpoints().await.unwrap(),
            vec![endpoint("ep_a", 4)],
            "every field round-trips"
        );
    }

    #[tokio::test]
    async fn a_database_of_the_first_schema_is_brought_up_to_date() {
        let db = TempDb::new("upgrade");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 4)).await.unwrap();
        store
            .enqueue(event("evt_1", None), vec![new("dlv_1", "ep_a", 5)], None)
            .await
            .unwrap();
        store
            .enqueue(event("evt_2", None), vec![new("dlv_2", "ep_a", 1)], None)
            .await
            .unwrap();
        // dlv_2 is due first: it is claimed, and fails for good.
        assert_eq!(store.claim(1, lease(1), 1).await.unwrap().len(), 1);
        let mut failed = completion("dlv_2", 1, false, 2);
        failed.next = Next::Failed;
        store.complete(vec![failed]).await.unwrap();
        drop(store);
        // Back to what version 1 left: its index, and no record of version 2.
        Connection::open(&db.0)
            .unwrap()
            .execute_batch(
                "DROP INDEX deliveries_due; DROP INDEX deliveries_failed; \
                 CREATE INDEX deliveries_due ON deliveries (status, next_attempt_at); \
                 DELETE FROM tower_webhook_migrations WHERE version = 2;",
            )
            .unwrap();
        let store = SqliteStore::open(&db.0).await.unwrap();
        let connection = Connection::open(&db.0).unwrap();
        let due: String = connection
            .query_row(
                "SELECT sql FROM sqlite_schema WHERE name = 'deliveries_due'",
                [],
                |row| row.get(0),
            )
            .unwrap();
        assert!(due.contains("WHERE status = 'pending'"), "{due}");
        let claims = store.claim(10, lease(2), 10).await.unwrap();
        let ids: Vec<&str> = claims.iter().map(|c| c.delivery.id.as_str()).collect();
        assert_eq!(ids, ["dlv_1"], "the queued delivery is still due");
        let failed = DeliveryFilter {
            status: Some(DeliveryStatus::Failed),
            ..DeliveryFilter::default()
        };
        let listed = store.deliveries(failed).await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["dlv_2"], "failed before the upgrade, listed after it");
    }

    #[tokio::test]
    async fn claims_listings_and_counts_read_their_indexes() {
        let db = TempDb::new("plans");
        drop(SqliteStore::open(&db.0).await.unwrap());
        let connection = Connection::open(&db.0).unwrap();
        let plan = |sql: &str, values: &[&dyn rusqlite::ToSql]| -> String {
            connection
                .prepare(&format!("EXPLAIN QUERY PLAN {sql}"))
                .unwrap()
                .query_map(values, |row| row.get::<_, String>(3))
                .unwrap()
                .collect::<Result<Vec<_>, _>>()
                .unwrap()
                .join("; ")
        };
        let due = plan(DUE, &[&1, &0, &0, &64]);
        assert!(due.contains("USING INDEX deliveries_due"), "{due}");
        assert!(
            !due.contains("TEMP B-TREE"),
            "due order comes from the index: {due}"
        );
        let filter = DeliveryFilter {
            status: Some(DeliveryStatus::Failed),
            ..DeliveryFilter::default()
        };
        let (sql, values) = listing(&filter);
        let failed = plan(&sql, &values);
        assert!(failed.contains("deliveries_failed"), "{failed}");
        let pending = plan(PENDING, &[]);
        assert!(pending.contains("deliveries_due"), "{pending}");
        let counts = plan(STATUS_COUNTS, &[]);
        assert!(
            counts
                .split("; ")
                .filter(|step| step.contains("deliveries"))
                .all(|step| step.contains("INDEX")),
            "every count from an index: {counts}"
        );
    }

    #[tokio::test]
    async fn every_column_is_read_into_its_own_field() {
        // Rows are read by position: every field holds a value no other field of its type
        // holds, so two columns read in each other's place cannot pass.
        let db = TempDb::new("columns");
        let store = SqliteStore::open(&db.0).await.unwrap();
        let added = EndpointRow {
            disabled_reason: Some("paused once".into()),
            failures: 3,
            failing_since: Some(55),
            created_at: 42,
            ..endpoint("ep_a", 4)
        };
        store.add_endpoint(added.clone()).await.unwrap();
        let mut queued = event("evt_1", Some("key_1"));
        queued.created_at = 111;
        store
            .enqueue(queued.clone(), vec![new("dlv_1", "ep_a", 222)], None)
            .await
            .unwrap();
        let claims = store.claim(1_000, lease(1), 10).await.unwrap();
        assert_eq!(claims[0].event, queued);
        assert_eq!(claims[0].endpoint, added);
        let mut failed = completion("dlv_1", 1, false, 300);
        failed.attempt.error = Some("upstream said no".into());
        store.complete(vec![failed]).await.unwrap();
        // The requeue starts a new run (run_attempts 0), so after one more attempt the
        // delivery has made 2 attempts, 1 in this run.
        store
            .requeue(Requeue::Delivery("dlv_1".into()), 600)
            .await
            .unwrap();
        store.claim(1_000, lease(2), 10).await.unwrap();
        let mut last = completion("dlv_1", 2, false, 888);
        last.attempt.number = 2;
        last.next = Next::RetryAt(777);
        store.complete(vec![last.clone()]).await.unwrap();
        let expected = DeliveryRow {
            id: "dlv_1".into(),
            event_id: "evt_1".into(),
            event_type: "order.paid".into(),
            endpoint_id: "ep_a".into(),
            status: DeliveryStatus::Pending,
            attempts: 2,
            run_attempts: 1,
            next_attempt_at: Some(777),
            last_status: Some(503),
            last_error: None,
            created_at: 111,
            updated_at: 895,
        };
        let (delivery, attempts) = store.delivery("dlv_1").await.unwrap().unwrap();
        assert_eq!(delivery, expected);
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[0].error.as_deref(), Some("upstream said no"));
        assert_eq!(attempts[1], last.attempt);
        let listed = store.deliveries(DeliveryFilter::default()).await.unwrap();
        assert_eq!(listed, [expected]);
    }

    #[tokio::test]
    async fn a_newer_schema_is_refused() {
        let db = TempDb::new("newer");
        drop(SqliteStore::open(&db.0).await.unwrap());
        Connection::open(&db.0)
            .unwrap()
            .execute(
                "INSERT INTO tower_webhook_migrations (version, applied_at) VALUES (999, 0)",
                [],
            )
            .unwrap();
        let error = SqliteStore::open(&db.0).await.unwrap_err();
        assert!(error.to_string().contains("999"), "{error}");
    }

    #[tokio::test]
    async fn the_file_holds_sealed_secrets_only() {
        let db = TempDb::new("sealed");
        let plain = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
        let key = crate::dispatch::StorageKey::generate().unwrap();
        let sealed = key.seal("ep_a", &[crate::Secret::new(plain)]).unwrap();
        let store = SqliteStore::open(&db.0).await.unwrap();
        let mut row = endpoint("ep_a", 4);
        row.sealed_secrets = sealed.clone();
        store.add_endpoint(row).await.unwrap();
        let debug = format!("{store:?}");
        drop(store);
        let mut bytes = std::fs::read(&db.0).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", db.0.display())) {
            bytes.extend(wal);
        }
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(contains(&sealed), "the sealed blob is stored as given");
        assert!(!contains(plain.as_bytes()), "the plain secret is not");
        assert!(!debug.contains(plain));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_on_one_file_never_claim_the_same_delivery() {
        let db = TempDb::new("race");
        let setup = SqliteStore::open(&db.0).await.unwrap();
        for n in 0..5 {
            setup
                .add_endpoint(endpoint(&format!("ep_{n}"), 1_000))
                .await
                .unwrap();
        }
        let mut all = BTreeSet::new();
        for e in 0..100 {
            let deliveries: Vec<NewDelivery> = (0..5)
                .map(|n| new(&format!("msg_{e}_{n}"), &format!("ep_{n}"), e))
                .collect();
            all.extend(deliveries.iter().map(|d| d.id.clone()));
            setup
                .enqueue(event(&format!("evt_{e}"), None), deliveries, None)
                .await
                .unwrap();
        }
        let claimer = |token: i64| {
            let path = db.0.clone();
            tokio::spawn(async move {
                let store = SqliteStore::open(&path).await.unwrap();
                let mut mine = Vec::new();
                // Bounded, so that a store handing out leased deliveries fails, not hangs.
                for _ in 0..1_000 {
                    let claims = store.claim(1_000, lease(token), 7).await.unwrap();
                    if claims.is_empty() {
                        break;
                    }
                    mine.extend(claims.into_iter().map(|claim| claim.delivery.id));
                }
                mine
            })
        };
        let (one, two) = tokio::join!(claimer(1), claimer(2));
        let (one, two) = (one.unwrap(), two.unwrap());
        let mut claimed: Vec<String> = one.iter().chain(&two).cloned().collect();
        claimed.sort();
        let total = claimed.len();
        claimed.dedup();
        assert_eq!(total, claimed.len(), "a delivery was claimed twice");
        assert_eq!(claimed.into_iter().collect::<BTreeSet<_>>(), all);
    }

    #[tokio::test]
    async fn claims_keep_to_each_endpoints_cap_oldest_first() {
        let db = TempDb::new("cap");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 3)).await.unwrap();
        store.add_endpoint(endpoint("ep_b", 100)).await.unwrap();
        store.add_endpoint(endpoint("ep_off", 100)).await.unwrap();
        store
            .set_enabled("ep_off", false, Some("test"))
            .await
            .unwrap();
        // Due times descending, so insertion order and due order differ.
        for n in 0..10 {
            store
                .enqueue(
                    event(&format!("evt_{n}"), None),
                    vec![
                        new(&format!("a_{n}"), "ep_a", 100 - n),
                        new(&format!("b_{n}"), "ep_b", 100 - n),
                        new(&format!("off_{n}"), "ep_off", 100 - n),
                    ],
                    None,
                )
                .await
                .unwrap();
        }
        let claims = store.claim(1_000, lease(1), 100).await.unwrap();
        let ids: Vec<&str> = claims.iter().map(|c| c.delivery.id.as_str()).collect();
        let a: Vec<&str> = ids
            .iter()
            .copied()
            .filter(|id| id.starts_with("a_"))
            .collect();
        assert_eq!(a, ["a_9", "a_8", "a_7"], "the cap, oldest due first");
        assert_eq!(ids.iter().filter(|id| id.starts_with("b_")).count(), 10);
        assert!(ids.iter().all(|id| !id.starts_with("off_")), "disabled");
        let due: Vec<i64> = claims
            .iter()
            .map(|c| c.delivery.next_attempt_at.unwrap())
            .collect();
        assert!(due.is_sorted(), "{due:?}");
        let claim = &claims[0];
        assert_eq!(claim.event.payload, &br#"{"n":1}"#[..]);
        assert_eq!(
            claim.endpoint,
            endpoint(&claim.delivery.endpoint_id, claim.endpoint.max_in_flight)
        );

        assert!(store.claim(1_000, lease(2), 100).await.unwrap().is_empty());
        store
            .complete(vec![completion("a_9", 1, true, 500)])
            .await
            .unwrap();
        let next = store.claim(1_000, lease(2), 100).await.unwrap();
        let ids: Vec<&str> = next.iter().map(|c| c.delivery.id.as_str()).collect();
        assert_eq!(ids, ["a_6"], "one slot freed");
        // Expired leases no longer count against the cap.
        let later = store.claim(2_000_000, lease(3), 100).await.unwrap();
        assert_eq!(later.iter().filter(|c| c.endpoint.id == "ep_a").count(), 3);
    }

    #[tokio::test]
    async fn only_the_lease_holder_updates_the_delivery() {
        let db = TempDb::new("lease");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 10)).await.unwrap();
        store
            .enqueue(event("evt_1", None), vec![new("msg_1", "ep_a", 10)], None)
            .await
            .unwrap();
        assert_eq!(store.claim(10, lease(5), 10).await.unwrap().len(), 1);

        store
            .complete(vec![completion("msg_1", 4, true, 20)])
            .await
            .unwrap();
        let (row, attempts) = store.delivery("msg_1").await.unwrap().unwrap();
        assert_eq!((row.status, row.attempts), (DeliveryStatus::Pending, 0));
        assert_eq!(attempts.len(), 1, "logged all the same");

        // Twice with the holder's lease in one batch: the first decides, both are logged.
        store
            .complete(vec![
                completion("msg_1", 5, false, 30),
                completion("msg_1", 5, true, 40),
            ])
            .await
            .unwrap();
        let (row, attempts) = store.delivery("msg_1").await.unwrap().unwrap();
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!((row.attempts, row.run_attempts), (1, 1));
        assert_eq!(row.next_attempt_at, Some(1_030));
        assert_eq!(row.last_status, Some(503));
        assert_eq!(row.updated_at, 37);
        let started: Vec<i64> = attempts.iter().map(|a| a.started_at).collect();
        assert_eq!(started, [20, 30, 40], "oldest first");
        assert_eq!(attempts[1].response_body, b"busy");
        assert_eq!(attempts[2].response_body, b"");
        // The lease was cleared: claimable again once due.
        assert_eq!(store.claim(1_030, lease(6), 10).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn completions_report_runs_that_grew() {
        let db = TempDb::new("health");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 10)).await.unwrap();
        let ids: Vec<String> = (0..6).map(|n| format!("msg_{n}")).collect();
        let deliveries = ids.iter().map(|id| new(id, "ep_a", 10)).collect();
        store
            .enqueue(event("evt_1", None), deliveries, None)
            .await
            .unwrap();
        assert_eq!(store.claim(10, lease(1), 10).await.unwrap().len(), 6);

        let health = store
            .complete(vec![
                completion(&ids[0], 1, false, 100),
                completion(&ids[1], 1, false, 200),
            ])
            .await
            .unwrap();
        let expected = |failures, failing_since| EndpointHealth {
            endpoint_id: "ep_a".into(),
            failures,
            failing_since,
            enabled: true,
        };
        assert_eq!(health, [expected(2, Some(100))]);
        let health = store
            .complete(vec![completion(&ids[2], 1, false, 300)])
            .await
            .unwrap();
        assert_eq!(health, [expected(3, Some(100))], "the run goes on");
        let health = store
            .complete(vec![
                completion(&ids[3], 1, false, 400),
                completion(&ids[4], 1, true, 500),
            ])
            .await
            .unwrap();
        assert!(health.is_empty(), "a success ended the run: {health:?}");
        let row = store.endpoint("ep_a").await.unwrap().unwrap();
        assert_eq!((row.failures, row.failing_since), (0, None));
        let health = store
            .complete(vec![completion(&ids[5], 1, false, 600)])
            .await
            .unwrap();
        assert_eq!(health, [expected(1, Some(600))], "a new run");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_duplicate_key_writes_nothing_and_returns_the_first_ids() {
        let db = TempDb::new("idempotency");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 10)).await.unwrap();
        store.add_endpoint(endpoint("ep_b", 10)).await.unwrap();
        let first = store
            .enqueue(
                event("evt_1", Some("key")),
                vec![new("msg_z", "ep_b", 10), new("msg_a", "ep_a", 10)],
                None,
            )
            .await
            .unwrap();
        assert!(!first.duplicate);
        let again = store
            .enqueue(
                event("evt_2", Some("key")),
                vec![new("msg_2", "ep_a", 10)],
                None,
            )
            .await
            .unwrap();
        assert_eq!(
            again,
            Enqueued {
                event_id: "evt_1".into(),
                delivery_ids: vec!["msg_z".into(), "msg_a".into()],
                duplicate: true,
            }
        );
        assert!(store.delivery("msg_2").await.unwrap().is_none());
        assert_eq!(store.stats(None).await.unwrap().pending, 2);

        // Two processes racing with one new key: one writes, the other gets its ids.
        let racer = |n: u32| {
            let path = db.0.clone();
            tokio::spawn(async move {
                let store = SqliteStore::open(&path).await.unwrap();
                store
                    .enqueue(
                        event(&format!("evt_race_{n}"), Some("race")),
                        vec![new(&format!("msg_race_{n}"), "ep_a", 10)],
                        None,
                    )
                    .await
                    .unwrap()
            })
        };
        let (one, two) = tokio::join!(racer(1), racer(2));
        let (one, two) = (one.unwrap(), two.unwrap());
        assert_eq!(one.event_id, two.event_id);
        assert_eq!(one.delivery_ids, two.delivery_ids);
        assert!(one.duplicate != two.duplicate, "{one:?} {two:?}");
    }

    #[tokio::test]
    async fn listing_requeueing_and_what_is_pending() {
        let db = TempDb::new("list");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 10)).await.unwrap();
        store.add_endpoint(endpoint("ep_b", 10)).await.unwrap();
        for n in 0..3 {
            store
                .enqueue(
                    event(&format!("evt_{n}"), None),
                    vec![
                        new(&format!("a_{n}"), "ep_a", 10 + n),
                        new(&format!("b_{n}"), "ep_b", 10 + n),
                    ],
                    None,
                )
                .await
                .unwrap();
        }
        let listed = |filter| async { store.deliveries(filter).await.unwrap() };
        let ids = |rows: Vec<DeliveryRow>| rows.into_iter().map(|r| r.id).collect::<Vec<_>>();
        assert_eq!(
            ids(listed(DeliveryFilter {
                endpoint_id: Some("ep_a".into()),
                ..DeliveryFilter::default()
            })
            .await),
            ["a_2", "a_1", "a_0"],
            "newest first"
        );
        assert_eq!(
            ids(listed(DeliveryFilter {
                event_id: Some("evt_1".into()),
                limit: 1,
                ..DeliveryFilter::default()
            })
            .await),
            ["b_1"]
        );
        assert_eq!(
            store.pending().await.unwrap(),
            Pending {
                count: 6,
                next_due: Some(10)
            }
        );

        let claims = store.claim(100, lease(1), 2).await.unwrap();
        let mut failed = completion("a_0", 1, false, 50);
        failed.next = Next::Failed;
        let mut other = completion("b_0", 1, false, 50);
        other.next = Next::Failed;
        other.endpoint_id = "ep_b".into();
        assert_eq!(claims.len(), 2);
        store.complete(vec![failed, other]).await.unwrap();
        let failed_rows = listed(DeliveryFilter {
            status: Some(DeliveryStatus::Failed),
            ..DeliveryFilter::default()
        })
        .await;
        assert_eq!(ids(failed_rows), ["b_0", "a_0"]);
        assert_eq!(store.pending().await.unwrap().next_due, Some(11));

        let requeued = store
            .requeue(
                Requeue::FailedSince {
                    endpoint_id: "ep_a".into(),
                    since: 0,
                },
                200,
            )
            .await
            .unwrap();
        assert_eq!(requeued, 1);
        let (row, _) = store.delivery("a_0").await.unwrap().unwrap();
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!((row.attempts, row.run_attempts), (1, 0));
        assert_eq!(row.next_attempt_at, Some(200));
        assert_eq!(
            store
                .requeue(Requeue::Delivery("nope".into()), 200)
                .await
                .unwrap(),
            0
        );

        let stats = store.stats(Some("ep_b".into())).await.unwrap();
        assert_eq!((stats.pending, stats.failed, stats.attempts), (2, 1, 1));
        assert_eq!(stats.recent_durations_ms, [7]);
        let stats = store.stats(None).await.unwrap();
        assert_eq!((stats.pending, stats.failed, stats.attempts), (5, 1, 2));
    }

    #[tokio::test]
    async fn enqueue_and_release_wake_a_waiting_worker() {
        let db = TempDb::new("notify");
        let store = SqliteStore::open(&db.0).await.unwrap();
        store.add_endpoint(endpoint("ep_a", 10)).await.unwrap();
        let waiter = store.clone();
        let started = std::time::Instant::now();
        let wait = tokio::spawn(async move { waiter.wait_for_work(Duration::from_secs(30)).await });
        tokio::time::sleep(Duration::from_millis(50)).await;
        store
            .enqueue(event("evt_1", None), vec![new("msg_1", "ep_a", 10)], None)
            .await
            .unwrap();
        tokio::time::timeout(Duration::from_secs(10), wait)
            .await
            .expect("woken by the enqueue")
            .unwrap();
        assert!(started.elapsed() < Duration::from_secs(10));

        let claimed = store.claim(10, lease(1), 10).await.unwrap();
        store.release(&["msg_1".into()], lease(2)).await.unwrap();
        assert!(
            store.claim(10, lease(3), 10).await.unwrap().is_empty(),
            "another lease's"
        );
        store
            .release(&[claimed[0].delivery.id.clone()], lease(1))
            .await
            .unwrap();
        assert_eq!(store.claim(10, lease(3), 10).await.unwrap().len(), 1);
    }
}
