//! Delivery statistics: counts, success rate, attempts per delivery, latency percentiles.

use std::time::Duration;

use super::store::StatsRow;

/// What [`Dispatcher::stats`](super::Dispatcher::stats) reports.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Stats {
    /// Deliveries not finished yet.
    pub pending: u64,
    /// Deliveries that succeeded.
    pub succeeded: u64,
    /// Deliveries that failed for good.
    pub failed: u64,
    /// Attempts made.
    pub attempts: u64,
    /// Succeeded ÷ finished, when any delivery has finished.
    pub success_rate: Option<f64>,
    /// Attempts ÷ deliveries, when there are deliveries.
    pub attempts_per_delivery: Option<f64>,
    /// Latency of recent answered attempts, when there are any.
    pub latency: Option<Latency>,
}

/// Percentiles of recent attempts' durations (nearest rank).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The slowest.
    pub max: Duration,
}

impl Stats {
    /// Deliveries, whatever their status.
    pub fn deliveries(&self) -> u64 {
        self.pending + self.succeeded + self.failed
    }

    pub(crate) fn from_row(mut row: StatsRow) -> Self {
        let finished = row.succeeded + row.failed;
        let deliveries = finished + row.pending;
        row.recent_durations_ms.sort_unstable();
        let durations = &row.recent_durations_ms;
        let rank = |percent: usize| {
            // Nearest rank: the smallest value with at least `percent` % at or below it.
            let index = (durations.len() * percent).div_ceil(100).saturating_sub(1);
            Duration::from_millis(durations[index.min(durations.len() - 1)].into())
        };
        Self {
            pending: row.pending,
            succeeded: row.succeeded,
            failed: row.failed,
            attempts: row.attempts,
            success_rate: (finished > 0).then(|| row.succeeded as f64 / finished as f64),
            attempts_per_delivery: (deliveries > 0)
                .then(|| row.attempts as f64 / deliveries as f64),
            latency: (!durations.is_empty()).then(|| Latency {
                p50: rank(50),
                p90: rank(90),
                p99: rank(99),
                max: rank(100),
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_and_nearest_rank_percentiles() {
        let stats = Stats::from_row(StatsRow {
            pending: 1,
            succeeded: 3,
            failed: 1,
            attempts: 10,
            recent_durations_ms: (1..=100).rev().collect(),
        });
        assert_eq!(stats.success_rate, Some(0.75));
        assert_eq!(stats.attempts_per_delivery, Some(2.0));
        let latency = stats.latency.unwrap();
        assert_eq!(latency.p50, Duration::from_millis(50));
        assert_eq!(latency.p90, Duration::from_millis(90));
        assert_eq!(latency.p99, Duration::from_millis(99));
        assert_eq!(latency.max, Duration::from_millis(100));
        let empty = Stats::from_row(StatsRow::default());
        assert_eq!(
            (empty.success_rate, empty.latency, empty.deliveries()),
            (None, None, 0)
        );
    }
}
