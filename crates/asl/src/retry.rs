//! `Retry` and `Catch`: which errors a Task, Parallel or Map state retries, how long it waits
//! between attempts, and where it goes when it gives up.

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields};
use crate::error::names;
use crate::payload::Template;
use crate::states::ResultSpec;

/// The `ErrorEquals` list of a retrier or catcher.
#[derive(Debug)]
pub struct ErrorEquals(Vec<String>);

impl ErrorEquals {
    fn parse(f: &Fields<'_>, d: &mut Diagnostics) -> Option<ErrorEquals> {
        if !f.has("ErrorEquals") {
            d.schema("These fields are required: [ErrorEquals]", f.loc.clone());
            return None;
        }
        let items = f.array("ErrorEquals", d)?;
        if items.is_empty() {
            d.schema("ErrorEquals must be a non-empty array", f.at("ErrorEquals"));
            return None;
        }
        let mut names = Vec::with_capacity(items.len());
        for (i, v) in items.iter().enumerate() {
            match v {
                Value::String(s) => names.push(s.clone()),
                _ => d.schema(
                    "ErrorEquals entries must be strings",
                    format!("{}/ErrorEquals[{i}]", f.loc),
                ),
            }
        }
        if names.iter().any(|n| n == names::ALL) && names.len() > 1 {
            d.schema(
                "States.ALL must appear alone in ErrorEquals",
                f.at("ErrorEquals"),
            );
        }
        Some(ErrorEquals(names))
    }

    pub fn is_catch_all(&self) -> bool {
        self.0.iter().any(|n| n == names::ALL)
    }

