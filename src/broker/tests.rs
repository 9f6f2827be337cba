//! Unit tests of `crate::broker`. The broker hands its hooks to a recording handle
//! ([`Recorder`]: nothing is spawned, each request is answered by the test) and the tests wait
//! for what the broker publishes instead of sleeping; the debounce of `routes-modified.d` runs
//! on paused time. Only the flood test runs real scripts: it checks the runner's backlog under
//! the broker's flood.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::config::Generator;
use crate::event::KernelSnapshot;
use crate::hooks::dispatched_file;
use crate::hooks::runner::{Recorder, Submitted};
use crate::hooks::{HookEvent, ScriptResult};
use crate::model::{KernelOperState, LinkAttrs, Route};
use command::CommandError;

/// How long a test waits for something that must happen; only reached when it does not.
const WAIT: Duration = Duration::from_secs(10);

/// An up link.
fn link(index: IfIndex, name: &str) -> LinkAttrs {
    let mut link = crate::model::fixtures::link(index, name);
    link.flags = crate::model::link::IFF_UP;
    link.oper_state = KernelOperState::Up;
    link
}

fn route(oif: IfIndex, dst: &str) -> Route {
    crate::model::fixtures::route(oif, dst, 24)
}

/// A broker over `config` handing its hooks to `hooks`, starting from `dispatched`; no
/// policy routing (a detached handle) and no pushing.
fn broker(config: Config, hooks: hooks::Handle, dispatched: Dispatched) -> (Broker, Readers) {
    let effects = Effects {
        hooks,
        routing: routing::detached(),
        push: None,
    };
    let (outputs, readers) = Outputs::new(dispatched);
    (Broker::new(config, effects, outputs), readers)
}

/// A running broker and what a test drives and watches it with.
struct Started {
    events: mpsc::Sender<Event>,
    hooks: Recorder,
    readers: Readers,
    commands: command::CommandSender,
    cancel: CancellationToken,
    task: tokio::task::JoinHandle<()>,
}

/// Runs a broker over `config` from `dispatched`, its hooks going to a [`Recorder`].
fn start(config: Config, dispatched: Dispatched) -> Started {
    let (hooks, recorder) = hooks::Handle::recording();
    let (broker, readers) = broker(config, hooks, dispatched);
    let (events, events_rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let (commands, commands_rx) = command::channel();
    let task = tokio::spawn(broker.run(events_rx, commands_rx, cancel.clone()));
    Started {
        events,
        hooks: recorder,
        readers,
        commands,
        cancel,
        task,
    }
}

impl Started {
    async fn send(&self, event: impl Into<Event>) {
        self.events.send(event.into()).await.unwrap();
    }

    /// The next hook request, waiting for it.
    async fn next_hooks(&mut self, what: &str) -> Submitted {
        tokio::time::timeout(WAIT, self.hooks.next())
            .await
            .unwrap_or_else(|_| panic!("no hook request: {what}"))
            .expect("the broker dropped its hook handle")
    }

    /// Waits until the published picture satisfies `ready`: everything sent before it
    /// satisfied it has been applied, and the hooks it asked for submitted.
    async fn published(&mut self, what: &str, ready: impl FnMut(&Arc<Snapshot>) -> bool) {
        tokio::time::timeout(WAIT, self.readers.snapshots.wait_for(ready))
            .await
            .unwrap_or_else(|_| panic!("never published: {what}"))
            .unwrap();
    }

    /// Stops the broker as `daemon::run` does on SIGTERM and waits until it has.
    async fn stop(self) -> (Recorder, Readers) {
        self.cancel.cancel();
        self.task.await.unwrap();
        (self.hooks, self.readers)
    }
}

/// `(event, link)` of a request.
fn what(request: &hooks::Request) -> (String, Option<IfIndex>) {
    (
        request.event.to_string(),
        request.link.as_ref().map(|l| l.attrs.index),
    )
}

/// One script that exited 0.
fn one_success() -> Vec<ScriptResult> {
    vec![ScriptResult {
        script: "/etc/network-broker/routable.d/10-true".into(),
        status: 0,
        error: String::new(),
    }]
}

fn routable_link_snapshot() -> KernelSnapshot {
    let mut up = link(3, "eth0");
    up.flags |= crate::model::link::IFF_LOWER_UP;
    let address = crate::model::Address {
        ip: "192.0.2.1".parse().unwrap(),
        prefix_len: 24,
        label: None,
        scope: 0,
        flags: 0,
    };
    KernelSnapshot {
        links: vec![up],
        addresses: vec![(3, address)],
        routes: Vec::new(),
        rules: Vec::new(),
    }
}

fn networkd_report() -> NetworkdEvent {
    let states = crate::model::States::from([
        (StateProperty::Operational, "routable"),
        (StateProperty::Administrative, "configured"),
    ]);
    NetworkdEvent::Snapshot {
        manager: crate::model::States::new(),
        links: std::collections::BTreeMap::from([(3, states)]),
    }
}

fn has_link(index: IfIndex) -> impl FnMut(&Arc<Snapshot>) -> bool {
    move |s| s.links.contains_key(&index)
}

#[tokio::test]
async fn startup_triggers_wait_for_the_kernel_when_networkd_reports_first() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(Config::defaults(dir.path()), Dispatched::default());
    broker.send(networkd_report()).await;
    broker
        .send(KernelEvent::Snapshot(routable_link_snapshot()))
        .await;
    let run = broker
        .next_hooks("the startup trigger after the kernel's dump arrived")
        .await;
    assert_eq!(what(&run.request), ("routable".to_string(), Some(3)));
    broker.stop().await;
}

