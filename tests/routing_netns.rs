//! Privileged tests of policy routing (`routing`) against the real kernel, in throwaway
//! network namespaces so the host's network is never touched.
//!
//! Topology, per test (namespace names carry the pid and the test's tag):
//!
//! ```text
//!  netns H ("the host")                            netns P ("the network")
//!   h0 10.99.0.2/24 2001:db8:99::2/64 <-veth-> p0 ─┐
//!   h1 10.99.0.3/24 2001:db8:99::3/64 <-veth-> p1 ─┴ br0 10.99.0.1/24 2001:db8:99::1/64 fe80::1
//!   main: default via 10.99.0.1 dev h0 metric 100       lo 198.51.100.1/32 2001:db8:beef::1/128
//!         default via 10.99.0.1 dev h1 metric 200
//!         default via fe80::1 dev h0/h1 (100/200)
//! ```
//!
//! Two links in one subnet, each with a default route of its own, h0's preferred: without
//! policy routing everything leaves through h0, whatever its source address. The routing
//! actor runs on a thread moved into H with `setns(2)` (netlink sockets belong to the
//! namespace of the thread that opens them), and its snapshots come from a real dump
//! (`netlink::dump`) folded into the broker's state, exactly as the daemon builds them.
//! Real traffic is UDP sent from a socket bound to the second address, counted on the
//! peer's side of each veth.
//!
//! Needs root. Without it the tests print why and pass, except under `CI=true`, where a
//! skipped privileged test must fail loudly.

// Panicking on an unexpected result is how a test fails.
#![allow(clippy::expect_used, clippy::unwrap_used)]

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::{in_netns, privileged, run_ok, Netns};
use network_broker::broker::state::State;
use network_broker::event::KernelEvent;
use network_broker::model::Snapshot;
use network_broker::netlink;
use network_broker::routing::{self, OnStop, Settings};

const PROTOCOL: &str = "78";
const PACKETS: u64 = 30;
/// Packets a link may send on its own during a measurement (IPv6 housekeeping).
const NOISE: u64 = 5;
const TIMEOUT: Duration = Duration::from_secs(10);

fn json(text: &str) -> serde_json::Value {
    serde_json::from_str(text).unwrap_or_else(|e| panic!("bad JSON from ip ({e}): {text}"))
}

/// The two namespaces; deleted when the test ends, however it ends (deleting a namespace
/// destroys the veths in it).
struct Lab {
    host: Netns,
    peer: Netns,
}

impl Lab {
    fn new(tag: &str) -> Lab {
        let pid = std::process::id();
        let lab = Lab {
            host: Netns::create(format!("nbrt{pid}{tag}h")),
            peer: Netns::create(format!("nbrt{pid}{tag}p")),
        };
        // Quiet IPv6 (no DAD, no router solicitations) so the packet counters only count
        // what the test sends, and the addresses are usable at once; ARP answered only on
        // the link that has the address, the usual advice for two links in one subnet.
        for (key, value) in [
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.all.accept_dad", "0"),
            ("net.ipv6.conf.default.router_solicitations", "0"),
            ("net.ipv6.conf.default.accept_ra", "0"),
            ("net.ipv4.conf.all.arp_ignore", "1"),
            ("net.ipv4.conf.all.arp_announce", "2"),
            ("net.ipv4.conf.all.rp_filter", "2"),
        ] {
            run_ok(
                "ip",
                &[
                    "netns",
                    "exec",
                    lab.host.name(),
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("{key}={value}"),
                ],
            );
        }
        for (key, value) in [
            ("net.ipv6.conf.default.accept_dad", "0"),
            ("net.ipv6.conf.all.accept_dad", "0"),
        ] {
            run_ok(
                "ip",
                &[
                    "netns",
                    "exec",
                    lab.peer.name(),
                    "sysctl",
                    "-q",
                    "-w",
                    &format!("{key}={value}"),
                ],
            );
        }
        lab.p(&["link", "set", "lo", "up"]);
        lab.h(&["link", "set", "lo", "up"]);
        lab.p(&["link", "add", "br0", "type", "bridge"]);
        lab.p(&["link", "set", "br0", "up"]);
        lab.p(&["addr", "add", "10.99.0.1/24", "dev", "br0"]);
        lab.p(&["addr", "add", "2001:db8:99::1/64", "dev", "br0", "nodad"]);
        lab.p(&["addr", "add", "fe80::1/64", "dev", "br0", "nodad"]);
        lab.p(&["addr", "add", "198.51.100.1/32", "dev", "lo"]);
        lab.p(&["addr", "add", "2001:db8:beef::1/128", "dev", "lo"]);
        lab.add_link(0);
        lab.add_link(1);
        lab
    }

