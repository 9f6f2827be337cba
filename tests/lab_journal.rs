//! Lab integration tests of a reload that tells the truth and a log that reads on its own:
//! 1. `network-brokerctl reload` (the unit's `ExecReload=`), called as the daemon's own user
//!    (uid 989, as systemd runs `ExecReload=` under `User=`), waits for the daemon: a good file
//!    exits 0 and prints nothing; a rejected one exits 1 with the one line
//!    `configuration FILE:LINE:COLUMN rejected: KEY: ERROR`, and the daemon keeps running the
//!    old configuration and logs the rejection with its `MESSAGE_ID`. Another user still needs
//!    polkit, which says no.
//! 2. A failing and a timed-out hook are logged in words that name the hook, the link, the
//!    event, the status and the duration, with their `MESSAGE_ID`s.
//! 3. Under systemd (`JOURNAL_STREAM`) the entries reach the journal's socket with `MESSAGE_ID`
//!    and the fields under their own names (`IFNAME`, not tracing-journald's default
//!    `F_IFNAME`): a listener on a journal socket of the test's own, in a private mount
//!    namespace, reads what the daemon sends.
//!
//! The daemon's log in 1 and 2 is its standard error (text), which carries the same message
//! and fields as the journal. Without the lab the tests SKIP, under `CI=true` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::process::Command;

/// The daemon's user in the lab (`netlab.sh` puts it into the lab's /etc/passwd overlay).
const NB_UID: u32 = 989;
/// The daemon as the packaged unit runs it: its own user with only `CAP_NET_ADMIN`.
const SETPRIV: [&str; 7] = [
    "setpriv",
    "--reuid=989",
    "--regid=989",
    "--clear-groups",
    "--inh-caps=-all,+net_admin",
    "--ambient-caps=-all,+net_admin",
    "--bounding-set=-all,+net_admin",
];
const CONFIG_REJECTED_ID: &str = "0829df34f1f74ef1831c1339e2ff3079";
const HOOK_FAILED_ID: &str = "5a0a3f7cdaf94629929cb9a96c07aebe";
const HOOK_TIMED_OUT_ID: &str = "327f4aed4b814ee9b8a9324aec90843a";

/// Copies the project's bus policy and polkit actions into the lab (no activation file).
fn install_project(lab: &LabInfo) {
    let mut c = Command::new(NETLAB_SH);
    c.arg("install-project")
        .env("LAB_DIR", &lab.dir)
        .env("LAB_NS_PREFIX", lab.ns_prefix())
        .env_remove("LAB_BROKER_BIN");
    output_of(c).ok();
}

/// `network-brokerctl reload` inside the lab as `uid`.
fn brokerctl_reload(lab: &LabInfo, uid: u32) -> CmdOutput {
    let uid = uid.to_string();
    lab.output(&[
        "setpriv",
        &format!("--reuid={uid}"),
        &format!("--regid={uid}"),
        "--clear-groups",
        brokerctl_bin(),
        "reload",
    ])
}

