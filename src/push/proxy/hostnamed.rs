//! systemd-hostnamed's interface `org.freedesktop.hostname1`, reduced to the one call the
//! broker makes: setting the **transient** host name learned from a DHCP lease.
//!
//! Manual: [org.freedesktop.hostname1(5)](https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.hostname1.html).
//!
//! hostnamed is bus-activated and exits after about 30 s without calls, so calling it starts it
//! (the method is *not* `no_autostart`). It grants `SetHostname` to callers with
//! `CAP_SYS_ADMIN` and asks polkit (`org.freedesktop.hostname1.set-hostname`) for others.
//! The broker never calls `SetStaticHostname`: that would write `/etc/hostname`, which a lease
//! must not do.

use zbus::proxy;

/// Bus name of systemd-hostnamed.
pub const BUS_NAME: &str = "org.freedesktop.hostname1";

/// `org.freedesktop.hostname1` on `/org/freedesktop/hostname1`.
///
/// <https://www.freedesktop.org/software/systemd/man/latest/org.freedesktop.hostname1.html#Methods>
#[proxy(
    interface = "org.freedesktop.hostname1",
    default_service = "org.freedesktop.hostname1",
    default_path = "/org/freedesktop/hostname1"
)]
pub trait Hostnamed {
    /// Sets the transient host name (the kernel's host name) to `hostname`; an empty string
    /// drops it. hostnamed uses the transient name only while no static host name
    /// (`/etc/hostname`) is set. `interactive` asks polkit to prompt the user; a daemon passes
    /// `false`.
    ///
    /// ```dbus
    /// SetHostname(in s hostname, in b interactive);
    /// ```
    fn set_hostname(&self, hostname: &str, interactive: bool) -> zbus::Result<()>;
}
