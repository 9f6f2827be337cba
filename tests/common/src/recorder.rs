//! Recording hook runs: hook scripts that record every run (environment, stdin, start time)
//! and the runs read back ([`HookRecorder`], [`RecordedRun`]).

use crate::{wait_settled, Hook, ScratchDir};
use serde_json::Value;
use std::collections::BTreeMap;
use std::fs;
use std::path::Path;
use std::time::Duration;

/// The wall clock in nanoseconds since the epoch: the same clock and unit as `date +%s%N`,
/// which [`HookRecorder`]'s script stamps each run with, so a test can take a mark and select
/// the runs that *started* after it.
pub fn now_ns() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos()
}

/// One hook run recorded by [`HookRecorder`].
#[derive(Debug, Clone)]
pub struct RecordedRun {
    /// `<ns>.<pid>`: when the script started (`date +%s%N`) and its PID.
    pub id: String,
    /// When the script started, in ns since the epoch (compare with [`now_ns`]).
    pub ts: u128,
    /// `LINK`, `None` for `manager`.
    pub link: Option<String>,
    /// `EVENT`.
    pub event: String,
    /// The whole environment the script got.
    pub env: BTreeMap<String, String>,
    /// What it read on stdin.
    pub stdin: String,
}

impl RecordedRun {
    /// A variable of its environment.
    pub fn var(&self, key: &str) -> Option<&str> {
        self.env.get(key).map(String::as_str)
    }

    /// The link JSON: `JSON`, or stdin when the daemon left `JSON` out (`JSON_TRUNCATED=1`).
    pub fn json(&self) -> Option<Value> {
        match self.env.get("JSON") {
            Some(j) => serde_json::from_str(j).ok(),
            None => serde_json::from_str(&self.stdin).ok(),
        }
    }

    /// One line for messages: id, link, event and the states that chose it.
    pub fn summary(&self) -> String {
        format!(
            "{} {} {} (STATE={} OperationalState={} AdministrativeState={})",
            self.id,
            self.link.as_deref().unwrap_or("-"),
            self.event,
            self.var("STATE").unwrap_or("-"),
            self.var("OperationalState").unwrap_or("-"),
            self.var("AdministrativeState").unwrap_or("-"),
        )
    }
}

/// Lines of [`RecordedRun::summary`], for messages.
pub fn summarize(runs: &[RecordedRun]) -> String {
    if runs.is_empty() {
        return "(no runs)".into();
    }
    runs.iter()
        .map(|r| format!("    {}", r.summary()))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A hook script that records each run, to install in any number of event directories.
///
/// Each run makes `DIR/runs/<ns>.<pid>/` with `env` (`env -0`) and `stdin`, then appends one
/// line `<ns>.<pid> LINK EVENT STATE OperationalState AdministrativeState` to `DIR/runs.log`
/// (`-` for unset); the line is written last, so a run is listed only once it is complete.
/// The runs of one link never overlap (the daemon runs them one at a time, in order), so
/// their start times order them.
pub struct HookRecorder {
    dir: ScratchDir,
    script: String,
}

/// The file name of the recorder in each event directory.
pub const RECORDER_NAME: &str = "50-record";

impl HookRecorder {
    /// A recorder writing under a new `/tmp/nb-hookrec-XXXXXX`.
    pub fn new() -> HookRecorder {
        let dir = ScratchDir::new("nb-hookrec-");
        fs::create_dir(dir.path().join("runs")).unwrap();
        let out = dir.path().display().to_string();
        let script = format!(
            "#!/bin/sh\n\
             # network-broker lab test: record this run (environment, stdin), then one line\n\
             t=$(date +%s%N)\n\
             d={out}/runs/$t.$$\n\
             mkdir \"$d\" || exit 1\n\
             env -0 >\"$d/env\"\n\
             cat >\"$d/stdin\"\n\
             echo \"$t.$$ ${{LINK:--}} ${{EVENT:--}} ${{STATE:--}} ${{OperationalState:--}} ${{AdministrativeState:--}}\" >>{out}/runs.log\n"
        );
        HookRecorder { dir, script }
    }

    /// Its directory (a test may keep other files there, e.g. a `RuntimeDirectory`).
    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The recorder installed as `<event>.d/50-record` for each of `events`.
    pub fn hooks<'a>(&'a self, events: &[&'a str]) -> Vec<Hook<'a>> {
        events
            .iter()
            .map(|event| Hook {
                event,
                name: RECORDER_NAME,
                script: &self.script,
            })
            .collect()
    }

    /// Every completed run so far, in start order.
    pub fn runs(&self) -> Vec<RecordedRun> {
        let log = fs::read_to_string(self.path().join("runs.log")).unwrap_or_default();
        let mut runs: Vec<RecordedRun> = log
            .lines()
            .filter_map(|line| {
                let mut f = line.split(' ');
                let id = f.next()?.to_owned();
                let ts = id.split('.').next()?.parse().ok()?;
                let link = f.next().filter(|l| *l != "-").map(str::to_owned);
                let event = f.next()?.to_owned();
                let d = self.path().join("runs").join(&id);
                let env = parse_environ(&fs::read(d.join("env")).unwrap_or_default());
                let stdin = fs::read_to_string(d.join("stdin")).unwrap_or_default();
                Some(RecordedRun {
                    id,
                    ts,
                    link,
                    event,
                    env,
                    stdin,
                })
            })
            .collect();
        runs.sort_by(|a, b| a.ts.cmp(&b.ts).then_with(|| a.id.cmp(&b.id)));
        runs
    }

    /// The completed runs that started after `since` ([`now_ns`]), for link `link` (`None`:
    /// every link and `manager`), in start order.
    pub fn runs_since(&self, since: u128, link: Option<&str>) -> Vec<RecordedRun> {
        self.runs()
            .into_iter()
            .filter(|r| r.ts > since && link.is_none_or(|l| r.link.as_deref() == Some(l)))
            .collect()
    }

    /// Waits until no run has completed for `quiet` (at most 90 s in all); for asserting what
    /// did *not* run, after the test has made sure that anything due was already submitted.
    pub fn settle(&self, quiet: Duration) -> usize {
        wait_settled(
            "hook runs to stop coming",
            quiet,
            Duration::from_secs(90),
            || self.runs().len(),
        )
    }
}

impl Default for HookRecorder {
    fn default() -> Self {
        Self::new()
    }
}

/// An environment as `/proc/PID/environ` and `env -0` write it (`KEY=VALUE` entries, each
/// ended by a NUL), as a map; an entry without `=` is left out.
pub fn parse_environ(bytes: &[u8]) -> BTreeMap<String, String> {
    bytes
        .split(|b| *b == 0)
        .filter(|kv| !kv.is_empty())
        .filter_map(|kv| {
            let kv = String::from_utf8_lossy(kv);
            kv.split_once('=')
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
        })
        .collect()
}
