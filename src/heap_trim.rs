//! Gives the heap's free pages back to the kernel once the broker has been quiet for a while
//! after a change, and never while nothing happens.
//!
//! glibc's `free` returns memory to the kernel only from the top of the heap; the pages that a
//! burst of links or addresses leaves free inside it stay resident until `malloc_trim` returns
//! them (`madvise`). docs/benchmarks.md ("Memory, 2026-12-04") measured 5 MiB of them after
//! 4,096 links were deleted. A check every few seconds would wake an idle daemon, which issue
//! 13 rules out; here the timer is armed only by a new snapshot, so a daemon with nothing to do
//! sleeps without a timer, and a burst costs one trim after it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tracing::debug;

use crate::debounce::Debouncer;
use crate::time::sleep_until_opt;

/// How long the snapshots must stay unchanged before the heap is trimmed: a burst's changes
/// come closer together than this, a single toggle's trim is cheap.
pub const QUIET: Duration = Duration::from_secs(1);

/// A heap that changes for this long without a quiet second is trimmed anyway, so endless
/// churn (addresses coming and going) cannot keep freed pages resident for ever.
pub const MAX_DELAY: Duration = Duration::from_secs(30);

/// Free bytes below which a trim is not worth its walk of the heap.
const WORTH_TRIMMING: usize = 1 << 20;

/// Trims the heap [`QUIET`] after the last change of `changes` (at most [`MAX_DELAY`] after
/// the first), until `cancel` or until the sender is gone.
pub async fn run<T>(changes: watch::Receiver<T>, cancel: CancellationToken) {
    follow(changes, QUIET, MAX_DELAY, cancel, || {
        if let Some(free) = allocator::trim(WORTH_TRIMMING) {
            debug!("heap: returned free pages to the kernel ({free} bytes were free)");
        }
    })
    .await;
}

/// The timing of [`run`], with the trim passed in (tests count it).
async fn follow<T>(
    mut changes: watch::Receiver<T>,
    quiet: Duration,
    max_delay: Duration,
    cancel: CancellationToken,
    mut trim: impl FnMut(),
) {
    let mut pending: Debouncer<(), Instant> = Debouncer::new(quiet, max_delay);
    loop {
        tokio::select! {
            () = cancel.cancelled() => return,
            changed = changes.changed() => {
                if changed.is_err() {
                    return;
                }
                pending.touch((), Instant::now());
            }
            () = sleep_until_opt(pending.next_deadline()) => {
                if !pending.take_due(Instant::now()).is_empty() {
                    trim();
                }
            }
        }
    }
}

/// glibc's statistics and trim; elsewhere (musl) nothing is trimmed.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
mod allocator {
    /// Trims the heap when at least `worth` bytes are free in it; the free bytes it found.
    pub fn trim(worth: usize) -> Option<usize> {
        // SAFETY: mallinfo2 takes no arguments and returns a plain struct of counters; glibc
        // takes each arena's lock while it sums them (available since glibc 2.33, and the
        // package needs 2.36).
        let free = unsafe { libc::mallinfo2() }.fordblks;
        if free < worth {
            return None;
        }
        // SAFETY: malloc_trim takes a byte count, no pointer, and only gives whole free pages
        // back to the kernel under the arenas' locks; no allocation of ours is touched.
        unsafe { libc::malloc_trim(0) };
        Some(free)
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
mod allocator {
    pub fn trim(_worth: usize) -> Option<usize> {
        None
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};
    use std::sync::Arc;

    use super::*;

    const Q: Duration = Duration::from_secs(1);
    const MAX: Duration = Duration::from_secs(30);

    /// Runs `follow` on the test's (paused-clock) runtime; the trims it made so far.
    fn start(changes: watch::Receiver<u32>) -> Arc<AtomicU32> {
        let trims = Arc::new(AtomicU32::new(0));
        let counted = trims.clone();
        tokio::spawn(follow(
            changes,
            Q,
            MAX,
            CancellationToken::new(),
            move || {
                counted.fetch_add(1, Ordering::Relaxed);
            },
        ));
        trims
    }

    fn count(trims: &AtomicU32) -> u32 {
        trims.load(Ordering::Relaxed)
    }

    async fn settle(by: Duration) {
        tokio::time::sleep(by).await;
        tokio::task::yield_now().await;
    }

    #[tokio::test(start_paused = true)]
    async fn nothing_changes_nothing_is_trimmed() {
        let (_tx, rx) = watch::channel(0u32);
        let trims = start(rx);
        settle(Duration::from_secs(3600)).await;
        assert_eq!(count(&trims), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_is_trimmed_once_after_a_quiet_second() {
        let (tx, rx) = watch::channel(0u32);
        let trims = start(rx);
        for i in 1..=50 {
            tx.send_replace(i);
            settle(Duration::from_millis(100)).await;
        }
        assert_eq!(count(&trims), 0, "trimmed while the burst was going on");
        settle(Q).await;
        assert_eq!(count(&trims), 1);
        settle(Duration::from_secs(600)).await;
        assert_eq!(count(&trims), 1, "trimmed again with nothing new");
        tx.send_replace(99);
        settle(Q + Duration::from_millis(10)).await;
        assert_eq!(count(&trims), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn endless_churn_is_trimmed_at_the_maximum_delay() {
        let (tx, rx) = watch::channel(0u32);
        let trims = start(rx);
        // A change every half second for 65 s never leaves a quiet second.
        for i in 0..130 {
            tx.send_replace(i);
            settle(Duration::from_millis(500)).await;
        }
        assert_eq!(count(&trims), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn it_ends_on_cancel_and_when_the_sender_is_gone() {
        let (tx, rx) = watch::channel(0u32);
        let cancel = CancellationToken::new();
        let task = tokio::spawn(follow(rx, Q, MAX, cancel.clone(), || {}));
        cancel.cancel();
        assert!(tokio::time::timeout(Q, task).await.is_ok());

        let task = tokio::spawn(follow(
            tx.subscribe(),
            Q,
            MAX,
            CancellationToken::new(),
            || {},
        ));
        drop(tx);
        assert!(tokio::time::timeout(Q, task).await.is_ok());
    }

    #[test]
    fn a_small_heap_is_not_worth_a_trim() {
        assert_eq!(allocator::trim(usize::MAX), None);
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn pages_freed_inside_the_heap_are_found_and_trimmed() {
        // 16 MiB in 4 KiB blocks, all freed but the last, which keeps them off the heap's top.
        let mut blocks: Vec<Vec<u8>> = (0..4096).map(|i| vec![i as u8; 4096]).collect();
        let last = blocks.pop();
        drop(blocks);
        let free = allocator::trim(WORTH_TRIMMING);
        assert!(free.is_some_and(|f| f >= 8 << 20), "{free:?}");
        drop(last);
    }
}
