//! One entry of a pattern's leaf array and how it tests the event's value: exact values,
//! `prefix`, `suffix`, `equals-ignore-case`, `wildcard`, `anything-but`, `numeric`,
//! `exists` and `cidr`.

use std::net::IpAddr;

use serde_json::{Map, Value};

use super::{PatternError, any_element, is_leaf};

/// The numeric operators accept numbers in this range (EventBridge's limit).
pub const NUMERIC_LIMIT: f64 = 5.0e9;
/// At most this many `*` in one wildcard value; matching is linear in the value's length
/// times this.
pub const MAX_WILDCARDS: usize = 32;
/// The longest string operand of `prefix`, `suffix`, `wildcard` and the like, in bytes.
pub const MAX_OPERAND_LEN: usize = 4096;

/// One entry of a leaf array.
#[derive(Debug, Clone)]
pub enum Leaf {
    Exact(Exact),
    Prefix(Affix),
    Suffix(Affix),
    EqualsIgnoreCase(String),
    Wildcard(Wildcard),
    AnythingBut(AnythingBut),
    Numeric(Range),
    Exists(bool),
    Cidr(Cidr),
}

/// A JSON leaf value in a pattern.
#[derive(Debug, Clone, PartialEq)]
pub enum Exact {
    String(String),
    Number(f64),
    Bool(bool),
    Null,
}

/// The operand of `prefix` or `suffix`; lowercased when ignoring case.
#[derive(Debug, Clone)]
pub struct Affix {
    pub text: String,
    pub ignore_case: bool,
}

/// `anything-but`: matches any leaf value except the ones described.
#[derive(Debug, Clone)]
pub enum AnythingBut {
    Values(Vec<Exact>),
    Prefix(Vec<String>),
    Suffix(Vec<String>),
    Wildcard(Vec<Wildcard>),
    /// Lowercased.
    IgnoreCase(Vec<String>),
}

/// A numeric range; `None` bounds are open ends.
#[derive(Debug, Clone, PartialEq)]
pub struct Range {
    pub lower: Option<(f64, bool)>,
    pub upper: Option<(f64, bool)>,
}

/// A wildcard value split at its unescaped `*`s: the literal parts, which must appear in
/// order; the first is a prefix and the last a suffix.
#[derive(Debug, Clone)]
pub struct Wildcard {
    parts: Vec<String>,
}

/// An IPv4 or IPv6 network.
#[derive(Debug, Clone)]
pub enum Cidr {
    V4 { network: u32, mask: u32 },
    V6 { network: u128, mask: u128 },
}

fn err(path: &str, message: impl Into<String>) -> PatternError {
    PatternError::new(path, message)
}

fn exact(value: &Value) -> Option<Exact> {
    Some(match value {
        Value::String(s) => Exact::String(s.clone()),
        Value::Number(n) => Exact::Number(n.as_f64()?),
        Value::Bool(b) => Exact::Bool(*b),
        Value::Null => Exact::Null,
        _ => return None,
    })
}

fn operand<'v>(value: &'v Value, path: &str, op: &str) -> Result<&'v str, PatternError> {
    match value {
        Value::String(s) if s.len() <= MAX_OPERAND_LEN => Ok(s),
        Value::String(_) => Err(err(
            path,
            format!("the {op} value is longer than {MAX_OPERAND_LEN} bytes"),
        )),
        _ => Err(err(path, format!("{op} needs a string"))),
    }
}

/// One string, or a non-empty list of strings.
fn operands(value: &Value, path: &str, op: &str) -> Result<Vec<String>, PatternError> {
    match value {
        Value::Array(items) if items.is_empty() => Err(err(
            path,
            format!("{op} needs a string or a non-empty list of strings"),
        )),
        Value::Array(items) => items
            .iter()
            .map(|v| operand(v, path, op).map(str::to_owned))
            .collect(),
        _ => operand(value, path, op)
            .map(|s| vec![s.to_owned()])
            .map_err(|_| err(path, format!("{op} needs a string or a list of strings"))),
    }
}

fn single_key<'m>(
    object: &'m Map<String, Value>,
    path: &str,
    what: &str,
) -> Result<(&'m str, &'m Value), PatternError> {
    let mut entries = object.iter();
    match (entries.next(), entries.next()) {
        (Some((k, v)), None) => Ok((k, v)),
        (None, _) => Err(err(path, format!("{what}: an empty object is not allowed"))),
        (Some(_), Some(_)) => Err(err(
            path,
            format!("{what}: an operator object must have exactly one key"),
        )),
    }
}

