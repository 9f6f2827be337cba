#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::*;

const DIR: &str = "/etc/network-broker";
const FILE: &str = "/etc/network-broker/network-broker.yaml";

fn parse(text: &str) -> Result<Config, ConfigError> {
    Config::parse(text, Path::new(FILE), Path::new(DIR))
}

fn ok(text: &str) -> Config {
    match parse(text) {
        Ok(config) => config,
        Err(e) => panic!("expected {text:?} to parse, got: {e}"),
    }
}

/// The full message of a parse error, after checking that it is an `Invalid` whose
/// structured fields agree with its text.
fn err(text: &str) -> String {
    let e = match parse(text) {
        Ok(config) => panic!("expected {text:?} to fail, got {config:?}"),
        Err(e) => e,
    };
    let shown = e.to_string();
    match &e {
        ConfigError::Invalid {
            path,
            position,
            key,
            message,
        } => {
            assert_eq!(path, Path::new(FILE));
            let prefix = match position {
                Some(p) => format!("{FILE}:{}:{}: ", p.line, p.column),
                None => format!("{FILE}: "),
            };
            assert_eq!(shown, format!("{prefix}{message}"));
            if let Some(key) = key {
                let last = key.rsplit('.').next().unwrap();
                assert!(message.contains(last), "{message:?} should name {key}");
            }
        }
        other => panic!("expected ConfigError::Invalid, got {other:?}"),
    }
    shown
}

/// Line and column of a parse error.
fn at(text: &str) -> (u64, u64) {
    match parse(text) {
        Err(ConfigError::Invalid {
            position: Some(p), ..
        }) => (p.line, p.column),
        other => panic!("expected a located error for {text:?}, got {other:?}"),
    }
}

fn key_of(text: &str) -> Option<String> {
    match parse(text) {
        Err(ConfigError::Invalid { key, .. }) => key,
        other => panic!("expected an Invalid error for {text:?}, got {other:?}"),
    }
}

fn no_env(_: &str) -> Option<String> {
    None
}

// ---- defaults and the documented example ----

#[test]
fn empty_file_gives_defaults() {
    let defaults = Config::defaults(Path::new(DIR));
    for text in [
        "",
        "\n\n",
        "# only a comment\n",
        "---\n",
        "~\n",
        "System:\nNetwork:\n",
        "System: {}\nNetwork: {}\n",
    ] {
        assert_eq!(ok(text), defaults, "for {text:?}");
    }
    assert_eq!(defaults.system.log_level, LogLevel::Info);
    assert_eq!(defaults.system.log_format, LogFormat::Text);
    assert_eq!(defaults.system.generator, Generator::SystemdNetworkd);
    assert_eq!(defaults.system.hook_timeout, Duration::from_secs(60));
    assert_eq!(defaults.network.links, None);
    assert!(defaults.network.routing_policy_rules.is_empty());
    assert!(defaults.network.emit_json);
    assert!(!defaults.network.use_dns && !defaults.network.use_domain);
    assert!(!defaults.network.use_hostname);
    assert_eq!(defaults.network.route_table_base, 1000);
    assert_eq!(defaults.network.routing_policy_priority, 20000);
    assert_eq!(defaults.network.routing_policy_protocol, 78);
    assert!(!defaults.network.remove_routing_on_stop);
    assert_eq!(defaults.dir, Path::new(DIR));
}

#[test]
fn empty_values_mean_defaults() {
    let config = ok("System:\n  LogLevel:\n  HookTimeoutSec: ~\nNetwork:\n  EmitJSON:\n  Links:\n");
    assert_eq!(config, Config::defaults(Path::new(DIR)));
}

#[test]
fn design_example_parses() {
    let text = "\
System:
  LogLevel: info          # error, warn, info, debug, trace
  LogFormat: text         # text, json
  Generator: systemd-networkd   # systemd-networkd, dhclient, netlink (kernel only)
Network:
  Links: eth0 eth1        # links whose events run hooks; unset = all (exact names, never substrings)
  RoutingPolicyRules: eth1
  EmitJSON: true
  UseDNS: false
  UseDomain: false
  UseHostname: false
";
    let config = ok(text);
    assert_eq!(config.system.log_level, LogLevel::Info);
    assert_eq!(config.system.log_format, LogFormat::Text);
    assert_eq!(config.system.generator, Generator::SystemdNetworkd);
    assert_eq!(
        config.network.links,
        Some(vec!["eth0".to_owned(), "eth1".to_owned()])
    );
    assert_eq!(config.network.routing_policy_rules, vec!["eth1".to_owned()]);
    assert!(config.network.emit_json);
    assert!(!config.network.use_dns && !config.network.use_domain);
    assert!(!config.network.use_hostname);
}

