//! Carrying out a [`Plan`] through a [`Backend`], and the [`Report`] of what happened.
//!
//! The order never leaves traffic without a route: routes are added (and replaced) before
//! the rules that send traffic to them, and rules are removed before the routes they sent
//! traffic to. A new rule added while a stale one for the same address still exists is
//! harmless: a lookup in a table without a matching route falls through to the next rule.
//!
//! Every operation is attempted; a failure is recorded and the rest go on (one link's
//! trouble must not keep the others unrouted), and the report carries every error.

use serde::Serialize;

use super::backend::{Backend, Outcome};
use super::plan::Plan;
use super::{Error, Settings};
use crate::model::{Route, Rule};

/// `ENODEV`.
const ENODEV: i32 = 19;
/// `ENETDOWN`.
const ENETDOWN: i32 = 100;

/// What a pass did.
#[derive(Debug, Default)]
pub struct Report {
    /// Routes added.
    pub added_routes: Vec<Route>,
    /// Routes that replaced one of ours in place.
    pub replaced_routes: Vec<Route>,
    /// Rules added.
    pub added_rules: Vec<Rule>,
    /// Rules removed.
    pub removed_rules: Vec<Rule>,
    /// Routes removed.
    pub removed_routes: Vec<Route>,
    /// Operations that found their work done already (a rule added meanwhile, an object
    /// deleted meanwhile): not errors.
    pub unchanged: usize,
    /// Routes we could not add because a route that is not ours holds their place (same
    /// table, destination and metric). Left alone: what is not ours is never touched.
    pub occupied: Vec<Route>,
    /// Routes refused because their link is down or gone (`ENETDOWN`, `ENODEV`): the
    /// snapshot was older than the kernel, and the next one will not ask for them.
    pub link_unavailable: Vec<Route>,
    /// Things of ours that had been deleted by someone else and were put back.
    pub restored: usize,
    /// Re-installations postponed by the rate limit; a later pass does them.
    pub deferred: usize,
    /// Every failure, in the order they happened.
    pub errors: Vec<Error>,
}

/// The counts of a [`Report`], for logs and the bus.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Rules added.
    pub rules_added: usize,
    /// Rules removed.
    pub rules_removed: usize,
    /// Routes added or replaced.
    pub routes_added: usize,
    /// Routes removed.
    pub routes_removed: usize,
    /// Things of ours put back after someone deleted them.
    pub restored: usize,
    /// Re-installations postponed by the rate limit.
    pub deferred: usize,
    /// Routes whose place is held by a route that is not ours.
    pub occupied: usize,
    /// Failed operations.
    pub errors: usize,
}

impl Report {
    /// Whether the pass changed anything in the kernel.
    pub fn changed(&self) -> bool {
        !(self.added_routes.is_empty()
            && self.replaced_routes.is_empty()
            && self.added_rules.is_empty()
            && self.removed_rules.is_empty()
            && self.removed_routes.is_empty())
    }

    /// The counts.
    pub fn summary(&self) -> Summary {
        Summary {
            rules_added: self.added_rules.len(),
            rules_removed: self.removed_rules.len(),
            routes_added: self.added_routes.len() + self.replaced_routes.len(),
            routes_removed: self.removed_routes.len(),
            restored: self.restored,
            deferred: self.deferred,
            occupied: self.occupied.len(),
            errors: self.errors.len(),
        }
    }
}

/// Carries out `plan` (routes up, rules up, rules down, routes down) and reports.
/// `settings` only names links in errors.
pub async fn apply<B: Backend>(backend: &mut B, plan: &Plan, settings: &Settings) -> Report {
    let mut report = Report::default();

    for route in &plan.add_routes {
        match backend.add_route(route).await {
            Ok(Outcome::Done) => report.added_routes.push(route.clone()),
            // Our dump, taken just before, did not have it, so whatever holds the place is
            // not ours.
            Ok(Outcome::AlreadyPresent) => report.occupied.push(route.clone()),
            Ok(Outcome::AlreadyAbsent) => report.unchanged += 1,
            Err(e) if matches!(e.errno(), Some(ENODEV | ENETDOWN)) => {
                report.link_unavailable.push(route.clone())
            }
            Err(source) => report.errors.push(Error::AddRoute {
                table: route.table,
                ifindex: route.oif,
                route: Box::new(route.clone()),
                source,
            }),
        }
    }
    for replacement in &plan.replace_routes {
        let route = &replacement.new;
        match backend.replace_route(route).await {
            Ok(_) => report.replaced_routes.push(route.clone()),
            Err(e) if matches!(e.errno(), Some(ENODEV | ENETDOWN)) => {
                report.link_unavailable.push(route.clone())
            }
            Err(source) => report.errors.push(Error::AddRoute {
                table: route.table,
                ifindex: route.oif,
                route: Box::new(route.clone()),
                source,
            }),
        }
    }
    for rule in &plan.add_rules {
        match backend.add_rule(rule).await {
            Ok(Outcome::Done) => report.added_rules.push(rule.clone()),
            Ok(_) => report.unchanged += 1,
            Err(source) => report.errors.push(Error::AddRule {
                table: rule.table,
                ifindex: settings.link_of_table(rule.table),
                rule: Box::new(rule.clone()),
                source,
            }),
        }
    }
    for rule in &plan.remove_rules {
        match backend.del_rule(rule).await {
            Ok(Outcome::Done) => report.removed_rules.push(rule.clone()),
            Ok(_) => report.unchanged += 1,
            Err(source) => report.errors.push(Error::RemoveRule {
                table: rule.table,
                ifindex: settings.link_of_table(rule.table),
                rule: Box::new(rule.clone()),
                source,
            }),
        }
    }
    for route in &plan.remove_routes {
        match backend.del_route(route).await {
            Ok(Outcome::Done) => report.removed_routes.push(route.clone()),
            Ok(_) => report.unchanged += 1,
            Err(source) => report.errors.push(Error::RemoveRoute {
                table: route.table,
                ifindex: route.oif,
                route: Box::new(route.clone()),
                source,
            }),
        }
    }
    report
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used)]
mod tests {
    use super::*;
    use crate::routing::backend::FakeBackend;
    use crate::routing::plan::Replacement;