/// `"x"` or `{"equals-ignore-case": "x"}`, for `prefix` and `suffix`.
fn affix(value: &Value, path: &str, op: &str) -> Result<Affix, PatternError> {
    match value {
        Value::Object(o) => match single_key(o, path, op)? {
            ("equals-ignore-case", v) => Ok(Affix {
                text: operand(v, path, op)?.to_lowercase(),
                ignore_case: true,
            }),
            (k, _) => Err(err(
                path,
                format!("{op} takes a string or {{\"equals-ignore-case\": string}}, not '{k}'"),
            )),
        },
        _ => Ok(Affix {
            text: operand(value, path, op)?.to_owned(),
            ignore_case: false,
        }),
    }
}

impl Leaf {
    /// Compiles one entry of a leaf array.
    pub(crate) fn compile(value: &Value, path: &str) -> Result<Leaf, PatternError> {
        if let Some(e) = exact(value) {
            return Ok(Leaf::Exact(e));
        }
        let object = match value {
            Value::Object(o) => o,
            Value::Array(_) => {
                return Err(err(path, "arrays inside a value array are not allowed"));
            }
            _ => return Err(err(path, "this number cannot be represented")),
        };
        let (op, operand_value) = single_key(object, path, "a value")?;
        match op {
            "prefix" => Ok(Leaf::Prefix(affix(operand_value, path, op)?)),
            "suffix" => Ok(Leaf::Suffix(affix(operand_value, path, op)?)),
            "equals-ignore-case" => Ok(Leaf::EqualsIgnoreCase(
                operand(operand_value, path, op)?.to_lowercase(),
            )),
            "wildcard" => Ok(Leaf::Wildcard(Wildcard::compile(
                operand(operand_value, path, op)?,
                path,
            )?)),
            "anything-but" => Ok(Leaf::AnythingBut(AnythingBut::compile(
                operand_value,
                path,
            )?)),
            "numeric" => Ok(Leaf::Numeric(Range::compile(operand_value, path)?)),
            "exists" => match operand_value {
                Value::Bool(b) => Ok(Leaf::Exists(*b)),
                _ => Err(err(path, "exists needs true or false")),
            },
            "cidr" => Ok(Leaf::Cidr(Cidr::compile(
                operand(operand_value, path, op)?,
                path,
            )?)),
            other => Err(err(
                path,
                format!(
                    "unknown operator '{other}' (expected prefix, suffix, equals-ignore-case, \
                     wildcard, anything-but, numeric, exists or cidr)"
                ),
            )),
        }
    }

    /// Whether the event's field (`None`: absent) matches this entry.
    pub(crate) fn matches_field(&self, value: Option<&Value>) -> bool {
        match self {
            Leaf::Exists(want) => {
                let present = value.is_some_and(|v| any_element(v, is_leaf));
                present == *want
            }
            _ => value.is_some_and(|v| any_element(v, |e| is_leaf(e) && self.matches_leaf(e))),
        }
    }

    /// Whether one leaf value of the event matches.
    pub(crate) fn matches_leaf(&self, value: &Value) -> bool {
        match self {
            Leaf::Exact(e) => e.matches(value),
            Leaf::Prefix(a) => value.as_str().is_some_and(|s| a.is_prefix_of(s)),
            Leaf::Suffix(a) => value.as_str().is_some_and(|s| a.is_suffix_of(s)),
            Leaf::EqualsIgnoreCase(lower) => {
                value.as_str().is_some_and(|s| eq_ignore_case(s, lower))
            }
            Leaf::Wildcard(w) => value.as_str().is_some_and(|s| w.matches(s)),
            Leaf::AnythingBut(a) => a.matches(value),
            Leaf::Numeric(r) => value.as_f64().is_some_and(|n| r.contains(n)),
            Leaf::Exists(_) => true,
            Leaf::Cidr(c) => value.as_str().is_some_and(|s| c.contains(s)),
        }
    }
}

impl Exact {
    pub(crate) fn matches(&self, value: &Value) -> bool {
        match (self, value) {
            (Exact::String(a), Value::String(b)) => a == b,
            (Exact::Number(a), Value::Number(b)) => b.as_f64().is_some_and(|b| *a == b),
            (Exact::Bool(a), Value::Bool(b)) => a == b,
            (Exact::Null, Value::Null) => true,
            _ => false,
        }
    }
}

/// Whether `s` equals `lower` (already lowercased) ignoring case.
fn eq_ignore_case(s: &str, lower: &str) -> bool {
    s.chars().flat_map(char::to_lowercase).eq(lower.chars())
}

impl Affix {
    fn is_prefix_of(&self, s: &str) -> bool {
        if !self.ignore_case {
            return s.starts_with(&self.text);
        }
        let mut folded = s.chars().flat_map(char::to_lowercase);
        self.text.chars().all(|c| folded.next() == Some(c))
    }

