//! Lab integration tests of policy routing: the whole daemon, started inside the
//! lab (`tests/lab/netlab.sh up`; without the lab they SKIP, under `CI=true` they fail),
//! against the lab's real kernel and, in one test, the lab's real systemd-networkd.
//!
//! `tests/routing_netns.rs` proves the reconciler itself in throwaway namespaces, without the
//! daemon. These tests prove the daemon around it: that its snapshots reach the reconciler
//! (`publish()` → `routing.reconcile`), that start, stop and restart keep the promises of
//! `docs/routing.md`, that the bus shows it (`RoutingTable`, `ReconcileRouting()`,
//! `DescribeRouting()`, `network-brokerctl routing`), and that it copes with networkd.
//!
//! Topology of the tests with two links of their own ([`Topology`]), per address family:
//!
//! ```text
//!  lab machine (netns labhost)                        netns labpeer
//!   A  10.201.0.2/24  2001:db8:78::2/64  <-veth->  A' ─┐
//!   B  10.201.0.3/24  2001:db8:78::3/64  <-veth->  B' ─┴ bridge 10.201.0.1/24
//!   main: default via GW dev A metric 10                     2001:db8:78::1/64, fe80::1
//!         default via GW dev B metric 20
//! ```
//!
//! Two links in one subnet, each with a default route of its own, A's preferred: without
//! policy routing everything leaves through A, whatever its source address. Real traffic is
//! UDP from a socket bound to B's address to an address beyond the gateway (198.51.100.7,
//! 2001:db8:beef::7); labpeer does not forward, so it is dropped there, and the receive
//! counters of A' and B' tell which link it left through.
//!
//! Every test declares a [`Cleanup`] first, so that it runs last, after the daemon has
//! stopped: it deletes what the test added by hand and flushes every rule and route of our
//! protocol (a daemon keeps its own on stop by default), so no test leaves anything behind.
//!
//! What real systemd-networkd 252 does in this lab (observed, see
//! `networkd_deleting_our_rules_and_routes_is_followed_by_their_reinstallation`): restarting
//! it does **not** delete our rules or routes on the static labnd1: it logs `labnd1:
//! Configuring with ...` before `Enumeration completed`, so its drop of foreign configuration
//! runs before it has read any route or rule. It does take labnd0's DHCP address away when it
//! stops (and gets a new lease when it starts), and the kernel flushes every IPv4 route
//! through a link that loses its last IPv4 address, in every table, ours included, without
//! announcing it: that is the route seen to vanish on a networkd restart. What `docs/routing.md`
//! describes (`ManageForeignRoutes=`, `ManageForeignRoutingPolicyRules=`) happens on a
//! reconfiguration of the link (`networkctl reconfigure`, or a reload after its `.network`
//! changed): networkd removes and re-adds the link's address and routes (the kernel flushes our
//! table's routes with the address) and deletes our rule.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use common::*;
use serde_json::Value;
use std::cell::RefCell;
use std::fs;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

/// How long the daemon, the kernel or networkd get to reach a state. A safety net: the tests
/// wait for conditions.
const TIMEOUT: Duration = Duration::from_secs(30);
/// `RouteTableBase` (default).
const TABLE_BASE: u32 = 1000;
/// `RoutingPolicyPriority` (default): the `from` rules; the `to` rules use the next one.
const FROM_PRIORITY: u32 = 20000;
/// The `to` rules' priority.
const TO_PRIORITY: u32 = 20001;
/// `RoutingPolicyProtocol` (default), as `ip` shows it without `rt_protos.d`.
const PROTOCOL: &str = "78";
/// Datagrams that must arrive through the expected link.
const PACKETS: u64 = 200;
/// Datagrams sent per round while waiting for them.
const BATCH: usize = 25;
/// At most this many packets may go through the other link meanwhile: what the lab machine
/// sends on its own (IPv6 router solicitations and MLD reports of new links, an ARP reply to
/// labpeer's rate-limited ICMP errors). Wrongly routed traffic would be all of it.
const NOISE: u64 = PACKETS / 10;
/// networkd's DHCP link, and its DHCP server and router in labpeer.
const ND0: &str = "labnd0";
const ND0_GATEWAY: &str = "192.168.77.1";
/// networkd's static link, and its peer's address (a gateway the test gives it).
const ND1: &str = "labnd1";
const ND1_ADDRESS: &str = "192.168.78.2";
const ND1_GATEWAY: &str = "192.168.78.1";
/// The metric of the default route the test's drop-in gives labnd1: above labnd0's DHCP
/// default (1024), so the lab's own traffic keeps its way.
const ND1_GATEWAY_METRIC: &str = "4000";

// ------------------------------------------------------------------------------------------
// addresses

/// One address family's plan of the two-link topology.
struct Family {
    v6: bool,
    /// `-4` or `-6`, for `ip`.
    flag: &'static str,
    prefix_len: u8,
    /// What the peer's bridge gets (the gateway's address and, for IPv6, its link-local one).
    bridge_addrs: &'static [&'static str],
    /// The gateway both links' default routes use.
    gateway: &'static str,
    /// A's address.
    addr1: &'static str,
    /// B's address.
    addr2: &'static str,
    /// A second address for B, in the same subnet.
    addr3: &'static str,
    /// B's subnet, as `ip` prints it.
    subnet: &'static str,
    /// Beyond the gateway.
    beyond: &'static str,
}

const V4: Family = Family {
    v6: false,
    flag: "-4",
    prefix_len: 24,
    bridge_addrs: &["10.201.0.1/24"],
    gateway: "10.201.0.1",
    addr1: "10.201.0.2",
    addr2: "10.201.0.3",
    addr3: "10.201.0.4",
    subnet: "10.201.0.0/24",
    beyond: "198.51.100.7",
};

/// The gateway is link-local, as a router advertisement would give it: the table's default
/// route must name B (docs/routing.md, IPv6).
const V6: Family = Family {
    v6: true,
    flag: "-6",
    prefix_len: 64,
    bridge_addrs: &["2001:db8:78::1/64", "fe80::1/64"],
    gateway: "fe80::1",
    addr1: "2001:db8:78::2",
    addr2: "2001:db8:78::3",
    addr3: "2001:db8:78::4",
    subnet: "2001:db8:78::/64",
    beyond: "2001:db8:beef::7",
};

