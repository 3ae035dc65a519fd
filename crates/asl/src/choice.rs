//! Choice rules in JSONPath mode: comparisons of a `Variable` with a literal or with another
//! path (`StringEquals`, `NumericLessThanPath`, ...), the `Is*` tests, and `And`, `Or`, `Not`.
//!
//! A comparison whose variable is missing, or whose value has another type than the
//! operator compares, is false rather than an error, as in Step Functions; only `IsPresent`
//! tells a missing variable apart.

use std::cmp::Ordering;

use serde_json::{Map, Value};

use crate::error::{Failure, ValidationError};
use crate::path::{Reference, Scope};
use crate::timestamp::Timestamp;

const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";
/// `And`/`Or`/`Not` nest at most this deep.
const MAX_DEPTH: usize = 64;

/// A top-level Choice rule: a condition and the state it leads to.
#[derive(Debug)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
    /// The rule's raw `Assign` object, compiled by the Choice state.
    pub assign: Option<Value>,
}

#[derive(Debug)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare { variable: Reference, test: Test },
}

/// What a comparison checks.
#[derive(Debug)]
pub enum Test {
    String(Cmp, Operand<String>),
    StringMatches(Vec<Glob>),
    Numeric(Cmp, Operand<serde_json::Number>),
    Boolean(Operand<bool>),
    Timestamp(Cmp, Operand<Timestamp>),
    IsPresent(bool),
    IsNull(bool),
    IsNumeric(bool),
    IsString(bool),
    IsBoolean(bool),
    IsTimestamp(bool),
}

/// A comparison's right-hand side: a literal, or a path read at evaluation time.
#[derive(Debug)]
pub enum Operand<T> {
    Literal(T),
    Path(Reference),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    Eq,
    Lt,
    Gt,
    Le,
    Ge,
}

impl Cmp {
    fn holds(self, o: Ordering) -> bool {
        match self {
            Cmp::Eq => o == Ordering::Equal,
            Cmp::Lt => o == Ordering::Less,
            Cmp::Gt => o == Ordering::Greater,
            Cmp::Le => o != Ordering::Greater,
            Cmp::Ge => o != Ordering::Less,
        }
    }
}

/// A piece of a `StringMatches` pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Glob {
    Literal(String),
    Star,
}

/// The comparison operators and what their literal operand must be.
const OPERATORS: &[(&str, Kind, Cmp)] = &[
    ("StringEquals", Kind::String, Cmp::Eq),
    ("StringLessThan", Kind::String, Cmp::Lt),
    ("StringGreaterThan", Kind::String, Cmp::Gt),
    ("StringLessThanEquals", Kind::String, Cmp::Le),
    ("StringGreaterThanEquals", Kind::String, Cmp::Ge),
    ("StringMatches", Kind::Matches, Cmp::Eq),
    ("NumericEquals", Kind::Numeric, Cmp::Eq),
    ("NumericLessThan", Kind::Numeric, Cmp::Lt),
    ("NumericGreaterThan", Kind::Numeric, Cmp::Gt),
    ("NumericLessThanEquals", Kind::Numeric, Cmp::Le),
    ("NumericGreaterThanEquals", Kind::Numeric, Cmp::Ge),
    ("BooleanEquals", Kind::Boolean, Cmp::Eq),
    ("TimestampEquals", Kind::Timestamp, Cmp::Eq),
    ("TimestampLessThan", Kind::Timestamp, Cmp::Lt),
    ("TimestampGreaterThan", Kind::Timestamp, Cmp::Gt),
    ("TimestampLessThanEquals", Kind::Timestamp, Cmp::Le),
    ("TimestampGreaterThanEquals", Kind::Timestamp, Cmp::Ge),
    ("IsPresent", Kind::Is, Cmp::Eq),
    ("IsNull", Kind::Is, Cmp::Eq),
    ("IsNumeric", Kind::Is, Cmp::Eq),
    ("IsString", Kind::Is, Cmp::Eq),
    ("IsBoolean", Kind::Is, Cmp::Eq),
    ("IsTimestamp", Kind::Is, Cmp::Eq),
];

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    String,
    Matches,
    Numeric,
    Boolean,
    Timestamp,
    Is,
}

