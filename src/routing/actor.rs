//! The policy-routing actor: the one task that owns the backend. It turns the broker's
//! snapshots into passes (debounced, latest snapshot wins), answers the handle's requests,
//! notices when something of ours it had installed has gone (someone deleted it: networkd
//! does on restart) and puts it back at most once a second per link, and removes everything
//! of ours on stop when told to.
//!
//! What the actor remembers between passes is only what it needs to tell "someone deleted
//! it" from "never there": the set it installed. The kernel's state is dumped afresh for
//! every pass.
//!
//! Most machines list no link for policy routing. Once a pass has found nothing of ours in
//! the kernel and wanted nothing, there is nothing to guard: no periodic pass is armed, and
//! while no link is listed the broker's snapshots schedule none either (no snapshot can make
//! a table wanted then), so a burst costs no route dump and an idle daemon no wake-up. A
//! settings change or `ReconcileRouting()` runs a pass as always.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tracing::{debug, info, warn};

use super::apply::{self, Report};
use super::plan::{self, Desired, Plan, RouteKey};
use super::{
    Backend, Command, Error, OnStop, Settings, Status, DEBOUNCE, PERIODIC, RESTORE_BURST_QUIET,
    RESTORE_INTERVAL,
};
use crate::error_chain::ErrorChain;
use crate::model::{Rule, Snapshot};
use crate::netlink::Owned;
use crate::time::sleep_until_opt;

/// Why a pass runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    /// A snapshot, a settings change, a timer: re-installations are rate-limited.
    Automatic,
    /// Someone asked (`ReconcileRouting()`): everything happens now.
    Explicit,
}

/// What we put into the kernel (or found there and wanted) at the last pass.
#[derive(Debug, Default)]
struct Installed {
    rules: BTreeSet<Rule>,
    routes: BTreeSet<RouteKey>,
}

/// Messages already logged at `warn`, so a condition that persists is not repeated every
/// pass (a pass can run ten times a second).
#[derive(Debug, Default)]
struct Reported {
    errors: BTreeSet<String>,
    occupied: BTreeSet<String>,
    dump: Option<String>,
}

pub(super) struct Actor<B> {
    backend: B,
    snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
    settings: watch::Receiver<Settings>,
    commands: mpsc::Receiver<Command>,
    /// The protocol our objects in the kernel carry (the settings' at the last pass).
    protocol: u8,
    installed: Installed,
    /// Last re-installation per table.
    restores: BTreeMap<u32, Instant>,
    /// End of the current burst of re-installations.
    burst_until: Option<Instant>,
    /// A pass is due (debounce).
    due: Option<Instant>,
    /// A postponed re-installation is due.
    wake: Option<Instant>,
    /// The periodic pass is due; set after the first pass.
    periodic: Option<Instant>,
    /// Tables that had rules or routes in the last desired state, for the info lines.
    tables: BTreeSet<u32>,
    /// The last pass found nothing of ours in the kernel and wanted nothing (module doc).
    nothing_ours: bool,
    reported: Reported,
}

impl<B: Backend> Actor<B> {
    pub(super) fn new(
        backend: B,
        snapshots: watch::Receiver<Option<Arc<Snapshot>>>,
        settings: watch::Receiver<Settings>,
        commands: mpsc::Receiver<Command>,
    ) -> Self {
        let protocol = settings.borrow().protocol;
        Actor {
            backend,
            snapshots,
            settings,
            commands,
            protocol,
            installed: Installed::default(),
            restores: BTreeMap::new(),
            burst_until: None,
            due: None,
            wake: None,
            periodic: None,
            tables: BTreeSet::new(),
            nothing_ours: false,
            reported: Reported::default(),
        }
    }

    pub(super) async fn run(mut self) {
        loop {
            let deadline = [self.due, self.wake, self.periodic]
                .into_iter()
                .flatten()
                .min();
            tokio::select! {
                biased;
                command = self.commands.recv() => {
                    let Some(command) = command else {
                        debug!("routing: every handle is gone, actor stopping; rules and routes stay");
                        return;
                    };
                    match command {
                        Command::ReconcileNow(reply) => {
                            self.due = None;
                            let _ = reply.send(self.pass(Mode::Explicit).await);
                        }
                        Command::Status(reply) => {
                            let _ = reply.send(self.status().await);
                        }
                        Command::Shutdown(on_stop, reply) => {
                            let _ = reply.send(self.stop(on_stop).await);
                            return;
                        }
                    }
                }
                Ok(()) = self.snapshots.changed() => {
                    if !(self.nothing_ours && self.settings.borrow().links.is_empty()) {
                        self.soon();
                    }
                }
                Ok(()) = self.settings.changed() => self.soon(),
                () = sleep_until_opt(deadline) => {
                    let now = Instant::now();
                    self.due = None;
                    if self.wake.is_some_and(|w| w <= now) {
                        self.wake = None;
                    }
                    match self.pass(Mode::Automatic).await {
                        Ok(_) => self.reported.dump = None,
                        Err(Error::NoSnapshot) => debug!("routing: no snapshot yet, nothing to do"),
                        Err(e) => self.report_dump_failure(&e),
                    }
                }
            }
        }
    }