#[test]
fn brokerctl_reload_as_the_daemons_user_exits_1_with_file_line_column_and_keeps_the_old_config() {
    let Some(lab) = Lab::require() else { return };
    install_project(&lab);
    let scratch = ScratchDir::new("nb-journal-");
    let runtime = scratch.path().join("runtime");
    fs::create_dir(&runtime).unwrap();
    fs::set_permissions(scratch.path(), fs::Permissions::from_mode(0o755)).unwrap();
    std::os::unix::fs::chown(&runtime, Some(NB_UID), Some(NB_UID)).unwrap();
    let good = format!(
        "System:\n  LogLevel: debug\n  Generator: netlink\n  RuntimeDirectory: {}\n",
        runtime.display()
    );
    let mut broker = Broker::start_wrapped(&lab, ConfigDir::new(&good, &[]), &SETPRIV);
    let file = broker.config.path().join("network-broker.yaml");

    // a good file: exit 0, nothing printed
    let out = brokerctl_reload(&lab, NB_UID);
    assert!(
        out.status.code() == Some(0) && out.stdout.is_empty() && out.stderr.is_empty(),
        "a good reload as uid {NB_UID} exits 0 silently: {}\n--- daemon log:\n{}",
        out.describe(),
        broker.log()
    );

    // a bad file: exit 1 and exactly the rejection line
    fs::write(
        &file,
        format!(
            "System:\n  LogLevel: debug\n  Generator: no-such-generator\n  RuntimeDirectory: {}\n",
            runtime.display()
        ),
    )
    .unwrap();
    let out = brokerctl_reload(&lab, NB_UID);
    assert_eq!(out.status.code(), Some(1), "{}", out.describe());
    assert!(out.stdout.is_empty(), "{}", out.describe());
    let lines: Vec<&str> = out.stderr.lines().collect();
    let prefix = format!(
        "configuration {}:3:14 rejected: System.Generator: ",
        file.display()
    );
    assert!(
        lines.len() == 1 && lines[0].starts_with(&prefix),
        "one line starting {prefix:?}: {}",
        out.describe()
    );
    let rejection = lines[0];

    // the daemon keeps running the old configuration, and says so in its log
    assert!(broker.try_wait().is_none(), "the daemon must keep running");
    assert_eq!(lab.name_owner_pid(BUS_NAME), Some(broker.pid));
    assert_eq!(
        lab.get_property(MANAGER_PATH, MANAGER_IFACE, "Generator"),
        "netlink",
        "the old configuration stays in force"
    );
    let log = broker.log();
    let logged = log
        .lines()
        .find(|l| l.contains(&format!("{rejection}; keeping the old one")))
        .unwrap_or_else(|| panic!("the daemon logs the rejection:\n{log}"));
    assert!(logged.contains(CONFIG_REJECTED_ID), "{logged}");

    // someone else still asks polkit, which says no
    let out = brokerctl_reload(&lab, 65534);
    assert_eq!(out.status.code(), Some(4), "{}", out.describe());

    // fixed: exit 0 again
    fs::write(&file, &good).unwrap();
    let out = brokerctl_reload(&lab, NB_UID);
    assert!(
        out.status.code() == Some(0) && out.stderr.is_empty(),
        "{}",
        out.describe()
    );

    // the daemon gone: said in words, exit 6
    broker.stop();
    let out = brokerctl_reload(&lab, 0);
    assert_eq!(out.status.code(), Some(6), "{}", out.describe());
    assert!(
        out.stderr.contains("network-broker is not running"),
        "{}",
        out.describe()
    );
}

#[test]
fn failing_and_timed_out_hooks_are_logged_naming_hook_link_event_status_and_duration() {
    let Some(lab) = Lab::require() else { return };
    let link = TestLink::veth(&lab);
    let name = link.name.clone();
    let yaml = format!(
        "System:\n  LogLevel: info\n  Generator: netlink\n  HookTimeoutSec: 1\n\
         Network:\n  Links: {name}\n"
    );
    let broker = Broker::start(
        &lab,
        &yaml,
        &[
            Hook {
                event: "routes-modified",
                name: "50-fail",
                script: "#!/bin/sh\necho 'about to fail' >&2\nexit 3\n",
            },
            Hook {
                event: "routes-modified",
                name: "60-slow",
                script: "#!/bin/sh\nexec sleep 30\n",
            },
        ],
    );
    lab.ip_batch(&format!("route add 198.18.202.0/24 dev {name}\n"));

    let failed = format!("hook 50-fail for {name} (routes-modified) exited with status 3 after ");
    let timed_out =
        format!("hook 60-slow for {name} (routes-modified) timed out after 1 s and was killed");
    let (failed_line, timed_out_line) = wait_until("both hooks to end", EVENT_TIMEOUT, || {
        let log = broker.log();
        let find = |text: &str| log.lines().find(|l| l.contains(text)).map(str::to_owned);
        match (find(&failed), find(&timed_out)) {
            (Some(a), Some(b)) => Ok((a, b)),
            _ => Err(log),
        }
    });
    let after = failed_line.split(&failed).nth(1).unwrap_or_default();
    assert!(
        after.split(' ').nth(1) == Some("ms")
            && after
                .split(' ')
                .next()
                .is_some_and(|n| n.parse::<u64>().is_ok()),
        "the duration in words: {failed_line}"
    );
    assert!(failed_line.contains(HOOK_FAILED_ID), "{failed_line}");
    assert!(
        timed_out_line.contains(HOOK_TIMED_OUT_ID),
        "{timed_out_line}"
    );
    let log = broker.log();
    assert!(
        log.lines().any(|l| l.contains("50-fail: about to fail")),
        "a hook's output names the hook:\n{log}"
    );
    assert!(
        log.lines().any(|l| l.contains(&format!(
            "hooks for {name} (routes-modified): 2 ran, 2 failed"
        ))),
        "{log}"
    );
}

