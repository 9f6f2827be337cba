//! `ApiError`: every error a method of ours returns on the wire, with its name. The name table
//! is the `match` in [`ApiError::error_name`]; error names are API, and the test at the bottom
//! lists them all so that a change shows up in review.
//!
//! `zbus::DBusError` is implemented by hand because the derive prefixes every variant, while
//! denials reuse the bus's own `org.freedesktop.DBus.Error.*` names.

use std::fmt;

use zbus::message::{Header, Message};
use zbus::names::ErrorName;

use crate::broker::command::{CommandError, ReloadError};
use crate::error_chain::ErrorChain;
use crate::messages;

/// The longest text an error reply carries, in bytes: a reply never echoes a caller's
/// megabyte back (see [`quoted`] for how arguments are quoted).
pub const MAX_MESSAGE_BYTES: usize = 1024;

/// How many characters of an argument a message quotes.
const QUOTED_CHARS: usize = 64;

/// An argument for an error message: Debug-quoted, at most [`QUOTED_CHARS`] characters of
/// it, and its length in bytes when it was cut.
pub fn quoted(arg: &str) -> String {
    if arg.chars().count() <= QUOTED_CHARS {
        format!("{arg:?}")
    } else {
        let head: String = arg.chars().take(QUOTED_CHARS).collect();
        format!("{head:?}… ({} bytes)", arg.len())
    }
}

/// `text` cut to [`MAX_MESSAGE_BYTES`] at a character boundary.
fn capped(text: &str) -> &str {
    let mut end = text.len().min(MAX_MESSAGE_BYTES);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text[..end]
}

/// An error reply of the NetworkBroker1 API. Each variant carries the human-readable text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ApiError {
    /// No link has this index or name: `org.freedesktop.NetworkBroker1.Error.NoSuchLink`.
    NoSuchLink(String),
    /// An argument is out of range or malformed (an event name, an index):
    /// `org.freedesktop.NetworkBroker1.Error.InvalidArgument`.
    InvalidArgument(String),
    /// `Reload()` found a configuration it rejects; the old one stays in force:
    /// `org.freedesktop.NetworkBroker1.Error.InvalidConfig`.
    InvalidConfig(String),
    /// Policy routing could not be computed or applied:
    /// `org.freedesktop.NetworkBroker1.Error.RoutingFailed`.
    RoutingFailed(String),
    /// The daemon is stopping and does not take requests:
    /// `org.freedesktop.NetworkBroker1.Error.ShuttingDown`.
    ShuttingDown(String),
    /// polkit said no: `org.freedesktop.DBus.Error.AccessDenied`.
    AccessDenied(String),
    /// polkit would ask for authentication but the caller did not allow interaction:
    /// `org.freedesktop.DBus.Error.InteractiveAuthorizationRequired`.
    InteractiveAuthorizationRequired(String),
    /// A method that takes no arguments was called with some:
    /// `org.freedesktop.DBus.Error.InvalidArgs`, as zbus answers a wrong signature.
    InvalidArgs(String),
    /// Anything else (polkit unreachable, an internal failure):
    /// `org.freedesktop.DBus.Error.Failed`.
    Failed(String),
}

impl ApiError {
    /// The error's D-Bus name: the name table.
    pub fn error_name(&self) -> &'static str {
        match self {
            ApiError::NoSuchLink(_) => "org.freedesktop.NetworkBroker1.Error.NoSuchLink",
            ApiError::InvalidArgument(_) => "org.freedesktop.NetworkBroker1.Error.InvalidArgument",
            ApiError::InvalidConfig(_) => "org.freedesktop.NetworkBroker1.Error.InvalidConfig",
            ApiError::RoutingFailed(_) => "org.freedesktop.NetworkBroker1.Error.RoutingFailed",
            ApiError::ShuttingDown(_) => "org.freedesktop.NetworkBroker1.Error.ShuttingDown",
            ApiError::AccessDenied(_) => "org.freedesktop.DBus.Error.AccessDenied",
            ApiError::InteractiveAuthorizationRequired(_) => {
                "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired"
            }
            ApiError::InvalidArgs(_) => "org.freedesktop.DBus.Error.InvalidArgs",
            ApiError::Failed(_) => "org.freedesktop.DBus.Error.Failed",
        }
    }

    /// The human-readable text, at most [`MAX_MESSAGE_BYTES`].
    pub fn message(&self) -> &str {
        capped(match self {
            ApiError::NoSuchLink(m)
            | ApiError::InvalidArgument(m)
            | ApiError::InvalidConfig(m)
            | ApiError::RoutingFailed(m)
            | ApiError::ShuttingDown(m)
            | ApiError::AccessDenied(m)
            | ApiError::InteractiveAuthorizationRequired(m)
            | ApiError::InvalidArgs(m)
            | ApiError::Failed(m) => m,
        })
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.error_name(), self.message())
    }
}