    /// Schedules a pass [`DEBOUNCE`] from the first change of a burst.
    fn soon(&mut self) {
        self.due.get_or_insert_with(|| Instant::now() + DEBOUNCE);
    }

    /// One reconcile: desired from the latest snapshot, actual from a fresh dump, apply the
    /// difference.
    async fn pass(&mut self, mode: Mode) -> Result<Report, Error> {
        let snapshot = self.snapshots.borrow_and_update().clone();
        let settings = self.settings.borrow_and_update().clone();
        // Without the broker's picture the desired state would be "nothing", and the pass
        // would sweep everything of ours.
        let Some(snapshot) = snapshot else {
            return Err(Error::NoSnapshot);
        };
        self.periodic = Some(Instant::now() + PERIODIC);

        if settings.protocol != self.protocol {
            self.forget_protocol(&settings).await;
        }

        let desired = plan::desired(&snapshot, &settings);
        let (owned, actual) = self.read_owned(settings.protocol).await?;
        self.nothing_ours = desired.rules.is_empty()
            && desired.routes.is_empty()
            && actual.rules.is_empty()
            && actual.routes.is_empty();
        if self.nothing_ours {
            self.periodic = None;
        }
        let mut plan = plan::diff(&desired, &actual);
        plan.remove_rules.extend(plan::duplicates(&owned.rules));

        let now = Instant::now();
        let missing = self.missing(&plan);
        let deferred = match mode {
            Mode::Automatic => self.postpone_restores(&mut plan, &missing, now),
            Mode::Explicit => {
                for table in missing.tables() {
                    self.restores.insert(table, now);
                }
                0
            }
        };

        let mut report = apply::apply(&mut self.backend, &plan, &settings).await;
        report.deferred = deferred;
        report.restored = report
            .added_rules
            .iter()
            .filter(|r| missing.rules.contains(*r))
            .count()
            + report
                .added_routes
                .iter()
                .filter(|r| missing.routes.contains(&RouteKey::of(r)))
                .count();
        self.remember(&desired, &report);
        self.log_pass(&snapshot, &settings, &desired, &report, now);
        Ok(report)
    }

    /// The protocol changed: everything carrying the old one would never be recognised again,
    /// so it goes first (before the new objects, which may need the same slots).
    async fn forget_protocol(&mut self, settings: &Settings) {
        info!(
            old = self.protocol,
            new = settings.protocol,
            "routing: protocol changed from {} to {}, removing the rules and routes that carry \
             the old one",
            self.protocol,
            settings.protocol
        );
        match self.remove_all(self.protocol, settings).await {
            Ok(report) => self.log_errors(&report),
            Err(e) => self.report_dump_failure(&e),
        }
        self.protocol = settings.protocol;
        self.installed = Installed::default();
        self.restores.clear();
    }

    /// What the plan adds that we had installed: someone deleted it.
    fn missing(&self, plan: &Plan) -> Missing {
        Missing {
            rules: plan
                .add_rules
                .iter()
                .filter(|r| self.installed.rules.contains(*r))
                .cloned()
                .collect(),
            routes: plan
                .add_routes
                .iter()
                .map(RouteKey::of)
                .filter(|k| self.installed.routes.contains(k))
                .collect(),
            route_tables: plan
                .add_routes
                .iter()
                .filter(|r| self.installed.routes.contains(&RouteKey::of(r)))
                .map(|r| r.table)
                .collect(),
        }
    }