/// Reads the journal's native protocol as tracing-journald writes it: `KEY=value` lines, or
/// `KEY`, a little-endian 64-bit length and the value (values with newlines or binary data).
fn journal_fields(entry: &[u8]) -> Vec<(String, String)> {
    let mut fields = Vec::new();
    let mut rest = entry;
    while let Some(nl) = rest.iter().position(|&b| b == b'\n') {
        let line = &rest[..nl];
        if let Some(eq) = line.iter().position(|&b| b == b'=') {
            fields.push((
                String::from_utf8_lossy(&line[..eq]).into_owned(),
                String::from_utf8_lossy(&line[eq + 1..]).into_owned(),
            ));
            rest = &rest[nl + 1..];
        } else {
            let Some(len) = rest.get(nl + 1..nl + 9) else {
                break;
            };
            let len = usize::try_from(u64::from_le_bytes(len.try_into().unwrap())).unwrap();
            let Some(value) = rest.get(nl + 9..nl + 9 + len) else {
                break;
            };
            fields.push((
                String::from_utf8_lossy(line).into_owned(),
                String::from_utf8_lossy(value).into_owned(),
            ));
            rest = rest.get(nl + 9 + len + 1..).unwrap_or_default();
        }
    }
    fields
}

/// Receives datagrams on the journal's socket and appends each, then a separator, to a file.
const JOURNAL_LISTENER: &str = r#"
import os, socket, sys
s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
s.bind('/run/systemd/journal/socket')
out = open(sys.argv[1], 'wb')
while True:
    data, anc, _, _ = s.recvmsg(1 << 20, socket.CMSG_SPACE(16))
    for _, kind, d in anc:
        if kind == socket.SCM_RIGHTS:
            data = os.read(int.from_bytes(d[:4], 'little'), 1 << 20)
    out.write(data + b'\n=====\n')
    out.flush()
"#;