#[test]
fn every_key_is_read() {
    let text = "\
System:
  LogLevel: trace
  LogFormat: json
  Generator: netlink
  HookTimeoutSec: 5
Network:
  Links: [eth0]
  RoutingPolicyRules: [eth0, wlan0]
  EmitJSON: false
  UseDNS: true
  UseDomain: TRUE
  UseHostname: True
  RouteTableBase: 2000
  RoutingPolicyPriority: 100
  RoutingPolicyProtocol: 200
  RemoveRoutingOnStop: true
";
    let config = ok(text);
    assert_eq!(config.network.routing_policy_priority, 100);
    assert_eq!(config.network.routing_policy_protocol, 200);
    assert!(config.network.remove_routing_on_stop);
    assert_eq!(config.system.log_level, LogLevel::Trace);
    assert_eq!(config.system.log_format, LogFormat::Json);
    assert_eq!(config.system.generator, Generator::Netlink);
    assert_eq!(config.system.hook_timeout, Duration::from_secs(5));
    assert_eq!(config.network.links, Some(vec!["eth0".to_owned()]));
    assert_eq!(config.network.routing_policy_rules, ["eth0", "wlan0"]);
    assert!(!config.network.emit_json);
    assert!(config.network.use_dns && config.network.use_domain);
    assert!(config.network.use_hostname);
    assert_eq!(config.network.route_table_base, 2000);
    assert_eq!(
        ok("System: {Generator: dhclient}").system.generator,
        Generator::Dhclient
    );
}

// ---- Links and RoutingPolicyRules ----

#[test]
fn links_as_string_block_list_and_flow_list() {
    let expected = Some(vec!["eth0".to_owned(), "wlp2s0".to_owned()]);
    for text in [
        "Network:\n  Links: eth0 wlp2s0\n",
        "Network:\n  Links: \"  eth0\twlp2s0 \"\n",
        "Network:\n  Links:\n    - eth0\n    - wlp2s0\n",
        "Network:\n  Links:\n  - eth0\n  - 'wlp2s0'\n",
        "Network:\n  Links: [eth0, wlp2s0]\n",
        "Network: {Links: [eth0, \"wlp2s0\"]}\n",
    ] {
        assert_eq!(ok(text).network.links, expected, "for {text:?}");
    }
    let rules = ok("Network:\n  RoutingPolicyRules:\n    - eth1\n    - eth2\n");
    assert_eq!(rules.network.routing_policy_rules, ["eth1", "eth2"]);
    let rules = ok("Network:\n  RoutingPolicyRules: eth1 eth2\n");
    assert_eq!(rules.network.routing_policy_rules, ["eth1", "eth2"]);
}

#[test]
fn empty_links_means_all_links() {
    for text in [
        "Network:\n  Links: \"\"\n",
        "Network:\n  Links: []\n",
        "Network:\n  Links: \"   \"\n",
        "Network:\n  Links:\n",
    ] {
        let config = ok(text);
        assert_eq!(config.network.links, None, "for {text:?}");
        assert!(config.link_selected("anything0"));
    }
    assert!(ok("Network:\n  RoutingPolicyRules: []\n")
        .network
        .routing_policy_rules
        .is_empty());
}

#[test]
fn links_match_exact_names_only() {
    let config = ok("Network:\n  Links: eth10\n");
    assert!(config.link_selected("eth10"));
    assert!(!config.link_selected("eth1"));
    assert!(!config.link_selected("eth100"));
    assert!(!config.link_selected("ETH10"));
    let all = ok("");
    assert!(all.link_selected("eth1"));
}

#[test]
fn numeric_looking_names_keep_their_spelling() {
    assert_eq!(
        ok("Network:\n  Links: [007, 1e3, true]\n").network.links,
        Some(vec!["007".to_owned(), "1e3".to_owned(), "true".to_owned()])
    );
    assert_eq!(
        ok("Network:\n  Links: 0\n").network.links,
        Some(vec!["0".to_owned()])
    );
}

#[test]
fn aliases_are_followed() {
    let config = ok("Network:\n  Links: &uplinks [eth0, eth1]\n  RoutingPolicyRules: *uplinks\n");
    assert_eq!(config.network.routing_policy_rules, ["eth0", "eth1"]);
}

#[test]
fn merge_keys_are_expanded_and_explicit_keys_win() {
    let text = "\
.defaults: &defaults
  UseDNS: true
  UseDomain: true
Network:
  <<: *defaults
  UseDomain: false
";
    // The anchor lives under a key of its own, which must still be a known key.
    assert!(err(text).contains("unknown key `.defaults` at top level"));
    let text = "\
Network:
  UseDNS: &yes true
  UseHostname: *yes
System: &sys {LogLevel: debug}
";
    let config = ok(text);
    assert!(config.network.use_dns && config.network.use_hostname);
    assert_eq!(config.system.log_level, LogLevel::Debug);
    let merged = ok("Network:\n  <<: {UseDNS: true, UseDomain: true}\n  UseDomain: false\n");
    assert!(merged.network.use_dns);
    assert!(!merged.network.use_domain);
}