    /// Takes out of `plan` the re-installations of tables re-installed less than
    /// [`RESTORE_INTERVAL`] ago, and wakes up when they may happen. Returns how many were
    /// postponed.
    fn postpone_restores(&mut self, plan: &mut Plan, missing: &Missing, now: Instant) -> usize {
        let mut postponed_tables = BTreeSet::new();
        for table in missing.tables() {
            match self.restores.get(&table) {
                Some(&last) if now < last + RESTORE_INTERVAL => {
                    postponed_tables.insert(table);
                    let at = last + RESTORE_INTERVAL;
                    self.wake = Some(self.wake.map_or(at, |w| w.min(at)));
                }
                _ => {
                    self.restores.insert(table, now);
                }
            }
        }
        let before = plan.add_rules.len() + plan.add_routes.len();
        plan.add_rules
            .retain(|r| !(postponed_tables.contains(&r.table) && missing.rules.contains(r)));
        plan.add_routes.retain(|r| {
            !(postponed_tables.contains(&r.table) && missing.routes.contains(&RouteKey::of(r)))
        });
        before - (plan.add_rules.len() + plan.add_routes.len())
    }

    /// After a pass, what is ours in the kernel: everything desired, except what could not be
    /// added. Postponed re-installations stay in the set, so they are still recognised as
    /// deleted (and rate-limited) at the next pass.
    fn remember(&mut self, desired: &Desired, report: &Report) {
        let mut failed_rules: BTreeSet<&Rule> = BTreeSet::new();
        let mut failed_routes: BTreeSet<RouteKey> = BTreeSet::new();
        for e in &report.errors {
            match e {
                Error::AddRule { rule, .. } => {
                    failed_rules.insert(&**rule);
                }
                Error::AddRoute { route, .. } => {
                    failed_routes.insert(RouteKey::of(route));
                }
                _ => {}
            }
        }
        failed_routes.extend(report.occupied.iter().map(RouteKey::of));
        failed_routes.extend(report.link_unavailable.iter().map(RouteKey::of));
        self.installed = Installed {
            rules: desired
                .rules
                .iter()
                .filter(|r| !failed_rules.contains(r))
                .cloned()
                .collect(),
            routes: desired
                .routes
                .iter()
                .map(RouteKey::of)
                .filter(|k| !failed_routes.contains(k))
                .collect(),
        };
    }

    fn log_pass(
        &mut self,
        snapshot: &Snapshot,
        settings: &Settings,
        desired: &Desired,
        report: &Report,
        now: Instant,
    ) {
        self.log_tables(snapshot, settings, desired.tables());

        if report.restored > 0 {
            let new_burst = self.burst_until.is_none_or(|until| now >= until);
            self.burst_until = Some(now + RESTORE_BURST_QUIET);
            if new_burst {
                warn!(
                    message_id = crate::messages::id::ROUTING_REINSTALLED,
                    restored = report.restored,
                    "{}",
                    crate::messages::routing_reinstalled(report.restored)
                );
            } else {
                debug!(
                    restored = report.restored,
                    "routing: re-installed {} rule(s) or route(s) again", report.restored
                );
            }
        }

        let summary = report.summary();
        if report.changed() {
            info!(
                rules_added = summary.rules_added,
                rules_removed = summary.rules_removed,
                routes_added = summary.routes_added,
                routes_removed = summary.routes_removed,
                errors = summary.errors,
                "routing: reconciled: {} rule(s) added, {} removed; {} route(s) added, {} \
                 removed; {} error(s)",
                summary.rules_added,
                summary.rules_removed,
                summary.routes_added,
                summary.routes_removed,
                summary.errors
            );
        } else {
            debug!(?summary, "routing: nothing to change");
        }

        let occupied: BTreeSet<String> = report.occupied.iter().map(super::show::route).collect();
        for route in occupied.difference(&self.reported.occupied) {
            warn!(
                %route,
                "routing: a route that is not ours holds the place of {route} (same table, \
                 destination and metric); leaving it alone"
            );
        }
        self.reported.occupied = occupied;
        self.log_errors(report);
    }

    /// The links whose policy routing came into place or went, once each.
    fn log_tables(&mut self, snapshot: &Snapshot, settings: &Settings, tables: BTreeSet<u32>) {
        let name_of = |table: u32| {
            settings
                .link_of_table(table)
                .and_then(|i| snapshot.links.get(&i))
                .map_or_else(String::new, |l| l.attrs.name.clone())
        };
        for &table in tables.difference(&self.tables) {
            info!(
                ifname = %name_of(table),
                ifindex = settings.link_of_table(table),
                table,
                "routing: policy routing of {} in place (table {table})",
                name_of(table)
            );
        }
        for &table in self.tables.difference(&tables) {
            let link = settings
                .link_of_table(table)
                .map_or_else(|| "a link".to_string(), |i| format!("link {i}"));
            info!(
                ifindex = settings.link_of_table(table),
                table,
                "routing: policy routing of {link} (table {table}) removed (no usable address, \
                 or no longer listed)"
            );
        }
        self.tables = tables;
    }

