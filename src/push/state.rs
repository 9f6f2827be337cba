//! The actor's memory, without any bus: what each link should have in resolved, what the host
//! name should be, what is still to be sent, and what is being sent right now. The actor asks
//! for the next plan, makes the calls, and reports back; everything about coalescing, ordering
//! and retries is decided here, so the unit tests can check it without a bus.
//!
//! - **Latest wins.** A request replaces the wanted value; only values that differ from what
//!   was wanted before make work. Requests that arrive while a call is in flight are merged into
//!   one follow-up plan, sent when the call returns. So the calls of one link are in order and
//!   never overlap, and a burst of lease changes costs one round of calls.
//! - **Re-apply on appearance.** When resolved's name gets a new owner, every wanted value is
//!   sent again (a restarted resolved may have lost them), and a failed revert is sent again.
//!   When hostnamed's name gets an owner, a host name call that failed is sent again. Failures
//!   are otherwise never retried on their own: no timers, no loops.

use std::collections::BTreeMap;
use std::net::IpAddr;

use crate::model::IfIndex;

/// The calls to make for one link, in this order: `RevertLink`, `SetLinkDNS`,
/// `SetLinkDomains` (each only when present).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LinkPlan {
    /// Interface index (resolved's namespace).
    pub ifindex: IfIndex,
    /// Interface name, for logs.
    pub name: String,
    /// Send `RevertLink` first.
    pub revert: bool,
    /// Send `SetLinkDNS` with these servers.
    pub dns: Option<Vec<IpAddr>>,
    /// Send `SetLinkDomains` with these search domains.
    pub domains: Option<Vec<String>>,
}

/// How a link plan went, as far as the state cares.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LinkDone {
    /// The plan's `RevertLink` did not go through: send it again when resolved reappears.
    pub revert_failed: bool,
}

/// What the broker wants for one link, and what is left to send.
#[derive(Debug, Clone, Default)]
struct LinkEntry {
    name: String,
    /// Wanted servers; `None`: the broker never gave any (not ours to set).
    dns: Option<Vec<IpAddr>>,
    /// Wanted search domains; `None` as for `dns`.
    domains: Option<Vec<String>>,
    /// To send: `RevertLink`, `SetLinkDNS`, `SetLinkDomains`.
    revert: bool,
    dns_dirty: bool,
    domains_dirty: bool,
    /// A revert failed: send it again when resolved reappears.
    revert_on_appear: bool,
    /// A plan for this link is being sent.
    in_flight: bool,
}

impl LinkEntry {
    fn wants_nothing(&self) -> bool {
        self.dns.is_none() && self.domains.is_none()
    }

    fn has_work(&self) -> bool {
        self.revert || self.dns_dirty || self.domains_dirty
    }
}

/// The wanted per-link DNS state of every link the broker gave settings for.
#[derive(Debug, Default)]
pub struct Links {
    entries: BTreeMap<IfIndex, LinkEntry>,
}

impl Links {
    /// The broker's new settings for a link; `None` leaves that part as it was.
    pub fn set(
        &mut self,
        ifindex: IfIndex,
        name: String,
        dns: Option<Vec<IpAddr>>,
        domains: Option<Vec<String>>,
    ) {
        if dns.is_none() && domains.is_none() && !self.entries.contains_key(&ifindex) {
            return;
        }
        let entry = self.entries.entry(ifindex).or_default();
        entry.name = name;
        if let Some(dns) = dns {
            if entry.dns.as_ref() != Some(&dns) {
                entry.dns = Some(dns);
                entry.dns_dirty = true;
            }
        }
        if let Some(domains) = domains {
            if entry.domains.as_ref() != Some(&domains) {
                entry.domains = Some(domains);
                entry.domains_dirty = true;
            }
        }
    }

    /// The broker wants nothing on this link any more: `RevertLink`, and forget it. Sent even
    /// for a link this actor has no record of, because a previous run of the daemon may have
    /// set it (resolved keeps per-link settings across our restarts).
    pub fn revert(&mut self, ifindex: IfIndex) {
        let entry = self.entries.entry(ifindex).or_default();
        entry.dns = None;
        entry.domains = None;
        entry.dns_dirty = false;
        entry.domains_dirty = false;
        entry.revert = true;
    }

    /// resolved's name got a (new) owner: send everything wanted again, and failed reverts.
    pub fn appeared(&mut self) {
        for entry in self.entries.values_mut() {
            entry.dns_dirty |= entry.dns.is_some();
            entry.domains_dirty |= entry.domains.is_some();
            if std::mem::take(&mut entry.revert_on_appear) {
                entry.revert = true;
            }
        }
    }

