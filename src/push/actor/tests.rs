//! Unit tests of `crate::push::actor`.

use super::*;
use zbus::names::OwnedErrorName;

fn method_error(name: &str) -> CallError {
    let msg = zbus::Message::method_call("/", "Ping")
        .build(&())
        .unwrap_or_else(|e| panic!("{e}"));
    let name = OwnedErrorName::try_from(name).unwrap_or_else(|e| panic!("{e}"));
    CallError::Bus(zbus::Error::MethodError(name, Some("detail".into()), msg))
}

fn fdo_error(err: zbus::fdo::Error) -> CallError {
    CallError::Bus(zbus::Error::FDO(Box::new(err)))
}

#[test]
fn failure_classifies_resolved_and_bus_errors() {
    assert_eq!(
        method_error("org.freedesktop.resolve1.LinkBusy").failure(),
        Failure::LinkBusy
    );
    assert_eq!(
        method_error("org.freedesktop.resolve1.NoSuchLink").failure(),
        Failure::NoSuchLink
    );
    assert_eq!(
        fdo_error(zbus::fdo::Error::ServiceUnknown("x".into())).failure(),
        Failure::Absent
    );
    assert_eq!(
        fdo_error(zbus::fdo::Error::NoReply("x".into())).failure(),
        Failure::Absent
    );
    assert_eq!(
        method_error("org.freedesktop.DBus.Error.Spawn.ChildExited").failure(),
        Failure::Absent
    );
    assert_eq!(
        fdo_error(zbus::fdo::Error::AccessDenied("x".into())).failure(),
        Failure::Denied
    );
    assert_eq!(
        method_error("org.freedesktop.DBus.Error.InteractiveAuthorizationRequired").failure(),
        Failure::Denied
    );
    assert_eq!(
        fdo_error(zbus::fdo::Error::InvalidArgs("x".into())).failure(),
        Failure::Other
    );
    assert_eq!(CallError::Timeout.failure(), Failure::Other);
}

#[test]
fn listed_formats_parts_for_logs() {
    let ips: Vec<std::net::IpAddr> = vec![[192, 0, 2, 1].into(), [192, 0, 2, 2].into()];
    assert_eq!(Listed(Some(&ips[..])).to_string(), "192.0.2.1 192.0.2.2");
    assert_eq!(Listed::<String>(Some(&[])).to_string(), "(none)");
    assert_eq!(Listed::<String>(None).to_string(), "(unchanged)");
}

#[test]
fn link_calls_are_named_as_on_the_bus() {
    assert_eq!(LinkCall::Revert.to_string(), "RevertLink");
    assert_eq!(LinkCall::Dns.to_string(), "SetLinkDNS");
    assert_eq!(LinkCall::Domains.to_string(), "SetLinkDomains");
}
