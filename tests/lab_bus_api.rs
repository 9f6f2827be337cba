//! Lab integration tests of the bus API against the real bus daemon, the
//! real polkitd and bus activation, with the project's own `dbus/` and `polkit/` files
//! installed into the lab (`netlab.sh install-project`).  Callers run inside the lab as root or
//! as uid 65534 (`setpriv`); error names are read with `dbus-send`, which prints them
//! (`busctl` prints only the message).  Without the lab they SKIP, under `CI=true` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::fs;
use std::process::Command;
use std::time::Duration;

/// The daemon follows the kernel alone: these tests are about the bus, not networkd.
const YAML: &str = "\
System:
  LogLevel: debug
  Generator: netlink
";

const NOBODY: u32 = 65534;
const ERR_ACCESS_DENIED: &str = "org.freedesktop.DBus.Error.AccessDenied";
const ERR_NO_SUCH_LINK: &str = "org.freedesktop.NetworkBroker1.Error.NoSuchLink";
const ERR_INVALID_ARGUMENT: &str = "org.freedesktop.NetworkBroker1.Error.InvalidArgument";
const ERR_INVALID_CONFIG: &str = "org.freedesktop.NetworkBroker1.Error.InvalidConfig";

/// Copies the project's bus policy, polkit actions (and, with `broker_bin`, the activation
/// file pointing at it) into the lab, as `netlab.sh install-project` does.
fn install_project(lab: &LabInfo, broker_bin: Option<&str>) {
    let mut c = Command::new(NETLAB_SH);
    c.arg("install-project")
        .env("LAB_DIR", &lab.dir)
        .env("LAB_NS_PREFIX", lab.ns_prefix());
    match broker_bin {
        Some(bin) => c.env("LAB_BROKER_BIN", bin),
        None => c.env_remove("LAB_BROKER_BIN"),
    };
    output_of(c).ok();
    // polkitd picks the actions up by inotify: wait until it knows ours.
    let actions = ["reload", "run-hooks", "reconcile-routing"];
    wait_until(
        "polkitd to know org.freedesktop.NetworkBroker1.*",
        EVENT_TIMEOUT,
        || {
            let out = lab.output(&["pkaction"]);
            let missing: Vec<_> = actions
                .iter()
                .filter(|a| {
                    !out.stdout
                        .lines()
                        .any(|l| l.trim() == format!("org.freedesktop.NetworkBroker1.{a}"))
                })
                .collect();
            if out.success() && missing.is_empty() {
                Ok(())
            } else {
                Err(format!("missing {missing:?}; {}", out.describe()))
            }
        },
    );
}

/// The outcome of a method call made with `dbus-send`: the reply text, or (error name, message).
type CallResult = Result<String, (String, String)>;

/// Calls `method` of `path`/`iface` on the lab bus as `uid` (0 or [`NOBODY`]) with dbus-send
/// (`args` in its `type:value` syntax) and returns the reply or the error's name and message.
fn call_as(
    lab: &LabInfo,
    uid: u32,
    path: &str,
    iface: &str,
    method: &str,
    args: &[&str],
) -> CallResult {
    let mut full: Vec<String> = Vec::new();
    if uid != 0 {
        full.extend([
            "setpriv".into(),
            format!("--reuid={uid}"),
            format!("--regid={uid}"),
            "--clear-groups".into(),
        ]);
    }
    full.extend([
        "dbus-send".into(),
        "--system".into(),
        "--print-reply".into(),
        "--reply-timeout=20000".into(),
        format!("--dest={BUS_NAME}"),
        path.into(),
        format!("{iface}.{method}"),
    ]);
    full.extend(args.iter().map(|a| a.to_string()));
    let out = lab.output(&full);
    if out.success() {
        return Ok(out.stdout);
    }
    // dbus-send: "Error org.freedesktop.DBus.Error.AccessDenied: message"
    let line = out
        .stderr
        .lines()
        .find_map(|l| l.strip_prefix("Error "))
        .unwrap_or_else(|| {
            panic!(
                "dbus-send failed without an error reply: {}",
                out.describe()
            )
        });
    let (name, message) = line.split_once(": ").unwrap_or((line, ""));
    Err((name.to_string(), message.to_string()))
}

fn manager_call(lab: &LabInfo, uid: u32, method: &str, args: &[&str]) -> CallResult {
    call_as(lab, uid, MANAGER_PATH, MANAGER_IFACE, method, args)
}

