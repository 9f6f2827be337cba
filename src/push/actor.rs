//! The push actor's task: takes commands from the [`Handle`](super::Handle), keeps the wanted
//! state ([`super::state`]), follows who owns resolved's and hostnamed's bus names, and makes
//! the calls. Each link's calls run in a task of their own (one at a time per link, links in
//! parallel), so a slow resolved never holds up the loop: the loop keeps reading its owner
//! subscriptions, which zbus needs (it stops reading the shared connection when a
//! subscription's queue is full).
//!
//! The loop decides and logs; the call tasks only call and report what each call returned.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::{mpsc, oneshot};
use tokio::task::{self, JoinSet};
use tracing::{debug, error, info, warn};
use zbus::fdo::{DBusProxy, NameOwnerChangedStream};
use zbus::message::Sequence;
use zbus::proxy::CacheProperties;
use zbus::{Connection, DBusError};

use super::proxy::hostnamed::{self, HostnamedProxy};
use super::proxy::resolved::{self, ManagerProxy};
use super::state::{HostPlan, LinkDone, LinkPlan};
use super::{state, validate, Command};
use crate::error_chain::ErrorChain;
use crate::model::IfIndex;

/// How long one call may take. The bus's own reply timeout is usually 25 s too, but the
/// daemon's connection has none, so a hung service must not keep a link's queue forever.
pub const CALL_TIMEOUT: Duration = Duration::from_secs(25);

/// Why a call did not go through.
#[derive(Debug, thiserror::Error)]
pub enum CallError {
    /// The service replied with an error, or the bus did.
    #[error("D-Bus call failed")]
    Bus(#[source] zbus::Error),
    /// No reply within [`CALL_TIMEOUT`].
    #[error("no reply within {CALL_TIMEOUT:?}")]
    Timeout,
    /// The index does not fit resolved's `i` (the handle refuses these; kept for safety).
    #[error("interface index {0} does not fit a D-Bus int32")]
    IfIndex(IfIndex),
}

/// What a failure means for the actor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The service is not on the bus (or left during the call, or could not be activated):
    /// the call is made again when its name gets an owner.
    Absent,
    /// resolved refuses: systemd-networkd manages the link (or it is the loopback device).
    LinkBusy,
    /// resolved does not know the interface index.
    NoSuchLink,
    /// Neither a capability nor polkit allowed the call.
    Denied,
    /// Anything else.
    Other,
}

impl CallError {
    /// The D-Bus error name, when the failure is an error reply.
    pub fn error_name(&self) -> Option<String> {
        match self {
            CallError::Bus(zbus::Error::MethodError(name, _, _)) => Some(name.to_string()),
            CallError::Bus(zbus::Error::FDO(fdo)) => Some(fdo.name().to_string()),
            _ => None,
        }
    }

    /// Sorts the failure by what the actor does about it.
    pub fn failure(&self) -> Failure {
        let Some(name) = self.error_name() else {
            return Failure::Other;
        };
        match name.as_str() {
            "org.freedesktop.DBus.Error.ServiceUnknown"
            | "org.freedesktop.DBus.Error.NameHasNoOwner"
            | "org.freedesktop.DBus.Error.NoReply"
            | "org.freedesktop.DBus.Error.Disconnected" => Failure::Absent,
            // Activation failed (hostnamed's binary missing, crashed at start, ...).
            n if n.starts_with("org.freedesktop.DBus.Error.Spawn.") => Failure::Absent,
            resolved::ERROR_LINK_BUSY => Failure::LinkBusy,
            resolved::ERROR_NO_SUCH_LINK => Failure::NoSuchLink,
            "org.freedesktop.DBus.Error.AccessDenied"
            | "org.freedesktop.DBus.Error.InteractiveAuthorizationRequired" => Failure::Denied,
            _ => Failure::Other,
        }
    }
}

