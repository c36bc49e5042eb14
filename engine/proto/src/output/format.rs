//! Text formatting shared by the SIPp-style writers: wall-clock dates, SIPp's elapsed-time
//! forms, C's `%g`, and SIPp's pretty pause durations.
//!
//! Owns: pure conversions from numbers and `SystemTime` values to text. Must not: read a
//! clock (every time is passed in), allocate more than the returned `String`.
//!
//! Dates are printed in UTC. SIPp prints local time (`localtime()`); our machines and
//! containers run in UTC, where both agree. We avoid a time-zone database on purpose.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A UTC calendar time with microseconds, split out of a `SystemTime`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Civil {
    /// Full year, e.g. 2026.
    pub year: i64,
    /// 1..=12.
    pub month: u32,
    /// 1..=31.
    pub day: u32,
    /// 0..=23.
    pub hour: u32,
    /// 0..=59.
    pub minute: u32,
    /// 0..=59.
    pub second: u32,
    /// 0..=999_999.
    pub micros: u32,
    /// Whole seconds since the Unix epoch.
    pub epoch_secs: u64,
}

/// Time since the Unix epoch; times before it count as the epoch itself.
pub fn since_epoch(t: SystemTime) -> Duration {
    t.duration_since(UNIX_EPOCH).unwrap_or(Duration::ZERO)
}

/// Milliseconds since the Unix epoch (the `ts` of JSON lines).
pub fn unix_ms(t: SystemTime) -> u64 {
    u64::try_from(since_epoch(t).as_millis()).unwrap_or(u64::MAX)
}

/// Whole milliseconds from `from` to `to`, 0 when `to` is earlier (SIPp's
/// `computeDiffTimeInMs`, which truncates).
pub fn elapsed_ms(from: SystemTime, to: SystemTime) -> u64 {
    let d = to.duration_since(from).unwrap_or(Duration::ZERO);
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

/// Year, month, day from days since 1970-01-01 (the proleptic Gregorian "civil from
/// days" algorithm published by Howard Hinnant).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097; // 0..=146_096
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // 0..=399
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // 0..=365
    let mp = (5 * doy + 2) / 153; // 0..=11
    let day = doy - (153 * mp + 2) / 5 + 1; // 1..=31
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // 1..=12
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both values are small by construction (ranges in the comments above).
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Splits `t` into UTC calendar fields.
pub fn civil(t: SystemTime) -> Civil {
    let d = since_epoch(t);
    let secs = d.as_secs();
    let days = i64::try_from(secs / 86_400).unwrap_or(i64::MAX / 2);
    let rem = secs % 86_400;
    let (year, month, day) = civil_from_days(days);
    // `rem` < 86_400, so every part fits in u32.
    let rem = u32::try_from(rem).unwrap_or(0);
    Civil {
        year,
        month,
        day,
        hour: rem / 3600,
        minute: rem % 3600 / 60,
        second: rem % 60,
        micros: d.subsec_micros(),
        epoch_secs: secs,
    }
}

/// SIPp's `formatTime(tv, false)`: `2026-11-26<TAB>07:52:06.910978<TAB>1795679526.910978`,
/// used in the -trace_stat CSV, -trace_counts, -trace_shortmsg and the statistics screen.
pub fn date_time_tabbed(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02}\t{:02}:{:02}:{:02}.{:06}\t{:010}.{:06}",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros, c.epoch_secs, c.micros
    )
}

/// SIPp's `formatTime(tv, true)`: `2026-11-26 08:39:30.552895` (the -trace_msg block
/// header).
pub fn date_time_spaced(t: SystemTime) -> String {
    let c = civil(t);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02}.{:06}",
        c.year, c.month, c.day, c.hour, c.minute, c.second, c.micros
    )
}

/// `Thu, 26 Nov 2026 08:39:30 GMT`: RFC 1123, the SIP Date header (`[date]`).
pub fn rfc1123(t: SystemTime) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let c = civil(t);
    // 1970-01-01 was a Thursday.
    let weekday = DAYS[(c.epoch_secs / 86_400 % 7) as usize];
    let month = MONTHS[(c.month as usize + 11) % 12];
    format!(
        "{weekday}, {:02} {month} {} {:02}:{:02}:{:02} GMT",
        c.day, c.year, c.hour, c.minute, c.second
    )
}

