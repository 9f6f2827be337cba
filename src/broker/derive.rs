//! networkd's link states computed from the kernel alone (`Generator: netlink`, and what the
//! bus shows for links networkd does not report). The rules follow networkd's
//! `link_update_operstate()`: carrier from the link's flags and RFC 2863 state, address
//! states from the scopes of the addresses that are ready, the operational state from both.

use crate::model::kernel::{
    IFA_F_DADFAILED, IFA_F_TENTATIVE, SCOPE_LINK, SCOPE_SITE, SCOPE_UNIVERSE,
};
use crate::model::{KernelOperState, LinkView, StateProperty, States};

/// The states networkd would report for this link if it were unmanaged.
pub fn derive(view: &LinkView) -> States {
    let attrs = &view.attrs;
    let carrier = if !attrs.is_up() {
        "off"
    } else {
        match attrs.oper_state {
            KernelOperState::Up => "carrier",
            // Loopback and some drivers never report a state; their carrier flag is the truth.
            KernelOperState::Unknown if attrs.has_carrier() => "carrier",
            KernelOperState::Dormant => "dormant",
            _ => "no-carrier",
        }
    };
    let (ipv4, ipv6) = if attrs.is_up() {
        (address_state(view, false), address_state(view, true))
    } else {
        ("off", "off")
    };
    let address = if rank(ipv4) >= rank(ipv6) { ipv4 } else { ipv6 };
    let operational = match carrier {
        "carrier" => match address {
            "routable" => "routable",
            "degraded" => "degraded",
            _ => "carrier",
        },
        other => other,
    };

    States::from([
        (StateProperty::Operational, operational),
        (StateProperty::Carrier, carrier),
        (StateProperty::Address, address),
        (StateProperty::Ipv4Address, ipv4),
        (StateProperty::Ipv6Address, ipv6),
    ])
}

fn address_state(view: &LinkView, ipv6: bool) -> &'static str {
    let ready = view
        .addresses
        .iter()
        .filter(|a| a.ip.is_ipv6() == ipv6 && a.flags & (IFA_F_TENTATIVE | IFA_F_DADFAILED) == 0);
    let mut best = "no-address";
    for address in ready {
        match address.scope {
            SCOPE_UNIVERSE => return "routable",
            // Site-scoped addresses reach more than the link but not everything: networkd
            // counts them as degraded, like link-local ones. Host scope reaches nothing.
            SCOPE_SITE | SCOPE_LINK => best = "degraded",
            _ => {}
        }
    }
    best
}

fn rank(state: &str) -> u8 {
    match state {
        "routable" => 3,
        "degraded" => 2,
        "no-address" => 1,
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::link::{IFF_LOOPBACK, IFF_LOWER_UP, IFF_UP};
    use crate::model::{Address, LinkAttrs};

    fn view(flags: u32, oper_state: KernelOperState, addresses: &[(&str, u8, u32)]) -> LinkView {
        let mut view = LinkView::new(LinkAttrs {
            index: 3,
            name: "eth0".into(),
            kind: None,
            mac: None,
            mtu: None,
            flags,
            oper_state,
        });
        view.addresses = addresses
            .iter()
            .map(|(ip, scope, flags)| Address {
                ip: ip.parse().unwrap(),
                prefix_len: 24,
                label: None,
                scope: *scope,
                flags: *flags,
            })
            .collect();
        view
    }

    fn operational(view: &LinkView) -> &'static str {
        derive(view)[&StateProperty::Operational]
    }

    #[test]
    fn down_links_are_off() {
        let states = derive(&view(0, KernelOperState::Down, &[("192.0.2.1", 0, 0)]));
        assert_eq!(states[&StateProperty::Operational], "off");
        assert_eq!(states[&StateProperty::Address], "off");
    }

    #[test]
    fn the_carrier_ladder() {
        let up = IFF_UP;
        let with_carrier = IFF_UP | IFF_LOWER_UP;
        assert_eq!(
            operational(&view(up, KernelOperState::LowerLayerDown, &[])),
            "no-carrier"
        );
        assert_eq!(
            operational(&view(up, KernelOperState::Dormant, &[])),
            "dormant"
        );
        assert_eq!(
            operational(&view(with_carrier, KernelOperState::Up, &[])),
            "carrier"
        );
        assert_eq!(
            operational(&view(
                with_carrier,
                KernelOperState::Up,
                &[("fe80::1", 253, 0)]
            )),
            "degraded"
        );
        assert_eq!(
            operational(&view(
                with_carrier,
                KernelOperState::Up,
                &[("fe80::1", 253, 0), ("192.0.2.1", 0, 0)]
            )),
            "routable"
        );
        // No carrier wins over addresses: the link cannot reach anything.
        assert_eq!(
            operational(&view(
                up,
                KernelOperState::LowerLayerDown,
                &[("192.0.2.1", 0, 0)]
            )),
            "no-carrier"
        );
    }

    #[test]
    fn tentative_addresses_do_not_count_yet() {
        let states = derive(&view(
            IFF_UP | IFF_LOWER_UP,
            KernelOperState::Up,
            &[("2001:db8::1", 0, IFA_F_TENTATIVE)],
        ));
        assert_eq!(states[&StateProperty::Ipv6Address], "no-address");
        assert_eq!(states[&StateProperty::Operational], "carrier");
    }

    #[test]
    fn loopback_has_carrier_without_a_state() {
        let lo = view(
            IFF_UP | IFF_LOWER_UP | IFF_LOOPBACK,
            KernelOperState::Unknown,
            &[("127.0.0.1", 254, 0), ("::1", 254, 0)],
        );
        let states = derive(&lo);
        assert_eq!(states[&StateProperty::Carrier], "carrier");
        // Host-scoped addresses make nothing reachable: networkd calls lo "carrier".
        assert_eq!(states[&StateProperty::Operational], "carrier");
    }

    #[test]
    fn every_derived_value_is_on_networkds_lists() {
        let with_carrier = IFF_UP | IFF_LOWER_UP;
        for v in [
            view(0, KernelOperState::Down, &[]),
            view(with_carrier, KernelOperState::Up, &[("192.0.2.1", 200, 0)]),
            view(with_carrier, KernelOperState::Up, &[("192.0.2.1", 0, 0)]),
        ] {
            for (property, value) in derive(&v) {
                assert_eq!(
                    property.validate(value),
                    Some(value),
                    "{property:?}={value}"
                );
            }
        }
    }
}
