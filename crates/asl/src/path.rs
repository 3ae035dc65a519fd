//! JSONPath as Step Functions evaluates it (Jayway JsonPath semantics), and what an
//! expression reads.
//!
//! - [`JsonPath`]: a compiled path from `$`: names, indices (negative from the end),
//!   wildcards, recursive descent, slices, unions and filters. A *definite* path (names and
//!   single indices only) selects one value or fails; an indefinite one selects the array
//!   of its matches, missing members skipped.
//! - [`Reference`]: a path with its source: `$...` the state input, `$$...` the context
//!   object, `$name...` a workflow variable.
//! - [`ResultPath`]: where a state's result goes in its input.
//! - [`Scope`]: the three sources, as one evaluation sees them.

use std::borrow::Cow;
use std::collections::HashMap;

use serde_json::{Map, Value};

/// What an expression reads: `$` the state's effective input, `$$` the context object,
/// `$name` a workflow variable. In a JSONata state, `context` holds the `$states` object
/// (`input`, `context`, and `result` or `errorOutput` where they exist) instead, since
/// JSONata reads the context object through it.
pub struct Scope<'a> {
    pub input: &'a Value,
    pub context: &'a Value,
    pub variables: &'a dyn Variables,
}

/// Workflow variables visible to an evaluation.
pub trait Variables {
    fn get(&self, name: &str) -> Option<&Value>;
    /// Calls `f` once for every visible variable (an inner scope's first, shadowing).
    fn visit(&self, f: &mut dyn FnMut(&str, &Value));
}

/// No variables at all.
pub struct NoVariables;

impl Variables for NoVariables {
    fn get(&self, _: &str) -> Option<&Value> {
        None
    }
    fn visit(&self, _: &mut dyn FnMut(&str, &Value)) {}
}

impl Variables for Map<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        Map::get(self, name)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.iter().for_each(|(k, v)| f(k, v));
    }
}

impl Variables for HashMap<String, Value> {
    fn get(&self, name: &str) -> Option<&Value> {
        HashMap::get(self, name)
    }
    fn visit(&self, f: &mut dyn FnMut(&str, &Value)) {
        self.iter().for_each(|(k, v)| f(k, v));
    }
}

/// Why a path could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathSyntaxError {
    #[error("a path must start with '$'")]
    NoRoot,
    #[error("the path is longer than {MAX_PATH_LEN} characters")]
    TooLong,
    #[error("unexpected '{found}' at position {at}")]
    Unexpected { found: String, at: usize },
    #[error("the path ends unexpectedly")]
    UnexpectedEnd,
    #[error("a reference path may only hold names and array indices")]
    NotDefinite,
    #[error("filters nest too deeply")]
    TooDeep,
}

/// Why a path selected nothing where it must select something.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// A definite path found no value at its last step.
    #[error("No results for path: {0}")]
    NoResults(String),
    /// A definite path found no member on the way (the normalized path up to it).
    #[error("Missing property in path {0}")]
    MissingProperty(String),
    /// `$name` names no variable in scope.
    #[error("The variable '{0}' is not defined")]
    NoSuchVariable(String),
    /// A ResultPath goes through a value that is not an object or an array.
    #[error("Unable to apply ResultPath: {0} does not select an object or array element")]
    CannotPlace(String),
}

const MAX_PATH_LEN: usize = 4096;
const MAX_FILTER_DEPTH: usize = 32;

#[derive(Debug, Clone, PartialEq)]
enum Segment {
    Name(String),
    Index(i64),
    Wildcard,
    Slice(Option<i64>, Option<i64>, Option<i64>),
    Names(Vec<String>),
    Indices(Vec<i64>),
    Filter(Box<Filter>),
    /// `..` followed by the selector it applies at every depth.
    Descend(Box<Segment>),
}

