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
