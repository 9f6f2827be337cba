//! The command line of `network-brokerctl` (clap), from which the completions are generated.

use clap::{Parser, Subcommand};

use crate::json::Mode;

/// Query and control the network broker daemon over the system bus.
#[derive(Debug, Parser)]
#[command(name = "network-brokerctl", version)]
pub struct Args {
    /// JSON output for programs (docs/json.md): `pretty`, `short` (one line; the default of a
    /// bare `--json`) or `off`.
    #[arg(long, global = true, value_enum, num_args = 0..=1, require_equals = true,
          default_missing_value = "short", value_name = "MODE")]
    pub json: Option<Mode>,
    /// Leave out the column headers and the footer of tables.
    #[arg(long, global = true)]
    pub no_legend: bool,
    /// Do not pipe output into a pager.
    #[arg(long, global = true)]
    pub no_pager: bool,
    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// The system: overall and online state, generator, links by state, addresses, gateways,
    /// DNS (default).
    Status,
    /// Every link: index, name, type, operational state, setup state, addresses.
    Links,
    /// One link, by name or index, as `networkctl status LINK` shows one.
    Link {
        /// Interface name or index.
        link: String,
    },
    /// Live events with time and link name: links, addresses, routes, leases, hooks and
    /// property changes.
    Monitor {
        /// First print the events after event number N from the daemon's history (the
        /// `Sequence` of `--json`), then follow live, each event once. Warns when the history
        /// no longer reaches back that far.
        #[arg(long, value_name = "N")]
        since: Option<u64>,
    },
    /// Re-read the configuration (polkit: org.freedesktop.NetworkBroker1.reload).
    Reload,
    /// Every hook that would run, per event, in run order.
    Hooks,
    /// Run the hooks of EVENT for LINK now (polkit: org.freedesktop.NetworkBroker1.run-hooks).
    RunHooks {
        /// Interface name or index.
        link: String,
        /// Event: the hook directory's stem (routable, carrier, routes-modified, …).
        event: String,
        /// Run nothing; print the scripts and the exact environment (as sh input) and input
        /// they would get.
        #[arg(long)]
        dry_run: bool,
    },
    /// Policy routing: the rules and routes the configuration calls for next to the ones of
    /// ours the kernel has (ok, missing, stale).
    Routing,
    /// Print a shell completion script.
    Completions {
        /// bash, zsh, fish, elvish or powershell.
        shell: clap_complete::Shell,
    },
}
