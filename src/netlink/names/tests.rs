#![allow(clippy::unwrap_used, clippy::expect_used)]

use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::address::{AddressAttribute, AddressMessage};
use netlink_packet_route::link::{LinkAttribute, LinkMessage};
use netlink_packet_route::RouteNetlinkMessage;

use super::*;

fn bytes_of(payload: RouteNetlinkMessage) -> Vec<u8> {
    let mut message = NetlinkMessage::from(payload);
    message.finalize();
    let mut buf = vec![0; message.buffer_len()];
    message.serialize(&mut buf);
    buf
}

/// Replaces `from` by `to` (same length) everywhere in `bytes`.
fn patch(mut bytes: Vec<u8>, from: &[u8], to: &[u8]) -> Vec<u8> {
    let at = bytes.windows(from.len()).position(|w| w == from).unwrap();
    bytes[at..at + from.len()].copy_from_slice(to);
    bytes
}

fn decode(bytes: &[u8]) -> Option<RouteNetlinkMessage> {
    match NetlinkMessage::<RouteNetlinkMessage>::deserialize(bytes)
        .ok()?
        .payload
    {
        NetlinkPayload::InnerMessage(inner) => Some(inner),
        _ => None,
    }
}

/// `ip link add $'\xff\xfeA' ...` as the kernel announces it, followed in the same datagram
/// by its IPv4 address, labelled with the same bytes.
fn hostile_datagram() -> Vec<u8> {
    let mut link = LinkMessage::default();
    link.header.index = 42;
    link.attributes = vec![
        LinkAttribute::IfName("QQQ".into()),
        LinkAttribute::Mtu(1500),
    ];
    let mut address = AddressMessage::default();
    address.header.index = 42;
    address.header.prefix_len = 24;
    address.attributes = vec![
        AddressAttribute::Address("192.0.2.9".parse().unwrap()),
        AddressAttribute::Label("QQQ".into()),
    ];
    let mut datagram = patch(
        bytes_of(RouteNetlinkMessage::NewLink(link)),
        b"QQQ",
        b"\xff\xfeA",
    );
    datagram.extend(patch(
        bytes_of(RouteNetlinkMessage::NewAddress(address)),
        b"QQQ",
        b"\xff\xfeA",
    ));
    datagram
}

#[test]
fn a_name_that_is_not_utf8_fails_to_decode_unless_rewritten() {
    let datagram = hostile_datagram();
    assert!(decode(&datagram).is_none(), "the decoder used to drop it");

    let rewritten = rewrite_names(&datagram).expect("a rewrite");
    let (first_len, _) = message_at(&rewritten, 0).unwrap();
    match decode(&rewritten[..first_len]) {
        Some(RouteNetlinkMessage::NewLink(link)) => {
            assert!(link
                .attributes
                .contains(&LinkAttribute::IfName("\\xff\\xfeA".into())));
            assert!(link.attributes.contains(&LinkAttribute::Mtu(1500)));
            assert_eq!(link.header.index, 42);
        }
        other => panic!("not a link: {other:?}"),
    }
    match decode(&rewritten[align4(first_len)..]) {
        Some(RouteNetlinkMessage::NewAddress(address)) => assert!(address
            .attributes
            .contains(&AddressAttribute::Label("\\xff\\xfeA".into()))),
        other => panic!("not an address: {other:?}"),
    }
}

#[test]
fn control_characters_in_names_are_escaped_and_plain_names_untouched() {
    let mut link = LinkMessage::default();
    link.header.index = 7;
    link.attributes = vec![LinkAttribute::IfName("a\u{1b}[31m".into())];
    let datagram = bytes_of(RouteNetlinkMessage::NewLink(link));
    match decode(&rewrite_names(&datagram).unwrap()) {
        Some(RouteNetlinkMessage::NewLink(link)) => assert!(link
            .attributes
            .contains(&LinkAttribute::IfName("a\\x1b[31m".into()))),
        other => panic!("not a link: {other:?}"),
    }

    let mut link = LinkMessage::default();
    link.attributes = vec![LinkAttribute::IfName("eth0".into())];
    assert_eq!(
        rewrite_names(&bytes_of(RouteNetlinkMessage::NewLink(link))),
        None
    );
}

#[test]
fn malformed_datagrams_are_left_to_the_decoder() {
    for garbage in [&b""[..], b"\x01\x02", &[0xff; 40]] {
        assert_eq!(rewrite_names(garbage), None);
    }
    let datagram = hostile_datagram();
    for cut in 0..datagram.len() {
        // Never panics; what it returns is the decoder's to judge.
        let _ = rewrite_names(&datagram[..cut]);
    }
}
