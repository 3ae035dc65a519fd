//! Choice rules in JSONPath mode: comparisons of a `Variable` with a literal or with another
//! path (`StringEquals`, `NumericLessThanPath`, ...), `StringMatches`, the type tests
//! (`IsPresent`, `IsNull`, `IsNumeric`, `IsString`, `IsBoolean`, `IsTimestamp`), and `And`,
//! `Or`, `Not`. A rule is parsed and validated once ([`parse_rule`]); evaluating it
//! ([`Condition::eval`]) allocates nothing beyond what a path read needs.
//!
//! Step Functions' semantics, which the tests pin down:
//! - A value of another type than the operator compares (a string under `NumericEquals`, a
//!   number under `StringEquals`, a string that is no timestamp under `TimestampEquals`)
//!   makes the comparison false, not an error.
//! - A `Variable`, or the path of a `...Path` operator, that selects nothing fails the
//!   execution with `States.Runtime`, "Invalid path '$.x': The choice state's condition path
//!   references an invalid value." Only `IsPresent` looks at a missing variable (and is then
//!   false, or true for `"IsPresent": false`).
//! - Numbers compare by value (`1` equals `1.0`), exactly even for large integers; strings
//!   compare by UTF-16 code units as Java does; timestamps compare as instants.
//! - `StringMatches` has one wildcard, `*`; `\*` is a literal star and `\\` a backslash.
//! - `And` and `Or` stop at the first rule that decides them.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Map, Number, Value};

use crate::error::{Failure, ValidationError};
use crate::path::{Reference, Scope, Source};
use crate::timestamp::Timestamp;

const SCHEMA: &str = "SCHEMA_VALIDATION_FAILED";
/// `And`/`Or`/`Not` nest at most this deep, so parsing and evaluation recurse boundedly.
pub const MAX_DEPTH: usize = 64;

/// A top-level Choice rule: a condition and the state it leads to.
#[derive(Debug)]
pub struct ChoiceRule {
    pub condition: Condition,
    pub next: String,
    /// The rule's raw `Assign` object, compiled by the Choice state.
    pub assign: Option<Value>,
}

/// A Boolean expression over the state's input, the context object and variables.
#[derive(Debug)]
pub enum Condition {
    And(Vec<Condition>),
    Or(Vec<Condition>),
    Not(Box<Condition>),
    Compare(Box<Comparison>),
}

/// `Variable` and what is tested of its value.
#[derive(Debug)]
pub struct Comparison {
    pub variable: Reference,
    pub test: Test,
}

/// What a comparison checks.
#[derive(Debug)]
pub enum Test {
    String(Cmp, Operand<String>),
    StringMatches(Pattern),
    Numeric(Cmp, Operand<Number>),
    Boolean(Operand<bool>),
    Timestamp(Cmp, Operand<Timestamp>),
    /// `IsPresent`, `IsNull`, ...: whether the value is of the kind, against the expected
    /// answer.
    Is(TypeTest, bool),
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

    fn holds_str(self, a: &str, b: &str) -> bool {
        match self {
            Cmp::Eq => a == b,
            _ => self.holds(java_cmp(a, b)),
        }
    }
}

/// The `Is*` operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TypeTest {
    Present,
    Null,
    Numeric,
    String,
    Boolean,
    Timestamp,
}

impl TypeTest {
    /// Whether a value that is present is of this kind.
    fn matches(self, v: &Value) -> bool {
        match self {
            TypeTest::Present => true,
            TypeTest::Null => v.is_null(),
            TypeTest::Numeric => v.is_number(),
            TypeTest::String => v.is_string(),
            TypeTest::Boolean => v.is_boolean(),
            TypeTest::Timestamp => v.as_str().and_then(Timestamp::parse).is_some(),
        }
    }
}

/// What an operator compares, and so what its literal must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Family {
    String,
    Matches,
    Numeric,
    Boolean,
    Timestamp,
    Type(TypeTest),
}

/// The comparison operators without their `Path` forms.
const OPERATORS: &[(&str, Family, Cmp)] = &[
    ("StringEquals", Family::String, Cmp::Eq),
    ("StringLessThan", Family::String, Cmp::Lt),
    ("StringGreaterThan", Family::String, Cmp::Gt),
    ("StringLessThanEquals", Family::String, Cmp::Le),
    ("StringGreaterThanEquals", Family::String, Cmp::Ge),
    ("StringMatches", Family::Matches, Cmp::Eq),
    ("NumericEquals", Family::Numeric, Cmp::Eq),
    ("NumericLessThan", Family::Numeric, Cmp::Lt),
    ("NumericGreaterThan", Family::Numeric, Cmp::Gt),
    ("NumericLessThanEquals", Family::Numeric, Cmp::Le),
    ("NumericGreaterThanEquals", Family::Numeric, Cmp::Ge),
    ("BooleanEquals", Family::Boolean, Cmp::Eq),
    ("TimestampEquals", Family::Timestamp, Cmp::Eq),
    ("TimestampLessThan", Family::Timestamp, Cmp::Lt),
    ("TimestampGreaterThan", Family::Timestamp, Cmp::Gt),
    ("TimestampLessThanEquals", Family::Timestamp, Cmp::Le),
    ("TimestampGreaterThanEquals", Family::Timestamp, Cmp::Ge),
    ("IsPresent", Family::Type(TypeTest::Present), Cmp::Eq),
    ("IsNull", Family::Type(TypeTest::Null), Cmp::Eq),
    ("IsNumeric", Family::Type(TypeTest::Numeric), Cmp::Eq),
    ("IsString", Family::Type(TypeTest::String), Cmp::Eq),
    ("IsBoolean", Family::Type(TypeTest::Boolean), Cmp::Eq),
    ("IsTimestamp", Family::Type(TypeTest::Timestamp), Cmp::Eq),
];

