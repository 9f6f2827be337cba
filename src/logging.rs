//! Logging set-up: tracing to the journal when systemd started us (it sets `JOURNAL_STREAM`),
//! otherwise to stderr as text or JSON lines. The level can change on reload; the format
//! cannot (it is fixed when the subscriber is installed).

use std::io::IsTerminal;

use tracing_subscriber::filter::{LevelFilter, Targets};
use tracing_subscriber::layer::{Layered, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{reload, Layer, Registry};

use crate::config::{LogFormat, LogLevel};

/// The subscriber the output layer sits on: the registry under the reloadable filter.
type Filtered = Layered<reload::Layer<Targets, Registry>, Registry>;
/// The output layer, chosen at start-up.
type Output = Box<dyn Layer<Filtered> + Send + Sync>;

/// Lets the daemon change the log level after start-up.
pub struct LogHandle {
    filter: reload::Handle<Targets, Registry>,
}

/// Why logging could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A global subscriber was already installed (only possible in tests).
    #[error("failed to install the log subscriber")]
    Install(#[source] tracing_subscriber::util::TryInitError),
}

/// The filter for a level: our own messages at `level`, other crates' only from `warn` up,
/// since zbus and netlink are chatty at debug and their noise would drown ours. A `Targets`
/// filter, not an `EnvFilter`: it needs no regex engine in the binary (docs/benchmarks.md).
fn filter_for(level: LogLevel) -> Targets {
    let ours = level_filter(level);
    match level {
        LogLevel::Error | LogLevel::Warn => Targets::new().with_default(ours),
        LogLevel::Info | LogLevel::Debug | LogLevel::Trace => Targets::new()
            .with_default(LevelFilter::WARN)
            .with_target("network_broker", ours)
            .with_target("network_broker_ctl", ours),
    }
}

fn level_filter(level: LogLevel) -> LevelFilter {
    match level {
        LogLevel::Error => LevelFilter::ERROR,
        LogLevel::Warn => LevelFilter::WARN,
        LogLevel::Info => LevelFilter::INFO,
        LogLevel::Debug => LevelFilter::DEBUG,
        LogLevel::Trace => LevelFilter::TRACE,
    }
}

/// Installs the global subscriber.
pub fn init(level: LogLevel, format: LogFormat) -> Result<LogHandle, Error> {
    let (filter, handle) = reload::Layer::new(filter_for(level));
    let output: Output = match journald_layer() {
        Some(journald) => journald,
        None => match format {
            LogFormat::Text => Box::new(
                tracing_subscriber::fmt::layer()
                    .with_writer(std::io::stderr)
                    .with_target(false)
                    // Colour codes only for a person at a terminal, never in log files.
                    .with_ansi(std::io::stderr().is_terminal()),
            ),
            LogFormat::Json => Box::new(
                tracing_subscriber::fmt::layer()
                    .json()
                    .with_writer(std::io::stderr)
                    .with_current_span(false),
            ),
        },
    };
    Registry::default()
        .with(filter)
        .with(output)
        .try_init()
        .map_err(Error::Install)?;
    Ok(LogHandle { filter: handle })
}

/// The journal, when systemd connected our stderr to it; `None` otherwise (or when the journal
/// socket is missing, as in containers and the test lab).
///
/// Fields keep their own names, upper-cased (`ifname` is `IFNAME`), without tracing-journald's
/// default `F_` prefix: `message_id` must arrive as the journal's own `MESSAGE_ID` for
/// `journalctl -x` to find the catalog entry, and the catalog's `@IFNAME@` placeholders name
/// the fields. No field of ours is named like a journal field other than `MESSAGE_ID`
/// (docs/logging.md lists them).
fn journald_layer() -> Option<Output> {
    std::env::var_os("JOURNAL_STREAM")?;
    let layer = tracing_journald::layer()
        .ok()?
        .with_field_prefix(None)
        .with_syslog_identifier("network-broker".into());
    Some(Box::new(layer))
}

impl LogHandle {
    /// Applies a new level; failures only mean the old level stays.
    pub fn set_level(&self, level: LogLevel) {
        if let Err(err) = self.filter.reload(filter_for(level)) {
            tracing::warn!(error = %err, "failed to change the log level: {err}");
        }
    }
}