/// The resolved calls, by their D-Bus member names (for logs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkCall {
    /// `RevertLink`.
    Revert,
    /// `SetLinkDNS`.
    Dns,
    /// `SetLinkDomains`.
    Domains,
}

impl fmt::Display for LinkCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            LinkCall::Revert => "RevertLink",
            LinkCall::Dns => "SetLinkDNS",
            LinkCall::Domains => "SetLinkDomains",
        })
    }
}

/// What a finished call task reports.
enum Finished {
    Link {
        plan: LinkPlan,
        results: Vec<(LinkCall, Result<(), CallError>)>,
    },
    Host {
        plan: HostPlan,
        result: Result<(), CallError>,
    },
}

/// Which slot a call task belongs to, to clean up after a task that panicked.
#[derive(Debug, Clone)]
enum Slot {
    Link(IfIndex),
    Host(HostPlan),
}

/// Who owns one service's name, as far as the actor has seen.
struct Watch {
    service: &'static str,
    /// `None` when the subscription could not be made or ended; the service is then assumed
    /// present and restarts go unnoticed.
    stream: Option<NameOwnerChangedStream>,
    present: bool,
    /// Signals received before the answer to `NameHasOwner` are older than it: ignored.
    answered_at: Sequence,
}

/// A change of owner, as far as it matters: `true` when the name got an owner.
type OwnerChange = bool;

impl Watch {
    /// Subscribes to the owner changes of `service`, then asks whether it has an owner now:
    /// in this order, so that no change falls between the answer and the subscription.
    async fn start(conn: &Connection, service: &'static str) -> Watch {
        match Self::try_start(conn, service).await {
            Ok(watch) => watch,
            Err(err) => {
                warn!(service, error = %ErrorChain(&err), "push: cannot follow the bus name {service}; assuming it runs, restarts will go unnoticed: {}", ErrorChain(&err));
                Watch {
                    service,
                    stream: None,
                    present: true,
                    answered_at: Sequence::default(),
                }
            }
        }
    }

