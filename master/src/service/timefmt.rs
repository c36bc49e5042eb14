//! Wall-clock timestamps as text: RFC 3339 for JSON, a compact sortable form for file names.
//!
//! Owns: formatting a `SystemTime`. The master reads the clock in handlers (it is the I/O
//! shell, not the sans-IO core); this module only turns instants into text and numbers.
//! Must not: read the clock.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch (0 for a clock set before 1970).
pub(crate) fn unix_secs(t: SystemTime) -> u64 {
    since_epoch(t).as_secs()
}

fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or_default()
}

/// Civil date (year, month, day) of a day count since 1970-01-01 (H. Hinnant's algorithm).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    // day is 1..=31 and month 1..=12 by construction of the algorithm.
    (year, month as u32, day as u32)
}

struct Parts {
    year: i64,
    month: u32,
    day: u32,
    hour: u64,
    minute: u64,
    second: u64,
    nanos: u32,
}

fn parts(t: SystemTime) -> Parts {
    let d = since_epoch(t);
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let (year, month, day) = civil_from_days(days);
    let rem = secs % 86_400;
    Parts {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        nanos: d.subsec_nanos(),
    }
}

/// `2025-01-02T03:04:05.123456789Z`, fraction trimmed of trailing zeros (Go's RFC3339Nano).
pub(crate) fn rfc3339(t: SystemTime) -> String {
    let p = parts(t);
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        p.year, p.month, p.day, p.hour, p.minute, p.second
    );
    if p.nanos != 0 {
        let frac = format!("{:09}", p.nanos);
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// `20250102T030405.123456789Z`: fixed width, so names sort in time order; a safe file name.
pub(crate) fn compact(t: SystemTime) -> String {
    let p = parts(t);
    format!(
        "{:04}{:02}{:02}T{:02}{:02}{:02}.{:09}Z",
        p.year, p.month, p.day, p.hour, p.minute, p.second, p.nanos
    )
}

/// `Sun, 06 Nov 1994 08:49:37 GMT`: RFC 9110 §5.6.7's IMF-fixdate, for the `Date` header.
pub(crate) fn http_date(t: SystemTime) -> String {
    const WEEKDAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let p = parts(t);
    // 1970-01-01 was a Thursday; the index is below 7 and the month within 1..=12.
    let weekday = WEEKDAYS
        .get((unix_secs(t) / 86_400 % 7) as usize)
        .unwrap_or(&"Thu");
    let month = MONTHS.get(p.month as usize - 1).unwrap_or(&"Jan");
    format!(
        "{weekday}, {:02} {month} {:04} {:02}:{:02}:{:02} GMT",
        p.day, p.year, p.hour, p.minute, p.second
    )
}

/// MS-DOS `(time, date)` of `t` in UTC, as ZIP entries carry it: 2-second steps, years
/// 1980 to 2107 (earlier instants are written as 1980-01-01 00:00, later ones as the end
/// of 2107).
pub(crate) fn dos_time_date(t: SystemTime) -> (u16, u16) {
    let p = parts(t);
    if p.year < 1980 {
        return (0, 1 << 5 | 1);
    }
    if p.year > 2107 {
        return (23 << 11 | 59 << 5 | 29, 127 << 9 | 12 << 5 | 31);
    }
    // Every field is within its bit width by the checks above and by `parts`.
    let time = (p.hour << 11 | p.minute << 5 | (p.second / 2)) as u16;
    let date = ((p.year - 1980) << 9 | i64::from(p.month) << 5 | i64::from(p.day)) as u16;
    (time, date)
}

/// The RFC 3339 form of a [`compact`] name, or `None` if it is not one.
pub(crate) fn compact_to_rfc3339(ts: &str) -> Option<String> {
    let b = ts.as_bytes();
    if b.len() != 26
        || b.get(8) != Some(&b'T')
        || b.get(15) != Some(&b'.')
        || b.get(25) != Some(&b'Z')
    {
        return None;
    }
    let digits =
        |r: std::ops::Range<usize>| ts.get(r).filter(|s| s.bytes().all(|c| c.is_ascii_digit()));
    let (y, mo, d) = (digits(0..4)?, digits(4..6)?, digits(6..8)?);
    let (h, mi, s) = (digits(9..11)?, digits(11..13)?, digits(13..15)?);
    let frac = digits(16..25)?.trim_end_matches('0');
    let frac = if frac.is_empty() {
        String::new()
    } else {
        format!(".{frac}")
    };
    Some(format!("{y}-{mo}-{d}T{h}:{mi}:{s}{frac}Z"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(UNIX_EPOCH), "1970-01-01T00:00:00Z");
        let t = UNIX_EPOCH + Duration::new(1_709_210_096, 120_000_000); // 2024-02-29 leap day
        assert_eq!(rfc3339(t), "2024-02-29T12:34:56.12Z");
        assert_eq!(compact(t), "20240229T123456.120000000Z");
        assert_eq!(
            compact_to_rfc3339(&compact(t)).as_deref(),
            Some("2024-02-29T12:34:56.12Z")
        );
        let t2 = UNIX_EPOCH + Duration::from_secs(4_102_444_799); // 2099-12-31T23:59:59
        assert_eq!(rfc3339(t2), "2099-12-31T23:59:59Z");
    }

    #[test]
    fn http_dates_are_imf_fixdate() {
        let t = UNIX_EPOCH + Duration::from_secs(784_111_777);
        assert_eq!(http_date(t), "Sun, 06 Nov 1994 08:49:37 GMT");
        assert_eq!(http_date(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
    }

    #[test]
    fn compact_names_sort_in_time_order() {
        let a = compact(UNIX_EPOCH + Duration::new(100, 999_999_999));
        let b = compact(UNIX_EPOCH + Duration::new(101, 0));
        assert!(a < b);
        assert_eq!(compact_to_rfc3339("not-a-ts"), None);
    }

    #[test]
    fn dos_time_and_date_are_packed_and_clamped() {
        // 2025-01-02T03:04:05Z
        let t = UNIX_EPOCH + Duration::from_secs(1_735_787_045);
        assert_eq!(
            dos_time_date(t),
            (3 << 11 | 4 << 5 | 2, 45 << 9 | 1 << 5 | 2)
        );
        assert_eq!(dos_time_date(UNIX_EPOCH), (0, 1 << 5 | 1));
    }
}