    /// Whether this list matches an error name, with the wildcards' rules: `States.ALL`
    /// matches every error but `States.Runtime`; `States.TaskFailed` matches every error
    /// but that and the timeouts. (A state whose own output is too large fails with
    /// `States.DataLimitExceeded` past every catcher; a task result too large is caught.)
    pub fn matches(&self, error: &str) -> bool {
        let terminal = error == names::RUNTIME;
        self.0.iter().any(|n| {
            n == error
                || (!terminal && n == names::ALL)
                || (!terminal
                    && n == names::TASK_FAILED
                    && error != names::TIMEOUT
                    && error != names::HEARTBEAT_TIMEOUT)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Jitter {
    None,
    Full,
}

#[derive(Debug)]
pub struct Retrier {
    pub error_equals: ErrorEquals,
    pub interval_seconds: u64,
    pub max_attempts: u64,
    pub backoff_rate: f64,
    pub max_delay_seconds: Option<u64>,
    pub jitter: Jitter,
}

impl Retrier {
    /// The delay before retry number `attempt` (0 for the first retry), in milliseconds,
    /// before jitter.
    pub fn delay_millis(&self, attempt: u64) -> u64 {
        let secs = self.interval_seconds as f64 * self.backoff_rate.powf(attempt.min(1000) as f64);
        let capped = match self.max_delay_seconds {
            Some(max) => secs.min(max as f64),
            None => secs,
        };
        (capped.min(99_999_999.0) * 1000.0).round() as u64
    }
}

#[derive(Debug)]
pub struct Catcher {
    pub error_equals: ErrorEquals,
    pub next: u32,
    pub result_path: ResultSpec,
    pub assign: Option<Template>,
    /// JSONata: the state output when this catcher applies (default: the error output).
    pub output: Option<Template>,
}

/// The largest interval, attempt count or delay AWS accepts.
const MAX_SECONDS: u64 = 99_999_999;

pub fn parse_retry(value: &Value, loc: &str, d: &mut Diagnostics) -> Vec<Retrier> {
    let Value::Array(items) = value else {
        d.schema("Retry must be an array", loc);
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let Value::Object(map) = item else {
            d.schema("A retrier must be an object", at);
            continue;
        };
        let f = Fields::new(map, at);
        f.only(
            &[
                "ErrorEquals",
                "IntervalSeconds",
                "MaxAttempts",
                "BackoffRate",
                "MaxDelaySeconds",
                "JitterStrategy",
                "Comment",
            ],
            "a retrier",
            d,
        );
        let _ = f.str("Comment", d);
        let Some(error_equals) = ErrorEquals::parse(&f, d) else {
            continue;
        };
        if error_equals.is_catch_all() && i + 1 != items.len() {
            d.schema(
                "A retrier with States.ALL must be the last one",
                f.at("ErrorEquals"),
            );
        }
        let interval_seconds = match f.uint("IntervalSeconds", MAX_SECONDS, d) {
            Some(0) => {
                d.schema(
                    "IntervalSeconds must be a positive integer",
                    f.at("IntervalSeconds"),
                );
                1
            }
            Some(n) => n,
            None => 1,
        };
        let backoff_rate = match f.number("BackoffRate", d) {
            Some(r) if r < 1.0 => {
                d.schema(
                    "BackoffRate must be greater than or equal to 1.0",
                    f.at("BackoffRate"),
                );
                2.0
            }
            Some(r) => r,
            None => 2.0,
        };
        let max_delay_seconds = match f.uint("MaxDelaySeconds", MAX_SECONDS, d) {
            Some(0) => {
                d.schema(
                    "MaxDelaySeconds must be a positive integer",
                    f.at("MaxDelaySeconds"),
                );
                None
            }
            other => other,
        };
        let jitter = match f.str("JitterStrategy", d) {
            None | Some("NONE") => Jitter::None,
            Some("FULL") => Jitter::Full,
            Some(other) => {
                d.schema(
                    format!("JitterStrategy must be FULL or NONE, not '{other}'"),
                    f.at("JitterStrategy"),
                );
                Jitter::None
            }
        };
        out.push(Retrier {
            error_equals,
            interval_seconds,
            max_attempts: f.uint("MaxAttempts", MAX_SECONDS, d).unwrap_or(3),
            backoff_rate,
            max_delay_seconds,
            jitter,
        });
    }
    out
}

/// `Retry` and `Catch` of a Task, Parallel or Map state.
pub(crate) fn parse_handlers(
    f: &Fields<'_>,
    b: &mut crate::definition::GraphBuilder<'_>,
    jsonata: bool,
) -> (Vec<Retrier>, Vec<Catcher>) {
    let retry = f
        .get("Retry")
        .map(|v| parse_retry(v, &f.at("Retry"), b.d))
        .unwrap_or_default();
    let catch = match f.get("Catch") {
        Some(v) => parse_catch(jsonata, v, &f.at("Catch"), b.d, &mut |name, loc, d| {
            crate::definition::resolve_name(&b.names, name, loc, d)
        }),
        None => Vec::new(),
    };
    (retry, catch)
}

/// Parses `Catch`; `resolve` turns a `Next` name into a state id, reporting unknown names.
pub fn parse_catch(
    jsonata: bool,
    value: &Value,
    loc: &str,
    d: &mut Diagnostics,
    resolve: &mut dyn FnMut(&str, String, &mut Diagnostics) -> Option<u32>,
) -> Vec<Catcher> {
    let Value::Array(items) = value else {
        d.schema("Catch must be an array", loc);
        return Vec::new();
    };
    let mut out = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let at = format!("{loc}[{i}]");
        let Value::Object(map) = item else {
            d.schema("A catcher must be an object", at);
            continue;
        };
        let f = Fields::new(map, at);
        let allowed: &[&str] = if jsonata {
            &["ErrorEquals", "Next", "Output", "Assign", "Comment"]
        } else {
            &["ErrorEquals", "Next", "ResultPath", "Assign", "Comment"]
        };
        f.only(
            allowed,
            if jsonata {
                "a catcher in JSONata"
            } else {
                "a catcher in JSONPath"
            },
            d,
        );
        let _ = f.str("Comment", d);
        let error_equals = ErrorEquals::parse(&f, d);
        if let Some(e) = &error_equals
            && e.is_catch_all()
            && i + 1 != items.len()
        {
            d.schema(
                "A catcher with States.ALL must be the last one",
                f.at("ErrorEquals"),
            );
        }
        let next = f
            .required_str("Next", d)
            .and_then(|n| resolve(n, f.at("Next"), d));
        let result_path = ResultSpec::parse(&f, d);
        let assign = f
            .get("Assign")
            .and_then(|v| crate::states::compile_assign(v, &f.at("Assign"), jsonata, d));
        let output = f
            .get("Output")
            .and_then(|v| Template::compile_jsonata(v, "Output", &f.at("Output"), d));
        if let (Some(error_equals), Some(next)) = (error_equals, next) {
            out.push(Catcher {
                error_equals,
                next,
                result_path,
                assign,
                output,
            });
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ee(names: &[&str]) -> ErrorEquals {
        ErrorEquals(names.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn wildcards_leave_terminal_errors_alone() {
        assert!(ee(&["States.ALL"]).matches("Exception"));
        assert!(ee(&["States.ALL"]).matches("States.Timeout"));
        assert!(!ee(&["States.ALL"]).matches("States.Runtime"));
        assert!(ee(&["States.ALL"]).matches("States.DataLimitExceeded"));
        assert!(ee(&["States.DataLimitExceeded"]).matches("States.DataLimitExceeded"));
        assert!(ee(&["States.TaskFailed"]).matches("Lambda.Unknown"));
        assert!(!ee(&["States.TaskFailed"]).matches("States.Timeout"));
    }

    #[test]
    fn backoff_grows_and_caps() {
        let r = Retrier {
            error_equals: ee(&["States.ALL"]),
            interval_seconds: 3,
            max_attempts: 3,
            backoff_rate: 2.0,
            max_delay_seconds: Some(5),
            jitter: Jitter::None,
        };
        assert_eq!(r.delay_millis(0), 3000);
        assert_eq!(r.delay_millis(1), 5000);
        assert_eq!(r.delay_millis(50), 5000);
    }
}