/// RFC 3339 in UTC with trailing zeros of the fraction dropped, as Go's `time.Time`
/// marshals (`2026-11-26T07:52:06.910978Z`; no fraction when it is zero).
pub fn rfc3339(t: SystemTime) -> String {
    let c = civil(t);
    let nanos = since_epoch(t).subsec_nanos();
    let mut s = format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        c.year, c.month, c.day, c.hour, c.minute, c.second
    );
    if nanos != 0 {
        let frac = format!("{nanos:09}");
        s.push('.');
        s.push_str(frac.trim_end_matches('0'));
    }
    s.push('Z');
    s
}

/// SIPp's `msToHHMMSS`: `HH:MM:SS` (hours grow past two digits).
pub fn hhmmss(ms: u64) -> String {
    let s = ms / 1000;
    format!("{:02}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
}

/// SIPp's `msToHHMMSSus`: `HH:MM:SS:uuuuuu`. SIPp's own values are whole milliseconds
/// (so the last three digits are always 000); ours carry real microseconds.
pub fn hhmmss_us(us: u64) -> String {
    let s = us / 1_000_000;
    format!(
        "{:02}:{:02}:{:02}:{:06}",
        s / 3600,
        s % 3600 / 60,
        s % 60,
        us % 1_000_000
    )
}

/// C's `%g` with `precision` significant digits, which is also how C++ streams print a
/// `double` or `float` by default (precision 6): `10`, `8.97308`, `0.231054`, `1e+06`.
pub fn g(v: f64, precision: usize) -> String {
    if v.is_nan() {
        return "nan".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if v == 0.0 {
        return if v.is_sign_negative() {
            "-0".into()
        } else {
            "0".into()
        };
    }
    let p = precision.max(1);
    // Rounding to `p` significant digits decides the exponent (9.999995 -> 10).
    let sci = format!("{:.*e}", p - 1, v);
    let (mantissa, exp) = sci.split_once('e').unwrap_or((sci.as_str(), "0"));
    let exp: i64 = exp.parse().unwrap_or(0);
    let p_i = i64::try_from(p).unwrap_or(6);
    if exp < -4 || exp >= p_i {
        let m = strip_fraction_zeros(mantissa);
        let sign = if exp < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", exp.abs())
    } else {
        let decimals = usize::try_from(p_i - 1 - exp).unwrap_or(0);
        strip_fraction_zeros(&format!("{v:.decimals$}")).to_string()
    }
}

/// `%g` with the default precision 6.
pub fn g6(v: f64) -> String {
    g(v, 6)
}

fn strip_fraction_zeros(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

/// SIPp's `time_string`: the short duration text of the scenario screen's pause lines
/// (`0ms`, `2.50ms`, `12.3s`, `1:05`, `1:00:00`).
pub fn time_string(ms: f64) -> String {
    if ms < 10_000.0 {
        // SIPp casts to int; the guard keeps the cast in range.
        let whole = ms.trunc();
        if (ms + 0.9999).trunc() == whole {
            format!("{}ms", whole as i64)
        } else if ms < 1000.0 {
            format!("{ms:.2}ms")
        } else {
            format!("{ms:.1}ms")
        }
    } else if ms < 60_000.0 {
        format!("{:.1}s", ms / 1000.0)
    } else {
        // Saturating cast: `ms` is at least 60 000 here and capped below.
        let total = (ms / 1000.0).min(u32::MAX as f64) as u64;
        if ms < 3_600_000.0 {
            format!("{}:{:02}", total / 60, total % 60)
        } else {
            format!("{}:{:02}:{:02}", total / 3600, total / 60 % 60, total % 60)
        }
    }
}

/// Cuts `s` to at most `max` bytes on a character boundary, as C's `snprintf` into a
/// fixed buffer does (SIPp's screen buffers hold 79 characters and a NUL).
pub fn clip(s: &mut String, max: usize) {
    if s.len() > max {
        let mut end = max;
        while !s.is_char_boundary(end) {
            end -= 1;
        }
        s.truncate(end);
    }
}

/// `%-N.Ns`: left-aligned in `width`, cut to `width`.
pub fn left_exact(s: &str, width: usize) -> String {
    let mut t = s.to_string();
    clip(&mut t, width);
    format!("{t:<width$}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc1123_names_the_weekday_and_month() {
        // 1795679526.910978 = Thursday 2026-11-26 07:52:06 UTC (reference/sipp.md).
        let t = UNIX_EPOCH + Duration::from_micros(1_795_679_526_910_978);
        assert_eq!(rfc1123(t), "Thu, 26 Nov 2026 07:52:06 GMT");
        assert_eq!(rfc1123(UNIX_EPOCH), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(date_time_spaced(t), "2026-11-26 07:52:06.910978");
    }

    fn at(secs: u64, micros: u32) -> SystemTime {
        UNIX_EPOCH + Duration::new(secs, micros * 1000)
    }

    #[test]
    fn tabbed_date_matches_sipp_capture() {
        // From a real SIPp 3.6.1 -trace_stat row (the machine runs in UTC).
        assert_eq!(
            date_time_tabbed(at(1_795_686_419, 487_723)),
            "2026-11-26\t09:46:59.487723\t1795686419.487723"
        );
        assert_eq!(
            date_time_spaced(at(1_795_686_419, 592_695)),
            "2026-11-26 09:46:59.592695"
        );
    }

    #[test]
    fn civil_handles_leap_days_and_the_epoch() {
        assert_eq!(date_time_spaced(at(0, 0)), "1970-01-01 00:00:00.000000");
        // 2024-02-29 12:00:00 UTC.
        assert_eq!(
            date_time_spaced(at(1_709_208_000, 1)),
            "2024-02-29 12:00:00.000001"
        );
        // 2000-03-01 (century leap year rule).
        assert_eq!(
            date_time_spaced(at(951_868_800, 0)),
            "2000-03-01 00:00:00.000000"
        );
    }

    #[test]
    fn rfc3339_trims_fraction_like_go() {
        assert_eq!(
            rfc3339(at(1_795_686_419, 487_720)),
            "2026-11-26T09:46:59.48772Z"
        );
        assert_eq!(rfc3339(at(1_795_686_419, 0)), "2026-11-26T09:46:59Z");
    }

    #[test]
    fn elapsed_forms_match_sipp() {
        assert_eq!(hhmmss(1_004), "00:00:01");
        assert_eq!(hhmmss(3_600_000 * 101 + 61_000), "101:01:01");
        assert_eq!(hhmmss_us(2_007_000), "00:00:02:007000");
        assert_eq!(hhmmss_us(412), "00:00:00:000412");
    }

    #[test]
    fn g_matches_c_printf() {
        assert_eq!(g6(10.0), "10");
        assert_eq!(g6(0.0), "0");
        assert_eq!(g6(8.973_082_5), "8.97308");
        assert_eq!(g6(10.967_12), "10.9671");
        assert_eq!(g6(0.231_054_2), "0.231054");
        assert_eq!(g6(204.001), "204.001");
        assert_eq!(g6(1_000_000.0), "1e+06");
        assert_eq!(g6(999_999.5), "1e+06");
        assert_eq!(g6(0.000_012_5), "1.25e-05");
        assert_eq!(g6(0.0001), "0.0001");
        assert_eq!(g6(123_456.0), "123456");
        assert_eq!(g6(-2.5), "-2.5");
    }

    #[test]
    fn time_string_matches_sipp_pause_labels() {
        assert_eq!(time_string(0.0), "0ms");
        assert_eq!(time_string(4000.0), "4000ms");
        assert_eq!(time_string(12_345.0), "12.3s");
        assert_eq!(time_string(2.5), "2.50ms");
        assert_eq!(time_string(1500.5), "1500.5ms");
        assert_eq!(time_string(65_000.0), "1:05");
        assert_eq!(time_string(3_600_000.0), "1:00:00");
    }

    #[test]
    fn clip_respects_char_boundaries() {
        let mut s = "abcé".to_string();
        clip(&mut s, 4);
        assert_eq!(s, "abc");
        assert_eq!(left_exact("abcdef", 3), "abc");
        assert_eq!(left_exact("ab", 4), "ab  ");
    }
}
