//! Wait: pauses for a number of seconds or until a timestamp, given literally or by a
//! reference path.

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields};
use crate::error::Failure;
use crate::path::{Reference, Scope};
use crate::timestamp::Timestamp;

#[derive(Debug)]
pub enum Wait {
    Seconds(u64),
    SecondsPath(Reference),
    Timestamp(Timestamp),
    TimestampPath(Reference),
}

impl Wait {
    pub fn parse(f: &Fields<'_>, d: &mut Diagnostics) -> Option<Wait> {
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
            "Seconds" => f.uint("Seconds", u64::MAX, d).map(Wait::Seconds),
            "SecondsPath" => reference("SecondsPath", d).map(Wait::SecondsPath),
            "Timestamp" => {
                let text = f.str("Timestamp", d)?;
                match Timestamp::parse(text) {
                    Some(t) => Some(Wait::Timestamp(t)),
                    None => {
                        d.schema(
                            "The value for the field 'Timestamp' must be a valid ISO-8601 extended offset date-time format string",
                            f.at("Timestamp"),
                        );
                        None
                    }
                }
            }
            _ => reference("TimestampPath", d).map(Wait::TimestampPath),
        }
    }

    /// When the wait ends, for a state entered at `now` with effective input in `scope`.
    pub fn until(&self, now: Timestamp, scope: &Scope<'_>) -> Result<Timestamp, Failure> {
        match self {
            Wait::Seconds(s) => Ok(now.saturating_add_seconds((*s).min(i64::MAX as u64) as i64)),
            Wait::Timestamp(t) => Ok(*t),
            Wait::SecondsPath(p) => {
                let v = p.eval(scope).map_err(|_| {
                    Failure::runtime(format!(
                        "The SecondsPath parameter does not reference an input value: {}",
                        p.text()
                    ))
                })?;
                match v.as_ref() {
                    Value::Number(n)
                        if n.as_i64().is_some_and(|i| i < 0)
                            || n.as_f64().is_some_and(|f| f < 0.0) =>
                    {
                        Err(Failure::runtime(format!(
                            "The SecondsPath parameter references a negative value: {} == {}",
                            p.text(),
                            n
                        )))
                    }
                    Value::Number(n) => match n.as_u64() {
                        Some(s) => Ok(now.saturating_add_seconds(s.min(i64::MAX as u64) as i64)),
                        None => Err(Failure::runtime(format!(
                            "The SecondsPath parameter does not reference a valid integer value: {} == {}",
                            p.text(),
                            n
                        ))),
                    },
                    other => Err(Failure::runtime(format!(
                        "The SecondsPath parameter does not reference a valid integer value: {} == {}",
                        p.text(),
                        display(other)
                    ))),
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
                    Value::String(s) => Timestamp::parse(s).ok_or_else(|| {
                        Failure::runtime(format!(
                            "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                            p.text(),
                            s
                        ))
                    }),
                    other => Err(Failure::runtime(format!(
                        "The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: {} == {}",
                        p.text(),
                        display(other)
                    ))),
                }
            }
        }
    }
}

fn display(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
