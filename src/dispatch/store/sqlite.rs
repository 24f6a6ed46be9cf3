//! The SQLite store: one file, the embedded default.
//!
//! Several processes may share the file: every write runs in a `BEGIN IMMEDIATE` transaction,
//! which takes SQLite's single write lock at once, so a claim's read and its lease are one
//! step that no other writer can interleave with (<https://www.sqlite.org/lang_transaction.html>).
//! Within one process writers also queue on an async lock, so they wait without SQLite's
//! sleeping busy handler; other processes wait on the busy timeout.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Serialize;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, Transaction};
use tokio::sync::{Mutex, MutexGuard, Notify};

use super::{
    AttemptRow, BoxFuture, Claim, Completion, DeliveryFilter, DeliveryRow, DeliveryStatus,
    DeliveryWithAttempts, EndpointHealth, EndpointRow, Enqueued, EventRow, Lease, NewDelivery,
    Next, Pending, RECENT_DURATIONS, Requeue, StatsRow, Store, StoreError, StoreResult,
};
use crate::dispatch::endpoint::now_millis;
use crate::error::BoxError;

/// The schema, one script per version, each applied once, in order.
const MIGRATIONS: &[(i64, &str)] = &[(1, include_str!("sqlite/0001_init.sql"))];

/// Connections in the pool: reads run side by side (WAL), writes one at a time anyway.
const CONNECTIONS: u32 = 4;

/// How long a writer waits for another process's write lock.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

/// The columns [`delivery_from_row`] reads, from `deliveries AS d JOIN events AS ev`.
macro_rules! delivery_columns {
    () => {
        "d.id, d.event_id, ev.event_type, d.endpoint_id, d.status, d.attempts, \
         d.run_attempts, d.next_attempt_at, d.last_status, d.last_error, d.created_at, \
         d.updated_at"
    };
}