    fn route(table: u32, dst: Option<&str>, gw: Option<&str>) -> Route {
        Route {
            dst: dst.map(|d| d.parse().unwrap()),
            dst_len: if dst.is_some() { 24 } else { 0 },
            src: None,
            gateway: gw.map(|g| g.parse().unwrap()),
            oif: Some(3),
            table,
            protocol: 78,
            scope: 0,
            kind: 1,
            metric: None,
            ipv6: false,
        }
    }

    fn rule(table: u32, from: &str) -> Rule {
        Rule {
            ipv6: false,
            priority: Some(20000),
            src: Some((from.parse().unwrap(), 32)),
            dst: None,
            table,
            protocol: 78,
            action: 1,
        }
    }

    #[tokio::test]
    async fn routes_go_in_before_rules_and_out_after_them() {
        let mut fake = FakeBackend::new();
        fake.kernel().rules.push(rule(1002, "10.0.0.2"));
        fake.kernel()
            .routes
            .push(route(1002, None, Some("10.0.0.1")));
        let plan = Plan {
            add_routes: vec![route(1003, None, Some("10.0.0.1"))],
            add_rules: vec![rule(1003, "10.0.0.3")],
            remove_rules: vec![rule(1002, "10.0.0.2")],
            remove_routes: vec![route(1002, None, Some("10.0.0.1"))],
            ..Plan::default()
        };
        let report = apply(&mut fake, &plan, &Settings::default()).await;
        assert!(report.errors.is_empty());
        let log = fake.kernel().log.clone();
        let kinds: Vec<&str> = log.iter().map(|l| &l[..8]).collect();
        assert_eq!(kinds, ["add rout", "add rule", "del rule", "del rout"]);
        assert_eq!(report.summary().rules_added, 1);
        assert!(report.changed());
    }

    #[tokio::test]
    async fn every_error_is_collected_and_the_rest_still_happens() {
        let mut fake = FakeBackend::new();
        fake.kernel().refuse_tables.insert(1002);
        let plan = Plan {
            add_routes: vec![
                route(1002, Some("10.0.0.0"), None),
                route(1003, Some("10.0.0.0"), None),
            ],
            add_rules: vec![rule(1002, "10.0.0.2"), rule(1003, "10.0.0.3")],
            ..Plan::default()
        };
        let report = apply(&mut fake, &plan, &Settings::default()).await;
        assert_eq!(report.errors.len(), 2);
        assert!(matches!(
            &report.errors[0],
            Error::AddRoute {
                table: 1002,
                ifindex: Some(3),
                ..
            }
        ));
        assert!(matches!(
            &report.errors[1],
            Error::AddRule {
                table: 1002,
                ifindex: Some(2),
                ..
            }
        ));
        assert_eq!(report.added_routes.len(), 1);
        assert_eq!(report.added_rules.len(), 1);
        assert_eq!(
            report.errors[1].to_string(),
            "cannot add rule `20000: from 10.0.0.2 lookup 1002 proto 78`"
        );
    }

    #[tokio::test]
    async fn done_work_is_not_an_error_but_a_foreign_route_in_our_place_is_reported() {
        let mut fake = FakeBackend::new();
        let mut foreign = route(1003, None, Some("10.0.0.9"));
        foreign.protocol = 4;
        fake.kernel().routes.push(foreign);
        fake.kernel().rules.push(rule(1003, "10.0.0.3"));
        let plan = Plan {
            add_routes: vec![route(1003, None, Some("10.0.0.1"))],
            add_rules: vec![rule(1003, "10.0.0.3")],
            remove_rules: vec![rule(1004, "10.0.0.4")],
            remove_routes: vec![route(1004, None, None)],
            ..Plan::default()
        };
        let report = apply(&mut fake, &plan, &Settings::default()).await;
        assert!(report.errors.is_empty());
        assert_eq!(report.unchanged, 3);
        assert_eq!(report.occupied, [route(1003, None, Some("10.0.0.1"))]);
        assert!(!report.changed());
    }

    #[tokio::test]
    async fn a_down_link_is_not_an_error_and_replacements_replace() {
        let mut fake = FakeBackend::new();
        fake.kernel().down_links.insert(3);
        let plan = Plan {
            add_routes: vec![route(1003, None, Some("10.0.0.1"))],
            ..Plan::default()
        };
        let report = apply(&mut fake, &plan, &Settings::default()).await;
        assert!(report.errors.is_empty());
        assert_eq!(report.link_unavailable.len(), 1);

        let mut fake = FakeBackend::new();
        let old = route(1003, None, Some("10.0.0.254"));
        fake.kernel().routes.push(old.clone());
        let new = route(1003, None, Some("10.0.0.1"));
        let plan = Plan {
            replace_routes: vec![Replacement {
                old,
                new: new.clone(),
            }],
            ..Plan::default()
        };
        let report = apply(&mut fake, &plan, &Settings::default()).await;
        assert_eq!(report.replaced_routes, std::slice::from_ref(&new));
        assert_eq!(fake.kernel().routes, [new]);
    }
}
