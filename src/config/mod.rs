//! The daemon's configuration: `DIR/network-broker.yaml`, its typed form, defaults and
//! validation. Pure apart from [`Config::load`], which reads the one file and the two
//! environment overrides (`NETWORK_EVENT_LOG_LEVEL`, `NETWORK_EVENT_LOG_FORMAT`).
//!
//! Parsing is two-staged. serde-saphyr turns the text into a small tree in which every node
//! keeps its source location (`yaml`); it alone judges YAML syntax and enforces its input
//! budgets. The schema (`schema`) then walks that tree, so that every complaint about keys
//! and values (unknown, duplicated, mistyped, out of range) carries the file, line, column
//! and dotted key, worded by us rather than by serde's generic messages.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

mod names;
pub mod reload;
mod schema;
mod yaml;

pub use names::validate_link_name;

/// File name of the configuration inside the configuration directory.
pub const CONFIG_FILE_NAME: &str = "network-broker.yaml";
/// Default configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/network-broker";
/// Environment variable that overrides `System.LogLevel`.
pub const ENV_LOG_LEVEL: &str = "NETWORK_EVENT_LOG_LEVEL";
/// Environment variable that overrides `System.LogFormat`.
pub const ENV_LOG_FORMAT: &str = "NETWORK_EVENT_LOG_FORMAT";

/// Default `System.HookTimeoutSec`.
pub const DEFAULT_HOOK_TIMEOUT_SEC: u64 = 60;
/// Largest accepted `System.HookTimeoutSec` (one day): a hook that needs longer is a service.
pub const MAX_HOOK_TIMEOUT_SEC: u64 = 86_400;
/// Default `System.HookBacklog`: requests one link may have waiting before its backlog is
/// coalesced. A link with thousands of routes costs one copy of its view per waiting request
/// that saw it change, so this bounds a busy link's queued memory to a few MB.
pub const DEFAULT_HOOK_BACKLOG: usize = 16;
/// Largest accepted `System.HookBacklog`.
pub const MAX_HOOK_BACKLOG: u64 = 10_000;
/// Default `System.EventHistory`: events the Manager keeps for `EventsSince`. A link going
/// up and getting addresses is about five events, so this covers a few minutes of an
/// ordinary host's churn in a few hundred KB.
pub const DEFAULT_EVENT_HISTORY: usize = 1024;
/// Largest accepted `System.EventHistory`: each event holds its signal's arguments (a link's
/// whole address list for an `Addresses` change), so the bound keeps the worst case in
/// the tens of MB.
pub const MAX_EVENT_HISTORY: u64 = 100_000;
/// Default `System.RuntimeDirectory`.
pub const DEFAULT_RUNTIME_DIR: &str = "/run/network-broker";
/// Default `Network.NetworkdStateDirectory`.
pub const DEFAULT_NETWORKD_STATE_DIR: &str = "/run/systemd/netif";
/// Default `Network.LeaseFiles`: Debian's and Ubuntu's dhclient lease files (one for all
/// interfaces, or one per interface as ifupdown starts dhclient) and the RHEL path the
/// original network-broker used.
pub const DEFAULT_LEASE_FILES: &[&str] = &[
    "/var/lib/dhcp/dhclient.leases",
    "/var/lib/dhcp/dhclient.*.leases",
    "/var/lib/dhclient/dhclient.leases",
];
/// Default `Network.RouteTableBase`.
pub const DEFAULT_ROUTE_TABLE_BASE: u32 = 1000;
/// Smallest accepted `Network.RouteTableBase`. Tables 0 and 252..=255 are reserved by the
/// kernel and iproute2 (unspec, compat, default, main, local); `base + ifindex` must never
/// land on them, and ifindex starts at 1.
pub const MIN_ROUTE_TABLE_BASE: u32 = 256;
/// Largest accepted `Network.RouteTableBase`: leaves about 2.9e8 ifindexes before
/// `base + ifindex` would wrap past `u32::MAX`.
pub const MAX_ROUTE_TABLE_BASE: u32 = 4_000_000_000;

