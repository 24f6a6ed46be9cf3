//! A store in PostgreSQL: several workers on several machines share one queue.
//!
//! Claims lock rows with `FOR UPDATE SKIP LOCKED`, so concurrent workers never take the same
//! delivery; writes notify the channel [`CHANNEL`] so idle workers elsewhere wake at once. The
//! schema ships with the crate (`postgres/*.sql`) and is applied on connect.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgConnection, PgListener, PgPool, PgPoolOptions, PgRow};
use sqlx::{Connection as _, Executor, Row};
use tokio::sync::Notify;
use tokio::task::JoinHandle;

use super::super::endpoint::now_millis;
use super::{
    AttemptRow, BoxFuture, Claim, Completion, DeliveryFilter, DeliveryRow, DeliveryStatus,
    DeliveryWithAttempts, EndpointHealth, EndpointRow, Enqueued, EventRow, Lease, NewDelivery,
    Next, Pending, RECENT_DURATIONS, Requeue, StatsRow, Store, StoreError, StoreResult,
};

/// The `LISTEN`/`NOTIFY` channel that says work may have been added.
const CHANNEL: &str = "tower_webhook_work";

/// The schema, in order: each script runs once.
const MIGRATIONS: &[(i32, &str)] = &[
    (1, include_str!("postgres/0001_init.sql")),
    (2, include_str!("postgres/0002_queue.sql")),
];

/// The advisory lock that serialises migrations between processes connecting at once.
const MIGRATION_LOCK: i64 = 0x7477_6d69_6772_6174;

/// Connections in the pool [`PostgresStore::connect`] opens (one of them listens).
const POOL_SIZE: u32 = 10;
/// How long [`PostgresStore::connect`] waits for its first connection.
const FIRST_CONNECTION: Duration = Duration::from_secs(15);

/// A [`Store`] in PostgreSQL, for workers on several machines sharing one queue.
///
/// Every method is one statement or one transaction. Pending deliveries also have a row in a
/// narrow queue table; claims lock the rows they take there with `FOR UPDATE SKIP LOCKED`,
/// so two workers — in this process or on another machine —
/// never claim the same delivery. Enqueues, requeues, releases and enabling an endpoint
/// `NOTIFY` a channel that [`wait_for_work`](Store::wait_for_work) listens on, so idle workers
/// everywhere wake at once rather than at their next poll.
///
/// The per-endpoint cap (`max_in_flight`) is exact for one claim at a time; two claims running
/// at the same instant each see the other's deliveries as not yet in flight, so under
/// concurrency an endpoint may briefly have up to one `max_in_flight` per concurrent claim.
///
/// The tables are named `tower_webhook_*`; [`connect`](Self::connect) and
/// [`from_pool`](Self::from_pool) create or upgrade them, once, even when several processes
/// start together.
///
/// ```no_run
/// use tower_webhook::dispatch::{Dispatcher, PostgresStore, StorageKey};
///
/// # async fn run(key: StorageKey) -> Result<(), Box<dyn std::error::Error>> {
/// let store = PostgresStore::connect("postgres://webhooks@db.internal/webhooks").await?;
/// let dispatcher = Dispatcher::builder(store, key).build();
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct PostgresStore {
    inner: Arc<Inner>,
}

struct Inner {
    pool: PgPool,
    /// Woken by the listener on every notification, and by this process's own writes.
    work: Arc<Notify>,
    /// The listener task, started by the first `wait_for_work`.
    listener: Mutex<Option<JoinHandle<()>>>,
}

impl Drop for Inner {
    fn drop(&mut self) {
        let listener = self
            .listener
            .get_mut()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(task) = listener.take() {
            task.abort();
        }
    }
}

impl fmt::Debug for PostgresStore {
    // By hand: the pool's options hold the connection's password.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PostgresStore")
            .field("connections", &self.inner.pool.size())
            .field("idle", &self.inner.pool.num_idle())
            .field("closed", &self.inner.pool.is_closed())
            .finish_non_exhaustive()
    }
}

impl PostgresStore {
    /// Connects to the database at `url` (a pool of ten connections) and creates or upgrades
    /// its tables.
    ///
    /// ```no_run
    /// use tower_webhook::dispatch::PostgresStore;
    ///
    /// # async fn run() -> Result<(), tower_webhook::dispatch::StoreError> {
    /// let store = PostgresStore::connect("postgres://webhooks:secret@127.0.0.1/webhooks").await?;
    /// // Debug shows the pool, never the password.
    /// assert!(!format!("{store:?}").contains("secret"));
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// The URL is not valid, the server cannot be reached or refuses, or a migration fails.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options: PgConnectOptions = url.parse().map_err(failed("connect to postgres"))?;
        // A pool retries a refused connection until its acquire timeout (30 s), then reports
        // only the timeout: one connection first says at once why the server cannot be used.
        match tokio::time::timeout(FIRST_CONNECTION, PgConnection::connect_with(&options)).await {
            Ok(Ok(first)) => drop(first.close().await),
            Ok(Err(error)) => return Err(failed("connect to postgres")(error)),
            Err(_elapsed) => {
                return Err(StoreError::new(
                    "connect to postgres",
                    format!(
                        "no answer within {}",
                        humantime::format_duration(FIRST_CONNECTION)
                    ),
                ));
            }
        }
        let pool = PgPoolOptions::new()
            .max_connections(POOL_SIZE)
            // A ping before every statement doubles the round trips of a claim or a record;
            // a dead connection fails its statement instead, and workers retry.
            .test_before_acquire(false)
            .after_connect(|connection, _| {
                Box::pin(async move {
                    // The store's statements are the same few, run thousands of times: plan them
                    // once per connection rather than at every execution.
                    connection
                        .execute("SET plan_cache_mode = force_generic_plan")
                        .await
                        .map(drop)
                })
            })
            .connect_with(options)
            .await
            .map_err(failed("connect to postgres"))?;
        Self::from_pool(pool).await
    }

    /// Uses a pool you configured (size, timeouts, TLS), and creates or upgrades its tables.
    ///
    /// Once [`wait_for_work`](Store::wait_for_work) has been called, one connection of the
    /// pool stays with the listener; size the pool for it. For the delivery rate of
    /// [`connect`](Self::connect)'s pool, turn off `test_before_acquire` (a round trip before
    /// every statement) and set `plan_cache_mode` to `force_generic_plan` on each connection.
    ///
    /// ```no_run
    /// use sqlx::postgres::PgPoolOptions;
    /// use tower_webhook::dispatch::PostgresStore;
    ///
    /// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
    /// let pool = PgPoolOptions::new()
    ///     .max_connections(32)
    ///     .connect("postgres://webhooks@db.internal/webhooks")
    ///     .await?;
    /// let store = PostgresStore::from_pool(pool).await?;
    /// # Ok(())
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// A migration fails.
    pub async fn from_pool(pool: PgPool) -> Result<Self, StoreError> {
        migrate(&pool).await.map_err(failed("migrate the schema"))?;
        Ok(Self {
            inner: Arc::new(Inner {
                pool,
                work: Arc::new(Notify::new()),
                listener: Mutex::new(None),
            }),
        })
    }

    fn pool(&self) -> &PgPool {
        &self.inner.pool
    }

    /// Starts the listener task unless it runs.
    fn ensure_listener(&self) {
        let mut listener = self
            .inner
            .listener
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let running = listener.as_ref().is_some_and(|task| !task.is_finished());
        if !running && !self.inner.pool.is_closed() {
            *listener = Some(tokio::spawn(listen(
                self.inner.pool.clone(),
                Arc::clone(&self.inner.work),
            )));
        }
    }
}