impl Family {
    /// `ADDR/LEN` and, for IPv6, `nodad` (usable at once).
    fn addr_args(&self, addr: &str, dev: &str) -> Vec<String> {
        let mut args = vec![
            "ip".to_owned(),
            "addr".to_owned(),
            "add".to_owned(),
            format!("{addr}/{}", self.prefix_len),
            "dev".to_owned(),
            dev.to_owned(),
        ];
        if self.v6 {
            args.push("nodad".to_owned());
        }
        args
    }
}

// ------------------------------------------------------------------------------------------
// the kernel's rules and routes, as `ip -j` shows them inside the lab

fn ip_json(lab: &LabInfo, args: &[&str]) -> Value {
    let mut full = vec!["ip", "-j"];
    full.extend_from_slice(args);
    let text = lab.run(&full);
    if text.trim().is_empty() {
        return Value::Array(Vec::new());
    }
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("ip {args:?}: {e}: {text}"))
}

fn is_ours(protocol: &Value) -> bool {
    matches!(protocol.as_str(), Some(PROTOCOL | "network-broker"))
}

/// `20000 from 10.201.0.3 lookup 1007` (`ip rule`'s words, `proto P` appended when `proto`).
fn rule_text(r: &Value, proto: bool) -> String {
    let mut text = r["priority"].as_u64().unwrap_or(0).to_string();
    for (key, word) in [("src", "from"), ("dst", "to")] {
        if let Some(v) = r[key].as_str().filter(|v| *v != "all") {
            let len = r[format!("{key}len")]
                .as_u64()
                .map_or_else(String::new, |l| format!("/{l}"));
            text.push_str(&format!(" {word} {v}{len}"));
        }
    }
    text.push_str(&format!(" lookup {}", r["table"].as_str().unwrap_or("?")));
    if proto {
        text.push_str(&format!(" proto {}", r["protocol"].as_str().unwrap_or("-")));
    }
    text
}

/// Every rule of the family, with its protocol, in the kernel's order (duplicates kept).
fn all_rules(lab: &LabInfo, fam: &Family) -> Vec<String> {
    ip_json(lab, &[fam.flag, "rule", "show"])
        .as_array()
        .unwrap()
        .iter()
        .map(|r| rule_text(r, true))
        .collect()
}

/// The rules of ours, sorted (duplicates kept, so a count shows them).
fn our_rules(lab: &LabInfo, fam: &Family) -> Vec<String> {
    let mut rules: Vec<String> = ip_json(lab, &[fam.flag, "rule", "show"])
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| is_ours(&r["protocol"]))
        .map(|r| rule_text(r, false))
        .collect();
    rules.sort();
    rules
}

/// The two rules of address `addr` in `table`, as [`our_rules`] shows them.
fn rules_of(addr: &str, table: u32) -> Vec<String> {
    vec![
        format!("{FROM_PRIORITY} from {addr} lookup {table}"),
        format!("{TO_PRIORITY} to {addr} lookup {table}"),
    ]
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// `10.201.0.0/24 via - dev B proto 78 src 10.201.0.3` (protocol 78 whatever `ip` calls it).
fn route_text(r: &Value) -> String {
    let proto = if is_ours(&r["protocol"]) {
        PROTOCOL
    } else {
        r["protocol"].as_str().unwrap_or("-")
    };
    format!(
        "{} via {} dev {} proto {proto} src {}",
        r["dst"].as_str().unwrap_or("?"),
        r["gateway"].as_str().unwrap_or("-"),
        r["dev"].as_str().unwrap_or("?"),
        r["prefsrc"].as_str().unwrap_or("-"),
    )
}

/// Every route of the family in `table`, sorted (none when the kernel has no such table: it
/// creates an IPv4 table with its first route).
fn table_routes(lab: &LabInfo, fam: &Family, table: u32) -> Vec<String> {
    let t = table.to_string();
    let out = lab.output(&["ip", "-j", fam.flag, "route", "show", "table", &t]);
    if !out.success() && out.stderr.contains("FIB table does not exist") {
        return Vec::new();
    }
    let text = out.ok();
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("ip route show table {t}: {e}: {text}"));
    sorted(v.as_array().unwrap().iter().map(route_text).collect())
}

/// Every route of ours of the family, in any table, with its table.
fn our_routes_anywhere(lab: &LabInfo, fam: &Family) -> Vec<String> {
    let v = ip_json(
        lab,
        &[fam.flag, "route", "show", "table", "all", "proto", PROTOCOL],
    );
    sorted(
        v.as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} table {}",
                    route_text(r),
                    r["table"].as_str().unwrap_or("main")
                )
            })
            .collect(),
    )
}

/// Our table's subnet route of `fam.subnet` (or `subnet`) for `dev`: IPv4 with the address as
/// `src`, IPv6 without.
fn subnet_route(fam: &Family, subnet: Option<&str>, dev: &str, src: &str) -> String {
    let src = if fam.v6 { "-" } else { src };
    let subnet = subnet.unwrap_or(fam.subnet);
    format!("{subnet} via - dev {dev} proto {PROTOCOL} src {src}")
}

/// Our table's default route through `dev`'s own gateway.
fn default_route(gateway: &str, dev: &str) -> String {
    format!("default via {gateway} dev {dev} proto {PROTOCOL} src -")
}

/// Waits until the family's rules of ours are exactly `rules` and `table` holds exactly
/// `routes`.
fn wait_policy(
    lab: &LabInfo,
    fam: &Family,
    what: &str,
    rules: Vec<String>,
    table: u32,
    routes: Vec<String>,
) {
    wait_policy_tables(lab, fam, what, rules, &[(table, routes)]);
}