/// Asserts that `got` is the error `name` and returns its message.
fn expect_error(what: &str, got: CallResult, name: &str) -> String {
    match got {
        Err((n, message)) if n == name => message,
        other => panic!("{what}: expected the error {name}, got {other:?}"),
    }
}

/// `busctl ARGS` inside the lab as uid 65534, parsed from `--json=short`.
fn busctl_as_nobody(lab: &LabInfo, args: &[&str]) -> Value {
    let mut full = vec![
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "busctl",
        "--json=short",
        "--timeout=10",
    ];
    full.extend_from_slice(args);
    let out = lab.output(&full).ok();
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("busctl {args:?}: {e}: {out}"))
}

#[test]
fn root_may_reload_and_nobody_is_denied_but_may_read() {
    let Some(lab) = Lab::require() else { return };
    install_project(&lab, None);
    let broker = Broker::start(&lab, YAML, &[]);
    let lo = lab.ifindex("lo").to_string();

    // root: polkit always authorises uid 0.  busctl, as an administrator would call it.
    let before = broker.log().matches("reload requested on the bus").count();
    let reply = lab.run(&[
        "busctl",
        "--timeout=10",
        "call",
        BUS_NAME,
        MANAGER_PATH,
        MANAGER_IFACE,
        "Reload",
    ]);
    assert_eq!(
        reply.trim(),
        "as 0",
        "Reload() of an unchanged file names no key that needs a restart"
    );
    assert_eq!(
        broker.log().matches("reload requested on the bus").count(),
        before + 1,
        "the daemon logs the reload it answered:\n{}",
        broker.log()
    );
    assert!(
        broker.log().contains("configuration reloaded"),
        "{}",
        broker.log()
    );
    // the same through dbus-send (no allow-interactive-authorization flag)
    manager_call(&lab, 0, "Reload", &[]).expect("root may Reload()");
    manager_call(&lab, 0, "ReconcileRouting", &[]).expect("root may ReconcileRouting()");

    // uid 65534: the actions say allow_any=no, there is no session: denied, without a prompt
    // (docs/dbus-api.md: AccessDenied when "polkit said no").
    let reloads = broker.log().matches("reload requested on the bus").count();
    let msg = expect_error(
        "Reload() as uid 65534",
        manager_call(&lab, NOBODY, "Reload", &[]),
        ERR_ACCESS_DENIED,
    );
    assert!(
        msg.contains("org.freedesktop.NetworkBroker1.reload"),
        "{msg}"
    );
    let msg = expect_error(
        "RunHooks(\"routable\", lo) as uid 65534",
        manager_call(
            &lab,
            NOBODY,
            "RunHooks",
            &["string:routable", &format!("int32:{lo}")],
        ),
        ERR_ACCESS_DENIED,
    );
    assert!(
        msg.contains("org.freedesktop.NetworkBroker1.run-hooks"),
        "{msg}"
    );
    let msg = expect_error(
        "ReconcileRouting() as uid 65534",
        manager_call(&lab, NOBODY, "ReconcileRouting", &[]),
        ERR_ACCESS_DENIED,
    );
    assert!(
        msg.contains("org.freedesktop.NetworkBroker1.reconcile-routing"),
        "{msg}"
    );
    // busctl sets allow-interactive-authorization by default: still no (no agent, allow_any=no)
    let out = lab.output(&[
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        "busctl",
        "call",
        BUS_NAME,
        MANAGER_PATH,
        MANAGER_IFACE,
        "Reload",
    ]);
    assert!(
        !out.success(),
        "busctl Reload as uid 65534: {}",
        out.describe()
    );
    assert!(
        // sd-bus shows a known error name by its errno text
        out.stderr.contains("Access denied"),
        "{}",
        out.describe()
    );
    assert_eq!(
        broker.log().matches("reload requested on the bus").count(),
        reloads,
        "a denied Reload() must not reach the daemon's reload:\n{}",
        broker.log()
    );
    assert!(
        broker.log().contains("authorized=false"),
        "the daemon logs polkit's answer:\n{}",
        broker.log()
    );

    // reading needs no authorisation
    let links = busctl_as_nobody(
        &lab,
        &["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListLinks"],
    );
    let names: Vec<&str> = links["data"][0]
        .as_array()
        .expect("a(iso)")
        .iter()
        .filter_map(|e| e[1].as_str())
        .collect();
    assert!(names.contains(&"lo"), "ListLinks as uid 65534: {links}");
    let version = busctl_as_nobody(
        &lab,
        &[
            "get-property",
            BUS_NAME,
            MANAGER_PATH,
            MANAGER_IFACE,
            "Version",
        ],
    );
    assert_eq!(version["data"], env!("CARGO_PKG_VERSION"));
    let name = busctl_as_nobody(
        &lab,
        &[
            "get-property",
            BUS_NAME,
            &link_path(lab.ifindex("lo")),
            LINK_IFACE,
            "Name",
        ],
    );
    assert_eq!(name["data"], "lo");
    let describe = busctl_as_nobody(
        &lab,
        &["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "Describe"],
    );
    let json: Value = serde_json::from_str(describe["data"][0].as_str().expect("s")).unwrap();
    assert_eq!(json["Generator"], "netlink", "{json}");
    assert_eq!(json["Version"], env!("CARGO_PKG_VERSION"), "{json}");
    let dry = manager_call(
        &lab,
        NOBODY,
        "DryRunHooks",
        &["string:routable", &format!("int32:{lo}")],
    );
    assert!(dry.is_ok(), "DryRunHooks as uid 65534: {dry:?}");
}

#[test]
fn every_method_with_bad_arguments_gets_its_named_error() {
    let Some(lab) = Lab::require() else { return };
    install_project(&lab, None);
    let mut broker = Broker::start(&lab, YAML, &[]);
    let lo = format!("int32:{}", lab.ifindex("lo"));

    for uid in [0, NOBODY] {
        let who = if uid == 0 { "root" } else { "uid 65534" };
        let m = expect_error(
            who,
            manager_call(&lab, uid, "GetLinkByName", &["string:nonexistent0"]),
            ERR_NO_SUCH_LINK,
        );
        assert!(m.contains("nonexistent0"), "{m}");
        for bad in ["int32:-1", "int32:0"] {
            expect_error(
                &format!("GetLinkByIndex({bad}) as {who}"),
                manager_call(&lab, uid, "GetLinkByIndex", &[bad]),
                ERR_INVALID_ARGUMENT,
            );
        }
        expect_error(
            &format!("GetLinkByIndex(999999) as {who}"),
            manager_call(&lab, uid, "GetLinkByIndex", &["int32:999999"]),
            ERR_NO_SUCH_LINK,
        );
        // Arguments are checked before polkit: uid 65534 gets the argument error too, never
        // AccessDenied (docs/dbus-api.md: bad input never prompts for a password).
        for method in ["RunHooks", "DryRunHooks"] {
            for bad_event in ["string:../x", "string:Routable", "string:"] {
                expect_error(
                    &format!("{method}({bad_event}, lo) as {who}"),
                    manager_call(&lab, uid, method, &[bad_event, &lo]),
                    ERR_INVALID_ARGUMENT,
                );
            }
            expect_error(
                &format!("{method}(routable, -1) as {who}"),
                manager_call(&lab, uid, method, &["string:routable", "int32:-1"]),
                ERR_INVALID_ARGUMENT,
            );
            expect_error(
                &format!("{method}(routable, 999999) as {who}"),
                manager_call(&lab, uid, method, &["string:routable", "int32:999999"]),
                ERR_NO_SUCH_LINK,
            );
        }
        // wrong signature: the bus library's own InvalidArgs
        expect_error(
            &format!("GetLinkByIndex(string) as {who}"),
            manager_call(&lab, uid, "GetLinkByIndex", &["string:lo"]),
            "org.freedesktop.DBus.Error.InvalidArgs",
        );
        expect_error(
            &format!("NoSuchMethod as {who}"),
            manager_call(&lab, uid, "NoSuchMethod", &[]),
            "org.freedesktop.DBus.Error.UnknownMethod",
        );
    }
    // the link objects' own method: a vanished link's object is gone with it
    expect_error(
        "Link.Describe on a path no link has",
        call_as(&lab, 0, &link_path(999999), LINK_IFACE, "Describe", &[]),
        "org.freedesktop.DBus.Error.UnknownObject",
    );

    // Reload() of an invalid file: InvalidConfig naming file and line; the old config stays
    // and the daemon keeps serving.
    let file = broker.config.path().join("network-broker.yaml");
    fs::write(
        &file,
        "System:\n  LogLevel: debug\n  Generator: no-such-generator\n",
    )
    .unwrap();
    let msg = expect_error(
        "Reload() with an invalid file",
        manager_call(&lab, 0, "Reload", &[]),
        ERR_INVALID_CONFIG,
    );
    assert!(
        msg.contains(&format!("{}:3:", file.display())),
        "the error names the file and line 3: {msg}"
    );
    assert!(msg.contains("Generator"), "the error names the key: {msg}");
    assert!(broker.try_wait().is_none(), "the daemon must keep running");
    assert_eq!(lab.name_owner_pid(BUS_NAME), Some(broker.pid));
    assert_eq!(
        lab.get_property(MANAGER_PATH, MANAGER_IFACE, "Generator"),
        "netlink",
        "the old configuration stays in force"
    );
    assert!(lab.try_list_links().is_ok());
    // a syntax error names its line too
    fs::write(
        &file,
        "System:\n  LogLevel: debug\n    Generator: [netlink\n",
    )
    .unwrap();
    let msg = expect_error(
        "Reload() with a YAML syntax error",
        manager_call(&lab, 0, "Reload", &[]),
        ERR_INVALID_CONFIG,
    );
    assert!(msg.contains(&file.display().to_string()), "{msg}");
    // valid again: accepted
    fs::write(&file, YAML).unwrap();
    manager_call(&lab, 0, "Reload", &[]).expect("Reload() of a valid file");
    assert_eq!(lab.name_owner_pid(BUS_NAME), Some(broker.pid));
    let st = broker.stop();
    assert!(st.success(), "clean stop after the rejected reloads: {st}");
}

/// The `<interface name="NAME">…</interface>` element of an introspection document, with
/// whitespace normalised: runs collapsed to one space, none between tags.
fn interface_element(xml: &str, name: &str) -> Option<String> {
    let start = xml.find(&format!("<interface name=\"{name}\">"))?;
    let end = start + xml[start..].find("</interface>")? + "</interface>".len();
    let collapsed = xml[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    Some(collapsed.replace("> <", "><"))
}

#[test]
fn introspection_on_the_real_bus_equals_the_xml_file() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let contract = fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dbus/org.freedesktop.NetworkBroker1.xml"
    ))
    .unwrap();
    let lo = lab.ifindex("lo");
    for (path, iface) in [
        (MANAGER_PATH.to_string(), MANAGER_IFACE),
        (link_path(lo), LINK_IFACE),
    ] {
        let served = lab.run(&[
            "busctl",
            "--timeout=10",
            "introspect",
            "--xml-interface",
            BUS_NAME,
            &path,
        ]);
        let want = interface_element(&contract, iface)
            .unwrap_or_else(|| panic!("{iface} missing from the XML file"));
        let got = interface_element(&served, iface)
            .unwrap_or_else(|| panic!("{iface} missing from {path}'s introspection:\n{served}"));
        if got != want {
            let at = got
                .chars()
                .zip(want.chars())
                .take_while(|(a, b)| a == b)
                .count();
            panic!(
                "{iface} at {path} differs from the XML file at char {at}:\n  served: …{}\n  file:   …{}",
                got.chars().skip(at.saturating_sub(80)).take(200).collect::<String>(),
                want.chars().skip(at.saturating_sub(80)).take(200).collect::<String>()
            );
        }
        // and the standard interfaces are there too
        assert!(
            served.contains("org.freedesktop.DBus.Properties"),
            "{served}"
        );
    }
    let manager = lab.run(&[
        "busctl",
        "introspect",
        "--xml-interface",
        BUS_NAME,
        MANAGER_PATH,
    ]);
    assert!(
        manager.contains("org.freedesktop.DBus.ObjectManager"),
        "{manager}"
    );
}

