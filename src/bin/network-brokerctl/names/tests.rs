//! Unit tests of `names` (src/bin/network-brokerctl/names.rs).

use super::*;

#[test]
fn known_numbers_get_names_and_unknown_ones_stay_numbers() {
    assert_eq!(scope(253), "link");
    assert_eq!(scope(7), "7");
    assert_eq!(scope(300), "300");
    assert_eq!(protocol(16), "dhcp");
    assert_eq!(protocol(250), "250");
    assert_eq!(protocol(78), "network-broker");
    assert_eq!(route_type(5), "multicast");
    assert_eq!(table(254), "main");
    assert_eq!(table(100), "100");
}
