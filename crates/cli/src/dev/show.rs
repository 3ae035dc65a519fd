//! How `cirrus dev` shows what happens, as plain functions of the node's JSON: a function's
//! log record ([`log_record`]) and an execution's history events ([`ExecutionLog`]) become
//! lines `HH:MM:SS  RESOURCE  ID  MESSAGE`, with the resource (a function or workflow name)
//! padded to a column and the id the request's or execution's first eight characters.
//! Colour only when [`Style::color`] says so.

use std::collections::HashMap;

use cirrus_asl::timestamp::Timestamp;
use serde_json::Value;

/// The width of the resource column.
const COLUMN: usize = 16;
/// The most characters of an input or output shown on one line.
const ABBREVIATED: usize = 72;

/// How lines look: the time zone of their clock and whether they carry colour.
pub struct Style {
    pub color: bool,
    pub zone: jiff::tz::TimeZone,
}

/// ANSI colours, by what they mark.
mod paint {
    pub const FUNCTION: &str = "36";
    pub const WORKFLOW: &str = "35";
    pub const DEV: &str = "34";
    pub const OK: &str = "32";
    pub const FAILED: &str = "31";
    pub const WAITING: &str = "33";
    pub const DIM: &str = "2";
}

impl Style {
    /// Colour when stdout is a terminal and `NO_COLOR` is unset or empty; the clock in the
    /// local time zone (`$TZ`, else `/etc/localtime`, else UTC).
    pub fn detect() -> Style {
        let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
        Style {
            color: !no_color && std::io::IsTerminal::is_terminal(&std::io::stdout()),
            zone: local_zone(),
        }
    }

    /// `HH:MM:SS` of a Unix time in milliseconds.
    pub fn clock(&self, ms: i64) -> String {
        let offset = jiff::Timestamp::from_millisecond(ms)
            .map(|t| self.zone.to_offset(t).seconds())
            .unwrap_or(0);
        let s = (ms.div_euclid(1000) + i64::from(offset)).rem_euclid(86_400);
        format!("{:02}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60)
    }

    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("\x1b[{code}m{text}\x1b[0m")
        } else {
            text.to_owned()
        }
    }

    /// One line: clock, resource (padded, coloured `kind`), id, message.
    fn line(&self, ms: i64, kind: &str, resource: &str, id: &str, message: &str) -> String {
        let resource = format!("{resource:<COLUMN$}");
        format!(
            "{}  {}  {:<8}  {message}",
            self.paint(paint::DIM, &self.clock(ms)),
            self.paint(kind, &resource),
            id
        )
    }

    /// A line of `cirrus dev` itself (a change seen, a deploy's result).
    pub fn dev(&self, ms: i64, message: &str) -> String {
        self.line(ms, paint::DEV, "dev", "", message)
    }

    /// A `dev` line marking a success.
    pub fn dev_ok(&self, ms: i64, message: &str) -> String {
        self.dev(ms, &self.paint(paint::OK, message))
    }

    /// A `dev` line marking a failure.
    pub fn dev_failed(&self, ms: i64, message: &str) -> String {
        self.dev(ms, &self.paint(paint::FAILED, message))
    }
}

/// The local time zone: `$TZ` (an IANA name), else `/etc/localtime`, else UTC.
fn local_zone() -> jiff::tz::TimeZone {
    if let Ok(name) = std::env::var("TZ")
        && let Ok(z) = jiff::tz::TimeZone::get(name.trim_start_matches(':'))
    {
        return z;
    }
    std::fs::read("/etc/localtime")
        .ok()
        .and_then(|data| jiff::tz::TimeZone::tzif("Local", &data).ok())
        .unwrap_or(jiff::tz::TimeZone::UTC)
}

/// A function's log record (`GET /v1/logs`): what it printed, a line each, then how the
/// invocation ended (`ok 1.21 ms cold`, `error ValueError 3.00 ms`).
pub fn log_record(style: &Style, r: &Value) -> Vec<String> {
    let ms = r["time_ms"].as_i64().unwrap_or(0);
    let function = r["function"].as_str().unwrap_or("?");
    let id = short(r["request_id"].as_str().unwrap_or(""));
    let mut lines: Vec<String> = r["output"]
        .as_str()
        .unwrap_or("")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| style.line(ms, paint::FUNCTION, function, &id, &format!("| {l}")))
        .collect();
    let status = r["status"].as_str().unwrap_or("?");
    let mut end = match r["error_type"].as_str() {
        Some(t) => format!("{status} {t}"),
        None => status.to_owned(),
    };
    end = style.paint(
        if status == "ok" {
            paint::OK
        } else {
            paint::FAILED
        },
        &end,
    );
    end.push_str(&format!(
        " {:.2} ms",
        r["duration_ms"].as_f64().unwrap_or(0.0)
    ));
    if r["cold_start"].as_bool() == Some(true) {
        end.push_str(" cold");
    }
    lines.push(style.line(ms, paint::FUNCTION, function, &id, &end));
    lines
}

