//! Wait: pauses for a number of seconds or until a timestamp, given literally or by a
//! reference path.

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields};
use crate::error::Failure;
use crate::path::{Reference, Scope};
use crate::payload::Template;
use crate::random::Rng;
use crate::timestamp::Timestamp;

#[derive(Debug)]
pub enum Wait {
    Seconds(u64),
    SecondsPath(Reference),
    Timestamp(Timestamp),
    TimestampPath(Reference),
    /// JSONata `Seconds` as a `{% %}` expression.
    SecondsExpr(Template),
    /// JSONata `Timestamp`: a string (checked when the state runs, as AWS does) or a
    /// `{% %}` expression.
    TimestampExpr(Template),
}

impl Wait {
    pub fn parse(f: &Fields<'_>, d: &mut Diagnostics, jsonata: bool) -> Option<Wait> {
        if jsonata {
            let given: Vec<&str> = ["Seconds", "Timestamp"]
                .into_iter()
                .filter(|k| f.has(k))
                .collect();
            if given.len() != 1 {
                d.schema(
                    "A Wait state must have exactly one of 'Seconds' or 'Timestamp'",
                    f.loc.clone(),
                );
                return None;
            }
            let key = given[0];
            return match (key, f.get(key)?) {
                ("Seconds", Value::String(_)) => {
                    crate::states::jsonata_value(f, key, d).map(Wait::SecondsExpr)
                }
                ("Seconds", _) => f.uint("Seconds", 99_999_999, d).map(Wait::Seconds),
                (_, Value::String(_)) => {
                    crate::states::jsonata_value(f, key, d).map(Wait::TimestampExpr)
                }
                _ => {
                    d.schema("The value of 'Timestamp' must be a string", f.at(key));
                    None
                }
            };
        }
        let given: Vec<&str> = ["Seconds", "SecondsPath", "Timestamp", "TimestampPath"]
            .into_iter()
            .filter(|k| f.has(k))
            .collect();
        if given.len() != 1 {
            d.schema(
                "A Wait state must have exactly one of 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath'",
                f.loc.clone(),
            );
            return None;
        }
        let reference = |key: &str, d: &mut Diagnostics| {
            let text = f.str(key, d)?;
            Reference::parse(text)
                .map_err(|e| {
                    d.schema(
                        format!(
                            "The value for the field '{key}' must be a valid reference path: {e}"
                        ),
                        f.at(key),
                    )
                })
                .ok()
        };
        match given[0] {
            "Seconds" => f.uint("Seconds", 99_999_999, d).map(Wait::Seconds),
            "SecondsPath" => reference("SecondsPath", d).map(Wait::SecondsPath),
            "Timestamp" => {
                let text = f.str("Timestamp", d)?;
                match Timestamp::parse_rfc3339(text) {
                    Some(t) => Some(Wait::Timestamp(t)),
                    None => {
                        d.schema("String does not match RFC3339 timestamp", f.at("Timestamp"));
                        None
                    }
                }
            }
            _ => reference("TimestampPath", d).map(Wait::TimestampPath),
        }
    }

    /// When the wait ends, for a state entered at `now` with effective input in `scope`.
    pub fn until(
        &self,
        now: Timestamp,
        scope: &Scope<'_>,
        rng: &mut Rng,
    ) -> Result<Timestamp, Failure> {
        let until = match self {
            Wait::SecondsExpr(t) => match t.eval(scope, rng)? {
                Value::Number(n) if n.as_u64().is_some() => {
                    now.saturating_add_seconds(n.as_u64().unwrap_or(0).min(i64::MAX as u64) as i64)
                }
                other => {
                    return Err(Failure::new(
                        crate::error::names::QUERY_EVALUATION_ERROR,
                        format!("The Seconds field must be a non-negative integer, but was: {other}"),
                    ));
                }
            },
            Wait::TimestampExpr(t) => match t.eval(scope, rng)? {
                Value::String(s) => Timestamp::parse(&s).ok_or_else(|| {
                    Failure::new(
                        crate::error::names::QUERY_EVALUATION_ERROR,
                        format!("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {s}"),
                    )
                })?,
                other => {
                    return Err(Failure::new(
                        crate::error::names::QUERY_EVALUATION_ERROR,
                        format!("The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: {other}"),
                    ));
                }
            },
            Wait::Seconds(s) => now.saturating_add_seconds(*s as i64),
            Wait::Timestamp(t) => *t,
            Wait::SecondsPath(p) => {
                let v = p.eval(scope).map_err(|_| {
                    Failure::runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                match v.as_ref() {
                    Value::Number(n) if n.as_i64().is_some_and(|i| i < 0) => {
                        return Err(Failure::runtime(format!(
                            "The SecondsPath parameter references a negative value: {} == {n}",
                            p.text()
                        )));
                    }
                    Value::Number(n) if n.as_u64().is_some() => {
                        let secs = n.as_u64().unwrap_or(0).min(i64::MAX as u64);
                        now.saturating_add_seconds(secs as i64)
                    }
                    other => {
                        return Err(Failure::runtime(format!(
                            "The SecondsPath parameter cannot be parsed as a long value: {} == {}",
                            p.text(),
                            display(other)
                        )));
                    }
                }
            }
            Wait::TimestampPath(p) => {
                let v = p.eval(scope).map_err(|_| {
                    Failure::runtime(format!(
                        "The TimestampPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                match v.as_ref() {
                    Value::String(s) => match Timestamp::parse(s) {
                        Some(t) => t,
                        None => return Err(bad_timestamp(p, s)),
                    },
                    other => return Err(bad_timestamp(p, &display(other))),
                }
            }
        };
        // Step Functions counts the delay in seconds in a signed 32-bit integer.
        if until.unix_seconds().saturating_sub(now.unix_seconds()) > i64::from(i32::MAX) {
            return Err(Failure::runtime("Wait state delay is too long."));
        }
        Ok(until)
    }
}

fn bad_timestamp(p: &Reference, shown: &str) -> Failure {
    Failure::runtime(format!(
        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {shown}",
        p.text()
    ))
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
