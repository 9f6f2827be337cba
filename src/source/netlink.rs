//! The kernel as an event source. This module owns the rtnetlink monitor socket and the
//! request socket used for dumps: it subscribes to link, address, route and rule
//! notifications, sends the broker a [`KernelEvent::Snapshot`] first and then one
//! [`KernelEvent`] per notification, and *resyncs* (dumps again and sends a fresh snapshot)
//! whenever notifications were lost.
//!
//! # Never blocking the kernel reader
//!
//! The kernel does not wait for a slow reader: when the socket's receive buffer is full it
//! drops notifications and reports `ENOBUFS` (netlink-proto turns that into
//! [`NetlinkPayload::Overrun`]). So the loop below never awaits the broker's queue while
//! notifications may be waiting. It uses `try_send`; when the queue is full, the notification
//! is dropped and the source becomes *dirty*. (netlink-proto's connection task moves datagrams
//! from the socket into an unbounded channel; this loop drains that channel without awaiting
//! anything else, so the channel stays short and the socket is read as fast as it fills.)
//! A dirty source:
//!
//! 1. waits for one free slot in the queue (still reading and dropping notifications: the
//!    dump that follows includes their effect, because it starts after they were read);
//! 2. dumps links, addresses, routes and rules through the request socket, holding that slot, and
//!    *buffers* the notifications read meanwhile;
//! 3. sends the snapshot through the held slot, then the buffered notifications in order, and
//!    is live again. If anything was lost during the dump (an overrun, a full buffer, the
//!    queue filling up again while flushing), it goes back to step 1: one resync at a time,
//!    repeated until one completes without loss.
//!
//! # Why applying the buffered notifications after the snapshot is correct
//!
//! The monitor socket was subscribed before the dump was requested, so every change made
//! after the dump started produces a notification that the loop reads after the dump started,
//! i.e. one that is buffered and delivered after the snapshot. Each notification carries the
//! object's complete state (a link's attributes, an address, a route, a rule) or its removal, and the
//! broker applies them as upserts and removals by key. Take any object:
//! - if it changed after the dump read it, the last notification about it is newer than the
//!   dump and is applied last, so the broker ends with the newest state;
//! - if it did not change after the dump read it, the dump holds its current state, and any
//!   buffered notification about it describes that same state (it is the last change), so
//!   applying it again changes nothing; an add for something already removed is followed by
//!   its removal, a removal of something absent is a no-op.
//!
//! That holds for every notification read after the dump started *unless the kernel dropped
//! some*: on `ENOBUFS` it reports the overrun before the notifications still queued in the
//! socket, and what it dropped came after those, so a queued "address added" may have lost
//! its "address removed"; read during or after the dump, it would undo the snapshot. So an
//! overrun also replaces the monitor socket: a new one is subscribed (and the old one, with
//! whatever it still holds, closed) before the resync's dump, exactly as at start, and every
//! notification read from then on was sent after the subscription.
//!
//! The reverse order would be wrong: a notification sent *before* the snapshot would be
//! overwritten by a dump that may have read the object before the change. That is why
//! notifications are buffered, not forwarded, while a dump runs.
//!
//! A dump the kernel flags as interrupted (`NLM_F_DUMP_INTR`: a table changed between two
//! parts, so entries may be skipped) is never sent: it is retried after a short pause.
//! Failing dumps are retried with back-off; after [`MAX_DUMP_FAILURES`] in a row, or when the
//! notification stream ends, [`run`] returns an error: the daemon cannot keep its promise of a
//! complete picture and exits, so that systemd restarts it.
//!
//! # Files
//!
//! This file is the loop and its resync state machine; beside it, `socket` opens the monitor
//! socket and `translate` sorts each notification (pure).

mod socket;
mod translate;

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_util::{Future, StreamExt as _};
use netlink_packet_core::{NetlinkMessage, NetlinkPayload};
use netlink_packet_route::RouteNetlinkMessage;
use tokio::sync::mpsc::error::{SendError, TrySendError};
use tokio::sync::mpsc::OwnedPermit;
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, trace, warn};