    async fn try_start(conn: &Connection, service: &'static str) -> zbus::Result<Watch> {
        let dbus = DBusProxy::builder(conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let stream = dbus
            .receive_name_owner_changed_with_args(&[(0, service)])
            .await?;
        let reply = conn
            .call_method(
                Some("org.freedesktop.DBus"),
                "/org/freedesktop/DBus",
                Some("org.freedesktop.DBus"),
                "NameHasOwner",
                &(service,),
            )
            .await?;
        let present: bool = reply.body().deserialize()?;
        Ok(Watch {
            service,
            stream: Some(stream),
            present,
            answered_at: reply.recv_position(),
        })
    }

    /// The next relevant owner change. Pends forever without a subscription. Cancel-safe.
    async fn next(&mut self) -> OwnerChange {
        loop {
            let Some(stream) = self.stream.as_mut() else {
                return std::future::pending().await;
            };
            let Some(signal) = stream.next().await else {
                warn!(
                    service = self.service,
                    "push: the bus ended the owner subscription of {}; restarts will go unnoticed",
                    self.service
                );
                self.stream = None;
                continue;
            };
            if signal.message().recv_position() < self.answered_at {
                continue;
            }
            match signal.args() {
                Ok(args) => {
                    self.present = args.new_owner().is_some();
                    return self.present;
                }
                Err(err) => {
                    debug!(service = self.service, error = %err, "push: dropping malformed NameOwnerChanged");
                }
            }
        }
    }
}

/// The actor's state between loop iterations.
struct Actor {
    resolved: ManagerProxy<'static>,
    hostnamed: HostnamedProxy<'static>,
    links: state::Links,
    host: state::Host,
    resolved_present: bool,
    /// "resolved is not running" was said since it was last seen.
    absence_logged: bool,
    /// Links for which resolved's "managed" refusal has been explained.
    busy_explained: HashSet<IfIndex>,
    calls: JoinSet<Finished>,
    slots: HashMap<task::Id, Slot>,
    settled_waiters: Vec<oneshot::Sender<()>>,
}

/// Runs the actor until every handle is gone and the calls that can be made are made.
pub(super) async fn run(conn: Connection, mut rx: mpsc::UnboundedReceiver<Command>) {
    let proxies = async {
        let resolved = ManagerProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        let hostnamed = HostnamedProxy::builder(&conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await?;
        Ok::<_, zbus::Error>((resolved, hostnamed))
    };
    let (resolved, hostnamed) = match proxies.await {
        Ok(proxies) => proxies,
        Err(err) => {
            error!(error = %ErrorChain(&err), "push: cannot create the resolved and hostnamed proxies; DNS and host name will not be pushed: {}", ErrorChain(&err));
            return;
        }
    };
    let mut resolved_watch = Watch::start(&conn, resolved::BUS_NAME).await;
    let mut hostnamed_watch = Watch::start(&conn, hostnamed::BUS_NAME).await;
    let mut actor = Actor {
        resolved,
        hostnamed,
        links: state::Links::default(),
        host: state::Host::default(),
        resolved_present: resolved_watch.present,
        absence_logged: false,
        busy_explained: HashSet::new(),
        calls: JoinSet::new(),
        slots: HashMap::new(),
        settled_waiters: Vec::new(),
    };
    debug!(
        resolved = actor.resolved_present,
        hostnamed = hostnamed_watch.present,
        "push: actor started"
    );
    let mut open = true;
    loop {
        actor.start_calls();
        if actor.is_settled() {
            for waiter in actor.settled_waiters.drain(..) {
                let _ = waiter.send(());
            }
            if !open {
                break;
            }
        }
        tokio::select! {
            command = rx.recv(), if open => match command {
                Some(command) => actor.command(command),
                None => open = false,
            },
            appeared = resolved_watch.next() => actor.resolved_owner(appeared),
            appeared = hostnamed_watch.next() => {
                if appeared {
                    debug!("push: hostnamed is on the bus");
                    actor.host.appeared();
                }
            }
            Some(joined) = actor.calls.join_next_with_id(), if !actor.calls.is_empty() => {
                match joined {
                    Ok((id, finished)) => {
                        actor.slots.remove(&id);
                        actor.finished(finished);
                    }
                    Err(err) => actor.crashed(err),
                }
            }
        }
    }
    debug!("push: every handle dropped, actor stopping");
}

impl Actor {
    fn command(&mut self, command: Command) {
        match command {
            Command::SetLink {
                ifindex,
                name,
                dns,
                domains,
            } => self.links.set(ifindex, name, dns, domains),
            Command::RevertLink { ifindex } => self.links.revert(ifindex),
            Command::SetHostname(name) => self.host.set(name),
            Command::Settled(waiter) => self.settled_waiters.push(waiter),
        }
    }

    fn resolved_owner(&mut self, appeared: bool) {
        self.resolved_present = appeared;
        if appeared {
            self.absence_logged = false;
            let count = self.links.wanted_count();
            if count > 0 {
                info!(
                    links = count,
                    "push: systemd-resolved appeared on the bus, applying the links' DNS settings again"
                );
            } else {
                debug!("push: systemd-resolved appeared on the bus");
            }
            self.links.appeared();
        } else {
            info!("push: systemd-resolved left the bus; DNS settings will be applied again when it returns");
        }
    }

    /// Starts every call that can be made now.
    fn start_calls(&mut self) {
        if self.resolved_present {
            for plan in self.links.take_plans() {
                let proxy = self.resolved.clone();
                let slot = Slot::Link(plan.ifindex);
                let handle = self.calls.spawn(apply_link(proxy, plan));
                self.slots.insert(handle.id(), slot);
            }
        } else if self.links.any_work() && !self.absence_logged {
            info!("push: systemd-resolved is not on the bus; DNS settings wait until it starts (the broker does not start it)");
            self.absence_logged = true;
        }
        if let Some(plan) = self.host.take_plan() {
            let proxy = self.hostnamed.clone();
            let slot = Slot::Host(plan.clone());
            let handle = self.calls.spawn(apply_host(proxy, plan));
            self.slots.insert(handle.id(), slot);
        }
    }

    /// Nothing in flight and nothing that could be sent now.
    fn is_settled(&self) -> bool {
        self.calls.is_empty()
            && !self.host.has_work()
            && !(self.resolved_present && self.links.any_work())
    }

    fn finished(&mut self, finished: Finished) {
        match finished {
            Finished::Link { plan, results } => self.link_finished(plan, results),
            Finished::Host { plan, result } => self.host_finished(plan, result),
        }
    }

    /// A call task panicked (a bug): release its slot so the link is not stuck.
    fn crashed(&mut self, err: task::JoinError) {
        error!(error = %err, "push: call task failed: {err}");
        match self.slots.remove(&err.id()) {
            // What reached resolved is unknown: revert and send everything again when
            // resolved next appears, which leaves the link as wanted either way.
            Some(Slot::Link(ifindex)) => self.links.done(
                ifindex,
                LinkDone {
                    revert_failed: true,
                },
            ),
            Some(Slot::Host(plan)) => self.host.done(plan, false),
            None => {}
        }
    }

    fn link_finished(&mut self, plan: LinkPlan, results: Vec<(LinkCall, Result<(), CallError>)>) {
        let (ifindex, ifname) = (plan.ifindex, plan.name.as_str());
        let mut revert_failed = false;
        let mut all_ok = true;
        for (call, result) in &results {
            let Err(err) = result else {
                self.busy_explained.remove(&ifindex);
                continue;
            };
            let failure = err.failure();
            if *call == LinkCall::Revert && failure == Failure::NoSuchLink {
                // The link is gone: resolved dropped its settings with it.
                debug!(ifindex, ifname, call = %call, "push: resolved does not know {ifname}, nothing to revert");
                continue;
            }
            all_ok = false;
            if *call == LinkCall::Revert {
                revert_failed = true;
            }
            let error = ErrorChain(err);
            match failure {
                Failure::Absent => info!(ifindex, ifname, call = %call, error = %error,
                    "push: systemd-resolved is not on the bus; {call} for {ifname} will be applied when it returns"),
                Failure::LinkBusy => {
                    if self.busy_explained.insert(ifindex) {
                        info!(ifindex, ifname, call = %call, error = %error,
                            "push: resolved refuses DNS settings for {ifname} because systemd-networkd manages it \
                             (networkd's UseDNS=/UseDomains= apply there); not retrying until resolved restarts: {error}");
                    } else {
                        debug!(ifindex, ifname, call = %call, error = %error, "push: resolved still refuses {ifname}");
                    }
                }
                Failure::Denied => warn!(ifindex, ifname, call = %call, error = %error,
                    "push: resolved refused {call} for {ifname}: run as root, or let polkit allow this user \
                     org.freedesktop.resolve1.set-dns-servers/set-domains/revert \
                     (polkit/rules.d/50-network-broker.rules): {error}"),
                Failure::NoSuchLink | Failure::Other => {
                    warn!(ifindex, ifname, call = %call, error = %error, "push: resolved call {call} for {ifname} failed: {error}")
                }
            }
        }
        if all_ok {
            if plan.dns.is_none() && plan.domains.is_none() {
                info!(
                    ifindex,
                    ifname,
                    "push: resolved dropped the link's DNS settings (RevertLink) for {ifname}"
                );
            } else {
                info!(
                    ifindex,
                    ifname,
                    reverted_first = plan.revert,
                    dns = %Listed(plan.dns.as_deref()),
                    search_domains = %Listed(plan.domains.as_deref()),
                    "push: resolved has the DNS settings of {ifname}: servers {}, search domains {}",
                    Listed(plan.dns.as_deref()),
                    Listed(plan.domains.as_deref())
                );
            }
        }
        self.links.done(ifindex, LinkDone { revert_failed });
    }

    fn host_finished(&mut self, plan: HostPlan, result: Result<(), CallError>) {
        let ok = result.is_ok();
        match (&result, &plan.name) {
            (Ok(()), Some(name)) => info!(hostname = %name,
                "push: transient host name set to {name} (hostnamed uses it while no static host name is set)"),
            (Ok(()), None) => info!("push: transient host name from the lease dropped"),
            (Err(err), name) => {
                let error = ErrorChain(err);
                let hostname = name.as_deref().unwrap_or("");
                match err.failure() {
                    Failure::Denied => warn!(hostname, call = "SetHostname", error = %error,
                        "push: hostnamed refused host name {hostname:?}: the daemon needs CAP_SYS_ADMIN or polkit's \
                         org.freedesktop.hostname1.set-hostname; will retry when hostnamed restarts: {error}"),
                    _ => warn!(hostname, call = "SetHostname", error = %error,
                        "push: hostnamed call SetHostname({hostname:?}) failed; will retry when hostnamed next starts: {error}"),
                }
            }
        }
        self.host.done(plan, ok);
    }
}

/// A list for logs: space-separated, `(unchanged)` for a part not sent, `(none)` for an empty
/// one.
struct Listed<'a, T>(Option<&'a [T]>);

impl<T: fmt::Display> fmt::Display for Listed<'_, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            None => f.write_str("(unchanged)"),
            Some([]) => f.write_str("(none)"),
            Some(items) => {
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(" ")?;
                    }
                    write!(f, "{item}")?;
                }
                Ok(())
            }
        }
    }
}