/// Default `Network.RoutingPolicyPriority`: the `from` rules get this priority, the `to`
/// rules the next one. 20000 lies in a band no common actor uses: below it are the kernel's
/// `local` rule (0), amazon-vpc-cni (10, 512, 1024, 1536), tailscale (5210–5310) and
/// amazon-ec2-net-utils (10000 + 100·card + device); above it nm-cloud-setup (30200–30400+),
/// the priorities the kernel hands out to rules added without one (32765 downwards, e.g.
/// wg-quick) and `main`/`default` (32766, 32767). Our rules must come before `main`, or the
/// main table's default route would always win.
pub const DEFAULT_ROUTING_POLICY_PRIORITY: u32 = 20_000;
/// Smallest accepted `Network.RoutingPolicyPriority`: 0 is the `local` rule's, and a rule
/// ahead of it would steer traffic to our own addresses away from the host.
pub const MIN_ROUTING_POLICY_PRIORITY: u32 = 1;
/// Largest accepted `Network.RoutingPolicyPriority`: the `to` rules use the priority after
/// it, and both must come before the `main` rule (32766).
pub const MAX_ROUTING_POLICY_PRIORITY: u32 = 32_764;
/// Default `Network.RoutingPolicyProtocol`: 78, `N` in ASCII (Network broker). It is in none
/// of iproute2's `rt_protos`, the kernel's `RTPROT_*` list, FRR's additions (186–198) or the
/// numbers some daemons are known to use (google-guest-agent 66, kube-vip 248); see
/// `docs/routing.md`.
pub const DEFAULT_ROUTING_POLICY_PROTOCOL: u8 = 78;
/// Route/rule protocol numbers `Network.RoutingPolicyProtocol` refuses: the kernel's
/// `RTPROT_*` values and iproute2's `rt_protos` names. Everything carrying our number is
/// deleted when it is no longer wanted, so sharing a number with anyone would delete their
/// routes (with `kernel`, the kernel's own subnet routes; with `boot`, every `ip route add`).
pub const RESERVED_ROUTE_PROTOCOLS: &[(u8, &str)] = crate::model::kernel::ROUTE_PROTOCOLS;

/// Files larger than this are refused unread: a configuration is a few hundred bytes, and a
/// mistaken symlink to a device or a huge file must not stall or bloat a root daemon.
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// Deepest nesting of lists and mappings a configuration may have. The deepest legitimate
/// one is 3 (the document, a section, a list of names); anything deeper is refused with its
/// position before the recursive deserialisation can use up the stack of the thread it runs
/// on (a reload runs on a blocking-pool thread, with a smaller stack than `main`'s).
pub const MAX_NESTING_DEPTH: usize = 8;

/// Log verbosity (`System.LogLevel`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogLevel {
    /// Only errors.
    Error,
    /// Errors and warnings.
    Warn,
    /// The default.
    #[default]
    Info,
    /// Per-event flow.
    Debug,
    /// Raw messages.
    Trace,
}

/// Log output format (`System.LogFormat`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// Which source drives link states and hooks (`System.Generator`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generator {
    /// systemd-networkd's D-Bus signals.
    #[default]
    SystemdNetworkd,
    /// dhclient lease files.
    Dhclient,
    /// The kernel alone.
    Netlink,
}

/// The closed vocabularies of the configuration (`LogLevel`, `LogFormat`, `Generator`): one
/// table per type gives both directions, so spelling and parsing cannot drift apart.
trait Keyword: Copy + PartialEq + 'static {
    /// Every value with its configuration spelling, in documentation order.
    const TABLE: &'static [(Self, &'static str)];

    fn spelling(self) -> &'static str {
        Self::TABLE
            .iter()
            .find(|(value, _)| *value == self)
            .map_or("", |(_, name)| name)
    }

    fn parse_keyword(text: &str) -> Result<Self, ParseValueError> {
        Self::TABLE
            .iter()
            .find(|(_, name)| *name == text)
            .map(|(value, _)| *value)
            .ok_or_else(|| ParseValueError {
                value: text.to_owned(),
                expected: Self::expected(),
            })
    }

    /// "one of a, b, c", for messages.
    fn expected() -> String {
        let names: Vec<&str> = Self::TABLE.iter().map(|(_, name)| *name).collect();
        format!("one of {}", names.join(", "))
    }
}

impl Keyword for LogLevel {
    const TABLE: &'static [(Self, &'static str)] = &[
        (LogLevel::Error, "error"),
        (LogLevel::Warn, "warn"),
        (LogLevel::Info, "info"),
        (LogLevel::Debug, "debug"),
        (LogLevel::Trace, "trace"),
    ];
}

impl Keyword for LogFormat {
    const TABLE: &'static [(Self, &'static str)] =
        &[(LogFormat::Text, "text"), (LogFormat::Json, "json")];
}

impl Keyword for Generator {
    const TABLE: &'static [(Self, &'static str)] = &[
        (Generator::SystemdNetworkd, "systemd-networkd"),
        (Generator::Dhclient, "dhclient"),
        (Generator::Netlink, "netlink"),
    ];
}

