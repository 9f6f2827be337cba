//! The daemon's configuration: `DIR/network-broker.yaml`, its typed form, defaults and
//! validation. Pure apart from reading the one file.

use std::path::{Path, PathBuf};
use std::time::Duration;

/// File name of the configuration inside the configuration directory.
pub const CONFIG_FILE_NAME: &str = "network-broker.yaml";
/// Default configuration directory.
pub const DEFAULT_CONFIG_DIR: &str = "/etc/network-broker";

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
    pub hook_timeout: Duration,
}

/// The `Network:` section.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NetworkConfig {
    /// `Links`: links whose events run hooks; `None` means all links.
    pub links: Option<Vec<String>>,
    /// `RoutingPolicyRules`: links that get a policy-routing table of their own.
    pub routing_policy_rules: Vec<String>,
    /// `EmitJSON`, default true.
    pub emit_json: bool,
    /// `UseDNS`, default false.
    pub use_dns: bool,
    /// `UseDomain`, default false.
    pub use_domain: bool,
    /// `UseHostname`, default false.
    pub use_hostname: bool,
    /// `RouteTableBase`, default 1000.
    pub route_table_base: u32,
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

impl Config {
    /// The documented defaults, for a configuration directory without a file.
    pub fn defaults(dir: &Path) -> Self {
        Config {
            dir: dir.to_path_buf(),
            system: SystemConfig {
                log_level: LogLevel::Info,
                log_format: LogFormat::Text,
                generator: Generator::SystemdNetworkd,
                hook_timeout: Duration::from_secs(60),
            },
            network: NetworkConfig {
                links: None,
                routing_policy_rules: Vec::new(),
                emit_json: true,
                use_dns: false,
                use_domain: false,
                use_hostname: false,
                route_table_base: 1000,
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
}
