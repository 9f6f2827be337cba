//! Unit tests of `crate::broker::push_policy`.

use super::*;
use crate::config::Config;

fn network(dns: bool, domain: bool, hostname: bool) -> NetworkConfig {
    let mut network = Config::defaults(std::path::Path::new("/nonexistent")).network;
    network.use_dns = dns;
    network.use_domain = domain;
    network.use_hostname = hostname;
    network
}

#[test]
fn a_lease_pushes_what_the_use_keys_allow() {
    let lease = crate::broker::requests::tests::lease();
    assert_eq!(
        for_lease(&network(true, false, true), 3, "eth0", Some(&lease)),
        [
            Push::SetLink {
                index: 3,
                name: "eth0".into(),
                dns: Some(lease.dns.clone()),
                domains: None,
            },
            Push::SetHostname(Some("client".into())),
        ]
    );
    assert_eq!(
        for_lease(&network(false, true, false), 3, "eth0", Some(&lease)),
        [Push::SetLink {
            index: 3,
            name: "eth0".into(),
            dns: None,
            domains: Some(vec!["example.test".into()]),
        }]
    );
    assert_eq!(
        for_lease(&network(false, false, false), 3, "eth0", Some(&lease)),
        []
    );
}

#[test]
fn a_lost_lease_reverts_what_was_pushed() {
    assert_eq!(
        for_lease(&network(true, true, true), 3, "eth0", None),
        [Push::RevertLink(3), Push::SetHostname(None)]
    );
    assert_eq!(
        for_lease(&network(false, true, false), 3, "eth0", None),
        [Push::RevertLink(3)]
    );
    assert_eq!(
        for_lease(&network(false, false, false), 3, "eth0", None),
        []
    );
}

fn config(dns: bool, domain: bool, hostname: bool, links: Option<&[&str]>) -> Config {
    let mut config = Config::defaults(std::path::Path::new("/nonexistent"));
    config.network = network(dns, domain, hostname);
    config.network.links = links.map(|l| l.iter().map(|s| s.to_string()).collect());
    config
}

#[test]
fn a_reload_reverts_what_a_held_lease_no_longer_pushes_and_sends_what_it_now_pushes() {
    let lease = crate::broker::requests::tests::lease();
    let held = vec![(3, "eth0".to_string(), lease.clone())];
    // UseDNS and UseHostname dropped: revert the link, drop the host name, then send what
    // is left (nothing of DNS, so no SetLink).
    assert_eq!(
        for_reload(
            &config(true, false, true, None),
            &config(false, false, false, None),
            &held
        ),
        [Push::RevertLink(3), Push::SetHostname(None)]
    );
    // UseDomain added: the domains go out now.
    assert_eq!(
        for_reload(
            &config(false, false, false, None),
            &config(false, true, false, None),
            &held
        ),
        [Push::SetLink {
            index: 3,
            name: "eth0".into(),
            dns: None,
            domains: Some(vec!["example.test".into()]),
        }]
    );
    // The link leaves Links: everything it pushed is reverted, nothing is sent.
    assert_eq!(
        for_reload(
            &config(true, false, false, None),
            &config(true, false, false, Some(&["eth1"])),
            &held
        ),
        [Push::RevertLink(3)]
    );
    // Nothing changed for the link: no call at all.
    assert_eq!(
        for_reload(
            &config(true, true, true, None),
            &config(true, true, true, None),
            &held
        ),
        []
    );
}
