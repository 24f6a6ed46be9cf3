//! Endpoints: where events go, signed how, for which event types.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use super::store::EndpointRow;
use crate::{Pattern, Secret};

/// An endpoint to add: a URL, the scheme to sign with, its secrets, and the event types it
/// receives.
///
/// ```
/// use tower_webhook::Secret;
/// use tower_webhook::dispatch::NewEndpoint;
///
/// let endpoint = NewEndpoint::new(
///     "https://billing.example.com/webhooks",
///     "standard-webhooks",
///     Secret::new("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"),
/// )
/// .events(["invoice.*", "customer.deleted"])
/// .named("billing")
/// .label("team", "payments")
/// .max_in_flight(4);
/// assert!(!format!("{endpoint:?}").contains("MfKQ9r8G"));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct NewEndpoint {
    pub(crate) url: String,
    pub(crate) scheme: String,
    pub(crate) secrets: Vec<Secret>,
    pub(crate) patterns: Vec<String>,
    pub(crate) name: Option<String>,
    pub(crate) labels: BTreeMap<String, String>,
    pub(crate) max_in_flight: u32,
    pub(crate) enabled: bool,
}

impl NewEndpoint {
    /// An endpoint at `url`, signed with the scheme named `scheme` (a preset from
    /// [`scheme::PRESETS`](crate::scheme::PRESETS), or one registered with
    /// [`DispatcherBuilder::scheme`](super::DispatcherBuilder::scheme)) and `secret`. It
    /// receives every event until [`events`](Self::events) says otherwise.
    pub fn new(
        url: impl Into<String>,
        scheme: impl Into<String>,
        secret: impl Into<Secret>,
    ) -> Self {
        Self {
            url: url.into(),
            scheme: scheme.into(),
            secrets: vec![secret.into()],
            patterns: Vec::new(),
            name: None,
            labels: BTreeMap::new(),
            max_in_flight: 8,
            enabled: true,
        }
    }

    /// Another secret, kept for a rotation: the first secret signs.
    pub fn secret(mut self, secret: impl Into<Secret>) -> Self {
        self.secrets.push(secret.into());
        self
    }

    /// The event types it receives: [`Pattern`]s such as `order.*`, `order` or `*`.
    pub fn events<P: AsRef<str>>(mut self, patterns: impl IntoIterator<Item = P>) -> Self {
        self.patterns
            .extend(patterns.into_iter().map(|p| p.as_ref().to_owned()));
        self
    }

    /// A name for people.
    pub fn named(mut self, name: impl Into<String>) -> Self {
        self.name = Some(name.into());
        self
    }

    /// A label.
    pub fn label(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.labels.insert(key.into(), value.into());
        self
    }

    /// The most deliveries in flight to it at once (default 8, at least 1), so that one slow
    /// endpoint cannot take every worker.
    pub fn max_in_flight(mut self, limit: u32) -> Self {
        self.max_in_flight = limit.max(1);
        self
    }

    /// Adds it disabled: it receives nothing until enabled; its deliveries wait.
    pub fn disabled(mut self) -> Self {
        self.enabled = false;
        self
    }
}

/// An endpoint as the Dispatcher knows it (its secrets stay sealed in the store).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Endpoint {
    /// `ep_` and random characters.
    pub id: String,
    /// Where deliveries are POSTed.
    pub url: String,
    /// The scheme's name.
    pub scheme: String,
    /// The event types it receives.
    pub events: Vec<Pattern>,
    /// Whether it receives deliveries.
    pub enabled: bool,
    /// Why it was disabled.
    pub disabled_reason: Option<String>,
    /// A name for people.
    pub name: Option<String>,
    /// Labels.
    pub labels: BTreeMap<String, String>,
    /// The most deliveries in flight to it at once.
    pub max_in_flight: u32,
    /// Failed attempts in a row.
    pub failures: u32,
    /// When the current run of failures began.
    pub failing_since: Option<SystemTime>,
    /// When it was added.
    pub created_at: SystemTime,
}

impl Endpoint {
    /// Whether it receives events of this type.
    pub fn receives(&self, event_type: &str) -> bool {
        self.events
            .iter()
            .any(|pattern| pattern.matches(event_type))
    }

    pub(crate) fn from_row(row: EndpointRow) -> Self {
        Self {
            events: row
                .patterns
                .iter()
                .filter_map(|pattern| Pattern::new(pattern).ok())
                .collect(),
            id: row.id,
            url: row.url,
            scheme: row.scheme,
            enabled: row.enabled,
            disabled_reason: row.disabled_reason,
            name: row.name,
            labels: row.labels,
            max_in_flight: row.max_in_flight,
            failures: row.failures,
            failing_since: row.failing_since.map(from_millis),
            created_at: from_millis(row.created_at),
        }
    }
}

/// When endpoints that keep failing are disabled: after `failures` failed attempts in a row
/// spanning at least `over`.
///
/// The default, 20 failures over 5 days, disables an endpoint only after every attempt for
/// days has failed, as the well-known services do; its pending deliveries then wait until it
/// is enabled again.
///
/// ```
/// use std::time::Duration;
/// use tower_webhook::dispatch::AutoDisable;
///
/// let strict = AutoDisable::after(5).over(Duration::from_secs(3600));
/// let never = AutoDisable::never();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AutoDisable {
    pub(crate) failures: Option<u32>,
    pub(crate) over: Duration,
}

impl Default for AutoDisable {
    fn default() -> Self {
        Self::after(20).over(Duration::from_secs(5 * 24 * 3600))
    }
}

impl AutoDisable {
    /// After `failures` failed attempts in a row (at least 1), over no particular time.
    pub fn after(failures: u32) -> Self {
        Self {
            failures: Some(failures.max(1)),
            over: Duration::ZERO,
        }
    }

    /// Only when the run of failures spans at least `window`.
    #[must_use]
    pub fn over(mut self, window: Duration) -> Self {
        self.over = window;
        self
    }

    /// Never disable an endpoint.
    pub fn never() -> Self {
        Self {
            failures: None,
            over: Duration::ZERO,
        }
    }

    pub(crate) fn trips(&self, failures: u32, failing_since: Option<i64>, now: i64) -> bool {
        let Some(limit) = self.failures else {
            return false;
        };
        let span = now.saturating_sub(failing_since.unwrap_or(now));
        failures >= limit && span >= i64::try_from(self.over.as_millis()).unwrap_or(i64::MAX)
    }
}

pub(crate) fn from_millis(millis: i64) -> SystemTime {
    let offset = Duration::from_millis(millis.unsigned_abs());
    if millis >= 0 {
        SystemTime::UNIX_EPOCH + offset
    } else {
        SystemTime::UNIX_EPOCH - offset
    }
}

pub(crate) fn to_millis(time: SystemTime) -> i64 {
    match time.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(after) => i64::try_from(after.as_millis()).unwrap_or(i64::MAX),
        Err(before) => -i64::try_from(before.duration().as_millis()).unwrap_or(i64::MAX),
    }
}

pub(crate) fn now_millis() -> i64 {
    to_millis(SystemTime::now())
}
