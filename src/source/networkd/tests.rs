//! Unit tests of `crate::source::networkd`.

#![allow(clippy::expect_used, clippy::unwrap_used)] // a failed expectation is the test failing

use super::*;

#[test]
fn backoff_doubles_up_to_the_cap() {
    assert_eq!(backoff(1), READ_BACKOFF);
    assert_eq!(backoff(2), READ_BACKOFF * 2);
    assert_eq!(backoff(3), READ_BACKOFF * 4);
    assert_eq!(backoff(100), READ_BACKOFF_MAX);
    assert_eq!(backoff(u32::MAX), READ_BACKOFF_MAX);
}
