//! Instants as ASL uses them: Wait's `Timestamp` and `TimestampPath`, the `Timestamp*` Choice
//! comparisons and `IsTimestamp`, and the times of the context object.
//!
//! Two parsers, because Step Functions has two:
//! - [`Timestamp::parse`] reads a value at run time the way Step Functions does (its errors
//!   speak of "ISO-8601 extended offset date-time format", Java's `ISO_OFFSET_DATE_TIME`):
//!   `2016-03-14T01:59:00Z`, with an optional fraction of up to nine digits, a zone `Z` or
//!   `±hh:mm[:ss]` within ±18:00, seconds optional, `T` and `Z` in either case, years beyond
//!   9999 with a `+` sign.
//! - [`Timestamp::parse_rfc3339`] checks a literal in a definition ("String does not match
//!   RFC3339 timestamp"): the ASL specification's profile of RFC 3339, with an uppercase `T`,
//!   seconds, and `Z` or `±hh:mm`.
//!
//! Both refuse a space for `T`, a missing zone, out-of-range fields (month 13, hour 24,
//! February 29 of a common year) and anything trailing. Dates are proleptic Gregorian, with
//! our own civil-date arithmetic. The clock is not read here: callers pass the time in.

use serde::{Deserialize, Serialize};

/// An instant, UTC, with nanosecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Timestamp {
    secs: i64,
    nanos: u32,
}

const NANOS_PER_SEC: u32 = 1_000_000_000;
const SECS_PER_DAY: i64 = 86_400;
/// The widest zone offset Java (and so Step Functions) accepts: ±18:00.
const MAX_OFFSET_SECS: i64 = 18 * 3600;
/// Java's year range: ±999,999,999.
const MAX_YEAR: i64 = 999_999_999;

impl Timestamp {
    /// The Unix epoch, 1970-01-01T00:00:00Z.
    pub const EPOCH: Timestamp = Timestamp { secs: 0, nanos: 0 };

    pub const fn from_unix_millis(ms: i64) -> Timestamp {
        Timestamp {
            secs: ms.div_euclid(1000),
            nanos: (ms.rem_euclid(1000) * 1_000_000) as u32,
        }
    }

    /// An instant from seconds since the epoch and nanoseconds (carried into seconds past
    /// one second).
    pub fn from_unix_seconds(secs: i64, nanos: u32) -> Timestamp {
        Timestamp {
            secs: secs.saturating_add(i64::from(nanos / NANOS_PER_SEC)),
            nanos: nanos % NANOS_PER_SEC,
        }
    }

    /// An instant from nanoseconds since the epoch, saturating at the ends of the range.
    pub fn from_unix_nanos(ns: i128) -> Timestamp {
        let secs = ns.div_euclid(i128::from(NANOS_PER_SEC));
        match i64::try_from(secs) {
            Ok(secs) => Timestamp {
                secs,
                nanos: ns.rem_euclid(i128::from(NANOS_PER_SEC)) as u32,
            },
            Err(_) if ns < 0 => Timestamp {
                secs: i64::MIN,
                nanos: 0,
            },
            Err(_) => Timestamp {
                secs: i64::MAX,
                nanos: NANOS_PER_SEC - 1,
            },
        }
    }

    /// Milliseconds since the epoch (rounded down), saturating.
    pub fn unix_millis(self) -> i64 {
        self.secs
            .saturating_mul(1000)
            .saturating_add(i64::from(self.nanos / 1_000_000))
    }

    /// Nanoseconds since the epoch; exact over the whole range.
    pub fn unix_nanos(self) -> i128 {
        i128::from(self.secs) * i128::from(NANOS_PER_SEC) + i128::from(self.nanos)
    }

    pub fn unix_seconds(self) -> i64 {
        self.secs
    }

    pub fn subsec_nanos(self) -> u32 {
        self.nanos
    }

    pub fn checked_add_millis(self, ms: i64) -> Option<Timestamp> {
        let total = self.unix_nanos() + i128::from(ms) * 1_000_000;
        let secs = i64::try_from(total.div_euclid(i128::from(NANOS_PER_SEC))).ok()?;
        Some(Timestamp {
            secs,
            nanos: total.rem_euclid(i128::from(NANOS_PER_SEC)) as u32,
        })
    }

