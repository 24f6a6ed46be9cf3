//! The Dispatcher: endpoints in, events in, deliveries queued, attempts judged and recorded.

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::{Duration, SystemTime};

use http::HeaderValue;
use rustls::ClientConfig;

use super::StorageKey;
use super::attempt::{self, HttpClient, Outcome, Signer, Unsigned};
use super::endpoint::{AutoDisable, Endpoint, NewEndpoint, from_millis, now_millis, to_millis};
use super::error::DispatchError;
use super::event::Event;
use super::schedule::RetrySchedule;
use super::stats::Stats;
use super::store::{
    AttemptRow, Claim, Completion, DeliveryFilter, DeliveryRow, DeliveryStatus, EndpointHealth,
    EndpointRow, EventRow, Lease, NewDelivery, Next, Requeue, Store,
};
use super::worker::Worker;
use crate::scheme::{self, Scheme};
use crate::sign::DeliveryId;
use crate::{Pattern, Secret};

type Callback<T> = Arc<dyn Fn(&T) + Send + Sync>;

/// Sends events to the endpoints that subscribe to them, durably.
///
/// [`dispatch`](Self::dispatch) writes the event and one delivery per matching enabled
/// endpoint to the [`Store`] in one transaction, and returns; [`Worker`]s (in this process, in
/// a `webhook worker` beside it, on other machines for Postgres) claim due deliveries, sign each
/// attempt afresh (the same delivery id, a new timestamp), POST it, record the attempt, and
/// store when to try again. A restart loses nothing: every wait is a time in the store.
///
/// What is promised: every delivery is attempted until it succeeds, fails for good (a 4xx
/// other than 408 and 429, or the [`RetrySchedule`] ran out) or its endpoint is disabled; at
/// least once, so a receiver may see a delivery twice (a worker killed mid-attempt), always with
/// the same delivery id to deduplicate on. Not promised: order, between events or endpoints.
///
/// `Dispatcher` is cheap to clone: clones share everything.
///
/// ```no_run
/// use tower_webhook::Secret;
/// use tower_webhook::dispatch::{Dispatcher, Event, MemoryStore, NewEndpoint, StorageKey};
///
/// # async fn run() -> Result<(), tower_webhook::dispatch::DispatchError> {
/// let dispatcher = Dispatcher::builder(MemoryStore::new(), StorageKey::generate()?).build();
/// let endpoint = dispatcher
///     .add_endpoint(
///         NewEndpoint::new("http://127.0.0.1:3000/webhooks", "standard-webhooks", Secret::generate().unwrap())
///             .events(["order.*"]),
///     )
///     .await?;
/// let dispatched = dispatcher
///     .dispatch(Event::new("order.paid", r#"{"order":77}"#).idempotency_key("order-77-paid"))
///     .await?;
/// assert_eq!(dispatched.delivery_ids.len(), 1);
///
/// // Deliver in this process until told to stop.
/// let worker = dispatcher.worker().concurrency(16).spawn();
/// worker.shutdown().await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct Dispatcher {
    pub(crate) shared: Arc<Shared>,
}

pub(crate) struct Shared {
    pub(crate) store: Arc<dyn Store>,
    key: StorageKey,
    schemes: Mutex<HashMap<String, Arc<dyn Scheme>>>,
    pub(crate) schedule: RetrySchedule,
    pub(crate) attempt_timeout: Duration,
    auto_disable: AutoDisable,
    on_attempt: Vec<Callback<AttemptReport>>,
    on_outcome: Vec<Callback<AttemptReport>>,
    on_disabled: Vec<Callback<Endpoint>>,
    tls: Mutex<Option<ClientConfig>>,
    client: OnceLock<HttpClient>,
    /// Each endpoint's signer, keyed once, with the sealed bytes its secret came from: a
    /// rotation changes those bytes, and the secret is opened again.
    signers: Mutex<HashMap<String, (Vec<u8>, Signer)>>,
    /// `dispatch_sync`'s lease token (each worker has its own): completions apply only to
    /// deliveries it still holds.
    pub(crate) token: i64,
}