#[test]
fn bad_interface_names_are_rejected_with_their_position() {
    assert_eq!(
        err("Network:\n  Links: eth0 eth0/1\n"),
        format!(
            "{FILE}:2:15: Network.Links: invalid interface name \"eth0/1\": must not contain '/'"
        )
    );
    assert_eq!(
        err("Network:\n  Links:\n    - eth0\n    - averyveryverylongname\n"),
        format!(
            "{FILE}:4:7: Network.Links: invalid interface name \"averyveryverylongname\": \
             is longer than 15 bytes"
        )
    );
    assert_eq!(
        err("Network:\n  RoutingPolicyRules: [eth0, \"eth 1\"]\n"),
        format!(
            "{FILE}:2:30: Network.RoutingPolicyRules: invalid interface name \"eth 1\": \
             must not contain whitespace; give one name per list item"
        )
    );
    assert_eq!(
        err("Network:\n  Links: eth0,eth1\n"),
        format!(
            "{FILE}:2:10: Network.Links: invalid interface name \"eth0,eth1\": must not \
             contain ','; separate names with spaces or write a list"
        )
    );
    assert!(err("Network:\n  Links: [..]\n").contains("must not be \".\" or \"..\""));
    assert!(err("Network:\n  Links: [\"\"]\n").contains("must not be empty"));
    assert!(err("Network:\n  Links: [\"eth0:1\"]\n").contains("must not contain ':'"));
    assert_eq!(
        err("Network:\n  Links:\n    - eth0\n    -\n"),
        format!("{FILE}:4:6: Network.Links: expected an interface name, found an empty value")
    );
    assert_eq!(
        err("Network:\n  Links: [[eth0]]\n"),
        format!("{FILE}:2:11: Network.Links: expected an interface name, found a list")
    );
    assert_eq!(
        err("Network:\n  Links: {eth0: up}\n"),
        format!(
            "{FILE}:2:10: Network.Links: expected interface names (a space-separated string \
             or a list), found a mapping"
        )
    );
    assert_eq!(
        key_of("Network:\n  Links: a/b\n").as_deref(),
        Some("Network.Links")
    );
}

/// A `Links` list of 40,000 names parses (it took 11.7 s, with quadratic duplicate checks
/// and column arithmetic), as a space-separated string and as a flow list, and the names
/// keep their order.
#[test]
fn forty_thousand_names_parse() {
    let names: Vec<String> = (0..40_000).map(|i| format!("n{i}")).collect();
    let config = ok(&format!("Network:\n  Links: {}\n", names.join(" ")));
    assert_eq!(config.network.links.as_ref(), Some(&names));
    let config = ok(&format!("Network:\n  Links: [{}]\n", names.join(", ")));
    assert_eq!(config.network.links.as_ref(), Some(&names));
    // A repeat at the very end is still found, with both positions.
    let shown = err(&format!("Network:\n  Links: {} n7\n", names.join(" ")));
    assert!(
        shown.contains("\"n7\" is listed twice (first at column 31)"),
        "{shown}"
    );
}

#[test]
fn repeated_names_are_rejected() {
    assert_eq!(
        err("Network:\n  Links:\n    - eth0\n    - eth1\n    - eth0\n"),
        format!("{FILE}:5:7: Network.Links: \"eth0\" is listed twice (first at line 3)")
    );
    assert_eq!(
        err("Network:\n  Links: eth0 eth1 eth0\n"),
        format!("{FILE}:2:20: Network.Links: \"eth0\" is listed twice (first at column 10)")
    );
    assert_eq!(
        err("Network: {Links: a, UseDNS: true, Links: b}\n"),
        format!("{FILE}:1:35: duplicate key `Links` in `Network` (first at column 11)")
    );
}

// ---- keys ----

#[test]
fn unknown_top_level_key() {
    assert_eq!(
        err("Network: {}\nBogus: 1\n"),
        format!("{FILE}:2:1: unknown key `Bogus` at top level (expected one of System, Network)")
    );
    assert_eq!(key_of("Bogus: 1\n").as_deref(), Some("Bogus"));
    assert_eq!(
        err("network:\n  Links: eth0\n"),
        format!(
            "{FILE}:1:1: unknown key `network` at top level (did you mean `Network`? keys are \
             case-sensitive)"
        )
    );
}

#[test]
fn unknown_nested_key() {
    assert_eq!(
        err("Network:\n  Links: eth0\n  Bogus: 1\n"),
        format!(
            "{FILE}:3:3: unknown key `Bogus` in `Network` (expected one of Links, \
             RoutingPolicyRules, EmitJSON, UseDNS, UseDomain, UseHostname, RouteTableBase, NetworkdStateDirectory, LeaseFiles, \
             RoutingPolicyPriority, RoutingPolicyProtocol, RemoveRoutingOnStop)"
        )
    );
    assert_eq!(
        key_of("Network:\n  Links: eth0\n  Bogus: 1\n").as_deref(),
        Some("Network.Bogus")
    );
    assert_eq!(
        err("System:\n  LogLevel: info\n  Loglevel: debug\n"),
        format!(
            "{FILE}:3:3: unknown key `Loglevel` in `System` (did you mean `LogLevel`? keys \
             are case-sensitive)"
        )
    );
    assert!(err("System: {Verbose: true}").contains(
        "unknown key `Verbose` in `System` (expected one of LogLevel, LogFormat, Generator, \
         HookTimeoutSec, HookBacklog, EventHistory, StartupTriggers, RuntimeDirectory)"
    ));
    assert_eq!(at("Network: {EmitJson: true}"), (1, 11));
}

#[test]
fn duplicate_keys_are_rejected() {
    assert_eq!(
        err("Network:\n  Links: eth0\n  UseDNS: true\n  Links: eth1\n"),
        format!("{FILE}:4:3: duplicate key `Links` in `Network` (first at line 2)")
    );
    assert_eq!(
        err("System: {}\nNetwork: {}\nSystem: {}\n"),
        format!("{FILE}:3:1: duplicate key `System` at top level (first at line 1)")
    );
    assert_eq!(
        key_of("Network:\n  Links: a\n  Links: b\n").as_deref(),
        Some("Network.Links")
    );
}

