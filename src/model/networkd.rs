//! systemd-networkd's link and manager states as the broker keeps them. Every value comes
//! from a fixed list (networkd's own spelling, see `networkctl(1)` and `sd-network.h`); a
//! value not on the list is rejected where it enters, so a state can safely name a hook
//! directory (`<state>.d`) and can never be `../x`.

use serde::Serialize;

/// A state property networkd publishes on `org.freedesktop.network1.Link` and `.Manager`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
pub enum StateProperty {
    /// `OperationalState`.
    Operational,
    /// `CarrierState`.
    Carrier,
    /// `AddressState`.
    Address,
    /// `IPv4AddressState`.
    Ipv4Address,
    /// `IPv6AddressState`.
    Ipv6Address,
    /// `AdministrativeState` (links only).
    Administrative,
    /// `OnlineState`.
    Online,
}

/// `OperationalState` values.
pub const OPERATIONAL_STATES: &[&str] = &[
    "missing",
    "off",
    "no-carrier",
    "dormant",
    "degraded-carrier",
    "carrier",
    "degraded",
    "enslaved",
    "routable",
];
/// `CarrierState` values.
pub const CARRIER_STATES: &[&str] = &[
    "off",
    "no-carrier",
    "dormant",
    "degraded-carrier",
    "carrier",
    "enslaved",
];
/// `AddressState`, `IPv4AddressState` and `IPv6AddressState` values.
pub const ADDRESS_STATES: &[&str] = &["off", "no-address", "degraded", "routable"];
/// `AdministrativeState` values.
pub const ADMINISTRATIVE_STATES: &[&str] = &[
    "pending",
    "initialized",
    "configuring",
    "configured",
    "unmanaged",
    "failed",
    "linger",
];
/// `OnlineState` values; networkd reports an empty string when it has no opinion.
pub const ONLINE_STATES: &[&str] = &["", "offline", "partial", "online"];

impl StateProperty {
    /// Every property, in the order they are listed in environments and JSON.
    pub const ALL: [StateProperty; 7] = [
        StateProperty::Operational,
        StateProperty::Carrier,
        StateProperty::Address,
        StateProperty::Ipv4Address,
        StateProperty::Ipv6Address,
        StateProperty::Administrative,
        StateProperty::Online,
    ];

    /// The D-Bus property name (`OperationalState`, …), also the hook variable name.
    pub fn name(self) -> &'static str {
        match self {
            Self::Operational => "OperationalState",
            Self::Carrier => "CarrierState",
            Self::Address => "AddressState",
            Self::Ipv4Address => "IPv4AddressState",
            Self::Ipv6Address => "IPv6AddressState",
            Self::Administrative => "AdministrativeState",
            Self::Online => "OnlineState",
        }
    }

    /// The property with this D-Bus name; `None` for properties the broker does not follow.
    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|p| p.name() == name)
    }

    /// The values networkd may report for this property.
    pub fn allowed_values(self) -> &'static [&'static str] {
        match self {
            Self::Operational => OPERATIONAL_STATES,
            Self::Carrier => CARRIER_STATES,
            Self::Address | Self::Ipv4Address | Self::Ipv6Address => ADDRESS_STATES,
            Self::Administrative => ADMINISTRATIVE_STATES,
            Self::Online => ONLINE_STATES,
        }
    }

    /// `value` as the list's own `'static` string, or `None` if it is not on the list.
    pub fn validate(self, value: &str) -> Option<&'static str> {
        self.allowed_values()
            .iter()
            .copied()
            .find(|allowed| *allowed == value)
    }

    /// Whether a change of this property chooses a hook directory (`<new value>.d`).
    /// The others are passed along to hooks but run nothing by themselves.
    pub fn selects_hooks(self) -> bool {
        matches!(self, Self::Operational | Self::Administrative)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for property in StateProperty::ALL {
            assert_eq!(StateProperty::from_name(property.name()), Some(property));
        }
        assert_eq!(StateProperty::from_name("Description"), None);
    }

    #[test]
    fn only_listed_values_pass() {
        assert_eq!(
            StateProperty::Operational.validate("routable"),
            Some("routable")
        );
        assert_eq!(
            StateProperty::Administrative.validate("configured"),
            Some("configured")
        );
        for bad in ["../x", "routable/../../etc", "", "Routable", "routable\0"] {
            assert_eq!(StateProperty::Operational.validate(bad), None, "{bad:?}");
        }
        assert_eq!(StateProperty::Online.validate(""), Some(""));
        assert_eq!(StateProperty::Carrier.validate("routable"), None);
    }

    #[test]
    fn every_hook_selecting_value_is_a_plain_directory_name() {
        for property in StateProperty::ALL.into_iter().filter(|p| p.selects_hooks()) {
            for value in property.allowed_values() {
                assert!(!value.is_empty());
                assert!(
                    value.bytes().all(|b| b.is_ascii_lowercase() || b == b'-'),
                    "{value}"
                );
            }
        }
    }
}