/// Parses a top-level rule at `location` (`/States/Check/Choices/0`).
pub fn parse_rule(rule: &Value, location: &str) -> Result<ChoiceRule, Vec<ValidationError>> {
    let mut errors = Vec::new();
    let Value::Object(map) = rule else {
        return Err(vec![ValidationError::new(
            SCHEMA,
            "A Choice rule must be a JSON object",
            location,
        )]);
    };
    let next = match map.get("Next") {
        Some(Value::String(s)) => Some(s.clone()),
        Some(_) => {
            errors.push(ValidationError::new(
                SCHEMA,
                "The value of 'Next' must be a string",
                format!("{location}/Next"),
            ));
            None
        }
        None => {
            errors.push(ValidationError::new(
                SCHEMA,
                "These fields are required: [Next]",
                location,
            ));
            None
        }
    };
    let assign = map.get("Assign").cloned();
    let condition = parse_condition(map, location, true, 0, &mut errors);
    match (condition, next) {
        (Some(condition), Some(next)) if errors.is_empty() => Ok(ChoiceRule {
            condition,
            next,
            assign,
        }),
        _ => Err(errors),
    }
}

fn parse_condition(
    map: &Map<String, Value>,
    loc: &str,
    top: bool,
    depth: usize,
    errors: &mut Vec<ValidationError>,
) -> Option<Condition> {
    if depth > MAX_DEPTH {
        errors.push(ValidationError::new(
            SCHEMA,
            "Choice rules nest too deeply",
            loc,
        ));
        return None;
    }
    for key in map.keys() {
        let allowed = matches!(key.as_str(), "Variable" | "And" | "Or" | "Not" | "Comment")
            || (top && matches!(key.as_str(), "Next" | "Assign"))
            || operator(key).is_some();
        if !allowed {
            let message = if !top && matches!(key.as_str(), "Next" | "Assign") {
                format!("The field '{key}' is only allowed in a top-level Choice rule")
            } else {
                format!("The field '{key}' is not supported by Step Functions for a Choice rule")
            };
            errors.push(ValidationError::new(
                SCHEMA,
                message,
                format!("{loc}/{key}"),
            ));
        }
    }
    if let Some(Value::String(_)) | None = map.get("Comment") {
    } else {
        errors.push(ValidationError::new(
            SCHEMA,
            "The value of 'Comment' must be a string",
            format!("{loc}/Comment"),
        ));
    }
    let combinators: Vec<&str> = ["And", "Or", "Not"]
        .into_iter()
        .filter(|k| map.contains_key(*k))
        .collect();
    let operators: Vec<&String> = map.keys().filter(|k| operator(k).is_some()).collect();
    if combinators.len() + operators.len() != 1 {
        errors.push(ValidationError::new(
            SCHEMA,
            "A Choice rule must have exactly one comparison operator or one of And, Or, Not",
            loc,
        ));
        return None;
    }
    if let Some(&combinator) = combinators.first() {
        if map.contains_key("Variable") {
            errors.push(ValidationError::new(
                SCHEMA,
                format!("A Choice rule with '{combinator}' must not have a Variable"),
                format!("{loc}/Variable"),
            ));
        }
        let at = format!("{loc}/{combinator}");
        let value = &map[combinator];
        if combinator == "Not" {
            let Value::Object(inner) = value else {
                errors.push(ValidationError::new(
                    SCHEMA,
                    "The value of 'Not' must be a Choice rule object",
                    at,
                ));
                return None;
            };
            return parse_condition(inner, &at, false, depth + 1, errors)
                .map(|c| Condition::Not(Box::new(c)));
        }
        let Value::Array(items) = value else {
            errors.push(ValidationError::new(
                SCHEMA,
                format!("The value of '{combinator}' must be an array of Choice rules"),
                at,
            ));
            return None;
        };
        if items.is_empty() {
            errors.push(ValidationError::new(
                SCHEMA,
                format!("The value of '{combinator}' must not be empty"),
                at,
            ));
            return None;
        }
        let mut all = Vec::with_capacity(items.len());
        for (i, item) in items.iter().enumerate() {
            let item_loc = format!("{at}[{i}]");
            match item {
                Value::Object(inner) => {
                    all.extend(parse_condition(inner, &item_loc, false, depth + 1, errors))
                }
                _ => errors.push(ValidationError::new(
                    SCHEMA,
                    "A Choice rule must be a JSON object",
                    item_loc,
                )),
            }
        }
        if all.len() != items.len() {
            return None;
        }
        return Some(if combinator == "And" {
            Condition::And(all)
        } else {
            Condition::Or(all)
        });
    }
    let key = operators[0].as_str();
    let (name, is_path) = operator(key)?;
    let variable = match map.get("Variable") {
        Some(Value::String(text)) => match Reference::parse(text) {
            Ok(r) => r,
            Err(e) => {
                errors.push(ValidationError::new(
                    SCHEMA,
                    format!("The value for the field 'Variable' must be a valid JSONPath: {e}"),
                    format!("{loc}/Variable"),
                ));
                return None;
            }
        },
        Some(_) => {
            errors.push(ValidationError::new(
                SCHEMA,
                "The value of 'Variable' must be a string",
                format!("{loc}/Variable"),
            ));
            return None;
        }
        None => {
            errors.push(ValidationError::new(
                SCHEMA,
                "These fields are required: [Variable]",
                loc,
            ));
            return None;
        }
    };
    let at = format!("{loc}/{key}");
    let test = parse_test(name, is_path, &map[key], &at, errors)?;
    Some(Condition::Compare { variable, test })
}