#[test]
fn sections_must_be_mappings() {
    assert_eq!(
        err("Network: eth0\n"),
        format!("{FILE}:1:10: Network: invalid value \"eth0\": expected a mapping of keys")
    );
    assert_eq!(
        err("System:\n  - LogLevel: info\n"),
        format!("{FILE}:2:3: System: expected a mapping of keys, found a list")
    );
    assert_eq!(
        err("- System\n"),
        format!(
            "{FILE}:1:1: expected a mapping with the sections System and Network, found a list"
        )
    );
}

// ---- values ----

#[test]
fn bad_keyword_values() {
    assert_eq!(
        err("System:\n  LogLevel: loud\n"),
        format!(
            "{FILE}:2:13: System.LogLevel: invalid value \"loud\": expected one of error, \
             warn, info, debug, trace"
        )
    );
    assert_eq!(
        key_of("System:\n  LogLevel: loud\n").as_deref(),
        Some("System.LogLevel")
    );
    assert_eq!(
        err("System:\n  LogFormat: JSON\n"),
        format!(
            "{FILE}:2:14: System.LogFormat: invalid value \"JSON\": expected one of text, json"
        )
    );
    assert_eq!(
        err("System:\n  Generator: networkd\n"),
        format!(
            "{FILE}:2:14: System.Generator: invalid value \"networkd\": expected one of \
             systemd-networkd, dhclient, netlink"
        )
    );
    assert_eq!(
        err("System:\n  LogLevel: 3\n"),
        format!(
            "{FILE}:2:13: System.LogLevel: invalid value \"3\": expected one of error, warn, \
             info, debug, trace"
        )
    );
    assert_eq!(
        err("System:\n  LogLevel: [info]\n"),
        format!(
            "{FILE}:2:13: System.LogLevel: expected one of error, warn, info, debug, trace, \
             found a list"
        )
    );
}

#[test]
fn bad_booleans() {
    assert_eq!(
        err("Network:\n  UseDNS: yes\n"),
        format!(
            "{FILE}:2:11: Network.UseDNS: invalid value \"yes\": expected true or false \
             (yes/no/on/off are not booleans here; write true or false)"
        )
    );
    assert_eq!(
        key_of("Network:\n  UseDNS: yes\n").as_deref(),
        Some("Network.UseDNS")
    );
    assert!(err("Network:\n  EmitJSON: off\n").contains("Network.EmitJSON: invalid value \"off\""));
    assert_eq!(
        err("Network:\n  EmitJSON: \"true\"\n"),
        format!(
            "{FILE}:2:13: Network.EmitJSON: invalid value \"true\": expected true or false \
             (write it without quotes)"
        )
    );
    assert_eq!(
        err("Network:\n  UseHostname: 1\n"),
        format!("{FILE}:2:16: Network.UseHostname: invalid value \"1\": expected true or false")
    );
    assert_eq!(
        err("Network:\n  UseDomain: {}\n"),
        format!("{FILE}:2:14: Network.UseDomain: expected true or false, found a mapping")
    );
}

#[test]
fn route_table_base_range() {
    assert_eq!(
        err("Network:\n  UseDNS: true\n  RouteTableBase: 255\n"),
        format!(
            "{FILE}:3:19: Network.RouteTableBase: 255 is out of range: expected an integer \
             from 256 to 4000000000 (tables 0 to 255 are reserved, and base + ifindex must \
             stay below 2^32)"
        )
    );
    assert_eq!(
        key_of("Network:\n  RouteTableBase: 0\n").as_deref(),
        Some("Network.RouteTableBase")
    );
    assert_eq!(at("Network:\n  RouteTableBase: -1\n"), (2, 19));
    assert!(err("Network:\n  RouteTableBase: 4000000001\n")
        .contains("RouteTableBase: 4000000001 is out of range"));
    assert!(err("Network:\n  RouteTableBase: 99999999999999999999999\n").contains(
        "Network.RouteTableBase: invalid value \"99999999999999999999999\": expected an integer"
    ));
    assert!(err("Network:\n  RouteTableBase: abc\n")
        .starts_with(&format!("{FILE}:2:19: Network.RouteTableBase: invalid value \"abc\": expected an integer from 256")));
    assert!(err("Network:\n  RouteTableBase: 1e3\n")
        .contains("Network.RouteTableBase: invalid value \"1e3\": expected an integer"));
    assert!(err("Network:\n  RouteTableBase: \"2000\"\n").ends_with("(write it without quotes)"));
    assert_eq!(
        ok("Network:\n  RouteTableBase: 256\n")
            .network
            .route_table_base,
        256
    );
    assert_eq!(
        ok("Network:\n  RouteTableBase: 4000000000\n")
            .network
            .route_table_base,
        4_000_000_000
    );
}

#[test]
fn event_history_range() {
    assert_eq!(ok("").system.event_history, 1024);
    assert_eq!(ok("System:\n  EventHistory: 0\n").system.event_history, 0);
    assert_eq!(
        ok("System:\n  EventHistory: 100000\n").system.event_history,
        100_000
    );
    assert!(err("System:\n  EventHistory: 100001\n").contains("100001 is out of range"));
    assert!(err("System:\n  EventHistory: -1\n").contains("EventHistory"));
}