/// The operator a field names, and whether it is a `...Path` form (which exist for the
/// string, numeric, boolean and timestamp comparisons, not for `StringMatches` or `Is*`).
fn operator(key: &str) -> Option<(Family, Cmp, bool)> {
    let find = |name: &str| {
        OPERATORS
            .iter()
            .find(|(n, _, _)| *n == name)
            .map(|&(_, family, cmp)| (family, cmp))
    };
    if let Some((family, cmp)) = find(key) {
        return Some((family, cmp, false));
    }
    let (family, cmp) = find(key.strip_suffix("Path")?)?;
    matches!(
        family,
        Family::String | Family::Numeric | Family::Boolean | Family::Timestamp
    )
    .then_some((family, cmp, true))
}

const COMBINATORS: [&str; 3] = ["And", "Or", "Not"];

/// Parses a top-level rule at `location` (`/States/Check/Choices[0]`): a condition, `Next`,
/// and optionally `Assign` and `Comment`. Returns every problem found.
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
                "The value for the field 'Next' must be a string",
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
    let condition = parse_condition(map, location, true, 0, &mut errors);
    match (condition, next) {
        (Some(condition), Some(next)) if errors.is_empty() => Ok(ChoiceRule {
            condition,
            next,
            assign: map.get("Assign").cloned(),
        }),
        _ => Err(errors),
    }
}

