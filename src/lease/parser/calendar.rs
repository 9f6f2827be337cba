//! Dates as dhclient writes them (`YYYY/MM/DD HH:MM:SS`, UTC) to Unix seconds.

/// `YYYY/MM/DD` and `HH:MM:SS` (UTC, as dhclient's default `db-time-format` writes them) to
/// seconds since the Unix epoch. `None` if either is malformed or out of range.
///
/// Computed here (Howard Hinnant's days-from-civil) rather than with a date crate: it is ten
/// lines, and the daemon needs nothing else from a calendar library.
pub(super) fn utc_seconds(date: &str, clock: &str) -> Option<i64> {
    let mut d = date.split('/');
    let (year, month, day) = (d.next()?, d.next()?, d.next()?);
    let mut c = clock.split(':');
    let (hour, minute, second) = (c.next()?, c.next()?, c.next()?);
    if d.next().is_some() || c.next().is_some() {
        return None;
    }
    let all_digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if ![year, month, day, hour, minute, second]
        .iter()
        .all(|s| all_digits(s))
    {
        return None;
    }
    let year: i64 = year.parse().ok()?;
    let month: u32 = month.parse().ok()?;
    let day: u32 = day.parse().ok()?;
    let hour: i64 = hour.parse().ok()?;
    let minute: i64 = minute.parse().ok()?;
    let second: i64 = second.parse().ok()?;
    // dhclient never writes a time before the epoch (it writes nothing for a negative time);
    // the upper bound keeps the arithmetic far from overflow.
    if !(1970..=9999).contains(&year)
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || !(0..=23).contains(&hour)
        || !(0..=59).contains(&minute)
        // 60: a leap second, which strftime can print.
        || !(0..=60).contains(&second)
    {
        return None;
    }
    Some(days_from_civil(year, month, day) * 86_400 + hour * 3_600 + minute * 60 + second)
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        4 | 6 | 9 | 11 => 30,
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Hinnant, "chrono-Compatible Low-Level
/// Date Algorithms"). Callers pass `month` in 1..=12 and `year` >= 1970.
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year.div_euclid(400);
    let year_of_era = year.rem_euclid(400);
    let month_from_march = i64::from((month + 9) % 12);
    let day_of_year = (153 * month_from_march + 2) / 5 + i64::from(day) - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * 146_097 + day_of_era - 719_468
}
