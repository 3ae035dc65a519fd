//! Schedule expressions (`rate(...)`, `cron(...)`, `at(...)`), their time zones, and their
//! next fire times.
//!
//! - this file: [`TimeZone`] (IANA names, backed by jiff's bundled tz database),
//!   [`ScheduleExpression`] parsing, `rate` and `at`, and how local fire times become
//!   instants across daylight-saving changes;
//! - [`cron`]: the six-field cron and its next local fire time.
//!
//! Daylight saving follows EventBridge Scheduler: a local time that does not exist (spring
//! forward) is skipped, and a local time that occurs twice (fall back) fires once, at its
//! first occurrence. A `rate` is a fixed period in absolute time and ignores time zones.
//! A one-time `at` in a gap is moved forward by the gap's length (02:30 on a day that
//! jumps from 02:00 to 03:00 fires at 03:30), so it is never lost.

mod cron;
#[cfg(test)]
mod tests;

use jiff::Timestamp;
use jiff::civil::DateTime;
use jiff::tz::AmbiguousOffset;

use cron::Cron;

/// The longest expression accepted (EventBridge Scheduler's limit).
pub const MAX_EXPRESSION_LEN: usize = 256;

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schedule expression '{expression}': {message}")]
pub struct ScheduleError {
    pub expression: String,
    pub message: String,
}

fn error(expression: &str, message: impl Into<String>) -> ScheduleError {
    let mut expression = expression.to_owned();
    if expression.len() > MAX_EXPRESSION_LEN {
        let mut cut = MAX_EXPRESSION_LEN;
        while !expression.is_char_boundary(cut) {
            cut -= 1;
        }
        expression.truncate(cut);
        expression.push('…');
    }
    ScheduleError {
        expression,
        message: message.into(),
    }
}

/// An IANA time zone (`UTC`, `Europe/Paris`, `America/New_York`).
#[derive(Debug, Clone)]
pub struct TimeZone {
    name: String,
    zone: jiff::tz::TimeZone,
}

impl PartialEq for TimeZone {
    fn eq(&self, other: &TimeZone) -> bool {
        self.name == other.name
    }
}

impl TimeZone {
    pub fn utc() -> TimeZone {
        TimeZone {
            name: "UTC".into(),
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    pub fn parse(name: &str) -> Result<TimeZone, ScheduleError> {
        if name.is_empty() || name.len() > 64 {
            return Err(error(name, "not an IANA time zone name"));
        }
        let zone = jiff::tz::TimeZone::get(name).map_err(|_| {
            error(
                name,
                "unknown time zone: use an IANA name such as UTC, Europe/Paris or America/New_York",
            )
        })?;
        let name = zone.iana_name().unwrap_or(name).to_owned();
        Ok(TimeZone { name, zone })
    }

    pub fn name(&self) -> &str {
        &self.name
    }
}

/// `rate(5 minutes)`, `cron(0 12 * * ? *)`, `at(2026-12-01T09:00:00)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleExpression {
    kind: Kind,
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Rate { period_ms: i64 },
    Cron(Box<Cron>),
    At(DateTime),
}

impl ScheduleExpression {
    pub fn parse(expression: &str) -> Result<ScheduleExpression, ScheduleError> {
        if expression.len() > MAX_EXPRESSION_LEN {
            return Err(error(
                expression,
                format!("longer than {MAX_EXPRESSION_LEN} characters"),
            ));
        }
        let inside = |kind: &str| {
            expression
                .strip_prefix(kind)
                .and_then(|rest| rest.strip_prefix('('))
                .and_then(|rest| rest.strip_suffix(')'))
        };
        let kind = if let Some(body) = inside("rate") {
            Kind::Rate {
                period_ms: parse_rate(body).map_err(|m| error(expression, m))?,
            }
        } else if let Some(body) = inside("cron") {
            Kind::Cron(Box::new(
                Cron::parse(body).map_err(|m| error(expression, m))?,
            ))
        } else if let Some(body) = inside("at") {
            Kind::At(parse_at(body).map_err(|m| error(expression, m))?)
        } else {
            return Err(error(
                expression,
                "expected rate(value unit), cron(minutes hours day-of-month month day-of-week year) \
                 or at(yyyy-mm-ddThh:mm:ss)",
            ));
        };
        Ok(ScheduleExpression { kind })
    }

    /// Whether it fires more than once (`rate` and `cron`).
    pub fn is_recurring(&self) -> bool {
        !matches!(self.kind, Kind::At(_))
    }