impl std::error::Error for ApiError {}

impl zbus::DBusError for ApiError {
    fn create_reply(&self, call: &Header<'_>) -> zbus::Result<Message> {
        Message::error(call, self.error_name()).build(&(self.message(),))
    }

    fn name(&self) -> ErrorName<'_> {
        ErrorName::from_static_str_unchecked(self.error_name())
    }

    fn description(&self) -> Option<&str> {
        Some(self.message())
    }
}

impl From<CommandError> for ApiError {
    fn from(err: CommandError) -> Self {
        // The whole chain: an actor's error says what failed, its sources why.
        let text = ErrorChain(&err).to_string();
        match err {
            CommandError::NoSuchLink(_) => ApiError::NoSuchLink(text),
            CommandError::InvalidEvent(_) => ApiError::InvalidArgument(text),
            CommandError::Stopping => ApiError::ShuttingDown(text),
            CommandError::Routing(_) => ApiError::RoutingFailed(text),
            CommandError::Hooks(_) | CommandError::ListHooks(_) => ApiError::Failed(text),
        }
    }
}

impl From<ReloadError> for ApiError {
    fn from(err: ReloadError) -> Self {
        match &err {
            // The rejection as the log and `systemctl status` show it: file, line, key, why.
            ReloadError::InvalidConfig(rejected) => {
                ApiError::InvalidConfig(messages::config_rejected(rejected))
            }
            ReloadError::Stopping | ReloadError::Failed(_) => {
                ApiError::Failed(ErrorChain(&err).to_string())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Error names are API: this is the complete table.
    #[test]
    fn name_table() {
        let s = String::new;
        let table = [
            (
                ApiError::NoSuchLink(s()),
                "org.freedesktop.NetworkBroker1.Error.NoSuchLink",
            ),
            (
                ApiError::InvalidArgument(s()),
                "org.freedesktop.NetworkBroker1.Error.InvalidArgument",
            ),
            (
                ApiError::InvalidConfig(s()),
                "org.freedesktop.NetworkBroker1.Error.InvalidConfig",
            ),
            (
                ApiError::RoutingFailed(s()),
                "org.freedesktop.NetworkBroker1.Error.RoutingFailed",
            ),
            (
                ApiError::ShuttingDown(s()),
                "org.freedesktop.NetworkBroker1.Error.ShuttingDown",
            ),
            (
                ApiError::AccessDenied(s()),
                "org.freedesktop.DBus.Error.AccessDenied",
            ),
            (
                ApiError::InteractiveAuthorizationRequired(s()),
                "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
            ),
            (
                ApiError::InvalidArgs(s()),
                "org.freedesktop.DBus.Error.InvalidArgs",
            ),
            (ApiError::Failed(s()), "org.freedesktop.DBus.Error.Failed"),
        ];
        for (error, name) in &table {
            assert_eq!(error.error_name(), *name);
            assert_eq!(zbus::DBusError::name(error).as_str(), *name);
        }
        // Every variant is in the table (a new variant must be added here).
        assert_eq!(table.len(), 9);
    }

    #[test]
    fn command_errors_map_to_named_errors() {
        assert_eq!(
            ApiError::from(CommandError::NoSuchLink(7)).error_name(),
            "org.freedesktop.NetworkBroker1.Error.NoSuchLink"
        );
        assert_eq!(
            ApiError::from(CommandError::InvalidEvent("../x".into())).error_name(),
            "org.freedesktop.NetworkBroker1.Error.InvalidArgument"
        );
        assert_eq!(
            ApiError::from(CommandError::Stopping).error_name(),
            "org.freedesktop.NetworkBroker1.Error.ShuttingDown"
        );
    }
}
