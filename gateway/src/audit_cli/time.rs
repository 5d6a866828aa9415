//! Times on the audit command line: `--since`/`--until`/`--before` take RFC 3339
//! (`2026-01-01T09:30:00Z`, `2026-01-01 09:30:00+02:00`, `2026-01-01`) or a duration
//! ago (`90m`, `2h`, `7d`, `30s`, as `[recording] retention`); output is UTC.

/// Microseconds since the epoch for `text`, relative durations counted back from
/// `now_us`.
pub fn parse_time(text: &str, now_us: i64) -> Result<i64, String> {
    let text = text.trim();
    if let Some(secs) = parse_duration(text) {
        let ago = i64::try_from(secs)
            .ok()
            .and_then(|s| s.checked_mul(1_000_000))
            .ok_or_else(|| format!("{text:?}: too long ago"))?;
        return Ok(now_us.saturating_sub(ago));
    }
    parse_rfc3339(text).ok_or_else(|| {
        format!(
            "{text:?}: expected RFC 3339 (2026-01-01T09:30:00Z, 2026-01-01) \
             or a duration ago (90m, 2h, 7d)"
        )
    })
}

pub use crate::config::parse_duration;

/// `YYYY-MM-DD`, or `YYYY-MM-DD[T ]HH:MM:SS[.fraction](Z|±HH:MM)`.
fn parse_rfc3339(text: &str) -> Option<i64> {
    let b = text.as_bytes();
    let num = |range: std::ops::Range<usize>| -> Option<i64> {
        let s = text.get(range)?;
        s.bytes()
            .all(|c| c.is_ascii_digit())
            .then(|| s.parse().ok())?
    };
    if b.len() < 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    if !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    let days = days_from_civil(year, month, day);
    if b.len() == 10 {
        return Some(days * 86_400_000_000);
    }
    if b.len() < 20 || !matches!(b[10], b'T' | b't' | b' ') || b[13] != b':' || b[16] != b':' {
        return None;
    }
    let (hour, minute, second) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if hour > 23 || minute > 59 || second > 60 {
        return None;
    }
    let mut rest = &text[19..];
    let mut micros = 0i64;
    if let Some(fraction) = rest.strip_prefix('.') {
        let digits = fraction.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return None;
        }
        for (i, c) in fraction[..digits].bytes().take(6).enumerate() {
            micros += i64::from(c - b'0') * 10i64.pow(5 - i as u32);
        }
        rest = &fraction[digits..];
    }
    let offset_secs = match rest {
        "Z" | "z" => 0,
        _ => {
            let o = rest.as_bytes();
            if o.len() != 6 || !matches!(o[0], b'+' | b'-') || o[3] != b':' {
                return None;
            }
            let (h, m): (i64, i64) = (rest[1..3].parse().ok()?, rest[4..6].parse().ok()?);
            if h > 23 || m > 59 {
                return None;
            }
            let sign = if o[0] == b'-' { -1 } else { 1 };
            sign * (h * 3_600 + m * 60)
        }
    };
    let secs = days * 86_400 + hour * 3_600 + minute * 60 + second - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// `2026-01-01 09:30:00Z` (UTC, whole seconds).
pub fn format_time(us: i64) -> String {
    let (date, secs_of_day, _) = split(us);
    format!("{date} {}Z", clock(secs_of_day))
}

/// `2026-01-01 09:30:00.123Z` (UTC, milliseconds).
pub fn format_time_ms(us: i64) -> String {
    let (date, secs_of_day, micros) = split(us);
    format!("{date} {}.{:03}Z", clock(secs_of_day), micros / 1_000)
}

/// `1.234 ms`, as psql's `\timing` prints it.
pub fn format_duration_ms(us: i64) -> String {
    format!("{}.{:03} ms", us / 1_000, (us % 1_000).abs())
}

fn split(us: i64) -> (String, i64, i64) {
    let secs = us.div_euclid(1_000_000);
    let micros = us.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    (
        format!("{y:04}-{m:02}-{d:02}"),
        secs.rem_euclid(86_400),
        micros,
    )
}

fn clock(secs_of_day: i64) -> String {
    format!(
        "{:02}:{:02}:{:02}",
        secs_of_day / 3_600,
        secs_of_day / 60 % 60,
        secs_of_day % 60
    )
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if year % 4 == 0 && (year % 100 != 0 || year % 400 == 0) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1_460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 2026-01-01T00:00:00Z.
    const T0: i64 = 1_767_225_600_000_000;

    #[test]
    fn rfc3339() {
        assert_eq!(parse_time("2026-01-01T00:00:00Z", 0), Ok(T0));
        assert_eq!(parse_time("2026-01-01", 0), Ok(T0));
        assert_eq!(parse_time("2026-01-01 00:00:00z", 0), Ok(T0));
        assert_eq!(
            parse_time("2026-01-01T02:30:00+02:30", 0),
            Ok(T0),
            "an offset east of UTC"
        );
        assert_eq!(
            parse_time("2025-12-31T19:00:00-05:00", 0),
            Ok(T0),
            "an offset west of UTC, across a year"
        );
        assert_eq!(parse_time("2026-01-01T00:00:01.5Z", 0), Ok(T0 + 1_500_000));
        assert_eq!(
            parse_time("2026-01-01T00:00:00.1234567Z", 0),
            Ok(T0 + 123_456),
            "digits past microseconds are dropped"
        );
        assert_eq!(parse_time("1970-01-01T00:00:00Z", 0), Ok(0));
        assert_eq!(
            parse_time("2024-02-29T12:00:00Z", 0),
            Ok(1_709_208_000_000_000)
        );
        for bad in [
            "2026-13-01",
            "2025-02-29",
            "2026-01-01T00:00:00",
            "2026-01-01T24:00:00Z",
            "2026-01-01T00:00:00.Z",
            "2026-01-01T00:00:00+2:00",
            "2026-1-1",
            "yesterday",
            "",
            "-1d",
            "+0d",
        ] {
            assert!(parse_time(bad, 0).is_err(), "{bad:?} should not parse");
        }
    }

    #[test]
    fn durations_ago() {
        let now = T0;
        assert_eq!(parse_time("90m", now), Ok(now - 90 * 60 * 1_000_000));
        assert_eq!(parse_time("2h", now), Ok(now - 2 * 3_600 * 1_000_000));
        assert_eq!(parse_time("7d", now), Ok(now - 7 * 86_400 * 1_000_000));
        assert_eq!(parse_time(" 30s ", now), Ok(now - 30 * 1_000_000));
        assert!(parse_time("0d", now).is_err());
        assert!(parse_time("5w", now).is_err());
        assert!(parse_time("99999999999999999d", now).is_err());
    }

    #[test]
    fn formatting() {
        assert_eq!(format_time(T0), "2026-01-01 00:00:00Z");
        assert_eq!(format_time_ms(T0 + 1_234_567), "2026-01-01 00:00:01.234Z");
        assert_eq!(format_time(0), "1970-01-01 00:00:00Z");
        assert_eq!(format_time(-1), "1969-12-31 23:59:59Z");
        assert_eq!(format_time(1_709_208_000_000_000), "2024-02-29 12:00:00Z");
        assert_eq!(format_duration_ms(120), "0.120 ms");
        assert_eq!(format_duration_ms(12_345_678), "12345.678 ms");
        // Round trip over a range of days, leap years included.
        for day in -800..800 {
            let us = T0 + day * 86_400_000_000 * 37 + 3_723_000_000;
            assert_eq!(
                parse_time(&format_time(us), 0),
                Ok(us),
                "{}",
                format_time(us)
            );
        }
    }
}
