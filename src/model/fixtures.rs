//! Small builders of domain values for unit tests across the crate.

use super::{Address, IfIndex, KernelOperState, LinkAttrs, LinkView, Route};

/// A down veth link without addresses.
pub fn link(index: IfIndex, name: &str) -> LinkAttrs {
    LinkAttrs {
        index,
        name: name.to_string(),
        kind: Some("veth".into()),
        mac: None,
        mtu: Some(1500),
        flags: 0,
        oper_state: KernelOperState::Down,
    }
}

/// A global-scope address with no flags.
pub fn address(ip: &str, prefix_len: u8) -> Address {
    Address {
        ip: ip.parse().expect("test address"),
        prefix_len,
        label: None,
        scope: 0,
        flags: 0,
    }
}

/// A kernel-made link-scoped route in the main table.
pub fn route(oif: IfIndex, dst: &str, dst_len: u8) -> Route {
    Route {
        dst: Some(dst.parse().expect("test destination")),
        dst_len,
        src: None,
        gateway: None,
        oif: Some(oif),
        table: 254,
        protocol: 2,
        scope: 253,
        kind: 1,
        metric: None,
        ipv6: false,
    }
}

/// `eth0`, index 3, up: one permanent IPv4 address and a default route via a gateway
/// (protocol `dhcp`, metric 1024).
pub fn eth0_view() -> LinkView {
    LinkView {
        attrs: LinkAttrs {
            index: 3,
            name: "eth0".into(),
            kind: Some("veth".into()),
            mac: Some("02:00:00:00:00:01".into()),
            mtu: Some(1500),
            flags: 0x1 | 0x2 | 0x40 | 0x1000 | 0x1_0000,
            oper_state: KernelOperState::Up,
        },
        addresses: vec![Address {
            ip: "192.0.2.1".parse().expect("test address"),
            prefix_len: 24,
            label: Some("eth0".into()),
            scope: 0,
            flags: 0x80,
        }],
        routes: [Route {
            dst: None,
            dst_len: 0,
            src: Some("192.0.2.1".parse().expect("test address")),
            gateway: Some("192.0.2.254".parse().expect("test address")),
            oif: Some(3),
            table: 254,
            protocol: 16,
            scope: 0,
            kind: 1,
            metric: Some(1024),
            ipv6: false,
        }]
        .into(),
        states: Default::default(),
        lease: None,
    }
}
