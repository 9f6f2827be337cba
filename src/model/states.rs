//! [`States`]: the states of one link or of the manager, property → validated value, held
//! inline as one byte per [`StateProperty`].
//!
//! It was a `BTreeMap`, which allocates a node (about 200 bytes) for every non-empty map; the
//! broker holds three per link (the view's, the derived and networkd's) and a copy of the view's
//! while a changed view is still shared with the published snapshot (docs/benchmarks.md,
//! "Memory, 2026-12-03"). Then one `Option<&'static str>` slot per property (112 bytes): the
//! broker's per-link map of derived states alone was 1.5 MB of the heap with 4,096 links. Every
//! value is one of the few networkd defines for its property (`StateProperty::allowed_values`),
//! so a slot is that value's position on the list: 7 bytes. The API is the part of `BTreeMap`'s the
//! daemon uses, with the same order (that of `StateProperty`) and the same serialized form.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::StateProperty;

/// Each property in the order of its discriminant, so that a slot can hand out a `'static`
/// reference to its key.
static PROPERTIES: [StateProperty; StateProperty::ALL.len()] = StateProperty::ALL;

/// A slot's code for `value` of `property`: its position in the property's
/// `allowed_values` plus one, `None` for a value not on that list. 0 is an empty slot.
fn code(property: StateProperty, value: &str) -> Option<u8> {
    let position = property
        .allowed_values()
        .iter()
        .position(|known| *known == value)?;
    u8::try_from(position + 1).ok()
}

/// The value of `property`'s slot holding `code`, `None` for an empty slot.
fn value(property: StateProperty, code: u8) -> Option<&'static &'static str> {
    property
        .allowed_values()
        .get(usize::from(code).checked_sub(1)?)
}

/// The states of one link or of the manager: property → validated value, ordered by property.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct States([u8; StateProperty::ALL.len()]);

impl std::fmt::Debug for States {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl States {
    /// No state known.
    pub const fn new() -> Self {
        Self([0; StateProperty::ALL.len()])
    }

    /// The value of `property`, if known.
    pub fn get(&self, property: &StateProperty) -> Option<&&'static str> {
        value(*property, self.0[slot(*property)])
    }

    /// Sets `property` to `value`; the value it had before.
    ///
    /// Values come from `StateProperty::validate` or are the kernel-derived ones
    /// (`src/broker/derive.rs`), all on the property's `allowed_values`. Another one cannot be
    /// held: it leaves the state as it was (and fails a debug build), rather than showing a
    /// wrong value.
    pub fn insert(&mut self, property: StateProperty, value: &'static str) -> Option<&'static str> {
        let old = self.get(&property).copied();
        match code(property, value) {
            Some(code) => self.0[slot(property)] = code,
            None => debug_assert!(false, "{value:?} is no state value"),
        }
        old
    }

    /// Forgets `property`; the value it had.
    pub fn remove(&mut self, property: &StateProperty) -> Option<&'static str> {
        let old = self.get(property).copied();
        self.0[slot(*property)] = 0;
        old
    }

    /// Whether `property` has a value.
    pub fn contains_key(&self, property: &StateProperty) -> bool {
        self.get(property).is_some()
    }

    /// The known states in property order.
    pub fn iter(&self) -> Iter<'_> {
        Iter {
            states: self,
            next: 0,
        }
    }

    /// The properties that have a value, in order.
    pub fn keys(&self) -> impl Iterator<Item = &StateProperty> + '_ {
        self.iter().map(|(property, _)| property)
    }

    /// The values, in property order.
    pub fn values(&self) -> impl Iterator<Item = &&'static str> + '_ {
        self.iter().map(|(_, value)| value)
    }

    /// How many properties have a value.
    pub fn len(&self) -> usize {
        self.0.iter().filter(|code| **code != 0).count()
    }

    /// Whether no property has a value.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(|code| *code == 0)
    }
}

/// The iterator of [`States::iter`]: (property, value) of each known state, in order.
#[derive(Debug, Clone)]
pub struct Iter<'a> {
    states: &'a States,
    next: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a StateProperty, &'a &'static str);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(property) = PROPERTIES.get(self.next) {
            self.next += 1;
            if let Some(value) = self.states.get(property) {
                return Some((property, value));
            }
        }
        None
    }
}

/// `property`'s slot: `StateProperty::ALL` lists the properties in discriminant order (the
/// test below holds it to that).
fn slot(property: StateProperty) -> usize {
    property as usize
}

impl Extend<(StateProperty, &'static str)> for States {
    fn extend<I: IntoIterator<Item = (StateProperty, &'static str)>>(&mut self, states: I) {
        for (property, value) in states {
            self.insert(property, value);
        }
    }
}

