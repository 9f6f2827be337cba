//! `RTM_NEWRULE` / `RTM_DELRULE` messages to [`Rule`] and back, IPv4 and IPv6.
//!
//! The model keeps the selectors the broker creates and recognises (source and destination
//! prefix, priority, table, protocol, action). Other selectors (`fwmark`, `iif`, `oif`,
//! `uidrange`, `not`, ports, …) are not represented: such a rule converts to the [`Rule`] its
//! modelled attributes describe. That is enough for the one question the broker asks of
//! rules, "is this one of ours?", which the protocol answers.

use std::net::IpAddr;

use netlink_packet_route::route::RouteProtocol;
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::AddressFamily;

use super::header_table;
use crate::model::Rule;

/// `FR_ACT_TO_TBL`: look the packet up in [`Rule::table`].
pub const ACTION_TO_TABLE: u8 = 1;

/// Whether `msg` is an IPv4 or IPv6 rule, the only rules the model holds. Rules of other
/// families (DECnet, MPLS, IPMR) are ignored quietly; [`rule`] returns `None` for them too.
pub fn is_ip_rule(msg: &RuleMessage) -> bool {
    matches!(
        msg.header.family,
        AddressFamily::Inet | AddressFamily::Inet6
    )
}

/// The rule, or `None` when the message is not an IPv4/IPv6 rule or contradicts itself (a
/// prefix length without its address, an address of the other family, a prefix longer than
/// the address).
///
/// - **Table:** `FRA_TABLE` when present, else the header's 8-bit field (the kernel writes
///   252, `RT_TABLE_COMPAT`, into the header for tables above 255, so the attribute wins).
/// - **Priority:** `FRA_PRIORITY`; the kernel leaves the attribute out when the priority is 0
///   (the `local` rule), so a missing attribute is priority 0, not "unset".
/// - **Protocol:** `FRA_PROTOCOL`, 0 (`unspec`) when the kernel predates it (< 4.17).
/// - **`from all` / `to all`:** a zero prefix length is no selector, whatever the message
///   carries as an address.
pub fn rule(msg: &RuleMessage) -> Option<Rule> {
    let header = &msg.header;
    let (ipv6, max_len) = match header.family {
        AddressFamily::Inet => (false, 32),
        AddressFamily::Inet6 => (true, 128),
        _ => return None,
    };
    if header.src_len > max_len || header.dst_len > max_len {
        return None;
    }

    let mut src = None;
    let mut dst = None;
    let mut table = None;
    let mut priority = None;
    let mut protocol = None;
    for attr in &msg.attributes {
        match attr {
            RuleAttribute::Source(ip) => src = Some(*ip),
            RuleAttribute::Destination(ip) => dst = Some(*ip),
            RuleAttribute::Table(t) => table = Some(*t),
            RuleAttribute::Priority(p) => priority = Some(*p),
            RuleAttribute::Protocol(p) => protocol = Some(u8::from(*p)),
            _ => {}
        }
    }

    Some(Rule {
        ipv6,
        priority: Some(priority.unwrap_or(0)),
        src: selector(src, header.src_len, ipv6)?,
        dst: selector(dst, header.dst_len, ipv6)?,
        table: table.unwrap_or(u32::from(header.table)),
        protocol: protocol.unwrap_or(0),
        action: u8::from(header.action),
    })
}

/// `Some(None)` for "all", `Some(Some(prefix))` for a valid prefix, `None` for a prefix the
/// message cannot mean.
#[allow(clippy::option_option)] // three outcomes: no selector, a selector, inconsistent
fn selector(ip: Option<IpAddr>, len: u8, ipv6: bool) -> Option<Option<(IpAddr, u8)>> {
    if len == 0 {
        return Some(None);
    }
    let ip = ip?;
    (ip.is_ipv6() == ipv6).then_some(Some((ip, len)))
}

