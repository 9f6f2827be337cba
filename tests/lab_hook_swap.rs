//! Lab test of the hooks' admission against a swap race, through the real daemon and bus: a
//! root-owned symlink in `DIR/sec.d/` leads to a root-owned script in a directory uid 65534
//! owns, and uid 65534 swaps that script with its own file (`renameat2(RENAME_EXCHANGE)`) as
//! fast as it can while root calls `RunHooks("sec", lo)` again and again. The daemon must never
//! run the swapped-in file as root, and `ListHooks`/`DryRunHooks` must not offer the link
//! (docs/hooks.md, "Which files run"). Without the lab it SKIPs, under `CI=true` it fails.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::fs;
use std::os::unix::fs::{chown, symlink, PermissionsExt};

/// The daemon follows the kernel alone: `lo` exists from the start.
const YAML: &str = "\
System:
  LogLevel: info
  Generator: netlink
";

/// Enough that, before the daemon walked the resolved path and executed the descriptor it had
/// checked, the swapped-in file ran in dozens of them.
const RUNS: usize = 150;

/// The swapper: exchanges `hook` and `evil` in its working directory for ever.
const SWAPPER: &str = "import ctypes, os\n\
libc = ctypes.CDLL(None, use_errno=True)\n\
os.chdir(os.environ['DIR'])\n\
while True:\n    libc.renameat2(-100, b'hook', -100, b'evil', 2)\n";

fn busctl_json(lab: &LabInfo, args: &[&str]) -> Value {
    let mut full = vec!["busctl", "--json=short", "--timeout=20", "call", BUS_NAME];
    full.extend_from_slice(&[MANAGER_PATH, MANAGER_IFACE]);
    full.extend_from_slice(args);
    let out = lab.run(&full);
    serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("busctl {args:?}: {e}: {out}"))
}

#[test]
fn run_hooks_never_runs_a_file_another_user_swapped_in() {
    let Some(lab) = Lab::require() else { return };
    let scratch = ScratchDir::new("nb-swap-");
    let top = scratch.path();
    let out = top.join("out");
    let theirs = top.join("theirs");
    fs::create_dir(&theirs).unwrap();
    fs::set_permissions(&theirs, fs::Permissions::from_mode(0o755)).unwrap();
    for (name, word) in [("hook", "good"), ("evil", "evil")] {
        let path = theirs.join(name);
        fs::write(
            &path,
            format!("#!/bin/sh\necho {word} >> {}\n", out.display()),
        )
        .unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
    }
    chown(theirs.join("evil"), Some(65534), Some(65534)).unwrap();
    chown(&theirs, Some(65534), Some(65534)).unwrap();

    // 10-slow runs first, so the batch's second script starts a moment after the batch was
    // listed, as it does whenever an event has several hooks.
    let slow = Hook {
        event: "sec",
        name: "10-slow",
        script: "#!/bin/sh\nsleep 0.05\n",
    };
    let config = ConfigDir::new_in(top, YAML, &[slow]);
    let link = config.path().join("sec.d/30-link");
    symlink(theirs.join("hook"), &link).unwrap();
    let broker = Broker::start_with_config(&lab, config);
    let lo = lab.ifindex("lo").to_string();

    let swapper = lab.spawn_logged(
        &[
            "setpriv",
            "--reuid=65534",
            "--regid=65534",
            "--clear-groups",
            "env",
            &format!("DIR={}", theirs.display()),
            "/usr/bin/python3",
            "-c",
            SWAPPER,
        ],
        &top.join("swapper.log"),
    );

    let link_text = link.display().to_string();
    let mut link_ran = 0;
    for _ in 0..RUNS {
        let reply = busctl_json(&lab, &["RunHooks", "si", "sec", &lo]);
        let results = reply["data"][0].as_array().cloned().unwrap_or_default();
        link_ran += results
            .iter()
            .filter(|r| r[0].as_str() == Some(link_text.as_str()))
            .count();
    }
    let listed = busctl_json(&lab, &["ListHooks"]);
    let dry = busctl_json(&lab, &["DryRunHooks", "si", "sec", &lo]);
    drop(swapper);

    let text = fs::read_to_string(&out).unwrap_or_default();
    let evil = text.lines().filter(|l| *l == "evil").count();
    let good = text.lines().filter(|l| *l == "good").count();
    eprintln!("{RUNS} RunHooks: evil ran {evil}, good ran {good}, 30-link in results {link_ran}");
    assert_eq!(
        evil,
        0,
        "uid 65534's file ran as root\n--- daemon log:\n{}",
        broker.log()
    );
    assert_eq!(link_ran, 0, "the link into uid 65534's directory was run");
    assert!(
        !listed.to_string().contains("30-link"),
        "ListHooks offers it: {listed}"
    );
    assert!(
        !dry.to_string().contains("30-link"),
        "DryRunHooks offers it: {dry}"
    );
    assert!(
        broker.log().contains("refusing to run hook"),
        "the refusal is logged:\n{}",
        broker.log()
    );
}
