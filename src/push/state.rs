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

    /// Whether any link has a call in flight.
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
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn dns(list: &[&str]) -> Option<Vec<IpAddr>> {
        Some(list.iter().map(|s| ip(s)).collect())
    }

    fn doms(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    const OK: LinkDone = LinkDone {
        revert_failed: false,
    };

    #[test]
    fn links_set_makes_one_plan_with_both_parts() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        assert_eq!(
            links.take_plans(),
            vec![LinkPlan {
                ifindex: 4,
                name: "eth0".into(),
                revert: false,
                dns: dns(&["192.0.2.1"]),
                domains: doms(&["a.test"]),
            }]
        );
        // in flight: nothing more until it is done
        assert!(links.take_plans().is_empty());
        links.done(4, OK);
        assert!(links.take_plans().is_empty());
        assert!(!links.any_in_flight());
    }

    #[test]
    fn links_coalesce_while_in_flight_latest_wins() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        let first = links.take_plans();
        assert_eq!(first.len(), 1);
        // three updates while the first plan is on the wire
        links.set(4, "eth0".into(), dns(&["192.0.2.2"]), None);
        links.set(4, "eth0".into(), dns(&["192.0.2.3"]), None);
        links.set(4, "eth0".into(), None, doms(&["a.test"])); // unchanged domains: no work
        assert!(links.take_plans().is_empty(), "one call at a time per link");
        links.done(4, OK);
        assert_eq!(
            links.take_plans(),
            vec![LinkPlan {
                ifindex: 4,
                name: "eth0".into(),
                revert: false,
                dns: dns(&["192.0.2.3"]),
                domains: None,
            }]
        );
    }

    #[test]
    fn links_same_settings_again_make_no_calls() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        assert_eq!(links.take_plans().len(), 1);
        links.done(4, OK);
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        assert!(links.take_plans().is_empty());
    }

    #[test]
    fn links_none_parts_are_left_alone() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), None, None);
        assert!(links.take_plans().is_empty(), "nothing given, nothing sent");
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), None);
        let plans = links.take_plans();
        assert_eq!(plans[0].dns, dns(&["192.0.2.1"]));
        assert_eq!(plans[0].domains, None);
    }

    #[test]
    fn links_revert_then_set_before_sending_keeps_the_order() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        links.take_plans();
        links.done(4, OK);
        links.revert(4);
        links.set(4, "eth0".into(), dns(&["192.0.2.9"]), None);
        assert_eq!(
            links.take_plans(),
            vec![LinkPlan {
                ifindex: 4,
                name: "eth0".into(),
                revert: true,
                dns: dns(&["192.0.2.9"]),
                domains: None,
            }],
            "revert first (drops the old domains), then the new servers"
        );
    }

    #[test]
    fn links_set_then_revert_before_sending_is_just_a_revert() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        links.revert(4);
        let plans = links.take_plans();
        assert_eq!(plans.len(), 1);
        assert!(plans[0].revert);
        assert_eq!(
            (plans[0].dns.clone(), plans[0].domains.clone()),
            (None, None)
        );
        links.done(4, OK);
        assert_eq!(links.name(4), None, "a reverted link is forgotten");
        assert_eq!(links.wanted_count(), 0);
    }

    #[test]
    fn links_revert_of_unknown_link_is_still_sent() {
        let mut links = Links::default();
        links.revert(7);
        let plans = links.take_plans();
        assert_eq!(plans.len(), 1);
        assert!(plans[0].revert);
    }

    #[test]
    fn links_reapply_everything_when_resolved_appears() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), doms(&["a.test"]));
        links.set(5, "eth1".into(), None, doms(&["b.test"]));
        for p in links.take_plans() {
            links.done(p.ifindex, OK);
        }
        assert!(links.take_plans().is_empty());
        links.appeared();
        let plans = links.take_plans();
        assert_eq!(plans.len(), 2);
        assert_eq!(plans[0].dns, dns(&["192.0.2.1"]));
        assert_eq!(plans[0].domains, doms(&["a.test"]));
        assert_eq!(plans[1].dns, None, "eth1's servers were never ours");
        assert_eq!(plans[1].domains, doms(&["b.test"]));
        assert!(!plans[0].revert && !plans[1].revert);
    }

    #[test]
    fn links_appearance_during_a_call_sends_again_after_it() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), None);
        links.take_plans();
        links.appeared(); // the call may have gone to the old owner
        assert!(links.take_plans().is_empty());
        links.done(4, OK);
        assert_eq!(links.take_plans()[0].dns, dns(&["192.0.2.1"]));
    }

    #[test]
    fn links_failed_revert_waits_for_resolved() {
        let mut links = Links::default();
        links.revert(4);
        links.take_plans();
        links.done(
            4,
            LinkDone {
                revert_failed: true,
            },
        );
        assert!(links.take_plans().is_empty(), "no retry loop");
        assert!(!links.any_work());
        links.appeared();
        let plans = links.take_plans();
        assert_eq!(plans.len(), 1);
        assert!(plans[0].revert);
        links.done(4, OK);
        assert_eq!(links.name(4), None);
    }

    #[test]
    fn links_are_independent() {
        let mut links = Links::default();
        links.set(4, "eth0".into(), dns(&["192.0.2.1"]), None);
        assert_eq!(links.take_plans().len(), 1);
        links.set(5, "eth1".into(), dns(&["192.0.2.2"]), None);
        let plans = links.take_plans();
        assert_eq!(plans.len(), 1, "eth1 does not wait for eth0's call");
        assert_eq!(plans[0].ifindex, 5);
    }

    fn host_plan(name: Option<&str>) -> Option<HostPlan> {
        Some(HostPlan {
            name: name.map(String::from),
        })
    }

    #[test]
    fn host_set_coalesces_and_latest_wins() {
        let mut host = Host::default();
        host.set(Some("a".into()));
        let first = host.take_plan();
        assert_eq!(first, host_plan(Some("a")));
        host.set(Some("b".into()));
        host.set(Some("c".into()));
        assert_eq!(host.take_plan(), None, "one call at a time");
        host.done(first.unwrap_or_else(|| unreachable!()), true);
        assert_eq!(host.take_plan(), host_plan(Some("c")));
    }

    #[test]
    fn host_same_name_again_makes_no_call() {
        let mut host = Host::default();
        host.set(Some("a".into()));
        let plan = host.take_plan().unwrap_or_else(|| unreachable!());
        host.done(plan, true);
        host.set(Some("a".into()));
        assert_eq!(host.take_plan(), None);
    }

    #[test]
    fn host_none_clears_only_a_name_we_set() {
        let mut host = Host::default();
        host.set(None);
        assert_eq!(host.take_plan(), None, "nothing of ours to clear");
        host.set(Some("a".into()));
        let plan = host.take_plan().unwrap_or_else(|| unreachable!());
        host.done(plan, true);
        host.set(None);
        assert_eq!(host.take_plan(), host_plan(None));
    }

    #[test]
    fn host_set_then_none_before_sending_sends_nothing() {
        let mut host = Host::default();
        host.set(Some("a".into()));
        host.set(None);
        assert_eq!(host.take_plan(), None);
    }

    #[test]
    fn host_failure_waits_for_hostnamed_to_appear() {
        let mut host = Host::default();
        host.set(Some("a".into()));
        let plan = host.take_plan().unwrap_or_else(|| unreachable!());
        host.done(plan, false);
        assert_eq!(host.take_plan(), None, "no retry loop");
        host.appeared();
        assert_eq!(host.take_plan(), host_plan(Some("a")));
    }

    #[test]
    fn host_success_is_not_repeated_on_appearance() {
        let mut host = Host::default();
        host.set(Some("a".into()));
        let plan = host.take_plan().unwrap_or_else(|| unreachable!());
        host.appeared(); // our own call activated hostnamed
        host.done(plan, true);
        host.appeared(); // someone else activated it later
        assert_eq!(host.take_plan(), None);
    }

    #[test]
    fn host_failure_while_hostnamed_started_gets_one_more_try() {
        let mut host = Host::default();
        host.set(Some("a".into()));
        let plan = host.take_plan().unwrap_or_else(|| unreachable!());
        host.appeared();
        host.done(plan, false);
        let again = host.take_plan();
        assert_eq!(again, host_plan(Some("a")));
        host.done(again.unwrap_or_else(|| unreachable!()), false);
        assert_eq!(host.take_plan(), None, "only one");
    }
}
