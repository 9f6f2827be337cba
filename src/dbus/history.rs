//! The Manager's event history: the last `EventHistory` events the Manager signalled, each
//! with its sequence number, so that `EventsSince` can hand a subscriber that reconnects or
//! starts late what it missed, or tell it that the history no longer reaches back that far
//! (docs/dbus-api.md, "The event stream"). Pure: the numbering, the bounds and the kept
//! form; sending is `dbus::stream`'s.
//!
//! A kept event holds the body of the message that was sent (its D-Bus encoding and
//! signature), not variants: a variant tree costs an allocation per string and per container
//! level, about 1.3 KB for a link's `LinkPropertiesChanged` against a few hundred bytes
//! encoded (docs/benchmarks.md, "Memory, 2026-12-03"); the bytes are the ones already
//! serialized for the bus, so keeping an event costs a copy, not a second serialization; and
//! only `EventsSince` reads them back.

use std::collections::VecDeque;
use std::sync::Arc;

use serde::Serialize;
use zbus::message::Body;
use zbus::wire::serialized::{Context, Data};
use zbus::wire::{Structure, Type};
use zbus::{OwnedVariant, Signature};

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
    events: VecDeque<Kept>,
}

/// One event as the history holds it.
#[derive(Debug)]
struct Kept {
    sequence: u64,
    time_us: u64,
    signal: &'static str,
    /// The sent message's body: its bytes (from offset 0), their encoding and signature.
    body: Box<[u8]>,
    context: Context,
    signature: Signature,
}

impl Kept {
    /// The event as `EventsSince` returns it, the body's last argument (the sequence) left
    /// out, or `None` should its bytes not decode (they were encoded by zbus for the bus, so
    /// that is not expected).
    fn recorded(&self) -> Option<Arc<Recorded>> {
        let data = Data::new(&self.body[..], self.context);
        let (body, _) = data
            .deserialize_for_dynamic_signature::<_, Structure<'_>>(&self.signature)
            .ok()?;
        let mut fields = body.into_fields();
        fields.pop()?;
        let args = fields
            .iter()
            .map(|field| field.try_to_owned().ok())
            .collect::<Option<Vec<OwnedVariant>>>()?;
        Some(Arc::new(Recorded {
            sequence: self.sequence,
            time_us: self.time_us,
            signal: self.signal.to_string(),
            args,
        }))
    }
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

    /// Hands out the next number. The event it numbers is then either kept ([`Self::keep`])
    /// or reported as a gap ([`Self::gap`]).
    pub fn next_sequence(&mut self) -> u64 {
        // A u64 counter does not wrap: at a million events a second it lasts 584,000 years.
        self.last += 1;
        self.last
    }

    /// Keeps the event numbered `sequence` (the last number handed out), sent at `time_us` as
    /// `signal` with `body` (whose last argument is the number), forgetting the oldest beyond
    /// the capacity.
    pub fn keep(&mut self, sequence: u64, time_us: u64, signal: &'static str, body: &Body) {
        if self.capacity == 0 {
            return;
        }
        while self.events.len() >= self.capacity {
            self.events.pop_front();
        }
        let data = body.data();
        self.events.push_back(Kept {
            sequence,
            time_us,
            signal,
            body: data.bytes().into(),
            context: data.context(),
            signature: body.signature().clone(),
        });
    }

    /// The event just numbered was not sent: the history forgets everything before it, so
    /// that `since` reports the gap instead of skipping it.
    pub fn gap(&mut self) {
        self.events.clear();
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
            return decoded(false, self.events.iter());
        }
        // The first number still held; when nothing is held, the next one to come.
        let oldest = self
            .events
            .front()
            .map_or(self.last + 1, |event| event.sequence);
        if after + 1 < oldest {
            return decoded(false, self.events.iter());
        }
        // Numbers are consecutive, so the events after `after` start at a known offset.
        let skip = usize::try_from(after + 1 - oldest).unwrap_or(usize::MAX);
        decoded(true, self.events.iter().skip(skip))
    }
}

