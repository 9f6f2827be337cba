//! Unit tests of `value` (src/bin/network-brokerctl/value.rs).

use super::*;
use std::collections::HashMap;
use zbus::Array;

#[test]
fn strings_stay_strings_and_structures_become_arrays() {
    assert_eq!(to_json(&Variant::from("down")), Value::from("down"));
    let addresses = Array::from(vec![("192.168.78.2", 24u8)]);
    assert_eq!(
        to_json(&Variant::from(addresses)),
        serde_json::json!([["192.168.78.2", 24]])
    );
}

#[test]
fn dictionaries_become_objects() {
    let lease: HashMap<&str, &str> = HashMap::from([("ADDRESS", "192.0.2.10")]);
    assert_eq!(
        to_json(&Variant::from(lease)),
        serde_json::json!({"ADDRESS": "192.0.2.10"})
    );
    assert_eq!(
        to_json(&Variant::Variant(Box::new(Variant::from(7u32)))),
        Value::from(7)
    );
}
