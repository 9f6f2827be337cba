//! What a link's lease pushes to resolved and hostnamed under `UseDNS`, `UseDomain` and
//! `UseHostname` (pure): the broker decides *whether*, [`crate::push`] decides *how*.

use std::net::IpAddr;

use crate::config::{Config, NetworkConfig};
use crate::model::{IfIndex, Lease};
use crate::push;

/// One call to make on the push actor.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Push {
    /// A link's DNS servers and search domains (`None`: leave that part as it is).
    SetLink {
        /// The link.
        index: IfIndex,
        /// Its name, for the logs.
        name: String,
        /// DNS servers, when `UseDNS`.
        dns: Option<Vec<IpAddr>>,
        /// Search domains, when `UseDomain`.
        domains: Option<Vec<String>>,
    },
    /// Drop what was pushed for a link.
    RevertLink(IfIndex),
    /// hostnamed's transient host name (`None`: drop the one set).
    SetHostname(Option<String>),
}

/// The calls a link's lease (or its loss, `None`) makes under `network`'s `Use*` keys.
pub fn for_lease(
    network: &NetworkConfig,
    index: IfIndex,
    name: &str,
    lease: Option<&Lease>,
) -> Vec<Push> {
    let mut pushes = Vec::new();
    match lease {
        None => {
            if network.use_dns || network.use_domain {
                pushes.push(Push::RevertLink(index));
            }
            if network.use_hostname {
                pushes.push(Push::SetHostname(None));
            }
        }
        Some(lease) => {
            let dns = network.use_dns.then(|| lease.dns.clone());
            let domains = network.use_domain.then(|| lease.search_domains());
            if dns.is_some() || domains.is_some() {
                pushes.push(Push::SetLink {
                    index,
                    name: name.to_string(),
                    dns,
                    domains,
                });
            }
            if network.use_hostname {
                pushes.push(Push::SetHostname(lease.host_name.clone()));
            }
        }
    }
    pushes
}

/// The calls a reload from `old` to `new` makes for the leases held (`held`: link, name,
/// lease): `UseDNS`, `UseDomain`, `UseHostname` and `Links` apply to them at once, not only to
/// the next lease. What a link no longer pushes is reverted; what it pushes now is sent again
/// (the push actor coalesces, resolved ignores a repeat); links whose pushes did not change
/// get no call.
pub fn for_reload(old: &Config, new: &Config, held: &[(IfIndex, String, Lease)]) -> Vec<Push> {
    let pushes_of = |config: &Config, name: &str| {
        let (on, n) = (config.link_selected(name), &config.network);
        (on && n.use_dns, on && n.use_domain, on && n.use_hostname)
    };
    let mut pushes = Vec::new();
    for (index, name, lease) in held {
        let (before, after) = (pushes_of(old, name), pushes_of(new, name));
        if before == after {
            continue;
        }
        if (before.0 && !after.0) || (before.1 && !after.1) {
            pushes.push(Push::RevertLink(*index));
        }
        if before.2 && !after.2 {
            pushes.push(Push::SetHostname(None));
        }
        if new.link_selected(name) {
            pushes.extend(for_lease(&new.network, *index, name, Some(lease)));
        }
    }
    pushes
}

/// Hands `pushes` to the actor, in order.
pub fn carry_out(actor: &push::Handle, pushes: Vec<Push>) {
    for push in pushes {
        match push {
            Push::SetLink {
                index,
                name,
                dns,
                domains,
            } => actor.set_link(index, name, dns, domains),
            Push::RevertLink(index) => actor.revert_link(index),
            Push::SetHostname(name) => actor.set_hostname(name),
        }
    }
}

#[cfg(test)]
mod tests;
