//! The hook results the bus shows as state: per link the scripts of the last run of each
//! event (`Link.HookResults`), and the manager's list of recent failures
//! (`Manager.FailedHooks`).
//!
//! The record lives here, in the bus adapter, and not in the broker's snapshot: it is a view
//! of what the adapter publishes anyway (`HooksCompleted`), no decision reads it, and
//! docs/architecture.md has the results of effects come back to the bus without the broker
//! holding them. It is lost with the daemon, like the signals it mirrors.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Mutex, PoisonError};

use crate::broker::command::BatchResult;
use crate::model::IfIndex;

/// How many failures `FailedHooks` keeps; the oldest goes first.
pub const RECENT_FAILURES: usize = 32;

/// One script's last run, as `HookResults` lists it: event, script path, time (µs since the
/// epoch, when its batch's result reached the bus), exit status, error text.
pub type RunEntry = (String, String, u64, u32, String);

/// One failure, as `FailedHooks` lists it: ifindex (0 for `manager`), link name (empty for
/// `manager`), event, script path, time (µs since the epoch), exit status, error text.
pub type FailureEntry = (i32, String, String, String, u64, u32, String);

/// One script's outcome at a moment.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Run {
    script: String,
    time_us: u64,
    status: u32,
    error: String,
}

impl Run {
    fn failed(&self) -> bool {
        self.status != 0 || !self.error.is_empty()
    }
}

/// A failure with the link it was for.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Failure {
    index: IfIndex,
    name: String,
    event: String,
    run: Run,
}

/// What has run lately.
#[derive(Debug, Default)]
pub struct HookRecord {
    /// Per link, per event, the scripts of that event's last run, in run order.
    links: BTreeMap<IfIndex, BTreeMap<String, Vec<Run>>>,
    /// The latest failures, oldest first, at most [`RECENT_FAILURES`].
    failures: VecDeque<Failure>,
}

/// The record as the publisher and the getters share it: each access is a short lock, never
/// held across an await.
#[derive(Debug, Clone, Default)]
pub struct SharedRecord(Arc<Mutex<HookRecord>>);

impl SharedRecord {
    /// Runs `f` on the record. A panic elsewhere while holding the lock leaves the record as
    /// it was then, which is still a record of results: the poison is ignored.
    pub fn with<T>(&self, f: impl FnOnce(&mut HookRecord) -> T) -> T {
        let mut record = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        f(&mut record)
    }
}

/// What recording a batch changed, so the publisher signals only that.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Recorded {
    /// The link's `HookResults` changed.
    pub link: bool,
    /// `FailedHooks` changed.
    pub failures: bool,
}

impl HookRecord {
    /// Records a batch's outcome at `time_us`; `name` is the link's name then (empty for
    /// `manager`). A batch that ran no script (an empty directory) changes nothing.
    pub fn record(&mut self, batch: &BatchResult, name: &str, time_us: u64) -> Recorded {
        if batch.results.is_empty() {
            return Recorded::default();
        }
        let event = batch.event.as_str().to_string();
        let runs: Vec<Run> = batch
            .results
            .iter()
            .map(|r| Run {
                script: r.script.clone(),
                time_us,
                status: r.status,
                error: r.error.clone(),
            })
            .collect();
        let mut recorded = Recorded::default();
        for run in runs.iter().filter(|r| r.failed()) {
            if self.failures.len() == RECENT_FAILURES {
                self.failures.pop_front();
            }
            self.failures.push_back(Failure {
                index: batch.ifindex.unwrap_or(0),
                name: name.to_string(),
                event: event.clone(),
                run: run.clone(),
            });
            recorded.failures = true;
        }
        if let Some(index) = batch.ifindex {
            self.links.entry(index).or_default().insert(event, runs);
            recorded.link = true;
        }
        recorded
    }

    /// Forgets the links for which `present` is false: their objects are gone, and an index is never
    /// reused while the kernel runs, so their entries would only grow. Their failures stay
    /// in the bounded list.
    pub fn retain_links(&mut self, present: impl Fn(IfIndex) -> bool) {
        self.links.retain(|index, _| present(*index));
    }

