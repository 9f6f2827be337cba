//! A DHCP lease as ISC dhclient records it, reduced to what the broker acts on plus every
//! option verbatim.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use serde::Serialize;

/// One lease of one interface.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Lease {
    /// The interface the lease belongs to (`interface "eth0";`).
    pub interface: String,
    /// The leased address (`fixed-address`).
    pub address: Option<Ipv4Addr>,
    /// Prefix length from `option subnet-mask`.
    pub prefix_len: Option<u8>,
    /// `option routers`, in order.
    pub routers: Vec<Ipv4Addr>,
    /// `option domain-name-servers` (IPv4) or `dhcp6.name-servers` (IPv6), in order.
    pub dns: Vec<IpAddr>,
    /// `option domain-name`.
    pub domain_name: Option<String>,
    /// `option domain-search`, in order, without trailing dots.
    pub domain_search: Vec<String>,
    /// `option host-name`.
    pub host_name: Option<String>,
    /// `option interface-mtu`.
    pub mtu: Option<u32>,
    /// `renew` time, seconds since the Unix epoch (UTC).
    pub renew: Option<i64>,
    /// `rebind` time, seconds since the Unix epoch (UTC).
    pub rebind: Option<i64>,
    /// `expire` time, seconds since the Unix epoch (UTC); `None` for a lease that never
    /// expires (`expire never;`).
    pub expire: Option<i64>,
    /// Every `option NAME VALUE;` as written (quotes removed from plain strings), by name.
    pub options: BTreeMap<String, String>,
}

impl Lease {
    /// The search domains the lease gives: its domain name first, then its search list, each
    /// once.
    pub fn search_domains(&self) -> Vec<String> {
        let mut domains: Vec<String> = Vec::new();
        for domain in self.domain_name.iter().chain(&self.domain_search) {
            if !domains.contains(domain) {
                domains.push(domain.clone());
            }
        }
        domains
    }

    /// The lease as `KEY=VALUE` pairs, with the keys systemd-networkd uses in its own lease
    /// files (`ADDRESS`, `NETMASK`, `ROUTER`, `DNS`, `DOMAINNAME`, `DOMAIN_SEARCH_LIST`,
    /// `HOSTNAME`, `MTU`), so a hook reads a dhclient lease and a networkd lease the same way.
    /// Lists are space-separated; times (`RENEW`, `REBIND`, `EXPIRE`) are Unix seconds.
    pub fn key_values(&self) -> Vec<(&'static str, String)> {
        fn join<T: std::fmt::Display>(items: &[T]) -> String {
            items
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }
        let mut pairs = vec![("INTERFACE", self.interface.clone())];
        if let Some(address) = self.address {
            pairs.push(("ADDRESS", address.to_string()));
        }
        if let Some(mask) = self.prefix_len.and_then(netmask) {
            pairs.push(("NETMASK", mask.to_string()));
        }
        if !self.routers.is_empty() {
            pairs.push(("ROUTER", join(&self.routers)));
        }
        if !self.dns.is_empty() {
            pairs.push(("DNS", join(&self.dns)));
        }
        if let Some(domain) = &self.domain_name {
            pairs.push(("DOMAINNAME", domain.clone()));
        }
        if !self.domain_search.is_empty() {
            pairs.push(("DOMAIN_SEARCH_LIST", self.domain_search.join(" ")));
        }
        if let Some(host) = &self.host_name {
            pairs.push(("HOSTNAME", host.clone()));
        }
        if let Some(mtu) = self.mtu {
            pairs.push(("MTU", mtu.to_string()));
        }
        for (key, time) in [
            ("RENEW", self.renew),
            ("REBIND", self.rebind),
            ("EXPIRE", self.expire),
        ] {
            if let Some(time) = time {
                pairs.push((key, time.to_string()));
            }
        }
        pairs
    }

    /// Whether `other` says the same things: a renewal that only moves the renew, rebind
    /// and expire times (and the lease-time bookkeeping options) is not a change.
    pub fn same_content(&self, other: &Lease) -> bool {
        let volatile = |name: &str| {
            matches!(
                name,
                "dhcp-lease-time" | "dhcp-renewal-time" | "dhcp-rebinding-time"
            )
        };
        let options = |lease: &Lease| -> Vec<(String, String)> {
            lease
                .options
                .iter()
                .filter(|(k, _)| !volatile(k))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        self.interface == other.interface
            && self.address == other.address
            && self.prefix_len == other.prefix_len
            && self.routers == other.routers
            && self.dns == other.dns
            && self.domain_name == other.domain_name
            && self.domain_search == other.domain_search
            && self.host_name == other.host_name
            && self.mtu == other.mtu
            && options(self) == options(other)
    }
}

/// The IPv4 netmask of a prefix length, `None` above 32.
fn netmask(prefix_len: u8) -> Option<Ipv4Addr> {
    let bits = u32::MAX
        .checked_shl(32u32.checked_sub(u32::from(prefix_len))?)
        .unwrap_or(0);
    (prefix_len <= 32).then_some(Ipv4Addr::from(bits))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease() -> Lease {
        Lease {
            interface: "eth0".into(),
            address: Some(Ipv4Addr::new(192, 168, 79, 10)),
            prefix_len: Some(24),
            routers: vec![Ipv4Addr::new(192, 168, 79, 1)],
            dns: vec![
                "192.168.79.1".parse().unwrap(),
                "192.168.79.53".parse().unwrap(),
            ],
            domain_name: Some("dh0.lab.test".into()),
            domain_search: vec!["dh0.lab.test".into(), "search.lab.test".into()],
            host_name: Some("labclient-dh0".into()),
            mtu: None,
            renew: Some(100),
            rebind: Some(200),
            expire: Some(300),
            options: BTreeMap::from([
                ("dhcp-lease-time".to_string(), "3600".to_string()),
                ("routers".to_string(), "192.168.79.1".to_string()),
            ]),
        }
    }

    #[test]
    fn key_values_use_networkds_names() {
        let text: Vec<String> = lease()
            .key_values()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect();
        assert_eq!(
            text,
            [
                "INTERFACE=eth0",
                "ADDRESS=192.168.79.10",
                "NETMASK=255.255.255.0",
                "ROUTER=192.168.79.1",
                "DNS=192.168.79.1 192.168.79.53",
                "DOMAINNAME=dh0.lab.test",
                "DOMAIN_SEARCH_LIST=dh0.lab.test search.lab.test",
                "HOSTNAME=labclient-dh0",
                "RENEW=100",
                "REBIND=200",
                "EXPIRE=300",
            ]
        );
    }

    #[test]
    fn netmasks() {
        assert_eq!(netmask(0), Some(Ipv4Addr::new(0, 0, 0, 0)));
        assert_eq!(netmask(8), Some(Ipv4Addr::new(255, 0, 0, 0)));
        assert_eq!(netmask(32), Some(Ipv4Addr::new(255, 255, 255, 255)));
        assert_eq!(netmask(33), None);
    }

    #[test]
    fn a_renewal_is_not_a_change_but_a_new_router_is() {
        let old = lease();
        let mut renewed = lease();
        renewed.renew = Some(1100);
        renewed.expire = Some(1300);
        renewed
            .options
            .insert("dhcp-lease-time".into(), "7200".into());
        assert!(old.same_content(&renewed));
        let mut moved = lease();
        moved.routers = vec![Ipv4Addr::new(192, 168, 79, 254)];
        assert!(!old.same_content(&moved));
    }
}
