//! Instants as ASL uses them: Wait's `Timestamp`, the `Timestamp*` Choice comparisons and
//! `IsTimestamp`, and the times of the context object. Parsing accepts what Step Functions
//! accepts (RFC 3339: a date, `T`, a time with an optional fraction, and a zone `Z` or
//! `±hh:mm`); formatting writes the context object's form, `2024-01-31T12:00:00.123Z`.
//!
//! The clock is not read here: callers pass the current time in.

use serde::{Deserialize, Serialize};

/// An instant, UTC, with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

const NANOS_PER_SEC: i64 = 1_000_000_000;

impl Timestamp {
    pub const fn from_unix_millis(ms: i64) -> Timestamp {
        Timestamp {
            secs: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
        }
    }

    pub fn from_unix_seconds(secs: i64, nanos: u32) -> Timestamp {
        Timestamp {
            secs: secs.saturating_add(i64::from(nanos / NANOS_PER_SEC as u32)),
            nanos: nanos % NANOS_PER_SEC as u32,
        }
    }

    pub fn unix_millis(self) -> i64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }

    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    pub fn checked_add_millis(self, ms: i64) -> Option<Timestamp> {
        let total =
            i128::from(self.secs) * 1000 + i128::from(self.nanos / 1_000_000) + i128::from(ms);
        let secs = i64::try_from(total.div_euclid(1000)).ok()?;
        let nanos = (total.rem_euclid(1000) as u32) * 1_000_000 + self.nanos % 1_000_000;
        Some(Timestamp { secs, nanos })
    }

    pub fn saturating_add_seconds(self, secs: i64) -> Timestamp {
        Timestamp {
            secs: self.secs.saturating_add(secs),
            nanos: self.nanos,
        }
    }

    /// Parses an RFC 3339 date-time as Step Functions accepts it: `2016-03-14T01:59:00Z`,
    /// `2016-03-14T01:59:00.123456789+01:00`. Refuses a space for `T`, a missing zone,
    /// out-of-range fields and anything trailing.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let b = text.as_bytes();
        if b.len() < 20 {
            return None;
        }
        let num = |from: usize, len: usize| -> Option<i64> {
            let digits = b.get(from..from + len)?;
            digits.iter().try_fold(0i64, |acc, &c| {
                c.is_ascii_digit().then(|| acc * 10 + i64::from(c - b'0'))
            })
        };
        let year = num(0, 4)?;
        if b[4] != b'-' || b[7] != b'-' || b[10] != b'T' || b[13] != b':' || b[16] != b':' {
            return None;
        }
        let (month, day, hour, minute, second) = (
            num(5, 2)?,
            num(8, 2)?,
            num(11, 2)?,
            num(14, 2)?,
            num(17, 2)?,
        );
        if !(1..=12).contains(&month)
            || day < 1
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 59
        {
            return None;
        }
        let mut i = 19;
        let mut nanos: u32 = 0;
        if b.get(i) == Some(&b'.') {
            i += 1;
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                if i - start < 9 {
                    nanos = nanos * 10 + u32::from(b[i] - b'0');
                }
                i += 1;
            }
            let digits = i - start;
            if digits == 0 || digits > 9 {
                return None;
            }
            nanos *= 10u32.pow(9 - digits as u32);
        }
        let offset = match b.get(i)? {
            b'Z' if i + 1 == b.len() => 0,
            sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
                let (h, m) = (num(i + 1, 2)?, num(i + 4, 2)?);
                if h > 23 || m > 59 {
                    return None;
                }
                let minutes = h * 60 + m;
                if *sign == b'+' { minutes } else { -minutes }
            }
            _ => return None,
        };
        let days = days_from_civil(year, month, day);
        let secs = days * 86_400 + hour * 3600 + minute * 60 + second - offset * 60;
        Some(Timestamp { secs, nanos })
    }

    /// `2024-01-31T12:00:00.123Z`: milliseconds, UTC.
    pub fn to_iso_millis(self) -> String {
        let days = self.secs.div_euclid(86_400);
        let rem = self.secs.rem_euclid(86_400);
        let (y, m, d) = civil_from_days(days);
        format!(
            "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.nanos / 1_000_000
        )
    }
}

fn is_leap(y: i64) -> bool {
    (y % 4 == 0 && y % 100 != 0) || y % 400 == 0
}

fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date.
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_aws_accepts() {
        let t = Timestamp::parse("2016-03-14T01:59:00Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_457_920_740);
        assert_eq!(Timestamp::parse("2016-03-14T02:59:00+01:00"), Some(t));
        assert_eq!(Timestamp::parse("2016-03-13T23:59:00-02:00"), Some(t));
        let f = Timestamp::parse("2016-03-14T01:59:00.123456789Z").unwrap();
        assert_eq!(f.subsec_nanos(), 123_456_789);
        assert_eq!(
            Timestamp::parse("2016-03-14T01:59:00.5Z")
                .unwrap()
                .subsec_nanos(),
            500_000_000
        );
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("2000-02-29T00:00:00Z").is_some());
    }

    #[test]
    fn refuses_what_aws_refuses() {
        for bad in [
            "2016-12-05 21:29:29Z",
            "2016-13-05T21:29:29Z",
            "2016-12-05T25:29:29Z",
            "05-12-2016T21:29:29Z",
            "2016-12-05T21:29:29",
            "2016-12-05T21:29:29.Z",
            "2016-12-05T21:29:29.1234567891Z",
            "2023-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2016-12-05T21:29:29Zjunk",
            "2016-12-05T21:29:29+0100",
            "",
            "not a date at all, sorry",
            "２０１６-12-05T21:29:29Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn formats_like_the_context_object() {
        assert_eq!(
            Timestamp::from_unix_millis(0).to_iso_millis(),
            "1970-01-01T00:00:00.000Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(1_457_920_740_123).to_iso_millis(),
            "2016-03-14T01:59:00.123Z"
        );
        assert_eq!(
            Timestamp::from_unix_millis(-1).to_iso_millis(),
            "1969-12-31T23:59:59.999Z"
        );
        let t = Timestamp::parse("2400-12-31T23:59:59Z").unwrap();
        assert_eq!(t.to_iso_millis(), "2400-12-31T23:59:59.000Z");
    }

    #[test]
    fn arithmetic_and_order() {
        let t = Timestamp::from_unix_millis(1_000);
        assert_eq!(t.checked_add_millis(1_500).unwrap().unix_millis(), 2_500);
        assert_eq!(t.checked_add_millis(-2_000).unwrap().unix_millis(), -1_000);
        assert_eq!(t.saturating_add_seconds(2).unix_millis(), 3_000);
        assert!(
            Timestamp::parse("2020-01-01T00:00:00.000000001Z")
                > Timestamp::parse("2020-01-01T00:00:00Z")
        );
        assert_eq!(
            Timestamp::from_unix_millis(i64::MAX)
                .saturating_add_seconds(i64::MAX)
                .unix_seconds(),
            i64::MAX
        );
    }
}
