//! One notification from the monitor socket, sorted: an event for the broker, something of
//! no interest, or a message that lacks what the model needs. Pure, unit-tested on built
//! messages.

use netlink_packet_route::RouteNetlinkMessage;

use crate::event::KernelEvent;
use crate::netlink;

/// A notification, sorted.
#[derive(Debug)]
pub(super) enum Translated {
    /// Something the broker needs to know.
    Event(KernelEvent),
    /// Valid but of no interest (bridge port state, cache routes, non-IP rules).
    Ignored,
    /// Lacking what the model needs; the kind, and the message for the debug log.
    Malformed(&'static str, Box<RouteNetlinkMessage>),
}

pub(super) fn translate(msg: RouteNetlinkMessage) -> Translated {
    use RouteNetlinkMessage as M;

    let event = match &msg {
        M::NewLink(m) | M::DelLink(m) if !netlink::describes_link(m) => return Translated::Ignored,
        M::NewAddress(m) | M::DelAddress(m) if !netlink::is_ip_address(m) => {
            return Translated::Ignored
        }
        M::NewRoute(m) | M::DelRoute(m) if !netlink::is_table_route(m) => {
            return Translated::Ignored
        }
        M::NewRule(m) | M::DelRule(m) if !netlink::is_ip_rule(m) => return Translated::Ignored,
        M::NewLink(m) => netlink::link_attrs(m).map(KernelEvent::LinkChanged),
        M::DelLink(m) => {
            netlink::removed_link_index(m).map(|index| KernelEvent::LinkRemoved { index })
        }
        M::NewAddress(m) => {
            netlink::address(m).map(|(index, address)| KernelEvent::AddressAdded { index, address })
        }
        M::DelAddress(m) => netlink::address(m)
            .map(|(index, address)| KernelEvent::AddressRemoved { index, address }),
        M::NewRoute(m) => netlink::route(m).map(KernelEvent::RouteAdded),
        M::DelRoute(m) => netlink::route(m).map(KernelEvent::RouteRemoved),
        M::NewRule(m) => netlink::rule(m).map(KernelEvent::RuleAdded),
        M::DelRule(m) => netlink::rule(m).map(KernelEvent::RuleRemoved),
        _ => return Translated::Ignored,
    };
    match event {
        Some(event) => Translated::Event(event),
        None => Translated::Malformed(kind_of(&msg), Box::new(msg)),
    }
}

fn kind_of(msg: &RouteNetlinkMessage) -> &'static str {
    use RouteNetlinkMessage as M;
    match msg {
        M::NewLink(_) | M::DelLink(_) => "link",
        M::NewAddress(_) | M::DelAddress(_) => "address",
        M::NewRoute(_) | M::DelRoute(_) => "route",
        M::NewRule(_) | M::DelRule(_) => "rule",
        _ => "rtnetlink",
    }
}
