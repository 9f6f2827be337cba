//! Fuzz target for the configuration parser: whatever the bytes, `Config::parse` must return
//! (never panic, never overflow the stack, never take time out of proportion to the input),
//! and what it returns must make sense: an error names the file and a position inside the
//! text, a configuration holds only values its validation allows.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use network_broker::config::{validate_link_name, Config, ConfigError};

const FILE: &str = "/fuzz/network-broker.yaml";

fuzz_target!(|data: &[u8]| {
    // The daemon refuses a file that is not UTF-8 before parsing (with its position); the
    // parser itself only ever sees text.
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
});

fn check(text: &str) {
    match Config::parse(text, Path::new(FILE), Path::new("/fuzz")) {
        Ok(config) => {
            for name in config.network.links.iter().flatten() {
                assert!(validate_link_name(name).is_ok(), "{name:?}");
            }
            for name in &config.network.routing_policy_rules {
                assert!(validate_link_name(name).is_ok(), "{name:?}");
            }
            assert!(config.system.runtime_dir.is_absolute());
            assert!(config.network.networkd_state_dir.is_absolute());
            assert!(config.network.lease_files.iter().all(|p| p.is_absolute()));
        }
        Err(ConfigError::Invalid { path, position, .. }) => {
            assert_eq!(path, Path::new(FILE));
            if let Some(p) = position {
                // YAML breaks lines at `\n`, `\r\n` and a lone `\r` (found by this target:
                // an oracle counting only `\n` was wrong, not the parser).
                let lines = text.replace("\r\n", "\n").split(['\n', '\r']).count() as u64;
                assert!(p.line >= 1 && p.line <= lines, "line {} of {lines}", p.line);
                assert!(p.column >= 1);
            }
        }
        Err(other) => panic!("parse can only fail as Invalid: {other:?}"),
    }
}