/// As the map's: states taken from another's `iter()`.
impl<'a> Extend<(&'a StateProperty, &'a &'static str)> for States {
    fn extend<I: IntoIterator<Item = (&'a StateProperty, &'a &'static str)>>(&mut self, states: I) {
        for (property, value) in states {
            self.insert(*property, value);
        }
    }
}

impl FromIterator<(StateProperty, &'static str)> for States {
    fn from_iter<I: IntoIterator<Item = (StateProperty, &'static str)>>(states: I) -> Self {
        let mut all = Self::new();
        all.extend(states);
        all
    }
}

impl<const N: usize> From<[(StateProperty, &'static str); N]> for States {
    fn from(states: [(StateProperty, &'static str); N]) -> Self {
        states.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a States {
    type Item = (&'a StateProperty, &'a &'static str);
    type IntoIter = Iter<'a>;

    fn into_iter(self) -> Self::IntoIter {
        self.iter()
    }
}

/// The iterator of `States::into_iter`: (property, value) of each known state, in order.
#[derive(Debug, Clone)]
pub struct IntoIter {
    states: States,
    next: usize,
}

impl Iterator for IntoIter {
    type Item = (StateProperty, &'static str);

    fn next(&mut self) -> Option<Self::Item> {
        while let Some(property) = PROPERTIES.get(self.next) {
            self.next += 1;
            if let Some(value) = self.states.get(property) {
                return Some((*property, *value));
            }
        }
        None
    }
}

impl IntoIterator for States {
    type Item = (StateProperty, &'static str);
    type IntoIter = IntoIter;

    fn into_iter(self) -> Self::IntoIter {
        IntoIter {
            states: self,
            next: 0,
        }
    }
}

/// `states[&property]`, as on the map: the value, or a panic when there is none (for tests and
/// properties known to be set, as `derive` sets all of them).
impl std::ops::Index<&StateProperty> for States {
    type Output = &'static str;

    fn index(&self, property: &StateProperty) -> &Self::Output {
        match self.get(property) {
            Some(value) => value,
            None => panic!("no {} in these states", property.name()),
        }
    }
}

/// Serialized as the `BTreeMap` was: a map in property order.
impl Serialize for States {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.len()))?;
        for (property, value) in self.iter() {
            map.serialize_entry(property, value)?;
        }
        map.end()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn slots_follow_the_discriminants() {
        for (i, property) in StateProperty::ALL.into_iter().enumerate() {
            assert_eq!(slot(property), i, "{property:?}");
        }
    }

    #[test]
    fn every_allowed_value_is_held_in_a_byte() {
        for property in StateProperty::ALL {
            for value in property.allowed_values() {
                let mut states = States::new();
                states.insert(property, value);
                assert_eq!(states.get(&property), Some(value), "{property:?} {value:?}");
            }
        }
        for property in StateProperty::ALL {
            let values = property.allowed_values();
            for (i, value) in values.iter().enumerate() {
                let first = values.iter().position(|v| v == value);
                assert_eq!(first, Some(i), "{property:?}: {value:?} twice");
            }
        }
        assert_eq!(std::mem::size_of::<States>(), StateProperty::ALL.len());
    }

    #[test]
    fn behaves_as_the_map_it_replaced() {
        let mut states = States::new();
        assert!(states.is_empty());
        assert_eq!(states.insert(StateProperty::Online, "online"), None);
        assert_eq!(states.insert(StateProperty::Operational, "carrier"), None);
        assert_eq!(
            states.insert(StateProperty::Operational, "routable"),
            Some("carrier")
        );
        let map = BTreeMap::from([
            (StateProperty::Online, "online"),
            (StateProperty::Operational, "routable"),
        ]);
        assert_eq!(states.len(), 2);
        assert!(states.iter().eq(map.iter()));
        assert!(states.keys().eq(map.keys()));
        assert!(states.clone().into_iter().eq(map.clone()));
        assert_eq!(states.get(&StateProperty::Operational), Some(&"routable"));
        assert!(!states.contains_key(&StateProperty::Carrier));
        assert_eq!(
            serde_json::to_string(&states).unwrap(),
            serde_json::to_string(&map).unwrap()
        );
        let mut over = States::from([(StateProperty::Carrier, "no-carrier")]);
        over.extend(&states);
        assert_eq!(over.len(), 3, "{over:?}");
        assert_eq!(over.get(&StateProperty::Carrier), Some(&"no-carrier"));
        assert!((&states).into_iter().eq(states.iter()));
        assert_eq!(states.remove(&StateProperty::Online), Some("online"));
        assert_eq!(
            states,
            States::from([(StateProperty::Operational, "routable")])
        );
    }
}