#[tokio::test]
async fn commands_prepare_and_run_hooks_of_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(Config::defaults(dir.path()), Dispatched::default());
    broker
        .send(KernelEvent::Snapshot(routable_link_snapshot()))
        .await;
    // Commands and events come on different channels: wait until the dump is applied.
    broker.published("the kernel's dump", has_link(3)).await;

    let request = broker.commands.prepare_hooks("routable", 3).await.unwrap();
    assert_eq!(request.event, "routable");
    assert_eq!(
        request.link.as_ref().map(|l| l.attrs.name.as_str()),
        Some("eth0")
    );
    assert!(request
        .vars
        .contains(&("STATE".to_string(), "routable".to_string())));

    let commands = broker.commands.clone();
    let asked = tokio::spawn(async move { commands.run_hooks("routable", 3).await });
    let run = broker.next_hooks("RunHooks(routable, 3)").await;
    assert_eq!(what(&run.request), ("routable".to_string(), Some(3)));
    run.finish(one_success(), true);
    let batch = asked.await.unwrap().unwrap();
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.results[0].status, 0);

    assert_eq!(
        broker.commands.run_hooks("routable", 99).await,
        Err(CommandError::NoSuchLink(99))
    );
    assert_eq!(
        broker
            .commands
            .prepare_hooks("../x", 3)
            .await
            .map(|r| r.event),
        Err(CommandError::InvalidEvent("../x".into()))
    );
    broker.stop().await;
}

#[tokio::test]
async fn startup_triggers_run_once_per_boot() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults(dir.path());
    config.system.generator = Generator::Netlink;

    let mut first = start(config.clone(), Dispatched::default());
    first
        .send(KernelEvent::Snapshot(routable_link_snapshot()))
        .await;
    let run = first.next_hooks("the startup trigger of routable.d").await;
    assert_eq!(what(&run.request), ("routable".to_string(), Some(3)));
    run.finish(Vec::new(), true);
    tokio::time::timeout(WAIT, first.readers.dispatched.changed())
        .await
        .unwrap()
        .unwrap();
    let remembered = first.readers.dispatched.borrow().clone();
    assert!(remembered.contains(3, StateProperty::Operational, "routable"));
    first.stop().await;

    // A restarted daemon with that memory runs nothing for the unchanged state: once the
    // dump is applied, every hook it would run has been submitted.
    let mut second = start(config, remembered);
    second
        .send(KernelEvent::Snapshot(routable_link_snapshot()))
        .await;
    second.published("the kernel's dump", has_link(3)).await;
    let rerun = second.hooks.take();
    assert!(rerun.is_empty(), "startup trigger ran again: {rerun:?}");
    second.stop().await;
}

/// One daemon life as `daemon::run` wires it: broker, hooks and the task that saves the
/// memory to `runtime`, started from what an earlier life saved there.
struct Life {
    broker: Started,
    /// The memory as the broker hands it out (the writer has its own receiver).
    memory: watch::Receiver<Dispatched>,
    writer: tokio::task::JoinHandle<()>,
}

