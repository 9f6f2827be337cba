//! The Manager's event history: the last `EventHistory` events the Manager signalled, each
//! with its sequence number, so that `EventsSince` can hand a subscriber that reconnects or
//! starts late what it missed, or tell it that the history no longer reaches back that far
//! (docs/dbus-api.md, "The event stream"). Pure: the numbering and the bounds; sending is
//! `dbus::stream`'s.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;
use zbus::wire::Type;
use zbus::OwnedVariant;

/// One event as `EventsSince` returns it, `(ttsav)`: its sequence number, when it was sent,
/// the Manager signal's name and the signal's arguments without the sequence (which is the
/// first field).
#[derive(Debug, Clone, PartialEq, Serialize, Type)]
pub struct Recorded {
    /// The number the event was sent with.
    pub sequence: u64,
    /// When it was sent: microseconds since the Unix epoch (the system clock's).
    pub time_us: u64,
    /// The Manager signal, e.g. `AddressAdded`.
    pub signal: String,
    /// The signal's arguments in order, each as a variant, the sequence left out.
    pub args: Vec<OwnedVariant>,
}

/// What the history holds after a given number.
#[derive(Debug, Clone, PartialEq)]
pub struct Since {
    /// Whether `events` are every event after the number asked for. `false` when the oldest
    /// of them is gone from the history, or when the number was never handed out in this run
    /// (it is from another run of the daemon): the caller must re-read the state.
    pub complete: bool,
    /// The events after the number, oldest first; when not complete, all the history holds.
    pub events: Vec<Arc<Recorded>>,
}

/// The numbering and the bounded memory of the event stream.
#[derive(Debug)]
pub struct History {
    /// The last number handed out; 0 before the first event. Numbers are never reused.
    last: u64,
    /// Most events kept (`EventHistory`); 0 keeps none.
    capacity: usize,
    /// The kept events, oldest first, with consecutive numbers ending at `last`.
    events: VecDeque<Arc<Recorded>>,
}

impl History {
    /// An empty history that keeps at most `capacity` events.
    pub fn new(capacity: usize) -> Self {
        Self {
            last: 0,
            capacity,
            events: VecDeque::with_capacity(capacity.min(INITIAL_ALLOCATION)),
        }
    }

    /// The last number handed out (`EventSequence`), 0 before the first event.
    pub fn last(&self) -> u64 {
        self.last
    }

    /// Numbers the next event, sent at `time_us`, keeps it (forgetting the oldest beyond the
    /// capacity) and returns its number.
    pub fn record(&mut self, time_us: u64, signal: &str, args: Vec<OwnedVariant>) -> u64 {
        // A u64 counter does not wrap: at a million events a second it lasts 584,000 years.
        self.last += 1;
        if self.capacity > 0 {
            while self.events.len() >= self.capacity {
                self.events.pop_front();
            }
            self.events.push_back(Arc::new(Recorded {
                sequence: self.last,
                time_us,
                signal: signal.to_string(),
                args,
            }));
        }
        self.last
    }

    /// Keeps at most `capacity` events from now on, forgetting the oldest at once when it
    /// shrinks (a reload of `EventHistory`). The numbering is unaffected.
    pub fn set_capacity(&mut self, capacity: usize) {
        self.capacity = capacity;
        while self.events.len() > capacity {
            self.events.pop_front();
        }
        self.events.shrink_to(capacity.min(INITIAL_ALLOCATION));
    }

    /// The events after `after`, and whether that is all of them.
    pub fn since(&self, after: u64) -> Since {
        if after > self.last {
            // Not a number of this run: nothing here is known to follow it.
            return Since {
                complete: false,
                events: self.events.iter().cloned().collect(),
            };
        }
        // The first number still held; when nothing is held, the next one to come.
        let oldest = self
            .events
            .front()
            .map_or(self.last + 1, |event| event.sequence);
        if after + 1 < oldest {
            return Since {
                complete: false,
                events: self.events.iter().cloned().collect(),
            };
        }
        // Numbers are consecutive, so the events after `after` start at a known offset.
        let skip = usize::try_from(after + 1 - oldest).unwrap_or(usize::MAX);
        Since {
            complete: true,
            events: self.events.iter().skip(skip).cloned().collect(),
        }
    }
}

/// Room reserved up front: a large `EventHistory` costs memory only as events arrive.
const INITIAL_ALLOCATION: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(since: &Since) -> Vec<u64> {
        since.events.iter().map(|e| e.sequence).collect()
    }

    fn record(history: &mut History, n: usize) {
        for i in 0..n {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            history.record(1_000, "RoutesModified", vec![OwnedVariant::from(index)]);
        }
    }

    #[test]
    fn numbers_start_at_one_and_increase_by_one() {
        let mut history = History::new(4);
        assert_eq!(history.last(), 0);
        assert_eq!(history.record(1, "LinkAdded", Vec::new()), 1);
        assert_eq!(history.record(2, "LinkRemoved", Vec::new()), 2);
        assert_eq!(history.last(), 2);
    }

    #[test]
    fn an_empty_history_is_complete_from_zero() {
        let history = History::new(4);
        let since = history.since(0);
        assert!(since.complete);
        assert!(since.events.is_empty());
    }

    #[test]
    fn events_after_a_number_are_returned_in_order_with_their_arguments() {
        let mut history = History::new(8);
        record(&mut history, 5);
        let since = history.since(2);
        assert!(since.complete);
        assert_eq!(numbers(&since), [3, 4, 5]);
        assert_eq!(since.events[0].signal, "RoutesModified");
        assert_eq!(since.events[0].time_us, 1_000);
        assert_eq!(since.events[0].args, [OwnedVariant::from(2i32)]);
        let latest = history.since(5);
        assert!(latest.complete, "nothing new is complete");
        assert!(latest.events.is_empty());
    }

    #[test]
    fn the_history_wraps_at_its_capacity_and_keeps_the_newest() {
        let mut history = History::new(3);
        record(&mut history, 10);
        assert_eq!(history.last(), 10);
        let since = history.since(7);
        assert!(since.complete, "8, 9 and 10 are all held");
        assert_eq!(numbers(&since), [8, 9, 10]);
    }

    #[test]
    fn a_gap_is_reported_when_the_history_no_longer_reaches_back() {
        let mut history = History::new(3);
        record(&mut history, 10);
        // 7 is gone: the caller asked for everything after 6.
        let since = history.since(6);
        assert!(!since.complete);
        assert_eq!(
            numbers(&since),
            [8, 9, 10],
            "what is held is still returned"
        );
        assert!(!history.since(0).complete);
    }

    #[test]
    fn a_number_never_handed_out_is_not_complete() {
        let mut history = History::new(3);
        record(&mut history, 2);
        // From an earlier run of the daemon that got further.
        assert!(!history.since(5).complete);
    }

    #[test]
    fn a_history_of_zero_keeps_nothing_but_still_numbers() {
        let mut history = History::new(0);
        record(&mut history, 3);
        assert_eq!(history.last(), 3);
        assert!(history.since(3).complete);
        let since = history.since(2);
        assert!(!since.complete);
        assert!(since.events.is_empty());
    }

    #[test]
    fn shrinking_forgets_the_oldest_and_growing_keeps_more() {
        let mut history = History::new(5);
        record(&mut history, 5);
        history.set_capacity(2);
        assert_eq!(numbers(&history.since(3)), [4, 5]);
        assert!(!history.since(2).complete);
        history.set_capacity(10);
        record(&mut history, 4);
        let since = history.since(3);
        assert!(since.complete);
        assert_eq!(numbers(&since), [4, 5, 6, 7, 8, 9]);
    }
}