#[test]
fn hook_backlog_range() {
    assert_eq!(ok("").system.hook_backlog, 16);
    assert_eq!(ok("System:\n  HookBacklog: 1\n").system.hook_backlog, 1);
    assert_eq!(
        ok("System:\n  HookBacklog: 10000\n").system.hook_backlog,
        10_000
    );
    assert!(err("System:\n  HookBacklog: 0\n").contains("0 is out of range"));
    assert!(err("System:\n  HookBacklog: 10001\n").contains("10001 is out of range"));
}

#[test]
fn hook_timeout_range() {
    assert_eq!(
        err("System:\n  HookTimeoutSec: 0\n"),
        format!(
            "{FILE}:2:19: System.HookTimeoutSec: 0 is out of range: expected an integer from \
             1 to 86400"
        )
    );
    assert_eq!(
        key_of("System:\n  HookTimeoutSec: 0\n").as_deref(),
        Some("System.HookTimeoutSec")
    );
    assert!(err("System:\n  HookTimeoutSec: 86401\n").contains("86401 is out of range"));
    assert!(err("System:\n  HookTimeoutSec: 1.5\n").contains("invalid value \"1.5\""));
    assert!(err("System:\n  HookTimeoutSec: 30s\n").contains("invalid value \"30s\""));
    assert_eq!(
        ok("System:\n  HookTimeoutSec: 86400\n").system.hook_timeout,
        Duration::from_secs(86_400)
    );
}

// ---- YAML-level errors (serde-saphyr's wording, our position format) ----

#[test]
fn syntax_errors_name_file_and_position() {
    let shown = err("Network:\n  Links: [eth0\n");
    assert!(shown.starts_with(&format!("{FILE}:")), "{shown}");
    assert!(parse("Network:\n  Links: [eth0\n").is_err());

    let shown = err("Network:\n\tLinks: eth0\n");
    assert!(shown.starts_with(&format!("{FILE}:2:")), "{shown}");
    assert!(shown.contains("tab"), "{shown}");

    let shown = err("Network: {}\n---\nNetwork: {}\n");
    assert!(shown.starts_with(&format!("{FILE}:3:1: ")), "{shown}");
    assert!(shown.contains("multiple"), "{shown}");

    // No " at line X, column Y" suffix: the position is in front, once.
    assert!(!shown.contains(" at line "), "{shown}");
}

/// The campaign's two nesting bombs: a 270-byte flow mapping of depth 50 and a 148-byte
/// sequence of depth 64 (serde-saphyr's own default limit), both of which overflowed the
/// reload thread's stack.
fn nesting_bombs() -> [String; 2] {
    [
        format!(
            "Network:\n  Links: {}1{}\n",
            "{a: ".repeat(50),
            "}".repeat(50)
        ),
        format!("Network:\n  Links:  {}{}\n", "[".repeat(64), "]".repeat(64)),
    ]
}

#[test]
fn deep_nesting_is_refused_by_position_and_limit() {
    let [mapping, sequence] = nesting_bombs();
    assert_eq!((mapping.len(), sequence.len()), (270, 148));
    for text in nesting_bombs() {
        let shown = err(&text);
        assert!(
            shown.starts_with(&format!("{FILE}:2:")),
            "{shown} should point at line 2"
        );
        assert!(
            shown.contains(&format!("nested deeper than {MAX_NESTING_DEPTH}")),
            "{shown}"
        );
    }
    // The deepest legitimate configuration (a list inside a section) is far below it.
    ok("Network:\n  Links: [eth0, eth1]\n");
}

/// Reload parses on a blocking-pool thread (2 MiB of stack), `--check-config` on the main
/// thread (8 MiB): the bombs overflowed the first and not the second. The limit must hold
/// whatever the stack, so this loads them on a thread with a quarter of the pool's stack
/// (before the limit, a debug build aborted here; with it, it needs well under that).
#[test]
fn deep_nesting_is_refused_on_a_small_stack() {
    for text in nesting_bombs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join(CONFIG_FILE_NAME), &text).unwrap();
        let path = dir.path().to_path_buf();
        let loaded = std::thread::Builder::new()
            .stack_size(512 * 1024)
            .spawn(move || Config::load_with_env(&path, no_env).map_err(|e| e.to_string()))
            .unwrap()
            .join()
            .unwrap();
        let shown = loaded.unwrap_err();
        assert!(
            shown.contains(&format!("nested deeper than {MAX_NESTING_DEPTH}")),
            "{shown}"
        );
    }
}

#[test]
fn unsupported_tags_are_rejected() {
    let shown = err("Network:\n  Links: !include links.yaml\n");
    assert!(shown.starts_with(&format!("{FILE}:2:")), "{shown}");
}

// ---- keyword spellings ----