/// [`wait_policy`] for several tables: each `(table, routes)` holds exactly its routes.
fn wait_policy_tables(
    lab: &LabInfo,
    fam: &Family,
    what: &str,
    rules: Vec<String>,
    tables: &[(u32, Vec<String>)],
) {
    let rules = sorted(rules);
    let tables: Vec<(u32, Vec<String>)> = tables
        .iter()
        .map(|(t, routes)| (*t, sorted(routes.clone())))
        .collect();
    wait_until(what, TIMEOUT, || {
        let have_rules = our_rules(lab, fam);
        let mut wrong = Vec::new();
        if have_rules != rules {
            wrong.push(format!("rules of ours {have_rules:#?} (want {rules:#?})"));
        }
        for (table, routes) in &tables {
            let have = table_routes(lab, fam, *table);
            if have != *routes {
                wrong.push(format!("table {table}: {have:#?} (want {routes:#?})"));
            }
        }
        if wrong.is_empty() {
            Ok(())
        } else {
            Err(wrong.join("; "))
        }
    });
}

/// The link `ip route get DST from SRC` leaves through, and the table it was found in.
fn route_get(lab: &LabInfo, fam: &Family, dst: &str, src: &str) -> (String, String) {
    let v = ip_json(lab, &[fam.flag, "route", "get", dst, "from", src]);
    (
        v[0]["dev"].as_str().unwrap_or_default().to_owned(),
        v[0]["table"].as_str().unwrap_or("main").to_owned(),
    )
}

// ------------------------------------------------------------------------------------------
// the topology and the guards

static BRIDGE_SEQ: AtomicU32 = AtomicU32::new(0);

/// A bridge in labpeer, deleted on drop.
struct PeerBridge {
    lab: LabInfo,
    name: String,
}

impl Drop for PeerBridge {
    fn drop(&mut self) {
        let out = output_of({
            let mut c = std::process::Command::new("ip");
            c.args(["-n", &self.lab.netns_peer, "link", "del", &self.name]);
            c
        });
        if !out.success() {
            eprintln!("cleanup: {}", out.describe());
        }
    }
}

/// Links A and B (module documentation), their peers bridged in labpeer with the gateway.
/// The links and the bridge are deleted on drop (the kernel removes their routes with them).
struct Topology {
    fam: &'static Family,
    a: TestLink,
    b: TestLink,
    _bridge: PeerBridge,
}

impl Topology {
    fn new(lab: &LabInfo, fam: &'static Family) -> Topology {
        let bridge = PeerBridge {
            lab: lab.clone(),
            name: format!(
                "nbt{}br{}",
                std::process::id() % 1000,
                BRIDGE_SEQ.fetch_add(1, Ordering::SeqCst)
            ),
        };
        lab.peer_run(&["ip", "link", "add", &bridge.name, "type", "bridge"]);
        lab.peer_run(&["ip", "link", "set", &bridge.name, "up"]);
        for addr in fam.bridge_addrs {
            let mut args = vec!["ip", "addr", "add", addr, "dev", &bridge.name];
            if fam.v6 {
                args.push("nodad");
            }
            lab.peer_run(&args);
        }
        let a = TestLink::veth_to_peer(lab);
        let b = TestLink::veth_to_peer(lab);
        for link in [&a, &b] {
            lab.peer_run(&["ip", "link", "set", &link.peer, "master", &bridge.name]);
        }
        lab.run(&fam.addr_args(fam.addr1, &a.name));
        lab.run(&fam.addr_args(fam.addr2, &b.name));
        for (link, metric) in [(&a, "10"), (&b, "20")] {
            lab.run(&[
                "ip",
                fam.flag,
                "route",
                "add",
                "default",
                "via",
                fam.gateway,
                "dev",
                &link.name,
                "metric",
                metric,
            ]);
        }
        Topology {
            fam,
            a,
            b,
            _bridge: bridge,
        }
    }

    /// B's table.
    fn table_b(&self) -> u32 {
        TABLE_BASE + self.b.ifindex
    }

    /// What B's table holds while B has its address and its default route in main.
    fn b_routes(&self) -> Vec<String> {
        vec![
            subnet_route(self.fam, None, &self.b.name, self.fam.addr2),
            default_route(self.fam.gateway, &self.b.name),
        ]
    }

    /// Sends datagrams from `src` to the address beyond the gateway until [`PACKETS`] have
    /// arrived on `via`'s peer, then checks that fewer than [`NOISE`] arrived on the other
    /// link's peer meanwhile.
    fn assert_traffic_leaves_via(&self, lab: &LabInfo, src: &str, via: &TestLink) {
        let other = if via.name == self.a.name {
            &self.b
        } else {
            &self.a
        };
        let src: IpAddr = src.parse().unwrap();
        let dst = SocketAddr::new(self.fam.beyond.parse().unwrap(), 9);
        let (via0, other0) = (
            lab.peer_rx_packets(&via.peer),
            lab.peer_rx_packets(&other.peer),
        );
        let mut sent = 0;
        let counts = |sent: usize| {
            let (v, o) = (
                lab.peer_rx_packets(&via.peer) - via0,
                lab.peer_rx_packets(&other.peer) - other0,
            );
            (
                v,
                o,
                format!(
                    "{sent} datagrams sent from {src}: {v} arrived on {}, {o} on {}",
                    via.peer, other.peer
                ),
            )
        };
        wait_until(
            &format!(
                "{PACKETS} datagrams from {src} to arrive through {}",
                via.name
            ),
            TIMEOUT,
            || {
                lab.send_udp(src, dst, BATCH);
                sent += BATCH;
                let (v, _, text) = counts(sent);
                if v >= PACKETS {
                    Ok(())
                } else {
                    Err(text)
                }
            },
        );
        let (_, o, text) = counts(sent);
        assert!(
            o < NOISE,
            "traffic also left through {}: {text}",
            other.name
        );
        eprintln!("traffic: {text}");
    }
}

/// Undoes what a test changed in the lab, however it ends ([`Cleanup::ip`] registers the
/// undo of a change made by hand), then flushes every rule and route of our protocol: the
/// daemons under test keep theirs when they stop (`RemoveRoutingOnStop: false`), and rules
/// outlive the links whose tables they name. It flushes at the start too, so that a run
/// killed halfway cannot leave the next one a surprise. Safe because the lab is this test
/// binary's alone while the test runs ([`Lab::require`] serialises them) and nothing else in
/// it uses protocol 78.
struct Cleanup {
    lab: LabInfo,
    undo: RefCell<Vec<Vec<String>>>,
}

