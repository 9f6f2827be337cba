//! The Debian package on a booted systemd: first install gives a running service with no manual
//! step, reinstall and upgrade restart it and keep the administrator's configuration, remove
//! stops it and removes its files, purge removes the configuration; policy-rc.d is honoured;
//! `systemd-analyze verify` is clean and `systemd-analyze security` is scored.
//! Needs root and `tests/system/ct.sh`; see docs/testing.md (system tier).

use common::system::{Machine, CONFIG, DEB_IN_CT, UNIT};

/// Active, never restarted (a first start that failed and was hidden by `Restart=` would show
/// here), running as its own user.
fn assert_running_cleanly(m: &Machine) {
    m.wait_for(
        "the unit to be active",
        "systemctl is-active --quiet network-broker",
    );
    assert_eq!(m.prop(UNIT, "ActiveState"), "active", "{}", m.journal());
    assert_eq!(m.prop(UNIT, "NRestarts"), "0", "{}", m.journal());
    let pid = m.prop(UNIT, "MainPID");
    let user = m.ok(&format!("ps -o user= -p {pid}"));
    assert_eq!(user.trim(), "network-broker");
}

#[test]
fn install_upgrade_remove_purge() {
    let Some(m) = Machine::boot("package") else {
        return;
    };
    // A fresh Debian 12: no such user yet, dbus-daemon has read the policy without it.
    assert!(!m.sh("getent passwd network-broker").status.success());

    m.install();
    assert_running_cleanly(&m);
    assert_eq!(
        m.ok("systemctl is-enabled network-broker").trim(),
        "enabled"
    );

    // What the package holds, where Debian 12 expects it.
    let files = m.ok("dpkg -L network-broker");
    for f in [
        "/usr/bin/network-broker",
        "/usr/bin/network-brokerctl",
        "/lib/systemd/system/network-broker.service",
        "/usr/share/dbus-1/system.d/org.freedesktop.NetworkBroker1.conf",
        "/usr/share/dbus-1/system-services/org.freedesktop.NetworkBroker1.service",
        "/usr/share/dbus-1/interfaces/org.freedesktop.NetworkBroker1.xml",
        "/usr/share/polkit-1/actions/org.freedesktop.NetworkBroker1.policy",
        "/usr/share/polkit-1/rules.d/50-network-broker.rules",
        "/usr/lib/sysusers.d/network-broker.conf",
        "/usr/lib/systemd/catalog/network-broker.catalog",
        "/etc/iproute2/rt_protos.d/network-broker.conf",
        "/usr/share/bash-completion/completions/network-brokerctl",
        "/usr/share/zsh/vendor-completions/_network-brokerctl",
        "/usr/share/fish/vendor_completions.d/network-brokerctl.fish",
        "/usr/share/man/man8/network-broker.8.gz",
        "/usr/share/man/man1/network-brokerctl.1.gz",
        "/usr/share/man/man5/network-broker.yaml.5.gz",
        "/usr/share/doc/network-broker/copyright",
        "/usr/share/doc/network-broker/changelog.gz",
        CONFIG,
    ] {
        assert!(files.lines().any(|l| l == f), "package lacks {f}:\n{files}");
    }
    let conffiles = m.ok("dpkg-query -W -f='${Conffiles}' network-broker");
    assert!(
        conffiles.contains(CONFIG),
        "{CONFIG} is not a conffile:\n{conffiles}"
    );
    // The man pages render (man-db, groff, tbl).
    for page in [
        "8 network-broker",
        "1 network-brokerctl",
        "5 network-broker.yaml",
    ] {
        let out = m.sh(&format!("MANWIDTH=80 man {page} | head -3"));
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(text.contains("NAME"), "man {page}:\n{text}");
    }
    // Computed dependencies (${shlibs:Depends}): libc at least.
    let depends = m.ok("dpkg-query -W -f='${Depends}' network-broker");
    assert!(depends.contains("libc6"), "Depends: {depends}");

    // Reinstalling the same version with an edited configuration: restarted, edit kept.
    let pid1 = m.prop(UNIT, "MainPID");
    m.ok(&format!(
        "printf '# edited by the administrator\\n' >> {CONFIG}"
    ));
    m.ok(&format!("dpkg -i {DEB_IN_CT}"));
    assert_running_cleanly(&m);
    let pid2 = m.prop(UNIT, "MainPID");
    assert_ne!(pid1, pid2, "reinstall did not restart the service");
    assert!(m
        .ok(&format!("cat {CONFIG}"))
        .contains("# edited by the administrator"));

    // A newer version (the same package, version bumped): restarted, edit kept, no prompt.
    m.ok(&format!(
        "set -e; rm -rf /root/new; dpkg-deb -R {DEB_IN_CT} /root/new
         sed -i 's/^Version: .*/&+newer1/' /root/new/DEBIAN/control
         dpkg-deb -b /root/new /root/newer.deb >/dev/null
         dpkg -i /root/newer.deb"
    ));
    assert!(m
        .ok("dpkg-query -W -f='${Version}' network-broker")
        .ends_with("+newer1"));
    assert_running_cleanly(&m);
    let pid3 = m.prop(UNIT, "MainPID");
    assert_ne!(pid2, pid3, "upgrade did not restart the service");
    assert!(m
        .ok(&format!("cat {CONFIG}"))
        .contains("# edited by the administrator"));

    // Remove: stopped, files gone, configuration kept.
    m.ok("dpkg -r network-broker");
    assert_eq!(m.prop(UNIT, "ActiveState"), "inactive");
    assert!(!m.sh("test -e /usr/bin/network-broker").status.success());
    assert!(!m
        .sh("test -e /lib/systemd/system/network-broker.service")
        .status
        .success());
    assert!(m.sh(&format!("test -e {CONFIG}")).status.success());

    // Purge: the configuration is gone too.
    m.ok("dpkg --purge network-broker");
    assert!(!m.sh(&format!("test -e {CONFIG}")).status.success());
    assert!(!m.sh("test -e /etc/network-broker").status.success());
}

#[test]
fn policy_rc_d_forbidding_start_is_honoured() {
    let Some(m) = Machine::boot("policyrcd") else {
        return;
    };
    m.ok(
        "printf '#!/bin/sh\\nexit 101\\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d",
    );
    m.install();
    // Enabled (for the next boot), but not started now: policy-rc.d said 101.
    assert_eq!(
        m.ok("systemctl is-enabled network-broker").trim(),
        "enabled"
    );
    assert_eq!(m.prop(UNIT, "ActiveState"), "inactive");
    // Once allowed, it starts cleanly: the user and the bus policy were set up all the same.
    m.ok("rm /usr/sbin/policy-rc.d; systemctl start network-broker");
    assert_eq!(m.prop(UNIT, "ActiveState"), "active", "{}", m.journal());
    assert_eq!(m.prop(UNIT, "NRestarts"), "0");
}

#[test]
fn unit_verifies_clean_and_security_is_scored() {
    let Some(m) = Machine::boot("verify") else {
        return;
    };
    m.install();
    let out = m.sh("systemd-analyze verify /lib/systemd/system/network-broker.service 2>&1");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && text.trim().is_empty(),
        "systemd-analyze verify:\n{text}"
    );
    let security = m.ok("systemd-analyze security --no-pager network-broker 2>&1");
    let overall = security
        .lines()
        .find(|l| l.contains("Overall exposure level"))
        .unwrap_or_else(|| panic!("no score in:\n{security}"));
    // Printed for docs/security.md; the score is documented there, not asserted on.
    eprintln!(
        "systemd-analyze security network-broker: {}",
        overall.trim()
    );
}
