//! An in-memory kernel for the unit tests of `crate::routing` (built with `cfg(test)` only):
//! it keeps rules and routes as the kernel would, so the actor and `apply` are tested without
//! privileges or a network namespace.

use std::collections::BTreeSet;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{Backend, BackendError, Outcome};
use crate::model::{Route, Rule};
use crate::netlink::Owned;

/// An in-memory kernel for tests: it keeps rules and routes, fills in the metric of IPv6
/// routes as the kernel does, refuses duplicates and taken slots, and can be told to refuse
/// operations. Clones share one kernel, so a test keeps a clone to look at it and to change
/// it behind the actor's back (as networkd does).
#[derive(Debug, Clone, Default)]
pub struct FakeBackend {
    kernel: Arc<Mutex<FakeKernel>>,
}

/// The fake kernel's contents.
#[derive(Debug, Clone, Default)]
pub struct FakeKernel {
    /// Rules in insertion order (duplicates possible, as in the kernel).
    pub rules: Vec<Rule>,
    /// Routes in insertion order.
    pub routes: Vec<Route>,
    /// Adds into these tables are refused with `EINVAL`.
    pub refuse_tables: BTreeSet<u32>,
    /// Routes through these links are refused with `ENETDOWN`.
    pub down_links: BTreeSet<u32>,
    /// Dumps fail while set.
    pub refuse_dumps: bool,
    /// Every change request, in order (`add rule …`, `del route …`), for assertions.
    pub log: Vec<String>,
    /// Dumps asked for, failed ones included.
    pub dumps: usize,
}

impl FakeBackend {
    /// An empty kernel.
    pub fn new() -> Self {
        Self::default()
    }

    /// The kernel, to look at or change. Never hold it across an `.await`.
    pub fn kernel(&self) -> MutexGuard<'_, FakeKernel> {
        // A test that panicked while holding the lock has failed already; its data is still
        // the best picture there is.
        self.kernel.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The route as the kernel keeps it: an IPv6 route without a metric gets the default one.
fn stored(route: &Route) -> Route {
    let mut r = route.clone();
    if r.ipv6 && r.metric.is_none() {
        r.metric = Some(r.stored_metric());
    }
    r
}

fn same_slot(a: &Route, b: &Route) -> bool {
    a.slot() == b.slot()
}

impl FakeKernel {
    fn check_route(&self, route: &Route) -> Result<(), BackendError> {
        if self.refuse_tables.contains(&route.table) {
            return Err(BackendError::refused(22)); // EINVAL
        }
        if route.oif.is_some_and(|i| self.down_links.contains(&i)) {
            return Err(BackendError::refused(100)); // ENETDOWN
        }
        Ok(())
    }
}

impl Backend for FakeBackend {
    async fn dump(&mut self, protocol: u8) -> Result<Owned, BackendError> {
        let mut k = self.kernel();
        k.dumps += 1;
        if k.refuse_dumps {
            return Err(BackendError::refused(16)); // EBUSY
        }
        Ok(Owned {
            rules: k
                .rules
                .iter()
                .filter(|r| r.protocol == protocol)
                .cloned()
                .collect(),
            routes: k
                .routes
                .iter()
                .filter(|r| r.protocol == protocol)
                .cloned()
                .collect(),
        })
    }

    async fn add_rule(&mut self, rule: &Rule) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        if k.refuse_tables.contains(&rule.table) {
            return Err(BackendError::refused(22));
        }
        k.log
            .push(format!("add rule {}", crate::routing::show::rule(rule)));
        if k.rules.contains(rule) {
            return Ok(Outcome::AlreadyPresent);
        }
        k.rules.push(rule.clone());
        Ok(Outcome::Done)
    }

    async fn del_rule(&mut self, rule: &Rule) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        k.log
            .push(format!("del rule {}", crate::routing::show::rule(rule)));
        match k.rules.iter().position(|r| r == rule) {
            Some(i) => {
                k.rules.remove(i);
                Ok(Outcome::Done)
            }
            None => Ok(Outcome::AlreadyAbsent),
        }
    }

    async fn add_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        k.check_route(route)?;
        k.log
            .push(format!("add route {}", crate::routing::show::route(route)));
        let route = stored(route);
        if k.routes.iter().any(|r| same_slot(r, &route)) {
            return Ok(Outcome::AlreadyPresent);
        }
        k.routes.push(route);
        Ok(Outcome::Done)
    }

    async fn replace_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        k.check_route(route)?;
        k.log.push(format!(
            "replace route {}",
            crate::routing::show::route(route)
        ));
        let route = stored(route);
        k.routes.retain(|r| !same_slot(r, &route));
        k.routes.push(route);
        Ok(Outcome::Done)
    }

    async fn del_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        k.log
            .push(format!("del route {}", crate::routing::show::route(route)));
        let route = stored(route);
        match k.routes.iter().position(|r| *r == route) {
            Some(i) => {
                k.routes.remove(i);
                Ok(Outcome::Done)
            }
            None => Ok(Outcome::AlreadyAbsent),
        }
    }
}
