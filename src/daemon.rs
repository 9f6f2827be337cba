//! Wiring: builds the sources, the broker, the effect actors and the bus service, runs them
//! until a signal or a lost subsystem ends the process, and reports the reason. Policy lives
//! in the broker; this file only connects the pieces and owns the process lifecycle.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use tokio::signal::unix::{signal, Signal, SignalKind};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tracing::{error, info, warn};

use crate::broker::{command, Broker, Effects, Outputs, Readers};
use crate::config::reload::RestartNeeded;
use crate::config::{Config, Generator};
use crate::error_chain::ErrorChain;
use crate::event::{Event, EventSender, EVENT_QUEUE_CAPACITY};
use crate::hooks;
use crate::logging::LogHandle;
use crate::model::Snapshot;
use crate::settings::Settings;
use crate::{dbus, messages, push, routing, source};

/// How long the bus name waits for the kernel's first dump.
const FIRST_DUMP_TIMEOUT: Duration = Duration::from_secs(10);

/// How long running hooks may go on after SIGTERM before they are stopped.
const HOOK_SHUTDOWN_GRACE: Duration = Duration::from_secs(5);

/// Why the daemon stopped other than by request.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Claiming the bus name failed.
    #[error(transparent)]
    Bus(#[from] dbus::Error),
    /// The signal handlers could not be installed.
    #[error("failed to install signal handlers")]
    Signals(#[source] std::io::Error),
    /// The kernel event source died; the view of the network can no longer be trusted.
    #[error("lost the kernel's event stream")]
    Netlink(#[source] crate::netlink::Error),
    /// The networkd source lost the bus.
    #[error("lost systemd-networkd's signals")]
    Networkd(#[source] source::networkd::Error),
    /// The lease source could not follow its files.
    #[error("cannot follow the dhclient lease files")]
    Leases(#[source] source::lease::Error),
    /// The policy-routing actor could not start.
    #[error("cannot start policy routing")]
    Routing(#[source] routing::Error),
    /// The connection to the system bus closed (dbus-daemon stopped or restarted). The name
    /// and the objects went with it; a fresh start claims them again on the new bus.
    #[error("lost the connection to the system bus")]
    BusLost,
    /// A long-lived task ended on its own.
    #[error("the {0} stopped unexpectedly")]
    TaskEnded(&'static str),
}

/// Runs the daemon with a validated configuration until SIGTERM/SIGINT (`Ok`) or until a
/// subsystem is lost (`Err`, so that systemd's `Restart=on-failure` brings us back).
///
/// `launch` says where the packages' hooks are and who executes hooks (the command line's
/// `--vendor-hook-dir` and `--hook-executor`).
pub async fn run(config: Config, launch: hooks::Launch, log: LogHandle) -> Result<(), Error> {
    // Administrators find where hooks go; failure (a read-only file system) is not fatal
    // because hooks are optional.
    if let Err(err) = hooks::discover::create_event_dirs(&config.dir) {
        warn!(
            dir = %config.dir.display(),
            error = %ErrorChain(&err),
            "cannot create the hook directories in {}: {}",
            config.dir.display(),
            ErrorChain(&err)
        );
    }
    // Created here rather than in `start` because a reload resizes its history.
    let stream = dbus::stream::EventStream::new(config.system.event_history);
    let (mut daemon, mut first, lease_files) =
        Daemon::start(&config, &launch, stream.clone()).await?;
    announce(&daemon.conn, &mut first, &config).await?;

    let mut in_force = InForce {
        config: config.clone(),
        launch,
        lease_files,
        log,
        stream,
    };
    let outcome = daemon.serve(&mut in_force).await;
    daemon.stop(outcome, &in_force).await
}

/// The SIGTERM, SIGINT and SIGHUP streams the main loop listens to.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

impl Signals {
    /// Installs the handlers, before the bus service starts as they always were: from then on
    /// SIGTERM and SIGINT go through the stop sequence instead of their default action.
    fn install() -> Result<Self, Error> {
        Ok(Self {
            terminate: signal(SignalKind::terminate()).map_err(Error::Signals)?,
            interrupt: signal(SignalKind::interrupt()).map_err(Error::Signals)?,
            hangup: signal(SignalKind::hangup()).map_err(Error::Signals)?,
        })
    }
}

/// The running daemon: what its main loop watches and what its stop sequence stops. Apart
/// from [`run`] so that starting, serving and stopping are each a function of their own.
///
/// The fields are declared in the reverse of the order they are created in, so that they
/// are dropped (in declaration order) as the locals of one function would be.
struct Daemon {
    lease_task: Option<JoinHandle<Result<(), source::lease::Error>>>,
    networkd_task: Option<JoinHandle<Result<(), source::networkd::Error>>>,
    netlink_task: JoinHandle<Result<(), crate::netlink::Error>>,
    broker_task: JoinHandle<()>,
    conn: zbus::Connection,
    reload_rx: command::ReloadReceiver,
    signals: Signals,
    events: EventSender,
    routing: routing::Handle,
    hooks: hooks::Handle,
    tasks: TaskTracker,
    cancel: CancellationToken,
}

/// What [`Daemon::start`] hands [`run`]: the daemon, the snapshots to claim the bus name on,
/// and the `LeaseFiles` the lease source follows (for the configuration in force).
type Started = (
    Daemon,
    watch::Receiver<Arc<Snapshot>>,
    watch::Sender<Vec<PathBuf>>,
);

impl Daemon {
    /// Wires the broker and its effect actors, serves the bus objects and starts the
    /// long-lived tasks.
    async fn start(
        config: &Config,
        launch: &hooks::Launch,
        stream: dbus::stream::EventStream,
    ) -> Result<Started, Error> {
        let cancel = CancellationToken::new();
        let tasks = TaskTracker::new();

        let settings = Settings::derive(config, launch);
        let wired = wire_broker(config, &settings).await?;
        let (hooks, routing) = (wired.hooks, wired.routing);
        let runtime_dir = config.system.runtime_dir.clone();
        let leases = config.system.generator == Generator::Dhclient;
        let snapshots = wired.readers.snapshots;
        hooks.follow(snapshots.clone());
        let (events, events_rx) = mpsc::channel(EVENT_QUEUE_CAPACITY);

        let signals = Signals::install()?;

        let notices = wired.readers.notices;
        let snapshots_for_claim = snapshots.clone();
        let hook_record = dbus::hook_record::SharedRecord::default();
        let (conn, commands_rx, reload_rx) = serve_bus(
            &snapshots,
            config.system.generator,
            hook_record.clone(),
            stream.clone(),
        )
        .await?;
        if let Some(actor) = wired.push_actor {
            actor.start(conn.clone());
        }

        let broker_task = tasks.spawn(wired.broker.run(events_rx, commands_rx, cancel.clone()));
        let netlink_task = tasks.spawn(source::netlink::run(events.clone(), cancel.clone()));
        // Only the configured generator's source runs: networkd's signals are not even
        // subscribed to when the kernel or leases drive the hooks.
        let networkd_task = (config.system.generator == Generator::SystemdNetworkd).then(|| {
            tasks.spawn(source::networkd::run(
                conn.clone(),
                events.clone(),
                cancel.clone(),
            ))
        });
        let (lease_files, lease_files_rx) = watch::channel(settings.lease_files.clone());
        let lease_task = leases.then(|| {
            tasks.spawn(source::lease::run(
                lease_files_rx,
                events.clone(),
                cancel.clone(),
            ))
        });
        tasks.spawn(dbus::publish::run(
            conn.clone(),
            snapshots.clone(),
            notices,
            hook_record.clone(),
            stream.clone(),
            cancel.clone(),
        ));
        tasks.spawn(crate::heap_trim::run(snapshots.clone(), cancel.clone()));
        tasks.spawn(dbus::publish::hook_results(
            conn.clone(),
            stream.clone(),
            wired.results_rx,
            snapshots,
            hook_record,
        ));
        tasks.spawn(hooks::dispatched_file::write_task(
            runtime_dir,
            wired.readers.dispatched,
        ));
        tasks.close();

        let daemon = Self {
            lease_task,
            networkd_task,
            netlink_task,
            broker_task,
            conn,
            reload_rx,
            signals,
            events,
            routing,
            hooks,
            tasks,
            cancel,
        };
        Ok((daemon, snapshots_for_claim, lease_files))
    }

    /// The main loop: reloads on SIGHUP or `Reload()` until a stop signal (`Ok`) or a lost
    /// subsystem (`Err`). Apart from [`Daemon::start`] and [`Daemon::stop`] because it is
    /// the one place that decides why the daemon stops.
    async fn serve(&mut self, in_force: &mut InForce) -> Result<(), Error> {
        let signals = &mut self.signals;
        loop {
            tokio::select! {
                _ = signals.terminate.recv() => { info!("SIGTERM received: network-broker stopping"); break Ok(()) }
                _ = signals.interrupt.recv() => { info!("SIGINT received: network-broker stopping"); break Ok(()) }
                _ = signals.hangup.recv() => {
                    info!("SIGHUP received: reloading the configuration");
                    let reloading = in_force.reload(&self.events);
                    if let Stop::Requested = unless_stopped(reloading, &mut signals.terminate, &mut signals.interrupt).await {
                        break Ok(());
                    }
                }
                Some(reply) = self.reload_rx.recv() => {
                    info!("reload requested on the bus (Reload()): reloading the configuration");
                    let reloading = in_force.reload(&self.events);
                    match unless_stopped(reloading, &mut signals.terminate, &mut signals.interrupt).await {
                        Stop::Done(result) => { let _ = reply.send(result); }
                        Stop::Requested => break Ok(()),
                    }
                }
                () = self.conn.closed() => break Err(Error::BusLost),
                ended = &mut self.netlink_task => break Err(match ended {
                    Ok(Err(err)) => Error::Netlink(err),
                    _ => Error::TaskEnded("kernel event source"),
                }),
                _ = &mut self.broker_task => break Err(Error::TaskEnded("broker")),
                ended = join_opt(self.networkd_task.as_mut()) => break Err(match ended {
                    Ok(Err(err)) => Error::Networkd(err),
                    _ => Error::TaskEnded("networkd source"),
                }),
                ended = join_opt(self.lease_task.as_mut()) => break Err(match ended {
                    Ok(Err(err)) => Error::Leases(err),
                    _ => Error::TaskEnded("lease source"),
                }),
            }
        }
    }

    /// The stop sequence, in its order: hooks first, then policy routing as the
    /// configuration in force says, then the remaining tasks; an error outcome is logged
    /// last. Apart from [`Daemon::serve`] because it runs the same whatever ended the loop.
    async fn stop(self, outcome: Result<(), Error>, in_force: &InForce) -> Result<(), Error> {
        let outcome = one_bus_failure(outcome, &self.conn);
        notify_systemd(&[sd_notify::NotifyState::Stopping]);
        self.cancel.cancel();
        drop(self.events);
        // Running hooks get a moment to finish; then their process groups are stopped so none
        // outlives the daemon.
        self.hooks.shutdown(HOOK_SHUTDOWN_GRACE).await;
        // Rules and routes stay by default so traffic keeps flowing across a restart. As the
        // configuration in force says, not the one the daemon started with.
        let on_stop = in_force.settings().routing.on_stop();
        stop_routing(&self.routing, on_stop).await;
        self.tasks.wait().await;
        drop(self.conn);
        if let Err(err) = &outcome {
            error!(
                error = %ErrorChain(err),
                "network-broker stopping on error: {}",
                ErrorChain(err)
            );
        }
        outcome
    }
}

/// Serves the bus objects over `snapshots` (the name is claimed later, by [`announce`]), and
/// returns the connection with the receiving ends of what its methods ask: commands for the
/// broker, `Reload()` for the main loop. Apart from [`Daemon::start`] to keep it short.
async fn serve_bus(
    snapshots: &watch::Receiver<Arc<Snapshot>>,
    generator: Generator,
    hook_record: dbus::hook_record::SharedRecord,
    stream: dbus::stream::EventStream,
) -> Result<
    (
        zbus::Connection,
        command::CommandReceiver,
        command::ReloadReceiver,
    ),
    Error,
> {
    let (commands, commands_rx) = command::channel();
    let (reloads, reload_rx) = command::reload_channel();
    let services = dbus::manager::Services {
        commands,
        reload: reloads,
        authorizer: std::sync::Arc::new(dbus::authz::Polkit::default()),
        stream,
    };
    let conn = dbus::serve(snapshots.clone(), generator, services, hook_record).await?;
    Ok((conn, commands_rx, reload_rx))
}

/// Claims the bus name once `first` shows the kernel's first dump (or after
/// [`FIRST_DUMP_TIMEOUT`]), then tells systemd and the log that the daemon runs. Apart from
/// [`Daemon::start`] because it is what makes the started daemon visible to its callers.
async fn announce(
    conn: &zbus::Connection,
    first: &mut watch::Receiver<Arc<Snapshot>>,
    config: &Config,
) -> Result<(), Error> {
    // Answer the first caller (possibly the one that activated us) with the links, not an
    // empty list: claim the name once the kernel's first dump is published.
    if tokio::time::timeout(FIRST_DUMP_TIMEOUT, first.wait_for(|s| !s.links.is_empty()))
        .await
        .is_err()
    {
        warn!(
            "no kernel dump after {} s; claiming the bus name anyway",
            FIRST_DUMP_TIMEOUT.as_secs()
        );
    }
    dbus::claim_name(conn).await?;
    info!(
        name = dbus::names::BUS_NAME,
        "claimed the bus name {}",
        dbus::names::BUS_NAME
    );

    notify_systemd(&[
        sd_notify::NotifyState::Ready,
        sd_notify::NotifyState::Status(messages::STATUS_RUNNING),
    ]);
    let links = first.borrow().links.len();
    let generator = config.system.generator.to_string();
    info!(
        message_id = messages::id::STARTED,
        version = env!("CARGO_PKG_VERSION"),
        generator = %generator,
        links,
        "{}",
        messages::started(env!("CARGO_PKG_VERSION"), &generator, links)
    );
    Ok(())
}

/// Whichever part noticed first (networkd's source watches the same connection), a closed
/// bus is one failure with one message, whatever the generator.
fn one_bus_failure(outcome: Result<(), Error>, conn: &zbus::Connection) -> Result<(), Error> {
    let outcome = match outcome {
        Err(_) if conn.is_closed() => Err(Error::BusLost),
        Err(Error::Networkd(
            source::networkd::Error::Receive(_) | source::networkd::Error::ConnectionClosed,
        )) => Err(Error::BusLost),
        other => other,
    };
    if matches!(outcome, Err(Error::BusLost)) {
        error!(
            "lost the connection to the system bus (dbus-daemon stopped or restarted): \
             stopping with a failure status so that the service manager starts the daemon \
             again on the new bus"
        );
    }
    outcome
}

/// Stops policy routing, removing our rules and routes when `on_stop` says so.
async fn stop_routing(routing: &routing::Handle, on_stop: routing::OnStop) {
    match routing.shutdown(on_stop).await {
        Ok(report) if report.summary().rules_removed + report.summary().routes_removed > 0 => {
            info!(
                summary = ?report.summary(),
                "policy routing removed on stop: {:?}",
                report.summary()
            )
        }
        Ok(_) => {}
        Err(err) => warn!(
            error = %ErrorChain(&err),
            "policy routing could not stop cleanly: {}",
            ErrorChain(&err)
        ),
    }
}

/// How a step of the main loop that may take a while ended.
enum Stop<T> {
    /// It completed.
    Done(T),
    /// SIGTERM or SIGINT came first: the step was abandoned and the daemon stops.
    Requested,
}

/// Runs `step` unless a stop signal arrives first. A reload reads a file on a blocking
/// thread, which a slow or hostile file system can hold up; SIGTERM must still be honoured
/// at once, so the main loop never waits on such a step alone.
async fn unless_stopped<T>(
    step: impl std::future::Future<Output = T>,
    terminate: &mut tokio::signal::unix::Signal,
    interrupt: &mut tokio::signal::unix::Signal,
) -> Stop<T> {
    tokio::select! {
        value = step => Stop::Done(value),
        _ = terminate.recv() => {
            warn!("SIGTERM received during a configuration reload, abandoning it and stopping");
            Stop::Requested
        }
        _ = interrupt.recv() => {
            warn!("SIGINT received during a configuration reload, abandoning it and stopping");
            Stop::Requested
        }
    }
}

/// Waits for an optional task; never completes when there is none.
async fn join_opt<T>(
    task: Option<&mut tokio::task::JoinHandle<T>>,
) -> Result<T, tokio::task::JoinError> {
    match task {
        Some(task) => task.await,
        None => std::future::pending().await,
    }
}

/// The broker and its effect actors, built and connected; what `run` starts and stops.
struct Wired {
    broker: Broker,
    hooks: hooks::Handle,
    routing: routing::Handle,
    /// The push actor, waiting for the bus connection (dhclient mode only).
    push_actor: Option<push::Unstarted>,
    readers: Readers,
    /// The hooks' results, for the bus's `HooksCompleted`.
    results_rx: mpsc::UnboundedReceiver<hooks::BatchResult>,
}

/// Starts the effect actors with `settings` (derived from `config`) and builds the broker over
/// them, from what earlier runs of the daemon dispatched during this boot.
async fn wire_broker(config: &Config, settings: &Settings) -> Result<Wired, Error> {
    let (results_tx, results_rx) = mpsc::unbounded_channel();
    let hooks = hooks::spawn(settings.hooks.clone(), results_tx);
    let dir = config.system.runtime_dir.clone();
    let dispatched = tokio::task::spawn_blocking(move || hooks::dispatched_file::load(&dir))
        .await
        .unwrap_or_default();
    // Always running, even with no link listed: its first pass sweeps rules and routes of ours
    // that a previous configuration left behind.
    let routing = routing::spawn(settings.routing.clone()).map_err(Error::Routing)?;
    // The push actor needs the bus connection, which exists only once the broker's snapshots
    // are being served: the broker gets its handle now, the actor its connection then.
    let leases = config.system.generator == Generator::Dhclient;
    let (push, push_actor) = match leases.then(push::unstarted) {
        Some((handle, actor)) => (Some(handle), Some(actor)),
        None => (None, None),
    };
    let effects = Effects {
        hooks: hooks.clone(),
        routing: routing.clone(),
        push,
    };
    let (outputs, readers) = Outputs::new(dispatched);
    Ok(Wired {
        broker: Broker::new(config.clone(), effects, outputs),
        hooks,
        routing,
        push_actor,
        readers,
        results_rx,
    })
}

/// The configuration in force and the parts a reload re-targets besides the broker: the
/// daemon is its one owner. It loads each new file, decides what takes effect
/// ([`crate::config::reload::accept`]), hands that to the broker, the lease source and the log
/// filter, and stops with it.
struct InForce {
    config: Config,
    /// How hooks are found and run beyond the file (fixed at start).
    launch: hooks::Launch,
    /// `LeaseFiles`, followed by the lease source (when the generator is dhclient).
    lease_files: watch::Sender<Vec<PathBuf>>,
    log: LogHandle,
    /// The Manager's event stream, whose history follows `EventHistory`.
    stream: dbus::stream::EventStream,
}

impl InForce {
    /// Every part's settings from the configuration in force.
    fn settings(&self) -> Settings {
        Settings::derive(&self.config, &self.launch)
    }

    /// Re-reads the configuration (SIGHUP or `Reload()`) and answers with the restart-only
    /// keys the file changed, which keep their running values. An invalid file is rejected
    /// with its error, which is also the reply to a bus caller, and the running configuration
    /// stays in force. Either way systemd's status line (`STATUS=`, shown by `systemctl
    /// status`) says which holds.
    async fn reload(
        &mut self,
        events: &EventSender,
    ) -> Result<Vec<RestartNeeded>, command::ReloadError> {
        let file = self.config.dir.join(crate::config::CONFIG_FILE_NAME);
        info!(
            config_file = %file.display(),
            "reloading the configuration from {}",
            file.display()
        );
        let dir = self.config.dir.clone();
        let loaded = tokio::task::spawn_blocking(move || Config::load(&dir)).await;
        match loaded {
            Ok(Ok(loaded)) => {
                let (config, kept) = crate::config::reload::accept(&self.config, loaded);
                for key in &kept {
                    warn!(
                        config_key = key.key,
                        running = %key.running,
                        configured = %key.configured,
                        "{}",
                        messages::restart_needed(key)
                    );
                }
                self.apply(config, events).await?;
                // The broker logs "configuration reloaded" when it has applied it.
                notify_systemd(&[sd_notify::NotifyState::Status(messages::STATUS_RUNNING)]);
                Ok(kept)
            }
            Ok(Err(err)) => {
                let rejection = messages::config_rejected(&err);
                log_rejection(&err, &rejection);
                Err(command::ReloadError::InvalidConfig(err))
            }
            Err(err) => {
                error!(
                    error = %err,
                    "reloading {} failed, keeping the old configuration: {err}",
                    file.display()
                );
                Err(command::ReloadError::Failed(err))
            }
        }
    }

    /// Puts `config` in force: the log level, the event history and the lease files here, the rest (hooks,
    /// routing, link selection, lease pushes) in the broker.
    async fn apply(
        &mut self,
        config: Config,
        events: &EventSender,
    ) -> Result<(), command::ReloadError> {
        let settings = Settings::derive(&config, &self.launch);
        self.log.set_level(settings.log_level);
        self.stream.set_capacity(settings.event_history).await;
        self.lease_files.send_if_modified(|files| {
            let changed = *files != settings.lease_files;
            if changed {
                files.clone_from(&settings.lease_files);
            }
            changed
        });
        if events
            .send(Event::ConfigReloaded(Box::new(config.clone())))
            .await
            .is_err()
        {
            warn!("the broker is gone: reload of the configuration dropped");
            return Err(command::ReloadError::Stopping);
        }
        self.config = config;
        Ok(())
    }
}

/// Logs a rejected configuration (with its `MESSAGE_ID`) and shows it as systemd's status line,
/// so that `systemctl status` says why the reload did nothing until a good one succeeds.
fn log_rejection(err: &crate::config::ConfigError, rejection: &str) {
    let text = messages::config_rejected_kept(rejection);
    let (file, line, column, key) = match err {
        crate::config::ConfigError::Invalid {
            path,
            position,
            key,
            ..
        } => (
            Some(path.display().to_string()),
            position.as_ref().map(|p| p.line),
            position.as_ref().map(|p| p.column),
            key.clone(),
        ),
        crate::config::ConfigError::Read { path, .. } => {
            (Some(path.display().to_string()), None, None, None)
        }
        _ => (None, None, None, None),
    };
    error!(
        message_id = messages::id::CONFIG_REJECTED,
        config_file = file.as_deref(),
        config_line = line,
        config_column = column,
        config_key = key.as_deref(),
        error = %ErrorChain(err),
        "{text}"
    );
    notify_systemd(&[sd_notify::NotifyState::Status(&text)]);
}

fn notify_systemd(states: &[sd_notify::NotifyState<'_>]) {
    if let Err(err) = sd_notify::notify(states) {
        warn!(error = %err, "failed to notify systemd: {err}");
    }
}
