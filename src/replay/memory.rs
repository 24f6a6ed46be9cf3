//! The in-memory guard: bounded, expiring, sharded.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::{Freshness, ReplayError, ReplayFuture, ReplayGuard};
use crate::clock::{Clock, SystemClock};

/// Enough shards that two cores (or sixteen) rarely wait on the same lock.
const SHARDS: usize = 64;

/// A [`ReplayGuard`] in this process's memory, for a single replica.
///
/// - **Bounded**: it holds at most `capacity` live ids. Each costs roughly 60 to 120 bytes
///   (depending on how full the tables are) whatever the id's length, because ids are kept as
///   a 128-bit digest.
/// - **Expiring**: a record is dropped once its time to live has passed, measured on the
///   guard's [`Clock`] (the system clock unless told otherwise).
/// - **Sharded**: ids are spread over 64 locks, so concurrent requests seldom wait for each
///   other, and the one shared counter is an atomic.
///
/// # When it is full
///
/// A new id that finds every slot taken by a live record is refused with
/// [`ReplayError::Full`], which the layer answers with 503 (senders retry later, when records
/// have expired). The guard never makes room by dropping a live record: the id it forgot could
/// be replayed at once, and an attacker who can send verified traffic (or a burst of honest
/// deliveries) would choose exactly that moment. Expired records are swept first, so a guard
/// is full only when `capacity` deliveries really arrived within one record lifetime. Size it
/// for your peak rate times that lifetime (for a 300 s tolerance, about 660 s).
///
/// Clones share the same records, so one guard can serve several layers.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_webhook::replay::{Freshness, MemoryReplayGuard, ReplayGuard};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower_webhook::replay::ReplayError> {
/// let guard = MemoryReplayGuard::new(2);
/// let ttl = Duration::from_secs(60);
/// assert_eq!(guard.check_and_record("msg_1".into(), ttl).await?, Freshness::Fresh);
/// assert_eq!(guard.check_and_record("msg_1".into(), ttl).await?, Freshness::Seen);
/// assert_eq!(guard.check_and_record("msg_2".into(), ttl).await?, Freshness::Fresh);
/// // Two live ids in a guard for two: a third is refused, not let through unrecorded.
/// assert!(guard.check_and_record("msg_3".into(), ttl).await.is_err());
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
#[must_use]
pub struct MemoryReplayGuard {
    inner: Arc<Inner>,
    clock: Arc<dyn Clock>,
}

struct Inner {
    shards: Box<[Mutex<Shard>]>,
    /// Records in all shards, expired or not until swept; never above `capacity`.
    len: AtomicUsize,
    capacity: usize,
}

#[derive(Default)]
struct Shard {
    /// Digest of the key ─► the Unix second from which the record is gone.
    expiries: HashMap<u128, i64>,
    /// The same records, soonest expiry first, so sweeping costs only what it removes.
    queue: BinaryHeap<Reverse<(i64, u128)>>,
}