/// The operator a key names, and whether it is the `...Path` form.
fn operator(key: &str) -> Option<(&'static str, bool)> {
    let (base, is_path) = match key.strip_suffix("Path") {
        Some(base) if !base.starts_with("Is") => (base, true),
        _ => (key, false),
    };
    OPERATORS
        .iter()
        .find(|(name, _, _)| *name == base)
        .map(|(name, _, _)| (*name, is_path))
}

fn parse_test(
    name: &str,
    is_path: bool,
    value: &Value,
    at: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<Test> {
    let &(_, kind, cmp) = OPERATORS.iter().find(|(n, _, _)| *n == name)?;
    let mut fail = |message: String| {
        errors.push(ValidationError::new(SCHEMA, message, at));
        None
    };
    if is_path {
        let Value::String(text) = value else {
            return fail(format!(
                "The value of '{name}Path' must be a JSONPath string"
            ));
        };
        let path = match Reference::parse(text) {
            Ok(p) => p,
            Err(e) => {
                return fail(format!(
                    "The value of '{name}Path' must be a valid JSONPath: {e}"
                ));
            }
        };
        return Some(match kind {
            Kind::String => Test::String(cmp, Operand::Path(path)),
            Kind::Numeric => Test::Numeric(cmp, Operand::Path(path)),
            Kind::Boolean => Test::Boolean(Operand::Path(path)),
            Kind::Timestamp => Test::Timestamp(cmp, Operand::Path(path)),
            Kind::Matches | Kind::Is => return fail(format!("'{name}' has no Path form")),
        });
    }
    Some(match (kind, value) {
        (Kind::String, Value::String(s)) => Test::String(cmp, Operand::Literal(s.clone())),
        (Kind::Matches, Value::String(s)) => Test::StringMatches(glob(s)),
        (Kind::Numeric, Value::Number(n)) => Test::Numeric(cmp, Operand::Literal(n.clone())),
        (Kind::Boolean, Value::Bool(b)) => Test::Boolean(Operand::Literal(*b)),
        (Kind::Timestamp, Value::String(s)) => match Timestamp::parse(s) {
            Some(t) => Test::Timestamp(cmp, Operand::Literal(t)),
            None => {
                return fail(format!(
                    "The value of '{name}' must be an ISO-8601 timestamp such as 2016-03-14T01:59:00Z"
                ));
            }
        },
        (Kind::Is, Value::Bool(b)) => match name {
            "IsPresent" => Test::IsPresent(*b),
            "IsNull" => Test::IsNull(*b),
            "IsNumeric" => Test::IsNumeric(*b),
            "IsString" => Test::IsString(*b),
            "IsBoolean" => Test::IsBoolean(*b),
            _ => Test::IsTimestamp(*b),
        },
        (Kind::String | Kind::Matches | Kind::Timestamp, _) => {
            return fail(format!("The value of '{name}' must be a string"));
        }
        (Kind::Numeric, _) => return fail(format!("The value of '{name}' must be a number")),
        (Kind::Boolean | Kind::Is, _) => {
            return fail(format!("The value of '{name}' must be a boolean"));
        }
    })
}

/// Splits a `StringMatches` pattern: `*` matches any run of characters; `\*` is a literal
/// star and `\\` a literal backslash.
fn glob(pattern: &str) -> Vec<Glob> {
    let mut parts = Vec::new();
    let mut lit = String::new();
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some(next) => lit.push(next),
                None => lit.push('\\'),
            },
            '*' => {
                if !lit.is_empty() {
                    parts.push(Glob::Literal(std::mem::take(&mut lit)));
                }
                if parts.last() != Some(&Glob::Star) {
                    parts.push(Glob::Star);
                }
            }
            other => lit.push(other),
        }
    }
    if !lit.is_empty() {
        parts.push(Glob::Literal(lit));
    }
    parts
}