/// The message that adds or deletes `rule`: exactly the attributes the model holds, so that
/// `RTM_DELRULE` (which matches every attribute it is given, and only those) finds the rule
/// the model describes. A table above 255 goes into `FRA_TABLE` with `RT_TABLE_COMPAT` in the
/// header, as iproute2 sends it; smaller tables go into both.
///
/// The action is taken from the rule as it is: a rule meant to look up a table must say
/// [`ACTION_TO_TABLE`], because the kernel accepts `FR_ACT_UNSPEC` and then fails every
/// lookup that reaches the rule with `EINVAL`.
pub fn rule_message(rule: &Rule) -> RuleMessage {
    let mut msg = RuleMessage::default();
    msg.header.family = if rule.ipv6 {
        AddressFamily::Inet6
    } else {
        AddressFamily::Inet
    };
    msg.header.action = RuleAction::from(rule.action);
    msg.header.table = header_table(rule.table);
    msg.attributes.push(RuleAttribute::Table(rule.table));
    if let Some(priority) = rule.priority {
        msg.attributes.push(RuleAttribute::Priority(priority));
    }
    if let Some((ip, len)) = rule.src {
        msg.header.src_len = len;
        msg.attributes.push(RuleAttribute::Source(ip));
    }
    if let Some((ip, len)) = rule.dst {
        msg.header.dst_len = len;
        msg.attributes.push(RuleAttribute::Destination(ip));
    }
    msg.attributes
        .push(RuleAttribute::Protocol(RouteProtocol::from(rule.protocol)));
    msg
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;
    use crate::netlink::HEADER_TABLE_COMPAT;

    fn message(family: AddressFamily, attributes: Vec<RuleAttribute>) -> RuleMessage {
        let mut msg = RuleMessage::default();
        msg.header.family = family;
        msg.header.action = RuleAction::ToTable;
        msg.attributes = attributes;
        msg
    }

    fn v4(a: u8, b: u8, c: u8, d: u8) -> IpAddr {
        IpAddr::V4(Ipv4Addr::new(a, b, c, d))
    }

    #[test]
    fn ipv4_from_rule_in_a_table_above_255() {
        let mut msg = message(
            AddressFamily::Inet,
            vec![
                RuleAttribute::Table(1003),
                RuleAttribute::Priority(20000),
                RuleAttribute::Source(v4(10, 99, 0, 3)),
                RuleAttribute::Protocol(RouteProtocol::Other(78)),
            ],
        );
        msg.header.src_len = 32;
        // What the kernel really puts in the header for such a table.
        msg.header.table = HEADER_TABLE_COMPAT;
        assert_eq!(
            rule(&msg),
            Some(Rule {
                ipv6: false,
                priority: Some(20000),
                src: Some((v4(10, 99, 0, 3), 32)),
                dst: None,
                table: 1003,
                protocol: 78,
                action: ACTION_TO_TABLE,
            })
        );
    }

    #[test]
    fn table_falls_back_to_the_header_and_priority_0_is_implicit() {
        // The kernel's `0: from all lookup local`.
        let mut msg = message(
            AddressFamily::Inet,
            vec![RuleAttribute::Protocol(RouteProtocol::Kernel)],
        );
        msg.header.table = 255; // RT_TABLE_LOCAL
        let r = rule(&msg).expect("complete message");
        assert_eq!((r.table, r.priority, r.protocol), (255, Some(0), 2));
        assert_eq!((r.src, r.dst), (None, None));
    }

    #[test]
    fn ipv6_to_rule() {
        let ip = IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0x99, 0, 0, 0, 0, 3));
        let mut msg = message(
            AddressFamily::Inet6,
            vec![
                RuleAttribute::Destination(ip),
                RuleAttribute::Table(1003),
                RuleAttribute::Priority(20001),
            ],
        );
        msg.header.dst_len = 128;
        let r = rule(&msg).expect("complete message");
        assert!(r.ipv6);
        assert_eq!(r.dst, Some((ip, 128)));
        // No FRA_PROTOCOL (kernels before 4.17): unspec.
        assert_eq!(r.protocol, 0);
    }

    #[test]
    fn inconsistent_or_foreign_family_messages_are_rejected() {
        // A /32 source without its address.
        let mut no_src = message(AddressFamily::Inet, vec![]);
        no_src.header.src_len = 32;
        assert_eq!(rule(&no_src), None);

        // An IPv6 address in an IPv4 rule.
        let mut wrong = message(
            AddressFamily::Inet,
            vec![RuleAttribute::Source(IpAddr::V6(Ipv6Addr::LOCALHOST))],
        );
        wrong.header.src_len = 32;
        assert_eq!(rule(&wrong), None);

        let mut too_long = message(AddressFamily::Inet, vec![]);
        too_long.header.dst_len = 33;
        assert_eq!(rule(&too_long), None);

        let other = message(AddressFamily::Unspec, vec![]);
        assert!(!is_ip_rule(&other));
        assert_eq!(rule(&other), None);
    }

    #[test]
    fn a_zero_length_selector_is_all() {
        let msg = message(
            AddressFamily::Inet,
            vec![RuleAttribute::Source(v4(0, 0, 0, 0))],
        );
        assert_eq!(rule(&msg).map(|r| r.src), Some(None));
    }

    #[test]
    fn rule_message_round_trips() {
        for r in [
            Rule {
                ipv6: false,
                priority: Some(20000),
                src: Some((v4(10, 99, 0, 3), 32)),
                dst: None,
                table: 1003,
                protocol: 78,
                action: ACTION_TO_TABLE,
            },
            Rule {
                ipv6: true,
                priority: Some(20001),
                src: None,
                dst: Some((
                    IpAddr::V6(Ipv6Addr::new(0x2001, 0xdb8, 0, 0, 0, 0, 0, 2)),
                    128,
                )),
                table: 200,
                protocol: 78,
                action: ACTION_TO_TABLE,
            },
        ] {
            let msg = rule_message(&r);
            assert_eq!(msg.header.action, RuleAction::ToTable);
            assert_eq!(rule(&msg), Some(r));
        }
        let big = rule_message(&Rule {
            ipv6: false,
            priority: None,
            src: None,
            dst: None,
            table: 70000,
            protocol: 78,
            action: ACTION_TO_TABLE,
        });
        assert_eq!(big.header.table, HEADER_TABLE_COMPAT);
        assert!(big.attributes.contains(&RuleAttribute::Table(70000)));
    }
}
