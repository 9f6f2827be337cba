//! The environment and standard input of a hook, built from a [`Request`] and the [`Settings`].
//!
//! Pure: no I/O, no logging, and above all never the daemon's own environment. Hooks get a clean
//! environment built from scratch (as NetworkManager's dispatcher does), so nothing the daemon
//! was started with (`LD_PRELOAD`, `DBUS_SYSTEM_BUS_ADDRESS`, `NOTIFY_SOCKET`, …) leaks into them.
//! The link's JSON goes to standard input always and to `JSON` only while it fits. Every other
//! value is capped at [`MAX_VAR_LEN`] (marked `<NAME>_TRUNCATED=1`) and the whole environment
//! kept within [`ENV_BUDGET`], because a string or a total the kernel refuses makes `execve`
//! fail with `E2BIG` and the hook would not run at all (12,000 addresses on one link did that).

use std::collections::BTreeMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::Arc;

use super::json::json_document;
pub use super::json::json_for;
use super::networkd::NetworkdFiles;
use super::{Request, Settings};
use crate::model::{Lease, LinkView};

/// `PATH` given to every hook.
pub const PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// The kernel's limit on one argument or environment string including its NUL
/// (`MAX_ARG_STRLEN`, 32 pages; 4 KiB pages assumed, the smallest Linux uses).
pub const MAX_ARG_STRLEN: usize = 32 * 4096;

/// What the kernel accepts for the argument and environment strings of one `execve`
/// together, with their pointers, whatever the stack limit: a quarter of `RLIMIT_STACK`, but
/// never less than `ARG_MAX`, 32 pages. Counting on more would make hooks fail with `E2BIG`
/// under a small stack limit.
pub const ARG_MAX: usize = 32 * 4096;

/// Part of [`ARG_MAX`] kept for the arguments: `argv[0]` (the listed path, at most `PATH_MAX`,
/// 4096 bytes), what the kernel adds for a `#!` script (interpreter and its argument, at most
/// 256 bytes, and `/proc/self/fd/N`), and their pointers.
pub const ARGV_RESERVE: usize = 8 * 1024;

/// The most the environment of a hook takes: strings, their NULs and their pointers.
pub const ENV_BUDGET: usize = ARG_MAX - ARGV_RESERVE;

/// The longest value of a variable other than `JSON`. A longer one is cut, at the last space
/// or line break that fits when there is one (a list keeps whole items), and `<NAME>_TRUNCATED=1`
/// says so; the whole data stays in the JSON on standard input. With the handful of variables
/// that can grow (`IP_ADDRS`, `IP6_ADDRS`, `DHCP_LEASE`, `DNS`, `DOMAIN`, `DOMAINSEARCH`) the
/// environment stays well within [`ENV_BUDGET`]; `JSON` gets what is left.
pub const MAX_VAR_LEN: usize = 16 * 1024;

/// Suffix of the marker set next to a variable that was cut.
pub const TRUNCATED_SUFFIX: &str = "_TRUNCATED";

/// Names the daemon sets itself; a request variable with one of these names is refused, and so
/// is any name ending in [`TRUNCATED_SUFFIX`] (the daemon's markers).
pub const RESERVED_NAMES: [&str; 6] = [
    "PATH",
    "EVENT",
    "LINK",
    "LINKINDEX",
    "JSON",
    "JSON_TRUNCATED",
];

/// Names that change how the dynamic loader or a shell starts up: a value from the network
/// (a lease, a spoofed bus peer) under such a name would run code, so they are refused even
/// though the broker never means to pass them.
const UNSAFE_NAMES: [&str; 9] = [
    "BASH_ENV",
    "ENV",
    "IFS",
    "CDPATH",
    "SHELLOPTS",
    "BASHOPTS",
    "PS4",
    "GLOBIGNORE",
    "GCONV_PATH",
];

/// Prefix of the dynamic loader's variables (`LD_PRELOAD`, `LD_LIBRARY_PATH`, …).
const UNSAFE_PREFIX: &str = "LD_";

/// Environment and standard input of one hook run; shared by every script of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HookEnv {
    /// Variables, sorted by name, each name once.
    pub vars: Vec<(String, String)>,
    /// Bytes for standard input (the JSON document and a newline); `None` means `/dev/null`.
    pub stdin: Option<Arc<str>>,
    /// Request variables that were not passed, and why (for the runner to log).
    pub rejected: Vec<RejectedVar>,
}

impl HookEnv {
    /// The value of `name`, if set.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.vars
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// A request variable left out of the environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedVar {
    /// The name as given.
    pub name: String,
    /// Why it was left out.
    pub reason: Rejection,
}