#[derive(Debug, Clone, PartialEq)]
enum Filter {
    Or(Box<Filter>, Box<Filter>),
    And(Box<Filter>, Box<Filter>),
    Not(Box<Filter>),
    Compare(Operand, Op, Operand),
    Exists(Operand),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Op {
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    In,
    Nin,
}

#[derive(Debug, Clone, PartialEq)]
enum Operand {
    /// `@...` relative to the element.
    Current(Vec<Segment>),
    /// `$...` from the root.
    Root(Vec<Segment>),
    Literal(Value),
}

/// A compiled JSONPath.
#[derive(Debug, Clone, PartialEq)]
pub struct JsonPath {
    text: String,
    segments: Vec<Segment>,
    definite: bool,
}

impl JsonPath {
    pub fn parse(text: &str) -> Result<JsonPath, PathSyntaxError> {
        if text.len() > MAX_PATH_LEN {
            return Err(PathSyntaxError::TooLong);
        }
        let mut p = Parser {
            s: text.as_bytes(),
            i: 0,
            depth: 0,
        };
        p.skip_ws();
        if !p.eat(b'$') {
            return Err(PathSyntaxError::NoRoot);
        }
        let segments = p.segments(false)?;
        p.skip_ws();
        if p.i != p.s.len() {
            return Err(p.unexpected());
        }
        let definite = segments
            .iter()
            .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_)));
        Ok(JsonPath {
            text: text.to_owned(),
            segments,
            definite,
        })
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn is_definite(&self) -> bool {
        self.definite
    }

    /// Jayway's normalized form, as AWS prints it: `$['a']['b'][0]`.
    pub fn normalized(&self) -> String {
        let mut out = String::from("$");
        for s in &self.segments {
            normalize_segment(s, &mut out);
        }
        out
    }

    /// A definite path selects its value (or fails); an indefinite one the array of its
    /// matches.
    pub fn eval<'v>(&self, root: &'v Value) -> Result<Cow<'v, Value>, PathError> {
        if self.definite {
            let mut cur = root;
            for (k, s) in self.segments.iter().enumerate() {
                let next = match (s, cur) {
                    (Segment::Name(n), Value::Object(m)) => m.get(n),
                    (Segment::Index(i), Value::Array(a)) => {
                        resolve_index(*i, a.len()).and_then(|i| a.get(i))
                    }
                    _ => None,
                };
                cur = match next {
                    Some(v) => v,
                    // Jayway: a member missing on the way, not at the end.
                    None if k + 1 < self.segments.len()
                        && matches!((s, cur), (Segment::Name(_), Value::Object(_))) =>
                    {
                        let mut prefix = String::from("$");
                        for s in &self.segments[..=k] {
                            normalize_segment(s, &mut prefix);
                        }
                        return Err(PathError::MissingProperty(prefix));
                    }
                    None => return Err(PathError::NoResults(self.normalized())),
                };
            }
            return Ok(Cow::Borrowed(cur));
        }
        let mut matches = Vec::new();
        select(&self.segments, root, root, &mut matches);
        Ok(Cow::Owned(Value::Array(
            matches.into_iter().cloned().collect(),
        )))
    }
}

fn resolve_index(i: i64, len: usize) -> Option<usize> {
    let len = len as i64;
    let i = if i < 0 { len + i } else { i };
    (0..len).contains(&i).then_some(i as usize)
}

fn normalize_segment(s: &Segment, out: &mut String) {
    match s {
        Segment::Name(n) => {
            out.push_str("['");
            out.push_str(n);
            out.push_str("']");
        }
        Segment::Index(i) => out.push_str(&format!("[{i}]")),
        Segment::Wildcard => out.push_str("[*]"),
        Segment::Slice(a, b, c) => {
            let f = |x: &Option<i64>| x.map(|v| v.to_string()).unwrap_or_default();
            out.push_str(&format!("[{}:{}", f(a), f(b)));
            if c.is_some() {
                out.push_str(&format!(":{}", f(c)));
            }
            out.push(']');
        }
        Segment::Names(ns) => {
            out.push('[');
            out.push_str(
                &ns.iter()
                    .map(|n| format!("'{n}'"))
                    .collect::<Vec<_>>()
                    .join(","),
            );
            out.push(']');
        }
        Segment::Indices(is) => {
            out.push('[');
            out.push_str(&is.iter().map(i64::to_string).collect::<Vec<_>>().join(","));
            out.push(']');
        }
        Segment::Filter(_) => out.push_str("[?]"),
        Segment::Descend(inner) => {
            out.push_str("..");
            normalize_segment(inner, out);
        }
    }
}