impl Cleanup {
    fn new(lab: &LabInfo) -> Cleanup {
        let c = Cleanup {
            lab: lab.clone(),
            undo: RefCell::new(Vec::new()),
        };
        c.flush();
        c
    }

    /// Runs `ip ARGS` in the lab now and `ip UNDO` when the test ends.
    fn ip(&self, args: &[&str], undo: &[&str]) {
        let mut full = vec!["ip"];
        full.extend_from_slice(args);
        self.lab.run(&full);
        let mut u = vec!["ip".to_owned()];
        u.extend(undo.iter().map(|s| (*s).to_owned()));
        self.undo.borrow_mut().push(u);
    }

    fn flush(&self) {
        for family in ["-4", "-6"] {
            for cmd in [
                vec!["ip", family, "rule", "flush", "protocol", PROTOCOL],
                vec![
                    "ip", family, "route", "flush", "table", "all", "proto", PROTOCOL,
                ],
            ] {
                let out = self.lab.output(&cmd);
                if !out.success() {
                    eprintln!("cleanup: {}", out.describe());
                }
            }
        }
    }
}

impl Drop for Cleanup {
    fn drop(&mut self) {
        for cmd in self.undo.borrow_mut().drain(..).rev() {
            // Already gone (with its link, or swept by the daemon) is fine.
            let _ = self.lab.output(&cmd);
        }
        self.flush();
    }
}

/// `ip monitor rule route address` inside the lab, into a file: what was deleted and added, in
/// order (a condition polled with `ip route` can miss a deletion followed by a
/// re-installation). The kernel does not announce every route it removes: see
/// `networkd_deleting_our_rules_and_routes_is_followed_by_their_reinstallation`.
struct KernelMonitor {
    lab: LabInfo,
    child: LabChild,
    seq: u32,
    _dir: ScratchDir,
}

impl KernelMonitor {
    fn start(lab: &LabInfo) -> KernelMonitor {
        let dir = ScratchDir::new("nb-ipmon-");
        let child = lab.spawn_logged(
            &["ip", "monitor", "rule", "route", "address"],
            &dir.path().join("monitor.log"),
        );
        let mut mon = KernelMonitor {
            lab: lab.clone(),
            child,
            seq: 0,
            _dir: dir,
        };
        mon.sync();
        mon
    }

    fn lines(&self) -> Vec<String> {
        self.child.log().lines().map(str::to_owned).collect()
    }

    /// How many lines there are: pass it to [`KernelMonitor::since`].
    fn mark(&self) -> usize {
        self.lines().len()
    }

    fn since(&self, mark: usize) -> Vec<String> {
        self.lines().into_iter().skip(mark).collect()
    }

    /// Adds and deletes a sentinel rule (protocol 79: nobody's, not ours) and waits until the
    /// monitor has written its deletion: everything the kernel announced before is in the
    /// file by then. Also the proof that the monitor is alive.
    fn sync(&mut self) {
        self.seq += 1;
        let pref = (31000 + self.seq).to_string();
        let rule = [
            "from",
            "10.255.255.250",
            "lookup",
            "1998",
            "pref",
            pref.as_str(),
            "protocol",
            "79",
        ];
        let mut add = vec!["ip", "rule", "add"];
        add.extend_from_slice(&rule);
        let mut del = vec!["ip", "rule", "del"];
        del.extend_from_slice(&rule);
        self.lab.run(&add);
        self.lab.run(&del);
        let token = format!("{pref}:");
        wait_until("ip monitor to report its sentinel", TIMEOUT, || {
            if let Some(st) = self.child.try_wait() {
                return Err(format!("ip monitor exited: {st}"));
            }
            if self
                .lines()
                .iter()
                .any(|l| l.starts_with("Deleted") && l.contains(&token))
            {
                Ok(())
            } else {
                Err(format!("monitor so far:\n{}", self.child.log()))
            }
        });
    }
}

/// Whether an `ip monitor` line is about a rule or route of ours.
fn mentions_ours(line: &str) -> bool {
    line.contains(&format!("proto {PROTOCOL}")) || line.contains("proto network-broker")
}

// ------------------------------------------------------------------------------------------
// the daemon

/// `Generator: netlink` (the lab's own veths are not networkd's), debug log, policy routing
/// for `links`, and `extra` lines under `Network:`.
fn yaml(links: &[&str], extra: &str) -> String {
    let mut y = "System:\n  Generator: netlink\n  LogLevel: debug\nNetwork:\n".to_owned();
    if !links.is_empty() {
        y.push_str(&format!("  RoutingPolicyRules: [{}]\n", links.join(", ")));
    }
    y.push_str(extra);
    y
}

/// The `RoutingTable` property of link `idx`, once the daemon shows the link.
fn routing_table_property(lab: &LabInfo, idx: u32, want: u32) {
    wait_until(
        &format!("link {idx}'s RoutingTable to be {want}"),
        TIMEOUT,
        || {
            let v = lab.try_get_property(&link_path(idx), LINK_IFACE, "RoutingTable")?;
            if v.as_u64() == Some(u64::from(want)) {
                Ok(())
            } else {
                Err(format!("RoutingTable = {v}"))
            }
        },
    );
}

/// `network-brokerctl routing` inside the lab: every line `ok`, `ok_lines` of them, none
/// `missing` or `stale`, and the link's table line when `link` is given.
fn assert_brokerctl_routing(lab: &LabInfo, link: Option<(&str, u32, u32)>, ok_lines: usize) {
    let text = lab.run(&[brokerctl_bin(), "routing"]);
    let states: Vec<&str> = text
        .lines()
        .filter_map(|l| l.split_whitespace().next())
        .filter(|w| matches!(*w, "ok" | "missing" | "stale"))
        .collect();
    assert_eq!(
        states,
        vec!["ok"; ok_lines],
        "network-brokerctl routing:\n{text}"
    );
    if let Some((name, idx, table)) = link {
        let want = format!("link {name} (index {idx}): table {table}");
        assert!(
            text.lines().any(|l| l == want),
            "`{want}` not in network-brokerctl routing:\n{text}"
        );
    }
}

