//! Pushing what DHCP leases say about name resolution to the system: DNS servers and search
//! domains per link to systemd-resolved, the host name to systemd-hostnamed. [`Handle`] is the
//! effect actor the broker talks to; it never blocks the broker.
//!
//! - [`validate`]: which values may be pushed, and the wire form of the arguments (pure);
//! - [`state`]: what is wanted, what is left to send, coalescing and retries (pure);
//! - [`mod@actor`]: the task that makes the calls on the daemon's bus connection and follows
//!   resolved's and hostnamed's bus names;
//! - [`proxy`]: the client proxies of resolved's and hostnamed's interfaces (only push calls
//!   other services, so they live here and `crate::dbus` is our own service only).
//!
//! # What is sent
//!
//! - DNS servers: `SetLinkDNS(ifindex, a(iay))`, family 2 or 10 and the address bytes.
//! - Domains: `SetLinkDomains(ifindex, a(sb))` with every domain a **search** domain
//!   (routing-only `false`): DHCP's domain name and search list complete short names. (The Go
//!   original sent `true`, routing-only, so short names never resolved.)
//! - Lease lost, expired, link gone: `RevertLink(ifindex)` (the original never reverted, so
//!   stale servers stayed).
//! - Host name: hostnamed's `SetHostname(name, false)`, the **transient** host name, as
//!   networkd does; never `SetStaticHostname` (the original wrote `/etc/hostname`). hostnamed
//!   uses a transient name only while no static host name is set. When the lease that gave
//!   the name is lost ([`Handle::set_hostname`] with `None`), the transient name this actor
//!   set is dropped (`SetHostname("", false)`), as networkd does on lease loss; hostnamed
//!   then falls back to the static or default name.
//!
//! The broker decides *whether* to push (`UseDNS`, `UseDomain`, `UseHostname`); this module
//! decides only how.
//!
//! # Restarts, absence, errors
//!
//! The actor remembers the wanted settings of every link and the wanted host name. When
//! resolved's name gets a new owner (it restarted, or started late), every link's settings are
//! sent again. While resolved is not on the bus, nothing is sent (the broker never starts
//! resolved) and everything is sent when it appears. hostnamed is bus-activated and exits
//! when idle, so it is simply called; a call that failed is sent again when hostnamed's name
//! next gets an owner. No failure is retried on a timer.
//!
//! Errors are logged (`warn`, with the link, the call and the error) and never stop the
//! daemon. resolved refuses per-link settings on links that systemd-networkd manages ("Link X
//! is managed"): that is logged once per link at `info` as an explanation, not as a failure.

pub mod actor;
pub mod proxy;
pub mod state;
pub mod validate;

use std::net::IpAddr;

use tokio::sync::{mpsc, oneshot};
use tracing::{debug, warn};
use zbus::Connection;

use crate::model::IfIndex;

/// What the broker asks of the actor.
#[derive(Debug)]
pub(crate) enum Command {
    SetLink {
        ifindex: IfIndex,
        name: String,
        dns: Option<Vec<IpAddr>>,
        domains: Option<Vec<String>>,
    },
    RevertLink {
        ifindex: IfIndex,
    },
    SetHostname(Option<String>),
    Settled(oneshot::Sender<()>),
}

/// Cloneable handle to the push actor. Every method returns at once: the work is queued (an
/// unbounded queue, bounded in practice by the rate of lease changes, and coalesced per link).
/// Dropping every handle lets the actor finish the calls it can make now, then stop.
#[derive(Debug, Clone)]
pub struct Handle {
    tx: mpsc::UnboundedSender<Command>,
}

/// Starts the actor on the current Tokio runtime (call from within one) on the daemon's bus
/// connection `conn`. It first subscribes to the owner changes of resolved's and hostnamed's
/// names, then asks whether they are on the bus; requests made meanwhile are queued.
pub fn spawn(conn: Connection) -> Handle {
    let (handle, actor) = unstarted();
    actor.start(conn);
    handle
}

/// The actor before it has its bus connection: requests made through its [`Handle`] wait in
/// its queue until [`Unstarted::start`]. (The broker gets its handle when it is built; the
/// connection exists only once the broker's snapshots are being served.)
#[derive(Debug)]
pub struct Unstarted {
    rx: mpsc::UnboundedReceiver<Command>,
}

