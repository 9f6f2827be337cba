//! `RTM_NEWLINK` / `RTM_DELLINK` messages to [`LinkAttrs`]: which link messages describe a
//! link at all, and how their attributes map onto the domain type.

use std::fmt::Write as _;

use netlink_packet_route::link::{InfoKind, LinkAttribute, LinkInfo, LinkMessage, State};
use netlink_packet_route::AddressFamily;

use crate::model::{IfIndex, KernelOperState, LinkAttrs};

/// Whether `msg` describes a link itself, as opposed to per-family information the kernel also
/// sends as `RTM_NEWLINK`/`RTM_DELLINK`.
///
/// Two kinds of link message must not be taken for the link's state:
/// - `AF_BRIDGE` messages report a bridge *port*'s state; an `RTM_DELLINK` with `AF_BRIDGE`
///   means "no longer a bridge port", not "the link is gone".
/// - wireless extension events (`IFLA_WIRELESS`) carry only the name and flags; taking them as
///   a full description would erase the MTU, MAC address and kind.
///
/// Such messages are normal traffic, not malformed: callers ignore them quietly.
pub fn describes_link(msg: &LinkMessage) -> bool {
    msg.header.interface_family == AddressFamily::Unspec
        && !msg
            .attributes
            .iter()
            .any(|a| matches!(a, LinkAttribute::Wireless(_)))
}

/// The link's attributes, or `None` when the message lacks what every link has (a non-zero
/// index and a name). Call [`describes_link`] first to tell irrelevant messages from malformed
/// ones; this function also returns `None` for the irrelevant ones.
pub fn link_attrs(msg: &LinkMessage) -> Option<LinkAttrs> {
    if !describes_link(msg) {
        return None;
    }
    let index = link_index(msg)?;
    let mut name = None;
    let mut kind = None;
    let mut mac = None;
    let mut mtu = None;
    let mut oper_state = KernelOperState::Unknown;
    for attr in &msg.attributes {
        match attr {
            LinkAttribute::IfName(n) => name = Some(n.clone()),
            LinkAttribute::Mtu(m) => mtu = Some(*m),
            LinkAttribute::OperState(s) => oper_state = oper_state_of(*s),
            LinkAttribute::Address(bytes) => mac = format_hw_address(bytes),
            LinkAttribute::LinkInfo(infos) => {
                kind = infos.iter().find_map(|info| match info {
                    LinkInfo::Kind(k) => Some(kind_name(k)),
                    _ => None,
                });
            }
            _ => {}
        }
    }
    let name = name.filter(|n| !n.is_empty())?;
    Some(LinkAttrs {
        index,
        name,
        kind,
        mac,
        mtu,
        flags: msg.header.flags.bits(),
        oper_state,
    })
}

/// The index of the link an `RTM_DELLINK` removes, or `None` when the message does not
/// describe a link (see [`describes_link`]) or carries index 0.
pub fn removed_link_index(msg: &LinkMessage) -> Option<IfIndex> {
    if !describes_link(msg) {
        return None;
    }
    link_index(msg)
}

fn link_index(msg: &LinkMessage) -> Option<IfIndex> {
    // The kernel never uses index 0; a message carrying it cannot be matched to any link.
    Some(msg.header.index).filter(|&i| i != 0)
}

fn oper_state_of(state: State) -> KernelOperState {
    match state {
        State::NotPresent => KernelOperState::NotPresent,
        State::Down => KernelOperState::Down,
        State::LowerLayerDown => KernelOperState::LowerLayerDown,
        State::Testing => KernelOperState::Testing,
        State::Dormant => KernelOperState::Dormant,
        State::Up => KernelOperState::Up,
        // A state newer than this crate knows is reported as unknown rather than guessed.
        _ => KernelOperState::Unknown,
    }
}

fn kind_name(kind: &InfoKind) -> String {
    // `Display` prints the kernel's own `IFLA_INFO_KIND` string (`veth`, `bridge`, and the raw
    // string for kinds the crate does not know), which is what `ip -d link` shows.
    kind.to_string()
}