use crate::event::{Event, EventSender, KernelEvent};
use crate::netlink::names::NameSafeSocket;
use crate::netlink::{self, Error};

use socket::{subscribe, AbortOnDrop};
pub use socket::{GROUPS, RECEIVE_BUFFER_BYTES};
use translate::{translate, Translated};

/// Notifications held while a dump runs. Beyond this the source stops buffering and resyncs
/// again after the current dump, instead of growing without bound.
pub const MAX_BUFFERED: usize = 65_536;

/// Failed dumps in a row after which [`run`] gives up.
pub const MAX_DUMP_FAILURES: u32 = 5;

/// Pause before retrying a failed dump; doubles with every failure.
const FAILURE_BACKOFF: Duration = Duration::from_millis(100);
/// Pause before retrying an interrupted dump; doubles up to [`INTERRUPTED_BACKOFF_MAX`]. The
/// first retry is quick because interruptions are usually a single concurrent change.
const INTERRUPTED_BACKOFF: Duration = Duration::from_millis(5);
const INTERRUPTED_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// Watches the kernel's tables and reports them on `events` until `cancel` fires.
///
/// Sends a [`KernelEvent::Snapshot`] first, then one event per notification, and a new
/// snapshot after any loss (see the module documentation). Returns `Ok(())` on cancellation
/// or when the broker's queue is closed (the broker is gone, so the daemon is stopping), and
/// an error when netlink sockets cannot be opened, the notification stream ends, or dumps fail
/// [`MAX_DUMP_FAILURES`] times in a row.
pub async fn run(events: EventSender, cancel: CancellationToken) -> Result<(), Error> {
    // Subscribe first, then dump: a change made between the two is then both in the dump and
    // notified, never in neither.
    let (mut _monitor, mut notifications) = subscribe()?;

    // A separate request socket, so dump replies never compete with notifications for one
    // receive buffer. It forwards the end-of-dump marker, which tells a complete dump from one
    // cut short by a broken connection.
    let (mut requests, handle, _) =
        rtnetlink::new_connection_with_socket::<NameSafeSocket>().map_err(Error::Socket)?;
    requests.set_forward_done(true);
    let _requests = AbortOnDrop(tokio::spawn(requests));

    let mut source = Source::new(events, handle);
    info!("rtnl: subscribed to kernel notifications; taking the initial dump");
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                debug!("rtnl: cancelled, netlink source stopping");
                return Ok(());
            }
            next = notifications.next() => {
                let Some((msg, _)) = next else {
                    return Err(Error::StreamEnded);
                };
                match source.on_message(msg) {
                    Flow::Continue => {}
                    Flow::BrokerGone => {
                        info!("rtnl: broker queue closed, netlink source stopping");
                        return Ok(());
                    }
                    Flow::Resubscribe => {
                        // The old socket's queue goes with it (see the module documentation).
                        (_monitor, notifications) = subscribe()?;
                        debug!("rtnl: subscribed again on a new socket after the overrun");
                    }
                }
            }
            progress = source.phase.progress() => {
                if source.on_progress(progress)? == Flow::BrokerGone {
                    info!("rtnl: broker queue closed, netlink source stopping");
                    return Ok(());
                }
            }
        }
    }
}

/// Whether the loop can go on.
#[derive(Debug, PartialEq, Eq)]
enum Flow {
    Continue,
    /// The broker's queue is closed.
    BrokerGone,
    /// The kernel dropped notifications: the monitor socket must be replaced before the
    /// resync's dump.
    Resubscribe,
}

type ReserveFuture =
    Pin<Box<dyn Future<Output = Result<OwnedPermit<Event>, SendError<()>>> + Send>>;
type DumpFuture = Pin<Box<dyn Future<Output = Result<netlink::Dump, Error>> + Send>>;

