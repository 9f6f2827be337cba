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

#[cfg(test)]
mod tests;
