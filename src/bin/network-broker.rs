//! The daemon's entry point: command line, configuration, logging, runtime, exit code.
//! Nothing else lives here.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use network_broker::config::{Config, CONFIG_FILE_NAME, DEFAULT_CONFIG_DIR};

use network_broker::daemon;
use network_broker::error_chain::ErrorChain;
use network_broker::hooks::{Executor, Launch, VENDOR_HOOK_DIR};
use network_broker::logging;

/// Threads for blocking work (file reads, hook discovery, saving the runtime state). Each is a
/// short local file operation; tokio's default of 512 let a burst of 4,096 links start 70
/// threads, each with its stack and a malloc arena, for no gain on a machine with a few CPUs
/// (docs/benchmarks.md, "Memory, 2026-12-03"). More work waits in the pool's queue.
const MAX_BLOCKING_THREADS: usize = 4;

/// How long, once the daemon has stopped, blocking work still running (a file read) may
/// delay the exit.
const BLOCKING_SHUTDOWN_TIMEOUT: Duration = Duration::from_millis(500);

/// Network event broker: runs hooks on link events, keeps per-link policy routing and
/// publishes link state as org.freedesktop.NetworkBroker1 on the system bus.
#[derive(Debug, Parser)]
#[command(name = "network-broker", version)]
struct Args {
    /// Directory holding network-broker.yaml and the <event>.d hook directories.
    #[arg(long, value_name = "DIR", default_value = DEFAULT_CONFIG_DIR)]
    config_dir: PathBuf,

    /// Validate the configuration, print the result and exit (0 valid, 1 invalid).
    #[arg(long)]
    check_config: bool,

    /// Hand hooks to the hook executor listening on this socket (the packaged unit's way:
    /// network-broker-executor.socket) instead of running them in this process.
    #[arg(long, value_name = "SOCKET")]
    hook_executor: Option<PathBuf>,

    /// The packages' hook directory, merged under the configuration directory's.
    #[arg(long, value_name = "DIR", default_value = VENDOR_HOOK_DIR)]
    vendor_hook_dir: PathBuf,
}

fn main() -> ExitCode {
    let args = Args::parse();
    let config = match Config::load(&args.config_dir) {
        Ok(config) => config,
        Err(err) => {
            eprintln!("network-broker: {}", ErrorChain(&err));
            return ExitCode::FAILURE;
        }
    };
    if args.check_config {
        let file = args.config_dir.join(CONFIG_FILE_NAME);
        if file.exists() {
            println!("{}: valid", file.display());
        } else {
            println!("{}: not found, the defaults apply", file.display());
        }
        return ExitCode::SUCCESS;
    }

    let log = match logging::init(config.system.log_level, config.system.log_format) {
        Ok(log) => log,
        Err(err) => {
            eprintln!("network-broker: {}", ErrorChain(&err));
            return ExitCode::FAILURE;
        }
    };
    // One thread runs every task: the daemon's work is short steps between syscalls, and
    // more workers only add wake-ups, futex traffic and a stack each (docs/benchmarks.md).
    // Blocking work (file reads, hook discovery) still goes to tokio's blocking pool.
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .max_blocking_threads(MAX_BLOCKING_THREADS)
        .build()
    {
        Ok(runtime) => runtime,
        Err(err) => {
            eprintln!("network-broker: failed to start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    let launch = Launch {
        // Hooks run with the privileges of whoever executes them (root, or the packaged
        // user's CAP_NET_ADMIN): whoever could write a hook could use them, so a hook must be
        // root's and writable by nobody else, whichever user the daemon runs as.
        enforce_ownership: true,
        vendor_dir: Some(args.vendor_hook_dir),
        executor: args
            .hook_executor
            .map_or(Executor::InProcess, Executor::Socket),
    };
    let outcome = runtime.block_on(daemon::run(config, launch, log));
    // A reload abandoned at SIGTERM may still sit in a blocking read; dropping the runtime
    // would wait for it without end.
    runtime.shutdown_timeout(BLOCKING_SHUTDOWN_TIMEOUT);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            // The daemon already logged the error; stderr also gets it for people running it
            // by hand with logging to the journal.
            eprintln!("network-broker: {}", ErrorChain(&err));
            ExitCode::FAILURE
        }
    }
}
