//! Lab tests of the Manager's numbered event stream (docs/dbus-api.md, "The event stream")
//! with clients the daemon did not write: the python3-dbus subscriber in
//! `examples/follow-links.py`, restarted in the middle of a known series of events, must
//! print every event exactly once and in order (checked against the daemon's history and a
//! `busctl monitor` of the whole run); `network-brokerctl monitor --since N` prints the
//! history after N and then the live events, each once; a history too short for the
//! number asked says so. Without the lab they SKIP, under `CI=true` they fail.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::fs;
use std::process::Command;
use std::time::Duration;

/// The example subscriber.
const FOLLOW_LINKS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/follow-links.py");

/// The daemon on the kernel alone, with a history longer than everything a test makes.
fn yaml(history: usize) -> String {
    format!("System:\n  LogLevel: debug\n  Generator: netlink\n  EventHistory: {history}\n")
}

/// Every Manager signal, from anyone (the daemon sends some before it owns its name).
const MANAGER_SIGNALS: &str =
    "type='signal',interface='org.freedesktop.NetworkBroker1.Manager',path='/org/freedesktop/NetworkBroker1'";

/// `EventsSince(after)` read with busctl: (stream id, complete, [(sequence, signal)]).
fn events_since(lab: &LabInfo, after: u64) -> (String, bool, Vec<(u64, String)>) {
    let data = lab.call(
        MANAGER_PATH,
        MANAGER_IFACE,
        "EventsSince",
        &["t", &after.to_string()],
    );
    let events = data[2]
        .as_array()
        .expect("a(ttsav)")
        .iter()
        .map(|e| {
            (
                e[0].as_u64().expect("sequence"),
                e[2].as_str().expect("signal").to_string(),
            )
        })
        .collect();
    (
        data[0].as_str().expect("stream id").to_string(),
        data[1].as_bool().expect("complete"),
        events,
    )
}

/// `EventSequence`.
fn event_sequence(lab: &LabInfo) -> u64 {
    lab.get_property(MANAGER_PATH, MANAGER_IFACE, "EventSequence")
        .as_u64()
        .expect("EventSequence is a t")
}

/// The `SEQUENCE SIGNAL ...` lines a subscriber printed, as (sequence, signal).
fn printed_events(log: &str) -> Vec<(u64, String)> {
    log.lines()
        .filter_map(|l| {
            let mut words = l.split(' ');
            let sequence = words.next()?.parse().ok()?;
            Some((sequence, words.next()?.to_string()))
        })
        .collect()
}

/// Waits until the text `log` holds from byte `from` on satisfies `pred`.
fn wait_log(what: &str, log: &std::path::Path, from: usize, pred: impl Fn(&str) -> bool) {
    wait_until(what, EVENT_TIMEOUT, || {
        let text = fs::read_to_string(log).unwrap_or_default();
        if pred(text.get(from..).unwrap_or_default()) {
            Ok(())
        } else {
            Err(format!("{} so far:\n{text}", log.display()))
        }
    });
}

/// The daemon with `EventHistory: history`, a scratch directory and a veth pair.
fn daemon_with_link(lab: &LabInfo, history: usize) -> (Broker, ScratchDir, TestLink) {
    let broker = Broker::start(lab, &yaml(history), &[]);
    let scratch = ScratchDir::new("nb-stream");
    let link = TestLink::veth(lab);
    (broker, scratch, link)
}

/// The subscriber, started inside the lab (from `/`, where no `dbus/` folder shadows the
/// module) on the state file `state`, its output appended to `log`; once it has said that it
/// follows.
fn start_follower(lab: &LabInfo, state: &std::path::Path, log: &std::path::Path) -> LabChild {
    let before = fs::read_to_string(log).unwrap_or_default().len();
    let child = lab.spawn_logged(
        &[
            // Debian's interpreter, the one python3-dbus is installed for (not a pyenv's).
            "/usr/bin/python3",
            FOLLOW_LINKS,
            "--state",
            state.to_str().expect("UTF-8 path"),
        ],
        log,
    );
    wait_log("the subscriber to follow", log, before, |t| {
        t.contains("following ")
    });
    child
}

/// Stops the subscriber as an administrator would (SIGTERM to its PID) and waits for it.
fn stop_follower(follower: &mut LabChild) {
    let out = output_of({
        let mut c = Command::new("kill");
        c.args(["-TERM", &follower.pid.to_string()]);
        c
    });
    assert!(out.success(), "{}", out.describe());
    wait_until("the subscriber to exit", EVENT_TIMEOUT, || {
        follower
            .try_wait()
            .map(|_| ())
            .ok_or_else(|| "still running".to_string())
    });
}