/// `kept` read back. An event that does not decode is a gap: what follows it is returned,
/// not complete, as when the history no longer reaches back that far.
fn decoded<'a>(complete: bool, kept: impl Iterator<Item = &'a Kept>) -> Since {
    let mut since = Since {
        complete,
        events: Vec::new(),
    };
    for event in kept {
        match event.recorded() {
            Some(recorded) => since.events.push(recorded),
            None => {
                since.complete = false;
                since.events.clear();
            }
        }
    }
    since
}

/// Room reserved up front: a large `EventHistory` costs memory only as events arrive.
const INITIAL_ALLOCATION: usize = 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn numbers(since: &Since) -> Vec<u64> {
        since.events.iter().map(|e| e.sequence).collect()
    }

    /// Numbers an event and keeps it as the stream does: the message `build` makes of the
    /// signal's builder and the number, its last argument.
    fn send(
        history: &mut History,
        time_us: u64,
        signal: &'static str,
        build: impl FnOnce(zbus::message::Builder<'_>, u64) -> zbus::Result<zbus::Message>,
    ) -> u64 {
        let sequence = history.next_sequence();
        let builder = zbus::message::Message::signal(
            "/org/freedesktop/NetworkBroker1",
            "org.freedesktop.NetworkBroker1.Manager",
            signal,
        );
        match build(builder, sequence) {
            Ok(message) => history.keep(sequence, time_us, signal, &message.body()),
            Err(_) => history.gap(),
        }
        sequence
    }

    fn routes_modified(history: &mut History, index: i32) -> u64 {
        send(history, 1_000, "RoutesModified", |b, sequence| {
            b.build(&(index, sequence))
        })
    }

    fn record(history: &mut History, n: usize) {
        for i in 0..n {
            let index = i32::try_from(i).unwrap_or(i32::MAX);
            routes_modified(history, index);
        }
    }

    #[test]
    fn numbers_start_at_one_and_increase_by_one() {
        let mut history = History::new(4);
        assert_eq!(history.last(), 0);
        assert_eq!(routes_modified(&mut history, 3), 1);
        assert_eq!(history.next_sequence(), 2, "a gap uses up its number too");
        history.gap();
        assert_eq!(routes_modified(&mut history, 3), 3);
        assert_eq!(history.last(), 3);
    }

    #[test]
    fn a_gap_forgets_what_came_before_it() {
        let mut history = History::new(8);
        record(&mut history, 2);
        history.next_sequence();
        history.gap();
        record(&mut history, 1);
        assert!(!history.since(0).complete);
        assert_eq!(numbers(&history.since(3)), [4]);
        assert!(history.since(3).complete);
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
    fn strings_paths_and_dictionaries_come_back_as_they_were_recorded() -> zbus::Result<()> {
        let mut history = History::new(4);
        let changed: std::collections::HashMap<String, OwnedVariant> = [
            (
                "Name".to_string(),
                OwnedVariant::try_from(zbus::Variant::from("eth0"))?,
            ),
            (
                "Addresses".to_string(),
                OwnedVariant::try_from(zbus::Variant::from(vec![("192.0.2.1".to_string(), 24u8)]))?,
            ),
        ]
        .into_iter()
        .collect();
        let path = zbus::ObjectPath::try_from("/org/freedesktop/NetworkBroker1/link/_37")?;
        send(&mut history, 5, "LinkPropertiesChanged", |b, sequence| {
            b.build(&(7i32, &path, &changed, sequence))
        });
        let since = history.since(0);
        assert!(since.complete);
        assert_eq!(since.events.len(), 1);
        assert_eq!(since.events[0].signal, "LinkPropertiesChanged");
        let expected = vec![
            OwnedVariant::from(7i32),
            OwnedVariant::try_from(zbus::Variant::from(path))?,
            OwnedVariant::from(changed),
        ];
        assert_eq!(since.events[0].args, expected, "the number is left out");
        Ok(())
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
