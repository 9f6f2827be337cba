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
mod tests {
    use super::*;

    fn method_error(name: &str, text: &str) -> zbus::Error {
        let name = zbus::names::OwnedErrorName::try_from(name.to_string());
        let Ok(name) = name else {
            panic!("bad error name in the test");
        };
        let Ok(msg) = zbus::Message::method_call("/", "Ping").build(&()) else {
            panic!("cannot build a message in the test");
        };
        zbus::Error::MethodError(name, Some(text.to_string()), msg)
    }

    #[test]
    fn an_access_denied_error_is_named_once() {
        let name = "org.freedesktop.DBus.Error.AccessDenied";
        let text = "not authorized for org.freedesktop.NetworkBroker1.reload";
        let failure = Failure::bus("Reload", method_error(name, text));
        assert_eq!(failure.code, 4);
        let line = failure.line.unwrap_or_default();
        assert_eq!(line, format!("Reload: {name}: {text}"));
        assert_eq!(line.matches(name).count(), 1);
    }

    #[test]
    fn fdo_errors_are_named_once_too() {
        let err = zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied(
            "not authorized".into(),
        )));
        let failure = Failure::bus("Reload", err);
        assert_eq!(failure.code, 4);
        assert_eq!(
            failure.line.as_deref(),
            Some("Reload: org.freedesktop.DBus.Error.AccessDenied: not authorized")
        );
    }

    #[test]
    fn a_daemon_that_is_not_there_is_exit_6_with_one_clear_line() {
        let err = method_error(
            "org.freedesktop.DBus.Error.ServiceUnknown",
            "The name is not activatable",
        );
        let failure = Failure::bus("ListLinks", err);
        assert_eq!(failure.code, 6);
        let line = failure.line.unwrap_or_default();
        assert!(line.starts_with("network-broker is not running"), "{line}");
        assert!(line.contains("ServiceUnknown"), "{line}");
    }

    #[test]
    fn a_daemon_that_does_not_answer_is_exit_6_and_said_so() {
        let err = method_error("org.freedesktop.DBus.Error.NoReply", "no reply");
        let failure = Failure::bus("ListLinks", err);
        assert_eq!(failure.code, 6);
        let line = failure.line.unwrap_or_default();
        assert!(
            line.starts_with("network-broker cannot be reached ("),
            "{line}"
        );
    }

    #[test]
    fn multi_line_texts_become_one_line() {
        let failure = Failure::new(1, "a\nb\r\n");
        assert_eq!(failure.line.as_deref(), Some("a b"));
    }

    #[test]
    fn other_names_keep_their_codes() {
        let cases = [
            ("org.freedesktop.NetworkBroker1.Error.NoSuchLink", 3),
            ("org.freedesktop.NetworkBroker1.Error.InvalidArgument", 2),
            (
                "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired",
                4,
            ),
            ("org.freedesktop.DBus.Error.Failed", 1),
        ];
        for (name, code) in cases {
            assert_eq!(
                Failure::bus("x", method_error(name, "t")).code,
                code,
                "{name}"
            );
        }
    }
}