/// Wakes `work`'s waiters on every notification of [`CHANNEL`], until the pool closes.
async fn listen(pool: PgPool, work: Arc<Notify>) {
    let mut pause = Duration::from_millis(100);
    let mut first = true;
    loop {
        if pool.is_closed() {
            return;
        }
        let listener = async {
            let mut listener = PgListener::connect_with(&pool).await?;
            listener.listen(CHANNEL).await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let mut listener = match listener.await {
            Ok(listener) => listener,
            Err(sqlx::Error::PoolClosed) => return,
            Err(_) => {
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
                continue;
            }
        };
        if !first {
            // Notifications sent while nobody listened are lost: have the waiters look.
            work.notify_waiters();
        }
        first = false;
        pause = Duration::from_millis(100);
        loop {
            match listener.try_recv().await {
                Ok(Some(_)) => work.notify_waiters(),
                // The connection dropped and was made again; what came meanwhile is lost.
                Ok(None) => work.notify_waiters(),
                Err(sqlx::Error::PoolClosed) => return,
                Err(_) => break,
            }
        }
    }
}

/// Applies the scripts the database has not seen, in one transaction under an advisory lock,
/// so processes connecting at once apply each exactly once; refuses a schema newer than this
/// build's, as the SQLite store does.
async fn migrate(pool: &PgPool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(MIGRATION_LOCK)
        .execute(&mut *tx)
        .await?;
    tx.execute(
        "CREATE TABLE IF NOT EXISTS tower_webhook_migrations \
         (version INT PRIMARY KEY, applied_at BIGINT NOT NULL)",
    )
    .await?;
    let applied: Vec<i32> = sqlx::query_scalar("SELECT version FROM tower_webhook_migrations")
        .fetch_all(&mut *tx)
        .await?;
    // A newer build's schema: this build's statements would quietly miss what it added (a
    // version-2 database written by version-1 code queues deliveries no worker claims).
    let known = MIGRATIONS.last().map_or(0, |(version, _)| *version);
    if let Some(newest) = applied.iter().copied().max()
        && newest > known
    {
        return Err(sqlx::Error::Protocol(format!(
            "the database's schema is version {newest}, newer than this build knows ({known}): \
             upgrade tower-webhook"
        )));
    }
    for &(version, script) in MIGRATIONS {
        if applied.contains(&version) {
            continue;
        }
        tx.execute(script).await?;
        sqlx::query("INSERT INTO tower_webhook_migrations (version, applied_at) VALUES ($1, $2)")
            .bind(version)
            .bind(now_millis())
            .execute(&mut *tx)
            .await?;
    }
    tx.commit().await
}

fn failed(operation: &'static str) -> impl FnOnce(sqlx::Error) -> StoreError {
    move |error| StoreError::new(operation, error)
}

fn corrupt(what: &'static str) -> sqlx::Error {
    sqlx::Error::Decode(format!("{what} out of range").into())
}

fn to_u32(value: i64, what: &'static str) -> Result<u32, sqlx::Error> {
    u32::try_from(value).map_err(|_| corrupt(what))
}

macro_rules! endpoint_columns {
    () => {
        "ep.id, ep.url, ep.scheme, ep.sealed_secrets, ep.patterns, ep.enabled, \
         ep.disabled_reason, ep.name, ep.labels::text, ep.max_in_flight, ep.failures, \
         ep.failing_since, ep.created_at"
    };
}

macro_rules! event_columns {
    () => {
        "ev.id, ev.event_type, ev.payload, ev.content_type, ev.idempotency_key, ev.created_at"
    };
}
const EVENT_WIDTH: usize = 6;

macro_rules! delivery_columns {
    () => {
        "d.id, d.event_id, d.event_type, d.endpoint_id, d.status, d.attempts, d.run_attempts, \
         d.next_attempt_at, d.last_status, d.last_error, d.created_at, d.updated_at"
    };
}
const DELIVERY_WIDTH: usize = 12;

macro_rules! attempt_columns {
    () => {
        "a.delivery_id, a.number, a.started_at, a.duration_ms, a.status, a.error, \
         a.response_body"
    };
}

fn endpoint_at(row: &PgRow, at: usize) -> Result<EndpointRow, sqlx::Error> {
    let labels: String = row.try_get(at + 8)?;
    let labels: BTreeMap<String, String> =
        serde_json::from_str(&labels).map_err(|error| sqlx::Error::Decode(error.into()))?;
    Ok(EndpointRow {
        id: row.try_get(at)?,
        url: row.try_get(at + 1)?,
        scheme: row.try_get(at + 2)?,
        sealed_secrets: row.try_get(at + 3)?,
        patterns: row.try_get(at + 4)?,
        enabled: row.try_get(at + 5)?,
        disabled_reason: row.try_get(at + 6)?,
        name: row.try_get(at + 7)?,
        labels,
        max_in_flight: to_u32(row.try_get(at + 9)?, "max_in_flight")?,
        failures: to_u32(row.try_get(at + 10)?, "failures")?,
        failing_since: row.try_get(at + 11)?,
        created_at: row.try_get(at + 12)?,
    })
}

fn event_at(row: &PgRow, at: usize) -> Result<EventRow, sqlx::Error> {
    Ok(EventRow {
        id: row.try_get(at)?,
        event_type: row.try_get(at + 1)?,
        payload: row.try_get::<Vec<u8>, _>(at + 2)?.into(),
        content_type: row.try_get(at + 3)?,
        idempotency_key: row.try_get(at + 4)?,
        created_at: row.try_get(at + 5)?,
    })
}

fn delivery_at(row: &PgRow, at: usize) -> Result<DeliveryRow, sqlx::Error> {
    let status: String = row.try_get(at + 4)?;
    let last_status: Option<i32> = row.try_get(at + 8)?;
    Ok(DeliveryRow {
        id: row.try_get(at)?,
        event_id: row.try_get(at + 1)?,
        event_type: row.try_get(at + 2)?,
        endpoint_id: row.try_get(at + 3)?,
        status: status
            .parse()
            .map_err(|error| sqlx::Error::Decode(Box::new(error)))?,
        attempts: to_u32(row.try_get(at + 5)?, "attempts")?,
        run_attempts: to_u32(row.try_get(at + 6)?, "run_attempts")?,
        next_attempt_at: row.try_get(at + 7)?,
        last_status: last_status
            .map(|status| u16::try_from(status).map_err(|_| corrupt("last_status")))
            .transpose()?,
        last_error: row.try_get(at + 9)?,
        created_at: row.try_get(at + 10)?,
        updated_at: row.try_get(at + 11)?,
    })
}

fn attempt_at(row: &PgRow, at: usize) -> Result<AttemptRow, sqlx::Error> {
    let status: Option<i32> = row.try_get(at + 4)?;
    Ok(AttemptRow {
        delivery_id: row.try_get(at)?,
        number: to_u32(row.try_get(at + 1)?, "attempt number")?,
        started_at: row.try_get(at + 2)?,
        duration_ms: to_u32(row.try_get(at + 3)?, "duration_ms")?,
        status: status
            .map(|status| u16::try_from(status).map_err(|_| corrupt("attempt status")))
            .transpose()?,
        error: row.try_get(at + 5)?,
        response_body: row.try_get(at + 6)?,
    })
}

const ENQUEUE: &str = "\
WITH event AS (
    INSERT INTO tower_webhook_events
        (id, event_type, payload, content_type, idempotency_key, created_at)
    VALUES ($1, $2, $3, $4, $5, $6)
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING id
),
new AS (
    SELECT n.* FROM event, UNNEST($7::text[], $8::text[], $9::bigint[])
        WITH ORDINALITY AS n(id, endpoint_id, next_attempt_at, ord)
),
deliveries AS (
    INSERT INTO tower_webhook_deliveries
        (id, event_id, event_type, endpoint_id, status, next_attempt_at, created_at, updated_at)
    SELECT new.id, event.id, $2, new.endpoint_id, 'pending', new.next_attempt_at, $6, $6
    FROM event, new
    ORDER BY new.ord
    RETURNING id, endpoint_id, next_attempt_at, seq
),
queued AS (
    INSERT INTO tower_webhook_queue (delivery_id, endpoint_id, next_attempt_at, seq)
    SELECT id, endpoint_id, next_attempt_at, seq FROM deliveries
),
leases AS (
    INSERT INTO tower_webhook_queue_leases (delivery_id, endpoint_id, token, until)
    SELECT new.id, new.endpoint_id, $10, $11 FROM new WHERE $10::bigint IS NOT NULL
)
SELECT event.id, CASE WHEN $12 THEN pg_notify('tower_webhook_work', '')::text END
FROM event";

const FIRST_ENQUEUED: &str = "\
SELECT e.id, COALESCE(
    (SELECT array_agg(d.id ORDER BY d.seq) FROM tower_webhook_deliveries d
     WHERE d.event_id = e.id),
    '{}')
FROM tower_webhook_events e
WHERE e.idempotency_key = $1";

