//! Warnings about signals from strangers, limited per window: anyone on the bus can send
//! networkd-looking signals at will, and each one dropped must not become a journal line.

use std::time::Duration;

use tokio::time::Instant;
use tracing::warn;

/// Warnings about signals from strangers: at most this many per [`WARN_WINDOW`].
const MAX_WARNINGS: u32 = 20;
const WARN_WINDOW: Duration = Duration::from_secs(60);

/// Limits warnings about signals from strangers, which anyone on the bus can send at will.
#[derive(Debug, Default)]
pub(super) struct WarnLimiter {
    window_start: Option<Instant>,
    in_window: u32,
    suppressed: u64,
}

impl WarnLimiter {
    /// Whether to log this warning.
    pub(super) fn allow(&mut self, now: Instant) -> bool {
        let expired = self
            .window_start
            .is_none_or(|start| now.duration_since(start) >= WARN_WINDOW);
        if expired {
            if self.suppressed > 0 {
                warn!(
                    suppressed = self.suppressed,
                    "networkd: {} more signals from strangers were dropped without a warning",
                    self.suppressed
                );
            }
            self.window_start = Some(now);
            self.in_window = 0;
            self.suppressed = 0;
        }
        if self.in_window < MAX_WARNINGS {
            self.in_window += 1;
            true
        } else {
            if self.suppressed == 0 {
                warn!(
                    window = ?WARN_WINDOW,
                    "networkd: too many signals from strangers; not warning about each one for \
                     {WARN_WINDOW:?}"
                );
            }
            self.suppressed += 1;
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stranger_warnings_are_limited_per_window() {
        let mut limiter = WarnLimiter::default();
        let start = Instant::now();
        let allowed = (0..100).filter(|_| limiter.allow(start)).count();
        assert_eq!(allowed, MAX_WARNINGS as usize);
        assert_eq!(limiter.suppressed, 100 - u64::from(MAX_WARNINGS));
        assert!(limiter.allow(start + WARN_WINDOW));
        assert_eq!(limiter.suppressed, 0);
    }
}