    fn is_suffix_of(&self, s: &str) -> bool {
        if !self.ignore_case {
            return s.ends_with(&self.text);
        }
        let mut folded = s.chars().rev().flat_map(|c| c.to_lowercase().rev());
        self.text.chars().rev().all(|c| folded.next() == Some(c))
    }
}

impl AnythingBut {
    fn compile(value: &Value, path: &str) -> Result<AnythingBut, PatternError> {
        match value {
            Value::String(_) | Value::Number(_) => {
                Ok(AnythingBut::Values(exact(value).into_iter().collect()))
            }
            Value::Array(items) => {
                let strings = items.iter().all(Value::is_string);
                let numbers = items.iter().all(Value::is_number);
                if items.is_empty() || !(strings || numbers) {
                    return Err(err(
                        path,
                        "anything-but needs a non-empty list of only strings or only numbers",
                    ));
                }
                Ok(AnythingBut::Values(
                    items.iter().filter_map(exact).collect(),
                ))
            }
            Value::Object(o) => match single_key(o, path, "anything-but")? {
                ("prefix", v) => Ok(AnythingBut::Prefix(operands(
                    v,
                    path,
                    "anything-but prefix",
                )?)),
                ("suffix", v) => Ok(AnythingBut::Suffix(operands(
                    v,
                    path,
                    "anything-but suffix",
                )?)),
                ("wildcard", v) => Ok(AnythingBut::Wildcard(
                    operands(v, path, "anything-but wildcard")?
                        .iter()
                        .map(|w| Wildcard::compile(w, path))
                        .collect::<Result<_, _>>()?,
                )),
                ("equals-ignore-case", v) => Ok(AnythingBut::IgnoreCase(
                    operands(v, path, "anything-but equals-ignore-case")?
                        .iter()
                        .map(|s| s.to_lowercase())
                        .collect(),
                )),
                (k, _) => Err(err(
                    path,
                    format!(
                        "anything-but takes a value, a list, or one of prefix, suffix, wildcard, \
                         equals-ignore-case; not '{k}'"
                    ),
                )),
            },
            _ => Err(err(
                path,
                "anything-but needs a string, a number, a list or an operator object",
            )),
        }
    }

    fn matches(&self, value: &Value) -> bool {
        match self {
            AnythingBut::Values(excluded) => !excluded.iter().any(|e| e.matches(value)),
            // Non-string values are never excluded by a string operator.
            AnythingBut::Prefix(p) => value
                .as_str()
                .is_none_or(|s| !p.iter().any(|p| s.starts_with(p.as_str()))),
            AnythingBut::Suffix(p) => value
                .as_str()
                .is_none_or(|s| !p.iter().any(|p| s.ends_with(p.as_str()))),
            AnythingBut::Wildcard(w) => value
                .as_str()
                .is_none_or(|s| !w.iter().any(|w| w.matches(s))),
            AnythingBut::IgnoreCase(l) => value
                .as_str()
                .is_none_or(|s| !l.iter().any(|l| eq_ignore_case(s, l))),
        }
    }
}

impl Range {
    fn compile(value: &Value, path: &str) -> Result<Range, PatternError> {
        const SHAPE: &str = "numeric needs an operator and a number, or two of each for a \
                             range: [\"<\", 10], [\">=\", 0, \"<\", 5], [\"=\", 3]";
        let Value::Array(items) = value else {
            return Err(err(path, SHAPE));
        };
        if items.is_empty() || items.len() % 2 != 0 || items.len() > 4 {
            return Err(err(path, SHAPE));
        }
        let mut range = Range {
            lower: None,
            upper: None,
        };
        if items.len() > 2 && items.iter().any(|v| v.as_str() == Some("=")) {
            return Err(err(
                path,
                "numeric '=' cannot be combined with another operator",
            ));
        }
        for pair in items.chunks(2) {
            let (Some(Value::String(op)), Some(Value::Number(n))) = (pair.first(), pair.get(1))
            else {
                return Err(err(path, SHAPE));
            };
            let Some(n) = n
                .as_f64()
                .filter(|n| (-NUMERIC_LIMIT..=NUMERIC_LIMIT).contains(n))
            else {
                return Err(err(
                    path,
                    format!(
                        "numeric values must be between -{NUMERIC_LIMIT:e} and {NUMERIC_LIMIT:e}"
                    ),
                ));
            };
            let (slot, bound) = match op.as_str() {
                ">" => (&mut range.lower, (n, false)),
                ">=" => (&mut range.lower, (n, true)),
                "<" => (&mut range.upper, (n, false)),
                "<=" => (&mut range.upper, (n, true)),
                "=" => {
                    range.lower = Some((n, true));
                    (&mut range.upper, (n, true))
                }
                other => {
                    return Err(err(
                        path,
                        format!("unknown numeric operator '{other}' (use <, <=, =, >=, >)"),
                    ));
                }
            };
            if slot.is_some() {
                return Err(err(
                    path,
                    "numeric takes at most one lower bound (> or >=) and one upper bound (< or <=)",
                ));
            }
            *slot = Some(bound);
        }
        if let (Some((lo, _)), Some((hi, _))) = (range.lower, range.upper)
            && lo > hi
        {
            return Err(err(
                path,
                "numeric range is empty: the lower bound is above the upper",
            ));
        }
        Ok(range)
    }

