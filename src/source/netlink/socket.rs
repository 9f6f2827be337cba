//! The monitor socket: subscribed to the kernel's link, address, route and rule
//! notifications, with a receive buffer raised so that bursts overrun it rarely, and its
//! connection task aborted with the source.

use netlink_packet_core::NetlinkMessage;
use netlink_packet_route::RouteNetlinkMessage;
use netlink_sys::{AsyncSocket as _, Socket};
use rtnetlink::MulticastGroup;
use tracing::{debug, warn};

use crate::netlink::names::NameSafeSocket;
use crate::netlink::Error;

/// The notifications the monitor socket subscribes to: links, addresses, routes and routing
/// policy rules, IPv4 and IPv6.
pub const GROUPS: &[MulticastGroup] = &[
    MulticastGroup::Link,
    MulticastGroup::Ipv4Ifaddr,
    MulticastGroup::Ipv6Ifaddr,
    MulticastGroup::Ipv4Route,
    MulticastGroup::Ipv6Route,
    MulticastGroup::Ipv4Rule,
    MulticastGroup::Ipv6Rule,
];

/// Receive buffer asked for on the monitor socket. A burst of address changes produces
/// several notifications each (address, local route, prefix route); the default of ~208 KiB
/// holds a few hundred and overruns during large bursts.
pub const RECEIVE_BUFFER_BYTES: usize = 8 << 20;

/// Opens a monitor socket subscribed to [`GROUPS`] with a raised receive buffer: its
/// connection task and its notifications.
pub(super) fn subscribe() -> Result<
    (
        AbortOnDrop,
        impl futures_util::Stream<
                Item = (NetlinkMessage<RouteNetlinkMessage>, netlink_sys::SocketAddr),
            > + Unpin,
    ),
    Error,
> {
    // The socket escapes names that are not text before decoding: a link called
    // `$'\xff\xfeA'` would otherwise be dropped by the decoder, with its addresses.
    let (mut monitor, _, notifications) =
        rtnetlink::new_multicast_connection_with_socket::<NameSafeSocket>(GROUPS)
            .map_err(Error::Subscribe)?;
    raise_receive_buffer(monitor.socket_mut().socket_mut());
    Ok((AbortOnDrop(tokio::spawn(monitor)), notifications))
}

/// Asks for [`RECEIVE_BUFFER_BYTES`]. `SO_RCVBUFFORCE` (needs `CAP_NET_ADMIN`, which the
/// daemon has) ignores `net.core.rmem_max`; without the capability fall back to `SO_RCVBUF`,
/// which the kernel caps at that sysctl. Either failure is only a warning: resyncs still keep
/// the state right, a bigger buffer just makes them rarer.
fn raise_receive_buffer(socket: &Socket) {
    if let Err(force) =
        rustix::net::sockopt::set_socket_recv_buffer_size_force(socket, RECEIVE_BUFFER_BYTES)
    {
        let size = i32::try_from(RECEIVE_BUFFER_BYTES).unwrap_or(i32::MAX);
        if let Err(e) = socket.set_rx_buf_sz(size) {
            warn!(error = %e, "rtnl: cannot raise the notification socket's receive buffer");
            return;
        }
        debug!(error = %force, "rtnl: SO_RCVBUFFORCE refused, used SO_RCVBUF");
    }
    match socket.get_rx_buf_sz() {
        // The kernel reports twice the size asked for (it counts its bookkeeping).
        Ok(actual) if actual < RECEIVE_BUFFER_BYTES => warn!(
            actual,
            wanted = RECEIVE_BUFFER_BYTES,
            "rtnl: notification receive buffer capped by net.core.rmem_max at {actual} bytes \
             (wanted {RECEIVE_BUFFER_BYTES}); bursts will cause more resyncs"
        ),
        Ok(actual) => debug!(actual, "rtnl: notification receive buffer raised"),
        Err(e) => debug!(error = %e, "rtnl: cannot read the receive buffer size"),
    }
}

/// Aborts a spawned connection task when `run` returns, whichever way it returns.
pub(super) struct AbortOnDrop(pub(super) tokio::task::JoinHandle<()>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}