/// The columns [`endpoint_from_row`] reads.
macro_rules! endpoint_columns {
    () => {
        "id, url, scheme, sealed_secrets, patterns, enabled, disabled_reason, name, labels, \
         max_in_flight, failures, failing_since, created_at"
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
    pool: SqlitePool,
    shared: Arc<Shared>,
}

struct Shared {
    /// Signalled when this process adds work; other processes' work is found by polling.
    work: Notify,
    /// Taken by every write in this process, so they never wait on SQLite's busy handler.
    writer: Mutex<()>,
}

impl fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SqliteStore")
            .field("pool", &self.pool)
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
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .busy_timeout(BUSY_TIMEOUT)
            .foreign_keys(true);
        // Switching a new file to WAL while another process does the same can fail at once
        // with "database is locked" (SQLite does not call the busy handler where waiting
        // could deadlock): try again for as long as the busy timeout.
        let started = std::time::Instant::now();
        let mut pause = Duration::from_millis(10);
        loop {
            // A connection to a local file does not go stale: no ping before every use.
            let opened = SqlitePoolOptions::new()
                .max_connections(CONNECTIONS)
                .test_before_acquire(false)
                .connect_with(options.clone())
                .await;
            let result = match opened {
                Ok(pool) => Self::from_pool(pool).await,
                Err(error) => Err(StoreError::new("open the SQLite database", error)),
            };
            match result {
                Err(error) if is_busy(&error) && started.elapsed() < BUSY_TIMEOUT => {
                    tokio::time::sleep(pause).await;
                    pause = (pause * 2).min(Duration::from_millis(200));
                }
                result => return result,
            }
        }
    }

    /// A store on a pool you configured yourself; its schema is brought up to date.
    ///
    /// [`open`](Self::open)'s settings are recommended: WAL, a busy timeout, foreign keys.
    ///
    /// # Errors
    ///
    /// As [`open`](Self::open).
    ///
    /// ```no_run
    /// use sqlx::sqlite::{SqliteConnectOptions, SqlitePoolOptions};
    /// use tower_webhook::dispatch::SqliteStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let options = SqliteConnectOptions::new()
    ///     .filename("deliveries.db")
    ///     .create_if_missing(true);
    /// let pool = SqlitePoolOptions::new().connect_with(options).await?;
    /// let store = SqliteStore::from_pool(pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    pub async fn from_pool(pool: SqlitePool) -> Result<Self, StoreError> {
        migrate(&pool)
            .await
            .map_err(|error| StoreError::new("migrate the SQLite database", error))?;
        Ok(Self {
            pool,
            shared: Arc::new(Shared {
                work: Notify::new(),
                writer: Mutex::new(()),
            }),
        })
    }

    /// A write transaction holding SQLite's write lock, and this process's writer lock.
    async fn begin_write(
        &self,
    ) -> Result<(MutexGuard<'_, ()>, Transaction<'static, Sqlite>), sqlx::Error> {
        let guard = self.shared.writer.lock().await;
        let transaction = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        Ok((guard, transaction))
    }

    async fn add_endpoint_inner(&self, endpoint: EndpointRow) -> Result<(), BoxError> {
        let patterns = serde_json::to_string(&endpoint.patterns)?;
        let labels = serde_json::to_string(&endpoint.labels)?;
        let _writer = self.shared.writer.lock().await;
        sqlx::query(
            "INSERT INTO endpoints (id, url, scheme, sealed_secrets, patterns, enabled, \
             disabled_reason, name, labels, max_in_flight, failures, failing_since, created_at) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)",
        )
        .bind(&endpoint.id)
        .bind(&endpoint.url)
        .bind(&endpoint.scheme)
        .bind(&endpoint.sealed_secrets)
        .bind(patterns)
        .bind(endpoint.enabled)
        .bind(&endpoint.disabled_reason)
        .bind(&endpoint.name)
        .bind(labels)
        .bind(i64::from(endpoint.max_in_flight))
        .bind(i64::from(endpoint.failures))
        .bind(endpoint.failing_since)
        .bind(endpoint.created_at)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    async fn set_enabled_inner(
        &self,
        id: &str,
        enabled: bool,
        reason: Option<&str>,
    ) -> Result<bool, BoxError> {
        let done = {
            let _writer = self.shared.writer.lock().await;
            sqlx::query(
                "UPDATE endpoints SET enabled = ?2, disabled_reason = ?3, \
                 failures = CASE WHEN ?2 THEN 0 ELSE failures END, \
                 failing_since = CASE WHEN ?2 THEN NULL ELSE failing_since END \
                 WHERE id = ?1",
            )
            .bind(id)
            .bind(enabled)
            .bind(reason)
            .execute(&self.pool)
            .await?
        };
        let found = done.rows_affected() > 0;
        if found && enabled {
            self.shared.work.notify_waiters();
        }
        Ok(found)
    }

    async fn set_secrets_inner(&self, id: &str, sealed: &[u8]) -> Result<bool, BoxError> {
        let _writer = self.shared.writer.lock().await;
        let done = sqlx::query("UPDATE endpoints SET sealed_secrets = ?2 WHERE id = ?1")
            .bind(id)
            .bind(sealed)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() > 0)
    }

    async fn enqueue_inner(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> Result<Enqueued, BoxError> {
        let list: Vec<NewJson<'_>> = deliveries
            .iter()
            .map(|new| NewJson {
                id: &new.id,
                ep: &new.endpoint_id,
                at: new.next_attempt_at,
            })
            .collect();
        let list = serde_json::to_string(&list)?;
        let (_writer, mut tx) = self.begin_write().await?;
        // A key seen before inserts nothing; the write lock makes "seen" final, even for two
        // processes racing with the same key.
        let inserted = sqlx::query(
            "INSERT INTO events (id, event_type, payload, content_type, idempotency_key, \
             created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
             ON CONFLICT (idempotency_key) DO NOTHING",
        )
        .bind(&event.id)
        .bind(&event.event_type)
        .bind(event.payload.as_ref())
        .bind(&event.content_type)
        .bind(&event.idempotency_key)
        .bind(event.created_at)
        .execute(&mut *tx)
        .await?
        .rows_affected();
        if inserted == 0 {
            let first: String =
                sqlx::query_scalar("SELECT id FROM events WHERE idempotency_key = ?1")
                    .bind(&event.idempotency_key)
                    .fetch_one(&mut *tx)
                    .await?;
            let delivery_ids: Vec<String> =
                sqlx::query_scalar("SELECT id FROM deliveries WHERE event_id = ?1 ORDER BY seq")
                    .bind(&first)
                    .fetch_all(&mut *tx)
                    .await?;
            tx.rollback().await?;
            return Ok(Enqueued {
                event_id: first,
                delivery_ids,
                duplicate: true,
            });
        }
        if !deliveries.is_empty() {
            sqlx::query(
                "INSERT INTO deliveries (id, event_id, endpoint_id, status, next_attempt_at, \
                 lease_token, lease_until, created_at, updated_at) \
                 SELECT value ->> 'id', ?2, value ->> 'ep', 'pending', value ->> 'at', ?3, ?4, \
                 ?5, ?5 FROM json_each(?1) ORDER BY key",
            )
            .bind(list)
            .bind(&event.id)
            .bind(lease.map(|lease| lease.token))
            .bind(lease.map(|lease| lease.until))
            .bind(event.created_at)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        self.shared.work.notify_waiters();
        Ok(Enqueued {
            event_id: event.id,
            delivery_ids: deliveries.into_iter().map(|new| new.id).collect(),
            duplicate: false,
        })
    }

    async fn claim_inner(
        &self,
        now: i64,
        lease: Lease,
        limit: u32,
    ) -> Result<Vec<Claim>, BoxError> {
        if limit == 0 {
            return Ok(Vec::new());
        }
        let limit = limit as usize;
        let (_writer, mut tx) = self.begin_write().await?;
        // Deliveries under an unexpired lease, per endpoint: few, from a partial index.
        let busy: HashMap<String, i64> = sqlx::query_as(
            "SELECT endpoint_id, COUNT(*) FROM deliveries WHERE lease_until > ?1 \
             GROUP BY endpoint_id",
        )
        .bind(now)
        .fetch_all(&mut *tx)
        .await?
        .into_iter()
        .collect();
        // Walk the due deliveries oldest first, a page at a time, skipping those of endpoints
        // at their cap: the work is the deliveries taken and skipped, not the whole backlog.
        let page = limit.saturating_mul(2).max(64);
        let mut room: HashMap<String, i64> = HashMap::new();
        let mut chosen: Vec<i64> = Vec::with_capacity(limit);
        let (mut after_at, mut after_seq) = (i64::MIN, i64::MIN);
        'pages: loop {
            let rows = sqlx::query(
                "SELECT d.seq, d.next_attempt_at, d.endpoint_id, e.max_in_flight \
                 FROM deliveries AS d CROSS JOIN endpoints AS e \
                 WHERE d.status = 'pending' AND d.next_attempt_at <= ?1 \
                 AND d.next_attempt_at >= ?2 \
                 AND (d.next_attempt_at > ?2 OR d.seq > ?3) \
                 AND (d.lease_until IS NULL OR d.lease_until <= ?1) \
                 AND e.id = d.endpoint_id AND e.enabled \
                 ORDER BY d.next_attempt_at, d.seq LIMIT ?4",
            )
            .bind(now)
            .bind(after_at)
            .bind(after_seq)
            .bind(page as i64)
            .fetch_all(&mut *tx)
            .await?;
            let full = rows.len() == page;
            for row in rows {
                let seq: i64 = row.try_get(0)?;
                after_at = row.try_get(1)?;
                after_seq = seq;
                let endpoint: String = row.try_get(2)?;
                let max: i64 = row.try_get(3)?;
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
            if !full {
                break;
            }
        }
        if chosen.is_empty() {
            tx.rollback().await?;
            return Ok(Vec::new());
        }
        let seqs = serde_json::to_string(&chosen)?;
        sqlx::query(
            "UPDATE deliveries SET lease_token = ?2, lease_until = ?3 \
             WHERE seq IN (SELECT value FROM json_each(?1))",
        )
        .bind(&seqs)
        .bind(lease.token)
        .bind(lease.until)
        .execute(&mut *tx)
        .await?;
        let rows = sqlx::query(concat!(
            "SELECT d.seq, ",
            delivery_columns!(),
            ", ev.payload, ev.content_type, ev.idempotency_key, \
             ev.created_at AS event_created_at \
             FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id \
             WHERE d.seq IN (SELECT value FROM json_each(?1))"
        ))
        .bind(&seqs)
        .fetch_all(&mut *tx)
        .await?;
        let mut found: HashMap<i64, (DeliveryRow, EventRow)> = HashMap::with_capacity(rows.len());
        let mut endpoint_ids: Vec<String> = Vec::new();
        for row in &rows {
            let delivery = delivery_from_row(row)?;
            let event = EventRow {
                id: delivery.event_id.clone(),
                event_type: delivery.event_type.clone(),
                payload: row.try_get::<Vec<u8>, _>("payload")?.into(),
                content_type: row.try_get("content_type")?,
                idempotency_key: row.try_get("idempotency_key")?,
                created_at: row.try_get("event_created_at")?,
            };
            if !endpoint_ids.contains(&delivery.endpoint_id) {
                endpoint_ids.push(delivery.endpoint_id.clone());
            }
            found.insert(row.try_get("seq")?, (delivery, event));
        }
        let endpoints: HashMap<String, EndpointRow> = sqlx::query(concat!(
            "SELECT ",
            endpoint_columns!(),
            " FROM endpoints WHERE id IN (SELECT value FROM json_each(?1))"
        ))
        .bind(serde_json::to_string(&endpoint_ids)?)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(|row| endpoint_from_row(row).map(|endpoint| (endpoint.id.clone(), endpoint)))
        .collect::<Result<_, _>>()?;
        tx.commit().await?;
        let mut claims = Vec::with_capacity(chosen.len());
        for seq in chosen {
            let (delivery, event) = found.remove(&seq).ok_or("a claimed delivery vanished")?;
            let endpoint = endpoints
                .get(&delivery.endpoint_id)
                .ok_or("a claimed delivery's endpoint vanished")?
                .clone();
            claims.push(Claim {
                delivery,
                event,
                endpoint,
            });
        }
        Ok(claims)
    }

    async fn complete_inner(
        &self,
        completions: Vec<Completion>,
    ) -> Result<Vec<EndpointHealth>, BoxError> {
        if completions.is_empty() {
            return Ok(Vec::new());
        }
        // One JSON array carries the whole batch into two statements. Only the first
        // completion per (delivery, lease) may update: once it has, the lease is cleared, so
        // a later one with the same lease would not hold it.
        let mut seen = std::collections::HashSet::new();
        let mut runs: Vec<(&str, Run)> = Vec::new();
        let mut list = Vec::with_capacity(completions.len());
        for (position, completion) in completions.iter().enumerate() {
            let attempt = &completion.attempt;
            let (status, next) = match completion.next {
                Next::Succeeded => (DeliveryStatus::Succeeded, None),
                Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
                Next::Failed => (DeliveryStatus::Failed, None),
            };
            list.push(AttemptJson {
                d: &attempt.delivery_id,
                n: attempt.number,
                s: attempt.started_at,
                ms: attempt.duration_ms,
                st: attempt.status,
                e: attempt.error.as_deref(),
                b: hex::encode(&attempt.response_body),
                t: completion.lease.token,
                k: seen.insert((attempt.delivery_id.as_str(), completion.lease.token)),
                x: status.as_str(),
                at: next,
                u: attempt.started_at + i64::from(attempt.duration_ms),
            });
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
        let list = serde_json::to_string(&list)?;

        let (_writer, mut tx) = self.begin_write().await?;
        sqlx::query(
            "INSERT INTO attempts (delivery_id, number, started_at, duration_ms, status, error, \
             response_body) \
             SELECT value ->> 'd', value ->> 'n', value ->> 's', value ->> 'ms', value ->> 'st', \
             value ->> 'e', unhex(value ->> 'b') FROM json_each(?1) ORDER BY key",
        )
        .bind(&list)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE deliveries SET status = c.status, attempts = attempts + 1, \
             run_attempts = run_attempts + 1, next_attempt_at = c.next, \
             last_status = c.last_status, last_error = c.last_error, updated_at = c.updated, \
             lease_token = NULL, lease_until = NULL \
             FROM (SELECT value ->> 'd' AS id, value ->> 't' AS token, value ->> 'x' AS status, \
             value ->> 'at' AS next, value ->> 'st' AS last_status, value ->> 'e' AS last_error, \
             value ->> 'u' AS updated FROM json_each(?1) WHERE value ->> 'k') AS c \
             WHERE deliveries.id = c.id AND deliveries.lease_token = c.token",
        )
        .bind(&list)
        .execute(&mut *tx)
        .await?;
        let mut grew = Vec::new();
        for (endpoint_id, run) in &runs {
            // A success in the batch sets the run to the failures after it; otherwise the
            // batch's failures extend the stored run. Nothing to write when nothing changes.
            let row = sqlx::query(
                "UPDATE endpoints SET \
                 failures = CASE WHEN ?2 THEN ?3 ELSE failures + ?3 END, \
                 failing_since = CASE WHEN ?2 THEN ?4 ELSE coalesce(failing_since, ?4) END \
                 WHERE id = ?1 AND (?3 > 0 OR failures <> 0 OR failing_since IS NOT NULL) \
                 RETURNING failures, failing_since, enabled",
            )
            .bind(endpoint_id)
            .bind(run.reset)
            .bind(i64::from(run.failures))
            .bind(run.since)
            .fetch_optional(&mut *tx)
            .await?;
            if let Some(row) = row
                && run.failures > 0
            {
                let failures: i64 = row.try_get(0)?;
                grew.push((
                    run.last_failure,
                    EndpointHealth {
                        endpoint_id: (*endpoint_id).to_owned(),
                        failures: u32::try_from(failures).unwrap_or(u32::MAX),
                        failing_since: row.try_get(1)?,
                        enabled: row.try_get(2)?,
                    },
                ));
            }
        }
        tx.commit().await?;
        grew.sort_by_key(|(position, _)| *position);
        Ok(grew.into_iter().map(|(_, health)| health).collect())
    }

    async fn release_inner(&self, ids: &[String], lease: Lease) -> Result<(), BoxError> {
        if ids.is_empty() {
            return Ok(());
        }
        let ids = serde_json::to_string(ids)?;
        {
            let _writer = self.shared.writer.lock().await;
            sqlx::query(
                "UPDATE deliveries SET lease_token = NULL, lease_until = NULL \
                 WHERE id IN (SELECT value FROM json_each(?1)) AND lease_token = ?2",
            )
            .bind(ids)
            .bind(lease.token)
            .execute(&self.pool)
            .await?;
        }
        self.shared.work.notify_waiters();
        Ok(())
    }

    async fn delivery_inner(&self, id: &str) -> Result<Option<DeliveryWithAttempts>, BoxError> {
        let mut tx = self.pool.begin().await?;
        let Some(row) = sqlx::query(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id WHERE d.id = ?1"
        ))
        .bind(id)
        .fetch_optional(&mut *tx)
        .await?
        else {
            return Ok(None);
        };
        let delivery = delivery_from_row(&row)?;
        let attempts = sqlx::query(
            "SELECT delivery_id, number, started_at, duration_ms, status, error, response_body \
             FROM attempts WHERE delivery_id = ?1 ORDER BY seq",
        )
        .bind(id)
        .fetch_all(&mut *tx)
        .await?
        .iter()
        .map(attempt_from_row)
        .collect::<Result<_, _>>()?;
        tx.commit().await?;
        Ok(Some((delivery, attempts)))
    }

    async fn deliveries_inner(&self, filter: DeliveryFilter) -> Result<Vec<DeliveryRow>, BoxError> {
        // One statement per combination of filters, so each can use its index.
        let mut sql = String::from(concat!(
            "SELECT ",
            delivery_columns!(),
            " FROM deliveries AS d JOIN events AS ev ON ev.id = d.event_id WHERE 1"
        ));
        if filter.status.is_some() {
            sql.push_str(" AND d.status = ?");
        }
        if filter.endpoint_id.is_some() {
            sql.push_str(" AND d.endpoint_id = ?");
        }
        if filter.event_id.is_some() {
            sql.push_str(" AND d.event_id = ?");
        }
        sql.push_str(" ORDER BY d.seq DESC LIMIT ?");
        let mut query = sqlx::query(&sql);
        if let Some(status) = filter.status {
            query = query.bind(status.as_str());
        }
        if let Some(endpoint) = &filter.endpoint_id {
            query = query.bind(endpoint);
        }
        if let Some(event) = &filter.event_id {
            query = query.bind(event);
        }
        let rows = query
            .bind(i64::from(filter.limit))
            .fetch_all(&self.pool)
            .await?;
        rows.iter().map(delivery_from_row).collect()
    }

    async fn requeue_inner(&self, which: Requeue, now: i64) -> Result<u64, BoxError> {
        let done = {
            let _writer = self.shared.writer.lock().await;
            match &which {
                Requeue::Delivery(id) => {
                    sqlx::query(concat!(requeue_set!(), "WHERE id = ?2"))
                        .bind(now)
                        .bind(id)
                        .execute(&self.pool)
                        .await?
                }
                Requeue::FailedSince { endpoint_id, since } => {
                    sqlx::query(concat!(
                        requeue_set!(),
                        "WHERE endpoint_id = ?2 AND status = 'failed' AND updated_at >= ?3"
                    ))
                    .bind(now)
                    .bind(endpoint_id)
                    .bind(since)
                    .execute(&self.pool)
                    .await?
                }
            }
        };
        self.shared.work.notify_waiters();
        Ok(done.rows_affected())
    }

    async fn stats_inner(&self, endpoint: Option<String>) -> Result<StatsRow, BoxError> {
        let mut tx = self.pool.begin().await?;
        let counts: Vec<(String, i64)> = match &endpoint {
            None => {
                sqlx::query_as("SELECT status, COUNT(*) FROM deliveries GROUP BY status")
                    .fetch_all(&mut *tx)
                    .await?
            }
            Some(id) => {
                sqlx::query_as(
                    "SELECT status, COUNT(*) FROM deliveries WHERE endpoint_id = ?1 \
                     GROUP BY status",
                )
                .bind(id)
                .fetch_all(&mut *tx)
                .await?
            }
        };
        let mut stats = StatsRow::default();
        for (status, count) in counts {
            let count = u64::try_from(count)?;
            match status.parse()? {
                DeliveryStatus::Pending => stats.pending = count,
                DeliveryStatus::Succeeded => stats.succeeded = count,
                DeliveryStatus::Failed => stats.failed = count,
            }
        }
        let (attempts, durations): (i64, Vec<i64>) = match &endpoint {
            None => (
                sqlx::query_scalar("SELECT COUNT(*) FROM attempts")
                    .fetch_one(&mut *tx)
                    .await?,
                sqlx::query_scalar(
                    "SELECT duration_ms FROM attempts WHERE status IS NOT NULL \
                     ORDER BY seq DESC LIMIT ?1",
                )
                .bind(i64::from(RECENT_DURATIONS))
                .fetch_all(&mut *tx)
                .await?,
            ),
            Some(id) => (
                sqlx::query_scalar(
                    "SELECT COUNT(*) FROM attempts AS a JOIN deliveries AS d \
                     ON d.id = a.delivery_id WHERE d.endpoint_id = ?1",
                )
                .bind(id)
                .fetch_one(&mut *tx)
                .await?,
                sqlx::query_scalar(
                    "SELECT a.duration_ms FROM attempts AS a JOIN deliveries AS d \
                     ON d.id = a.delivery_id WHERE d.endpoint_id = ?1 AND a.status IS NOT NULL \
                     ORDER BY a.seq DESC LIMIT ?2",
                )
                .bind(id)
                .bind(i64::from(RECENT_DURATIONS))
                .fetch_all(&mut *tx)
                .await?,
            ),
        };
        tx.commit().await?;
        stats.attempts = u64::try_from(attempts)?;
        stats.recent_durations_ms = durations
            .into_iter()
            .map(u32::try_from)
            .collect::<Result<_, _>>()?;
        Ok(stats)
    }

    async fn pending_inner(&self) -> Result<Pending, BoxError> {
        let (count, next_due): (i64, Option<i64>) = sqlx::query_as(
            "SELECT COUNT(*), \
             MIN(CASE WHEN d.lease_until > d.next_attempt_at THEN d.lease_until \
             ELSE d.next_attempt_at END) \
             FROM deliveries AS d JOIN endpoints AS e ON e.id = d.endpoint_id \
             WHERE d.status = 'pending' AND e.enabled",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(Pending {
            count: u64::try_from(count)?,
            next_due,
        })
    }
}

/// A delivery to insert, in the JSON array `enqueue` passes to `json_each`.
#[derive(Serialize)]
struct NewJson<'a> {
    id: &'a str,
    ep: &'a str,
    at: i64,
}