/// Why a request variable was left out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rejection {
    /// Not `[A-Za-z_][A-Za-z0-9_]*`.
    InvalidName,
    /// One of [`RESERVED_NAMES`].
    Reserved,
    /// A loader or shell start-up variable.
    Unsafe,
    /// The value contains a NUL byte, which no environment string can hold.
    NulInValue,
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Rejection::InvalidName => "not a valid variable name",
            Rejection::Reserved => "name reserved for the daemon",
            Rejection::Unsafe => "loader or shell start-up variable",
            Rejection::NulInValue => "value contains a NUL byte",
        })
    }
}

/// Build the environment of the hooks of `request`.
///
/// Contents: `PATH`, `EVENT`; `LINK` and `LINKINDEX` when the request has a link; the request's
/// variables (later duplicates replace earlier ones); with `emit_json` and a link, the JSON on
/// standard input and in `JSON` when it fits, otherwise `JSON_TRUNCATED=1`.
///
/// `networkd` is what networkd keeps on disk about the request's link (read by the runner);
/// it adds `DHCP_LEASE` and the JSON's `"Networkd"` part.
pub fn build(request: &Request, settings: &Settings, networkd: Option<&NetworkdFiles>) -> HookEnv {
    let mut vars: BTreeMap<String, String> = BTreeMap::new();
    let mut rejected = Vec::new();
    for (name, value) in &request.vars {
        match check_var(name, value) {
            Ok(()) => {
                vars.insert(name.clone(), value.clone());
            }
            Err(reason) => rejected.push(RejectedVar {
                name: name.clone(),
                reason,
            }),
        }
    }

    vars.insert("PATH".into(), PATH.into());
    vars.insert("EVENT".into(), request.event.to_string());
    let mut stdin = None;
    if let Some(link) = &request.link {
        vars.insert("LINK".into(), link.attrs.name.clone());
        vars.insert("LINKINDEX".into(), link.attrs.index.to_string());
        insert_dispatcher_compat(&mut vars, link);
        match &request.lease {
            Some(lease) => insert_lease(&mut vars, lease),
            None => {
                if let Some(lease) = networkd.and_then(NetworkdFiles::lease_text) {
                    vars.insert("DHCP_LEASE".into(), lease);
                }
            }
        }
    }
    cap_values(&mut vars);
    if let (Some(link), true) = (&request.link, settings.emit_json) {
        let json = json_document(
            link,
            request.routing_table,
            operational_state(request),
            networkd,
            request.lease.as_ref(),
        );
        let total = env_size(&vars) + entry_size("JSON", &json);
        if fits_env("JSON", &json) && total <= ENV_BUDGET {
            vars.insert("JSON".into(), json.clone());
        } else {
            vars.insert("JSON_TRUNCATED".into(), "1".into());
        }
        stdin = Some(Arc::from(json + "\n"));
    }
    fit_budget(&mut vars);
    HookEnv {
        vars: vars.into_iter().collect(),
        stdin,
        rejected,
    }
}

/// A dhclient lease: `DHCP_LEASE` in the same `KEY=VALUE`-per-line form as networkd's (so one
/// hook reads both), and the original's `DNS`, `DOMAIN` and `DOMAINSEARCH`, space-separated.
fn insert_lease(vars: &mut BTreeMap<String, String>, lease: &Lease) {
    let lines: Vec<String> = lease
        .key_values()
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect();
    vars.insert("DHCP_LEASE".into(), lines.join("\n"));
    let dns: Vec<String> = lease.dns.iter().map(ToString::to_string).collect();
    vars.insert("DNS".into(), dns.join(" "));
    vars.insert(
        "DOMAIN".into(),
        lease.domain_name.clone().unwrap_or_default(),
    );
    vars.insert("DOMAINSEARCH".into(), lease.domain_search.join(" "));
}

/// networkd-dispatcher's variables, so its users' scripts work unchanged: `IFACE`, `ADDR`
/// (the first IPv4 address), `IP_ADDRS` and `IP6_ADDRS` (space-separated, without loopback and
/// link-local addresses, as networkd-dispatcher filters them). `STATE` comes with the request.
fn insert_dispatcher_compat(vars: &mut BTreeMap<String, String>, link: &LinkView) {
    let ipv4: Vec<String> = link
        .addresses
        .iter()
        .filter(|a| matches!(a.ip, IpAddr::V4(ip) if !ip.is_loopback()))
        .map(|a| a.ip.to_string())
        .collect();
    let ipv6: Vec<String> = link
        .addresses
        .iter()
        .filter(|a| match a.ip {
            IpAddr::V6(ip) => !ip.is_loopback() && (ip.segments()[0] & 0xffc0) != 0xfe80,
            IpAddr::V4(_) => false,
        })
        .map(|a| a.ip.to_string())
        .collect();
    vars.insert("IFACE".into(), link.attrs.name.clone());
    vars.insert("ADDR".into(), ipv4.first().cloned().unwrap_or_default());
    vars.insert("IP_ADDRS".into(), ipv4.join(" "));
    vars.insert("IP6_ADDRS".into(), ipv6.join(" "));
}

