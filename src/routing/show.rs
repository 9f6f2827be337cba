//! One-line descriptions of rules and routes in iproute2's words (`ip rule`, `ip route`), for
//! log messages, errors and `network-brokerctl routing`. Links appear by index (`dev #3`):
//! a rule or route does not carry the link's name, and the index is what identifies a table.

use std::fmt::Write as _;
use std::net::IpAddr;

use crate::model::kernel::{KIND_UNICAST, SCOPE_HOST, SCOPE_LINK, SCOPE_UNIVERSE};
use crate::model::{Route, Rule};
use crate::netlink::rule::ACTION_TO_TABLE;

/// `20000: from 10.99.0.3 lookup 1003 proto 78`.
pub fn rule(rule: &Rule) -> String {
    let mut out = String::new();
    if let Some(p) = rule.priority {
        let _ = write!(out, "{p}: ");
    }
    if rule.ipv6 {
        out.push_str("inet6 ");
    }
    match rule.src {
        Some(prefix) => {
            let _ = write!(out, "from {}", prefix_text(prefix));
        }
        None => out.push_str("from all"),
    }
    if let Some(prefix) = rule.dst {
        let _ = write!(out, " to {}", prefix_text(prefix));
    }
    if rule.action == ACTION_TO_TABLE {
        let _ = write!(out, " lookup {}", rule.table);
    } else {
        let _ = write!(out, " action {} table {}", rule.action, rule.table);
    }
    let _ = write!(out, " proto {}", rule.protocol);
    out
}

/// `10.99.0.0/24 dev #3 table 1003 proto 78 scope link src 10.99.0.3`.
pub fn route(route: &Route) -> String {
    let mut out = String::new();
    if route.ipv6 {
        out.push_str("inet6 ");
    }
    if route.kind != KIND_UNICAST {
        let _ = write!(out, "type {} ", route.kind);
    }
    match route.dst {
        Some(dst) => {
            let _ = write!(out, "{}", prefix_text((dst, route.dst_len)));
        }
        None => out.push_str("default"),
    }
    if let Some(gw) = route.gateway {
        let _ = write!(out, " via {gw}");
    }
    if let Some(oif) = route.oif {
        let _ = write!(out, " dev #{oif}");
    }
    let _ = write!(out, " table {} proto {}", route.table, route.protocol);
    match route.scope {
        SCOPE_UNIVERSE => {}
        SCOPE_LINK => out.push_str(" scope link"),
        SCOPE_HOST => out.push_str(" scope host"),
        other => {
            let _ = write!(out, " scope {other}");
        }
    }
    if let Some(src) = route.src {
        let _ = write!(out, " src {src}");
    }
    if let Some(metric) = route.metric {
        let _ = write!(out, " metric {metric}");
    }
    out
}

/// `10.99.0.3` for a host prefix (as `ip` prints it), `10.99.0.0/24` otherwise.
fn prefix_text((ip, len): (IpAddr, u8)) -> String {
    let host = if ip.is_ipv6() { 128 } else { 32 };
    if len == host {
        ip.to_string()
    } else {
        format!("{ip}/{len}")
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_routes_read_like_ip() {
        let r = Rule {
            ipv6: false,
            priority: Some(20000),
            src: Some(("10.99.0.3".parse().unwrap(), 32)),
            dst: None,
            table: 1003,
            protocol: 78,
            action: ACTION_TO_TABLE,
        };
        assert_eq!(rule(&r), "20000: from 10.99.0.3 lookup 1003 proto 78");

        let v6 = Rule {
            ipv6: true,
            priority: Some(20001),
            src: None,
            dst: Some(("2001:db8::3".parse().unwrap(), 128)),
            ..r
        };
        assert_eq!(
            rule(&v6),
            "20001: inet6 from all to 2001:db8::3 lookup 1003 proto 78"
        );

        let subnet = Route {
            dst: Some("10.99.0.0".parse().unwrap()),
            dst_len: 24,
            src: Some("10.99.0.3".parse().unwrap()),
            gateway: None,
            oif: Some(3),
            table: 1003,
            protocol: 78,
            scope: 253,
            kind: 1,
            metric: None,
            ipv6: false,
        };
        assert_eq!(
            route(&subnet),
            "10.99.0.0/24 dev #3 table 1003 proto 78 scope link src 10.99.0.3"
        );
        let default = Route {
            dst: None,
            dst_len: 0,
            src: None,
            gateway: Some("fe80::1".parse().unwrap()),
            scope: 0,
            metric: Some(1024),
            ipv6: true,
            ..subnet
        };
        assert_eq!(
            route(&default),
            "inet6 default via fe80::1 dev #3 table 1003 proto 78 metric 1024"
        );
    }
}