#[test]
fn keyword_spellings_round_trip() {
    for (value, name) in LogLevel::TABLE {
        assert_eq!(value.as_str(), *name);
        assert_eq!(value.to_string(), *name);
        assert_eq!(name.parse::<LogLevel>(), Ok(*value));
    }
    for (value, name) in LogFormat::TABLE {
        assert_eq!(value.as_str(), *name);
        assert_eq!(name.parse::<LogFormat>(), Ok(*value));
    }
    for (value, name) in Generator::TABLE {
        assert_eq!(value.as_str(), *name);
        assert_eq!(name.parse::<Generator>(), Ok(*value));
    }
    assert_eq!(LogLevel::TABLE.len(), 5);
    assert_eq!(Generator::SystemdNetworkd.as_str(), "systemd-networkd");
    assert_eq!(
        "verbose".parse::<LogLevel>().unwrap_err().to_string(),
        "invalid value \"verbose\": expected one of error, warn, info, debug, trace"
    );
}

// ---- environment overrides ----

#[test]
fn env_overrides_apply() {
    let mut config = ok("System:\n  LogLevel: warn\n  LogFormat: text\n");
    config
        .apply_env_overrides(|name| match name {
            "NETWORK_EVENT_LOG_LEVEL" => Some("debug".to_owned()),
            "NETWORK_EVENT_LOG_FORMAT" => Some("json".to_owned()),
            _ => None,
        })
        .unwrap();
    assert_eq!(config.system.log_level, LogLevel::Debug);
    assert_eq!(config.system.log_format, LogFormat::Json);

    // Unset and empty variables leave the file's values alone.
    let mut config = ok("System:\n  LogLevel: warn\n");
    config.apply_env_overrides(no_env).unwrap();
    assert_eq!(config.system.log_level, LogLevel::Warn);
    config.apply_env_overrides(|_| Some(String::new())).unwrap();
    assert_eq!(config.system.log_level, LogLevel::Warn);
    assert_eq!(config.system.log_format, LogFormat::Text);
}

#[test]
fn invalid_env_override_is_an_error_naming_the_variable() {
    let mut config = Config::defaults(Path::new(DIR));
    let e = config
        .apply_env_overrides(|name| (name == ENV_LOG_LEVEL).then(|| "LOUD".to_owned()))
        .unwrap_err();
    assert!(matches!(
        e,
        ConfigError::Env {
            variable: "NETWORK_EVENT_LOG_LEVEL",
            ..
        }
    ));
    assert_eq!(
        e.to_string(),
        "environment variable NETWORK_EVENT_LOG_LEVEL: invalid value \"LOUD\": expected one \
         of error, warn, info, debug, trace"
    );
    let e = config
        .apply_env_overrides(|name| (name == ENV_LOG_FORMAT).then(|| "xml".to_owned()))
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "environment variable NETWORK_EVENT_LOG_FORMAT: invalid value \"xml\": expected one \
         of text, json"
    );
}

// ---- loading from disk ----

#[test]
fn missing_file_gives_defaults() {
    let dir = tempfile::tempdir().unwrap();
    let config = Config::load_with_env(dir.path(), no_env).unwrap();
    assert_eq!(config, Config::defaults(dir.path()));

    // A missing directory is a missing file too.
    let gone = dir.path().join("nonexistent");
    assert_eq!(
        Config::load_with_env(&gone, no_env).unwrap(),
        Config::defaults(&gone)
    );
}

#[test]
fn load_reads_the_file_and_applies_env() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join(CONFIG_FILE_NAME),
        "System:\n  LogLevel: warn\nNetwork:\n  Links: eth0\n",
    )
    .unwrap();
    let config = Config::load_with_env(dir.path(), no_env).unwrap();
    assert_eq!(config.system.log_level, LogLevel::Warn);
    assert_eq!(config.network.links, Some(vec!["eth0".to_owned()]));
    assert_eq!(config.dir, dir.path());

    let config = Config::load_with_env(dir.path(), |name| {
        (name == ENV_LOG_LEVEL).then(|| "trace".to_owned())
    })
    .unwrap();
    assert_eq!(config.system.log_level, LogLevel::Trace);

    // Even with no file, a bad override is reported.
    let empty = tempfile::tempdir().unwrap();
    assert!(matches!(
        Config::load_with_env(empty.path(), |_| Some("bogus".to_owned())),
        Err(ConfigError::Env { .. })
    ));
}

#[test]
fn load_errors_name_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CONFIG_FILE_NAME);
    std::fs::write(&file, "Network:\n  Bogus: 1\n").unwrap();
    let shown = Config::load_with_env(dir.path(), no_env)
        .unwrap_err()
        .to_string();
    assert!(
        shown.starts_with(&format!("{}:2:3: unknown key `Bogus`", file.display())),
        "{shown}"
    );
}

#[test]
fn unreadable_file_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CONFIG_FILE_NAME);
    std::fs::create_dir(&file).unwrap();
    let e = Config::load_with_env(dir.path(), no_env).unwrap_err();
    match &e {
        ConfigError::Read { path, .. } => assert_eq!(path, &file),
        other => panic!("expected a read error, got {other:?}"),
    }
    let shown = e.to_string();
    assert!(
        shown.starts_with(&format!("{}: cannot read: ", file.display())),
        "{shown}"
    );
}