    /// The first fire time strictly after `after_ms` (Unix milliseconds), in `tz`; `None`
    /// when there is none (an `at` in the past, a cron whose years are over). A `rate`
    /// fires at `anchor_ms + k × period` for k ≥ 1 (`anchor_ms`: when the schedule was
    /// created); `cron` and `at` ignore the anchor.
    pub fn next_after(&self, after_ms: i64, tz: &TimeZone, anchor_ms: i64) -> Option<i64> {
        match &self.kind {
            Kind::Rate { period_ms } => rate_next(*period_ms, after_ms, anchor_ms),
            Kind::At(local) => {
                let at = match tz.zone.to_ambiguous_timestamp(*local).offset() {
                    AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(*local),
                    AmbiguousOffset::Gap { before, .. } => before.to_timestamp(*local),
                    AmbiguousOffset::Fold { before, .. } => before.to_timestamp(*local),
                }
                .ok()?
                .as_millisecond();
                (at > after_ms).then_some(at)
            }
            Kind::Cron(cron) => cron_next(cron, after_ms, &tz.zone),
        }
    }
}

/// How many local candidates `cron_next` looks at before giving up (each skipped one is a
/// minute in a daylight-saving gap or a repeated hour; a few hundred at most in practice).
const MAX_CANDIDATES: usize = 10_000;

fn cron_next(cron: &Cron, after_ms: i64, zone: &jiff::tz::TimeZone) -> Option<i64> {
    let after = Timestamp::from_millisecond(after_ms).ok()?;
    let local = zone.to_datetime(after);
    // The next whole minute after `after`, in local time.
    let mut from = local
        .with()
        .second(0)
        .subsec_nanosecond(0)
        .build()
        .ok()?
        .checked_add(jiff::SignedDuration::from_secs(60))
        .ok()?;
    for _ in 0..MAX_CANDIDATES {
        let candidate = cron.next_from(from)?;
        let instant = match zone.to_ambiguous_timestamp(candidate).offset() {
            AmbiguousOffset::Unambiguous { offset } => offset.to_timestamp(candidate).ok(),
            // Spring forward: this local time does not exist; skip it.
            AmbiguousOffset::Gap { .. } => None,
            // Fall back: it exists twice; fire at the first only.
            AmbiguousOffset::Fold { before, .. } => before.to_timestamp(candidate).ok(),
        };
        if let Some(t) = instant.map(Timestamp::as_millisecond)
            && t > after_ms
        {
            return Some(t);
        }
        from = candidate
            .checked_add(jiff::SignedDuration::from_secs(60))
            .ok()?;
    }
    None
}

fn rate_next(period_ms: i64, after_ms: i64, anchor_ms: i64) -> Option<i64> {
    let (period, after, anchor) = (
        i128::from(period_ms),
        i128::from(after_ms),
        i128::from(anchor_ms),
    );
    if period <= 0 {
        return None;
    }
    let k = if after < anchor {
        1
    } else {
        ((after - anchor) / period + 1).max(1)
    };
    let next = anchor + k * period;
    let next = i64::try_from(next).ok()?;
    // Stay within the range timestamps can represent.
    Timestamp::from_millisecond(next).ok().map(|_| next)
}

fn parse_rate(body: &str) -> Result<i64, String> {
    const SHAPE: &str = "a rate is rate(value unit): a whole number ≥ 1 and minute(s), \
                         hour(s) or day(s), e.g. rate(5 minutes), rate(1 hour)";
    let Some((value, unit)) = body.split_once(' ') else {
        return Err(SHAPE.into());
    };
    if value.is_empty() || value.len() > 9 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return Err(SHAPE.into());
    }
    let value: i64 = value.parse().map_err(|_| SHAPE.to_owned())?;
    if value < 1 {
        return Err("the rate's value must be at least 1".into());
    }
    let (singular, unit_ms) = match unit {
        "minute" => (true, 60_000),
        "minutes" => (false, 60_000),
        "hour" => (true, 3_600_000),
        "hours" => (false, 3_600_000),
        "day" => (true, 86_400_000),
        "days" => (false, 86_400_000),
        _ => return Err(SHAPE.into()),
    };
    if singular != (value == 1) {
        return Err(if value == 1 {
            format!(
                "a value of 1 takes the singular unit: rate(1 {})",
                unit.trim_end_matches('s')
            )
        } else {
            format!("a value above 1 takes the plural unit: rate({value} {unit}s)")
        });
    }
    Ok(value * unit_ms)
}

fn parse_at(body: &str) -> Result<DateTime, String> {
    const SHAPE: &str = "an at() needs a local date and time yyyy-mm-ddThh:mm:ss, \
                         e.g. at(2026-12-01T09:00:00)";
    let bytes = body.as_bytes();
    let shape_ok = bytes.len() == 19
        && bytes.iter().enumerate().all(|(i, b)| match i {
            4 | 7 => *b == b'-',
            10 => *b == b'T',
            13 | 16 => *b == b':',
            _ => b.is_ascii_digit(),
        });
    if !shape_ok {
        return Err(SHAPE.into());
    }
    let part = |range: std::ops::Range<usize>| -> Result<i16, String> {
        body.get(range)
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| SHAPE.to_owned())
    };
    let small = |v: i16| i8::try_from(v).map_err(|_| SHAPE.to_owned());
    DateTime::new(
        part(0..4)?,
        small(part(5..7)?)?,
        small(part(8..10)?)?,
        small(part(11..13)?)?,
        small(part(14..16)?)?,
        small(part(17..19)?)?,
        0,
    )
    .map_err(|_| format!("{body} is not a valid date and time"))
}
