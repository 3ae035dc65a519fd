//! Schedule expressions. (Interface; the implementation is being written.)

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("schedule expression '{expression}': {message}")]
pub struct ScheduleError {
    pub expression: String,
    pub message: String,
}

/// An IANA time zone (`UTC`, `Europe/Paris`, `America/New_York`).
#[derive(Debug, Clone, PartialEq)]
pub struct TimeZone {
    _private: (),
}

impl TimeZone {
    pub fn utc() -> TimeZone {
        todo!()
    }

    pub fn parse(name: &str) -> Result<TimeZone, ScheduleError> {
        let _ = name;
        todo!()
    }

    pub fn name(&self) -> &str {
        todo!()
    }
}

/// `rate(5 minutes)`, `cron(0 12 * * ? *)`, `at(2026-12-01T09:00:00)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleExpression {
    _private: (),
}

impl ScheduleExpression {
    pub fn parse(expression: &str) -> Result<ScheduleExpression, ScheduleError> {
        let _ = expression;
        todo!()
    }

    /// Whether it fires more than once (`rate` and `cron`).
    pub fn is_recurring(&self) -> bool {
        todo!()
    }

    /// The first fire time strictly after `after_ms` (Unix milliseconds), in `tz`; `None`
    /// when there is none (an `at` in the past, a cron whose years are over). A `rate`
    /// fires at `anchor_ms + k × period` for k ≥ 1 (`anchor_ms`: when the schedule was
    /// created); `cron` and `at` ignore the anchor.
    pub fn next_after(&self, after_ms: i64, tz: &TimeZone, anchor_ms: i64) -> Option<i64> {
        let _ = (after_ms, tz, anchor_ms);
        todo!()
    }
}
