//! What the daemon's main log events say: their journal `MESSAGE_ID`s and their text.
//!
//! A journal line must read on its own (`journalctl` shows only `MESSAGE`), so the text names
//! its subject (hook, link, state, status, duration, file:line:column); the structured fields
//! stay beside it for machines. The texts are built by pure functions so that tests can check
//! the words, and the ids are the ones `systemd/network-broker.catalog` explains
//! (`journalctl -x`); docs/logging.md lists both.

use std::fmt;
use std::time::Duration;

use crate::config::reload::RestartNeeded;
use crate::config::ConfigError;

/// The journal `MESSAGE_ID` of each main event (128-bit, hex, no dashes). Never change one:
/// administrators filter on them (`journalctl MESSAGE_ID=...`) and the catalog is keyed by them.
pub mod id {
    /// The daemon started and owns its bus name.
    pub const STARTED: &str = "cdc3a9acb8fd4e739446a2f9dd166cef";
    /// A reloaded configuration was rejected; the old one stays in force.
    pub const CONFIG_REJECTED: &str = "0829df34f1f74ef1831c1339e2ff3079";
    /// A hook exited non-zero, was killed by a signal or could not be started.
    pub const HOOK_FAILED: &str = "5a0a3f7cdaf94629929cb9a96c07aebe";
    /// A hook ran into `HookTimeoutSec` and its process group was killed.
    pub const HOOK_TIMED_OUT: &str = "327f4aed4b814ee9b8a9324aec90843a";
    /// Another program deleted rules or routes of ours and they were put back.
    pub const ROUTING_REINSTALLED: &str = "d9e07f0376ba4f6fba9753363313fda1";
    /// systemd-networkd's bus name got a new owner or lost it.
    pub const NETWORKD_OWNER_CHANGED: &str = "68688924252e4f30be624a3fdf4001fa";
    /// Kernel notifications were lost (socket overrun); the kernel's state is read again.
    pub const KERNEL_RESYNC: &str = "b7aee414e5ec4e558661cbec24fcd6f1";

    /// Every id, for the tests that check the catalog covers them.
    pub const ALL: [&str; 7] = [
        STARTED,
        CONFIG_REJECTED,
        HOOK_FAILED,
        HOOK_TIMED_OUT,
        ROUTING_REINSTALLED,
        NETWORKD_OWNER_CHANGED,
        KERNEL_RESYNC,
    ];
}

/// The status line systemd shows (`STATUS=`) while the configuration in force is the file's.
pub const STATUS_RUNNING: &str = "running";

/// `network-broker 0.1.0 started (generator systemd-networkd, 3 links)`.
pub fn started(version: &str, generator: &str, links: usize) -> String {
    let plural = if links == 1 { "" } else { "s" };
    format!("network-broker {version} started (generator {generator}, {links} link{plural})")
}

/// Why a configuration was not taken, naming the file and where in it:
/// `configuration /etc/network-broker/network-broker.yaml:2:13 rejected: System.LogLevel: ...`.
/// This is the reply to `Reload()`, so `network-brokerctl reload` prints exactly this.
pub fn config_rejected(err: &ConfigError) -> String {
    match err {
        ConfigError::Invalid {
            path,
            position,
            message,
            ..
        } => {
            let at = position
                .as_ref()
                .map(|p| format!(":{}:{}", p.line, p.column))
                .unwrap_or_default();
            format!("configuration {}{at} rejected: {message}", path.display())
        }
        ConfigError::Read { path, error } => {
            format!(
                "configuration {} rejected: cannot read: {error}",
                path.display()
            )
        }
        other => format!("configuration rejected: {other}"),
    }
}

/// The journal line (and `STATUS=`) for a rejected reload: the rejection and its consequence.
pub fn config_rejected_kept(rejection: &str) -> String {
    format!("{rejection}; keeping the old one")
}

/// The journal line for a restart-only key a reload found changed (the reply to `Reload()`
/// carries the key's own text, without the consequence).
pub fn restart_needed(key: &RestartNeeded) -> String {
    format!("{key}; keeping {} until then", key.running)
}

/// A duration as people read it in a log: `12 ms` below a second, `1.5 s` or `60 s` above.
pub struct Elapsed(pub Duration);

