//! D-Bus activation of the installed service through systemd: enabled and stopped, a call to
//! the name starts the unit (with its user and sandbox); disabled, or masked, it does not, and
//! the caller gets an error at once (docs/packaging.md, "Activation"). Needs root; see
//! docs/testing.md (system tier).

use common::system::{Machine, UNIT};

const CALL: &str = "busctl get-property org.freedesktop.NetworkBroker1 \
    /org/freedesktop/NetworkBroker1 org.freedesktop.NetworkBroker1.Manager Version";

#[test]
fn a_bus_call_starts_the_enabled_unit_not_a_disabled_or_masked_one() {
    let Some(m) = Machine::boot("activation") else {
        return;
    };
    m.install();

    // Enabled, stopped: the call activates it through systemd (SystemdService= names the
    // unit's Alias=), and the answer comes from the started daemon.
    m.ok("systemctl stop network-broker");
    assert_eq!(m.prop(UNIT, "ActiveState"), "inactive");
    let version = m.ok(CALL);
    assert!(version.starts_with("s \""), "{version}");
    assert_eq!(m.prop(UNIT, "ActiveState"), "active", "{}", m.journal());
    let pid = m.prop(UNIT, "MainPID");
    assert_eq!(
        m.ok(&format!("ps -o user= -p {pid}")).trim(),
        "network-broker"
    );

    // Disabled: the alias dbus-org.freedesktop.NetworkBroker1.service is gone with the
    // enablement, so activation has no unit to start.
    m.ok("systemctl disable --now network-broker");
    let out = m.sh(CALL);
    assert!(!out.status.success(), "a disabled unit was activated");
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("disabled: {}", err.trim());
    assert!(
        err.contains("dbus-org.freedesktop.NetworkBroker1.service"),
        "{err}"
    );
    assert_eq!(m.prop(UNIT, "ActiveState"), "inactive");

    // Masked while enabled (the alias still points at the unit, now masked): systemd refuses
    // to load the alias ("failed to load properly ... File exists" on systemd 252), nothing
    // starts.
    m.ok("systemctl enable network-broker && systemctl mask network-broker");
    assert_eq!(m.prop(UNIT, "UnitFileState"), "masked");
    let out = m.sh(CALL);
    assert!(!out.status.success(), "a masked unit was activated");
    let err = String::from_utf8_lossy(&out.stderr);
    eprintln!("masked: {}", err.trim());
    assert!(
        err.contains("dbus-org.freedesktop.NetworkBroker1.service"),
        "{err}"
    );
    assert_eq!(m.prop(UNIT, "ActiveState"), "inactive");
}