/// Waits until the subscriber's log holds event `sequence`.
fn wait_printed(log: &std::path::Path, sequence: u64) {
    wait_log(
        &format!("the subscriber to print event {sequence}"),
        log,
        0,
        |t| printed_events(t).iter().any(|(n, _)| *n >= sequence),
    );
}

/// Some events of one link: its address added and removed, the link down and up again.
fn churn(lab: &LabInfo, link: &TestLink, n: u8) {
    let address = format!("198.51.100.{n}/24");
    lab.run(&["ip", "addr", "add", &address, "dev", &link.name]);
    lab.run(&["ip", "link", "set", &link.name, "down"]);
    lab.run(&["ip", "link", "set", &link.name, "up"]);
    lab.run(&["ip", "addr", "del", &address, "dev", &link.name]);
}

/// Waits until the number stops moving (the last churn's signals are out) and returns it.
fn settled_sequence(lab: &LabInfo) -> u64 {
    let mut last = event_sequence(lab);
    wait_settled(
        "the event sequence to settle",
        // Longer than the latest a burst's RoutesModified comes (2 s, docs/architecture.md).
        Duration::from_secs(3),
        EVENT_TIMEOUT,
        || {
            last = event_sequence(lab);
            usize::try_from(last).unwrap_or(usize::MAX)
        },
    );
    last
}

#[test]
fn a_python_subscriber_restarted_mid_stream_prints_every_event_once_in_order() {
    let Some(lab) = Lab::require() else { return };
    // Before the daemon: the monitor sees every signal of the run from its first.
    let monitor = Monitor::start(&lab, &[MANAGER_SIGNALS]);
    let mut broker = Broker::start(&lab, &yaml(100_000), &[]);
    let scratch = ScratchDir::new("nb-stream");
    let state = scratch.path().join("follow-links.json");
    let log = scratch.path().join("follow-links.log");

    let mut follower = start_follower(&lab, &state, &log);
    let link = TestLink::veth(&lab);
    churn(&lab, &link, 1);
    churn(&lab, &link, 2);
    let first_part = settled_sequence(&lab);
    wait_printed(&log, first_part);
    stop_follower(&mut follower);

    // Events while the subscriber is away: it must catch up on exactly these.
    churn(&lab, &link, 3);
    let mut gone = TestLink::veth(&lab);
    gone.delete();
    let away = settled_sequence(&lab);
    assert!(away > first_part, "events happened while it was stopped");

    let mut follower = start_follower(&lab, &state, &log);
    churn(&lab, &link, 4);
    let last = settled_sequence(&lab);
    wait_printed(&log, last);

    let text = fs::read_to_string(&log).unwrap();
    let printed = printed_events(&text);
    let (_, complete, history) = events_since(&lab, 0);
    assert!(complete, "the history holds the whole run");
    assert_eq!(
        history.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (1..=last).collect::<Vec<_>>(),
        "the history numbers the run's events 1, 2, 3, …"
    );
    assert_eq!(
        printed, history,
        "the subscriber printed every event of the history once, in order:\n{text}"
    );
    assert!(
        !text.contains("RESYNC"),
        "the history reached back to every number asked for:\n{text}"
    );

    // The live signals carry the same numbers, last, in order.
    monitor.sync();
    let live: Vec<(u64, String)> = monitor
        .messages()
        .iter()
        .filter(|m| m["type"] == "signal" && m["interface"] == MANAGER_IFACE)
        .map(|m| {
            let data = m["payload"]["data"].as_array().expect("arguments");
            (
                data.last().and_then(Value::as_u64).expect("sequence last"),
                m["member"].as_str().expect("member").to_string(),
            )
        })
        .collect();
    assert_eq!(live, history, "busctl monitor saw the history's events");
    for signal in [
        "AddressAdded",
        "AddressRemoved",
        "LinkPropertiesChanged",
        "LinkRemoved",
    ] {
        assert!(
            printed.iter().any(|(_, s)| s == signal),
            "{signal} among the events:\n{text}"
        );
    }

    // The daemon restarts under the running subscriber: a new stream, numbered from 1 again.
    let before = text.len();
    broker.restart();
    let (stream, _, _) = events_since(&lab, 0);
    churn(&lab, &link, 5);
    let last = settled_sequence(&lab);
    let resynced = format!("RESYNC new stream {stream} (the daemon restarted)");
    wait_log("the subscriber to resync", &log, before, |t| {
        t.contains(&resynced) && t.contains(&format!("STATE {} {} ", link.ifindex, link.name))
    });
    wait_log("the new run's events", &log, before, |t| {
        printed_events(t).last().is_some_and(|(n, _)| *n == last)
    });
    let text = fs::read_to_string(&log).unwrap();
    let (_, _, history) = events_since(&lab, 0);
    assert_eq!(
        printed_events(&text[before..]),
        history,
        "the new run's events once each, in order:\n{text}"
    );
    stop_follower(&mut follower);
}

