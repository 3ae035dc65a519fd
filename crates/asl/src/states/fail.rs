//! Fail: stops the execution (or the branch) with an error name and a cause, given
//! literally or read from a path or an intrinsic call (`ErrorPath`, `CausePath`).

use serde_json::Value;

use crate::definition::fields::{Diagnostics, Fields};
use crate::error::Failure;
use crate::intrinsic::{self, Intrinsic};
use crate::path::{Reference, Scope};
use crate::random::Rng;

#[derive(Debug)]
pub enum Text {
    Literal(String),
    Path(Reference),
    Intrinsic(Box<Intrinsic>),
    /// JSONata: a `{% %}` expression.
    Jsonata(crate::payload::Template),
}

#[derive(Debug)]
pub struct Fail {
    pub error: Option<Text>,
    pub cause: Option<Text>,
}

impl Fail {
    pub fn parse(f: &Fields<'_>, d: &mut Diagnostics, jsonata: bool) -> Fail {
        if jsonata {
            let text = |key: &str, d: &mut Diagnostics| match f.get(key)? {
                Value::String(s) if crate::payload::jsonata_text(s).is_some() => {
                    crate::states::jsonata_value(f, key, d).map(Text::Jsonata)
                }
                _ => f.str(key, d).map(|s| Text::Literal(s.to_owned())),
            };
            return Fail {
                error: text("Error", d),
                cause: text("Cause", d),
            };
        }
        Fail {
            error: parse_text(f, "Error", "ErrorPath", d),
            cause: parse_text(f, "Cause", "CausePath", d),
        }
    }

    /// The failure this state ends with, evaluated against its input.
    pub fn failure(
        &self,
        state: &str,
        scope: &Scope<'_>,
        rng: &mut Rng,
    ) -> Result<(Option<String>, Option<String>), Failure> {
        let error = self
            .error
            .as_ref()
            .map(|t| eval(t, state, "ErrorPath", scope, rng))
            .transpose()?;
        let cause = self
            .cause
            .as_ref()
            .map(|t| eval(t, state, "CausePath", scope, rng))
            .transpose()?;
        Ok((error, cause))
    }
}

fn parse_text(f: &Fields<'_>, key: &str, key_path: &str, d: &mut Diagnostics) -> Option<Text> {
    if !f.exclusive(key, key_path, d) {
        return None;
    }
    if let Some(s) = f.str(key, d) {
        return Some(Text::Literal(s.to_owned()));
    }
    let text = f.str(key_path, d)?;
    let parsed = if intrinsic::is_intrinsic(text) {
        Intrinsic::parse(text)
            .map(|i| Text::Intrinsic(Box::new(i)))
            .map_err(|e| e.to_string())
    } else {
        Reference::parse(text)
            .map(Text::Path)
            .map_err(|e| e.to_string())
    };
    match parsed {
        Ok(t) => Some(t),
        Err(e) => {
            d.schema(format!("The value for the field '{key_path}' must be a valid JSONPath or a valid intrinsic function call: {e}"), f.at(key_path));
            None
        }
    }
}

fn eval(
    t: &Text,
    state: &str,
    field: &str,
    scope: &Scope<'_>,
    rng: &mut Rng,
) -> Result<String, Failure> {
    let value = match t {
        Text::Literal(s) => return Ok(s.clone()),
        Text::Path(p) => match p.eval(scope) {
            Ok(v) => v.into_owned(),
            Err(_) => return Err(crate::payload::missing_path(field, p, scope)),
        },
        Text::Intrinsic(call) => call.eval(scope, rng)?,
        Text::Jsonata(t) => t.eval(scope, rng)?,
    };
    match value {
        Value::String(s) => Ok(s),
        other => Err(Failure::runtime(format!(
            "The {field} field of the state '{state}' must reference a string value, but it references '{other}'"
        ))),
    }
}