/// Configures a [`Dispatcher`].
#[must_use]
pub struct DispatcherBuilder {
    store: Arc<dyn Store>,
    key: StorageKey,
    schemes: HashMap<String, Arc<dyn Scheme>>,
    schedule: RetrySchedule,
    attempt_timeout: Duration,
    auto_disable: AutoDisable,
    on_attempt: Vec<Callback<AttemptReport>>,
    on_outcome: Vec<Callback<AttemptReport>>,
    on_disabled: Vec<Callback<Endpoint>>,
    tls: Option<ClientConfig>,
}

impl DispatcherBuilder {
    /// The waits between attempts (default [`RetrySchedule::default`]).
    pub fn retry_schedule(mut self, schedule: RetrySchedule) -> Self {
        self.schedule = schedule;
        self
    }

    /// How long one attempt may take, from connecting to the end of the answer's first few
    /// KiB (default 30 s). A timed-out attempt is retried.
    pub fn attempt_timeout(mut self, timeout: Duration) -> Self {
        self.attempt_timeout = timeout;
        self
    }

    /// When endpoints that keep failing are disabled (default [`AutoDisable::default`]).
    pub fn auto_disable(mut self, rule: AutoDisable) -> Self {
        self.auto_disable = rule;
        self
    }

    /// Registers a scheme under `name`, for endpoints whose scheme is not a preset (or to
    /// sign a preset's name differently).
    pub fn scheme(mut self, name: impl Into<String>, scheme: impl Scheme) -> Self {
        self.schemes.insert(name.into(), Arc::new(scheme));
        self
    }

    /// Called after every attempt is recorded (the Go package's `DeliveryCallback`).
    pub fn on_attempt(mut self, callback: impl Fn(&AttemptReport) + Send + Sync + 'static) -> Self {
        self.on_attempt.push(Arc::new(callback));
        self
    }

    /// Called once a delivery's outcome is final: it succeeded or failed for good.
    pub fn on_outcome(mut self, callback: impl Fn(&AttemptReport) + Send + Sync + 'static) -> Self {
        self.on_outcome.push(Arc::new(callback));
        self
    }

    /// Called when an endpoint is disabled for failing (see [`AutoDisable`]).
    pub fn on_endpoint_disabled(
        mut self,
        callback: impl Fn(&Endpoint) + Send + Sync + 'static,
    ) -> Self {
        self.on_disabled.push(Arc::new(callback));
        self
    }

    /// The TLS configuration for https:// endpoints (default: rustls on ring, trusting the
    /// system's roots).
    pub fn tls_config(mut self, config: ClientConfig) -> Self {
        self.tls = Some(config);
        self
    }

    /// The Dispatcher.
    pub fn build(self) -> Dispatcher {
        let token = new_token();
        Dispatcher {
            shared: Arc::new(Shared {
                store: self.store,
                key: self.key,
                schemes: Mutex::new(self.schemes),
                schedule: self.schedule,
                attempt_timeout: self.attempt_timeout,
                auto_disable: self.auto_disable,
                on_attempt: self.on_attempt,
                on_outcome: self.on_outcome,
                on_disabled: self.on_disabled,
                tls: Mutex::new(self.tls),
                client: OnceLock::new(),
                signers: Mutex::new(HashMap::new()),
                token,
            }),
        }
    }
}

impl fmt::Debug for DispatcherBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DispatcherBuilder")
            .field("store", &self.store)
            .field("schedule", &self.schedule)
            .field("attempt_timeout", &self.attempt_timeout)
            .field("auto_disable", &self.auto_disable)
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Dispatcher {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Dispatcher")
            .field("store", &self.shared.store)
            .field("schedule", &self.shared.schedule)
            .field("attempt_timeout", &self.shared.attempt_timeout)
            .field("auto_disable", &self.shared.auto_disable)
            .finish_non_exhaustive()
    }
}

/// What [`Dispatcher::dispatch`] queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Dispatched {
    /// The event's id.
    pub event_id: String,
    /// One delivery per endpoint that subscribes to the event's type (none when no enabled
    /// endpoint does).
    pub delivery_ids: Vec<String>,
    /// The idempotency key was seen before: nothing new was queued, and these are the first
    /// event's ids.
    pub duplicate: bool,
}

