//! Thin typed layer over rtnetlink. It owns the translation of the kernel's messages into the
//! domain types of [`crate::model`] and back (pure functions, one submodule per message
//! family), the complete dump of the kernel's tables that start-up and every resync use, the
//! dump of one owner's rules and routes that policy routing reconciles against, and the typed
//! [`Error`] for netlink connection and dump failures. It decides nothing.
//!
//! Conversions never panic on what the kernel sends: a message that lacks what the domain type
//! needs, or contradicts itself, converts to `None`, and the caller logs and drops it.

pub mod address;
pub mod link;
pub mod names;
pub mod route;
pub mod rule;

use std::io;

use futures_util::StreamExt as _;
use netlink_packet_core::{
    NetlinkMessage, NetlinkPayload, NLM_F_DUMP, NLM_F_DUMP_INTR, NLM_F_REQUEST,
};
use netlink_packet_route::address::AddressMessage;
use netlink_packet_route::route::{RouteMessage, RouteProtocol};
use netlink_packet_route::rule::RuleMessage;
use netlink_packet_route::{AddressFamily, RouteNetlinkMessage};
use tracing::{debug, warn};

use crate::event::KernelSnapshot;
use crate::model::{Route, Rule};

pub use address::{address, is_ip_address};
pub use link::{describes_link, link_attrs, removed_link_index};
pub use route::{is_table_route, route, route_message};
pub use rule::{is_ip_rule, rule, rule_message};

/// `RT_TABLE_COMPAT` as the 8-bit table field of a route or rule header carries it (252 fits).
pub(crate) const HEADER_TABLE_COMPAT: u8 = crate::model::kernel::TABLE_COMPAT as u8;

/// The 8-bit table field of a route or rule header: the table itself up to 255, else
/// `RT_TABLE_COMPAT`; the whole number always goes into the `RTA_TABLE`/`FRA_TABLE` attribute.
pub(crate) fn header_table(table: u32) -> u8 {
    u8::try_from(table).unwrap_or(HEADER_TABLE_COMPAT)
}

