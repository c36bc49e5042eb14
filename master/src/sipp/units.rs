//! Value parsers for the SIPp flags: times with SIPp's unit suffixes, counts, ports,
//! rates, booleans. Every error names the flag.
//!
//! Owns: the text → number rules. Must not: know which flag takes which unit (the caller
//! passes the default unit, from `sipp -h`).
//!
//! Times are what SIPp accepts (checked against 3.6.1): a decimal number, optional spaces,
//! then an optional case-insensitive `ms`, `s`, `m` or `h`; no suffix means the flag's
//! default unit. Unlike SIPp we reject negative times instead of wrapping them.

use super::error::CliError;

/// The unit a time flag assumes when the value has no suffix.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TimeUnit {
    Millis,
    Seconds,
}

/// Largest time we accept (about 31 years, in ms): keeps `as u64` exact and sane.
const MAX_TIME_MS: f64 = 1e12;

/// `text` as milliseconds.
pub(crate) fn time_ms(flag: &'static str, text: &str, default: TimeUnit) -> Result<u64, CliError> {
    let bad = || CliError::BadValue {
        flag,
        value: text.to_owned(),
        expected: "a valid time (e.g. 500ms, 5s, 2m, 1h)",
    };
    let t = text.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let value: f64 = num.parse().map_err(|_| bad())?;
    let factor = match unit.trim().to_ascii_lowercase().as_str() {
        "" => match default {
            TimeUnit::Millis => 1.0,
            TimeUnit::Seconds => 1000.0,
        },
        "ms" => 1.0,
        "s" => 1000.0,
        "m" => 60_000.0,
        "h" => 3_600_000.0,
        _ => return Err(bad()),
    };
    let ms = (value * factor).round();
    if !ms.is_finite() || ms > MAX_TIME_MS {
        return Err(CliError::Invalid {
            flag,
            reason: format!("\"{text}\" is too long a time"),
        });
    }
    // In range 0..=1e12 and integral after round(): the cast is exact.
    Ok(ms as u64)
}

/// A non-negative integer.
pub(crate) fn uint<T: std::str::FromStr>(flag: &'static str, text: &str) -> Result<T, CliError> {
    text.trim().parse().map_err(|_| CliError::BadValue {
        flag,
        value: text.to_owned(),
        expected: "a valid non-negative integer",
    })
}

/// A port number (0..=65535).
pub(crate) fn port(flag: &'static str, text: &str) -> Result<u16, CliError> {
    text.trim().parse().map_err(|_| CliError::BadValue {
        flag,
        value: text.to_owned(),
        expected: "a port number (0-65535)",
    })
}

/// A finite, non-negative decimal number.
pub(crate) fn number(flag: &'static str, text: &str) -> Result<f64, CliError> {
    match text.trim().parse::<f64>() {
        Ok(v) if v.is_finite() && v >= 0.0 => Ok(v),
        _ => Err(CliError::BadValue {
            flag,
            value: text.to_owned(),
            expected: "a non-negative number",
        }),
    }
}

/// SIPp's booleans: true/false, yes/no, on/off, 1/0, any case.
pub(crate) fn boolean(flag: &'static str, text: &str) -> Result<bool, CliError> {
    match text.trim().to_ascii_lowercase().as_str() {
        "true" | "yes" | "on" | "1" => Ok(true),
        "false" | "no" | "off" | "0" => Ok(false),
        _ => Err(CliError::BadValue {
            flag,
            value: text.to_owned(),
            expected: "a valid boolean (true/false)",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_take_the_flags_default_unit_or_a_suffix() {
        use TimeUnit::{Millis, Seconds};
        let cases: &[(&str, TimeUnit, u64)] = &[
            ("0", Millis, 0),
            ("250", Millis, 250),
            ("250", Seconds, 250_000),
            ("100ms", Seconds, 100),
            ("100MS", Seconds, 100),
            ("5s", Millis, 5_000),
            ("2m", Millis, 120_000),
            ("1h", Seconds, 3_600_000),
            ("1.5s", Millis, 1_500),
            ("0.5", Seconds, 500),
            ("5 s", Millis, 5_000),
            (" 7 ", Millis, 7),
        ];
        for &(text, unit, ms) in cases {
            assert_eq!(time_ms("d", text, unit), Ok(ms), "{text:?} {unit:?}");
        }
    }

    #[test]
    fn bad_times_name_the_flag() {
        for text in ["", "abc", "5x", "-5", "s", "1.2.3", "5 sec"] {
            match time_ms("timeout", text, TimeUnit::Seconds) {
                Err(CliError::BadValue {
                    flag: "timeout", ..
                }) => {}
                other => panic!("{text:?}: {other:?}"),
            }
        }
        assert!(matches!(
            time_ms("d", "1e400", TimeUnit::Millis),
            Err(CliError::BadValue { .. })
        ));
        assert!(matches!(
            time_ms("d", "99999999999999", TimeUnit::Seconds),
            Err(CliError::Invalid { flag: "d", .. })
        ));
    }

    #[test]
    fn numbers_ports_and_booleans_reject_garbage() {
        assert_eq!(uint::<u64>("m", "20000"), Ok(20_000));
        assert!(matches!(
            uint::<u64>("m", "-3"),
            Err(CliError::BadValue { flag: "m", .. })
        ));
        assert!(matches!(
            uint::<u32>("base_cseq", "1.5"),
            Err(CliError::BadValue { .. })
        ));
        assert_eq!(port("p", "5060"), Ok(5060));
        assert!(matches!(
            port("p", "70000"),
            Err(CliError::BadValue { flag: "p", .. })
        ));
        assert_eq!(number("r", "2.5"), Ok(2.5));
        for bad in ["abc", "-1", "inf", "NaN"] {
            assert!(
                matches!(number("r", bad), Err(CliError::BadValue { flag: "r", .. })),
                "{bad}"
            );
        }
        for (t, v) in [
            ("true", true),
            ("YES", true),
            ("on", true),
            ("1", true),
            ("false", false),
            ("0", false),
        ] {
            assert_eq!(boolean("reconnect_close", t), Ok(v));
        }
        assert!(matches!(
            boolean("reconnect_close", "maybe"),
            Err(CliError::BadValue { .. })
        ));
    }
}