/// Whether `text` matches the glob: the leading literal is a prefix, the trailing one a
/// suffix, and the ones between are found left to right in what remains (linear time).
fn matches_glob(parts: &[Glob], text: &str) -> bool {
    if !parts.contains(&Glob::Star) {
        return match parts.first() {
            Some(Glob::Literal(l)) => text == l,
            _ => text.is_empty(),
        };
    }
    let mut middle = parts;
    let mut rest = text;
    if let Some(Glob::Literal(prefix)) = middle.first() {
        let Some(r) = rest.strip_prefix(prefix.as_str()) else {
            return false;
        };
        rest = r;
        middle = &middle[1..];
    }
    if let Some(Glob::Literal(suffix)) = middle.last() {
        let Some(r) = rest.strip_suffix(suffix.as_str()) else {
            return false;
        };
        rest = r;
        middle = &middle[..middle.len() - 1];
    }
    for part in middle {
        if let Glob::Literal(l) = part {
            match rest.find(l.as_str()) {
                Some(pos) => rest = &rest[pos + l.len()..],
                None => return false,
            }
        }
    }
    true
}

impl Condition {
    pub fn eval(&self, scope: &Scope<'_>) -> Result<bool, Failure> {
        Ok(match self {
            Condition::And(all) => {
                for c in all {
                    if !c.eval(scope)? {
                        return Ok(false);
                    }
                }
                true
            }
            Condition::Or(any) => {
                for c in any {
                    if c.eval(scope)? {
                        return Ok(true);
                    }
                }
                false
            }
            Condition::Not(c) => !c.eval(scope)?,
            Condition::Compare { variable, test } => {
                let value = variable.eval(scope).ok();
                let Some(v) = value.as_deref() else {
                    return Ok(matches!(test, Test::IsPresent(false)));
                };
                test.holds(v, scope)
            }
        })
    }