fn live(config: &Config, runtime: &std::path::Path) -> Life {
    let broker = start(config.clone(), dispatched_file::load(runtime));
    let memory = broker.readers.dispatched.clone();
    let writer = tokio::spawn(dispatched_file::write_task(
        runtime.to_path_buf(),
        broker.readers.dispatched.clone(),
    ));
    Life {
        broker,
        memory,
        writer,
    }
}

impl Life {
    /// Stops as on SIGTERM (`daemon::run`: the broker first, then the runner, which drops
    /// or kills what it still holds) and waits until the memory is saved.
    async fn stop(self) {
        let Life {
            broker,
            memory,
            writer,
        } = self;
        drop(memory);
        let (hooks, readers) = broker.stop().await;
        drop((hooks, readers));
        writer.await.unwrap();
    }
}

/// A stop while a startup `routable.d` hook runs: that hook and the `configured.d` queued
/// behind it (same link) never completed, so the next start runs both again (found by the
/// hostile campaign: they were recorded as dispatched when queued and never ran again).
#[tokio::test]
async fn startup_hooks_interrupted_by_a_stop_run_again_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    let config = Config::defaults(&dir.path().join("etc"));
    let dump = || KernelEvent::Snapshot(routable_link_snapshot());
    // The hooks that started, across the lives, as the scripts would log them.
    let mut ran = Vec::new();

    let mut first = live(&config, &runtime);
    first.broker.send(dump()).await;
    first.broker.send(networkd_report()).await;
    let routable = first.broker.next_hooks("the startup routable.d").await;
    ran.push(routable.request.event.to_string());
    let configured = first.broker.next_hooks("the startup configured.d").await;
    assert_eq!(
        what(&configured.request),
        ("configured".to_string(), Some(3))
    );
    // What a `kill -9` now would leave: the memory handed out so far.
    assert!(
        !first
            .memory
            .borrow()
            .contains(3, StateProperty::Operational, "routable"),
        "a running hook is already dispatched: {:?}",
        first.memory.borrow()
    );
    first.stop().await;
    // The stopping runner kills the running hook and drops the one queued behind it.
    routable.finish(Vec::new(), false);
    drop(configured);
    assert_eq!(ran, ["routable"]);
    let saved = dispatched_file::load(&runtime);
    assert!(
        !saved.contains(3, StateProperty::Operational, "routable"),
        "an interrupted hook was saved as dispatched: {saved:?}"
    );

    // The next start: both run, in order, and are then remembered.
    let mut second = live(&config, &runtime);
    second.broker.send(dump()).await;
    second.broker.send(networkd_report()).await;
    for state in ["routable", "configured"] {
        let run = second.broker.next_hooks(state).await;
        assert_eq!(what(&run.request), (state.to_string(), Some(3)));
        ran.push(run.request.event.to_string());
        run.finish(Vec::new(), true);
    }
    tokio::time::timeout(
        WAIT,
        second.memory.wait_for(|m| {
            m.contains(3, StateProperty::Operational, "routable")
                && m.contains(3, StateProperty::Administrative, "configured")
        }),
    )
    .await
    .expect("the completed hooks were never remembered")
    .unwrap();
    second.stop().await;
    assert_eq!(ran, ["routable", "routable", "configured"]);
    let saved = dispatched_file::load(&runtime);
    assert!(saved.contains(3, StateProperty::Operational, "routable"));
    assert!(saved.contains(3, StateProperty::Administrative, "configured"));

    // And a third start, with nothing changed, runs nothing.
    let mut third = live(&config, &runtime);
    third.broker.send(dump()).await;
    third.broker.send(networkd_report()).await;
    third
        .broker
        .published("the third start's states", |s| {
            s.links.get(&3).is_some_and(|l| {
                l.states.get(&StateProperty::Administrative) == Some(&"configured")
            })
        })
        .await;
    let again = third.broker.hooks.take();
    assert!(again.is_empty(), "{again:?}");
    third.stop().await;
}

/// A script in `dir/<event>.d/` that appends its event to `log`, then runs `rest`.
fn logging_hook(dir: &std::path::Path, event: &str, log: &std::path::Path, rest: &str) {
    let hook_dir = dir.join(format!("{event}.d"));
    std::fs::create_dir_all(&hook_dir).unwrap();
    let script = hook_dir.join("10-log");
    let body = format!("#!/bin/sh\necho {event} >> '{}'\n{rest}\n", log.display());
    std::fs::write(&script, body).unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
}