impl MemoryReplayGuard {
    /// A guard that holds at most `capacity` live ids.
    pub fn new(capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                shards: (0..SHARDS).map(|_| Mutex::default()).collect(),
                len: AtomicUsize::new(0),
                capacity,
            }),
            clock: Arc::new(SystemClock),
        }
    }

    /// The time source for expiry, in Unix seconds (see [`Clock`]). Give it the same clock as
    /// the layer, so that records last exactly as long as the timestamp window they cover.
    pub fn clock(mut self, clock: impl Clock) -> Self {
        self.clock = Arc::new(clock);
        self
    }

    /// The most live ids it holds.
    pub fn capacity(&self) -> usize {
        self.inner.capacity
    }

    /// How many ids are recorded, including expired ones not swept yet.
    pub fn len(&self) -> usize {
        self.inner.len.load(Ordering::Acquire)
    }

    /// Whether no id is recorded.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn record(&self, key: &str, ttl: Duration) -> Result<Freshness, ReplayError> {
        let digest = digest(key);
        let ttl = i64::try_from(ttl.as_secs().max(1)).unwrap_or(i64::MAX);
        for attempt in 0..2 {
            let now = self.clock.unix_now();
            let mut shard = self.inner.shard(digest);
            shard.sweep(now, &self.inner.len);
            if shard.expiries.contains_key(&digest) {
                return Ok(Freshness::Seen);
            }
            if self.inner.reserve() {
                let expiry = now.saturating_add(ttl);
                shard.expiries.insert(digest, expiry);
                shard.queue.push(Reverse((expiry, digest)));
                return Ok(Freshness::Fresh);
            }
            drop(shard);
            if attempt == 0 {
                // Full: expired records may be waiting in other shards. Sweep them one shard
                // at a time (never two locks at once), then try once more.
                self.inner.sweep_all(now);
            }
        }
        Err(ReplayError::Full {
            capacity: self.inner.capacity,
        })
    }

    fn remove(&self, key: &str) {
        let digest = digest(key);
        let mut shard = self.inner.shard(digest);
        if shard.expiries.remove(&digest).is_some() {
            // Its queue entry stays behind and is skipped when it comes up.
            self.inner.len.fetch_sub(1, Ordering::AcqRel);
        }
    }
}

impl Inner {
    fn shard(&self, digest: u128) -> MutexGuard<'_, Shard> {
        // The digest is uniform, so its low bits spread keys evenly.
        let index = (digest as usize) % self.shards.len();
        // Nothing panics while a shard is locked; a poisoned lock still holds sound records.
        self.shards[index]
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one slot, unless all are taken.
    fn reserve(&self) -> bool {
        self.len
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |len| {
                (len < self.capacity).then_some(len + 1)
            })
            .is_ok()
    }

    fn sweep_all(&self, now: i64) {
        for shard in &self.shards {
            shard
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .sweep(now, &self.len);
        }
    }
}

impl Shard {
    fn sweep(&mut self, now: i64, len: &AtomicUsize) {
        while let Some(&Reverse((expiry, digest))) = self.queue.peek() {
            if expiry > now {
                break;
            }
            self.queue.pop();
            // Skip entries left behind by `forget`, or superseded by a newer record.
            if self.expiries.get(&digest) == Some(&expiry) {
                self.expiries.remove(&digest);
                len.fetch_sub(1, Ordering::AcqRel);
            }
        }
    }
}

fn digest(key: &str) -> u128 {
    let hash = Sha256::digest(key.as_bytes());
    let mut first = [0; 16];
    first.copy_from_slice(&hash[..16]);
    u128::from_le_bytes(first)
}

impl ReplayGuard for MemoryReplayGuard {
    fn check_and_record(&self, key: String, ttl: Duration) -> ReplayFuture<Freshness> {
        Box::pin(std::future::ready(self.record(&key, ttl)))
    }

    fn forget(&self, key: String) -> ReplayFuture<()> {
        self.remove(&key);
        Box::pin(std::future::ready(Ok(())))
    }
}

impl fmt::Debug for MemoryReplayGuard {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryReplayGuard")
            .field("capacity", &self.capacity())
            .field("len", &self.len())
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicI64;

    use super::*;

    const MINUTE: Duration = Duration::from_secs(60);

    fn guard_at(capacity: usize) -> (MemoryReplayGuard, Arc<AtomicI64>) {
        let now = Arc::new(AtomicI64::new(1_700_000_000));
        let clock = Arc::clone(&now);
        let guard = MemoryReplayGuard::new(capacity).clock(move || clock.load(Ordering::SeqCst));
        (guard, now)
    }