/// Lines of a `network-brokerctl monitor` log after `from` bytes.
fn log_after(child: &LabChild, from: usize) -> String {
    child.log().get(from..).unwrap_or_default().to_string()
}

#[test]
fn brokerctl_monitor_shows_a_link_added_going_down_and_up() {
    let Some(lab) = Lab::require() else { return };
    let _broker = Broker::start(&lab, YAML, &[]);
    let dir = ScratchDir::new("nb-monitor-");
    let text = lab.spawn_logged(&[brokerctl_bin(), "monitor"], &dir.path().join("text.log"));
    let json = lab.spawn_logged(
        &[brokerctl_bin(), "monitor", "--json"],
        &dir.path().join("json.log"),
    );
    // Ready when both have shown a probe link: the ctl prints nothing before its match rule is
    // in place in --json mode, so probe until a LinkAdded gets through (each probe is deleted).
    wait_until("both monitors to be subscribed", START_TIMEOUT, || {
        let probe = TestLink::veth(&lab);
        let seen = |c: &LabChild| c.log().contains(&probe.name);
        for _ in 0..50 {
            if seen(&text) && seen(&json) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Err(format!("text: {}\njson: {}", text.log(), json.log()))
    });
    let (text_from, json_from) = (text.log().len(), json.log().len());

    let link = TestLink::veth(&lab);
    let path = link.path();
    // LinkAdded, in both formats
    wait_until("LinkAdded in the monitors", EVENT_TIMEOUT, || {
        let t = log_after(&text, text_from);
        let j = log_after(&json, json_from);
        // docs/network-brokerctl.1.md: `TIME NAME LinkAdded: index N`
        let text_ok = t
            .lines()
            .any(|l| l.ends_with(&format!(" {} LinkAdded: index {}", link.name, link.ifindex)));
        let json_ok = j
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| {
                v["Signal"] == "LinkAdded"
                    && v["Name"] == link.name.as_str()
                    && v["Index"] == link.ifindex
                    && v["Path"] == MANAGER_PATH
            });
        if text_ok && json_ok {
            Ok(())
        } else {
            Err(format!("text:\n{t}\njson:\n{j}"))
        }
    });

    // KernelOperationalState as the monitor shows it for our link, last value first
    let states = |from_t: usize, from_j: usize| -> (Vec<String>, Vec<String>) {
        let t = log_after(&text, from_t)
            .lines()
            .filter_map(|l| {
                let (_, value) =
                    l.split_once(&format!(" {} KernelOperationalState: ", link.name))?;
                Some(value.to_string())
            })
            .collect();
        let j = log_after(&json, from_j)
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["Signal"] == "PropertiesChanged" && v["Path"] == path.as_str())
            .filter_map(|v| {
                v["Changed"]["KernelOperationalState"]
                    .as_str()
                    .map(str::to_string)
            })
            .collect();
        (t, j)
    };
    for (action, want) in [("down", "down"), ("up", "up")] {
        let (ft, fj) = (text.log().len(), json.log().len());
        lab.run(&["ip", "link", "set", "dev", &link.name, action]);
        wait_until(
            &format!("the monitors to show {} {want}", link.name),
            EVENT_TIMEOUT,
            || {
                let (t, j) = states(ft, fj);
                if t.last().map(String::as_str) == Some(want)
                    && j.last().map(String::as_str) == Some(want)
                {
                    Ok(())
                } else {
                    Err(format!(
                        "text {t:?} json {j:?}\ntext log:\n{}\njson log:\n{}",
                        log_after(&text, ft),
                        log_after(&json, fj)
                    ))
                }
            },
        );
    }
    // the operational state follows in the same signals (off when down, carrier-ish when up)
    let t = log_after(&text, text_from);
    assert!(
        t.lines()
            .any(|l| l.ends_with(&format!(" {} OperationalState: off", link.name))),
        "an OperationalState off for {}:\n{t}",
        link.name
    );
    drop(link);
    wait_until("LinkRemoved in the json monitor", EVENT_TIMEOUT, || {
        let j = log_after(&json, json_from);
        if j.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .any(|v| v["Signal"] == "LinkRemoved" && v["Path"] == MANAGER_PATH)
        {
            Ok(())
        } else {
            Err(j)
        }
    });
}