/// Where the source stands between "in sync" and "resyncing".
enum Phase {
    /// In sync: notifications go straight to the broker.
    Live,
    /// Notifications were lost: waiting for a free slot in the queue. Notifications read now
    /// are dropped, because the dump that follows starts after they were read and so includes
    /// their effect.
    WaitingForRoom(ReserveFuture),
    /// Holding the slot for the snapshot, pausing before another dump attempt (the last one
    /// failed or was interrupted). Notifications are dropped, for the same reason.
    Pausing {
        permit: OwnedPermit<Event>,
        sleep: Pin<Box<Sleep>>,
    },
    /// A dump is running. Notifications are buffered and delivered after the snapshot.
    Dumping {
        permit: OwnedPermit<Event>,
        dump: DumpFuture,
        buffer: Vec<KernelEvent>,
        /// Something was lost since this dump started: resync again after it.
        lost: bool,
    },
}

/// What the current phase's pending operation produced.
enum Progress {
    Room(Result<OwnedPermit<Event>, SendError<()>>),
    PauseOver,
    Dumped(Result<netlink::Dump, Error>),
}

impl Phase {
    /// Waits for the phase's pending operation. Cancel-safe: the futures live in the phase,
    /// and this only polls them, so a `select!` that picks another branch loses nothing.
    async fn progress(&mut self) -> Progress {
        match self {
            Phase::Live => std::future::pending().await,
            Phase::WaitingForRoom(reserve) => Progress::Room(reserve.await),
            Phase::Pausing { sleep, .. } => {
                sleep.as_mut().await;
                Progress::PauseOver
            }
            Phase::Dumping { dump, .. } => Progress::Dumped(dump.await),
        }
    }
}

/// Counters, logged with each resync.
#[derive(Debug, Default, Clone, Copy)]
struct Stats {
    /// Snapshots sent, the initial one included.
    snapshots: u64,
    /// Notifications dropped because the queue was full or a resync was pending.
    dropped: u64,
    /// `ENOBUFS` reports.
    overruns: u64,
    /// Dumps the kernel flagged as interrupted.
    interrupted: u64,
    /// Notifications that could not be converted.
    malformed: u64,
}

/// What a snapshot held, for its log line.
#[derive(Debug, Clone, Copy)]
struct Counts {
    links: usize,
    addresses: usize,
    routes: usize,
    rules: usize,
    /// Notifications buffered during the dump, sent after the snapshot.
    buffered: usize,
}

/// The state of the source between loop iterations.
struct Source {
    events: EventSender,
    handle: rtnetlink::Handle,
    phase: Phase,
    /// Failed dumps in a row.
    failures: u32,
    /// Interrupted dumps in a row.
    interruptions: u32,
    stats: Stats,
    /// Since when the broker's picture has been out of date, and why: the resync that ends
    /// it is logged with how long it took.
    stale: Option<(Instant, &'static str)>,
}

impl Source {
    fn new(events: EventSender, handle: rtnetlink::Handle) -> Self {
        // Start as if events had been lost: the first thing the broker gets is a snapshot.
        let phase = Phase::WaitingForRoom(Box::pin(events.clone().reserve_owned()));
        Self {
            events,
            handle,
            phase,
            failures: 0,
            interruptions: 0,
            stats: Stats::default(),
            stale: None,
        }
    }

    /// Handles one message from the monitor socket.
    fn on_message(&mut self, msg: NetlinkMessage<RouteNetlinkMessage>) -> Flow {
        match msg.payload {
            NetlinkPayload::InnerMessage(inner) => match translate(inner) {
                Translated::Event(event) => return self.deliver(event),
                Translated::Ignored => {}
                Translated::Malformed(what, msg) => {
                    self.stats.malformed += 1;
                    warn!("rtnl: dropping malformed {what} notification");
                    debug!(?msg, "rtnl: the malformed {what} notification");
                }
            },
            NetlinkPayload::Overrun(_) => {
                self.stats.overruns += 1;
                self.lost(
                    "the kernel reported a netlink overrun (ENOBUFS)",
                    "netlink overrun",
                );
                return Flow::Resubscribe;
            }
            other => trace!(?other, "rtnl: ignoring netlink control message"),
        }
        Flow::Continue
    }

