//! The Redis guard, for several replicas behind one load balancer.

use std::fmt;
use std::time::Duration;

use redis::aio::ConnectionManager;

use super::{Freshness, ReplayError, ReplayFuture, ReplayGuard};

/// A [`ReplayGuard`] in Redis, shared by every replica that points at the same server.
///
/// Each check is one atomic `SET key 1 NX EX ttl`: the first replica to set the key gets
/// [`Freshness::Fresh`], every other one (and every later replay) gets [`Freshness::Seen`],
/// and Redis drops the key when its time to live is over. Capacity is Redis's own: give it a
/// `maxmemory` with the `volatile-ttl` or `noeviction` policy, not an `allkeys-*` one that
/// could drop live ids. A connection or server failure is a [`ReplayError::Store`], which the
/// layer answers with 503 (see the [module docs](super)).
///
/// It talks through a [`ConnectionManager`], which reconnects by itself and is cheap to clone.
/// Keys are prefixed with `tower-webhook:replay:` unless you [choose](Self::prefix) another.
///
/// # Example
///
/// ```no_run
/// use tower_webhook::replay::RedisReplayGuard;
/// use tower_webhook::{scheme::StandardWebhooks, VerifySignatureLayer};
///
/// # async fn run() -> Result<(), tower::BoxError> {
/// let guard = RedisReplayGuard::connect("redis://127.0.0.1:6379/").await?;
/// let layer = VerifySignatureLayer::new(StandardWebhooks, "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")?
///     .replay_guard(guard);
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisReplayGuard {
    connection: ConnectionManager,
    prefix: String,
}

impl RedisReplayGuard {
    /// A guard that talks through `connection`.
    pub fn new(connection: ConnectionManager) -> Self {
        Self {
            connection,
            prefix: "tower-webhook:replay:".to_owned(),
        }
    }

    /// Connects to the Redis server at `url` (`redis://[:password@]host:port/db`).
    ///
    /// # Errors
    ///
    /// The URL cannot be parsed, or the first connection fails.
    pub async fn connect(url: &str) -> Result<Self, redis::RedisError> {
        let client = redis::Client::open(url)?;
        Ok(Self::new(ConnectionManager::new(client).await?))
    }

    /// Puts `prefix` in front of every key, e.g. to keep two applications sharing one Redis
    /// apart.
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    fn key(&self, key: &str) -> String {
        format!("{}{key}", self.prefix)
    }
}

impl ReplayGuard for RedisReplayGuard {
    fn check_and_record(&self, key: String, ttl: Duration) -> ReplayFuture<Freshness> {
        let mut connection = self.connection.clone();
        let key = self.key(&key);
        let seconds = ttl.as_secs().max(1);
        Box::pin(async move {
            let reply: Option<String> = redis::cmd("SET")
                .arg(&key)
                .arg(1)
                .arg("NX")
                .arg("EX")
                .arg(seconds)
                .query_async(&mut connection)
                .await
                .map_err(ReplayError::store)?;
            // `SET … NX` answers OK when it set the key and nil when the key was there.
            Ok(match reply {
                Some(_) => Freshness::Fresh,
                None => Freshness::Seen,
            })
        })
    }

    fn forget(&self, key: String) -> ReplayFuture<()> {
        let mut connection = self.connection.clone();
        let key = self.key(&key);
        Box::pin(async move {
            redis::cmd("DEL")
                .arg(&key)
                .query_async::<i64>(&mut connection)
                .await
                .map_err(ReplayError::store)?;
            Ok(())
        })
    }
}

impl fmt::Debug for RedisReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The connection's Debug could show the server's address and credentials.
        f.debug_struct("RedisReplayGuard")
            .field("prefix", &self.prefix)
            .finish_non_exhaustive()
    }
}
