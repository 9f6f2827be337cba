//! `systemctl reload` and the journal of the installed service: an invalid configuration makes
//! the reload fail, with file:line:column: key: error in the journal and in the unit's status
//! line, the old configuration keeps running; a good file reloads and the status line is back;
//! `journalctl -x` explains the messages from the installed catalog; a failing hook's journal
//! line names the hook, the link, the state and the status. Needs root; docs/testing.md.

use common::system::{Machine, CONFIG, UNIT};

const STARTED_ID: &str = "cdc3a9acb8fd4e739446a2f9dd166cef";
const REJECTED_ID: &str = "0829df34f1f74ef1831c1339e2ff3079";

#[test]
fn reload_reports_a_rejected_configuration_and_keeps_the_old_one() {
    let Some(m) = Machine::boot("reload") else {
        return;
    };
    m.install();
    m.put(CONFIG, b"System:\n  Generator: netlink\n  LogLevel: info\n");
    m.ok("systemctl restart network-broker");
    let pid = m.prop(UNIT, "MainPID");
    let normal_status = m.prop(UNIT, "StatusText");

    // Line 3, column 13: the value of System.LogLevel.
    m.put(
        CONFIG,
        b"System:\n  Generator: netlink\n  LogLevel: chatty\n",
    );
    let out = m.sh("systemctl reload network-broker");
    assert!(!out.status.success(), "reload of an invalid file exited 0");
    let rejected = format!("configuration {CONFIG}:3:13 rejected: System.LogLevel:");
    m.wait_for(
        "the rejection in the journal",
        &format!("journalctl -u network-broker -o cat | grep -qF '{rejected}'"),
    );
    let status = m.prop(UNIT, "StatusText");
    assert!(status.contains(&rejected), "StatusText: {status}");
    assert_eq!(m.prop(UNIT, "ActiveState"), "active");
    assert_eq!(m.prop(UNIT, "MainPID"), pid, "the daemon was restarted");
    // The old configuration still runs.
    let status_out = m.ok("network-brokerctl status");
    assert!(status_out.contains("netlink"), "{status_out}");

    // Fixed: reload succeeds, the status line is the normal one again.
    m.put(
        CONFIG,
        b"System:\n  Generator: netlink\n  LogLevel: debug\n",
    );
    m.ok("systemctl reload network-broker");
    m.wait_for(
        "the normal status line",
        &format!(
            "[ \"$(systemctl show -p StatusText --value network-broker)\" = '{normal_status}' ]"
        ),
    );
    assert_eq!(m.prop(UNIT, "MainPID"), pid);

    // The catalog is installed and compiled: journalctl -x explains both messages.
    let catalog = m.ok("journalctl --list-catalog --no-pager 2>&1");
    for id in [STARTED_ID, REJECTED_ID] {
        assert!(catalog.contains(id), "journalctl --list-catalog lacks {id}");
    }
    let explained = m.ok(&format!(
        "journalctl -x -u network-broker --no-pager MESSAGE_ID={REJECTED_ID}"
    ));
    // journalctl 252 prefixes catalog lines with "░░ " (older ones with "-- ").
    assert!(
        explained
            .contains("Subject: network-broker rejected its configuration and keeps the old one"),
        "{explained}"
    );
    let explained = m.ok(&format!(
        "journalctl -x -u network-broker --no-pager MESSAGE_ID={STARTED_ID}"
    ));
    assert!(
        explained.contains(&format!(
            "Subject: network-broker {} started",
            env!("CARGO_PKG_VERSION")
        )),
        "{explained}"
    );
}

#[test]
fn a_failing_hook_is_named_in_the_journal() {
    let Some(m) = Machine::boot("hookfail") else {
        return;
    };
    m.install();
    m.ok(
        "ip link add nbh0 type veth peer name nbh0p && ip addr add 10.79.0.2/24 dev nbh0 \
          && ip link set nbh0p up && ip link set nbh0 up",
    );
    m.put(
        "/etc/network-broker/routes-modified.d/50-fail",
        b"#!/bin/sh\nexit 3\n",
    );
    m.ok("chmod 755 /etc/network-broker/routes-modified.d/50-fail");
    m.put(
        CONFIG,
        b"System:\n  Generator: netlink\nNetwork:\n  Links: nbh0\n",
    );
    m.ok("systemctl restart network-broker");
    m.ok("ip route add 10.80.0.0/24 via 10.79.0.1 dev nbh0");
    // The hook's own line is the hook executor's (it ran the hook), the event's summary the
    // daemon's (docs/logging.md).
    m.wait_for(
        "the hook's failure in the journal",
        "journalctl -u 'network-broker*' -o cat | grep -qE '^hook 50-fail for nbh0 \\([a-z-]+\\) exited with status 3 after '",
    );
    m.wait_for(
        "the event's summary in the daemon's journal",
        "journalctl -u network-broker -o cat | grep -qE '^hooks for nbh0 \\(routes-modified\\): 1 ran, 1 failed'",
    );
}
