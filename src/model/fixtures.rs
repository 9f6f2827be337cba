//! Small builders of domain values for unit tests across the crate.

use super::{Address, IfIndex, KernelOperState, LinkAttrs, Route};

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
