//! Unit tests of `crate::hooks::dispatched`.

use super::*;

#[test]
fn round_trips_and_ignores_garbage() {
    let mut memory = Dispatched::default();
    assert!(memory.record(3, StateProperty::Operational, "routable"));
    assert!(!memory.record(3, StateProperty::Operational, "routable"));
    assert!(memory.record(3, StateProperty::Administrative, "configured"));
    assert!(memory.record(4, StateProperty::Operational, "no-carrier"));
    let text = memory.render();
    assert_eq!(
        text,
        "3 OperationalState routable\n3 AdministrativeState configured\n\
         4 OperationalState no-carrier\n"
    );
    let noisy = format!(
        "{text}x OperationalState routable\n5 Bogus routable\n6 OperationalState ../x\n\n7\n"
    );
    assert_eq!(Dispatched::parse(&noisy), memory);
    assert!(memory.forget(3));
    assert!(!memory.contains(3, StateProperty::Operational, "routable"));
    assert!(memory.contains(4, StateProperty::Operational, "no-carrier"));
}
