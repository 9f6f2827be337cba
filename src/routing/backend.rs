//! Where plans are carried out: the [`Backend`] trait and the kernel behind it
//! ([`NetlinkBackend`], over rtnetlink). The unit tests' in-memory kernel is in `fake.rs`
//! beside this file, built for tests only.
//!
//! A backend is idempotent by outcome, not by error: adding what exists and deleting what is
//! gone are [`Outcome::AlreadyPresent`] and [`Outcome::AlreadyAbsent`], never errors, and the
//! caller ([`super::apply`]) decides what they mean. It decides nothing else: it sends what
//! it is given, with our protocol already in the objects.

use std::future::Future;
use std::io;

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

    /// A refusal with this errno (for the fake kernel and tests).
    #[cfg(test)]
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

#[cfg(test)]
mod fake;
#[cfg(test)]
pub use fake::FakeBackend;

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
