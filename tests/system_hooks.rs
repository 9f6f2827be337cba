//! Hooks doing an administrator's work on the installed package: the broker stays user
//! network-broker with only CAP_NET_ADMIN in its sandbox, and its hooks run as root in the
//! hook executor (network-broker-executor.socket/.service), which serves nobody else,
//! re-checks every hook, kills hung ones with their process group, and whose death loses no
//! later event. Vendor hooks in /usr/lib/network-broker merge under /etc's. Needs root;
//! docs/testing.md (system tier).

use common::system::{Machine, CONFIG, UNIT};

const HOOKS: &str = "/etc/network-broker/routes-modified.d";
const EXECUTOR: &str = "network-broker-executor.service";
const SOCKET: &str = "/run/network-broker-executor.socket";

/// A machine with the package installed, a veth `nbv0` with a default route, and the broker
/// following it with the kernel as generator (the machine runs no networkd of its own).
fn machine(test: &str, extra_config: &str) -> Option<Machine> {
    let m = Machine::boot(test)?;
    m.install();
    m.ok(
        "ip link add nbv0 type veth peer name nbv0p && ip addr add 10.77.0.2/24 dev nbv0 \
          && ip link set nbv0p up && ip link set nbv0 up \
          && ip route add default via 10.77.0.1 dev nbv0",
    );
    let config = format!("System:\n  Generator: netlink\n{extra_config}Network:\n  Links: nbv0\n");
    m.put(CONFIG, config.as_bytes());
    m.ok("systemctl restart network-broker");
    assert_eq!(m.prop(UNIT, "ActiveState"), "active", "{}", m.journal());
    Some(m)
}

/// Installs `body` as the executable hook `dir/name`.
fn hook(m: &Machine, dir: &str, name: &str, body: &str) {
    let path = format!("{dir}/{name}");
    m.put(&path, format!("#!/bin/sh\n{body}\n").as_bytes());
    m.ok(&format!("chmod 755 {path}"));
}

/// A route change on nbv0: one `routes-modified.d` run (after its 250 ms quiet period).
fn route_change(m: &Machine, n: u8) {
    m.ok(&format!(
        "ip route add 10.99.{n}.0/24 via 10.77.0.1 dev nbv0"
    ));
}

fn executor_journal(m: &Machine) -> String {
    m.ok("journalctl -b -u network-broker-executor --no-pager -o cat")
}

#[test]
fn hooks_do_an_administrators_work_while_the_broker_stays_sandboxed() {
    let Some(m) = machine("hooks-admin", "") else {
        return;
    };
    // The original program's README example, and what administrators' hooks do.
    hook(
        &m,
        HOOKS,
        "50-admin",
        "echo \"$(date +%s) $IFACE routes modified\" >> /var/log/network-events.log\n\
         id -u > /etc/nb-hook-wrote\n\
         systemctl is-active dbus > /run/nb-hook-dbus\n\
         echo hello from the hook",
    );
    route_change(&m, 1);
    m.wait_for("the hook", "test -s /run/nb-hook-dbus");
    let log = m.ok("cat /var/log/network-events.log");
    assert!(log.contains("nbv0 routes modified"), "{log}");
    assert_eq!(m.ok("cat /etc/nb-hook-wrote"), "0\n");
    assert_eq!(m.ok("cat /run/nb-hook-dbus"), "active\n");
    // Its output is in the journal, tagged with the hook.
    m.wait_for(
        "the hook's output in the journal",
        "journalctl -b -u network-broker-executor HOOK=50-admin -o cat | grep -q 'hello from the hook'",
    );

    // The broker itself: user network-broker, CAP_NET_ADMIN (bit 12) and nothing else.
    let pid = m.prop(UNIT, "MainPID");
    let status = m.ok(&format!("cat /proc/{pid}/status"));
    let uid = m.ok("id -u network-broker").trim().to_string();
    let uid_line = status.lines().find(|l| l.starts_with("Uid:")).unwrap();
    assert!(
        uid_line.split_whitespace().skip(1).all(|u| u == uid),
        "{uid_line}"
    );
    let cap_eff = status.lines().find(|l| l.starts_with("CapEff:")).unwrap();
    assert!(cap_eff.ends_with("0000000000001000"), "{cap_eff}");
    assert_eq!(m.prop(UNIT, "ProtectSystem"), "strict");

    // Another user cannot reach the executor: the socket's mode refuses the connection ...
    let nobody = "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c \
        'import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1])' ";
    let refused = m.sh(&format!("{nobody} {SOCKET}"));
    assert!(
        !refused.status.success(),
        "uid 65534 connected to the executor"
    );
    // ... and with the mode opened up, the executor's own check of the peer's uid does.
    m.ok(&format!("chmod 666 {SOCKET}"));
    let request = format!(
        "{{\"path\":{:?},\"event\":\"routes-modified\",\"link\":null,\
          \"env\":[],\"stdin\":null,\"timeout_ms\":5000}}",
        format!("{HOOKS}/50-nobody").into_bytes()
    );
    // The hook sits among the broker's own, which may run it for a later route change of
    // nbv0 (with IFACE set); only a run for this request, which names no link, leaves a mark.
    hook(
        &m,
        HOOKS,
        "50-nobody",
        "[ -n \"$IFACE\" ] || touch /run/nb-ran-for-nobody",
    );
    m.put("/run/nb-request.json", request.as_bytes());
    let sent = m.ok(&format!(
        "setpriv --reuid=65534 --regid=65534 --clear-groups /usr/bin/python3 -c '\n\
import socket, struct, sys\n\
body = open(sys.argv[2], \"rb\").read()\n\
s = socket.socket(socket.AF_UNIX)\n\
s.connect(sys.argv[1])\n\
try:\n    s.sendall(struct.pack(\">I\", len(body)) + body); print(len(s.recv(65536)))\n\
except (BrokenPipeError, ConnectionResetError):\n    print(0)\n' {SOCKET} /run/nb-request.json"
    ));
    assert_eq!(sent.trim(), "0", "the executor answered uid 65534");
    m.ok(&format!("chmod 660 {SOCKET}"));
    assert!(
        m.sh("test -e /run/nb-ran-for-nobody").status.code() == Some(1),
        "a hook ran for uid 65534"
    );
    let journal = executor_journal(&m);
    assert!(
        journal.contains("refusing a connection from uid 65534"),
        "{journal}"
    );
}

