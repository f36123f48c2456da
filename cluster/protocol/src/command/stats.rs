//! Per-command counters, kept alike by shard servers and proxies for INFO commandstats,
//! LATENCY HISTOGRAM and the Prometheus metrics.

use std::sync::atomic::{AtomicU64, Ordering};

/// Buckets of a command's latency histogram: bucket `b` counts calls that took less than
/// 2^b microseconds (and at least 2^(b-1)); the last one takes everything longer.
pub const LATENCY_BUCKETS: usize = 32;

/// The histogram bucket of a call that took `usec`.
pub fn latency_bucket(usec: u64) -> usize {
    ((u64::BITS - usec.leading_zeros()) as usize).min(LATENCY_BUCKETS - 1)
}

/// The upper bound of `bucket`, in microseconds (infinite for the last one).
pub fn bucket_bound_usec(bucket: usize) -> f64 {
    match bucket {
        b if b + 1 >= LATENCY_BUCKETS => f64::INFINITY,
        b => (1u64 << b) as f64,
    }
}

/// How many times something took how long: a count, the total and a histogram.
#[derive(Default)]
pub struct Durations {
    pub calls: AtomicU64,
    pub usec: AtomicU64,
    pub histogram: [AtomicU64; LATENCY_BUCKETS],
}

impl Durations {
    /// Counts `calls` calls that took `usec` microseconds in all, each put in the bucket of
    /// `usec / calls`.
    pub fn record(&self, calls: u64, usec: u64) {
        self.calls.fetch_add(calls, Ordering::Relaxed);
        self.usec.fetch_add(usec, Ordering::Relaxed);
        let bucket = latency_bucket(usec / calls.max(1));
        self.histogram[bucket].fetch_add(calls, Ordering::Relaxed);
    }

    pub fn reset(&self) {
        for counter in [&self.calls, &self.usec].into_iter().chain(&self.histogram) {
            counter.store(0, Ordering::Relaxed);
        }
    }
}

/// One command's counters.
#[derive(Default)]
pub struct CommandStats {
    pub durations: Durations,
    pub rejected: AtomicU64,
    pub failed: AtomicU64,
}

impl CommandStats {
    pub fn reset(&self) {
        self.durations.reset();
        self.rejected.store(0, Ordering::Relaxed);
        self.failed.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_hold_calls_below_their_bound() {
        for usec in [0u64, 1, 2, 3, 4, 1000, 1 << 40] {
            let bucket = latency_bucket(usec);
            assert!((usec as f64) < bucket_bound_usec(bucket), "{usec}");
            if bucket > 0 {
                assert!((usec as f64) >= bucket_bound_usec(bucket - 1), "{usec}");
            }
        }
    }
}