/// `DescribeRouting()`, parsed.
fn describe_routing(lab: &LabInfo) -> Value {
    let reply = lab.call(MANAGER_PATH, MANAGER_IFACE, "DescribeRouting", &[]);
    let json = reply[0].as_str().expect("DescribeRouting returns s");
    serde_json::from_str(json).unwrap_or_else(|e| panic!("DescribeRouting: {e}: {json}"))
}

/// Whether a `DescribeRouting()` JSON says a reconcile now would change nothing.
fn nothing_pending(status: &Value) -> bool {
    status["pending"]
        .as_object()
        .is_some_and(|p| p.values().all(|v| v.as_array().is_some_and(Vec::is_empty)))
}

/// `ReconcileRouting()` over the bus (`busctl call`): a full pass, done when it returns.
fn reconcile_routing(lab: &LabInfo) {
    let out = lab.output(&[
        "busctl",
        "--timeout=30",
        "call",
        BUS_NAME,
        MANAGER_PATH,
        MANAGER_IFACE,
        "ReconcileRouting",
    ]);
    assert!(out.success(), "ReconcileRouting(): {}", out.describe());
}

// ------------------------------------------------------------------------------------------
// 1 + 5: the rules, the table, the lookup and real traffic; and the same without the link

fn policy_and_traffic(fam: &'static Family) {
    let Some(lab) = Lab::require() else { return };
    let _clean = Cleanup::new(&lab);
    let topo = Topology::new(&lab, fam);
    let (a, b, table) = (&topo.a, &topo.b, topo.table_b());

    // B listed: its address's rules and its table.
    let mut broker = Broker::start(&lab, &yaml(&[&b.name], ""), &[]);
    wait_policy(
        &lab,
        fam,
        &format!("the rules and table {table} of {}", b.name),
        rules_of(fam.addr2, table),
        table,
        topo.b_routes(),
    );
    // Nothing for A (not listed): all our rules name B's table, at our priorities.
    let all = all_rules(&lab, fam);
    for want in [
        format!(
            "{FROM_PRIORITY} from {} lookup {table} proto {PROTOCOL}",
            fam.addr2
        ),
        format!(
            "{TO_PRIORITY} to {} lookup {table} proto {PROTOCOL}",
            fam.addr2
        ),
    ] {
        assert_eq!(
            all.iter().filter(|r| **r == want).count(),
            1,
            "{want} once: {all:#?}"
        );
    }
    assert_eq!(
        our_routes_anywhere(&lab, fam).len(),
        2,
        "only B's table has routes of ours"
    );

    // The kernel's lookup and real traffic from B's address leave through B; A's through A.
    assert_eq!(
        route_get(&lab, fam, fam.beyond, fam.addr2),
        (b.name.clone(), table.to_string())
    );
    assert_eq!(route_get(&lab, fam, fam.beyond, fam.addr1).0, a.name);
    topo.assert_traffic_leaves_via(&lab, fam.addr2, b);
    topo.assert_traffic_leaves_via(&lab, fam.addr1, a);

    // The bus: B's table, A none; the client sees everything in place.
    routing_table_property(&lab, b.ifindex, table);
    routing_table_property(&lab, a.ifindex, 0);
    assert_brokerctl_routing(&lab, Some((&b.name, b.ifindex, table)), 4);
    let status = describe_routing(&lab);
    assert_eq!(status["ready"], true, "{status}");
    assert!(nothing_pending(&status), "{status:#}");
    assert_eq!(
        status["tables"][b.ifindex.to_string()],
        serde_json::json!([b.name, table]),
        "{status:#}"
    );
    assert_eq!(broker.stop().code(), Some(0), "a clean stop");

    // A second daemon without B: it sweeps B's rules and table (ours, no longer wanted), and
    // the lookup and the traffic from B's address leave through A again.
    let _broker = Broker::start(&lab, &yaml(&[], ""), &[]);
    wait_policy(
        &lab,
        fam,
        "B's rules and table to be swept",
        vec![],
        table,
        vec![],
    );
    assert_eq!(
        route_get(&lab, fam, fam.beyond, fam.addr2),
        (a.name.clone(), "main".into())
    );
    topo.assert_traffic_leaves_via(&lab, fam.addr2, a);
    routing_table_property(&lab, b.ifindex, 0);
    assert_brokerctl_routing(&lab, None, 0);
}

#[test]
fn listed_link_gets_rules_and_table_and_its_traffic_leaves_through_it() {
    policy_and_traffic(&V4);
}

#[test]
fn ipv6_listed_link_gets_rules_and_table_and_its_traffic_leaves_through_it() {
    policy_and_traffic(&V6);
}

// ------------------------------------------------------------------------------------------
// 2 + 5: removing addresses