/// Parses the condition of a rule object; `top` for a rule directly in `Choices`, which
/// may also hold `Next` and `Assign`.
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
            format!("Choice rules may nest at most {MAX_DEPTH} levels deep"),
            loc,
        ));
        return None;
    }
    let mut operators = Vec::new();
    let mut combinators = Vec::new();
    for key in map.keys() {
        let key = key.as_str();
        if let Some(op) = operator(key) {
            operators.push((key, op));
        } else if COMBINATORS.contains(&key) {
            combinators.push(key);
        } else if !(matches!(key, "Variable" | "Comment")
            || (top && matches!(key, "Next" | "Assign")))
        {
            let message = if matches!(key, "Next" | "Assign") {
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
    if !matches!(map.get("Comment"), None | Some(Value::String(_))) {
        errors.push(ValidationError::new(
            SCHEMA,
            "The value for the field 'Comment' must be a string",
            format!("{loc}/Comment"),
        ));
    }
    match (operators.as_slice(), combinators.as_slice()) {
        ([(key, (family, cmp, is_path))], []) => {
            parse_comparison(map, loc, key, *family, *cmp, *is_path, errors)
        }
        ([], [combinator]) => {
            if map.contains_key("Variable") {
                errors.push(ValidationError::new(
                    SCHEMA,
                    format!(
                        "The field 'Variable' is not allowed in a Choice rule with '{combinator}'"
                    ),
                    format!("{loc}/Variable"),
                ));
            }
            parse_combinator(map, loc, combinator, depth, errors)
        }
        ([], []) => {
            errors.push(ValidationError::new(
                SCHEMA,
                "A Choice rule must have one comparison operator (such as 'StringEquals' or 'IsPresent') or one of 'And', 'Or', 'Not'",
                loc,
            ));
            None
        }
        _ => {
            let found: Vec<&str> = operators
                .iter()
                .map(|(k, _)| *k)
                .chain(combinators.iter().copied())
                .collect();
            errors.push(ValidationError::new(
                SCHEMA,
                format!(
                    "A Choice rule must have exactly one comparison operator or one of 'And', 'Or', 'Not', but has [{}]",
                    found.join(", ")
                ),
                loc,
            ));
            None
        }
    }
}

fn parse_combinator(
    map: &Map<String, Value>,
    loc: &str,
    combinator: &str,
    depth: usize,
    errors: &mut Vec<ValidationError>,
) -> Option<Condition> {
    let at = format!("{loc}/{combinator}");
    let value = map.get(combinator)?;
    if combinator == "Not" {
        let Value::Object(inner) = value else {
            errors.push(ValidationError::new(
                SCHEMA,
                "The value for the field 'Not' must be a Choice rule object",
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
            format!("The value for the field '{combinator}' must be an array of Choice rules"),
            at,
        ));
        return None;
    };
    if items.is_empty() {
        errors.push(ValidationError::new(SCHEMA, "Value cannot be empty", at));
        return None;
    }
    let mut all = Vec::with_capacity(items.len());
    for (i, item) in items.iter().enumerate() {
        let item_loc = format!("{at}[{i}]");
        match item {
            Value::Object(inner) => {
                all.extend(parse_condition(inner, &item_loc, false, depth + 1, errors));
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
    Some(if combinator == "And" {
        Condition::And(all)
    } else {
        Condition::Or(all)
    })
}

fn parse_comparison(
    map: &Map<String, Value>,
    loc: &str,
    key: &str,
    family: Family,
    cmp: Cmp,
    is_path: bool,
    errors: &mut Vec<ValidationError>,
) -> Option<Condition> {
    let variable = match map.get("Variable") {
        Some(Value::String(text)) => reference(text, "Variable", loc, errors),
        Some(_) => {
            errors.push(ValidationError::new(
                SCHEMA,
                "The value for the field 'Variable' must be a string",
                format!("{loc}/Variable"),
            ));
            None
        }
        None => {
            errors.push(ValidationError::new(
                SCHEMA,
                "These fields are required: [Variable]",
                loc,
            ));
            None
        }
    };
    let value = map.get(key)?;
    let at = format!("{loc}/{key}");
    let test = if is_path {
        match value {
            Value::String(text) => reference(text, key, loc, errors).map(|path| match family {
                Family::Numeric => Test::Numeric(cmp, Operand::Path(path)),
                Family::Boolean => Test::Boolean(Operand::Path(path)),
                Family::Timestamp => Test::Timestamp(cmp, Operand::Path(path)),
                _ => Test::String(cmp, Operand::Path(path)),
            }),
            _ => {
                errors.push(ValidationError::new(
                    SCHEMA,
                    format!("The value for the field '{key}' must be a JSONPath string"),
                    at,
                ));
                None
            }
        }
    } else {
        literal_test(family, cmp, key, value, &at, errors)
    };
    Some(Condition::Compare(Box::new(Comparison {
        variable: variable?,
        test: test?,
    })))
}

fn reference(
    text: &str,
    key: &str,
    loc: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<Reference> {
    Reference::parse(text)
        .map_err(|e| {
            errors.push(ValidationError::new(
                SCHEMA,
                format!("The value for the field '{key}' must be a valid JSONPath: {e}"),
                format!("{loc}/{key}"),
            ));
        })
        .ok()
}

fn literal_test(
    family: Family,
    cmp: Cmp,
    key: &str,
    value: &Value,
    at: &str,
    errors: &mut Vec<ValidationError>,
) -> Option<Test> {
    let test = match (family, value) {
        (Family::String, Value::String(s)) => Test::String(cmp, Operand::Literal(s.clone())),
        (Family::Matches, Value::String(s)) => Test::StringMatches(Pattern::new(s)),
        (Family::Numeric, Value::Number(n)) => Test::Numeric(cmp, Operand::Literal(n.clone())),
        (Family::Boolean, Value::Bool(b)) => Test::Boolean(Operand::Literal(*b)),
        (Family::Timestamp, Value::String(s)) => match Timestamp::parse_rfc3339(s) {
            Some(t) => Test::Timestamp(cmp, Operand::Literal(t)),
            None => {
                errors.push(ValidationError::new(
                    SCHEMA,
                    "String does not match RFC3339 timestamp",
                    at,
                ));
                return None;
            }
        },
        (Family::Type(t), Value::Bool(b)) => Test::Is(t, *b),
        (family, _) => {
            let kind = match family {
                Family::String | Family::Matches | Family::Timestamp => "a string",
                Family::Numeric => "a number",
                Family::Boolean | Family::Type(_) => "a boolean",
            };
            errors.push(ValidationError::new(
                SCHEMA,
                format!("The value for the field '{key}' must be {kind}"),
                at,
            ));
            return None;
        }
    };
    Some(test)
}

impl Condition {
    /// Whether the condition holds; fails with `States.Runtime` when a path it must read
    /// selects nothing.
    pub fn eval(&self, scope: &Scope<'_>) -> Result<bool, Failure> {
        match self {
            Condition::And(all) => {
                for c in all {
                    if !c.eval(scope)? {
                        return Ok(false);
                    }
                }
                Ok(true)
            }
            Condition::Or(any) => {
                for c in any {
                    if c.eval(scope)? {
                        return Ok(true);
                    }
                }
                Ok(false)
            }
            Condition::Not(c) => Ok(!c.eval(scope)?),
            Condition::Compare(c) => c.eval(scope),
        }
    }

    /// Whether any path here reads the context object `$$`, so the caller knows to build it.
    pub fn uses_context(&self) -> bool {
        match self {
            Condition::And(all) | Condition::Or(all) => all.iter().any(Condition::uses_context),
            Condition::Not(c) => c.uses_context(),
            Condition::Compare(c) => {
                reads_context(&c.variable) || c.test.path().is_some_and(reads_context)
            }
        }
    }
}

impl Comparison {
    pub fn eval(&self, scope: &Scope<'_>) -> Result<bool, Failure> {
        match self.variable.eval(scope) {
            Ok(value) => self.test.holds(&value, scope),
            Err(_) => match self.test {
                Test::Is(TypeTest::Present, expected) => Ok(!expected),
                _ => Err(invalid_path(&self.variable)),
            },
        }
    }
}

impl Test {
    /// The path of a `...Path` operator.
    fn path(&self) -> Option<&Reference> {
        match self {
            Test::String(_, Operand::Path(p))
            | Test::Numeric(_, Operand::Path(p))
            | Test::Boolean(Operand::Path(p))
            | Test::Timestamp(_, Operand::Path(p)) => Some(p),
            _ => None,
        }
    }

    /// Whether the test holds of the variable's value `v`.
    fn holds(&self, v: &Value, scope: &Scope<'_>) -> Result<bool, Failure> {
        Ok(match self {
            Test::Is(t, expected) => t.matches(v) == *expected,
            Test::StringMatches(p) => v.as_str().is_some_and(|s| p.matches(s)),
            Test::String(cmp, Operand::Literal(o)) => {
                v.as_str().is_some_and(|s| cmp.holds_str(s, o))
            }
            Test::Numeric(cmp, Operand::Literal(o)) => match v {
                Value::Number(n) => number_cmp(n, o).is_some_and(|ord| cmp.holds(ord)),
                _ => false,
            },
            Test::Boolean(Operand::Literal(o)) => v.as_bool() == Some(*o),
            Test::Timestamp(cmp, Operand::Literal(o)) => v
                .as_str()
                .and_then(Timestamp::parse)
                .is_some_and(|t| cmp.holds(t.cmp(o))),
            Test::String(cmp, Operand::Path(p)) => match (v, &*read(p, scope)?) {
                (Value::String(s), Value::String(o)) => cmp.holds_str(s, o),
                _ => false,
            },
            Test::Numeric(cmp, Operand::Path(p)) => match (v, &*read(p, scope)?) {
                (Value::Number(n), Value::Number(o)) => {
                    number_cmp(n, o).is_some_and(|ord| cmp.holds(ord))
                }
                _ => false,
            },
            Test::Boolean(Operand::Path(p)) => match (v, &*read(p, scope)?) {
                (Value::Bool(b), Value::Bool(o)) => b == o,
                _ => false,
            },
            Test::Timestamp(cmp, Operand::Path(p)) => {
                let other = read(p, scope)?;
                let parse = |v: &Value| v.as_str().and_then(Timestamp::parse);
                match (parse(v), parse(&other)) {
                    (Some(t), Some(o)) => cmp.holds(t.cmp(&o)),
                    _ => false,
                }
            }
        })
    }
}

/// Reads the path of a `...Path` operator; it must select something.
fn read<'v>(path: &Reference, scope: &Scope<'v>) -> Result<Cow<'v, Value>, Failure> {
    path.eval(scope).map_err(|_| invalid_path(path))
}

fn invalid_path(path: &Reference) -> Failure {
    Failure::runtime(format!(
        "Invalid path '{}': The choice state's condition path references an invalid value.",
        path.text()
    ))
}

fn reads_context(r: &Reference) -> bool {
    matches!(r.source(), Source::Context)
}

/// A `StringMatches` pattern, split at its wildcards.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    /// The literal runs between stars, in order (an empty first or last run means the
    /// pattern starts or ends with a star).
    runs: Vec<String>,
}

impl Pattern {
    /// Splits a pattern: `*` matches any run of characters (none included); `\*` is a
    /// literal star and `\\` a literal backslash; a backslash before anything else is
    /// itself.
    pub fn new(pattern: &str) -> Pattern {
        let mut runs = Vec::new();
        let mut run = String::new();
        let mut chars = pattern.chars().peekable();
        while let Some(c) = chars.next() {
            match c {
                '\\' => match chars.peek() {
                    Some(&escaped @ ('*' | '\\')) => {
                        run.push(escaped);
                        chars.next();
                    }
                    _ => run.push('\\'),
                },
                '*' => runs.push(std::mem::take(&mut run)),
                other => run.push(other),
            }
        }
        runs.push(run);
        Pattern { runs }
    }

    /// Whether `text` matches the whole pattern: the first run is a prefix, the last a
    /// suffix, and the runs between are found left to right in what remains; finding
    /// each at its first place is enough, since stars absorb the rest (linear in practice,
    /// no backtracking).
    pub fn matches(&self, text: &str) -> bool {
        let (first, rest) = match self.runs.split_first() {
            Some(split) => split,
            None => return text.is_empty(),
        };
        let Some((last, middle)) = rest.split_last() else {
            return text == first;
        };
        let Some(remaining) = text.strip_prefix(first.as_str()) else {
            return false;
        };
        let Some(mut remaining) = remaining.strip_suffix(last.as_str()) else {
            return false;
        };
        for run in middle {
            match remaining.find(run.as_str()) {
                Some(at) => remaining = &remaining[at + run.len()..],
                None => return false,
            }
        }
        true
    }
}

/// Orders strings as Java's `String.compareTo` does: by UTF-16 code units. That is code
/// point order (so byte order of UTF-8) except where a character above U+FFFF meets one
/// in U+E000..=U+FFFF.
fn java_cmp(a: &str, b: &str) -> Ordering {
    for (x, y) in a.chars().zip(b.chars()) {
        if x != y {
            return utf16_lead(x).cmp(&utf16_lead(y)).then(x.cmp(&y));
        }
    }
    a.len().cmp(&b.len())
}

/// The first UTF-16 code unit of a character.
fn utf16_lead(c: char) -> u32 {
    let c = u32::from(c);
    if c >= 0x1_0000 {
        0xD800 + ((c - 0x1_0000) >> 10)
    } else {
        c
    }
}

/// Orders numbers by value, exactly when one or both are integers.
fn number_cmp(a: &Number, b: &Number) -> Option<Ordering> {
    let int = |n: &Number| {
        n.as_i64()
            .map(i128::from)
            .or_else(|| n.as_u64().map(i128::from))
    };
    match (int(a), int(b)) {
        (Some(x), Some(y)) => Some(x.cmp(&y)),
        (Some(x), None) => Some(int_float_cmp(x, b.as_f64()?)),
        (None, Some(y)) => Some(int_float_cmp(y, a.as_f64()?).reverse()),
        (None, None) => a.as_f64()?.partial_cmp(&b.as_f64()?),
    }
}

/// Compares an integer of the JSON range (i64 or u64) with a finite float, exactly.
fn int_float_cmp(i: i128, f: f64) -> Ordering {
    const TWO_POW_64: f64 = 18_446_744_073_709_551_616.0;
    const MINUS_TWO_POW_63: f64 = -9_223_372_036_854_775_808.0;
    let floor = f.floor();
    if floor >= TWO_POW_64 {
        return Ordering::Less;
    }
    if floor < MINUS_TWO_POW_63 {
        return Ordering::Greater;
    }
    // `floor` is integral and in range, so the conversion is exact.
    match i.cmp(&(floor as i128)) {
        Ordering::Equal if f > floor => Ordering::Less,
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::path::NoVariables;
    use serde_json::json;

    fn rule(mut rule: Value) -> ChoiceRule {
        rule["Next"] = json!("X");
        parse_rule(&rule, "/r").unwrap_or_else(|e| panic!("{rule}: {e:?}"))
    }

    fn eval_with(rule_json: Value, input: &Value, context: &Value) -> Result<bool, Failure> {
        let parsed = rule(rule_json);
        parsed.condition.eval(&Scope {
            input,
            context,
            variables: &NoVariables,
        })
    }

    fn eval(rule_json: Value, input: Value) -> Result<bool, Failure> {
        eval_with(rule_json, &input, &json!({}))
    }

    /// Evaluates `{"Variable": "$.v", op: operand}` with `{"v": value, "o": other}`.
    fn check(op: &str, operand: Value, value: Value) -> bool {
        let r = json!({"Variable": "$.v", op: operand});
        eval(r.clone(), json!({"v": value})).unwrap_or_else(|f| panic!("{r}: {f}"))
    }

    fn check_path(op: &str, value: Value, other: Value) -> bool {
        let r = json!({"Variable": "$.v", op: "$.o"});
        eval(r.clone(), json!({"v": value, "o": other})).unwrap_or_else(|f| panic!("{r}: {f}"))
    }

    fn errors(rule: Value) -> Vec<ValidationError> {
        parse_rule(&rule, "/r").expect_err("the rule should be refused")
    }

    fn first_error(rule: Value) -> (String, String) {
        let e = errors(rule).remove(0);
        (e.message, e.location)
    }

    #[test]
    fn recorded_outcomes_from_step_functions() {
        // (operator, operand, value of $.v, branch taken), as recorded against AWS.
        let t = "2012-10-09T19:00:55Z";
        let table: Vec<(&str, Value, Value, bool)> = vec![
            ("BooleanEquals", json!(true), json!(true), true),
            ("BooleanEquals", json!(true), json!(1), false),
            ("BooleanEquals", json!(false), json!(false), true),
            ("BooleanEquals", json!(false), json!(0.0), false),
            ("BooleanEquals", json!(false), json!(""), false),
            ("IsBoolean", json!(true), json!(false), true),
            ("IsBoolean", json!(true), json!(null), false),
            ("IsBoolean", json!(false), json!([]), true),
            ("IsNull", json!(true), json!(null), true),
            ("IsNull", json!(true), json!({}), false),
            ("IsNull", json!(false), json!(""), true),
            ("IsNumeric", json!(true), json!(1), true),
            ("IsNumeric", json!(true), json!("HelloWorld"), false),
            ("IsNumeric", json!(false), json!(0.0), false),
            ("IsNumeric", json!(false), json!(null), true),
            ("IsPresent", json!(true), json!({}), true),
            ("IsPresent", json!(false), json!(null), false),
            ("IsString", json!(true), json!(""), true),
            ("IsString", json!(true), json!(0), false),
            ("IsString", json!(false), json!("2023-02-24"), false),
            ("IsString", json!(false), json!([""]), true),
            ("NumericEquals", json!(0), json!(0.0), true),
            ("NumericEquals", json!(0.0), json!(0), true),
            ("NumericEquals", json!(0), json!(""), false),
            ("NumericEquals", json!(0), json!(false), false),
            ("NumericEquals", json!(1), json!(true), false),
            ("NumericEquals", json!(1.0), json!(1.1), false),
            ("NumericEquals", json!(2.22), json!(2.22), true),
            ("NumericGreaterThan", json!(0), json!(0.0), false),
            ("NumericGreaterThan", json!(0), json!(1), true),
            ("NumericGreaterThanEquals", json!(0), json!(0.0), true),
            ("NumericLessThan", json!(0), json!(0.0), false),
            ("NumericLessThanEquals", json!(0), json!(0.0), true),
            ("NumericLessThanEquals", json!(0), json!(1), false),
            ("StringEquals", json!("Hello"), json!("Hello"), true),
            ("StringEquals", json!("     "), json!(" "), false),
            ("StringEquals", json!("\t\r\n"), json!("\t\n"), false),
            ("StringEquals", json!("HelloWorld"), json!(null), false),
            ("StringEquals", json!("HelloWorld"), json!(0), false),
            ("StringGreaterThan", json!(""), json!(""), false),
            ("StringGreaterThan", json!("A "), json!("A"), false),
            ("StringLessThan", json!("AB"), json!("A"), true),
            ("StringLessThan", json!("A"), json!("AB"), false),
            ("StringLessThanEquals", json!(""), json!(""), true),
            ("StringLessThanEquals", json!("A"), json!("AB"), false),
            ("TimestampEquals", json!(t), json!(t), true),
            (
                "TimestampEquals",
                json!(t),
                json!("2012-10-09T19:00:56Z"),
                false,
            ),
            ("TimestampEquals", json!(t), json!(" "), false),
            ("TimestampEquals", json!(t), json!(1.1), false),
            ("TimestampEquals", json!(t), json!(null), false),
            ("TimestampLessThan", json!(t), json!(t), false),
            (
                "TimestampLessThan",
                json!("2012-10-09T19:00:56Z"),
                json!(t),
                true,
            ),
            ("TimestampLessThanEquals", json!(t), json!(t), true),
            (
                "TimestampGreaterThanEquals",
                json!("2012-10-09T19:00:56Z"),
                json!(t),
                false,
            ),
        ];
        for (op, operand, value, expected) in table {
            assert_eq!(
                check(op, operand.clone(), value.clone()),
                expected,
                "{op} {operand} on {value}"
            );
        }
        let paths: Vec<(&str, Value, Value, bool)> = vec![
            ("BooleanEqualsPath", json!(false), json!(false), true),
            ("BooleanEqualsPath", json!(null), json!(false), false),
            ("BooleanEqualsPath", json!(0), json!(false), false),
            ("NumericEqualsPath", json!(0), json!(0.0), true),
            ("NumericEqualsPath", json!(1), json!(1), true),
            ("NumericEqualsPath", json!(1.1), json!(1), false),
            ("NumericEqualsPath", json!(" "), json!(0), false),
            ("NumericGreaterThanPath", json!(1), json!(0), true),
            ("NumericGreaterThanPath", json!(0.0), json!(0), false),
            ("NumericGreaterThanEqualsPath", json!(0.0), json!(0), true),
            ("NumericLessThanPath", json!(1), json!(1), false),
            ("NumericLessThanEqualsPath", json!(0.0), json!(0), true),
            ("StringEqualsPath", json!("Hello"), json!("Hello"), true),
            ("StringGreaterThanPath", json!("A"), json!("A\t\n\r"), false),
            ("StringGreaterThanEqualsPath", json!("AB"), json!("A"), true),
            ("StringLessThanPath", json!("AB"), json!("A"), false),
            ("StringLessThanEqualsPath", json!(""), json!(""), true),
            (
                "TimestampEqualsPath",
                json!(t),
                json!("2012-10-09T19:00:56Z"),
                false,
            ),
            (
                "TimestampGreaterThanPath",
                json!(t),
                json!("2012-10-09T19:00:56Z"),
                false,
            ),
            (
                "TimestampLessThanEqualsPath",
                json!("2012-10-09T19:00:56Z"),
                json!(t),
                false,
            ),
        ];
        for (op, value, other, expected) in paths {
            assert_eq!(
                check_path(op, value.clone(), other.clone()),
                expected,
                "{op} {value} vs {other}"
            );
        }
    }

    #[test]
    fn string_comparisons_order_like_java() {
        assert!(check("StringLessThan", json!("b"), json!("a")));
        assert!(check("StringLessThan", json!("a"), json!("A")));
        assert!(check("StringGreaterThanEquals", json!("abc"), json!("abc")));
        assert!(check("StringLessThanEquals", json!("abd"), json!("abc")));
        assert!(check("StringGreaterThan", json!("ab"), json!("abc")));
        // U+FFFD sorts after U+1F600 in UTF-16 (a surrogate pair starts at 0xD83D).
        assert!(check(
            "StringLessThan",
            json!("\u{FFFD}"),
            json!("\u{1F600}")
        ));
        assert!(java_cmp("\u{1F600}", "\u{1F601}") == Ordering::Less);
        assert!(java_cmp("é", "e") == Ordering::Greater);
        assert!(java_cmp("", "") == Ordering::Equal);
    }

    #[test]
    fn numbers_compare_by_value_exactly() {
        assert!(check("NumericEquals", json!(1), json!(1.0)));
        assert!(check("NumericEquals", json!(100), json!(1e2)));
        assert!(check("NumericLessThan", json!(-1), json!(-1.5)));
        assert!(check("NumericGreaterThan", json!(-2), json!(-1.5)));
        assert!(check("NumericEquals", json!(u64::MAX), json!(u64::MAX)));
        assert!(check("NumericLessThan", json!(u64::MAX), json!(i64::MIN)));
        assert!(check(
            "NumericGreaterThan",
            json!(i64::MAX),
            json!(u64::MAX)
        ));
        // 2^53 + 1 is not the float 2^53, although it converts to it.
        assert!(!check(
            "NumericEquals",
            json!(9_007_199_254_740_992.0),
            json!(9_007_199_254_740_993u64)
        ));
        assert!(check(
            "NumericGreaterThan",
            json!(9_007_199_254_740_992.0),
            json!(9_007_199_254_740_993u64)
        ));
        assert!(check("NumericLessThan", json!(1e300), json!(u64::MAX)));
        assert!(check("NumericGreaterThan", json!(-1e300), json!(i64::MIN)));
        assert!(check("NumericLessThanEquals", json!(0.5), json!(0.25)));
        assert!(!check("NumericEquals", json!(0.1), json!(0.2)));
    }

    #[test]
    fn booleans_and_timestamps() {
        assert!(!check("BooleanEquals", json!(true), json!("true")));
        assert!(check(
            "TimestampEquals",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14T02:59:00+01:00")
        ));
        assert!(check(
            "TimestampEquals",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14T01:59:00.000Z")
        ));
        assert!(check(
            "TimestampGreaterThan",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14T01:59:00.000000001Z")
        ));
        assert!(check(
            "TimestampLessThan",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14T01:59:00.5+00:01")
        ));
        assert!(check(
            "TimestampGreaterThanEquals",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14T01:59:00Z")
        ));
        assert!(!check(
            "TimestampLessThanEquals",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14 01:59:00Z")
        ));
        assert!(!check_path(
            "TimestampEqualsPath",
            json!("2016-03-14T01:59:00Z"),
            json!("nope")
        ));
        assert!(!check_path(
            "TimestampEqualsPath",
            json!("nope"),
            json!("nope")
        ));
        assert!(check_path(
            "TimestampLessThanPath",
            json!("2016-03-14T01:59:00Z"),
            json!("2016-03-14T01:59:01Z")
        ));
        assert!(!check_path("BooleanEqualsPath", json!(true), json!("true")));
        assert!(!check_path("StringEqualsPath", json!("1"), json!(1)));
        assert!(!check_path("NumericEqualsPath", json!(1), json!("1")));
    }

    #[test]
    fn type_tests() {
        for (value, kinds) in [
            (json!(null), [false, true, false, false, false, false]),
            (json!(1.5), [false, false, true, false, false, false]),
            (json!("x"), [false, false, false, true, false, false]),
            (json!(true), [false, false, false, false, true, false]),
            (
                json!("2016-03-14T01:59:00Z"),
                [false, false, false, true, false, true],
            ),
            (
                json!("2016-03-14T01:59:00"),
                [false, false, false, true, false, false],
            ),
            (json!({}), [false; 6]),
            (json!([]), [false; 6]),
        ] {
            for (op, expected) in [
                "IsPresent",
                "IsNull",
                "IsNumeric",
                "IsString",
                "IsBoolean",
                "IsTimestamp",
            ]
            .into_iter()
            .zip(kinds)
            {
                let expected = expected || op == "IsPresent";
                assert_eq!(
                    check(op, json!(true), value.clone()),
                    expected,
                    "{op} {value}"
                );
                assert_eq!(
                    check(op, json!(false), value.clone()),
                    !expected,
                    "{op} false {value}"
                );
            }
        }
    }

    #[test]
    fn a_missing_variable_fails_the_state_unless_asked_whether_present() {
        let input = json!({"a": {"b": 1}});
        assert_eq!(
            eval(
                json!({"Variable": "$.nope", "IsPresent": true}),
                input.clone()
            ),
            Ok(false)
        );
        assert_eq!(
            eval(
                json!({"Variable": "$.nope", "IsPresent": false}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            eval(
                json!({"Variable": "$.a.b.c", "IsPresent": true}),
                input.clone()
            ),
            Ok(false)
        );
        assert_eq!(
            eval(
                json!({"Variable": "$$.Nope", "IsPresent": false}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            eval(
                json!({"Variable": "$undefined", "IsPresent": true}),
                input.clone()
            ),
            Ok(false)
        );
        for op in [
            json!({"Variable": "$.nope", "StringEquals": "x"}),
            json!({"Variable": "$.nope", "NumericEquals": 1}),
            json!({"Variable": "$.nope", "IsNull": true}),
            json!({"Variable": "$.nope", "IsNull": false}),
            json!({"Variable": "$.nope", "IsString": false}),
            json!({"Variable": "$.nope", "StringMatches": "*"}),
            json!({"Variable": "$.nope", "TimestampEquals": "2016-03-14T01:59:00Z"}),
            json!({"Variable": "$.nope", "BooleanEqualsPath": "$.a.b"}),
        ] {
            let failure = eval(op.clone(), input.clone()).expect_err("should fail");
            assert_eq!(failure.error, "States.Runtime", "{op}");
            assert_eq!(
                failure.cause.as_deref(),
                Some(
                    "Invalid path '$.nope': The choice state's condition path references an invalid value."
                ),
                "{op}"
            );
        }
        // Inside Not, And and Or too, and the text is the path as written.
        let failure = eval(
            json!({"Not": {"Variable": "$['a'].x", "NumericEquals": 1}}),
            input,
        )
        .unwrap_err();
        assert_eq!(
            failure.cause.as_deref(),
            Some(
                "Invalid path '$['a'].x': The choice state's condition path references an invalid value."
            )
        );
        // An operand path that selects nothing fails the same way, whatever the variable.
        for (op, v) in [
            ("NumericLessThanEqualsPath", json!(8)),
            ("StringEqualsPath", json!("x")),
            ("BooleanEqualsPath", json!(true)),
            ("TimestampEqualsPath", json!("2016-03-14T01:59:00Z")),
            ("NumericEqualsPath", json!("not a number")),
        ] {
            let failure =
                eval(json!({"Variable": "$.v", op: "$.right"}), json!({"v": v})).unwrap_err();
            assert_eq!(
                failure.cause.as_deref(),
                Some(
                    "Invalid path '$.right': The choice state's condition path references an invalid value."
                ),
                "{op}"
            );
        }
    }

    #[test]
    fn combinators_short_circuit() {
        let input = json!({"a": 1, "b": "x"});
        assert_eq!(
            eval(
                json!({"And": [{"Variable": "$.a", "NumericEquals": 1}, {"Not": {"Variable": "$.b", "StringEquals": "y"}}]}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            eval(
                json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.b", "IsString": true}]}),
                input.clone()
            ),
            Ok(true)
        );
        assert_eq!(
            eval(
                json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}]}),
                input.clone()
            ),
            Ok(false)
        );
        // A later rule that would fail is never read once the answer is known.
        assert_eq!(
            eval(
                json!({"And": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.nope", "IsNull": true}]}),
                input.clone()
            ),
            Ok(false)
        );
        assert_eq!(
            eval(
                json!({"Or": [{"Variable": "$.a", "NumericEquals": 1}, {"Variable": "$.nope", "IsNull": true}]}),
                input.clone()
            ),
            Ok(true)
        );
        assert!(
            eval(
                json!({"Or": [{"Variable": "$.a", "NumericEquals": 2}, {"Variable": "$.nope", "IsNull": true}]}),
                input
            )
            .is_err()
        );
    }

    #[test]
    fn paths_read_the_context_object_and_variables() {
        let input = json!({"input-value": 0});
        let ctx = json!({"Execution": {"Input": {"input-value": 0}}});
        let r = json!({"Variable": "$$.Execution.Input.input-value", "NumericLessThanEquals": 0});
        assert_eq!(eval_with(r.clone(), &input, &ctx), Ok(true));
        assert!(rule(r).condition.uses_context());
        assert!(
            rule(json!({"Not": {"Variable": "$.a", "StringEqualsPath": "$$.State.Name"}}))
                .condition
                .uses_context()
        );
        assert!(
            !rule(json!({"And": [{"Variable": "$.a", "StringEqualsPath": "$.b"}]}))
                .condition
                .uses_context()
        );
        let mut vars = Map::new();
        vars.insert("limit".to_owned(), json!({"max": 10}));
        let parsed = rule(json!({"Variable": "$.n", "NumericLessThanPath": "$limit.max"}));
        let scope = Scope {
            input: &json!({"n": 3}),
            context: &ctx,
            variables: &vars,
        };
        assert_eq!(parsed.condition.eval(&scope), Ok(true));
    }

    #[test]
    fn string_matches_with_wildcards_and_escapes() {
        let m = |p: &str, s: &str| Pattern::new(p).matches(s);
        assert!(m("log-*.txt", "log-2024.txt"));
        assert!(!m("log-*.txt", "log-2024.csv"));
        assert!(m("*", ""));
        assert!(m("*", "anything"));
        assert!(m("**", "x"));
        assert!(m("", ""));
        assert!(!m("", "x"));
        assert!(m("a*b*c", "aXXbYYc"));
        assert!(m("a*b*c", "abc"));
        assert!(!m("a*b*c", "aXXcYYb"));
        assert!(m("*.txt", ".txt"));
        assert!(m("abc", "abc"));
        assert!(!m("abc", "abcd"));
        assert!(m("ab*", "abcd"));
        assert!(m("*a*", "bab"));
        assert!(!m("x*x", "x"));
        assert!(m("x*x", "xx"));
        assert!(m("*ab*ab*", "xabyab"));
        assert!(!m("*ab*ab*", "xaby"));
        assert!(m("é*ü", "éaaü"));
        assert!(!m("A*", "a"));
        // Escapes.
        assert!(m("\\*x", "*x"));
        assert!(!m("\\*x", "ax"));
        assert!(m("a\\\\b", "a\\b"));
        assert!(m("a\\\\*", "a\\bcd"));
        assert!(m("\\\\\\*", "\\*"));
        assert!(m("a\\b", "a\\b"));
        assert!(m("end\\", "end\\"));
        assert!(m("*\\**", "x*y"));
        assert!(!m("*\\**", "xy"));
        assert!(check("StringMatches", json!("*.log"), json!("app.log")));
        assert!(!check("StringMatches", json!("*"), json!(1)));
        assert!(!check("StringMatches", json!("*"), json!(null)));
    }

    #[test]
    fn a_rule_keeps_next_and_assign() {
        let parsed = parse_rule(
            &json!({"Variable": "$.a", "IsNull": true, "Next": "Here", "Assign": {"x": 1}, "Comment": "c"}),
            "/r",
        )
        .unwrap();
        assert_eq!(parsed.next, "Here");
        assert_eq!(parsed.assign, Some(json!({"x": 1})));
        let nested = json!({
            "And": [{"Variable": "$.status", "StringEquals": "complete", "Comment": "inner"}],
            "Comment": "outer",
            "Next": "Done"
        });
        assert!(parse_rule(&nested, "/r").is_ok());
    }

    #[test]
    fn validation_names_the_problem_and_the_place() {
        assert_eq!(
            first_error(json!({"Variable": "$.a", "StringEquals": 1, "Next": "X"})),
            (
                "The value for the field 'StringEquals' must be a string".into(),
                "/r/StringEquals".into()
            )
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "NumericEquals": "1", "Next": "X"})),
            (
                "The value for the field 'NumericEquals' must be a number".into(),
                "/r/NumericEquals".into()
            )
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "BooleanEquals": "true", "Next": "X"})).0,
            "The value for the field 'BooleanEquals' must be a boolean"
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "IsNull": null, "Next": "X"})).0,
            "The value for the field 'IsNull' must be a boolean"
        );
        assert_eq!(
            first_error(
                json!({"Variable": "$.a", "TimestampEquals": "2016-03-14 01:59:00Z", "Next": "X"})
            ),
            (
                "String does not match RFC3339 timestamp".into(),
                "/r/TimestampEquals".into()
            )
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "StringEquals": "x"})),
            ("These fields are required: [Next]".into(), "/r".into())
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "StringEquals": "x", "Next": 3})).1,
            "/r/Next"
        );
        assert_eq!(
            first_error(json!({"StringEquals": "x", "Next": "X"})),
            ("These fields are required: [Variable]".into(), "/r".into())
        );
        assert!(
            first_error(json!({"Variable": "$.a", "Next": "X"}))
                .0
                .contains("one comparison operator")
        );
        assert!(
            first_error(json!({"Variable": "$.a", "StringEquals": "x", "StringEqualsPath": "$.b", "Next": "X"}))
                .0
                .contains("[StringEquals, StringEqualsPath]")
        );
        assert!(
            first_error(json!({"Variable": "$.a", "IsNull": true, "And": [], "Next": "X"}))
                .0
                .contains("exactly one")
        );
        assert_eq!(
            first_error(
                json!({"And": [{"Variable": "$.a", "IsNull": true, "Next": "X"}], "Next": "X"})
            ),
            (
                "The field 'Next' is only allowed in a top-level Choice rule".into(),
                "/r/And[0]/Next".into()
            )
        );
        assert_eq!(
            first_error(
                json!({"Not": {"Variable": "$.a", "IsNull": true, "Assign": {}}, "Next": "X"})
            )
            .1,
            "/r/Not/Assign"
        );
        assert_eq!(
            first_error(json!({"And": [], "Next": "X"})),
            ("Value cannot be empty".into(), "/r/And".into())
        );
        assert_eq!(first_error(json!({"Or": {}, "Next": "X"})).1, "/r/Or");
        assert_eq!(first_error(json!({"Not": [], "Next": "X"})).1, "/r/Not");
        assert_eq!(first_error(json!({"Or": [1], "Next": "X"})).1, "/r/Or[0]");
        assert_eq!(
            first_error(
                json!({"Not": {"Variable": "$.a", "IsNull": true}, "Variable": "$.a", "Next": "X"})
            )
            .1,
            "/r/Variable"
        );
        assert_eq!(
            first_error(
                json!({"Variable": "$.a", "IsPresentPath": "$.b", "IsNull": true, "Next": "X"})
            ),
            (
                "The field 'IsPresentPath' is not supported by Step Functions for a Choice rule"
                    .into(),
                "/r/IsPresentPath".into()
            )
        );
        assert!(
            first_error(json!({"Variable": "$.a", "StringMatchesPath": "$.b", "Next": "X"}))
                .0
                .contains("'StringMatchesPath' is not supported")
        );
        assert_eq!(
            first_error(json!({"Variable": "a.b", "IsNull": true, "Next": "X"})).1,
            "/r/Variable"
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "StringEqualsPath": "b", "Next": "X"})).1,
            "/r/StringEqualsPath"
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "StringEqualsPath": 1, "Next": "X"})).1,
            "/r/StringEqualsPath"
        );
        assert_eq!(
            first_error(json!({"Variable": 1, "IsNull": true, "Next": "X"})).1,
            "/r/Variable"
        );
        assert_eq!(
            first_error(json!({"Variable": "$.a", "IsNull": true, "Comment": 1, "Next": "X"})).1,
            "/r/Comment"
        );
        assert_eq!(first_error(json!("StringEquals")).1, "/r");
    }

    #[test]
    fn every_problem_is_reported() {
        let all = errors(json!({
            "Variable": 5,
            "NumericEquals": "x",
            "Bogus": 1,
            "And": []
        }));
        // Missing Next, the unknown field, and two operators where one is allowed.
        assert_eq!(all.len(), 3, "{all:?}");
        let all = errors(json!({
            "And": [
                {"Variable": "$.a", "NumericEquals": "x"},
                {"Variable": "$.b", "StringEquals": 1},
                {"Not": {"Variable": "$.c"}}
            ],
            "Next": "X"
        }));
        let at: Vec<&str> = all.iter().map(|e| e.location.as_str()).collect();
        assert_eq!(
            at,
            [
                "/r/And[0]/NumericEquals",
                "/r/And[1]/StringEquals",
                "/r/And[2]/Not"
            ]
        );
        let all = errors(json!({"Variable": "nope", "StringEquals": 1, "Next": "X"}));
        assert_eq!(all.len(), 2, "{all:?}");
    }

    #[test]
    fn deep_nesting_is_refused_not_overflowed() {
        let nest = |levels: usize| {
            let mut rule = json!({"Variable": "$.a", "IsNull": true});
            for _ in 0..levels {
                rule = json!({ "Not": rule });
            }
            rule["Next"] = json!("X");
            rule
        };
        assert!(parse_rule(&nest(MAX_DEPTH), "/r").is_ok());
        let refused = errors(nest(MAX_DEPTH + 1));
        assert_eq!(refused.len(), 1);
        assert!(refused[0].message.contains("nest"));
        // Far deeper than allowed is refused just the same.
        assert!(parse_rule(&nest(120), "/r").is_err());
    }
}