    /// Whether any path here reads the context object `$$`.
    pub fn uses_context(&self) -> bool {
        match self {
            Condition::And(all) | Condition::Or(all) => all.iter().any(Condition::uses_context),
            Condition::Not(c) => c.uses_context(),
            Condition::Compare { variable, test } => {
                variable.text().starts_with("$$") || test.uses_context()
            }
        }
    }
}

impl Test {
    fn uses_context(&self) -> bool {
        let path = match self {
            Test::String(_, Operand::Path(p)) | Test::Numeric(_, Operand::Path(p)) => p,
            Test::Boolean(Operand::Path(p)) | Test::Timestamp(_, Operand::Path(p)) => p,
            _ => return false,
        };
        path.text().starts_with("$$")
    }

    fn holds(&self, v: &Value, scope: &Scope<'_>) -> bool {
        match self {
            Test::IsPresent(b) => *b,
            Test::IsNull(b) => v.is_null() == *b,
            Test::IsNumeric(b) => v.is_number() == *b,
            Test::IsString(b) => v.is_string() == *b,
            Test::IsBoolean(b) => v.is_boolean() == *b,
            Test::IsTimestamp(b) => v.as_str().and_then(Timestamp::parse).is_some() == *b,
            Test::StringMatches(parts) => v.as_str().is_some_and(|s| matches_glob(parts, s)),
            Test::String(cmp, operand) => {
                let Some(s) = v.as_str() else { return false };
                match operand {
                    Operand::Literal(o) => cmp.holds(utf16_cmp(s, o)),
                    Operand::Path(p) => match p.eval(scope).ok().as_deref() {
                        Some(Value::String(o)) => cmp.holds(utf16_cmp(s, o)),
                        _ => false,
                    },
                }
            }
            Test::Numeric(cmp, operand) => {
                let Value::Number(n) = v else { return false };
                let order = match operand {
                    Operand::Literal(o) => number_cmp(n, o),
                    Operand::Path(p) => match p.eval(scope).ok().as_deref() {
                        Some(Value::Number(o)) => number_cmp(n, o),
                        _ => None,
                    },
                };
                order.is_some_and(|o| cmp.holds(o))
            }
            Test::Boolean(operand) => {
                let Value::Bool(b) = v else { return false };
                match operand {
                    Operand::Literal(o) => b == o,
                    Operand::Path(p) => {
                        matches!(p.eval(scope).ok().as_deref(), Some(Value::Bool(o)) if o == b)
                    }
                }
            }
            Test::Timestamp(cmp, operand) => {
                let Some(t) = v.as_str().and_then(Timestamp::parse) else {
                    return false;
                };
                let other = match operand {
                    Operand::Literal(o) => Some(*o),
                    Operand::Path(p) => p
                        .eval(scope)
                        .ok()
                        .as_deref()
                        .and_then(Value::as_str)
                        .and_then(Timestamp::parse),
                };
                other.is_some_and(|o| cmp.holds(t.cmp(&o)))
            }
        }
    }
}

/// Orders strings as Java does (by UTF-16 code units).
fn utf16_cmp(a: &str, b: &str) -> Ordering {
    a.encode_utf16().cmp(b.encode_utf16())
}