/// The lab's activation file for the daemon, removed on drop (so that no later test activates
/// a daemon by calling the name), and an activated daemon stopped by its PID.
struct Activation {
    lab: LabInfo,
    pid: Option<u32>,
}

impl Activation {
    fn install(lab: &LabInfo) -> Activation {
        install_project(lab, Some(broker_bin()));
        Activation {
            lab: lab.clone(),
            pid: None,
        }
    }

    fn file(&self) -> std::path::PathBuf {
        self.lab
            .dir
            .join("run/services/org.freedesktop.NetworkBroker1.service")
    }

    /// SIGTERM to the activated daemon's PID; waits until it is gone and the name is free.
    fn stop(&mut self) {
        let Some(pid) = self.pid.take() else { return };
        if let Some(p) = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
        {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::TERM);
        }
        wait_until(
            "the activated daemon to exit",
            EVENT_TIMEOUT,
            || match fs::read_to_string(format!("/proc/{pid}/stat")) {
                Err(_) => Ok(()),
                Ok(s) => Err(format!("still there: {s}")),
            },
        );
        wait_until("the name to be free", EVENT_TIMEOUT, || {
            match self.lab.name_owner_pid(BUS_NAME) {
                None => Ok(()),
                Some(p) => Err(format!("owned by {p}")),
            }
        });
    }
}