/// What one execution has shown so far, so that its next events read in context: when
/// each state was entered (for durations), how often its task was scheduled (retries),
/// which state each event belongs to.
#[derive(Default)]
pub struct ExecutionLog {
    started_ms: Option<i64>,
    /// State name by event id, followed along `previousId`.
    state_of: HashMap<u64, String>,
    entered_ms: HashMap<String, i64>,
    /// Tasks scheduled since the state was entered: a second is a retry.
    scheduled: HashMap<String, u32>,
}

impl ExecutionLog {
    /// An execution already running when `cirrus dev` began, started at `started_ms`.
    pub fn resumed(started_ms: Option<i64>) -> ExecutionLog {
        ExecutionLog {
            started_ms,
            ..ExecutionLog::default()
        }
    }

    /// The lines for `events` (`GET /v1/executions/{arn}/history`) of the execution named
    /// `execution` of `workflow`.
    pub fn lines(
        &mut self,
        style: &Style,
        workflow: &str,
        execution: &str,
        events: &[Value],
    ) -> Vec<String> {
        let id = short(execution);
        let mut out = Vec::new();
        for e in events {
            let ms = e["time"]
                .as_str()
                .and_then(Timestamp::parse_rfc3339)
                .map_or(0, Timestamp::unix_millis);
            let kind = e["type"].as_str().unwrap_or("");
            let d = &e["details"];
            let event_id = e["id"].as_u64().unwrap_or(0);
            let state = match d["name"].as_str() {
                Some(n) if kind.contains("State") => Some(n.to_owned()),
                _ => e["previousId"]
                    .as_u64()
                    .and_then(|p| self.state_of.get(&p))
                    .cloned(),
            };
            if let Some(s) = &state {
                self.state_of.insert(event_id, s.clone());
            }
            let state = state.unwrap_or_default();
            if let Some(message) = self.message(style, kind, d, &state, ms) {
                out.push(style.line(ms, paint::WORKFLOW, workflow, &id, &message));
            }
        }
        out
    }

    fn message(
        &mut self,
        style: &Style,
        kind: &str,
        d: &Value,
        state: &str,
        ms: i64,
    ) -> Option<String> {
        // " in 1.2 s", or nothing when the start came before `cirrus dev` did.
        let took = |since: Option<i64>| {
            since
                .map(|s| format!(" in {}", duration(ms - s)))
                .unwrap_or_default()
        };
        let cause = d["cause"].as_str().map(readable_cause);
        let problem = || match (d["error"].as_str(), cause.as_deref()) {
            (Some(e), Some(c)) if !c.is_empty() => format!("{e}: {}", abbreviate(c)),
            (Some(e), _) => e.to_owned(),
            (None, Some(c)) => abbreviate(c),
            (None, None) => String::new(),
        };
        Some(match kind {
            "ExecutionStarted" => {
                self.started_ms = Some(ms);
                format!("▶ started, input {}", abbreviate(&compact(&d["input"])))
            }
            "ExecutionRedriven" => {
                self.started_ms = Some(ms);
                "▶ redriven".to_owned()
            }
            "ExecutionSucceeded" => format!(
                "{}{}, output {}",
                style.paint(paint::OK, "✔ succeeded"),
                took(self.started_ms),
                abbreviate(&compact(&d["output"]))
            ),
            "ExecutionFailed" | "ExecutionTimedOut" | "ExecutionAborted" => {
                let what = match kind {
                    "ExecutionFailed" => "✘ failed",
                    "ExecutionTimedOut" => "✘ timed out",
                    _ => "✘ aborted",
                };
                let problem = problem();
                format!(
                    "{}{}{}",
                    style.paint(paint::FAILED, what),
                    took(self.started_ms),
                    if problem.is_empty() {
                        String::new()
                    } else {
                        format!(": {problem}")
                    }
                )
            }
            k if k.ends_with("StateEntered") => {
                self.entered_ms.insert(state.to_owned(), ms);
                self.scheduled.remove(state);
                if k == "FailStateEntered" {
                    format!("→ {state} (Fail)")
                } else {
                    format!("→ {state}")
                }
            }
            k if k.ends_with("StateExited") => {
                let took = self
                    .entered_ms
                    .remove(state)
                    .map(|s| format!(" {}", duration(ms - s)))
                    .unwrap_or_default();
                format!("← {state}{took}")
            }
            "TaskScheduled" | "LambdaFunctionScheduled" | "ActivityScheduled" => {
                let n = self.scheduled.entry(state.to_owned()).or_insert(0);
                *n += 1;
                let resource = d["resource"].as_str().unwrap_or("");
                if resource.ends_with(".waitForTaskToken") {
                    style.paint(paint::WAITING, &format!("⏸ {state} waiting for task token"))
                } else if kind == "ActivityScheduled" {
                    style.paint(
                        paint::WAITING,
                        &format!("⏸ {state} waiting for an activity worker"),
                    )
                } else if *n > 1 {
                    style.paint(
                        paint::WAITING,
                        &format!("↻ {state} retry {} (attempt {n})", *n - 1),
                    )
                } else {
                    return None;
                }
            }
            "ActivityStarted" => {
                format!(
                    "{state} taken by {}",
                    d["workerName"].as_str().unwrap_or("a worker")
                )
            }
            "TaskFailed"
            | "LambdaFunctionFailed"
            | "ActivityFailed"
            | "TaskTimedOut"
            | "LambdaFunctionTimedOut"
            | "ActivityTimedOut"
            | "TaskStartFailed"
            | "TaskSubmitFailed"
            | "LambdaFunctionStartFailed" => {
                let what = if kind.ends_with("TimedOut") {
                    "timed out"
                } else {
                    "failed"
                };
                style.paint(
                    paint::FAILED,
                    &format!("✗ {state} task {what}: {}", problem()),
                )
            }
            _ => return None,
        })
    }
}