/// `as_str`, `Display` and `FromStr` in the configuration spelling, for one keyword type.
macro_rules! keyword_impls {
    ($ty:ty, $what:literal) => {
        impl $ty {
            #[doc = concat!("The configuration spelling of this ", $what, ", e.g. for logs and D-Bus.")]
            pub fn as_str(&self) -> &'static str {
                self.spelling()
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = ParseValueError;

            /// Parses the exact configuration spelling (case-sensitive, as in the file).
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                Self::parse_keyword(s)
            }
        }
    };
}

keyword_impls!(LogLevel, "log level");
keyword_impls!(LogFormat, "log format");
keyword_impls!(Generator, "generator");

/// A string that is not one of a keyword's spellings (from [`FromStr`] on [`LogLevel`],
/// [`LogFormat`] and [`Generator`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid value {value:?}: expected {expected}")]
pub struct ParseValueError {
    /// The rejected text.
    pub value: String,
    /// What would have been accepted, e.g. `one of text, json`.
    pub expected: String,
}

/// The `System:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SystemConfig {
    /// `LogLevel`, default `info`.
    pub log_level: LogLevel,
    /// `LogFormat`, default `text`.
    pub log_format: LogFormat,
    /// `Generator`, default `systemd-networkd`.
    pub generator: Generator,
    /// `HookTimeoutSec`: how long one hook may run before its process group is killed.
    /// Default 60 s, accepted 1..=86400.
    pub hook_timeout: Duration,
    /// `HookBacklog`: most hook requests one link may have waiting; beyond it the waiting
    /// ones are coalesced into the latest state. Default 16, accepted 1..=10000.
    pub hook_backlog: usize,
    /// `EventHistory`: how many of the Manager's numbered events are kept for `EventsSince`.
    /// Default 1024, accepted 0..=100000 (0 keeps none).
    pub event_history: usize,
    /// `StartupTriggers`, default true: at start, run the hooks of every link's current state
    /// once per boot (states already dispatched are remembered in `RuntimeDirectory`).
    pub startup_triggers: bool,
    /// `RuntimeDirectory`, default `/run/network-broker`: state that lives for one boot.
    pub runtime_dir: PathBuf,
}

/// The `Network:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `Links`: links whose events run hooks; `None` means all links.
    ///
    /// An absent key, an empty value (`Links:`), an empty string and an empty list all mean
    /// "all links": there is no way to select no link at all, because a daemon that runs no
    /// hook for anything is better expressed by having no hooks. When `Some`, the list is
    /// non-empty, every entry is a valid interface name and no name appears twice (a repeated
    /// name is rejected as a probable typo for another link).
    pub links: Option<Vec<String>>,
    /// `RoutingPolicyRules`: links that get a policy-routing table of their own. Empty (absent,
    /// empty string or empty list) means none; names are validated and unique like `links`.
    pub routing_policy_rules: Vec<String>,
    /// `EmitJSON`, default true.
    pub emit_json: bool,
    /// `UseDNS`, default false.
    pub use_dns: bool,
    /// `UseDomain`, default false.
    pub use_domain: bool,
    /// `UseHostname`, default false.
    pub use_hostname: bool,
    /// `RouteTableBase`, default 1000; always within
    /// [`MIN_ROUTE_TABLE_BASE`]`..=`[`MAX_ROUTE_TABLE_BASE`].
    pub route_table_base: u32,
    /// `NetworkdStateDirectory`, default `/run/systemd/netif`: where networkd keeps its
    /// per-link state files (`links/N`) and DHCP leases (`leases/N`).
    pub networkd_state_dir: PathBuf,
    /// `LeaseFiles`, default [`DEFAULT_LEASE_FILES`]: the dhclient lease files to follow.
    /// Absolute paths, each valid for [`crate::lease::FilePattern::new`] (one `*`, only in
    /// the file name), none twice. Empty (`""` or `[]`) follows no file.
    pub lease_files: Vec<PathBuf>,
    /// `RoutingPolicyPriority`, default 20000: priority of the `from ADDR` rules; the
    /// `to ADDR` rules get the next one. Always within
    /// [`MIN_ROUTING_POLICY_PRIORITY`]`..=`[`MAX_ROUTING_POLICY_PRIORITY`].
    pub routing_policy_priority: u32,
    /// `RoutingPolicyProtocol`, default 78: the `protocol` every route and rule of ours
    /// carries, by which the daemon recognises them. Never one of
    /// [`RESERVED_ROUTE_PROTOCOLS`].
    pub routing_policy_protocol: u8,
    /// `RemoveRoutingOnStop`, default false: whether stopping the daemon deletes its rules
    /// and routes. By default they stay, so a restart does not disturb traffic.
    pub remove_routing_on_stop: bool,
}