/// Makes one link's calls in order: revert, servers, domains. Stops at the first failure that
/// the later calls would only repeat (resolved gone, or refusing the link).
async fn apply_link(proxy: ManagerProxy<'static>, plan: LinkPlan) -> Finished {
    let mut results = Vec::new();
    let Ok(ifindex) = i32::try_from(plan.ifindex) else {
        let err = CallError::IfIndex(plan.ifindex);
        results.push((LinkCall::Revert, Err(err)));
        return Finished::Link { plan, results };
    };
    let stops = |result: &Result<(), CallError>| {
        matches!(
            result.as_ref().map_err(CallError::failure),
            Err(Failure::Absent | Failure::LinkBusy)
        )
    };
    if plan.revert {
        let result = timed(proxy.revert_link(ifindex)).await;
        let stop = stops(&result);
        results.push((LinkCall::Revert, result));
        if stop {
            return Finished::Link { plan, results };
        }
    }
    if let Some(dns) = &plan.dns {
        let result = timed(proxy.set_link_dns(ifindex, &validate::dns_argument(dns))).await;
        let stop = stops(&result);
        results.push((LinkCall::Dns, result));
        if stop {
            return Finished::Link { plan, results };
        }
    }
    if let Some(domains) = &plan.domains {
        let result =
            timed(proxy.set_link_domains(ifindex, &validate::domains_argument(domains))).await;
        results.push((LinkCall::Domains, result));
    }
    Finished::Link { plan, results }
}

/// `SetHostname(name, false)`; `None` is sent as `""`, which drops the transient name.
async fn apply_host(proxy: HostnamedProxy<'static>, plan: HostPlan) -> Finished {
    let name = plan.name.as_deref().unwrap_or("");
    let result = timed(proxy.set_hostname(name, /* interactive = */ false)).await;
    Finished::Host { plan, result }
}

async fn timed(call: impl std::future::Future<Output = zbus::Result<()>>) -> Result<(), CallError> {
    match tokio::time::timeout(CALL_TIMEOUT, call).await {
        Ok(result) => result.map_err(CallError::Bus),
        Err(_) => Err(CallError::Timeout),
    }
}

#[cfg(test)]
mod tests;
