//! The installed service does its job under its sandbox, as user network-broker with only
//! CAP_NET_ADMIN, started by systemd: policy rules and routes for a listed veth are in the
//! kernel, a `routes-modified.d` hook runs (in the hook executor), the bus API
//! answers and `network-brokerctl status` works. Needs root; docs/testing.md (system tier).

use common::system::{Machine, CONFIG, UNIT};

#[test]
fn routes_hooks_and_bus_work_under_the_sandbox() {
    let Some(m) = Machine::boot("sandbox") else {
        return;
    };
    m.install();
    // A link of the machine's own (it has only lo): a veth pair, one end addressed and up,
    // with a default route through it in the main table.
    m.ok(
        "ip link add nbv0 type veth peer name nbv0p && ip addr add 10.77.0.2/24 dev nbv0 \
          && ip link set nbv0p up && ip link set nbv0 up \
          && ip route add default via 10.77.0.1 dev nbv0",
    );
    let hook = "#!/bin/sh\n\
                # runs as root, in the hook executor (tests/system_hooks.rs)\n\
                { id -un; echo \"$IFACE\"; } > /run/network-broker/hook-ran.$IFACE\n";
    m.put(
        "/etc/network-broker/routes-modified.d/50-record",
        hook.as_bytes(),
    );
    m.ok("chmod 755 /etc/network-broker/routes-modified.d/50-record");
    // The kernel is the generator here: the machine runs no systemd-networkd of its own.
    m.put(
        CONFIG,
        b"System:\n  Generator: netlink\nNetwork:\n  Links: nbv0\n  RoutingPolicyRules: nbv0\n",
    );
    m.ok("systemctl restart network-broker");
    assert_eq!(m.prop(UNIT, "ActiveState"), "active", "{}", m.journal());
    let ifindex = m.ok("cat /sys/class/net/nbv0/ifindex").trim().to_string();
    let table = 1000 + ifindex.parse::<u32>().unwrap();

    m.wait_for(
        "the policy rules",
        "ip rule show | grep -q 'from 10.77.0.2 lookup' && ip rule show | grep -q 'to 10.77.0.2 lookup'",
    );
    let rules = m.ok("ip rule show");
    assert!(
        rules.contains(&format!(
            "from 10.77.0.2 lookup {table} proto network-broker"
        )),
        "{rules}"
    );
    m.wait_for(
        "the table's routes",
        &format!("ip route show table {table} | grep -q '^default via 10.77.0.1'"),
    );
    let routes = m.ok(&format!("ip route show table {table}"));
    assert!(routes.contains("10.77.0.0/24 dev nbv0"), "{routes}");
    assert!(routes.contains("proto network-broker"), "{routes}");

    // A route change on the link runs routes-modified.d (as root, by the executor).
    m.ok("ip route add 10.78.0.0/24 via 10.77.0.1 dev nbv0");
    m.wait_for("the hook", "test -s /run/network-broker/hook-ran.nbv0");
    let ran = m.ok("cat /run/network-broker/hook-ran.nbv0");
    assert_eq!(ran, "root\nnbv0\n", "{}", m.journal());

    // The bus API answers, and so does the command-line client (as root and as a user).
    let version = m.ok(
        "busctl get-property org.freedesktop.NetworkBroker1 /org/freedesktop/NetworkBroker1 \
         org.freedesktop.NetworkBroker1.Manager Version",
    );
    assert!(version.starts_with("s \""), "{version}");
    let status = m.ok("network-brokerctl status");
    assert!(status.contains("netlink"), "{status}");
    m.ok("setpriv --reuid=nobody --regid=nogroup --clear-groups network-brokerctl links | grep -q nbv0");

    // Still the same process, never restarted, as its own user with CAP_NET_ADMIN only.
    assert_eq!(m.prop(UNIT, "NRestarts"), "0");
    let pid = m.prop(UNIT, "MainPID");
    let caps = m.ok(&format!("grep -E '^Cap(Eff|Bnd)' /proc/{pid}/status"));
    // CAP_NET_ADMIN is bit 12: 0x1000.
    assert!(
        caps.lines()
            .all(|l| l.trim_end().ends_with("0000000000001000")),
        "{caps}"
    );
}