/// The whole configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// Directory the configuration and the hook directories live in.
    pub dir: PathBuf,
    /// `System:`.
    pub system: SystemConfig,
    /// `Network:`.
    pub network: NetworkConfig,
}

/// A 1-based line and column (in characters) inside the configuration file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Position {
    /// Line, from 1.
    pub line: u64,
    /// Column in characters, from 1.
    pub column: u64,
}

/// Why the configuration could not be loaded. The `Display` form is complete and meant for
/// the administrator: it starts with the file (and `:line:column` when known) or the
/// environment variable at fault.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file exists (or may exist) but could not be read.
    #[error("{}: cannot read: {error}", path.display())]
    Read {
        /// The configuration file.
        path: PathBuf,
        /// What the OS said. Part of the message, so deliberately not a `source()`.
        error: std::io::Error,
    },
    /// The file was read but is not a valid configuration (YAML syntax, unknown or
    /// duplicated key, wrong type or value).
    #[error("{}{}: {message}", path.display(), DisplayPosition(position))]
    Invalid {
        /// The configuration file.
        path: PathBuf,
        /// Where in the file, when known.
        position: Option<Position>,
        /// Dotted key at fault (`Network.Links`), or `None` for syntax errors and for
        /// problems with the document as a whole.
        key: Option<String>,
        /// What is wrong, without the file and position (those are in the fields above).
        message: String,
    },
    /// An environment override holds a value that its key does not accept.
    #[error("environment variable {variable}: {error}")]
    Env {
        /// The variable, e.g. `NETWORK_EVENT_LOG_LEVEL`.
        variable: &'static str,
        /// The value and what was expected instead.
        error: ParseValueError,
    },
}

/// `:line:column`, or nothing when the position is unknown.
struct DisplayPosition<'a>(&'a Option<Position>);

impl fmt::Display for DisplayPosition<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(p) => write!(f, ":{}:{}", p.line, p.column),
            None => Ok(()),
        }
    }
}

impl Config {
    /// The documented defaults, for a configuration directory without a file.
    pub fn defaults(dir: &Path) -> Self {
        Config {
            dir: dir.to_path_buf(),
            system: SystemConfig {
                log_level: LogLevel::Info,
                log_format: LogFormat::Text,
                generator: Generator::SystemdNetworkd,
                hook_timeout: Duration::from_secs(DEFAULT_HOOK_TIMEOUT_SEC),
                hook_backlog: DEFAULT_HOOK_BACKLOG,
                event_history: DEFAULT_EVENT_HISTORY,
                startup_triggers: true,
                runtime_dir: PathBuf::from(DEFAULT_RUNTIME_DIR),
            },
            network: NetworkConfig {
                links: None,
                routing_policy_rules: Vec::new(),
                emit_json: true,
                use_dns: false,
                use_domain: false,
                use_hostname: false,
                route_table_base: DEFAULT_ROUTE_TABLE_BASE,
                networkd_state_dir: PathBuf::from(DEFAULT_NETWORKD_STATE_DIR),
                lease_files: DEFAULT_LEASE_FILES.iter().map(PathBuf::from).collect(),
                routing_policy_priority: DEFAULT_ROUTING_POLICY_PRIORITY,
                routing_policy_protocol: DEFAULT_ROUTING_POLICY_PROTOCOL,
                remove_routing_on_stop: false,
            },
        }
    }

    /// Whether events of the link called `name` run hooks (`Links`; exact names).
    pub fn link_selected(&self, name: &str) -> bool {
        match &self.network.links {
            None => true,
            Some(links) => links.iter().any(|l| l == name),
        }
    }

    /// Loads `dir/network-broker.yaml` and applies the environment overrides from the
    /// process environment. A missing file means [`Config::defaults`] (plus the overrides);
    /// any other failure to read it, and any invalid content, is an error naming the file.
    /// This is what the daemon runs at start, on reload and for `--check-config`.
    pub fn load(dir: &Path) -> Result<Config, ConfigError> {
        Self::load_with_env(dir, |name| {
            // A non-UTF-8 value is passed on lossily so that it fails validation visibly
            // instead of being mistaken for "unset".
            std::env::var_os(name).map(|v| v.to_string_lossy().into_owned())
        })
    }

