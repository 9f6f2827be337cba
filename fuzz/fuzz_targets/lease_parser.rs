//! Fuzz target for the dhclient lease-file parser: whatever the bytes, `parse` must return
//! (never panic, never loop, never overflow the stack), and what it returns must make sense.
//! The same checks run on the bytes as UTF-8 (when they are) and as the daemon reads a file:
//! lossily converted.

#![no_main]

use libfuzzer_sys::fuzz_target;
use network_broker::lease::{current, next_expiry, parse};

fuzz_target!(|data: &[u8]| {
    if let Ok(text) = std::str::from_utf8(data) {
        check(text);
    }
    check(&String::from_utf8_lossy(data));
});

fn check(text: &str) {
    match parse(text) {
        Ok(leases) => {
            assert!(leases.iter().all(|lease| !lease.interface.is_empty()));
            for now in [0, 1_700_000_000, i64::MAX] {
                let set = current(&leases, now);
                assert!(set.len() <= leases.len());
                if let Some(at) = next_expiry(&set, now) {
                    assert!(at > now);
                }
            }
        }
        Err(error) => {
            let lines = text.bytes().filter(|&b| b == b'\n').count() + 1;
            assert!(error.line >= 1 && error.line <= lines, "{error}");
        }
    }
}
