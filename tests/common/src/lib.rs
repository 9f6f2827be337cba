//! The harness shared by the integration tests: each `tests/*.rs` uses what it needs of it
//! through the dev-dependency `common` (`use common::*;`).
//!
//! It is a library crate of its own rather than a `mod common;` compiled into every test
//! binary, so an item one test binary does not use is not dead code in it: no test needs
//! `allow(dead_code)`. Every item is re-exported at the top, so the tests name them as
//! `common::X` whichever file holds them.
//!
//! The lab itself is built by `tests/lab/netlab.sh up` (see the comments there): network
//! namespaces `labhost` (+ a persistent mount and UTS namespace: "the lab machine") and
//! `labpeer`, a private system bus, systemd-networkd, resolved, polkitd, dnsmasq and dhclient.
//! `up` writes `$LAB_DIR/run/lab.env`, which [`Lab::require`] reads to find it.
//!
//! What a test finds here, by file:
//! * `lab`: [`Lab::require`], the lab handle, or a skip (`SKIP: ...` on stderr, test returns)
//!   when not root or the lab is not up; under `CI=true` a skip is a failure (panic), so CI
//!   cannot go green without running the lab tests. The handle also serialises the tests of one
//!   test binary: the daemon's bus name is unique, so only one daemon may run at a time.
//!   Commands inside the lab machine ([`LabInfo::cmd`], [`LabInfo::run`]) and in the peer netns
//!   ([`LabInfo::peer_run`]), with panics that show stdout/stderr; background processes
//!   ([`LabChild`]).
//! * `cmd`: running a command with its output captured ([`CmdOutput`], [`output_within`]).
//! * `wait`: [`wait_until`] polls a condition with a generous timeout (the tests never assert
//!   on time), [`wait_settled`] waits for a count to stop moving.
//! * `bins`: the daemon under test and the command-line client ([`broker_bin`],
//!   [`brokerctl_bin`]).
//! * `broker`: [`Broker`], a `network-broker` started inside the lab with its own config dir
//!   ([`ConfigDir`]), stopped (SIGTERM to its PID only) on drop, its log printed when the test
//!   fails; [`Broker::restart`] stops it and starts another on the same config dir.
//! * `bus`: helpers on top of `busctl --json=short` ([`LabInfo::get_property`],
//!   [`LabInfo::call`], [`LabInfo::introspect`]); `monitor`: a signal [`Monitor`];
//!   `introspect`: a reader of introspection XML ([`Introspection`]).
//! * `kernel`: the lab machine's links and addresses as `ip` shows them, real traffic
//!   ([`LabInfo::send_udp`] sends datagrams from an address of the lab machine,
//!   [`LabInfo::peer_rx_packets`] counts what arrived on a peer link), a peer link set down
//!   ([`PeerLinkDown`]); `link`: [`TestLink`], veth pairs with unique names, deleted on drop.
//! * `recorder`: [`HookRecorder`], hook scripts that record every run (environment, stdin,
//!   order); `scratch`: [`ScratchDir`].
//! * `networkd`, `dhclient`, `service`: the lab's systemd-networkd (its properties,
//!   [`LabInfo::try_networkd_property`]) and dhclient, stopped and started again through
//!   `netlab.sh networkd|dhclient ...` with guards that undo it even when a test fails
//!   ([`NetworkdStopped`], [`DhclientStopped`]).
//! * `resolved`: systemd-resolved's and systemd-hostnamed's own view, read back with busctl
//!   ([`resolved_link`], [`wait_resolved`], [`hostnamed_property`]), and guards that restore
//!   them ([`ResolvedRevertOnDrop`], [`StaticHostnameOnDrop`]).
//! * `netns`: throwaway network namespaces for the tests that need no lab
//!   (`tests/netlink_source.rs`, `tests/routing_netns.rs`): [`Netns`], [`in_netns`],
//!   [`privileged`].
//! * [`system`]: the system tier's booted machines (`tests/system_*.rs`).

// A harness fails a test by panicking, with a message saying what was expected.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod bins;
mod broker;
mod bus;
mod cmd;
mod dhclient;
mod introspect;
mod kernel;
mod lab;
mod link;
mod monitor;
mod netns;
mod networkd;
mod recorder;
mod resolved;
mod scratch;
mod service;
mod wait;

pub mod system;

pub use bins::*;
pub use broker::*;
pub use bus::*;
pub use cmd::*;
pub use dhclient::*;
pub use introspect::*;
pub use kernel::*;
pub use lab::*;
pub use link::*;
pub use monitor::*;
pub use netns::*;
pub use networkd::*;
pub use recorder::*;
pub use resolved::*;
pub use scratch::*;
pub use service::*;
pub use wait::*;

/// The repository's top directory (this crate is `tests/common/` in it).
pub const PROJECT_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