/// Each enabled endpoint's oldest due deliveries, as many as it has room for, locked
/// (skipping rows another claim holds); then the oldest of those, up to the limit, leased.
/// The lease's upsert sees the latest committed lease whatever this statement's snapshot:
/// a delivery another claim leased meanwhile is not taken again.
const CLAIM: &str = concat!(
    "\
WITH room AS MATERIALIZED (
    SELECT e.id, e.max_in_flight - (
        SELECT count(*) FROM tower_webhook_queue_leases l WHERE l.endpoint_id = e.id AND l.until > $1
    ) AS room
    FROM tower_webhook_endpoints e
    WHERE e.enabled
),
candidates AS (
    SELECT c.delivery_id, c.endpoint_id, c.next_attempt_at, c.seq
    FROM room r
    CROSS JOIN LATERAL (
        SELECT q.delivery_id, q.endpoint_id, q.next_attempt_at, q.seq
        FROM tower_webhook_queue q
        WHERE q.endpoint_id = r.id AND q.next_attempt_at <= $1
          AND NOT EXISTS (
              SELECT 1 FROM tower_webhook_queue_leases l
              WHERE l.delivery_id = q.delivery_id AND l.until > $1
          )
        ORDER BY q.next_attempt_at, q.seq
        LIMIT GREATEST(LEAST(r.room, $4), 0)
        FOR UPDATE OF q SKIP LOCKED
    ) c
    WHERE r.room > 0
),
chosen AS (
    SELECT delivery_id, endpoint_id FROM candidates ORDER BY next_attempt_at, seq LIMIT $4
),
leased AS (
    INSERT INTO tower_webhook_queue_leases (delivery_id, endpoint_id, token, until)
    SELECT delivery_id, endpoint_id, $2, $3 FROM chosen
    ON CONFLICT (delivery_id) DO UPDATE SET token = EXCLUDED.token, until = EXCLUDED.until
        WHERE tower_webhook_queue_leases.until <= $1
    RETURNING delivery_id
)
SELECT ",
    delivery_columns!(),
    ", ",
    event_columns!(),
    ", ",
    endpoint_columns!(),
    "
FROM leased
-- LATERAL with LIMIT 1: each claimed row is fetched by primary key, however many rows the
-- planner guesses the claim returns. A cached generic plan guesses a share of the backlog,
-- and would hash-join whole tables on every claim.
CROSS JOIN LATERAL (
    SELECT * FROM tower_webhook_deliveries WHERE id = leased.delivery_id LIMIT 1
) d
CROSS JOIN LATERAL (
    SELECT * FROM tower_webhook_events WHERE id = d.event_id LIMIT 1
) ev
JOIN tower_webhook_endpoints ep ON ep.id = d.endpoint_id
ORDER BY d.next_attempt_at, d.seq"
);

/// Inserts every attempt; updates each delivery whose lease is still the completion's (the
/// first completion of a delivery, should one come twice); then each endpoint's run of
/// failures, as applying the completions in order would leave it.
const COMPLETE: &str = "\
WITH input AS (
    SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::bigint[], $5::bigint[],
                         $6::int[], $7::text[], $8::bytea[], $9::bigint[], $10::bool[],
                         $11::text[], $12::bigint[])
        WITH ORDINALITY AS i(delivery_id, endpoint_id, number, started_at, duration_ms,
                             status, error, body, token, ok, next_status, next_at, ord)
),
attempts AS (
    INSERT INTO tower_webhook_attempts
        (delivery_id, endpoint_id, number, started_at, duration_ms, status, error, response_body)
    SELECT delivery_id, endpoint_id, number, started_at, duration_ms, status, error, body
    FROM input ORDER BY ord
),
first AS (
    SELECT DISTINCT ON (delivery_id) * FROM input ORDER BY delivery_id, ord
),
-- Each delivery's queue row first: claims, requeues and completions all lock it before its
-- lease or its delivery, so whichever comes first goes through while the other waits. A
-- claim working from an older snapshot may hold one of these queue rows while it looks at
-- its lease; were the lease deleted first, each would wait for the other until deadlock
-- detection broke in.
held AS (
    SELECT q.delivery_id FROM tower_webhook_queue q JOIN first ON first.delivery_id = q.delivery_id
    ORDER BY q.delivery_id
    FOR UPDATE OF q
),
released AS (
    DELETE FROM tower_webhook_queue_leases l USING first, held
    WHERE l.delivery_id = first.delivery_id AND l.token = first.token
      AND held.delivery_id = first.delivery_id
    RETURNING first.delivery_id, first.status, first.error, first.started_at,
              first.duration_ms, first.next_status, first.next_at
),
done AS (
    DELETE FROM tower_webhook_queue q USING released r
    WHERE q.delivery_id = r.delivery_id AND r.next_status <> 'pending'
),
retried AS (
    UPDATE tower_webhook_queue q SET next_attempt_at = r.next_at
    FROM released r
    WHERE q.delivery_id = r.delivery_id AND r.next_status = 'pending'
),
deliveries AS (
    UPDATE tower_webhook_deliveries d SET
        status = r.next_status,
        attempts = d.attempts + 1,
        run_attempts = d.run_attempts + 1,
        next_attempt_at = r.next_at,
        last_status = r.status,
        last_error = r.error,
        updated_at = r.started_at + r.duration_ms
    FROM released r
    WHERE d.id = r.delivery_id
),
runs AS (
    SELECT endpoint_id,
           max(ord) FILTER (WHERE ok) AS last_ok,
           max(ord) FILTER (WHERE NOT ok) AS last_failure
    FROM input GROUP BY endpoint_id
),
health AS (
    SELECT r.endpoint_id, r.last_ok, r.last_failure,
           count(*) FILTER (WHERE NOT i.ok AND i.ord > COALESCE(r.last_ok, 0)) AS failures,
           (array_agg(i.started_at ORDER BY i.ord)
               FILTER (WHERE NOT i.ok AND i.ord > COALESCE(r.last_ok, 0)))[1] AS since
    FROM runs r JOIN input i ON i.endpoint_id = r.endpoint_id
    GROUP BY r.endpoint_id, r.last_ok, r.last_failure
),
locked AS (
    SELECT e.id FROM tower_webhook_endpoints e JOIN health h ON h.endpoint_id = e.id
    WHERE h.failures > 0 OR e.failures <> 0 OR e.failing_since IS NOT NULL
    ORDER BY e.id
    FOR NO KEY UPDATE OF e
),
updated AS (
    UPDATE tower_webhook_endpoints e SET
        failures = CASE WHEN h.last_ok IS NULL THEN e.failures ELSE 0 END + h.failures,
        failing_since = CASE
            WHEN h.failures = 0 THEN NULL
            WHEN h.last_ok IS NULL THEN COALESCE(e.failing_since, h.since)
            ELSE h.since
        END
    FROM health h, locked l
    WHERE e.id = h.endpoint_id AND l.id = e.id
    RETURNING e.id, e.failures, e.failing_since, e.enabled, h.failures AS grew, h.last_failure
)
SELECT id, failures, failing_since, enabled FROM updated WHERE grew > 0 ORDER BY last_failure";

const RELEASE: &str = "\
WITH released AS (
    DELETE FROM tower_webhook_queue_leases WHERE delivery_id = ANY($1) AND token = $2
    RETURNING 1
),
counted AS (SELECT count(*) AS n FROM released)
SELECT n, CASE WHEN n > 0 THEN pg_notify('tower_webhook_work', '')::text END FROM counted";

/// A statement that queues again (due at `$1`) the deliveries `$target` selects, dropping
/// their leases. The queue row first, as a completion takes it: whichever of the two locks it
/// first goes through while the other waits.
macro_rules! requeue {
    ($target:literal) => {
        concat!(
            "WITH target AS (",
            $target,
            "),
queued AS (
    INSERT INTO tower_webhook_queue (delivery_id, endpoint_id, next_attempt_at, seq)
    SELECT id, endpoint_id, $1, seq FROM target
    ON CONFLICT (delivery_id) DO UPDATE SET next_attempt_at = EXCLUDED.next_attempt_at
    RETURNING delivery_id
),
unleased AS (
    DELETE FROM tower_webhook_queue_leases WHERE delivery_id IN (SELECT delivery_id FROM queued)
),
requeued AS (
    UPDATE tower_webhook_deliveries SET
        status = 'pending', run_attempts = 0, next_attempt_at = $1, updated_at = $1
    WHERE id IN (SELECT delivery_id FROM queued)
    RETURNING id
),
counted AS (SELECT count(*) AS n FROM requeued)
SELECT n, CASE WHEN n > 0 THEN pg_notify('tower_webhook_work', '')::text END FROM counted"
        )
    };
}

/// One delivery, `$2`.
const REQUEUE_ONE: &str =
    requeue!("SELECT id, endpoint_id, seq FROM tower_webhook_deliveries WHERE id = $2");

/// Endpoint `$2`'s deliveries that failed since `$3`.
const REQUEUE_FAILED: &str = requeue!(
    "SELECT id, endpoint_id, seq FROM tower_webhook_deliveries
     WHERE endpoint_id = $2 AND status = 'failed' AND updated_at >= $3"
);