fn logged(log: &std::path::Path) -> Vec<String> {
    std::fs::read_to_string(log)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect()
}

/// 100k address events on one link whose hooks are slow: every other event is a real
/// transition (routable, carrier, routable, …), far more than the hooks can follow. The
/// runner's backlog stays within `HookBacklog`, every transition is accounted for (it ran
/// or was coalesced into a run), and the hooks of the last state ran last (found by the
/// hostile campaign: 59,425 requests queued, each with its own copy of the link).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_transitions_keeps_the_backlog_bounded_and_runs_the_last_state() {
    const EVENTS: usize = 100_000;
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("log");
    let mut config = Config::defaults(&dir.path().join("etc"));
    config.system.generator = Generator::Netlink;
    for event in ["routable", "carrier", "degraded"] {
        logging_hook(&config.dir, event, &log, "sleep 0.2");
    }
    // The real runner: what is checked is its backlog under the broker's flood.
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let hooks = hooks::spawn(
        hooks::Settings::from_config(&config, &hooks::Launch::in_process(false)),
        results_tx,
    );
    let (broker, readers) = broker(config.clone(), hooks.clone(), Dispatched::default());
    let mut snapshots = readers.snapshots;
    let (events, events_rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let (_commands, commands_rx) = command::channel();
    tokio::spawn(broker.run(events_rx, commands_rx, cancel.clone()));

    let dump = routable_link_snapshot();
    let address = dump.addresses[0].1.clone();
    events
        .send(KernelEvent::Snapshot(dump).into())
        .await
        .unwrap();
    for i in 0..EVENTS {
        let address = address.clone();
        let event = if i % 2 == 0 {
            KernelEvent::AddressRemoved { index: 3, address }
        } else {
            KernelEvent::AddressAdded { index: 3, address }
        };
        events.send(event.into()).await.unwrap();
    }
    // The last event is an addition: the link is routable again.
    tokio::time::timeout(
        Duration::from_secs(60),
        snapshots.wait_for(|s| {
            s.links
                .get(&3)
                .is_some_and(|l| l.states.get(&StateProperty::Operational) == Some(&"routable"))
                && !s.links.get(&3).is_some_and(|l| l.addresses.is_empty())
        }),
    )
    .await
    .expect("the broker never applied the flood")
    .unwrap();
    // Everything the flood asked for is with the runner now; wait until it has run.
    tokio::time::timeout(Duration::from_secs(120), hooks.idle())
        .await
        .expect("the hooks of the flood are still queued: the backlog is not bounded");
    let stats = hooks.stats().await.unwrap();
    assert!(
        stats.peak_backlog <= config.system.hook_backlog,
        "backlog grew to {} (bound {})",
        stats.peak_backlog,
        config.system.hook_backlog
    );
    assert_eq!(stats.queued, 0);

    let mut ran = 0u64;
    let mut merged = 0u64;
    let mut last = None;
    while let Ok(batch) = results.try_recv() {
        ran += 1;
        merged += u64::from(batch.coalesced);
        last = Some(batch.event);
    }
    // The startup trigger, then each event toggled the state: each of these ran or was
    // merged into a run.
    assert_eq!(
        ran + merged,
        1 + EVENTS as u64,
        "ran {ran}, coalesced {merged}"
    );
    assert_eq!(merged, stats.coalesced);
    assert!(merged > 0);
    assert_eq!(last.as_ref().map(HookEvent::as_str), Some("routable"));
    assert_eq!(logged(&log).last().map(String::as_str), Some("routable"));
    cancel.cancel();
}

fn dhcp_lease(interface: &str, expire: i64) -> Lease {
    Lease {
        interface: interface.into(),
        address: Some("192.0.2.1".parse().unwrap()),
        prefix_len: Some(24),
        routers: vec!["192.0.2.254".parse().unwrap()],
        dns: vec!["192.0.2.53".parse().unwrap()],
        domain_name: Some("example.test".into()),
        domain_search: Vec::new(),
        host_name: None,
        mtu: None,
        renew: Some(expire - 1800),
        rebind: Some(expire - 450),
        expire: Some(expire),
        options: Default::default(),
    }
}

fn leases(list: &[Lease]) -> Event {
    Event::Leases(
        list.iter()
            .map(|l| (l.interface.clone(), l.clone()))
            .collect(),
    )
}

