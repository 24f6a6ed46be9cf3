//! A store in memory: for tests and examples. Everything is lost when the process ends.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use tokio::sync::Notify;

use super::{
    AttemptRow, BoxFuture, Claim, Completion, DeliveryFilter, DeliveryRow, DeliveryStatus,
    DeliveryWithAttempts, EndpointHealth, EndpointRow, Enqueued, EventRow, Lease, NewDelivery,
    Next, Pending, RECENT_DURATIONS, Requeue, StatsRow, Store, StoreResult,
};

/// A [`Store`] in memory. **Not durable**: a restart loses every endpoint and delivery.
///
/// For tests, examples, and the [`Dispatcher`](crate::dispatch::Dispatcher)'s own benchmarks.
///
/// ```
/// use tower_webhook::dispatch::{Dispatcher, MemoryStore, StorageKey};
///
/// let dispatcher = Dispatcher::builder(MemoryStore::new(), StorageKey::generate()?).build();
/// # Ok::<(), tower_webhook::dispatch::DispatchError>(())
/// ```
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    work: Notify,
}

#[derive(Debug, Default)]
struct State {
    endpoints: Vec<EndpointRow>,
    events: HashMap<String, EventRow>,
    event_deliveries: HashMap<String, Vec<String>>,
    idempotency: HashMap<String, String>,
    deliveries: HashMap<String, Delivery>,
    /// Pending deliveries with a due time and no live lease, by (due time, creation order):
    /// the claim order. A claim takes from the front, without walking past leased ones.
    /// Keyed by numbers, so taking a delivery out needs no copy of its id.
    due: BTreeMap<(i64, u64), String>,
    attempts: HashMap<String, Vec<AttemptRow>>,
    /// Live leases by (end, creation order). One that ends goes back to `due` at the next
    /// claim.
    leases: BTreeMap<(i64, u64), String>,
    /// Live leases per endpoint, against its `max_in_flight`.
    busy: HashMap<String, u32>,
    order: u64,
    attempt_count: u64,
    recent_durations: std::collections::VecDeque<u32>,
}

#[derive(Debug, Clone)]
struct Delivery {
    row: DeliveryRow,
    order: u64,
    lease: Option<Lease>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every change below is made whole before the lock is released, so a panic elsewhere
        // cannot leave half of one behind.
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

impl State {
    fn endpoint_mut(&mut self, id: &str) -> Option<&mut EndpointRow> {
        self.endpoints.iter_mut().find(|endpoint| endpoint.id == id)
    }

    /// Gives a delivery `lease` (live until it ends), or ends its lease (`None`).
    fn set_lease(&mut self, id: &str, lease: Option<Lease>) {
        let Some(delivery) = self.deliveries.get_mut(id) else {
            return;
        };
        let order = delivery.order;
        let due = delivery.row.next_attempt_at;
        if let Some(old) = std::mem::replace(&mut delivery.lease, lease)
            && self.leases.remove(&(old.until, order)).is_some()
        {
            release_busy(&mut self.busy, &delivery.row.endpoint_id);
        }
        match lease {
            Some(new) => {
                // The id leaves the claim order for the leases: the same string, moved.
                let held = due
                    .and_then(|due| self.due.remove(&(due, order)))
                    .unwrap_or_else(|| id.to_owned());
                self.leases.insert((new.until, order), held);
                match self.busy.get_mut(&delivery.row.endpoint_id) {
                    Some(busy) => *busy += 1,
                    None => {
                        self.busy.insert(delivery.row.endpoint_id.clone(), 1);
                    }
                }
            }
            None => {
                if let Some(due) = due {
                    self.due.insert((due, order), id.to_owned());
                }
            }
        }
    }

    /// Sets a delivery's due time, and its place in the claim order unless a live lease
    /// holds it.
    fn set_due(&mut self, id: &str, due: Option<i64>) {
        let Some(delivery) = self.deliveries.get_mut(id) else {
            return;
        };
        if let Some(old) = delivery.row.next_attempt_at {
            self.due.remove(&(old, delivery.order));
        }
        delivery.row.next_attempt_at = due;
        let live = delivery
            .lease
            .is_some_and(|lease| self.leases.contains_key(&(lease.until, delivery.order)));
        if let Some(new) = due
            && !live
        {
            self.due.insert((new, delivery.order), id.to_owned());
        }
    }

