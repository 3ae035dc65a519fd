//! `ResultPath`: where a state's result goes in its input.
//!
//! A reference path of names and array indices. `$` replaces the input with the result.
//! Otherwise the result is set at the path: members missing on the way are created as
//! objects, an existing member is replaced in place (keeping its position), an array
//! element must exist. Anything else (a name applied to a string, number, `null` or
//! array, an index to a non-array or past the end, an index into a member that does not
//! exist yet) fails with `States.ResultPathMatchFailure`, leaving the input untouched.

use serde_json::{Map, Value};

use super::compile::Token;
use super::{JsonPath, PathError, PathSyntaxError};

/// A compiled `ResultPath`.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultPath {
    path: JsonPath,
}

impl ResultPath {
    /// Refuses anything but names and single indices (`$$`, variables, wildcards, ...).
    pub fn parse(text: &str) -> Result<ResultPath, PathSyntaxError> {
        let path = JsonPath::parse(text)?;
        if !path
            .tokens
            .iter()
            .all(|t| matches!(t, Token::Name(_) | Token::Index(_)))
        {
            return Err(PathSyntaxError::NotDefinite);
        }
        Ok(ResultPath { path })
    }

    pub fn text(&self) -> &str {
        self.path.text()
    }

    pub fn path(&self) -> &JsonPath {
        &self.path
    }

    /// `$`: the result. Otherwise `input` with the result placed at the path.
    pub fn apply(&self, mut input: Value, result: Value) -> Result<Value, PathError> {
        let tokens = &self.path.tokens;
        let Some((last, init)) = tokens.split_last() else {
            return Ok(result);
        };
        if !fits(tokens, &input) {
            return Err(PathError::ResultPathMatch {
                path: self.path.text().to_owned(),
                input: input.to_string(),
            });
        }
        // `fits` checked every step below; a mismatch here leaves the input as it is.
        let mut cur = &mut input;
        for t in init {
            cur = match (t, cur) {
                (Token::Name(n), Value::Object(m)) => {
                    if !m.contains_key(&**n) {
                        m.insert(n.to_string(), Value::Object(Map::new()));
                    }
                    match m.get_mut(&**n) {
                        Some(v) => v,
                        None => return Ok(input),
                    }
                }
                (Token::Index(i), Value::Array(a)) => {
                    match usize::try_from(*i).ok().and_then(|i| a.get_mut(i)) {
                        Some(v) => v,
                        None => return Ok(input),
                    }
                }
                _ => return Ok(input),
            };
        }
        match (last, cur) {
            (Token::Name(n), Value::Object(m)) => match m.get_mut(&**n) {
                Some(slot) => *slot = result,
                None => {
                    m.insert(n.to_string(), result);
                }
            },
            (Token::Index(i), Value::Array(a)) => {
                if let Some(slot) = usize::try_from(*i).ok().and_then(|i| a.get_mut(i)) {
                    *slot = result;
                }
            }
            _ => {}
        }
        Ok(input)
    }
}

/// Whether the result can be placed at `tokens` inside `input`.
fn fits(tokens: &[Token], input: &Value) -> bool {
    let mut cur = input;
    for (k, t) in tokens.iter().enumerate() {
        let last = k + 1 == tokens.len();
        cur = match (t, cur) {
            (Token::Name(n), Value::Object(m)) => match m.get(&**n) {
                Some(v) if !last => v,
                Some(_) => return true,
                // Only objects can be created on the way.
                None => return tokens[k + 1..].iter().all(|t| matches!(t, Token::Name(_))),
            },
            (Token::Index(i), Value::Array(a)) => {
                match usize::try_from(*i).ok().and_then(|i| a.get(i)) {
                    Some(v) if !last => v,
                    Some(_) => return true,
                    None => return false,
                }
            }
            _ => return false,
        };
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn apply(path: &str, input: Value, result: Value) -> Result<Value, PathError> {
        ResultPath::parse(path).unwrap().apply(input, result)
    }

    #[test]
    fn places_and_creates() {
        assert_eq!(apply("$", json!({"a": 1}), json!(2)).unwrap(), json!(2));
        assert_eq!(
            apply("$.a.b", json!({"x": 1}), json!(2)).unwrap(),
            json!({"x": 1, "a": {"b": 2}})
        );
        assert_eq!(
            apply("$['a b'].c", json!({}), json!(true)).unwrap(),
            json!({"a b": {"c": true}})
        );
        // An existing member keeps its place.
        let out = apply("$.a", json!({"a": 1, "b": 2}), json!(3)).unwrap();
        assert_eq!(out.to_string(), r#"{"a":3,"b":2}"#);
        assert_eq!(
            apply("$.n[1]", json!({"n": [0, 0]}), json!(9)).unwrap(),
            json!({"n": [0, 9]})
        );
        assert_eq!(
            apply("$.n[0].x", json!({"n": [{}]}), json!(9)).unwrap(),
            json!({"n": [{"x": 9}]})
        );
        assert_eq!(
            apply("$.a.b", json!({"a": {"b": {"old": 1}}}), json!(null)).unwrap(),
            json!({"a": {"b": null}})
        );
    }

    #[test]
    fn fails_where_nothing_can_hold_the_result() {
        let e = apply("$.a.b", json!({"a": "text"}), json!(1)).unwrap_err();
        assert_eq!(
            e.to_string(),
            r#"Unable to apply ReferencePath $.a.b to input {"a":"text"}"#
        );
        for (path, input) in [
            ("$.a", json!("text")),
            ("$.a", json!([1])),
            ("$.a.b", json!({"a": null})),
            ("$.n[5]", json!({"n": [0]})),
            ("$.n[-1]", json!({"n": [0]})),
            ("$.n[0]", json!({"n": {"0": 1}})),
            ("$.missing[0]", json!({})),
            ("$[0]", json!({})),
        ] {
            assert!(
                matches!(
                    apply(path, input.clone(), json!(1)),
                    Err(PathError::ResultPathMatch { .. })
                ),
                "{path} {input}"
            );
        }
    }

    #[test]
    fn only_reference_paths() {
        for bad in [
            "$.a[*]",
            "$..a",
            "$.a[0:1]",
            "$['a','b']",
            "$.a[?(@.b)]",
            "$.a[(@.length-1)]",
        ] {
            assert_eq!(
                ResultPath::parse(bad),
                Err(PathSyntaxError::NotDefinite),
                "{bad}"
            );
        }
        for bad in ["$$.a", "$var.a", "a"] {
            assert!(ResultPath::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(ResultPath::parse("$.a[0]").unwrap().text(), "$.a[0]");
    }
}