fn address_removal(fam: &'static Family) {
    let Some(lab) = Lab::require() else { return };
    let _clean = Cleanup::new(&lab);
    let topo = Topology::new(&lab, fam);
    let (b, table) = (&topo.b, topo.table_b());
    let _broker = Broker::start(&lab, &yaml(&[&b.name], ""), &[]);
    wait_policy(
        &lab,
        fam,
        "B's rules and table",
        rules_of(fam.addr2, table),
        table,
        topo.b_routes(),
    );
    let before = all_rules(&lab, fam);

    // A second address in the same subnet: two more rules, the same table (one subnet
    // route, whose source stays the first address).
    lab.run(&fam.addr_args(fam.addr3, &b.name));
    let mut both = rules_of(fam.addr2, table);
    both.extend(rules_of(fam.addr3, table));
    wait_policy(
        &lab,
        fam,
        "the second address's rules",
        both,
        table,
        topo.b_routes(),
    );

    // Removing it removes exactly its two rules: every other rule is as it was.
    lab.run(&[
        "ip",
        "addr",
        "del",
        &format!("{}/{}", fam.addr3, fam.prefix_len),
        "dev",
        &b.name,
    ]);
    wait_policy(
        &lab,
        fam,
        "the second address's rules to go",
        rules_of(fam.addr2, table),
        table,
        topo.b_routes(),
    );
    assert_eq!(all_rules(&lab, fam), before, "only its two rules went");

    // Removing the last address removes the rules and the table's routes. (For IPv4 the
    // kernel flushes every IPv4 route through a link that loses its last IPv4 address,
    // ours included; for IPv6 only the daemon removes them: the link keeps its link-local
    // address, and the default route through fe80::1 stays valid.)
    lab.run(&[
        "ip",
        "addr",
        "del",
        &format!("{}/{}", fam.addr2, fam.prefix_len),
        "dev",
        &b.name,
    ]);
    wait_policy(
        &lab,
        fam,
        "the last address's rules and the table's routes to go",
        vec![],
        table,
        vec![],
    );
    assert!(our_routes_anywhere(&lab, fam).is_empty());
    reconcile_routing(&lab);
    assert_brokerctl_routing(&lab, Some((&b.name, b.ifindex, table)), 0);

    // The address again: its rules and the subnet route come back, and a default route only
    // if the main table still has one through B. The kernel flushed B's IPv4 main-table
    // default with the last address, without a notification (fib_disable_ip); a daemon
    // trusting its own copy of the main table would put back a default route whose main
    // counterpart is gone.
    let main_default = !ip_json(
        &lab,
        &[fam.flag, "route", "show", "default", "dev", &b.name],
    )
    .as_array()
    .unwrap()
    .is_empty();
    assert_eq!(main_default, fam.v6, "IPv4 flushes it, IPv6 keeps it");
    lab.run(&fam.addr_args(fam.addr2, &b.name));
    let mut routes = vec![subnet_route(fam, None, &b.name, fam.addr2)];
    if main_default {
        routes.push(default_route(fam.gateway, &b.name));
    }
    wait_policy(
        &lab,
        fam,
        "the address's rules and subnet route to come back",
        rules_of(fam.addr2, table),
        table,
        routes.clone(),
    );
    // A full pass with the daemon's latest picture: nothing more (no default route from a
    // stale picture of the main table).
    reconcile_routing(&lab);
    assert_eq!(table_routes(&lab, fam, table), sorted(routes));
    if !main_default {
        // B's default route in main again: the table follows.
        lab.run(&[
            "ip",
            fam.flag,
            "route",
            "add",
            "default",
            "via",
            fam.gateway,
            "dev",
            &b.name,
            "metric",
            "20",
        ]);
        wait_policy(
            &lab,
            fam,
            "the table's default route to follow the main table's",
            rules_of(fam.addr2, table),
            table,
            topo.b_routes(),
        );
    }
}

#[test]
fn removing_an_address_removes_exactly_its_rules_and_the_last_one_the_tables_routes() {
    address_removal(&V4);
}

#[test]
fn ipv6_removing_an_address_removes_exactly_its_rules_and_the_last_one_the_tables_routes() {
    address_removal(&V6);
}

// ------------------------------------------------------------------------------------------
// 3: restarting the daemon

#[test]
fn a_restart_adopts_ours_without_duplicates_sweeps_stale_ones_and_keeps_foreign_ones() {
    let Some(lab) = Lab::require() else { return };
    let clean = Cleanup::new(&lab);
    let fam = &V4;
    let topo = Topology::new(&lab, fam);
    let (b, table) = (&topo.b, topo.table_b());
    let t = table.to_string();
    let mut broker = Broker::start(&lab, &yaml(&[&b.name], ""), &[]);
    wait_policy(
        &lab,
        fam,
        "B's rules and table",
        rules_of(fam.addr2, table),
        table,
        topo.b_routes(),
    );
    let (rules, routes) = (our_rules(&lab, fam), our_routes_anywhere(&lab, fam));

    // SIGTERM: the daemon exits cleanly and leaves its rules and routes (the default
    // RemoveRoutingOnStop: false), so traffic keeps its way while it is down.
    assert_eq!(broker.stop().code(), Some(0), "a clean stop");
    assert_eq!(our_rules(&lab, fam), rules);
    assert_eq!(our_routes_anywhere(&lab, fam), routes);

    // While it is down: a stale rule and a stale route of ours (a table no link has), and a
    // foreign rule with the stale rule's very selector and priority, and a foreign route in
    // B's table.
    let stale_rule = [
        "from",
        "10.255.255.1",
        "lookup",
        "1999",
        "pref",
        "20000",
        "protocol",
    ];
    let with = |proto: &'static str| -> Vec<&str> {
        let mut v = stale_rule.to_vec();
        v.push(proto);
        v
    };
    for proto in [PROTOCOL, "static"] {
        let mut add = vec!["rule", "add"];
        add.extend(with(proto));
        let mut del = vec!["rule", "del"];
        del.extend(with(proto));
        clean.ip(&add, &del);
    }
    clean.ip(
        &[
            "route",
            "add",
            "10.255.255.0/24",
            "dev",
            &b.name,
            "table",
            "1999",
            "proto",
            PROTOCOL,
        ],
        &["route", "del", "10.255.255.0/24", "table", "1999"],
    );
    clean.ip(
        &[
            "route",
            "add",
            "198.51.100.0/24",
            "via",
            fam.gateway,
            "dev",
            &b.name,
            "table",
            &t,
            "proto",
            "static",
        ],
        &["route", "del", "198.51.100.0/24", "table", &t],
    );
    let foreign_rule = "20000 from 10.255.255.1 lookup 1999 proto static".to_owned();
    let foreign_route = format!(
        "198.51.100.0/24 via {} dev {} proto static src -",
        fam.gateway, b.name
    );

    // Start again, watching every rule and route change the kernel announces.
    let mut mon = KernelMonitor::start(&lab);
    let mark = mon.mark();
    broker.restart();
    wait_until(
        "the stale rule and route of ours to be swept",
        TIMEOUT,
        || {
            let r = our_rules(&lab, fam);
            let s = our_routes_anywhere(&lab, fam);
            if r == rules && s == routes {
                Ok(())
            } else {
                Err(format!("rules of ours {r:#?}, routes of ours {s:#?}"))
            }
        },
    );
    // A full pass on request, then the kernel's account of everything since the start.
    reconcile_routing(&lab);
    mon.sync();
    let all = all_rules(&lab, fam);
    for want in [
        format!(
            "{FROM_PRIORITY} from {} lookup {table} proto {PROTOCOL}",
            fam.addr2
        ),
        format!(
            "{TO_PRIORITY} to {} lookup {table} proto {PROTOCOL}",
            fam.addr2
        ),
        foreign_rule.clone(),
    ] {
        assert_eq!(
            all.iter().filter(|r| **r == want).count(),
            1,
            "`{want}` exactly once: {all:#?}"
        );
    }
    assert!(
        !all.iter()
            .any(|r| r.contains("1999") && r.ends_with(PROTOCOL)),
        "the stale rule of ours is gone: {all:#?}"
    );
    let mut want_table = topo.b_routes();
    want_table.push(foreign_route.clone());
    assert_eq!(table_routes(&lab, fam, table), sorted(want_table));
    // Adopted as they were: the restart neither deleted nor re-added any rule or route of
    // B's (a restart disturbs no traffic); it only deleted the stale ones.
    let changes: Vec<String> = mon
        .since(mark)
        .into_iter()
        .filter(|l| mentions_ours(l))
        .collect();
    assert!(
        changes
            .iter()
            .all(|l| l.starts_with("Deleted") && l.contains("1999")),
        "the restart changed more than the stale objects: {changes:#?}"
    );
    assert_eq!(changes.len(), 2, "the stale rule and route: {changes:#?}");

    // With RemoveRoutingOnStop: true, SIGTERM removes everything of ours, and only that.
    fs::write(
        broker.config.path().join("network-broker.yaml"),
        yaml(&[&b.name], "  RemoveRoutingOnStop: true\n"),
    )
    .unwrap();
    broker.restart();
    reconcile_routing(&lab);
    assert_eq!(our_rules(&lab, fam), rules);
    assert_eq!(broker.stop().code(), Some(0), "a clean stop");
    for f in [&V4, &V6] {
        assert!(our_rules(&lab, f).is_empty(), "{:#?}", all_rules(&lab, f));
        assert!(
            our_routes_anywhere(&lab, f).is_empty(),
            "{:#?}",
            our_routes_anywhere(&lab, f)
        );
    }
    assert!(all_rules(&lab, fam).contains(&foreign_rule));
    assert_eq!(table_routes(&lab, fam, table), vec![foreign_route]);
    assert!(
        broker.log().contains("RemoveRoutingOnStop=true"),
        "the daemon says why it removed them"
    );
}

