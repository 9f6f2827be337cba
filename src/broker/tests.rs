//! Unit tests of `crate::broker`.

use std::os::unix::fs::PermissionsExt;
use std::time::Duration;

use tokio::sync::mpsc;

use super::*;
use crate::config::Generator;
use crate::event::KernelSnapshot;
use crate::model::{KernelOperState, LinkAttrs, Route};

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

/// Runs a broker with a real hook runner over a scratch configuration directory holding
/// one `routes-modified.d` script.
fn start(
    dir: &std::path::Path,
) -> (
    mpsc::Sender<Event>,
    mpsc::UnboundedReceiver<hooks::BatchResult>,
    CancellationToken,
) {
    let (events, results, cancel, _, _) = start_with(
        Config::defaults(dir),
        Dispatched::default(),
        "routes-modified.d",
    );
    (events, results, cancel)
}

type Started = (
    mpsc::Sender<Event>,
    mpsc::UnboundedReceiver<hooks::BatchResult>,
    CancellationToken,
    watch::Receiver<Dispatched>,
    command::CommandSender,
);

/// A broker over `config` with one script that exits 0 in `config.dir/hook_dir`.
fn start_with(config: Config, dispatched: Dispatched, hook_dir: &str) -> Started {
    let hook_dir = config.dir.join(hook_dir);
    std::fs::create_dir_all(&hook_dir).unwrap();
    let script = hook_dir.join("10-true");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (results_tx, results) = mpsc::unbounded_channel();
    let hooks = hooks::spawn(
        hook_settings(&config, &hooks::Launch::in_process(false)),
        results_tx,
    );
    let (broker, _snapshots) =
        Broker::new(config, hooks, hooks::Launch::in_process(false), dispatched);
    let memory = broker.dispatched_updates();
    let (events, events_rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let (commands, commands_rx) = command::channel();
    tokio::spawn(broker.run(events_rx, commands_rx, cancel.clone()));
    (events, results, cancel, memory, commands)
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

#[tokio::test]
async fn startup_triggers_wait_for_the_kernel_when_networkd_reports_first() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::defaults(dir.path());
    let (events, mut results, cancel, _, _) =
        start_with(config, Dispatched::default(), "routable.d");
    let states = crate::model::States::from([
        (StateProperty::Operational, "routable"),
        (StateProperty::Administrative, "configured"),
    ]);
    let report = NetworkdEvent::Snapshot {
        manager: crate::model::States::new(),
        links: std::collections::BTreeMap::from([(3, states)]),
    };
    events.send(report.into()).await.unwrap();
    events
        .send(KernelEvent::Snapshot(routable_link_snapshot()).into())
        .await
        .unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("the startup trigger did not run after the kernel's dump arrived")
        .unwrap();
    assert_eq!((batch.event.as_str(), batch.ifindex), ("routable", Some(3)));
    cancel.cancel();
}

#[tokio::test]
async fn commands_prepare_and_run_hooks_of_a_link() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::defaults(dir.path());
    let (events, _results, cancel, _, commands) =
        start_with(config, Dispatched::default(), "routable.d");
    events
        .send(KernelEvent::Snapshot(routable_link_snapshot()).into())
        .await
        .unwrap();

    // Commands and events come on different channels: wait until the dump is applied.
    let mut request = commands.prepare_hooks("routable", 3).await;
    for _ in 0..100 {
        if request.is_ok() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
        request = commands.prepare_hooks("routable", 3).await;
    }
    let request = request.unwrap();
    assert_eq!(request.event, "routable");
    assert_eq!(
        request.link.as_ref().map(|l| l.attrs.name.as_str()),
        Some("eth0")
    );
    assert!(request
        .vars
        .contains(&("STATE".to_string(), "routable".to_string())));

    let batch = commands.run_hooks("routable", 3).await.unwrap();
    assert_eq!(batch.results.len(), 1);
    assert_eq!(batch.results[0].status, 0);

    assert_eq!(
        commands.run_hooks("routable", 99).await,
        Err(CommandError::NoSuchLink(99))
    );
    assert_eq!(
        commands.prepare_hooks("../x", 3).await.map(|r| r.event),
        Err(CommandError::InvalidEvent("../x".into()))
    );
    cancel.cancel();
}

