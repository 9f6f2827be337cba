//! Hooks through the hook executor, in the lab: the daemon hands every hook to
//! `network-broker-executor` (started with `--listen`, as systemd starts it on its socket), and
//! what the runner promises holds through the extra hop: one link's hooks one after another,
//! different links at the same time, each burst's hook exactly once, run by the executor's
//! process. The packaged way, with root and the sandbox, is `tests/system_hooks.rs`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::fs;
use std::path::Path;
use std::time::Duration;

use common::*;

const YAML: &str = "\
System:
  Generator: netlink
Network:
  EmitJSON: true
";

/// One line per hook start and end: `start|end NS LINK PPID`.
fn slow_hook(log: &Path) -> String {
    format!(
        "#!/bin/sh\n\
         echo \"start $(date +%s%N) $LINK $PPID\" >> {log}\n\
         sleep 1\n\
         echo \"end $(date +%s%N) $LINK $PPID\" >> {log}\n",
        log = log.display()
    )
}

/// (kind, time, link, parent pid) of every line so far.
fn events(log: &Path) -> Vec<(String, u128, String, u32)> {
    fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split_whitespace().collect();
            Some((
                f.first()?.to_string(),
                f.get(1)?.parse().ok()?,
                f.get(2)?.to_string(),
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
fn hooks_through_the_executor_keep_per_link_order_and_run_links_in_parallel() {
    let Some(lab) = Lab::require() else { return };
    let scratch = ScratchDir::new("nb-executor-");
    let log = scratch.path().join("hooks.log");
    let script = slow_hook(&log);
    let config = ConfigDir::new(
        YAML,
        &[Hook {
            event: "routes-modified",
            name: "50-slow",
            script: &script,
        }],
    );
    let socket = scratch.path().join("executor.socket");
    let socket_text = socket.display().to_string();
    let config_text = config.path().display().to_string();
    let mut executor = lab.spawn_logged(
        &[
            executor_bin(),
            "--listen",
            &socket_text,
            "--allow-user",
            "root",
            "--hook-dir",
            &config_text,
            "--idle-exit",
            "0",
        ],
        &scratch.path().join("executor.log"),
    );
    wait_until("the executor's socket", Duration::from_secs(10), || {
        if socket.exists() {
            Ok(())
        } else {
            Err(executor.log())
        }
    });
    // The wrapper execs the daemon in place, with the flag after the harness's arguments.
    let wrapper = format!("exec \"$@\" --hook-executor {socket_text}");
    let broker = Broker::start_wrapped(&lab, config, &["sh", "-c", &wrapper, "sh"]);

    let a = TestLink::veth(&lab);
    let b = TestLink::veth(&lab);
    for link in [&a, &b] {
        wait_until(
            &format!("the daemon to know {}", link.name),
            Duration::from_secs(20),
            || {
                let links = lab.try_list_links()?;
                if links.iter().any(|(i, _, _)| *i == link.ifindex) {
                    Ok(())
                } else {
                    Err(format!("{links:?}"))
                }
            },
        );
    }
    // The links' own routes (IPv6 link-local, multicast) run hooks of their own as the links
    // come up: let those end, then count from here.
    wait_until(
        "the links' own hooks to end",
        Duration::from_secs(30),
        || {
            let before = events(&log);
            std::thread::sleep(Duration::from_secs(3));
            let after = events(&log);
            let running = after.iter().filter(|e| e.0 == "start").count()
                - after.iter().filter(|e| e.0 == "end").count();
            if after.len() == before.len() && running == 0 {
                Ok(())
            } else {
                Err(format!("{} lines, {running} running", after.len()))
            }
        },
    );
    let since = now_ns();
    // Both links' routes change at once: one routes-modified run each, at the same time.
    lab.ip_batch(&format!(
        "route add 198.18.1.0/24 dev {}\nroute add 198.18.2.0/24 dev {}\n",
        a.name, b.name
    ));
    wait_until("a's hook to start", Duration::from_secs(20), || {
        let started = events(&log)
            .iter()
            .filter(|e| e.0 == "start" && e.2 == a.name && e.1 >= since)
            .count();
        if started == 1 {
            Ok(())
        } else {
            Err(format!("{started} starts"))
        }
    });
    // While a's first hook runs, a's routes change again: its second run waits for the first.
    lab.ip_batch(&format!("route add 198.18.3.0/24 dev {}\n", a.name));
    wait_until("three runs to end", Duration::from_secs(30), || {
        let ended = events(&log)
            .iter()
            .filter(|e| e.0 == "end" && e.1 >= since && (e.2 == a.name || e.2 == b.name))
            .count();
        if ended >= 3 {
            Ok(())
        } else {
            Err(format!("{ended} ended: {:?}", events(&log)))
        }
    });
    // Nothing more comes (a later run would be one too many).
    std::thread::sleep(Duration::from_millis(2500));
    let all: Vec<_> = events(&log)
        .into_iter()
        .filter(|e| e.1 >= since && (e.2 == a.name || e.2 == b.name))
        .collect();
    let of = |link: &str, kind: &str| -> Vec<u128> {
        all.iter()
            .filter(|e| e.2 == link && e.0 == kind)
            .map(|e| e.1)
            .collect()
    };
    let (a_start, a_end) = (of(&a.name, "start"), of(&a.name, "end"));
    let (b_start, b_end) = (of(&b.name, "start"), of(&b.name, "end"));
    assert_eq!(
        (a_start.len(), a_end.len()),
        (2, 2),
        "a: two bursts, two runs: {all:?}"
    );
    assert_eq!(
        (b_start.len(), b_end.len()),
        (1, 1),
        "b: one burst, one run: {all:?}"
    );
    assert!(
        a_start[1] >= a_end[0],
        "a's second run started before its first ended: {all:?}"
    );
    assert!(
        b_start[0] < a_end[0] && a_start[0] < b_end[0],
        "a's and b's first runs did not overlap: {all:?}"
    );
    // Every hook was the executor's child, not the daemon's.
    assert!(
        all.iter().all(|e| e.3 == executor.pid && e.3 != broker.pid),
        "parents {:?}, executor {}, daemon {}",
        all.iter().map(|e| e.3).collect::<Vec<_>>(),
        executor.pid,
        broker.pid
    );
    executor.kill();
}
