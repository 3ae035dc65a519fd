//! Cirrus's events, without I/O:
//!
//! - [`CloudEvent`]: every event inside Cirrus is a CloudEvents 1.0 envelope; rules see it
//!   as the EventBridge event it corresponds to ([`CloudEvent::to_eventbridge`]).
//! - [`pattern`]: EventBridge event patterns, compiled once per rule, and [`pattern::RuleSet`]
//!   to match an event against many rules at once.
//! - [`transform`]: what a target receives: the event, a constant, a path into it, or an
//!   input transformer's template.
//! - [`schedule`]: `rate(...)`, `cron(...)` and `at(...)` expressions and their next fire
//!   times in a time zone.

pub mod cloudevent;
pub mod pattern;
pub mod schedule;
pub mod transform;

pub use cloudevent::{CloudEvent, EventError};
pub use pattern::{Pattern, PatternError, RuleSet};
pub use schedule::{ScheduleError, ScheduleExpression, TimeZone};
pub use transform::{InputTransformer, TransformContext, TransformError};
