//! What a batch of hooks runs for: [`HookEvent`], the one place that says which directory
//! (`<event>.d`) an event selects and which `STATE` value its hooks get. The directories the
//! daemon creates ([`EVENT_DIRS`]) are named here too.

use std::fmt;

use crate::model::StateProperty;

use super::discover::is_valid_event_name;

/// Directories the daemon creates in the configuration directory at start-up.
pub const EVENT_DIRS: [&str; 7] = [
    "carrier.d",
    "configured.d",
    "degraded.d",
    "no-carrier.d",
    "routable.d",
    "manager.d",
    "routes-modified.d",
];

/// The event a hook request is about; its name is the directory stem.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum HookEvent {
    /// A link reached a networkd state (an `OperationalState` or `AdministrativeState` value
    /// such as `routable`, `no-carrier`, `configured`): `<state>.d`, with `STATE=<state>`.
    State(&'static str),
    /// The manager's states changed: `manager.d`.
    Manager,
    /// A link's routes changed and have been quiet since: `routes-modified.d`.
    RoutesModified,
    /// Any other plain name, asked for by an administrator (`RunHooks("sec", …)` runs
    /// `sec.d`).
    Named(EventName),
}

/// A plain event name that is neither a state nor one of the broker's own events: only
/// [`HookEvent::parse`] makes one, so it is always `[a-z0-9-]+`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EventName(String);

/// An event name that is not `[a-z0-9-]+` (at most 64 bytes): it must never select a
/// directory (networkd-dispatcher's CVE-2022-29799).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid hook event name {0:?}: expected [a-z0-9-]+")]
pub struct InvalidEventName(pub String);

/// The broker's `routes-modified` event name.
const ROUTES_MODIFIED: &str = "routes-modified";
/// The manager's event name.
const MANAGER: &str = "manager";

impl HookEvent {
    /// The event a name asks for: a networkd state value is a [`HookEvent::State`] (so its
    /// hooks get `STATE`), `manager` and `routes-modified` the broker's own events, any other
    /// plain name [`HookEvent::Named`].
    pub fn parse(name: &str) -> Result<Self, InvalidEventName> {
        if !is_valid_event_name(name) {
            return Err(InvalidEventName(name.to_string()));
        }
        Ok(Self::from_plain(name))
    }

    /// `name`, already known to be plain (or, in tests, deliberately not).
    fn from_plain(name: &str) -> Self {
        if let Some(state) = state_value(name) {
            return HookEvent::State(state);
        }
        match name {
            MANAGER => HookEvent::Manager,
            ROUTES_MODIFIED => HookEvent::RoutesModified,
            other => HookEvent::Named(EventName(other.to_string())),
        }
    }

    /// The event's name, the directory stem and the hooks' `EVENT`.
    pub fn as_str(&self) -> &str {
        match self {
            HookEvent::State(state) => state,
            HookEvent::Manager => MANAGER,
            HookEvent::RoutesModified => ROUTES_MODIFIED,
            HookEvent::Named(EventName(name)) => name,
        }
    }

    /// The directory holding the event's hooks, relative to the configuration directory.
    pub fn dir_name(&self) -> String {
        format!("{}.d", self.as_str())
    }

    /// networkd-dispatcher's `STATE` variable: the state that chose the directory; `None`
    /// for events that are not a state.
    pub fn state(&self) -> Option<&'static str> {
        match self {
            HookEvent::State(state) => Some(state),
            _ => None,
        }
    }
}

/// `name` as a value one of networkd's state properties may take.
fn state_value(name: &str) -> Option<&'static str> {
    StateProperty::ALL.iter().find_map(|p| p.validate(name))
}

impl fmt::Display for HookEvent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for HookEvent {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

/// Tests build requests from literals, including names the runner must refuse (`../etc`).
#[cfg(test)]
impl From<&str> for HookEvent {
    fn from(name: &str) -> Self {
        Self::from_plain(name)
    }
}

#[cfg(test)]
mod tests;
