//! systemd-resolved's manager interface, `org.freedesktop.resolve1.Manager`, reduced to the
//! per-link calls the broker makes: DNS servers, search domains, and the revert.
//!
//! Manual: [org.freedesktop.resolve1(5)](https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.resolve1.html).
//!
//! Every method is declared `no_autostart`: resolved is a service the administrator enables or
//! not, and the broker must not start it as a side effect of a lease. When it is not running,
//! the caller keeps its settings and applies them when resolved's name gets an owner.
//!
//! resolved accepts these calls from callers with `CAP_NET_ADMIN` without asking polkit;
//! others need the polkit actions `org.freedesktop.resolve1.set-dns-servers`, `…set-domains`
//! and `…revert`. On links that systemd-networkd manages it refuses them with
//! `org.freedesktop.resolve1.LinkBusy` ("Link X is managed.").

use zbus::proxy;

/// Bus name of systemd-resolved.
pub const BUS_NAME: &str = "org.freedesktop.resolve1";

/// Error name of resolved's refusal to change a link that networkd manages, or the loopback
/// device.
pub const ERROR_LINK_BUSY: &str = "org.freedesktop.resolve1.LinkBusy";

/// Error name for an interface index resolved does not know.
pub const ERROR_NO_SUCH_LINK: &str = "org.freedesktop.resolve1.NoSuchLink";

/// Address family numbers of the `a(iay)` argument (`AF_INET`, `AF_INET6` from
/// `<sys/socket.h>`; the same on every Linux architecture).
pub const AF_INET: i32 = 2;
/// See [`AF_INET`].
pub const AF_INET6: i32 = 10;

/// `org.freedesktop.resolve1.Manager` on `/org/freedesktop/resolve1`.
///
/// <https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.resolve1.html#The%20Manager%20Object>
#[proxy(
    interface = "org.freedesktop.resolve1.Manager",
    default_service = "org.freedesktop.resolve1",
    default_path = "/org/freedesktop/resolve1"
)]
pub trait Manager {
    /// Replaces the DNS servers of link `ifindex`; an empty list removes them. Each entry is
    /// the address family ([`AF_INET`] or [`AF_INET6`]) and the address in network byte order
    /// (4 or 16 bytes).
    ///
    /// ```dbus
    /// SetLinkDNS(in i ifindex, in a(iay) addresses);
    /// ```
    #[zbus(name = "SetLinkDNS", no_autostart)]
    fn set_link_dns(&self, ifindex: i32, addresses: &[(i32, Vec<u8>)]) -> zbus::Result<()>;

    /// Replaces the domains of link `ifindex`; an empty list removes them. The boolean of each
    /// entry is **routing-only**: `false` makes a search domain (used to complete single-label
    /// names and to route queries), `true` a routing-only domain (`~example.com`, used only to
    /// pick the link's servers). DHCP's domain name and domain search list are search domains.
    ///
    /// ```dbus
    /// SetLinkDomains(in i ifindex, in a(sb) domains);
    /// ```
    #[zbus(no_autostart)]
    fn set_link_domains(&self, ifindex: i32, domains: &[(&str, bool)]) -> zbus::Result<()>;

    /// Drops every setting made over the bus for link `ifindex` (servers, domains and the
    /// rest), returning the link to its configured state.
    ///
    /// ```dbus
    /// RevertLink(in i ifindex);
    /// ```
    #[zbus(no_autostart)]
    fn revert_link(&self, ifindex: i32) -> zbus::Result<()>;
}