/// A FIFO in place of the file is refused at once (it used to block the open, and with it
/// the reload and the SIGTERM behind it, until a writer came); so is a device. Both name
/// what they are.
#[test]
fn non_regular_files_are_refused_without_blocking() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CONFIG_FILE_NAME);
    rustix::fs::mknodat(
        rustix::fs::CWD,
        &file,
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    let (done, loaded) = std::sync::mpsc::channel();
    let path = dir.path().to_path_buf();
    std::thread::spawn(move || {
        let _ = done.send(Config::load_with_env(&path, no_env).map_err(|e| e.to_string()));
    });
    // Not a performance bound: a blocked open never returns, a refusal returns at once.
    let shown = match loaded.recv_timeout(Duration::from_secs(30)) {
        Ok(result) => result.unwrap_err(),
        Err(_) => panic!("loading a FIFO as the configuration blocked"),
    };
    assert_eq!(
        shown,
        format!(
            "{}: cannot read: not a regular file (a FIFO)",
            file.display()
        )
    );

    std::fs::remove_file(&file).unwrap();
    std::os::unix::fs::symlink("/dev/zero", &file).unwrap();
    let shown = Config::load_with_env(dir.path(), no_env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        shown,
        format!(
            "{}: cannot read: not a regular file (a device)",
            file.display()
        )
    );
}

#[test]
fn non_utf8_file_is_located() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CONFIG_FILE_NAME);
    std::fs::write(&file, b"Network:\n  Links: eth\xe90\n").unwrap();
    let shown = Config::load_with_env(dir.path(), no_env)
        .unwrap_err()
        .to_string();
    assert_eq!(
        shown,
        format!(
            "{}:2:13: invalid UTF-8 (the file must be UTF-8 text)",
            file.display()
        )
    );
}

#[test]
fn oversized_file_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join(CONFIG_FILE_NAME);
    let mut text = String::from("# padding\n");
    text.push_str(&"#".repeat(usize::try_from(MAX_FILE_BYTES).unwrap()));
    std::fs::write(&file, text).unwrap();
    let shown = Config::load_with_env(dir.path(), no_env)
        .unwrap_err()
        .to_string();
    assert!(shown.contains("larger than"), "{shown}");
}

// ---- interface names ----

#[test]
fn link_name_rules_follow_the_kernel() {
    for good in [
        "eth0",
        "wlp2s0",
        "br-lan",
        "veth.100",
        "a",
        "x123456789abcde",
        "é",
    ] {
        assert_eq!(validate_link_name(good), Ok(()), "{good:?}");
    }
    for (bad, why) in [
        ("", "empty"),
        ("x123456789abcdef", "15 bytes"),
        ("éééééééé", "15 bytes"),
        (".", "\"..\""),
        ("..", "\"..\""),
        ("a/b", "'/'"),
        ("a:b", "':'"),
        ("a b", "whitespace"),
        ("a\tb", "whitespace"),
        ("a\u{b}b", "whitespace"),
        ("a\0b", "NUL"),
    ] {
        let reason = validate_link_name(bad).unwrap_err();
        assert!(reason.contains(why), "{bad:?}: {reason}");
    }
}

#[test]
fn error_paths_render_any_path() {
    let e = Config::parse("Bogus: 1", &PathBuf::from("relative.yaml"), Path::new(".")).unwrap_err();
    assert!(e.to_string().starts_with("relative.yaml:1:1: "));
}

#[test]
fn runtime_keys_have_defaults_and_take_absolute_paths() {
    let defaults = ok("");
    assert!(defaults.system.startup_triggers);
    assert_eq!(
        defaults.system.runtime_dir,
        Path::new("/run/network-broker")
    );
    assert_eq!(
        defaults.network.networkd_state_dir,
        Path::new("/run/systemd/netif")
    );

    let config = ok(
        "System:\n  StartupTriggers: false\n  RuntimeDirectory: /tmp/nb\n\
                     Network:\n  NetworkdStateDirectory: /tmp/netif\n",
    );
    assert!(!config.system.startup_triggers);
    assert_eq!(config.system.runtime_dir, Path::new("/tmp/nb"));
    assert_eq!(config.network.networkd_state_dir, Path::new("/tmp/netif"));

    assert_eq!(
        err("System:\n  RuntimeDirectory: run/nb\n"),
        format!("{FILE}:2:21: System.RuntimeDirectory: invalid value \"run/nb\": expected an absolute path")
    );
}

// ---- LeaseFiles ----

#[test]
fn lease_files_default_to_debian_and_rhel_paths() {
    assert_eq!(
        ok("").network.lease_files,
        [
            Path::new("/var/lib/dhcp/dhclient.leases"),
            Path::new("/var/lib/dhcp/dhclient.*.leases"),
            Path::new("/var/lib/dhclient/dhclient.leases"),
        ]
    );
    assert_eq!(
        ok("Network:\n  LeaseFiles:\n"),
        Config::defaults(Path::new(DIR))
    );
}

#[test]
fn lease_files_as_string_and_lists() {
    let want = [Path::new("/a/dhclient.leases"), Path::new("/b/x.*.leases")];
    for text in [
        "Network:\n  LeaseFiles: /a/dhclient.leases /b/x.*.leases\n",
        "Network:\n  LeaseFiles: [/a/dhclient.leases, \"/b/x.*.leases\"]\n",
        "Network:\n  LeaseFiles:\n    - /a/dhclient.leases\n    - /b/x.*.leases\n",
    ] {
        assert_eq!(ok(text).network.lease_files, want, "{text:?}");
    }
    // Empty means no file at all, not the default.
    for text in [
        "Network:\n  LeaseFiles: \"\"\n",
        "Network:\n  LeaseFiles: []\n",
    ] {
        assert!(ok(text).network.lease_files.is_empty(), "{text:?}");
    }
}

