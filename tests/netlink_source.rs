//! Privileged test of `source::netlink` against the real kernel, in a throwaway network
//! namespace (`nbtest-<pid>`) so the host's network is never touched.
//!
//! The source runs on a thread moved into the namespace with `setns(2)` (netlink sockets belong
//! to the namespace of the thread that opens them), feeding a deliberately small queue drained by
//! a deliberately slow consumer while `ip -batch` adds and deletes 10,000 addresses. Events are
//! then bound to be lost, so the test checks what matters: the state rebuilt from the events
//! (snapshots included) equals the kernel's, and at least one resync happened.
//!
//! Needs root. Without it the test prints why and passes, except under `CI=true`, where a
//! skipped privileged test must fail loudly.

// Panicking on an unexpected result is how a test fails.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Write as _;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::{in_netns, privileged, run_ok, Netns};
use network_broker::event::{Event, KernelEvent};
use network_broker::source;
use tokio_util::sync::CancellationToken;

/// Queue capacity: small, so the burst overflows it.
const QUEUE: usize = 8;
/// Addresses added; all but the last [`REMAINING`] are deleted again.
const ADDS: usize = 10_000;
const REMAINING: usize = 500;
/// How long the consumer sleeps per event while it is being slow.
const SLOW_PER_EVENT: Duration = Duration::from_millis(1);
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Links by index (name) and addresses by link index: what the test compares.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
struct Table {
    links: BTreeMap<u32, String>,
    addresses: BTreeMap<u32, BTreeSet<(IpAddr, u8)>>,
}

impl Table {
    /// Applies an event as the broker would: a snapshot replaces everything, the rest are
    /// upserts and removals by key.
    fn apply(&mut self, event: &KernelEvent) {
        match event {
            KernelEvent::Snapshot(s) => {
                *self = Table::default();
                for l in &s.links {
                    self.links.insert(l.index, l.name.clone());
                }
                for (index, a) in &s.addresses {
                    self.addresses
                        .entry(*index)
                        .or_default()
                        .insert((a.ip, a.prefix_len));
                }
            }
            KernelEvent::LinkChanged(l) => {
                self.links.insert(l.index, l.name.clone());
            }
            KernelEvent::LinkRemoved { index } => {
                self.links.remove(index);
                self.addresses.remove(index);
            }
            KernelEvent::AddressAdded { index, address } => {
                self.addresses
                    .entry(*index)
                    .or_default()
                    .insert((address.ip, address.prefix_len));
            }
            KernelEvent::AddressRemoved { index, address } => {
                if let Some(set) = self.addresses.get_mut(index) {
                    set.remove(&(address.ip, address.prefix_len));
                }
            }
            KernelEvent::RouteAdded(_)
            | KernelEvent::RouteRemoved(_)
            | KernelEvent::RuleAdded(_)
            | KernelEvent::RuleRemoved(_) => {}
        }
    }

    fn normalized(&self) -> Table {
        let mut t = self.clone();
        t.addresses.retain(|_, set| !set.is_empty());
        t
    }

    fn address_count(&self) -> usize {
        self.addresses.values().map(BTreeSet::len).sum()
    }
}

/// The kernel's links and addresses in the namespace, as `ip -j addr show` reports them.
fn kernel_table(ns: &str) -> Table {
    let json = run_ok("ip", &["-n", ns, "-j", "addr", "show"]);
    let links: Vec<serde_json::Value> = serde_json::from_str(&json).expect("ip -j output");
    let mut table = Table::default();
    for link in links {
        let index = link["ifindex"].as_u64().expect("ifindex") as u32;
        let name = link["ifname"].as_str().expect("ifname").to_owned();
        table.links.insert(index, name);
        for a in link["addr_info"].as_array().into_iter().flatten() {
            let ip: IpAddr = a["local"].as_str().expect("local").parse().expect("ip");
            let len = a["prefixlen"].as_u64().expect("prefixlen") as u8;
            table.addresses.entry(index).or_default().insert((ip, len));
        }
    }
    table.normalized()
}

fn difference(ours: &Table, kernel: &Table) -> String {
    let mut out = String::new();
    let _ = writeln!(
        out,
        "links: ours {:?}\n       kernel {:?}",
        ours.links, kernel.links
    );
    let indexes: BTreeSet<u32> = ours
        .addresses
        .keys()
        .chain(kernel.addresses.keys())
        .copied()
        .collect();
    let empty = BTreeSet::new();
    for i in indexes {
        let o = ours.addresses.get(&i).unwrap_or(&empty);
        let k = kernel.addresses.get(&i).unwrap_or(&empty);
        let missing: Vec<_> = k.difference(o).take(5).collect();
        let extra: Vec<_> = o.difference(k).take(5).collect();
        if !missing.is_empty() || !extra.is_empty() {
            let _ = writeln!(
                out,
                "link {i}: ours {} kernel {}; missing (first 5) {missing:?}; extra (first 5) {extra:?}",
                o.len(),
                k.len()
            );
        }
    }
    out
}

