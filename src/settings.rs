//! The one place a [`Config`] becomes the settings of each part that runs: the hook runner,
//! policy routing, the lease source and the log filter. The daemon derives them at start and
//! at every reload, the broker when it applies a reload; all from the configuration in force
//! (what [`crate::config::reload::accept`] let through), so no part keeps a copy of an older
//! one.

use std::path::PathBuf;

use crate::config::{Config, LogLevel};
use crate::{hooks, routing};

/// Every part's settings from one configuration.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The hook runner's.
    pub hooks: hooks::Settings,
    /// Policy routing's, with no lease routers yet (the broker adds those it learned).
    pub routing: routing::Settings,
    /// `LeaseFiles`, for the lease source.
    pub lease_files: Vec<PathBuf>,
    /// `LogLevel` (with its environment override).
    pub log_level: LogLevel,
    /// `EventHistory`, for the Manager's event stream.
    pub event_history: usize,
}

impl Settings {
    /// The settings `config` gives. `launch`: how hooks are found and run beyond the file
    /// (ownership enforcement, always in the daemon; the vendor directory; the executor).
    pub fn derive(config: &Config, launch: &hooks::Launch) -> Self {
        Settings {
            hooks: hooks::Settings::from_config(config, launch),
            routing: routing_settings(config),
            lease_files: config.network.lease_files.clone(),
            log_level: config.system.log_level,
            event_history: config.system.event_history,
        }
    }
}

/// Policy routing's settings from `config`, with no lease routers (the broker adds those).
pub fn routing_settings(config: &Config) -> routing::Settings {
    routing::Settings::from_config(config)
}