/// A completion, in the JSON array `complete` passes to `json_each`.
#[derive(Serialize)]
struct AttemptJson<'a> {
    /// Delivery id.
    d: &'a str,
    /// Attempt number.
    n: u32,
    /// Started at.
    s: i64,
    ms: u32,
    /// HTTP status.
    st: Option<u16>,
    /// Error.
    e: Option<&'a str>,
    /// Response body, in hex (JSON has no bytes).
    b: String,
    /// Lease token.
    t: i64,
    /// Whether this completion may update its delivery.
    k: bool,
    /// The delivery's status after it.
    x: &'static str,
    /// The next attempt's time.
    at: Option<i64>,
    /// Updated at.
    u: i64,
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

fn count(row: &SqliteRow, column: &str) -> Result<u32, BoxError> {
    let value: i64 = row.try_get(column)?;
    u32::try_from(value).map_err(|_| format!("stored {column} is out of range").into())
}

fn endpoint_from_row(row: &SqliteRow) -> Result<EndpointRow, BoxError> {
    let patterns: String = row.try_get("patterns")?;
    let labels: String = row.try_get("labels")?;
    Ok(EndpointRow {
        id: row.try_get("id")?,
        url: row.try_get("url")?,
        scheme: row.try_get("scheme")?,
        sealed_secrets: row.try_get("sealed_secrets")?,
        patterns: serde_json::from_str(&patterns)?,
        enabled: row.try_get("enabled")?,
        disabled_reason: row.try_get("disabled_reason")?,
        name: row.try_get("name")?,
        labels: serde_json::from_str(&labels)?,
        max_in_flight: count(row, "max_in_flight")?,
        failures: count(row, "failures")?,
        failing_since: row.try_get("failing_since")?,
        created_at: row.try_get("created_at")?,
    })
}