impl Drop for Activation {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.file());
        self.stop();
    }
}

/// `/proc/PID/status`'s Uid line: real, effective, saved, fs.
fn uids(pid: u32) -> Vec<u32> {
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .unwrap()
        .split_whitespace()
        .map(|u| u.parse().unwrap())
        .collect()
}

/// The activated daemon runs as the file's `User=network-broker`: the lab adds that user
/// (uid 989) to its /etc/passwd overlay, as packaging's sysusers.d does on a real system, and
/// the lab bus activates through the setuid launch helper, which honours `User=`.  The
/// project's unmodified file is installed; only `Exec=` points at the binary under test.
#[test]
fn a_call_activates_the_daemon_as_the_declared_user() {
    let Some(lab) = Lab::require() else { return };
    assert_eq!(
        lab.name_owner_pid(BUS_NAME),
        None,
        "no daemon may run before activation"
    );
    let mut act = Activation::install(&lab);
    let file = fs::read_to_string(act.file()).unwrap();
    assert!(file.contains("\nUser=network-broker\n"), "{file}");
    assert!(
        file.contains(&format!("\nExec={}\n", broker_bin())),
        "{file}"
    );
    let passwd = lab.run(&["getent", "passwd", "network-broker"]);
    let uid: u32 = passwd.split(':').nth(2).unwrap().parse().unwrap();

    // The call itself starts the daemon and is answered by it.
    let reply = lab.busctl_json(&["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListLinks"]);
    assert_eq!(reply["type"], "a(iso)", "{reply}");
    let pid = lab
        .name_owner_pid(BUS_NAME)
        .expect("the activated daemon owns the name");
    act.pid = Some(pid);
    assert_eq!(
        fs::read_link(format!("/proc/{pid}/exe")).unwrap(),
        std::path::Path::new(broker_bin()),
        "the owner is the binary under test"
    );
    assert_eq!(uids(pid), vec![uid; 4], "runs as network-broker ({uid})");
    // it serves the lab's links (once its initial dump is in)
    wait_until("the activated daemon to list lo", EVENT_TIMEOUT, || {
        let links = lab.try_list_links()?;
        if links.iter().any(|(_, n, _)| n == "lo") {
            Ok(())
        } else {
            Err(format!("{links:?}"))
        }
    });
    // As network-broker (not root) it may still ask polkit about its callers: the actions name
    // it as their owner.  Root may reload; uid 65534 is denied.
    manager_call(&lab, 0, "Reload", &[]).expect("root may Reload() the activated daemon");
    expect_error(
        "Reload() of the activated daemon as uid 65534",
        manager_call(&lab, NOBODY, "Reload", &[]),
        ERR_ACCESS_DENIED,
    );
    act.stop();
    assert_eq!(lab.name_owner_pid(BUS_NAME), None);
}

/// The call that activates the daemon is answered with the links (`lo` always exists): the
/// daemon claims its name only once the kernel's initial dump is published (this test found
/// the opposite order).
#[test]
fn the_activating_call_sees_the_links() {
    let Some(lab) = Lab::require() else { return };
    let mut act = Activation::install(&lab);
    let reply = lab.busctl_json(&["call", BUS_NAME, MANAGER_PATH, MANAGER_IFACE, "ListLinks"]);
    act.pid = lab.name_owner_pid(BUS_NAME);
    let names: Vec<&str> = reply["data"][0]
        .as_array()
        .expect("a(iso)")
        .iter()
        .filter_map(|e| e[1].as_str())
        .collect();
    assert!(names.contains(&"lo"), "the activating ListLinks(): {reply}");
}