/// Orders numbers by value, exactly for integers.
fn number_cmp(a: &serde_json::Number, b: &serde_json::Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    a.as_f64()?.partial_cmp(&b.as_f64()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::NoVariables;
    use serde_json::json;

    fn check(rule: Value, input: Value) -> bool {
        let mut rule = rule;
        rule["Next"] = json!("X");
        let parsed = parse_rule(&rule, "/r").unwrap_or_else(|e| panic!("{e:?}"));
        let ctx = json!({});
        parsed
            .condition
            .eval(&Scope {
                input: &input,
                context: &ctx,
                variables: &NoVariables,
            })
            .unwrap()
    }

    #[test]
    fn comparisons_with_literals() {
        assert!(check(
            json!({"Variable": "$.s", "StringEquals": "a"}),
            json!({"s": "a"})
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringLessThan": "b"}),
            json!({"s": "a"})
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericEquals": 1}),
            json!({"n": 1.0})
        ));
        assert!(check(
            json!({"Variable": "$.n", "NumericGreaterThanEquals": 1.5}),
            json!({"n": 2})
        ));
        assert!(!check(
            json!({"Variable": "$.n", "NumericEquals": 42}),
            json!({"n": "42"})
        ));
        assert!(check(
            json!({"Variable": "$.b", "BooleanEquals": false}),
            json!({"b": false})
        ));
        assert!(check(
            json!({"Variable": "$.t", "TimestampLessThan": "2016-03-14T01:59:00Z"}),
            json!({"t": "2016-03-14T01:58:59Z"})
        ));
        assert!(!check(
            json!({"Variable": "$.t", "TimestampEquals": "2016-03-14T01:59:00Z"}),
            json!({"t": "nope"})
        ));
    }

    #[test]
    fn comparisons_with_paths() {
        let input = json!({"a": 1, "b": 2, "s": "x", "t": "x"});
        assert!(check(
            json!({"Variable": "$.a", "NumericLessThanPath": "$.b"}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "StringEqualsPath": "$.t"}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.a", "NumericEqualsPath": "$.missing"}),
            input
        ));
    }

    #[test]
    fn type_tests_and_presence() {
        let input = json!({"n": null, "x": 1, "s": "2016-03-14T01:59:00Z", "b": true});
        assert!(check(
            json!({"Variable": "$.n", "IsNull": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.x", "IsNumeric": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.s", "IsTimestamp": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.b", "IsBoolean": true}),
            input.clone()
        ));
        assert!(check(
            json!({"Variable": "$.nope", "IsPresent": false}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.nope", "IsNull": true}),
            input.clone()
        ));
        assert!(!check(
            json!({"Variable": "$.nope", "StringEquals": "x"}),
            input
        ));
    }

    #[test]
    fn combinators() {
        let input = json!({"a": 1, "b": "x"});
        assert!(check(
            json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Not": {"Variable": "$.b", "StringEquals": "y"}}]}),
            input.clone()
        ));
        assert!(check(
            json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "IsString": true}]}),
            input
        ));
    }

    #[test]
    fn string_matches_with_wildcards_and_escapes() {
        let m = |p: &str, s: &str| matches_glob(&glob(p), s);
        assert!(m("log-*.txt", "log-2024.txt"));
        assert!(!m("log-*.txt", "log-2024.csv"));
        assert!(m("*", ""));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(!m("a*b*c", "aXXcYYb"));
        assert!(m("\\*x", "*x"));
        assert!(!m("\\*x", "ax"));
        assert!(m("a\\\\b", "a\\b"));
        assert!(m("*.txt", ".txt"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("ab*", "abcd"));
        assert!(m("*a*", "bab"));
        assert!(!m("x*x", "x"));
    }

    #[test]
    fn validation_names_the_problem() {
        let err = |rule: Value| parse_rule(&rule, "/r").unwrap_err()[0].message.clone();
        assert!(
            err(json!({"Variable": "$.a", "StringEquals": 1, "Next": "X"}))
                .contains("must be a string")
        );
        assert!(err(json!({"Variable": "$.a", "Next": "X"})).contains("exactly one"));
        assert!(err(json!({"Variable": "$.a", "StringEquals": "x"})).contains("required: [Next]"));
        assert!(
            err(json!({"And": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Next": "X"}))
                .contains("top-level")
        );
        assert!(err(json!({"StringEquals": "x", "Next": "X"})).contains("Variable"));
        assert!(
            err(json!({"Variable": "$.a", "IsPresentPath": "$.b", "Next": "X"}))
                .contains("not supported")
        );
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut rule = json!({"Variable": "$.a", "IsNull": true});
        for _ in 0..200 {
            rule = json!({ "Not": rule });
        }
        rule["Next"] = json!("X");
        assert!(parse_rule(&rule, "/r").is_err());
    }
}
