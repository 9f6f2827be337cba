//! A fresh kernel dump replacing the whole picture: the difference is reported as the
//! individual changes that would have produced it, so a resync looks to the decisions like
//! the notifications it stands for.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use super::{Change, RouteKey, State};
use crate::event::KernelSnapshot;
use crate::model::{IfIndex, LinkView, Rule};

impl State {
    /// Replaces the whole table with a fresh dump, reporting the difference as the individual
    /// changes that would have produced it.
    pub(super) fn replace(&mut self, snapshot: KernelSnapshot, changes: &mut Vec<Change>) {
        self.replace_rules(snapshot.rules, changes);

        let mut fresh: BTreeMap<IfIndex, LinkView> = snapshot
            .links
            .into_iter()
            .map(|attrs| (attrs.index, LinkView::new(attrs)))
            .collect();
        for (index, address) in snapshot.addresses {
            if let Some(view) = fresh.get_mut(&index) {
                if !view.addresses.iter().any(|a| a.same_key(&address)) {
                    view.addresses.push(address);
                }
            }
        }
        self.routes.clear();
        for route in snapshot.routes {
            if let Some(view) = route.oif.and_then(|index| fresh.get_mut(&index)) {
                self.routes.insert(RouteKey::of(&route), route.clone());
                view.routes.insert(route);
            }
        }

        let gone: Vec<IfIndex> = self
            .links
            .keys()
            .filter(|index| !fresh.contains_key(index))
            .copied()
            .collect();
        for index in gone {
            if let Some(view) = self.links.remove(&index) {
                self.derived.remove(&index);
                self.networkd.remove(&index);
                changes.push(Change::LinkRemoved(view));
            }
        }

        for (index, new) in fresh {
            self.replace_link(index, new, changes);
        }
    }

    fn replace_rules(&mut self, rules: Vec<Rule>, changes: &mut Vec<Change>) {
        let rules: BTreeSet<Rule> = rules.into_iter().collect();
        for gone in self.rules.difference(&rules) {
            changes.push(Change::RuleRemoved(gone.clone()));
        }
        for new in rules.difference(&self.rules) {
            changes.push(Change::RuleAdded(new.clone()));
        }
        self.rules = rules;
    }

    /// Puts one link of a dump in place, reporting how it differs from the one known.
    fn replace_link(&mut self, index: IfIndex, mut new: LinkView, changes: &mut Vec<Change>) {
        if let Some(old) = self.links.get(&index) {
            // States are not part of a kernel dump; keep them so an unchanged link compares
            // equal and is shared, and refresh them below for the links that changed.
            new.states = old.states.clone();
            new.lease = old.lease.clone();
        }
        let Some(old) = self.links.get(&index) else {
            changes.push(Change::LinkAdded(index));
            for address in &new.addresses {
                changes.push(Change::AddressAdded(index, address.clone()));
            }
            if !new.routes.is_empty() {
                changes.push(Change::RoutesChanged(index));
            }
            self.links.insert(index, Arc::new(new));
            return;
        };
        if **old == new {
            return;
        }
        if old.attrs != new.attrs {
            changes.push(Change::LinkChanged(index));
            if old.attrs.name != new.attrs.name {
                changes.push(Change::LinkRenamed {
                    index,
                    old: old.attrs.name.clone(),
                });
            }
        }
        for address in &old.addresses {
            if !new.addresses.iter().any(|a| a.same_key(address)) {
                changes.push(Change::AddressRemoved(index, address.clone()));
            }
        }
        for address in &new.addresses {
            if !old.addresses.iter().any(|a| a.same_key(address)) {
                changes.push(Change::AddressAdded(index, address.clone()));
            }
        }
        if old.routes != new.routes {
            changes.push(Change::RoutesChanged(index));
        }
        self.links.insert(index, Arc::new(new));
        // An address whose flags changed meanwhile (tentative → valid) is no addition
        // but can change the states.
        self.refresh_derived(index, changes);
    }
}