/// A handle usable at once, and the actor it talks to, to be started on a connection.
pub fn unstarted() -> (Handle, Unstarted) {
    let (tx, rx) = mpsc::unbounded_channel();
    (Handle { tx }, Unstarted { rx })
}

impl Unstarted {
    /// Starts the actor on `conn`, as [`spawn`] does; the queued requests go first.
    pub fn start(self, conn: Connection) {
        tokio::spawn(actor::run(conn, self.rx));
    }
}

impl Handle {
    /// The DNS servers and search domains of link `ifindex` (named `name`, for logs), from a
    /// lease. `None` leaves that part as it is (the broker does not use it); `Some(vec![])`
    /// removes it. Invalid servers (unspecified, multicast, broadcast) and domains (empty, too
    /// long, bad characters) are dropped with a warning naming them; the rest is pushed.
    /// Settings equal to the last ones make no call.
    pub fn set_link(
        &self,
        ifindex: IfIndex,
        name: String,
        dns: Option<Vec<IpAddr>>,
        domains: Option<Vec<String>>,
    ) {
        if !ifindex_fits(ifindex) {
            warn!(ifindex, ifname = %name, "push: interface index {ifindex} of {name} out of range, not pushing DNS settings");
            return;
        }
        let dns = dns.map(|servers| {
            let checked = validate::dns_servers(&servers);
            for (addr, why) in &checked.dropped {
                warn!(ifindex, ifname = %name, server = %addr, reason = %why, "push: not pushing DNS server {addr} for {name}: {why}");
            }
            checked.kept
        });
        let domains = domains.map(|names| {
            let checked = validate::domains(&names);
            for (domain, why) in &checked.dropped {
                warn!(ifindex, ifname = %name, domain = ?domain, reason = %why, "push: not pushing search domain {domain:?} for {name}: {why}");
            }
            checked.kept
        });
        self.send(Command::SetLink {
            ifindex,
            name,
            dns,
            domains,
        });
    }

    /// Link `ifindex` lost its lease (released, expired) or went away: resolved drops every
    /// setting made over the bus for it (`RevertLink`), and the actor forgets the link. Sent
    /// even when this run of the daemon pushed nothing there, because an earlier run may have.
    pub fn revert_link(&self, ifindex: IfIndex) {
        if !ifindex_fits(ifindex) {
            warn!(
                ifindex,
                "push: interface index {ifindex} out of range, not reverting DNS settings"
            );
            return;
        }
        self.send(Command::RevertLink { ifindex });
    }

    /// The host name from a lease, set as hostnamed's transient host name. `None`: no name
    /// to push (the lease has none, or it was lost); if this actor had set a transient name,
    /// it is dropped, as networkd does when the lease that gave it is lost, and hostnamed falls
    /// back to the static (or default) host name. An invalid name (hostnamed's rules: at
    /// most 64 characters of letters, digits, `-` and `.`) is skipped with a warning naming
    /// it, leaving the current state as it is.
    pub fn set_hostname(&self, name: Option<String>) {
        if let Some(candidate) = &name {
            if let Err(why) = validate::hostname(candidate) {
                warn!(hostname = ?candidate, reason = %why, "push: not pushing host name {candidate:?}: {why}");
                return;
            }
        }
        self.send(Command::SetHostname(name));
    }

    /// Waits until no call is in flight and none could be made now: everything requested
    /// before this call has been sent, or is waiting for resolved to appear. Returns at once
    /// when the actor has stopped. For tests and orderly shutdown.
    pub async fn settled(&self) {
        let (done, wait) = oneshot::channel();
        if self.tx.send(Command::Settled(done)).is_ok() {
            let _ = wait.await;
        }
    }

    fn send(&self, command: Command) {
        if self.tx.send(command).is_err() {
            debug!("push actor has stopped, dropping request");
        }
    }
}

/// resolved takes the index as a D-Bus `i` (int32); the kernel's are positive.
fn ifindex_fits(ifindex: IfIndex) -> bool {
    ifindex > 0 && i32::try_from(ifindex).is_ok()
}
