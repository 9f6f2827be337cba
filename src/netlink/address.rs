//! `RTM_NEWADDR` / `RTM_DELADDR` messages to [`Address`] with the index of its link.

use std::net::IpAddr;

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::AddressFamily;

use crate::model::{Address, IfIndex};

/// Whether `msg` is about an IPv4 or IPv6 address, the only addresses the model holds.
/// Other families are normal traffic that callers ignore quietly; [`address`] returns `None`
/// for them too.
pub fn is_ip_address(msg: &AddressMessage) -> bool {
    matches!(
        msg.header.family,
        AddressFamily::Inet | AddressFamily::Inet6
    )
}

/// The address and the index of its link, or `None` when the message is not an IPv4/IPv6
/// address, names no link, carries no address, or contradicts itself (an IPv6 address in an
/// IPv4 message, a prefix longer than the address).
///
/// The address is `IFA_LOCAL` when present, else `IFA_ADDRESS`: on a point-to-point IPv4 link
/// `IFA_ADDRESS` is the *peer*, and IPv6 sends only `IFA_ADDRESS` unless a peer is set.
/// Flags come from `IFA_FLAGS` (32 bits) when present, else from the header's 8-bit field.
pub fn address(msg: &AddressMessage) -> Option<(IfIndex, Address)> {
    let index = Some(msg.header.index).filter(|&i| i != 0)?;
    let max_prefix = match msg.header.family {
        AddressFamily::Inet => 32,
        AddressFamily::Inet6 => 128,
        _ => return None,
    };
    if msg.header.prefix_len > max_prefix {
        return None;
    }

    let mut local = None;
    let mut peer = None;
    let mut label = None;
    let mut flags = None;
    for attr in &msg.attributes {
        match attr {
            AddressAttribute::Local(ip) => local = Some(*ip),
            AddressAttribute::Address(ip) => peer = Some(*ip),
            AddressAttribute::Label(l) => label = Some(l.clone()),
            AddressAttribute::Flags(f) => flags = Some(f.bits()),
            _ => {}
        }
    }
    let ip = local.or(peer)?;
    let family_matches = match ip {
        IpAddr::V4(_) => msg.header.family == AddressFamily::Inet,
        IpAddr::V6(_) => msg.header.family == AddressFamily::Inet6,
    };
    if !family_matches {
        return None;
    }

    Some((
        index,
        Address {
            ip,
            prefix_len: msg.header.prefix_len,
            label,
            scope: msg.header.scope.into(),
            flags: flags.unwrap_or_else(|| u32::from(msg.header.flags.bits())),
        },
    ))
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use netlink_packet_route::address::{AddressFlags, AddressHeaderFlags, AddressScope};

    use super::*;
    use crate::model::kernel::SCOPE_LINK;

    fn v4_message() -> AddressMessage {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet;
        msg.header.prefix_len = 24;
        msg.header.index = 3;
        msg.header.scope = AddressScope::Universe;
        msg.header.flags = AddressHeaderFlags::Permanent;
        msg.attributes = vec![
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10))),
            AddressAttribute::Label("nbveth0:1".into()),
            AddressAttribute::Flags(AddressFlags::Permanent | AddressFlags::Noprefixroute),
        ];
        msg
    }

    #[test]
    fn converts_ipv4_with_label() {
        let (index, addr) = address(&v4_message()).expect("complete message");
        assert_eq!(index, 3);
        assert_eq!(
            addr,
            Address {
                ip: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 10)),
                prefix_len: 24,
                label: Some("nbveth0:1".into()),
                scope: 0,
                // IFA_FLAGS wins over the header's 8 bits (NOPREFIXROUTE does not fit there).
                flags: 0x80 | 0x200,
            }
        );
        assert!(addr.is_global());
    }

    #[test]
    fn point_to_point_uses_the_local_address_not_the_peer() {
        let mut msg = v4_message();
        msg.header.prefix_len = 32;
        msg.attributes = vec![
            AddressAttribute::Local(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1))),
            AddressAttribute::Address(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 2))),
        ];
        let (_, addr) = address(&msg).expect("complete message");
        assert_eq!(addr.ip, IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)));
        // Without IFA_FLAGS the header's flags are used.
        assert_eq!(addr.flags, 0x80);
    }

    #[test]
    fn converts_ipv6_link_local() {
        let mut msg = AddressMessage::default();
        msg.header.family = AddressFamily::Inet6;
        msg.header.prefix_len = 64;
        msg.header.index = 5;
        msg.header.scope = AddressScope::Link;
        let ip = IpAddr::V6(Ipv6Addr::new(0xfe80, 0, 0, 0, 0, 0, 0, 0x1));
        msg.attributes = vec![AddressAttribute::Address(ip)];
        let (index, addr) = address(&msg).expect("complete message");
        assert_eq!(index, 5);
        assert_eq!(addr.ip, ip);
        assert_eq!(addr.prefix_len, 64);
        assert_eq!(addr.label, None);
        assert_eq!(addr.scope, SCOPE_LINK);
        assert!(!addr.is_global());
    }

    #[test]
    fn incomplete_or_contradictory_messages_are_rejected() {
        let mut no_ip = v4_message();
        no_ip
            .attributes
            .retain(|a| !matches!(a, AddressAttribute::Address(_) | AddressAttribute::Local(_)));
        assert_eq!(address(&no_ip), None);

        let mut no_index = v4_message();
        no_index.header.index = 0;
        assert_eq!(address(&no_index), None);

        let mut wrong_family = v4_message();
        wrong_family.header.family = AddressFamily::Inet6;
        assert_eq!(address(&wrong_family), None);

        let mut long_prefix = v4_message();
        long_prefix.header.prefix_len = 33;
        assert_eq!(address(&long_prefix), None);

        let mut other_family = v4_message();
        other_family.header.family = AddressFamily::Unspec;
        assert_eq!(address(&other_family), None);
    }
}
