//! Which state hooks already ran during this boot, so that a restarted daemon's startup
//! triggers do not run them again for states that did not change. The broker records a state
//! once its hooks completed (not when they were queued): a daemon stopped or killed while they
//! ran or waited runs them again at its next start. [`super::dispatched_file`] keeps it on
//! disk; this is the memory itself and its text form.
//!
//! Format, one line per link and property: `IFINDEX PROPERTY VALUE`, e.g.
//! `3 OperationalState routable`. Lines that do not parse, or name a value not on networkd's
//! lists, are ignored: the worst case is one extra hook run.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use crate::model::{IfIndex, StateProperty};

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

    /// The file's text, written into one buffer: a `format!` per line was 15 % of the
    /// daemon's CPU while 4,096 links appeared (docs/benchmarks.md, "CPU and latency").
    pub fn render(&self) -> String {
        // A line is an index, a property name and a value: 40 bytes covers nearly all.
        let mut text = String::with_capacity(self.0.len() * 40);
        for ((index, property), value) in &self.0 {
            // Writing into a String cannot fail.
            let _ = writeln!(text, "{index} {} {value}", property.name());
        }
        text
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
        // One lookup per property, not a pass over every link's entries: links going away
        // by the thousand would make that quadratic.
        let mut forgot = false;
        for property in StateProperty::ALL {
            forgot |= self.0.remove(&(index, property)).is_some();
        }
        forgot
    }
}

#[cfg(test)]
mod tests;
