//! Names in the kernel's messages that are not text: rewritten to their escaped form
//! ([`crate::model::link_name`]) before the messages are decoded.
//!
//! The kernel lets a link be called any bytes (`ip link add $'\xff\xfeA' ...`), but
//! netlink-packet-route decodes names into `String`, and a message whose name is not UTF-8
//! fails to decode as a whole: netlink-proto logs "failed to decode packet" and drops it, so
//! the link and its addresses (whose IPv4 label is the link's name) were never seen. The
//! socket wrapper [`NameSafeSocket`] rewrites each received datagram first: every name
//! attribute of link, address and rule messages that is not plain text gets its escaped
//! form, and the messages' lengths are fixed up. Datagrams without such a name (all of them,
//! in practice) are passed on untouched.

use std::io;
use std::task::{ready, Context, Poll};

use bytes::{BufMut, BytesMut};
use netlink_sys::{AsyncSocket, Socket, SocketAddr, TokioSocket};

use crate::model::link_name;

/// `sizeof(struct nlmsghdr)`.
const NLMSG_HDRLEN: usize = 16;
/// `sizeof(struct nlattr)`.
const NLA_HDRLEN: usize = 4;
/// `NLA_TYPE_MASK`: the attribute type without the nested/byte-order flags.
const NLA_TYPE_MASK: u16 = 0x3fff;
/// What a datagram is read into: as much as netlink-proto itself reserves.
const RECV_CAPACITY: usize = 64 * 1024;

/// Where the names are in one message type: the fixed header after `nlmsghdr`, the
/// attributes that are names, and the one attribute that nests more names.
struct Layout {
    header: usize,
    names: &'static [u16],
    nested: Option<(u16, &'static [u16])>,
}

/// `RTM_NEWLINK`/`RTM_DELLINK` (`ifinfomsg`): `IFLA_IFNAME`, `IFLA_IFALIAS`, and the
/// alternative names `IFLA_ALT_IFNAME` inside `IFLA_PROP_LIST`.
const LINK: Layout = Layout {
    header: 16,
    names: &[3, 20],
    nested: Some((52, &[53])),
};
/// `RTM_NEWADDR`/`RTM_DELADDR` (`ifaddrmsg`): `IFA_LABEL`, the link's name by default.
const ADDRESS: Layout = Layout {
    header: 8,
    names: &[3],
    nested: None,
};
/// `RTM_NEWRULE`/`RTM_DELRULE` (`fib_rule_hdr`): `FRA_IIFNAME`, `FRA_OIFNAME`.
const RULE: Layout = Layout {
    header: 12,
    names: &[3, 17],
    nested: None,
};

fn layout(message_type: u16) -> Option<&'static Layout> {
    match message_type {
        16 | 17 => Some(&LINK),
        20 | 21 => Some(&ADDRESS),
        32 | 33 => Some(&RULE),
        _ => None,
    }
}

fn align4(len: usize) -> usize {
    len.saturating_add(3) & !3
}

fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_ne_bytes(bytes.get(at..at + 2)?.try_into().ok()?))
}

fn u32_at(bytes: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_ne_bytes(bytes.get(at..at + 4)?.try_into().ok()?))
}

/// The datagram with every name that is not plain text escaped, or `None` when there is
/// nothing to change. Anything malformed is left as it is, for the decoder to judge.
pub fn rewrite_names(datagram: &[u8]) -> Option<Vec<u8>> {
    if !needs_rewrite(datagram) {
        return None;
    }
    let mut out = Vec::with_capacity(datagram.len() + 64);
    let mut at = 0;
    while let Some((len, kind)) = message_at(datagram, at) {
        let message = &datagram[at..at + len];
        match layout(kind) {
            Some(layout) if NLMSG_HDRLEN + layout.header <= len => {
                let start = out.len();
                out.extend_from_slice(&message[..NLMSG_HDRLEN + layout.header]);
                rewrite_attributes(
                    &message[NLMSG_HDRLEN + layout.header..],
                    layout.names,
                    layout.nested,
                    &mut out,
                );
                let new_len = u32::try_from(out.len() - start).ok()?;
                out[start..start + 4].copy_from_slice(&new_len.to_ne_bytes());
            }
            _ => out.extend_from_slice(message),
        }
        out.resize(align4(out.len()), 0);
        at += align4(len);
    }
    // A trailing piece that is not a whole message goes on unchanged.
    if let Some(rest) = datagram.get(at..) {
        out.extend_from_slice(rest);
    }
    Some(out)
}

/// The length and type of the well-formed message at `at`.
fn message_at(datagram: &[u8], at: usize) -> Option<(usize, u16)> {
    let len = usize::try_from(u32_at(datagram, at)?).ok()?;
    let kind = u16_at(datagram, at + 4)?;
    (len >= NLMSG_HDRLEN && at.checked_add(len)? <= datagram.len()).then_some((len, kind))
}

/// Whether any name in the datagram is not plain text (the common case costs one pass).
fn needs_rewrite(datagram: &[u8]) -> bool {
    let mut at = 0;
    while let Some((len, kind)) = message_at(datagram, at) {
        if let Some(layout) = layout(kind) {
            if let Some(attrs) = datagram.get(at + NLMSG_HDRLEN + layout.header..at + len) {
                if attributes_need_rewrite(attrs, layout.names, layout.nested) {
                    return true;
                }
            }
        }
        at += align4(len);
    }
    false
}