// ------------------------------------------------------------------------------------------
// 4: systemd-networkd

/// A drop-in giving labnd1 a default route through its peer (metric 4000), applied with
/// `networkctl reload`; removed (and reloaded) on drop. The lab's labnd1 has no default route
/// of its own, and a default route through the link is what the daemon takes the table's
/// gateway from; one added by hand would be foreign to networkd, which deletes it whenever
/// it reconfigures the link.
struct Nd1Gateway {
    lab: LabInfo,
    dir: PathBuf,
}

impl Nd1Gateway {
    fn install(lab: &LabInfo) -> Nd1Gateway {
        let dir = lab.dir.join("run/network/20-labnd1.network.d");
        fs::create_dir_all(&dir).unwrap();
        let guard = Nd1Gateway {
            lab: lab.clone(),
            dir,
        };
        fs::write(
            guard.dir.join("50-nb-lab-routing.conf"),
            format!(
                "# network-broker tests/lab_routing.rs: a default route of labnd1's own\n\
                 [Route]\nGateway={ND1_GATEWAY}\nMetric={ND1_GATEWAY_METRIC}\n"
            ),
        )
        .unwrap();
        lab.run(&["networkctl", "reload"]);
        wait_nd1_default(lab, true);
        guard
    }
}

impl Drop for Nd1Gateway {
    fn drop(&mut self) {
        let _ = fs::remove_file(self.dir.join("50-nb-lab-routing.conf"));
        let _ = fs::remove_dir(&self.dir);
        let out = self.lab.output(&["networkctl", "reload"]);
        if !out.success() {
            eprintln!("cleanup: {}", out.describe());
        }
        if std::panic::catch_unwind(|| wait_nd1_default(&self.lab, false)).is_err() {
            eprintln!("cleanup: labnd1's test default route is still there");
        }
    }
}

/// Waits until networkd has labnd1 configured, with (or without) the drop-in's default route.
fn wait_nd1_default(lab: &LabInfo, present: bool) {
    let idx = lab.ifindex(ND1);
    wait_until(
        &format!("networkd to configure {ND1} (default route: {present})"),
        Duration::from_secs(60),
        || {
            let state = lab.try_networkd_property(
                &networkd_link_path(idx),
                NETWORKD_LINK_IFACE,
                "AdministrativeState",
            )?;
            let defaults = ip_json(
                lab,
                &[
                    "-4",
                    "route",
                    "show",
                    "default",
                    "dev",
                    ND1,
                    "metric",
                    ND1_GATEWAY_METRIC,
                ],
            );
            let has = !defaults.as_array().unwrap().is_empty();
            if state == "configured" && has == present {
                Ok(())
            } else {
                Err(format!(
                    "AdministrativeState {state}, default route {defaults}"
                ))
            }
        },
    );
}

/// Waits until networkd reports labnd0 and labnd1 configured: the lab at rest.
fn wait_networkd_steady(lab: &LabInfo) {
    for name in [ND0, ND1] {
        let idx = lab.ifindex(name);
        wait_until(
            &format!("networkd to have {name} configured"),
            Duration::from_secs(60),
            || {
                let s = lab.try_networkd_property(
                    &networkd_link_path(idx),
                    NETWORKD_LINK_IFACE,
                    "AdministrativeState",
                )?;
                if s == "configured" {
                    Ok(())
                } else {
                    Err(format!("AdministrativeState {s}"))
                }
            },
        );
    }
}

