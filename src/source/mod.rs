//! Event sources. Each source owns one external input, translates what it reads into
//! [`crate::event::Event`]s and sends them to the broker's queue; sources decide nothing and
//! call no other subsystem.
//!
//! - [`netlink`]: the kernel's link, address and route tables (rtnetlink), with resyncs so that
//!   no kernel state is lost when the queue is full or the socket overruns.
//! - [`networkd`]: systemd-networkd's link and manager states over D-Bus, believed only from
//!   the connection that owns `org.freedesktop.network1`, with a snapshot whenever networkd
//!   (re)appears.

pub mod netlink;
pub mod networkd;