/// The attributes in `bytes`: (type, payload, whole attribute with padding).
fn attributes(bytes: &[u8]) -> impl Iterator<Item = (u16, &[u8], &[u8])> {
    let mut at = 0;
    std::iter::from_fn(move || {
        let len = usize::from(u16_at(bytes, at)?);
        let kind = u16_at(bytes, at + 2)? & NLA_TYPE_MASK;
        let payload = bytes.get(at + NLA_HDRLEN..at.checked_add(len)?)?;
        let whole = bytes.get(at..(at + align4(len)).min(bytes.len()))?;
        if len < NLA_HDRLEN {
            return None;
        }
        at += align4(len);
        Some((kind, payload, whole))
    })
}

/// A name attribute's bytes: up to the terminating NUL.
fn name_of(payload: &[u8]) -> &[u8] {
    payload.split(|&b| b == 0).next().unwrap_or(payload)
}

fn attributes_need_rewrite(bytes: &[u8], names: &[u16], nested: Option<(u16, &[u16])>) -> bool {
    attributes(bytes).any(|(kind, payload, _)| {
        if names.contains(&kind) {
            return !link_name::is_plain(name_of(payload));
        }
        match nested {
            Some((outer, inner)) if outer == kind => attributes_need_rewrite(payload, inner, None),
            _ => false,
        }
    })
}

fn rewrite_attributes(
    bytes: &[u8],
    names: &[u16],
    nested: Option<(u16, &[u16])>,
    out: &mut Vec<u8>,
) {
    let mut consumed = 0;
    for (kind, payload, whole) in attributes(bytes) {
        consumed += whole.len();
        let start = out.len();
        if names.contains(&kind) && !link_name::is_plain(name_of(payload)) {
            out.extend_from_slice(&whole[..NLA_HDRLEN]);
            out.extend_from_slice(link_name::escape(name_of(payload)).as_bytes());
            out.push(0);
        } else if matches!(nested, Some((outer, _)) if outer == kind) {
            out.extend_from_slice(&whole[..NLA_HDRLEN]);
            let inner = nested.map_or(&[][..], |(_, inner)| inner);
            rewrite_attributes(payload, inner, None, out);
        } else {
            out.extend_from_slice(whole);
            continue;
        }
        let Ok(len) = u16::try_from(out.len() - start) else {
            // Too long to describe: keep the original attribute.
            out.truncate(start);
            out.extend_from_slice(whole);
            continue;
        };
        out[start..start + 2].copy_from_slice(&len.to_ne_bytes());
        out.resize(align4(out.len()), 0);
    }
    // Trailing bytes that are not a whole attribute go on unchanged.
    if let Some(rest) = bytes.get(consumed..) {
        out.extend_from_slice(rest);
    }
}

/// rtnetlink's tokio socket with [`rewrite_names`] applied to every datagram received.
pub struct NameSafeSocket(TokioSocket);

impl NameSafeSocket {
    fn deliver<B: BufMut>(received: &[u8], buf: &mut B) {
        match rewrite_names(received) {
            Some(rewritten) => buf.put_slice(&rewritten),
            None => buf.put_slice(received),
        }
    }
}

impl AsyncSocket for NameSafeSocket {
    fn socket_ref(&self) -> &Socket {
        self.0.socket_ref()
    }

    fn socket_mut(&mut self) -> &mut Socket {
        self.0.socket_mut()
    }

    fn new(protocol: isize) -> io::Result<Self> {
        TokioSocket::new(protocol).map(NameSafeSocket)
    }

    fn poll_send(&self, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.0.poll_send(cx, buf)
    }

    fn poll_send_to(
        &self,
        cx: &mut Context<'_>,
        buf: &[u8],
        addr: &SocketAddr,
    ) -> Poll<io::Result<usize>> {
        self.0.poll_send_to(cx, buf, addr)
    }

    fn poll_recv<B: BufMut>(&self, cx: &mut Context<'_>, buf: &mut B) -> Poll<io::Result<()>> {
        let mut received = BytesMut::with_capacity(buf.remaining_mut().min(RECV_CAPACITY));
        ready!(self.0.poll_recv(cx, &mut received))?;
        Self::deliver(&received, buf);
        Poll::Ready(Ok(()))
    }

    fn poll_recv_from<B: BufMut>(
        &self,
        cx: &mut Context<'_>,
        buf: &mut B,
    ) -> Poll<io::Result<SocketAddr>> {
        let mut received = BytesMut::with_capacity(buf.remaining_mut().min(RECV_CAPACITY));
        let from = ready!(self.0.poll_recv_from(cx, &mut received))?;
        Self::deliver(&received, buf);
        Poll::Ready(Ok(from))
    }

    fn poll_recv_from_full(&self, cx: &mut Context<'_>) -> Poll<io::Result<(Vec<u8>, SocketAddr)>> {
        let (received, from) = ready!(self.0.poll_recv_from_full(cx))?;
        Poll::Ready(Ok((rewrite_names(&received).unwrap_or(received), from)))
    }
}

#[cfg(test)]
mod tests;
