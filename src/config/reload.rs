//! Which keys a reload may change. Every key of the file either takes effect on reload or
//! needs a restart; this module is where that line is drawn. [`accept`] takes the running
//! configuration and the one just loaded and returns the one to put in force: the
//! restart-only keys keep their running values, and each of them that the file changed is
//! listed ([`RestartNeeded`]) so that the daemon can say so in its log and in the reply to
//! `Reload()` (docs/configuration.md, "Reloading").

use std::fmt;

use super::Config;

/// The keys a reload leaves at their running values, as docs/configuration.md lists them.
pub const RESTART_KEYS: [&str; 4] = [
    "System.Generator",
    "System.LogFormat",
    "System.StartupTriggers",
    "System.RuntimeDirectory",
];

/// A restart-only key whose value in the file differs from the running one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RestartNeeded {
    /// The dotted key, one of [`RESTART_KEYS`].
    pub key: &'static str,
    /// The value in force, as the file spells it.
    pub running: String,
    /// The value in the file.
    pub configured: String,
}

impl fmt::Display for RestartNeeded {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} changed from {} to {}: takes effect after a restart",
            self.key, self.running, self.configured
        )
    }
}

/// The configuration to put in force after a reload that loaded `loaded` while `running` is
/// in force, and the restart-only keys the file changed.
///
/// The sources are chosen at start-up (switching them live would lose the state the old one
/// built up); the log format is fixed when the subscriber is installed (src/logging.rs); the
/// startup triggers have run by then; and the runtime directory is where this run keeps its
/// memory, in a place the service manager prepared (`RuntimeDirectory=` in
/// systemd/network-broker.service), so it moves with the next start rather than mid-run.
pub fn accept(running: &Config, mut loaded: Config) -> (Config, Vec<RestartNeeded>) {
    let mut kept = Vec::new();
    let (old, new) = (&running.system, &mut loaded.system);
    keep(
        &mut kept,
        RESTART_KEYS[0],
        &old.generator,
        &mut new.generator,
    );
    keep(
        &mut kept,
        RESTART_KEYS[1],
        &old.log_format,
        &mut new.log_format,
    );
    keep(
        &mut kept,
        RESTART_KEYS[2],
        &old.startup_triggers,
        &mut new.startup_triggers,
    );
    keep_path(
        &mut kept,
        RESTART_KEYS[3],
        &old.runtime_dir,
        &mut new.runtime_dir,
    );
    (loaded, kept)
}

/// Puts `running` back into `configured` when they differ, and records that.
fn keep<T: PartialEq + Clone + fmt::Display>(
    kept: &mut Vec<RestartNeeded>,
    key: &'static str,
    running: &T,
    configured: &mut T,
) {
    if running != configured {
        kept.push(RestartNeeded {
            key,
            running: running.to_string(),
            configured: configured.to_string(),
        });
        *configured = running.clone();
    }
}

/// [`keep`] for a path, which has no `Display` of its own.
fn keep_path(
    kept: &mut Vec<RestartNeeded>,
    key: &'static str,
    running: &std::path::PathBuf,
    configured: &mut std::path::PathBuf,
) {
    if running != configured {
        kept.push(RestartNeeded {
            key,
            running: running.display().to_string(),
            configured: configured.display().to_string(),
        });
        configured.clone_from(running);
    }
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::Duration;

    use super::*;
    use crate::config::{Generator, LogFormat, LogLevel};

    fn defaults() -> Config {
        Config::defaults(Path::new("/etc/network-broker"))
    }

    #[test]
    fn reloadable_keys_pass_through_and_nothing_is_reported() {
        let running = defaults();
        let mut loaded = defaults();
        loaded.system.log_level = LogLevel::Debug;
        loaded.system.hook_timeout = Duration::from_secs(5);
        loaded.system.hook_backlog = 3;
        loaded.network.links = Some(vec!["eth1".to_owned()]);
        loaded.network.routing_policy_rules = vec!["eth1".to_owned()];
        loaded.network.emit_json = false;
        loaded.network.use_dns = true;
        loaded.network.use_domain = true;
        loaded.network.use_hostname = true;
        loaded.network.lease_files = vec![PathBuf::from("/tmp/x.leases")];
        loaded.network.remove_routing_on_stop = true;
        loaded.network.route_table_base = 2000;
        let (accepted, kept) = accept(&running, loaded.clone());
        assert_eq!(accepted, loaded);
        assert!(kept.is_empty(), "{kept:?}");
    }

    #[test]
    fn restart_keys_keep_their_running_values_and_are_reported() {
        let running = defaults();
        let mut loaded = defaults();
        loaded.system.generator = Generator::Dhclient;
        loaded.system.log_format = LogFormat::Json;
        loaded.system.startup_triggers = false;
        loaded.system.runtime_dir = PathBuf::from("/run/elsewhere");
        loaded.network.use_dns = true;
        let (accepted, kept) = accept(&running, loaded);
        assert_eq!(accepted.system, running.system);
        assert!(accepted.network.use_dns, "the reloadable key still applies");
        let keys: Vec<&str> = kept.iter().map(|k| k.key).collect();
        assert_eq!(keys, RESTART_KEYS);
        assert_eq!(
            kept[0].to_string(),
            "System.Generator changed from systemd-networkd to dhclient: takes effect after a \
             restart"
        );
        assert_eq!(kept[3].configured, "/run/elsewhere");
    }
}
