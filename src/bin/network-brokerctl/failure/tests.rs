//! Unit tests of `failure` (src/bin/network-brokerctl/failure.rs).

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