const STATS_ALL: &str = "\
SELECT
    (SELECT count(*) FROM tower_webhook_queue),
    (SELECT count(*) FROM tower_webhook_deliveries WHERE status = 'succeeded'),
    (SELECT count(*) FROM tower_webhook_deliveries WHERE status = 'failed'),
    (SELECT count(*) FROM tower_webhook_attempts),
    (SELECT COALESCE(array_agg(duration_ms), '{}') FROM (
        SELECT duration_ms FROM tower_webhook_attempts WHERE status IS NOT NULL
        ORDER BY seq DESC LIMIT $1) recent)";

const STATS_ENDPOINT: &str = "\
SELECT
    (SELECT count(*) FROM tower_webhook_queue WHERE endpoint_id = $2),
    (SELECT count(*) FROM tower_webhook_deliveries WHERE endpoint_id = $2 AND status = 'succeeded'),
    (SELECT count(*) FROM tower_webhook_deliveries WHERE endpoint_id = $2 AND status = 'failed'),
    (SELECT count(*) FROM tower_webhook_attempts WHERE endpoint_id = $2),
    (SELECT COALESCE(array_agg(duration_ms), '{}') FROM (
        SELECT duration_ms FROM tower_webhook_attempts
        WHERE endpoint_id = $2 AND status IS NOT NULL
        ORDER BY seq DESC LIMIT $1) recent)";

const PENDING: &str = "\
SELECT count(*), min(GREATEST(q.next_attempt_at, l.until))
FROM tower_webhook_queue q
JOIN tower_webhook_endpoints e ON e.id = q.endpoint_id AND e.enabled
LEFT JOIN tower_webhook_queue_leases l ON l.delivery_id = q.delivery_id";

/// Runs [`CLAIM`].
async fn claim(
    executor: impl sqlx::PgExecutor<'_>,
    now: i64,
    lease: Lease,
    limit: u32,
) -> Result<Vec<Claim>, sqlx::Error> {
    if limit == 0 {
        return Ok(Vec::new());
    }
    let rows = sqlx::query(CLAIM)
        .bind(now)
        .bind(lease.token)
        .bind(lease.until)
        .bind(i64::from(limit))
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(Claim {
                delivery: delivery_at(row, 0)?,
                event: event_at(row, DELIVERY_WIDTH)?,
                endpoint: endpoint_at(row, DELIVERY_WIDTH + EVENT_WIDTH)?,
            })
        })
        .collect()
}

/// Runs [`COMPLETE`], the completions as one array per column.
async fn complete(
    executor: impl sqlx::PgExecutor<'_>,
    completions: Vec<Completion>,
) -> Result<Vec<EndpointHealth>, sqlx::Error> {
    if completions.is_empty() {
        return Ok(Vec::new());
    }
    let n = completions.len();
    let mut delivery_ids = Vec::with_capacity(n);
    let mut endpoint_ids = Vec::with_capacity(n);
    let mut numbers = Vec::with_capacity(n);
    let mut started = Vec::with_capacity(n);
    let mut durations = Vec::with_capacity(n);
    let mut statuses = Vec::with_capacity(n);
    let mut errors = Vec::with_capacity(n);
    let mut bodies = Vec::with_capacity(n);
    let mut tokens = Vec::with_capacity(n);
    let mut succeeded = Vec::with_capacity(n);
    let mut next_statuses = Vec::with_capacity(n);
    let mut next_at = Vec::with_capacity(n);
    for completion in completions {
        let attempt = completion.attempt;
        delivery_ids.push(attempt.delivery_id);
        endpoint_ids.push(completion.endpoint_id);
        numbers.push(i64::from(attempt.number));
        started.push(attempt.started_at);
        durations.push(i64::from(attempt.duration_ms));
        statuses.push(attempt.status.map(i32::from));
        errors.push(attempt.error);
        bodies.push(attempt.response_body);
        tokens.push(completion.lease.token);
        succeeded.push(completion.succeeded);
        let (status, at) = match completion.next {
            Next::Succeeded => (DeliveryStatus::Succeeded, None),
            Next::RetryAt(at) => (DeliveryStatus::Pending, Some(at)),
            Next::Failed => (DeliveryStatus::Failed, None),
        };
        next_statuses.push(status.as_str());
        next_at.push(at);
    }
    // One statement, so one transaction: every attempt, delivery and endpoint at once.
    let rows = sqlx::query(COMPLETE)
        .bind(delivery_ids)
        .bind(endpoint_ids)
        .bind(numbers)
        .bind(started)
        .bind(durations)
        .bind(statuses)
        .bind(errors)
        .bind(bodies)
        .bind(tokens)
        .bind(succeeded)
        .bind(next_statuses)
        .bind(next_at)
        .fetch_all(executor)
        .await?;
    rows.iter()
        .map(|row| {
            Ok(EndpointHealth {
                endpoint_id: row.try_get(0)?,
                failures: to_u32(row.try_get(1)?, "failures")?,
                failing_since: row.try_get(2)?,
                enabled: row.try_get(3)?,
            })
        })
        .collect()
}

fn to_u64(count: i64) -> u64 {
    u64::try_from(count).unwrap_or(0)
}