/// The lease source and the kernel source start together; whichever reports first, a
/// lease of a link runs `routable.d` once (found in the lab: the lease files were read
/// before the kernel's first dump, and the lease was dropped for want of a link).
#[tokio::test]
async fn a_lease_runs_routable_once_whether_it_comes_before_or_after_the_first_dump() {
    for leases_first in [true, false] {
        let dir = tempfile::tempdir().unwrap();
        let mut config = Config::defaults(dir.path());
        config.system.generator = Generator::Dhclient;
        let mut broker = start(config, Dispatched::default());
        let lease = leases(&[dhcp_lease("eth0", 4_000_000_000)]);
        let dump = KernelEvent::Snapshot(routable_link_snapshot()).into();
        let (first, second) = if leases_first {
            (lease, dump)
        } else {
            (dump, lease)
        };
        broker.send(first).await;
        broker.send(second).await;
        broker
            .published("the link with its lease", |s| {
                s.links.get(&3).is_some_and(|l| l.lease.is_some())
            })
            .await;
        let runs: Vec<_> = broker.hooks.take().iter().map(what).collect();
        assert_eq!(
            runs,
            [("routable".to_string(), Some(3))],
            "leases first: {leases_first}"
        );
        broker.stop().await;
    }
}

/// A renewal that only moves the times runs nothing but is published: the bus `Lease`
/// shows the current expiry (found in the lab: it kept the old one).
#[tokio::test]
async fn a_renewal_runs_nothing_but_the_published_lease_has_the_new_times() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults(dir.path());
    config.system.generator = Generator::Dhclient;
    let mut broker = start(config, Dispatched::default());
    let expire_of = |snapshot: &Snapshot| {
        snapshot
            .links
            .get(&3)
            .and_then(|view| view.lease.as_ref())
            .and_then(|lease| lease.expire)
    };
    broker
        .send(KernelEvent::Snapshot(routable_link_snapshot()))
        .await;
    broker
        .send(leases(&[dhcp_lease("eth0", 4_000_000_000)]))
        .await;
    let run = broker.next_hooks("the new lease runs routable.d").await;
    assert_eq!(what(&run.request), ("routable".to_string(), Some(3)));
    broker
        .send(leases(&[dhcp_lease("eth0", 4_000_000_600)]))
        .await;
    broker
        .published("the renewal's expiry", |s| {
            expire_of(s) == Some(4_000_000_600)
        })
        .await;
    let again = broker.hooks.take();
    assert!(again.is_empty(), "a renewal ran hooks: {again:?}");
    broker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn the_initial_dump_runs_no_hooks_but_a_later_burst_runs_one() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(Config::defaults(dir.path()), Dispatched::default());
    let initial = KernelSnapshot {
        links: vec![link(3, "eth0")],
        addresses: Vec::new(),
        routes: vec![route(3, "192.0.2.0")],
        rules: Vec::new(),
    };
    broker.send(KernelEvent::Snapshot(initial)).await;
    for i in 0..20 {
        let dst = format!("198.51.{i}.0");
        broker.send(KernelEvent::RouteAdded(route(3, &dst))).await;
    }
    let run = broker.next_hooks("routes-modified.d").await;
    assert_eq!(what(&run.request), ("routes-modified".to_string(), Some(3)));
    // Twenty route changes within the quiet period are one burst: no second run follows.
    // (Paused time: this passes at once.)
    tokio::time::sleep(ROUTES_QUIET * 4).await;
    let more = broker.hooks.take();
    assert!(more.is_empty(), "unexpected second batch: {more:?}");
    broker.stop().await;
}

#[tokio::test(start_paused = true)]
async fn a_later_snapshot_with_changed_routes_runs_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = start(Config::defaults(dir.path()), Dispatched::default());
    let mut snapshot = KernelSnapshot {
        links: vec![link(3, "eth0")],
        addresses: Vec::new(),
        routes: vec![route(3, "192.0.2.0")],
        rules: Vec::new(),
    };
    broker.send(KernelEvent::Snapshot(snapshot.clone())).await;
    // A resync after lost events: the routes differ, which is a change like any other.
    snapshot.routes.push(route(3, "198.51.100.0"));
    broker.send(KernelEvent::Snapshot(snapshot)).await;
    let run = broker
        .next_hooks("routes-modified.d after the resync")
        .await;
    assert_eq!(run.request.link.map(|l| l.attrs.index), Some(3));
    broker.stop().await;
}