/// Collects every match of `segments` under `node`, in document order.
fn select<'v>(segments: &[Segment], root: &'v Value, node: &'v Value, out: &mut Vec<&'v Value>) {
    let Some((first, rest)) = segments.split_first() else {
        out.push(node);
        return;
    };
    match first {
        Segment::Descend(inner) => {
            // Pre-order over every node, applying `inner` then `rest` at each.
            let mut stack = vec![node];
            while let Some(n) = stack.pop() {
                let mut here = Vec::new();
                apply(inner, root, n, &mut here);
                for m in here {
                    select(rest, root, m, out);
                }
                match n {
                    Value::Object(map) => stack.extend(map.values().rev()),
                    Value::Array(items) => stack.extend(items.iter().rev()),
                    _ => {}
                }
            }
        }
        other => {
            let mut here = Vec::new();
            apply(other, root, node, &mut here);
            for m in here {
                select(rest, root, m, out);
            }
        }
    }
}

/// Applies one non-descending selector to `node`.
fn apply<'v>(s: &Segment, root: &'v Value, node: &'v Value, out: &mut Vec<&'v Value>) {
    match (s, node) {
        (Segment::Name(n), Value::Object(m)) => out.extend(m.get(n)),
        (Segment::Names(ns), Value::Object(m)) => out.extend(ns.iter().filter_map(|n| m.get(n))),
        (Segment::Index(i), Value::Array(a)) => {
            out.extend(resolve_index(*i, a.len()).and_then(|i| a.get(i)))
        }
        (Segment::Indices(is), Value::Array(a)) => out.extend(
            is.iter()
                .filter_map(|i| resolve_index(*i, a.len()).and_then(|i| a.get(i))),
        ),
        (Segment::Wildcard, Value::Object(m)) => out.extend(m.values()),
        (Segment::Wildcard, Value::Array(a)) => out.extend(a.iter()),
        (Segment::Slice(start, end, step), Value::Array(a)) => slice(a, *start, *end, *step, out),
        (Segment::Filter(f), Value::Array(a)) => {
            out.extend(a.iter().filter(|item| test(f, root, item)))
        }
        (Segment::Filter(f), v @ Value::Object(_)) if test(f, root, v) => out.push(v),
        (Segment::Descend(inner), _) => apply(inner, root, node, out),
        _ => {}
    }
}

fn slice<'v>(
    a: &'v [Value],
    start: Option<i64>,
    end: Option<i64>,
    step: Option<i64>,
    out: &mut Vec<&'v Value>,
) {
    let len = a.len() as i64;
    let step = step.unwrap_or(1);
    if step == 0 {
        return;
    }
    let norm = |i: i64| if i < 0 { (len + i).max(0) } else { i.min(len) };
    if step > 0 {
        let (mut i, e) = (norm(start.unwrap_or(0)), norm(end.unwrap_or(len)));
        while i < e {
            out.push(&a[i as usize]);
            i += step;
        }
    } else {
        let mut i = start
            .map(|s| if s < 0 { len + s } else { s.min(len - 1) })
            .unwrap_or(len - 1);
        let e = end.map(|e| if e < 0 { len + e } else { e }).unwrap_or(-1);
        while i > e && i >= 0 {
            if let Some(v) = a.get(i as usize) {
                out.push(v);
            }
            i += step;
        }
    }
}

fn test(f: &Filter, root: &Value, item: &Value) -> bool {
    match f {
        Filter::Or(a, b) => test(a, root, item) || test(b, root, item),
        Filter::And(a, b) => test(a, root, item) && test(b, root, item),
        Filter::Not(a) => !test(a, root, item),
        Filter::Exists(o) => operand(o, root, item).is_some(),
        Filter::Compare(l, op, r) => match (operand(l, root, item), operand(r, root, item)) {
            (Some(l), Some(r)) => compare(&l, *op, &r),
            // Jayway: a missing member only satisfies `!=`.
            (None, Some(_)) | (Some(_), None) => *op == Op::Ne,
            (None, None) => false,
        },
    }
}

fn operand<'v>(o: &'v Operand, root: &'v Value, item: &'v Value) -> Option<Cow<'v, Value>> {
    let (segments, start) = match o {
        Operand::Literal(v) => return Some(Cow::Borrowed(v)),
        Operand::Current(s) => (s, item),
        Operand::Root(s) => (s, root),
    };
    if segments
        .iter()
        .all(|s| matches!(s, Segment::Name(_) | Segment::Index(_)))
    {
        let mut cur = start;
        for s in segments {
            cur = match (s, cur) {
                (Segment::Name(n), Value::Object(m)) => m.get(n)?,
                (Segment::Index(i), Value::Array(a)) => a.get(resolve_index(*i, a.len())?)?,
                _ => return None,
            };
        }
        return Some(Cow::Borrowed(cur));
    }
    let mut out = Vec::new();
    select(segments, root, start, &mut out);
    Some(Cow::Owned(Value::Array(out.into_iter().cloned().collect())))
}