/// The first eight characters of an id.
/// A failure's cause as a person wants it: a Lambda error's JSON (errorMessage,
/// errorType, stackTrace) says its message; an HTTP Task's (Headers, ResponseBody,
/// StatusCode, StatusText) its status and the body the service answered; anything else
/// stays as it is.
fn readable_cause(cause: &str) -> String {
    let Ok(v) = serde_json::from_str::<Value>(cause) else {
        return cause.to_owned();
    };
    if let Some(message) = v["errorMessage"].as_str() {
        return message.to_owned();
    }
    if let Some(status) = v["StatusCode"].as_u64()
        && v.get("ResponseBody").is_some()
    {
        let text = v["StatusText"].as_str().unwrap_or_default();
        let body = match &v["ResponseBody"] {
            Value::String(s) => s.clone(),
            other => compact(other),
        };
        return if text.is_empty() {
            format!("{status}: {body}")
        } else {
            format!("{status} {text}: {body}")
        };
    }
    cause.to_owned()
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}

/// A JSON value on one line; JSON text is shown as its value.
fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => serde_json::from_str::<Value>(s)
            .map(|p| p.to_string())
            .unwrap_or_else(|_| s.clone()),
        Value::Null => "null".to_owned(),
        other => other.to_string(),
    }
}

/// At most [`ABBREVIATED`] characters of one line of text.
fn abbreviate(text: &str) -> String {
    let one_line = text.replace(['\n', '\r'], " ");
    if one_line.chars().count() <= ABBREVIATED {
        return one_line;
    }
    let cut: String = one_line.chars().take(ABBREVIATED - 1).collect();
    format!("{cut}…")
}