#[test]
fn journal_entries_carry_message_id_and_the_fields_under_their_own_names() {
    let Some(lab) = Lab::require() else { return };
    wait_until("the bus name to be free", EVENT_TIMEOUT, || {
        match lab.name_owner_pid(BUS_NAME) {
            None => Ok(()),
            Some(pid) => Err(format!("owned by {pid}")),
        }
    });
    let link = TestLink::veth(&lab);
    let name = link.name.clone();
    let config = ConfigDir::new(
        &format!("System:\n  LogLevel: info\n  Generator: netlink\nNetwork:\n  Links: {name}\n"),
        &[Hook {
            event: "routes-modified",
            name: "50-fail",
            script: "#!/bin/sh\nexit 3\n",
        }],
    );
    let scratch = ScratchDir::new("nb-journal-socket-");
    let listener = scratch.path().join("listen.py");
    let dump = scratch.path().join("journal.bin");
    fs::write(&listener, JOURNAL_LISTENER).unwrap();
    // A private mount namespace inside the lab with a journal socket of our own: the daemon
    // believes systemd started it (JOURNAL_STREAM) and writes native entries to the listener.
    // /run is a fresh tmpfs there, so the bus is reached by its path outside /run.
    let bus = lab.dir.join("run/bus/system_bus_socket");
    let script = format!(
        "set -e\n\
         mount -t tmpfs tmpfs /run\n\
         mkdir -p /run/systemd/journal\n\
         python3 {listener} {dump} & listener=$!\n\
         while [ ! -S /run/systemd/journal/socket ]; do sleep 0.05; done\n\
         JOURNAL_STREAM=1:1 DBUS_SYSTEM_BUS_ADDRESS=unix:path={bus} {broker} \
           --config-dir {config} 2>{stderr} & daemon=$!\n\
         for i in $(seq 200); do grep -q cdc3a9acb8fd4e739446a2f9dd166cef {dump} 2>/dev/null && break; sleep 0.1; done\n\
         ip route add 198.18.204.0/24 dev {name}\n\
         for i in $(seq 200); do grep -q 5a0a3f7cdaf94629929cb9a96c07aebe {dump} && break; sleep 0.1; done\n\
         kill -TERM $daemon; wait $daemon || true\n\
         kill $listener\n",
        listener = listener.display(),
        broker = broker_bin(),
        dump = dump.display(),
        bus = bus.display(),
        config = config.path().display(),
        stderr = scratch.path().join("stderr").display(),
    );
    let out = lab.output(&[
        "unshare",
        "-m",
        "--propagation",
        "private",
        "sh",
        "-c",
        &script,
    ]);
    assert!(out.success(), "{}", out.describe());

    let data = fs::read(&dump).unwrap_or_default();
    const SEPARATOR: &[u8] = b"\n=====\n";
    let mut entries: Vec<Vec<(String, String)>> = Vec::new();
    let mut rest = data.as_slice();
    while let Some(at) = rest.windows(SEPARATOR.len()).position(|w| w == SEPARATOR) {
        entries.push(journal_fields(&rest[..at]));
        rest = &rest[at + SEPARATOR.len()..];
    }
    let field = |entry: &[(String, String)], key: &str| {
        entry.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone())
    };
    let with_id = |id: &str| {
        entries
            .iter()
            .find(|e| field(e, "MESSAGE_ID").as_deref() == Some(id))
            .unwrap_or_else(|| panic!("no journal entry with MESSAGE_ID={id} in {entries:#?}"))
    };
    let started = with_id("cdc3a9acb8fd4e739446a2f9dd166cef");
    assert_eq!(
        field(started, "SYSLOG_IDENTIFIER").as_deref(),
        Some("network-broker")
    );
    assert_eq!(field(started, "GENERATOR").as_deref(), Some("netlink"));
    assert!(field(started, "MESSAGE").is_some_and(|m| m.contains(" started (generator netlink, ")));
    let failed = with_id(HOOK_FAILED_ID);
    assert_eq!(
        field(failed, "MESSAGE").map(|m| m.rsplit_once(" after ").map(|(a, _)| a.to_owned())),
        Some(Some(format!(
            "hook 50-fail for {name} (routes-modified) exited with status 3"
        )))
    );
    for (key, value) in [
        ("HOOK", "50-fail"),
        ("STATUS", "3"),
        ("IFNAME", name.as_str()),
        ("EVENT", "routes-modified"),
    ] {
        assert_eq!(
            field(failed, key).as_deref(),
            Some(value),
            "{key} in {failed:#?}"
        );
    }
    assert!(
        !failed.iter().any(|(k, _)| k.starts_with("F_")),
        "no F_ prefix: {failed:#?}"
    );
}