    /// Plans for every link that has work and no call in flight; each returned link is then in
    /// flight until [`Links::done`].
    pub fn take_plans(&mut self) -> Vec<LinkPlan> {
        let mut plans = Vec::new();
        for (&ifindex, entry) in &mut self.entries {
            if entry.in_flight || !entry.has_work() {
                continue;
            }
            entry.in_flight = true;
            plans.push(LinkPlan {
                ifindex,
                name: entry.name.clone(),
                revert: std::mem::take(&mut entry.revert),
                dns: std::mem::take(&mut entry.dns_dirty)
                    .then(|| entry.dns.clone())
                    .flatten(),
                domains: std::mem::take(&mut entry.domains_dirty)
                    .then(|| entry.domains.clone())
                    .flatten(),
            });
        }
        plans
    }

    /// A plan's calls have returned. A link that wants nothing and has nothing left to send is
    /// forgotten.
    pub fn done(&mut self, ifindex: IfIndex, done: LinkDone) {
        let Some(entry) = self.entries.get_mut(&ifindex) else {
            return;
        };
        entry.in_flight = false;
        if done.revert_failed {
            entry.revert_on_appear = true;
        }
        if entry.wants_nothing() && !entry.has_work() && !entry.revert_on_appear {
            self.entries.remove(&ifindex);
        }
    }

    /// Whether any link has a call in flight (the actor needs no such question: it tracks its
    /// calls by task; the unit tests ask it).
    #[cfg(test)]
    pub fn any_in_flight(&self) -> bool {
        self.entries.values().any(|e| e.in_flight)
    }

    /// Whether any link has work waiting (for a call to return, or for resolved).
    pub fn any_work(&self) -> bool {
        self.entries.values().any(LinkEntry::has_work)
    }

    /// The interface name last given for a link, for logs.
    pub fn name(&self, ifindex: IfIndex) -> Option<&str> {
        self.entries.get(&ifindex).map(|e| e.name.as_str())
    }

    /// How many links have settings wanted.
    pub fn wanted_count(&self) -> usize {
        self.entries.values().filter(|e| !e.wants_nothing()).count()
    }
}

/// The host-name call to make: `SetHostname(name, false)`, with `None` sent as the empty
/// string (drop the transient name).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostPlan {
    /// The transient name to set; `None` clears ours.
    pub name: Option<String>,
}

/// The wanted transient host name and what hostnamed last accepted from us.
#[derive(Debug, Default)]
pub struct Host {
    wanted: Option<String>,
    /// What hostnamed last accepted from this actor (`None`: nothing of ours is set).
    pushed: Option<String>,
    dirty: bool,
    in_flight: bool,
    /// The last call failed: send again when hostnamed's name gets an owner.
    failed: bool,
    /// hostnamed's name got an owner while a call was in flight.
    appeared_in_flight: bool,
}

impl Host {
    /// The broker's host name; `None`: no name to push (the lease has none, or was lost).
    /// Dropping a name this actor set clears the transient host name, as networkd does when a
    /// lease with a host name is lost; with no name of ours set, `None` does nothing.
    pub fn set(&mut self, name: Option<String>) {
        if self.wanted == name {
            return;
        }
        self.wanted = name;
        self.dirty = true;
    }

    /// hostnamed's name got an owner: send a failed call again.
    pub fn appeared(&mut self) {
        if self.in_flight {
            self.appeared_in_flight = true;
        } else if self.failed {
            self.dirty = true;
        }
    }

    /// The call to make now, if any; it is then in flight until [`Host::done`].
    pub fn take_plan(&mut self) -> Option<HostPlan> {
        if self.in_flight || !std::mem::take(&mut self.dirty) {
            return None;
        }
        if self.wanted.is_none() && self.pushed.is_none() {
            // Nothing of ours to clear; an earlier failure no longer matters.
            self.failed = false;
            return None;
        }
        self.in_flight = true;
        self.appeared_in_flight = false;
        Some(HostPlan {
            name: self.wanted.clone(),
        })
    }

    /// The call for `plan` returned; `ok` when hostnamed accepted it.
    pub fn done(&mut self, plan: HostPlan, ok: bool) {
        self.in_flight = false;
        if ok {
            self.pushed = plan.name;
            self.failed = false;
        } else {
            self.failed = true;
            // A hostnamed that started while our call was failing (or that our call started)
            // gets one more try; later ones wait for the next owner.
            if std::mem::take(&mut self.appeared_in_flight) {
                self.dirty = true;
            }
        }
    }

    /// Whether a call is in flight.
    pub fn in_flight(&self) -> bool {
        self.in_flight
    }

    /// Whether a call is waiting to be made.
    pub fn has_work(&self) -> bool {
        self.dirty
    }
}

#[cfg(test)]
mod tests;
