//! Event sources. Each source owns one external input, translates what it reads into
//! [`crate::event::Event`]s and sends them to the broker's queue; sources decide nothing and
//! call no other subsystem.
//!
//! - [`netlink`]: the kernel's link, address and route tables (rtnetlink), with resyncs so that
//!   no kernel state is lost when the queue is full or the socket overruns.
//! - [`networkd`]: systemd-networkd's link and manager states over D-Bus, believed only from
//!   the connection that owns `org.freedesktop.network1`, with a snapshot whenever networkd
//!   (re)appears.
//! - [`lease`]: ISC dhclient's lease files, watched through their directories; the current
//!   lease of every interface, sent whenever that set changes or a lease expires.

pub mod lease;
pub mod netlink;
pub mod networkd;
