//! Reading one JSON object of a definition: typed getters that report a [`ValidationError`]
//! naming the field and its location when a value has the wrong type, and a final check that
//! refuses every field the object's kind does not allow.

use serde_json::{Map, Value};

use crate::error::ValidationError;

/// AWS's diagnostic codes.
pub mod codes {
    pub const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";
    pub const INVALID_JSON: &str = "INVALID_JSON_DESCRIPTION";
    pub const MISSING_TARGET: &str = "MISSING_TRANSITION_TARGET";
    pub const UNREACHABLE: &str = "UNREACHABLE_STATE";
    pub const MISSING_END: &str = "MISSING_END_STATE";
    pub const UNSUPPORTED: &str = "UNSUPPORTED_FEATURE";
}

/// The errors found so far in one definition.
#[derive(Debug, Default)]
pub struct Diagnostics {
    pub errors: Vec<ValidationError>,
}

impl Diagnostics {
    pub fn push(&mut self, code: &str, message: impl Into<String>, location: impl Into<String>) {
        self.errors
            .push(ValidationError::new(code, message, location));
    }

    pub fn schema(&mut self, message: impl Into<String>, location: impl Into<String>) {
        self.push(codes::SCHEMA, message, location);
    }

    pub fn extend(&mut self, errors: Vec<ValidationError>) {
        self.errors.extend(errors);
    }
}

/// A JSON object being read, with its location in the definition.
pub struct Fields<'a> {
    pub map: &'a Map<String, Value>,
    pub loc: String,
}

impl<'a> Fields<'a> {
    pub fn new(map: &'a Map<String, Value>, loc: impl Into<String>) -> Self {
        Self {
            map,
            loc: loc.into(),
        }
    }

    pub fn at(&self, key: &str) -> String {
        format!("{}/{}", self.loc, key)
    }

    pub fn has(&self, key: &str) -> bool {
        self.map.contains_key(key)
    }

    pub fn get(&self, key: &str) -> Option<&'a Value> {
        self.map.get(key)
    }

    /// Refuses every key not in `allowed`.
    pub fn only(&self, allowed: &[&str], what: &str, d: &mut Diagnostics) {
        for key in self.map.keys() {
            if !allowed.contains(&key.as_str()) {
                d.schema(
                    format!("The field '{key}' is not supported by Step Functions for {what}"),
                    self.at(key),
                );
            }
        }
    }

    pub fn str(&self, key: &str, d: &mut Diagnostics) -> Option<&'a str> {
        match self.map.get(key)? {
            Value::String(s) => Some(s),
            _ => {
                d.schema(
                    format!("The value of '{key}' must be a string"),
                    self.at(key),
                );
                None
            }
        }
    }

    pub fn required_str(&self, key: &str, d: &mut Diagnostics) -> Option<&'a str> {
        if !self.has(key) {
            d.schema(
                format!("These fields are required: [{key}]"),
                self.loc.clone(),
            );
            return None;
        }
        self.str(key, d)
    }

    pub fn bool(&self, key: &str, d: &mut Diagnostics) -> Option<bool> {
        match self.map.get(key)? {
            Value::Bool(b) => Some(*b),
            _ => {
                d.schema(
                    format!("The value of '{key}' must be a boolean"),
                    self.at(key),
                );
                None
            }
        }
    }

    /// A non-negative integer no larger than `max`.
    pub fn uint(&self, key: &str, max: u64, d: &mut Diagnostics) -> Option<u64> {
        let v = self.map.get(key)?;
        match as_whole_number(v) {
            Some(n) if n <= max => Some(n),
            Some(_) => {
                d.schema(
                    format!("The value of '{key}' must be at most {max}"),
                    self.at(key),
                );
                None
            }
            None => {
                d.schema(
                    format!("The value of '{key}' must be a non-negative integer"),
                    self.at(key),
                );
                None
            }
        }
    }

    pub fn number(&self, key: &str, d: &mut Diagnostics) -> Option<f64> {
        match self.map.get(key)? {
            Value::Number(n) => n.as_f64(),
            _ => {
                d.schema(
                    format!("The value of '{key}' must be a number"),
                    self.at(key),
                );
                None
            }
        }
    }

    pub fn object(&self, key: &str, d: &mut Diagnostics) -> Option<&'a Map<String, Value>> {
        match self.map.get(key)? {
            Value::Object(o) => Some(o),
            _ => {
                d.schema(
                    format!("The value of '{key}' must be an object"),
                    self.at(key),
                );
                None
            }
        }
    }

    pub fn array(&self, key: &str, d: &mut Diagnostics) -> Option<&'a Vec<Value>> {
        match self.map.get(key)? {
            Value::Array(a) => Some(a),
            _ => {
                d.schema(
                    format!("The value of '{key}' must be an array"),
                    self.at(key),
                );
                None
            }
        }
    }

    /// Reports `a` and `b` both being present.
    pub fn exclusive(&self, a: &str, b: &str, d: &mut Diagnostics) -> bool {
        if self.has(a) && self.has(b) {
            d.schema(
                format!("The fields '{a}' and '{b}' are mutually exclusive"),
                self.loc.clone(),
            );
            return false;
        }
        true
    }
}

/// An integer value given as a JSON number without a fractional part (`3` or `3.0`).
pub fn as_whole_number(v: &Value) -> Option<u64> {
    match v {
        Value::Number(n) => n.as_u64().or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && *f >= 0.0 && *f <= u64::MAX as f64)
                .map(|f| f as u64)
        }),
        _ => None,
    }
}
