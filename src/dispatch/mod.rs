//! Sending durably: endpoints subscribe to event types, `dispatch` queues a delivery for each,
//! workers deliver them with retries stored in the database, and every attempt is logged.
//!
//! ```text
//! dispatch(event) ─► store: event + one delivery per matching endpoint (one transaction)
//! worker: claim due deliveries (lease) ─► sign (same id, new timestamp) ─► POST ─► record attempt
//!         ─► succeeded | retry at a stored time | failed for good | endpoint disabled
//! ```
//!
//! - [`Dispatcher`]: add [endpoints](NewEndpoint) (URL, scheme, secrets sealed at rest by a
//!   [`StorageKey`], event [`Pattern`](crate::Pattern)s), [`dispatch`](Dispatcher::dispatch)
//!   [`Event`]s (with idempotency keys), look up a [delivery and its
//!   attempts](Dispatcher::delivery), [`stats`](Dispatcher::stats),
//!   [`resend`](Dispatcher::resend), [`recover`](Dispatcher::recover).
//! - [`Worker`]: claims, attempts, records; the [`RetrySchedule`] and [`AutoDisable`] rule
//!   decide what follows a failure.
//! - [`Store`]s: [`MemoryStore`] (not durable), `SqliteStore` (feature `sqlite`) and
//!   `PostgresStore` (feature `postgres`).
//!
//! Guarantees: at least once, with a delivery id that stays the same across attempts (the
//! receiver's deduplication key); no ordering.
//!
//! ```no_run
//! use tower_webhook::Secret;
//! use tower_webhook::dispatch::{Dispatcher, Event, MemoryStore, NewEndpoint, StorageKey};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let dispatcher = Dispatcher::builder(MemoryStore::new(), StorageKey::generate()?)
//!     .on_outcome(|report| println!("{} → {:?}", report.delivery_id, report.status))
//!     .build();
//! dispatcher
//!     .add_endpoint(NewEndpoint::new("http://127.0.0.1:3000/hooks", "github", Secret::new("It's a Secret to Everybody")))
//!     .await?;
//! dispatcher.dispatch(Event::json("issues.opened", &serde_json::json!({"number": 1}))?).await?;
//! dispatcher.worker().run_until_idle().await?;
//! # Ok(())
//! # }
//! ```

mod attempt;
mod cipher;
mod dispatcher;
mod endpoint;
mod error;
mod event;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
mod open;
mod schedule;
mod stats;
pub mod store;
mod worker;

pub use cipher::StorageKey;
pub use dispatcher::{AttemptReport, DeliveryLog, Dispatched, Dispatcher, DispatcherBuilder};
pub use endpoint::{AutoDisable, Endpoint, NewEndpoint};
pub use error::{DispatchError, StoreError};
pub use event::Event;
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub use open::KeySource;
pub use schedule::{InvalidSchedule, RetrySchedule};
pub use stats::{Latency, Stats};
pub use store::{
    AttemptRow, DeliveryFilter, DeliveryRow, DeliveryStatus, MemoryStore, Next, Store,
};
pub use worker::{Worker, WorkerHandle, WorkerSummary};

#[cfg(feature = "postgres")]
pub use store::PostgresStore;
#[cfg(feature = "sqlite")]
pub use store::SqliteStore;
