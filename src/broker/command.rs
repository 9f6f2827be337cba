//! Requests to the broker from the bus adapter, each with its own reply channel. The adapter
//! validates and authorises; the broker answers from its state, never blocking its loop (work
//! that takes time is awaited in a task of its own).

use tokio::sync::{mpsc, oneshot};

use crate::config::reload::RestartNeeded;
use crate::config::ConfigError;
#[cfg(test)]
use crate::hooks::Request;
pub use crate::hooks::{BatchResult, HookEvent, ListedHook};
use crate::hooks::{DryRun, DryRunError, InvalidEventName};
use crate::model::{Address, IfIndex};
use crate::routing;

/// What the bus can ask of the broker.
#[derive(Debug)]
pub enum Command {
    /// Build the hook request an event of this link would get now, without running it (what
    /// `RunHooks` and `DryRunHooks` start from; tests look at it directly).
    #[cfg(test)]
    PrepareHooks(HookAsk<Request>),
    /// Run the hooks of an event for a link now, as if the event had happened, and answer
    /// with their outcome once every script ran.
    RunHooks(HookAsk<BatchResult>),
    /// What `RunHooks` would do now, without running anything: the scripts and the exact
    /// environment and standard input they would get.
    DryRunHooks(HookAsk<DryRun>),
    /// Every hook that would run now, per event in run order (`ListHooks`).
    ListHooks(oneshot::Sender<Result<Vec<ListedHook>, CommandError>>),
    /// Policy routing.
    Routing(RoutingCommand),
}

/// A command about the hooks of one event of one link, and where its answer goes.
#[derive(Debug)]
pub struct HookAsk<T> {
    /// The event.
    pub event: HookEvent,
    /// The link.
    pub index: IfIndex,
    /// The answer, or why there is none.
    pub reply: oneshot::Sender<Result<T, CommandError>>,
}

/// Requests for the policy-routing actor, passed through the broker because it owns the
/// handle.
#[derive(Debug)]
pub enum RoutingCommand {
    /// Reconcile now (`ReconcileRouting()`), answering with what was done.
    Reconcile(oneshot::Sender<Result<crate::routing::apply::Report, CommandError>>),
    /// Desired and actual rules and routes (`network-brokerctl routing`).
    Status(oneshot::Sender<Result<crate::routing::Status, CommandError>>),
}