/// One attempt, as the callbacks and [`Dispatcher::dispatch_sync`] report it.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct AttemptReport {
    /// The delivery (its id is the `webhook-id` the receiver saw).
    pub delivery_id: String,
    /// The event.
    pub event_id: String,
    /// The event's type.
    pub event_type: String,
    /// The endpoint.
    pub endpoint_id: String,
    /// The endpoint's URL.
    pub url: String,
    /// 1 for the first attempt.
    pub attempt: u32,
    /// When it started.
    pub started_at: SystemTime,
    /// How long it took.
    pub duration: Duration,
    /// The answer's status, if one came.
    pub status: Option<u16>,
    /// What went wrong without an answer.
    pub error: Option<String>,
    /// What happens next.
    pub next: Next,
}

impl AttemptReport {
    /// Whether the delivery's outcome is final (it succeeded or failed for good).
    pub fn is_final(&self) -> bool {
        !matches!(self.next, Next::RetryAt(_))
    }

    /// When the next attempt is due, if there is one.
    pub fn retry_at(&self) -> Option<SystemTime> {
        match self.next {
            Next::RetryAt(at) => Some(from_millis(at)),
            Next::Succeeded | Next::Failed => None,
        }
    }

    fn new(claim: &Claim, attempt: &AttemptRow, next: Next) -> Self {
        Self {
            delivery_id: claim.delivery.id.clone(),
            event_id: claim.event.id.clone(),
            event_type: claim.event.event_type.clone(),
            endpoint_id: claim.endpoint.id.clone(),
            url: claim.endpoint.url.clone(),
            attempt: attempt.number,
            started_at: from_millis(attempt.started_at),
            duration: Duration::from_millis(attempt.duration_ms.into()),
            status: attempt.status,
            error: attempt.error.clone(),
            next,
        }
    }
}

/// A delivery with its attempts, oldest first.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeliveryLog {
    /// The delivery.
    pub delivery: DeliveryRow,
    /// Its attempts.
    pub attempts: Vec<AttemptRow>,
}

/// An attempt made, waiting to be recorded.
pub(crate) struct Finished {
    pub(crate) claim: Claim,
    pub(crate) lease: Lease,
    pub(crate) outcome: Outcome,
}

impl Dispatcher {
    /// A Dispatcher over `store`, sealing secrets with `key`.
    pub fn builder(store: impl Store, key: StorageKey) -> DispatcherBuilder {
        Self::builder_shared(Arc::new(store), key)
    }

    /// A Dispatcher over a store shared with others (another Dispatcher, your own queries).
    pub fn builder_shared(store: Arc<dyn Store>, key: StorageKey) -> DispatcherBuilder {
        DispatcherBuilder {
            store,
            key,
            schemes: HashMap::new(),
            schedule: RetrySchedule::default(),
            attempt_timeout: Duration::from_secs(30),
            auto_disable: AutoDisable::default(),
            on_attempt: Vec::new(),
            on_outcome: Vec::new(),
            on_disabled: Vec::new(),
            tls: None,
        }
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// A worker that delivers for this Dispatcher.
    pub fn worker(&self) -> Worker {
        Worker::new(self.clone())
    }

    /// Adds an endpoint, after checking that its URL is http(s), its scheme is known, every
    /// secret can sign with it, and its event patterns are valid.
    ///
    /// # Errors
    ///
    /// The first problem found, naming secrets by position only; or the store's error.
    pub async fn add_endpoint(&self, endpoint: NewEndpoint) -> Result<Endpoint, DispatchError> {
        let valid = url::Url::parse(&endpoint.url)
            .is_ok_and(|url| matches!(url.scheme(), "http" | "https") && url.has_host());
        if !valid {
            return Err(DispatchError::InvalidUrl { url: endpoint.url });
        }
        self.check_secrets(&endpoint.scheme, &endpoint.secrets)?;
        let mut patterns = Vec::new();
        for pattern in &endpoint.patterns {
            patterns.push(Pattern::new(pattern)?.as_str().to_owned());
        }
        if patterns.is_empty() {
            patterns.push("*".to_owned());
        }
        let id = random_id("ep_")?;
        let row = EndpointRow {
            sealed_secrets: self.shared.key.seal(&id, &endpoint.secrets)?,
            id,
            url: endpoint.url,
            scheme: endpoint.scheme,
            patterns,
            enabled: endpoint.enabled,
            disabled_reason: None,
            name: endpoint.name,
            labels: endpoint.labels,
            max_in_flight: endpoint.max_in_flight,
            failures: 0,
            failing_since: None,
            created_at: now_millis(),
        };
        self.shared.store.add_endpoint(row.clone()).await?;
        Ok(Endpoint::from_row(row))
    }

    /// Every endpoint, oldest first.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn endpoints(&self) -> Result<Vec<Endpoint>, DispatchError> {
        let rows = self.shared.store.endpoints().await?;
        Ok(rows.into_iter().map(Endpoint::from_row).collect())
    }

