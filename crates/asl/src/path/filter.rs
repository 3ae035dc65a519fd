//! Filters, `[?(...)]`, as Jayway JsonPath 2.0 reads and applies them.
//!
//! A filter is criteria joined by `&&` and `||`, grouped from the right with no precedence
//! (`a && b || c` is `a && (b || c)`); parentheses only decorate. A criterion is
//!
//! - `@.path` / `!@.path`: the member exists and is not `null` (or the opposite);
//! - `left OP right` with `OP` one of `==`, `!=`, `<`, `<=`, `>`, `>=`, each side a
//!   definite path (`@...` from the element, `$...` from the document root) or a literal.
//!   Literals are text: `'quoted'` (with `\'` for a quote) or bare (`10`, `true`, `null`),
//!   and compare the way Jayway's `safeCompare` does: text to number by decimal value,
//!   text to boolean by `"true"`, `null` and the text `"null"` alike, text to text by
//!   UTF-16 order (so `"9" > "10"`), anything else not at all (the criterion is false).
//!   A path that finds nothing makes its criterion false, `!=` included.
//!
//! As AWS documents, `@` matches objects only: elements that are not objects never pass.
//! Regular expressions (`=~`) and Jayway's later operators (`in`, `nin`, `size`, ...)
//! are refused, as Step Functions refuses them.

use std::borrow::Cow;
use std::cmp::Ordering;

use serde_json::{Number, Value};

use super::PathSyntaxError;
use super::compile::{Token, compile, java_trim};
use super::eval;