    /// Passes one event on, or buffers or drops it, depending on the phase.
    fn deliver(&mut self, event: KernelEvent) -> Flow {
        match &mut self.phase {
            Phase::Live => match self.events.try_send(event.into()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.stats.dropped += 1;
                    self.lost("the broker's queue is full", "a full event queue");
                }
                Err(TrySendError::Closed(_)) => return Flow::BrokerGone,
            },
            Phase::WaitingForRoom(_) | Phase::Pausing { .. } => self.stats.dropped += 1,
            Phase::Dumping { buffer, lost, .. } => {
                if *lost {
                    self.stats.dropped += 1;
                } else if buffer.len() >= MAX_BUFFERED {
                    self.stats.dropped += 1;
                    *lost = true;
                    warn!(
                        max = MAX_BUFFERED,
                        "rtnl: more than {MAX_BUFFERED} notifications during a dump; will resync again"
                    );
                } else {
                    buffer.push(event);
                }
            }
        }
        Flow::Continue
    }

    /// Notifications were lost (`why`, in short `cause`): make sure a dump starts after this
    /// point.
    fn lost(&mut self, why: &str, cause: &'static str) {
        match &mut self.phase {
            Phase::Live => {
                warn!(
                    message_id = crate::messages::id::KERNEL_RESYNC,
                    reason = why,
                    "{}",
                    crate::messages::kernel_resync(why)
                );
                self.stale.get_or_insert((Instant::now(), cause));
                self.wait_for_room();
            }
            Phase::Dumping { lost, .. } => {
                if !*lost {
                    warn!("rtnl: {why} during a resync: will resync again after it");
                }
                *lost = true;
            }
            // No dump has started yet; the one that will covers the loss.
            Phase::WaitingForRoom(_) | Phase::Pausing { .. } => {
                debug!("rtnl: {why} while a resync is pending");
            }
        }
    }

    fn wait_for_room(&mut self) {
        self.phase = Phase::WaitingForRoom(Box::pin(self.events.clone().reserve_owned()));
    }

    fn start_dump(&mut self, permit: OwnedPermit<Event>) {
        let handle = self.handle.clone();
        self.phase = Phase::Dumping {
            permit,
            dump: Box::pin(async move { netlink::dump_once(&handle).await }),
            buffer: Vec::new(),
            lost: false,
        };
    }

    fn pause(&mut self, permit: OwnedPermit<Event>, duration: Duration) {
        self.phase = Phase::Pausing {
            permit,
            sleep: Box::pin(tokio::time::sleep(duration)),
        };
    }

    /// Moves the resync forward after its pending operation finished.
    fn on_progress(&mut self, progress: Progress) -> Result<Flow, Error> {
        match (progress, std::mem::replace(&mut self.phase, Phase::Live)) {
            (Progress::Room(Ok(permit)), _) => self.start_dump(permit),
            (Progress::Room(Err(_)), _) => return Ok(Flow::BrokerGone),
            (Progress::PauseOver, Phase::Pausing { permit, .. }) => self.start_dump(permit),
            (
                Progress::Dumped(result),
                Phase::Dumping {
                    permit,
                    buffer,
                    lost,
                    ..
                },
            ) => return self.on_dumped(result, permit, buffer, lost),
            // `progress` only reports what the current phase waits for; keep the phase as it
            // was if that ever changes.
            (_, phase) => self.phase = phase,
        }
        Ok(Flow::Continue)
    }