/// The `ip -batch` script: `ADDS` /32 additions on one veth end, each followed (500 later) by
/// its deletion, so at most `REMAINING` addresses exist at a time and the last `REMAINING`
/// stay. Keeping the link small keeps the kernel's per-operation cost flat.
fn burst_script() -> (tempfile::NamedTempFile, usize) {
    let mut file = tempfile::NamedTempFile::new().expect("temp file");
    let addr = |i: usize| format!("10.64.{}.{}/32", i / 256, i % 256);
    let mut ops = 0;
    for i in 0..ADDS {
        writeln!(file, "address add {} dev nbv0", addr(i)).expect("write script");
        ops += 1;
        if i >= REMAINING {
            writeln!(file, "address del {} dev nbv0", addr(i - REMAINING)).expect("write script");
            ops += 1;
        }
    }
    file.flush().expect("flush script");
    (file, ops)
}

#[test]
fn kernel_state_survives_a_burst_into_a_small_queue() {
    if !privileged("the netlink source test") {
        return;
    }
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();

    let ns = Netns::create(format!("nbtest-{}", std::process::id()));
    ns.ip(&[
        "link", "add", "nbv0", "type", "veth", "peer", "name", "nbv1",
    ]);
    ns.ip(&["link", "set", "nbv0", "up"]);
    ns.ip(&["link", "set", "nbv1", "up"]);
    let name = ns.name().to_owned();
    // A panic in the scenario is raised again here; the unwinding drops `ns`, so the
    // namespace goes either way.
    in_netns(ns.name(), move || async move { scenario(&name).await });
    drop(ns);
}

async fn scenario(ns: &str) {
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Event>(QUEUE);
    let cancel = CancellationToken::new();
    let source = tokio::spawn(source::netlink::run(tx, cancel.clone()));

    let table = Arc::new(Mutex::new(Table::default()));
    let slow = Arc::new(AtomicBool::new(true));
    let events = Arc::new(AtomicU64::new(0));
    let snapshots = Arc::new(AtomicU64::new(0));
    let consumer = {
        let (table, slow, events, snapshots) = (
            table.clone(),
            slow.clone(),
            events.clone(),
            snapshots.clone(),
        );
        tokio::spawn(async move {
            while let Some(event) = rx.recv().await {
                let Event::Kernel(event) = event else {
                    continue;
                };
                if slow.load(Ordering::Relaxed) {
                    tokio::time::sleep(SLOW_PER_EVENT).await;
                }
                if matches!(event, KernelEvent::Snapshot(_)) {
                    snapshots.fetch_add(1, Ordering::Relaxed);
                }
                events.fetch_add(1, Ordering::Relaxed);
                table.lock().expect("table lock").apply(&event);
            }
        })
    };

    // The first thing the broker sees is the initial snapshot, with the veth pair in it.
    let start = Instant::now();
    while snapshots.load(Ordering::Relaxed) == 0 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "no initial snapshot"
        );
        assert!(
            !source.is_finished(),
            "source ended early: {:?}",
            source.await
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(
        table
            .lock()
            .expect("table lock")
            .links
            .values()
            .filter(|n| n.starts_with("nbv"))
            .count(),
        2,
        "initial snapshot lacks the veth pair"
    );

    let (script, ops) = burst_script();
    let script_path = script.path().to_str().expect("utf-8 temp path").to_owned();
    let burst_start = Instant::now();
    let ns_owned = ns.to_owned();
    tokio::task::spawn_blocking(move || run_ok("ip", &["-n", &ns_owned, "-batch", &script_path]))
        .await
        .expect("ip -batch task");
    let burst = burst_start.elapsed();
    slow.store(false, Ordering::Relaxed);

    // Converged = equal to the kernel and no event for a while (nothing still in flight).
    let kernel = kernel_table(ns);
    assert_eq!(
        kernel
            .addresses
            .values()
            .map(|s| s.iter().filter(|(ip, _)| ip.is_ipv4()).count())
            .sum::<usize>(),
        REMAINING,
        "the burst should leave {REMAINING} IPv4 addresses"
    );
    let converge_start = Instant::now();
    let mut last_count = u64::MAX;
    loop {
        assert!(
            !source.is_finished(),
            "source ended early: {:?}",
            source.await
        );
        let count = events.load(Ordering::Relaxed);
        let ours = table.lock().expect("table lock").normalized();
        if count == last_count && ours == kernel_table(ns) {
            break;
        }
        if converge_start.elapsed() > CONVERGE_TIMEOUT {
            panic!(
                "no convergence within {CONVERGE_TIMEOUT:?}:\n{}",
                difference(&ours, &kernel_table(ns))
            );
        }
        last_count = count;
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    let converged = converge_start.elapsed();

    let snapshots = snapshots.load(Ordering::Relaxed);
    let events = events.load(Ordering::Relaxed);
    let addresses = table.lock().expect("table lock").address_count();
    eprintln!(
        "burst: {ops} address operations in {burst:?}; events received: {events}; \
         snapshots: {snapshots} (resyncs: {}); converged {converged:?} after the burst \
         (incl. a 250 ms quiet check); addresses at the end: {addresses}",
        snapshots - 1
    );
    assert!(
        snapshots >= 2,
        "expected at least one resync: the queue of {QUEUE} must have overflowed"
    );

    cancel.cancel();
    let result = tokio::time::timeout(Duration::from_secs(5), source)
        .await
        .expect("source stops on cancel")
        .expect("source task");
    assert!(result.is_ok(), "source returned {result:?}");
    consumer.abort();
}