#[test]
fn bad_lease_files_are_rejected_with_their_position() {
    assert_eq!(
        err("Network:\n  LeaseFiles: /a/ok.leases dhclient.leases\n"),
        format!(
            "{FILE}:2:28: Network.LeaseFiles: invalid lease file path \"dhclient.leases\": \
             must be an absolute path"
        )
    );
    assert_eq!(
        err("Network:\n  LeaseFiles:\n    - /a/ok.leases\n    - /var/*/x.leases\n"),
        format!(
            "{FILE}:4:7: Network.LeaseFiles: invalid lease file path \"/var/*/x.leases\": \
             `*` is only allowed in the file name"
        )
    );
    assert_eq!(
        err("Network:\n  LeaseFiles: /a/*.*\n"),
        format!(
            "{FILE}:2:15: Network.LeaseFiles: invalid lease file path \"/a/*.*\": \
             only one `*` is allowed"
        )
    );
    assert_eq!(
        err("Network:\n  LeaseFiles: /var/lib/dhcp/\n"),
        format!(
            "{FILE}:2:15: Network.LeaseFiles: invalid lease file path \"/var/lib/dhcp/\": \
             must name a file, not a directory"
        )
    );
    assert_eq!(
        err("Network:\n  LeaseFiles: /a/x /b/y /a/x\n"),
        format!("{FILE}:2:25: Network.LeaseFiles: \"/a/x\" is listed twice (first at column 15)")
    );
    assert_eq!(
        err("Network:\n  LeaseFiles: [/a/x, 7]\n"),
        format!("{FILE}:2:22: Network.LeaseFiles: invalid value \"7\": expected an absolute path")
    );
    assert_eq!(
        err("Network:\n  LeaseFiles: {a: b}\n"),
        format!(
            "{FILE}:2:15: Network.LeaseFiles: expected absolute paths (a space-separated \
             string or a list), found a mapping"
        )
    );
    assert_eq!(
        key_of("Network:\n  LeaseFiles: x\n").as_deref(),
        Some("Network.LeaseFiles")
    );
}

#[test]
fn routing_policy_priority_range() {
    assert_eq!(
        err("Network:\n  RoutingPolicyPriority: 0\n"),
        format!(
            "{FILE}:2:26: Network.RoutingPolicyPriority: 0 is out of range: expected an \
             integer from 1 to 32764 (0 is the local rule's; the `to` rules take the next \
             priority, and both must come before the main rule at 32766)"
        )
    );
    assert!(err("Network:\n  RoutingPolicyPriority: 32765\n")
        .contains("Network.RoutingPolicyPriority: 32765 is out of range"));
    assert_eq!(
        key_of("Network:\n  RoutingPolicyPriority: -5\n").as_deref(),
        Some("Network.RoutingPolicyPriority")
    );
    assert!(
        err("Network:\n  RoutingPolicyPriority: \"100\"\n").ends_with("(write it without quotes)")
    );
    for (text, want) in [("1", 1), ("32764", 32764), ("~", 20000)] {
        let config = ok(&format!("Network:\n  RoutingPolicyPriority: {text}\n"));
        assert_eq!(config.network.routing_policy_priority, want, "for {text}");
    }
}

#[test]
fn routing_policy_protocol_refuses_numbers_others_use() {
    assert_eq!(
        err("Network:\n  RoutingPolicyProtocol: 4\n"),
        format!(
            "{FILE}:2:26: Network.RoutingPolicyProtocol: 4 is the protocol `static` \
             (iproute2's rt_protos): routes and rules carrying our protocol are deleted when \
             no longer wanted, so it must be a number nobody else uses (the default is 78)"
        )
    );
    for reserved in [2, 3, 16, 186] {
        assert_eq!(
            key_of(&format!("Network:\n  RoutingPolicyProtocol: {reserved}\n")).as_deref(),
            Some("Network.RoutingPolicyProtocol"),
            "for {reserved}"
        );
    }
    assert!(err("Network:\n  RoutingPolicyProtocol: 0\n").contains(
        "Network.RoutingPolicyProtocol: 0 is out of range: expected an integer from 1 to 255"
    ));
    assert!(err("Network:\n  RoutingPolicyProtocol: 256\n").contains("256 is out of range"));
    assert!(err("Network:\n  RoutingPolicyProtocol: kernel\n")
        .contains("invalid value \"kernel\": expected an integer"));
    assert_eq!(
        ok("Network:\n  RoutingPolicyProtocol: 250\n")
            .network
            .routing_policy_protocol,
        250
    );
}

#[test]
fn remove_routing_on_stop_is_a_boolean() {
    assert!(
        ok("Network:\n  RemoveRoutingOnStop: true\n")
            .network
            .remove_routing_on_stop
    );
    assert!(err("Network:\n  RemoveRoutingOnStop: yes\n")
        .contains("Network.RemoveRoutingOnStop: invalid value \"yes\": expected true or false"));
}
