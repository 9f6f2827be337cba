//! The lab machine's kernel as `ip` shows it (links, operstates, addresses), real traffic
//! through the lab's links, and a peer link set down for a test ([`PeerLinkDown`]).

use crate::{enter_netns, output_of, output_with_input, LabInfo};
use serde_json::Value;
use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::process::Command;

impl LabInfo {
    /// Feeds `batch` (lines of `ip` commands) to one `ip -batch -` inside the lab machine:
    /// thousands of changes in one process, where one `ip` per change would take minutes.
    pub fn ip_batch(&self, batch: &str) {
        let out = output_with_input(self.cmd(&["ip", "-batch", "-"]), batch);
        if !out.success() {
            panic!("{}", out.describe());
        }
    }

    /// `ip -j link show dev NAME` inside the lab: the link's JSON object.
    pub fn kernel_link(&self, name: &str) -> Value {
        let text = self.run(&["ip", "-j", "link", "show", "dev", name]);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -j link show {name}: {e}: {text}"));
        v.get(0)
            .cloned()
            .unwrap_or_else(|| panic!("no link {name}: {text}"))
    }

    /// The link's kernel operstate, lowercase, as the daemon publishes it ("up", "down", ...).
    pub fn kernel_operstate(&self, name: &str) -> String {
        self.kernel_link(name)["operstate"]
            .as_str()
            .unwrap_or("unknown")
            .to_lowercase()
    }

    /// Every address of the link as the kernel shows it (`ip -j addr show dev NAME`).
    pub fn kernel_addresses(&self, name: &str) -> BTreeSet<(IpAddr, u8)> {
        let text = self.run(&["ip", "-j", "addr", "show", "dev", name]);
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -j addr show {name}: {e}: {text}"));
        let mut set = BTreeSet::new();
        for a in v[0]["addr_info"].as_array().into_iter().flatten() {
            let ip: IpAddr = a["local"]
                .as_str()
                .and_then(|s| s.parse().ok())
                .unwrap_or_else(|| panic!("bad addr_info entry {a} in {text}"));
            let len = a["prefixlen"]
                .as_u64()
                .and_then(|l| u8::try_from(l).ok())
                .unwrap_or_else(|| panic!("bad prefixlen in {a}"));
            set.insert((ip, len));
        }
        set
    }

    /// The ifindex of link `name` inside the lab machine.
    pub fn ifindex(&self, name: &str) -> u32 {
        self.kernel_link(name)["ifindex"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .unwrap_or_else(|| panic!("no ifindex for {name}"))
    }

    /// Sends `count` UDP datagrams to `dst` from a socket bound to `src` (an address of the
    /// lab machine), from inside the lab's network namespace: a thread of the test process
    /// moves into it with setns(2) (the lab has no ping). Where they leave is the kernel's
    /// choice, as for any program on the lab machine; count them with
    /// [`LabInfo::peer_rx_packets`]. Panics when the socket cannot be bound or a send fails.
    pub fn send_udp(&self, src: IpAddr, dst: SocketAddr, count: usize) {
        let netns = self.netns_host_path.clone();
        let sender = std::thread::Builder::new()
            .name("udp-in-lab".into())
            .spawn(move || {
                // A thread of its own: no other test code ever runs in the lab's namespace.
                enter_netns(&netns);
                let socket = std::net::UdpSocket::bind(SocketAddr::new(src, 0))
                    .unwrap_or_else(|e| panic!("bind a UDP socket to {src} in the lab: {e}"));
                for _ in 0..count {
                    socket
                        .send_to(b"network-broker lab", dst)
                        .unwrap_or_else(|e| panic!("send from {src} to {dst}: {e}"));
                }
            })
            .expect("spawn the sending thread");
        if let Err(panic) = sender.join() {
            std::panic::resume_unwind(panic);
        }
    }

    /// Packets link `dev` of the peer netns has received: what the lab machine sent through
    /// the veth whose other end is `dev` (`ip -n PEER -s -j link show dev DEV`).
    pub fn peer_rx_packets(&self, dev: &str) -> u64 {
        let text = output_of({
            let mut c = Command::new("ip");
            c.args([
                "-n",
                &self.netns_peer,
                "-s",
                "-j",
                "link",
                "show",
                "dev",
                dev,
            ]);
            c
        })
        .ok();
        let v: Value = serde_json::from_str(&text)
            .unwrap_or_else(|e| panic!("ip -s -j link show {dev}: {e}: {text}"));
        v[0]["stats64"]["rx"]["packets"]
            .as_u64()
            .unwrap_or_else(|| panic!("no rx packet count for {dev} in the peer netns: {text}"))
    }

    /// Sets link `name` in the peer netns (`labnd1p`, ...) down; the returned guard sets it up
    /// again when dropped ([`PeerLinkDown::up`] does it at a chosen moment).
    pub fn peer_link_down(&self, name: &str) -> PeerLinkDown {
        self.peer_run(&["ip", "link", "set", name, "down"]);
        PeerLinkDown {
            lab: self.clone(),
            name: name.to_owned(),
            up: false,
        }
    }
}

/// A link of the peer netns set down by [`LabInfo::peer_link_down`]; set up again on drop.
pub struct PeerLinkDown {
    lab: LabInfo,
    name: String,
    up: bool,
}

impl PeerLinkDown {
    /// Sets the link up again now.
    pub fn up(&mut self) {
        self.lab.peer_run(&["ip", "link", "set", &self.name, "up"]);
        self.up = true;
    }
}

impl Drop for PeerLinkDown {
    fn drop(&mut self) {
        if !self.up {
            let out =
                output_of(
                    self.lab
                        .peer_cmd(&["ip", "link", "set", self.name.as_str(), "up"]),
                );
            if !out.success() {
                eprintln!("cleanup: {}", out.describe());
            }
        }
    }
}
