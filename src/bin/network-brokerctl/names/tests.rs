//! Unit tests of `names` (src/bin/network-brokerctl/names.rs).

use super::*;

#[test]
fn known_protocols_get_names_and_unknown_ones_stay_numbers() {
    assert_eq!(protocol(16), "dhcp");
    assert_eq!(protocol(250), "250");
    assert_eq!(protocol(78), "network-broker");
    assert_eq!(protocol(300), "300");
}