/// `850 ms`, `1.2 s`, `3m05s`.
pub fn duration(ms: i64) -> String {
    let ms = ms.max(0);
    if ms < 1000 {
        format!("{ms} ms")
    } else if ms < 60_000 {
        format!("{:.1} s", ms as f64 / 1000.0)
    } else {
        format!("{}m{:02}s", ms / 60_000, ms / 1000 % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn plain() -> Style {
        Style {
            color: false,
            zone: jiff::tz::TimeZone::UTC,
        }
    }

    fn event(id: u64, previous: u64, time: &str, kind: &str, details: Value) -> Value {
        json!({ "id": id, "previousId": previous, "time": format!("2026-03-01T{time}Z"), "type": kind, "details": details })
    }

    #[test]
    fn a_log_record_shows_its_output_then_how_it_ended() {
        let r = json!({
            "seq": 3, "time_ms": 3_723_000, "function": "greet", "version": "$LATEST",
            "request_id": "1a2b3c4d-5e6f", "status": "ok", "duration_ms": 1.5,
            "cold_start": true, "output": "hello ada\n\nbye\n"
        });
        assert_eq!(
            log_record(&plain(), &r),
            vec![
                "01:02:03  greet             1a2b3c4d  | hello ada",
                "01:02:03  greet             1a2b3c4d  | bye",
                "01:02:03  greet             1a2b3c4d  ok 1.50 ms cold",
            ]
        );
        let failed = json!({
            "time_ms": 0, "function": "a-function-with-a-long-name", "request_id": "ff",
            "status": "error", "error_type": "ValueError", "duration_ms": 3.0, "output": ""
        });
        assert_eq!(
            log_record(&plain(), &failed),
            vec!["00:00:00  a-function-with-a-long-name  ff        error ValueError 3.00 ms"]
        );
    }

    /// Events numbered from 1, each following the one before.
    fn chain(events: &[(&str, &str, Value)]) -> Vec<Value> {
        events
            .iter()
            .enumerate()
            .map(|(i, (time, kind, d))| event(i as u64 + 1, i as u64, time, kind, d.clone()))
            .collect()
    }

    #[test]
    fn an_execution_shows_states_with_durations_retries_and_its_end() {
        let charge = json!({"resource": "arn:aws:lambda:us-east-1:0:function:charge"});
        let lambda_error =
            r#"{"errorMessage": "no card", "errorType": "ValueError", "stackTrace": []}"#;
        let events = chain(&[
            (
                "10:00:00.000",
                "ExecutionStarted",
                json!({"input": "{\"order\":7}"}),
            ),
            (
                "10:00:00.010",
                "TaskStateEntered",
                json!({"name": "Charge", "input": "{}"}),
            ),
            ("10:00:00.020", "LambdaFunctionScheduled", charge.clone()),
            ("10:00:00.030", "LambdaFunctionStarted", json!({})),
            (
                "10:00:00.500",
                "LambdaFunctionFailed",
                json!({"error": "Boom", "cause": "card\ndeclined"}),
            ),
            ("10:00:01.500", "LambdaFunctionScheduled", charge.clone()),
            ("10:00:01.510", "LambdaFunctionStarted", json!({})),
            (
                "10:00:01.600",
                "LambdaFunctionFailed",
                json!({"error": "ValueError", "cause": lambda_error}),
            ),
            ("10:00:02.500", "LambdaFunctionScheduled", charge),
            ("10:00:02.510", "LambdaFunctionStarted", json!({})),
            (
                "10:00:02.600",
                "LambdaFunctionSucceeded",
                json!({"output": "{}"}),
            ),
            (
                "10:00:02.610",
                "TaskStateExited",
                json!({"name": "Charge", "output": "{}"}),
            ),
            (
                "10:00:02.620",
                "ExecutionSucceeded",
                json!({"output": "{\"charged\":true}"}),
            ),
        ]);
        let mut log = ExecutionLog::default();
        let lines = log.lines(&plain(), "orders", "0123456789abcdef", &events);
        let expected = [
            "10:00:00  orders            01234567  ▶ started, input {\"order\":7}",
            "10:00:00  orders            01234567  → Charge",
            "10:00:00  orders            01234567  ✗ Charge task failed: Boom: card declined",
            "10:00:01  orders            01234567  ↻ Charge retry 1 (attempt 2)",
            "10:00:01  orders            01234567  ✗ Charge task failed: ValueError: no card",
            "10:00:02  orders            01234567  ↻ Charge retry 2 (attempt 3)",
            "10:00:02  orders            01234567  ← Charge 2.6 s",
            "10:00:02  orders            01234567  ✔ succeeded in 2.6 s, output {\"charged\":true}",
        ];
        assert_eq!(lines, expected);
    }

    #[test]
    fn events_in_later_batches_keep_their_context() {
        let style = plain();
        let mut log = ExecutionLog::default();
        let first = log.lines(
            &style,
            "approve",
            "abc",
            &[
                event(
                    1,
                    0,
                    "09:00:00.000",
                    "ExecutionStarted",
                    json!({"input": {}}),
                ),
                event(
                    2,
                    1,
                    "09:00:00.000",
                    "TaskStateEntered",
                    json!({"name": "Ask"}),
                ),
                event(
                    3,
                    2,
                    "09:00:00.000",
                    "TaskScheduled",
                    json!({"resource": "arn:aws:states:::lambda:invoke.waitForTaskToken"}),
                ),
            ],
        );
        assert_eq!(
            first[2],
            "09:00:00  approve           abc       ⏸ Ask waiting for task token"
        );
        let second = log.lines(
            &style,
            "approve",
            "abc",
            &[
                event(4, 3, "09:02:05.000", "TaskSucceeded", json!({})),
                event(
                    5,
                    4,
                    "09:02:05.000",
                    "TaskStateExited",
                    json!({"name": "Ask"}),
                ),
                event(
                    6,
                    5,
                    "09:02:05.000",
                    "FailStateEntered",
                    json!({"name": "Rejected"}),
                ),
                event(
                    7,
                    6,
                    "09:02:05.000",
                    "ExecutionFailed",
                    json!({"error": "Rejected", "cause": ""}),
                ),
            ],
        );
        assert_eq!(
            second,
            vec![
                "09:02:05  approve           abc       ← Ask 2m05s",
                "09:02:05  approve           abc       → Rejected (Fail)",
                "09:02:05  approve           abc       ✘ failed in 2m05s: Rejected",
            ]
        );
    }

    #[test]
    fn an_execution_followed_midway_leaves_out_what_it_cannot_know() {
        let events = [
            event(
                5,
                4,
                "09:00:04.000",
                "WaitStateExited",
                json!({"name": "Nap"}),
            ),
            event(
                6,
                5,
                "09:00:04.000",
                "ExecutionSucceeded",
                json!({"output": "1"}),
            ),
        ];
        let lines = ExecutionLog::default().lines(&plain(), "w", "x", &events);
        assert!(lines[0].ends_with("← Nap"), "{}", lines[0]);
        assert!(lines[1].ends_with("✔ succeeded, output 1"), "{}", lines[1]);
        let started = Timestamp::parse_rfc3339("2026-03-01T09:00:00Z").map(Timestamp::unix_millis);
        let lines = ExecutionLog::resumed(started).lines(&plain(), "w", "x", &events);
        assert!(
            lines[1].ends_with("✔ succeeded in 4.0 s, output 1"),
            "{}",
            lines[1]
        );
    }

    #[test]
    fn long_inputs_are_abbreviated_and_colour_is_optional() {
        let big = json!({ "items": vec!["item"; 40] }).to_string();
        let mut log = ExecutionLog::default();
        let lines = log.lines(
            &plain(),
            "w",
            "x",
            &[event(
                1,
                0,
                "00:00:00.000",
                "ExecutionStarted",
                json!({"input": big}),
            )],
        );
        assert!(lines[0].ends_with('…'), "{}", lines[0]);
        assert!(lines[0].chars().count() < 140, "{}", lines[0]);
        assert!(!lines[0].contains('\x1b'));
        let coloured = Style {
            color: true,
            zone: jiff::tz::TimeZone::UTC,
        };
        assert!(
            coloured
                .dev_ok(0, "applied")
                .contains("\x1b[32mapplied\x1b[0m")
        );
    }

    #[test]
    fn the_clock_is_in_the_given_zone() {
        let paris = Style {
            color: false,
            zone: jiff::tz::TimeZone::get("Europe/Paris").unwrap(),
        };
        // 2026-07-01T12:00:00Z is 14:00 in Paris (summer time).
        assert_eq!(paris.clock(1_782_907_200_000), "14:00:00");
        assert_eq!(plain().clock(-1000), "23:59:59");
    }

    #[test]
    fn causes_say_what_the_function_or_the_service_said() {
        let lambda = r#"{"errorMessage": "no card", "errorType": "ValueError", "stackTrace": []}"#;
        assert_eq!(readable_cause(lambda), "no card");
        let http = json!({
            "Headers": {"content-type": ["application/json"]},
            "ResponseBody": {"error": "unavailable"},
            "StatusCode": 503,
            "StatusText": "Service Unavailable"
        })
        .to_string();
        assert_eq!(
            readable_cause(&http),
            r#"503 Service Unavailable: {"error":"unavailable"}"#
        );
        let text_body =
            json!({"Headers": {}, "ResponseBody": "busy", "StatusCode": 502, "StatusText": ""});
        assert_eq!(readable_cause(&text_body.to_string()), "502: busy");
        assert_eq!(readable_cause("plain words"), "plain words");
        assert_eq!(readable_cause("[1, 2]"), "[1, 2]");
    }

    #[test]
    fn durations_read_at_a_glance() {
        assert_eq!(duration(850), "850 ms");
        assert_eq!(duration(1234), "1.2 s");
        assert_eq!(duration(185_000), "3m05s");
        assert_eq!(duration(-5), "0 ms");
    }
}