#[test]
fn the_executor_rechecks_kills_hung_hooks_and_its_death_loses_no_event() {
    let Some(m) = machine("hooks-executor", "  HookTimeoutSec: 2\n") else {
        return;
    };
    // A hook swapped for a file of another user after the broker listed it is not run: the
    // first hook does the swap, between the broker's check and the executor's.
    hook(
        &m,
        HOOKS,
        "10-swap",
        &format!(
            "printf '#!/bin/sh\\ntouch /run/nb-swapped-ran\\n' > {HOOKS}/.20-victim.new\n\
             chmod 755 {HOOKS}/.20-victim.new && chown 65534 {HOOKS}/.20-victim.new\n\
             mv -f {HOOKS}/.20-victim.new {HOOKS}/20-victim\n\
             touch /run/nb-swap-done"
        ),
    );
    hook(&m, HOOKS, "20-victim", "touch /run/nb-original-ran");
    route_change(&m, 1);
    m.wait_for(
        "the refusal",
        "journalctl -b -u network-broker-executor -o cat | grep -q 'refusing to run'",
    );
    assert_eq!(m.sh("test -e /run/nb-swap-done").status.code(), Some(0));
    assert_eq!(m.sh("test -e /run/nb-swapped-ran").status.code(), Some(1));
    assert_eq!(m.sh("test -e /run/nb-original-ran").status.code(), Some(1));
    m.ok(&format!("rm -f {HOOKS}/10-swap {HOOKS}/20-victim"));

    // A hung hook is killed after HookTimeoutSec, with everything it started.
    hook(&m, HOOKS, "30-hang", "sleep 302 &\nexec sleep 303");
    route_change(&m, 2);
    m.wait_for("the hung hook", "pgrep -f 'sleep 30[3]'");
    m.wait_for(
        "the hung hook killed with its process group",
        "! pgrep -f 'sleep 30[23]'",
    );
    m.wait_for(
        "the timeout in the journal",
        "journalctl -b -u network-broker-executor -o cat | grep -q 'timed out'",
    );
    m.ok(&format!("rm -f {HOOKS}/30-hang"));

    // The executor killed mid-hook: that run fails, the broker carries on, the next event
    // runs in a new executor.
    hook(
        &m,
        HOOKS,
        "40-long",
        "echo $$ > /run/nb-long.pid\nexec sleep 304",
    );
    route_change(&m, 3);
    m.wait_for("the long hook", "test -s /run/nb-long.pid");
    m.ok(&format!("systemctl kill -s KILL {EXECUTOR}"));
    m.wait_for(
        "the lost run in the broker's journal",
        "journalctl -b -u network-broker -o cat | grep -q 'hook executor lost'",
    );
    m.wait_for(
        "the hook gone with the executor",
        "! pgrep -f 'sleep 30[4]'",
    );
    m.ok(&format!("rm -f {HOOKS}/40-long"));
    hook(&m, HOOKS, "50-after", "touch /run/nb-after-ran");
    route_change(&m, 4);
    m.wait_for("the next event's hook", "test -e /run/nb-after-ran");
    assert_eq!(m.prop(UNIT, "ActiveState"), "active");
    assert_eq!(m.prop(UNIT, "NRestarts"), "0");
}

#[test]
fn vendor_hooks_run_an_etc_file_replaces_them_and_dev_null_masks_them() {
    let Some(m) = machine("hooks-vendor", "") else {
        return;
    };
    let vendor = "/usr/lib/network-broker/routes-modified.d";
    assert_eq!(m.sh(&format!("test -d {vendor}")).status.code(), Some(0));
    hook(&m, vendor, "50-pkg", "echo vendor >> /run/nb-pkg");
    route_change(&m, 1);
    m.wait_for("the vendor hook", "grep -q vendor /run/nb-pkg");
    let listed = m.ok("network-brokerctl hooks");
    assert!(listed.contains(&format!("{vendor}/50-pkg")), "{listed}");

    // The administrator's file of the same name replaces it.
    hook(&m, HOOKS, "50-pkg", "echo admin >> /run/nb-pkg");
    route_change(&m, 2);
    m.wait_for("the override", "grep -q admin /run/nb-pkg");
    assert_eq!(m.ok("cat /run/nb-pkg"), "vendor\nadmin\n");
    let listed = m.ok("network-brokerctl hooks");
    assert!(listed.contains(&format!("{HOOKS}/50-pkg")), "{listed}");
    assert!(!listed.contains(&format!("{vendor}/50-pkg")), "{listed}");

    // A symlink to /dev/null masks it: neither runs (a marker hook shows the event ran).
    m.ok(&format!("ln -sf /dev/null {HOOKS}/50-pkg"));
    hook(&m, HOOKS, "90-marker", "touch /run/nb-marker");
    route_change(&m, 3);
    m.wait_for("the marker hook", "test -e /run/nb-marker");
    assert_eq!(m.ok("cat /run/nb-pkg"), "vendor\nadmin\n");
    let listed = m.ok("network-brokerctl hooks");
    assert!(!listed.contains("50-pkg"), "{listed}");
}
