//! Which state hooks already ran during this boot, so that a restarted daemon's startup
//! triggers do not run them again for states that did not change. Kept as a small text file
//! in the runtime directory (`/run/network-broker/dispatched`), which the next boot starts
//! without. The broker records a state once its hooks completed (not when they were queued):
//! a daemon stopped or killed while they ran or waited runs them again at its next start.
//!
//! Format, one line per link and property: `IFINDEX PROPERTY VALUE`, e.g.
//! `3 OperationalState routable`. Lines that do not parse, or name a value not on networkd's
//! lists, are ignored: the worst case is one extra hook run.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use tokio::sync::watch;
use tracing::{debug, warn};

use crate::model::{IfIndex, StateProperty};

/// File name inside the runtime directory.
pub const FILE_NAME: &str = "dispatched";

/// Last dispatched value per link and property.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Dispatched(BTreeMap<(IfIndex, StateProperty), &'static str>);

impl Dispatched {
    /// Parses the file's text.
    pub fn parse(text: &str) -> Self {
        let mut map = BTreeMap::new();
        for line in text.lines() {
            let mut fields = line.split_whitespace();
            let (Some(index), Some(property), value) =
                (fields.next(), fields.next(), fields.next())
            else {
                continue;
            };
            let Ok(index) = index.parse::<IfIndex>() else {
                continue;
            };
            let Some(property) = StateProperty::from_name(property) else {
                continue;
            };
            let Some(value) = property.validate(value.unwrap_or("")) else {
                continue;
            };
            map.insert((index, property), value);
        }
        Dispatched(map)
    }

    /// The file's text.
    pub fn render(&self) -> String {
        self.0
            .iter()
            .map(|((index, property), value)| format!("{index} {} {value}\n", property.name()))
            .collect()
    }

    /// Whether `value` of `property` was the last one dispatched for this link.
    pub fn contains(&self, index: IfIndex, property: StateProperty, value: &str) -> bool {
        self.0.get(&(index, property)).is_some_and(|v| *v == value)
    }

    /// Records a dispatch; returns whether anything changed.
    pub fn record(&mut self, index: IfIndex, property: StateProperty, value: &'static str) -> bool {
        self.0.insert((index, property), value) != Some(value)
    }

    /// Forgets a link that is gone (its index will not come back in this boot).
    pub fn forget(&mut self, index: IfIndex) -> bool {
        let before = self.0.len();
        self.0.retain(|(i, _), _| *i != index);
        self.0.len() != before
    }
}

/// Reads the file; a missing or unreadable file is an empty memory.
pub fn load(dir: &Path) -> Dispatched {
    let path = dir.join(FILE_NAME);
    match std::fs::read_to_string(&path) {
        Ok(text) => Dispatched::parse(&text),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Dispatched::default(),
        Err(err) => {
            warn!(path = %path.display(), error = %err, "cannot read the dispatched states from {}, starting afresh: {err}", path.display());
            Dispatched::default()
        }
    }
}

/// Writes each new memory to `dir/dispatched` (atomically: a temporary file renamed over the
/// old one), latest first: intermediate versions are skipped when writes fall behind.
pub async fn write_task(dir: PathBuf, mut memory: watch::Receiver<Dispatched>) {
    while memory.changed().await.is_ok() {
        let text = memory.borrow_and_update().render();
        let target = dir.clone();
        let written = tokio::task::spawn_blocking(move || write_atomically(&target, &text)).await;
        match written {
            Ok(Ok(())) => debug!("dispatched states saved"),
            Ok(Err(err)) => {
                warn!(dir = %dir.display(), error = %err, "cannot save the dispatched states in {}: {err}", dir.display())
            }
            Err(err) => warn!(error = %err, "saving the dispatched states failed: {err}"),
        }
    }
}

fn write_atomically(dir: &Path, text: &str) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let temporary = dir.join(format!(".{FILE_NAME}.tmp"));
    std::fs::write(&temporary, text)?;
    std::fs::rename(&temporary, dir.join(FILE_NAME))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_ignores_garbage() {
        let mut memory = Dispatched::default();
        assert!(memory.record(3, StateProperty::Operational, "routable"));
        assert!(!memory.record(3, StateProperty::Operational, "routable"));
        assert!(memory.record(3, StateProperty::Administrative, "configured"));
        assert!(memory.record(4, StateProperty::Operational, "no-carrier"));
        let text = memory.render();
        assert_eq!(
            text,
            "3 OperationalState routable\n3 AdministrativeState configured\n\
             4 OperationalState no-carrier\n"
        );
        let noisy = format!(
            "{text}x OperationalState routable\n5 Bogus routable\n6 OperationalState ../x\n\n7\n"
        );
        assert_eq!(Dispatched::parse(&noisy), memory);
        assert!(memory.forget(3));
        assert!(!memory.contains(3, StateProperty::Operational, "routable"));
        assert!(memory.contains(4, StateProperty::Operational, "no-carrier"));
    }

    #[tokio::test]
    async fn the_writer_saves_the_latest_memory() {
        let dir = tempfile::tempdir().unwrap();
        let (tx, rx) = watch::channel(Dispatched::default());
        let task = tokio::spawn(write_task(dir.path().join("sub"), rx));
        let mut memory = Dispatched::default();
        memory.record(9, StateProperty::Operational, "degraded");
        tx.send_replace(memory.clone());
        drop(tx);
        task.await.unwrap();
        assert_eq!(load(&dir.path().join("sub")), memory);
    }
}
