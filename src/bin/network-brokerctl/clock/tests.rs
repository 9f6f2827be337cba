//! Unit tests of `clock` (src/bin/network-brokerctl/clock.rs).

use super::*;

#[test]
fn times_of_day_carry_milliseconds() {
    // 2026-12-03 12:01:03.123456 UTC
    assert_eq!(time_of_day(1_796_299_263_123_456), "12:01:03.123");
}

#[test]
fn dates_are_civil_utc() {
    assert_eq!(date_time(0), "1970-01-01 00:00:00 UTC");
    assert_eq!(date_time(1_796_299_263), "2026-12-03 12:01:03 UTC");
    assert_eq!(date_time(951_782_400), "2000-02-29 00:00:00 UTC");
}

#[test]
fn relative_times_name_their_direction() {
    assert_eq!(relative(1000 + 1623, 1000), "in 27min 3s");
    assert_eq!(relative(1000, 1000 + 7260), "2h 1min ago");
    assert_eq!(relative(5, 5), "0s ago");
    assert_eq!(relative(3600, 0), "in 1h");
}
