//! Where plans are carried out: the [`Backend`] trait, the kernel behind it
//! ([`NetlinkBackend`], over rtnetlink) and an in-memory kernel for tests ([`FakeBackend`]).
//!
//! A backend is idempotent by outcome, not by error: adding what exists and deleting what is
//! gone are [`Outcome::AlreadyPresent`] and [`Outcome::AlreadyAbsent`], never errors, and the
//! caller ([`super::apply`]) decides what they mean. It decides nothing else: it sends what
//! it is given, with our protocol already in the objects.

use std::collections::BTreeSet;
use std::future::Future;
use std::io;
use std::sync::{Arc, Mutex, MutexGuard};

use netlink_packet_route::route::RouteFlags;

use crate::model::{Route, Rule};
use crate::netlink::{self, Owned};

/// `EEXIST`.
const EEXIST: i32 = 17;
/// `ENOENT`: no such rule, or no such IPv6 route.
const ENOENT: i32 = 2;
/// `ESRCH`: no such IPv4 route.
const ESRCH: i32 = 3;

/// How a request ended, when the kernel did not refuse it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The kernel changed what was asked.
    Done,
    /// An add found the object's place taken (`EEXIST`). For a rule that is the identical
    /// rule; for a route, whatever route holds its table, destination and metric.
    AlreadyPresent,
    /// A delete found nothing to delete (`ENOENT`, `ESRCH`).
    AlreadyAbsent,
}

/// A request the backend could not carry out.
#[derive(Debug, thiserror::Error)]
pub enum BackendError {
    /// The kernel answered with an error; the source carries its errno.
    #[error("the kernel refused the request")]
    Refused(#[source] io::Error),
    /// The request never got an answer (the socket failed, an unexpected reply).
    #[error("the netlink request failed")]
    Request(#[source] Box<rtnetlink::Error>),
    /// A dump failed.
    #[error("the dump failed")]
    Dump(#[source] Box<netlink::Error>),
}

impl BackendError {
    /// The kernel's errno, when the kernel refused.
    pub fn errno(&self) -> Option<i32> {
        match self {
            BackendError::Refused(e) => e.raw_os_error(),
            _ => None,
        }
    }

    /// A refusal with this errno (for fakes and tests).
    pub fn refused(errno: i32) -> Self {
        BackendError::Refused(io::Error::from_raw_os_error(errno))
    }
}

/// The operations a reconcile needs. Every future is `Send`, so the actor can run on any
/// runtime thread.
pub trait Backend: Send + 'static {
    /// Every rule and route (IPv4 and IPv6, every table) whose protocol is `protocol`.
    fn dump(&mut self, protocol: u8) -> impl Future<Output = Result<Owned, BackendError>> + Send;
    /// Adds a rule, refusing to duplicate an identical one.
    fn add_rule(
        &mut self,
        rule: &Rule,
    ) -> impl Future<Output = Result<Outcome, BackendError>> + Send;
    /// Deletes one rule with exactly these attributes.
    fn del_rule(
        &mut self,
        rule: &Rule,
    ) -> impl Future<Output = Result<Outcome, BackendError>> + Send;
    /// Adds a route, refusing to take a slot (table, destination, metric) already taken.
    fn add_route(
        &mut self,
        route: &Route,
    ) -> impl Future<Output = Result<Outcome, BackendError>> + Send;
    /// Puts a route into its slot, replacing what is there.
    fn replace_route(
        &mut self,
        route: &Route,
    ) -> impl Future<Output = Result<Outcome, BackendError>> + Send;
    /// Deletes a route with these attributes.
    fn del_route(
        &mut self,
        route: &Route,
    ) -> impl Future<Output = Result<Outcome, BackendError>> + Send;
}

/// The kernel of the network namespace the backend was created in, through its own
/// rtnetlink request socket.
#[derive(Debug, Clone)]
pub struct NetlinkBackend {
    handle: rtnetlink::Handle,
}

impl NetlinkBackend {
    /// Opens a request socket and runs its connection on the current tokio runtime. The
    /// socket asks for strict checking of dump requests, so route dumps are filtered by
    /// protocol in the kernel; a kernel without it (before 4.20) gets a plain socket, and
    /// [`netlink::dump_owned`] filters instead.
    pub fn connect() -> io::Result<Self> {
        let (connection, handle, _) = match rtnetlink::new_connection_with_strict_check() {
            Ok(parts) => parts,
            Err(_) => rtnetlink::new_connection()?,
        };
        tokio::spawn(connection);
        Ok(NetlinkBackend { handle })
    }

    /// A backend on an existing handle (whose connection the caller runs).
    pub fn new(handle: rtnetlink::Handle) -> Self {
        NetlinkBackend { handle }
    }
}

impl Backend for NetlinkBackend {
    async fn dump(&mut self, protocol: u8) -> Result<Owned, BackendError> {
        netlink::dump_owned(&self.handle, protocol)
            .await
            .map_err(|e| BackendError::Dump(Box::new(e)))
    }

    async fn add_rule(&mut self, rule: &Rule) -> Result<Outcome, BackendError> {
        let mut request = self.handle.rule().add();
        // `rule_message` sets the action: rtnetlink's default (FR_ACT_UNSPEC) makes a rule
        // that breaks every lookup reaching it.
        *request.message_mut() = netlink::rule_message(rule);
        added(request.execute().await)
    }

    async fn del_rule(&mut self, rule: &Rule) -> Result<Outcome, BackendError> {
        let request = self.handle.rule().del(netlink::rule_message(rule));
        deleted(request.execute().await)
    }

    async fn add_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        added(self.handle.route().add(message(route)).execute().await)
    }

    async fn replace_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        let request = self.handle.route().add(message(route)).replace();
        added(request.execute().await)
    }

