//! What can go wrong while dispatching: the store, the key, the input.

use crate::error::BoxError;

/// An error from a [`Store`](super::Store): the database refused, or could not be reached.
///
/// The message names the operation and the database's own reason; it never holds a secret, as
/// stores only ever see secrets sealed by [`StorageKey`](super::StorageKey).
#[derive(Debug, thiserror::Error)]
#[error("{operation}: {source}")]
pub struct StoreError {
    operation: &'static str,
    #[source]
    source: BoxError,
}

impl StoreError {
    /// An error from `operation` (e.g. `"claim deliveries"`), caused by `source`.
    ///
    /// ```
    /// use tower_webhook::dispatch::StoreError;
    ///
    /// let error = StoreError::new("claim deliveries", "database is locked");
    /// assert_eq!(error.to_string(), "claim deliveries: database is locked");
    /// ```
    pub fn new(operation: &'static str, source: impl Into<BoxError>) -> Self {
        Self {
            operation,
            source: source.into(),
        }
    }

    /// The operation that failed.
    pub fn operation(&self) -> &'static str {
        self.operation
    }
}

/// Why the [`Dispatcher`](super::Dispatcher) could not do what was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DispatchError {
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An endpoint's URL is not an absolute `http://` or `https://` URL.
    #[error("endpoint URL {url:?} is not an absolute http:// or https:// URL")]
    InvalidUrl {
        /// The URL given.
        url: String,
    },
    /// No scheme of that name: not a preset (`scheme::PRESETS`) and not registered.
    #[error("unknown scheme {0:?}: see tower_webhook::scheme::PRESETS")]
    UnknownScheme(String),
    /// The endpoint was given no secret to sign with.
    #[error("an endpoint needs at least one secret to sign with")]
    NoSecret,
    /// A secret cannot sign for the endpoint's scheme.
    #[error("secret #{index} cannot sign for {scheme}: {reason}")]
    InvalidSecret {
        /// The scheme's name.
        scheme: String,
        /// The secret's position (0 is the one that signs).
        index: usize,
        /// Why, without the secret.
        reason: String,
    },
    /// An event pattern is not valid.
    #[error(transparent)]
    Pattern(#[from] crate::PatternError),
    /// No endpoint with that id.
    #[error("no endpoint {0}")]
    NoSuchEndpoint(String),
    /// No delivery with that id.
    #[error("no delivery {0}")]
    NoSuchDelivery(String),
    /// The event's type is empty or not valid in a header.
    #[error("event type {0:?} is empty or contains characters a header cannot carry")]
    InvalidEventType(String),
    /// The payload could not be serialised.
    #[error("payload: {0}")]
    Payload(#[source] serde_json::Error),
    /// A sealed secret did not open: the storage key is not the one it was sealed with, or
    /// the database was altered.
    #[error(
        "endpoint {endpoint}'s secrets do not open with this storage key (another key, or an altered database)"
    )]
    Sealed {
        /// The endpoint.
        endpoint: String,
    },
    /// The storage key could not be read or created.
    #[error("storage key {path}: {reason}")]
    KeyFile {
        /// The key file.
        path: String,
        /// Why.
        reason: String,
    },
    /// Postgres is shared by several machines: its storage key must be given, not created.
    #[error("a Postgres store needs its storage key given (the same on every machine)")]
    KeyRequired,
    /// The store the database name asks for is not compiled in.
    #[error("this build has no {0} store: enable the crate's `{0}` feature")]
    StoreUnavailable(&'static str),
    /// The operating system's random source failed.
    #[error("the operating system's random source failed")]
    Randomness,
}
