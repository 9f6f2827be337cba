//! How a command fails: its exit code and one line of text, built once from the error (a bus
//! error as `NAME: message`, never the same text twice), and the exit codes of
//! docs/network-brokerctl.1.md.

use network_broker::dbus::names::BUS_NAME;

/// A failure: the exit code and the line printed (none for a closed pipe).
#[derive(Debug)]
pub struct Failure {
    pub code: u8,
    pub line: Option<String>,
}

/// The daemon's error name for a rejected configuration.
pub const INVALID_CONFIG: &str = "org.freedesktop.NetworkBroker1.Error.InvalidConfig";

impl Failure {
    pub fn new(code: u8, line: impl Into<String>) -> Failure {
        Failure {
            code,
            line: Some(one_line(&line.into())),
        }
    }

    /// Standard output's reader went away: end quietly, status 0 (src/bin/network-brokerctl/output.rs).
    pub fn closed() -> Failure {
        Failure {
            code: 0,
            line: None,
        }
    }

    /// A failed bus call: `what` (the call or property) and the error. When the error says
    /// the daemon cannot be reached, the line says that, whatever the verb, and the code is 6.
    pub fn bus(what: &str, error: zbus::Error) -> Failure {
        let (name, text) = name_and_text(&error);
        let code = exit_code(name.as_deref(), &error);
        let detail = match (&name, text.is_empty()) {
            (Some(name), false) => format!("{name}: {text}"),
            (Some(name), true) => name.clone(),
            (None, _) => text,
        };
        if code == 6 {
            // No owner and nothing to activate: not running. A timeout or a broken connection
            // says only that it could not be reached.
            let absent = matches!(
                name.as_deref(),
                Some(
                    "org.freedesktop.DBus.Error.ServiceUnknown"
                        | "org.freedesktop.DBus.Error.NameHasNoOwner"
                        | "org.freedesktop.DBus.Error.Spawn.ChildExited"
                )
            );
            let what = if absent {
                "network-broker is not running"
            } else {
                "network-broker cannot be reached"
            };
            return Failure::new(6, format!("{what} ({BUS_NAME}: {detail})"));
        }
        Failure::new(code, format!("{what}: {detail}"))
    }
}

/// The error's D-Bus name, when it has one, and its message.
pub fn name_and_text(error: &zbus::Error) -> (Option<String>, String) {
    match error {
        zbus::Error::MethodError(name, text, _) => {
            (Some(name.to_string()), text.clone().unwrap_or_default())
        }
        zbus::Error::FDO(err) => {
            let name = zbus::DBusError::name(&**err).to_string();
            let text = zbus::DBusError::description(&**err)
                .unwrap_or_default()
                .to_string();
            (Some(name), text)
        }
        other => (None, other.to_string()),
    }
}

/// The exit code for a bus error, by its name (docs/network-brokerctl.1.md, EXIT STATUS).
fn exit_code(name: Option<&str>, error: &zbus::Error) -> u8 {
    if matches!(error, zbus::Error::InputOutput(_) | zbus::Error::Address(_)) {
        return 6;
    }
    match name.unwrap_or_default() {
        "org.freedesktop.NetworkBroker1.Error.InvalidArgument" => 2,
        "org.freedesktop.NetworkBroker1.Error.NoSuchLink" => 3,
        "org.freedesktop.DBus.Error.AccessDenied"
        | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => 4,
        "org.freedesktop.DBus.Error.ServiceUnknown"
        | "org.freedesktop.DBus.Error.NameHasNoOwner"
        | "org.freedesktop.DBus.Error.Spawn.ChildExited"
        | "org.freedesktop.DBus.Error.TimedOut"
        | "org.freedesktop.DBus.Error.NoReply" => 6,
        _ => 1,
    }
}

/// Line breaks and other control characters become spaces, so that every error is one line.
fn one_line(text: &str) -> String {
    let mut line: String = text
        .chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect();
    line.truncate(line.trim_end().len());
    line
}

#[cfg(test)]
mod tests;
