//! Test links: veth pairs with unique names inside the lab, deleted on drop ([`TestLink`]).

use crate::{link_path, output_of, LabInfo};
use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};

static LINK_SEQ: AtomicU32 = AtomicU32::new(0);

/// A veth pair made for one test, deleted on drop.  Names are `nbt<pid%1000>x<n>` and
/// `...p` for the peer end (at most 11 characters; the kernel allows 15).
///
/// Pitfall: when the two ends of a veth sit in different namespaces and happen to
/// have the same ifindex, the kernel's linkwatch delays carrier-*down* by up to ~1 s and
/// coalesces faster flaps.  [`TestLink::veth`] keeps both ends in labhost (distinct ifindexes),
/// which is what address and route tests want; tests of carrier flaps with the peer end in
/// labpeer ([`TestLink::veth_to_peer`]) must check the two ifindexes differ.
pub struct TestLink {
    lab: LabInfo,
    /// The end in labhost that the test watches.
    pub name: String,
    /// The other end.
    pub peer: String,
    /// `name`'s ifindex in labhost.
    pub ifindex: u32,
    deleted: bool,
}

impl TestLink {
    fn next_names() -> (String, String) {
        let n = LINK_SEQ.fetch_add(1, Ordering::SeqCst);
        let name = format!("nbt{}x{n}", std::process::id() % 1000);
        let peer = format!("{name}p");
        (name, peer)
    }

    /// A veth pair with both ends in labhost, both up (so the link has carrier).
    pub fn veth(lab: &LabInfo) -> TestLink {
        let (name, peer) = Self::next_names();
        lab.ip_batch(&format!(
            "link add {name} type veth peer name {peer}\nlink set {peer} up\nlink set {name} up\n"
        ));
        Self::finish(lab, name, peer)
    }

    /// A veth pair with both ends in labhost, both down: the test brings them up itself, to see
    /// the whole carrier ladder (off, no-carrier, carrier, ...).
    pub fn veth_down(lab: &LabInfo) -> TestLink {
        let (name, peer) = Self::next_names();
        lab.ip_batch(&format!("link add {name} type veth peer name {peer}\n"));
        Self::finish(lab, name, peer)
    }

    /// A veth pair with `name` in labhost and the peer end in labpeer, both up.  Created from
    /// the host side (`ip -n labhost ... netns labpeer`): inside the lab /run is a tmpfs, so
    /// `ip netns` names do not resolve there.
    pub fn veth_to_peer(lab: &LabInfo) -> TestLink {
        let (name, peer) = Self::next_names();
        output_of({
            let mut c = Command::new("ip");
            c.args([
                "-n",
                &lab.netns_host,
                "link",
                "add",
                &name,
                "type",
                "veth",
                "peer",
                "name",
                &peer,
                "netns",
                &lab.netns_peer,
            ]);
            c
        })
        .ok();
        lab.peer_run(&["ip", "link", "set", &peer, "up"]);
        lab.run(&["ip", "link", "set", &name, "up"]);
        Self::finish(lab, name, peer)
    }

    fn finish(lab: &LabInfo, name: String, peer: String) -> TestLink {
        let ifindex = lab.kernel_link(&name)["ifindex"]
            .as_u64()
            .and_then(|i| u32::try_from(i).ok())
            .expect("ifindex");
        TestLink {
            lab: lab.clone(),
            name,
            peer,
            ifindex,
            deleted: false,
        }
    }

    /// The daemon's object path for this link.
    pub fn path(&self) -> String {
        link_path(self.ifindex)
    }

    /// Deletes the pair now (both ends go).
    pub fn delete(&mut self) {
        self.lab.run(&["ip", "link", "del", &self.name]);
        self.deleted = true;
    }
}

impl Drop for TestLink {
    fn drop(&mut self) {
        if !self.deleted {
            let out = self.lab.output(&["ip", "link", "del", &self.name]);
            if !out.success() && !std::thread::panicking() {
                eprintln!("cleanup: {}", out.describe());
            }
        }
    }
}