    /// `HookResults` of a link: every event's last run, events by name, scripts in run order.
    pub fn link_runs(&self, index: IfIndex) -> Vec<RunEntry> {
        self.links
            .get(&index)
            .into_iter()
            .flatten()
            .flat_map(|(event, runs)| {
                runs.iter().map(move |r| {
                    (
                        event.clone(),
                        r.script.clone(),
                        r.time_us,
                        r.status,
                        r.error.clone(),
                    )
                })
            })
            .collect()
    }

    /// `FailedHooks`: the latest failures, oldest first.
    pub fn failures(&self) -> Vec<FailureEntry> {
        self.failures
            .iter()
            .map(|f| {
                (
                    super::manager::wire_index(f.index),
                    f.name.clone(),
                    f.event.clone(),
                    f.run.script.clone(),
                    f.run.time_us,
                    f.run.status,
                    f.run.error.clone(),
                )
            })
            .collect()
    }
}

/// Now in µs since the epoch; 0 if the clock is before it.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::broker::command::HookEvent;
    use crate::hooks::ScriptResult;

    fn batch(event: &str, ifindex: Option<IfIndex>, results: &[(&str, u32, &str)]) -> BatchResult {
        BatchResult {
            event: HookEvent::parse(event).unwrap(),
            ifindex,
            results: results
                .iter()
                .map(|(script, status, error)| ScriptResult {
                    script: script.to_string(),
                    status: *status,
                    error: error.to_string(),
                })
                .collect(),
            complete: true,
            coalesced: 0,
        }
    }

    #[test]
    fn a_link_shows_each_events_last_run_and_failures_are_listed() {
        let mut record = HookRecord::default();
        let first = record.record(&batch("routable", Some(3), &[("/h/a", 0, "")]), "eth0", 10);
        assert_eq!(
            first,
            Recorded {
                link: true,
                failures: false
            }
        );
        record.record(&batch("off", Some(3), &[("/h/b", 0, "")]), "eth0", 20);
        let again = record.record(
            &batch("routable", Some(3), &[("/h/a", 1, "exit status 1")]),
            "eth0",
            30,
        );
        assert!(again.failures);
        assert_eq!(
            record.link_runs(3),
            vec![
                ("off".into(), "/h/b".into(), 20, 0, String::new()),
                (
                    "routable".into(),
                    "/h/a".into(),
                    30,
                    1,
                    "exit status 1".into()
                ),
            ]
        );
        assert_eq!(
            record.failures(),
            vec![(
                3,
                "eth0".into(),
                "routable".into(),
                "/h/a".into(),
                30,
                1,
                "exit status 1".into()
            )]
        );
        assert!(record.link_runs(4).is_empty());
    }

    #[test]
    fn failures_are_bounded_and_manager_failures_have_no_link() {
        let mut record = HookRecord::default();
        for t in 0..(RECENT_FAILURES as u64 + 5) {
            record.record(
                &batch("manager", None, &[("/h/m", 124, "timed out")]),
                "",
                t,
            );
        }
        let failures = record.failures();
        assert_eq!(failures.len(), RECENT_FAILURES);
        assert_eq!(failures[0].4, 5, "the oldest went first");
        assert_eq!((failures[0].0, failures[0].1.as_str()), (0, ""));
        assert!(record.links.is_empty(), "manager runs are not a link's");
    }

    #[test]
    fn a_removed_link_is_forgotten_and_an_empty_run_changes_nothing() {
        let mut record = HookRecord::default();
        assert_eq!(
            record.record(&batch("routable", Some(3), &[]), "eth0", 1),
            Recorded::default()
        );
        record.record(&batch("routable", Some(3), &[("/h/a", 0, "")]), "eth0", 2);
        record.retain_links(|index| index == 4);
        assert!(record.link_runs(3).is_empty());
    }
}