impl fmt::Display for Elapsed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let ms = self.0.as_millis();
        if ms < 1000 {
            write!(f, "{ms} ms")
        } else if ms.is_multiple_of(1000) {
            write!(f, "{} s", ms / 1000)
        } else {
            write!(f, "{:.1} s", self.0.as_secs_f64())
        }
    }
}

/// Which hook ran for what: `hook 50-vpn for eth1 (routable)`, or `hook 10-up (manager)`
/// for the manager event, which is about no link.
#[derive(Debug, Clone, Copy)]
pub struct HookSubject<'a> {
    /// The script's file name.
    pub hook: &'a str,
    /// The link's name; `None` for the `manager` event.
    pub link: Option<&'a str>,
    /// The event (the directory stem: `routable`, `routes-modified`, ...).
    pub event: &'a str,
}

impl fmt::Display for HookSubject<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.link {
            Some(link) => write!(f, "hook {} for {link} ({})", self.hook, self.event),
            None => write!(f, "hook {} ({})", self.hook, self.event),
        }
    }
}

/// How a hook ended, as its journal line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HookEnd {
    /// Exit status 0.
    Succeeded,
    /// A non-zero exit status.
    Exited(u32),
    /// Killed by this signal (not by us).
    Signalled(u32),
    /// Ran into its timeout; its process group was killed.
    TimedOut(Duration),
    /// Stopped by us because the daemon is stopping.
    Stopped,
    /// Could not be started, or could not be waited for: the reason.
    Failed(String),
}

impl HookEnd {
    /// The `MESSAGE_ID` of this ending, if it is one of the main events.
    pub fn message_id(&self) -> Option<&'static str> {
        match self {
            HookEnd::Succeeded | HookEnd::Stopped => None,
            HookEnd::TimedOut(_) => Some(id::HOOK_TIMED_OUT),
            HookEnd::Exited(_) | HookEnd::Signalled(_) | HookEnd::Failed(_) => {
                Some(id::HOOK_FAILED)
            }
        }
    }
}

/// `hook 50-vpn for eth1 (routable) exited with status 1 after 12 ms`, and the like for
/// every other ending.
pub fn hook_ended(subject: &HookSubject<'_>, end: &HookEnd, elapsed: Duration) -> String {
    let after = Elapsed(elapsed);
    match end {
        HookEnd::Succeeded => format!("{subject} finished after {after}"),
        HookEnd::Exited(status) => format!("{subject} exited with status {status} after {after}"),
        HookEnd::Signalled(signal) => {
            format!("{subject} was killed by signal {signal} after {after}")
        }
        HookEnd::TimedOut(timeout) => {
            format!(
                "{subject} timed out after {} and was killed",
                Elapsed(*timeout)
            )
        }
        HookEnd::Stopped => format!("{subject} was stopped after {after}: the daemon is stopping"),
        HookEnd::Failed(reason) => format!("{subject} failed: {reason}"),
    }
}

/// `hooks for eth1 (routable): 2 ran, 1 failed`.
pub fn hooks_completed(link: Option<&str>, event: &str, ran: usize, failed: usize) -> String {
    match link {
        Some(link) => format!("hooks for {link} ({event}): {ran} ran, {failed} failed"),
        None => format!("hooks ({event}): {ran} ran, {failed} failed"),
    }
}

/// `policy routing re-installed after a foreign deletion: 2 rules or routes of ours put back ...`.
pub fn routing_reinstalled(restored: usize) -> String {
    format!(
        "routing: policy routing re-installed after a foreign deletion: {restored} rule(s) or \
         route(s) of ours were deleted by another program and have been put back; \
         systemd-networkd deletes them when it starts or reloads unless networkd.conf sets \
         ManageForeignRoutes=no and ManageForeignRoutingPolicyRules=no (see docs/routing.md); \
         re-installs are limited to one per second per link"
    )
}

/// systemd-networkd's bus name changed hands: appeared, moved or left.
pub fn networkd_owner_changed(name: &str, old: Option<&str>, new: Option<&str>) -> String {
    match (old, new) {
        (_, Some(new)) => match old {
            Some(old) => {
                format!("networkd: {name} has a new owner {new} (was {old}); reading its states")
            }
            None => format!("networkd: {name} appeared on the bus as {new}; reading its states"),
        },
        (Some(old), None) => format!("networkd: {name} left the bus (was {old})"),
        (None, None) => format!("networkd: {name} left the bus"),
    }
}