    pub fn saturating_add_seconds(self, secs: i64) -> Timestamp {
        Timestamp {
            secs: self.secs.saturating_add(secs),
            nanos: self.nanos,
        }
    }

    /// Milliseconds from `earlier` to `self` (negative when `self` is earlier), saturating.
    pub fn millis_since(self, earlier: Timestamp) -> i64 {
        let diff = (self.unix_nanos() - earlier.unix_nanos()).div_euclid(1_000_000);
        i64::try_from(diff).unwrap_or(if diff < 0 { i64::MIN } else { i64::MAX })
    }

    /// Parses a value at run time as Step Functions does: `2016-03-14T01:59:00Z`,
    /// `2016-03-14T01:59:00.123456789+01:00`, `2016-03-14T01:59Z`. See the module doc.
    pub fn parse(text: &str) -> Option<Timestamp> {
        parse(text, Profile::Runtime)
    }

    /// Checks a literal in a definition: `2016-03-14T01:59:00Z` or
    /// `2016-03-14T01:59:00.5+01:00`, nothing looser.
    pub fn parse_rfc3339(text: &str) -> Option<Timestamp> {
        parse(text, Profile::Rfc3339)
    }

    /// `2024-01-31T12:00:00.123Z`: milliseconds, UTC, as the context object writes times.
    pub fn to_iso_millis(self) -> String {
        let days = self.secs.div_euclid(SECS_PER_DAY);
        let rem = self.secs.rem_euclid(SECS_PER_DAY);
        let (y, m, d) = civil_from_days(days);
        let year = if y > 9999 {
            format!("+{y}")
        } else if y < 0 {
            format!("-{:04}", y.unsigned_abs())
        } else {
            format!("{y:04}")
        };
        format!(
            "{year}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{:03}Z",
            rem / 3600,
            rem % 3600 / 60,
            rem % 60,
            self.nanos / 1_000_000
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Profile {
    /// Java's `ISO_OFFSET_DATE_TIME` with strict resolution.
    Runtime,
    /// RFC 3339 as the ASL specification restricts it.
    Rfc3339,
}

/// A cursor over ASCII bytes; every read is bounds-checked.
struct Cursor<'a> {
    b: &'a [u8],
    i: usize,
}

impl Cursor<'_> {
    fn peek(&self) -> Option<u8> {
        self.b.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        let hit = self.peek() == Some(c);
        self.i += usize::from(hit);
        hit
    }

    fn eat_either(&mut self, c: u8, case_insensitive: bool) -> bool {
        self.eat(c) || (case_insensitive && self.eat(c.to_ascii_lowercase()))
    }

    /// Up to `max` ASCII digits: their value and how many there were.
    fn digits_upto(&mut self, max: usize) -> (i64, usize) {
        let mut value = 0i64;
        let mut n = 0;
        while n < max {
            match self.peek() {
                Some(c @ b'0'..=b'9') => {
                    value = value * 10 + i64::from(c - b'0');
                    self.i += 1;
                    n += 1;
                }
                _ => break,
            }
        }
        (value, n)
    }

    /// Exactly `n` ASCII digits.
    fn digits(&mut self, n: usize) -> Option<i64> {
        match self.digits_upto(n) {
            (v, got) if got == n => Some(v),
            _ => None,
        }
    }
}

fn parse(text: &str, profile: Profile) -> Option<Timestamp> {
    let runtime = profile == Profile::Runtime;
    let mut c = Cursor {
        b: text.as_bytes(),
        i: 0,
    };
    let year = if runtime {
        java_year(&mut c)?
    } else {
        c.digits(4)?
    };
    if !c.eat(b'-') {
        return None;
    }
    let month = c.digits(2)?;
    if !c.eat(b'-') {
        return None;
    }
    let day = c.digits(2)?;
    if !c.eat_either(b'T', runtime) {
        return None;
    }
    let hour = c.digits(2)?;
    if !c.eat(b':') {
        return None;
    }
    let minute = c.digits(2)?;
    let (mut second, mut nanos) = (0, 0u32);
    if c.eat(b':') {
        second = c.digits(2)?;
        if c.eat(b'.') {
            let (value, n) = c.digits_upto(9);
            // Java accepts a bare '.' (no digits); RFC 3339 wants at least one.
            if (n == 0 && !runtime) || matches!(c.peek(), Some(b'0'..=b'9')) {
                return None;
            }
            nanos = (value as u32).checked_mul(10u32.pow(9 - n as u32))?;
        }
    } else if !runtime {
        return None;
    }
    let offset = if c.eat_either(b'Z', runtime) {
        0
    } else {
        let sign = match c.peek()? {
            b'+' => 1,
            b'-' => -1,
            _ => return None,
        };
        c.i += 1;
        let h = c.digits(2)?;
        if !c.eat(b':') {
            return None;
        }
        let m = c.digits(2)?;
        let s = if runtime && c.eat(b':') {
            c.digits(2)?
        } else {
            0
        };
        if h > 23 || m > 59 || s > 59 {
            return None;
        }
        let total = h * 3600 + m * 60 + s;
        if runtime && total > MAX_OFFSET_SECS {
            return None;
        }
        sign * total
    };
    if c.i != c.b.len()
        || !(1..=12).contains(&month)
        || day < 1
        || day > days_in_month(year, month)
        || hour > 23
        || minute > 59
        || second > 59
    {
        return None;
    }
    let secs =
        days_from_civil(year, month, day) * SECS_PER_DAY + hour * 3600 + minute * 60 + second
            - offset;
    Some(Timestamp { secs, nanos })
}

/// A year as Java's ISO formatter reads it: four digits, or a sign and more (`+` only
/// with more than four digits; `-0000` refused), within ±999,999,999.
fn java_year(c: &mut Cursor<'_>) -> Option<i64> {
    let sign = match c.peek()? {
        b'+' => Some(true),
        b'-' => Some(false),
        _ => None,
    };
    c.i += usize::from(sign.is_some());
    let (value, n) = c.digits_upto(10);
    if n < 4 {
        return None;
    }
    match sign {
        None if n > 4 => None,
        Some(true) if n <= 4 => None,
        Some(false) if value == 0 => None,
        _ if value > MAX_YEAR => None,
        Some(false) => Some(-value),
        _ => Some(value),
    }
}

fn is_leap(y: i64) -> bool {
    y.rem_euclid(4) == 0 && (y.rem_euclid(100) != 0 || y.rem_euclid(400) == 0)
}

/// Days in month `m` (1–12) of year `y`.
pub fn days_in_month(y: i64, m: i64) -> i64 {
    match m {
        2 if is_leap(y) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's algorithm).
pub fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// The date `(year, month, day)` of a day count since 1970-01-01.
pub fn civil_from_days(z: i64) -> (i64, i64, i64) {
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

    fn secs(text: &str) -> i64 {
        Timestamp::parse(text)
            .unwrap_or_else(|| panic!("{text} should parse"))
            .unix_seconds()
    }

    #[test]
    fn parses_what_aws_accepts() {
        let t = Timestamp::parse("2016-03-14T01:59:00Z").unwrap();
        assert_eq!(t.unix_seconds(), 1_457_920_740);
        assert_eq!(t.subsec_nanos(), 0);
        assert_eq!(Timestamp::parse("2016-03-14T02:59:00+01:00"), Some(t));
        assert_eq!(Timestamp::parse("2016-03-13T23:59:00-02:00"), Some(t));
        assert_eq!(Timestamp::parse("2016-03-14T01:59:00-00:00"), Some(t));
        assert_eq!(secs("1970-01-01T00:00:00Z"), 0);
        assert_eq!(secs("1969-12-31T23:59:59Z"), -1);
        assert_eq!(secs("2012-10-09T19:00:55Z"), 1_349_809_255);
    }

    #[test]
    fn fractions_up_to_nine_digits() {
        let nanos = |text: &str| Timestamp::parse(text).map(Timestamp::subsec_nanos);
        assert_eq!(nanos("2016-03-14T01:59:00.5Z"), Some(500_000_000));
        assert_eq!(nanos("2016-03-14T01:59:00.123Z"), Some(123_000_000));
        assert_eq!(nanos("2016-03-14T01:59:00.000001Z"), Some(1_000));
        assert_eq!(nanos("2016-03-05T21:29:29.243167252Z"), Some(243_167_252));
        assert_eq!(nanos("2016-03-14T01:59:00.1234567891Z"), None);
        let a = Timestamp::parse("2020-01-01T00:00:00.000000001Z").unwrap();
        let b = Timestamp::parse("2020-01-01T00:00:00Z").unwrap();
        assert!(a > b);
        // Before the epoch the fraction still counts forwards from the second.
        let t = Timestamp::parse("1969-12-31T23:59:59.25Z").unwrap();
        assert_eq!((t.unix_seconds(), t.subsec_nanos()), (-1, 250_000_000));
    }

    #[test]
    fn runtime_leniencies_of_the_java_parser() {
        // Seconds are optional; T and Z in either case; offsets may carry seconds.
        assert_eq!(secs("2016-03-14T01:59Z"), 1_457_920_740);
        assert_eq!(secs("2016-03-14t01:59:00z"), 1_457_920_740);
        assert_eq!(secs("2016-03-14T01:59:30+00:00:30"), 1_457_920_740);
        assert_eq!(secs("2016-03-14T19:59:00+18:00"), 1_457_920_740);
        assert_eq!(Timestamp::parse("2016-03-14T19:59:00+18:01"), None);
        assert_eq!(Timestamp::parse("2016-03-14T19:59:00+19:00"), None);
        // A bare decimal point is read as no fraction.
        assert_eq!(secs("2016-03-14T01:59:00.Z"), 1_457_920_740);
        // A fraction only follows seconds.
        assert_eq!(Timestamp::parse("2016-03-14T01:59.5Z"), None);
    }

    #[test]
    fn definitions_take_the_strict_profile() {
        let t = Timestamp::parse("2016-03-14T01:59:00Z");
        assert_eq!(Timestamp::parse_rfc3339("2016-03-14T01:59:00Z"), t);
        assert_eq!(Timestamp::parse_rfc3339("2016-03-14T01:59:00.000+00:00"), t);
        for loose in [
            "2016-03-14T01:59Z",
            "2016-03-14t01:59:00Z",
            "2016-03-14T01:59:00z",
            "2016-03-14T01:59:00.Z",
            "2016-03-14T01:59:30+00:00:30",
            "+12016-03-14T01:59:00Z",
        ] {
            assert_eq!(Timestamp::parse_rfc3339(loose), None, "{loose}");
            assert!(Timestamp::parse(loose).is_some(), "{loose}");
        }
    }

    #[test]
    fn leap_years() {
        assert!(Timestamp::parse("2024-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("2000-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("1600-02-29T00:00:00Z").is_some());
        assert!(Timestamp::parse("2023-02-29T00:00:00Z").is_none());
        assert!(Timestamp::parse("1900-02-29T00:00:00Z").is_none());
        assert!(Timestamp::parse("2100-02-29T00:00:00Z").is_none());
        assert!(Timestamp::parse("2024-04-31T00:00:00Z").is_none());
        assert!(Timestamp::parse("2024-12-31T23:59:59Z").is_some());
        assert_eq!(
            secs("2024-03-01T00:00:00Z") - secs("2024-02-28T00:00:00Z"),
            2 * SECS_PER_DAY
        );
        assert_eq!(
            secs("2023-03-01T00:00:00Z") - secs("2023-02-28T00:00:00Z"),
            SECS_PER_DAY
        );
    }

    #[test]
    fn year_bounds() {
        assert_eq!(secs("0000-01-01T00:00:00Z"), -62_167_219_200);
        assert_eq!(secs("9999-12-31T23:59:59Z"), 253_402_300_799);
        assert_eq!(secs("+10000-01-01T00:00:00Z"), 253_402_300_800);
        assert!(Timestamp::parse("-0001-01-01T00:00:00Z").is_some());
        assert!(Timestamp::parse("+999999999-12-31T23:59:59Z").is_some());
        for bad in [
            "10000-01-01T00:00:00Z",
            "+2016-03-14T01:59:00Z",
            "-0000-01-01T00:00:00Z",
            "+1000000000-01-01T00:00:00Z",
            "016-03-14T01:59:00Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn refuses_what_aws_refuses() {
        for bad in [
            // The values Step Functions was recorded refusing.
            "2016-12-05 21:29:29Z",
            "2016-12-05T21:29:29",
            "2016-13-05T21:29:29Z",
            "2016-12-05T25:29:29Z",
            "05-12-2016T21:29:29Z",
            // Out of range, malformed or trailing.
            "2016-00-05T21:29:29Z",
            "2016-12-00T21:29:29Z",
            "2016-12-32T21:29:29Z",
            "2016-12-05T24:00:00Z",
            "2016-12-05T21:60:29Z",
            "2016-12-05T21:29:60Z",
            "2016-12-05T21:29:29+24:00",
            "2016-12-05T21:29:29+01:60",
            "2016-12-05T21:29:29+0100",
            "2016-12-05T21:29:29+01",
            "2016-12-05T21:29:29Zjunk",
            "2016-12-05T21:29:29Z ",
            " 2016-12-05T21:29:29Z",
            "2016-12-05T21:29:29.Zjunk",
            "2016-12-05T21:29:29.12a3Z",
            "2016-12-5T21:29:29Z",
            "2016-12-05T1:29:29Z",
            "2016-12-05",
            "2016-12-05T",
            "2016-12-05T21",
            "2016-12-05T21:29:29+",
            "2016-12-05T21:29:29-01:",
            "",
            "Z",
            "not a date at all, sorry",
            "２０１６-12-05T21:29:29Z",
            "2016-12-05T21:29:29\u{0}Z",
        ] {
            assert_eq!(Timestamp::parse(bad), None, "{bad}");
            assert_eq!(Timestamp::parse_rfc3339(bad), None, "{bad}");
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
        let t = Timestamp::parse("2400-12-31T23:59:59.987654321+01:00").unwrap();
        assert_eq!(t.to_iso_millis(), "2400-12-31T22:59:59.987Z");
        let t = Timestamp::parse("2024-02-29T12:00:00Z").unwrap();
        assert_eq!(t.to_iso_millis(), "2024-02-29T12:00:00.000Z");
        let t = Timestamp::parse("+10000-01-01T00:00:00Z").unwrap();
        assert_eq!(t.to_iso_millis(), "+10000-01-01T00:00:00.000Z");
        let t = Timestamp::parse("-0001-06-01T00:00:00Z").unwrap();
        assert_eq!(t.to_iso_millis(), "-0001-06-01T00:00:00.000Z");
        // Formatting and parsing agree over a spread of instants.
        for ms in [
            0i64,
            1,
            -1,
            951_782_400_000,
            4_102_444_799_999,
            -62_135_596_800_000,
        ] {
            let t = Timestamp::from_unix_millis(ms);
            assert_eq!(Timestamp::parse(&t.to_iso_millis()), Some(t), "{ms}");
        }
        // The extremes format without panicking.
        let _ = Timestamp::from_unix_millis(i64::MAX).to_iso_millis();
        let _ = Timestamp::from_unix_millis(i64::MIN).to_iso_millis();
    }

    #[test]
    fn arithmetic_and_order() {
        let t = Timestamp::from_unix_millis(1_000);
        assert_eq!(t.checked_add_millis(1_500).unwrap().unix_millis(), 2_500);
        assert_eq!(t.checked_add_millis(-2_000).unwrap().unix_millis(), -1_000);
        assert_eq!(t.saturating_add_seconds(2).unix_millis(), 3_000);
        assert_eq!(
            Timestamp::from_unix_millis(i64::MAX)
                .saturating_add_seconds(i64::MAX)
                .unix_seconds(),
            i64::MAX
        );
        let fine = Timestamp::from_unix_seconds(5, 1_500_000_001);
        assert_eq!((fine.unix_seconds(), fine.subsec_nanos()), (6, 500_000_001));
        let added = fine.checked_add_millis(1).unwrap();
        assert_eq!(added.subsec_nanos(), 501_000_001);
        assert_eq!(
            Timestamp::from_unix_seconds(i64::MAX, 0).checked_add_millis(1_000),
            None
        );
        assert_eq!(Timestamp::from_unix_nanos(-1).unix_nanos(), -1);
        assert_eq!(
            Timestamp::from_unix_nanos(1_500_000_000),
            Timestamp::from_unix_millis(1_500)
        );
        assert_eq!(
            Timestamp::from_unix_nanos(i128::MAX).unix_seconds(),
            i64::MAX
        );
        assert_eq!(
            Timestamp::from_unix_millis(2_500).millis_since(Timestamp::from_unix_millis(1_000)),
            1_500
        );
        assert_eq!(Timestamp::EPOCH, Timestamp::from_unix_millis(0));
    }
}
