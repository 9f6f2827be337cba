//! Waiting for a condition instead of sleeping: [`wait_until`] polls with a generous timeout (a
//! safety net, never an assertion on time), [`wait_settled`] waits for a count to stop moving.

use std::time::{Duration, Instant};

/// How long a daemon gets to claim its bus name.
pub const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a signal or property change gets to show up.
pub const EVENT_TIMEOUT: Duration = Duration::from_secs(20);

/// Polls `probe` until it returns `Ok`, for at most `timeout`; panics with `what` and the last
/// `Err` (a description of the state seen) on timeout.  The timeout is a safety net, not an
/// assertion: pick it generously.
pub fn wait_until<T>(
    what: &str,
    timeout: Duration,
    mut probe: impl FnMut() -> Result<T, String>,
) -> T {
    let start = Instant::now();
    let mut pause = Duration::from_millis(10);
    loop {
        match probe() {
            Ok(v) => return v,
            Err(last) => {
                if start.elapsed() >= timeout {
                    panic!("timed out after {timeout:?} waiting for {what}\n  last state: {last}");
                }
            }
        }
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(200));
    }
}

/// Waits until `count()` has not changed for `quiet`, at most `timeout` in all, and returns the
/// settled value.  For counting things (hook runs) whose end has no event of its own.
pub fn wait_settled(
    what: &str,
    quiet: Duration,
    timeout: Duration,
    mut count: impl FnMut() -> usize,
) -> usize {
    let mut last = count();
    let mut since = Instant::now();
    wait_until(what, timeout, || {
        let now = count();
        if now != last {
            last = now;
            since = Instant::now();
        }
        if since.elapsed() >= quiet {
            Ok(now)
        } else {
            Err(format!("count {now}, still changing"))
        }
    })
}

/// Polls `probe` every 100 ms until it gives `Some`, for at most `timeout`; `None` then. For a
/// caller that reports the timeout itself (with the state it last saw).
pub fn poll_until<T>(timeout: Duration, mut probe: impl FnMut() -> Option<T>) -> Option<T> {
    let start = Instant::now();
    loop {
        if let Some(v) = probe() {
            return Some(v);
        }
        if start.elapsed() >= timeout {
            return None;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}