fn compare(l: &Value, op: Op, r: &Value) -> bool {
    use std::cmp::Ordering;
    let order = match (l, r) {
        (Value::Number(a), Value::Number(b)) => a
            .as_f64()
            .zip(b.as_f64())
            .and_then(|(a, b)| a.partial_cmp(&b)),
        (Value::String(a), Value::String(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match op {
        Op::Eq => order.map_or_else(|| l == r, |o| o == Ordering::Equal),
        Op::Ne => order.map_or_else(|| l != r, |o| o != Ordering::Equal),
        Op::Lt => order == Some(Ordering::Less),
        Op::Le => matches!(order, Some(Ordering::Less | Ordering::Equal)),
        Op::Gt => order == Some(Ordering::Greater),
        Op::Ge => matches!(order, Some(Ordering::Greater | Ordering::Equal)),
        Op::In | Op::Nin => {
            let found = match r {
                Value::Array(items) => items.iter().any(|x| compare(l, Op::Eq, x)),
                _ => false,
            };
            found == (op == Op::In)
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    i: usize,
    depth: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }

    fn skip_ws(&mut self) {
        while self.peek().is_some_and(|c| c == b' ' || c == b'\t') {
            self.i += 1;
        }
    }

    fn unexpected(&self) -> PathSyntaxError {
        match std::str::from_utf8(&self.s[self.i.min(self.s.len())..])
            .ok()
            .and_then(|r| r.chars().next())
        {
            Some(c) => PathSyntaxError::Unexpected {
                found: c.to_string(),
                at: self.i,
            },
            None => PathSyntaxError::UnexpectedEnd,
        }
    }

    /// Segments until the end, or (inside a filter) until a character that ends an operand.
    fn segments(&mut self, in_filter: bool) -> Result<Vec<Segment>, PathSyntaxError> {
        let mut out = Vec::new();
        loop {
            match self.peek() {
                Some(b'.') if self.s.get(self.i + 1) == Some(&b'.') => {
                    self.i += 2;
                    let inner = if self.peek() == Some(b'[') {
                        self.bracket()?
                    } else {
                        self.dotted()?
                    };
                    out.push(Segment::Descend(Box::new(inner)));
                }
                // `$.[...]`: a dot before a bracket, which Jayway (and so AWS) accepts.
                Some(b'.') if self.s.get(self.i + 1) == Some(&b'[') => {
                    self.i += 1;
                    out.push(self.bracket()?);
                }
                Some(b'.') => {
                    self.i += 1;
                    out.push(self.dotted()?);
                }
                Some(b'[') => out.push(self.bracket()?),
                None => return Ok(out),
                Some(_) if in_filter => return Ok(out),
                Some(_) => return Err(self.unexpected()),
            }
        }
    }

    /// After a `.`: a name or `*`.
    fn dotted(&mut self) -> Result<Segment, PathSyntaxError> {
        if self.eat(b'*') {
            return Ok(Segment::Wildcard);
        }
        let start = self.i;
        while let Some(c) = self.peek() {
            if matches!(
                c,
                b'.' | b'[' | b' ' | b')' | b'=' | b'!' | b'<' | b'>' | b'&' | b'|' | b',' | b']'
            ) {
                break;
            }
            self.i += 1;
        }
        if self.i == start {
            return Err(self.unexpected());
        }
        let name = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.unexpected())?;
        Ok(Segment::Name(name.to_owned()))
    }

    fn bracket(&mut self) -> Result<Segment, PathSyntaxError> {
        self.i += 1; // '['
        self.skip_ws();
        let seg = match self.peek() {
            Some(b'*') => {
                self.i += 1;
                Segment::Wildcard
            }
            Some(b'\'' | b'"') => {
                let mut names = vec![self.quoted()?];
                loop {
                    self.skip_ws();
                    if !self.eat(b',') {
                        break;
                    }
                    self.skip_ws();
                    names.push(self.quoted()?);
                }
                if names.len() == 1 {
                    Segment::Name(names.remove(0))
                } else {
                    Segment::Names(names)
                }
            }
            Some(b'?') => {
                self.i += 1;
                self.skip_ws();
                if !self.eat(b'(') {
                    return Err(self.unexpected());
                }
                let f = self.filter_or()?;
                self.skip_ws();
                if !self.eat(b')') {
                    return Err(self.unexpected());
                }
                Segment::Filter(Box::new(f))
            }
            Some(c) if c == b'-' || c == b':' || c.is_ascii_digit() => self.indices()?,
            _ => return Err(self.unexpected()),
        };
        self.skip_ws();
        if !self.eat(b']') {
            return Err(self.unexpected());
        }
        Ok(seg)
    }

    fn integer(&mut self) -> Result<Option<i64>, PathSyntaxError> {
        self.skip_ws();
        let start = self.i;
        if self.peek() == Some(b'-') {
            self.i += 1;
        }
        while self.peek().is_some_and(|c| c.is_ascii_digit()) {
            self.i += 1;
        }
        if self.i == start {
            return Ok(None);
        }
        let text = std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.unexpected())?;
        text.parse::<i64>()
            .map(Some)
            .map_err(|_| PathSyntaxError::Unexpected {
                found: text.to_owned(),
                at: start,
            })
    }

    fn indices(&mut self) -> Result<Segment, PathSyntaxError> {
        let first = self.integer()?;
        self.skip_ws();
        if self.peek() == Some(b':') {
            self.i += 1;
            let end = self.integer()?;
            self.skip_ws();
            let step = if self.eat(b':') {
                self.integer()?
            } else {
                None
            };
            return Ok(Segment::Slice(first, end, step));
        }
        let Some(first) = first else {
            return Err(self.unexpected());
        };
        let mut all = vec![first];
        loop {
            self.skip_ws();
            if !self.eat(b',') {
                break;
            }
            all.push(self.integer()?.ok_or_else(|| self.unexpected())?);
        }
        Ok(if all.len() == 1 {
            Segment::Index(first)
        } else {
            Segment::Indices(all)
        })
    }

    fn quoted(&mut self) -> Result<String, PathSyntaxError> {
        let Some(q) = self.peek().filter(|c| *c == b'\'' || *c == b'"') else {
            return Err(self.unexpected());
        };
        self.i += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(PathSyntaxError::UnexpectedEnd),
                Some(c) if c == q => {
                    self.i += 1;
                    break;
                }
                // `\'` inside '...' is a quote; any other backslash stays as written.
                Some(b'\\') if self.s.get(self.i + 1) == Some(&q) => {
                    out.push(q);
                    self.i += 2;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        String::from_utf8(out).map_err(|_| self.unexpected())
    }

    fn filter_or(&mut self) -> Result<Filter, PathSyntaxError> {
        self.depth += 1;
        if self.depth > MAX_FILTER_DEPTH {
            return Err(PathSyntaxError::TooDeep);
        }
        let mut left = self.filter_and()?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"||") {
                self.i += 2;
                left = Filter::Or(Box::new(left), Box::new(self.filter_and()?));
            } else {
                break;
            }
        }
        self.depth -= 1;
        Ok(left)
    }

    fn filter_and(&mut self) -> Result<Filter, PathSyntaxError> {
        let mut left = self.filter_unary()?;
        loop {
            self.skip_ws();
            if self.s[self.i..].starts_with(b"&&") {
                self.i += 2;
                left = Filter::And(Box::new(left), Box::new(self.filter_unary()?));
            } else {
                break;
            }
        }
        Ok(left)
    }

    fn filter_unary(&mut self) -> Result<Filter, PathSyntaxError> {
        self.skip_ws();
        if self.peek() == Some(b'!') && self.s.get(self.i + 1) != Some(&b'=') {
            self.i += 1;
            self.depth += 1;
            if self.depth > MAX_FILTER_DEPTH {
                return Err(PathSyntaxError::TooDeep);
            }
            let inner = self.filter_unary()?;
            self.depth -= 1;
            return Ok(Filter::Not(Box::new(inner)));
        }
        if self.eat(b'(') {
            let inner = self.filter_or()?;
            self.skip_ws();
            if !self.eat(b')') {
                return Err(self.unexpected());
            }
            return Ok(inner);
        }
        let left = self.operand()?;
        self.skip_ws();
        let op = if self.s[self.i..].starts_with(b"==") {
            self.i += 2;
            Op::Eq
        } else if self.s[self.i..].starts_with(b"!=") {
            self.i += 2;
            Op::Ne
        } else if self.s[self.i..].starts_with(b"<=") {
            self.i += 2;
            Op::Le
        } else if self.s[self.i..].starts_with(b">=") {
            self.i += 2;
            Op::Ge
        } else if self.eat(b'<') {
            Op::Lt
        } else if self.eat(b'>') {
            Op::Gt
        } else if self.s[self.i..].starts_with(b"nin ") {
            self.i += 3;
            Op::Nin
        } else if self.s[self.i..].starts_with(b"in ") {
            self.i += 2;
            Op::In
        } else {
            return Ok(Filter::Exists(left));
        };
        let right = self.operand()?;
        Ok(Filter::Compare(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, PathSyntaxError> {
        self.skip_ws();
        match self.peek() {
            Some(b'@') => {
                self.i += 1;
                Ok(Operand::Current(self.segments(true)?))
            }
            Some(b'$') => {
                self.i += 1;
                Ok(Operand::Root(self.segments(true)?))
            }
            Some(b'\'' | b'"') => Ok(Operand::Literal(Value::String(self.quoted()?))),
            Some(b'[') => {
                // A literal array, for `in` / `nin`.
                let start = self.i;
                let mut depth = 0usize;
                while let Some(c) = self.peek() {
                    self.i += 1;
                    match c {
                        b'[' => depth += 1,
                        b']' => {
                            depth -= 1;
                            if depth == 0 {
                                break;
                            }
                        }
                        _ => {}
                    }
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.unexpected())?;
                let json = text.replace('\'', "\"");
                serde_json::from_str(&json)
                    .map(Operand::Literal)
                    .map_err(|_| PathSyntaxError::Unexpected {
                        found: text.to_owned(),
                        at: start,
                    })
            }
            Some(_) => {
                let start = self.i;
                while self.peek().is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'+' | b'.' | b'_')
                }) {
                    self.i += 1;
                }
                let text =
                    std::str::from_utf8(&self.s[start..self.i]).map_err(|_| self.unexpected())?;
                match text {
                    "true" => Ok(Operand::Literal(Value::Bool(true))),
                    "false" => Ok(Operand::Literal(Value::Bool(false))),
                    "null" => Ok(Operand::Literal(Value::Null)),
                    _ => serde_json::from_str::<serde_json::Number>(text)
                        .map(|n| Operand::Literal(Value::Number(n)))
                        .map_err(|_| {
                            if text.is_empty() {
                                self.unexpected()
                            } else {
                                PathSyntaxError::Unexpected {
                                    found: text.to_owned(),
                                    at: start,
                                }
                            }
                        }),
                }
            }
            None => Err(PathSyntaxError::UnexpectedEnd),
        }
    }
}

/// Where a reference reads from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Input,
    Context,
    Variable(String),
}