    /// `ip -n H ARGS`.
    fn h(&self, args: &[&str]) -> String {
        self.host.ip(args)
    }

    /// `ip -n P ARGS`.
    fn p(&self, args: &[&str]) -> String {
        self.peer.ip(args)
    }

    /// Creates `hN <-> pN`, bridges `pN`, gives `hN` its addresses and its default routes.
    fn add_link(&self, n: u8) {
        let (h, p) = (format!("h{n}"), format!("p{n}"));
        run_ok(
            "ip",
            &[
                "link",
                "add",
                &h,
                "netns",
                self.host.name(),
                "type",
                "veth",
                "peer",
                "name",
                &p,
                "netns",
                self.peer.name(),
            ],
        );
        self.p(&["link", "set", &p, "master", "br0", "up"]);
        self.h(&["link", "set", &h, "up"]);
        let host = 2 + n;
        self.h(&["addr", "add", &format!("10.99.0.{host}/24"), "dev", &h]);
        self.h(&[
            "addr",
            "add",
            &format!("2001:db8:99::{host}/64"),
            "dev",
            &h,
            "nodad",
        ]);
        let metric = format!("{}", 100 * (u32::from(n) + 1));
        self.h(&[
            "route",
            "add",
            "default",
            "via",
            "10.99.0.1",
            "dev",
            &h,
            "metric",
            &metric,
        ]);
        self.h(&[
            "-6", "route", "add", "default", "via", "fe80::1", "dev", &h, "metric", &metric,
        ]);
    }

    fn ifindex(&self, dev: &str) -> u32 {
        let v = json(&self.h(&["-j", "link", "show", "dev", dev]));
        v[0]["ifindex"].as_u64().expect("ifindex") as u32
    }

    /// The link `ip route get DST from SRC` leaves through, and the table it was found in.
    fn route_get(&self, dst: &str, src: &str) -> (String, String) {
        let v = json(&self.h(&["-j", "route", "get", dst, "from", src]));
        let dev = v[0]["dev"].as_str().unwrap_or_default().to_owned();
        let table = v[0]["table"].as_str().unwrap_or("main").to_owned();
        (dev, table)
    }

    /// Our rules of one family, as `ip rule` shows them (`20000 from 10.99.0.3 table 1003`);
    /// duplicates are kept, so a count shows them.
    fn our_rules(&self, family: &str) -> Vec<String> {
        let v = json(&self.h(&[family, "-j", "rule", "show"]));
        v.as_array()
            .unwrap()
            .iter()
            .filter(|r| matches!(r["protocol"].as_str(), Some(PROTOCOL | "network-broker")))
            .map(rule_text)
            .collect()
    }

    fn all_rules(&self, family: &str) -> Vec<String> {
        let v = json(&self.h(&[family, "-j", "rule", "show"]));
        v.as_array().unwrap().iter().map(rule_text).collect()
    }

