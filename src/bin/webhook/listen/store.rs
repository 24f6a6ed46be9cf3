//! The last deliveries, in memory, and the live feed of each one as it arrives or changes.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;
use http::{HeaderMap, Method, Uri};
use serde_json::{Value, json};
use tokio::sync::broadcast;

/// How a forwarded delivery went at the app.
#[derive(Debug, Clone)]
pub(crate) enum AppAnswer {
    /// The app answered with this status.
    Status(u16),
    /// The app could not be reached, or did not answer in time.
    Failed(String),
}

/// One delivery as shown: what arrived, the verdict, and what the app answered.
#[derive(Debug, Clone)]
pub(crate) struct Delivery {
    pub(crate) seq: u64,
    pub(crate) time: String,
    pub(crate) method: Method,
    pub(crate) uri: Uri,
    /// The path and query as shown, with secrets hidden.
    pub(crate) shown_path: String,
    /// The headers as they arrived, kept for forwarding again.
    pub(crate) headers: HeaderMap,
    /// The exact bytes, kept for forwarding again.
    pub(crate) body: Bytes,
    /// The headers as shown, with secrets hidden.
    pub(crate) shown_headers: Vec<(String, String)>,
    /// The body as shown: pretty when it is JSON, with secrets hidden.
    pub(crate) shown_body: String,
    pub(crate) body_is_json: bool,
    pub(crate) accepted: bool,
    /// The layer's reason, when refused.
    pub(crate) reason: Option<String>,
    /// The status the sender was answered with.
    pub(crate) status: u16,
    pub(crate) event_type: Option<String>,
    pub(crate) delivery_id: Option<String>,
    /// The key that verified it, from 0.
    pub(crate) key: Option<usize>,
    pub(crate) diagnosis: Vec<String>,
    pub(crate) app: Option<AppAnswer>,
}

impl Delivery {
    /// Roughly the memory it holds: its bytes as they arrived and as shown.
    fn weight(&self) -> usize {
        let headers: usize = self
            .headers
            .iter()
            .map(|(name, value)| name.as_str().len() + value.len())
            .sum();
        let shown: usize = self
            .shown_headers
            .iter()
            .map(|(name, value)| name.len() + value.len())
            .sum();
        self.body.len() + self.shown_body.len() + headers + shown + 2 * self.shown_path.len()
    }

    /// The delivery as `/deliveries`, `/events` and `--print-json` give it.
    pub(crate) fn to_json(&self) -> Value {
        let (app_status, app_error) = match &self.app {
            Some(AppAnswer::Status(status)) => (Some(*status), None),
            Some(AppAnswer::Failed(error)) => (None, Some(error.as_str())),
            None => (None, None),
        };
        json!({
            "seq": self.seq,
            "time": self.time,
            "method": self.method.as_str(),
            "path": self.shown_path,
            "verdict": if self.accepted { "accepted" } else { "refused" },
            "reason": self.reason,
            "status": self.status,
            "event_type": self.event_type,
            "delivery_id": self.delivery_id,
            "size": self.body.len(),
            "key": self.key.map(|index| index + 1),
            "headers": self.shown_headers,
            "body": self.shown_body,
            "body_is_json": self.body_is_json,
            "diagnosis": self.diagnosis,
            "app_status": app_status,
            "app_error": app_error,
        })
    }
}

/// How many events wait for the slowest page before it is dropped (it reloads the list).
const FEED: usize = 16;

/// The most bytes the deliveries kept may hold together; the oldest go first beyond it.
const MAX_BYTES: usize = 64 * 1024 * 1024;

/// The newest deliveries, at most `capacity` of them and `MAX_BYTES` together, and a feed of
/// their JSON.
pub(crate) struct Store {
    inner: Mutex<Inner>,
    capacity: usize,
    /// Each event once, as the `data:` line pages get: every page shares the same bytes.
    feed: broadcast::Sender<Bytes>,
}

struct Inner {
    last_seq: u64,
    /// What the deliveries kept weigh together.
    bytes: usize,
    /// Oldest first.
    deliveries: VecDeque<Delivery>,
}

impl Store {
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            inner: Mutex::new(Inner {
                last_seq: 0,
                bytes: 0,
                deliveries: VecDeque::new(),
            }),
            capacity: capacity.max(1),
            feed: broadcast::channel(FEED).0,
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // A panic elsewhere leaves the list whole: keep serving it.
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The next delivery's number, from 1.
    pub(crate) fn next_seq(&self) -> u64 {
        let mut inner = self.lock();
        inner.last_seq += 1;
        inner.last_seq
    }

    /// Keeps a delivery, dropping the oldest beyond the capacity, and announces it.
    pub(crate) fn add(&self, delivery: Delivery) -> Value {
        let json = delivery.to_json();
        {
            let mut inner = self.lock();
            // Numbers are taken before verdicts, which can finish out of order.
            let at = inner
                .deliveries
                .iter()
                .rposition(|kept| kept.seq < delivery.seq)
                .map_or(0, |at| at + 1);
            inner.bytes += delivery.weight();
            inner.deliveries.insert(at, delivery);
            // The newest is always kept, whatever it weighs.
            while inner.deliveries.len() > self.capacity
                || (inner.bytes > MAX_BYTES && inner.deliveries.len() > 1)
            {
                if let Some(oldest) = inner.deliveries.pop_front() {
                    inner.bytes -= oldest.weight();
                }
            }
        }
        self.announce(&json);
        json
    }

    /// A copy of the delivery numbered `seq`, if it is still kept.
    pub(crate) fn get(&self, seq: u64) -> Option<Delivery> {
        let inner = self.lock();
        inner.deliveries.iter().find(|d| d.seq == seq).cloned()
    }

    /// Records the app's latest answer to a delivery and announces the change.
    pub(crate) fn set_app(&self, seq: u64, answer: AppAnswer) -> Option<Value> {
        let json = {
            let mut inner = self.lock();
            let delivery = inner.deliveries.iter_mut().find(|d| d.seq == seq)?;
            delivery.app = Some(answer);
            delivery.to_json()
        };
        self.announce(&json);
        Some(json)
    }

    /// Every delivery kept, newest first.
    pub(crate) fn list(&self) -> Value {
        let inner = self.lock();
        Value::Array(
            inner
                .deliveries
                .iter()
                .rev()
                .map(Delivery::to_json)
                .collect(),
        )
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Bytes> {
        self.feed.subscribe()
    }

    /// How many pages follow the feed.
    pub(crate) fn subscribers(&self) -> usize {
        self.feed.receiver_count()
    }

    fn announce(&self, json: &Value) {
        // No page open is no error.
        let _ = self.feed.send(Bytes::from(format!("data: {json}\n\n")));
    }
}