/// A failure of the netlink connection itself or of a dump. Malformed *messages* are not
/// errors: they are logged and dropped where they are read.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The request socket could not be opened.
    #[error("cannot open an rtnetlink socket")]
    Socket(#[source] io::Error),
    /// The monitor socket could not be opened or bound to its multicast groups.
    #[error("cannot subscribe to rtnetlink notifications")]
    Subscribe(#[source] io::Error),
    /// The kernel refused a dump, or the request could not be queued.
    #[error("rtnetlink dump of {what} failed")]
    Dump {
        /// Which table (`links`, `IPv4 addresses`, …).
        what: &'static str,
        /// What rtnetlink reported.
        #[source]
        source: rtnetlink::Error,
    },
    /// A dump ended without the kernel's end-of-dump marker: the connection went away mid-dump,
    /// so the result is incomplete.
    #[error("rtnetlink dump of {what} ended before the kernel's end-of-dump marker")]
    DumpTruncated {
        /// Which table.
        what: &'static str,
    },
    /// Every attempt at a dump was interrupted by concurrent changes (`NLM_F_DUMP_INTR`), so no
    /// consistent picture could be taken.
    #[error("rtnetlink dumps were interrupted by concurrent changes {attempts} times in a row")]
    DumpInterrupted {
        /// How many attempts were made.
        attempts: u32,
    },
    /// Dumps kept failing; the last failure is the source.
    #[error("rtnetlink dumps failed {attempts} times in a row")]
    DumpsFailing {
        /// How many attempts failed.
        attempts: u32,
        /// The last failure.
        #[source]
        last: Box<Error>,
    },
    /// The multicast (monitor) socket's stream ended: notifications can no longer be received.
    #[error("the rtnetlink notification socket closed")]
    StreamEnded,
}

/// How many times [`dump`] retries a dump the kernel flagged as interrupted.
pub const DUMP_ATTEMPTS: u32 = 5;

/// One attempt at dumping the kernel's tables, with what the kernel said about its quality.
#[derive(Debug, Clone, Default)]
pub struct Dump {
    /// What was read. Messages that did not convert are left out (and counted in
    /// [`Dump::malformed`]).
    pub snapshot: KernelSnapshot,
    /// The kernel flagged a part as interrupted (`NLM_F_DUMP_INTR`): a table changed while it
    /// was being read, so entries may be missing or doubled. Take the dump again.
    pub interrupted: bool,
    /// Every part ended with the kernel's end-of-dump marker. The marker is only visible on a
    /// connection that forwards it (`Connection::set_forward_done(true)`); there a `false`
    /// means the connection broke and the dump is incomplete.
    pub ended: bool,
    /// Messages that could not be converted and were left out.
    pub malformed: usize,
}

/// Dumps links, addresses (IPv4 and IPv6), routes (IPv4 and IPv6, every table) and routing
/// policy rules (IPv4 and IPv6) into a snapshot. A dump the kernel flags as interrupted is retried, up to [`DUMP_ATTEMPTS`] times.
///
/// The parts are read one after another (the kernel runs one dump per socket at a time), so
/// the snapshot is not one atomic picture: an address may name a link created after the links
/// were read. The notifications that follow the dump repair that; see `source::netlink`.
pub async fn dump(handle: &rtnetlink::Handle) -> Result<KernelSnapshot, Error> {
    for attempt in 1..=DUMP_ATTEMPTS {
        let dump = dump_once(handle).await?;
        if !dump.interrupted {
            return Ok(dump.snapshot);
        }
        debug!(
            attempt,
            "rtnl: dump interrupted by concurrent changes, retrying (attempt {attempt})"
        );
    }
    Err(Error::DumpInterrupted {
        attempts: DUMP_ATTEMPTS,
    })
}

/// One attempt at [`dump`], without retries: the caller decides what to do with an
/// interrupted or unterminated dump.
pub async fn dump_once(handle: &rtnetlink::Handle) -> Result<Dump, Error> {
    let mut dump = Dump {
        ended: true,
        ..Dump::default()
    };

    let links = dump_part(
        handle,
        "links",
        RouteNetlinkMessage::GetLink(Default::default()),
    );
    for msg in dump.absorb(links.await?) {
        if let RouteNetlinkMessage::NewLink(m) = msg {
            match link_attrs(&m) {
                Some(l) => dump.snapshot.links.push(l),
                None => dump.reject("link", &m),
            }
        }
    }

    for (what, family) in [
        ("IPv4 addresses", AddressFamily::Inet),
        ("IPv6 addresses", AddressFamily::Inet6),
    ] {
        let mut req = AddressMessage::default();
        req.header.family = family;
        let part = dump_part(handle, what, RouteNetlinkMessage::GetAddress(req)).await?;
        for msg in dump.absorb(part) {
            if let RouteNetlinkMessage::NewAddress(m) = msg {
                match address(&m) {
                    Some(a) => dump.snapshot.addresses.push(a),
                    None => dump.reject("address", &m),
                }
            }
        }
    }

    for (what, family) in [
        ("IPv4 routes", AddressFamily::Inet),
        ("IPv6 routes", AddressFamily::Inet6),
    ] {
        // Without NETLINK_GET_STRICT_CHK the kernel ignores the header's table and returns
        // every table, which is what a resync needs.
        let mut req = RouteMessage::default();
        req.header.address_family = family;
        let part = dump_part(handle, what, RouteNetlinkMessage::GetRoute(req)).await?;
        for msg in dump.absorb(part) {
            if let RouteNetlinkMessage::NewRoute(m) = msg {
                match route(&m) {
                    Some(r) => dump.snapshot.routes.push(r),
                    None => dump.reject("route", &m),
                }
            }
        }
    }

    for (what, family) in [
        ("IPv4 rules", AddressFamily::Inet),
        ("IPv6 rules", AddressFamily::Inet6),
    ] {
        let part = dump_part(
            handle,
            what,
            RouteNetlinkMessage::GetRule(rule_request(family)),
        );
        for msg in dump.absorb(part.await?) {
            if let RouteNetlinkMessage::NewRule(m) = msg {
                match rule(&m) {
                    Some(r) => dump.snapshot.rules.push(r),
                    None => dump.reject("rule", &m),
                }
            }
        }
    }

    if dump.malformed > 0 {
        warn!(
            count = dump.malformed,
            "rtnl: dump left out {} message(s) that could not be converted", dump.malformed
        );
    }
    Ok(dump)
}

/// The rules and routes (IPv4 and IPv6, every table) whose protocol is `protocol`: what one
/// owner has in the kernel. Policy routing reconciles against this.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owned {
    /// Rules in the kernel's order. Identical rules may appear more than once: the kernel
    /// accepts duplicates from requests without `NLM_F_EXCL`.
    pub rules: Vec<Rule>,
    /// Routes in dump order.
    pub routes: Vec<Route>,
}