#[test]
fn monitor_since_prints_the_history_after_n_then_live_events_each_once() {
    let Some(lab) = Lab::require() else { return };
    let (_broker, scratch, link) = daemon_with_link(&lab, 100_000);
    let since = settled_sequence(&lab);
    lab.run(&["ip", "addr", "add", "198.51.100.20/24", "dev", &link.name]);
    let held = settled_sequence(&lab);
    assert!(held > since);

    let json_log = scratch.path().join("monitor.json");
    let text_log = scratch.path().join("monitor.txt");
    let since_arg = since.to_string();
    let ctl = brokerctl_bin();
    let _json = lab.spawn_logged(
        &[ctl, "monitor", "--json", "--since", &since_arg],
        &json_log,
    );
    let _text = lab.spawn_logged(&[ctl, "monitor", "--since", &since_arg], &text_log);
    let sequences = |text: &str| -> Vec<u64> {
        text.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter_map(|v| v["Sequence"].as_u64())
            .collect()
    };
    wait_log("monitor --since to print the history", &json_log, 0, |t| {
        sequences(t).contains(&held)
    });
    let added = format!(" {} AddressAdded: 198.51.100.20/24", link.name);
    wait_log("monitor --since (text) to print it", &text_log, 0, |t| {
        t.contains(&added)
    });

    // Live now: both monitors are subscribed (they fetched the history after subscribing).
    lab.run(&["ip", "addr", "add", "198.51.100.21/24", "dev", &link.name]);
    let last = settled_sequence(&lab);
    wait_log(
        "monitor --since to print the live events",
        &json_log,
        0,
        |t| sequences(t).contains(&last),
    );
    assert_eq!(
        sequences(&fs::read_to_string(&json_log).unwrap()),
        (since + 1..=last).collect::<Vec<_>>(),
        "every event after {since} once, in order:\n{}",
        fs::read_to_string(&json_log).unwrap()
    );
    let text = fs::read_to_string(&text_log).unwrap();
    assert_eq!(
        text.matches(" AddressAdded: 198.51.100.21/24").count(),
        1,
        "the live address once:\n{text}"
    );
    assert_eq!(
        text.matches(" AddressAdded: 198.51.100.20/24").count(),
        1,
        "the address from the history once:\n{text}"
    );
}

#[test]
fn a_history_too_short_for_the_number_asked_says_so() {
    let Some(lab) = Lab::require() else { return };
    let (broker, scratch, link) = daemon_with_link(&lab, 3);
    churn(&lab, &link, 30);
    let last = settled_sequence(&lab);
    assert!(last > 4, "more events than the history keeps");

    let (stream, complete, events) = events_since(&lab, 1);
    assert!(!complete, "event 2 is long gone");
    assert_eq!(
        events.iter().map(|(n, _)| *n).collect::<Vec<_>>(),
        (last - 2..=last).collect::<Vec<_>>(),
        "the three it keeps"
    );
    let (_, complete, events) = events_since(&lab, last);
    assert!(complete && events.is_empty(), "nothing after the last");
    let (_, complete, _) = events_since(&lab, last + 100);
    assert!(!complete, "a number never handed out");

    // network-brokerctl says so on standard error and goes on (it follows live until killed).
    let log = scratch.path().join("monitor.txt");
    let _monitor = lab.spawn_logged(&[brokerctl_bin(), "monitor", "--since", "1"], &log);
    wait_log("monitor --since 1 to warn", &log, 0, |t| {
        t.contains("no longer reaches back to event 1")
    });

    // The subscriber resuming from an older run: a new stream, and the links as they are.
    let state = scratch.path().join("follow-links.json");
    fs::write(&state, r#"{"stream": "an-older-run", "sequence": 2}"#).unwrap();
    let follow_log = scratch.path().join("follow-links.log");
    let _follower = start_follower(&lab, &state, &follow_log);
    let text = fs::read_to_string(&follow_log).unwrap();
    assert!(
        text.contains(&format!(
            "RESYNC new stream {stream} (the daemon restarted)"
        )),
        "{text}"
    );
    assert!(
        text.contains(&format!("STATE {} {} ", link.ifindex, link.name)),
        "{text}"
    );

    // A reload applies a new EventHistory to the running stream.
    fs::write(broker.config.path().join("network-broker.yaml"), yaml(1000)).unwrap();
    lab.run(&[brokerctl_bin(), "reload"]);
    let before = settled_sequence(&lab);
    churn(&lab, &link, 31);
    let after = settled_sequence(&lab);
    assert!(after - before > 3);
    let (_, complete, events) = events_since(&lab, before);
    assert!(complete, "the reloaded history keeps more than 3");
    assert_eq!(events.len(), usize::try_from(after - before).unwrap());
}