    fn on_dumped(
        &mut self,
        result: Result<netlink::Dump, Error>,
        permit: OwnedPermit<Event>,
        buffer: Vec<KernelEvent>,
        lost: bool,
    ) -> Result<Flow, Error> {
        let dump = match result {
            Ok(dump) if !dump.ended => Err(Error::DumpTruncated {
                what: "the kernel's tables",
            }),
            other => other,
        };
        let dump = match dump {
            Ok(dump) => dump,
            Err(e) => return self.on_dump_failed(e, permit),
        };
        self.failures = 0;

        if dump.interrupted {
            self.on_dump_interrupted(permit);
            return Ok(Flow::Continue);
        }
        self.interruptions = 0;

        let snapshot = dump.snapshot;
        self.stats.malformed += dump.malformed as u64;
        self.stats.snapshots += 1;
        let counts = Counts {
            links: snapshot.links.len(),
            addresses: snapshot.addresses.len(),
            routes: snapshot.routes.len(),
            rules: snapshot.rules.len(),
            buffered: buffer.len(),
        };
        // The held slot guarantees the snapshot gets in ahead of every buffered notification.
        let events = permit.send(KernelEvent::Snapshot(snapshot).into());
        let mut lost = lost;
        for event in buffer {
            if lost {
                self.stats.dropped += 1;
                continue;
            }
            match events.try_send(event.into()) {
                Ok(()) => {}
                Err(TrySendError::Full(_)) => {
                    self.stats.dropped += 1;
                    lost = true;
                }
                Err(TrySendError::Closed(_)) => return Ok(Flow::BrokerGone),
            }
        }
        self.log_snapshot_sent(&counts);
        if lost {
            warn!("rtnl: kernel notifications were lost during the resync, resyncing again");
            self.stale
                .get_or_insert((Instant::now(), "notifications lost during a resync"));
            self.wait_for_room();
        } else if let Some((since, cause)) = self.stale.take() {
            // From the loss to the moment the broker has the whole picture queued, across
            // every attempt it took.
            let ms = since.elapsed().as_millis();
            let Counts {
                links, addresses, ..
            } = counts;
            info!(
                links,
                addresses,
                duration_ms = ms,
                "kernel resync after {cause}: {links} links, {addresses} addresses in {ms} ms"
            );
        }
        Ok(Flow::Continue)
    }

    /// A dump failed: pause and try again, or give up after [`MAX_DUMP_FAILURES`] in a row.
    fn on_dump_failed(&mut self, e: Error, permit: OwnedPermit<Event>) -> Result<Flow, Error> {
        self.failures += 1;
        if self.failures >= MAX_DUMP_FAILURES {
            return Err(Error::DumpsFailing {
                attempts: self.failures,
                last: Box::new(e),
            });
        }
        let delay = FAILURE_BACKOFF * 2u32.pow(self.failures - 1);
        warn!(
            error = %e,
            failures = self.failures,
            ?delay,
            "rtnl: dump of the kernel's state failed ({} in a row), retrying in {delay:?}: {e}",
            self.failures
        );
        // The buffered notifications predate the next attempt, which will include
        // their effect.
        self.pause(permit, delay);
        Ok(Flow::Continue)
    }

    /// The kernel flagged the dump as interrupted: take it again after a short pause.
    fn on_dump_interrupted(&mut self, permit: OwnedPermit<Event>) {
        self.stats.interrupted += 1;
        self.interruptions += 1;
        let delay = INTERRUPTED_BACKOFF
            .saturating_mul(2u32.saturating_pow(self.interruptions - 1))
            .min(INTERRUPTED_BACKOFF_MAX);
        debug!(
            interruptions = self.interruptions,
            ?delay,
            "rtnl: dump interrupted by concurrent changes, taking it again"
        );
        self.pause(permit, delay);
    }

    /// Logs a snapshot sent: the first one briefly, every resync with the counters so far.
    fn log_snapshot_sent(&self, counts: &Counts) {
        let Counts {
            links,
            addresses,
            routes,
            rules,
            buffered,
        } = *counts;
        let stats = self.stats;
        if stats.snapshots == 1 {
            info!(
                links,
                addresses,
                routes,
                rules,
                "rtnl: initial kernel state sent: {links} link(s), {addresses} address(es), \
                 {routes} route(s), {rules} rule(s)"
            );
        } else {
            info!(
                links,
                addresses,
                routes,
                rules,
                buffered,
                resyncs = stats.snapshots - 1,
                dropped = stats.dropped,
                overruns = stats.overruns,
                interrupted = stats.interrupted,
                malformed = stats.malformed,
                "rtnl: resync {} done: {links} link(s), {addresses} address(es), {routes} \
                 route(s), {rules} rule(s); {} notification(s) dropped, {} overrun(s) so far",
                stats.snapshots - 1,
                stats.dropped,
                stats.overruns
            );
        }
    }
}

#[cfg(test)]
mod tests;
