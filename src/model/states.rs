//! [`States`]: the states of one link or of the manager, property → validated value, held
//! inline as one slot per [`StateProperty`].
//!
//! It was a `BTreeMap`, which allocates a node (about 200 bytes) for every non-empty map; the
//! broker holds three per link (the view's, the derived and networkd's) and a copy of the view's
//! while a changed view is still shared with the published snapshot (docs/benchmarks.md,
//! "Memory, 2026-12-03"). The API is the part of `BTreeMap`'s the daemon uses, with the same
//! order (that of `StateProperty`) and the same serialized form.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use super::StateProperty;

/// Each property in the order of its discriminant, so that a slot can hand out a `'static`
/// reference to its key.
static PROPERTIES: [StateProperty; StateProperty::ALL.len()] = StateProperty::ALL;

/// The states of one link or of the manager: property → validated value, ordered by property.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash)]
pub struct States([Option<&'static str>; StateProperty::ALL.len()]);

impl States {
    /// No state known.
    pub const fn new() -> Self {
        Self([None; StateProperty::ALL.len()])
    }

    /// The value of `property`, if known.
    pub fn get(&self, property: &StateProperty) -> Option<&&'static str> {
        self.0[slot(*property)].as_ref()
    }

    /// Sets `property` to `value`; the value it had before.
    pub fn insert(&mut self, property: StateProperty, value: &'static str) -> Option<&'static str> {
        self.0[slot(property)].replace(value)
    }

    /// Forgets `property`; the value it had.
    pub fn remove(&mut self, property: &StateProperty) -> Option<&'static str> {
        self.0[slot(*property)].take()
    }

    /// Whether `property` has a value.
    pub fn contains_key(&self, property: &StateProperty) -> bool {
        self.get(property).is_some()
    }

    /// The known states in property order.
    pub fn iter(&self) -> Iter<'_> {
        PROPERTIES
            .iter()
            .zip(&self.0)
            .filter_map(present as PresentFn<'_>)
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
        self.0.iter().filter(|value| value.is_some()).count()
    }

    /// Whether no property has a value.
    pub fn is_empty(&self) -> bool {
        self.0.iter().all(Option::is_none)
    }
}

/// The iterator of [`States::iter`]: (property, value) of each known state, in order.
pub type Iter<'a> = std::iter::FilterMap<
    std::iter::Zip<std::slice::Iter<'a, StateProperty>, std::slice::Iter<'a, Option<&'static str>>>,
    PresentFn<'a>,
>;

type PresentFn<'a> = fn(
    (&'a StateProperty, &'a Option<&'static str>),
) -> Option<(&'a StateProperty, &'a &'static str)>;

/// A slot's entry, if the slot holds a value.
fn present<'a>(
    (property, value): (&'a StateProperty, &'a Option<&'static str>),
) -> Option<(&'a StateProperty, &'a &'static str)> {
    Some((property, value.as_ref()?))
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

impl IntoIterator for States {
    type Item = (StateProperty, &'static str);
    type IntoIter = std::iter::FilterMap<
        std::iter::Zip<
            std::array::IntoIter<StateProperty, { StateProperty::ALL.len() }>,
            std::array::IntoIter<Option<&'static str>, { StateProperty::ALL.len() }>,
        >,
        fn((StateProperty, Option<&'static str>)) -> Option<(StateProperty, &'static str)>,
    >;

    fn into_iter(self) -> Self::IntoIter {
        PROPERTIES
            .into_iter()
            .zip(self.0)
            .filter_map(|(property, value)| Some((property, value?)))
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
