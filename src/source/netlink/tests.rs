//! Unit tests of `crate::source::netlink`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing

use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::route::{RouteFlags, RouteMessage};
use netlink_packet_route::rule::{RuleAction, RuleAttribute, RuleMessage};
use netlink_packet_route::AddressFamily;

use super::*;

fn link(family: AddressFamily) -> LinkMessage {
    let mut m = LinkMessage::default();
    m.header.interface_family = family;
    m.header.index = 4;
    m.attributes = vec![LinkAttribute::IfName("nb0".into())];
    m
}

#[test]
fn link_messages_map_to_link_events() {
    let t = translate(RouteNetlinkMessage::NewLink(link(AddressFamily::Unspec)));
    assert!(matches!(t, Translated::Event(KernelEvent::LinkChanged(l)) if l.index == 4));
    let t = translate(RouteNetlinkMessage::DelLink(link(AddressFamily::Unspec)));
    assert!(matches!(
        t,
        Translated::Event(KernelEvent::LinkRemoved { index: 4 })
    ));
}

#[test]
fn bridge_port_removal_is_not_a_link_removal() {
    let t = translate(RouteNetlinkMessage::DelLink(link(AddressFamily::Bridge)));
    assert!(matches!(t, Translated::Ignored));
}

#[test]
fn address_messages_map_to_address_events() {
    let mut m = AddressMessage::default();
    m.header.family = AddressFamily::Inet;
    m.header.index = 4;
    m.header.prefix_len = 32;
    m.attributes = vec![AddressAttribute::Local([192, 0, 2, 1].into())];
    let t = translate(RouteNetlinkMessage::NewAddress(m.clone()));
    assert!(matches!(
        t,
        Translated::Event(KernelEvent::AddressAdded { index: 4, .. })
    ));
    let t = translate(RouteNetlinkMessage::DelAddress(m));
    assert!(matches!(
        t,
        Translated::Event(KernelEvent::AddressRemoved { index: 4, .. })
    ));
}

#[test]
fn incomplete_messages_are_reported_as_malformed() {
    let mut no_name = link(AddressFamily::Unspec);
    no_name.attributes.clear();
    let t = translate(RouteNetlinkMessage::NewLink(no_name));
    assert!(matches!(t, Translated::Malformed("link", _)));

    let mut no_ip = AddressMessage::default();
    no_ip.header.family = AddressFamily::Inet6;
    no_ip.header.index = 4;
    let t = translate(RouteNetlinkMessage::NewAddress(no_ip));
    assert!(matches!(t, Translated::Malformed("address", _)));

    let mut no_dst = RouteMessage::default();
    no_dst.header.address_family = AddressFamily::Inet;
    no_dst.header.destination_prefix_length = 24;
    let t = translate(RouteNetlinkMessage::DelRoute(no_dst));
    assert!(matches!(t, Translated::Malformed("route", _)));
}

#[test]
fn cache_routes_and_non_ip_rules_are_ignored() {
    let mut cloned = RouteMessage::default();
    cloned.header.address_family = AddressFamily::Inet6;
    cloned.header.flags = RouteFlags::Cloned;
    assert!(matches!(
        translate(RouteNetlinkMessage::NewRoute(cloned)),
        Translated::Ignored
    ));
    // Family unspec: not an IPv4/IPv6 rule.
    assert!(matches!(
        translate(RouteNetlinkMessage::NewRule(RuleMessage::default())),
        Translated::Ignored
    ));
}

#[test]
fn rule_messages_map_to_rule_events() {
    let mut m = RuleMessage::default();
    m.header.family = AddressFamily::Inet6;
    m.header.action = RuleAction::ToTable;
    m.attributes = vec![RuleAttribute::Table(1003), RuleAttribute::Priority(20000)];
    let t = translate(RouteNetlinkMessage::NewRule(m.clone()));
    assert!(matches!(t, Translated::Event(KernelEvent::RuleAdded(r)) if r.ipv6 && r.table == 1003));
    let t = translate(RouteNetlinkMessage::DelRule(m.clone()));
    assert!(matches!(
        t,
        Translated::Event(KernelEvent::RuleRemoved(r)) if r.priority == Some(20000)
    ));

    // A /32 source without its address cannot be a real rule.
    m.header.src_len = 32;
    let t = translate(RouteNetlinkMessage::DelRule(m));
    assert!(matches!(t, Translated::Malformed("rule", _)));
}

fn overrun() -> NetlinkMessage<RouteNetlinkMessage> {
    NetlinkMessage::new(Default::default(), NetlinkPayload::Overrun(Vec::new()))
}

#[tokio::test]
async fn an_overrun_while_live_forces_a_resync() {
    let (tx, _rx) = tokio::sync::mpsc::channel(4);
    let (_conn, handle, _) = rtnetlink::new_connection().expect("netlink socket");
    let mut source = Source::new(tx, handle);
    source.phase = Phase::Live;
    assert_eq!(source.on_message(overrun()), Flow::Resubscribe);
    assert!(matches!(source.phase, Phase::WaitingForRoom(_)));
    assert_eq!(source.stats.overruns, 1);
}

#[tokio::test]
async fn a_full_queue_makes_the_source_dirty_and_drops_until_the_dump() {
    let (tx, mut rx) = tokio::sync::mpsc::channel(1);
    // A handle whose connection is never polled: this test never gets as far as a dump.
    let (_conn, handle, _) = rtnetlink::new_connection().expect("netlink socket");
    let mut source = Source::new(tx, handle);
    source.phase = Phase::Live;

    let event = || KernelEvent::LinkRemoved { index: 9 };
    assert_eq!(source.deliver(event()), Flow::Continue);
    assert!(matches!(source.phase, Phase::Live));
    // The queue (capacity 1) is now full: the next event is dropped, the source is dirty.
    assert_eq!(source.deliver(event()), Flow::Continue);
    assert!(matches!(source.phase, Phase::WaitingForRoom(_)));
    assert_eq!(source.stats.dropped, 1);
    // Still dirty: dropped without trying the queue.
    source.deliver(event());
    assert_eq!(source.stats.dropped, 2);

    // Room again: the source takes its slot and starts a dump, buffering from then on.
    assert!(rx.recv().await.is_some());
    let progress = source.phase.progress().await;
    assert!(matches!(progress, Progress::Room(Ok(_))));
    source.on_progress(progress).expect("no dump failure yet");
    assert!(matches!(source.phase, Phase::Dumping { .. }));
    source.deliver(event());
    assert!(matches!(&source.phase, Phase::Dumping { buffer, .. } if buffer.len() == 1));

    // An overrun during the dump asks for another resync after it.
    source.on_message(overrun());
    assert!(matches!(source.phase, Phase::Dumping { lost: true, .. }));
    assert_eq!(source.stats.overruns, 1);

    // The broker going away ends the source quietly.
    drop(rx);
    source.phase = Phase::Live;
    assert_eq!(source.deliver(event()), Flow::BrokerGone);
}