#[test]
fn networkd_deleting_our_rules_and_routes_is_followed_by_their_reinstallation() {
    let Some(lab) = Lab::require() else { return };
    let _clean = Cleanup::new(&lab);
    let fam = &V4;
    wait_networkd_steady(&lab);
    let _gateway = Nd1Gateway::install(&lab);
    let idx = lab.ifindex(ND1);
    let table = TABLE_BASE + idx;
    let t = table.to_string();
    // labnd0 too: networkd's DHCP client, whose address networkd takes away when it stops.
    let nd0_idx = lab.ifindex(ND0);
    let nd0_table = TABLE_BASE + nd0_idx;
    let nd0_address = lab
        .kernel_addresses(ND0)
        .into_iter()
        .find(|(ip, _)| ip.is_ipv4())
        .expect("labnd0's DHCP address")
        .0
        .to_string();
    let mut rules = rules_of(ND1_ADDRESS, table);
    rules.extend(rules_of(&nd0_address, nd0_table));
    let tables = [
        (
            table,
            vec![
                subnet_route(fam, Some("192.168.78.0/24"), ND1, ND1_ADDRESS),
                default_route(ND1_GATEWAY, ND1),
            ],
        ),
        (
            nd0_table,
            vec![
                subnet_route(fam, Some("192.168.77.0/24"), ND0, &nd0_address),
                default_route(ND0_GATEWAY, ND0),
            ],
        ),
    ];
    let full = |what: &str| wait_policy_tables(&lab, fam, what, rules.clone(), &tables);

    // The default generator (systemd-networkd), as on a networkd host.
    let broker = Broker::start(
        &lab,
        &format!("System:\n  LogLevel: debug\nNetwork:\n  RoutingPolicyRules: [{ND0}, {ND1}]\n"),
        &[],
    );
    full("the rules and tables of labnd0 and labnd1");
    routing_table_property(&lab, idx, table);
    routing_table_property(&lab, nd0_idx, nd0_table);
    let mut mon = KernelMonitor::start(&lab);

    // 1. Restart the real networkd, and see what it does to ours.
    let mark = mon.mark();
    let out = lab.netlab(&["networkd", "restart"]);
    assert!(out.success(), "{}", out.describe());
    wait_networkd_steady(&lab);
    wait_nd1_default(&lab, true);
    // networkd is done with the links: no rule or route change for a while (bounded, to
    // show nothing more happens), and the monitor is still alive after it.
    wait_settled(
        "networkd to stop changing rules and routes after its restart",
        Duration::from_secs(3),
        Duration::from_secs(60),
        || mon.lines().len(),
    );
    mon.sync();
    // Whatever networkd did, everything of ours is there, exactly once.
    full("the rules and tables of labnd0 and labnd1 after networkd's restart");
    let since = mon.since(mark);
    // networkd dropped labnd0's DHCP address when it stopped and got it back when it started:
    // the kernel flushed our labnd0 table's routes with it (unannounced) and the daemon put
    // everything back.
    let address_gone = format!("{ND0}    inet {nd0_address}/");
    assert!(
        since
            .iter()
            .any(|l| l.starts_with("Deleted") && l.contains(&address_gone)),
        "networkd's stop removes labnd0's DHCP address: {since:#?}"
    );
    let nd1_deleted: Vec<&String> = since
        .iter()
        .filter(|l| {
            l.starts_with("Deleted")
                && mentions_ours(l)
                && (l.contains(&format!("dev {ND1} ")) || l.contains(&format!("lookup {t} ")))
        })
        .collect();
    if nd1_deleted.is_empty() {
        eprintln!(
            "observed: restarting networkd 252 in this lab took labnd0's DHCP address away \
             (and so our table's routes through it), but deleted none of our rules and \
             routes on {ND1}; simulating that by hand, then letting networkd delete them for \
             real with `networkctl reconfigure`"
        );
    } else {
        eprintln!("observed: restarting networkd deleted {nd1_deleted:#?}; they came back");
    }

    // 2. What ManageForeignRoutes= does, by hand: our default route and our `from` rule
    //    deleted behind the daemon's back. Both come back without being asked for, and the
    //    log names the networkd settings that cause this.
    let mark = mon.mark();
    lab.run(&[
        "ip", "route", "del", "default", "table", &t, "proto", PROTOCOL,
    ]);
    lab.run(&[
        "ip",
        "rule",
        "del",
        "from",
        ND1_ADDRESS,
        "lookup",
        &t,
        "pref",
        &FROM_PRIORITY.to_string(),
        "protocol",
        PROTOCOL,
    ]);
    full("the deleted route and rule to be re-installed");
    mon.sync();
    let changes: Vec<String> = mon
        .since(mark)
        .into_iter()
        .filter(|l| mentions_ours(l))
        .collect();
    assert_eq!(
        changes.len(),
        4,
        "two deletions by hand, two re-installations: {changes:#?}"
    );
    wait_until(
        "the daemon's warning about ManageForeignRoutes=",
        TIMEOUT,
        || {
            let log = broker.log();
            if log.lines().any(|l| {
                l.contains("WARN")
                    && l.contains("re-installed")
                    && l.contains("ManageForeignRoutes=no")
                    && l.contains("ManageForeignRoutingPolicyRules=no")
            }) {
                Ok(())
            } else {
                Err("no such line in the daemon's log".into())
            }
        },
    );

    // 3. networkd deleting them for real: a reconfiguration of labnd1 removes and re-adds
    //    its address and routes (the kernel flushes our table's routes with the address) and
    //    deletes our rule (ManageForeignRoutingPolicyRules=). Policy routing is whole again
    //    afterwards, exactly once.
    let mark = mon.mark();
    lab.run(&["networkctl", "reconfigure", ND1]);
    wait_until(
        "our `from` rule to be deleted during networkd's reconfiguration",
        TIMEOUT,
        || {
            let lines = mon.since(mark);
            if lines.iter().any(|l| {
                l.starts_with("Deleted")
                    && l.contains(&format!("from {ND1_ADDRESS} lookup {t}"))
                    && mentions_ours(l)
            }) {
                Ok(())
            } else {
                Err(format!("{lines:#?}"))
            }
        },
    );
    wait_nd1_default(&lab, true);
    full("labnd1's rules and table after networkd's reconfiguration");

    // 4. ReconcileRouting() over the bus succeeds, and then nothing is pending.
    reconcile_routing(&lab);
    let status = describe_routing(&lab);
    assert!(nothing_pending(&status), "{status:#}");
    assert_brokerctl_routing(&lab, Some((ND1, idx, table)), 8);
}