fn delivery_from_row(row: &SqliteRow) -> Result<DeliveryRow, BoxError> {
    let status: String = row.try_get("status")?;
    let last_status: Option<i64> = row.try_get("last_status")?;
    Ok(DeliveryRow {
        id: row.try_get("id")?,
        event_id: row.try_get("event_id")?,
        event_type: row.try_get("event_type")?,
        endpoint_id: row.try_get("endpoint_id")?,
        status: status.parse()?,
        attempts: count(row, "attempts")?,
        run_attempts: count(row, "run_attempts")?,
        next_attempt_at: row.try_get("next_attempt_at")?,
        last_status: last_status.map(u16::try_from).transpose()?,
        last_error: row.try_get("last_error")?,
        created_at: row.try_get("created_at")?,
        updated_at: row.try_get("updated_at")?,
    })
}

fn attempt_from_row(row: &SqliteRow) -> Result<AttemptRow, BoxError> {
    let status: Option<i64> = row.try_get("status")?;
    Ok(AttemptRow {
        delivery_id: row.try_get("delivery_id")?,
        number: count(row, "number")?,
        started_at: row.try_get("started_at")?,
        duration_ms: count(row, "duration_ms")?,
        status: status.map(u16::try_from).transpose()?,
        error: row.try_get("error")?,
        response_body: row.try_get("response_body")?,
    })
}