/// `aa:bb:cc:dd:ee:ff` for any length (Ethernet, InfiniBand, tunnels' IP-sized addresses), as
/// `ip link` prints it; `None` for an empty attribute.
fn format_hw_address(bytes: &[u8]) -> Option<String> {
    if bytes.is_empty() {
        return None;
    }
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        // Writing to a String cannot fail.
        let _ = write!(out, "{b:02x}");
    }
    Some(out)
}

#[cfg(test)]
#[allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing
mod tests {
    use netlink_packet_route::link::LinkFlags;

    use super::*;

    fn veth_message() -> LinkMessage {
        let mut msg = LinkMessage::default();
        msg.header.index = 7;
        msg.header.flags = LinkFlags::Up | LinkFlags::Running | LinkFlags::LowerUp;
        msg.attributes = vec![
            LinkAttribute::IfName("nbveth0".into()),
            LinkAttribute::Mtu(1500),
            LinkAttribute::OperState(State::Up),
            LinkAttribute::Address(vec![0x02, 0x00, 0x5e, 0x10, 0xab, 0x01]),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Veth)]),
        ];
        msg
    }

    #[test]
    fn converts_a_full_link_message() {
        let attrs = link_attrs(&veth_message()).expect("complete message");
        assert_eq!(
            attrs,
            LinkAttrs {
                index: 7,
                name: "nbveth0".into(),
                kind: Some("veth".into()),
                mac: Some("02:00:5e:10:ab:01".into()),
                mtu: Some(1500),
                flags: 0x1 | 0x40 | 0x1_0000,
                oper_state: KernelOperState::Up,
            }
        );
        assert!(attrs.is_up() && attrs.has_carrier() && !attrs.is_loopback());
    }

    #[test]
    fn optional_attributes_may_be_missing() {
        let mut msg = LinkMessage::default();
        msg.header.index = 1;
        msg.header.flags = LinkFlags::Loopback | LinkFlags::Up;
        msg.attributes = vec![LinkAttribute::IfName("lo".into())];
        let attrs = link_attrs(&msg).expect("name and index suffice");
        assert_eq!(attrs.kind, None);
        assert_eq!(attrs.mac, None);
        assert_eq!(attrs.mtu, None);
        assert_eq!(attrs.oper_state, KernelOperState::Unknown);
        assert!(attrs.is_loopback());
    }

    #[test]
    fn unknown_kind_keeps_the_kernel_string() {
        let mut msg = veth_message();
        msg.attributes = vec![
            LinkAttribute::IfName("x".into()),
            LinkAttribute::LinkInfo(vec![LinkInfo::Kind(InfoKind::Other("newkind".into()))]),
        ];
        assert_eq!(
            link_attrs(&msg).and_then(|a| a.kind).as_deref(),
            Some("newkind")
        );
    }

    #[test]
    fn message_without_name_or_index_is_rejected() {
        let mut no_name = veth_message();
        no_name
            .attributes
            .retain(|a| !matches!(a, LinkAttribute::IfName(_)));
        assert_eq!(link_attrs(&no_name), None);

        let mut no_index = veth_message();
        no_index.header.index = 0;
        assert_eq!(link_attrs(&no_index), None);
        assert_eq!(removed_link_index(&no_index), None);
    }

    #[test]
    fn bridge_port_and_wireless_messages_do_not_describe_links() {
        let mut bridge = veth_message();
        bridge.header.interface_family = AddressFamily::Bridge;
        assert!(!describes_link(&bridge));
        assert_eq!(link_attrs(&bridge), None);
        // A bridge port leaving its bridge is not the link being deleted.
        assert_eq!(removed_link_index(&bridge), None);

        assert!(describes_link(&veth_message()));
        assert_eq!(removed_link_index(&veth_message()), Some(7));
    }
}
