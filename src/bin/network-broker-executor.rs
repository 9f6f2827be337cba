//! `network-broker-executor`: runs, as root, the hooks the unprivileged broker chose.
//!
//! Started by systemd on its socket (`network-broker-executor.socket`, `LISTEN_FDS`), or with
//! `--listen PATH` where there is no systemd. It serves one user's connections (the broker's,
//! `--allow-user`, checked by the kernel) and exits after `--idle-exit` seconds without one;
//! systemd starts it again on the next connection. The checks and the run are the library's
//! (`network_broker::hooks::executor::serve`).

use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use network_broker::config::{LogFormat, LogLevel, DEFAULT_CONFIG_DIR};
use network_broker::error_chain::ErrorChain;
use network_broker::hooks::executor::serve::{self, Policy};
use network_broker::hooks::VENDOR_HOOK_DIR;
use network_broker::logging;

#[derive(Debug, Parser)]
#[command(name = "network-broker-executor", version)]
struct Args {
    /// The only user whose connections are served: the broker's.
    #[arg(long, value_name = "USER", default_value = "network-broker")]
    allow_user: String,

    /// A directory whose `<event>.d/` hold hooks it may run; repeat for more.
    /// Default: /etc/network-broker and /usr/lib/network-broker.
    #[arg(long = "hook-dir", value_name = "DIR")]
    hook_dirs: Vec<PathBuf>,

    /// Listen on this socket path instead of the one systemd passes.
    #[arg(long, value_name = "PATH")]
    listen: Option<PathBuf>,

    /// Exit after this many seconds without a connection (0: never).
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    idle_exit: u64,
}

fn main() -> ExitCode {
    let args = Args::parse();
    if let Err(err) = logging::init(LogLevel::Info, LogFormat::Text) {
        eprintln!("network-broker-executor: {}", ErrorChain(&err));
        return ExitCode::FAILURE;
    }
    match run(args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!("{err:#}");
            eprintln!("network-broker-executor: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<()> {
    let user = nix::unistd::User::from_name(&args.allow_user)
        .map_err(|err| anyhow::anyhow!("cannot look up user {:?}: {err}", args.allow_user))?
        .ok_or_else(|| anyhow::anyhow!("--allow-user {:?}: no such user", args.allow_user))?;
    let hook_dirs = if args.hook_dirs.is_empty() {
        vec![
            PathBuf::from(DEFAULT_CONFIG_DIR),
            PathBuf::from(VENDOR_HOOK_DIR),
        ]
    } else {
        args.hook_dirs
    };
    let policy = Policy {
        allowed_uid: user.uid.as_raw(),
        hook_dirs,
        idle_exit: (args.idle_exit > 0).then(|| Duration::from_secs(args.idle_exit)),
    };
    let listener = match &args.listen {
        Some(path) => bind(path, user.uid.as_raw())?,
        None => listenfd::ListenFd::from_env()
            .take_unix_listener(0)
            .map_err(|err| anyhow::anyhow!("cannot take the socket systemd passed: {err}"))?
            .ok_or_else(|| {
                anyhow::anyhow!("no socket from systemd (LISTEN_FDS) and no --listen PATH")
            })?,
    };
    listener.set_nonblocking(true)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let listener = tokio::net::UnixListener::from_std(listener)?;
        let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
        let shutdown = async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        };
        tracing::info!(
            uid = policy.allowed_uid,
            "hook executor serving uid {} ({})",
            policy.allowed_uid,
            args.allow_user
        );
        serve::serve(listener, policy, shutdown).await;
        Ok(())
    })
}

/// A listening socket at `path` that only root and `uid` can connect to (mode 0600, owned by
/// `uid`): the kernel's peer check is the real gate, the mode keeps others from even trying.
fn bind(path: &std::path::Path, uid: u32) -> anyhow::Result<std::os::unix::net::UnixListener> {
    match std::fs::remove_file(path) {
        Ok(()) => {}
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {}
        Err(err) => anyhow::bail!("cannot remove the old socket {}: {err}", path.display()),
    }
    let listener = std::os::unix::net::UnixListener::bind(path)
        .map_err(|err| anyhow::anyhow!("cannot listen on {}: {err}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))?;
    rustix::fs::chown(path, Some(rustix::fs::Uid::from_raw(uid)), None)?;
    Ok(listener)
}