    async fn del_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        deleted(self.handle.route().del(message(route)).execute().await)
    }
}

/// The wire form of a route we create. A route through a gateway is marked `onlink`: the
/// gateway was taken from a route through this very link (or from its lease), so it *is* on
/// the link, and the flag spares the kernel a reachability check that fails when the gateway
/// lies outside every subnet of the link (a /32 address, a provider's `GatewayOnLink=`).
fn message(route: &Route) -> netlink_packet_route::route::RouteMessage {
    let mut msg = netlink::route_message(route);
    if route.gateway.is_some() {
        msg.header.flags.insert(RouteFlags::Onlink);
    }
    msg
}

fn errno_of(e: &rtnetlink::Error) -> Option<i32> {
    match e {
        rtnetlink::Error::NetlinkError(m) => m.code.map(|c| c.get().abs()),
        _ => None,
    }
}

fn refused(e: rtnetlink::Error) -> BackendError {
    match e {
        rtnetlink::Error::NetlinkError(m) if m.code.is_some() => BackendError::Refused(m.to_io()),
        other => BackendError::Request(Box::new(other)),
    }
}

fn added(result: Result<(), rtnetlink::Error>) -> Result<Outcome, BackendError> {
    match result {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if errno_of(&e) == Some(EEXIST) => Ok(Outcome::AlreadyPresent),
        Err(e) => Err(refused(e)),
    }
}

fn deleted(result: Result<(), rtnetlink::Error>) -> Result<Outcome, BackendError> {
    match result {
        Ok(()) => Ok(Outcome::Done),
        Err(e) if matches!(errno_of(&e), Some(ENOENT | ESRCH)) => Ok(Outcome::AlreadyAbsent),
        Err(e) => Err(refused(e)),
    }
}

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

/// The metric the kernel stores for a route.
fn stored(route: &Route) -> Route {
    let mut r = route.clone();
    if r.ipv6 && r.metric.is_none() {
        r.metric = Some(crate::model::kernel::IPV6_DEFAULT_METRIC);
    }
    r
}

fn same_slot(a: &Route, b: &Route) -> bool {
    (a.ipv6, a.table, a.dst, a.dst_len, a.metric) == (b.ipv6, b.table, b.dst, b.dst_len, b.metric)
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
        let k = self.kernel();
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
        k.log.push(format!("add rule {}", super::show::rule(rule)));
        if k.rules.contains(rule) {
            return Ok(Outcome::AlreadyPresent);
        }
        k.rules.push(rule.clone());
        Ok(Outcome::Done)
    }

    async fn del_rule(&mut self, rule: &Rule) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        k.log.push(format!("del rule {}", super::show::rule(rule)));
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
            .push(format!("add route {}", super::show::route(route)));
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
        k.log
            .push(format!("replace route {}", super::show::route(route)));
        let route = stored(route);
        k.routes.retain(|r| !same_slot(r, &route));
        k.routes.push(route);
        Ok(Outcome::Done)
    }

    async fn del_route(&mut self, route: &Route) -> Result<Outcome, BackendError> {
        let mut k = self.kernel();
        k.log
            .push(format!("del route {}", super::show::route(route)));
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

#[cfg(test)]
mod tests {
    use super::*;
    use netlink_packet_core::ErrorMessage;
    use std::num::NonZeroI32;

    fn nl_error(errno: i32) -> rtnetlink::Error {
        let mut m = ErrorMessage::default();
        m.code = NonZeroI32::new(-errno);
        rtnetlink::Error::NetlinkError(m)
    }

    #[test]
    fn kernel_answers_map_to_idempotent_outcomes() {
        assert_eq!(added(Ok(())).ok(), Some(Outcome::Done));
        assert_eq!(
            added(Err(nl_error(EEXIST))).ok(),
            Some(Outcome::AlreadyPresent)
        );
        assert_eq!(
            deleted(Err(nl_error(ENOENT))).ok(),
            Some(Outcome::AlreadyAbsent)
        );
        assert_eq!(
            deleted(Err(nl_error(ESRCH))).ok(),
            Some(Outcome::AlreadyAbsent)
        );
        // A missing object on add, or a taken one on delete, is a real failure.
        assert_eq!(
            added(Err(nl_error(ENOENT))).err().and_then(|e| e.errno()),
            Some(ENOENT)
        );
        assert_eq!(
            deleted(Err(nl_error(EEXIST))).err().and_then(|e| e.errno()),
            Some(EEXIST)
        );
        assert!(matches!(
            added(Err(rtnetlink::Error::RequestFailed)),
            Err(BackendError::Request(_))
        ));
    }
}