/// The `OperationalState` the request carries (networkd's view), if any.
pub fn operational_state(request: &Request) -> Option<&str> {
    request
        .vars
        .iter()
        .rev()
        .find(|(name, _)| name == "OperationalState")
        .map(|(_, value)| value.as_str())
}

/// Bytes `NAME=value` takes of [`ARG_MAX`]: the string, its NUL and its pointer.
pub fn entry_size(name: &str, value: &str) -> usize {
    name.len() + "=".len() + value.len() + "\0".len() + std::mem::size_of::<usize>()
}

/// Bytes the whole environment takes of [`ARG_MAX`], the terminating null pointer included.
pub fn env_size<'a>(vars: impl IntoIterator<Item = (&'a String, &'a String)>) -> usize {
    vars.into_iter()
        .map(|(name, value)| entry_size(name, value))
        .sum::<usize>()
        + std::mem::size_of::<usize>()
}

/// Cut every value longer than [`MAX_VAR_LEN`] and mark it `<NAME>_TRUNCATED=1`.
fn cap_values(vars: &mut BTreeMap<String, String>) {
    let mut markers = Vec::new();
    for (name, value) in vars.iter_mut() {
        if value.len() > MAX_VAR_LEN {
            truncate_value(value, MAX_VAR_LEN);
            markers.push(format!("{name}{TRUNCATED_SUFFIX}"));
        }
    }
    for marker in markers {
        vars.insert(marker, "1".into());
    }
}

/// The last resort when the capped values still exceed [`ENV_BUDGET`] (only many large
/// request variables can do that): empty the largest values, marked, until it fits. The
/// daemon's own short variables (`PATH`, `EVENT`, `LINK`, `LINKINDEX`) and markers stay.
fn fit_budget(vars: &mut BTreeMap<String, String>) {
    while env_size(vars.iter()) > ENV_BUDGET {
        let largest = vars
            .iter()
            .filter(|(name, value)| {
                !value.is_empty()
                    && !matches!(name.as_str(), "PATH" | "EVENT" | "LINK" | "LINKINDEX")
                    && !name.ends_with(TRUNCATED_SUFFIX)
            })
            .max_by_key(|(_, value)| value.len())
            .map(|(name, _)| name.clone());
        let Some(name) = largest else {
            break;
        };
        if let Some(value) = vars.get_mut(&name) {
            value.clear();
        }
        vars.insert(format!("{name}{TRUNCATED_SUFFIX}"), "1".into());
    }
}

/// Cut `value` to at most `max` bytes, keeping whole items: whole lines when it has several
/// (`DHCP_LEASE`), else whole space-separated words (address lists); only a value with no
/// separator at all is cut mid-item (at a character boundary).
fn truncate_value(value: &mut String, max: usize) {
    if value.len() <= max {
        return;
    }
    let mut end = max;
    while !value.is_char_boundary(end) {
        end -= 1;
    }
    let separator = if value.contains('\n') { b'\n' } else { b' ' };
    // A separator right at the cut ends the last whole item; otherwise the last one before it.
    if value.as_bytes().get(end) != Some(&separator) {
        if let Some(cut) = value.as_bytes()[..end]
            .iter()
            .rposition(|&b| b == separator)
        {
            end = cut;
        }
    }
    value.truncate(end);
}

/// Whether `NAME=value` fits in one environment string.
pub fn fits_env(name: &str, value: &str) -> bool {
    // NAME, '=', value and the terminating NUL all count against the limit.
    name.len() + "=".len() + value.len() + "\0".len() <= MAX_ARG_STRLEN
}

/// Whether `name` is a portable shell variable name, `[A-Za-z_][A-Za-z0-9_]*`.
pub fn is_valid_var_name(name: &str) -> bool {
    let mut bytes = name.bytes();
    matches!(bytes.next(), Some(b) if b.is_ascii_alphabetic() || b == b'_')
        && bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_')
}

/// Whether `name` changes how the dynamic loader or a shell starts (`LD_*`, `BASH_ENV`, …):
/// never passed to a hook, whoever asks.
pub fn is_unsafe_var_name(name: &str) -> bool {
    UNSAFE_NAMES.contains(&name) || name.starts_with(UNSAFE_PREFIX)
}

fn check_var(name: &str, value: &str) -> Result<(), Rejection> {
    if !is_valid_var_name(name) {
        Err(Rejection::InvalidName)
    } else if RESERVED_NAMES.contains(&name) || name.ends_with(TRUNCATED_SUFFIX) {
        Err(Rejection::Reserved)
    } else if is_unsafe_var_name(name) {
        Err(Rejection::Unsafe)
    } else if value.contains('\0') {
        Err(Rejection::NulInValue)
    } else {
        Ok(())
    }
}

#[cfg(test)]
pub(crate) mod tests;