#[tokio::test]
async fn startup_triggers_run_once_per_boot() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults(dir.path());
    config.system.generator = Generator::Netlink;

    let (events, mut results, cancel, mut memory, _) =
        start_with(config.clone(), Dispatched::default(), "routable.d");
    events
        .send(KernelEvent::Snapshot(routable_link_snapshot()).into())
        .await
        .unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("the startup trigger did not run routable.d")
        .unwrap();
    assert_eq!((batch.event.as_str(), batch.ifindex), ("routable", Some(3)));
    tokio::time::timeout(Duration::from_secs(10), memory.changed())
        .await
        .unwrap()
        .unwrap();
    let remembered = memory.borrow().clone();
    assert!(remembered.contains(3, StateProperty::Operational, "routable"));
    cancel.cancel();

    // A restarted daemon with that memory runs nothing for the unchanged state.
    let (events, mut results, cancel, _, _) = start_with(config, remembered, "routable.d");
    events
        .send(KernelEvent::Snapshot(routable_link_snapshot()).into())
        .await
        .unwrap();
    let rerun = tokio::time::timeout(Duration::from_millis(800), results.recv()).await;
    assert!(rerun.is_err(), "startup trigger ran again: {rerun:?}");
    cancel.cancel();
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

/// One daemon life as `daemon::run` wires it: broker, hook runner and the task that saves
/// the memory to `runtime`, started from what an earlier life saved there.
struct Life {
    events: mpsc::Sender<Event>,
    hooks: hooks::Handle,
    cancel: CancellationToken,
    broker: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
}