    /// Every error at `warn` the first time, at `debug` while it repeats.
    fn log_errors(&mut self, report: &Report) {
        let mut now = BTreeSet::new();
        for e in &report.errors {
            let text = ErrorChain(e).to_string();
            if self.reported.errors.contains(&text) {
                debug!(error = %text, "routing: still failing: {text}");
            } else {
                warn!(error = %text, "routing: operation failed: {text}");
            }
            now.insert(text);
        }
        self.reported.errors = now;
    }

    fn report_dump_failure(&mut self, e: &Error) {
        let text = ErrorChain(e).to_string();
        if self.reported.dump.as_deref() == Some(text.as_str()) {
            debug!(error = %text, "routing: still cannot read the kernel's state: {text}");
        } else {
            warn!(error = %text, "routing: pass skipped: {text}");
            self.reported.dump = Some(text);
        }
    }

    /// What the kernel has with our protocol, read fresh (the kernel is the truth), as the
    /// backend reports it and as a set to diff against.
    async fn read_owned(&mut self, protocol: u8) -> Result<(Owned, Desired), Error> {
        let owned = self
            .backend
            .dump(protocol)
            .await
            .map_err(|source| Error::Dump { protocol, source })?;
        let actual = Desired {
            rules: owned.rules.iter().cloned().collect(),
            routes: owned.routes.iter().cloned().collect(),
        };
        Ok((owned, actual))
    }

    async fn status(&mut self) -> Result<Status, Error> {
        let settings = self.settings.borrow().clone();
        let snapshot = self.snapshots.borrow().clone();
        let (owned, actual) = self.read_owned(settings.protocol).await?;
        let Some(snapshot) = snapshot else {
            return Ok(Status {
                actual,
                ..Status::default()
            });
        };
        let desired = plan::desired(&snapshot, &settings);
        let mut pending = plan::diff(&desired, &actual);
        pending.remove_rules.extend(plan::duplicates(&owned.rules));
        let tables = snapshot
            .links
            .values()
            .filter(|l| settings.covers(&l.attrs.name))
            .filter_map(|l| {
                let table = settings.table_for(l.attrs.index)?;
                Some((l.attrs.index, (l.attrs.name.clone(), table)))
            })
            .collect();
        Ok(Status {
            ready: true,
            desired,
            actual,
            pending,
            tables,
        })
    }

    async fn stop(&mut self, on_stop: OnStop) -> Result<Report, Error> {
        let settings = self.settings.borrow().clone();
        match on_stop {
            OnStop::Keep => {
                info!(
                    "routing: stopping; rules and routes stay in place (RemoveRoutingOnStop=false)"
                );
                Ok(Report::default())
            }
            OnStop::Remove => {
                let report = self.remove_all(self.protocol, &settings).await?;
                info!(
                    rules_removed = report.removed_rules.len(),
                    routes_removed = report.removed_routes.len(),
                    errors = report.errors.len(),
                    "routing: stopping; removed our {} rule(s) and {} route(s) \
                     (RemoveRoutingOnStop=true)",
                    report.removed_rules.len(),
                    report.removed_routes.len()
                );
                self.log_errors(&report);
                Ok(report)
            }
        }
    }

    /// Deletes every rule and route carrying `protocol` (rules first).
    async fn remove_all(&mut self, protocol: u8, settings: &Settings) -> Result<Report, Error> {
        let owned = self
            .backend
            .dump(protocol)
            .await
            .map_err(|source| Error::Dump { protocol, source })?;
        let plan = Plan {
            remove_rules: owned.rules,
            remove_routes: owned.routes,
            ..Plan::default()
        };
        Ok(apply::apply(&mut self.backend, &plan, settings).await)
    }
}

/// Things of ours that a plan adds although we had installed them.
struct Missing {
    rules: BTreeSet<Rule>,
    routes: BTreeSet<RouteKey>,
    route_tables: BTreeSet<u32>,
}

impl Missing {
    fn tables(&self) -> BTreeSet<u32> {
        self.rules
            .iter()
            .map(|r| r.table)
            .chain(self.route_tables.iter().copied())
            .collect()
    }
}

#[cfg(test)]
mod tests;