    /// The routes in a table, as `ip -j route show table T` lists them (`dst via dev`).
    fn table(&self, family: &str, table: u32) -> Vec<String> {
        let v = json(&self.h(&[family, "-j", "route", "show", "table", &table.to_string()]));
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} via {} dev {} proto {}",
                    r["dst"].as_str().unwrap_or("?"),
                    r["gateway"].as_str().unwrap_or("-"),
                    r["dev"].as_str().unwrap_or("?"),
                    r["protocol"].as_str().unwrap_or("?")
                )
            })
            .collect()
    }

    /// Received packets of a link in P (what H sent through it).
    fn rx(&self, dev: &str) -> u64 {
        let v = json(&self.p(&["-s", "-j", "link", "show", "dev", dev]));
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .expect("rx packets")
    }

    /// Sends [`PACKETS`] UDP datagrams from `src` to `dst` and returns how many more packets
    /// p0 and p1 received meanwhile, once one of them has received them all.
    async fn traffic(&self, src: &str, dst: &str) -> (u64, u64) {
        let (p0, p1) = (self.rx("p0"), self.rx("p1"));
        let src: IpAddr = src.parse().unwrap();
        let dst = SocketAddr::new(dst.parse().unwrap(), 9);
        let socket = UdpSocket::bind(SocketAddr::new(src, 0)).expect("bind the source address");
        for _ in 0..PACKETS {
            socket.send_to(b"network-broker", dst).expect("send");
        }
        // Until one link has counted them all (or the timeout: then the caller's assertion
        // says where they went).
        let start = Instant::now();
        loop {
            let counted = (self.rx("p0") - p0, self.rx("p1") - p1);
            if counted.0.max(counted.1) >= PACKETS || start.elapsed() >= TIMEOUT {
                return counted;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

fn rule_text(r: &serde_json::Value) -> String {
    let mut text = format!("{}", r["priority"].as_u64().unwrap_or(0));
    for key in ["src", "dst"] {
        if let Some(v) = r[key].as_str().filter(|v| *v != "all") {
            let len = r[format!("{key}len")]
                .as_u64()
                .map_or_else(String::new, |l| format!("/{l}"));
            text.push_str(&format!(" {key} {v}{len}"));
        }
    }
    text.push_str(&format!(" table {}", r["table"].as_str().unwrap_or("?")));
    text
}

/// The broker's picture of the namespace, built as the daemon builds it: a real dump folded
/// into the broker's state.
async fn snapshot() -> Arc<Snapshot> {
    let (connection, handle, _) = rtnetlink::new_connection().expect("netlink socket");
    let task = tokio::spawn(connection);
    let dump = netlink::dump(&handle).await.expect("dump");
    task.abort();
    let mut state = State::default();
    state.apply(KernelEvent::Snapshot(dump), &mut Vec::new());
    Arc::new(state.snapshot())
}

fn settings(links: &[&str]) -> Settings {
    Settings {
        links: links.iter().map(|l| l.to_string()).collect(),
        ..Settings::default()
    }
}

async fn wait_until(what: &str, mut condition: impl FnMut() -> bool) {
    let start = Instant::now();
    while !condition() {
        assert!(start.elapsed() < TIMEOUT, "timed out waiting until {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn init_logging() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

#[test]
fn ipv4_policy_routing_in_a_real_kernel() {
    if !privileged("the IPv4 policy-routing test") {
        return;
    }
    init_logging();
    let lab = Arc::new(Lab::new("a"));
    let ns = lab.host.name().to_owned();
    let l = lab.clone();
    in_netns(&ns, move || ipv4_scenario(l));
    drop(lab);
}

async fn ipv4_scenario(lab: Arc<Lab>) {
    let h1 = lab.ifindex("h1");
    let table = 1000 + h1;

    // Not listed: everything leaves through h0, the main table's preferred default route.
    let routing = routing::spawn(settings(&[])).expect("routing actor");
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(!report.changed() && report.errors.is_empty(), "{report:?}");
    assert_eq!(lab.route_get("198.51.100.1", "10.99.0.3").0, "h0");
    let (p0, p1) = lab.traffic("10.99.0.3", "198.51.100.1").await;
    assert!(p0 >= PACKETS && p1 < NOISE, "unlisted h1: p0 {p0}, p1 {p1}");

    // h1 listed: traffic from its address leaves through it, looked up in its table.
    routing.update_settings(settings(&["h1"]));
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        lab.route_get("198.51.100.1", "10.99.0.3"),
        ("h1".to_owned(), table.to_string())
    );
    // Same-subnet traffic stays on the link too (the table has the subnet route).
    assert_eq!(lab.route_get("10.99.0.77", "10.99.0.3").0, "h1");
    // The other address is not ours to steer.
    assert_eq!(lab.route_get("198.51.100.1", "10.99.0.2").0, "h0");
    let (p0, p1) = lab.traffic("10.99.0.3", "198.51.100.1").await;
    assert!(p1 >= PACKETS && p0 < NOISE, "listed h1: p0 {p0}, p1 {p1}");
    let (p0, p1) = lab.traffic("10.99.0.2", "198.51.100.1").await;
    assert!(
        p0 >= PACKETS && p1 < NOISE,
        "h0's address: p0 {p0}, p1 {p1}"
    );
    assert_eq!(
        lab.our_rules("-4"),
        [
            format!("20000 src 10.99.0.3 table {table}"),
            format!("20001 dst 10.99.0.3 table {table}")
        ]
    );
    assert_eq!(
        lab.table("-4", table),
        [
            format!("default via 10.99.0.1 dev h1 proto {PROTOCOL}"),
            format!("10.99.0.0/24 via - dev h1 proto {PROTOCOL}")
        ]
    );

    // Twice adds nothing: no duplicates.
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(!report.changed(), "{report:?}");
    assert_eq!(lab.our_rules("-4").len(), 2);

    // Another address gets its two rules; removing it removes exactly those.
    let before = lab.all_rules("-4");
    lab.h(&["addr", "add", "10.99.0.4/24", "dev", "h1"]);
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.expect("reconcile");
    assert_eq!(report.added_rules.len(), 2, "{report:?}");
    lab.h(&["addr", "del", "10.99.0.4/24", "dev", "h1"]);
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.expect("reconcile");
    assert_eq!(report.removed_rules.len(), 2, "{report:?}");
    assert!(report
        .removed_rules
        .iter()
        .all(|r| r.src.or(r.dst).map(|(ip, _)| ip.to_string()) == Some("10.99.0.4".into())));
    assert_eq!(lab.all_rules("-4"), before);

    // Someone (networkd's ManageForeignRoutes=) deletes our default route: the broker hands
    // over its snapshot and the route comes back on the automatic path.
    lab.h(&["route", "del", "default", "table", &table.to_string()]);
    assert_eq!(lab.table("-4", table).len(), 1);
    routing.reconcile(snapshot().await);
    wait_until("the default route is re-installed", || {
        lab.table("-4", table).len() == 2
    })
    .await;

    // A restart: our rules stay while the daemon is down. Meanwhile a stale rule and route of
    // ours (a link no longer listed) and a foreign rule at our priority appear.
    routing.shutdown(OnStop::Keep).await.expect("shutdown");
    assert_eq!(lab.our_rules("-4").len(), 2);
    let h0_table = (1000 + lab.ifindex("h0")).to_string();
    lab.h(&[
        "rule",
        "add",
        "from",
        "10.99.0.2",
        "lookup",
        &h0_table,
        "priority",
        "20000",
        "protocol",
        PROTOCOL,
    ]);
    lab.h(&[
        "route",
        "add",
        "10.99.0.0/24",
        "dev",
        "h0",
        "table",
        &h0_table,
        "proto",
        PROTOCOL,
    ]);
    lab.h(&[
        "rule",
        "add",
        "from",
        "10.99.0.77",
        "lookup",
        "1234",
        "priority",
        "20000",
        "protocol",
        "static",
    ]);
    let routing = routing::spawn(settings(&["h1"])).expect("routing actor");
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(
        report.added_rules.is_empty() && report.added_routes.is_empty(),
        "{report:?}"
    );
    assert_eq!(report.removed_rules.len(), 1, "{report:?}");
    assert_eq!(report.removed_routes.len(), 1, "{report:?}");
    assert!(lab
        .all_rules("-4")
        .contains(&"20000 src 10.99.0.77 table 1234".to_owned()));
    assert!(lab.table("-4", 1000 + lab.ifindex("h0")).is_empty());
    assert_eq!(lab.our_rules("-4").len(), 2);

    // h1 re-created: a new ifindex, a new table; the old table's rules are swept.
    lab.h(&["link", "del", "h1"]);
    lab.add_link(1);
    let new_table = 1000 + lab.ifindex("h1");
    assert_ne!(new_table, table);
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        lab.route_get("198.51.100.1", "10.99.0.3"),
        ("h1".to_owned(), new_table.to_string())
    );
    let rules = lab.our_rules("-4");
    assert_eq!(rules.len(), 2, "{rules:?}");
    assert!(rules
        .iter()
        .all(|r| r.ends_with(&format!("table {new_table}"))));

    // The last IPv4 address goes: its rules and the table's IPv4 routes go with it.
    lab.h(&["addr", "del", "10.99.0.3/24", "dev", "h1"]);
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(lab.our_rules("-4").is_empty());
    assert!(lab.table("-4", new_table).is_empty());
    assert_eq!(lab.our_rules("-6").len(), 2, "IPv6 is untouched");

    // Stopping with RemoveRoutingOnStop: nothing of ours is left; the foreign rule stays.
    let report = routing.shutdown(OnStop::Remove).await.expect("shutdown");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(lab.our_rules("-6").is_empty());
    assert!(lab.table("-6", new_table).is_empty());
    assert!(lab
        .all_rules("-4")
        .contains(&"20000 src 10.99.0.77 table 1234".to_owned()));
}

#[test]
fn ipv6_policy_routing_in_a_real_kernel() {
    if !privileged("the IPv6 policy-routing test") {
        return;
    }
    init_logging();
    let lab = Arc::new(Lab::new("b"));
    let ns = lab.host.name().to_owned();
    let l = lab.clone();
    in_netns(&ns, move || ipv6_scenario(l));
    drop(lab);
}

async fn ipv6_scenario(lab: Arc<Lab>) {
    let table = 1000 + lab.ifindex("h1");
    let (beyond, second, first) = ("2001:db8:beef::1", "2001:db8:99::3", "2001:db8:99::2");

    let routing = routing::spawn(settings(&[])).expect("routing actor");
    routing.reconcile(snapshot().await);
    routing.reconcile_now().await.expect("reconcile");
    assert_eq!(lab.route_get(beyond, second).0, "h0");
    let (p0, p1) = lab.traffic(second, beyond).await;
    assert!(p0 >= PACKETS && p1 < NOISE, "unlisted h1: p0 {p0}, p1 {p1}");

    routing.update_settings(settings(&["h1"]));
    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert_eq!(
        lab.route_get(beyond, second),
        ("h1".to_owned(), table.to_string())
    );
    assert_eq!(lab.route_get(beyond, first).0, "h0");
    let (p0, p1) = lab.traffic(second, beyond).await;
    assert!(p1 >= PACKETS && p0 < NOISE, "listed h1: p0 {p0}, p1 {p1}");
    assert_eq!(
        lab.our_rules("-6"),
        [
            format!("20000 src {second} table {table}"),
            format!("20001 dst {second} table {table}")
        ]
    );
    // The link-local gateway, reached through the link.
    let routes: BTreeSet<String> = lab.table("-6", table).into_iter().collect();
    assert_eq!(
        routes,
        BTreeSet::from([
            format!("default via fe80::1 dev h1 proto {PROTOCOL}"),
            format!("2001:db8:99::/64 via - dev h1 proto {PROTOCOL}"),
        ])
    );

    let report = routing.reconcile_now().await.expect("reconcile");
    assert!(
        !report.changed(),
        "the kernel's metric 1024 matches: {report:?}"
    );

    let before = lab.all_rules("-6");
    lab.h(&["addr", "add", "2001:db8:99::4/64", "dev", "h1", "nodad"]);
    routing.reconcile(snapshot().await);
    assert_eq!(routing.reconcile_now().await.unwrap().added_rules.len(), 2);
    lab.h(&["addr", "del", "2001:db8:99::4/64", "dev", "h1"]);
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.unwrap();
    assert_eq!(report.removed_rules.len(), 2, "{report:?}");
    assert_eq!(lab.all_rules("-6"), before);

    lab.h(&["-6", "route", "del", "default", "table", &table.to_string()]);
    routing.reconcile(snapshot().await);
    wait_until("the IPv6 default route is re-installed", || {
        lab.table("-6", table).len() == 2
    })
    .await;

    lab.h(&["addr", "del", "2001:db8:99::3/64", "dev", "h1"]);
    routing.reconcile(snapshot().await);
    let report = routing.reconcile_now().await.unwrap();
    assert!(report.errors.is_empty(), "{:?}", report.errors);
    assert!(lab.our_rules("-6").is_empty());
    assert!(lab.table("-6", table).is_empty());
    assert_eq!(lab.our_rules("-4").len(), 2, "IPv4 is untouched");
    routing.shutdown(OnStop::Remove).await.expect("shutdown");
    assert!(lab.our_rules("-4").is_empty());
}
