//! systemd-networkd as an event source. This module owns the daemon's subscription to
//! networkd's signals on the system bus and the calls that read networkd's states; it turns
//! them into [`NetworkdEvent`]s for the broker. It decides nothing: which hooks run, for which
//! links, is the broker's business. It never calls networkd's methods that change anything.
//!
//! # Whom it believes
//!
//! Any connection on the bus can emit a signal with networkd's object path and interface, and
//! can send it straight to the daemon (a unicast signal is delivered whatever the match
//! rules say; zbus cannot check a well-known `sender=` itself). networkd-dispatcher trusted
//! such signals and ran `<state>.d` from their values (Nimbuspwn, CVE-2022-29799/29800). So:
//!
//! - The source tracks the *unique name* that owns `org.freedesktop.network1`: `GetNameOwner`
//!   at start, then `NameOwnerChanged`, accepted only when its sender is the bus itself
//!   (`org.freedesktop.DBus`); anyone can emit a signal named `NameOwnerChanged`.
//! - A `PropertiesChanged` is used only if its sender (the unique name the bus stamps on every
//!   message, which a client cannot forge) is that owner. Others, forged or from a previous
//!   owner, are dropped with a warning naming the sender (rate-limited, so a flood cannot fill
//!   the journal).
//! - States are read with calls addressed to the owner's unique name, never to the
//!   well-known name, so a read cannot silently reach a different process.
//! - Every value must be on networkd's fixed list ([`crate::model::networkd`]); every link path
//!   must be `/org/freedesktop/network1/link/_3N` in networkd's exact spelling. Anything else is
//!   logged (escaped, shortened) and dropped; it is never sent on, so it can never name a
//!   directory.
//!
//! # States at start and after restarts
//!
//! The subscriptions are made first; only then is the owner asked for, and only then are the
//! states read, so that no change falls between the read and the subscription. Whenever the
//! name gets an owner (at start if networkd runs, or when it (re)starts) the source reads the
//! manager's states (`GetAll`), the links (`ListLinks`) and each link's states (`GetAll`), and
//! sends [`NetworkdEvent::Snapshot`]. When the owner goes it sends [`NetworkdEvent::Vanished`]
//! (if the broker had states from networkd) and waits; the kernel source keeps the broker's
//! view of the links meanwhile. A failed read is retried with back-off while the owner stays.
//!
//! Changes received while a read is running are buffered and sent after the snapshot, in order;
//! those received before the reply that read their object are dropped, because the snapshot
//! already contains them (see [`wire::ReadMarks::is_newer`]). So each transition networkd reports
//! reaches the broker exactly once, in networkd's order, even across a restart.
//!
//! # Never stalling the bus connection
//!
//! The connection is the daemon's own, shared with its bus service, and zbus stops reading it
//! when a subscription's queue is full. So the loop always keeps reading its subscriptions:
//! events wait in an outbox while the broker's queue is full, and if the outbox overflows the
//! source drops it and reads a fresh snapshot instead, which replaces everything dropped.
//!
//! # Files
//!
//! This file is the loop and its state machine; beside it, [`wire`] holds the messages'
//! shapes and their checks (pure), `inbox` the two subscriptions read in order, `read` the
//! bus reads of the owner and the states, and `strangers` the limit on warnings about
//! signals from others.

mod inbox;
mod read;
mod strangers;
pub mod wire;

use std::collections::VecDeque;
use std::future::Future;
use std::num::NonZeroUsize;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{Instant, Sleep};
use tokio_util::sync::CancellationToken;
use tracing::{debug, info, warn};
use zbus::message::{Sequence, Type as MessageType};
use zbus::names::OwnedUniqueName;
use zbus::{Connection, MatchRule, Message, MessageStream};

use crate::error_chain::ErrorChain;
use crate::event::{EventSender, NetworkdEvent};