#[derive(Debug, Clone, PartialEq)]
pub(super) struct Filter {
    criteria: Vec<Criterion>,
    /// `links[k]` joins `criteria[k]` and `criteria[k + 1]`.
    links: Vec<Link>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Link {
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
enum Criterion {
    Exists {
        path: Operand,
        present: bool,
    },
    Compare {
        left: Operand,
        op: Op,
        right: Operand,
    },
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@...`: from the element under test.
    Item(Vec<Token>),
    /// `$...`: from the document root.
    Root(Vec<Token>),
    /// Text, quotes removed if it had single quotes around it.
    Literal(Box<str>),
}

/// The operators in the order Jayway looks for them in a criterion.
const OPERATORS: [(&str, Option<Op>); 7] = [
    ("==", Some(Op::Eq)),
    (">=", Some(Op::Ge)),
    ("<=", Some(Op::Le)),
    ("!=", Some(Op::Ne)),
    ("<", Some(Op::Lt)),
    (">", Some(Op::Gt)),
    ("=~", None),
];

fn invalid(text: impl Into<String>) -> PathSyntaxError {
    PathSyntaxError::Invalid(text.into())
}

impl Filter {
    /// Parses a `[?(...)]` fragment, brackets included.
    pub(super) fn parse(frag: &str) -> Result<Filter, PathSyntaxError> {
        let s = java_trim(frag);
        let s = s
            .strip_prefix('[')
            .and_then(|s| s.strip_suffix(']'))
            .ok_or_else(|| {
                invalid(format!(
                    "Filter must start with '[' and end with ']'. {frag}"
                ))
            })?;
        let s = java_trim(s).strip_prefix('?').ok_or_else(|| {
            invalid(format!(
                "Filter must start with '[?' and end with ']'. {frag}"
            ))
        })?;
        let inner = java_trim(s)
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| {
                invalid(format!(
                    "Filter must start with '[?(' and end with ')]'. {frag}"
                ))
            })?;
        let mut criteria = Vec::new();
        let mut links = Vec::new();
        let mut rest = java_trim(inner);
        loop {
            let (piece, link, after) = match split_logical(rest) {
                Some((at, link)) => (&rest[..at], Some(link), &rest[at + 2..]),
                None => (rest, None, ""),
            };
            criteria.push(Criterion::parse(
                clean(piece).ok_or_else(|| invalid(format!("Invalid filter: {frag}")))?,
            )?);
            match link {
                Some(link) => links.push(link),
                None => break,
            }
            rest = after;
        }
        Ok(Filter { criteria, links })
    }

    /// Whether `item` passes, `root` being the document for `$` operands. An error is one
    /// that aborts the whole evaluation (a path misapplied, not merely absent).
    pub(super) fn accept(&self, item: &Value, root: &Value) -> Result<bool, super::PathError> {
        if !item.is_object() {
            return Ok(false);
        }
        let Some((last, init)) = self.criteria.split_last() else {
            return Ok(false);
        };
        // Jayway's filters nest from the right: the last criterion is tested first.
        let mut result = last.test(item, root)?;
        for (c, link) in init.iter().zip(&self.links).rev() {
            result = match link {
                Link::And => result && c.test(item, root)?,
                Link::Or => result || c.test(item, root)?,
            };
        }
        Ok(result)
    }
}

/// The first `&&` or `||` outside single quotes.
fn split_logical(s: &str) -> Option<(usize, Link)> {
    let and = find_unquoted(s, "&&").map(|k| (k, Link::And));
    let or = find_unquoted(s, "||").map(|k| (k, Link::Or));
    match (and, or) {
        (Some(a), Some(o)) => Some(if a.0 < o.0 { a } else { o }),
        (a, o) => a.or(o),
    }
}

/// The first `pat` outside single quotes.
fn find_unquoted(s: &str, pat: &str) -> Option<usize> {
    let b = s.as_bytes();
    let mut quoted = false;
    let mut k = 0;
    while k < b.len() {
        match b[k] {
            b'\\' if quoted => k += 1,
            b'\'' => quoted = !quoted,
            _ if !quoted && b[k..].starts_with(pat.as_bytes()) => return Some(k),
            _ => {}
        }
        k += 1;
    }
    None
}

/// Jayway's `cleanCriteria`: leading `[`, `?`, `(` and spaces and trailing `)` and spaces
/// go; nothing may be left empty.
fn clean(piece: &str) -> Option<&str> {
    let s = piece.trim_start_matches(['[', '?', '(', ' ']);
    let s = s.trim_end_matches([')', ' ']);
    (!s.is_empty()).then_some(s)
}

impl Criterion {
    fn parse(text: &str) -> Result<Criterion, PathSyntaxError> {
        let found = OPERATORS
            .iter()
            .find_map(|(pat, op)| find_unquoted(text, pat).map(|at| (at, *pat, *op)));
        let Some((at, pat, op)) = found else {
            let left = text.trim();
            let (negated, path) = match left.strip_prefix('!') {
                Some(p) if p.starts_with('@') => (true, p),
                _ => (false, left),
            };
            return match Operand::parse(path)? {
                op @ (Operand::Item(_) | Operand::Root(_)) => Ok(Criterion::Exists {
                    path: op,
                    present: !negated,
                }),
                Operand::Literal(_) => Err(invalid("CriteriaType  can not be parsed")),
            };
        };
        let Some(op) = op else {
            return Err(invalid(
                "Filtering by regular expression (=~) is not supported",
            ));
        };
        let left = text[..at].trim();
        let right = text[at + pat.len()..].trim();
        // Jayway ignores a negation before a compared path.
        let left = match left.strip_prefix('!') {
            Some(p) if p.starts_with('@') => p,
            _ => left,
        };
        if right.starts_with("!@") {
            return Err(invalid(
                "Invalid negation! Can only be used for existence check e.g [?(!@.foo)]",
            ));
        }
        Ok(Criterion::Compare {
            left: Operand::parse(left)?,
            op,
            right: Operand::parse(right)?,
        })
    }

    fn test(&self, item: &Value, root: &Value) -> Result<bool, super::PathError> {
        match self {
            Criterion::Exists { path, present } => {
                // Jayway evaluates an existence check from the element, `$` or not.
                let exists = match path {
                    Operand::Item(t) | Operand::Root(t) => match eval::definite(t, item)? {
                        Some(v) => !v.is_null(),
                        None => false,
                    },
                    Operand::Literal(_) => false,
                };
                Ok(exists == *present)
            }
            Criterion::Compare { left, op, right } => {
                let Some(model) = left.value(item, root)? else {
                    return Ok(false);
                };
                let Some(expected) = right.value(item, root)? else {
                    return Ok(false);
                };
                Ok(op.holds(&expected, &model))
            }
        }
    }
}

impl Operand {
    fn parse(text: &str) -> Result<Operand, PathSyntaxError> {
        if let Some(rest) = text.strip_prefix('@') {
            return Ok(Operand::Item(definite_path(text, &format!("${rest}"))?));
        }
        if text.starts_with('$') {
            return Ok(Operand::Root(definite_path(text, text)?));
        }
        if text.starts_with('/') && text.len() > 1 && (text.ends_with('/') || text.ends_with("/i"))
        {
            return Err(invalid(
                "Filtering by regular expression (=~) is not supported",
            ));
        }
        if let Some(quoted) = text.strip_prefix('\'') {
            return match quoted.strip_suffix('\'') {
                Some(inner) => Ok(Operand::Literal(inner.into())),
                None if text.ends_with('\'') => {
                    Err(invalid(format!("Invalid filter literal {text}")))
                }
                None => Ok(Operand::Literal(text.into())),
            };
        }
        Ok(Operand::Literal(text.into()))
    }

    fn value<'a>(
        &'a self,
        item: &'a Value,
        root: &'a Value,
    ) -> Result<Option<Val<'a>>, super::PathError> {
        let (tokens, start) = match self {
            Operand::Literal(s) => return Ok(Some(Val::Lit(s))),
            Operand::Item(t) => (t, item),
            Operand::Root(t) => (t, root),
        };
        Ok(eval::definite(tokens, start)?.map(|v| match v {
            Cow::Borrowed(v) => Val::Json(v),
            Cow::Owned(v) => Val::Owned(v),
        }))
    }
}

/// Compiles a filter's path operand, which must be definite.
fn definite_path(shown: &str, text: &str) -> Result<Vec<Token>, PathSyntaxError> {
    let tokens = compile(text)?;
    if !tokens.iter().all(Token::is_definite) {
        return Err(invalid(format!(
            "the predicate path: {shown} is not definite"
        )));
    }
    Ok(tokens)
}

/// A compared value: from the document, built by a union of names, or a literal.
enum Val<'a> {
    Json(&'a Value),
    Owned(Value),
    Lit(&'a str),
}

/// A value as Jayway's comparison sees its Java type.
enum Java<'a> {
    Null,
    Str(&'a str),
    Num(&'a Number),
    Bool(bool),
    Other,
}

impl Val<'_> {
    fn json(&self) -> Option<&Value> {
        match self {
            Val::Json(v) => Some(v),
            Val::Owned(v) => Some(v),
            Val::Lit(_) => None,
        }
    }

    fn java(&self) -> Java<'_> {
        match self.json() {
            None => match self {
                Val::Lit(s) => Java::Str(s),
                _ => Java::Other,
            },
            Some(Value::Null) => Java::Null,
            Some(Value::String(s)) => Java::Str(s),
            Some(Value::Number(n)) => Java::Num(n),
            Some(Value::Bool(b)) => Java::Bool(*b),
            Some(_) => Java::Other,
        }
    }
}

impl Op {
    /// Jayway evaluates `left OP right` as `OP.eval(expected = right, model = left)`.
    fn holds(self, expected: &Val<'_>, model: &Val<'_>) -> bool {
        let Some(order) = safe_compare(expected, model) else {
            return false;
        };
        let java_null = |v: &Val<'_>| matches!(v.java(), Java::Null);
        let one_null = java_null(expected) != java_null(model);
        match self {
            Op::Eq => order == Ordering::Equal,
            Op::Ne => order != Ordering::Equal,
            Op::Gt => !one_null && order == Ordering::Less,
            Op::Ge => !one_null && order != Ordering::Greater,
            Op::Lt => !one_null && order == Ordering::Greater,
            Op::Le => !one_null && order != Ordering::Less,
        }
    }
}

/// Jayway 2.0's `safeCompare(expected, model)`; `None` where it cannot compare.
fn safe_compare(expected: &Val<'_>, model: &Val<'_>) -> Option<Ordering> {
    if let (Val::Json(a), Val::Json(b)) = (expected, model)
        && std::ptr::eq(*a, *b)
    {
        return Some(Ordering::Equal);
    }
    let (e, m) = (expected.java(), model.java());
    let nullish = |j: &Java<'_>| matches!(j, Java::Null) || matches!(j, Java::Str("null"));
    match (nullish(&e), nullish(&m)) {
        (true, false) => return Some(Ordering::Less),
        (false, true) => return Some(Ordering::Greater),
        (true, true) => return Some(Ordering::Equal),
        (false, false) => {}
    }
    match (e, m) {
        (Java::Str(a), Java::Str(b)) => {
            let a: Cow<'_, str> = if a.contains("\\'") {
                Cow::Owned(a.replace("\\'", "'"))
            } else {
                Cow::Borrowed(a)
            };
            Some(a.encode_utf16().cmp(b.encode_utf16()))
        }
        (Java::Num(a), Java::Num(b)) => compare_numbers(a, b),
        (Java::Str(a), Java::Num(b)) => Decimal::parse(a)?.cmp(&Decimal::of(b)?).into(),
        (Java::Str(a), Java::Bool(b)) => Some(a.eq_ignore_ascii_case("true").cmp(&b)),
        (Java::Bool(a), Java::Bool(b)) => Some(a.cmp(&b)),
        _ => None,
    }
}

fn compare_numbers(a: &Number, b: &Number) -> Option<Ordering> {
    if let (Some(x), Some(y)) = (a.as_i64(), b.as_i64()) {
        return Some(x.cmp(&y));
    }
    if let (Some(x), Some(y)) = (a.as_u64(), b.as_u64()) {
        return Some(x.cmp(&y));
    }
    Some(Decimal::of(a)?.cmp(&Decimal::of(b)?))
}

/// An exact decimal, as Java's `BigDecimal` compares them: `0.digits × 10^point`.
#[derive(Debug, PartialEq, Eq)]
struct Decimal {
    negative: bool,
    /// No leading or trailing zeros; empty for zero.
    digits: Vec<u8>,
    point: i64,
}

impl Decimal {
    fn of(n: &Number) -> Option<Decimal> {
        Decimal::parse(&n.to_string())
    }

    /// `BigDecimal(String)`: a sign, digits with an optional point, an optional exponent.
    fn parse(s: &str) -> Option<Decimal> {
        let (negative, s) = match s.as_bytes().first()? {
            b'-' => (true, &s[1..]),
            b'+' => (false, &s[1..]),
            _ => (false, s),
        };
        let (mantissa, exponent) = match s.find(['e', 'E']) {
            Some(at) => (&s[..at], Some(&s[at + 1..])),
            None => (s, None),
        };
        let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
        let all_digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
        if int.len() + frac.len() == 0 || !all_digits(int) || !all_digits(frac) {
            return None;
        }
        let exp: i64 = match exponent {
            None => 0,
            Some(e) => {
                let body = e.strip_prefix(['+', '-']).unwrap_or(e);
                if body.is_empty() || body.len() > 10 || !all_digits(body) {
                    return None;
                }
                e.parse().ok()?
            }
        };
        let mut point = int.len() as i64 + exp;
        let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
        let leading = digits.iter().take_while(|d| **d == b'0').count();
        digits.drain(..leading);
        point -= leading as i64;
        while digits.last() == Some(&b'0') {
            digits.pop();
        }
        if digits.is_empty() {
            point = 0;
        }
        Some(Decimal {
            negative: negative && !digits.is_empty(),
            digits,
            point,
        })
    }
}

impl Ord for Decimal {
    fn cmp(&self, other: &Self) -> Ordering {
        let sign = |d: &Decimal| match (d.digits.is_empty(), d.negative) {
            (true, _) => 0,
            (false, true) => -1,
            (false, false) => 1,
        };
        let (a, b) = (sign(self), sign(other));
        if a != b || a == 0 {
            return a.cmp(&b);
        }
        let magnitude = self
            .point
            .cmp(&other.point)
            .then_with(|| self.digits.cmp(&other.digits));
        if a < 0 {
            magnitude.reverse()
        } else {
            magnitude
        }
    }
}

impl PartialOrd for Decimal {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn passes(filter: &str, item: &Value) -> bool {
        let f = Filter::parse(filter).unwrap();
        f.accept(item, &json!({"limit": 10})).unwrap()
    }

    #[test]
    fn comparisons_follow_jayway_safe_compare() {
        let item =
            json!({"n": 8.95, "i": 5, "s": "abc", "t": "9", "b": true, "z": null, "zs": "null"});
        assert!(passes("[?(@.n < 10)]", &item));
        assert!(passes("[?(@.i == 5.0)]", &item));
        assert!(passes("[?(@.i == '5')]", &item));
        assert!(passes("[?(@.s == 'abc')]", &item));
        assert!(!passes("[?(@.s == \"abc\")]", &item));
        assert!(passes("[?(@.s == abc)]", &item));
        // Text against text is by UTF-16 order, even for digits.
        assert!(passes("[?(@.t > 10)]", &item));
        assert!(passes("[?(@.b == true)]", &item));
        assert!(passes("[?(@.b != false)]", &item));
        assert!(passes("[?(@.z == null)]", &item));
        assert!(passes("[?(@.zs == null)]", &item));
        assert!(!passes("[?(@.z > 1)]", &item));
        // A text that is no number, against a number: not comparable.
        assert!(!passes("[?(@.i == abc)]", &item));
        assert!(!passes("[?(@.i != abc)]", &item));
        // Missing members make a criterion false, `!=` included.
        assert!(!passes("[?(@.missing != 1)]", &item));
        assert!(passes("[?(@.i < $.limit)]", &item));
        // Jayway compares `expected` (the right side) to `model`: a number against text
        // cannot be compared, though text against a number can.
        assert!(!passes("[?(5 == @.i)]", &item));
        assert!(passes("[?('abc' == @.s)]", &item));
        assert!(passes("[?(@.s == 'it\\'s')]", &json!({"s": "it's"})));
        assert!(passes("[?(@.s == '')]", &json!({"s": ""})));
        assert!(passes("[?(@.s ==)]", &json!({"s": ""})));
    }

    #[test]
    fn existence_and_logic() {
        let item = json!({"a": 1, "z": null});
        assert!(passes("[?(@.a)]", &item));
        assert!(!passes("[?(@.z)]", &item));
        assert!(passes("[?(!@.z)]", &item));
        assert!(passes("[?(!@.nope)]", &item));
        assert!(passes("[?(@.a && @.a == 1)]", &item));
        assert!(passes("[?(@.nope || @.a == 1)]", &item));
        // From the right, no precedence: a && (b || c).
        assert!(!passes("[?(@.nope && @.a == 2 || @.a == 1)]", &item));
        assert!(passes("[?(@.a == 1 && (@.a == 2 || @.a == 1))]", &item));
        assert!(passes("[?(@.s == 'x && y')]", &json!({"s": "x && y"})));
    }

    #[test]
    fn only_objects_pass() {
        let f = Filter::parse("[?(@ == 1)]").unwrap();
        assert!(!f.accept(&json!(1), &json!(null)).unwrap());
        assert!(!f.accept(&json!([1]), &json!(null)).unwrap());
    }

    #[test]
    fn misapplied_paths_abort() {
        let f = Filter::parse("[?(@.a[0] == 1)]").unwrap();
        let e = f.accept(&json!({"a": {"b": 1}}), &json!(null)).unwrap_err();
        assert_eq!(
            e.to_string(),
            "Filter: [0] can only be applied to arrays. Current context is: {\"b\":1}"
        );
        assert!(f.accept(&json!({"a": [1]}), &json!(null)).unwrap());
    }

    #[test]
    fn refused_filters() {
        for (bad, text) in [
            (
                "[?(@.a =~ /x/)]",
                "Filtering by regular expression (=~) is not supported",
            ),
            (
                "[?(@.a[*] == 1)]",
                "the predicate path: @.a[*] is not definite",
            ),
            (
                "[?(@.a == !@.b)]",
                "Invalid negation! Can only be used for existence check e.g [?(!@.foo)]",
            ),
            ("[?(1)]", "CriteriaType  can not be parsed"),
            (
                "[?@.a]",
                "Filter must start with '[?(' and end with ')]'. [?@.a]",
            ),
            ("[?()]", "Invalid filter: [?()]"),
            ("[?(@.a &&)]", "Invalid filter: [?(@.a &&)]"),
        ] {
            assert_eq!(Filter::parse(bad).unwrap_err().to_string(), text, "{bad}");
        }
        assert!(Filter::parse("[?(@.a in ['x'])]").is_err());
        assert!(Filter::parse("[?]").is_err());
    }

    #[test]
    fn decimals_compare_exactly() {
        let d = |s: &str| Decimal::parse(s).unwrap();
        assert_eq!(d("1.50").cmp(&d("1.5")), Ordering::Equal);
        assert_eq!(d("-0").cmp(&d("0.000")), Ordering::Equal);
        assert_eq!(d("1e3").cmp(&d("999.9999")), Ordering::Greater);
        assert_eq!(d("-2").cmp(&d("-10")), Ordering::Greater);
        assert_eq!(d("0.1000000000000000001").cmp(&d("0.1")), Ordering::Greater);
        assert_eq!(d(".5").cmp(&d("5E-1")), Ordering::Equal);
        for bad in ["", "-", "abc", "1e", "1e99999999999", "1.2.3", " 1", "0x10"] {
            assert!(Decimal::parse(bad).is_none(), "{bad}");
        }
    }
}