    pub(crate) fn contains(&self, n: f64) -> bool {
        let above = match self.lower {
            None => true,
            Some((lo, true)) => n >= lo,
            Some((lo, false)) => n > lo,
        };
        let below = match self.upper {
            None => true,
            Some((hi, true)) => n <= hi,
            Some((hi, false)) => n < hi,
        };
        above && below
    }
}

impl Wildcard {
    fn compile(text: &str, path: &str) -> Result<Wildcard, PatternError> {
        let mut parts = vec![String::new()];
        let mut chars = text.chars();
        let mut previous_star = false;
        while let Some(c) = chars.next() {
            match c {
                '*' => {
                    if previous_star {
                        return Err(err(
                            path,
                            "wildcard: consecutive '*' characters are not allowed",
                        ));
                    }
                    previous_star = true;
                    parts.push(String::new());
                    if parts.len() > MAX_WILDCARDS + 1 {
                        return Err(err(
                            path,
                            format!("wildcard: at most {MAX_WILDCARDS} '*' characters are allowed"),
                        ));
                    }
                    continue;
                }
                '\\' => match chars.next() {
                    Some(e @ ('*' | '\\')) => push_last(&mut parts, e),
                    _ => {
                        return Err(err(
                            path,
                            "wildcard: a backslash may only escape '*' or '\\'",
                        ));
                    }
                },
                c => push_last(&mut parts, c),
            }
            previous_star = false;
        }
        Ok(Wildcard { parts })
    }

    pub(crate) fn matches(&self, s: &str) -> bool {
        let Some((first, rest)) = self.parts.split_first() else {
            return false;
        };
        let Some((last, middle)) = rest.split_last() else {
            return s == first;
        };
        let Some(mut s) = s.strip_prefix(first.as_str()) else {
            return false;
        };
        // Leftmost placement of each middle part leaves the most room for the rest.
        for part in middle {
            match s.find(part.as_str()) {
                Some(at) => s = s.get(at + part.len()..).unwrap_or_default(),
                None => return false,
            }
        }
        s.ends_with(last.as_str())
    }
}

fn push_last(parts: &mut [String], c: char) {
    if let Some(last) = parts.last_mut() {
        last.push(c);
    }
}

impl Cidr {
    fn compile(text: &str, path: &str) -> Result<Cidr, PatternError> {
        let bad = || {
            err(
                path,
                format!("cidr: '{text}' is not an IP address or a CIDR block like 10.0.0.0/24"),
            )
        };
        let (address, bits) = match text.split_once('/') {
            Some((a, b)) => (a, Some(b.parse::<u32>().map_err(|_| bad())?)),
            None => (text, None),
        };
        match address.parse::<IpAddr>().map_err(|_| bad())? {
            IpAddr::V4(a) => {
                let bits = bits.unwrap_or(32);
                if bits > 32 {
                    return Err(bad());
                }
                let mask = u32::MAX.checked_shl(32 - bits).unwrap_or(0);
                Ok(Cidr::V4 {
                    network: u32::from(a) & mask,
                    mask,
                })
            }
            IpAddr::V6(a) => {
                let bits = bits.unwrap_or(128);
                if bits > 128 {
                    return Err(bad());
                }
                let mask = u128::MAX.checked_shl(128 - bits).unwrap_or(0);
                Ok(Cidr::V6 {
                    network: u128::from(a) & mask,
                    mask,
                })
            }
        }
    }

    fn contains(&self, s: &str) -> bool {
        match (self, s.parse::<IpAddr>()) {
            (Cidr::V4 { network, mask }, Ok(IpAddr::V4(a))) => u32::from(a) & mask == *network,
            (Cidr::V6 { network, mask }, Ok(IpAddr::V6(a))) => u128::from(a) & mask == *network,
            _ => false,
        }
    }
}