/// A path with its source: `$.a` (input), `$$.Execution.Id` (context), `$var.a` (variable).
#[derive(Debug, Clone, PartialEq)]
pub struct Reference {
    text: String,
    source: Source,
    path: JsonPath,
}

impl Reference {
    pub fn parse(text: &str) -> Result<Reference, PathSyntaxError> {
        let trimmed = text.trim_start();
        let (source, rest) = if let Some(rest) = trimmed.strip_prefix("$$") {
            (Source::Context, rest)
        } else if let Some(after) = trimmed.strip_prefix('$') {
            let name_len = after
                .char_indices()
                .take_while(|(i, c)| {
                    c.is_ascii_alphabetic() || *c == '_' || (*i > 0 && c.is_ascii_digit())
                })
                .count();
            if name_len > 0 {
                (
                    Source::Variable(after[..name_len].to_owned()),
                    &after[name_len..],
                )
            } else {
                (Source::Input, after)
            }
        } else {
            return Err(PathSyntaxError::NoRoot);
        };
        let path = JsonPath::parse(&format!("${rest}"))?;
        Ok(Reference {
            text: text.to_owned(),
            source,
            path,
        })
    }

    pub fn source(&self) -> &Source {
        &self.source
    }

    pub fn path(&self) -> &JsonPath {
        &self.path
    }