impl Store for PostgresStore {
    fn add_endpoint(&self, endpoint: EndpointRow) -> BoxFuture<'_, StoreResult<()>> {
        Box::pin(async move {
            let labels = serde_json::to_string(&endpoint.labels)
                .map_err(|error| StoreError::new("add an endpoint", error))?;
            sqlx::query(
                "INSERT INTO tower_webhook_endpoints (id, url, scheme, sealed_secrets, patterns, \
                 enabled, disabled_reason, name, labels, max_in_flight, failures, failing_since, \
                 created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::jsonb, $10, $11, $12, $13)",
            )
            .bind(&endpoint.id)
            .bind(&endpoint.url)
            .bind(&endpoint.scheme)
            .bind(&endpoint.sealed_secrets)
            .bind(&endpoint.patterns)
            .bind(endpoint.enabled)
            .bind(&endpoint.disabled_reason)
            .bind(&endpoint.name)
            .bind(labels)
            .bind(i64::from(endpoint.max_in_flight))
            .bind(i64::from(endpoint.failures))
            .bind(endpoint.failing_since)
            .bind(endpoint.created_at)
            .execute(self.pool())
            .await
            .map_err(failed("add an endpoint"))?;
            Ok(())
        })
    }

    fn endpoints(&self) -> BoxFuture<'_, StoreResult<Vec<EndpointRow>>> {
        Box::pin(async move {
            let rows = sqlx::query(concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM tower_webhook_endpoints ep ORDER BY ep.seq"
            ))
            .fetch_all(self.pool())
            .await
            .map_err(failed("list endpoints"))?;
            rows.iter()
                .map(|row| endpoint_at(row, 0))
                .collect::<Result<_, _>>()
                .map_err(failed("list endpoints"))
        })
    }

    fn endpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<EndpointRow>>> {
        Box::pin(async move {
            let row = sqlx::query(concat!(
                "SELECT ",
                endpoint_columns!(),
                " FROM tower_webhook_endpoints ep WHERE ep.id = $1"
            ))
            .bind(id)
            .fetch_optional(self.pool())
            .await
            .map_err(failed("read an endpoint"))?;
            row.map(|row| endpoint_at(&row, 0))
                .transpose()
                .map_err(failed("read an endpoint"))
        })
    }

    fn set_enabled<'a>(
        &'a self,
        id: &'a str,
        enabled: bool,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            // Enabling notifies: the endpoint's waiting deliveries are due.
            let found: Option<bool> = sqlx::query_scalar(
                "WITH changed AS (
                    UPDATE tower_webhook_endpoints SET
                        enabled = $2,
                        disabled_reason = $3,
                        failures = CASE WHEN $2 THEN 0 ELSE failures END,
                        failing_since = CASE WHEN $2 THEN NULL ELSE failing_since END
                    WHERE id = $1
                    RETURNING 1
                )
                SELECT CASE WHEN $2 THEN pg_notify('tower_webhook_work', '')::text END IS NULL
                FROM changed",
            )
            .bind(id)
            .bind(enabled)
            .bind(reason)
            .fetch_optional(self.pool())
            .await
            .map_err(failed("enable or disable an endpoint"))?;
            if found.is_some() && enabled {
                self.inner.work.notify_waiters();
            }
            Ok(found.is_some())
        })
    }

    fn set_secrets<'a>(
        &'a self,
        id: &'a str,
        sealed_secrets: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        Box::pin(async move {
            let done =
                sqlx::query("UPDATE tower_webhook_endpoints SET sealed_secrets = $2 WHERE id = $1")
                    .bind(id)
                    .bind(sealed_secrets)
                    .execute(self.pool())
                    .await
                    .map_err(failed("replace an endpoint's secrets"))?;
            Ok(done.rows_affected() > 0)
        })
    }

    fn enqueue(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> BoxFuture<'_, StoreResult<Enqueued>> {
        Box::pin(async move {
            let operation = "enqueue an event";
            let count = deliveries.len();
            let mut ids = Vec::with_capacity(count);
            let mut endpoints = Vec::with_capacity(count);
            let mut due = Vec::with_capacity(count);
            for delivery in deliveries {
                ids.push(delivery.id);
                endpoints.push(delivery.endpoint_id);
                due.push(delivery.next_attempt_at);
            }
            // Leased deliveries are being attempted at once: nobody else needs waking.
            let notify = lease.is_none() && count > 0;
            // One statement: the event and its deliveries are written together or not at all.
            let inserted = sqlx::query(ENQUEUE)
                .bind(&event.id)
                .bind(&event.event_type)
                .bind(event.payload.as_ref())
                .bind(&event.content_type)
                .bind(&event.idempotency_key)
                .bind(event.created_at)
                .bind(&ids)
                .bind(&endpoints)
                .bind(&due)
                .bind(lease.map(|lease| lease.token))
                .bind(lease.map(|lease| lease.until))
                .bind(notify)
                .fetch_optional(self.pool())
                .await
                .map_err(failed(operation))?;
            if inserted.is_some() {
                if notify {
                    self.inner.work.notify_waiters();
                }
                return Ok(Enqueued {
                    event_id: event.id,
                    delivery_ids: ids,
                    duplicate: false,
                });
            }
            // The key was taken. A concurrent enqueue with the same key waited for the
            // winner's commit, and this new statement sees what the winner wrote.
            let key = event
                .idempotency_key
                .as_deref()
                .ok_or_else(|| StoreError::new(operation, "the event was not written"))?;
            let row = sqlx::query(FIRST_ENQUEUED)
                .bind(key)
                .fetch_optional(self.pool())
                .await
                .map_err(failed(operation))?
                .ok_or_else(|| {
                    StoreError::new(operation, "the idempotency key's event was not found")
                })?;
            Ok(Enqueued {
                event_id: row.try_get(0).map_err(failed(operation))?,
                delivery_ids: row.try_get(1).map_err(failed(operation))?,
                duplicate: true,
            })
        })
    }

    fn claim(&self, now: i64, lease: Lease, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Claim>>> {
        Box::pin(async move {
            claim(self.pool(), now, lease, limit)
                .await
                .map_err(failed("claim deliveries"))
        })
    }

    fn complete(
        &self,
        completions: Vec<Completion>,
    ) -> BoxFuture<'_, StoreResult<Vec<EndpointHealth>>> {
        Box::pin(async move {
            complete(self.pool(), completions)
                .await
                .map_err(failed("record attempts"))
        })
    }

    fn release<'a>(&'a self, ids: &'a [String], lease: Lease) -> BoxFuture<'a, StoreResult<()>> {
        Box::pin(async move {
            if ids.is_empty() {
                return Ok(());
            }
            let released: i64 = sqlx::query_scalar(RELEASE)
                .bind(ids)
                .bind(lease.token)
                .fetch_one(self.pool())
                .await
                .map_err(failed("release deliveries"))?;
            if released > 0 {
                self.inner.work.notify_waiters();
            }
            Ok(())
        })
    }

    fn delivery<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DeliveryWithAttempts>>> {
        Box::pin(async move {
            let operation = "read a delivery";
            // One statement, one snapshot: the delivery agrees with its attempts.
            let rows = sqlx::query(concat!(
                "SELECT ",
                delivery_columns!(),
                ", a.seq, ",
                attempt_columns!(),
                " FROM tower_webhook_deliveries d
                  LEFT JOIN tower_webhook_attempts a ON a.delivery_id = d.id
                  WHERE d.id = $1 ORDER BY a.seq"
            ))
            .bind(id)
            .fetch_all(self.pool())
            .await
            .map_err(failed(operation))?;
            let Some(first) = rows.first() else {
                return Ok(None);
            };
            let delivery = delivery_at(first, 0).map_err(failed(operation))?;
            let mut attempts = Vec::with_capacity(rows.len());
            for row in &rows {
                let seq: Option<i64> = row.try_get(DELIVERY_WIDTH).map_err(failed(operation))?;
                if seq.is_some() {
                    attempts.push(attempt_at(row, DELIVERY_WIDTH + 1).map_err(failed(operation))?);
                }
            }
            Ok(Some((delivery, attempts)))
        })
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, StoreResult<Vec<DeliveryRow>>> {
        Box::pin(async move {
            let mut sql = String::from(concat!(
                "SELECT ",
                delivery_columns!(),
                " FROM tower_webhook_deliveries d WHERE true"
            ));
            let mut parameter = 1;
            let mut condition = |sql: &mut String, column: &str| {
                sql.push_str(&format!(" AND d.{column} = ${parameter}"));
                parameter += 1;
            };
            if filter.status.is_some() {
                condition(&mut sql, "status");
            }
            if filter.endpoint_id.is_some() {
                condition(&mut sql, "endpoint_id");
            }
            if filter.event_id.is_some() {
                condition(&mut sql, "event_id");
            }
            sql.push_str(&format!(" ORDER BY d.seq DESC LIMIT ${parameter}"));
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
                .fetch_all(self.pool())
                .await
                .map_err(failed("list deliveries"))?;
            rows.iter()
                .map(|row| delivery_at(row, 0))
                .collect::<Result<_, _>>()
                .map_err(failed("list deliveries"))
        })
    }

    fn requeue(&self, which: Requeue, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        Box::pin(async move {
            let query = match &which {
                Requeue::Delivery(id) => {
                    sqlx::query_scalar::<_, i64>(REQUEUE_ONE).bind(now).bind(id)
                }
                Requeue::FailedSince { endpoint_id, since } => sqlx::query_scalar(REQUEUE_FAILED)
                    .bind(now)
                    .bind(endpoint_id)
                    .bind(*since),
            };
            let count: i64 = query
                .fetch_one(self.pool())
                .await
                .map_err(failed("requeue deliveries"))?;
            if count > 0 {
                self.inner.work.notify_waiters();
            }
            Ok(to_u64(count))
        })
    }

    fn stats(&self, endpoint: Option<String>) -> BoxFuture<'_, StoreResult<StatsRow>> {
        Box::pin(async move {
            let query = match &endpoint {
                None => sqlx::query(STATS_ALL).bind(i64::from(RECENT_DURATIONS)),
                Some(id) => sqlx::query(STATS_ENDPOINT)
                    .bind(i64::from(RECENT_DURATIONS))
                    .bind(id),
            };
            let row = query
                .fetch_one(self.pool())
                .await
                .map_err(failed("count deliveries"))?;
            let decode = || -> Result<StatsRow, sqlx::Error> {
                let durations: Vec<i64> = row.try_get(4)?;
                Ok(StatsRow {
                    pending: to_u64(row.try_get(0)?),
                    succeeded: to_u64(row.try_get(1)?),
                    failed: to_u64(row.try_get(2)?),
                    attempts: to_u64(row.try_get(3)?),
                    recent_durations_ms: durations
                        .into_iter()
                        .map(|ms| to_u32(ms, "duration_ms"))
                        .collect::<Result<_, _>>()?,
                })
            };
            decode().map_err(failed("count deliveries"))
        })
    }

    fn pending(&self) -> BoxFuture<'_, StoreResult<Pending>> {
        Box::pin(async move {
            let row = sqlx::query(PENDING)
                .fetch_one(self.pool())
                .await
                .map_err(failed("count pending deliveries"))?;
            let count: i64 = row.try_get(0).map_err(failed("count pending deliveries"))?;
            let next_due: Option<i64> =
                row.try_get(1).map_err(failed("count pending deliveries"))?;
            Ok(Pending {
                count: to_u64(count),
                next_due,
            })
        })
    }

    /// Two when the pool has two connections or more: while one call's statements run on
    /// one connection, the next batch's run on another, and the server works on both.
    fn concurrent_calls(&self) -> usize {
        self.pool().options().get_max_connections().clamp(1, 2) as usize
    }

    fn wait_for_work(&self, timeout: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let notified = self.inner.work.notified();
            tokio::pin!(notified);
            // Registered before the listener starts, so no wake-up falls in between.
            notified.as_mut().enable();
            self.ensure_listener();
            let _ = tokio::time::timeout(timeout, notified).await;
        })
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;
    use std::sync::atomic::{AtomicU64, Ordering};

    use super::*;

    /// A database of its own for one test, on the server `DATABASE_URL` names.
    struct TestDb {
        admin: PgPool,
        name: String,
        url: String,
    }

    impl TestDb {
        async fn new() -> Option<Self> {
            let Ok(admin_url) = std::env::var("DATABASE_URL") else {
                // In CI (.ci/run starts a server) a missing database is a failure, not a skip.
                assert!(
                    std::env::var_os("CI").is_none(),
                    "CI is set but DATABASE_URL is not"
                );
                eprintln!(
                    "SKIP: postgres store tests (set DATABASE_URL, e.g. via .ci/postgres.sh)"
                );
                return None;
            };
            static COUNTER: AtomicU64 = AtomicU64::new(0);
            let mut random = [0u8; 8];
            getrandom::fill(&mut random).expect("OS randomness");
            let name = format!(
                "tw_test_{}_{}_{:016x}",
                std::process::id(),
                COUNTER.fetch_add(1, Ordering::Relaxed),
                u64::from_le_bytes(random)
            );
            let admin = PgPoolOptions::new()
                .max_connections(2)
                .connect(&admin_url)
                .await
                .expect("connect to DATABASE_URL");
            sqlx::raw_sql(&format!("CREATE DATABASE {name}"))
                .execute(&admin)
                .await
                .expect("create a test database");
            let url = with_database(&admin_url, &name);
            Some(Self { admin, name, url })
        }

        async fn store(&self) -> PostgresStore {
            PostgresStore::connect(&self.url).await.expect("connect")
        }

        async fn drop_database(self) {
            sqlx::raw_sql(&format!("DROP DATABASE {} WITH (FORCE)", self.name))
                .execute(&self.admin)
                .await
                .expect("drop the test database");
        }
    }

    /// `url` with its database replaced by `name`.
    fn with_database(url: &str, name: &str) -> String {
        let (base, query) = match url.split_once('?') {
            Some((base, query)) => (base, Some(query)),
            None => (url, None),
        };
        let host_start = base.find("://").map_or(0, |at| at + 3);
        let base = match base[host_start..].find('/') {
            Some(slash) => &base[..host_start + slash],
            None => base,
        };
        match query {
            Some(query) => format!("{base}/{name}?{query}"),
            None => format!("{base}/{name}"),
        }
    }

    fn endpoint(id: &str, max_in_flight: u32) -> EndpointRow {
        EndpointRow {
            id: id.to_owned(),
            url: format!("http://127.0.0.1:9/{id}"),
            scheme: "standard-webhooks".to_owned(),
            sealed_secrets: vec![0, 1, 2, 255],
            patterns: vec!["order.*".to_owned(), "*".to_owned()],
            enabled: true,
            disabled_reason: None,
            name: Some(format!("endpoint {id}")),
            labels: BTreeMap::from([("team".to_owned(), "payments".to_owned())]),
            max_in_flight,
            failures: 0,
            failing_since: None,
            created_at: 1_000,
        }
    }

    fn event(id: &str, key: Option<&str>) -> EventRow {
        EventRow {
            id: id.to_owned(),
            event_type: "order.paid".to_owned(),
            payload: format!(r#"{{"event":"{id}"}}"#).into(),
            content_type: "application/json".to_owned(),
            idempotency_key: key.map(str::to_owned),
            created_at: 2_000,
        }
    }

    fn to(endpoint: &str, id: &str, due: i64) -> NewDelivery {
        NewDelivery {
            id: id.to_owned(),
            endpoint_id: endpoint.to_owned(),
            next_attempt_at: due,
        }
    }

    fn completion(claim: &Claim, lease: Lease, status: u16, next: Next) -> Completion {
        Completion {
            lease,
            endpoint_id: claim.endpoint.id.clone(),
            attempt: AttemptRow {
                delivery_id: claim.delivery.id.clone(),
                number: claim.delivery.attempts + 1,
                started_at: 5_000,
                duration_ms: 12,
                status: Some(status),
                error: None,
                response_body: b"ok".to_vec(),
            },
            succeeded: (200..300).contains(&status),
            next,
        }
    }

    fn lease(token: i64, until: i64) -> Lease {
        Lease { token, until }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn migrations_apply_once_when_processes_connect_together() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let mut connecting = tokio::task::JoinSet::new();
        for _ in 0..6 {
            let url = db.url.clone();
            connecting.spawn(async move { PostgresStore::connect(&url).await });
        }
        let mut stores = Vec::new();
        while let Some(store) = connecting.join_next().await {
            stores.push(store.expect("no panic").expect("every connect succeeds"));
        }
        let versions: Vec<i32> =
            sqlx::query_scalar("SELECT version FROM tower_webhook_migrations ORDER BY version")
                .fetch_all(stores[0].pool())
                .await
                .unwrap();
        let expected: Vec<i32> = MIGRATIONS.iter().map(|(version, _)| *version).collect();
        assert_eq!(versions, expected);
        // Connecting again applies nothing and fails nothing.
        drop(db.store().await);
        drop(stores);
        db.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn upgrading_from_version_1_keeps_pending_deliveries_and_leases() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        // A version-1 database, written as that version's code wrote it.
        let old = PgPoolOptions::new()
            .max_connections(1)
            .connect(&db.url)
            .await
            .unwrap();
        sqlx::raw_sql(MIGRATIONS[0].1).execute(&old).await.unwrap();
        sqlx::raw_sql(
            "CREATE TABLE tower_webhook_migrations (version INT PRIMARY KEY, applied_at BIGINT NOT NULL);
             INSERT INTO tower_webhook_migrations VALUES (1, 0);
             INSERT INTO tower_webhook_endpoints (id, url, scheme, sealed_secrets, patterns,
                 enabled, labels, max_in_flight, failures, created_at)
             VALUES ('ep_1', 'http://127.0.0.1:9/', 'standard-webhooks', '\\x00', '{*}', true,
                 '{}', 10, 0, 1000);
             INSERT INTO tower_webhook_events (id, event_type, payload, content_type, created_at)
             VALUES ('evt_1', 'order.paid', '{}', 'application/json', 1000);
             INSERT INTO tower_webhook_deliveries (id, event_id, event_type, endpoint_id, status,
                 next_attempt_at, created_at, updated_at)
             VALUES ('msg_leased', 'evt_1', 'order.paid', 'ep_1', 'pending', 900, 900, 900),
                    ('msg_due', 'evt_1', 'order.paid', 'ep_1', 'pending', 1000, 1000, 1000),
                    ('msg_done', 'evt_1', 'order.paid', 'ep_1', 'succeeded', NULL, 800, 950);
             INSERT INTO tower_webhook_leases (delivery_id, endpoint_id, token, until)
             VALUES ('msg_leased', 'ep_1', 5, 60000);",
        )
        .execute(&old)
        .await
        .unwrap();
        old.close().await;

        let store = db.store().await;
        let pending = store.pending().await.unwrap();
        assert_eq!(pending.count, 2, "both pending deliveries are queued");
        assert_eq!(
            pending.next_due,
            Some(1_000),
            "msg_leased waits for its lease"
        );
        let claims = store.claim(2_000, lease(7, 70_000), 10).await.unwrap();
        let ids: Vec<&str> = claims.iter().map(|c| c.delivery.id.as_str()).collect();
        assert_eq!(
            ids,
            ["msg_due"],
            "the leased delivery stays with its worker"
        );
        // The worker that held the lease before the upgrade records its attempt.
        let mut held = claims[0].clone();
        held.delivery.id = "msg_leased".to_owned();
        let done = completion(&held, lease(5, 60_000), 204, Next::Succeeded);
        store.complete(vec![done]).await.unwrap();
        let (delivery, attempts) = store.delivery("msg_leased").await.unwrap().unwrap();
        assert_eq!(delivery.status, DeliveryStatus::Succeeded);
        assert_eq!(attempts.len(), 1);
        let stats = store.stats(None).await.unwrap();
        assert_eq!((stats.pending, stats.succeeded), (1, 2));
        let old_index: bool =
            sqlx::query_scalar("SELECT to_regclass('tower_webhook_deliveries_due') IS NULL")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(old_index, "version 1's index of pending deliveries is gone");
        // Version 1's statements name the leases' old table, so they fail rather than
        // queue deliveries where no claim looks.
        let old_leases: bool =
            sqlx::query_scalar("SELECT to_regclass('tower_webhook_leases') IS NULL")
                .fetch_one(store.pool())
                .await
                .unwrap();
        assert!(old_leases, "version 1's leases table is renamed");
        drop(store);
        db.drop_database().await;
    }

    #[tokio::test]
    async fn a_schema_newer_than_this_build_is_refused() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let store = db.store().await;
        sqlx::query("INSERT INTO tower_webhook_migrations (version, applied_at) VALUES (99, 0)")
            .execute(store.pool())
            .await
            .unwrap();
        drop(store);
        let error = PostgresStore::connect(&db.url)
            .await
            .unwrap_err()
            .to_string();
        assert!(
            error.contains("version 99, newer than this build knows"),
            "{error}"
        );
        db.drop_database().await;
    }

    #[tokio::test]
    async fn debug_does_not_show_the_password() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        // The throwaway server trusts loopback connections, so any password is accepted.
        let url = db
            .url
            .replacen("://postgres@", "://postgres:pw-hunter2-secret@", 1);
        let store = PostgresStore::connect(&url).await.unwrap();
        let debug = format!("{store:?}");
        assert!(debug.starts_with("PostgresStore"), "{debug}");
        assert!(!debug.contains("hunter2"), "{debug}");
        drop(store);
        db.drop_database().await;
    }

    #[tokio::test]
    async fn rows_round_trip() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let store = db.store().await;
        let mut first = endpoint("ep_1", 4);
        first
            .labels
            .insert("quote\"d".to_owned(), "ü \\ value".to_owned());
        store.add_endpoint(first.clone()).await.unwrap();
        store.add_endpoint(endpoint("ep_0", 2)).await.unwrap();
        let listed = store.endpoints().await.unwrap();
        let ids: Vec<&str> = listed.iter().map(|e| e.id.as_str()).collect();
        assert_eq!(ids, ["ep_1", "ep_0"], "oldest first");
        assert_eq!(listed[0], first);
        assert_eq!(store.endpoint("ep_1").await.unwrap(), Some(first));
        assert_eq!(store.endpoint("ep_none").await.unwrap(), None);

        let enqueued = store
            .enqueue(
                event("evt_1", None),
                vec![to("ep_1", "msg_b", 3_000), to("ep_0", "msg_a", 3_000)],
                None,
            )
            .await
            .unwrap();
        assert_eq!(enqueued.delivery_ids, ["msg_b", "msg_a"]);
        assert!(!enqueued.duplicate);
        let (row, attempts) = store.delivery("msg_b").await.unwrap().unwrap();
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!(row.event_type, "order.paid");
        assert_eq!(row.next_attempt_at, Some(3_000));
        assert!(attempts.is_empty());
        let listed = store
            .deliveries(DeliveryFilter {
                event_id: Some("evt_1".to_owned()),
                ..DeliveryFilter::default()
            })
            .await
            .unwrap();
        let ids: Vec<&str> = listed.iter().map(|d| d.id.as_str()).collect();
        assert_eq!(ids, ["msg_a", "msg_b"], "newest first");
        drop(store);
        db.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn two_stores_never_claim_the_same_delivery() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let stores = [db.store().await, db.store().await];
        let endpoints = ["ep_a", "ep_b", "ep_c", "ep_d"];
        for id in endpoints {
            stores[0].add_endpoint(endpoint(id, 10_000)).await.unwrap();
        }
        const TOTAL: usize = 1_000;
        for event_number in 0..TOTAL / endpoints.len() {
            let deliveries = endpoints
                .iter()
                .map(|ep| to(ep, &format!("msg_{event_number}_{ep}"), 100))
                .collect();
            stores[event_number % 2]
                .enqueue(
                    event(&format!("evt_{event_number}"), None),
                    deliveries,
                    None,
                )
                .await
                .unwrap();
        }
        let claimed = Arc::new(Mutex::new(Vec::new()));
        let mut claimers = tokio::task::JoinSet::new();
        for (worker, store) in (0..4).zip(stores.iter().cycle()) {
            let store = store.clone();
            let claimed = Arc::clone(&claimed);
            claimers.spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                while claimed.lock().unwrap().len() < TOTAL
                    && tokio::time::Instant::now() < deadline
                {
                    let claims = store
                        .claim(1_000, lease(worker, 1_000_000), 7)
                        .await
                        .unwrap();
                    let mut claimed = claimed.lock().unwrap();
                    claimed.extend(claims.into_iter().map(|claim| claim.delivery.id));
                }
            });
        }
        while let Some(done) = claimers.join_next().await {
            done.unwrap();
        }
        let claimed = claimed.lock().unwrap().clone();
        let unique: HashSet<&String> = claimed.iter().collect();
        assert_eq!(unique.len(), claimed.len(), "a delivery was claimed twice");
        assert_eq!(claimed.len(), TOTAL);
        assert!(
            stores[0]
                .claim(1_000, lease(9, 1_000_000), 100)
                .await
                .unwrap()
                .is_empty()
        );
        drop(stores);
        db.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn claims_and_completions_running_together_never_deadlock() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let stores = [db.store().await, db.store().await];
        stores[0]
            .add_endpoint(endpoint("ep_a", 10_000))
            .await
            .unwrap();
        const TOTAL: usize = 3_000;
        for n in 0..TOTAL {
            let deliveries = vec![to("ep_a", &format!("msg_{n}"), 100)];
            stores[0]
                .enqueue(event(&format!("evt_{n}"), None), deliveries, None)
                .await
                .unwrap();
        }
        // Each task completes what it claimed at once, so completions meet claims that began
        // before them: the case where taking leases and deliveries in opposite orders
        // deadlocked.
        let mut workers = tokio::task::JoinSet::new();
        for (worker, store) in (1..=8).zip(stores.iter().cycle()) {
            let store = store.clone();
            workers.spawn(async move {
                let held = lease(worker, 1_000_000);
                let mut done = 0;
                let mut errors = Vec::new();
                loop {
                    let claims = match store.claim(1_000, held, 32).await {
                        Ok(claims) if claims.is_empty() => break,
                        Ok(claims) => claims,
                        Err(error) => {
                            errors.push(error.to_string());
                            continue;
                        }
                    };
                    let completions = claims
                        .iter()
                        .map(|claim| completion(claim, held, 204, Next::Succeeded))
                        .collect();
                    match store.complete(completions).await {
                        Ok(_) => done += claims.len(),
                        Err(error) => errors.push(error.to_string()),
                    }
                }
                (done, errors)
            });
        }
        let mut done = 0;
        while let Some(ended) = workers.join_next().await {
            let (count, errors) = ended.unwrap();
            assert!(errors.is_empty(), "{errors:?}");
            done += count;
        }
        assert_eq!(done, TOTAL, "each delivery claimed and completed once");
        drop(stores);
        db.drop_database().await;
    }

    #[tokio::test]
    async fn claims_respect_max_in_flight_due_times_and_enabled() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let store = db.store().await;
        store.add_endpoint(endpoint("ep_cap", 3)).await.unwrap();
        store.add_endpoint(endpoint("ep_off", 5)).await.unwrap();
        assert!(
            store
                .set_enabled("ep_off", false, Some("test"))
                .await
                .unwrap()
        );
        let deliveries = (0..10)
            .map(|i| to("ep_cap", &format!("msg_{i}"), 1_000 - i))
            .chain([to("ep_off", "msg_off", 0)])
            .collect();
        store
            .enqueue(event("evt_1", None), deliveries, None)
            .await
            .unwrap();

        let first = store.claim(1_000, lease(1, 60_000), 10).await.unwrap();
        let ids: Vec<&str> = first.iter().map(|c| c.delivery.id.as_str()).collect();
        assert_eq!(
            ids,
            ["msg_9", "msg_8", "msg_7"],
            "oldest due first, three at most"
        );
        assert_eq!(first[0].endpoint.id, "ep_cap");
        assert_eq!(first[0].event.id, "evt_1");
        assert!(
            store
                .claim(1_000, lease(2, 60_000), 10)
                .await
                .unwrap()
                .is_empty(),
            "the endpoint is full"
        );
        // Not yet due: msg_0 is due at 1 000.
        let done = completion(&first[0], lease(1, 60_000), 200, Next::Succeeded);
        store.complete(vec![done]).await.unwrap();
        let next = store.claim(995, lease(2, 60_000), 10).await.unwrap();
        let ids: Vec<&str> = next.iter().map(|c| c.delivery.id.as_str()).collect();
        assert_eq!(ids, ["msg_6"], "one slot freed, and msg_6 is due at 994");
        // Expired leases neither count against the cap nor keep their deliveries.
        let later = store.claim(70_000, lease(3, 130_000), 10).await.unwrap();
        let ids: Vec<&str> = later.iter().map(|c| c.delivery.id.as_str()).collect();
        assert_eq!(ids, ["msg_8", "msg_7", "msg_6"]);
        let pending = store.pending().await.unwrap();
        assert_eq!(
            pending.count, 9,
            "the disabled endpoint's delivery is not counted"
        );
        assert_eq!(pending.next_due, Some(995), "msg_5, the oldest unleased");
        drop(store);
        db.drop_database().await;
    }

    #[tokio::test]
    async fn complete_checks_the_lease_token() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let store = db.store().await;
        store.add_endpoint(endpoint("ep_1", 8)).await.unwrap();
        store
            .enqueue(event("evt_1", None), vec![to("ep_1", "msg_1", 0)], None)
            .await
            .unwrap();
        let old = lease(1, 100);
        let stale = store.claim(0, old, 1).await.unwrap().remove(0);
        // The lease ran out; another worker took the delivery over.
        let new = lease(2, 10_000);
        let current = store.claim(200, new, 1).await.unwrap().remove(0);
        assert_eq!(current.delivery.id, "msg_1");

        let health = store
            .complete(vec![completion(&stale, old, 500, Next::RetryAt(9_000))])
            .await
            .unwrap();
        assert_eq!(health.len(), 1, "the failure still counts for the endpoint");
        let (row, attempts) = store.delivery("msg_1").await.unwrap().unwrap();
        assert_eq!(attempts.len(), 1, "the attempt is logged");
        assert_eq!(row.attempts, 0, "but the delivery is the new holder's");
        assert_eq!(row.status, DeliveryStatus::Pending);
        assert_eq!(row.last_status, None);

        store
            .complete(vec![completion(&current, new, 204, Next::Succeeded)])
            .await
            .unwrap();
        let (row, attempts) = store.delivery("msg_1").await.unwrap().unwrap();
        assert_eq!(attempts.len(), 2);
        assert_eq!(attempts[1].status, Some(204));
        assert_eq!(row.status, DeliveryStatus::Succeeded);
        assert_eq!(row.attempts, 1);
        assert_eq!(row.last_status, Some(204));
        assert_eq!(row.next_attempt_at, None);
        assert_eq!(row.updated_at, 5_012);
        // The old holder's release changes nothing either.
        store.release(&["msg_1".to_owned()], old).await.unwrap();
        assert_eq!(store.delivery("msg_1").await.unwrap().unwrap().0, row);
        drop(store);
        db.drop_database().await;
    }

    #[tokio::test]
    async fn endpoint_runs_of_failures() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let store = db.store().await;
        store.add_endpoint(endpoint("ep_1", 8)).await.unwrap();
        let deliveries = (0..4).map(|i| to("ep_1", &format!("msg_{i}"), 0)).collect();
        store
            .enqueue(event("evt_1", None), deliveries, None)
            .await
            .unwrap();
        let held = lease(1, 60_000);
        let claims = store.claim(0, held, 4).await.unwrap();
        let fail = |claim: &Claim, started_at| {
            let mut done = completion(claim, held, 503, Next::RetryAt(70_000));
            done.attempt.started_at = started_at;
            done
        };
        let health = store
            .complete(vec![fail(&claims[0], 10), fail(&claims[1], 20)])
            .await
            .unwrap();
        assert_eq!(
            health,
            [EndpointHealth {
                endpoint_id: "ep_1".to_owned(),
                failures: 2,
                failing_since: Some(10),
                enabled: true,
            }]
        );
        let health = store.complete(vec![fail(&claims[2], 30)]).await.unwrap();
        assert_eq!(health[0].failures, 3);
        assert_eq!(
            health[0].failing_since,
            Some(10),
            "the run began at the first"
        );
        let health = store
            .complete(vec![completion(&claims[3], held, 200, Next::Succeeded)])
            .await
            .unwrap();
        assert!(health.is_empty(), "a success does not grow the run");
        let endpoint = store.endpoint("ep_1").await.unwrap().unwrap();
        assert_eq!((endpoint.failures, endpoint.failing_since), (0, None));
        let stats = store.stats(None).await.unwrap();
        assert_eq!((stats.pending, stats.succeeded, stats.attempts), (3, 1, 4));
        assert_eq!(stats.recent_durations_ms, [12, 12, 12, 12]);
        drop(store);
        db.drop_database().await;
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn idempotency_keys_deduplicate_even_at_once() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let stores = [db.store().await, db.store().await];
        stores[0].add_endpoint(endpoint("ep_1", 8)).await.unwrap();
        let first = stores[0]
            .enqueue(
                event("evt_1", Some("key-1")),
                vec![to("ep_1", "msg_z", 0), to("ep_1", "msg_a", 0)],
                None,
            )
            .await
            .unwrap();
        let again = stores[1]
            .enqueue(
                event("evt_2", Some("key-1")),
                vec![to("ep_1", "msg_other", 0)],
                None,
            )
            .await
            .unwrap();
        assert!(again.duplicate);
        assert_eq!(again.event_id, "evt_1");
        assert_eq!(again.delivery_ids, ["msg_z", "msg_a"], "as first written");
        assert!(store_has_no(&stores[0], "msg_other").await);
        assert!(!first.duplicate);

        for round in 0..20 {
            let key = format!("race-{round}");
            let [a, b] = stores.clone();
            let (key_a, key_b) = (key.clone(), key.clone());
            let left = tokio::spawn(async move {
                let deliveries = vec![to("ep_1", &format!("msg_l{round}"), 0)];
                let row = event(&format!("evt_l{round}"), Some(&key_a));
                a.enqueue(row, deliveries, None).await
            });
            let right = tokio::spawn(async move {
                let deliveries = vec![to("ep_1", &format!("msg_r{round}"), 0)];
                let row = event(&format!("evt_r{round}"), Some(&key_b));
                b.enqueue(row, deliveries, None).await
            });
            let left = left.await.unwrap().unwrap();
            let right = right.await.unwrap().unwrap();
            assert_ne!(left.duplicate, right.duplicate, "exactly one wins {key}");
            assert_eq!(left.event_id, right.event_id);
            assert_eq!(left.delivery_ids, right.delivery_ids);
            let events: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM tower_webhook_events WHERE idempotency_key = $1",
            )
            .bind(&key)
            .fetch_one(stores[0].pool())
            .await
            .unwrap();
            assert_eq!(events, 1);
        }
        drop(stores);
        db.drop_database().await;
    }

    async fn store_has_no(store: &PostgresStore, delivery: &str) -> bool {
        store.delivery(delivery).await.unwrap().is_none()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn notify_wakes_another_stores_waiting_worker() {
        let Some(db) = TestDb::new().await else {
            return;
        };
        let writer = db.store().await;
        let waiter = db.store().await;
        writer.add_endpoint(endpoint("ep_1", 8)).await.unwrap();
        // Waits far longer than this test may take: only a notification ends it.
        let waiting = {
            let waiter = waiter.clone();
            tokio::spawn(async move { waiter.wait_for_work(Duration::from_secs(600)).await })
        };
        // The waiter's LISTEN starts in the background: enqueue until it hears one.
        let mut sent = 0;
        let woke = tokio::time::timeout(Duration::from_secs(60), async {
            while !waiting.is_finished() {
                writer
                    .enqueue(
                        event(&format!("evt_{sent}"), None),
                        vec![to("ep_1", &format!("msg_{sent}"), 0)],
                        None,
                    )
                    .await
                    .unwrap();
                sent += 1;
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
        assert!(woke.is_ok(), "wait_for_work was not woken by NOTIFY");
        drop((writer, waiter));
        db.drop_database().await;
    }

    /// Needs no server: nothing listens on port 1, and the refusal itself is the error, not
    /// the pool's "timed out" 30 s later.
    #[tokio::test]
    async fn connect_says_at_once_why_the_server_cannot_be_reached() {
        let error = PostgresStore::connect("postgres://webhooks:hunter2@127.0.0.1:1/webhooks")
            .await
            .unwrap_err();
        let shown = error.to_string();
        assert!(shown.contains("refused"), "{shown}");
        assert!(!shown.contains("timed out"), "{shown}");
        assert!(!shown.contains("hunter2"), "{shown}");
    }

    #[test]
    fn with_database_replaces_only_the_database() {
        assert_eq!(
            with_database("postgres://u:p@h:5/postgres?sslmode=disable", "x"),
            "postgres://u:p@h:5/x?sslmode=disable"
        );
        assert_eq!(with_database("postgres://h:5", "x"), "postgres://h:5/x");
    }
}