/// `rtnl: the notification socket overran: kernel notifications were lost, reading the
/// kernel's state again`.
pub fn kernel_resync(why: &str) -> String {
    format!("rtnl: {why}: kernel notifications were lost, reading the kernel's state again")
}

#[cfg(test)]
mod tests {
    use std::path::PathBuf;

    use super::*;
    use crate::config::Config;

    const FILE: &str = "/etc/network-broker/network-broker.yaml";

    fn subject(link: Option<&'static str>) -> HookSubject<'static> {
        HookSubject {
            hook: "50-vpn",
            link,
            event: "routable",
        }
    }

    #[test]
    fn hook_lines_name_hook_link_state_status_and_duration() {
        let ms = Duration::from_millis;
        let s = subject(Some("eth1"));
        assert_eq!(
            hook_ended(&s, &HookEnd::Exited(1), ms(12)),
            "hook 50-vpn for eth1 (routable) exited with status 1 after 12 ms"
        );
        assert_eq!(
            hook_ended(&s, &HookEnd::TimedOut(Duration::from_secs(60)), ms(62_010)),
            "hook 50-vpn for eth1 (routable) timed out after 60 s and was killed"
        );
        assert_eq!(
            hook_ended(&s, &HookEnd::Succeeded, ms(1500)),
            "hook 50-vpn for eth1 (routable) finished after 1.5 s"
        );
        assert_eq!(
            hook_ended(&s, &HookEnd::Signalled(9), ms(3)),
            "hook 50-vpn for eth1 (routable) was killed by signal 9 after 3 ms"
        );
        assert_eq!(
            hook_ended(
                &subject(None),
                &HookEnd::Failed("failed to start: EACCES".into()),
                ms(0)
            ),
            "hook 50-vpn (routable) failed: failed to start: EACCES"
        );
        assert_eq!(
            hooks_completed(Some("eth1"), "routable", 2, 1),
            "hooks for eth1 (routable): 2 ran, 1 failed"
        );
    }

    #[test]
    fn hook_endings_carry_the_catalog_ids() {
        assert_eq!(HookEnd::Exited(1).message_id(), Some(id::HOOK_FAILED));
        assert_eq!(HookEnd::Signalled(9).message_id(), Some(id::HOOK_FAILED));
        assert_eq!(
            HookEnd::TimedOut(Duration::from_secs(1)).message_id(),
            Some(id::HOOK_TIMED_OUT)
        );
        assert_eq!(HookEnd::Succeeded.message_id(), None);
    }

    #[test]
    fn a_rejected_configuration_names_file_line_column_key_and_error() {
        let err = Config::parse(
            "System:\n  LogLevel: verbose\n",
            &PathBuf::from(FILE),
            &PathBuf::from("/etc/network-broker"),
        )
        .err();
        let Some(err) = err else {
            panic!("an invalid LogLevel was accepted");
        };
        let text = config_rejected(&err);
        assert!(
            text.starts_with(&format!(
                "configuration {FILE}:2:13 rejected: System.LogLevel: "
            )),
            "{text}"
        );
        assert!(!text.contains('\n'), "{text}");
        assert_eq!(
            config_rejected_kept("configuration x rejected: y"),
            "configuration x rejected: y; keeping the old one"
        );
    }

    #[test]
    fn the_other_main_events_name_their_subject() {
        assert_eq!(
            started("0.1.0", "systemd-networkd", 3),
            "network-broker 0.1.0 started (generator systemd-networkd, 3 links)"
        );
        assert!(routing_reinstalled(2).contains("2 rule(s) or route(s)"));
        assert_eq!(
            networkd_owner_changed("org.freedesktop.network1", Some(":1.4"), Some(":1.9")),
            "networkd: org.freedesktop.network1 has a new owner :1.9 (was :1.4); reading its states"
        );
        assert_eq!(
            networkd_owner_changed("org.freedesktop.network1", Some(":1.4"), None),
            "networkd: org.freedesktop.network1 left the bus (was :1.4)"
        );
        assert!(
            kernel_resync("receive buffer overrun").starts_with("rtnl: receive buffer overrun: ")
        );
    }

    #[test]
    fn ids_are_distinct_128_bit_hex() {
        for (i, a) in id::ALL.iter().enumerate() {
            assert_eq!(a.len(), 32, "{a}");
            assert!(a
                .bytes()
                .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
            assert!(!id::ALL[i + 1..].contains(a), "{a} twice");
        }
    }
}