/// Why the broker could not do what was asked; `crate::dbus::error` maps each to a named
/// error.
#[derive(Debug, thiserror::Error)]
pub enum CommandError {
    /// No link has this index.
    #[error("no link with index {0}")]
    NoSuchLink(IfIndex),
    /// The event name is not a plain name of `a-z`, `0-9` and `-`.
    #[error("invalid event name {0:?}")]
    InvalidEvent(String),
    /// The daemon is stopping.
    #[error("the daemon is stopping")]
    Stopping,
    /// Policy routing failed.
    #[error("policy routing failed")]
    Routing(#[source] routing::Error),
    /// The hooks could not be described (their directory could not be read).
    #[error("cannot describe the hooks")]
    Hooks(#[source] DryRunError),
    /// The hooks could not be listed (a directory could not be read).
    #[error("cannot list the hooks")]
    ListHooks(#[source] crate::hooks::Error),
}

/// Errors of the actors compare by what they say (their sources, I/O errors among them, have
/// no equality); the others by value.
impl PartialEq for CommandError {
    fn eq(&self, other: &Self) -> bool {
        use CommandError::*;
        match (self, other) {
            (NoSuchLink(a), NoSuchLink(b)) => a == b,
            (InvalidEvent(a), InvalidEvent(b)) => a == b,
            (Stopping, Stopping) => true,
            (Routing(a), Routing(b)) => a.to_string() == b.to_string(),
            (Hooks(a), Hooks(b)) => a.to_string() == b.to_string(),
            (ListHooks(a), ListHooks(b)) => a.to_string() == b.to_string(),
            _ => false,
        }
    }
}

impl Eq for CommandError {}

impl From<InvalidEventName> for CommandError {
    fn from(InvalidEventName(name): InvalidEventName) -> Self {
        CommandError::InvalidEvent(name)
    }
}

/// Why a reload request (`Reload()`) changed nothing.
#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    /// The configuration on disk is invalid; the running one stays in force.
    #[error("configuration rejected")]
    InvalidConfig(#[source] ConfigError),
    /// The daemon is stopping.
    #[error("the daemon is stopping")]
    Stopping,
    /// Reading the configuration could not be carried out (its task failed).
    #[error("configuration reload failed")]
    Failed(#[source] tokio::task::JoinError),
}

/// A reload request: the daemon re-reads its configuration (as on SIGHUP) and answers with
/// the restart-only keys the file changed (none when every change took effect).
pub type ReloadReply = oneshot::Sender<Result<Vec<RestartNeeded>, ReloadError>>;

/// The bus adapter's end of reload requests; the daemon's main loop holds the other end.
#[derive(Debug, Clone)]
pub struct ReloadSender(mpsc::Sender<ReloadReply>);

/// The daemon's end.
pub type ReloadReceiver = mpsc::Receiver<ReloadReply>;

/// A reload channel.
pub fn reload_channel() -> (ReloadSender, ReloadReceiver) {
    let (tx, rx) = mpsc::channel(4);
    (ReloadSender(tx), rx)
}

impl ReloadSender {
    /// Asks the daemon to reload and waits for the outcome.
    pub async fn reload(&self) -> Result<Vec<RestartNeeded>, ReloadError> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(reply)
            .await
            .map_err(|_| ReloadError::Stopping)?;
        answer.await.map_err(|_| ReloadError::Stopping)?
    }
}

/// The bus adapter's end: cloneable, one method per command.
#[derive(Debug, Clone)]
pub struct CommandSender(mpsc::Sender<Command>);

/// The broker's end.
pub type CommandReceiver = mpsc::Receiver<Command>;

/// A command channel; a handful of outstanding commands is plenty for a bus adapter.
pub fn channel() -> (CommandSender, CommandReceiver) {
    let (tx, rx) = mpsc::channel(32);
    (CommandSender(tx), rx)
}

impl CommandSender {
    /// See [`Command::PrepareHooks`].
    #[cfg(test)]
    pub async fn prepare_hooks(
        &self,
        event: &str,
        index: IfIndex,
    ) -> Result<Request, CommandError> {
        let event = HookEvent::parse(event)?;
        self.ask(|reply| {
            Command::PrepareHooks(HookAsk {
                event,
                index,
                reply,
            })
        })
        .await
    }

    /// See [`Command::RunHooks`].
    pub async fn run_hooks(
        &self,
        event: &str,
        index: IfIndex,
    ) -> Result<BatchResult, CommandError> {
        let event = HookEvent::parse(event)?;
        self.ask(|reply| {
            Command::RunHooks(HookAsk {
                event,
                index,
                reply,
            })
        })
        .await
    }

    /// See [`Command::DryRunHooks`].
    pub async fn dry_run_hooks(&self, event: &str, index: IfIndex) -> Result<DryRun, CommandError> {
        let event = HookEvent::parse(event)?;
        self.ask(|reply| {
            Command::DryRunHooks(HookAsk {
                event,
                index,
                reply,
            })
        })
        .await
    }

    /// See [`Command::ListHooks`].
    pub async fn list_hooks(&self) -> Result<Vec<ListedHook>, CommandError> {
        self.ask(Command::ListHooks).await
    }

    /// See [`RoutingCommand::Reconcile`].
    pub async fn reconcile_routing(&self) -> Result<crate::routing::apply::Report, CommandError> {
        self.ask(|reply| Command::Routing(RoutingCommand::Reconcile(reply)))
            .await
    }

    /// See [`RoutingCommand::Status`].
    pub async fn routing_status(&self) -> Result<crate::routing::Status, CommandError> {
        self.ask(|reply| Command::Routing(RoutingCommand::Status(reply)))
            .await
    }

    async fn ask<T>(
        &self,
        command: impl FnOnce(oneshot::Sender<Result<T, CommandError>>) -> Command,
    ) -> Result<T, CommandError> {
        let (reply, answer) = oneshot::channel();
        self.0
            .send(command(reply))
            .await
            .map_err(|_| CommandError::Stopping)?;
        answer.await.map_err(|_| CommandError::Stopping)?
    }
}

/// Happenings the broker decides on that the bus announces as signals (past tense, no reply).
///
/// They are the broker's change stream: one notice per change, in the order the broker applied
/// them, sent before the snapshot that contains them is published. Snapshots may coalesce (a
/// reader only needs the latest state); these may not, because a subscriber counts them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// A link's routes changed and have been quiet since: once per settled burst, at the
    /// moment `routes-modified.d` would run (whether or not the link is selected for hooks).
    RoutesModified(IfIndex),
    /// A link appeared, with the name it had then.
    LinkAdded(IfIndex, String),
    /// A link disappeared, with its last name.
    LinkRemoved(IfIndex, String),
    /// An address appeared on a link.
    AddressAdded(IfIndex, Address),
    /// An address disappeared from a link.
    AddressRemoved(IfIndex, Address),
}