    /// Leases that ended by `now` no longer count, and their deliveries may be claimed again.
    fn expire_leases(&mut self, now: i64) {
        while let Some((&(until, order), _)) = self.leases.first_key_value()
            && until <= now
        {
            let (_, id) = self.leases.pop_first().expect("just looked");
            let delivery = &self.deliveries[&id];
            if let Some(due) = delivery.row.next_attempt_at {
                self.due.insert((due, order), id);
            }
            release_busy(&mut self.busy, &delivery.row.endpoint_id);
        }
    }
}

/// One live lease fewer for `endpoint`.
fn release_busy(busy: &mut HashMap<String, u32>, endpoint: &str) {
    if let Some(busy) = busy.get_mut(endpoint) {
        *busy = busy.saturating_sub(1);
    }
}

impl Store for MemoryStore {
    fn add_endpoint(&self, endpoint: EndpointRow) -> BoxFuture<'_, StoreResult<()>> {
        self.state().endpoints.push(endpoint);
        Box::pin(async { Ok(()) })
    }

    fn endpoints(&self) -> BoxFuture<'_, StoreResult<Vec<EndpointRow>>> {
        let endpoints = self.state().endpoints.clone();
        Box::pin(async { Ok(endpoints) })
    }

    fn endpoint<'a>(&'a self, id: &'a str) -> BoxFuture<'a, StoreResult<Option<EndpointRow>>> {
        let endpoint = self.state().endpoints.iter().find(|e| e.id == id).cloned();
        Box::pin(async { Ok(endpoint) })
    }

    fn set_enabled<'a>(
        &'a self,
        id: &'a str,
        enabled: bool,
        reason: Option<&'a str>,
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let found = match self.state().endpoint_mut(id) {
            Some(endpoint) => {
                endpoint.enabled = enabled;
                endpoint.disabled_reason = reason.map(str::to_owned);
                if enabled {
                    endpoint.failures = 0;
                    endpoint.failing_since = None;
                }
                true
            }
            None => false,
        };
        if found && enabled {
            self.inner.work.notify_waiters();
        }
        Box::pin(async move { Ok(found) })
    }

    fn set_secrets<'a>(
        &'a self,
        id: &'a str,
        sealed_secrets: &'a [u8],
    ) -> BoxFuture<'a, StoreResult<bool>> {
        let found = match self.state().endpoint_mut(id) {
            Some(endpoint) => {
                endpoint.sealed_secrets = sealed_secrets.to_vec();
                true
            }
            None => false,
        };
        Box::pin(async move { Ok(found) })
    }

    fn enqueue(
        &self,
        event: EventRow,
        deliveries: Vec<NewDelivery>,
        lease: Option<Lease>,
    ) -> BoxFuture<'_, StoreResult<Enqueued>> {
        let mut state = self.state();
        if let Some(first) = event
            .idempotency_key
            .as_ref()
            .and_then(|key| state.idempotency.get(key))
        {
            let enqueued = Enqueued {
                event_id: first.clone(),
                delivery_ids: state.event_deliveries[first].clone(),
                duplicate: true,
            };
            return Box::pin(async { Ok(enqueued) });
        }
        let ids: Vec<String> = deliveries.iter().map(|d| d.id.clone()).collect();
        for new in deliveries {
            state.order += 1;
            let order = state.order;
            let row = DeliveryRow {
                id: new.id.clone(),
                event_id: event.id.clone(),
                event_type: event.event_type.clone(),
                endpoint_id: new.endpoint_id,
                status: DeliveryStatus::Pending,
                attempts: 0,
                run_attempts: 0,
                next_attempt_at: None,
                last_status: None,
                last_error: None,
                created_at: event.created_at,
                updated_at: event.created_at,
            };
            state.deliveries.insert(
                new.id.clone(),
                Delivery {
                    row,
                    order,
                    lease: None,
                },
            );
            state.set_lease(&new.id, lease);
            state.set_due(&new.id, Some(new.next_attempt_at));
        }
        if let Some(key) = &event.idempotency_key {
            state.idempotency.insert(key.clone(), event.id.clone());
        }
        state.event_deliveries.insert(event.id.clone(), ids.clone());
        let event_id = event.id.clone();
        state.events.insert(event.id.clone(), event);
        drop(state);
        self.inner.work.notify_waiters();
        Box::pin(async move {
            Ok(Enqueued {
                event_id,
                delivery_ids: ids,
                duplicate: false,
            })
        })
    }

    fn claim(&self, now: i64, lease: Lease, limit: u32) -> BoxFuture<'_, StoreResult<Vec<Claim>>> {
        let mut state = self.state();
        state.expire_leases(now);
        // Claimed by this call, per endpoint (by its place in `endpoints`).
        let mut taken = vec![0_u32; state.endpoints.len()];
        let mut chosen = Vec::new();
        for (&(due, _), id) in &state.due {
            if due > now || chosen.len() >= limit as usize {
                break;
            }
            let delivery = &state.deliveries[id];
            let Some(place) = state
                .endpoints
                .iter()
                .position(|e| e.id == delivery.row.endpoint_id)
            else {
                continue;
            };
            let endpoint = &state.endpoints[place];
            let busy = state.busy.get(&endpoint.id).copied().unwrap_or(0);
            if !endpoint.enabled || busy + taken[place] >= endpoint.max_in_flight {
                continue;
            }
            taken[place] += 1;
            chosen.push((id.clone(), place));
        }
        let mut claims = Vec::with_capacity(chosen.len());
        for (id, place) in chosen {
            state.set_lease(&id, Some(lease));
            let row = state.deliveries[&id].row.clone();
            let event = state.events[&row.event_id].clone();
            claims.push(Claim {
                delivery: row,
                event,
                endpoint: state.endpoints[place].clone(),
            });
        }
        Box::pin(async { Ok(claims) })
    }

    fn complete(
        &self,
        completions: Vec<Completion>,
    ) -> BoxFuture<'_, StoreResult<Vec<EndpointHealth>>> {
        let mut state = self.state();
        let mut grew = Vec::new();
        for completion in completions {
            let attempt = completion.attempt;
            let id = attempt.delivery_id.clone();
            state.attempt_count += 1;
            if attempt.status.is_some() {
                if state.recent_durations.len() >= RECENT_DURATIONS as usize {
                    state.recent_durations.pop_front();
                }
                state.recent_durations.push_back(attempt.duration_ms);
            }
            let holds = state.deliveries.get(&id).is_some_and(|delivery| {
                delivery.lease.map(|lease| lease.token) == Some(completion.lease.token)
            });
            if holds {
                let due = match completion.next {
                    Next::RetryAt(at) => Some(at),
                    Next::Succeeded | Next::Failed => None,
                };
                state.set_lease(&id, None);
                let row = &mut state.deliveries.get_mut(&id).expect("checked above").row;
                row.attempts += 1;
                row.run_attempts += 1;
                row.last_status = attempt.status;
                row.last_error.clone_from(&attempt.error);
                row.updated_at = attempt.started_at + i64::from(attempt.duration_ms);
                row.status = match completion.next {
                    Next::Succeeded => DeliveryStatus::Succeeded,
                    Next::RetryAt(_) => DeliveryStatus::Pending,
                    Next::Failed => DeliveryStatus::Failed,
                };
                state.set_due(&id, due);
            }
            let started_at = attempt.started_at;
            state.attempts.entry(id).or_default().push(attempt);
            if let Some(endpoint) = state.endpoint_mut(&completion.endpoint_id) {
                if completion.succeeded {
                    endpoint.failures = 0;
                    endpoint.failing_since = None;
                    // A run that ended within this batch did not grow.
                    grew.retain(|health: &EndpointHealth| health.endpoint_id != endpoint.id);
                } else {
                    endpoint.failures += 1;
                    endpoint.failing_since.get_or_insert(started_at);
                    grew.retain(|health: &EndpointHealth| health.endpoint_id != endpoint.id);
                    grew.push(EndpointHealth {
                        endpoint_id: endpoint.id.clone(),
                        failures: endpoint.failures,
                        failing_since: endpoint.failing_since,
                        enabled: endpoint.enabled,
                    });
                }
            }
        }
        Box::pin(async { Ok(grew) })
    }

    fn release<'a>(&'a self, ids: &'a [String], lease: Lease) -> BoxFuture<'a, StoreResult<()>> {
        let mut state = self.state();
        for id in ids {
            if state
                .deliveries
                .get(id)
                .is_some_and(|delivery| delivery.lease.map(|held| held.token) == Some(lease.token))
            {
                state.set_lease(id, None);
            }
        }
        drop(state);
        self.inner.work.notify_waiters();
        Box::pin(async { Ok(()) })
    }

    fn delivery<'a>(
        &'a self,
        id: &'a str,
    ) -> BoxFuture<'a, StoreResult<Option<DeliveryWithAttempts>>> {
        let state = self.state();
        let found = state.deliveries.get(id).map(|delivery| {
            let attempts = state.attempts.get(id).cloned().unwrap_or_default();
            (delivery.row.clone(), attempts)
        });
        Box::pin(async { Ok(found) })
    }

    fn deliveries(&self, filter: DeliveryFilter) -> BoxFuture<'_, StoreResult<Vec<DeliveryRow>>> {
        let state = self.state();
        let mut found: Vec<&Delivery> = state
            .deliveries
            .values()
            .filter(|d| filter.status.is_none_or(|status| d.row.status == status))
            .filter(|d| {
                filter
                    .endpoint_id
                    .as_ref()
                    .is_none_or(|id| &d.row.endpoint_id == id)
            })
            .filter(|d| {
                filter
                    .event_id
                    .as_ref()
                    .is_none_or(|id| &d.row.event_id == id)
            })
            .collect();
        found.sort_by_key(|d| std::cmp::Reverse(d.order));
        let rows = found
            .into_iter()
            .take(filter.limit as usize)
            .map(|d| d.row.clone())
            .collect();
        Box::pin(async { Ok(rows) })
    }

    fn requeue(&self, which: Requeue, now: i64) -> BoxFuture<'_, StoreResult<u64>> {
        let mut state = self.state();
        let ids: Vec<String> = match &which {
            Requeue::Delivery(id) => state
                .deliveries
                .get(id)
                .map(|d| d.row.id.clone())
                .into_iter()
                .collect(),
            Requeue::FailedSince { endpoint_id, since } => state
                .deliveries
                .values()
                .filter(|d| {
                    &d.row.endpoint_id == endpoint_id
                        && d.row.status == DeliveryStatus::Failed
                        && d.row.updated_at >= *since
                })
                .map(|d| d.row.id.clone())
                .collect(),
        };
        for id in &ids {
            let delivery = state.deliveries.get_mut(id).expect("listed above");
            delivery.row.status = DeliveryStatus::Pending;
            delivery.row.run_attempts = 0;
            delivery.row.updated_at = now;
            state.set_lease(id, None);
            state.set_due(id, Some(now));
        }
        drop(state);
        self.inner.work.notify_waiters();
        let count = ids.len() as u64;
        Box::pin(async move { Ok(count) })
    }

    fn stats(&self, endpoint: Option<String>) -> BoxFuture<'_, StoreResult<StatsRow>> {
        let state = self.state();
        let mut stats = StatsRow::default();
        for delivery in state.deliveries.values() {
            if endpoint
                .as_ref()
                .is_some_and(|id| &delivery.row.endpoint_id != id)
            {
                continue;
            }
            match delivery.row.status {
                DeliveryStatus::Pending => stats.pending += 1,
                DeliveryStatus::Succeeded => stats.succeeded += 1,
                DeliveryStatus::Failed => stats.failed += 1,
            }
            if endpoint.is_some() {
                let attempts = state.attempts.get(&delivery.row.id);
                stats.attempts += attempts.map_or(0, |a| a.len() as u64);
                stats.recent_durations_ms.extend(
                    attempts
                        .into_iter()
                        .flatten()
                        .filter(|a| a.status.is_some())
                        .map(|a| a.duration_ms),
                );
            }
        }
        if endpoint.is_none() {
            stats.attempts = state.attempt_count;
            stats.recent_durations_ms = state.recent_durations.iter().copied().collect();
        }
        Box::pin(async { Ok(stats) })
    }

    fn pending(&self) -> BoxFuture<'_, StoreResult<Pending>> {
        let state = self.state();
        let enabled = |id: &str| state.endpoints.iter().any(|e| e.id == id && e.enabled);
        let mut pending = Pending::default();
        for delivery in state.deliveries.values() {
            if delivery.row.status != DeliveryStatus::Pending || !enabled(&delivery.row.endpoint_id)
            {
                continue;
            }
            pending.count += 1;
            if let Some(due) = delivery.row.next_attempt_at {
                let ready = delivery.lease.map_or(due, |lease| due.max(lease.until));
                pending.next_due = Some(pending.next_due.map_or(ready, |next| next.min(ready)));
            }
        }
        Box::pin(async move { Ok(pending) })
    }

    fn wait_for_work(&self, timeout: Duration) -> BoxFuture<'_, ()> {
        Box::pin(async move {
            let _ = tokio::time::timeout(timeout, self.inner.work.notified()).await;
        })
    }
}