/// Applies the scripts not applied yet, each once, under the write lock: two processes
/// opening the file at once apply each script once between them.
async fn migrate(pool: &SqlitePool) -> Result<(), BoxError> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(
        "CREATE TABLE IF NOT EXISTS tower_webhook_migrations \
         (version INTEGER PRIMARY KEY, applied_at INTEGER)",
    )
    .execute(&mut *tx)
    .await?;
    let applied: Vec<i64> = sqlx::query_scalar("SELECT version FROM tower_webhook_migrations")
        .fetch_all(&mut *tx)
        .await?;
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
        // A plain string: several statements, not kept in the statement cache.
        sqlx::Executor::execute(&mut *tx, *script).await?;
        sqlx::query("INSERT INTO tower_webhook_migrations (version, applied_at) VALUES (?1, ?2)")
            .bind(version)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await?;
    Ok(())
}

fn fail(operation: &'static str) -> impl FnOnce(BoxError) -> StoreError {
    move |error| StoreError::new(operation, error)
}

impl Store for SqliteStore {
    fn add_endpoint(&self, endpoint: EndpointRow) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            self.add_endpoint_inner(endpoint)
                .await
                .map_err(fail("add an endpoint"))
        })
    }

    fn endpoints(&self) -> BoxFuture<'_, StoreResult<Vec<EndpointRow>>> {
        Box::pin(async move {
            async {
                let rows = sqlx::query(concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM endpoints ORDER BY seq"
                ))
                .fetch_all(&self.pool)
                .await?;
                rows.iter()
                    .map(endpoint_from_row)
                    .collect::<Result<Vec<_>, _>>()
            }
            .await
            .map_err(fail("list endpoints"))
        })
    }

    fn endpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<EndpointRow>>> {
        Box::pin(async move {
            async {
                let row = sqlx::query(concat!(
                    "SELECT ",
                    endpoint_columns!(),
                    " FROM endpoints WHERE id = ?1"
                ))
                .bind(id)
                .fetch_optional(&self.pool)
                .await?;
                row.as_ref().map(endpoint_from_row).transpose()
            }
            .await
            .map_err(fail("read an endpoint"))
        })
    }

    fn set_enabled<'a>(
        &'a self,
        id: &'a str,
        enabled: bool,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.set_enabled_inner(id, enabled, reason)
                .await
                .map_err(fail("enable or disable an endpoint"))
        })
    }

    fn set_secrets<'a>(
        &'a self,
        id: &'a str,
        sealed_secrets: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            self.set_secrets_inner(id, sealed_secrets)
                .await
                .map_err(fail("replace an endpoint's secrets"))
        })
    }

    fn enqueue(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> BoxFuture<'_, StoreResult<Enqueued>> {
        Box::pin(async move {
            self.enqueue_inner(event, deliveries, lease)
                .await
                .map_err(fail("queue an event"))
        })
    }

    fn claim(&self, now: i64, lease: Lease, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Claim>>> {
        Box::pin(async move {
            self.claim_inner(now, lease, limit)
                .await
                .map_err(fail("claim deliveries"))
        })
    }

    fn complete(
        &self,
        completions: Vec<Completion>,
    ) -> BoxFuture<'_, StoreResult<Vec<EndpointHealth>>> {
        Box::pin(async move {
            self.complete_inner(completions)
                .await
                .map_err(fail("record attempts"))
        })
    }

    fn release<'a>(&'a self, ids: &'a [String], lease: Lease) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            self.release_inner(ids, lease)
                .await
                .map_err(fail("release deliveries"))
        })
    }

    fn delivery<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DeliveryWithAttempts>>> {
        Box::pin(async move {
            self.delivery_inner(id)
                .await
                .map_err(fail("read a delivery"))
        })
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, StoreResult<Vec<DeliveryRow>>> {
        Box::pin(async move {
            self.deliveries_inner(filter)
                .await
                .map_err(fail("list deliveries"))
        })
    }

    fn requeue(&self, which: Requeue, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            self.requeue_inner(which, now)
                .await
                .map_err(fail("requeue deliveries"))
        })
    }

    fn stats(&self, endpoint: Option<String>) -> BoxFuture<'_, StoreResult<StatsRow>> {
        Box::pin(async move {
            self.stats_inner(endpoint)
                .await
                .map_err(fail("count deliveries"))
        })
    }

    fn pending(&self) -> BoxFuture<'_, StoreResult<Pending>> {
        Box::pin(async move {
            self.pending_inner()
                .await
                .map_err(fail("count pending deliveries"))
        })
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
        if let Some(sqlx::Error::Database(database)) = error.downcast_ref::<sqlx::Error>()
            && matches!(database.code().as_deref(), Some("5" | "6" | "517" | "262"))
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
        drop(second);
        first.pool.close().await;
        let again = SqliteStore::open(&db.0).await.unwrap();
        let versions: Vec<i64> =
            sqlx::query_scalar("SELECT version FROM tower_webhook_migrations ORDER BY version")
                .fetch_all(&again.pool)
                .await
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
    async fn a_newer_schema_is_refused() {
        let db = TempDb::new("newer");
        let store = SqliteStore::open(&db.0).await.unwrap();
        sqlx::query("INSERT INTO tower_webhook_migrations (version, applied_at) VALUES (999, 0)")
            .execute(&store.pool)
            .await
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
        store.pool.close().await;
        let mut bytes = std::fs::read(&db.0).unwrap();
        if let Ok(wal) = std::fs::read(format!("{}-wal", db.0.display())) {
            bytes.extend(wal);
        }
        let contains = |needle: &[u8]| bytes.windows(needle.len()).any(|w| w == needle);
        assert!(contains(&sealed), "the sealed blob is stored as given");
        assert!(!contains(plain.as_bytes()), "the plain secret is not");
        assert!(!format!("{store:?}").contains(plain));
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