    #[test]
    fn a_key_is_fresh_once_then_seen() {
        let (guard, _) = guard_at(10);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Fresh);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Seen);
        assert_eq!(guard.record("b", MINUTE).unwrap(), Freshness::Fresh);
        assert_eq!(guard.len(), 2);
    }

    #[test]
    fn records_expire_after_their_ttl_and_not_before() {
        let (guard, now) = guard_at(10);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Fresh);
        now.fetch_add(59, Ordering::SeqCst);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Seen);
        now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Fresh);
        assert_eq!(
            guard.len(),
            1,
            "the expired record was swept, not kept beside"
        );
    }

    #[test]
    fn sub_second_ttls_round_up_to_one_second() {
        let (guard, now) = guard_at(10);
        guard.record("a", Duration::ZERO).unwrap();
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Seen);
        now.fetch_add(1, Ordering::SeqCst);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Fresh);
    }

    #[test]
    fn a_full_guard_refuses_new_ids_but_still_recognises_old_ones() {
        let (guard, _) = guard_at(3);
        for key in ["a", "b", "c"] {
            assert_eq!(guard.record(key, MINUTE).unwrap(), Freshness::Fresh);
        }
        assert!(matches!(
            guard.record("d", MINUTE),
            Err(ReplayError::Full { capacity: 3 })
        ));
        // Refusing "d" did not make room by forgetting a live id.
        for key in ["a", "b", "c"] {
            assert_eq!(guard.record(key, MINUTE).unwrap(), Freshness::Seen);
        }
        assert_eq!(guard.len(), 3);
    }

    #[test]
    fn a_full_guard_makes_room_from_expired_records_in_any_shard() {
        let (guard, now) = guard_at(100);
        for n in 0..100 {
            guard.record(&format!("short-{n}"), MINUTE).unwrap();
        }
        now.fetch_add(60, Ordering::SeqCst);
        // These land in shards other than most of the expired ones; all must still fit.
        for n in 0..100 {
            assert_eq!(
                guard.record(&format!("next-{n}"), MINUTE).unwrap(),
                Freshness::Fresh
            );
        }
        assert!(guard.record("one too many", MINUTE).is_err());
    }

    #[test]
    fn forget_frees_the_id_and_its_slot() {
        let (guard, now) = guard_at(1);
        guard.record("a", MINUTE).unwrap();
        guard.remove("a");
        assert!(guard.is_empty());
        assert_eq!(guard.record("a", MINUTE * 2).unwrap(), Freshness::Fresh);
        // The stale queue entry of the first record must not expire the second one early.
        now.fetch_add(60, Ordering::SeqCst);
        assert_eq!(guard.record("a", MINUTE).unwrap(), Freshness::Seen);
        assert_eq!(guard.len(), 1);
    }

    #[test]
    fn zero_capacity_refuses_everything() {
        let (guard, _) = guard_at(0);
        assert!(guard.record("a", MINUTE).is_err());
    }

    #[test]
    fn clones_share_records() {
        let (guard, _) = guard_at(10);
        let other = guard.clone();
        guard.record("a", MINUTE).unwrap();
        assert_eq!(other.record("a", MINUTE).unwrap(), Freshness::Seen);
    }

    #[test]
    fn concurrent_callers_get_exactly_one_fresh_per_key() {
        let (guard, _) = guard_at(10_000);
        let threads = 8;
        let keys = 1_000;
        let fresh: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    let guard = guard.clone();
                    scope.spawn(move || {
                        (0..keys)
                            .filter(|n| {
                                guard.record(&format!("id-{n}"), MINUTE).unwrap()
                                    == Freshness::Fresh
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(fresh, keys);
        assert_eq!(guard.len(), keys);
    }

    #[test]
    fn concurrent_callers_never_exceed_capacity() {
        let (guard, _) = guard_at(500);
        let fresh: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..4)
                .map(|t| {
                    let guard = guard.clone();
                    scope.spawn(move || {
                        (0..400)
                            .filter(|n| {
                                matches!(
                                    guard.record(&format!("{t}-{n}"), MINUTE),
                                    Ok(Freshness::Fresh)
                                )
                            })
                            .count()
                    })
                })
                .collect();
            handles.into_iter().map(|h| h.join().unwrap()).sum()
        });
        assert_eq!(fresh, 500);
        assert_eq!(guard.len(), 500);
    }
}