fn live(config: &Config, runtime: &std::path::Path) -> Life {
    let (results_tx, _results) = mpsc::unbounded_channel();
    let hooks = hooks::spawn(
        hook_settings(config, &hooks::Launch::in_process(false)),
        results_tx,
    );
    let (broker, _snapshots) = Broker::new(
        config.clone(),
        hooks.clone(),
        hooks::Launch::in_process(false),
        memory::load(runtime),
    );
    let writer = tokio::spawn(memory::write_task(
        runtime.to_path_buf(),
        broker.dispatched_updates(),
    ));
    let (events, events_rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let (_commands, commands_rx) = command::channel();
    let broker = tokio::spawn(broker.run(events_rx, commands_rx, cancel.clone()));
    Life {
        events,
        hooks,
        cancel,
        broker,
        writer,
    }
}

impl Life {
    /// Stops as on SIGTERM (`daemon::run`: the broker first, then the runner with a short
    /// grace, which kills a hung hook) and waits until the memory is saved.
    async fn stop(self) {
        self.cancel.cancel();
        self.broker.await.unwrap();
        self.hooks.shutdown(Duration::from_millis(100)).await;
        self.writer.await.unwrap();
    }
}

/// A stop while a startup `routable.d` hook runs: that hook and the `configured.d` queued
/// behind it (same link) never completed, so the next start runs both again (found by the
/// hostile campaign: they were recorded as dispatched when queued and never ran again).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn startup_hooks_interrupted_by_a_stop_run_again_at_the_next_start() {
    let dir = tempfile::tempdir().unwrap();
    let runtime = dir.path().join("run");
    let log = dir.path().join("log");
    let config = Config::defaults(&dir.path().join("etc"));
    logging_hook(&config.dir, "routable", &log, "exec sleep 1000");
    logging_hook(&config.dir, "configured", &log, "exit 0");
    let states = crate::model::States::from([
        (StateProperty::Operational, "routable"),
        (StateProperty::Administrative, "configured"),
    ]);
    let report = || -> Event {
        NetworkdEvent::Snapshot {
            manager: crate::model::States::new(),
            links: std::collections::BTreeMap::from([(3, states.clone())]),
        }
        .into()
    };
    let dump = || -> Event { KernelEvent::Snapshot(routable_link_snapshot()).into() };

    let first = live(&config, &runtime);
    first.events.send(dump()).await.unwrap();
    first.events.send(report()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while logged(&log).is_empty() {
        assert!(
            std::time::Instant::now() < deadline,
            "routable.d never started"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // What a `kill -9` now would leave on disk: the saved memory, whatever the writer
    // had been handed by then (it writes within milliseconds of a change).
    tokio::time::sleep(Duration::from_millis(300)).await;
    let on_disk = memory::load(&runtime);
    assert!(
        !on_disk.contains(3, StateProperty::Operational, "routable"),
        "a running hook is already saved as dispatched: {on_disk:?}"
    );
    first.stop().await;
    assert_eq!(logged(&log), ["routable"]);
    let saved = memory::load(&runtime);
    assert!(
        !saved.contains(3, StateProperty::Operational, "routable"),
        "an interrupted hook was saved as dispatched: {saved:?}"
    );

    // The next start: both run, in order, and are then remembered.
    logging_hook(&config.dir, "routable", &log, "exit 0");
    let second = live(&config, &runtime);
    second.events.send(dump()).await.unwrap();
    second.events.send(report()).await.unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while logged(&log).len() < 3 {
        assert!(
            std::time::Instant::now() < deadline,
            "the interrupted startup hooks did not run again: {:?}",
            logged(&log)
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    second.hooks.idle().await;
    second.stop().await;
    assert_eq!(logged(&log), ["routable", "routable", "configured"]);
    let saved = memory::load(&runtime);
    assert!(saved.contains(3, StateProperty::Operational, "routable"));
    assert!(saved.contains(3, StateProperty::Administrative, "configured"));

    // And a third start, with nothing changed, runs nothing.
    let third = live(&config, &runtime);
    third.events.send(dump()).await.unwrap();
    third.events.send(report()).await.unwrap();
    tokio::time::sleep(Duration::from_millis(300)).await;
    third.hooks.idle().await;
    third.stop().await;
    assert_eq!(logged(&log).len(), 3, "{:?}", logged(&log));
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
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let hooks = hooks::spawn(
        hook_settings(&config, &hooks::Launch::in_process(false)),
        results_tx,
    );
    let (broker, mut snapshots) = Broker::new(
        config.clone(),
        hooks.clone(),
        hooks::Launch::in_process(false),
        Dispatched::default(),
    );
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
    assert_eq!(last.as_deref(), Some("routable"));
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
        let (events, mut results, cancel, _, _) =
            start_with(config, Dispatched::default(), "routable.d");
        let lease = leases(&[dhcp_lease("eth0", 4_000_000_000)]);
        let dump = KernelEvent::Snapshot(routable_link_snapshot()).into();
        let (first, second) = if leases_first {
            (lease, dump)
        } else {
            (dump, lease)
        };
        events.send(first).await.unwrap();
        events.send(second).await.unwrap();
        let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
            .await
            .unwrap_or_else(|_| panic!("no routable.d run (leases first: {leases_first})"))
            .unwrap();
        assert_eq!((batch.event.as_str(), batch.ifindex), ("routable", Some(3)));
        let again = tokio::time::timeout(Duration::from_millis(500), results.recv()).await;
        assert!(again.is_err(), "a second run: {again:?}");
        cancel.cancel();
    }
}

/// A renewal that only moves the times runs nothing but is published: the bus `Lease`
/// shows the current expiry (found in the lab: it kept the old one).
#[tokio::test]
async fn a_renewal_runs_nothing_but_the_published_lease_has_the_new_times() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = Config::defaults(dir.path());
    config.system.generator = Generator::Dhclient;
    let hook_dir = config.dir.join("routable.d");
    std::fs::create_dir_all(&hook_dir).unwrap();
    let script = hook_dir.join("10-true");
    std::fs::write(&script, "#!/bin/sh\nexit 0\n").unwrap();
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    let (results_tx, mut results) = mpsc::unbounded_channel();
    let hooks = hooks::spawn(
        hook_settings(&config, &hooks::Launch::in_process(false)),
        results_tx,
    );
    let (broker, mut snapshots) = Broker::new(
        config,
        hooks,
        hooks::Launch::in_process(false),
        Dispatched::default(),
    );
    let (events, events_rx) = mpsc::channel(16);
    let cancel = CancellationToken::new();
    let (_commands, commands_rx) = command::channel();
    tokio::spawn(broker.run(events_rx, commands_rx, cancel.clone()));

    let expire_of = |snapshot: &Snapshot| {
        snapshot
            .links
            .get(&3)
            .and_then(|view| view.lease.as_ref())
            .and_then(|lease| lease.expire)
    };
    events
        .send(KernelEvent::Snapshot(routable_link_snapshot()).into())
        .await
        .unwrap();
    events
        .send(leases(&[dhcp_lease("eth0", 4_000_000_000)]))
        .await
        .unwrap();
    tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("the new lease runs routable.d")
        .unwrap();
    events
        .send(leases(&[dhcp_lease("eth0", 4_000_000_600)]))
        .await
        .unwrap();
    tokio::time::timeout(
        Duration::from_secs(10),
        snapshots.wait_for(|s| expire_of(s) == Some(4_000_000_600)),
    )
    .await
    .expect("the renewal's expiry is never published")
    .unwrap();
    let again = tokio::time::timeout(Duration::from_millis(500), results.recv()).await;
    assert!(again.is_err(), "a renewal ran hooks: {again:?}");
    cancel.cancel();
}

#[tokio::test]
async fn the_initial_dump_runs_no_hooks_but_a_later_burst_runs_one() {
    let dir = tempfile::tempdir().unwrap();
    let (events, mut results, cancel) = start(dir.path());
    let initial = KernelSnapshot {
        links: vec![link(3, "eth0")],
        addresses: Vec::new(),
        routes: vec![route(3, "192.0.2.0")],
        rules: Vec::new(),
    };
    events
        .send(KernelEvent::Snapshot(initial).into())
        .await
        .unwrap();
    for i in 0..20 {
        let dst = format!("198.51.{i}.0");
        events
            .send(KernelEvent::RouteAdded(route(3, &dst)).into())
            .await
            .unwrap();
    }
    let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("routes-modified.d did not run")
        .unwrap();
    assert_eq!(batch.event, "routes-modified");
    assert_eq!(batch.ifindex, Some(3));
    // Twenty route changes within the quiet period are one burst: no second run follows.
    let more = tokio::time::timeout(ROUTES_QUIET * 4, results.recv()).await;
    assert!(more.is_err(), "unexpected second batch: {more:?}");
    cancel.cancel();
}

#[tokio::test]
async fn a_later_snapshot_with_changed_routes_runs_the_hook() {
    let dir = tempfile::tempdir().unwrap();
    let (events, mut results, cancel) = start(dir.path());
    let mut snapshot = KernelSnapshot {
        links: vec![link(3, "eth0")],
        addresses: Vec::new(),
        routes: vec![route(3, "192.0.2.0")],
        rules: Vec::new(),
    };
    events
        .send(KernelEvent::Snapshot(snapshot.clone()).into())
        .await
        .unwrap();
    // A resync after lost events: the routes differ, which is a change like any other.
    snapshot.routes.push(route(3, "198.51.100.0"));
    events
        .send(KernelEvent::Snapshot(snapshot).into())
        .await
        .unwrap();
    let batch = tokio::time::timeout(Duration::from_secs(10), results.recv())
        .await
        .expect("routes-modified.d did not run after the resync")
        .unwrap();
    assert_eq!(batch.ifindex, Some(3));
    cancel.cancel();
}