    /// [`Config::load`] with the environment given by `lookup` (tests, or callers that
    /// sanitise the environment themselves).
    pub fn load_with_env(
        dir: &Path,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<Config, ConfigError> {
        let path = dir.join(CONFIG_FILE_NAME);
        let mut config = match read_limited(&path) {
            Ok(bytes) => {
                let text = decode_utf8(bytes, &path)?;
                Config::parse(&text, &path, dir)?
            }
            // Only a missing file means "defaults": a file we may not read (EACCES), a
            // directory in its place or an I/O error must stop the daemon, not silently
            // drop the administrator's settings.
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => Config::defaults(dir),
            Err(error) => return Err(ConfigError::Read { path, error }),
        };
        config.apply_env_overrides(lookup)?;
        Ok(config)
    }

    /// Parses the text of a configuration file. `path` is only used in error messages;
    /// `dir` becomes [`Config::dir`]. Environment overrides are not applied here.
    pub fn parse(text: &str, path: &Path, dir: &Path) -> Result<Config, ConfigError> {
        let tree = yaml::parse_document(text).map_err(|e| yaml::syntax_error(&e, path))?;
        let mut config = Config::defaults(dir);
        if let Some(root) = tree {
            schema::Schema::new(text, path).apply(&root, &mut config)?;
        }
        Ok(config)
    }

    /// Applies `NETWORK_EVENT_LOG_LEVEL` and `NETWORK_EVENT_LOG_FORMAT`, looked up with
    /// `lookup`, over `System.LogLevel` and `System.LogFormat`. The environment wins over
    /// the file so that a unit drop-in can raise verbosity without editing the file. An
    /// unset or empty variable changes nothing (`Environment=VAR=` in a unit clears it);
    /// any other value must be spelled as in the file, or this is an error naming the
    /// variable.
    pub fn apply_env_overrides(
        &mut self,
        lookup: impl Fn(&str) -> Option<String>,
    ) -> Result<(), ConfigError> {
        if let Some(level) = env_value::<LogLevel>(&lookup, ENV_LOG_LEVEL)? {
            self.system.log_level = level;
        }
        if let Some(format) = env_value::<LogFormat>(&lookup, ENV_LOG_FORMAT)? {
            self.system.log_format = format;
        }
        Ok(())
    }
}

fn env_value<T: Keyword>(
    lookup: &impl Fn(&str) -> Option<String>,
    variable: &'static str,
) -> Result<Option<T>, ConfigError> {
    match lookup(variable) {
        None => Ok(None),
        Some(value) if value.is_empty() => Ok(None),
        Some(value) => T::parse_keyword(&value)
            .map(Some)
            .map_err(|error| ConfigError::Env { variable, error }),
    }
}

/// Reads at most [`MAX_FILE_BYTES`] (+1, to tell "too big" apart) from a regular file.
///
/// The file is opened with `O_NONBLOCK` and checked with `fstat` before anything is read:
/// a FIFO in its place would otherwise block the open (and the reload, and the SIGTERM
/// behind it) until someone writes to it, and a device could be read forever. The open
/// descriptor is what is checked and read, so the file cannot be swapped in between.
fn read_limited(path: &Path) -> std::io::Result<Vec<u8>> {
    use std::os::unix::fs::{FileTypeExt, OpenOptionsExt};

    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags((rustix::fs::OFlags::NONBLOCK | rustix::fs::OFlags::NOCTTY).bits() as i32)
        .open(path)?;
    let kind = file.metadata()?.file_type();
    if !kind.is_file() {
        let what = if kind.is_dir() {
            "a directory"
        } else if kind.is_fifo() {
            "a FIFO"
        } else if kind.is_socket() {
            "a socket"
        } else if kind.is_char_device() || kind.is_block_device() {
            "a device"
        } else {
            "not a file"
        };
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("not a regular file ({what})"),
        ));
    }
    let mut bytes = Vec::new();
    file.take(MAX_FILE_BYTES + 1).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_FILE_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("file is larger than {MAX_FILE_BYTES} bytes"),
        ));
    }
    Ok(bytes)
}

/// UTF-8 check with a position, so a stray Latin-1 byte is found as easily as a typo.
fn decode_utf8(bytes: Vec<u8>, path: &Path) -> Result<String, ConfigError> {
    String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        // The prefix is valid UTF-8 by definition; lossy conversion cannot alter it.
        let prefix = String::from_utf8_lossy(valid);
        let line_start = prefix.rfind('\n').map_or(0, |i| i + 1);
        ConfigError::Invalid {
            path: path.to_path_buf(),
            position: Some(Position {
                line: prefix.matches('\n').count() as u64 + 1,
                column: prefix[line_start..].chars().count() as u64 + 1,
            }),
            key: None,
            message: "invalid UTF-8 (the file must be UTF-8 text)".to_owned(),
        }
    })
}

#[cfg(test)]
mod tests;