use inbox::{Inbox, Incoming};
use read::{read, resolve_owner, Owner, ReadError, Snapshot};
use strangers::WarnLimiter;
use wire::{
    Change, OwnerSignal, SenderCheck, Translation, BUS_NAME, DBUS_NAME, MANAGER_PATH,
    PROPERTIES_INTERFACE,
};

/// Capacity asked for each subscription's queue in zbus. The loop drains it continuously; the
/// margin covers bursts while the loop is busy with something else.
const SUBSCRIPTION_QUEUE: usize = 256;
/// Changes held while a snapshot is read. Beyond this the read starts over (which makes every
/// held change obsolete) instead of growing without bound.
const MAX_BUFFERED: usize = 1024;
/// Events held while the broker's queue is full. Beyond this they are dropped and replaced by
/// a fresh snapshot.
const MAX_OUTBOX: usize = 1024;
/// Pause before retrying a failed read; doubles up to [`READ_BACKOFF_MAX`].
const READ_BACKOFF: Duration = Duration::from_millis(100);
const READ_BACKOFF_MAX: Duration = Duration::from_secs(5);

/// Why the networkd source stopped.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The match rules could not be added.
    #[error("cannot subscribe to systemd-networkd's signals on the bus")]
    Subscribe(#[source] zbus::Error),
    /// The bus did not say who owns networkd's name.
    #[error("cannot ask the bus who owns {BUS_NAME}")]
    NameOwner(#[source] zbus::Error),
    /// Reading from the bus connection failed.
    #[error("lost the bus connection while reading networkd's signals")]
    Receive(#[source] zbus::Error),
    /// The bus connection closed.
    #[error("the bus connection closed")]
    ConnectionClosed,
}

/// Follows systemd-networkd on the bus `conn` and reports on `events` until `cancel` fires.
///
/// Sends a [`NetworkdEvent::Snapshot`] whenever networkd's name gets an owner (at start if it
/// runs), [`NetworkdEvent::Vanished`] when the owner goes, and one
/// [`NetworkdEvent::LinkChanged`] or [`NetworkdEvent::ManagerChanged`] per `PropertiesChanged`
/// that carries valid states, in the order networkd sent them (see the module documentation).
/// Returns `Ok(())` on cancellation or when the broker's queue is closed, and an error when the
/// subscriptions cannot be made, the bus does not answer who owns the name, or the
/// connection dies (the daemon then exits and systemd restarts it).
pub async fn run(
    conn: Connection,
    events: EventSender,
    cancel: CancellationToken,
) -> Result<(), Error> {
    // Subscribe first: everything after this point is in the streams.
    let mut inbox = subscribe(&conn).await?;
    let mut source = Source::new(conn);
    info!("networkd: subscribed to {BUS_NAME}'s signals; asking the bus for its owner");
    loop {
        tokio::select! {
            () = cancel.cancelled() => {
                debug!("networkd: cancelled, networkd source stopping");
                return Ok(());
            }
            incoming = inbox.next() => match incoming? {
                Incoming::Properties(msg) => source.on_properties(&msg),
                Incoming::Owner(msg) => source.on_owner_signal(&msg),
            },
            progress = source.pending.progress() => source.on_progress(progress)?,
            permit = events.reserve(), if !source.outbox.is_empty() => {
                let Ok(permit) = permit else {
                    info!("networkd: broker queue closed, networkd source stopping");
                    return Ok(());
                };
                if let Some(event) = source.outbox.pop_front() {
                    permit.send(event.into());
                }
            }
        }
    }
}

/// Adds both match rules with the bus and returns their merged stream.
async fn subscribe(conn: &Connection) -> Result<Inbox, Error> {
    let queue = NonZeroUsize::new(SUBSCRIPTION_QUEUE);
    // `sender=` makes the bus deliver only the current owner's broadcasts; the source still
    // checks each sender itself (see the module documentation).
    let properties = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(BUS_NAME)
        .interface(PROPERTIES_INTERFACE)
        .member("PropertiesChanged")
        .path_namespace(MANAGER_PATH)
        .build()
        .map_err(Error::Subscribe)?;
    let owners = MatchRule::builder()
        .msg_type(MessageType::Signal)
        .sender(DBUS_NAME)
        .path("/org/freedesktop/DBus")
        .interface(DBUS_NAME)
        .member("NameOwnerChanged")
        .arg(0, BUS_NAME)
        .build()
        .map_err(Error::Subscribe)?;
    let properties = MessageStream::for_match_rule(properties, conn, queue)
        .await
        .map_err(Error::Subscribe)?;
    let owners = MessageStream::for_match_rule(owners, conn, queue)
        .await
        .map_err(Error::Subscribe)?;
    Ok(Inbox::new(properties, owners))
}

type BoxFuture<T> = Pin<Box<dyn Future<Output = T> + Send>>;

/// The one bus operation the source waits for at a time.
enum Pending {
    /// Nothing: waiting for signals.
    Idle,
    /// Asking the bus who owns networkd's name (once, at start).
    Resolving(BoxFuture<Result<Owner, zbus::Error>>),
    /// Reading the owner's states.
    Reading(BoxFuture<Result<Snapshot, ReadError>>),
    /// Waiting before reading again after a failure.
    Pausing(Pin<Box<Sleep>>),
}

/// What the pending operation produced.
enum Progress {
    Resolved(Result<Owner, zbus::Error>),
    Read(Result<Snapshot, ReadError>),
    PauseOver,
}

impl Pending {
    /// Waits for the pending operation. Cancel-safe: the futures live in `self` and are only
    /// polled here.
    async fn progress(&mut self) -> Progress {
        match self {
            Pending::Idle => std::future::pending().await,
            Pending::Resolving(resolve) => Progress::Resolved(resolve.await),
            Pending::Reading(read) => Progress::Read(read.await),
            Pending::Pausing(sleep) => {
                sleep.as_mut().await;
                Progress::PauseOver
            }
        }
    }
}

/// The source between loop iterations.
struct Source {
    conn: Connection,
    pending: Pending,
    /// Whether the bus has answered who owns the name. Until then owner signals are held and
    /// change signals dropped (the first read starts after them, so it contains them).
    resolved: bool,
    held_owner_signals: Vec<Message>,
    /// The unique name that owns `org.freedesktop.network1`.
    owner: Option<OwnedUniqueName>,
    /// The owner's snapshot is in the outbox: its changes go straight after it.
    live: bool,
    /// Changes received while the snapshot is read, with their receive positions.
    buffer: Vec<(Sequence, Change)>,
    /// Events waiting for room in the broker's queue.
    outbox: VecDeque<NetworkdEvent>,
    /// Whether the broker holds networkd states (a snapshot was queued since the last
    /// `Vanished`), i.e. whether a `Vanished` means anything to it.
    broker_has_states: bool,
    /// Failed reads in a row, for the back-off.
    failures: u32,
    strangers: WarnLimiter,
}

impl Source {
    fn new(conn: Connection) -> Self {
        let resolve = Box::pin(resolve_owner(conn.clone()));
        Self {
            conn,
            pending: Pending::Resolving(resolve),
            resolved: false,
            held_owner_signals: Vec::new(),
            owner: None,
            live: false,
            buffer: Vec::new(),
            outbox: VecDeque::new(),
            broker_has_states: false,
            failures: 0,
            strangers: WarnLimiter::default(),
        }
    }

    /// A `PropertiesChanged` under networkd's path.
    fn on_properties(&mut self, msg: &Message) {
        if !self.resolved {
            debug!("networkd: change before the owner is known; the first read covers it");
            return;
        }
        // The sender first: a stranger's message is not even parsed.
        if let SenderCheck::NotOwner(sender) = wire::check_sender(msg, self.owner.as_ref()) {
            if self.strangers.allow(Instant::now()) {
                let owner = self.owner.as_ref().map_or("(none)", |o| o.as_str());
                let path = msg.header().path().map(|p| wire::shown(p.as_str()));
                warn!(
                    %sender,
                    %owner,
                    path = %path.as_deref().unwrap_or("(none)"),
                    "networkd: dropping PropertiesChanged from {sender} on {}, which does not own \
                     {BUS_NAME} (owner {owner})",
                    path.as_deref().unwrap_or("(none)")
                );
            }
            return;
        }
        let change = match wire::translate(msg) {
            Translation::Change(change) => change,
            Translation::Ignored(why) => {
                debug!(why, "networkd: ignoring a PropertiesChanged signal");
                return;
            }
            Translation::Rejected(what) => {
                warn!("networkd: dropping {what}");
                return;
            }
        };
        if !change.invalidated.is_empty() {
            // networkd 252 always sends values; if a state comes without one, its value must
            // be read, and a fresh snapshot is the one read that keeps the order right.
            info!(
                object = %change.object,
                properties = ?change.invalidated,
                "networkd: states {:?} of {} invalidated without values; reading the states again",
                change.invalidated,
                change.object
            );
            self.start_read();
            return;
        }
        if change.changed.is_empty() {
            return;
        }
        if self.live {
            if let Some(event) = change.into_event() {
                self.queue_change(event);
            }
        } else if matches!(self.pending, Pending::Reading(_)) {
            if self.buffer.len() >= MAX_BUFFERED {
                warn!(
                    max = MAX_BUFFERED,
                    "networkd: more than {MAX_BUFFERED} changes during a read; reading again"
                );
                self.start_read();
                return;
            }
            self.buffer.push((msg.recv_position(), change));
        } else {
            // Pausing before a retry: the next read starts after this, so it contains it.
            debug!("networkd: change while no read runs; the next read covers it");
        }
    }

    /// A `NameOwnerChanged` about `org.freedesktop.network1`.
    fn on_owner_signal(&mut self, msg: &Message) {
        if !self.resolved {
            self.held_owner_signals.push(msg.clone());
            return;
        }
        match wire::owner_signal(msg) {
            OwnerSignal::Changed { new } => self.set_owner(new, true),
            OwnerSignal::Forged(sender) => {
                if self.strangers.allow(Instant::now()) {
                    warn!(%sender, "networkd: dropping a NameOwnerChanged not sent by the bus");
                }
            }
            OwnerSignal::OtherName => {}
            OwnerSignal::Malformed(what) => {
                warn!(%what, "networkd: dropping a malformed NameOwnerChanged");
            }
        }
    }

    fn on_progress(&mut self, progress: Progress) -> Result<(), Error> {
        // The finished future must not be polled again.
        self.pending = Pending::Idle;
        match progress {
            Progress::Resolved(Err(err)) => return Err(Error::NameOwner(err)),
            Progress::Resolved(Ok(Owner { owner, position })) => {
                self.resolved = true;
                match &owner {
                    Some(owner) => info!(%owner, "networkd: {BUS_NAME} is on the bus as {owner}"),
                    None => info!(
                        "networkd: {BUS_NAME} is not on the bus; waiting for it (the kernel's \
                         view stands meanwhile)"
                    ),
                }
                self.set_owner(owner, false);
                // Owner changes received before the answer are already in it.
                for msg in std::mem::take(&mut self.held_owner_signals) {
                    if msg.recv_position() > position {
                        self.on_owner_signal(&msg);
                    }
                }
            }
            Progress::Read(Ok(snapshot)) => self.on_snapshot(snapshot),
            Progress::Read(Err(err)) => {
                self.failures = self.failures.saturating_add(1);
                let pause = backoff(self.failures);
                warn!(
                    error = %ErrorChain(&err),
                    attempt = self.failures,
                    retry_in = ?pause,
                    "networkd: reading networkd's states failed (attempt {}), retrying in \
                     {pause:?}: {}",
                    self.failures,
                    ErrorChain(&err)
                );
                self.buffer.clear();
                self.pending = Pending::Pausing(Box::pin(tokio::time::sleep(pause)));
            }
            Progress::PauseOver => self.start_read(),
        }
        Ok(())
    }

    /// The name has a new owner, or none; `changed` when the bus said so (not the first
    /// answer to who owns it, which is logged on its own).
    fn set_owner(&mut self, new: Option<OwnedUniqueName>, changed: bool) {
        if self.owner == new {
            return;
        }
        let old = std::mem::replace(&mut self.owner, new);
        if changed {
            let old = old.as_ref().map(|o| o.as_str());
            let new = self.owner.as_ref().map(|o| o.as_str());
            info!(
                message_id = crate::messages::id::NETWORKD_OWNER_CHANGED,
                old,
                new,
                "{}",
                crate::messages::networkd_owner_changed(BUS_NAME, old, new)
            );
        }
        self.live = false;
        self.buffer.clear();
        self.failures = 0;
        self.pending = Pending::Idle;
        match &self.owner {
            None => {
                if self.broker_has_states {
                    self.queue_complete(NetworkdEvent::Vanished);
                    self.broker_has_states = false;
                }
            }
            Some(_) => {
                self.start_read();
            }
        }
    }

    /// Starts reading the owner's states (again), dropping anything buffered: every change
    /// received so far is older than the replies of the new read.
    fn start_read(&mut self) {
        self.live = false;
        self.buffer.clear();
        self.pending = match &self.owner {
            Some(owner) => Pending::Reading(Box::pin(read(self.conn.clone(), owner.clone()))),
            None => Pending::Idle,
        };
    }

    fn on_snapshot(&mut self, snapshot: Snapshot) {
        let Snapshot {
            manager,
            links,
            marks,
        } = snapshot;
        info!(
            links = links.len(),
            manager = ?manager,
            "networkd: read networkd's states: {} link(s), manager {manager:?}",
            links.len()
        );
        self.failures = 0;
        self.live = true;
        self.broker_has_states = true;
        self.queue_complete(NetworkdEvent::Snapshot { manager, links });
        for (position, change) in std::mem::take(&mut self.buffer) {
            if !marks.is_newer(&position, change.object) {
                debug!(object = %change.object, "networkd: change already in the snapshot");
                continue;
            }
            if let Some(event) = change.into_event() {
                self.queue_change(event);
            }
            if !self.live {
                // The outbox overflowed and a new read started: it covers the rest.
                break;
            }
        }
    }

    /// Queues a change. If the broker has not taken [`MAX_OUTBOX`] events, they are dropped
    /// and a fresh snapshot is read to replace them.
    fn queue_change(&mut self, event: NetworkdEvent) {
        if self.outbox.len() < MAX_OUTBOX {
            self.outbox.push_back(event);
            return;
        }
        warn!(
            dropped = self.outbox.len() + 1,
            "networkd: the broker is not taking events; dropping {} and reading the states \
             again",
            self.outbox.len() + 1
        );
        self.outbox.clear();
        self.start_read();
    }

    /// Queues a snapshot or `Vanished`: each replaces everything before it, so on overflow
    /// the older events are dropped instead.
    fn queue_complete(&mut self, event: NetworkdEvent) {
        if self.outbox.len() >= MAX_OUTBOX {
            warn!(
                dropped = self.outbox.len(),
                "networkd: the broker is not taking events; dropping the {} a newer state replaces",
                self.outbox.len()
            );
            self.outbox.clear();
        }
        self.outbox.push_back(event);
    }
}

/// The back-off before read attempt `failures + 1`.
fn backoff(failures: u32) -> Duration {
    let doublings = failures.saturating_sub(1).min(16);
    READ_BACKOFF
        .saturating_mul(1 << doublings)
        .min(READ_BACKOFF_MAX)
}

#[cfg(test)]
mod tests;
