//! The routes of one link as a sorted, duplicate-free vector: the set type of
//! [`LinkView::routes`](super::LinkView).
//!
//! A `BTreeSet` allocates a whole node (room for eleven routes, about 900 bytes) for a link with
//! one route, and most links have one or two (their local route); the broker holds every link's
//! view, and a second copy while a changed view is shared with the published snapshot. A
//! vector holds exactly what the link has. Lookups are a binary search, and a link's routes
//! are few, so inserting into the middle costs less than a tree's node walk
//! (docs/benchmarks.md, "Memory, 2026-12-03").

use serde::Serialize;

use super::Route;

/// A set of routes, iterated in `Route`'s order, as a `BTreeSet<Route>` would be.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
#[serde(transparent)]
pub struct RouteSet(Vec<Route>);

impl RouteSet {
    /// An empty set; allocates nothing.
    pub const fn new() -> Self {
        Self(Vec::new())
    }

    /// Adds `route`; `false` if an equal route was already there (the set is unchanged).
    pub fn insert(&mut self, route: Route) -> bool {
        match self.0.binary_search(&route) {
            Ok(_) => false,
            Err(at) => {
                self.0.insert(at, route);
                true
            }
        }
    }

    /// Removes the route equal to `route`; `false` if there was none.
    pub fn remove(&mut self, route: &Route) -> bool {
        match self.0.binary_search(route) {
            Ok(at) => {
                self.0.remove(at);
                true
            }
            Err(_) => false,
        }
    }

    /// Whether a route equal to `route` is in the set.
    pub fn contains(&self, route: &Route) -> bool {
        self.0.binary_search(route).is_ok()
    }

    /// Keeps only the routes for which `keep` is true, in order.
    pub fn retain(&mut self, keep: impl FnMut(&Route) -> bool) {
        self.0.retain(keep);
    }

    /// The routes in order.
    pub fn iter(&self) -> std::slice::Iter<'_, Route> {
        self.0.iter()
    }

    /// How many routes the set holds.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether the set holds no route.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl Extend<Route> for RouteSet {
    fn extend<I: IntoIterator<Item = Route>>(&mut self, routes: I) {
        self.0.extend(routes);
        self.0.sort();
        self.0.dedup();
    }
}

impl FromIterator<Route> for RouteSet {
    fn from_iter<I: IntoIterator<Item = Route>>(routes: I) -> Self {
        let mut set = Self::new();
        set.extend(routes);
        set
    }
}

impl<const N: usize> From<[Route; N]> for RouteSet {
    fn from(routes: [Route; N]) -> Self {
        routes.into_iter().collect()
    }
}

impl<'a> IntoIterator for &'a RouteSet {
    type Item = &'a Route;
    type IntoIter = std::slice::Iter<'a, Route>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn route(last: u8, metric: u32) -> Route {
        Route {
            dst: Some(std::net::IpAddr::from([10, 0, 0, last])),
            dst_len: 32,
            src: None,
            gateway: None,
            oif: Some(3),
            table: 254,
            protocol: 2,
            scope: 253,
            kind: 1,
            metric: Some(metric),
            ipv6: false,
        }
    }

    #[test]
    fn behaves_as_an_ordered_set() {
        let mut set = RouteSet::new();
        assert!(set.insert(route(2, 0)));
        assert!(set.insert(route(1, 0)));
        assert!(!set.insert(route(2, 0)), "an equal route is already there");
        assert!(set.insert(route(2, 5)));
        let expected: std::collections::BTreeSet<Route> =
            [route(1, 0), route(2, 0), route(2, 5)].into();
        assert!(set.iter().eq(expected.iter()));
        assert!(set.contains(&route(2, 5)));
        assert!(set.remove(&route(2, 5)));
        assert!(!set.remove(&route(2, 5)));
        assert!(!set.contains(&route(2, 5)));
        set.retain(|r| r.dst != route(1, 0).dst);
        assert_eq!(set.iter().collect::<Vec<_>>(), [&route(2, 0)]);
    }

    #[test]
    fn collecting_sorts_and_drops_duplicates() {
        let set: RouteSet = [route(3, 0), route(1, 0), route(3, 0)].into();
        assert_eq!(set.len(), 2);
        assert_eq!(set, RouteSet::from([route(1, 0), route(3, 0)]));
        let mut more = set.clone();
        more.extend([route(2, 0), route(1, 0)]);
        assert!(more.iter().map(|r| r.dst).eq([1, 2, 3]
            .into_iter()
            .map(|n| Some(std::net::IpAddr::from([10, 0, 0, n])))));
    }

    #[test]
    fn serializes_as_a_sequence_in_order() {
        let set: RouteSet = [route(2, 0), route(1, 0)].into();
        let btree: std::collections::BTreeSet<Route> = [route(2, 0), route(1, 0)].into();
        assert_eq!(
            serde_json::to_string(&set).unwrap(),
            serde_json::to_string(&btree).unwrap()
        );
    }
}