/// Dumps the rules and routes that carry `protocol`, retrying a dump the kernel flags as
/// interrupted up to [`DUMP_ATTEMPTS`] times.
///
/// On a connection with `NETLINK_GET_STRICT_CHK` the kernel filters routes by protocol itself,
/// so a host with a full BGP table does not send it all for every reconcile; without strict
/// checking it ignores the filter and sends everything. Either way only entries carrying
/// `protocol` are kept here. Messages that do not convert are left out: they cannot be
/// ours, because everything ours converts.
pub async fn dump_owned(handle: &rtnetlink::Handle, protocol: u8) -> Result<Owned, Error> {
    for attempt in 1..=DUMP_ATTEMPTS {
        let mut owned = Owned::default();
        let mut interrupted = false;
        for (what, family) in [
            ("IPv4 routes", AddressFamily::Inet),
            ("IPv6 routes", AddressFamily::Inet6),
        ] {
            let mut req = RouteMessage::default();
            req.header.address_family = family;
            req.header.protocol = RouteProtocol::from(protocol);
            let part = dump_part(handle, what, RouteNetlinkMessage::GetRoute(req)).await?;
            interrupted |= part.interrupted;
            let routes = part.messages.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRoute(m) => route(&m),
                _ => None,
            });
            owned
                .routes
                .extend(routes.filter(|r| r.protocol == protocol));
        }
        for (what, family) in [
            ("IPv4 rules", AddressFamily::Inet),
            ("IPv6 rules", AddressFamily::Inet6),
        ] {
            let req = RouteNetlinkMessage::GetRule(rule_request(family));
            let part = dump_part(handle, what, req).await?;
            interrupted |= part.interrupted;
            let rules = part.messages.into_iter().filter_map(|m| match m {
                RouteNetlinkMessage::NewRule(m) => rule(&m),
                _ => None,
            });
            owned.rules.extend(rules.filter(|r| r.protocol == protocol));
        }
        if !interrupted {
            return Ok(owned);
        }
        debug!(
            attempt,
            "rtnl: owned dump interrupted by concurrent changes, retrying (attempt {attempt})"
        );
    }
    Err(Error::DumpInterrupted {
        attempts: DUMP_ATTEMPTS,
    })
}

/// A rule dump request: only the family may be set (strict checking refuses anything else
/// in the header).
fn rule_request(family: AddressFamily) -> RuleMessage {
    let mut req = RuleMessage::default();
    req.header.family = family;
    req
}

impl Dump {
    fn absorb(&mut self, part: Part) -> Vec<RouteNetlinkMessage> {
        self.interrupted |= part.interrupted;
        self.ended &= part.ended;
        part.messages
    }

    fn reject(&mut self, what: &str, msg: &dyn std::fmt::Debug) {
        self.malformed += 1;
        debug!(what, ?msg, "rtnl: dropping malformed {what} from dump");
    }
}

/// The raw answer to one dump request.
struct Part {
    messages: Vec<RouteNetlinkMessage>,
    interrupted: bool,
    ended: bool,
}

/// Sends one dump request and collects the answer. Unlike rtnetlink's typed `get()` requests,
/// this keeps the netlink header, because the header carries `NLM_F_DUMP_INTR`.
async fn dump_part(
    handle: &rtnetlink::Handle,
    what: &'static str,
    request: RouteNetlinkMessage,
) -> Result<Part, Error> {
    let mut req = NetlinkMessage::from(request);
    req.header.flags = NLM_F_REQUEST | NLM_F_DUMP;
    let mut responses = handle
        .clone()
        .request(req)
        .map_err(|source| Error::Dump { what, source })?;

    let mut part = Part {
        messages: Vec::new(),
        interrupted: false,
        ended: false,
    };
    while let Some(msg) = responses.next().await {
        if msg.header.flags & NLM_F_DUMP_INTR != 0 {
            part.interrupted = true;
        }
        match msg.payload {
            NetlinkPayload::InnerMessage(m) => part.messages.push(m),
            NetlinkPayload::Done(_) => part.ended = true,
            // Some kernels report an inconsistent dump as EINTR instead of the flag.
            NetlinkPayload::Error(e) if e.to_io().kind() == io::ErrorKind::Interrupted => {
                part.interrupted = true;
                part.ended = true;
            }
            NetlinkPayload::Error(e) if e.code.is_some() => {
                return Err(Error::Dump {
                    what,
                    source: rtnetlink::Error::NetlinkError(e),
                });
            }
            _ => {}
        }
    }
    Ok(part)
}