    pub fn text(&self) -> &str {
        &self.text
    }

    pub fn eval<'v>(&self, scope: &Scope<'v>) -> Result<Cow<'v, Value>, PathError> {
        let root = match &self.source {
            Source::Input => scope.input,
            Source::Context => scope.context,
            Source::Variable(name) => scope
                .variables
                .get(name)
                .ok_or_else(|| PathError::NoSuchVariable(name.clone()))?,
        };
        self.path.eval(root)
    }
}

/// `ResultPath`: a reference path into the state input.
#[derive(Debug, Clone, PartialEq)]
pub struct ResultPath {
    path: JsonPath,
}

impl ResultPath {
    pub fn parse(text: &str) -> Result<ResultPath, PathSyntaxError> {
        let path = JsonPath::parse(text)?;
        if !path.is_definite() || text.trim_start().starts_with("$$") {
            return Err(PathSyntaxError::NotDefinite);
        }
        Ok(ResultPath { path })
    }

    pub fn text(&self) -> &str {
        self.path.text()
    }

    /// Puts `result` at the path inside `input`, creating missing objects on the way.
    pub fn apply(&self, mut input: Value, result: Value) -> Result<Value, PathError> {
        let segments = &self.path.segments;
        let Some((last, init)) = segments.split_last() else {
            return Ok(result);
        };
        let mut cur = &mut input;
        for s in init {
            cur = match (s, cur) {
                (Segment::Name(n), Value::Object(m)) => m
                    .entry(n.clone())
                    .or_insert_with(|| Value::Object(Map::new())),
                (Segment::Index(i), Value::Array(a)) => {
                    let len = a.len();
                    resolve_index(*i, len)
                        .and_then(|i| a.get_mut(i))
                        .ok_or_else(|| PathError::CannotPlace(self.path.normalized()))?
                }
                _ => return Err(PathError::CannotPlace(self.path.normalized())),
            };
            if !matches!(cur, Value::Object(_) | Value::Array(_)) {
                // Jayway replaces a scalar on the way by a new object.
                *cur = Value::Object(Map::new());
            }
        }
        match (last, cur) {
            (Segment::Name(n), Value::Object(m)) => {
                m.insert(n.clone(), result);
            }
            (Segment::Index(i), Value::Array(a)) => {
                let len = a.len();
                let slot = resolve_index(*i, len)
                    .and_then(|i| a.get_mut(i))
                    .ok_or_else(|| PathError::CannotPlace(self.path.normalized()))?;
                *slot = result;
            }
            _ => return Err(PathError::CannotPlace(self.path.normalized())),
        }
        Ok(input)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc() -> Value {
        json!({
            "store": {
                "book": [
                    {"category": "reference", "author": "Nigel Rees", "title": "Sayings", "price": 8.95},
                    {"category": "fiction", "author": "Evelyn Waugh", "title": "Sword", "price": 12.99},
                    {"category": "fiction", "author": "Herman Melville", "title": "Moby Dick", "isbn": "0-553", "price": 8.99}
                ],
                "bicycle": {"color": "red", "price": 19.95}
            },
            "a.b": 1,
            "n": [0, 1, 2, 3, 4, 5]
        })
    }

    fn eval(path: &str) -> Value {
        JsonPath::parse(path)
            .unwrap()
            .eval(&doc())
            .unwrap()
            .into_owned()
    }

    #[test]
    fn definite_paths() {
        assert_eq!(eval("$.store.bicycle.color"), json!("red"));
        assert_eq!(eval("$['store']['book'][0].author"), json!("Nigel Rees"));
        assert_eq!(eval("$.store.book[-1].title"), json!("Moby Dick"));
        assert_eq!(eval("$['a.b']"), json!(1));
        assert_eq!(eval("$"), doc());
        assert!(JsonPath::parse("$.a.b").unwrap().is_definite());
    }

    #[test]
    fn missing_definite_paths_name_the_normalized_path() {
        let e = JsonPath::parse("$.NoSuchInputPath")
            .unwrap()
            .eval(&doc())
            .unwrap_err();
        assert_eq!(e.to_string(), "No results for path: $['NoSuchInputPath']");
        assert!(JsonPath::parse("$.n[10]").unwrap().eval(&doc()).is_err());
        let e = JsonPath::parse("$.no.such.result.path")
            .unwrap()
            .eval(&doc())
            .unwrap_err();
        assert_eq!(e.to_string(), "Missing property in path $['no']");
    }

    #[test]
    fn indefinite_paths() {
        assert_eq!(
            eval("$.store.book[*].author"),
            json!(["Nigel Rees", "Evelyn Waugh", "Herman Melville"])
        );
        assert_eq!(eval("$..isbn"), json!(["0-553"]));
        assert_eq!(
            eval("$.store.book[?(@.price < 10)].title"),
            json!(["Sayings", "Moby Dick"])
        );
        assert_eq!(eval("$.store.book[?(@.isbn)].title"), json!(["Moby Dick"]));
        assert_eq!(
            eval("$.store.book[?(@.category == 'fiction' && @.price > 10)].title"),
            json!(["Sword"])
        );
        assert_eq!(eval("$.n[1:3]"), json!([1, 2]));
        assert_eq!(eval("$.n[-2:]"), json!([4, 5]));
        assert_eq!(eval("$.n[::2]"), json!([0, 2, 4]));
        assert_eq!(eval("$.n[0,2]"), json!([0, 2]));
        assert_eq!(
            eval("$.store.bicycle['color','price']"),
            json!(["red", 19.95])
        );
        assert_eq!(eval("$.store.bicycle.*"), json!(["red", 19.95]));
        assert_eq!(eval("$.nothing[*]"), json!([]));
        assert_eq!(eval("$.n[?(@ in [1, 3])]"), json!([1, 3]));
        assert_eq!(
            eval("$.store.book.[?(@.price > 10)].title"),
            json!(["Sword"])
        );
    }

    #[test]
    fn references_read_their_source() {
        let d = doc();
        let ctx = json!({"Execution": {"Id": "arn"}});
        let vars: Map<String, Value> =
            Map::from_iter([("myVar".to_string(), json!({"items": [7, 8]}))]);
        let scope = Scope {
            input: &d,
            context: &ctx,
            variables: &vars,
        };
        let r = |t: &str| {
            Reference::parse(t)
                .unwrap()
                .eval(&scope)
                .map(Cow::into_owned)
        };
        assert_eq!(r("$$.Execution.Id").unwrap(), json!("arn"));
        assert_eq!(r("$myVar.items[1]").unwrap(), json!(8));
        assert_eq!(r("$myVar").unwrap(), json!({"items": [7, 8]}));
        assert_eq!(
            r("$.a.b").unwrap_err(),
            PathError::MissingProperty("$['a']".into())
        );
        assert_eq!(
            r("$.store.nope").unwrap_err(),
            PathError::NoResults("$['store']['nope']".into())
        );
        assert_eq!(
            r("$nope").unwrap_err(),
            PathError::NoSuchVariable("nope".into())
        );
        assert_eq!(
            Reference::parse("$myVar.x").unwrap().source(),
            &Source::Variable("myVar".into())
        );
    }

    #[test]
    fn result_path_places_and_creates() {
        let p = ResultPath::parse("$.a.b").unwrap();
        assert_eq!(
            p.apply(json!({"x": 1}), json!(2)).unwrap(),
            json!({"x": 1, "a": {"b": 2}})
        );
        assert_eq!(
            ResultPath::parse("$.n[1]")
                .unwrap()
                .apply(json!({"n": [0, 0]}), json!(9))
                .unwrap(),
            json!({"n": [0, 9]})
        );
        assert!(
            ResultPath::parse("$.n[5]")
                .unwrap()
                .apply(json!({"n": [0]}), json!(9))
                .is_err()
        );
        assert!(ResultPath::parse("$.a[*]").is_err());
        assert!(
            ResultPath::parse("$.a")
                .unwrap()
                .apply(json!("text"), json!(1))
                .is_err()
        );
    }

    #[test]
    fn bad_paths_are_refused_not_panicked_on() {
        for bad in [
            "",
            "a",
            "$.",
            "$[",
            "$['a",
            "$[?(@.a ==)]",
            "$..",
            "$[1:2:3:4]",
            "$[abc]",
            "$.a[?(@.b &&)]",
            "$[99999999999999999999]",
        ] {
            assert!(JsonPath::parse(bad).is_err(), "{bad}");
        }
        let deep = format!("$[?({}@.a{})]", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(JsonPath::parse(&deep), Err(PathSyntaxError::TooDeep));
        let nested_not = format!("$[?({}@.a)]", "!".repeat(1000));
        assert!(JsonPath::parse(&nested_not).is_err());
    }

    #[test]
    fn recursive_descent_survives_deep_documents() {
        let mut v = json!(1);
        for _ in 0..300 {
            v = json!({ "k": v });
        }
        let found = JsonPath::parse("$..k").unwrap().eval(&v).unwrap();
        assert_eq!(found.as_array().map(Vec::len), Some(300));
    }
}
