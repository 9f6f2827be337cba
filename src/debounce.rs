//! Coalescing of bursts, for every part that needs it (the broker's `routes-modified.d`, the
//! lease source's reads): many changes of one key within a short time become one action,
//! taken when the key has been quiet for a while, or after a maximum delay even if it never
//! goes quiet (so a link whose routes churn forever still gets its hook run regularly).
//!
//! Pure: the caller passes the clock in, as a `std` or a `tokio` [`Instant`] (the lease
//! source's tests pause tokio's clock).

use std::collections::HashMap;
use std::hash::Hash;
use std::ops::Add;
use std::time::{Duration, Instant};

#[derive(Debug, Clone, Copy)]
struct Pending<T> {
    first: T,
    last: T,
}

/// Pending keys and their deadlines. A source with one thing to debounce uses the key `()`.
#[derive(Debug)]
pub struct Debouncer<K, T = Instant> {
    quiet: Duration,
    max_delay: Duration,
    pending: HashMap<K, Pending<T>>,
}

impl<K: Eq + Hash + Copy + Ord, T: Copy + Ord + Add<Duration, Output = T>> Debouncer<K, T> {
    /// Fire a key after `quiet` without news, and at the latest `max_delay` after its first
    /// news.
    pub fn new(quiet: Duration, max_delay: Duration) -> Self {
        Self {
            quiet,
            max_delay,
            pending: HashMap::new(),
        }
    }

    /// Records news for `key` at `now`.
    pub fn touch(&mut self, key: K, now: T) {
        self.pending
            .entry(key)
            .and_modify(|p| p.last = now)
            .or_insert(Pending {
                first: now,
                last: now,
            });
    }

    /// Drops `key` without firing it.
    pub fn forget(&mut self, key: K) {
        self.pending.remove(&key);
    }

    /// When the next key is due, if any key is pending.
    pub fn next_deadline(&self) -> Option<T> {
        self.pending.values().map(|p| self.deadline(p)).min()
    }

    /// Removes and returns the keys due at `now`, in key order.
    pub fn take_due(&mut self, now: T) -> Vec<K> {
        let mut due: Vec<K> = self
            .pending
            .iter()
            .filter(|(_, p)| self.deadline(p) <= now)
            .map(|(k, _)| *k)
            .collect();
        due.sort();
        for key in &due {
            self.pending.remove(key);
        }
        due
    }

    fn deadline(&self, pending: &Pending<T>) -> T {
        (pending.last + self.quiet).min(pending.first + self.max_delay)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const QUIET: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(2);

    #[test]
    fn a_burst_fires_once_after_the_quiet_period() {
        let t0 = Instant::now();
        let mut d: Debouncer<u32> = Debouncer::new(QUIET, MAX);
        for i in 0..50 {
            d.touch(7u32, t0 + Duration::from_millis(i));
        }
        assert!(d.take_due(t0 + Duration::from_millis(100)).is_empty());
        assert_eq!(
            d.next_deadline(),
            Some(t0 + Duration::from_millis(49) + QUIET)
        );
        assert_eq!(d.take_due(t0 + Duration::from_millis(249)), vec![7]);
        assert!(d.take_due(t0 + Duration::from_secs(10)).is_empty());
        assert_eq!(d.next_deadline(), None);
    }

    #[test]
    fn endless_churn_fires_at_the_maximum_delay() {
        let t0 = Instant::now();
        let mut d: Debouncer<u32> = Debouncer::new(QUIET, MAX);
        let mut fired = Vec::new();
        for ms in (0..3000).step_by(50) {
            let now = t0 + Duration::from_millis(ms);
            fired.extend(d.take_due(now).into_iter().map(|k| (k, ms)));
            d.touch(1u32, now);
        }
        assert_eq!(fired, vec![(1, 2000)]);
    }

    #[test]
    fn keys_are_independent_and_forgettable() {
        let t0 = Instant::now();
        let mut d: Debouncer<u32> = Debouncer::new(QUIET, MAX);
        d.touch(1u32, t0);
        d.touch(2u32, t0 + Duration::from_millis(100));
        d.touch(3u32, t0);
        d.forget(3);
        assert_eq!(d.take_due(t0 + QUIET), vec![1]);
        assert_eq!(d.take_due(t0 + Duration::from_millis(300)), vec![2]);
    }
}