    /// One endpoint.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn endpoint(&self, id: &str) -> Result<Option<Endpoint>, DispatchError> {
        Ok(self
            .shared
            .store
            .endpoint(id)
            .await?
            .map(Endpoint::from_row))
    }

    /// Enables an endpoint (clearing its run of failures): its waiting deliveries go out.
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoSuchEndpoint`], or the store's.
    pub async fn enable(&self, id: &str) -> Result<(), DispatchError> {
        self.set_enabled(id, true, None).await
    }

    /// Disables an endpoint: it receives nothing, and its deliveries wait, until enabled.
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoSuchEndpoint`], or the store's.
    pub async fn disable(&self, id: &str) -> Result<(), DispatchError> {
        self.set_enabled(id, false, Some("disabled by request"))
            .await
    }

    async fn set_enabled(
        &self,
        id: &str,
        on: bool,
        why: Option<&str>,
    ) -> Result<(), DispatchError> {
        match self.shared.store.set_enabled(id, on, why).await? {
            true => Ok(()),
            false => Err(DispatchError::NoSuchEndpoint(id.to_owned())),
        }
    }

    /// Replaces an endpoint's secrets (a rotation): the first signs from the next attempt on.
    ///
    /// # Errors
    ///
    /// As [`add_endpoint`](Self::add_endpoint) for the secrets;
    /// [`DispatchError::NoSuchEndpoint`]; the store's.
    pub async fn rotate_secrets(
        &self,
        id: &str,
        secrets: impl IntoIterator<Item = Secret>,
    ) -> Result<(), DispatchError> {
        let endpoint = self
            .shared
            .store
            .endpoint(id)
            .await?
            .ok_or_else(|| DispatchError::NoSuchEndpoint(id.to_owned()))?;
        let secrets: Vec<Secret> = secrets.into_iter().collect();
        self.check_secrets(&endpoint.scheme, &secrets)?;
        let sealed = self.shared.key.seal(id, &secrets)?;
        match self.shared.store.set_secrets(id, &sealed).await? {
            true => Ok(()),
            false => Err(DispatchError::NoSuchEndpoint(id.to_owned())),
        }
    }

    /// Queues `event` for every enabled endpoint that subscribes to its type, in one
    /// transaction, and returns the ids. Workers deliver it.
    ///
    /// # Errors
    ///
    /// [`DispatchError::InvalidEventType`], or the store's (then nothing was queued).
    pub async fn dispatch(&self, event: Event) -> Result<Dispatched, DispatchError> {
        let (row, deliveries, _) = self.plan(event).await?;
        let enqueued = self.shared.store.enqueue(row, deliveries, None).await?;
        Ok(Dispatched {
            event_id: enqueued.event_id,
            delivery_ids: enqueued.delivery_ids,
            duplicate: enqueued.duplicate,
        })
    }

    /// Queues `event` as [`dispatch`](Self::dispatch) does, then makes each delivery's first
    /// attempt now and returns their reports. Deliveries that failed but may be retried stay
    /// queued for the workers.
    ///
    /// For a duplicate idempotency key nothing is attempted and no report comes back.
    ///
    /// # Errors
    ///
    /// As [`dispatch`](Self::dispatch), and the store's error when recording the attempts.
    pub async fn dispatch_sync(
        &self,
        event: Event,
    ) -> Result<(Dispatched, Vec<AttemptReport>), DispatchError> {
        let (row, deliveries, endpoints) = self.plan(event).await?;
        let now = now_millis();
        let lease = Lease {
            token: self.shared.token,
            until: now.saturating_add(lease_for(self.shared.attempt_timeout)),
        };
        let enqueued = self
            .shared
            .store
            .enqueue(row.clone(), deliveries.clone(), Some(lease))
            .await?;
        let dispatched = Dispatched {
            event_id: enqueued.event_id,
            delivery_ids: enqueued.delivery_ids,
            duplicate: enqueued.duplicate,
        };
        if dispatched.duplicate {
            return Ok((dispatched, Vec::new()));
        }
        let mut attempts = tokio::task::JoinSet::new();
        for (delivery, endpoint) in deliveries.into_iter().zip(endpoints) {
            let claim = Claim {
                delivery: DeliveryRow {
                    id: delivery.id,
                    event_id: row.id.clone(),
                    event_type: row.event_type.clone(),
                    endpoint_id: endpoint.id.clone(),
                    status: DeliveryStatus::Pending,
                    attempts: 0,
                    run_attempts: 0,
                    next_attempt_at: Some(delivery.next_attempt_at),
                    last_status: None,
                    last_error: None,
                    created_at: row.created_at,
                    updated_at: row.created_at,
                },
                event: row.clone(),
                endpoint,
            };
            let dispatcher = self.clone();
            attempts.spawn(async move {
                let outcome = dispatcher.attempt(&claim).await;
                Finished {
                    claim,
                    lease,
                    outcome,
                }
            });
        }
        let mut finished = Vec::new();
        while let Some(done) = attempts.join_next().await {
            finished.push(done.expect("an attempt does not panic"));
        }
        let reports = self.record(&finished).await?;
        Ok((dispatched, reports))
    }

    /// The event row and one delivery per matching enabled endpoint.
    async fn plan(
        &self,
        event: Event,
    ) -> Result<(EventRow, Vec<NewDelivery>, Vec<EndpointRow>), DispatchError> {
        if event.event_type.is_empty() || HeaderValue::from_str(&event.event_type).is_err() {
            return Err(DispatchError::InvalidEventType(event.event_type));
        }
        let now = now_millis();
        let endpoints: Vec<EndpointRow> = self
            .shared
            .store
            .endpoints()
            .await?
            .into_iter()
            .filter(|endpoint| endpoint.enabled)
            .filter(|endpoint| {
                endpoint
                    .patterns
                    .iter()
                    .filter_map(|pattern| Pattern::new(pattern).ok())
                    .any(|pattern| pattern.matches(&event.event_type))
            })
            .collect();
        let mut deliveries = Vec::with_capacity(endpoints.len());
        for endpoint in &endpoints {
            deliveries.push(NewDelivery {
                id: ordered_id("msg_", now)?,
                endpoint_id: endpoint.id.clone(),
                next_attempt_at: now,
            });
        }
        let row = EventRow {
            id: ordered_id("evt_", now)?,
            event_type: event.event_type,
            payload: event.payload,
            content_type: event.content_type,
            idempotency_key: event.idempotency_key,
            created_at: now,
        };
        Ok((row, deliveries, endpoints))
    }

    /// One delivery with its attempts.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn delivery(&self, id: &str) -> Result<Option<DeliveryLog>, DispatchError> {
        let found = self.shared.store.delivery(id).await?;
        Ok(found.map(|(delivery, attempts)| DeliveryLog { delivery, attempts }))
    }

    /// Deliveries, newest first.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn deliveries(
        &self,
        filter: DeliveryFilter,
    ) -> Result<Vec<DeliveryRow>, DispatchError> {
        Ok(self.shared.store.deliveries(filter).await?)
    }

    /// Counts, success rate, attempts per delivery and latency percentiles, for one endpoint
    /// or all.
    ///
    /// # Errors
    ///
    /// The store's.
    pub async fn stats(&self, endpoint: Option<&str>) -> Result<Stats, DispatchError> {
        let row = self.shared.store.stats(endpoint.map(str::to_owned)).await?;
        Ok(Stats::from_row(row))
    }

    /// Sends one delivery again, whatever its status, with a new run of the retry schedule
    /// and the same delivery id. A pending delivery is made due now; if a worker is sending
    /// it at that moment, it may be sent twice (same id).
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoSuchDelivery`], or the store's.
    pub async fn resend(&self, delivery_id: &str) -> Result<(), DispatchError> {
        let which = Requeue::Delivery(delivery_id.to_owned());
        match self.shared.store.requeue(which, now_millis()).await? {
            0 => Err(DispatchError::NoSuchDelivery(delivery_id.to_owned())),
            _ => Ok(()),
        }
    }

    /// Queues again every delivery to `endpoint` that failed for good at or after `since`
    /// (after fixing the receiver, say). Returns how many.
    ///
    /// # Errors
    ///
    /// [`DispatchError::NoSuchEndpoint`], or the store's.
    pub async fn recover(&self, endpoint: &str, since: SystemTime) -> Result<u64, DispatchError> {
        if self.shared.store.endpoint(endpoint).await?.is_none() {
            return Err(DispatchError::NoSuchEndpoint(endpoint.to_owned()));
        }
        let which = Requeue::FailedSince {
            endpoint_id: endpoint.to_owned(),
            since: to_millis(since),
        };
        Ok(self.shared.store.requeue(which, now_millis()).await?)
    }

    /// The scheme is known, and there is a secret and each can sign with it (named by
    /// position only).
    fn check_secrets(&self, scheme_name: &str, secrets: &[Secret]) -> Result<(), DispatchError> {
        let scheme = self.scheme(scheme_name)?;
        if secrets.is_empty() {
            return Err(DispatchError::NoSecret);
        }
        for (index, secret) in secrets.iter().enumerate() {
            scheme
                .signing_key(secret)
                .map_err(|error| DispatchError::InvalidSecret {
                    scheme: scheme_name.to_owned(),
                    index,
                    reason: error.to_string(),
                })?;
        }
        Ok(())
    }

    pub(crate) fn scheme(&self, name: &str) -> Result<Arc<dyn Scheme>, DispatchError> {
        let mut schemes = self
            .shared
            .schemes
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(scheme) = schemes.get(name) {
            return Ok(Arc::clone(scheme));
        }
        let preset =
            scheme::preset(name).ok_or_else(|| DispatchError::UnknownScheme(name.to_owned()))?;
        schemes.insert(name.to_owned(), Arc::clone(&preset));
        Ok(preset)
    }

    fn client(&self) -> &HttpClient {
        self.shared.client.get_or_init(|| {
            let config = self
                .shared
                .tls
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .take();
            attempt::client(config)
        })
    }

    /// Makes one attempt of a claimed delivery.
    pub(crate) async fn attempt(&self, claim: &Claim) -> Outcome {
        let signer = self.signer(&claim.endpoint);
        let timeout = self.shared.attempt_timeout;
        attempt::attempt(
            self.client(),
            signer.as_ref().map_err(Clone::clone),
            claim,
            timeout,
        )
        .await
    }

    /// What signs for `endpoint`: its scheme and first secret, keyed on first use and kept
    /// until the endpoint's sealed secrets change.
    fn signer(&self, endpoint: &EndpointRow) -> Result<Signer, Unsigned> {
        let mut signers = self
            .shared
            .signers
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some((sealed, signer)) = signers.get(&endpoint.id)
            && *sealed == endpoint.sealed_secrets
        {
            return Ok(signer.clone());
        }
        // Another process may know a scheme this one does not, or be given the right storage
        // key: those are retried. A secret that cannot sign never will.
        let retry = |reason: String| Unsigned {
            reason,
            permanent: false,
        };
        let never = |reason: String| Unsigned {
            reason,
            permanent: true,
        };
        let scheme = self
            .scheme(&endpoint.scheme)
            .map_err(|error| retry(error.to_string()))?;
        let secrets = self
            .shared
            .key
            .open(&endpoint.id, &endpoint.sealed_secrets)
            .map_err(|error| retry(error.to_string()))?;
        let first = secrets
            .first()
            .ok_or_else(|| never("the endpoint has no secret".into()))?;
        scheme::body_position(&*scheme).map_err(|error| never(format!("not signed: {error}")))?;
        let key = scheme
            .signing_key(first)
            .map_err(|error| never(format!("not signed: {error}")))?;
        let signer = Signer { scheme, key };
        signers.insert(
            endpoint.id.clone(),
            (endpoint.sealed_secrets.clone(), signer.clone()),
        );
        Ok(signer)
    }

    /// What follows an attempt: done, a retry at a stored time, or failed for good.
    fn next(&self, claim: &Claim, outcome: &Outcome) -> Next {
        if outcome.succeeded() {
            return Next::Succeeded;
        }
        if !outcome.retryable() {
            return Next::Failed;
        }
        let made = claim.delivery.run_attempts + 1;
        match self.shared.schedule.wait_after(made, outcome.retry_after) {
            Some(wait) => {
                let wait = i64::try_from(wait.as_millis()).unwrap_or(i64::MAX);
                Next::RetryAt(now_millis().saturating_add(wait))
            }
            None => Next::Failed,
        }
    }

    /// Records finished attempts in one write, disables endpoints that trip the rule, then
    /// runs the callbacks.
    pub(crate) async fn record(
        &self,
        finished: &[Finished],
    ) -> Result<Vec<AttemptReport>, DispatchError> {
        let nexts = self.nexts(finished);
        let health = self
            .shared
            .store
            .complete(completions(finished, &nexts))
            .await?;
        self.recorded(finished, &nexts, health).await;
        Ok(finished
            .iter()
            .zip(&nexts)
            .map(|(done, &next)| AttemptReport::new(&done.claim, &done.outcome.attempt, next))
            .collect())
    }

    /// As [`record`](Self::record), and claims up to `limit` more in the same write (a
    /// worker's round trip). Returns what follows each finished attempt, and the claims.
    pub(crate) async fn record_and_claim(
        &self,
        finished: &[Finished],
        now: i64,
        lease: Lease,
        limit: u32,
    ) -> Result<(Vec<Next>, Vec<Claim>), DispatchError> {
        let nexts = self.nexts(finished);
        let (health, mut claims) = self
            .shared
            .store
            .complete_and_claim(completions(finished, &nexts), now, lease, limit)
            .await?;
        let disabled = self.recorded(finished, &nexts, health).await;
        if !disabled.is_empty() {
            // Claimed in the same call, before the rule tripped: not sent, given back.
            let (given_back, kept): (Vec<Claim>, Vec<Claim>) = claims
                .into_iter()
                .partition(|claim| disabled.contains(&claim.endpoint.id));
            claims = kept;
            let ids: Vec<String> = given_back.into_iter().map(|c| c.delivery.id).collect();
            // If this fails, the leases run out: the endpoint is disabled by then.
            let _ = self.shared.store.release(&ids, lease).await;
        }
        Ok((nexts, claims))
    }

    fn nexts(&self, finished: &[Finished]) -> Vec<Next> {
        finished
            .iter()
            .map(|done| self.next(&done.claim, &done.outcome))
            .collect()
    }

    /// Once attempts are recorded: disables the endpoints whose run of failures trips the
    /// rule, then runs the callbacks. Returns the endpoints it disabled.
    async fn recorded(
        &self,
        finished: &[Finished],
        nexts: &[Next],
        health: Vec<EndpointHealth>,
    ) -> Vec<String> {
        let mut disabled_now = Vec::new();
        let now = now_millis();
        for endpoint in health {
            if endpoint.enabled
                && self
                    .shared
                    .auto_disable
                    .trips(endpoint.failures, endpoint.failing_since, now)
            {
                let reason = format!(
                    "disabled after {} failed attempts in a row",
                    endpoint.failures
                );
                // The attempts are recorded: a failure from here on must not make the caller
                // record them again. The next failed attempt tries to disable it again.
                let disabled = self
                    .shared
                    .store
                    .set_enabled(&endpoint.endpoint_id, false, Some(&reason))
                    .await;
                if disabled.is_err() {
                    continue;
                }
                disabled_now.push(endpoint.endpoint_id.clone());
                if let Ok(Some(row)) = self.shared.store.endpoint(&endpoint.endpoint_id).await {
                    let endpoint = Endpoint::from_row(row);
                    for callback in &self.shared.on_disabled {
                        callback(&endpoint);
                    }
                }
            }
        }
        if self.shared.on_attempt.is_empty() && self.shared.on_outcome.is_empty() {
            return disabled_now;
        }
        for (done, &next) in finished.iter().zip(nexts) {
            let report = AttemptReport::new(&done.claim, &done.outcome.attempt, next);
            for callback in &self.shared.on_attempt {
                callback(&report);
            }
            if report.is_final() {
                for callback in &self.shared.on_outcome {
                    callback(&report);
                }
            }
        }
        disabled_now
    }
}

/// The store's record of each finished attempt and what follows it.
fn completions(finished: &[Finished], nexts: &[Next]) -> Vec<Completion> {
    finished
        .iter()
        .zip(nexts)
        .map(|(done, &next)| Completion {
            lease: done.lease,
            endpoint_id: done.claim.endpoint.id.clone(),
            succeeded: done.outcome.succeeded(),
            attempt: done.outcome.attempt.clone(),
            next,
        })
        .collect()
}

/// A random lease token, never 0 (a poor sentinel in a database dump).
pub(crate) fn new_token() -> i64 {
    loop {
        let token = getrandom::u64().map_or_else(|_| now_millis(), |t| t as i64);
        if token != 0 {
            return token;
        }
    }
}

/// A lease outlasts the attempt it covers, with room to record it.
pub(crate) fn lease_for(attempt_timeout: Duration) -> i64 {
    let lease = attempt_timeout
        .saturating_mul(2)
        .saturating_add(Duration::from_secs(30));
    i64::try_from(lease.as_millis()).unwrap_or(i64::MAX)
}

/// The dispatch time in milliseconds (12 hex digits), then [`random_id`]'s random part: ids
/// made together sort together, so a batch of claims or completions touches few pages of each
/// index keyed on them, where random ids would touch one page per row (Svix's KSUIDs are
/// time-ordered too).
fn ordered_id(prefix: &str, now_ms: i64) -> Result<String, DispatchError> {
    let millis = u64::try_from(now_ms).unwrap_or(0);
    random_id(&format!("{prefix}{millis:012x}"))
}

/// `prefix`, then the random part of a [`DeliveryId`] (22 base64url characters).
fn random_id(prefix: &str) -> Result<String, DispatchError> {
    let id = DeliveryId::generate().map_err(|_| DispatchError::Randomness)?;
    Ok(format!("{prefix}{}", &id.as_str()["msg_".len()..]))
}

#[cfg(test)]
mod tests {
    use super::ordered_id;

    #[test]
    fn ordered_ids_sort_by_time_and_differ_within_a_millisecond() {
        let earlier = ordered_id("msg_", 1_764_800_000_000).unwrap();
        let later = ordered_id("msg_", 1_764_800_000_001).unwrap();
        let twin = ordered_id("msg_", 1_764_800_000_001).unwrap();
        assert!(earlier < later, "{earlier} < {later}");
        assert_ne!(later, twin, "random bits tell ids of one millisecond apart");
        assert!(later.starts_with("msg_019ae646f001"), "{later}");
        // Header-safe: a receiver gets it as webhook-id / X-Webhook-ID.
        assert!(
            later
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        );
        // A clock before 1970 does not make a malformed id.
        assert!(
            ordered_id("evt_", -5)
                .unwrap()
                .starts_with("evt_000000000000")
        );
    }
}
